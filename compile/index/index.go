// Package index narrows a request to the routes that can match it, by host
// and then by first path segment, and hands them back in priority order.
//
// Routes are numbered 0..n-1 in the order they must be tried (descending
// priority), and every candidate list is sorted by that number, so a lookup
// is a k-way merge of at most six short lists (exact host, one-label wildcard
// host, any host; each split by path segment or not). The index is a filter:
// it may return routes that do not match (their programs decide, and every
// indexed route's program re-checks its host and path) but never omits one
// that does. It knows nothing about rules.
//
// Layout: one open-addressing table of 16-byte slots keyed by 64-bit farm
// hashes, and one arena of route numbers. Keys are never stored: a hash
// collision only adds candidates, which the programs reject. A lookup costs
// one or two slot probes per bucket and touches no pointers, so its cost does
// not grow with the number of routes (match must stay flat from 1 to 100k).
package index

import (
	"slices"

	farm "github.com/dgryski/go-farm"
)

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

// Distinct seeds keep exact, wildcard and any-host buckets apart.
const (
	seedExact uint64 = 0x9e3779b97f4a7c15
	seedWild  uint64 = 0xc2b2ae3d27d4eb4f
	anyHash   uint64 = 0x165667b19e3779f9
)

// Builder collects routes. Add them in priority order (ascending id).
type Builder struct {
	exact map[string][]entry
	wild  map[string][]entry
	any   []entry
}

type entry struct {
	id   int32
	segs SegKeys
}

// Add records route id with its host and segment keys. Ids must increase.
func (b *Builder) Add(id int32, h HostKeys, s SegKeys) {
	e := entry{id, s}
	if h.Any {
		b.any = append(b.any, e)
		return
	}
	if b.exact == nil {
		b.exact = map[string][]entry{}
		b.wild = map[string][]entry{}
	}
	for i, k := range h.Exact {
		if !slices.Contains(h.Exact[:i], k) {
			b.exact[k] = append(b.exact[k], e)
		}
	}
	for i, k := range h.Wild {
		if !slices.Contains(h.Wild[:i], k) {
			b.wild[k] = append(b.wild[k], e)
		}
	}
}

// Build returns the immutable index.
func (b *Builder) Build() *Index {
	x := &Index{}
	lists := map[uint64][]int32{} // slot hash -> candidate ids
	split := map[uint64]bool{}
	put := func(h uint64, ids []int32) {
		if h == 0 {
			h = 1 // 0 marks an empty slot
		}
		// Distinct keys with equal hashes share a slot: merge, keep order.
		lists[h] = mergeSorted(lists[h], ids)
	}
	addBucket := func(h uint64, es []entry) {
		if len(es) < SplitThreshold {
			ids := make([]int32, len(es))
			for i, e := range es {
				ids[i] = e.id
			}
			put(h, ids)
			return
		}
		split[h] = true
		var rest []int32
		bySeg := map[string][]int32{}
		for _, e := range es {
			if e.segs.Any {
				rest = append(rest, e.id)
				continue
			}
			for i, s := range e.segs.Segs {
				if !slices.Contains(e.segs.Segs[:i], s) {
					bySeg[s] = append(bySeg[s], e.id)
				}
			}
		}
		put(h, rest)
		for s, ids := range bySeg {
			put(segHash(h, farm.Hash64([]byte(s))), ids)
		}
	}
	for k, es := range b.exact {
		addBucket(hostHash(k, seedExact), es)
	}
	for k, es := range b.wild {
		addBucket(hostHash(k, seedWild), es)
	}
	if len(b.any) > 0 {
		addBucket(anyHash, b.any)
		x.hasAny = true
	}
	x.hasExact, x.hasWild = len(b.exact) > 0, len(b.wild) > 0

	// Load factor at most 4/5: with 16-byte slots the probes of one
	// lookup stay within a cache line or two, and the table stays small.
	size := 16
	for size*4 < 5*len(lists) {
		size *= 2
	}
	x.slots = make([]slot, size)
	x.mask = uint64(size - 1)
	for h, ids := range lists {
		s := slot{h: h, n: uint32(len(ids))}
		if split[h] {
			s.n |= splitBit
		}
		if len(ids) == 1 {
			s.off = uint32(ids[0]) // Fast path: a single candidate lives in the slot.
		} else {
			s.off = uint32(len(x.ids))
			x.ids = append(x.ids, ids...)
		}
		i := h & x.mask
		for x.slots[i].h != 0 {
			i = (i + 1) & x.mask
		}
		x.slots[i] = s
	}
	return x
}

