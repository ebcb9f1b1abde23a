package main

// The reliability matrix, continued: HTTP/2 abuse (docs/reliability.md
// §A1.4 H1–H5) against the real binary, with raw frames written by
// golang.org/x/net/http2's Framer over both h2c (prior knowledge on the
// plain port) and TLS with ALPN h2. Black-box on purpose: the tests only
// look at sockets, the process and a backend, so they hold whatever
// serves HTTP/2 behind the entry point.

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// holdBackend counts the requests it receives and holds each one until
// released (or 60 s pass), so that a flood of streams piles up handlers
// in the proxy instead of finishing between two frames.
type holdBackend struct {
	port     int
	count    atomic.Int64 // requests received
	active   atomic.Int64 // handlers running
	bodyErrs atomic.Int64 // request bodies that ended in an error (the proxy gave up on them)
	mu       sync.Mutex
	released chan struct{}
}

func newHoldBackend(t *testing.T) *holdBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &holdBackend{port: ln.Addr().(*net.TCPAddr).Port, released: make(chan struct{})}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.count.Add(1)
		b.active.Add(1)
		defer b.active.Add(-1)
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			b.bodyErrs.Add(1)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/hold/now") {
			fmt.Fprintf(w, "body %d", n)
			return
		}
		b.mu.Lock()
		rel := b.released
		b.mu.Unlock()
		select {
		case <-rel:
		case <-r.Context().Done():
		case <-time.After(60 * time.Second):
		}
		io.WriteString(w, "held")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { b.release(); srv.Close() })
	return b
}

// release lets every held request finish, and resets the count.
func (b *holdBackend) release() {
	b.mu.Lock()
	close(b.released)
	b.released = make(chan struct{})
	b.mu.Unlock()
}

type h2Env struct {
	addr   string // the one port: plain HTTP/1.1, h2c and TLS
	proxy  *proc
	hold   *holdBackend
	normal *http.Client // HTTP/2 over TLS, its own connections
}

const h2Routes = `apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: plain, namespace: default}
spec:
  routes:
    - match: PathPrefix(` + "`/`" + `)
      services: [{name: whoami-a, port: 80}]
    - match: PathPrefix(` + "`/hold`" + `)
      services: [{name: hold, port: 80}]
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: secure, namespace: default}
spec:
  tls: {}
  routes:
    - match: PathPrefix(` + "`/`" + `)
      services: [{name: whoami-a, port: 80}]
    - match: PathPrefix(` + "`/hold`" + `)
      services: [{name: hold, port: 80}]
`

func h2Setup(t *testing.T, extra ...string) *h2Env {
	t.Helper()
	_, pa := whoami(t, "whoami-a")
	e := &h2Env{hold: newHoldBackend(t)}
	dir := t.TempDir()
	manifests(t, dir, map[string]int{"whoami-a": pa, "hold": e.hold.port}, h2Routes)
	e.proxy = start(t, append([]string{"--entryPoints.web.address=127.0.0.1:0", "--providers.manifests.directory=" + dir}, extra...)...)
	e.addr = e.proxy.address(t)
	e.normal = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{ForceAttemptHTTP2: true,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: "a.test"}}}
	t.Cleanup(e.normal.CloseIdleConnections)
	return e
}

