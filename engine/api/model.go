package api

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/edgeroute/edgeroute/compile"
	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/engine"
)

// The runtime as Traefik's API shows it (pkg/config/runtime and
// pkg/config/dynamic): the JSON field names, omissions and defaults of
// Traefik's types, filled from the engine's runtime.

// Statuses of routers, services and middlewares, and of servers.
const (
	statusEnabled  = "enabled"
	statusDisabled = "disabled"
	statusWarning  = "warning"
	serverUp       = "UP"
	serverDown     = "DOWN"
)

// info is what Traefik's runtime adds to every object: its errors and
// status.
type info struct {
	Err    []string `json:"error,omitempty"`
	Status string   `json:"status,omitempty"`
}

// addError is Traefik's AddError: a critical error disables the object,
// another makes it a warning unless it is already disabled.
func (i *info) addError(msg string, critical bool) {
	if slices.Contains(i.Err, msg) {
		return
	}
	i.Err = append(i.Err, msg)
	if critical {
		i.Status = statusDisabled
	} else if i.Status != statusDisabled {
		i.Status = statusWarning
	}
}

// routerInfo is runtime.RouterInfo: dynamic.Router and its state.
type routerInfo struct {
	EntryPoints []string   `json:"entryPoints,omitempty"`
	Middlewares []string   `json:"middlewares,omitempty"`
	Service     string     `json:"service,omitempty"`
	Rule        string     `json:"rule,omitempty"`
	ParentRefs  []string   `json:"parentRefs,omitempty"`
	RuleSyntax  string     `json:"ruleSyntax,omitempty"`
	Priority    int64      `json:"priority,omitempty"`
	TLS         *routerTLS `json:"tls,omitempty"`
	info
	Using []string `json:"using,omitempty"`
}

type routerTLS struct {
	Options string `json:"options,omitempty"`
}

// serviceInfo is runtime.ServiceInfo: dynamic.Service and its state.
type serviceInfo struct {
	Middlewares  []string      `json:"middlewares,omitempty"`
	LoadBalancer *loadBalancer `json:"loadBalancer,omitempty"`
	Weighted     *weighted     `json:"weighted,omitempty"`
	info
	UsedBy []string `json:"usedBy,omitempty"`

	serverStatus map[string]string
}

type loadBalancer struct {
	Sticky             *sticky             `json:"sticky,omitempty"`
	Servers            []server            `json:"servers,omitempty"`
	Strategy           string              `json:"strategy,omitempty"`
	HealthCheck        *healthCheck        `json:"healthCheck,omitempty"`
	PassiveHealthCheck *passiveHealthCheck `json:"passiveHealthCheck,omitempty"`
	PassHostHeader     *bool               `json:"passHostHeader"`
	ResponseForwarding *responseForwarding `json:"responseForwarding,omitempty"`
}

type server struct {
	URL    string `json:"url,omitempty"`
	Fenced bool   `json:"fenced,omitempty"`
}

type sticky struct {
	Cookie *cookie `json:"cookie,omitempty"`
}

type cookie struct {
	Name     string `json:"name,omitempty"`
	Secure   bool   `json:"secure,omitempty"`
	HTTPOnly bool   `json:"httpOnly,omitempty"`
	SameSite string `json:"sameSite,omitempty"`
	MaxAge   int    `json:"maxAge,omitempty"`
	Path     string `json:"path,omitempty"`
	Domain   string `json:"domain,omitempty"`
}

type healthCheck struct {
	Scheme            string            `json:"scheme,omitempty"`
	Mode              string            `json:"mode,omitempty"`
	Path              string            `json:"path,omitempty"`
	Method            string            `json:"method,omitempty"`
	Status            int               `json:"status,omitempty"`
	Port              int               `json:"port,omitempty"`
	Interval          duration          `json:"interval,omitempty"`
	UnhealthyInterval *duration         `json:"unhealthyInterval,omitempty"`
	Timeout           duration          `json:"timeout,omitempty"`
	Hostname          string            `json:"hostname,omitempty"`
	FollowRedirects   *bool             `json:"followRedirects,omitempty"`
	Headers           map[string]string `json:"headers,omitempty"`
}

