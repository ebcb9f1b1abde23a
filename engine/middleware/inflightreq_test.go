package middleware

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// gate is a backend that holds requests until the test lets them go: a
// request with "Hold: <id>" is announced on arrived, then waits for
// release(id); with "Stream: <id>" it sends "first\n" at once and the
// rest once released. Any other request is answered "ok" at once.
type gate struct {
	arrived chan string
	mu      sync.Mutex
	gates   map[string]chan struct{}
	hits    atomic.Int64
}

func newGate() *gate {
	return &gate{arrived: make(chan string, 16), gates: map[string]chan struct{}{}}
}

func (g *gate) ch(id string) chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.gates[id]
	if c == nil {
		c = make(chan struct{})
		g.gates[id] = c
	}
	return c
}

func (g *gate) release(id string) { close(g.ch(id)) }

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.hits.Add(1)
	if id := r.Header.Get("Hold"); id != "" {
		g.arrived <- id
		<-g.ch(id)
		io.WriteString(w, "held "+id)
		return
	}
	if id := r.Header.Get("Stream"); id != "" {
		io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		<-g.ch(id)
		io.WriteString(w, "rest\n")
		return
	}
	io.WriteString(w, "ok")
}

// conn1 is a client of one connection: a request sent after a response
// was read goes on the same connection, so the front server has finished
// the previous one (and released its count) before it reads it.
func conn1(t *testing.T) *http.Client {
	tr := &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

type answer struct {
	status int
	body   string
	ctype  string
	err    error
}

func send(c *http.Client, url string, hdr ...string) answer {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return answer{err: err}
	}
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ":")
		if strings.EqualFold(k, "Host") {
			req.Host = strings.TrimSpace(v)
			continue
		}
		req.Header.Add(k, strings.TrimSpace(v))
	}
	resp, err := c.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, body: string(b), ctype: resp.Header.Get("Content-Type"), err: err}
}

// held is a request the gate holds.
type held struct {
	id   string
	c    *http.Client
	base string
	done chan answer
}

// hold sends a request that the gate holds, and returns once the backend
// has it: it is in flight.
func hold(t *testing.T, g *gate, url, id string, hdr ...string) *held {
	t.Helper()
	h := &held{id: id, c: conn1(t), base: url[:strings.Index(url[len("http://"):], "/")+len("http://")], done: make(chan answer, 1)}
	go func() { h.done <- send(h.c, url, append(hdr, "Hold: "+id)...) }()
	for got := range g.arrived {
		if got != id {
			t.Fatalf("the gate got %s, want %s", got, id)
		}
		break
	}
	return h
}

// finish lets the held request go, checks its answer, and returns once
// the front server is done with it.
func (h *held) finish(t *testing.T, g *gate) {
	t.Helper()
	g.release(h.id)
	if a := <-h.done; a.err != nil || a.status != 200 || a.body != "held "+h.id {
		t.Fatalf("held %s: %+v", h.id, a)
	}
	h.probe(t)
}

// probe sends a request on the held request's connection that the case
// front answers through no middleware.
func (h *held) probe(t *testing.T) {
	t.Helper()
	if a := send(h.c, h.base+"/probe"); a.status != 418 {
		t.Fatalf("probe: %+v", a)
	}
}

// inFlight builds an inFlightReq from its JSON configuration, with its
// counts.
func inFlight(t *testing.T, config string) (*flights, Middleware) {
	t.Helper()
	var c inFlightReqConfig
	if err := decode(json.RawMessage(config), &c); err != nil {
		t.Fatal(err)
	}
	lim, m, err := buildInFlightReq(&c)
	if err != nil {
		t.Fatal(err)
	}
	return lim, m
}

func wantRejected(t *testing.T, a answer, amount string) {
	t.Helper()
	if a.err != nil || a.status != 429 || a.body != "max connections reached: "+amount || a.ctype != "text/plain; charset=utf-8" {
		t.Errorf("got %+v, want connlimit's 429", a)
	}
}

func wantKeys(t *testing.T, lim *flights, want int) {
	t.Helper()
	if _, keys := lim.count(""); keys != want {
		t.Errorf("%d keys counted, want %d", keys, want)
	}
}

