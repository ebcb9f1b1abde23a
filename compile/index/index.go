// Package index narrows a request to the routes that can match it, by host
// and then by first path segment, and hands them back in priority order.
//
// Routes are numbered 0..n-1 in the order they must be tried (descending
// priority), and every list in the index is sorted by that number, so a
// lookup is a k-way merge of at most six short lists (exact host, one-label
// wildcard host, any host; each split by path segment or not). The index is a
// filter: it may return routes that do not match (their programs decide) but
// never omits one that does. It knows nothing about rules.
//
// The design answers "match cost must not grow with the number of routes":
// a lookup costs two map probes for the host, at most three for the path
// segment, and then walks only the candidates of that host and segment.
package index

// HostKeys are the hosts a route can match. Keys are lower-case hosts with
// trailing dots removed; a wildcard key is the part after "*.".
type HostKeys struct {
	Any   bool // the route can match any host
	Exact []string
	Wild  []string
}

// SegKeys are the first path segments a route can match: for "/api/v1" the
// segment is "api". Any means the route is not limited to known segments.
type SegKeys struct {
	Any  bool
	Segs []string
}

// SplitThreshold is the bucket size from which a host's routes are split by
// path segment. Below it a plain scan of the bucket is cheaper.
const SplitThreshold = 16

// Builder collects routes. Add them in priority order (ascending id).
type Builder struct {
	exact map[string]*bucketBuilder
	wild  map[string]*bucketBuilder
	any   bucketBuilder
}

type entry struct {
	id   int32
	segs SegKeys
}

type bucketBuilder struct{ entries []entry }

// Add records route id with its host and segment keys. Ids must increase.
func (b *Builder) Add(id int32, h HostKeys, s SegKeys) {
	e := entry{id, s}
	if h.Any {
		b.any.entries = append(b.any.entries, e)
		return
	}
	if b.exact == nil {
		b.exact = map[string]*bucketBuilder{}
		b.wild = map[string]*bucketBuilder{}
	}
	add := func(m map[string]*bucketBuilder, keys []string) {
		for i, k := range keys {
			if containsBefore(keys, i, k) {
				continue
			}
			bb := m[k]
			if bb == nil {
				bb = &bucketBuilder{}
				m[k] = bb
			}
			bb.entries = append(bb.entries, e)
		}
	}
	add(b.exact, h.Exact)
	add(b.wild, h.Wild)
}

func containsBefore(s []string, i int, k string) bool {
	for _, x := range s[:i] {
		if x == k {
			return true
		}
	}
	return false
}

// Build returns the immutable index.
func (b *Builder) Build() *Index {
	x := &Index{
		exact: make(map[string]*bucket, len(b.exact)),
		wild:  make(map[string]*bucket, len(b.wild)),
		any:   b.any.build(),
	}
	for k, bb := range b.exact {
		x.exact[k] = bb.build()
	}
	for k, bb := range b.wild {
		x.wild[k] = bb.build()
	}
	return x
}

func (bb *bucketBuilder) build() *bucket {
	if len(bb.entries) == 0 {
		return nil
	}
	bu := &bucket{}
	if len(bb.entries) < SplitThreshold {
		for _, e := range bb.entries {
			bu.rest = append(bu.rest, e.id)
		}
		return bu
	}
	bu.bySeg = map[string][]int32{}
	for _, e := range bb.entries {
		if e.segs.Any {
			bu.rest = append(bu.rest, e.id)
			continue
		}
		for i, s := range e.segs.Segs {
			if !containsBefore(e.segs.Segs, i, s) {
				bu.bySeg[s] = append(bu.bySeg[s], e.id)
			}
		}
	}
	return bu
}

// Index is immutable and safe for concurrent use.
type Index struct {
	exact map[string]*bucket
	wild  map[string]*bucket
	any   *bucket
}

type bucket struct {
	rest  []int32            // routes of any segment (all routes when bySeg is nil)
	bySeg map[string][]int32 // routes by first path segment; nil for small buckets
}

// Cursor walks the candidates of one lookup in priority order. The zero
// value is ready for Lookup; it lives on the caller's stack.
type Cursor struct {
	lists [6][]int32
	n     int
}

// Lookup prepares c with the candidates for a canonical host and a routing
// path. Runs per request: must not allocate (guarded by compile's tests).
func (x *Index) Lookup(host, path []byte, c *Cursor) {
	c.n = 0
	seg, rooted := firstSegment(path)
	if len(x.exact) > 0 {
		if b := x.exact[string(trimDots(host))]; b != nil {
			c.add(b, seg, rooted)
		}
	}
	if len(x.wild) > 0 {
		if i := indexByte(host, '.'); i >= 0 {
			if b := x.wild[string(trimDots(host[i+1:]))]; b != nil {
				c.add(b, seg, rooted)
			}
		}
	}
	if x.any != nil {
		c.add(x.any, seg, rooted)
	}
}

func (c *Cursor) add(b *bucket, seg []byte, rooted bool) {
	if len(b.rest) > 0 {
		c.lists[c.n] = b.rest
		c.n++
	}
	if b.bySeg != nil && rooted {
		// Fast path: one map probe narrows a busy host to one segment.
		if l := b.bySeg[string(seg)]; len(l) > 0 {
			c.lists[c.n] = l
			c.n++
		}
	}
}

// Next returns the next candidate id, or -1 when there are none left. A
// route listed under several keys is returned once.
func (c *Cursor) Next() int32 {
	best := int32(-1)
	for i := 0; i < c.n; i++ {
		if l := c.lists[i]; len(l) > 0 && (best < 0 || l[0] < best) {
			best = l[0]
		}
	}
	if best < 0 {
		return -1
	}
	for i := 0; i < c.n; i++ {
		if l := c.lists[i]; len(l) > 0 && l[0] == best {
			c.lists[i] = l[1:]
		}
	}
	return best
}

// firstSegment returns "api" for "/api/v1" and for "/api". A path that does
// not start with '/' can match no Path or PathPrefix rule (they must start
// with '/'), so only segment-free routes are candidates for it.
func firstSegment(p []byte) ([]byte, bool) {
	if len(p) == 0 || p[0] != '/' {
		return nil, false
	}
	p = p[1:]
	if i := indexByte(p, '/'); i >= 0 {
		p = p[:i]
	}
	return p, true
}

// Segment returns the first segment of a literal path known at build time,
// and whether the literal pins it down: a Path always does; a PathPrefix does
// only when the prefix continues past the segment's closing '/'.
func Segment(lit string, exact bool) (string, bool) {
	if len(lit) == 0 || lit[0] != '/' {
		return "", false
	}
	rest := lit[1:]
	if i := indexByteString(rest, '/'); i >= 0 {
		return rest[:i], true
	}
	return rest, exact
}

// TrimDots removes trailing dots: Traefik treats "a.example." and
// "a.example" as the same host.
func TrimDots(h string) string {
	for len(h) > 0 && h[len(h)-1] == '.' {
		h = h[:len(h)-1]
	}
	return h
}

func trimDots(h []byte) []byte {
	for len(h) > 0 && h[len(h)-1] == '.' {
		h = h[:len(h)-1]
	}
	return h
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func indexByteString(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}
