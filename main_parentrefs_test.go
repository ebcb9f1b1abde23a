package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The IngressRoutes of TestServeChildRouters: shop.test is a parent (no
// service) whose middleware strips /api and tags the request; its children
// route on what it left (the path, the header), one with a middleware of
// its own; vip.test is a second parent of the shared child.
const childRoutesYAML = `apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: strip-api, namespace: default}
spec: {stripPrefix: {prefixes: [/api]}}
---
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: tag, namespace: default}
spec: {headers: {customRequestHeaders: {X-Layer: parent}}}
---
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: v2, namespace: default}
spec: {addPrefix: {prefix: /v2}}
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: shop, namespace: default}
spec:
  routes:
    - match: Host(` + "`shop.test`" + `)
      middlewares: [{name: strip-api}, {name: tag}]
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: vip, namespace: default}
spec:
  routes:
    - match: Host(` + "`vip.test`" + `)
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: shop-children, namespace: default}
spec:
  parentRefs: [{name: shop}, {name: vip}]
  routes:
    - match: Path(` + "`/users`" + `)
      services: [{name: whoami-a, port: 80}]
    - match: Header(` + "`X-Layer`, `parent`" + `) && PathPrefix(` + "`/tagged`" + `)
      middlewares: [{name: v2}]
      services: [{name: whoami-b, port: 80}]
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: catchall, namespace: default}
spec:
  routes:
    - match: PathPrefix(` + "`/`" + `)
      priority: -1
      services: [{name: whoami-b, port: 80}]
`

// TestServeChildRouters runs the binary on a folder with parentRefs:
// requests reach the child routers' backends through their parents'
// middlewares, a parent with no matching child answers 404 (no fall
// through to the catch-all), check passes, explain shows both layers, and
// a child whose parent disappears is reported and stops serving.
func TestServeChildRouters(t *testing.T) {
	_, pa := whoami(t, "whoami-a")
	_, pb := whoami(t, "whoami-b")
	dir := t.TempDir()
	manifests(t, dir, map[string]int{"whoami-a": pa, "whoami-b": pb}, childRoutesYAML)
	if out, err := exec.Command(binary, "check", dir).CombinedOutput(); err != nil || !strings.Contains(string(out), "0 problems") {
		t.Fatalf("check: %v\n%s", err, out)
	}
	proxy := start(t, "--entryPoints.web.address=127.0.0.1:0", "--providers.manifests.directory="+dir)
	base := "http://" + proxy.address(t)
	for _, c := range []struct{ path, host, backend, saw string }{
		{"/api/users", "shop.test", "whoami-a", "GET /users HTTP/1.1"},      // stripped by the parent, then Path(`/users`)
		{"/api/tagged/x", "shop.test", "whoami-b", "GET /v2/tagged/x HTTP"}, // the parent's header, then the child's addPrefix
		{"/users", "vip.test", "whoami-a", "GET /users HTTP/1.1"},           // the second parent
		{"/elsewhere", "other.test", "whoami-b", "GET /elsewhere HTTP"},     // the catch-all root
	} {
		code, body := fetch(t, base+c.path, c.host)
		if code != 200 || backendName(body) != c.backend || !strings.Contains(body, c.saw) {
			t.Errorf("%s%s: %d %q, want %s seeing %q", c.host, c.path, code, body, c.backend, c.saw)
		}
		if c.host == "shop.test" && !strings.Contains(body, "X-Layer: parent") {
			t.Errorf("%s%s: the parent's header did not reach the backend:\n%s", c.host, c.path, body)
		}
	}
	for _, c := range []struct{ path, host string }{{"/api/none", "shop.test"}, {"/tagged/x", "vip.test"}} {
		if code, body := fetch(t, base+c.path, c.host); code != 404 || body != "404 page not found\n" {
			t.Errorf("%s%s: %d %q, want the children's 404", c.host, c.path, code, body)
		}
	}
	out, err := exec.Command(binary, "explain", "--providers.manifests.directory="+dir, "GET", "http://shop.test/api/tagged/x").CombinedOutput()
	if err != nil {
		t.Fatalf("explain: %v\n%s", err, out)
	}
	for _, want := range []string{
		"-> its child routers",
		"path /api/tagged/x -> /tagged/x",
		"request header X-Layer: parent set",
		`child:       of default-shop-`,
		`on routing path "/tagged/x"`,
		"-> service default-whoami-b-80@kubernetescrd",
		"the service receives GET /v2/tagged/x",
		"children of default-shop-",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("explain lacks %q:\n%s", want, out)
		}
	}
	out, err = exec.Command(binary, "explain", "--json", "--providers.manifests.directory="+dir, "GET", "http://shop.test/api/none").CombinedOutput()
	if err != nil {
		t.Fatalf("explain --json: %v\n%s", err, out)
	}
	var doc struct {
		Router string
		Status int
		Layers []struct {
			Parent, RoutingPath, Reason string
			Status                      int
			Routes                      []struct{ Router string }
		}
	}
	if err := json.Unmarshal(out, &doc); err != nil || !strings.HasPrefix(doc.Router, "default-shop-") || doc.Status != 404 || len(doc.Layers) != 1 ||
		doc.Layers[0].Parent != doc.Router || doc.Layers[0].RoutingPath != "/none" || doc.Layers[0].Status != 404 ||
		doc.Layers[0].Reason != "no child router matches" || len(doc.Layers[0].Routes) != 2 {
		t.Errorf("explain --json: %v %+v\n%s", err, doc, out)
	}
	// The parent vip goes: the child names a missing IngressRoute, so
	// none of its routes is built (as in Traefik), and shop's children
	// are gone with it: shop, a parent with no children, is not served,
	// and its requests fall through to the catch-all, unstripped.
	write(t, filepath.Join(dir, "routes.yaml"), strings.Replace(childRoutesYAML, "metadata: {name: vip, namespace: default}", "metadata: {name: vip2, namespace: default}", 1))
	waitFor(t, "the child routers to go", func() bool {
		code, body := fetch(t, base+"/api/users", "shop.test")
		return code == 200 && backendName(body) == "whoami-b" && strings.Contains(body, "GET /api/users HTTP")
	})
	out, _ = exec.Command(binary, "check", dir).CombinedOutput()
	for _, want := range []string{"IngressRoute default/shop-children: parent IngressRoute default/vip does not exist",
		"router has no service and no child routers"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("check lacks %q:\n%s", want, out)
		}
	}
}

