package middleware

import (
	"strings"
	"testing"
)

// spr is a stripPrefixRegex configuration.
func spr(regex ...string) string {
	q := make([]string, len(regex))
	for i, r := range regex {
		q[i] = jsonString(r)
	}
	return `{"regex":[` + strings.Join(q, ",") + `]}`
}

// Traefik's strip_prefix_regex_test.go cases, on what reaches a real
// backend: its expected Path "" is the URI "/" (its RequestURI), and where
// nothing matched the URI is the request's. Its case "/t /test/a%2Fb" (a
// raw space in the target) cannot be sent over HTTP/1.1; "/t%20/test/a%2Fb"
// is the same path. Then the rules around the match, list order, headers
// already present and what JoinPath refuses.
func TestStripPrefixRegex(t *testing.T) {
	tests := []rewriteCase{
		{name: "/a/test", config: spr("/a/api/"), path: "/a/test", status: 200, uri: "/a/test"},
		{name: "/a/test/", config: spr("/a/api/"), path: "/a/test/", status: 200, uri: "/a/test/"},
		{name: "/a/api/", config: spr("/a/api/"), path: "/a/api/", status: 200, uri: "/", values: []string{"/a/api/"}},
		{name: "/a/api/test", config: spr("/a/api/"), path: "/a/api/test", status: 200, uri: "/test", values: []string{"/a/api/"}},
		{name: "/a/api/test/", config: spr("/a/api/"), path: "/a/api/test/", status: 200, uri: "/test/", values: []string{"/a/api/"}},
		{name: "/b/api/", config: spr("/b/([a-z0-9]+)/"), path: "/b/api/", status: 200, uri: "/", values: []string{"/b/api/"}},
		{name: "/b/api", config: spr("/b/([a-z0-9]+)/"), path: "/b/api", status: 200, uri: "/b/api"},
		{name: "/b/api/test1", config: spr("/b/([a-z0-9]+)/"), path: "/b/api/test1", status: 200, uri: "/test1", values: []string{"/b/api/"}},
		{name: "/b/api2/test2", config: spr("/b/([a-z0-9]+)/"), path: "/b/api2/test2", status: 200, uri: "/test2", values: []string{"/b/api2/"}},
		{name: "/c/api/123/", config: spr("/c/[a-z0-9]+/[0-9]+/"), path: "/c/api/123/", status: 200, uri: "/", values: []string{"/c/api/123/"}},
		{name: "/c/api/123", config: spr("/c/[a-z0-9]+/[0-9]+/"), path: "/c/api/123", status: 200, uri: "/c/api/123"},
		{name: "/c/api/123/test3", config: spr("/c/[a-z0-9]+/[0-9]+/"), path: "/c/api/123/test3", status: 200, uri: "/test3", values: []string{"/c/api/123/"}},
		{name: "/c/api/abc/test4", config: spr("/c/[a-z0-9]+/[0-9]+/"), path: "/c/api/abc/test4", status: 200, uri: "/c/api/abc/test4"},
		{name: "/a/api/a2Fb", config: spr("/a/api/"), path: "/a/api/a%2Fb", status: 200, uri: "/a%2Fb", values: []string{"/a/api/"}},
		{name: "/b/ap69/test", config: spr("/b/([a-z0-9]+)/"), path: "/b/ap%69/test", status: 200, uri: "/test", values: []string{"/b/api/"}},
		{name: "/b/ap69/a2Fb", config: spr("/b/([a-z0-9]+)/"), path: "/b/ap%69/a%2Fb", status: 200, uri: "/a%2Fb", values: []string{"/b/api/"}},
		{name: "/t2F/test/foo", config: spr("/t /test"), path: "/t%2F/test/foo", status: 200, uri: "/t%2F/test/foo"},
		{name: "/t20/test/a2Fb", config: spr("/t /test"), path: "/t%20/test/a%2Fb", status: 200, uri: "/a%2Fb", values: []string{"/t /test"}},
		{name: "/api./foo", config: spr("/api"), path: "/api./foo", status: 400, body: "Bad Request\n"},
		{name: "/api../foo", config: spr("/api"), path: "/api../foo", status: 400, body: "Bad Request\n"},

		// The decoded path is matched; its escaped bytes are stripped.
		{name: "match on the decoded path", config: spr(`^/a/b`), path: "/a%2Fb/c", status: 200, uri: "/c", values: []string{"/a/b"}},
		{name: "decoded non-ASCII", config: spr(`^/é/`), path: "/%C3%A9/x%2Fy", status: 200, uri: "/x%2Fy", values: []string{"/é/"}},
		// The leftmost match need not start the path: its text must.
		{name: "match elsewhere, same text", config: spr(`/$`), path: "/a/", status: 200, uri: "/a/", values: []string{"/"}},
		{name: "match elsewhere", config: spr(`b/`), path: "/a/b/c", status: 200, uri: "/a/b/c"},
		{name: "leftmost match only", config: spr(`/x`), path: "/a/x/x", status: 200, uri: "/a/x/x"},
		{name: "greedy", config: spr(`^/[a-z/]+/`), path: "/a/b/c1", status: 200, uri: "/c1", values: []string{"/a/b/"}},
		{name: "no leading slash left", config: spr(`^/a`), path: "/abc", status: 200, uri: "/bc", values: []string{"/a"}},
		{name: "first matching expression", config: spr(`/x`, `/a`, `/a/b`), path: "/a/b", status: 200, uri: "/b", values: []string{"/a"}},
		{name: "empty match skipped", config: spr(`^`, `x*`, `/a`), path: "/a/b", status: 200, uri: "/b", values: []string{"/a"}},
		{name: "expressions trimmed", config: spr(` /a `), path: "/a/b", status: 200, uri: "/b", values: []string{"/a"}},
		{name: "no expressions", config: `{"regex":[]}`, path: "/a/b", status: 200, uri: "/a/b"},
		{name: "no configuration", config: `{}`, path: "/a/b", status: 200, uri: "/a/b"},
		{name: "query kept", config: spr(`^/a`), path: "/a/b?x=%2F&y", status: 200, uri: "/b?x=%2F&y", values: []string{"/a"}},
		{name: "header added to the client's", config: spr(`^/a`), path: "/a/b", hdr: []string{"X-Forwarded-Prefix: /client"},
			status: 200, uri: "/b", values: []string{"/client", "/a"}},
		// "/a//b" less "/a" is "//b"; the raw path, "/" + "%2F%2Fb", no
		// longer encodes it, so "//b" is what JoinPath cleans: 400.
		{name: "escaped slashes left", config: spr(`^/a`), path: "/a%2F%2Fb", status: 400, body: "Bad Request\n"},
		// "/a//b" less "/a/" is "/b"; the raw path "/" + "%2Fb" encodes
		// "//b", so Go escapes the path: the escaped slash is lost.
		{name: "escaped slash after the prefix", config: spr(`^/a/`), path: "/a/%2Fb", status: 200, uri: "/b", values: []string{"/a/"}},
		{name: "dot segment left", config: spr(`^/a/`), path: "/a/./b", status: 200, uri: "/b", values: []string{"/a/"}}, // the entry point cleaned it
		{name: "escaped dots left", config: spr(`^/a`), path: "/a%2F..", status: 400, body: "Bad Request\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { runRewrite(t, "stripPrefixRegex", ForwardedPrefix, tc) })
	}

	for _, bad := range []struct{ config, err string }{
		{spr(`/a`, `(`), "error parsing regexp: missing closing ): `(`"},
		{spr(`[z-a]`), "error parsing regexp: invalid character class range"},
		{`{"regex":"/a"}`, "cannot unmarshal"},
		{`{"regex":["/a"],"prefixes":["/b"]}`, `"prefixes" is not supported`},
	} {
		if _, err := tryBuild("stripPrefixRegex", bad.config); err == nil || !strings.Contains(err.Error(), bad.err) {
			t.Errorf("%s: err = %v, want %q", bad.config, err, bad.err)
		}
	}
}

// Chained with replacePath: after the strip, Traefik's JoinPath drops a raw
// path that no longer encodes the path, so the next middleware reads the
// escaped path ("/%20b", not the raw "/ b").
func TestStripPrefixRegexChained(t *testing.T) {
	url := front(t, nil,
		buildOne(t, "replacePath", `{"path":"/a b"}`),
		buildOne(t, "stripPrefixRegex", spr(`^/a`)),
		buildOne(t, "replacePath", `{"path":"/z"}`))
	checkRewrite(t, url, ReplacedPath, rewriteCase{path: "/x", status: 200, uri: "/z", values: []string{"/x", "/%20b"}})
	checkRewrite(t, url, ForwardedPrefix, rewriteCase{path: "/x", status: 200, uri: "/z", values: []string{"/a"}})
}
