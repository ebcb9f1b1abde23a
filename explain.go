package main

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"strings"

	"github.com/edgeroute/edgeroute/compile"
	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/engine"
	"github.com/edgeroute/edgeroute/engine/api"
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
		entryPoint = api.FirstEntryPoint(static)
	}
	if static.EntryPoints[entryPoint] == nil {
		fmt.Fprintf(os.Stderr, "explain: no entry point %q (have %s)\n", entryPoint, strings.Join(api.EntryPointNames(static), ", "))
		return 2
	}
	ip, err := netip.ParseAddr(clientIP)
	if err != nil {
		fmt.Fprintln(os.Stderr, "explain: --client-ip:", err)
		return 2
	}
	req := api.ExplainRequest{EntryPoint: entryPoint, ClientIP: ip, TLS: tlsConn, SNI: sni, H2: h2, Absolute: absolute, Headers: headers}
	if rawFile != "" {
		if rawFile == "-" {
			req.Raw, err = io.ReadAll(os.Stdin)
		} else {
			req.Raw, err = os.ReadFile(rawFile)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "explain:", err)
			return 2
		}
		if req.Raw == nil {
			req.Raw = []byte{}
		}
	} else {
		req.Method, req.URL = positional[0], positional[1]
	}

	snap := k8swatch.NewDir(static.ManifestsDir, providerOptions(static), nil).Load()
	rt, buildProblems := engine.Build(static, snap)
	e, err := api.Explain(static, rt, req)
	if err != nil {
		fmt.Fprintln(os.Stderr, "explain:", err)
		return 2
	}
	x, what, conn := e.X, e.What, e.Conn
	problems := append(append([]spec.Problem(nil), snap.Problems...), buildProblems...)
	if asJSON {
		if api.WriteExplainJSON(out, what, x, snap, problems) != nil {
			return 1
		}
		return 0
	}
	kind := "plain HTTP"
	if conn.TLS {
		kind = fmt.Sprintf("TLS (server name %q)", conn.SNI)
	}
	if e.H2 {
		kind += ", HTTP/2"
	}
	fmt.Fprintf(out, "request:     %s on entry point %s (%s)\n", what, e.EntryPoint, kind)
	fmt.Fprintf(out, "             host %q, routing path %q, client %s\n", x.Host, x.Path, ip)
	switch {
	case x.Router == nil:
		fmt.Fprintf(out, "result:      %d %s: %s\n", x.Status, http.StatusText(x.Status), x.Reason)
		if x.TLSRouter != "" {
			fmt.Fprintf(out, "note:        router %s (with tls) would take it on a TLS connection (https://)\n", x.TLSRouter)
		}
	default:
		printRouter(out, snap, "result:     ", x.Router, len(x.Layers) > 0)
		forwarded := x.Forwarded
		if len(x.Layers) > 0 {
			forwarded = "" // printed after the last child
		}
		printSteps(out, x.Steps, forwarded, len(x.Layers) > 0)
		// Multi-layer routing: each parent's children, matched on the
		// request as the parent's middlewares left it.
		for i, l := range x.Layers {
			if l.Router == nil {
				fmt.Fprintf(out, "children:    of %s, on routing path %q: %d %s: %s\n", l.Parent.Name, l.Path, l.Status, http.StatusText(l.Status), l.Reason)
				continue
			}
			last := i == len(x.Layers)-1
			printRouter(out, snap, fmt.Sprintf("child:       of %s, on routing path %q:\n            ", l.Parent.Name, l.Path), l.Router, !last)
			if last {
				forwarded = x.Forwarded
			}
			printSteps(out, l.Steps, forwarded, !last)
		}
	}
	printRoutes(out, fmt.Sprintf("routers on %s", e.EntryPoint), x.Routes)
	for _, l := range x.Layers {
		printRoutes(out, "children of "+l.Parent.Name, l.Routes)
	}
	if len(problems) > 0 {
		fmt.Fprintf(out, "\nrouters left out of the configuration (requests they would match fall through):\n")
		for _, p := range problems {
			fmt.Fprintf(out, "  %s\n", p.Error())
		}
	}
	return 0
}

// printRouter prints the router taking the request: its service and
// servers, or, for a parent router, that its children decide.
func printRouter(out io.Writer, snap *spec.Snapshot, label string, r *spec.Router, parent bool) {
	if parent {
		fmt.Fprintf(out, "%s router %s -> its child routers (a parent router: they are matched after its middlewares)\n", label, r.Name)
		fmt.Fprintf(out, "             from %s\n", r.Ref)
		return
	}
	fmt.Fprintf(out, "%s router %s -> service %s\n", label, r.Name, r.Service)
	fmt.Fprintf(out, "             from %s\n", r.Ref)
	if urls, ok := api.ServerURLs(snap, r.Service); ok {
		if len(urls) == 0 {
			fmt.Fprintf(out, "             servers: none (503 no available server)\n")
		} else {
			fmt.Fprintf(out, "             servers: %s\n", strings.Join(urls, ", "))
		}
	}
}

// printRoutes prints the verdicts of a table's routers.
func printRoutes(out io.Writer, what string, routes []compile.Verdict) {
	if len(routes) == 0 {
		return
	}
	fmt.Fprintf(out, "\n%s, in the order they are tried (highest priority first):\n", what)
	for _, v := range routes {
		mark := "  no "
		if v.Matched {
			mark = "  YES"
		}
		fmt.Fprintf(out, "%s  %-50s priority %-6d %s\n", mark, v.Name, v.Priority, v.Rule)
		if v.Reason != "" {
			fmt.Fprintf(out, "         %s\n", v.Reason)
		}
	}
}

// printSteps prints what each middleware of the chain does to the request
// (found by running the router's own middlewares), and what the service
// then receives (or, for a parent router, nothing: its children follow).
func printSteps(out io.Writer, steps []engine.Step, forwarded string, parent bool) {
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
	switch {
	case forwarded != "":
		fmt.Fprintf(out, "             the service receives %s\n", forwarded)
	case parent && !steps[len(steps)-1].Answered:
		fmt.Fprintf(out, "             then the children are matched\n")
	default:
		fmt.Fprintf(out, "             the service is not reached\n")
	}
}
