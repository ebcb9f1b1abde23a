// Runs per request: must not allocate (guarded by TestLeastTimePickAllocs).

package lb

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// latencySamples is the number of response times Traefik's least-time
// balancer averages per server.
const latencySamples = 100

// LeastTime is Traefik v3.7's least-time balancer (strategy leasttime). Each
// healthy, unfenced child gets the score
//
//	avg × (1 + inflight) / weight
//
// where avg is the mean of its last 100 response times (time to first
// response byte, in whole milliseconds, 0 before any sample) and inflight
// its requests in flight; the lowest score wins. Children with equal scores
// are separated by Traefik's EDF weighted round robin: the one with the
// earliest deadline wins (the first in order on equal deadlines) and its
// deadline advances by 1/weight. A single usable child is picked without
// touching its deadline, as in Traefik. Children with a non-positive weight
// are dropped and the children are shuffled first, like Traefik's service
// manager does.
//
// The engine reports response times with State.ObserveLatency once a child
// is picked. A pick scans the children (Traefik does too) without locking or
// allocating; deadlines are updated with compare-and-swap.
type LeastTime struct {
	nodes []node
	// deadline[i] holds the float64 bits of nodes[i]'s EDF deadline.
	deadline []atomic.Uint64
	sticky   *Sticky
}

// NewLeastTime builds a least-time balancer over endpoints. It starts every
// child's response-time history afresh, as Traefik's balancer, rebuilt with
// the configuration, does.
func NewLeastTime(endpoints []*Endpoint, opts Options) *LeastTime {
	b := &LeastTime{}
	for _, ep := range opts.prepare(endpoints) {
		if ep.Weight <= 0 {
			continue
		}
		b.nodes = append(b.nodes, newNode(ep))
	}
	b.deadline = make([]atomic.Uint64, len(b.nodes))
	// Traefik staggers the initial deadlines: each added server starts at
	// the previous one's deadline plus 1/weight.
	var cur float64
	for i := range b.nodes {
		cur += 1 / float64(b.nodes[i].weight)
		b.deadline[i].Store(math.Float64bits(cur))
		b.nodes[i].st.resetLatency()
	}
	if opts.Sticky != nil {
		b.sticky = newSticky(*opts.Sticky, b.nodes)
	}
	return b
}

// Len returns the number of children.
func (b *LeastTime) Len() int { return len(b.nodes) }

// Pick implements Balancer.
func (b *LeastTime) Pick(h *Hint) (*Endpoint, bool) {
	if b.sticky != nil {
		if ep, ok := b.sticky.pick(h); ok {
			return descend(ep, h)
		}
	}
	best, ncand, nusable := -1, 0, 0
	minScore, bestDeadline := math.MaxFloat64, 0.0
	only := -1
	for i := range b.nodes {
		n := &b.nodes[i]
		if !n.usable() {
			continue
		}
		nusable++
		only = i
		score := n.st.avgLatency() * (1 + float64(n.st.Inflight())) / float64(n.weight)
		switch {
		case score < minScore:
			minScore, best, ncand = score, i, 1
			bestDeadline = math.Float64frombits(b.deadline[i].Load())
		case score == minScore:
			ncand++
			if d := math.Float64frombits(b.deadline[i].Load()); d < bestDeadline {
				best, bestDeadline = i, d
			}
		}
	}
	switch {
	case nusable == 0:
		return nil, false
	case nusable == 1:
		best = only
	case ncand > 1:
		b.advance(best)
	}
	n := &b.nodes[best]
	if b.sticky != nil {
		h.addSetCookie(&b.sticky.spec, n.cookie)
	}
	return descend(n.ep, h)
}

// advance moves child i's EDF deadline on by 1/weight.
func (b *LeastTime) advance(i int) {
	step := 1 / float64(b.nodes[i].weight)
	d := &b.deadline[i]
	for {
		old := d.Load()
		if d.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+step)) {
			return
		}
	}
}

// latency is the ring of a server's last response times, in milliseconds.
type latency struct {
	mu    sync.Mutex
	ring  [latencySamples]float64 // guarded by mu
	idx   int                     // guarded by mu
	sum   float64                 // guarded by mu
	count int                     // guarded by mu
	// avg holds the float64 bits of sum/count (0 with no sample), so that
	// picks read it with one atomic load.
	avg atomic.Uint64
}

// observe records one response time exactly as Traefik does: truncated to
// whole milliseconds, the oldest of 100 samples replaced once full.
func (l *latency) observe(d time.Duration) {
	ms := float64(d.Milliseconds())
	l.mu.Lock()
	if l.count < latencySamples {
		l.sum += ms
		l.count++
	} else {
		l.sum = l.sum - l.ring[l.idx] + ms
	}
	l.ring[l.idx] = ms
	l.idx = (l.idx + 1) % latencySamples
	l.avg.Store(math.Float64bits(l.sum / float64(l.count)))
	l.mu.Unlock()
}

// resetLatency starts a fresh response-time history for the endpoint.
func (s *State) resetLatency() { s.lat.Store(new(latency)) }

// avgLatency returns the mean recorded response time in milliseconds, 0
// before any sample.
func (s *State) avgLatency() float64 {
	if l := s.lat.Load(); l != nil {
		return math.Float64frombits(l.avg.Load())
	}
	return 0
}

// ObserveLatency records the time the endpoint took to start answering
// (Traefik's time to first response byte) for a least-time balancer that
// holds it. It does nothing for an endpoint no least-time balancer was built
// with. It does not allocate.
func (s *State) ObserveLatency(d time.Duration) {
	if l := s.lat.Load(); l != nil {
		l.observe(d)
	}
}