// normalClients fetch "/" from whoami-a over HTTP/2 (TLS) and HTTP/1.1,
// each on connections of their own, every 50 ms until stop is called,
// which returns how many answers were 200 and the first failures.
func (e *h2Env) normalClients(t *testing.T) (stop func() (ok int, fails []string)) {
	var (
		mu     sync.Mutex
		okN    int
		errs   []string
		wg     sync.WaitGroup
		closed = make(chan struct{})
	)
	h1 := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{}}
	for _, c := range []struct {
		client *http.Client
		url    string
		proto  int
	}{{e.normal, "https://" + e.addr + "/normal", 2}, {h1, "http://" + e.addr + "/normal", 1}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				req, _ := http.NewRequest("GET", c.url, nil)
				req.Host = "a.test"
				resp, err := c.client.Do(req)
				var failure string
				if err != nil {
					failure = err.Error()
				} else {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || resp.ProtoMajor != c.proto || !strings.HasPrefix(string(b), "Name: whoami-a") {
						failure = fmt.Sprintf("%s: %s %d %.40q", c.url, resp.Proto, resp.StatusCode, b)
					}
				}
				mu.Lock()
				if failure == "" {
					okN++
				} else if len(errs) < 5 {
					errs = append(errs, failure)
				}
				mu.Unlock()
				select {
				case <-closed:
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
		}()
	}
	return func() (int, []string) {
		close(closed)
		wg.Wait()
		h1.CloseIdleConnections()
		mu.Lock()
		defer mu.Unlock()
		return okN, errs
	}
}

// peakRSS samples the proxy's VmRSS every 20 ms until stop is called,
// which returns the largest value seen (KiB).
func peakRSS(pid int) (stop func() int) {
	var peak atomic.Int64
	peak.Store(int64(rssKB(pid)))
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
				if kb := int64(rssKB(pid)); kb > peak.Load() {
					peak.Store(kb)
				}
			}
		}
	}()
	return func() int { close(done); <-exited; return int(peak.Load()) }
}

// h2Conn is one raw HTTP/2 client connection.
type h2Conn struct {
	c      net.Conn
	fr     *http2.Framer
	wmu    sync.Mutex // the Framer's writes are not safe for concurrent use
	hb     bytes.Buffer
	enc    *hpack.Encoder
	useTLS bool
}

// clientRcvBuf is the receive buffer of clients that stop reading, so
// that the proxy's writes block soon.
const clientRcvBuf = 4096

// smallRcvBuf sets SO_RCVBUF on a socket before it connects.
func smallRcvBuf(n int) func(_, _ string, rc syscall.RawConn) error {
	return func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n) })
		if err != nil {
			return err
		}
		return serr
	}
}

// dialH2 opens a connection, sends the preface and an empty SETTINGS
// frame, and nothing else (it does not read). rcvBuf, when > 0, shrinks
// the socket's receive buffer before connecting, so that a client that
// stops reading makes the proxy's writes block soon.
func dialH2(t *testing.T, addr string, useTLS bool, rcvBuf int) *h2Conn {
	t.Helper()
	d := &net.Dialer{Timeout: 10 * time.Second}
	if rcvBuf > 0 {
		d.Control = smallRcvBuf(rcvBuf)
	}
	var c net.Conn
	var err error
	if useTLS {
		c, err = tls.DialWithDialer(d, "tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}, ServerName: "a.test"})
		if err == nil && c.(*tls.Conn).ConnectionState().NegotiatedProtocol != "h2" {
			err = fmt.Errorf("ALPN chose %q, not h2", c.(*tls.Conn).ConnectionState().NegotiatedProtocol)
		}
	} else {
		c, err = d.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	h := &h2Conn{c: c, fr: http2.NewFramer(c, c), useTLS: useTLS}
	h.enc = hpack.NewEncoder(&h.hb)
	h.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	h.fr.MaxHeaderListSize = 1 << 20
	h.fr.AllowIllegalWrites = true // a WINDOW_UPDATE of 0, on purpose
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := h.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return h
}

// block hpack-encodes a request's pseudo-header fields and extra name,
// value pairs.
func (h *h2Conn) block(method, path string, fields ...string) []byte {
	h.hb.Reset()
	scheme := map[bool]string{false: "http", true: "https"}[h.useTLS]
	kv := append([]string{":method", method, ":scheme", scheme, ":authority", "a.test", ":path", path}, fields...)
	for i := 0; i+1 < len(kv); i += 2 {
		h.enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	return bytes.Clone(h.hb.Bytes())
}

// write runs one framer write under the write lock. A write that makes
// no progress for 5 s fails: the proxy stopped reading (backpressure).
func (h *h2Conn) write(f func(fr *http2.Framer) error) error {
	h.wmu.Lock()
	defer h.wmu.Unlock()
	h.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return f(h.fr)
}

func (h *h2Conn) request(id uint32, method, path string, endStream bool, fields ...string) error {
	return h.write(func(fr *http2.Framer) error {
		return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: h.block(method, path, fields...), EndStream: endStream, EndHeaders: true})
	})
}

// h2Outcome is what the proxy did to an abusive connection, as its reader
// saw it.
type h2Outcome struct {
	mu          sync.Mutex         // the reader's; the checks run after it ended
	goAway      *http2.GoAwayFrame // the first GOAWAY, if any
	closed      bool               // the connection ended (EOF or reset)
	readErr     error
	resets      map[http2.ErrCode]int // RST_STREAM frames by code
	statuses    map[string]int        // :status of answered streams
	frames      int
	closedAt    time.Time
	goAwayAt    time.Time
	resetAt     time.Time // the first RST_STREAM
	stalled     bool      // the attack's writes made no progress for 5 s
	pingAcks    int
	settingAcks int
	body        strings.Builder // DATA received, all streams
}

// holds reports cond on o while the reader may still be running.
func (o *h2Outcome) holds(cond func(o *h2Outcome) bool) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return cond(o)
}

