package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/edgeroute/edgeroute/acme/pebbletest"
	"github.com/edgeroute/edgeroute/k8swatch"
	"github.com/edgeroute/edgeroute/k8swatch/kubetest"
)

// Two edgeroute processes against one real kube-apiserver share one
// certificate: exactly one order reaches the ACME server, the certificate
// lives in a Secret of edgeroute's namespace, and both serve it. Pebble's
// HTTP-01 validations are sent (by a forwarder of the test) to the
// replica that does NOT hold the ordering Lease, so the challenge must
// travel through the API server too.
func TestACMEClusterSharedCertificate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cp, err := kubetest.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cp.Stop)
	files, _ := filepath.Glob("deploy/crds/*.yaml")
	var crds []string
	for _, f := range files {
		data, _ := os.ReadFile(f)
		if err := kubetest.Apply(ctx, cp.Config, data); err != nil {
			t.Fatal(err)
		}
		crds = append(crds, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "traefik.io_"), ".yaml")+".traefik.io")
	}
	if err := kubetest.WaitCRDs(ctx, cp.Config, crds...); err != nil {
		t.Fatal(err)
	}
	// The backend is never dialed: only handshakes are made.
	if err := kubetest.Apply(ctx, cp.Config, []byte(`
apiVersion: v1
kind: Service
metadata: {name: whoami-a, namespace: default}
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: whoami-a-1, namespace: default, labels: {kubernetes.io/service-name: whoami-a}}
addressType: IPv4
ports: [{name: http, port: 80}]
endpoints: [{addresses: ["198.18.0.10"]}]
`)); err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}

	// The forwarder Pebble validates through: each connection goes to the
	// replica that does not hold the Lease.
	fwd, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fwd.Close() })
	e := newACMEEnvAt(t, 0, fwd.Addr().(*net.TCPAddr).Port)
	var procs [2]*proc
	var addrs [2]string
	var mu sync.Mutex
	served := map[int]int{} // replica → validation connections
	leases := dyn.Resource(schema.GroupVersionResource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}).Namespace("default")
	go func() {
		for {
			c, err := fwd.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				holder := ""
				if l, err := leases.Get(context.Background(), k8swatch.LeaseName("le"), metav1.GetOptions{}); err == nil {
					holder, _, _ = unstructured.NestedString(l.Object, "spec", "holderIdentity")
				}
				other := 0
				if procs[0] != nil && strings.HasSuffix(holder, "-"+strconv.Itoa(procs[0].cmd.Process.Pid)) {
					other = 1
				}
				mu.Lock()
				served[other]++
				mu.Unlock()
				up, err := net.Dial("tcp", addrs[other])
				if err != nil {
					return
				}
				defer up.Close()
				go io.Copy(up, c)
				io.Copy(c, up)
			}()
		}
	}()

	t.Setenv("KUBECONFIG", cp.Kubeconfig)
	t.Setenv("POD_NAMESPACE", "default")
	for i := range procs {
		port, err := pebbletest.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = "127.0.0.1:" + strconv.Itoa(port)
		args := []string{"--providers.kubernetesCRD", "--entryPoints.web.address=" + addrs[i],
			"--certificatesResolvers.le.acme.caServer=" + e.pebble.Directory,
			"--certificatesResolvers.le.acme.caCertificates=" + e.pebble.CAFile,
			"--certificatesResolvers.le.acme.email=ops@example.test",
			"--certificatesResolvers.le.acme.keyType=EC256",
			"--certificatesResolvers.le.acme.httpChallenge.entryPoint=web"}
		procs[i] = start(t, args...)
		procs[i].address(t)
	}
	// Both replicas see the route at once and race for the Lease.
	if err := kubetest.Apply(ctx, cp.Config, []byte(acmeRoute("shared", "shared.test", "{certResolver: le}"))); err != nil {
		t.Fatal(err)
	}
	var leaves [2]*x509.Certificate
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) && (leaves[0] == nil || leaves[1] == nil) {
		for i := range leaves {
			if leaves[i] == nil {
				leaves[i] = e.issuedAt(addrs[i], "shared.test")
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if leaves[0] == nil || leaves[1] == nil {
		t.Fatalf("certificates served: %v %v\nreplica 0:\n%s\nreplica 1:\n%s", leaves[0] != nil, leaves[1] != nil, procs[0].log(), procs[1].log())
	}
	if leaves[0].SerialNumber.Cmp(leaves[1].SerialNumber) != 0 {
		t.Errorf("the replicas serve different certificates: %v and %v", leaves[0].SerialNumber, leaves[1].SerialNumber)
	}
	if n := e.pebble.Orders(); n != 1 {
		t.Errorf("%d orders placed, want exactly 1", n)
	}
	ordered := 0
	for i, p := range procs {
		if strings.Contains(p.log(), `msg="certificate obtained"`) {
			ordered++
			mu.Lock()
			if served[1-i] == 0 {
				t.Errorf("replica %d ordered, but no validation reached replica %d", i, 1-i)
			}
			mu.Unlock()
		}
	}
	if ordered != 1 {
		t.Errorf("%d replicas obtained the certificate, want 1", ordered)
	}
	secrets := dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "secrets"}).Namespace("default")
	list, err := secrets.List(ctx, metav1.ListOptions{LabelSelector: "edgeroute.io/acme=certificate"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Object["type"] != "kubernetes.io/tls" ||
		!strings.Contains(list.Items[0].GetAnnotations()["edgeroute.io/acme-domain"], `"main":"shared.test"`) {
		t.Errorf("certificate Secrets: %v", list.Items)
	}
	if l, err := secrets.List(ctx, metav1.ListOptions{LabelSelector: "edgeroute.io/acme=challenge"}); err != nil || len(l.Items) != 0 {
		t.Errorf("challenge Secrets left: %v %v", l, err)
	}
	fmt.Fprintf(os.Stderr, "validation connections by replica: %v\n", served)
}
