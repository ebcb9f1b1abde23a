package middleware

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// The auth server of these tests: a net/http server on loopback that
// records every request as it arrived and answers with answer (200 with
// no body when nil).

type faSeen struct {
	Method, URI, Host, Proto string
	Header                   http.Header
	TE                       []string
	ContentLength            int64
	Body                     string
	PeerCN                   string
}

type faAuthServer struct {
	mu     sync.Mutex
	seen   []faSeen
	answer http.HandlerFunc
}

func (a *faAuthServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s := faSeen{Method: r.Method, URI: r.RequestURI, Host: r.Host, Proto: r.Proto, Header: r.Header.Clone(),
		TE: r.TransferEncoding, ContentLength: r.ContentLength, Body: string(body)}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		s.PeerCN = r.TLS.PeerCertificates[0].Subject.CommonName
	}
	a.mu.Lock()
	a.seen = append(a.seen, s)
	a.mu.Unlock()
	if a.answer != nil {
		a.answer(w, r)
	}
}

func (a *faAuthServer) calls() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.seen)
}

func (a *faAuthServer) last(t *testing.T) faSeen {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.seen) == 0 {
		t.Fatal("the auth server was not called")
	}
	return a.seen[len(a.seen)-1]
}

// faAuth starts an auth server answering with answer; it returns the
// server and its URL.
func faAuth(t *testing.T, answer http.HandlerFunc) (*faAuthServer, string) {
	t.Helper()
	a := &faAuthServer{answer: answer}
	return a, "http://" + serveLoopback(t, a)
}

// faConfig is a forwardAuth configuration: the address, then more fields
// as JSON (without braces).
func faConfig(address, more string) string {
	addr, _ := json.Marshal(address)
	if more == "" {
		return fmt.Sprintf(`{"address":%s}`, addr)
	}
	return fmt.Sprintf(`{"address":%s,%s}`, addr, more)
}

// faBuild builds a forwardAuth middleware and returns what Build made of
// it (its error and warnings).
func faBuild(config string) *Built {
	def := &spec.Middleware{Name: "default-test@kubernetescrd", Kind: "forwardAuth", Config: json.RawMessage(config)}
	return Build(map[string]*spec.Middleware{def.Name: def}, BuildContext{})[def.Name]
}

// faRaw sends a raw HTTP/1.1 request to the front server (base URL) and
// returns the response with its body read: the tests control every header
// line (none is added).
func faRaw(t *testing.T, base, raw string) (*http.Response, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// faGet builds a raw GET of target for host with the given header lines.
func faGet(target, host string, lines ...string) string {
	return faRequest("GET", target, host, "", lines...)
}

func faRequest(method, target, host, body string, lines ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, target, host)
	for _, l := range lines {
		b.WriteString(l + "\r\n")
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	return b.String()
}

// faEcho decodes the echo backend's answer.
func faEcho(t *testing.T, body string) echo {
	t.Helper()
	var e echo
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("backend answer %q: %v", body, err)
	}
	return e
}

func boolp(b bool) *bool { return &b }

// Traefik's TestForwardAuthFail: a non-2xx answer goes back to the
// client, its headers (Proxy-Authenticate included) and body.
func TestForwardAuthFail(t *testing.T) {
	a, addr := faAuth(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Proxy-Authenticate", "test")
		http.Error(w, "Forbidden", http.StatusForbidden)
	})
	url := front(t, respondWith("traefik\n"), buildOne(t, "forwardAuth", faConfig(addr, "")))
	resp := do(t, "GET", url+"/", nil)
	if body := readAll(t, resp); resp.StatusCode != 403 || body != "Forbidden\n" || resp.Header.Get("Proxy-Authenticate") != "test" {
		t.Errorf("status %d, body %q, headers %v", resp.StatusCode, body, resp.Header)
	}
	if a.calls() != 1 {
		t.Errorf("%d auth calls", a.calls())
	}
}

// Traefik's TestForwardAuthSuccess: authResponseHeaders and the regex copy
// the auth answer's headers onto the request (replacing the client's, and
// removing those the answer lacks), addAuthCookiesToResponse moves its
// cookies to the response.
func TestForwardAuthSuccess(t *testing.T) {
	_, addr := faAuth(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Auth-User", "user@example.com")
		w.Header().Set("X-Auth-Secret", "secret")
		w.Header().Add("X-Auth-Group", "group1")
		w.Header().Add("X-Auth-Group", "group2")
		w.Header().Add("Foo-Bar", "auth-value")
		w.Header().Add("Set-Cookie", "authCookie=Auth")
		w.Header().Add("Set-Cookie", "authCookieNotAdded=Auth")
		fmt.Fprintln(w, "Success")
	})
	var seen http.Header
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Clone()
		w.Header().Add("Set-Cookie", "authCookie=Backend")
		w.Header().Add("Set-Cookie", "backendCookie=Backend")
		w.Header().Add("Other-Header", "BackendHeaderValue")
		fmt.Fprintln(w, "traefik")
	})
	m := buildOne(t, "forwardAuth", faConfig(addr, `"authResponseHeaders":["X-Auth-User","X-Auth-Group"],
		"authResponseHeadersRegex":"^Foo-","addAuthCookiesToResponse":["authCookie"]`))
	url := front(t, backend, m)
	resp := do(t, "GET", url+"/", nil, "X-Auth-Group: admin_group", "Foo-Bar: client-value", "Foo-Baz: client-value",
		"X-Auth-User: spoofed")
	body := readAll(t, resp)
	if resp.StatusCode != 200 || body != "traefik\n" {
		t.Fatalf("status %d, body %q", resp.StatusCode, body)
	}
	if got := resp.Header["Set-Cookie"]; !slices.Equal(got, []string{"backendCookie=Backend", "authCookie=Auth"}) {
		t.Errorf("Set-Cookie %q", got)
	}
	if got := resp.Header["Other-Header"]; !slices.Equal(got, []string{"BackendHeaderValue"}) {
		t.Errorf("Other-Header %q", got)
	}
	want := map[string][]string{"X-Auth-User": {"user@example.com"}, "X-Auth-Group": {"group1", "group2"},
		"Foo-Bar": {"auth-value"}, "X-Auth-Secret": nil, "Foo-Baz": nil}
	for k, v := range want {
		if !slices.Equal(seen[k], v) {
			t.Errorf("backend saw %s: %q, want %q", k, seen[k], v)
		}
	}
}

