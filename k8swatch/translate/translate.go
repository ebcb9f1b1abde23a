// Package translate turns Kubernetes objects (Traefik CRDs, Services,
// EndpointSlices, Nodes) into the spec.Snapshot the engine serves, with the
// meaning Traefik v3.7's kubernetesCRD provider gives them (semantics §d):
// router and service names, default entry points, ports matched by number or
// name, serving and terminating endpoints, ExternalName, nativeLB,
// nodePortLB, scheme detection, weights, cross-namespace policy.
//
// It is a pure function: the same objects give the same snapshot, in any
// input order. A bad reference skips only the route concerned, reported as a
// spec.Problem naming the object; every other route is still produced.
package translate

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/k8swatch/crd"
)

// Options are the kubernetesCRD provider options that shape translation.
type Options struct {
	IngressClass              string
	AllowCrossNamespace       bool
	AllowExternalNameServices bool
	AllowEmptyServices        bool
	NativeLBByDefault         bool
}

// Objects is the input: every object the provider sees.
type Objects struct {
	IngressRoutes   []*crd.IngressRoute
	TraefikServices []*crd.TraefikService
	Middlewares     []*crd.Middleware
	Services        []*corev1.Service
	EndpointSlices  []*discoveryv1.EndpointSlice
	Nodes           []*corev1.Node
	Secrets         []*corev1.Secret
	TLSOptions      []*crd.TLSOption
	TLSStores       []*crd.TLSStore
	// ServersTransports and the ConfigMaps their rootCAs may name.
	ServersTransports []*crd.ServersTransport
	ConfigMaps        []*corev1.ConfigMap
	// Where locates an object for problem reports (its file and line for
	// manifests); it may be nil.
	Where func(kind, namespace, name string) (file string, line int)
}

// ProviderSuffix is appended to the names of routers and services.
const ProviderSuffix = "@kubernetescrd"

// Snapshot translates objs.
func Snapshot(objs *Objects, opts Options) *spec.Snapshot {
	snap, _ := Translate(objs, opts)
	return snap
}

// Translate translates objs and also returns which endpoint tables each
// Kubernetes Service feeds, for the endpoint fast path (Deps.Endpoints).
func Translate(objs *Objects, opts Options) (*spec.Snapshot, *Deps) {
	t := &translator{objs: objs, opts: opts, deps: newDeps(), snap: &spec.Snapshot{
		Services:  map[string]*spec.Service{},
		Endpoints: map[string][]spec.Server{},
	}}
	t.index()
	t.tlsObjects()
	t.serversTransports()
	t.middlewares()
	irs := slices.Clone(objs.IngressRoutes)
	sort.Slice(irs, func(i, j int) bool {
		a, b := irs[i], irs[j]
		return a.Namespace < b.Namespace || a.Namespace == b.Namespace && a.Name < b.Name
	})
	n := 0
	for _, ir := range irs {
		n += len(ir.Spec.Routes)
	}
	t.snap.Routers = slices.Grow(t.snap.Routers, n)
	if len(t.routerAt) == 0 {
		t.routerAt = make(map[string]int, n)
	}
	for _, ir := range irs {
		t.ingressRoute(ir)
	}
	sort.SliceStable(t.snap.Routers, func(i, j int) bool { return t.snap.Routers[i].Name < t.snap.Routers[j].Name })
	t.finishTLS()
	return t.snap, t.deps
}

type translator struct {
	objs    *Objects
	opts    Options
	snap    *spec.Snapshot
	deps    *Deps
	svcs    map[string]*corev1.Service              // ns/name
	slices  map[string][]*discoveryv1.EndpointSlice // ns/service-name
	tsvcs   map[string]*crd.TraefikService          // ns/name
	mws     map[string]*crd.Middleware              // ns/name
	secrets map[string]*corev1.Secret               // ns/name
	// configMaps are by ns/name.
	configMaps map[string]*corev1.ConfigMap
	// badTransports are the ServersTransports left out, by name, and why.
	badTransports map[string]error
	// tlsOptions are the TLS options names routers may select;
	// badOptions those that failed validation.
	tlsOptions map[string]bool
	badOptions map[string]error
	// routerAt is the index of each router in snap.Routers, by name.
	routerAt map[string]int
	// tsFailed are the TraefikServices that could not be built, by
	// service name, with why.
	tsFailed map[string]error
	// plainServices are the services built from a reference with nothing
	// but a Service's name, namespace and port, by ns/name/port: every
	// further such reference is the same service (10k routes to one
	// Service build it once, not 10k times).
	plainServices map[string]string
}

