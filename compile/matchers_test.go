package compile

import (
	"net/netip"
	"strings"
	"testing"
)

// req builds a request from "METHOD target" and "Name: value" header lines;
// a line "ip: addr" sets the client address.
func req(t testing.TB, line string, hdr ...string) *Request {
	t.Helper()
	method, target, _ := strings.Cut(line, " ")
	var h [][2]string
	ip := netip.MustParseAddr("192.0.2.10")
	for _, l := range hdr {
		k, v, _ := strings.Cut(l, ":")
		v = strings.TrimSpace(v)
		if k == "ip" {
			ip = netip.Addr{}
			if v != "" {
				ip = netip.MustParseAddr(v)
			}
			continue
		}
		h = append(h, [2]string{k, v})
	}
	r, err := NewRequest(method, target, h, ip, true)
	if err != nil {
		t.Fatalf("NewRequest(%q): %v", line, err)
	}
	return r
}

type matchCase struct {
	rule string
	req  string   // "METHOD target"
	hdr  []string // header lines, plus "ip: addr"
	want bool
}

// checkMatch compiles rule alone and checks the table and the reference
// interpreter against want.
func checkMatch(t *testing.T, s Syntax, tc matchCase) {
	t.Helper()
	routes := []Route{{Name: "r", Rule: tc.rule, Syntax: s}}
	tab, probs := Compile(routes)
	if len(probs) > 0 {
		t.Fatalf("Compile(%#q): %v", tc.rule, probs[0].Err)
	}
	r := req(t, tc.req, tc.hdr...)
	got := tab.Match(r) == 0
	ref := NewReference(routes).Match(r) == 0
	if got != tc.want || ref != tc.want {
		t.Errorf("%s %#q on %q %q: table=%v reference=%v, want %v", s, tc.rule, tc.req, tc.hdr, got, ref, tc.want)
	}
}

