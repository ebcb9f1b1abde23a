package engine

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// healthBackend is a real grpc-go server running the standard health
// service (google.golang.org/grpc/health), whose overall status ("")
// starts SERVING. Its name is also one of its services, so a List call
// sent through the proxy tells which backend took it.
func healthBackend(t *testing.T, name string, opts ...grpc.ServerOption) (addr string, hs *health.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	hs = health.NewServer()
	hs.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().String(), hs
}

// probeLog records the health checker's log: each record's message, its
// server and its error.
type probeLog struct {
	mu    sync.Mutex
	lines []string
	attrs []slog.Attr
	root  *probeLog
}

func (l *probeLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *probeLog) WithGroup(string) slog.Handler            { return l }
func (l *probeLog) WithAttrs(as []slog.Attr) slog.Handler {
	root := l.root
	if root == nil {
		root = l
	}
	return &probeLog{attrs: append(slices.Clone(l.attrs), as...), root: root}
}

func (l *probeLog) Handle(_ context.Context, r slog.Record) error {
	line := r.Message
	add := func(a slog.Attr) bool {
		if a.Key == "server" || a.Key == "err" {
			line += " " + a.Key + "=" + a.Value.String()
		}
		return true
	}
	for _, a := range l.attrs {
		add(a)
	}
	r.Attrs(add)
	root := l.root
	if root == nil {
		root = l
	}
	root.mu.Lock()
	root.lines = append(root.lines, line)
	root.mu.Unlock()
	return nil
}

// has tells whether a line names server and contains text.
func (l *probeLog) has(server, text string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		if strings.Contains(line, "server="+server+" ") && strings.Contains(line, text) {
			return true
		}
	}
	return false
}

