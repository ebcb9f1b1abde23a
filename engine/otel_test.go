package engine

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/engine/tracing/otlptest"
)

// traceBackend is a real HTTP server on loopback that answers 200 with
// X-Backend: name and records the traceparent (and tracestate, baggage)
// of every request it gets, by request path.
type traceBackend struct {
	URL string
	mu  sync.Mutex
	got map[string][]string // path -> traceparent, tracestate, baggage
}

func newTraceBackend(t *testing.T) *traceBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &traceBackend{URL: "http://" + ln.Addr().String(), got: map[string][]string{}}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.got[r.URL.Path] = []string{r.Header.Get("Traceparent"), r.Header.Get("Tracestate"), r.Header.Get("Baggage")}
		b.mu.Unlock()
		w.Header().Set("X-Backend", "traced")
		status := 200
		if s, err := strconv.Atoi(r.URL.Query().Get("status")); err == nil {
			status = s
		}
		w.WriteHeader(status)
		fmt.Fprint(w, "ok")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return b
}

func (b *traceBackend) seen(path string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.got[path]
}

// flush exports the server's queued spans now.
func flush(t *testing.T, s *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.tracer.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
}

func byName(spans []otlptest.Span) map[string]otlptest.Span {
	m := map[string]otlptest.Span{}
	for _, s := range spans {
		m[s.Name] = s
	}
	return m
}

