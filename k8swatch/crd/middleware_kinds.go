package crd

import "k8s.io/apimachinery/pkg/util/intstr"

// AddPrefix configures the addPrefix middleware.
type AddPrefix struct {
	// Prefix is prepended to the path; the schema requires it to start
	// with "/".
	Prefix string `json:"prefix,omitempty"`
}

// StripPrefix configures the stripPrefix middleware.
type StripPrefix struct {
	// Prefixes are tried in order; the first one that prefixes the path is
	// removed.
	Prefixes []string `json:"prefixes,omitzero"`
	// ForceSlash is deprecated and ignored by Traefik v3; it is kept so
	// that manifests using it still decode.
	ForceSlash *bool `json:"forceSlash,omitempty"`
}

// StripPrefixRegex configures the stripPrefixRegex middleware.
type StripPrefixRegex struct {
	// Regex lists the expressions matching the prefix to remove.
	Regex []string `json:"regex,omitzero"`
}

// ReplacePath configures the replacePath middleware.
type ReplacePath struct {
	// Path replaces the request path.
	Path string `json:"path,omitempty"`
}

// ReplacePathRegex configures the replacePathRegex middleware.
type ReplacePathRegex struct {
	// Regex matches the path.
	Regex string `json:"regex,omitempty"`
	// Replacement is the new path; it may use capture groups.
	Replacement string `json:"replacement,omitempty"`
}

// Chain configures the chain middleware.
type Chain struct {
	// Middlewares are applied in order.
	Middlewares []MiddlewareRef `json:"middlewares,omitzero"`
}

// IPStrategy tells how the client address is found: the remote address, or
// a position in X-Forwarded-For.
type IPStrategy struct {
	// Depth picks the address at this position from the right of
	// X-Forwarded-For; 0 disables the lookup.
	Depth int `json:"depth,omitempty"`
	// ExcludedIPs are skipped while walking X-Forwarded-For from the
	// right. Ignored when Depth is set.
	ExcludedIPs []string `json:"excludedIPs,omitzero"`
	// IPv6Subnet groups IPv6 clients by this prefix length.
	IPv6Subnet *int `json:"ipv6Subnet,omitempty"`
}

// IPWhiteList configures the deprecated ipWhiteList middleware.
type IPWhiteList struct {
	// SourceRange lists the allowed addresses and CIDR ranges.
	SourceRange []string `json:"sourceRange,omitzero"`
	// IPStrategy selects the client address.
	IPStrategy *IPStrategy `json:"ipStrategy,omitempty"`
}

// IPAllowList configures the ipAllowList middleware.
type IPAllowList struct {
	// SourceRange lists the allowed addresses and CIDR ranges.
	SourceRange []string `json:"sourceRange,omitzero"`
	// IPStrategy selects the client address.
	IPStrategy *IPStrategy `json:"ipStrategy,omitempty"`
	// RejectStatusCode is the status of refused requests; 0 means 403.
	RejectStatusCode int `json:"rejectStatusCode,omitempty"`
}

