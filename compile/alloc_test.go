//go:build !race

package compile_test

import (
	"testing"

	"github.com/edgeroute/edgeroute/bench/rulegen"
	"github.com/edgeroute/edgeroute/compile"
)

// TestMatchAllocs is the allocation guard of the request path: Match must
// not allocate, for every rule shape, once a Request's scratch has warmed up.
func TestMatchAllocs(t *testing.T) {
	for _, kind := range rulegen.Kinds {
		tab := mustCompile(t, rulegen.Routes(kind, 2000))
		cases := rulegen.Requests(kind, 2000, 64, 2)
		for _, c := range cases {
			if got := tab.Match(c.Req); got != c.Want {
				t.Fatalf("%s: Match = %d, want %d", kind, got, c.Want)
			}
		}
		i := 0
		allocs := testing.AllocsPerRun(1000, func() {
			tab.Match(cases[i%len(cases)].Req)
			i++
		})
		if allocs != 0 {
			t.Errorf("%s: Match allocates %.2f times per call, want 0", kind, allocs)
		}
	}
	// Every opcode, including the decoding ones (v2 paths, query values).
	routes := []compile.Route{
		{Name: "v2", Rule: "Path(`/users/{id:[0-9]+}`) && Query(`a=1`)", Syntax: compile.V2},
		{Name: "q", Rule: "QueryRegexp(`q`, `^x`) && Query(`r`, `a b`) && HeaderRegexp(`X-A`, `1`) && ClientIP(`127.0.0.0/8`)"},
		{Name: "w", Rule: "Host(`*.example.com`) && !Method(`PUT`) && HostRegexp(`ex`) && PathRegexp(`^/p`)"},
	}
	tab := mustCompile(t, routes)
	reqs := []*compile.Request{}
	for _, target := range []string{"/users/12?a=1", "/p?q=xy&r=a+b", "/p"} {
		r, err := compile.NewRequest("GET", target, [][2]string{{"Host", "a.example.com"}, {"X-A", "1"}},
			mustAddr("127.0.0.1"), true)
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, r)
		tab.Match(r)
	}
	for i, r := range reqs {
		if got := tab.Match(r); got != i {
			t.Fatalf("opcode request %d matched %d", i, got)
		}
		if allocs := testing.AllocsPerRun(500, func() { tab.Match(r) }); allocs != 0 {
			t.Errorf("request %d: Match allocates %.2f times per call, want 0", i, allocs)
		}
	}
}
