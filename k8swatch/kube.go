package k8swatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/k8swatch/crd"
	"github.com/edgeroute/edgeroute/k8swatch/translate"
)

// KubeOptions configure the cluster provider (Traefik's kubernetesCRD).
type KubeOptions struct {
	// Endpoint, Token and CertAuthFilePath connect to the API server. When
	// Endpoint is empty, the in-cluster configuration is used inside a pod,
	// else $KUBECONFIG.
	Endpoint, Token, CertAuthFilePath string
	// Config, when set, is used as is (tests).
	Config *rest.Config
	// Namespaces limits the watch; empty means all.
	Namespaces []string
	// LabelSelector filters the traefik.io objects.
	LabelSelector string
	// ThrottleDuration is the least time between two full rebuilds.
	ThrottleDuration time.Duration
	// Translate are the translation options.
	Translate Options
}

// Sink receives configurations: the engine's Server.
type Sink interface {
	Apply(*spec.Snapshot) []spec.Problem
	UpdateEndpoints(map[string][]spec.Server)
}

// Rebuild pacing: a full rebuild waits for kubeQuiet without further
// changes (a kubectl apply of many objects arrives as a burst), at most
// kubeMaxDelay. Endpoint changes take the fast path without waiting.
const (
	kubeQuiet    = 10 * time.Millisecond
	kubeMaxDelay = 500 * time.Millisecond
)

// secretFieldSelector leaves out Secrets that routing never uses and that
// large clusters hold by the thousand: Helm release records and service
// account tokens (traefik#7384).
const secretFieldSelector = "type!=helm.sh/release.v1,type!=kubernetes.io/service-account-token"

// secretKeys are the Secret keys Traefik's CRDs can refer to: certificates
// and keys (TLS, ServersTransport), CA bundles (clientAuth, rootCAs) and
// the user lists of the auth middlewares. The rest of a Secret is dropped
// before caching.
var secretKeys = map[string]bool{"tls.crt": true, "tls.key": true, "tls.ca": true, "ca.crt": true, "users": true}

// configMapKeys are the ConfigMap keys a ServersTransport's rootCAs read;
// ConfigMaps are cached with those only (most hold neither).
var configMapKeys = map[string]bool{"tls.ca": true, "ca.crt": true}

// traefikGroups are watched in this order; traefik.containo.us is the
// group Traefik v2 used (v3 dropped it; we still read it, with a warning).
var traefikGroups = []string{crd.GroupName, "traefik.containo.us"}

// traefikKinds are the HTTP kinds, by plural resource name.
var traefikKinds = map[string]string{
	"ingressroutes":     "IngressRoute",
	"traefikservices":   "TraefikService",
	"middlewares":       "Middleware",
	"tlsoptions":        "TLSOption",
	"tlsstores":         "TLSStore",
	"serverstransports": "ServersTransport",
}

// Kube is the cluster provider: informers for the Traefik kinds, Services,
// EndpointSlices, Secrets, ConfigMaps and Nodes feed one object store; every change to
// what routing reads leads to a rebuild, except EndpointSlice changes,
// which update only their Service's endpoint tables.
//
// It uses only client-go's dynamic client and informer machinery, not the
// typed clientset, whose scheme registers every Kubernetes API group at
// start (about 10 MB more binary in memory, for kinds edgeroute never
// reads): objects are converted to their Go types before caching.
type Kube struct {
	opts   KubeOptions
	log    *slog.Logger
	dyn    dynamic.Interface
	events *eventReporter

	mu      sync.Mutex
	st      *store
	full    bool            // a change needs a full rebuild
	epDirty map[string]bool // "ns/name" of Services whose EndpointSlices changed
	wake    chan struct{}
	deps    *translate.Deps // of the configuration in service
	synced  bool
}

// NewKube connects to the cluster (no request is made yet).
func NewKube(opts KubeOptions, log *slog.Logger) (*Kube, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := restConfig(opts)
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "edgeroute"
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	k := &Kube{opts: opts, log: log.With("component", "kubernetes"), dyn: dyn,
		st: newStore(), epDirty: map[string]bool{}, wake: make(chan struct{}, 1)}
	k.events = newEventReporter(dyn, k.log)
	return k, nil
}