func mergeSorted(a, b []int32) []int32 {
	if len(a) == 0 {
		return b
	}
	out := append(append([]int32{}, a...), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

// Index is immutable and safe for concurrent use.
type Index struct {
	slots    []slot
	mask     uint64
	ids      []int32
	hasExact bool
	hasWild  bool
	hasAny   bool
}

// slot is 16 bytes: four to a cache line.
type slot struct {
	h   uint64
	off uint32 // the only id when the list has one, else its offset in ids
	n   uint32 // list length, plus splitBit when the bucket has per-segment slots
}

const splitBit = 1 << 31

func hostHash(key string, seed uint64) uint64 {
	return farm.Hash64WithSeed([]byte(key), seed)
}

func hostHashBytes(key []byte, seed uint64) uint64 {
	return farm.Hash64WithSeed(key, seed)
}

// segHash combines a bucket's hash with a segment's hash.
func segHash(bucket, seg uint64) uint64 {
	h := bucket ^ (seg + 0x9e3779b97f4a7c15 + bucket<<6 + bucket>>2)
	// A final avalanche (from splitmix64) so that linear probing spreads.
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	return h ^ h>>31
}

func (x *Index) find(h uint64) *slot {
	if h == 0 {
		h = 1
	}
	for i := h & x.mask; ; i = (i + 1) & x.mask {
		s := &x.slots[i]
		if s.h == h {
			return s
		}
		if s.h == 0 {
			return nil
		}
	}
}

// Cursor walks the candidates of one lookup in priority order. It lives on
// the caller's stack; Lookup initialises it. Each list is kept as its head
// and the rest, so a single candidate needs no backing array.
type Cursor struct {
	head [6]int32   // current head of each list, -1 once exhausted
	rest [6][]int32 // the list after its head
	n    int
}

// Lookup prepares c with the candidates for a canonical host and a routing
// path. Runs per request: must not allocate (guarded by compile's tests).
func (x *Index) Lookup(host, path []byte, c *Cursor) {
	c.n = 0
	seg := segment{path: path}
	if x.hasExact {
		x.bucket(hostHashBytes(trimDots(host), seedExact), &seg, c)
	}
	if x.hasWild {
		if i := indexByte(host, '.'); i >= 0 {
			x.bucket(hostHashBytes(trimDots(host[i+1:]), seedWild), &seg, c)
		}
	}
	if x.hasAny {
		x.bucket(anyHash, &seg, c)
	}
}

// segment hashes the request's first path segment on first use: only
// buckets split by segment need it.
type segment struct {
	path   []byte
	h      uint64
	done   bool
	rooted bool
}

func (s *segment) hash() (uint64, bool) {
	if !s.done {
		var seg []byte
		seg, s.rooted = firstSegment(s.path)
		s.h, s.done = farm.Hash64(seg), true
	}
	return s.h, s.rooted
}

func (x *Index) bucket(h uint64, seg *segment, c *Cursor) {
	s := x.find(h)
	if s == nil {
		return
	}
	c.add(x, s)
	if s.n&splitBit != 0 {
		// Fast path: one more probe narrows a busy host to one segment.
		if segH, rooted := seg.hash(); rooted {
			if t := x.find(segHash(h, segH)); t != nil {
				c.add(x, t)
			}
		}
	}
}

func (c *Cursor) add(x *Index, s *slot) {
	switch s.n &^ splitBit {
	case 0:
		return
	case 1:
		c.head[c.n], c.rest[c.n] = int32(s.off), nil
	default:
		l := x.ids[s.off : s.off+s.n&^splitBit]
		c.head[c.n], c.rest[c.n] = l[0], l[1:]
	}
	c.n++
}

// Next returns the next candidate id, or -1 when there are none left. A
// route listed under several keys is returned once.
func (c *Cursor) Next() int32 {
	best := int32(-1)
	for i := 0; i < c.n; i++ {
		if h := c.head[i]; h >= 0 && (best < 0 || h < best) {
			best = h
		}
	}
	if best < 0 {
		return -1
	}
	for i := 0; i < c.n; i++ {
		if c.head[i] == best {
			if r := c.rest[i]; len(r) > 0 {
				c.head[i], c.rest[i] = r[0], r[1:]
			} else {
				c.head[i] = -1
			}
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
	for i := 0; i < len(rest); i++ {
		if rest[i] == '/' {
			return rest[:i], true
		}
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
