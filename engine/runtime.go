package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/edgeroute/edgeroute/engine/metrics"
	"log/slog"
	"maps"
	"reflect"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/acme"
	"github.com/edgeroute/edgeroute/compile"
	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/engine/middleware"
	"github.com/edgeroute/edgeroute/lb"
	"github.com/edgeroute/edgeroute/tlsmux"
)

// Runtime is one immutable build of a snapshot: per entry point a compiled
// table and its routers, and the services they lead to. It is safe for
// concurrent use; a new configuration builds a new Runtime.
type Runtime struct {
	entry   map[string]*entryRuntime // plain-HTTP routers by entry point
	secure  map[string]*entryRuntime // TLS routers by entry point
	byIndex []*entryRuntime          // entry by EntryPoint.Index, for the request path
	// byIndexTLS is secure by EntryPoint.Index.
	byIndexTLS []*entryRuntime
	snapshot   *spec.Snapshot
	// Compiled is false when the rules were unchanged from the previous
	// runtime and its compiled tables were reused (an endpoint-only change).
	Compiled bool
	// stateKeys are the lb.Registry keys this runtime uses.
	stateKeys map[string]bool
	// tls is each entry point's TLS configuration, swapped into its
	// tlsmux.Store by Apply.
	tls map[string]*tlsmux.Config
	// lbs are the load-balancer services by endpoints key, for
	// UpdateEndpoints.
	lbs map[string][]*lbService
	// problems are the snapshot's (translation) and the build's, for the
	// API.
	problems []spec.Problem
	// built are the middlewares, kept for the next runtime: one whose
	// definition is unchanged is reused, with its state (rate-limit
	// buckets, in-flight counts, breaker state).
	built map[string]*middleware.Built
	// mirrors are the mirroring services by name (their counters).
	mirrors map[string]*mirrorService
	// internals are its internal services (api@internal, ...), which
	// Apply binds to the server.
	internals []*internalService
	// children are the parent routers' children tables, by parent name
	// (children.go).
	children map[string]*childMux
	// acme are the certificate resolvers, whose failures Problems adds.
	acme *acme.Manager
}

type entryRuntime struct {
	table    *compile.Table
	routers  []*routerRuntime // by index in the table's input
	problems []spec.Problem   // the table's compile problems, kept for reuse
	// hostOptions maps the hosts of the TLS routers' Host() rules to
	// their TLS options (Traefik's tlsOptionsForHost): chosen by SNI at
	// the handshake, and compared with the Host header's (421).
	hostOptions    map[string]string
	optionProblems []spec.Problem
}

type routerRuntime struct {
	r       *spec.Router
	service service
	options string // TLS options name, for TLS routers
	// handler is the service wrapped in the router's middlewares (its
	// entry point's http.middlewares first), built once per runtime.
	handler middleware.Handler
	// chain lists the middlewares handler runs, in order, chains
	// expanded into their members, for explain.
	chain []chainLink
	// mRouter and mService are its router and service metrics (nil when
	// off), set by Apply.
	mRouter, mService *metrics.Family
}

// chainLink is one middleware a router runs, and the chains it came
// through ("" when the router names it).
type chainLink struct {
	b   *middleware.Built
	via string
}

// wrap builds the router's handler: its service inside the entry point's
// middlewares and then its own, in order.
func (rr *routerRuntime) wrap(built map[string]*middleware.Built, entryPoint []string, traced bool) error {
	names := make([]string, 0, len(entryPoint)+len(rr.r.Middlewares))
	for _, n := range entryPoint {
		if !strings.Contains(n, "@") {
			n += "@kubernetescrd" // qualified by the router's provider, as in Traefik
		}
		names = append(names, n)
	}
	names = append(names, rr.r.Middlewares...)
	wraps := make([]middleware.Middleware, 0, len(names))
	for _, n := range names {
		b := built[n]
		if b == nil {
			return fmt.Errorf("middleware %s does not exist", n)
		}
		if b.Err != nil {
			return b.Err
		}
		rr.chain = appendLinks(rr.chain, built, b, "")
	}
	for _, l := range rr.chain {
		wraps = append(wraps, tracedWrap(l.b, traced)) // l.b.Wrap without tracing (otel.go)
	}
	rr.handler = middleware.Wrap(terminal(rr.service), wraps...)
	return nil
}

