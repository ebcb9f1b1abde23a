package middleware

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/k8swatch/crd"
)

// The configuration type has the CRD's fields, names and types.
func TestHeadersConfigMatchesCRD(t *testing.T) {
	k, ok := Lookup("headers")
	if !ok {
		t.Fatal("headers is not registered")
	}
	fields := func(typ reflect.Type) map[string]string {
		out := map[string]string{}
		for f := range typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			out[name] = f.Type.String()
		}
		return out
	}
	got, want := fields(k.ConfigType()), fields(reflect.TypeFor[crd.Headers]())
	if !reflect.DeepEqual(got, want) {
		t.Errorf("config fields %v, CRD fields %v", got, want)
	}
}

// respondWith is a backend that sets the given headers (name: value pairs,
// repeated names added) and answers 200 with body.
func respondWith(body string, hdr ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, h := range hdr {
			k, v, _ := strings.Cut(h, ":")
			w.Header().Add(k, strings.TrimSpace(v))
		}
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, body)
	})
}

// answeredHeader drops what the backend's server and the transport add (Date,
// Content-Length) from a response header, for comparing with Traefik's
// recorder-based expectations.
func answeredHeader(h http.Header) http.Header {
	out := h.Clone()
	out.Del("Date")
	out.Del("Content-Length")
	return out
}

// seeRequest is a middleware that records the Request its next handler sees.
func seeRequest(seen *Request) Middleware {
	return func(next Handler) Handler {
		return func(ctx *fasthttp.RequestCtx, r *Request) {
			*seen = *r
			seen.Host = append([]byte(nil), r.Host...)
			next(ctx, r)
		}
	}
}

// secureConn marks requests as read over TLS (Request.Secure), as the entry point
// does for a TLS connection.
var secureConn Middleware = func(next Handler) Handler {
	return func(ctx *fasthttp.RequestCtx, r *Request) {
		r.Secure = true
		next(ctx, r)
	}
}

// rawRequest writes a raw HTTP/1 request to the front server and reads the
// answer (absolute-form targets, HTTP/1.0 without Host).
func rawRequest(t *testing.T, url, raw string) (*http.Response, string) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// headersWarnings builds one headers middleware and returns its warnings.
func headersWarnings(t *testing.T, config string) (Middleware, []string) {
	t.Helper()
	def := &spec.Middleware{Name: "default-test@kubernetescrd", Kind: "headers", Config: json.RawMessage(config)}
	b := Build(map[string]*spec.Middleware{def.Name: def}, BuildContext{})[def.Name]
	if b.Err != nil {
		t.Fatal(b.Err)
	}
	return b.Wrap, b.Warnings
}

// Traefik's TestNewHeader_customRequestHeader and
// TestNew_customHeaders, on what reaches a real backend (the client sends
// Foo: bar and an X-Forwarded-For of its own).
func TestHeadersCustomRequest(t *testing.T) {
	tests := []struct {
		desc, config string
		want         map[string][]string // nil: absent
		noXFF        bool
	}{
		{"adds a header", `{"X-Custom-Request-Header":"test_request"}`,
			map[string][]string{"Foo": {"bar"}, "X-Custom-Request-Header": {"test_request"}, "X-Forwarded-For": {"6.6.6.6"}}, false},
		{"delete a header", `{"X-Forwarded-For":"","X-Custom-Request-Header":"","Foo":""}`,
			map[string][]string{"Foo": nil, "X-Custom-Request-Header": nil, "X-Forwarded-For": nil}, true},
		{"override a header", `{"Foo":"test"}`, map[string][]string{"Foo": {"test"}}, false},
		// Only Traefik's exact spelling keeps the proxy from adding the
		// client back (the engine's test covers the forwarding).
		{"delete another spelling of X-Forwarded-For", `{"x-forwarded-for":""}`,
			map[string][]string{"X-Forwarded-For": nil, "Foo": {"bar"}}, false},
		{"names are canonicalised", `{"x-custom":"v"}`, map[string][]string{"X-Custom": {"v"}}, false},
		{"values are trimmed as Go writes them", `{"X-Custom":"  v \t"}`, map[string][]string{"X-Custom": {"v"}}, false},
		{"an empty value of a missing header", `{"X-Missing":""}`, map[string][]string{"X-Missing": nil, "Foo": {"bar"}}, false},
		{"framing headers have no effect", `{"Content-Length":"5","Transfer-Encoding":"chunked"}`,
			map[string][]string{"Foo": {"bar"}, "Transfer-Encoding": nil}, false},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			var seen Request
			url := front(t, nil, buildOne(t, "headers", `{"customRequestHeaders":`+tc.config+`}`), seeRequest(&seen))
			e := echoed(t, url+"/foo", "Foo: bar", "Foo: baz", "X-Forwarded-For: 6.6.6.6")
			for k, v := range tc.want {
				if got := e.Header[k]; k == "Foo" && v != nil && v[0] == "bar" {
					if !slices.Equal(got, []string{"bar", "baz"}) {
						t.Errorf("%s = %q, want the client's", k, got)
					}
				} else if !slices.Equal(got, v) {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if seen.NoXFF != tc.noXFF {
				t.Errorf("NoXFF = %v, want %v", seen.NoXFF, tc.noXFF)
			}
		})
	}
	// The custom response header of Traefik's TestNew_customHeaders.
	url := front(t, respondWith(""), buildOne(t, "headers",
		`{"customRequestHeaders":{"X-Custom-Request-Header":"test_request"},"customResponseHeaders":{"X-Custom-Response-Header":"test_response"}}`))
	if resp := do(t, "GET", url+"/foo", nil); resp.StatusCode != 200 || resp.Header.Get("X-Custom-Response-Header") != "test_response" {
		t.Errorf("status %d, response header %q", resp.StatusCode, resp.Header.Get("X-Custom-Response-Header"))
	}
}

