package translate

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestParentRefsFixtures translates Traefik's eight parent_refs fixtures
// (each route file with parent_refs_services.yml, as Traefik's provider
// test pairs them) and checks what Traefik's own test expects for each
// (pkg/provider/kubernetes/crd/kubernetes_test.go, "IngressRoute with
// single parent ..." to "... parent namespace defaulting to child
// namespace"): router names, rules, entry points, parentRefs (qualified
// with the provider, as Traefik's aggregator does), the child's servers,
// and the IngressRoutes skipped, with Traefik's error. Traefik names a
// route's single Service after the router; edgeroute after the Service
// port (README), so services are compared by their servers.
func TestParentRefsFixtures(t *testing.T) {
	type router struct {
		name, rule string
		eps        []string
		parents    []string
		servers    []string // nil: no service (a parent)
	}
	const crd = "@kubernetescrd"
	for _, tc := range []struct {
		file    string
		opts    Options
		routers []router
		problem string
	}{
		{file: "parent_refs_single_parent_single_route.yml", routers: []router{
			{name: "default-child-single-2bba0a3de1b50b70a519", rule: "Path(`/api`)", parents: []string{"default-parent-single-3c07cfffe8e5f876a01e"},
				servers: []string{"http://10.10.2.1:9000", "http://10.10.2.2:9000"}},
			{name: "default-parent-single-3c07cfffe8e5f876a01e", rule: "Host(`parent.example.com`)", eps: []string{"web"}},
		}},
		{file: "parent_refs_single_parent_multiple_routes.yml", routers: []router{
			{name: "default-child-multi-routes-b0479051e6a353d66211", rule: "Path(`/users`)",
				parents: []string{"default-parent-multi-4aac0d541c2b669a2d5d", "default-parent-multi-0af1ca0a94f5b87a125e"},
				servers: []string{"http://10.10.5.1:9000", "http://10.10.5.2:9000"}},
			{name: "default-parent-multi-0af1ca0a94f5b87a125e", rule: "Host(`api.example.com`) && PathPrefix(`/v2`)", eps: []string{"web"}},
			{name: "default-parent-multi-4aac0d541c2b669a2d5d", rule: "Host(`api.example.com`) && PathPrefix(`/v1`)", eps: []string{"web"}},
		}},
		{file: "parent_refs_multiple_parents.yml", routers: []router{
			{name: "default-child-multi-parents-8013b5025acddd1761d1", rule: "Path(`/shared`)",
				parents: []string{"default-parent-a-629990b524bf9a1a8d27", "default-parent-b-add617f9b95cff009054"},
				servers: []string{"http://10.10.8.1:9000", "http://10.10.8.2:9000"}},
			{name: "default-parent-a-629990b524bf9a1a8d27", rule: "Host(`a.example.com`)", eps: []string{"web"}},
			{name: "default-parent-b-add617f9b95cff009054", rule: "Host(`b.example.com`)", eps: []string{"web"}},
		}},
		{file: "parent_refs_missing_parent.yml", problem: "IngressRoute default/child-missing-parent: parent IngressRoute default/non-existent-parent does not exist"},
		{file: "parent_refs_cross_namespace_allowed.yml", opts: Options{AllowCrossNamespace: true}, routers: []router{
			{name: "ns-a-parent-cross-74575ab54671a3ede28c", rule: "Host(`cross.example.com`)", eps: []string{"web"}},
			{name: "ns-b-child-cross-allowed-0bad04de665623bf2362", rule: "Path(`/cross`)", parents: []string{"ns-a-parent-cross-74575ab54671a3ede28c"},
				servers: []string{"http://10.10.11.1:9000", "http://10.10.11.2:9000"}},
		}},
		{file: "parent_refs_cross_namespace_denied.yml", routers: []router{
			{name: "ns-a-parent-cross-74575ab54671a3ede28c", rule: "Host(`cross.example.com`)", eps: []string{"web"}},
		}, problem: "IngressRoute ns-b/child-cross-denied: cross-namespace reference to parent IngressRoute ns-a/parent-cross not allowed"},
		{file: "parent_refs_default_namespace.yml", routers: []router{
			{name: "default-child-same-9234eba1edcfbd8a7723", rule: "Path(`/same`)", parents: []string{"default-parent-default-9b8ab283eeed3eb66561"},
				servers: []string{"http://10.10.14.1:9000", "http://10.10.14.2:9000"}},
			{name: "default-parent-default-9b8ab283eeed3eb66561", rule: "Host(`default.example.com`)", eps: []string{"web"}},
		}},
		// The services file alone: no routers, no problem.
		{file: ""},
	} {
		files := []string{"parent_refs_services.yml"}
		if tc.file != "" {
			files = append(files, tc.file)
		}
		snap := Snapshot(load(t, files...), tc.opts)
		var got []router
		for _, r := range snap.Routers {
			g := router{name: strings.TrimSuffix(r.Name, crd), rule: r.Rule, eps: r.EntryPoints}
			for _, p := range r.ParentRefs {
				if !strings.HasSuffix(p, crd) {
					t.Errorf("%s: parentRef %q is not qualified", tc.file, p)
				}
				g.parents = append(g.parents, strings.TrimSuffix(p, crd))
			}
			if r.Service != "" {
				lb := snap.Services[r.Service].LoadBalancer
				g.servers = urls(snap.Endpoints[lb.EndpointsKey])
				if !lb.PassHostHeader || lb.Strategy != "wrr" {
					t.Errorf("%s: %s: service %+v", tc.file, r.Name, lb)
				}
			}
			if r.Priority != 0 || len(r.Middlewares) > 0 || r.TLS != nil || r.Observability != nil {
				t.Errorf("%s: router %+v", tc.file, r)
			}
			got = append(got, g)
		}
		if !reflect.DeepEqual(got, tc.routers) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.file, got, tc.routers)
		}
		var msgs []string
		for _, p := range snap.Problems {
			msgs = append(msgs, p.Error())
		}
		if tc.problem == "" && len(msgs) > 0 || tc.problem != "" && !slices.ContainsFunc(msgs, func(m string) bool { return strings.Contains(m, tc.problem) }) {
			t.Errorf("%s: problems %q, want %q", tc.file, msgs, tc.problem)
		}
	}
}

