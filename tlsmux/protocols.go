package tlsmux

import (
	"crypto/tls"
	"errors"
	"net"
	"time"
)

// h2cPreface opens every prior-knowledge cleartext HTTP/2 connection.
const h2cPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// SplitProtocols is [Split] with a third side: plain connections that open
// with the HTTP/2 preface (h2c with prior knowledge) go to h2c, other plain
// ones to plain, TLS ones (raw) to tlsRaw. An HTTP/1 request differs from
// the preface in its first or second byte, so telling them apart costs no
// read beyond the one Split makes, and every connection goes through one
// classification only.
func SplitProtocols(ln net.Listener, peekTimeout time.Duration) (tlsRaw, h2c, plain net.Listener) {
	ls := SplitFunc(ln, peekTimeout, 3, func(c net.Conn) (net.Conn, int, error) {
		buf := make([]byte, 0, len(h2cPreface))
		for len(buf) == 0 || len(buf) < len(h2cPreface) && string(buf) == h2cPreface[:len(buf)] {
			n, err := c.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err != nil {
				return nil, 0, err
			}
			if buf[0] == recordTypeHandshake {
				return &Conn{Conn: c, prefix: buf}, 0, nil
			}
		}
		side := 2
		if string(buf) == h2cPreface {
			side = 1
		}
		return &Conn{Conn: c, prefix: buf}, side, nil
	})
	return ls[0], ls[1], ls[2]
}

// SplitALPN terminates TLS on the raw connections of ln with s's
// configuration, completing each handshake within handshakeTimeout in a
// goroutine of its own, and hands connections that negotiated "h2" to h2
// (as *tls.Conn, the type net/http's server requires) and the others to
// h1 (as *ServerConn).
func SplitALPN(ln net.Listener, s *Store, handshakeTimeout time.Duration) (h1, h2 net.Listener) {
	ls := SplitFunc(ln, handshakeTimeout, 2, func(c net.Conn) (net.Conn, int, error) {
		tc := tls.Server(c, s.ServerConfig())
		if err := tc.Handshake(); err != nil {
			return nil, 0, err
		}
		st := tc.ConnectionState()
		if st.NegotiatedProtocol == ACMEProtocol {
			// A TLS-ALPN-01 validation: the handshake was all of it.
			tc.Close()
			return nil, 0, errACMEDone
		}
		if st.NegotiatedProtocol == "h2" {
			return tc, 1, nil
		}
		return &ServerConn{Conn: tc, serverName: st.ServerName}, 0, nil
	})
	return ls[0], ls[1]
}

// errACMEDone ends a connection that completed an ACME TLS-ALPN-01
// handshake.
var errACMEDone = errors.New("tlsmux: ACME TLS-ALPN-01 handshake done")

// ServerConn is a server-side TLS connection whose handshake is done. It
// keeps the server name the client sent, so that a request handler reads
// it without copying the connection state.
type ServerConn struct {
	*tls.Conn
	serverName string
}

// ServerName is the SNI of the handshake.
func (c *ServerConn) ServerName() string { return c.serverName }