func key(ns, name string) string { return ns + "/" + name }

func (t *translator) index() {
	t.svcs = map[string]*corev1.Service{}
	t.slices = map[string][]*discoveryv1.EndpointSlice{}
	t.tsvcs = map[string]*crd.TraefikService{}
	t.mws = map[string]*crd.Middleware{}
	t.secrets = map[string]*corev1.Secret{}
	t.badOptions = map[string]error{}
	for _, s := range t.objs.Secrets {
		t.secrets[key(s.Namespace, s.Name)] = s
	}
	t.configMaps = map[string]*corev1.ConfigMap{}
	for _, c := range t.objs.ConfigMaps {
		t.configMaps[key(c.Namespace, c.Name)] = c
	}
	t.routerAt = map[string]int{}
	t.tsFailed = map[string]error{}
	for _, s := range t.objs.Services {
		t.svcs[key(s.Namespace, s.Name)] = s
	}
	for _, es := range t.objs.EndpointSlices {
		if svc := es.Labels[discoveryv1.LabelServiceName]; svc != "" {
			k := key(es.Namespace, svc)
			t.slices[k] = append(t.slices[k], es)
		}
	}
	for k, l := range t.slices {
		sort.Slice(l, func(i, j int) bool { return l[i].Name < l[j].Name })
		t.slices[k] = l
	}
	for _, s := range t.objs.TraefikServices {
		t.tsvcs[key(s.Namespace, s.Name)] = s
	}
	for _, m := range t.objs.Middlewares {
		t.mws[key(m.Namespace, m.Name)] = m
	}
}

func (t *translator) ref(kind, ns, name string, route int) spec.Ref {
	r := spec.Ref{Kind: kind, Namespace: ns, Name: name, Route: route}
	if t.objs.Where != nil {
		r.File, r.Line = t.objs.Where(kind, ns, name)
	}
	return r
}

func (t *translator) problem(ref spec.Ref, format string, args ...any) {
	t.snap.Problems = append(t.snap.Problems, spec.Problem{Ref: ref, Err: fmt.Errorf(format, args...)})
}

// warn reports something configured that has no effect.
func (t *translator) warn(ref spec.Ref, format string, args ...any) {
	t.snap.Problems = append(t.snap.Problems, spec.Problem{Ref: ref, Err: fmt.Errorf(format, args...), Warning: true})
}

// Normalize is Traefik's provider.Normalize: runs of characters that are not
// letters or digits become one '-', and leading and trailing ones go.
// ASCII names (all Kubernetes names) take a one-pass path; others the
// Unicode-aware one.
func Normalize(name string) string {
	b := make([]byte, 0, len(name))
	sep := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 0x80:
			return normalizeUnicode(name)
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			if sep && len(b) > 0 {
				b = append(b, '-')
			}
			sep = false
			b = append(b, c)
		default:
			sep = true
		}
	}
	return string(b)
}

func normalizeUnicode(name string) string {
	return strings.Join(strings.FieldsFunc(name, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r)
	}), "-")
}

// routerName is Traefik's router key for a route of an IngressRoute.
func routerName(ns, name, match string) string {
	sum := sha256.Sum256([]byte(match))
	var h [20]byte
	hex.Encode(h[:], sum[:10])
	return Normalize(ns + "-" + name + "-" + string(h[:]))
}

func (t *translator) classAccepted(ir *crd.IngressRoute) bool {
	class := ir.Annotations["kubernetes.io/ingress.class"]
	if ir.Spec.IngressClassName != nil {
		class = *ir.Spec.IngressClassName
	}
	if t.opts.IngressClass == "" {
		return class == "" || class == "traefik"
	}
	return class == t.opts.IngressClass
}

