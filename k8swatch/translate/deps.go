package translate

import (
	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/k8swatch/crd"
)

// Deps records what a translation read from each Kubernetes Service, so
// that an EndpointSlice change can be applied without translating (and
// compiling) everything again: an EndpointSlice only ever moves the
// servers of the endpoint tables its Service feeds.
type Deps struct {
	tables map[string][]table // by "ns/name" of the Service
	used   map[string]bool    // every Service a route resolved, successfully or not
	failed map[string]bool    // Services some route failed to resolve
	nodes  bool               // some table lists node addresses (nodePortLB)
	// secrets are the Secrets translation read ("ns/name"), found or not.
	secrets map[string]bool
	// configMaps are the ConfigMaps translation read, found or not.
	configMaps map[string]bool
}

type table struct {
	key string // spec.LoadBalancer.EndpointsKey
	lb  crd.LoadBalancerSpec
}

func newDeps() *Deps {
	return &Deps{tables: map[string][]table{}, used: map[string]bool{}, failed: map[string]bool{}, secrets: map[string]bool{},
		configMaps: map[string]bool{}}
}

func (d *Deps) add(lb crd.LoadBalancerSpec, endpointsKey string) {
	k := key(lb.Namespace, lb.Name)
	for _, t := range d.tables[k] {
		if t.key == endpointsKey {
			return
		}
	}
	d.tables[k] = append(d.tables[k], table{key: endpointsKey, lb: lb})
}

// Uses reports whether the translation read Service namespace/name.
// Changes to objects it did not read (a Service no route names, its
// EndpointSlices) cannot change the configuration.
func (d *Deps) Uses(namespace, name string) bool { return d.used[key(namespace, name)] }

// UsesSecret reports whether the translation read (or looked for) Secret
// namespace/name.
func (d *Deps) UsesSecret(namespace, name string) bool { return d.secrets[key(namespace, name)] }

// UsesConfigMap reports whether the translation read (or looked for)
// ConfigMap namespace/name (a ServersTransport's rootCAs).
func (d *Deps) UsesConfigMap(namespace, name string) bool { return d.configMaps[key(namespace, name)] }

// UsesNodes reports whether some endpoint table lists node addresses.
func (d *Deps) UsesNodes() bool { return d.nodes }

// Endpoints recomputes the endpoint tables fed by Service namespace/name.
// objs needs only that Service, its EndpointSlices and the Nodes. ok is
// false when the change may alter more than servers, so that a full
// translation is needed: some route failed to resolve the Service (before,
// or now, say because its last server went away), since that decides
// whether the route exists at all. A Service the translation did not use
// gives an empty map and ok.
func (d *Deps) Endpoints(objs *Objects, opts Options, namespace, name string) (tables map[string][]spec.Server, ok bool) {
	k := key(namespace, name)
	if !d.used[k] {
		return nil, true
	}
	if d.failed[k] {
		return nil, false
	}
	t := &translator{objs: objs, opts: opts, deps: newDeps()}
	t.index()
	tables = map[string][]spec.Server{}
	for _, tb := range d.tables[k] {
		servers, err := t.servers(tb.lb)
		if err != nil {
			return nil, false
		}
		tables[tb.key] = servers
	}
	return tables, true
}
