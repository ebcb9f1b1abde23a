package engine

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// childSnap is a multi-layer configuration: two parents (p.test, whose
// middleware strips /api, and q.test, whose middleware adds X-Tier),
// children under them (one shared by both, one a parent itself), and a
// catch-all root that a parent's unmatched requests must not fall through
// to.
func childSnap(a, b string) *spec.Snapshot {
	snap := withMiddlewares(lbSnap([]spec.Router{
		{Name: "p@kubernetescrd", Rule: "Host(`p.test`)", Middlewares: []string{"strip-api@kubernetescrd"}},
		{Name: "q@kubernetescrd", Rule: "Host(`q.test`)", Middlewares: []string{"tier@kubernetescrd"}},
		{Name: "users@kubernetescrd", Rule: "Path(`/users`)", Service: "a", ParentRefs: []string{"p@kubernetescrd"}},
		{Name: "orders@kubernetescrd", Rule: "Path(`/orders`)", Service: "b", Middlewares: []string{"v2@kubernetescrd"}, ParentRefs: []string{"p@kubernetescrd"}},
		{Name: "shared@kubernetescrd", Rule: "Path(`/shared`)", Service: "a", ParentRefs: []string{"p@kubernetescrd", "q@kubernetescrd"}},
		{Name: "gold@kubernetescrd", Rule: "Header(`X-Tier`, `gold`) && PathPrefix(`/t`)", Service: "b", ParentRefs: []string{"q@kubernetescrd"}},
		{Name: "deep@kubernetescrd", Rule: "PathPrefix(`/deep`)", Middlewares: []string{"strip-deep@kubernetescrd"}, ParentRefs: []string{"p@kubernetescrd"}},
		{Name: "deep-x@kubernetescrd", Rule: "Path(`/x`)", Service: "a", ParentRefs: []string{"deep@kubernetescrd"}},
		{Name: "catchall@kubernetescrd", Rule: "PathPrefix(`/`)", Priority: -1, Service: "b"},
	}, map[string]string{"a": a, "b": b}),
		mwDef("strip-api@kubernetescrd", "stripPrefix", `{"prefixes":["/api"]}`),
		mwDef("strip-deep@kubernetescrd", "stripPrefix", `{"prefixes":["/deep"]}`),
		mwDef("tier@kubernetescrd", "headers", `{"customRequestHeaders":{"X-Tier":"gold"}}`),
		mwDef("v2@kubernetescrd", "addPrefix", `{"prefix":"/v2"}`),
	)
	return snap
}

// A parent router's request goes through its middlewares, then its
// children's own table, matched on the request as the middlewares left
// it; the child runs its own middlewares and service. No matching child
// is Go's 404 (no fall-through to other roots), as in Traefik.
func TestChildRouters(t *testing.T) {
	a, b := backend(t, "a"), backend(t, "b")
	_, base := startServer(t, childSnap(a, b))
	for _, c := range []struct {
		host, path string
		hdr        []string
		code       int
		prefix     string
	}{
		{"p.test", "/api/users?x=1", nil, 200, "a GET /users?x=1 "},   // the parent's stripPrefix, then the child's Path
		{"p.test", "/users", nil, 200, "a GET /users "},               // nothing to strip
		{"p.test", "/api/orders", nil, 200, "b GET /v2/orders "},      // the parent's middleware, then the child's
		{"p.test", "/api/shared", nil, 200, "a GET /shared "},         // a child of two parents, through p
		{"q.test", "/shared", nil, 200, "a GET /shared "},             // and through q
		{"q.test", "/t/1", nil, 200, "b GET /t/1 "},                   // matched on the header q's middleware added
		{"p.test", "/t/1", []string{"X-Tier: gold"}, 404, "404 page"}, // gold is not p's child
		{"p.test", "/api/deep/x", nil, 200, "a GET /x "},              // two layers, each stripping
		{"p.test", "/api/deep/y", nil, 404, "404 page not found\n"},   // deep has no child for /y
		{"p.test", "/api/none", nil, 404, "404 page not found\n"},     // p has no child for /none
		{"q.test", "/users", nil, 404, "404 page not found\n"},        // users is not q's child
		{"other.test", "/users", nil, 200, "b GET /users "},           // children are on no entry point
	} {
		code, body := get(t, base+c.path, c.host, c.hdr...)
		if code != c.code || !strings.HasPrefix(body, c.prefix) {
			t.Errorf("%s%s %v: %d %q, want %d %q", c.host, c.path, c.hdr, code, body, c.code, c.prefix)
		}
	}
}

