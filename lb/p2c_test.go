package lb

import (
	"strconv"
	"testing"
)

// scriptedIntN returns the given values in turn, like Traefik's mockRand.
func scriptedIntN(vals ...int) func(int) int {
	return func(int) int {
		v := vals[0]
		vals = vals[1:]
		return v
	}
}

// withInflight returns endpoints named "0", "1", ... with the given
// in-flight counts.
func withInflight(counts ...int64) []*Endpoint {
	eps := make([]*Endpoint, len(counts))
	for i, c := range counts {
		eps[i] = &Endpoint{Key: strconv.Itoa(i), Weight: 1, State: new(State)}
		eps[i].State.inflight.Store(c)
	}
	return eps
}

// TestP2CTraefikCases replays Traefik's TestP2C table.
func TestP2CTraefikCases(t *testing.T) {
	cases := []struct {
		desc     string
		inflight []int64
		rand     []int
		want     string
	}{
		{"one healthy handler", []int64{0}, nil, "0"},
		{"two handlers zero in flight", []int64{0, 0}, []int{1, 0}, "1"},
		{"chooses lower of two", []int64{0, 1}, []int{1, 0}, "0"},
		{"chooses lower of three", []int64{10, 90, 40}, []int{1, 1}, "2"},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			b := NewP2C(withInflight(c.inflight...), Options{Shuffle: noShuffle, IntN: scriptedIntN(c.rand...)})
			var h Hint
			if got := pickKey(b, &h); got != c.want {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestP2CPrefersFewerInflight(t *testing.T) {
	eps := withInflight(5, 0, 5, 5)
	b := NewP2C(eps, Options{Shuffle: seededShuffle(1)})
	// "1" is chosen whenever it is one of the two distinct draws, which
	// happens with probability 1/4 + 1/4.
	c := countKey(b, "1", 16000)
	if c < 7600 || c > 8400 {
		t.Fatalf("least loaded picked %d/16000 times, want about 8000", c)
	}
	// Every other endpoint still gets traffic.
	for _, k := range []string{"0", "2", "3"} {
		if countKey(b, k, 1000) == 0 {
			t.Errorf("%s never picked", k)
		}
	}
}

func TestP2CSkipsDownAndFenced(t *testing.T) {
	eps := withInflight(0, 0, 0, 0)
	eps[0].Fenced = true
	b := NewP2C(eps, Options{})
	eps[1].State.SetUp(false)
	var h Hint
	for range 500 {
		switch k := pickKey(b, &h); k {
		case "2", "3":
		default:
			t.Fatalf("picked %q", k)
		}
	}
	eps[2].State.SetUp(false)
	if c := countKey(b, "3", 100); c != 100 {
		t.Fatalf("last healthy picked %d/100", c)
	}
	eps[3].State.SetUp(false)
	if ep, ok := b.Pick(&h); ok {
		t.Fatalf("picked %s with nothing usable", ep.Key)
	}
	// Recovery is seen through the health epoch.
	eps[1].State.SetUp(true)
	if c := countKey(b, "1", 100); c != 100 {
		t.Fatalf("recovered endpoint picked %d/100", c)
	}
}

func TestP2CKeepsZeroWeights(t *testing.T) {
	// Traefik's P2C ignores weights entirely.
	b := NewP2C(weighted(0, -3), Options{})
	if b.Len() != 2 || countKey(b, "", 100) != 0 {
		t.Fatal("P2C dropped non-positive weights")
	}
	if _, ok := NewP2C(nil, Options{}).Pick(new(Hint)); ok {
		t.Fatal("empty P2C picked")
	}
}