func (t *translator) ingressRoute(ir *crd.IngressRoute) {
	if !t.classAccepted(ir) {
		return // meant for another controller, as in Traefik
	}
	name := ir.Name
	if name == "" {
		name = ir.GenerateName
	}
	parents, err := t.parentRouters(ir)
	if err != nil {
		// As in Traefik, none of the IngressRoute's routes is built.
		t.problem(t.ref("IngressRoute", ir.Namespace, name, 0), "%v", err)
		return
	}
	for i, route := range ir.Spec.Routes {
		ref := t.ref("IngressRoute", ir.Namespace, name, i+1)
		if route.Kind != "" && route.Kind != crd.RouteKindRule {
			t.problem(ref, "route kind %q is not supported (only Rule)", route.Kind)
			continue
		}
		if route.Match == "" {
			t.problem(ref, "route has an empty match rule")
			continue
		}
		mws, err := t.routeMiddlewares(ir.Namespace, route.Middlewares)
		if err != nil {
			t.problem(ref, "%v", err)
			continue
		}
		var rtls *spec.RouterTLS
		if ir.Spec.TLS != nil {
			var err error
			if rtls, err = t.routerTLS(ir); err != nil {
				t.problem(ref, "%v", err)
				continue
			}
		}
		key := routerName(ir.Namespace, name, route.Match)
		r := spec.Router{
			Name:        key + ProviderSuffix,
			Ref:         ref,
			EntryPoints: ir.Spec.EntryPoints,
			Rule:        route.Match,
			Priority:    int64(route.Priority),
			Syntax:      route.Syntax,
			Middlewares: mws,
			TLS:         rtls,
			ParentRefs:  parents,
			// Traefik refuses it on child routers (per-router
			// observability itself is not applied by edgeroute).
		}
		if o := route.Observability; o != nil {
			r.Observability = &spec.Observability{AccessLogs: o.AccessLogs, Metrics: o.Metrics, Tracing: o.Tracing, TraceVerbosity: o.TraceVerbosity}
		}
		svc, err := t.routeService(ir.Namespace, key, route.Services)
		if err != nil {
			t.problem(ref, "%v", err)
			continue
		}
		r.Service = svc
		// Two routes with the same match in one IngressRoute share a key:
		// the last one wins, as in Traefik.
		if j, ok := t.routerAt[r.Name]; ok {
			t.snap.Routers[j] = r
		} else {
			t.routerAt[r.Name] = len(t.snap.Routers)
			t.snap.Routers = append(t.snap.Routers, r)
		}
	}
}

// routeMiddlewares resolves a route's middleware references, in order. A
// reference that breaks the namespace rules skips the route; one to a
// Middleware that does not exist is left for the engine, which fails the
// router (Traefik's "middleware does not exist").
func (t *translator) routeMiddlewares(ns string, refs []crd.MiddlewareRef) ([]string, error) {
	var out []string
	for _, r := range refs {
		name, err := t.middlewareName(ns, r)
		if err != nil {
			return nil, fmt.Errorf("invalid reference to middleware %s: %w", r.Name, err)
		}
		out = append(out, name)
	}
	return out, nil
}

// routeService builds the service of a route and returns its name.
func (t *translator) routeService(ns, routerKey string, services []crd.Service) (string, error) {
	switch len(services) {
	case 0:
		// A parent router, or an error the engine reports with Traefik's
		// words when no route names it in parentRefs.
		return "", nil
	case 1:
		return t.service(ns, services[0].LoadBalancerSpec, nil)
	}
	w := &spec.Weighted{}
	for _, s := range services {
		name, err := t.service(ns, s.LoadBalancerSpec, nil)
		if err != nil {
			return "", err
		}
		weight := 1
		if s.Weight != nil {
			weight = *s.Weight
		}
		w.Services = append(w.Services, spec.WeightedService{Name: name, Weight: weight})
	}
	name := Normalize(routerKey) + ProviderSuffix
	t.snap.Services[name] = &spec.Service{Name: name, Weighted: w}
	return name, nil
}

