package translate

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/k8swatch/manifest"
)

const sfx = ProviderSuffix

// kindOf is a service without its reference, for comparisons.
func kindOf(s *spec.Service) spec.Service {
	if s == nil {
		return spec.Service{}
	}
	c := *s
	c.Ref = spec.Ref{}
	return c
}

func problemText(snap *spec.Snapshot) string {
	var msgs []string
	for _, p := range snap.Problems {
		msgs = append(msgs, p.Error())
	}
	return strings.Join(msgs, "\n")
}

// TestTraefikServiceFixtures: the fixtures of Traefik's corpus that use
// mirroring, failover and highestRandomWeight translate to what Traefik's
// provider tests expect for them (kubernetes_test.go), with Traefik's
// defaults applied (mirrorBody true, maxBodySize and
// maxRequestBodyBytes -1, weights 1).
func TestTraefikServiceFixtures(t *testing.T) {
	type want struct {
		router   string // the router's service
		services map[string]spec.Service
		servers  map[string][]string
	}
	w1 := func(names ...string) []spec.WeightedService {
		var out []spec.WeightedService
		for _, n := range names {
			out = append(out, spec.WeightedService{Name: n + sfx, Weight: 1})
		}
		return out
	}
	mirroring := func(main string, mirrors ...spec.Mirror) *spec.Mirroring {
		for i := range mirrors {
			mirrors[i].Name += sfx
		}
		return &spec.Mirroring{Service: main + sfx, Mirrors: mirrors, MirrorBody: true, MaxBodySize: -1}
	}
	for _, tc := range []struct {
		files []string
		opts  Options
		want  want
	}{
		{[]string{"with_mirroring.yml"}, Options{}, want{
			router: "default-mirror1" + sfx,
			services: map[string]spec.Service{
				"default-mirror1" + sfx: {Name: "default-mirror1" + sfx, Mirroring: mirroring("default-whoami5-8080", spec.Mirror{Name: "default-whoami4-8080", Percent: 50})},
			},
			servers: map[string][]string{"default-whoami4-8080" + sfx: {"http://10.10.0.1:8080", "http://10.10.0.2:8080"},
				"default-whoami5-8080" + sfx: {"http://10.10.0.3:8080", "http://10.10.0.4:8080"}},
		}},
		{[]string{"with_mirroring2.yml"}, Options{}, want{
			router: "default-mirror1" + sfx,
			services: map[string]spec.Service{
				"default-mirror1" + sfx: {Name: "default-mirror1" + sfx, Mirroring: mirroring("default-wrr1", spec.Mirror{Name: "default-wrr2", Percent: 30})},
				"default-wrr1" + sfx:    {Name: "default-wrr1" + sfx, Weighted: &spec.Weighted{Services: w1("default-whoami4-8080")}},
				"default-wrr2" + sfx:    {Name: "default-wrr2" + sfx, Weighted: &spec.Weighted{Services: w1("default-whoami5-8080")}},
			},
		}},
		{[]string{"with_highest_random_weight.yml"}, Options{}, want{
			router: "default-hrw1" + sfx,
			services: map[string]spec.Service{
				"default-hrw1" + sfx: {Name: "default-hrw1" + sfx, HighestRandomWeight: &spec.HighestRandomWeight{Services: []spec.WeightedService{
					{Name: "default-whoami1-8080" + sfx, Weight: 10}, {Name: "default-whoami2-8080" + sfx, Weight: 20}}}},
			},
			servers: map[string][]string{"default-whoami2-8080" + sfx: {"http://10.10.0.3:8080", "http://10.10.0.4:8080"}},
		}},
		{[]string{"with_failover.yml"}, Options{}, want{
			router: "default-failover1" + sfx,
			services: map[string]spec.Service{
				"default-failover1" + sfx: {Name: "default-failover1" + sfx, Failover: &spec.Failover{Service: "default-whoami5-8080" + sfx,
					Fallback: "default-whoami4-8080" + sfx, Errors: &spec.FailoverErrors{MaxRequestBodyBytes: -1}}},
			},
		}},
		{[]string{"with_failover2.yml"}, Options{}, want{
			router: "default-failover1" + sfx,
			services: map[string]spec.Service{
				"default-failover1" + sfx: {Name: "default-failover1" + sfx, Failover: &spec.Failover{Service: "default-wrr1" + sfx,
					Fallback: "default-wrr2" + sfx, Errors: &spec.FailoverErrors{MaxRequestBodyBytes: -1}}},
				"default-wrr2" + sfx: {Name: "default-wrr2" + sfx, Weighted: &spec.Weighted{Services: w1("default-whoami5-8080")}},
			},
		}},
		{[]string{"with_failover_errors.yml"}, Options{}, want{
			router: "default-failover1" + sfx,
			services: map[string]spec.Service{
				"default-failover1" + sfx: {Name: "default-failover1" + sfx, Failover: &spec.Failover{Service: "default-whoami5-8080" + sfx,
					Fallback: "default-whoami4-8080" + sfx, Errors: &spec.FailoverErrors{Status: []string{"500-504", "404"}, MaxRequestBodyBytes: 1048576}}},
			},
		}},
		{[]string{"with_services_lb3.yml"}, Options{}, want{
			router: "default-wrr1" + sfx,
			services: map[string]spec.Service{
				"default-wrr1" + sfx:    {Name: "default-wrr1" + sfx, Weighted: &spec.Weighted{Services: w1("default-wrr2", "default-whoami5-8080", "default-mirror1")}},
				"default-wrr2" + sfx:    {Name: "default-wrr2" + sfx, Weighted: &spec.Weighted{Services: w1("default-whoami5-8080")}},
				"default-mirror1" + sfx: {Name: "default-mirror1" + sfx, Mirroring: mirroring("default-whoami5-8080", spec.Mirror{Name: "default-whoami4-8080", Percent: 50})},
			},
		}},
		{[]string{"with_namespaces.yml"}, Options{AllowCrossNamespace: true}, want{
			router: "default-test-route-77c62dfe9517144aeeaa" + sfx,
			services: map[string]spec.Service{
				"default-test-route-77c62dfe9517144aeeaa" + sfx: {Name: "default-test-route-77c62dfe9517144aeeaa" + sfx,
					Weighted: &spec.Weighted{Services: w1("baz-whoami6-8080", "foo-wrr1", "foo-mirror2", "foo-mirror3", "foo-mirror4")}},
				"foo-wrr1" + sfx: {Name: "foo-wrr1" + sfx, Weighted: &spec.Weighted{Services: w1("foo-whoami4-8080", "baz-whoami6-8080", "foo-mirror1", "bar-wrr2")}},
				"foo-mirror1" + sfx: {Name: "foo-mirror1" + sfx, Mirroring: mirroring("foo-whoami5-8080",
					spec.Mirror{Name: "foo-whoami4-8080"}, spec.Mirror{Name: "baz-whoami6-8080"}, spec.Mirror{Name: "bar-mirrored"})},
				"bar-mirrored" + sfx: {Name: "bar-mirrored" + sfx, Mirroring: mirroring("baz-whoami6-8080", spec.Mirror{Name: "foo-whoami4-8080", Percent: 50})},
				"foo-mirror3" + sfx: {Name: "foo-mirror3" + sfx, Mirroring: mirroring("foo-wrr1",
					spec.Mirror{Name: "foo-whoami4-8080"}, spec.Mirror{Name: "baz-whoami6-8080"}, spec.Mirror{Name: "bar-mirrored"}, spec.Mirror{Name: "foo-wrr1"})},
				"foo-mirror4" + sfx: {Name: "foo-mirror4" + sfx, Mirroring: mirroring("foo-wrr1",
					spec.Mirror{Name: "foo-whoami4-8080"}, spec.Mirror{Name: "baz-whoami6-8080"}, spec.Mirror{Name: "bar-mirrored"}, spec.Mirror{Name: "foo-wrr1"})},
				"bar-wrr2" + sfx: {Name: "bar-wrr2" + sfx, Weighted: &spec.Weighted{Services: w1("foo-whoami5-8080")}},
			},
			servers: map[string][]string{"baz-whoami6-8080" + sfx: {"http://10.10.0.5:8080", "http://10.10.0.6:8080"}},
		}},
		{[]string{"services.yml", "with_empty_services_ts.yml"}, Options{AllowEmptyServices: true}, want{
			router: "default-test-route-6b204d94623b3df4370c" + sfx,
			services: map[string]spec.Service{
				"default-test-mirror" + sfx: {Name: "default-test-mirror" + sfx, Mirroring: mirroring("default-whoami-without-endpointslice-endpoints-80",
					spec.Mirror{Name: "default-whoami-without-endpointslice-endpoints-80"}, spec.Mirror{Name: "default-test-weighted"})},
			},
			servers: map[string][]string{"default-whoami-without-endpointslice-endpoints-80" + sfx: nil},
		}},
	} {
		name := strings.Join(tc.files, "+")
		snap := Snapshot(load(t, tc.files...), tc.opts)
		if len(snap.Problems) > 0 || len(snap.Routers) != 1 {
			t.Errorf("%s: routers %+v, problems:\n%s", name, snap.Routers, problemText(snap))
			continue
		}
		if got := snap.Routers[0].Service; got != tc.want.router {
			t.Errorf("%s: router service %q, want %q", name, got, tc.want.router)
		}
		for n, want := range tc.want.services {
			if got := kindOf(snap.Services[n]); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: service %s:\n got %+v\nwant %+v", name, n, got, want)
			}
		}
		for n, want := range tc.want.servers {
			if got := urls(snap.Endpoints[n]); !slices.Equal(got, want) {
				t.Errorf("%s: servers of %s: %v, want %v", name, n, got, want)
			}
		}
		// Every service a composition names exists in the snapshot.
		for n, s := range snap.Services {
			var refs []string
			switch {
			case s.Mirroring != nil:
				refs = append(refs, s.Mirroring.Service)
				for _, m := range s.Mirroring.Mirrors {
					refs = append(refs, m.Name)
				}
			case s.Failover != nil:
				refs = append(refs, s.Failover.Service, s.Failover.Fallback)
			case s.HighestRandomWeight != nil:
				for _, c := range s.HighestRandomWeight.Services {
					refs = append(refs, c.Name)
				}
			case s.Weighted != nil:
				for _, c := range s.Weighted.Services {
					refs = append(refs, c.Name)
				}
			}
			for _, r := range refs {
				if snap.Services[r] == nil {
					t.Errorf("%s: %s names %s, which is not in the snapshot", name, n, r)
				}
			}
		}
	}

	// Refused references skip the route, with the reason.
	for _, tc := range []struct {
		files   []string
		opts    Options
		problem string
	}{
		{[]string{"with_namespaces.yml"}, Options{}, "service baz/whoami6 not in the parent resource namespace default (allowCrossNamespace is off)"},
		{[]string{"services.yml", "with_empty_services_ts.yml"}, Options{}, "TraefikService default/test-weighted: no servers found for default/whoami-without-endpointslice-endpoints"},
		{[]string{"with_service_cross_provider.yml"}, Options{AllowCrossNamespace: true}, `TraefikService foo/mirror-cp: service "external-main@file": cross-provider references are not supported by edgeroute`},
		{[]string{"services.yml", "with_cross_namespace.yml"}, Options{}, "service cross-ns/whoami-svc not in the parent resource namespace default"},
	} {
		snap := Snapshot(load(t, tc.files...), tc.opts)
		if all := problemText(snap); !strings.Contains(all, tc.problem) {
			t.Errorf("%v %+v: problems\n%s\nwant %q", tc.files, tc.opts, all, tc.problem)
		}
	}
	// The mirroring TraefikServices of with_cross_namespace.yml, allowed.
	snap := Snapshot(load(t, "services.yml", "with_cross_namespace.yml"), Options{AllowCrossNamespace: true})
	if got, want := kindOf(snap.Services["default-tr-svc-mirror1"+sfx]).Mirroring, mirroring("default-whoami-80", spec.Mirror{Name: "cross-ns-whoami-svc-80", Percent: 20}); !reflect.DeepEqual(got, want) {
		t.Errorf("with_cross_namespace.yml mirror1: %+v, want %+v", got, want)
	}
}

