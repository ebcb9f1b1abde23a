//go:build !race

package middleware

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// The errors middleware allocates nothing per request, whether the
// response passes through or is replaced by a page.
func TestErrorsAllocs(t *testing.T) {
	page := func(ctx *fasthttp.RequestCtx, r *Request) {
		ctx.Response.Header.SetContentType("text/html")
		ctx.SetBodyString("page")
	}
	b := buildErrorsWith(`{"status":["500-599"],"statusRewrites":{"502-504":500},"query":"/{status}?from={originalStatus}&u={url}","errorRequestHeaders":["Accept","X-Forwarded-For"]}`,
		pageService, &BuildContext{Service: func(string) (Handler, error) { return page, nil }})
	if b.Err != nil {
		t.Fatal(b.Err)
	}
	for _, status := range []int{200, 503} {
		h := b.Wrap(func(ctx *fasthttp.RequestCtx, r *Request) {
			ctx.Request.Header.Set("X-Forwarded-For", "1.1.1.1, 127.0.0.1")
			ctx.SetStatusCode(status)
			ctx.SetBodyString("main")
		})
		var ctx fasthttp.RequestCtx
		var r Request
		raw, query := []byte("/a/b"), []byte("x=1")
		run := func() {
			ctx.Request.Reset()
			ctx.Response.Reset()
			ctx.Request.Header.SetMethod("POST")
			ctx.Request.SetRequestURI("/a/b?x=1")
			ctx.Request.Header.SetHost("example.com:8080")
			ctx.Request.Header.Set("Accept", "text/html")
			ctx.Request.Header.Set("Authorization", "secret")
			ctx.Request.SetBodyString("body")
			r.Reset(raw)
			r.Query, r.HasQuery = query, true
			h(&ctx, &r)
		}
		run()
		if status == 503 {
			if got := string(ctx.Request.Header.RequestURI()); got != "/500?from=503&u=http%3A%2F%2Fexample.com%3A8080%2Fa%2Fb%3Fx%3D1" {
				t.Errorf("page URI %q", got)
			}
			if ctx.Response.StatusCode() != 500 || string(ctx.Response.Body()) != "page" || len(ctx.Request.Header.Peek("Authorization")) != 0 {
				t.Errorf("page answer %d %q", ctx.Response.StatusCode(), ctx.Response.Body())
			}
		}
		if n := testing.AllocsPerRun(200, run); n != 0 {
			t.Errorf("status %d: %v allocations per request", status, n)
		}
	}
}