// Headers configures the headers middleware: custom headers, CORS and
// security headers. JSON names keep Traefik's historical casing (for
// instance browserXssFilter but customBrowserXSSValue).
type Headers struct {
	// CustomRequestHeaders are set on requests; an empty value removes
	// the header.
	CustomRequestHeaders map[string]string `json:"customRequestHeaders,omitzero"`
	// CustomResponseHeaders are set on responses; an empty value removes
	// the header.
	CustomResponseHeaders map[string]string `json:"customResponseHeaders,omitzero"`

	// AccessControlAllowCredentials sets Access-Control-Allow-Credentials.
	AccessControlAllowCredentials bool `json:"accessControlAllowCredentials,omitempty"`
	// AccessControlAllowHeaders sets Access-Control-Allow-Headers.
	AccessControlAllowHeaders []string `json:"accessControlAllowHeaders,omitzero"`
	// AccessControlAllowMethods sets Access-Control-Allow-Methods.
	AccessControlAllowMethods []string `json:"accessControlAllowMethods,omitzero"`
	// AccessControlAllowOriginList lists the allowed origins ("*" for
	// any).
	AccessControlAllowOriginList []string `json:"accessControlAllowOriginList,omitzero"`
	// AccessControlAllowOriginListRegex lists allowed origins as regexes.
	AccessControlAllowOriginListRegex []string `json:"accessControlAllowOriginListRegex,omitzero"`
	// AccessControlExposeHeaders sets Access-Control-Expose-Headers.
	AccessControlExposeHeaders []string `json:"accessControlExposeHeaders,omitzero"`
	// AccessControlMaxAge sets Access-Control-Max-Age, in seconds.
	AccessControlMaxAge *int64 `json:"accessControlMaxAge,omitempty"`
	// AddVaryHeader adds Vary: Origin to CORS responses.
	AddVaryHeader bool `json:"addVaryHeader,omitempty"`

	// AllowedHosts lists the accepted host names.
	AllowedHosts []string `json:"allowedHosts,omitzero"`
	// HostsProxyHeaders lists headers that may carry the original host.
	HostsProxyHeaders []string `json:"hostsProxyHeaders,omitzero"`
	// SSLProxyHeaders maps header names to the values that mean "the
	// original request was HTTPS".
	SSLProxyHeaders map[string]string `json:"sslProxyHeaders,omitzero"`
	// STSSeconds sets the max-age of Strict-Transport-Security; nil or 0
	// omits the header.
	STSSeconds *int64 `json:"stsSeconds,omitempty"`
	// STSIncludeSubdomains adds includeSubDomains to the STS header.
	STSIncludeSubdomains bool `json:"stsIncludeSubdomains,omitempty"`
	// STSPreload adds preload to the STS header.
	STSPreload bool `json:"stsPreload,omitempty"`
	// ForceSTSHeader sends the STS header over plain HTTP too.
	ForceSTSHeader bool `json:"forceSTSHeader,omitempty"`
	// FrameDeny sets X-Frame-Options: DENY.
	FrameDeny bool `json:"frameDeny,omitempty"`
	// CustomFrameOptionsValue sets X-Frame-Options to this value.
	CustomFrameOptionsValue string `json:"customFrameOptionsValue,omitempty"`
	// ContentTypeNosniff sets X-Content-Type-Options: nosniff.
	ContentTypeNosniff bool `json:"contentTypeNosniff,omitempty"`
	// BrowserXSSFilter sets X-XSS-Protection: 1; mode=block.
	BrowserXSSFilter bool `json:"browserXssFilter,omitempty"`
	// CustomBrowserXSSValue sets X-XSS-Protection to this value.
	CustomBrowserXSSValue string `json:"customBrowserXSSValue,omitempty"`
	// ContentSecurityPolicy sets Content-Security-Policy.
	ContentSecurityPolicy string `json:"contentSecurityPolicy,omitempty"`
	// ContentSecurityPolicyReportOnly sets
	// Content-Security-Policy-Report-Only.
	ContentSecurityPolicyReportOnly string `json:"contentSecurityPolicyReportOnly,omitempty"`
	// PublicKey sets Public-Key-Pins.
	PublicKey string `json:"publicKey,omitempty"`
	// ReferrerPolicy sets Referrer-Policy.
	ReferrerPolicy string `json:"referrerPolicy,omitempty"`
	// PermissionsPolicy sets Permissions-Policy.
	PermissionsPolicy string `json:"permissionsPolicy,omitempty"`
	// IsDevelopment relaxes AllowedHosts, SSL redirection and STS for
	// development.
	IsDevelopment bool `json:"isDevelopment,omitempty"`
	// FeaturePolicy is deprecated in favour of PermissionsPolicy.
	FeaturePolicy *string `json:"featurePolicy,omitempty"`
	// SSLRedirect is deprecated in favour of the redirectScheme
	// middleware.
	SSLRedirect *bool `json:"sslRedirect,omitempty"`
	// SSLTemporaryRedirect is deprecated in favour of the redirectScheme
	// middleware.
	SSLTemporaryRedirect *bool `json:"sslTemporaryRedirect,omitempty"`
	// SSLHost is deprecated in favour of the redirectRegex middleware.
	SSLHost *string `json:"sslHost,omitempty"`
	// SSLForceHost is deprecated in favour of the redirectRegex
	// middleware.
	SSLForceHost *bool `json:"sslForceHost,omitempty"`
}

