// Package acme obtains and renews certificates from an ACME certificate
// authority (Let's Encrypt, or any RFC 8555 server) for the routers that
// name a certificate resolver, as Traefik's certificatesResolvers.NAME.acme
// does, with github.com/go-acme/lego (the library Traefik embeds).
//
// A [Manager] runs every resolver of the static configuration. The engine
// tells it, after each configuration change, which certificates the
// routers want ([Manager.Want]); the manager orders the missing ones in
// the background, renews them ahead of expiry, keeps them in a [Store]
// and calls back when the set changes, so the engine serves them by SNI.
// It answers the challenges itself: HTTP-01 through [Manager.HTTPChallenge]
// (the engine's acme-http@internal router on httpChallenge.entryPoint) and
// TLS-ALPN-01 through [Manager.ChallengeCertificate] (tlsmux, for
// handshakes offering acme-tls/1).
//
// Stores: [FileStore] keeps Traefik's acme.json layout (one process). A
// store that also implements [Locker] makes replicas order one at a time
// (k8swatch's Secret store holds a coordination.k8s.io Lease), and one
// that implements [ChallengeStore] shares the challenges between replicas,
// so the ACME server's validation may reach any of them.
package acme

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-acme/lego/v5/certcrypto"
)

// LetsEncrypt is Traefik's default caServer.
const LetsEncrypt = "https://acme-v02.api.letsencrypt.org/directory"

// Config is one resolver, certificatesResolvers.NAME.acme, with Traefik's
// keys and defaults ([NewConfig]).
type Config struct {
	Name     string // the resolver's name
	Email    string
	CAServer string
	// Storage is the acme.json file. In cluster mode an empty Storage
	// keeps the certificates in Secrets instead; StorageSet tells an
	// explicit value.
	Storage    string
	StorageSet bool
	// KeyType is the certificates' key: EC256, EC384, RSA2048, RSA4096
	// (default) or RSA8192.
	KeyType           string
	PreferredChain    string
	EmailAddresses    []string
	DisableCommonName bool
	// CertificatesDuration is the certificates' lifetime in hours, which
	// sets how early they are renewed (see RenewDurations).
	CertificatesDuration int
	// CACertificates are PEM files trusted for the ACME server's HTTPS
	// (with CASystemCertPool, on top of the system's); CAServerName is the
	// name its certificate is checked against.
	CACertificates   []string
	CASystemCertPool bool
	CAServerName     string

	ClientTimeout               time.Duration
	ClientResponseHeaderTimeout time.Duration
	CertificateTimeout          time.Duration

	HTTPChallenge *HTTPChallenge
	TLSChallenge  *TLSChallenge
}

// HTTPChallenge is httpChallenge: HTTP-01 answered on EntryPoint.
type HTTPChallenge struct {
	EntryPoint string
	Delay      time.Duration
}

// TLSChallenge is tlsChallenge: TLS-ALPN-01.
type TLSChallenge struct {
	Delay time.Duration
}

// NewConfig returns a resolver with Traefik's defaults (SetDefaults).
func NewConfig(name string) *Config {
	return &Config{
		Name:                        name,
		CAServer:                    LetsEncrypt,
		KeyType:                     "RSA4096",
		CertificatesDuration:        3 * 30 * 24,
		ClientTimeout:               2 * time.Minute,
		ClientResponseHeaderTimeout: 30 * time.Second,
		CertificateTimeout:          30 * time.Second,
	}
}

// keyTypes are the keyType values Traefik accepts.
var keyTypes = map[string]certcrypto.KeyType{
	"EC256": certcrypto.EC256, "EC384": certcrypto.EC384,
	"RSA2048": certcrypto.RSA2048, "RSA4096": certcrypto.RSA4096, "RSA8192": certcrypto.RSA8192,
}

// Validate checks what Traefik checks when it starts the resolver
// (Init): a storage, a duration of at least an hour, clientTimeout at
// least clientResponseHeaderTimeout; and, where Traefik falls back to
// RSA4096 with a log line, a known keyType. entryPoints are the entry
// points of the static configuration: httpChallenge.entryPoint must be
// one.
func (c *Config) Validate(entryPoints map[string]bool) error {
	var errs []error
	if c.Storage == "" && c.StorageSet {
		errs = append(errs, errors.New("storage is empty"))
	}
	if c.CertificatesDuration < 1 {
		errs = append(errs, errors.New("cannot manage certificates with duration lower than 1 hour"))
	}
	if c.ClientTimeout < c.ClientResponseHeaderTimeout {
		errs = append(errs, errors.New("clientTimeout must be at least clientResponseHeaderTimeout"))
	}
	if _, ok := keyTypes[c.KeyType]; !ok {
		errs = append(errs, fmt.Errorf("keyType %q: not one of EC256, EC384, RSA2048, RSA4096, RSA8192", c.KeyType))
	}
	if h := c.HTTPChallenge; h != nil && h.EntryPoint != "" && !entryPoints[h.EntryPoint] {
		errs = append(errs, fmt.Errorf("httpChallenge.entryPoint %q is not an entry point", h.EntryPoint))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("certificatesResolvers.%s.acme: %w", c.Name, err)
	}
	return nil
}

// challengeError is Traefik's error for a resolver with no usable
// challenge (an httpChallenge without entryPoint does not count). It is
// reported on every router that asks the resolver, never at start, as in
// Traefik, whose client fails the same way at the first order.
func (c *Config) challengeError() error {
	if (c.HTTPChallenge == nil || c.HTTPChallenge.EntryPoint == "") && c.TLSChallenge == nil {
		if c.HTTPChallenge != nil {
			return fmt.Errorf("certificate resolver %s: httpChallenge has no entryPoint and there is no tlsChallenge: ACME challenge not specified, please select TLS or HTTP challenge", c.Name)
		}
		return fmt.Errorf("certificate resolver %s: ACME challenge not specified, please select TLS or HTTP challenge", c.Name)
	}
	return nil
}

// HTTPEntryPoint is the entry point that answers this resolver's HTTP-01
// challenges, or "".
func (c *Config) HTTPEntryPoint() string {
	if c.HTTPChallenge == nil {
		return ""
	}
	return c.HTTPChallenge.EntryPoint
}

// RenewDurations are Traefik's renewal timings for a certificate lifetime
// in hours (getCertificateRenewDurations): a certificate is renewed once
// it expires within period, checked every interval.
func RenewDurations(hours int) (period, interval time.Duration) {
	switch {
	case hours >= 365*24:
		return 4 * 30 * 24 * time.Hour, 7 * 24 * time.Hour
	case hours >= 3*30*24:
		return 30 * 24 * time.Hour, 24 * time.Hour
	case hours >= 30*24:
		return 10 * 24 * time.Hour, 12 * time.Hour
	case hours >= 6*24:
		return 2 * 24 * time.Hour, 2 * time.Hour
	case hours >= 24:
		return 6 * time.Hour, 10 * time.Minute
	default:
		return 20 * time.Minute, time.Minute
	}
}

// caServer is Traefik's getSafeACMECAServer: v01 endpoints of Let's
// Encrypt are moved to v02.
func caServer(s string) string {
	switch {
	case s == "":
		return LetsEncrypt
	case strings.HasPrefix(s, "https://acme-v01.api.letsencrypt.org"):
		return strings.Replace(s, "v01", "v02", 1)
	case strings.HasPrefix(s, "https://acme-staging.api.letsencrypt.org"):
		return strings.Replace(s, "https://acme-staging.api.letsencrypt.org", "https://acme-staging-v02.api.letsencrypt.org", 1)
	}
	return s
}
