package middleware

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// calls records what each call of the next handler saw.
type calls struct {
	mu   sync.Mutex
	seen []call
}

type call struct {
	attempt int
	changes bool
	at      time.Time
}

func (c *calls) mw(next Handler) Handler {
	return func(ctx *fasthttp.RequestCtx, r *Request) {
		c.mu.Lock()
		c.seen = append(c.seen, call{attempt: r.Attempt, changes: r.ChangesResponse, at: time.Now()})
		c.mu.Unlock()
		next(ctx, r)
	}
}

func (c *calls) n() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

func (c *calls) all() []call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]call(nil), c.seen...)
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// unreachable plays a service whose upstream cannot be connected to for
// its first n calls: a real dial to a closed loopback port fails, its
// error becomes r.UpstreamErr and the answer is 502, as the service does
// (with a header naming the failed attempt); later calls go on to next.
func unreachable(t testing.TB, n int) Middleware {
	// One real refused dial, made now while the port is surely closed:
	// dialing it again later could reach a listener another test opened
	// on the freed port meanwhile.
	_, refused := fasthttp.DialTimeout(closedAddr(t), 5*time.Second)
	if refused == nil {
		t.Fatal("a dial to a closed port succeeded")
	}
	var count atomic.Int32
	return func(next Handler) Handler {
		return func(ctx *fasthttp.RequestCtx, r *Request) {
			if int(count.Add(1)) > n {
				next(ctx, r)
				return
			}
			r.UpstreamErr = refused
			ctx.Response.Reset()
			ctx.Response.Header.Set("X-Failed-Attempt", strconv.Itoa(r.Attempt))
			ctx.SetStatusCode(fasthttp.StatusBadGateway)
			ctx.SetBodyString("Bad Gateway")
		}
	}
}

// slow delays every call by d.
func slow(d time.Duration) Middleware {
	return func(next Handler) Handler {
		return func(ctx *fasthttp.RequestCtx, r *Request) {
			time.Sleep(d)
			next(ctx, r)
		}
	}
}

// hit is one request as a backend received it.
type hit struct {
	method, uri string
	sum         [32]byte
	size        int64
	length      int64 // r.ContentLength
	header      http.Header
}

// backend answers with codes[i] to its i-th request (200 past the list),
// setting X-Attempt-i (and X-Final on a 200), and records every request.
// A code of -1 hangs up: the connection is hijacked and closed after the
// request was read.
type backend struct {
	codes []int
	mu    sync.Mutex
	hits  []hit
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := sha256.New()
	n, _ := io.Copy(h, r.Body)
	b.mu.Lock()
	i := len(b.hits)
	b.hits = append(b.hits, hit{method: r.Method, uri: r.RequestURI, size: n, length: r.ContentLength, header: r.Header.Clone()})
	copy(b.hits[i].sum[:], h.Sum(nil))
	b.mu.Unlock()
	code := http.StatusOK
	if i < len(b.codes) {
		code = b.codes[i]
	}
	if code == -1 {
		c, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			c.Close()
		}
		return
	}
	w.Header().Set(fmt.Sprintf("X-Attempt-%d", i), "value")
	if code == http.StatusOK {
		w.Header().Set("X-Final", "success")
	}
	w.WriteHeader(code)
	fmt.Fprintf(w, "answer %d", i)
}

func (b *backend) all() []hit {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]hit(nil), b.hits...)
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// unsized hides a reader's length, so that net/http sends it chunked.
type unsized struct{ io.Reader }

