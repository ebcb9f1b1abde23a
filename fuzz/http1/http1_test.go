//go:build linux

// Package http1 fuzzes the HTTP/1.1 front door as a proxy: the input is
// every byte a client sends on one connection. The engine's real server
// (its listener, tlsmux's classification, fasthttp with the engine's
// settings and handler) runs in process on loopback in front of a backend
// that frames strictly and records every request it receives.
//
// Properties, for every input:
//   - nothing panics (the engine logs recovered panics: they fail too);
//   - the backend receives no more requests than the client framed, read
//     by an independent framing of the same bytes (net/http's ReadRequest
//     loop), and the forwarded requests are, in order, framed ones: same
//     method, the target as the proxy rewrites it, the same body;
//   - every forwarded request went through the proxy (it carries the
//     X-Real-Ip the proxy sets: nothing reaches the backend by tunnel);
//   - the backend never receives bytes a strict reader cannot frame;
//   - every complete forwarded request's answer reaches the client (the
//     proxy did not answer 400, or anything else, for a request it
//     forwarded); a request forwarded incomplete is one whose body the
//     client did not finish, and the proxy did not answer it 400;
//   - the client reads valid HTTP/1.1: strictly framed responses, no more
//     than one per framed request (and one for the garbage that ends the
//     input), nothing after a response that closes the connection.
package http1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/compile"
	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/engine"
)

// maxInput bounds the inputs tried: larger ones only repeat what smaller
// ones find, slower (the proxy's header buffer is 32 KiB).
const maxInput = 16 << 10

type fixture struct {
	proxy string
	bk    *backend
	log   *panicLog
}

var (
	once sync.Once
	fx   *fixture
)

func setup() *fixture {
	once.Do(func() {
		bk := newBackend()
		snap := &spec.Snapshot{
			Routers:   []spec.Router{{Name: "all", Rule: "PathPrefix(`/`)", Service: "bk"}},
			Services:  map[string]*spec.Service{"bk": {Name: "bk", LoadBalancer: &spec.LoadBalancer{EndpointsKey: "bk", PassHostHeader: true, Strategy: "wrr"}}},
			Endpoints: map[string][]spec.Server{"bk": {{URL: "http://" + bk.addr()}}},
		}
		static, err := engine.ParseStatic([]string{"--entryPoints.web.address=127.0.0.1:0"})
		if err != nil {
			panic(err)
		}
		pl := &panicLog{}
		s := engine.NewServer(static, slog.New(pl))
		if probs := s.Apply(snap); len(probs) > 0 {
			panic(fmt.Sprint(probs))
		}
		if err := s.Listen(); err != nil {
			panic(err)
		}
		go s.Serve(context.Background()) // lives for the test binary
		fx = &fixture{proxy: s.Addr("web"), bk: bk, log: pl}
	})
	return fx
}

// panicLog is a slog handler that keeps the engine's recovered panics.
type panicLog struct {
	mu     sync.Mutex
	panics []string
}

func (l *panicLog) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelError }
func (l *panicLog) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(strings.ToLower(r.Message), "panic") {
		msg := r.Message
		r.Attrs(func(a slog.Attr) bool { msg += " " + a.String(); return true })
		l.mu.Lock()
		l.panics = append(l.panics, msg)
		l.mu.Unlock()
	}
	return nil
}
func (l *panicLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *panicLog) WithGroup(string) slog.Handler      { return l }

func (l *panicLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.panics
	l.panics = nil
	return p
}

// h2cPreface opens a prior-knowledge HTTP/2 connection, which the front
// door hands to its HTTP/2 server.
const h2cPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

func FuzzHTTP1Proxy(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\n\r\nabcGET /2 HTTP/1.1\r\nHost: a.test\r\n\r\n",
		"POST /c HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /2 HTTP/1.1\r\nHost: a.test\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nGET /2 HTTP/1.1\r\nHost: a.test\r\n\r\n",
		"POST /e HTTP/1.1\r\nHost: a.test\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nab",
		"HEAD / HTTP/1.1\r\nHost: a.test\r\n\r\nGET / HTTP/1.0\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		if len(input) > maxInput || len(input) > 0 && input[0] == 0x16 ||
			bytes.HasPrefix(input, []byte(h2cPreface)) {
			return // TLS and h2c connections are not HTTP/1 (see fuzz/tlshello)
		}
		fx := setup()
		problems := fx.run(t, input)
		if len(problems) > 0 {
			// A second run tells a property the proxy breaks from a
			// request recorded late (a backend connection accepted
			// after settle looked): only what happens twice fails.
			time.Sleep(50 * time.Millisecond)
			again := fx.run(t, input)
			if len(again) > 0 {
				t.Fatalf("input %q:\n%s", input, strings.Join(again, "\n"))
			}
			t.Logf("input %q: first run only (not reproduced):\n%s", input, strings.Join(problems, "\n"))
		}
	})
}

