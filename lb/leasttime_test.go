package lb

import (
	"math"
	"sync"
	"testing"
	"time"
)

func TestLeastTimeLowestScore(t *testing.T) {
	eps := ones(3)
	b := NewLeastTime(eps, Options{Shuffle: noShuffle})
	eps[0].State.ObserveLatency(30 * time.Millisecond)
	eps[1].State.ObserveLatency(10 * time.Millisecond)
	eps[2].State.ObserveLatency(20 * time.Millisecond)
	h := new(Hint)
	for range 5 {
		if ep, _ := b.Pick(h); ep != eps[1] {
			t.Fatalf("picked %s, want the fastest", ep.Key)
		}
	}
	// In-flight requests multiply the average: 10×(1+2) = 30 > 20.
	eps[1].State.Acquire()
	eps[1].State.Acquire()
	if ep, _ := b.Pick(h); ep != eps[2] {
		t.Fatalf("picked %s, want %s", ep.Key, eps[2].Key)
	}
}

func TestLeastTimeWeightDividesScore(t *testing.T) {
	eps := weighted(1, 4)
	b := NewLeastTime(eps, Options{Shuffle: noShuffle})
	eps[0].State.ObserveLatency(10 * time.Millisecond)
	eps[1].State.ObserveLatency(30 * time.Millisecond) // 30/4 < 10/1
	if ep, _ := b.Pick(new(Hint)); ep != eps[1] {
		t.Fatalf("picked %s", ep.Key)
	}
}

func TestLeastTimeTiesFollowEDF(t *testing.T) {
	// Before any sample every score is 0: Traefik's EDF order decides,
	// starting from staggered deadlines 1/w1, 1/w1+1/w2, ...
	eps := weighted(3, 1)
	b := NewLeastTime(eps, Options{Shuffle: noShuffle})
	ref := []float64{1.0 / 3, 1.0/3 + 1}
	h := new(Hint)
	for i := range 40 {
		want := 0
		if ref[1] < ref[0] {
			want = 1
		}
		ref[want] += 1 / float64(eps[want].Weight)
		if ep, _ := b.Pick(h); ep != eps[want] {
			t.Fatalf("pick %d: got %s, want %s", i, ep.Key, eps[want].Key)
		}
	}
}

func TestLeastTimeSamples(t *testing.T) {
	var l latency
	l.observe(1500 * time.Microsecond) // truncated to 1 ms
	l.observe(3 * time.Millisecond)
	if got := l.avg.Load(); got == 0 || floatOf(got) != 2 {
		t.Fatalf("avg %v, want 2", floatOf(got))
	}
	for range latencySamples {
		l.observe(10 * time.Millisecond)
	}
	if got := floatOf(l.avg.Load()); got != 10 {
		t.Fatalf("avg %v after the ring wrapped, want 10", got)
	}
}

func TestLeastTimeSkipsDownFencedAndZeroWeight(t *testing.T) {
	eps := weighted(1, 1, 0, 1)
	eps[0].State.SetUp(false)
	eps[1].Fenced = true
	b := NewLeastTime(eps, Options{Shuffle: noShuffle})
	if b.Len() != 3 {
		t.Fatalf("Len %d, want 3 (weight 0 dropped)", b.Len())
	}
	h := new(Hint)
	for range 5 {
		if ep, _ := b.Pick(h); ep != eps[3] {
			t.Fatalf("picked %s", ep.Key)
		}
	}
	eps[3].State.SetUp(false)
	if _, ok := b.Pick(h); ok {
		t.Fatal("picked with nothing usable")
	}
}

func TestLeastTimeSticky(t *testing.T) {
	spec := NewCookieSpec(CookieConfig{}, "svc")
	eps := ones(3)
	b := NewLeastTime(eps, Options{Sticky: &spec, Shuffle: noShuffle})
	eps[2].State.ObserveLatency(time.Second)
	h := new(Hint)
	h.Cookie = []byte(spec.Name + "=" + CookieValue(eps[2].Key))
	if ep, _ := b.Pick(h); ep != eps[2] {
		t.Fatalf("sticky cookie ignored: %s", ep.Key)
	}
	h.Reset()
	b.Pick(h)
	if len(h.SetCookies()) != 1 {
		t.Fatalf("%d cookies, want 1", len(h.SetCookies()))
	}
}

func TestConcurrentLeastTime(t *testing.T) {
	eps := weighted(1, 2, 3)
	b := NewLeastTime(eps, Options{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			h := new(Hint)
			for i := range 2000 {
				h.Reset()
				ep, ok := b.Pick(h)
				if !ok {
					t.Error("no pick")
					return
				}
				ep.State.Acquire()
				ep.State.ObserveLatency(time.Duration(g+i%3) * time.Millisecond)
				ep.State.Release()
			}
		})
	}
	wg.Wait()
	for _, ep := range eps {
		if n := ep.State.Inflight(); n != 0 {
			t.Fatalf("%s has %d in flight", ep.Key, n)
		}
	}
}

func floatOf(bits uint64) float64 { return math.Float64frombits(bits) }