// appendLinks appends b, or the members of the chain b, recursively (a
// chain wraps its members in order, so the expansion serves the same).
// Build has refused cycles and missing members.
func appendLinks(links []chainLink, built map[string]*middleware.Built, b *middleware.Built, via string) []chainLink {
	if b.Def.Kind != "chain" {
		return append(links, chainLink{b: b, via: via})
	}
	v := b.Def.Name
	if via != "" {
		v = via + " > " + v
	}
	for _, name := range b.Def.Chain {
		links = appendLinks(links, built, built[name], v)
	}
	return links
}

// sortedBuilt lists built middlewares by name, so that problems come out
// in a stable order.
func sortedBuilt(m map[string]*middleware.Built) []*middleware.Built {
	out := make([]*middleware.Built, 0, len(m))
	for _, b := range m {
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b *middleware.Built) int { return strings.Compare(a.Def.Name, b.Def.Name) })
	return out
}

// entryFor returns the plain or TLS runtime of an entry point; rt may be
// nil.
func (rt *Runtime) entryFor(name string, secure bool) *entryRuntime {
	if rt == nil {
		return nil
	}
	if secure {
		return rt.secure[name]
	}
	return rt.entry[name]
}

// routerOptions resolves the TLS options of a TLS router: its own, else
// its entry point's, else the default; they must exist.
func routerOptions(r *spec.Router, ep *EntryPoint, t *spec.TLS) (string, error) {
	name := spec.DefaultTLSOptions
	switch {
	case r.TLS != nil && r.TLS.Options != "":
		name = r.TLS.Options
	case ep.TLS != nil && ep.TLS.Options != "":
		name = ep.TLS.Options
	}
	if name == spec.DefaultTLSOptions {
		return name, nil
	}
	if t == nil || t.Options[name] == nil {
		return "", fmt.Errorf("TLS options %q do not exist", name)
	}
	return name, nil
}

// hostOptions builds Traefik's host → TLS options map for the TLS routers
// of one entry point. A host that routers with different options name
// gets the default options, and each of those routers a warning; a
// router with no Host() keeps the default options for unnamed hosts (with
// a warning when it asked for others).
func hostOptions(entryPoint string, routers []*routerRuntime) (map[string]string, []spec.Problem) {
	m := map[string]string{}
	conflict := map[string]bool{}
	domains := make([][]string, len(routers)) // each rule parsed once
	var problems []spec.Problem
	for i, r := range routers {
		domains[i] = compile.Domains(r.r.Rule)
		if len(domains[i]) == 0 && r.options != spec.DefaultTLSOptions {
			problems = append(problems, spec.Problem{Ref: r.r.Ref, Warning: true, Err: fmt.Errorf(
				"router %s: its rule names no Host(), so handshakes on entry point %s cannot select its TLS options %s; the default options apply", r.r.Name, entryPoint, r.options)})
		}
		for _, d := range domains[i] {
			if have, ok := m[d]; !ok {
				m[d] = r.options
			} else if have != r.options {
				conflict[d] = true
			}
		}
	}
	if len(conflict) == 0 {
		return m, problems
	}
	for d := range conflict {
		m[d] = spec.DefaultTLSOptions
	}
	for i, r := range routers {
		for _, d := range domains[i] {
			if conflict[d] {
				problems = append(problems, spec.Problem{Ref: r.r.Ref, Warning: true, Err: fmt.Errorf(
					"router %s: host %s has routers with different TLS options on entry point %s; the default options apply to it", r.r.Name, d, entryPoint)})
			}
		}
	}
	return m, problems
}

// service handles a routed request.
type service interface {
	serve(ctx *fasthttp.RequestCtx, st *reqState)
}

func emptyRuntime() *Runtime {
	return &Runtime{entry: map[string]*entryRuntime{}, snapshot: &spec.Snapshot{}}
}

// Problems returns what translation and the build reported about this
// runtime's configuration (the routers and objects concerned are left
// out; warnings included).
func (rt *Runtime) Problems() []spec.Problem {
	if ps := rt.acme.Problems(); len(ps) > 0 { // failed certificate orders
		return append(slices.Clip(rt.problems), ps...)
	}
	return rt.problems
}

