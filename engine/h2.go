package engine

import (
	"bytes"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// HTTP/2 is the second front door: fasthttp speaks only HTTP/1.x, so TLS
// connections that negotiate "h2" go to Go's net/http server instead. Its
// handler turns each stream into a fasthttp.RequestCtx on the same
// connection and runs the very handler fasthttp runs: same routing
// tables, routing path, 421 check, balancers and forwarding. Only the
// framing differs.

// h2ConfigFor is the HTTP/2 configuration Traefik gives Go's server:
// the entry point's http2 keys (maxConcurrentStreams and the two HPACK
// table sizes, 0 meaning Go's default), Go's defaults for the rest.
func h2ConfigFor(ep *EntryPoint) *http.HTTP2Config {
	orDefault := func(v, def int) int {
		if v <= 0 {
			return def
		}
		return v
	}
	// A connection that takes no byte for writeTimeout is closed. The
	// stream's WriteTimeout ends the stream, not a frame write the
	// client's socket refuses: a client that stops reading (and keeps
	// sending frames, so the ping timeout never fires) would hold the
	// connection for good. Not in Traefik, which leaves net/http's
	// WriteByteTimeout at 0.
	return &http.HTTP2Config{
		WriteByteTimeout:              max(ep.WriteTimeout, 0),
		MaxConcurrentStreams:          orDefault(ep.HTTP2.MaxConcurrentStreams, 250),
		MaxDecoderHeaderTableSize:     orDefault(ep.HTTP2.MaxDecoderHeaderTableSize, 4096),
		MaxEncoderHeaderTableSize:     orDefault(ep.HTTP2.MaxEncoderHeaderTableSize, 4096),
		MaxReadFrameSize:              1 << 20,
		MaxReceiveBufferPerConnection: 1 << 20,
		MaxReceiveBufferPerStream:     1 << 20,
		SendPingTimeout:               15 * time.Second,
		PingTimeout:                   15 * time.Second,
	}
}

type connKey struct{}

// newH2Server serves HTTP/2 streams with handler.
func newH2Server(ep *EntryPoint, handler fasthttp.RequestHandler, errorLog *log.Logger) *http.Server {
	var p http.Protocols
	p.SetHTTP2(true)
	p.SetUnencryptedHTTP2(true) // h2c with prior knowledge, on plain connections
	return &http.Server{
		Protocols: &p,
		HTTP2:     h2ConfigFor(ep),
		// On HTTP/2, ReadTimeout and WriteTimeout bound each stream (its
		// request body, its response) as in Traefik, which sets both on
		// its net/http server; fasthttp applies them per request on
		// HTTP/1.1.
		ReadHeaderTimeout: ep.ReadTimeout,
		ReadTimeout:       ep.ReadTimeout,
		WriteTimeout:      ep.WriteTimeout,
		IdleTimeout:       ep.IdleTimeout,
		MaxHeaderBytes:    h2MaxHeaderBytes,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
		Handler:  h2Handler(handler),
		ErrorLog: errorLog,
	}
}

// h2Handler adapts one HTTP/2 stream to the fasthttp handler.
func h2Handler(handler fasthttp.RequestHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _ := r.Context().Value(connKey{}).(net.Conn)
		ctx := ctxPool.Get().(*fasthttp.RequestCtx)
		defer func() {
			ctx.ResetUserValues()
			ctx.Request.Reset()
			ctx.Response.Reset()
			ctxPool.Put(ctx)
		}()
		// No Content-Type sniffing: an answer without one stays without
		// one, as on HTTP/1.1 (fasthttp's NoDefaultContentType). Headers
		// copied in later replace this entry.
		w.Header()["Content-Type"] = nil
		ctx.Init2(conn, nil, false)
		if !h2Request(r, &ctx.Request) {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		ctx.Response.Header.SetNoDefaultContentType(true) // as the HTTP/1.1 server's NoDefaultContentType
		stream := &h2Stream{w: w, r: r}
		ctx.SetUserValue(h2StreamKey{}, stream)
		handler(ctx)
		if !stream.done {
			writeH2Response(w, &ctx.Response, r.Method == http.MethodHead)
		}
	})
}

