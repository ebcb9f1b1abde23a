package middleware

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// grpcWebConfig is Traefik's grpcWeb: it lets a browser call a gRPC
// service. A gRPC-Web request (POST, Content-Type application/grpc-web or
// application/grpc-web-text, the latter base64) goes to the service as
// gRPC; the service's answer comes back as gRPC-Web: its Content-Type
// mapped back, its trailers (grpc-status, grpc-message) moved into a last
// frame of the body (flag 0x80, a 4-byte length, "name: value\r\n" lines),
// the whole body base64 for the text format. The CORS preflight of such
// calls is answered here.
//
// Traefik builds it from github.com/traefik/grpc-web (improbable-eng's
// wrapper) with its CORS from github.com/rs/cors v1.7.0; this file
// reproduces that combination: which requests it touches, the preflight's
// status and headers, Access-Control-Expose-Headers on answers. Two
// deliberate differences: Go's map order makes Traefik's list of exposed
// headers random, edgeroute lists them in the response's order; and an
// answer with a Content-Length (an HTTP/1.1 upstream's) is sent chunked,
// where Traefik's writer runs past the declared length and loses the
// trailer frame.
type grpcWebConfig struct {
	// AllowOrigins are the Origin values allowed to call (CORS); "*"
	// allows any. Empty allows none.
	AllowOrigins []string `json:"allowOrigins,omitempty"`
}

const (
	grpcCT        = "application/grpc"
	grpcWebCT     = "application/grpc-web"
	grpcWebTextCT = "application/grpc-web-text"
	// corsMaxAge is the wrapper's default preflight cache, in seconds.
	corsMaxAge = "600"
)

type grpcWeb struct {
	origins []string
	anyOrig bool
}

func newGrpcWeb(c *grpcWebConfig, _ *spec.Middleware, _ *BuildContext) (Middleware, error) {
	if errReqBodyStreamField != nil {
		return nil, errReqBodyStreamField
	}
	if errBodyStreamField != nil {
		return nil, errBodyStreamField
	}
	g := &grpcWeb{}
	for _, o := range c.AllowOrigins {
		if o == "*" {
			g.anyOrig = true
		}
		g.origins = append(g.origins, o)
	}
	return func(next Handler) Handler {
		return func(ctx *fasthttp.RequestCtx, r *Request) { g.serve(ctx, r, next) }
	}, nil
}

// allowed is Traefik's origin function: "*" or an exact match.
func (g *grpcWeb) allowed(origin []byte) bool {
	if g.anyOrig {
		return true
	}
	for _, o := range g.origins {
		if o == string(origin) {
			return true
		}
	}
	return false
}

func (g *grpcWeb) serve(ctx *fasthttp.RequestCtx, r *Request, next Handler) {
	h := &ctx.Request.Header
	method := h.Method()
	ct := h.ContentType()
	// The wrapper takes a POST whose Content-Type starts with
	// application/grpc-web, and an OPTIONS whose
	// Access-Control-Request-Headers name x-grpc-web; everything else
	// passes untouched.
	isWeb := string(method) == fasthttp.MethodPost && bytes.HasPrefix(ct, []byte(grpcWebCT))
	isCORS := string(method) == fasthttp.MethodOptions &&
		containsLowerFold(h.Peek("Access-Control-Request-Headers"), "x-grpc-web")
	if !isWeb && !isCORS {
		next(ctx, r)
		return
	}
	origin := h.Peek("Origin")
	if isCORS && len(h.Peek("Access-Control-Request-Method")) > 0 {
		g.preflight(ctx, origin)
		return
	}
	corsOK := len(origin) > 0 && g.allowed(origin)
	if corsOK {
		origin = append([]byte(nil), origin...) // the request header changes below
	}

	// The request becomes gRPC: Content-Type mapped, the body base64-
	// decoded for the text format, and of unknown length (the wrapper
	// drops Content-Length, so the upstream request is chunked or plain
	// DATA frames).
	incoming, outgoing := grpcWebCT, grpcWebCT
	text := bytes.HasPrefix(ct, []byte(grpcWebTextCT))
	if text {
		incoming, outgoing = grpcWebTextCT, grpcWebTextCT
	}
	if i := bytes.Index(ct, []byte(incoming)); i >= 0 {
		r.tmp = append(append(append(r.tmp[:0], ct[:i]...), grpcCT...), ct[i+len(incoming):]...)
		h.SetContentTypeBytes(r.tmp)
	}
	req := &ctx.Request
	hasBody := h.ContentLength() != 0 && (req.IsBodyStream() || len(req.Body()) > 0)
	switch {
	case !hasBody:
	case text && req.IsBodyStream():
		src := takeRequestBodyStream(req)
		req.SetBodyStream(&decodedBody{Reader: base64.NewDecoder(base64.StdEncoding, src), src: src}, -1)
	case text:
		src := bytes.NewReader(append([]byte(nil), req.Body()...)) // SetBodyStream frees the body's buffer
		req.SetBodyStream(&decodedBody{Reader: base64.NewDecoder(base64.StdEncoding, src)}, -1)
	default:
		h.SetContentLength(-1)
	}

	r.ChangesResponse = true
	next(ctx, r)
	g.answer(ctx, outgoing, origin, corsOK)
}

