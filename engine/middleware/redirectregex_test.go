package middleware

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// Traefik's redirect_regex_test.go, every case, then more. Its requests
// are httptest requests whose RequestURI is the absolute URL, without a
// path; here they arrive as a real client sends them (the host in the
// Host header, "/" at least as the path, an https URL over TLS), so the
// URL matched and the Location end in "/".
func TestRedirectRegex(t *testing.T) {
	const fooBar = `{"regex":"^(?:http?:\\/\\/)(foo)(\\.com)(:\\d+)(.*)$","replacement":"https://${1}bar$2:443$4"}`
	const www = `{"regex":"(https?)://[^/:]+(:[0-9]+)?/(.*)","replacement":"$1://example.com$2/$3","permanent":true}`
	tests := []redirectCase{
		// Traefik's table.
		{desc: "simple redirection", config: fooBar, host: "foo.com:80", target: "/", status: 302, location: "https://foobar.com:443/"},
		{desc: "URL doesn't match regex", config: fooBar, host: "bar.com:80", target: "/", status: 200},
		{desc: "invalid rewritten URL", config: `{"regex":"^(.*)$","replacement":"http://192.168.0.%31/"}`, host: "foo.com:80", target: "/", status: 502},
		{desc: "HTTP to HTTPS permanent", config: `{"regex":"^http://","replacement":"https://$1","permanent":true}`, host: "foo", target: "/", status: 301, location: "https://foo/"},
		{desc: "HTTPS to HTTP permanent", config: `{"regex":"https://foo","replacement":"http://foo","permanent":true}`, host: "foo", target: "/", secure: true, status: 301, location: "http://foo/"},
		{desc: "HTTP to HTTPS", config: `{"regex":"http://foo:80","replacement":"https://foo:443"}`, host: "foo:80", target: "/", status: 302, location: "https://foo:443/"},
		// X-Forwarded-Proto plays no part in redirectRegex's URL.
		{desc: "HTTP to HTTPS, with X-Forwarded-Proto", config: `{"regex":"http://foo:80","replacement":"https://foo:443"}`, host: "foo:80", target: "/", header: []string{"X-Forwarded-Proto: https"}, status: 302, location: "https://foo:443/"},
		{desc: "HTTPS to HTTP", config: `{"regex":"https://foo:443","replacement":"http://foo:80"}`, host: "foo:443", target: "/", secure: true, status: 302, location: "http://foo:80/"},
		{desc: "HTTP to HTTP", config: `{"regex":"http://foo:80","replacement":"http://foo:88"}`, host: "foo:80", target: "/", status: 302, location: "http://foo:88/"},
		{desc: "HTTP to HTTP POST", config: `{"regex":"^http://","replacement":"https://$1"}`, method: "POST", host: "foo", target: "/", status: 307, location: "https://foo/"},
		{desc: "www-redirect without port", config: www, host: "www.example.com", target: "/path", status: 301, location: "http://example.com/path"},
		{desc: "www-redirect with port", config: www, host: "www.example.com:8080", target: "/path", status: 301, location: "http://example.com:8080/path"},
		{desc: "www-redirect without port, root path", config: www, host: "www.example.com", target: "/", status: 301, location: "http://example.com/"},
		{desc: "www-redirect HTTPS without port", config: www, host: "www.example.com", target: "/path", secure: true, status: 301, location: "https://example.com/path"},
		{desc: "HTTP to HTTP POST permanent", config: `{"regex":"^http://","replacement":"https://$1","permanent":true}`, method: "POST", host: "foo", target: "/", status: 308, location: "https://foo/"},

		// Statuses.
		{desc: "HEAD", config: `{"regex":"^http://","replacement":"https://"}`, method: "HEAD", host: "foo", target: "/", status: 307, location: "https://foo/"},
		{desc: "DELETE permanent", config: `{"regex":"^http://","replacement":"https://","permanent":true}`, method: "DELETE", host: "foo", target: "/", status: 308, location: "https://foo/"},

		// The URL matched: scheme from TLS, Host as sent (port even when
		// the default, case kept), escaped path and raw query.
		{desc: "default port kept", config: `{"regex":"^http://foo:80/(.*)$","replacement":"https://foo/$1"}`, host: "foo:80", target: "/a?b", status: 302, location: "https://foo/a?b"},
		{desc: "host case kept", config: `{"regex":"^http://Foo\\.COM/","replacement":"https://foo.com/"}`, host: "Foo.COM", target: "/x", status: 302, location: "https://foo.com/x"},
		{desc: "host case kept, no match", config: `{"regex":"^http://foo\\.com/","replacement":"https://foo.com/"}`, host: "Foo.COM", target: "/x", status: 200},
		{desc: "escaped path and query", config: `{"regex":"^http://foo/(.*)$","replacement":"https://bar/$1"}`, host: "foo", target: "/a%2fb/%7e?x=%20;y", status: 302, location: "https://bar/a%2Fb/~?x=%20;y"},
		{desc: "IPv6 host", config: `{"regex":"^http://\\[::1\\]:8080/(.*)$","replacement":"https://[::1]/$1"}`, host: "[::1]:8080", target: "/x", status: 302, location: "https://[::1]/x"},
		{desc: "TLS", config: `{"regex":"^https://","replacement":"http://"}`, host: "foo", target: "/x", secure: true, status: 302, location: "http://foo/x"},
		{desc: "no TLS, no match", config: `{"regex":"^https://","replacement":"http://"}`, host: "foo", target: "/x", status: 200},

		// Replacement: Go's regexp.ReplaceAllString.
		{desc: "named group", config: `{"regex":"^http://foo/(?P<rest>.*)$","replacement":"https://bar/${rest}"}`, host: "foo", target: "/a/b", status: 302, location: "https://bar/a/b"},
		{desc: "$1x is group 1x", config: `{"regex":"^http://foo/(.*)$","replacement":"https://bar/$1x"}`, host: "foo", target: "/a", status: 302, location: "https://bar/"},
		{desc: "every match replaced", config: `{"regex":"o","replacement":"0"}`, host: "foo", target: "/boo", status: 302, location: "http://f00/b00"},
		{desc: "relative target", config: `{"regex":".*","replacement":"/elsewhere?x=1"}`, host: "foo", target: "/a", status: 302, location: "/elsewhere?x=1"},
		// The Location is the target as net/url prints it back.
		{desc: "Location escaped by net/url", config: `{"regex":".*","replacement":"HTTPS://h/a b/é?q=é"}`, host: "foo", target: "/", status: 302, location: "https://h/a%20b/%C3%A9?q=é"},
		{desc: "fragment kept", config: `{"regex":"^(.*)$","replacement":"${1}#top"}`, host: "foo", target: "/a", status: 302, location: "http://foo/a#top"},
		{desc: "user information kept", config: `{"regex":".*","replacement":"https://u:p@h/"}`, host: "foo", target: "/", status: 302, location: "https://u:p@h/"},

		// A replacement giving the same URL passes the request on.
		{desc: "identity passes", config: `{"regex":"^(.*)$","replacement":"$1"}`, host: "foo:8080", target: "/a%2Fb?x=1;y", status: 200},
		{desc: "identity over IPv6 passes", config: `{"regex":"^(.*)$","replacement":"$1"}`, host: "[::1]:8080", target: "/a?b", status: 200},
		{desc: "empty regex, empty replacement", config: `{}`, host: "foo", target: "/a", status: 200},

		// URLs net/url refuses: 502.
		{desc: "bad escape", config: `{"regex":".*","replacement":"https://h/%zz"}`, host: "foo", target: "/", status: 502},
		{desc: "bad port", config: `{"regex":".*","replacement":"https://h:8a/"}`, host: "foo", target: "/", status: 502},
		{desc: "colon in a relative path", config: `{"regex":".*","replacement":"a:b/c"}`, host: "foo", target: "/", status: 302, location: "a:b/c"},
		{desc: "colon first", config: `{"regex":".*","replacement":":x"}`, host: "foo", target: "/", status: 502},
		{desc: "IPv4 in brackets", config: `{"regex":".*","replacement":"https://[1.2.3.4]/"}`, host: "foo", target: "/", status: 502},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			runRedirect(t, "redirectRegex", tc)
		})
	}
}

