package k8swatch

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/edgeroute/edgeroute/engine"
	"github.com/edgeroute/edgeroute/k8swatch/kubetest"
)

// One control plane for the package's cluster tests, started on first use.
var (
	cpOnce sync.Once
	cp     *kubetest.ControlPlane
	cpErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if cp != nil {
		cp.Stop()
	}
	os.Exit(code)
}

// cluster returns the shared control plane with deploy/'s CRDs installed.
func cluster(t testing.TB) *kubetest.ControlPlane {
	t.Helper()
	cpOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if cp, cpErr = kubetest.Start(ctx); cpErr != nil {
			return
		}
		files, _ := filepath.Glob("../deploy/crds/*.yaml")
		var names []string
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				cpErr = err
				return
			}
			if cpErr = kubetest.Apply(ctx, cp.Config, data); cpErr != nil {
				return
			}
			names = append(names, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "traefik.io_"), ".yaml")+".traefik.io")
		}
		cpErr = kubetest.WaitCRDs(ctx, cp.Config, names...)
	})
	if cpErr != nil {
		t.Fatalf("control plane: %v", cpErr)
	}
	return cp
}

// hosts starts n named HTTP backends on port 8080 of test hosts.
func hosts(t testing.TB, n int) (*kubetest.NetNS, []string) {
	t.Helper()
	ns, err := kubetest.NewNetNS()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	var addrs []string
	for i := 1; i <= n; i++ {
		addr := ns.Addr(i).String()
		ln, err := ns.Listen("tcp", net.JoinHostPort(addr, "8080"))
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, addr) })}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		addrs = append(addrs, addr)
	}
	return ns, addrs
}

// proxy runs an engine fed by the cluster provider, as main does.
func proxy(t testing.TB, cp *kubetest.ControlPlane, opts KubeOptions) (*engine.Server, string) {
	t.Helper()
	static, err := engine.ParseStatic([]string{"--entryPoints.web.address=127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	srv := engine.NewServer(static, log)
	opts.Config = cp.Config
	k, err := NewKube(opts, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx, srv, ready) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("caches did not sync in 30s")
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ctx)
	t.Cleanup(func() { cancel(); <-done })
	return srv, "http://" + srv.Addr("web")
}

func apply(t testing.TB, cp *kubetest.ControlPlane, format string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kubetest.Apply(ctx, cp.Config, []byte(fmt.Sprintf(format, args...))); err != nil {
		t.Fatal(err)
	}
}

var client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func request(base, host string) (int, string) {
	req, _ := http.NewRequest("GET", base+"/", nil)
	req.Host = host
	resp, err := client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// eventually polls until request gives code and body, for up to 10 s.
func eventually(t testing.TB, base, host string, code int, body string) time.Duration {
	t.Helper()
	t0 := time.Now()
	var gc int
	var gb string
	for time.Since(t0) < 10*time.Second {
		if gc, gb = request(base, host); gc == code && (body == "" || gb == body) {
			return time.Since(t0)
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("%s: got %d %q, want %d %q", host, gc, gb, code, body)
	return 0
}

const serviceYAML = `
apiVersion: v1
kind: Service
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}]
`

const sliceYAML = `
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: %[1]s-1
  namespace: %[2]s
  labels: {kubernetes.io/service-name: %[1]s}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
%[3]s
`

const routeYAML = `
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  entryPoints: [web]
  routes:
    - match: %[3]s
      services: [{name: %[4]s, port: 80}]
`

func endpointsYAML(addrs ...string) string {
	var b strings.Builder
	for _, a := range addrs {
		fmt.Fprintf(&b, "  - addresses: [%q]\n    conditions: {ready: true, serving: true}\n", a)
	}
	return b.String()
}

func TestCluster(t *testing.T) {
	cp := cluster(t)
	_, addrs := hosts(t, 3)
	apply(t, cp, "apiVersion: v1\nkind: Namespace\nmetadata: {name: apps}\n")
	apply(t, cp, serviceYAML+"---"+sliceYAML, "whoami", "apps", endpointsYAML(addrs[0]))
	apply(t, cp, routeYAML, "a", "apps", "Host(`a.test`)", "whoami")
	apply(t, cp, routeYAML, "broken", "apps", "Hots(`b.test`)", "whoami")
	srv, base := proxy(t, cp, KubeOptions{})

	if code, body := request(base, "a.test"); code != 200 || body != addrs[0] {
		t.Fatalf("initial: %d %q", code, body)
	}

	// Scaling the endpoints takes the fast path: same runtime, new servers.
	rt := srv.Runtime()
	apply(t, cp, sliceYAML, "whoami", "apps", endpointsYAML(addrs[1], addrs[2]))
	eventually(t, base, "a.test", 200, "")
	seen := map[string]int{}
	deadline := time.Now().Add(10 * time.Second)
	for (seen[addrs[1]] == 0 || seen[addrs[2]] == 0) && time.Now().Before(deadline) {
		_, body := request(base, "a.test")
		seen[body]++
	}
	if seen[addrs[0]] > 0 && seen[addrs[1]]+seen[addrs[2]] == 0 || seen[addrs[1]] == 0 || seen[addrs[2]] == 0 {
		t.Fatalf("after scaling to two servers: %v", seen)
	}
	if srv.Runtime() != rt {
		t.Error("an EndpointSlice change rebuilt the runtime")
	}

	// The broken route has an Event; the others serve.
	cs := kubernetes.NewForConfigOrDie(cp.Config)
	var msg string
	for t0 := time.Now(); msg == "" && time.Since(t0) < 10*time.Second; time.Sleep(50 * time.Millisecond) {
		evs, err := cs.CoreV1().Events("apps").List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=broken"})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs.Items {
			if e.Reason == "InvalidConfiguration" && e.InvolvedObject.Kind == "IngressRoute" && e.Type == "Warning" {
				msg = e.Message
			}
		}
	}
	if !strings.Contains(msg, "Hots") {
		t.Fatalf("no Event for the broken IngressRoute (message %q)", msg)
	}

	// A new route serves; a deleted one gives 404.
	apply(t, cp, routeYAML, "c", "apps", "Host(`c.test`)", "whoami")
	eventually(t, base, "c.test", 200, "")
	if err := kubetest.Delete(context.Background(), cp.Config, "traefik.io/v1alpha1", "IngressRoute", "apps", "a"); err != nil {
		t.Fatal(err)
	}
	eventually(t, base, "a.test", 404, "")
	if code, _ := request(base, "c.test"); code != 200 {
		t.Fatalf("c.test after deleting a: %d", code)
	}

	// The last endpoint leaving changes routing (Traefik drops a route
	// whose service has no servers): the full path runs and c.test 404s.
	apply(t, cp, sliceYAML, "whoami", "apps", "  []\n")
	eventually(t, base, "c.test", 404, "")
	apply(t, cp, sliceYAML, "whoami", "apps", endpointsYAML(addrs[0]))
	eventually(t, base, "c.test", 200, addrs[0])
}