// An authResponseHeaders entry the answer lacks removes the client's
// header; a header matching the regex is removed too. Headers that set
// the framing or the Host have no effect, as on Traefik's request.
func TestForwardAuthResponseHeaders(t *testing.T) {
	_, addr := faAuth(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Host", "evil.example.com")
		w.Header().Set("X-Id-Token", "t1")
		w.Header().Add("X-Id-Token", "t2")
		w.Header().Set("x-id-role", "admin")
		w.Header().Set("User-Agent", "auth-agent")
	})
	tests := []struct {
		name, config string
		client       []string
		want         map[string][]string
	}{
		{"listed, absent from the answer", `"authResponseHeaders":["x-auth-user"]`,
			[]string{"X-Auth-User: spoofed"}, map[string][]string{"X-Auth-User": nil}},
		{"listed, in lower case", `"authResponseHeaders":["x-id-token"]`,
			[]string{"X-Id-Token: spoofed"}, map[string][]string{"X-Id-Token": {"t1", "t2"}}},
		{"regex", `"authResponseHeadersRegex":"^X-Id-"`,
			[]string{"X-Id-Other: spoofed", "X-Id-Role: user"}, map[string][]string{"X-Id-Other": nil, "X-Id-Role": {"admin"}, "X-Id-Token": {"t1", "t2"}}},
		{"Host has no effect", `"authResponseHeaders":["Host"]`, nil, map[string][]string{"Host": nil}},
		{"User-Agent is copied", `"authResponseHeaders":["User-Agent"]`, []string{"User-Agent: client"},
			map[string][]string{"User-Agent": {"auth-agent"}}},
		{"regex on Content-Length has no effect", `"authResponseHeadersRegex":"^Content-Length$"`, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url := front(t, nil, buildOne(t, "forwardAuth", faConfig(addr, tc.config)))
			resp, body := faRaw(t, url, faRequest("POST", "/", "foo.bar", "hello", append(tc.client, "Content-Length: 5")...))
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			e := faEcho(t, body)
			if e.Host != "foo.bar" || e.Body != "hello" {
				t.Errorf("backend saw host %q, body %q", e.Host, e.Body)
			}
			for k, v := range tc.want {
				if !slices.Equal(e.Header[k], v) {
					t.Errorf("backend saw %s: %q, want %q", k, e.Header[k], v)
				}
			}
		})
	}
}

// Traefik's forwardBody cases: the body goes to the auth server (and on
// to the backend) within maxBodySize; over it the answer is 401 without
// asking the auth server; without forwardBody the auth server gets none.
func TestForwardAuthForwardBody(t *testing.T) {
	const data = "forwardBodyTest"
	tests := []struct {
		name, config string
		raw          string
		status       int
		authBody     string // "-": not called
		authTE       []string
		authCL       int64
		backendBody  string
	}{
		{"within maxBodySize", `"forwardBody":true,"maxBodySize":15`,
			faRequest("GET", "/", "foo.bar", data, "Content-Length: 15"), 200, data, nil, 15, data},
		{"over maxBodySize", `"forwardBody":true,"maxBodySize":14`,
			faRequest("GET", "/", "foo.bar", data, "Content-Length: 15"), 401, "-", nil, 0, ""},
		{"no limit", `"forwardBody":true,"maxBodySize":-1`,
			faRequest("POST", "/", "foo.bar", data, "Content-Length: 15"), 200, data, nil, 15, data},
		{"limit unset", `"forwardBody":true`,
			faRequest("POST", "/", "foo.bar", data, "Content-Length: 15"), 200, data, nil, 15, data},
		{"empty body", `"forwardBody":true,"maxBodySize":10`,
			faGet("/", "foo.bar"), 200, "", nil, 0, ""},
		{"not forwarded", ``,
			faRequest("POST", "/", "foo.bar", data, "Content-Length: 15"), 200, "", nil, 0, data},
		{"chunked stays chunked", `"forwardBody":true,"maxBodySize":100`,
			faRequest("POST", "/", "foo.bar", "5\r\nforwa\r\na\r\nrdBodyTest\r\n0\r\n\r\n", "Transfer-Encoding: chunked"),
			200, data, []string{"chunked"}, -1, data},
		{"chunked over maxBodySize", `"forwardBody":true,"maxBodySize":14`,
			faRequest("POST", "/", "foo.bar", "5\r\nforwa\r\na\r\nrdBodyTest\r\n0\r\n\r\n", "Transfer-Encoding: chunked"),
			401, "-", nil, 0, ""},
		// Traefik reads a bounded body with io.ReadFull, which yields
		// nothing for an empty one, and Go's client refuses a request of
		// unknown length without a body: 500.
		{"empty chunked body with maxBodySize", `"forwardBody":true,"maxBodySize":10`,
			faRequest("POST", "/", "foo.bar", "0\r\n\r\n", "Transfer-Encoding: chunked"), 500, "-", nil, 0, ""},
		{"empty chunked body without limit", `"forwardBody":true`,
			faRequest("POST", "/", "foo.bar", "0\r\n\r\n", "Transfer-Encoding: chunked"), 200, "", nil, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, addr := faAuth(t, nil)
			var backendCalls atomic.Int32
			backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				backendCalls.Add(1)
				echoBackend(w, r)
			})
			url := front(t, backend, buildOne(t, "forwardAuth", faConfig(addr, tc.config)))
			resp, body := faRaw(t, url, tc.raw)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.authBody == "-" {
				if a.calls() != 0 || backendCalls.Load() != 0 {
					t.Errorf("auth called %d times, backend %d", a.calls(), backendCalls.Load())
				}
				if body != "" {
					t.Errorf("body %q", body)
				}
				return
			}
			s := a.last(t)
			if s.Body != tc.authBody || !slices.Equal(s.TE, tc.authTE) || s.ContentLength != tc.authCL {
				t.Errorf("auth got body %q, TE %q, length %d", s.Body, s.TE, s.ContentLength)
			}
			if e := faEcho(t, body); e.Body != tc.backendBody {
				t.Errorf("backend got body %q", e.Body)
			}
		})
	}
}

// The method of the auth request is GET, or the client's with
// preserveRequestMethod (Traefik's TestForwardAuthPreserveRequestMethod);
// a body-less POST carries Content-Length: 0, as Go's client sends it.
func TestForwardAuthRequestMethod(t *testing.T) {
	for _, tc := range []struct {
		preserve      bool
		method, want  string
		contentLength []string
	}{
		{true, "POST", "POST", []string{"0"}},
		{false, "POST", "GET", nil},
		{true, "PUT", "PUT", []string{"0"}},
		{true, "GET", "GET", nil},
	} {
		a, addr := faAuth(t, nil)
		url := front(t, nil, buildOne(t, "forwardAuth", faConfig(addr, fmt.Sprintf(`"preserveRequestMethod":%v`, tc.preserve))))
		resp, body := faRaw(t, url, faRequest(tc.method, "/", "foo.bar", "", "Content-Length: 0"))
		if resp.StatusCode != 200 || faEcho(t, body).Method != tc.method {
			t.Errorf("%v %s: status %d, backend %s", tc.preserve, tc.method, resp.StatusCode, body)
		}
		s := a.last(t)
		if s.Method != tc.want || !slices.Equal(s.Header["Content-Length"], tc.contentLength) {
			t.Errorf("%v %s: auth got %s, Content-Length %q", tc.preserve, tc.method, s.Method, s.Header["Content-Length"])
		}
		if s.Header.Get("X-Forwarded-Method") != tc.method {
			t.Errorf("X-Forwarded-Method %q", s.Header.Get("X-Forwarded-Method"))
		}
	}
}

