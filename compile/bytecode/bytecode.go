// Package bytecode defines the small programs that decide the predicates of a
// compiled rule, and builds them from predicate trees.
//
// A program is a branching program, not a stack machine: every instruction
// tests one predicate and names the instruction to run next when it holds (T)
// and when it does not (F). && and || become jumps (short-circuit evaluation
// with no stack), and ! costs nothing: it swaps T and F. Two sentinel targets
// end a run: Accept and Reject.
//
// All routes of a table share one Prog: one instruction slice and one set of
// constant pools (strings, compiled regexps, IP prefixes), each route holding
// only its entry point. The interpreter lives in package compile, which owns
// the request view the predicates read.
package bytecode

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// Op is a predicate opcode.
type Op uint8

const (
	OpFalse        Op = iota // never holds
	OpTrue                   // always holds
	OpHost                   // Host equals Lit(A, B) (Traefik's trailing-dot rules)
	OpHostWild               // host with its first label replaced by '*' equals Lit(A, B)
	OpHostRegexp             // Res[A] matches the host
	OpPath                   // routing path equals Lit(A, B)
	OpPathPrefix             // routing path starts with Lit(A, B)
	OpPathRegexp             // Res[A] matches the routing path
	OpMethod                 // method equals Lit(A, B)
	OpHeader                 // a line of header Strs[A] equals Strs[B]
	OpHeaderRegexp           // Res[B] matches a line of header Strs[A]
	OpQuery                  // a decoded value of query key Strs[A] equals Strs[B]
	OpQueryRegexp            // Res[B] matches a decoded value of query key Strs[A]
	OpQueryFirst             // Res[B] matches "key=value" for the first value of key Strs[A] (v2)
	OpClientIP               // the client address is in Nets[A:A+B]
	numOps
)

var opNames = [numOps]string{
	"false", "true", "host", "host_wild", "host_regexp", "path", "path_prefix", "path_regexp",
	"method", "header", "header_regexp", "query", "query_regexp", "query_first", "client_ip",
}

func (op Op) String() string {
	if op < numOps {
		return opNames[op]
	}
	return fmt.Sprintf("op(%d)", uint8(op))
}

// Targets that end a run.
const (
	Accept uint32 = 1<<32 - 1
	Reject uint32 = 1<<32 - 2
)

// Inst is one instruction: test Op on operands A and B, then continue at T
// if it held and at F if it did not.
type Inst struct {
	Op   Op
	A, B uint32
	T, F uint32
}

// Prog is the shared code and constants of a compiled table. It is immutable
// once built and safe for concurrent use.
//
// Operands of single-string predicates (host, path, method) are an offset
// and a length into Lits, one string for all of them, so that the predicate
// reads its constant with one memory access. Predicates with two operands
// (header and query: a key and a value) index Strs.
type Prog struct {
	Insts []Inst
	Lits  string
	Strs  []string
	Res   []*regexp.Regexp
	Nets  []netip.Prefix
}

// Entry returns the instruction at pc; for the constant programs Accept and
// Reject it returns an OpTrue instruction that jumps there.
func (p *Prog) Entry(pc uint32) Inst {
	if pc == Accept || pc == Reject {
		return Inst{Op: OpTrue, T: pc, F: pc}
	}
	return p.Insts[pc]
}

// Lit returns the literal at offset a, length b.
func (p *Prog) Lit(a, b uint32) string { return p.Lits[a : a+b] }

// Node is a predicate tree, the input of Compile. Leaves are Op nodes with
// their operands already placed in the Prog's pools.
type Node struct {
	Kind NodeKind
	Op   Op
	A, B uint32
	Sub  []*Node
}

// NodeKind tells leaves from connectives.
type NodeKind uint8

const (
	Leaf NodeKind = iota
	And
	Or
	Not
)

// Builder appends programs to a Prog, deduplicating constants.
type Builder struct {
	P      Prog
	lits   strings.Builder
	litIdx map[string]uint32
	strIdx map[string]uint32
	reIdx  map[string]uint32
}

// Reserve sizes the literal arena and its index for about n literals
// of size bytes in all (a whole table's rules), so that they do not
// grow step by step while a large table is built.
func (b *Builder) Reserve(n, size int) {
	if b.litIdx == nil {
		b.litIdx = make(map[string]uint32, n)
	}
	b.lits.Grow(size)
}

// Lit returns the offset and length of s in the literal arena, adding it if
// needed. The arena becomes Prog.Lits when the Prog is finished; until then
// Prog.Lit does not see it (use Builder.LitString).
func (b *Builder) Lit(s string) (off, n uint32) {
	if i, ok := b.litIdx[s]; ok {
		return i, uint32(len(s))
	}
	if b.litIdx == nil {
		b.litIdx = make(map[string]uint32)
	}
	off = uint32(b.lits.Len())
	b.lits.WriteString(s)
	b.litIdx[s] = off
	return off, uint32(len(s))
}

// LitString returns a literal added with Lit, before or after Finish.
func (b *Builder) LitString(off, n uint32) string {
	if b.P.Lits != "" {
		return b.P.Lits[off : off+n]
	}
	return b.lits.String()[off : off+n]
}

// Str returns the pool index of s, adding it if needed.
func (b *Builder) Str(s string) uint32 {
	if i, ok := b.strIdx[s]; ok {
		return i
	}
	if b.strIdx == nil {
		b.strIdx = make(map[string]uint32)
	}
	i := uint32(len(b.P.Strs))
	b.P.Strs = append(b.P.Strs, s)
	b.strIdx[s] = i
	return i
}