// Built returns the middlewares of the runtime, by name.
func (rt *Runtime) Built() map[string]*middleware.Built { return rt.built }

// Snapshot returns the configuration this runtime was built from.
func (rt *Runtime) Snapshot() *spec.Snapshot { return rt.snapshot }

// Table returns the compiled table of an entry point and its routers, in
// the table's input order (for explain).
func (rt *Runtime) Table(entryPoint string) (*compile.Table, []*spec.Router) {
	return rt.tableOf(rt.entry[entryPoint])
}

// TLSTable is Table for the entry point's TLS connections.
func (rt *Runtime) TLSTable(entryPoint string) (*compile.Table, []*spec.Router) {
	return rt.tableOf(rt.secure[entryPoint])
}

func (rt *Runtime) tableOf(e *entryRuntime) (*compile.Table, []*spec.Router) {
	if e == nil {
		return nil, nil
	}
	rs := make([]*spec.Router, len(e.routers))
	for i, r := range e.routers {
		rs[i] = r.r
	}
	return e.table, rs
}

// Apply builds a runtime from snap and swaps it in. It returns the problems
// found while building (bad rules, unknown services); the routers concerned
// are left out and everything else serves.
func (s *Server) Apply(snap *spec.Snapshot) []spec.Problem {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	rt, problems := build(s.static, snap, s.ups, s.reg, s.rt.Load(), s.elog)
	problems = append(problems, s.wantCertificates(rt)...)
	rt.acme = s.acme
	// Certificates and options first: a connection routed by the new
	// tables finds its host's options in place.
	for name, st := range s.stores {
		if err := st.Swap(s.withCertificates(rt, name)); err != nil {
			problems = append(problems, spec.Problem{Ref: spec.Ref{Kind: "EntryPoint", Name: name}, Warning: true, Err: fmt.Errorf("TLS on entry point %s: %w", name, err)})
		}
	}
	s.attachMetrics(rt)
	s.bindInternal(rt)
	rt.problems = append(append([]spec.Problem(nil), snap.Problems...), problems...)
	s.rt.Store(rt)
	s.releaseMemory()
	s.ups.sweep(rt)
	s.health.sync(snap, s.reg, s.ups)
	s.reg.Sweep(rt.stateKeys)
	return problems
}

// releaseMemory returns the garbage of a configuration build (a 10k-route
// load allocates some 70 MB) to the operating system once it is
// collectable, rather than when the runtime's scavenger gets to it: an
// edge proxy's RSS is what its node budget sees. At most once per
// releaseEvery, in the background.
func (s *Server) releaseMemory() {
	now := time.Now().UnixNano()
	last := s.lastRelease.Load()
	if now-last < int64(releaseEvery) || !s.lastRelease.CompareAndSwap(last, now) {
		return
	}
	go debug.FreeOSMemory()
}

const releaseEvery = 10 * time.Second

// UpdateEndpoints replaces the servers of the given endpoint tables (keys
// are spec.LoadBalancer.EndpointsKey) in the runtime in service: each
// balancer concerned is rebuilt and swapped atomically; routing tables and
// every other service are untouched. It is the fast path for an
// EndpointSlice change, which can only move a service's servers. Keys the
// runtime does not use are ignored. The snapshot given to Apply is updated
// in place, so a later Apply of an unchanged routing configuration still
// reuses the compiled tables.
func (s *Server) UpdateEndpoints(changes map[string][]spec.Server) {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	rt := s.rt.Load()
	touched := false
	for key, servers := range changes {
		lbs := rt.lbs[key]
		if len(lbs) == 0 {
			continue
		}
		touched = true
		old := rt.snapshot.Endpoints[key]
		rt.snapshot.Endpoints[key] = servers
		for _, sv := range lbs {
			for _, srv := range old {
				delete(rt.stateKeys, sv.def.Name+" "+srv.URL)
			}
			for _, srv := range servers {
				rt.stateKeys[sv.def.Name+" "+srv.URL] = true
			}
			sv.setServers(servers, s.ups, s.reg)
		}
	}
	if touched {
		s.ups.sweep(rt)
		s.health.sync(rt.snapshot, s.reg, s.ups)
		s.reg.Sweep(rt.stateKeys)
	}
}

