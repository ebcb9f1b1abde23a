package cbreaker

import (
	"math"
	"sync"
	"testing"
	"time"
)

// clock is a clock the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newBreaker(t *testing.T, expr string, clk *clock, o Options) *CircuitBreaker {
	t.Helper()
	o.Now = clk.now
	cb, err := New(expr, o)
	if err != nil {
		t.Fatal(err)
	}
	return cb
}

// serve plays one request: the answer status when the breaker lets it
// through (recorded with the given latency), or 0 for the fallback.
func serve(cb *CircuitBreaker, clk *clock, status int, latency time.Duration) int {
	if !cb.Allow() {
		return 0
	}
	start := clk.now().Add(-latency)
	cb.Done(start, status)
	return status
}

func wantState(t *testing.T, cb *CircuitBreaker, want State) {
	t.Helper()
	if got := cb.State(); got != want {
		t.Fatalf("state %v, want %v", got, want)
	}
}

// The expressions oxy accepts and its errors for the others, each message
// as oxy v2.2.0's cbreaker.New returns it (checked against it).
func TestParseExpression(t *testing.T) {
	tests := []struct{ expr, err string }{
		{"NetworkErrorRatio() > 0.5", ""},
		{"NetworkErrorRatio() > 0.30", ""},
		{"LatencyAtQuantileMS(50.0) > 100", ""},
		{"ResponseCodeRatio(500, 600, 0, 600) > 0.25", ""},
		{"ResponseCodeRatio(500, 600, 0, 600) > 0.25 && RequestThreshold() >= 20", ""},
		{"ResponseCodeRatio(500, 600, 0, 600) > 0.30 || NetworkErrorRatio() > 0.10", ""},
		{"(NetworkErrorRatio() > 0.5 || LatencyAtQuantileMS(99.0) >= 200) && RequestThreshold() > 5", ""},
		{"NetworkErrorRatio() == 0.5", ""},
		{"NetworkErrorRatio() != 0.5", ""},
		{"NetworkErrorRatio() <= 0.5", ""},
		{"NetworkErrorRatio() < 0.5", ""},
		{"LatencyAtQuantileMS(50.0) == 3", ""},
		{"RequestThreshold() != 3", ""},
		{"RequestThreshold() <= 3", ""},
		{"", "1:1: expected operand, found 'EOF'"},
		{"NetworkErrorRatio()", "expected predicate, got cbreaker.toType[float64]"},
		{"NetworkErrorRatio() > 1", "expected int, got int"},
		{`NetworkErrorRatio() > "a"`, "expected int, got string"},
		{"LatencyAtQuantileMS(50) > 100", "reflect: Call using int as type float64"},
		{"LatencyAtQuantileMS(50.0) > 100.5", "expected int, got float64"},
		{"RequestThreshold() > 2.5", "expected int, got float64"},
		{"ResponseCodeRatio(500, 600, 0) > 0.5", "reflect: Call with too few input arguments"},
		{"ResponseCodeRatio(500.0, 600, 0, 600) > 0.5", "reflect: Call using float64 as type int"},
		{"Foo() > 1", "unsupported function: Foo"},
		{"foo.Bar() > 1", "unsupported function: foo.Bar"},
		{"NetworkErrorRatio() > 0.5 &&", "1:29: expected operand, found 'EOF'"},
		{"NetworkErrorRatio() > -0.5", "- is not supported"},
		{"!(NetworkErrorRatio() > 0.5)", "! is not supported"},
		{"0.5 < NetworkErrorRatio()", "lt: unsupported argument: float64"},
		{"1 > 2", "gt: unsupported argument: int"},
		{"NetworkErrorRatio() > 0.5 > 1", "gt: unsupported argument: cbreaker.hpredicate"},
		{"NetworkErrorRatio() && LatencyAtQuantileMS(50.0) > 1", "reflect: cannot use cbreaker.toType[float64] as type cbreaker.hpredicate in Call"},
		{"NetworkErrorRatio() > 0.5 & RequestThreshold() > 1", "& is not supported"},
		{"NetworkErrorRatio() + 1 > 0.5", "+ is not supported"},
		{"x > 1", "x is not defined"},
		{"NetworkErrorRatio > 0.5", "NetworkErrorRatio is not defined"},
		{"NetworkErrorRatio(1) > 0.5", "reflect: Call with too many input arguments"},
		{"1", "expected predicate, got int"},
		{`"a"`, "expected predicate, got string"},
		{"NetworkErrorRatio() > 0.5 && 1", "reflect: cannot use int as type cbreaker.hpredicate in Call"},
		{"a[1] > 2", "properties are not supported"},
		{"NetworkErrorRatio() > 0x10", `failed to parse argument: 0x10, error: strconv.Atoi: parsing "0x10": invalid syntax`},
		{"RequestThreshold() > 99999999999999999999", `failed to parse argument: 99999999999999999999, error: strconv.Atoi: parsing "99999999999999999999": value out of range`},
		{"NetworkErrorRatio() > 1e400", `failed to parse argument: 1e400, error: strconv.ParseFloat: parsing "1e400": value out of range`},
		{"NetworkErrorRatio() > 'a'", "unsupported function argument type: 'CHAR'"},
		{"NetworkErrorRatio() > 1i", "unsupported function argument type: 'IMAG'"},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			_, err := New(tc.expr, Options{})
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.err {
				t.Errorf("error %q, want %q", got, tc.err)
			}
		})
	}
}

