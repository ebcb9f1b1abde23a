package translate

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/k8swatch/crd"
)

// middlewares translates every Middleware object into the snapshot, under
// Traefik's name (Normalize(namespace-name)@kubernetescrd). An object that
// sets no kind or several, or whose references fail, is reported and left
// out: routers that name it then fail to build, as in Traefik, where they
// answer 404.
func (t *translator) middlewares() {
	t.snap.Middlewares = map[string]*spec.Middleware{}
	mws := append([]*crd.Middleware(nil), t.objs.Middlewares...)
	sort.Slice(mws, func(i, j int) bool {
		a, b := mws[i], mws[j]
		return a.Namespace < b.Namespace || a.Namespace == b.Namespace && a.Name < b.Name
	})
	for _, m := range mws {
		ref := t.ref("Middleware", m.Namespace, m.Name, 0)
		def, err := t.middleware(m, ref)
		if err != nil {
			t.problem(ref, "%v", err)
			continue
		}
		t.snap.Middlewares[def.Name] = def
	}
}

func (t *translator) middleware(m *crd.Middleware, ref spec.Ref) (*spec.Middleware, error) {
	kinds := m.Kinds()
	switch len(kinds) {
	case 0:
		return nil, fmt.Errorf("the middleware sets no kind (one of addPrefix, stripPrefix, headers, ...)")
	case 1:
	default:
		return nil, fmt.Errorf("the middleware sets several kinds (%s); a Middleware has exactly one", strings.Join(kinds, ", "))
	}
	kind := kinds[0]
	if kind == "plugin" {
		return nil, fmt.Errorf("plugin middlewares are not supported by edgeroute")
	}
	def := &spec.Middleware{Name: Normalize(m.Namespace+"-"+m.Name) + ProviderSuffix, Ref: ref, Kind: kind}
	cfg := kindField(&m.Spec, kind)
	raw, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	def.Config = raw
	switch {
	case m.Spec.Chain != nil:
		for _, c := range m.Spec.Chain.Middlewares {
			name, err := t.middlewareName(m.Namespace, c)
			if err != nil {
				return nil, fmt.Errorf("chain: %w", err)
			}
			def.Chain = append(def.Chain, name)
		}
	case m.Spec.Errors != nil:
		svc, err := t.service(m.Namespace, m.Spec.Errors.Service.LoadBalancerSpec, 0)
		if err != nil {
			return nil, fmt.Errorf("errors: service: %w", err)
		}
		def.Service = svc
	}
	return def, nil
}

// kindField returns the value of the spec's field for kind (its JSON
// name).
func kindField(s *crd.MiddlewareSpec, kind string) any {
	v := reflect.ValueOf(s).Elem()
	t := v.Type()
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name == kind {
			return v.Field(i).Interface()
		}
	}
	return nil
}

// middlewareName resolves a reference to a Middleware from an object in
// namespace ns, with Traefik's rules (resolveReference): a name with "@"
// names another provider's middleware verbatim; otherwise the namespace
// defaults to ns, and another one needs allowCrossNamespace.
func (t *translator) middlewareName(ns string, r crd.MiddlewareRef) (string, error) {
	if i := strings.IndexByte(r.Name, '@'); i >= 0 {
		provider := r.Name[i+1:]
		if provider != "kubernetescrd" {
			return "", fmt.Errorf("middleware %s: provider %q is not available in edgeroute (only kubernetescrd)", r.Name, provider)
		}
		if !t.opts.AllowCrossNamespace {
			return "", fmt.Errorf("middleware %s: a reference to a kubernetescrd middleware by its full name needs allowCrossNamespace", r.Name)
		}
		return r.Name, nil
	}
	mns := r.Namespace
	if mns == "" {
		mns = ns
	}
	if mns != ns && !t.opts.AllowCrossNamespace {
		return "", fmt.Errorf("middleware %s/%s not in the parent resource namespace %s (allowCrossNamespace is off)", mns, r.Name, ns)
	}
	return Normalize(mns+"-"+r.Name) + ProviderSuffix, nil
}
