package middleware

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/k8swatch/crd"
)

// The error page service of these tests: a handler that forwards to a
// second real backend on loopback, as the harness forwards to the first
// (the path and query the middlewares left, with the engine's ';' to '&',
// the request's own Host). sent, when not nil, records the request URI.
func loopbackService(t testing.TB, backend http.Handler, sent *string) Handler {
	t.Helper()
	hc := &fasthttp.HostClient{Addr: serveLoopback(t, backend), StreamResponseBody: true,
		DisablePathNormalizing: true, NoDefaultUserAgentHeader: true}
	return func(ctx *fasthttp.RequestCtx, r *Request) {
		uri := append([]byte(nil), r.EscapedPath()...)
		if r.HasQuery {
			uri = append(uri, '?')
			for _, c := range r.Query {
				if c == ';' {
					c = '&'
				}
				uri = append(uri, c)
			}
		}
		if sent != nil {
			*sent = string(uri)
		}
		ctx.Request.SetRequestURIBytes(uri)
		ctx.Request.Header.SetNoDefaultContentType(true)
		if err := hc.Do(&ctx.Request, &ctx.Response); err != nil {
			r.UpstreamErr = err
			ctx.Response.Reset()
			ctx.SetStatusCode(fasthttp.StatusBadGateway)
			ctx.SetBodyString("Bad Gateway")
		}
	}
}

const pageService = "default-error-pages-80"

// buildErrors builds an errors middleware whose page service forwards to
// page (nil: echoBackend).
func buildErrors(t testing.TB, config string, page http.Handler) Middleware {
	return buildErrorsSent(t, config, page, nil)
}

func buildErrorsSent(t testing.TB, config string, page http.Handler, sent *string) Middleware {
	t.Helper()
	if page == nil {
		page = echoBackend
	}
	svc := loopbackService(t, page, sent)
	b := buildErrorsWith(config, pageService, &BuildContext{Service: func(name string) (Handler, error) {
		if name != pageService {
			return nil, fmt.Errorf("service %s does not exist", name)
		}
		return svc, nil
	}})
	if b.Err != nil {
		t.Fatal(b.Err)
	}
	return b.Wrap
}

func buildErrorsWith(config, service string, bc *BuildContext) *Built {
	def := &spec.Middleware{Name: "default-errors@kubernetescrd", Kind: "errors", Config: json.RawMessage(config), Service: service}
	return Build(map[string]*spec.Middleware{def.Name: def}, *bc)[def.Name]
}

// statusBackend answers with code and its status text, as Traefik's test
// backend does (nothing for a 304).
func statusBackend(code int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Main", "main")
		w.WriteHeader(code)
		if code != http.StatusNotModified {
			fmt.Fprintln(w, http.StatusText(code))
		}
	})
}