// Conditions on recorded metrics: oxy's predicate cases and more.
func TestPredicates(t *testing.T) {
	type rec struct {
		code    int
		n       int
		latency time.Duration
	}
	tests := []struct {
		expr string
		recs []rec
		want bool
	}{
		{"NetworkErrorRatio() > 0.5", []rec{{504, 60, 0}, {200, 40, 0}}, true},
		{"NetworkErrorRatio() < 0.5", []rec{{504, 60, 0}, {200, 40, 0}}, false},
		{"NetworkErrorRatio() > 0.5", []rec{{502, 6, 0}, {200, 4, 0}}, true},
		{"NetworkErrorRatio() == 0.5", []rec{{502, 1, 0}, {504, 1, 0}, {200, 2, 0}}, true},
		// Only 502 and 504 are network errors.
		{"NetworkErrorRatio() > 0.0", []rec{{500, 5, 0}, {503, 5, 0}}, false},
		// No minimum count: one failure out of one is a ratio of 1.
		{"NetworkErrorRatio() >= 1.0", []rec{{502, 1, 0}}, true},
		{"NetworkErrorRatio() > 0.0", nil, false},
		{"LatencyAtQuantileMS(50.0) > 50", []rec{{200, 1, 51 * time.Millisecond}}, true},
		{"LatencyAtQuantileMS(50.0) < 50", []rec{{200, 1, 51 * time.Millisecond}}, false},
		{"LatencyAtQuantileMS(50.0) == 51", []rec{{200, 1, 51 * time.Millisecond}}, true},
		// The histogram keeps 2 significant figures: 1234 ms reads 1236
		// (1236.991 ms, the top of its bucket).
		{"LatencyAtQuantileMS(100.0) == 1236", []rec{{200, 1, 1234 * time.Millisecond}}, true},
		// 100 ms reads 100 (100.351): not above 100.
		{"LatencyAtQuantileMS(100.0) > 100", []rec{{200, 1, 100 * time.Millisecond}}, false},
		{"LatencyAtQuantileMS(90.0) >= 100", []rec{{200, 8, time.Millisecond}, {200, 2, 200 * time.Millisecond}}, true},
		{"LatencyAtQuantileMS(50.0) >= 100", []rec{{200, 8, time.Millisecond}, {200, 2, 200 * time.Millisecond}}, false},
		{"LatencyAtQuantileMS(40.0) > 50", []rec{{504, 60, 0}, {200, 40, 0}}, false},
		// Over an hour: dropped, as oxy.
		{"LatencyAtQuantileMS(100.0) > 0", []rec{{200, 1, 2 * time.Hour}}, false},
		{"ResponseCodeRatio(500, 600, 0, 600) > 0.5", []rec{{200, 5, 0}, {500, 6, 0}}, true},
		{"ResponseCodeRatio(500, 600, 0, 600) > 0.5", []rec{{200, 5, 0}, {500, 4, 0}}, false},
		// to is exclusive, from inclusive.
		{"ResponseCodeRatio(500, 503, 0, 600) == 0.0", []rec{{503, 3, 0}, {200, 1, 0}}, true},
		{"ResponseCodeRatio(503, 504, 0, 600) == 0.75", []rec{{503, 3, 0}, {200, 1, 0}}, true},
		// A divisor of 0 makes 0.
		{"ResponseCodeRatio(500, 600, 300, 400) == 0.0", []rec{{500, 3, 0}}, true},
		{"ResponseCodeRatio(500, 600, 200, 300) > 2.5", []rec{{500, 3, 0}, {200, 1, 0}}, true},
		{"RequestThreshold() >= 20", []rec{{200, 19, 0}}, false},
		{"RequestThreshold() >= 20", []rec{{200, 20, 0}}, true},
		{"RequestThreshold() == 0", nil, true},
		{"NetworkErrorRatio() > 0.5 && RequestThreshold() >= 20", []rec{{504, 19, 0}}, false},
		{"NetworkErrorRatio() > 0.5 || RequestThreshold() >= 20", []rec{{504, 19, 0}}, true},
		{"NetworkErrorRatio() != 0.5", []rec{{504, 1, 0}, {200, 1, 0}}, false},
		{"NetworkErrorRatio() <= 0.5", []rec{{504, 1, 0}, {200, 1, 0}}, true},
		{"NetworkErrorRatio() >= 0.5", []rec{{504, 1, 0}, {200, 2, 0}}, false},
		{"RequestThreshold() < 2", []rec{{504, 1, 0}}, true},
		{"RequestThreshold() > 2", []rec{{504, 1, 0}}, false},
		{"LatencyAtQuantileMS(50.0) != 0", nil, false},
		{"LatencyAtQuantileMS(50.0) <= 0", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			p, latency, err := parseExpression(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			clk := newClock()
			c := &CircuitBreaker{metrics: newMetrics(latency), at: clk.now()}
			for _, r := range tc.recs {
				for range r.n {
					c.metrics.record(clk.now(), r.code, r.latency)
				}
			}
			if got := p(c); got != tc.want {
				t.Errorf("%v, want %v", got, tc.want)
			}
		})
	}
}

