package lb

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"sync"
)

// seededShuffle returns a deterministic Options.Shuffle.
func seededShuffle(seed uint64) func(int, func(i, j int)) {
	return rand.New(rand.NewPCG(seed, 0x5eed)).Shuffle
}

// noShuffle keeps the configured order, for tests that replay Traefik's
// own test vectors (Traefik's balancer tests add children in order).
func noShuffle(int, func(i, j int)) {}

// weighted returns endpoints "http://10.0.<i>.1:80" with the given weights,
// each with its own State.
func weighted(weights ...int) []*Endpoint {
	eps := make([]*Endpoint, len(weights))
	for i, w := range weights {
		key := fmt.Sprintf("http://10.0.%d.%d:80", i/250, i%250+1)
		eps[i] = &Endpoint{Key: key, Scheme: "http", Addr: key[len("http://"):], Weight: w, State: new(State)}
	}
	return eps
}

// ones returns n endpoints of weight 1.
func ones(n int) []*Endpoint {
	w := make([]int, n)
	for i := range w {
		w[i] = 1
	}
	return weighted(w...)
}

// shuffled applies the same permutation NewWRR applies for shuffle.
func shuffled(eps []*Endpoint, shuffle func(int, func(i, j int))) []*Endpoint {
	out := append([]*Endpoint(nil), eps...)
	shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// refEDF is a straightforward earliest-deadline-first balancer written the
// way Traefik's wrr.Balancer is: a mutex, a container/heap of float64
// deadlines, and a loop that pops, advances and pushes until it meets a
// usable child. It is the oracle for WRR.
type refEDF struct {
	mu       sync.Mutex
	items    []*refItem
	children []*Endpoint
}

type refItem struct {
	ep       *Endpoint
	weight   float64
	deadline float64
}

func (r *refEDF) Len() int           { return len(r.items) }
func (r *refEDF) Less(i, j int) bool { return r.items[i].deadline < r.items[j].deadline }
func (r *refEDF) Swap(i, j int)      { r.items[i], r.items[j] = r.items[j], r.items[i] }
func (r *refEDF) Push(x any)         { r.items = append(r.items, x.(*refItem)) }
func (r *refEDF) Pop() any {
	it := r.items[len(r.items)-1]
	r.items = r.items[:len(r.items)-1]
	return it
}

// newRefEDF adds eps in order, dropping non-positive weights.
func newRefEDF(eps []*Endpoint) *refEDF {
	r := &refEDF{}
	cur := 0.0 // Traefik's curDeadline, still 0 before the first pick
	for _, ep := range eps {
		if ep.Weight <= 0 {
			continue
		}
		it := &refItem{ep: ep, weight: float64(ep.Weight)}
		it.deadline = cur + 1/it.weight
		heap.Push(r, it)
		r.children = append(r.children, ep)
	}
	return r
}

func (r *refEDF) next() *Endpoint {
	r.mu.Lock()
	defer r.mu.Unlock()
	up, unfenced := 0, 0
	for _, ep := range r.children {
		if ep.State.Up() {
			up++
		}
		if !ep.Fenced {
			unfenced++
		}
	}
	if len(r.children) == 0 || up == 0 || unfenced == 0 {
		return nil
	}
	for {
		it := heap.Pop(r).(*refItem)
		it.deadline += 1 / it.weight
		heap.Push(r, it)
		if it.ep.State.Up() && !it.ep.Fenced {
			return it.ep
		}
	}
}

// pickKey picks and returns the key, or "" for no pick.
func pickKey(b Balancer, h *Hint) string {
	ep, ok := b.Pick(h)
	if !ok {
		return ""
	}
	return ep.Key
}
