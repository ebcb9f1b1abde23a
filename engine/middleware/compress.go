package middleware

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"unsafe"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// compressConfig is Traefik's compress: responses compressed with gzip,
// brotli or zstd, chosen from Accept-Encoding.
type compressConfig struct {
	// ExcludedContentTypes are not compressed (application/grpc never
	// is), the request's Content-Type as much as the response's.
	ExcludedContentTypes []string `json:"excludedContentTypes,omitempty"`
	// IncludedContentTypes, when set, are the only response types
	// compressed.
	IncludedContentTypes []string `json:"includedContentTypes,omitempty"`
	// MinResponseBodyBytes is the smallest body compressed; 0 (or unset)
	// means 1024.
	MinResponseBodyBytes *int `json:"minResponseBodyBytes,omitempty"`
	// Encodings are the encodings offered, in preference order; unset
	// means gzip, br, zstd.
	Encodings []string `json:"encodings,omitempty"`
	// DefaultEncoding is used without Accept-Encoding and for "*".
	DefaultEncoding *string `json:"defaultEncoding,omitempty"`
}

const (
	compressMinSize = 1024 // Traefik's defaultMinSize
	// sniffLen is what http.DetectContentType looks at.
	sniffLen = 512
	// headerNoGzip is gzhttp's HeaderNoCompression: a response that has
	// it is not gzipped, and it never reaches the client.
	headerNoGzip = "No-Gzip-Compression"
)

// defaultEncodings is Traefik's SetDefaults order.
var defaultEncodings = []string{"gzip", "br", "zstd"}

type compressMW struct {
	neg      negotiation
	minSize  int
	excludes mediaTypeSet // application/grpc and excludedContentTypes
	includes mediaTypeSet
}

func newCompress(c *compressConfig, _ *spec.Middleware, _ *BuildContext) (Middleware, error) {
	if errBodyStreamField != nil {
		return nil, errBodyStreamField
	}
	// Traefik's checks, in its order and with its messages.
	if len(c.ExcludedContentTypes) > 0 && len(c.IncludedContentTypes) > 0 {
		return nil, errors.New("excludedContentTypes and includedContentTypes options are mutually exclusive")
	}
	m := &compressMW{excludes: mediaTypeSet{[]byte("application/grpc")}, minSize: compressMinSize}
	for _, v := range c.ExcludedContentTypes {
		mt, _, err := mime.ParseMediaType(v)
		if err != nil {
			return nil, fmt.Errorf("parsing excluded media type: %w", err)
		}
		m.excludes = append(m.excludes, []byte(mt)) // Traefik keeps the type, not the parameters
	}
	for _, v := range c.IncludedContentTypes {
		mt, _, err := mime.ParseMediaType(v)
		if err != nil {
			return nil, fmt.Errorf("parsing included media type: %w", err)
		}
		m.includes = append(m.includes, []byte(mt))
	}
	if p := c.MinResponseBodyBytes; p != nil {
		if *p < 0 {
			// The CRD's schema (minimum 0) refuses it; Traefik would use 1024.
			return nil, fmt.Errorf("minResponseBodyBytes %d: must be 0 or more", *p)
		}
		if *p > 0 {
			m.minSize = *p
		}
	}
	encodings := c.Encodings
	if encodings == nil {
		encodings = defaultEncodings
	}
	if len(encodings) == 0 {
		return nil, errors.New("at least one encoding must be specified")
	}
	for _, e := range encodings {
		if encodingIndex(e) == encNone {
			return nil, fmt.Errorf("unsupported encoding: %s", e)
		}
	}
	def := ""
	if c.DefaultEncoding != nil {
		def = *c.DefaultEncoding
	}
	if def != "" && !slices.Contains(encodings, def) {
		return nil, fmt.Errorf("unsupported default encoding: %s", def)
	}
	m.neg = newNegotiation(encodings, def)
	return m.wrap, nil
}

func (m *compressMW) wrap(next Handler) Handler {
	return func(ctx *fasthttp.RequestCtx, r *Request) {
		enc, gzipOK := m.choose(&ctx.Request.Header, r)
		if enc == encNone {
			next(ctx, r)
			return
		}
		r.ChangesResponse = true
		next(ctx, r)
		m.respond(&ctx.Response, enc, gzipOK)
	}
}