// Traefik's TestForwardAuthRedirect and TestForwardAuthRemoveHopByHopHeaders:
// a redirect of the auth server is not followed but returned, without its
// hop-by-hop headers.
func TestForwardAuthRedirect(t *testing.T) {
	var targetCalls atomic.Int32
	_, addr := faAuth(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/target" {
			targetCalls.Add(1)
			return
		}
		for _, h := range []string{"Connection", "Keep-Alive", "Te", "Trailers", "Upgrade"} {
			w.Header().Add(h, "test")
		}
		w.Header().Set("Transfer-Encoding", "chunked")
		http.Redirect(w, r, "http://example.com/redirect-test", http.StatusFound)
	})
	url := front(t, respondWith("traefik\n"), buildOne(t, "forwardAuth", faConfig(addr+"/auth", "")))
	resp := do(t, "GET", url+"/", nil)
	body := readAll(t, resp)
	if resp.StatusCode != 302 || resp.Header.Get("Location") != "http://example.com/redirect-test" || body == "" {
		t.Errorf("status %d, Location %q, body %q", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	for _, h := range []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailers", "Upgrade"} {
		if v := resp.Header.Get(h); v != "" {
			t.Errorf("hop-by-hop header %s: %q", h, v)
		}
	}
	if resp.TransferEncoding != nil && resp.ContentLength != int64(len(body)) {
		t.Errorf("framing: TE %q, length %d", resp.TransferEncoding, resp.ContentLength)
	}

	// A redirect to a URL of the auth server itself is not followed
	// either.
	_, addr2 := faAuth(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, addr+"/target", http.StatusTemporaryRedirect)
	})
	url = front(t, nil, buildOne(t, "forwardAuth", faConfig(addr2, "")))
	resp = do(t, "GET", url+"/", nil)
	if resp.StatusCode != 307 || resp.Header.Get("Location") != addr+"/target" || targetCalls.Load() != 0 {
		t.Errorf("status %d, Location %q, target calls %d", resp.StatusCode, resp.Header.Get("Location"), targetCalls.Load())
	}
}

// Traefik's TestForwardAuthFailResponseHeaders: the failure's headers are
// exactly the auth server's (its cookies as sent).
func TestForwardAuthFailResponseHeaders(t *testing.T) {
	_, addr := faAuth(t, func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "example", Value: "testing", Path: "/"})
		w.Header().Add("X-Foo", "bar")
		http.Error(w, "Forbidden", http.StatusForbidden)
	})
	url := front(t, respondWith("traefik\n"), buildOne(t, "forwardAuth", faConfig(addr, "")))
	resp := do(t, "GET", url+"/", nil)
	body := readAll(t, resp)
	if resp.StatusCode != 403 || body != "Forbidden\n" {
		t.Fatalf("status %d, body %q", resp.StatusCode, body)
	}
	want := http.Header{
		"Content-Length":         {"10"},
		"Content-Type":           {"text/plain; charset=utf-8"},
		"X-Foo":                  {"bar"},
		"Set-Cookie":             {"example=testing; Path=/"},
		"X-Content-Type-Options": {"nosniff"},
	}
	got := resp.Header.Clone()
	if got.Get("Date") == "" {
		t.Error("no Date")
	}
	got.Del("Date")
	if !equalHeader(got, want) {
		t.Errorf("headers %v, want %v", got, want)
	}
}

func equalHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// Traefik's TestForwardAuthForwardError: an auth server that cannot be
// reached is a 500 with an empty body (and no Content-Type, as behind
// Traefik's entry point); so is an address net/http refuses.
func TestForwardAuthUnreachable(t *testing.T) {
	// An auth server that drops every connection without an answer (a
	// listener kept open: a closed port could be taken again by another
	// test running meanwhile).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	closed := "http://" + ln.Addr().String()
	var called atomic.Bool
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called.Store(true) })
	for _, address := range []string{closed, "ftp://127.0.0.1/", "http:///nohost", "http://127.0.0.1:99999/", "http://%zz/"} {
		b := faBuild(faConfig(address, `"forwardBody":true`))
		if b.Err != nil {
			t.Fatalf("%s: %v", address, b.Err)
		}
		url := front(t, backend, b.Wrap)
		resp, body := faRaw(t, url, faRequest("POST", "/", "foo.bar", "abc", "Content-Length: 3"))
		if resp.StatusCode != 500 || body != "" || resp.Header.Get("Content-Type") != "" || called.Load() {
			t.Errorf("%s: status %d, body %q, headers %v, backend called %v", address, resp.StatusCode, body, resp.Header, called.Load())
		}
		if address != closed && len(b.Warnings) == 0 {
			t.Errorf("%s: no warning", address)
		}
	}
	// A body over maxBodySize is refused before the call fails.
	url := front(t, backend, buildOne(t, "forwardAuth", faConfig("ftp://127.0.0.1/", `"forwardBody":true,"maxBodySize":1`)))
	if resp, _ := faRaw(t, url, faRequest("POST", "/", "foo.bar", "abc", "Content-Length: 3")); resp.StatusCode != 401 {
		t.Errorf("unsendable address, body over the limit: status %d", resp.StatusCode)
	}
}