// restConfig follows Traefik: an explicit endpoint (with token and CA),
// else the pod's service account, else $KUBECONFIG.
func restConfig(o KubeOptions) (*rest.Config, error) {
	if o.Config != nil {
		return o.Config, nil
	}
	inCluster := os.Getenv("KUBERNETES_SERVICE_HOST") != "" && os.Getenv("KUBERNETES_SERVICE_PORT") != ""
	switch {
	case inCluster:
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster configuration: %w", err)
		}
		if o.Endpoint != "" {
			cfg.Host = o.Endpoint
		}
		return cfg, nil
	case o.Endpoint == "" && os.Getenv("KUBECONFIG") != "":
		cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
		if err != nil {
			return nil, fmt.Errorf("KUBECONFIG: %w", err)
		}
		return cfg, nil
	case o.Endpoint != "":
		cfg := &rest.Config{Host: o.Endpoint, BearerToken: o.Token}
		cfg.TLSClientConfig.CAFile = o.CertAuthFilePath
		return cfg, nil
	}
	return nil, errors.New("kubernetesCRD: no cluster to watch: not in a pod, no $KUBECONFIG and no --providers.kubernetesCRD.endpoint")
}

// Run watches the cluster and feeds sink. It applies the first
// configuration only once every cache has synced, then closes ready (so
// that the entry points open on a complete configuration), and returns
// when ctx ends.
func (k *Kube) Run(ctx context.Context, sink Sink, ready chan<- struct{}) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var syncs []cache.InformerSynced
	namespaces := k.opts.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	gvrs, err := k.servedKinds(ctx)
	if err != nil {
		return err
	}
	for _, ns := range namespaces {
		syncs = append(syncs,
			k.watch(k.informer(ctx, gvrService, ns, "", slim), "Service"),
			k.watch(k.informer(ctx, gvrEndpointSlice, ns, "", slim), "EndpointSlice"),
			k.watch(k.informer(ctx, gvrSecret, ns, secretFieldSelector, slim), "Secret"),
			k.watch(k.informer(ctx, gvrConfigMap, ns, "", slim), "ConfigMap"))
		for _, gvr := range gvrs {
			syncs = append(syncs, k.watch(k.informer(ctx, gvr, ns, "", toTyped), traefikKinds[gvr.Resource]))
		}
	}
	syncs = append(syncs, k.watch(k.informer(ctx, gvrNode, metav1.NamespaceAll, "", slim), "Node"))

	t0 := time.Now()
	if !cache.WaitForCacheSync(ctx.Done(), syncs...) {
		return fmt.Errorf("kubernetesCRD: caches did not sync: %w", context.Cause(ctx))
	}
	k.mu.Lock()
	k.synced = true
	k.mu.Unlock()
	k.log.Info("caches synced", "took", time.Since(t0).Round(time.Millisecond))
	k.rebuild(sink)
	if ready != nil {
		close(ready)
	}
	go k.events.run(ctx)

	var lastFull time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-k.wake:
		}
		k.mu.Lock()
		full := k.full
		k.mu.Unlock()
		if !full {
			k.endpoints(sink)
			continue
		}
		// Batch a burst: wait until it is quiet (bounded), and keep
		// full rebuilds at least ThrottleDuration apart.
		first := time.Now()
		for quiet := false; !quiet && time.Since(first) < kubeMaxDelay; {
			select {
			case <-ctx.Done():
				return nil
			case <-k.wake:
			case <-time.After(kubeQuiet):
				quiet = true
			}
		}
		if wait := k.opts.ThrottleDuration - time.Since(lastFull); wait > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
		}
		lastFull = time.Now()
		k.rebuild(sink)
	}
}

