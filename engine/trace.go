package engine

import (
	"fmt"
	"slices"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/engine/middleware"
)

// Step is what one middleware of a router's chain did to a request, found
// by running the router's own built middlewares (the ones serve runs) with
// the service replaced by a recorder that answers 200 with no body.
type Step struct {
	Name string // the middleware, e.g. "default-strip@kubernetescrd"
	Kind string // its kind, e.g. "stripPrefix"
	// Via names the chain(s) it belongs to, outermost first; empty when
	// the router (or its entry point) names it.
	Via string
	// Effects lists the changes it made: the forwarded path, request
	// headers, response headers.
	Effects []string
	// Answered is set when it answered the request itself (a redirect, a
	// refusal, a CORS preflight): no later middleware nor the service ran.
	Answered bool
	Status   int
	Location string
}

// traceChain runs the middlewares of rr on the request decide prepared in
// ctx and st, and returns what each did and the request URI the service
// would receive, as "METHOD URI" ("" when a middleware answered). When rr
// is a parent router, its children table then decides, with the code
// serve runs, and the child taken is traced in turn: each decision is
// appended to x.Layers, and the URI is what the last child's service
// would receive.
func traceChain(ctx *fasthttp.RequestCtx, st *reqState, rr *routerRuntime, x *Explanation) ([]Step, string) {
	mux, _ := rr.service.(*childMux)
	forwarded := ""
	type seen struct {
		reached bool
		uri     string
		reqHdr  []string
		respHdr []string // after the layer returned
	}
	states := make([]seen, len(rr.chain)+1) // entering each middleware, then the service
	snapshot := func(k int, r *middleware.Request) {
		uri := string(r.EscapedPath())
		if r.HasQuery {
			uri += "?" + string(r.Query)
		}
		states[k] = seen{reached: true, uri: uri, reqHdr: headerLines(ctx.Request.Header.All())}
	}
	h := middleware.Handler(func(c *fasthttp.RequestCtx, r *middleware.Request) {
		snapshot(len(rr.chain), r)
		if mux != nil {
			forwarded = mux.trace(c, st, x)
		} else {
			c.SetStatusCode(fasthttp.StatusOK)
			forwarded = string(c.Request.Header.Method()) + " " + states[len(rr.chain)].uri
		}
		states[len(rr.chain)].respHdr = headerLines(c.Response.Header.All())
	})
	for k := len(rr.chain) - 1; k >= 0; k-- {
		inner := rr.chain[k].b.Wrap(h)
		h = func(c *fasthttp.RequestCtx, r *middleware.Request) {
			snapshot(k, r)
			inner(c, r)
			states[k].respHdr = headerLines(c.Response.Header.All())
		}
	}
	h(ctx, &st.mw)

	steps := make([]Step, len(rr.chain))
	for k, l := range rr.chain {
		s := Step{Name: l.b.Def.Name, Kind: l.b.Def.Kind, Via: l.via}
		in, out := states[k], states[k+1]
		if !out.reached {
			s.Answered, s.Status = true, ctx.Response.StatusCode()
			s.Location = string(ctx.Response.Header.Peek("Location"))
			steps[k] = s
			return steps[:k+1], ""
		}
		if in.uri != out.uri {
			s.Effects = append(s.Effects, fmt.Sprintf("path %s -> %s", in.uri, out.uri))
		}
		s.Effects = append(s.Effects, diffLines("request header", in.reqHdr, out.reqHdr)...)
		s.Effects = append(s.Effects, diffLines("response header", out.respHdr, in.respHdr)...)
		steps[k] = s
	}
	return steps, forwarded
}

// trace is serve's dispatch for explain: the same decision, recorded as a
// Layer, then the child traced instead of served. It returns what the
// last service would receive ("" when none is reached).
func (m *childMux) trace(ctx *fasthttp.RequestCtx, st *reqState, x *Explanation) string {
	c, status := m.decide(ctx, st)
	l := Layer{Parent: m.parent, Path: string(st.child.Path), Status: status}
	if status == fasthttp.StatusBadRequest {
		l.Reason = reasonChildBadRoute
	} else {
		v := m.table.Explain(&st.child)
		l.Routes = v.Routes
		for _, r := range m.routers {
			l.Routers = append(l.Routers, r.r)
		}
	}
	if c == nil {
		if status == fasthttp.StatusNotFound {
			l.Reason = reasonNoChild
		}
		x.Layers = append(x.Layers, l)
		answerChild(ctx, status)
		return ""
	}
	l.Router = c.r
	k := len(x.Layers)
	x.Layers = append(x.Layers, l)
	st.enter(m.parent, c)
	steps, forwarded := traceChain(ctx, st, c, x)
	x.Layers[k].Steps = steps
	return forwarded
}

func headerLines(all func(func([]byte, []byte) bool)) []string {
	var out []string
	for k, v := range all {
		out = append(out, string(k)+": "+string(v))
	}
	return out
}

// diffLines describes the header lines added to and removed from before.
func diffLines(what string, before, after []string) []string {
	var out []string
	for _, l := range after {
		if !slices.Contains(before, l) {
			out = append(out, fmt.Sprintf("%s %s set", what, l))
		}
	}
	for _, l := range before {
		if !slices.Contains(after, l) {
			k, _, _ := strings.Cut(l, ":")
			if !slices.ContainsFunc(after, func(a string) bool { return strings.HasPrefix(a, k+":") }) {
				out = append(out, fmt.Sprintf("%s %s removed", what, k))
			}
		}
	}
	return out
}
