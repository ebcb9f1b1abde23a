package main

// The reliability matrix, continued: slow clients (docs/reliability.md
// §A1.3 S2, S3, S5; §A1.10 E2), beside TestSlowClients. Each test logs its
// figures (connections held, when the proxy closed the slow ones, a
// normal client's latency meanwhile); time is only ever logged, except
// for generous bounds on whether the proxy closes a connection at all.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// latencyProbe sends GET / (to whoami-a, Host a.test) over one keep-alive
// HTTP/1.1 connection every 20 ms until stop is called, which returns the
// latencies of the 200s and the failures.
func latencyProbe(base string) (stop func() (lat []time.Duration, fails []string)) {
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{}}
	var (
		mu    sync.Mutex
		lat   []time.Duration
		fails []string
		done  = make(chan struct{})
		ended = make(chan struct{})
	)
	go func() {
		defer close(ended)
		for {
			req, _ := http.NewRequest("GET", base+"/probe", nil)
			req.Host = "a.test"
			t0 := time.Now()
			resp, err := c.Do(req)
			var fail string
			if err != nil {
				fail = err.Error()
			} else {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || backendName(string(b)) != "whoami-a" {
					fail = fmt.Sprintf("%d %.40q", resp.StatusCode, b)
				}
			}
			d := time.Since(t0)
			mu.Lock()
			if fail == "" {
				lat = append(lat, d)
			} else if len(fails) < 5 {
				fails = append(fails, fail)
			}
			mu.Unlock()
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() ([]time.Duration, []string) {
		close(done)
		<-ended
		c.CloseIdleConnections()
		mu.Lock()
		defer mu.Unlock()
		return lat, fails
	}
}

// quantile of ds (sorted in place), for logging.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(q*float64(len(ds))))].Round(10 * time.Microsecond)
}

func latencySummary(lat []time.Duration) string {
	return fmt.Sprintf("%d requests, p50 %v, p99 %v, max %v", len(lat), quantile(lat, 0.5), quantile(lat, 0.99), quantile(lat, 1))
}

// checkProbe fails the test when the normal client was not served.
func checkProbe(t *testing.T, lat []time.Duration, fails []string) {
	t.Helper()
	if len(lat) == 0 || len(fails) > 0 {
		t.Errorf("normal client meanwhile: %d × 200, failures %v", len(lat), fails)
	}
}

// proxySockets reads the kernel's table of IPv4 TCP sockets (the test and
// the proxy share the network namespace) and returns, for each socket
// whose local port is proxyPort, its state by the remote (client) port:
// the proxy's side of each client connection. "01" is ESTABLISHED; a
// socket the proxy has closed is in another state, or gone.
func proxySockets(t *testing.T, proxyPort int) map[int]string {
	t.Helper()
	m, err := readProxySockets(proxyPort)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func readProxySockets(proxyPort int) (map[int]string, error) {
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return nil, err
	}
	out := map[int]string{}
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		_, lp, _ := strings.Cut(f[1], ":")
		_, rp, _ := strings.Cut(f[2], ":")
		l, _ := strconv.ParseUint(lp, 16, 16)
		r, _ := strconv.ParseUint(rp, 16, 16)
		if int(l) == proxyPort {
			out[int(r)] = f[3]
		}
	}
	return out, nil
}

// closeWatch notes, for client connections to the proxy, how long after
// a start time (their request, or going idle) the proxy closed its side,
// polling the kernel's table from a goroutine of its own. A socket
// counts as closed when its state is no longer ESTABLISHED, or when it is
// missing from two polls in a row (a read of /proc/net/tcp can miss a
// line while the table changes).
type closeWatch struct {
	mu      sync.Mutex
	start   map[int]time.Time     // by client port
	closed  map[int]time.Duration // by client port
	missing map[int]bool          // absent from the last poll
	err     error
	stop    chan struct{}
	done    chan struct{}
}

func watchCloses(proxyPort int, every time.Duration) *closeWatch {
	w := &closeWatch{start: map[int]time.Time{}, closed: map[int]time.Duration{}, missing: map[int]bool{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			states, err := readProxySockets(proxyPort)
			now := time.Now()
			w.mu.Lock()
			w.err = err
			for p, t0 := range w.start {
				if _, seen := w.closed[p]; seen || err != nil {
					continue
				}
				st, ok := states[p]
				if ok && st != "01" || !ok && w.missing[p] {
					w.closed[p] = now.Sub(t0)
				}
				w.missing[p] = !ok
			}
			w.mu.Unlock()
			select {
			case <-w.stop:
				return
			case <-time.After(every):
			}
		}
	}()
	return w
}

