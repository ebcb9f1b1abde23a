package main

// The reliability matrix, §A1.9 R1 and R4 (docs/reliability.md): 1,000
// reloads of the manifests folder while clients keep using the routes that
// do not change. Every reload changes what matters (routers added and
// removed, a changed route's middlewares, a TraefikService's weights, a
// TLSOption, a ServersTransport) and is waited for before the next one, so
// none is merged into another by the watcher's debounce; the debounce is
// --providers.manifests.debounce=5ms, as 1,000 reloads at the default
// 100 ms quiet time would take two minutes on their own. Meanwhile HTTP/1.1 keep-alive, h2c and
// HTTP/2-over-TLS clients send requests to the unchanged routes, one
// WebSocket connection exchanges messages, and one gRPC bidirectional
// stream exchanges messages: no request may fail, no stream may be cut, and
// no client connection may be closed by the proxy (each client counts the
// connections the proxy ends, by Connection: close or by closing them, as
// Go's transports would otherwise retry a GET on a new connection without
// telling us).

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
)

// reloads is how many configurations the test applies, one after another.
const reloads = 1000

// reloadStableYAML holds the routes that never change, and the objects
// they use. stable.test is served on plain connections (HTTP/1.1 and h2c)
// by whoami-a, and on TLS (HTTP/2) by whoami-b.
const reloadStableYAML = `apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: stable, namespace: default}
spec:
  routes:
    - match: Host(` + "`stable.test`" + `)
      services: [{name: whoami-a, port: 80}]
    - match: Host(` + "`ws.test`" + `) && Path(` + "`/ws`" + `)
      services: [{name: whoami-a, port: 80}]
    - match: Host(` + "`grpc.test`" + `)
      services: [{name: grpc, port: 80, scheme: h2c}]
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: stable-tls, namespace: default}
spec:
  tls: {}
  routes:
    - match: Host(` + "`stable.test`" + `)
      services: [{name: whoami-b, port: 80}]
`

// reloadChurnYAML is generation gen of the changing objects: a route to
// churn.test whose middlewares change (a response header naming the
// generation, and on odd generations an addPrefix), a weighted
// TraefikService whose weights change, a sliding window of three routes
// churn-N.test (one added and one removed per generation) through a
// ServersTransport that changes, and a TLS route whose TLSOption's minimum
// version alternates.
func reloadChurnYAML(gen int) string {
	var b strings.Builder
	mws := "[{name: gen}]"
	if gen%2 == 1 {
		mws = "[{name: gen}, {name: odd}]"
	}
	fmt.Fprintf(&b, `apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: churn, namespace: default}
spec:
  routes:
    - match: Host(`+"`churn.test`"+`)
      middlewares: %s
      services: [{name: split, kind: TraefikService}]
`, mws)
	for n := max(0, gen-2); n <= gen; n++ {
		fmt.Fprintf(&b, "    - match: Host(`churn-%d.test`)\n      services: [{name: churn-b, port: 80, serversTransport: churn}]\n", n)
	}
	tlsVersion := "VersionTLS12"
	if gen%2 == 1 {
		tlsVersion = "VersionTLS13"
	}
	fmt.Fprintf(&b, `---
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: gen, namespace: default}
spec:
  headers:
    customResponseHeaders: {X-Gen: "%d"}
---
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: odd, namespace: default}
spec:
  addPrefix: {prefix: /odd}
---
apiVersion: traefik.io/v1alpha1
kind: TraefikService
metadata: {name: split, namespace: default}
spec:
  weighted:
    services:
      - {name: whoami-a, port: 80, weight: %d}
      - {name: whoami-b, port: 80, weight: %d}
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: churn-tls, namespace: default}
spec:
  tls: {options: {name: churn}}
  routes:
    - match: Host(`+"`churn-tls.test`"+`)
      services: [{name: whoami-a, port: 80}]
---
apiVersion: traefik.io/v1alpha1
kind: TLSOption
metadata: {name: churn, namespace: default}
spec: {minVersion: %s}
---
apiVersion: traefik.io/v1alpha1
kind: ServersTransport
metadata: {name: churn, namespace: default}
spec: {maxIdleConnsPerHost: %d}
`, gen, 1+gen%4, 4-gen%4, tlsVersion, 1+gen%3)
	return b.String()
}

