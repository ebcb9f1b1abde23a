package compile

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/edgeroute/edgeroute/compile/bytecode"
	"github.com/edgeroute/edgeroute/compile/index"
	"github.com/edgeroute/edgeroute/compile/syntax"
)

// Syntax selects Traefik's rule syntax for a route.
type Syntax uint8

const (
	V3 Syntax = iota // the default
	V2               // deprecated; IngressRoute routes[].syntax: v2
)

// ParseSyntax maps a route's syntax field to a Syntax as Traefik does: "v2"
// selects v2, every other value (empty, "v3", anything) the default v3.
func ParseSyntax(s string) Syntax {
	if s == "v2" {
		return V2
	}
	return V3
}

func (s Syntax) String() string {
	if s == V2 {
		return "v2"
	}
	return "v3"
}

// MaxPriority is the highest priority a user may set; Traefik reserves the
// range above it for its internal routers.
const MaxPriority = math.MaxInt64 - 1000

// Route is one router to compile.
type Route struct {
	Name     string // router name, used in problems and explanations
	Rule     string
	Priority int64 // 0 means len(Rule)
	Syntax   Syntax
	// Internal marks a router of Traefik's internal provider (ping@internal,
	// api@internal, ...), whose priorities lie above MaxPriority. Child
	// routers (parentRefs) set it too: Traefik bounds only the priorities
	// of the routers on entry points.
	Internal bool
}

// Problem is a route that could not be compiled. The route is left out of
// the table; every other route still serves.
type Problem struct {
	Index int    // position of the route in Compile's input
	Name  string // the route's name
	Err   error  // a *syntax.Error for rule problems
}

func (p Problem) Error() string { return fmt.Sprintf("router %s: %v", p.Name, p.Err) }

// Table is a compiled set of routes. It is immutable and safe for concurrent
// use; Match does not allocate.
type Table struct {
	hot    []hotRoute // what Match reads, in match order
	routes []route    // the rest, for Explain; same order
	prog   bytecode.Prog
	idx    *index.Index
}

// hotRoute is the 8 bytes of a route that matching needs, kept apart from
// the rest so that a lookup touches one cache line per candidate.
type hotRoute struct {
	first bytecode.Inst // the program's first instruction, inline
	in    int32         // index in Compile's input
}

type route struct {
	in       int // index in Compile's input
	name     string
	rule     string
	priority int64
	syntax   Syntax
	expr     *syntax.Expr
	entry    uint32
	hosts    index.HostKeys
	node     *bytecode.Node // the predicate tree; dropped once the index is built
}

// EffectivePriority returns the priority Traefik uses for r: its own when non-zero, else
// the byte length of its rule as written.
func (r Route) EffectivePriority() int64 {
	if r.Priority != 0 {
		return r.Priority
	}
	return int64(len(r.Rule))
}

// Compile builds a Table from routes. Routes whose rule or priority is
// invalid are reported as problems and left out.
//
// Order: the highest effective priority is tried first. Traefik leaves equal
// priorities of one provider in an undefined order; edgeroute keeps the input
// order, so that ties are at least deterministic.
func Compile(routes []Route) (*Table, []Problem) {
	t := &Table{routes: make([]route, 0, len(routes))}
	var b bytecode.Builder
	size := 0
	for _, r := range routes {
		size += len(r.Rule)
	}
	b.Reserve(len(routes), size)
	var problems []Problem
	for i, r := range routes {
		rt, err := compileRoute(&b, r)
		if err != nil {
			problems = append(problems, Problem{Index: i, Name: r.Name, Err: err})
			continue
		}
		rt.in = i
		t.routes = append(t.routes, rt)
	}
	slices.SortStableFunc(t.routes, func(a, b route) int { return cmp.Compare(b.priority, a.priority) })
	var ib index.Builder
	t.hot = make([]hotRoute, len(t.routes))
	for id := range t.routes {
		rt := &t.routes[id]
		ib.Add(int32(id), rt.hosts, segKeys(&b, rt.node))
		rt.node = nil // only needed while building
		t.hot[id].in = int32(rt.in)
	}
	t.idx = ib.Build()
	t.prog = b.Finish()
	for id := range t.hot {
		t.hot[id].first = t.prog.Entry(t.routes[id].entry)
	}
	return t, problems
}

