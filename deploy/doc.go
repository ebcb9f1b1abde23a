// Package deploy holds the manifests that install edgeroute in a cluster:
// the CustomResourceDefinitions of Traefik's HTTP kinds (crds/, written by
// `make crds`), RBAC (rbac.yaml), the DaemonSet (daemonset.yaml) and a
// kustomization listing them. It has no code; its tests check that the
// CRDs are fresh and accept what Traefik's accept, and that the RBAC and
// DaemonSet keep their security properties.
package deploy
