// Runs per request: must not allocate (guarded by TestStateAllocs).

package lb

import (
	"sync"
	"sync/atomic"
	"time"
)

// cacheLinePad keeps fields written on every request away from fields that
// are only read on every request. 128 bytes covers both 64-byte lines with
// adjacent-line prefetching (x86) and 128-byte lines (some arm64 cores).
type cacheLinePad [128]byte

// healthEpoch is bumped whenever any State changes between up and down.
// Balancers that cache a list of healthy endpoints (P2C) compare it against
// the epoch they cached to know when to rebuild that list. A single
// process-wide counter is enough because health transitions are rare, and it
// keeps States independent of the Registry that created them.
var healthEpoch atomic.Uint64

// HealthEpoch returns a counter that changes whenever any State changes
// between up and down, or NotifyHealthChange is called: health derived
// from States (a service's aggregated status) may be cached for as long
// as it is unchanged. It is a single atomic load.
func HealthEpoch() uint64 { return healthEpoch.Load() }

// NotifyHealthChange changes the epoch without a State changing: for
// callers whose derived health changed otherwise (a balancer's endpoints
// were replaced).
func NotifyHealthChange() { healthEpoch.Add(1) }

// State is the mutable, shared part of an endpoint: its in-flight request
// counter, its health flag and its passive health-check history. A State is
// handed out by a Registry so that a configuration rebuild that keeps an
// endpoint keeps its counters.
//
// All methods are safe for concurrent use. Up, Inflight, Acquire, Release
// and RecordSuccess are lock-free and never allocate; RecordFailure takes a
// per-State mutex (failures are the slow path anyway) and allocates only the
// first time it is called with a given maxFailed.
//
// The zero value is an up endpoint with no requests in flight.
type State struct {
	// down is read by every pick, so it sits on a line that is only
	// written when health changes. Zero means up, which makes the zero
	// State usable.
	down atomic.Bool

	// nfail mirrors the number of recorded failures so that the success
	// path, taken by almost every request, is a single atomic load.
	nfail atomic.Int32

	failMu sync.Mutex
	ring   []int64 // last failure times (Unix ns), len == maxFailed; guarded by failMu
	head   int     // next ring slot to write; guarded by failMu
	count  int     // number of valid ring entries; guarded by failMu

	// lat is the response-time history kept for least-time balancers;
	// nil until one is built over the endpoint.
	lat atomic.Pointer[latency]

	_ cacheLinePad

	// inflight is written twice per proxied request; isolating it keeps
	// those writes from invalidating the health flag in other cores'
	// caches.
	inflight atomic.Int64

	_ cacheLinePad
}

// Up reports whether the endpoint is healthy. It is a single atomic load.
func (s *State) Up() bool { return !s.down.Load() }

// SetUp records the endpoint's health as reported by an active or passive
// health check and reports whether the status changed. Like Traefik, there is
// one status per endpoint shared by both kinds of checks.
func (s *State) SetUp(up bool) (changed bool) {
	if s.down.Swap(!up) == !up {
		return false
	}
	// The flag is stored before the epoch is bumped, so a balancer that
	// observes the new epoch also observes the new flag.
	healthEpoch.Add(1)
	return true
}

// Inflight returns the number of requests currently proxied to the endpoint.
func (s *State) Inflight() int64 { return s.inflight.Load() }

// Acquire counts a request as in flight. The engine calls it right before
// proxying to the picked endpoint and must pair it with Release.
func (s *State) Acquire() { s.inflight.Add(1) }

// Release ends a request started with Acquire.
func (s *State) Release() { s.inflight.Add(-1) }

// RecordSuccess forgets the endpoint's recorded failures, as Traefik's
// passive health check does when the backend answers with a status below 500.
// When no failure is recorded it is one atomic load.
func (s *State) RecordSuccess() {
	if s.nfail.Load() == 0 {
		return
	}
	s.failMu.Lock()
	s.count, s.head = 0, 0
	s.nfail.Store(0)
	s.failMu.Unlock()
}

// RecordFailure records a failed request at now and reports whether the
// endpoint is still healthy under Traefik's passive health-check rule: it
// becomes unhealthy once maxFailed failures, none followed by a success, fall
// inside the sliding window ending at now. A non-positive window never
// expires failures and a non-positive maxFailed makes any failure fatal, which
// is what Traefik's arithmetic does for those values.
//
// RecordFailure does not change the status: when it returns false the caller
// calls SetUp(false) and, without an active health check, schedules
// SetUp(true) after the window, as Traefik does.
func (s *State) RecordFailure(now time.Time, window time.Duration, maxFailed int) (healthy bool) {
	if maxFailed <= 0 {
		return false
	}
	t := now.UnixNano()

	s.failMu.Lock()
	// Only the latest maxFailed failures can decide the outcome, so a ring
	// of that size is exact. A new limit (new configuration) starts over,
	// as Traefik's rebuilt checker does.
	if len(s.ring) != maxFailed {
		s.ring = make([]int64, maxFailed)
		s.count, s.head = 0, 0
	}
	s.ring[s.head] = t
	s.head++
	if s.head == maxFailed {
		s.head = 0
	}
	if s.count < maxFailed {
		s.count++
	}
	s.nfail.Store(int32(min(s.count, 1<<30)))
	full := s.count == maxFailed
	oldest := s.ring[s.head] // the maxFailed-th most recent failure once full
	s.failMu.Unlock()

	if !full {
		return true
	}
	if window <= 0 {
		return false
	}
	return oldest <= t-int64(window)
}
