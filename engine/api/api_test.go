package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/engine"
	"github.com/edgeroute/edgeroute/engine/api"
)

// serve starts a server of the static configuration args on loopback,
// with the API attached, serving snap.
func serve(t *testing.T, args []string, snap *spec.Snapshot) *engine.Server {
	t.Helper()
	static, err := engine.ParseStatic(args)
	if err != nil {
		t.Fatal(err)
	}
	srv := engine.NewServer(static, slog.New(slog.NewTextHandler(io.Discard, nil)))
	api.Attach(srv)
	srv.Apply(snap)
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return srv
}

type answer struct {
	code   int
	header http.Header
	body   string
}

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func do(t *testing.T, method, rawURL, host string) answer {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

func getJSON[T any](t *testing.T, rawURL string) (T, answer) {
	t.Helper()
	var v T
	a := do(t, "GET", rawURL, "")
	if a.code != 200 {
		t.Fatalf("GET %s: %d %s", rawURL, a.code, a.body)
	}
	if err := json.Unmarshal([]byte(a.body), &v); err != nil {
		t.Fatalf("GET %s: %v: %s", rawURL, err, a.body)
	}
	return v, a
}

// backend answers 200 "ok".
func backend(t *testing.T) string {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok "+r.URL.Path) }))
	t.Cleanup(ts.Close)
	return ts.URL
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// fixture is a configuration with a router of each state: served, behind
// a server that is down, with a missing middleware, with a bad rule, on
// an entry point that does not exist, and one to api@internal; plus a
// translation problem.
func fixture(t *testing.T) *spec.Snapshot {
	snap := &spec.Snapshot{
		Routers: []spec.Router{
			{Name: "app@kubernetescrd", EntryPoints: []string{"web"}, Rule: "Host(`app.test`)", Service: "app-svc@kubernetescrd", Middlewares: []string{"strip@kubernetescrd"}},
			{Name: "down@kubernetescrd", EntryPoints: []string{"web"}, Rule: "Host(`down.test`)", Service: "down-svc@kubernetescrd"},
			{Name: "broken@kubernetescrd", EntryPoints: []string{"web"}, Rule: "Host(`broken.test`)", Service: "app-svc@kubernetescrd", Middlewares: []string{"missing@kubernetescrd"}},
			{Name: "badrule@kubernetescrd", EntryPoints: []string{"web"}, Rule: "Hots(`x`)", Service: "app-svc@kubernetescrd"},
			{Name: "noep@kubernetescrd", EntryPoints: []string{"nope"}, Rule: "Host(`noep.test`)", Service: "app-svc@kubernetescrd"},
			{Name: "api-route@kubernetescrd", EntryPoints: []string{"web"}, Rule: "Host(`api.test`)", Service: "api@internal"},
		},
		Services: map[string]*spec.Service{
			"app-svc@kubernetescrd": {Name: "app-svc@kubernetescrd", LoadBalancer: &spec.LoadBalancer{EndpointsKey: "app", Strategy: "wrr", PassHostHeader: true, FlushInterval: 100 * time.Millisecond}},
			"down-svc@kubernetescrd": {Name: "down-svc@kubernetescrd", LoadBalancer: &spec.LoadBalancer{EndpointsKey: "down", Strategy: "wrr", PassHostHeader: true,
				HealthCheck: &spec.HealthCheck{Path: "/", Method: "GET", Interval: 20 * time.Millisecond, UnhealthyInterval: 20 * time.Millisecond, Timeout: time.Second}}},
		},
		Middlewares: map[string]*spec.Middleware{
			"strip@kubernetescrd": {Name: "strip@kubernetescrd", Kind: "stripPrefix", Config: json.RawMessage(`{"prefixes":["/strip"]}`)},
		},
		Endpoints: map[string][]spec.Server{"app": {{URL: backend(t)}}, "down": {{URL: closedPort(t)}}},
		Problems: []spec.Problem{{Ref: spec.Ref{Kind: "IngressRoute", Namespace: "default", Name: "gone", File: "routes.yaml", Line: 3, Route: 1},
			Err: fmt.Errorf("kubernetes service not found: default/gone")}},
	}
	return snap
}

var insecureArgs = []string{"--entryPoints.web.address=127.0.0.1:0", "--entryPoints.traefik.address=127.0.0.1:0",
	"--api.insecure", "--ping", "--metrics.prometheus"}

type router struct {
	Name, Service, Rule, Status, Provider, PriorityStr string
	EntryPoints, Middlewares, Using                    []string
	Error                                              []string `json:"error"`
	Priority                                           int64
}

type service struct {
	Name, Status, Type string
	ServerStatus       map[string]string
	UsedBy             []string
	LoadBalancer       *struct{ Servers []struct{ URL string } }
}

func TestAPIEndpoints(t *testing.T) {
	snap := fixture(t)
	srv := serve(t, insecureArgs, snap)
	base := "http://" + srv.Addr("traefik")
	web := "http://" + srv.Addr("web")

	// Routers: every one of the snapshot, left-out ones disabled with
	// their errors, and the internal ones.
	routers, a := getJSON[[]router](t, base+"/api/http/routers")
	if a.header.Get("X-Next-Page") != "1" || a.header.Get("Content-Type") != "application/json" {
		t.Errorf("routers headers: %v", a.header)
	}
	byName := map[string]router{}
	var names []string
	for _, r := range routers {
		byName[r.Name] = r
		names = append(names, r.Name)
	}
	want := []string{"api-route@kubernetescrd", "api@internal", "app@kubernetescrd", "badrule@kubernetescrd", "broken@kubernetescrd",
		"dashboard@internal", "down@kubernetescrd", "noep@kubernetescrd", "ping@internal", "prometheus@internal"}
	if !slices.Equal(names, want) {
		t.Fatalf("routers %v, want %v", names, want)
	}
	for name, st := range map[string]string{"app@kubernetescrd": "enabled", "down@kubernetescrd": "enabled", "api-route@kubernetescrd": "enabled",
		"broken@kubernetescrd": "disabled", "badrule@kubernetescrd": "disabled", "noep@kubernetescrd": "disabled", "ping@internal": "enabled"} {
		if byName[name].Status != st {
			t.Errorf("router %s: status %q, want %q (errors %v)", name, byName[name].Status, st, byName[name].Error)
		}
	}
	if r := byName["broken@kubernetescrd"]; !slices.Equal(r.Error, []string{"middleware missing@kubernetescrd does not exist"}) {
		t.Errorf("broken: errors %q", r.Error)
	}
	if r := byName["badrule@kubernetescrd"]; len(r.Error) != 1 || !strings.Contains(r.Error[0], `invalid rule "Hots(`+"`x`"+`)"`) {
		t.Errorf("badrule: errors %q", r.Error)
	}
	if r := byName["noep@kubernetescrd"]; !slices.Equal(r.Error, []string{`entryPoint "nope" doesn't exist`, "no valid entryPoint for this router"}) || r.Using != nil {
		t.Errorf("noep: errors %q, using %v", r.Error, r.Using)
	}
	if r := byName["app@kubernetescrd"]; r.Priority != int64(len(r.Rule)) || r.PriorityStr != fmt.Sprint(len(r.Rule)) || !slices.Equal(r.Using, []string{"web"}) ||
		r.Provider != "kubernetescrd" || !slices.Equal(r.Middlewares, []string{"strip@kubernetescrd"}) {
		t.Errorf("app: %+v", r)
	}
	if r := byName["api@internal"]; r.Rule != "PathPrefix(`/api`)" || r.PriorityStr != "9223372036854775806" || r.Provider != "internal" || r.Service != "api@internal" {
		t.Errorf("api@internal: %+v", r)
	}

	// Filters, sorting and pagination.
	if rs, _ := getJSON[[]router](t, base+"/api/http/routers?status=disabled"); len(rs) != 3 {
		t.Errorf("status=disabled: %d routers", len(rs))
	}
	if rs, _ := getJSON[[]router](t, base+"/api/http/routers?search=down.test"); len(rs) != 1 || rs[0].Name != "down@kubernetescrd" {
		t.Errorf("search: %+v", rs)
	}
	if rs, _ := getJSON[[]router](t, base+"/api/http/routers?middlewareName=strip@kubernetescrd"); len(rs) != 1 || rs[0].Name != "app@kubernetescrd" {
		t.Errorf("middlewareName: %+v", rs)
	}
	if rs, _ := getJSON[[]router](t, base+"/api/http/routers?sortBy=priority&direction=desc"); rs[0].Name != "prometheus@internal" || rs[len(rs)-1].Name != "noep@kubernetescrd" {
		t.Errorf("sortBy=priority desc: first %s, last %s", rs[0].Name, rs[len(rs)-1].Name)
	}
	if rs, a := getJSON[[]router](t, base+"/api/http/routers?per_page=3&page=2"); len(rs) != 3 || rs[0].Name != "badrule@kubernetescrd" || a.header.Get("X-Next-Page") != "3" {
		t.Errorf("page 2: %d routers from %s, X-Next-Page %s", len(rs), rs[0].Name, a.header.Get("X-Next-Page"))
	}
	// A bad escape is refused by the entry point (as by Go's server for
	// Traefik), before the API's own check.
	if a := rawGet(t, srv.Addr("traefik"), "/api/http/routers/%zz@a"); !strings.HasPrefix(a, "HTTP/1.1 400 Bad Request\r\n") {
		t.Errorf("bad escape: %q", a)
	}
	for path, msg := range map[string]string{
		"/api/http/routers?page=9":                `{"message":"invalid request: page: 9, per_page: 100"}`,
		"/api/http/routers?per_page=x":            `{"message":"invalid request: per_page: 0"}`,
		"/api/http/routers/nope":                  `{"message":"router not found: nope"}`,
		"/api/http/services/nope":                 `{"message":"service not found: nope"}`,
		"/api/http/middlewares/nope":              `{"message":"middleware not found: nope"}`,
		"/api/entrypoints/nope":                   `{"message":"entry point not found: nope"}`,
		"/api/tcp/routers/x":                      `{"message":"router not found: x"}`,
		"/api/udp/services/x":                     `{"message":"service not found: x"}`,
		"/api/explain?url=relative":               `{"message":"explain: URL \"relative\" must be absolute, like http://example.com/path"}`,
		"/api/explain?url=http://a/&entrypoint=x": `{"message":"explain: no entry point \"x\" (have traefik, web)"}`,
	} {
		a := do(t, "GET", base+path, "")
		if a.code != 400 && a.code != 404 || a.body != msg+"\n" || a.header.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("GET %s: %d %q (%s), want %q", path, a.code, a.body, a.header.Get("Content-Type"), msg)
		}
	}

	// One router, by its escaped name.
	if r, _ := getJSON[router](t, base+"/api/http/routers/"+url.PathEscape("app@kubernetescrd")); r.Name != "app@kubernetescrd" || r.Status != "enabled" {
		t.Errorf("router by id: %+v", r)
	}

	// Services: servers' health from the balancers' state.
	waitFor(t, "down-svc's server DOWN", func() bool {
		s, _ := getJSON[service](t, base+"/api/http/services/down-svc@kubernetescrd")
		for _, st := range s.ServerStatus {
			return st == "DOWN"
		}
		return false
	})
	app, _ := getJSON[service](t, base+"/api/http/services/app-svc@kubernetescrd")
	if app.Type != "loadbalancer" || app.Status != "enabled" || len(app.ServerStatus) != 1 || app.ServerStatus[app.LoadBalancer.Servers[0].URL] != "UP" ||
		!slices.Equal(app.UsedBy, []string{"app@kubernetescrd", "badrule@kubernetescrd", "broken@kubernetescrd", "noep@kubernetescrd"}) {
		t.Errorf("app-svc: %+v", app)
	}
	services, _ := getJSON[[]service](t, base+"/api/http/services")
	var snames []string
	for _, s := range services {
		snames = append(snames, s.Name)
	}
	if want := []string{"api@internal", "app-svc@kubernetescrd", "dashboard@internal", "down-svc@kubernetescrd", "noop@internal", "ping@internal", "prometheus@internal"}; !slices.Equal(snames, want) {
		t.Errorf("services %v, want %v", snames, want)
	}

	// Middlewares, with the dashboard's.
	mws, _ := getJSON[[]map[string]any](t, base+"/api/http/middlewares")
	if len(mws) != 3 || mws[2]["name"] != "strip@kubernetescrd" || mws[2]["type"] != "stripprefix" ||
		fmt.Sprint(mws[2]["stripPrefix"]) != "map[prefixes:[/strip]]" || fmt.Sprint(mws[2]["usedBy"]) != "[app@kubernetescrd]" {
		t.Errorf("middlewares: %v", mws)
	}

	// Raw data, the overview, entry points.
	raw, _ := getJSON[map[string]map[string]map[string]any](t, base+"/api/rawdata")
	if len(raw["routers"]) != 10 || len(raw["services"]) != 7 || len(raw["middlewares"]) != 3 || raw["services"]["down-svc@kubernetescrd"]["serverStatus"] == nil {
		t.Errorf("rawdata: %d routers, %d services, %d middlewares", len(raw["routers"]), len(raw["services"]), len(raw["middlewares"]))
	}
	ov, _ := getJSON[struct {
		HTTP, TCP map[string]map[string]int
		Features  map[string]any
	}](t, base+"/api/overview")
	if r := ov.HTTP["routers"]; r["total"] != 10 || r["errors"] != 3 || r["warnings"] != 0 || ov.TCP["routers"]["total"] != 0 || ov.Features["metrics"] != "Prometheus" {
		t.Errorf("overview: %v", ov)
	}
	eps, a := getJSON[[]map[string]any](t, base+"/api/entrypoints")
	if len(eps) != 2 || eps[0]["name"] != "traefik" || eps[1]["name"] != "web" || a.header.Get("X-Next-Page") != "1" {
		t.Errorf("entrypoints: %v", eps)
	}
	if ep, _ := getJSON[map[string]any](t, base+"/api/entrypoints/web"); ep["address"] != "127.0.0.1:0" {
		t.Errorf("entrypoint web: %v", ep)
	}

	// TCP and UDP: empty.
	for _, p := range []string{"/api/tcp/routers", "/api/tcp/services", "/api/tcp/middlewares", "/api/udp/routers", "/api/udp/services"} {
		if a := do(t, "GET", base+p, ""); a.code != 200 || a.body != "[]\n" || a.header.Get("X-Next-Page") != "1" {
			t.Errorf("GET %s: %d %q", p, a.code, a.body)
		}
	}

	// The version, as unrolled/render writes it for Traefik.
	v, a := getJSON[map[string]any](t, base+"/api/version")
	if v["Version"] == "" || v["Codename"] != api.Codename || v["startDate"] == nil || a.header.Get("Content-Type") != "application/json; charset=UTF-8" {
		t.Errorf("version: %v %v", v, a.header)
	}

	// Problems: translation's and the build's.
	ps, _ := getJSON[[]map[string]any](t, base+"/api/problems")
	var msgs []string
	for _, p := range ps {
		m := fmt.Sprint(p["severity"], " ", p["message"])
		if o, ok := p["object"]; ok {
			m = fmt.Sprint(p["severity"], " ", o, ": ", p["message"])
		}
		msgs = append(msgs, m)
	}
	if !slices.Contains(msgs, "error routes.yaml:3: IngressRoute default/gone routes[0]: kubernetes service not found: default/gone") ||
		!slices.Contains(msgs, "error router broken@kubernetescrd: middleware missing@kubernetescrd does not exist") {
		t.Errorf("problems:\n%s", strings.Join(msgs, "\n"))
	}

	// Gorilla's routing: 405 for another method, 404 elsewhere, clean
	// paths.
	if a := do(t, "POST", base+"/api/rawdata", ""); a.code != 405 || a.body != "" {
		t.Errorf("POST: %d %q", a.code, a.body)
	}
	if a := do(t, "GET", base+"/api/nope", ""); a.code != 404 || a.body != "404 page not found\n" {
		t.Errorf("unknown: %d %q", a.code, a.body)
	}
	if a := do(t, "GET", base+"/api/http/routers/", ""); a.code != 404 {
		t.Errorf("empty id: %d %q", a.code, a.body)
	}

	// The dashboard: / redirects (dashboard_redirect@internal), the
	// page and its files.
	if a := do(t, "GET", base+"/", ""); a.code != 301 || a.header.Get("Location") != base+"/dashboard/" {
		t.Errorf("/: %d %v", a.code, a.header)
	}
	for _, p := range []string{"/dashboard/", "/dashboard"} {
		if a := do(t, "GET", base+p, ""); a.code != 200 || !strings.Contains(a.body, "<title>edgeroute dashboard</title>") ||
			a.header.Get("Content-Type") != "text/html; charset=utf-8" || !strings.Contains(a.header.Get("Content-Security-Policy"), "frame-src 'self'") {
			t.Errorf("GET %s: %d %v", p, a.code, a.header)
		}
	}
	if a := do(t, "GET", base+"/dashboard/dashboard.js", ""); a.code != 200 || !strings.Contains(a.body, "X-Next-Page") || !strings.HasPrefix(a.header.Get("Content-Type"), "text/javascript") {
		t.Errorf("dashboard.js: %d %v", a.code, a.header)
	}
	if a := do(t, "GET", base+"/dashboard/nope.js", ""); a.code != 404 {
		t.Errorf("missing file: %d", a.code)
	}

	// An IngressRoute's router to api@internal, on web.
	if a := do(t, "GET", web+"/api/http/routers/app@kubernetescrd", "api.test"); a.code != 200 || !strings.Contains(a.body, `"name":"app@kubernetescrd"`) {
		t.Errorf("api@internal through a router: %d %q", a.code, a.body)
	}
	if a := do(t, "GET", web+"/dashboard/", "api.test"); a.code != 200 || !strings.Contains(a.body, "edgeroute dashboard") {
		t.Errorf("dashboard through api@internal: %d", a.code)
	}
	if a := do(t, "GET", web+"/", "api.test"); a.code != 302 || a.header.Get("Location") != "/dashboard/" {
		t.Errorf("api@internal's basePath: %d %v", a.code, a.header)
	}
	if a := do(t, "GET", web+"/strip/x", "app.test"); a.code != 200 || a.body != "ok /x" {
		t.Errorf("app: %d %q", a.code, a.body)
	}
}

// TestInternalServices: ping@internal and prometheus@internal on their
// routers (any path under theirs, not measured), noop@internal, and
// internal services that --api does not enable.
func TestInternalServices(t *testing.T) {
	snap := fixture(t)
	snap.Routers = append(snap.Routers,
		spec.Router{Name: "noop@kubernetescrd", EntryPoints: []string{"web"}, Rule: "Host(`noop.test`)", Service: "noop@internal"},
		spec.Router{Name: "bogus@kubernetescrd", EntryPoints: []string{"web"}, Rule: "Host(`bogus.test`)", Service: "bogus@internal"})
	srv := serve(t, []string{"--entryPoints.web.address=127.0.0.1:0", "--entryPoints.traefik.address=127.0.0.1:0", "--ping", "--metrics.prometheus"}, snap)
	base, web := "http://"+srv.Addr("traefik"), "http://"+srv.Addr("web")
	for _, p := range []string{"/ping", "/ping/x", "/pingpong", "/ping?x=1"} {
		for _, m := range []string{"GET", "POST"} {
			if a := do(t, m, base+p, ""); a.code != 200 || a.body != "OK" || a.header.Get("Content-Type") != "text/plain; charset=utf-8" {
				t.Errorf("%s %s: %d %q", m, p, a.code, a.body)
			}
		}
	}
	if a := do(t, "GET", web+"/", "noop.test"); a.code != 418 || a.body != "" {
		t.Errorf("noop@internal: %d %q", a.code, a.body)
	}
	for _, h := range []string{"api.test", "bogus.test"} {
		if a := do(t, "GET", web+"/", h); a.code != 404 {
			t.Errorf("%s: %d, want 404 (its router is left out)", h, a.code)
		}
	}
	var msgs []string
	for _, p := range srv.Runtime().Problems() {
		msgs = append(msgs, p.Error())
	}
	for _, want := range []string{"router api-route@kubernetescrd: api is not enabled", "router bogus@kubernetescrd: unknown internal service bogus@internal"} {
		if !slices.Contains(msgs, want) {
			t.Errorf("problems %q lack %q", msgs, want)
		}
	}
	// The API is off: nothing under /api on the traefik entry point.
	if a := do(t, "GET", base+"/api/rawdata", ""); a.code != 404 {
		t.Errorf("/api without --api: %d", a.code)
	}
	do(t, "GET", web+"/strip/x", "app.test")
	m := do(t, "GET", base+"/metrics", "")
	if m.code != 200 || !strings.Contains(m.body, `traefik_entrypoint_requests_total{code="200",entrypoint="web",method="GET",protocol="http"} 1`) {
		t.Errorf("metrics: %d\n%s", m.code, m.body)
	}
	// As in Traefik without addInternals: requests to internal services
	// are not measured.
	// (The 404 of /api/rawdata, which no router takes, is.)
	if strings.Contains(m.body, `code="200",entrypoint="traefik"`) || strings.Contains(m.body, "@internal") || strings.Contains(m.body, `code="418"`) {
		t.Errorf("internal requests measured:\n%s", m.body)
	}
}

// TestAPIWithoutInsecure: --api alone serves the API only through a
// router to api@internal, and basePath moves it.
func TestAPIWithoutInsecure(t *testing.T) {
	snap := fixture(t)
	srv := serve(t, []string{"--entryPoints.web.address=127.0.0.1:0", "--entryPoints.traefik.address=127.0.0.1:0", "--api", "--api.basePath=/traefik",
		"--entryPoints.web.forwardedHeaders.insecure"}, snap)
	base, web := "http://"+srv.Addr("traefik"), "http://"+srv.Addr("web")
	if a := do(t, "GET", base+"/api/rawdata", ""); a.code != 404 {
		t.Errorf("traefik entry point: %d, want 404", a.code)
	}
	if a := do(t, "GET", web+"/traefik/api/overview", "api.test"); a.code != 200 || !strings.Contains(a.body, `"routers":{"total":6,"warnings":0,"errors":3}`) {
		t.Errorf("basePath: %d %q", a.code, a.body)
	}
	if a := do(t, "GET", web+"/api/overview", "api.test"); a.code != 404 {
		t.Errorf("outside basePath: %d", a.code)
	}
	if a := do(t, "GET", web+"/traefik", "api.test"); a.code != 302 || a.header.Get("Location") != "/traefik/dashboard/" {
		t.Errorf("basePath redirect: %d %v", a.code, a.header)
	}
	req, _ := http.NewRequest("GET", web+"/traefik", nil)
	req.Host = "api.test"
	req.Header.Set("X-Forwarded-Prefix", "/edge/")
	if resp, err := noRedirect.Do(req); err != nil || resp.Header.Get("Location") != "/edge/traefik/dashboard/" {
		t.Errorf("X-Forwarded-Prefix: %v %v", err, resp.Header)
	}
	if a := do(t, "GET", web+"/traefik/dashboard/dashboard.css", "api.test"); a.code != 200 || !strings.HasPrefix(a.header.Get("Content-Type"), "text/css") {
		t.Errorf("dashboard file: %d %v", a.code, a.header)
	}
}

// TestExplainAPI: /api/explain answers what engine.Explain finds on the
// runtime in service, rendered as `edgeroute explain --json` renders it.
func TestExplainAPI(t *testing.T) {
	snap := fixture(t)
	srv := serve(t, insecureArgs, snap)
	base := "http://" + srv.Addr("traefik")
	for _, c := range []struct {
		query string
		ep    string
		raw   string
		conn  engine.Conn
	}{
		{"url=http://app.test/strip/a", "web", "GET /strip/a HTTP/1.1\r\nHost: app.test\r\n\r\n", engine.Conn{}},
		{"url=http://nope.test/&method=POST", "web", "POST / HTTP/1.1\r\nHost: nope.test\r\n\r\n", engine.Conn{}},
		{"url=http://down.test/x&header=X-A:%201&header=X-B:%202&client-ip=10.1.2.3", "web",
			"GET /x HTTP/1.1\r\nHost: down.test\r\nX-A: 1\r\nX-B: 2\r\n\r\n", engine.Conn{ClientIP: netip.MustParseAddr("10.1.2.3")}},
		{"url=https://app.test/", "web", "GET / HTTP/1.1\r\nHost: app.test\r\n\r\n", engine.Conn{TLS: true, SNI: "app.test"}},
		{"url=http://localhost/ping&entrypoint=traefik", "traefik", "GET /ping HTTP/1.1\r\nHost: localhost\r\n\r\n", engine.Conn{}},
		{"url=http://localhost/a%25zz", "web", "GET /a%zz HTTP/1.1\r\nHost: localhost\r\n\r\n", engine.Conn{}},
	} {
		a := do(t, "GET", base+"/api/explain?"+c.query, "")
		if a.code != 200 || a.header.Get("Content-Type") != "application/json" {
			t.Fatalf("%s: %d %s", c.query, a.code, a.body)
		}
		if !c.conn.ClientIP.IsValid() {
			c.conn.ClientIP = netip.MustParseAddr("127.0.0.1")
		}
		rt := srv.Runtime()
		x, err := engine.Explain(srv.Static(), rt, c.ep, []byte(c.raw), c.conn)
		if err != nil {
			t.Fatal(err)
		}
		q, _ := url.ParseQuery(c.query)
		what := q.Get("url")
		if m := q.Get("method"); m != "" {
			what = m + " " + what
		} else {
			what = "GET " + what
		}
		var want bytes.Buffer
		api.WriteExplainJSON(&want, what, x, rt.Snapshot(), rt.Problems())
		if a.body != want.String() {
			t.Errorf("%s:\n%s\nwant:\n%s", c.query, a.body, want.String())
		}
	}
	// The first one, read back.
	x, _ := getJSON[map[string]any](t, base+"/api/explain?url=http://app.test/strip/a")
	if x["router"] != "app@kubernetescrd" || x["forwarded"] != "GET /a" {
		t.Errorf("explain: %v", x)
	}
	x, _ = getJSON[map[string]any](t, base+"/api/explain?url=http://localhost/ping&entrypoint=traefik")
	if x["router"] != "ping@internal" || x["service"] != "ping@internal" {
		t.Errorf("explain /ping: %v", x)
	}
}

// rawGet sends GET target as written and returns the whole answer.
func rawGet(t *testing.T, addr, target string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", target)
	b, _ := io.ReadAll(c)
	return string(b)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
