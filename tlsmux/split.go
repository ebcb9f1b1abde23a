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
// The connections handed out replay the peeked byte ([*Conn]). They are raw on both
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
	ls := SplitFunc(ln, peekTimeout, 2, func(c net.Conn) (net.Conn, int, error) {
		var b [1]byte
		if _, err := io.ReadFull(c, b[:]); err != nil {
			return nil, 0, err
		}
		side := 1
		if b[0] == recordTypeHandshake {
			side = 0
		}
		return &Conn{Conn: c, prefix: b[:]}, side, nil
	})
	return ls[0], ls[1]
}

// Classify inspects a new connection (under the peek deadline, in its own
// goroutine) and picks one of SplitFunc's listeners for it. It returns the
// connection to hand out (c, or a wrapper that replays what was read), or
// an error, after which c is closed.
type Classify func(c net.Conn) (conn net.Conn, side int, err error)

// SplitFunc is [Split] for any number of sides and any classification:
// each connection ln accepts is classified, with read and write deadlines
// of peekTimeout, in a goroutine of its own, and handed to listener number
// side. Closing any of the listeners (or ln) closes them all.
func SplitFunc(ln net.Listener, peekTimeout time.Duration, sides int, classify Classify) []net.Listener {
	if peekTimeout <= 0 {
		peekTimeout = DefaultPeekTimeout
	}
	s := &splitter{
		ln:       ln,
		timeout:  peekTimeout,
		classify: classify,
		done:     make(chan struct{}),
		peeking:  make(map[net.Conn]struct{}),
	}
	ls := make([]net.Listener, sides)
	for i := range ls {
		s.sides = append(s.sides, make(chan net.Conn))
		ls[i] = &splitListener{s: s, ch: s.sides[i]}
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return ls
}

type splitter struct {
	ln       net.Listener
	timeout  time.Duration
	classify Classify
	sides    []chan net.Conn
	done     chan struct{} // closed by shutdown
	wg       sync.WaitGroup

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
		if err := c.SetDeadline(time.Now().Add(s.timeout)); err != nil {
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

// peek classifies c (its deadlines are set) and hands it to its side.
func (s *splitter) peek(c net.Conn) {
	defer s.wg.Done()
	conn, side, err := s.classify(c)
	if err == nil {
		err = c.SetDeadline(time.Time{})
	}
	s.mu.Lock()
	delete(s.peeking, c)
	closed := s.closed
	s.mu.Unlock()
	if err != nil || closed || side < 0 || side >= len(s.sides) {
		c.Close()
		return
	}
	select {
	case s.sides[side] <- conn:
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
		c.SetDeadline(now) // classify fails at once and c is closed
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
	prefix []byte // read while classifying, not yet returned by Read
}

// Read returns the peeked bytes first, then reads from the underlying
// connection.
func (c *Conn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 && len(p) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// WriteTo writes the peeked bytes, then copies the underlying connection
// with its own WriteTo when it has one (for example splice on Linux).
func (c *Conn) WriteTo(w io.Writer) (int64, error) {
	var n int64
	if len(c.prefix) > 0 {
		m, err := w.Write(c.prefix)
		n += int64(m)
		c.prefix = c.prefix[m:]
		if err != nil {
			return n, err
		}
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
// from it directly skips the peeked bytes not read yet.
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
