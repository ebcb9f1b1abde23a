package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edgeroute/edgeroute/k8swatch/kubetest"
)

// The binary against a real API server through $KUBECONFIG: the entry
// points (and /ping) open only once the caches have synced and the first
// configuration is live, and then route to the cluster's endpoints.
func TestServeCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
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
	ns, err := kubetest.NewNetNS()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	backend := ns.Addr(1).String()
	ln, err := ns.Listen("tcp", net.JoinHostPort(backend, "8080"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "cluster "+r.Host) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	err = kubetest.Apply(ctx, cp.Config, []byte(fmt.Sprintf(`
apiVersion: v1
kind: Service
metadata: {name: whoami, namespace: default}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: whoami-1, namespace: default, labels: {kubernetes.io/service-name: whoami}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: [%q]}]
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: whoami, namespace: default}
spec:
  routes:
    - match: Host(`+"`cluster.test`"+`)
      services: [{name: whoami, port: 80}]
`, backend)))
	if err != nil {
		t.Fatal(err)
	}

	t.Setenv("KUBECONFIG", cp.Kubeconfig)
	p := start(t, "--providers.kubernetesCRD", "--ping",
		"--entryPoints.web.address=127.0.0.1:0", "--entryPoints.traefik.address=127.0.0.1:0")
	base := "http://" + p.address(t)
	if code, body := fetch(t, base+"/", "cluster.test"); code != 200 || body != "cluster cluster.test" {
		t.Fatalf("routed request: %d %q", code, body)
	}
	m := regexp.MustCompile(`msg="entry point listening" name=traefik address=(\S+)`).FindStringSubmatch(p.log())
	if m == nil {
		t.Fatalf("no traefik entry point in the log:\n%s", p.log())
	}
	if code, body := fetch(t, "http://"+m[1]+"/ping", ""); code != 200 || body != "OK" {
		t.Fatalf("ping: %d %q", code, body)
	}
	log := p.log()
	synced, applied, listening := strings.Index(log, `msg="caches synced"`), strings.Index(log, `msg="configuration applied"`), strings.Index(log, `msg="entry point listening"`)
	if synced < 0 || applied < synced || listening < applied {
		t.Fatalf("order of start-up: synced at %d, applied at %d, listening at %d:\n%s", synced, applied, listening, log)
	}
}