// EncodedCharacters configures the encodedCharacters middleware, which
// allows encoded characters that entry points reject in paths by default.
type EncodedCharacters struct {
	// AllowEncodedSlash allows %2F.
	AllowEncodedSlash bool `json:"allowEncodedSlash,omitempty"`
	// AllowEncodedBackSlash allows %5C.
	AllowEncodedBackSlash bool `json:"allowEncodedBackSlash,omitempty"`
	// AllowEncodedNullCharacter allows %00.
	AllowEncodedNullCharacter bool `json:"allowEncodedNullCharacter,omitempty"`
	// AllowEncodedSemicolon allows %3B.
	AllowEncodedSemicolon bool `json:"allowEncodedSemicolon,omitempty"`
	// AllowEncodedPercent allows %25.
	AllowEncodedPercent bool `json:"allowEncodedPercent,omitempty"`
	// AllowEncodedQuestionMark allows %3F.
	AllowEncodedQuestionMark bool `json:"allowEncodedQuestionMark,omitempty"`
	// AllowEncodedHash allows %23.
	AllowEncodedHash bool `json:"allowEncodedHash,omitempty"`
}

// ErrorPage configures the errors middleware.
type ErrorPage struct {
	// Status lists the statuses or ranges ("500-599") that trigger the
	// error page.
	Status []string `json:"status,omitzero"`
	// StatusRewrites maps statuses or ranges to the status returned to
	// the client.
	StatusRewrites map[string]int `json:"statusRewrites,omitzero"`
	// Service is the backend serving the error pages.
	Service Service `json:"service,omitempty"`
	// Query is the error page path; {status}, {originalStatus} and {url}
	// are substituted.
	Query string `json:"query,omitempty"`
	// ErrorRequestHeaders restricts the request headers forwarded to the
	// error page backend; nil forwards them all, an empty list none.
	// omitzero, not omitempty: the empty list must survive translation's
	// re-encoding of the configuration.
	ErrorRequestHeaders []string `json:"errorRequestHeaders,omitzero"`
}

// RateLimit configures the rateLimit middleware.
type RateLimit struct {
	// Average is the sustained rate, in requests per Period; nil or 0
	// disables limiting.
	Average *int64 `json:"average,omitempty"`
	// Period is the rate unit, as seconds or a duration string; nil means
	// one second.
	Period *intstr.IntOrString `json:"period,omitempty"`
	// Burst is the number of requests allowed at once; nil means 1.
	Burst *int64 `json:"burst,omitempty"`
	// SourceCriterion groups requests by source.
	SourceCriterion *SourceCriterion `json:"sourceCriterion,omitempty"`
	// Redis shares the limiter state through Redis.
	Redis *Redis `json:"redis,omitempty"`
}

// SourceCriterion tells how requests are grouped by source. At most one
// criterion may be set.
type SourceCriterion struct {
	// IPStrategy groups by client address.
	IPStrategy *IPStrategy `json:"ipStrategy,omitempty"`
	// RequestHeaderName groups by the value of this header.
	RequestHeaderName string `json:"requestHeaderName,omitempty"`
	// RequestHost groups by request host.
	RequestHost bool `json:"requestHost,omitempty"`
}

// Redis configures the Redis backend of the rateLimit middleware.
type Redis struct {
	// Endpoints are host:port addresses.
	Endpoints []string `json:"endpoints,omitzero"`
	// TLS secures the connection to Redis.
	TLS *ClientTLS `json:"tls,omitempty"`
	// Secret names a Secret holding the username and password.
	Secret string `json:"secret,omitempty"`
	// DB selects the Redis database.
	DB int `json:"db,omitempty"`
	// PoolSize is the initial number of connections.
	PoolSize int `json:"poolSize,omitempty"`
	// MinIdleConns is the minimum number of idle connections.
	MinIdleConns int `json:"minIdleConns,omitempty"`
	// MaxActiveConns caps the number of connections; 0 means no cap.
	MaxActiveConns int `json:"maxActiveConns,omitempty"`
	// ReadTimeout bounds socket reads.
	ReadTimeout *intstr.IntOrString `json:"readTimeout,omitempty"`
	// WriteTimeout bounds socket writes.
	WriteTimeout *intstr.IntOrString `json:"writeTimeout,omitempty"`
	// DialTimeout bounds connection establishment.
	DialTimeout *intstr.IntOrString `json:"dialTimeout,omitempty"`
}