func TestInFlightReqBuildErrors(t *testing.T) {
	tests := []struct{ config, err string }{
		{`{"amount":1,"sourceCriterion":{"ipStrategy":{},"requestHeaderName":"X"}}`, "error creating requests limiter: iPStrategy and RequestHeaderName are mutually exclusive"},
		{`{"amount":1,"sourceCriterion":{"ipStrategy":{},"requestHost":true}}`, "error creating requests limiter: iPStrategy and RequestHost are mutually exclusive"},
		{`{"amount":1,"sourceCriterion":{"requestHeaderName":"X","requestHost":true}}`, "error creating requests limiter: requestHost and RequestHeaderName are mutually exclusive"},
		{`{"amount":1,"sourceCriterion":{"ipStrategy":{"depth":1,"ipv6Subnet":0}}}`, "error creating requests limiter: invalid IPv6 subnet 0 value, should be greater to 0 and lower or equal to 128"},
		{`{"amount":1,"sourceCriterion":{"ipStrategy":{"ipv6Subnet":129}}}`, "error creating requests limiter: invalid IPv6 subnet 129 value"},
		{`{"amount":1,"sourceCriterion":{"ipStrategy":{"excludedIPs":["foo"]}}}`, "error creating requests limiter: parsing CIDR trusted IPs <nil>: invalid CIDR address: foo"},
		{`{"amount":1,"sourceCriterion":{"requestHostname":true}}`, `option "requestHostname" is not supported by edgeroute`},
		{`{"amount":"1"}`, "cannot unmarshal string"},
		{`{"amount":1,"burst":2}`, `option "burst" is not supported by edgeroute`},
		{`{}`, ""},
		{`{"amount":10}`, ""},
		{`{"amount":-1}`, ""},
		{`{"amount":1,"sourceCriterion":{}}`, ""},
		{`{"amount":1,"sourceCriterion":{"ipStrategy":{"excludedIPs":["10.0.0.1"],"ipv6Subnet":0}}}`, ""},
	}
	for _, tc := range tests {
		_, err := tryBuild("inFlightReq", tc.config)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.config, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want %q", tc.config, err, tc.err)
		}
	}
}

// TestInFlightReqLimit is connlimit's TestConnLimiter_hitLimitAndRelease
// with real concurrent requests: amount requests of a source held by the
// backend, the next of that source is refused with connlimit's answer
// without reaching the backend, another source passes, and once a held
// request has finished its source may send again; when all are done no
// key is left.
func TestInFlightReqLimit(t *testing.T) {
	g := newGate()
	cf := newCaseFrontTo(t, g)
	lim, m := inFlight(t, `{"amount":2,"sourceCriterion":{"requestHeaderName":"X-Src"}}`)
	url := cf.addMW(m) + "/"
	c := conn1(t)

	a1 := hold(t, g, url, "a1", "X-Src: a")
	a2 := hold(t, g, url, "a2", "X-Src: a")
	if n, _ := lim.count("a"); n != 2 {
		t.Fatalf("a counts %d, want 2", n)
	}
	hits := g.hits.Load()
	wantRejected(t, send(c, url, "X-Src: a"), "2")
	wantRejected(t, send(c, url, "X-Src: a"), "2")
	if g.hits.Load() != hits {
		t.Error("a refused request reached the backend")
	}
	if a := send(c, url, "X-Src: b"); a.status != 200 || a.body != "ok" {
		t.Errorf("another source: %+v", a)
	}
	b1 := hold(t, g, url, "b1", "X-Src: b")
	wantKeys(t, lim, 2)

	a1.finish(t, g)
	if n, _ := lim.count("a"); n != 1 {
		t.Fatalf("a counts %d after one finished, want 1", n)
	}
	a3 := hold(t, g, url, "a3", "X-Src: a") // a1's place
	wantRejected(t, send(c, url, "X-Src: a"), "2")
	for _, h := range []*held{a2, a3, b1} {
		h.finish(t, g)
	}
	wantKeys(t, lim, 0)
	if a := send(c, url, "X-Src: a"); a.status != 200 {
		t.Errorf("after all finished: %+v", a)
	}
}

