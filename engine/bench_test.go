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

// inmemoryEngine is a Server routing to a stub upstream over in-memory
// connections, and its handler for entry point web, for the allocation
// guard and the benchmarks.
func inmemoryEngine(tb testing.TB, stream bool, args ...string) (fasthttp.RequestHandler, func(string) (net.Conn, error)) {
	tb.Helper()
	upLn := fasthttputil.NewInmemoryListener()
	tb.Cleanup(func() { upLn.Close() })
	go fasthttp.Serve(upLn, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") })
	dial := func(string) (net.Conn, error) { return upLn.Dial() }
	static, err := ParseStatic(append([]string{"--entryPoints.web.address=127.0.0.1:0"}, args...))
	if err != nil {
		tb.Fatal(err)
	}
	s := NewServer(static, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if p := s.Apply(&spec.Snapshot{
		Routers: []spec.Router{
			{Name: "a", Rule: "Host(`a.test`) && PathPrefix(`/api`)", Service: "svc"},
			{Name: "b", Rule: "Host(`b.test`)", Service: "svc"},
		},
		Services:  map[string]*spec.Service{"svc": {Name: "svc", LoadBalancer: &spec.LoadBalancer{EndpointsKey: "svc", PassHostHeader: true, Strategy: "wrr"}}},
		Endpoints: map[string][]spec.Server{"svc": {{URL: "http://upstream:80"}}},
	}); len(p) > 0 {
		tb.Fatal(p)
	}
	up, _ := s.ups.get("http://upstream:80", "")
	up.hc.Dial = dial
	up.hc.StreamResponseBody = stream
	l := &listener{name: "web", cfg: static.EntryPoints["web"]}
	if s.metrics != nil {
		l.mEP = s.metrics.EntryPoint("web")
	}
	return s.handler(l), dial
}

// benchRequest is the request the guard and the benchmarks send.
func benchRequest() *fasthttp.Request {
	var req fasthttp.Request
	req.SetRequestURI("/api/users?id=7")
	req.Header.SetHost("a.test")
	req.Header.Set("User-Agent", "bench")
	req.Header.Set("X-Forwarded-For", "10.0.0.1")
	return &req
}

var benchRemote = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4242}

// BenchmarkServe is one request through the engine's handler (route,
// balance, rewrite headers, forward over a pooled in-memory connection to a
// stub upstream, read the answer), beside the baseline of the bare
// fasthttp forwarding it is built on.
func BenchmarkServe(b *testing.B) {
	req := benchRequest()
	b.Run("baseline=HostClient.Do", func(b *testing.B) {
		_, dial := inmemoryEngine(b, false)
		hc := &fasthttp.HostClient{Addr: "upstream:80", Dial: dial}
		var resp fasthttp.Response
		b.ReportAllocs()
		for b.Loop() {
			if err := hc.Do(req, &resp); err != nil {
				b.Fatal(err)
			}
		}
	})
	metricsOn := []string{"--entryPoints.traefik.address=127.0.0.1:0", "--metrics.prometheus"}
	for _, c := range []struct {
		stream bool
		args   []string
	}{{false, nil}, {true, nil}, {true, metricsOn}} {
		stream := c.stream
		name := "engine/buffered"
		if stream {
			name = "engine/streamed"
		}
		if c.args != nil {
			name += "+metrics"
		}
		b.Run(name, func(b *testing.B) {
			h, _ := inmemoryEngine(b, stream, c.args...)
			var ctx fasthttp.RequestCtx
			b.ReportAllocs()
			for b.Loop() {
				ctx.Response.Reset()
				ctx.Init(req, benchRemote, nil)
				h(&ctx)
				ctx.Response.Body()
			}
		})
	}
}
