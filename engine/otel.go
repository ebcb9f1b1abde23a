package engine

import (
	"context"
	"strings"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"

	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/engine/middleware"
	"github.com/edgeroute/edgeroute/engine/tracing"
)

// OpenTelemetry traces (--tracing): the engine's side of engine/tracing.
// Nothing here runs without a tracer (s.tracer nil): every hook is behind
// a nil check, so the request path stays allocation-free when tracing is
// off. Where Traefik opens its spans:
//   - the entry point span: after the forwarded headers and the routing
//     decision (its observability chain is per router), from the
//     request's start; ended with the metrics, when the answer is
//     complete (observation.record);
//   - detailed verbosity: "Metrics" (entry point metrics), "Router",
//     "Metrics" (router metrics), each traceable middleware by its
//     Traefik type name, "Service" and "Metrics" (service metrics);
//   - "ReverseProxy" around each request sent upstream (forward), whose
//     context goes upstream as traceparent.

// newTracer sets up the static configuration's tracer (nil when tracing
// is off).
func newTracer(static *Static, s *Server) (*tracing.Tracer, error) {
	if static.Tracing == nil {
		return nil, nil
	}
	return tracing.New(context.Background(), *static.Tracing, s.log)
}

// traceMode is whether a router's requests are traced, and with the
// detailed verbosity: the route's observability, else its entry point's,
// else on and minimal (Traefik's models and applyDefaultObservabilityModel).
func traceMode(r *spec.Router, ep *EntryPoint) (on, detailed bool) {
	on, verbosity := true, "minimal"
	if o := ep.Observability; o != nil {
		if o.Tracing != nil {
			on = *o.Tracing
		}
		if o.TraceVerbosity != "" {
			verbosity = o.TraceVerbosity
		}
	}
	if r != nil && r.Observability != nil {
		if t := r.Observability.Tracing; t != nil {
			on = *t
		}
		if v := r.Observability.TraceVerbosity; v != "" {
			verbosity = v
		}
	}
	return on, verbosity == "detailed"
}

// traceStart opens the entry point span of a request the entry point
// routed (or answered 404/421 itself, traced with the entry point's
// settings as Traefik's default handler is). Requests net/http answers
// before any handler in Traefik (400, 505, OPTIONS *) and internal
// routers (no addInternals) are not traced.
func (s *Server) traceStart(ctx *fasthttp.RequestCtx, ep *listener, st *reqState, d *decision) {
	var r *spec.Router
	switch {
	case d.router != nil:
		if isInternalRouter(d.router) {
			return
		}
		r = d.router.r
	case d.status == fasthttp.StatusNotFound, d.status == fasthttp.StatusMisdirectedRequest:
	default:
		return
	}
	on, detailed := traceMode(r, ep.cfg)
	if !on {
		return
	}
	st.tr = s.tracer.Start(tracing.Server{
		EntryPoint:     ep.name,
		Start:          st.start,
		Header:         &ctx.Request.Header,
		Path:           st.path,
		Query:          st.creq.Query,
		Remote:         ctx.RemoteAddr(),
		HTTP2:          h2StreamOf(ctx) != nil,
		Detailed:       detailed,
		ServiceMetrics: s.static.Metrics != nil && s.static.Metrics.AddServicesLabels,
	})
	if !detailed {
		return
	}
	m := s.static.Metrics
	if m != nil && m.AddEntryPointsLabels {
		st.tr.Enter("Metrics", attribute.String("traefik.middleware.name", "metrics-entrypoint"))
	}
	if r != nil {
		st.tr.Enter("Router", attribute.String("traefik.service.name", r.Service),
			attribute.String("traefik.router.name", r.Name), semconv.HTTPRoute(r.Rule))
		if m != nil && m.AddRoutersLabels {
			st.tr.Enter("Metrics", attribute.String("traefik.middleware.name", "metrics-router"))
		}
	}
}

