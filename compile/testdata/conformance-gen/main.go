// Command gen records Traefik's own routing decisions for random rule sets
// and requests, as JSON lines, for edgeroute's conformance test
// (compile/conformance_test.go). It runs Traefik v3.7.13's HTTP muxer and
// request decorator as libraries; see ../README.md for how to run it.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/traefik/traefik/v3/pkg/middlewares/requestdecorator"
	muxhttp "github.com/traefik/traefik/v3/pkg/muxer/http"
)

type Route struct {
	Rule     string `json:"rule"`
	Syntax   string `json:"syntax,omitempty"`
	Priority int    `json:"priority"`
	Invalid  bool   `json:"invalid,omitempty"`
}

type Request struct {
	Method  string      `json:"method"`
	Target  string      `json:"target"`
	Headers [][2]string `json:"headers"`
	IP      string      `json:"ip"`
	Want    int         `json:"want"` // route index, -1 for 404, -2 for 400
}

type Case struct {
	Routes   []Route   `json:"routes"`
	Requests []Request `json:"requests"`
}

var (
	ruleHosts = []string{"a.test", "b.test", "x.a.test", "A.Test", "a.test.", "*.a.test", "*.test", "*",
		"10::1", "*.", "localhost", "*x.test", "*.a.test."}
	rulePaths = []string{"/", "/a", "/a/", "/a/b", "/ab", "/a b", "/a%2Fb", "/é", "/b", "/A", "/a%25b"}
	ruleRes   = []string{"^a", "test$", "(?i)A", "[0-9]+", "^/a", "b", "^$", "%2F", " ", "^/a/?$", "^[a-z.]+$"}
	methods   = []string{"GET", "get", "POST", "PUT"}
	hdrKeys   = []string{"X-A", "x-a", "Host", "X-B"}
	hdrVals   = []string{"1", "2", "a b", "1, 2"}
	qKeys     = []string{"q", "a b", "Q", "a&b"}
	qVals     = []string{"1", "a b", "2"}
	cips      = []string{"127.0.0.1", "127.0.0.0/8", "::1", "::ffff:127.0.0.1", "10.0.0.0/8", "2001:db8::/32", "127.0.0.2/31"}
	v2Tpls    = []string{"{s:[a-z]+}.test", "{s}.a.test", "a.test", "/a/{id:[0-9]+}", "/a{rest:(?:/.*)?}", "/{x}"}

	reqHosts   = []string{"a.test", "A.TEST:80", "x.a.test", "y.x.a.test", "a.test.", "b.test", "[10::1]:8", "localhost", "x.test", "b.test.."}
	reqPaths   = []string{"/", "/a", "/a/", "/a/b", "/ab", "/a%20b", "/a%2Fb", "/%C3%A9", "/A", "/a/12", "/a%25b", "/b"}
	reqQueries = []string{"", "q=1", "q=1;q=a+b", "a%20b=1", "q", "q=", "Q=2&q=2", "a%26b=1", "q=%zz&q=1"}
	reqIPs     = []string{"127.0.0.1", "[::1]", "10.1.2.3", "[2001:db8::1]", "127.0.0.3"}
)

type gen struct{ r *rand.Rand }

func (g gen) pick(xs []string) string { return xs[g.r.IntN(len(xs))] }
func q(s string) string               { return "`" + s + "`" }

func (g gen) leafV3() string {
	switch g.r.IntN(11) {
	case 0, 1, 2:
		return "Host(" + q(g.pick(ruleHosts)) + ")"
	case 3:
		return "HostRegexp(" + q(g.pick(ruleRes)) + ")"
	case 4:
		return "Path(" + q(g.pick(rulePaths)) + ")"
	case 5:
		return "PathPrefix(" + q(g.pick(rulePaths)) + ")"
	case 6:
		return "PathRegexp(" + q(g.pick(ruleRes)) + ")"
	case 7:
		return "Method(" + q(g.pick(methods)) + ")"
	case 8:
		if g.r.IntN(2) == 0 {
			return "Header(" + q(g.pick(hdrKeys)) + ", " + q(g.pick(hdrVals)) + ")"
		}
		return "HeaderRegexp(" + q(g.pick(hdrKeys)) + ", " + q(g.pick(ruleRes)) + ")"
	case 9:
		switch g.r.IntN(3) {
		case 0:
			return "Query(" + q(g.pick(qKeys)) + ")"
		case 1:
			return "Query(" + q(g.pick(qKeys)) + ", " + q(g.pick(qVals)) + ")"
		}
		return "QueryRegexp(" + q(g.pick(qKeys)) + ", " + q(g.pick(ruleRes)) + ")"
	}
	return "ClientIP(" + q(g.pick(cips)) + ")"
}