// Traefik's TestNewHeader_customRequestHeader_Host: a custom Host is the
// request's host from then on (forwarded, seen by later middlewares).
func TestHeadersCustomRequestHost(t *testing.T) {
	tests := []struct{ desc, config, wantHost, wantCanon string }{
		{"standard Host header", `{"X-Other":"1"}`, "example.org", "example.org"},
		{"custom Host header", `{"Host":"example.com"}`, "example.com", "example.com"},
		{"any spelling, with a port", `{"host":"example.com:8080"}`, "example.com:8080", "example.com"},
		{"Request.Host is canonical", `{"Host":"EXAMPLE.com."}`, "example.com.", "example.com."},
		{"an empty Host changes nothing", `{"Host":""}`, "example.org", "example.org"},
		{"an international name goes as punycode", `{"Host":"bücher.example"}`, "xn--bcher-kva.example", "bücher.example"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			var seen Request
			url := front(t, nil, buildOne(t, "headers", `{"customRequestHeaders":`+tc.config+`}`), seeRequest(&seen))
			if e := echoed(t, url+"/foo", "Host: example.org"); e.Host != tc.wantHost {
				t.Errorf("backend Host %q, want %q", e.Host, tc.wantHost)
			}
			if string(seen.Host) != tc.wantCanon {
				t.Errorf("Request.Host %q, want %q", seen.Host, tc.wantCanon)
			}
		})
	}
}

// Traefik's TestNewHeader_CORSPreflights, and the "*" rules with
// credentials: the middleware answers 200 itself with the CORS headers and
// Content-Length: 0 only.
func TestHeadersCORSPreflight(t *testing.T) {
	traefikReq := []string{"Access-Control-Request-Headers: origin", "Access-Control-Request-Method: GET",
		"Access-Control-Request-Method: OPTIONS", "Origin: https://foo.bar.org"}
	noACRH := traefikReq[1:]
	tests := []struct {
		desc, config string
		req          []string
		want         http.Header
	}{
		{"Test Simple Preflight",
			`{"accessControlAllowMethods":["GET","OPTIONS","PUT"],"accessControlAllowOriginList":["https://foo.bar.org"],"accessControlMaxAge":600}`,
			traefikReq, http.Header{"Content-Length": {"0"}, "Access-Control-Allow-Origin": {"https://foo.bar.org"},
				"Access-Control-Max-Age": {"600"}, "Access-Control-Allow-Methods": {"GET,OPTIONS,PUT"}}},
		{"Wildcard origin Preflight",
			`{"accessControlAllowMethods":["GET","OPTIONS","PUT"],"accessControlAllowOriginList":["*"],"accessControlMaxAge":600}`,
			traefikReq, http.Header{"Content-Length": {"0"}, "Access-Control-Allow-Origin": {"*"},
				"Access-Control-Max-Age": {"600"}, "Access-Control-Allow-Methods": {"GET,OPTIONS,PUT"}}},
		{"Allow Credentials Preflight",
			`{"accessControlAllowMethods":["GET","OPTIONS","PUT"],"accessControlAllowOriginList":["*"],"accessControlAllowCredentials":true,"accessControlMaxAge":600}`,
			traefikReq, http.Header{"Content-Length": {"0"}, "Access-Control-Allow-Origin": {"https://foo.bar.org"},
				"Access-Control-Max-Age": {"600"}, "Access-Control-Allow-Methods": {"GET,OPTIONS,PUT"},
				"Access-Control-Allow-Credentials": {"true"}}},
		{"Allow Headers Preflight",
			`{"accessControlAllowMethods":["GET","OPTIONS","PUT"],"accessControlAllowOriginList":["*"],"accessControlAllowHeaders":["origin","X-Forwarded-For"],"accessControlMaxAge":600}`,
			traefikReq, http.Header{"Content-Length": {"0"}, "Access-Control-Allow-Origin": {"*"},
				"Access-Control-Max-Age": {"600"}, "Access-Control-Allow-Methods": {"GET,OPTIONS,PUT"},
				"Access-Control-Allow-Headers": {"origin,X-Forwarded-For"}}},
		{"No Request Headers Preflight",
			`{"accessControlAllowMethods":["GET","OPTIONS","PUT"],"accessControlAllowOriginList":["*"],"accessControlAllowHeaders":["origin","X-Forwarded-For"],"accessControlMaxAge":600}`,
			noACRH, http.Header{"Content-Length": {"0"}, "Access-Control-Allow-Origin": {"*"},
				"Access-Control-Max-Age": {"600"}, "Access-Control-Allow-Methods": {"GET,OPTIONS,PUT"},
				"Access-Control-Allow-Headers": {"origin,X-Forwarded-For"}}},
		{"Nil MaxAge Preflight",
			`{"accessControlAllowMethods":["GET","OPTIONS","PUT"],"accessControlAllowOriginList":["*"]}`,
			noACRH, http.Header{"Content-Length": {"0"}, "Access-Control-Allow-Origin": {"*"},
				"Access-Control-Allow-Methods": {"GET,OPTIONS,PUT"}}},
		{"wildcard headers with credentials echo the requested ones",
			`{"accessControlAllowHeaders":["*"],"accessControlAllowCredentials":true}`,
			traefikReq, http.Header{"Content-Length": {"0"}, "Access-Control-Allow-Credentials": {"true"},
				"Access-Control-Allow-Headers": {"origin"}}},
		{"wildcard headers with credentials and none requested",
			`{"accessControlAllowHeaders":["*","X-A"],"accessControlAllowCredentials":true}`,
			noACRH, http.Header{"Content-Length": {"0"}, "Access-Control-Allow-Credentials": {"true"}}},
		{"wildcard headers without credentials are sent as they are",
			`{"accessControlAllowHeaders":["*"]}`,
			traefikReq, http.Header{"Content-Length": {"0"}, "Access-Control-Allow-Headers": {"*"}}},
		{"wildcard methods with credentials echo the first requested",
			`{"accessControlAllowMethods":["*"],"accessControlAllowCredentials":true}`,
			traefikReq, http.Header{"Content-Length": {"0"}, "Access-Control-Allow-Credentials": {"true"},
				"Access-Control-Allow-Methods": {"GET"}}},
		{"expose headers", `{"accessControlExposeHeaders":["X-A","X-B"]}`,
			traefikReq, http.Header{"Content-Length": {"0"}, "Access-Control-Expose-Headers": {"X-A,X-B"}}},
		{"wildcard expose headers with credentials are not sent",
			`{"accessControlExposeHeaders":["*"],"accessControlAllowCredentials":true}`,
			traefikReq, http.Header{"Content-Length": {"0"}, "Access-Control-Allow-Credentials": {"true"}}},
		{"an origin regexp", `{"accessControlAllowOriginListRegex":["^https://[a-z]+\\.bar\\.org$"]}`,
			traefikReq, http.Header{"Content-Length": {"0"}, "Access-Control-Allow-Origin": {"https://foo.bar.org"}}},
		{"an origin not allowed", `{"accessControlAllowOriginList":["https://other.org"],"accessControlMaxAge":0}`,
			traefikReq, http.Header{"Content-Length": {"0"}, "Access-Control-Max-Age": {"0"}}},
		{"the first matching entry decides", `{"accessControlAllowOriginList":["https://foo.bar.org","*"],"accessControlAllowCredentials":true}`,
			traefikReq, http.Header{"Content-Length": {"0"}, "Access-Control-Allow-Credentials": {"true"},
				"Access-Control-Allow-Origin": {"https://foo.bar.org"}}},
		// The preflight is answeredHeader before the security checks and
		// without the custom response headers.
		{"before allowedHosts, security and custom headers",
			`{"accessControlMaxAge":5,"allowedHosts":["nowhere.test"],"frameDeny":true,"customResponseHeaders":{"X-A":"1"},"customRequestHeaders":{"Host":"nowhere.test"}}`,
			traefikReq, http.Header{"Content-Length": {"0"}, "Access-Control-Max-Age": {"5"}}},
	}
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Header().Set("X-Backend", "reached") })
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			url := front(t, backend, buildOne(t, "headers", tc.config))
			resp := do(t, "OPTIONS", url+"/foo", nil, tc.req...)
			body, _ := io.ReadAll(resp.Body)
			got := resp.Header.Clone()
			got.Del("Date")
			if resp.StatusCode != 200 || len(body) != 0 || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("status %d, body %q, headers %v; want 200, no body, %v", resp.StatusCode, body, got, tc.want)
			}
		})
	}
	// Not preflights: they reach the backend.
	url := front(t, backend, buildOne(t, "headers", `{"accessControlAllowOriginList":["*"],"accessControlMaxAge":600}`))
	for _, c := range []struct {
		method string
		hdr    []string
	}{
		{"OPTIONS", []string{"Access-Control-Request-Method: GET"}},
		{"OPTIONS", []string{"Origin: https://foo.bar.org"}},
		{"OPTIONS", []string{"Origin: https://foo.bar.org", "Access-Control-Request-Method: "}},
		{"GET", traefikReq},
	} {
		if resp := do(t, c.method, url+"/foo", nil, c.hdr...); resp.Header.Get("X-Backend") != "reached" || resp.Header.Get("Access-Control-Max-Age") != "" {
			t.Errorf("%s %q: not forwarded (%v)", c.method, c.hdr, resp.Header)
		}
	}
}