// Runtime returns the runtime in service.
func (s *Server) Runtime() *Runtime { return s.rt.Load() }

// Build compiles a snapshot for the entry points of static without serving
// it, for tools (explain, check): the same tables and problems as Apply.
func Build(static *Static, snap *spec.Snapshot) (*Runtime, []spec.Problem) {
	upTLS, _ := static.ServersTransport.UpstreamTLS()
	return build(static, snap, newUpstreams(context.Background(), staticTransport(upTLS)), lb.NewRegistry(), nil, nil)
}

// build compiles a snapshot for the entry points of static. Upstream
// connection pools are taken from ups, so that they survive reloads. When
// prev routed with the same routers and service definitions (only endpoints
// changed), its compiled tables are reused: an EndpointSlice change never
// recompiles the rules.
func build(static *Static, snap *spec.Snapshot, ups *upstreams, reg *lb.Registry, prev *Runtime, elog *errorLog) (*Runtime, []spec.Problem) {
	snap = internalSnapshot(static, snap) // Traefik's internal routers (ping, API, ...)
	rt := &Runtime{entry: map[string]*entryRuntime{}, secure: map[string]*entryRuntime{}, snapshot: snap, Compiled: true, stateKeys: map[string]bool{}, lbs: map[string][]*lbService{}}
	reuse := prev != nil && len(prev.entry) > 0 && sameRouting(prev.snapshot, snap)
	// The ServersTransports first: load balancers take their upstreams
	// through them.
	problems := append(ups.configure(snap.ServersTransports), resolverProblems(static, snap)...)
	services := map[string]service{}
	failed := map[string]error{}
	var wrapped []*mwService
	var buildService func(name string, stack []string) (service, error)
	buildService = func(name string, stack []string) (service, error) {
		if sv, ok := services[name]; ok {
			return sv, nil
		}
		if err, ok := failed[name]; ok {
			return nil, err // a service in error stays so, as in Traefik
		}
		if IsInternal(name) { // api@internal, ping@internal, ...: no definition
			is, err := newInternalService(static, name)
			if err != nil {
				return nil, err
			}
			rt.internals = append(rt.internals, is)
			services[name] = is
			return is, nil
		}
		sv, err := buildOne(name, stack, snap, rt, ups, reg, elog, buildService, func(p spec.Problem) { problems = append(problems, p) })
		if err != nil {
			failed[name] = err
			return nil, err
		}
		if def := snap.Services[name]; len(def.Middlewares) > 0 {
			// Wrapped once the middlewares are built, before the runtime
			// serves.
			ms := &mwService{inner: sv, def: def}
			wrapped = append(wrapped, ms)
			sv = ms
		}
		services[name] = sv
		return sv, nil
	}

	// Middlewares are built once, whatever number of routers use them;
	// each router then wraps its own service in them.
	var prevBuilt map[string]*middleware.Built
	if prev != nil {
		prevBuilt = prev.built
	}
	mwLog := slog.New(slog.DiscardHandler) // tools (check, explain) log nothing
	if elog != nil {
		mwLog = elog.log.With("component", "middleware")
	}
	defs := snap.Middlewares
	if deny := entryPointDenyDefs(static); len(deny) > 0 {
		defs = maps.Clone(snap.Middlewares)
		if defs == nil {
			defs = map[string]*spec.Middleware{}
		}
		maps.Copy(defs, deny)
	}
	built := middleware.Build(defs, middleware.BuildContext{
		Previous: prevBuilt,
		Log:      mwLog,
		Service: func(name string) (middleware.Handler, error) {
			sv, err := buildService(name, nil)
			if err != nil {
				return nil, err
			}
			return terminal(sv), nil
		},
	})
	rt.built = built
	for _, b := range sortedBuilt(built) {
		if b.Err != nil {
			problems = append(problems, spec.Problem{Ref: b.Def.Ref, Err: b.Err})
		}
		for _, w := range b.Warnings {
			problems = append(problems, spec.Problem{Ref: b.Def.Ref, Warning: true, Err: fmt.Errorf("middleware %s: %s", b.Def.Name, w)})
		}
	}

	defaults := defaultEntryPoints(static)
	// Child routers (parentRefs) are built once, into their parents'
	// tables; only roots are on entry points.
	tree := parseRouterTree(snap.Routers)
	problems = append(problems, tree.problems...)
	kids := &childBuilder{tree: tree, built: built, buildService: buildService, muxes: map[int]*muxResult{}, kids: map[int]*kidResult{},
		report: func(p spec.Problem) { problems = append(problems, p) }}
	type compiledTable struct {
		ids      []int // indices in snap.Routers
		table    *compile.Table
		problems []spec.Problem
	}
	var compiled []compiledTable
	for name, ep := range static.EntryPoints {
		for _, secure := range []bool{false, true} {
			on := func(r *spec.Router) bool {
				if len(r.ParentRefs) > 0 {
					return false // a child router: in its parents' tables
				}
				eps := r.EntryPoints
				if len(eps) == 0 {
					eps = defaults
				}
				return slices.Contains(eps, name) && (r.TLS != nil || ep.TLS != nil) == secure
			}
			n := 0
			for i := range snap.Routers {
				if on(&snap.Routers[i]) {
					n++
				}
			}
			routes := make([]compile.Route, 0, n)
			routers := make([]*routerRuntime, 0, n)
			ids := make([]int, 0, n)
			for i := range snap.Routers {
				r := &snap.Routers[i]
				if !on(r) {
					continue
				}
				var options string
				if secure {
					var err error
					if options, err = routerOptions(r, ep, snap.TLS); err != nil {
						problems = append(problems, spec.Problem{Ref: r.Ref, Err: fmt.Errorf("router %s: %w", r.Name, err)})
						continue
					}
				}
				sv, err := kids.serviceOf(i)
				if err != nil {
					problems = append(problems, spec.Problem{Ref: r.Ref, Err: fmt.Errorf("router %s: %w", r.Name, err)})
					continue
				}
				rr := &routerRuntime{r: r, service: sv, options: options}
				if err := rr.wrap(built, entryPointMiddlewares(name, ep), static.Tracing != nil); err != nil {
					// As in Traefik, a router whose middleware is missing
					// or broken is not served: its requests get 404.
					problems = append(problems, spec.Problem{Ref: r.Ref, Err: fmt.Errorf("router %s: %w", r.Name, err)})
					continue
				}
				routes = append(routes, compile.Route{Name: r.Name, Rule: r.Rule, Priority: r.Priority, Syntax: compile.ParseSyntax(r.Syntax), Internal: IsInternal(r.Name)})
				routers = append(routers, rr)
				ids = append(ids, i)
			}
			var er *entryRuntime
			// Entry points with the same routers (routers without
			// entryPoints are on every default one) share one table.
			shared := -1
			for j, c := range compiled {
				if slices.Equal(c.ids, ids) {
					shared = j
					break
				}
			}
			if old := prev.entryFor(name, secure); reuse && old != nil && len(old.routers) == len(routers) {
				er = &entryRuntime{table: old.table, routers: routers, problems: old.problems}
				problems = append(problems, old.problems...)
				rt.Compiled = false
			} else if shared >= 0 {
				c := compiled[shared]
				er = &entryRuntime{table: c.table, routers: routers, problems: c.problems}
			} else {
				table, probs := compile.Compile(routes)
				var tableProblems []spec.Problem
				for _, p := range probs {
					// As in Traefik, the router exists but its rule is in
					// error, so it is left out of the muxer and its requests
					// fall through.
					r := routers[p.Index].r
					tableProblems = append(tableProblems, spec.Problem{Ref: r.Ref, Err: fmt.Errorf("router %s: invalid rule %q: %w", p.Name, r.Rule, p.Err)})
				}
				problems = append(problems, tableProblems...)
				er = &entryRuntime{table: table, routers: routers, problems: tableProblems}
				compiled = append(compiled, compiledTable{ids: ids, table: table, problems: tableProblems})
			}
			if secure {
				er.hostOptions, er.optionProblems = hostOptions(name, routers)
				problems = append(problems, er.optionProblems...)
				rt.secure[name] = er
			} else {
				rt.entry[name] = er
			}
		}
	}
	rt.children = map[string]*childMux{}
	for i, m := range kids.muxes {
		if m.mux != nil {
			rt.children[snap.Routers[i].Name] = m.mux
		}
	}
	// Services with middlewares of their own get them now. One whose
	// middleware is missing or broken answers 404, as its routers do in
	// Traefik, and is reported.
	for _, ms := range wrapped {
		if err := ms.wrap(built); err != nil {
			problems = append(problems, spec.Problem{Ref: ms.def.Ref, Err: fmt.Errorf("service %s: %w", ms.def.Name, err)})
		}
	}

	rt.byIndex = make([]*entryRuntime, len(static.EntryPoints))
	rt.byIndexTLS = make([]*entryRuntime, len(static.EntryPoints))
	for name, ep := range static.EntryPoints {
		rt.byIndex[ep.Index] = rt.entry[name]
		rt.byIndexTLS[ep.Index] = rt.secure[name]
	}
	// Certificates and options are parsed here, so that check and explain
	// report what Apply would refuse.
	var tlsProblems []spec.Problem
	rt.tls, tlsProblems = tlsConfigs(snap.TLS, rt)
	problems = append(problems, tlsProblems...)
	return rt, dedupe(problems)
}