// ClientTLS configures a TLS client whose CA and certificate come from
// Secrets.
type ClientTLS struct {
	// CASecret names a Secret holding the CA under tls.ca or ca.crt.
	CASecret string `json:"caSecret,omitempty"`
	// CertSecret names a Secret holding tls.crt and tls.key.
	CertSecret string `json:"certSecret,omitempty"`
	// InsecureSkipVerify disables server certificate verification.
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
}

// ClientTLSWithCAOptional is ClientTLS plus the deprecated caOptional
// flag, as accepted by the forwardAuth middleware.
type ClientTLSWithCAOptional struct {
	ClientTLS `json:",inline"`

	// CAOptional is deprecated and has no effect on a client.
	CAOptional *bool `json:"caOptional,omitempty"`
}

// RedirectRegex configures the redirectRegex middleware.
type RedirectRegex struct {
	// Regex matches the request URL.
	Regex string `json:"regex,omitempty"`
	// Replacement is the redirect target; it may use capture groups.
	Replacement string `json:"replacement,omitempty"`
	// Permanent selects 301/308 instead of 302/307.
	Permanent bool `json:"permanent,omitempty"`
}

// RedirectScheme configures the redirectScheme middleware.
type RedirectScheme struct {
	// Scheme is the target scheme.
	Scheme string `json:"scheme,omitempty"`
	// Port is the target port, as a string.
	Port string `json:"port,omitempty"`
	// Permanent selects 301/308 instead of 302/307.
	Permanent bool `json:"permanent,omitempty"`
}

// BasicAuth configures the basicAuth middleware.
type BasicAuth struct {
	// Secret names a Secret holding the users (htpasswd lines under
	// "users", or a kubernetes.io/basic-auth Secret).
	Secret string `json:"secret,omitempty"`
	// Realm is the authentication realm; empty means "traefik".
	Realm string `json:"realm,omitempty"`
	// RemoveHeader removes the Authorization header before forwarding.
	RemoveHeader bool `json:"removeHeader,omitempty"`
	// HeaderField names a request header that receives the user name.
	HeaderField string `json:"headerField,omitempty"`
}

// DigestAuth configures the digestAuth middleware.
type DigestAuth struct {
	// Secret names a Secret holding the users (htdigest lines).
	Secret string `json:"secret,omitempty"`
	// RemoveHeader removes the Authorization header before forwarding.
	RemoveHeader bool `json:"removeHeader,omitempty"`
	// Realm is the authentication realm; empty means "traefik".
	Realm string `json:"realm,omitempty"`
	// HeaderField names a request header that receives the user name.
	HeaderField string `json:"headerField,omitempty"`
}