// Traefik's TestNewHeader_CORSResponses, and the empty-origin cases that
// follow from Traefik's matching.
func TestHeadersCORSResponses(t *testing.T) {
	origin := "Origin: https://foo.bar.org"
	tests := []struct {
		desc, config string
		backend      []string // headers the backend sets
		req          []string
		want         http.Header
	}{
		{"Test Simple Request", `{"accessControlAllowOriginList":["https://foo.bar.org"]}`, nil, []string{origin},
			http.Header{"Access-Control-Allow-Origin": {"https://foo.bar.org"}}},
		{"Wildcard origin Request", `{"accessControlAllowOriginList":["*"]}`, nil, []string{origin},
			http.Header{"Access-Control-Allow-Origin": {"*"}}},
		{"Regexp Origin Request", `{"accessControlAllowOriginListRegex":["^https?://([a-z]+)\\.bar\\.org$"]}`, nil, []string{origin},
			http.Header{"Access-Control-Allow-Origin": {"https://foo.bar.org"}}},
		{"Partial Regexp Origin Request", `{"accessControlAllowOriginListRegex":["([a-z]+)\\.bar"]}`, nil, []string{origin},
			http.Header{"Access-Control-Allow-Origin": {"https://foo.bar.org"}}},
		{"Regexp Origin Request without matching", `{"accessControlAllowOriginListRegex":["([a-z]+)\\.bar\\.org"]}`, nil,
			[]string{"Origin: https://bar.org"}, http.Header{}},
		{"Empty origin Request", `{"accessControlAllowOriginList":["https://foo.bar.org"]}`, nil, nil, http.Header{}},
		{"Allow Credentials Request", `{"accessControlAllowOriginList":["*"],"accessControlAllowCredentials":true}`, nil, []string{origin},
			http.Header{"Access-Control-Allow-Origin": {"https://foo.bar.org"}, "Access-Control-Allow-Credentials": {"true"}}},
		{"Expose Headers Request", `{"accessControlAllowOriginList":["*"],"accessControlExposeHeaders":["origin","X-Forwarded-For"]}`, nil, []string{origin},
			http.Header{"Access-Control-Allow-Origin": {"*"}, "Access-Control-Expose-Headers": {"origin,X-Forwarded-For"}}},
		{"Test Simple Request with Vary Headers", `{"accessControlAllowOriginList":["https://foo.bar.org"],"addVaryHeader":true}`, nil, []string{origin},
			http.Header{"Access-Control-Allow-Origin": {"https://foo.bar.org"}, "Vary": {"Origin"}}},
		{"Test Simple Request with Vary Headers and non-empty response", `{"accessControlAllowOriginList":["https://foo.bar.org"],"addVaryHeader":true}`,
			[]string{"Vary: Testing"}, []string{origin},
			http.Header{"Access-Control-Allow-Origin": {"https://foo.bar.org"}, "Vary": {"Testing,Origin"}}},
		{"Test Simple Request with Vary Headers and existing vary:origin response", `{"accessControlAllowOriginList":["https://foo.bar.org"],"addVaryHeader":true}`,
			[]string{"Vary: Origin"}, []string{origin},
			http.Header{"Access-Control-Allow-Origin": {"https://foo.bar.org"}, "Vary": {"Origin"}}},
		{"Test Simple Request with non-empty response: set ACAO", `{"accessControlAllowOriginList":["*"]}`,
			[]string{"Access-Control-Allow-Origin: http://foo.bar.org"}, []string{origin},
			http.Header{"Access-Control-Allow-Origin": {"*"}}},
		{"Test Simple Request with non-empty response: add ACAO", `{"accessControlAllowOriginList":["*"]}`,
			[]string{"Access-Control-Allow-Origin: http://foo.bar.org", "Access-Control-Allow-Origin: http://other.org"}, []string{origin},
			http.Header{"Access-Control-Allow-Origin": {"*"}}},
		{"Test Simple CustomRequestHeaders Not Hijacked by CORS", `{"customRequestHeaders":{"foo":"bar"}}`, nil,
			[]string{"Access-Control-Request-Headers: origin", "Access-Control-Request-Method: GET", origin}, http.Header{}},
		// Traefik reads the first Vary line, and replaces every line.
		{"several Vary lines", `{"addVaryHeader":true}`, []string{"Vary: Accept", "Vary: Cookie"}, nil,
			http.Header{"Vary": {"Accept,Origin"}}},
		{"Vary without an origin list", `{"addVaryHeader":true}`, nil, nil, http.Header{"Vary": {"Origin"}}},
		{"wildcard expose headers with credentials are not sent", `{"accessControlExposeHeaders":["*"],"accessControlAllowCredentials":true}`, nil, []string{origin},
			http.Header{"Access-Control-Allow-Credentials": {"true"}}},
		// "*" matches a request without Origin too: with credentials the
		// (empty) origin is answeredHeader.
		{"wildcard without an Origin", `{"accessControlAllowOriginList":["*"]}`, nil, nil,
			http.Header{"Access-Control-Allow-Origin": {"*"}}},
		{"wildcard with credentials without an Origin", `{"accessControlAllowOriginList":["*"],"accessControlAllowCredentials":true}`, nil, nil,
			http.Header{"Access-Control-Allow-Origin": {""}, "Access-Control-Allow-Credentials": {"true"}}},
		{"a regexp matching the empty origin", `{"accessControlAllowOriginListRegex":[".*"]}`, nil, nil,
			http.Header{"Access-Control-Allow-Origin": {""}}},
		{"the first Origin line is matched", `{"accessControlAllowOriginList":["https://b.org"]}`, nil,
			[]string{"Origin: https://a.org", "Origin: https://b.org"}, http.Header{}},
		// The Origin the response is matched with is the forwarded one,
		// after the custom request headers.
		{"a custom Origin", `{"accessControlAllowOriginListRegex":["^https://"],"customRequestHeaders":{"Origin":"https://set.org"}}`, nil,
			[]string{origin}, http.Header{"Access-Control-Allow-Origin": {"https://set.org"}}},
		{"preflight-only options change nothing", `{"accessControlMaxAge":10,"accessControlAllowMethods":["GET"],"accessControlAllowHeaders":["X"]}`, nil,
			[]string{origin}, http.Header{}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			url := front(t, respondWith("", tc.backend...), buildOne(t, "headers", tc.config))
			resp := do(t, "GET", url+"/foo", nil, tc.req...)
			if got := answeredHeader(resp.Header); resp.StatusCode != 200 || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("status %d, headers %v; want %v", resp.StatusCode, got, tc.want)
			}
		})
	}
}

