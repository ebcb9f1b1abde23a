package engine

import (
	"bytes"
	"context"
	"net/http"

	"github.com/valyala/fasthttp"
)

// h2Stream is the HTTP/2 front door's stream of a request, so that an
// upstream answer read with net/http (h2c, https) is relayed to the
// client directly, trailers included, without a detour through
// fasthttp's response.
type h2Stream struct {
	w    http.ResponseWriter // the net/http front door's stream
	r    *http.Request
	n    *h2nStream // or the native front door's
	done bool       // the response was relayed
	// status, bytes and grpcStatus are what was relayed, for metrics.
	status     int
	bytes      int64
	grpcStatus []byte
}

type h2StreamKey struct{}

func h2StreamOf(ctx *fasthttp.RequestCtx) *h2Stream {
	s, _ := ctx.UserValue(h2StreamKey{}).(*h2Stream)
	return s
}

// context is the stream's context, for the upstream request: cancelled
// when the client resets the stream or the handler returns.
func (s *h2Stream) context() context.Context {
	if s.n != nil {
		return s.n.context()
	}
	return s.r.Context()
}

// relay writes resp to the stream: headers, the body flushed after every
// read (a gRPC message must not wait in a buffer), then the trailers.
func (s *h2Stream) relay(resp *http.Response) {
	if s.n != nil {
		s.n.relay(resp)
		return
	}
	defer resp.Body.Close()
	s.done = true
	hdr := s.w.Header()
	for k, vs := range resp.Header {
		if !h2Forbidden[k] {
			hdr[k] = vs
		}
	}

	s.w.WriteHeader(resp.StatusCode)
	s.status = resp.StatusCode
	// Every read is flushed at once: a gRPC message must not wait in a
	// buffer.
	f, _ := s.w.(http.Flusher)
	s.bytes = streamBody(s.w, resp.Body, f)
	// Trailers are known only now; the prefix sends undeclared ones.
	for k, vs := range resp.Trailer {
		hdr[http.TrailerPrefix+k] = vs
	}
	g := resp.Header.Get("Grpc-Status")
	if g == "" {
		g = resp.Trailer.Get("Grpc-Status")
	}
	s.grpcStatus = append(s.grpcStatus[:0], g...)
}

// isGRPC tells a gRPC request by its content type.
func isGRPC(ctx *fasthttp.RequestCtx) bool {
	return bytes.HasPrefix(ctx.Request.Header.ContentType(), []byte("application/grpc"))
}

// grpcError answers a gRPC request the proxy cannot serve the way gRPC
// clients understand: HTTP 200 with grpc-status and grpc-message (sent as
// a trailers-only response on HTTP/2).
func grpcError(ctx *fasthttp.RequestCtx, status int) {
	code := "14" // UNAVAILABLE: no server, refused, reset
	switch status {
	case fasthttp.StatusGatewayTimeout:
		code = "4" // DEADLINE_EXCEEDED
	case fasthttp.StatusInternalServerError:
		code = "13" // INTERNAL
	}
	ctx.Response.Reset()
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.Response.Header.SetContentType("application/grpc")
	ctx.Response.Header.Set("Grpc-Status", code)
	ctx.Response.Header.Set("Grpc-Message", fasthttp.StatusMessage(status))
}
