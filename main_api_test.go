package main

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// entryPoint waits for the process to report where entry point name
// listens.
func entryPoint(t *testing.T, p *proc, name string) string {
	t.Helper()
	re := regexp.MustCompile(`msg="entry point listening" name=` + name + ` address=(\S+)`)
	var addr string
	waitFor(t, "entry point "+name, func() bool {
		if m := re.FindStringSubmatch(p.log()); m != nil {
			addr = m[1]
		}
		return addr != ""
	})
	return "http://" + addr
}

// fetchAll is fetch with the status, a header and the body.
func fetchAll(t *testing.T, rawURL, host string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", rawURL, nil)
	req.Host = host
	c := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, resp.Header, b.String()
}

const internalRoutesYAML = `apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: traefik-dashboard, namespace: default}
spec:
  entryPoints: [web]
  routes:
    - match: Host(` + "`traefik.test`" + `) && (PathPrefix(` + "`/api`" + `) || PathPrefix(` + "`/dashboard`" + `))
      middlewares: [{name: tag}]
      services: [{name: api@internal, kind: TraefikService}]
    - match: Host(` + "`dashboard.test`" + `)
      middlewares: [{name: strip-dashboard}]
      services: [{name: dashboard@internal, kind: TraefikService}]
    - match: Host(` + "`ping.test`" + `)
      services: [{name: ping@internal, kind: TraefikService}]
    - match: Host(` + "`metrics.test`" + `)
      services: [{name: prometheus@internal, kind: TraefikService}]
    - match: Host(` + "`noop.test`" + `)
      services: [{name: noop@internal, kind: TraefikService}]
    - match: Host(` + "`a.test`" + `)
      services: [{name: whoami-a, port: 80}]
---
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: tag, namespace: default}
spec:
  headers:
    customResponseHeaders: {X-Dashboard: "yes"}
---
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: strip-dashboard, namespace: default}
spec:
  stripPrefix: {prefixes: [/dashboard]}
`

// TestServeInternalServicesThroughIngressRoute: the 34-in-329 pattern
// (the dashboard behind an IngressRoute to api@internal, with a
// middleware), and every other internal service as a TraefikService
// target; with --api alone the traefik entry point serves no API.
func TestServeInternalServicesThroughIngressRoute(t *testing.T) {
	_, pa := whoami(t, "whoami-a")
	dir := t.TempDir()
	manifests(t, dir, map[string]int{"whoami-a": pa}, internalRoutesYAML)
	p := start(t, "--entryPoints.web.address=127.0.0.1:0", "--entryPoints.traefik.address=127.0.0.1:0", "--providers.manifests.directory="+dir,
		"--api", "--ping", "--metrics.prometheus", "--metrics.prometheus.manualRouting")
	web, traefik := entryPoint(t, p, "web"), entryPoint(t, p, "traefik")

	code, h, body := fetchAll(t, web+"/api/http/routers?search=a.test", "traefik.test")
	if code != 200 || h.Get("X-Dashboard") != "yes" || !strings.Contains(body, `"service":"default-whoami-a-80@kubernetescrd"`) || !strings.Contains(body, `"status":"enabled"`) {
		t.Errorf("api@internal: %d %v %s", code, h, body)
	}
	if code, h, body := fetchAll(t, web+"/dashboard/", "traefik.test"); code != 200 || !strings.Contains(body, "edgeroute dashboard") || h.Get("X-Dashboard") != "yes" {
		t.Errorf("dashboard through api@internal: %d", code)
	}
	if code, _, body := fetchAll(t, web+"/dashboard/", "dashboard.test"); code != 200 || !strings.Contains(body, "edgeroute dashboard") {
		t.Errorf("dashboard@internal: %d %q", code, body)
	}
	if code, h, _ := fetchAll(t, web+"/dashboard/dashboard.css", "dashboard.test"); code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/css") {
		t.Errorf("dashboard@internal file: %d %v", code, h)
	}
	if code, _, body := fetchAll(t, web+"/", "ping.test"); code != 200 || body != "OK" {
		t.Errorf("ping@internal: %d %q", code, body)
	}
	if code, _, body := fetchAll(t, web+"/", "metrics.test"); code != 200 || !strings.Contains(body, "traefik_config_reloads_total") {
		t.Errorf("prometheus@internal: %d", code)
	}
	if code, _, body := fetchAll(t, web+"/", "noop.test"); code != 418 || body != "" {
		t.Errorf("noop@internal: %d %q", code, body)
	}
	if code, _, body := fetchAll(t, web+"/", "a.test"); code != 200 || backendName(body) != "whoami-a" {
		t.Errorf("a.test: %d %q", code, body)
	}
	// The traefik entry point: ping (routed), no API (not insecure), no
	// /metrics (manual routing).
	for path, want := range map[string]int{"/ping": 200, "/api/rawdata": 404, "/metrics": 404, "/dashboard/": 404} {
		if code, _, _ := fetchAll(t, traefik+path, "x"); code != want {
			t.Errorf("traefik %s: %d, want %d", path, code, want)
		}
	}
}