// Traefik's TestNewHeader_customResponseHeaders (the backend sets Foo:
// bar), and Go's Header.Set semantics on several lines and cookies.
func TestHeadersCustomResponse(t *testing.T) {
	tests := []struct {
		desc, config string
		backend      []string
		want         http.Header
	}{
		{"Test Simple Response", `{"Testing":"foo","Testing2":"bar"}`, []string{"Foo: bar"},
			http.Header{"Foo": {"bar"}, "Testing": {"foo"}, "Testing2": {"bar"}}},
		{"empty Custom Header", `{"Testing":"foo","Testing2":""}`, []string{"Foo: bar"},
			http.Header{"Foo": {"bar"}, "Testing": {"foo"}}},
		{"Deleting Custom Header", `{"Testing":"foo","Foo":""}`, []string{"Foo: bar"},
			http.Header{"Testing": {"foo"}}},
		{"every line is replaced", `{"foo":"one"}`, []string{"Foo: a", "Foo: b"}, http.Header{"Foo": {"one"}}},
		{"every line is deleted", `{"Foo":""}`, []string{"Foo: a", "Foo: b", "Bar: c"}, http.Header{"Bar": {"c"}}},
		{"cookies are replaced", `{"Set-Cookie":"c=3"}`, []string{"Set-Cookie: a=1", "Set-Cookie: b=2"}, http.Header{"Set-Cookie": {"c=3"}}},
		{"cookies are deleted", `{"Set-Cookie":""}`, []string{"Set-Cookie: a=1", "Set-Cookie: b=2"}, http.Header{}},
		{"Content-Type", `{"Content-Type":"text/x-custom"}`, []string{"Content-Type: text/plain"}, http.Header{"Content-Type": {"text/x-custom"}}},
		{"no Content-Type", `{"Content-Type":""}`, []string{"Content-Type: text/plain"}, http.Header{}},
		{"Server", `{"Server":"edge"}`, []string{"Server: upstream"}, http.Header{"Server": {"edge"}}},
		{"line breaks become spaces", `{"X-A":" a\r\nb\n"}`, nil, http.Header{"X-A": {"a  b"}}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			url := front(t, respondWith("", tc.backend...), buildOne(t, "headers", `{"customResponseHeaders":`+tc.config+`}`))
			resp := do(t, "GET", url+"/foo", nil)
			if got := answeredHeader(resp.Header); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("headers %v, want %v", got, tc.want)
			}
		})
	}
	// Without a Content-Length the answer is chunked, its body intact.
	url := front(t, respondWith("hello", "Content-Type: text/plain"), buildOne(t, "headers", `{"customResponseHeaders":{"Content-Length":""}}`))
	resp := do(t, "GET", url+"/foo", nil)
	if body, _ := io.ReadAll(resp.Body); string(body) != "hello" || resp.ContentLength != -1 || !slices.Equal(resp.TransferEncoding, []string{"chunked"}) {
		t.Errorf("body %q, length %d, transfer encoding %v", body, resp.ContentLength, resp.TransferEncoding)
	}
}