// oxy's RTMetrics defaults test.
func TestMetrics(t *testing.T) {
	clk := newClock()
	now := clk.now()
	m := newMetrics(true)
	m.record(now, 200, time.Second)
	m.record(now, 502, 2*time.Second)
	m.record(now, 200, time.Second)
	m.record(now, 200, time.Second)
	if got := m.totalCount(now); got != 4 {
		t.Errorf("total %d, want 4", got)
	}
	if got := m.networkErrorRatio(now); got != 0.25 {
		t.Errorf("network error ratio %v, want 0.25", got)
	}
	if got := m.responseCodeRatio(now, 500, 503, 200, 300); got != 1.0/3.0 {
		t.Errorf("response code ratio %v, want 1/3", got)
	}
	if got := m.latencyAtQuantile(100); got/time.Second != 2 {
		t.Errorf("latency at 100 %v, want 2s", got)
	}
	m.reset(now)
	if m.totalCount(now) != 0 || m.networkErrorRatio(now) != 0 || m.responseCodeRatio(now, 500, 503, 200, 300) != 0 ||
		m.latencyAtQuantile(100) != 0 {
		t.Error("metrics not reset")
	}
}

// oxy's rolling counter cleanup: one bucket per second, ten seconds.
func TestRollingCounter(t *testing.T) {
	clk := newClock()
	sec := func() int64 { return clk.now().Unix() }
	c := newRollingCounter()
	c.inc(sec())
	for i := range 9 {
		clk.advance(time.Second)
		for range int(math.Pow10(i+1)) % 1000 {
			c.inc(sec())
		}
	}
	// 1 + 10 + 100, then zeros (the powers above 100 are taken mod 1000).
	if got := c.count(sec()); got != 111 {
		t.Fatalf("count %d, want 111", got)
	}
	clk.advance(8 * time.Second)
	if got := c.count(sec()); got != 0 {
		t.Fatalf("count after 17s %d, want 0", got)
	}

	// A request counts for the ten seconds of the window.
	c = newRollingCounter()
	c.inc(sec())
	clk.advance(9*time.Second + 999*time.Millisecond)
	if got := c.count(sec()); got != 1 {
		t.Fatalf("count 9.999s later %d, want 1", got)
	}
	clk.advance(time.Millisecond)
	if got := c.count(sec()); got != 0 {
		t.Fatalf("count 10s later %d, want 0", got)
	}
	// Buckets are wall-clock seconds: recorded at .9, gone at the tenth
	// second boundary after it.
	clk.advance(900 * time.Millisecond)
	c.inc(sec())
	clk.advance(9*time.Second + 100*time.Millisecond)
	if got := c.count(sec()); got != 0 {
		t.Fatalf("count 9.1s later across 10 boundaries %d, want 0", got)
	}
}

