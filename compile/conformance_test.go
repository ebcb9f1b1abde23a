package compile

import (
	"bufio"
	"encoding/json"
	"net/netip"
	"os"
	"testing"
)

// TestTraefikConformance replays routing decisions recorded from Traefik
// v3.7.13's own muxer (testdata/traefik-v3.7.13-decisions.jsonl, made by
// testdata/conformance-gen; see testdata/README.md): random rule sets, each
// with requests and the router Traefik chose, 404, or 400. Every decision and
// every rule Traefik rejected must be reproduced.
func TestTraefikConformance(t *testing.T) {
	f, err := os.Open("testdata/traefik-v3.7.13-decisions.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type rec struct {
		Routes []struct {
			Rule     string
			Syntax   string
			Priority int64
			Invalid  bool
		}
		Requests []struct {
			Method, Target, IP string
			Headers            [][2]string
			Want               int
		}
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	cases, decisions := 0, 0
	for line := 1; sc.Scan(); line++ {
		var c rec
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("line %d: %v", line, err)
		}
		var routes []Route
		for _, r := range c.Routes {
			routes = append(routes, Route{Name: r.Rule, Rule: r.Rule, Priority: r.Priority, Syntax: ParseSyntax(r.Syntax)})
		}
		tab, probs := Compile(routes)
		bad := map[int]bool{}
		for _, p := range probs {
			bad[p.Index] = true
		}
		for i, r := range c.Routes {
			if bad[i] != r.Invalid {
				t.Errorf("line %d route %d %q: edgeroute invalid=%v, Traefik invalid=%v (%v)", line, i, r.Rule, bad[i], r.Invalid, probs)
			}
		}
		for _, q := range c.Requests {
			got := -2
			if r, err := NewRequest(q.Method, q.Target, q.Headers, netip.MustParseAddr(q.IP), true); err == nil {
				got = tab.Match(r)
			}
			if got != q.Want {
				t.Errorf("line %d: %s %s %q from %s: edgeroute %d, Traefik %d", line, q.Method, q.Target, q.Headers, q.IP, got, q.Want)
			}
			decisions++
		}
		cases++
	}
	if cases < 100 {
		t.Fatalf("only %d rule sets read", cases)
	}
	t.Logf("%d rule sets, %d decisions agree with Traefik", cases, decisions)
}
