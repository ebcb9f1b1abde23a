package k8swatch

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/edgeroute/edgeroute/engine"
	"github.com/edgeroute/edgeroute/k8swatch/crd"
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
	srv, base, _ := proxyKube(t, cp, opts)
	return srv, base
}

func proxyKube(t testing.TB, cp *kubetest.ControlPlane, opts KubeOptions) (*engine.Server, string, *Kube) {
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
	if opts.Config == nil {
		opts.Config = cp.Config
	}
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
	return srv, "http://" + srv.Addr("web"), k
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
			if e.Reason == "InvalidConfiguration" && e.InvolvedObject.Kind == "IngressRoute" && e.Type == "Warning" && strings.Contains(e.Message, "Hots") {
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

// The provider's options, run with the ServiceAccount and ClusterRole of
// deploy/rbac.yaml (so that least privilege is enough): only the watched
// namespaces, the label selector on Traefik objects only (the Services
// carry no label), and the ingress class from spec.ingressClassName or
// the annotation.
func TestClusterOptions(t *testing.T) {
	cp := cluster(t)
	_, addrs := hosts(t, 1)
	rbac, err := os.ReadFile("../deploy/rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	apply(t, cp, "%s", rbac)
	cs := kubernetes.NewForConfigOrDie(cp.Config)
	tok, err := cs.CoreV1().ServiceAccounts("edgeroute").CreateToken(context.Background(), "edgeroute",
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sa := rest.AnonymousClientConfig(cp.Config)
	sa.BearerToken = tok.Status.Token

	for _, ns := range []string{"opt-a", "opt-b"} {
		apply(t, cp, "apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n", ns)
		apply(t, cp, serviceYAML+"---"+sliceYAML, "whoami", ns, endpointsYAML(addrs[0]))
	}
	route := func(name, ns, host, extra string) {
		apply(t, cp, `
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata:
  name: %[1]s
  namespace: %[2]s
%[4]s
spec:
  routes:
    - match: Host(`+"`%[3]s`"+`)
      services: [{name: whoami, port: 80}]
`, name, ns, host, extra)
	}
	route("labeled", "opt-a", "a1.test", "  labels: {edge: \"yes\"}\n  annotations: {kubernetes.io/ingress.class: edge}")
	route("unlabeled", "opt-a", "a2.test", "  annotations: {kubernetes.io/ingress.class: edge}")
	route("other-class", "opt-a", "a3.test", "  labels: {edge: \"yes\"}\n  annotations: {kubernetes.io/ingress.class: other}")
	route("no-class", "opt-a", "a4.test", "  labels: {edge: \"yes\"}")
	route("labeled", "opt-b", "b1.test", "  labels: {edge: \"yes\"}\n  annotations: {kubernetes.io/ingress.class: edge}")
	apply(t, cp, `
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: class-name, namespace: opt-a, labels: {edge: "yes"}, annotations: {kubernetes.io/ingress.class: other}}
spec:
  ingressClassName: edge
  routes:
    - match: Host(`+"`a5.test`"+`)
      services: [{name: whoami, port: 80}]
`)
	_, base := proxy(t, cp, KubeOptions{Config: sa, Namespaces: []string{"opt-a"}, LabelSelector: "edge=yes",
		Translate: Options{IngressClass: "edge"}})
	for host, want := range map[string]int{"a1.test": 200, "a2.test": 404, "a3.test": 404, "a4.test": 404, "a5.test": 200, "b1.test": 404} {
		if code, body := request(base, host); code != want {
			t.Errorf("%s: %d %q, want %d", host, code, body, want)
		}
	}
}

// Routing changes swap the tables atomically: requests running on
// keep-alive connections while routes come and go never fail.
func TestClusterNoFailedRequestsDuringRebuilds(t *testing.T) {
	cp := cluster(t)
	_, addrs := hosts(t, 1)
	apply(t, cp, "apiVersion: v1\nkind: Namespace\nmetadata: {name: swap}\n")
	apply(t, cp, serviceYAML+"---"+sliceYAML, "whoami", "swap", endpointsYAML(addrs[0]))
	apply(t, cp, routeYAML, "steady", "swap", "Host(`steady.test`)", "whoami")
	_, base := proxy(t, cp, KubeOptions{Namespaces: []string{"swap"}})
	eventually(t, base, "steady.test", 200, addrs[0])

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	total, failed := 0, []string{}
	keepAlive := &http.Client{Timeout: 5 * time.Second}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("GET", base+"/", nil)
				req.Host = "steady.test"
				resp, err := keepAlive.Do(req)
				mu.Lock()
				total++
				if err != nil {
					failed = append(failed, err.Error())
				} else {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || string(b) != addrs[0] {
						failed = append(failed, fmt.Sprintf("%d %q", resp.StatusCode, b))
					}
				}
				mu.Unlock()
			}
		}()
	}
	for i := range 20 {
		apply(t, cp, routeYAML, fmt.Sprintf("r%d", i), "swap", fmt.Sprintf("Host(`r%d.test`)", i), "whoami")
		eventually(t, base, fmt.Sprintf("r%d.test", i), 200, addrs[0])
	}
	close(stop)
	wg.Wait()
	if len(failed) > 0 || total < 100 {
		t.Fatalf("%d of %d requests failed during 20 rebuilds: %v", len(failed), total, failed[:min(len(failed), 5)])
	}
	t.Logf("%d requests during 20 rebuilds, none failed", total)
}

// Secrets routing can never use are not cached, and cached ones are
// trimmed to the keys Traefik's kinds can name (no annotations, such as
// kubectl's last-applied copy, no other data).
func TestClusterSecretsTrimmed(t *testing.T) {
	cp := cluster(t)
	apply(t, cp, "apiVersion: v1\nkind: Namespace\nmetadata: {name: sec}\n")
	big := strings.Repeat("x", 64<<10)
	apply(t, cp, `
apiVersion: v1
kind: Secret
metadata: {name: sh.helm.release.v1.app.v1, namespace: sec}
type: helm.sh/release.v1
data: {release: %[1]s}
---
apiVersion: v1
kind: Secret
metadata: {name: cert, namespace: sec, annotations: {big: %[1]s}}
type: kubernetes.io/tls
data: {tls.crt: Y3J0, tls.key: a2V5, other: %[1]s}
`, big)
	_, _, k := proxyKube(t, cp, KubeOptions{Namespaces: []string{"sec"}})
	k.mu.Lock()
	defer k.mu.Unlock()
	secrets := k.st.byKind["Secret"]
	if len(secrets) != 1 {
		t.Fatalf("cached secrets: %d, want only the TLS one", len(secrets))
	}
	for _, o := range secrets {
		s := o.(*corev1.Secret)
		if s.Name != "cert" || len(s.Annotations) != 0 || string(s.Data["tls.crt"]) != "crt" || len(s.Data) != 2 {
			t.Fatalf("cached secret: %s annotations=%d data=%q", s.Name, len(s.Annotations), s.Data)
		}
	}
}

// Every Traefik object of Traefik's own provider fixtures is accepted by
// a real API server with deploy/'s CRDs (a create validates against the
// structural schema). Create, not server-side apply: apply sends an empty
// object such as `tls: {}` as null, which the schema rightly refuses.
func TestClusterFixturesValidate(t *testing.T) {
	cp := cluster(t)
	files, _ := filepath.Glob("../testdata/traefik-crd-fixtures/*.yml")
	namespaces := map[string]bool{}
	var docs []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range strings.Split(string(data), "\n---") {
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
				Metadata   struct {
					Namespace string `json:"namespace"`
				} `json:"metadata"`
			}
			if err := yaml.Unmarshal([]byte(doc), &head); err != nil || head.APIVersion != "traefik.io/v1alpha1" {
				continue
			}
			if _, ok := traefikKinds[strings.ToLower(head.Kind)+"s"]; !ok && head.Kind != "Middleware" {
				continue
			}
			namespaces[head.Metadata.Namespace] = true
			docs = append(docs, doc)
		}
	}
	for ns := range namespaces {
		if ns != "" && ns != "default" {
			apply(t, cp, "apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n", ns)
		}
	}
	ctx := context.Background()
	dyn := dynamic.NewForConfigOrDie(cp.Config)
	for _, doc := range docs {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		if u.GetNamespace() == "" {
			u.SetNamespace("default")
		}
		gvr := schema.GroupVersionResource{Group: crd.GroupName, Version: "v1alpha1", Resource: strings.ToLower(u.GetKind()) + "s"}
		res := dyn.Resource(gvr).Namespace(u.GetNamespace())
		_ = res.Delete(ctx, u.GetName(), metav1.DeleteOptions{}) // fixtures reuse names
		if _, err := res.Create(ctx, u, metav1.CreateOptions{}); err != nil {
			t.Errorf("%v\n%s", err, doc)
		}
	}
	if len(docs) < 150 {
		t.Fatalf("only %d Traefik objects found", len(docs))
	}
	t.Logf("%d Traefik objects accepted", len(docs))
}

