package middleware

import (
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// rewriteCase is one request through a path-rewriting middleware, checked
// on what reaches a real backend (or what the middleware answers).
type rewriteCase struct {
	name   string
	config string   // the kind's JSON configuration
	path   string   // request target
	status int      // 200: forwarded
	uri    string   // upstream request URI (for 200)
	values []string // upstream values of the kind's header (nil: none)
	body   string   // the middleware's answer (for an error status)
	hdr    []string // request headers ("Name: value")
}

// runRewrite runs tc through one middleware of the kind; header is the one
// the kind adds (X-Replaced-Path, X-Forwarded-Prefix).
func runRewrite(t *testing.T, kind, header string, tc rewriteCase) {
	t.Helper()
	url := front(t, nil, buildOne(t, kind, tc.config))
	checkRewrite(t, url, header, tc)
}

func checkRewrite(t *testing.T, url, header string, tc rewriteCase) {
	t.Helper()
	resp := do(t, "GET", url+tc.path, nil, tc.hdr...)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != tc.status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
	}
	if tc.status != 200 {
		if string(body) != tc.body {
			t.Errorf("body %q, want %q", body, tc.body)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
		if v := resp.Header.Get("X-Content-Type-Options"); v != "nosniff" {
			t.Errorf("X-Content-Type-Options %q", v)
		}
		return
	}
	var e echo
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if e.URI != tc.uri {
		t.Errorf("upstream URI %q, want %q", e.URI, tc.uri)
	}
	if got := e.Header[header]; !slices.Equal(got, tc.values) {
		t.Errorf("%s %q, want %q", header, got, tc.values)
	}
}

// Traefik's replace_path_test.go cases (its expected Path/RawPath are what
// the upstream URI spells: RawPath when set, else Path), then the query,
// an empty path, an invalid encoding, headers already present and an
// unescapable path.
func TestReplacePath(t *testing.T) {
	tests := []rewriteCase{
		{name: "simple path", config: `{"path":"/replacement-path"}`, path: "/example",
			status: 200, uri: "/replacement-path", values: []string{"/example"}},
		{name: "long path", config: `{"path":"/replacement-path"}`, path: "/some/really/long/path",
			status: 200, uri: "/replacement-path", values: []string{"/some/really/long/path"}},
		{name: "path with escaped value", config: `{"path":"/replacement-path"}`, path: "/foo%2Fbar",
			status: 200, uri: "/replacement-path", values: []string{"/foo%2Fbar"}},
		{name: "replacement with escaped value", config: `{"path":"/foo%2Fbar"}`, path: "/path",
			status: 200, uri: "/foo%2Fbar", values: []string{"/path"}},
		{name: "replacement with percent encoded backspace", config: `{"path":"/path/%08bar"}`, path: "/path/%08bar",
			status: 200, uri: "/path/%08bar", values: []string{"/path/%08bar"}},

		{name: "query kept", config: `{"path":"/r"}`, path: "/a?x=1&y=%20",
			status: 200, uri: "/r?x=1&y=%20", values: []string{"/a"}},
		{name: "header records the escaped path", config: `{"path":"/r"}`, path: "/a%20b/%C3%A9",
			status: 200, uri: "/r", values: []string{"/a%20b/%C3%A9"}},
		{name: "unreserved escapes normalised first", config: `{"path":"/r"}`, path: "/%61%2f",
			status: 200, uri: "/r", values: []string{"/a%2F"}},
		// Path and RawPath empty: Traefik's RequestURI is "/".
		{name: "empty path", config: `{}`, path: "/a/b",
			status: 200, uri: "/", values: []string{"/a/b"}},
		// RawPath "/a b" is no valid encoding: EscapedPath escapes Path.
		{name: "path not escaped", config: `{"path":"/a b/c"}`, path: "/x",
			status: 200, uri: "/a%20b/c", values: []string{"/x"}},
		{name: "needless escape kept", config: `{"path":"/%61"}`, path: "/x",
			status: 200, uri: "/%61", values: []string{"/x"}},
		// No cleaning in replacePath: Traefik forwards dot segments as given.
		{name: "dot segments forwarded", config: `{"path":"/a/../b"}`, path: "/x",
			status: 200, uri: "/a/../b", values: []string{"/x"}},
		{name: "header added to the client's", config: `{"path":"/r"}`, path: "/a", hdr: []string{"X-Replaced-Path: /client"},
			status: 200, uri: "/r", values: []string{"/client", "/a"}},
		{name: "invalid escape", config: `{"path":"/a%zzb"}`, path: "/a",
			status: 500, body: "invalid URL escape \"%zz\"\n"},
		{name: "truncated escape", config: `{"path":"/a%2"}`, path: "/a",
			status: 500, body: "invalid URL escape \"%2\"\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { runRewrite(t, "replacePath", ReplacedPath, tc) })
	}

	t.Run("warning for an unescapable path", func(t *testing.T) {
		if w := buildWarnings(t, "replacePath", `{"path":"/a%zz"}`); len(w) != 1 || !strings.Contains(w[0], "every request will be answered 500") {
			t.Errorf("warnings %q", w)
		}
		if w := buildWarnings(t, "replacePath", `{"path":"/a%2F"}`); len(w) != 0 {
			t.Errorf("warnings %q", w)
		}
	})
	if _, err := tryBuild("replacePath", `{"path":"/a","prefix":"/b"}`); err == nil || !strings.Contains(err.Error(), `"prefix" is not supported`) {
		t.Errorf("unknown option: err = %v", err)
	}
	if _, err := tryBuild("replacePath", `{"path":1}`); err == nil {
		t.Error("path as a number: no error")
	}
}

// A replaced RawPath is read as Traefik's next middleware reads
// req.URL.RawPath: as set, even when it is no valid encoding.
func TestReplacePathChained(t *testing.T) {
	url := front(t, nil,
		buildOne(t, "replacePath", `{"path":"/a b"}`),
		buildOne(t, "replacePath", `{"path":"/z"}`))
	checkRewrite(t, url, ReplacedPath, rewriteCase{path: "/x", status: 200, uri: "/z", values: []string{"/x", "/a b"}})
}

// buildWarnings builds one middleware and returns its warnings.
func buildWarnings(t *testing.T, kind, config string) []string {
	t.Helper()
	def := &spec.Middleware{Name: "default-test@kubernetescrd", Kind: kind, Config: json.RawMessage(config)}
	b := Build(map[string]*spec.Middleware{def.Name: def}, BuildContext{})[def.Name]
	if b.Err != nil {
		t.Fatal(b.Err)
	}
	return b.Warnings
}
