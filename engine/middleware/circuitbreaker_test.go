package middleware

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// cbClock is a clock the test moves.
type cbClock struct {
	mu sync.Mutex
	t  time.Time
}

func newCBClock() *cbClock { return &cbClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *cbClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *cbClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// buildCB builds a circuitBreaker from its JSON configuration on clk.
func buildCB(t *testing.T, config string, clk *cbClock) Middleware {
	t.Helper()
	var c circuitBreakerConfig
	if err := decode([]byte(config), &c); err != nil {
		t.Fatal(err)
	}
	m, err := buildCircuitBreaker(&c, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Backend behaviours.
const (
	cbHealthy = iota // 200 "ok"
	cbDrop           // closes the connection: the service cannot reach it (502, UpstreamErr)
	cb502            // answers 502 itself
	cb504            // answers 504 itself
	cb500            // answers 500
	cbSlow           // 200 after 200ms of the test's clock
)

// cbBackend fails on demand and counts the requests that reach it.
type cbBackend struct {
	mode atomic.Int32
	hits atomic.Int32
	clk  *cbClock
}

func (b *cbBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.hits.Add(1)
	switch b.mode.Load() {
	case cbDrop:
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	case cb502:
		w.WriteHeader(http.StatusBadGateway)
	case cb504:
		w.WriteHeader(http.StatusGatewayTimeout)
	case cb500:
		w.WriteHeader(http.StatusInternalServerError)
	case cbSlow:
		b.clk.advance(200 * time.Millisecond)
		io.WriteString(w, "ok")
	default:
		io.WriteString(w, "ok")
	}
}

// cbGet sends a GET and returns its status, body and whether it reached
// the backend.
func cbGet(t *testing.T, url string, b *cbBackend) (int, string, bool) {
	t.Helper()
	before := b.hits.Load()
	resp := do(t, "GET", url+"/x", nil)
	body := readAll(t, resp)
	return resp.StatusCode, body, b.hits.Load() != before
}

// wantFallback checks that a request gets the breaker's 503 without
// reaching the backend.
func wantFallback(t *testing.T, url string, b *cbBackend, step string) {
	t.Helper()
	before := b.hits.Load()
	resp := do(t, "GET", url+"/x", nil)
	body := readAll(t, resp)
	if resp.StatusCode != 503 || body != "Service Unavailable" || b.hits.Load() != before {
		t.Fatalf("%s: status %d, body %q, reached the backend %v; want the fallback", step, resp.StatusCode, body, b.hits.Load() != before)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Fatalf("%s: Content-Type %q", step, ct)
	}
}

// A backend that fails trips the breaker: its requests get the fallback
// without reaching it for fallbackDuration; the recovery lets a growing
// share through; after recoveryDuration all go through.
func TestCircuitBreakerCycle(t *testing.T) {
	tests := []struct {
		desc, expr string
		mode       int32
		status     int // the failing answer
	}{
		{"unreachable upstream", "NetworkErrorRatio() > 0.5", cbDrop, 502},
		{"backend answers 502", "NetworkErrorRatio() > 0.5", cb502, 502},
		{"backend answers 504", "NetworkErrorRatio() > 0.5", cb504, 504},
		{"5xx ratio", "ResponseCodeRatio(500, 600, 0, 600) > 0.5", cb500, 500},
		{"latency", "LatencyAtQuantileMS(50.0) > 100", cbSlow, 200},
		{"threshold", "NetworkErrorRatio() > 0.5 && RequestThreshold() >= 1", cb502, 502},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			clk := newCBClock()
			b := &cbBackend{clk: clk}
			url := front(t, b, buildCB(t, `{"expression":`+strconv.Quote(tc.expr)+`}`, clk))
			b.mode.Store(tc.mode)
			// The first answer is evaluated and trips the breaker.
			if status, _, hit := cbGet(t, url, b); status != tc.status || !hit {
				t.Fatalf("failing: %d %v, want %d from the backend", status, hit, tc.status)
			}
			b.mode.Store(cbHealthy)
			wantFallback(t, url, b, "tripped")
			clk.advance(10*time.Second - 1)
			wantFallback(t, url, b, "end of the fallback")
			clk.advance(1)
			wantFallback(t, url, b, "first request of the recovery")

			// Half way through the recovery, one request in four goes through.
			clk.advance(5 * time.Second)
			through := 0
			for range 20 {
				status, body, hit := cbGet(t, url, b)
				switch {
				case status == 200 && body == "ok" && hit:
					through++
				case status == 503 && !hit:
				default:
					t.Fatalf("recovering: %d %q %v", status, body, hit)
				}
			}
			if through != 5 {
				t.Errorf("recovering: %d of 20 requests went through, want 5", through)
			}

			clk.advance(5 * time.Second)
			cbGet(t, url, b) // the recovery's last instant: may be refused
			clk.advance(1)
			for i := range 5 {
				if status, body, hit := cbGet(t, url, b); status != 200 || body != "ok" || !hit {
					t.Fatalf("standby again, request %d: %d %q %v", i, status, body, hit)
				}
			}
		})
	}
}

// Failing answers during the recovery trip the breaker again.
func TestCircuitBreakerTripDuringRecovery(t *testing.T) {
	clk := newCBClock()
	b := &cbBackend{clk: clk}
	url := front(t, b, buildCB(t, `{"expression":"NetworkErrorRatio() > 0.5","fallbackDuration":"2s","recoveryDuration":"2s","checkPeriod":"1ms"}`, clk))
	b.mode.Store(cb504)
	cbGet(t, url, b)
	wantFallback(t, url, b, "tripped")
	clk.advance(2 * time.Second)
	wantFallback(t, url, b, "recovering")
	clk.advance(time.Second) // target: a quarter
	got := 0
	for range 10 {
		if status, _, hit := cbGet(t, url, b); hit {
			got++
			if status != 504 {
				t.Fatalf("status %d from the backend", status)
			}
		}
	}
	if got != 1 {
		t.Fatalf("%d requests reached the backend, want 1 (its 504 trips the breaker)", got)
	}
	b.mode.Store(cbHealthy)
	clk.advance(2*time.Second - 1)
	wantFallback(t, url, b, "tripped again")
}

// The expression is evaluated at most once per checkPeriod (100ms by
// default), on an answer after the period has passed.
func TestCircuitBreakerCheckPeriod(t *testing.T) {
	tests := []struct {
		config string
		period time.Duration
	}{
		{`{"expression":"NetworkErrorRatio() > 0.5"}`, 100 * time.Millisecond},
		{`{"expression":"NetworkErrorRatio() > 0.5","checkPeriod":"0s"}`, 100 * time.Millisecond},
		{`{"expression":"NetworkErrorRatio() > 0.5","checkPeriod":-2}`, 100 * time.Millisecond},
		{`{"expression":"NetworkErrorRatio() > 0.5","checkPeriod":"250ms"}`, 250 * time.Millisecond},
		{`{"expression":"NetworkErrorRatio() > 0.5","checkPeriod":3}`, 3 * time.Second},
		{`{"expression":"NetworkErrorRatio() > 0.5","checkPeriod":"1m2s"}`, 62 * time.Second},
		{`{"expression":"NetworkErrorRatio() > 0.5","checkPeriod":"7"}`, 7 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.config, func(t *testing.T) {
			clk := newCBClock()
			b := &cbBackend{clk: clk}
			url := front(t, b, buildCB(t, tc.config, clk))
			cbGet(t, url, b) // evaluated: healthy
			b.mode.Store(cb502)
			for _, d := range []time.Duration{0, tc.period / 2, tc.period / 2} {
				clk.advance(d)
				if status, _, hit := cbGet(t, url, b); status != 502 || !hit {
					t.Fatalf("within the period: %d %v", status, hit)
				}
			}
			clk.advance(1)
			if status, _, hit := cbGet(t, url, b); status != 502 || !hit {
				t.Fatalf("after the period: %d %v", status, hit)
			}
			wantFallback(t, url, b, "tripped")
		})
	}
}

// fallbackDuration and recoveryDuration: numbers of seconds or duration
// strings; 0 or less is the default, 10s.
func TestCircuitBreakerDurations(t *testing.T) {
	tests := []struct {
		config             string
		fallback, recovery time.Duration
	}{
		{`{}`, 10 * time.Second, 10 * time.Second},
		{`{"fallbackDuration":"-5s","recoveryDuration":0}`, 10 * time.Second, 10 * time.Second},
		{`{"fallbackDuration":0,"recoveryDuration":-1}`, 10 * time.Second, 10 * time.Second},
		{`{"fallbackDuration":2,"recoveryDuration":"3s"}`, 2 * time.Second, 3 * time.Second},
		{`{"fallbackDuration":"1m30s","recoveryDuration":"500ms"}`, 90 * time.Second, 500 * time.Millisecond},
		{`{"fallbackDuration":"1.5s","recoveryDuration":"1h"}`, 1500 * time.Millisecond, time.Hour},
		{`{"fallbackDuration":"4","recoveryDuration":"2"}`, 4 * time.Second, 2 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.config, func(t *testing.T) {
			config := strings.Replace(tc.config, "{", `{"expression":"NetworkErrorRatio() > 0.5",`, 1)
			config = strings.Replace(config, ",}", "}", 1)
			clk := newCBClock()
			b := &cbBackend{clk: clk}
			url := front(t, b, buildCB(t, config, clk))
			b.mode.Store(cb502)
			cbGet(t, url, b)
			b.mode.Store(cbHealthy)
			wantFallback(t, url, b, "tripped")
			clk.advance(tc.fallback - 1)
			wantFallback(t, url, b, "end of the fallback")
			clk.advance(1)
			wantFallback(t, url, b, "start of the recovery")
			clk.advance(tc.recovery)
			cbGet(t, url, b)
			clk.advance(1)
			if status, _, hit := cbGet(t, url, b); status != 200 || !hit {
				t.Fatalf("after the recovery: %d %v", status, hit)
			}
		})
	}
}

// responseCode is the fallback's status, with its text as the body, as
// Traefik's fallback writes them through net/http: text/plain when there
// is a text, no Content-Type for a status without one, no body for 204
// and 304.
func TestCircuitBreakerResponseCode(t *testing.T) {
	tests := []struct {
		config   string
		status   int
		body, ct string
		length   string
	}{
		{`{}`, 503, "Service Unavailable", "text/plain; charset=utf-8", "19"},
		{`{"responseCode":0}`, 503, "Service Unavailable", "text/plain; charset=utf-8", "19"},
		{`{"responseCode":418}`, 418, "I'm a teapot", "text/plain; charset=utf-8", "12"},
		{`{"responseCode":429}`, 429, "Too Many Requests", "text/plain; charset=utf-8", "17"},
		{`{"responseCode":200}`, 200, "OK", "text/plain; charset=utf-8", "2"},
		{`{"responseCode":302}`, 302, "Found", "text/plain; charset=utf-8", "5"},
		{`{"responseCode":599}`, 599, "", "", "0"},
		{`{"responseCode":299}`, 299, "", "", "0"},
		{`{"responseCode":204}`, 204, "", "", ""},
		{`{"responseCode":304}`, 304, "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.config, func(t *testing.T) {
			config := strings.Replace(tc.config, "{", `{"expression":"NetworkErrorRatio() > 0.5",`, 1)
			config = strings.Replace(config, ",}", "}", 1)
			clk := newCBClock()
			b := &cbBackend{clk: clk}
			url := front(t, b, buildCB(t, config, clk))
			b.mode.Store(cb504)
			cbGet(t, url, b)
			b.mode.Store(cbHealthy)
			before := b.hits.Load()
			resp := do(t, "GET", url+"/x", nil)
			body := readAll(t, resp)
			if resp.StatusCode != tc.status || body != tc.body || b.hits.Load() != before {
				t.Fatalf("status %d, body %q, reached the backend %v", resp.StatusCode, body, b.hits.Load() != before)
			}
			if ct := resp.Header.Get("Content-Type"); ct != tc.ct {
				t.Errorf("Content-Type %q, want %q", ct, tc.ct)
			}
			if cl := resp.Header.Get("Content-Length"); cl != tc.length {
				t.Errorf("Content-Length %q, want %q", cl, tc.length)
			}
		})
	}
}

