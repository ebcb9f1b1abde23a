package engine

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// backend is a real HTTP server on loopback that echoes what it received.
func backend(t *testing.T, name string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", name)
		w.Header().Set("Proxy-Authenticate", "Basic") // hop-by-hop: must not reach the client
		fmt.Fprintf(w, "%s %s %s host=%s xff=%s xfh=%s xfp=%s xri=%s conn=%q keep=%q pauth=%q",
			name, r.Method, r.RequestURI, r.Host, r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Host"),
			r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Real-Ip"), r.Header.Get("Connection"), r.Header.Get("X-Secret"),
			r.Header.Get("Proxy-Authorization"))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func startServer(t *testing.T, snap *spec.Snapshot, args ...string) (*Server, string) {
	t.Helper()
	static, err := ParseStatic(append([]string{"--entryPoints.web.address=127.0.0.1:0"}, args...))
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(static, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if probs := s.Apply(snap); len(probs) > 0 {
		t.Fatalf("Apply: %v", probs)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("server did not stop")
		}
	})
	return s, "http://" + s.Addr("web")
}

func lbSnap(routers []spec.Router, backends map[string]string) *spec.Snapshot {
	snap := &spec.Snapshot{Routers: routers, Services: map[string]*spec.Service{}, Endpoints: map[string][]spec.Server{}}
	for name, url := range backends {
		snap.Services[name] = &spec.Service{Name: name, LoadBalancer: &spec.LoadBalancer{EndpointsKey: name, PassHostHeader: true, Strategy: "wrr"}}
		snap.Endpoints[name] = []spec.Server{{URL: url}}
	}
	return snap
}

func get(t *testing.T, url, host string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if host != "" {
		req.Host = host
	}
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Add(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRouteAndForward(t *testing.T) {
	a, b := backend(t, "a"), backend(t, "b")
	snap := lbSnap([]spec.Router{
		{Name: "api", Rule: "Host(`a.test`) && PathPrefix(`/api`)", Service: "svc-a"},
		{Name: "site", Rule: "Host(`a.test`)", Service: "svc-b"},
		{Name: "hdr", Rule: "Header(`X-Forwarded-Proto`, `http`) && Host(`h.test`)", Service: "svc-a"},
	}, map[string]string{"svc-a": a, "svc-b": b})
	_, base := startServer(t, snap)

	code, body := get(t, base+"/api/x?q=1;r=2", "a.test")
	if code != 200 || !strings.HasPrefix(body, "a GET /api/x?q=1&r=2 host=a.test ") {
		t.Errorf("api: %d %q", code, body)
	}
	if !strings.Contains(body, "xff=127.0.0.1 ") || !strings.Contains(body, "xfh=a.test ") || !strings.Contains(body, "xfp=http ") || !strings.Contains(body, "xri=127.0.0.1 ") {
		t.Errorf("forwarded headers: %q", body)
	}
	if code, body = get(t, base+"/other", "A.TEST:80"); code != 200 || !strings.HasPrefix(body, "b ") {
		t.Errorf("site: %d %q", code, body)
	}
	if code, body = get(t, base+"/public/%2e%2e/api/y", "a.test"); code != 200 || !strings.HasPrefix(body, "a GET /api/y ") {
		t.Errorf("sanitised path: %d %q", code, body)
	}
	if code, body = get(t, base+"/", "nope.test"); code != 404 || body != "404 page not found\n" {
		t.Errorf("404: %d %q", code, body)
	}
	// Forwarded headers are set before routing: Header() sees them.
	if code, body = get(t, base+"/", "h.test"); code != 200 || !strings.HasPrefix(body, "a ") {
		t.Errorf("header route: %d %q", code, body)
	}
	// Untrusted X-Forwarded-For is dropped, then the client appended.
	if _, body = get(t, base+"/", "a.test", "X-Forwarded-For: 6.6.6.6", "X-Real-Ip: 6.6.6.6"); !strings.Contains(body, "xff=127.0.0.1 ") || !strings.Contains(body, "xri=127.0.0.1 ") {
		t.Errorf("untrusted xff: %q", body)
	}
	// Hop-by-hop: a header named in Connection is not forwarded, nor are the
	// standard hop-by-hop headers, in either direction.
	if _, body = get(t, base+"/", "a.test", "Connection: X-Secret", "X-Secret: s"); !strings.Contains(body, `keep=""`) {
		t.Errorf("connection-listed header forwarded: %q", body)
	}
	req, _ := http.NewRequest("GET", base+"/", nil)
	req.Host = "a.test"
	req.Header.Set("Proxy-Authorization", "Basic eA==")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b2), `pauth=""`) || resp.Header.Get("Proxy-Authenticate") != "" || resp.Header.Get("X-Backend") != "b" {
		t.Errorf("hop-by-hop headers crossed the proxy: %q %v", b2, resp.Header)
	}
}

