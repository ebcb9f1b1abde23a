package middleware

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http/httpguts"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// errorsConfig is Traefik's errors middleware (customerrors): when the
// response status is in Status, the response is replaced by a page that
// Service serves for the path Query, with the status (rewritten by
// StatusRewrites) kept.
type errorsConfig struct {
	Status         []string       `json:"status,omitempty"`
	StatusRewrites map[string]int `json:"statusRewrites,omitempty"`
	// Service is resolved by translation into spec.Middleware.Service
	// (its options are checked there); only its presence is decoded.
	Service             json.RawMessage `json:"service,omitempty"`
	Query               string          `json:"query,omitempty"`
	ErrorRequestHeaders []string        `json:"errorRequestHeaders,omitempty"`
}

// errorPages is a built errors middleware.
type errorPages struct {
	status   StatusRanges
	rewrites []statusRewrite
	page     Handler // the error page service
	// The query template, split as url.Parse splits the page URL:
	// the path, and the raw query after the first '?'.
	path, query []querySeg
	hasQuery    bool
	usesURL     bool
	// badQuery: the page URL never parses (a control byte, a malformed
	// escape); Traefik then answers the bare status text.
	badQuery bool
	// headers lists the forwarded request headers in lower case; nil
	// forwards them all.
	headers [][]byte
}

type statusRewrite struct {
	from StatusRanges
	to   int
}

type querySegKind uint8

const (
	segLiteral querySegKind = iota
	segStatus
	segOriginalStatus
	segURL
)

type querySeg struct {
	kind querySegKind
	lit  string
}

func newErrors(c *errorsConfig, def *spec.Middleware, bc *BuildContext) (Middleware, error) {
	status, err := ParseStatusRanges(c.Status)
	if err != nil {
		return nil, err
	}
	e := &errorPages{status: status}
	for key, to := range c.StatusRewrites {
		from, err := ParseStatusRanges([]string{key})
		if err != nil {
			return nil, fmt.Errorf("statusRewrites: %w", err)
		}
		if to < 200 || to > 999 {
			return nil, fmt.Errorf("statusRewrites: %q rewrites to %d, not a final HTTP status (200-999)", key, to)
		}
		e.rewrites = append(e.rewrites, statusRewrite{from: from, to: to})
	}
	// Traefik tries the rewrites in map order, which Go randomises; here
	// the narrowest range is tried first, so overlapping keys give the
	// same answer every time.
	sort.Slice(e.rewrites, func(i, j int) bool {
		a, b := e.rewrites[i].from[0], e.rewrites[j].from[0]
		if wa, wb := a[1]-a[0], b[1]-b[0]; wa != wb {
			return wa < wb
		}
		return a[0] < b[0]
	})
	for i, a := range e.rewrites {
		for _, b := range e.rewrites[i+1:] {
			if x, y := a.from[0], b.from[0]; x[0] <= y[1] && y[0] <= x[1] {
				bc.Warn("errors: statusRewrites %d-%d and %d-%d overlap; edgeroute applies the narrower one (Traefik picks either)", x[0], x[1], y[0], y[1])
			}
		}
	}

	e.compileQuery(c.Query)
	if e.badQuery {
		bc.Warn("errors: query %q does not make a valid URL: error pages are answered with the bare status text, as Traefik does", c.Query)
	}

	if c.ErrorRequestHeaders != nil {
		e.headers = make([][]byte, 0, len(c.ErrorRequestHeaders))
		for _, h := range c.ErrorRequestHeaders {
			e.headers = append(e.headers, []byte(strings.ToLower(h)))
		}
	}

	if def.Service == "" {
		return nil, errors.New("errors: no error page service")
	}
	if bc.Service == nil {
		return nil, fmt.Errorf("errors: service %s: no services to build error pages with", def.Service)
	}
	if e.page, err = bc.Service(def.Service); err != nil {
		return nil, fmt.Errorf("errors: service %s: %w", def.Service, err)
	}
	if e.page == nil {
		return nil, fmt.Errorf("errors: service %s has no handler", def.Service)
	}
	return e.wrap, nil
}