func TestRetryConfig(t *testing.T) {
	bad := []struct{ config, want string }{
		{`{"attempts":3,"disableRetryOnNetworkError":true}`, "retry middleware requires at least HTTP status codes or retry on TCP"},
		{`{"attempts":3,"status":[],"disableRetryOnNetworkError":true}`, "retry middleware requires at least HTTP status codes or retry on TCP"},
		{`{}`, "incorrect (or empty) value for attempt (0)"},
		{`{"status":["503"]}`, "incorrect (or empty) value for attempt (0)"},
		{`{"attempts":-1}`, "incorrect (or empty) value for attempt (-1)"},
		{`{"attempts":2,"status":["abc"]}`, "creating HTTP code ranges"},
		{`{"attempts":2,"status":["600"]}`, "creating HTTP code ranges"},
		{`{"attempts":2,"status":["500-"]}`, "creating HTTP code ranges"},
		{`{"attempts":2,"status":["500,502"]}`, "creating HTTP code ranges"},
		{`{"attempts":2,"status":[" 503"]}`, "creating HTTP code ranges"},
		{`{"attempts":2,"maxRequestBodyBytes":-2}`, "maxRequestBodyBytes -2"},
		{`{"attempts":2,"timeout":"soon"}`, "duration"},
		{`{"attempts":2,"initialInterval":"1x"}`, "duration"},
		{`{"attempts":2,"retryOn":"5xx"}`, `"retryOn" is not supported`},
	}
	for _, tc := range bad {
		if _, err := tryBuild("retry", tc.config); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.config, err, tc.want)
		}
	}
	good := []string{
		`{"attempts":1}`,
		`{"attempts":2,"status":["503"]}`,
		`{"attempts":2,"status":["500-599","404"]}`,
		`{"attempts":2,"status":["503"],"disableRetryOnNetworkError":true}`,
		`{"attempts":4,"timeout":2,"initialInterval":"100ms","maxRequestBodyBytes":-1,"retryNonIdempotentMethod":true}`,
		`{"attempts":4,"timeout":"1s","initialInterval":"0","maxRequestBodyBytes":0}`,
	}
	for _, c := range good {
		if _, err := tryBuild("retry", c); err != nil {
			t.Errorf("%s: %v", c, err)
		}
	}
}

// Traefik's TestRetry: servers that cannot be reached are retried.
func TestRetryNetworkErrors(t *testing.T) {
	tests := []struct {
		desc      string
		config    string
		method    string
		faulty    int
		wantCalls int
		status    int
	}{
		{"no retry on success", `{"attempts":5}`, "GET", 0, 1, 200},
		{"no retry on success with backoff", `{"attempts":5,"initialInterval":"50us"}`, "GET", 0, 1, 200},
		{"no retry when max request attempts is one", `{"attempts":1}`, "GET", 1, 1, 502},
		{"no retry when max request attempts is one with backoff", `{"attempts":1,"initialInterval":"50us"}`, "GET", 1, 1, 502},
		{"one retry when one server is faulty", `{"attempts":2}`, "GET", 1, 2, 200},
		{"one retry when one server is faulty with backoff", `{"attempts":2,"initialInterval":"50us"}`, "GET", 1, 2, 200},
		{"two retries when two servers are faulty", `{"attempts":3}`, "GET", 2, 3, 200},
		{"two retries when two servers are faulty with backoff", `{"attempts":3,"initialInterval":"50us"}`, "GET", 2, 3, 200},
		{"max attempts exhausted delivers the 5xx response", `{"attempts":3}`, "GET", 3, 3, 502},
		{"max attempts exhausted delivers the 5xx response with backoff", `{"attempts":3,"initialInterval":"50us"}`, "GET", 3, 3, 502},
		// The method only restricts the status retry.
		{"a POST is retried on a network error", `{"attempts":2}`, "POST", 1, 2, 200},
		{"a POST with status codes is retried on a network error", `{"attempts":2,"status":["503"]}`, "POST", 1, 2, 200},
		{"disableRetryOnNetworkError", `{"attempts":3,"status":["503"],"disableRetryOnNetworkError":true}`, "GET", 1, 1, 502},
		{"a timeout of 0 does not stop retries", `{"attempts":3,"timeout":0}`, "GET", 2, 3, 200},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			var c calls
			be := &backend{}
			url := front(t, be, buildOne(t, "retry", tc.config), c.mw, unreachable(t, tc.faulty))
			resp := do(t, tc.method, url+"/ok", strings.NewReader("the body"))
			body := readAll(t, resp)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			seen := c.all()
			if len(seen) != tc.wantCalls {
				t.Fatalf("%d calls, want %d", len(seen), tc.wantCalls)
			}
			for i, s := range seen {
				if s.attempt != i {
					t.Errorf("call %d saw Attempt %d", i, s.attempt)
				}
			}
			hits := be.all()
			if want := tc.wantCalls - min(tc.faulty, tc.wantCalls); len(hits) != want {
				t.Fatalf("backend hit %d times, want %d", len(hits), want)
			}
			for _, h := range hits {
				if h.sum != sha256.Sum256([]byte("the body")) {
					t.Errorf("backend got a body of %d bytes, not the one sent", h.size)
				}
			}
			// Headers of failed attempts are gone; the last failure's own stay.
			if got := resp.Header.Get("X-Failed-Attempt"); tc.status == 200 && got != "" || tc.status == 502 && got != strconv.Itoa(tc.wantCalls-1) {
				t.Errorf("X-Failed-Attempt %q", got)
			}
			if tc.status == 502 && body != "Bad Gateway" {
				t.Errorf("body %q", body)
			}
		})
	}
}