func TestTrustedForwardedHeaders(t *testing.T) {
	a := backend(t, "a")
	snap := lbSnap([]spec.Router{{Name: "r", Rule: "PathPrefix(`/`)", Service: "s"}}, map[string]string{"s": a})
	_, base := startServer(t, snap, "--entryPoints.web.forwardedHeaders.trustedIPs=127.0.0.1/32")
	if _, body := get(t, base+"/", "a.test", "X-Forwarded-For: 6.6.6.6", "X-Forwarded-Proto: https"); !strings.Contains(body, "xff=6.6.6.6, 127.0.0.1 ") || !strings.Contains(body, "xfp=https ") {
		t.Errorf("trusted xff: %q", body)
	}
}

func TestUpstreamErrors(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	snap := lbSnap([]spec.Router{{Name: "r", Rule: "PathPrefix(`/`)", Service: "s"}}, map[string]string{"s": dead})
	snap.Services["empty"] = &spec.Service{Name: "empty", LoadBalancer: &spec.LoadBalancer{EndpointsKey: "none"}}
	snap.Routers = append(snap.Routers, spec.Router{Name: "e", Rule: "PathPrefix(`/empty`)", Service: "empty"})
	_, base := startServer(t, snap)
	if code, body := get(t, base+"/", ""); code != 502 || body != "Bad Gateway" {
		t.Errorf("refused: %d %q", code, body)
	}
	if code, body := get(t, base+"/empty", ""); code != 503 || body != "no available server\n" {
		t.Errorf("no servers: %d %q", code, body)
	}
}

func TestWebSocket(t *testing.T) {
	up := websocket.Upgrader{}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			c.WriteMessage(mt, append([]byte(r.Header.Get("X-Forwarded-Proto")+":"), msg...))
		}
	})}
	go srv.Serve(ln)
	defer srv.Close()
	snap := lbSnap([]spec.Router{{Name: "r", Rule: "Path(`/ws`)", Service: "s"}}, map[string]string{"s": "http://" + ln.Addr().String()})
	_, base := startServer(t, snap)
	c, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/ws", nil)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	defer c.Close()
	for _, m := range []string{"hello", strings.Repeat("x", 100000)} {
		if err := c.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.ReadMessage()
		if err != nil || string(got) != "ws:"+m {
			t.Fatalf("echo = %.40q, %v", got, err)
		}
	}
}

func TestStickyCookie(t *testing.T) {
	a, b := backend(t, "a"), backend(t, "b")
	snap := &spec.Snapshot{
		Routers: []spec.Router{{Name: "r", Rule: "PathPrefix(`/`)", Service: "default-whoami-80@kubernetescrd"}},
		Services: map[string]*spec.Service{"default-whoami-80@kubernetescrd": {Name: "default-whoami-80@kubernetescrd",
			LoadBalancer: &spec.LoadBalancer{EndpointsKey: "k", PassHostHeader: true, Sticky: &spec.Cookie{Path: "/", HTTPOnly: true}}}},
		Endpoints: map[string][]spec.Server{"k": {{URL: a}, {URL: b}}},
	}
	_, base := startServer(t, snap)
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	first, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	sc := resp.Header.Get("Set-Cookie")
	// Traefik's default name: "_" + sha1("_TRAEFIK_BACKEND_" + service)[:5].
	if !strings.HasPrefix(sc, "_") || !strings.Contains(sc, "; Path=/; HttpOnly") {
		t.Fatalf("Set-Cookie = %q", sc)
	}
	cookie := strings.SplitN(sc, ";", 2)[0]
	for range 10 {
		code, body := get(t, base+"/", "", "Cookie: "+cookie)
		if code != 200 || body[:1] != string(first[:1]) {
			t.Fatalf("sticky request went to %q, first went to %q", body[:1], first[:1])
		}
	}
}

