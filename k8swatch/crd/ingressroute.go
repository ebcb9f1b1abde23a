package crd

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// IngressRoute is Traefik's HTTP routing resource: a set of rules, each
// sending matching requests through middlewares to backends.
type IngressRoute struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	// Spec is the desired routing configuration.
	Spec IngressRouteSpec `json:"spec"`
}

// IngressRouteSpec is the body of an IngressRoute.
type IngressRouteSpec struct {
	// IngressClassName selects the Traefik instance meant to serve this
	// route; it takes precedence over the deprecated
	// kubernetes.io/ingress.class annotation.
	IngressClassName *string `json:"ingressClassName,omitempty"`
	// EntryPoints restricts the route to the named entry points; empty
	// means Traefik's default entry points.
	EntryPoints []string `json:"entryPoints,omitempty"`
	// Routes are the routing rules. The schema marks the list as required
	// (it may be empty).
	Routes []Route `json:"routes"`
	// TLS, when set, makes the routers TLS routers.
	TLS *TLS `json:"tls,omitempty"`
	// ParentRefs attach the routes of this IngressRoute as children of the
	// routers of other IngressRoutes (multi-layer routing).
	ParentRefs []IngressRouteRef `json:"parentRefs,omitempty"`
}

// RouteKindRule is the only route kind Traefik supports. An empty kind is
// treated the same way.
const RouteKindRule = "Rule"

// Route is one routing rule of an IngressRoute.
type Route struct {
	// Match is the rule expression, such as Host(`example.com`). The
	// schema requires the field; Traefik skips a route whose rule is
	// empty.
	Match string `json:"match"`
	// Kind must be RouteKindRule or empty.
	Kind string `json:"kind,omitempty"`
	// Priority orders overlapping rules; 0 means "derive from the rule
	// length".
	Priority int `json:"priority,omitempty"`
	// Syntax selects the rule syntax ("v3", or "v2" for the legacy one);
	// empty means the entry point's or global default.
	Syntax string `json:"syntax,omitempty"`
	// Services are the backends. Several services are balanced by
	// weighted round robin.
	Services []Service `json:"services,omitempty"`
	// Middlewares are applied, in order, to requests matching the rule.
	Middlewares []MiddlewareRef `json:"middlewares,omitempty"`
	// Observability overrides per-router access log, metrics and tracing
	// settings.
	Observability *RouterObservabilityConfig `json:"observability,omitempty"`
}

// Tracing verbosities accepted by RouterObservabilityConfig.TraceVerbosity.
const (
	TraceVerbosityMinimal  = "minimal"
	TraceVerbosityDetailed = "detailed"
)

// RouterObservabilityConfig turns observability features on or off for
// one router. A nil field inherits the entry point's setting.
type RouterObservabilityConfig struct {
	// AccessLogs enables access logging for the router.
	AccessLogs *bool `json:"accessLogs,omitempty"`
	// Metrics enables metrics for the router.
	Metrics *bool `json:"metrics,omitempty"`
	// Tracing enables tracing for the router.
	Tracing *bool `json:"tracing,omitempty"`
	// TraceVerbosity is TraceVerbosityMinimal (the default) or
	// TraceVerbosityDetailed.
	TraceVerbosity string `json:"traceVerbosity,omitempty"`
}

// TLS configures TLS termination for the routes of an IngressRoute.
type TLS struct {
	// SecretName names a Secret (kubernetes.io/tls layout) in the
	// IngressRoute's namespace holding the certificate to serve.
	SecretName string `json:"secretName,omitempty"`
	// Options references a TLSOption; nil means the default option.
	Options *TLSOptionRef `json:"options,omitempty"`
	// Store references a TLSStore. The schema accepts it, but Traefik
	// v3.7 ignores it when building routers: certificates always come from
	// the store named "default".
	Store *TLSStoreRef `json:"store,omitempty"`
	// CertResolver names an ACME resolver that obtains certificates for
	// the routes' domains.
	CertResolver string `json:"certResolver,omitempty"`
	// Domains lists the certificate subjects to request from
	// CertResolver; when empty they are derived from the rules.
	Domains []Domain `json:"domains,omitempty"`
}

// TLSOptionRef references a TLSOption.
type TLSOptionRef struct {
	// Name is the TLSOption name, or a provider-qualified name.
	Name string `json:"name"`
	// Namespace is the TLSOption namespace; empty means the namespace of
	// the IngressRoute.
	Namespace string `json:"namespace,omitempty"`
}

// TLSStoreRef references a TLSStore.
type TLSStoreRef struct {
	// Name is the TLSStore name.
	Name string `json:"name"`
	// Namespace is the TLSStore namespace; empty means the namespace of
	// the IngressRoute.
	Namespace string `json:"namespace,omitempty"`
}

// IngressRouteRef references a parent IngressRoute.
type IngressRouteRef struct {
	// Name is the parent IngressRoute name.
	Name string `json:"name"`
	// Namespace is the parent's namespace; empty means the namespace of
	// the child IngressRoute.
	Namespace string `json:"namespace,omitempty"`
}