// The request to the auth server: Traefik's TestForwardAuth_writeHeader
// cases (trustForwardHeader set) and TestForwardAuth_oldWriteHeader
// (unset), each sent as a real request. Their expected headers are the
// header map Traefik hands to Go's client; on the wire that client adds
// Accept-Encoding: gzip (none asked), its own User-Agent when the map has
// none (an empty one sends none) and X-Forwarded-For (the client address,
// which Traefik's unit tests leave out).
func TestForwardAuthRequestHeaders(t *testing.T) {
	hop := []string{"Connection: Connection", "Keep-Alive: KeepAlive", "Proxy-Authenticate: ProxyAuthenticate",
		"Proxy-Authorization: ProxyAuthorization", "Te: Te", "Trailers: Trailers", "Upgrade: Upgrade", "X-CustomHeader: CustomHeader"}
	fwd := func(extra ...string) map[string]string {
		m := map[string]string{"X-Forwarded-Proto": "http", "X-Forwarded-Host": "foo.bar", "X-Forwarded-Uri": "/path?q=1",
			"X-Forwarded-Method": "GET", "X-Forwarded-Port": "80"}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	type tcase struct {
		name     string
		trust    *bool
		headers  []string
		allowed  []string
		emptyUA  bool // the client sends no User-Agent
		want     map[string]string
		complete bool // no other header
	}
	tests := []tcase{
		// writeHeader
		{name: "trust forward header", trust: boolp(true), headers: []string{"Accept: application/json", "X-Forwarded-Host: fii.bir"},
			want: map[string]string{"Accept": "application/json", "X-Forwarded-Host": "fii.bir"}},
		{name: "not trust forward header", trust: boolp(false), headers: []string{"Accept: application/json", "X-Forwarded-Host: fii.bir"},
			want: map[string]string{"Accept": "application/json", "X-Forwarded-Host": "foo.bar"}},
		{name: "trust forward header with forwarded URI", trust: boolp(true),
			headers: []string{"Accept: application/json", "X-Forwarded-Host: fii.bir", "X-Forwarded-Uri: /forward?q=1"},
			want:    map[string]string{"Accept": "application/json", "X-Forwarded-Host": "fii.bir", "X-Forwarded-Uri": "/forward?q=1"}},
		{name: "not trust forward header with forward requested URI", trust: boolp(false),
			headers: []string{"Accept: application/json", "X-Forwarded-Host: fii.bir", "X-Forwarded-Uri: /forward?q=1"},
			want:    map[string]string{"Accept": "application/json", "X-Forwarded-Host": "foo.bar", "X-Forwarded-Uri": "/path?q=1"}},
		{name: "trust forward header with forwarded request Method", trust: boolp(true), headers: []string{"X-Forwarded-Method: OPTIONS"},
			want: map[string]string{"X-Forwarded-Method": "OPTIONS"}},
		{name: "not trust forward header with forward request Method", trust: boolp(false), headers: []string{"X-Forwarded-Method: OPTIONS"},
			want: map[string]string{"X-Forwarded-Method": "GET"}},
		{name: "remove hop-by-hop headers", trust: boolp(false), headers: hop, emptyUA: true, complete: true,
			want: fwd("X-CustomHeader", "CustomHeader", "Proxy-Authenticate", "ProxyAuthenticate",
				"Proxy-Authorization", "ProxyAuthorization", "User-Agent", "")},
		{name: "filter forward request headers", trust: boolp(false), complete: true, emptyUA: true,
			headers: []string{"X-CustomHeader: CustomHeader", "Content-Type: multipart/form-data; boundary=---123456"},
			allowed: []string{"X-CustomHeader"}, want: fwd("X-CustomHeader", "CustomHeader")},
		{name: "filter forward request headers doesn't add new headers", trust: boolp(false), complete: true, emptyUA: true,
			headers: []string{"X-CustomHeader: CustomHeader", "Content-Type: multipart/form-data; boundary=---123456"},
			allowed: []string{"X-CustomHeader", "X-Non-Exists-Header"}, want: fwd("X-CustomHeader", "CustomHeader")},
		{name: "set empty User-Agent header if header is allowed but missing", trust: boolp(false), complete: true, emptyUA: true,
			headers: []string{"X-CustomHeader: CustomHeader", "Accept: application/json"},
			allowed: []string{"X-CustomHeader", "Accept", "User-Agent"},
			want:    fwd("X-CustomHeader", "CustomHeader", "Accept", "application/json", "User-Agent", "")},
		{name: "ignore User-Agent header if header is not allowed and missing", trust: boolp(false), complete: true, emptyUA: true,
			headers: []string{"X-CustomHeader: CustomHeader", "Accept: application/json"},
			allowed: []string{"X-CustomHeader", "Accept"},
			want:    fwd("X-CustomHeader", "CustomHeader", "Accept", "application/json")},
		{name: "set empty User-Agent header if header is missing", trust: boolp(false), complete: true, emptyUA: true,
			headers: []string{"X-CustomHeader: CustomHeader", "Accept: application/json"},
			want:    fwd("X-CustomHeader", "CustomHeader", "Accept", "application/json", "User-Agent", "")},
		{name: "authRequestHeaders and XForwarded are kept if trusted", trust: boolp(true), complete: true, emptyUA: true,
			headers: []string{"X-CustomHeader: CustomHeader", "X-Forwarded-Uri: /path?q=2"},
			allowed: []string{"X-CustomHeader"}, want: fwd("X-CustomHeader", "CustomHeader", "X-Forwarded-Uri", "/path?q=2")},
		{name: "X-Forwarded and X_forwarded headers are removed when not trusted", trust: boolp(false),
			headers: []string{"X-CustomHeader: CustomHeader", "X_forwarded_for: 10.0.0.1", "X-Forwarded-Proto: xxx"},
			want:    fwd("X-CustomHeader", "CustomHeader", "X_forwarded_for", "")},
		{name: "X-Forwarded-Proto is not used to calculate X-Forwarded-Port if trustForwardHeader=false", trust: boolp(false),
			headers: []string{"X-CustomHeader: CustomHeader", "X-Forwarded-Proto: https"}, want: fwd()},
		{name: "X-Forwarded-Proto gives the port when trusted", trust: boolp(true),
			headers: []string{"X-Forwarded-Proto: https"}, want: fwd("X-Forwarded-Proto", "https", "X-Forwarded-Port", "443")},
		{name: "trusted X-Forwarded-For is extended", trust: boolp(true),
			headers: []string{"X-Forwarded-For: 10.0.0.1", "X-Forwarded-For: 10.0.0.2"}, want: map[string]string{"X-Forwarded-For": "10.0.0.1, 10.0.0.2, 127.0.0.1"}},
		{name: "untrusted X-Forwarded-For is replaced", trust: boolp(false),
			headers: []string{"X-Forwarded-For: 10.0.0.1"}, want: map[string]string{"X-Forwarded-For": "127.0.0.1"}},
		{name: "trusted, empty X-Forwarded-For", trust: boolp(true),
			headers: []string{"X-Forwarded-For:"}, want: map[string]string{"X-Forwarded-For": ", 127.0.0.1"}},
		{name: "managed headers removed when not trusted", trust: boolp(false),
			headers: []string{"X-Real-Ip: 10.0.0.1", "X-Forwarded-Server: s", "X-Forwarded-Prefix: /p", "X-Scheme: https"},
			want:    map[string]string{"X-Real-Ip": "", "X-Forwarded-Server": "", "X-Forwarded-Prefix": "", "X-Scheme": ""}},

		// oldWriteHeader
		{name: "old: not trust forward header", headers: []string{"Accept: application/json", "X-Forwarded-Host: fii.bir"},
			want: map[string]string{"Accept": "application/json", "X-Forwarded-Host": "foo.bar"}},
		{name: "old: not trust forward header with forward requested URI",
			headers: []string{"Accept: application/json", "X-Forwarded-Host: fii.bir", "X-Forwarded-Uri: /forward?q=1"},
			want:    map[string]string{"Accept": "application/json", "X-Forwarded-Host": "foo.bar", "X-Forwarded-Uri": "/path?q=1"}},
		{name: "old: not trust forward header with forward request Method", headers: []string{"X-Forwarded-Method: OPTIONS"},
			want: map[string]string{"X-Forwarded-Method": "GET"}},
		{name: "old: remove hop-by-hop headers", headers: hop, emptyUA: true, complete: true,
			want: map[string]string{"X-CustomHeader": "CustomHeader", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "foo.bar",
				"X-Forwarded-Uri": "/path?q=1", "X-Forwarded-Method": "GET", "Proxy-Authenticate": "ProxyAuthenticate",
				"Proxy-Authorization": "ProxyAuthorization"}},
		{name: "old: filter forward request headers", emptyUA: true, complete: true,
			headers: []string{"X-CustomHeader: CustomHeader", "Content-Type: multipart/form-data; boundary=---123456"},
			allowed: []string{"X-CustomHeader"},
			want: map[string]string{"X-CustomHeader": "CustomHeader", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "foo.bar",
				"X-Forwarded-Uri": "/path?q=1", "X-Forwarded-Method": "GET"}},
		{name: "old: X-Forwarded-Prefix is kept for non-breaking behavior", complete: true,
			headers: []string{"X-CustomHeader: CustomHeader", "X-Forwarded-Prefix: foo.bar", "User-Agent: ua"},
			want: map[string]string{"X-CustomHeader": "CustomHeader", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "foo.bar",
				"X-Forwarded-Uri": "/path?q=1", "X-Forwarded-Method": "GET", "X-Forwarded-Prefix": "foo.bar", "User-Agent": "ua"}},
		{name: "old: forwarded headers replaced", headers: []string{"X-Forwarded-For: 10.0.0.1", "X-Forwarded-Proto: https", "X-Forwarded-Port: 1"},
			want: map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "http", "X-Forwarded-Port": "1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, addr := faAuth(t, nil)
			more := ""
			if tc.trust != nil {
				more = fmt.Sprintf(`"trustForwardHeader":%v`, *tc.trust)
			}
			if tc.allowed != nil {
				list, _ := json.Marshal(tc.allowed)
				if more != "" {
					more += ","
				}
				more += `"authRequestHeaders":` + string(list)
			}
			url := front(t, nil, buildOne(t, "forwardAuth", faConfig(addr, more)))
			lines := tc.headers
			if !tc.emptyUA && !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "User-Agent:") }) {
				lines = append(lines, "User-Agent: client-agent")
			}
			resp, body := faRaw(t, url, faGet("/path?q=1", "foo.bar", lines...))
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			got := a.last(t).Header
			// What Go's client adds on the wire.
			want := map[string]string{}
			for k, v := range tc.want {
				want[http.CanonicalHeaderKey(k)] = v
			}
			if _, ok := want["Accept-Encoding"]; !ok {
				want["Accept-Encoding"] = "gzip"
			}
			if _, ok := want["X-Forwarded-For"]; !ok {
				want["X-Forwarded-For"] = "127.0.0.1"
			}
			switch ua, ok := want["User-Agent"]; {
			case ok && ua == "":
				delete(want, "User-Agent")
				if v, ok := got["User-Agent"]; ok {
					t.Errorf("User-Agent %q sent, want none", v)
				}
			case !ok && (tc.emptyUA || tc.allowed != nil):
				want["User-Agent"] = faGoUserAgent
			}
			for k, v := range want {
				if v == "" {
					if vs, ok := got[k]; ok {
						t.Errorf("%s: %q, want none", k, vs)
					}
					continue
				}
				if g := strings.Join(got[k], ", "); g != v {
					t.Errorf("%s: %q, want %q", k, g, v)
				}
			}
			if tc.complete {
				var extra []string
				for k := range got {
					if _, ok := want[k]; !ok {
						extra = append(extra, k)
					}
				}
				sort.Strings(extra)
				if len(extra) > 0 {
					t.Errorf("unexpected headers %v in %v", extra, got)
				}
			}
		})
	}
}

