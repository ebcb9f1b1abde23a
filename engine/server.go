// Package engine is the data plane: fasthttp listeners for the entry points,
// one immutable Runtime built from a spec.Snapshot and swapped atomically,
// and the per-request path (route, balance, forward).
package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/edgeroute/edgeroute/tlsmux"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/lb"
)

var hostname = func() string {
	h, err := os.Hostname()
	if err != nil {
		return "edgeroute"
	}
	return h
}()

// Server runs the entry points. Apply swaps in new configuration; requests
// in flight finish on the runtime they started with.
type Server struct {
	static *Static
	log    *slog.Logger
	rt     atomic.Pointer[Runtime]
	// applyMu serialises Apply and UpdateEndpoints (the request path
	// never takes it).
	applyMu sync.Mutex
	// lastRelease is when memory was last returned to the OS (unix ns).
	lastRelease atomic.Int64
	ups         *upstreams
	elog        *errorLog
	reg         *lb.Registry
	health      *healthChecks
	stop        context.CancelFunc // stops background work (health checks)
	// draining is set when shutdown begins (ping then answers 503).
	draining atomic.Bool

	// stores hold each entry point's certificates and TLS options,
	// swapped on Apply and read at every handshake.
	stores   map[string]*tlsmux.Store
	storeErr error

	mu        sync.Mutex
	listeners []*listener
}

type listener struct {
	ping    bool // serves /ping
	name    string
	cfg     *EntryPoint
	trusted []netip.Prefix
	ln      net.Listener // the socket
	plain   net.Listener // its plain-HTTP connections
	secure  net.Listener // its TLS connections that negotiated HTTP/1.1
	h2      net.Listener // its TLS connections that negotiated h2
	h2c     net.Listener // its plain connections that opened with the HTTP/2 preface
	srv     *fasthttp.Server
	h2srv   *http.Server
}

// NewServer prepares a server; it listens only when Listen is called, after
// the first configuration has been applied.
func NewServer(static *Static, log *slog.Logger) *Server {
	s := &Server{static: static, log: log.With("component", "engine"), reg: lb.NewRegistry(),
		stores: map[string]*tlsmux.Store{}}
	s.elog = newErrorLog(s.log)
	upTLS, err := static.ServersTransport.UpstreamTLS()
	if err != nil {
		s.storeErr = err
		upTLS = &tls.Config{}
	}
	for name := range static.EntryPoints {
		st, err := tlsmux.NewStore()
		if err != nil {
			s.storeErr = fmt.Errorf("entry point %s: %w", name, err)
			break
		}
		s.stores[name] = st
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.health, s.stop = newHealthChecks(ctx, s.log), cancel
	s.ups = newUpstreams(ctx, staticTransport(upTLS))
	s.rt.Store(emptyRuntime())
	return s
}

// Listen opens every entry point's socket. Call it once the initial
// configuration is applied, so that no connection sees an empty router.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.storeErr != nil {
		return s.storeErr
	}
	for name, ep := range s.static.EntryPoints {
		l, err := newListener(s.static, name)
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", trimTCP(ep.Address))
		if err != nil {
			s.closeLocked()
			return fmt.Errorf("entry point %s: %w", name, err)
		}
		l.ln = ln
		// One port serves TLS, plain HTTP/1 and h2c, as in Traefik: the
		// first bytes of each connection decide; TLS connections then go
		// to fasthttp or to the HTTP/2 server by the protocol the
		// handshake negotiated.
		handshake := ep.ReadTimeout
		if handshake <= 0 {
			handshake = tlsmux.DefaultPeekTimeout
		}
		rawTLS, h2c, plain := tlsmux.SplitProtocols(ln, handshake)
		l.plain, l.h2c = plain, h2c
		l.secure, l.h2 = tlsmux.SplitALPN(rawTLS, s.stores[name], handshake)
		l.srv = &fasthttp.Server{
			Handler:                       s.handler(l),
			NoDefaultServerHeader:         true,
			NoDefaultContentType:          true,
			NoDefaultDate:                 true,
			DisableHeaderNamesNormalizing: false,
			StreamRequestBody:             true,
			ReadTimeout:                   ep.ReadTimeout,
			WriteTimeout:                  ep.WriteTimeout,
			IdleTimeout:                   ep.IdleTimeout,
			ReadBufferSize:                32 << 10, // the largest request header block (431 above)
			WriteBufferSize:               16 << 10,
			MaxRequestBodySize:            64 << 10, // with streaming, only what is read ahead
			DisablePreParseMultipartForm:  true,
			SecureErrorLogMessage:         true,
			TCPKeepalive:                  true,
			TCPKeepalivePeriod:            30 * time.Second,
			CloseOnShutdown:               true,
			Logger:                        fasthttpLogger{s.log},
		}
		l.h2srv = newH2Server(ep, l.srv.Handler, slog.NewLogLogger(s.log.Handler(), slog.LevelDebug))
		s.listeners = append(s.listeners, l)
	}
	return nil
}

// newListener prepares the request-side configuration of an entry point
// (no socket yet): what serve and Explain read.
func newListener(static *Static, name string) (*listener, error) {
	ep := static.EntryPoints[name]
	l := &listener{name: name, cfg: ep, ping: static.Ping && name == "traefik"}
	for _, t := range ep.ForwardedHeaders.TrustedIPs {
		p, err := parsePrefix(t)
		if err != nil {
			return nil, fmt.Errorf("entryPoints.%s.forwardedHeaders.trustedIPs: %w", name, err)
		}
		l.trusted = append(l.trusted, p)
	}
	return l, nil
}

// Addr returns the bound address of an entry point (useful with ":0").
func (s *Server) Addr(entryPoint string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.listeners {
		if l.name == entryPoint {
			return l.ln.Addr().String()
		}
	}
	return ""
}

// Serve serves every entry point until ctx is done, then shuts down
// gracefully: it stops accepting, lets requests in flight finish for up to
// the grace timeout, and closes idle connections.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	ls := append([]*listener(nil), s.listeners...)
	s.mu.Unlock()
	errc := make(chan error, 4*len(ls))
	for _, l := range ls {
		go func() { errc <- l.srv.Serve(l.plain) }()
		go func() { errc <- l.srv.Serve(l.secure) }()
		for _, h2 := range []net.Listener{l.h2, l.h2c} {
			go func() {
				if err := l.h2srv.Serve(h2); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
					errc <- err
				}
			}()
		}
	}
	select {
	case err := <-errc:
		s.shutdown()
		return err
	case <-ctx.Done():
	}
	return s.shutdown()
}

func (s *Server) shutdown() error {
	defer s.stop()
	s.draining.Store(true)
	s.mu.Lock()
	ls := append([]*listener(nil), s.listeners...)
	s.mu.Unlock()
	grace := s.static.GraceTimeout
	if grace <= 0 {
		grace = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(ls))
	for i, l := range ls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h2err := make(chan error, 1)
			go func() { h2err <- l.h2srv.Shutdown(ctx) }()
			errs[i] = errors.Join(l.srv.ShutdownWithContext(ctx), <-h2err)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (s *Server) closeLocked() {
	for _, l := range s.listeners {
		l.ln.Close()
	}
	s.listeners = nil
}

func trimTCP(addr string) string {
	if len(addr) > 4 && addr[len(addr)-4:] == "/tcp" {
		return addr[:len(addr)-4]
	}
	return addr
}

func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP or CIDR", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Debug(fmt.Sprintf(format, args...))
}