var v3Cases = []matchCase{
	// Host: case-insensitive, port stripped, trailing dots, IPv6, wildcards.
	{"Host(`example.com`)", "GET http://example.com/", nil, true},
	{"Host(`example.com`)", "GET /", []string{"Host: EXAMPLE.com:8080"}, true},
	{"Host(`Example.COM`)", "GET /", []string{"Host: example.com"}, true},
	{"Host(`example.com`)", "GET /", []string{"Host: example.com."}, true},
	{"Host(`example.com.`)", "GET /", []string{"Host: example.com"}, true},
	{"Host(`example.com.`)", "GET /", []string{"Host: example.com."}, true},
	{"Host(`example.com`)", "GET /", []string{"Host: example.org"}, false},
	{"Host(`example.com`)", "GET /", []string{"Host: a.example.com"}, false},
	{"Host(`example.com`)", "GET /", nil, false},
	{"Host(`example.com`)", "GET /", []string{"Host:  example.com "}, true},
	{"Host(`10::10`)", "GET /", []string{"Host: [10::10]:80"}, true},
	{"Host(`10::10`)", "GET /", []string{"Host: [10::10]"}, true},
	{"Host(`::1`)", "GET /", []string{"Host: ::1"}, true},
	{"Host(`example.com:80`)", "GET /", []string{"Host: example.com:80"}, false},
	{"Host(`*`)", "GET /", []string{"Host: anything.test"}, true},
	{"Host(`*`)", "GET /", nil, true},
	{"Host(`*.example.com`)", "GET /", []string{"Host: a.example.com"}, true},
	{"Host(`*.example.com`)", "GET /", []string{"Host: A.Example.com:443"}, true},
	{"Host(`*.example.com`)", "GET /", []string{"Host: example.com"}, false},
	{"Host(`*.example.com`)", "GET /", []string{"Host: a.b.example.com"}, false},
	{"Host(`*.example.com`)", "GET /", []string{"Host: a.example.com."}, true},
	{"Host(`a.*.com`)", "GET /", []string{"Host: a.b.com"}, false},
	{"Host(`*.`)", "GET /", []string{"Host: localhost"}, true},
	{"Host(`*.`)", "GET /", []string{"Host: a.test"}, false},
	{"Host(`*x.test`)", "GET /", []string{"Host: *x.test"}, false},
	{"Host(`*.test`)", "GET /", []string{"Host: *.test"}, true},
	{"Host(`[::1]`)", "GET /", []string{"Host: [::1]"}, false},
	{"!Host(`example.com`)", "GET /", []string{"Host: example.org"}, true},
	{"!Host(`example.com`)", "GET /", []string{"Host: example.com"}, false},
	{"Host(`a.test`) || Host(`b.test`)", "GET /", []string{"Host: b.test"}, true},
	{"Host(`a.test`) && Host(`b.test`)", "GET /", []string{"Host: b.test"}, false},
	// HostRegexp: unanchored RE2 on the canonical (lower-case) host.
	{"HostRegexp(`^[a-z]+\\.example\\.com$`)", "GET /", []string{"Host: API.example.com"}, true},
	{"HostRegexp(`^[A-Z]+\\.example\\.com$`)", "GET /", []string{"Host: API.example.com"}, false},
	{"HostRegexp(`example`)", "GET /", []string{"Host: www.example.org:81"}, true},
	{"HostRegexp(`{sub:[a-z]+}.example.com`)", "GET /", []string{"Host: a.example.com"}, false},
	{"HostRegexp(`:81`)", "GET /", []string{"Host: example.org:81"}, false},
	{"HostRegexp(`^$`)", "GET /", []string{"Host: example.org"}, true}, // matches the empty CNAME-flattened host
	{"HostRegexp(`^(www\\.)?$`)", "GET /", []string{"Host: example.org"}, true},
	// Path and PathPrefix on the routing path.
	{"Path(`/css`)", "GET /css", nil, true},
	{"Path(`/css`)", "GET /css/", nil, false},
	{"Path(`/css`)", "GET /CSS", nil, false},
	{"Path(`/css`)", "GET /css?x=1", nil, true},
	{"Path(`/foo bar`)", "GET /foo%20bar", nil, true},
	{"Path(`/foo/bar`)", "GET /foo%2Fbar", nil, false},
	{"Path(`/foo%2Fbar`)", "GET /foo%2fbar", nil, true},
	{"Path(`/b`)", "GET /a/../b", nil, true},
	{"Path(`/a/b`)", "GET /a//b", nil, true},
	{"Path(`/a`)", "GET /./a", nil, true},
	{"Path(`/a/`)", "GET /a/./", nil, true},
	{"Path(`/admin`)", "GET /public/%2e%2e/admin", nil, true},
	{"Path(`/a~b`)", "GET /a%7Eb", nil, true},
	{"Path(`/é`)", "GET /%C3%A9", nil, true},
	{"Path(`/a%25b`)", "GET /a%25b", nil, true},
	{"PathPrefix(`/css`)", "GET /cssfoo", nil, true},
	{"PathPrefix(`/css/`)", "GET /css", nil, false},
	{"PathPrefix(`/`)", "GET /anything", nil, true},
	{"PathPrefix(`/api`)", "GET /API", nil, false},
	// PathRegexp: unanchored, case-sensitive unless (?i).
	{"PathRegexp(`^/v[0-9]+/`)", "GET /v2/users", nil, true},
	{"PathRegexp(`users`)", "GET /v2/users", nil, true},
	{"PathRegexp(`^/USERS`)", "GET /users", nil, false},
	{"PathRegexp(`(?i)^/USERS`)", "GET /users", nil, true},
	// Method: the rule is upper-cased, the request compared exactly.
	{"Method(`get`)", "GET /", nil, true},
	{"Method(`GET`)", "get /", nil, false},
	{"Method(`POST`)", "GET /", nil, false},
	// Header: canonical key, any line equal, no comma splitting.
	{"Header(`x-env`, `prod`)", "GET /", []string{"X-Env: prod"}, true},
	{"Header(`X-Env`, `prod`)", "GET /", []string{"x-env: prod"}, true},
	{"Header(`X-Env`, `prod`)", "GET /", []string{"X-Env: dev", "X-Env: prod"}, true},
	{"Header(`X-Env`, `prod`)", "GET /", []string{"X-Env: dev, prod"}, false},
	{"Header(`X-Env`, `prod`)", "GET /", []string{"X-Env: Prod"}, false},
	{"Header(`X-Env`, `prod`)", "GET /", nil, false},
	{"Header(`Host`, `example.com`)", "GET /", []string{"Host: example.com"}, false},
	{"HeaderRegexp(`X-Env`, `^pr`)", "GET /", []string{"X-Env: dev", "X-Env: prod"}, true},
	{"HeaderRegexp(`X-Env`, `od`)", "GET /", []string{"X-Env: prod"}, true},
	{"HeaderRegexp(`X-Env`, `^x`)", "GET /", []string{"X-Env: prod"}, false},
	// Query: decoded, ';' separates, any value, one-argument form means empty value.
	{"Query(`q`, `a b`)", "GET /?q=a+b", nil, true},
	{"Query(`q`, `a b`)", "GET /?q=a%20b", nil, true},
	{"Query(`q`, `b`)", "GET /?q=a&q=b", nil, true},
	{"Query(`q`, `b`)", "GET /?x=1;q=b", nil, true},
	{"Query(`Q`, `b`)", "GET /?q=b", nil, false},
	{"Query(`mobile`)", "GET /?mobile", nil, true},
	{"Query(`mobile`)", "GET /?mobile=", nil, true},
	{"Query(`mobile`)", "GET /?mobile=true", nil, false},
	{"Query(`q`, `b`)", "GET /?q=%zz&q=b", nil, true},
	{"Query(`q`, `%zz`)", "GET /?q=%zz", nil, false},
	{"Query(`a&b`, `c`)", "GET /?a%26b=c", nil, true},
	{"QueryRegexp(`q`, `^[0-9]+$`)", "GET /?q=x&q=42", nil, true},
	{"QueryRegexp(`q`, `^[0-9]+$`)", "GET /?q=x", nil, false},
	{"QueryRegexp(`mobile`)", "GET /?mobile", nil, true},
	{"QueryRegexp(`mobile`)", "GET /?mobile=1", nil, false},
	// ClientIP: the TCP peer only.
	{"ClientIP(`192.0.2.10`)", "GET /", nil, true},
	{"ClientIP(`192.0.2.0/24`)", "GET /", nil, true},
	{"ClientIP(`192.0.2.0/24`)", "GET /", []string{"ip: 198.51.100.1", "X-Forwarded-For: 192.0.2.10"}, false},
	{"ClientIP(`192.0.2.0/24`)", "GET /", []string{"ip: ::ffff:192.0.2.7"}, true},
	{"ClientIP(`::ffff:192.0.2.7`)", "GET /", nil, false},
	{"ClientIP(`2001:db8::/32`)", "GET /", []string{"ip: 2001:db8::5"}, true},
	{"ClientIP(`2001:db8::/32`)", "GET /", []string{"ip: 2001:db9::5"}, false},
	{"ClientIP(`192.0.2.0/24`)", "GET /", []string{"ip:"}, false},
	// Operators.
	{"Host(`a.test`) && (Path(`/x`) || Method(`POST`))", "POST /y", []string{"Host: a.test"}, true},
	{"Host(`a.test`) && !(Path(`/x`) || Method(`POST`))", "POST /y", []string{"Host: a.test"}, false},
	{"Host(`a.test`) || Host(`b.test`) && Path(`/x`)", "GET /y", []string{"Host: a.test"}, true},
	{"(Host(`a.test`) || Host(`b.test`)) && Path(`/x`)", "GET /y", []string{"Host: a.test"}, false},
	{"!!Host(`a.test`)", "GET /", []string{"Host: a.test"}, true},
	{"host(`a.test`) && PATHPREFIX(`/x`) && Pathprefix(`/x`)", "GET /x", []string{"Host: a.test"}, true},
}