// preflight answers a gRPC-Web CORS preflight as rs/cors v1.7.0 does:
// 200 without a body, the three Vary values always, the rest only for an
// allowed origin and method (GET, POST, HEAD; OPTIONS always); every
// requested header is allowed, echoed in canonical form.
func (g *grpcWeb) preflight(ctx *fasthttp.RequestCtx, origin []byte) {
	req := &ctx.Request.Header
	resp := &ctx.Response
	rh := &resp.Header
	resp.SetStatusCode(fasthttp.StatusOK)
	rh.Add("Vary", "Origin")
	rh.Add("Vary", "Access-Control-Request-Method")
	rh.Add("Vary", "Access-Control-Request-Headers")
	if len(origin) == 0 || !g.allowed(origin) {
		return
	}
	method := strings.ToUpper(string(req.Peek("Access-Control-Request-Method")))
	switch method {
	case http.MethodGet, http.MethodPost, http.MethodHead, http.MethodOptions:
	default:
		return
	}
	rh.SetBytesV("Access-Control-Allow-Origin", origin)
	rh.Set("Access-Control-Allow-Methods", method)
	if hs := corsHeaderList(req.Peek("Access-Control-Request-Headers")); len(hs) > 0 {
		rh.Set("Access-Control-Allow-Headers", strings.Join(hs, ", "))
	}
	rh.Set("Access-Control-Allow-Credentials", "true")
	rh.Set("Access-Control-Max-Age", corsMaxAge)
}

// corsHeaderList is rs/cors's parseHeaderList: names split on spaces and
// commas, characters other than letters, digits, '-' and '_' dropped,
// each name in canonical case.
func corsHeaderList(list []byte) []string {
	var out []string
	var cur []byte
	upper := true
	for i, b := range list {
		switch {
		case b >= 'a' && b <= 'z':
			if upper {
				b -= 'a' - 'A'
			}
			cur = append(cur, b)
		case b >= 'A' && b <= 'Z':
			if !upper {
				b += 'a' - 'A'
			}
			cur = append(cur, b)
		case b == '-' || b == '_' || b >= '0' && b <= '9':
			cur = append(cur, b)
		}
		if b == ' ' || b == ',' || i == len(list)-1 {
			if len(cur) > 0 {
				out = append(out, string(cur))
				cur = cur[:0]
				upper = true
			}
		} else {
			upper = b == '-' || b == '_'
		}
	}
	return out
}

