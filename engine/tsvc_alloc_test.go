//go:build !race

package engine

import (
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// TestTraefikServiceAllocs: the TraefikService kinds add no allocation to
// the request path in steady state: highest random weight, a failover
// with error statuses whose main service answers, a mirroring service
// whose mirror does not take the request, and a weighted service that
// follows its children's health (through a failover).
func TestTraefikServiceAllocs(t *testing.T) {
	upLn := fasthttputil.NewInmemoryListener()
	t.Cleanup(func() { upLn.Close() })
	go fasthttp.Serve(upLn, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") })
	static, _ := ParseStatic([]string{"--entryPoints.web.address=127.0.0.1:0"})
	s := NewServer(static, slog.New(slog.NewTextHandler(io.Discard, nil)))
	hc := &spec.HealthCheck{Path: "/", Method: "GET", Interval: time.Hour, UnhealthyInterval: time.Hour, Timeout: time.Second}
	snap := &spec.Snapshot{
		Routers: []spec.Router{
			{Name: "hrw", Rule: "Host(`hrw.test`)", Service: "hrw"},
			{Name: "fo", Rule: "Host(`fo.test`)", Service: "fo"},
			{Name: "mir", Rule: "Host(`mir.test`)", Service: "mir"},
			{Name: "w", Rule: "Host(`w.test`)", Service: "w"},
		},
		Services: map[string]*spec.Service{
			"svc":  {Name: "svc", LoadBalancer: &spec.LoadBalancer{EndpointsKey: "svc", PassHostHeader: true, Strategy: "wrr"}},
			"hcs":  {Name: "hcs", LoadBalancer: &spec.LoadBalancer{EndpointsKey: "svc", PassHostHeader: true, Strategy: "wrr", HealthCheck: hc}},
			"hrw":  {Name: "hrw", HighestRandomWeight: &spec.HighestRandomWeight{Services: []spec.WeightedService{{Name: "svc", Weight: 1}, {Name: "hcs", Weight: 2}}}},
			"fo":   {Name: "fo", Failover: &spec.Failover{Service: "svc", Fallback: "hcs", Errors: &spec.FailoverErrors{Status: []string{"500-599"}, MaxRequestBodyBytes: -1}}},
			"mir":  {Name: "mir", Mirroring: &spec.Mirroring{Service: "svc", MirrorBody: true, MaxBodySize: -1, Mirrors: []spec.Mirror{{Name: "hcs", Percent: 0}}}},
			"fohc": {Name: "fohc", Failover: &spec.Failover{Service: "hcs", Fallback: "hcs", HealthCheck: true}},
			"w":    {Name: "w", Weighted: &spec.Weighted{HealthCheck: true, Services: []spec.WeightedService{{Name: "fohc", Weight: 1}, {Name: "hcs", Weight: 1}}}},
		},
		Endpoints: map[string][]spec.Server{"svc": {{URL: "http://upstream:80"}}},
	}
	if p := s.Apply(snap); len(p) > 0 {
		t.Fatal(p)
	}
	s.health.sync(&spec.Snapshot{}, s.reg, s.ups) // no probes: the upstream is in memory
	s.reg.State("hcs http://upstream:80").SetUp(true)
	up, _ := s.ups.get("http://upstream:80", "")
	up.hc.Dial = func(string) (net.Conn, error) { return upLn.Dial() }
	up.hc.StreamResponseBody = false
	h := s.handler(&listener{name: "web", cfg: static.EntryPoints["web"]})
	var ctx fasthttp.RequestCtx
	var miss fasthttp.Request
	miss.SetRequestURI("/nothing")
	miss.Header.SetHost("nowhere.test")
	baseline := testing.AllocsPerRun(200, func() {
		ctx.Response.Reset()
		ctx.Init(&miss, benchRemote, nil)
		h(&ctx)
	})
	for _, host := range []string{"hrw.test", "fo.test", "mir.test", "w.test"} {
		var req fasthttp.Request
		req.SetRequestURI("/api/users?id=7")
		req.Header.SetHost(host)
		run := func() {
			ctx.Response.Reset()
			ctx.Init(&req, benchRemote, nil)
			h(&ctx)
			if ctx.Response.StatusCode() != 200 {
				t.Fatalf("%s: status %d: %s", host, ctx.Response.StatusCode(), ctx.Response.Body())
			}
		}
		for range 10 {
			run()
		}
		if n := testing.AllocsPerRun(200, run) - baseline; n != 0 {
			t.Errorf("%s: serving a request allocates %.1f times (beyond the harness's %.0f), want 0", host, n, baseline)
		}
	}
}
