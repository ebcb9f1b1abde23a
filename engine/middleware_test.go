package engine

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/edgeroute/edgeroute/compile/spec"
)

func mwDef(name, kind, config string, chain ...string) *spec.Middleware {
	return &spec.Middleware{Name: name, Kind: kind, Config: json.RawMessage(config), Chain: chain,
		Ref: spec.Ref{Kind: "Middleware", Namespace: "default", Name: name}}
}

func withMiddlewares(snap *spec.Snapshot, ms ...*spec.Middleware) *spec.Snapshot {
	snap.Middlewares = map[string]*spec.Middleware{}
	for _, m := range ms {
		snap.Middlewares[m.Name] = m
	}
	return snap
}

// Routers run their entry point's middlewares, then their own, in list
// order, before the service; chains expand in place.
func TestMiddlewareOrder(t *testing.T) {
	a := backend(t, "a")
	snap := withMiddlewares(lbSnap([]spec.Router{
		{Name: "api", Rule: "PathPrefix(`/api`)", Service: "s", Middlewares: []string{"strip@kubernetescrd", "v1@kubernetescrd"}},
		{Name: "rev", Rule: "PathPrefix(`/rev`)", Service: "s", Middlewares: []string{"v1@kubernetescrd", "strip-rev@kubernetescrd"}},
		{Name: "chained", Rule: "PathPrefix(`/c`)", Service: "s", Middlewares: []string{"both@kubernetescrd"}},
	}, map[string]string{"s": a}),
		mwDef("strip@kubernetescrd", "stripPrefix", `{"prefixes":["/api"]}`),
		mwDef("strip-rev@kubernetescrd", "stripPrefix", `{"prefixes":["/v1/rev"]}`),
		mwDef("v1@kubernetescrd", "addPrefix", `{"prefix":"/v1"}`),
		mwDef("root@kubernetescrd", "addPrefix", `{"prefix":"/root"}`),
		mwDef("strip-c@kubernetescrd", "stripPrefix", `{"prefixes":["/c"]}`),
		mwDef("both@kubernetescrd", "chain", `{}`, "strip-c@kubernetescrd", "v1@kubernetescrd"),
	)
	_, base := startServer(t, snap, "--entryPoints.web.http.middlewares=root")
	for path, want := range map[string]string{
		"/api/users?x=1": "a GET /v1/root/api/users?x=1 ", // root first: strip finds no /api
		"/rev/x":         "a GET /v1/root/rev/x ",         // v1 then strip-rev, which finds /v1/root
		"/c/x":           "a GET /v1/root/c/x ",           // the chain after root
	} {
		if code, body := get(t, base+path, "a.test"); code != 200 || !strings.HasPrefix(body, want) {
			t.Errorf("GET %s: %d %q, want %q", path, code, body, want)
		}
	}
}