// Traefik retries a network error only when the request never left: an
// upstream that reads the request and hangs up gets its 502 through,
// unless 502 is a listed status. A status that is not listed is never
// retried (Traefik's TestRetryEmptyServerList).
func TestRetryAfterRequestSent(t *testing.T) {
	tests := []struct {
		desc, config, method string
		codes                []int
		wantCalls, status    int
	}{
		{"hang-up is not a retried network error", `{"attempts":3}`, "POST", []int{-1, -1}, 1, 502},
		{"hang-up answered 502 is retried with status 502", `{"attempts":3,"status":["502"],"retryNonIdempotentMethod":true}`, "POST", []int{-1, -1}, 3, 200},
		{"hang-up on every attempt", `{"attempts":3,"status":["502"],"retryNonIdempotentMethod":true}`, "POST", []int{-1, -1, -1}, 3, 502},
		{"an upstream's 503 is not retried without status", `{"attempts":3}`, "GET", []int{503}, 1, 503},
		{"an upstream's 502 is not retried without status", `{"attempts":3}`, "GET", []int{502}, 1, 502},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			var c calls
			be := &backend{codes: tc.codes}
			url := front(t, be, buildOne(t, "retry", tc.config), c.mw)
			resp := do(t, tc.method, url+"/", strings.NewReader("payload"))
			readAll(t, resp)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if c.n() != tc.wantCalls {
				t.Fatalf("%d calls, want %d", c.n(), tc.wantCalls)
			}
			hits := be.all()
			if len(hits) != tc.wantCalls {
				t.Fatalf("backend hit %d times, want %d", len(hits), tc.wantCalls)
			}
			for i, h := range hits {
				if h.sum != sha256.Sum256([]byte("payload")) {
					t.Errorf("hit %d: body of %d bytes, not the one sent", i, h.size)
				}
			}
		})
	}
}