// TestExplainAPIMatchesCLI: /api/explain answers exactly what
// `edgeroute explain --json` prints for the same configuration.
func TestExplainAPIMatchesCLI(t *testing.T) {
	_, pa := whoami(t, "whoami-a")
	_, pb := whoami(t, "whoami-b")
	dir := t.TempDir()
	manifests(t, dir, map[string]int{"whoami-a": pa, "whoami-b": pb}, routesYAML)
	args := []string{"--entryPoints.web.address=127.0.0.1:0", "--entryPoints.traefik.address=127.0.0.1:0", "--providers.manifests.directory=" + dir, "--api.insecure"}
	p := start(t, args...)
	traefik := entryPoint(t, p, "traefik")
	for _, c := range []struct {
		method, url string
		headers     []string
		flags       []string
	}{
		{"GET", "http://a.test/b/x", nil, nil},
		{"POST", "http://split.test/", []string{"X-A: 1"}, nil},
		{"GET", "http://nothing.test/zzz", nil, nil},
		{"GET", "https://a.test/", nil, nil},
		{"GET", "http://localhost/api/overview", nil, []string{"--entrypoint", "traefik"}},
		{"GET", "http://localhost/", nil, []string{"--entrypoint", "traefik", "--client-ip", "10.0.0.1"}},
	} {
		q := url.Values{"method": {c.method}, "url": {c.url}, "header": c.headers}
		cli := append([]string{"explain", "--json"}, args...)
		for i := 0; i < len(c.flags); i += 2 {
			q.Set(strings.TrimPrefix(c.flags[i], "--"), c.flags[i+1])
		}
		cli = append(cli, c.flags...)
		for _, h := range c.headers {
			cli = append(cli, "-H", h)
		}
		cli = append(cli, c.method, c.url)
		out, err := exec.Command(binary, cli...).Output()
		if err != nil {
			t.Fatalf("%v: %v", cli, err)
		}
		code, _, body := fetchAll(t, traefik+"/api/explain?"+q.Encode(), "x")
		if code != 200 || body != string(out) {
			t.Errorf("%s %s: API (%d):\n%s\nCLI:\n%s", c.method, c.url, code, body, out)
		}
	}
}

// TestDashboardInChromium loads the dashboard in a real headless Chromium
// (Debian's) and checks what it shows: the routers, a server that is up
// and one that is down, a problem, and a request explained by its form.
func TestDashboardInChromium(t *testing.T) {
	chromium := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			chromium = p
			break
		}
	}
	if chromium == "" {
		t.Skip("no chromium binary (apt-get install chromium)")
	}
	_, pa := whoami(t, "whoami-a")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	manifests(t, dir, map[string]int{"whoami-a": pa}, `apiVersion: v1
kind: Service
metadata: {name: gone-backend, namespace: default}
spec:
  type: ExternalName
  externalName: 127.0.0.1
  ports: [{name: http, port: `+itoa(closed)+`}]
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: shop, namespace: default}
spec:
  entryPoints: [web]
  routes:
    - match: Host(`+"`shop.test`"+`)
      services: [{name: whoami-a, port: 80}]
    - match: Host(`+"`legacy.test`"+`)
      services:
        - name: gone-backend
          port: `+itoa(closed)+`
          healthCheck: {path: /health, interval: 50ms, timeout: 1s}
    - match: Host(`+"`broken.test`"+`)
      services: [{name: no-such-service, port: 80}]
`)
	p := start(t, "--entryPoints.web.address=127.0.0.1:0", "--entryPoints.traefik.address=127.0.0.1:0", "--providers.manifests.directory="+dir,
		"--providers.kubernetesCRD.allowExternalNameServices", "--api.insecure")
	traefik := entryPoint(t, p, "traefik")
	// The page shows the servers' health as the API reports it: wait
	// for the health check to have found the closed port.
	waitFor(t, "the health check", func() bool {
		_, _, body := fetchAll(t, traefik+"/api/http/services/default-gone-backend-"+itoa(closed)+"@kubernetescrd", "x")
		return strings.Contains(body, `"DOWN"`)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	page := traefik + "/dashboard/?" + url.Values{"url": {"http://shop.test/cart"}, "entrypoint": {"web"}}.Encode()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--user-data-dir="+filepath.Join(t.TempDir(), "profile"), "--virtual-time-budget=5000", "--dump-dom", page)
	dom, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	s := string(dom)
	for _, want := range []string{
		`data-loaded="true"`,
		`<code>api@internal</code>`,
		`<code>Host(` + "`shop.test`" + `)</code>`,
		`<span class="status server-UP">UP</span> <code>http://127.0.0.1:` + itoa(pa) + `</code>`,
		`<span class="status server-DOWN">DOWN</span> <code>http://127.0.0.1:` + itoa(closed) + `</code>`,
		`kubernetes service not found: default/no-such-service`,
		`id="explain-router">Router <code>default-shop-`,
		`The service receives GET /cart`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", s)
	}
	if m := regexp.MustCompile(`<tr data-router="[^"]*shop[^"]*">`).FindAllString(s, -1); len(m) != 2 {
		t.Errorf("routers of shop shown: %d, want 2 (one served, one behind a server that is down; translation drops the route whose service is missing, as Traefik's provider does): %v", len(m), m)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
