package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/edgeroute/edgeroute/k8swatch/crd"
)

// DefaultNamespace is given to namespaced objects that name none, as
// kubectl apply does with its default context.
const DefaultNamespace = "default"

// maxListDepth bounds the nesting of List objects. Real manifests nest at
// most once (a List of Lists is already unusual); the bound only protects
// against pathological input.
const maxListDepth = 8

// Decode decodes the manifests in data as if they were read from a file
// named name, which is only used to label Sources and Problems.
//
// Data starting with '{' (after white space) is a stream of JSON objects;
// anything else is YAML, possibly holding several documents separated by
// "---" lines. Each document is one Kubernetes object, or a List whose
// items are expanded. See the package documentation for how each object is
// decoded and checked.
//
// Decode never panics and always returns a non-nil *Objects. When the
// same object appears twice, the later one wins and the earlier one is
// reported as a Warning.
func Decode(name string, data []byte) (*Objects, []Problem) {
	d := &decoder{objs: &Objects{}}
	d.file(name, data, false)
	d.flush()
	d.problems = append(d.problems, d.objs.dedupe()...)
	return d.objs, d.problems
}

// decoder accumulates the objects and problems of one or more files.
// Files are queued (file) and their documents decoded all together, on
// every core, by flush; the result is the same as decoding them one after
// the other.
type decoder struct {
	objs     *Objects
	problems []Problem
	jobs     []docJob
}

func (d *decoder) add(p Problem) {
	d.problems = append(d.problems, p)
}

// utf8BOM is skipped at the start of a file: some Windows editors add it,
// the JSON parser rejects it, and it would hide a leading '{'.
var utf8BOM = []byte("\xef\xbb\xbf")

// file queues every document of one file for flush. owned tells that data
// is the decoder's own (read from the file) and never changes, so that it
// can be shared rather than copied.
func (d *decoder) file(name string, data []byte, owned bool) {
	data = bytes.TrimPrefix(data, utf8BOM)
	if trimmed := bytes.TrimLeft(data, " \t\r\n"); len(trimmed) > 0 && trimmed[0] == '{' {
		d.jobs = append(d.jobs, docJob{problemsBefore: len(d.problems), name: name, jsonData: data})
		return
	}
	// The file as a string: the fast path's strings are substrings of it,
	// which saves allocating each of them.
	var text string
	if owned && len(data) > 0 {
		text = unsafe.String(&data[0], len(data))
	} else {
		text = string(data)
	}
	docs := splitYAML(name, data)
	d.jobs = slices.Grow(d.jobs, len(docs))
	for _, doc := range docs {
		doc.text = text[doc.off : doc.off+len(doc.data)]
		d.jobs = append(d.jobs, docJob{problemsBefore: len(d.problems), name: name, doc: doc})
	}
}

// conversion is a document turned into JSON: strictly when possible,
// leniently (with the strict error kept) when only duplicate keys stop it.
type conversion struct {
	raw            []byte
	strictErr, err error
}

func convert(data []byte) (c conversion) {
	defer func() {
		if p := recover(); p != nil {
			err := fmt.Errorf("YAML parser panic: %v", p)
			c = conversion{strictErr: err, err: err}
		}
	}()
	raw, err := yaml.YAMLToJSONStrict(data)
	if err == nil {
		return conversion{raw: raw}
	}
	lenient, lerr := yaml.YAMLToJSON(data)
	return conversion{raw: lenient, strictErr: err, err: lerr}
}

// yamlDoc is one YAML document of a file.
type yamlDoc struct {
	// src locates the document's first content line.
	src Source
	// firstLine is the file line of data's first line, which the YAML
	// parser calls line 1.
	firstLine int
	data      []byte
	// off is the offset of data in the file; text is data as a substring
	// of the file's string, set by file.
	off  int
	text string
}