// sameRouting reports whether two snapshots have the same routers and
// service definitions; their endpoints may differ.
// References (file and line of each object) are for reports only: moving an
// object within a file changes nothing that routes.
func sameRouting(a, b *spec.Snapshot) bool {
	if len(a.Routers) != len(b.Routers) || len(a.Services) != len(b.Services) {
		return false
	}
	for i := range a.Routers {
		x, y := a.Routers[i], b.Routers[i]
		x.Ref, y.Ref = spec.Ref{}, spec.Ref{}
		if !reflect.DeepEqual(x, y) {
			return false
		}
	}
	for name, x := range a.Services {
		y := b.Services[name]
		if y == nil {
			return false
		}
		xc, yc := *x, *y
		xc.Ref, yc.Ref = spec.Ref{}, spec.Ref{}
		if !reflect.DeepEqual(xc, yc) {
			return false
		}
	}
	return true
}

// dedupe drops problems repeated once per entry point.
func dedupe(ps []spec.Problem) []spec.Problem {
	seen := map[string]bool{}
	var out []spec.Problem
	for _, p := range ps {
		if k := p.Error(); !seen[k] {
			seen[k] = true
			out = append(out, p)
		}
	}
	return out
}

// defaultEntryPoints are those with asDefault, or else all of them.
func defaultEntryPoints(static *Static) []string {
	var def, all []string
	for name, ep := range static.EntryPoints {
		all = append(all, name)
		if ep.AsDefault {
			def = append(def, name)
		}
	}
	if len(def) > 0 {
		return def
	}
	return all
}