// A certificate Secret updated in the cluster is served at the next
// handshake; unrelated Secrets cause no rebuild.
func TestClusterCertificateSecret(t *testing.T) {
	cp := cluster(t)
	_, addrs := hosts(t, 1)
	apply(t, cp, "apiVersion: v1\nkind: Namespace\nmetadata: {name: tls}\n")
	apply(t, cp, serviceYAML+"---"+sliceYAML, "whoami", "tls", endpointsYAML(addrs[0]))
	secret := func(serial int64) {
		crt, key := selfSignedPEM(t, "secure.test", serial)
		apply(t, cp, "apiVersion: v1\nkind: Secret\nmetadata: {name: cert, namespace: tls}\ntype: kubernetes.io/tls\ndata: {tls.crt: %s, tls.key: %s}\n",
			base64.StdEncoding.EncodeToString(crt), base64.StdEncoding.EncodeToString(key))
	}
	secret(1)
	apply(t, cp, `
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: secure, namespace: tls}
spec:
  routes:
    - match: Host(`+"`secure.test`"+`)
      services: [{name: whoami, port: 80}]
  tls: {secretName: cert}
`)
	srv, _ := proxy(t, cp, KubeOptions{Namespaces: []string{"tls"}})
	addr := srv.Addr("web")
	serial := func() int64 {
		c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "secure.test", InsecureSkipVerify: true})
		if err != nil {
			return -1
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	if got := serial(); got != 1 {
		t.Fatalf("first certificate serial %d", got)
	}
	rt := srv.Runtime()
	apply(t, cp, "apiVersion: v1\nkind: Secret\nmetadata: {name: unrelated, namespace: tls}\ndata: {x: eA==}\n")
	secret(2)
	deadline := time.Now().Add(10 * time.Second)
	for serial() != 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := serial(); got != 2 {
		t.Fatalf("after the update: serial %d", got)
	}
	if srv.Runtime() == rt {
		t.Fatal("the certificate update did not rebuild")
	}
}

