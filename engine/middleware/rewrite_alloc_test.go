//go:build !race

package middleware

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// TestRewriteAllocs is the allocation guard of the path-rewriting kinds:
// each runs on a reused Request and RequestCtx (as the engine pools them),
// in memory, in front of a no-op handler that reads what would be
// forwarded. Kinds built on Go's regexp allocate what regexp allocates on
// a match, and nothing more; pinned so that any other allocation fails.
func TestRewriteAllocs(t *testing.T) {
	tests := []struct {
		kind, config, path string
		want               float64 // allocations per request
		forwarded          string
	}{
		{"addPrefix", `{"prefix":"/api"}`, "/foo", 0, "/api/foo"},
		{"addPrefix", `{"prefix":"/api"}`, "/a%2Fb", 0, "/api/a%2Fb"},
		{"stripPrefix", `{"prefixes":["/x","/api"]}`, "/api/foo", 0, "/foo"},
		{"stripPrefix", `{"prefixes":["/api"]}`, "/api/a%2Fb", 0, "/a%2Fb"},
		{"stripPrefix", `{"prefixes":["/api"],"forceSlash":true}`, "/api", 0, "/"},
		{"stripPrefix", `{"prefixes":["/api"]}`, "/other", 0, "/other"},
		{"replacePath", `{"path":"/new"}`, "/foo", 0, "/new"},
		{"replacePath", `{"path":"/a%2Fb"}`, "/foo%2Fbar", 0, "/a%2Fb"},
		{"replacePath", `{"path":"/a b"}`, "/foo", 0, "/a%20b"},
		// No match: regexp's Match runs on pooled machines.
		{"replacePathRegex", `{"regex":"^/v1/(.*)","replacement":"/$1"}`, "/other", 0, "/other"},
		// A match: regexp.ReplaceAll allocates (Go 1.26) its match array
		// (escaping into its expansion closure), the replacement as a
		// string, its result (grown by append: once for these short paths,
		// more for long ones) and, when the replacement expands $ captures,
		// a longer index slice. regexp has no API that appends a
		// replacement to a caller's buffer, nor one that finds a match from
		// a position without allocating its indices, so the middleware
		// cannot avoid them without reimplementing ReplaceAll's semantics.
		{"replacePathRegex", `{"regex":"^/v1/(.*)","replacement":"/$1"}`, "/v1/a%2Fb", 4, "/a%2Fb"},
		{"replacePathRegex", `{"regex":"/a","replacement":"/b"}`, "/a/a/a", 3, "/b/b/b"},
		{"stripPrefixRegex", `{"regex":["^/v[0-9]+/"]}`, "/other", 0, "/other"},
		// A match: FindIndex allocates the two-int slice it returns (its
		// doExecute has no destination for the indices), the only way to
		// learn where regexp's leftmost match ends.
		{"stripPrefixRegex", `{"regex":["^/v[0-9]+/"]}`, "/v1/a%2Fb", 1, "/a%2Fb"},
		{"stripPrefixRegex", `{"regex":["^/x","^/v[0-9]+"]}`, "/v12", 1, "/"},
	}
	for _, tc := range tests {
		m := buildOne(t, tc.kind, tc.config)
		var forwarded []byte
		h := m(func(_ *fasthttp.RequestCtx, r *Request) {
			forwarded = append(forwarded[:0], r.EscapedPath()...)
		})
		path := []byte(tc.path)
		var ctx fasthttp.RequestCtx
		var r Request
		run := func() {
			ctx.Request.Header.Reset()
			r.Reset(path)
			forwarded = forwarded[:0]
			h(&ctx, &r)
		}
		run()
		if string(forwarded) == "" {
			forwarded = append(forwarded, '/') // the engine forwards an empty path as "/"
		}
		if string(forwarded) != tc.forwarded || ctx.Response.StatusCode() != 200 {
			t.Errorf("%s %s on %s: status %d, forwarded %q; want %q", tc.kind, tc.config, tc.path, ctx.Response.StatusCode(), forwarded, tc.forwarded)
			continue
		}
		if n := testing.AllocsPerRun(100, run); n != tc.want {
			t.Errorf("%s %s on %s: %.1f allocations per request, want %.0f", tc.kind, tc.config, tc.path, n, tc.want)
		}
	}
}
