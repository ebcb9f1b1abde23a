package k8swatch

import (
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/k8swatch/crd"
	"github.com/edgeroute/edgeroute/k8swatch/translate"
)

// store holds the cluster's objects that translation reads, as the
// informers deliver them. Callers hold Kube.mu.
type store struct {
	// byKind maps kind → "apiVersion ns/name" → object.
	byKind map[string]map[string]any
	// slices are the EndpointSlices by Service "ns/name", then slice name.
	slices map[string]map[string]*discoveryv1.EndpointSlice
	// sliceOwner is the Service of each slice ("ns/name" → "ns/name").
	sliceOwner map[string]string
}

func newStore() *store {
	return &store{byKind: map[string]map[string]any{}, slices: map[string]map[string]*discoveryv1.EndpointSlice{},
		sliceOwner: map[string]string{}}
}

func objKey(obj any) (key, ns, name string) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return "", "", ""
	}
	apiVersion := apiVersionOf(obj)
	return apiVersion + " " + m.GetNamespace() + "/" + m.GetName(), m.GetNamespace(), m.GetName()
}

// put stores obj and returns the Services whose endpoints it moves (for
// an EndpointSlice: its Service, and the one it left if relabelled).
func (s *store) put(kind string, obj any) []string {
	key, ns, name := objKey(obj)
	if key == "" {
		return nil
	}
	if kind == "EndpointSlice" {
		es := obj.(*discoveryv1.EndpointSlice)
		return s.putSlice(ns+"/"+name, es)
	}
	if s.byKind[kind] == nil {
		s.byKind[kind] = map[string]any{}
	}
	s.byKind[kind][key] = obj
	return nil
}

func (s *store) remove(kind string, obj any) []string {
	key, ns, name := objKey(obj)
	if key == "" {
		return nil
	}
	if kind == "EndpointSlice" {
		return s.putSlice(ns+"/"+name, nil)
	}
	delete(s.byKind[kind], key)
	return nil
}

// putSlice stores (or, when es is nil, removes) an EndpointSlice.
func (s *store) putSlice(id string, es *discoveryv1.EndpointSlice) []string {
	var touched []string
	if old, ok := s.sliceOwner[id]; ok {
		delete(s.slices[old], id)
		if len(s.slices[old]) == 0 {
			delete(s.slices, old)
		}
		delete(s.sliceOwner, id)
		touched = append(touched, old)
	}
	if es == nil {
		return touched
	}
	svc := es.Labels[discoveryv1.LabelServiceName]
	if svc == "" {
		return touched
	}
	owner := es.Namespace + "/" + svc
	if s.slices[owner] == nil {
		s.slices[owner] = map[string]*discoveryv1.EndpointSlice{}
	}
	s.slices[owner][id] = es
	s.sliceOwner[id] = owner
	if len(touched) == 0 || touched[0] != owner {
		touched = append(touched, owner)
	}
	return touched
}

// objects is the translation input: every object, in no particular order
// (translation sorts).
func (s *store) objects() *translate.Objects {
	out := &translate.Objects{}
	for _, o := range s.byKind["IngressRoute"] {
		if ir, ok := o.(*crd.IngressRoute); ok {
			out.IngressRoutes = append(out.IngressRoutes, ir)
		}
	}
	for _, o := range s.byKind["TraefikService"] {
		if ts, ok := o.(*crd.TraefikService); ok {
			out.TraefikServices = append(out.TraefikServices, ts)
		}
	}
	for _, o := range s.byKind["Middleware"] {
		if mw, ok := o.(*crd.Middleware); ok {
			out.Middlewares = append(out.Middlewares, mw)
		}
	}
	for _, o := range s.byKind["Service"] {
		out.Services = append(out.Services, o.(*corev1.Service))
	}
	for _, m := range s.slices {
		for _, es := range m {
			out.EndpointSlices = append(out.EndpointSlices, es)
		}
	}
	out.Nodes = s.nodes()
	for _, o := range s.byKind["Secret"] {
		out.Secrets = append(out.Secrets, o.(*corev1.Secret))
	}
	for _, o := range s.byKind["TLSOption"] {
		if x, ok := o.(*crd.TLSOption); ok {
			out.TLSOptions = append(out.TLSOptions, x)
		}
	}
	for _, o := range s.byKind["TLSStore"] {
		if x, ok := o.(*crd.TLSStore); ok {
			out.TLSStores = append(out.TLSStores, x)
		}
	}
	for _, o := range s.byKind["ServersTransport"] {
		if x, ok := o.(*crd.ServersTransport); ok {
			out.ServersTransports = append(out.ServersTransports, x)
		}
	}
	for _, o := range s.byKind["ConfigMap"] {
		out.ConfigMaps = append(out.ConfigMaps, o.(*corev1.ConfigMap))
	}
	return out
}

func (s *store) nodes() []*corev1.Node {
	var out []*corev1.Node
	for _, o := range s.byKind["Node"] {
		out = append(out, o.(*corev1.Node))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// serviceObjects is the input of the endpoint fast path for one Service.
func (s *store) serviceObjects(ns, name string) *translate.Objects {
	out := &translate.Objects{Nodes: s.nodes()}
	if svc, ok := s.byKind["Service"][" "+ns+"/"+name].(*corev1.Service); ok {
		out.Services = []*corev1.Service{svc}
	}
	for _, es := range s.slices[ns+"/"+name] {
		out.EndpointSlices = append(out.EndpointSlices, es)
	}
	return out
}

// problems are those of the objects themselves: Traefik objects that do
// not decode, and objects in the group Traefik v3 no longer reads.
func (s *store) problems() []spec.Problem {
	var out []spec.Problem
	for kind, m := range s.byKind {
		for _, o := range m {
			switch o := o.(type) {
			case *invalidObject:
				out = append(out, spec.Problem{Ref: spec.Ref{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name},
					Err: fmt.Errorf("%s %s/%s does not decode: %v", o.Kind, o.Namespace, o.Name, o.Err)})
			case metav1.Object:
				if av := apiVersionOf(o); av == crd.LegacyAPIVersion {
					out = append(out, spec.Problem{Ref: spec.Ref{Kind: kind, Namespace: o.GetNamespace(), Name: o.GetName()}, Warning: true,
						Err: fmt.Errorf("%s is %s, a group removed in Traefik v3; edgeroute reads it, move it to %s", kind, crd.LegacyGroupName, crd.APIVersion)})
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Error() < out[j].Error() })
	return out
}

func apiVersionOf(o any) string {
	switch o := o.(type) {
	case *crd.IngressRoute:
		return o.APIVersion
	case *crd.TraefikService:
		return o.APIVersion
	case *crd.Middleware:
		return o.APIVersion
	case *crd.TLSOption:
		return o.APIVersion
	case *crd.TLSStore:
		return o.APIVersion
	case *crd.ServersTransport:
		return o.APIVersion
	case *invalidObject:
		return o.APIVersion
	}
	return ""
}

// reference locates an object for an Event.
func (s *store) reference(kind, ns, name string) *corev1.ObjectReference {
	for _, av := range []string{crd.APIVersion, crd.LegacyAPIVersion, "v1", ""} {
		o, ok := s.byKind[kind][av+" "+ns+"/"+name].(metav1.Object)
		if !ok {
			continue
		}
		if av == "" {
			av = "v1"
		}
		return &corev1.ObjectReference{Kind: kind, APIVersion: av, Namespace: ns, Name: name, UID: o.GetUID(),
			ResourceVersion: o.GetResourceVersion()}
	}
	return nil
}
