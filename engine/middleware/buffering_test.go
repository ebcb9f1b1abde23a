package middleware

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestBufferingConfig(t *testing.T) {
	bad := []struct{ config, want string }{
		{`{"memRequestBodyBytes":-1}`, "memRequestBodyBytes: mem bytes should be >= 0 got -1"},
		{`{"maxRequestBodyBytes":-1}`, "maxRequestBodyBytes: max bytes should be >= 0 got -1"},
		{`{"memResponseBodyBytes":-2}`, "memResponseBodyBytes: mem bytes should be >= 0 got -2"},
		{`{"maxResponseBodyBytes":-3}`, "maxResponseBodyBytes: max bytes should be >= 0 got -3"},
		{`{"disableRequestBuffer":true}`, `"disableRequestBuffer" is not supported`},
	}
	for _, tc := range bad {
		if _, err := tryBuild("buffering", tc.config); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.config, err, tc.want)
		}
	}
	if _, err := tryBuild("buffering", `{}`); err != nil {
		t.Errorf("empty configuration: %v", err)
	}
	// What oxy's predicate parser refuses, each with its reason.
	expressions := []struct{ expr, want string }{
		{" ", "not an expression"},
		{"IsNetworkError() &&", "not an expression"},
		{"Attempts()", "is not a condition"},
		{"2", "is not a condition"},
		{`"GET"`, "is not a condition"},
		{"!IsNetworkError()", "operator ! is not supported"},
		{"Attempts() > -1", "operator - is not supported"},
		{"Attempts() + 1 > 2", "operator + is not supported"},
		{"Attempts() & 1 == 1", "operator & is not supported"},
		{"IsNetworkError() && Attempts()", "Attempts() is not a condition"},
		{"2 > Attempts()", "the left side of > must be"},
		{"IsNetworkError() == 1", "the left side of == must be"},
		{"ResponseCode() == Attempts()", "compared with an integer"},
		{"ResponseCode() == 502.0", "compared with an integer"},
		{`ResponseCode() == "502"`, "compared with an integer"},
		{"ResponseCode() == 0x1F6", "not a decimal integer"},
		{"ResponseCode() == 5_02", "not a decimal integer"},
		{"ResponseCode() == 'a'", "unsupported literal"},
		{`RequestMethod() < "POST"`, "compared with == or != only"},
		{"RequestMethod() == 1", "compared with a string"},
		{"IsNetworkError(1)", "takes no arguments"},
		{"Attempt() < 2", "unsupported function"},
		{"oxy.Attempts() < 2", "unsupported function"},
		{"true", "true is not defined"},
		{"IsNetworkError() && retries < 2", "retries is not defined"},
		{"Attempts()[0] < 2", "not supported"},
		{"Attempts() < 2 < 3", "the left side of < must be"},
	}
	for _, tc := range expressions {
		config := fmt.Sprintf(`{"retryExpression":%q}`, tc.expr)
		if _, err := tryBuild("buffering", config); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.expr, err, tc.want)
		}
	}
}