// Traefik's TestRetryHTTPStatusCodes, on a real backend; tcp failures are
// attempts whose upstream cannot be connected to, before the backend.
func TestRetryStatus(t *testing.T) {
	const reqBody = "test request body"
	tests := []struct {
		desc      string
		config    string
		codes     []int // the backend's answers
		method    string
		body      string
		delay     time.Duration
		tcp       int
		wantCalls int
		status    int
	}{
		{"retry on single 503 status code", `{"attempts":3,"status":["503"],"maxRequestBodyBytes":1024}`,
			[]int{503, 200}, "GET", reqBody, 0, 0, 2, 200},
		{"retry on range of 5xx status codes", `{"attempts":4,"status":["500-599"],"maxRequestBodyBytes":1024}`,
			[]int{500, 502, 503, 200}, "GET", reqBody, 0, 0, 4, 200},
		{"retry on multiple specific status codes", `{"attempts":3,"status":["502","503","504"],"maxRequestBodyBytes":1024}`,
			[]int{502, 200}, "GET", reqBody, 0, 0, 2, 200},
		{"no retry on non-matching status code", `{"attempts":3,"status":["503"],"maxRequestBodyBytes":1024}`,
			[]int{500}, "GET", "", 0, 0, 1, 500},
		{"exhaust all attempts with matching status codes", `{"attempts":3,"status":["503"]}`,
			[]int{503, 503, 503}, "GET", "", 0, 0, 3, 503},
		{"retry with body lower than maxRequestBodyBytes", `{"attempts":3,"status":["502"],"maxRequestBodyBytes":1024}`,
			[]int{502, 200}, "GET", reqBody, 0, 0, 2, 200},
		{"retry with body greater than maxRequestBodyBytes", `{"attempts":3,"status":["502"],"maxRequestBodyBytes":8}`,
			[]int{502, 200}, "GET", reqBody, 0, 0, 1, 502},
		{"retry with body equal to maxRequestBodyBytes", `{"attempts":3,"status":["502"],"maxRequestBodyBytes":17}`,
			[]int{502, 200}, "GET", reqBody, 0, 0, 2, 200},
		{"retry with timeout stops retries early", `{"attempts":5,"status":["503"],"timeout":"50ms"}`,
			[]int{503, 503, 503, 503, 503}, "GET", "", 50 * time.Millisecond, 0, 1, 503},
		{"retry with timeout stops TCP retries early", `{"attempts":5,"status":["503"],"timeout":"50ms"}`,
			[]int{503}, "GET", "", 50 * time.Millisecond, 5, 1, 502},
		{"retry on TCP failure and 503 status code", `{"attempts":3,"status":["503"],"maxRequestBodyBytes":1024}`,
			[]int{503, 200}, "GET", reqBody, 0, 1, 3, 200},
		{"retry failure on 503 status code with method POST", `{"attempts":3,"status":["503"],"maxRequestBodyBytes":1024}`,
			[]int{503, 200}, "POST", reqBody, 0, 0, 1, 503},
		{"retry success on 503 status code with method POST", `{"attempts":3,"status":["503"],"retryNonIdempotentMethod":true,"maxRequestBodyBytes":1024}`,
			[]int{503, 200}, "POST", reqBody, 0, 0, 2, 200},
		{"no retry on TCP failure when disableRetryOnNetworkError is set", `{"attempts":3,"status":["503"],"disableRetryOnNetworkError":true,"maxRequestBodyBytes":1024}`,
			[]int{200, 200}, "GET", "", 0, 1, 1, 502},
		{"a listed 502 retries a TCP failure even when network errors are not", `{"attempts":3,"status":["502"],"disableRetryOnNetworkError":true}`,
			[]int{200}, "GET", "", 0, 1, 2, 200},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			var c calls
			be := &backend{codes: tc.codes}
			url := front(t, be, buildOne(t, "retry", tc.config), c.mw, slow(tc.delay), unreachable(t, tc.tcp))
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			resp := do(t, tc.method, url+"/ok", body)
			readAll(t, resp)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if c.n() != tc.wantCalls {
				t.Fatalf("%d calls, want %d", c.n(), tc.wantCalls)
			}
			hits := be.all()
			for i, h := range hits {
				if h.sum != sha256.Sum256([]byte(tc.body)) {
					t.Errorf("hit %d: body of %d bytes, not the %d sent", i, h.size, len(tc.body))
				}
			}
			if tc.status == 200 {
				// Only the successful attempt's headers reach the client.
				last := len(hits) - 1
				if resp.Header.Get("X-Final") != "success" || resp.Header.Get(fmt.Sprintf("X-Attempt-%d", last)) != "value" {
					t.Errorf("headers of the last attempt missing: %v", resp.Header)
				}
				for i := range last {
					if v := resp.Header.Get(fmt.Sprintf("X-Attempt-%d", i)); v != "" {
						t.Errorf("header of failed attempt %d kept", i)
					}
				}
			}
		})
	}
}

