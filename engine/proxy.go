// Runs per request: must not allocate (guarded by TestServeAllocs).

package engine

import (
	"bytes"
	"errors"
	"io"
	"iter"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http/httpguts"
)

// Headers the entry point manages (semantics §i). From an untrusted client
// they are removed, in any spelling, before routing.
var managedHeaders = []string{
	"X-Forwarded-Proto", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Port",
	"X-Forwarded-Server", "X-Forwarded-Uri", "X-Forwarded-Method", "X-Forwarded-Prefix",
	"X-Forwarded-Scheme", "X-Forwarded-Tls-Client-Cert", "X-Forwarded-Tls-Client-Cert-Info",
	"X-Scheme", "X-Real-Ip",
}

// hopHeaders are removed before forwarding, in both directions
// (net/http/httputil's list, which Traefik's proxy applies; Te is handled
// apart: "Te: trailers" is kept). fasthttp manages Connection and
// Transfer-Encoding itself.
var hopHeaders = []string{
	"Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "Trailer", "Upgrade",
}

// prepareForward applies the entry point's forwarded-header handling. In
// Traefik it runs before routing, so Header matchers see its result; call
// it before Match.
func prepareForward(ctx *fasthttp.RequestCtx, st *reqState, ep *listener) {
	h := &ctx.Request.Header
	trusted := ep.trusts(st.creq.ClientIP)
	// Fast path: one scan tells whether any managed header is present at
	// all; usually none is, and then nothing needs deleting or peeking.
	present := hasManaged(h)
	if present && !trusted {
		for _, k := range managedHeaders {
			h.Del(k)
		}
		delUnderscoreVariants(h, st)
		present = false
	}
	removeConnectionListed(h, st)

	ip := st.creq.ClientIP
	absent := func(k string) bool { return !present || len(h.Peek(k)) == 0 }
	if ip.IsValid() && absent("X-Real-Ip") {
		st.tmp = ip.WithZone("").AppendTo(st.tmp[:0])
		h.SetBytesV("X-Real-Ip", st.tmp)
	}
	if absent("X-Forwarded-Proto") {
		proto := "http"
		switch ws := isWebSocket(h); {
		case st.secure && ws:
			proto = "wss"
		case st.secure:
			proto = "https"
		case ws:
			proto = "ws"
		}
		h.Set("X-Forwarded-Proto", proto)
	}
	if absent("X-Forwarded-Port") {
		st.tmp = appendPort(st.tmp[:0], h.Host(), st.secure)
		h.SetBytesV("X-Forwarded-Port", st.tmp)
	}
	if absent("X-Forwarded-Host") {
		h.SetBytesV("X-Forwarded-Host", h.Host())
	}
	h.Set("X-Forwarded-Server", hostname)
}

// hasManaged reports whether the request carries any managed header, in any
// spelling ('-' or '_', any case).
func hasManaged(h *fasthttp.RequestHeader) bool {
	found := false
	scanKeys(h, func(k []byte) bool {
		if len(k) < 8 || k[0] != 'X' && k[0] != 'x' {
			return true
		}
		for _, m := range managedHeaders {
			if equalUnderscoreFold(k, m) {
				found = true
				return false
			}
		}
		return true
	})
	return found
}

// scanKeys calls f with the name of each of the request's header lines as
// the client sent them (HTTP/1), or as the HTTP/2 front door added them,
// until f returns false. Unlike RequestHeader.All, it leaves fasthttp's
// Cookie lines alone: All parses them into cookies, which are then
// forwarded re-serialised ("a=1;b=2" becomes "a=1; b=2", two lines one)
// where Traefik forwards them byte for byte. Headers the proxy adds are
// not seen; the callers look for client headers only.
func scanKeys(h *fasthttp.RequestHeader, f func(k []byte) bool) {
	raw := h.RawHeaders()
	if len(raw) == 0 {
		for k := range h.All() {
			if !f(k) {
				return
			}
		}
		return
	}
	for line := range rawLines(raw) {
		if j := bytes.IndexByte(line, ':'); j > 0 && !f(bytes.TrimRight(line[:j], " \t")) {
			return
		}
	}
}

// appendPort is Traefik's X-Forwarded-Port: the port of the Host header,
// else 80 (443 arrives with TLS).
func appendPort(dst, host []byte, secure bool) []byte {
	if i := bytes.LastIndexByte(host, ':'); i >= 0 && bytes.LastIndexByte(host, ']') < i {
		return append(dst, host[i+1:]...)
	}
	if secure {
		return append(dst, "443"...)
	}
	return append(dst, "80"...)
}

func isWebSocket(h *fasthttp.RequestHeader) bool {
	return h.ConnectionUpgrade() && equalFoldBytes(h.Peek("Upgrade"), "websocket")
}