// ForwardAuth configures the forwardAuth middleware.
type ForwardAuth struct {
	// Address is the URL of the authentication server.
	Address string `json:"address,omitempty"`
	// TrustForwardHeader forwards incoming X-Forwarded-* headers to the
	// authentication server. Deprecated by Traefik, still honoured.
	TrustForwardHeader *bool `json:"trustForwardHeader,omitempty"`
	// AuthResponseHeaders are copied from the authentication response to
	// the forwarded request.
	AuthResponseHeaders []string `json:"authResponseHeaders,omitzero"`
	// AuthResponseHeadersRegex selects more headers to copy by regex.
	AuthResponseHeadersRegex string `json:"authResponseHeadersRegex,omitempty"`
	// AuthRequestHeaders restricts the request headers sent to the
	// authentication server; empty sends them all.
	AuthRequestHeaders []string `json:"authRequestHeaders,omitzero"`
	// TLS secures the connection to the authentication server.
	TLS *ClientTLSWithCAOptional `json:"tls,omitempty"`
	// MaxResponseBodySize caps the authentication response body, in
	// bytes.
	MaxResponseBodySize *int64 `json:"maxResponseBodySize,omitempty"`
	// AddAuthCookiesToResponse lists cookies copied from the
	// authentication response to the client response.
	AddAuthCookiesToResponse []string `json:"addAuthCookiesToResponse,omitzero"`
	// HeaderField names a request header that receives the user name.
	HeaderField string `json:"headerField,omitempty"`
	// ForwardBody sends the request body to the authentication server.
	ForwardBody bool `json:"forwardBody,omitempty"`
	// MaxBodySize caps the forwarded body, in bytes; nil or -1 means no
	// cap.
	MaxBodySize *int64 `json:"maxBodySize,omitempty"`
	// PreserveLocationHeader keeps a relative Location header of the
	// authentication response as is.
	PreserveLocationHeader bool `json:"preserveLocationHeader,omitempty"`
	// PreserveRequestMethod uses the original method, instead of GET, for
	// the authentication request.
	PreserveRequestMethod bool `json:"preserveRequestMethod,omitempty"`
	// AuthSigninURL is where clients are redirected when the
	// authentication server answers 401.
	AuthSigninURL string `json:"authSigninURL,omitempty"`
}

// InFlightReq configures the inFlightReq middleware.
type InFlightReq struct {
	// Amount is the number of concurrent requests allowed per source.
	Amount int64 `json:"amount,omitempty"`
	// SourceCriterion groups requests by source.
	SourceCriterion *SourceCriterion `json:"sourceCriterion,omitempty"`
}

// Buffering configures the buffering middleware.
type Buffering struct {
	// MaxRequestBodyBytes caps request bodies; 0 means no cap.
	MaxRequestBodyBytes int64 `json:"maxRequestBodyBytes,omitempty"`
	// MemRequestBodyBytes is the request size kept in memory before
	// spilling to disk.
	MemRequestBodyBytes int64 `json:"memRequestBodyBytes,omitempty"`
	// MaxResponseBodyBytes caps response bodies; 0 means no cap.
	MaxResponseBodyBytes int64 `json:"maxResponseBodyBytes,omitempty"`
	// MemResponseBodyBytes is the response size kept in memory before
	// spilling to disk.
	MemResponseBodyBytes int64 `json:"memResponseBodyBytes,omitempty"`
	// RetryExpression decides when a buffered request is replayed.
	RetryExpression string `json:"retryExpression,omitempty"`
}

// CircuitBreaker configures the circuitBreaker middleware.
type CircuitBreaker struct {
	// Expression is the condition that trips the breaker, such as
	// "NetworkErrorRatio() > 0.5".
	Expression string `json:"expression,omitempty"`
	// CheckPeriod is the interval between evaluations of Expression.
	CheckPeriod *intstr.IntOrString `json:"checkPeriod,omitempty"`
	// FallbackDuration is how long the breaker stays open.
	FallbackDuration *intstr.IntOrString `json:"fallbackDuration,omitempty"`
	// RecoveryDuration is how long the breaker takes to close again.
	RecoveryDuration *intstr.IntOrString `json:"recoveryDuration,omitempty"`
	// ResponseCode is returned while the breaker is open; 0 means 503.
	ResponseCode int `json:"responseCode,omitempty"`
}

// Compress configures the compress middleware.
type Compress struct {
	// ExcludedContentTypes are never compressed.
	ExcludedContentTypes []string `json:"excludedContentTypes,omitzero"`
	// IncludedContentTypes, when set, are the only compressed types.
	IncludedContentTypes []string `json:"includedContentTypes,omitzero"`
	// MinResponseBodyBytes is the smallest body compressed; nil means
	// 1024.
	MinResponseBodyBytes *int `json:"minResponseBodyBytes,omitempty"`
	// Encodings lists the supported encodings in preference order.
	Encodings []string `json:"encodings,omitzero"`
	// DefaultEncoding is used when the client states no preference.
	DefaultEncoding *string `json:"defaultEncoding,omitempty"`
}

