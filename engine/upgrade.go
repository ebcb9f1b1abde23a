package engine

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

// upgrade proxies a protocol upgrade (WebSocket) by taking over the client
// connection: the request, with its forwarded headers, is written to a new
// upstream connection, and from then on bytes are copied both ways until
// either side closes. The upstream's own answer (101, or an error status)
// reaches the client unchanged.
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
		io.Copy(client, conn)
		client.Close()
		<-done
	})
	return nil
}