// One Middleware object is one breaker, whichever routers use it, and it
// survives a reload that leaves its definition unchanged; a changed
// definition starts a new breaker.
func TestCircuitBreakerShared(t *testing.T) {
	const cfg = `{"expression":"NetworkErrorRatio() > 0.5","fallbackDuration":"1h"}`
	def := func(config string) map[string]*spec.Middleware {
		return map[string]*spec.Middleware{"default-cb@kubernetescrd": {Name: "default-cb@kubernetescrd",
			Kind: "circuitBreaker", Config: []byte(config)}}
	}
	first := Build(def(cfg), BuildContext{})
	m := first["default-cb@kubernetescrd"]
	if m.Err != nil {
		t.Fatal(m.Err)
	}
	b := &cbBackend{}
	routerA, routerB := front(t, b, m.Wrap), front(t, b, m.Wrap)
	b.mode.Store(cbDrop)
	if status, _, _ := cbGet(t, routerA, b); status != 502 {
		t.Fatalf("failing: %d", status)
	}
	b.mode.Store(cbHealthy)
	wantFallback(t, routerA, b, "router A")
	wantFallback(t, routerB, b, "router B")

	second := Build(def(cfg), BuildContext{Previous: first})
	wantFallback(t, front(t, b, second["default-cb@kubernetescrd"].Wrap), b, "after an unchanged reload")

	third := Build(def(strings.Replace(cfg, "1h", "2h", 1)), BuildContext{Previous: second})
	if status, body, hit := cbGet(t, front(t, b, third["default-cb@kubernetescrd"].Wrap), b); status != 200 || body != "ok" || !hit {
		t.Fatalf("after a change: %d %q %v", status, body, hit)
	}
}