// run sends input on one connection and checks the properties; it
// returns the problems found.
func (fx *fixture) run(t *testing.T, input []byte) []string {
	fx.bk.settle(t)
	start := fx.bk.count()
	out, reset := exchange(t, fx.proxy, input)
	fx.bk.settle(t)
	fwd := fx.bk.since(start)
	framed := frame(input)

	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for _, p := range fx.log.take() {
		fail("the engine recovered a panic: %s", p)
	}

	// The forwarded requests, in order, are framed ones.
	next := 0
	for i, f := range fwd {
		if f.bad != "" {
			fail("the backend received bytes it cannot frame (%s):%s", f.bad, describe(fwd))
			continue
		}
		if !f.complete && i != len(fwd)-1 {
			fail("an incomplete request was not the last one forwarded:%s", describe(fwd))
		}
		if ips := f.values("X-Real-Ip"); len(ips) != 1 || ips[0] != "127.0.0.1" {
			fail("the backend received a request the proxy did not process (X-Real-Ip %q): %s", ips, f)
		}
		k := next
		for k < len(framed) && !matches(f, framed[k]) {
			k++
		}
		if k == len(framed) {
			fail("the backend received a request the client did not frame: %s\nclient framing: %s", f, framed)
			continue
		}
		next = k + 1
	}
	if len(fwd) > len(framed) {
		fail("the backend received %d requests, the client framed %d", len(fwd), len(framed))
	}

	// What the client read.
	resps, perr := responses(out, framed)
	if perr != nil && !reset {
		fail("the client cannot read the proxy's answers: %v\nread: %q", perr, out)
	}
	if len(resps) > len(framed)+1 {
		fail("the client got %d answers to %d framed requests: %q", len(resps), len(framed), out)
	}
	answered := map[string]bool{}
	for _, r := range resps {
		if rec := r.values("X-Rec"); len(rec) > 0 {
			answered[rec[0]] = true
		}
	}
	for _, f := range fwd {
		switch {
		case f.bad != "":
		case f.complete && !answered[strconv.Itoa(f.id)] && !reset:
			fail("the backend answered a forwarded request, the client did not get that answer: %s\nclient read: %q", f, out)
		}
	}
	return problems
}

// exchange writes input on a new connection to the proxy, ends the
// client's side, and reads until the proxy closes. reset tells that the
// proxy reset the connection (what it had sent may be lost).
func exchange(t *testing.T, addr string, input []byte) (out []byte, reset bool) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write(input) // the proxy may have closed already
	c.(*net.TCPConn).CloseWrite()
	out, err = io.ReadAll(c)
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		t.Fatalf("input %q: the proxy neither closed nor answered in full 10 s after the end of the input (read %q)", input, out)
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		reset = true
	case err != nil:
		t.Fatal(err)
	}
	return out, reset
}

// request is one request of the client's input, as net/http frames it.
type request struct {
	method, target string
	host           string // the Host (or the absolute target's authority)
	refused        bool   // net/http refuses its target (target is "")
	body           []byte
	complete       bool // false: the input ended inside its body, or the body's framing is broken
}

func (r request) String() string {
	return fmt.Sprintf("%s %s body %q complete %v", r.method, r.target, r.body, r.complete)
}

