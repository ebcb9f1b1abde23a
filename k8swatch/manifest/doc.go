// Package manifest loads Kubernetes manifests from files and directories:
// the offline source of edgeroute's configuration, equivalent to the
// objects a cluster would hold after kubectl apply -f.
//
// # Input
//
// A file is YAML, possibly holding several documents separated by "---"
// lines, or a stream of JSON objects. A document holding a List (kind
// List, or a typed list such as ServiceList) is expanded into its items;
// items of a typed list may omit apiVersion and kind. Every object is
// located by a Source (file, line, document), and every problem names the
// same place.
//
// # Decoding
//
// Documents are converted with sigs.k8s.io/yaml and decoded with
// sigs.k8s.io/json, the libraries kubectl and the API server use, so
// values read the same way (YAML 1.1 booleans, case-sensitive field names,
// no number-to-string coercion).
//
// Most documents take a faster road to the same result. A parser for the
// YAML subset manifests are written in (fastyaml.go) reads a document into
// a small tree in one pass, and the tree is decoded straight into the Go
// types (fastdecode.go). A document outside the subset, and any value the
// direct decoding does not reproduce exactly, goes the way described
// above, so objects and problems never differ: FuzzFastYAML and
// TestFastYAMLDifferential compare the two roads. The documents of all
// files are decoded on every core.
//
// The six HTTP kinds of Traefik (package crd), in API group traefik.io or
// the legacy traefik.containo.us, are decoded strictly: an unknown field,
// a field name in the wrong case or a duplicate field makes the object an
// Error, because Kubernetes' strict field validation would refuse it (and
// a lenient API server would silently drop the field, which is worse).
// Objects of the legacy group are used but also reported as a Warning:
// Traefik v3 does not read that group any more.
//
// The built-in kinds Traefik reads (core/v1 Service, Node, Secret and
// ConfigMap, discovery.k8s.io/v1 EndpointSlice) are decoded leniently:
// unknown fields are only a Warning, since a manifest may come from a
// newer Kubernetes version.
//
// Any other object (a Deployment, an IngressRouteTCP...) is reported with
// Severity Ignored, so that a user sees it is not used.
//
// # Defaults applied
//
// Decoding reproduces the few changes the API server makes that matter to
// a reader: a namespaced object without a namespace is put in "default",
// a Node (cluster-scoped) has its namespace cleared, and a Secret's
// stringData is folded into data. Nothing else is defaulted; the
// translation layer owns Traefik's defaults.
//
// # Robustness
//
// A document that fails to parse or decode becomes a Problem and is
// skipped; every other document of the same file is still returned.
// Neither Load nor Decode ever panics, whatever the input.
package manifest
