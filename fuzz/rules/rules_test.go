// Package rules holds the fuzz targets of the rule compiler. They use only
// exported APIs. `make fuzz` runs each for FUZZTIME; `go test` runs the
// committed seeds in testdata/fuzz.
package rules

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/netip"
	"strconv"
	"testing"

	"github.com/edgeroute/edgeroute/compile"
	"github.com/edgeroute/edgeroute/compile/syntax"
)

var ruleSeeds = []string{
	"Host(`example.com`)",
	"Host(`a`) && (Path(`/x`) || !Method(`GET`))",
	"Host(\"a\\u00e9\") || PathPrefix(`/p`,)",
	"Host(`a`)\n&& Path(`/`)",
	"Host(`a`) &&\nPath(`/`)",
	"Host(`a`) /* c */ && Path(`/`) // end",
	"Host(`a`) == Path(`/`)",
	"Host('a')",
	"Path(1)",
	"Host()",
	"Host(``)",
	"!!(Host(`a`))",
	"Host(`a` `b`)",
	"Header(`X`, `1`",
	"((((Host(`a`)))))",
	"Host(`a`);",
	"f(`a`)(`b`)",
	"a.b(`c`)",
	"Host(`a\rb`)",
	"Host(\"\\x00\")",
	"",
}

// goParserAccepts is Traefik's parser: go/parser.ParseExpr, then a walk that
// allows only &&, ||, !, parentheses and calls of plain identifiers with
// string literal arguments (at least one, none empty).
func goParserAccepts(rule string) bool {
	e, err := parser.ParseExpr(rule)
	if err != nil {
		return false
	}
	var ok func(ast.Expr) bool
	ok = func(e ast.Expr) bool {
		switch e := e.(type) {
		case *ast.ParenExpr:
			return ok(e.X)
		case *ast.UnaryExpr:
			return e.Op == token.NOT && ok(e.X)
		case *ast.BinaryExpr:
			return (e.Op == token.LAND || e.Op == token.LOR) && ok(e.X) && ok(e.Y)
		case *ast.CallExpr:
			if _, isIdent := e.Fun.(*ast.Ident); !isIdent || e.Ellipsis.IsValid() || len(e.Args) == 0 {
				return false
			}
			for _, a := range e.Args {
				lit, isLit := a.(*ast.BasicLit)
				if !isLit || lit.Kind != token.STRING {
					return false
				}
				if v, err := strconv.Unquote(lit.Value); err != nil || v == "" {
					return false
				}
			}
			return true
		}
		return false
	}
	return ok(e)
}

// FuzzParse checks the parser against Go's own (same accepted language) and
// that printing a parsed rule and parsing it again gives the same tree.
func FuzzParse(f *testing.F) {
	for _, s := range ruleSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rule string) {
		e, err := syntax.Parse(rule)
		if want := goParserAccepts(rule); (err == nil) != want {
			t.Fatalf("Parse(%q) error = %v, but go/parser acceptance is %v", rule, err, want)
		}
		if err != nil {
			if _, ok := err.(*syntax.Error); !ok {
				t.Fatalf("Parse(%q) error %T is not *syntax.Error", rule, err)
			}
			_ = err.Error()
			_ = err.(*syntax.Error).Caret()
			return
		}
		printed := e.String()
		e2, err := syntax.Parse(printed)
		if err != nil {
			t.Fatalf("Parse(%q) = %s; reparse failed: %v", rule, printed, err)
		}
		if !syntax.Equal(e, e2) {
			t.Fatalf("round trip changed the tree: %q -> %q -> %q", rule, printed, e2.String())
		}
		if again := e2.String(); again != printed {
			t.Fatalf("printing is not stable: %q then %q", printed, again)
		}
	})
}

// FuzzMatch is the differential test: for a random rule set and a random
// request, the compiled table (host index + bytecode) must pick the same
// route as the reference interpreter's linear scan, and Explain must agree.
func FuzzMatch(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("seed: hosts and paths"))
	f.Add([]byte{11, 0, 0, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add([]byte{5, 1, 1, 0, 9, 9, 2, 2, 2, 0, 4, 4, 1, 7, 3, 0, 0, 1, 2, 8, 8, 8})
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &src{b: data}
		routes := s.routes()
		tab, _ := compile.Compile(routes)
		ref := compile.NewReference(routes)
		for range 4 {
			r, err := s.request()
			if err != nil {
				continue // a request the entry point answers with 400
			}
			got, want := tab.Match(r), ref.Match(r)
			if got != want {
				t.Fatalf("table chose %d, reference chose %d\nrequest: host=%q path=%q method=%q query=%q ip=%v\nroutes:%s",
					got, want, r.Host, r.Path, r.Method, r.Query, r.ClientIP, dump(routes))
			}
			if x := tab.Explain(r); x.Winner != got {
				t.Fatalf("Explain winner %d, Match %d", x.Winner, got)
			}
		}
	})
}

func dump(rs []compile.Route) string {
	out := ""
	for i, r := range rs {
		out += "\n  " + strconv.Itoa(i) + " " + r.Syntax.String() + " prio=" + strconv.FormatInt(r.Priority, 10) + " " + r.Rule
	}
	return out
}

// FuzzCompile feeds arbitrary rules and requests to Compile, Match and
// Explain: nothing may panic, and invalid rules come back as problems.
func FuzzCompile(f *testing.F) {
	for _, s := range ruleSeeds {
		f.Add(s, "GET", "/a/b?q=1", "a.test", false)
	}
	f.Add("Path(`/{x`)", "GET", "/", "", true)
	f.Add("HostRegexp(`(`)", "GET", "/%zz", "[::1", true)
	f.Fuzz(func(t *testing.T, rule, method, target, host string, v2 bool) {
		syn := compile.V3
		if v2 {
			syn = compile.V2
		}
		routes := []compile.Route{{Name: "r", Rule: rule, Syntax: syn}, {Name: "all", Rule: "PathPrefix(`/`)"}}
		tab, probs := compile.Compile(routes)
		if (len(probs) == 0) != (compile.Check(rule, syn) == nil) {
			t.Fatalf("Compile and Check disagree on %q: %v", rule, probs)
		}
		r, err := compile.NewRequest(method, target, [][2]string{{"Host", host}}, netip.MustParseAddr("127.0.0.1"), true)
		if err != nil {
			return
		}
		if got, want := tab.Match(r), compile.NewReference(routes).Match(r); got != want {
			t.Fatalf("rule %q: table %d, reference %d", rule, got, want)
		}
		tab.Explain(r)
	})
}