type passiveHealthCheck struct {
	FailureWindow     duration `json:"failureWindow,omitempty"`
	MaxFailedAttempts int      `json:"maxFailedAttempts,omitempty"`
}

type responseForwarding struct {
	FlushInterval duration `json:"flushInterval,omitempty"`
}

type weighted struct {
	Services []wrrService `json:"services,omitempty"`
	Sticky   *sticky      `json:"sticky,omitempty"`
}

type wrrService struct {
	Name   string `json:"name,omitempty"`
	Weight *int   `json:"weight,omitempty"`
}

// duration is paerser's types.Duration: a Go duration string in JSON.
type duration time.Duration

func (d duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// middlewareInfo is runtime.MiddlewareInfo: dynamic.Middleware (one key,
// the kind, holding its configuration) and its state.
type middlewareInfo struct {
	kind   string
	config json.RawMessage
	info
	UsedBy []string `json:"usedBy,omitempty"`
}

func (m *middlewareInfo) fields() map[string]any {
	f := map[string]any{}
	if m.kind != "" {
		f[m.kind] = m.config
	}
	if len(m.Err) > 0 {
		f["error"] = m.Err
	}
	if m.Status != "" {
		f["status"] = m.Status
	}
	if len(m.UsedBy) > 0 {
		f["usedBy"] = m.UsedBy
	}
	return f
}

func (m *middlewareInfo) MarshalJSON() ([]byte, error) { return json.Marshal(m.fields()) }

// model is the whole runtime as the API shows it, by qualified name.
type model struct {
	routers     map[string]*routerInfo
	services    map[string]*serviceInfo
	middlewares map[string]*middlewareInfo
	problems    []spec.Problem
}

// problemKey locates the route of a problem (a translation problem on
// one route of an IngressRoute).
func problemKey(r spec.Ref) string {
	return fmt.Sprintf("%s\x00%s\x00%s\x00%d", r.Kind, r.Namespace, r.Name, r.Route)
}

// routerOf splits a problem "router NAME: what" (the build's) into the
// router's name and what.
func routerOf(msg, kind string) (name, what string, ok bool) {
	rest, ok := strings.CutPrefix(msg, kind+" ")
	if !ok {
		return "", "", false
	}
	return strings.Cut(rest, ": ")
}

// newModel reads rt as Traefik's runtime configuration: every router of
// its snapshot (those left out with their errors, disabled), every
// service and middleware, with statuses, errors, usedBy and, through up,
// the health of each server.
func newModel(static *engine.Static, rt *engine.Runtime, up func(service, url string) (bool, bool)) *model {
	snap := rt.Snapshot()
	m := &model{routers: map[string]*routerInfo{}, services: map[string]*serviceInfo{}, middlewares: map[string]*middlewareInfo{},
		problems: rt.Problems()}

	// The problems, by the router or service they name, or by the
	// route they came from.
	type problem struct {
		msg     string
		warning bool
	}
	byRouter, byService, byRoute := map[string][]problem{}, map[string][]problem{}, map[string][]problem{}
	for _, p := range m.problems {
		if p.Ignored {
			continue
		}
		msg := p.Err.Error()
		if name, what, ok := routerOf(msg, "router"); ok {
			byRouter[name] = append(byRouter[name], problem{what, p.Warning})
		} else if name, what, ok := routerOf(msg, "service"); ok && snap.Services[name] != nil {
			byService[name] = append(byService[name], problem{what, p.Warning})
		} else if p.Ref.Route > 0 && p.Ref.Name != "" {
			byRoute[problemKey(p.Ref)] = append(byRoute[problemKey(p.Ref)], problem{msg, p.Warning})
		}
	}

	// The routers the runtime serves, on each entry point.
	served := map[*spec.Router]bool{}
	for name := range static.EntryPoints {
		_, plain := rt.Table(name)
		_, secure := rt.TLSTable(name)
		for _, r := range append(plain, secure...) {
			served[r] = true
		}
	}
	for i := range snap.Routers {
		for _, r := range rt.Children(snap.Routers[i].Name) {
			served[r] = true
		}
	}
	defaults := static.DefaultEntryPoints()
	for i := range snap.Routers {
		r := &snap.Routers[i]
		ri := &routerInfo{Service: r.Service, Rule: r.Rule, ParentRefs: r.ParentRefs, RuleSyntax: r.Syntax, Priority: r.Priority, info: info{Status: statusEnabled}}
		ri.EntryPoints = r.EntryPoints
		if len(r.ParentRefs) > 0 {
			// A child router: on no entry point, no model; its priority
			// is computed when a parent's table takes it.
			if served[r] {
				ri.Priority = compile.Route{Rule: r.Rule, Priority: r.Priority}.EffectivePriority()
			}
			ri.Middlewares = r.Middlewares
			if r.TLS != nil {
				ri.TLS = &routerTLS{Options: strings.TrimSuffix(r.TLS.Options, "@kubernetescrd")}
			}
			for _, p := range byRouter[r.Name] {
				ri.addError(p.msg, !p.warning)
			}
			m.routers[r.Name] = ri
			continue
		}
		if len(ri.EntryPoints) == 0 {
			ri.EntryPoints = defaults // as Traefik's aggregator sets them
		}
		var model *engine.EntryPoint // the entry point's http options, as Traefik's models
		for _, ep := range ri.EntryPoints {
			e := static.EntryPoints[ep]
			if e == nil {
				ri.addError(fmt.Sprintf("entryPoint %q doesn't exist", ep), false)
				continue
			}
			ri.Using = append(ri.Using, ep)
			model = e
		}
		ri.Using = uniqueSorted(ri.Using)
		if len(ri.Using) == 0 {
			ri.addError("no valid entryPoint for this router", true)
		} else {
			ri.Priority = compile.Route{Rule: r.Rule, Priority: r.Priority}.EffectivePriority()
		}
		if len(ri.Using) == 1 && model != nil {
			// Traefik applies an entry point's model (http.middlewares,
			// http.tls) to the router itself.
			ri.Middlewares = append(slices.Clone(model.Middlewares), r.Middlewares...)
			if r.TLS == nil && model.TLS != nil {
				ri.TLS = &routerTLS{Options: model.TLS.Options}
			}
		} else {
			ri.Middlewares = r.Middlewares
		}
		if r.TLS != nil {
			ri.TLS = &routerTLS{Options: r.TLS.Options}
		}
		if ri.TLS != nil {
			ri.TLS.Options = strings.TrimSuffix(ri.TLS.Options, "@kubernetescrd")
			if ri.TLS.Options == "" {
				ri.TLS.Options = spec.DefaultTLSOptions
			}
		}
		for _, p := range byRouter[r.Name] {
			ri.addError(p.msg, !p.warning)
		}
		if r.Ref.Route > 0 && r.Ref.Name != "" {
			for _, p := range byRoute[problemKey(r.Ref)] {
				ri.addError(p.msg, !p.warning)
			}
		}
		if len(ri.Using) > 0 && !served[r] && ri.Status != statusDisabled {
			ri.addError("the router is not served on any entry point", true)
		}
		m.routers[r.Name] = ri
	}

	for name, sv := range snap.Services {
		si := &serviceInfo{Middlewares: sv.Middlewares, info: info{Status: statusEnabled}}
		switch {
		case sv.LoadBalancer != nil:
			si.LoadBalancer, si.serverStatus = newLoadBalancer(sv, snap.Endpoints[sv.LoadBalancer.EndpointsKey], up)
		case sv.Weighted != nil:
			w := &weighted{Sticky: newSticky(sv.Weighted.Sticky)}
			for _, c := range sv.Weighted.Services {
				weight := c.Weight
				w.Services = append(w.Services, wrrService{Name: c.Name, Weight: &weight})
				if snap.Services[c.Name] == nil && !engine.IsInternal(c.Name) {
					si.addError(fmt.Sprintf("service %s does not exist", c.Name), true)
				}
			}
			si.Weighted = w
		}
		for _, p := range byService[name] {
			si.addError(p.msg, !p.warning)
		}
		m.services[name] = si
	}
	for _, name := range engine.InternalServices(static) {
		if m.services[name] == nil {
			m.services[name] = &serviceInfo{info: info{Status: statusEnabled}}
		}
	}

	built := rt.Built()
	for name, mw := range snap.Middlewares {
		mi := &middlewareInfo{kind: mw.Kind, config: middlewareConfig(mw), info: info{Status: statusEnabled}}
		if b := built[name]; b != nil {
			if b.Err != nil {
				mi.addError(b.Err.Error(), true)
			}
			for _, w := range b.Warnings {
				mi.addError(w, false)
			}
		}
		m.middlewares[name] = mi
	}

	// usedBy: the routers naming a service or a middleware, as Traefik's
	// PopulateUsedBy (chains and services' own middlewares are not
	// counted).
	for name, ri := range m.routers {
		if si := m.services[ri.Service]; si != nil {
			si.UsedBy = append(si.UsedBy, name)
		}
		for _, mw := range ri.Middlewares {
			if !strings.Contains(mw, "@") {
				mw += providerOf(name)
			}
			if mi := m.middlewares[mw]; mi != nil {
				mi.UsedBy = append(mi.UsedBy, name)
			}
		}
	}
	for _, si := range m.services {
		slices.Sort(si.UsedBy)
	}
	for _, mi := range m.middlewares {
		mi.UsedBy = uniqueSorted(mi.UsedBy)
	}
	return m
}

// providerOf is "@provider" of a qualified name.
func providerOf(name string) string {
	if i := strings.LastIndexByte(name, '@'); i >= 0 {
		return name[i:]
	}
	return ""
}

func uniqueSorted(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

func newSticky(c *spec.Cookie) *sticky {
	if c == nil {
		return nil
	}
	return &sticky{Cookie: &cookie{Name: c.Name, Secure: c.Secure, HTTPOnly: c.HTTPOnly, SameSite: c.SameSite, MaxAge: c.MaxAge, Path: c.Path, Domain: c.Domain}}
}

// newLoadBalancer is the servers load balancer of sv as Traefik's
// kubernetesCRD provider declares it, and each server's status.
func newLoadBalancer(sv *spec.Service, servers []spec.Server, up func(service, url string) (bool, bool)) (*loadBalancer, map[string]string) {
	l := sv.LoadBalancer
	pass := l.PassHostHeader
	out := &loadBalancer{Sticky: newSticky(l.Sticky), Strategy: l.Strategy, PassHostHeader: &pass,
		ResponseForwarding: &responseForwarding{FlushInterval: duration(l.FlushInterval)}}
	if out.Strategy == "" {
		out.Strategy = "wrr"
	}
	if h := l.HealthCheck; h != nil {
		follow := h.FollowRedirects
		unhealthy := duration(h.UnhealthyInterval)
		out.HealthCheck = &healthCheck{Scheme: h.Scheme, Mode: h.Mode, Path: h.Path, Method: h.Method, Status: h.Status, Port: h.Port,
			Interval: duration(h.Interval), UnhealthyInterval: &unhealthy, Timeout: duration(h.Timeout), Hostname: h.Hostname,
			FollowRedirects: &follow, Headers: h.Headers}
	}
	if p := l.Passive; p != nil {
		out.PassiveHealthCheck = &passiveHealthCheck{FailureWindow: duration(p.FailureWindow), MaxFailedAttempts: p.MaxFailedAttempts}
	}
	var status map[string]string
	for _, s := range servers {
		out.Servers = append(out.Servers, server{URL: s.URL, Fenced: s.Fenced})
		if up == nil {
			continue
		}
		if ok, known := up(sv.Name, s.URL); known {
			if status == nil {
				status = map[string]string{}
			}
			status[s.URL] = serverDown
			if ok {
				status[s.URL] = serverUp
			}
		}
	}
	return out, status
}

// middlewareConfig is a middleware's configuration as Traefik's dynamic
// configuration holds it: the kind's object, with the references the
// provider resolves (a chain's members, an errors middleware's service)
// by their resolved names.
func middlewareConfig(mw *spec.Middleware) json.RawMessage {
	raw := mw.Config
	if len(raw) == 0 || string(raw) == "null" {
		raw = json.RawMessage("{}")
	}
	switch {
	case mw.Kind == "chain":
		out, _ := json.Marshal(map[string][]string{"middlewares": mw.Chain})
		return out
	case mw.Service != "":
		var m map[string]any
		if json.Unmarshal(raw, &m) == nil {
			m["service"] = mw.Service
			if out, err := json.Marshal(m); err == nil {
				return out
			}
		}
	}
	return raw
}
