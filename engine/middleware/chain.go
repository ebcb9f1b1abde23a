package middleware

import (
	"errors"
	"fmt"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// chainConfig is the chain kind: other middlewares, applied in order.
// Translation resolves the members' namespaces into spec.Middleware.Chain,
// so only the list's presence is decoded here.
type chainConfig struct {
	Middlewares []struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace,omitempty"`
	} `json:"middlewares,omitempty"`
}

// newChain wraps the members of a chain around next, the first outermost.
// A missing member or a cycle fails the chain (and every router using it).
func newChain(_ *chainConfig, def *spec.Middleware, bc *BuildContext) (Middleware, error) {
	if bc.lookup == nil {
		return nil, errors.New("chain: no middleware lookup")
	}
	members := make([]Middleware, 0, len(def.Chain))
	for _, name := range def.Chain {
		m, err := bc.lookup(name)
		if err != nil {
			if errors.Is(err, errCycle) {
				return nil, err
			}
			return nil, fmt.Errorf("member %s: %w", name, err)
		}
		members = append(members, m)
	}
	return func(next Handler) Handler { return Wrap(next, members...) }, nil
}
