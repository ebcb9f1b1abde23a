package middleware

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/time/rate"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// rlClock is a clock the tests move by hand.
type rlClock struct{ ns atomic.Int64 }

func newRLClock() *rlClock {
	c := &rlClock{}
	c.ns.Store(time.Unix(1_700_000_000, 0).UnixNano())
	return c
}

func (c *rlClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *rlClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// rlBuild builds a rateLimit middleware named like the harness's on a
// clock (nil: the real one).
func rlBuild(t testing.TB, config string, clock *rlClock, bc *BuildContext) *rateLimit {
	t.Helper()
	var c rateLimitConfig
	if err := decode(json.RawMessage(config), &c); err != nil {
		t.Fatal(err)
	}
	now := time.Now
	if clock != nil {
		now = clock.now
	}
	def := &spec.Middleware{Name: "default-test@kubernetescrd", Kind: "rateLimit", Config: json.RawMessage(config)}
	l, err := buildRateLimit(&c, def, bc, now)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// rlGet sends a GET and returns its status, Retry-After, X-Retry-In and
// body.
func rlGet(t testing.TB, url string, hdr ...string) (status int, retryAfter, retryIn, body string) {
	t.Helper()
	resp := do(t, "GET", url, nil, hdr...)
	body = readAll(t, resp)
	return resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("X-Retry-In"), body
}

// Traefik's TestNewRateLimiter and the rest of ratelimiter.New's
// arithmetic: the rate, the longest wait, the bucket size and ttl.
func TestRateLimitParams(t *testing.T) {
	inf := rate.Inf
	tests := []struct {
		config   string
		rate     rate.Limit
		burst    int64
		maxDelay time.Duration
		ttl      int
	}{
		{`{}`, inf, 1, 0, 2},
		{`{"average":0,"burst":10}`, inf, 10, 0, 2},
		{`{"average":-5}`, inf, 1, 0, 2},
		{`{"average":200,"burst":10}`, 200, 10, 2500 * time.Microsecond, 2},
		{`{"average":2,"period":10,"burst":10}`, 0.2, 10, 500 * time.Millisecond, 6},
		{`{"average":2,"period":"10s","burst":10}`, 0.2, 10, 500 * time.Millisecond, 6},
		{`{"average":1,"period":"1m"}`, rate.Limit(1.0 / 60), 1, 500 * time.Millisecond, 61}, // 1 + int(60.000000000000007)
		{`{"average":1}`, 1, 1, 500 * time.Millisecond, 2},
		{`{"average":3}`, 3, 1, time.Second / 6, 2},
		{`{"average":50,"period":"500ms"}`, 100, 1, 5 * time.Millisecond, 2},
		{`{"average":100,"period":0}`, 100, 1, 5 * time.Millisecond, 2},
		{`{"average":100,"burst":0}`, 100, 1, 5 * time.Millisecond, 2},
		{`{"average":100,"burst":-3}`, 100, 1, 5 * time.Millisecond, 2},
		{`{"average":5,"period":10}`, 0.5, 1, 500 * time.Millisecond, 3},
		{`{"average":2000000000}`, 2e9, 1, 0, 2}, // 1s / 4e9 truncates to 0
	}
	for _, tc := range tests {
		t.Run(tc.config, func(t *testing.T) {
			var c rateLimitConfig
			if err := decode(json.RawMessage(tc.config), &c); err != nil {
				t.Fatal(err)
			}
			p, err := rateLimitParamsOf(&c)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(float64(p.rate-tc.rate)) > 1e-10 || p.burst != tc.burst || p.maxDelay != tc.maxDelay || p.ttl != tc.ttl {
				t.Errorf("rate %v burst %d maxDelay %v ttl %d, want %v %d %v %d", p.rate, p.burst, p.maxDelay, p.ttl, tc.rate, tc.burst, tc.maxDelay, tc.ttl)
			}
		})
	}
}

func TestRateLimitBuildErrors(t *testing.T) {
	tests := []struct{ config, err string }{
		{`{"average":1,"sourceCriterion":{"ipStrategy":{},"requestHeaderName":"Foo"}}`,
			"getting source extractor: iPStrategy and RequestHeaderName are mutually exclusive"},
		{`{"average":1,"sourceCriterion":{"ipStrategy":{},"requestHost":true}}`,
			"getting source extractor: iPStrategy and RequestHost are mutually exclusive"},
		{`{"average":1,"sourceCriterion":{"requestHeaderName":"Foo","requestHost":true}}`,
			"getting source extractor: requestHost and RequestHeaderName are mutually exclusive"},
		{`{"average":1,"sourceCriterion":{"ipStrategy":{"ipv6Subnet":129}}}`,
			"getting source extractor: invalid IPv6 subnet 129 value, should be greater to 0 and lower or equal to 128"},
		{`{"average":1,"sourceCriterion":{"ipStrategy":{"excludedIPs":["nope"]}}}`,
			"getting source extractor: parsing CIDR trusted IPs <nil>: invalid CIDR address: nope"},
		{`{"average":1,"period":"-1s"}`, "negative value not valid for period: -1s"},
		{`{"average":1,"period":-2}`, "negative value not valid for period: -2s"},
		{`{"average":1,"period":"soon"}`, `duration "soon"`},
		{`{"average":1,"redis":{"tls":{"ca":"not a PEM"}}}`, "creating redis limiter: creating TLS config: failed to parse CA"},
		{`{"average":1,"redis":{"tls":{"cert":"x"}}}`, "creating redis limiter: creating TLS config: both TLS cert and key must be defined"},
		{`{"average":1,"redis":{"tls":{"key":"x"}}}`, "creating redis limiter: creating TLS config: both TLS cert and key must be defined"},
		{`{"average":1,"redis":{"tls":{"cert":"x","key":"y"}}}`, "creating redis limiter: creating TLS config: TLS cert and key: tls: failed to find any PEM data in certificate input"},
		{`{"average":1,"redis":{"poolSize":-1}}`, "creating redis limiter: redis poolSize -1: must not be negative"},
		{`{"average":1,"redis":{"minIdleConns":-1}}`, "creating redis limiter: redis minIdleConns -1: must not be negative"},
		{`{"average":1,"redis":{"maxActiveConns":-1}}`, "creating redis limiter: redis maxActiveConns -1: must not be negative"},
		// Checked even without a limit, as Traefik builds its limiter
		// whatever the average.
		{`{"redis":{"tls":{"ca":"not a PEM"}}}`, "creating redis limiter: creating TLS config: failed to parse CA"},
		{`{"average":1,"redis":{"secret":"s"}}`, "option \"secret\" is not supported by edgeroute"},
		{`{"average":1,"redis":{"tls":{"caSecret":"s"}}}`, "option \"caSecret\" is not supported by edgeroute"},
		{`{"average":1,"rate":3}`, "option \"rate\" is not supported by edgeroute"},
	}
	for _, tc := range tests {
		t.Run(tc.config, func(t *testing.T) {
			_, err := tryBuild("rateLimit", tc.config)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %v, want %q", err, tc.err)
			}
		})
	}
}

// rlModel is the token bucket Traefik's limiters implement, written
// from its definition: tokens accrue at rate up to burst; a request
// takes one, possibly going negative, and waits until it is back to 0;
// a wait beyond maxDelay refuses the request and leaves the token.
type rlModel struct {
	rate     float64 // per second
	burst    float64
	maxDelay time.Duration
	tokens   float64
	last     time.Time
	fresh    bool
}

func newRLModel(r rate.Limit, burst int64, maxDelay time.Duration) *rlModel {
	return &rlModel{rate: float64(r), burst: float64(burst), maxDelay: maxDelay, tokens: float64(burst), fresh: true}
}

// take returns the wait for a request at now and whether it is
// admitted.
func (m *rlModel) take(now time.Time) (time.Duration, bool) {
	if !m.fresh && now.After(m.last) {
		m.tokens = math.Min(m.tokens+now.Sub(m.last).Seconds()*m.rate, m.burst)
	}
	m.fresh = false
	if now.After(m.last) {
		m.last = now
	}
	m.tokens--
	var wait time.Duration
	if m.tokens < 0 {
		wait = time.Duration(-m.tokens / m.rate * float64(time.Second))
	}
	if wait > m.maxDelay {
		m.tokens = math.Min(m.tokens+1, m.burst) // given back
		return wait, false
	}
	return wait, true
}

// The in-memory limiter against the model, on Traefik's
// TestInMemoryRateLimit loads (requests at a steady rate after an
// initial burst, on a simulated clock): the admitted count is the
// model's exactly, and within 5% of Traefik's expectation
// burst + rate × duration.
func TestRateLimitLocalModel(t *testing.T) {
	tests := []struct {
		desc     string
		config   string
		duration time.Duration
		load     int // requests per second
		hammer   int // requests sent at once first
	}{
		{"average is respected", `{"average":100,"burst":1}`, 2 * time.Second, 400, 0},
		{"burst allowed, no bursty traffic", `{"average":100,"burst":100}`, 2 * time.Second, 200, 0},
		{"burst allowed, initial burst, under capacity", `{"average":100,"burst":100}`, 2 * time.Second, 200, 50},
		{"burst allowed, initial burst, over capacity", `{"average":100,"burst":100}`, 2 * time.Second, 200, 150},
		{"burst over average, initial burst, over capacity", `{"average":100,"burst":200}`, 2 * time.Second, 200, 300},
		{"lower than 1/s", `{"average":5,"period":"10s"}`, 2 * time.Second, 100, 0},
		{"lower than 1/s, longer", `{"average":5,"period":"10s"}`, time.Minute, 100, 0},
		{"lower than 1/s, longer, harsher", `{"average":1,"period":"1m"}`, time.Minute, 100, 0},
		{"period below 1 second", `{"average":50,"period":"500ms"}`, 2 * time.Second, 300, 0},
		{"uneven", `{"average":7,"period":"300ms","burst":4}`, 3 * time.Second, 333, 10},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			var c rateLimitConfig
			if err := decode(json.RawMessage(tc.config), &c); err != nil {
				t.Fatal(err)
			}
			p, err := rateLimitParamsOf(&c)
			if err != nil {
				t.Fatal(err)
			}
			l := newRLLocal(p)
			m := newRLModel(p.rate, p.burst, p.maxDelay)
			start := time.Unix(1_700_000_000, 0)
			interval := time.Second / time.Duration(tc.load)
			admitted, sent := 0, 0
			for i := 0; ; i++ {
				at := start
				if i >= tc.hammer {
					at = start.Add(time.Duration(i-tc.hammer+1) * interval)
				}
				if at.Sub(start) > tc.duration {
					break
				}
				sent++
				d, ok := l.allow([]byte("127.0.0.1"), at)
				if !ok {
					t.Fatal("bucket refused a request outright")
				}
				md, mok := m.take(at)
				if got := d <= p.maxDelay; got != mok || got && d != md {
					t.Fatalf("request %d at %v: delay %v (admitted %v), model %v (%v)", i, at.Sub(start), d, got, md, mok)
				}
				if mok {
					admitted++
				}
			}
			want := float64(p.rate)*tc.duration.Seconds() + float64(p.burst)
			if float64(admitted) < want*0.95 || float64(admitted) > want*1.05 {
				t.Errorf("%d admitted of %d, want %.0f ± 5%%", admitted, sent, want)
			}
		})
	}
}

