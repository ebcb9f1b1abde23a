package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"sort"
	"strings"

	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/engine"
	"github.com/edgeroute/edgeroute/k8swatch"
)

const explainUsage = `usage: edgeroute explain --providers.manifests.directory=DIR [options] METHOD URL
       edgeroute explain --providers.manifests.directory=DIR [options] --raw FILE|-
options: --entrypoint NAME  --client-ip IP  -H 'Name: value' (repeatable)
         --tls  --sni NAME  (an https:// URL implies --tls with the URL's host as SNI)
         --h2 (the request arrives as HTTP/2: the URL's authority is :authority)
         --absolute-form (send the URL itself as the request target)  --json`

// runExplain is `edgeroute explain`: it loads the configuration as the
// server would, builds the same runtime, and runs the request through the
// server's own decision path (engine.Explain): the entry point's answers
// (400, 421, ping), the router that takes it, what its middlewares do,
// and why every router before it did not take it.
func runExplain(args []string, out io.Writer) int {
	var (
		staticArgs, positional []string
		headers                [][2]string
		entryPoint, rawFile    string
		sni                    *string
		clientIP               = "127.0.0.1"
		asJSON, tlsConn, h2    bool
		absolute               bool
	)
	for i := 0; i < len(args); i++ {
		a := args[i]
		next := func() (string, bool) {
			if _, v, ok := strings.Cut(a, "="); ok {
				return v, true
			}
			if i+1 < len(args) {
				i++
				return args[i], true
			}
			return "", false
		}
		name, _, _ := strings.Cut(a, "=")
		switch strings.ToLower(name) {
		case "-h", "--header":
			v, ok := next()
			k, val, found := strings.Cut(v, ":")
			if !ok || !found {
				fmt.Fprintf(os.Stderr, "explain: -H takes 'Name: value', got %q\n", v)
				return 2
			}
			headers = append(headers, [2]string{strings.TrimSpace(k), strings.TrimSpace(val)})
		case "--entrypoint":
			entryPoint, _ = next()
		case "--client-ip":
			clientIP, _ = next()
		case "--raw":
			rawFile, _ = next()
		case "--sni":
			v, _ := next()
			sni = &v
		case "--tls":
			tlsConn = true
		case "--h2":
			h2 = true
		case "--absolute-form":
			absolute = true
		case "--json":
			asJSON = true
		default:
			if strings.HasPrefix(a, "--") {
				staticArgs = append(staticArgs, a)
			} else {
				positional = append(positional, a)
			}
		}
	}
	if rawFile == "" && len(positional) != 2 || rawFile != "" && len(positional) != 0 {
		fmt.Fprintln(os.Stderr, explainUsage)
		return 2
	}
	static, err := engine.ParseStatic(staticArgs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "explain:", err)
		return 2
	}
	if static.ManifestsDir == "" {
		fmt.Fprintln(os.Stderr, "explain: set --providers.manifests.directory=DIR")
		return 2
	}
	if entryPoint == "" {
		entryPoint = firstEntryPoint(static)
	}
	if static.EntryPoints[entryPoint] == nil {
		fmt.Fprintf(os.Stderr, "explain: no entry point %q (have %s)\n", entryPoint, strings.Join(entryPointNames(static), ", "))
		return 2
	}
	ip, err := netip.ParseAddr(clientIP)
	if err != nil {
		fmt.Fprintln(os.Stderr, "explain: --client-ip:", err)
		return 2
	}
	conn := engine.Conn{ClientIP: ip, TLS: tlsConn}
	var raw []byte
	var h2req *http.Request
	what := ""
	if rawFile != "" {
		if rawFile == "-" {
			raw, err = io.ReadAll(os.Stdin)
		} else {
			raw, err = os.ReadFile(rawFile)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "explain:", err)
			return 2
		}
		first, _, _ := strings.Cut(string(raw), "\n")
		what = strings.TrimSpace(first)
	} else {
		method, rawURL := positional[0], positional[1]
		what = method + " " + rawURL
		scheme, authority, target, ok := splitURL(rawURL)
		if !ok {
			fmt.Fprintf(os.Stderr, "explain: URL %q must be absolute, like http://example.com/path\n", rawURL)
			return 2
		}
		if scheme == "https" {
			conn.TLS = true
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
		if absolute {
			target = rawURL
		} else if target == "" {
			target = "/"
		}
		if h2 {
			h2req = &http.Request{Method: method, RequestURI: target, Host: authority, Header: http.Header{}}
			for _, kv := range headers {
				if !strings.EqualFold(kv[0], "Host") {
					h2req.Header.Add(kv[0], kv[1])
				}
			}
		} else {
			raw = buildRequest(method, target, authority, headers)
		}
	}
	if sni != nil {
		conn.SNI = *sni
	}

	snap := k8swatch.NewDir(static.ManifestsDir, providerOptions(static), nil).Load()
	rt, buildProblems := engine.Build(static, snap)
	var x *engine.Explanation
	if h2req != nil {
		x, err = engine.ExplainH2(static, rt, entryPoint, h2req, conn)
	} else {
		x, err = engine.Explain(static, rt, entryPoint, raw, conn)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "explain:", err)
		return 2
	}
	problems := append(append([]spec.Problem(nil), snap.Problems...), buildProblems...)
	if asJSON {
		return writeExplainJSON(out, what, x, snap, problems)
	}
	kind := "plain HTTP"
	if conn.TLS {
		kind = fmt.Sprintf("TLS (server name %q)", conn.SNI)
	}
	if h2req != nil {
		kind += ", HTTP/2"
	}
	fmt.Fprintf(out, "request:     %s on entry point %s (%s)\n", what, entryPoint, kind)
	fmt.Fprintf(out, "             host %q, routing path %q, client %s\n", x.Host, x.Path, ip)
	switch {
	case x.Router == nil:
		fmt.Fprintf(out, "result:      %d %s: %s\n", x.Status, http.StatusText(x.Status), x.Reason)
		if x.TLSRouter != "" {
			fmt.Fprintf(out, "note:        router %s (with tls) would take it on a TLS connection (https://)\n", x.TLSRouter)
		}
	default:
		r := x.Router
		fmt.Fprintf(out, "result:      router %s -> service %s\n", r.Name, r.Service)
		fmt.Fprintf(out, "             from %s\n", r.Ref)
		if urls, ok := serverURLs(snap, r.Service); ok {
			if len(urls) == 0 {
				fmt.Fprintf(out, "             servers: none (503 no available server)\n")
			} else {
				fmt.Fprintf(out, "             servers: %s\n", strings.Join(urls, ", "))
			}
		}
		printSteps(out, x.Steps, x.Forwarded)
	}
	if len(x.Routes) > 0 {
		fmt.Fprintf(out, "\nrouters on %s, in the order they are tried (highest priority first):\n", entryPoint)
	}
	for _, v := range x.Routes {
		mark := "  no "
		if v.Matched {
			mark = "  YES"
		}
		fmt.Fprintf(out, "%s  %-50s priority %-6d %s\n", mark, v.Name, v.Priority, v.Rule)
		if v.Reason != "" {
			fmt.Fprintf(out, "         %s\n", v.Reason)
		}
	}
	if len(problems) > 0 {
		fmt.Fprintf(out, "\nrouters left out of the configuration (requests they would match fall through):\n")
		for _, p := range problems {
			fmt.Fprintf(out, "  %s\n", p.Error())
		}
	}
	return 0
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

