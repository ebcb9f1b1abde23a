package middleware

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"
	"golang.org/x/net/http/httpguts"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// jwtConfig is the jwt kind, an edgeroute extension (Traefik's open
// edition has no JWT middleware; docs/jwt.md). It is the CRD's JWT as
// translation resolves it: jwksSecret names the Secret (namespace/name)
// and jwksSecretData holds its entries.
//
// A request passes with a token (RFC 7519) signed by one of the keys with
// an allowed algorithm, valid now (exp required; exp, nbf and iat within
// clockSkew), from issuer, for one of audience; with the requiredClaims
// it is forwarded, with the forwardClaims set as headers (client-sent
// copies removed) and, with removeHeader, without the token. Otherwise,
// as RFC 6750 section 3 says: no token, 401 with a bare Bearer challenge;
// a bad token, 401 invalid_token; missing required claims, 403
// insufficient_scope; tokens in several places, 400 invalid_request. When
// the JWKS URL could never be fetched, 500 (as forwardAuth answers when
// its server cannot be reached).
type jwtConfig struct {
	JWKSURL        string            `json:"jwksURL,omitempty"`
	JWKSSecret     string            `json:"jwksSecret,omitempty"`
	JWKSSecretData map[string]string `json:"jwksSecretData,omitzero"`
	Issuer         string            `json:"issuer,omitempty"`
	Audience       []string          `json:"audience,omitzero"`
	RequiredClaims map[string]string `json:"requiredClaims,omitzero"`
	ClockSkew      *Duration         `json:"clockSkew,omitempty"`
	Algorithms     []string          `json:"algorithms,omitzero"`
	TokenSource    *jwtTokenSource   `json:"tokenSource,omitempty"`
	ForwardClaims  map[string]string `json:"forwardClaims,omitzero"`
	RemoveHeader   bool              `json:"removeHeader,omitempty"`
	Realm          string            `json:"realm,omitempty"`
}

type jwtTokenSource struct {
	Header string `json:"header,omitempty"`
	Query  string `json:"query,omitempty"`
	Cookie string `json:"cookie,omitempty"`
}

const jwtDefaultSkew = 30 * time.Second

var (
	// jwtAsymmetric are the algorithms allowed by default.
	jwtAsymmetric = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

	errJWTAlg  = errors.New("signing algorithm not allowed")
	errJWTCrit = errors.New("critical header parameters")
	errJWTKid  = errors.New("kid is not a string")

	// jwtNoForward are headers a claim may not be forwarded in: they
	// frame or route the request.
	jwtNoForward = []string{"Host", "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive",
		"Proxy-Connection", "Te", "Trailer", "Upgrade", "Cookie"}
)

// Where the token was found.
const (
	jwtFromHeader = iota
	jwtFromQuery
	jwtFromCookie
)

type jwtMW struct {
	keys    jwtKeySource
	parser  *jwt.Parser
	allowed []string

	header string // "" when no header is a source
	bearer bool   // the header is Authorization: the Bearer scheme is required
	query  string
	cookie string

	required []jwtRequirement
	forward  []jwtForward
	remove   bool
	// challenge is `Bearer realm="..."`.
	challenge string
}

// jwtRequirement is one requiredClaims entry.
type jwtRequirement struct {
	claim, value string
	// scopes, for scope and scp, are the scopes value lists.
	scopes []string
	// desc and scope are the error_description and scope attributes of
	// the 403 challenge.
	desc, scope string
}

type jwtForward struct{ claim, header string }

func newJWT(c *jwtConfig, _ *spec.Middleware, bc *BuildContext) (Middleware, error) {
	m, err := buildJWT(c, bc, time.Now)
	if err != nil {
		return nil, err
	}
	return m.wrap, nil
}

