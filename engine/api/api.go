// Package api is Traefik's API, served by the internal service
// api@internal: /api/rawdata, /api/overview, /api/entrypoints,
// /api/http/{routers,services,middlewares}, their /api/tcp and /api/udp
// counterparts (empty: edgeroute has no TCP or UDP routers) and
// /api/version, with Traefik's JSON shapes, filters (search, status,
// serviceName, middlewareName), sorting (sortBy, direction), pagination
// (per_page, page, X-Next-Page) and errors (pkg/api). edgeroute adds
// /api/explain (what `edgeroute explain --json` prints) and /api/problems
// (what the configuration's translation and build reported). With
// api.dashboard, api@internal also serves the dashboard under
// /dashboard/, and dashboard@internal serves it alone
// (engine/api/dashboard).
package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/engine"
	"github.com/edgeroute/edgeroute/engine/api/dashboard"
)

// Version is edgeroute's version as /api/version reports it: set at
// link time (-ldflags "-X github.com/edgeroute/edgeroute/engine/api.Version=v1.2.3"),
// else the module's version when built from a tagged module, else "dev".
var Version = ""

// Codename is /api/version's Codename.
const Codename = "edgeroute"

// Handler is the handler of api@internal.
type Handler struct {
	srv       *engine.Server
	static    *engine.Static
	basePath  string // api.basePath without its trailing slash
	dashboard bool
	start     time.Time
}

// New returns the API of srv.
func New(srv *engine.Server) *Handler {
	st := srv.Static()
	h := &Handler{srv: srv, static: st, start: time.Now()}
	if st.API != nil {
		h.basePath = strings.TrimSuffix(st.API.BasePath, "/")
		h.dashboard = st.API.Dashboard
	}
	return h
}

// Attach gives the internal services api@internal and dashboard@internal
// of srv their handlers, when its static configuration enables the API.
// Call it before srv listens.
func Attach(srv *engine.Server) {
	st := srv.Static()
	if st.API == nil {
		return
	}
	srv.SetInternalHandler(engine.APIService, New(srv))
	if st.API.Dashboard {
		srv.SetInternalHandler(engine.DashboardService, dashboard.Handler{})
	}
}

// route is one of the API's paths: a fixed one, or a prefix and one
// path segment (the object's name, escaped).
type route struct {
	path   string
	prefix bool
	serve  func(h *Handler, w http.ResponseWriter, r *http.Request, id string)
}

var routes = []route{
	{path: "/api/rawdata", serve: (*Handler).rawData},
	{path: "/api/overview", serve: (*Handler).overview},
	{path: "/api/entrypoints", serve: (*Handler).entryPoints},
	{path: "/api/entrypoints/", prefix: true, serve: (*Handler).entryPoint},
	{path: "/api/http/routers", serve: (*Handler).routers},
	{path: "/api/http/routers/", prefix: true, serve: (*Handler).router},
	{path: "/api/http/services", serve: (*Handler).services},
	{path: "/api/http/services/", prefix: true, serve: (*Handler).service},
	{path: "/api/http/middlewares", serve: (*Handler).middlewares},
	{path: "/api/http/middlewares/", prefix: true, serve: (*Handler).middleware},
	{path: "/api/tcp/routers", serve: (*Handler).emptyList},
	{path: "/api/tcp/routers/", prefix: true, serve: notFoundAs("router")},
	{path: "/api/tcp/services", serve: (*Handler).emptyList},
	{path: "/api/tcp/services/", prefix: true, serve: notFoundAs("service")},
	{path: "/api/tcp/middlewares", serve: (*Handler).emptyList},
	{path: "/api/tcp/middlewares/", prefix: true, serve: notFoundAs("middleware")},
	{path: "/api/udp/routers", serve: (*Handler).emptyList},
	{path: "/api/udp/routers/", prefix: true, serve: notFoundAs("router")},
	{path: "/api/udp/services", serve: (*Handler).emptyList},
	{path: "/api/udp/services/", prefix: true, serve: notFoundAs("service")},
	{path: "/api/version", serve: (*Handler).version},
	{path: "/api/explain", serve: (*Handler).explain},
	{path: "/api/problems", serve: (*Handler).problemList},
}

