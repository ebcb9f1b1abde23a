package tlsmux

import (
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"
)

// SplitProtocols sends TLS, h2c-preface and other connections to three
// listeners, each replaying what was read; SplitALPN completes handshakes
// and separates h2 from HTTP/1.1, keeping the server name.
func TestSplitProtocolsAndALPN(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rawTLS, h2c, plain := SplitProtocols(ln, 2*time.Second)
	defer plain.Close()
	ca := newCA(t, "protocols CA")
	s := newStore(t, &Config{Certificates: []Certificate{ca.server(t, "a.test")},
		Options: map[string]*Options{DefaultOptionsName: {MinVersion: tls.VersionTLS12, ALPNProtocols: []string{"h2", "http/1.1"}}}})
	h1, h2 := SplitALPN(rawTLS, s, 2*time.Second)

	send := func(data string) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		go func() { c.Write([]byte(data)); time.Sleep(time.Second); c.Close() }()
	}
	read := func(l net.Listener, n int) string {
		c, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		b := make([]byte, n)
		if _, err := io.ReadFull(c, b); err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, req := range []string{"GET / HTTP/1.1\r\n\r\n", "POST / HTTP/1.1\r\n\r\n", "PRI / HTTP/1.1\r\n\r\n"} {
		send(req)
		if got := read(plain, len(req)); got != req {
			t.Errorf("plain side got %q, want %q", got, req)
		}
	}
	send(h2cPreface + "frames")
	if got := read(h2c, len(h2cPreface)+6); got != h2cPreface+"frames" {
		t.Errorf("h2c side got %q", got)
	}

	for _, proto := range []string{"h2", "http/1.1"} {
		done := make(chan error, 1)
		go func() {
			c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{ServerName: "a.test", InsecureSkipVerify: true, NextProtos: []string{proto}})
			if err == nil {
				time.Sleep(200 * time.Millisecond)
				c.Close()
			}
			done <- err
		}()
		l := h1
		if proto == "h2" {
			l = h2
		}
		c, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		switch c := c.(type) {
		case *ServerConn:
			if proto != "http/1.1" || c.ServerName() != "a.test" {
				t.Errorf("%s: ServerConn with name %q", proto, c.ServerName())
			}
		case *tls.Conn:
			if proto != "h2" || c.ConnectionState().NegotiatedProtocol != "h2" {
				t.Errorf("%s: *tls.Conn negotiated %q", proto, c.ConnectionState().NegotiatedProtocol)
			}
		default:
			t.Errorf("%s: connection of type %T", proto, c)
		}
		c.Close()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	h1.Close()
	if _, err := h2c.Accept(); err == nil {
		t.Error("Accept after Close succeeded")
	}
}
