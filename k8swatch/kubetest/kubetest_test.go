//go:build linux

package kubetest_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/edgeroute/edgeroute/k8swatch/kubetest"
)

// cp is the package's control plane, started once by TestMain.
var cp *kubetest.ControlPlane

func TestMain(m *testing.M) {
	t0 := time.Now()
	var err error
	cp, err = kubetest.Start(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "kubetest: control plane ready in %v\n", time.Since(t0).Round(time.Millisecond))
	code := m.Run()
	cp.Stop()
	os.Exit(code)
}

const ingressRouteCRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: ingressroutes.traefik.io}
spec:
  group: traefik.io
  names: {kind: IngressRoute, listKind: IngressRouteList, plural: ingressroutes, singular: ingressroute}
  scope: Namespaced
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          apiVersion: {type: string}
          kind: {type: string}
          metadata: {type: object}
          spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
`

var ingressRoutes = schema.GroupVersionResource{Group: "traefik.io", Version: "v1alpha1", Resource: "ingressroutes"}

func applyCRD(t *testing.T) {
	t.Helper()
	t0 := time.Now()
	if err := kubetest.Apply(t.Context(), cp.Config, []byte(ingressRouteCRD)); err != nil {
		t.Fatal(err)
	}
	if err := kubetest.WaitCRDs(t.Context(), cp.Config, "ingressroutes.traefik.io"); err != nil {
		t.Fatal(err)
	}
	t.Logf("CRD applied and established in %v", time.Since(t0).Round(time.Millisecond))
}

func TestApplyAndRead(t *testing.T) {
	applyCRD(t)
	ns, err := kubetest.NewNetNS()
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	backend := ns.Addr(1).String()
	objs := fmt.Sprintf(`
apiVersion: v1
kind: Namespace
metadata: {name: kubetest-a}
---
apiVersion: v1
kind: Service
metadata: {name: whoami, namespace: kubetest-a}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: whoami-1
  namespace: kubetest-a
  labels: {kubernetes.io/service-name: whoami}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- addresses: [%q]
  conditions: {ready: true}
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: whoami, namespace: kubetest-a}
spec:
  entryPoints: [web]
  routes:
  - match: 'Host("whoami.test")'
    kind: Rule
    services: [{name: whoami, port: 80}]
`, backend)
	ctx := t.Context()
	if err := kubetest.Apply(ctx, cp.Config, []byte(objs)); err != nil {
		t.Fatal(err)
	}

	cs, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := cs.CoreV1().Services("kubetest-a").Get(ctx, "whoami", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.ClusterIP == "" || svc.Spec.Ports[0].Port != 80 {
		t.Errorf("service: clusterIP %q, ports %v", svc.Spec.ClusterIP, svc.Spec.Ports)
	}
	slice, err := cs.DiscoveryV1().EndpointSlices("kubetest-a").Get(ctx, "whoami-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := slice.Endpoints[0].Addresses[0]; got != backend {
		t.Errorf("endpoint slice address %q, want %q", got, backend)
	}
	// No slice may name a host address (the endpoint reconciler is off).
	all, err := cs.DiscoveryV1().EndpointSlices("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all.Items {
		for _, e := range s.Endpoints {
			for _, a := range e.Addresses {
				if !strings.HasPrefix(a, "198.18.") {
					t.Errorf("EndpointSlice %s/%s has address %s", s.Namespace, s.Name, a)
				}
			}
		}
	}

	dyn, err := dynamic.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	ir, err := dyn.Resource(ingressRoutes).Namespace("kubetest-a").Get(ctx, "whoami", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	routes, _, _ := unstructured.NestedSlice(ir.Object, "spec", "routes")
	if len(routes) != 1 || routes[0].(map[string]any)["match"] != `Host("whoami.test")` {
		t.Errorf("IngressRoute routes = %v", routes)
	}
}

// TestKubeconfig reads the kubeconfig file the way a subprocess would.
func TestKubeconfig(t *testing.T) {
	cfg, err := clientcmd.BuildConfigFromFlags("", cp.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Get(t.Context(), "kube-system", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("server %s", v.GitVersion)
}

func TestApplyTwice(t *testing.T) {
	applyCRD(t)
	ctx := t.Context()
	dyn, err := dynamic.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	cms := dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}).Namespace("default")
	irs := dyn.Resource(ingressRoutes).Namespace("default")
	// No namespace in the documents: Apply puts them in "default".
	docs := func(value string, withMiddlewares bool) []byte {
		mw := ""
		if withMiddlewares {
			mw = "\n    middlewares: [{name: strip}]"
		}
		return fmt.Appendf(nil, `