var traceparentRE = regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$`)

// A traced request makes Traefik's two spans, over either OTLP
// transport: the entry point span (server, named by the method) and the
// ReverseProxy span (client) under it, with Traefik's attributes (the
// query redacted but for safeQueryParams, captured headers); the backend
// gets a traceparent whose parent is the ReverseProxy span.
func TestTracingSpans(t *testing.T) {
	for _, transport := range []string{"http", "grpc"} {
		t.Run(transport, func(t *testing.T) {
			rcv := otlptest.Start(t)
			be := newTraceBackend(t)
			snap := lbSnap([]spec.Router{{Name: "r@kubernetescrd", Rule: "PathPrefix(`/`)", Service: "svc@kubernetescrd"}},
				map[string]string{"svc@kubernetescrd": be.URL})
			args := []string{"--tracing.serviceName=edge", "--tracing.safeQueryParams=a",
				"--tracing.capturedRequestHeaders=X-Req,User-Agent", "--tracing.capturedResponseHeaders=x-backend",
				"--tracing.resourceAttributes.deployment.environment=test"}
			if transport == "http" {
				args = append(args, "--tracing.otlp.http.endpoint="+rcv.HTTPURL+"/v1/traces")
			} else {
				args = append(args, "--tracing.otlp.grpc.endpoint="+strings.TrimPrefix(rcv.GRPCAddr, "http://"), "--tracing.otlp.grpc.insecure")
			}
			s, base := startServer(t, snap, args...)
			code, _ := get(t, base+"/p/a%20b?b=2&a=1;c=3", "example.test", "User-Agent: tester", "X-Req: one", "X-Req: two")
			if code != 200 {
				t.Fatalf("status %d", code)
			}
			flush(t, s)
			spans := rcv.Wait(t, 2, 10*time.Second)
			if len(spans) != 2 {
				t.Fatalf("%d spans, want 2: %v", len(spans), spans)
			}
			m := byName(spans)
			srv, cli := m["GET"], m["ReverseProxy"]
			if srv.Kind != "Server" || cli.Kind != "Client" || srv.ParentID != "" || cli.ParentID != srv.SpanID || cli.TraceID != srv.TraceID {
				t.Fatalf("span tree: %v", spans)
			}
			beHost, bePort, _ := net.SplitHostPort(strings.TrimPrefix(be.URL, "http://"))
			bp, _ := strconv.Atoi(bePort)
			wantSrv := map[string]any{
				"entry_point": "web", "http.request.method": "GET", "network.protocol.version": "1.1",
				"http.request.body.size": int64(0), "url.path": "/p/a b", "url.query": "a=1&b=REDACTED&c=REDACTED",
				"url.scheme": "http", "user_agent.original": "tester", "server.address": "example.test",
				"network.peer.address": "127.0.0.1", "client.address": "127.0.0.1",
				"http.request.header.x-req": []any{"one", "two"},
				"http.response.status_code": int64(200), "http.response.header.x-backend": []any{"traced"},
			}
			wantCli := map[string]any{
				"http.request.method": "GET", "network.protocol.version": "1.1",
				"url.full": be.URL + "/p/a%20b?a=1&b=REDACTED&c=REDACTED", "url.scheme": "http",
				"user_agent.original": "tester", "network.peer.address": beHost, "network.peer.port": int64(bp),
				"server.address": beHost, "server.port": int64(bp), "http.request.header.x-req": []any{"one", "two"},
				"http.response.status_code": int64(200), "http.response.header.x-backend": []any{"traced"},
			}
			for _, k := range []string{"client.port", "network.peer.port"} {
				if p, ok := srv.Attrs[k].(int64); !ok || p <= 0 {
					t.Errorf("server span %s = %v", k, srv.Attrs[k])
				}
				delete(srv.Attrs, k)
			}
			compareAttrs(t, "server span", srv.Attrs, wantSrv)
			compareAttrs(t, "ReverseProxy span", cli.Attrs, wantCli)
			if srv.Status != "Unset" || cli.Status != "Unset" {
				t.Errorf("statuses %s %s", srv.Status, cli.Status)
			}
			if srv.Scope != "github.com/traefik/traefik" || srv.Resource["service.name"] != "edge" || srv.Resource["deployment.environment"] != "test" {
				t.Errorf("scope %q resource %v", srv.Scope, srv.Resource)
			}
			if !srv.Start.Before(cli.Start) || srv.End.Before(cli.End) {
				t.Errorf("the ReverseProxy span is not inside the server span: %v-%v, %v-%v", srv.Start, srv.End, cli.Start, cli.End)
			}
			tp := traceparentRE.FindStringSubmatch(be.seen("/p/a b")[0])
			if tp == nil || tp[1] != srv.TraceID || tp[2] != cli.SpanID || tp[3] != "01" {
				t.Errorf("backend traceparent %q, want trace %s parent %s sampled", be.seen("/p/a b"), srv.TraceID, cli.SpanID)
			}
		})
	}
}

func compareAttrs(t *testing.T, what string, got, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if fmt.Sprint(got[k]) != fmt.Sprint(v) {
			t.Errorf("%s: %s = %#v, want %#v", what, k, got[k], v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected attribute %s = %#v", what, k, v)
		}
	}
}

// tracedServer starts a server with one route to be, tracing over HTTP to
// rcv with extra arguments.
func tracedServer(t *testing.T, rcv *otlptest.Receiver, be *traceBackend, routers []spec.Router, args ...string) (*Server, string) {
	t.Helper()
	if routers == nil {
		routers = []spec.Router{{Name: "r@kubernetescrd", Rule: "PathPrefix(`/`)", Service: "svc@kubernetescrd"}}
	}
	snap := lbSnap(routers, map[string]string{"svc@kubernetescrd": be.URL})
	return startServer(t, snap, append([]string{"--tracing.otlp.http.endpoint=" + rcv.HTTPURL}, args...)...)
}

// An incoming traceparent is continued: its trace ID kept, its span the
// parent of the entry point span, its tracestate and baggage passed on.
// Sampling is parent-based, as Traefik's: a sampled parent is exported
// even at sampleRate 0, an unsampled one is not at sampleRate 1 (and the
// backend still gets the trace, unsampled).
func TestTracingContinuesTrace(t *testing.T) {
	const traceID, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	for _, c := range []struct {
		rate     string
		flags    string
		exported bool
	}{{"1", "01", true}, {"0", "01", true}, {"1", "00", false}} {
		t.Run("rate="+c.rate+",flags="+c.flags, func(t *testing.T) {
			rcv := otlptest.Start(t)
			be := newTraceBackend(t)
			s, base := tracedServer(t, rcv, be, nil, "--tracing.sampleRate="+c.rate)
			get(t, base+"/x", "", "Traceparent: 00-"+traceID+"-"+parent+"-"+c.flags, "Tracestate: vendor=v1", "Baggage: user=alice")
			flush(t, s)
			tp := traceparentRE.FindStringSubmatch(be.seen("/x")[0])
			if tp == nil || tp[1] != traceID || tp[2] == parent || tp[3] != c.flags {
				t.Errorf("backend traceparent %q: want trace %s, a new parent, flags %s", be.seen("/x")[0], traceID, c.flags)
			}
			if be.seen("/x")[1] != "vendor=v1" || be.seen("/x")[2] != "user=alice" {
				t.Errorf("backend tracestate/baggage %q", be.seen("/x")[1:])
			}
			if !c.exported {
				time.Sleep(200 * time.Millisecond)
				if n := len(rcv.Spans()); n != 0 {
					t.Fatalf("%d spans exported for an unsampled parent", n)
				}
				return
			}
			m := byName(rcv.Wait(t, 2, 10*time.Second))
			srv, cli := m["GET"], m["ReverseProxy"]
			if srv.TraceID != traceID || srv.ParentID != parent || srv.TraceState != "vendor=v1" || tp[2] != cli.SpanID {
				t.Errorf("server span %v (tracestate %q), client %v, backend parent %s", srv, srv.TraceState, cli, tp[2])
			}
		})
	}
}

// sampleRate without an incoming trace: 0 exports nothing (the backend
// still gets an unsampled traceparent, the access log still its IDs), 1
// everything, 0.5 about half, within a bound a correct sampler misses
// with probability below 1e-8 over 400 requests.
func TestTracingSampleRate(t *testing.T) {
	for _, c := range []struct {
		rate   string
		n      int
		lo, hi int
	}{{"0", 200, 0, 0}, {"1", 200, 200, 200}, {"0.5", 400, 200 - 60, 200 + 60}} {
		t.Run(c.rate, func(t *testing.T) {
			rcv := otlptest.Start(t)
			be := newTraceBackend(t)
			logFile := t.TempDir() + "/access.json"
			s, base := tracedServer(t, rcv, be, nil, "--tracing.sampleRate="+c.rate,
				"--accessLog.format=json", "--accessLog.filePath="+logFile)
			client := &http.Client{}
			for i := range c.n {
				resp, err := client.Get(base + "/r" + strconv.Itoa(i))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}
			flush(t, s)
			if c.hi > 0 {
				rcv.Wait(t, 2*c.lo, 10*time.Second)
			}
			time.Sleep(200 * time.Millisecond)
			servers := 0
			for _, sp := range rcv.Spans() {
				if sp.Kind == "Server" {
					servers++
				}
			}
			if servers < c.lo || servers > c.hi || len(rcv.Spans()) != 2*servers {
				t.Errorf("rate %s: %d of %d requests exported (%d spans), want %d..%d", c.rate, servers, c.n, len(rcv.Spans()), c.lo, c.hi)
			}
			tp := traceparentRE.FindStringSubmatch(be.seen("/r0")[0])
			if want := map[string]string{"0": "00", "1": "01"}[c.rate]; tp == nil || want != "" && tp[3] != want {
				t.Errorf("backend traceparent %q at rate %s", be.seen("/r0")[0], c.rate)
			}
			if c.rate == "0" {
				// Every access log line has the (unsampled) trace's IDs.
				lines := waitLines(t, logFile, c.n)
				if !strings.Contains(lines[0], `"TraceId":"`+tp[1]+`"`) || !strings.Contains(lines[0], `"trace_id":"`+tp[1]+`"`) ||
					!strings.Contains(lines[0], `"SpanId":"`) {
					t.Errorf("access log line without the trace's IDs: %s", lines[0])
				}
			}
		})
	}
}