// TestInFlightReqStreamedBody: a request counts until its answer is sent,
// as in Traefik, where ServeHTTP returns once the body is copied: while
// the backend still streams the body, the source is at its limit.
func TestInFlightReqStreamedBody(t *testing.T) {
	g := newGate()
	cf := newCaseFrontTo(t, g)
	lim, m := inFlight(t, `{"amount":1,"sourceCriterion":{"requestHeaderName":"X-Src"}}`)
	url := cf.addMW(m) + "/"
	c, other := conn1(t), conn1(t)

	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("X-Src", "a")
	req.Header.Set("Stream", "s1")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); err != nil || line != "first\n" {
		t.Fatalf("%q %v", line, err)
	}
	// The chain has returned: the body is being sent.
	wantRejected(t, send(other, url, "X-Src: a"), "1")
	g.release("s1")
	if rest, err := io.ReadAll(br); err != nil || string(rest) != "rest\n" {
		t.Fatalf("%q %v", rest, err)
	}
	resp.Body.Close()
	if a := send(c, cf.base+"/probe"); a.status != 418 {
		t.Fatal(a)
	}
	wantKeys(t, lim, 0)
	if a := send(other, url, "X-Src: a"); a.status != 200 {
		t.Errorf("after the body: %+v", a)
	}
}

// TestInFlightReqSources: what requests count together. Without a
// criterion (or an empty one) it is the request's host, as Go's req.Host
// (port included); an empty ipStrategy is the peer; an absent header or
// address is one key, "", shared.
func TestInFlightReqSources(t *testing.T) {
	tests := []struct {
		criterion string
		first     []string // held
		second    []string
		refused   bool
	}{
		{``, []string{"Host: a.example"}, []string{"Host: a.example"}, true},
		{``, []string{"Host: a.example"}, []string{"Host: b.example"}, false},
		{``, []string{"Host: a.example"}, []string{"Host: a.example:8080"}, false},
		{``, []string{"Host: a.example:8080"}, []string{"Host: a.example:8080", "X-Src: other"}, true},
		{`{}`, []string{"Host: a.example"}, []string{"Host: a.example"}, true},
		{`{}`, []string{"Host: a.example"}, []string{"Host: b.example"}, false},
		{`{"requestHost":true}`, []string{"Host: a.example"}, []string{"Host: a.example"}, true},
		{`{"requestHost":true}`, []string{"Host: a.example"}, []string{"Host: b.example"}, false},
		{`{"ipStrategy":{}}`, []string{"Host: a.example"}, []string{"Host: b.example"}, true},
		{`{"ipStrategy":{"ipv6Subnet":64}}`, []string{"Host: a.example"}, []string{"Host: b.example"}, true},
		{`{"requestHeaderName":"X-Src"}`, []string{"X-Src: a"}, []string{"X-Src: a"}, true},
		{`{"requestHeaderName":"X-Src"}`, []string{"X-Src: a"}, []string{"X-Src: b"}, false},
		{`{"requestHeaderName":"X-Src"}`, []string{"X-Src: a"}, []string{"X-Src: A"}, false},
		{`{"requestHeaderName":"X-Src"}`, []string{"X-Src: a", "Host: a.example"}, []string{"X-Src: a", "Host: b.example"}, true},
		{`{"requestHeaderName":"X-Src"}`, nil, nil, true}, // both ""
		{`{"requestHeaderName":"X-Src"}`, nil, []string{"X-Src: a"}, false},
		{`{"requestHeaderName":"X-Src"}`, []string{"X-Src: a", "X-Src: b"}, []string{"X-Src: a"}, true}, // the first line
		{`{"requestHeaderName":"x-src"}`, []string{"X-Src: a"}, []string{"x-SRC: a"}, true},
		{`{"requestHeaderName":"Host"}`, []string{"Host: a.example"}, []string{"Host: b.example"}, true}, // not in req.Header: ""
		{`{"ipStrategy":{"depth":1}}`, []string{"X-Forwarded-For: 10.0.0.1"}, []string{"X-Forwarded-For: 10.0.0.1"}, true},
		{`{"ipStrategy":{"depth":1}}`, []string{"X-Forwarded-For: 10.0.0.1"}, []string{"X-Forwarded-For: 10.0.0.2"}, false},
		{`{"ipStrategy":{"depth":1}}`, []string{"X-Forwarded-For: 9.9.9.9, 10.0.0.1"}, []string{"X-Forwarded-For: 10.0.0.1"}, true},
		{`{"ipStrategy":{"depth":1}}`, []string{"X-Forwarded-For: 10.0.0.1"}, nil, false},
		{`{"ipStrategy":{"depth":2}}`, []string{"X-Forwarded-For: 10.0.0.1"}, nil, true}, // both ""
		{`{"ipStrategy":{"depth":2}}`, []string{"X-Forwarded-For: 10.0.0.5,10.0.0.1"}, []string{"X-Forwarded-For: 10.0.0.5,10.0.0.2"}, true},
		{`{"ipStrategy":{"excludedIPs":["10.0.0.9"]}}`, []string{"X-Forwarded-For: 10.0.0.1, 10.0.0.9"}, []string{"X-Forwarded-For: 10.0.0.1"}, true},
		{`{"ipStrategy":{"excludedIPs":["10.0.0.0/8"]}}`, []string{"X-Forwarded-For: 10.0.0.1"}, []string{"X-Forwarded-For: 10.0.0.2"}, true}, // both ""
		{`{"ipStrategy":{"depth":1,"ipv6Subnet":64}}`, []string{"X-Forwarded-For: 2001:db8::1"}, []string{"X-Forwarded-For: 2001:db8::2:0:0:2"}, true},
		{`{"ipStrategy":{"depth":1,"ipv6Subnet":64}}`, []string{"X-Forwarded-For: 2001:db8::1"}, []string{"X-Forwarded-For: 2001:db8:0:1::1"}, false},
		{`{"ipStrategy":{"depth":1,"ipv6Subnet":128}}`, []string{"X-Forwarded-For: 2001:db8::1"}, []string{"X-Forwarded-For: 2001:db8::2"}, false},
	}
	g := newGate()
	cf := newCaseFrontTo(t, g)
	c := conn1(t)
	for i, tc := range tests {
		config := `{"amount":1`
		if tc.criterion != "" {
			config += `,"sourceCriterion":` + tc.criterion
		}
		config += "}"
		lim, m := inFlight(t, config)
		url := cf.addMW(m) + "/"
		h := hold(t, g, url, fmt.Sprint("h", i), tc.first...)
		a := send(c, url, tc.second...)
		switch {
		case tc.refused:
			if a.status != 429 {
				t.Errorf("%s %q then %q: %+v, want 429", config, tc.first, tc.second, a)
			}
		case a.status != 200:
			t.Errorf("%s %q then %q: %+v, want 200", config, tc.first, tc.second, a)
		}
		h.finish(t, g)
		wantKeys(t, lim, 0)
	}
}

