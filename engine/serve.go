// Runs per request: must not allocate (guarded by TestServeAllocs).

package engine

import (
	"time"

	"bytes"
	"crypto/tls"
	"errors"
	"github.com/edgeroute/edgeroute/engine/metrics"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/compile"
	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/engine/middleware"
	"github.com/edgeroute/edgeroute/engine/tracing"
	"github.com/edgeroute/edgeroute/lb"
	"github.com/edgeroute/edgeroute/tlsmux"
)

// reqState is the per-request scratch space, pooled: the routing view of
// the request and the buffers it borrows.
type reqState struct {
	// mw must stay the first field: stateOf finds the reqState from the
	// *middleware.Request that middlewares pass along.
	mw   middleware.Request
	creq compile.Request
	hint lb.Hint // balancer input (sticky cookie, client IP) and output
	ip   []byte
	host []byte
	esc  []byte // normalised, sanitised escaped path: what is forwarded
	path []byte // routing path
	uri  []byte // forwarded request URI
	tmp  []byte
	// secure tells a request read over TLS.
	secure bool
	// xffDone is set once the client's address is in X-Forwarded-For
	// (whose value is then xff), so that forwarding the same request again
	// (error pages) does not repeat it.
	xffDone bool
	xff     []byte
	// body wraps a streamed chunked request body for the upstream client
	// (stickBody).
	body stickyBody
	// fid is the matchers' view of header lines fasthttp rewrites.
	fid fidelity
	// router is the router that took the request (nil: the entry point
	// answered), and start, proto and reqBytes what metrics record of it.
	router *routerRuntime
	// hops are the child routers the request went through below router,
	// in order (multi-layer routing); child and childPath are the
	// routing view the last children table matched.
	hops      []*routerRuntime
	child     compile.Request
	childPath []byte
	parents   []*metrics.Family // the parents' router metrics (observe)
	upURL     string            // the server the request was sent to (access log)
	start     time.Time
	proto     metrics.Protocol
	reqBytes  int64
	tr        *tracing.Request // the request's spans (otel.go); nil when not traced
}

var statePool = sync.Pool{New: func() any { return new(reqState) }}

// stateOf returns the reqState that embeds r as its first field. Every
// middleware.Request the engine hands out is one (guarded by the array
// length below, which fails to compile if mw moves).
func stateOf(r *middleware.Request) *reqState { return (*reqState)(unsafe.Pointer(r)) }

var _ [0]struct{} = [unsafe.Offsetof(reqState{}.mw)]struct{}{}

// terminal is the innermost handler of a router: its service.
func terminal(sv service) middleware.Handler {
	return func(ctx *fasthttp.RequestCtx, r *middleware.Request) { sv.serve(ctx, stateOf(r)) }
}

// Prepared response bodies: never formatted per request.
var (
	body404 = []byte("404 page not found\n")
	body503 = []byte("no available server\n")
	body421 = []byte("Misdirected Request\n")
)

const textPlain = "text/plain; charset=utf-8"

// handler returns the fasthttp handler of entry point ep.
func (s *Server) handler(ep *listener) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("panic serving request", "entrypoint", ep.name, "panic", p)
				ctx.Response.Reset()
				ctx.SetStatusCode(fasthttp.StatusInternalServerError)
				ctx.SetBodyString("Internal Server Error")
			}
		}()
		rt := s.rt.Load() // one consistent configuration per request
		st := statePool.Get().(*reqState)
		st.router, st.upURL, st.hops, st.tr = nil, "", st.hops[:0], nil
		observe := s.metrics != nil || s.alog != nil || s.tracer != nil
		if observe {
			s.observeStart(ctx, st)
		}
		s.serve(ctx, rt, ep, st)
		if observe && !isInternalRouter(st.router) {
			s.observeEnd(ctx, ep, st)
		}
		ownStatusLine(ctx)
		st.creq.Header, st.child.Header = nil, nil
		clear(st.hops) // nothing kept from an old runtime
		st.body = stickyBody{}
		st.fid.h = nil
		st.hint.Reset()
		statePool.Put(st)
	}
}

