package compile

import (
	"fmt"
	"net"
	"net/netip"
	"net/textproto"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/edgeroute/edgeroute/compile/bytecode"
	"github.com/edgeroute/edgeroute/compile/syntax"
)

// matcher is one row of the matcher table: everything about one matcher name
// in one rule syntax. Adding a matcher means adding a row here (and test rows).
type matcher struct {
	name string
	// args checks the argument count; it returns a description of what is
	// expected when n is wrong.
	args func(n int) (ok bool, want string)
	// lower checks the arguments and builds the predicate leaves.
	lower func(l *lowerer, c *syntax.Expr) (*bytecode.Node, error)
	// eval is the reference semantics: a direct, unoptimised evaluation that
	// the compiled program must always agree with.
	eval func(ev *evaluator, args []string, r *Request) bool
}

// v3Matchers is Traefik v3's default syntax (pkg/muxer/http/matcher.go).
var v3Matchers = []matcher{
	{name: "Host", args: exactly(1), lower: lowerHost(false), eval: evalHost(false)},
	{name: "HostRegexp", args: exactly(1), lower: lowerHostRegexp, eval: evalHostRegexp},
	{name: "Path", args: exactly(1), lower: lowerPath(bytecode.OpPath), eval: evalPath},
	{name: "PathPrefix", args: exactly(1), lower: lowerPath(bytecode.OpPathPrefix), eval: evalPathPrefix},
	{name: "PathRegexp", args: exactly(1), lower: lowerPathRegexp, eval: evalPathRegexp},
	{name: "Method", args: exactly(1), lower: lowerMethod, eval: evalMethod},
	{name: "Header", args: exactly(2), lower: lowerHeader(false), eval: evalHeader},
	{name: "HeaderRegexp", args: exactly(2), lower: lowerHeader(true), eval: evalHeaderRegexp},
	{name: "Query", args: exactly(1, 2), lower: lowerQuery(false), eval: evalQuery},
	{name: "QueryRegexp", args: exactly(1, 2), lower: lowerQuery(true), eval: evalQueryRegexp},
	{name: "ClientIP", args: exactly(1), lower: lowerClientIP, eval: evalClientIP},
}

// v2Matchers is the deprecated v2 syntax, chosen per route
// (pkg/muxer/http/matcher_v2.go): several arguments per matcher and gorilla/mux
// {name:re} templates.
var v2Matchers = []matcher{
	{name: "Host", args: atLeast1, lower: lowerHost(true), eval: evalHost(true)},
	{name: "HostHeader", args: atLeast1, lower: lowerHost(true), eval: evalHost(true)},
	{name: "HostRegexp", args: atLeast1, lower: lowerTemplates(tplHost), eval: evalTemplates(tplHost)},
	{name: "Path", args: atLeast1, lower: lowerTemplates(tplPath), eval: evalTemplates(tplPath)},
	{name: "PathPrefix", args: atLeast1, lower: lowerTemplates(tplPrefix), eval: evalTemplates(tplPrefix)},
	{name: "Method", args: atLeast1, lower: lowerMethod, eval: evalMethod},
	{name: "Headers", args: pairs, lower: lowerHeadersV2(false), eval: evalHeadersV2(false)},
	{name: "HeadersRegexp", args: pairs, lower: lowerHeadersV2(true), eval: evalHeadersV2(true)},
	{name: "Query", args: atLeast1, lower: lowerQueryV2, eval: evalQueryV2},
	{name: "ClientIP", args: atLeast1, lower: lowerClientIP, eval: evalClientIP},
}

func exactly(ns ...int) func(int) (bool, string) {
	want := fmt.Sprintf("%d argument", ns[0])
	if len(ns) == 2 {
		want = fmt.Sprintf("%d or %d arguments", ns[0], ns[1])
	} else if ns[0] != 1 {
		want += "s"
	}
	return func(n int) (bool, string) { return slices.Contains(ns, n), want }
}

func atLeast1(n int) (bool, string) { return n >= 1, "at least 1 argument" }

func pairs(n int) (bool, string) {
	return n >= 2 && n%2 == 0, "key/value pairs (an even number of arguments)"
}

