// Runs per request: must not allocate (guarded by TestTraefikServiceAllocs),
// except a copy of a request body that is mirrored or kept for a failover.

package engine

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/engine/middleware"
	"github.com/edgeroute/edgeroute/lb"
)

// The TraefikService kinds beyond weighted (semantics §e): highest random
// weight, failover and mirroring, with Traefik's behaviour
// (pkg/server/service/loadbalancer/{hrw,failover,mirror}).

// hrwService picks a child service by rendezvous hashing of the client
// IP: each client keeps its child while the set of children up is
// unchanged.
type hrwService struct {
	bal *lb.HRW // endpoints carry their child service in Data
	children
}

func newHRWService(def *spec.Service, kids []weighted, reg *lb.Registry) *hrwService {
	h := &hrwService{}
	h.children.init(def.HighestRandomWeight.HealthCheck, kids, def, reg)
	h.bal = lb.NewHRW(h.eps, lb.Options{})
	return h
}

func (h *hrwService) serve(ctx *fasthttp.RequestCtx, st *reqState) {
	h.sync()
	ep, ok := h.bal.Pick(&st.hint)
	if !ok {
		noServer(ctx)
		return
	}
	ep.Data.(service).serve(ctx, st)
}

func (h *hrwService) canReport() error {
	if !h.follow {
		return errors.New("healthCheck not enabled in config for this HRW service")
	}
	return nil
}

// failoverService sends requests to its main service while that one is
// up, else to its fallback; with error statuses, also when the main
// service answers with one of them (the request, body included, is then
// sent again to the fallback and the main answer discarded).
type failoverService struct {
	main, fallback reporter
	// followMain: the main service reports its status (else it counts as
	// always up, as in Traefik when it cannot report but error statuses
	// are set). followFallback: the failover has a health check, which
	// makes it follow its fallback too.
	followMain, followFallback bool
	statuses                   middleware.StatusRanges
	maxBody                    int64 // < 0: no limit
}

func (f *failoverService) mainUp() bool     { return !f.followMain || f.main.up() }
func (f *failoverService) fallbackUp() bool { return !f.followFallback || f.fallback.up() }

func (f *failoverService) canReport() error {
	if !f.followFallback {
		return errors.New("healthCheck not enabled in config for this failover service")
	}
	return nil
}

// up is down only when the main service and the fallback both are.
func (f *failoverService) up() bool { return f.mainUp() || f.fallbackUp() }

func (f *failoverService) serve(ctx *fasthttp.RequestCtx, st *reqState) {
	if f.mainUp() {
		if len(f.statuses) == 0 {
			f.main.serve(ctx, st)
			return
		}
		body, err := bufferBody(&ctx.Request, f.maxBody)
		switch {
		case errors.Is(err, errBodyTooLarge):
			httpError(ctx, fasthttp.StatusRequestEntityTooLarge, "Request body too large\n")
			return
		case err != nil:
			httpError(ctx, fasthttp.StatusInternalServerError, "Internal Server Error\n")
			return
		}
		saved := savedRequests.Get().(*savedRequest)
		saved.save(ctx, st)
		// The main answer must not be relayed to an HTTP/2 client before
		// its status is known.
		st.mw.ChangesResponse = true
		f.main.serve(ctx, st)
		st.mw.ChangesResponse = saved.changes
		if ctx.Hijacked() || !f.statuses.Contains(ctx.Response.StatusCode()) {
			saved.release()
			return
		}
		ctx.Response.Reset() // also closes a streamed body
		saved.restore(ctx, st)
		saved.release()
		if body != nil {
			ctx.Request.SetBodyRaw(body)
		}
	}
	if f.fallbackUp() {
		f.fallback.serve(ctx, st)
		return
	}
	httpError(ctx, fasthttp.StatusServiceUnavailable, "Service Unavailable\n")
}

// httpError is Go's http.Error, which Traefik's services answer with.
func httpError(ctx *fasthttp.RequestCtx, status int, body string) {
	ctx.Response.Reset()
	ctx.Response.Header.SetContentType(textPlain)
	ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
	ctx.SetStatusCode(status)
	ctx.SetBodyString(body)
}

// errBodyTooLarge is a request body over a service's limit.
var errBodyTooLarge = errors.New("request body too large")