// splitYAML cuts a YAML stream into documents. A separator is a line made
// of "---" and optional trailing white space, as for Kubernetes' own
// reader, or of "---" followed by a comment, which that reader does not
// split on (the YAML parser would then silently drop the second document).
// Documents holding only blank lines and comments are dropped and not
// numbered, so that a leading "---" does not shift the numbering.
func splitYAML(name string, data []byte) []yamlDoc {
	var (
		docs        = make([]yamlDoc, 0, bytes.Count(data, []byte("\n---"))+1)
		chunkOff    int // byte offset where the current chunk starts
		chunkLine   = 1 // file line where the current chunk starts
		contentLine int // first content line of the current chunk, 0 if none yet
		off         int
	)
	flush := func(end int) {
		if contentLine > 0 {
			docs = append(docs, yamlDoc{
				src:       Source{File: name, Line: contentLine, Doc: len(docs) + 1},
				firstLine: chunkLine,
				data:      data[chunkOff:end],
				off:       chunkOff,
			})
		}
	}
	for lineNo := 1; off < len(data); lineNo++ {
		end := len(data)
		if i := bytes.IndexByte(data[off:], '\n'); i >= 0 {
			end = off + i + 1
		}
		line := data[off:end]
		switch {
		case len(line) >= 3 && line[0] == '-' && isSeparator(line):
			flush(off)
			chunkOff, chunkLine, contentLine = end, lineNo+1, 0
		case contentLine == 0 && isContent(line):
			contentLine = lineNo
		}
		off = end
	}
	flush(len(data))
	return docs
}

func isSeparator(line []byte) bool {
	rest, ok := bytes.CutPrefix(bytes.TrimRight(line, " \t\r\n"), []byte("---"))
	if !ok {
		return false
	}
	if len(rest) == 0 {
		return true
	}
	// "--- # comment" separates; "----" or "---foo" do not.
	return (rest[0] == ' ' || rest[0] == '\t') && bytes.TrimLeft(rest, " \t")[0] == '#'
}

func isContent(line []byte) bool {
	t := bytes.TrimSpace(line)
	return len(t) > 0 && t[0] != '#'
}

// yamlDoc decodes one YAML document, with the fast path when the document
// is in its subset.
func (d *decoder) yamlDoc(doc yamlDoc, p *yparser) {
	if fastYAMLEnabled {
		if root, err := p.parse(doc.text); err == nil {
			func() {
				defer d.recoverPanic(doc.src)
				d.object(docInput{t: &p.t, n: root}, doc.src, 0, typeDefaults{}, nil)
			}()
			return
		}
	}
	d.yamlDocument(doc, convert(doc.data))
}

// yamlDocument converts one YAML document to JSON and decodes it.
func (d *decoder) yamlDocument(doc yamlDoc, c conversion) {
	defer d.recoverPanic(doc.src)
	// The strict conversion refuses duplicate keys, as kubectl's strict
	// validation does. Duplicates are not fatal for every kind, so when
	// only the strict conversion fails, the lenient result is used and the
	// duplicate is reported with the object's other strict errors.
	raw, err := c.raw, c.strictErr
	var dupErr error
	if err != nil {
		lenient, lerr := c.raw, c.err
		if lerr != nil {
			line, msg := yamlError(lerr, doc.firstLine)
			if line == 0 {
				line = doc.src.Line
			}
			d.add(Problem{Severity: Error, File: doc.src.File, Line: line, Doc: doc.src.Doc, Err: errors.New(msg)})
			return
		}
		_, msg := yamlError(err, doc.firstLine)
		raw, dupErr = lenient, errors.New(msg)
	}
	d.object(docInput{raw: raw}, doc.src, 0, typeDefaults{}, dupErr)
}

// yamlLineRE finds the line references in YAML parser errors.
var yamlLineRE = regexp.MustCompile(`line (\d+)`)

