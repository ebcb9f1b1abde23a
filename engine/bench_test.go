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

// BenchmarkServe is one request through the engine's handler (route,
// balance, rewrite headers, forward over a pooled in-memory connection to a
// stub upstream, read the answer), beside the baseline of the bare
// fasthttp forwarding it is built on.
func BenchmarkServe(b *testing.B) {
	upLn := fasthttputil.NewInmemoryListener()
	defer upLn.Close()
	go fasthttp.Serve(upLn, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") })
	dial := func(string) (net.Conn, error) { return upLn.Dial() }

	var req fasthttp.Request
	req.SetRequestURI("/api/users?id=7")
	req.Header.SetHost("a.test")
	req.Header.Set("User-Agent", "bench")
	req.Header.Set("Accept", "*/*")
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4242}

	b.Run("baseline=HostClient.Do", func(b *testing.B) {
		hc := &fasthttp.HostClient{Addr: "upstream:80", Dial: dial}
		var resp fasthttp.Response
		b.ReportAllocs()
		for b.Loop() {
			if err := hc.Do(&req, &resp); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, stream := range []bool{false, true} {
		name := "engine/buffered"
		if stream {
			name = "engine/streamed"
		}
		b.Run(name, func(b *testing.B) {
			static, _ := ParseStatic([]string{"--entryPoints.web.address=127.0.0.1:0"})
			s := NewServer(static, slog.New(slog.NewTextHandler(io.Discard, nil)))
			s.Apply(&spec.Snapshot{
				Routers: []spec.Router{
					{Name: "a", Rule: "Host(`a.test`) && PathPrefix(`/api`)", Service: "svc"},
					{Name: "b", Rule: "Host(`b.test`)", Service: "svc"},
				},
				Services:  map[string]*spec.Service{"svc": {Name: "svc", LoadBalancer: &spec.LoadBalancer{EndpointsKey: "svc", PassHostHeader: true, Strategy: "wrr"}}},
				Endpoints: map[string][]spec.Server{"svc": {{URL: "http://upstream:80"}}},
			})
			up, _ := s.ups.get("http://upstream:80")
			up.hc.Dial = dial
			up.hc.StreamResponseBody = stream
			h := s.handler(&listener{name: "web", cfg: static.EntryPoints["web"]})
			var ctx fasthttp.RequestCtx
			b.ReportAllocs()
			for b.Loop() {
				ctx.Response.Reset()
				ctx.Init(&req, remote, nil)
				h(&ctx)
				ctx.Response.Body()
			}
		})
	}
}