// TestInFlightReqAbsoluteForm: with an absolute-form target, the host is
// the target's authority (Go's req.Host), not the Host header.
func TestInFlightReqAbsoluteForm(t *testing.T) {
	g := newGate()
	cf := newCaseFrontTo(t, g)
	_, m := inFlight(t, `{"amount":1}`)
	url := cf.addMW(m) + "/"
	path := url[strings.Index(url[len("http://"):], "/")+len("http://"):]
	addr := strings.TrimPrefix(cf.base, "http://")
	for _, tc := range []struct {
		target, host string
		refused      bool
	}{
		{"http://a.example" + path, "z.example", true},
		{"HTTP://user@a.example" + path, "z.example", true},
		{"http://b.example" + path, "a.example", false},
		{"http://a.example:80" + path, "a.example", false},
	} {
		h := hold(t, g, url, "abs", "Host: a.example")
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", tc.target, tc.host)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		c.Close()
		if want := map[bool]int{true: 429, false: 200}[tc.refused]; resp.StatusCode != want {
			t.Errorf("%s (Host %s): %d, want %d", tc.target, tc.host, resp.StatusCode, want)
		}
		h.finish(t, g)
		g.mu.Lock()
		delete(g.gates, "abs")
		g.mu.Unlock()
	}
}