// answer turns the service's answer into gRPC-Web.
func (g *grpcWeb) answer(ctx *fasthttp.RequestCtx, contentType string, origin []byte, corsOK bool) {
	resp := &ctx.Response
	rh := &resp.Header
	// The client gets the trailers in the body, so none are announced.
	rh.SetTrailer("")
	if ct := rh.ContentType(); bytes.Contains(ct, []byte(grpcCT)) {
		rh.SetContentType(strings.Replace(string(ct), grpcCT, contentType, 1))
	}
	// The CORS headers of an actual request, unless the service set the
	// same names (the wrapper copies the service's over them).
	if len(rh.Peek("Vary")) == 0 {
		rh.Set("Vary", "Origin")
	}
	if corsOK {
		if len(rh.Peek("Access-Control-Allow-Origin")) == 0 {
			rh.SetBytesV("Access-Control-Allow-Origin", origin)
		}
		if len(rh.Peek("Access-Control-Allow-Credentials")) == 0 {
			rh.Set("Access-Control-Allow-Credentials", "true")
		}
	}
	// Every header name of the answer is exposed to the page, and the
	// two trailers gRPC-Web clients read.
	var names []string
	for k := range rh.All() {
		name := http.CanonicalHeaderKey(string(k))
		switch name {
		case "Content-Length", "Transfer-Encoding", "Connection", "Trailer", "Access-Control-Expose-Headers":
			continue
		}
		if !containsString(names, name) {
			names = append(names, name)
		}
	}
	rh.Set("Access-Control-Expose-Headers", strings.Join(append(names, "grpc-status", "grpc-message"), ", "))

	if !bodyAllowed(resp.StatusCode()) || ctx.Request.Header.IsHead() {
		return
	}
	b := grpcWebBodyPool.Get().(*grpcWebBody)
	b.text, b.hdr = contentType == grpcWebTextCT, rh
	if resp.IsBodyStream() {
		b.src = takeBodyStream(resp)
	} else {
		b.src = bytes.NewReader(append([]byte(nil), resp.Body()...)) // SetBodyStream frees the body's buffer
	}
	resp.SetBodyStream(b, -1)
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// containsLowerFold tells whether s, lower-cased, contains sub (lower case).
func containsLowerFold(s []byte, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		j := 0
		for j < len(sub) && lowerASCII(s[i+j]) == sub[j] {
			j++
		}
		if j == len(sub) {
			return true
		}
	}
	return false
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// decodedBody is a base64-decoded request body; closing it closes the
// client's stream.
type decodedBody struct {
	io.Reader
	src io.Reader
}

func (d *decodedBody) Close() error {
	if c, ok := d.src.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// grpcWebBody is the gRPC-Web answer body: the service's body as it
// comes (each read base64-encoded on its own, padded, for the text
// format, as the wrapper encodes each flush), then the trailer frame,
// made when the service's body ends and its trailers are known.
type grpcWebBody struct {
	src  io.Reader
	text bool
	hdr  *fasthttp.ResponseHeader
	out  []byte // encoded bytes not yet returned
	off  int
	eof  bool  // src ended; the trailer frame is in out
	err  error // src failed; returned once out is drained
	raw  [3 * 1024]byte
}

var grpcWebBodyPool = sync.Pool{New: func() any { return new(grpcWebBody) }}

func (b *grpcWebBody) Read(p []byte) (int, error) {
	for {
		if b.off < len(b.out) {
			n := copy(p, b.out[b.off:])
			b.off += n
			return n, nil
		}
		if b.err != nil {
			return 0, b.err
		}
		if b.eof {
			return 0, io.EOF
		}
		b.out, b.off = b.out[:0], 0
		var n int
		var err error
		if b.text {
			n, err = b.src.Read(b.raw[:])
			if n > 0 {
				b.out = base64.StdEncoding.AppendEncode(b.out, b.raw[:n])
			}
		} else {
			n, err = b.src.Read(p)
		}
		switch {
		case err == io.EOF:
			b.eof = true
			b.trailerFrame()
		case err != nil:
			b.err = err
		}
		if n > 0 && !b.text {
			return n, nil
		}
	}
}

// trailerFrame appends the frame that carries the service's trailers:
// names in lower case, sorted, as net/http's Header.Write writes them.
// The trailers leave the response's trailer section. (A trailer that
// shares a header's name is kept: Traefik's proxy hands an HTTP/2
// service's trailers over under Go's "Trailer:" prefix, which the
// wrapper's filter of sent names never matches.)
func (b *grpcWebBody) trailerFrame() {
	t := http.Header{}
	lines := b.hdr.TrailerHeader()
	var names []string
	for {
		line, rest, ok := bytes.Cut(lines, []byte("\r\n"))
		if !ok || len(line) == 0 {
			break
		}
		lines = rest
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		name := http.CanonicalHeaderKey(string(k))
		names = append(names, name)
		lk := strings.ToLower(name)
		t[lk] = append(t[lk], string(bytes.TrimSpace(v)))
	}
	b.hdr.SetTrailer("")
	for _, n := range names {
		b.hdr.Del(n)
	}
	var buf bytes.Buffer
	buf.Write([]byte{0x80, 0, 0, 0, 0})
	t.Write(&buf)
	frame := buf.Bytes()
	binary.BigEndian.PutUint32(frame[1:5], uint32(len(frame)-5))
	if b.text {
		b.out = base64.StdEncoding.AppendEncode(b.out, frame)
	} else {
		b.out = append(b.out, frame...)
	}
}

// CloseWithError closes the service's stream; fasthttp calls it once,
// when the response is written or abandoned.
func (b *grpcWebBody) CloseWithError(err error) error {
	cerr := closeBodyStream(b.src, err)
	b.src, b.hdr, b.eof, b.err = nil, nil, false, nil
	b.out, b.off = b.out[:0], 0
	grpcWebBodyPool.Put(b)
	return cerr
}