// PassTLSClientCert configures the passTLSClientCert middleware.
type PassTLSClientCert struct {
	// PEM forwards the whole certificate in X-Forwarded-Tls-Client-Cert.
	PEM bool `json:"pem,omitempty"`
	// Info selects certificate fields forwarded in
	// X-Forwarded-Tls-Client-Cert-Info.
	Info *TLSClientCertificateInfo `json:"info,omitempty"`
}

// TLSClientCertificateInfo selects client certificate fields to forward.
type TLSClientCertificateInfo struct {
	// NotAfter forwards the expiry date.
	NotAfter bool `json:"notAfter,omitempty"`
	// NotBefore forwards the start date.
	NotBefore bool `json:"notBefore,omitempty"`
	// Sans forwards the subject alternative names.
	Sans bool `json:"sans,omitempty"`
	// SerialNumber forwards the serial number.
	SerialNumber bool `json:"serialNumber,omitempty"`
	// Subject selects subject fields.
	Subject *TLSClientCertificateSubjectDNInfo `json:"subject,omitempty"`
	// Issuer selects issuer fields.
	Issuer *TLSClientCertificateIssuerDNInfo `json:"issuer,omitempty"`
}

// TLSClientCertificateSubjectDNInfo selects subject fields to forward.
type TLSClientCertificateSubjectDNInfo struct {
	// Country forwards C.
	Country bool `json:"country,omitempty"`
	// Province forwards ST.
	Province bool `json:"province,omitempty"`
	// Locality forwards L.
	Locality bool `json:"locality,omitempty"`
	// Organization forwards O.
	Organization bool `json:"organization,omitempty"`
	// OrganizationalUnit forwards OU.
	OrganizationalUnit bool `json:"organizationalUnit,omitempty"`
	// CommonName forwards CN.
	CommonName bool `json:"commonName,omitempty"`
	// SerialNumber forwards the subject serial number.
	SerialNumber bool `json:"serialNumber,omitempty"`
	// DomainComponent forwards DC.
	DomainComponent bool `json:"domainComponent,omitempty"`
}

// TLSClientCertificateIssuerDNInfo selects issuer fields to forward. It
// differs from the subject form by lacking organizationalUnit.
type TLSClientCertificateIssuerDNInfo struct {
	// Country forwards C.
	Country bool `json:"country,omitempty"`
	// Province forwards ST.
	Province bool `json:"province,omitempty"`
	// Locality forwards L.
	Locality bool `json:"locality,omitempty"`
	// Organization forwards O.
	Organization bool `json:"organization,omitempty"`
	// CommonName forwards CN.
	CommonName bool `json:"commonName,omitempty"`
	// SerialNumber forwards the issuer serial number.
	SerialNumber bool `json:"serialNumber,omitempty"`
	// DomainComponent forwards DC.
	DomainComponent bool `json:"domainComponent,omitempty"`
}

// Retry configures the retry middleware.
type Retry struct {
	// Attempts is the total number of tries.
	Attempts int `json:"attempts,omitempty"`
	// Timeout bounds the whole retry sequence.
	Timeout *intstr.IntOrString `json:"timeout,omitempty"`
	// InitialInterval is the first back-off delay; nil retries at once.
	InitialInterval *intstr.IntOrString `json:"initialInterval,omitempty"`
	// MaxRequestBodyBytes caps the body buffered for replay; -1 means no
	// cap.
	MaxRequestBodyBytes *int64 `json:"maxRequestBodyBytes,omitempty"`
	// Status lists response statuses or ranges that are retried.
	Status []string `json:"status,omitzero"`
	// DisableRetryOnNetworkError stops retrying on transport errors.
	DisableRetryOnNetworkError bool `json:"disableRetryOnNetworkError,omitempty"`
	// RetryNonIdempotentMethod allows retrying POST, PATCH and LOCK.
	RetryNonIdempotentMethod bool `json:"retryNonIdempotentMethod,omitempty"`
}

// ContentType configures the contentType middleware.
type ContentType struct {
	// AutoDetect lets the proxy guess a missing Content-Type.
	AutoDetect *bool `json:"autoDetect,omitempty"`
}

