// Package engine is the data plane: fasthttp listeners for the entry points,
// one immutable Runtime built from a spec.Snapshot and swapped atomically,
// and the per-request path (route, balance, forward).
package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/edgeroute/edgeroute/acme"
	"github.com/edgeroute/edgeroute/engine/accesslog"
	"github.com/edgeroute/edgeroute/engine/metrics"
	"github.com/edgeroute/edgeroute/engine/tracing"
	"github.com/edgeroute/edgeroute/tlsmux"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
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
	// internal are the handlers of internal services implemented
	// outside the engine (the API, the dashboard), by service name.
	internal map[string]fasthttp.RequestHandler
	// metrics is the Prometheus registry; nil when metrics are off.
	metrics *metrics.Registry
	// alog is the access log; nil when off.
	alog *accesslog.Logger
	// tracer makes OpenTelemetry spans (otel.go); nil when off.
	tracer *tracing.Tracer
	health *healthChecks
	stop   context.CancelFunc // stops background work (health checks)
	// draining is set when shutdown begins (ping then answers 503).
	draining atomic.Bool

	// stores hold each entry point's certificates and TLS options,
	// swapped on Apply and read at every handshake.
	stores   map[string]*tlsmux.Store
	storeErr error
	// acme are the certificate resolvers (nil: none), see SetACME.
	acme *acme.Manager

	mu        sync.Mutex
	listeners []*listener
}

type listener struct {
	// mEP is the entry point's request metrics; nil when metrics are off.
	mEP     *metrics.Family
	name    string
	cfg     *EntryPoint
	trusted []netip.Prefix
	ln      net.Listener // the socket
	plain   net.Listener // its plain-HTTP connections
	secure  net.Listener // its TLS connections that negotiated HTTP/1.1
	h2      net.Listener // its TLS connections that negotiated h2
	h2c     net.Listener // its plain connections that opened with the HTTP/2 preface
	srv     *fasthttp.Server
	h2srv   h2FrontDoor
}

// h2FrontDoor serves an entry point's HTTP/2 connections: Go's
// net/http server (std) or edgeroute's own (native, h2native.go).
type h2FrontDoor interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
}

// NewServer prepares a server; it listens only when Listen is called, after
// the first configuration has been applied.
func NewServer(static *Static, log *slog.Logger) *Server {
	s := &Server{static: static, log: log.With("component", "engine"), reg: lb.NewRegistry(),
		stores: map[string]*tlsmux.Store{}}
	s.elog = newErrorLog(s.log)
	if c := static.AccessLog; c != nil {
		l, err := accesslog.New(*c, s.log)
		if err != nil {
			s.storeErr = err
		}
		s.alog = l
	}
	if t, err := newTracer(static, s); err != nil {
		s.storeErr = err
	} else {
		s.tracer = t
	}
	if m := static.Metrics; m != nil {
		s.metrics = metrics.NewRegistry(metrics.Options{EntryPoints: m.AddEntryPointsLabels,
			Routers: m.AddRoutersLabels, Services: m.AddServicesLabels, Buckets: m.Buckets})
	}
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
		if s.metrics != nil {
			l.mEP = s.metrics.EntryPoint(name)
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
			ErrorHandler:                  s.refuser(l),
		}
		if ep.HTTP2.Implementation == "std" {
			l.h2srv = newH2Server(ep, l.srv.Handler, slog.NewLogLogger(s.log.Handler(), slog.LevelDebug))
		} else {
			l.h2srv = newH2Native(ep, l.srv.Handler, s.log)
		}
		if s.metrics != nil {
			srv := l.srv
			s.metrics.OpenConnections(name, func() int { return int(srv.GetOpenConnectionsCount()) })
		}
		s.listeners = append(s.listeners, l)
	}
	return nil
}

