//go:build !race

// The race detector allocates on its own, so these guards only run in
// normal builds.

package lb

import (
	"testing"
	"time"
)

// assertNoAllocs fails if f allocates. The Hint used by f must live outside
// f, as it does in the engine's pooled request state.
func assertNoAllocs(t *testing.T, f func()) {
	t.Helper()
	if n := testing.AllocsPerRun(1000, f); n != 0 {
		t.Fatalf("allocates %v times per run", n)
	}
}

func TestWRRPickAllocs(t *testing.T) {
	spec := NewCookieSpec(CookieConfig{}, "svc")
	h := new(Hint)
	for _, eps := range [][]*Endpoint{ones(1), ones(10), weighted(5, 3, 1), weighted(1<<20, 3, 1)} {
		b := NewWRR(eps, Options{Sticky: &spec})
		eps[len(eps)-1].State.SetUp(false) // exercise skipping too
		assertNoAllocs(t, func() { h.Reset(); b.Pick(h) })
		h.Cookie = []byte(spec.Name + "=" + CookieValue(eps[0].Key))
		assertNoAllocs(t, func() { h.nset = 0; b.Pick(h) })
		h.Cookie = nil
	}
}

func TestP2CPickAllocs(t *testing.T) {
	spec := NewCookieSpec(CookieConfig{}, "svc")
	h := new(Hint)
	for _, n := range []int{1, 2, 10} {
		eps := ones(n)
		b := NewP2C(eps, Options{Sticky: &spec})
		assertNoAllocs(t, func() { h.Reset(); b.Pick(h) })
	}
}

func TestHRWPickAllocs(t *testing.T) {
	h := new(Hint)
	h.ClientIP = []byte("203.0.113.9")
	b := NewHRW(weighted(1, 2, 3), Options{})
	assertNoAllocs(t, func() { b.Pick(h) })
}

func TestStickyLookupAllocs(t *testing.T) {
	eps := ones(100)
	s := NewSticky(NewCookieSpec(CookieConfig{}, "svc"), eps)
	header := []byte("a=b; " + s.Spec().Name + "=\"" + CookieValue(eps[42].Key) + "\"; c=d")
	assertNoAllocs(t, func() {
		v, ok := LookupCookie(header, s.Spec().Name)
		if ep, _ := s.Lookup(v); !ok || ep != eps[42] {
			t.Fatal("lookup failed")
		}
	})
	h := new(Hint)
	h.Cookie = header
	assertNoAllocs(t, func() { s.pick(h) })
}

func TestAppendSetCookieAllocs(t *testing.T) {
	path := "/app"
	spec := NewCookieSpec(CookieConfig{
		Secure: true, HTTPOnly: true, SameSite: "lax", MaxAge: 3600, Expires: 3600,
		Path: &path, Domain: ".a-rather-long-domain-name-for-testing.example.com", PreserveLeadingDot: true,
	}, "svc")
	value := CookieValue("http://10.42.0.7:80")
	buf := make([]byte, 0, 512)
	assertNoAllocs(t, func() { buf = AppendSetCookie(buf[:0], spec, value) })
	spec.Domain = "10.1.2.3"
	assertNoAllocs(t, func() { buf = AppendSetCookieAt(buf[:0], spec, value, time.Time{}) })
}

func TestStateAllocs(t *testing.T) {
	var s State
	now := time.Now()
	assertNoAllocs(t, func() {
		s.Acquire()
		_ = s.Inflight()
		s.Release()
		_ = s.Up()
		s.RecordSuccess()
		s.RecordFailure(now, time.Second, 3) // the ring exists after the warm-up run
		s.RecordSuccess()
	})
}

func TestHintAllocs(t *testing.T) {
	h := new(Hint)
	spec := new(CookieSpec)
	assertNoAllocs(t, func() {
		h.Reset()
		h.addSetCookie(spec, "v")
		_ = h.SetCookies()
	})
}

func TestLeastTimePickAllocs(t *testing.T) {
	spec := NewCookieSpec(CookieConfig{}, "svc")
	h := new(Hint)
	for _, eps := range [][]*Endpoint{ones(1), ones(10), weighted(5, 3, 1)} {
		b := NewLeastTime(eps, Options{Sticky: &spec})
		assertNoAllocs(t, func() { h.Reset(); b.Pick(h) })
		assertNoAllocs(t, func() { eps[0].State.ObserveLatency(time.Millisecond) })
	}
}