func selfSignedPEM(t *testing.T, host string, serial int64) (crt, key []byte) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}

// A ServersTransport and the ConfigMap its rootCAs name are watched: the
// CA reaches the snapshot, a change to the ConfigMap rebuilds, and
// ConfigMaps are cached with their CA keys only.
func TestClusterServersTransportConfigMap(t *testing.T) {
	cp := cluster(t)
	_, addrs := hosts(t, 1)
	apply(t, cp, "apiVersion: v1\nkind: Namespace\nmetadata: {name: st}\n")
	apply(t, cp, serviceYAML+"---"+sliceYAML, "whoami", "st", endpointsYAML(addrs[0]))
	configMap := func(ca string) {
		apply(t, cp, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ca, namespace: st}\ndata: {ca.crt: %s, other: %s}\n", ca, strings.Repeat("x", 4096))
	}
	configMap("CA-1")
	apply(t, cp, `
apiVersion: traefik.io/v1alpha1
kind: ServersTransport
metadata: {name: tr, namespace: st}
spec:
  serverName: backend.test
  rootCAs: [{configMap: ca}]
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: r, namespace: st}
spec:
  routes:
    - match: Host(`+"`st.test`"+`)
      services: [{name: whoami, port: 80, serversTransport: tr}]
`)
	srv, _, k := proxyKube(t, cp, KubeOptions{Namespaces: []string{"st"}})
	ca := func() string {
		snap := srv.Runtime().Snapshot()
		st := snap.ServersTransports["st-tr@kubernetescrd"]
		if st == nil || len(snap.Routers) != 1 || snap.Services[snap.Routers[0].Service].LoadBalancer.ServersTransport != st.Name || len(st.RootCAs) != 1 {
			return fmt.Sprintf("%+v %v", st, snap.Problems)
		}
		return string(st.RootCAs[0])
	}
	if got := ca(); got != "CA-1" {
		t.Fatalf("transport: %s", got)
	}
	k.mu.Lock()
	cm, _ := k.st.byKind["ConfigMap"][" st/ca"].(*corev1.ConfigMap)
	k.mu.Unlock()
	if cm == nil || len(cm.Data) != 1 || cm.Data["ca.crt"] != "CA-1" {
		t.Fatalf("cached ConfigMap: %+v", cm)
	}
	configMap("CA-2")
	deadline := time.Now().Add(10 * time.Second)
	for ca() != "CA-2" && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := ca(); got != "CA-2" {
		t.Fatalf("after the ConfigMap update: %s", got)
	}
}