// table maps every accepted spelling of a matcher name to its row. Traefik
// registers four spellings only: as written (PathPrefix), lower (pathprefix),
// upper (PATHPREFIX) and title (Pathprefix).
type table map[string]*matcher

func newTable(rows []matcher) table {
	t := table{}
	for i := range rows {
		m := &rows[i]
		n := m.name
		for _, s := range []string{n, strings.ToLower(n), strings.ToUpper(n), n[:1] + strings.ToLower(n[1:])} {
			t[s] = m
		}
	}
	return t
}

var (
	v3Table = newTable(v3Matchers)
	v2Table = newTable(v2Matchers)
)

// lowerer turns checked calls into predicate leaves, placing constants in the
// shared pools of b.
type lowerer struct {
	rule string
	b    *bytecode.Builder
}

func (l *lowerer) argErr(c *syntax.Expr, i int, format string, args ...any) error {
	return syntax.Errorf(syntax.ErrBadValue, l.rule, c.ArgPos[i], format, args...)
}

// lit builds a single-string leaf with its literal in the arena.
func (l *lowerer) lit(op bytecode.Op, s string) *bytecode.Node {
	off, n := l.b.Lit(s)
	return leaf(op, off, n)
}

func leaf(op bytecode.Op, a, b uint32) *bytecode.Node {
	return &bytecode.Node{Kind: bytecode.Leaf, Op: op, A: a, B: b}
}

// anyOf joins leaves with ||, the way v2 matchers treat several arguments.
func anyOf(ns []*bytecode.Node) *bytecode.Node {
	if len(ns) == 1 {
		return ns[0]
	}
	return &bytecode.Node{Kind: bytecode.Or, Sub: ns}
}