// servedKinds lists the Traefik resources the API server serves: the
// traefik.io CRDs must be installed; the legacy group is optional. A list
// of at most one object tells (discovery would link every API group).
func (k *Kube) servedKinds(ctx context.Context) ([]schema.GroupVersionResource, error) {
	var out []schema.GroupVersionResource
	for _, group := range traefikGroups {
		for resource := range traefikKinds {
			gvr := schema.GroupVersionResource{Group: group, Version: "v1alpha1", Resource: resource}
			_, err := k.dyn.Resource(gvr).List(ctx, metav1.ListOptions{Limit: 1})
			switch {
			case err == nil:
				out = append(out, gvr)
			case apierrors.IsNotFound(err):
				if group == crd.GroupName && resource == "ingressroutes" {
					return nil, fmt.Errorf("kubernetesCRD: the %s CustomResourceDefinitions are not installed (deploy/crds): %w", crd.GroupName, err)
				}
			default:
				return nil, fmt.Errorf("kubernetesCRD: listing %s: %w", gvr.GroupResource(), err)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out, nil
}

// Core resources the provider watches.
var (
	gvrService       = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	gvrSecret        = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	gvrConfigMap     = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	gvrNode          = schema.GroupVersionResource{Version: "v1", Resource: "nodes"}
	gvrEndpointSlice = schema.GroupVersionResource{Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices"}
)

// informer watches one resource in one namespace through the dynamic
// client; transform turns each object into what the cache keeps.
func (k *Kube) informer(ctx context.Context, gvr schema.GroupVersionResource, ns, fieldSelector string, transform cache.TransformFunc) cache.SharedIndexInformer {
	res := k.dyn.Resource(gvr).Namespace(ns)
	tweak := func(o *metav1.ListOptions) {
		o.FieldSelector = fieldSelector
		if gvr.Group == crd.GroupName || gvr.Group == crd.LegacyGroupName {
			o.LabelSelector = k.opts.LabelSelector
		}
	}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			tweak(&o)
			return res.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			tweak(&o)
			return res.Watch(ctx, o)
		},
	}
	inf := cache.NewSharedIndexInformer(lw, &unstructured.Unstructured{}, 0, cache.Indexers{})
	_ = inf.SetTransform(func(obj any) (any, error) {
		obj, err := toCore(obj)
		if err != nil {
			return nil, err
		}
		return transform(obj)
	})
	go inf.RunWithContext(ctx)
	return inf
}

// toCore converts a watched core object to its Go type.
func toCore(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil
	}
	var typed any
	switch u.GetKind() {
	case "Service":
		typed = &corev1.Service{}
	case "Secret":
		typed = &corev1.Secret{}
	case "ConfigMap":
		typed = &corev1.ConfigMap{}
	case "Node":
		typed = &corev1.Node{}
	case "EndpointSlice":
		typed = &discoveryv1.EndpointSlice{}
	default:
		return obj, nil
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, typed); err != nil {
		return nil, fmt.Errorf("%s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
	return typed, nil
}

// watch routes an informer's events to the store.
func (k *Kube) watch(inf cache.SharedIndexInformer, kind string) cache.InformerSynced {
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { k.changed(kind, nil, obj) },
		UpdateFunc: func(old, obj any) { k.changed(kind, old, obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			k.deleted(kind, obj)
		},
	})
	return inf.HasSynced
}

func (k *Kube) changed(kind string, old, obj any) {
	if old != nil && !relevantChange(old, obj) {
		return // a resync, a status or metadata-only update
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.mark(kind, obj, k.st.put(kind, obj))
}

func (k *Kube) deleted(kind string, obj any) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.mark(kind, obj, k.st.remove(kind, obj))
}

// mark records what a change needs and wakes the loop; svcs are the
// "ns/name" Services whose EndpointSlices moved.
func (k *Kube) mark(kind string, obj any, svcs []string) {
	switch kind {
	case "EndpointSlice":
		if len(svcs) == 0 {
			return
		}
		for _, svc := range svcs {
			k.epDirty[svc] = true
		}
	case "Secret":
		// Only Secrets the configuration reads (or looked for and did not
		// find) change it.
		if k.deps != nil && !k.usesSecret(obj) {
			return
		}
		k.full = true
	case "ConfigMap":
		// Likewise for the ConfigMaps of ServersTransport rootCAs.
		if m, ok := obj.(metav1.Object); ok && k.deps != nil && !k.deps.UsesConfigMap(m.GetNamespace(), m.GetName()) {
			return
		}
		k.full = true
	case "Node":
		if k.deps != nil && !k.deps.UsesNodes() {
			return
		}
		k.full = true
	default:
		k.full = true
	}
	if !k.synced {
		return
	}
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

func (k *Kube) usesSecret(obj any) bool {
	m, ok := obj.(metav1.Object)
	return !ok || k.deps.UsesSecret(m.GetNamespace(), m.GetName())
}

// endpoints is the fast path: the endpoint tables of the Services whose
// EndpointSlices changed, or a full rebuild when one declines.
func (k *Kube) endpoints(sink Sink) {
	k.mu.Lock()
	dirty := k.epDirty
	k.epDirty = map[string]bool{}
	changes := map[string][]spec.Server{}
	for svc := range dirty {
		ns, name, _ := strings.Cut(svc, "/")
		tables, ok := k.deps.Endpoints(k.st.serviceObjects(ns, name), k.opts.Translate, ns, name)
		if !ok {
			k.full = true
			break
		}
		for key, servers := range tables {
			changes[key] = servers
		}
	}
	full := k.full
	k.mu.Unlock()
	if full {
		k.rebuild(sink)
		return
	}
	if len(changes) > 0 {
		sink.UpdateEndpoints(changes)
		k.log.Debug("endpoints updated", "tables", len(changes))
	}
}

// rebuild translates every object and applies the result.
func (k *Kube) rebuild(sink Sink) {
	t0 := time.Now()
	k.mu.Lock()
	objs := k.st.objects()
	k.full = false
	k.epDirty = map[string]bool{}
	snap, deps := translate.Translate(objs, k.opts.Translate)
	k.deps = deps
	problems := append(k.st.problems(), snap.Problems...)
	k.mu.Unlock()
	problems = append(problems, sink.Apply(snap)...)
	k.events.report(problems, func(kind, ns, name string) *corev1.ObjectReference {
		k.mu.Lock()
		defer k.mu.Unlock()
		return k.st.reference(kind, ns, name)
	})
	k.log.Info("configuration applied", "routers", len(snap.Routers), "services", len(snap.Services),
		"problems", len(problems), "took", time.Since(t0).Round(time.Microsecond))
}

// relevantChange drops updates that cannot change routing: resyncs (same
// resourceVersion) and changes outside what translation reads.
func relevantChange(old, obj any) bool {
	o, ok1 := old.(metav1.Object)
	n, ok2 := obj.(metav1.Object)
	if ok1 && ok2 && o.GetResourceVersion() == n.GetResourceVersion() {
		return false
	}
	switch n := obj.(type) {
	case *corev1.Service:
		o, ok := old.(*corev1.Service)
		return !ok || !reflect.DeepEqual(o.Spec, n.Spec)
	case *discoveryv1.EndpointSlice:
		o, ok := old.(*discoveryv1.EndpointSlice)
		return !ok || !reflect.DeepEqual(o.Endpoints, n.Endpoints) || !reflect.DeepEqual(o.Ports, n.Ports) ||
			o.Labels[discoveryv1.LabelServiceName] != n.Labels[discoveryv1.LabelServiceName]
	case *corev1.Node:
		o, ok := old.(*corev1.Node)
		return !ok || !reflect.DeepEqual(o.Status.Addresses, n.Status.Addresses)
	case *corev1.Secret:
		o, ok := old.(*corev1.Secret)
		return !ok || o.Type != n.Type || !reflect.DeepEqual(o.Data, n.Data)
	case *corev1.ConfigMap:
		o, ok := old.(*corev1.ConfigMap)
		return !ok || !reflect.DeepEqual(o.Data, n.Data)
	}
	return true
}

// slim trims the typed objects kept in the informers' caches to what
// translation reads: large clusters hold many Nodes (with images and
// conditions), Secrets (with kubectl's last-applied copy) and ConfigMaps
// (of which only CA bundles are read).
func slim(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Node:
		return &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: o.Name, UID: o.UID, ResourceVersion: o.ResourceVersion},
			Status:     corev1.NodeStatus{Addresses: o.Status.Addresses},
		}, nil
	case *corev1.Secret:
		var data map[string][]byte
		for k, v := range o.Data {
			if secretKeys[k] {
				if data == nil {
					data = map[string][]byte{}
				}
				data[k] = v
			}
		}
		return &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: o.Name, Namespace: o.Namespace, UID: o.UID, ResourceVersion: o.ResourceVersion},
			Type:       o.Type,
			Data:       data,
		}, nil
	case *corev1.ConfigMap:
		var data map[string]string
		for k, v := range o.Data {
			if configMapKeys[k] {
				if data == nil {
					data = map[string]string{}
				}
				data[k] = v
			}
		}
		return &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: o.Name, Namespace: o.Namespace, UID: o.UID, ResourceVersion: o.ResourceVersion},
			Data:       data,
		}, nil
	case metav1.Object:
		o.SetManagedFields(nil)
		return obj, nil
	}
	return obj, nil
}

