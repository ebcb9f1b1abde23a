package crd

import "k8s.io/apimachinery/pkg/util/intstr"

// Kinds of backend a LoadBalancerSpec can reference, as spelled in its
// "kind" field. An empty kind means ServiceKindService.
const (
	ServiceKindService        = "Service"
	ServiceKindTraefikService = "TraefikService"
)

// BalancerStrategy names the algorithm a load balancer uses to pick a
// server. The CRD schema only admits the constants below; the legacy
// spelling RoundRobin is still accepted by the schema and means wrr.
type BalancerStrategy string

// Balancer strategies accepted by Traefik v3.7's CRD schema.
const (
	BalancerStrategyWRR        BalancerStrategy = "wrr"
	BalancerStrategyP2C        BalancerStrategy = "p2c"
	BalancerStrategyHRW        BalancerStrategy = "hrw"
	BalancerStrategyLeastTime  BalancerStrategy = "leasttime"
	BalancerStrategyRoundRobin BalancerStrategy = "RoundRobin"
)

// LoadBalancerSpec references a backend: either a Kubernetes Service (with
// a port) or a TraefikService, together with the load-balancing options
// that apply when edgeroute builds servers for it. It is the shape shared by
// IngressRoute services, TraefikService children, mirroring, failover and
// the errors middleware.
type LoadBalancerSpec struct {
	// Name is the name of the referenced Service or TraefikService.
	Name string `json:"name"`
	// Kind is ServiceKindService (the default when empty) or
	// ServiceKindTraefikService.
	Kind string `json:"kind,omitempty"`
	// Namespace is the namespace of the referenced object; empty means
	// the namespace of the object holding the reference.
	Namespace string `json:"namespace,omitempty"`
	// Middlewares are applied in front of this backend only, after the
	// router's own middlewares.
	Middlewares []MiddlewareRef `json:"middlewares,omitempty"`
	// Sticky enables session affinity for this backend.
	Sticky *Sticky `json:"sticky,omitempty"`
	// Port selects the Service port, by number or by name. It is ignored
	// for TraefikService references.
	Port intstr.IntOrString `json:"port,omitempty"`
	// Scheme overrides the scheme used to reach the servers (http, https
	// or h2c); when empty it is inferred from the port.
	Scheme string `json:"scheme,omitempty"`
	// Strategy is the balancing algorithm among the servers.
	Strategy BalancerStrategy `json:"strategy,omitempty"`
	// PassHostHeader forwards the client's Host header when true. It is a
	// pointer because Traefik's default (true) differs from Go's zero
	// value.
	PassHostHeader *bool `json:"passHostHeader,omitempty"`
	// ResponseForwarding tunes how responses are streamed back.
	ResponseForwarding *ResponseForwarding `json:"responseForwarding,omitempty"`
	// ServersTransport names a ServersTransport (in the same namespace, or
	// a provider-qualified name) used to reach the servers.
	ServersTransport string `json:"serversTransport,omitempty"`
	// Weight is this backend's weight when several are balanced together.
	// It is a pointer because an explicit 0 (no traffic) differs from
	// unset (weight 1).
	Weight *int `json:"weight,omitempty"`
	// NativeLB, when true, targets the Service's cluster IP instead of its
	// endpoints; nil defers to the provider-wide default.
	NativeLB *bool `json:"nativeLB,omitempty"`
	// NodePortLB, when true, targets the nodes' NodePort for NodePort
	// Services.
	NodePortLB bool `json:"nodePortLB,omitempty"`
	// HealthCheck enables active health checking of the servers.
	HealthCheck *ServerHealthCheck `json:"healthCheck,omitempty"`
	// PassiveHealthCheck enables passive health checking, driven by real
	// traffic failures.
	PassiveHealthCheck *PassiveServerHealthCheck `json:"passiveHealthCheck,omitempty"`
}

// Service is one backend of a route or of a weighted/HRW TraefikService.
// It adds nothing to LoadBalancerSpec; it exists as a distinct type because
// the CRD names it so and future fields would land here.
type Service struct {
	LoadBalancerSpec `json:",inline"`
}

