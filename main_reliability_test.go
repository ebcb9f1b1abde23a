package main

// The reliability matrix of docs/reliability.md (issue 13, item 3) as tests
// of the real binary over loopback: raw-socket clients, and backends that
// are plain net.Listeners recording the exact bytes they receive, so that
// nothing is normalised before the test looks at it.

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// capture is a backend that records every request it reads, byte for
// byte, and answers each with 200 "ok" (Content-Length framed).
type capture struct {
	ln        net.Listener
	mu        sync.Mutex
	reqs      [][]byte // one element per request framed by the backend's reading
	junk      [][]byte // bytes the backend could not frame (a connection's tail)
	truncated [][]byte // well-framed starts cut off by the connection's end
}

func newCapture(t *testing.T) *capture {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &capture{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go c.serve(conn)
		}
	}()
	return c
}

func (c *capture) port() int { return c.ln.Addr().(*net.TCPAddr).Port }

func (c *capture) requests() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.reqs...)
}

// serve frames requests by the strictest reading of RFC 9112: CRLF lines,
// one Content-Length or chunked, never both. Anything it cannot frame is
// recorded as junk and ends the connection; a well-framed start cut off by
// the end of the connection (a body the proxy aborted) is truncated, never
// a request.
func (c *capture) serve(conn net.Conn) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	for {
		var raw bytes.Buffer
		_, ok, cut := readFramed(br, &raw)
		if raw.Len() > 0 {
			c.mu.Lock()
			switch {
			case ok:
				c.reqs = append(c.reqs, bytes.Clone(raw.Bytes()))
			case cut:
				c.truncated = append(c.truncated, bytes.Clone(raw.Bytes()))
			default:
				c.junk = append(c.junk, bytes.Clone(raw.Bytes()))
			}
			c.mu.Unlock()
		}
		if !ok {
			return
		}
		if _, err := io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
			return
		}
	}
}

// readFramed reads one request into raw; ok is false on EOF or bad
// framing, cut tells the end of the connection inside a request whose
// bytes so far were well framed.
func readFramed(br *bufio.Reader, raw *bytes.Buffer) (head string, ok, cut bool) {
	head, ok = readFramed1(br, raw, &cut)
	return head, ok, cut && !ok
}

func readFramed1(br *bufio.Reader, raw *bytes.Buffer, cut *bool) (head string, ok bool) {
	line := func() (string, bool) {
		s, err := br.ReadString('\n')
		raw.WriteString(s)
		if err == io.EOF && !strings.ContainsAny(s, "\r\n") {
			*cut = true
			return s, false
		}
		if err != nil || !strings.HasSuffix(s, "\r\n") || strings.ContainsAny(strings.TrimSuffix(s, "\r\n"), "\r\n") {
			return s, false
		}
		return strings.TrimSuffix(s, "\r\n"), true
	}
	first, ok := line()
	if !ok {
		return "", false
	}
	cl, chunked, nCL, nTE := int64(0), false, 0, 0
	for {
		l, ok := line()
		if !ok {
			return "", false
		}
		if l == "" {
			break
		}
		name, val, found := strings.Cut(l, ":")
		if !found || name != strings.TrimSpace(name) {
			return "", false
		}
		val = strings.TrimSpace(val)
		switch strings.ToLower(name) {
		case "content-length":
			nCL++
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n < 0 {
				return "", false
			}
			cl = n
		case "transfer-encoding":
			nTE++
			if val != "chunked" {
				return "", false
			}
			chunked = true
		}
	}
	if nCL > 1 || nTE > 1 || nCL+nTE > 1 {
		return "", false
	}
	if chunked {
		for {
			l, ok := line()
			if !ok {
				return "", false
			}
			n, err := strconv.ParseInt(l, 16, 64)
			if err != nil || n < 0 {
				return "", false
			}
			if n == 0 {
				for { // trailer lines, then the empty line
					l, ok := line()
					if !ok {
						return "", false
					}
					if l == "" {
						return first, true
					}
					if name, _, found := strings.Cut(l, ":"); !found || name == "" || name != strings.TrimSpace(name) {
						return "", false
					}
				}
			}
			if _, err := io.CopyN(raw, br, n); err != nil {
				*cut = err == io.EOF
				return "", false
			}
			if l, ok := line(); !ok || l != "" {
				return "", false
			}
		}
	}
	if _, err := io.CopyN(raw, br, cl); err != nil {
		*cut = err == io.EOF
		return "", false
	}
	return first, true
}

