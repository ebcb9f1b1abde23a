package k8swatch

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeroute/edgeroute/engine"
)

// BenchmarkLoad measures a full configuration load from a folder of N
// IngressRoutes: read, decode, translate and build the runtime (compile).
func BenchmarkLoad(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("ingressroutes=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			var sb strings.Builder
			sb.WriteString("apiVersion: v1\nkind: Service\nmetadata: {name: up, namespace: bench}\nspec: {ports: [{name: http, port: 80}]}\n" +
				"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: up-1, namespace: bench, labels: {kubernetes.io/service-name: up}}\n" +
				"addressType: IPv4\nports: [{name: http, port: 9999}]\nendpoints: [{addresses: [\"127.0.0.1\"]}]\n")
			for i := range n {
				fmt.Fprintf(&sb, "---\napiVersion: traefik.io/v1alpha1\nkind: IngressRoute\nmetadata: {name: r%d, namespace: bench}\n"+
					"spec:\n  routes:\n    - match: \"Host(`r%d.bench.test`)\"\n      services: [{name: up, port: 80}]\n", i, i)
			}
			if err := os.WriteFile(filepath.Join(dir, "routes.yaml"), []byte(sb.String()), 0o644); err != nil {
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
