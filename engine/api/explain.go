package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"sort"
	"strings"

	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/engine"
)

// ExplainRequest is one request to explain, as `edgeroute explain` and
// GET /api/explain take it: a method and an absolute URL (with headers),
// or a raw HTTP/1.x request.
type ExplainRequest struct {
	Method, URL string
	Headers     [][2]string // name, value
	// Raw is a raw HTTP/1.x request, instead of Method, URL and Headers.
	Raw []byte
	// EntryPoint defaults to web, else the first by name.
	EntryPoint string
	ClientIP   netip.Addr // default 127.0.0.1
	// TLS makes the connection a TLS one; an https:// URL implies it,
	// with the URL's host as the server name unless SNI is set.
	TLS bool
	SNI *string
	// H2 sends the request as HTTP/2 (the URL's authority is
	// :authority); Absolute sends the URL itself as the request target.
	H2, Absolute bool
}

// Explained is an explained request: what was asked, on which
// connection, and the engine's explanation.
type Explained struct {
	What       string // "GET http://a.test/x", or a raw request's first line
	EntryPoint string
	Conn       engine.Conn
	H2         bool
	X          *engine.Explanation
}

// Explain runs req through the server's decision path on rt
// (engine.Explain or engine.ExplainH2). Its errors are the caller's
// mistakes (a relative URL, an unknown entry point).
func Explain(static *engine.Static, rt *engine.Runtime, req ExplainRequest) (*Explained, error) {
	ep := req.EntryPoint
	if ep == "" {
		ep = FirstEntryPoint(static)
	}
	if static.EntryPoints[ep] == nil {
		return nil, fmt.Errorf("no entry point %q (have %s)", ep, strings.Join(EntryPointNames(static), ", "))
	}
	ip := req.ClientIP
	if !ip.IsValid() {
		ip = netip.MustParseAddr("127.0.0.1")
	}
	out := &Explained{EntryPoint: ep, Conn: engine.Conn{ClientIP: ip, TLS: req.TLS}}
	sni := req.SNI
	var raw []byte
	var h2req *http.Request
	if req.Raw != nil {
		raw = req.Raw
		first, _, _ := strings.Cut(string(raw), "\n")
		out.What = strings.TrimSpace(first)
	} else {
		method := req.Method
		if method == "" {
			method = http.MethodGet
		}
		out.What = method + " " + req.URL
		scheme, authority, target, ok := splitURL(req.URL)
		if !ok {
			return nil, fmt.Errorf("URL %q must be absolute, like http://example.com/path", req.URL)
		}
		if scheme == "https" {
			out.Conn.TLS = true
			if sni == nil {
				host := authority
				if h, _, ok := strings.Cut(strings.TrimPrefix(host, "["), "]"); ok {
					host = h
				} else if i := strings.LastIndexByte(host, ':'); i >= 0 {
					host = host[:i]
				}
				sni = &host
			}
		}
		if req.Absolute {
			target = req.URL
		} else if target == "" {
			target = "/"
		}
		if req.H2 {
			out.H2 = true
			h2req = &http.Request{Method: method, RequestURI: target, Host: authority, Header: http.Header{}}
			for _, kv := range req.Headers {
				if !strings.EqualFold(kv[0], "Host") {
					h2req.Header.Add(kv[0], kv[1])
				}
			}
		} else {
			raw = buildRequest(method, target, authority, req.Headers)
		}
	}
	if sni != nil {
		out.Conn.SNI = *sni
	}
	var err error
	if h2req != nil {
		out.X, err = engine.ExplainH2(static, rt, ep, h2req, out.Conn)
	} else {
		out.X, err = engine.Explain(static, rt, ep, raw, out.Conn)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// splitURL splits an absolute URL into its scheme, authority and the rest
// (the request target, verbatim: nothing is decoded or re-encoded).
func splitURL(u string) (scheme, authority, target string, ok bool) {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok || scheme == "" {
		return "", "", "", false
	}
	scheme = strings.ToLower(scheme)
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, target = rest[:end], rest[end:]
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		authority = authority[at+1:]
	}
	return scheme, authority, target, authority != "" || target != ""
}

// buildRequest writes the HTTP/1.1 request a client sends for the URL form:
// a Host header from the authority unless one is given.
func buildRequest(method, target, authority string, headers [][2]string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", method, target)
	hasHost := false
	for _, h := range headers {
		hasHost = hasHost || strings.EqualFold(h[0], "Host")
	}
	if !hasHost {
		fmt.Fprintf(&b, "Host: %s\r\n", authority)
	}
	for _, h := range headers {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

// ServerURLs lists the servers of a load-balancer service; false for other
// services.
func ServerURLs(snap *spec.Snapshot, service string) ([]string, bool) {
	sv := snap.Services[service]
	if sv == nil || sv.LoadBalancer == nil {
		return nil, false
	}
	var urls []string
	for _, s := range snap.Endpoints[sv.LoadBalancer.EndpointsKey] {
		urls = append(urls, s.URL)
	}
	return urls, true
}

// WriteExplainJSON writes an explanation as `edgeroute explain --json`
// and GET /api/explain print it.
func WriteExplainJSON(out io.Writer, what string, x *engine.Explanation, snap *spec.Snapshot, problems []spec.Problem) error {
	type route struct {
		Router    string `json:"router"`
		Service   string `json:"service"`
		Rule      string `json:"rule"`
		Priority  int64  `json:"priority"`
		Candidate bool   `json:"candidate"`
		Matched   bool   `json:"matched"`
		Reason    string `json:"reason,omitempty"`
	}
	type step struct {
		Name     string   `json:"name"`
		Kind     string   `json:"kind"`
		Via      string   `json:"via,omitempty"`
		Effects  []string `json:"effects,omitempty"`
		Answered bool     `json:"answered,omitempty"`
		Status   int      `json:"status,omitempty"`
		Location string   `json:"location,omitempty"`
	}
	type layer struct {
		Parent      string  `json:"parent"`
		RoutingPath string  `json:"routingPath"`
		Router      string  `json:"router,omitempty"`
		Service     string  `json:"service,omitempty"`
		Status      int     `json:"status,omitempty"`
		Reason      string  `json:"reason,omitempty"`
		Middlewares []step  `json:"middlewares,omitempty"`
		Routes      []route `json:"routes"`
	}
	doc := struct {
		Request     string   `json:"request"`
		EntryPoint  string   `json:"entryPoint"`
		Host        string   `json:"host"`
		RoutingPath string   `json:"routingPath"`
		Router      string   `json:"router,omitempty"`
		Service     string   `json:"service,omitempty"`
		Servers     []string `json:"servers,omitempty"`
		Status      int      `json:"status,omitempty"`
		Reason      string   `json:"reason,omitempty"`
		Middlewares []step   `json:"middlewares,omitempty"`
		Forwarded   string   `json:"forwarded,omitempty"`
		// Layers are the children tables of a parent router, in order
		// (multi-layer routing).
		Layers   []layer  `json:"layers,omitempty"`
		Routes   []route  `json:"routes"`
		Problems []string `json:"problems,omitempty"`
	}{Request: what, EntryPoint: x.EntryPoint, Host: x.Host, RoutingPath: x.Path, Status: x.Status, Reason: x.Reason, Routes: []route{}}
	if r := x.Router; r != nil {
		doc.Router, doc.Service = r.Name, r.Service
		doc.Servers, _ = ServerURLs(snap, r.Service)
		for _, s := range x.Steps {
			doc.Middlewares = append(doc.Middlewares, step(s))
			if s.Answered {
				doc.Status = s.Status
			}
		}
		doc.Forwarded = x.Forwarded
		for _, l := range x.Layers {
			dl := layer{Parent: l.Parent.Name, RoutingPath: l.Path, Status: l.Status, Reason: l.Reason, Routes: []route{}}
			if l.Status != 0 {
				doc.Status = l.Status
			}
			if l.Router != nil {
				dl.Router, dl.Service = l.Router.Name, l.Router.Service
			}
			for _, s := range l.Steps {
				dl.Middlewares = append(dl.Middlewares, step(s))
				if s.Answered {
					doc.Status = s.Status
				}
			}
			for _, v := range l.Routes {
				dl.Routes = append(dl.Routes, route{Router: v.Name, Service: l.Routers[v.Index].Service, Rule: v.Rule, Priority: v.Priority,
					Candidate: v.Candidate, Matched: v.Matched, Reason: v.Reason})
			}
			doc.Layers = append(doc.Layers, dl)
		}
		if r, _ := x.Final(); r != nil && r != x.Router {
			doc.Servers, _ = ServerURLs(snap, r.Service)
		}
	}
	for _, v := range x.Routes {
		doc.Routes = append(doc.Routes, route{Router: v.Name, Service: x.Routers[v.Index].Service, Rule: v.Rule, Priority: v.Priority,
			Candidate: v.Candidate, Matched: v.Matched, Reason: v.Reason})
	}
	for _, p := range problems {
		doc.Problems = append(doc.Problems, p.Error())
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// EntryPointNames lists the entry points by name.
func EntryPointNames(s *engine.Static) []string {
	var names []string
	for n := range s.EntryPoints {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// FirstEntryPoint is "web" when it exists, else the first by name.
func FirstEntryPoint(s *engine.Static) string {
	if s.EntryPoints["web"] != nil {
		return "web"
	}
	return EntryPointNames(s)[0]
}
