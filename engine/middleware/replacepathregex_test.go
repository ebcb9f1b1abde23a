package middleware

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// rx is a replacePathRegex configuration.
func rx(regex, replacement string) string {
	return `{"regex":` + jsonString(regex) + `,"replacement":` + jsonString(replacement) + `}`
}

func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range s {
		if c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	b.WriteByte('"')
	return b.String()
}

// Traefik's replace_path_regex_test.go cases (its expected RequestURI is
// the upstream URI), then captures by name, the query, empty results, the
// 400 of a path JoinPath would clean, the 500 of a replacement that is no
// valid escaping, and headers already present.
func TestReplacePathRegex(t *testing.T) {
	tests := []rewriteCase{
		{name: "simple regex", config: rx(`^/whoami/(.*)`, "/who-am-i/$1"), path: "/whoami/and/whoami",
			status: 200, uri: "/who-am-i/and/whoami", values: []string{"/whoami/and/whoami"}},
		{name: "simple replace (no regex)", config: rx(`/whoami`, "/who-am-i"), path: "/whoami/and/whoami",
			status: 200, uri: "/who-am-i/and/who-am-i", values: []string{"/whoami/and/whoami"}},
		{name: "empty replacement", config: rx(`/whoami`, ""), path: "/whoami/and/whoami",
			status: 200, uri: "/and", values: []string{"/whoami/and/whoami"}},
		{name: "empty trimmed replacement", config: rx(`/whoami`, " "), path: "/whoami/and/whoami",
			status: 200, uri: "/and", values: []string{"/whoami/and/whoami"}},
		{name: "no match", config: rx(`/no-match`, "/whoami"), path: "/whoami/and/whoami",
			status: 200, uri: "/whoami/and/whoami"},
		{name: "multiple replacement", config: rx(`^(?i)/downloads/([^/]+)/([^/]+)$`, "/downloads/$1-$2"), path: "/downloads/src/source.go",
			status: 200, uri: "/downloads/src-source.go", values: []string{"/downloads/src/source.go"}},
		{name: "replacement with escaped char", config: rx(`/aaa/bbb`, "/foo%2Fbar"), path: "/aaa/bbb",
			status: 200, uri: "/foo%2Fbar", values: []string{"/aaa/bbb"}},
		{name: "path and regex with escaped char", config: rx(`/aaa%2Fbbb`, "/foo/bar"), path: "/aaa%2Fbbb",
			status: 200, uri: "/foo/bar", values: []string{"/aaa%2Fbbb"}},
		{name: "path with escaped char (no match)", config: rx(`/aaa/bbb`, "/foo/bar"), path: "/aaa%2Fbbb",
			status: 200, uri: "/aaa%2Fbbb"},
		{name: "path with percent encoded backspace", config: rx(`^/foo/(.*)`, "/$1"), path: "/foo/%08bar",
			status: 200, uri: "/%08bar", values: []string{"/foo/%08bar"}},
		{name: "path with ..", config: rx(`^/foo(.*)`, "/$1"), path: "/foo../bar",
			status: 400, body: "Bad Request\n"},

		{name: "named capture", config: rx(`^/(?P<v>v[0-9]+)/(.*)`, "/$2/${v}"), path: "/v1/a/b",
			status: 200, uri: "/a/b/v1", values: []string{"/v1/a/b"}},
		{name: "regex and replacement trimmed", config: rx(" ^/a/(.*) ", " /b/$1 "), path: "/a/c",
			status: 200, uri: "/b/c", values: []string{"/a/c"}},
		{name: "query kept, not matched", config: rx(`x=1`, "/q"), path: "/a?x=1",
			status: 200, uri: "/a?x=1"},
		{name: "query kept", config: rx(`^/whoami`, "/w"), path: "/whoami/a?x=1",
			status: 200, uri: "/w/a?x=1", values: []string{"/whoami/a"}},
		// An empty path is not cleaned (JoinPath would add a slash);
		// Traefik's RequestURI is then "/".
		{name: "empty result", config: rx(`^/whoami$`, ""), path: "/whoami",
			status: 200, uri: "/", values: []string{"/whoami"}},
		{name: "trailing slash kept", config: rx(`^/a/`, "/b/"), path: "/a/",
			status: 200, uri: "/b/", values: []string{"/a/"}},
		{name: "double slash", config: rx(`^/a/(.*)`, "/x//$1"), path: "/a/b",
			status: 400, body: "Bad Request\n"},
		{name: "dot segment", config: rx(`^/a/(.*)`, "/$1/."), path: "/a/b",
			status: 400, body: "Bad Request\n"},
		// JoinPath cleans the escaped form: "%2E%2E" is no dot segment,
		// so Traefik forwards it as it is (the path is "/../b").
		{name: "escaped dots are no segment", config: rx(`^/a/(.*)`, "/%2E%2E/$1"), path: "/a/b",
			status: 200, uri: "/%2E%2E/b", values: []string{"/a/b"}},
		{name: "escaped slash is no separator", config: rx(`^/a/(.*)`, "/x%2F..%2F$1"), path: "/a/b",
			status: 200, uri: "/x%2F..%2Fb", values: []string{"/a/b"}},
		// RawPath "/a b" is no valid encoding: the path is escaped.
		{name: "unescaped replacement", config: rx(`^/x$`, "/a b"), path: "/x",
			status: 200, uri: "/a%20b", values: []string{"/x"}},
		{name: "replacement no valid escaping", config: rx(`^/x$`, "/a%zz"), path: "/x",
			status: 500, body: "invalid URL escape \"%zz\"\n"},
		{name: "capture splits an escape", config: rx(`^(/a%)2F(.*)`, "$1$2"), path: "/a%2Fb",
			status: 500, body: "invalid URL escape \"%b\"\n"},
		{name: "header added to the client's", config: rx(`^/a`, "/b"), path: "/a", hdr: []string{"X-Replaced-Path: /client"},
			status: 200, uri: "/b", values: []string{"/client", "/a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { runRewrite(t, "replacePathRegex", ReplacedPath, tc) })
	}

	for _, bad := range []struct{ config, err string }{
		{rx(`^(?err)/invalid/regexp/([^/]+)$`, "/valid/regexp/$1"), "error compiling regular expression ^(?err)/invalid/regexp/([^/]+)$: error parsing regexp"},
		{rx(`(`, "/"), "error compiling regular expression (: error parsing regexp: missing closing )"},
		{`{"regex":"/a","replacement":"/b","path":"/c"}`, `"path" is not supported`},
		{`{"regex":["/a"]}`, "cannot unmarshal"},
	} {
		if _, err := tryBuild("replacePathRegex", bad.config); err == nil || !strings.Contains(err.Error(), bad.err) {
			t.Errorf("%s: err = %v, want %q", bad.config, err, bad.err)
		}
	}
}

// After a clean JoinPath, Traefik's URL has RawPath empty unless it differs
// from the default escaping: the next middleware reads the escaped path.
func TestReplacePathRegexChained(t *testing.T) {
	url := front(t, nil,
		buildOne(t, "replacePathRegex", rx(`^/x$`, "/a b")),
		buildOne(t, "replacePath", `{"path":"/z"}`))
	checkRewrite(t, url, ReplacedPath, rewriteCase{path: "/x", status: 200, uri: "/z", values: []string{"/x", "/a%20b"}})
}

// A replacement without a leading slash leaves a relative path, which
// JoinPath keeps relative (no 400). Checked on the Request itself: the
// engine adds the slash when it forwards (Traefik would send "bar" as the
// request target).
func TestReplacePathRegexRelative(t *testing.T) {
	tests := []struct {
		regex, repl, path string
		status            int
		esc               string
	}{
		{`^/foo/(.*)`, "$1", "/foo/bar", 200, "bar"},
		{`^/foo/(.*)`, "$1", "/foo/bar/", 200, "bar/"},
		{`^/foo/(.*)`, "$1", "/foo/a%2F..", 200, "a%2F.."},
		{`^/foo/(.*)`, "$1", "/foo/..", 400, ""},
		{`^/foo/(.*)`, "./$1", "/foo/a", 400, ""},
		{`^/foo/(.*)`, "a//$1", "/foo/b", 400, ""},
	}
	for _, tc := range tests {
		m := buildOne(t, "replacePathRegex", rx(tc.regex, tc.repl))
		var ctx fasthttp.RequestCtx
		var r Request
		r.Reset([]byte(tc.path))
		var esc string
		m(func(_ *fasthttp.RequestCtx, r *Request) { esc = string(r.EscapedPath()) })(&ctx, &r)
		status := ctx.Response.StatusCode()
		if status != tc.status || esc != tc.esc {
			t.Errorf("%s -> %s on %s: status %d, path %q; want %d, %q", tc.regex, tc.repl, tc.path, status, esc, tc.status, tc.esc)
		}
	}
}
