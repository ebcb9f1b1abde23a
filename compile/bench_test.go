package compile_test

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"

	"github.com/edgeroute/edgeroute/bench/rulegen"
	"github.com/edgeroute/edgeroute/compile"
)

var sizes = []int{1, 1000, 10000, 100000}

var sink int

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func mustCompile(tb testing.TB, rs []compile.Route) *compile.Table {
	tb.Helper()
	tab, probs := compile.Compile(rs)
	if len(probs) > 0 {
		tb.Fatal(probs[0])
	}
	return tab
}

// BenchmarkMatch measures one Match per op, each on a request aimed at a
// random route, at growing table sizes. The cost must stay flat.
func BenchmarkMatch(b *testing.B) {
	for _, kind := range rulegen.Kinds {
		for _, n := range sizes {
			b.Run(fmt.Sprintf("%s/routes=%d", kind, n), func(b *testing.B) {
				tab := mustCompile(b, rulegen.Routes(kind, n))
				cases := rulegen.Requests(kind, n, 4096, 1)
				for _, c := range cases {
					if got := tab.Match(c.Req); got != c.Want {
						b.Fatalf("Match = %d, want %d", got, c.Want)
					}
				}
				runtime.GC() // leave the build's garbage out of the measurement
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					sink = tab.Match(cases[i&4095].Req)
					i++
				}
			})
		}
	}
}

// BenchmarkReferenceMatch is the baseline: Traefik's model, a linear scan
// evaluating every rule's tree, on the same requests.
func BenchmarkReferenceMatch(b *testing.B) {
	for _, kind := range rulegen.Kinds {
		for _, n := range []int{1, 1000} {
			b.Run(fmt.Sprintf("%s/routes=%d", kind, n), func(b *testing.B) {
				ref := compile.NewReference(rulegen.Routes(kind, n))
				cases := rulegen.Requests(kind, n, 1024, 1)
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					sink = ref.Match(cases[i&1023].Req)
					i++
				}
			})
		}
	}
}

// BenchmarkCompile measures building a table from scratch.
func BenchmarkCompile(b *testing.B) {
	for _, kind := range rulegen.Kinds {
		for _, n := range []int{10000, 100000} {
			b.Run(fmt.Sprintf("%s/routes=%d", kind, n), func(b *testing.B) {
				rs := rulegen.Routes(kind, n)
				b.ReportAllocs()
				for b.Loop() {
					tab, _ := compile.Compile(rs)
					sink = tab.Len()
				}
			})
		}
	}
}