func (l *probeLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// startLogged is startServer with the server's log recorded.
func startLogged(t *testing.T, snap *spec.Snapshot) (*Server, *probeLog) {
	t.Helper()
	static, err := ParseStatic([]string{"--entryPoints.web.address=127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	log := &probeLog{}
	s := NewServer(static, slog.New(log))
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
		if t.Failed() {
			t.Logf("server log:\n%s", log)
		}
	})
	return s, log
}

// grpcHC is a gRPC health check probing every 20ms.
func grpcHC(timeout time.Duration) *spec.HealthCheck {
	return &spec.HealthCheck{Mode: "grpc", Interval: 20 * time.Millisecond, UnhealthyInterval: 20 * time.Millisecond,
		Timeout: timeout, FollowRedirects: true}
}

// grpcSnap routes everything to service svc: one load balancer over
// the h2c servers, with hc.
func grpcSnap(hc *spec.HealthCheck, addrs ...string) *spec.Snapshot {
	snap := routed("svc")
	def := &spec.Service{Name: "svc", LoadBalancer: &spec.LoadBalancer{EndpointsKey: "svc", PassHostHeader: true, Strategy: "wrr", HealthCheck: hc}}
	snap.Services["svc"] = def
	for _, a := range addrs {
		snap.Endpoints["svc"] = append(snap.Endpoints["svc"], spec.Server{URL: "h2c://" + a})
	}
	return snap
}

// tally sends n List calls through the proxy and counts the backends
// that answered them (their names); a failed call counts under its
// error's code.
func tally(t *testing.T, s *Server, n int) map[string]int {
	t.Helper()
	conn, err := grpc.NewClient(s.Addr("web"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := healthpb.NewHealthClient(conn)
	out := map[string]int{}
	for range n {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := c.List(ctx, &healthpb.HealthListRequest{})
		cancel()
		if err != nil {
			out[fmt.Sprint("error ", err)]++
			continue
		}
		for name := range resp.GetStatuses() {
			if name != "" {
				out[name]++
			}
		}
	}
	return out
}

func serverUp(s *Server, addr string) bool {
	up, known := s.ServerUp("svc", "h2c://"+addr)
	return up && known
}

// A server whose health service answers NOT_SERVING is marked down and
// its traffic goes to the other server; back to SERVING, it is up and
// serves again. The state is the one the balancers, the API and the
// metrics read (Server.ServerUp), and the failure is logged with
// Traefik's wording.
func TestGRPCHealthCheck(t *testing.T) {
	a, ha := healthBackend(t, "a")
	b, _ := healthBackend(t, "b")
	s, log := startLogged(t, grpcSnap(grpcHC(5*time.Second), a, b))
	if got := tally(t, s, 10); got["a"] != 5 || got["b"] != 5 {
		t.Fatalf("both serving: %v", got)
	}
	ha.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	waitFor(t, "a to be marked down", func() bool { return !serverUp(s, a) })
	if got := tally(t, s, 10); got["b"] != 10 {
		t.Errorf("a not serving: %v, want everything on b", got)
	}
	if !serverUp(s, b) {
		t.Error("b was marked down")
	}
	if !log.has("h2c://"+a, "err=checking gRPC health: received gRPC status code: NOT_SERVING") {
		t.Errorf("log:\n%s", log)
	}
	ha.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	waitFor(t, "a to be back up", func() bool { return serverUp(s, a) })
	if got := tally(t, s, 10); got["a"] != 5 || got["b"] != 5 {
		t.Errorf("a serving again: %v", got)
	}
}

// Only SERVING is healthy: the check asks for the server's overall
// status (the empty service name), so a server whose named services
// are all SERVING but whose overall status is SERVICE_UNKNOWN or
// UNKNOWN is down.
func TestGRPCHealthCheckOverallStatus(t *testing.T) {
	for _, st := range []healthpb.HealthCheckResponse_ServingStatus{healthpb.HealthCheckResponse_UNKNOWN, healthpb.HealthCheckResponse_SERVICE_UNKNOWN} {
		a, ha := healthBackend(t, "a")
		ha.SetServingStatus("", st)
		s, log := startLogged(t, grpcSnap(grpcHC(5*time.Second), a))
		waitFor(t, "a to be marked down", func() bool { return !serverUp(s, a) })
		if !log.has("h2c://"+a, "received gRPC status code: "+st.String()) {
			t.Errorf("%v: log:\n%s", st, log)
		}
	}
}

// A gRPC server without the health service is down, with Traefik's
// wording; the other server takes the traffic.
func TestGRPCHealthCheckUnimplemented(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bare := grpc.NewServer() // no service at all
	go bare.Serve(ln)
	t.Cleanup(bare.Stop)
	a := ln.Addr().String()
	b, _ := healthBackend(t, "b")
	s, log := startLogged(t, grpcSnap(grpcHC(5*time.Second), a, b))
	waitFor(t, "the server without health service to be marked down", func() bool { return !serverUp(s, a) })
	if got := tally(t, s, 10); got["b"] != 10 {
		t.Errorf("%v, want everything on b", got)
	}
	if want := "err=checking gRPC health: gRPC server does not implement the health protocol: rpc error: code = Unimplemented desc = unknown service grpc.health.v1.Health"; !log.has("h2c://"+a, want) {
		t.Errorf("log:\n%s\nwant %q", log, want)
	}
}

// A Check that does not answer within the timeout marks the server
// down ("gRPC health check timeout"); once it answers again, the server
// is up.
func TestGRPCHealthCheckTimeout(t *testing.T) {
	var hang atomic.Bool
	var hung atomic.Int32
	stall := grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		if info.FullMethod == healthpb.Health_Check_FullMethodName && hang.Load() {
			hung.Add(1)
			<-ctx.Done() // the caller's deadline, sent as grpc-timeout
			return nil, ctx.Err()
		}
		return next(ctx, req)
	})
	a, _ := healthBackend(t, "a", stall)
	b, _ := healthBackend(t, "b")
	hang.Store(true)
	s, log := startLogged(t, grpcSnap(grpcHC(300*time.Millisecond), a, b))
	waitFor(t, "the stalled server to be marked down", func() bool { return !serverUp(s, a) })
	if hung.Load() == 0 {
		t.Fatal("no check reached the stalled server")
	}
	if want := "err=checking gRPC health: gRPC health check timeout: rpc error: code = DeadlineExceeded"; !log.has("h2c://"+a, want) {
		t.Errorf("log:\n%s\nwant %q", log, want)
	}
	if got := tally(t, s, 10); got["b"] != 10 {
		t.Errorf("%v, want everything on b", got)
	}
	hang.Store(false)
	waitFor(t, "the server to be back up", func() bool { return serverUp(s, a) })
}

// healthCheck.port sends the check to another port of the server's
// host: the server is as healthy as what answers there.
func TestGRPCHealthCheckPort(t *testing.T) {
	a, _ := healthBackend(t, "a")
	other, ho := healthBackend(t, "other")
	ho.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	_, port, _ := net.SplitHostPort(other)
	hc := grpcHC(5 * time.Second)
	fmt.Sscan(port, &hc.Port)
	s, _ := startLogged(t, grpcSnap(hc, a))
	waitFor(t, "a to be marked down by the other port's answer", func() bool { return !serverUp(s, a) })
	ho.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	waitFor(t, "a to be up", func() bool { return serverUp(s, a) })
}

// The check's scheme decides the connection as in Traefik: "", "http"
// and "h2c" are plaintext (h2c); any other scheme sets no transport
// credentials, so grpc-go refuses to dial and the server stays down,
// even behind a ServersTransport whose roots verify it (Traefik's gRPC
// check does not use the ServersTransport).
func TestGRPCHealthCheckScheme(t *testing.T) {
	for _, scheme := range []string{"", "http", "h2c"} {
		a, ha := healthBackend(t, "a")
		ha.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
		hc := grpcHC(5 * time.Second)
		hc.Scheme = scheme
		s, _ := startLogged(t, grpcSnap(hc, a))
		// Down, then up: the checks reach the server in cleartext.
		waitFor(t, fmt.Sprintf("scheme %q: down", scheme), func() bool { return !serverUp(s, a) })
		ha.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
		waitFor(t, fmt.Sprintf("scheme %q: up", scheme), func() bool { return serverUp(s, a) })
	}

	ca := newTestCA(t)
	cert := ca.ipCert(t)
	var checks atomic.Int32
	count := grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		if info.FullMethod == healthpb.Health_Check_FullMethodName {
			checks.Add(1)
		}
		return next(ctx, req)
	})
	a, _ := healthBackend(t, "a", grpc.Creds(credentials.NewServerTLSFromCert(&cert)), count)
	// The server is healthy and reachable over TLS with these roots.
	conn, err := grpc.NewClient(a, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: ca.pool, ServerName: "127.0.0.1"})))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	cancel()
	conn.Close()
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("direct TLS check: %v %v", resp, err)
	}
	checks.Store(0)
	hc := grpcHC(5 * time.Second)
	hc.Scheme = "https"
	snap := routed("svc")
	snap.Services["svc"] = &spec.Service{Name: "svc", LoadBalancer: &spec.LoadBalancer{EndpointsKey: "svc", PassHostHeader: true, Strategy: "wrr",
		HealthCheck: hc, ServersTransport: stName}}
	snap.Endpoints["svc"] = []spec.Server{{URL: "https://" + a}}
	snap.ServersTransports = map[string]*spec.ServersTransport{stName: withDefaults(spec.ServersTransport{Name: stName, RootCAs: [][]byte{ca.pem}})}
	s, log := startLogged(t, snap)
	want := "err=checking gRPC health: fail to connect to " + a + ": grpc: no transport security set"
	waitFor(t, "the TLS server to be marked down", func() bool { up, _ := s.ServerUp("svc", "https://"+a); return !up && log.has("https://"+a, want) })
	if n := checks.Load(); n != 0 {
		t.Errorf("%d checks reached the TLS server", n)
	}
}