// The URL matched is the one left by the middlewares before: a path
// rewritten by stripPrefix is redirected, not the one the client sent.
func TestRedirectRegexAfterRewrite(t *testing.T) {
	base := front(t, nil, buildOne(t, "stripPrefix", `{"prefixes":["/api"]}`),
		buildOne(t, "redirectRegex", `{"regex":"^http://foo/(.*)$","replacement":"https://bar/$1"}`))
	resp := do(t, "GET", base+"/api/a%2Fb?q", nil, "Host: foo")
	if got := resp.Header.Get("Location"); resp.StatusCode != 302 || got != "https://bar/a%2Fb?q" {
		t.Errorf("status %d, Location %q", resp.StatusCode, got)
	}
}

func TestRedirectRegexConfig(t *testing.T) {
	for _, tc := range []struct{ config, err string }{
		{`{"regex":"^(.*","replacement":"$1"}`, "error parsing regexp: missing closing ): `^(.*`"},
		{`{"regex":"a","replacement":"b","statusCode":301}`, `option "statusCode" is not supported by edgeroute`},
		{`{"regex":"a","permanent":"yes"}`, "cannot unmarshal string"},
	} {
		if _, err := tryBuild("redirectRegex", tc.config); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: err = %v, want %q", tc.config, err, tc.err)
		}
	}
	for config, warned := range map[string]bool{`{}`: true, `{"replacement":"x"}`: true, `{"regex":"a"}`: false} {
		def := &spec.Middleware{Name: "w@kubernetescrd", Kind: "redirectRegex", Config: json.RawMessage(config)}
		b := Build(map[string]*spec.Middleware{def.Name: def}, BuildContext{})[def.Name]
		if b.Err != nil || (len(b.Warnings) > 0) != warned {
			t.Errorf("%s: err %v, warnings %q", config, b.Err, b.Warnings)
		}
	}
}
