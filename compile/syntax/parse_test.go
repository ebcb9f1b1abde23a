package syntax

import (
	"strings"
	"testing"
)

// dump prints a tree compactly: and{...}, or{...}, not{...}, Name[arg,arg].
func dump(e *Expr) string {
	switch e.Op {
	case OpCall:
		return e.Name + "[" + strings.Join(e.Args, ",") + "]"
	case OpNot:
		return "not{" + dump(e.Sub[0]) + "}"
	}
	var parts []string
	for _, s := range e.Sub {
		parts = append(parts, dump(s))
	}
	op := "and"
	if e.Op == OpOr {
		op = "or"
	}
	return op + "{" + strings.Join(parts, " ") + "}"
}

var parseTests = []struct{ in, want string }{
	{"Host(`a`)", "Host[a]"},
	{"Host(\"a\")", "Host[a]"},
	{"Host(`a`) && Path(`/b`)", "and{Host[a] Path[/b]}"},
	{"A(`1`) || B(`2`) && C(`3`)", "or{A[1] and{B[2] C[3]}}"},
	{"A(`1`) && B(`2`) || C(`3`)", "or{and{A[1] B[2]} C[3]}"},
	{"(A(`1`) || B(`2`)) && C(`3`)", "and{or{A[1] B[2]} C[3]}"},
	{"A(`1`) && (B(`2`) && C(`3`))", "and{A[1] B[2] C[3]}"},
	{"!A(`1`)", "not{A[1]}"},
	{"!!A(`1`)", "not{not{A[1]}}"},
	{"!(A(`1`) || B(`2`))", "not{or{A[1] B[2]}}"},
	{"!A(`1`) && B(`2`)", "and{not{A[1]} B[2]}"},
	{"Header(`X-A`, `b`)", "Header[X-A,b]"},
	{"Host(`a`, `b`,)", "Host[a,b]"},
	{"Host(\n`a`,\n)", "Host[a]"},
	{"  Host ( `a` )  ", "Host[a]"},
	{"Host(`a`) &&\n  Path(`/`)", "and{Host[a] Path[/]}"},
	{"Host(`a`) /* comment */ || Path(`/`)", "or{Host[a] Path[/]}"},
	{"Host(`a`) // trailing comment", "Host[a]"},
	{"Host(`a`)\n", "Host[a]"},
	{"\nHost(`a`)", "Host[a]"},
	{"Host(\"\\u00e9\\t\\\"\")", "Host[é\t\"]"},
	{"Path(`/a\\b`)", "Path[/a\\b]"},
	{"Host(`a\r\nb`)", "Host[a\nb]"}, // Go drops carriage returns from raw strings
	{"((((A(`1`)))))", "A[1]"},
}

func TestParse(t *testing.T) {
	for _, tc := range parseTests {
		e, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if got := dump(e); got != tc.want {
			t.Errorf("Parse(%q) = %s, want %s", tc.in, got, tc.want)
		}
		// Round trip: print, parse again, same tree.
		e2, err := Parse(e.String())
		if err != nil || !Equal(e, e2) {
			t.Errorf("round trip of %q via %q failed: %v", tc.in, e.String(), err)
		}
	}
}