// Check validates one rule without building a table: the same parse, matcher
// and argument checks that Compile applies.
func Check(rule string, s Syntax) error {
	var b bytecode.Builder
	_, _, err := lowerRule(&b, rule, s)
	return err
}

func compileRoute(b *bytecode.Builder, r Route) (route, error) {
	prio := r.EffectivePriority()
	if prio > MaxPriority && !r.Internal {
		return route{}, syntax.Errorf(syntax.ErrPriority, r.Rule, 0,
			"priority %d exceeds the maximum user-defined priority %d", prio, int64(MaxPriority))
	}
	e, n, err := lowerRule(b, r.Rule, r.Syntax)
	if err != nil {
		return route{}, err
	}
	return route{
		name:     r.Name,
		rule:     r.Rule,
		priority: prio,
		syntax:   r.Syntax,
		expr:     e,
		entry:    b.Compile(n),
		hosts:    hostKeys(b, n, false),
		node:     n,
	}, nil
}

// lowerRule parses rule and turns it into a predicate tree, checking every
// call against the matcher table of syntax s.
func lowerRule(b *bytecode.Builder, rule string, s Syntax) (*syntax.Expr, *bytecode.Node, error) {
	e, err := syntax.Parse(rule)
	if err != nil {
		return nil, nil, err
	}
	l := &lowerer{rule: rule, b: b}
	n, err := l.lower(e, s)
	if err != nil {
		return nil, nil, err
	}
	return e, n, nil
}

func (l *lowerer) lower(e *syntax.Expr, s Syntax) (*bytecode.Node, error) {
	switch e.Op {
	case syntax.OpAnd, syntax.OpOr, syntax.OpNot:
		n := &bytecode.Node{Kind: bytecode.Not}
		switch e.Op {
		case syntax.OpAnd:
			n.Kind = bytecode.And
		case syntax.OpOr:
			n.Kind = bytecode.Or
		}
		for _, sub := range e.Sub {
			c, err := l.lower(sub, s)
			if err != nil {
				return nil, err
			}
			n.Sub = append(n.Sub, c)
		}
		return n, nil
	}
	m, err := lookupMatcher(l.rule, e, s)
	if err != nil {
		return nil, err
	}
	return m.lower(l, e)
}

func lookupMatcher(rule string, e *syntax.Expr, s Syntax) (*matcher, error) {
	t, other, otherName := v3Table, v2Table, "v2 (set the route's syntax: v2)"
	if s == V2 {
		t, other, otherName = v2Table, v3Table, "the default syntax v3"
	}
	m := t[e.Name]
	if m == nil {
		hint := ""
		if other[e.Name] != nil {
			hint = " in syntax " + s.String() + "; it exists in " + otherName
		} else if canon := spellingOf(t, e.Name); canon != "" {
			hint = fmt.Sprintf(" (matcher names are case-sensitive: write %s, %s, %s or %s)",
				canon, strings.ToLower(canon), strings.ToUpper(canon), canon[:1]+strings.ToLower(canon[1:]))
		}
		return nil, syntax.Errorf(syntax.ErrUnknownMatcher, rule, e.Pos, "unknown matcher %q%s", e.Name, hint)
	}
	if ok, want := m.args(len(e.Args)); !ok {
		return nil, syntax.Errorf(syntax.ErrArity, rule, e.Pos, "%s takes %s, got %d", e.Name, want, len(e.Args))
	}
	return m, nil
}