// Buckets live ttl seconds after their last use, counted in whole Unix
// seconds (Traefik's ttlmap): a source idle that long starts again with
// a full bucket, one used just before keeps its state.
func TestRateLimitLocalTTL(t *testing.T) {
	// 1/s, burst 10: ttl 2s, maxDelay 0.5s.
	p, _ := rateLimitParamsOf(&rateLimitConfig{Average: ptr(int64(1)), Burst: ptr(int64(10))})
	if p.ttl != 2 {
		t.Fatalf("ttl %d", p.ttl)
	}
	at := func(sec float64) time.Time { return time.Unix(0, int64(sec*1e9)) }
	drain := func(l *rlLocal, now time.Time) {
		for range 10 {
			if d, _ := l.allow([]byte("k"), now); d != 0 {
				t.Fatalf("drain: delay %v", d)
			}
		}
	}
	// Drained at 100.2 (expiry 102): at 101.99 the bucket is there,
	// with 1.79 tokens: one now, one after 0.21s, then a refusal.
	l := newRLLocal(p)
	drain(l, at(100.2))
	var got []string
	for range 3 {
		d, _ := l.allow([]byte("k"), at(101.99))
		got = append(got, d.Round(time.Millisecond).String())
	}
	if want := "0s 210ms 1.21s"; strings.Join(got, " ") != want {
		t.Errorf("kept bucket: delays %v, want %s", got, want)
	}
	// At 102.0 it has expired: ten requests pass at once.
	l = newRLLocal(p)
	drain(l, at(100.2))
	drain(l, at(102.0))
	if n := l.len(); n != 1 {
		t.Errorf("%d buckets, want 1", n)
	}
}

