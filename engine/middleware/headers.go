// Runs per request: must not allocate (guarded by TestHeadersAllocs), but
// for a contentSecurityPolicy whose nonce template fmt must format.

package middleware

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/textproto"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http/httpguts"

	"github.com/edgeroute/edgeroute/compile"
	"github.com/edgeroute/edgeroute/compile/spec"
)

// headersConfig is Traefik's headers middleware: custom request and
// response headers, CORS, and the security headers of unrolled/secure with
// the options Traefik v3 gives it. JSON names keep Traefik's historical
// casing.
type headersConfig struct {
	CustomRequestHeaders  map[string]string `json:"customRequestHeaders,omitempty"`
	CustomResponseHeaders map[string]string `json:"customResponseHeaders,omitempty"`

	AccessControlAllowCredentials     bool     `json:"accessControlAllowCredentials,omitempty"`
	AccessControlAllowHeaders         []string `json:"accessControlAllowHeaders,omitempty"`
	AccessControlAllowMethods         []string `json:"accessControlAllowMethods,omitempty"`
	AccessControlAllowOriginList      []string `json:"accessControlAllowOriginList,omitempty"`
	AccessControlAllowOriginListRegex []string `json:"accessControlAllowOriginListRegex,omitempty"`
	AccessControlExposeHeaders        []string `json:"accessControlExposeHeaders,omitempty"`
	AccessControlMaxAge               *int64   `json:"accessControlMaxAge,omitempty"`
	AddVaryHeader                     bool     `json:"addVaryHeader,omitempty"`

	AllowedHosts                    []string          `json:"allowedHosts,omitempty"`
	HostsProxyHeaders               []string          `json:"hostsProxyHeaders,omitempty"`
	SSLProxyHeaders                 map[string]string `json:"sslProxyHeaders,omitempty"`
	STSSeconds                      *int64            `json:"stsSeconds,omitempty"`
	STSIncludeSubdomains            bool              `json:"stsIncludeSubdomains,omitempty"`
	STSPreload                      bool              `json:"stsPreload,omitempty"`
	ForceSTSHeader                  bool              `json:"forceSTSHeader,omitempty"`
	FrameDeny                       bool              `json:"frameDeny,omitempty"`
	CustomFrameOptionsValue         string            `json:"customFrameOptionsValue,omitempty"`
	ContentTypeNosniff              bool              `json:"contentTypeNosniff,omitempty"`
	BrowserXSSFilter                bool              `json:"browserXssFilter,omitempty"`
	CustomBrowserXSSValue           string            `json:"customBrowserXSSValue,omitempty"`
	ContentSecurityPolicy           string            `json:"contentSecurityPolicy,omitempty"`
	ContentSecurityPolicyReportOnly string            `json:"contentSecurityPolicyReportOnly,omitempty"`
	PublicKey                       string            `json:"publicKey,omitempty"`
	ReferrerPolicy                  string            `json:"referrerPolicy,omitempty"`
	PermissionsPolicy               string            `json:"permissionsPolicy,omitempty"`
	IsDevelopment                   bool              `json:"isDevelopment,omitempty"`

	// Deprecated options that Traefik v3 still accepts but no longer
	// passes to its secure middleware: they do nothing (a warning says so).
	FeaturePolicy        *string `json:"featurePolicy,omitempty"`
	SSLRedirect          *bool   `json:"sslRedirect,omitempty"`
	SSLTemporaryRedirect *bool   `json:"sslTemporaryRedirect,omitempty"`
	SSLHost              *string `json:"sslHost,omitempty"`
	SSLForceHost         *bool   `json:"sslForceHost,omitempty"`
}

// Traefik's three groups (dynamic.Headers' Has*Defined): at least one must
// be configured.
func (c *headersConfig) hasCustom() bool {
	return len(c.CustomRequestHeaders) != 0 || len(c.CustomResponseHeaders) != 0
}

func (c *headersConfig) hasCORS() bool {
	return c.AccessControlAllowCredentials || len(c.AccessControlAllowHeaders) != 0 ||
		len(c.AccessControlAllowMethods) != 0 || len(c.AccessControlAllowOriginList) != 0 ||
		len(c.AccessControlAllowOriginListRegex) != 0 || len(c.AccessControlExposeHeaders) != 0 ||
		c.AccessControlMaxAge != nil || c.AddVaryHeader
}

