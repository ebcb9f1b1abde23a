package engine

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// The native HTTP/2 front door (entryPoints.NAME.http2.implementation
// native): HTTP/2 framing of our own on golang.org/x/net/http2's Framer
// and hpack, each stream carried into the very fasthttp handler the
// HTTP/1 path runs, in a pooled fasthttp.RequestCtx whose request is
// built from the decoded header fields (no net/http.Request, no header
// map per stream). One goroutine per connection reads and dispatches
// frames, one writes what the streams queue (a write batches every frame
// queued meanwhile), and each stream's handler runs in a goroutine of its
// own from a pool.
//
// Every protection of Go's server is kept, with its limits: the SETTINGS
// it advertises, the handler count that bounds rapid resets (a reset
// stream counts until its handler returns; past 4×maxConcurrentStreams
// waiting, GOAWAY ENHANCE_YOUR_CALM), the header-list budget that ends
// CONTINUATION floods, the cap on queued control frames (PING and
// SETTINGS floods from a client that does not read), flow control both
// ways, the idle timeout, the PING health check, and the graceful GOAWAY
// on shutdown. Where Go's server answers a connection-specific request
// field with 400, this one resets the stream (RFC 9113 §8.2.2 makes it
// malformed).

// h2Settings are an entry point's HTTP/2 limits, as Go's server applies
// them for Traefik.
type h2Settings struct {
	maxStreams      uint32 // SETTINGS_MAX_CONCURRENT_STREAMS
	maxDecoderTable uint32 // SETTINGS_HEADER_TABLE_SIZE (what the client may use)
	maxEncoderTable uint32 // the most of the client's table size we use
	maxReadFrame    uint32 // SETTINGS_MAX_FRAME_SIZE
	connWindow      int32  // what the client may send on the connection
	streamWindow    int32  // SETTINGS_INITIAL_WINDOW_SIZE
	maxHeaderList   uint32 // SETTINGS_MAX_HEADER_LIST_SIZE
	idleTimeout     time.Duration
	pingAfter       time.Duration // a PING after this long without a frame
	pingTimeout     time.Duration // and the connection closed without its ACK
	// readTimeout bounds the reading of a stream's request body,
	// writeTimeout the stream itself (RST_STREAM when it passes), as Go
	// applies the server's ReadTimeout and WriteTimeout to each stream;
	// writeByteTimeout closes a connection whose socket takes nothing
	// for that long.
	readTimeout, writeTimeout, writeByteTimeout time.Duration
}

// h2SettingsFor is Go's configuration of Traefik's server for ep: the
// three http2 keys, Go's defaults for the rest, and the 32 KiB header
// limit of the HTTP/1 path.
func h2SettingsFor(ep *EntryPoint) h2Settings {
	c := h2ConfigFor(ep)
	return h2Settings{
		maxStreams:       uint32(c.MaxConcurrentStreams),
		maxDecoderTable:  uint32(c.MaxDecoderHeaderTableSize),
		maxEncoderTable:  uint32(c.MaxEncoderHeaderTableSize),
		maxReadFrame:     uint32(c.MaxReadFrameSize),
		connWindow:       int32(c.MaxReceiveBufferPerConnection),
		streamWindow:     int32(c.MaxReceiveBufferPerStream),
		maxHeaderList:    h2MaxHeaderBytes + 10*32, // net/http's padding for 10 fields
		idleTimeout:      ep.IdleTimeout,
		pingAfter:        c.SendPingTimeout,
		pingTimeout:      c.PingTimeout,
		readTimeout:      max(ep.ReadTimeout, 0),
		writeTimeout:     max(ep.WriteTimeout, 0),
		writeByteTimeout: c.WriteByteTimeout,
	}
}

// h2MaxHeaderBytes is the header limit of both front doors (fasthttp's
// read buffer on HTTP/1; net/http's MaxHeaderBytes on HTTP/2).
const h2MaxHeaderBytes = 32 << 10