// spellingOf returns the canonical name of the matcher that name misspells
// only in letter case, or "".
func spellingOf(t table, name string) string {
	for _, m := range t {
		if strings.EqualFold(m.name, name) {
			return m.name
		}
	}
	return ""
}

// hostKeys computes the hosts that n can only hold for. neg tells that n is
// under an odd number of negations. The result may be wider than the truth
// (Any when unsure) but never narrower.
func hostKeys(p *bytecode.Builder, n *bytecode.Node, neg bool) index.HostKeys {
	any := index.HostKeys{Any: true}
	switch n.Kind {
	case bytecode.Not:
		return hostKeys(p, n.Sub[0], !neg)
	case bytecode.And, bytecode.Or:
		if (n.Kind == bytecode.And) != neg {
			// A conjunction holds only where its narrowest operand holds.
			best := any
			for _, s := range n.Sub {
				k := hostKeys(p, s, neg)
				if !k.Any && (best.Any || len(k.Exact)+len(k.Wild) < len(best.Exact)+len(best.Wild)) {
					best = k
				}
			}
			return best
		}
		// A disjunction holds where any operand holds.
		var out index.HostKeys
		for _, s := range n.Sub {
			k := hostKeys(p, s, neg)
			if k.Any {
				return any
			}
			out.Exact = append(out.Exact, k.Exact...)
			out.Wild = append(out.Wild, k.Wild...)
		}
		return out
	}
	if neg {
		if n.Op == bytecode.OpTrue {
			return index.HostKeys{} // !true holds nowhere
		}
		return any
	}
	switch n.Op {
	case bytecode.OpFalse:
		return index.HostKeys{}
	case bytecode.OpHost:
		return index.HostKeys{Exact: []string{index.TrimDots(p.LitString(n.A, n.B))}}
	case bytecode.OpHostWild:
		// "*.example.com" is indexed under "example.com". Other expressions
		// starting with '*' ("*.", "*x") match hosts with no dot or nothing
		// at all; they stay in the any-host bucket and their program decides.
		expr := p.LitString(n.A, n.B)
		if key := index.TrimDots(strings.TrimPrefix(expr, "*.")); strings.HasPrefix(expr, "*.") && key != "" {
			return index.HostKeys{Wild: []string{key}}
		}
		if strings.HasPrefix(expr, "*..") {
			return index.HostKeys{Wild: []string{""}}
		}
	}
	return any
}

// segKeys computes the first path segments n can only hold for, like hostKeys.
func segKeys(p *bytecode.Builder, n *bytecode.Node) index.SegKeys {
	return segKeysNeg(p, n, false)
}

func segKeysNeg(p *bytecode.Builder, n *bytecode.Node, neg bool) index.SegKeys {
	any := index.SegKeys{Any: true}
	switch n.Kind {
	case bytecode.Not:
		return segKeysNeg(p, n.Sub[0], !neg)
	case bytecode.And, bytecode.Or:
		if (n.Kind == bytecode.And) != neg {
			best := any
			for _, s := range n.Sub {
				k := segKeysNeg(p, s, neg)
				if !k.Any && (best.Any || len(k.Segs) < len(best.Segs)) {
					best = k
				}
			}
			return best
		}
		var out index.SegKeys
		for _, s := range n.Sub {
			k := segKeysNeg(p, s, neg)
			if k.Any {
				return any
			}
			out.Segs = append(out.Segs, k.Segs...)
		}
		return out
	}
	if neg {
		if n.Op == bytecode.OpTrue {
			return index.SegKeys{}
		}
		return any
	}
	switch n.Op {
	case bytecode.OpFalse:
		return index.SegKeys{}
	case bytecode.OpPath, bytecode.OpPathPrefix:
		if seg, ok := index.Segment(p.LitString(n.A, n.B), n.Op == bytecode.OpPath); ok {
			return index.SegKeys{Segs: []string{seg}}
		}
	}
	return any
}

// Len returns the number of routes in the table.
func (t *Table) Len() int { return len(t.routes) }