func (c *headersConfig) hasSecure() bool {
	isTrue := func(b *bool) bool { return b != nil && *b }
	isSet := func(s *string) bool { return s != nil && *s != "" }
	return len(c.AllowedHosts) != 0 || len(c.HostsProxyHeaders) != 0 ||
		isTrue(c.SSLRedirect) || isTrue(c.SSLTemporaryRedirect) || isTrue(c.SSLForceHost) || isSet(c.SSLHost) ||
		len(c.SSLProxyHeaders) != 0 || c.STSSeconds != nil || c.STSIncludeSubdomains || c.STSPreload ||
		c.ForceSTSHeader || c.FrameDeny || c.CustomFrameOptionsValue != "" || c.ContentTypeNosniff ||
		c.BrowserXSSFilter || c.CustomBrowserXSSValue != "" || c.ContentSecurityPolicy != "" ||
		c.ContentSecurityPolicyReportOnly != "" || c.PublicKey != "" || c.ReferrerPolicy != "" ||
		isSet(c.FeaturePolicy) || c.PermissionsPolicy != "" || c.IsDevelopment
}

// Header names the middleware writes.
const (
	hACAllowOrigin      = "Access-Control-Allow-Origin"
	hACAllowCredentials = "Access-Control-Allow-Credentials"
	hACAllowHeaders     = "Access-Control-Allow-Headers"
	hACAllowMethods     = "Access-Control-Allow-Methods"
	hACExposeHeaders    = "Access-Control-Expose-Headers"
	hACMaxAge           = "Access-Control-Max-Age"
	hACRequestMethod    = "Access-Control-Request-Method"
	hACRequestHeaders   = "Access-Control-Request-Headers"
	hOrigin             = "Origin"
	hVary               = "Vary"
	hSTS                = "Strict-Transport-Security"
	hCSP                = "Content-Security-Policy"
	hCSPReportOnly      = "Content-Security-Policy-Report-Only"
)

var (
	strTrue     = []byte("true")
	strOrigin   = []byte("Origin")
	bodyBadHost = []byte("Bad Host\n")
)

// headerOp sets a header (name canonical, value as written on the wire) or,
// with del, removes it.
type headerOp struct {
	name  string
	value []byte
	del   bool
}

// cspValue is a Content-Security-Policy(-Report-Only) value: fixed, or a
// template with a per-request nonce (unrolled/secure's $NONCE).
type cspValue struct {
	name  string
	fixed []byte   // no nonce
	parts [][]byte // nonce goes between parts
	tpl   string   // neither: fmt formats tpl with the nonce
}

type headersMW struct {
	// Custom request headers, in the order of their names.
	reqOps []headerOp
	// host is a custom Host: hostRaw as configured (the secure checks see
	// it), hostWire as sent, hostCanon for Request.Host.
	hasHost                     bool
	hostRaw, hostWire, hostCano []byte
	omitXFF                     bool
	respOps                     []headerOp
	respCL                      bool // customResponseHeaders removes Content-Length

	// CORS.
	cors             bool
	credentials      bool
	allowHeaders     []byte
	allowHeadersEcho bool // "*" with credentials: echo Access-Control-Request-Headers
	allowMethods     []byte
	allowMethodsEcho bool
	origins          [][]byte
	originRegexps    []*regexp.Regexp
	maxAge           []byte // nil: not sent
	expose           []byte // nil: not sent
	vary             bool
	corsResponse     bool // something applies to non-preflight responses

	// Security headers (unrolled/secure).
	secure       bool
	hostsProxy   []string
	allowedHosts [][]byte // nil: every host is accepted
	sslProxy     []headerOp
	sts          []byte // nil: never sent
	forceSTS     bool
	fixed        []headerOp // sent on every response
	hpkp         []byte     // sent over HTTPS
	csp          []cspValue
	nonce        bool

	changesResponse bool
}

