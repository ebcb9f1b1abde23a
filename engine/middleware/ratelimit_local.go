package middleware

import (
	"hash/maphash"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// The in-memory limiter: Traefik's inMemoryRateLimiter, one
// golang.org/x/time/rate Limiter per source, kept in a bounded map with
// Traefik's ttlmap rules (pkg/middlewares/ratelimiter/ttlmap):
//   - at most rlMaxSources buckets;
//   - each use of a bucket sets its expiry to (now + ttl) in whole Unix
//     seconds; a bucket found expired is dropped and the source starts
//     again with a full bucket (expired buckets are not swept, only met
//     or evicted);
//   - a new source in a full map evicts the bucket closest to expiry.
//     Every bucket of a limiter has the same ttl, so that is the least
//     recently used one: each shard keeps its buckets in use order.
//
// Unlike Traefik's single mutex, the map is split into rlShards shards
// (by a hash of the source), each bounded to rlMaxSources/rlShards: the
// total bound is Traefik's, eviction starts when a shard is full (a
// little before 65536 sources in all with uneven shards) and evicts that
// shard's oldest bucket.

const (
	rlMaxSources = 65536 // Traefik's maxSources
	rlShards     = 16
)

type rlLocal struct {
	rate     rate.Limit
	burst    int
	maxDelay time.Duration
	ttl      int64
	seed     maphash.Seed
	shards   [rlShards]rlShard
}

type rlShard struct {
	mu    sync.Mutex
	items map[string]*rlBucket
	// lru is the sentinel of the ring of buckets in use order:
	// lru.next the most recently used, lru.prev the least.
	lru rlBucket
	_   [64]byte // keeps shards' locks off each other's cache lines
}

type rlBucket struct {
	key        string
	lim        *rate.Limiter
	seen       time.Time // the latest time of a request
	expiry     int64     // Unix seconds; expired when <= now
	prev, next *rlBucket
}

func newRLLocal(p rateLimitParams) *rlLocal {
	l := &rlLocal{rate: p.rate, burst: int(p.burst), maxDelay: p.maxDelay, ttl: int64(p.ttl), seed: maphash.MakeSeed()}
	for i := range l.shards {
		s := &l.shards[i]
		s.items = map[string]*rlBucket{}
		s.lru.next, s.lru.prev = &s.lru, &s.lru
	}
	return l
}

// allow is Traefik's inMemoryRateLimiter.Allow: it takes a token from
// the source's bucket and returns how long the request must wait for
// it; a wait beyond maxDelay gives the token back (the request is
// refused). ok is false when the bucket cannot take a request at all.
//
// Unlike Traefik, the reservation and its cancellation happen under one
// lock, and a bucket's time never goes back: in Traefik, a refusal
// cancelled after another request's reservation restores less than its
// token (x/time/rate keeps the tokens reserved since), and a request
// timed before the last one moves the limiter's clock back, crediting
// that interval twice; under concurrent load the first loses budget and
// the second adds some. Requests one at a time get Traefik's answers
// exactly.
func (l *rlLocal) allow(key []byte, now time.Time) (delay time.Duration, ok bool) {
	s := &l.shards[maphash.Bytes(l.seed, key)%rlShards]
	s.mu.Lock()
	b := s.bucket(key, now.Unix(), l)
	if now.Before(b.seen) {
		now = b.seen
	} else {
		b.seen = now
	}
	res := b.lim.ReserveN(now, 1)
	if !res.OK() {
		s.mu.Unlock()
		return 0, false
	}
	delay = res.DelayFrom(now)
	if delay > l.maxDelay {
		res.CancelAt(now)
	}
	s.mu.Unlock()
	return delay, true
}

// bucket returns the source's bucket, refreshing its expiry (ttlmap's
// Get then Set). s.mu is held.
func (s *rlShard) bucket(key []byte, sec int64, l *rlLocal) *rlBucket {
	b := s.items[string(key)]
	if b != nil && b.expiry <= sec {
		s.remove(b)
		b = nil
	}
	if b == nil {
		if len(s.items) >= rlMaxSources/rlShards {
			s.remove(s.lru.prev)
		}
		b = &rlBucket{key: string(key), lim: rate.NewLimiter(l.rate, l.burst)}
		s.items[b.key] = b
	} else {
		b.prev.next, b.next.prev = b.next, b.prev
	}
	b.expiry = sec + l.ttl
	b.prev, b.next = &s.lru, s.lru.next
	s.lru.next.prev = b
	s.lru.next = b
	return b
}

func (s *rlShard) remove(b *rlBucket) {
	b.prev.next, b.next.prev = b.next, b.prev
	b.prev, b.next = nil, nil
	delete(s.items, b.key)
}

// len is the number of buckets held, expired ones not met yet included
// (ttlmap's Len).
func (l *rlLocal) len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.items)
		s.mu.Unlock()
	}
	return n
}
