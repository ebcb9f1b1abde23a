// Package spec is the desired state that the control plane hands to the data
// plane: routers, services and the endpoints behind them, as plain values with
// no Kubernetes types. k8swatch produces it from manifests or a live cluster;
// engine builds a runtime from it. Every item carries a Ref to the object it
// came from, so that any problem can be traced back to a file or an object.
package spec

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Snapshot is one complete configuration.
type Snapshot struct {
	Routers  []Router
	Services map[string]*Service // by service name (e.g. "default-whoami-80")
	// Middlewares are the middlewares routers and chains may name, by
	// name (e.g. "default-strip@kubernetescrd").
	Middlewares map[string]*Middleware
	// Endpoints holds the servers of every Kubernetes Service port that a
	// load balancer refers to, by EndpointsKey. It changes far more often
	// than the rest; the engine swaps it in without recompiling routes.
	Endpoints map[string][]Server
	// TLS holds certificates and TLS options; nil when none are defined.
	TLS *TLS
	// ServersTransports are the transports load balancers may name, by
	// name (e.g. "default-mtls@kubernetescrd"). DefaultServersTransport is
	// never in it: it is the static serversTransport.
	ServersTransports map[string]*ServersTransport
	Problems          []Problem
}

// DefaultTLSOptions names the options used by TLS routers that select
// none, and for server names no router's Host() names.
const DefaultTLSOptions = "default"

// TLS is the TLS configuration of a snapshot (Traefik's default store and
// TLS options).
type TLS struct {
	// Certificates are chosen by SNI against their SANs.
	Certificates []Certificate
	// Default is served when no certificate matches; nil means a
	// self-signed one generated at start.
	Default *Certificate
	// Options are the TLS options by name; DefaultTLSOptions, when
	// absent, has Traefik's built-in defaults.
	Options map[string]*TLSOptions
	// DefaultGenerated is the TLSStore's defaultGeneratedCert: the
	// default certificate is the one a certificate resolver obtains for
	// these domains (Default, when set, wins).
	DefaultGenerated *GeneratedCert
}

// GeneratedCert asks a certificate resolver for a certificate.
type GeneratedCert struct {
	Ref      Ref
	Resolver string
	Domain   Domain
}

// Domain is a certificate subject: its main name and other names.
type Domain struct {
	Main string
	SANs []string
}

// Certificate is a PEM certificate chain and its key.
type Certificate struct {
	Ref     Ref // the Secret it came from
	CertPEM []byte
	KeyPEM  []byte
}

// TLSOptions are TLS server parameters (a TLSOption), already validated:
// versions, suites and curves hold crypto/tls identifiers.
type TLSOptions struct {
	Ref                   Ref
	MinVersion            uint16 // 0: TLS 1.2
	MaxVersion            uint16 // 0: the highest supported
	CipherSuites          []uint16
	CurvePreferences      []uint16
	ClientAuthType        string   // one of Traefik's five names; "" is NoClientCert
	ClientCAs             [][]byte // PEM bundles
	SniStrict             bool
	ALPNProtocols         []string
	DisableSessionTickets bool
}

// RouterTLS makes a router answer on TLS connections only.
type RouterTLS struct {
	// Options names the router's TLS options in Snapshot.TLS.Options.
	Options string
	// CertResolver names the static certificate resolver
	// (certificatesResolvers.NAME) that obtains certificates for Domains,
	// or, without Domains, for the Host() values of the rule.
	CertResolver string
	Domains      []Domain
}

// Router is one HTTP router, as Traefik names and builds it.
type Router struct {
	Name        string // e.g. "default-test-route-6b204d94623b3df4370c@kubernetescrd"
	Ref         Ref
	EntryPoints []string // empty: the default entry points
	Rule        string
	Priority    int64
	Syntax      string // "v2" or "" (v3)
	Service     string // name in Snapshot.Services; "" for a parent router (see ParentRefs)
	// Middlewares name, in order, the router's middlewares in
	// Snapshot.Middlewares (after its entry points' http.middlewares).
	Middlewares []string
	// TLS, when set, makes the router serve TLS connections only; a router
	// without it serves plain connections only (unless its entry point
	// has http.tls).
	TLS *RouterTLS
	// ParentRefs, when set, make the router a child router (Traefik's
	// multi-layer routing): it is on no entry point of its own, and is
	// matched, in its parents' own tables, against the requests a parent
	// took, as the parent's middlewares left them. They name the parents
	// by router name. A parent router has no Service; Traefik reports
	// one that has both (and routes to its children).
	ParentRefs []string
	// Observability is the route's observability (IngressRoute
	// routes[].observability); nil, or a nil field, inherits its entry
	// point's (entryPoints.NAME.observability), which defaults to on.
	Observability *Observability
}