// Only POST, PATCH and LOCK are non-idempotent for Traefik.
func TestRetryMethods(t *testing.T) {
	for _, method := range []string{"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE", "PROPFIND", "POST", "PATCH", "LOCK"} {
		for _, all := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s %v", method, all), func(t *testing.T) {
				var c calls
				be := &backend{codes: []int{503}}
				config := fmt.Sprintf(`{"attempts":2,"status":["503"],"retryNonIdempotentMethod":%v}`, all)
				url := front(t, be, buildOne(t, "retry", config), c.mw)
				resp := do(t, method, url+"/", nil)
				readAll(t, resp)
				want, status := 2, 200
				if !all && (method == "POST" || method == "PATCH" || method == "LOCK") {
					want, status = 1, 503
				}
				if c.n() != want || resp.StatusCode != status {
					t.Errorf("%d calls, status %d; want %d, %d", c.n(), resp.StatusCode, want, status)
				}
			})
		}
	}
}

// Each attempt sends the same body: with a known length and chunked, in
// memory up to maxRequestBodyBytes (2 MiB by default, -1 for none).
func TestRetryBodyReplay(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		desc      string
		config    string
		size      int
		chunked   bool
		wantCalls int
	}{
		{"known length", `{"attempts":3,"status":["503"]}`, 300 << 10, false, 3},
		{"chunked", `{"attempts":3,"status":["503"]}`, 300 << 10, true, 3},
		{"default limit: 2 MiB", `{"attempts":3,"status":["503"]}`, 2 * mib, false, 3},
		{"default limit: 2 MiB chunked", `{"attempts":3,"status":["503"]}`, 2 * mib, true, 3},
		{"over the default limit", `{"attempts":3,"status":["503"]}`, 2*mib + 1, false, 1},
		{"over the default limit chunked", `{"attempts":3,"status":["503"]}`, 2*mib + 1, true, 1},
		{"no limit", `{"attempts":3,"status":["503"],"maxRequestBodyBytes":-1}`, 3 * mib, true, 3},
		{"limit 0 and a body", `{"attempts":3,"status":["503"],"maxRequestBodyBytes":0}`, 1, true, 1},
		{"limit 0 and no body", `{"attempts":3,"status":["503"],"maxRequestBodyBytes":0}`, 0, false, 3},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			data := randomBytes(t, tc.size)
			be := &backend{codes: []int{503, 503}}
			url := front(t, be, buildOne(t, "retry", tc.config))
			var body io.Reader = bytes.NewReader(data)
			if tc.chunked {
				body = unsized{body}
			}
			resp := do(t, "PUT", url+"/", body)
			readAll(t, resp)
			hits := be.all()
			if len(hits) != tc.wantCalls {
				t.Fatalf("backend hit %d times, want %d", len(hits), tc.wantCalls)
			}
			for i, h := range hits {
				if h.sum != sha256.Sum256(data) {
					t.Errorf("hit %d: body of %d bytes differs from the %d sent", i, h.size, len(data))
				}
				// The length stays unknown when it was (Traefik's clone keeps ContentLength).
				if want := int64(len(data)); tc.chunked && tc.size > 0 && h.length != -1 || !tc.chunked && h.length != want {
					t.Errorf("hit %d: ContentLength %d", i, h.length)
				}
			}
		})
	}
}