// The expression language evaluated: attempt, status, method.
func TestRetryExpressionEval(t *testing.T) {
	tests := []struct {
		expr    string
		attempt int
		code    int
		method  string
		want    bool
	}{
		{"IsNetworkError() && Attempts() < 2", 1, 502, "GET", true},
		{"IsNetworkError() && Attempts() < 2", 1, 504, "GET", true},
		{"IsNetworkError() && Attempts() < 2", 2, 502, "GET", false},
		{"IsNetworkError() && Attempts() < 2", 1, 503, "GET", false},
		{"IsNetworkError() && Attempts() <= 2", 2, 502, "GET", true},
		{"IsNetworkError() && Attempts() <= 2", 3, 502, "GET", false},
		{"Attempts() <= 2 && ResponseCode() == 502", 1, 502, "GET", true},
		{"ResponseCode() != 200", 1, 201, "GET", true},
		{"ResponseCode() != 200", 1, 200, "GET", false},
		{"ResponseCode() >= 500", 1, 500, "GET", true},
		{"ResponseCode() >= 500", 1, 499, "GET", false},
		{"ResponseCode() > 500", 1, 500, "GET", false},
		{"(ResponseCode() == 503 || ResponseCode() == 429) && Attempts() < 3", 2, 429, "GET", true},
		{"ResponseCode() == 503 || ResponseCode() == 429 && Attempts() < 3", 5, 503, "GET", true},
		{"(ResponseCode() == 503 || ResponseCode() == 429) && Attempts() < 3", 5, 503, "GET", false},
		{`RequestMethod() == "GET" && IsNetworkError()`, 1, 502, "GET", true},
		{`RequestMethod() == "GET" && IsNetworkError()`, 1, 502, "POST", false},
		{"RequestMethod() != `POST`", 1, 502, "GET", true},
		{"((IsNetworkError()))", 1, 504, "GET", true},
	}
	for _, tc := range tests {
		p, err := parseRetryExpression(tc.expr)
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		if got := p.eval(tc.attempt, tc.code, []byte(tc.method)); got != tc.want {
			t.Errorf("%s with attempt %d, code %d, %s: %v", tc.expr, tc.attempt, tc.code, tc.method, got)
		}
	}
}

// echoBody answers 200 with the request body.
var echoBody = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.Copy(w, r.Body)
})

// Traefik's TestBuffering: the limits and their exact answers.
func TestBufferingLimits(t *testing.T) {
	payload := randomBytes(t, 127)
	tests := []struct {
		desc, config string
		status       int
		body         string // "" means the payload
	}{
		{"unlimited response and request body size", `{}`, 200, ""},
		{"limited request body size", `{"maxRequestBodyBytes":1}`, 413, "Request Entity Too Large"},
		{"limited response body size", `{"maxResponseBodyBytes":1}`, 500, "Internal Server Error"},
		{"request body at its limit", `{"maxRequestBodyBytes":127}`, 200, ""},
		{"response body at its limit", `{"maxResponseBodyBytes":127}`, 200, ""},
		{"request limit below the memory threshold", `{"maxRequestBodyBytes":126,"memRequestBodyBytes":1000}`, 413, "Request Entity Too Large"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			for _, chunked := range []bool{false, true} {
				var hits atomic.Int32
				be := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					hits.Add(1)
					echoBody(w, r)
				})
				url := front(t, be, buildOne(t, "buffering", tc.config))
				var body io.Reader = bytes.NewReader(payload)
				if chunked {
					body = unsized{body}
				}
				resp := do(t, "POST", url+"/", body)
				got := readAll(t, resp)
				want := tc.body
				if want == "" {
					want = string(payload)
				}
				if resp.StatusCode != tc.status || got != want {
					t.Fatalf("chunked %v: status %d, body %q", chunked, resp.StatusCode, got)
				}
				if tc.status != 200 && resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
					t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
				}
				if tc.status == 413 && hits.Load() != 0 {
					t.Error("a request over its limit reached the backend")
				}
			}
		})
	}
}

// oxy's chunked cases over a raw connection: a chunked body reaches the
// backend with its length; over the limit it is refused.
func TestBufferingChunkedRequest(t *testing.T) {
	const raw = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\ntest\r\n5\r\ntest1\r\n5\r\ntest2\r\n0\r\n\r\n"
	var seen atomic.Value
	be := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen.Store(fmt.Sprintf("%s %d %v", b, r.ContentLength, r.TransferEncoding))
		io.WriteString(w, "hello")
	})
	for _, tc := range []struct{ config, status, seen string }{
		{`{}`, "HTTP/1.1 200 OK\r\n", "testtest1test2 14 []"},
		{`{"memRequestBodyBytes":4,"maxRequestBodyBytes":8}`, "HTTP/1.1 413 Request Entity Too Large\r\n", ""},
		{`{"memRequestBodyBytes":4,"maxRequestBodyBytes":14}`, "HTTP/1.1 200 OK\r\n", "testtest1test2 14 []"},
	} {
		seen.Store("")
		url := front(t, be, buildOne(t, "buffering", tc.config))
		conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(conn, raw)
		line, _ := bufio.NewReader(conn).ReadString('\n')
		conn.Close()
		if line != tc.status || seen.Load() != tc.seen {
			t.Errorf("%s: %q, backend saw %q", tc.config, line, seen.Load())
		}
	}
}