// denyName names the middleware that refuses an entry point's denied
// encoded characters (entryPoints.NAME.http.encodedCharacters).
func denyName(entryPoint string) string { return "encodedcharacters-" + entryPoint + "@internal" }

// entryPointDenyDefs are the encodedCharacters middlewares of the entry
// points that set http.encodedCharacters. As in Traefik (an entry point
// model), each runs on every router of its entry point, before the
// entry point's and the router's own middlewares.
func entryPointDenyDefs(static *Static) map[string]*spec.Middleware {
	var out map[string]*spec.Middleware
	for name, ep := range static.EntryPoints {
		if ep.EncodedCharacters == nil {
			continue
		}
		cfg, _ := json.Marshal(ep.EncodedCharacters)
		if out == nil {
			out = map[string]*spec.Middleware{}
		}
		n := denyName(name)
		out[n] = &spec.Middleware{Name: n, Kind: "encodedCharacters", Config: cfg,
			Ref: spec.Ref{Kind: "EntryPoint", Name: name}}
	}
	return out
}

// entryPointMiddlewares lists what runs before a router's middlewares on
// entry point ep: the encoded-character check, then http.middlewares.
func entryPointMiddlewares(name string, ep *EntryPoint) []string {
	if ep.EncodedCharacters == nil {
		return ep.Middlewares
	}
	return append([]string{denyName(name)}, ep.Middlewares...)
}