// The tree's checks, as Traefik's ParseRouterTree words them (its
// TestManager_ComputeMultiLayerRouting, with its router names).
func TestParseRouterTree(t *testing.T) {
	type r = spec.Router
	for _, tc := range []struct {
		desc     string
		routers  []r
		children map[string][]string
		errors   map[string][]string // warnings suffixed " (warning)"
	}{
		{desc: "simple router", routers: []r{{Name: "A", Service: "A-service"}}},
		{desc: "two children", routers: []r{{Name: "A"}, {Name: "B1", ParentRefs: []string{"A"}, Service: "B1-service"}, {Name: "B2", ParentRefs: []string{"A"}, Service: "B2-service"}},
			children: map[string][]string{"A": {"B1", "B2"}}},
		{desc: "non-root with TLS", routers: []r{{Name: "A"}, {Name: "B", ParentRefs: []string{"A"}, Service: "B-service", TLS: &spec.RouterTLS{}}},
			children: map[string][]string{"A": {"B"}}, errors: map[string][]string{"B": {"non-root router cannot have TLS configuration"}}},
		{desc: "non-root with observability", routers: []r{{Name: "A"}, {Name: "B", ParentRefs: []string{"A"}, Service: "B-service", Observability: &spec.Observability{}}},
			children: map[string][]string{"A": {"B"}}, errors: map[string][]string{"B": {"non-root router cannot have Observability configuration"}}},
		{desc: "non-root with entry points", routers: []r{{Name: "A"}, {Name: "B", ParentRefs: []string{"A"}, Service: "B-service", EntryPoints: []string{"web"}}},
			children: map[string][]string{"A": {"B"}}, errors: map[string][]string{"B": {"non-root router cannot have Entrypoints configuration"}}},
		{desc: "non-existing parent", routers: []r{{Name: "B", ParentRefs: []string{"A"}, Service: "B-service"}},
			errors: map[string][]string{"B": {`parent router "A" does not exist`, "router is not reachable"}}},
		{desc: "dead end", routers: []r{{Name: "A"}}, errors: map[string][]string{"A": {"router has no service and no child routers"}}},
		{desc: "not reachable", routers: []r{{Name: "A", ParentRefs: []string{"B"}}, {Name: "B", ParentRefs: []string{"A"}}},
			children: map[string][]string{"A": {"B"}, "B": {"A"}},
			errors:   map[string][]string{"A": {"router is not reachable"}, "B": {"router is not reachable"}}},
		{desc: "a cycle makes a dead end", routers: []r{{Name: "A"}, {Name: "B", ParentRefs: []string{"A", "D"}}, {Name: "C", ParentRefs: []string{"B"}}, {Name: "D", ParentRefs: []string{"C"}}},
			children: map[string][]string{"A": {"B"}, "B": {"C"}, "C": {"D"}},
			errors:   map[string][]string{"D": {"cyclic reference detected in router tree: B -> C -> D -> B (warning)", "router has no service and no child routers"}}},
		{desc: "a cycle with another child is a warning", routers: []r{{Name: "A"}, {Name: "B", ParentRefs: []string{"A", "D"}}, {Name: "C", ParentRefs: []string{"B"}}, {Name: "D", ParentRefs: []string{"C"}},
			{Name: "E", ParentRefs: []string{"D"}, Service: "E-service"}},
			children: map[string][]string{"A": {"B"}, "B": {"C"}, "C": {"D"}, "D": {"E"}},
			errors:   map[string][]string{"D": {"cyclic reference detected in router tree: B -> C -> D -> B (warning)"}}},
		{desc: "both a service and children", routers: []r{{Name: "A", Service: "s"}, {Name: "B", ParentRefs: []string{"A"}, Service: "s"}},
			children: map[string][]string{"A": {"B"}}, errors: map[string][]string{"A": {"router has both a service and is referenced as a parent by other routers"}}},
	} {
		tree := parseRouterTree(tc.routers)
		children := map[string][]string{}
		for i, kids := range tree.children {
			for _, k := range kids {
				children[tc.routers[i].Name] = append(children[tc.routers[i].Name], tc.routers[k].Name)
			}
		}
		errs := map[string][]string{}
		for _, p := range tree.problems {
			name, what, _ := strings.Cut(strings.TrimPrefix(p.Err.Error(), "router "), ": ")
			if p.Warning {
				what += " (warning)"
			}
			errs[name] = append(errs[name], what)
		}
		if tc.children == nil {
			tc.children = map[string][]string{}
		}
		if tc.errors == nil {
			tc.errors = map[string][]string{}
		}
		if !equalLists(children, tc.children) || !equalLists(errs, tc.errors) {
			t.Errorf("%s:\nchildren %v, want %v\nerrors %q, want %q", tc.desc, children, tc.children, errs, tc.errors)
		}
	}
}

