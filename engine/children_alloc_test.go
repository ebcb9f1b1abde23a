//go:build !race

package engine

import (
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// TestChildServeAllocs: a request through a parent router, its
// middleware and its children's table (two layers deep) to a child's
// service allocates nothing more than a root router's request, with
// metrics and the access log on (whose RouterName names every layer).
func TestChildServeAllocs(t *testing.T) {
	for _, args := range [][]string{nil,
		{"--entryPoints.traefik.address=127.0.0.1:0", "--metrics.prometheus", "--metrics.prometheus.addRoutersLabels",
			"--accessLog.filePath=" + t.TempDir() + "/a.log", "--accessLog.bufferingSize=8"},
	} {
		upLn := fasthttputil.NewInmemoryListener()
		t.Cleanup(func() { upLn.Close() })
		go fasthttp.Serve(upLn, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") })
		static, err := ParseStatic(append([]string{"--entryPoints.web.address=127.0.0.1:0"}, args...))
		if err != nil {
			t.Fatal(err)
		}
		s := NewServer(static, slog.New(slog.NewTextHandler(io.Discard, nil)))
		snap := withMiddlewares(&spec.Snapshot{
			Routers: []spec.Router{
				{Name: "p", Rule: "Host(`a.test`)", Middlewares: []string{"strip"}},
				{Name: "mid", Rule: "PathPrefix(`/users`)", ParentRefs: []string{"p"}},
				{Name: "other", Rule: "Path(`/other`)", Service: "svc", ParentRefs: []string{"p"}},
				{Name: "leaf", Rule: "Path(`/users`) && Query(`id`, `7`)", Service: "svc", ParentRefs: []string{"mid"}},
			},
			Services:  map[string]*spec.Service{"svc": {Name: "svc", LoadBalancer: &spec.LoadBalancer{EndpointsKey: "svc", PassHostHeader: true, Strategy: "wrr"}}},
			Endpoints: map[string][]spec.Server{"svc": {{URL: "http://upstream:80"}}},
		}, mwDef("strip", "stripPrefix", `{"prefixes":["/api"]}`))
		if p := s.Apply(snap); len(p) > 0 {
			t.Fatal(p)
		}
		up, _ := s.ups.get("http://upstream:80", "")
		up.hc.Dial = func(string) (net.Conn, error) { return upLn.Dial() }
		up.hc.StreamResponseBody = false // buffered: fasthttp's streamed transport allocates 4 per request of its own (TestServeAllocs)
		l := &listener{name: "web", cfg: static.EntryPoints["web"]}
		if s.metrics != nil {
			l.mEP = s.metrics.EntryPoint("web")
		}
		h := s.handler(l)
		req := benchRequest() // GET /api/users?id=7, Host a.test
		var ctx fasthttp.RequestCtx
		run := func() {
			ctx.Response.Reset()
			ctx.Init(req, benchRemote, nil)
			h(&ctx)
			if ctx.Response.StatusCode() != 200 || string(ctx.Response.Body()) != "ok" {
				t.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
			}
		}
		var miss fasthttp.Request
		miss.SetRequestURI("/nothing")
		miss.Header.SetHost("nowhere.test")
		baseline := testing.AllocsPerRun(200, func() {
			ctx.Response.Reset()
			ctx.Init(&miss, benchRemote, nil)
			h(&ctx)
		})
		for range 10 {
			run()
		}
		if n := testing.AllocsPerRun(200, run) - baseline; n != 0 {
			t.Errorf("%v: serving through two layers of child routers allocates %.1f times (beyond the harness's %.0f), want 0", args, n, baseline)
		}
	}
}