// compileQuery splits Traefik's page URL ("http://" + host + "/" + the
// query without its leading '/', placeholders replaced) the way url.Parse
// does. The replacements (digits, a QueryEscape'd URL starting "http")
// contain no '#', '?' or control byte, so where the URL splits, and
// whether it parses, depend on the template alone: both are decided here
// with sample values.
func (e *errorPages) compileQuery(q string) {
	if q == "" {
		return // "http://host": the path "/"
	}
	s := "/" + strings.TrimPrefix(q, "/")
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] == 0x7f {
			e.badQuery = true // url.Parse: invalid control character
			return
		}
	}
	sample := strings.NewReplacer("{status}", "200", "{originalStatus}", "200", "{url}", "http").Replace(s)
	rest, frag, _ := strings.Cut(sample, "#")
	if strings.HasSuffix(rest, "?") && strings.Count(rest, "?") == 1 {
		rest = rest[:len(rest)-1]
	} else {
		rest, _, _ = strings.Cut(rest, "?")
	}
	if !validEscapes(rest) || !validEscapes(frag) {
		e.badQuery = true // url.Parse: invalid URL escape
		return
	}
	s, _, _ = strings.Cut(s, "#") // the fragment is not sent
	path, query, hasQuery := strings.Cut(s, "?")
	e.path, e.query, e.hasQuery = splitPlaceholders(path), splitPlaceholders(query), hasQuery
	for _, sg := range slices.Concat(e.path, e.query) {
		if sg.kind == segURL {
			e.usesURL = true
		}
	}
}

// validEscapes reports whether every '%' starts a %XX escape (what
// url.Parse checks in a path and a fragment).
func validEscapes(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '%' {
			if i+2 >= len(s) || !ishex(s[i+1]) || !ishex(s[i+2]) {
				return false
			}
			i += 2
		}
	}
	return true
}

// splitPlaceholders cuts a template into literals and placeholders,
// left to right (which gives what Traefik's successive ReplaceAll calls
// give: no placeholder can overlap another or be made by a replacement).
func splitPlaceholders(s string) []querySeg {
	var out []querySeg
	lit := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '{' {
			continue
		}
		var kind querySegKind
		var n int
		switch rest := s[i:]; {
		case strings.HasPrefix(rest, "{status}"):
			kind, n = segStatus, len("{status}")
		case strings.HasPrefix(rest, "{originalStatus}"):
			kind, n = segOriginalStatus, len("{originalStatus}")
		case strings.HasPrefix(rest, "{url}"):
			kind, n = segURL, len("{url}")
		default:
			continue
		}
		if lit < i {
			out = append(out, querySeg{kind: segLiteral, lit: s[lit:i]})
		}
		out = append(out, querySeg{kind: kind})
		i += n - 1
		lit = i + 1
	}
	if lit < len(s) {
		out = append(out, querySeg{kind: segLiteral, lit: s[lit:]})
	}
	return out
}

// errorsScratch is what a request needs to keep across next: the request
// host and X-Forwarded-For as they were before the service forwarded the
// request (it may replace the Host and appends to X-Forwarded-For, which
// Traefik does on a copy), and buffers.
type errorsScratch struct {
	host   []byte
	xff    []byte
	hasXFF bool
	url    []byte
	tmp    []byte
	path   []byte
	uri    []byte
	dels   []byte
}

var errorsPool = sync.Pool{New: func() any { return new(errorsScratch) }}

func (e *errorPages) wrap(next Handler) Handler {
	return func(ctx *fasthttp.RequestCtx, r *Request) {
		s := errorsPool.Get().(*errorsScratch)
		defer errorsPool.Put(s)
		h := &ctx.Request.Header
		host := h.Host()
		if authority, ok := absoluteAuthority(h.RequestURI()); ok && len(authority) > 0 {
			host = authority // Go's req.Host for an absolute-form target
		}
		s.host = append(s.host[:0], host...)
		s.xff, s.hasXFF = s.xff[:0], false
		for i, v := range h.PeekAll("X-Forwarded-For") {
			if i > 0 {
				s.xff = append(s.xff, ", "...)
			}
			s.xff, s.hasXFF = append(s.xff, v...), true
		}

		r.ChangesResponse = true
		next(ctx, r)

		if ctx.Hijacked() {
			return // an upgrade: its answer went to the client as is
		}
		code := ctx.Response.StatusCode()
		if code < 200 || !e.status.Contains(code) {
			return // not an error page: the response streams through
		}
		e.serve(ctx, r, s, code)
	}
}

