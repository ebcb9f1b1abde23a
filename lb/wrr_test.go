package lb

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// wrrMode names the schedule representation NewWRR chose.
func wrrMode(b *WRR) string {
	switch {
	case b.locked != nil:
		return "locked"
	case b.table != nil:
		return "table"
	case b.steps != nil:
		return "equal"
	default:
		return "single"
	}
}

// compareWRR checks that b and ref produce the same keys for n picks.
func compareWRR(t *testing.T, b *WRR, ref *refEDF, n int) {
	t.Helper()
	var h Hint
	for i := range n {
		want := ""
		if ep := ref.next(); ep != nil {
			want = ep.Key
		}
		if got := pickKey(b, &h); got != want {
			t.Fatalf("pick %d (mode %s): got %q, want %q", i, wrrMode(b), got, want)
		}
	}
}

func TestWRRMatchesReferenceEDF(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	type tc struct {
		name    string
		weights []int
	}
	var cases []tc
	// Equal weights, including sizes whose heap-layout cycle is long
	// (17, 31, 255 children repeat only after 2040, 7068 and 2.4M picks).
	for _, n := range []int{1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 64, 100, 255} {
		w := make([]int, n)
		for i := range w {
			w[i] = 1
		}
		cases = append(cases, tc{fmt.Sprintf("ones/%d", n), w})
	}
	cases = append(cases, tc{"threes/6", []int{3, 3, 3, 3, 3, 3}}, tc{"tens/7", []int{10, 10, 10, 10, 10, 10, 10}})
	// Random weights: small periods (table), and huge ones (fallback).
	for i := range 300 {
		n := 2 + rng.IntN(12)
		maxW := []int{2, 5, 20, 100, 1000}[rng.IntN(5)]
		w := make([]int, n)
		for j := range w {
			w[j] = rng.IntN(maxW+1) - rng.IntN(2) // a few zero/negative weights
		}
		cases = append(cases, tc{fmt.Sprintf("random/%d", i), w})
	}
	cases = append(cases, tc{"fallback/primes", []int{997, 1009, 1013, 1019, 3}})

	modes := map[string]int{}
	for i, c := range cases {
		seed := uint64(i) + 100
		eps := weighted(c.weights...)
		b := NewWRR(eps, Options{Shuffle: seededShuffle(seed)})
		ref := newRefEDF(shuffled(eps, seededShuffle(seed)))
		modes[wrrMode(b)]++

		switch wrrMode(b) {
		case "table":
			// Exactly Traefik for the precomputed picks...
			compareWRR(t, b, ref, len(b.table))
			// ...then every aligned period keeps exact proportions.
			checkPeriods(t, b, 5)
		default:
			// Equal weights and the fallback are exact forever.
			compareWRR(t, b, ref, max(3000, 20*int(min(b.period, 1000))))
		}
	}
	for _, m := range []string{"single", "equal", "table", "locked"} {
		if modes[m] == 0 {
			t.Errorf("no case exercised mode %s (%v)", m, modes)
		}
	}
}

// checkPeriods checks that each of the next k aligned periods picks every
// child exactly weight/gcd times.
func checkPeriods(t *testing.T, b *WRR, k int) {
	t.Helper()
	g := 0
	for _, n := range b.nodes {
		g = gcd(g, n.weight)
	}
	var h Hint
	for p := range k {
		counts := map[*Endpoint]int{}
		for range b.period {
			ep, _ := b.Pick(&h)
			counts[ep]++
		}
		for _, n := range b.nodes {
			if counts[n.ep] != n.weight/g {
				t.Fatalf("period %d: %s picked %d times, want %d", p, n.ep.Key, counts[n.ep], n.weight/g)
			}
		}
	}
}

func TestWRRLongEqualWeightsRun(t *testing.T) {
	// 17 equal children: Traefik's sequence repeats only every 2040
	// picks; check well past several cycles.
	eps := ones(17)
	b := NewWRR(eps, Options{Shuffle: seededShuffle(7)})
	compareWRR(t, b, newRefEDF(shuffled(eps, seededShuffle(7))), 10000)
}