// decodeTS translates manifests given inline, with services.yml's Services.
func decodeTS(t *testing.T, yaml string, opts Options) *spec.Snapshot {
	t.Helper()
	objs, probs := manifest.Decode("test.yaml", []byte(yaml))
	for _, p := range probs {
		if p.Severity == manifest.Error {
			t.Fatalf("decoding: %v", p)
		}
	}
	base := load(t, "services.yml")
	in := FromManifest(objs)
	in.Services, in.EndpointSlices = base.Services, base.EndpointSlices
	return Snapshot(in, opts)
}

const tsRoute = `
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: r, namespace: default}
spec:
  routes:
  - match: Host(` + "`a.test`" + `)
    services:
    - {name: %s, kind: TraefikService}
---
`

func ts(name, spec string) string {
	return "apiVersion: traefik.io/v1alpha1\nkind: TraefikService\nmetadata: {name: " + name + ", namespace: default}\nspec:\n" + spec + "\n---\n"
}

// TestTraefikServiceCycles: a TraefikService that refers to itself, through
// any chain of weighted, mirroring, failover and highestRandomWeight
// references, is a problem that names the chain; the route is skipped;
// the same service reached twice without a cycle is fine.
func TestTraefikServiceCycles(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, problem string
	}{
		{"self", strings.Replace(tsRoute, "%s", "a", 1) + ts("a", "  weighted:\n    services: [{name: a, kind: TraefikService}]"),
			"could not instantiate service default-a@kubernetescrd: recursion detected in service:default-a@kubernetescrd->service:default-a@kubernetescrd"},
		{"two", strings.Replace(tsRoute, "%s", "a", 1) +
			ts("a", "  mirroring:\n    name: whoami\n    port: 80\n    mirrors: [{name: b, kind: TraefikService, percent: 10}]") +
			ts("b", "  highestRandomWeight:\n    services: [{name: whoami, port: 80}, {name: a, kind: TraefikService}]"),
			"recursion detected in service:default-a@kubernetescrd->service:default-b@kubernetescrd->service:default-a@kubernetescrd"},
		{"through failover, not at the top", strings.Replace(tsRoute, "%s", "top", 1) +
			ts("top", "  weighted:\n    services: [{name: x, kind: TraefikService}]") +
			ts("x", "  failover:\n    service: {name: whoami, port: 80}\n    fallback: {name: yy, kind: TraefikService}") +
			ts("yy", "  mirroring:\n    name: x\n    kind: TraefikService"),
			"recursion detected in service:default-x@kubernetescrd->service:default-yy@kubernetescrd->service:default-x@kubernetescrd"},
	} {
		snap := decodeTS(t, tc.yaml, Options{})
		if len(snap.Routers) != 0 {
			t.Errorf("%s: the route was kept: %+v", tc.name, snap.Routers)
		}
		all := problemText(snap)
		if !strings.Contains(all, tc.problem) || len(snap.Problems) != 1 || snap.Problems[0].Ref.Kind != "IngressRoute" {
			t.Errorf("%s: problems\n%s\nwant one with %q", tc.name, all, tc.problem)
		}
	}
	// A diamond is no cycle.
	snap := decodeTS(t, strings.Replace(tsRoute, "%s", "top", 1)+
		ts("top", "  weighted:\n    services: [{name: l, kind: TraefikService}, {name: r, kind: TraefikService}]")+
		ts("l", "  failover:\n    service: {name: leaf, kind: TraefikService}\n    fallback: {name: leaf, kind: TraefikService}")+
		ts("r", "  mirroring:\n    name: leaf\n    kind: TraefikService\n    mirrors: [{name: leaf, kind: TraefikService, percent: 100}]")+
		ts("leaf", "  weighted:\n    services: [{name: whoami, port: 80}]"), Options{})
	if len(snap.Problems) > 0 || len(snap.Routers) != 1 || snap.Services["default-leaf"+sfx] == nil {
		t.Errorf("diamond: %v %v", snap.Routers, problemText(snap))
	}
}

