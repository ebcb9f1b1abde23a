package tlsmux

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// recordTypeHandshake is the first byte of every TLS connection: the content
// type of the record that carries the ClientHello.
const recordTypeHandshake = 0x16

// DefaultPeekTimeout is the peek timeout [Split] uses when given zero or a
// negative duration.
const DefaultPeekTimeout = 10 * time.Second

// Split serves TLS and plain connections on one listener. It accepts from ln
// in its own goroutine and reads the first byte of each connection in a
// goroutine per connection, so a slow client never blocks Accept. A
// connection whose first byte is 0x16 (a TLS handshake record) is handed to
// tlsLn, any other to plainLn. A client that sends nothing within
// peekTimeout, or closes first, is closed and never handed out.
//
// The connections handed out replay the peeked byte. They are raw on both
// sides: wrap tlsLn with [NewTLSListener] (or tls.NewListener) to terminate
// TLS. Both listeners must be served: a connection waits until its side
// accepts it.
//
// Closing tlsLn, plainLn or ln stops everything: ln is closed, connections
// still being peeked at or waiting to be accepted are closed, and Accept on
// both listeners returns an error matching net.ErrClosed (or, if ln failed
// with another permanent error, that error). Close waits for the goroutines
// Split started to exit.
func Split(ln net.Listener, peekTimeout time.Duration) (tlsLn, plainLn net.Listener) {
	if peekTimeout <= 0 {
		peekTimeout = DefaultPeekTimeout
	}
	s := &splitter{
		ln:      ln,
		timeout: peekTimeout,
		tls:     make(chan net.Conn),
		plain:   make(chan net.Conn),
		done:    make(chan struct{}),
		peeking: make(map[net.Conn]struct{}),
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return &splitListener{s: s, ch: s.tls}, &splitListener{s: s, ch: s.plain}
}

type splitter struct {
	ln      net.Listener
	timeout time.Duration
	tls     chan net.Conn
	plain   chan net.Conn
	done    chan struct{} // closed by shutdown
	wg      sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	err     error                 // returned by Accept once closed
	peeking map[net.Conn]struct{} // connections whose first byte is awaited
}

func (s *splitter) acceptLoop() {
	defer s.wg.Done()
	var backoff time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			// Retry temporary errors (EMFILE, ECONNABORTED...) with the
			// backoff net/http uses; anything else ends the listener.
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() && !s.isClosed() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				select {
				case <-time.After(backoff):
					continue
				case <-s.done:
				}
			}
			if errors.Is(err, net.ErrClosed) {
				err = net.ErrClosed
			}
			s.shutdown(err)
			return
		}
		backoff = 0
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			continue // Accept now fails: ln is closed
		}
		// Set under mu so that shutdown's deadline always comes later.
		if err := c.SetReadDeadline(time.Now().Add(s.timeout)); err != nil {
			s.mu.Unlock()
			c.Close()
			continue
		}
		s.peeking[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.peek(c)
	}
}

// peek reads the first byte of c (its read deadline is set) and hands c to
// the side it selects.
func (s *splitter) peek(c net.Conn) {
	defer s.wg.Done()
	var b [1]byte
	_, err := io.ReadFull(c, b[:])
	if err == nil {
		err = c.SetReadDeadline(time.Time{})
	}
	s.mu.Lock()
	delete(s.peeking, c)
	closed := s.closed
	s.mu.Unlock()
	if err != nil || closed {
		c.Close()
		return
	}
	ch := s.plain
	if b[0] == recordTypeHandshake {
		ch = s.tls
	}
	select {
	case ch <- &Conn{Conn: c, first: b[0], pending: true}:
	case <-s.done:
		c.Close()
	}
}

func (s *splitter) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// shutdown closes ln and interrupts the peeks in progress; it does not wait.
// The first call decides the error Accept returns.
func (s *splitter) shutdown(err error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.err = err
	close(s.done)
	now := time.Now()
	for c := range s.peeking {
		c.SetReadDeadline(now) // peek fails at once and closes c
	}
	s.mu.Unlock()
	s.ln.Close()
}

func (s *splitter) close() error {
	s.shutdown(net.ErrClosed)
	s.wg.Wait()
	return nil
}

type splitListener struct {
	s  *splitter
	ch chan net.Conn
}

// Accept returns the next connection of this side. The connection is a
// [*Conn].
func (l *splitListener) Accept() (net.Conn, error) {
	select {
	case <-l.s.done: // checked first so that Accept after Close always fails
		return nil, l.s.err
	default:
	}
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.s.done:
		return nil, l.s.err
	}
}

func (l *splitListener) Close() error   { return l.s.close() }
func (l *splitListener) Addr() net.Addr { return l.s.ln.Addr() }

// Conn is a connection handed out by [Split]: it replays the byte Split
// peeked at before reading from the underlying connection.
//
// Only the first Read (or WriteTo) differs from the underlying connection's;
// like any net.Conn, a Conn must not be read from by two goroutines at once.
type Conn struct {
	net.Conn
	first   byte
	pending bool // first has not been read yet
}

// Read returns the peeked byte first, then reads from the underlying
// connection.
func (c *Conn) Read(p []byte) (int, error) {
	if c.pending && len(p) > 0 {
		p[0] = c.first
		c.pending = false
		return 1, nil
	}
	return c.Conn.Read(p)
}

// WriteTo writes the peeked byte, then copies the underlying connection
// with its own WriteTo when it has one (for example splice on Linux).
func (c *Conn) WriteTo(w io.Writer) (int64, error) {
	var n int64
	if c.pending {
		m, err := w.Write([]byte{c.first})
		n += int64(m)
		if err != nil {
			return n, err
		}
		c.pending = false
	}
	var m int64
	var err error
	if wt, ok := c.Conn.(io.WriterTo); ok {
		m, err = wt.WriteTo(w)
	} else {
		m, err = io.Copy(w, struct{ io.Reader }{c.Conn})
	}
	return n + m, err
}

// ReadFrom uses the underlying connection's ReadFrom when it has one (for
// example sendfile or splice on Linux).
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// NetConn returns the underlying connection, like [tls.Conn.NetConn]. Reading
// from it directly skips the peeked byte if it has not been read yet.
func (c *Conn) NetConn() net.Conn { return c.Conn }

// CloseWrite shuts down the writing side of a TCP (or Unix) connection; for
// other connections it returns an error.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.New("tlsmux: connection does not support CloseWrite")
}

// SetKeepAlive forwards to the underlying connection when it supports
// TCP keep-alives (fasthttp's Server.TCPKeepalive uses it) and does nothing
// otherwise.
func (c *Conn) SetKeepAlive(keepalive bool) error {
	if ka, ok := c.Conn.(interface{ SetKeepAlive(bool) error }); ok {
		return ka.SetKeepAlive(keepalive)
	}
	return nil
}

// SetKeepAlivePeriod forwards like [Conn.SetKeepAlive].
func (c *Conn) SetKeepAlivePeriod(d time.Duration) error {
	if ka, ok := c.Conn.(interface{ SetKeepAlivePeriod(time.Duration) error }); ok {
		return ka.SetKeepAlivePeriod(d)
	}
	return nil
}