func equalLists(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// Problems of a tree reach Apply's problems (check, the API) with
// Traefik's words, and the routers concerned are not served: a child in
// error is left out of its parent's table, a parent no child could enter
// is left out of the entry point's.
func TestChildRouterProblems(t *testing.T) {
	a := backend(t, "a")
	snap := lbSnap([]spec.Router{
		// A parent whose children are all refused.
		{Name: "lonely", Rule: "Host(`lonely.test`)"},
		{Name: "tls-kid", Rule: "Path(`/a`)", Service: "s", TLS: &spec.RouterTLS{}, ParentRefs: []string{"lonely"}},
		{Name: "ep-kid", Rule: "Path(`/b`)", Service: "s", EntryPoints: []string{"web"}, ParentRefs: []string{"lonely"}},
		// A child of two parents, one missing: refused everywhere.
		{Name: "half", Rule: "Host(`half.test`)"},
		{Name: "half-kid", Rule: "Path(`/a`)", Service: "s", ParentRefs: []string{"half", "gone"}},
		{Name: "half-ok", Rule: "Path(`/ok`)", Service: "s", ParentRefs: []string{"half"}},
		// A bad rule and a missing middleware leave only the good child.
		{Name: "mixed", Rule: "Host(`mixed.test`)"},
		{Name: "bad-rule", Rule: "Pth(`/x`)", Service: "s", ParentRefs: []string{"mixed"}},
		{Name: "bad-mw", Rule: "Path(`/y`)", Service: "s", Middlewares: []string{"nope"}, ParentRefs: []string{"mixed"}},
		{Name: "good", Rule: "Path(`/z`)", Service: "s", ParentRefs: []string{"mixed"}},
		// A cycle below a root: the whole tree is refused, as in Traefik.
		{Name: "A", Rule: "Host(`cycle.test`)"},
		{Name: "B", Rule: "PathPrefix(`/`)", ParentRefs: []string{"A", "D"}},
		{Name: "C", Rule: "PathPrefix(`/`)", ParentRefs: []string{"B"}},
		{Name: "D", Rule: "PathPrefix(`/`)", ParentRefs: []string{"C"}},
		{Name: "E", Rule: "PathPrefix(`/`)", Service: "s", ParentRefs: []string{"D"}},
		// A root with a service and children: reported, and routed to
		// its children (Traefik builds the children's table first).
		{Name: "both", Rule: "Host(`both.test`)", Service: "s"},
		{Name: "both-kid", Rule: "Path(`/kid`)", Service: "s", ParentRefs: []string{"both"}},
		// A root with neither.
		{Name: "empty", Rule: "Host(`empty.test`)"},
	}, map[string]string{"s": a})
	static, err := ParseStatic([]string{"--entryPoints.web.address=127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(static, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var msgs []string
	for _, p := range s.Apply(snap) {
		msgs = append(msgs, p.Error())
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{
		"router tls-kid: non-root router cannot have TLS configuration",
		"router ep-kid: non-root router cannot have Entrypoints configuration",
		"router lonely: building child routers muxer: no child routers could be added to muxer (2 skipped)",
		`router half-kid: parent router "gone" does not exist`,
		"router bad-rule: invalid rule",
		"router bad-mw: middleware nope does not exist",
		"router D: cyclic reference detected in router tree: B -> C -> D -> B",
		"router C: building child routers muxer: no child routers could be added to muxer (1 skipped)",
		"router A: building child routers muxer: no child routers could be added to muxer (1 skipped)",
		"router both: router has both a service and is referenced as a parent by other routers",
		"router empty: router has no service and no child routers",
		"router empty: router must have either a service or child routers",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("problems lack %q:\n%s", want, all)
		}
	}
	base := serveApplied(t, s)
	for _, c := range []struct {
		host, path string
		code       int
	}{
		{"lonely.test", "/a", 404}, {"half.test", "/a", 404}, {"half.test", "/ok", 200},
		{"mixed.test", "/x", 404}, {"mixed.test", "/y", 404}, {"mixed.test", "/z", 200},
		{"cycle.test", "/", 404}, {"both.test", "/kid", 200}, {"both.test", "/", 404}, {"empty.test", "/", 404},
	} {
		if code, body := get(t, base+c.path, c.host); code != c.code {
			t.Errorf("%s%s: %d %q, want %d", c.host, c.path, code, body, c.code)
		}
	}
}

// explain takes the same parent and child decisions as serve (one
// decision path), and shows each layer: the children's verdicts, the path
// they were matched on, and each child's middlewares.
func TestExplainChildRouters(t *testing.T) {
	a, b := backend(t, "a"), backend(t, "b")
	snap := childSnap(a, b)
	_, base := startServer(t, snap)
	static, err := ParseStatic([]string{"--entryPoints.web.address=127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	rt, probs := Build(static, snap)
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	services := map[string]string{"a": "a", "b": "b"}
	for _, c := range []struct{ host, path, hdr string }{
		{"p.test", "/api/users", ""}, {"p.test", "/api/orders", ""}, {"p.test", "/api/shared", ""}, {"q.test", "/shared", ""},
		{"q.test", "/t/1", ""}, {"p.test", "/t/1", "X-Tier: gold"}, {"p.test", "/api/deep/x", ""}, {"p.test", "/api/deep/y", ""},
		{"p.test", "/api/none", ""}, {"other.test", "/users", ""}, {"p.test", "/api/%2e%2e/users", ""},
	} {
		raw := "GET " + c.path + " HTTP/1.1\r\nHost: " + c.host + "\r\n"
		var hdr []string
		if c.hdr != "" {
			raw += c.hdr + "\r\n"
			hdr = append(hdr, c.hdr)
		}
		x, err := Explain(static, rt, "web", []byte(raw+"\r\n"), Conn{ClientIP: netip.MustParseAddr("127.0.0.1")})
		if err != nil {
			t.Fatal(err)
		}
		code, body := get(t, base+c.path, c.host, hdr...)
		served := "404"
		if code == 200 {
			served, _, _ = strings.Cut(body, " ")
		}
		explained := "404"
		if r, status := x.Final(); r != nil {
			explained = services[r.Service]
		} else if status != 404 {
			explained = fmt.Sprint(status)
		}
		if served != explained {
			t.Errorf("%s%s: served %s (%d), explained %s: %+v", c.host, c.path, served, code, explained, x.Layers)
		}
	}
	// The layers of a two-level request.
	x, err := Explain(static, rt, "web", []byte("GET /api/deep/x HTTP/1.1\r\nHost: p.test\r\n\r\n"), Conn{ClientIP: netip.MustParseAddr("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	if x.Router.Name != "p@kubernetescrd" || len(x.Layers) != 2 || x.Layers[0].Router.Name != "deep@kubernetescrd" || x.Layers[0].Path != "/deep/x" ||
		x.Layers[1].Router.Name != "deep-x@kubernetescrd" || x.Layers[1].Path != "/x" || x.Forwarded != "GET /x" {
		js, _ := json.MarshalIndent(x, "", " ")
		t.Fatalf("explanation: %s", js)
	}
	if len(x.Steps) != 1 || !slices.Contains(x.Steps[0].Effects, "path /api/deep/x -> /deep/x") ||
		len(x.Layers[0].Steps) != 1 || !slices.Contains(x.Layers[0].Steps[0].Effects, "path /deep/x -> /x") {
		t.Errorf("steps: %+v, layer steps %+v", x.Steps, x.Layers[0].Steps)
	}
	var matched []string
	for _, v := range x.Layers[0].Routes {
		if v.Matched {
			matched = append(matched, v.Name)
		}
	}
	if len(x.Layers[0].Routes) != 4 || !slices.Equal(matched, []string{"deep@kubernetescrd"}) {
		t.Errorf("p's children verdicts: %+v", x.Layers[0].Routes)
	}
	x, _ = Explain(static, rt, "web", []byte("GET /api/none HTTP/1.1\r\nHost: p.test\r\n\r\n"), Conn{ClientIP: netip.MustParseAddr("127.0.0.1")})
	if r, status := x.Final(); r != nil || status != 404 || x.Layers[0].Reason != reasonNoChild || x.Forwarded != "" {
		t.Errorf("no child: %v %d %+v forwarded %q", r, status, x.Layers, x.Forwarded)
	}
}

// Metrics and the access log see every layer, as Traefik's: router
// metrics for the parent (service "NAME-muxer") and the child, service
// metrics for the child's service, and the access log's RouterName
// "parent -> child".
func TestChildRouterObservability(t *testing.T) {
	a, b := backend(t, "a"), backend(t, "b")
	path := filepath.Join(t.TempDir(), "access.json")
	s, base := startServer(t, childSnap(a, b), "--entryPoints.traefik.address=127.0.0.1:0", "--metrics.prometheus",
		"--metrics.prometheus.addRoutersLabels=true", "--accessLog.filePath="+path, "--accessLog.format=json")
	for range 3 {
		if code, _ := get(t, base+"/api/deep/x", "p.test"); code != 200 {
			t.Fatalf("deep: %d", code)
		}
	}
	if code, _ := get(t, base+"/api/none", "p.test"); code != 404 {
		t.Fatalf("none: %d", code)
	}
	fams := scrapeMetrics(t, "http://"+s.Addr("traefik")+"/metrics")
	rtr := func(code, router, service string) map[string]string {
		return map[string]string{"code": code, "method": "GET", "protocol": "http", "router": router, "service": service}
	}
	for _, c := range []struct {
		labels map[string]string
		want   float64
	}{
		{rtr("200", "p@kubernetescrd", "p@kubernetescrd-muxer"), 3},
		{rtr("404", "p@kubernetescrd", "p@kubernetescrd-muxer"), 1},
		{rtr("200", "deep@kubernetescrd", "deep@kubernetescrd-muxer"), 3},
		{rtr("200", "deep-x@kubernetescrd", "a"), 3},
	} {
		if got := value(fams, "traefik_router_requests_total", c.labels); got != c.want {
			t.Errorf("traefik_router_requests_total%v = %v, want %v", c.labels, got, c.want)
		}
	}
	if got := value(fams, "traefik_service_requests_total", map[string]string{"code": "200", "method": "GET", "protocol": "http", "service": "a"}); got != 3 {
		t.Errorf("service a: %v, want 3", got)
	}
	lines := readLines(t, path, 4)
	if len(lines) != 4 {
		t.Fatalf("lines: %q", lines)
	}
	for i, want := range []struct{ router, service string }{
		{"p@kubernetescrd -> deep@kubernetescrd -> deep-x@kubernetescrd", "a"}, {}, {},
		{"p@kubernetescrd", ""},
	} {
		if i == 1 || i == 2 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &m); err != nil {
			t.Fatal(err)
		}
		if m["RouterName"] != want.router || want.service != "" && m["ServiceName"] != want.service {
			t.Errorf("line %d: RouterName %v ServiceName %v, want %q %q", i, m["RouterName"], m["ServiceName"], want.router, want.service)
		}
	}
}
