package syntax

import (
	"fmt"
	"strings"
)

// ErrorCode classifies an Error. The parser emits the first group; package
// compile emits the second when it checks calls against its matcher table.
type ErrorCode string

const (
	ErrSyntax      ErrorCode = "syntax error"
	ErrOperator    ErrorCode = "unsupported operator"
	ErrNotCall     ErrorCode = "expected a matcher call"
	ErrArgument    ErrorCode = "argument is not a string literal"
	ErrNoArguments ErrorCode = "matcher has no arguments"
	ErrEmptyArg    ErrorCode = "empty argument"
	ErrTooDeep     ErrorCode = "rule nested too deeply"

	ErrUnknownMatcher ErrorCode = "unknown matcher"
	ErrArity          ErrorCode = "wrong number of arguments"
	ErrBadValue       ErrorCode = "invalid matcher argument"
	ErrPriority       ErrorCode = "priority out of range"
)

// Error is a problem in a rule, located at a byte offset. Its Error method
// renders "rule:LINE:COL: message"; Caret renders the offending line with a
// caret under the position.
type Error struct {
	Code ErrorCode
	Rule string // the whole rule
	Pos  int    // byte offset into Rule
	Msg  string // human message, without position
}

// Errorf returns an *Error at pos in rule.
func Errorf(code ErrorCode, rule string, pos int, format string, args ...any) *Error {
	return &Error{Code: code, Rule: rule, Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	line, col := e.LineCol()
	return fmt.Sprintf("rule:%d:%d: %s", line, col, e.Msg)
}

// LineCol returns the 1-based line and byte column of e.Pos.
func (e *Error) LineCol() (line, col int) {
	pos := min(max(e.Pos, 0), len(e.Rule))
	line = 1 + strings.Count(e.Rule[:pos], "\n")
	start := strings.LastIndexByte(e.Rule[:pos], '\n') + 1
	return line, pos - start + 1
}

// Caret returns two lines: the rule line holding the error and a caret under
// its position. Tabs are kept so that the caret lines up in a terminal.
func (e *Error) Caret() string {
	pos := min(max(e.Pos, 0), len(e.Rule))
	start := strings.LastIndexByte(e.Rule[:pos], '\n') + 1
	end := strings.IndexByte(e.Rule[pos:], '\n')
	if end < 0 {
		end = len(e.Rule)
	} else {
		end += pos
	}
	var pad strings.Builder
	for _, r := range e.Rule[start:pos] {
		if r == '\t' {
			pad.WriteByte('\t')
		} else {
			pad.WriteByte(' ')
		}
	}
	return e.Rule[start:end] + "\n" + pad.String() + "^"
}
