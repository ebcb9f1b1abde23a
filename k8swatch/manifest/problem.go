package manifest

import (
	"fmt"
	"strconv"
	"strings"
)

// Severity tells how much a Problem matters.
type Severity int

// Severities, from the most to the least serious. The zero value is Error,
// so that a Problem built without a severity is never understated.
const (
	// Error means a document or object could not be used: it failed to
	// parse, or Kubernetes would refuse it. It was skipped.
	Error Severity = iota
	// Warning means the object was used, but something about it deserves
	// attention (an ignored unknown field of a core object, a duplicate
	// that replaced another object, a deprecated API group).
	Warning
	// Ignored means the object is valid Kubernetes but of a kind edgeroute
	// does not use (a Deployment, an IngressRouteTCP...). It was skipped.
	Ignored
)

// String returns the lower-case name of the severity.
func (s Severity) String() string {
	switch s {
	case Error:
		return "error"
	case Warning:
		return "warning"
	case Ignored:
		return "ignored"
	default:
		return fmt.Sprintf("Severity(%d)", int(s))
	}
}

// Problem reports something wrong with, or skipped in, the manifests. Any
// field but Err may be zero when unknown: a file that cannot be read has no
// line, a document that does not parse has no kind.
type Problem struct {
	// Severity tells whether the object was skipped, and why.
	Severity Severity
	// File is the path of the file, as given to Load or Decode.
	File string
	// Line is the 1-based line the problem points at: the offending line
	// for a syntax error, otherwise the first line of the document.
	Line int
	// Doc is the 1-based index of the document within the file.
	Doc int
	// Kind, Namespace and Name identify the object, when known.
	Kind, Namespace, Name string
	// Err is the reason.
	Err error
}

// Error renders the problem as
//
//	path/file.yaml:12 (document 3) IngressRoute default/foo: reason
//
// leaving out the parts that are unknown.
func (p Problem) Error() string {
	var parts []string
	if loc := p.location(); loc != "" {
		parts = append(parts, loc)
	}
	if p.Kind != "" {
		parts = append(parts, p.Kind)
	}
	switch {
	case p.Name != "" && p.Namespace != "":
		parts = append(parts, p.Namespace+"/"+p.Name)
	case p.Name != "":
		parts = append(parts, p.Name)
	}
	reason := "unknown problem"
	if p.Err != nil {
		reason = p.Err.Error()
	}
	if len(parts) == 0 {
		return reason
	}
	return strings.Join(parts, " ") + ": " + reason
}

// location renders the file, line and document parts of a problem.
func (p Problem) location() string {
	loc := p.File
	if p.Line > 0 {
		loc += ":" + strconv.Itoa(p.Line)
	}
	if p.Doc > 0 {
		doc := "(document " + strconv.Itoa(p.Doc) + ")"
		if loc == "" {
			return doc
		}
		return loc + " " + doc
	}
	return loc
}

// Unwrap returns the reason, so that errors.Is and errors.As see through
// a Problem.
func (p Problem) Unwrap() error {
	return p.Err
}