// TestCheckParentRefsFixtures runs check on Traefik's parent_refs
// fixtures, each with parent_refs_services.yml as Traefik's provider test
// pairs them: those Traefik builds pass, and those it refuses report
// Traefik's error on the object concerned.
func TestCheckParentRefsFixtures(t *testing.T) {
	const dir = "testdata/traefik-crd-fixtures"
	for _, tc := range []struct {
		file, flag string
		problems   []string
	}{
		{file: "parent_refs_single_parent_single_route.yml"},
		{file: "parent_refs_single_parent_multiple_routes.yml"},
		{file: "parent_refs_multiple_parents.yml"},
		{file: "parent_refs_default_namespace.yml"},
		{file: "parent_refs_services.yml"},
		{file: "parent_refs_cross_namespace_allowed.yml", flag: "--providers.kubernetesCRD.allowCrossNamespace=true"},
		{file: "parent_refs_cross_namespace_allowed.yml", problems: []string{
			"IngressRoute ns-b/child-cross-allowed: cross-namespace reference to parent IngressRoute ns-a/parent-cross not allowed"}},
		{file: "parent_refs_cross_namespace_denied.yml", problems: []string{
			"parent_refs_cross_namespace_denied.yml:14: IngressRoute ns-b/child-cross-denied: cross-namespace reference to parent IngressRoute ns-a/parent-cross not allowed",
			// The parent then has no children, which Traefik's router
			// manager reports on it.
			"IngressRoute ns-a/parent-cross routes[0]: router ns-a-parent-cross-74575ab54671a3ede28c@kubernetescrd: router has no service and no child routers"}},
		{file: "parent_refs_missing_parent.yml", problems: []string{
			"parent_refs_missing_parent.yml:2: IngressRoute default/child-missing-parent: parent IngressRoute default/non-existent-parent does not exist"}},
	} {
		args := []string{filepath.Join(dir, "parent_refs_services.yml"), filepath.Join(dir, tc.file)}
		if tc.flag != "" {
			args = append(args, tc.flag)
		}
		var out bytes.Buffer
		code := runCheck(args, &out)
		if len(tc.problems) == 0 && code != 0 || len(tc.problems) > 0 && code != 1 {
			t.Errorf("%s %s: exit %d\n%s", tc.file, tc.flag, code, out.String())
		}
		for _, p := range tc.problems {
			if !strings.Contains(out.String(), "error:   "+dir+"/") || !strings.Contains(out.String(), p) {
				t.Errorf("%s: check lacks %q:\n%s", tc.file, p, out.String())
			}
		}
	}
}