// A router naming a missing or broken middleware is not served (404, as
// in Traefik); the problem names the router and the middleware, and every
// other router keeps serving.
func TestMiddlewareMissingOrBroken(t *testing.T) {
	a := backend(t, "a")
	snap := withMiddlewares(lbSnap([]spec.Router{
		{Name: "ok", Rule: "PathPrefix(`/ok`)", Service: "s", Middlewares: []string{"strip@kubernetescrd"}},
		{Name: "missing", Rule: "PathPrefix(`/missing`)", Service: "s", Middlewares: []string{"nope@kubernetescrd"}},
		{Name: "broken", Rule: "PathPrefix(`/broken`)", Service: "s", Middlewares: []string{"bad@kubernetescrd"}},
		{Name: "cycle", Rule: "PathPrefix(`/cycle`)", Service: "s", Middlewares: []string{"loop@kubernetescrd"}},
	}, map[string]string{"s": a}),
		mwDef("strip@kubernetescrd", "stripPrefix", `{"prefixes":["/ok"]}`),
		mwDef("bad@kubernetescrd", "addPrefix", `{"prefix":""}`),
		mwDef("loop@kubernetescrd", "chain", `{}`, "loop@kubernetescrd"),
	)
	static, err := ParseStatic([]string{"--entryPoints.web.address=127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(static, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var msgs []string
	for _, p := range s.Apply(snap) {
		msgs = append(msgs, p.Error())
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{
		"router missing: middleware nope@kubernetescrd does not exist",
		"router broken: middleware bad@kubernetescrd (addPrefix): prefix cannot be empty",
		"Middleware default/bad@kubernetescrd: middleware bad@kubernetescrd (addPrefix): prefix cannot be empty",
		"router cycle: middleware loop@kubernetescrd (chain): middleware chain cycle: loop@kubernetescrd -> loop@kubernetescrd",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("problems lack %q:\n%s", want, all)
		}
	}
	base := serveApplied(t, s)
	if code, body := get(t, base+"/ok/x", "a.test"); code != 200 || !strings.HasPrefix(body, "a GET /x ") {
		t.Errorf("/ok/x: %d %q", code, body)
	}
	for _, path := range []string{"/missing", "/broken", "/cycle"} {
		if code, body := get(t, base+path, "a.test"); code != 404 || body != "404 page not found\n" {
			t.Errorf("%s: %d %q, want 404", path, code, body)
		}
	}
}

// serveApplied serves a server whose configuration is already applied.
func serveApplied(t *testing.T, s *Server) string {
	t.Helper()
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return "http://" + s.Addr("web")
}

// A Kubernetes Service reference's own middlewares run after the
// router's, before balancing; one that is missing answers 404.
func TestServiceMiddlewares(t *testing.T) {
	a := backend(t, "a")
	snap := withMiddlewares(lbSnap([]spec.Router{
		{Name: "r", Rule: "PathPrefix(`/r`)", Service: "s", Middlewares: []string{"v1@kubernetescrd"}},
		{Name: "bad", Rule: "PathPrefix(`/bad`)", Service: "broken"},
	}, map[string]string{"s": a, "broken": a}),
		mwDef("v1@kubernetescrd", "addPrefix", `{"prefix":"/v1"}`),
		mwDef("svc@kubernetescrd", "addPrefix", `{"prefix":"/svc"}`),
	)
	snap.Services["s"].Middlewares = []string{"svc@kubernetescrd"}
	snap.Services["broken"].Middlewares = []string{"nope@kubernetescrd"}
	static, err := ParseStatic([]string{"--entryPoints.web.address=127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(static, slog.New(slog.NewTextHandler(io.Discard, nil)))
	probs := s.Apply(snap)
	if len(probs) != 1 || !strings.Contains(probs[0].Error(), "service broken: middleware nope@kubernetescrd does not exist") {
		t.Errorf("problems: %v", probs)
	}
	base := serveApplied(t, s)
	if code, body := get(t, base+"/r/x", "a.test"); code != 200 || !strings.HasPrefix(body, "a GET /svc/v1/r/x ") {
		t.Errorf("/r/x: %d %q", code, body)
	}
	if code, _ := get(t, base+"/bad", "a.test"); code != 404 {
		t.Errorf("/bad: %d, want 404", code)
	}
}

// Header lines reach the backend as the client sent them: fasthttp would
// re-serialise Cookie lines once parsed ("a=1;b=2" as "a=1; b=2", two
// lines as one); Traefik forwards them as they are.
func TestCookieLinesForwardedAsSent(t *testing.T) {
	got := make(chan []string, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.Header["Cookie"] })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	snap := lbSnap([]spec.Router{{Name: "r", Rule: "PathPrefix(`/`)", Service: "s"}}, map[string]string{"s": "http://" + ln.Addr().String()})
	_, base := startServer(t, snap)
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a.test\r\nCookie: a=1;b=2\r\nCookie: c=3\r\nConnection: close\r\n\r\n")
	io.ReadAll(c)
	if lines := <-got; !slices.Equal(lines, []string{"a=1;b=2", "c=3"}) {
		t.Errorf("backend got Cookie lines %q, want [a=1;b=2 c=3]", lines)
	}
}

// retry through the server: the balancer is asked again, so a request
// that met a dead server reaches a live one.
func TestRetryThroughServer(t *testing.T) {
	a := backend(t, "a")
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + dead.Addr().String()
	dead.Close() // connections refused from now on
	snap := withMiddlewares(lbSnap([]spec.Router{{Name: "r", Rule: "PathPrefix(`/`)", Service: "s", Middlewares: []string{"retry@kubernetescrd"}}},
		map[string]string{"s": a}), mwDef("retry@kubernetescrd", "retry", `{"attempts":3}`))
	snap.Endpoints["s"] = []spec.Server{{URL: deadURL}, {URL: a}}
	_, base := startServer(t, snap)
	for i := range 20 {
		if code, body := get(t, base+"/x", "a.test"); code != 200 || !strings.HasPrefix(body, "a GET /x ") || !strings.Contains(body, "xff=127.0.0.1 ") {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
	}
}

// A path that is not a valid encoding is forwarded as Go's
// URL.EscapedPath gives it (Traefik's form): escaped from its decoded form.
func TestForwardedPathEscaping(t *testing.T) {
	a := backend(t, "a")
	_, base := startServer(t, lbSnap([]spec.Router{{Name: "r", Rule: "PathPrefix(`/`)", Service: "s"}}, map[string]string{"s": a}))
	for sent, want := range map[string]string{
		"/a%2Fb":      "/a%2Fb", // valid: kept byte for byte
		"/\xc3\xa9":   "/%C3%A9",
		"/a{b}":       "/a%7Bb%7D",
		"/a%2Fb{":     "/a/b%7B",
		"/a\"b?q={x}": "/a%22b?q={x}", // the query is forwarded as sent
	} {
		c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "GET "+sent+" HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
		body, _ := io.ReadAll(c)
		c.Close()
		if !strings.Contains(string(body), "a GET "+want+" ") {
			t.Errorf("%q: backend saw %q, want %q", sent, body, want)
		}
	}
}
