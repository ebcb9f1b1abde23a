package translate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeroute/edgeroute/k8swatch/manifest"
)

// TestInternalServices: Traefik's internal services as IngressRoute
// targets (kind TraefikService), alone, weighted and inside a
// TraefikService, their namespace ignored as in Traefik; with kind
// Service the name is a Kubernetes Service's, which cannot hold an '@'.
func TestInternalServices(t *testing.T) {
	f := filepath.Join(t.TempDir(), "internal.yaml")
	os.WriteFile(f, []byte(`apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: dash, namespace: default}
spec:
  entryPoints: [web]
  routes:
    - match: Host(`+"`dash.test`"+`)
      services: [{name: api@internal, kind: TraefikService}]
    - match: Host(`+"`other.test`"+`)
      services: [{name: dashboard@internal, kind: TraefikService, namespace: elsewhere}]
    - match: Host(`+"`split.test`"+`)
      services:
        - {name: ping@internal, kind: TraefikService, weight: 1}
        - {name: mix, kind: TraefikService, weight: 2}
    - match: Host(`+"`service.test`"+`)
      services: [{name: noop@internal}]
---
apiVersion: traefik.io/v1alpha1
kind: TraefikService
metadata: {name: mix, namespace: default}
spec:
  weighted:
    services: [{name: prometheus@internal, kind: TraefikService}]
`), 0o644)
	objs, probs := manifest.Load(f)
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	snap := Snapshot(FromManifest(objs), Options{})
	services := map[string]string{}
	for _, r := range snap.Routers {
		services[r.Rule] = r.Service
	}
	if services["Host(`dash.test`)"] != "api@internal" || services["Host(`other.test`)"] != "dashboard@internal" {
		t.Errorf("routers: %v", services)
	}
	split := snap.Services[services["Host(`split.test`)"]]
	if split == nil || split.Weighted == nil || split.Weighted.Services[0].Name != "ping@internal" {
		t.Fatalf("weighted: %+v", split)
	}
	if mix := snap.Services[split.Weighted.Services[1].Name]; mix == nil || mix.Weighted.Services[0].Name != "prometheus@internal" {
		t.Errorf("TraefikService: %+v", mix)
	}
	for name := range snap.Services {
		if strings.HasSuffix(name, "@internal") {
			t.Errorf("service %s defined: internal services are the engine's", name)
		}
	}
	if len(snap.Problems) != 1 || !strings.Contains(snap.Problems[0].Error(), `service "noop@internal": cross-provider references are not supported`) {
		t.Errorf("problems: %v", snap.Problems)
	}
}
