package engine

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/compile"
	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/engine/middleware"
)

// Multi-layer routing (Traefik v3.7's child routers, IngressRoute
// parentRefs): a router with child routers has no service; the request it
// takes goes through its middlewares and is then matched against its
// children's own compiled table, on the request as those middlewares left
// it (path, headers, query). The child that matches runs its own
// middlewares and service, or its own children. No matching child is a
// 404. Children are on no entry point of their own and never get the
// entry point's middlewares or TLS options.
//
// parseRouterTree is Traefik's router manager ParseRouterTree, with its
// checks and words; buildChildren its buildChildRoutersMuxer.

// routerTree is the parent/child relation of a snapshot's routers.
type routerTree struct {
	routers []spec.Router
	// children lists each router's children (indices in routers), in
	// input order, cycles cut.
	children [][]int
	// blocked marks the routers the tree parse found an error in (even a
	// warning): as in Traefik, they are never added to a parent's table.
	blocked []bool
	// problems are the tree's, each on its router.
	problems []spec.Problem
	// hasChildren tells whether any router has a parent at all.
	hasChildren bool
}

// parseRouterTree links children to their parents, cuts cycles, and
// reports what Traefik's ParseRouterTree reports: a missing parent, a child
// with entry points, TLS or observability, a cycle (on the router that
// closes it), a router no root reaches, a router with neither a service nor
// children, and one with both.
func parseRouterTree(routers []spec.Router) *routerTree {
	t := &routerTree{routers: routers, children: make([][]int, len(routers)), blocked: make([]bool, len(routers))}
	byName := make(map[string]int, len(routers))
	for i := range routers {
		byName[routers[i].Name] = i
	}
	fail := func(i int, warning bool, format string, args ...any) {
		r := &routers[i]
		t.problems = append(t.problems, spec.Problem{Ref: r.Ref, Warning: warning, Err: fmt.Errorf("router %s: "+format, append([]any{r.Name}, args...)...)})
		t.blocked[i] = true
	}
	var roots []int
	for i := range routers {
		r := &routers[i]
		if len(r.ParentRefs) == 0 {
			roots = append(roots, i)
			continue
		}
		t.hasChildren = true
		for _, p := range r.ParentRefs {
			if j, ok := byName[p]; ok {
				if !slices.Contains(t.children[j], i) {
					t.children[j] = append(t.children[j], i)
				}
			} else {
				fail(i, false, "parent router %q does not exist", p)
			}
		}
		switch {
		case r.TLS != nil:
			fail(i, false, "non-root router cannot have TLS configuration")
		case r.Observability != nil:
			fail(i, false, "non-root router cannot have Observability configuration")
		case len(r.EntryPoints) > 0:
			fail(i, false, "non-root router cannot have Entrypoints configuration")
		}
	}
	if !t.hasChildren {
		for _, i := range roots {
			if routers[i].Service == "" {
				fail(i, false, "router has no service and no child routers")
			}
		}
		return t
	}
	// Depth first from the roots, by name as Traefik sorts them: an edge
	// back to a router on the current path closes a cycle, which is
	// reported on the router it leaves and cut there.
	byNameOrder := func(l []int) []int {
		s := slices.Clone(l)
		slices.SortFunc(s, func(a, b int) int { return strings.Compare(routers[a].Name, routers[b].Name) })
		return s
	}
	visited := make([]bool, len(routers))
	onPath := make([]bool, len(routers))
	var path []int
	var walk func(i int)
	walk = func(i int) {
		if onPath[i] {
			start := slices.Index(path, i)
			names := make([]string, 0, len(path)-start+1)
			for _, j := range path[start:] {
				names = append(names, routers[j].Name)
			}
			names = append(names, routers[i].Name)
			guilty := path[len(path)-1]
			fail(guilty, true, "cyclic reference detected in router tree: %s", strings.Join(names, " -> "))
			if k := slices.Index(t.children[guilty], i); k >= 0 {
				t.children[guilty] = slices.Delete(t.children[guilty], k, k+1)
			}
			return
		}
		if visited[i] {
			return
		}
		visited[i], onPath[i] = true, true
		path = append(path, i)
		for _, c := range byNameOrder(t.children[i]) {
			walk(c)
		}
		path = path[:len(path)-1]
		onPath[i] = false
	}
	for _, i := range byNameOrder(roots) {
		walk(i)
	}
	for i := range routers {
		r := &routers[i]
		switch {
		case !visited[i]:
			fail(i, false, "router is not reachable")
		case r.Service == "" && len(t.children[i]) == 0:
			fail(i, false, "router has no service and no child routers")
		case r.Service != "" && len(t.children[i]) > 0:
			fail(i, false, "router has both a service and is referenced as a parent by other routers")
		}
	}
	return t
}