// toTyped turns a watched Traefik object into its Go type before it is
// cached, so the cache holds compact structs rather than JSON-like maps.
// An object that does not convert is kept as an invalidObject, reported
// on the object.
func toTyped(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil
	}
	var typed metav1.Object
	switch u.GetKind() {
	case "IngressRoute":
		typed = &crd.IngressRoute{}
	case "TraefikService":
		typed = &crd.TraefikService{}
	case "Middleware":
		typed = &crd.Middleware{}
	case "TLSOption":
		typed = &crd.TLSOption{}
	case "TLSStore":
		typed = &crd.TLSStore{}
	case "ServersTransport":
		typed = &crd.ServersTransport{}
	default:
		return obj, nil
	}
	u.SetManagedFields(nil)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, typed); err != nil {
		bad := &invalidObject{Kind: u.GetKind(), APIVersion: u.GetAPIVersion(), Err: err}
		bad.ObjectMeta = metav1.ObjectMeta{Name: u.GetName(), Namespace: u.GetNamespace(), UID: u.GetUID(), ResourceVersion: u.GetResourceVersion()}
		return bad, nil
	}
	return typed, nil
}

// invalidObject stands for a Traefik object that does not decode.
type invalidObject struct {
	metav1.ObjectMeta
	Kind, APIVersion string
	Err              error
}