// Traefik's custom_errors_test.go TestHandler, against real backends.
func TestErrorsTraefikCases(t *testing.T) {
	myPage := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "My error page.") })
	my503 := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.RequestURI == "/503" {
			fmt.Fprintln(w, "My 503 page.")
		}
	})
	echoHost := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, r.Host) })
	fullQuery := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.RequestURI == "/?status=503&url=http%3A%2F%2Flocalhost%2Ftest%3Ffoo%3Dbar%26baz%3Dbuz" {
			fmt.Fprintln(w, "My 503 page.")
		} else {
			fmt.Fprintln(w, "unexpected", r.RequestURI)
		}
	})
	echoTwo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, r.Header.Get("X-Request-Id"))
		fmt.Fprintln(w, r.Header.Get("Authorization"))
	})
	const ranges = `"status":["500-501","503-599"]`
	tests := []struct {
		name, config string
		backend      int
		page         http.Handler
		hdr          []string
		status       int
		contains     []string
		excludes     []string
	}{
		{"no error", `{` + ranges + `,"query":"/test"}`, 200, myPage, nil, 200, []string{"OK"}, nil},
		{"no error, but not a 200", `{` + ranges + `,"query":"/test"}`, 206, myPage, nil, 206, []string{"Partial Content"}, nil},
		{"a 304, so no Write called", `{` + ranges + `,"query":"/test"}`, 304, myPage, nil, 304, nil, []string{"My error page."}},
		{"in the range", `{` + ranges + `,"query":"/test"}`, 500, myPage, nil, 500, []string{"My error page."}, nil},
		{"not in the range", `{` + ranges + `,"query":"/test"}`, 502, myPage, nil, 502, []string{"Bad Gateway"}, nil},
		{"query replacement", `{"status":["503-503"],"query":"/{status}"}`, 503, my503, nil, 503, []string{"My 503 page."}, nil},
		{"single code and query replacement", `{"status":["503"],"query":"/{status}"}`, 503, my503, nil, 503, []string{"My 503 page."}, nil},
		{"forward request host header", `{"status":["503"],"query":"/test"}`, 503, echoHost, nil, 503, []string{"localhost"}, nil},
		{"full query replacement", `{"status":["503"],"query":"/?status={status}&url={url}"}`, 503, fullQuery, nil, 503, []string{"My 503 page."}, nil},
		{"forward all headers by default", `{"status":["503"],"query":"/test"}`, 503, echoTwo,
			[]string{"X-Request-Id: trace-abc", "Authorization: Bearer secret"}, 503, []string{"trace-abc", "Bearer secret"}, nil},
		{"forward only allowlisted headers", `{"status":["503"],"query":"/test","errorRequestHeaders":["X-Request-Id"]}`, 503, echoTwo,
			[]string{"X-Request-Id: trace-abc", "Authorization: Bearer secret"}, 503, []string{"trace-abc"}, []string{"Bearer secret"}},
		{"forward no headers", `{"status":["503"],"query":"/test","errorRequestHeaders":[]}`, 503, echoTwo,
			[]string{"X-Request-Id: trace-abc", "Authorization: Bearer secret"}, 503, nil, []string{"trace-abc", "Bearer secret"}},
		{"code modifier enforces original error code", `{"status":["500-599"],"query":"/test"}`, 500, myPage, nil, 500, []string{"My error page."}, nil},
		// Test1xxResponses: a caught 200 is served the page, with 200.
		{"caught 200", `{"status":["200"],"query":"/"}`, 200, myPage, nil, 200, []string{"My error page.\n"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url := front(t, statusBackend(tc.backend), buildErrors(t, tc.config, tc.page))
			resp := do(t, "GET", url+"/test?foo=bar&baz=buz", nil, append([]string{"Host: localhost"}, tc.hdr...)...)
			body := readAll(t, resp)
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
			for _, s := range tc.contains {
				if !strings.Contains(body, s) {
					t.Errorf("body %q lacks %q", body, s)
				}
			}
			for _, s := range tc.excludes {
				if strings.Contains(body, s) {
					t.Errorf("body %q has %q", body, s)
				}
			}
		})
	}
}

