package engine

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/valyala/fasthttp"
)

// forwardStd sends a prepared request (forwarded headers, URI, Host set)
// through net/http's transport: the path of h2c and https upstreams.
// Bodies stream both ways. On the HTTP/2 front door the answer goes
// straight to the client's stream, trailers included and every read
// flushed at once (gRPC); on HTTP/1.1 it becomes the fasthttp response
// (trailers cannot follow there).
func forwardStd(ctx *fasthttp.RequestCtx, st *reqState, u *upstream) error {
	req := &ctx.Request
	h := &req.Header
	var body io.Reader
	length := int64(h.ContentLength())
	switch {
	case req.IsBodyStream():
		body = req.BodyStream()
	case len(req.Body()) > 0:
		body = bytes.NewReader(req.Body())
		if length != -1 { // -1: chunked, or made so by a middleware (grpcWeb)
			length = int64(len(req.Body()))
		}
	default:
		length = 0
	}
	stream := h2StreamOf(ctx)
	// Not ctx itself: net/http's transport reads its context after the
	// request (canceling what it derived), when fasthttp may already be
	// reusing the RequestCtx for the next one.
	rctx := u.ctx
	if stream != nil {
		rctx = stream.context()
	}
	hreq, err := http.NewRequestWithContext(rctx, string(h.Method()), u.base+string(st.uri), body)
	if err != nil {
		return err
	}
	if length < 0 {
		length = -1 // unknown: chunked on HTTP/1.1, DATA frames on HTTP/2
	}
	hreq.ContentLength = length
	if body == nil {
		hreq.Body = http.NoBody
	}
	hreq.Host = string(h.Host())
	for k, v := range h.All() {
		key := string(k)
		switch strings.ToLower(key) {
		case "host", "content-length", "transfer-encoding", "connection":
			continue
		}
		hreq.Header.Add(key, string(v))
	}
	resp, err := u.rt.RoundTrip(hreq)
	if err != nil {
		return err
	}
	for _, v := range resp.Header.Values("Connection") {
		for _, name := range strings.Split(v, ",") {
			resp.Header.Del(strings.TrimSpace(name))
		}
	}
	for _, k := range hopHeaders {
		resp.Header.Del(k)
	}
	if stream != nil && !st.mw.ChangesResponse {
		stream.relay(resp)
		return nil
	}
	r := &ctx.Response
	r.SetStatusCode(resp.StatusCode)
	for k, vs := range resp.Header {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	if resp.ContentLength >= 0 {
		r.SetBodyStream(resp.Body, int(resp.ContentLength))
		return nil
	}
	// A body of unknown length may end in trailers (gRPC's status). Those
	// the upstream announced are announced to the client; all arrive with
	// the end of the body and join the response's trailer section, which
	// fasthttp writes after the last chunk and the HTTP/2 front door sends
	// as a trailer block.
	for _, k := range sortedKeys(resp.Trailer) {
		r.Header.AddTrailer(k) // a name that may not be a trailer is refused, and dropped
	}
	r.SetBodyStream(&trailerBody{body: resp.Body, resp: resp, hdr: &r.Header}, -1)
	return nil
}

// trailerBody relays an upstream body of unknown length; at its end it
// moves the upstream's trailers into the client response's trailer
// section.
type trailerBody struct {
	body io.ReadCloser
	resp *http.Response
	hdr  *fasthttp.ResponseHeader
}

func (b *trailerBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	if err == io.EOF && b.resp != nil {
		for _, k := range sortedKeys(b.resp.Trailer) {
			if b.hdr.AddTrailer(k) != nil {
				continue // Content-Length, Host and the like: never trailers
			}
			for _, v := range b.resp.Trailer[k] {
				b.hdr.Add(k, v)
			}
		}
		b.resp = nil
	}
	return n, err
}

func (b *trailerBody) Close() error { return b.body.Close() }

// sortedKeys returns h's names in order, for a stable wire order.
func sortedKeys(h http.Header) []string {
	if len(h) == 0 {
		return nil
	}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
