package translate

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/k8swatch/manifest"
)

const fixtures = "../../testdata/traefik-crd-fixtures"

// load reads fixture files (Traefik's own tests pair each with services.yml).
func load(t *testing.T, files ...string) *Objects {
	t.Helper()
	var paths []string
	for _, f := range files {
		paths = append(paths, filepath.Join(fixtures, f))
	}
	objs, probs := manifest.Load(paths...)
	for _, p := range probs {
		if p.Severity == manifest.Error {
			t.Fatalf("loading %v: %v", files, p)
		}
	}
	out := FromManifest(objs)
	return out
}

func urls(s []spec.Server) []string {
	var out []string
	for _, x := range s {
		u := x.URL
		if x.Fenced {
			u += " (fenced)"
		}
		out = append(out, u)
	}
	return out
}

// TestTraefikExpectations checks translations against what Traefik's own
// provider tests (pkg/provider/kubernetes/crd/kubernetes_test.go, v3.7.13)
// expect for the same fixtures.
func TestTraefikExpectations(t *testing.T) {
	snap := Snapshot(load(t, "services.yml", "simple.yml"), Options{})
	if len(snap.Problems) > 0 || len(snap.Routers) != 1 {
		t.Fatalf("simple.yml: %v %v", snap.Routers, snap.Problems)
	}
	r := snap.Routers[0]
	yes := true
	want := spec.Router{Name: "default-test-route-6b204d94623b3df4370c@kubernetescrd", EntryPoints: []string{"foo"},
		Rule: "Host(`foo.com`) && PathPrefix(`/bar`)", Priority: 12, Service: "default-whoami-80@kubernetescrd",
		Observability: &spec.Observability{AccessLogs: &yes, Metrics: &yes, Tracing: &yes}}
	r.Ref = spec.Ref{}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("simple.yml router:\n got %+v\nwant %+v", r, want)
	}
	lb := snap.Services["default-whoami-80@kubernetescrd"].LoadBalancer
	if lb == nil || !lb.PassHostHeader || lb.Strategy != "wrr" || lb.FlushInterval != 100*time.Millisecond ||
		!slices.Equal(urls(snap.Endpoints[lb.EndpointsKey]), []string{"http://10.10.0.1:80", "http://10.10.0.2:80"}) {
		t.Errorf("simple.yml service: %+v %v", lb, urls(snap.Endpoints["default-whoami-80@kubernetescrd"]))
	}

	snap = Snapshot(load(t, "services.yml", "with_two_services.yml"), Options{})
	if len(snap.Routers) != 1 || snap.Routers[0].Name != "default-test-route-77c62dfe9517144aeeaa@kubernetescrd" {
		t.Fatalf("with_two_services.yml: %+v %v", snap.Routers, snap.Problems)
	}
	w := snap.Services[snap.Routers[0].Service].Weighted
	if w == nil || !reflect.DeepEqual(w.Services, []spec.WeightedService{
		{Name: "default-whoami-80@kubernetescrd", Weight: 1}, {Name: "default-whoami2-8080@kubernetescrd", Weight: 1}}) {
		t.Errorf("with_two_services.yml weighted: %+v", w)
	}
	if got := urls(snap.Endpoints["default-whoami2-8080@kubernetescrd"]); !slices.Equal(got, []string{"http://10.10.0.3:8080", "http://10.10.0.4:8080"}) {
		t.Errorf("whoami2 servers: %v", got)
	}
}