func allOf(ns []*bytecode.Node) *bytecode.Node {
	if len(ns) == 1 {
		return ns[0]
	}
	return &bytecode.Node{Kind: bytecode.And, Sub: ns}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func (l *lowerer) compileRegexp(c *syntax.Expr, i int, expr string) (*regexp.Regexp, error) {
	if re, ok := l.b.CachedRegexp(expr); ok {
		return re, nil
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, l.argErr(c, i, "invalid regexp in %s: %v", c.Name, err)
	}
	return re, nil
}

// --- Host -------------------------------------------------------------------

func lowerHost(v2 bool) func(*lowerer, *syntax.Expr) (*bytecode.Node, error) {
	return func(l *lowerer, c *syntax.Expr) (*bytecode.Node, error) {
		var ns []*bytecode.Node
		for i, h := range c.Args {
			if !v2 && h == "*" {
				ns = append(ns, leaf(bytecode.OpTrue, 0, 0))
				continue
			}
			if !isASCII(h) {
				return nil, l.argErr(c, i, "invalid value %q for %s matcher: non-ASCII characters are not allowed (write IDN hosts in punycode)", h, c.Name)
			}
			h = strings.ToLower(h)
			if !v2 && strings.HasPrefix(h, "*") {
				ns = append(ns, l.lit(bytecode.OpHostWild, h))
			} else {
				ns = append(ns, l.lit(bytecode.OpHost, h))
			}
		}
		return anyOf(ns), nil
	}
}

// hostMatch is Traefik's Host comparison (pkg/muxer/http/matcher.go, v3.7):
// the expression matches the canonical request host directly, or once a
// trailing dot is dropped from the expression, or from the request host.
// wild selects v3's wildcard comparison, in which an expression starting
// with '*' is compared with the request host whose first label became '*'.
func hostMatch(req, expr string, wild bool) bool {
	if req == "" {
		return false
	}
	match := func(domain, expr string) bool {
		if wild && strings.HasPrefix(expr, "*") {
			labels := strings.Split(domain, ".")
			labels[0] = "*"
			return expr == strings.Join(labels, ".")
		}
		return domain == expr
	}
	return match(req, expr) ||
		strings.HasSuffix(expr, ".") && match(req, expr[:len(expr)-1]) ||
		strings.HasSuffix(req, ".") && match(req[:len(req)-1], expr)
}

func evalHost(v2 bool) func(*evaluator, []string, *Request) bool {
	return func(_ *evaluator, args []string, r *Request) bool {
		for _, h := range args {
			if !v2 && h == "*" || hostMatch(string(r.Host), strings.ToLower(h), !v2) {
				return true
			}
		}
		return false
	}
}

func lowerHostRegexp(l *lowerer, c *syntax.Expr) (*bytecode.Node, error) {
	if !isASCII(c.Args[0]) {
		return nil, l.argErr(c, 0, "invalid value %q for %s matcher: non-ASCII characters are not allowed", c.Args[0], c.Name)
	}
	re, err := l.compileRegexp(c, 0, c.Args[0])
	if err != nil {
		return nil, err
	}
	if re.MatchString("") {
		// Traefik also tries the regexp on the CNAME-flattened host, which
		// is empty unless hostResolver.cnameFlattening is on: a regexp that
		// matches "" therefore matches every request.
		return leaf(bytecode.OpTrue, 0, 0), nil
	}
	return leaf(bytecode.OpHostRegexp, l.b.Regexp(re), 0), nil
}

func evalHostRegexp(ev *evaluator, args []string, r *Request) bool {
	re := ev.re(args[0])
	return re.MatchString(string(r.Host)) || re.MatchString("") // "" is the CNAME-flattened host
}

// --- Path -------------------------------------------------------------------

func lowerPath(op bytecode.Op) func(*lowerer, *syntax.Expr) (*bytecode.Node, error) {
	return func(l *lowerer, c *syntax.Expr) (*bytecode.Node, error) {
		p := c.Args[0]
		if !strings.HasPrefix(p, "/") {
			return nil, l.argErr(c, 0, "path %q of %s does not start with a '/'", p, c.Name)
		}
		return l.lit(op, p), nil
	}
}

func evalPath(_ *evaluator, args []string, r *Request) bool { return string(r.Path) == args[0] }

func evalPathPrefix(_ *evaluator, args []string, r *Request) bool {
	return strings.HasPrefix(string(r.Path), args[0])
}

func lowerPathRegexp(l *lowerer, c *syntax.Expr) (*bytecode.Node, error) {
	re, err := l.compileRegexp(c, 0, c.Args[0])
	if err != nil {
		return nil, err
	}
	return leaf(bytecode.OpPathRegexp, l.b.Regexp(re), 0), nil
}

func evalPathRegexp(ev *evaluator, args []string, r *Request) bool {
	return ev.re(args[0]).MatchString(string(r.Path))
}

// --- Method -----------------------------------------------------------------

func lowerMethod(l *lowerer, c *syntax.Expr) (*bytecode.Node, error) {
	var ns []*bytecode.Node
	for _, m := range c.Args {
		ns = append(ns, l.lit(bytecode.OpMethod, strings.ToUpper(m)))
	}
	return anyOf(ns), nil
}

func evalMethod(_ *evaluator, args []string, r *Request) bool {
	for _, m := range args {
		if strings.ToUpper(m) == string(r.Method) {
			return true
		}
	}
	return false
}

// --- Header -----------------------------------------------------------------

// headerKey canonicalises a header name as net/http does. ok is false when no
// request can carry the header as Traefik sees it: Go moves Host out of the
// header map, and rejects names that are not tokens.
func headerKey(k string) (string, bool) {
	for i := 0; i < len(k); i++ {
		if !isTokenChar(k[i]) {
			return k, false
		}
	}
	k = textproto.CanonicalMIMEHeaderKey(k)
	return k, k != "Host"
}

func isTokenChar(c byte) bool {
	return c < utf8.RuneSelf && c > ' ' && !strings.ContainsRune("\"(),/:;<=>?@[\\]{}\x7f", rune(c))
}

func lowerHeader(isRegexp bool) func(*lowerer, *syntax.Expr) (*bytecode.Node, error) {
	return func(l *lowerer, c *syntax.Expr) (*bytecode.Node, error) {
		return l.header(c, 0, isRegexp)
	}
}

func (l *lowerer) header(c *syntax.Expr, i int, isRegexp bool) (*bytecode.Node, error) {
	key, ok := headerKey(c.Args[i])
	var n *bytecode.Node
	if isRegexp {
		re, err := l.compileRegexp(c, i+1, c.Args[i+1])
		if err != nil {
			return nil, err
		}
		n = leaf(bytecode.OpHeaderRegexp, l.b.Str(key), l.b.Regexp(re))
	} else {
		n = leaf(bytecode.OpHeader, l.b.Str(key), l.b.Str(c.Args[i+1]))
	}
	if !ok {
		return leaf(bytecode.OpFalse, 0, 0), nil
	}
	return n, nil
}

func headerValues(r *Request, key string) []string {
	key, ok := headerKey(key)
	if !ok || r.Header == nil {
		return nil
	}
	var out []string
	for _, v := range r.Header.PeekAll(key) {
		out = append(out, string(v))
	}
	return out
}

func evalHeader(_ *evaluator, args []string, r *Request) bool {
	return slices.Contains(headerValues(r, args[0]), args[1])
}

func evalHeaderRegexp(ev *evaluator, args []string, r *Request) bool {
	re := ev.re(args[1])
	return slices.ContainsFunc(headerValues(r, args[0]), re.MatchString)
}

// lowerHeadersV2 is gorilla/mux Headers/HeadersRegexp: pairs turned into a
// map (a key repeated as written keeps its last value), all of which must hold.
func lowerHeadersV2(isRegexp bool) func(*lowerer, *syntax.Expr) (*bytecode.Node, error) {
	return func(l *lowerer, c *syntax.Expr) (*bytecode.Node, error) {
		var ns []*bytecode.Node
		for _, i := range lastPairs(c.Args) {
			n, err := l.header(c, i, isRegexp)
			if err != nil {
				return nil, err
			}
			ns = append(ns, n)
		}
		return allOf(ns), nil
	}
}

// lastPairs returns the index of the key of every key/value pair in args,
// keeping only the last pair of each key as written (gorilla/mux builds a
// map of the pairs; "X-A" and "x-a" are two entries, both checked).
func lastPairs(args []string) []int {
	last := map[string]int{}
	var keys []string
	for i := 0; i+1 < len(args); i += 2 {
		k := args[i]
		if _, ok := last[k]; !ok {
			keys = append(keys, k)
		}
		last[k] = i
	}
	out := make([]int, len(keys))
	for j, k := range keys {
		out[j] = last[k]
	}
	return out
}

func evalHeadersV2(isRegexp bool) func(*evaluator, []string, *Request) bool {
	return func(ev *evaluator, args []string, r *Request) bool {
		for _, i := range lastPairs(args) {
			if isRegexp && !evalHeaderRegexp(ev, args[i:i+2], r) || !isRegexp && !evalHeader(ev, args[i:i+2], r) {
				return false
			}
		}
		return true
	}
}

// --- Query ------------------------------------------------------------------

func lowerQuery(isRegexp bool) func(*lowerer, *syntax.Expr) (*bytecode.Node, error) {
	return func(l *lowerer, c *syntax.Expr) (*bytecode.Node, error) {
		key := l.b.Str(c.Args[0])
		if len(c.Args) == 1 {
			// Query(k) and QueryRegexp(k): k must carry an empty value.
			return leaf(bytecode.OpQuery, key, l.b.Str("")), nil
		}
		if !isRegexp {
			return leaf(bytecode.OpQuery, key, l.b.Str(c.Args[1])), nil
		}
		re, err := l.compileRegexp(c, 1, c.Args[1])
		if err != nil {
			return nil, err
		}
		return leaf(bytecode.OpQueryRegexp, key, l.b.Regexp(re)), nil
	}
}

// queryValues is Traefik's req.URL.Query()[key] after its AllowQuerySemicolons
// handler turned ';' into '&'.
func queryValues(r *Request, key string) ([]string, bool) {
	q, _ := url.ParseQuery(strings.ReplaceAll(string(r.Query), ";", "&"))
	vs, ok := q[key]
	return vs, ok
}

func evalQuery(_ *evaluator, args []string, r *Request) bool {
	vs, ok := queryValues(r, args[0])
	want := ""
	if len(args) == 2 {
		want = args[1]
	}
	return ok && slices.Contains(vs, want)
}

func evalQueryRegexp(ev *evaluator, args []string, r *Request) bool {
	if len(args) == 1 {
		return evalQuery(ev, args, r)
	}
	vs, _ := queryValues(r, args[0])
	return slices.ContainsFunc(vs, ev.re(args[1]).MatchString)
}

// queryPairsV2 is gorilla/mux Queries as Traefik v2 feeds it: every argument
// split once at '=', and the flattened list read as key, value pairs.
func queryPairsV2(args []string) ([][2]string, bool) {
	var flat []string
	for _, a := range args {
		flat = append(flat, strings.SplitN(a, "=", 2)...)
	}
	if len(flat)%2 != 0 {
		return nil, false
	}
	var ps [][2]string
	for i := 0; i < len(flat); i += 2 {
		ps = append(ps, [2]string{flat[i], flat[i+1]})
	}
	return ps, true
}

func lowerQueryV2(l *lowerer, c *syntax.Expr) (*bytecode.Node, error) {
	ps, ok := queryPairsV2(c.Args)
	if !ok {
		return nil, syntax.Errorf(syntax.ErrBadValue, l.rule, c.ArgPos[0],
			"%s in syntax v2 takes key=value arguments; %q do not split into pairs", c.Name, c.Args)
	}
	var ns []*bytecode.Node
	for _, p := range ps {
		if strings.ContainsAny(p[0], "{}") {
			return nil, syntax.Errorf(syntax.ErrBadValue, l.rule, c.ArgPos[0],
				"%s: templates in query keys (%q) are not supported by edgeroute", c.Name, p[0])
		}
		re, err := templateRegexp(p[0]+"="+p[1], tplQuery)
		if err != nil {
			return nil, syntax.Errorf(syntax.ErrBadValue, l.rule, c.ArgPos[0], "%s: %v", c.Name, err)
		}
		ns = append(ns, leaf(bytecode.OpQueryFirst, l.b.Str(p[0]), l.b.Regexp(re)))
	}
	return allOf(ns), nil
}

func evalQueryV2(ev *evaluator, args []string, r *Request) bool {
	ps, _ := queryPairsV2(args)
	for _, p := range ps {
		re, _ := templateRegexp(p[0]+"="+p[1], tplQuery)
		subject := ""
		if v, ok := firstQueryValue(string(r.Query), p[0]); ok {
			subject = p[0] + "=" + v
		}
		if !re.MatchString(subject) {
			return false
		}
	}
	return true
}

// firstQueryValue is gorilla/mux's findFirstQueryKey.
func firstQueryValue(raw, key string) (string, bool) {
	for _, pair := range strings.FieldsFunc(raw, func(r rune) bool { return r == '&' || r == ';' }) {
		k, v, _ := strings.Cut(pair, "=")
		dk, err := url.QueryUnescape(k)
		if err != nil || dk != key {
			continue
		}
		dv, err := url.QueryUnescape(v)
		if err != nil {
			continue
		}
		return dv, true
	}
	return "", false
}

// --- ClientIP ---------------------------------------------------------------

// parseClientIP reads an IP or CIDR the way Traefik's ip.Checker does
// (net.ParseCIDR, else net.ParseIP), as a netip.Prefix. IPv4-mapped IPv6
// forms are folded to IPv4, as net.IP comparisons do.
func parseClientIP(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil && p.Addr().Zone() == "" {
		a, bits := p.Addr(), p.Bits()
		if a.Is4In6() && bits >= 96 {
			a, bits = a.Unmap(), bits-96
		}
		return netip.PrefixFrom(a, bits).Masked(), true
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return netip.Prefix{}, false
}

func lowerClientIP(l *lowerer, c *syntax.Expr) (*bytecode.Node, error) {
	var ps []netip.Prefix
	for i, s := range c.Args {
		p, ok := parseClientIP(s)
		if !ok {
			return nil, l.argErr(c, i, "invalid value %q for %s matcher: not an IP address or CIDR", s, c.Name)
		}
		ps = append(ps, p)
	}
	start, n := l.b.Nets(ps)
	return leaf(bytecode.OpClientIP, start, n), nil
}

// evalClientIP uses package net, as Traefik does, so that the netip-based
// program is checked against the original semantics.
func evalClientIP(_ *evaluator, args []string, r *Request) bool {
	if !r.ClientIP.IsValid() || r.ClientIP.Zone() != "" {
		return false
	}
	ip := net.ParseIP(r.ClientIP.String())
	for _, s := range args {
		if _, n, err := net.ParseCIDR(s); err == nil {
			if n.Contains(ip) {
				return true
			}
		} else if net.ParseIP(s).Equal(ip) {
			return true
		}
	}
	return false
}

// --- v2 templates -----------------------------------------------------------

type tplKind uint8

const (
	tplHost tplKind = iota
	tplPath
	tplPrefix
	tplQuery
)

// templateRegexp converts a gorilla/mux template ("/users/{id:[0-9]+}",
// "{sub}.example.com", "key={v}") to the regexp gorilla/mux builds for it.
// Host templates match case-insensitively. (Traefik uses its fork,
// github.com/containous/mux, which allows capturing groups in patterns.)
func templateRegexp(tpl string, kind tplKind) (*regexp.Regexp, error) {
	if (kind == tplPath || kind == tplPrefix) && !strings.HasPrefix(tpl, "/") {
		return nil, fmt.Errorf("path %q does not start with a '/'", tpl)
	}
	idxs, err := braceIndices(tpl)
	if err != nil {
		return nil, err
	}
	def := "[^/]+"
	switch kind {
	case tplHost:
		def = "[^.]+"
	case tplQuery:
		def = ".*"
	}
	var b strings.Builder
	if kind == tplHost {
		b.WriteString("(?i)")
	}
	b.WriteByte('^')
	end := 0
	for i := 0; i < len(idxs); i += 2 {
		raw := tpl[end:idxs[i]]
		end = idxs[i+1]
		name, patt, found := strings.Cut(tpl[idxs[i]+1:end-1], ":")
		if !found {
			patt = def
		}
		if name == "" || patt == "" {
			return nil, fmt.Errorf("missing name or pattern in %q", tpl[idxs[i]:end])
		}
		fmt.Fprintf(&b, "%s(?P<v%d>%s)", regexp.QuoteMeta(raw), i/2, patt)
	}
	b.WriteString(regexp.QuoteMeta(tpl[end:]))
	if kind == tplQuery {
		if _, v, _ := strings.Cut(tpl, "="); v == "" {
			b.WriteString(def)
		}
	}
	if kind != tplPrefix {
		b.WriteByte('$')
	}
	return regexp.Compile(b.String())
}

func braceIndices(s string) ([]int, error) {
	var level, idx int
	var idxs []int
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			if level++; level == 1 {
				idx = i
			}
		case '}':
			if level--; level == 0 {
				idxs = append(idxs, idx, i+1)
			} else if level < 0 {
				return nil, fmt.Errorf("unbalanced braces in %q", s)
			}
		}
	}
	if level != 0 {
		return nil, fmt.Errorf("unbalanced braces in %q", s)
	}
	return idxs, nil
}