func (o *h2Outcome) String() string {
	s := fmt.Sprintf("frames=%d resets=%v statuses=%v closed=%v (%v) stalled=%v", o.frames, o.resets, o.statuses, o.closed, o.readErr, o.stalled)
	if o.goAway != nil {
		s += fmt.Sprintf(" GOAWAY %v last=%d", o.goAway.ErrCode, o.goAway.LastStreamID)
	}
	return s
}

// reader reads frames until the connection ends or the deadline passes,
// acknowledging nothing. done is closed when it returns; seen is closed at
// the first GOAWAY or at the end, whichever comes first.
func (h *h2Conn) reader(deadline time.Duration) (o *h2Outcome, seen, done chan struct{}) {
	o = &h2Outcome{resets: map[http2.ErrCode]int{}, statuses: map[string]int{}}
	seen, done = make(chan struct{}), make(chan struct{})
	h.c.SetReadDeadline(time.Now().Add(deadline))
	go func() {
		defer close(done)
		var once sync.Once
		defer once.Do(func() { close(seen) })
		for {
			f, err := h.fr.ReadFrame()
			o.mu.Lock()
			if err != nil {
				var se http2.StreamError
				if errors.As(err, &se) { // a frame the Framer refused: keep reading
					o.mu.Unlock()
					continue
				}
				o.readErr = err
				o.closed = !isTimeout(err)
				o.closedAt = time.Now()
				o.mu.Unlock()
				return
			}
			o.frames++
			switch f := f.(type) {
			case *http2.GoAwayFrame:
				if o.goAway == nil {
					o.goAway = f
					o.goAwayAt = time.Now()
					once.Do(func() { close(seen) })
				}
			case *http2.RSTStreamFrame:
				if len(o.resets) == 0 {
					o.resetAt = time.Now()
				}
				o.resets[f.ErrCode]++
			case *http2.MetaHeadersFrame:
				for _, hf := range f.Fields {
					if hf.Name == ":status" {
						o.statuses[hf.Value]++
					}
				}
			case *http2.PingFrame:
				if f.IsAck() {
					o.pingAcks++
				}
			case *http2.SettingsFrame:
				if f.IsAck() {
					o.settingAcks++
				}
			case *http2.DataFrame:
				o.body.Write(f.Data())
			}
			o.mu.Unlock()
		}
	}()
	return o, seen, done
}

