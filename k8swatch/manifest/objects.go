package manifest

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/edgeroute/edgeroute/k8swatch/crd"
)

// Source locates the document an object was decoded from. Objects
// expanded from a List share the List's Source.
type Source struct {
	// File is the path of the file, as given to Load or Decode.
	File string
	// Line is the 1-based line where the document's content starts.
	Line int
	// Doc is the 1-based index of the document within the file.
	Doc int
}

// String renders the source as "file:line (document n)".
func (s Source) String() string {
	return Problem{File: s.File, Line: s.Line, Doc: s.Doc}.location()
}

// The types below wrap each decoded object with its Source. The object is
// embedded, so its fields read as usual (ir.Name, ir.Spec.Routes) and a
// pointer to it is one field away (&ir.IngressRoute).

// IngressRoute is a decoded IngressRoute and where it came from.
type IngressRoute struct {
	crd.IngressRoute
	// Source locates the manifest document.
	Source Source
}

// Middleware is a decoded Middleware and where it came from.
type Middleware struct {
	crd.Middleware
	// Source locates the manifest document.
	Source Source
}

// TraefikService is a decoded TraefikService and where it came from.
type TraefikService struct {
	crd.TraefikService
	// Source locates the manifest document.
	Source Source
}

// TLSOption is a decoded TLSOption and where it came from.
type TLSOption struct {
	crd.TLSOption
	// Source locates the manifest document.
	Source Source
}

// TLSStore is a decoded TLSStore and where it came from.
type TLSStore struct {
	crd.TLSStore
	// Source locates the manifest document.
	Source Source
}

// ServersTransport is a decoded ServersTransport and where it came from.
type ServersTransport struct {
	crd.ServersTransport
	// Source locates the manifest document.
	Source Source
}

// Service is a decoded core/v1 Service and where it came from.
type Service struct {
	corev1.Service
	// Source locates the manifest document.
	Source Source
}

// EndpointSlice is a decoded discovery.k8s.io/v1 EndpointSlice and where
// it came from.
type EndpointSlice struct {
	discoveryv1.EndpointSlice
	// Source locates the manifest document.
	Source Source
}

// Node is a decoded core/v1 Node and where it came from. Nodes are
// cluster-scoped: their namespace is always empty.
type Node struct {
	corev1.Node
	// Source locates the manifest document.
	Source Source
}

// Secret is a decoded core/v1 Secret and where it came from. As the API
// server would, the decoder folds stringData into data, so only Data needs
// to be read.
type Secret struct {
	corev1.Secret
	// Source locates the manifest document.
	Source Source
}

// ConfigMap is a decoded core/v1 ConfigMap and where it came from.
// ServersTransport rootCAs may reference ConfigMaps, which is why they are
// decoded at all.
type ConfigMap struct {
	corev1.ConfigMap
	// Source locates the manifest document.
	Source Source
}

// Objects holds every object decoded from manifests, by kind. Within each
// slice, objects keep the order in which they were read: files in the
// order Load reads them, documents in file order, List items in list
// order.
type Objects struct {
	// IngressRoutes are the IngressRoutes of both Traefik API groups.
	IngressRoutes []IngressRoute
	// Middlewares are the Middlewares of both Traefik API groups.
	Middlewares []Middleware
	// TraefikServices are the TraefikServices of both Traefik API groups.
	TraefikServices []TraefikService
	// TLSOptions are the TLSOptions of both Traefik API groups.
	TLSOptions []TLSOption
	// TLSStores are the TLSStores of both Traefik API groups.
	TLSStores []TLSStore
	// ServersTransports are the ServersTransports of both Traefik API
	// groups.
	ServersTransports []ServersTransport
	// Services are the core/v1 Services.
	Services []Service
	// EndpointSlices are the discovery.k8s.io/v1 EndpointSlices.
	EndpointSlices []EndpointSlice
	// Nodes are the core/v1 Nodes.
	Nodes []Node
	// Secrets are the core/v1 Secrets.
	Secrets []Secret
	// ConfigMaps are the core/v1 ConfigMaps.
	ConfigMaps []ConfigMap
}

// Merge appends every object of other to o. It does not look for
// duplicates: Load and Decode already resolve them within their input,
// and a caller combining several sources decides its own precedence.
func (o *Objects) Merge(other *Objects) {
	if other == nil {
		return
	}
	o.IngressRoutes = append(o.IngressRoutes, other.IngressRoutes...)
	o.Middlewares = append(o.Middlewares, other.Middlewares...)
	o.TraefikServices = append(o.TraefikServices, other.TraefikServices...)
	o.TLSOptions = append(o.TLSOptions, other.TLSOptions...)
	o.TLSStores = append(o.TLSStores, other.TLSStores...)
	o.ServersTransports = append(o.ServersTransports, other.ServersTransports...)
	o.Services = append(o.Services, other.Services...)
	o.EndpointSlices = append(o.EndpointSlices, other.EndpointSlices...)
	o.Nodes = append(o.Nodes, other.Nodes...)
	o.Secrets = append(o.Secrets, other.Secrets...)
	o.ConfigMaps = append(o.ConfigMaps, other.ConfigMaps...)
}