// ownStatusLine makes the status line edgeroute's own, as Go's server
// writes it for Traefik, whatever an upstream's said (RFC 9110 §6.2: a
// proxy sends its own version): HTTP/1.1, or HTTP/1.0 to an HTTP/1.0
// client, and the standard reason phrase ("status code N" for a code
// without one).
func ownStatusLine(ctx *fasthttp.RequestCtx) {
	h := &ctx.Response.Header
	if ctx.Request.Header.IsHTTP11() {
		h.SetProtocol(nil)
	} else {
		h.SetProtocol(http10)
	}
	h.SetStatusMessage(nil)
	if code := h.StatusCode(); fasthttp.StatusMessage(code) == unknownStatus {
		h.SetStatusMessage([]byte("status code " + strconv.Itoa(code)))
	}
	if !ctx.Request.Header.IsHTTP11() && ctx.Response.IsBodyStream() && h.ContentLength() < 0 &&
		h2StreamOf(ctx) == nil && !ctx.Request.Header.IsHead() {
		untilClose(ctx)
	}
}

// untilClose sends a body of unknown length to an HTTP/1.0 client, which
// cannot read chunked encoding, as Go's server does: no framing, the
// connection closed at its end. fasthttp would chunk it, so the
// connection is taken over once the handler returns.
func untilClose(ctx *fasthttp.RequestCtx) {
	resp := &ctx.Response
	body, err := middleware.TakeResponseBodyStream(resp)
	if err != nil || body == nil {
		return // fasthttp's framing then, rather than no answer
	}
	h := &resp.Header
	h.SetContentLength(-2) // identity: neither Content-Length nor chunked
	h.SetConnectionClose()
	head := h.AppendBytes(nil)
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) {
		defer middleware.CloseBodyStream(body, nil)
		if _, err := c.Write(head); err == nil {
			io.Copy(c, body)
		}
	})
}

var (
	http10        = []byte("HTTP/1.0")
	unknownStatus = fasthttp.StatusMessage(999)
)

func (s *Server) serve(ctx *fasthttp.RequestCtx, rt *Runtime, ep *listener, st *reqState) {
	d := decide(ctx, rt, ep, st)
	if s.tracer != nil {
		s.traceStart(ctx, ep, st, &d)
	}
	if d.router == nil {
		d.answer(ctx)
		return
	}
	st.router = d.router
	st.hint.Reset()
	st.hint.Cookie = ctx.Request.Header.Peek("Cookie")
	if ip := st.creq.ClientIP; ip.IsValid() {
		st.ip = ip.AppendTo(st.ip[:0])
		st.hint.ClientIP = st.ip
	}
	d.router.handler(ctx, &st.mw)
}

// decision is what the entry point decides for a request before any
// middleware runs: the router that takes it, or the answer it gets
// without one.
type decision struct {
	router *routerRuntime // nil: answered with status
	status int
	// reason says why the request got status (for explain; constant
	// strings, never formatted per request).
	reason string
	err    error         // why the target or Host was refused (400)
	ert    *entryRuntime // the table the request was matched against
}

// Reasons of the entry point's own answers.
const (
	reasonBadRequest  = "the request target or Host cannot be routed (see below)"
	reasonBadVersion  = "net/http answers 505 to a request line whose version is not HTTP/1.x"
	reasonNoRouters   = "no routers on this entry point for this kind of connection"
	reasonMisdirected = "the Host's routers ask for other TLS options than the connection's server name got (421, Traefik's domain-fronting check)"
	reasonNoMatch     = "no router matches"
	reasonOptionsStar = "net/http answers OPTIONS * itself (200, no body), before any handler, as for Traefik"
)

