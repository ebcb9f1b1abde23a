package lb

// This file holds the part of P2C that is not allocation-free. It runs on the
// request path, but only on the first pick after some endpoint changed health.

// refresh rebuilds the healthy list. It runs on the request path, but only
// once per health transition, and allocates a new snapshot.
func (b *P2C) refresh() *p2cView {
	// Reading the epoch before the flags guarantees that a transition
	// racing with the scan leaves a stale epoch behind, so the next pick
	// refreshes again rather than keeping a wrong list.
	v := &p2cView{epoch: healthEpoch.Load()}
	for i := range b.nodes {
		if b.nodes[i].usable() {
			v.healthy = append(v.healthy, int32(i))
		}
	}
	b.healthy.Store(v)
	return v
}