// Health goes up a TraefikService tree as in http mode: a weighted
// service with healthCheck over two load balancers skips the one whose
// only server is down, and takes it back once it is up.
func TestGRPCHealthCheckTree(t *testing.T) {
	a, ha := healthBackend(t, "a")
	b, _ := healthBackend(t, "b")
	snap := routed("top")
	for name, addr := range map[string]string{"la": a, "lb": b} {
		snap.Services[name] = &spec.Service{Name: name, LoadBalancer: &spec.LoadBalancer{EndpointsKey: name, PassHostHeader: true, Strategy: "wrr",
			HealthCheck: grpcHC(5 * time.Second)}}
		snap.Endpoints[name] = []spec.Server{{URL: "h2c://" + addr}}
	}
	snap.Services["top"] = &spec.Service{Name: "top", Weighted: &spec.Weighted{HealthCheck: true,
		Services: []spec.WeightedService{{Name: "la", Weight: 1}, {Name: "lb", Weight: 1}}}}
	s, _ := startLogged(t, snap)
	if got := tally(t, s, 10); got["a"] != 5 || got["b"] != 5 {
		t.Fatalf("both serving: %v", got)
	}
	ha.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	waitFor(t, "la to report down", func() bool { up, _ := s.ServerUp("la", "h2c://"+a); return !up })
	waitFor(t, "the weighted service to skip la", func() bool { return tally(t, s, 4)["b"] == 4 })
	if got := tally(t, s, 10); got["b"] != 10 {
		t.Errorf("la down: %v, want everything on lb", got)
	}
	ha.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	waitFor(t, "la back", func() bool { got := tally(t, s, 4); return got["a"] == 2 && got["b"] == 2 })
}
