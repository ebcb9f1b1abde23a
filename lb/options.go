package lb

import "math/rand/v2"

// Options configures a balancer at build time.
type Options struct {
	// Sticky enables sticky sessions with the given cookie. Build it with
	// NewCookieSpec. Nil disables stickiness. HRW ignores it: Traefik's HRW
	// has no sticky cookie.
	Sticky *CookieSpec

	// Shuffle permutes the children before the balancer is built, as
	// Traefik's service manager does with its own random source. It has the
	// signature of (*math/rand.Rand).Shuffle and (*math/rand/v2.Rand).Shuffle
	// so tests can inject a seeded source. Nil uses math/rand/v2's global
	// source.
	Shuffle func(n int, swap func(i, j int))

	// IntN returns a uniform integer in [0, n). P2C uses it twice per pick,
	// so it must be safe for concurrent use and allocation-free. Nil uses
	// math/rand/v2's global IntN, which is both.
	IntN func(n int) int
}

// prepare returns a shuffled copy of endpoints with nil States replaced, so
// that constructors never mutate their input and picks never test for nil.
func (o *Options) prepare(endpoints []*Endpoint) []*Endpoint {
	eps := make([]*Endpoint, len(endpoints))
	copy(eps, endpoints)
	shuffle := o.Shuffle
	if shuffle == nil {
		shuffle = rand.Shuffle
	}
	// Shuffle the full list before dropping anything, like Traefik, so a
	// seeded source yields the same order as Traefik's would.
	shuffle(len(eps), func(i, j int) { eps[i], eps[j] = eps[j], eps[i] })
	return eps
}

// newNode builds the private view of ep.
func newNode(ep *Endpoint) node {
	st := ep.State
	if st == nil {
		st = new(State)
	}
	return node{ep: ep, st: st, fenced: ep.Fenced, weight: ep.Weight}
}