// The rest of what the auth server receives: its address's path, query
// and Host, the client's path as it stands (after a rewrite), its cookie
// lines byte for byte, Connection-listed headers dropped, the address's
// userinfo as Basic credentials when the client sent none.
func TestForwardAuthRequestLine(t *testing.T) {
	a, addr := faAuth(t, nil)
	host := strings.TrimPrefix(addr, "http://")
	strip := buildOne(t, "stripPrefix", `{"prefixes":["/api"]}`)
	fa := buildOne(t, "forwardAuth", faConfig(addr+"/verify?x=1", `"trustForwardHeader":false`))
	url := front(t, nil, strip, fa)
	resp, body := faRaw(t, url, faGet("/api/a%2Fb?q=1&r", "foo.bar:8080", "Cookie: a=1;b=2", "Cookie: c=3",
		"Connection: X-Drop, keep-alive", "X-Drop: 1", "X-Keep: 1"))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	s := a.last(t)
	if s.URI != "/verify?x=1" || s.Host != host || s.Proto != "HTTP/1.1" || s.Method != "GET" {
		t.Errorf("auth request %s %s %s, Host %s", s.Method, s.URI, s.Proto, s.Host)
	}
	if got := s.Header["Cookie"]; !slices.Equal(got, []string{"a=1;b=2", "c=3"}) {
		t.Errorf("Cookie %q", got)
	}
	if s.Header.Get("X-Drop") != "" || s.Header.Get("X-Keep") != "1" || s.Header.Get("Connection") != "" {
		t.Errorf("Connection-listed headers: %v", s.Header)
	}
	if got := s.Header.Get("X-Forwarded-Uri"); got != "/a%2Fb?q=1&r" {
		t.Errorf("X-Forwarded-Uri %q", got)
	}
	if got := s.Header.Get("X-Forwarded-Host"); got != "foo.bar:8080" || s.Header.Get("X-Forwarded-Port") != "8080" {
		t.Errorf("X-Forwarded-Host %q, port %q", got, s.Header.Get("X-Forwarded-Port"))
	}
	if e := faEcho(t, body); e.URI != "/a%2Fb?q=1&r" || e.Host != "foo.bar:8080" {
		t.Errorf("backend got %s, Host %s", e.URI, e.Host)
	}

	// userinfo
	withUser := strings.Replace(addr, "http://", "http://us%40er:p%3Ass@", 1)
	url = front(t, nil, buildOne(t, "forwardAuth", faConfig(withUser, "")))
	faRaw(t, url, faGet("/", "foo.bar"))
	if got := a.last(t).Header.Get("Authorization"); got != "Basic dXNAZXI6cDpzcw==" {
		t.Errorf("Authorization %q", got)
	}
	faRaw(t, url, faGet("/", "foo.bar", "Authorization: Bearer x"))
	if got := a.last(t).Header.Get("Authorization"); got != "Bearer x" {
		t.Errorf("client Authorization %q", got)
	}
	// An empty query ('?') is kept in X-Forwarded-Uri.
	faRaw(t, url, faGet("/p?", "foo.bar"))
	if got := a.last(t).Header.Get("X-Forwarded-Uri"); got != "/p?" {
		t.Errorf("X-Forwarded-Uri %q", got)
	}
}

// Over TLS the X-Forwarded-Proto is https and the port 443.
func TestForwardAuthTLSClient(t *testing.T) {
	a, addr := faAuth(t, nil)
	ca, caKey := testCert(t, nil, nil, "ca", true)
	srv, srvKey := testCert(t, ca, caKey, "127.0.0.1", false)
	cfg := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{srv.Raw}, PrivateKey: srvKey}}}
	base := tlsFront(t, echoBackend, cfg, buildOne(t, "forwardAuth", faConfig(addr, `"trustForwardHeader":false`)))
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest("GET", base+"/x", nil)
	req.Host = "foo.bar"
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := a.last(t).Header
	if resp.StatusCode != 200 || h.Get("X-Forwarded-Proto") != "https" || h.Get("X-Forwarded-Port") != "443" {
		t.Errorf("status %d, auth headers %v", resp.StatusCode, h)
	}
}

