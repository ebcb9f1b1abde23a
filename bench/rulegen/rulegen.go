// Package rulegen generates deterministic synthetic route sets and matching
// requests for benchmarks, the load harness and tests.
//
// Three shapes, after what clusters run:
//   - host:     one Host per route, all hosts distinct.
//   - hostpath: Host && PathPrefix, 50 routes per host.
//   - mixed:    16 hosts shared by all routes; each route has its own path
//     prefix and, by turn, a Header, Method, Query or PathRegexp condition,
//     or a HostRegexp instead of a Host.
package rulegen

import (
	"fmt"
	"math/rand/v2"
	"net/netip"

	"github.com/edgeroute/edgeroute/compile"
)

// Kinds lists the shapes Routes knows.
var Kinds = []string{"host", "hostpath", "mixed"}

const routesPerHost = 50

// Routes returns n routes of the given shape. Route i is named "r<i>".
func Routes(kind string, n int) []compile.Route {
	rs := make([]compile.Route, n)
	for i := range rs {
		rs[i] = compile.Route{Name: fmt.Sprint("r", i), Rule: rule(kind, i)}
	}
	return rs
}

func rule(kind string, i int) string {
	switch kind {
	case "host":
		return fmt.Sprintf("Host(`svc-%d.example.com`)", i)
	case "hostpath":
		return fmt.Sprintf("Host(`app-%d.example.com`) && PathPrefix(`/svc-%d/`)", i/routesPerHost, i)
	case "mixed":
		host := fmt.Sprintf("Host(`mixed-%d.example.com`)", i%16)
		prefix := fmt.Sprintf("PathPrefix(`/s%d/`)", i)
		switch i % 8 {
		case 3:
			return fmt.Sprintf("%s && %s && Header(`X-Tenant`, `t%d`)", host, prefix, i)
		case 4:
			return fmt.Sprintf("%s && %s && Method(`POST`)", host, prefix)
		case 5:
			return fmt.Sprintf("%s && %s && Query(`v`, `%d`)", host, prefix, i)
		case 6:
			return fmt.Sprintf("HostRegexp(`^mixed-[0-9]+\\.example\\.com$`) && %s", prefix)
		case 7:
			return fmt.Sprintf("%s && %s && PathRegexp(`^/s%d/[0-9]+$`)", host, prefix, i)
		}
		return host + " && " + prefix
	}
	panic("rulegen: unknown kind " + kind)
}

// Case is a request and the route it must reach.
type Case struct {
	Req  *compile.Request
	Want int
}

// Requests returns count requests, each aimed at a random route of Routes(kind, n).
func Requests(kind string, n, count int, seed uint64) []Case {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	out := make([]Case, count)
	for k := range out {
		i := rng.IntN(n)
		method, target := "GET", "/"
		hdr := [][2]string{}
		switch kind {
		case "host":
			hdr = append(hdr, [2]string{"Host", fmt.Sprintf("svc-%d.example.com", i)})
		case "hostpath":
			hdr = append(hdr, [2]string{"Host", fmt.Sprintf("app-%d.example.com", i/routesPerHost)})
			target = fmt.Sprintf("/svc-%d/items?id=7", i)
		case "mixed":
			hdr = append(hdr, [2]string{"Host", fmt.Sprintf("mixed-%d.example.com", i%16)},
				[2]string{"User-Agent", "bench"}, [2]string{"Accept", "*/*"})
			target = fmt.Sprintf("/s%d/page", i)
			switch i % 8 {
			case 3:
				hdr = append(hdr, [2]string{"X-Tenant", fmt.Sprintf("t%d", i)})
			case 4:
				method = "POST"
			case 5:
				target += fmt.Sprintf("?a=1&v=%d", i)
			case 7:
				target = fmt.Sprintf("/s%d/%d", i, i)
			}
		}
		r, err := compile.NewRequest(method, target, hdr, netip.MustParseAddr("127.0.0.1"), true)
		if err != nil {
			panic(err)
		}
		out[k] = Case{Req: r, Want: i}
	}
	return out
}
