package middleware

import (
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// forwardAuthConfig is Traefik's forwardAuth (pkg/middlewares/auth/
// forward.go): each request is first sent, without its body unless
// forwardBody, to the authentication server at address; a 2xx answer lets
// it through with the headers the configuration names copied from that
// answer, any other answer is returned to the client instead.
//
// The TLS material is PEM, as translation resolves it from the Secrets the
// CRD names (tls.caSecret, tls.certSecret); unlike Traefik's file
// provider, a value is never read as a file path.
type forwardAuthConfig struct {
	Address                  string                `json:"address,omitempty"`
	TrustForwardHeader       *bool                 `json:"trustForwardHeader,omitempty"`
	AuthResponseHeaders      []string              `json:"authResponseHeaders,omitzero"`
	AuthResponseHeadersRegex string                `json:"authResponseHeadersRegex,omitempty"`
	AuthRequestHeaders       []string              `json:"authRequestHeaders,omitzero"`
	TLS                      *forwardAuthTLSConfig `json:"tls,omitempty"`
	MaxResponseBodySize      *int64                `json:"maxResponseBodySize,omitempty"`
	AddAuthCookiesToResponse []string              `json:"addAuthCookiesToResponse,omitzero"`
	HeaderField              string                `json:"headerField,omitempty"`
	ForwardBody              bool                  `json:"forwardBody,omitempty"`
	MaxBodySize              *int64                `json:"maxBodySize,omitempty"`
	PreserveLocationHeader   bool                  `json:"preserveLocationHeader,omitempty"`
	PreserveRequestMethod    bool                  `json:"preserveRequestMethod,omitempty"`
	AuthSigninURL            string                `json:"authSigninURL,omitempty"`
}

// forwardAuthTLSConfig is Traefik's dynamic.ClientTLS as the CRD provider
// fills it: the CA bundle, the client certificate and its key in PEM.
type forwardAuthTLSConfig struct {
	CA                 string `json:"ca,omitempty"`
	Cert               string `json:"cert,omitempty"`
	Key                string `json:"key,omitempty"`
	InsecureSkipVerify bool   `json:"insecureSkipVerify,omitempty"`
	CAOptional         *bool  `json:"caOptional,omitempty"`
}

// The auth client: Traefik's is an http.Client with a 30s Timeout over Go's
// default transport (or a clone of it with the TLS configuration). These
// are that client's bounds, which edgeroute keeps: a call never lasts more
// than faTimeout, dial and TLS handshake included, nor does reading the
// answer's body.
const (
	faTimeout          = 30 * time.Second // http.Client.Timeout
	faDialTimeout      = 30 * time.Second // DefaultTransport's net.Dialer
	faKeepAlive        = 30 * time.Second
	faHandshakeTimeout = 10 * time.Second // DefaultTransport.TLSHandshakeTimeout
	faIdleConnTimeout  = 90 * time.Second // DefaultTransport.IdleConnTimeout
	// faReadBuffer bounds the auth answer's header block (Go allows 10 MB;
	// a larger block is an error, answered 500).
	faReadBuffer = 64 << 10
	// faGoUserAgent is what Go's client sends when the request has no
	// User-Agent key at all.
	faGoUserAgent = "Go-http-client/1.1"
)

// Traefik's log messages, reported as build warnings.
const (
	faWarnTrust       = "trustForwardHeader is not configured: this creates an inconsistent security behavior where some X-Forwarded headers (e.g. X-Forwarded-For, X-Forwarded-Proto) are removed but others (e.g. X-Forwarded-Prefix) are forwarded untouched. Please set it to false to remove all X-Forwarded headers, or true to trust them all."
	faWarnMaxResponse = "maxResponseBodySize is not configured, allowing unlimited response body size which can lead to DoS attacks and memory exhaustion. Please set an appropriate limit."
	faWarnMaxBody     = "maxBodySize is not configured with 'forwardBody: true', allowing unlimited request body size which can lead to DoS attacks and memory exhaustion. Please set an appropriate limit."
	faWarnCAOptional  = "tls.CAOptional option is deprecated, TLS client authentication is a server side option, please remove any usage of this option."
)

// faTrust is trustForwardHeader's three states: Traefik keeps its former
// header handling when the option is absent.
type faTrust uint8

const (
	faTrustUnset faTrust = iota
	faTrustFalse
	faTrustTrue
)

// faHopHeaders are the hop-by-hop headers Traefik removes from the auth
// request (its own list: "Trailers", not "Trailer", which Go's client
// never writes anyway) and from an answer returned to the client.
var faHopHeaders = []string{"Connection", "Keep-Alive", "Te", "Trailers", "Transfer-Encoding", "Upgrade"}

// faManaged are the X-Forwarded headers Traefik manages (its
// forwardedheaders.XHeadersSet); trustForwardHeader false removes them
// from the auth request in any spelling with '_' for '-'.
var faManaged = []string{
	"X-Forwarded-Proto", "X-Forwarded-Scheme", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Port",
	"X-Forwarded-Server", "X-Forwarded-Uri", "X-Forwarded-Method", "X-Forwarded-Prefix",
	"X-Forwarded-Tls-Client-Cert", "X-Forwarded-Tls-Client-Cert-Info", "X-Scheme", "X-Real-Ip",
}

type forwardAuth struct {
	hc *fasthttp.HostClient
	// badURL: net/http cannot make a request of the address (Traefik
	// answers 500 before anything else); unsendable: it makes one but
	// will not send it (a scheme other than http and https, no host),
	// which is 500 once the body has been read.
	badURL, unsendable bool
	uri                string   // scheme://host + RequestURI, for fasthttp
	host               string   // the Host header Go's client writes
	base               *url.URL // the auth request's URL: Location resolves against it
	basic              string   // "Basic ..." from the address's userinfo
	tls                *tls.Config

	trust       faTrust
	allowed     []string // authRequestHeaders, canonical (and the X headers when trusted)
	allowUA     bool
	respHeaders []string // authResponseHeaders, canonical
	regex       *regexp.Regexp
	maxResp     int64 // < 0: no limit
	maxBody     int64
	forwardBody bool
	cookies     map[string]bool // addAuthCookiesToResponse
	keepLoc     bool            // preserveLocationHeader
	keepMethod  bool            // preserveRequestMethod
	signin      string          // authSigninURL
	userHeader  string          // headerField: the access log's user, canonical ("" for none)
	signinLoc   string          // its Location when it is absolute (no resolution needed)
}

func newForwardAuth(c *forwardAuthConfig, _ *spec.Middleware, bc *BuildContext) (Middleware, error) {
	if c.Address == "" {
		return nil, errors.New("forward authentication requires an address") // the CRD provider's words
	}
	fa := &forwardAuth{
		forwardBody: c.ForwardBody, keepLoc: c.PreserveLocationHeader, keepMethod: c.PreserveRequestMethod,
		signin: c.AuthSigninURL, maxBody: -1, maxResp: -1,
	}
	if c.MaxBodySize != nil {
		fa.maxBody = *c.MaxBodySize
	} else if c.ForwardBody {
		bc.Warn(faWarnMaxBody)
	}
	if c.MaxResponseBodySize != nil {
		fa.maxResp = *c.MaxResponseBodySize
	} else {
		bc.Warn(faWarnMaxResponse)
	}
	if c.TLS != nil {
		if c.TLS.CAOptional != nil {
			bc.Warn(faWarnCAOptional)
		}
		cfg, err := faClientTLS(c.TLS)
		if err != nil {
			return nil, fmt.Errorf("unable to create client TLS configuration: %w", err)
		}
		fa.tls = cfg
	}
	if c.AuthResponseHeadersRegex != "" {
		re, err := regexp.Compile(c.AuthResponseHeadersRegex)
		if err != nil {
			return nil, fmt.Errorf("error compiling regular expression %s: %w", c.AuthResponseHeadersRegex, err)
		}
		fa.regex = re
	}
	for _, h := range c.AuthResponseHeaders {
		if h = http.CanonicalHeaderKey(h); !faNoEffect([]byte(h)) && !slices.Contains(fa.respHeaders, h) {
			fa.respHeaders = append(fa.respHeaders, h)
		}
	}
	for _, h := range c.AuthRequestHeaders {
		fa.allowed = append(fa.allowed, http.CanonicalHeaderKey(h))
	}
	switch {
	case c.TrustForwardHeader == nil:
		bc.Warn(faWarnTrust)
	case *c.TrustForwardHeader:
		fa.trust = faTrustTrue
		if len(fa.allowed) > 0 {
			fa.allowed = append(fa.allowed, faManaged...)
		}
	default:
		fa.trust = faTrustFalse
	}
	for _, h := range fa.allowed {
		fa.allowUA = fa.allowUA || h == "User-Agent"
	}
	if len(c.AddAuthCookiesToResponse) > 0 {
		fa.cookies = map[string]bool{}
		for _, n := range c.AddAuthCookiesToResponse {
			fa.cookies[n] = true
		}
	}
	// headerField names the request header (after the auth response's
	// headers are copied) whose value is the access log's user name.
	fa.userHeader = http.CanonicalHeaderKey(c.HeaderField)
	if u, err := url.Parse(c.AuthSigninURL); c.AuthSigninURL != "" && (err != nil || u.Scheme != "" || u.Host != "") {
		fa.signinLoc = faHexEscapeNonASCII(c.AuthSigninURL)
	}
	fa.address(c.Address, bc)
	return func(next Handler) Handler {
		return func(ctx *fasthttp.RequestCtx, r *Request) { fa.serve(ctx, r, next) }
	}, nil
}

// address prepares the auth request's target as net/http would from the
// address: the URL, the Host header, the dialled host:port and the Basic
// credentials of a userinfo. An address net/http refuses gives Traefik's
// answer to every request, 500, rather than a build error: Traefik builds
// the middleware and fails each call.
func (fa *forwardAuth) address(address string, bc *BuildContext) {
	u, err := url.Parse(address)
	if err != nil {
		fa.badURL = true
		bc.Warn("address %q: %v: every request is answered 500, as in Traefik", address, err)
		return
	}
	u.Host = faRemoveEmptyPort(u.Host) // as http.NewRequest
	fa.base = u
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		fa.unsendable = true
		bc.Warn("address %q: net/http cannot send a request there (it needs an http or https URL with a host): every request is answered 500, as in Traefik", address)
		return
	}
	if u.User != nil {
		pw, _ := u.User.Password()
		fa.basic = "Basic " + base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pw))
	}
	fa.host = removeZone(u.Host)
	fa.uri = u.Scheme + "://" + u.Host + u.RequestURI()
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	https := u.Scheme == "https"
	if https {
		cfg := fa.tls
		if cfg == nil {
			cfg = &tls.Config{} // Go's transport without a TLS configuration: the system roots
		} else {
			cfg = cfg.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		fa.tls = cfg
	} else {
		fa.tls = nil
	}
	fa.hc = &fasthttp.HostClient{
		Addr:                      net.JoinHostPort(u.Hostname(), port),
		IsTLS:                     https,
		DialTimeout:               fa.dial,
		StreamResponseBody:        true,
		DisablePathNormalizing:    true,
		NoDefaultUserAgentHeader:  true,
		MaxConns:                  1 << 16, // Go's transport has no per-host limit
		MaxIdleConnDuration:       faIdleConnTimeout,
		ReadBufferSize:            faReadBuffer,
		MaxIdemponentCallAttempts: 2,
		RetryIfErr:                faRetry,
	}
}