// traceResponse notes the response headers to capture, once the answer's
// header is final (observeEnd).
func traceResponse(ctx *fasthttp.RequestCtx, st *reqState) {
	if st.tr != nil {
		st.tr.ResponseHeaders(&ctx.Response.Header)
	}
}

// traceForward opens the ReverseProxy span of a request about to be sent
// to u and writes its traceparent into the request (forward, upgrade).
func traceForward(st *reqState, req *fasthttp.Request, u *upstream) {
	if st.tr == nil {
		return
	}
	scheme, host, _ := strings.Cut(u.url, "://")
	if i := strings.IndexAny(host, "/?"); i >= 0 {
		host = host[:i]
	}
	st.tr.StartClient(tracing.Client{Scheme: scheme, Host: host, Req: req})
}

// traceForwarded closes the ReverseProxy span: the upstream's status, the
// status of the error, or none for an upgrade (the upstream's answer is
// relayed unread).
func traceForwarded(ctx *fasthttp.RequestCtx, st *reqState, err error) {
	if st.tr == nil {
		return
	}
	switch {
	case err != nil:
		st.tr.EndClient(errorStatus(err), nil)
	case ctx.Hijacked():
		st.tr.EndClient(0, nil)
	default:
		st.tr.EndClient(ctx.Response.StatusCode(), &ctx.Response.Header)
	}
}

// traceService opens the detailed Service span (and the service metrics'
// span) of a load balancer whose server is picked, and returns how many
// it opened, for traceLeave.
func (st *reqState) traceService(name string) int {
	if !st.tr.Detailed() {
		return 0
	}
	st.tr.Enter("Service", attribute.String("traefik.service.name", name))
	if st.tr.ServiceMetrics() {
		st.tr.Enter("Metrics", attribute.String("traefik.middleware.name", "metrics-service"))
		return 2
	}
	return 1
}

// traceLeave closes n spans traceService opened.
func (st *reqState) traceLeave(n int) {
	for ; n > 0; n-- {
		st.tr.Leave()
	}
}

// middlewareTypes are Traefik's tracing type names of the middleware
// kinds (GetTracingInformation); kinds missing here have no span (chain,
// contentType, grpcWeb and retry, whose per-attempt spans are not made;
// jwt is edgeroute's).
var middlewareTypes = map[string]string{
	"addPrefix": "AddPrefix", "basicAuth": "BasicAuth", "digestAuth": "digestAuth", "forwardAuth": "ForwardAuth",
	"buffering": "Buffer", "circuitBreaker": "CircuitBreaker", "compress": "Compress", "errors": "CustomError",
	"encodedCharacters": "EncodedCharacters", "headers": "Headers", "inFlightReq": "InFlightReq",
	"ipAllowList": "IPAllowLister", "ipWhiteList": "IPWhiteLister", "passTLSClientCert": "PassClientTLSCert",
	"rateLimit": "RateLimiter", "redirectRegex": "Redirect", "redirectScheme": "Redirect",
	"replacePath": "ReplacePath", "replacePathRegex": "ReplacePathRegex", "stripPrefix": "StripPrefix",
	"stripPrefixRegex": "StripPrefixRegex",
}

// tracedWrap is b's Middleware, with a span of its own around it when the
// request is traced with the detailed verbosity. Without tracing
// configured the middleware is left as it is.
func tracedWrap(b *middleware.Built, tracing bool) middleware.Middleware {
	typ, ok := middlewareTypes[b.Def.Kind]
	if !tracing || !ok {
		return b.Wrap
	}
	name := attribute.String("traefik.middleware.name", b.Def.Name)
	return func(next middleware.Handler) middleware.Handler {
		inner := b.Wrap(next)
		return func(ctx *fasthttp.RequestCtx, r *middleware.Request) {
			tr := stateOf(r).tr
			if !tr.Detailed() {
				inner(ctx, r)
				return
			}
			tr.Enter(typ, name)
			inner(ctx, r)
			tr.Leave()
		}
	}
}