func newHeaders(c *headersConfig, _ *spec.Middleware, bc *BuildContext) (Middleware, error) {
	custom, cors, secure := c.hasCustom(), c.hasCORS(), c.hasSecure()
	if !custom && !cors && !secure {
		return nil, errors.New("headers configuration not valid") // Traefik's message
	}
	warnIgnored(c, bc)
	m := &headersMW{cors: cors, secure: secure}
	if err := m.buildCustom(c, bc); err != nil {
		return nil, err
	}
	if cors {
		if err := m.buildCORS(c); err != nil {
			return nil, err
		}
	}
	if secure {
		if err := m.buildSecure(c); err != nil {
			return nil, err
		}
	}
	m.changesResponse = len(m.respOps) > 0 || m.respCL || m.corsResponse ||
		m.sts != nil || len(m.fixed) > 0 || m.hpkp != nil || len(m.csp) > 0
	return m.wrap, nil
}

// warnIgnored reports the options Traefik v3 removed from its secure
// middleware: it still reads them (they count as "security headers
// defined") but no longer acts on them, and neither does edgeroute.
func warnIgnored(c *headersConfig, bc *BuildContext) {
	for _, o := range []struct {
		name, use string
		set       bool
	}{
		{"featurePolicy", "permissionsPolicy", c.FeaturePolicy != nil},
		{"sslRedirect", "an entry point redirection or the redirectScheme middleware", c.SSLRedirect != nil},
		{"sslTemporaryRedirect", "an entry point redirection or the redirectScheme middleware", c.SSLTemporaryRedirect != nil},
		{"sslHost", "the redirectRegex middleware", c.SSLHost != nil},
		{"sslForceHost", "the redirectRegex middleware", c.SSLForceHost != nil},
	} {
		if o.set {
			bc.Warn("the %s option is deprecated and has no effect (Traefik v3 removed it), please use %s instead", o.name, o.use)
		}
	}
}

// wireValue is a response header value as Go's HTTP/1 server writes it
// for Traefik: line breaks as spaces, surrounding blanks trimmed.
func wireValue(v string) []byte {
	return []byte(textproto.TrimString(strings.NewReplacer("\r", " ", "\n", " ").Replace(v)))
}

// sortedNames returns a map's keys in order, refusing two spellings of one
// header (Traefik would apply them in random order).
func sortedNames(field string, m map[string]string) ([]string, error) {
	names := make([]string, 0, len(m))
	seen := make(map[string]string, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !httpguts.ValidHeaderFieldName(k) {
			return nil, fmt.Errorf("%s: %q is not a valid header name", field, k)
		}
		ck := textproto.CanonicalMIMEHeaderKey(k)
		if prev, dup := seen[ck]; dup {
			return nil, fmt.Errorf("%s: %q and %q name the same header", field, prev, k)
		}
		seen[ck] = k
	}
	return names, nil
}

func (m *headersMW) buildCustom(c *headersConfig, bc *BuildContext) error {
	names, err := sortedNames("customRequestHeaders", c.CustomRequestHeaders)
	if err != nil {
		return err
	}
	for _, k := range names {
		v := c.CustomRequestHeaders[k]
		ck := textproto.CanonicalMIMEHeaderKey(k)
		switch {
		case v == "" && k == "X-Forwarded-For":
			// Traefik leaves the header nil: removed, and not added back
			// by the proxy. Another spelling is only deleted.
			m.reqOps = append(m.reqOps, headerOp{name: ck, del: true})
			m.omitXFF = true
		case ck == "Host":
			if v == "" {
				continue // Go keeps the Host apart from the header map
			}
			wire, err := httpguts.PunycodeHostPort(v)
			if err != nil || !httpguts.ValidHostHeader(wire) {
				return fmt.Errorf("customRequestHeaders: Host %q is not a valid host", v)
			}
			m.hasHost = true
			m.hostRaw, m.hostWire = []byte(v), []byte(removeZone(wire))
			m.hostCano = compile.AppendCanonicalHost(nil, m.hostRaw)
		case ck == "Content-Length" || ck == "Transfer-Encoding" || ck == "Trailer":
			// Go's transport frames the forwarded request itself and
			// ignores these in the header map.
			bc.Warn("customRequestHeaders: %s has no effect on the forwarded request", ck)
		case v == "":
			m.reqOps = append(m.reqOps, headerOp{name: ck, del: true})
		default:
			if !httpguts.ValidHeaderFieldValue(v) {
				return fmt.Errorf("customRequestHeaders: the value of %s has a control character", k)
			}
			m.reqOps = append(m.reqOps, headerOp{name: ck, value: []byte(textproto.TrimString(v))})
		}
	}
	if names, err = sortedNames("customResponseHeaders", c.CustomResponseHeaders); err != nil {
		return err
	}
	for _, k := range names {
		v := c.CustomResponseHeaders[k]
		ck := textproto.CanonicalMIMEHeaderKey(k)
		switch {
		case ck == "Content-Length" && v == "":
			m.respCL = true
		case ck == "Content-Length" || ck == "Transfer-Encoding":
			if v != "" {
				return fmt.Errorf("customResponseHeaders: %s cannot be set, it frames the response body", ck)
			}
		case v == "":
			m.respOps = append(m.respOps, headerOp{name: ck, del: true})
		default:
			m.respOps = append(m.respOps, headerOp{name: ck, value: wireValue(v)})
		}
	}
	return nil
}