// flaky is a backend whose health (its /health status and whether / answers
// 500) can be switched.
func flaky(t *testing.T, name string, healthy *atomic.Bool) string {
	t.Helper()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !healthy.Load() {
			w.WriteHeader(500)
			return
		}
		fmt.Fprint(w, name)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func twoServerSnap(a, b string, lbDef spec.LoadBalancer) *spec.Snapshot {
	lbDef.EndpointsKey, lbDef.PassHostHeader = "k", true
	return &spec.Snapshot{
		Routers:   []spec.Router{{Name: "r", Rule: "PathPrefix(`/`)", Service: "svc"}},
		Services:  map[string]*spec.Service{"svc": {Name: "svc", LoadBalancer: &lbDef}},
		Endpoints: map[string][]spec.Server{"k": {{URL: a}, {URL: b}}},
	}
}

func TestPassiveHealthCheck(t *testing.T) {
	var okA, okB atomic.Bool
	okA.Store(true)
	a, b := flaky(t, "a", &okA), flaky(t, "b", &okB)
	_, base := startServer(t, twoServerSnap(a, b, spec.LoadBalancer{Passive: &spec.PassiveHealthCheck{MaxFailedAttempts: 2, FailureWindow: 700 * time.Millisecond}}))
	// b fails twice (round robin sends it every other request), then is out.
	failures := 0
	for range 10 {
		if code, _ := get(t, base+"/", ""); code == 500 {
			failures++
		}
	}
	if failures != 2 {
		t.Errorf("b answered 500 %d times before being taken out, want 2", failures)
	}
	okB.Store(true)
	time.Sleep(800 * time.Millisecond) // the failure window passes: b is back
	seen := map[string]bool{}
	for range 6 {
		_, body := get(t, base+"/", "")
		seen[body] = true
	}
	if !seen["a"] || !seen["b"] {
		t.Errorf("after the failure window both servers should serve, saw %v", seen)
	}
}

func TestActiveHealthCheck(t *testing.T) {
	var okA, okB atomic.Bool
	okA.Store(true)
	a, b := flaky(t, "a", &okA), flaky(t, "b", &okB)
	hc := &spec.HealthCheck{Path: "/health", Interval: 50 * time.Millisecond, UnhealthyInterval: 50 * time.Millisecond, Timeout: time.Second, FollowRedirects: true}
	_, base := startServer(t, twoServerSnap(a, b, spec.LoadBalancer{HealthCheck: hc}))
	only := func(want string) bool {
		for range 6 {
			if _, body := get(t, base+"/", ""); body != want {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(5 * time.Second)
	for !only("a") {
		if time.Now().After(deadline) {
			t.Fatal("the unhealthy server was not taken out")
		}
		time.Sleep(20 * time.Millisecond)
	}
	okB.Store(true)
	okA.Store(false)
	for !only("b") {
		if time.Now().After(deadline) {
			t.Fatal("health changes were not followed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPing(t *testing.T) {
	static, _ := ParseStatic([]string{"--entryPoints.traefik.address=127.0.0.1:0", "--entryPoints.web.address=127.0.0.1:0", "--ping"})
	s := NewServer(static, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.Apply(&spec.Snapshot{})
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Serve(ctx)
	if code, body := get(t, "http://"+s.Addr("traefik")+"/ping", ""); code != 200 || body != "OK" {
		t.Errorf("ping: %d %q", code, body)
	}
	if code, _ := get(t, "http://"+s.Addr("web")+"/ping", ""); code != 404 {
		t.Errorf("ping on web: %d, want 404 (ping lives on the traefik entry point)", code)
	}
}

// TestRequestBody: request bodies reach the backend intact, with a length
// or chunked, small or larger than the server's read-ahead.
func TestRequestBody(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %d %v %x", r.Method, len(b), err, b[len(b)/2:len(b)/2+min(8, len(b)-len(b)/2)])
	})}
	go srv.Serve(ln)
	defer srv.Close()
	snap := lbSnap([]spec.Router{{Name: "r", Rule: "PathPrefix(`/`)", Service: "s"}}, map[string]string{"s": "http://" + ln.Addr().String()})
	_, base := startServer(t, snap)
	for _, size := range []int{1, 1000, 3 << 20} {
		body := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
		for _, chunked := range []bool{false, true} {
			var r io.Reader = bytes.NewReader(body)
			if chunked {
				r = io.MultiReader(r) // unknown length: sent chunked
			}
			resp, err := http.Post(base+"/upload", "application/octet-stream", r)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := fmt.Sprintf("POST %d <nil> %x", size, body[size/2:size/2+min(8, size-size/2)])
			if string(got) != want {
				t.Errorf("size %d chunked %v: backend saw %q, want %q", size, chunked, got, want)
			}
		}
	}
}

// An endpoint-only update swaps the balancer in place: traffic follows at
// once, the compiled tables are the same, and requests running during a
// stream of swaps never fail.
func TestUpdateEndpoints(t *testing.T) {
	a, b := backend(t, "a"), backend(t, "b")
	snap := lbSnap([]spec.Router{{Name: "r", Rule: "PathPrefix(`/`)", Service: "s"}}, map[string]string{"s": a})
	s, base := startServer(t, snap)
	table, _ := s.Runtime().Table("web")
	if _, body := get(t, base+"/", ""); !strings.HasPrefix(body, "a ") {
		t.Fatalf("before: %q", body)
	}
	s.UpdateEndpoints(map[string][]spec.Server{"s": {{URL: b}}, "unused": {{URL: a}}})
	if _, body := get(t, base+"/", ""); !strings.HasPrefix(body, "b ") {
		t.Fatalf("after: %q", body)
	}
	if now, _ := s.Runtime().Table("web"); now != table {
		t.Fatal("UpdateEndpoints replaced the compiled table")
	}
	// The pool of a, no longer used, is closed; b's is kept.
	hasA, hasB := s.ups.has(a), s.ups.has(b)
	if hasA || !hasB {
		t.Fatalf("upstream pools: a %v, b %v", hasA, hasB)
	}
	// A later Apply of the same routing reuses the tables and keeps b.
	s.Apply(lbSnap([]spec.Router{{Name: "r", Rule: "PathPrefix(`/`)", Service: "s"}}, map[string]string{"s": b}))
	if s.Runtime().Compiled {
		t.Fatal("Apply after UpdateEndpoints recompiled unchanged rules")
	}

	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		n := 0
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- n
				return
			default:
			}
			url := a
			if i%2 == 1 {
				url = b
			}
			s.UpdateEndpoints(map[string][]spec.Server{"s": {{URL: url}, {URL: b}}})
			n++
		}
	}()
	for range 300 {
		if code, body := get(t, base+"/", ""); code != 200 || !(strings.HasPrefix(body, "a ") || strings.HasPrefix(body, "b ")) {
			t.Fatalf("during swaps: %d %q", code, body)
		}
	}
	close(stop)
	if n := <-done; n < 10 {
		t.Fatalf("only %d swaps ran", n)
	}
}

// Entry points with the same routers share one compiled table.
func TestEntryPointsShareTables(t *testing.T) {
	static, err := ParseStatic([]string{"--entryPoints.a.address=:1", "--entryPoints.b.address=:2", "--entryPoints.c.address=:3"})
	if err != nil {
		t.Fatal(err)
	}
	snap := lbSnap([]spec.Router{{Name: "all", Rule: "Host(`x`)", Service: "s"}, {Name: "only-c", Rule: "Host(`y`)", Service: "s", EntryPoints: []string{"c"}}},
		map[string]string{"s": "http://127.0.0.1:1"})
	rt, probs := Build(static, snap)
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	if rt.entry["a"].table != rt.entry["b"].table || rt.entry["a"].table == rt.entry["c"].table {
		t.Fatal("tables: a and b must share one, c has its own")
	}
}

// Headers an upstream names in its Connection header are hop-by-hop and
// stop at the proxy; a request body without a Content-Type gets none.
func TestResponseConnectionListedHeaders(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "X-Hop, keep-alive")
		w.Header().Set("X-Hop", "secret")
		w.Header().Set("X-Kept", "yes")
		fmt.Fprintf(w, "ct=%q", r.Header.Get("Content-Type"))
	})}
	go srv.Serve(ln)
	defer srv.Close()
	_, base := startServer(t, lbSnap([]spec.Router{{Name: "r", Rule: "PathPrefix(`/`)", Service: "s"}}, map[string]string{"s": "http://" + ln.Addr().String()}))
	req, _ := http.NewRequest("POST", base+"/", strings.NewReader("body"))
	req.Header.Del("Content-Type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("X-Hop") != "" || resp.Header.Get("X-Kept") != "yes" {
		t.Errorf("response headers: %v", resp.Header)
	}
	if string(body) != `ct=""` {
		t.Errorf("upstream saw %s", body)
	}
}

