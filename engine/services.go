// Runs per request: must not allocate (guarded by TestServeAllocs).

package engine

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/engine/middleware"
	"github.com/edgeroute/edgeroute/lb"
)

// lbService balances over the servers of one Kubernetes Service port with
// the service's strategy (Traefik's EDF WRR, P2C, HRW or least time) and
// sticky cookie.
// Its balancer is swapped atomically when only the service's endpoints
// change (Server.UpdateEndpoints), without rebuilding the runtime.
type lbService struct {
	def      *spec.Service
	bal      atomic.Pointer[balancer] // endpoints carry their *upstream in Data
	passHost bool
	passive  *spec.PassiveHealthCheck
	timed    bool      // strategy leasttime: record response times
	elog     *errorLog // nil in tools
	health   healthMemo
}

// balancer is a built balancer and the servers it holds.
type balancer struct {
	lb.Balancer
	eps []*lb.Endpoint
}

// newLBService builds the balancer of a load-balancer service. Endpoint
// state (in-flight counts, passive health) is kept in reg by service and
// server URL, so it survives reloads.
func newLBService(def *spec.Service, servers []spec.Server, ups *upstreams, reg *lb.Registry) *lbService {
	s := &lbService{def: def, passHost: def.LoadBalancer.PassHostHeader, passive: def.LoadBalancer.Passive,
		timed: def.LoadBalancer.Strategy == "leasttime"}
	s.setServers(servers, ups, reg)
	return s
}

// setServers builds a balancer over servers and swaps it in.
func (s *lbService) setServers(servers []spec.Server, ups *upstreams, reg *lb.Registry) {
	def := s.def
	var eps []*lb.Endpoint
	for _, sv := range servers {
		up, err := ups.get(sv.URL, def.LoadBalancer.ServersTransport)
		if err != nil {
			continue
		}
		ep, err := lb.NewEndpoint(sv.URL, reg.State(def.Name+" "+sv.URL))
		if err != nil {
			continue
		}
		ep.Fenced = sv.Fenced
		ep.Data = up
		eps = append(eps, ep)
	}
	opts := lb.Options{Sticky: stickySpec(def.LoadBalancer.Sticky, def.Name)}
	var b lb.Balancer
	switch def.LoadBalancer.Strategy {
	case "p2c":
		b = lb.NewP2C(eps, opts)
	case "hrw":
		b = lb.NewHRW(eps, opts)
	case "leasttime":
		b = lb.NewLeastTime(eps, opts)
	default:
		b = lb.NewWRR(eps, opts)
	}
	s.bal.Store(&balancer{Balancer: b, eps: eps})
	// The service's status may have changed with its servers: parents
	// that follow it (health.go) look again.
	lb.NotifyHealthChange()
}

// canReport is Traefik's RegisterStatusUpdater on a servers load
// balancer: only one with an active health check reports its status.
func (s *lbService) canReport() error {
	if s.def.LoadBalancer.HealthCheck == nil {
		kind := "WRR"
		switch s.def.LoadBalancer.Strategy {
		case "p2c":
			kind = "P2C"
		case "hrw":
			kind = "HRW"
		case "leasttime":
			kind = "LeastTime"
		}
		return fmt.Errorf("healthCheck not enabled in config for this %s service", kind)
	}
	return nil
}

// up is the status Traefik's balancer reports to its parents: up while
// any server is (fenced ones included), and up with no servers at all
// (Traefik reports changes only, and a balancer starts up).
func (s *lbService) up() bool {
	epoch := lb.HealthEpoch()
	if up, ok := s.health.get(epoch); ok {
		return up
	}
	b := s.bal.Load()
	up := len(b.eps) == 0
	for _, ep := range b.eps {
		if ep.State.Up() {
			up = true
			break
		}
	}
	s.health.set(epoch, up)
	return up
}

func stickySpec(c *spec.Cookie, service string) *lb.CookieSpec {
	if c == nil {
		return nil
	}
	path := c.Path
	cs := lb.NewCookieSpec(lb.CookieConfig{Name: c.Name, Secure: c.Secure, HTTPOnly: c.HTTPOnly, SameSite: c.SameSite,
		MaxAge: c.MaxAge, Path: &path, Domain: c.Domain}, service)
	return &cs
}