// A body over maxRequestBodyBytes is not retried on status but still on
// network errors, which leave it unread.
func TestRetryLargeBodyNetworkError(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprint("chunked ", chunked), func(t *testing.T) {
			data := randomBytes(t, 64<<10)
			var c calls
			be := &backend{codes: []int{503}}
			url := front(t, be, buildOne(t, "retry", `{"attempts":3,"status":["503"],"maxRequestBodyBytes":8}`), c.mw, unreachable(t, 1))
			var body io.Reader = bytes.NewReader(data)
			if chunked {
				body = unsized{body}
			}
			resp := do(t, "PUT", url+"/", body)
			readAll(t, resp)
			if resp.StatusCode != 503 || c.n() != 2 {
				t.Fatalf("status %d after %d calls, want 503 after 2", resp.StatusCode, c.n())
			}
			hits := be.all()
			if len(hits) != 1 || hits[0].sum != sha256.Sum256(data) {
				t.Fatalf("backend hits %d, want 1 with the whole body", len(hits))
			}
		})
	}
}

// The wait between attempts grows from initialInterval as Traefik's
// exponential backoff does, randomized by ±50%: checked here against its
// lower bound only.
func TestRetryBackoffIntervals(t *testing.T) {
	var c calls
	url := front(t, nil, buildOne(t, "retry", `{"attempts":3,"initialInterval":"100ms"}`), c.mw, unreachable(t, 2))
	resp := do(t, "GET", url+"/", nil)
	readAll(t, resp)
	seen := c.all()
	if resp.StatusCode != 200 || len(seen) != 3 {
		t.Fatalf("status %d after %d calls", resp.StatusCode, len(seen))
	}
	min1 := 50 * time.Millisecond                             // 0.5 × 100ms
	min2 := time.Duration(float64(min1) * math.Sqrt2 * 0.999) // the interval grew by 2^(1/2)
	if d := seen[1].at.Sub(seen[0].at); d < min1 {
		t.Errorf("first wait %v, want at least %v", d, min1)
	}
	if d := seen[2].at.Sub(seen[1].at); d < min2 {
		t.Errorf("second wait %v, want at least %v", d, min2)
	}
}

// The computation itself, with the random number at both ends of its range.
func TestRetryBackoffSequence(t *testing.T) {
	ms := time.Millisecond
	m := math.Pow(2, 1/4.0) // 5 attempts
	b := backoff{initial: 100 * ms, current: 100 * ms, multiplier: m, start: time.Now()}
	cur := float64(100 * ms)
	for i := range 4 {
		lo := time.Duration(cur - cur/2)
		hi := time.Duration(cur + cur/2 + 1)
		c := b
		if d, ok := c.next(0); !ok || d != lo {
			t.Errorf("wait %d with random 0: %v, want %v", i, d, lo)
		}
		d, ok := b.next(0.999999999)
		if !ok || d < hi-time.Millisecond || d > hi {
			t.Errorf("wait %d with random ~1: %v, want about %v", i, d, hi)
		}
		cur = float64(time.Duration(cur * m))
	}
	if b.current > 200*ms+ms || b.current < 200*ms-ms {
		t.Errorf("after 4 waits the interval is %v, want 2 × 100ms", b.current)
	}

	capped := backoff{initial: 50 * time.Second, current: 50 * time.Second, multiplier: 2, start: time.Now()}
	capped.next(0)
	if capped.current != 60*time.Second {
		t.Errorf("interval %v, want the 60s maximum", capped.current)
	}
	late := backoff{initial: time.Second, current: time.Second, multiplier: 2, start: time.Now().Add(-15 * time.Minute)}
	if _, ok := late.next(0.5); ok {
		t.Error("a wait past 15 minutes of retries was allowed")
	}
	none := backoff{}
	if d, ok := none.next(0.5); !ok || d != 0 {
		t.Errorf("without initialInterval: %v %v, want no wait", d, ok)
	}
}

