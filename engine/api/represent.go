package api

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// The list and object representations of Traefik's pkg/api: the runtime
// objects with their name, provider and type; the search criterion,
// sorting and pagination of the lists.

type routerRepresentation struct {
	*routerInfo
	Name        string `json:"name,omitempty"`
	Provider    string `json:"provider,omitempty"`
	PriorityStr string `json:"priorityStr,omitempty"`
}

func newRouterRepresentation(name string, ri *routerInfo) routerRepresentation {
	return routerRepresentation{routerInfo: ri, Name: name, Provider: providerName(name), PriorityStr: strconv.FormatInt(ri.Priority, 10)}
}

type serviceRepresentation struct {
	*serviceInfo
	Name         string            `json:"name,omitempty"`
	Provider     string            `json:"provider,omitempty"`
	Type         string            `json:"type,omitempty"`
	ServerStatus map[string]string `json:"serverStatus,omitempty"`
}

func newServiceRepresentation(name string, si *serviceInfo) serviceRepresentation {
	typ := ""
	switch {
	case si.LoadBalancer != nil:
		typ = "loadbalancer"
	case si.Weighted != nil:
		typ = "weighted"
	}
	return serviceRepresentation{serviceInfo: si, Name: name, Provider: providerName(name), Type: typ, ServerStatus: si.serverStatus}
}

type middlewareRepresentation struct {
	*middlewareInfo
	Name     string
	Provider string
	Type     string
}

func newMiddlewareRepresentation(name string, mi *middlewareInfo) middlewareRepresentation {
	return middlewareRepresentation{middlewareInfo: mi, Name: name, Provider: providerName(name), Type: strings.ToLower(mi.kind)}
}

func (m middlewareRepresentation) MarshalJSON() ([]byte, error) {
	f := m.fields()
	for k, v := range map[string]string{"name": m.Name, "provider": m.Provider, "type": m.Type} {
		if v != "" {
			f[k] = v
		}
	}
	return json.Marshal(f)
}

// providerName is Traefik's getProviderName: what follows the '@'.
func providerName(id string) string {
	_, p, _ := strings.Cut(id, "@")
	return p
}

// entryPointRepresentation is static.EntryPoint and its name, with
// edgeroute's options in Traefik's shape.
type entryPointRepresentation struct {
	Address          string            `json:"address,omitempty"`
	AsDefault        bool              `json:"asDefault,omitempty"`
	Transport        *epTransport      `json:"transport,omitempty"`
	ForwardedHeaders *forwardedHeaders `json:"forwardedHeaders,omitempty"`
	HTTP             epHTTP            `json:"http"`
	Name             string            `json:"name,omitempty"`
}

type epTransport struct {
	LifeCycle          *lifeCycle          `json:"lifeCycle,omitempty"`
	RespondingTimeouts *respondingTimeouts `json:"respondingTimeouts,omitempty"`
}

type lifeCycle struct {
	GraceTimeOut duration `json:"graceTimeOut,omitempty"`
}

type respondingTimeouts struct {
	ReadTimeout  duration `json:"readTimeout,omitempty"`
	WriteTimeout duration `json:"writeTimeout,omitempty"`
	IdleTimeout  duration `json:"idleTimeout,omitempty"`
}

type forwardedHeaders struct {
	Insecure   bool     `json:"insecure,omitempty"`
	TrustedIPs []string `json:"trustedIPs,omitempty"`
}

type epHTTP struct {
	Middlewares  []string   `json:"middlewares,omitempty"`
	TLS          *routerTLS `json:"tls,omitempty"`
	SanitizePath *bool      `json:"sanitizePath,omitempty"`
}

func (h *Handler) newEntryPoint(name string) entryPointRepresentation {
	ep := h.static.EntryPoints[name]
	sanitize := ep.SanitizePath
	out := entryPointRepresentation{Address: ep.Address, AsDefault: ep.AsDefault, Name: name,
		Transport: &epTransport{
			LifeCycle:          &lifeCycle{GraceTimeOut: duration(h.static.GraceTimeout)},
			RespondingTimeouts: &respondingTimeouts{ReadTimeout: duration(ep.ReadTimeout), WriteTimeout: duration(ep.WriteTimeout), IdleTimeout: duration(ep.IdleTimeout)},
		},
		ForwardedHeaders: &forwardedHeaders{Insecure: ep.ForwardedHeaders.Insecure, TrustedIPs: ep.ForwardedHeaders.TrustedIPs},
		HTTP:             epHTTP{Middlewares: ep.Middlewares, SanitizePath: &sanitize},
	}
	if ep.TLS != nil {
		out.HTTP.TLS = &routerTLS{Options: ep.TLS.Options}
	}
	return out
}

// Traefik's search criterion (pkg/api/criterion.go).

const (
	defaultPerPage = 100
	defaultPage    = 1
	nextPageHeader = "X-Next-Page"
)

type searchCriterion struct {
	search, status, serviceName, middlewareName string
}

func newSearchCriterion(q url.Values) *searchCriterion {
	c := &searchCriterion{search: q.Get("search"), status: q.Get("status"), serviceName: q.Get("serviceName"), middlewareName: q.Get("middlewareName")}
	if *c == (searchCriterion{}) {
		return nil
	}
	return c
}

