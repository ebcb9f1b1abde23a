package tracing

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
)

// Server is what the entry point span records of a request, as Traefik's
// CaptureServerRequest reads it from the request its observability chain
// sees: after the forwarded headers, with the sanitised path.
type Server struct {
	EntryPoint string
	Start      time.Time
	Header     *fasthttp.RequestHeader // after forwarded headers (X-Forwarded-Proto is url.scheme)
	Path       []byte                  // the routing path: decoded, sanitised (url.path)
	Query      []byte                  // the raw query (url.query, redacted)
	Remote     net.Addr                // the client connection's peer
	HTTP2      bool
	// Detailed adds the router, middleware and service spans;
	// ServiceMetrics, the service metrics' span inside each service span
	// (Traefik's metrics middleware is traceable).
	Detailed, ServiceMetrics bool
}

// Request holds one request's spans, from Start to End. It is pooled:
// after End it must not be used.
type Request struct {
	t          *Tracer
	ctx        context.Context // the innermost open span's context
	server     trace.Span
	client     trace.Span
	detailed   bool
	svcMetrics bool
	// stack holds the contexts to return to when internal spans end.
	stack []context.Context
	attrs []attribute.KeyValue
}

var requestPool = sync.Pool{New: func() any { return new(Request) }}

// Start opens the entry point span of a request, continuing the trace
// its headers carry (traceparent), named by the method (Traefik's choice:
// {target} is not known to be of low cardinality).
func (t *Tracer) Start(s Server) *Request {
	r := requestPool.Get().(*Request)
	r.t, r.detailed, r.svcMetrics = t, s.Detailed, s.ServiceMetrics
	h := s.Header
	ctx := t.prop.Extract(context.Background(), requestCarrier{h})
	method := string(h.Method())
	r.ctx, r.server = t.tr.Start(ctx, method, trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(s.Start))
	if !r.server.IsRecording() {
		return r // not sampled: its attributes would be dropped, so they are not computed
	}
	a := r.attrs[:0]
	a = append(a, attribute.String("entry_point", s.EntryPoint),
		semconv.HTTPRequestMethodKey.String(method),
		semconv.NetworkProtocolVersion(serverProto(h, s.HTTP2)),
		semconv.HTTPRequestBodySize(bodySize(h)),
		semconv.URLPath(string(s.Path)),
		semconv.URLQuery(t.redact(semicolons(s.Query))),
		semconv.URLScheme(string(h.Peek("X-Forwarded-Proto"))),
		semconv.UserAgentOriginal(string(h.UserAgent())),
		semconv.ServerAddress(string(h.Host())))
	if host, port, err := net.SplitHostPort(addrString(s.Remote)); err == nil {
		p, _ := strconv.Atoi(port)
		a = append(a, semconv.NetworkPeerAddress(host), semconv.ClientAddress(host),
			semconv.ClientPort(p), semconv.NetworkPeerPort(p))
	} else {
		a = append(a, semconv.ClientAddress(addrString(s.Remote)), semconv.NetworkPeerAddress(string(h.Host())))
	}
	a = t.appendRequestHeaders(a, h)
	r.server.SetAttributes(a...)
	r.attrs = a[:0]
	return r
}

// SpanContext is the entry point span's (the access log's TraceId and
// SpanId): valid, sampled or not, once started.
func (r *Request) SpanContext() trace.SpanContext { return r.server.SpanContext() }

// Detailed tells whether the router, middlewares and services get spans.
func (r *Request) Detailed() bool { return r != nil && r.detailed }

// ResponseHeaders records the captured response headers of the answer
// on the entry point span.
func (r *Request) ResponseHeaders(h *fasthttp.ResponseHeader) {
	r.t.captureHeaders(r.server, h, &r.attrs)
}

// ServiceMetrics tells whether service spans hold a metrics span.
func (r *Request) ServiceMetrics() bool { return r.svcMetrics }