// TestWRRTraefikBias replays Traefik's TestBalancerBias vector.
func TestWRRTraefikBias(t *testing.T) {
	eps := []*Endpoint{{Key: "A", Weight: 11}, {Key: "B", Weight: 3}}
	b := NewWRR(eps, Options{Shuffle: noShuffle})
	want := "AAABAAAABAAABA"
	var got []byte
	var h Hint
	for range len(want) {
		got = append(got, pickKey(b, &h)...)
	}
	if string(got) != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestWRRDistribution(t *testing.T) {
	for _, w := range [][]int{{3, 1}, {5, 2, 1}, {1, 1, 1}, {7, 0, 3}, {100, 1}, {4000, 1000, 1}} {
		eps := weighted(w...)
		b := NewWRR(eps, Options{Shuffle: seededShuffle(3)})
		total, sum := 0, 0
		for _, x := range w {
			if x > 0 {
				sum += x
			}
		}
		counts := map[string]int{}
		var h Hint
		total = sum * 20
		for range total {
			counts[pickKey(b, &h)]++
		}
		for i, ep := range eps {
			want := 0
			if w[i] > 0 {
				want = w[i] * 20
			}
			if counts[ep.Key] != want {
				t.Errorf("weights %v: %s got %d picks, want %d", w, ep.Key, counts[ep.Key], want)
			}
		}
	}
}

func TestWRRSkipsDownAndFenced(t *testing.T) {
	for _, w := range [][]int{{1, 1, 1, 1, 1}, {5, 3, 2, 1, 1}} {
		t.Run(fmt.Sprint(w), func(t *testing.T) {
			eps := weighted(w...)
			eps[1].Fenced = true
			b := NewWRR(eps, Options{Shuffle: seededShuffle(9)})
			ref := newRefEDF(shuffled(eps, seededShuffle(9)))
			compareWRR(t, b, ref, 50)
			eps[2].State.SetUp(false)
			compareWRR(t, b, ref, 100)
			for _, i := range []int{1, 2} {
				if c := countKey(b, eps[i].Key, 200); c != 0 {
					t.Fatalf("%s picked %d times", eps[i].Key, c)
				}
			}
			ref = newRefEDF(shuffled(eps, seededShuffle(9)))
			b = NewWRR(eps, Options{Shuffle: seededShuffle(9)})
			compareWRR(t, b, ref, 40)
			eps[2].State.SetUp(true)
			eps[4].State.SetUp(false)
			compareWRR(t, b, ref, 100)
		})
	}
}

func countKey(b Balancer, key string, n int) int {
	var h Hint
	c := 0
	for range n {
		if pickKey(b, &h) == key {
			c++
		}
	}
	return c
}

func TestWRRAllDownThenUp(t *testing.T) {
	for _, w := range [][]int{{1, 1, 1}, {3, 2, 1}, {1}, {1 << 20, 1, 7}} {
		eps := weighted(w...)
		b := NewWRR(eps, Options{Shuffle: seededShuffle(5)})
		ref := newRefEDF(shuffled(eps, seededShuffle(5)))
		compareWRR(t, b, ref, 7)
		for _, ep := range eps {
			ep.State.SetUp(false)
		}
		compareWRR(t, b, ref, 5) // all "" (no pick)
		var h Hint
		if ep, ok := b.Pick(&h); ok || ep != nil {
			t.Fatalf("%v: picked %v with everything down", w, ep)
		}
		ref.next()
		for _, ep := range eps {
			ep.State.SetUp(true)
		}
		// Failed picks consumed nothing, so both continue in step.
		compareWRR(t, b, ref, 30)
	}
}

func TestWRRNoUsableChild(t *testing.T) {
	var h Hint
	if _, ok := NewWRR(nil, Options{}).Pick(&h); ok {
		t.Error("empty balancer picked")
	}
	if _, ok := NewWRR(weighted(0, -1), Options{}).Pick(&h); ok {
		t.Error("zero-weight balancer picked")
	}
	eps := weighted(1, 2)
	eps[0].Fenced, eps[1].Fenced = true, true
	if _, ok := NewWRR(eps, Options{}).Pick(&h); ok {
		t.Error("all-fenced balancer picked")
	}
	// Traefik spins forever here (a fenced child is up, the unfenced one
	// is down); we answer 503 instead.
	eps = weighted(1, 2)
	eps[0].Fenced = true
	eps[1].State.SetUp(false)
	if _, ok := NewWRR(eps, Options{}).Pick(&h); ok {
		t.Error("picked with only a fenced child up")
	}
}

func TestWRRNilStateIsUp(t *testing.T) {
	b := NewWRR([]*Endpoint{{Key: "a", Weight: 1}, {Key: "b", Weight: 1}}, Options{})
	if c := countKey(b, "a", 10); c != 5 {
		t.Fatalf("a picked %d/10", c)
	}
}

func TestWRRNestedServices(t *testing.T) {
	v1 := NewWRR(weighted(1, 1), Options{})
	v2eps := []*Endpoint{{Key: "http://v2:80", Weight: 1, State: new(State)}}
	v2 := NewWRR(v2eps, Options{})
	parent := NewWRR([]*Endpoint{
		{Key: "v1@file", Weight: 3, State: new(State), Service: v1},
		{Key: "v2@file", Weight: 1, State: new(State), Service: v2},
	}, Options{Shuffle: noShuffle})
	if c := countKey(parent, "http://v2:80", 400); c != 100 {
		t.Fatalf("v2 got %d/400 picks, want 100", c)
	}
	v2eps[0].State.SetUp(false)
	// Traefik does not retry siblings: the parent still picks v2 (its own
	// status only changes through health propagation) and v2 answers 503.
	var h Hint
	fails := 0
	for range 400 {
		if _, ok := parent.Pick(&h); !ok {
			fails++
		}
	}
	if fails != 100 {
		t.Fatalf("got %d failures, want 100", fails)
	}
}
