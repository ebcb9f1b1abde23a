// Package cbreaker is oxy's circuit breaker (github.com/vulcand/oxy/v2
// cbreaker, which Traefik's circuitBreaker middleware runs) without its
// net/http plumbing: the expression, the metrics it reads and the state
// machine, with an injectable clock. The middleware asks Allow before
// calling the service and reports each answer it let through with Done.
//
// The breaker starts in standby: every request goes through and its
// status and latency are recorded. After an answer, once checkPeriod has
// passed since the last evaluation, the expression is evaluated; when it
// holds, the breaker trips: the metrics are reset and every request gets
// the fallback for fallbackDuration. The first request after that turns
// it to recovering: for recoveryDuration, a ratio controller lets
// requests through so that the share of them since the recovery began
// follows 0.5 * elapsed / recoveryDuration (0 at the start, a half at the
// end); the others get the fallback; the expression is still evaluated on the answers, and tripping
// again starts over. The first request after recoveryDuration puts the
// breaker back in standby. Everything happens on requests: there is no
// goroutine.
package cbreaker

import (
	"sync"
	"sync/atomic"
	"time"
)

// State is the state of a breaker.
type State int32

const (
	// Standby passes every request and watches the metrics.
	Standby State = iota
	// Tripped answers every request with the fallback.
	Tripped
	// Recovering passes a growing share of the requests.
	Recovering
)

func (s State) String() string {
	switch s {
	case Standby:
		return "standby"
	case Tripped:
		return "tripped"
	case Recovering:
		return "recovering"
	}
	return "undefined"
}

// Oxy's defaults, which Traefik's are too (dynamic.CircuitBreaker
// SetDefaults); a duration of 0 or less means the default, as Traefik
// passes only positive durations to oxy.
const (
	DefaultCheckPeriod      = 100 * time.Millisecond
	DefaultFallbackDuration = 10 * time.Second
	DefaultRecoveryDuration = 10 * time.Second
)

// Options are a breaker's durations and clock.
type Options struct {
	CheckPeriod, FallbackDuration, RecoveryDuration time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// CircuitBreaker is one breaker's state, safe for concurrent use.
type CircuitBreaker struct {
	condition                                       hpredicate
	checkPeriod, fallbackDuration, recoveryDuration time.Duration
	now                                             func() time.Time
	base                                            time.Time
	metrics                                         *metrics

	// state is written under mu and read without it on the fast path.
	state atomic.Int32
	// nextCheck is the time (since base) the last evaluation allows the
	// next after: read without mu on every answer.
	nextCheck atomic.Int64

	mu    sync.Mutex
	until time.Time // end of the fallback or of the recovery
	rc    ratioController
	at    time.Time // the time of the evaluation in progress, for the metrics
}

// New parses expression and returns a breaker in standby. A bad
// expression is oxy's error.
func New(expression string, o Options) (*CircuitBreaker, error) {
	condition, latency, err := parseExpression(expression)
	if err != nil {
		return nil, err
	}
	c := &CircuitBreaker{condition: condition, checkPeriod: o.CheckPeriod, fallbackDuration: o.FallbackDuration,
		recoveryDuration: o.RecoveryDuration, now: o.Now, metrics: newMetrics(latency)}
	if c.checkPeriod <= 0 {
		c.checkPeriod = DefaultCheckPeriod
	}
	if c.fallbackDuration <= 0 {
		c.fallbackDuration = DefaultFallbackDuration
	}
	if c.recoveryDuration <= 0 {
		c.recoveryDuration = DefaultRecoveryDuration
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.base = c.now()
	c.nextCheck.Store(-1 << 63) // the first answer is evaluated
	return c, nil
}

// Now reads the breaker's clock (for the latency of a request).
func (c *CircuitBreaker) Now() time.Time { return c.now() }

// State returns the breaker's current state (as the last request left
// it: a tripped breaker whose fallback duration has passed is still
// tripped until the next request).
func (c *CircuitBreaker) State() State { return State(c.state.Load()) }

// Allow tells whether a request goes to the service (true) or gets the
// fallback (false): oxy's activateFallback.
func (c *CircuitBreaker) Allow() bool {
	if State(c.state.Load()) == Standby {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	switch State(c.state.Load()) {
	case Standby:
		return true // another request just closed it
	case Tripped:
		if now.Before(c.until) {
			return false
		}
		c.until = now.Add(c.recoveryDuration)
		c.rc = ratioController{duration: c.recoveryDuration, start: now}
		c.state.Store(int32(Recovering))
		fallthrough
	case Recovering:
		if now.After(c.until) {
			c.until = now
			c.state.Store(int32(Standby))
			return true
		}
		return c.rc.allowRequest(now)
	}
	return true
}

// Done records the answer of a request that Allow let through, started
// at start (from Now) with the given status, and evaluates the
// expression when checkPeriod has passed since the last evaluation: oxy's
// serve after next, and checkAndSet.
func (c *CircuitBreaker) Done(start time.Time, status int) {
	now := c.now()
	c.metrics.record(now, status, now.Sub(start))
	c.check(now)
}

func (c *CircuitBreaker) check(now time.Time) {
	t := int64(now.Sub(c.base))
	if t <= c.nextCheck.Load() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if t <= c.nextCheck.Load() {
		return // another answer evaluated it meanwhile
	}
	c.nextCheck.Store(int64(now.Add(c.checkPeriod).Sub(c.base)))
	if State(c.state.Load()) == Tripped {
		return
	}
	c.at = now
	if !c.condition(c) {
		return
	}
	c.until = now.Add(c.fallbackDuration)
	c.state.Store(int32(Tripped))
	c.metrics.reset(now)
}

// ratioController is oxy's: it lets a request through when doing so keeps
// the share of requests let through below the target, which grows
// linearly from 0 to 0.5 over the recovery duration.
type ratioController struct {
	duration        time.Duration
	start           time.Time
	allowed, denied int
}

func (r *ratioController) allowRequest(now time.Time) bool {
	if ratio(r.allowed+1, r.denied) < r.targetRatio(now) {
		r.allowed++
		return true
	}
	r.denied++
	return false
}

func ratio(allowed, denied int) float64 {
	if allowed+denied == 0 {
		return 0
	}
	return float64(allowed) / float64(allowed+denied)
}

func (r *ratioController) targetRatio(now time.Time) float64 {
	return 0.5 / float64(r.duration) * float64(now.Sub(r.start))
}
