//go:build linux

package http1

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// forwarded is one request the backend received.
type forwarded struct {
	id int
	*message
	complete bool   // framed whole (false: the connection ended inside it)
	bad      string // why it could not be framed strictly
}

func (f *forwarded) String() string {
	state := "complete"
	switch {
	case f.bad != "":
		state = "malformed (" + f.bad + ")"
	case !f.complete:
		state = "incomplete"
	}
	return fmt.Sprintf("#%d %s %q", f.id, state, f.raw)
}

// backend records every request it receives, framed strictly, and answers
// each complete one with 200 and X-Rec: its number. A malformed or
// incomplete request ends the connection.
type backend struct {
	ln    *net.TCPListener
	mu    sync.Mutex
	recs  []*forwarded
	conns map[*bconn]bool // open connections; the value: waiting for a request with nothing buffered
}

type bconn struct{ c *net.TCPConn }

func newBackend() *backend {
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		panic(err)
	}
	b := &backend{ln: ln, conns: map[*bconn]bool{}}
	go func() {
		for {
			c, err := ln.AcceptTCP()
			if err != nil {
				return
			}
			bc := &bconn{c}
			b.mu.Lock()
			b.conns[bc] = false
			b.mu.Unlock()
			go b.serve(bc)
		}
	}()
	return b
}

func (b *backend) addr() string { return b.ln.Addr().String() }

func (b *backend) serve(bc *bconn) {
	defer func() {
		b.mu.Lock()
		delete(b.conns, bc)
		b.mu.Unlock()
		bc.c.Close()
	}()
	r := &reader{br: bufio.NewReaderSize(bc.c, 64<<10)}
	for {
		if r.br.Buffered() == 0 {
			b.mu.Lock()
			b.conns[bc] = true
			b.mu.Unlock()
		}
		_, err := r.br.Peek(1)
		b.mu.Lock()
		b.conns[bc] = false
		b.mu.Unlock()
		if err != nil {
			return
		}
		m, err := r.readRequest()
		f := &forwarded{message: m, complete: err == nil}
		if mf, ok := err.(*malformed); ok {
			f.bad = mf.why
		}
		if m == nil {
			f.message = &message{raw: []byte("(nothing)")}
		}
		b.mu.Lock()
		f.id = len(b.recs)
		b.recs = append(b.recs, f)
		b.mu.Unlock()
		if err != nil {
			return
		}
		if _, err := fmt.Fprintf(bc.c, "HTTP/1.1 200 OK\r\nX-Rec: %d\r\nContent-Length: 0\r\n\r\n", f.id); err != nil {
			return
		}
	}
}

// count returns how many requests were recorded.
func (b *backend) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.recs)
}

func (b *backend) since(n int) []*forwarded {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*forwarded(nil), b.recs[n:]...)
}

// quiet tells whether every byte sent to the backend so far has been read
// and recorded: no connection waits in the accept queue, and every open
// connection waits for a request with nothing buffered, in user space or
// in the kernel.
func (b *backend) quiet() (bool, string) {
	if n := pending(b.ln); n != 0 {
		return false, fmt.Sprintf("%d connections to accept", n)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for bc, idle := range b.conns {
		if !idle {
			return false, "a connection is reading a request"
		}
		if n := unread(bc.c); n != 0 {
			return false, fmt.Sprintf("a connection has %d unread bytes", n)
		}
	}
	return true, ""
}

// settle waits until the backend is quiet in three polls in a row. The
// proxy writes every byte of a request before it answers the client, and
// on loopback a written byte is in the receiving socket when write
// returns: once the client has the proxy's last byte, settle sees every
// request forwarded for it.
func (b *backend) settle(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for quiet := 0; quiet < 3; {
		ok, why := b.quiet()
		if ok {
			quiet++
		} else {
			quiet = 0
		}
		if !ok && time.Now().After(deadline) {
			tb.Fatalf("the backend is still busy 10 s after the client's exchange ended (%s): the proxy left a forwarded request unfinished", why)
		}
		time.Sleep(20 * time.Microsecond)
	}
}

// pending returns the length of a listening socket's accept queue (Linux
// reports it as tcpi_unacked of a LISTEN socket).
func pending(ln *net.TCPListener) int {
	n := -1
	if rc, err := ln.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) {
			if info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
				n = int(info.Unacked)
			}
		})
	}
	return n
}

// unread returns the bytes waiting in a socket's receive queue.
func unread(c *net.TCPConn) int {
	n := 0
	if rc, err := c.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) {
			n, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ)
		})
	}
	return n
}

func describe(fs []*forwarded) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString("\n\t" + f.String())
	}
	return b.String()
}