// Traefik's TestForwardAuthPreserveLocationHeader, and the default: a
// relative Location of a failure is resolved against the auth request's
// URL.
func TestForwardAuthLocation(t *testing.T) {
	_, addr := faAuth(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", r.URL.Query().Get("loc"))
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
	})
	tests := []struct {
		loc      string
		preserve bool
		want     string
		status   int
	}{
		{"/index.html", true, "/index.html", 401},
		{"/index.html", false, addr + "/index.html", 401},
		{"login?next=/a", false, addr + "/auth/login?next=/a", 401},
		{"../x/./y", false, addr + "/x/y", 401},
		{"https://sso.example.com/a b", false, "https://sso.example.com/a%20b", 401},
		{"https://sso.example.com/a b", true, "https://sso.example.com/a%20b", 401},
		{"", false, "", 401},
		// net/url refuses it: 500, with the headers already copied.
		{"http://[::1", false, "http://[::1", 500},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s %v", tc.loc, tc.preserve), func(t *testing.T) {
			t.Parallel()
			config := faConfig(addr+"/auth/check?loc="+strings.ReplaceAll(tc.loc, " ", "%20"), fmt.Sprintf(`"preserveLocationHeader":%v`, tc.preserve))
			url := front(t, nil, buildOne(t, "forwardAuth", config))
			resp := do(t, "GET", url+"/", nil)
			body := readAll(t, resp)
			if resp.StatusCode != tc.status || resp.Header.Get("Location") != tc.want {
				t.Errorf("status %d, Location %q, want %d, %q", resp.StatusCode, resp.Header.Get("Location"), tc.status, tc.want)
			}
			if tc.status == 500 && body != "" {
				t.Errorf("body %q", body)
			}
		})
	}
}

// Traefik's TestForwardAuthMaxResponseBodySize, and the edges: exactly at
// the limit, a limit of 0, a chunked answer.
func TestForwardAuthMaxResponseBodySize(t *testing.T) {
	tests := []struct {
		name    string
		max     int64
		status  int
		body    string
		chunked bool
		want    int
		wantB   string
	}{
		{"auth failure, unlimited response body", -1, 403, "Forbidden", false, 403, "Forbidden"},
		{"auth failure, response body exceeds the limit", 1, 403, "Forbidden", false, 401, ""},
		{"auth success within limit", 100, 200, "ok", false, 200, "traefik\n"},
		{"auth success body exceeds limit", 1, 200, "large auth response", false, 401, ""},
		{"exactly the limit", 9, 403, "Forbidden", false, 403, "Forbidden"},
		{"limit 0, no body", 0, 403, "", false, 403, ""},
		{"limit 0, a body", 0, 200, "x", false, 401, ""},
		{"chunked over the limit", 3, 403, "Forbidden", true, 401, ""},
		{"chunked within the limit", 30, 403, "Forbidden", true, 403, "Forbidden"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, addr := faAuth(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
				if tc.chunked {
					w.(http.Flusher).Flush()
				}
			})
			url := front(t, respondWith("traefik\n"), buildOne(t, "forwardAuth", faConfig(addr, fmt.Sprintf(`"maxResponseBodySize":%d`, tc.max))))
			resp := do(t, "GET", url+"/", nil)
			if body := readAll(t, resp); resp.StatusCode != tc.want || body != tc.wantB {
				t.Errorf("status %d, body %q; want %d, %q", resp.StatusCode, body, tc.want, tc.wantB)
			}
		})
	}
}

// Traefik's TestForwardAuthAuthSigninURL, and a relative URL (resolved
// against the request's path, as http.Redirect does). Behind Traefik's
// entry point http.Redirect adds neither a body nor a Content-Type.
func TestForwardAuthSigninURL(t *testing.T) {
	tests := []struct {
		name, signin string
		authStatus   int
		path         string
		want         int
		location     string
		next         bool
	}{
		{"redirects to signin URL on 401", "https://auth.example.com/login", 401, "/", 302, "https://auth.example.com/login", false},
		{"no redirect on 401 without signin URL", "", 401, "/", 401, "", false},
		{"no redirect on other error statuses with signin URL", "https://auth.example.com/login", 403, "/", 403, "", false},
		{"no redirect on OK status with signin URL", "https://auth.example.com/login", 200, "/", 200, "", true},
		{"relative", "login?next=1", 401, "/app/page", 302, "/app/login?next=1", false},
		{"relative with dots", "../login/", 401, "/app/sub/page", 302, "/app/login/", false},
		{"absolute path", "/sso", 401, "/app/page", 302, "/sso", false},
		{"non-ASCII", "https://auth.example.com/é", 401, "/", 302, "https://auth.example.com/%C3%A9", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, addr := faAuth(t, func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, http.StatusText(tc.authStatus), tc.authStatus)
			})
			var next atomic.Bool
			backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { next.Store(true) })
			signin, _ := json.Marshal(tc.signin)
			url := front(t, backend, buildOne(t, "forwardAuth", faConfig(addr, `"authSigninURL":`+string(signin))))
			resp := do(t, "GET", url+tc.path, nil)
			body := readAll(t, resp)
			if resp.StatusCode != tc.want || resp.Header.Get("Location") != tc.location || next.Load() != tc.next {
				t.Errorf("status %d, Location %q, next %v", resp.StatusCode, resp.Header.Get("Location"), next.Load())
			}
			if tc.want == 302 && (body != "" || resp.Header.Get("Content-Type") != "") {
				t.Errorf("redirect body %q, Content-Type %q", body, resp.Header.Get("Content-Type"))
			}
		})
	}
}

// Cookies: with addAuthCookiesToResponse the auth server's cookies of
// those names replace the backend's; whenever the auth server set a
// cookie, the backend's are re-serialised by net/http (unknown attributes
// dropped, as Traefik's modifier does); a failure keeps its cookies as
// sent.
func TestForwardAuthCookies(t *testing.T) {
	tests := []struct {
		name     string
		auth     []string
		add      []string
		backend  []string
		want     []string
		modified bool
	}{
		{"no auth cookie: the backend's untouched", nil, []string{"a"}, []string{"b=1; Path=/; Foo", "bad cookie"},
			[]string{"b=1; Path=/; Foo", "bad cookie"}, false},
		{"auth cookie added, backend's re-serialised", []string{"a=auth; HttpOnly"}, []string{"a"},
			[]string{"a=backend", "b=1; Path=/; Foo", "bad cookie"}, []string{"b=1; Path=/", "a=auth; HttpOnly"}, true},
		{"auth cookie not listed", []string{"a=auth"}, nil, []string{"b=1; Path=/; Foo"}, []string{"b=1; Path=/"}, true},
		{"several", []string{"a=1", "b=2", "c=3"}, []string{"a", "c"}, nil, []string{"a=1", "c=3"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, addr := faAuth(t, func(w http.ResponseWriter, r *http.Request) {
				for _, c := range tc.auth {
					w.Header().Add("Set-Cookie", c)
				}
			})
			backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for _, c := range tc.backend {
					w.Header().Add("Set-Cookie", c)
				}
				io.WriteString(w, "ok")
			})
			add, _ := json.Marshal(tc.add)
			url := front(t, backend, buildOne(t, "forwardAuth", faConfig(addr, `"addAuthCookiesToResponse":`+string(add))))
			resp := do(t, "GET", url+"/", nil)
			if body := readAll(t, resp); resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("status %d, body %q", resp.StatusCode, body)
			}
			if got := resp.Header["Set-Cookie"]; !slices.Equal(got, tc.want) {
				t.Errorf("Set-Cookie %q, want %q", got, tc.want)
			}
		})
	}
}