// Observability turns access logs, metrics and tracing on or off for a
// router; TraceVerbosity is "minimal" or "detailed" ("" inherits).
type Observability struct {
	AccessLogs, Metrics, Tracing *bool
	TraceVerbosity               string
}

// Middleware is one middleware (a Middleware object of one kind).
type Middleware struct {
	Name string // e.g. "default-strip@kubernetescrd"
	Ref  Ref
	// Kind is the kind's key in the Middleware spec ("stripPrefix").
	Kind string
	// Config is the kind's configuration as JSON (the object under the
	// kind's key), which the engine's middleware kind decodes strictly.
	Config json.RawMessage
	// Chain lists a chain's members by name, namespaces resolved.
	Chain []string
	// Service names the service an errors middleware sends error pages
	// to, in Snapshot.Services.
	Service string
}

// Service is a servers load balancer, or a composition of other services
// (a TraefikService): weighted, mirroring, failover or highest random
// weight. Exactly one kind is set; the engine refuses a service with
// several, as Traefik does.
type Service struct {
	Name         string
	Ref          Ref
	LoadBalancer *LoadBalancer
	Weighted     *Weighted
	Mirroring    *Mirroring
	Failover     *Failover
	// HighestRandomWeight picks a child by rendezvous hashing of the
	// client IP.
	HighestRandomWeight *HighestRandomWeight
	// Middlewares run, in order, before the service balances (a
	// Kubernetes Service reference's own middlewares).
	Middlewares []string
}

// LoadBalancer balances over the servers of one Kubernetes Service port.
type LoadBalancer struct {
	// EndpointsKey names the server list in Snapshot.Endpoints.
	EndpointsKey   string
	Strategy       string // "wrr", "p2c", "hrw" or "leasttime"
	PassHostHeader bool
	FlushInterval  time.Duration // negative: flush after every write
	Sticky         *Cookie
	// HealthCheck probes each server actively (ExternalName services only,
	// as in Traefik); Passive marks servers down after failed requests.
	HealthCheck *HealthCheck
	Passive     *PassiveHealthCheck
	// ServersTransport names how servers are connected to: a key of
	// Snapshot.ServersTransports, or "" (or DefaultServersTransport) for
	// the static serversTransport.
	ServersTransport string
}

// DefaultServersTransport is Traefik's name for the static
// serversTransport, which load balancers naming none use.
const DefaultServersTransport = "default@internal"

// ServersTransport is how edgeroute connects to the servers of the load
// balancers that name it (a ServersTransport object), with Traefik's
// provider defaults and fallbacks already applied.
type ServersTransport struct {
	Name string
	Ref  Ref
	// ServerName is the SNI sent and the name verified; "" is the server
	// URL's host.
	ServerName         string
	InsecureSkipVerify bool
	// RootCAs are PEM bundles, one per Secret or ConfigMap. When there is
	// at least one, only they verify servers (not the system roots).
	RootCAs [][]byte
	// Certificates are the client certificates offered to servers.
	Certificates []Certificate
	// CipherSuites, MinVersion and MaxVersion hold crypto/tls identifiers
	// (nil and 0: Go's defaults).
	CipherSuites           []uint16
	MinVersion, MaxVersion uint16
	// MaxIdleConnsPerHost is passed to Go's transport as Traefik does: 0
	// is net/http's default (2), a negative value disables reuse.
	MaxIdleConnsPerHost int
	DisableHTTP2        bool
	// PeerCertSANs, when set, must include a name of the server
	// certificate (whose chain is verified against RootCAs even with
	// InsecureSkipVerify).
	PeerCertSANs []SAN
	// Forwarding timeouts; 0 is none. Traefik's defaults: dial 30s,
	// idle connections 90s, HTTP/2 ping 15s.
	DialTimeout           time.Duration
	ResponseHeaderTimeout time.Duration
	IdleConnTimeout       time.Duration
	ReadIdleTimeout       time.Duration
	PingTimeout           time.Duration
}

// SAN is a subject alternative name a server certificate must hold.
type SAN struct {
	Type  string // SANDNSName or SANURI
	Value string
}

// Subject alternative name types of SAN.
const (
	SANDNSName = "DNSName"
	SANURI     = "URI"
)

// HealthCheck is an active health check, with Traefik's defaults
// applied: GET, interval 30s, unhealthyInterval = interval, timeout 5s,
// followRedirects true, any 2xx or 3xx status when Status is 0.
type HealthCheck struct {
	// Mode is as configured: "grpc" asks the gRPC health protocol
	// (grpc.health.v1), and Path, Method, Status, Hostname, Headers and
	// FollowRedirects do not apply; anything else is an HTTP check.
	Mode              string
	Scheme            string
	Path              string
	Method            string
	Status            int
	Port              int
	Hostname          string
	Headers           map[string]string
	Interval          time.Duration
	UnhealthyInterval time.Duration
	Timeout           time.Duration
	FollowRedirects   bool
}

