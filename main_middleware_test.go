package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const middlewareRoutes = `apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: mw, namespace: default}
spec:
  routes:
    - match: PathPrefix(` + "`/api`" + `)
      middlewares: [{name: api}]
      services: [{name: whoami-a, port: 80}]
    - match: PathPrefix(` + "`/other`" + `)
      services: [{name: whoami-b, port: 80}]
    - match: PathPrefix(` + "`/gone`" + `)
      middlewares: [{name: nowhere}]
      services: [{name: whoami-b, port: 80}]
---
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: api, namespace: default}
spec:
  chain:
    middlewares: [{name: strip}, {name: v1}]
---
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: strip, namespace: default}
spec:
  stripPrefix: {prefixes: [/api]}
---
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: v1, namespace: default}
spec:
  addPrefix: {prefix: /v1}
`

// The binary serves a folder whose routes carry middlewares: the backend
// sees the rewritten request; editing a Middleware takes effect without a
// restart; a route naming a missing middleware answers 404 while the
// others serve; explain prints what each middleware does.
func TestServeMiddlewares(t *testing.T) {
	e := setup(t)
	manifests(t, e.dir, e.ports, middlewareRoutes)
	waitFor(t, "the middleware routes", func() bool {
		code, body := fetch(t, e.base+"/api/users?id=7", "a.test")
		return code == 200 && strings.Contains(body, "GET /v1/users?id=7 HTTP/1.1") && strings.Contains(body, "X-Forwarded-Prefix: /api")
	})
	if code, body := fetch(t, e.base+"/gone", "a.test"); code != 404 {
		t.Errorf("/gone: %d %q, want 404 (its middleware does not exist)", code, body)
	}
	if code, body := fetch(t, e.base+"/other", "a.test"); code != 200 || backendName(body) != "whoami-b" {
		t.Errorf("/other: %d %q", code, body)
	}

	out, err := exec.Command(binary, "explain", "--providers.manifests.directory="+e.dir, "GET", "http://a.test/api/users").CombinedOutput()
	if err != nil {
		t.Fatalf("explain: %v\n%s", err, out)
	}
	for _, want := range []string{
		"1. default-strip@kubernetescrd (stripPrefix, in chain default-api@kubernetescrd): path /api/users -> /users; request header X-Forwarded-Prefix: /api set",
		"2. default-v1@kubernetescrd (addPrefix, in chain default-api@kubernetescrd): path /users -> /v1/users",
		"the service receives GET /v1/users",
		"middleware default-nowhere@kubernetescrd does not exist",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("explain output lacks %q:\n%s", want, out)
		}
	}

	// Editing a Middleware is picked up like any other object.
	write(t, filepath.Join(e.dir, "routes.yaml"), strings.Replace(middlewareRoutes, "prefix: /v1}", "prefix: /v2}", 1))
	waitFor(t, "the edited middleware", func() bool {
		code, body := fetch(t, e.base+"/api/users", "a.test")
		return code == 200 && strings.Contains(body, "GET /v2/users HTTP/1.1")
	})
}
