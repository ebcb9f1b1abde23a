//go:build !race

package middleware

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestHeadersAllocs is the headers middleware's allocation guard: with the
// header names and values precomputed at build time, a request through it
// allocates nothing, whatever it sets or removes, but for a nonce that
// fmt must format.
func TestHeadersAllocs(t *testing.T) {
	tests := []struct {
		desc, config string
		method       string // and a request target other than /path
		want         float64
		check        [2]string // a response header it sets
	}{
		{"custom headers", `{"customRequestHeaders":{"X-Custom":"v","Foo":"","X-Forwarded-For":"","Host":"example.org"},
			"customResponseHeaders":{"X-Resp":"r","X-Frame-Options":"","Set-Cookie":"a=b"}}`, "GET", 0, [2]string{"X-Resp", "r"}},
		{"security headers", `{"allowedHosts":["example.com"],"hostsProxyHeaders":["X-Forwarded-Host"],
			"sslProxyHeaders":{"X-Forwarded-Proto":"https"},"stsSeconds":31536000,"stsIncludeSubdomains":true,"stsPreload":true,
			"frameDeny":true,"contentTypeNosniff":true,"browserXssFilter":true,"contentSecurityPolicy":"default-src 'self'",
			"contentSecurityPolicyReportOnly":"img-src *","publicKey":"pin","referrerPolicy":"same-origin","permissionsPolicy":"camera=()"}`, "GET", 0,
			[2]string{"Strict-Transport-Security", "max-age=31536000; includeSubDomains; preload"}},
		{"security headers, absolute target", `{"allowedHosts":["example.com"],"stsSeconds":1}`, "GET https://example.com/path", 0,
			[2]string{"Strict-Transport-Security", "max-age=1"}},
		{"a bad host", `{"allowedHosts":["other.com"],"customResponseHeaders":{"X-Resp":"r"}}`, "GET", 0, [2]string{"Content-Type", "text/plain; charset=utf-8"}},
		{"CORS", `{"accessControlAllowOriginList":["https://a.org","*"],"accessControlAllowCredentials":true,
			"accessControlExposeHeaders":["X-A","X-B"],"addVaryHeader":true}`, "GET", 0, [2]string{"Vary", "Accept,Origin"}},
		{"CORS regexp", `{"accessControlAllowOriginListRegex":["^https://[a-z]+\\.org$"],"addVaryHeader":true}`, "GET", 0, [2]string{"Access-Control-Allow-Origin", "https://a.org"}},
		{"preflight", `{"accessControlAllowOriginList":["*"],"accessControlAllowCredentials":true,"accessControlAllowHeaders":["*"],
			"accessControlAllowMethods":["GET","PUT"],"accessControlMaxAge":600}`, "OPTIONS", 0, [2]string{"Access-Control-Allow-Headers", "X-A"}},
		// A template where fmt does more than insert the nonce is
		// formatted per request: fmt's own allocations, pinned.
		{"CSP nonce formatted by fmt", `{"contentSecurityPolicy":"x %.3[1]s $NONCE"}`, "GET", 7, [2]string{"X-Frame-Options", "SAMEORIGIN"}},
		{"CSP nonce", `{"contentSecurityPolicy":"script-src $NONCE","contentSecurityPolicyReportOnly":"default-src $NONCE"}`, "GET", 0, [2]string{"X-Frame-Options", "SAMEORIGIN"}},
	}
	next := func(ctx *fasthttp.RequestCtx, r *Request) {
		ctx.Response.Header.Set("Vary", "Accept")
		ctx.Response.Header.Set("X-Frame-Options", "SAMEORIGIN")
		ctx.Response.Header.Set("Set-Cookie", "s=1")
		ctx.SetBodyString("hello")
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			var in fasthttp.Request
			method, uri, _ := strings.Cut(tc.method+" /path", " ")
			uri, _, _ = strings.Cut(uri, " ")
			in.Header.SetMethod(method)
			in.Header.SetRequestURI(uri)
			in.Header.SetHost("example.com")
			for _, kv := range [][2]string{{"Origin", "https://a.org"}, {"Access-Control-Request-Method", "PUT"},
				{"Access-Control-Request-Headers", "X-A"}, {"Foo", "bar"}, {"X-Forwarded-For", "6.6.6.6"},
				{"X-Forwarded-Proto", "https"}, {"X-Forwarded-Host", "example.com"}} {
				in.Header.Set(kv[0], kv[1])
			}
			var ctx fasthttp.RequestCtx
			var r Request
			raw := []byte("/path")
			measure := func(h Handler) float64 {
				run := func() {
					in.CopyTo(&ctx.Request)
					ctx.Response.Reset()
					r.Reset(raw)
					r.Host = ctx.Request.Header.Host()
					h(&ctx, &r)
				}
				for range 10 {
					run()
				}
				return testing.AllocsPerRun(200, run)
			}
			baseline := measure(next)
			if n := measure(Wrap(next, buildOne(t, "headers", tc.config))) - baseline; n != tc.want {
				t.Errorf("a request allocates %.1f times (beyond the harness's %.0f), want %.0f", n, baseline, tc.want)
			}
			if got := ctx.Response.Header.Peek(tc.check[0]); string(got) != tc.check[1] {
				t.Errorf("%s: %q, want %q", tc.check[0], got, tc.check[1])
			}
		})
	}
}