// removeZone drops an IPv6 zone from a host, as Go's transport does.
func removeZone(host string) string {
	if !strings.HasPrefix(host, "[") {
		return host
	}
	i := strings.LastIndex(host, "]")
	if i < 0 {
		return host
	}
	j := strings.LastIndex(host[:i], "%")
	if j < 0 {
		return host
	}
	return host[:j] + host[i:]
}

func (m *headersMW) buildCORS(c *headersConfig) error {
	for _, s := range c.AccessControlAllowOriginListRegex {
		re, err := regexp.Compile(s)
		if err != nil {
			return fmt.Errorf("error occurred during origin parsing: %w", err) // Traefik's message
		}
		m.originRegexps = append(m.originRegexps, re)
	}
	for _, o := range c.AccessControlAllowOriginList {
		m.origins = append(m.origins, []byte(o))
	}
	m.credentials = c.AccessControlAllowCredentials
	star := func(l []string) bool { return slices.Contains(l, "*") && m.credentials }
	m.allowHeadersEcho = star(c.AccessControlAllowHeaders)
	if s := strings.Join(c.AccessControlAllowHeaders, ","); s != "" {
		m.allowHeaders = wireValue(s)
	}
	m.allowMethodsEcho = star(c.AccessControlAllowMethods)
	if s := strings.Join(c.AccessControlAllowMethods, ","); s != "" {
		m.allowMethods = wireValue(s)
	}
	if c.AccessControlMaxAge != nil {
		m.maxAge = strconv.AppendInt(nil, *c.AccessControlMaxAge, 10)
	}
	if len(c.AccessControlExposeHeaders) > 0 && !star(c.AccessControlExposeHeaders) {
		m.expose = wireValue(strings.Join(c.AccessControlExposeHeaders, ","))
	}
	m.vary = c.AddVaryHeader
	m.corsResponse = len(m.origins) > 0 || len(m.originRegexps) > 0 || m.credentials || m.expose != nil || m.vary
	return nil
}