// An answer given before the service (an auth middleware's 401) is not a
// network error; a listed status is retried whoever answered it.
func TestRetryAnswersBeforeTheService(t *testing.T) {
	answer := func(first int) Middleware {
		var n atomic.Int32
		return func(next Handler) Handler {
			return func(ctx *fasthttp.RequestCtx, r *Request) {
				if n.Add(1) == 1 {
					ctx.SetStatusCode(first)
					return
				}
				next(ctx, r)
			}
		}
	}
	tests := []struct {
		desc, config      string
		first             int
		wantCalls, status int
	}{
		{"401 is not retried", `{"attempts":3}`, 401, 1, 401},
		{"a 502 without upstream error is not a network error", `{"attempts":3}`, 502, 1, 502},
		{"a listed status is retried", `{"attempts":3,"status":["503"],"maxRequestBodyBytes":1024}`, 503, 2, 200},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			var c calls
			url := front(t, nil, buildOne(t, "retry", tc.config), c.mw, answer(tc.first))
			resp := do(t, "GET", url+"/", nil)
			readAll(t, resp)
			if resp.StatusCode != tc.status || c.n() != tc.wantCalls {
				t.Errorf("status %d after %d calls, want %d after %d", resp.StatusCode, c.n(), tc.status, tc.wantCalls)
			}
		})
	}
}

// Every attempt starts from the request as retry got it: what the inner
// middlewares and the forwarding changed (path, headers) is undone.
func TestRetryRestoresRequest(t *testing.T) {
	addHeader := func(next Handler) Handler {
		return func(ctx *fasthttp.RequestCtx, r *Request) {
			ctx.Request.Header.Add("X-Added", "1")
			next(ctx, r)
		}
	}
	for _, config := range []string{`{"attempts":3,"status":["503"]}`, `{"attempts":3}`} {
		t.Run(config, func(t *testing.T) {
			be := &backend{codes: []int{503, 503}}
			mws := []Middleware{buildOne(t, "retry", config), buildOne(t, "addPrefix", `{"prefix":"/abc"}`), addHeader}
			if !strings.Contains(config, "status") {
				mws = append(mws, unreachable(t, 2)) // fails after the rewrites
			}
			url := front(t, be, mws...)
			resp := do(t, "GET", url+"/x%2Fy?q=1;b", nil, "X-Orig: o")
			readAll(t, resp)
			hits := be.all()
			if len(hits) == 0 {
				t.Fatal("backend not reached")
			}
			for i, h := range hits {
				if h.uri != "/abc/x%2Fy?q=1;b" || len(h.header["X-Added"]) != 1 || h.header.Get("X-Orig") != "o" {
					t.Errorf("hit %d: %s %v", i, h.uri, h.header)
				}
			}
		})
	}
}

// ChangesResponse is set while an answer may still be retried, so that
// the service does not relay it straight to an HTTP/2 client.
func TestRetryChangesResponse(t *testing.T) {
	var c calls
	url := front(t, &backend{codes: []int{503, 503}}, buildOne(t, "retry", `{"attempts":3,"status":["503"]}`), c.mw)
	readAll(t, do(t, "GET", url+"/", nil))
	seen := c.all()
	if len(seen) != 3 || !seen[0].changes || !seen[1].changes || seen[2].changes {
		t.Errorf("ChangesResponse seen: %+v", seen)
	}
	var n calls
	url = front(t, nil, buildOne(t, "retry", `{"attempts":3}`), n.mw, unreachable(t, 1))
	readAll(t, do(t, "GET", url+"/", nil))
	for _, s := range n.all() {
		if s.changes {
			t.Error("ChangesResponse set without status codes")
		}
	}
}

