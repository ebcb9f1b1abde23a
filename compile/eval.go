package compile

import (
	"cmp"
	"regexp"
	"slices"

	"github.com/edgeroute/edgeroute/compile/syntax"
)

// The reference interpreter: the executable specification of routing. It
// walks the syntax tree with each matcher row's eval function, written with
// the standard library the way Traefik writes it (strings, net/url, net), and
// scans routes linearly in priority order. It is slow and allocates; tests
// and fuzzers check that Table.Match always agrees with it.

// evaluator carries the reference interpreter's regexp cache.
type evaluator struct {
	res map[string]*regexp.Regexp
}

func (ev *evaluator) re(expr string) *regexp.Regexp {
	if re, ok := ev.res[expr]; ok {
		return re
	}
	if ev.res == nil {
		ev.res = map[string]*regexp.Regexp{}
	}
	re := regexp.MustCompile(expr) // rules reach eval only after lowering checked them
	ev.res[expr] = re
	return re
}

// Eval reports whether rule e, of syntax s, holds for r. e must have passed
// Check (its matchers exist and their arguments are valid).
func Eval(e *syntax.Expr, s Syntax, r *Request) bool {
	var ev evaluator
	return ev.eval(e, s, r)
}

func (ev *evaluator) eval(e *syntax.Expr, s Syntax, r *Request) bool {
	switch e.Op {
	case syntax.OpAnd:
		for _, sub := range e.Sub {
			if !ev.eval(sub, s, r) {
				return false
			}
		}
		return true
	case syntax.OpOr:
		for _, sub := range e.Sub {
			if ev.eval(sub, s, r) {
				return true
			}
		}
		return false
	case syntax.OpNot:
		return !ev.eval(e.Sub[0], s, r)
	}
	t := v3Table
	if s == V2 {
		t = v2Table
	}
	return t[e.Name].eval(ev, e.Args, r)
}

// Reference is the linear-scan router: Traefik's own model.
type Reference struct {
	routes []refRoute
	ev     evaluator
}

type refRoute struct {
	in       int
	priority int64
	syntax   Syntax
	expr     *syntax.Expr
}

// NewReference builds the reference router. Invalid routes are left out, as
// Compile leaves them out; their problems are Compile's to report.
func NewReference(routes []Route) *Reference {
	ref := &Reference{}
	for i, r := range routes {
		if r.EffectivePriority() > MaxPriority && !r.Internal || Check(r.Rule, r.Syntax) != nil {
			continue
		}
		e, _ := syntax.Parse(r.Rule)
		ref.routes = append(ref.routes, refRoute{in: i, priority: r.EffectivePriority(), syntax: r.Syntax, expr: e})
	}
	slices.SortStableFunc(ref.routes, func(a, b refRoute) int { return cmp.Compare(b.priority, a.priority) })
	return ref
}

// Match returns the input index of the first route, by priority, whose rule
// holds for r, or -1.
func (ref *Reference) Match(r *Request) int {
	for _, rt := range ref.routes {
		if ref.ev.eval(rt.expr, rt.syntax, r) {
			return rt.in
		}
	}
	return -1
}
