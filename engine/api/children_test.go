package api_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// Child routers are listed as Traefik's API lists them: with their
// parentRefs (dynamic.Router's field), no entry points, a priority
// computed once a parent's table took them, and the tree's errors; the
// parent with no service of its own.
func TestAPIChildRouters(t *testing.T) {
	snap := &spec.Snapshot{
		Routers: []spec.Router{
			{Name: "parent@kubernetescrd", EntryPoints: []string{"web"}, Rule: "Host(`p.test`)"},
			{Name: "kid@kubernetescrd", Rule: "Path(`/kid`)", Service: "s@kubernetescrd", ParentRefs: []string{"parent@kubernetescrd"}},
			{Name: "orphan@kubernetescrd", Rule: "Path(`/o`)", Service: "s@kubernetescrd", ParentRefs: []string{"gone@kubernetescrd"}},
		},
		Services: map[string]*spec.Service{
			"s@kubernetescrd": {Name: "s@kubernetescrd", LoadBalancer: &spec.LoadBalancer{EndpointsKey: "s", Strategy: "wrr", PassHostHeader: true, FlushInterval: 100 * time.Millisecond}},
		},
		Endpoints: map[string][]spec.Server{"s": {{URL: backend(t)}}},
	}
	srv := serve(t, insecureArgs, snap)
	type childRouter struct {
		router
		ParentRefs []string
	}
	routers, _ := getJSON[[]childRouter](t, "http://"+srv.Addr("traefik")+"/api/http/routers?search=%40kubernetescrd")
	byName := map[string]childRouter{}
	for _, r := range routers {
		byName[r.Name] = r
	}
	if r := byName["parent@kubernetescrd"]; r.Status != "enabled" || r.Service != "" || !slices.Equal(r.Using, []string{"web"}) || r.ParentRefs != nil {
		t.Errorf("parent: %+v", r)
	}
	if r := byName["kid@kubernetescrd"]; r.Status != "enabled" || !slices.Equal(r.ParentRefs, []string{"parent@kubernetescrd"}) ||
		r.EntryPoints != nil || r.Using != nil || r.Priority != int64(len("Path(`/kid`)")) || len(r.Error) > 0 {
		t.Errorf("kid: %+v", r)
	}
	if r := byName["orphan@kubernetescrd"]; r.Status != "disabled" || r.Priority != 0 ||
		!slices.Equal(r.Error, []string{`parent router "gone@kubernetescrd" does not exist`, "router is not reachable"}) {
		t.Errorf("orphan: %+v", r)
	}
	a := do(t, "GET", "http://"+srv.Addr("web")+"/kid", "p.test")
	if a.code != 200 || !strings.HasPrefix(a.body, "ok /kid") {
		t.Errorf("GET /kid: %d %q", a.code, a.body)
	}
}
