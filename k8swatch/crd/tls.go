package crd

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// TLSOption is a named set of TLS server parameters that IngressRoutes
// select with spec.tls.options. Traefik gives the name "default" a meaning
// of its own: such a TLSOption, whatever its namespace, replaces the
// default options used by routers that select none (and when several
// namespaces define one, Traefik drops them all).
type TLSOption struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	// Spec holds the TLS parameters.
	Spec TLSOptionSpec `json:"spec"`
}

// TLSOptionSpec holds TLS server parameters.
type TLSOptionSpec struct {
	// MinVersion is the lowest accepted version, such as VersionTLS12.
	MinVersion string `json:"minVersion,omitempty"`
	// MaxVersion is the highest accepted version, such as VersionTLS13.
	MaxVersion string `json:"maxVersion,omitempty"`
	// CipherSuites lists the accepted TLS 1.0-1.2 cipher suites by their
	// Go names.
	CipherSuites []string `json:"cipherSuites,omitempty"`
	// CurvePreferences lists the accepted elliptic curves in preference
	// order.
	CurvePreferences []string `json:"curvePreferences,omitempty"`
	// ClientAuth configures client certificate authentication.
	ClientAuth ClientAuth `json:"clientAuth,omitempty"`
	// SniStrict refuses handshakes whose server name matches no
	// certificate.
	SniStrict bool `json:"sniStrict,omitempty"`
	// ALPNProtocols lists the advertised application protocols in
	// preference order.
	ALPNProtocols []string `json:"alpnProtocols,omitempty"`
	// DisableSessionTickets turns off session resumption by tickets.
	DisableSessionTickets bool `json:"disableSessionTickets,omitempty"`
	// PreferServerCipherSuites is deprecated and has no effect with modern
	// Go; it is kept so that manifests using it still decode.
	PreferServerCipherSuites *bool `json:"preferServerCipherSuites,omitempty"`
}

// Client authentication policies accepted by ClientAuth.ClientAuthType.
const (
	NoClientCert               = "NoClientCert"
	RequestClientCert          = "RequestClientCert"
	RequireAnyClientCert       = "RequireAnyClientCert"
	VerifyClientCertIfGiven    = "VerifyClientCertIfGiven"
	RequireAndVerifyClientCert = "RequireAndVerifyClientCert"
)

// ClientAuth configures TLS client certificate authentication.
type ClientAuth struct {
	// SecretNames name Secrets, in the TLSOption's namespace, whose CA
	// certificates verify client certificates.
	SecretNames []string `json:"secretNames,omitempty"`
	// ClientAuthType is one of the client authentication policy
	// constants.
	ClientAuthType string `json:"clientAuthType,omitempty"`
}

// TLSStore holds the default certificate and extra certificates served by
// Traefik. Only the store named "default" is useful: Traefik registers
// other stores under a namespaced name that no router can select, and
// drops "default" stores altogether when several namespaces define one.
type TLSStore struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	// Spec holds the store content.
	Spec TLSStoreSpec `json:"spec"`
}

// TLSStoreSpec lists the certificates of a TLSStore.
type TLSStoreSpec struct {
	// DefaultCertificate is served when no other certificate matches.
	DefaultCertificate *Certificate `json:"defaultCertificate,omitempty"`
	// DefaultGeneratedCert asks an ACME resolver for the default
	// certificate instead.
	DefaultGeneratedCert *GeneratedCert `json:"defaultGeneratedCert,omitempty"`
	// Certificates are added to the store and selected by SNI.
	Certificates []Certificate `json:"certificates,omitempty"`
}

// Certificate references a Secret holding a certificate and its key.
type Certificate struct {
	// SecretName names a Secret in the TLSStore's namespace. Required by
	// the schema.
	SecretName string `json:"secretName"`
}

// GeneratedCert describes a default certificate obtained from an ACME
// resolver.
type GeneratedCert struct {
	// Resolver names the certificate resolver.
	Resolver string `json:"resolver,omitempty"`
	// Domain is the subject of the certificate.
	Domain *Domain `json:"domain,omitempty"`
}