// decide runs, in order, every step the entry point takes before the
// router's middlewares: request-target and Host validation,
// forwarded-header trust, hop-by-hop removal, the routing path, the TLS
// domain-fronting check and matching. serve runs it per request and
// Explain on the request it explains, so the two never disagree. Ping,
// the metrics, the API and the dashboard are routers of their own
// (ping@internal, ...; see internal.go), matched like any other.
func decide(ctx *fasthttp.RequestCtx, rt *Runtime, ep *listener, st *reqState) decision {
	if h := &ctx.Request.Header; string(h.RequestURI()) == "*" && string(h.Method()) == fasthttp.MethodOptions {
		return decision{status: fasthttp.StatusOK, reason: reasonOptionsStar}
	}
	if err := fillRequest(ctx, st, ep.cfg.SanitizePath); err != nil {
		if err == errBadVersion { // net/http's answer to a version it does not serve
			return decision{status: fasthttp.StatusHTTPVersionNotSupported, reason: reasonBadVersion, err: err}
		}
		return decision{status: fasthttp.StatusBadRequest, reason: reasonBadRequest, err: err}
	}
	// Forwarded headers are settled before routing, so Header matchers see
	// the result, as in Traefik.
	st.secure = ctx.IsTLS()
	st.mw.Secure = st.secure
	st.xffDone = false
	prepareForward(ctx, st, ep)
	var ert *entryRuntime
	if i := ep.cfg.Index; i < len(rt.byIndex) {
		if st.secure {
			ert = rt.byIndexTLS[i]
		} else {
			ert = rt.byIndex[i]
		}
	}
	if ert == nil {
		return decision{status: fasthttp.StatusNotFound, reason: reasonNoRouters}
	}
	if st.secure && misdirected(ctx, ert, st.creq.Host) {
		return decision{status: fasthttp.StatusMisdirectedRequest, reason: reasonMisdirected, ert: ert}
	}
	i := ert.table.Match(&st.creq)
	if i < 0 || ert.routers[i].handler == nil {
		return decision{status: fasthttp.StatusNotFound, reason: reasonNoMatch, ert: ert}
	}
	return decision{router: ert.routers[i], ert: ert}
}

// answer writes the entry point's own answer.
func (d decision) answer(ctx *fasthttp.RequestCtx) {
	switch d.status {
	case fasthttp.StatusOK: // OPTIONS *
		ctx.Response.Header.SetContentLength(0)
	case fasthttp.StatusBadRequest:
		ctx.SetStatusCode(fasthttp.StatusBadRequest)
		if d.err == errBadHeaderName { // as net/http: a client whose framing may be read otherwise
			ctx.SetConnectionClose()
		}
	case fasthttp.StatusHTTPVersionNotSupported:
		ctx.SetStatusCode(fasthttp.StatusHTTPVersionNotSupported)
		ctx.SetConnectionClose()
	case fasthttp.StatusMisdirectedRequest:
		ctx.Response.Header.SetContentType(textPlain)
		ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
		ctx.SetStatusCode(fasthttp.StatusMisdirectedRequest)
		ctx.SetBody(body421)
	default:
		notFound(ctx)
	}
}

// misdirected is Traefik's domain-fronting check (snicheck): on a TLS
// connection whose server name differs from the request's host, the TLS
// options the host's routers ask for must be those the handshake used.
// Different names with the same options are allowed.
func misdirected(ctx *fasthttp.RequestCtx, ert *entryRuntime, host []byte) bool {
	if len(ert.hostOptions) == 0 {
		return false
	}
	var sni string
	switch c := ctx.Conn().(type) {
	case serverNamer: // HTTP/1.1 (the name was kept at the handshake), explain
		sni = c.ServerName()
	case *tls.Conn: // HTTP/2 streams
		sni = c.ConnectionState().ServerName
	default:
		return false
	}
	if asciiEqualFold(host, sni) {
		return false
	}
	return hostOptionsFor(ert.hostOptions, host) != sniOptionsFor(ert.hostOptions, sni)
}

// serverNamer is a TLS connection that knows its handshake's server name
// (tlsmux.ServerConn).
type serverNamer interface{ ServerName() string }

var _ serverNamer = (*tlsmux.ServerConn)(nil)

// hostOptionsFor looks the (lower-case) request host up in the host →
// options map, also with or without a trailing dot, as Traefik does.
func hostOptionsFor(m map[string]string, host []byte) string {
	if o, ok := m[string(host)]; ok {
		return o
	}
	if n := len(host); n > 0 && host[n-1] == '.' {
		if o, ok := m[string(host[:n-1])]; ok {
			return o
		}
	} else if o, ok := m[string(host)+"."]; ok {
		return o
	}
	return spec.DefaultTLSOptions
}