// Traefik's Test_newSecure_modifyResponse and TestNew_allowedHosts, with
// unrolled/secure's own cases for the options Traefik passes it.
func TestHeadersSecure(t *testing.T) {
	const hpkp = `pin-sha256="cUPcTAZWKaASuYWhhneDttWpY3oBAkE3h2+soZS7sWs="; max-age=5184000; includeSubdomains`
	const xfpHTTPS = `"sslProxyHeaders":{"X-Forwarded-Proto":"https"}`
	badHost := func(extra http.Header) http.Header {
		h := http.Header{"Content-Type": {"text/plain; charset=utf-8"}, "X-Content-Type-Options": {"nosniff"}}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	tests := []struct {
		desc, config string
		secureConn   bool
		backend      []string
		req          []string
		status       int
		want         http.Header
	}{
		// Traefik's table.
		{"PermissionsPolicy", `{"permissionsPolicy":"microphone=(),"}`, false, nil, nil, 200, http.Header{"Permissions-Policy": {"microphone=(),"}}},
		{"STSSeconds", `{"stsSeconds":1,"forceSTSHeader":true}`, false, nil, nil, 200, http.Header{"Strict-Transport-Security": {"max-age=1"}}},
		{"STSSeconds and STSPreload", `{"stsSeconds":1,"forceSTSHeader":true,"stsPreload":true}`, false, nil, nil, 200,
			http.Header{"Strict-Transport-Security": {"max-age=1; preload"}}},
		{"CustomFrameOptionsValue", `{"customFrameOptionsValue":"foo"}`, false, nil, nil, 200, http.Header{"X-Frame-Options": {"foo"}}},
		{"FrameDeny", `{"frameDeny":true}`, false, nil, nil, 200, http.Header{"X-Frame-Options": {"DENY"}}},
		{"ContentTypeNosniff", `{"contentTypeNosniff":true}`, false, nil, nil, 200, http.Header{"X-Content-Type-Options": {"nosniff"}}},
		{"STSSeconds zero", `{"stsSeconds":0}`, true, nil, nil, 200, http.Header{}},
		// Allowed hosts (Traefik's TestNew_allowedHosts, unrolled/secure's).
		{"a host in the list", `{"allowedHosts":["foo.com","bar.com"]}`, false, nil, []string{"Host: foo.com"}, 200, http.Header{}},
		{"a host not in the list", `{"allowedHosts":["foo.com","bar.com"]}`, false, nil, []string{"Host: boo.com"}, 500, badHost(nil)},
		{"hosts compare without case", `{"allowedHosts":["www.example.com"]}`, false, nil, []string{"Host: WWW.Example.COM"}, 200, http.Header{}},
		{"the host's port counts", `{"allowedHosts":["www.example.com"]}`, false, nil, []string{"Host: www.example.com:80"}, 500, badHost(nil)},
		{"an empty list allows any host", `{"allowedHosts":[],"frameDeny":true}`, false, nil, []string{"Host: any.com"}, 200,
			http.Header{"X-Frame-Options": {"DENY"}}},
		{"development allows any host", `{"allowedHosts":["www.example.com"],"isDevelopment":true}`, false, nil, []string{"Host: www3.example.com"}, 200, http.Header{}},
		{"a good host in a proxy header", `{"allowedHosts":["www.example.com"],"hostsProxyHeaders":["X-Proxy-Host"]}`, false, nil,
			[]string{"Host: example-internal", "X-Proxy-Host: www.example.com"}, 200, http.Header{}},
		{"a bad host in a proxy header", `{"allowedHosts":["sub.example.com"],"hostsProxyHeaders":["X-Proxy-Host"]}`, false, nil,
			[]string{"Host: sub.example.com", "X-Proxy-Host: www.example.com"}, 500, badHost(nil)},
		{"the first non-empty proxy header", `{"allowedHosts":["b.com"],"hostsProxyHeaders":["X-Missing","x-second","X-Third"]}`, false, nil,
			[]string{"Host: a.com", "X-Second: b.com", "X-Third: c.com"}, 200, http.Header{}},
		{"the entry point's X-Forwarded-Host", `{"allowedHosts":["outside.com"],"hostsProxyHeaders":["X-Forwarded-Host"]}`, false, nil,
			[]string{"Host: inside", "X-Forwarded-Host: outside.com"}, 200, http.Header{}},
		// Strict-Transport-Security: only over HTTPS, unless forced; never
		// in development.
		{"STS without SSL", `{"stsSeconds":315360000}`, false, nil, nil, 200, http.Header{}},
		{"STS without SSL but forced", `{"stsSeconds":315360000,"forceSTSHeader":true}`, false, nil, nil, 200,
			http.Header{"Strict-Transport-Security": {"max-age=315360000"}}},
		{"STS forced in development", `{"stsSeconds":315360000,"forceSTSHeader":true,"isDevelopment":true}`, false, nil, nil, 200, http.Header{}},
		{"STS over TLS", `{"stsSeconds":315360000}`, true, nil, nil, 200, http.Header{"Strict-Transport-Security": {"max-age=315360000"}}},
		{"STS over TLS in development", `{"stsSeconds":315360000,"isDevelopment":true}`, true, nil, nil, 200, http.Header{}},
		{"STS with an SSL proxy header", `{"stsSeconds":315360000,` + xfpHTTPS + `}`, false, nil, []string{"X-Forwarded-Proto: https"}, 200,
			http.Header{"Strict-Transport-Security": {"max-age=315360000"}}},
		{"STS with another proxy header value", `{"stsSeconds":315360000,` + xfpHTTPS + `}`, false, nil, []string{"X-Forwarded-Proto: http"}, 200, http.Header{}},
		{"proxy header values compare exactly", `{"stsSeconds":315360000,` + xfpHTTPS + `}`, false, nil, []string{"X-Forwarded-Proto: HTTPS"}, 200, http.Header{}},
		{"proxy header names do not", `{"stsSeconds":1,"sslProxyHeaders":{"x-forwarded-proto":"https"}}`, false, nil, []string{"X-Forwarded-Proto: https"}, 200,
			http.Header{"Strict-Transport-Security": {"max-age=1"}}},
		{"an empty proxy header value matches a missing header", `{"stsSeconds":1,"sslProxyHeaders":{"X-Missing":""}}`, false, nil, nil, 200,
			http.Header{"Strict-Transport-Security": {"max-age=1"}}},
		{"STS with subdomains", `{"stsSeconds":315360000,"stsIncludeSubdomains":true}`, true, nil, nil, 200,
			http.Header{"Strict-Transport-Security": {"max-age=315360000; includeSubDomains"}}},
		{"STS with preload", `{"stsSeconds":315360000,"stsPreload":true}`, true, nil, nil, 200,
			http.Header{"Strict-Transport-Security": {"max-age=315360000; preload"}}},
		{"STS with subdomains and preload", `{"stsSeconds":315360000,"stsIncludeSubdomains":true,"stsPreload":true}`, true, nil, nil, 200,
			http.Header{"Strict-Transport-Security": {"max-age=315360000; includeSubDomains; preload"}}},
		{"STS replaces the backend's", `{"stsSeconds":5}`, true, []string{"Strict-Transport-Security: max-age=1"}, nil, 200,
			http.Header{"Strict-Transport-Security": {"max-age=5"}}},
		// The other headers.
		{"custom frame value wins over deny", `{"customFrameOptionsValue":"SAMEORIGIN","frameDeny":true}`, false, nil, nil, 200,
			http.Header{"X-Frame-Options": {"SAMEORIGIN"}}},
		{"frame options replace the backend's", `{"frameDeny":true}`, false, []string{"X-Frame-Options: SAMEORIGIN", "X-Frame-Options: x"}, nil, 200,
			http.Header{"X-Frame-Options": {"DENY"}}},
		{"XSS filter", `{"browserXssFilter":true}`, false, nil, nil, 200, http.Header{"X-Xss-Protection": {"1; mode=block"}}},
		{"custom XSS value", `{"customBrowserXSSValue":"0"}`, false, nil, nil, 200, http.Header{"X-Xss-Protection": {"0"}}},
		{"custom XSS value wins over the filter", `{"customBrowserXSSValue":"1; report=https://example.com","browserXssFilter":true}`, false, nil, nil, 200,
			http.Header{"X-Xss-Protection": {"1; report=https://example.com"}}},
		{"CSP", `{"contentSecurityPolicy":"default-src 'self'"}`, false, nil, nil, 200, http.Header{"Content-Security-Policy": {"default-src 'self'"}}},
		{"CSP report only", `{"contentSecurityPolicyReportOnly":"default-src 'self'"}`, false, nil, nil, 200,
			http.Header{"Content-Security-Policy-Report-Only": {"default-src 'self'"}}},
		{"CSP across lines", `{"contentSecurityPolicy":"default-src 'self';\nimg-src *\n"}`, false, nil, nil, 200,
			http.Header{"Content-Security-Policy": {"default-src 'self'; img-src *"}}},
		{"HPKP over TLS", `{"publicKey":` + fmt.Sprintf("%q", hpkp) + `}`, true, nil, nil, 200, http.Header{"Public-Key-Pins": {hpkp}}},
		{"HPKP over a proxy's HTTPS", `{"publicKey":"k",` + xfpHTTPS + `}`, false, nil, []string{"X-Forwarded-Proto: https"}, 200,
			http.Header{"Public-Key-Pins": {"k"}}},
		{"HPKP without SSL", `{"publicKey":"k"}`, false, nil, nil, 200, http.Header{}},
		{"HPKP in development", `{"publicKey":"k","isDevelopment":true}`, true, nil, nil, 200, http.Header{}},
		{"Referrer-Policy", `{"referrerPolicy":"same-origin"}`, false, nil, nil, 200, http.Header{"Referrer-Policy": {"same-origin"}}},
		{"Permissions-Policy", `{"permissionsPolicy":"geolocation=()"}`, false, nil, nil, 200, http.Header{"Permissions-Policy": {"geolocation=()"}}},
		// Traefik v3 no longer passes featurePolicy to unrolled/secure.
		{"Feature-Policy is not sent", `{"featurePolicy":"vibrate 'none'","frameDeny":true}`, false, nil, nil, 200,
			http.Header{"X-Frame-Options": {"DENY"}}},
		{"development keeps the other headers", `{"isDevelopment":true,"frameDeny":true,"contentTypeNosniff":true}`, false, nil, nil, 200,
			http.Header{"X-Frame-Options": {"DENY"}, "X-Content-Type-Options": {"nosniff"}}},
		// Order: the custom response headers come after the security
		// headers (they may remove one); the custom request headers come
		// before the checks.
		{"a custom response header removes a security header", `{"frameDeny":true,"contentTypeNosniff":true,"customResponseHeaders":{"X-Frame-Options":""}}`,
			false, nil, nil, 200, http.Header{"X-Content-Type-Options": {"nosniff"}}},
		{"a custom response header replaces a security header", `{"frameDeny":true,"customResponseHeaders":{"X-Frame-Options":"SAMEORIGIN"}}`,
			false, nil, nil, 200, http.Header{"X-Frame-Options": {"SAMEORIGIN"}}},
		{"a custom request header makes the request HTTPS", `{"stsSeconds":1,` + xfpHTTPS + `,"customRequestHeaders":{"X-Forwarded-Proto":"https"}}`,
			false, nil, nil, 200, http.Header{"Strict-Transport-Security": {"max-age=1"}}},
		{"a custom Host is the checked host", `{"allowedHosts":["good.com"],"customRequestHeaders":{"Host":"good.com"}}`,
			false, nil, []string{"Host: bad.com"}, 200, http.Header{}},
		{"a bad host answer has the custom and CORS headers, not the security ones",
			`{"allowedHosts":["good.com"],"frameDeny":true,"customResponseHeaders":{"X-A":"1"},"accessControlAllowOriginList":["*"],"addVaryHeader":true}`,
			false, nil, []string{"Host: bad.com", "Origin: https://o.org"}, 500,
			badHost(http.Header{"X-A": {"1"}, "Access-Control-Allow-Origin": {"*"}, "Vary": {"Origin"}})},
		{"a bad host answer can lose its nosniff", `{"allowedHosts":["good.com"],"customResponseHeaders":{"X-Content-Type-Options":""}}`,
			false, nil, []string{"Host: bad.com"}, 500, http.Header{"Content-Type": {"text/plain; charset=utf-8"}}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			ms := []Middleware{buildOne(t, "headers", tc.config)}
			if tc.secureConn {
				ms = append([]Middleware{secureConn}, ms...)
			}
			url := front(t, respondWith("bar", tc.backend...), ms...)
			resp := do(t, "GET", url+"/foo", nil, tc.req...)
			body, _ := io.ReadAll(resp.Body)
			wantBody := "bar"
			if tc.status == 500 {
				wantBody = "Bad Host\n"
			}
			got := answeredHeader(resp.Header)
			if tc.status == 200 {
				got.Del("Content-Type") // Go's sniffing of "bar"
			}
			if resp.StatusCode != tc.status || string(body) != wantBody || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("status %d, body %q, headers %v; want %d, %q, %v", resp.StatusCode, body, got, tc.status, wantBody, tc.want)
			}
		})
	}
}

