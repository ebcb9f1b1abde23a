package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/edgeroute/edgeroute/compile"
	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/engine"
	"github.com/edgeroute/edgeroute/k8swatch"
)

// runExplain is `edgeroute explain`: it loads the configuration as the
// server would, builds the same tables, and reports which router a request
// reaches on an entry point and why every router before it did not take it.
func runExplain(args []string, out io.Writer) int {
	var (
		staticArgs []string
		positional []string
		headers    [][2]string
		entryPoint string
		clientIP   = "127.0.0.1"
		asJSON     bool
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
	if len(positional) != 2 {
		fmt.Fprintln(os.Stderr, "usage: edgeroute explain --providers.manifests.directory=DIR [--entrypoint NAME] [--client-ip IP] [-H 'K: V'] [--json] METHOD URL")
		return 2
	}
	method, rawURL := positional[0], positional[1]
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
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		fmt.Fprintf(os.Stderr, "explain: URL %q must be absolute, like http://example.com/path\n", rawURL)
		return 2
	}
	hasHost := false
	for _, h := range headers {
		hasHost = hasHost || strings.EqualFold(h[0], "Host")
	}
	if !hasHost {
		headers = append([][2]string{{"Host", u.Host}}, headers...)
	}
	target := u.EscapedPath()
	if target == "" {
		target = "/"
	}
	if u.RawQuery != "" || u.ForceQuery {
		target += "?" + u.RawQuery
	}

	snap := k8swatch.NewDir(static.ManifestsDir, providerOptions(static), nil).Load()
	rt, buildProblems := engine.Build(static, snap)
	// An https:// URL is a request on a TLS connection: TLS routers only.
	table, routers := rt.Table(entryPoint)
	if u.Scheme == "https" {
		table, routers = rt.TLSTable(entryPoint)
	}
	req, err := compile.NewRequest(method, target, headers, ip, static.EntryPoints[entryPoint].SanitizePath)
	if err != nil {
		fmt.Fprintf(out, "%s %s: answered 400 Bad Request at the entry point: %v\n", method, rawURL, err)
		return 0
	}
	x := table.Explain(req)
	problems := append(append([]spec.Problem(nil), snap.Problems...), buildProblems...)
	var steps []engine.Step
	forwarded := ""
	if x.Winner >= 0 {
		steps, forwarded, err = rt.TraceChain(entryPoint, u.Scheme == "https", routers[x.Winner].Name, method, target, headers, ip)
		if err != nil {
			fmt.Fprintln(os.Stderr, "explain:", err)
			return 1
		}
	}
	if asJSON {
		return writeExplainJSON(out, method, rawURL, entryPoint, req, x, routers, snap, problems, steps, forwarded)
	}
	conn := "plain HTTP"
	if u.Scheme == "https" {
		conn = "TLS"
	}
	fmt.Fprintf(out, "request:     %s %s on entry point %s (%s routers)\n", method, rawURL, entryPoint, conn)
	fmt.Fprintf(out, "             host %q, routing path %q, client %s\n", req.Host, req.Path, ip)
	if x.Winner < 0 {
		fmt.Fprintf(out, "result:      404 page not found: no router matches\n")
		if u.Scheme != "https" {
			if tt, trs := rt.TLSTable(entryPoint); tt != nil {
				if i := tt.Match(req); i >= 0 {
					fmt.Fprintf(out, "note:        router %s (with tls) would take it on a TLS connection (https://)\n", trs[i].Name)
				}
			}
		}
	} else {
		r := routers[x.Winner]
		fmt.Fprintf(out, "result:      router %s -> service %s\n", r.Name, r.Service)
		fmt.Fprintf(out, "             from %s\n", r.Ref)
		if sv := snap.Services[r.Service]; sv != nil && sv.LoadBalancer != nil {
			servers := snap.Endpoints[sv.LoadBalancer.EndpointsKey]
			var urls []string
			for _, s := range servers {
				urls = append(urls, s.URL)
			}
			if len(urls) == 0 {
				fmt.Fprintf(out, "             servers: none (503 no available server)\n")
			} else {
				fmt.Fprintf(out, "             servers: %s\n", strings.Join(urls, ", "))
			}
		}
		printSteps(out, method, steps, forwarded)
	}
	fmt.Fprintf(out, "\nrouters on %s, in the order they are tried (highest priority first):\n", entryPoint)
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

// printSteps prints what each middleware of the chain does to the request
// (found by running the router's own middlewares), and what the service
// then receives.
func printSteps(out io.Writer, method string, steps []engine.Step, forwarded string) {
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
		fmt.Fprintf(out, "             the service receives %s %s\n", method, forwarded)
	} else {
		fmt.Fprintf(out, "             the service is not reached\n")
	}
}

func writeExplainJSON(out io.Writer, method, rawURL, ep string, req *compile.Request, x compile.Explanation, routers []*spec.Router, snap *spec.Snapshot, problems []spec.Problem, steps []engine.Step, forwarded string) int {
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
		Method      string   `json:"method"`
		URL         string   `json:"url"`
		EntryPoint  string   `json:"entryPoint"`
		Host        string   `json:"host"`
		RoutingPath string   `json:"routingPath"`
		Router      string   `json:"router,omitempty"`
		Service     string   `json:"service,omitempty"`
		Servers     []string `json:"servers,omitempty"`
		Status      int      `json:"status,omitempty"`
		Middlewares []step   `json:"middlewares,omitempty"`
		Forwarded   string   `json:"forwardedURI,omitempty"`
		Routes      []route  `json:"routes"`
		Problems    []string `json:"problems,omitempty"`
	}{Method: method, URL: rawURL, EntryPoint: ep, Host: string(req.Host), RoutingPath: string(req.Path), Routes: []route{}}
	if x.Winner >= 0 {
		r := routers[x.Winner]
		doc.Router, doc.Service = r.Name, r.Service
		if sv := snap.Services[r.Service]; sv != nil && sv.LoadBalancer != nil {
			for _, s := range snap.Endpoints[sv.LoadBalancer.EndpointsKey] {
				doc.Servers = append(doc.Servers, s.URL)
			}
		}
		for _, s := range steps {
			doc.Middlewares = append(doc.Middlewares, step(s))
			if s.Answered {
				doc.Status = s.Status
			}
		}
		doc.Forwarded = forwarded
	} else {
		doc.Status = 404
	}
	for _, v := range x.Routes {
		doc.Routes = append(doc.Routes, route{Router: v.Name, Service: routers[v.Index].Service, Rule: v.Rule, Priority: v.Priority,
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