// service builds the service an IngressRoute or TraefikService entry refers
// to and returns its name. stack lists the TraefikServices being built
// around it (outermost first), to detect a reference cycle.
func (t *translator) service(parentNS string, lb crd.LoadBalancerSpec, stack []string) (string, error) {
	if name, provider, _ := strings.Cut(lb.Name, "@"); provider == "internal" && lb.Kind == crd.ServiceKindTraefikService {
		// Traefik's internal services (api@internal, ping@internal, ...),
		// which the engine provides; their namespace is ignored, as in
		// Traefik's cross-provider references.
		return Normalize(name) + "@internal", nil
	}
	if strings.Contains(lb.Name, "@") {
		return "", fmt.Errorf("service %q: cross-provider references are not supported by edgeroute", lb.Name)
	}
	ns := lb.Namespace
	if ns == "" {
		ns = parentNS
	}
	if !t.opts.AllowCrossNamespace && ns != parentNS {
		return "", fmt.Errorf("service %s/%s not in the parent resource namespace %s (allowCrossNamespace is off)", ns, lb.Name, parentNS)
	}
	lb.Namespace = ns
	switch lb.Kind {
	case "", crd.ServiceKindService:
		return t.kubernetesService(lb)
	case crd.ServiceKindTraefikService:
		return t.traefikService(lb, stack)
	}
	return "", fmt.Errorf("service %s/%s: unsupported service kind %s", ns, lb.Name, lb.Kind)
}

// traefikService builds a TraefikService and the services it refers to,
// as Traefik's provider (buildTraefikService) and service manager do:
// the first kind set among weighted, mirroring, highestRandomWeight and
// failover is used; a TraefikService that refers to itself through any
// chain of references is refused, naming the chain (Traefik's recursion
// check), and so is every service that leads to it.
func (t *translator) traefikService(lb crd.LoadBalancerSpec, stack []string) (string, error) {
	ts := t.tsvcs[key(lb.Namespace, lb.Name)]
	if ts == nil {
		return "", fmt.Errorf("TraefikService %s/%s not found", lb.Namespace, lb.Name)
	}
	name := Normalize(lb.Namespace+"-"+lb.Name) + ProviderSuffix
	if _, done := t.snap.Services[name]; done {
		return name, nil
	}
	if err, failed := t.tsFailed[name]; failed {
		return "", err
	}
	if i := slices.Index(stack, name); i >= 0 {
		chain := make([]string, 0, len(stack)-i+1)
		for _, s := range stack[i:] {
			chain = append(chain, "service:"+s)
		}
		chain = append(chain, "service:"+name)
		// Traefik's message (recursion.CheckRecursion).
		return "", fmt.Errorf("could not instantiate service %s: recursion detected in %s", name, strings.Join(chain, "->"))
	}
	sv, err := t.traefikServiceSpec(ts, name, append(slices.Clip(stack), name))
	if err != nil {
		err = fmt.Errorf("TraefikService %s/%s: %w", lb.Namespace, lb.Name, err)
		t.tsFailed[name] = err
		return "", err
	}
	t.snap.Services[name] = sv
	return name, nil
}

