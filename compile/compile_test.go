package compile

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/edgeroute/edgeroute/compile/bytecode"
	"github.com/edgeroute/edgeroute/compile/syntax"
)

var compileErrorTests = []struct {
	rule string
	syn  Syntax
	code syntax.ErrorCode
	want string
}{
	{"Hots(`a`)", V3, syntax.ErrUnknownMatcher, `rule:1:1: unknown matcher "Hots"`},
	{"Host(`a`) && Hots(`b`)", V3, syntax.ErrUnknownMatcher, `rule:1:14: unknown matcher "Hots"`},
	{"pathPrefix(`/a`)", V3, syntax.ErrUnknownMatcher, `rule:1:1: unknown matcher "pathPrefix" (matcher names are case-sensitive: write PathPrefix, pathprefix, PATHPREFIX or Pathprefix)`},
	{"hostRegexp(`a`)", V3, syntax.ErrUnknownMatcher, `rule:1:1: unknown matcher "hostRegexp" (matcher names are case-sensitive: write HostRegexp, hostregexp, HOSTREGEXP or Hostregexp)`},
	{"HostHeader(`a`)", V3, syntax.ErrUnknownMatcher, `rule:1:1: unknown matcher "HostHeader" in syntax v3; it exists in v2 (set the route's syntax: v2)`},
	{"Headers(`X`, `1`)", V3, syntax.ErrUnknownMatcher, `rule:1:1: unknown matcher "Headers" in syntax v3; it exists in v2 (set the route's syntax: v2)`},
	{"HeadersRegexp(`X`, `1`)", V3, syntax.ErrUnknownMatcher, `rule:1:1: unknown matcher "HeadersRegexp" in syntax v3; it exists in v2 (set the route's syntax: v2)`},
	{"Header(`X`, `1`)", V2, syntax.ErrUnknownMatcher, `rule:1:1: unknown matcher "Header" in syntax v2; it exists in the default syntax v3`},
	{"PathRegexp(`^/`)", V2, syntax.ErrUnknownMatcher, `rule:1:1: unknown matcher "PathRegexp" in syntax v2; it exists in the default syntax v3`},
	{"QueryRegexp(`q`)", V2, syntax.ErrUnknownMatcher, `rule:1:1: unknown matcher "QueryRegexp" in syntax v2; it exists in the default syntax v3`},
	{"HeaderRegexp(`q`, `a`)", V2, syntax.ErrUnknownMatcher, `rule:1:1: unknown matcher "HeaderRegexp" in syntax v2; it exists in the default syntax v3`},
	{"Host(`a`, `b`)", V3, syntax.ErrArity, "rule:1:1: Host takes 1 argument, got 2"},
	{"Header(`X`)", V3, syntax.ErrArity, "rule:1:1: Header takes 2 arguments, got 1"},
	{"Query(`a`, `b`, `c`)", V3, syntax.ErrArity, "rule:1:1: Query takes 1 or 2 arguments, got 3"},
	{"QueryRegexp(`a`, `b`, `c`)", V3, syntax.ErrArity, "rule:1:1: QueryRegexp takes 1 or 2 arguments, got 3"},
	{"ClientIP(`1.2.3.4`, `::1`)", V3, syntax.ErrArity, "rule:1:1: ClientIP takes 1 argument, got 2"},
	{"Method(`GET`, `POST`)", V3, syntax.ErrArity, "rule:1:1: Method takes 1 argument, got 2"},
	{"Headers(`X`)", V2, syntax.ErrArity, "rule:1:1: Headers takes key/value pairs (an even number of arguments), got 1"},
	{"Host(`exämple.com`)", V3, syntax.ErrBadValue, `rule:1:6: invalid value "exämple.com" for Host matcher: non-ASCII characters are not allowed (write IDN hosts in punycode)`},
	{"HostRegexp(`ä`)", V3, syntax.ErrBadValue, `rule:1:12: invalid value "ä" for HostRegexp matcher: non-ASCII characters are not allowed`},
	{"Host(`a`, `ä`)", V2, syntax.ErrBadValue, `rule:1:11: invalid value "ä" for Host matcher: non-ASCII characters are not allowed (write IDN hosts in punycode)`},
	{"HostRegexp(`(`)", V3, syntax.ErrBadValue, "rule:1:12: invalid regexp in HostRegexp: error parsing regexp: missing closing ): `(`"},
	{"PathRegexp(`[`)", V3, syntax.ErrBadValue, "rule:1:12: invalid regexp in PathRegexp: error parsing regexp: missing closing ]: `[`"},
	{"HeaderRegexp(`X`, `*`)", V3, syntax.ErrBadValue, "rule:1:19: invalid regexp in HeaderRegexp: error parsing regexp: missing argument to repetition operator: `*`"},
	{"QueryRegexp(`q`, `a**`)", V3, syntax.ErrBadValue, "rule:1:18: invalid regexp in QueryRegexp: error parsing regexp: invalid nested repetition operator: `**`"},
	{"Path(`css`)", V3, syntax.ErrBadValue, `rule:1:6: path "css" of Path does not start with a '/'`},
	{"PathPrefix(`css`)", V3, syntax.ErrBadValue, `rule:1:12: path "css" of PathPrefix does not start with a '/'`},
	{"ClientIP(`1.2.3`)", V3, syntax.ErrBadValue, `rule:1:10: invalid value "1.2.3" for ClientIP matcher: not an IP address or CIDR`},
	{"ClientIP(`fe80::1%eth0`)", V3, syntax.ErrBadValue, `rule:1:10: invalid value "fe80::1%eth0" for ClientIP matcher: not an IP address or CIDR`},
	{"ClientIP(`10.0.0.0/33`)", V3, syntax.ErrBadValue, `rule:1:10: invalid value "10.0.0.0/33" for ClientIP matcher: not an IP address or CIDR`},
	{"Path(`css`)", V2, syntax.ErrBadValue, `rule:1:6: Path: path "css" does not start with a '/'`},
	{"Path(`/{id`)", V2, syntax.ErrBadValue, `rule:1:6: Path: unbalanced braces in "/{id"`},
	{"Path(`/{:[0-9]+}`)", V2, syntax.ErrBadValue, `rule:1:6: Path: missing name or pattern in "{:[0-9]+}"`},
	{"HostRegexp(`{a:(}.com`)", V2, syntax.ErrBadValue, "rule:1:12: HostRegexp: error parsing regexp: missing closing ): `(?i)^(?P<v0>()\\.com$`"},
	{"Query(`mobile`)", V2, syntax.ErrBadValue, `rule:1:7: Query in syntax v2 takes key=value arguments; ["mobile"] do not split into pairs`},
	{"Query(`{k}=v`)", V2, syntax.ErrBadValue, `rule:1:7: Query: templates in query keys ("{k}") are not supported by edgeroute`},
	{"Host()", V3, syntax.ErrNoArguments, "rule:1:5: Host has no arguments"},
	{"Host(``)", V3, syntax.ErrEmptyArg, "rule:1:6: argument 1 of Host is empty"},
}

