package lb

import (
	"fmt"
	"testing"
)

var benchSizes = []int{1, 10, 1000}

// benchPick measures Pick sequentially and from parallel goroutines, each
// with its own Hint as engine workers would have.
func benchPick(b *testing.B, build func(eps []*Endpoint) Balancer, prep func(h *Hint, eps []*Endpoint)) {
	for _, n := range benchSizes {
		eps := ones(n)
		bal := build(eps)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			h := new(Hint)
			prep(h, eps)
			b.ReportAllocs()
			for b.Loop() {
				h.nset = 0
				bal.Pick(h)
			}
		})
		b.Run(fmt.Sprintf("%d/parallel", n), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				h := new(Hint)
				prep(h, eps)
				for pb.Next() {
					h.nset = 0
					bal.Pick(h)
				}
			})
		})
	}
}

func noPrep(*Hint, []*Endpoint) {}

func BenchmarkWRRPick(b *testing.B) {
	benchPick(b, func(eps []*Endpoint) Balancer { return NewWRR(eps, Options{}) }, noPrep)
}

func BenchmarkWRRPickUnequal(b *testing.B) {
	benchPick(b, func(eps []*Endpoint) Balancer {
		for i, ep := range eps {
			ep.Weight = 1 + i%3
		}
		return NewWRR(eps, Options{})
	}, noPrep)
}

func BenchmarkP2CPick(b *testing.B) {
	benchPick(b, func(eps []*Endpoint) Balancer { return NewP2C(eps, Options{}) }, noPrep)
}

func BenchmarkHRWPick(b *testing.B) {
	benchPick(b, func(eps []*Endpoint) Balancer { return NewHRW(eps, Options{}) },
		func(h *Hint, _ []*Endpoint) { h.ClientIP = []byte("203.0.113.77") })
}

func BenchmarkStickyWRRPick(b *testing.B) {
	spec := NewCookieSpec(CookieConfig{}, "default-whoami-80@kubernetes")
	benchPick(b, func(eps []*Endpoint) Balancer { return NewWRR(eps, Options{Sticky: &spec}) },
		func(h *Hint, eps []*Endpoint) {
			h.Cookie = []byte("session=abc; " + spec.Name + "=" + CookieValue(eps[len(eps)/2].Key))
		})
}

func BenchmarkAppendSetCookie(b *testing.B) {
	spec := NewCookieSpec(CookieConfig{HTTPOnly: true, SameSite: "lax", Expires: 3600}, "svc")
	value := CookieValue("http://10.42.0.7:80")
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendSetCookie(buf[:0], spec, value)
	}
}