func equalFoldBytes(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// delUnderscoreVariants removes managed headers spelled with '_' (such as
// X_Forwarded_For), which some backends treat as their '-' form.
func delUnderscoreVariants(h *fasthttp.RequestHeader, st *reqState) {
	st.tmp = st.tmp[:0]
	var n int
	scanKeys(h, func(k []byte) bool {
		if bytes.IndexByte(k, '_') < 0 {
			return true
		}
		for _, m := range managedHeaders {
			if equalUnderscoreFold(k, m) {
				st.tmp = append(append(st.tmp, k...), 0)
				n++
				break
			}
		}
		return true
	})
	for ; n > 0; n-- {
		i := bytes.IndexByte(st.tmp, 0)
		h.DelBytes(st.tmp[:i])
		st.tmp = st.tmp[i+1:]
	}
}

func equalUnderscoreFold(k []byte, m string) bool {
	if len(k) != len(m) {
		return false
	}
	for i := range k {
		a, b := k[i], m[i]
		if a == '_' {
			a = '-'
		}
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

// removeConnectionListed deletes the headers the client named in its
// Connection header (they are hop-by-hop), except the managed X- headers.
func removeConnectionListed(h *fasthttp.RequestHeader, st *reqState) {
	conn := h.Peek("Connection")
	if len(conn) == 0 {
		return
	}
	st.tmp = append(st.tmp[:0], conn...)
	for tok := range splitComma(st.tmp) {
		if len(tok) == 0 || equalFoldBytes(tok, "close") || equalFoldBytes(tok, "keep-alive") || equalFoldBytes(tok, "upgrade") {
			continue
		}
		managed := false
		for _, m := range managedHeaders {
			if equalUnderscoreFold(tok, m) {
				managed = true
			}
		}
		if !managed {
			h.DelBytes(tok)
		}
	}
}

// splitComma yields the trimmed comma-separated tokens of b.
func splitComma(b []byte) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(b) > 0 {
			i := bytes.IndexByte(b, ',')
			tok := b
			if i >= 0 {
				tok, b = b[:i], b[i+1:]
			} else {
				b = nil
			}
			for len(tok) > 0 && (tok[0] == ' ' || tok[0] == '\t') {
				tok = tok[1:]
			}
			for len(tok) > 0 && (tok[len(tok)-1] == ' ' || tok[len(tok)-1] == '\t') {
				tok = tok[:len(tok)-1]
			}
			if !yield(tok) {
				return
			}
		}
	}
}

// setForwardURI sets the request URI that goes upstream: the normalised,
// sanitised escaped path (as middlewares left it), and the query with ';' turned into '&' (Traefik's
// AllowQuerySemicolons). An absolute-form target's authority becomes the
// Host, as Go's req.Host.
func setForwardURI(req *fasthttp.Request, st *reqState) {
	h := &req.Header
	st.uri = st.uri[:0]
	path := st.mw.EscapedPath()
	if len(path) == 0 || path[0] != '/' {
		st.uri = append(st.uri, '/')
	}
	st.uri = append(st.uri, path...)
	pathEnd := len(st.uri)
	if q := st.mw.Query; len(q) > 0 || st.mw.HasQuery {
		st.uri = append(st.uri, '?')
		for _, c := range q {
			if c == ';' {
				c = '&'
			}
			st.uri = append(st.uri, c)
		}
	}
	if authority, _, ok := splitAbsolute(h.RequestURI()); ok && len(authority) > 0 {
		h.SetHostBytes(authority)
	}
	req.SetRequestURIBytes(st.uri)
	// fasthttp's client writes the target its URI parse makes of the
	// request line and the Host, and takes the Host from that parse. A
	// Host its parser refuses ("::1", "a%zz", routed as in Traefik) would
	// lose the path and the Host, and a '#' would end the query. The
	// parsed URI is given our path and query back, and the Host header is
	// the one written: the target goes as Traefik sends it.
	uri := req.URI()
	path, query := st.uri[:pathEnd], st.uri[pathEnd:]
	if len(query) > 0 {
		query = query[1:]
	}
	if !bytes.Equal(uri.PathOriginal(), path) {
		uri.SetPathBytes(path) // rare: it also normalises a copy
	}
	if !bytes.Equal(uri.QueryString(), query) {
		uri.SetQueryStringBytes(query)
	}
	req.UseHostHeader = true
}

// appendXFF appends the client IP to X-Forwarded-For (joining earlier lines
// with ", "), as Go's ReverseProxy does for Traefik.
func appendXFF(req *fasthttp.Request, st *reqState) {
	if st.mw.NoXFF {
		return // a headers middleware removed it
	}
	ip := st.creq.ClientIP
	h := &req.Header
	if !ip.IsValid() || st.xffDone && bytes.Equal(h.Peek("X-Forwarded-For"), st.xff) {
		// A second forward of the same request (an error page) has it;
		// one whose headers were restored (retry) gets it again.
		return
	}
	st.tmp = st.tmp[:0]
	for i, v := range h.PeekAll("X-Forwarded-For") {
		if i > 0 {
			st.tmp = append(st.tmp, ", "...)
		}
		st.tmp = append(st.tmp, v...)
	}
	if len(st.tmp) > 0 {
		st.tmp = append(st.tmp, ", "...)
	}
	st.tmp = ip.WithZone("").AppendTo(st.tmp)
	h.SetBytesV("X-Forwarded-For", st.tmp)
	st.xff = append(st.xff[:0], st.tmp...)
	st.xffDone = true
}

// forward sends the request to u and leaves the answer in ctx.Response,
// streaming its body. passHost keeps the client's Host header. Upgrades
// (WebSocket) take over the connection instead.
func forward(ctx *fasthttp.RequestCtx, st *reqState, u *upstream, passHost bool) error {
	if u.refuse != nil {
		return u.refuse
	}
	req := &ctx.Request
	h := &req.Header
	if isWebSocket(h) {
		return upgrade(ctx, st, u, passHost)
	}
	setForwardURI(req, st)
	if st.secure != u.hc.IsTLS {
		// A request read over TLS parses as https://; the upstream's
		// scheme is what the client must see.
		if u.hc.IsTLS {
			req.URI().SetScheme("https")
		} else {
			req.URI().SetScheme("http")
		}
	}
	if !passHost || len(h.Host()) == 0 {
		// Without a Host of its own (HTTP/1.0), the request names the
		// server, as Go's transport does for Traefik.
		h.SetHost(u.hostPort)
	}
	appendXFF(req, st)
	// The client's Connection line is its own hop's (RFC 9110 §7.6.1): it
	// is not forwarded, as Go's ReverseProxy drops it for Traefik. Header
	// matchers saw it; the fasthttp server took its close decision from it
	// before the handler ran, so deleting it here changes nothing for the
	// client connection, and the upstream connection stays reusable.
	if h.ConnectionClose() || len(h.Peek("Connection")) > 0 {
		h.Del("Connection")
	}
	if hasHopRequest(h) {
		chunked := h.ContentLength() == -1
		for _, k := range hopHeaders {
			// A chunked body's Trailer line announces its trailers:
			// fasthttp writes it again from the names it keeps
			// (canonical, as Go's transport does for Traefik).
			if k != "Trailer" || !chunked {
				h.Del(k)
			}
		}
	}
	if st.fid.flags&(fidUserAgent|fidContentType) != 0 {
		firstOfRepeated(h, st)
	}
	if te := h.Peek("Te"); len(te) > 0 && !equalFoldBytes(te, "trailers") {
		h.Del("Te")
	}
	traceForward(st, req, u) // tracing (otel.go): the ReverseProxy span opens, traceparent is set
	if u.rt != nil {
		return forwardStd(ctx, st, u)
	}

	// No invented Content-Type for a body that came without one.
	h.SetNoDefaultContentType(true)
	stickBody(req, st)
	err := u.hc.Do(req, &ctx.Response)
	if err != nil {
		return err
	}
	if rh := &ctx.Response.Header; hasAny(rh.All(), hopLowerResponse) {
		// Headers the upstream named in Connection are hop-by-hop too
		// (RFC 9110 §7.6.1).
		for tok := range bytes.SplitSeq(rh.Peek("Connection"), []byte(",")) {
			if tok = bytes.TrimSpace(tok); len(tok) > 0 && !equalFoldBytes(tok, "close") && !equalFoldBytes(tok, "keep-alive") {
				rh.DelBytes(tok)
			}
		}
		rh.Del("Connection")
		for _, k := range hopHeaders {
			rh.Del(k)
		}
	}
	return nil
}

// hasHopRequest reports whether the request holds a hop-by-hop header.
// Fast path: one scan, usually finding none, instead of a Del per name.
func hasHopRequest(h *fasthttp.RequestHeader) bool {
	found := false
	scanKeys(h, func(k []byte) bool {
		for _, m := range hopLower {
			if equalFoldBytes(k, m) {
				found = true
				return false
			}
		}
		return true
	})
	return found
}

// hasAny reports whether a header list holds one of names (lower case).
func hasAny(all iter.Seq2[[]byte, []byte], names []string) bool {
	for k := range all {
		for _, m := range names {
			if equalFoldBytes(k, m) {
				return true
			}
		}
	}
	return false
}

// hopLowerResponse adds Connection, which on a request is handled before
// routing (removeConnectionListed).
var hopLowerResponse = append(slices.Clone(hopLower), "connection")

// hopLower is hopHeaders in lower case, for equalFoldBytes.
var hopLower = func() []string {
	out := make([]string, len(hopHeaders))
	for i, h := range hopHeaders {
		out[i] = strings.ToLower(h)
	}
	return out
}()

// errorStatus maps an upstream error to Traefik's status (semantics §c):
// timeouts 504, other network errors and EOF 502, anything else 500.
func errorStatus(err error) int {
	var ne net.Error
	switch {
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout),
		errors.As(err, &ne) && ne.Timeout():
		return fasthttp.StatusGatewayTimeout
	case errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, fasthttp.ErrConnectionClosed), errors.Is(err, fasthttp.ErrNoFreeConns):
		return fasthttp.StatusBadGateway
	}
	return fasthttp.StatusInternalServerError
}

