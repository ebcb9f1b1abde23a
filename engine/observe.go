package engine

import (
	"net"
	"net/netip"

	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"github.com/edgeroute/edgeroute/engine/accesslog"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/engine/metrics"
	"github.com/edgeroute/edgeroute/engine/middleware"
	"github.com/edgeroute/edgeroute/engine/tracing"
)

// Metrics are recorded when a request's answer is complete: at once for
// a buffered body, when fasthttp closes a streamed one (every proxied
// answer streams), so that durations and sizes cover the whole body, as
// Traefik's metrics middleware measures them around its proxy.

// observeStart notes what metrics need before the request is routed:
// the start, and the protocol as Traefik tells it from the request as
// received (before hop-by-hop headers are removed).
func (s *Server) observeStart(ctx *fasthttp.RequestCtx, st *reqState) {
	st.start = time.Now()
	h := &ctx.Request.Header
	st.proto = requestProtocol(h)
	st.reqBytes = int64(h.ContentLength())
	if st.reqBytes < 0 {
		st.reqBytes = 0 // chunked: not known in advance (see README)
	}
}

// requestProtocol is Traefik's getRequestProtocol.
func requestProtocol(h *fasthttp.RequestHeader) metrics.Protocol {
	switch ct := h.ContentType(); {
	case h.ConnectionUpgrade() && containsFold(h.Peek("Upgrade"), "websocket"):
		return metrics.WebSocket
	case containsFold(h.Peek("Accept"), "text/event-stream"):
		return metrics.SSE
	case bytes.HasPrefix(ct, []byte("application/grpc-web")):
		return metrics.GRPCWeb
	case bytes.HasPrefix(ct, []byte("application/grpc")):
		return metrics.GRPC
	}
	return metrics.HTTP
}

