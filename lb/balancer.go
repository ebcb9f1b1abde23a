// Runs per request: must not allocate (guarded by TestHintAllocs).

package lb

// Balancer picks the endpoint that serves a request.
//
// Implementations in this package are safe for concurrent use, never lock
// (except the documented WRR fallback for very long schedules) and never
// allocate in Pick. A balancer is immutable once built: to change the
// endpoint set, build a new one and swap it in (for example with an
// atomic.Pointer); health changes are read from the endpoints' States.
type Balancer interface {
	// Pick returns the endpoint for the request described by h. When a
	// picked child is a nested service, Pick descends into it and returns
	// the final server. It returns nil, false when no endpoint is usable,
	// and the caller answers 503 Service Unavailable, as Traefik does.
	//
	// Pick appends to h the sticky cookies the response must set.
	Pick(h *Hint) (*Endpoint, bool)
}

// maxSetCookies bounds the sticky cookies recorded per request: one per level
// of nested sticky services. Deeper nesting is not a realistic
// configuration; cookies beyond the bound are not recorded.
const maxSetCookies = 8

// Hint carries the request attributes balancers need and collects the sticky
// cookies the response must set.
//
// Because Pick is an interface method, the compiler cannot prove that the
// *Hint does not escape: a Hint declared on the caller's stack would be moved
// to the heap on every request. Keep it in per-request state that is already
// heap-allocated and reused (the engine's pooled request context) and call
// Reset before each request. A Hint must not be shared by concurrent
// requests.
type Hint struct {
	// Cookie is the raw value of the request's Cookie header. If the
	// request has several Cookie header lines, join them with "; ", which
	// net/http parses identically. The bytes are only read during Pick.
	Cookie []byte

	// ClientIP is the client address without port, as Traefik's HRW uses
	// it (the host part of the remote address, or the whole remote address
	// if it has no port).
	ClientIP []byte

	set  [maxSetCookies]SetCookie
	nset int
}

// SetCookie is a sticky cookie that the response must set: render it with
// AppendSetCookie(dst, *c.Spec, c.Value).
type SetCookie struct {
	// Spec is the cookie's attributes. It points into an immutable
	// balancer and must not be modified.
	Spec *CookieSpec
	// Value is the cookie value identifying the picked child.
	Value string
}

// Reset clears the inputs and the collected cookies so the Hint can serve a
// new request.
func (h *Hint) Reset() { *h = Hint{} }

// Mark returns the number of sticky cookies recorded so far, for
// Truncate.
func (h *Hint) Mark() int { return h.nset }

// Truncate forgets the cookies recorded after Mark returned n: those of a
// service whose answer was discarded (a failover's main service).
func (h *Hint) Truncate(n int) {
	if n >= 0 && n < h.nset {
		clear(h.set[n:h.nset])
		h.nset = n
	}
}

// SetCookies returns the sticky cookies recorded by the last Pick, outermost
// service first (the order in which Traefik writes them). The slice aliases
// the Hint and is valid until the next Reset.
func (h *Hint) SetCookies() []SetCookie { return h.set[:h.nset] }

// addSetCookie records a cookie for the response.
func (h *Hint) addSetCookie(spec *CookieSpec, value string) {
	if h.nset < len(h.set) {
		h.set[h.nset] = SetCookie{Spec: spec, Value: value}
		h.nset++
	}
}

// node is a balancer's private view of one child. Balancers keep nodes in a
// contiguous slice so that a pick touches as few cache lines as possible.
type node struct {
	ep     *Endpoint
	st     *State
	fenced bool
	weight int
	// cookie is the sticky value of the child; empty when the balancer has
	// no sticky cookie.
	cookie string
}

// usable reports whether the child may receive new traffic.
func (n *node) usable() bool { return !n.fenced && n.st.Up() }

// descend resolves a picked child to a server, following nested services.
func descend(ep *Endpoint, h *Hint) (*Endpoint, bool) {
	if ep.Service != nil {
		return ep.Service.Pick(h)
	}
	return ep, true
}
