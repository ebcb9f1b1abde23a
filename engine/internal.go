package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// Traefik's internal provider (pkg/provider/traefik/internal.go): the
// routers and middlewares it adds for ping, the Prometheus metrics, the
// API and the dashboard, and the internal services (name@internal) that
// they, and IngressRoutes (kind TraefikService), send requests to.

// InternalProvider is the provider suffix of the internal routers,
// middlewares and services.
const InternalProvider = "@internal"

// IsInternal tells a name of the internal provider ("api@internal").
func IsInternal(name string) bool { return strings.HasSuffix(name, InternalProvider) }

// Internal service names.
const (
	APIService        = "api@internal"
	DashboardService  = "dashboard@internal"
	PingService       = "ping@internal"
	PrometheusService = "prometheus@internal"
	NoopService       = "noop@internal"
)

// InternalServices lists the internal services static enables, by name,
// as Traefik's internal provider declares them.
func InternalServices(static *Static) []string {
	var out []string
	if static.API != nil {
		out = append(out, APIService)
		if static.API.Dashboard {
			out = append(out, DashboardService)
		}
	}
	out = append(out, NoopService)
	if static.Ping {
		out = append(out, PingService)
	}
	if static.Metrics != nil {
		out = append(out, PrometheusService)
	}
	slices.Sort(out)
	return out
}

// Traefik's dashboard middlewares, on the router dashboard@internal.
const (
	dashboardRedirect    = "dashboard_redirect@internal"
	dashboardStripPrefix = "dashboard_stripprefix@internal"
)

// internalRouters returns the routers and middlewares of the internal
// provider for static, with Traefik's names, rules and priorities (above
// every user priority): ping and the metrics on their entry points unless
// routed manually, the API and the dashboard on the traefik entry point
// with api.insecure.
func internalRouters(static *Static) ([]spec.Router, []*spec.Middleware) {
	var routers []spec.Router
	var mws []*spec.Middleware
	router := func(name, entryPoint, rule string, priority int64, mw ...string) {
		routers = append(routers, spec.Router{Name: name + InternalProvider, Ref: spec.Ref{Kind: "Router", Name: name + InternalProvider},
			EntryPoints: []string{entryPoint}, Rule: rule, Priority: priority, Syntax: "default", Service: name + InternalProvider, Middlewares: mw})
	}
	routers = append(routers, acmeRouter(static)...)
	if static.Ping && !static.PingManualRouting {
		router("ping", static.PingEntryPoint, "PathPrefix(`/ping`)", math.MaxInt64)
	}
	if m := static.Metrics; m != nil && !m.ManualRouting {
		router("prometheus", m.EntryPoint, "PathPrefix(`/metrics`)", math.MaxInt64)
	}
	if a := static.API; a != nil && a.Insecure {
		router("api", "traefik", "PathPrefix(`/api`)", math.MaxInt64-1)
		if a.Dashboard {
			router("dashboard", "traefik", "PathPrefix(`/`)", math.MaxInt64-2, dashboardRedirect, dashboardStripPrefix)
			mw := func(name, kind string, config any) {
				raw, _ := json.Marshal(config)
				mws = append(mws, &spec.Middleware{Name: name, Ref: spec.Ref{Kind: "Middleware", Name: name}, Kind: kind, Config: raw})
			}
			mw(dashboardRedirect, "redirectRegex", map[string]any{
				"regex":       `^(http:\/\/(\[[\w:.]+\]|[\w\._-]+)(:\d+)?)\/$`,
				"replacement": "${1}/dashboard/",
				"permanent":   true,
			})
			mw(dashboardStripPrefix, "stripPrefix", map[string]any{"prefixes": []string{"/dashboard/", "/dashboard"}})
		}
	}
	return routers, mws
}

// internalSnapshot returns snap with the internal provider's routers (in
// front) and middlewares added, or snap itself when static asks for none.
// The copy shares everything else with snap (its Endpoints, which
// UpdateEndpoints changes in place, included).
func internalSnapshot(static *Static, snap *spec.Snapshot) *spec.Snapshot {
	routers, mws := internalRouters(static)
	if len(routers) == 0 {
		return snap
	}
	out := *snap
	out.Routers = append(append(make([]spec.Router, 0, len(routers)+len(snap.Routers)), routers...), snap.Routers...)
	if len(mws) > 0 {
		out.Middlewares = maps.Clone(snap.Middlewares)
		if out.Middlewares == nil {
			out.Middlewares = map[string]*spec.Middleware{}
		}
		for _, m := range mws {
			out.Middlewares[m.Name] = m
		}
	}
	return &out
}