func (c *searchCriterion) withStatus(s string) bool {
	return c.status == "" || strings.EqualFold(s, c.status)
}

func (c *searchCriterion) searchIn(values ...string) bool {
	if c.search == "" {
		return true
	}
	return slices.ContainsFunc(values, func(v string) bool {
		return strings.Contains(strings.ToLower(v), strings.ToLower(c.search))
	})
}

func (c *searchCriterion) filterService(name string) bool {
	if c.serviceName == "" {
		return true
	}
	if strings.Contains(name, "@") {
		return c.serviceName == name
	}
	before, _, _ := strings.Cut(c.serviceName, "@")
	return before == name
}

func (c *searchCriterion) filterMiddleware(mns []string) bool {
	return c.middlewareName == "" || slices.Contains(mns, c.middlewareName)
}

func (c *searchCriterion) keepRouter(name string, r *routerInfo) bool {
	return c == nil || c.withStatus(r.Status) && c.searchIn(r.Rule, name) && c.filterService(r.Service) && c.filterMiddleware(r.Middlewares)
}

func (c *searchCriterion) keepService(name string, s *serviceInfo) bool {
	return c == nil || c.withStatus(s.Status) && c.searchIn(name)
}

func (c *searchCriterion) keepMiddleware(name string, m *middlewareInfo) bool {
	return c == nil || c.withStatus(m.Status) && c.searchIn(name)
}

type pageInfo struct{ startIndex, endIndex, nextPage int }

func pagination(r *http.Request, maximum int) (pageInfo, error) {
	perPage, err := intParam(r, "per_page", defaultPerPage)
	if err != nil {
		return pageInfo{}, err
	}
	page, err := intParam(r, "page", defaultPage)
	if err != nil {
		return pageInfo{}, err
	}
	start := (page - 1) * perPage
	if start != 0 && start >= maximum {
		return pageInfo{}, fmt.Errorf("invalid request: page: %d, per_page: %d", page, perPage)
	}
	next := 1
	if page*perPage < maximum {
		next = page + 1
	}
	return pageInfo{startIndex: start, endIndex: min(start+perPage, maximum), nextPage: next}, nil
}

func intParam(r *http.Request, key string, def int) (int, error) {
	raw := r.URL.Query().Get(key)
	if raw == "" {
		return def, nil
	}
	v, err := strconv.Atoi(raw)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("invalid request: %s: %d", key, v) // Traefik's message, value and all
	}
	return v, nil
}

// Traefik's sorting (pkg/api/sort.go): by sortBy (name by default), in
// direction asc (default) or desc, ties by name.

func sortBy[T any](q url.Values, list []T, name func(T) string, keys map[string]func(a, b T) int) {
	desc := q.Get("direction") != "" && q.Get("direction") != "asc"
	key := keys[q.Get("sortBy")]
	slices.SortStableFunc(list, func(a, b T) int {
		c := 0
		if key != nil {
			c = key(a, b)
		}
		if c == 0 {
			c = cmp.Compare(name(a), name(b))
		}
		if desc {
			return -c
		}
		return c
	})
}

func sortRouters(q url.Values, list []routerRepresentation) {
	sortBy(q, list, func(r routerRepresentation) string { return r.Name }, map[string]func(a, b routerRepresentation) int{
		"provider":    func(a, b routerRepresentation) int { return cmp.Compare(a.Provider, b.Provider) },
		"priority":    func(a, b routerRepresentation) int { return cmp.Compare(a.Priority, b.Priority) },
		"status":      func(a, b routerRepresentation) int { return cmp.Compare(a.Status, b.Status) },
		"rule":        func(a, b routerRepresentation) int { return cmp.Compare(a.Rule, b.Rule) },
		"service":     func(a, b routerRepresentation) int { return cmp.Compare(a.Service, b.Service) },
		"entryPoints": func(a, b routerRepresentation) int { return cmp.Compare(len(a.EntryPoints), len(b.EntryPoints)) },
	})
}

func sortServices(q url.Values, list []serviceRepresentation) {
	servers := func(s serviceRepresentation) int {
		if s.LoadBalancer == nil {
			return 0
		}
		return len(s.LoadBalancer.Servers)
	}
	sortBy(q, list, func(s serviceRepresentation) string { return s.Name }, map[string]func(a, b serviceRepresentation) int{
		"type":     func(a, b serviceRepresentation) int { return cmp.Compare(a.Type, b.Type) },
		"servers":  func(a, b serviceRepresentation) int { return cmp.Compare(servers(a), servers(b)) },
		"provider": func(a, b serviceRepresentation) int { return cmp.Compare(a.Provider, b.Provider) },
		"status":   func(a, b serviceRepresentation) int { return cmp.Compare(a.Status, b.Status) },
	})
}

func sortMiddlewares(q url.Values, list []middlewareRepresentation) {
	sortBy(q, list, func(m middlewareRepresentation) string { return m.Name }, map[string]func(a, b middlewareRepresentation) int{
		"type":     func(a, b middlewareRepresentation) int { return cmp.Compare(a.Type, b.Type) },
		"provider": func(a, b middlewareRepresentation) int { return cmp.Compare(a.Provider, b.Provider) },
		"status":   func(a, b middlewareRepresentation) int { return cmp.Compare(a.Status, b.Status) },
	})
}