func (m *headersMW) buildSecure(c *headersConfig) error {
	for _, h := range c.HostsProxyHeaders {
		m.hostsProxy = append(m.hostsProxy, textproto.CanonicalMIMEHeaderKey(h))
	}
	if len(c.AllowedHosts) > 0 && !c.IsDevelopment {
		for _, h := range c.AllowedHosts {
			m.allowedHosts = append(m.allowedHosts, []byte(h))
		}
	}
	keys := make([]string, 0, len(c.SSLProxyHeaders))
	for k := range c.SSLProxyHeaders {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		m.sslProxy = append(m.sslProxy, headerOp{name: textproto.CanonicalMIMEHeaderKey(k), value: []byte(c.SSLProxyHeaders[k])})
	}
	var sts int64
	if c.STSSeconds != nil {
		if sts = *c.STSSeconds; sts < 0 {
			return fmt.Errorf("stsSeconds %d: must be 0 or more", sts)
		}
	}
	if sts != 0 && !c.IsDevelopment {
		v := "max-age=" + strconv.FormatInt(sts, 10)
		if c.STSIncludeSubdomains {
			v += "; includeSubDomains"
		}
		if c.STSPreload {
			v += "; preload"
		}
		m.sts = []byte(v)
	}
	m.forceSTS = c.ForceSTSHeader
	add := func(name, v string) {
		if v != "" {
			m.fixed = append(m.fixed, headerOp{name: name, value: wireValue(v)})
		}
	}
	frame := c.CustomFrameOptionsValue
	if frame == "" && c.FrameDeny {
		frame = "DENY"
	}
	add("X-Frame-Options", frame)
	if c.ContentTypeNosniff {
		add("X-Content-Type-Options", "nosniff")
	}
	xss := c.CustomBrowserXSSValue
	if xss == "" && c.BrowserXSSFilter {
		xss = "1; mode=block"
	}
	add("X-Xss-Protection", xss)
	add("Referrer-Policy", c.ReferrerPolicy)
	add("Permissions-Policy", c.PermissionsPolicy)
	if c.PublicKey != "" && !c.IsDevelopment {
		m.hpkp = wireValue(c.PublicKey)
	}
	// unrolled/secure turns $NONCE into a fmt verb; once either policy has
	// one, both are formatted with the request's nonce.
	const verb = "%[1]s"
	csp := strings.ReplaceAll(c.ContentSecurityPolicy, "$NONCE", "'nonce-"+verb+"'")
	cspRO := strings.ReplaceAll(c.ContentSecurityPolicyReportOnly, "$NONCE", "'nonce-"+verb+"'")
	m.nonce = strings.Contains(csp, verb) || strings.Contains(cspRO, verb)
	for _, p := range [][2]string{{hCSP, csp}, {hCSPReportOnly, cspRO}} {
		switch {
		case p[1] == "":
		case !m.nonce:
			m.csp = append(m.csp, cspValue{name: p[0], fixed: wireValue(p[1])})
		default:
			m.csp = append(m.csp, nonceTemplate(p[0], p[1]))
		}
	}
	return nil
}

// nonceLen is the length of a nonce: 16 random bytes, unpadded base64.
var nonceLen = base64.RawStdEncoding.EncodedLen(16)

// nonceTemplate splits what fmt makes of tpl with a nonce into the parts
// around the nonce, when fmt only inserts it (checked with two sample
// nonces); other templates are formatted per request.
func nonceTemplate(name, tpl string) cspValue {
	a, b := strings.Repeat("A", nonceLen), strings.Repeat("B", nonceLen)
	parts := strings.Split(fmt.Sprintf(tpl, a), a)
	if strings.Join(parts, b) != fmt.Sprintf(tpl, b) {
		return cspValue{name: name, tpl: tpl}
	}
	v := cspValue{name: name}
	for i, p := range parts {
		p = strings.NewReplacer("\r", " ", "\n", " ").Replace(p)
		if i == 0 {
			p = strings.TrimLeft(p, " \t")
		}
		if i == len(parts)-1 {
			p = strings.TrimRight(p, " \t")
		}
		v.parts = append(v.parts, []byte(p))
	}
	return v
}

func (m *headersMW) wrap(next Handler) Handler {
	return func(ctx *fasthttp.RequestCtx, r *Request) {
		if m.cors && m.preflight(ctx) {
			return
		}
		m.modifyRequest(ctx, r)
		ssl := false
		if m.secure {
			if !m.goodHost(ctx) {
				// unrolled/secure's bad host handler, answered through
				// the custom and CORS response headers.
				ctx.Response.Header.Del("Content-Length")
				ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
				setHeader(&ctx.Response.Header, "X-Content-Type-Options", []byte("nosniff"))
				ctx.SetStatusCode(fasthttp.StatusInternalServerError)
				ctx.Response.SetBody(bodyBadHost)
				m.modifyResponse(ctx, r)
				return
			}
			ssl = m.isSSL(ctx, r)
		}
		if m.changesResponse {
			r.ChangesResponse = true
		}
		next(ctx, r)
		if !m.changesResponse {
			return
		}
		if s := ctx.Response.StatusCode(); s >= 100 && s <= 199 {
			return // Traefik's response modifiers pass informational answers
		}
		if m.secure {
			m.secureResponse(ctx, r, ssl)
		}
		m.modifyResponse(ctx, r)
	}
}