// h2Server is the native front door of one entry point.
type h2Server struct {
	cfg     h2Settings
	handler fasthttp.RequestHandler
	log     *slog.Logger

	mu       sync.Mutex
	lns      map[net.Listener]struct{}
	conns    map[*h2nConn]struct{}
	closing  bool
	drained  chan struct{} // closed when closing and the last connection is gone
	workers  h2Workers
	shutOnce sync.Once
}

func newH2Native(ep *EntryPoint, handler fasthttp.RequestHandler, log *slog.Logger) *h2Server {
	return &h2Server{cfg: h2SettingsFor(ep), handler: handler, log: log,
		lns: map[net.Listener]struct{}{}, conns: map[*h2nConn]struct{}{}, drained: make(chan struct{})}
}

// Serve serves the HTTP/2 connections ln accepts (TLS ones that
// negotiated h2, or plain ones that opened with the preface) until ln
// fails or Shutdown is called (http.ErrServerClosed).
func (s *h2Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return http.ErrServerClosed
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			delete(s.lns, ln)
			s.mu.Unlock()
			if closing {
				return http.ErrServerClosed
			}
			return err
		}
		c := newH2Conn(s, nc)
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			nc.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		go c.serve()
	}
}

// forget drops a connection that has ended.
func (s *h2Server) forget(c *h2nConn) {
	s.mu.Lock()
	delete(s.conns, c)
	if s.closing && len(s.conns) == 0 {
		s.shutOnce.Do(func() { close(s.drained) })
	}
	s.mu.Unlock()
}

// Shutdown stops accepting, sends every connection a graceful GOAWAY and
// waits until their streams are done and they closed, or ctx ends (then
// it closes them).
func (s *h2Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	var errs []error
	for ln := range s.lns {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	conns := make([]*h2nConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	if len(s.conns) == 0 {
		s.shutOnce.Do(func() { close(s.drained) })
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.shutdown()
	}
	select {
	case <-s.drained:
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		errs = append(errs, ctx.Err())
	}
	s.workers.stop()
	return errors.Join(errs...)
}

// h2Workers are the goroutines stream handlers run in: an idle one
// takes the next stream, so that a stream does not pay for a new
// goroutine and its stack growing to the handler's depth. Workers idle
// for longer than h2WorkerIdle exit.
type h2Workers struct {
	mu      sync.Mutex
	idle    []*h2Worker // the most recently used last
	cleaner *time.Timer
	stopped bool
}

type h2Worker struct {
	ch       chan *h2nStream
	lastUsed time.Time
}

const (
	h2WorkerIdle    = 10 * time.Second
	h2MaxIdleWorker = 4096
)

// run serves st in a worker.
func (p *h2Workers) run(st *h2nStream) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		w.ch <- st
		return
	}
	p.mu.Unlock()
	w := &h2Worker{ch: make(chan *h2nStream, 1)}
	go w.loop(p, st)
}

func (w *h2Worker) loop(p *h2Workers, st *h2nStream) {
	for st != nil {
		st.serve()
		p.mu.Lock()
		if p.stopped || len(p.idle) >= h2MaxIdleWorker {
			p.mu.Unlock()
			return
		}
		w.lastUsed = time.Now()
		p.idle = append(p.idle, w)
		if p.cleaner == nil {
			p.cleaner = time.AfterFunc(h2WorkerIdle, p.clean)
		}
		p.mu.Unlock()
		st = <-w.ch
	}
}

// clean stops the workers idle for longer than h2WorkerIdle.
func (p *h2Workers) clean() {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := time.Now().Add(-h2WorkerIdle)
	n := 0
	for n < len(p.idle) && p.idle[n].lastUsed.Before(old) {
		p.idle[n].ch <- nil
		n++
	}
	p.idle = append(p.idle[:0], p.idle[n:]...)
	clear(p.idle[len(p.idle):cap(p.idle)])
	if len(p.idle) > 0 && !p.stopped {
		p.cleaner.Reset(h2WorkerIdle)
	} else {
		p.cleaner = nil
	}
}

// stop ends the idle workers (and those that finish later).
func (p *h2Workers) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
	for _, w := range p.idle {
		w.ch <- nil
	}
	p.idle = nil
}