// buildJWT builds the middleware with the clock now (tests move it).
func buildJWT(c *jwtConfig, bc *BuildContext, now func() time.Time) (*jwtMW, error) {
	m := &jwtMW{remove: c.RemoveHeader}

	// Algorithms.
	m.allowed = c.Algorithms
	if len(m.allowed) == 0 {
		m.allowed = jwtAsymmetric
	}
	hmac := false
	for _, a := range m.allowed {
		switch {
		case strings.EqualFold(a, "none"):
			return nil, errors.New(`algorithms: "none" is never accepted: tokens must be signed`)
		case hmacSizes[a] > 0:
			hmac = true
		case !slices.Contains(jwtAsymmetric, a):
			return nil, fmt.Errorf("algorithms: unknown algorithm %q (known: %s, HS256, HS384, HS512)", a, strings.Join(jwtAsymmetric, ", "))
		}
	}

	// Keys.
	switch {
	case c.JWKSURL != "" && c.JWKSSecret != "":
		return nil, errors.New("jwksURL and jwksSecret are exclusive: set one")
	case c.JWKSURL != "":
		if len(c.JWKSSecretData) > 0 {
			return nil, errors.New("jwksSecretData is only set by translation, with jwksSecret")
		}
		u, err := url.Parse(c.JWKSURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("jwksURL %q: want an http or https URL", c.JWKSURL)
		}
		if u.Scheme == "http" {
			bc.Warn("jwksURL %s is plain http: the keys could be altered in transit", c.JWKSURL)
		}
		if hmac {
			return nil, errors.New("algorithms: HMAC algorithms (HS256, HS384, HS512) need a shared key from jwksSecret; keys fetched from jwksURL are public")
		}
		m.keys = newRemoteKeys(c.JWKSURL, now)
	case c.JWKSSecret != "":
		set, err := secretKeys(c.JWKSSecret, c.JWKSSecretData)
		if err != nil {
			return nil, err
		}
		fits, hmacKeys := false, false
		for i := range set.keys {
			k := &set.keys[i]
			_, isHMAC := k.key.([]byte)
			hmacKeys = hmacKeys || isHMAC
			for _, a := range m.allowed {
				fits = fits || keyFits(k, a)
			}
		}
		switch {
		case hmac && !hasHMACKey(set, m.allowed):
			return nil, fmt.Errorf("algorithms allow HMAC but jwksSecret %s holds no HMAC key (kty oct) long enough for them (32, 48, 64 bytes for HS256, HS384, HS512)", c.JWKSSecret)
		case !fits:
			return nil, fmt.Errorf("no key of jwksSecret %s fits the allowed algorithms (%s)", c.JWKSSecret, strings.Join(m.allowed, ", "))
		case hmacKeys && !hmac:
			bc.Warn("jwksSecret %s holds HMAC keys, unused: algorithms does not list HS256, HS384 or HS512", c.JWKSSecret)
		}
		m.keys = staticKeys{set: set}
	default:
		return nil, errors.New("jwksURL or jwksSecret is required")
	}

	// Claims validation.
	skew := jwtDefaultSkew
	if c.ClockSkew != nil {
		skew = time.Duration(*c.ClockSkew)
		if skew < 0 {
			return nil, fmt.Errorf("clockSkew %s: must not be negative", skew)
		}
	}
	opts := []jwt.ParserOption{jwt.WithLeeway(skew), jwt.WithTimeFunc(now), jwt.WithIssuedAt(),
		jwt.WithExpirationRequired(), jwt.WithJSONNumber(), jwt.WithStrictDecoding()}
	if c.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(c.Issuer))
	}
	for _, a := range c.Audience {
		if a == "" {
			return nil, errors.New("audience: an empty audience")
		}
	}
	if len(c.Audience) > 0 {
		opts = append(opts, jwt.WithAudience(c.Audience...))
	}
	if c.Issuer == "" && len(c.Audience) == 0 {
		bc.Warn("neither issuer nor audience is set: any unexpired token signed by these keys passes")
	}
	m.parser = jwt.NewParser(opts...)

	for _, name := range slices.Sorted(maps.Keys(c.RequiredClaims)) {
		q, err := newJWTRequirement(name, c.RequiredClaims[name])
		if err != nil {
			return nil, err
		}
		m.required = append(m.required, q)
	}

	// Token sources.
	src := c.TokenSource
	if src == nil {
		src = &jwtTokenSource{Header: "Authorization"}
	}
	if src.Header == "" && src.Query == "" && src.Cookie == "" {
		return nil, errors.New("tokenSource: set header, query or cookie")
	}
	if src.Header != "" {
		if !httpguts.ValidHeaderFieldName(src.Header) {
			return nil, fmt.Errorf("tokenSource.header %q: not a header name", src.Header)
		}
		m.header = http.CanonicalHeaderKey(src.Header)
		m.bearer = m.header == "Authorization"
	}
	if src.Cookie != "" && !httpguts.ValidHeaderFieldName(src.Cookie) {
		return nil, fmt.Errorf("tokenSource.cookie %q: not a cookie name", src.Cookie)
	}
	m.query, m.cookie = src.Query, src.Cookie

	// Forwarded claims.
	seen := map[string]string{}
	for _, claim := range slices.Sorted(maps.Keys(c.ForwardClaims)) {
		h := c.ForwardClaims[claim]
		if claim == "" {
			return nil, errors.New("forwardClaims: an empty claim name")
		}
		if !httpguts.ValidHeaderFieldName(h) {
			return nil, fmt.Errorf("forwardClaims %s: %q is not a header name", claim, h)
		}
		h = http.CanonicalHeaderKey(h)
		if slices.Contains(jwtNoForward, h) {
			return nil, fmt.Errorf("forwardClaims %s: header %s cannot receive a claim", claim, h)
		}
		if h == m.header {
			return nil, fmt.Errorf("forwardClaims %s: header %s carries the token", claim, h)
		}
		if other, dup := seen[h]; dup {
			return nil, fmt.Errorf("forwardClaims: claims %s and %s both go to header %s", other, claim, h)
		}
		seen[h] = claim
		m.forward = append(m.forward, jwtForward{claim: claim, header: h})
	}

	realm := c.Realm
	if realm == "" {
		realm = "traefik"
	}
	if !rfc6750Text(realm) {
		return nil, fmt.Errorf("realm %q: quotes, backslashes and control characters are not allowed", realm)
	}
	m.challenge = `Bearer realm="` + realm + `"`
	return m, nil
}