// sniOptionsFor looks the server name up, as sent, then lower-cased.
func sniOptionsFor(m map[string]string, sni string) string {
	if o, ok := m[sni]; ok {
		return o
	}
	if o, ok := m[strings.ToLower(sni)]; ok {
		return o
	}
	return spec.DefaultTLSOptions
}

// asciiEqualFold compares b and s ignoring ASCII case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func notFound(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.SetContentType(textPlain)
	ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
	ctx.SetStatusCode(fasthttp.StatusNotFound)
	ctx.SetBody(body404)
}

// fillRequest builds the routing view: canonical host (from an absolute
// request target's authority, else the Host header), normalised escaped path
// and routing path, method, raw query, client address. It returns false for
// requests Traefik answers with 400, with the reason.
func fillRequest(ctx *fasthttp.RequestCtx, st *reqState, sanitize bool) error {
	h := &ctx.Request.Header
	target := h.RequestURI()
	host := h.Host()
	if authority, rest, ok := splitAbsolute(target); ok {
		if len(authority) > 0 {
			host = authority
		}
		target = rest
	}
	rawPath, query, hasQuery := target, []byte(nil), false
	if i := bytes.IndexByte(target, '?'); i >= 0 {
		rawPath, query, hasQuery = target[:i], target[i+1:], true
	}
	var err error
	st.host = compile.AppendCanonicalHost(st.host[:0], host)
	if st.esc, err = compile.AppendNormalizedPath(st.esc[:0], rawPath, sanitize); err != nil {
		return err
	}
	if st.path, err = compile.AppendRoutingPath(st.path[:0], st.esc); err != nil {
		return err
	}
	if !validHostHeader(h.Host()) {
		return errBadHost
	}
	fid, err := checkVersionAndNames(h)
	if err != nil {
		return err
	}
	st.creq.Host = st.host
	st.creq.Path = st.path
	st.creq.Method = h.Method()
	st.creq.Query = query
	st.creq.ClientIP = remoteAddr(ctx)
	st.creq.Header = h
	if st.fid = (fidelity{h: h, flags: fid, vals: st.fid.vals}); fid != 0 {
		st.creq.Header = &st.fid
	}
	m := &st.mw
	m.Reset(st.esc)
	m.Query, m.HasQuery = query, hasQuery
	m.Host, m.ClientIP = st.host, st.creq.ClientIP
	return nil
}

var (
	errBadVersion    = errors.New("unsupported HTTP version")
	errBadHeaderName = errors.New("invalid header name")
)

// checkVersionAndNames is what net/http checks before Traefik sees a
// request and fasthttp does not: the version is HTTP/1.x (another 1.x
// minor is served, and forwarded, as HTTP/1.1, never upstream verbatim),
// and every header name is a token (fasthttp forwards "X Y: z").
//
// It also tells which header lines fasthttp keeps in a form of its own
// that matchers must not see (fidelity flags): repeated User-Agent or
// Content-Type lines (fasthttp keeps the last), a Trailer line.
func checkVersionAndNames(h *fasthttp.RequestHeader) (uint8, error) {
	switch p := h.Protocol(); {
	case string(p) == "HTTP/1.1" || string(p) == "HTTP/1.0":
	case len(p) == 8 && string(p[:7]) == "HTTP/1." && p[7] >= '0' && p[7] <= '9':
		h.SetProtocol("HTTP/1.1")
	default:
		return 0, errBadVersion
	}
	var flags uint8
	ua, ct := 0, 0
	// The raw block, not All(): All joins the Cookie lines (which
	// are forwarded as sent).
	for line := range rawLines(h.RawHeaders()) {
		i := bytes.IndexByte(line, ':')
		if i <= 0 || !isToken(line[:i]) {
			return 0, errBadHeaderName
		}
		switch name := line[:i]; len(name) {
		case len("User-Agent"):
			if equalFoldBytes(name, "user-agent") {
				if ua++; ua > 1 {
					flags |= fidUserAgent
				}
			}
		case len("Content-Type"):
			if equalFoldBytes(name, "content-type") {
				if ct++; ct > 1 {
					flags |= fidContentType
				}
			}
		case len("Trailer"):
			if equalFoldBytes(name, "trailer") {
				flags |= fidTrailer
			}
		}
	}
	return flags, nil
}