// h2Request fills req from an HTTP/2 stream's request as the HTTP/1.1
// server would have parsed it, and reports false for a target HTTP/2 does
// not allow (a 400). Explain builds HTTP/2 requests through it too.
func h2Request(r *http.Request, req *fasthttp.Request) bool {
	if !h2Target(r) {
		return false
	}
	req.Header.SetMethod(r.Method)
	req.Header.SetRequestURI(r.RequestURI)
	// The Host is :authority (net/http falls back on the Host field
	// when it is absent). A Host field that differs must not win:
	// RFC 9113 §8.3.1 has an intermediary build Host from :authority.
	req.Header.SetHost(r.Host)
	for k, vs := range r.Header {
		if k == "Host" || strings.HasPrefix(k, ":") { // ':protocol' of an extended CONNECT
			continue
		}
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if r.ContentLength != 0 && r.Body != nil {
		n := int(r.ContentLength)
		if r.ContentLength < 0 {
			n = -1
		}
		req.SetBodyStream(r.Body, n)
	}
	return true
}

// h2Target reports whether the request target has a form HTTP/2 allows
// (RFC 9113 §8.3.1): :path in origin form, or "*" for OPTIONS; CONNECT
// has none, which net/http has checked. HTTP/1.1's absolute form is not
// one of them: the proxy would take its authority for the Host.
func h2Target(r *http.Request) bool {
	u := r.RequestURI
	switch {
	case r.Method == http.MethodConnect:
		return true
	case u == "*":
		return r.Method == http.MethodOptions
	}
	return len(u) > 0 && u[0] == '/'
}

var ctxPool = sync.Pool{New: func() any { return new(fasthttp.RequestCtx) }}

// copyBufs are the buffers streamed bodies are copied through.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// h2Forbidden are connection-specific headers HTTP/2 does not carry.
var h2Forbidden = map[string]bool{"Connection": true, "Keep-Alive": true, "Proxy-Connection": true,
	"Transfer-Encoding": true, "Upgrade": true}

// writeH2Response sends the fasthttp response on the stream, framed as
// fasthttp frames it on HTTP/1.1, minus what HTTP/2 does not carry.
func writeH2Response(w http.ResponseWriter, resp *fasthttp.Response, head bool) {
	h := w.Header()
	var nominated []byte // the Connection field's list
	for k, v := range resp.Header.All() {
		key := http.CanonicalHeaderKey(string(k))
		if key == "Connection" {
			nominated = append(append(nominated, v...), ',')
		}
		if h2Forbidden[key] {
			continue
		}
		h.Add(key, string(v))
	}
	// Fields the Connection field names are connection-specific too: an
	// intermediary MUST remove them (RFC 9113 §8.2.2, RFC 9110 §7.6.1).
	for tok := range splitComma(nominated) {
		if len(tok) > 0 {
			h.Del(string(tok))
		}
	}
	// Content-Length as fasthttp writes it on HTTP/1.1: the body's length,
	// except that a bodiless answer (HEAD, 1xx, 204, 304) keeps the
	// upstream's value, which describes the representation, and 1xx and
	// 204 have none at all (RFC 9110 §8.6).
	status := resp.StatusCode()
	noBody := head || status < 200 || status == http.StatusNoContent || status == http.StatusNotModified
	if !resp.IsBodyStream() && (!noBody || len(resp.Body()) > 0) {
		h.Set("Content-Length", strconv.Itoa(len(resp.Body())))
	}
	if status < 200 || status == http.StatusNoContent {
		h.Del("Content-Length")
	}
	w.WriteHeader(status)
	if !resp.IsBodyStream() {
		if len(resp.Body()) > 0 { // none: a headers-only (trailers-only) answer
			w.Write(resp.Body())
		}
		h2Trailers(h, resp)
		return
	}
	defer resp.CloseBodyStream()
	// Bodies of unknown length (event streams, long polls) are flushed
	// after every read, as on HTTP/1.1. Bodies of known length are not:
	// the HTTP/2 server then writes the frames of many streams together
	// (an explicit flush per response cost a fifth of the CPU under
	// h2load).
	var f http.Flusher
	if resp.Header.ContentLength() < 0 {
		f, _ = w.(http.Flusher)
	}
	streamBody(w, resp.BodyStream(), f)
	h2Trailers(h, resp)
}

// h2Trailers sends the trailer section fasthttp read after a chunked body
// (HTTP/1.1 relays it after the last chunk). net/http drops names that
// may not be trailers.
func h2Trailers(h http.Header, resp *fasthttp.Response) {
	t := resp.Header.TrailerHeader() // "Name: value\r\n" lines, then "\r\n"
	for {
		line, rest, ok := bytes.Cut(t, []byte("\r\n"))
		if !ok || len(line) == 0 {
			return
		}
		t = rest
		if k, v, ok := bytes.Cut(line, []byte(": ")); ok {
			h.Add(http.TrailerPrefix+http.CanonicalHeaderKey(string(k)), string(v))
		}
	}
}

// streamBody copies a response body to an HTTP/2 stream, flushing after
// every read when f is set. When the upstream fails mid-body the stream
// is reset: ending it normally would pass a truncated body off as
// complete (HTTP/1.1 drops the connection without the last chunk).
func streamBody(w http.ResponseWriter, body io.Reader, f http.Flusher) (written int64) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return written
			}
			written += int64(n)
			if f != nil {
				f.Flush()
			}
		}
		if err == io.EOF {
			return written
		}
		if err != nil {
			panic(http.ErrAbortHandler)
		}
	}
}