// choose is Traefik's compress.ServeHTTP: the encoding whose handler
// serves the request, or encNone for none (the response is then left
// alone, without Vary). For gzip, gzipOK tells whether gzhttp will
// compress at all.
func (m *compressMW) choose(h *fasthttp.RequestHeader, r *Request) (enc int, gzipOK bool) {
	if h.IsHead() {
		return encNone, false
	}
	// Notably gRPC, whatever includedContentTypes says.
	if mt, st := parseMediaType(h.ContentType()); st != mediaInvalid && m.excludes.contains(mt) {
		return encNone, false
	}
	lines := h.PeekAll("Accept-Encoding")
	if len(lines) == 0 {
		// Any coding is acceptable then (RFC 9110), but Traefik only
		// compresses with a defaultEncoding (traefik#9734).
		enc = m.neg.def
	} else {
		enc = m.neg.choose(lines, &r.Buf)
	}
	if enc == encGzip && len(lines) > 0 {
		gzipOK = gzipQValue(lines[0]) > 0
	}
	return enc, gzipOK
}

// respond is the chosen handler's work on the response: Traefik's
// CompressionHandler for brotli and zstd, klauspost's gzhttp (with
// Traefik's options) for gzip. A body of unknown length is compressed as
// soon as it has one byte, as in Traefik, whose proxy flushes such bodies
// after every write and so forces the decision; minResponseBodyBytes
// applies to bodies of known length.
func (m *compressMW) respond(resp *fasthttp.Response, enc int, gzipOK bool) {
	h := &resp.Header
	h.Add("Vary", "Accept-Encoding")
	gz := enc == encGzip
	if gz {
		hadNoGzip := len(h.PeekAll(headerNoGzip)) > 0
		h.Del(headerNoGzip)
		if !gzipOK || hadNoGzip || len(h.Peek("Content-Range")) > 0 {
			return
		}
	}
	if len(h.ContentEncoding()) > 0 {
		return // already encoded
	}
	if !statusHasBody(resp.StatusCode()) {
		return
	}
	ct := h.ContentType()
	if len(ct) > 0 && !m.allowType(ct, gz) {
		return
	}
	// Only gzhttp looks at a body without Content-Type: it sets the type
	// it detects, and filters on it.
	sniff := gz && len(ct) == 0

	if !resp.IsBodyStream() {
		body := resp.Body()
		if len(body) == 0 {
			return
		}
		if sniff {
			t := http.DetectContentType(body)
			h.SetContentType(t)
			if !m.allowType(strBytes(t), true) {
				return
			}
		}
		if len(body) < m.minSize {
			return
		}
		s := acquireZstream(enc)
		if s.compressAll(body) == nil {
			s.out.b = resp.SwapBody(s.out.b)[:0]
			m.encoded(h, enc)
		}
		s.release()
		return
	}

	size := h.ContentLength() // negative: unknown
	if size == 0 || size > 0 && size < m.minSize {
		return
	}
	if size > 0 && !sniff {
		s := acquireZstream(enc)
		s.startCompress(takeBodyStream(resp), size)
		resp.SetBodyStream(s, -1)
		m.encoded(h, enc)
		return
	}
	// Read the start of the body: the type to detect, or whether a body
	// of unknown length has one at all.
	s := acquireZstream(enc)
	s.readPrefix(resp.BodyStream(), sniffLen, size < 0)
	switch {
	case len(s.pre) == 0 && s.upErr == io.EOF:
		s.release() // empty: the stream is left as it is
		return
	case len(s.pre) > 0 && sniff:
		t := http.DetectContentType(s.pre)
		h.SetContentType(t)
		if !m.allowType(strBytes(t), true) {
			break
		}
		fallthrough
	case len(s.pre) > 0:
		s.startCompress(takeBodyStream(resp), size)
		resp.SetBodyStream(s, -1)
		m.encoded(h, enc)
		return
	}
	// Not compressed, or the upstream failed: what was read goes first.
	s.startPlain(takeBodyStream(resp))
	resp.SetBodyStream(s, size)
}

// encoded marks the response as compressed.
func (m *compressMW) encoded(h *fasthttp.ResponseHeader, enc int) {
	h.SetContentEncoding(encodingNames[enc])
	if enc == encGzip {
		h.Del("Accept-Ranges") // gzhttp drops it; the others keep it
	}
}

// allowType applies includedContentTypes or excludedContentTypes to a
// response's Content-Type, with the two handlers' differences on a value
// mime.ParseMediaType refuses: brotli and zstd do not compress it; gzhttp
// compresses it unless includedContentTypes is set.
func (m *compressMW) allowType(ct []byte, gz bool) bool {
	mt, st := parseMediaType(ct)
	if st != mediaOK {
		return gz && len(m.includes) == 0
	}
	if len(m.includes) > 0 {
		return m.includes.contains(mt)
	}
	return !m.excludes.contains(mt)
}

// statusHasBody is net/http's: 1xx, 204 and 304 have no body.
func statusHasBody(status int) bool {
	return (status < 100 || status > 199) && status != http.StatusNoContent && status != http.StatusNotModified
}

// strBytes views a string as bytes, read only.
func strBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
