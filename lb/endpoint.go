package lb

import (
	"fmt"
	"net/url"
)

// Endpoint is one child of a balancer: a backend server or, for weighted
// services, a nested service. Endpoints are immutable once handed to a
// balancer constructor; everything that changes at run time lives in the
// shared *State. An Endpoint may be listed by several balancers.
type Endpoint struct {
	// Key identifies the child as Traefik names it: the server URL exactly
	// as configured (for example "http://10.42.0.7:80"), or the child
	// service name for weighted services. Sticky cookie values are derived
	// from it, so it must not be normalised.
	Key string

	// Scheme is the URL scheme of a server ("http", "https", "h2c").
	Scheme string

	// Addr is the "host:port" to dial for a server.
	Addr string

	// Weight is used by WRR and HRW. Traefik's default for an unset weight
	// is 1 and must be applied by the caller; children with Weight <= 0 are
	// dropped by WRR and HRW, exactly like Traefik. P2C ignores weights, as
	// Traefik's P2C does.
	Weight int

	// Fenced marks a terminating endpoint that still serves: it is never
	// picked for new traffic but remains a valid target for sticky
	// sessions.
	Fenced bool

	// State is the shared mutable state (health, in-flight requests). A nil
	// State is replaced by a private, always-up State when the endpoint is
	// added to a balancer.
	State *State

	// Service, when non-nil, makes this endpoint a nested service: picking
	// it continues with Service.Pick. For such endpoints Key is the service
	// name and State carries the service's aggregated health, which the
	// engine maintains (Traefik only propagates it when the parent has a
	// health check configured).
	Service Balancer

	// Data is the caller's own per-endpoint value (the engine keeps the
	// server's connection pool or the child service here), so that a pick
	// leads to it without a lookup.
	Data any
}

// NewEndpoint returns a server endpoint for rawURL with Traefik's default
// weight of 1. Key keeps rawURL verbatim; Scheme and Addr come from parsing
// it.
func NewEndpoint(rawURL string, st *State) (*Endpoint, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("lb: parsing server URL %q: %w", rawURL, err)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("lb: server URL %q has no host", rawURL)
	}
	return &Endpoint{Key: rawURL, Scheme: u.Scheme, Addr: u.Host, Weight: 1, State: st}, nil
}
