//go:build !race

package middleware

import (
	"testing"

	"github.com/valyala/fasthttp"
)

func TestEncodedCharactersAllocs(t *testing.T) {
	h := buildOne(t, "encodedCharacters", `{}`)(func(*fasthttp.RequestCtx, *Request) {})
	var ctx fasthttp.RequestCtx
	var r Request
	raw := []byte("/foo%20bar/baz%2Cqux")
	if n := testing.AllocsPerRun(1000, func() { r.Reset(raw); h(&ctx, &r) }); n != 0 {
		t.Errorf("encodedCharacters allocates %.1f times per request, want 0", n)
	}
}