// internalService serves one internal service. Apply binds it to its
// server; in tools (explain, check) it stays unbound and is never served.
type internalService struct {
	name string
	srv  *Server
}

// newInternalService checks that static enables the internal service
// name, with Traefik's errors for those it does not.
func newInternalService(static *Static, name string) (*internalService, error) {
	switch name {
	case NoopService:
	case APIService:
		if static.API == nil {
			return nil, errors.New("api is not enabled")
		}
	case DashboardService:
		if static.API == nil || !static.API.Dashboard {
			return nil, errors.New("dashboard is not enabled")
		}
	case PingService:
		if !static.Ping {
			return nil, errors.New("ping is not enabled")
		}
	case PrometheusService:
		if static.Metrics == nil {
			return nil, errors.New("prometheus is not enabled")
		}
	case ACMEHTTPService:
		if len(acmeHTTPEntryPoints(static)) == 0 {
			return nil, errors.New("HTTP challenge is not enabled")
		}
	default:
		return nil, fmt.Errorf("unknown internal service %s", name)
	}
	return &internalService{name: name}, nil
}

func (is *internalService) serve(ctx *fasthttp.RequestCtx, st *reqState) {
	// The request as the router's middlewares left it (a stripped
	// prefix, say), as Traefik's handlers receive it.
	setForwardURI(&ctx.Request, st)
	s := is.srv
	switch {
	case is.name == NoopService:
		ctx.SetStatusCode(fasthttp.StatusTeapot)
	case s == nil:
		ctx.Error(fasthttp.StatusMessage(fasthttp.StatusServiceUnavailable), fasthttp.StatusServiceUnavailable)
	case is.name == PingService:
		// Traefik's ping handler: 200 OK, then 503 once shutdown began,
		// for any method and any path under /ping.
		code := fasthttp.StatusOK
		if s.draining.Load() {
			code = fasthttp.StatusServiceUnavailable
		}
		ctx.SetStatusCode(code)
		ctx.Response.Header.SetContentType(textPlain)
		ctx.SetBodyString(fasthttp.StatusMessage(code))
	case is.name == PrometheusService:
		s.serveMetrics(ctx)
	case is.name == ACMEHTTPService:
		s.serveACMEHTTP(ctx)
	default:
		h := s.internal[is.name]
		if h == nil {
			ctx.Error(is.name+" has no handler", fasthttp.StatusServiceUnavailable)
			return
		}
		h(ctx)
	}
}

// SetInternalHandler gives an internal service implemented outside the
// engine (api@internal and dashboard@internal, in engine/api) its
// handler. Call it before Listen.
func (s *Server) SetInternalHandler(service string, h http.Handler) {
	if s.internal == nil {
		s.internal = map[string]fasthttp.RequestHandler{}
	}
	s.internal[service] = fasthttpadaptor.NewFastHTTPHandler(h)
}

// bindInternal points a new runtime's internal services at s, before the
// runtime serves.
func (s *Server) bindInternal(rt *Runtime) {
	for _, is := range rt.internals {
		is.srv = s
	}
}

// isInternalRouter tells a router whose service is internal: as in
// Traefik (without addInternals), its requests are neither counted in
// the metrics nor written to the access log.
func isInternalRouter(rr *routerRuntime) bool {
	return rr != nil && IsInternal(rr.r.Service)
}

// Static returns the static configuration the server runs.
func (s *Server) Static() *Static { return s.static }

// View runs fn on the runtime in service while no configuration change
// applies (UpdateEndpoints changes the runtime's endpoint tables in
// place): for reports such as the API, which read the whole runtime.
func (s *Server) View(fn func(rt *Runtime)) {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	fn(s.rt.Load())
}

// ServerUp tells whether the server url of the load-balancer service is
// up (active and passive health checks), and whether the server is known.
func (s *Server) ServerUp(service, url string) (up, known bool) {
	st, ok := s.reg.Lookup(service + " " + url)
	if !ok {
		return false, false
	}
	return st.Up(), true
}

// DefaultEntryPoints are the entry points of the routers that name none:
// those with asDefault, or else all of them, sorted.
func (s *Static) DefaultEntryPoints() []string {
	eps := defaultEntryPoints(s)
	slices.Sort(eps)
	return eps
}