// GrpcWeb configures the grpcWeb middleware.
type GrpcWeb struct {
	// AllowOrigins lists the allowed CORS origins ("*" for any).
	AllowOrigins []string `json:"allowOrigins,omitzero"`
}

// JWT configures the jwt middleware, an edgeroute extension: Traefik's
// open-source edition has no JWT middleware (Traefik Hub's is paid), so
// this kind and its fields are edgeroute's own design (docs/jwt.md).
// Requests must carry a JSON Web Token signed by one of the configured
// keys, valid now (exp, nbf, iat within ClockSkew) and, when set, from
// Issuer, for one of Audience, with RequiredClaims. Exactly one of
// JWKSURL and JWKSSecret gives the keys.
type JWT struct {
	// JWKSURL is the http or https URL of a JSON Web Key Set. It is
	// fetched on the first request, then again when its Cache-Control
	// max-age runs out (kept between one minute and one hour; ten minutes
	// without one) or when a token names a key the set lacks (at most
	// once every ten seconds). A failed refresh keeps the last good set.
	JWKSURL string `json:"jwksURL,omitempty"`
	// JWKSSecret names a Secret, in the Middleware's namespace, whose
	// entries each hold a JWKS (or one JWK) as JSON, or PEM public keys
	// or certificates. HMAC keys (JWK kty "oct") are only taken from
	// here, and only used when Algorithms lists an HS algorithm.
	JWKSSecret string `json:"jwksSecret,omitempty"`
	// Issuer, when set, must equal the token's iss claim.
	Issuer string `json:"issuer,omitempty"`
	// Audience, when set, lists the accepted audiences: the token's aud
	// claim must name at least one of them.
	Audience []string `json:"audience,omitzero"`
	// RequiredClaims maps claim names to the value each must have: equal
	// to a string, number or boolean claim, or an element of an array
	// claim; for "scope" (space-separated, RFC 8693) every scope of the
	// value must be granted. An empty value only requires the claim to be
	// present. A token that lacks one is answered 403 insufficient_scope.
	RequiredClaims map[string]string `json:"requiredClaims,omitzero"`
	// ClockSkew is the leeway allowed on exp, nbf and iat, as seconds or
	// a duration string; nil means 30s.
	ClockSkew *intstr.IntOrString `json:"clockSkew,omitempty"`
	// Algorithms lists the accepted signing algorithms (the token's alg
	// header); empty means every asymmetric one (RS256, RS384, RS512,
	// PS256, PS384, PS512, ES256, ES384, ES512, EdDSA). "none" is never
	// accepted; HS256, HS384 and HS512 only with keys from JWKSSecret.
	Algorithms []string `json:"algorithms,omitzero"`
	// TokenSource tells where the token is read; nil means the
	// Authorization header with the Bearer scheme.
	TokenSource *JWTTokenSource `json:"tokenSource,omitempty"`
	// ForwardClaims maps claim names to request headers that receive the
	// claim's value when the token is accepted. Client-sent copies of
	// these headers are always removed first.
	ForwardClaims map[string]string `json:"forwardClaims,omitzero"`
	// RemoveHeader removes the token from the forwarded request: the
	// header, query parameter or cookie it was read from.
	RemoveHeader bool `json:"removeHeader,omitempty"`
	// Realm is the realm of the WWW-Authenticate challenge; empty means
	// "traefik", as for basicAuth.
	Realm string `json:"realm,omitempty"`
}

// JWTTokenSource tells where the jwt middleware reads the token. The
// sources set are all looked at; a request carrying a token in more than
// one of them is refused (400 invalid_request, RFC 6750 section 3.1).
type JWTTokenSource struct {
	// Header names a request header holding the token. For Authorization
	// the Bearer scheme is required (RFC 6750 section 2.1); any other
	// header holds the bare token, a "Bearer " prefix being allowed.
	Header string `json:"header,omitempty"`
	// Query names a query parameter holding the token (RFC 6750 section
	// 2.3 uses access_token).
	Query string `json:"query,omitempty"`
	// Cookie names a cookie holding the token.
	Cookie string `json:"cookie,omitempty"`
}