// childMux is the service of a parent router: its children's table
// (Traefik's child muxer). It is built once per runtime and shared by
// every parent path and entry point that leads to it.
type childMux struct {
	parent  *spec.Router
	table   *compile.Table
	routers []*routerRuntime // by index in the table's input
}

// childBuilder builds the children of a runtime's parent routers, each
// once (Traefik caches router handlers by name too).
type childBuilder struct {
	tree         *routerTree
	built        map[string]*middleware.Built
	buildService func(name string, stack []string) (service, error)
	report       func(spec.Problem)
	muxes        map[int]*muxResult
	kids         map[int]*kidResult
}

type muxResult struct {
	mux *childMux
	err error
}

type kidResult struct {
	rr       *routerRuntime
	err      error
	building bool
}

// serviceOf is the service of router i: its children's table when it has
// children (even when it also names a service, as in Traefik), else its
// own service.
func (b *childBuilder) serviceOf(i int) (service, error) {
	if len(b.tree.children[i]) > 0 {
		m, err := b.mux(i)
		if err != nil {
			return nil, err
		}
		return m, nil
	}
	if b.tree.routers[i].Service == "" {
		return nil, errors.New("router must have either a service or child routers")
	}
	return b.buildService(b.tree.routers[i].Service, nil)
}

// mux builds the table of router i's children. A child in error is left
// out and reported on itself; a table no child could enter is an error of
// the parent, in Traefik's words.
func (b *childBuilder) mux(i int) (*childMux, error) {
	if m, ok := b.muxes[i]; ok {
		return m.mux, m.err
	}
	m := &childMux{parent: &b.tree.routers[i]}
	var routes []compile.Route
	for _, c := range b.tree.children[i] {
		if b.tree.blocked[c] {
			continue
		}
		rr, err := b.kid(c)
		if err != nil {
			continue // reported by kid
		}
		r := rr.r
		// Traefik does not bound a child's priority (only roots'), as
		// it does not bound internal routers'.
		routes = append(routes, compile.Route{Name: r.Name, Rule: r.Rule, Priority: r.Priority, Syntax: compile.ParseSyntax(r.Syntax), Internal: true})
		m.routers = append(m.routers, rr)
	}
	table, probs := compile.Compile(routes)
	for _, p := range probs {
		r := m.routers[p.Index].r
		b.report(spec.Problem{Ref: r.Ref, Err: fmt.Errorf("router %s: invalid rule %q: %w", p.Name, r.Rule, p.Err)})
	}
	var err error
	if table.Len() == 0 {
		err = fmt.Errorf("building child routers muxer: no child routers could be added to muxer (%d skipped)", len(b.tree.children[i]))
		m = nil
	} else {
		m.table = table
	}
	b.muxes[i] = &muxResult{mux: m, err: err}
	return m, err
}

