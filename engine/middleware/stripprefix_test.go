package middleware

import (
	"testing"
)

// Cases from Traefik's strip_prefix_test.go, checked on what reaches a
// real backend: the request URI (EscapedPath, "/" for an empty path) and
// X-Forwarded-Prefix.
func TestStripPrefix(t *testing.T) {
	tests := []struct {
		config, path string
		status       int
		uri, header  string
	}{
		{`{"prefixes":[]}`, "/noprefixes", 200, "/noprefixes", ""},
		{`{"prefixes":["/"]}`, "/", 200, "/", "/"},
		{`{"prefixes":["/stat"]}`, "/stat", 200, "/", "/stat"},
		{`{"prefixes":["/stat/"]}`, "/stat/", 200, "/", "/stat/"},
		{`{"prefixes":["/stat/"]}`, "/stat/us", 200, "/us", "/stat/"},
		{`{"prefixes":["/stat/"]}`, "/status", 200, "/status", ""},
		{`{"prefixes":["/stat"]}`, "/stat/", 200, "/", "/stat"},
		{`{"prefixes":["/stat", "/stat/us"]}`, "/stat/us", 200, "/us", "/stat"},
		{`{"prefixes":["/mismatch", "/stat"]}`, "/stat", 200, "/", "/stat"},
		{`{"prefixes":["/stat"]}`, "/status", 200, "/us", "/stat"},
		{`{"prefixes":["/stat"]}`, "/stat/a%2Fb", 200, "/a%2Fb", "/stat"},
		{`{"prefixes":["/api/"]}`, "/ap%69/a%2Fb", 200, "/a%2Fb", "/api/"},
		{`{"prefixes":["/api"]}`, "/api./foo", 400, "", ""},
		{`{"prefixes":["/api"]}`, "/api../foo", 400, "", ""},
		{`{"prefixes":["/api"],"forceSlash":true}`, "/api../foo", 400, "", ""},
		{`{"prefixes":["/stat"],"forceSlash":true}`, "/stat", 200, "/", "/stat"},
		{`{"prefixes":[" /stat "]}`, "/stat/x?q=1", 200, "/x?q=1", "/stat"},
		{`{"prefixes":["/a b"]}`, "/a%20b/c%20d", 200, "/c%20d", "/a b"},
	}
	for _, tc := range tests {
		t.Run(tc.config+" "+tc.path, func(t *testing.T) {
			url := front(t, nil, buildOne(t, "stripPrefix", tc.config))
			resp := do(t, "GET", url+tc.path, nil)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status != 200 {
				return
			}
			e := echoed(t, url+tc.path)
			if e.URI != tc.uri {
				t.Errorf("upstream URI %q, want %q", e.URI, tc.uri)
			}
			if got := firstOf(e.Header["X-Forwarded-Prefix"]); got != tc.header {
				t.Errorf("X-Forwarded-Prefix %q, want %q", got, tc.header)
			}
		})
	}
}

func firstOf(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// Traefik's forceSlash removes one slash after the prefix (not all), and
// its JoinPath drops a raw path that no longer encodes the stripped path,
// so a later middleware reads the escaped path.
func TestStripPrefixRawPath(t *testing.T) {
	url := front(t, nil, buildOne(t, "stripPrefix", `{"prefixes":["/stat"],"forceSlash":true}`))
	checkRewrite(t, url, ForwardedPrefix, rewriteCase{path: "/stat/%2Fx", status: 200, uri: "/%2Fx", values: []string{"/stat"}})
	url = front(t, nil,
		buildOne(t, "stripPrefix", `{"prefixes":["/a"]}`),
		buildOne(t, "replacePath", `{"path":"/z"}`))
	checkRewrite(t, url, ReplacedPath, rewriteCase{path: "/a%2Fb", status: 200, uri: "/z", values: []string{"/b"}})
}