// fixedBackend answers every connection with resp and closes it.
func fixedBackend(t *testing.T, resp string) string {
	t.Helper()
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
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				c.Read(buf) // the request (small, one read)
				io.WriteString(c, resp)
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// The status line is edgeroute's own whatever the upstream's: HTTP/1.1
// (HTTP/1.0 to a 1.0 client) and the standard reason phrase, as Traefik
// (Go's server) answers. An HTTP/1.0 answer without Content-Length is
// read to its close and relayed chunked to an HTTP/1.1 client.
func TestOwnStatusLine(t *testing.T) {
	snap := lbSnap([]spec.Router{
		{Name: "len", Rule: "Host(`len.test`)", Service: "len"},
		{Name: "close", Rule: "Host(`close.test`)", Service: "close"},
		{Name: "odd", Rule: "Host(`odd.test`)", Service: "odd"},
	}, map[string]string{
		"len":   fixedBackend(t, "HTTP/1.0 200 Fine\r\nContent-Length: 2\r\n\r\nok"),
		"close": fixedBackend(t, "HTTP/1.0 200 OK\r\nX-A: 1\r\n\r\nuntil close"),
		"odd":   fixedBackend(t, "HTTP/1.1 299 Whatever\r\nContent-Length: 0\r\n\r\n"),
	})
	s, _ := startServer(t, snap)
	for _, c := range []struct{ host, proto, wantLine, wantBody string }{
		{"len.test", "HTTP/1.1", "HTTP/1.1 200 OK", "ok"},
		{"len.test", "HTTP/1.0", "HTTP/1.0 200 OK", "ok"},
		{"close.test", "HTTP/1.1", "HTTP/1.1 200 OK", "until close"},
		{"close.test", "HTTP/1.0", "HTTP/1.0 200 OK", "until close"},
		{"odd.test", "HTTP/1.1", "HTTP/1.1 299 status code 299", ""},
	} {
		conn, err := net.Dial("tcp", s.Addr("web"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET / %s\r\nHost: %s\r\n\r\n", c.proto, c.host)
		br := bufio.NewReader(conn)
		line, _ := br.ReadString('\n')
		if strings.TrimRight(line, "\r\n") != c.wantLine {
			t.Errorf("%s %s: status line %q, want %q", c.host, c.proto, line, c.wantLine)
		}
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(io.MultiReader(strings.NewReader(line), br)), nil)
		if err != nil {
			t.Fatalf("%s %s: %v", c.host, c.proto, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil || string(body) != c.wantBody {
			t.Errorf("%s %s: body %q %v, want %q", c.host, c.proto, body, err, c.wantBody)
		}
		if c.host == "close.test" && c.proto == "HTTP/1.1" && (len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked") {
			t.Errorf("close.test: transfer encoding %v, want chunked", resp.TransferEncoding)
		}
		conn.Close()
	}
}

// Refusals of the parser reach the client: a 2 MiB header block gets
// 431 with Go's body, read whole while the client is still sending (the
// proxy shuts its write side and drains instead of resetting), and a
// malformed request gets 400.
func TestRefusalsAreReadable(t *testing.T) {
	snap := lbSnap([]spec.Router{{Name: "a", Rule: "PathPrefix(`/`)", Service: "a"}}, map[string]string{"a": backend(t, "a")})
	s, _ := startServer(t, snap)
	for _, c := range []struct {
		req  string
		want string
	}{
		{"GET / HTTP/1.1\r\nHost: a.test\r\nX-Big: " + strings.Repeat("a", 2<<20) + "\r\n\r\n", "431 Request Header Fields Too Large"},
		{"GET / HTTP/1.1\r\nHost: a.test\r\nBad Header\r\n\r\n", "400 Bad Request"},
	} {
		conn, err := net.Dial("tcp", s.Addr("web"))
		if err != nil {
			t.Fatal(err)
		}
		sent := make(chan error, 1)
		go func() { _, err := io.WriteString(conn, c.req); sent <- err }()
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(conn)
		if err != nil {
			t.Errorf("%.20q: reading the refusal: %v (read %q)", c.req, err, got)
		}
		want := "HTTP/1.1 " + c.want + "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n" + c.want
		if string(got) != want {
			t.Errorf("%.20q: got %q, want %q", c.req, got, want)
		}
		if err := <-sent; err != nil {
			t.Errorf("%.20q: the proxy reset the connection while the client sent: %v", c.req, err)
		}
		conn.Close()
	}
}

// Host values net/http accepts and fasthttp's URI parser refuses are
// routed as Traefik routes them (a request without a body); a missing
// Host on HTTP/1.1 is Go's 400.
func TestHostValuesGoAccepts(t *testing.T) {
	snap := lbSnap([]spec.Router{
		{Name: "v6", Rule: "Host(`::1`)", Service: "v6"},
		{Name: "ex", Rule: "Host(`example.com`)", Service: "ex"},
		{Name: "all", Rule: "PathPrefix(`/`)", Service: "all", Priority: 1},
	}, map[string]string{"v6": backend(t, "v6"), "ex": backend(t, "ex"), "all": backend(t, "all")})
	s, _ := startServer(t, snap)
	for _, c := range []struct{ head, want string }{
		{"Host: ::1", "HTTP/1.1 200 OK|v6 GET / host=::1"},
		{"Host: example.com:abc", "HTTP/1.1 200 OK|ex GET / host=example.com:abc"},
		{"Host: [example.com]", "HTTP/1.1 200 OK|all GET / host=[example.com]"},
		{"Host: a%zz", "HTTP/1.1 200 OK|all GET / host=a%zz"},
		{"X-No-Host: 1", "HTTP/1.1 400 Bad Request|400 Bad Request: missing required Host header"},
	} {
		conn, err := net.Dial("tcp", s.Addr("web"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET / HTTP/1.1\r\n%s\r\n\r\n", c.head)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, _ := io.ReadAll(conn)
		conn.Close()
		line, rest, _ := strings.Cut(string(got), "\r\n")
		_, body, _ := strings.Cut(rest, "\r\n\r\n")
		wantLine, wantBody, _ := strings.Cut(c.want, "|")
		if line != wantLine || !strings.HasPrefix(body, wantBody) {
			t.Errorf("%s: %q / %q, want %q / %q", c.head, line, body, wantLine, wantBody)
		}
	}
}
