// Runs per request: must not allocate (guarded by TestServeAllocs).

package engine

import (
	"sync/atomic"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// lbService balances over the servers of one Kubernetes Service port.
type lbService struct {
	def      *spec.LoadBalancer
	servers  []*upstream // eligible for new traffic (not fenced)
	next     atomic.Uint64
	passHost bool
}

func newLBService(def *spec.Service, servers []spec.Server, ups *upstreams) *lbService {
	s := &lbService{def: def.LoadBalancer, passHost: def.LoadBalancer.PassHostHeader}
	for _, sv := range servers {
		if sv.Fenced {
			continue
		}
		if up, err := ups.get(sv.URL); err == nil {
			s.servers = append(s.servers, up)
		}
	}
	return s
}

func (s *lbService) serve(ctx *fasthttp.RequestCtx, st *reqState) {
	n := uint64(len(s.servers))
	if n == 0 {
		ctx.Response.Header.SetContentType(textPlain)
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		ctx.SetBody(body503)
		return
	}
	up := s.servers[(s.next.Add(1)-1)%n]
	if err := forward(ctx, st, up, s.passHost); err != nil {
		writeError(ctx, errorStatus(err))
	}
}

// weightedService balances over child services by weight.
type weightedService struct {
	children []weighted
	schedule []int
	next     atomic.Uint64
}

type weighted struct {
	s      service
	weight int
}

func (w *weightedService) init() {
	for i, c := range w.children {
		for range c.weight {
			w.schedule = append(w.schedule, i)
		}
	}
}

func (w *weightedService) serve(ctx *fasthttp.RequestCtx, st *reqState) {
	n := uint64(len(w.schedule))
	if n == 0 {
		ctx.Response.Header.SetContentType(textPlain)
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		ctx.SetBody(body503)
		return
	}
	w.children[w.schedule[(w.next.Add(1)-1)%n]].s.serve(ctx, st)
}