// Regexp returns the pool index of re, keyed by its source text.
func (b *Builder) Regexp(re *regexp.Regexp) uint32 {
	key := re.String()
	if i, ok := b.reIdx[key]; ok {
		return i
	}
	if b.reIdx == nil {
		b.reIdx = make(map[string]uint32)
	}
	i := uint32(len(b.P.Res))
	b.P.Res = append(b.P.Res, re)
	b.reIdx[key] = i
	return i
}

// CachedRegexp returns the regexp added earlier for source expr, if any, so
// that a rule set repeating one pattern compiles it once.
func (b *Builder) CachedRegexp(expr string) (*regexp.Regexp, bool) {
	i, ok := b.reIdx[expr]
	if !ok {
		return nil, false
	}
	return b.P.Res[i], true
}

// Nets appends prefixes to the pool and returns their start and count.
func (b *Builder) Nets(p []netip.Prefix) (start, n uint32) {
	start = uint32(len(b.P.Nets))
	b.P.Nets = append(b.P.Nets, p...)
	return start, uint32(len(p))
}

// Finish returns the finished Prog. The strings are copied into one arena so
// that programs read constants from a few contiguous pages.
func (b *Builder) Finish() Prog {
	n := 0
	for _, s := range b.P.Strs {
		n += len(s)
	}
	var arena strings.Builder
	arena.Grow(n)
	for _, s := range b.P.Strs {
		arena.WriteString(s)
	}
	all := arena.String()
	off := 0
	for i, s := range b.P.Strs {
		b.P.Strs[i] = all[off : off+len(s)]
		off += len(s)
	}
	b.P.Lits = b.lits.String()
	p := b.P
	b.P, b.litIdx, b.strIdx, b.reIdx = Prog{}, nil, nil, nil
	b.lits.Reset()
	return p
}

// Compile appends the program for n and returns its entry point. The entry
// may be Accept or Reject when n is constant.
func (b *Builder) Compile(n *Node) uint32 {
	return b.emit(n, Accept, Reject)
}

// emit compiles n so that control reaches t when n holds and f when it does
// not, and returns n's entry. Operands are emitted right to left so that each
// one's continuation already exists.
func (b *Builder) emit(n *Node, t, f uint32) uint32 {
	switch n.Kind {
	case Not:
		return b.emit(n.Sub[0], f, t)
	case And:
		next := t
		for i := len(n.Sub) - 1; i >= 0; i-- {
			next = b.emit(n.Sub[i], next, f)
		}
		return next
	case Or:
		next := f
		for i := len(n.Sub) - 1; i >= 0; i-- {
			next = b.emit(n.Sub[i], t, next)
		}
		return next
	}
	switch n.Op {
	case OpTrue:
		return t
	case OpFalse:
		return f
	}
	pc := uint32(len(b.P.Insts))
	b.P.Insts = append(b.P.Insts, Inst{Op: n.Op, A: n.A, B: n.B, T: t, F: f})
	return pc
}

// Disassemble prints the program reachable from entry, one instruction per
// line, for tests and for explain's verbose mode.
func (p *Prog) Disassemble(entry uint32) string {
	var sb strings.Builder
	if entry == Accept || entry == Reject {
		sb.WriteString(target(entry))
		sb.WriteByte('\n')
		return sb.String()
	}
	seen := map[uint32]bool{}
	var order []uint32
	var visit func(pc uint32)
	visit = func(pc uint32) {
		if pc == Accept || pc == Reject || seen[pc] {
			return
		}
		seen[pc] = true
		order = append(order, pc)
		visit(p.Insts[pc].T)
		visit(p.Insts[pc].F)
	}
	visit(entry)
	// Number instructions by their order of first visit, which is stable
	// whatever else shares the Prog.
	num := map[uint32]int{}
	for i, pc := range order {
		num[pc] = i
	}
	ref := func(pc uint32) string {
		if pc == Accept || pc == Reject {
			return target(pc)
		}
		return fmt.Sprint(num[pc])
	}
	for i, pc := range order {
		in := p.Insts[pc]
		fmt.Fprintf(&sb, "%d\t%s %s\t-> %s, %s\n", i, in.Op, p.operands(in), ref(in.T), ref(in.F))
	}
	return sb.String()
}

func target(pc uint32) string {
	if pc == Accept {
		return "accept"
	}
	return "reject"
}

func (p *Prog) operands(in Inst) string {
	switch in.Op {
	case OpHost, OpHostWild, OpPath, OpPathPrefix, OpMethod:
		return fmt.Sprintf("%q", p.Lit(in.A, in.B))
	case OpHostRegexp, OpPathRegexp:
		return fmt.Sprintf("/%s/", p.Res[in.A])
	case OpHeader, OpQuery:
		return fmt.Sprintf("%q %q", p.Strs[in.A], p.Strs[in.B])
	case OpHeaderRegexp, OpQueryRegexp, OpQueryFirst:
		return fmt.Sprintf("%q /%s/", p.Strs[in.A], p.Res[in.B])
	case OpClientIP:
		var s []string
		for _, n := range p.Nets[in.A : in.A+in.B] {
			s = append(s, n.String())
		}
		return strings.Join(s, ",")
	}
	return ""
}