// What Go's Request gives unrolled/secure on unusual request lines: an
// absolute https target is HTTPS and names the host; a request without a
// Host has an empty host.
func TestHeadersSecureRequestLine(t *testing.T) {
	url := front(t, respondWith("bar"), buildOne(t, "headers", `{"stsSeconds":1,"allowedHosts":["good.com"]}`))
	// The harness cannot forward an https target to its plain backend
	// (502), but the answer still goes through the middleware.
	tests := []struct {
		raw    string
		status int
		sts    string
	}{
		{"GET https://good.com/foo HTTP/1.1\r\nHost: bad.com\r\n\r\n", 502, "max-age=1"},
		{"GET HTTPS://good.com/foo HTTP/1.1\r\nHost: good.com\r\n\r\n", 502, "max-age=1"},
		{"GET http://good.com/foo HTTP/1.1\r\nHost: bad.com\r\n\r\n", 200, ""},
		{"GET http://user@good.com/foo HTTP/1.1\r\nHost: bad.com\r\n\r\n", 200, ""},
		{"GET http://bad.com/foo HTTP/1.1\r\nHost: good.com\r\n\r\n", 500, ""},
		{"GET /foo HTTP/1.1\r\nHost: good.com\r\n\r\n", 200, ""},
		{"GET /foo HTTP/1.0\r\n\r\n", 500, ""},
	}
	for _, tc := range tests {
		resp, _ := rawRequest(t, url, tc.raw)
		if resp.StatusCode != tc.status || resp.Header.Get("Strict-Transport-Security") != tc.sts {
			t.Errorf("%q: status %d, STS %q; want %d, %q", tc.raw, resp.StatusCode, resp.Header.Get("Strict-Transport-Security"), tc.status, tc.sts)
		}
	}
}

