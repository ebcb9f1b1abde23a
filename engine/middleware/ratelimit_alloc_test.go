//go:build !race

package middleware

import (
	"net"
	"testing"

	"github.com/valyala/fasthttp"
)

// A request rateLimit admits allocates nothing once its source has a
// bucket, nor does one it refuses with 429.
func TestRateLimitAllocs(t *testing.T) {
	tests := []struct {
		desc, config string
		hdr          [2]string
		pass         bool
	}{
		{"admitted, client address", `{"average":1000000000,"burst":1000000000}`, [2]string{}, true},
		{"admitted, header", `{"average":1000000000,"burst":1000000000,"sourceCriterion":{"requestHeaderName":"X-Key"}}`, [2]string{"X-Key", "client-42"}, true},
		{"admitted, depth", `{"average":1000000000,"burst":1000000000,"sourceCriterion":{"ipStrategy":{"depth":1}}}`, [2]string{"X-Forwarded-For", "1.2.3.4, 5.6.7.8"}, true},
		{"refused", `{"average":1,"period":"1m"}`, [2]string{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			clock := newRLClock() // frozen: the bucket does not refill
			passed := false
			h := rlBuild(t, tc.config, clock, nil).wrap(func(*fasthttp.RequestCtx, *Request) { passed = true })
			var ctx fasthttp.RequestCtx
			ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 4321}, nil)
			ctx.Request.SetRequestURI("/a")
			if tc.hdr[0] != "" {
				ctx.Request.Header.Set(tc.hdr[0], tc.hdr[1])
			}
			var r Request
			if !prepare(&ctx, &r) {
				t.Fatal("prepare")
			}
			raw, ip := r.raw, r.ClientIP
			run := func() {
				passed = false
				ctx.Response.Reset()
				r.Reset(raw)
				r.ClientIP = ip
				h(&ctx, &r)
			}
			run()
			if !tc.pass {
				run() // the bucket is empty now
			}
			if passed != tc.pass {
				t.Fatalf("passed %v, want %v (status %d)", passed, tc.pass, ctx.Response.StatusCode())
			}
			if allocs := testing.AllocsPerRun(1000, run); allocs > 0 {
				t.Errorf("%.1f allocations per request, want none", allocs)
			}
			if passed != tc.pass {
				t.Fatalf("passed %v, want %v (status %d)", passed, tc.pass, ctx.Response.StatusCode())
			}
		})
	}
}
