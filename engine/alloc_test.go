//go:build !race

package engine

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// TestServeAllocs is the allocation guard of the request path: routing,
// balancing, header rewriting and forwarding a request to an upstream over a
// pooled connection allocate nothing in steady state.
func TestServeAllocs(t *testing.T) {
	t.Run("plain", func(t *testing.T) { testServeAllocs(t) })
	// Metrics recorded for the entry point, the router and the service
	// add nothing.
	t.Run("metrics", func(t *testing.T) {
		testServeAllocs(t, "--entryPoints.traefik.address=127.0.0.1:0", "--metrics.prometheus", "--metrics.prometheus.addRoutersLabels")
	})
	// So does the access log (common format): the line is formatted into
	// pooled buffers (a small buffer, so that the unflushed test log
	// soon drops rather than grows).
	t.Run("accesslog", func(t *testing.T) {
		testServeAllocs(t, "--accessLog.filePath="+t.TempDir()+"/a.log", "--accessLog.bufferingSize=8")
	})
}

func testServeAllocs(t *testing.T, args ...string) {
	for _, stream := range []bool{false, true} {
		h, _ := inmemoryEngine(t, stream, args...)
		req := benchRequest()
		var ctx fasthttp.RequestCtx
		run := func() {
			ctx.Response.Reset()
			ctx.Init(req, benchRemote, nil)
			h(&ctx)
			if ctx.Response.StatusCode() != 200 {
				t.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
			}
			ctx.Response.Body() // drain the streamed body, releasing the upstream connection
		}
		// The harness itself allocates: fasthttp's RequestCtx.Init wraps the
		// remote address. Measure that alone (a request that gets a 404).
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
		n := testing.AllocsPerRun(200, run) - baseline
		switch {
		case !stream && n != 0:
			// Buffered upstream responses: the whole path allocates nothing.
			t.Errorf("serving a request allocates %.1f times (beyond the harness's %.0f), want 0", n, baseline)
		case stream && n != 4:
			// Streamed upstream responses (the default, so that large
			// bodies are never buffered): fasthttp's transport.RoundTrip
			// allocates its stream reader and three closures per request.
			// Pinned here so that any other allocation fails; removing
			// these is hot-path work of issue 4.
			t.Errorf("serving a streamed request allocates %.1f times, want fasthttp's 4", n)
		}
	}
}
