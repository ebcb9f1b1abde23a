// Runs per request: must not allocate (guarded by TestMatchAllocs).

package compile

import (
	"bytes"
	"github.com/edgeroute/edgeroute/compile/bytecode"
	"github.com/edgeroute/edgeroute/compile/index"
)

// Match returns the input index of the route that handles r (the first
// candidate, in priority order, whose program accepts), or -1 for none.
func (t *Table) Match(r *Request) int {
	var c index.Cursor
	t.idx.Lookup(r.Host, r.Path, &c)
	for id := c.Next(); id >= 0; id = c.Next() {
		if h := &t.hot[id]; t.runFrom(&h.first, r) {
			return int(h.in)
		}
	}
	return -1
}

// runFrom executes a program from its first instruction.
func (t *Table) runFrom(in *bytecode.Inst, r *Request) bool {
	for {
		pc := in.F
		if t.test(in, r) {
			pc = in.T
		}
		switch pc {
		case bytecode.Accept:
			return true
		case bytecode.Reject:
			return false
		}
		in = &t.prog.Insts[pc]
	}
}

// run executes the program starting at pc.
func (t *Table) run(pc uint32, r *Request) bool {
	insts := t.prog.Insts
	for pc != bytecode.Accept && pc != bytecode.Reject {
		in := &insts[pc]
		if t.test(in, r) {
			pc = in.T
		} else {
			pc = in.F
		}
	}
	return pc == bytecode.Accept
}

// test decides one predicate.
func (t *Table) test(in *bytecode.Inst, r *Request) bool {
	p := &t.prog
	switch in.Op {
	case bytecode.OpHost:
		return hostMatchBytes(r.Host, p.Lit(in.A, in.B), false)
	case bytecode.OpHostWild:
		return hostMatchBytes(r.Host, p.Lit(in.A, in.B), true)
	case bytecode.OpHostRegexp:
		return p.Res[in.A].Match(r.Host)
	case bytecode.OpPath:
		return string(r.Path) == p.Lit(in.A, in.B)
	case bytecode.OpPathPrefix:
		s := p.Lit(in.A, in.B)
		return len(r.Path) >= len(s) && string(r.Path[:len(s)]) == s
	case bytecode.OpPathRegexp:
		return p.Res[in.A].Match(r.Path)
	case bytecode.OpMethod:
		return string(r.Method) == p.Lit(in.A, in.B)
	case bytecode.OpHeader, bytecode.OpHeaderRegexp:
		if r.Header == nil {
			return false
		}
		for _, v := range r.Header.PeekAll(p.Strs[in.A]) {
			if in.Op == bytecode.OpHeader && string(v) == p.Strs[in.B] ||
				in.Op == bytecode.OpHeaderRegexp && p.Res[in.B].Match(v) {
				return true
			}
		}
		return false
	case bytecode.OpQuery, bytecode.OpQueryRegexp:
		return t.query(in, r)
	case bytecode.OpQueryFirst:
		return t.queryFirst(in, r)
	case bytecode.OpClientIP:
		a := r.ClientIP
		if !a.IsValid() || a.Zone() != "" {
			return false
		}
		a = a.Unmap()
		for _, n := range p.Nets[in.A : in.A+in.B] {
			if n.Contains(a) {
				return true
			}
		}
		return false
	case bytecode.OpTrue:
		return true
	}
	return false
}

// hostMatchBytes is hostMatch without conversions or allocation.
func hostMatchBytes(req []byte, expr string, wild bool) bool {
	n, m := len(req), len(expr)
	if n == 0 {
		return false
	}
	return domainMatch(req, expr, wild) ||
		m > 0 && expr[m-1] == '.' && domainMatch(req, expr[:m-1], wild) ||
		req[n-1] == '.' && domainMatch(req[:n-1], expr, wild)
}

// domainMatch compares a domain with a host expression; for a wildcard
// expression ('*' first) the domain's first label counts as '*'.
func domainMatch(domain []byte, expr string, wild bool) bool {
	if !wild || len(expr) == 0 || expr[0] != '*' {
		return string(domain) == expr
	}
	if i := bytes.IndexByte(domain, '.'); i >= 0 {
		return string(domain[i:]) == expr[1:]
	}
	return expr == "*"
}

// query decides Query and QueryRegexp: some pair of the decoded query has
// key Strs[A] and a value equal to Strs[B] (or matched by Res[B]). A pair
// with a malformed escape in its key or value is skipped, as url.ParseQuery
// skips it.
func (t *Table) query(in *bytecode.Inst, r *Request) bool {
	p := &t.prog
	key := p.Strs[in.A]
	q := r.Query
	for {
		k, v, rest, _, ok := nextQueryPair(q)
		if !ok {
			return false
		}
		q = rest
		var good bool
		r.buf, good = queryUnescape(r.buf[:0], k)
		if !good || string(r.buf) != key {
			continue
		}
		r.buf, good = queryUnescape(r.buf[:0], v)
		if !good {
			continue
		}
		if in.Op == bytecode.OpQuery && string(r.buf) == p.Strs[in.B] ||
			in.Op == bytecode.OpQueryRegexp && p.Res[in.B].Match(r.buf) {
			return true
		}
	}
}

// queryFirst is gorilla/mux's query matching for v2 rules: only the first
// well-formed value of the key counts, and the regexp sees "key=value".
func (t *Table) queryFirst(in *bytecode.Inst, r *Request) bool {
	p := &t.prog
	key := p.Strs[in.A]
	q := r.Query
	for {
		k, v, rest, _, ok := nextQueryPair(q)
		if !ok {
			return p.Res[in.B].Match(nil)
		}
		q = rest
		var good bool
		r.buf, good = queryUnescape(r.buf[:0], k)
		if !good || string(r.buf) != key {
			continue
		}
		r.buf = append(r.buf, '=')
		r.buf, good = queryUnescape(r.buf, v)
		if !good {
			continue
		}
		return p.Res[in.B].Match(r.buf)
	}
}
