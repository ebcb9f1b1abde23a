// Package compile turns Traefik v3 HTTP routing rules into a table that picks
// the route for a request without scanning the routes, and decides exactly
// as Traefik v3 does.
//
// Stages, each with one entry point and a text form for tests:
//
//	rule string ──syntax.Parse──▶ *syntax.Expr          (grammar only)
//	            ──lowerer───────▶ *bytecode.Node        (matcher table: names,
//	                                                      arity, argument checks,
//	                                                      constants into pools)
//	            ──hostKeys/segKeys──▶ index.HostKeys/SegKeys
//	            ──Builder.Compile──▶ entry pc in the shared bytecode.Prog
//	all routes  ──sort by priority, index.Builder──▶ *Table
//
// Per request (exec.go, allocation-free):
//
//	Request ──index.Lookup(host, path)──▶ candidates in priority order
//	        ──run each candidate's program──▶ first accept wins
//
// The matcher table (matchers.go) is the single place a matcher is defined:
// one row per name and syntax holds its arity, its lowering to bytecode and
// its reference semantics. Eval and Reference (eval.go) interpret the syntax
// tree directly with those reference semantics and a linear scan, as Traefik
// does; tests and the fuzzers in fuzz/rules require Table.Match to agree with
// them on every input. Explain (explain.go) reports, for a request, the
// winner and why every other route did not take it.
//
// Request (request.go) is the view predicates read: byte slices for the
// canonical host, the routing path, method and query, the client address, and
// a Headers interface that fasthttp's request header satisfies.
package compile
