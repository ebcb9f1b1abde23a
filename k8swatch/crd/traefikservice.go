package crd

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// TraefikService is a virtual backend that composes other backends:
// weighted round robin, mirroring, highest random weight or failover.
// Exactly one of the spec's fields is expected to be set. When several are,
// Traefik silently uses the first non-nil one in the order weighted,
// mirroring, highestRandomWeight, failover; when none is, the service is
// rejected.
type TraefikService struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	// Spec is the composition.
	Spec TraefikServiceSpec `json:"spec"`
}

// TraefikServiceSpec holds one composition strategy.
type TraefikServiceSpec struct {
	// Weighted balances requests among services by weight.
	Weighted *WeightedRoundRobin `json:"weighted,omitempty"`
	// Mirroring sends requests to a main service and copies to mirrors.
	Mirroring *Mirroring `json:"mirroring,omitempty"`
	// HighestRandomWeight hashes the client address onto services.
	HighestRandomWeight *HighestRandomWeight `json:"highestRandomWeight,omitempty"`
	// Failover sends requests to a fallback when the main service is
	// unhealthy or answers with listed error statuses.
	Failover *Failover `json:"failover,omitempty"`
}

// WeightedRoundRobin balances requests among services by weight.
type WeightedRoundRobin struct {
	// Services are the children; each one's Weight applies.
	Services []Service `json:"services,omitempty"`
	// Sticky pins a client to the child it first reached.
	Sticky *Sticky `json:"sticky,omitempty"`
}

// HighestRandomWeight selects a child by rendezvous hashing of the client
// address, weighted by the children's weights.
type HighestRandomWeight struct {
	// Services are the children.
	Services []Service `json:"services,omitempty"`
}

// Mirroring forwards each request to a main backend, described by the
// embedded LoadBalancerSpec, and a copy of a share of requests to mirrors
// whose responses are discarded.
type Mirroring struct {
	LoadBalancerSpec `json:",inline"`

	// MirrorBody decides whether the request body is copied to mirrors;
	// nil means true.
	MirrorBody *bool `json:"mirrorBody,omitempty"`
	// MaxBodySize caps the body size that is mirrored, in bytes; nil or
	// -1 means no limit.
	MaxBodySize *int64 `json:"maxBodySize,omitempty"`
	// Mirrors receive copies of requests.
	Mirrors []MirrorService `json:"mirrors,omitempty"`
}

// MirrorService is one mirror of a Mirroring service.
type MirrorService struct {
	LoadBalancerSpec `json:",inline"`

	// Percent is the share of requests, 0 to 100, copied to this mirror.
	Percent int `json:"percent,omitempty"`
}

// Failover uses Service while it is healthy and Fallback otherwise.
type Failover struct {
	// Service is the primary backend. Required by the schema.
	Service LoadBalancerSpec `json:"service"`
	// Fallback is used when Service is down. Required by the schema.
	Fallback LoadBalancerSpec `json:"fallback"`
	// Errors lists response statuses of Service that trigger a retry on
	// Fallback. Required by the schema (it may be empty).
	Errors FailoverError `json:"errors"`
}

// FailoverError configures status-based failover.
type FailoverError struct {
	// Status lists statuses or ranges ("500", "502-504") that trigger the
	// fallback.
	Status []string `json:"status,omitempty"`
	// MaxRequestBodyBytes caps the request body buffered to allow a
	// replay on the fallback.
	MaxRequestBodyBytes *int64 `json:"maxRequestBodyBytes,omitempty"`
}
