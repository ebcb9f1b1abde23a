// Runs per request: must not allocate (guarded by TestWRRPickAllocs).

package lb

import "sync/atomic"

// WRR is Traefik's weighted round-robin (earliest deadline first) balancer
// with a lock-free pick: the pick sequence is precomputed at build time and a
// shared atomic counter walks it. See NewWRR for the exact relation to
// Traefik's sequence.
//
// WRR is safe for concurrent use. Pick does not allocate and does not lock,
// except for unequal weights whose EDF period exceeds 4096 picks, which use
// a mutex (see NewWRR).
type WRR struct {
	nodes  []node
	sticky *Sticky

	// period is the EDF period in picks (saturated for huge weights); any
	// window of 2*period consecutive picks contains every child, which
	// bounds the search for a usable one.
	period uint64

	// Equal weights: slot i is order[...] derived from steps[i%n] and the
	// period number i/n.
	order []int32
	steps []cycleRef

	// Unequal weights: slot i is table[i%len(table)].
	table []uint16

	// Very long periods.
	locked *lockedEDF

	_    cacheLinePad
	next atomic.Uint64 // slots handed out so far; hammered by every pick
	_    cacheLinePad
}

// Len returns the number of children kept (weight > 0).
func (b *WRR) Len() int { return len(b.nodes) }

// Pick implements Balancer. A valid sticky cookie whose target is up wins;
// otherwise the next usable child of the schedule is picked and, with
// stickiness, its cookie is recorded in h.
func (b *WRR) Pick(h *Hint) (*Endpoint, bool) {
	if b.sticky != nil {
		if ep, ok := b.sticky.pick(h); ok {
			return descend(ep, h)
		}
	}
	i, ok := b.nextIndex()
	if !ok {
		return nil, false
	}
	n := &b.nodes[i]
	if b.sticky != nil {
		h.addSetCookie(&b.sticky.spec, n.cookie)
	}
	return descend(n.ep, h)
}

// slot returns the child scheduled at pick index i.
func (b *WRR) slot(i uint64) int {
	switch {
	case b.table != nil:
		return int(b.table[i%uint64(len(b.table))])
	case b.steps != nil:
		n := uint64(len(b.steps))
		p, j := i/n, i%n
		r := b.steps[j]
		k := (uint64(r.off) + p%uint64(r.n)) % uint64(r.n)
		return int(b.order[uint64(r.start)+k])
	default:
		return 0 // a single child
	}
}

// nextIndex returns the next usable child of the schedule.
func (b *WRR) nextIndex() (int, bool) {
	if len(b.nodes) == 0 {
		return 0, false
	}
	if len(b.nodes) == 1 {
		// Nothing to schedule; skipping the shared counter avoids
		// contention for the most common small service.
		return 0, b.nodes[0].usable()
	}
	if b.locked != nil {
		return b.nextLocked()
	}
	i := b.next.Add(1) - 1
	if s := b.slot(i); b.nodes[s].usable() {
		return s, true
	}
	return b.skip(i)
}

// skip continues after an unusable slot i. It is kept out of nextIndex so
// the common path stays small.
func (b *WRR) skip(i uint64) (int, bool) {
	if !b.anyUsable() {
		// Traefik fails before touching its heap when nothing is
		// usable, so give the slot back to stay in step with it.
		b.next.Add(^uint64(0))
		return 0, false
	}
	for k := uint64(1); k < 2*b.period; k++ {
		if s := b.slot(i + k); b.nodes[s].usable() {
			// Consume the skipped slots, as Traefik consumes the heap
			// entries it rejects.
			b.next.Add(k)
			return s, true
		}
	}
	// Only reachable if health changed during the scan.
	return 0, false
}

// anyUsable reports whether some child may take new traffic.
func (b *WRR) anyUsable() bool {
	for i := range b.nodes {
		if b.nodes[i].usable() {
			return true
		}
	}
	return false
}

// nextLocked runs Traefik's heap under the fallback mutex.
func (b *WRR) nextLocked() (int, bool) {
	l := b.locked
	l.mu.Lock()
	defer l.mu.Unlock()
	if !b.anyUsable() {
		return 0, false
	}
	// Traefik loops until it finds a usable child; the bound only guards
	// against health flapping while the mutex is held.
	for range 2*b.period + uint64(len(b.nodes)) {
		if s := int(l.q.step()); b.nodes[s].usable() {
			return s, true
		}
	}
	return 0, false
}