// h2Vector is one abuse: attack writes frames on c until stop is closed
// (the proxy sent GOAWAY or hung up) or its own budget is spent, and
// reports how many frames it wrote; check judges the outcome.
type h2Vector struct {
	name string
	// rcvBuf: shrink the client's receive buffer (the attacks that do not read).
	rcvBuf int
	// readLate: the reader starts only after the attack (floods of frames
	// the proxy must acknowledge, sent by a client that does not read).
	readLate bool
	attack   func(c *h2Conn, stop <-chan struct{}) (frames int, err error)
	// settled, for an abuse the proxy answers without hanging up, tells
	// when the answer is complete: the reader then stops.
	settled func(o *h2Outcome) bool
	// slow: the proxy takes long to react (its 15 s + 15 s ping timeout);
	// the h2c and TLS runs go in parallel.
	slow  bool
	check func(t *testing.T, o *h2Outcome, held int64, frames int)
	// maxHeld bounds the requests the hold backend may see.
	maxHeld int64
}

// TestH2Abuse is §A1.4 H1–H5: for each abuse, over h2c and over TLS, the
// proxy stays up, its RSS stays within 64 MiB of where it was, the backend
// sees no more requests than the stream limit lets through, a normal
// client on other connections, over HTTP/2 and HTTP/1.1, keeps getting
// 200 meanwhile, and the abusive connection is closed (with GOAWAY and
// the error code Go's HTTP/2 server sends, where it sends one) or, where
// Go's server absorbs the abuse at a bounded cost without hanging up
// (settings flood, empty DATA frames, HPACK bomb, streams over the
// limit), answered as that server answers.
func TestH2Abuse(t *testing.T) {
	e := h2Setup(t)
	pid := e.proxy.cmd.Process.Pid
	const maxStreams = 250 // h2Limits.MaxConcurrentStreams, Traefik's default

	goAway := func(code http2.ErrCode) func(t *testing.T, o *h2Outcome, held int64, frames int) {
		return func(t *testing.T, o *h2Outcome, held int64, frames int) {
			if o.goAway == nil || o.goAway.ErrCode != code {
				t.Errorf("want GOAWAY %v, got %v", code, o)
			}
			if !o.closed {
				t.Errorf("the connection is still open after GOAWAY: %v", o)
			}
		}
	}
	closedCheck := func(t *testing.T, o *h2Outcome, held int64, frames int) {
		if !o.closed {
			t.Errorf("the abusive connection is still open: %v", o)
		}
	}
	// For floods from a client that never reads: the proxy hangs up, or
	// it stops taking frames (the flood's writes make no progress for
	// 5 s: backpressure, also bounded; with both ends on loopback the
	// kernel sometimes stalls such a connection by itself, both sockets'
	// receive queues empty, before the proxy has queued 10,000 answers).
	// RSS is bounded in both cases (checked for every abuse).
	closedOrStalled := func(t *testing.T, o *h2Outcome, held int64, frames int) {
		if !o.closed && !o.stalled {
			t.Errorf("the abusive connection is still open and still reading: %v", o)
		}
	}
	vectors := []h2Vector{
		{
			// CVE-2023-44487: each stream is opened and at once cancelled.
			// Go's server counts a reset stream's handler until it returns
			// and queues at most 4×MaxConcurrentStreams more: past that,
			// GOAWAY ENHANCE_YOUR_CALM. The backend holds every request,
			// so the handlers are still running.
			name: "rapid reset", maxHeld: maxStreams,
			attack: func(c *h2Conn, stop <-chan struct{}) (int, error) {
				for i := range 20000 {
					id := uint32(2*i + 1)
					if err := c.request(id, "GET", "/hold/rapid-reset", true); err != nil {
						return 2 * i, err
					}
					if err := c.write(func(fr *http2.Framer) error { return fr.WriteRSTStream(id, http2.ErrCodeCancel) }); err != nil {
						return 2*i + 1, err
					}
					if stopped(stop) {
						return 2*i + 2, nil
					}
				}
				return 40000, nil
			},
			check: goAway(http2.ErrCodeEnhanceYourCalm),
		},
		{
			// CVE-2025-8671 (MadeYouReset): the client makes the server
			// reset each stream, here with a WINDOW_UPDATE of 0 on it. The
			// same handler bound applies.
			name: "made you reset", maxHeld: maxStreams,
			attack: func(c *h2Conn, stop <-chan struct{}) (int, error) {
				for i := range 20000 {
					id := uint32(2*i + 1)
					if err := c.request(id, "GET", "/hold/made-you-reset", true); err != nil {
						return 2 * i, err
					}
					if err := c.write(func(fr *http2.Framer) error { return fr.WriteWindowUpdate(id, 0) }); err != nil {
						return 2*i + 1, err
					}
					if stopped(stop) {
						return 2*i + 2, nil
					}
				}
				return 40000, nil
			},
			check: goAway(http2.ErrCodeEnhanceYourCalm),
		},
		{
			// CVE-2024-27316 family (Go's CVE-2023-45288): one header
			// block that never ends, 1 KiB of new fields per CONTINUATION
			// frame (64 MiB if nobody stops it). Go's server stops
			// decoding past its header-list budget and hangs up.
			name: "continuation flood",
			attack: func(c *h2Conn, stop <-chan struct{}) (int, error) {
				if err := c.write(func(fr *http2.Framer) error {
					return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: c.block("GET", "/hold/continuation"), EndStream: true})
				}); err != nil {
					return 0, err
				}
				val := strings.Repeat("v", 1000)
				for i := range 64 << 10 {
					c.hb.Reset()
					c.enc.WriteField(hpack.HeaderField{Name: fmt.Sprintf("x-flood-%d", i), Value: val, Sensitive: true})
					if err := c.write(func(fr *http2.Framer) error { return fr.WriteContinuation(1, false, c.hb.Bytes()) }); err != nil {
						return i + 1, err
					}
					if stopped(stop) {
						return i + 2, nil
					}
				}
				return 64<<10 + 1, nil
			},
			check: goAway(http2.ErrCodeProtocol),
		},
		{
			// The same with empty CONTINUATION frames, which add nothing
			// to the header list: Go's server caps the block by size only,
			// so it reads them (bounded memory, a few bytes each) until
			// its ping timeout: no frame reaches its serving loop, it
			// sends a PING after 15 s, which the client cannot answer in
			// the middle of a header block, and hangs up 15 s later.
			name: "empty continuation flood", slow: true,
			attack: func(c *h2Conn, stop <-chan struct{}) (int, error) {
				if err := c.write(func(fr *http2.Framer) error {
					return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: c.block("GET", "/hold/continuation"), EndStream: true})
				}); err != nil {
					return 0, err
				}
				for i := 0; ; i++ {
					if err := c.write(func(fr *http2.Framer) error { return fr.WriteContinuation(1, false, nil) }); err != nil {
						return i + 1, err
					}
					if i%1024 == 0 && stopped(stop) {
						return i + 2, nil
					}
					if i%1024 == 0 {
						time.Sleep(time.Millisecond) // 1M frames/s is not needed to hold a connection
					}
				}
			},
			check: closedCheck,
		},
		{
			// CVE-2019-9516 (0-length headers): fields with empty names.
			name: "empty header names",
			attack: func(c *h2Conn, stop <-chan struct{}) (int, error) {
				fields := []string{}
				for range 1000 {
					fields = append(fields, "", "")
				}
				return 1, c.request(1, "GET", "/hold/empty-names", true, fields...)
			},
			settled: func(o *h2Outcome) bool { return len(o.resets) > 0 || o.statuses["200"] > 0 },
			check: func(t *testing.T, o *h2Outcome, held int64, frames int) {
				if o.statuses["200"] > 0 || o.goAway == nil && o.resets[http2.ErrCodeProtocol] == 0 {
					t.Errorf("want the stream or the connection refused with PROTOCOL_ERROR: %v", o)
				}
			},
		},
		{
			// H5, the HPACK bomb: one 4 KiB field into the dynamic table,
			// then 16,000 one-byte references to it (64 MB of header list
			// from 16 kB on the wire). Go's server stops decoding at its
			// budget and answers 431.
			name: "hpack bomb",
			attack: func(c *h2Conn, stop <-chan struct{}) (int, error) {
				block := c.block("GET", "/hold/hpack-bomb", "x-bomb", strings.Repeat("b", 4000))
				for range 16000 {
					block = append(block, 0x80|62) // indexed field 62: the newest dynamic entry
				}
				// One HEADERS frame and CONTINUATIONs under the 16 KiB default frame size.
				for i := 0; i < len(block); i += 16 << 10 {
					frag := block[i:min(i+16<<10, len(block))]
					end := i+16<<10 >= len(block)
					err := c.write(func(fr *http2.Framer) error {
						if i == 0 {
							return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: frag, EndStream: true, EndHeaders: end})
						}
						return fr.WriteContinuation(1, end, frag)
					})
					if err != nil {
						return i, err
					}
				}
				return 2, nil
			},
			check: func(t *testing.T, o *h2Outcome, held int64, frames int) {
				if o.statuses["431"] != 1 && (o.goAway == nil || o.goAway.ErrCode == http2.ErrCodeNo) {
					t.Errorf("want 431 (or a connection error): %v", o)
				}
				if held > 0 {
					t.Errorf("the backend saw the bomb's request")
				}
			},
		},
		{
			// CVE-2019-9512 (ping flood) from a client that never reads:
			// Go's server closes a connection whose queue of control
			// frames to send passes 10,000.
			name: "ping flood", rcvBuf: clientRcvBuf, readLate: true,
			attack: func(c *h2Conn, stop <-chan struct{}) (int, error) {
				for i := range 2 << 20 {
					if err := c.write(func(fr *http2.Framer) error {
						return fr.WritePing(false, [8]byte{byte(i), byte(i >> 8), byte(i >> 16)})
					}); err != nil {
						return i, err
					}
				}
				return 2 << 20, nil
			},
			check: closedOrStalled,
		},
		{
			// CVE-2019-9515 (settings flood) from a client that never
			// reads: Go's server owes one SETTINGS ACK per frame but
			// coalesces the unsent ones (a flag, not a queue), so nothing
			// grows and it does not hang up. Safe either way: the
			// connection closed, or far fewer ACKs than frames.
			name: "settings flood", rcvBuf: clientRcvBuf, readLate: true,
			attack: func(c *h2Conn, stop <-chan struct{}) (int, error) {
				for i := range 512 << 10 {
					if err := c.write(func(fr *http2.Framer) error {
						return fr.WriteSettings(http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: uint32(i) + 1<<20})
					}); err != nil {
						return i, err
					}
				}
				return 512 << 10, nil
			},
			check: func(t *testing.T, o *h2Outcome, held int64, frames int) {
				if !o.closed && !o.stalled && o.settingAcks > frames/2 {
					t.Errorf("%d SETTINGS ACKs queued for %d frames from a client that does not read: %v", o.settingAcks, frames, o)
				}
			},
		},
		{
			// CVE-2019-9518 (empty frames): a request body sent as
			// 256Ki empty DATA frames, then its last byte. Go's server
			// takes them at the cost of reading them: bounded memory, and
			// the stream is still answered correctly.
			name: "empty data frames", maxHeld: 1,
			attack: func(c *h2Conn, stop <-chan struct{}) (int, error) {
				if err := c.request(1, "POST", "/hold/now/empty-data", false); err != nil {
					return 0, err
				}
				for i := range 256 << 10 {
					if err := c.write(func(fr *http2.Framer) error { return fr.WriteData(1, false, nil) }); err != nil {
						return i + 1, err
					}
					if i%4096 == 0 && stopped(stop) {
						return i + 1, nil
					}
				}
				return 256<<10 + 2, c.write(func(fr *http2.Framer) error { return fr.WriteData(1, true, []byte("x")) })
			},
			settled: func(o *h2Outcome) bool { return o.body.String() == "body 1" },
			check: func(t *testing.T, o *h2Outcome, held int64, frames int) {
				// Either is safe: the stream answered, its one byte
				// forwarded, or the connection refused.
				if (o.statuses["200"] != 1 || o.body.String() != "body 1") && o.goAway == nil {
					t.Errorf("want the stream answered 200 \"body 1\" or a GOAWAY: %v %q", o, o.body.String())
				}
			},
		},
		{
			// Window-update abuse: increments that push the connection's
			// send window past 2^31-1 (RFC 9113 §6.9.1: FLOW_CONTROL_ERROR).
			name: "window update overflow",
			attack: func(c *h2Conn, stop <-chan struct{}) (int, error) {
				for i := range 1 << 16 {
					if err := c.write(func(fr *http2.Framer) error { return fr.WriteWindowUpdate(0, 1<<20) }); err != nil {
						return i, err
					}
					if stopped(stop) {
						return i + 1, nil
					}
				}
				return 1 << 16, nil
			},
			check: goAway(http2.ErrCodeFlowControl),
		},
		{
			// A WINDOW_UPDATE of 0 on the connection (RFC 9113 §6.9:
			// PROTOCOL_ERROR).
			name: "window update zero",
			attack: func(c *h2Conn, stop <-chan struct{}) (int, error) {
				return 1, c.write(func(fr *http2.Framer) error { return fr.WriteWindowUpdate(0, 0) })
			},
			check: goAway(http2.ErrCodeProtocol),
		},
		{
			// Stream-ID exhaustion: the last odd stream ID is answered;
			// after it the client has no ID left, and reusing a lower one
			// is a connection error (RFC 9113 §5.1.1).
			name: "stream id exhaustion",
			attack: func(c *h2Conn, stop <-chan struct{}) (int, error) {
				if err := c.request(1<<31-1, "GET", "/last-id", true); err != nil {
					return 0, err
				}
				time.Sleep(500 * time.Millisecond) // let it be answered first
				return 2, c.request(3, "GET", "/reused-id", true)
			},
			check: func(t *testing.T, o *h2Outcome, held int64, frames int) {
				if o.statuses["200"] != 1 {
					t.Errorf("stream 2^31-1 not answered 200: %v", o)
				}
				goAway(http2.ErrCodeProtocol)(t, o, held, frames)
			},
		},
		{
			// More concurrent streams than SETTINGS_MAX_CONCURRENT_STREAMS:
			// the extra ones are refused, the backend sees at most the
			// limit, and the connection itself stays usable.
			name: "max concurrent streams", maxHeld: maxStreams,
			attack: func(c *h2Conn, stop <-chan struct{}) (int, error) {
				for i := range maxStreams + 50 {
					if err := c.request(uint32(2*i+1), "GET", "/hold/streams", true); err != nil {
						return i, err
					}
				}
				return maxStreams + 50, nil
			},
			settled: func(o *h2Outcome) bool {
				return o.resets[http2.ErrCodeProtocol]+o.resets[http2.ErrCodeRefusedStream] >= 50
			},
			check: func(t *testing.T, o *h2Outcome, held int64, frames int) {
				if n := o.resets[http2.ErrCodeProtocol] + o.resets[http2.ErrCodeRefusedStream]; n < 50 {
					t.Errorf("%d streams refused, want the 50 over the limit: %v", n, o)
				}
			},
		},
	}
	modes := map[bool]string{false: "h2c", true: "tls"}
	for _, v := range vectors {
		if v.slow {
			continue
		}
		for _, useTLS := range []bool{false, true} {
			t.Run(modes[useTLS]+"/"+v.name, func(t *testing.T) { runH2Vector(t, e, pid, useTLS, v) })
		}
	}
	// The slow ones, h2c and TLS at once (they do not use the hold backend).
	t.Run("slow", func(t *testing.T) {
		for _, v := range vectors {
			for _, useTLS := range []bool{false, true} {
				if v.slow {
					t.Run(modes[useTLS]+"/"+v.name, func(t *testing.T) { t.Parallel(); runH2Vector(t, e, pid, useTLS, v) })
				}
			}
		}
	})
	// Each abuse left the proxy as it found it: a fresh HTTP/2 client is served.
	if code, body := fetch2(t, e.normal, "https://"+e.addr+"/after", "a.test"); code != 200 || backendName(body) != "whoami-a" {
		t.Errorf("after the abuses: %d %q", code, body)
	}
}

func stopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}

func runH2Vector(t *testing.T, e *h2Env, pid int, useTLS bool, v h2Vector) {
	e.hold.count.Store(0)
	defer e.hold.release()
	before := rssKB(pid)
	stopRSS := peakRSS(pid)
	stopNormal := e.normalClients(t)
	c := dialH2(t, e.addr, useTLS, v.rcvBuf)
	start := time.Now()
	const budget = 60 * time.Second
	var o *h2Outcome
	var seen, done chan struct{}
	if !v.readLate {
		o, seen, done = c.reader(budget)
	}
	stop := make(chan struct{})
	if seen != nil {
		go func() { <-seen; close(stop) }()
	}
	frames, werr := v.attack(c, stop)
	stalled := isTimeout(werr)
	attackTime := time.Since(start)
	if v.readLate {
		o, _, done = c.reader(5 * time.Second) // what the proxy queued, then its hang-up if any
	}
	if v.settled != nil {
		// An answer, not a hang-up, is expected: stop reading once it is
		// complete (or after 20 s).
	wait:
		for end := time.Now().Add(20 * time.Second); time.Now().Before(end) && !o.holds(v.settled); {
			select {
			case <-done:
				break wait
			case <-time.After(20 * time.Millisecond):
			}
		}
		c.c.SetReadDeadline(time.Now())
	}
	<-done
	o.stalled = stalled
	// Hang up, let the backend answer what reached it, and count once it
	// is quiet (handlers of this connection still starting must not be
	// counted in the next abuse).
	c.c.Close()
	for end, last := time.Now().Add(15*time.Second), int64(-1); time.Now().Before(end); {
		e.hold.release()
		time.Sleep(200 * time.Millisecond)
		n := e.hold.count.Load()
		if e.hold.active.Load() == 0 && n == last {
			break
		}
		last = n
	}
	held := e.hold.count.Load()
	ok, fails := stopNormal()
	peak := stopRSS()
	t.Logf("%d frames written in %v (write error: %v); proxy: %v, %v after the start; backend saw %d requests; RSS %d KiB before, peak %d KiB; normal clients: %d × 200, failures %v",
		frames, attackTime.Round(time.Millisecond), werr, o, closeDelay(o, start), held, before, peak, ok, fails)
	v.check(t, o, held, frames)
	if held > v.maxHeld {
		t.Errorf("the backend saw %d requests, want at most %d", held, v.maxHeld)
	}
	if grew := peak - before; grew > 64<<10 {
		t.Errorf("proxy RSS grew by %d KiB", grew)
	}
	if ok == 0 || len(fails) > 0 {
		t.Errorf("normal clients meanwhile: %d × 200, failures %v", ok, fails)
	}
	if err := e.proxy.cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the proxy died: %v", err)
	}
}

func closeDelay(o *h2Outcome, start time.Time) string {
	var parts []string
	if !o.goAwayAt.IsZero() {
		parts = append(parts, fmt.Sprintf("GOAWAY at %v", o.goAwayAt.Sub(start).Round(time.Millisecond)))
	}
	if o.closed {
		parts = append(parts, fmt.Sprintf("closed at %v", o.closedAt.Sub(start).Round(time.Millisecond)))
	}
	if len(parts) == 0 {
		return "not closed"
	}
	return strings.Join(parts, ", ")
}