// An upgraded connection is never replayed (Traefik's hijacked flag), nor
// is a request whose client went away (the backoff stops on its context).
func TestRetryStops(t *testing.T) {
	hijack := func(next Handler) Handler {
		return func(ctx *fasthttp.RequestCtx, r *Request) {
			ctx.HijackSetNoResponse(true)
			ctx.Hijack(func(c net.Conn) {
				io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
			})
			r.UpstreamErr = &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("refused")}
		}
	}
	var c calls
	url := front(t, nil, buildOne(t, "retry", `{"attempts":3,"status":["200"]}`), c.mw, hijack)
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	line, _ := bufio.NewReader(conn).ReadString('\n')
	if line != "HTTP/1.1 101 Switching Protocols\r\n" || c.n() != 1 {
		t.Errorf("got %q after %d calls", line, c.n())
	}

	gone := func(next Handler) Handler {
		return func(ctx *fasthttp.RequestCtx, r *Request) {
			r.UpstreamErr = fmt.Errorf("net/http: request canceled: %w", context.Canceled)
			ctx.SetStatusCode(fasthttp.StatusBadGateway)
		}
	}
	var g calls
	url = front(t, nil, buildOne(t, "retry", `{"attempts":3,"status":["502"]}`), g.mw, gone)
	readAll(t, do(t, "GET", url+"/", nil))
	if g.n() != 1 {
		t.Errorf("%d calls after the client went away", g.n())
	}
}

// A streamed answer that is retried is closed, and the next attempt's
// answer is whole.
func TestRetryStreamedAnswer(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	var n atomic.Int32
	be := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.WriteHeader(503)
			io.WriteString(w, big)
			return
		}
		io.WriteString(w, "ok")
	})
	url := front(t, be, buildOne(t, "retry", `{"attempts":2,"status":["503"]}`))
	resp := do(t, "GET", url+"/", nil)
	if body := readAll(t, resp); resp.StatusCode != 200 || body != "ok" {
		t.Errorf("status %d, body of %d bytes", resp.StatusCode, len(body))
	}
}

// A body that cannot be read for replay is answered as Traefik's
// http.Error does.
func TestRetryBodyReadError(t *testing.T) {
	var c calls
	url := front(t, nil, buildOne(t, "retry", `{"attempts":2,"status":["503"]}`), c.mw)
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Long enough for the server to hand over a stream before it ends.
	io.WriteString(conn, "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n"+strings.Repeat("b", 200<<10))
	conn.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != 500 || body != "Internal Server Error\n" || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" ||
		resp.Header.Get("X-Content-Type-Options") != "nosniff" || c.n() != 0 {
		t.Errorf("status %d %q %v after %d calls", resp.StatusCode, body, resp.Header, c.n())
	}
}

// An HTTP/2 request body is an io.Closer: putting back what was read of a
// body over the limit must not close it before its rest is read.
func TestRetryLargeClosableBody(t *testing.T) {
	data := randomBytes(t, 100<<10)
	var req fasthttp.Request
	req.SetBodyStream(&closable{r: bytes.NewReader(data)}, -1)
	var b replayBody
	if err := b.read(&req, 1024); !errors.Is(err, errTooLarge) {
		t.Fatalf("err = %v, want too large", err)
	}
	defer b.close()
	got, err := io.ReadAll(req.BodyStream())
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("body of %d bytes (%v), want the %d sent", len(got), err, len(data))
	}
}

// closable fails reads once closed, as an HTTP/2 request body does.
type closable struct {
	r      io.Reader
	closed bool
}

func (c *closable) Read(p []byte) (int, error) {
	if c.closed {
		return 0, errors.New("read after close")
	}
	return c.r.Read(p)
}

func (c *closable) Close() error { c.closed = true; return nil }

func TestNotSent(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{fmt.Errorf("wrapped: %w", &net.OpError{Op: "dial", Err: errors.New("refused")}), true},
		{fasthttp.ErrDialTimeout, true},
		{fasthttp.ErrNoFreeConns, true},
		{fasthttp.ErrTLSHandshakeTimeout, true},
		{&net.DNSError{Err: "no such host", Name: "x"}, true},
		{fasthttp.ErrConnectionClosed, false},
		{fasthttp.ErrTimeout, false},
		{io.EOF, false},
		{&net.OpError{Op: "read", Err: errors.New("connection reset by peer")}, false},
		{&net.OpError{Op: "write", Err: errors.New("broken pipe")}, false},
	}
	for _, tc := range tests {
		if got := notSent(tc.err); got != tc.want {
			t.Errorf("notSent(%v) = %v", tc.err, got)
		}
	}
}