// What the page backend receives: GET, no body, the page URI, the
// original Host, the headers as errorRequestHeaders says.
func TestErrorsPageRequest(t *testing.T) {
	tests := []struct {
		name, config string
		method, path string
		hdr          []string
		uri          string
		want         map[string]string // header: value ("" absent)
	}{
		{"POST becomes a bodyless GET", `{"status":["500-599"],"query":"/err"}`, "POST", "/submit",
			[]string{"Content-Type: application/json", "X-A: 1"}, "/err",
			map[string]string{"Content-Type": "application/json", "X-A": "1", "Content-Length": "", "Transfer-Encoding": ""}},
		{"empty query", `{"status":["500-599"]}`, "GET", "/x?y=1", nil, "/", nil},
		{"slash prefixed once", `{"status":["500-599"],"query":"//double"}`, "GET", "/x", nil, "//double", nil},
		{"no leading slash", `{"status":["500-599"],"query":"{status}.html"}`, "GET", "/x", nil, "/503.html", nil},
		{"original status", `{"status":["500-599"],"query":"/{status}/{originalStatus}"}`, "GET", "/x", nil, "/503/503", nil},
		{"url in the path stays escaped", `{"status":["500-599"],"query":"/p/{url}"}`, "GET", "/a%20b?q=1;r=2", nil,
			"/p/http%3A%2F%2Flocalhost%2Fa%2520b%3Fq%3D1%26r%3D2", nil},
		{"url of an encoded slash", `{"status":["500-599"],"query":"/?u={url}"}`, "GET", "/a%2Fb", nil,
			"/?u=http%3A%2F%2Flocalhost%2Fa%252Fb", nil},
		{"a space is escaped", `{"status":["500-599"],"query":"/err page/{status}"}`, "GET", "/x", nil, "/err%20page/503", nil},
		{"the fragment is dropped", `{"status":["500-599"],"query":"/p?a=1#frag?x"}`, "GET", "/x", nil, "/p?a=1", nil},
		{"a bare ? is kept", `{"status":["500-599"],"query":"/p?"}`, "GET", "/x", nil, "/p?", nil},
		{"query semicolons", `{"status":["500-599"],"query":"/p?a=1;b=2"}`, "GET", "/x", nil, "/p?a=1&b=2", nil},
		{"escapes kept", `{"status":["500-599"],"query":"/a%2Fb%41"}`, "GET", "/x", nil, "/a%2Fb%41", nil},
		{"listed headers, any case", `{"status":["500-599"],"query":"/e","errorRequestHeaders":["x-keep","COOKIE","Host","Content-Length"]}`,
			"POST", "/x", []string{"X-Keep: k", "X-Drop: d", "Cookie: a=1", "User-Agent: ua", "Content-Type: text/plain"}, "/e",
			map[string]string{"X-Keep": "k", "X-Drop": "", "Cookie": "a=1", "User-Agent": "", "Content-Type": "", "Content-Length": ""}},
		{"no headers, host kept", `{"status":["500-599"],"query":"/e","errorRequestHeaders":[]}`,
			"GET", "/x", []string{"X-Keep: k", "Accept: */*"}, "/e", map[string]string{"X-Keep": "", "Accept": ""}},
		{"upgrade headers dropped", `{"status":["500-599"],"query":"/e"}`,
			"GET", "/x", []string{"Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: k"}, "/e",
			map[string]string{"Upgrade": "", "Sec-Websocket-Key": "k"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var sent string
			url := front(t, statusBackend(503), buildErrorsSent(t, tc.config, nil, &sent))
			resp := do(t, tc.method, url+tc.path, strings.NewReader("the original body"), append([]string{"Host: localhost"}, tc.hdr...)...)
			body := readAll(t, resp)
			if resp.StatusCode != 503 {
				t.Fatalf("status %d, want 503: %s", resp.StatusCode, body)
			}
			var e echo
			if err := json.Unmarshal([]byte(body), &e); err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			if sent != tc.uri {
				t.Errorf("page request URI %q, want %q", sent, tc.uri)
			}
			// fasthttp's client drops a '?' with nothing after it.
			if wire := strings.TrimSuffix(tc.uri, "?"); e.Method != "GET" || e.Body != "" || e.Host != "localhost" || e.URI != wire {
				t.Errorf("page request %s %s (Host %q, body %q), want GET %s (Host localhost, no body)", e.Method, e.URI, e.Host, e.Body, wire)
			}
			for k, v := range tc.want {
				if got := strings.Join(e.Header[k], ","); got != v {
					t.Errorf("page request header %s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

// The page request carries req.Host and X-Forwarded-For as they were
// before the service forwarded the main request, whatever it did to them
// (the engine may put the server's host and appends the client address).
func TestErrorsPageRequestBeforeForwarding(t *testing.T) {
	forwarding := func(next Handler) Handler {
		return func(ctx *fasthttp.RequestCtx, r *Request) {
			ctx.Request.Header.SetHost("10.0.0.1:8080")
			ctx.Request.Header.Set("X-Forwarded-For", "1.1.1.1, 127.0.0.1")
			next(ctx, r)
		}
	}
	tests := []struct {
		config string
		hdr    []string
		xff    string
	}{
		{`{"status":["503"],"query":"/e"}`, []string{"X-Forwarded-For: 1.1.1.1"}, "1.1.1.1"},
		{`{"status":["503"],"query":"/e"}`, nil, ""},
		{`{"status":["503"],"query":"/e","errorRequestHeaders":["X-Forwarded-For"]}`, []string{"X-Forwarded-For: 1.1.1.1", "X-Forwarded-For: 2.2.2.2"}, "1.1.1.1, 2.2.2.2"},
		{`{"status":["503"],"query":"/e","errorRequestHeaders":["X-Other"]}`, []string{"X-Forwarded-For: 1.1.1.1"}, ""},
	}
	for _, tc := range tests {
		url := front(t, statusBackend(503), buildErrors(t, tc.config, nil), forwarding)
		resp := do(t, "GET", url+"/x", nil, append([]string{"Host: example.com:8443"}, tc.hdr...)...)
		var e echo
		if err := json.Unmarshal([]byte(readAll(t, resp)), &e); err != nil {
			t.Fatal(err)
		}
		if e.Host != "example.com:8443" {
			t.Errorf("%s: page Host %q, want the client's example.com:8443", tc.config, e.Host)
		}
		if got := strings.Join(e.Header["X-Forwarded-For"], ", "); got != tc.xff {
			t.Errorf("%s %v: page X-Forwarded-For %q, want %q", tc.config, tc.hdr, got, tc.xff)
		}
	}
}

// What the client gets: the status (rewritten), the page's headers and
// body, none of the main response's headers.
func TestErrorsResponse(t *testing.T) {
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("X-Page", "page")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusTeapot) // ignored: the status is the error's
		fmt.Fprint(w, "<h1>"+r.RequestURI+"</h1>")
	})
	tests := []struct {
		config  string
		backend int
		status  int
		body    string
	}{
		{`{"status":["400-599"],"query":"/{status}"}`, 503, 503, "<h1>/503</h1>"},
		{`{"status":["404"],"statusRewrites":{"404":200},"query":"/{status}/{originalStatus}"}`, 404, 200, "<h1>/200/404</h1>"},
		{`{"status":["500-599"],"statusRewrites":{"502-504":500,"418":404},"query":"/{status}-{originalStatus}"}`, 503, 500, "<h1>/500-503</h1>"},
		{`{"status":["400-599"],"statusRewrites":{"502-504":500,"418":404},"query":"/{status}-{originalStatus}"}`, 418, 404, "<h1>/404-418</h1>"},
		{`{"status":["400-599"],"statusRewrites":{"502-504":500},"query":"/{status}-{originalStatus}"}`, 501, 501, "<h1>/501-501</h1>"},
		// Overlapping rewrites: the narrowest applies.
		{`{"status":["500-599"],"statusRewrites":{"500-599":500,"503":404,"502-504":502},"query":"/{status}"}`, 503, 404, "<h1>/404</h1>"},
		{`{"status":["500-599"],"statusRewrites":{"500-599":500,"503":404,"502-504":502},"query":"/{status}"}`, 504, 502, "<h1>/502</h1>"},
		// statusRewrites only applies to caught statuses.
		{`{"status":["500"],"statusRewrites":{"404":200},"query":"/{status}"}`, 404, 404, "Not Found\n"},
	}
	for _, tc := range tests {
		url := front(t, statusBackend(tc.backend), buildErrors(t, tc.config, page))
		resp := do(t, "GET", url+"/x", nil)
		body := readAll(t, resp)
		if resp.StatusCode != tc.status || body != tc.body {
			t.Errorf("%s, backend %d: got %d %q, want %d %q", tc.config, tc.backend, resp.StatusCode, body, tc.status, tc.body)
		}
		if tc.body[0] != '<' {
			continue
		}
		if resp.Header.Get("X-Main") != "" {
			t.Errorf("%s: the main response's header reached the client", tc.config)
		}
		if resp.Header.Get("X-Page") != "page" || resp.Header.Get("Content-Type") != "text/html" || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: the page's headers are missing: %v", tc.config, resp.Header)
		}
	}
}

// The page's own status line is not kept: only its code changes.
func TestErrorsStatusLine(t *testing.T) {
	raw := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, bw, _ := w.(http.Hijacker).Hijack()
		defer c.Close()
		bw.WriteString("HTTP/1.1 200 Everything Fine\r\nContent-Length: 4\r\nConnection: close\r\n\r\npage")
		bw.Flush()
	})
	url := front(t, statusBackend(503), buildErrors(t, `{"status":["503"]}`, raw))
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if line != "HTTP/1.1 503 Service Unavailable\r\n" {
		t.Errorf("status line %q", line)
	}
}

// When the page service fails, its error answer is served, with the
// error's status (Traefik's codeModifier wraps the proxy's error too).
func TestErrorsPageServiceFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	ln.Close()
	dead := &fasthttp.HostClient{Addr: deadAddr}
	var upstreamErr error
	svc := func(ctx *fasthttp.RequestCtx, r *Request) {
		if err := dead.Do(&ctx.Request, &ctx.Response); err != nil {
			r.UpstreamErr = err
			ctx.Response.Reset()
			ctx.SetStatusCode(fasthttp.StatusBadGateway)
			ctx.SetBodyString("Bad Gateway")
		}
	}
	b := buildErrorsWith(`{"status":["500-599"],"query":"/e"}`, pageService, &BuildContext{Service: func(string) (Handler, error) { return svc, nil }})
	if b.Err != nil {
		t.Fatal(b.Err)
	}
	record := func(next Handler) Handler {
		return func(ctx *fasthttp.RequestCtx, r *Request) { next(ctx, r); upstreamErr = r.UpstreamErr }
	}
	url := front(t, statusBackend(503), record, b.Wrap)
	resp := do(t, "GET", url+"/x", nil)
	if body := readAll(t, resp); resp.StatusCode != 503 || body != "Bad Gateway" || resp.Header.Get("X-Main") != "" {
		t.Errorf("got %d %q %v, want 503 \"Bad Gateway\"", resp.StatusCode, body, resp.Header)
	}
	if upstreamErr == nil {
		t.Error("UpstreamErr is not the page service's error")
	}

	// The main request failed, the page service answered: no error left.
	url = front(t, nil, record, buildErrors(t, `{"status":["502"],"query":"/e"}`, nil), func(Handler) Handler { return svc })
	resp = do(t, "GET", url+"/x", nil)
	if body := readAll(t, resp); resp.StatusCode != 502 || !strings.Contains(body, `"uri":"/e"`) {
		t.Errorf("got %d %q, want 502 and the page", resp.StatusCode, body)
	}
	if upstreamErr != nil {
		t.Errorf("UpstreamErr = %v after the page was served", upstreamErr)
	}
}