// yamlError rewrites a YAML parser error for a document starting at file
// line firstLine: line numbers become file line numbers, the first of them
// is returned separately, and the message is flattened to one line.
func yamlError(err error, firstLine int) (line int, msg string) {
	msg = err.Error()
	msg = strings.TrimPrefix(msg, "error converting YAML to JSON: ")
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = yamlLineRE.ReplaceAllStringFunc(msg, func(m string) string {
		n, convErr := strconv.Atoi(strings.TrimPrefix(m, "line "))
		if convErr != nil {
			return m
		}
		n += firstLine - 1
		if line == 0 {
			line = n
		}
		return "line " + strconv.Itoa(n)
	})
	if line > 0 {
		msg = strings.TrimPrefix(msg, "line "+strconv.Itoa(line)+": ")
	}
	msg = strings.Join(strings.Fields(msg), " ")
	return line, "invalid YAML: " + msg
}

// jsonStream decodes a file made of concatenated JSON values. A syntax
// error ends the file, since a JSON stream cannot be resynchronised.
func (d *decoder) jsonStream(name string, data []byte) {
	dec := json.NewDecoder(bytes.NewReader(data))
	for n := 1; ; n++ {
		start := int(dec.InputOffset())
		for start < len(data) && strings.IndexByte(" \t\r\n", data[start]) >= 0 {
			start++
		}
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if err == io.EOF {
			return
		}
		src := Source{File: name, Line: lineAt(data, start), Doc: n}
		if err != nil {
			line := src.Line
			var se *json.SyntaxError
			if errors.As(err, &se) {
				line = lineAt(data, int(se.Offset))
			}
			d.add(Problem{Severity: Error, File: name, Line: line, Doc: n, Err: fmt.Errorf("invalid JSON: %w", err)})
			return
		}
		func() {
			defer d.recoverPanic(src)
			d.object(docInput{raw: raw}, src, 0, typeDefaults{}, nil)
		}()
	}
}

// lineAt returns the 1-based line holding byte offset off of data.
func lineAt(data []byte, off int) int {
	off = min(max(off, 0), len(data))
	return bytes.Count(data[:off], []byte("\n")) + 1
}

// recoverPanic turns a panic while decoding a document into a Problem.
// The YAML and JSON libraries are meant not to panic, but the input is
// arbitrary user data and one bad document must not take down the whole
// load.
func (d *decoder) recoverPanic(src Source) {
	if r := recover(); r != nil {
		d.add(Problem{Severity: Error, File: src.File, Line: src.Line, Doc: src.Doc,
			Err: fmt.Errorf("internal error while decoding the document: %v", r)})
	}
}

// typeDefaults supplies apiVersion and kind to the items of a typed list
// (such as a ServiceList returned by the API server), whose items usually
// omit them.
type typeDefaults struct {
	apiVersion, kind string
}

// header is what can be read of an object without decoding it fully. Each
// field is read on its own, so that one malformed field does not hide the
// others from problem reports.
type header struct {
	apiVersion, kind, namespace, name string
}

func readHeader(fields map[string]json.RawMessage) header {
	var h header
	readString(fields, "apiVersion", &h.apiVersion)
	readString(fields, "kind", &h.kind)
	var meta map[string]json.RawMessage
	if json.Unmarshal(fields["metadata"], &meta) == nil {
		readString(meta, "namespace", &h.namespace)
		readString(meta, "name", &h.name)
	}
	return h
}

func readString(fields map[string]json.RawMessage, key string, dst *string) {
	if raw, ok := fields[key]; ok {
		_ = json.Unmarshal(raw, dst) // a non-string leaves dst empty, which reads as "missing"
	}
}

// docInput is what object decodes: JSON text, or a node of a document
// parsed by the fast path.
type docInput struct {
	raw []byte
	t   *ytree
	n   int32
}

// json returns the input as JSON, as sigs.k8s.io/yaml would have written
// it for a parsed document.
func (in docInput) json() []byte {
	if in.t != nil {
		return in.t.appendJSON(nil, in.n)
	}
	return in.raw
}