// On the real clock, with short durations: the request after the one
// that trips gets the fallback (the recovery, should it have begun, lets
// none through at first), and the breaker closes again within a bounded
// wait.
func TestCircuitBreakerRealClock(t *testing.T) {
	m := buildOne(t, "circuitBreaker", `{"expression":"NetworkErrorRatio() > 0.5","checkPeriod":"1ms","fallbackDuration":"20ms","recoveryDuration":"20ms"}`)
	b := &cbBackend{}
	url := front(t, b, m)
	b.mode.Store(cb502)
	cbGet(t, url, b)
	b.mode.Store(cbHealthy)
	wantFallback(t, url, b, "tripped")
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, body, hit := cbGet(t, url, b)
		if status == 200 && body == "ok" && hit {
			break
		}
		if status != 503 || hit {
			t.Fatalf("%d %q %v", status, body, hit)
		}
		if time.Now().After(deadline) {
			t.Fatal("the breaker did not close within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

// Many clients through two routers on one breaker (run with -race).
func TestCircuitBreakerConcurrent(t *testing.T) {
	m := buildOne(t, "circuitBreaker", `{"expression":"NetworkErrorRatio() > 0.3 || LatencyAtQuantileMS(99.0) > 10000","checkPeriod":"1ms","fallbackDuration":"5ms","recoveryDuration":"5ms"}`)
	var n atomic.Int32
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%2 == 0 {
			w.WriteHeader(502)
		}
	})
	urls := []string{front(t, backend, m), front(t, backend, m)}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			c := &http.Client{}
			for range 40 {
				resp, err := c.Get(urls[g%2])
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 && resp.StatusCode != 502 && resp.StatusCode != 503 {
					t.Errorf("status %d", resp.StatusCode)
				}
			}
		})
	}
	wg.Wait()
}

