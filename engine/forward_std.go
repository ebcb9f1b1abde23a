package engine

import (
	"bytes"
	"context"
	"io"
	"net/http"
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
		length = int64(len(req.Body()))
	default:
		length = 0
	}
	stream := h2StreamOf(ctx)
	var rctx context.Context = ctx
	if stream != nil {
		rctx = stream.r.Context()
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
	r.SetBodyStream(resp.Body, int(resp.ContentLength))
	return nil
}
