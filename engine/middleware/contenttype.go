package middleware

import (
	"io"
	"net/http"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// contentTypeConfig is Traefik's contentType. Traefik's entry points stop
// Go's Content-Type sniffing (an answer without a Content-Type goes out
// without one); this middleware turns it back on for its routers: a
// response that reaches it without a Content-Type gets the one
// net/http.DetectContentType finds in the first bytes of its body, as Go's
// server sets it. edgeroute never sniffs either (no default Content-Type
// on HTTP/1.1 nor HTTP/2), so autoDetect false leaves the response alone.
type contentTypeConfig struct {
	// AutoDetect is deprecated in Traefik v3: false disables the
	// middleware, true (or absent) enables sniffing; either is warned
	// about.
	AutoDetect *bool `json:"autoDetect,omitempty"`
}

func newContentType(c *contentTypeConfig, _ *spec.Middleware, bc *BuildContext) (Middleware, error) {
	if c.AutoDetect != nil {
		bc.Warn("AutoDetect option is deprecated, Content-Type middleware is only meant to be used to enable the content-type detection, please remove any usage of this option.") // Traefik's words
		if !*c.AutoDetect {
			return func(next Handler) Handler { return next }, nil
		}
	}
	return func(next Handler) Handler {
		return func(ctx *fasthttp.RequestCtx, r *Request) {
			r.ChangesResponse = true
			next(ctx, r)
			sniff(ctx)
		}
	}, nil
}

// sniff sets the Content-Type of a response that has none, as Go's server
// does when it writes the first body bytes: not for a status without a
// body, a HEAD, an empty body or one with a Content-Encoding. A buffered
// body is sniffed in place; of a streamed one at most sniffLen bytes are
// read ahead, and only what the first read brings when its length is
// unknown (Go's proxy flushes each read of such a body, and sniffs the
// first), so a slow stream is not held back.
func sniff(ctx *fasthttp.RequestCtx) {
	resp := &ctx.Response
	h := &resp.Header
	if len(h.ContentType()) > 0 || len(h.ContentEncoding()) > 0 || !bodyAllowed(resp.StatusCode()) ||
		ctx.Request.Header.IsHead() {
		return
	}
	if !resp.IsBodyStream() {
		body := resp.Body()
		if len(body) == 0 {
			return
		}
		h.SetContentType(http.DetectContentType(body[:min(len(body), sniffLen)]))
		return
	}
	size := h.ContentLength()
	if size == 0 {
		return
	}
	want := sniffLen
	if size > 0 {
		want = min(size, sniffLen)
	}
	b := sniffPool.Get().(*sniffedBody)
	b.src = takeBodyStream(resp)
	b.off, b.n, b.err = 0, 0, nil
	for b.n == 0 || size > 0 && b.n < want {
		n, err := b.src.Read(b.buf[b.n:want])
		b.n += n
		if err != nil {
			b.err = err
			break
		}
	}
	if b.n > 0 {
		h.SetContentType(http.DetectContentType(b.buf[:b.n]))
	}
	resp.SetBodyStream(b, size)
}

// bodyAllowed is net/http's bodyAllowedForStatus.
func bodyAllowed(status int) bool {
	switch {
	case status >= 100 && status <= 199:
		return false
	case status == 204, status == 304:
		return false
	}
	return true
}

// sniffedBody replays the bytes read ahead for sniffing, then the rest of
// the stream.
type sniffedBody struct {
	src    io.Reader
	buf    [sniffLen]byte
	off, n int
	err    error // what the read-ahead ended with
}

var sniffPool = sync.Pool{New: func() any { return new(sniffedBody) }}

func (b *sniffedBody) Read(p []byte) (int, error) {
	if b.off < b.n {
		n := copy(p, b.buf[b.off:b.n])
		b.off += n
		return n, nil
	}
	if b.err != nil {
		return 0, b.err
	}
	return b.src.Read(p)
}

// CloseWithError closes the upstream's stream; fasthttp calls it once,
// when the response is written or abandoned.
func (b *sniffedBody) CloseWithError(err error) error {
	cerr := closeBodyStream(b.src, err)
	b.src, b.err = nil, nil
	sniffPool.Put(b)
	return cerr
}