// object decodes one object (or List) of a document. dupErr, when not
// nil, reports duplicate keys found by the YAML conversion.
func (d *decoder) object(in docInput, src Source, depth int, defaults typeDefaults, dupErr error) {
	p := Problem{Severity: Error, File: src.File, Line: src.Line, Doc: src.Doc}
	var (
		h               header
		items           docInput
		hasItems        bool
		notObject, null bool
		kindName        string
	)
	if in.t != nil {
		t, n := in.t, in.n
		switch t.nodes[n].kind {
		case kNull:
			null = true
		case kMap:
			h.apiVersion, h.kind = t.stringAt(n, "apiVersion"), t.stringAt(n, "kind")
			if m, ok := t.lookup(n, "metadata"); ok {
				h.namespace, h.name = t.stringAt(m, "namespace"), t.stringAt(m, "name")
			}
			var it int32
			it, hasItems = t.lookup(n, "items")
			items = docInput{t: t, n: it}
		default:
			notObject, kindName = true, t.jsonKindName(n)
		}
	} else {
		raw := bytes.TrimSpace(in.raw)
		in.raw = raw
		var fields map[string]json.RawMessage
		switch {
		case len(raw) == 0 || string(raw) == "null":
			null = true // an empty document, or a YAML document of comments only
		case json.Unmarshal(raw, &fields) != nil:
			notObject, kindName = true, jsonKind(raw)
		default:
			h = readHeader(fields)
			var it json.RawMessage
			it, hasItems = fields["items"]
			items = docInput{raw: it}
		}
	}
	if null {
		return
	}
	if notObject {
		p.Err = fmt.Errorf("a document must be a Kubernetes object (a mapping), not %s", kindName)
		d.add(p)
		return
	}
	if h.kind == "" {
		h.kind = defaults.kind
	}
	if h.apiVersion == "" && h.kind == defaults.kind {
		h.apiVersion = defaults.apiVersion
	}
	p.Kind, p.Namespace, p.Name = h.kind, h.namespace, h.name

	switch {
	case h.apiVersion == "" && h.kind == "":
		p.Err = errors.New("apiVersion and kind are missing")
	case h.apiVersion == "":
		p.Err = errors.New("apiVersion is missing")
	case h.kind == "":
		p.Err = errors.New("kind is missing")
	}
	if p.Err != nil {
		d.add(p)
		return
	}

	if h.kind == "List" || hasItems && strings.HasSuffix(h.kind, "List") {
		if dupErr != nil {
			d.add(Problem{Severity: Warning, File: src.File, Line: src.Line, Doc: src.Doc, Kind: h.kind, Err: dupErr})
		}
		d.list(items, hasItems, h, src, depth, p)
		return
	}

	tm := metav1.TypeMeta{APIVersion: h.apiVersion, Kind: h.kind}
	switch {
	case crd.IsTraefikAPIVersion(h.apiVersion):
		d.traefikObject(in, tm, src, p, dupErr)
	case h.apiVersion == "v1" || h.apiVersion == "discovery.k8s.io/v1":
		d.coreObject(in, tm, src, p, dupErr)
	case h.apiVersion == "traefik.io" || h.apiVersion == "traefik.containo.us" ||
		strings.HasPrefix(h.apiVersion, "traefik.io/") || strings.HasPrefix(h.apiVersion, "traefik.containo.us/"):
		// The CRDs define a single version: any other would be refused by
		// the API server, so this is a mistake rather than a foreign kind.
		p.Err = fmt.Errorf("unknown apiVersion %q: Traefik resources are %s", h.apiVersion, crd.APIVersion)
		d.add(p)
	default:
		d.ignore(p, h)
	}
}