// ServeHTTP routes as Traefik's gorilla/mux router does: on the escaped
// path, under api.basePath; a path that is not clean is redirected (301)
// to its clean form; a known path with another method than GET answers
// 405; anything else 404.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.EscapedPath()
	if p == "" {
		p = "/"
	}
	if c := cleanPath(p); c != p {
		u := *r.URL
		u.Path, u.RawPath = c, ""
		if uc, err := url.PathUnescape(c); err == nil {
			u.Path, u.RawPath = uc, c
		}
		w.Header().Set("Location", u.RequestURI())
		w.WriteHeader(http.StatusMovedPermanently)
		return
	}
	if rest, ok := strings.CutPrefix(p, h.basePath); ok && (rest == "" || rest[0] == '/') {
		for _, rt := range routes {
			id := ""
			if rt.prefix {
				var ok bool
				if id, ok = strings.CutPrefix(rest, rt.path); !ok || id == "" || strings.Contains(id, "/") {
					continue
				}
			} else if rest != rt.path {
				continue
			}
			if r.Method != http.MethodGet {
				w.WriteHeader(http.StatusMethodNotAllowed)
				return
			}
			rt.serve(h, w, r, id)
			return
		}
	}
	if h.dashboard && dashboard.ServeAPI(w, r, p, h.basePath) {
		return
	}
	http.NotFound(w, r)
}

// cleanPath is gorilla/mux's: path.Clean, keeping a trailing slash.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

// writeError is Traefik's: the message as JSON, sent by http.Error.
func writeError(w http.ResponseWriter, msg string, code int) {
	data, err := json.Marshal(struct {
		Message string `json:"message"`
	}{msg})
	if err != nil {
		http.Error(w, msg, code)
		return
	}
	http.Error(w, string(data), code)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		writeError(w, err.Error(), http.StatusInternalServerError)
	}
}

// model reads the runtime in service.
func (h *Handler) model() *model {
	var m *model
	h.srv.View(func(rt *engine.Runtime) { m = newModel(h.static, rt, h.srv.ServerUp) })
	return m
}

// unescapeID decodes an object's name from its escaped path segment, as
// Traefik's handlers do.
func unescapeID(w http.ResponseWriter, what, id string) (string, bool) {
	s, err := url.PathUnescape(id)
	if err != nil {
		writeError(w, fmt.Sprintf("unable to decode %s %q: %s", what, id, err), http.StatusBadRequest)
		return "", false
	}
	return s, true
}