func TestMatchersV3(t *testing.T) {
	for _, tc := range v3Cases {
		checkMatch(t, V3, tc)
	}
}

var v2Cases = []matchCase{
	{"Host(`a.test`, `b.test`)", "GET /", []string{"Host: b.test"}, true},
	{"HostHeader(`a.test`)", "GET /", []string{"Host: A.test"}, true},
	{"Host(`*`)", "GET /", []string{"Host: a.test"}, false},
	{"HostRegexp(`{sub:[a-z]+}.example.com`)", "GET /", []string{"Host: api.example.com"}, true},
	{"HostRegexp(`{sub:[a-z]+}.example.com`)", "GET /", []string{"Host: API.example.com"}, true},
	{"HostRegexp(`{sub}.example.com`)", "GET /", []string{"Host: a.b.example.com"}, false},
	{"HostRegexp(`(example.com`)", "GET /", []string{"Host: example.com"}, false},
	{"HostRegexp(`example.com`)", "GET /", []string{"Host: xexample.com"}, false},
	{"Path(`/users/{id:[0-9]+}`)", "GET /users/42", nil, true},
	{"Path(`/users/{id:[0-9]+}`)", "GET /users/42/x", nil, false},
	{"Path(`/users/{id}`)", "GET /users/42", nil, true},
	{"Path(`/a`, `/b`)", "GET /b", nil, true},
	{"Path(`/foo/bar`)", "GET /foo%2Fbar", nil, false}, // v2 paths see the routing path too
	{"Path(`/foo bar`)", "GET /foo%20bar", nil, true},
	{"Path(`/users/{id:([0-9]+)}`)", "GET /users/7", nil, true},
	{"Headers(`X-Env`, `prod`, `x-env`, `dev`)", "GET /", []string{"X-Env: prod", "X-Env: dev"}, true},
	{"PathPrefix(`/css{path:(?:/.*)?}`)", "GET /css/site.css", nil, true},
	{"PathPrefix(`/api`)", "GET /apix", nil, true},
	{"Method(`GET`, `post`)", "POST /", nil, true},
	{"Method(`GET`, `POST`)", "PUT /", nil, false},
	{"Headers(`X-Env`, `prod`)", "GET /", []string{"X-Env: prod"}, true},
	{"Headers(`X-Env`, `prod`, `X-Env`, `dev`)", "GET /", []string{"X-Env: prod"}, false},
	{"HeadersRegexp(`X-Env`, `^p`)", "GET /", []string{"X-Env: prod"}, true},
	{"Query(`a=1`)", "GET /?a=1", nil, true},
	{"Query(`a=1`)", "GET /?a=2&a=1", nil, false},
	{"Query(`a=1`, `b=2`)", "GET /?b=2&a=1", nil, true},
	{"Query(`a={v:[0-9]+}`)", "GET /?a=42", nil, true},
	{"Query(`a=`)", "GET /?a=anything", nil, true},
	{"Query(`a=`)", "GET /?b=1", nil, false},
	{"ClientIP(`198.51.100.0/24`, `192.0.2.10`)", "GET /", nil, true},
}

func TestMatchersV2(t *testing.T) {
	for _, tc := range v2Cases {
		checkMatch(t, V2, tc)
	}
}

// TestEveryMatcherHasCases keeps the table and the tests in step: every row
// of both syntaxes appears in at least one matching case.
func TestEveryMatcherHasCases(t *testing.T) {
	for _, set := range []struct {
		rows  []matcher
		cases []matchCase
	}{{v3Matchers, v3Cases}, {v2Matchers, v2Cases}} {
		for _, m := range set.rows {
			found := false
			for _, c := range set.cases {
				if strings.Contains(c.rule, m.name+"(") {
					found = true
				}
			}
			if !found {
				t.Errorf("matcher %s has no test case", m.name)
			}
		}
	}
}