// openTemps counts this process's open files under dir.
func openTemps(t testing.TB, dir string) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	n := 0
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.HasPrefix(target, dir) {
			n++
		}
	}
	return n
}

// A body over memRequestBodyBytes goes to a temporary file (unlinked at
// once, closed after the request) and reaches the backend intact; under
// it, no file is made.
func TestBufferingRequestSpill(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	for _, tc := range []struct {
		size, mem int
		chunked   bool
		files     int
	}{
		{5 << 20, 1024, false, 1},
		{5 << 20, 1024, true, 1},
		{1024, 1024, true, 0},
		{1025, 1024, false, 1},
		{100, 0, false, 0}, // 0: oxy's 1 MiB
	} {
		t.Run(fmt.Sprint(tc.size, tc.mem, tc.chunked), func(t *testing.T) {
			data := randomBytes(t, tc.size)
			var during atomic.Int32
			var sum atomic.Value
			be := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				during.Store(int32(openTemps(t, dir)))
				h := sha256.New()
				io.Copy(h, r.Body)
				sum.Store(string(h.Sum(nil)))
				io.WriteString(w, strconv.FormatInt(r.ContentLength, 10))
			})
			url := front(t, be, buildOne(t, "buffering", fmt.Sprintf(`{"memRequestBodyBytes":%d}`, tc.mem)))
			var body io.Reader = bytes.NewReader(data)
			if tc.chunked {
				body = unsized{body}
			}
			resp := do(t, "PUT", url+"/", body)
			got := readAll(t, resp)
			want := sha256.Sum256(data)
			if resp.StatusCode != 200 || sum.Load() != string(want[:]) || got != strconv.Itoa(tc.size) {
				t.Fatalf("status %d, backend saw length %s and another body", resp.StatusCode, got)
			}
			if int(during.Load()) != tc.files {
				t.Errorf("%d temporary files open while forwarding, want %d", during.Load(), tc.files)
			}
			if n := openTemps(t, dir); n != 0 {
				t.Errorf("%d temporary files still open", n)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("left in the temporary directory: %v", left)
			}
		})
	}
}

// Response limits (oxy's cases) and spilled responses.
func TestBufferingResponse(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	long := "hello, this response is too large to fit in memory"
	tests := []struct {
		desc, config, body string
		chunked            bool
		status             int
	}{
		{"small limit with body larger than max response bytes", `{"maxResponseBodyBytes":4}`, "hello, this response is too large", false, 500},
		{"small limit with body larger than 32768 bytes", `{"maxResponseBodyBytes":4}`, strings.Repeat("A", 32769), false, 500},
		{"larger limit with body larger than 32768 bytes", `{"maxResponseBodyBytes":2000}`, strings.Repeat("A", 32769), false, 500},
		{"larger limit with body larger than 32768 + 1999 bytes", `{"maxResponseBodyBytes":2000}`, strings.Repeat("A", 32769+1999), false, 500},
		{"larger limit with body larger than 65536 + 2000 bytes", `{"maxResponseBodyBytes":2000}`, strings.Repeat("A", 65537+2000), true, 500},
		{"spilled to a file", `{"memResponseBodyBytes":4}`, long, false, 200},
		{"spilled chunked", `{"memResponseBodyBytes":4}`, long, true, 200},
		{"large spilled", `{"memResponseBodyBytes":1024}`, strings.Repeat("0123456789", 300<<10), true, 200},
		{"large spilled within its limit", `{"memResponseBodyBytes":1024,"maxResponseBodyBytes":3072000}`, strings.Repeat("0123456789", 300<<10), true, 200},
		{"large spilled over its limit", `{"memResponseBodyBytes":1024,"maxResponseBodyBytes":3071999}`, strings.Repeat("0123456789", 300<<10), false, 500},
		{"chunked becomes sized", `{}`, "testtest1test2", true, 200},
		{"empty chunked", `{}`, "", true, 200},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			be := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Upstream", "1")
				if !tc.chunked {
					w.Header().Set("Content-Length", strconv.Itoa(len(tc.body)))
				}
				io.WriteString(w, tc.body)
				w.(http.Flusher).Flush() // chunked
			})
			url := front(t, be, buildOne(t, "buffering", tc.config))
			resp := do(t, "GET", url+"/", nil)
			got := readAll(t, resp)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status == 500 {
				if got != "Internal Server Error" || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" || resp.Header.Get("X-Upstream") != "" {
					t.Errorf("answer %q %v", got, resp.Header)
				}
				return
			}
			if got != tc.body || resp.Header.Get("X-Upstream") != "1" {
				t.Errorf("body of %d bytes, want %d; %v", len(got), len(tc.body), resp.Header)
			}
			// Read in full, the answer has its length.
			if resp.ContentLength != int64(len(tc.body)) || len(resp.TransferEncoding) != 0 {
				t.Errorf("Content-Length %d, Transfer-Encoding %v", resp.ContentLength, resp.TransferEncoding)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("left in the temporary directory: %v", left)
			}
		})
	}
}