// PassiveHealthCheck marks a server down for FailureWindow once
// MaxFailedAttempts requests to it failed (a network error or a 5xx
// answer) within FailureWindow.
type PassiveHealthCheck struct {
	MaxFailedAttempts int
	FailureWindow     time.Duration
}

// Server is one backend address.
type Server struct {
	URL string // scheme://host:port
	// Fenced servers are terminating but still serving: they keep their
	// sticky sessions and get no new traffic.
	Fenced bool
}

// Weighted balances over other services by weight (Traefik's EDF WRR).
type Weighted struct {
	Services []WeightedService
	Sticky   *Cookie
	// HealthCheck is Traefik's `healthCheck: {}` on the parent: the
	// children's health is followed (a child that is down gets no
	// traffic) and this service reports its own to its parents. The
	// TraefikService CRD cannot set it (Traefik's CRD has no such field),
	// so Kubernetes translation never does.
	HealthCheck bool
}

// Mirroring sends each request to Service and copies of a share of
// requests to Mirrors, whose answers are discarded.
type Mirroring struct {
	Service string
	Mirrors []Mirror
	// MirrorBody copies the request body to the mirrors (Traefik's
	// default: true).
	MirrorBody bool
	// MaxBodySize is the largest body mirrored, in bytes; a request with
	// a larger body is not mirrored (the main service still gets it). -1
	// (Traefik's default): no limit.
	MaxBodySize int64
	// HealthCheck: this service reports its main service's health to its
	// parents (see Weighted.HealthCheck).
	HealthCheck bool
}

// Mirror is one mirror of a Mirroring service.
type Mirror struct {
	Name    string
	Percent int // 0 to 100
}

// Failover sends requests to Service while it is up, else to Fallback.
type Failover struct {
	Service  string
	Fallback string
	// Errors, when it lists statuses, also sends a request to Fallback
	// when Service answers with one of them.
	Errors *FailoverErrors
	// HealthCheck: the fallback's health is followed too (both down:
	// 503) and this service reports its own to its parents (see
	// Weighted.HealthCheck).
	HealthCheck bool
}

// FailoverErrors is the status-based failover.
type FailoverErrors struct {
	// Status lists statuses and ranges ("500-504", "404").
	Status []string
	// MaxRequestBodyBytes bounds the request body kept to replay it to
	// the fallback; a larger one is answered 413. -1 (Traefik's default):
	// no limit.
	MaxRequestBodyBytes int64
}

// HighestRandomWeight picks, for each client IP, the child with the highest
// weighted rendezvous hash, as Traefik's HRW does.
type HighestRandomWeight struct {
	Services []WeightedService
	// HealthCheck: see Weighted.HealthCheck.
	HealthCheck bool
}

// WeightedService is one child of a Weighted or HighestRandomWeight
// service.
type WeightedService struct {
	Name   string
	Weight int
}

// Cookie is a sticky-session cookie definition.
type Cookie struct {
	Name     string
	Secure   bool
	HTTPOnly bool
	SameSite string
	MaxAge   int
	Path     string
	Domain   string
}

// Ref locates the object an item came from.
type Ref struct {
	Kind      string
	Namespace string
	Name      string
	File      string // for manifests
	Line      int
	Route     int // 1-based index in spec.routes; 0 when not about a route
}

func (r Ref) String() string {
	var parts []string
	if r.File != "" {
		loc := r.File
		if r.Line > 0 {
			loc += fmt.Sprintf(":%d", r.Line)
		}
		parts = append(parts, loc)
	}
	if r.Name != "" {
		obj := r.Kind + " " + r.Name
		if r.Namespace != "" {
			obj = r.Kind + " " + r.Namespace + "/" + r.Name
		}
		if r.Route > 0 {
			obj += fmt.Sprintf(" routes[%d]", r.Route-1)
		}
		parts = append(parts, strings.TrimSpace(obj))
	}
	return strings.Join(parts, ": ")
}

// Problem is something in the configuration that was rejected or ignored.
// The rest of the configuration still applies.
type Problem struct {
	Ref Ref
	Err error
	// Ignored marks information rather than an error: an object that
	// edgeroute does not use (a Deployment in a manifest folder, say).
	Ignored bool
	// Warning marks an object that is used but deserves attention (a
	// deprecated API group, a duplicate object of which the last one won).
	Warning bool
}

func (p Problem) Error() string {
	if ref := p.Ref.String(); ref != "" {
		return ref + ": " + p.Err.Error()
	}
	return p.Err.Error()
}

// ParseDuration reads a duration as Traefik's configuration does: a Go
// duration ("1.5s", "100ms") or a bare number of seconds ("30").
func ParseDuration(v string) (time.Duration, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(v)
}
