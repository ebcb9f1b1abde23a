package translate

import (
	"errors"
	"fmt"

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
		ca, err := t.caSecret(ns, auth.TLS.CASecret)
		if err != nil {
			return nil, fmt.Errorf("failed to load auth ca secret: %w", err)
		}
		out.TLS.CA = string(ca)
	}
	if auth.TLS.CertSecret != "" {
		cert, key, err := t.authTLSSecret(ns, auth.TLS.CertSecret)
		if err != nil {
			return nil, fmt.Errorf("failed to load auth secret: %w", err)
		}
		out.TLS.Cert, out.TLS.Key = cert, key
	}
	return out, nil
}