// list expands the items of a List, or of a typed list such as
// ServiceList.
func (d *decoder) list(items docInput, hasItems bool, h header, src Source, depth int, p Problem) {
	if depth >= maxListDepth {
		p.Err = errors.New("lists are nested too deeply")
		d.add(p)
		return
	}
	var elems []docInput
	if t := items.t; t != nil {
		if hasItems {
			switch nd := t.nodes[items.n]; nd.kind {
			case kNull:
			case kSeq:
				for _, k := range t.kids[nd.kids : nd.kids+nd.n] {
					elems = append(elems, docInput{t: t, n: k})
				}
			default:
				p.Err = fmt.Errorf("items must be a list, not %s", t.jsonKindName(items.n))
				d.add(p)
				return
			}
		}
	} else if raw := items.raw; len(raw) > 0 && string(raw) != "null" {
		var raws []json.RawMessage
		if err := json.Unmarshal(raw, &raws); err != nil {
			p.Err = fmt.Errorf("items must be a list, not %s", jsonKind(raw))
			d.add(p)
			return
		}
		for _, r := range raws {
			elems = append(elems, docInput{raw: r})
		}
	}
	var defaults typeDefaults
	if itemKind, ok := strings.CutSuffix(h.kind, "List"); ok && itemKind != "" {
		defaults = typeDefaults{apiVersion: h.apiVersion, kind: itemKind}
	}
	for _, item := range elems {
		d.object(item, src, depth+1, defaults, nil)
	}
}

// ignore reports an object of a kind edgeroute does not use.
func (d *decoder) ignore(p Problem, h header) {
	p.Severity = Ignored
	p.Err = fmt.Errorf("not used by edgeroute (apiVersion %s)", h.apiVersion)
	d.add(p)
}

// traefikObject decodes a Traefik custom resource strictly: an unknown
// field, a field in the wrong case or a duplicate field is an Error and
// the object is skipped, because Kubernetes' strict field validation (the
// kubectl default) would refuse to store it.
func (d *decoder) traefikObject(in docInput, tm metav1.TypeMeta, src Source, p Problem, dupErr error) {
	labelNamespace(&p)
	switch tm.Kind {
	case crd.KindIngressRoute:
		if o, ok := decodeStrict[crd.IngressRoute](d, in, p, dupErr); ok {
			o.TypeMeta = tm
			if d.finishTraefik(&o.ObjectMeta, tm, p) {
				d.objs.IngressRoutes = append(d.objs.IngressRoutes, IngressRoute{o, src})
			}
		}
	case crd.KindMiddleware:
		if o, ok := decodeStrict[crd.Middleware](d, in, p, dupErr); ok {
			o.TypeMeta = tm
			if d.finishTraefik(&o.ObjectMeta, tm, p) {
				d.objs.Middlewares = append(d.objs.Middlewares, Middleware{o, src})
			}
		}
	case crd.KindTraefikService:
		if o, ok := decodeStrict[crd.TraefikService](d, in, p, dupErr); ok {
			o.TypeMeta = tm
			if d.finishTraefik(&o.ObjectMeta, tm, p) {
				d.objs.TraefikServices = append(d.objs.TraefikServices, TraefikService{o, src})
			}
		}
	case crd.KindTLSOption:
		if o, ok := decodeStrict[crd.TLSOption](d, in, p, dupErr); ok {
			o.TypeMeta = tm
			if d.finishTraefik(&o.ObjectMeta, tm, p) {
				d.objs.TLSOptions = append(d.objs.TLSOptions, TLSOption{o, src})
			}
		}
	case crd.KindTLSStore:
		if o, ok := decodeStrict[crd.TLSStore](d, in, p, dupErr); ok {
			o.TypeMeta = tm
			if d.finishTraefik(&o.ObjectMeta, tm, p) {
				d.objs.TLSStores = append(d.objs.TLSStores, TLSStore{o, src})
			}
		}
	case crd.KindServersTransport:
		if o, ok := decodeStrict[crd.ServersTransport](d, in, p, dupErr); ok {
			o.TypeMeta = tm
			if d.finishTraefik(&o.ObjectMeta, tm, p) {
				d.objs.ServersTransports = append(d.objs.ServersTransports, ServersTransport{o, src})
			}
		}
	case "IngressRouteTCP", "IngressRouteUDP", "MiddlewareTCP", "ServersTransportTCP":
		p.Severity = Ignored
		p.Err = errors.New("TCP and UDP routing are not supported by edgeroute")
		d.add(p)
	default:
		p.Err = fmt.Errorf("unknown kind %q in %s", tm.Kind, tm.APIVersion)
		d.add(p)
	}
}

