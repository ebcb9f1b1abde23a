package middleware

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/compile"
	"github.com/edgeroute/edgeroute/compile/spec"
)

// The harness runs middlewares the way the engine does, over real
// sockets: a real fasthttp front server on loopback prepares a Request
// (the entry point's normalised path, query, host, client address), runs
// the middlewares, and forwards what they leave to a real net/http
// backend on loopback with fasthttp's client, streaming the answer as the
// engine does. Engine-level tests (engine/middleware_test.go) cover the
// wiring into routers.

// echo is what the default backend answers: the request as it arrived.
type echo struct {
	Method string              `json:"method"`
	URI    string              `json:"uri"`
	Host   string              `json:"host"`
	Header map[string][]string `json:"header"`
	Body   string              `json:"body"`
}

// echoBackend answers every request with its echo as JSON.
var echoBackend = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(echo{Method: r.Method, URI: r.RequestURI, Host: r.Host, Header: r.Header, Body: string(body)})
})

// serveLoopback serves h on a new loopback port and returns its address.
func serveLoopback(t testing.TB, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// buildOne builds one middleware of the given kind from its JSON
// configuration, failing the test on error.
func buildOne(t testing.TB, kind, config string) Middleware {
	t.Helper()
	m, err := tryBuild(kind, config)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// tryBuild builds one middleware and returns its error.
func tryBuild(kind, config string) (Middleware, error) {
	def := &spec.Middleware{Name: "default-test@kubernetescrd", Kind: kind, Config: json.RawMessage(config)}
	b := Build(map[string]*spec.Middleware{def.Name: def}, BuildContext{})[def.Name]
	return b.Wrap, b.Err
}

// front starts the front server: middlewares ms in front of backend (a
// handler served on loopback; nil means echoBackend). It returns the front
// server's base URL ("http://127.0.0.1:port").
func front(t testing.TB, backend http.Handler, ms ...Middleware) string {
	t.Helper()
	if backend == nil {
		backend = echoBackend
	}
	hc := &fasthttp.HostClient{Addr: serveLoopback(t, backend), StreamResponseBody: true,
		DisablePathNormalizing: true, NoDefaultUserAgentHeader: true}
	forward := func(ctx *fasthttp.RequestCtx, r *Request) {
		uri := append([]byte(nil), r.EscapedPath()...)
		if r.HasQuery {
			uri = append(append(uri, '?'), r.Query...)
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
	h := Wrap(forward, ms...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{
		NoDefaultServerHeader: true, NoDefaultContentType: true, NoDefaultDate: true, StreamRequestBody: true,
		Handler: func(ctx *fasthttp.RequestCtx) {
			var r Request
			if !prepare(ctx, &r) {
				ctx.SetStatusCode(fasthttp.StatusBadRequest)
				return
			}
			h(ctx, &r)
		},
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return "http://" + ln.Addr().String()
}

// prepare fills r as the engine's entry point does.
func prepare(ctx *fasthttp.RequestCtx, r *Request) bool {
	target := ctx.Request.Header.RequestURI()
	raw, query, hasQuery := target, []byte(nil), false
	if i := bytes.IndexByte(target, '?'); i >= 0 {
		raw, query, hasQuery = target[:i], target[i+1:], true
	}
	esc, err := compile.AppendNormalizedPath(nil, raw, true)
	if err != nil {
		return false
	}
	r.Reset(esc)
	r.Query, r.HasQuery = query, hasQuery
	r.Host = compile.AppendCanonicalHost(nil, ctx.Request.Header.Host())
	if a, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(a.IP)
		r.ClientIP = ip.Unmap()
	}
	r.Secure = ctx.IsTLS()
	return true
}

// do sends a request to the front server without following redirects.
func do(t testing.TB, method, url string, body io.Reader, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ":")
		if strings.EqualFold(k, "Host") {
			req.Host = strings.TrimSpace(v)
			continue
		}
		req.Header.Add(k, strings.TrimSpace(v))
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// echoed sends a GET and decodes the backend's echo, failing unless the
// status is 200.
func echoed(t testing.TB, url string, hdr ...string) echo {
	t.Helper()
	resp := do(t, "GET", url, nil, hdr...)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: status %d: %s", url, resp.StatusCode, body)
	}
	var e echo
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, body)
	}
	return e
}

// readAll reads a response body, failing the test on error.
func readAll(t testing.TB, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
