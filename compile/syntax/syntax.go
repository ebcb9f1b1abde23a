// Package syntax parses Traefik's HTTP rule language into an expression tree.
//
// A rule is a Go expression (Traefik parses it with go/parser): calls such as
// Host(`example.com`) joined by &&, || and unary !, with parentheses and Go's
// precedence (&& binds tighter than ||). Arguments are Go string literals,
// backtick or double-quoted with Go escapes. Anything else (other operators,
// numbers, rune literals, bare identifiers, nested calls) is an error.
//
// The package knows the grammar only. Which matcher names exist, how many
// arguments each takes and what they mean is decided by package compile, so
// adding a matcher never touches the parser.
package syntax

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Op is the kind of an Expr node.
type Op uint8

const (
	OpCall Op = iota + 1 // Name(Args...)
	OpAnd                // Sub[0] && Sub[1] && ...
	OpOr                 // Sub[0] || Sub[1] || ...
	OpNot                // !Sub[0]
)

// Expr is a node of a parsed rule. And and Or nodes are flattened: they have
// two or more operands and none of them has the same Op as its parent.
type Expr struct {
	Op     Op
	Name   string   // OpCall: the matcher name exactly as written
	Args   []string // OpCall: the arguments, unquoted
	ArgPos []int    // OpCall: byte offset in the rule of each argument
	Sub    []*Expr  // OpAnd, OpOr: the operands; OpNot: the single operand
	Pos    int      // byte offset in the rule of the node's first token
}

// String prints e in a canonical form that Parse reads back to an equal tree:
// one space around operators, parentheses only where precedence needs them,
// backtick strings where they can hold the argument, Go-quoted ones elsewhere.
func (e *Expr) String() string {
	var b strings.Builder
	e.write(&b, 0)
	return b.String()
}

func (e *Expr) prec() int {
	switch e.Op {
	case OpOr:
		return 1
	case OpAnd:
		return 2
	}
	return 3
}

func (e *Expr) write(b *strings.Builder, parent int) {
	paren := e.prec() < parent
	if paren {
		b.WriteByte('(')
	}
	switch e.Op {
	case OpCall:
		b.WriteString(e.Name)
		b.WriteByte('(')
		for i, a := range e.Args {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(Quote(a))
		}
		b.WriteByte(')')
	case OpAnd, OpOr:
		sep := " && "
		if e.Op == OpOr {
			sep = " || "
		}
		for i, s := range e.Sub {
			if i > 0 {
				b.WriteString(sep)
			}
			// An operand with the same precedence gets parentheses too, so
			// that a hand-built unflattened tree keeps its shape.
			s.write(b, e.prec()+1)
		}
	case OpNot:
		b.WriteByte('!')
		e.Sub[0].write(b, 3)
	}
	if paren {
		b.WriteByte(')')
	}
}

// Quote returns s as a Go string literal: a backtick raw string when s can be
// one (valid UTF-8 without backticks, carriage returns, NUL or byte order
// marks), a double-quoted string otherwise.
func Quote(s string) string {
	if canBacktick(s) {
		return "`" + s + "`"
	}
	return strconv.Quote(s)
}

func canBacktick(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		switch r {
		case '`', '\r', 0, '\uFEFF':
			return false
		}
	}
	return true
}

// Equal reports whether a and b are the same tree, ignoring positions.
func Equal(a, b *Expr) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Op != b.Op || a.Name != b.Name || len(a.Args) != len(b.Args) || len(a.Sub) != len(b.Sub) {
		return false
	}
	for i := range a.Args {
		if a.Args[i] != b.Args[i] {
			return false
		}
	}
	for i := range a.Sub {
		if !Equal(a.Sub[i], b.Sub[i]) {
			return false
		}
	}
	return true
}

// Walk calls fn for every call node of e, left to right.
func (e *Expr) Walk(fn func(call *Expr)) {
	if e.Op == OpCall {
		fn(e)
		return
	}
	for _, s := range e.Sub {
		s.Walk(fn)
	}
}