// unrolled/secure's $NONCE: a fresh nonce per request (16 random bytes,
// unpadded base64), the same in both policies; once one policy has it,
// both go through fmt, with fmt's quirks.
func TestHeadersCSPNonce(t *testing.T) {
	nonceRe := regexp.MustCompile(`^script-src 'nonce-([A-Za-z0-9+/]{22})'$`)
	nonceOf := func(t *testing.T, h http.Header) string {
		t.Helper()
		m := nonceRe.FindStringSubmatch(h.Get("Content-Security-Policy-Report-Only"))
		if m == nil {
			t.Fatalf("report-only policy %q", h.Get("Content-Security-Policy-Report-Only"))
		}
		return m[1]
	}
	const ro = `"contentSecurityPolicyReportOnly":"script-src $NONCE"`
	tests := []struct {
		desc, csp string
		want      func(nonce string) string
	}{
		{"a nonce in both", "default-src $NONCE; img-src $NONCE", func(n string) string { return "default-src 'nonce-" + n + "'; img-src 'nonce-" + n + "'" }},
		{"a policy without one gets fmt's EXTRA", "default-src 'self'", func(n string) string { return "default-src 'self'%!(EXTRA string=" + n + ")" }},
		{"a verb of one's own", "a %[1]s b", func(n string) string { return "a " + n + " b" }},
		{"a verb that is no insertion", "x %.3[1]s $NONCE", func(n string) string { return "x " + n[:3] + " 'nonce-" + n + "'" }},
		{"a percent sign", "100% $NONCE", func(n string) string { return "100%!'(string=" + n + ")nonce-" + n + "'" }},
		{"across lines", "\n default-src $NONCE;\nimg-src *\n", func(n string) string { return "default-src 'nonce-" + n + "'; img-src *" }},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			csp, _ := json.Marshal(tc.csp)
			url := front(t, respondWith("", "Content-Security-Policy: upstream"), buildOne(t, "headers", `{"contentSecurityPolicy":`+string(csp)+`,`+ro+`}`))
			seen := map[string]bool{}
			for range 3 {
				resp := do(t, "GET", url+"/", nil)
				n := nonceOf(t, resp.Header)
				if got := resp.Header.Values("Content-Security-Policy"); len(got) != 1 || got[0] != tc.want(n) {
					t.Errorf("policy %q, want %q", got, tc.want(n))
				}
				seen[n] = true
			}
			if len(seen) != 3 {
				t.Errorf("nonces repeat: %v", seen)
			}
		})
	}
}