// waitLines reads a log file until it has n lines.
func waitLines(t *testing.T, path string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(b) > 0 && len(lines) >= n {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d lines, want %d", path, len(lines), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The access log's TraceId and SpanId are the entry point span's; lines
// of requests not traced have none.
func TestTracingAccessLogIDs(t *testing.T) {
	rcv := otlptest.Start(t)
	be := newTraceBackend(t)
	off := false
	logFile := t.TempDir() + "/access.json"
	s, base := tracedServer(t, rcv, be, []spec.Router{
		{Name: "on@kubernetescrd", Rule: "PathPrefix(`/on`)", Service: "svc@kubernetescrd"},
		{Name: "off@kubernetescrd", Rule: "PathPrefix(`/off`)", Service: "svc@kubernetescrd", Observability: &spec.Observability{Tracing: &off}},
	}, "--accessLog.format=json", "--accessLog.filePath="+logFile)
	get(t, base+"/on", "")
	get(t, base+"/off", "")
	flush(t, s)
	srv := byName(rcv.Wait(t, 2, 10*time.Second))["GET"]
	lines := waitLines(t, logFile, 2)
	if !strings.Contains(lines[0], `"SpanId":"`+srv.SpanID+`"`) || !strings.Contains(lines[0], `"TraceId":"`+srv.TraceID+`"`) ||
		!strings.Contains(lines[0], `"span_id":"`+srv.SpanID+`"`) {
		t.Errorf("line 1 %s, want span %s of trace %s", lines[0], srv.SpanID, srv.TraceID)
	}
	if strings.Contains(lines[1], "TraceId") || strings.Contains(lines[1], "trace_id") {
		t.Errorf("untraced request logged trace IDs: %s", lines[1])
	}
}

// observability.tracing on a route, and on its entry point
// (entryPoints.NAME.observability.tracing) with the route overriding it:
// a route not traced exports nothing and sends no traceparent.
func TestTracingToggles(t *testing.T) {
	on, off := true, false
	routers := []spec.Router{
		{Name: "default@kubernetescrd", Rule: "PathPrefix(`/default`)", Service: "svc@kubernetescrd"},
		{Name: "on@kubernetescrd", Rule: "PathPrefix(`/on`)", Service: "svc@kubernetescrd", Observability: &spec.Observability{Tracing: &on}},
		{Name: "off@kubernetescrd", Rule: "PathPrefix(`/off`)", Service: "svc@kubernetescrd", Observability: &spec.Observability{Tracing: &off}},
	}
	for _, c := range []struct {
		epTracing string
		traced    map[string]bool
	}{
		{"", map[string]bool{"/default": true, "/on": true, "/off": false}},
		{"false", map[string]bool{"/default": false, "/on": true, "/off": false}},
	} {
		t.Run("entrypoint="+c.epTracing, func(t *testing.T) {
			rcv := otlptest.Start(t)
			be := newTraceBackend(t)
			var args []string
			if c.epTracing != "" {
				args = append(args, "--entryPoints.web.observability.tracing="+c.epTracing)
			}
			s, base := tracedServer(t, rcv, be, routers, args...)
			want := 0
			for _, p := range []string{"/default", "/on", "/off"} {
				get(t, base+p, "")
				if c.traced[p] {
					want += 2
				}
			}
			flush(t, s)
			spans := rcv.Wait(t, want, 10*time.Second)
			time.Sleep(200 * time.Millisecond)
			if spans = rcv.Spans(); len(spans) != want {
				t.Errorf("%d spans, want %d: %v", len(spans), want, spans)
			}
			paths := map[string]bool{}
			for _, sp := range spans {
				if sp.Kind == "Server" {
					paths[sp.Attrs["url.path"].(string)] = true
				}
			}
			for p, traced := range c.traced {
				if paths[p] != traced {
					t.Errorf("%s: traced %v, want %v", p, paths[p], traced)
				}
				if got := be.seen(p)[0] != ""; got != traced {
					t.Errorf("%s: backend traceparent %q, want one: %v", p, be.seen(p)[0], traced)
				}
			}
		})
	}
}

// Errors: the entry point's own 404 is traced (its span alone), an
// unreachable upstream makes both spans errors with 502, a 404 from the
// upstream is an error on the client span only (Traefik's clientStatus and
// serverStatus).
func TestTracingStatuses(t *testing.T) {
	rcv := otlptest.Start(t)
	be := newTraceBackend(t)
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadURL := "http://" + dead.Addr().String()
	dead.Close()
	snap := lbSnap([]spec.Router{
		{Name: "ok@kubernetescrd", Rule: "PathPrefix(`/ok`)", Service: "svc@kubernetescrd"},
		{Name: "dead@kubernetescrd", Rule: "PathPrefix(`/dead`)", Service: "dead@kubernetescrd"},
	}, map[string]string{"svc@kubernetescrd": be.URL, "dead@kubernetescrd": deadURL})
	s, base := startServer(t, snap, "--tracing.otlp.http.endpoint="+rcv.HTTPURL)
	for _, c := range []struct {
		path                   string
		code                   int
		spans                  int
		serverStatus, clStatus string
	}{
		{"/nothing", 404, 1, "Unset", ""},
		{"/dead", 502, 2, "Error", "Error"},
		{"/ok?status=404", 404, 2, "Unset", "Error"},
		{"/ok?status=503", 503, 2, "Error", "Error"},
	} {
		rcv.Reset()
		if code, _ := get(t, base+c.path, ""); code != c.code {
			t.Fatalf("%s: %d", c.path, code)
		}
		flush(t, s)
		m := byName(rcv.Wait(t, c.spans, 10*time.Second))
		srv, cli := m["GET"], m["ReverseProxy"]
		if srv.Status != c.serverStatus || srv.Attrs["http.response.status_code"] != int64(c.code) {
			t.Errorf("%s: server span %s %v", c.path, srv.Status, srv.Attrs["http.response.status_code"])
		}
		if c.spans == 2 && (cli.Status != c.clStatus || cli.Attrs["http.response.status_code"] != int64(c.code)) {
			t.Errorf("%s: client span %s %v", c.path, cli.Status, cli.Attrs["http.response.status_code"])
		}
	}
}

// traceVerbosity detailed (on the route): Traefik's internal spans in
// between, Router > each traceable middleware > Service > ReverseProxy,
// with their attributes; a non-traceable kind (contentType) has none.
func TestTracingDetailed(t *testing.T) {
	rcv := otlptest.Start(t)
	be := newTraceBackend(t)
	snap := lbSnap([]spec.Router{{Name: "r@kubernetescrd", Rule: "PathPrefix(`/api`)", Service: "svc@kubernetescrd",
		Middlewares:   []string{"default-strip@kubernetescrd", "default-ct@kubernetescrd", "default-hdr@kubernetescrd"},
		Observability: &spec.Observability{TraceVerbosity: "detailed"}}},
		map[string]string{"svc@kubernetescrd": be.URL})
	snap = withMiddlewares(snap,
		&spec.Middleware{Name: "default-strip@kubernetescrd", Kind: "stripPrefix", Config: []byte(`{"prefixes":["/api"]}`)},
		&spec.Middleware{Name: "default-ct@kubernetescrd", Kind: "contentType", Config: []byte(`{}`)},
		&spec.Middleware{Name: "default-hdr@kubernetescrd", Kind: "headers", Config: []byte(`{"customRequestHeaders":{"X-A":"1"}}`)})
	s, base := startServer(t, snap, "--tracing.otlp.http.endpoint="+rcv.HTTPURL)
	if code, _ := get(t, base+"/api/users", ""); code != 200 {
		t.Fatal(code)
	}
	flush(t, s)
	spans := rcv.Wait(t, 6, 10*time.Second)
	m := byName(spans)
	chain := []string{"GET", "Router", "StripPrefix", "Headers", "Service", "ReverseProxy"}
	if len(spans) != len(chain) {
		t.Fatalf("%d spans, want %v: %v", len(spans), chain, spans)
	}
	for i := 1; i < len(chain); i++ {
		if m[chain[i]].ParentID != m[chain[i-1]].SpanID {
			t.Errorf("%s's parent is not %s: %v", chain[i], chain[i-1], spans)
		}
	}
	compareAttrs(t, "Router", m["Router"].Attrs, map[string]any{"traefik.router.name": "r@kubernetescrd",
		"traefik.service.name": "svc@kubernetescrd", "http.route": "PathPrefix(`/api`)"})
	compareAttrs(t, "StripPrefix", m["StripPrefix"].Attrs, map[string]any{"traefik.middleware.name": "default-strip@kubernetescrd"})
	compareAttrs(t, "Service", m["Service"].Attrs, map[string]any{"traefik.service.name": "svc@kubernetescrd"})
	for _, n := range chain[1:5] {
		if m[n].Kind != "Internal" {
			t.Errorf("%s kind %s", n, m[n].Kind)
		}
	}
	if tp := traceparentRE.FindStringSubmatch(be.seen("/users")[0]); tp == nil || tp[2] != m["ReverseProxy"].SpanID {
		t.Errorf("backend traceparent %q", be.seen("/users"))
	}
}

// An HTTP/2 request (h2c) is traced through the same handler; its
// network.protocol.version is Go's r.Proto, "HTTP/2.0", which Traefik's
// proto() leaves as it is (it maps "HTTP/2"), while the ReverseProxy span
// says "1.1" (Traefik's proxy sends HTTP/1.1).
func TestTracingHTTP2(t *testing.T) {
	rcv := otlptest.Start(t)
	be := newTraceBackend(t)
	s, _ := tracedServer(t, rcv, be, nil)
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Protocols: &p}}
	resp, err := client.Get("http://" + s.Addr("web") + "/h2")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("not HTTP/2: %s", resp.Proto)
	}
	flush(t, s)
	m := byName(rcv.Wait(t, 2, 10*time.Second))
	if v := m["GET"].Attrs["network.protocol.version"]; v != "HTTP/2.0" {
		t.Errorf("server span version %v", v)
	}
	if v := m["ReverseProxy"].Attrs["network.protocol.version"]; v != "1.1" {
		t.Errorf("client span version %v", v)
	}
	if tp := traceparentRE.FindStringSubmatch(be.seen("/h2")[0]); tp == nil || tp[2] != m["ReverseProxy"].SpanID {
		t.Errorf("backend traceparent %q", be.seen("/h2"))
	}
}