// containsFold tells whether b contains sub (lower case), ignoring case.
func containsFold(b []byte, sub string) bool {
	for i := 0; i+len(sub) <= len(b); i++ {
		if equalFoldBytes(b[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// observation is what one answer records, once it is complete.
type observation struct {
	ep, router, service *metrics.Family
	// parents are the router metrics of the parent routers the request
	// went through (multi-layer routing), each recorded as Traefik's
	// router metrics middleware does on every layer.
	parents  []*metrics.Family
	method   []byte
	proto    metrics.Protocol
	code     int
	start    time.Time
	reqBytes int64
	retries  int
	alog     *accesslog.Logger
	rec      *accesslog.Record // nil unless the access log is on
	tr       *tracing.Request  // the entry point span; nil unless traced
}

func (o *observation) record(respBytes int64, grpcStatus []byte) {
	code := o.code
	if o.proto == metrics.GRPC || o.proto == metrics.GRPCWeb {
		// Traefik reports a gRPC call's grpc-status, Unknown (2) when
		// there is none.
		code = 2
		if n, err := strconv.Atoi(string(grpcStatus)); err == nil && len(grpcStatus) > 0 {
			code = n
		}
	}
	d := time.Since(o.start)
	if o.tr != nil {
		o.tr.End(o.code) // the HTTP status, also for gRPC (Traefik's recorder)
		o.tr = nil
	}
	if o.rec != nil {
		r := o.rec
		r.Duration, r.OriginDuration = d, d
		r.DownstreamStatus, r.OriginStatus = o.code, o.code // HTTP's, also for gRPC
		r.DownstreamContentSize, r.OriginContentSize = respBytes, respBytes
		r.RetryAttempts = o.retries
		if o.alog.Keep(o.code, o.retries, d) { // the HTTP status
			o.alog.Log(r)
		}
		recordPool.Put(r)
		o.rec = nil
	}
	for _, f := range []*metrics.Family{o.ep, o.router, o.service} {
		if f != nil {
			f.Observe(o.method, o.proto, code, d, o.reqBytes, respBytes)
		}
	}
	for _, f := range o.parents {
		if f != nil {
			f.Observe(o.method, o.proto, code, d, o.reqBytes, respBytes)
		}
	}
	if o.service != nil {
		o.service.Retried(o.retries)
	}
}

// observeEnd records the request's metrics, or arranges for its streamed
// body to record them when it ends.
func (s *Server) observeEnd(ctx *fasthttp.RequestCtx, ep *listener, st *reqState) {
	o := observation{ep: ep.mEP, method: ctx.Request.Header.Method(), proto: st.proto, start: st.start, reqBytes: st.reqBytes}
	if rr := st.leaf(); rr != nil {
		o.router, o.service = rr.mRouter, rr.mService
		o.retries = st.mw.Attempt
	}
	logs, meter := observed(st.router, ep.cfg) // the observability toggles (observability.go)
	if !meter {
		o.ep, o.router, o.service = nil, nil, nil
	}
	if len(st.hops) > 0 && meter {
		st.parents = append(st.parents[:0], st.router.mRouter)
		for _, h := range st.hops[:len(st.hops)-1] {
			st.parents = append(st.parents, h.mRouter)
		}
		o.parents = st.parents
	}
	if o.ep != nil && st.secure {
		if c, ok := ctx.Conn().(interface{ ConnectionState() tls.ConnectionState }); ok {
			cs := c.ConnectionState()
			ep.mEP.ObserveTLS(cs.Version, cs.CipherSuite)
		}
	}
	if s.alog != nil && logs {
		o.alog, o.rec = s.alog, s.logRecord(ctx, st)
	}
	if st.tr != nil {
		traceResponse(ctx, st)
		o.tr, st.tr = st.tr, nil
	}
	resp := &ctx.Response
	if stream := h2StreamOf(ctx); stream != nil && stream.done {
		// Relayed straight to an HTTP/2 client, body and all.
		o.code = stream.status
		o.record(stream.bytes, stream.grpcStatus)
		return
	}
	o.code = resp.StatusCode()
	if !resp.IsBodyStream() {
		n := int64(len(resp.Body()))
		if ctx.Request.Header.IsHead() {
			n = 0
		}
		o.record(n, resp.Header.Peek("Grpc-Status"))
		return
	}
	src, err := middleware.TakeResponseBodyStream(resp)
	if err != nil || src == nil {
		o.record(0, nil)
		return
	}
	b := observedPool.Get().(*observedBody)
	b.src, b.obs, b.n, b.hdr = src, o, 0, &resp.Header
	b.method = append(b.method[:0], o.method...) // the request may be reused before the body ends
	b.obs.method = b.method
	b.parents = append(b.parents[:0], o.parents...) // so may st
	b.obs.parents = b.parents
	resp.SetBodyStream(b, resp.Header.ContentLength())
}

// observedBody counts a streamed answer's bytes and records its metrics
// when fasthttp closes it (written, or abandoned).
type observedBody struct {
	src     io.Reader
	obs     observation
	n       int64
	hdr     *fasthttp.ResponseHeader
	method  []byte
	parents []*metrics.Family
}

var observedPool = sync.Pool{New: func() any { return new(observedBody) }}

func (b *observedBody) Read(p []byte) (int, error) {
	n, err := b.src.Read(p)
	b.n += int64(n)
	return n, err
}

// CloseWithError is fasthttp's close of a body stream.
func (b *observedBody) CloseWithError(err error) error {
	grpc := b.hdr.Peek("Grpc-Status") // the header (trailers-only) or the trailer section
	b.obs.record(b.n, grpc)
	cerr := middleware.CloseBodyStream(b.src, err)
	b.src, b.hdr = nil, nil
	clear(b.parents)
	observedPool.Put(b)
	return cerr
}

// serveMetrics answers /metrics with the Prometheus text format.
func (s *Server) serveMetrics(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.SetContentType("text/plain; version=0.0.4; charset=utf-8")
	var buf bytes.Buffer
	s.metrics.Write(&buf)
	ctx.SetBody(buf.Bytes())
}

// attachMetrics gives a new runtime's routers their metric families and
// registers its configuration-dependent gauges: each server's health
// (traefik_service_server_up) and each certificate's expiry
// (traefik_tls_certs_not_after).
func (s *Server) attachMetrics(rt *Runtime) {
	if s.metrics == nil {
		return
	}
	s.metrics.Reloaded(true)
	for _, m := range []map[string]*entryRuntime{rt.entry, rt.secure} {
		for _, e := range m {
			for _, rr := range e.routers {
				if rr == nil || isInternalRouter(rr) {
					continue // not measured, as in Traefik (no addInternals)
				}
				s.attachRouterMetrics(rr)
			}
		}
	}
	for _, m := range rt.children {
		for _, rr := range m.routers {
			s.attachRouterMetrics(rr)
		}
	}
	var gs []metrics.Gauge
	reg := s.reg
	for _, lbs := range rt.lbs {
		for _, sv := range lbs {
			for _, srv := range rt.snapshot.Endpoints[sv.def.LoadBalancer.EndpointsKey] {
				key := sv.def.Name + " " + srv.URL
				gs = append(gs, metrics.Gauge{Name: "traefik_service_server_up",
					Labels: map[string]string{"service": sv.def.Name, "url": srv.URL},
					Value: func() float64 {
						if reg.State(key).Up() {
							return 1
						}
						return 0
					}})
			}
		}
	}
	gs = append(gs, certGauges(rt)...)
	s.metrics.SetGauges(gs)
}

// attachRouterMetrics gives a router its families: a parent router's
// are labelled with Traefik's name for its children table,
// "NAME-muxer", and it has no service family (its child's service
// records the request).
func (s *Server) attachRouterMetrics(rr *routerRuntime) {
	if _, parent := rr.service.(*childMux); parent {
		rr.mRouter = s.metrics.Router(rr.r.Name, rr.r.Name+"-muxer")
		return
	}
	rr.mRouter = s.metrics.Router(rr.r.Name, rr.r.Service)
	rr.mService = s.metrics.Service(rr.r.Service)
}

// certGauges are traefik_tls_certs_not_after{cn,serial,sans} of the
// configuration's certificates: each one's expiry, Unix seconds.
func certGauges(rt *Runtime) []metrics.Gauge {
	t := rt.snapshot.TLS
	if t == nil {
		return nil
	}
	certs := t.Certificates
	if t.Default != nil {
		certs = append(certs[:len(certs):len(certs)], *t.Default)
	}
	var gs []metrics.Gauge
	seen := map[string]bool{}
	for _, c := range certs {
		block, _ := pem.Decode(c.CertPEM)
		if block == nil {
			continue
		}
		x, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			continue
		}
		id := x.SerialNumber.String() + "/" + x.Subject.CommonName
		if seen[id] {
			continue
		}
		seen[id] = true
		notAfter := float64(x.NotAfter.Unix())
		gs = append(gs, metrics.Gauge{Name: "traefik_tls_certs_not_after",
			Labels: map[string]string{"cn": x.Subject.CommonName, "serial": x.SerialNumber.String(), "sans": strings.Join(x.DNSNames, ",")},
			Value:  func() float64 { return notAfter }})
	}
	return gs
}

var recordPool = sync.Pool{New: func() any { return new(accesslog.Record) }}

// logRecord fills an access-log record with what the request said; the
// answer's fields are filled when it is complete.
func (s *Server) logRecord(ctx *fasthttp.RequestCtx, st *reqState) *accesslog.Record {
	r := recordPool.Get().(*accesslog.Record)
	r.Reset()
	h := &ctx.Request.Header
	r.Start = st.start
	if a, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		r.Client = a.AddrPort()
		r.Client = netip.AddrPortFrom(r.Client.Addr().Unmap(), r.Client.Port())
	}
	if ip := st.creq.ClientIP; ip.IsValid() && r.Client.Addr() != ip {
		r.Client = netip.AddrPortFrom(ip, 0) // PROXY protocol source
	}
	r.RequestHost = r.Copy(h.Host())
	r.RequestMethod = r.Copy(h.Method())
	r.RequestPath = r.Copy(h.RequestURI())
	switch {
	case h2StreamOf(ctx) != nil:
		r.RequestProtocol = "HTTP/2.0"
	case h.IsHTTP11():
		r.RequestProtocol = "HTTP/1.1"
	default:
		r.RequestProtocol = "HTTP/1.0"
	}
	r.RequestScheme = "http"
	if st.secure {
		r.RequestScheme = "https"
		if c, ok := ctx.Conn().(interface{ ConnectionState() tls.ConnectionState }); ok {
			cs := c.ConnectionState()
			r.TLSVersion, r.TLSCipher = metrics.TLSVersionName(cs.Version), metrics.TLSCipherName(cs.CipherSuite)
		}
	}
	r.RequestContentSize = st.reqBytes
	if st.tr != nil { // TraceId and SpanId: the entry point span's, sampled or not
		sc := st.tr.SpanContext()
		r.TraceID, r.SpanID = sc.TraceID(), sc.SpanID()
	}
	if st.router != nil && len(st.mw.User) > 0 { // routed: st.mw was reset for this request
		r.ClientUsername = r.Copy(st.mw.User)
	}
	if rr := st.leaf(); rr != nil {
		r.RouterName, r.ServiceName, r.ServiceURL = rr.r.Name, rr.r.Service, st.upURL
		if len(st.hops) > 0 {
			// Traefik's access log names every layer: "parent -> child".
			r.RouterName = r.AppendString(st.appendRouterPath)
		}
		if u := st.upURL; u != "" {
			if i := strings.Index(u, "://"); i >= 0 {
				r.ServiceAddr = u[i+3:]
			}
		}
	}
	if !s.alog.JSON() {
		// The CLF formats show Referer and User-Agent only.
		for _, name := range [...]string{"Referer", "User-Agent"} {
			if v := h.Peek(name); len(v) > 0 {
				r.RequestHeaders = append(r.RequestHeaders, accesslog.Header{Name: r.Copy([]byte(name)), Value: r.Copy(v)})
			}
		}
	} else if s.alog.HeadersConfigured() {
		for k, v := range h.All() {
			if s.alog.WantsHeader(string(k)) {
				r.RequestHeaders = append(r.RequestHeaders, accesslog.Header{Name: r.Copy(k), Value: r.Copy(v)})
			}
		}
		for k, v := range ctx.Response.Header.All() {
			if s.alog.WantsHeader(string(k)) {
				r.DownstreamHeaders = append(r.DownstreamHeaders, accesslog.Header{Name: r.Copy(k), Value: r.Copy(v)})
			}
		}
	}
	return r
}