// Answers without a body (oxy's expectBody): HEAD, 204, 304, an empty
// length, a gRPC error.
func TestBufferingNoBody(t *testing.T) {
	tests := []struct {
		desc, method string
		handler      http.HandlerFunc
		status       int
		body         string
		length       int64
	}{
		{"not modified", "GET", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(304) }, 304, "", -1},
		{"no content", "GET", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }, 204, "", -1},
		{"no body", "GET", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }, 200, "", 0},
		{"head keeps its length", "HEAD", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "5")
			w.WriteHeader(200)
		}, 200, "", 5},
		{"grpc error", "POST", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Grpc-Status", "10")
			io.WriteString(w, "dropped")
			w.(http.Flusher).Flush()
		}, 200, "", 0},
		{"grpc ok", "POST", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Grpc-Status", "0")
			io.WriteString(w, "grpc-body")
			w.(http.Flusher).Flush()
		}, 200, "grpc-body", 9},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			url := front(t, tc.handler, buildOne(t, "buffering", `{}`))
			resp := do(t, tc.method, url+"/", nil)
			got := readAll(t, resp)
			if resp.StatusCode != tc.status || got != tc.body || tc.length >= 0 && resp.ContentLength != tc.length {
				t.Errorf("status %d, body %q, length %d", resp.StatusCode, got, resp.ContentLength)
			}
		})
	}
}

// An upstream that breaks off its body fails the answer (Traefik aborts
// the client connection).
func TestBufferingBrokenResponse(t *testing.T) {
	be := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, bw, _ := w.(http.Hijacker).Hijack()
		bw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
		bw.Flush()
		c.Close()
	})
	url := front(t, be, buildOne(t, "buffering", `{}`))
	req, _ := http.NewRequest("GET", url+"/", nil)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Error("a broken upstream body reached the client as a whole answer")
	}
}