// TestEveryFixture: every file of Traefik's corpus, paired with
// services.yml as Traefik's tests do, translates without a panic; every
// router's service exists; every problem names its object; and the result
// does not depend on the order of the objects.
func TestEveryFixture(t *testing.T) {
	entries, err := os.ReadDir(fixtures)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".yml") {
			continue
		}
		files := []string{"services.yml", e.Name()}
		if e.Name() == "services.yml" {
			files = files[:1]
		}
		objs := load(t, files...)
		for _, opts := range []Options{{}, {AllowCrossNamespace: true, AllowExternalNameServices: true, AllowEmptyServices: true}} {
			snap := Snapshot(objs, opts)
			for _, r := range snap.Routers {
				if r.Service != "" && snap.Services[r.Service] == nil { // "": a parent router
					t.Errorf("%s: router %s refers to missing service %s", e.Name(), r.Name, r.Service)
				}
				if !strings.HasSuffix(r.Name, ProviderSuffix) {
					t.Errorf("%s: router name %q", e.Name(), r.Name)
				}
			}
			for _, p := range snap.Problems {
				if p.Ref.Name == "" {
					t.Errorf("%s: problem without an object: %v", e.Name(), p)
				}
			}
			shuffled := *objs
			rng := rand.New(rand.NewPCG(uint64(n), 1))
			shuffled.IngressRoutes = slices.Clone(objs.IngressRoutes)
			shuffled.EndpointSlices = slices.Clone(objs.EndpointSlices)
			rng.Shuffle(len(shuffled.IngressRoutes), reflect.Swapper(shuffled.IngressRoutes))
			rng.Shuffle(len(shuffled.EndpointSlices), reflect.Swapper(shuffled.EndpointSlices))
			if again := Snapshot(&shuffled, opts); !reflect.DeepEqual(again, snap) {
				t.Errorf("%s: translation depends on object order", e.Name())
			}
		}
		n++
	}
	if n < 80 {
		t.Fatalf("only %d fixtures found", n)
	}
}

func TestPolicies(t *testing.T) {
	for _, tc := range []struct {
		file    string
		opts    Options
		problem string // substring of the expected problem, "" for none
	}{
		{"with_cross_namespace.yml", Options{}, "not in the parent resource namespace"},
		{"with_externalname_with_http.yml", Options{}, "externalName services not allowed"},
		{"with_externalname_with_http.yml", Options{AllowExternalNameServices: true}, ""},
		{"with_nil_endpointslice_port_name.yml", Options{}, "no servers found"},
		{"with_middleware.yml", Options{}, "middleware foo/addprefix not in the parent resource namespace default (allowCrossNamespace is off)"},
		{"with_middleware.yml", Options{AllowCrossNamespace: true}, ""},
		{"with_empty_rule_kind.yml", Options{}, ""}, // Traefik builds the router (its rule fails later, in the muxer)
	} {
		snap := Snapshot(load(t, "services.yml", tc.file), tc.opts)
		var msgs []string
		for _, p := range snap.Problems {
			msgs = append(msgs, p.Error())
		}
		all := strings.Join(msgs, "\n")
		if tc.problem == "" && len(msgs) > 0 || tc.problem != "" && !strings.Contains(all, tc.problem) {
			t.Errorf("%s %+v: problems %q, want %q", tc.file, tc.opts, all, tc.problem)
		}
	}
	// ExternalName: the server is the external name at the service port.
	snap := Snapshot(load(t, "services.yml", "with_externalname_with_http.yml"), Options{AllowExternalNameServices: true})
	found := false
	for _, servers := range snap.Endpoints {
		for _, s := range servers {
			found = found || s.URL == "http://external.domain:80"
		}
	}
	if !found {
		t.Errorf("ExternalName servers: %v", snap.Endpoints)
	}
}

func TestNormalizeAndNames(t *testing.T) {
	for in, want := range map[string]string{
		"default-test.route-6b2": "default-test-route-6b2",
		"--a..b__c--":            "a-b-c",
		"ns-whoami-80":           "ns-whoami-80",
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
	if got := routerName("default", "test.route", "Host(`foo.com`) && PathPrefix(`/bar`)"); got != "default-test-route-6b204d94623b3df4370c" {
		t.Errorf("routerName = %q", got)
	}
}

// The ASCII fast path of Normalize agrees with the Unicode definition.
func TestNormalizeFastPath(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	alphabet := []rune("aZ09-_.@ /:é\u00a0x")
	for range 50000 {
		r := make([]rune, rng.IntN(12))
		for i := range r {
			r[i] = alphabet[rng.IntN(len(alphabet))]
		}
		s := string(r)
		if got, want := Normalize(s), normalizeUnicode(s); got != want {
			t.Fatalf("Normalize(%q) = %q, want %q", s, got, want)
		}
	}
}