// Traefik answers http.Error when the page URL does not parse.
func TestErrorsBadPageURL(t *testing.T) {
	for _, config := range []string{
		`{"status":["503"],"query":"/%zz"}`,
		`{"status":["503"],"query":"/a#%zz"}`,
		`{"status":["503"],"query":"/%{url}"}`,
		`{"status":["503"],"query":"/a\u0001b"}`,
	} {
		b := buildErrorsWith(config, pageService, &BuildContext{Service: func(string) (Handler, error) { return loopbackService(t, echoBackend, nil), nil }})
		if b.Err != nil {
			t.Fatal(b.Err)
		}
		if len(b.Warnings) != 1 || !strings.Contains(b.Warnings[0], "valid URL") {
			t.Errorf("%s: warnings %q", config, b.Warnings)
		}
		url := front(t, statusBackend(503), b.Wrap)
		resp := do(t, "GET", url+"/x", nil)
		body := readAll(t, resp)
		if resp.StatusCode != 503 || body != "Service Unavailable\n" ||
			resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" || resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Main") != "" {
			t.Errorf("%s: got %d %q %v", config, resp.StatusCode, body, resp.Header)
		}
	}
	// Escapes that the replacements complete are fine, as in Traefik.
	url := front(t, statusBackend(503), buildErrors(t, `{"status":["503"],"query":"/%{status}"}`, nil))
	if e := echoedStatus(t, url+"/x", 503); e.URI != "/%503" {
		t.Errorf("page URI %q", e.URI)
	}
}