// traefikServiceSpec translates the spec of a TraefikService named name.
func (t *translator) traefikServiceSpec(ts *crd.TraefikService, name string, stack []string) (*spec.Service, error) {
	ns := ts.Namespace
	sv := &spec.Service{Name: name, Ref: t.ref("TraefikService", ns, ts.Name, 0)}
	// children translates weighted and highestRandomWeight children; an
	// unset weight is 1.
	children := func(list []crd.Service) ([]spec.WeightedService, error) {
		var out []spec.WeightedService
		for _, c := range list {
			child, err := t.service(ns, c.LoadBalancerSpec, stack)
			if err != nil {
				return nil, err
			}
			weight := 1
			if c.Weight != nil {
				weight = *c.Weight
			}
			out = append(out, spec.WeightedService{Name: child, Weight: weight})
		}
		return out, nil
	}
	switch s := ts.Spec; {
	case s.Weighted != nil:
		w := &spec.Weighted{}
		if s.Weighted.Sticky != nil && s.Weighted.Sticky.Cookie != nil {
			w.Sticky = cookie(s.Weighted.Sticky.Cookie)
		}
		var err error
		if w.Services, err = children(s.Weighted.Services); err != nil {
			return nil, err
		}
		sv.Weighted = w
	case s.Mirroring != nil:
		// Traefik's defaults (dynamic.Mirroring.SetDefaults): the body is
		// mirrored, whatever its size.
		m := &spec.Mirroring{MirrorBody: true, MaxBodySize: -1}
		if s.Mirroring.MirrorBody != nil {
			m.MirrorBody = *s.Mirroring.MirrorBody
		}
		if s.Mirroring.MaxBodySize != nil {
			m.MaxBodySize = *s.Mirroring.MaxBodySize
		}
		var err error
		if m.Service, err = t.service(ns, s.Mirroring.LoadBalancerSpec, stack); err != nil {
			return nil, err
		}
		for _, mr := range s.Mirroring.Mirrors {
			child, err := t.service(ns, mr.LoadBalancerSpec, stack)
			if err != nil {
				return nil, err
			}
			// The percent is checked where Traefik checks it, when the
			// engine builds the service.
			m.Mirrors = append(m.Mirrors, spec.Mirror{Name: child, Percent: mr.Percent})
		}
		sv.Mirroring = m
	case s.HighestRandomWeight != nil:
		h := &spec.HighestRandomWeight{}
		var err error
		if h.Services, err = children(s.HighestRandomWeight.Services); err != nil {
			return nil, err
		}
		sv.HighestRandomWeight = h
	case s.Failover != nil:
		f := &spec.Failover{Errors: &spec.FailoverErrors{Status: s.Failover.Errors.Status, MaxRequestBodyBytes: -1}}
		if b := s.Failover.Errors.MaxRequestBodyBytes; b != nil {
			f.Errors.MaxRequestBodyBytes = *b
		}
		var err error
		if f.Service, err = t.service(ns, s.Failover.Service, stack); err != nil {
			return nil, fmt.Errorf("getting service: %w", err)
		}
		if f.Fallback, err = t.service(ns, s.Failover.Fallback, stack); err != nil {
			return nil, fmt.Errorf("getting fallback service: %w", err)
		}
		sv.Failover = f
	default:
		return nil, errors.New("unspecified service type")
	}
	return sv, nil
}

func cookie(c *crd.Cookie) *spec.Cookie {
	out := &spec.Cookie{Name: c.Name, Secure: c.Secure, HTTPOnly: c.HTTPOnly, SameSite: c.SameSite, MaxAge: c.MaxAge, Domain: c.Domain, Path: "/"}
	if c.Path != nil {
		out.Path = *c.Path
	}
	return out
}

// kubernetesService builds a servers load balancer for one Service port.
func (t *translator) kubernetesService(lb crd.LoadBalancerSpec) (string, error) {
	memo := lb.Namespace + "/" + lb.Name + "/" + lb.Port.String()
	plain := isPlainReference(&lb)
	if name, ok := t.plainServices[memo]; ok && plain {
		t.deps.add(lb, name)
		return name, nil
	}
	name, err := t.buildKubernetesService(lb)
	if t.plainServices == nil {
		t.plainServices = map[string]string{}
	}
	if err == nil && plain {
		t.plainServices[memo] = name
	} else {
		// A reference with options of its own rebuilds the service (the
		// last reference's options apply, with a warning): the next plain
		// one must rebuild it too.
		delete(t.plainServices, memo)
	}
	return name, err
}

// isPlainReference reports whether a service reference sets nothing that
// shapes the built service but the Service and its port.
func isPlainReference(lb *crd.LoadBalancerSpec) bool {
	return lb.Scheme == "" && lb.Strategy == "" && lb.PassHostHeader == nil && lb.ResponseForwarding == nil &&
		lb.ServersTransport == "" && lb.NativeLB == nil && !lb.NodePortLB && lb.HealthCheck == nil &&
		lb.PassiveHealthCheck == nil && lb.Sticky == nil && len(lb.Middlewares) == 0
}