func (s *lbService) serve(ctx *fasthttp.RequestCtx, st *reqState) {
	ep, ok := s.bal.Load().Pick(&st.hint)
	if !ok {
		s.elog.noServer(s.def.Name)
		noServer(ctx)
		return
	}
	up := ep.Data.(*upstream)
	st.upURL = up.url
	ep.State.Acquire()
	var start time.Time
	timed := s.timed && !isWebSocket(&ctx.Request.Header)
	if timed {
		start = time.Now()
	}
	spans := st.traceService(s.def.Name) // tracing, detailed (otel.go)
	err := forward(ctx, st, up, s.passHost)
	if timed && err == nil {
		// The upstream clients stream bodies: forward returns once the
		// response header is in, Traefik's time to first byte.
		ep.State.ObserveLatency(time.Since(start))
	}
	ep.State.Release()
	st.mw.UpstreamErr = err
	if err != nil && (clientBodyBroken(err) || clientBodyRefused(st.body.err)) {
		// The client's chunked body is malformed (reliability F7/F8): its
		// fault, not the server's, which keeps its health. The upstream got
		// no terminating chunk and its connection is not reused; the client
		// gets 400 and, as for any framing error, a closed connection.
		s.elog.clientBody(s.def.Name, err)
		ctx.Response.Reset()
		ctx.SetStatusCode(fasthttp.StatusBadRequest)
		ctx.Response.Header.SetContentType(textPlain)
		ctx.SetBodyString("400 Bad Request")
		ctx.SetConnectionClose()
		return
	}
	if err != nil {
		status := errorStatus(err)
		s.elog.upstream(s.def.Name, up.url, status, err)
		writeError(ctx, status)
	}
	if st.tr != nil {
		traceForwarded(ctx, st, err)
		st.traceLeave(spans)
	}
	if s.passive != nil {
		s.observe(ep, err == nil && ctx.Response.StatusCode() < 500)
	}
	setStickyCookies(ctx, st)
}

// observe is Traefik's passive health check: a network error or a 5xx
// answer is a failure; MaxFailedAttempts failures within FailureWindow take
// the server out of rotation for FailureWindow.
func (s *lbService) observe(ep *lb.Endpoint, ok bool) {
	if ok {
		ep.State.RecordSuccess()
		return
	}
	window := s.passive.FailureWindow
	if !ep.State.RecordFailure(time.Now(), window, s.passive.MaxFailedAttempts) && ep.State.SetUp(false) {
		time.AfterFunc(window, func() { ep.State.SetUp(true) })
	}
}

// noServer is Traefik's answer when a balancer has no usable server.
func noServer(ctx *fasthttp.RequestCtx) {
	if isGRPC(ctx) {
		grpcError(ctx, fasthttp.StatusServiceUnavailable)
		return
	}
	ctx.Response.Header.SetContentType(textPlain)
	ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
	ctx.SetBody(body503)
}

// setStickyCookies adds the Set-Cookie headers the balancers asked for.
func setStickyCookies(ctx *fasthttp.RequestCtx, st *reqState) {
	for _, c := range st.hint.SetCookies() {
		st.tmp = lb.AppendSetCookie(st.tmp[:0], *c.Spec, c.Value)
		ctx.Response.Header.AddBytesV("Set-Cookie", st.tmp)
	}
}

// weightedService balances over child services by weight, with Traefik's
// EDF order and its sticky cookie (whose value names the child service).
type weightedService struct {
	bal lb.Balancer // endpoints carry their child service in Data
	children
}

func newWeightedService(def *spec.Service, kids []weighted, reg *lb.Registry) *weightedService {
	w := &weightedService{}
	w.children.init(def.Weighted.HealthCheck, kids, def, reg)
	w.bal = lb.NewWRR(w.eps, lb.Options{Sticky: stickySpec(def.Weighted.Sticky, def.Name)})
	return w
}

type weighted struct {
	name   string
	s      service
	weight int
}

// configName is a child service's name as its parent's configuration
// spells it in Traefik, which its sticky cookie value and its HRW hash
// are derived from: the CRD provider names its own services unqualified.
func configName(name string) string { return strings.TrimSuffix(name, "@kubernetescrd") }

func (w *weightedService) serve(ctx *fasthttp.RequestCtx, st *reqState) {
	w.sync()
	ep, ok := w.bal.Pick(&st.hint)
	if !ok {
		noServer(ctx)
		return
	}
	ep.Data.(service).serve(ctx, st)
}

