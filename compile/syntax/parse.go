package syntax

import (
	"go/scanner"
	"go/token"
	"strconv"
	"sync"
)

// maxDepth bounds the nesting of parentheses and operators. Real rules nest a
// handful of levels; the bound keeps hostile input from exhausting the stack.
const maxDepth = 1000

// Parse parses rule. It accepts exactly the Go expressions that Traefik's
// parser accepts (go/parser.ParseExpr followed by its tree walk), including
// Go's quirks: a line break after ')' or a string ends the expression, so
// "Host(`a`)\n&& Path(`/`)" is an error while "Host(`a`) &&\nPath(`/`)" is
// not; a trailing comma in an argument list is allowed; /* */ and // comments
// are skipped. Every call has at least one argument and no argument is empty.
// Errors are *Error.
func Parse(rule string) (*Expr, error) {
	p := parsers.Get().(*parser)
	defer p.release()
	p.rule = rule
	if p.fset == nil || p.fset.Base() > 1<<12 {
		p.fset = token.NewFileSet() // positions only grow, and each file is a node of its tree: start over every 4 KiB of rules
	}
	p.file = p.fset.AddFile("rule", p.fset.Base(), len(rule))
	p.s.Init(p.file, []byte(rule), p.scanError, 0)
	p.next()
	e := p.parseOr(0)
	if p.err == nil {
		// go/parser consumes one automatically inserted semicolon at the end;
		// anything after it means a line break cut the expression short.
		if p.tok == token.SEMICOLON && p.lit == "\n" {
			semi := p.off()
			p.next()
			if p.tok != token.EOF && p.err == nil {
				p.err = Errorf(ErrSyntax, rule, semi, "%s", msgLineBreak)
			}
		} else if p.tok != token.EOF {
			p.unexpected()
		}
	}
	if p.err != nil {
		return nil, p.err
	}
	return e, nil
}

// parsers are reused: a parser holds a go/scanner.Scanner and a FileSet,
// which 10k rules would otherwise allocate 10k times per load.
var parsers = sync.Pool{New: func() any { return new(parser) }}

// release returns p to the pool, keeping its FileSet.
func (p *parser) release() {
	*p = parser{fset: p.fset}
	parsers.Put(p)
}

type parser struct {
	rule string
	fset *token.FileSet
	file *token.File
	s    scanner.Scanner
	err  *Error

	pos token.Pos
	tok token.Token
	lit string
}

func (p *parser) scanError(pos token.Position, msg string) {
	if p.err == nil {
		p.err = Errorf(ErrSyntax, p.rule, pos.Offset, "%s", msg)
	}
}

func (p *parser) next() {
	p.pos, p.tok, p.lit = p.s.Scan()
}

func (p *parser) off() int { return p.file.Offset(p.pos) }

const msgLineBreak = "unexpected line break (Go ends the expression here; put && or || at the end of the line)"

// atEnd reports whether the rule is exhausted: EOF, or the semicolon Go's
// scanner inserts at the end of input after a ')' or a literal.
func (p *parser) atEnd() bool {
	return p.tok == token.EOF || p.tok == token.SEMICOLON && p.lit == "\n" && p.off() >= len(p.rule)
}

func (p *parser) fail(code ErrorCode, format string, args ...any) {
	if p.err == nil {
		p.err = Errorf(code, p.rule, p.off(), format, args...)
	}
	// Stop the parse: every loop below checks p.err through p.tok.
	p.tok = token.EOF
}

// unexpected reports the current token where an operator, ')' or the end of
// the rule was expected.
func (p *parser) unexpected() {
	switch {
	case p.atEnd():
		p.fail(ErrSyntax, "unexpected end of rule")
	case p.tok == token.SEMICOLON && p.lit == "\n":
		p.fail(ErrSyntax, "%s", msgLineBreak)
	case p.tok.IsOperator() && p.tok != token.LPAREN && p.tok != token.RPAREN && p.tok != token.COMMA && p.tok != token.SEMICOLON:
		p.fail(ErrOperator, "unsupported operator %q (only &&, || and ! are allowed)", p.tok.String())
	default:
		p.fail(ErrSyntax, "unexpected %s", p.describe())
	}
}

func (p *parser) describe() string {
	switch {
	case p.tok == token.EOF:
		return "end of rule"
	case p.tok == token.SEMICOLON && p.lit == "\n":
		return "line break"
	case p.tok.IsLiteral():
		return strconv.Quote(p.lit)
	}
	return strconv.Quote(p.tok.String())
}

func (p *parser) parseOr(depth int) *Expr {
	x := p.parseAnd(depth)
	for p.tok == token.LOR {
		p.next()
		x = join(OpOr, x, p.parseAnd(depth))
	}
	return x
}

