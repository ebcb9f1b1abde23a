//go:build !race

package middleware

import (
	"bytes"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestInFlightReqAllocs is inFlightReq's allocation guard: counting a
// request in and out (its key copied into a reused entry, a streamed body
// wrapped by a pooled relay) and refusing one allocate nothing.
func TestInFlightReqAllocs(t *testing.T) {
	body, hello := bytes.NewReader(nil), []byte("hello")
	tests := []struct {
		desc, config string
		next         Handler
		hosts        []string
		status       int
	}{
		{"streamed body", `{"amount":2}`, func(ctx *fasthttp.RequestCtx, _ *Request) {
			body.Reset(hello)
			ctx.Response.SetBodyStream(body, 5)
		}, []string{"a.example", "b.example", "c.example:8080"}, 200},
		{"body", `{"amount":2,"sourceCriterion":{"requestHeaderName":"X-Src"}}`, func(ctx *fasthttp.RequestCtx, _ *Request) {
			ctx.SetBodyString("hello")
		}, []string{"a.example"}, 200},
		{"by address", `{"amount":2,"sourceCriterion":{"ipStrategy":{"depth":1,"ipv6Subnet":64}}}`, func(ctx *fasthttp.RequestCtx, _ *Request) {
			ctx.SetBodyString("hello")
		}, []string{"a.example"}, 200},
		{"refused", `{"amount":0}`, nil, []string{"a.example"}, 429},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			lim, m := inFlight(t, tc.config)
			h := m(tc.next)
			var ctx fasthttp.RequestCtx
			var r Request
			ctx.Request.Header.Set("X-Src", "src")
			ctx.Request.Header.Set("X-Forwarded-For", "10.0.0.1, 2001:db8::1")
			i := 0
			allocs := testing.AllocsPerRun(200, func() {
				ctx.Request.Header.SetHost(tc.hosts[i%len(tc.hosts)])
				i++
				h(&ctx, &r)
				if ctx.Response.StatusCode() != tc.status || !ctx.Response.IsBodyStream() && len(ctx.Response.Body()) == 0 {
					t.Fatalf("%d %q", ctx.Response.StatusCode(), ctx.Response.Body())
				}
				ctx.Response.Reset() // closes a streamed body
			})
			if allocs != 0 {
				t.Errorf("%v allocations per request", allocs)
			}
			wantKeys(t, lim, 0)
		})
	}
}
