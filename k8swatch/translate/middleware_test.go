package translate

import (
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/engine/middleware"
	"github.com/edgeroute/edgeroute/k8swatch/crd"
)

// Every kind the engine implements decodes exactly the fields of the CRD's
// type for it, recursively: a CRD field the kind lacks would be refused
// at build time ("option ... is not supported"), and a field the kind has
// but the CRD lacks could never be set.
func TestMiddlewareConfigsMatchCRD(t *testing.T) {
	crdKinds := map[string]reflect.Type{}
	st := reflect.TypeFor[crd.MiddlewareSpec]()
	for i := range st.NumField() {
		name, _, _ := strings.Cut(st.Field(i).Tag.Get("json"), ",")
		crdKinds[name] = st.Field(i).Type
	}
	for _, k := range middleware.Kinds {
		ct, ok := crdKinds[k.Name]
		if !ok {
			t.Errorf("kind %s is not a field of the Middleware CRD", k.Name)
			continue
		}
		if r, ok := resolvers[k.Name]; ok {
			ct = r.out // the kind decodes what translation resolved
		}
		if diff := compareFields(k.Name, ct, k.ConfigType()); len(diff) > 0 {
			t.Errorf("kind %s: its configuration differs from the CRD's:\n  %s", k.Name, strings.Join(diff, "\n  "))
		}
	}
}

// jsonFields lists the JSON fields of a struct type, with embedded
// structs' fields promoted as encoding/json does.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			for k, v := range jsonFields(deref(f.Type)) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map && t.Key().Kind() == reflect.String && t.Elem().Kind() == reflect.Struct {
		t = t.Elem()
	}
	return t
}

func compareFields(path string, a, b reflect.Type) []string {
	a, b = deref(a), deref(b)
	if a.Kind() != reflect.Struct || b.Kind() != reflect.Struct {
		return nil
	}
	fa, fb := jsonFields(a), jsonFields(b)
	var diff []string
	for name, ta := range fa {
		tb, ok := fb[name]
		if !ok {
			diff = append(diff, path+"."+name+": in the CRD, not decoded by the kind")
			continue
		}
		diff = append(diff, compareFields(path+"."+name, ta, tb)...)
	}
	for name := range fb {
		if _, ok := fa[name]; !ok {
			diff = append(diff, path+"."+name+": decoded by the kind, not in the CRD")
		}
	}
	sort.Strings(diff)
	return diff
}

// The middleware kinds of the CRD that the engine does not implement yet,
// refused with "kind ... is not supported by edgeroute yet" on the object.
// Shrinks as kinds land; a kind implemented must leave this list.
var notYetImplemented = []string{
	"plugin",
}

func TestMiddlewareKindsCovered(t *testing.T) {
	st := reflect.TypeFor[crd.MiddlewareSpec]()
	var missing []string
	for i := range st.NumField() {
		name, _, _ := strings.Cut(st.Field(i).Tag.Get("json"), ",")
		if _, ok := middleware.Lookup(name); !ok {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	want := slices.Sorted(slices.Values(notYetImplemented))
	if !slices.Equal(missing, want) {
		t.Errorf("kinds not implemented: %v, want %v (update notYetImplemented)", missing, want)
	}
}

// Middlewares and the references to them translate with Traefik's names
// and rules (Traefik's own fixtures).
func TestMiddlewareTranslation(t *testing.T) {
	snap := Snapshot(load(t, "services.yml", "with_middleware.yml"), Options{AllowCrossNamespace: true})
	if len(snap.Problems) > 0 {
		t.Fatalf("problems: %v", snap.Problems)
	}
	var route []string
	for _, r := range snap.Routers {
		if r.Rule == "Host(`foo.com`) && PathPrefix(`/tobestripped`)" {
			route = r.Middlewares
		}
	}
	want := []string{"default-stripprefix@kubernetescrd", "default-ratelimit@kubernetescrd", "foo-addprefix@kubernetescrd"}
	if !slices.Equal(route, want) {
		t.Errorf("route middlewares %v, want %v", route, want)
	}
	m := snap.Middlewares["foo-addprefix@kubernetescrd"]
	if m == nil || m.Kind != "addPrefix" || string(m.Config) != `{"prefix":"/tobeadded"}` || m.Ref.Name != "addprefix" {
		t.Errorf("addprefix: %+v", m)
	}

	// A reference to another provider's middleware skips the route.
	snap = Snapshot(load(t, "services.yml", "with_middleware_cross_provider.yml"), Options{AllowCrossNamespace: true})
	if msg := problems(snap.Problems); !strings.Contains(msg, `invalid reference to middleware basicauth@file: middleware basicauth@file: provider "file" is not available in edgeroute`) {
		t.Errorf("cross-provider: %s", msg)
	}

	// errors: the error page service is built and named.
	snap = Snapshot(load(t, "services.yml", "with_error_page.yml"), Options{})
	if e := snap.Middlewares["default-errorpage@kubernetescrd"]; e == nil || e.Service != "default-whoami-80@kubernetescrd" || snap.Services[e.Service] == nil {
		t.Errorf("errors middleware: %+v", e)
	}

	// A chain's members resolve in the chain's namespace.
	objs := &Objects{Middlewares: []*crd.Middleware{
		{Spec: crd.MiddlewareSpec{Chain: &crd.Chain{Middlewares: []crd.MiddlewareRef{{Name: "a"}, {Name: "b", Namespace: "other"}}}}},
		{Spec: crd.MiddlewareSpec{}},
		{Spec: crd.MiddlewareSpec{AddPrefix: &crd.AddPrefix{Prefix: "/x"}, StripPrefix: &crd.StripPrefix{}}},
	}}
	objs.Middlewares[0].Namespace, objs.Middlewares[0].Name = "ns", "c"
	objs.Middlewares[1].Namespace, objs.Middlewares[1].Name = "ns", "empty"
	objs.Middlewares[2].Namespace, objs.Middlewares[2].Name = "ns", "two"
	snap = Snapshot(objs, Options{AllowCrossNamespace: true})
	if c := snap.Middlewares["ns-c@kubernetescrd"]; c == nil || !slices.Equal(c.Chain, []string{"ns-a@kubernetescrd", "other-b@kubernetescrd"}) {
		t.Errorf("chain: %+v", c)
	}
	msg := problems(snap.Problems)
	for _, w := range []string{"Middleware ns/empty: the middleware sets no kind", "Middleware ns/two: the middleware sets several kinds (addPrefix, stripPrefix)"} {
		if !strings.Contains(msg, w) {
			t.Errorf("problems lack %q: %s", w, msg)
		}
	}
	// An empty list is passed on as such, not dropped: Traefik tells
	// `encodings: []` (an error) from no encodings (the defaults).
	objs2 := &Objects{Middlewares: []*crd.Middleware{{Spec: crd.MiddlewareSpec{Compress: &crd.Compress{Encodings: []string{}}}}}}
	objs2.Middlewares[0].Namespace, objs2.Middlewares[0].Name = "ns", "none"
	if m := Snapshot(objs2, Options{}).Middlewares["ns-none@kubernetescrd"]; m == nil || string(m.Config) != `{"encodings":[]}` {
		t.Errorf("compress with empty encodings: %+v", m)
	}

	snap = Snapshot(objs, Options{})
	if msg := problems(snap.Problems); !strings.Contains(msg, "Middleware ns/c: chain: middleware other/b not in the parent resource namespace ns (allowCrossNamespace is off)") {
		t.Errorf("cross-namespace chain: %s", msg)
	}
}

func problems(ps []spec.Problem) string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Error())
	}
	return strings.Join(out, "\n")
}
