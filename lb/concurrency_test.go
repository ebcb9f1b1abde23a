package lb

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// current mimics the engine: a balancer swapped atomically on reload.
type current struct{ b Balancer }

func TestConcurrentPickAndRebuild(t *testing.T) {
	reg := NewRegistry()
	spec := NewCookieSpec(CookieConfig{}, "svc@test")
	build := func(gen int) Balancer {
		var eps []*Endpoint
		for i := range 4 + gen%5 {
			key := fmt.Sprintf("http://10.0.0.%d:80", i+1)
			eps = append(eps, &Endpoint{Key: key, Weight: 1 + i%3, Fenced: i == 2 && gen%2 == 0, State: reg.State(key)})
		}
		switch gen % 4 {
		case 0:
			return NewWRR(eps, Options{Sticky: &spec})
		case 1:
			return NewP2C(eps, Options{Sticky: &spec})
		case 2:
			return NewHRW(eps, Options{})
		default:
			// Equal weights and a nested service.
			for _, ep := range eps {
				ep.Weight = 1
			}
			return NewWRR([]*Endpoint{{Key: "inner", Weight: 2, Service: NewWRR(eps, Options{})}, eps[0]}, Options{})
		}
	}

	var cur atomic.Pointer[current]
	cur.Store(&current{build(0)})
	stop := make(chan struct{})
	var picks atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			h := new(Hint)
			cookie := []byte("_x=1; " + spec.Name + "=" + CookieValue("http://10.0.0.1:80"))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				h.Reset()
				h.ClientIP = []byte{'1', '0', '.', byte('0' + g), '.', byte('0' + i%10)}
				if i%3 == 0 {
					h.Cookie = cookie
				}
				if ep, ok := cur.Load().b.Pick(h); ok {
					ep.State.Acquire()
					ep.State.Release()
					picks.Add(1)
				}
			}
		})
	}
	// Let the pickers start; on a busy machine they might otherwise not
	// run before the rebuilds are over.
	for picks.Load() < 1000 {
		runtime.Gosched()
	}
	for gen := 1; gen <= 300; gen++ {
		cur.Store(&current{build(gen)})
		reg.State(fmt.Sprintf("http://10.0.0.%d:80", gen%6+1)).SetUp(gen%3 != 0)
		live := map[string]bool{}
		for i := range 9 {
			live[fmt.Sprintf("http://10.0.0.%d:80", i+1)] = true
		}
		reg.Sweep(live)
	}
	close(stop)
	wg.Wait()
	if picks.Load() == 0 {
		t.Fatal("no successful picks")
	}
	for i := range 9 {
		if n := reg.State(fmt.Sprintf("http://10.0.0.%d:80", i+1)).Inflight(); n != 0 {
			t.Fatalf("endpoint %d has %d requests in flight", i+1, n)
		}
	}
}

func TestConcurrentWRRCounts(t *testing.T) {
	// Concurrent picks share one counter, so the totals stay exact.
	eps := weighted(5, 3, 2)
	b := NewWRR(eps, Options{})
	const per = 1000
	var counts [3]atomic.Int64
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			h := new(Hint)
			for range per {
				ep, _ := b.Pick(h)
				for i := range eps {
					if eps[i] == ep {
						counts[i].Add(1)
					}
				}
			}
		})
	}
	wg.Wait()
	for i, w := range []int64{5, 3, 2} {
		if got := counts[i].Load(); got != w*per {
			t.Errorf("child %d: %d picks, want %d", i, got, w*per)
		}
	}
}
