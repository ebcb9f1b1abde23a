package compile

import (
	"strings"

	"github.com/edgeroute/edgeroute/compile/syntax"
)

// Domains returns the host names a rule's positive Host() matchers name,
// lower-cased: what Traefik's ParseDomains gives to choose TLS options by
// SNI. Negations are pushed down to the leaves, so a Host under an odd
// number of them does not count; && and || both contribute. Only Host
// counts (not HostRegexp, nor v2's HostHeader), in any of its spellings,
// whatever the rule's syntax. A rule that does not parse has none.
func Domains(rule string) []string {
	e, err := syntax.Parse(rule)
	if err != nil {
		return nil
	}
	var out []string
	var walk func(e *syntax.Expr, neg bool)
	walk = func(e *syntax.Expr, neg bool) {
		switch e.Op {
		case syntax.OpNot:
			walk(e.Sub[0], !neg)
		case syntax.OpAnd, syntax.OpOr:
			for _, s := range e.Sub {
				walk(s, neg)
			}
		case syntax.OpCall:
			if neg || !isHostName(e.Name) {
				return
			}
			for _, a := range e.Args {
				out = append(out, strings.ToLower(a))
			}
		}
	}
	walk(e, false)
	return out
}

// isHostName accepts Traefik's four spellings of Host.
func isHostName(n string) bool {
	return n == "Host" || n == "host" || n == "HOST"
}