// kid builds child router c: its service (or its own children) inside its
// own middlewares (never the entry point's).
func (b *childBuilder) kid(c int) (*routerRuntime, error) {
	if k, ok := b.kids[c]; ok {
		if k.building { // cannot happen: the tree parse cut the cycles
			return nil, errors.New("cyclic reference detected in router tree")
		}
		return k.rr, k.err
	}
	k := &kidResult{building: true}
	b.kids[c] = k
	r := &b.tree.routers[c]
	sv, err := b.serviceOf(c)
	if err == nil {
		k.rr = &routerRuntime{r: r, service: sv}
		err = k.rr.wrap(b.built, nil, false)
	}
	if err != nil {
		k.rr = nil
		b.report(spec.Problem{Ref: r.Ref, Err: fmt.Errorf("router %s: %w", r.Name, err)})
	}
	k.err, k.building = err, false
	return k.rr, err
}

// Reasons of a child table's own answers.
const (
	reasonNoChild       = "no child router matches"
	reasonChildBadRoute = "the path the parent's middlewares left cannot be routed"
)

// decide matches the request, as the parent's middlewares left it,
// against the children: the child that takes it, or the status the
// parent's table answers (404 when none matches, as Traefik's child muxer;
// 400 when the path cannot be routed). serve runs it per request and
// explain on the explained one.
func (m *childMux) decide(ctx *fasthttp.RequestCtx, st *reqState) (*routerRuntime, int) {
	var err error
	st.childPath, err = compile.AppendRoutingPath(st.childPath[:0], st.mw.EscapedPath())
	q := &st.child
	q.Host = st.creq.Host // Traefik matches hosts on the entry point's canonical host
	q.Path = st.childPath
	q.Method = ctx.Request.Header.Method()
	q.Query = st.mw.Query
	q.ClientIP = st.creq.ClientIP
	q.Header = st.creq.Header // the request's header, through the fidelity view when it has one
	if err != nil {
		return nil, fasthttp.StatusBadRequest
	}
	i := m.table.Match(q)
	if i < 0 {
		return nil, fasthttp.StatusNotFound
	}
	return m.routers[i], 0
}

// serve is the parent router's service: the child that matches serves
// the request.
func (m *childMux) serve(ctx *fasthttp.RequestCtx, st *reqState) {
	c, status := m.decide(ctx, st)
	if c == nil {
		answerChild(ctx, status)
		return
	}
	st.enter(m.parent, c)
	c.handler(ctx, &st.mw)
}

// answerChild writes a child table's own answer: Go's NotFoundHandler,
// or an empty 400 (Traefik's muxer when the routing path fails).
func answerChild(ctx *fasthttp.RequestCtx, status int) {
	if status == fasthttp.StatusNotFound {
		notFound(ctx)
		return
	}
	ctx.SetStatusCode(status)
}

// enter records that the request went from parent into child: hops is the
// path below the root (a retry of the parent's middlewares re-enters the
// same table, so the path is cut back to the parent first).
func (st *reqState) enter(parent *spec.Router, child *routerRuntime) {
	k := 0
	for j := len(st.hops) - 1; j >= 0; j-- {
		if st.hops[j].r == parent {
			k = j + 1
			break
		}
	}
	st.hops = append(st.hops[:k], child)
}

// leaf is the router whose service serves the request: the last child
// entered, else the root.
func (st *reqState) leaf() *routerRuntime {
	if n := len(st.hops); n > 0 {
		return st.hops[n-1]
	}
	return st.router
}

// appendRouterPath appends the routers the request went through, as
// Traefik's access log names them ("parent -> child").
func (st *reqState) appendRouterPath(b []byte) []byte {
	b = append(b, st.router.r.Name...)
	for _, h := range st.hops {
		b = append(b, " -> "...)
		b = append(b, h.r.Name...)
	}
	return b
}

// Children returns the routers of parent's children table, in the table's
// input order, or nil when parent has none (for the API and tools).
func (rt *Runtime) Children(parent string) []*spec.Router {
	m := rt.children[parent]
	if m == nil {
		return nil
	}
	out := make([]*spec.Router, len(m.routers))
	for i, r := range m.routers {
		out[i] = r.r
	}
	return out
}