func (t *translator) buildKubernetesService(lb crd.LoadBalancerSpec) (string, error) {
	strategy := "wrr"
	switch lb.Strategy {
	case "", "RoundRobin", crd.BalancerStrategyWRR:
	case crd.BalancerStrategyP2C:
		strategy = "p2c"
	case crd.BalancerStrategyHRW:
		strategy = "hrw"
	case crd.BalancerStrategyLeastTime:
		strategy = "leasttime"
	default:
		return "", fmt.Errorf("service %s/%s: load-balancer strategy %s is not supported", lb.Namespace, lb.Name, lb.Strategy)
	}
	transport, err := t.serversTransportRef(lb.Namespace, lb.ServersTransport)
	if err != nil {
		return "", fmt.Errorf("service %s/%s: %w", lb.Namespace, lb.Name, err)
	}
	var mws []string
	for _, r := range lb.Middlewares {
		name, err := t.middlewareName(lb.Namespace, r)
		if err != nil {
			return "", fmt.Errorf("service %s/%s: could not create middleware keys: %w", lb.Namespace, lb.Name, err)
		}
		mws = append(mws, name)
	}
	servers, err := t.servers(lb)
	if err != nil {
		return "", err
	}
	name := Normalize(lb.Namespace+"-"+lb.Name+"-"+lb.Port.String()) + ProviderSuffix
	t.deps.add(lb, name)
	def := &spec.LoadBalancer{EndpointsKey: name, Strategy: strategy, PassHostHeader: true, FlushInterval: 100 * time.Millisecond,
		ServersTransport: transport}
	if lb.PassHostHeader != nil {
		def.PassHostHeader = *lb.PassHostHeader
	}
	if lb.ResponseForwarding != nil && lb.ResponseForwarding.FlushInterval != "" {
		d, err := spec.ParseDuration(lb.ResponseForwarding.FlushInterval)
		if err != nil {
			return "", fmt.Errorf("service %s/%s: responseForwarding.flushInterval: %v", lb.Namespace, lb.Name, err)
		}
		def.FlushInterval = d
	}
	if lb.Sticky != nil && lb.Sticky.Cookie != nil {
		def.Sticky = cookie(lb.Sticky.Cookie)
	}
	if def.HealthCheck, err = t.healthCheck(lb); err != nil {
		return "", fmt.Errorf("service %s/%s: healthCheck: %w", lb.Namespace, lb.Name, err)
	}
	if p := lb.PassiveHealthCheck; p != nil {
		def.Passive = &spec.PassiveHealthCheck{MaxFailedAttempts: 1, FailureWindow: 10 * time.Second}
		if p.MaxFailedAttempts != nil {
			def.Passive.MaxFailedAttempts = *p.MaxFailedAttempts
		}
		if p.FailureWindow != nil {
			if def.Passive.FailureWindow, err = spec.ParseDuration(p.FailureWindow.String()); err != nil {
				return "", fmt.Errorf("service %s/%s: passiveHealthCheck.failureWindow: %w", lb.Namespace, lb.Name, err)
			}
		}
	}
	if old := t.snap.Services[name]; old != nil && old.LoadBalancer != nil && old.LoadBalancer.ServersTransport != def.ServersTransport {
		// Traefik names a route's only service after the route, so each
		// reference keeps its transport; edgeroute shares one service per
		// Service port.
		t.warn(t.ref("Service", lb.Namespace, lb.Name, 0), "service %s is referenced with different serversTransports (%q and %q); edgeroute builds one service per Service port, and the last reference's (%q) applies to all",
			name, old.LoadBalancer.ServersTransport, def.ServersTransport, def.ServersTransport)
	}
	t.snap.Services[name] = &spec.Service{Name: name, Ref: t.ref("Service", lb.Namespace, lb.Name, 0), LoadBalancer: def, Middlewares: mws}
	t.snap.Endpoints[name] = servers
	return name, nil
}