func lowerTemplates(kind tplKind) func(*lowerer, *syntax.Expr) (*bytecode.Node, error) {
	op := bytecode.OpPathRegexp // the fork matches v2 paths on the routing path
	if kind == tplHost {
		op = bytecode.OpHostRegexp
	}
	return func(l *lowerer, c *syntax.Expr) (*bytecode.Node, error) {
		var ns []*bytecode.Node
		for i, a := range c.Args {
			if kind == tplHost && !isASCII(a) {
				return nil, l.argErr(c, i, "invalid value %q for %s matcher: non-ASCII characters are not allowed", a, c.Name)
			}
			re, err := templateRegexp(a, kind)
			if err != nil {
				return nil, l.argErr(c, i, "%s: %v", c.Name, err)
			}
			ns = append(ns, leaf(op, l.b.Regexp(re), 0))
		}
		return anyOf(ns), nil
	}
}

func evalTemplates(kind tplKind) func(*evaluator, []string, *Request) bool {
	return func(_ *evaluator, args []string, r *Request) bool {
		subject := string(r.Host)
		if kind != tplHost {
			subject = string(r.Path)
		}
		for _, a := range args {
			if re, err := templateRegexp(a, kind); err == nil && re.MatchString(subject) {
				return true
			}
		}
		return false
	}
}