// serve replaces the response by the error page for status code.
func (e *errorPages) serve(ctx *fasthttp.RequestCtx, r *Request, s *errorsScratch, code int) {
	original := code
	for _, rw := range e.rewrites {
		if rw.from.Contains(code) {
			code = rw.to
			break
		}
	}
	pageHost, ok := pageRequestHost(s.host)
	if e.badQuery || !ok {
		// Traefik could not make the page request: http.Error.
		e.plainError(ctx, code)
		return
	}
	if e.usesURL {
		s.tmp = s.appendOrigURL(s.tmp[:0], r)
		s.url = appendQueryEscape(s.url[:0], s.tmp)
	}

	// The page's path and query.
	buf := appendSegs(r.Buf[:0], e.path, code, original, s.url)
	if len(buf) == 0 {
		buf = append(buf, '/')
	}
	n := len(buf)
	buf = appendSegs(buf, e.query, code, original, s.url)
	r.Buf = buf
	s.path = appendUnescape(s.path[:0], buf[:n])
	r.SetPath(s.path, buf[:n])
	r.Query, r.HasQuery = buf[n:], e.hasQuery

	// The page request: GET, no body, the original host, the headers.
	req := &ctx.Request
	h := &req.Header
	// The server skips a HEAD request's body by its method, which is
	// about to become GET.
	skip := ctx.Response.SkipBody || h.IsHead()
	h.Del("X-Forwarded-For")
	if s.hasXFF {
		h.SetBytesV("X-Forwarded-For", s.xff)
	}
	if e.headers != nil {
		e.filterHeaders(h, s)
	}
	req.ResetBody()
	h.Del("Transfer-Encoding")
	h.Del("Content-Length")
	h.Del("Trailer")
	h.Del("Upgrade") // the page request is never an upgrade
	h.SetMethod(fasthttp.MethodGet)
	s.uri = append(s.uri[:0], buf[:n]...)
	if e.hasQuery {
		s.uri = append(append(s.uri, '?'), buf[n:]...)
	}
	req.SetRequestURIBytes(s.uri)
	h.SetHostBytes(pageHost)

	resetResponse(&ctx.Response)
	r.UpstreamErr = nil
	e.page(ctx, r)
	// Traefik's codeModifier: the page's headers and body, the status.
	ctx.Response.SetStatusCode(code)
	ctx.Response.Header.SetStatusMessage(nil)
	ctx.Response.SkipBody = skip
}

// plainError is Traefik's answer when the page request cannot be made:
// http.Error with the status text.
func (e *errorPages) plainError(ctx *fasthttp.RequestCtx, code int) {
	skip := ctx.Response.SkipBody
	resetResponse(&ctx.Response)
	ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
	ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
	ctx.Response.SetStatusCode(code)
	ctx.Response.SetBodyString(http.StatusText(code))
	ctx.Response.AppendBodyString("\n")
	ctx.Response.SkipBody = skip
}

// resetResponse discards the response (closing a streamed body), keeping
// the server's choice of no default Content-Type.
func resetResponse(resp *fasthttp.Response) {
	rh := &resp.Header
	rh.Del("Content-Type")
	noDefault := len(rh.ContentType()) == 0
	resp.Reset()
	rh.SetNoDefaultContentType(noDefault)
}

// filterHeaders deletes the request headers that errorRequestHeaders does
// not list. The Host is kept (Traefik's page request has the original
// host whatever the list); Connection is the engine's.
func (e *errorPages) filterHeaders(h *fasthttp.RequestHeader, s *errorsScratch) {
	s.dels = s.dels[:0]
	for k := range h.All() {
		if equalFold(k, "host") || equalFold(k, "connection") || e.listed(k) {
			continue
		}
		s.dels = append(append(s.dels, k...), 0)
	}
	for d := s.dels; len(d) > 0; {
		i := bytes.IndexByte(d, 0)
		h.DelBytes(d[:i])
		d = d[i+1:]
	}
}

func (e *errorPages) listed(k []byte) bool {
	for _, name := range e.headers {
		if len(name) == len(k) && equalFold(k, string(name)) {
			return true
		}
	}
	return false
}