apiVersion: v1
kind: ConfigMap
metadata: {name: kubetest-twice}
data: {key: %s}
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: kubetest-twice}
spec:
  routes:
  - match: PathPrefix("/")
    kind: Rule%s
    services: [{name: whoami, port: 80}]
`, value, mw)
	}
	versions := func() (cm, ir *unstructured.Unstructured) {
		t.Helper()
		cm, err := cms.Get(ctx, "kubetest-twice", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ir, err = irs.Get(ctx, "kubetest-twice", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return cm, ir
	}

	if err := kubetest.Apply(ctx, cp.Config, docs("one", true)); err != nil {
		t.Fatal(err)
	}
	cm1, ir1 := versions()
	if err := kubetest.Apply(ctx, cp.Config, docs("one", true)); err != nil {
		t.Fatal(err)
	}
	cm2, ir2 := versions()
	if cm1.GetResourceVersion() != cm2.GetResourceVersion() || ir1.GetResourceVersion() != ir2.GetResourceVersion() {
		t.Errorf("applying the same documents again changed the objects")
	}

	if err := kubetest.Apply(ctx, cp.Config, docs("two", false)); err != nil {
		t.Fatal(err)
	}
	cm3, ir3 := versions()
	if v, _, _ := unstructured.NestedString(cm3.Object, "data", "key"); v != "two" {
		t.Errorf("ConfigMap data.key = %q after the update, want two", v)
	}
	routes, _, _ := unstructured.NestedSlice(ir3.Object, "spec", "routes")
	if _, ok := routes[0].(map[string]any)["middlewares"]; ok || ir3.GetResourceVersion() == ir2.GetResourceVersion() {
		t.Errorf("IngressRoute not updated: %v", ir3.Object["spec"])
	}
}

func TestNetNS(t *testing.T) {
	ns, err := kubetest.NewNetNS()
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	other, err := kubetest.NewNetNS()
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if ns.Addr(1) == other.Addr(1) {
		t.Fatalf("two namespaces share %v", ns.Addr(1))
	}
	t.Logf("namespaces %s at %v and %s at %v", ns.Name, ns.Addr(1), other.Name, other.Addr(1))

	addr := netip.AddrPortFrom(ns.Addr(2), 8080) // Addr(2) is assigned on first use
	l, err := ns.Listen("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s, you are %s", r.Host, r.RemoteAddr)
	})}
	go srv.Serve(l)
	defer srv.Close()

	// The address exists only inside the namespace.
	if l, err := net.Listen("tcp", addr.String()); err == nil {
		l.Close()
		t.Errorf("%v can be bound in the host namespace too", addr)
	}

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Get("http://" + addr.String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := fmt.Sprintf("hello from %s, you are %s:", addr, ns.HostAddr())
	if !strings.HasPrefix(string(body), want) {
		t.Errorf("got %q, want %q...", body, want)
	}

	srv.Close()
	if err := ns.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), ns.Name) {
		t.Errorf("ip netns list still shows %s:\n%s", ns.Name, out)
	}
	if _, err := net.InterfaceByName(ns.HostIf); err == nil {
		t.Errorf("host interface %s still exists", ns.HostIf)
	}
}