// The map holds at most 65536 buckets; a new source in a full map
// evicts the least recently used bucket (the one closest to expiry).
func TestRateLimitLocalBound(t *testing.T) {
	p, _ := rateLimitParamsOf(&rateLimitConfig{Average: ptr(int64(1))})
	l := newRLLocal(p)
	now := time.Unix(1_700_000_000, 0)
	take := func(key string) time.Duration {
		d, _ := l.allow([]byte(key), now)
		return d
	}
	take("old")  // full bucket, then never used again
	take("keep") // drained, and used all along
	var key []byte
	for i := range 80000 {
		key = strconv.AppendInt(key[:0], int64(i), 10)
		l.allow(key, now)
		if i%1000 == 0 {
			take("keep")
		}
	}
	if n := l.len(); n != rlMaxSources {
		t.Errorf("%d buckets, want %d", n, rlMaxSources)
	}
	if d := take("keep"); d == 0 {
		t.Error(`"keep", used all along, was evicted`)
	}
	if d := take("old"); d != 0 {
		t.Errorf(`"old" kept its drained bucket (delay %v): it should have been evicted`, d)
	}
}

func ptr[T any](v T) *T { return &v }

// X-Retry-In is Go's Duration.String, written without allocating.
func TestRateLimitAppendDuration(t *testing.T) {
	ds := []time.Duration{0, 1, 999, 1000, 1001, 1500, 999999, time.Millisecond, 1234567, 2500 * time.Microsecond,
		time.Second - 1, time.Second, 1700 * time.Millisecond, time.Minute, time.Minute + 500*time.Millisecond,
		time.Hour, 25*time.Hour + 3*time.Minute + 7*time.Nanosecond, math.MaxInt64, math.MinInt64, -1, -1500 * time.Millisecond}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		ds = append(ds, time.Duration(r.Int64N(int64(100*time.Hour))), time.Duration(r.Int64N(int64(time.Second))), time.Duration(r.Int64N(10000)))
	}
	for _, d := range ds {
		if got := string(appendDuration(nil, d)); got != d.String() {
			t.Errorf("appendDuration(%d) = %q, want %q", int64(d), got, d.String())
		}
	}
}