// captureProxy runs the binary with every path routed to the backend on
// port.
func captureProxy(t *testing.T, port int, extra ...string) string {
	t.Helper()
	dir := t.TempDir()
	manifests(t, dir, map[string]int{"cap": port}, `apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: cap, namespace: default}
spec:
  routes:
    - match: PathPrefix(`+"`/`"+`)
      services: [{name: cap, port: 80}]
`)
	p := start(t, append([]string{"--entryPoints.web.address=127.0.0.1:0", "--providers.manifests.directory=" + dir}, extra...)...)
	return p.address(t)
}

// rawExchange writes payload on a new connection, then reads responses
// until the proxy closes the connection, two have come, or 5 s pass.
func rawExchange(t *testing.T, addr, payload string) (statuses []int, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, payload); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return statuses, !isTimeout(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		statuses = append(statuses, resp.StatusCode)
		if len(statuses) == 2 { // the payload's and the pipelined request's
			return statuses, false
		}
		if resp.Close {
			_, err := br.ReadByte()
			return statuses, err != nil && !isTimeout(err)
		}
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

const second = "GET /second HTTP/1.1\r\nHost: s.test\r\n\r\n"

// The outcomes a smuggling payload may have.
const (
	refused  = iota // its 4xx (or 505), the connection closed, nothing forwarded
	rejected        // an error status (4xx/5xx), closed, nothing forwarded
	reframed        // forwarded once, re-framed canonically, then the connection closed
	accepted        // forwarded once, canonically; the pipelined request answered too
)

// smugglingCase is one payload of the smuggling table.
type smugglingCase struct {
	id, name, payload string
	outcome           int
	status            int    // refused: the status
	body, header      string // reframed, accepted: the body and a header line the backend must see
}

// smugglingCases is the table of TestSmugglingTable (§A1.1 F1–F12); the
// seeds of fuzz/http1 are made from it (TestFuzzSeeds).
func smugglingCases() []smugglingCase {
	const h = "Host: a.test\r\n"
	type tc = smugglingCase
	cases := []tc{
		// Either answer is safe for CL+TE (§A1.1): edgeroute decodes chunked, drops
		// Content-Length and closes the connection after the response.
		{"F1", "CL and TE", "POST /f1 HTTP/1.1\r\n" + h + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n", reframed, 0, "x", ""},
		{"F1", "TE.CL smuggled GET", "POST /f1 HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n30\r\nGET /admin HTTP/1.1\r\nHost: a.test\r\nX: 1234567\r\n\r\r\n0\r\n\r\n", reframed, 0, "GET /admin HTTP/1.1\r\nHost: a.test\r\nX: 1234567\r\n\r", ""},
		{"F2", "duplicate CL equal", "POST /f2 HTTP/1.1\r\n" + h + "Content-Length: 1\r\nContent-Length: 1\r\n\r\nx", refused, 400, "", ""},
		{"F2", "duplicate CL different", "POST /f2 HTTP/1.1\r\n" + h + "Content-Length: 1\r\nContent-Length: 2\r\n\r\nxx", refused, 400, "", ""},
	}
	for _, v := range []string{"+1", "-1", "0x1", " 1x", "1 1", "", "99999999999999999999", "1,1"} {
		cases = append(cases, tc{"F3", "CL " + strconv.Quote(v), "POST /f3 HTTP/1.1\r\n" + h + "Content-Length: " + v + "\r\n\r\nx", refused, 400, "", ""})
	}
	cases = append(cases, tc{"F3", "CL leading zeros", "POST /f3 HTTP/1.1\r\n" + h + "Content-Length: 003\r\n\r\nabc", accepted, 0, "abc", "Content-Length: 3"})
	for _, v := range []string{"Transfer-Encoding: chunked, identity", "Transfer-Encoding: ,chunked",
		"Transfer-Encoding: gzip, chunked", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked", "Transfer-Encoding: xchunked"} {
		cases = append(cases, tc{"F4", v, "POST /f4 HTTP/1.1\r\n" + h + v + "\r\n\r\n1\r\nx\r\n0\r\n\r\n", refused, 400, "", ""})
	}
	cases = append(cases,
		tc{"F4", "TE chunked with trailing OWS", "POST /f4 HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\t\r\n\r\n1\r\nx\r\n0\r\n\r\n", accepted, 0, "x", "Transfer-Encoding: chunked"},
		tc{"F4", "TE identity with CL", "POST /f4 HTTP/1.1\r\n" + h + "Transfer-Encoding: identity\r\nContent-Length: 1\r\n\r\n1\r\nx\r\n0\r\n\r\n", reframed, 0, "1", "Content-Length: 1"},
		tc{"F4", "TE on HTTP/1.0", "POST /f4 HTTP/1.0\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n", refused, 400, "", ""},
		tc{"F5", "obs-fold joined to one line", "GET /f5 HTTP/1.1\r\n" + h + "X-Fold: a\r\n b\r\n\r\n", accepted, 0, "", "X-Fold: a b"},
		tc{"F6", "bare LF re-emitted as CRLF", "GET /f6 HTTP/1.1\n" + h + "X: y\n\n", accepted, 0, "", "X: y"},
	)
	// Malformed chunks are the client's fault: 400 and close, the upstream
	// never sees a complete body (reliability F7, F8).
	for _, v := range []string{"1\rx\r\n0\r\n\r\n", "1\nx\r\n0\r\n\r\n", "1\r\nx\n0\r\n\r\n", "1;a\nb\r\nx\r\n0\r\n\r\n", "1\r\nxy\r\n0\r\n\r\n"} {
		cases = append(cases, tc{"F7", "chunk " + strconv.Quote(v), "POST /f7 HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n" + v, refused, 400, "", ""})
	}
	// A trailer field RFC 9110 §6.5.1 keeps out of trailers (framing,
	// routing, authentication; fasthttp's list), or a field name that is no
	// token, is refused the same way.
	for _, v := range []string{"Host: s.test", "Content-Length: 5", "Transfer-Encoding: chunked", "Authorization: x", "X Y: z", "X\x01: z"} {
		cases = append(cases, tc{"F7", "trailer " + strconv.Quote(v), "POST /f7 HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n" + v + "\r\n\r\n", refused, 400, "", ""})
	}
	for _, v := range []string{"FFFFFFFFFFFFFFFFF1", "0x1", "-0", " 0", "1zz", "1 ;ext", "zz", ""} {
		cases = append(cases, tc{"F8", "chunk size " + strconv.Quote(v), "POST /f8 HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n" + v + "\r\nx\r\n0\r\n\r\n", refused, 400, "", ""})
	}
	for _, v := range []string{"Content-Length : 1", " X: leading", ": empty", "X\x85: y", "X Y: z", "X\x00: y", "X\x7f: y", "X\"Y: z"} {
		cases = append(cases, tc{"F9", strconv.Quote(v), "POST /f9 HTTP/1.1\r\n" + h + v + "\r\nContent-Length: 1\r\n\r\nx", refused, 400, "", ""})
	}
	for _, v := range []string{"X: a\rb", "X: a\x00b", "X: a\r\r\nY: b"} {
		cases = append(cases, tc{"F10", strconv.Quote(v), "GET /f10 HTTP/1.1\r\n" + h + v + "\r\n\r\n", refused, 400, "", ""})
	}
	for _, v := range []string{"GET  /f11 HTTP/1.1", "GET /f11  HTTP/1.1", "GET /f11 HTTP/1.1\r", "G(T /f11 HTTP/1.1", "GET /f11 HTTP/1.1 x", "GET /f11"} {
		cases = append(cases, tc{"F11", strconv.Quote(v), v + "\r\n" + h + "\r\n", refused, 400, "", ""})
	}
	for _, v := range []string{"HTTP/2.0", "HTTP/3.0", "HTTP/0.9"} {
		cases = append(cases, tc{"F11", v, "GET /f11 " + v + "\r\n" + h + "\r\n", refused, 505, "", ""})
	}
	cases = append(cases,
		// net/http serves another HTTP/1.x minor as 1.1: so does edgeroute (then
		// closes, as fasthttp does for any version but 1.1), and the backend
		// gets HTTP/1.1, not the client's version string.
		tc{"F11", "HTTP/1.9 forwarded as HTTP/1.1", "GET /f11 HTTP/1.9\r\n" + h + "\r\n", reframed, 0, "", "GET /f11 HTTP/1.1"},
		tc{"F12", "GET with a body", "GET /f12 HTTP/1.1\r\n" + h + "Content-Length: 3\r\n\r\nabc", accepted, 0, "abc", "Content-Length: 3"},
	)
	return cases
}

// TestSmugglingTable is §A1.1 F1–F12. Each payload is followed on the same
// connection by a valid request. Whatever the outcome, the backend (which
// frames strictly: CRLF lines, one Content-Length or chunked, never both)
// must never see bytes it cannot frame, nor more requests than the client
// framed, and the pipelined request must never be mis-parsed.
func TestSmugglingTable(t *testing.T) {
	bk := newCapture(t)
	addr := captureProxy(t, bk.port())
	cases := smugglingCases()
	for _, c := range cases {
		t.Run(c.id+" "+c.name, func(t *testing.T) {
			before := len(bk.requests())
			statuses, closed := rawExchange(t, addr, c.payload+second)
			seen := bk.requests()[before:]
			bk.mu.Lock()
			junk := bk.junk
			bk.mu.Unlock()
			if len(junk) > 0 {
				t.Fatalf("the backend received bytes it could not frame: %q", junk)
			}
			switch c.outcome {
			case refused, rejected:
				bad := len(statuses) != 1 || !closed
				if c.outcome == refused {
					bad = bad || statuses[0] != c.status
				} else {
					bad = bad || statuses[0] < 400
				}
				if bad {
					t.Errorf("got statuses %v (closed %v), want one %d and the connection closed", statuses, closed, c.status)
				}
				if len(seen) != 0 {
					t.Errorf("a refused request reached the backend: %q", seen)
				}
				return
			case reframed:
				if len(statuses) != 1 || statuses[0] != 200 || !closed {
					t.Errorf("got statuses %v (closed %v), want one 200 and the connection closed", statuses, closed)
				}
				if len(seen) != 1 {
					t.Fatalf("backend saw %d requests, want 1: %q", len(seen), seen)
				}
			case accepted:
				if len(statuses) != 2 || statuses[0] != 200 || statuses[1] != 200 {
					t.Errorf("got statuses %v, want 200 200", statuses)
				}
				if len(seen) != 2 {
					t.Fatalf("backend saw %d requests, want 2: %q", len(seen), seen)
				}
				if !bytes.HasPrefix(seen[1], []byte("GET /second HTTP/1.1\r\nHost: s.test\r\n")) {
					t.Errorf("the pipelined request was mis-parsed: %q", seen[1])
				}
			}
			req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(seen[0])))
			if err != nil {
				t.Fatalf("forwarded request: %v\n%q", err, seen[0])
			}
			body, err := io.ReadAll(req.Body)
			if err != nil || string(body) != c.body {
				t.Errorf("forwarded body %q (%v), want %q", body, err, c.body)
			}
			if c.header != "" && !bytes.Contains(seen[0], []byte(c.header+"\r\n")) {
				t.Errorf("forwarded request lacks %q: %q", c.header, seen[0])
			}
		})
	}
}