// The latency histogram rotates one sub-histogram per record at least 10s
// after the last rotation, over 6: a value stays for 5 rotations.
// (Values read as the top of their bucket: 5000 µs is 5023.)
func TestRollingHistogram(t *testing.T) {
	clk := newClock()
	h := newRollingHistogram()
	h.record(clk.now(), 5000)
	for i := range 5 {
		clk.advance(10 * time.Second)
		h.record(clk.now(), 1)
		if got := h.valueAtQuantile(100); got != 5023 {
			t.Fatalf("after %d rotations: max %d, want 5023", i+1, got)
		}
	}
	clk.advance(10 * time.Second)
	h.record(clk.now(), 2)
	if got := h.valueAtQuantile(100); got != 2 {
		t.Fatalf("after 6 rotations: max %d, want 2", got)
	}
	// A long pause still rotates once: older values remain.
	clk.advance(time.Hour)
	h.record(clk.now(), 1)
	if got := h.valueAtQuantile(100); got != 2 {
		t.Fatalf("after a pause: max %d, want 2", got)
	}
	// Within the period, no rotation.
	clk.advance(9 * time.Second)
	h.record(clk.now(), 3)
	if got := h.valueAtQuantile(50); got != 1 {
		t.Fatalf("median %d, want 1", got)
	}
	h.reset(clk.now())
	if got := h.valueAtQuantile(100); got != 0 {
		t.Fatalf("after reset: max %d, want 0", got)
	}
}

