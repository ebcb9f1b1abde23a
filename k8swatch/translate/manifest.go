package translate

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/edgeroute/edgeroute/k8swatch/crd"
	"github.com/edgeroute/edgeroute/k8swatch/manifest"
)

// FromManifest turns decoded manifests into translation input, with each
// object's file and line for problem reports (Objects.Where).
func FromManifest(m *manifest.Objects) *Objects {
	out := &Objects{}
	where := make(map[[3]string]manifest.Source, len(m.IngressRoutes)+len(m.Middlewares)+len(m.TraefikServices)+len(m.Services)+len(m.Secrets))
	collect(&out.IngressRoutes, m.IngressRoutes, "IngressRoute", where, func(o *manifest.IngressRoute) (*crd.IngressRoute, string, string, manifest.Source) {
		return &o.IngressRoute, o.Namespace, o.Name, o.Source
	})
	collect(&out.TraefikServices, m.TraefikServices, "TraefikService", where, func(o *manifest.TraefikService) (*crd.TraefikService, string, string, manifest.Source) {
		return &o.TraefikService, o.Namespace, o.Name, o.Source
	})
	collect(&out.Middlewares, m.Middlewares, "Middleware", where, func(o *manifest.Middleware) (*crd.Middleware, string, string, manifest.Source) {
		return &o.Middleware, o.Namespace, o.Name, o.Source
	})
	collect(&out.TLSOptions, m.TLSOptions, "TLSOption", where, func(o *manifest.TLSOption) (*crd.TLSOption, string, string, manifest.Source) {
		return &o.TLSOption, o.Namespace, o.Name, o.Source
	})
	collect(&out.TLSStores, m.TLSStores, "TLSStore", where, func(o *manifest.TLSStore) (*crd.TLSStore, string, string, manifest.Source) {
		return &o.TLSStore, o.Namespace, o.Name, o.Source
	})
	collect(&out.ServersTransports, m.ServersTransports, "ServersTransport", where, func(o *manifest.ServersTransport) (*crd.ServersTransport, string, string, manifest.Source) {
		return &o.ServersTransport, o.Namespace, o.Name, o.Source
	})
	collect(&out.ConfigMaps, m.ConfigMaps, "ConfigMap", where, func(o *manifest.ConfigMap) (*corev1.ConfigMap, string, string, manifest.Source) {
		return &o.ConfigMap, o.Namespace, o.Name, o.Source
	})
	collect(&out.Services, m.Services, "Service", where, func(o *manifest.Service) (*corev1.Service, string, string, manifest.Source) {
		return &o.Service, o.Namespace, o.Name, o.Source
	})
	collect(&out.Secrets, m.Secrets, "Secret", where, func(o *manifest.Secret) (*corev1.Secret, string, string, manifest.Source) {
		return &o.Secret, o.Namespace, o.Name, o.Source
	})
	collect(&out.EndpointSlices, m.EndpointSlices, "", nil, func(o *manifest.EndpointSlice) (*discoveryv1.EndpointSlice, string, string, manifest.Source) {
		return &o.EndpointSlice, "", "", o.Source
	})
	collect(&out.Nodes, m.Nodes, "", nil, func(o *manifest.Node) (*corev1.Node, string, string, manifest.Source) {
		return &o.Node, "", "", o.Source
	})
	out.Where = func(kind, ns, name string) (string, int) {
		s := where[[3]string{kind, ns, name}]
		return s.File, s.Line
	}
	return out
}

// collect appends a pointer to each decoded object to dst and, when where
// is set, notes the object's place under kind.
func collect[W, O any](dst *[]*O, src []W, kind string, where map[[3]string]manifest.Source, get func(*W) (*O, string, string, manifest.Source)) {
	*dst = slices.Grow(*dst, len(src))
	for i := range src {
		o, ns, name, s := get(&src[i])
		*dst = append(*dst, o)
		if where != nil {
			where[[3]string{kind, ns, name}] = s
		}
	}
}