// bufferBody reads the request body in full so that it can be sent more
// than once (Traefik's NewReusableRequest) and leaves it in the request
// as a slice of its own, which is returned (nil for an empty body) and
// must never be modified: it may still be read by a transport after the
// request it went with has been answered. max < 0 is no limit. A body
// of more than max bytes is errBodyTooLarge; the request then keeps it
// whole, to be sent once.
func bufferBody(req *fasthttp.Request, max int64) ([]byte, error) {
	if !req.IsBodyStream() {
		b := req.Body()
		if max >= 0 && int64(len(b)) > max {
			return nil, errBodyTooLarge
		}
		if len(b) == 0 {
			return nil, nil
		}
		body := bytes.Clone(b)
		req.SetBodyRaw(body)
		return body, nil
	}
	declared := req.Header.ContentLength()
	if max >= 0 && declared > 0 && int64(declared) > max {
		return nil, errBodyTooLarge // known to be too large: left unread
	}
	src := req.BodyStream()
	size := 4096
	if declared >= 0 {
		size = min(declared+1, 1<<20) // room to see the end; a declared length is not trusted further
	}
	if max >= 0 && int64(size) > max+1 {
		size = int(max + 1)
	}
	body := make([]byte, 0, size)
	for {
		if len(body) == cap(body) {
			body = append(body, 0)[:len(body)]
		}
		end := cap(body)
		if max >= 0 && int64(end) > max+1 {
			end = int(max + 1)
		}
		n, err := src.Read(body[len(body):end])
		body = body[:len(body)+n]
		if max >= 0 && int64(len(body)) > max {
			// Give the request what was read and the rest. Replacing the
			// stream closes one that is an io.Closer (an HTTP/2 body), so
			// such a rest is read first.
			if _, closer := src.(io.Closer); closer {
				rest, err := io.ReadAll(src)
				if err != nil {
					return nil, err
				}
				req.SetBodyRaw(append(body, rest...))
				return nil, errBodyTooLarge
			}
			req.SetBodyStream(io.MultiReader(bytes.NewReader(body), src), declared)
			return nil, errBodyTooLarge
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if declared >= 0 && len(body) < declared {
		return nil, io.ErrUnexpectedEOF
	}
	if len(body) == 0 {
		req.SetBodyRaw(nil)
		return nil, nil
	}
	req.SetBodyRaw(body)
	return body, nil
}

// savedRequest is the request as a failover found it, so that its
// fallback gets it as the client sent it, as Traefik gives it a clone:
// the headers (what the main service's middlewares and forwarding
// changed is undone), the path, the forwarded-for state and the sticky
// cookies recorded so far. The query and host slices are kept: their
// bytes are the request's own and come back with the headers (as the
// retry middleware's requestState does).
type savedRequest struct {
	header        fasthttp.RequestHeader
	path, rawPath []byte
	rewritten     bool
	query, host   []byte
	hasQuery      bool
	clientIP      netip.Addr
	secure, noXFF bool
	changes       bool
	attempt       int
	xffDone       bool
	xff           []byte
	cookies       int
}

var savedRequests = sync.Pool{New: func() any { return new(savedRequest) }}

func (s *savedRequest) save(ctx *fasthttp.RequestCtx, st *reqState) {
	ctx.Request.Header.CopyTo(&s.header)
	r := &st.mw
	s.path = append(s.path[:0], r.Path()...)
	s.rawPath = append(s.rawPath[:0], r.RawPath()...)
	s.rewritten = r.Rewritten()
	s.query, s.hasQuery, s.host = r.Query, r.HasQuery, r.Host
	s.clientIP, s.secure, s.noXFF = r.ClientIP, r.Secure, r.NoXFF
	s.changes, s.attempt = r.ChangesResponse, r.Attempt
	s.xffDone, s.xff = st.xffDone, append(s.xff[:0], st.xff...)
	s.cookies = st.hint.Mark()
}

func (s *savedRequest) restore(ctx *fasthttp.RequestCtx, st *reqState) {
	s.header.CopyTo(&ctx.Request.Header)
	r := &st.mw
	if s.rewritten || r.Rewritten() {
		var raw []byte
		if len(s.rawPath) > 0 {
			raw = s.rawPath
		}
		r.SetPath(s.path, raw) // copied
	}
	r.Query, r.HasQuery, r.Host = s.query, s.hasQuery, s.host
	r.ClientIP, r.Secure, r.NoXFF = s.clientIP, s.secure, s.noXFF
	r.ChangesResponse, r.Attempt, r.UpstreamErr = s.changes, s.attempt, nil
	st.xffDone, st.xff = s.xffDone, append(st.xff[:0], s.xff...)
	st.hint.Truncate(s.cookies)
}

func (s *savedRequest) release() {
	s.query, s.host = nil, nil
	savedRequests.Put(s)
}

// Mirroring.
//
// A mirrored request is copied (headers, path, client address, and the
// body unless mirrorBody is off) before the main service gets it, and
// sent once the main service has answered, on a goroutine of its own,
// through the mirror service's ordinary path (its balancer, middlewares
// and upstream pools); its answer is read and discarded. The client's
// answer never waits for a mirror: the main request's only extra work is
// the copy, and reading the body first when it is mirrored (as Traefik
// does, up to maxBodySize).
//
// In-flight mirror requests are bounded: mirrorMaxInFlight per mirror of
// a mirroring service (kept across reloads), mirrorMaxInFlightTotal for
// the process. A copy over either bound is dropped, counted and logged
// (rate-limited): a mirror that is slow or never answers costs at most
// its share of goroutines and connections, and loses copies rather than
// delaying anything. Traefik bounds neither (a goroutine per mirrored
// request, its answer awaited for as long as the transport allows); its
// mirrors of one request run one after the other, edgeroute's each on its
// own, so a slow mirror does not hold back the others.
var (
	mirrorMaxInFlight      int64 = 1024
	mirrorMaxInFlightTotal int64 = 16384
	mirrorsInFlight        atomic.Int64
)

// mirrorService is a Traefik mirroring service.
type mirrorService struct {
	name       string
	main       reporter
	mirrors    []*mirrorTarget
	mirrorBody bool
	maxBody    int64 // < 0: no limit
	follow     bool  // healthCheck: it reports its main service's status
	total      atomic.Uint64
	elog       *errorLog
}

// mirrorTarget is one mirror of a mirroring service.
type mirrorTarget struct {
	name    string
	s       service
	percent uint64
	count   atomic.Uint64 // requests mirrored so far
	// slots counts this mirror's requests in flight (its Inflight), kept
	// in the registry so that a reload does not reset the bound.
	slots   *lb.State
	sent    atomic.Uint64
	dropped atomic.Uint64
}

func (m *mirrorService) canReport() error {
	if !m.follow {
		return errors.New("healthCheck not enabled in config for this mirroring service")
	}
	if err := m.main.canReport(); err != nil {
		return errors.Join(errors.New("cannot register service of mirroring as updater"), err)
	}
	return nil
}

// up is the main service's status: mirrors do not count.
func (m *mirrorService) up() bool { return m.main.up() }

// activeMirrors is Traefik's getActiveMirrors: the request is the total-th;
// a mirror takes it while it has taken fewer than percent% of them, which
// over any run of requests gives each mirror its exact share. It returns
// the mirrors taking it as a bit set (up to 64 mirrors; more spill into
// extra).
func (m *mirrorService) activeMirrors() (set uint64, extra []bool) {
	total := m.total.Add(1)
	if len(m.mirrors) > 64 {
		extra = make([]bool, len(m.mirrors))
	}
	for i, t := range m.mirrors {
		for {
			c := t.count.Load()
			if c*100 >= total*t.percent {
				break
			}
			if t.count.CompareAndSwap(c, c+1) {
				if i < 64 {
					set |= 1 << i
				} else {
					extra[i] = true
				}
				break
			}
		}
	}
	return set, extra
}

func (m *mirrorService) serve(ctx *fasthttp.RequestCtx, st *reqState) {
	set, extra := m.activeMirrors()
	if set == 0 && extra == nil || ctx.Request.Header.IsConnect() || isWebSocket(&ctx.Request.Header) {
		// An upgraded connection is not mirrored: there is no answer to
		// discard but a connection to take over.
		m.main.serve(ctx, st)
		return
	}
	var body []byte
	if m.mirrorBody {
		var err error
		body, err = bufferBody(&ctx.Request, m.maxBody)
		switch {
		case errors.Is(err, errBodyTooLarge):
			m.main.serve(ctx, st) // not mirrored, the body sent as it came
			return
		case err != nil:
			httpError(ctx, fasthttp.StatusInternalServerError, "Internal Server Error\n")
			return
		}
	}
	var first [4]*mirrorJob
	jobs := first[:0]
	for i, t := range m.mirrors {
		if i < 64 && set&(1<<i) == 0 || i >= 64 && !extra[i] {
			continue
		}
		if !t.acquire() {
			t.dropped.Add(1)
			m.elog.mirrorDropped(m.name, t.name)
			continue
		}
		jobs = append(jobs, newMirrorJob(ctx, st, t, body, m.mirrorBody))
	}
	dispatched := false
	defer func() {
		if !dispatched { // the main service panicked: give the slots back
			for _, j := range jobs {
				j.t.releaseSlot()
				j.release()
			}
		}
	}()
	m.main.serve(ctx, st)
	dispatched = true
	for _, j := range jobs {
		j.t.sent.Add(1)
		go j.run(m.elog)
	}
}

// acquire takes an in-flight slot of the mirror, if both bounds allow.
func (t *mirrorTarget) acquire() bool {
	t.slots.Acquire()
	if n := mirrorsInFlight.Add(1); n > mirrorMaxInFlightTotal || t.slots.Inflight() > mirrorMaxInFlight {
		t.releaseSlot()
		return false
	}
	return true
}

func (t *mirrorTarget) releaseSlot() {
	mirrorsInFlight.Add(-1)
	t.slots.Release()
}

// mirrorJob is one mirrored request: a request context of its own, which
// the mirror service serves as the entry point would.
type mirrorJob struct {
	ctx  fasthttp.RequestCtx
	st   reqState
	conn mirrorConn
	t    *mirrorTarget
}

var mirrorJobs = sync.Pool{New: func() any { return new(mirrorJob) }}

// mirrorConn gives a mirror request the client's address.
type mirrorConn struct {
	net.Conn
	remote net.Addr
}

func (c *mirrorConn) RemoteAddr() net.Addr { return c.remote }
func (c *mirrorConn) LocalAddr() net.Addr  { return c.remote }

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

// newMirrorJob copies the request as the mirroring service received it.
// body is the buffered body when mirrorBody is on; it is shared, never
// modified.
func newMirrorJob(ctx *fasthttp.RequestCtx, st *reqState, t *mirrorTarget, body []byte, mirrorBody bool) *mirrorJob {
	j := mirrorJobs.Get().(*mirrorJob)
	j.t = t
	j.conn.remote = ctx.RemoteAddr()
	j.ctx.Init2(&j.conn, discardLogger{}, true)
	req := &j.ctx.Request
	ctx.Request.Header.CopyTo(&req.Header)
	switch {
	case mirrorBody && body != nil:
		req.SetBodyRaw(body)
	case req.Header.ContentLength() != 0:
		req.Header.SetContentLength(0) // the copy has no body
	}
	js, r := &j.st, &st.mw
	js.esc = append(js.esc[:0], r.EscapedPath()...)
	m := &js.mw
	m.Reset(js.esc)
	js.path = append(js.path[:0], r.Query...) // the query's copy
	js.host = append(js.host[:0], r.Host...)
	m.Query, m.HasQuery, m.Host = js.path, r.HasQuery, js.host
	m.ClientIP, m.Secure, m.NoXFF = r.ClientIP, r.Secure, r.NoXFF
	js.secure = st.secure
	js.creq.ClientIP = st.creq.ClientIP
	js.xffDone, js.xff = st.xffDone, append(js.xff[:0], st.xff...)
	js.hint.Reset()
	js.hint.Cookie = req.Header.Peek("Cookie")
	if st.hint.ClientIP != nil {
		js.ip = append(js.ip[:0], st.hint.ClientIP...)
		js.hint.ClientIP = js.ip
	}
	return j
}

// run sends the mirrored request and discards the answer.
func (j *mirrorJob) run(elog *errorLog) {
	defer func() {
		if p := recover(); p != nil {
			elog.mirrorPanic(j.t.name, p)
		}
		j.t.releaseSlot()
		j.release()
	}()
	j.t.s.serve(&j.ctx, &j.st)
	if !j.ctx.Hijacked() {
		j.ctx.Response.BodyWriteTo(io.Discard) // reads a streamed answer to its end (and closes it)
	}
}

func (j *mirrorJob) release() {
	j.ctx.Response.Reset()
	j.ctx.Request.Reset()
	j.ctx.ResetUserValues()
	j.st.hint.Reset()
	j.st.mw.Reset(nil)
	j.conn.remote, j.t = nil, nil
	mirrorJobs.Put(j)
}

func (e *errorLog) mirrorDropped(service, mirror string) {
	if dropped, ok := e.allow(); ok {
		e.log.Warn("mirror request dropped: too many in flight", "service", service, "mirror", mirror, "unlogged", dropped)
	}
}

func (e *errorLog) mirrorPanic(mirror string, p any) {
	if dropped, ok := e.allow(); ok {
		e.log.Error("panic serving a mirror request", "mirror", mirror, "panic", p, "unlogged", dropped)
	}
}
