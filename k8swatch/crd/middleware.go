package crd

import (
	"encoding/json"
	"reflect"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Middleware is a reusable request/response transformation that routes
// reference by name. A Middleware is meant to set exactly one of its
// spec's kinds: Traefik refuses a middleware that sets none or several.
type Middleware struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`

	// Spec holds the middleware configuration.
	Spec MiddlewareSpec `json:"spec"`
}

// Kinds reports which middleware kinds the spec sets; see
// MiddlewareSpec.Kinds.
func (m *Middleware) Kinds() []string {
	return m.Spec.Kinds()
}

// MiddlewareSpec holds one middleware configuration. Each field is one
// middleware kind, named by its JSON key; a valid Middleware sets exactly
// one of them.
type MiddlewareSpec struct {
	// AddPrefix prepends a prefix to the request path.
	AddPrefix *AddPrefix `json:"addPrefix,omitempty"`
	// StripPrefix removes literal prefixes from the request path.
	StripPrefix *StripPrefix `json:"stripPrefix,omitempty"`
	// StripPrefixRegex removes regex-matched prefixes from the request
	// path.
	StripPrefixRegex *StripPrefixRegex `json:"stripPrefixRegex,omitempty"`
	// ReplacePath replaces the request path.
	ReplacePath *ReplacePath `json:"replacePath,omitempty"`
	// ReplacePathRegex rewrites the request path with a regex.
	ReplacePathRegex *ReplacePathRegex `json:"replacePathRegex,omitempty"`
	// Chain groups other middlewares.
	Chain *Chain `json:"chain,omitempty"`
	// IPWhiteList is the deprecated name of IPAllowList, without its
	// rejectStatusCode option.
	IPWhiteList *IPWhiteList `json:"ipWhiteList,omitempty"`
	// IPAllowList accepts requests from listed client addresses only.
	IPAllowList *IPAllowList `json:"ipAllowList,omitempty"`
	// Headers manages request and response headers, CORS and security
	// headers.
	Headers *Headers `json:"headers,omitempty"`
	// EncodedCharacters allows encoded characters that are rejected in
	// request paths by default.
	EncodedCharacters *EncodedCharacters `json:"encodedCharacters,omitempty"`
	// Errors serves custom error pages from another backend.
	Errors *ErrorPage `json:"errors,omitempty"`
	// RateLimit limits the request rate per source.
	RateLimit *RateLimit `json:"rateLimit,omitempty"`
	// RedirectRegex redirects requests whose URL matches a regex.
	RedirectRegex *RedirectRegex `json:"redirectRegex,omitempty"`
	// RedirectScheme redirects requests to another scheme (and port).
	RedirectScheme *RedirectScheme `json:"redirectScheme,omitempty"`
	// BasicAuth requires HTTP basic authentication.
	BasicAuth *BasicAuth `json:"basicAuth,omitempty"`
	// DigestAuth requires HTTP digest authentication.
	DigestAuth *DigestAuth `json:"digestAuth,omitempty"`
	// ForwardAuth delegates authentication to an external service.
	ForwardAuth *ForwardAuth `json:"forwardAuth,omitempty"`
	// InFlightReq limits the number of concurrent requests per source.
	InFlightReq *InFlightReq `json:"inFlightReq,omitempty"`
	// Buffering buffers request and response bodies.
	Buffering *Buffering `json:"buffering,omitempty"`
	// CircuitBreaker stops forwarding while a health expression trips.
	CircuitBreaker *CircuitBreaker `json:"circuitBreaker,omitempty"`
	// Compress compresses responses.
	Compress *Compress `json:"compress,omitempty"`
	// PassTLSClientCert forwards client certificate details in headers.
	PassTLSClientCert *PassTLSClientCert `json:"passTLSClientCert,omitempty"`
	// Retry retries failed requests.
	Retry *Retry `json:"retry,omitempty"`
	// ContentType controls Content-Type auto-detection.
	ContentType *ContentType `json:"contentType,omitempty"`
	// GrpcWeb translates gRPC-Web requests to gRPC.
	GrpcWeb *GrpcWeb `json:"grpcWeb,omitempty"`
	// JWT validates JSON Web Tokens: an edgeroute extension, not a kind
	// of Traefik's CRD (the edgeroute tag marks such fields).
	JWT *JWT `json:"jwt,omitempty" edgeroute:"extension"`
	// Plugin configures plugin middlewares, keyed by plugin name. Plugin
	// configuration is free-form, so it is kept as raw JSON; the schema
	// preserves unknown fields below each key.
	Plugin map[string]json.RawMessage `json:"plugin,omitempty"`
}

// middlewareKindFields maps each field index of MiddlewareSpec to its JSON
// name. It is computed once by reflection so that a kind added to the
// struct is reported by Kinds without a second list to maintain.
var middlewareKindFields = func() []string {
	t := reflect.TypeFor[MiddlewareSpec]()
	names := make([]string, t.NumField())
	for i := range names {
		names[i], _, _ = strings.Cut(t.Field(i).Tag.Get("json"), ",")
	}
	return names
}()

// ExtensionKinds lists the JSON names of the middleware kinds that are
// edgeroute's own, beyond Traefik's CRD: the fields of MiddlewareSpec
// tagged edgeroute:"extension". The schema tests allow them, and every
// field below them, on top of Traefik's schema.
func ExtensionKinds() []string {
	var out []string
	t := reflect.TypeFor[MiddlewareSpec]()
	for i, name := range middlewareKindFields {
		if t.Field(i).Tag.Get("edgeroute") == "extension" {
			out = append(out, name)
		}
	}
	return out
}

// Kinds returns the JSON names (such as "stripPrefix") of the middleware
// kinds the spec sets, in the order of the fields of MiddlewareSpec. A
// kind counts as set when its key is present, even with an empty object,
// because Traefik treats "compress: {}" as an enabled compress middleware.
// The plugin map counts as the single kind "plugin" when it has at least
// one entry.
func (s *MiddlewareSpec) Kinds() []string {
	var kinds []string
	v := reflect.ValueOf(s).Elem()
	for i, name := range middlewareKindFields {
		f := v.Field(i)
		set := !f.IsZero()
		if f.Kind() == reflect.Map {
			set = f.Len() > 0
		}
		if set {
			kinds = append(kinds, name)
		}
	}
	return kinds
}