// Len returns the total number of objects, all kinds together.
func (o *Objects) Len() int {
	if o == nil {
		return 0
	}
	return len(o.IngressRoutes) + len(o.Middlewares) + len(o.TraefikServices) +
		len(o.TLSOptions) + len(o.TLSStores) + len(o.ServersTransports) +
		len(o.Services) + len(o.EndpointSlices) + len(o.Nodes) +
		len(o.Secrets) + len(o.ConfigMaps)
}

// dedupe keeps, for each object identity, only the last object read, like
// applying the manifests in order to a cluster would, and reports each
// replaced object as a Warning.
func (o *Objects) dedupe() []Problem {
	var problems []Problem
	o.IngressRoutes = dedupeSlice(o.IngressRoutes, &problems, func(x IngressRoute) (objectID, Source) {
		return objectID{x.APIVersion, x.Kind, x.Namespace, x.Name}, x.Source
	})
	o.Middlewares = dedupeSlice(o.Middlewares, &problems, func(x Middleware) (objectID, Source) {
		return objectID{x.APIVersion, x.Kind, x.Namespace, x.Name}, x.Source
	})
	o.TraefikServices = dedupeSlice(o.TraefikServices, &problems, func(x TraefikService) (objectID, Source) {
		return objectID{x.APIVersion, x.Kind, x.Namespace, x.Name}, x.Source
	})
	o.TLSOptions = dedupeSlice(o.TLSOptions, &problems, func(x TLSOption) (objectID, Source) {
		return objectID{x.APIVersion, x.Kind, x.Namespace, x.Name}, x.Source
	})
	o.TLSStores = dedupeSlice(o.TLSStores, &problems, func(x TLSStore) (objectID, Source) {
		return objectID{x.APIVersion, x.Kind, x.Namespace, x.Name}, x.Source
	})
	o.ServersTransports = dedupeSlice(o.ServersTransports, &problems, func(x ServersTransport) (objectID, Source) {
		return objectID{x.APIVersion, x.Kind, x.Namespace, x.Name}, x.Source
	})
	o.Services = dedupeSlice(o.Services, &problems, func(x Service) (objectID, Source) {
		return objectID{x.APIVersion, x.Kind, x.Namespace, x.Name}, x.Source
	})
	o.EndpointSlices = dedupeSlice(o.EndpointSlices, &problems, func(x EndpointSlice) (objectID, Source) {
		return objectID{x.APIVersion, x.Kind, x.Namespace, x.Name}, x.Source
	})
	o.Nodes = dedupeSlice(o.Nodes, &problems, func(x Node) (objectID, Source) {
		return objectID{x.APIVersion, x.Kind, x.Namespace, x.Name}, x.Source
	})
	o.Secrets = dedupeSlice(o.Secrets, &problems, func(x Secret) (objectID, Source) {
		return objectID{x.APIVersion, x.Kind, x.Namespace, x.Name}, x.Source
	})
	o.ConfigMaps = dedupeSlice(o.ConfigMaps, &problems, func(x ConfigMap) (objectID, Source) {
		return objectID{x.APIVersion, x.Kind, x.Namespace, x.Name}, x.Source
	})
	return problems
}

// objectID identifies an object the way the API server does: two objects
// of different API groups are different resources even with the same kind
// and name. The version is part of apiVersion, but every kind here has a
// single version, so comparing apiVersion is enough.
type objectID struct {
	apiVersion, kind, namespace, name string
}

// dedupeSlice drops every object that a later object of the same identity
// replaces, keeping the survivors in their original order.
func dedupeSlice[T any](items []T, problems *[]Problem, id func(T) (objectID, Source)) []T {
	last := make(map[objectID]int, len(items))
	for i, it := range items {
		k, _ := id(it)
		last[k] = i
	}
	if len(last) == len(items) {
		return items
	}
	kept := items[:0:0]
	for i, it := range items {
		k, src := id(it)
		j := last[k]
		if j == i {
			kept = append(kept, it)
			continue
		}
		_, by := id(items[j])
		*problems = append(*problems, Problem{
			Severity:  Warning,
			File:      src.File,
			Line:      src.Line,
			Doc:       src.Doc,
			Kind:      k.kind,
			Namespace: k.namespace,
			Name:      k.name,
			Err:       fmt.Errorf("duplicate object, replaced by the one at %s", by),
		})
	}
	return kept
}