// retryExpression replays the buffered request (oxy's retry tests).
func TestBufferingRetryExpression(t *testing.T) {
	tests := []struct {
		desc, expr, config string
		faulty             int // unreachable attempts
		codes              []int
		wantCalls, status  int
	}{
		{"success", "IsNetworkError() && Attempts() <= 2", `"memRequestBodyBytes":1`, 0, nil, 1, 200},
		{"retry on error", "IsNetworkError() && Attempts() <= 2", `"memRequestBodyBytes":1`, 1, nil, 2, 200},
		{"retry exceeds attempts", "IsNetworkError() && Attempts() <= 2", `"memRequestBodyBytes":1`, 3, nil, 3, 502},
		{"at most 11 attempts", "Attempts() > 0", `"memRequestBodyBytes":1`, 20, nil, 11, 502},
		{"on a status", "ResponseCode() == 503", `"memRequestBodyBytes":4096`, 0, []int{503, 503}, 3, 200},
		{"on a status, in memory", "ResponseCode() == 503 && Attempts() < 2", `"memRequestBodyBytes":1048576`, 0, []int{503, 503}, 2, 503},
		{"method", `RequestMethod() == "POST" && ResponseCode() >= 500`, `"memRequestBodyBytes":1`, 0, []int{500}, 2, 200},
		{"method not matching", `RequestMethod() == "GET" && ResponseCode() >= 500`, `"memRequestBodyBytes":1`, 0, []int{500}, 1, 500},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			data := randomBytes(t, 10<<10)
			var c calls
			be := &backend{codes: tc.codes}
			config := fmt.Sprintf(`{"retryExpression":%q,%s}`, tc.expr, tc.config)
			url := front(t, be, buildOne(t, "buffering", config), c.mw, unreachable(t, tc.faulty))
			resp := do(t, "POST", url+"/", unsized{bytes.NewReader(data)})
			readAll(t, resp)
			if resp.StatusCode != tc.status || c.n() != tc.wantCalls {
				t.Fatalf("status %d after %d calls, want %d after %d", resp.StatusCode, c.n(), tc.status, tc.wantCalls)
			}
			for i, s := range c.all() {
				if s.attempt != i || !s.changes {
					t.Errorf("call %d saw Attempt %d, ChangesResponse %v", i, s.attempt, s.changes)
				}
			}
			for i, h := range be.all() {
				if h.sum != sha256.Sum256(data) || h.length != int64(len(data)) {
					t.Errorf("hit %d: body of %d bytes (length %d), not the one sent", i, h.size, h.length)
				}
			}
		})
	}
}

// A replay starts from the request as buffering got it.
func TestBufferingRetryRestoresRequest(t *testing.T) {
	be := &backend{codes: []int{503, 503}}
	url := front(t, be, buildOne(t, "buffering", `{"retryExpression":"ResponseCode() == 503"}`),
		buildOne(t, "addPrefix", `{"prefix":"/abc"}`))
	readAll(t, do(t, "GET", url+"/x?q", nil))
	hits := be.all()
	if len(hits) != 3 {
		t.Fatalf("%d hits", len(hits))
	}
	for i, h := range hits {
		if h.uri != "/abc/x?q" {
			t.Errorf("hit %d: %s", i, h.uri)
		}
	}
}

// An upgrade is left alone.
func TestBufferingHijacked(t *testing.T) {
	hijack := func(next Handler) Handler {
		return func(ctx *fasthttp.RequestCtx, r *Request) {
			ctx.HijackSetNoResponse(true)
			ctx.Hijack(func(c net.Conn) {
				io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
			})
		}
	}
	var c calls
	url := front(t, nil, buildOne(t, "buffering", `{"retryExpression":"Attempts() < 5"}`), c.mw, hijack)
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
}

// A request body that ends before its length is an error, as net/http's
// body reader makes it (oxy answers 500).
func TestBufferingTruncatedRequest(t *testing.T) {
	var c calls
	url := front(t, nil, buildOne(t, "buffering", `{}`), c.mw)
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n"+strings.Repeat("b", 200<<10))
	conn.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != 500 || body != "Internal Server Error" || c.n() != 0 {
		t.Errorf("status %d %q after %d calls", resp.StatusCode, body, c.n())
	}

	// A declared length over the limit is refused before any of it is
	// read: 413, not the truncation's 500.
	url = front(t, nil, buildOne(t, "buffering", `{"maxRequestBodyBytes":500000}`), c.mw)
	conn2, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	io.WriteString(conn2, "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n"+strings.Repeat("b", 200<<10))
	conn2.(*net.TCPConn).CloseWrite()
	resp, err = http.ReadResponse(bufio.NewReader(conn2), nil)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != 413 || body != "Request Entity Too Large" || c.n() != 0 {
		t.Errorf("status %d %q after %d calls", resp.StatusCode, body, c.n())
	}
}
