package rules

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/edgeroute/edgeroute/compile"
)

// src turns fuzzer bytes into choices. When the bytes run out every choice
// is 0, so any input decodes to a finite rule set and request.
type src struct{ b []byte }

func (s *src) n(k int) int {
	if len(s.b) == 0 || k <= 1 {
		return 0
	}
	v := int(s.b[0])
	s.b = s.b[1:]
	return v % k
}

func (s *src) pick(xs []string) string { return xs[s.n(len(xs))] }

// Small alphabets, chosen so that random rules and requests collide often
// and reach the corner cases: case, ports, trailing dots, wildcards, IPv6,
// encoded characters, dot-segments, repeated query keys, bad escapes.
var (
	ruleHosts = []string{"a.test", "b.test", "x.a.test", "A.Test", "a.test.", "*.a.test", "*.test", "*",
		"10::1", "b.test..", "*.", ".", "test", "*..", "*x.test", "*.a.test.", "localhost"}
	rulePaths = []string{"/", "/a", "/a/", "/a/b", "/ab", "/a b", "/a%2Fb", "/é", "/b", "/A"}
	ruleRes   = []string{"^a", "test$", "(?i)A", "[0-9]+", "^/a", "b", "^$", "%2F", " ", "^/a/?$"}
	methods   = []string{"GET", "get", "POST", "PUT"}
	hdrKeys   = []string{"X-A", "x-a", "Host", "X_B", "x-b"}
	hdrVals   = []string{"1", "2", "a b", "1, 2"}
	qKeys     = []string{"q", "a b", "Q", "a&b"}
	qVals     = []string{"1", "a b", "%zz", "2"}
	cips      = []string{"127.0.0.1", "127.0.0.0/8", "::1", "::ffff:127.0.0.1", "10.0.0.0/8",
		"::ffff:127.0.0.0/104", "2001:db8::/32", "::ffff:0:0/96", "127.0.0.2/31"}
	v2Tpls = []string{"{s:[a-z]+}.test", "{s}.a.test", "a.test", "/a/{id:[0-9]+}", "/a{rest:(?:/.*)?}", "/{x}"}
)

func q(s string) string { return "`" + s + "`" }

func (s *src) leafV3() string {
	switch s.n(11) {
	case 0, 1, 2:
		return "Host(" + q(s.pick(ruleHosts)) + ")"
	case 3:
		return "HostRegexp(" + q(s.pick(ruleRes)) + ")"
	case 4:
		return "Path(" + q(s.pick(rulePaths)) + ")"
	case 5:
		return "PathPrefix(" + q(s.pick(rulePaths)) + ")"
	case 6:
		return "PathRegexp(" + q(s.pick(ruleRes)) + ")"
	case 7:
		return "Method(" + q(s.pick(methods)) + ")"
	case 8:
		if s.n(2) == 0 {
			return "Header(" + q(s.pick(hdrKeys)) + ", " + q(s.pick(hdrVals)) + ")"
		}
		return "HeaderRegexp(" + q(s.pick(hdrKeys)) + ", " + q(s.pick(ruleRes)) + ")"
	case 9:
		switch s.n(3) {
		case 0:
			return "Query(" + q(s.pick(qKeys)) + ")"
		case 1:
			return "Query(" + q(s.pick(qKeys)) + ", " + q(s.pick(qVals)) + ")"
		}
		return "QueryRegexp(" + q(s.pick(qKeys)) + ", " + q(s.pick(ruleRes)) + ")"
	}
	return "ClientIP(" + q(s.pick(cips)) + ")"
}

func (s *src) leafV2() string {
	args := func(xs []string) string {
		n := 1 + s.n(2)
		var out []string
		for range n {
			out = append(out, q(s.pick(xs)))
		}
		return strings.Join(out, ", ")
	}
	switch s.n(8) {
	case 0, 1:
		return "Host(" + args(ruleHosts) + ")"
	case 2:
		return "HostRegexp(" + args(v2Tpls[:3]) + ")"
	case 3:
		return "Path(" + args(append(rulePaths, v2Tpls[3:]...)) + ")"
	case 4:
		return "PathPrefix(" + args(append(rulePaths, v2Tpls[3:]...)) + ")"
	case 5:
		return "Method(" + args(methods) + ")"
	case 6:
		return "Headers(" + q(s.pick(hdrKeys)) + ", " + q(s.pick(hdrVals)) + ")"
	}
	return "Query(" + q(s.pick(qKeys)+"="+s.pick(append(qVals, "", "{v:[0-9]+}"))) + ")"
}

func (s *src) expr(depth int, v2 bool) string {
	if depth <= 0 || s.n(3) == 0 {
		if v2 {
			return s.leafV2()
		}
		return s.leafV3()
	}
	switch s.n(4) {
	case 0:
		return s.expr(depth-1, v2) + " && " + s.expr(depth-1, v2)
	case 1:
		return s.expr(depth-1, v2) + " || " + s.expr(depth-1, v2)
	case 2:
		return "!" + s.expr(depth-1, v2)
	}
	return "(" + s.expr(depth-1, v2) + ")"
}

func (s *src) routes() []compile.Route {
	n := 1 + s.n(12)
	if s.n(4) == 0 {
		n = 20 + s.n(60) // enough routes per host to split buckets by path segment
	}
	rs := make([]compile.Route, n)
	for i := range rs {
		v2 := s.n(6) == 0
		r := compile.Route{Name: fmt.Sprint("r", i), Rule: s.expr(3, v2)}
		if v2 {
			r.Syntax = compile.V2
		}
		switch s.n(6) {
		case 0:
			r.Priority = int64(s.n(40)) - 5
		case 1:
			r.Priority = int64(len(r.Rule)) // ties with computed priorities
		}
		rs[i] = r
	}
	return rs
}

var (
	reqHosts = []string{"a.test", "A.TEST:80", "x.a.test", "y.x.a.test", "a.test.", "b.test", "", "[10::1]:8",
		"10::1", ".a.test", "test", "b.test.", "b.test..", "x.test", "localhost", "*.a.test", "a..", "[a]", "x.a.test.."}
	reqPaths = []string{"/", "/a", "/a/", "/a/b", "/ab", "/a%20b", "/a%2Fb", "/a%2fb", "/a/../b", "//a", "/%C3%A9",
		"/A", "/a/12", "/a/b/../", "/b/./", "*"}
	reqQueries = []string{"", "q=1", "q=1;q=a+b", "a%20b=1", "q=%zz&q=1", "q", "q=", "Q=2&q=2", "a%26b=1", "q=%zz"}
	reqIPs     = []string{"127.0.0.1", "::1", "::ffff:127.0.0.1", "10.1.2.3", "2001:db8::1", "", "fe80::1%eth0", "127.0.0.3"}
)

func (s *src) request() (*compile.Request, error) {
	var hdr [][2]string
	hdr = append(hdr, [2]string{"Host", s.pick(reqHosts)})
	for range s.n(4) {
		hdr = append(hdr, [2]string{s.pick(hdrKeys), s.pick(hdrVals)})
	}
	target := s.pick(reqPaths)
	if qs := s.pick(reqQueries); qs != "" {
		target += "?" + qs
	}
	var ip netip.Addr
	if a := s.pick(reqIPs); a != "" {
		ip = netip.MustParseAddr(a)
	}
	return compile.NewRequest(s.pick(methods), target, hdr, ip, s.n(4) != 0)
}