// writeError answers with the bare status text, as Traefik's proxy does.
func writeError(ctx *fasthttp.RequestCtx, status int) {
	if isGRPC(ctx) {
		grpcError(ctx, status)
		return
	}
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.Response.Header.SetContentType(textPlain)
	ctx.SetBodyString(fasthttp.StatusMessage(status))
}

// trusts reports whether forwarded headers from ip are kept.
func (l *listener) trusts(ip netip.Addr) bool {
	if l.cfg.ForwardedHeaders.Insecure {
		return true
	}
	for _, p := range l.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// stickyBody repeats the first error of the body stream it wraps on every
// later Read. fasthttp's client writes a chunked request body with a loop
// that, when a Read returns data and an error together, sends the data and
// drops the error: a client chunk followed by a bare LF instead of CRLF
// would then be forwarded as a complete body (the next Read parses the
// "0" that follows as the last chunk). With the error repeated, the next
// Read ends the write and the upstream never sees a terminating chunk.
//
// At the end of the body, the trailer section has been parsed into h: a
// field name that is no token ("h n", which fasthttp's parser keeps) ends
// the body with errTrailerName instead, so it is never written upstream
// (net/http refuses it too).
type stickyBody struct {
	r   io.Reader
	h   *fasthttp.RequestHeader
	err error
}

func (b *stickyBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.r.Read(p)
	if err == io.EOF && b.h != nil {
		for _, k := range b.h.PeekTrailerKeys() {
			if !isToken(k) {
				err = errTrailerName
				break
			}
		}
	}
	if err != nil {
		b.err = err
	}
	return n, err
}

// errTrailerName ends a chunked request body whose trailer section has a
// field name that is no token.
var errTrailerName = errors.New("a trailer field name is not a token")

// isToken reports whether k is an RFC 9110 token, a valid field name.
func isToken(k []byte) bool {
	if len(k) == 0 {
		return false
	}
	for _, c := range k {
		if !httpguts.IsTokenRune(rune(c)) {
			return false
		}
	}
	return true
}

// stickBody wraps a chunked request body read from the client connection
// in the reqState's stickyBody (no allocation). fasthttp's own request
// stream is no io.Closer, so replacing it leaves it to the server loop,
// which drains or drops it; an io.Closer (an HTTP/2 body) is left alone,
// as SetBodyStream would close it.
func stickBody(req *fasthttp.Request, st *reqState) {
	if !req.IsBodyStream() || req.Header.ContentLength() != -1 {
		return
	}
	bs := req.BodyStream()
	if _, closer := bs.(io.Closer); closer || bs == io.Reader(&st.body) {
		return
	}
	st.body = stickyBody{r: bs, h: &req.Header}
	req.SetBodyStream(&st.body, -1)
}

// firstOfRepeated forwards the first of repeated User-Agent and
// Content-Type lines, where fasthttp kept the last: Go's transport writes
// the first User-Agent for Traefik. (Traefik forwards every Content-Type
// line; fasthttp writes one, so a backend reading the first, as Go's
// Header.Get does, reads the same.) A value a middleware set is kept.
func firstOfRepeated(h *fasthttp.RequestHeader, st *reqState) {
	first := func(lower string) (first, last []byte) {
		for v := range rawValues(h, lower) {
			if first == nil {
				first = v
			}
			last = v
		}
		return first, last
	}
	if st.fid.flags&fidUserAgent != 0 {
		if f, l := first("user-agent"); f != nil && bytes.Equal(h.UserAgent(), l) {
			h.SetUserAgentBytes(f)
		}
	}
	if st.fid.flags&fidContentType != 0 {
		if f, l := first("content-type"); f != nil && bytes.Equal(h.ContentType(), l) {
			h.SetContentTypeBytes(f)
		}
	}
}