// TestTraefikServiceKinds: options and defaults of each kind, and
// Traefik's choice when several kinds are set.
func TestTraefikServiceKinds(t *testing.T) {
	snap := decodeTS(t, strings.Replace(tsRoute, "%s", "m", 1)+
		ts("m", "  mirroring:\n    name: whoami\n    port: 80\n    mirrorBody: false\n    maxBodySize: 1024\n    mirrors: [{name: whoami2, port: 8080, percent: 150}]"), Options{})
	want := &spec.Mirroring{Service: "default-whoami-80" + sfx, MirrorBody: false, MaxBodySize: 1024,
		Mirrors: []spec.Mirror{{Name: "default-whoami2-8080" + sfx, Percent: 150}}} // the engine refuses 150, as Traefik's service manager
	if got := snap.Services["default-m"+sfx]; got == nil || !reflect.DeepEqual(got.Mirroring, want) || got.Ref.Kind != "TraefikService" || got.Ref.Name != "m" {
		t.Errorf("mirroring: %+v (%v)", got, problemText(snap))
	}

	// Weighted wins over mirroring, as in Traefik's provider.
	snap = decodeTS(t, strings.Replace(tsRoute, "%s", "two", 1)+
		ts("two", "  weighted:\n    services: [{name: whoami, port: 80, weight: 3}]\n  mirroring:\n    name: whoami\n    port: 80"), Options{})
	if got := snap.Services["default-two"+sfx]; got == nil || got.Mirroring != nil || got.Weighted == nil || got.Weighted.Services[0].Weight != 3 {
		t.Errorf("two kinds: %+v", got)
	}

	for _, tc := range []struct{ name, spec, problem string }{
		{"none", "  {}", "TraefikService default/x: unspecified service type"},
		{"missing", "  weighted:\n    services: [{name: nope, kind: TraefikService}]", "TraefikService default/nope not found"},
		{"failover service", "  failover:\n    service: {name: nope, port: 80}\n    fallback: {name: whoami, port: 80}", "TraefikService default/x: getting service: kubernetes service not found: default/nope"},
		{"failover fallback", "  failover:\n    service: {name: whoami, port: 80}\n    fallback: {name: whoami, port: 81}", "TraefikService default/x: getting fallback service: service default/whoami: service port not found: 81"},
		{"mirror", "  mirroring:\n    name: whoami\n    port: 80\n    mirrors: [{name: whoami, port: 80, kind: Nope}]", "unsupported service kind Nope"},
		{"hrw", "  highestRandomWeight:\n    services: [{name: whoami, port: 80, namespace: other}]", "service other/whoami not in the parent resource namespace default"},
	} {
		snap := decodeTS(t, strings.Replace(tsRoute, "%s", "x", 1)+ts("x", tc.spec), Options{})
		if all := problemText(snap); len(snap.Routers) != 0 || !strings.Contains(all, tc.problem) {
			t.Errorf("%s: routers %v, problems\n%s\nwant %q", tc.name, snap.Routers, all, tc.problem)
		}
	}
}