// oxy's full cycle: standby, tripped for the fallback duration,
// recovering with a growing share of requests let through, standby.
func TestFullCycle(t *testing.T) {
	clk := newClock()
	cb := newBreaker(t, "NetworkErrorRatio() > 0.5", clk, Options{})
	if serve(cb, clk, 200, 0) != 200 {
		t.Fatal("standby breaker refused a request")
	}
	// The first answer was evaluated (ratio 0); these wait for the next
	// evaluation, 100ms later.
	for range 6 {
		serve(cb, clk, 504, 0)
	}
	wantState(t, cb, Standby)
	clk.advance(DefaultCheckPeriod + time.Millisecond)
	serve(cb, clk, 200, 0) // 6 of 8
	wantState(t, cb, Tripped)

	clk.advance(9 * time.Second)
	if serve(cb, clk, 200, 0) != 0 {
		t.Fatal("tripped breaker let a request through")
	}
	wantState(t, cb, Tripped)

	clk.advance(time.Second + time.Millisecond)
	if serve(cb, clk, 200, 0) != 0 {
		t.Fatal("the first request of the recovery went through")
	}
	wantState(t, cb, Recovering)

	// Half way: a quarter of the requests go through.
	clk.advance(5 * time.Second)
	allowed := 0
	for range 100 {
		if serve(cb, clk, 200, 0) != 0 {
			allowed++
		}
	}
	if allowed != 25 {
		t.Errorf("half way through the recovery, %d of 100 requests went through, want 25", allowed)
	}
	wantState(t, cb, Recovering)

	clk.advance(5*time.Second + time.Millisecond)
	if serve(cb, clk, 200, 0) != 200 {
		t.Fatal("a request was refused after the recovery")
	}
	wantState(t, cb, Standby)
}

// The edges of the durations: the fallback ends at its end (not before),
// the recovery after its end.
func TestDurations(t *testing.T) {
	for _, o := range []Options{
		{},
		{CheckPeriod: -1, FallbackDuration: -time.Second, RecoveryDuration: 0}, // the defaults
		{CheckPeriod: time.Second, FallbackDuration: 3 * time.Second, RecoveryDuration: 2 * time.Second},
	} {
		check, fallback, recovery := o.CheckPeriod, o.FallbackDuration, o.RecoveryDuration
		if check <= 0 {
			check, fallback, recovery = DefaultCheckPeriod, DefaultFallbackDuration, DefaultRecoveryDuration
		}
		clk := newClock()
		cb := newBreaker(t, "NetworkErrorRatio() > 0.5", clk, o)
		serve(cb, clk, 200, 0)
		// Failures within the check period are not evaluated, even at its
		// very end.
		clk.advance(check)
		serve(cb, clk, 502, 0)
		serve(cb, clk, 502, 0)
		wantState(t, cb, Standby)
		clk.advance(1)
		serve(cb, clk, 502, 0)
		wantState(t, cb, Tripped)

		clk.advance(fallback - 1)
		if serve(cb, clk, 200, 0) != 0 {
			t.Fatalf("%+v: a request went through before the end of the fallback", o)
		}
		clk.advance(1)
		serve(cb, clk, 200, 0)
		wantState(t, cb, Recovering)
		clk.advance(recovery)
		serve(cb, clk, 200, 0)
		wantState(t, cb, Recovering)
		clk.advance(1)
		if serve(cb, clk, 200, 0) != 200 {
			t.Fatalf("%+v: refused after the recovery", o)
		}
		wantState(t, cb, Standby)
	}
}

// oxy's trigger during recovery: an answer that matches the condition
// while recovering trips the breaker again, from the metrics of the
// recovery alone (they were reset on tripping).
func TestTripDuringRecovery(t *testing.T) {
	clk := newClock()
	cb := newBreaker(t, "NetworkErrorRatio() > 0.5", clk, Options{CheckPeriod: time.Microsecond})
	serve(cb, clk, 504, 0)
	wantState(t, cb, Tripped)
	clk.advance(10*time.Second + time.Millisecond)
	serve(cb, clk, 200, 0)
	wantState(t, cb, Recovering)
	clk.advance(5 * time.Second)
	allowed := 0
	for range 100 {
		if serve(cb, clk, 504, 0) != 0 {
			allowed++
		}
	}
	if allowed != 1 {
		t.Errorf("%d requests went through, want 1 (its answer trips the breaker)", allowed)
	}
	wantState(t, cb, Tripped)
	// Tripped again for a whole fallback duration.
	clk.advance(10*time.Second - 1)
	if serve(cb, clk, 200, 0) != 0 {
		t.Fatal("went through before the new fallback ended")
	}
}

