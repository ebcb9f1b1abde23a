package k8swatch

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// The cluster benchmarks run against the real API server (go test -run '^$'
// -bench Cluster ./k8swatch/). Each reports percentiles of the time from
// the API write returning to the first request the proxy routes
// accordingly, polled every 200 µs over a keep-alive connection.

var keepAliveClient = &http.Client{Timeout: 5 * time.Second}

func pollUntil(b *testing.B, base, host string, code int, body string) {
	b.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest("GET", base+"/", nil)
		req.Host = host
		if resp, err := keepAliveClient.Do(req); err == nil {
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == code && (body == "" || string(got) == body) {
				return
			}
		}
		time.Sleep(200 * time.Microsecond)
	}
	b.Fatalf("%s never answered %d %q", host, code, body)
}

func reportPercentiles(b *testing.B, ds []time.Duration) {
	slices.Sort(ds)
	at := func(q float64) float64 { return float64(ds[int(q*float64(len(ds)-1))].Microseconds()) / 1000 }
	b.ReportMetric(at(0.5), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkClusterEndpointUpdate: an EndpointSlice moves its Service to
// the other of two test hosts; how long until traffic reaches it.
func BenchmarkClusterEndpointUpdate(b *testing.B) {
	cp := cluster(b)
	_, addrs := hosts(b, 2)
	apply(b, cp, "apiVersion: v1\nkind: Namespace\nmetadata: {name: bench-ep}\n")
	apply(b, cp, serviceYAML+"---"+sliceYAML, "whoami", "bench-ep", endpointsYAML(addrs[0]))
	apply(b, cp, routeYAML, "r", "bench-ep", "Host(`ep.test`)", "whoami")
	_, base := proxy(b, cp, KubeOptions{Namespaces: []string{"bench-ep"}})
	pollUntil(b, base, "ep.test", 200, addrs[0])
	var ds []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		to := addrs[(i+1)%2]
		apply(b, cp, sliceYAML, "whoami", "bench-ep", endpointsYAML(to))
		t0 := time.Now()
		pollUntil(b, base, "ep.test", 200, to)
		ds = append(ds, time.Since(t0))
	}
	reportPercentiles(b, ds)
}

// createRoutes creates n IngressRoutes (Host(`rI.NS.test`)) in namespace
// ns, 16 at a time.
func createRoutes(b *testing.B, ns string, from, n int) {
	b.Helper()
	dyn := dynamic.NewForConfigOrDie(cp.Config)
	res := dyn.Resource(schema.GroupVersionResource{Group: "traefik.io", Version: "v1alpha1", Resource: "ingressroutes"}).Namespace(ns)
	work := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				u := &unstructured.Unstructured{}
				doc := fmt.Sprintf(routeYAML, fmt.Sprintf("r%d", i), ns, fmt.Sprintf("Host(`r%d.%s.test`)", i, ns), "whoami")
				if err := yaml.Unmarshal([]byte(doc), &u.Object); err == nil {
					_, err = res.Create(context.Background(), u, metav1.CreateOptions{})
					if err != nil && !apierrors.IsAlreadyExists(err) { // an earlier run of the benchmark
						mu.Lock()
						firstErr = err
						mu.Unlock()
					}
				}
			}
		}()
	}
	for i := from; i < from+n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
}

// BenchmarkClusterRouteCreate: with N IngressRoutes already served, a new
// one is created; how long until it routes.
func BenchmarkClusterRouteCreate(b *testing.B) {
	for _, n := range []int{10, 10000} {
		b.Run(fmt.Sprintf("present=%d", n), func(b *testing.B) {
			cp := cluster(b)
			_, addrs := hosts(b, 1)
			ns := fmt.Sprintf("bench-rc-%d", n)
			apply(b, cp, "apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n", ns)
			apply(b, cp, serviceYAML+"---"+sliceYAML, "whoami", ns, endpointsYAML(addrs[0]))
			t0 := time.Now()
			createRoutes(b, ns, 0, n)
			b.Logf("%d IngressRoutes created in %v", n, time.Since(t0).Round(time.Millisecond))
			_, base := proxy(b, cp, KubeOptions{Namespaces: []string{ns}})
			pollUntil(b, base, fmt.Sprintf("r%d.%s.test", n-1, ns), 200, addrs[0])
			var ds []time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				id := 1_000_000 + int(time.Now().UnixNano()%1_000_000_000)
				createRoutes(b, ns, id, 1)
				t0 := time.Now()
				pollUntil(b, base, fmt.Sprintf("r%d.%s.test", id, ns), 200, addrs[0])
				ds = append(ds, time.Since(t0))
			}
			reportPercentiles(b, ds)
		})
	}
}

// BenchmarkClusterWatcherMemory: the heap the provider and engine hold
// once synced with 10k IngressRoutes and 1k Secrets that routing does not
// use (8 KiB of data each, plus 1k Helm release records), measured as
// the live heap after a GC, before and after.
func BenchmarkClusterWatcherMemory(b *testing.B) {
	cp := cluster(b)
	_, addrs := hosts(b, 1)
	ns := "bench-mem"
	apply(b, cp, "apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n", ns)
	apply(b, cp, serviceYAML+"---"+sliceYAML, "whoami", ns, endpointsYAML(addrs[0]))
	createRoutes(b, ns, 0, 10000)
	cs := kubernetes.NewForConfigOrDie(cp.Config)
	payload := []byte(strings.Repeat("s", 8<<10))
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < 2000; i += 16 {
				s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("s%d", i), Namespace: ns}, Data: map[string][]byte{"password": payload}}
				if i >= 1000 {
					s.Type = "helm.sh/release.v1"
					s.Data = map[string][]byte{"release": payload}
				}
				if _, err := cs.CoreV1().Secrets(ns).Create(context.Background(), s, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	heap := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		srv, base := proxy(b, cp, KubeOptions{Namespaces: []string{ns}})
		pollUntil(b, base, "r9999.bench-mem.test", 200, addrs[0])
		b.ReportMetric(float64(heap()-before)/(1<<20), "heap-MiB")
		runtime.KeepAlive(srv)
	}
	b.ReportMetric(0, "ns/op")
}