// dial connects as Go's default transport does (30s dial timeout, 30s TCP
// keep-alive, dual stack) and, for https, completes the TLS handshake
// within 10s, all within what is left of the call's 30s.
func (fa *forwardAuth) dial(addr string, timeout time.Duration) (net.Conn, error) {
	if timeout <= 0 || timeout > faDialTimeout {
		timeout = faDialTimeout
	}
	start := time.Now()
	d := net.Dialer{Timeout: timeout, KeepAlive: faKeepAlive}
	conn, err := d.Dial("tcp", addr)
	if err != nil || fa.tls == nil {
		return conn, err
	}
	tc := tls.Client(conn, fa.tls)
	left := timeout - time.Since(start)
	if err := tc.SetDeadline(time.Now().Add(min(left, faHandshakeTimeout))); err != nil {
		conn.Close()
		return nil, err
	}
	if err := tc.Handshake(); err != nil {
		conn.Close()
		return nil, err
	}
	if err := tc.SetDeadline(time.Time{}); err != nil {
		conn.Close()
		return nil, err
	}
	return tc, nil
}

// faRetry sends a request again, once, on a pooled connection the server
// had closed (what Go's transport retries): an idempotent method without
// a body, failing with EOF or a reset before any answer.
func faRetry(req *fasthttp.Request, attempts int, err error) (bool, bool) {
	if attempts >= 2 || req.IsBodyStream() || len(req.Body()) > 0 {
		return false, false
	}
	switch string(req.Header.Method()) {
	case fasthttp.MethodGet, fasthttp.MethodHead, fasthttp.MethodOptions, fasthttp.MethodTrace:
	default:
		return false, false
	}
	stale := errors.Is(err, io.EOF) || errors.Is(err, fasthttp.ErrConnectionClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
	return false, stale
}

// faClientTLS is Traefik's ClientTLS.CreateTLSConfig on PEM values.
func faClientTLS(c *forwardAuthTLSConfig) (*tls.Config, error) {
	var pool *x509.CertPool // nil: the system roots
	if c.CA != "" {
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(c.CA)) {
			return nil, errors.New("failed to parse CA")
		}
	}
	if (c.Cert != "") != (c.Key != "") {
		return nil, errors.New("both TLS cert and key must be defined")
	}
	cfg := &tls.Config{RootCAs: pool, InsecureSkipVerify: c.InsecureSkipVerify}
	if c.Cert != "" {
		pair, err := tls.X509KeyPair([]byte(c.Cert), []byte(c.Key))
		if err != nil {
			// Traefik then tries the values as file names, and says so.
			return nil, fmt.Errorf("cert file does not exist (the certificate and key are not a PEM key pair: %v)", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// faScratch is one call's state, pooled.
type faScratch struct {
	req    fasthttp.Request
	resp   fasthttp.Response
	keys   fasthttp.RequestHeader // a copy whose keys are listed (listing collects its cookies)
	names  []byte                 // the listed keys, each followed by 0
	body   []byte                 // the client's body, when read here
	bodyRd bytes.Reader           // it, for the next handler
	authRd bytes.Reader           // it, for the auth request
	answer []byte                 // the auth answer's body
	// replaced: the request's body stream is bodyRd (reset when done).
	replaced bool
	buf      []byte
	gz       faGunzip
	// cookies are the auth answer's Set-Cookie values to add to the
	// response (addAuthCookiesToResponse), re-serialised as Go does.
	cookies []string
	lines   []string
	tokens  [][]byte // the names the Connection header lists
	xff     []byte   // the auth request's X-Forwarded-For
}

var faPool = sync.Pool{New: func() any { return new(faScratch) }}

func (s *faScratch) release() {
	s.req.Reset()
	s.resp.Reset()
	s.keys.Reset()
	s.bodyRd.Reset(nil)
	s.authRd.Reset(nil)
	s.gz.reset(nil)
	if cap(s.body) > maxPooledBuffer {
		s.body = nil
	}
	if cap(s.answer) > maxPooledBuffer {
		s.answer = nil
	}
	s.cookies = s.cookies[:0]
	s.lines = s.lines[:0]
	s.replaced = false
	faPool.Put(s)
}

var errFABodyTooLarge = errors.New("body too large")

func (fa *forwardAuth) serve(ctx *fasthttp.RequestCtx, r *Request, next Handler) {
	if fa.badURL {
		ctx.SetStatusCode(fasthttp.StatusInternalServerError)
		return
	}
	s := faPool.Get().(*faScratch)
	defer func() {
		if s.replaced {
			ctx.Request.ResetBody() // it reads the pooled buffer
		}
		s.release()
	}()
	src := &ctx.Request.Header
	// -1: a length unknown (chunked, or an HTTP/2 body without one),
	// Go's ContentLength -1; -2 is no body.
	declared := src.ContentLength()
	var body []byte
	hasBody, emptyChunked := false, false
	// A CONNECT body of unknown length is tunnel data: never sent.
	if fa.forwardBody && !(src.IsConnect() && declared == -1) {
		var err error
		body, err = fa.readBody(ctx, s)
		switch {
		case errors.Is(err, errFABodyTooLarge):
			ctx.SetStatusCode(fasthttp.StatusUnauthorized)
			return
		case err != nil:
			ctx.SetStatusCode(fasthttp.StatusInternalServerError)
			return
		}
		hasBody = len(body) > 0
		// Traefik reads a bounded body with io.ReadFull, which gives
		// nothing for an empty one; Go's client then refuses a request of
		// unknown length (chunked) with no body.
		emptyChunked = !hasBody && fa.maxBody >= 0 && declared == -1
	}
	if fa.unsendable || emptyChunked {
		ctx.SetStatusCode(fasthttp.StatusInternalServerError) // the client call fails
		return
	}
	gz := fa.authRequest(ctx, r, s, body, hasBody, declared)
	if err := fa.hc.DoTimeout(&s.req, &s.resp, faTimeout); err != nil {
		ctx.SetStatusCode(fasthttp.StatusInternalServerError)
		return
	}
	answer, err := fa.readAnswer(s, gz)
	switch {
	case errors.Is(err, errFABodyTooLarge):
		ctx.SetStatusCode(fasthttp.StatusUnauthorized)
		return
	case err != nil:
		ctx.SetStatusCode(fasthttp.StatusInternalServerError)
		return
	}
	status := s.resp.StatusCode()
	if fa.signin != "" && status == fasthttp.StatusUnauthorized {
		fa.redirectSignin(ctx, r)
		return
	}
	if status < 200 || status >= 300 {
		fa.answerFailure(ctx, s, status, answer)
		return
	}
	fa.copyResponseHeaders(ctx, s)
	if fa.userHeader != "" {
		if u := ctx.Request.Header.Peek(fa.userHeader); len(u) > 0 {
			r.User = append(r.User[:0], u...)
		}
	}
	cookies := fa.authCookies(s)
	s.resp.Reset() // the connection goes back to the pool before next
	if !cookies {
		next(ctx, r)
	} else {
		r.ChangesResponse = true
		next(ctx, r)
		if !ctx.Hijacked() {
			fa.rewriteCookies(ctx, s)
		}
	}
}

// readBody reads the client's body as Traefik does before calling the
// auth server: all of it, or at most maxBodySize bytes (errFABodyTooLarge
// beyond). A streamed body is then given back to the next handler from
// memory, with its framing (a chunked body stays chunked).
func (fa *forwardAuth) readBody(ctx *fasthttp.RequestCtx, s *faScratch) ([]byte, error) {
	req := &ctx.Request
	if !req.IsBodyStream() {
		b := req.Body()
		if fa.maxBody >= 0 && int64(len(b)) > fa.maxBody {
			return nil, errFABodyTooLarge
		}
		return b, nil
	}
	b, err := faReadLimited(s.body[:0], req.BodyStream(), fa.maxBody)
	s.body = b
	if err != nil {
		return nil, err
	}
	if len(b) > 0 {
		n := len(b)
		if req.Header.ContentLength() == -1 {
			n = -1
		}
		s.bodyRd.Reset(b)
		req.SetBodyStream(&s.bodyRd, n)
		s.replaced = true
	}
	return b, nil
}

// faReadLimited appends src to dst up to its end, or fails with
// errFABodyTooLarge once more than limit bytes came (limit < 0: none).
func faReadLimited(dst []byte, src io.Reader, limit int64) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		end := cap(dst)
		if limit >= 0 && int64(end)-1 > limit {
			end = int(limit) + 1 // room for one byte too many
		}
		n, err := src.Read(dst[len(dst):end])
		dst = dst[:len(dst)+n]
		if limit >= 0 && int64(len(dst)) > limit {
			return dst, errFABodyTooLarge
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// authRequest builds the request to the auth server from the client's,
// as Traefik's writeHeader (trustForwardHeader set) or oldWriteHeader
// (unset) fills the header map Go's client then writes, with what that
// client adds or leaves out on the wire. It reports whether the request
// asks for gzip on the client's behalf (Go's transparent decompression).
//
// The header is built by adding the client's lines that stay, in their
// order, never by deleting from a copy: fasthttp's Del moves the last
// line into the hole, which would reorder the values of a header sent on
// several lines (Cookie, X-Forwarded-For).
func (fa *forwardAuth) authRequest(ctx *fasthttp.RequestCtx, r *Request, s *faScratch, body []byte, hasBody bool, declared int) bool {
	src := &ctx.Request.Header
	a := &s.req.Header
	a.SetNoDefaultContentType(true)
	// The names the client's Connection header lists are removed
	// (RemoveConnectionHeaders).
	s.tokens = s.tokens[:0]
	for _, v := range src.PeekAll(fasthttp.HeaderConnection) {
		for len(v) > 0 {
			tok := v
			if i := bytes.IndexByte(v, ','); i >= 0 {
				tok, v = v[:i], v[i+1:]
			} else {
				v = nil
			}
			if tok = bytes.Trim(tok, " \t"); len(tok) > 0 {
				s.tokens = append(s.tokens, tok)
			}
		}
	}
	ipValid := r.ClientIP.IsValid()
	s.xff = s.xff[:0]
	priorXFF := false
	uaKept := false
	s.listKeys(src)
	for k, v := range s.keys.All() {
		if !fa.keepForAuth(k, s.tokens) {
			continue
		}
		switch {
		case faEqualFold(k, fasthttp.HeaderCookie):
			// The lines as sent (All gave them parsed and joined).
			a.DisableSpecialHeader()
			for _, line := range src.PeekAll(fasthttp.HeaderCookie) {
				a.AddBytesV(fasthttp.HeaderCookie, line)
			}
			a.EnableSpecialHeader()
		case faEqualFold(k, fasthttp.HeaderUserAgent):
			uaKept = true
			a.SetUserAgentBytes(v)
		case ipValid && faEqualFold(k, "X-Forwarded-For"):
			// Replaced (unset), or joined before the client's address.
			if fa.trust == faTrustTrue {
				if priorXFF {
					s.xff = append(s.xff, ", "...)
				}
				s.xff = append(s.xff, v...)
				priorXFF = true
			}
		case fa.trust == faTrustUnset && faOverwritten(k):
		default:
			a.AddBytesKV(k, v)
		}
	}
	// writeHeader sets an empty User-Agent when the client sent none, so
	// that Go's client sends none; otherwise a map without one gets Go's.
	uaKey := uaKept || fa.trust != faTrustUnset && len(src.UserAgent()) == 0 &&
		(len(fa.allowed) == 0 || fa.allowUA)
	fa.forwardedHeaders(ctx, r, s, a, priorXFF)

	if fa.keepMethod {
		a.SetMethodBytes(src.Method())
	} else {
		a.SetMethod(fasthttp.MethodGet)
	}
	s.req.SetRequestURI(fa.uri)
	a.SetHost(fa.host)
	s.req.UseHostHeader = true
	if !uaKey {
		a.SetUserAgent(faGoUserAgent)
	}
	gz := false
	if len(a.Peek(fasthttp.HeaderAcceptEncoding)) == 0 && len(a.Peek("Range")) == 0 && !a.IsHead() {
		a.Set(fasthttp.HeaderAcceptEncoding, "gzip")
		gz = true
	}
	if fa.basic != "" && len(a.Peek(fasthttp.HeaderAuthorization)) == 0 {
		a.Set(fasthttp.HeaderAuthorization, fa.basic)
	}
	if hasBody {
		if declared != -1 {
			s.req.SetBodyRaw(body)
		} else {
			s.authRd.Reset(body)
			s.req.SetBodyStream(&s.authRd, -1) // chunked, as the client sent it
		}
	}
	return gz
}

// keepForAuth tells whether a client header goes into Traefik's header map
// for the auth request: not listed in Connection, not hop-by-hop, not one
// Go's client writes on its own (Host, the framing), not a managed X
// header when untrusted, and allowed by authRequestHeaders.
func (fa *forwardAuth) keepForAuth(k []byte, connTokens [][]byte) bool {
	switch string(k) {
	case fasthttp.HeaderHost, fasthttp.HeaderContentLength, fasthttp.HeaderTrailer:
		return false
	}
	for _, h := range faHopHeaders {
		if faEqualFold(k, h) {
			return false
		}
	}
	for _, t := range connTokens {
		if bytes.EqualFold(k, t) {
			return false
		}
	}
	if fa.trust == faTrustFalse && faIsManaged(k) {
		return false
	}
	return len(fa.allowed) == 0 || faContainsFold(fa.allowed, k)
}

// faOverwritten are the headers oldWriteHeader sets whatever the client
// sent.
func faOverwritten(k []byte) bool {
	return faEqualFold(k, "X-Forwarded-Proto") || faEqualFold(k, "X-Forwarded-Method") ||
		faEqualFold(k, "X-Forwarded-Host") || faEqualFold(k, "X-Forwarded-Uri")
}

// forwardedHeaders sets the X-Forwarded headers of the auth request:
// oldWriteHeader's set them all; writeHeader's extend X-Forwarded-For and
// add the others when absent. prior tells the client's X-Forwarded-For
// stayed in the map (its values in s.xff).
func (fa *forwardAuth) forwardedHeaders(ctx *fasthttp.RequestCtx, r *Request, s *faScratch, a *fasthttp.RequestHeader, prior bool) {
	src := &ctx.Request.Header
	proto := faHTTP
	if r.Secure {
		proto = faHTTPS
	}
	if r.ClientIP.IsValid() {
		if prior {
			s.xff = append(s.xff, ", "...)
		}
		s.xff = r.ClientIP.AppendTo(s.xff)
		a.SetBytesV("X-Forwarded-For", s.xff)
	}
	s.buf = appendRequestURIOf(s.buf[:0], r)
	if fa.trust == faTrustUnset {
		a.SetBytesV("X-Forwarded-Proto", proto)
		a.SetBytesV("X-Forwarded-Method", src.Method())
		a.SetBytesV("X-Forwarded-Host", src.Host())
		a.SetBytesV("X-Forwarded-Uri", s.buf)
		return
	}
	if !faPresent(a, "X-Forwarded-Method") {
		a.SetBytesV("X-Forwarded-Method", src.Method())
	}
	if !faPresent(a, "X-Forwarded-Proto") {
		a.SetBytesV("X-Forwarded-Proto", proto)
	}
	if !faPresent(a, "X-Forwarded-Port") {
		a.SetBytesV("X-Forwarded-Port", faForwardedPort(src.Host(), a.Peek("X-Forwarded-Proto"), r.Secure))
	}
	if !faPresent(a, "X-Forwarded-Host") {
		a.SetBytesV("X-Forwarded-Host", src.Host())
	}
	if !faPresent(a, "X-Forwarded-Uri") {
		a.SetBytesV("X-Forwarded-Uri", s.buf)
	}
}

var faHTTP, faHTTPS = []byte("http"), []byte("https")

// faPresent reports whether the header has key, even with an empty value.
func faPresent(h *fasthttp.RequestHeader, key string) bool { return len(h.PeekAll(key)) > 0 }

// faForwardedPort is Traefik's forwardedPort: the Host's port, else 443
// for an X-Forwarded-Proto of https or wss or a TLS request, else 80.
func faForwardedPort(host, proto []byte, secure bool) []byte {
	if _, port, ok := splitHostPort(host); ok && len(port) > 1 {
		return port[1:]
	}
	if string(proto) == "https" || string(proto) == "wss" || secure {
		return faPort443
	}
	return faPort80
}

var faPort80, faPort443 = []byte("80"), []byte("443")

// appendRequestURIOf appends url.URL.RequestURI of the request as it
// stands: its escaped path ("/" for none) and its query.
func appendRequestURIOf(dst []byte, r *Request) []byte {
	p := r.EscapedPath()
	if len(p) == 0 {
		dst = append(dst, '/')
	} else {
		dst = append(dst, p...)
	}
	if r.HasQuery {
		dst = append(append(dst, '?'), r.Query...)
	}
	return dst
}

// listKeys records the header keys of h. Listing them through
// RequestHeader.All would parse (and re-serialise) the request's Cookie
// lines, which go upstream byte for byte: a copy is listed instead.
func (s *faScratch) listKeys(h *fasthttp.RequestHeader) {
	h.CopyTo(&s.keys)
	s.names = s.names[:0]
	for k := range s.keys.All() {
		s.names = append(append(s.names, k...), 0)
	}
}

func (s *faScratch) eachKey(f func(k []byte)) {
	for n := s.names; len(n) > 0; {
		i := bytes.IndexByte(n, 0)
		f(n[:i])
		n = n[i+1:]
	}
}

// faIsManaged is Traefik's isManagedXHeader on a canonical key: one of
// the managed X headers, '_' standing for '-'.
func faIsManaged(k []byte) bool {
	if len(k) == 0 || k[0] != 'X' {
		return false
	}
	for _, m := range faManaged {
		if len(k) != len(m) {
			continue
		}
		same := true
		for i := range k {
			c, d := k[i], m[i]
			if c == '_' {
				c = '-'
			}
			if c|0x20 != d|0x20 {
				same = false
				break
			}
		}
		if same {
			return true
		}
	}
	return false
}

// faContainsFold reports whether list has k, ignoring ASCII case.
func faContainsFold(list []string, k []byte) bool {
	for _, s := range list {
		if faEqualFold(k, s) {
			return true
		}
	}
	return false
}

// readAnswer reads the auth answer's body within maxResponseBodySize
// (errFABodyTooLarge beyond), decompressing it when Go's client would
// have: it asked for gzip itself and the answer has a body in gzip.
func (fa *forwardAuth) readAnswer(s *faScratch, gz bool) ([]byte, error) {
	resp := &s.resp
	var src io.Reader
	if resp.IsBodyStream() {
		src = resp.BodyStream()
	} else {
		s.authRd.Reset(resp.Body())
		src = &s.authRd
	}
	h := &resp.Header
	if gz && h.ContentLength() != 0 && bodyAllowed(resp.StatusCode()) && !s.req.Header.IsHead() &&
		equalFold(h.ContentEncoding(), "gzip") {
		s.gz.reset(src)
		src = &s.gz
		h.Del(fasthttp.HeaderContentEncoding) // Go removes it (and the length, which is not copied)
	}
	b, err := faReadLimited(s.answer[:0], src, fa.maxResp)
	s.answer = b
	return b, err
}

// faGunzip is Go's transport's gzipReader: the gzip reader is made on the
// first read, and an empty body is an empty body.
type faGunzip struct {
	src     io.Reader
	zr      gzip.Reader
	started bool
	err     error
}

func (g *faGunzip) reset(src io.Reader) { g.src, g.started, g.err = src, false, nil }

func (g *faGunzip) Read(p []byte) (int, error) {
	if !g.started {
		g.started = true
		g.err = g.zr.Reset(g.src)
	}
	if g.err != nil {
		return 0, g.err
	}
	return g.zr.Read(p)
}

// redirectSignin answers as Go's http.Redirect to authSigninURL, with 302,
// behind Traefik's entry point: there the response already has a
// (nil) Content-Type, so neither the HTML body nor a Content-Type is
// added.
func (fa *forwardAuth) redirectSignin(ctx *fasthttp.RequestCtx, r *Request) {
	loc := fa.signinLoc
	if loc == "" {
		loc = faHexEscapeNonASCII(faResolveRedirect(string(r.EscapedPath()), fa.signin))
	}
	ctx.Response.Header.Set(fasthttp.HeaderLocation, loc)
	ctx.SetStatusCode(fasthttp.StatusFound)
}

// faResolveRedirect makes a relative redirect target absolute against
// the request's path, as http.Redirect does.
func faResolveRedirect(oldpath, target string) string {
	if oldpath == "" {
		oldpath = "/"
	}
	if target == "" || target[0] != '/' {
		dir, _ := path.Split(oldpath)
		target = dir + target
	}
	query := ""
	if i := strings.Index(target, "?"); i != -1 {
		target, query = target[:i], target[i:]
	}
	trailing := strings.HasSuffix(target, "/")
	target = path.Clean(target)
	if trailing && !strings.HasSuffix(target, "/") {
		target += "/"
	}
	return target + query
}

// faHexEscapeNonASCII is net/http's hexEscapeNonASCII.
func faHexEscapeNonASCII(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x80 {
			b = append(b, '%', hex[c>>4], hex[c&15])
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}

// answerFailure returns a non-2xx auth answer to the client: its status,
// its headers but the hop-by-hop ones, its body, and its Location made
// absolute against the auth request's URL (or kept as sent with
// preserveLocationHeader), re-serialised by net/url either way.
func (fa *forwardAuth) answerFailure(ctx *fasthttp.RequestCtx, s *faScratch, status int, body []byte) {
	h := &ctx.Response.Header
	// A copy keeps every line as it came (Add would drop a Date, which
	// fasthttp manages): then the framing and the connection are this
	// response's own. Go's server writes the status text of its own, and
	// its Date (fasthttp's here).
	s.resp.Header.CopyTo(h)
	h.SetNoDefaultContentType(true)
	h.ResetConnectionClose()
	h.SetProtocol(nil)
	h.SetStatusMessage(nil)
	for _, k := range faHopHeaders {
		h.Del(k)
	}
	h.Del(fasthttp.HeaderTrailer)
	h.Del(fasthttp.HeaderContentLength)
	if loc := s.resp.Header.Peek(fasthttp.HeaderLocation); len(loc) > 0 {
		var u *url.URL
		var err error
		if fa.keepLoc {
			u, err = url.Parse(string(loc))
		} else {
			u, err = fa.base.Parse(string(loc))
		}
		if err != nil {
			ctx.SetStatusCode(fasthttp.StatusInternalServerError)
			return
		}
		if v := u.String(); v != "" {
			h.Set(fasthttp.HeaderLocation, v)
		}
	}
	ctx.SetStatusCode(status)
	ctx.SetBody(body)
}

// faEqualFold reports whether b and s are equal ignoring ASCII case.
func faEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c, d := b[i], s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}

// faNoEffect are request headers Go's proxy does not take from the header
// map (Host, the framing) or removes (Connection): setting or deleting
// them there changes nothing in Traefik, and would change the framing
// here.
func faNoEffect(k []byte) bool {
	switch string(k) {
	case fasthttp.HeaderHost, fasthttp.HeaderContentLength, fasthttp.HeaderTransferEncoding,
		fasthttp.HeaderConnection, fasthttp.HeaderTrailer:
		return true
	}
	return false
}

// copyResponseHeaders puts the auth answer's headers that the
// configuration names on the request: authResponseHeaders replace the
// client's (which are removed when the answer lacks them), then those
// matching authResponseHeadersRegex replace every matching one. All the
// removals come first: fasthttp's Del moves the last line into the hole,
// which must not reorder the values just added.
func (fa *forwardAuth) copyResponseHeaders(ctx *fasthttp.RequestCtx, s *faScratch) {
	req := &ctx.Request.Header
	for _, name := range fa.respHeaders {
		req.Del(name)
	}
	if fa.regex != nil {
		s.listKeys(req)
		s.eachKey(func(k []byte) {
			if !faNoEffect(k) && fa.regex.Match(k) {
				req.DelBytes(k)
			}
		})
	}
	for _, name := range fa.respHeaders {
		if fa.regex != nil && fa.regex.MatchString(name) {
			continue // the regex copies it
		}
		for k, v := range s.resp.Header.All() {
			if faEqualFold(k, name) {
				req.AddBytesV(name, v)
			}
		}
	}
	if fa.regex != nil {
		for k, v := range s.resp.Header.All() {
			if !faNoEffect(k) && fa.regex.Match(k) {
				req.AddBytesKV(k, v)
			}
		}
	}
}

// authCookies reads the auth answer's cookies, as Go's Response.Cookies:
// it reports whether there is any (then Traefik rewrites the response's
// cookies), and keeps those addAuthCookiesToResponse names.
func (fa *forwardAuth) authCookies(s *faScratch) bool {
	found := false
	for k, v := range s.resp.Header.All() {
		if string(k) != fasthttp.HeaderSetCookie {
			continue
		}
		c, err := http.ParseSetCookie(string(v))
		if err != nil {
			continue
		}
		found = true
		if fa.cookies[c.Name] {
			s.cookies = append(s.cookies, c.String())
		}
	}
	return found
}

// rewriteCookies is Traefik's response modifier once the auth server set
// cookies: the response's own cookies, re-serialised by net/http and
// without those addAuthCookiesToResponse names, then the auth server's
// cookies of those names.
func (fa *forwardAuth) rewriteCookies(ctx *fasthttp.RequestCtx, s *faScratch) {
	h := &ctx.Response.Header
	for k, v := range h.All() {
		if string(k) == fasthttp.HeaderSetCookie {
			s.lines = append(s.lines, string(v))
		}
	}
	h.Del(fasthttp.HeaderSetCookie)
	for _, l := range s.lines {
		c, err := http.ParseSetCookie(l)
		if err != nil || fa.cookies[c.Name] {
			continue
		}
		if v := c.String(); v != "" {
			h.Add(fasthttp.HeaderSetCookie, v)
		}
	}
	for _, c := range s.cookies {
		h.Add(fasthttp.HeaderSetCookie, c)
	}
}

// faRemoveEmptyPort is net/http's removeEmptyPort.
func faRemoveEmptyPort(host string) string {
	if strings.LastIndex(host, ":") > strings.LastIndex(host, "]") {
		return strings.TrimSuffix(host, ":")
	}
	return host
}
