package lb

import (
	"fmt"
	"hash/fnv"
	"math"
	"testing"
)

// refHRWScore is Traefik's getNodeScore, verbatim in behaviour.
func refHRWScore(src, name string, weight int) float64 {
	h := fnv.New64a()
	h.Write([]byte(src + name))
	score := float64(h.Sum64()) / math.Pow(2, 64)
	return 1.0 / -math.Log(score) * float64(weight)
}

func TestHRWMatchesTraefikScore(t *testing.T) {
	eps := weighted(1, 4, 2, 7, 1, 1)
	eps[5].Fenced = true
	eps[2].State.SetUp(false)
	b := NewHRW(eps, Options{Shuffle: seededShuffle(4)})
	order := shuffled(eps, seededShuffle(4))
	var h Hint
	for i := range 2000 {
		ip := fmt.Sprintf("10.%d.%d.%d", i%7, i%251, i%13)
		want, best := "", 0.0
		for _, ep := range order {
			if ep.Fenced || !ep.State.Up() {
				continue
			}
			if s := refHRWScore(ip, ep.Key, ep.Weight); s > best {
				want, best = ep.Key, s
			}
		}
		h.ClientIP = []byte(ip)
		if got := pickKey(b, &h); got != want {
			t.Fatalf("ip %s: got %s, want %s", ip, got, want)
		}
	}
}

func TestHRWConsistentAndWeighted(t *testing.T) {
	eps := weighted(4, 1)
	b := NewHRW(eps, Options{})
	var h Hint
	counts := map[string]int{}
	for i := range 5000 {
		h.ClientIP = fmt.Appendf(h.ClientIP[:0], "192.168.%d.%d", i/256, i%256)
		first := pickKey(b, &h)
		if again := pickKey(b, &h); again != first {
			t.Fatalf("same IP moved from %s to %s", first, again)
		}
		counts[first]++
	}
	if c := counts[eps[0].Key]; c < 3700 || c > 4300 {
		t.Fatalf("weight-4 child got %d/5000, want about 4000", c)
	}
	// Removing a child only moves that child's clients.
	eps[1].State.SetUp(false)
	if c := countKey(b, eps[0].Key, 10); c != 10 {
		t.Fatal("healthy child not picked")
	}
	eps[0].State.SetUp(false)
	if _, ok := b.Pick(&h); ok {
		t.Fatal("picked with nothing up")
	}
	if NewHRW(weighted(0, -1), Options{}).Len() != 0 {
		t.Fatal("non-positive weights kept")
	}
}
