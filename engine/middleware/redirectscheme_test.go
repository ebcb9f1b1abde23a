package middleware

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// Traefik's redirect_scheme_test.go, every case, then more. Its requests
// are httptest requests whose RequestURI is the absolute URL; here they
// arrive as a real client sends them: the URL's host in the Host header,
// its path (at least "/") in the request line, and an https URL over TLS.
// Traefik's IPv6 cases with a port are answered as its tests expect; see
// splitHostPort.
func TestRedirectScheme(t *testing.T) {
	xfp := func(v string) []string { return []string{"X-Forwarded-Proto: " + v} }
	tests := []redirectCase{
		// Traefik's table.
		{desc: "HTTP to HTTPS", config: `{"scheme":"https"}`, host: "foo", target: "/", status: 302, location: "https://foo/"},
		{desc: "HTTP to HTTPS, with X-Forwarded-Proto", config: `{"scheme":"https"}`, host: "foo", target: "/", header: xfp("http"), status: 302, location: "https://foo/"},
		{desc: "HTTP to HTTPS, with X-Forwarded-Proto to HTTPS", config: `{"scheme":"https"}`, host: "foo", target: "/", header: xfp("https"), status: 200},
		{desc: "HTTP to HTTPS, with X-Forwarded-Proto to unknown value", config: `{"scheme":"https"}`, host: "foo", target: "/", header: xfp("bar"), status: 302, location: "https://foo/"},
		{desc: "HTTP to HTTPS, with X-Forwarded-Proto to ws", config: `{"scheme":"https"}`, host: "foo", target: "/", header: xfp("ws"), status: 302, location: "https://foo/"},
		{desc: "HTTP to HTTPS, with X-Forwarded-Proto to wss", config: `{"scheme":"https"}`, host: "foo", target: "/", header: xfp("wss"), status: 200},
		{desc: "HTTP with port to HTTPS without port", config: `{"scheme":"https"}`, host: "foo:8080", target: "/", status: 302, location: "https://foo/"},
		{desc: "HTTP without port to HTTPS with port", config: `{"scheme":"https","port":"8443"}`, host: "foo", target: "/", status: 302, location: "https://foo:8443/"},
		{desc: "HTTP with port to HTTPS with port", config: `{"scheme":"https","port":"8443"}`, host: "foo:8000", target: "/", status: 302, location: "https://foo:8443/"},
		{desc: "HTTPS with port to HTTPS with port", config: `{"scheme":"https","port":"8443"}`, host: "foo:8000", target: "/", secure: true, status: 302, location: "https://foo:8443/"},
		{desc: "HTTPS with port to HTTPS without port", config: `{"scheme":"https"}`, host: "foo:8000", target: "/", secure: true, status: 302, location: "https://foo/"},
		{desc: "redirection to HTTPS without port from an URL already in https", config: `{"scheme":"https"}`, host: "foo:8000", target: "/theother", secure: true, status: 302, location: "https://foo/theother"},
		{desc: "HTTP to HTTPS permanent", config: `{"scheme":"https","port":"8443","permanent":true}`, host: "foo", target: "/", status: 301, location: "https://foo:8443/"},
		// Traefik's two ForcePermanentRedirect cases: an internal option of
		// its ingress-nginx provider, not in the CRD (refused below).
		{desc: "to HTTP 80", config: `{"scheme":"http","port":"80"}`, host: "foo:80", target: "/", status: 200},
		{desc: "to HTTPS 443", config: `{"scheme":"https","port":"443"}`, host: "foo:443", target: "/", secure: true, status: 200},
		{desc: "HTTP to wss", config: `{"scheme":"wss","port":"9443"}`, host: "foo", target: "/", status: 302, location: "wss://foo:9443/"},
		{desc: "HTTP to wss without port", config: `{"scheme":"wss"}`, host: "foo", target: "/", status: 302, location: "wss://foo/"},
		{desc: "HTTP with port to wss without port", config: `{"scheme":"wss"}`, host: "foo:5678", target: "/", status: 302, location: "wss://foo/"},
		{desc: "HTTP to HTTPS without port", config: `{"scheme":"https"}`, host: "foo:443", target: "/", status: 302, location: "https://foo/"},
		{desc: "HTTP port redirection", config: `{"scheme":"http","port":"8181"}`, host: "foo:8080", target: "/", status: 302, location: "http://foo:8181/"},
		{desc: "HTTPS with port 80 to HTTPS without port", config: `{"scheme":"https"}`, host: "foo:80", target: "/", secure: true, status: 302, location: "https://foo/"},
		{desc: "IPV6 HTTP to HTTPS redirection without port", config: `{"scheme":"https"}`, host: "[::1]", target: "/", status: 302, location: "https://[::1]/"},
		{desc: "IPV6 HTTP to HTTPS redirection with port", config: `{"scheme":"https","port":"8443"}`, host: "[::1]", target: "/", status: 302, location: "https://[::1]:8443/"},
		{desc: "IPV6 HTTP with port 80 to HTTPS redirection without port", config: `{"scheme":"https"}`, host: "[::1]:80", target: "/", status: 302, location: "https://[::1]/"},
		{desc: "IPV6 HTTP with port 80 to HTTPS redirection with port", config: `{"scheme":"https","port":"8443"}`, host: "[::1]:80", target: "/", status: 302, location: "https://[::1]:8443/"},

		// Statuses: 302 for GET only (HEAD too gets 307), 301/308 when permanent.
		{desc: "POST", config: `{"scheme":"https"}`, method: "POST", host: "foo", target: "/", status: 307, location: "https://foo/"},
		{desc: "HEAD", config: `{"scheme":"https"}`, method: "HEAD", host: "foo", target: "/", status: 307, location: "https://foo/"},
		{desc: "lower-case get is not GET", config: `{"scheme":"https"}`, method: "get", host: "foo", target: "/", status: 307, location: "https://foo/"},
		{desc: "PUT permanent", config: `{"scheme":"https","permanent":true}`, method: "PUT", host: "foo", target: "/", status: 308, location: "https://foo/"},
		{desc: "HEAD permanent", config: `{"scheme":"https","permanent":true}`, method: "HEAD", host: "foo", target: "/", status: 308, location: "https://foo/"},

		// The request URI is kept: escaped path, raw query (';' too, '?' alone).
		{desc: "path and query", config: `{"scheme":"https"}`, host: "foo", target: "/a/b?x=1&y=%20;z", status: 302, location: "https://foo/a/b?x=1&y=%20;z"},
		{desc: "escaped slash", config: `{"scheme":"https"}`, host: "foo", target: "/a%2fb", status: 302, location: "https://foo/a%2Fb"},
		{desc: "empty query", config: `{"scheme":"https"}`, host: "foo", target: "/p?", status: 302, location: "https://foo/p?"},
		{desc: "as the entry point normalised it", config: `{"scheme":"https"}`, host: "foo", target: "/%7euser/./x//y/../z", status: 302, location: "https://foo/~user/x/z"},
		{desc: "what net/url escapes", config: `{"scheme":"https"}`, host: "foo", target: "/a%7Bb%7D/%C3%A9", status: 302, location: "https://foo/a%7Bb%7D/%C3%A9"},
		// The host as sent, case kept.
		{desc: "host case", config: `{"scheme":"https"}`, host: "Foo.Example.COM:8000", target: "/", status: 302, location: "https://Foo.Example.COM/"},
		{desc: "an IPv4 host", config: `{"scheme":"https","port":"8443"}`, host: "127.0.0.1:80", target: "/", status: 302, location: "https://127.0.0.1:8443/"},
		// Characters the pattern's host group stops at end up after the
		// port, as in Traefik: net/url then refuses the URL.
		{desc: "host the pattern splits", config: `{"scheme":"https","port":"8443"}`, host: "fo~o", target: "/", status: 502},
		{desc: "host the pattern splits, no port", config: `{"scheme":"https"}`, host: "fo~o", target: "/", status: 302, location: "https://fo~o/"},

		// Nothing to do: the target scheme and port already.
		{desc: "HTTPS on 443 to https", config: `{"scheme":"https"}`, host: "foo:443", target: "/x?y=1", secure: true, status: 200},
		{desc: "HTTPS to https", config: `{"scheme":"https"}`, host: "foo", target: "/a%2Fb?q;r", secure: true, status: 200},
		{desc: "HTTP on the target port", config: `{"scheme":"http","port":"8080"}`, host: "foo:8080", target: "/x", status: 200},
		{desc: "HTTP with port 80 to http", config: `{"scheme":"http"}`, host: "foo:80", target: "/x", status: 200},
		{desc: "X-Forwarded-Proto HTTPS, case folded", config: `{"scheme":"https"}`, host: "foo", target: "/", header: xfp("HTTPS"), status: 200},
		{desc: "X-Forwarded-Proto http over TLS", config: `{"scheme":"https"}`, host: "foo", target: "/", secure: true, header: xfp("http"), status: 302, location: "https://foo/"},
		{desc: "X-Forwarded-Proto https drops :443", config: `{"scheme":"https"}`, host: "foo:443", target: "/", header: xfp("https"), status: 200},
		{desc: "the first X-Forwarded-Proto", config: `{"scheme":"https"}`, host: "foo", target: "/", header: []string{"X-Forwarded-Proto: http", "X-Forwarded-Proto: https"}, status: 302, location: "https://foo/"},
		{desc: "IPv6 on the target port", config: `{"scheme":"https","port":"8443"}`, host: "[::1]:8443", target: "/", secure: true, status: 200},

		// Traefik compares the scheme and port as written: these always redirect.
		{desc: "upper-case scheme", config: `{"scheme":"HTTPS"}`, host: "foo", target: "/", secure: true, status: 302, location: "https://foo/"},
		{desc: "https and port 80", config: `{"scheme":"https","port":"80"}`, host: "foo", target: "/", secure: true, status: 302, location: "https://foo:80/"},
		{desc: "https and port 80, there already", config: `{"scheme":"https","port":"80"}`, host: "foo:80", target: "/", secure: true, status: 200},
		// Bad URLs: net/url refuses them, Traefik answers 502.
		{desc: "port not a number", config: `{"scheme":"https","port":"abc"}`, host: "foo", target: "/", status: 502},
		{desc: "host with an empty port", config: `{"scheme":"https","port":"8443"}`, host: "foo:", target: "/", status: 502},
		{desc: "host with an empty port, none wanted", config: `{"scheme":"https"}`, host: "foo:", target: "/x", status: 302, location: "https://foo:/x"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			runRedirect(t, "redirectScheme", tc)
		})
	}
}

func TestRedirectSchemeConfig(t *testing.T) {
	for _, tc := range []struct{ config, err string }{
		{`{}`, "you must provide a target scheme"},
		{`{"port":"443"}`, "you must provide a target scheme"},
		{`{"scheme":"https","forcePermanentRedirect":true}`, `option "forcePermanentRedirect" is not supported by edgeroute`},
		{`{"scheme":"https","port":443}`, "cannot unmarshal number"},
	} {
		if _, err := tryBuild("redirectScheme", tc.config); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: err = %v, want %q", tc.config, err, tc.err)
		}
	}
	for config, warned := range map[string]bool{`{"scheme":"https","port":"abc"}`: true, `{"scheme":"https","port":"8443"}`: false, `{"scheme":"https"}`: false} {
		def := &spec.Middleware{Name: "w@kubernetescrd", Kind: "redirectScheme", Config: json.RawMessage(config)}
		b := Build(map[string]*spec.Middleware{def.Name: def}, BuildContext{})[def.Name]
		if b.Err != nil || (len(b.Warnings) > 0) != warned {
			t.Errorf("%s: err %v, warnings %q", config, b.Err, b.Warnings)
		}
	}
}
