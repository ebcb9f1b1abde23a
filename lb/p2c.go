// Runs per request: must not allocate (guarded by TestP2CPickAllocs).

package lb

import (
	"math/rand/v2"
	"sync/atomic"
)

// P2C is Traefik's power-of-two-random-choices balancer: it draws two
// distinct healthy, unfenced children at random and picks the one with fewer
// requests in flight (the first drawn on a tie).
//
// Traefik filters the healthy children into a new slice on every pick. P2C
// instead caches that list and rebuilds it only when some State changed
// health (tracked by a process-wide epoch), so a pick is lock-free and
// allocation-free; the rebuild after a health transition allocates once.
// P2C is safe for concurrent use.
type P2C struct {
	nodes  []node
	sticky *Sticky
	intN   func(int) int

	healthy atomic.Pointer[p2cView]
}

// p2cView is an immutable snapshot of the usable children.
type p2cView struct {
	epoch   uint64
	healthy []int32 // indices into nodes, in build order
}

// NewP2C builds a P2C balancer over endpoints. As in Traefik, the children
// are shuffled with opts.Shuffle and weights are ignored (children with a
// non-positive weight are kept). The shuffled order matters: it decides which
// child Traefik's slightly non-uniform second draw favours.
func NewP2C(endpoints []*Endpoint, opts Options) *P2C {
	b := &P2C{intN: opts.IntN}
	if b.intN == nil {
		b.intN = rand.IntN
	}
	for _, ep := range opts.prepare(endpoints) {
		b.nodes = append(b.nodes, newNode(ep))
	}
	if opts.Sticky != nil {
		b.sticky = newSticky(*opts.Sticky, b.nodes)
	}
	b.refresh()
	return b
}

// Len returns the number of children.
func (b *P2C) Len() int { return len(b.nodes) }

// Pick implements Balancer. A valid sticky cookie whose target is up wins;
// otherwise two children are drawn and, with stickiness, the cookie of the
// chosen one is recorded in h.
func (b *P2C) Pick(h *Hint) (*Endpoint, bool) {
	if b.sticky != nil {
		if ep, ok := b.sticky.pick(h); ok {
			return descend(ep, h)
		}
	}
	v := b.healthy.Load()
	if v.epoch != healthEpoch.Load() {
		v = b.refresh()
	}
	hs := v.healthy
	var i int32
	switch len(hs) {
	case 0:
		return nil, false
	case 1:
		i = hs[0]
	default:
		// Traefik draws both indices over the whole list and bumps the
		// second one on a collision, so the neighbour of the first draw
		// is twice as likely as other seconds. Kept for fidelity.
		n1, n2 := b.intN(len(hs)), b.intN(len(hs))
		if n2 == n1 {
			n2 = (n2 + 1) % len(hs)
		}
		i = hs[n1]
		if j := hs[n2]; b.nodes[j].st.Inflight() < b.nodes[i].st.Inflight() {
			i = j
		}
	}
	n := &b.nodes[i]
	if b.sticky != nil {
		h.addSetCookie(&b.sticky.spec, n.cookie)
	}
	return descend(n.ep, h)
}
