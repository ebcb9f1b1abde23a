package engine

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/engine/middleware"
)

// upgrade proxies a protocol upgrade (WebSocket): the request, with its
// forwarded headers, is written to a new upstream connection. When the
// upstream answers 101 with Upgrade: websocket, the client connection is
// taken over and bytes are copied both ways until either side closes; any
// other answer is relayed as a response (hop-by-hop headers removed) and
// the upstream connection closed once its body is sent.
//
// It returns the error when the upstream could not be reached (nothing was
// sent, so the caller answers it and retry may try another server).
func upgrade(ctx *fasthttp.RequestCtx, st *reqState, u *upstream, passHost bool) error {
	req := &ctx.Request
	setForwardURI(req, st)
	if !passHost {
		req.Header.SetHost(u.hostPort)
	}
	appendXFF(req, st)
	d := net.Dialer{Timeout: u.tr.dial, KeepAlive: 30 * time.Second}
	conn, err := d.Dial("tcp", u.hostPort)
	if err != nil {
		return err
	}
	if u.hc.IsTLS {
		cfg := u.tls.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			// The URL's host, as Go's transport; a ServersTransport's
			// serverName overrides it.
			cfg.ServerName, _, _ = net.SplitHostPort(u.hostPort)
		}
		tc := tls.Client(conn, cfg)
		if err := tc.Handshake(); err != nil {
			conn.Close()
			return err
		}
		conn = tc
	}
	traceForward(st, req, u) // tracing (otel.go)
	w := bufio.NewWriter(conn)
	if err := req.Write(w); err != nil || w.Flush() != nil {
		conn.Close()
		writeError(ctx, fasthttp.StatusBadGateway)
		return nil
	}
	// The upstream's answer decides, as in Traefik's proxies: 101 switches
	// the connection to WebSocket; any other answer is an ordinary
	// response, and the client's connection stays HTTP. Tunnelling
	// without a 101 would hand the client's next bytes to the upstream as
	// requests the proxy never read, routed or rewrote.
	br := bufio.NewReader(conn)
	resp := &ctx.Response
	resp.StreamBody = true
	resp.SkipBody = req.Header.IsHead()
	resp.Header.SetNoDefaultContentType(true)
	if u.tr.responseHeader > 0 {
		conn.SetReadDeadline(time.Now().Add(u.tr.responseHeader))
	}
	err = resp.Read(br)
	conn.SetReadDeadline(time.Time{})
	if err != nil {
		conn.Close()
		resp.Reset()
		writeError(ctx, errorStatus(err))
		return nil
	}
	if h := &resp.Header; h.StatusCode() != fasthttp.StatusSwitchingProtocols {
		stripHopResponse(h)
		body, err := middleware.TakeResponseBodyStream(resp)
		if err != nil || body == nil {
			conn.Close()
			return nil
		}
		resp.SetBodyStream(&upstreamBody{Reader: body, conn: conn}, h.ContentLength())
		return nil
	} else if !h.ConnectionUpgrade() || !equalFoldBytes(h.Peek("Upgrade"), "websocket") {
		// Traefik: "backend tried to switch protocol %q when %q was
		// requested", a 500.
		conn.Close()
		resp.Reset()
		writeError(ctx, fasthttp.StatusInternalServerError)
		return nil
	}
	head := resp.Header.AppendBytes(nil)
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(client net.Conn) {
		defer conn.Close()
		done := make(chan struct{})
		go func() {
			io.Copy(conn, client)
			if cw, ok := conn.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
			close(done)
		}()
		if _, err := client.Write(head); err == nil {
			io.Copy(client, br) // what the upstream sent after its 101, then the rest
		}
		client.Close()
		<-done
	})
	return nil
}

// stripHopResponse removes a response's hop-by-hop headers: those named
// in Connection (RFC 9110 §7.6.1), Connection itself and hopHeaders.
func stripHopResponse(rh *fasthttp.ResponseHeader) {
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

// upstreamBody is the body of a non-101 answer to an upgrade request:
// its connection is closed with it (it is never reused).
type upstreamBody struct {
	io.Reader
	conn net.Conn
}

func (b *upstreamBody) Close() error {
	middleware.CloseBodyStream(b.Reader, nil)
	return b.conn.Close()
}