func echoedStatus(t testing.TB, url string, status int) echo {
	t.Helper()
	resp := do(t, "GET", url, nil)
	body := readAll(t, resp)
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, body)
	}
	var e echo
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return e
}

// A response that is not an error streams through: its first bytes reach
// the client while the backend is still writing.
func TestErrorsStreamsOtherResponses(t *testing.T) {
	chunk := strings.Repeat("x", 256<<10)
	release := make(chan struct{})
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		io.WriteString(w, chunk)
		w.(http.Flusher).Flush()
		<-release // the client has read part of the body
		io.WriteString(w, "end")
	})
	url := front(t, backend, buildErrors(t, `{"status":["500-599"],"query":"/e"}`, nil))
	resp := do(t, "GET", url+"/big", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	part := make([]byte, 128<<10)
	if _, err := io.ReadFull(resp.Body, part); err != nil {
		t.Fatal(err)
	}
	close(release)
	rest := readAll(t, resp)
	if got := string(part) + rest; got != chunk+"end" {
		t.Errorf("body of %d bytes, want %d", len(got), len(chunk)+3)
	}
}

// A HEAD request gets the page's headers and no body, and the connection
// stays usable: a HEAD and a GET on one connection get two answers.
func TestErrorsHead(t *testing.T) {
	forwarded := front(t, statusBackend(503), buildErrors(t, `{"status":["503"],"query":"/e"}`, nil))
	answered := front(t, nil, buildErrors(t, `{"status":["503"],"query":"/e"}`, nil), func(Handler) Handler {
		return func(ctx *fasthttp.RequestCtx, r *Request) { ctx.SetStatusCode(503) } // not forwarded
	})
	for _, url := range []string{forwarded, answered} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprint(conn, "HEAD /x HTTP/1.1\r\nHost: localhost\r\n\r\nGET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
		br := bufio.NewReader(conn)
		head, err := http.ReadResponse(br, &http.Request{Method: "HEAD"})
		if err != nil {
			t.Fatal(err)
		}
		if head.StatusCode != 503 || head.Header.Get("Content-Type") != "application/json" || head.ContentLength <= 0 {
			t.Errorf("HEAD: %d %v", head.StatusCode, head.Header)
		}
		get, err := http.ReadResponse(br, &http.Request{Method: "GET"})
		if err != nil {
			t.Fatalf("the answer after HEAD: %v", err)
		}
		var e echo
		if err := json.NewDecoder(get.Body).Decode(&e); err != nil || get.StatusCode != 503 || e.Method != "GET" || e.URI != "/e" {
			t.Errorf("GET after HEAD: %d %+v %v", get.StatusCode, e, err)
		}
	}
}