// from starts the clock for c at t0.
func (w *closeWatch) from(c net.Conn, t0 time.Time) {
	w.mu.Lock()
	w.start[portOf(c.LocalAddr())] = t0
	w.mu.Unlock()
}

// closedOf returns the delays noted for conns so far.
func (w *closeWatch) closedOf(conns []net.Conn) []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []time.Duration
	for _, c := range conns {
		if d, ok := w.closed[portOf(c.LocalAddr())]; ok {
			out = append(out, d)
		}
	}
	return out
}

func (w *closeWatch) finish(t *testing.T) {
	t.Helper()
	close(w.stop)
	<-w.done
	if w.err != nil {
		t.Fatal(w.err)
	}
}

func portOf(a net.Addr) int { return a.(*net.TCPAddr).Port }

// TestSlowBody is §A1.3 S2: clients that send their headers and then
// trickle the request body, a byte every 250 ms, past the entry point's
// readTimeout (2 s), 20 of them over HTTP/1.1 and 5 over HTTP/2 (TLS).
// The proxy must give up on each (close the connection; on HTTP/2, end
// the stream), release the backend request it had started, and keep
// serving a normal client.
func TestSlowBody(t *testing.T) {
	const readTimeout = 2 * time.Second
	e := h2Setup(t, "--entryPoints.web.transport.respondingTimeouts.readTimeout=2s")
	probe := latencyProbe("http://" + e.addr)
	const h1N, h2N = 20, 5
	budget := 10 * readTimeout // the proxy must have closed them by then
	// 48 KiB at once, so that the proxy has begun the backend request
	// (it forwards the headers once its write buffer fills), then a byte
	// every 250 ms.
	head := strings.Repeat("h", 48<<10)
	type result struct {
		proto  string
		closed time.Duration // since the request's first byte; 0: not closed within the budget
		answer string        // what the proxy sent first, if anything
	}
	results := make(chan result, h1N+h2N)
	var wg sync.WaitGroup
	for i := range h1N {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", e.addr)
			if err != nil {
				results <- result{proto: "HTTP/1.1", answer: err.Error()}
				return
			}
			defer c.Close()
			t0 := time.Now()
			fmt.Fprintf(c, "POST /hold/now/slow-body-%d HTTP/1.1\r\nHost: a.test\r\nContent-Length: 1000000\r\n\r\n%s", i, head)
			br := bufio.NewReader(c)
			for time.Since(t0) < budget {
				time.Sleep(250 * time.Millisecond)
				if _, err := c.Write([]byte("x")); err != nil {
					results <- result{"HTTP/1.1", time.Since(t0), "write: " + err.Error()}
					return
				}
				c.SetReadDeadline(time.Now().Add(time.Millisecond))
				line, err := br.ReadString('\n')
				if err == nil || !isTimeout(err) {
					results <- result{"HTTP/1.1", time.Since(t0), strings.TrimSpace(line) + errText(err)}
					return
				}
			}
			results <- result{proto: "HTTP/1.1"}
		}()
	}
	for i := range h2N {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dialH2(t, e.addr, true, 0)
			o, _, done := c.reader(budget + 5*time.Second)
			t0 := time.Now()
			if err := c.request(1, "POST", fmt.Sprintf("/hold/now/slow-body-h2-%d", i), false, "content-length", "1000000"); err != nil {
				results <- result{proto: "HTTP/2", answer: err.Error()}
				return
			}
			for j := 0; j < len(head); j += 16 << 10 {
				c.write(func(fr *http2.Framer) error { return fr.WriteData(1, false, []byte(head[j:j+16<<10])) })
			}
			ended := func(o *h2Outcome) bool { return o.closed || len(o.resets) > 0 || len(o.statuses) > 0 }
			for time.Since(t0) < budget && !o.holds(ended) {
				time.Sleep(250 * time.Millisecond)
				c.write(func(fr *http2.Framer) error { return fr.WriteData(1, false, []byte("x")) })
			}
			d := time.Since(t0)
			c.c.SetReadDeadline(time.Now())
			<-done
			if !ended(o) {
				results <- result{proto: "HTTP/2"}
				return
			}
			results <- result{"HTTP/2", d, fmt.Sprintf("statuses %v, resets %v", o.statuses, o.resets)}
		}()
	}
	wg.Wait()
	close(results)
	lat, fails := probe()
	closed := map[string][]time.Duration{}
	answers := map[string]int{}
	for r := range results {
		if r.closed == 0 {
			t.Errorf("%s: a slow body was still accepted %v after the request began (readTimeout %v)", r.proto, budget, readTimeout)
			continue
		}
		closed[r.proto] = append(closed[r.proto], r.closed)
		answers[r.proto+" "+r.answer]++
	}
	for p, what := range map[string]string{"HTTP/1.1": "connections closed", "HTTP/2": "streams ended"} {
		t.Logf("slow body, %s: %d %s by the proxy %v–%v after the request began (median %v; readTimeout %v)",
			p, len(closed[p]), what, quantile(closed[p], 0), quantile(closed[p], 1), quantile(closed[p], 0.5), readTimeout)
	}
	t.Logf("slow body: what the proxy sent: %v", answers)
	t.Logf("slow body: normal client meanwhile: %s", latencySummary(lat))
	checkProbe(t, lat, fails)
	// Every backend request the proxy started for a slow body ends, its
	// body cut short: the proxy gave up its upstream side too.
	waitFor(t, "the backend requests to end", func() bool { return e.hold.active.Load() == 0 })
	started, cut := e.hold.count.Load(), e.hold.bodyErrs.Load()
	t.Logf("slow body: the backend saw %d requests, %d bodies cut short", started, cut)
	if started == 0 || cut != started {
		t.Errorf("the backend saw %d requests and %d bodies cut short: want every slow body begun upstream, and cut", started, cut)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return " (" + err.Error() + ")"
}

