//go:build !race

package middleware

import (
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// A request the breaker lets through (its answer recorded and the
// expression evaluated), and one it answers with the fallback, allocate
// nothing.
func TestCircuitBreakerAllocs(t *testing.T) {
	clk := newCBClock()
	status := fasthttp.StatusOK
	h := buildCB(t, `{"expression":"NetworkErrorRatio() > 0.5 || ResponseCodeRatio(500, 600, 0, 600) > 0.5 || LatencyAtQuantileMS(50.0) > 100"}`, clk)(
		func(ctx *fasthttp.RequestCtx, _ *Request) { ctx.SetStatusCode(status) })
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/a")
	var r Request
	if !prepare(&ctx, &r) {
		t.Fatal("prepare")
	}
	run := func() {
		ctx.Response.Reset()
		clk.advance(time.Second) // every answer is evaluated
		h(&ctx, &r)
	}
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Errorf("standby: %v allocations per request", n)
	}
	clk.advance(time.Minute) // the healthy answers leave the window
	status = fasthttp.StatusBadGateway
	run()
	status = fasthttp.StatusOK
	tripped := func() {
		ctx.Response.Reset()
		h(&ctx, &r)
		if ctx.Response.StatusCode() != 503 {
			t.Fatalf("status %d, want the fallback", ctx.Response.StatusCode())
		}
	}
	tripped()
	if n := testing.AllocsPerRun(100, tripped); n != 0 {
		t.Errorf("tripped: %v allocations per request", n)
	}
}