// newListener prepares the request-side configuration of an entry point
// (no socket yet): what serve and Explain read.
func newListener(static *Static, name string) (*listener, error) {
	ep := static.EntryPoints[name]
	l := &listener{name: name, cfg: ep}
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
	if s.alog != nil {
		logCtx, stopLog := context.WithCancel(context.Background())
		logDone := make(chan struct{})
		go func() { s.alog.Run(logCtx); close(logDone) }()
		defer func() { stopLog(); <-logDone }() // after the drain: the last lines are written
	}
	if s.tracer != nil {
		defer s.tracer.Shutdown() // after the drain: the last spans are exported
	}
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

// Refusals of the HTTP/1 parser, as Go's server writes them for Traefik:
// the status text as the body, until close.
const (
	refusedHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
	// lingerTime and lingerBytes bound the reading of what a refused
	// client still sends, so that closing does not reset the connection
	// before the client read the refusal.
	lingerTime  = 500 * time.Millisecond
	lingerBytes = 4 << 20
)

// refuse answers a request the parser refused (431 for a header block
// larger than the read buffer, 400 otherwise) and closes gracefully: the
// answer, then the write side shut (FIN, or TLS close_notify), then what
// the client still sends read and dropped for a bounded time. Closing
// with unread input would make the kernel answer with a reset, which can
// destroy the refusal before the client reads it (a client still sending
// a 2 MiB header). A timeout keeps fasthttp's 408.
// refuser is the entry point's ErrorHandler: Host values net/http
// accepts but fasthttp's URI parser does not ("::1", "a.test:abc",
// "[a.test]", "a%zz") are routed as Traefik routes them, when the
// request has no body (fasthttp reads none after this error; the
// connection closes after the answer); everything else is refused.
func (s *Server) refuser(l *listener) func(*fasthttp.RequestCtx, error) {
	return func(ctx *fasthttp.RequestCtx, err error) {
		if routesDespite(&ctx.Request.Header, err) {
			l.srv.Handler(ctx)
			return
		}
		refuse(ctx, err)
	}
}

// routesDespite tells whether a request whose URI fasthttp could not
// parse is routed all the same (serve and explain): its Host is one
// net/http accepts, and it has no body.
func routesDespite(h *fasthttp.RequestHeader, err error) bool {
	return hostParseError(err) && validHostHeader(h.Host()) && h.ContentLength() <= 0 && h.ContentLength() != -1
}

// hostParseError tells the errors of fasthttp's URI parsing of the Host
// (the request line and headers were read whole).
func hostParseError(err error) bool {
	var esc fasthttp.EscapeError
	var ih fasthttp.InvalidHostError
	if errors.As(err, &esc) || errors.As(err, &ih) {
		return true
	}
	msg := err.Error()
	return strings.HasPrefix(msg, "invalid host ") || strings.HasPrefix(msg, "invalid port ") || msg == "invalid ipv6 address"
}

func refuse(ctx *fasthttp.RequestCtx, err error) {
	text := "400 Bad Request"
	var small *fasthttp.ErrSmallBuffer
	var ne net.Error
	switch {
	case errors.As(err, &small):
		text = "431 Request Header Fields Too Large"
	case errors.As(err, &ne) && ne.Timeout():
		ctx.Error("Request timeout", fasthttp.StatusRequestTimeout)
		return
	}
	body := text
	if strings.Contains(err.Error(), "missing required host header") {
		body += ": missing required Host header" // Go's badRequestError detail
	}
	status, _ := strconv.Atoi(text[:3])
	ctx.Response.SetStatusCode(status)
	ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
	ctx.Response.SetBodyString(body)
	c := ctx.Conn()
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok || ctx.ConnRequestNum() > 0 {
		// fasthttp writes the answer and closes. After an earlier request
		// on the connection (ConnRequestNum is still its number), that
		// request's answer may wait in fasthttp's write buffer (pipelined
		// requests are answered in one flush): writing on the connection
		// directly would put the refusal first and shut the write side
		// before that answer, which the client would never read.
		return
	}
	if _, err := io.WriteString(c, "HTTP/1.1 "+text+refusedHeaders+body); err != nil {
		return
	}
	// fasthttp's own copy of the answer then fails on the shut write
	// side, and is dropped.
	if cw.CloseWrite() == nil && c.SetReadDeadline(time.Now().Add(lingerTime)) == nil {
		io.CopyN(io.Discard, c, lingerBytes)
	}
}

// ReopenAccessLog reopens the access-log file (SIGUSR1, after logrotate).
func (s *Server) ReopenAccessLog() error {
	if s.alog == nil {
		return nil
	}
	return s.alog.Reopen()
}