// secretKeys parses the entries of the Secret named by jwksSecret, in name
// order.
func secretKeys(secret string, data map[string]string) (*jwtKeySet, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("jwksSecret %s holds no keys", secret)
	}
	set := &jwtKeySet{}
	for _, name := range slices.Sorted(maps.Keys(data)) {
		keys, err := parseKeyData([]byte(data[name]), true)
		if err != nil {
			return nil, fmt.Errorf("jwksSecret %s, entry %s: %v", secret, name, err)
		}
		set.keys = append(set.keys, keys...)
	}
	if len(set.keys) == 0 {
		return nil, fmt.Errorf("jwksSecret %s holds no signature keys", secret)
	}
	return set, nil
}

func hasHMACKey(set *jwtKeySet, algs []string) bool {
	for i := range set.keys {
		for _, a := range algs {
			if _, ok := set.keys[i].key.([]byte); ok && keyFits(&set.keys[i], a) {
				return true
			}
		}
	}
	return false
}

func newJWTRequirement(name, value string) (jwtRequirement, error) {
	if name == "" {
		return jwtRequirement{}, errors.New("requiredClaims: an empty claim name")
	}
	q := jwtRequirement{claim: name, value: value, desc: "token lacks a required claim"}
	if rfc6750Text(name) {
		q.desc = "token lacks the required claim " + name
	}
	if (name == "scope" || name == "scp") && value != "" {
		q.scopes = strings.Fields(value)
		// RFC 6749 section 3.3: scope tokens are %x21 / %x23-5B / %x5D-7E.
		if !rfc6750Text(value) {
			return jwtRequirement{}, fmt.Errorf("requiredClaims %s %q: quotes, backslashes and control characters are not scope characters", name, value)
		}
		q.scope = strings.Join(q.scopes, " ")
		q.desc = "token lacks the required scope"
	}
	return q, nil
}