// End closes the entry point span with the status the client got, and
// releases r.
func (r *Request) End(code int) {
	if r.client != nil { // a forward that never came back (panic)
		r.client.End()
		r.client = nil
	}
	for len(r.stack) > 0 { // internal spans left open the same way
		r.Leave()
	}
	captureStatus(r.server, code, trace.SpanKindServer)
	r.server.End()
	r.server, r.ctx, r.t = nil, nil, nil
	requestPool.Put(r)
}

// Enter opens an internal span (detailed verbosity): "Router", "Service",
// or a middleware's type name, with its attributes. Leave closes it.
func (r *Request) Enter(name string, attrs ...attribute.KeyValue) {
	r.stack = append(r.stack, r.ctx)
	r.ctx, _ = r.t.tr.Start(r.ctx, name, trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attrs...))
}

// Leave closes the innermost span Enter opened.
func (r *Request) Leave() {
	trace.SpanFromContext(r.ctx).End()
	n := len(r.stack) - 1
	r.ctx, r.stack[n] = r.stack[n], nil
	r.stack = r.stack[:n]
}

// Client is the request as it goes upstream: its URL's scheme and
// host:port, and the request (its URI is the forwarded one).
type Client struct {
	Scheme, Host string
	Req          *fasthttp.Request
}

// StartClient opens the "ReverseProxy" span of a request sent upstream
// (Traefik's observability round tripper) and writes its context into the
// request's headers (traceparent). EndClient closes it.
func (r *Request) StartClient(c Client) {
	t, h := r.t, &c.Req.Header
	var ctx context.Context
	ctx, r.client = t.tr.Start(r.ctx, "ReverseProxy", trace.WithSpanKind(trace.SpanKindClient))
	// Captured before the span's context is written, as Traefik does.
	defer t.prop.Inject(ctx, requestCarrier{h})
	if !r.client.IsRecording() {
		return
	}
	uri := h.RequestURI()
	path, query := uri, []byte(nil)
	for i, b := range uri {
		if b == '?' {
			path, query = uri[:i], uri[i+1:]
			break
		}
	}
	full := c.Scheme + "://" + c.Host + string(path)
	if q := t.redact(query); q != "" {
		full += "?" + q
	}
	a := r.attrs[:0]
	a = append(a, semconv.HTTPRequestMethodKey.String(string(h.Method())),
		semconv.NetworkProtocolVersion("1.1"), // Traefik's proxy sends HTTP/1.1 (HTTP/2 below it is the transport's)
		semconv.URLFull(full),
		semconv.URLScheme(c.Scheme),
		semconv.UserAgentOriginal(string(h.UserAgent())))
	if host, port, err := net.SplitHostPort(c.Host); err == nil {
		p, _ := strconv.Atoi(port)
		a = append(a, semconv.NetworkPeerAddress(host), semconv.NetworkPeerPort(p),
			semconv.ServerAddress(host), semconv.ServerPort(p))
	} else {
		a = append(a, semconv.NetworkPeerAddress(""), semconv.ServerAddress(c.Host))
		switch c.Scheme {
		case "http":
			a = append(a, semconv.NetworkPeerPort(80), semconv.ServerPort(80))
		case "https":
			a = append(a, semconv.NetworkPeerPort(443), semconv.ServerPort(443))
		}
	}
	a = t.appendRequestHeaders(a, h)
	r.client.SetAttributes(a...)
	r.attrs = a[:0]
}

// EndClient closes the ReverseProxy span with the upstream's status (the
// status Traefik computes from the error when it failed; 0 when it is not
// known, for a protocol upgrade) and its captured headers (h may be nil).
func (r *Request) EndClient(code int, h *fasthttp.ResponseHeader) {
	if r.client == nil {
		return
	}
	captureStatus(r.client, code, trace.SpanKindClient)
	r.t.captureHeaders(r.client, h, &r.attrs)
	r.client.End()
	r.client = nil
}

