package engine

import (
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/edgeroute/edgeroute/compile/spec"
)

func TestParseStaticAPI(t *testing.T) {
	s, err := ParseStatic([]string{"--entryPoints.web.address=:1", "--api.insecure"})
	if err != nil {
		t.Fatal(err)
	}
	if a := s.API; a == nil || !a.Insecure || !a.Dashboard || a.BasePath != "/" {
		t.Errorf("api: %+v", a)
	}
	// As in Traefik, the insecure API, ping or the metrics make the
	// traefik entry point when it is missing.
	for _, args := range [][]string{{"--api.insecure"}, {"--ping"}, {"--metrics.prometheus"}} {
		s, err := ParseStatic(append([]string{"--entryPoints.web.address=:1"}, args...))
		if err != nil || s.EntryPoints["traefik"] == nil || s.EntryPoints["traefik"].Address != ":8080" {
			t.Errorf("%v: %v, entry points %v", args, err, s.EntryPoints)
		}
	}
	for _, args := range [][]string{{"--api"}, {"--ping.manualRouting"}, {"--metrics.prometheus.manualRouting"}, {"--ping.entryPoint=web"}} {
		s, err := ParseStatic(append([]string{"--entryPoints.web.address=:1"}, args...))
		if err != nil || s.EntryPoints["traefik"] != nil {
			t.Errorf("%v: %v, entry points %v (no internal router on traefik)", args, err, s.EntryPoints)
		}
	}
	s, _ = ParseStatic([]string{"--entryPoints.web.address=:1", "--api.dashboard=false", "--api.basePath=/traefik", "--api.dashboardName=edge", "--ping.entryPoint=web"})
	if a := s.API; a == nil || a.Insecure || a.Dashboard || a.BasePath != "/traefik" || a.DashboardName != "edge" || !s.Ping || s.PingEntryPoint != "web" {
		t.Errorf("api options: %+v, ping %v %q", a, s.Ping, s.PingEntryPoint)
	}
	for _, bad := range [][]string{{"--api.debug"}, {"--api.basePath=traefik"}, {"--api.nope"}, {"--entryPoints.web.address=:1", "--ping.entryPoint=nope"}} {
		if _, err := ParseStatic(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// TestInternalRouters: the internal provider's routers are compiled into
// their entry point's table with Traefik's priorities (above every user
// router's), routers of an endpoint-only change reuse the tables, and
// the snapshot given to Apply is left as it was.
func TestInternalRouters(t *testing.T) {
	static, err := ParseStatic([]string{"--entryPoints.web.address=127.0.0.1:0", "--entryPoints.traefik.address=127.0.0.1:0", "--api.insecure", "--ping", "--metrics.prometheus"})
	if err != nil {
		t.Fatal(err)
	}
	snap := lbSnap([]spec.Router{{Name: "catchall@kubernetescrd", Rule: "PathPrefix(`/`)", Priority: 1 << 40, Service: "svc"}}, map[string]string{"svc": "http://127.0.0.1:1"})
	rt, problems := Build(static, snap)
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	if len(snap.Routers) != 1 || len(snap.Middlewares) != 0 {
		t.Errorf("the snapshot given was changed: %d routers, %d middlewares", len(snap.Routers), len(snap.Middlewares))
	}
	_, routers := rt.Table("traefik")
	var names []string
	for _, r := range routers {
		names = append(names, r.Name)
	}
	if want := []string{"ping@internal", "prometheus@internal", "api@internal", "dashboard@internal", "catchall@kubernetescrd"}; !slices.Equal(names, want) {
		t.Errorf("traefik's routers %v, want %v", names, want)
	}
	if _, routers := rt.Table("web"); len(routers) != 1 {
		t.Errorf("web: %d routers", len(routers))
	}
	for path, want := range map[string]string{"/ping": "ping@internal", "/metrics": "prometheus@internal", "/api/x": "api@internal", "/x": "dashboard@internal"} {
		x, err := Explain(static, rt, "traefik", []byte("GET "+path+" HTTP/1.1\r\nHost: a\r\n\r\n"), Conn{})
		if err != nil || x.Router == nil || x.Router.Name != want {
			t.Errorf("%s: %v %+v", path, err, x)
		}
	}
	// Routers naming an internal service get it, or Traefik's error.
	snap.Routers = append(snap.Routers, spec.Router{Name: "dash@kubernetescrd", EntryPoints: []string{"web"}, Rule: "Host(`d`)", Service: "dashboard@internal"},
		spec.Router{Name: "nope@kubernetescrd", EntryPoints: []string{"web"}, Rule: "Host(`n`)", Service: "rest@internal"})
	_, problems = Build(static, snap)
	if len(problems) != 1 || !strings.Contains(problems[0].Error(), "router nope@kubernetescrd: unknown internal service rest@internal") {
		t.Errorf("problems: %v", problems)
	}
	s := NewServer(static, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.Apply(snap)
	next := *snap
	next.Endpoints = map[string][]spec.Server{"svc": {{URL: "http://127.0.0.1:2"}}}
	s.Apply(&next)
	if s.Runtime().Compiled {
		t.Error("an endpoint-only change recompiled the tables")
	}
}