func (w *weightedService) canReport() error {
	if !w.follow {
		return errors.New("healthCheck not enabled in config for this WRR service")
	}
	return nil
}

// mwService runs a service's own middlewares before it.
type mwService struct {
	inner   service
	def     *spec.Service
	handler middleware.Handler
}

func (m *mwService) wrap(built map[string]*middleware.Built) error {
	wraps := make([]middleware.Middleware, 0, len(m.def.Middlewares))
	for _, n := range m.def.Middlewares {
		b := built[n]
		if b == nil {
			return fmt.Errorf("middleware %s does not exist", n)
		}
		if b.Err != nil {
			return b.Err
		}
		wraps = append(wraps, b.Wrap)
	}
	m.handler = middleware.Wrap(terminal(m.inner), wraps...)
	return nil
}

// canReport and up pass through: Traefik keeps a service's status
// updater when it wraps it in its middlewares.
func (m *mwService) canReport() error { return m.inner.(reporter).canReport() }

func (m *mwService) up() bool { return m.inner.(reporter).up() }

func (m *mwService) serve(ctx *fasthttp.RequestCtx, st *reqState) {
	if m.handler == nil { // its middlewares failed to build
		notFound(ctx)
		return
	}
	m.handler(ctx, &st.mw)
}

// errorLog logs the 5xx answers the proxy makes itself (an upstream that
// failed, no server to send to), with their cause: at most 10 lines a
// second, bursts of 100, so that a dead backend under load cannot flood
// the log; the rest are counted and the count logged with the next line.
type errorLog struct {
	log     *slog.Logger
	lim     *rate.Limiter
	dropped atomic.Int64
}

func newErrorLog(log *slog.Logger) *errorLog {
	return &errorLog{log: log, lim: rate.NewLimiter(10, 100)}
}

func (e *errorLog) allow() (dropped int64, ok bool) {
	if e == nil || !e.lim.Allow() {
		if e != nil {
			e.dropped.Add(1)
		}
		return 0, false
	}
	return e.dropped.Swap(0), true
}

func (e *errorLog) upstream(service, url string, status int, err error) {
	if dropped, ok := e.allow(); ok {
		e.log.Warn("upstream request failed", "status", status, "service", service, "server", url, "error", err, "unlogged", dropped)
	}
}

func (e *errorLog) clientBody(service string, err error) {
	if dropped, ok := e.allow(); ok {
		e.log.Warn("malformed request body", "status", 400, "service", service, "error", err, "unlogged", dropped)
	}
}

// clientBodyBroken reports whether forwarding failed on the client's
// chunked request body (fasthttp's ErrBrokenChunk: the upstream clients
// stream responses, so a broken chunk out of Do is the request's).
func clientBodyBroken(err error) bool {
	var bc fasthttp.ErrBrokenChunk
	if errors.As(err, &bc) || errors.Is(err, fasthttp.ErrBadTrailer) {
		return true // ErrBadTrailer: a field RFC 9110 §6.5.1 keeps out of trailers
	}
	for _, e := range chunkSizeErrors {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// clientBodyRefused reports whether reading the client's chunked body
// stream failed on what the client sent, not on the connection: fasthttp
// formats some of these errors afresh (a trailer field RFC 9110 §6.5.1
// keeps out of trailers: "forbidden trailer key"), so any error other than
// the connection ending or timing out counts.
func clientBodyRefused(err error) bool {
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return false
	}
	var ne net.Error
	return !errors.As(err, &ne)
}

// chunkSizeErrors are the errors fasthttp returns for a chunk size that is
// not a hex number, or too large for one: unexported and not wrapped in
// ErrBrokenChunk, so they are learnt once by parsing such bodies.
var chunkSizeErrors = func() []error {
	var out []error
	for _, size := range []string{"zz", "FFFFFFFFFFFFFFFFF1"} {
		var req fasthttp.Request
		raw := "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + size + "\r\nx\r\n0\r\n\r\n"
		var bc fasthttp.ErrBrokenChunk
		if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil && !errors.As(err, &bc) {
			out = append(out, err)
		}
	}
	return out
}()

func (e *errorLog) noServer(service string) {
	if dropped, ok := e.allow(); ok {
		e.log.Warn("no available server", "status", 503, "service", service, "unlogged", dropped)
	}
}
