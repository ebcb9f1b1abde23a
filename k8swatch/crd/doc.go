// Package crd defines Go types for the HTTP custom resources of Traefik
// v3.7 (API group traefik.io, version v1alpha1): IngressRoute, Middleware,
// TraefikService, TLSOption, TLSStore and ServersTransport.
//
// The types mirror the JSON shape of Traefik v3.7.13's CustomResourceDefinitions
// field for field, so that a manifest Traefik accepts decodes here without
// loss, and a field Traefik's schema would refuse (a typo, a wrong case) is
// refused here too when decoded strictly. The Go field types sometimes differ
// from Traefik's own (for instance an optional duration is a pointer here so
// that "unset" and "zero" stay distinguishable), but every JSON name and
// every JSON value type matches.
//
// The package holds data only: it performs no defaulting and no validation
// beyond what decoding implies. Loading manifests is the job of package
// k8swatch/manifest, and giving meaning to the objects is the job of the
// translation layer.
//
// TCP and UDP kinds (IngressRouteTCP, MiddlewareTCP, ...) are deliberately
// absent: edgeroute only serves HTTP.
package crd

// GroupName is the API group of Traefik v3's custom resources.
const GroupName = "traefik.io"

// LegacyGroupName is the API group used by Traefik v2. Traefik v3 removed
// support for it and no longer watches its objects; edgeroute still decodes
// it (with the same schema) so that older manifests can be inspected and
// migrated, and leaves the policy decision to its callers.
const LegacyGroupName = "traefik.containo.us"

// Version is the only API version of both groups.
const Version = "v1alpha1"

// APIVersion is the apiVersion value of Traefik v3 objects.
const APIVersion = GroupName + "/" + Version

// LegacyAPIVersion is the apiVersion value of Traefik v2 objects.
const LegacyAPIVersion = LegacyGroupName + "/" + Version

// Kind names of the resources defined in this package, as they appear in a
// manifest's "kind" field.
const (
	KindIngressRoute     = "IngressRoute"
	KindMiddleware       = "Middleware"
	KindTraefikService   = "TraefikService"
	KindTLSOption        = "TLSOption"
	KindTLSStore         = "TLSStore"
	KindServersTransport = "ServersTransport"
)

// IsTraefikAPIVersion reports whether apiVersion names one of the two API
// groups this package models, in its only version.
func IsTraefikAPIVersion(apiVersion string) bool {
	return apiVersion == APIVersion || apiVersion == LegacyAPIVersion
}
