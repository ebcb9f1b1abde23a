package engine

import (
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/engine/tracing/otlptest"
)

// BenchmarkServeTracing is BenchmarkServe's request (streamed upstream
// answer) with tracing off, on with every request sampled (exported over
// OTLP/HTTP to a real receiver in the same process), and on with none
// sampled (spans made, IDs propagated, nothing exported).
func BenchmarkServeTracing(b *testing.B) {
	rcv := otlptest.Start(b)
	req := benchRequest()
	for _, c := range []struct {
		name string
		args []string
	}{
		{"off", nil},
		{"sampled", []string{"--tracing.otlp.http.endpoint=" + rcv.HTTPURL}},
		{"unsampled", []string{"--tracing.otlp.http.endpoint=" + rcv.HTTPURL, "--tracing.sampleRate=0"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			h, _ := inmemoryEngine(b, true, c.args...)
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
