package translate

import (
	"os"
	"reflect"
	"strings"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
)

// narrow keeps what Deps.Endpoints needs for one Service.
func narrow(objs *Objects, ns, name string) *Objects {
	out := &Objects{Nodes: objs.Nodes}
	for _, s := range objs.Services {
		if s.Namespace == ns && s.Name == name {
			out.Services = append(out.Services, s)
		}
	}
	for _, es := range objs.EndpointSlices {
		if es.Namespace == ns && es.Labels[discoveryv1.LabelServiceName] == name {
			out.EndpointSlices = append(out.EndpointSlices, es)
		}
	}
	return out
}

// For every fixture and every Service: the fast path computes the same
// endpoint tables as a full translation, from that Service's objects only,
// after its EndpointSlices change (each slice loses its first endpoint).
func TestDepsMatchFullTranslation(t *testing.T) {
	entries, err := os.ReadDir(fixtures)
	if err != nil {
		t.Fatal(err)
	}
	checked, fallbacks := 0, 0
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".yml") || e.Name() == "services.yml" {
			continue
		}
		objs := load(t, "services.yml", e.Name())
		for _, opts := range []Options{{}, {AllowCrossNamespace: true, AllowExternalNameServices: true, AllowEmptyServices: true}} {
			_, deps := Translate(objs, opts)
			for _, svc := range objs.Services {
				changed := *objs
				changed.EndpointSlices = nil
				for _, es := range objs.EndpointSlices {
					if es.Namespace == svc.Namespace && es.Labels[discoveryv1.LabelServiceName] == svc.Name && len(es.Endpoints) > 0 {
						es = es.DeepCopy()
						es.Endpoints = es.Endpoints[1:]
					}
					changed.EndpointSlices = append(changed.EndpointSlices, es)
				}
				full, _ := Translate(&changed, opts)
				tables, ok := deps.Endpoints(narrow(&changed, svc.Namespace, svc.Name), opts, svc.Namespace, svc.Name)
				if !ok {
					fallbacks++
					continue
				}
				if !deps.Uses(svc.Namespace, svc.Name) {
					if len(tables) != 0 {
						t.Errorf("%s: unused service %s/%s has tables", e.Name(), svc.Namespace, svc.Name)
					}
					continue
				}
				for key, servers := range tables {
					if want := full.Endpoints[key]; !reflect.DeepEqual(servers, want) && !(len(servers) == 0 && len(want) == 0) {
						t.Errorf("%s: %s: fast path %v, full translation %v", e.Name(), key, servers, want)
					}
					checked++
				}
				// Every table the full translation fed from this service is covered.
				for key, svcDef := range full.Services {
					if svcDef.Ref.Kind == "Service" && svcDef.Ref.Namespace == svc.Namespace && svcDef.Ref.Name == svc.Name && svcDef.LoadBalancer != nil {
						if _, ok := tables[svcDef.LoadBalancer.EndpointsKey]; !ok {
							t.Errorf("%s: table %s not refreshed", e.Name(), key)
						}
					}
				}
			}
		}
	}
	t.Logf("%d tables checked, %d fallbacks to a full translation", checked, fallbacks)
	if checked < 40 {
		t.Fatalf("only %d tables checked", checked)
	}
}

// A Service whose last server goes away changes routing (the route fails
// to resolve it), so the fast path declines.
func TestDepsDeclineWhenRoutingChanges(t *testing.T) {
	objs := load(t, "services.yml", "simple.yml")
	_, deps := Translate(objs, Options{})
	empty := *objs
	empty.EndpointSlices = nil
	if _, ok := deps.Endpoints(narrow(&empty, "default", "whoami"), Options{}, "default", "whoami"); ok {
		t.Fatal("fast path accepted a service losing all its servers")
	}
	if tables, ok := deps.Endpoints(narrow(objs, "default", "whoami"), Options{}, "default", "whoami"); !ok || len(tables) != 1 {
		t.Fatalf("unchanged service: %v %v", tables, ok)
	}
}