func serverURLs(snap *spec.Snapshot, service string) ([]string, bool) {
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

// printSteps prints what each middleware of the chain does to the request
// (found by running the router's own middlewares), and what the service
// then receives.
func printSteps(out io.Writer, steps []engine.Step, forwarded string) {
	if len(steps) == 0 {
		return
	}
	fmt.Fprintf(out, "middlewares: in order (the service's answer taken as 200 with no body):\n")
	for i, s := range steps {
		what := "no change"
		switch {
		case s.Answered && s.Location != "":
			what = fmt.Sprintf("answers %d, Location: %s", s.Status, s.Location)
		case s.Answered:
			what = fmt.Sprintf("answers %d itself", s.Status)
		case len(s.Effects) > 0:
			what = strings.Join(s.Effects, "; ")
		}
		kind := s.Kind
		if s.Via != "" {
			kind += ", in chain " + s.Via
		}
		fmt.Fprintf(out, "             %d. %s (%s): %s\n", i+1, s.Name, kind, what)
	}
	if forwarded != "" {
		fmt.Fprintf(out, "             the service receives %s\n", forwarded)
	} else {
		fmt.Fprintf(out, "             the service is not reached\n")
	}
}

func writeExplainJSON(out io.Writer, what string, x *engine.Explanation, snap *spec.Snapshot, problems []spec.Problem) int {
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
		Routes      []route  `json:"routes"`
		Problems    []string `json:"problems,omitempty"`
	}{Request: what, EntryPoint: x.EntryPoint, Host: x.Host, RoutingPath: x.Path, Status: x.Status, Reason: x.Reason, Routes: []route{}}
	if r := x.Router; r != nil {
		doc.Router, doc.Service = r.Name, r.Service
		doc.Servers, _ = serverURLs(snap, r.Service)
		for _, s := range x.Steps {
			doc.Middlewares = append(doc.Middlewares, step(s))
			if s.Answered {
				doc.Status = s.Status
			}
		}
		doc.Forwarded = x.Forwarded
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
	if err := enc.Encode(doc); err != nil {
		return 1
	}
	return 0
}

func entryPointNames(s *engine.Static) []string {
	var names []string
	for n := range s.EntryPoints {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// firstEntryPoint is "web" when it exists, else the first by name.
func firstEntryPoint(s *engine.Static) string {
	if s.EntryPoints["web"] != nil {
		return "web"
	}
	return entryPointNames(s)[0]
}