// rfc6750Text tells whether s may stand in a quoted attribute of the
// Bearer challenge (RFC 6750 section 3: %x20-21 / %x23-5B / %x5D-7E).
func rfc6750Text(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func (m *jwtMW) wrap(next Handler) Handler {
	return func(ctx *fasthttp.RequestCtx, r *Request) {
		tok, from, n := m.token(ctx, r)
		switch {
		case n > 1:
			m.deny(ctx, fasthttp.StatusBadRequest, "invalid_request", "more than one token in the request", "")
			return
		case n == 0:
			m.deny(ctx, fasthttp.StatusUnauthorized, "", "", "")
			return
		}
		claims := jwt.MapClaims{}
		if _, err := m.parser.ParseWithClaims(tok, claims, m.keyfunc); err != nil {
			status, desc := jwtFailure(err, claims)
			m.deny(ctx, status, "invalid_token", desc, "")
			return
		}
		for i := range m.required {
			if q := &m.required[i]; !q.met(claims) {
				m.deny(ctx, fasthttp.StatusForbidden, "insufficient_scope", q.desc, q.scope)
				return
			}
		}
		h := &ctx.Request.Header
		for _, f := range m.forward {
			h.Del(f.header)
		}
		for _, f := range m.forward {
			if v, ok := claimHeaderValue(claims[f.claim]); ok {
				h.Set(f.header, v)
			}
		}
		if m.remove {
			m.removeToken(ctx, r, from)
		}
		next(ctx, r)
	}
}

// token finds the token in the configured sources; n counts the sources
// that carry one.
func (m *jwtMW) token(ctx *fasthttp.RequestCtx, r *Request) (tok string, from, n int) {
	if m.header != "" {
		v := bytes.TrimSpace(ctx.Request.Header.Peek(m.header))
		if scheme, rest, ok := bytes.Cut(v, []byte(" ")); ok && bytes.EqualFold(scheme, []byte("Bearer")) {
			v = bytes.TrimSpace(rest)
		} else if m.bearer {
			v = nil // another scheme, or no token: no Bearer credentials
		}
		if len(v) > 0 {
			tok, from, n = string(v), jwtFromHeader, n+1
		}
	}
	if m.query != "" {
		if v, ok := queryValue(r.Query, m.query); ok && v != "" {
			tok, from, n = v, jwtFromQuery, n+1
		}
	}
	if m.cookie != "" {
		if v := bytes.TrimSpace(ctx.Request.Header.Cookie(m.cookie)); len(v) > 0 {
			tok, from, n = string(v), jwtFromCookie, n+1
		}
	}
	return tok, from, n
}

// queryValue returns the first value of parameter name in a raw query
// ('&' or ';' separated, as forwarded).
func queryValue(q []byte, name string) (string, bool) {
	for len(q) > 0 {
		pair := q
		if i := bytes.IndexAny(q, "&;"); i >= 0 {
			pair, q = q[:i], q[i+1:]
		} else {
			q = nil
		}
		k, v, _ := bytes.Cut(pair, []byte("="))
		if key, err := url.QueryUnescape(string(k)); err != nil || key != name {
			continue
		}
		val, err := url.QueryUnescape(string(v))
		return val, err == nil
	}
	return "", false
}

// removeToken takes the token out of the forwarded request.
func (m *jwtMW) removeToken(ctx *fasthttp.RequestCtx, r *Request, from int) {
	switch from {
	case jwtFromHeader:
		ctx.Request.Header.Del(m.header)
	case jwtFromCookie:
		ctx.Request.Header.DelCookie(m.cookie)
	case jwtFromQuery:
		var out []byte
		q := r.Query
		for len(q) > 0 {
			pair := q
			if i := bytes.IndexAny(q, "&;"); i >= 0 {
				pair, q = q[:i], q[i+1:]
			} else {
				q = nil
			}
			k, _, _ := bytes.Cut(pair, []byte("="))
			if key, err := url.QueryUnescape(string(k)); err == nil && key == m.query {
				continue
			}
			if len(out) > 0 {
				out = append(out, '&')
			}
			out = append(out, pair...)
		}
		r.Query, r.HasQuery = out, len(out) > 0
	}
}

// keyfunc checks the token's header and returns the keys that may verify
// it.
func (m *jwtMW) keyfunc(t *jwt.Token) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		return nil, errJWTCrit // no extension is understood (RFC 7515 section 4.1.11)
	}
	alg := t.Method.Alg()
	if !slices.Contains(m.allowed, alg) {
		return nil, errJWTAlg
	}
	kid, ok := t.Header["kid"].(string)
	if _, has := t.Header["kid"]; has && !ok {
		return nil, errJWTKid
	}
	keys, err := m.keys.lookup(kid, alg)
	if err != nil {
		return nil, err
	}
	return jwt.VerificationKeySet{Keys: keys}, nil
}