// The auth answer in gzip: Go's client asks for it when the client did
// not ask for an encoding, and then decompresses it (the client gets the
// plain body, without Content-Encoding); when the client asked, the
// answer passes as sent.
func TestForwardAuthGzipAnswer(t *testing.T) {
	var zbody bytes.Buffer
	zw := gzip.NewWriter(&zbody)
	io.WriteString(zw, "denied, compressed")
	zw.Close()
	a, addr := faAuth(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept-Encoding") == "gzip" {
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Set("X-Auth", "ok")
			w.WriteHeader(http.StatusForbidden)
			w.Write(zbody.Bytes())
			return
		}
		http.Error(w, "denied", http.StatusForbidden)
	})
	m := buildOne(t, "forwardAuth", faConfig(addr, `"authResponseHeadersRegex":"^Content-"`))
	url := front(t, nil, m)
	resp, body := faRaw(t, url, faGet("/", "foo.bar"))
	if resp.StatusCode != 403 || body != "denied, compressed" || resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("status %d, body %q, headers %v", resp.StatusCode, body, resp.Header)
	}
	if a.last(t).Header.Get("Accept-Encoding") != "gzip" {
		t.Errorf("auth request %v", a.last(t).Header)
	}
	resp, body = faRaw(t, url, faGet("/", "foo.bar", "Accept-Encoding: gzip"))
	if resp.StatusCode != 403 || body != zbody.String() || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("client asked gzip: status %d, body %q, headers %v", resp.StatusCode, body, resp.Header)
	}
	resp, body = faRaw(t, url, faGet("/", "foo.bar", "Accept-Encoding: br"))
	if resp.StatusCode != 403 || body != "denied\n" {
		t.Errorf("client asked br: status %d, body %q", resp.StatusCode, body)
	}
	// No gzip asked with a Range.
	faRaw(t, url, faGet("/", "foo.bar", "Range: bytes=0-1"))
	if got := a.last(t).Header.Get("Accept-Encoding"); got != "" {
		t.Errorf("with Range: Accept-Encoding %q", got)
	}
	// A broken gzip answer is a read error: 500.
	_, addr2 := faAuth(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, "not gzip")
	})
	url = front(t, nil, buildOne(t, "forwardAuth", faConfig(addr2, "")))
	if resp, body := faRaw(t, url, faGet("/", "foo.bar")); resp.StatusCode != 500 || body != "" {
		t.Errorf("broken gzip: status %d, body %q", resp.StatusCode, body)
	}
}

// The User-Agent Go's client sends: the client's, none when Traefik's map
// has an empty one (trustForwardHeader set), its own when the map has none
// (trustForwardHeader unset, or the header filtered out).
func TestForwardAuthUserAgent(t *testing.T) {
	a, addr := faAuth(t, nil)
	tests := []struct {
		config string
		client []string
		want   []string
	}{
		{``, nil, []string{faGoUserAgent}},
		{``, []string{"User-Agent: curl/8"}, []string{"curl/8"}},
		{`"trustForwardHeader":true`, nil, nil},
		{`"trustForwardHeader":false`, []string{"User-Agent: curl/8"}, []string{"curl/8"}},
		{`"trustForwardHeader":false,"authRequestHeaders":["Accept"]`, []string{"User-Agent: curl/8"}, []string{faGoUserAgent}},
		{`"authRequestHeaders":["User-Agent"]`, nil, []string{faGoUserAgent}},
		{`"authRequestHeaders":["User-Agent"]`, []string{"User-Agent: curl/8"}, []string{"curl/8"}},
	}
	for _, tc := range tests {
		url := front(t, nil, buildOne(t, "forwardAuth", faConfig(addr, tc.config)))
		faRaw(t, url, faGet("/", "foo.bar", tc.client...))
		if got := a.last(t).Header["User-Agent"]; !slices.Equal(got, tc.want) {
			t.Errorf("%s %v: User-Agent %q, want %q", tc.config, tc.client, got, tc.want)
		}
	}
}

// pemOf encodes a certificate and its key in PEM.
func pemOf(t *testing.T, c *x509.Certificate, k *ecdsa.PrivateKey) (string, string) {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
}

// TLS to the auth server: its certificate verified against tls.ca (or
// not, with insecureSkipVerify), a client certificate presented when the
// server requires one.
func TestForwardAuthTLS(t *testing.T) {
	ca, caKey := testCert(t, nil, nil, "auth-ca", true)
	caPEM, _ := pemOf(t, ca, caKey)
	srv, srvKey := testCert(t, ca, caKey, "127.0.0.1", false)
	client, clientKey := testCert(t, ca, caKey, "edgeroute-client", false)
	clientPEM, clientKeyPEM := pemOf(t, client, clientKey)
	other, otherKey := testCert(t, nil, nil, "other-ca", true)
	otherPEM, _ := pemOf(t, other, otherKey)
	pool := x509.NewCertPool()
	pool.AddCert(ca)

	serve := func(clientAuth tls.ClientAuthType) (*faAuthServer, string) {
		a := &faAuthServer{answer: func(w http.ResponseWriter, r *http.Request) { w.Header().Set("X-User", "u") }}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cfg := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{srv.Raw}, PrivateKey: srvKey}},
			ClientAuth: clientAuth, ClientCAs: pool, NextProtos: []string{"h2", "http/1.1"}}
		s := &http.Server{Handler: a, ErrorLog: log.New(io.Discard, "", 0)} // handshake failures are expected
		go s.Serve(tls.NewListener(ln, cfg))
		t.Cleanup(func() { s.Close() })
		return a, "https://" + ln.Addr().String()
	}
	tlsJSON := func(fields map[string]any) string {
		b, _ := json.Marshal(fields)
		return `"tls":` + string(b) + `,"authResponseHeaders":["X-User"]`
	}
	plain, plainAddr := serve(tls.NoClientCert)
	mtls, mtlsAddr := serve(tls.RequireAndVerifyClientCert)
	tests := []struct {
		name    string
		a       *faAuthServer
		address string
		tls     map[string]any
		status  int
		peer    string
	}{
		{"CA", plain, plainAddr, map[string]any{"ca": caPEM}, 200, ""},
		{"system roots only", plain, plainAddr, nil, 500, ""},
		{"wrong CA", plain, plainAddr, map[string]any{"ca": otherPEM}, 500, ""},
		{"insecureSkipVerify", plain, plainAddr, map[string]any{"insecureSkipVerify": true}, 200, ""},
		{"client certificate", mtls, mtlsAddr, map[string]any{"ca": caPEM, "cert": clientPEM, "key": clientKeyPEM}, 200, "edgeroute-client"},
		{"client certificate required, none", mtls, mtlsAddr, map[string]any{"ca": caPEM}, 500, ""},
		{"caOptional accepted", mtls, mtlsAddr, map[string]any{"ca": caPEM, "cert": clientPEM, "key": clientKeyPEM, "caOptional": true}, 200, "edgeroute-client"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			more := `"authResponseHeaders":["X-User"]`
			if tc.tls != nil {
				more = tlsJSON(tc.tls)
			}
			b := faBuild(faConfig(tc.address+"/check", more))
			if b.Err != nil {
				t.Fatal(b.Err)
			}
			if _, ok := tc.tls["caOptional"]; ok && !slices.Contains(b.Warnings, faWarnCAOptional) {
				t.Errorf("warnings %q", b.Warnings)
			}
			before := tc.a.calls()
			url := front(t, nil, b.Wrap)
			resp, body := faRaw(t, url, faGet("/", "foo.bar"))
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.status != 200 {
				if tc.a.calls() != before || body != "" {
					t.Errorf("auth calls %d -> %d, body %q", before, tc.a.calls(), body)
				}
				return
			}
			s := tc.a.last(t)
			if s.PeerCN != tc.peer || s.URI != "/check" || s.Proto != "HTTP/1.1" {
				t.Errorf("auth saw peer %q, %s %s", s.PeerCN, s.URI, s.Proto)
			}
			if e := faEcho(t, body); !slices.Equal(e.Header["X-User"], []string{"u"}) {
				t.Errorf("backend headers %v", e.Header)
			}
		})
	}
	// An http address ignores the TLS settings (Traefik builds them all
	// the same, and refuses bad ones).
	_, addr := faAuth(t, nil)
	url := front(t, nil, buildOne(t, "forwardAuth", faConfig(addr, tlsJSON(map[string]any{"ca": caPEM}))))
	if resp, _ := faRaw(t, url, faGet("/", "foo.bar")); resp.StatusCode != 200 {
		t.Errorf("http address with tls: status %d", resp.StatusCode)
	}
	if b := faBuild(faConfig(addr, tlsJSON(map[string]any{"ca": "not a PEM"}))); b.Err == nil {
		t.Error("http address with a bad CA: no error")
	}
}

