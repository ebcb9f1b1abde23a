package k8swatch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeroute/edgeroute/engine"
	"github.com/edgeroute/edgeroute/k8swatch/translate"
)

// benchManifests returns a manifest of one Service, one EndpointSlice and
// n IngressRoutes.
func benchManifests(n int) []byte {
	var sb strings.Builder
	sb.WriteString("apiVersion: v1\nkind: Service\nmetadata: {name: up, namespace: bench}\nspec: {ports: [{name: http, port: 80}]}\n" +
		"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: up-1, namespace: bench, labels: {kubernetes.io/service-name: up}}\n" +
		"addressType: IPv4\nports: [{name: http, port: 9999}]\nendpoints: [{addresses: [\"127.0.0.1\"]}]\n")
	for i := range n {
		fmt.Fprintf(&sb, "---\napiVersion: traefik.io/v1alpha1\nkind: IngressRoute\nmetadata: {name: r%d, namespace: bench}\n"+
			"spec:\n  routes:\n    - match: \"Host(`r%d.bench.test`)\"\n      services: [{name: up, port: 80}]\n", i, i)
	}
	return []byte(sb.String())
}

// BenchmarkLoad measures a full configuration load from a folder of N
// IngressRoutes: read, decode, translate and build the runtime (compile).
// Every load decodes every document, so this is also the cost of a
// first load.
func BenchmarkLoad(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("ingressroutes=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "routes.yaml"), benchManifests(n), 0o644); err != nil {
				b.Fatal(err)
			}
			static, _ := engine.ParseStatic(nil)
			b.ReportAllocs()
			for b.Loop() {
				snap := NewDir(dir, Options{}, nil).Load()
				if len(snap.Routers) != n || len(snap.Problems) > 0 {
					b.Fatalf("%d routers, problems %v", len(snap.Routers), snap.Problems)
				}
				engine.Build(static, snap)
			}
		})
	}
}

// TestLoadDoesNotMutateObjects checks that translating objects and
// building the runtime only read them: the cluster provider's store hands
// the same objects to every rebuild.
func TestLoadDoesNotMutateObjects(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "routes.yaml"), benchManifests(20), 0o644); err != nil {
		t.Fatal(err)
	}
	objs, _ := loadObjects(dir, "../testdata/traefik-crd-fixtures", "../examples")
	dump := func() []byte {
		out, err := json.Marshal([]any{objs.IngressRoutes, objs.TraefikServices, objs.Middlewares,
			objs.Services, objs.EndpointSlices, objs.Nodes})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	before := dump()
	static, _ := engine.ParseStatic(nil)
	for _, opts := range []Options{{}, {AllowCrossNamespace: true, AllowExternalNameServices: true, AllowEmptyServices: true, NativeLBByDefault: true}} {
		snap := translate.Snapshot(objs, opts)
		engine.Build(static, snap)
	}
	if !bytes.Equal(before, dump()) {
		t.Error("translating or building changed the decoded objects")
	}
}
