package middleware

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/valyala/fasthttp"
)

// zjson is a 16 KiB JSON body.
var zjson = func() []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i := 0; b.Len() < 16<<10; i++ {
		fmt.Fprintf(&b, `{"id":%d,"name":"user %d","email":"user%d@example.com","active":%v,"score":%d.%d,"tags":["edge","route"]},`,
			i, i*7919%1000, i, i%3 == 0, i*31%97, i%10)
	}
	out := b.Bytes()[:16<<10]
	out[len(out)-1] = ']'
	return out
}()

// zbench runs the compress middleware on one request, as the engine
// does, with the upstream answer from next, and writes the response body
// to io.Discard as the server would.
type zbench struct {
	h   Handler
	ctx fasthttp.RequestCtx
	r   Request
	rd  bytes.Reader
	out zcount
}

var zslash = []byte("/")

func newZbench(tb testing.TB, config, ae string, stream bool, body []byte) *zbench {
	m, err := tryBuild("compress", config)
	if err != nil {
		tb.Fatal(err)
	}
	z := &zbench{}
	z.h = m(func(ctx *fasthttp.RequestCtx, r *Request) {
		ctx.Response.Header.SetContentType("application/json")
		if stream {
			z.rd.Reset(body)
			ctx.Response.SetBodyStream(&z.rd, len(body))
		} else {
			ctx.Response.SetBody(body)
		}
	})
	z.ctx.Request.Header.SetMethod("GET")
	z.ctx.Request.SetRequestURI("/")
	if ae != "" {
		z.ctx.Request.Header.Set("Accept-Encoding", ae)
	}
	return z
}

// run serves one request and returns the body's size as sent.
func (z *zbench) run(tb testing.TB) int {
	z.r.Reset(zslash)
	z.h(&z.ctx, &z.r)
	var n int
	if z.ctx.Response.IsBodyStream() {
		z.out = 0
		if err := z.ctx.Response.BodyWriteTo(&z.out); err != nil {
			tb.Fatal(err)
		}
		n = int(z.out)
	} else {
		n = len(z.ctx.Response.Body())
	}
	z.ctx.Response.Reset()
	return n
}

type zcount int

func (c *zcount) Write(p []byte) (int, error) {
	*c += zcount(len(p))
	return len(p), nil
}

var _ io.Writer = (*zcount)(nil)

// BenchmarkCompress: the middleware's cost on a 16 KiB JSON answer, the
// upstream's streamed body or a body in memory.
func BenchmarkCompress(b *testing.B) {
	for _, enc := range []string{"gzip", "zstd"} {
		for _, stream := range []bool{true, false} {
			name := enc + "/stream"
			if !stream {
				name = enc + "/memory"
			}
			b.Run(name, func(b *testing.B) {
				z := newZbench(b, `{}`, enc, stream, zjson)
				b.ReportAllocs()
				b.SetBytes(int64(len(zjson)))
				var n int
				for b.Loop() {
					n = z.run(b)
				}
				b.ReportMetric(float64(n), "out-bytes")
			})
		}
	}
}