func (p *parser) parseAnd(depth int) *Expr {
	x := p.parseUnary(depth)
	for p.tok == token.LAND {
		p.next()
		x = join(OpAnd, x, p.parseUnary(depth))
	}
	return x
}

// join builds x op y, flattening operands that already are op nodes.
func join(op Op, x, y *Expr) *Expr {
	if x == nil || y == nil {
		return nil
	}
	e := &Expr{Op: op, Pos: x.Pos}
	for _, s := range [2]*Expr{x, y} {
		if s.Op == op {
			e.Sub = append(e.Sub, s.Sub...)
		} else {
			e.Sub = append(e.Sub, s)
		}
	}
	return e
}

func (p *parser) parseUnary(depth int) *Expr {
	if depth > maxDepth {
		p.fail(ErrTooDeep, "rule nested more than %d levels deep", maxDepth)
		return nil
	}
	switch p.tok {
	case token.NOT:
		pos := p.off()
		p.next()
		x := p.parseUnary(depth + 1)
		if x == nil {
			return nil
		}
		return &Expr{Op: OpNot, Sub: []*Expr{x}, Pos: pos}
	case token.LPAREN:
		p.next()
		x := p.parseOr(depth + 1)
		if p.err != nil {
			return nil
		}
		if p.tok != token.RPAREN {
			p.unexpected()
			return nil
		}
		p.next()
		return x
	case token.IDENT:
		return p.parseCall()
	case token.EOF:
		if p.err == nil {
			p.fail(ErrSyntax, "unexpected end of rule, expected a matcher")
		}
		return nil
	}
	if p.tok.IsOperator() && p.tok != token.RPAREN && p.tok != token.COMMA && p.tok != token.SEMICOLON {
		p.fail(ErrOperator, "unsupported operator %q (only &&, || and ! are allowed)", p.tok.String())
	} else {
		p.fail(ErrNotCall, "expected a matcher such as Host(`example.com`), found %s", p.describe())
	}
	return nil
}

func (p *parser) parseCall() *Expr {
	e := &Expr{Op: OpCall, Name: p.lit, Pos: p.off()}
	p.next()
	if p.tok != token.LPAREN {
		if p.err == nil {
			p.err = Errorf(ErrNotCall, p.rule, e.Pos, "%q is not a matcher call (missing arguments in parentheses)", e.Name)
		}
		p.tok = token.EOF
		return nil
	}
	open := p.off()
	p.next()
	for p.tok != token.RPAREN {
		if p.tok != token.STRING {
			if p.err != nil || p.atEnd() {
				p.fail(ErrSyntax, "unexpected end of rule in the arguments of %s", e.Name)
			} else if p.tok == token.SEMICOLON && p.lit == "\n" {
				p.fail(ErrSyntax, "unexpected line break in the arguments of %s", e.Name)
			} else {
				p.fail(ErrArgument, "argument of %s must be a string literal in backticks or double quotes, found %s", e.Name, p.describe())
			}
			return nil
		}
		v, err := strconv.Unquote(p.lit)
		if err != nil { // the scanner has already reported malformed literals
			p.fail(ErrSyntax, "malformed string literal %s", p.lit)
			return nil
		}
		e.Args = append(e.Args, v)
		e.ArgPos = append(e.ArgPos, p.off())
		p.next()
		switch {
		case p.tok == token.COMMA:
			p.next()
		case p.tok == token.RPAREN:
		case p.atEnd():
			p.fail(ErrSyntax, "unexpected end of rule in the arguments of %s", e.Name)
			return nil
		case p.tok == token.SEMICOLON && p.lit == "\n":
			p.fail(ErrSyntax, "missing ',' before line break in the arguments of %s", e.Name)
			return nil
		default:
			if p.err == nil {
				p.fail(ErrSyntax, "missing ',' between the arguments of %s, found %s", e.Name, p.describe())
			} else {
				p.fail(ErrSyntax, "unexpected end of rule in the arguments of %s", e.Name)
			}
			return nil
		}
	}
	if p.err != nil {
		return nil
	}
	p.next()
	if len(e.Args) == 0 {
		p.err = Errorf(ErrNoArguments, p.rule, open, "%s has no arguments", e.Name)
		p.tok = token.EOF
		return nil
	}
	for i, a := range e.Args {
		if a == "" {
			p.err = Errorf(ErrEmptyArg, p.rule, e.ArgPos[i], "argument %d of %s is empty", i+1, e.Name)
			p.tok = token.EOF
			return nil
		}
	}
	return e
}