// frame is the reference framing: net/http's ReadRequest loop over the
// input, up to the first request it refuses, the first whose body it
// cannot read, or one after which a server closes (Connection: close,
// HTTP/1.0 without keep-alive).
//
// Known differences, where Traefik (on net/http) refuses a request that
// edgeroute serves, are read as the proxy reads them (reported; none lets
// the proxy and the backend frame a request differently):
//   - net/http refuses "Transfer-Encoding: identity" (501), fasthttp
//     ignores it and frames by Content-Length (the smuggling table's "TE
//     identity with CL", reframed): such a request is framed without
//     that line;
//   - fasthttp skips empty lines (CRLF or LF) before a request line, as
//     RFC 9112 §2.2 allows; net/http answers 400: they are skipped;
//   - an absolute-form target whose authority net/http's URL parser
//     refuses ("http://#/", "http://a%zz/") is served (the authority
//     becomes the forwarded Host); net/http answers 400: it is framed
//     with the authority "x";
//   - any other target net/http's URL parser refuses ("/%") is answered
//     400 by edgeroute too, but on a connection it keeps open, where
//     net/http closes: it is framed (so that what follows is), marked
//     refused: it must not be forwarded.
func frame(input []byte) []request {
	var out []request
	for {
		for len(input) > 0 && input[0] == '\n' || len(input) > 1 && input[0] == '\r' && input[1] == '\n' {
			input = input[bytes.IndexByte(input, '\n')+1:]
		}
		if len(input) == 0 {
			return out
		}
		r := bytes.NewReader(input)
		br := bufio.NewReader(r)
		req, err := http.ReadRequest(br)
		for _, rewrite := range []func([]byte, error) ([]byte, bool){dropIdentity, plainAuthority, refusedTarget} {
			if err == nil {
				break
			}
			fixed, ok := rewrite(input, err)
			if !ok {
				continue
			}
			r2 := bytes.NewReader(fixed)
			br2 := bufio.NewReader(r2)
			if req2, err2 := http.ReadRequest(br2); err2 == nil {
				input, r, br, req, err = fixed, r2, br2, req2, nil
			}
		}
		if err != nil {
			return out
		}
		body, err := io.ReadAll(req.Body)
		if err == nil && forbiddenTrailer(req.Trailer) {
			// Deliberate (README): a trailer section with a field RFC 9110
			// §6.5.1 keeps out of trailers (Host, Content-Length, Cookie...)
			// is refused once the proxy reaches it; net/http merges it.
			err = errForbiddenTrailer
		}
		rq := request{method: req.Method, target: req.RequestURI, host: req.Host, body: body, complete: err == nil}
		if rq.target == refusedMark {
			rq.target, rq.refused = "", true
		}
		out = append(out, rq)
		if err != nil || req.Close {
			return out
		}
		input = input[int(r.Size())-r.Len()-br.Buffered():]
	}
}

var errForbiddenTrailer = errors.New("a forbidden trailer field")

// forbiddenTrailer tells whether a trailer section names a field that
// fasthttp's parser refuses in trailers (its list is the judge).
func forbiddenTrailer(tr http.Header) bool {
	for k := range tr {
		var h fasthttp.RequestHeader
		if errors.Is(h.SetTrailer(k), fasthttp.ErrBadTrailer) {
			return true
		}
	}
	return false
}

// refusedMark stands for a target net/http refuses.
const refusedMark = "/refused-by-net-http"

// refusedTarget replaces a request-line target that net/http's URL parser
// refuses with refusedMark.
func refusedTarget(input []byte, err error) ([]byte, bool) {
	var ue *url.Error
	end := bytes.IndexByte(input, '\n')
	if !errors.As(err, &ue) || end < 0 {
		return nil, false
	}
	parts := bytes.Split(bytes.TrimSuffix(input[:end], []byte("\r")), []byte(" "))
	if len(parts) != 3 {
		return nil, false
	}
	line := slices.Concat(parts[0], []byte(" "+refusedMark+" "), parts[2])
	return slices.Concat(line, input[end-boolInt(input[end-1] == '\r'):]), true
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// plainAuthority replaces the authority of an absolute-form target in
// the request line input starts with.
func plainAuthority(input []byte, _ error) ([]byte, bool) {
	end := bytes.IndexByte(input, '\n')
	if end < 0 {
		return nil, false
	}
	method, rest, ok := bytes.Cut(input[:end], []byte(" "))
	i := bytes.Index(rest, []byte("://"))
	if !ok || i < 0 || !strings.EqualFold(string(rest[:i]), "http") && !strings.EqualFold(string(rest[:i]), "https") {
		return nil, false
	}
	auth := rest[i+3:]
	j := bytes.IndexAny(auth, "/? ")
	if j < 0 {
		return nil, false
	}
	line := slices.Concat(method, []byte(" "), rest[:i+3], []byte("x"), auth[j:])
	return slices.Concat(line, input[end:]), true
}

// dropIdentity removes the "Transfer-Encoding: identity" lines (any
// case, CRLF or bare LF line ends) of the first header block of input
// (which then starts the input returned).
func dropIdentity(input []byte, err error) ([]byte, bool) {
	if !strings.Contains(strings.ToLower(err.Error()), `unsupported transfer encoding: "identity"`) {
		return nil, false
	}
	var out []byte
	dropped := false
	for rest := input; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			return nil, false
		}
		line := rest[:i+1]
		rest = rest[i+1:]
		content := bytes.TrimSuffix(line[:i], []byte("\r"))
		name, value, ok := bytes.Cut(content, []byte(":"))
		if ok && strings.EqualFold(string(name), "Transfer-Encoding") && strings.EqualFold(strings.TrimSpace(string(value)), "identity") {
			dropped = true
			continue
		}
		out = append(out, line...)
		if len(content) == 0 && len(out) > len(line) { // the end of the block
			return append(out, rest...), dropped
		}
	}
	return nil, false
}