// healthCheck applies Traefik's defaults to an active health check. The
// provider allows one only on ExternalName services (checked by servers).
// The mode is kept as written, as Traefik keeps it: "grpc" is the gRPC
// health protocol, anything else an HTTP check; what Traefik does
// without a word, edgeroute also does, with a warning.
func (t *translator) healthCheck(lb crd.LoadBalancerSpec) (*spec.HealthCheck, error) {
	h := lb.HealthCheck
	if h == nil {
		return nil, nil
	}
	warn := func(format string, args ...any) {
		t.warn(t.ref("Service", lb.Namespace, lb.Name, 0), "service %s/%s: healthCheck: "+format, append([]any{lb.Namespace, lb.Name}, args...)...)
	}
	switch h.Mode {
	case "", "http":
	case "grpc":
		if h.Scheme != "" && h.Scheme != "http" && h.Scheme != "h2c" {
			warn("mode grpc with scheme %q: as in Traefik, whose gRPC check dials only plaintext (h2c) and sets no TLS credentials otherwise, every check fails (grpc: no transport security set) and the servers stay down", h.Scheme)
		}
		var ignored []string
		for _, f := range []struct {
			name string
			set  bool
		}{{"path", h.Path != ""}, {"method", h.Method != ""}, {"status", h.Status != 0}, {"hostname", h.Hostname != ""},
			{"headers", len(h.Headers) > 0}, {"followRedirects", h.FollowRedirects != nil}} {
			if f.set {
				ignored = append(ignored, f.name)
			}
		}
		if len(ignored) > 0 {
			warn("mode grpc does not use %s (Traefik ignores them too)", strings.Join(ignored, ", "))
		}
	default:
		warn("mode %q is neither http nor grpc: the check runs in http mode, as in Traefik", h.Mode)
	}
	hc := &spec.HealthCheck{Mode: h.Mode, Scheme: h.Scheme, Path: h.Path, Method: h.Method, Status: h.Status, Port: h.Port,
		Hostname: h.Hostname, Headers: h.Headers, Interval: 30 * time.Second, Timeout: 5 * time.Second, FollowRedirects: true}
	if h.FollowRedirects != nil {
		hc.FollowRedirects = *h.FollowRedirects
	}
	for _, d := range []struct {
		v   *intstr.IntOrString
		dst *time.Duration
		f   string
	}{{h.Interval, &hc.Interval, "interval"}, {h.Timeout, &hc.Timeout, "timeout"}} {
		if d.v != nil {
			v, err := spec.ParseDuration(d.v.String())
			if err != nil || v <= 0 {
				return nil, fmt.Errorf("%s %q: must be a positive duration", d.f, d.v.String())
			}
			*d.dst = v
		}
	}
	hc.UnhealthyInterval = hc.Interval
	if h.UnhealthyInterval != nil {
		v, err := spec.ParseDuration(h.UnhealthyInterval.String())
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("unhealthyInterval %q: must be a positive duration", h.UnhealthyInterval.String())
		}
		hc.UnhealthyInterval = v
	}
	if hc.Path != "" {
		if u, err := url.Parse(hc.Path); err != nil || u.Host != "" || u.Scheme != "" {
			return nil, fmt.Errorf("path %q must be a relative URL", hc.Path)
		}
	}
	return hc, nil
}