// Behaviour over real sockets, on a simulated clock: Traefik's answers,
// bucket per source, held-back requests.
func TestRateLimitServe(t *testing.T) {
	type step struct {
		advance time.Duration
		hdr     []string
		status  int
		retry   string // Retry-After and X-Retry-In, "2 1.5s"
	}
	ok := func(adv time.Duration, hdr ...string) step { return step{adv, hdr, 200, ""} }
	no := func(adv time.Duration, retry string, hdr ...string) step { return step{adv, hdr, 429, retry} }
	tests := []struct {
		desc, config string
		steps        []step
	}{
		{"no limit by default", `{}`, []step{ok(0), ok(0), ok(0), ok(0), ok(0)}},
		{"average 0 with burst 1", `{"average":0,"burst":1}`, []step{ok(0), ok(0), ok(0)}},
		{"negative average", `{"average":-1}`, []step{ok(0), ok(0), ok(0)}},
		// 0.5/s, burst 1: a second request waits 2s, more than 0.5s.
		{"refused, whole seconds", `{"average":1,"period":2}`, []step{
			ok(0), no(0, "2 2s"), no(500*time.Millisecond, "2 1.5s"), no(500*time.Millisecond, "1 1s"),
			ok(500 * time.Millisecond), no(0, "3 2.5s")}},
		{"refusals do not take tokens", `{"average":1,"period":2}`, []step{
			ok(0), no(0, "2 2s"), no(0, "2 2s"), no(0, "2 2s"), ok(2 * time.Second)}},
		// 4/s, burst 2: maxDelay 125ms; a wait of 125ms or less is
		// served after it.
		{"held back", `{"average":4,"burst":2}`, []step{
			ok(0), ok(0), no(0, "1 250ms"), ok(125 * time.Millisecond), no(0, "1 375ms"),
			ok(250 * time.Millisecond), no(150*time.Millisecond, "1 225ms")}},
		{"burst", `{"average":1,"period":"1m","burst":3}`, []step{ok(0), ok(0), ok(0), no(0, "60 1m0s")}},
		{"default source: the client address", `{"average":1,"period":2}`, []step{
			ok(0, "X-Forwarded-For: 1.2.3.4"), no(0, "2 2s", "X-Forwarded-For: 5.6.7.8")}},
		{"requestHeaderName", `{"average":1,"period":2,"sourceCriterion":{"requestHeaderName":"X-Key"}}`, []step{
			ok(0, "X-Key: a"), ok(0, "X-Key: b"), no(0, "2 2s", "X-Key: a"), no(0, "2 2s", "X-Key: b"),
			// Requests without the header share the empty key.
			ok(0), no(0, "2 2s"), no(0, "2 2s", "X-Key:"), ok(0, "X-Key: c")}},
		{"requestHost", `{"average":1,"period":2,"sourceCriterion":{"requestHost":true}}`, []step{
			ok(0, "Host: a.example"), ok(0, "Host: b.example"), no(0, "2 2s", "Host: a.example"),
			ok(0, "Host: a.example:8080")}},
		{"ipStrategy depth", `{"average":1,"period":2,"sourceCriterion":{"ipStrategy":{"depth":2}}}`, []step{
			ok(0, "X-Forwarded-For: 1.1.1.1, 9.9.9.9"), ok(0, "X-Forwarded-For: 2.2.2.2, 9.9.9.9"),
			no(0, "2 2s", "X-Forwarded-For: 1.1.1.1, 8.8.8.8"),
			// Too few entries: the empty key.
			ok(0, "X-Forwarded-For: 9.9.9.9"), no(0, "2 2s")}},
		{"ipStrategy excludedIPs", `{"average":1,"period":2,"sourceCriterion":{"ipStrategy":{"excludedIPs":["10.0.0.0/8"]}}}`, []step{
			ok(0, "X-Forwarded-For: 1.1.1.1, 10.0.0.1"), no(0, "2 2s", "X-Forwarded-For: 1.1.1.1"),
			ok(0, "X-Forwarded-For: 2.2.2.2, 10.1.1.1")}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			clock := newRLClock()
			var served atomic.Int64
			backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served.Add(1) })
			url := front(t, backend, rlBuild(t, tc.config, clock, nil).wrap)
			wantServed := int64(0)
			for i, s := range tc.steps {
				clock.advance(s.advance)
				status, after, in, body := rlGet(t, url, s.hdr...)
				if status != s.status {
					t.Fatalf("step %d: status %d, want %d (%s)", i, status, s.status, body)
				}
				if s.status == 200 {
					wantServed++
					continue
				}
				if got := after + " " + in; got != s.retry {
					t.Errorf("step %d: Retry-After, X-Retry-In %q, want %q", i, got, s.retry)
				}
				if body != "Too Many Requests" {
					t.Errorf("step %d: body %q", i, body)
				}
			}
			if n := served.Load(); n != wantServed {
				t.Errorf("backend served %d, want %d", n, wantServed)
			}
		})
	}
}