// captureStatus is the status half of Traefik's CaptureResponse; a code
// of 0 (not known) sets neither the status nor the attribute.
func captureStatus(span trace.Span, code int, kind trace.SpanKind) {
	if code == 0 {
		return
	}
	switch {
	case code < 100 || code >= 600:
		span.SetStatus(codes.Error, fmt.Sprintf("Invalid HTTP status code %d", code))
	case code >= 500, kind == trace.SpanKindClient && code >= 400:
		span.SetStatus(codes.Error, "")
	}
	span.SetAttributes(semconv.HTTPResponseStatusCode(code))
}

// captureHeaders is the headers half: http.response.header.<name>.
func (t *Tracer) captureHeaders(span trace.Span, h *fasthttp.ResponseHeader, buf *[]attribute.KeyValue) {
	if h == nil || len(t.capturedResponseHeaders) == 0 {
		return
	}
	a := (*buf)[:0]
	for i, name := range t.capturedResponseHeaders {
		var vs []string
		for _, v := range h.PeekAll(name) {
			vs = append(vs, string(v))
		}
		if vs != nil {
			a = append(a, t.respHeaderKeys[i].StringSlice(vs))
		}
	}
	span.SetAttributes(a...)
	*buf = a[:0]
}

// appendRequestHeaders adds the captured request headers (User-Agent is
// user_agent.original already).
func (t *Tracer) appendRequestHeaders(a []attribute.KeyValue, h *fasthttp.RequestHeader) []attribute.KeyValue {
	for i, name := range t.capturedRequestHeaders {
		if name == "User-Agent" {
			continue
		}
		var vs []string
		for _, v := range h.PeekAll(name) {
			vs = append(vs, string(v))
		}
		if vs != nil {
			a = append(a, t.reqHeaderKeys[i].StringSlice(vs))
		}
	}
	return a
}

// redact is Traefik's safeURL on a query: every value of a parameter not
// in safeQueryParams becomes REDACTED, and the query is re-encoded by
// net/url (sorted by key; pairs net/url cannot parse are dropped).
func (t *Tracer) redact(raw []byte) string {
	if len(raw) == 0 {
		return ""
	}
	q, _ := url.ParseQuery(string(raw))
	for k := range q {
		if !slices.Contains(t.safeQuery, k) {
			q.Set(k, "REDACTED")
		}
	}
	return q.Encode()
}

// serverProto is Traefik's proto(r.Proto): "1.0", "1.1", and for HTTP/2
// Go's "HTTP/2.0", which Traefik's switch (on "HTTP/2") leaves as it is.
func serverProto(h *fasthttp.RequestHeader, h2 bool) string {
	switch {
	case h2:
		return "HTTP/2.0"
	case h.IsHTTP11():
		return "1.1"
	}
	return "1.0"
}

// bodySize is Go's Request.ContentLength: the Content-Length, -1 for a
// chunked body, 0 without a body (fasthttp's -2).
func bodySize(h *fasthttp.RequestHeader) int {
	if n := h.ContentLength(); n >= -1 {
		return n
	}
	return 0
}

// semicolons is net/http's AllowQuerySemicolons, which Traefik's entry
// points apply before routing (encodeQuerySemicolons off): ';' separates
// parameters as '&' does.
func semicolons(q []byte) []byte {
	if bytes.IndexByte(q, ';') < 0 {
		return q
	}
	return bytes.ReplaceAll(q, []byte(";"), []byte("&"))
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// requestCarrier reads and writes propagation headers of a fasthttp
// request.
type requestCarrier struct{ h *fasthttp.RequestHeader }

func (c requestCarrier) Get(k string) string { return string(c.h.Peek(k)) }
func (c requestCarrier) Set(k, v string)     { c.h.Set(k, v) }

// Keys lists the header names as received (RawHeaders: All would parse
// the Cookie lines, which are forwarded byte for byte).
func (c requestCarrier) Keys() []string {
	var ks []string
	for _, line := range bytes.Split(c.h.RawHeaders(), []byte("\n")) {
		if i := bytes.IndexByte(line, ':'); i > 0 {
			ks = append(ks, string(bytes.TrimSpace(line[:i])))
		}
	}
	return ks
}