func (g gen) leafV2() string {
	args := func(xs []string) string {
		var out []string
		for range 1 + g.r.IntN(2) {
			out = append(out, q(g.pick(xs)))
		}
		return strings.Join(out, ", ")
	}
	paths := append(append([]string{}, rulePaths...), v2Tpls[3:]...)
	switch g.r.IntN(8) {
	case 0, 1:
		return "Host(" + args(ruleHosts) + ")"
	case 2:
		return "HostRegexp(" + args(v2Tpls[:3]) + ")"
	case 3:
		return "Path(" + args(paths) + ")"
	case 4:
		return "PathPrefix(" + args(paths) + ")"
	case 5:
		return "Method(" + args(methods) + ")"
	case 6:
		return "Headers(" + q(g.pick(hdrKeys)) + ", " + q(g.pick(hdrVals)) + ")"
	}
	return "Query(" + q(g.pick(qKeys)+"="+g.pick(append(append([]string{}, qVals...), "", "{v:[0-9]+}"))) + ")"
}

func (g gen) expr(depth int, v2 bool) string {
	if depth <= 0 || g.r.IntN(3) == 0 {
		if v2 {
			return g.leafV2()
		}
		return g.leafV3()
	}
	switch g.r.IntN(4) {
	case 0:
		return g.expr(depth-1, v2) + " && " + g.expr(depth-1, v2)
	case 1:
		return g.expr(depth-1, v2) + " || " + g.expr(depth-1, v2)
	case 2:
		return "!" + g.expr(depth-1, v2)
	}
	return "(" + g.expr(depth-1, v2) + ")"
}

func (g gen) request() (Request, string) {
	r := Request{Method: g.pick(methods), IP: g.pick(reqIPs)}
	host := g.pick(reqHosts)
	target := g.pick(reqPaths)
	if qs := g.pick(reqQueries); qs != "" {
		target += "?" + qs
	}
	if g.r.IntN(8) == 0 {
		target = "http://" + g.pick(reqHosts[:6]) + target
	}
	r.Target = target
	r.Headers = append(r.Headers, [2]string{"Host", host})
	for range g.r.IntN(4) {
		r.Headers = append(r.Headers, [2]string{g.pick(hdrKeys[:2]) /* Host is set once */, g.pick(hdrVals)})
	}
	var raw strings.Builder
	fmt.Fprintf(&raw, "%s %s HTTP/1.1\r\n", r.Method, target)
	for _, h := range r.Headers {
		fmt.Fprintf(&raw, "%s: %s\r\n", h[0], h[1])
	}
	raw.WriteString("\r\n")
	return r, raw.String()
}

func main() {
	seed := flag.Uint64("seed", 1, "random seed")
	n := flag.Int("cases", 500, "number of rule sets")
	flag.Parse()
	g := gen{rand.New(rand.NewPCG(*seed, 7))}
	parser, err := muxhttp.NewSyntaxParser()
	if err != nil {
		panic(err)
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	for range *n {
		var c Case
		m := muxhttp.NewMuxer(parser, nil)
		used := map[int]bool{}
		for i := range 1 + g.r.IntN(12) {
			rt := Route{Rule: g.expr(3, false)}
			if g.r.IntN(6) == 0 {
				rt = Route{Rule: g.expr(3, true), Syntax: "v2"}
			}
			prio := len(rt.Rule)
			if g.r.IntN(5) == 0 {
				prio = g.r.IntN(60) - 10
			}
			for used[prio] || prio == 0 { // Traefik leaves ties undefined: avoid them.
				prio++
			}
			used[prio] = true
			rt.Priority = prio
			idx := i
			h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, idx) })
			if err := m.AddRoute(rt.Rule, rt.Syntax, prio, "", h); err != nil {
				rt.Invalid = true
			}
			c.Routes = append(c.Routes, rt)
		}
		dec := requestdecorator.New(nil)
		for range 8 {
			r, raw := g.request()
			req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
			if err != nil {
				panic(err)
			}
			req.RemoteAddr = r.IP + ":4242"
			delete(req.Header, "Host") // as net/http's server does
			rec := httptest.NewRecorder()
			// The entry point turns ';' in the query into '&' before routing.
			dec.ServeHTTP(rec, req, http.AllowQuerySemicolons(m).ServeHTTP)
			switch rec.Code {
			case http.StatusNotFound:
				r.Want = -1
			case http.StatusBadRequest:
				r.Want = -2
			default:
				fmt.Sscan(rec.Body.String(), &r.Want)
			}
			r.IP = strings.Trim(r.IP, "[]")
			c.Requests = append(c.Requests, r)
		}
		if err := enc.Encode(c); err != nil {
			panic(err)
		}
	}
}