// The 429 is Traefik's, header for header.
func TestRateLimitTooManyResponse(t *testing.T) {
	clock := newRLClock()
	url := front(t, nil, rlBuild(t, `{"average":1,"period":2}`, clock, nil).wrap)
	do(t, "GET", url, nil)
	resp := do(t, "GET", url, nil)
	body := readAll(t, resp)
	if resp.StatusCode != 429 || body != "Too Many Requests" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	want := map[string]string{"Content-Type": "text/plain; charset=utf-8", "Retry-After": "2", "X-Retry-In": "2s", "Content-Length": "17"}
	for k, v := range want {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	if n := len(resp.Header) - len(resp.Header.Values("Date")); n != len(want) {
		t.Errorf("headers %v, want only %v", resp.Header, want)
	}
	head := do(t, "HEAD", url, nil)
	if head.StatusCode != 429 || head.Header.Get("X-Retry-In") != "2s" {
		t.Errorf("HEAD: %d %v", head.StatusCode, head.Header)
	}
}

// A request held back waits for its token before it is forwarded.
func TestRateLimitHoldsBack(t *testing.T) {
	clock := newRLClock()
	// 10/s, burst 1: maxDelay 50ms.
	url := front(t, nil, rlBuild(t, `{"average":10}`, clock, nil).wrap)
	echoed(t, url)
	clock.advance(60 * time.Millisecond) // 0.6 token: 40ms to wait
	start := time.Now()
	echoed(t, url)
	if waited := time.Since(start); waited < 40*time.Millisecond {
		t.Errorf("served after %v, before its token (40ms)", waited)
	}
}

// A request held back when the server shuts down gets Traefik's 500.
func TestRateLimitShutdownWhileHeld(t *testing.T) {
	clock := newRLClock()
	l := rlBuild(t, `{"average":1,"burst":1}`, clock, nil) // maxDelay 500ms
	arrived := make(chan struct{}, 2)
	signal := func(next Handler) Handler {
		return func(ctx *fasthttp.RequestCtx, r *Request) { arrived <- struct{}{}; next(ctx, r) }
	}
	h := Wrap(func(ctx *fasthttp.RequestCtx, r *Request) { ctx.SetBodyString("served") }, signal, l.wrap)
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		var r Request
		prepare(ctx, &r)
		h(ctx, &r)
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	url := "http://" + ln.Addr().String()
	if st, _, _, body := rlGet(t, url); st != 200 || body != "served" {
		t.Fatalf("first: %d %q", st, body)
	}
	<-arrived
	clock.advance(600 * time.Millisecond) // the next waits 400ms
	type result struct {
		status int
		body   string
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get(url)
		if err != nil {
			res <- result{0, err.Error()}
			return
		}
		defer resp.Body.Close()
		res <- result{resp.StatusCode, readAllQuiet(resp)}
	}()
	<-arrived
	go srv.Shutdown()
	r := <-res
	if r.status != 500 || r.body != "context canceled\n" {
		t.Errorf("held request at shutdown: %d %q, want 500 \"context canceled\\n\"", r.status, r.body)
	}
}

func readAllQuiet(resp *http.Response) string {
	var b strings.Builder
	buf := make([]byte, 512)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

// The rate holds over a real run on the real clock: 50 requests a
// second (average 5 per 100ms), burst 20 (which absorbs a stall of the
// machine of up to 400ms), four clients sending as fast as they can for
// a second. The token bucket admits at most burst + rate × (elapsed +
// maxDelay) requests, and with the clients saturating it, at least 95%
// of burst + rate × elapsed.
func TestRateLimitRealRate(t *testing.T) {
	url := front(t, nil, rlBuild(t, `{"average":5,"period":"100ms","burst":20}`, nil, nil).wrap)
	admitted, sent, lastSent, elapsed := rlRun(t, 4, time.Second, url)
	rlCheckRate(t, admitted, sent, lastSent, elapsed, 50, 20, 10*time.Millisecond)
}

// rlRun sends GETs from n clients, client i to urls[i % len(urls)], for
// d, and returns the counts of 200s and of requests, when the last
// request was sent and when the last answer came (from the start).
func rlRun(t *testing.T, n int, d time.Duration, urls ...string) (admitted, sent int64, lastSent, elapsed time.Duration) {
	t.Helper()
	var wg sync.WaitGroup
	var a, s, last atomic.Int64
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Transport: &http.Transport{}}
			defer c.CloseIdleConnections()
			for {
				at := time.Since(start)
				if at >= d {
					return
				}
				for old := last.Load(); int64(at) > old && !last.CompareAndSwap(old, int64(at)); old = last.Load() {
				}
				resp, err := c.Get(urls[i%len(urls)])
				if err != nil {
					t.Error(err)
					return
				}
				readAllQuiet(resp)
				resp.Body.Close()
				s.Add(1)
				switch resp.StatusCode {
				case 200:
					a.Add(1)
				case 429:
				default:
					t.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	return a.Load(), s.Load(), time.Duration(last.Load()), time.Since(start)
}

// rlCheckRate checks the requests admitted over a run against the
// bucket's arithmetic: at most burst + rate × (elapsed + maxDelay) (a
// request may take a token maxDelay ahead), a hard bound; and, the
// clients saturating the bucket, at least 95% of Traefik's expectation
// burst + rate × the time requests were sent for.
func rlCheckRate(t *testing.T, admitted, sent int64, lastSent, elapsed time.Duration, perSecond float64, burst int, maxDelay time.Duration) {
	t.Helper()
	// The proxies stamp each request with their own clock, a little
	// before and after the test's window sees it; 50 ms of slack keeps a
	// loaded machine from failing a correct limiter (separate budgets
	// would admit about twice as many, far above this bound).
	upper := float64(burst) + perSecond*(elapsed+maxDelay+50*time.Millisecond).Seconds() + 1
	want := float64(burst) + perSecond*lastSent.Seconds()
	t.Logf("%d admitted of %d sent for %v (answered by %v): want %.1f, at most %.1f", admitted, sent, lastSent, elapsed, want, upper)
	if float64(admitted) > upper {
		t.Errorf("%d requests admitted in %v, more than the bucket allows (%.1f)", admitted, elapsed, upper)
	}
	if float64(admitted) < 0.95*want {
		t.Errorf("%d requests admitted in %v (of %d sent), fewer than 95%% of %.1f", admitted, lastSent, sent, want)
	}
}

// Many routers' requests share one middleware: concurrent requests on a
// frozen clock get exactly the burst between them.
func TestRateLimitLocalConcurrent(t *testing.T) {
	p, _ := rateLimitParamsOf(&rateLimitConfig{Average: ptr(int64(1)), Burst: ptr(int64(500))})
	l := newRLLocal(p)
	now := time.Unix(1_700_000_000, 0)
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			other := []byte{'k', byte(g)}
			for range 2000 {
				if d, _ := l.allow([]byte("shared"), now); d <= p.maxDelay {
					admitted.Add(1)
				}
				l.allow(other, now)
			}
		}()
	}
	wg.Wait()
	if n := admitted.Load(); n != 500 {
		t.Errorf("%d admitted, want the burst (500)", n)
	}
	if n := l.len(); n != 9 {
		t.Errorf("%d buckets, want 9", n)
	}
}
