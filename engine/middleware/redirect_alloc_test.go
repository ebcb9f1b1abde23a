//go:build !race

package middleware

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// A request redirectScheme or redirectRegex lets pass allocates nothing,
// nor does a redirectScheme redirect to a plain URL. A redirectRegex
// redirect allocates inside regexp.ReplaceAll (the result, the match
// indexes, the template as a string and its closure), whatever the
// URL's length.
func TestRedirectAllocs(t *testing.T) {
	tests := []struct {
		desc, kind, config string
		secure             bool
		host, uri          string
		pass               bool
		max                float64
	}{
		{"scheme, already https", "redirectScheme", `{"scheme":"https"}`, true, "foo:443", "/a/b%2Fc?x=1;y", true, 0},
		{"scheme, already on the port", "redirectScheme", `{"scheme":"http","port":"8080"}`, false, "Foo.COM:8080", "/a", true, 0},
		{"scheme, http to https", "redirectScheme", `{"scheme":"https","port":"8443"}`, false, "foo:8080", "/a/b?x=1", false, 0},
		{"regex, no match", "redirectRegex", `{"regex":"^https://foo/(.*)","replacement":"https://bar/$1"}`, false, "foo", "/a/b?x", true, 0},
		{"regex, redirect", "redirectRegex", `{"regex":"^http://foo/(.*)","replacement":"https://bar/$1"}`, false, "foo", "/a/b?x", false, 5},
		{"regex, long redirect", "redirectRegex", `{"regex":"^http://foo/(.*)","replacement":"https://bar/$1"}`, false, "foo", "/a/b/cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc/dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd?x=1111111111111111111111111111111", false, 5},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			passed := false
			h := buildOne(t, tc.kind, tc.config)(func(*fasthttp.RequestCtx, *Request) { passed = true })
			var ctx fasthttp.RequestCtx
			ctx.Request.SetRequestURI(tc.uri)
			ctx.Request.Header.SetHost(tc.host)
			var r Request
			if !prepare(&ctx, &r) {
				t.Fatal("prepare")
			}
			raw, query, hasQuery, host := r.raw, r.Query, r.HasQuery, r.Host
			run := func() { // as the engine prepares a pooled Request
				passed = false
				ctx.Response.Reset()
				r.Reset(raw)
				r.Query, r.HasQuery, r.Host, r.Secure = query, hasQuery, host, tc.secure
				h(&ctx, &r)
			}
			run()
			if passed != tc.pass {
				t.Fatalf("passed %v, want %v (status %d)", passed, tc.pass, ctx.Response.StatusCode())
			}
			if allocs := testing.AllocsPerRun(500, run); allocs > tc.max {
				t.Errorf("%.1f allocations per request, want at most %v", allocs, tc.max)
			}
		})
	}
}