// jwtFailure gives the status and error_description for a token refused
// by the parser.
func jwtFailure(err error, claims jwt.MapClaims) (int, string) {
	switch {
	case errors.Is(err, errJWKSUnavailable):
		return fasthttp.StatusInternalServerError, ""
	case errors.Is(err, errJWTAlg):
		return fasthttp.StatusUnauthorized, "signing algorithm is not allowed"
	case errors.Is(err, errJWTCrit):
		return fasthttp.StatusUnauthorized, "token has critical header parameters"
	case errors.Is(err, errJWTNoKey):
		return fasthttp.StatusUnauthorized, "no key matches the token"
	case errors.Is(err, errJWTKid), errors.Is(err, jwt.ErrTokenMalformed):
		return fasthttp.StatusUnauthorized, "token is malformed"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// No alg, or one the library does not know.
		return fasthttp.StatusUnauthorized, "signing algorithm is not allowed"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return fasthttp.StatusUnauthorized, "token signature is invalid"
	case errors.Is(err, jwt.ErrTokenExpired):
		return fasthttp.StatusUnauthorized, "token is expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return fasthttp.StatusUnauthorized, "token is not valid yet"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return fasthttp.StatusUnauthorized, "token is issued in the future"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return fasthttp.StatusUnauthorized, "token has invalid issuer"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return fasthttp.StatusUnauthorized, "token has invalid audience"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		for _, c := range []string{"exp", "iss", "aud"} {
			if _, ok := claims[c]; !ok {
				return fasthttp.StatusUnauthorized, "token has no " + c + " claim"
			}
		}
	}
	return fasthttp.StatusUnauthorized, "token has invalid claims"
}

// deny answers the request itself, with RFC 6750's challenge.
func (m *jwtMW) deny(ctx *fasthttp.RequestCtx, status int, code, desc, scope string) {
	ctx.SetStatusCode(status)
	if status == fasthttp.StatusInternalServerError {
		return
	}
	ch := append(make([]byte, 0, 128), m.challenge...)
	if code != "" {
		ch = append(append(append(ch, `, error="`...), code...), '"')
	}
	if desc != "" {
		ch = append(append(append(ch, `, error_description="`...), desc...), '"')
	}
	if scope != "" {
		ch = append(append(append(ch, `, scope="`...), scope...), '"')
	}
	ctx.Response.Header.SetBytesV("WWW-Authenticate", ch)
	ctx.Response.Header.SetContentType("text/plain")
	ctx.Response.SetBodyString(strconv.Itoa(status) + " " + fasthttp.StatusMessage(status) + "\n")
}

// met tells whether the claims satisfy the requirement.
func (q *jwtRequirement) met(claims jwt.MapClaims) bool {
	v, ok := claims[q.claim]
	switch {
	case !ok || v == nil:
		return false
	case q.value == "":
		return true
	case q.scopes != nil:
		var granted []string
		switch v := v.(type) {
		case string:
			granted = strings.Fields(v)
		case []any:
			for _, e := range v {
				if s, ok := e.(string); ok {
					granted = append(granted, s)
				}
			}
		}
		for _, s := range q.scopes {
			if !slices.Contains(granted, s) {
				return false
			}
		}
		return true
	}
	if list, ok := v.([]any); ok {
		for _, e := range list {
			if s, ok := claimScalar(e); ok && s == q.value {
				return true
			}
		}
		return false
	}
	s, ok := claimScalar(v)
	return ok && s == q.value
}

// claimScalar is the text of a string, number or boolean claim value.
func claimScalar(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return string(v), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}

// claimHeaderValue is a claim as forwarded in a header: a string, number
// or boolean as its text, an array of those comma-separated, anything
// else as compact JSON. Null, empty values and values a header cannot
// carry (control characters) are not forwarded.
func claimHeaderValue(v any) (string, bool) {
	if v == nil {
		return "", false
	}
	s, ok := claimScalar(v)
	if !ok {
		if list, isList := v.([]any); isList {
			parts := make([]string, 0, len(list))
			for _, e := range list {
				p, ok := claimScalar(e)
				if !ok {
					parts = nil
					break
				}
				parts = append(parts, p)
			}
			if parts != nil || len(list) == 0 {
				s, ok = strings.Join(parts, ","), true
			}
		}
	}
	if !ok {
		b, err := json.Marshal(v)
		if err != nil {
			return "", false
		}
		s = string(b)
	}
	if s == "" || !httpguts.ValidHeaderFieldValue(s) {
		return "", false
	}
	return s, true
}