var errorTests = []struct {
	in   string
	code ErrorCode
	want string // Error() text
}{
	{"", ErrSyntax, "rule:1:1: unexpected end of rule, expected a matcher"},
	{"Host(`a`) &&", ErrSyntax, "rule:1:13: unexpected end of rule, expected a matcher"},
	{"Host", ErrNotCall, `rule:1:1: "Host" is not a matcher call (missing arguments in parentheses)`},
	{"Host(`a`) && Path", ErrNotCall, `rule:1:14: "Path" is not a matcher call (missing arguments in parentheses)`},
	{"Host()", ErrNoArguments, "rule:1:5: Host has no arguments"},
	{"Host(``)", ErrEmptyArg, "rule:1:6: argument 1 of Host is empty"},
	{"Query(`q`, ``)", ErrEmptyArg, "rule:1:12: argument 2 of Query is empty"},
	{"Host('a')", ErrArgument, "rule:1:6: argument of Host must be a string literal in backticks or double quotes, found \"'a'\""},
	{"Path(1)", ErrArgument, "rule:1:6: argument of Path must be a string literal in backticks or double quotes, found \"1\""},
	{"Host(a)", ErrArgument, "rule:1:6: argument of Host must be a string literal in backticks or double quotes, found \"a\""},
	{"Host(Path(`/`))", ErrArgument, "rule:1:6: argument of Host must be a string literal in backticks or double quotes, found \"Path\""},
	{"Host(`a`) == Path(`/`)", ErrOperator, `rule:1:11: unsupported operator "==" (only &&, || and ! are allowed)`},
	{"Host(`a`) & Path(`/`)", ErrOperator, `rule:1:11: unsupported operator "&" (only &&, || and ! are allowed)`},
	{"-Host(`a`)", ErrOperator, `rule:1:1: unsupported operator "-" (only &&, || and ! are allowed)`},
	{"Host(`a`)\n&& Path(`/`)", ErrSyntax, "rule:1:10: unexpected line break (Go ends the expression here; put && or || at the end of the line)"},
	{"Host(\n`a`\n)", ErrSyntax, "rule:2:4: missing ',' before line break in the arguments of Host"},
	{"Host(`a` `b`)", ErrSyntax, "rule:1:10: missing ',' between the arguments of Host, found \"`b`\""},
	{"Host(`a`", ErrSyntax, "rule:1:9: unexpected end of rule in the arguments of Host"},
	{"(Host(`a`)", ErrSyntax, "rule:1:11: unexpected end of rule"},
	{"Host(`a`))", ErrSyntax, `rule:1:10: unexpected ")"`},
	{"Host(`a`);", ErrSyntax, `rule:1:10: unexpected ";"`},
	{"Host(`a", ErrSyntax, "rule:1:6: raw string literal not terminated"},
	{"Host(\"\\q\")", ErrSyntax, "rule:1:8: unknown escape sequence"},
	{"Host(`a`) /* a comment\n with a line break */ || Path(`/`)", ErrSyntax, "rule:1:23: " + msgLineBreak},
	{"Host(`a`) && a.b(`c`)", ErrNotCall, `rule:1:14: "a" is not a matcher call (missing arguments in parentheses)`},
	{"Host(`a`)(`b`)", ErrSyntax, `rule:1:10: unexpected "("`},
	{"Host(`\x00`)", ErrSyntax, "rule:1:7: illegal character NUL"},
	{strings.Repeat("(", 1100) + "Host(`a`)" + strings.Repeat(")", 1100), ErrTooDeep, "rule:1:1002: rule nested more than 1000 levels deep"},
}

func TestParseErrors(t *testing.T) {
	for _, tc := range errorTests {
		_, err := Parse(tc.in)
		e, ok := err.(*Error)
		if !ok {
			t.Errorf("Parse(%q) = %v, want *Error", tc.in, err)
			continue
		}
		if e.Code != tc.code || e.Error() != tc.want {
			t.Errorf("Parse(%q) = [%s] %q\n                       want [%s] %q", tc.in, e.Code, e.Error(), tc.code, tc.want)
		}
	}
}

func TestCaret(t *testing.T) {
	_, err := Parse("Host(`a`) &&\n\tPath(`/`) == Method(`GET`)")
	e := err.(*Error)
	want := "\tPath(`/`) == Method(`GET`)\n\t          ^"
	if got := e.Caret(); got != want {
		t.Errorf("Caret() =\n%s\nwant\n%s", got, want)
	}
	if line, col := e.LineCol(); line != 2 || col != 12 {
		t.Errorf("LineCol() = %d:%d, want 2:12", line, col)
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"a.example":   "`a.example`",
		"a`b":         "\"a`b\"",
		"a\rb":        "\"a\\rb\"",
		"\xff":        "\"\\xff\"",
		"é\n":         "`é\n`",
		"with\x00nul": "\"with\\x00nul\"",
	} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestStringPrecedence(t *testing.T) {
	for in, want := range map[string]string{
		"A(`1`) || B(`2`) && C(`3`)":       "A(`1`) || B(`2`) && C(`3`)",
		"(A(`1`) || B(`2`)) && C(`3`)":     "(A(`1`) || B(`2`)) && C(`3`)",
		"!(A(`1`) && B(`2`))":              "!(A(`1`) && B(`2`))",
		"A(\"x\",   \"y\" , )":             "A(`x`, `y`)",
		"((A(`1`) && (B(`2`) && C(`3`))))": "A(`1`) && B(`2`) && C(`3`)",
	} {
		e, err := Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.String(); got != want {
			t.Errorf("String(%q) = %s, want %s", in, got, want)
		}
	}
}