// ChangesResponse is set only when the answer will be changed.
func TestHeadersChangesResponse(t *testing.T) {
	for config, want := range map[string]bool{
		`{"customRequestHeaders":{"X-A":"1"}}`:                false,
		`{"customResponseHeaders":{"X-A":"1"}}`:               true,
		`{"accessControlMaxAge":5}`:                           false,
		`{"accessControlAllowOriginList":["*"]}`:              true,
		`{"allowedHosts":["127.0.0.1"]}`:                      false,
		`{"stsSeconds":1}`:                                    true,
		`{"sslRedirect":true}`:                                false,
		`{"frameDeny":true}`:                                  true,
		`{"contentSecurityPolicyReportOnly":"a"}`:             true,
		`{"isDevelopment":true,"publicKey":"k"}`:              false,
		`{"customRequestHeaders":{"X-A":"1"},"stsSeconds":0}`: false,
	} {
		var seen Request
		url := front(t, nil, buildOne(t, "headers", config), seeRequest(&seen))
		echoed(t, url+"/", "Host: 127.0.0.1")
		if seen.ChangesResponse != want {
			t.Errorf("%s: ChangesResponse = %v, want %v", config, seen.ChangesResponse, want)
		}
	}
}

// The options Traefik v3 removed are accepted with a warning and do
// nothing; so are the request framing headers.
func TestHeadersWarnings(t *testing.T) {
	tests := []struct{ config, warning string }{
		{`{"sslRedirect":true}`, "sslRedirect option is deprecated and has no effect"},
		{`{"sslTemporaryRedirect":true,"sslRedirect":true}`, "sslTemporaryRedirect option is deprecated"},
		{`{"sslHost":"secure.example.com","sslForceHost":true}`, "sslHost option is deprecated"},
		{`{"sslForceHost":true}`, "sslForceHost option is deprecated"},
		{`{"featurePolicy":"vibrate 'none'"}`, "featurePolicy option is deprecated and has no effect (Traefik v3 removed it), please use permissionsPolicy instead"},
		{`{"customRequestHeaders":{"Content-Length":"1"}}`, "Content-Length has no effect"},
	}
	for _, tc := range tests {
		m, warnings := headersWarnings(t, tc.config)
		if !slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, tc.warning) }) {
			t.Errorf("%s: warnings %q, want %q", tc.config, warnings, tc.warning)
		}
		url := front(t, respondWith("bar"), m)
		resp := do(t, "GET", url+"/foo", nil, "Host: www.example.com")
		if got := answeredHeader(resp.Header); resp.StatusCode != 200 || resp.Header.Get("Location") != "" || got.Get("Feature-Policy") != "" {
			t.Errorf("%s: status %d, headers %v", tc.config, resp.StatusCode, got)
		}
	}
	if _, w := headersWarnings(t, `{"frameDeny":true}`); len(w) != 0 {
		t.Errorf("warnings %q without deprecated options", w)
	}
}

// Bad configurations fail at build time, each with a clear error.
func TestHeadersBadConfig(t *testing.T) {
	tests := []struct{ config, err string }{
		{`{}`, "headers configuration not valid"},
		{`{"customRequestHeaders":{},"accessControlAllowOriginList":[],"allowedHosts":[]}`, "headers configuration not valid"},
		{`{"sslRedirect":false,"sslHost":""}`, "headers configuration not valid"},
		{`{"accessControlAllowOriginListRegex":["a(b"]}`, "error occurred during origin parsing"},
		{`{"stsSeconds":-1}`, "stsSeconds -1: must be 0 or more"},
		{`{"customRequestHeaders":{"Bad Name":"v"}}`, `customRequestHeaders: "Bad Name" is not a valid header name`},
		{`{"customRequestHeaders":{"":"v"}}`, `customRequestHeaders: "" is not a valid header name`},
		{`{"customResponseHeaders":{"X:Y":"v"}}`, `customResponseHeaders: "X:Y" is not a valid header name`},
		{`{"customRequestHeaders":{"X-A":"a\nb"}}`, "the value of X-A has a control character"},
		{`{"customRequestHeaders":{"Host":"a b"}}`, `Host "a b" is not a valid host`},
		{`{"customRequestHeaders":{"foo":"1","Foo":"2"}}`, `customRequestHeaders: "Foo" and "foo" name the same header`},
		{`{"customResponseHeaders":{"x-a":"","X-A":"2"}}`, `"X-A" and "x-a" name the same header`},
		{`{"customResponseHeaders":{"Content-Length":"5"}}`, "Content-Length cannot be set"},
		{`{"customResponseHeaders":{"Transfer-Encoding":"chunked"}}`, "Transfer-Encoding cannot be set"},
		{`{"frameDeny":true,"bogus":1}`, `"bogus" is not supported`},
		{`{"stsSeconds":"1"}`, "cannot unmarshal"},
	}
	for _, tc := range tests {
		if _, err := tryBuild("headers", tc.config); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: err = %v, want %q", tc.config, err, tc.err)
		}
	}
}
