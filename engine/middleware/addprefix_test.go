package middleware

import (
	"strings"
	"testing"
)

// Cases from Traefik's add_prefix_test.go, on what reaches a real backend.
func TestAddPrefix(t *testing.T) {
	tests := []struct{ prefix, path, uri string }{
		{"/abc", "/", "/abc/"},
		{"/abc", "/b", "/abc/b"},
		{"abc", "/b", "/abc/b"}, // a leading slash is ensured
		{"/a", "/b%2Fc", "/a/b%2Fc"},
		{"/a", "/b?x=1&y", "/a/b?x=1&y"},
		{"/a%20b", "/c", "/a%2520b/c"}, // the prefix is a decoded path
	}
	for _, tc := range tests {
		t.Run(tc.prefix+" "+tc.path, func(t *testing.T) {
			url := front(t, nil, buildOne(t, "addPrefix", `{"prefix":"`+tc.prefix+`"}`))
			if e := echoed(t, url+tc.path); e.URI != tc.uri {
				t.Errorf("upstream URI %q, want %q", e.URI, tc.uri)
			}
		})
	}
	if _, err := tryBuild("addPrefix", `{}`); err == nil || !strings.Contains(err.Error(), "prefix cannot be empty") {
		t.Errorf("empty prefix: err = %v", err)
	}
	if _, err := tryBuild("addPrefix", `{"prefix":"/a","bogus":1}`); err == nil || !strings.Contains(err.Error(), `"bogus" is not supported`) {
		t.Errorf("unknown option: err = %v", err)
	}
}