// TestInFlightReqAmount: 0 (the default) or less lets nothing through,
// with connlimit's answer (connlimit compares count >= amount).
func TestInFlightReqAmount(t *testing.T) {
	g := newGate()
	cf := newCaseFrontTo(t, g)
	c := conn1(t)
	for _, tc := range []struct{ config, amount string }{
		{`{}`, "0"}, {`{"amount":0}`, "0"}, {`{"amount":-1}`, "-1"},
		{`{"amount":0,"sourceCriterion":{"requestHeaderName":"X-Src"}}`, "0"},
	} {
		lim, m := inFlight(t, tc.config)
		url := cf.addMW(m) + "/"
		for range 2 {
			wantRejected(t, send(c, url, "X-Src: a"), tc.amount)
		}
		wantKeys(t, lim, 0)
	}
	if g.hits.Load() != 0 {
		t.Errorf("%d requests reached the backend", g.hits.Load())
	}
	// A HEAD gets the status and headers, without the body.
	_, m := inFlight(t, `{}`)
	req, _ := http.NewRequest("HEAD", cf.addMW(m)+"/", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.ContentLength != int64(len("max connections reached: 0")) {
		t.Errorf("HEAD: %d, Content-Length %d", resp.StatusCode, resp.ContentLength)
	}
}

// TestInFlightReqShared: one inFlightReq is one budget, for every router
// using it and across reloads that keep its definition (Traefik builds
// one per router: traefik#13706).
func TestInFlightReqShared(t *testing.T) {
	g := newGate()
	def := &spec.Middleware{Name: "default-limit@kubernetescrd", Kind: "inFlightReq", Config: json.RawMessage(`{"amount":1}`)}
	defs := map[string]*spec.Middleware{def.Name: def}
	first := Build(defs, BuildContext{})
	again := Build(map[string]*spec.Middleware{def.Name: {Name: def.Name, Kind: def.Kind, Config: def.Config}}, BuildContext{Previous: first})
	changed := Build(map[string]*spec.Middleware{def.Name: {Name: def.Name, Kind: def.Kind, Config: json.RawMessage(`{"amount":1 }`)}}, BuildContext{Previous: first})
	cf := newCaseFrontTo(t, g)
	router1 := cf.addMW(first[def.Name].Wrap) + "/"
	router2 := cf.addMW(first[def.Name].Wrap) + "/"
	reloaded := cf.addMW(again[def.Name].Wrap) + "/"
	rebuilt := cf.addMW(changed[def.Name].Wrap) + "/"
	c := conn1(t)
	h := hold(t, g, router1, "r1", "Host: a.example")
	wantRejected(t, send(c, router2, "Host: a.example"), "1")
	wantRejected(t, send(c, reloaded, "Host: a.example"), "1")
	if a := send(c, rebuilt, "Host: a.example"); a.status != 200 {
		t.Errorf("a new definition, a new budget: %+v", a)
	}
	h.finish(t, g)
	if a := send(c, router2, "Host: a.example"); a.status != 200 {
		t.Errorf("after release: %+v", a)
	}
}

// TestInFlightReqUpgrade: an upgraded connection (the engine's WebSocket
// tunnel runs in fasthttp's hijack handler, after the chain) counts until
// its tunnel ends, as in Traefik, whose ServeHTTP returns then.
func TestInFlightReqUpgrade(t *testing.T) {
	release := make(chan struct{})
	tunnel := func(next Handler) Handler {
		return func(ctx *fasthttp.RequestCtx, r *Request) {
			if !strings.HasSuffix(string(r.Path()), "/upgrade") {
				next(ctx, r)
				return
			}
			ctx.HijackSetNoResponse(true)
			ctx.Hijack(func(c net.Conn) {
				io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n")
				<-release
			})
		}
	}
	lim, m := inFlight(t, `{"amount":1}`)
	cf := newCaseFront(t)
	url := cf.addMW(func(next Handler) Handler { return m(tunnel(next)) })
	addr := strings.TrimPrefix(cf.base, "http://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET %s/upgrade HTTP/1.1\r\nHost: a.example\r\nConnection: Upgrade\r\nUpgrade: test\r\n\r\n", url[len(cf.base):])
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatal(resp, err)
	}
	// The tunnel runs: a.example is at its limit.
	client := conn1(t)
	wantRejected(t, send(client, url+"/", "Host: a.example"), "1")
	if a := send(client, url+"/", "Host: b.example"); a.status != 200 {
		t.Errorf("another host: %+v", a)
	}
	close(release)
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("the tunnel did not end: %v", err)
	}
	// The count is released before fasthttp closes the connection.
	wantKeys(t, lim, 0)
	if a := send(client, url+"/", "Host: a.example"); a.status != 200 {
		t.Errorf("after the tunnel: %+v", a)
	}
}

