package lb

import (
	"testing"
	"time"
)

func TestRegistryKeepsStateAcrossRebuilds(t *testing.T) {
	reg := NewRegistry()
	build := func(urls ...string) (*WRR, map[string]bool) {
		live := map[string]bool{}
		var eps []*Endpoint
		for _, u := range urls {
			ep, err := NewEndpoint(u, reg.State(u))
			if err != nil {
				t.Fatal(err)
			}
			eps = append(eps, ep)
			live[u] = true
		}
		return NewWRR(eps, Options{}), live
	}

	_, live := build("http://a:80", "http://b:80", "http://c:80")
	reg.Sweep(live)
	a, b := reg.State("http://a:80"), reg.State("http://b:80")
	a.Acquire()
	a.Acquire()
	b.SetUp(false)

	// Rebuild without c and with d: a and b keep their counters.
	wrr, live := build("http://a:80", "http://b:80", "http://d:80")
	if n := reg.Sweep(live); n != 1 {
		t.Fatalf("swept %d keys, want 1 (c)", n)
	}
	if reg.State("http://a:80") != a || a.Inflight() != 2 {
		t.Fatal("state of a not kept")
	}
	if reg.State("http://b:80").Up() {
		t.Fatal("health of b not kept")
	}
	if c := countKey(wrr, "http://b:80", 30); c != 0 {
		t.Fatalf("down endpoint picked %d times after rebuild", c)
	}
	if reg.Len() != 3 {
		t.Fatalf("registry holds %d keys, want 3", reg.Len())
	}
	// A swept key comes back fresh.
	reg.Sweep(map[string]bool{"http://a:80": true})
	if reg.State("http://b:80") == b || !reg.State("http://b:80").Up() {
		t.Fatal("swept state reused")
	}
	a.Release()
	a.Release()
	if a.Inflight() != 0 {
		t.Fatal("inflight not released")
	}
	var zero Registry
	if zero.State("x") != zero.State("x") {
		t.Fatal("zero Registry not usable")
	}
}

func TestNewEndpoint(t *testing.T) {
	ep, err := NewEndpoint("https://10.42.0.7:8443", nil)
	if err != nil || ep.Key != "https://10.42.0.7:8443" || ep.Scheme != "https" || ep.Addr != "10.42.0.7:8443" || ep.Weight != 1 {
		t.Fatalf("got %+v, %v", ep, err)
	}
	for _, bad := range []string{"://x", "no-host"} {
		if _, err := NewEndpoint(bad, nil); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestStateSetUp(t *testing.T) {
	var s State
	e := healthEpoch.Load()
	if !s.Up() || s.SetUp(true) {
		t.Fatal("zero State must be up and unchanged by SetUp(true)")
	}
	if !s.SetUp(false) || s.Up() || s.SetUp(false) {
		t.Fatal("SetUp(false) transitions")
	}
	if healthEpoch.Load() == e {
		t.Fatal("health epoch not bumped")
	}
}

// TestPassiveHealth follows Traefik's passive checker: maxFailed failures
// inside the window, none followed by a success, make the endpoint
// unhealthy.
func TestPassiveHealth(t *testing.T) {
	var s State
	t0 := time.Unix(1000, 0)
	w := 10 * time.Second
	if !s.RecordFailure(t0, w, 3) || !s.RecordFailure(t0.Add(time.Second), w, 3) {
		t.Fatal("unhealthy too early")
	}
	if s.RecordFailure(t0.Add(2*time.Second), w, 3) {
		t.Fatal("3 failures in window must trip")
	}
	// A success clears the history.
	s.RecordSuccess()
	if !s.RecordFailure(t0.Add(3*time.Second), w, 3) || !s.RecordFailure(t0.Add(4*time.Second), w, 3) {
		t.Fatal("history not cleared by success")
	}
	// Old failures slide out of the window (its start is exclusive).
	if !s.RecordFailure(t0.Add(13*time.Second), w, 3) {
		t.Fatal("failure at 3s is outside the window at 13s")
	}
	if s.RecordFailure(t0.Add(13500*time.Millisecond), w, 3) {
		t.Fatal("4s, 13s, 13.5s are inside the window")
	}
	// Degenerate settings behave like Traefik's arithmetic.
	var d State
	if d.RecordFailure(t0, w, 0) {
		t.Fatal("maxFailed 0 must trip")
	}
	if !d.RecordFailure(t0, 0, 2) || d.RecordFailure(t0.Add(time.Hour), 0, 2) {
		t.Fatal("window 0 never expires failures")
	}
}
