package middleware

import (
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"net"
	"reflect"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// inFlightReqConfig is Traefik's inFlightReq: at most amount requests of a
// source in flight at once; the others are answered 429 at once. Traefik
// counts with oxy's connlimit, whose answer this is:
// "max connections reached: <amount>" as text/plain.
type inFlightReqConfig struct {
	Amount          int64            `json:"amount,omitempty"`
	SourceCriterion *SourceCriterion `json:"sourceCriterion,omitempty"`
}

func newInFlightReq(c *inFlightReqConfig, _ *spec.Middleware, _ *BuildContext) (Middleware, error) {
	_, m, err := buildInFlightReq(c)
	return m, err
}

// buildInFlightReq returns the middleware and its counts (for tests).
func buildInFlightReq(c *inFlightReqConfig) (*flights, Middleware, error) {
	if errHijackField != nil {
		return nil, nil, errHijackField
	}
	sc := c.SourceCriterion
	if sc == nil || sc.IPStrategy == nil && sc.RequestHeaderName == "" && !sc.RequestHost {
		// Unlike rateLimit's, inFlightReq's default source is the host.
		sc = &SourceCriterion{RequestHost: true}
	}
	source, err := sc.build()
	if err != nil {
		return nil, nil, fmt.Errorf("error creating requests limiter: %w", err)
	}
	// Traefik takes any amount: 0 (the default) or less refuses every
	// request, as connlimit's "count >= amount" does.
	lim := newFlights(c.Amount)
	return lim, func(next Handler) Handler {
		return func(ctx *fasthttp.RequestCtx, r *Request) {
			r.Buf = source(r.Buf[:0], ctx, r)
			f := lim.acquire(r.Buf)
			if f == nil {
				lim.reject(ctx)
				return
			}
			handed := false
			defer func() {
				if !handed { // next panicked, or nothing is left to send
					lim.release(f)
				}
			}()
			next(ctx, r)
			handed = lim.handOver(ctx, f)
		}
	}, nil
}

// flights counts the requests in flight per source key. Keys are hashed
// into shards, each a map from hash to a chain of entries under its own
// mutex; an entry leaves its map when its count returns to 0 and is kept
// for reuse (a few per shard), so that a request allocates nothing.
type flights struct {
	max    int64
	seed   maphash.Seed
	body   []byte // connlimit's MaxConnError text
	shards [flightShards]flightShard
}

const (
	flightShards  = 16
	flightFreeMax = 64   // entries kept for reuse, per shard
	flightKeyMax  = 1024 // a longer key's buffer is not kept
	flightShrink  = 1024 // a map this large is rebuilt once mostly empty
)

type flightShard struct {
	mu   sync.Mutex
	m    map[uint64]*flight
	peak int // the map's largest size since it was made
	free *flight
	nfr  int
	_    [40]byte // one shard per cache line
}

// flight is a source key's count.
type flight struct {
	key   []byte
	n     int64
	hash  uint64
	next  *flight // the hash's chain, or the free list
	shard *flightShard
}

func newFlights(amount int64) *flights {
	l := &flights{max: amount, seed: maphash.MakeSeed(),
		body: []byte("max connections reached: " + strconv.FormatInt(amount, 10))}
	for i := range l.shards {
		l.shards[i].m = map[uint64]*flight{}
	}
	return l
}

// acquire counts a request of key in, or returns nil when the key has
// max requests in flight already.
func (l *flights) acquire(key []byte) *flight {
	h := maphash.Bytes(l.seed, key)
	s := &l.shards[h%flightShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	head := s.m[h]
	for f := head; f != nil; f = f.next {
		if bytes.Equal(f.key, key) {
			if f.n >= l.max {
				return nil
			}
			f.n++
			return f
		}
	}
	if l.max <= 0 {
		return nil
	}
	f := s.free
	if f != nil {
		s.free, s.nfr = f.next, s.nfr-1
	} else {
		f = &flight{shard: s}
	}
	f.key = append(f.key[:0], key...)
	f.n, f.hash, f.next = 1, h, head
	s.m[h] = f
	s.peak = max(s.peak, len(s.m))
	return f
}

// release counts a request out; at 0 its key is forgotten.
func (l *flights) release(f *flight) {
	s := f.shard
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.n--; f.n > 0 {
		return
	}
	if p := s.m[f.hash]; p == f {
		if f.next == nil {
			delete(s.m, f.hash)
		} else {
			s.m[f.hash] = f.next
		}
	} else {
		for p.next != f {
			p = p.next
		}
		p.next = f.next
	}
	f.next = nil
	if s.nfr < flightFreeMax && cap(f.key) <= flightKeyMax {
		f.next, s.free = s.free, f
		s.nfr++
	} else {
		f.key = nil
	}
	if s.peak >= flightShrink && len(s.m) < s.peak/8 {
		// Go maps keep their largest size: after a burst of keys, a
		// smaller map holds the few left.
		m := make(map[uint64]*flight, len(s.m))
		for h, f := range s.m {
			m[h] = f
		}
		s.m, s.peak = m, len(m)
	}
}

// count is a key's count (tests).
func (l *flights) count(key string) (n int64, keys int) {
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		keys += len(s.m)
		for _, f := range s.m {
			for ; f != nil; f = f.next {
				if string(f.key) == key {
					n = f.n
				}
			}
		}
		s.mu.Unlock()
	}
	return n, keys
}

// reject is connlimit's answer: 429 and the error's text, which net/http
// sends as text/plain.
func (l *flights) reject(ctx *fasthttp.RequestCtx) {
	ctx.Response.SetStatusCode(fasthttp.StatusTooManyRequests)
	ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
	ctx.Response.SetBody(l.body)
}

// handOver keeps f counted while the response is still being sent after
// the chain returns, as Traefik counts a request until its ServeHTTP has
// copied the whole answer: until a streamed body is closed, or, for a
// protocol upgrade (WebSocket), until the tunnel ends. It reports whether
// it took f over; if not, the caller releases it now.
func (l *flights) handOver(ctx *fasthttp.RequestCtx, f *flight) bool {
	if ctx.Hijacked() {
		old := *(*fasthttp.HijackHandler)(unsafe.Add(unsafe.Pointer(ctx), hijackOffset))
		rel := &flightRelease{l: l, f: f}
		// fasthttp drops a hijack handler it does not run (the
		// connection failed before the tunnel): the token becomes
		// garbage and its cleanup releases f then.
		tok := &struct{ rel *flightRelease }{rel}
		runtime.AddCleanup(tok, (*flightRelease).do, rel)
		ctx.Hijack(func(c net.Conn) {
			defer tok.rel.do()
			old(c)
		})
		return true
	}
	resp := &ctx.Response
	if !resp.IsBodyStream() {
		return false
	}
	size := resp.Header.ContentLength()
	b := flightBodies.Get().(*flightBody)
	b.src, b.l, b.f = takeBodyStream(resp), l, f
	resp.SetBodyStream(b, size)
	return true
}

// flightRelease releases f once.
type flightRelease struct {
	l    *flights
	f    *flight
	done atomic.Bool
}

func (r *flightRelease) do() {
	if r.done.CompareAndSwap(false, true) {
		r.l.release(r.f)
	}
}

// flightBody relays a streamed body and releases its request's count when
// fasthttp closes it (sent, or dropped).
type flightBody struct {
	src io.Reader
	l   *flights
	f   *flight
}

var flightBodies = sync.Pool{New: func() any { return new(flightBody) }}

func (b *flightBody) Read(p []byte) (int, error) { return b.src.Read(p) }

// CloseWithError closes the upstream's stream and releases the count;
// fasthttp calls it once (the only close method, so that closeBodyStream
// calls it once too).
func (b *flightBody) CloseWithError(err error) error {
	if b.l == nil {
		return nil
	}
	cerr := closeBodyStream(b.src, err)
	b.l.release(b.f)
	*b = flightBody{}
	flightBodies.Put(b)
	return cerr
}

// hijackOffset is the offset of RequestCtx's hijack handler, which
// fasthttp sets with Hijack but does not return: inFlightReq wraps it to
// count an upgraded connection until its tunnel ends. When fasthttp's
// RequestCtx changes, errHijackField makes inFlightReq fail to build.
var hijackOffset, errHijackField = func() (uintptr, error) {
	t := reflect.TypeFor[fasthttp.RequestCtx]()
	f, ok := t.FieldByName("hijackHandler")
	if !ok || f.Type != reflect.TypeFor[fasthttp.HijackHandler]() {
		return 0, errors.New("this fasthttp version's RequestCtx has no hijackHandler field: " +
			"inFlightReq cannot count upgraded connections (engine/middleware/inflightreq.go)")
	}
	return f.Offset, nil
}()