// paginate writes X-Next-Page and the page of list that the request asks
// for, or Traefik's 400.
func paginate[T any](w http.ResponseWriter, r *http.Request, list []T) {
	w.Header().Set("Content-Type", "application/json")
	pi, err := pagination(r, len(list))
	if err != nil {
		writeError(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set(nextPageHeader, strconv.Itoa(pi.nextPage))
	if err := json.NewEncoder(w).Encode(list[pi.startIndex:pi.endIndex]); err != nil {
		writeError(w, err.Error(), http.StatusInternalServerError)
	}
}

func (h *Handler) rawData(w http.ResponseWriter, r *http.Request, _ string) {
	m := h.model()
	type serviceRaw struct {
		*serviceInfo
		ServerStatus map[string]string `json:"serverStatus,omitempty"`
	}
	services := map[string]serviceRaw{}
	for name, si := range m.services {
		services[name] = serviceRaw{si, si.serverStatus}
	}
	writeJSON(w, struct {
		Routers     map[string]*routerInfo     `json:"routers,omitempty"`
		Middlewares map[string]*middlewareInfo `json:"middlewares,omitempty"`
		Services    map[string]serviceRaw      `json:"services,omitempty"`
	}{m.routers, m.middlewares, services})
}

func (h *Handler) routers(w http.ResponseWriter, r *http.Request, _ string) {
	m := h.model()
	q := r.URL.Query()
	c := newSearchCriterion(q)
	list := make([]routerRepresentation, 0, len(m.routers))
	for name, ri := range m.routers {
		if c.keepRouter(name, ri) {
			list = append(list, newRouterRepresentation(name, ri))
		}
	}
	sortRouters(q, list)
	paginate(w, r, list)
}

func (h *Handler) router(w http.ResponseWriter, r *http.Request, id string) {
	name, ok := unescapeID(w, "routerID", id)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	ri := h.model().routers[name]
	if ri == nil {
		writeError(w, "router not found: "+name, http.StatusNotFound)
		return
	}
	writeJSON(w, newRouterRepresentation(name, ri))
}

func (h *Handler) services(w http.ResponseWriter, r *http.Request, _ string) {
	m := h.model()
	q := r.URL.Query()
	c := newSearchCriterion(q)
	list := make([]serviceRepresentation, 0, len(m.services))
	for name, si := range m.services {
		if c.keepService(name, si) {
			list = append(list, newServiceRepresentation(name, si))
		}
	}
	sortServices(q, list)
	paginate(w, r, list)
}

func (h *Handler) service(w http.ResponseWriter, r *http.Request, id string) {
	name, ok := unescapeID(w, "serviceID", id)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	si := h.model().services[name]
	if si == nil {
		writeError(w, "service not found: "+name, http.StatusNotFound)
		return
	}
	writeJSON(w, newServiceRepresentation(name, si))
}

func (h *Handler) middlewares(w http.ResponseWriter, r *http.Request, _ string) {
	m := h.model()
	q := r.URL.Query()
	c := newSearchCriterion(q)
	list := make([]middlewareRepresentation, 0, len(m.middlewares))
	for name, mi := range m.middlewares {
		if c.keepMiddleware(name, mi) {
			list = append(list, newMiddlewareRepresentation(name, mi))
		}
	}
	sortMiddlewares(q, list)
	paginate(w, r, list)
}

func (h *Handler) middleware(w http.ResponseWriter, r *http.Request, id string) {
	name, ok := unescapeID(w, "middlewareID", id)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	mi := h.model().middlewares[name]
	if mi == nil {
		writeError(w, "middleware not found: "+name, http.StatusNotFound)
		return
	}
	writeJSON(w, newMiddlewareRepresentation(name, mi))
}

// emptyList answers the TCP and UDP lists: edgeroute has no such routers.
func (h *Handler) emptyList(w http.ResponseWriter, r *http.Request, _ string) {
	paginate(w, r, []struct{}{})
}

func notFoundAs(what string) func(*Handler, http.ResponseWriter, *http.Request, string) {
	return func(_ *Handler, w http.ResponseWriter, _ *http.Request, id string) {
		name, ok := unescapeID(w, what+"ID", id)
		if !ok {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		writeError(w, what+" not found: "+name, http.StatusNotFound)
	}
}

func (h *Handler) entryPoints(w http.ResponseWriter, r *http.Request, _ string) {
	names := EntryPointNames(h.static)
	list := make([]entryPointRepresentation, 0, len(names))
	for _, name := range names {
		list = append(list, h.newEntryPoint(name))
	}
	paginate(w, r, list)
}

func (h *Handler) entryPoint(w http.ResponseWriter, r *http.Request, id string) {
	name, ok := unescapeID(w, "entryPointID", id)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if h.static.EntryPoints[name] == nil {
		writeError(w, "entry point not found: "+name, http.StatusNotFound)
		return
	}
	writeJSON(w, h.newEntryPoint(name))
}

func (h *Handler) overview(w http.ResponseWriter, r *http.Request, _ string) {
	m := h.model()
	type section struct {
		Total    int `json:"total"`
		Warnings int `json:"warnings"`
		Errors   int `json:"errors"`
	}
	count := func(statuses []string) *section {
		s := &section{Total: len(statuses)}
		for _, st := range statuses {
			switch st {
			case statusDisabled:
				s.Errors++
			case statusWarning:
				s.Warnings++
			}
		}
		return s
	}
	var rs, ss, ms []string
	for _, x := range m.routers {
		rs = append(rs, x.Status)
	}
	for _, x := range m.services {
		ss = append(ss, x.Status)
	}
	for _, x := range m.middlewares {
		ms = append(ms, x.Status)
	}
	type scheme struct {
		Routers     *section `json:"routers,omitempty"`
		Services    *section `json:"services,omitempty"`
		Middlewares *section `json:"middlewares,omitempty"`
	}
	type features struct {
		Tracing   string `json:"tracing"`
		Metrics   string `json:"metrics"`
		AccessLog bool   `json:"accessLog"`
	}
	f := features{AccessLog: h.static.AccessLog != nil}
	if h.static.Metrics != nil {
		f.Metrics = "Prometheus"
	}
	writeJSON(w, struct {
		HTTP      scheme   `json:"http"`
		TCP       scheme   `json:"tcp"`
		UDP       scheme   `json:"udp"`
		Features  features `json:"features,omitempty"`
		Providers []string `json:"providers,omitempty"`
	}{
		HTTP:      scheme{count(rs), count(ss), count(ms)},
		TCP:       scheme{count(nil), count(nil), count(nil)},
		UDP:       scheme{Routers: count(nil), Services: count(nil)},
		Features:  f,
		Providers: []string{"KubernetesCRD"},
	})
}

func (h *Handler) version(w http.ResponseWriter, r *http.Request, _ string) {
	v := struct {
		Version            string
		Codename           string
		StartDate          time.Time `json:"startDate"`
		UUID               string    `json:"uuid,omitempty"`
		DisableDashboardAd bool      `json:"disableDashboardAd,omitempty"`
		DashboardName      string    `json:"dashboardName,omitempty"`
	}{Version: version(), Codename: Codename, StartDate: h.start}
	if a := h.static.API; a != nil {
		v.DisableDashboardAd, v.DashboardName = a.DisableDashboardAd, a.DashboardName
	}
	// As unrolled/render writes it for Traefik.
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	json.NewEncoder(w).Encode(v)
}

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// explain is GET /api/explain?url=URL&method=M&header=K:%20V (repeatable)
// &entrypoint=NAME&client-ip=IP, and the options of `edgeroute explain`
// (tls, sni, h2, absolute-form): what `edgeroute explain --json` prints
// for the configuration in service.
func (h *Handler) explain(w http.ResponseWriter, r *http.Request, _ string) {
	q := r.URL.Query()
	req := ExplainRequest{Method: q.Get("method"), URL: q.Get("url"), EntryPoint: q.Get("entrypoint")}
	if req.URL == "" {
		writeError(w, "explain: the url parameter is required (an absolute URL, like http://example.com/path)", http.StatusBadRequest)
		return
	}
	for _, kv := range q["header"] {
		k, v, ok := strings.Cut(kv, ":")
		if !ok {
			writeError(w, fmt.Sprintf("explain: header takes 'Name: value', got %q", kv), http.StatusBadRequest)
			return
		}
		req.Headers = append(req.Headers, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
	}
	if ip := q.Get("client-ip"); ip != "" {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			writeError(w, "explain: client-ip: "+err.Error(), http.StatusBadRequest)
			return
		}
		req.ClientIP = a
	}
	for _, f := range []struct {
		name string
		dst  *bool
	}{{"tls", &req.TLS}, {"h2", &req.H2}, {"absolute-form", &req.Absolute}} {
		if v := q.Get(f.name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				writeError(w, fmt.Sprintf("explain: %s: %v", f.name, err), http.StatusBadRequest)
				return
			}
			*f.dst = b
		}
	}
	if q.Has("sni") {
		sni := q.Get("sni")
		req.SNI = &sni
	}
	// Explain reads only what a runtime never changes (its tables and
	// middlewares); the servers it lists are read under View, where
	// UpdateEndpoints cannot change them.
	rt := h.srv.Runtime()
	e, err := Explain(h.static, rt, req)
	if err != nil {
		writeError(w, "explain: "+err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	h.srv.View(func(*engine.Runtime) { WriteExplainJSON(w, e.What, e.X, rt.Snapshot(), rt.Problems()) })
}

// problemRepresentation is one problem of the configuration.
type problemRepresentation struct {
	Severity  string `json:"severity"` // error, warning or ignored
	Object    string `json:"object,omitempty"`
	Kind      string `json:"kind,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
	File      string `json:"file,omitempty"`
	Line      int    `json:"line,omitempty"`
	Message   string `json:"message"`
}

// problemList is GET /api/problems: what translation and the build
// reported, in their order (edgeroute's own endpoint).
func (h *Handler) problemList(w http.ResponseWriter, r *http.Request, _ string) {
	var ps []spec.Problem
	h.srv.View(func(rt *engine.Runtime) { ps = rt.Problems() })
	q := r.URL.Query()
	list := make([]problemRepresentation, 0, len(ps))
	for _, p := range ps {
		pr := problemRepresentation{Severity: "error", Object: p.Ref.String(), Kind: p.Ref.Kind, Namespace: p.Ref.Namespace, Name: p.Ref.Name,
			File: p.Ref.File, Line: p.Ref.Line, Message: p.Err.Error()}
		switch {
		case p.Ignored:
			pr.Severity = "ignored"
		case p.Warning:
			pr.Severity = "warning"
		}
		if s := q.Get("severity"); s != "" && s != pr.Severity {
			continue
		}
		if s := strings.ToLower(q.Get("search")); s != "" && !strings.Contains(strings.ToLower(p.Error()), s) {
			continue
		}
		list = append(list, pr)
	}
	paginate(w, r, list)
}
