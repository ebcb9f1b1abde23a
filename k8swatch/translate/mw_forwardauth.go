package translate

import (
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/edgeroute/edgeroute/k8swatch/crd"
)

// forwardAuthResolved is the forwardAuth configuration the engine decodes:
// the CRD's, with the Secrets of tls.caSecret and tls.certSecret read into
// PEM (Traefik's dynamic.ForwardAuth as createForwardAuthMiddleware fills
// it, maxBodySize defaulted to -1 by its SetDefaults).
type forwardAuthResolved struct {
	Address                  string             `json:"address,omitempty"`
	TrustForwardHeader       *bool              `json:"trustForwardHeader,omitempty"`
	AuthResponseHeaders      []string           `json:"authResponseHeaders,omitzero"`
	AuthResponseHeadersRegex string             `json:"authResponseHeadersRegex,omitempty"`
	AuthRequestHeaders       []string           `json:"authRequestHeaders,omitzero"`
	TLS                      *forwardAuthTLSPEM `json:"tls,omitempty"`
	MaxResponseBodySize      *int64             `json:"maxResponseBodySize,omitempty"`
	AddAuthCookiesToResponse []string           `json:"addAuthCookiesToResponse,omitzero"`
	HeaderField              string             `json:"headerField,omitempty"`
	ForwardBody              bool               `json:"forwardBody,omitempty"`
	MaxBodySize              *int64             `json:"maxBodySize,omitempty"`
	PreserveLocationHeader   bool               `json:"preserveLocationHeader,omitempty"`
	PreserveRequestMethod    bool               `json:"preserveRequestMethod,omitempty"`
	AuthSigninURL            string             `json:"authSigninURL,omitempty"`
}

// forwardAuthTLSPEM is Traefik's dynamic.ClientTLS: the CA bundle, the
// client certificate and its key as PEM.
type forwardAuthTLSPEM struct {
	CA                 string `json:"ca,omitempty"`
	Cert               string `json:"cert,omitempty"`
	Key                string `json:"key,omitempty"`
	InsecureSkipVerify bool   `json:"insecureSkipVerify,omitempty"`
	CAOptional         *bool  `json:"caOptional,omitempty"`
}

// forwardAuthDefaultMaxBodySize is Traefik's
// dynamic.ForwardAuthDefaultMaxBodySize: no limit.
const forwardAuthDefaultMaxBodySize int64 = -1

// resolveForwardAuth is Traefik's createForwardAuthMiddleware.
func resolveForwardAuth(t *translator, ns string, s *crd.MiddlewareSpec) (*forwardAuthResolved, error) {
	auth := s.ForwardAuth
	if auth.Address == "" {
		return nil, errors.New("forward authentication requires an address")
	}
	out := &forwardAuthResolved{
		Address:                  auth.Address,
		TrustForwardHeader:       auth.TrustForwardHeader,
		AuthResponseHeaders:      auth.AuthResponseHeaders,
		AuthResponseHeadersRegex: auth.AuthResponseHeadersRegex,
		AuthRequestHeaders:       auth.AuthRequestHeaders,
		AddAuthCookiesToResponse: auth.AddAuthCookiesToResponse,
		HeaderField:              auth.HeaderField,
		ForwardBody:              auth.ForwardBody,
		PreserveLocationHeader:   auth.PreserveLocationHeader,
		PreserveRequestMethod:    auth.PreserveRequestMethod,
		AuthSigninURL:            auth.AuthSigninURL,
		MaxResponseBodySize:      auth.MaxResponseBodySize,
		MaxBodySize:              auth.MaxBodySize,
	}
	if out.MaxBodySize == nil {
		v := forwardAuthDefaultMaxBodySize
		out.MaxBodySize = &v
	}
	if auth.TLS == nil {
		return out, nil
	}
	out.TLS = &forwardAuthTLSPEM{InsecureSkipVerify: auth.TLS.InsecureSkipVerify, CAOptional: auth.TLS.CAOptional}
	if auth.TLS.CASecret != "" {
		ca, err := forwardAuthCASecret(t, ns, auth.TLS.CASecret)
		if err != nil {
			return nil, fmt.Errorf("failed to load auth ca secret: %w", err)
		}
		out.TLS.CA = ca
	}
	if auth.TLS.CertSecret != "" {
		cert, key, err := forwardAuthTLSSecret(t, ns, auth.TLS.CertSecret)
		if err != nil {
			return nil, fmt.Errorf("failed to load auth secret: %w", err)
		}
		out.TLS.Cert, out.TLS.Key = cert, key
	}
	return out, nil
}

// forwardAuthCASecret is Traefik's loadCASecret: the Secret's tls.ca, else
// its ca.crt, else its only entry, whatever its name (kept by Traefik for
// backward compatibility).
func forwardAuthCASecret(t *translator, ns, name string) (string, error) {
	secret, err := t.secret(ns, name)
	if err != nil {
		return "", err
	}
	if v, ok := secret.Data["tls.ca"]; ok {
		return string(v), nil
	}
	if v, ok := secret.Data["ca.crt"]; ok {
		return string(v), nil
	}
	if len(secret.Data) == 1 {
		for _, v := range secret.Data {
			return string(v), nil
		}
	}
	return "", fmt.Errorf("secret '%s/%s' has no CA block: secret %s/%s contains neither tls.ca nor ca.crt", ns, name, ns, name)
}

// forwardAuthTLSSecret is Traefik's loadAuthTLSSecret and
// getCertificateBlocks: the Secret's tls.crt and tls.key, both present
// and not empty.
func forwardAuthTLSSecret(t *translator, ns, name string) (string, string, error) {
	secret, err := t.secret(ns, name)
	if err != nil {
		// loadAuthTLSSecret's own wording for a missing Secret.
		return "", "", fmt.Errorf("secret '%s/%s' does not exist", ns, name)
	}
	var missing []string
	crt, okCrt := secret.Data[corev1.TLSCertKey]
	if !okCrt {
		missing = append(missing, corev1.TLSCertKey)
	}
	key, okKey := secret.Data[corev1.TLSPrivateKeyKey]
	if !okKey {
		missing = append(missing, corev1.TLSPrivateKeyKey)
	}
	if len(missing) > 0 {
		return "", "", fmt.Errorf("secret %s/%s is missing the following TLS data entries: %s", ns, name, strings.Join(missing, ", "))
	}
	if len(crt) == 0 {
		missing = append(missing, corev1.TLSCertKey)
	}
	if len(key) == 0 {
		missing = append(missing, corev1.TLSPrivateKeyKey)
	}
	if len(missing) > 0 {
		return "", "", fmt.Errorf("secret %s/%s contains the following empty TLS data entries: %s", ns, name, strings.Join(missing, ", "))
	}
	return string(crt), string(key), nil
}