// labelNamespace names, in problems about a namespaced object that names
// no namespace, the namespace the object would have been created in, so
// that the problem points at the object's real identity.
func labelNamespace(p *Problem) {
	if p.Namespace == "" {
		p.Namespace = DefaultNamespace
	}
}

// finishTraefik completes the metadata of a Traefik object and reports
// the use of the legacy API group. It returns false when the object must
// be skipped.
func (d *decoder) finishTraefik(meta *metav1.ObjectMeta, tm metav1.TypeMeta, p Problem) bool {
	if !d.finishMeta(meta, true, p) {
		return false
	}
	if tm.APIVersion == crd.LegacyAPIVersion {
		p.Severity = Warning
		p.Namespace = meta.Namespace
		p.Err = fmt.Errorf("API group %s was removed in Traefik v3, which ignores such objects; edgeroute reads it as %s, which it should be migrated to",
			crd.LegacyGroupName, crd.APIVersion)
		d.add(p)
	}
	return true
}

// finishMeta checks the object's name and applies the namespace the API
// server would give it. It returns false when the object must be skipped.
func (d *decoder) finishMeta(meta *metav1.ObjectMeta, namespaced bool, p Problem) bool {
	if meta.Name == "" && meta.GenerateName == "" {
		p.Err = errors.New("metadata.name is missing")
		d.add(p)
		return false
	}
	switch {
	case !namespaced:
		meta.Namespace = ""
	case meta.Namespace == "":
		meta.Namespace = DefaultNamespace
	}
	return true
}

// decodeStrict decodes raw into a T with Kubernetes' own JSON rules
// (case-sensitive field names, integers preserved) and reports any
// unknown or duplicate field as an Error.
func decodeStrict[T any](d *decoder, in docInput, p Problem, dupErr error) (T, bool) {
	o, strictErrs, err := unmarshalStrict[T](in, dupErr)
	if err != nil {
		p.Err = err
		d.add(p)
		return o, false
	}
	if dupErr != nil {
		strictErrs = append(strictErrs, dupErr)
	}
	if len(strictErrs) > 0 {
		p.Err = joinErrors(strictErrs)
		d.add(p)
		return o, false
	}
	return o, true
}

// decodeLenient decodes raw into a T with Kubernetes' own JSON rules,
// reporting unknown and duplicate fields as a Warning only: core objects
// may carry fields newer than the API version edgeroute is built with,
// and Traefik reads none of those.
func decodeLenient[T any](d *decoder, in docInput, p Problem, dupErr error) (T, bool) {
	o, strictErrs, err := unmarshalStrict[T](in, dupErr)
	if err != nil {
		p.Err = err
		d.add(p)
		return o, false
	}
	if dupErr != nil {
		strictErrs = append(strictErrs, dupErr)
	}
	if len(strictErrs) > 0 {
		p.Severity = Warning
		p.Err = fmt.Errorf("%w (ignored)", joinErrors(strictErrs))
		d.add(p)
	}
	return o, true
}