// setHeader is http.Header.Set on a response: every earlier value goes.
func setHeader(h *fasthttp.ResponseHeader, name string, value []byte) {
	h.Del(name)
	h.AddBytesV(name, value)
}

// preflight answers a CORS preflight request (OPTIONS with Origin and
// Access-Control-Request-Method) itself, as Traefik does: 200, no body,
// the CORS headers only.
func (m *headersMW) preflight(ctx *fasthttp.RequestCtx) bool {
	req := &ctx.Request.Header
	if string(req.Method()) != fasthttp.MethodOptions {
		return false
	}
	method, origin := req.Peek(hACRequestMethod), req.Peek(hOrigin)
	if len(method) == 0 || len(origin) == 0 {
		return false
	}
	h := &ctx.Response.Header
	if m.credentials {
		setHeader(h, hACAllowCredentials, strTrue)
	}
	if m.allowHeadersEcho {
		if v := req.Peek(hACRequestHeaders); len(v) > 0 {
			setHeader(h, hACAllowHeaders, v)
		}
	} else if m.allowHeaders != nil {
		setHeader(h, hACAllowHeaders, m.allowHeaders)
	}
	if m.allowMethodsEcho {
		setHeader(h, hACAllowMethods, method)
	} else if m.allowMethods != nil {
		setHeader(h, hACAllowMethods, m.allowMethods)
	}
	if v, ok := m.matchOrigin(origin); ok {
		setHeader(h, hACAllowOrigin, v)
	}
	if m.maxAge != nil {
		setHeader(h, hACMaxAge, m.maxAge)
	}
	if m.expose != nil {
		setHeader(h, hACExposeHeaders, m.expose)
	}
	ctx.Response.ResetBody()
	ctx.SetStatusCode(fasthttp.StatusOK) // with Content-Length: 0
	return true
}

// matchOrigin is Traefik's: the first list entry equal to the origin or
// "*" ("*" answers the origin itself with credentials), then the regexps
// (unanchored), which answer the origin.
func (m *headersMW) matchOrigin(origin []byte) ([]byte, bool) {
	for _, o := range m.origins {
		switch {
		case bytes.Equal(o, origin):
			return o, true
		case len(o) == 1 && o[0] == '*':
			if m.credentials {
				return origin, true
			}
			return o, true
		}
	}
	for _, re := range m.originRegexps {
		if re.Match(origin) {
			return origin, true
		}
	}
	return nil, false
}

// modifyRequest applies the custom request headers.
func (m *headersMW) modifyRequest(ctx *fasthttp.RequestCtx, r *Request) {
	h := &ctx.Request.Header
	for i := range m.reqOps {
		op := &m.reqOps[i]
		h.Del(op.name)
		if !op.del {
			h.AddBytesV(op.name, op.value)
		}
	}
	if m.omitXFF {
		r.NoXFF = true
	}
	if m.hasHost {
		h.SetHostBytes(m.hostWire)
		r.Host = m.hostCano
	}
}

// goodHost is unrolled/secure's allowed hosts check on the request's host
// (Go's Request.Host), or the first non-empty hostsProxyHeaders header.
func (m *headersMW) goodHost(ctx *fasthttp.RequestCtx) bool {
	if m.allowedHosts == nil {
		return true
	}
	h := &ctx.Request.Header
	host := m.hostRaw
	if !m.hasHost {
		host = goHost(h)
	}
	for _, name := range m.hostsProxy {
		if v := h.Peek(name); len(v) > 0 {
			host = v
			break
		}
	}
	for _, a := range m.allowedHosts {
		if bytes.EqualFold(a, host) {
			return true
		}
	}
	return false
}

// goHost is Go's Request.Host: the authority of an absolute request
// target, else the Host header (with its port).
func goHost(h *fasthttp.RequestHeader) []byte {
	if rest, ok := cutSchemeFold(h.RequestURI()); ok {
		end := bytes.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		a := rest[:end]
		if i := bytes.LastIndexByte(a, '@'); i >= 0 {
			a = a[i+1:]
		}
		if len(a) > 0 {
			return a
		}
	}
	return h.Host()
}

