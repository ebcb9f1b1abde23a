package compile

import (
	"fmt"
	"strings"

	"github.com/edgeroute/edgeroute/compile/index"
	"github.com/edgeroute/edgeroute/compile/syntax"
)

// Explanation says which route a request reaches and why each other route
// did not take it. It answers Traefik's most common support question ("why
// did this 404 / hit the wrong router").
type Explanation struct {
	Winner int // input index of the winning route, or -1
	// Routes lists every route of the table in the order they are tried.
	Routes []Verdict
}

// Verdict is one route's part in an Explanation.
type Verdict struct {
	Index    int // input index
	Name     string
	Rule     string
	Priority int64
	Syntax   Syntax
	// Candidate is false when the host and path index ruled the route out
	// without running its program.
	Candidate bool
	Matched   bool
	// Reason says why the route did not handle the request: the first
	// predicate that failed, or that a route before it won.
	Reason string
}

// Explain runs the match for r step by step. It allocates and is meant for
// tools, not for the request path; its winner is always Match's.
func (t *Table) Explain(r *Request) Explanation {
	var c index.Cursor
	t.idx.Lookup(r.Host, r.Path, &c)
	cand := map[int32]bool{}
	for id := c.Next(); id >= 0; id = c.Next() {
		cand[id] = true
	}
	x := Explanation{Winner: -1}
	var ev evaluator
	var winner *route
	for id := range t.routes {
		rt := &t.routes[id]
		v := Verdict{Index: rt.in, Name: rt.name, Rule: rt.rule, Priority: rt.priority, Syntax: rt.syntax, Candidate: cand[int32(id)]}
		switch {
		case winner != nil:
			v.Reason = fmt.Sprintf("not tried: %s (priority %d) matched first", winner.name, winner.priority)
		case v.Candidate && t.run(rt.entry, r):
			v.Matched = true
			x.Winner = rt.in
			winner = rt
		default:
			ok, why := ev.why(rt.expr, rt.syntax, r, false)
			if ok { // cannot happen while Match and the reference agree
				why = "internal error: the reference interpreter accepts this route but the compiled table does not"
			}
			if !v.Candidate {
				why += " (ruled out by the host/path index)"
			}
			v.Reason = why
		}
		x.Routes = append(x.Routes, v)
	}
	return x
}

// why evaluates e like eval and, when the result is false (true under neg),
// says which predicate decided it.
func (ev *evaluator) why(e *syntax.Expr, s Syntax, r *Request, neg bool) (bool, string) {
	switch e.Op {
	case syntax.OpNot:
		ok, reason := ev.why(e.Sub[0], s, r, !neg)
		return !ok, reason
	case syntax.OpAnd, syntax.OpOr:
		isAnd := e.Op == syntax.OpAnd
		var reasons []string
		for _, sub := range e.Sub {
			ok, reason := ev.why(sub, s, r, neg)
			if ok != isAnd {
				// Short circuit: this operand decides the node.
				if isAnd != neg {
					return ok, reason
				}
				return ok, ""
			}
			reasons = append(reasons, reason)
		}
		if isAnd {
			return true, ""
		}
		if neg {
			return false, ""
		}
		return false, "none of: " + strings.Join(reasons, "; ")
	}
	ok := ev.eval(e, s, r)
	if ok == !neg {
		return ok, ""
	}
	call := e.String()
	if neg {
		return ok, fmt.Sprintf("!%s is false: %s", call, subject(e, r))
	}
	return ok, fmt.Sprintf("%s is false: %s", call, subject(e, r))
}

// subject describes the part of the request a matcher looked at.
func subject(e *syntax.Expr, r *Request) string {
	name := strings.ToLower(e.Name)
	switch {
	case strings.HasPrefix(name, "host"):
		return fmt.Sprintf("request host is %q", r.Host)
	case strings.HasPrefix(name, "path"):
		return fmt.Sprintf("routing path is %q", r.Path)
	case name == "method":
		return fmt.Sprintf("method is %q", r.Method)
	case strings.HasPrefix(name, "header"):
		return fmt.Sprintf("header %s is %q", e.Args[0], headerValues(r, e.Args[0]))
	case strings.HasPrefix(name, "query"):
		return fmt.Sprintf("query is %q", r.Query)
	case name == "clientip":
		return fmt.Sprintf("client IP is %v", r.ClientIP)
	}
	return ""
}