// Recovering to standby keeps the metrics, but tripping resets them: the
// failures that tripped the breaker do not trip it again.
func TestMetricsResetOnTrip(t *testing.T) {
	clk := newClock()
	cb := newBreaker(t, "ResponseCodeRatio(500, 600, 0, 600) > 0.4", clk,
		Options{CheckPeriod: time.Millisecond, FallbackDuration: time.Second, RecoveryDuration: time.Second})
	serve(cb, clk, 500, 0)
	wantState(t, cb, Tripped)
	clk.advance(time.Second)
	serve(cb, clk, 200, 0) // recovering, refused
	clk.advance(time.Second + 1)
	serve(cb, clk, 200, 0) // standby: 1 of 1 is 200
	wantState(t, cb, Standby)
	clk.advance(time.Millisecond + 1)
	serve(cb, clk, 500, 0) // 1 of 2 is a 500
	wantState(t, cb, Tripped)
}

// oxy's request threshold test.
func TestRequestThreshold(t *testing.T) {
	clk := newClock()
	cb := newBreaker(t, "NetworkErrorRatio() > 0.5 && RequestThreshold() >= 20", clk, Options{})
	serve(cb, clk, 504, 0) // evaluated: 1 request
	for range 17 {
		serve(cb, clk, 504, 0)
	}
	clk.advance(DefaultCheckPeriod + time.Millisecond)
	serve(cb, clk, 504, 0) // 19
	wantState(t, cb, Standby)
	clk.advance(DefaultCheckPeriod + time.Millisecond)
	serve(cb, clk, 504, 0) // 20
	wantState(t, cb, Tripped)
	if serve(cb, clk, 200, 0) != 0 {
		t.Fatal("tripped breaker let a request through")
	}
}

// Latency counts from the start of a request to its answer.
func TestLatencyTrips(t *testing.T) {
	clk := newClock()
	cb := newBreaker(t, "LatencyAtQuantileMS(50.0) > 100", clk, Options{})
	serve(cb, clk, 200, 100*time.Millisecond) // evaluated: 100 ms
	serve(cb, clk, 200, 300*time.Millisecond)
	serve(cb, clk, 200, 300*time.Millisecond)
	wantState(t, cb, Standby)
	clk.advance(time.Second)
	serve(cb, clk, 200, 300*time.Millisecond) // evaluated: a median of 300 ms
	wantState(t, cb, Tripped)
}

// oxy's ratio controller ramp-up: the share let through follows the
// target, 0.5 * elapsed / duration, within 0.05.
func TestRatioController(t *testing.T) {
	clk := newClock()
	d := 10 * time.Second
	rc := ratioController{duration: d, start: clk.now()}
	allowed, denied := 0, 0
	for range d / time.Millisecond {
		if rc.allowRequest(clk.now()) {
			allowed++
		} else {
			denied++
		}
		got := float64(allowed) / float64(allowed+denied)
		if diff := math.Abs(rc.targetRatio(clk.now()) - got); diff >= 0.05 {
			t.Fatalf("after %d requests: ratio %v, target %v", allowed+denied, got, rc.targetRatio(clk.now()))
		}
		clk.advance(time.Millisecond)
	}
	// The share is of all the requests since the recovery began: a half
	// at the end.
	if allowed < 4950 || allowed > 5000 {
		t.Errorf("%d of 10000 requests went through over the ramp, want about a half", allowed)
	}
}

// Many goroutines on one breaker (run with -race).
func TestConcurrent(t *testing.T) {
	cb, err := New("NetworkErrorRatio() > 0.5 || LatencyAtQuantileMS(99.0) > 1000 || ResponseCodeRatio(500, 600, 0, 600) > 0.9",
		Options{CheckPeriod: time.Microsecond, FallbackDuration: time.Millisecond, RecoveryDuration: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				if cb.Allow() {
					status := 200
					if (i+g)%3 == 0 {
						status = 502
					}
					cb.Done(cb.Now(), status)
				}
				_ = cb.State()
			}
		})
	}
	wg.Wait()
}