// reloadServices declares whoami-a, whoami-b, churn-b (whoami-b again, for
// the routes with a ServersTransport: a Service port is one service, with
// one transport) and grpc with their endpoints.
func reloadServices(ports map[string]int) string {
	var b strings.Builder
	for _, name := range []string{"whoami-a", "whoami-b", "churn-b", "grpc"} {
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: Service
metadata: {name: %[1]s, namespace: default}
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: %[1]s-1
  namespace: default
  labels: {kubernetes.io/service-name: %[1]s}
addressType: IPv4
ports: [{name: http, port: %[2]d}]
endpoints: [{addresses: ["127.0.0.1"], conditions: {ready: true}}]
`, name, ports[name])
	}
	return b.String()
}

// grpcReflectionBackend serves gRPC's health and reflection services in
// cleartext (h2c); reflection's ServerReflectionInfo is a bidirectional
// stream.
func grpcReflectionBackend(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	reflection.Register(srv)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().(*net.TCPAddr).Port
}

// counter is a client's tally.
type counter struct {
	sent, failed, dials atomic.Int64
	// closed counts connections the proxy ended (a read saw EOF or a
	// reset before the client closed it).
	closed    atomic.Int64
	mu        sync.Mutex
	firstErrs []string
}

func (c *counter) fail(format string, args ...any) {
	c.failed.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.firstErrs) < 10 {
		c.firstErrs = append(c.firstErrs, time.Now().Format("15:04:05.000 ")+fmt.Sprintf(format, args...))
	}
}

// countingDial dials addr (whatever address the transport asks for),
// counts the connections and those the proxy ends. (Go's transport may
// dial a spare connection while a finished one is on its way back to the
// idle pool, so the dial count alone does not tell a closed connection.)
func countingDial(addr string, c *counter) func(ctx context.Context, network, _ string) (net.Conn, error) {
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		c.dials.Add(1)
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &watchedConn{Conn: conn, closed: &c.closed}, nil
	}
}

type watchedConn struct {
	net.Conn
	closed *atomic.Int64
	once   sync.Once
}

func (w *watchedConn) Read(p []byte) (int, error) {
	n, err := w.Conn.Read(p)
	if err == io.EOF || errors.Is(err, syscall.ECONNRESET) {
		w.once.Do(func() { w.closed.Add(1) })
	}
	return n, err
}

// hammer sends GET url with Host host through c until stop is closed; each
// answer must be 200 from backend want.
func hammer(c *http.Client, url, host, want string, cnt *counter, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		req, _ := http.NewRequest("GET", url, nil)
		req.Host = host
		cnt.sent.Add(1)
		resp, err := c.Do(req)
		if err != nil {
			cnt.fail("%s %s: %v", url, host, err)
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Close { // Connection: close, the proxy ending the connection
			cnt.closed.Add(1)
		}
		if err != nil || resp.StatusCode != 200 || backendName(string(body)) != want {
			cnt.fail("%s %s: %d %v %.60q", url, host, resp.StatusCode, err, body)
		}
	}
}

var reloadsRE = regexp.MustCompile(`(?m)^traefik_config_reloads_total (\d+)`)

func configReloads(t *testing.T, metricsURL string) int {
	t.Helper()
	code, body := fetch(t, metricsURL, "")
	m := reloadsRE.FindStringSubmatch(body)
	if code != 200 || m == nil {
		t.Fatalf("/metrics: %d, no traefik_config_reloads_total", code)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func TestReloadsUnderLoad(t *testing.T) {
	_, pa := whoami(t, "whoami-a")
	_, pb := whoami(t, "whoami-b")
	pg := grpcReflectionBackend(t)
	dir := t.TempDir()
	write(t, filepath.Join(dir, "services.yaml"), reloadServices(map[string]int{"whoami-a": pa, "whoami-b": pb, "churn-b": pb, "grpc": pg}))
	write(t, filepath.Join(dir, "stable.yaml"), reloadStableYAML)
	write(t, filepath.Join(dir, "churn.yaml"), reloadChurnYAML(0))
	p := start(t, "--entryPoints.web.address=127.0.0.1:0", "--entryPoints.traefik.address=127.0.0.1:0",
		"--providers.manifests.directory="+dir, "--providers.manifests.debounce=5ms", "--metrics.prometheus")
	web := strings.TrimPrefix(entryPoint(t, p, "web"), "http://")
	metricsURL := entryPoint(t, p, "traefik") + "/metrics"
	base := "http://" + web

	// The changing route answers generation 0 before the clients start.
	churn := &http.Client{Timeout: 10 * time.Second}
	generation := func() (string, string) {
		req, _ := http.NewRequest("GET", base+"/x", nil)
		req.Host = "churn.test"
		resp, err := churn.Do(req)
		if err != nil {
			return "", ""
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.Header.Get("X-Gen"), string(body)
	}
	waitFor(t, "generation 0", func() bool { g, _ := generation(); return g == "0" })
	if code, body := fetch(t, base+"/", "stable.test"); code != 200 || backendName(body) != "whoami-a" {
		t.Fatalf("stable route before the test: %d %q", code, body)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	run := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}

	// HTTP/1.1 keep-alive: one connection per client.
	var h1, h2c, h2tls counter
	const h1Clients, h2Clients = 4, 2
	for range h1Clients {
		c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			DialContext: countingDial(web, &h1), MaxIdleConnsPerHost: 1, DisableCompression: true}}
		run(func() { hammer(c, base+"/h1", "stable.test", "whoami-a", &h1, stop) })
	}
	// HTTP/2: cleartext with prior knowledge, and over TLS (ALPN h2), each
	// client on one connection with several streams at once.
	for range h2Clients {
		hc := &http.Client{Timeout: 30 * time.Second, Transport: &http2.Transport{AllowHTTP: true,
			DialTLSContext: func(ctx context.Context, network, a string, _ *tls.Config) (net.Conn, error) {
				return countingDial(web, &h2c)(ctx, network, a)
			}}}
		tc := &http.Client{Timeout: 30 * time.Second, Transport: &http2.Transport{
			DialTLSContext: func(ctx context.Context, network, a string, cfg *tls.Config) (net.Conn, error) {
				raw, err := countingDial(web, &h2tls)(ctx, network, a)
				if err != nil {
					return nil, err
				}
				c := tls.Client(raw, &tls.Config{ServerName: "stable.test", InsecureSkipVerify: true, NextProtos: []string{"h2"}})
				if err := c.HandshakeContext(ctx); err != nil {
					raw.Close()
					return nil, err
				}
				return c, nil
			}}}
		for range 2 {
			run(func() { hammer(hc, "http://stable.test/h2c", "stable.test", "whoami-a", &h2c, stop) })
			run(func() { hammer(tc, "https://stable.test/h2", "stable.test", "whoami-b", &h2tls, stop) })
		}
	}

	// One WebSocket connection, echoing through the proxy the whole time.
	var wsMsgs atomic.Int64
	var streamErrs counter
	wsConn, _, err := websocket.DefaultDialer.Dial("ws://"+web+"/ws", http.Header{"Host": {"ws.test"}})
	if err != nil {
		t.Fatal(err)
	}
	defer wsConn.Close()
	run(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			msg := fmt.Sprintf("message %d", i)
			if err := wsConn.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
				streamErrs.fail("WebSocket write %d: %v", i, err)
				return
			}
			wsConn.SetReadDeadline(time.Now().Add(30 * time.Second))
			if _, got, err := wsConn.ReadMessage(); err != nil || string(got) != msg {
				streamErrs.fail("WebSocket echo %d: %q %v", i, got, err)
				return
			}
			wsMsgs.Add(1)
		}
	})

	// One gRPC bidirectional stream (server reflection), request and
	// answer in turn the whole time.
	var grpcMsgs atomic.Int64
	gconn, err := grpc.NewClient("passthrough:///"+web, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithAuthority("grpc.test"))
	if err != nil {
		t.Fatal(err)
	}
	defer gconn.Close()
	gctx, gcancel := context.WithCancel(context.Background())
	defer gcancel()
	stream, err := reflectionpb.NewServerReflectionClient(gconn).ServerReflectionInfo(gctx)
	if err != nil {
		t.Fatal(err)
	}
	run(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				stream.CloseSend()
				return
			default:
			}
			if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
				streamErrs.fail("gRPC send %d: %v", i, err)
				return
			}
			resp, err := stream.Recv()
			if err != nil {
				streamErrs.fail("gRPC receive %d: %v", i, err)
				return
			}
			found := false
			for _, s := range resp.GetListServicesResponse().GetService() {
				found = found || s.Name == "grpc.health.v1.Health"
			}
			if !found {
				streamErrs.fail("gRPC answer %d lacks the health service: %v", i, resp)
				return
			}
			grpcMsgs.Add(1)
		}
	})

	// The reloads: each generation is written, then waited for until the
	// changed route answers with it.
	before := configReloads(t, metricsURL)
	startAt := time.Now()
	churnFile := filepath.Join(dir, "churn.yaml")
	for gen := 1; gen <= reloads; gen++ {
		write(t, churnFile, reloadChurnYAML(gen))
		want := strconv.Itoa(gen)
		deadline := time.Now().Add(20 * time.Second)
		for {
			g, body := generation()
			if g == want {
				wantPath := "GET /x "
				if gen%2 == 1 {
					wantPath = "GET /odd/x "
				}
				if !strings.Contains(body, wantPath) {
					t.Errorf("generation %d: the backend did not see %q:\n%s", gen, wantPath, body)
				}
				break
			}
			if time.Now().After(deadline) {
				close(stop)
				wg.Wait()
				t.Fatalf("generation %d not served after 20 s (still %q)", gen, g)
			}
			time.Sleep(2 * time.Millisecond)
		}
		if gen%100 <= 1 {
			// Now and then: the TLSOption and the weights of this
			// generation are the ones served.
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", web,
				&tls.Config{ServerName: "churn-tls.test", InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12})
			if err == nil {
				c.Close()
			}
			if refused := err != nil; refused != (gen%2 == 1) {
				t.Errorf("generation %d: a TLS 1.2 handshake to churn-tls.test: %v (minVersion TLS1.3 on odd generations only)", gen, err)
			}
			a := 0
			for range 50 {
				if _, body := generation(); backendName(body) == "whoami-a" {
					a++
				}
			}
			if want := 10 * (1 + gen%4); a < want-2 || a > want+2 {
				t.Errorf("generation %d: whoami-a took %d of 50 requests, want %d (weights %d:%d)", gen, a, want, 1+gen%4, 4-gen%4)
			}
		}
		if gen%100 == 0 {
			t.Logf("%d reloads in %v, proxy RSS %d KiB", gen, time.Since(startAt).Round(time.Millisecond), rssKB(p.cmd.Process.Pid))
		}
	}
	took := time.Since(startAt)
	// The changed routes serve the last generation: the window of hosts
	// moved, the TLS option is the last one's.
	if code, _ := fetch(t, base+"/", fmt.Sprintf("churn-%d.test", reloads)); code != 200 {
		t.Errorf("the newest added route: %d", code)
	}
	if code, _ := fetch(t, base+"/", fmt.Sprintf("churn-%d.test", reloads-3)); code != 404 {
		t.Errorf("a removed route: %d, want 404", code)
	}
	close(stop)
	wg.Wait()
	observed := configReloads(t, metricsURL) - before

	total := h1.sent.Load() + h2c.sent.Load() + h2tls.sent.Load()
	failed := h1.failed.Load() + h2c.failed.Load() + h2tls.failed.Load()
	t.Logf("%d reloads in %v (%d counted by traefik_config_reloads_total); requests to unchanged routes: %d sent "+
		"(HTTP/1.1 %d, h2c %d, h2 over TLS %d), failed: %d; client connections dialled: HTTP/1.1 %d, h2c %d, h2 %d; "+
		"WebSocket messages echoed: %d; gRPC stream messages: %d", reloads, took.Round(time.Millisecond), observed,
		total, h1.sent.Load(), h2c.sent.Load(), h2tls.sent.Load(), failed, h1.dials.Load(), h2c.dials.Load(), h2tls.dials.Load(),
		wsMsgs.Load(), grpcMsgs.Load())
	for _, c := range []*counter{&h1, &h2c, &h2tls, &streamErrs} {
		for _, e := range c.firstErrs {
			t.Error(e)
		}
	}
	if failed != 0 {
		t.Errorf("%d of %d requests to unchanged routes failed during the reloads", failed, total)
	}
	if observed < reloads {
		t.Errorf("%d reloads counted, want at least %d", observed, reloads)
	}
	// Each client kept its connection: the proxy closed none of them.
	if n := h1.closed.Load() + h2c.closed.Load() + h2tls.closed.Load(); n != 0 {
		t.Errorf("the proxy closed %d client connections during the reloads (HTTP/1.1 %d, h2c %d, h2 %d; dialled %d, %d, %d)",
			n, h1.closed.Load(), h2c.closed.Load(), h2tls.closed.Load(), h1.dials.Load(), h2c.dials.Load(), h2tls.dials.Load())
	}
	// Every generation is a clean configuration: a warning would mean the
	// changes reached an unchanged route some other way (a Service port
	// shared with a changed transport, for one).
	for _, l := range strings.Split(p.log(), "\n") {
		if strings.Contains(l, `msg="configuration warning"`) || strings.Contains(l, `msg="configuration problem"`) {
			t.Errorf("the proxy reported: %s", l)
			break
		}
	}
	if wsMsgs.Load() == 0 || grpcMsgs.Load() == 0 {
		t.Errorf("streams idle: WebSocket %d, gRPC %d messages", wsMsgs.Load(), grpcMsgs.Load())
	}
}
