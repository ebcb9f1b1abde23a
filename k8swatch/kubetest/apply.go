package kubetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// FieldManager is the server-side apply field manager that Apply uses.
const FieldManager = "edgeroute-kubetest"

// Apply creates or updates every object of docs, a stream of YAML (or JSON)
// documents separated by "---", in order. It uses server-side apply with
// force, so applying the same documents again changes nothing, and an edited
// document replaces the fields it applied before (fields it no longer names
// are removed). Namespaced objects without a namespace go to "default".
//
// A kind the server does not serve yet, such as a custom resource whose CRD
// was just created, is looked up again with fresh discovery for up to 10 s;
// call WaitCRDs first to make that wait short.
func Apply(ctx context.Context, cfg *rest.Config, docs []byte) error {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(docs), 4096)
	for n := 1; ; n++ {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("kubetest: apply: object %d: %w", n, err)
		}
		if len(obj.Object) == 0 { // an empty document
			n--
			continue
		}
		if err := applyOne(ctx, dyn, mapper, obj); err != nil {
			return fmt.Errorf("kubetest: apply: object %d (%s %s): %w", n, obj.GetKind(), obj.GetName(), err)
		}
	}
}

func applyOne(ctx context.Context, dyn dynamic.Interface, mapper *restmapper.DeferredDiscoveryRESTMapper, obj *unstructured.Unstructured) error {
	gvk := obj.GroupVersionKind()
	if gvk.Kind == "" || gvk.Version == "" {
		return errors.New("apiVersion and kind are required")
	}
	giveUp := time.Now().Add(10 * time.Second)
	var mapping *meta.RESTMapping
	for {
		var err error
		mapping, err = mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err == nil {
			break
		}
		if !meta.IsNoMatchError(err) || time.Now().After(giveUp) {
			return err
		}
		// Kinds appear at run time as CRDs become established.
		mapper.Reset()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	var client dynamic.ResourceInterface = dyn.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		if obj.GetNamespace() == "" {
			obj.SetNamespace(metav1.NamespaceDefault)
		}
		client = dyn.Resource(mapping.Resource).Namespace(obj.GetNamespace())
	}
	_, err := client.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
	return err
}

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// WaitCRDs waits until each named CustomResourceDefinition (for example
// "ingressroutes.traefik.io") exists and is Established, for at most 60 s or
// until ctx ends.
func WaitCRDs(ctx context.Context, cfg *rest.Config, names ...string) error {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for _, name := range names {
		for {
			crd, err := dyn.Resource(crdResource).Get(ctx, name, metav1.GetOptions{})
			if err == nil && established(crd) {
				break
			}
			if err != nil && !apierrors.IsNotFound(err) && ctx.Err() == nil {
				return fmt.Errorf("kubetest: CRD %s: %w", name, err)
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("kubetest: CRD %s not established: %w", name, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}

func established(crd *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		if c, ok := c.(map[string]any); ok && c["type"] == "Established" && c["status"] == "True" {
			return true
		}
	}
	return false
}

// Delete removes one object, named by apiVersion, kind, namespace (empty
// for cluster-scoped kinds) and name.
func Delete(ctx context.Context, cfg *rest.Config, apiVersion, kind, namespace, name string) error {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return err
	}
	mapping, err := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)).RESTMapping(schema.GroupKind{Group: gv.Group, Kind: kind}, gv.Version)
	if err != nil {
		return err
	}
	var client dynamic.ResourceInterface = dyn.Resource(mapping.Resource)
	if namespace != "" {
		client = dyn.Resource(mapping.Resource).Namespace(namespace)
	}
	return client.Delete(ctx, name, metav1.DeleteOptions{})
}
