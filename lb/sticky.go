// Runs per request: must not allocate (guarded by TestStickyLookupAllocs).

package lb

import "bytes"

// Sticky maps sticky cookie values to endpoints, as Traefik's Sticky does.
//
// It is built once per configuration and then only read, so lookups are
// lock-free; a lookup with a []byte value does not allocate. Each child is
// reachable through its current value (CookieValue of its key) and through
// the legacy values Traefik still honours (the raw key, its FNV-1 hex hash and
// the FNV-1 hash of that), which Traefik answers by rewriting the cookie.
type Sticky struct {
	spec    CookieSpec
	byValue map[string]stickyTarget
}

// stickyTarget is where a cookie value leads.
type stickyTarget struct {
	ep *Endpoint
	st *State
	// value is the current cookie value of ep, used to rewrite legacy
	// cookies.
	value string
	// legacy is true when the looked-up value is an outdated form.
	legacy bool
}

// NewSticky builds the lookup structure for spec over endpoints. Endpoints
// listed more than once resolve to the last occurrence, like Traefik's maps.
func NewSticky(spec CookieSpec, endpoints []*Endpoint) *Sticky {
	nodes := make([]node, len(endpoints))
	for i, ep := range endpoints {
		nodes[i] = newNode(ep)
	}
	return newSticky(spec, nodes)
}

// newSticky builds the table for a balancer's nodes and stores each node's
// cookie value in it.
func newSticky(spec CookieSpec, nodes []node) *Sticky {
	s := &Sticky{spec: spec, byValue: make(map[string]stickyTarget, 4*len(nodes))}
	// Traefik consults its current-hash map before its compatibility map,
	// so legacy entries go in first and current ones overwrite them.
	for i := range nodes {
		n := &nodes[i]
		n.cookie = CookieValue(n.ep.Key)
		for _, v := range legacyCookieValues(n.ep.Key) {
			s.byValue[v] = stickyTarget{ep: n.ep, st: n.st, value: n.cookie, legacy: true}
		}
	}
	for i := range nodes {
		n := &nodes[i]
		s.byValue[n.cookie] = stickyTarget{ep: n.ep, st: n.st, value: n.cookie}
	}
	return s
}

// Spec returns the cookie the table belongs to.
func (s *Sticky) Spec() *CookieSpec { return &s.spec }

// Lookup returns the endpoint a cookie value designates, and whether the
// value is a legacy form that Traefik replaces with a fresh cookie. It
// returns nil when the value is unknown. Health is not checked here.
func (s *Sticky) Lookup(value []byte) (ep *Endpoint, legacy bool) {
	t, ok := s.byValue[string(value)] // the compiler does not copy here
	if !ok {
		return nil, false
	}
	return t.ep, t.legacy
}

// pick returns the sticky target of the request if it is up. Fenced targets
// are accepted: fencing only stops new sessions. When the cookie is in a
// legacy form, the rewrite is recorded in h, like Traefik's
// WriteStickyCookie on the sticky path.
func (s *Sticky) pick(h *Hint) (*Endpoint, bool) {
	v, ok := LookupCookie(h.Cookie, s.spec.Name)
	if !ok {
		return nil, false
	}
	t, ok := s.byValue[string(v)]
	if !ok || !t.st.Up() {
		return nil, false
	}
	if t.legacy {
		h.addSetCookie(&s.spec, t.value)
	}
	return t.ep, true
}

// maxCookies is net/http's default limit on the number of cookies in a
// request (GODEBUG httpcookiemaxnum); above it net/http sees no cookies.
const maxCookies = 3000

// LookupCookie returns the value of the first cookie called name in the raw
// Cookie header value header, parsing exactly as net/http's Request.Cookie
// does (and therefore as Traefik does): pairs are split on ';' and trimmed,
// pairs whose name is not a token or whose value holds invalid bytes are
// skipped, and one pair of surrounding double quotes is removed. The result
// aliases header. It does not allocate.
func LookupCookie(header []byte, name string) ([]byte, bool) {
	if name == "" || len(header) == 0 {
		return nil, false
	}
	if bytes.Count(header, semicolon)+1 > maxCookies {
		return nil, false
	}
	line := trimSpace(header)
	for len(line) > 0 {
		var part []byte
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			part, line = line[:i], line[i+1:]
		} else {
			part, line = line, nil
		}
		part = trimSpace(part)
		if len(part) == 0 {
			continue
		}
		key, val := part, []byte(nil)
		if i := bytes.IndexByte(part, '='); i >= 0 {
			key, val = part[:i], part[i+1:]
		}
		key = trimSpace(key)
		if !isToken(key) || string(key) != name {
			continue
		}
		if len(val) > 1 && val[0] == '"' && val[len(val)-1] == '"' {
			val = val[1 : len(val)-1]
		}
		if !validCookieValue(val) {
			continue
		}
		return val, true
	}
	return nil, false
}

var semicolon = []byte{';'}

// trimSpace removes the ASCII white space net/textproto trims.
func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// validCookieValue reports whether every byte is allowed in a cookie value.
func validCookieValue(v []byte) bool {
	for _, c := range v {
		if !validCookieValueByte(c) {
			return false
		}
	}
	return true
}

// validCookieValueByte is net/http's rule: printable ASCII except '"', ';'
// and '\\'.
func validCookieValueByte(c byte) bool {
	return 0x20 <= c && c < 0x7f && c != '"' && c != ';' && c != '\\'
}

// isToken reports whether b is a non-empty RFC 7230 token, net/http's
// condition for a valid cookie name.
func isToken[T ~string | ~[]byte](b T) bool {
	if len(b) == 0 {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c >= 0x80 || !tokenTable[c] {
			return false
		}
	}
	return true
}

// tokenTable marks the bytes allowed in an RFC 7230 token.
var tokenTable = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()