// A parent's routers are named from every route, valid or not, and from
// the parent's name (never its generateName), as Traefik's
// resolveParentRouterNames does; the parent may be of another ingress
// class. A child's own routes keep their middlewares, TLS and
// observability, which the engine checks.
func TestParentRefsNames(t *testing.T) {
	objs := load(t, "parent_refs_services.yml", "parent_refs_single_parent_single_route.yml")
	parent := *objs.IngressRoutes[0]
	if parent.Name != "parent-single" {
		t.Fatalf("first IngressRoute %s", parent.Name)
	}
	other := "other"
	parent.Spec.IngressClassName = &other
	empty := parent.Spec.Routes[0]
	empty.Match = ""
	parent.Spec.Routes = append(slices.Clone(parent.Spec.Routes), empty, parent.Spec.Routes[0])
	objs.IngressRoutes[0] = &parent
	snap := Snapshot(objs, Options{})
	if len(snap.Routers) != 1 {
		t.Fatalf("routers %+v", snap.Routers)
	}
	want := []string{routerName("default", "parent-single", "Host(`parent.example.com`)") + ProviderSuffix,
		routerName("default", "parent-single", "") + ProviderSuffix,
		routerName("default", "parent-single", "Host(`parent.example.com`)") + ProviderSuffix}
	if got := snap.Routers[0].ParentRefs; !slices.Equal(got, want) {
		t.Errorf("parentRefs %q, want %q", got, want)
	}
	if want[0] != "default-parent-single-3c07cfffe8e5f876a01e@kubernetescrd" {
		t.Errorf("name %s", want[0])
	}
}