func TestCompileErrors(t *testing.T) {
	for _, tc := range compileErrorTests {
		_, probs := Compile([]Route{{Name: "ns-r", Rule: tc.rule, Syntax: tc.syn}})
		if len(probs) != 1 {
			t.Errorf("%s %#q: %d problems, want 1", tc.syn, tc.rule, len(probs))
			continue
		}
		var e *syntax.Error
		if !errors.As(probs[0].Err, &e) || e.Code != tc.code || e.Error() != tc.want {
			t.Errorf("%s %#q:\n got [%v] %v\nwant [%s] %s", tc.syn, tc.rule, codeOf(probs[0].Err), probs[0].Err, tc.code, tc.want)
		}
		if got := probs[0].Error(); !strings.HasPrefix(got, "router ns-r: rule:") {
			t.Errorf("Problem.Error() = %q, want it to name the router", got)
		}
		if Check(tc.rule, tc.syn) == nil {
			t.Errorf("Check(%#q) accepted what Compile rejects", tc.rule)
		}
	}
}

func codeOf(err error) syntax.ErrorCode {
	var e *syntax.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// TestBadRouteDoesNotBreakOthers: an invalid router is left out; the others
// serve, and its requests fall through to them (Traefik semantics §a).
func TestBadRouteDoesNotBreakOthers(t *testing.T) {
	routes := []Route{
		{Name: "bad", Rule: "Host(`a.test`) && Hots(`x`)", Priority: 100},
		{Name: "good", Rule: "Host(`a.test`)"},
		{Name: "fallback", Rule: "PathPrefix(`/`)", Priority: -1},
	}
	tab, probs := Compile(routes)
	if len(probs) != 1 || probs[0].Index != 0 || probs[0].Name != "bad" {
		t.Fatalf("problems = %v, want the bad route only", probs)
	}
	if got := tab.Match(req(t, "GET /", "Host: a.test")); got != 1 {
		t.Errorf("Match = %d, want 1 (good)", got)
	}
	if got := tab.Match(req(t, "GET /", "Host: b.test")); got != 2 {
		t.Errorf("Match = %d, want 2 (fallback)", got)
	}
}

func TestPriority(t *testing.T) {
	if p := (Route{Rule: "Host(`example.org`)"}).EffectivePriority(); p != 19 {
		t.Errorf("len-based priority = %d, want 19", p)
	}
	if p := (Route{Rule: "Host(`example.org`)", Priority: -3}).EffectivePriority(); p != -3 {
		t.Errorf("explicit priority = %d, want -3", p)
	}
	// The length counts the rule exactly as written: spaces, quotes, comments.
	if p := (Route{Rule: "Host(`a`)  /* c */"}).EffectivePriority(); p != 18 {
		t.Errorf("priority with comment = %d, want 18", p)
	}
	tests := []struct {
		name   string
		routes []Route
		req    string
		hdr    []string
		want   int
	}{
		{"longer rule wins (traefik#8191)", []Route{
			{Rule: "Host(`a.example.com`)"},
			{Rule: "HostRegexp(`^[a-z]+\\.example\\.com$`)"},
		}, "GET /", []string{"Host: a.example.com"}, 1},
		{"explicit priority beats length", []Route{
			{Rule: "Host(`a.example.com`)", Priority: 100},
			{Rule: "HostRegexp(`^[a-z]+\\.example\\.com$`)"},
		}, "GET /", []string{"Host: a.example.com"}, 0},
		{"priority 0 means length", []Route{
			{Rule: "PathPrefix(`/`)", Priority: 0},
			{Rule: "PathPrefix(`/api`)", Priority: 0},
		}, "GET /api/x", nil, 1},
		{"negative loses to every computed priority", []Route{
			{Rule: "PathPrefix(`/api`)", Priority: -1},
			{Rule: "PathPrefix(`/`)"},
		}, "GET /api/x", nil, 1},
		{"negative still serves when alone", []Route{
			{Rule: "PathPrefix(`/api`)", Priority: -10},
			{Rule: "Host(`other.test`)"},
		}, "GET /api/x", []string{"Host: a.test"}, 0},
		{"the highest across exact, wildcard and any-host buckets", []Route{
			{Rule: "Host(`a.example.com`)", Priority: 1},
			{Rule: "Host(`*.example.com`)", Priority: 3},
			{Rule: "PathPrefix(`/`)", Priority: 2},
		}, "GET /", []string{"Host: a.example.com"}, 1},
		{"the maximum user priority is allowed", []Route{
			{Rule: "PathPrefix(`/`)", Priority: math.MaxInt64 - 1000},
			{Rule: "PathPrefix(`/`)", Priority: math.MaxInt64 - 1001},
		}, "GET /", nil, 0},
		{"ties keep input order", []Route{
			{Rule: "PathPrefix(`/a`)"},
			{Rule: "PathPrefix(`/`)", Priority: 16},
		}, "GET /a", nil, 0},
		{"no backtracking after the first match", []Route{
			{Rule: "PathPrefix(`/`)", Priority: 10},
			{Rule: "Path(`/x`)", Priority: 5},
		}, "GET /x", nil, 0},
	}
	for _, tc := range tests {
		for i := range tc.routes {
			tc.routes[i].Name = fmt.Sprint("r", i)
		}
		tab, probs := Compile(tc.routes)
		if len(probs) > 0 {
			t.Fatalf("%s: %v", tc.name, probs)
		}
		r := req(t, tc.req, tc.hdr...)
		if got := tab.Match(r); got != tc.want {
			t.Errorf("%s: Match = %d, want %d", tc.name, got, tc.want)
		}
		if got := NewReference(tc.routes).Match(r); got != tc.want {
			t.Errorf("%s: reference = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestPriorityTooHigh(t *testing.T) {
	_, probs := Compile([]Route{{Name: "r", Rule: "PathPrefix(`/`)", Priority: math.MaxInt64 - 999}})
	if len(probs) != 1 || codeOf(probs[0].Err) != syntax.ErrPriority ||
		probs[0].Err.Error() != "rule:1:1: priority 9223372036854774808 exceeds the maximum user-defined priority 9223372036854774807" {
		t.Fatalf("problems = %v", probs)
	}
}

func TestParseSyntax(t *testing.T) {
	for in, want := range map[string]Syntax{"v2": V2, "": V3, "v3": V3, "default": V3, "V2": V3, "v1": V3} {
		if got := ParseSyntax(in); got != want {
			t.Errorf("ParseSyntax(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestDisassemble(t *testing.T) {
	var b bytecode.Builder
	_, n, err := lowerRule(&b, "Host(`a.test`) && (PathPrefix(`/api`) || !Method(`get`)) && Host(`*`)", V3)
	if err != nil {
		t.Fatal(err)
	}
	entry := b.Compile(n)
	p := b.Finish()
	got := p.Disassemble(entry)
	want := "0\thost \"a.test\"\t-> 1, reject\n" +
		"1\tpath_prefix \"/api\"\t-> accept, 2\n" +
		"2\tmethod \"GET\"\t-> reject, accept\n"
	if got != want {
		t.Errorf("disassembly:\n%s\nwant:\n%s", got, want)
	}
}

func TestExplain(t *testing.T) {
	routes := []Route{
		{Name: "api", Rule: "Host(`a.test`) && PathPrefix(`/api`)"},
		{Name: "admin", Rule: "Host(`a.test`) && Path(`/admin`) && ClientIP(`10.0.0.0/8`)"},
		{Name: "other", Rule: "Host(`b.test`)"},
		{Name: "site", Rule: "Host(`a.test`)"},
		{Name: "catchall", Rule: "PathPrefix(`/`)", Priority: -1},
	}
	tab, _ := Compile(routes)
	x := tab.Explain(req(t, "GET /admin", "Host: a.test"))
	if x.Winner != 3 {
		t.Fatalf("winner = %d, want 3", x.Winner)
	}
	got := map[string]Verdict{}
	for _, v := range x.Routes {
		got[v.Name] = v
	}
	for name, want := range map[string]string{
		"admin":    "ClientIP(`10.0.0.0/8`) is false: client IP is 192.0.2.10",
		"api":      "PathPrefix(`/api`) is false: routing path is \"/admin\"",
		"other":    "Host(`b.test`) is false: request host is \"a.test\" (ruled out by the host/path index)",
		"site":     "",
		"catchall": "not tried: site (priority 14) matched first",
	} {
		if got[name].Reason != want {
			t.Errorf("%s: reason %q, want %q", name, got[name].Reason, want)
		}
	}
	if !got["site"].Matched || got["other"].Candidate {
		t.Errorf("verdicts = %+v", x.Routes)
	}
	// Or and Not: the reason names each failed operand.
	tab, _ = Compile([]Route{{Name: "x", Rule: "(Method(`PUT`) || Method(`POST`)) && !Query(`debug`)"}})
	x = tab.Explain(req(t, "GET /"))
	if want := "none of: Method(`PUT`) is false: method is \"GET\"; Method(`POST`) is false: method is \"GET\""; x.Routes[0].Reason != want {
		t.Errorf("reason %q, want %q", x.Routes[0].Reason, want)
	}
	x = tab.Explain(req(t, "PUT /?debug"))
	if want := "!Query(`debug`) is false: query is \"debug\""; x.Routes[0].Reason != want {
		t.Errorf("reason %q, want %q", x.Routes[0].Reason, want)
	}
}
