package translate

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

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
	if r, ok := resolvers[kind]; ok {
		var err error
		if cfg, err = r.resolve(t, m.Namespace, &m.Spec); err != nil {
			return nil, err
		}
	}
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
		svc, err := t.service(m.Namespace, m.Spec.Errors.Service.LoadBalancerSpec, nil)
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

// resolver turns a kind's CRD object into the configuration the engine's
// kind decodes, where the two differ: the Secrets it names read (htpasswd
// users, TLS PEM blocks, Redis credentials), as Traefik's CRD provider
// does in its create<Kind>Middleware functions. Kinds without a row are
// passed on as written.
type resolver struct {
	// out is the type resolve returns (for the test that compares it
	// with the engine kind's configuration).
	out     reflect.Type
	resolve func(t *translator, ns string, s *crd.MiddlewareSpec) (any, error)
}

// resolverOf makes a resolvers row.
func resolverOf[T any](f func(t *translator, ns string, s *crd.MiddlewareSpec) (*T, error)) resolver {
	return resolver{out: reflect.TypeFor[T](), resolve: func(t *translator, ns string, s *crd.MiddlewareSpec) (any, error) {
		return f(t, ns, s)
	}}
}

// resolvers: one row per kind whose configuration needs the cluster's
// objects, each in a file of its own (mw_<kind>.go).
var resolvers = map[string]resolver{
	"jwt":         resolverOf(resolveJWT),
	"basicAuth":   resolverOf(resolveBasicAuth),
	"digestAuth":  resolverOf(resolveDigestAuth),
	"rateLimit":   resolverOf(resolveRateLimit),
	"forwardAuth": resolverOf(resolveForwardAuth),
	// New resolvers go above this line, one row each.
}

// secret returns Secret ns/name, recording that the translation read it
// (a change to it then translates again). A missing Secret is an error in
// Traefik's words.
func (t *translator) secret(ns, name string) (*corev1.Secret, error) {
	t.deps.secrets[key(ns, name)] = true
	s := t.secrets[key(ns, name)]
	if s == nil {
		return nil, fmt.Errorf("secret '%s/%s' not found", ns, name)
	}
	return s, nil
}