var (
	schemeHTTP  = []byte("http://")
	schemeHTTPS = []byte("https://")
)

// prefixFold reports whether t starts with p, in any case.
func prefixFold(t, p []byte) bool { return len(t) >= len(p) && bytes.EqualFold(t[:len(p)], p) }

// cutSchemeFold removes an "http://" or "https://" prefix, in any case.
func cutSchemeFold(t []byte) ([]byte, bool) {
	for _, p := range [...][]byte{schemeHTTP, schemeHTTPS} {
		if prefixFold(t, p) {
			return t[len(p):], true
		}
	}
	return nil, false
}

// isSSL is unrolled/secure's: a TLS connection, an https request target,
// or an sslProxyHeaders header with its value (a missing header reads as
// empty).
func (m *headersMW) isSSL(ctx *fasthttp.RequestCtx, r *Request) bool {
	if r.Secure {
		return true
	}
	h := &ctx.Request.Header
	if prefixFold(h.RequestURI(), schemeHTTPS) {
		return true
	}
	for i := range m.sslProxy {
		if bytes.Equal(h.Peek(m.sslProxy[i].name), m.sslProxy[i].value) {
			return true
		}
	}
	return false
}

// secureResponse sets the security headers on the answer.
func (m *headersMW) secureResponse(ctx *fasthttp.RequestCtx, r *Request, ssl bool) {
	h := &ctx.Response.Header
	if m.sts != nil && (ssl || m.forceSTS) {
		setHeader(h, hSTS, m.sts)
	}
	for i := range m.fixed {
		setHeader(h, m.fixed[i].name, m.fixed[i].value)
	}
	if m.hpkp != nil && ssl {
		setHeader(h, "Public-Key-Pins", m.hpkp)
	}
	if len(m.csp) == 0 {
		return
	}
	var nonce []byte
	buf := r.Buf[:0]
	if m.nonce {
		buf = slices.Grow(buf, 16+nonceLen)[:16+nonceLen]
		rand.Read(buf[:16])
		base64.RawStdEncoding.Encode(buf[16:], buf[:16])
		nonce = buf[16:]
	}
	for i := range m.csp {
		c := &m.csp[i]
		switch {
		case c.fixed != nil:
			setHeader(h, c.name, c.fixed)
		case c.parts != nil:
			start := len(buf)
			for j, p := range c.parts {
				if j > 0 {
					buf = append(buf, nonce...)
				}
				buf = append(buf, p...)
			}
			setHeader(h, c.name, buf[start:])
		default:
			setHeader(h, c.name, wireValue(fmt.Sprintf(c.tpl, string(nonce))))
		}
	}
	r.Buf = buf
}

// modifyResponse applies the custom response headers, then the CORS
// headers of a normal (not preflight) answer.
func (m *headersMW) modifyResponse(ctx *fasthttp.RequestCtx, r *Request) {
	h := &ctx.Response.Header
	for i := range m.respOps {
		op := &m.respOps[i]
		if op.del {
			h.Del(op.name)
		} else {
			setHeader(h, op.name, op.value)
		}
	}
	if m.respCL && ctx.Response.IsBodyStream() {
		h.SetContentLength(-1) // unknown length: chunked, as Go sends it
	}
	if !m.corsResponse {
		return
	}
	if v, ok := m.matchOrigin(ctx.Request.Header.Peek(hOrigin)); ok {
		setHeader(h, hACAllowOrigin, v)
	}
	if m.credentials {
		setHeader(h, hACAllowCredentials, strTrue)
	}
	if m.expose != nil {
		setHeader(h, hACExposeHeaders, m.expose)
	}
	if !m.vary {
		return
	}
	// Traefik reads the first Vary line only, and replaces them all.
	v := h.Peek(hVary)
	if string(v) == "Origin" {
		return
	}
	buf := r.Buf[:0]
	if len(v) > 0 {
		buf = append(append(buf, v...), ',')
	}
	buf = append(buf, strOrigin...)
	r.Buf = buf
	setHeader(h, hVary, buf)
}