// ResponseForwarding configures how the response is forwarded to the
// client.
type ResponseForwarding struct {
	// FlushInterval is a Go duration string ("100ms"); a negative value
	// flushes after every write.
	FlushInterval string `json:"flushInterval,omitempty"`
}

// ServerHealthCheck configures active health checks of a backend's
// servers.
type ServerHealthCheck struct {
	// Scheme replaces the server URL scheme for the check.
	Scheme string `json:"scheme,omitempty"`
	// Mode is "http" (the default) or "grpc".
	Mode string `json:"mode,omitempty"`
	// Path is the request path of the check.
	Path string `json:"path,omitempty"`
	// Method is the HTTP method of the check.
	Method string `json:"method,omitempty"`
	// Status is the expected response status; 0 accepts any 2xx/3xx.
	Status int `json:"status,omitempty"`
	// Port replaces the server port for the check.
	Port int `json:"port,omitempty"`
	// Interval is the period between checks of a healthy server, as
	// seconds (integer) or a Go duration string.
	Interval *intstr.IntOrString `json:"interval,omitempty"`
	// UnhealthyInterval is the period between checks of an unhealthy
	// server; it defaults to Interval.
	UnhealthyInterval *intstr.IntOrString `json:"unhealthyInterval,omitempty"`
	// Timeout bounds one check.
	Timeout *intstr.IntOrString `json:"timeout,omitempty"`
	// Hostname is the Host header of the check request.
	Hostname string `json:"hostname,omitempty"`
	// FollowRedirects decides whether redirects are followed; nil means
	// true.
	FollowRedirects *bool `json:"followRedirects,omitempty"`
	// Headers are added to the check request.
	Headers map[string]string `json:"headers,omitempty"`
}

// PassiveServerHealthCheck configures passive health checks, which mark a
// server down after repeated failures of real requests.
type PassiveServerHealthCheck struct {
	// FailureWindow is the window in which failures are counted.
	FailureWindow *intstr.IntOrString `json:"failureWindow,omitempty"`
	// MaxFailedAttempts is the number of failures within FailureWindow
	// that marks a server down.
	MaxFailedAttempts *int `json:"maxFailedAttempts,omitempty"`
}

// Sticky configures session affinity.
type Sticky struct {
	// Cookie enables cookie-based affinity. An empty object is meaningful:
	// it enables affinity with a generated cookie name.
	Cookie *Cookie `json:"cookie,omitempty"`
}

// Cookie describes the affinity cookie. Traefik's internal Expires and
// PreserveLeadingDot options are not part of the CRD and are therefore
// absent.
type Cookie struct {
	// Name is the cookie name; empty means a name derived from the
	// service.
	Name string `json:"name,omitempty"`
	// Secure sets the cookie's Secure attribute.
	Secure bool `json:"secure,omitempty"`
	// HTTPOnly sets the cookie's HttpOnly attribute.
	HTTPOnly bool `json:"httpOnly,omitempty"`
	// SameSite is none, lax or strict (any case allowed by the schema).
	SameSite string `json:"sameSite,omitempty"`
	// MaxAge is the cookie's Max-Age in seconds; negative expires it at
	// once, zero omits the attribute.
	MaxAge int `json:"maxAge,omitempty"`
	// Path is the cookie's Path attribute. It is a pointer because unset
	// means Traefik's default "/", while an explicit empty string omits
	// the attribute.
	Path *string `json:"path,omitempty"`
	// Domain is the cookie's Domain attribute.
	Domain string `json:"domain,omitempty"`
}

// MiddlewareRef references a Middleware by name, optionally in another
// namespace. The name may also be provider-qualified ("name@file").
type MiddlewareRef struct {
	// Name is the Middleware name.
	Name string `json:"name"`
	// Namespace is the Middleware namespace; empty means the namespace of
	// the referencing object.
	Namespace string `json:"namespace,omitempty"`
}

// Domain is a certificate subject: a main name and alternative names.
type Domain struct {
	// Main is the certificate's main domain.
	Main string `json:"main,omitempty"`
	// SANs are the certificate's subject alternative names.
	SANs []string `json:"sans,omitempty"`
}