// TestInFlightReqHijackDropped: a hijack handler fasthttp never runs (the
// connection failed before the tunnel) releases its count once it is
// garbage.
func TestInFlightReqHijackDropped(t *testing.T) {
	lim, m := inFlight(t, `{"amount":1}`)
	h := m(func(ctx *fasthttp.RequestCtx, r *Request) {
		ctx.Hijack(func(net.Conn) { t.Error("run") })
	})
	ctx := new(fasthttp.RequestCtx)
	ctx.Request.Header.SetHost("a.example")
	h(ctx, new(Request))
	if n, _ := lim.count("a.example"); n != 1 {
		t.Fatalf("count %d, want 1 while the hijack handler may run", n)
	}
	ctx.Hijack(nil) // fasthttp drops it
	for i := 0; i < 1000; i++ {
		if _, keys := lim.count(""); keys == 0 {
			return
		}
		runtime.GC()
		runtime.Gosched()
	}
	t.Fatal("the dropped hijack handler's count was not released")
}

// TestInFlightReqPanic: a request whose handler panics is counted out.
func TestInFlightReqPanic(t *testing.T) {
	lim, m := inFlight(t, `{"amount":1}`)
	h := m(func(*fasthttp.RequestCtx, *Request) { panic("boom") })
	ctx := new(fasthttp.RequestCtx)
	ctx.Request.Header.SetHost("a.example")
	func() {
		defer func() { recover() }()
		h(ctx, new(Request))
	}()
	wantKeys(t, lim, 0)
}

// TestFlightsConcurrent: many goroutines acquiring and releasing a few
// keys never see more than amount in flight for a key, and leave no key.
func TestFlightsConcurrent(t *testing.T) {
	const amount, keys = 3, 8
	lim := newFlights(amount)
	var inside [keys]atomic.Int64
	var refused atomic.Int64
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(w), 1))
			key := make([]byte, 0, 8)
			for range 2000 {
				k := rnd.IntN(keys)
				key = fmt.Appendf(key[:0], "k%d", k)
				f := lim.acquire(key)
				if f == nil {
					refused.Add(1)
					continue
				}
				if n := inside[k].Add(1); n > amount {
					t.Errorf("key %d: %d in flight", k, n)
				}
				runtime.Gosched()
				inside[k].Add(-1)
				lim.release(f)
			}
		}()
	}
	wg.Wait()
	wantKeys(t, lim, 0)
	if refused.Load() == 0 {
		t.Log("no request was refused") // the scheduler's choice; counts above are the check
	}
	for i := range lim.shards {
		if s := &lim.shards[i]; s.nfr > flightFreeMax {
			t.Errorf("shard %d keeps %d entries", i, s.nfr)
		}
	}
}

// TestFlightsMemory: keys are forgotten at 0, reused entries are bounded,
// long keys' buffers are not kept, and a map grown by a burst of keys is
// rebuilt small.
func TestFlightsMemory(t *testing.T) {
	lim := newFlights(2)
	var fs []*flight
	for i := range 20 * flightShrink {
		f := lim.acquire(fmt.Appendf(nil, "key-%d", i))
		if f == nil {
			t.Fatal("refused")
		}
		fs = append(fs, f)
	}
	long := lim.acquire(make([]byte, flightKeyMax+1))
	wantKeys(t, lim, 20*flightShrink+1)
	for _, f := range fs {
		lim.release(f)
	}
	lim.release(long)
	if long.key != nil {
		t.Error("a long key's buffer is kept")
	}
	wantKeys(t, lim, 0)
	for i := range lim.shards {
		s := &lim.shards[i]
		if s.nfr > flightFreeMax || s.peak >= flightShrink {
			t.Errorf("shard %d: %d free entries, peak %d", i, s.nfr, s.peak)
		}
	}
	// Same hash chain: two keys of one hash are told apart (forced here).
	s := &lim.shards[0]
	a := &flight{key: []byte("a"), n: 1, hash: 7, shard: s}
	b := &flight{key: []byte("b"), n: 1, hash: 7, shard: s, next: a}
	s.m[7] = b
	lim.release(a) // not the chain's head
	if s.m[7] != b || b.next != nil {
		t.Error("chain after removing its tail")
	}
	lim.release(b)
	if _, ok := s.m[7]; ok {
		t.Error("chain left after removing its last entry")
	}
}
