// Package lb makes edgeroute's load-balancing decisions: which backend
// endpoint serves a request. It reproduces the observable behaviour of
// Traefik v3.7's HTTP load balancers (weighted round robin, power of two
// choices, highest random weight and sticky cookies) while keeping the
// per-request path lock-free and allocation-free.
//
// The package is pure logic: it performs no network I/O and knows nothing
// about the HTTP engine. The engine builds balancers when the configuration
// changes (build time may allocate and lock) and calls [Balancer.Pick] for
// every request (Pick never locks, except in the documented WRR fallback, and
// never allocates).
//
// A typical rebuild looks like this:
//
//	st := registry.State(key)            // counters survive the rebuild
//	ep, _ := lb.NewEndpoint(url, st)
//	b := lb.NewWRR(endpoints, lb.Options{Sticky: &spec})
//	current.Store(b)                     // atomic.Pointer swap
//	registry.Sweep(liveKeys)             // drop states of removed endpoints
//
// and a request looks like this:
//
//	h.Reset()
//	h.Cookie, h.ClientIP = cookieHeader, clientIP
//	ep, ok := current.Load().Pick(h)     // !ok: answer 503
//	for _, c := range h.SetCookies() {
//		buf = lb.AppendSetCookie(buf[:0], *c.Spec, c.Value)
//	}
package lb