// TestSlowRead is §A1.3 S3: clients that request a 1 GiB response and
// never read it, 20 over HTTP/1.1 (with a 4 KiB receive buffer), 5 over
// HTTP/2 (TLS) that read frames but never grant flow-control window, and
// 3 over HTTP/2 that grant it but never read their socket. The entry
// point's writeTimeout (2 s) must end each (stream or connection), and the
// proxy must not buffer the responses meanwhile: its RSS stays within
// 64 MiB of where it began.
func TestSlowRead(t *testing.T) {
	const writeTimeout = 2 * time.Second
	e := h2Setup(t, "--entryPoints.web.transport.respondingTimeouts.writeTimeout=2s")
	pid := e.proxy.cmd.Process.Pid
	_, proxyPortS, _ := net.SplitHostPort(e.addr)
	proxyPort, _ := strconv.Atoi(proxyPortS)
	probe := latencyProbe("http://" + e.addr)
	before := rssKB(pid)
	stopRSS := peakRSS(pid)
	budget := 10 * writeTimeout
	const h1N, h2N, h2StallN = 20, 5, 3
	const path = "/data?size=1073741824"

	// HTTP/1.1: the requests go out, then nothing is read; the kernel's
	// table tells when the proxy closed its side.
	t0 := time.Now()
	watch := watchCloses(proxyPort, 50*time.Millisecond)
	var conns []net.Conn
	for range h1N {
		d := &net.Dialer{Control: smallRcvBuf(clientRcvBuf)}
		c, err := d.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: a.test\r\n\r\n", path)
		watch.from(c, time.Now())
		conns = append(conns, c)
	}
	// HTTP/2: one stream each; the reader notes when it is reset.
	type h2r struct {
		o    *h2Outcome
		done chan struct{}
		t0   time.Time
		c    *h2Conn
	}
	var h2s []h2r
	for range h2N {
		c := dialH2(t, e.addr, true, 0)
		o, _, done := c.reader(budget + 5*time.Second)
		t1 := time.Now()
		if err := c.request(1, "GET", path, true); err != nil {
			t.Fatal(err)
		}
		h2s = append(h2s, h2r{o, done, t1, c})
	}
	// HTTP/2 connections that grant all the window a 1 GiB answer needs
	// and never read their socket, while sending a frame every 500 ms (so
	// that the server's ping timeout never finds them idle): the
	// connection's frame writer blocks; the proxy must close it.
	var stalled []net.Conn
	stopKeep := make(chan struct{})
	defer close(stopKeep)
	for range h2StallN {
		c := dialH2(t, e.addr, true, clientRcvBuf)
		c.write(func(fr *http2.Framer) error {
			return fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 30})
		})
		c.write(func(fr *http2.Framer) error { return fr.WriteWindowUpdate(0, 1<<30) })
		if err := c.request(1, "GET", path, true); err != nil {
			t.Fatal(err)
		}
		watch.from(c.c, time.Now())
		stalled = append(stalled, c.c)
		go func() {
			for {
				select {
				case <-stopKeep:
					return
				case <-time.After(500 * time.Millisecond):
				}
				if c.write(func(fr *http2.Framer) error { return fr.WriteWindowUpdate(0, 1) }) != nil {
					return
				}
			}
		}()
	}
	h2Ended := func(o *h2Outcome) bool { return o.closed || len(o.resets) > 0 }
	for time.Since(t0) < budget {
		n := 0
		for _, h := range h2s {
			if h.o.holds(h2Ended) {
				n++
			}
		}
		if len(watch.closedOf(conns)) == h1N && n == h2N && len(watch.closedOf(stalled)) == h2StallN {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	watch.finish(t)
	peak := stopRSS()
	lat, fails := probe()
	h1Closed, stallClosed := watch.closedOf(conns), watch.closedOf(stalled)
	var h2Closed []time.Duration
	var h2Bytes []string
	for _, h := range h2s {
		h.c.c.SetReadDeadline(time.Now())
		<-h.done
		if h2Ended(h.o) {
			at := h.o.closedAt
			if len(h.o.resets) > 0 {
				at = h.o.resetAt
			}
			h2Closed = append(h2Closed, at.Sub(h.t0))
		}
		h2Bytes = append(h2Bytes, fmt.Sprintf("%d B %v", h.o.body.Len(), h.o.resets))
	}
	t.Logf("slow read, HTTP/1.1: %d of %d connections closed by the proxy %v–%v after the request (median %v; writeTimeout %v)",
		len(h1Closed), h1N, quantile(h1Closed, 0), quantile(h1Closed, 1), quantile(h1Closed, 0.5), writeTimeout)
	t.Logf("slow read, HTTP/2: %d of %d streams reset %v–%v after the request (received before: %v)",
		len(h2Closed), h2N, quantile(h2Closed, 0), quantile(h2Closed, 1), h2Bytes)
	t.Logf("slow read, HTTP/2 socket never read: %d of %d connections closed by the proxy %v–%v after the request",
		len(stallClosed), h2StallN, quantile(stallClosed, 0), quantile(stallClosed, 1))
	t.Logf("slow read: proxy RSS %d KiB before, peak %d KiB; normal client meanwhile: %s", before, peak, latencySummary(lat))
	if len(h1Closed) < h1N {
		t.Errorf("HTTP/1.1: %d of %d readers that never read were still connected %v after their request (writeTimeout %v)", h1N-len(h1Closed), h1N, budget, writeTimeout)
	}
	if len(h2Closed) < h2N {
		t.Errorf("HTTP/2: %d of %d streams that were never granted window still open %v after their request (writeTimeout %v)", h2N-len(h2Closed), h2N, budget, writeTimeout)
	}
	if len(stallClosed) < h2StallN {
		t.Errorf("HTTP/2: %d of %d connections whose socket is never read still open %v after their request (writeTimeout %v)", h2StallN-len(stallClosed), h2StallN, budget, writeTimeout)
	}
	if grew := peak - before; grew > 64<<10 {
		t.Errorf("proxy RSS grew by %d KiB with %d stalled 1 GiB responses: they are being buffered", grew, h1N+h2N+h2StallN)
	}
	checkProbe(t, lat, fails)
}

// TestTenThousandIdle is §A1.3 S5 and §A1.10 E2: 10,000 keep-alive
// connections, each idle after one request, held at once while a normal
// client is served; then the entry point's idleTimeout (20 s) closes
// them all. Logs the connections held, the proxy's RSS with them, when it
// closed them, and the normal client's latency meanwhile.
func TestTenThousandIdle(t *testing.T) {
	const n = 10000
	const idleTimeout = 20 * time.Second
	// Both ends of every connection are on this machine: the test holds
	// n sockets, the proxy n more (Go raises each process's soft limit to
	// the hard one at start; the proxy inherits the test's hard limit).
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if need := uint64(n + 1000); rl.Cur < need || rl.Max < need {
		rl.Cur, rl.Max = max(rl.Cur, need), max(rl.Max, need)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			t.Fatalf("RLIMIT_NOFILE is %d and cannot be raised to %d (%v): run as root or with `ulimit -Hn %d`", rl.Max, need, err, need)
		}
	}
	e := setup(t, "--entryPoints.web.transport.respondingTimeouts.idleTimeout=20s")
	addr := strings.TrimPrefix(e.base, "http://")
	_, proxyPortS, _ := net.SplitHostPort(addr)
	proxyPort, _ := strconv.Atoi(proxyPortS)
	pid := e.proxy.cmd.Process.Pid
	before := rssKB(pid)

	// Open them 50 at a time; each sends one request, reads its answer
	// and stays open. idle[i] is when connection i went idle.
	conns := make([]net.Conn, n)
	idleSince := make([]time.Time, n)
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	})
	openStart := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c, err := net.DialTimeout("tcp", addr, 10*time.Second)
				if err != nil {
					errs <- fmt.Errorf("connection %d: %v", i, err)
					return
				}
				conns[i] = c
				c.SetDeadline(time.Now().Add(30 * time.Second))
				io.WriteString(c, "GET /idle HTTP/1.1\r\nHost: a.test\r\n\r\n")
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil || resp.StatusCode != 200 {
					errs <- fmt.Errorf("connection %d: %v %v", i, resp, err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				c.SetDeadline(time.Time{})
				idleSince[i] = time.Now()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	openTime := time.Since(openStart)
	lastIdle := slices.MaxFunc(idleSince, func(a, b time.Time) int { return a.Compare(b) })
	if openTime > idleTimeout/2 {
		t.Logf("opening took %v, more than half the idle timeout: some connections may close before all are held", openTime)
	}

	// Held: a normal client meanwhile, for 5 s.
	probe := latencyProbe(e.base)
	time.Sleep(5 * time.Second)
	lat, fails := probe()
	states := proxySockets(t, proxyPort)
	held := 0
	for _, c := range conns {
		if states[portOf(c.LocalAddr())] == "01" {
			held++
		}
	}
	rss := rssKB(pid)
	t.Logf("10k idle: %d connections opened in %v (one request each), %d held by the proxy 5 s after the last went idle; proxy RSS %d KiB before, %d KiB with them (%.1f KiB each)",
		n, openTime.Round(time.Millisecond), held, before, rss, float64(rss-before)/float64(max(held, 1)))
	t.Logf("10k idle: normal client while they were held: %s", latencySummary(lat))
	checkProbe(t, lat, fails)
	// E2: bounded per connection (about 22 KiB each measured when this
	// was written; fasthttp's own buffers are 32 KiB to read, 16 KiB to
	// write, touched only in part).
	if perConn := (rss - before) / max(held, 1); perConn > 64 {
		t.Errorf("proxy RSS grew by %d KiB per idle connection", perConn)
	}
	if held < n*9/10 {
		t.Errorf("only %d of %d idle connections were held: the proxy dropped them before its idleTimeout (%v)", held, n, idleTimeout)
	}

	// Then the idle timeout: when did the proxy close each, counted from
	// the moment it went idle.
	watch := watchCloses(proxyPort, 250*time.Millisecond)
	for i, c := range conns {
		watch.from(c, idleSince[i])
	}
	var closedAfter []time.Duration
	for deadline := lastIdle.Add(idleTimeout + 30*time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if closedAfter = watch.closedOf(conns); len(closedAfter) == n {
			break
		}
	}
	watch.finish(t)
	closedAfter = watch.closedOf(conns)
	t.Logf("10k idle: %d of %d closed by the proxy %v–%v after going idle (median %v; idleTimeout %v; sampled every 250 ms)",
		len(closedAfter), n, quantile(closedAfter, 0), quantile(closedAfter, 1), quantile(closedAfter, 0.5), idleTimeout)
	if len(closedAfter) < n {
		t.Errorf("%d of %d idle connections still open 30 s past the idleTimeout", n-len(closedAfter), n)
	}
	if code, body := fetch(t, e.base+"/", "a.test"); code != 200 || backendName(body) != "whoami-a" {
		t.Errorf("afterwards: %d %q", code, body)
	}
}