// The middleware says it changes responses, so that the service does not
// relay them straight to an HTTP/2 client.
func TestErrorsChangesResponse(t *testing.T) {
	var seen bool
	inner := func(next Handler) Handler {
		return func(ctx *fasthttp.RequestCtx, r *Request) { seen = r.ChangesResponse; next(ctx, r) }
	}
	url := front(t, nil, buildErrors(t, `{"status":["500"]}`, nil), inner)
	echoed(t, url+"/")
	if !seen {
		t.Error("ChangesResponse not set before next")
	}
}

// The {url} placeholder is Traefik's url.QueryEscape(url.URL{...}.String()).
func TestErrorsOrigURL(t *testing.T) {
	tests := []struct {
		secure      bool
		host, path  string
		query       string
		hasQuery    bool
		traefikHost string
	}{
		{false, "localhost", "/test", "foo=bar&baz=buz", true, ""},
		{true, "example.com:8443", "/a%20b/c%2Fd", "", true, ""},
		{false, "h", "/x", "", false, ""},
		{false, "[::1]:80", "/%C3%A9", "q=é;x", true, ""},
		{false, "a%41b", "/", "", false, ""},
		{false, "", "/p", "", false, ""},
		{false, "h", "", "", false, ""},
	}
	for _, tc := range tests {
		var r Request
		r.Reset([]byte(tc.path))
		r.Secure, r.Query, r.HasQuery = tc.secure, []byte(tc.query), tc.hasQuery
		s := &errorsScratch{host: []byte(tc.host)}
		got := string(appendQueryEscape(nil, s.appendOrigURL(nil, &r)))
		scheme := "http"
		if tc.secure {
			scheme = "https"
		}
		p, err := url.PathUnescape(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		u := &url.URL{Scheme: scheme, Host: tc.host, Path: p, RawQuery: strings.ReplaceAll(tc.query, ";", "&")}
		if u.EscapedPath() != tc.path {
			u.RawPath = tc.path
		}
		if want := url.QueryEscape(u.String()); got != want {
			t.Errorf("%+v: {url} %q, want %q", tc, got, want)
		}
	}
}

// The page request's Host is what http.NewRequest makes of
// "http://" + req.Host + query.
func TestErrorsPageHost(t *testing.T) {
	for _, host := range []string{
		"localhost", "example.com:8080", "example.com:", "a_b~c", "[::1]:80", "[::1]:", "[fe80::1%25eth0]:80",
		"a:b:c", "a:x", "%41", "a%2", "[1.2.3.4]", "a b", "a/b", "a@b", "", "host.:1",
	} {
		got, ok := pageRequestHost([]byte(host))
		var want string
		wantOK := false
		if u, err := url.Parse("http://" + host + "/"); err == nil && !strings.ContainsAny(host, " /@") {
			if req, err := http.NewRequest("GET", u.String(), nil); err == nil {
				want, wantOK = req.Host, true
			}
		}
		if ok != wantOK || string(got) != want {
			t.Errorf("host %q: got %q %v, want %q %v", host, got, ok, want, wantOK)
		}
	}
}

func TestErrorsBuild(t *testing.T) {
	svc := &BuildContext{Service: func(string) (Handler, error) { return func(*fasthttp.RequestCtx, *Request) {}, nil }}
	tests := []struct {
		config, service string
		bc              *BuildContext
		err             string
	}{
		{`{"status":["abc"]}`, pageService, svc, `status "abc"`},
		{`{"status":["500-x"]}`, pageService, svc, `status "500-x"`},
		{`{"status":["500"],"statusRewrites":{"x":404}}`, pageService, svc, `statusRewrites: status "x"`},
		{`{"status":["500"],"statusRewrites":{"500":0}}`, pageService, svc, "not a final HTTP status"},
		{`{"status":["500"],"statusRewrites":{"500":103}}`, pageService, svc, "not a final HTTP status"},
		{`{"status":["500"],"statusRewrites":{"500":1000}}`, pageService, svc, "not a final HTTP status"},
		{`{"status":["500"]}`, "", svc, "no error page service"},
		{`{"status":["500"]}`, pageService, &BuildContext{}, "no services to build error pages with"},
		{`{"status":["500"]}`, pageService, &BuildContext{Service: func(name string) (Handler, error) {
			return nil, errors.New("service " + name + " has no servers")
		}}, "errors: service default-error-pages-80: service default-error-pages-80 has no servers"},
		{`{"status":["500"],"nginxHeaders":{"X-A":["1"]}}`, pageService, svc, `"nginxHeaders" is not supported`},
		{`{"status":"500"}`, pageService, svc, "cannot unmarshal"},
	}
	for _, tc := range tests {
		b := buildErrorsWith(tc.config, tc.service, tc.bc)
		if b.Err == nil || !strings.Contains(b.Err.Error(), tc.err) {
			t.Errorf("%s: err = %v, want %q", tc.config, b.Err, tc.err)
		}
	}
	// The service's options are translation's; any service object decodes.
	b := buildErrorsWith(`{"status":["500"],"service":{"name":"pages","port":80,"passHostHeader":false}}`, pageService, svc)
	if b.Err != nil {
		t.Error(b.Err)
	}
	// Overlapping rewrites are a warning.
	b = buildErrorsWith(`{"status":["500-599"],"statusRewrites":{"500-599":500,"503":404}}`, pageService, svc)
	if b.Err != nil || len(b.Warnings) != 1 || !strings.Contains(b.Warnings[0], "overlap") {
		t.Errorf("overlap: %v %q", b.Err, b.Warnings)
	}
}

// The configuration arrives as translation re-encodes the CRD object: an
// empty errorRequestHeaders must stay an empty list (no headers), apart
// from an absent one (all headers).
func TestErrorsFromCRD(t *testing.T) {
	tests := []struct {
		manifest string
		auth     bool
	}{
		{`{"status":["503"],"query":"/e","service":{"name":"pages","port":80}}`, true},
		{`{"status":["503"],"query":"/e","errorRequestHeaders":null,"service":{"name":"pages","port":80}}`, true},
		{`{"status":["503"],"query":"/e","errorRequestHeaders":[],"service":{"name":"pages","port":80}}`, false},
		{`{"status":["503"],"query":"/e","errorRequestHeaders":["Authorization"],"service":{"name":"pages","port":80}}`, true},
	}
	for _, tc := range tests {
		var page crd.ErrorPage
		if err := json.Unmarshal([]byte(tc.manifest), &page); err != nil {
			t.Fatal(err)
		}
		config, err := json.Marshal(&page)
		if err != nil {
			t.Fatal(err)
		}
		url := front(t, statusBackend(503), buildErrors(t, string(config), nil))
		resp := do(t, "GET", url+"/x", nil, "Authorization: secret")
		var e echo
		if err := json.Unmarshal([]byte(readAll(t, resp)), &e); err != nil {
			t.Fatal(err)
		}
		if got := len(e.Header["Authorization"]) > 0; got != tc.auth {
			t.Errorf("%s (re-encoded %s): Authorization forwarded %v, want %v", tc.manifest, config, got, tc.auth)
		}
	}
	// The configuration has the CRD's fields.
	k, _ := Lookup("errors")
	cfg, ref := k.ConfigType(), reflect.TypeFor[crd.ErrorPage]()
	if cfg.NumField() != ref.NumField() {
		t.Fatalf("%d fields, the CRD has %d", cfg.NumField(), ref.NumField())
	}
	for i := range ref.NumField() {
		want, _, _ := strings.Cut(ref.Field(i).Tag.Get("json"), ",")
		if _, ok := fieldByJSON(cfg, want); !ok {
			t.Errorf("no field %q", want)
		}
	}
}

func fieldByJSON(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if n, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); n == name {
			return t.Field(i), true
		}
	}
	return reflect.StructField{}, false
}