// matches tells whether f is the framed request r as the proxy forwards it.
func matches(f *forwarded, r request) bool {
	method, target, _ := strings.Cut(f.start, " ")
	target, _, _ = strings.Cut(target, " ")
	if r.refused {
		return false
	}
	want := forwardedTarget(r.target)
	if method != r.method || !sameTarget(target, want) {
		return false
	}
	if f.complete {
		return r.complete && bytes.Equal(f.body, r.body)
	}
	return !r.complete && bytes.HasPrefix(r.body, f.body)
}

// forwardedTarget is the target the proxy sends for a client's target:
// the normalised, sanitised path (Traefik's sanitizePath, on by default)
// and the query with ';' as '&' (Traefik's AllowQuerySemicolons); an
// absolute-form target loses its scheme and authority. "" for a target
// the proxy refuses.
func forwardedTarget(target string) string {
	if i := strings.Index(strings.ToLower(target), "://"); i > 0 {
		if s := strings.ToLower(target[:i]); s == "http" || s == "https" {
			rest := target[i+3:]
			if j := strings.IndexAny(rest, "/?"); j >= 0 {
				target = rest[j:]
			} else {
				target = ""
			}
		}
	}
	raw, query, hasQuery := strings.Cut(target, "?")
	path, err := compile.AppendNormalizedPath(nil, []byte(raw), true)
	if err != nil {
		return ""
	}
	out := string(path)
	if !strings.HasPrefix(out, "/") {
		out = "/" + out
	}
	if hasQuery {
		out += "?" + strings.ReplaceAll(query, ";", "&")
	}
	return out
}

// sameTarget compares targets up to the choice of percent-encoding in
// the path: the proxy sends Go's EscapedPath, which re-encodes a path
// whose raw form is not a valid encoding of it ("/a%2Fb{" goes as
// "/a/b%7B", as in Traefik).
func sameTarget(got, want string) bool {
	if got == want {
		return true
	}
	gp, gq, _ := strings.Cut(got, "?")
	wp, wq, _ := strings.Cut(want, "?")
	if want == "" || gq != wq || strings.Contains(got, "?") != strings.Contains(want, "?") {
		return false
	}
	g, err1 := url.PathUnescape(gp)
	w, err2 := url.PathUnescape(wp)
	return err1 == nil && err2 == nil && g == w
}

// responses frames what the client read, strictly; framed gives the
// methods (a HEAD response has no body). Interim 1xx answers are dropped.
func responses(out []byte, framed []request) ([]*message, error) {
	src := bytes.NewReader(out)
	r := &reader{br: bufio.NewReader(src)}
	var resps []*message
	for {
		method := ""
		if n := len(resps); n < len(framed) {
			method = framed[n].method
		}
		off := len(out) - src.Len() - r.br.Buffered()
		m, status, err := r.readResponse(method)
		if err == io.EOF {
			return resps, nil
		}
		if err != nil {
			return resps, fmt.Errorf("answer %d: %w (%q)", len(resps)+1, err, r.raw.Bytes())
		}
		if status < 200 {
			continue
		}
		if closes(m) {
			rest, _ := io.ReadAll(r.br)
			if len(rest) > 0 && method == "HEAD" {
				// A server that could not read the request could not
				// know it was HEAD: its refusal has a body (until close).
				r = &reader{br: bufio.NewReader(bytes.NewReader(out[off:]))}
				if m, _, err = r.readResponse(""); err != nil {
					return resps, fmt.Errorf("answer %d: %w (%q)", len(resps)+1, err, r.raw.Bytes())
				}
				rest, _ = io.ReadAll(r.br)
			}
			resps = append(resps, m)
			if len(rest) > 0 {
				return resps, fmt.Errorf("%q after an answer that closes the connection", rest)
			}
			return resps, nil
		}
		resps = append(resps, m)
	}
}