// Fidelity flags: header lines of the request that fasthttp's parsed
// header holds in a form of its own.
const (
	fidUserAgent   uint8 = 1 << iota // more than one User-Agent line
	fidContentType                   // more than one Content-Type line
	fidTrailer                       // a Trailer line
)

// fidelity gives matchers the header lines as net/http gives them to
// Traefik's matchers where fasthttp's parsed header differs: every
// User-Agent and Content-Type line (fasthttp keeps the last), and Trailer
// as sent on a request without a chunked body, none on a chunked one
// (net/http moves it into the declared trailers; fasthttp canonicalises
// its names). Only requests with such lines route through it.
type fidelity struct {
	h     *fasthttp.RequestHeader
	flags uint8
	vals  [][]byte // PeekAll's answer, reused
}

// PeekAll implements compile.Headers.
func (f *fidelity) PeekAll(name string) [][]byte {
	var lower string
	switch {
	case f.flags&fidUserAgent != 0 && strings.EqualFold(name, "user-agent"):
		lower = "user-agent"
	case f.flags&fidContentType != 0 && strings.EqualFold(name, "content-type"):
		lower = "content-type"
	case f.flags&fidTrailer != 0 && strings.EqualFold(name, "trailer"):
		if f.h.ContentLength() == -1 {
			return nil
		}
		lower = "trailer"
	default:
		return f.h.PeekAll(name)
	}
	f.vals = f.vals[:0]
	for v := range rawValues(f.h, lower) {
		f.vals = append(f.vals, v)
	}
	return f.vals
}

// rawLines yields the header lines of a raw header block (without the
// line end), skipping obs-fold continuations (fasthttp joins them to the
// line before) and the empty line that ends the block.
func rawLines(raw []byte) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(raw) > 0 {
			line := raw
			if i := bytes.IndexByte(raw, '\n'); i >= 0 {
				line, raw = raw[:i], raw[i+1:]
			} else {
				raw = nil
			}
			if len(line) == 0 || line[0] == ' ' || line[0] == '\t' || line[0] == '\r' {
				continue
			}
			if !yield(line) {
				return
			}
		}
	}
}

// rawValues yields the value of each of the request's header lines named
// lower (in lower case; the lines in any case), as sent, without
// surrounding whitespace.
func rawValues(h *fasthttp.RequestHeader, lower string) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for line := range rawLines(h.RawHeaders()) {
			i := bytes.IndexByte(line, ':')
			if i <= 0 || !equalFoldBytes(line[:i], lower) {
				continue
			}
			if !yield(bytes.Trim(line[i+1:], " \t\r")) {
				return
			}
		}
	}
}

var errBadHost = errors.New("the Host header has a byte net/http refuses (httpguts.ValidHostHeader)")

// validHostHeader is net/http's Host check (httpguts.ValidHostHeader):
// the bytes a host, IPv6 literal, zone or port may hold.
func validHostHeader(h []byte) bool {
	for _, c := range h {
		if !validHostByte[c] {
			return false
		}
	}
	return true
}

var validHostByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!$%&'()*+,-.:;=[]_~" {
		t[c] = true
	}
	return t
}()

// splitAbsolute splits an absolute-form request target
// ("http://host:port/path?q") into its authority and the rest.
func splitAbsolute(t []byte) (authority, rest []byte, ok bool) {
	n := 0
	switch {
	case hasPrefixFold(t, "http://"):
		n = 7
	case hasPrefixFold(t, "https://"):
		n = 8
	default:
		return nil, t, false
	}
	t = t[n:]
	end := len(t)
	for i, c := range t {
		if c == '/' || c == '?' {
			end = i
			break
		}
	}
	authority, rest = t[:end], t[end:]
	if i := bytes.LastIndexByte(authority, '@'); i >= 0 {
		authority = authority[i+1:]
	}
	// "http://a" routes with an empty path, as in Traefik; it is
	// forwarded as "/".
	return authority, rest, true
}

func hasPrefixFold(b []byte, p string) bool {
	if len(b) < len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != p[i] {
			return false
		}
	}
	return true
}

// remoteAddr returns the TCP peer address without allocating.
func remoteAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	if a, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}