// unmarshalStrict decodes in into a T with sigs.k8s.io/json's
// UnmarshalStrict; a document parsed by the fast path is first decoded
// directly, which gives the same object when it succeeds.
func unmarshalStrict[T any](in docInput, dupErr error) (o T, strictErrs []error, err error) {
	if in.t != nil && dupErr == nil && fastDecodeEnabled && fastDecodeSafe(in.t, in.n, &o) {
		return o, nil, nil
	}
	var zero T
	o = zero
	strictErrs, err = kjson.UnmarshalStrict(in.json(), &o)
	return o, strictErrs, err
}

// fastDecodeSafe is fastDecode turning a panic (a bug) into a refusal, so
// that the reference decoder still answers.
func fastDecodeSafe[T any](t *ytree, n int32, o *T) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return fastDecode(t, n, o)
}

// joinErrors joins errs into one error whose message stays on one line,
// since a Problem renders as a single line.
func joinErrors(errs []error) error {
	msgs := make([]string, len(errs))
	for i, err := range errs {
		msgs[i] = err.Error()
	}
	return errors.New(strings.Join(msgs, "; "))
}

// coreObject decodes the Kubernetes built-in kinds edgeroute reads.
func (d *decoder) coreObject(in docInput, tm metav1.TypeMeta, src Source, p Problem, dupErr error) {
	if tm.Kind != "Node" {
		labelNamespace(&p)
	}
	switch {
	case tm.APIVersion == "v1" && tm.Kind == "Service":
		if o, ok := decodeLenient[corev1.Service](d, in, p, dupErr); ok {
			o.TypeMeta = tm
			if d.finishMeta(&o.ObjectMeta, true, p) {
				d.objs.Services = append(d.objs.Services, Service{o, src})
			}
		}
	case tm.APIVersion == "discovery.k8s.io/v1" && tm.Kind == "EndpointSlice":
		if o, ok := decodeLenient[discoveryv1.EndpointSlice](d, in, p, dupErr); ok {
			o.TypeMeta = tm
			if d.finishMeta(&o.ObjectMeta, true, p) {
				d.objs.EndpointSlices = append(d.objs.EndpointSlices, EndpointSlice{o, src})
			}
		}
	case tm.APIVersion == "v1" && tm.Kind == "Node":
		if o, ok := decodeLenient[corev1.Node](d, in, p, dupErr); ok {
			o.TypeMeta = tm
			if d.finishMeta(&o.ObjectMeta, false, p) {
				d.objs.Nodes = append(d.objs.Nodes, Node{o, src})
			}
		}
	case tm.APIVersion == "v1" && tm.Kind == "Secret":
		if o, ok := decodeLenient[corev1.Secret](d, in, p, dupErr); ok {
			o.TypeMeta = tm
			foldStringData(&o)
			if d.finishMeta(&o.ObjectMeta, true, p) {
				d.objs.Secrets = append(d.objs.Secrets, Secret{o, src})
			}
		}
	case tm.APIVersion == "v1" && tm.Kind == "ConfigMap":
		if o, ok := decodeLenient[corev1.ConfigMap](d, in, p, dupErr); ok {
			o.TypeMeta = tm
			if d.finishMeta(&o.ObjectMeta, true, p) {
				d.objs.ConfigMaps = append(d.objs.ConfigMaps, ConfigMap{o, src})
			}
		}
	default:
		d.ignore(p, header{apiVersion: tm.APIVersion})
	}
}

// foldStringData merges stringData into data, as the API server does on
// write (stringData wins), so that readers only look at Data, like Traefik
// does.
func foldStringData(s *corev1.Secret) {
	if len(s.StringData) == 0 {
		s.StringData = nil
		return
	}
	if s.Data == nil {
		s.Data = make(map[string][]byte, len(s.StringData))
	}
	for k, v := range s.StringData {
		s.Data[k] = []byte(v)
	}
	s.StringData = nil
}

// jsonKind names the JSON type of raw for error messages.
func jsonKind(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '[':
		return "a list"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '{':
		return "an object"
	default:
		return "a number"
	}
}