// Bad configurations are build errors in Traefik's words.
func TestForwardAuthBadConfig(t *testing.T) {
	ca, caKey := testCert(t, nil, nil, "ca", true)
	caPEM, keyPEM := pemOf(t, ca, caKey)
	other, otherKey := testCert(t, nil, nil, "other", true)
	_, otherKeyPEM := pemOf(t, other, otherKey)
	j := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	tests := []struct{ config, err string }{
		{`{}`, "forward authentication requires an address"},
		{`{"address":""}`, "forward authentication requires an address"},
		{faConfig("http://a", `"authResponseHeadersRegex":"("`), "error compiling regular expression (: error parsing regexp: missing closing ): `(`"},
		{faConfig("http://a", `"tls":{"ca":"junk"}`), "unable to create client TLS configuration: failed to parse CA"},
		{faConfig("http://a", `"tls":{"cert":`+j(caPEM)+`}`), "unable to create client TLS configuration: both TLS cert and key must be defined"},
		{faConfig("http://a", `"tls":{"key":`+j(keyPEM)+`}`), "unable to create client TLS configuration: both TLS cert and key must be defined"},
		{faConfig("http://a", `"tls":{"cert":`+j(caPEM)+`,"key":`+j(otherKeyPEM)+`}`), "unable to create client TLS configuration: cert file does not exist"},
		{faConfig("http://a", `"tls":{"cert":"junk","key":"junk"}`), "unable to create client TLS configuration: cert file does not exist"},
		{faConfig("http://a", `"tls":{"certSecret":"s"}`), "option \"certSecret\" is not supported by edgeroute"},
		{faConfig("http://a", `"unknown":1`), "option \"unknown\" is not supported by edgeroute"},
		{faConfig("http://a", `"maxBodySize":"1"`), "cannot unmarshal"},
	}
	for _, tc := range tests {
		b := faBuild(tc.config)
		if b.Err == nil || !strings.Contains(b.Err.Error(), tc.err) {
			t.Errorf("%s: error %v, want %q", tc.config, b.Err, tc.err)
		}
	}
}

// Traefik's warnings, as build warnings.
func TestForwardAuthWarnings(t *testing.T) {
	tests := []struct {
		config string
		want   []string
	}{
		{faConfig("http://a", ""), []string{faWarnMaxResponse, faWarnTrust}},
		{faConfig("http://a", `"trustForwardHeader":false,"maxResponseBodySize":10`), nil},
		{faConfig("http://a", `"trustForwardHeader":true,"maxResponseBodySize":-1,"forwardBody":true`), []string{faWarnMaxBody}},
		{faConfig("http://a", `"trustForwardHeader":true,"maxResponseBodySize":-1,"forwardBody":true,"maxBodySize":-1`), nil},
		{faConfig("http://a", `"trustForwardHeader":true,"maxResponseBodySize":1,"tls":{"caOptional":false}`), []string{faWarnCAOptional}},
		{faConfig("http://a", `"trustForwardHeader":true,"maxResponseBodySize":1,"headerField":"X-User"`), nil},
	}
	for _, tc := range tests {
		b := faBuild(tc.config)
		if b.Err != nil {
			t.Fatalf("%s: %v", tc.config, b.Err)
		}
		got := slices.Clone(b.Warnings)
		sort.Strings(got)
		want := slices.Clone(tc.want)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: warnings %q, want %q", tc.config, got, want)
		}
	}
}

// One middleware serves many requests at once: each auth call and each
// backend request carries its own body and headers.
func TestForwardAuthConcurrent(t *testing.T) {
	addr := "http://" + serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Seen", r.Header.Get("X-N")+":"+string(b))
	}))
	m := buildOne(t, "forwardAuth", faConfig(addr, `"forwardBody":true,"maxBodySize":1000,"authResponseHeaders":["X-Seen"]`))
	url := front(t, nil, m)
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := fmt.Sprint(i)
			body := strings.Repeat(n, 100)
			req, _ := http.NewRequest("POST", url+"/", strings.NewReader(body))
			req.Header.Set("X-N", n)
			if i%2 == 1 {
				req.ContentLength = -1 // chunked
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			defer resp.Body.Close()
			var e echo
			json.NewDecoder(resp.Body).Decode(&e)
			if want := n + ":" + body; resp.StatusCode != 200 || e.Body != body || !slices.Equal(e.Header["X-Seen"], []string{want}) {
				errs <- fmt.Sprintf("%s: status %d, body %q, X-Seen %q", n, resp.StatusCode, e.Body, e.Header["X-Seen"])
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// Traefik's TestForwardAuthDoesNotForwardCONNECTBody: a CONNECT body of
// unknown length is tunnel data, never sent to the auth server; one with
// a length is.
func TestForwardAuthConnectBody(t *testing.T) {
	for _, tc := range []struct {
		name, raw, want string
	}{
		{"chunked", faRequest("CONNECT", "/tunnel", "foo.bar", "3\r\nfoo\r\n0\r\n\r\n", "Transfer-Encoding: chunked"), ""},
		{"with a length", faRequest("CONNECT", "/tunnel", "foo.bar", "foo", "Content-Length: 3"), "foo"},
	} {
		a, addr := faAuth(t, nil)
		url := front(t, respondWith("ok"), buildOne(t, "forwardAuth", faConfig(addr, `"forwardBody":true,"preserveRequestMethod":true`)))
		resp, body := faRaw(t, url, tc.raw)
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("%s: status %d, body %q", tc.name, resp.StatusCode, body)
		}
		if s := a.last(t); s.Method != "CONNECT" || s.Body != tc.want {
			t.Errorf("%s: auth got %s with body %q", tc.name, s.Method, s.Body)
		}
	}
}