// equalFold compares b with the lower-case s, ignoring ASCII case.
func equalFold(b []byte, s string) bool {
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

func appendSegs(dst []byte, segs []querySeg, code, original int, escapedURL []byte) []byte {
	for _, sg := range segs {
		switch sg.kind {
		case segLiteral:
			dst = append(dst, sg.lit...)
		case segStatus:
			dst = strconv.AppendInt(dst, int64(code), 10)
		case segOriginalStatus:
			dst = strconv.AppendInt(dst, int64(original), 10)
		case segURL:
			dst = append(dst, escapedURL...)
		}
	}
	return dst
}

// appendOrigURL appends Traefik's {url} before escaping: the url.URL of
// scheme, req.Host, the current path and the query (';' read as '&', as
// Traefik's entry point does), as String writes it.
func (s *errorsScratch) appendOrigURL(dst []byte, r *Request) []byte {
	if r.Secure {
		dst = append(dst, "https:"...)
	} else {
		dst = append(dst, "http:"...)
	}
	path := r.EscapedPath()
	if len(s.host) > 0 || len(path) > 0 {
		dst = append(dst, "//"...)
	}
	dst = appendEscapedHost(dst, s.host)
	if len(path) > 0 && path[0] != '/' && len(s.host) > 0 {
		dst = append(dst, '/')
	}
	dst = append(dst, path...)
	if len(r.Query) > 0 {
		dst = append(dst, '?')
		for _, c := range r.Query {
			if c == ';' {
				c = '&'
			}
			dst = append(dst, c)
		}
	}
	return dst
}

// appendEscapedHost appends host as url.URL.String escapes it.
func appendEscapedHost(dst, host []byte) []byte {
	for _, c := range host {
		if !hostByteAsIs(c) {
			u := url.URL{Host: string(host)} // rare: let net/url escape it
			return append(dst, strings.TrimPrefix(u.String(), "//")...)
		}
	}
	return append(dst, host...)
}

// hostByteAsIs reports the ASCII bytes net/url leaves unescaped in a host.
func hostByteAsIs(c byte) bool {
	if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
		return true
	}
	return strings.IndexByte("-_.~!$&'()*+,;=:[]<>\"", c) >= 0
}

// appendQueryEscape appends s escaped as url.QueryEscape does.
func appendQueryEscape(dst, s []byte) []byte {
	const hex = "0123456789ABCDEF"
	for _, c := range s {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~':
			dst = append(dst, c)
		case c == ' ':
			dst = append(dst, '+')
		default:
			dst = append(dst, '%', hex[c>>4], hex[c&15])
		}
	}
	return dst
}

// pageRequestHost returns the Host of Traefik's page request, made from
// "http://" + req.Host: the host as is when it is a plain name with an
// optional port (an empty port dropped, as http.NewRequest does), else
// what net/url and net/http make of it. ok is false when Traefik could not
// make the request (or, for a Host header net/http refuses, would have
// answered 400 before).
func pageRequestHost(host []byte) (out []byte, ok bool) {
	colon := -1
	for i, c := range host {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~':
			if colon >= 0 && (c < '0' || c > '9') {
				return slowPageHost(host)
			}
		case c == ':' && colon < 0:
			colon = i
		default:
			return slowPageHost(host)
		}
	}
	if colon >= 0 && colon == len(host)-1 {
		host = host[:colon]
	}
	return host, true
}

func slowPageHost(host []byte) ([]byte, bool) {
	if !httpguts.ValidHostHeader(string(host)) {
		return nil, false
	}
	u, err := url.Parse("http://" + string(host) + "/")
	if err != nil {
		return nil, false
	}
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, false
	}
	return []byte(req.Host), true
}

// absoluteAuthority returns the authority of an absolute-form request
// target ("http://host:port/path"), without user information.
func absoluteAuthority(t []byte) ([]byte, bool) {
	switch {
	case len(t) >= 7 && equalFold(t[:7], "http://"):
		t = t[7:]
	case len(t) >= 8 && equalFold(t[:8], "https://"):
		t = t[8:]
	default:
		return nil, false
	}
	if i := bytes.IndexAny(t, "/?"); i >= 0 {
		t = t[:i]
	}
	if i := bytes.LastIndexByte(t, '@'); i >= 0 {
		t = t[i+1:]
	}
	return t, true
}
