package crd

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// ServersTransport configures how edgeroute connects to backend servers:
// TLS verification, client certificates, timeouts and connection pooling.
// Backends select one by name with LoadBalancerSpec.ServersTransport.
type ServersTransport struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	// Spec holds the transport parameters.
	Spec ServersTransportSpec `json:"spec"`
}

// ServersTransportSpec holds the parameters of connections to servers.
type ServersTransportSpec struct {
	// ServerName overrides the SNI and verification name.
	ServerName string `json:"serverName,omitempty"`
	// InsecureSkipVerify disables server certificate verification.
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
	// RootCAs reference Secrets or ConfigMaps holding CA certificates
	// that verify servers.
	RootCAs []RootCA `json:"rootCAs,omitempty"`
	// RootCAsSecrets is the deprecated, Secret-only form of RootCAs.
	RootCAsSecrets []string `json:"rootCAsSecrets,omitempty"`
	// CertificatesSecrets name Secrets holding client certificates
	// presented to servers (mutual TLS).
	CertificatesSecrets []string `json:"certificatesSecrets,omitempty"`
	// CipherSuites lists the cipher suites offered to servers.
	CipherSuites []string `json:"cipherSuites,omitempty"`
	// MinVersion is the lowest TLS version offered to servers.
	MinVersion string `json:"minVersion,omitempty"`
	// MaxVersion is the highest TLS version offered to servers.
	MaxVersion string `json:"maxVersion,omitempty"`
	// MaxIdleConnsPerHost caps the idle keep-alive connections kept per
	// server. The schema's minimum is -1; Traefik passes the value to its
	// transport unchanged.
	MaxIdleConnsPerHost int `json:"maxIdleConnsPerHost,omitempty"`
	// ForwardingTimeouts bounds the phases of a forwarded request.
	ForwardingTimeouts *ForwardingTimeouts `json:"forwardingTimeouts,omitempty"`
	// DisableHTTP2 forbids HTTP/2 towards servers.
	DisableHTTP2 bool `json:"disableHTTP2,omitempty"`
	// PeerCertURI is matched against the URI SANs of server certificates.
	PeerCertURI string `json:"peerCertURI,omitempty"`
	// PeerCertSANs lists subject alternative names matched against the
	// server certificate, like PeerCertURI but typed. The field is not in v3.7.13's schema: it comes from
	// the later v3.7 branch (Traefik's own test manifests use it), and is
	// modelled from those manifests so that they decode.
	PeerCertSANs []PeerCertSAN `json:"peerCertSANs,omitempty"`
	// Spiffe enables SPIFFE-based server authentication.
	Spiffe *Spiffe `json:"spiffe,omitempty"`
}

// PeerCertSAN is one expected subject alternative name of a server
// certificate.
type PeerCertSAN struct {
	// Type is the kind of name; Traefik's manifests use DNSName and URI.
	Type string `json:"type,omitempty"`
	// Value is the expected name.
	Value string `json:"value,omitempty"`
}

// RootCA references one CA certificate, held either by a Secret or by a
// ConfigMap (the schema forbids setting both).
type RootCA struct {
	// Secret names a Secret holding the CA under tls.ca or ca.crt.
	Secret *string `json:"secret,omitempty"`
	// ConfigMap names a ConfigMap holding the CA under tls.ca or ca.crt.
	ConfigMap *string `json:"configMap,omitempty"`
}

// ForwardingTimeouts bounds the phases of a request forwarded to a server.
// Each value is seconds (integer) or a Go duration string; nil means
// Traefik's default.
type ForwardingTimeouts struct {
	// DialTimeout bounds connection establishment.
	DialTimeout *intstr.IntOrString `json:"dialTimeout,omitempty"`
	// ResponseHeaderTimeout bounds the wait for response headers once the
	// request is written.
	ResponseHeaderTimeout *intstr.IntOrString `json:"responseHeaderTimeout,omitempty"`
	// IdleConnTimeout bounds how long an idle keep-alive connection stays
	// open.
	IdleConnTimeout *intstr.IntOrString `json:"idleConnTimeout,omitempty"`
	// ReadIdleTimeout triggers an HTTP/2 ping when no frame arrived for
	// that long.
	ReadIdleTimeout *intstr.IntOrString `json:"readIdleTimeout,omitempty"`
	// PingTimeout closes an HTTP/2 connection whose ping went unanswered
	// for that long.
	PingTimeout *intstr.IntOrString `json:"pingTimeout,omitempty"`
}

// Spiffe restricts accepted server identities to SPIFFE IDs.
type Spiffe struct {
	// IDs lists the accepted SPIFFE IDs; it takes precedence over
	// TrustDomain.
	IDs []string `json:"ids,omitempty"`
	// TrustDomain accepts any identity of that trust domain.
	TrustDomain string `json:"trustDomain,omitempty"`
}
