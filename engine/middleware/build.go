package middleware

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// Build builds every middleware of a snapshot once. A middleware that
// fails (unknown kind, unsupported option, bad regexp, a chain cycle or a
// missing member) is returned with its error, which the routers using it
// report; the others are unaffected.
func Build(defs map[string]*spec.Middleware, bc BuildContext) map[string]*Built {
	b := &builder{defs: defs, bc: bc, out: make(map[string]*Built, len(defs)), busy: map[string]bool{}}
	b.bc.lookup = b.get
	names := make([]string, 0, len(defs))
	for name := range defs {
		names = append(names, name)
	}
	sort.Strings(names) // cycles reported from the same member every time
	for _, name := range names {
		b.get(name)
	}
	return b.out
}

type builder struct {
	defs  map[string]*spec.Middleware
	bc    BuildContext
	out   map[string]*Built
	busy  map[string]bool // being built: meeting one again is a cycle
	stack []string
}

// errCycle marks a chain cycle, reported with its path.
var errCycle = errors.New("middleware chain cycle")

func (b *builder) get(name string) (Middleware, error) {
	if m := b.out[name]; m != nil {
		return m.Wrap, m.Err
	}
	def := b.defs[name]
	if def == nil {
		return nil, fmt.Errorf("middleware %s does not exist", name)
	}
	if b.busy[name] {
		i := 0
		for i < len(b.stack) && b.stack[i] != name {
			i++
		}
		return nil, fmt.Errorf("%w: %s -> %s", errCycle, strings.Join(b.stack[i:], " -> "), name)
	}
	if p := b.bc.Previous[name]; p != nil && p.Err == nil && reusable(p.Def, def) {
		b.out[name] = &Built{Def: def, Wrap: p.Wrap, Warnings: p.Warnings}
		return p.Wrap, nil
	}
	b.busy[name] = true
	b.stack = append(b.stack, name)
	var warnings []string
	bc := b.bc
	bc.warnings = &warnings
	wrap, err := b.build(def, &bc)
	b.stack = b.stack[:len(b.stack)-1]
	delete(b.busy, name)
	if err != nil {
		err = fmt.Errorf("middleware %s (%s): %w", name, def.Kind, err)
		wrap = nil
	}
	b.out[name] = &Built{Def: def, Wrap: wrap, Err: err, Warnings: warnings}
	return wrap, err
}

// reusable tells whether a middleware built from a can serve for b: same
// kind and configuration, and nothing built from the rest of the
// configuration (chain members, an error-page service).
func reusable(a, b *spec.Middleware) bool {
	return a.Kind == b.Kind && bytes.Equal(a.Config, b.Config) &&
		len(a.Chain) == 0 && len(b.Chain) == 0 && a.Service == "" && b.Service == ""
}

func (b *builder) build(def *spec.Middleware, bc *BuildContext) (Middleware, error) {
	k, ok := Lookup(def.Kind)
	if !ok {
		return nil, fmt.Errorf("kind %s is not supported by edgeroute yet", def.Kind)
	}
	cfg := k.config()
	if err := decode(def.Config, cfg); err != nil {
		return nil, err
	}
	return k.build(cfg, def, bc)
}

// Wrap returns h wrapped in ms, the first of ms outermost (it sees the
// request first), as a router's middlewares run in list order.
func Wrap(h Handler, ms ...Middleware) Handler {
	for i := len(ms) - 1; i >= 0; i-- {
		h = ms[i](h)
	}
	return h
}