// Bad configurations are build errors, with oxy's messages for the
// expression.
func TestCircuitBreakerConfigErrors(t *testing.T) {
	tests := []struct{ config, err string }{
		{`{}`, "1:1: expected operand, found 'EOF'"},
		{`{"expression":""}`, "1:1: expected operand, found 'EOF'"},
		{`{"expression":"NetworkErrorRatio() > 1"}`, "expected int, got int"},
		{`{"expression":"LatencyAtQuantileMS(50) > 100"}`, "reflect: Call using int as type float64"},
		{`{"expression":"NetworkErrorRatio()"}`, "expected predicate, got cbreaker.toType[float64]"},
		{`{"expression":"Latency() > 1"}`, "unsupported function: Latency"},
		{`{"expression":"NetworkErrorRatio() > 0.5 and RequestThreshold() > 1"}`, "1:27: expected 'EOF', found and"},
		{`{"expression":"NetworkErrorRatio() > 0.5","responseCode":600}`, "responseCode 600: must be between 100 and 599"},
		{`{"expression":"NetworkErrorRatio() > 0.5","responseCode":99}`, "responseCode 99: must be between 100 and 599"},
		{`{"expression":"NetworkErrorRatio() > 0.5","responseCode":-1}`, "responseCode -1: must be between 100 and 599"},
		{`{"expression":"NetworkErrorRatio() > 0.5","responseCode":100}`, "responseCode 100: an informational status is not supported by edgeroute"},
		{`{"expression":"NetworkErrorRatio() > 0.5","responseCode":101}`, "responseCode 101: an informational status is not supported by edgeroute"},
		{`{"expression":"NetworkErrorRatio() > 0.5","responseCode":103}`, "responseCode 103: an informational status is not supported by edgeroute"},
		{`{"expression":"NetworkErrorRatio() > 0.5","checkPeriod":"1.5s"}`, `checkPeriod "1.5s": must match`},
		{`{"expression":"NetworkErrorRatio() > 0.5","checkPeriod":"-1s"}`, `checkPeriod "-1s": must match`},
		{`{"expression":"NetworkErrorRatio() > 0.5","recoveryDuration":"10S"}`, `recoveryDuration "10S": must match`},
		{`{"expression":"NetworkErrorRatio() > 0.5","recoveryDuration":"1 s"}`, `recoveryDuration "1 s": must match`},
		{`{"expression":"NetworkErrorRatio() > 0.5","recoveryDuration":1.5}`, `recoveryDuration 1.5: want a whole number of seconds or a duration string`},
		{`{"expression":"NetworkErrorRatio() > 0.5","checkPeriod":true}`, `checkPeriod true: want a whole number of seconds or a duration string`},
		{`{"expression":"NetworkErrorRatio() > 0.5","recoveryDuration":"10s5"}`, `recoveryDuration "10s5": time: missing unit in duration "10s5"`},
		{`{"expression":"NetworkErrorRatio() > 0.5","recoveryDuration":"-10s"}`, `recoveryDuration "-10s": must match`},
		{`{"expression":"NetworkErrorRatio() > 0.5","fallbackDuration":"soon"}`, `fallbackDuration "soon": time: invalid duration "soon"`},
		{`{"expression":"NetworkErrorRatio() > 0.5","fallbackDuration":2.5}`, `fallbackDuration 2.5: want a whole number of seconds or a duration string`},
		{`{"expression":"NetworkErrorRatio() > 0.5","fallbackDuration":3000000000}`, `fallbackDuration 3000000000: want a whole number of seconds or a duration string`},
		{`{"expression":"NetworkErrorRatio() > 0.5","fallbackDuration":true}`, `fallbackDuration true: want a whole number of seconds or a duration string`},
		{`{"expression":"NetworkErrorRatio() > 0.5","fallback":"x"}`, `option "fallback" is not supported by edgeroute`},
	}
	for _, tc := range tests {
		t.Run(tc.config, func(t *testing.T) {
			_, err := tryBuild("circuitBreaker", tc.config)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want one with %q", err, tc.err)
			}
			if !strings.HasPrefix(err.Error(), "middleware default-test@kubernetescrd (circuitBreaker): ") {
				t.Errorf("error %q", err)
			}
		})
	}
	// Accepted: the values the CRD lets through.
	for _, config := range []string{
		`{"expression":"NetworkErrorRatio() > 0.5","checkPeriod":"1h2m3s4ms5us6µs7ns","recoveryDuration":"0"}`,
		`{"expression":"NetworkErrorRatio() > 0.5","fallbackDuration":"-1s","responseCode":599}`,
		`{"expression":"NetworkErrorRatio() > 0.5","checkPeriod":-1,"recoveryDuration":-1,"responseCode":200}`,
	} {
		if _, err := tryBuild("circuitBreaker", config); err != nil {
			t.Errorf("%s: %v", config, err)
		}
	}
}
