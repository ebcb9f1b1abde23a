package lb

import (
	"container/heap"
	"sync"
)

// Schedule sizing. See NewWRR for how they are used.
const (
	// maxPeriod is the longest EDF period, in picks, that WRR precomputes
	// for unequal weights; longer periods use the locked fallback.
	maxPeriod = 4096
	// replayPicks is how many picks of an unequal-weight schedule are
	// precomputed (rounded down to whole periods, at least one period):
	// the first replayPicks picks after a rebuild are exactly Traefik's.
	replayPicks = 1024
)

// NewWRR builds a weighted round-robin balancer that reproduces Traefik's
// earliest-deadline-first (EDF) balancer.
//
// The children are shuffled with opts.Shuffle and children with Weight <= 0
// are dropped, as Traefik does. Traefik then keeps every child in a binary
// heap (container/heap) keyed by a float64 deadline that starts at 1/weight,
// pops the earliest deadline, adds 1/weight to it and pushes it back. NewWRR
// runs that exact procedure ahead of time and Pick replays it with an atomic
// counter:
//
//   - All weights equal (every Kubernetes Service): within one period of n
//     picks every child is picked once and all heap comparisons depend only
//     on heap positions, so each period applies the same position
//     permutation to the heap. The sequence is therefore computed for any
//     pick index from one simulated period and the permutation's cycles,
//     in O(n) memory. It equals Traefik's sequence forever, even though
//     that sequence only repeats after up to millions of picks (the heap
//     layout, and so the tie-breaking, changes from period to period).
//
//   - Unequal weights whose period P = sum(weights)/gcd(weights) is at most
//     4096 (maxPeriod): the first max(P, 1024 rounded down to a multiple of
//     P) picks are simulated and then replayed cyclically. They are exactly
//     Traefik's first picks after a (re)build. After that the replay keeps
//     exact per-period proportions and EDF smoothness, but may order picks
//     differently from Traefik where deadlines tie in exact arithmetic:
//     Traefik breaks those ties by accumulated float64 rounding and the
//     current heap layout, so its own sequence never becomes periodic.
//
//   - Longer periods fall back to Traefik's algorithm itself behind a
//     mutex, which is exact but serialises picks of that balancer.
//
// Children that are down or fenced are skipped by moving on to the next
// schedule slot; skipped slots are consumed, as Traefik consumes the heap
// entries it rejects.
func NewWRR(endpoints []*Endpoint, opts Options) *WRR {
	b := &WRR{}
	for _, ep := range opts.prepare(endpoints) {
		if ep.Weight > 0 {
			b.nodes = append(b.nodes, newNode(ep))
		}
	}
	if opts.Sticky != nil {
		b.sticky = newSticky(*opts.Sticky, b.nodes)
	}
	n := len(b.nodes)
	if n <= 1 {
		b.period = 1
		return b
	}

	weights := make([]int, n)
	equal := true
	g := 0
	for i := range b.nodes {
		weights[i] = b.nodes[i].weight
		equal = equal && weights[i] == weights[0]
		g = gcd(g, weights[i])
	}
	if equal {
		b.buildEqual(weights)
		return b
	}

	// The period is sum(w/g), saturated so that huge weights cannot
	// overflow; the locked fallback uses it to bound its search.
	var period uint64
	for _, w := range weights {
		period = min(period+uint64(w/g), 1<<62)
	}
	b.period = period
	if period > maxPeriod {
		b.locked = &lockedEDF{q: newEDF(weights)}
		return b
	}
	picks := max(period, replayPicks/period*period)
	q := newEDF(weights)
	b.table = make([]uint16, picks)
	for i := range b.table {
		b.table[i] = uint16(q.step()) // n <= period <= maxPeriod < 1<<16
	}
	return b
}

// buildEqual simulates one period of n picks with equal weights and derives
// the per-period position permutation and its cycles.
func (b *WRR) buildEqual(weights []int) {
	n := len(weights)
	q := newEDF(weights)
	// Equal deadlines never move on push, so position i initially holds
	// child i and the child popped at step j is also the position it held
	// at the start of the period.
	first := make([]int32, n)
	for j := range first {
		first[j] = q.step()
	}
	// After the period, position x holds the child that started at
	// perm[x]; period p therefore sees child perm^p(x) at position x.
	perm := make([]int32, n)
	for x, it := range q.items {
		perm[x] = it.idx
	}

	order := make([]int32, 0, n)
	ref := make([]cycleRef, n) // cycle membership of each position
	seen := make([]bool, n)
	for x := range perm {
		if seen[x] {
			continue
		}
		start := len(order)
		for y := int32(x); !seen[y]; y = perm[y] {
			seen[y] = true
			ref[y] = cycleRef{start: uint32(start), off: uint32(len(order) - start)}
			order = append(order, y)
		}
		for i := start; i < len(order); i++ {
			ref[order[i]].n = uint32(len(order) - start)
		}
	}
	b.order = order
	b.steps = make([]cycleRef, n)
	for j, x := range first {
		b.steps[j] = ref[x]
	}
	b.period = uint64(n)
}

// cycleRef locates a position inside the cycles of the period permutation:
// its cycle occupies order[start:start+n] and it sits at offset off.
type cycleRef struct {
	start, n, off uint32
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// edfItem is one child in the EDF simulation.
type edfItem struct {
	idx      int32
	inc      float64 // 1/weight, the same value Traefik adds each time
	deadline float64
}

// edfQueue is Traefik's EDF heap: the same container/heap operations and the
// same strict float64 comparison, so ties break identically.
type edfQueue struct {
	items []*edfItem
}

func (q *edfQueue) Len() int           { return len(q.items) }
func (q *edfQueue) Less(i, j int) bool { return q.items[i].deadline < q.items[j].deadline }
func (q *edfQueue) Swap(i, j int)      { q.items[i], q.items[j] = q.items[j], q.items[i] }

// Push implements heap.Interface.
func (q *edfQueue) Push(x any) { q.items = append(q.items, x.(*edfItem)) }

// Pop implements heap.Interface.
func (q *edfQueue) Pop() any {
	it := q.items[len(q.items)-1]
	q.items = q.items[:len(q.items)-1]
	return it
}

// newEDF adds the children in order; before any pick Traefik's current
// deadline is 0, so each starts at 0 + 1/weight.
func newEDF(weights []int) *edfQueue {
	q := &edfQueue{items: make([]*edfItem, 0, len(weights))}
	for i, w := range weights {
		inc := 1 / float64(w)
		heap.Push(q, &edfItem{idx: int32(i), inc: inc, deadline: inc})
	}
	return q
}

// step performs one Traefik pick: pop the earliest deadline, advance it,
// push it back.
func (q *edfQueue) step() int32 {
	it := heap.Pop(q).(*edfItem)
	it.deadline += it.inc
	heap.Push(q, it)
	return it.idx
}

// lockedEDF is the fallback for periods too long to precompute: Traefik's
// heap behind a mutex.
type lockedEDF struct {
	mu sync.Mutex
	q  *edfQueue
}