// servers resolves the backend addresses of a Service port.
func (t *translator) servers(lb crd.LoadBalancerSpec) (out []spec.Server, err error) {
	k := key(lb.Namespace, lb.Name)
	t.deps.used[k] = true
	defer func() {
		if err != nil {
			t.deps.failed[k] = true
		}
	}()
	if lb.NodePortLB {
		t.deps.nodes = true
	}
	svc := t.svcs[key(lb.Namespace, lb.Name)]
	if svc == nil {
		return nil, fmt.Errorf("kubernetes service not found: %s/%s", lb.Namespace, lb.Name)
	}
	port, err := servicePort(svc, lb.Port)
	if err != nil {
		return nil, fmt.Errorf("service %s/%s: %w", lb.Namespace, lb.Name, err)
	}
	scheme, err := protocol(lb.Scheme, port.Name, port.Port)
	if err != nil {
		return nil, fmt.Errorf("service %s/%s: %w", lb.Namespace, lb.Name, err)
	}
	if svc.Spec.Type != corev1.ServiceTypeExternalName && lb.HealthCheck != nil {
		return nil, fmt.Errorf("healthCheck allowed only for ExternalName services: %s/%s", lb.Namespace, lb.Name)
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		if !t.opts.AllowExternalNameServices {
			return nil, fmt.Errorf("externalName services not allowed: %s/%s", lb.Namespace, lb.Name)
		}
		return []spec.Server{{URL: scheme + "://" + net.JoinHostPort(svc.Spec.ExternalName, strconv.Itoa(int(port.Port)))}}, nil
	}
	native := t.opts.NativeLBByDefault
	if lb.NativeLB != nil {
		native = *lb.NativeLB
	}
	if native {
		ip := svc.Spec.ClusterIP
		if ip == "" || ip == corev1.ClusterIPNone {
			return nil, fmt.Errorf("service %s/%s: nativeLB needs a ClusterIP (the service is headless or has none)", lb.Namespace, lb.Name)
		}
		return []spec.Server{{URL: scheme + "://" + net.JoinHostPort(ip, strconv.Itoa(int(port.Port)))}}, nil
	}
	var servers []spec.Server
	if svc.Spec.Type == corev1.ServiceTypeNodePort && lb.NodePortLB {
		for _, n := range t.objs.Nodes {
			for _, a := range n.Status.Addresses {
				if a.Type == corev1.NodeInternalIP {
					servers = append(servers, spec.Server{URL: scheme + "://" + net.JoinHostPort(a.Address, strconv.Itoa(int(port.NodePort)))})
				}
			}
		}
		if len(servers) == 0 {
			return nil, fmt.Errorf("nodes not found for NodePort service %s/%s", lb.Namespace, lb.Name)
		}
		return servers, nil
	}
	seen := map[string]bool{}
	for _, es := range t.slices[key(lb.Namespace, lb.Name)] {
		var epPort int32
		for _, p := range es.Ports {
			if p.Name != nil && *p.Name == port.Name && p.Port != nil {
				epPort = *p.Port
				break
			}
		}
		if epPort == 0 {
			continue
		}
		for _, ep := range es.Endpoints {
			if ep.Conditions.Serving != nil && !*ep.Conditions.Serving {
				continue
			}
			fenced := ep.Conditions.Terminating != nil && *ep.Conditions.Terminating
			for _, addr := range ep.Addresses {
				if seen[addr] {
					continue
				}
				seen[addr] = true
				servers = append(servers, spec.Server{URL: scheme + "://" + net.JoinHostPort(addr, strconv.Itoa(int(epPort))), Fenced: fenced})
			}
		}
	}
	if len(servers) == 0 && !t.opts.AllowEmptyServices {
		return nil, fmt.Errorf("no servers found for %s/%s", lb.Namespace, lb.Name)
	}
	return servers, nil
}

// servicePort finds the Service port a reference names, by number or by
// name. An ExternalName service accepts a port number it does not list.
func servicePort(svc *corev1.Service, p intstr.IntOrString) (corev1.ServicePort, error) {
	if p.Type == intstr.Int && p.IntVal == 0 || p.Type == intstr.String && p.StrVal == "" {
		return corev1.ServicePort{}, errors.New("ingressRoute service port not defined")
	}
	for _, sp := range svc.Spec.Ports {
		if p.Type == intstr.Int && p.IntVal == sp.Port || p.Type == intstr.String && p.StrVal == sp.Name {
			return sp, nil
		}
	}
	if svc.Spec.Type != corev1.ServiceTypeExternalName || p.Type == intstr.String {
		return corev1.ServicePort{}, fmt.Errorf("service port not found: %s", p.String())
	}
	return corev1.ServicePort{Port: p.IntVal}, nil
}

// protocol is the backend scheme: an explicit http, https or h2c, else https
// for port 443 or a port name starting with "https", else http.
func protocol(scheme, portName string, port int32) (string, error) {
	switch scheme {
	case "http", "https", "h2c":
		return scheme, nil
	case "":
		if port == 443 || strings.HasPrefix(portName, "https") {
			return "https", nil
		}
		return "http", nil
	}
	return "", fmt.Errorf("invalid scheme %q specified", scheme)
}
