package engine

import (
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/lb"
)

// The TraefikService kinds (mirroring, failover, highest random weight),
// nesting, health propagation and cycles, over real sockets on loopback.

// seen is what a recording backend received.
type seen struct {
	method, path, body string
	length             int64
	header             http.Header
}

// recBackend is a backend that records every request and answers with
// its name (and the body it got); one named "main" answers 503 and 404
// on paths that start so. While block is open it does not answer (a
// mirror that never does).
type recBackend struct {
	url   string
	n     atomic.Int64
	mu    sync.Mutex
	reqs  []seen
	block chan struct{}
}

func newRec(t *testing.T, name string, blocking bool) *recBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rb := &recBackend{url: "http://" + ln.Addr().String()}
	if blocking {
		rb.block = make(chan struct{})
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rb.mu.Lock()
		rb.reqs = append(rb.reqs, seen{method: r.Method, path: r.URL.RequestURI(), body: string(b), length: r.ContentLength, header: r.Header.Clone()})
		rb.mu.Unlock()
		rb.n.Add(1)
		if rb.block != nil {
			select {
			case <-rb.block:
			case <-r.Context().Done():
			}
		}
		status := 200
		switch {
		case name != "main":
		case strings.HasPrefix(r.URL.Path, "/503"):
			status = 503
		case strings.HasPrefix(r.URL.Path, "/404"):
			status = 404
		}
		w.Header().Set("X-From", name)
		w.WriteHeader(status)
		fmt.Fprintf(w, "%s %s", name, b)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	if blocking {
		t.Cleanup(func() { close(rb.block) }) // runs first: the handlers return
	}
	return rb
}

func (rb *recBackend) all() []seen {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	return append([]seen(nil), rb.reqs...)
}

// killable is a backend that can be stopped and started again on the same
// address, answering its name (and 200 on /health while it runs).
type killable struct {
	t    *testing.T
	name string
	addr string
	mu   sync.Mutex
	srv  *http.Server
}

func newKillable(t *testing.T, name string) *killable {
	k := &killable{t: t, name: name, addr: "127.0.0.1:0"}
	k.start()
	t.Cleanup(k.stop)
	return k
}

func (k *killable) url() string { return "http://" + k.addr }

func (k *killable) start() {
	k.t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the address may take a moment to be free again
		if ln, err = net.Listen("tcp", k.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		k.t.Fatal(err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.addr = ln.Addr().String()
	name := k.name
	k.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, name)
	})}
	go k.srv.Serve(ln)
}

func (k *killable) stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.srv != nil {
		k.srv.Close()
		k.srv = nil
	}
}

// waitFor polls cond until it holds; the deadline only guards against a
// hang, nothing is measured.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lbDef is a servers load balancer over one URL, with an active health
// check when hc is set.
func lbDef(snap *spec.Snapshot, name, url string, hc bool) {
	def := &spec.Service{Name: name, LoadBalancer: &spec.LoadBalancer{EndpointsKey: name, PassHostHeader: true, Strategy: "wrr"}}
	if hc {
		def.LoadBalancer.HealthCheck = &spec.HealthCheck{Path: "/health", Method: "GET", Interval: 30 * time.Millisecond,
			UnhealthyInterval: 30 * time.Millisecond, Timeout: time.Second, FollowRedirects: true}
	}
	snap.Services[name] = def
	snap.Endpoints[name] = []spec.Server{{URL: url}}
}

func routed(service string) *spec.Snapshot {
	return &spec.Snapshot{Routers: []spec.Router{{Name: "r", Rule: "PathPrefix(`/`)", Service: service}},
		Services: map[string]*spec.Service{}, Endpoints: map[string][]spec.Server{}}
}

func mustGet(t *testing.T, c *http.Client, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// TestMirrorPercent: over 10,000 requests (2,000 under the race detector)
// each mirror receives its percent of them (Traefik's counting makes it exact; the test allows 2%),
// counted at the mirror backends; the main service gets every request.
func TestMirrorPercent(t *testing.T) {
	main := newRec(t, "main", false)
	percents := []int{10, 33, 50, 100, 0}
	snap := routed("mirror")
	lbDef(snap, "main", main.url, false)
	m := &spec.Mirroring{Service: "main", MirrorBody: true, MaxBodySize: -1}
	var recs []*recBackend
	for i, p := range percents {
		rb := newRec(t, fmt.Sprint("m", i), false)
		recs = append(recs, rb)
		name := fmt.Sprint("m", i)
		lbDef(snap, name, rb.url, false)
		m.Mirrors = append(m.Mirrors, spec.Mirror{Name: name, Percent: p})
	}
	snap.Services["mirror"] = &spec.Service{Name: "mirror", Mirroring: m}
	s, base := startServer(t, snap)

	const n, workers = mirrorRequests, 8
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			for next.Add(1) <= n {
				resp, err := c.Get(base + "/x")
				if err != nil {
					errs <- err
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(b) != "main " {
					errs <- fmt.Errorf("main answer %d %q", resp.StatusCode, b)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	ms := s.Runtime().mirrors["mirror"]
	for i, p := range percents {
		tgt := ms.mirrors[i]
		waitFor(t, "the mirrored requests", func() bool { return recs[i].n.Load() == int64(tgt.sent.Load()) })
		want := float64(n * p / 100)
		got := float64(recs[i].n.Load())
		if math.Abs(got-want) > 0.02*want || p == 0 && got != 0 {
			t.Errorf("mirror at %d%%: %v requests, want %v (±2%%)", p, got, want)
		}
		if tgt.dropped.Load() != 0 {
			t.Errorf("mirror at %d%%: %d dropped", p, tgt.dropped.Load())
		}
	}
	if got := main.n.Load(); got != n {
		t.Errorf("main service got %d requests, want %d", got, n)
	}
	// The copy is the request as received: method, path, forwarded headers.
	r := recs[3].all()[0]
	if r.method != "GET" || r.path != "/x" || r.header.Get("X-Forwarded-For") != "127.0.0.1" || r.header.Get("X-Forwarded-Proto") != "http" {
		t.Errorf("mirrored request: %+v", r)
	}
}

// TestMirrorNeverDelays: a mirror that refuses connections and one that
// never answers do not delay, block or fail the main answers. The copies
// to the one that never answers stop at the in-flight bound, and the rest
// are dropped and counted, across a reload too.
func TestMirrorNeverDelays(t *testing.T) {
	defer func(v int64) { mirrorMaxInFlight = v }(mirrorMaxInFlight)
	mirrorMaxInFlight = 8
	main, slow := newRec(t, "main", false), newRec(t, "slow", true)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	snap := routed("mirror")
	lbDef(snap, "main", main.url, false)
	lbDef(snap, "dead", dead, false)
	lbDef(snap, "slow", slow.url, false)
	snap.Services["mirror"] = &spec.Service{Name: "mirror", Mirroring: &spec.Mirroring{Service: "main", MirrorBody: true, MaxBodySize: -1,
		Mirrors: []spec.Mirror{{Name: "dead", Percent: 100}, {Name: "slow", Percent: 100}}}}
	s, base := startServer(t, snap)
	c := &http.Client{}
	const n = 300
	for i := range n {
		if code, body, _ := mustGet(t, c, base+"/"); code != 200 || body != "main " {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
	}
	waitFor(t, "the slow mirror's first requests", func() bool { return slow.n.Load() == mirrorMaxInFlight })
	slowT := s.Runtime().mirrors["mirror"].mirrors[1]
	if got := slowT.sent.Load(); got != uint64(mirrorMaxInFlight) {
		t.Errorf("slow mirror: %d sent, want the bound %d", got, mirrorMaxInFlight)
	}
	if got := slowT.dropped.Load(); got != n-uint64(mirrorMaxInFlight) {
		t.Errorf("slow mirror: %d dropped, want %d", got, n-mirrorMaxInFlight)
	}
	// A reload keeps the bound: the requests still in flight hold it.
	if probs := s.Apply(snap); len(probs) > 0 {
		t.Fatal(probs)
	}
	for range 20 {
		if code, body, _ := mustGet(t, c, base+"/"); code != 200 || body != "main " {
			t.Fatalf("after reload: %d %q", code, body)
		}
	}
	if got := s.Runtime().mirrors["mirror"].mirrors[1].dropped.Load(); got != 20 {
		t.Errorf("after a reload the slow mirror dropped %d of 20", got)
	}
	if main.n.Load() != n+20 {
		t.Errorf("main got %d requests", main.n.Load())
	}
}

// TestMirrorBody: mirrorBody and maxBodySize, with bodies of known and
// unknown length.
func TestMirrorBody(t *testing.T) {
	for _, tc := range []struct {
		name       string
		mirrorBody bool
		max        int64
		body       string
		chunked    bool
		mirrored   bool   // the copy is sent
		mirrorGets string // the body the mirror gets
	}{
		{"body", true, -1, "hello", false, true, "hello"},
		{"chunked body", true, -1, "hello", true, true, "hello"},
		{"no body mirrored", false, -1, "hello", false, true, ""},
		{"no body mirrored, chunked", false, -1, "hello", true, true, ""},
		{"at the limit", true, 5, "hello", false, true, "hello"},
		{"over the limit", true, 4, "hello", false, false, ""},
		{"over the limit, chunked", true, 4, "hello", true, false, ""},
		{"large over the limit, chunked", true, 1000, strings.Repeat("x", 200000), true, false, ""},
		{"large", true, -1, strings.Repeat("y", 300000), true, true, strings.Repeat("y", 300000)},
		{"empty, limit 0", true, 0, "", false, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			main, mir := newRec(t, "main", false), newRec(t, "mirror", false)
			snap := routed("mirror")
			lbDef(snap, "main", main.url, false)
			lbDef(snap, "m", mir.url, false)
			snap.Services["mirror"] = &spec.Service{Name: "mirror", Mirroring: &spec.Mirroring{Service: "main", MirrorBody: tc.mirrorBody,
				MaxBodySize: tc.max, Mirrors: []spec.Mirror{{Name: "m", Percent: 100}}}}
			s, base := startServer(t, snap)
			var r io.Reader = strings.NewReader(tc.body)
			if tc.chunked {
				r = io.MultiReader(r)
			}
			resp, err := http.Post(base+"/up", "text/plain", r)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(got) != "main "+tc.body {
				t.Fatalf("main answer %.60q", got)
			}
			// A second, empty request is always mirrored: once it has
			// arrived, the first one's copy was sent or never will be.
			if _, err := http.Post(base+"/second", "text/plain", nil); err != nil {
				t.Fatal(err)
			}
			want := int64(1)
			if tc.mirrored {
				want = 2
			}
			tgt := s.Runtime().mirrors["mirror"].mirrors[0]
			waitFor(t, "the mirror", func() bool { return int64(tgt.sent.Load()) == want && mir.n.Load() == want })
			if !tc.mirrored {
				return
			}
			var first seen
			for _, x := range mir.all() {
				if x.path == "/up" {
					first = x
				}
			}
			if first.method != "POST" || first.body != tc.mirrorGets {
				t.Errorf("the mirror got %s %.40q, want %.40q", first.method, first.body, tc.mirrorGets)
			}
			if !tc.mirrorBody && first.length != 0 {
				t.Errorf("a copy without its body declares %d bytes", first.length)
			}
		})
	}
}

// TestFailoverHealth: a failover follows its main service's active health
// check: a killed backend sends traffic to the fallback, and its return
// brings it back.
func TestFailoverHealth(t *testing.T) {
	main, fb := newKillable(t, "main"), newKillable(t, "fallback")
	snap := routed("fo")
	lbDef(snap, "main", main.url(), true)
	lbDef(snap, "fb", fb.url(), false)
	snap.Services["fo"] = &spec.Service{Name: "fo", Failover: &spec.Failover{Service: "main", Fallback: "fb"}}
	_, base := startServer(t, snap)
	c := &http.Client{}
	answers := func(want string) func() bool {
		return func() bool { _, body, _ := mustGet(t, c, base+"/"); return body == want }
	}
	if _, body, _ := mustGet(t, c, base+"/"); body != "main" {
		t.Fatalf("first answer %q", body)
	}
	main.stop()
	waitFor(t, "the fallback", answers("fallback"))
	for range 20 {
		if _, body, _ := mustGet(t, c, base+"/"); body != "fallback" {
			t.Fatalf("main down: %q", body)
		}
	}
	main.start()
	waitFor(t, "the main service", answers("main"))
}

// TestFailoverBuild: Traefik's build rules: without error statuses the main
// service must report its health (a servers load balancer with a health
// check); with its own health check, the fallback must too.
func TestFailoverBuild(t *testing.T) {
	static, _ := ParseStatic([]string{"--entryPoints.web.address=127.0.0.1:0"})
	for _, tc := range []struct {
		name     string
		mainHC   bool
		fbHC     bool
		fo       spec.Failover
		problem  string
		weighted bool // the main service is a weighted one
	}{
		{name: "no health check", fo: spec.Failover{}, problem: "router r: cannot register main as updater for fo: healthCheck not enabled in config for this WRR service"},
		{name: "health check", mainHC: true},
		{name: "errors instead", fo: spec.Failover{Errors: &spec.FailoverErrors{Status: []string{"500-599"}, MaxRequestBodyBytes: -1}}},
		{name: "empty errors", fo: spec.Failover{Errors: &spec.FailoverErrors{MaxRequestBodyBytes: -1}}, problem: "healthCheck not enabled in config for this WRR service"},
		{name: "bad status", mainHC: true, fo: spec.Failover{Errors: &spec.FailoverErrors{Status: []string{"5xx"}}}, problem: "error creating failover service fo: creating HTTP code ranges"},
		{name: "weighted main", weighted: true, problem: "cannot register w as updater for fo: healthCheck not enabled in config for this WRR service"},
		{name: "own health check, fallback without", mainHC: true, fo: spec.Failover{HealthCheck: true}, problem: "cannot register fb as updater for fo: healthCheck not enabled in config for this WRR service"},
		{name: "own health check", mainHC: true, fbHC: true, fo: spec.Failover{HealthCheck: true}},
	} {
		snap := routed("fo")
		lbDef(snap, "main", "http://127.0.0.1:1", tc.mainHC)
		lbDef(snap, "fb", "http://127.0.0.1:1", tc.fbHC)
		fo := tc.fo
		fo.Service, fo.Fallback = "main", "fb"
		if tc.weighted {
			snap.Services["w"] = &spec.Service{Name: "w", Weighted: &spec.Weighted{Services: []spec.WeightedService{{Name: "main", Weight: 1}}}}
			fo.Service = "w"
		}
		snap.Services["fo"] = &spec.Service{Name: "fo", Failover: &fo}
		_, probs := Build(static, snap)
		var msgs []string
		for _, p := range probs {
			msgs = append(msgs, p.Error())
		}
		all := strings.Join(msgs, "\n")
		if tc.problem == "" && len(probs) > 0 || tc.problem != "" && !strings.Contains(all, tc.problem) {
			t.Errorf("%s: problems %q, want %q", tc.name, all, tc.problem)
		}
	}
}

// TestFailoverErrors: error statuses send the request again, body
// included, to the fallback, whose answer alone reaches the client;
// maxRequestBodyBytes bounds the body kept (413 above it).
func TestFailoverErrors(t *testing.T) {
	main, fb := newRec(t, "main", false), newRec(t, "fallback", false)
	snap := routed("fo")
	lbDef(snap, "main", main.url, false)
	lbDef(snap, "fb", fb.url, false)
	snap.Services["fo"] = &spec.Service{Name: "fo", Failover: &spec.Failover{Service: "main", Fallback: "fb",
		Errors: &spec.FailoverErrors{Status: []string{"500-504"}, MaxRequestBodyBytes: 16}}}
	_, base := startServer(t, snap)
	post := func(path, body string, chunked bool) (int, string, http.Header) {
		var r io.Reader = strings.NewReader(body)
		if chunked {
			r = io.MultiReader(r)
		}
		resp, err := http.Post(base+path, "text/plain", r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	for _, chunked := range []bool{false, true} {
		if code, body, h := post("/503/x?q=1", "payload", chunked); code != 200 || body != "fallback payload" || h.Get("X-From") != "fallback" {
			t.Errorf("503 (chunked %v): %d %q %v", chunked, code, body, h)
		}
		if code, body, _ := post("/404", "payload", chunked); code != 404 || body != "main payload" {
			t.Errorf("404 is not listed (chunked %v): %d %q", chunked, code, body)
		}
		if code, body, h := post("/ok", strings.Repeat("z", 17), chunked); code != 413 || body != "Request body too large\n" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("too large (chunked %v): %d %q", chunked, code, body)
		}
	}
	// The fallback got the request as the client sent it: path, query,
	// body, and X-Forwarded-For once.
	var got seen
	for _, r := range fb.all() {
		got = r
	}
	if got.path != "/503/x?q=1" || got.body != "payload" || got.header.Get("X-Forwarded-For") != "127.0.0.1" {
		t.Errorf("the fallback got %+v", got)
	}
	if main.n.Load() != 4 || fb.n.Load() != 2 {
		t.Errorf("main got %d requests, fallback %d; want 4 and 2", main.n.Load(), fb.n.Load())
	}
}

// TestFailoverBothDown: a failover with a health check of its own follows
// its fallback too: both down is 503.
func TestFailoverBothDown(t *testing.T) {
	main, fb := newKillable(t, "main"), newKillable(t, "fallback")
	snap := routed("fo")
	lbDef(snap, "main", main.url(), true)
	lbDef(snap, "fb", fb.url(), true)
	snap.Services["fo"] = &spec.Service{Name: "fo", Failover: &spec.Failover{Service: "main", Fallback: "fb", HealthCheck: true}}
	_, base := startServer(t, snap)
	c := &http.Client{}
	main.stop()
	fb.stop()
	waitFor(t, "the 503", func() bool {
		code, body, h := mustGet(t, c, base+"/")
		return code == 503 && body == "Service Unavailable\n" && h.Get("Content-Type") == "text/plain; charset=utf-8"
	})
	fb.start()
	waitFor(t, "the fallback", func() bool { _, body, _ := mustGet(t, c, base+"/"); return body == "fallback" })
}

// hrwPick is Traefik's HRW choice (hrw.getNodeScore) for a client IP.
func hrwPick(ip string, names []string, weights []int) string {
	best, bestScore := "", 0.0
	for i, n := range names {
		h := fnv.New64a()
		h.Write([]byte(ip + n))
		s := 1.0 / -math.Log(float64(h.Sum64())/math.Pow(2, 64)) * float64(weights[i])
		if s > bestScore {
			best, bestScore = n, s
		}
	}
	return best
}

// fromIP is an HTTP client whose connections come from ip (any 127/8
// address is local).
func fromIP(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

// TestHRWServices: a highestRandomWeight TraefikService keeps each client
// IP on the child Traefik's hash picks (the child names as Traefik's CRD
// provider spells them, unqualified); with a health check, a child that
// goes down loses only its own clients.
func TestHRWServices(t *testing.T) {
	names := []string{"default-a-80@kubernetescrd", "default-b-80@kubernetescrd", "default-c-80@kubernetescrd"}
	bare := []string{"default-a-80", "default-b-80", "default-c-80"}
	weights := []int{1, 2, 3}
	backends := map[string]*killable{}
	snap := routed("hrw")
	h := &spec.HighestRandomWeight{HealthCheck: true}
	for i, n := range names {
		k := newKillable(t, bare[i])
		backends[bare[i]] = k
		lbDef(snap, n, k.url(), true)
		h.Services = append(h.Services, spec.WeightedService{Name: n, Weight: weights[i]})
	}
	snap.Services["hrw"] = &spec.Service{Name: "hrw", HighestRandomWeight: h}
	_, base := startServer(t, snap)
	var ips []string
	for i := 2; i < 40; i++ {
		ips = append(ips, fmt.Sprintf("127.0.0.%d", i))
	}
	clients := map[string]*http.Client{}
	counts := map[string]int{}
	for _, ip := range ips {
		clients[ip] = fromIP(ip)
		want := hrwPick(ip, bare, weights)
		counts[want]++
		for range 5 {
			if _, body, _ := mustGet(t, clients[ip], base+"/"); body != want {
				t.Fatalf("client %s went to %q, Traefik's hash picks %q", ip, body, want)
			}
		}
	}
	if len(counts) < 2 {
		t.Fatalf("all clients on one child: %v", counts)
	}
	// The heaviest child goes down: only its clients move, each to its
	// next pick.
	backends["default-c-80"].stop()
	waitFor(t, "the health check", func() bool {
		for _, ip := range ips {
			if hrwPick(ip, bare, weights) == "default-c-80" {
				_, body, _ := mustGet(t, clients[ip], base+"/")
				return body == hrwPick(ip, bare[:2], weights[:2])
			}
		}
		return true
	})
	for _, ip := range ips {
		want := hrwPick(ip, bare[:2], weights[:2])
		if _, body, _ := mustGet(t, clients[ip], base+"/"); body != want {
			t.Errorf("child c down: client %s went to %q, want %q", ip, body, want)
		}
	}
}

// TestNestedHealth: a weighted service of a mirroring service of a
// failover, with health checks all the way: a failover whose main service
// dies uses its fallback (still mirrored); once its fallback dies too, the
// status goes up the tree and the weighted service sends everything to
// its other child; a revived backend brings the branch back.
func TestNestedHealth(t *testing.T) {
	a, b, c := newKillable(t, "a"), newKillable(t, "b"), newKillable(t, "c")
	mir := newRec(t, "mirror", false)
	snap := routed("top")
	lbDef(snap, "a", a.url(), true)
	lbDef(snap, "b", b.url(), true)
	lbDef(snap, "c", c.url(), true)
	lbDef(snap, "m", mir.url, false)
	snap.Services["fo"] = &spec.Service{Name: "fo", Failover: &spec.Failover{Service: "a", Fallback: "b", HealthCheck: true}}
	snap.Services["mir"] = &spec.Service{Name: "mir", Mirroring: &spec.Mirroring{Service: "fo", MirrorBody: true, MaxBodySize: -1,
		Mirrors: []spec.Mirror{{Name: "m", Percent: 100}}, HealthCheck: true}}
	snap.Services["top"] = &spec.Service{Name: "top", Weighted: &spec.Weighted{HealthCheck: true,
		Services: []spec.WeightedService{{Name: "mir", Weight: 1}, {Name: "c", Weight: 1}}}}
	s, base := startServer(t, snap)
	cl := &http.Client{}
	tally := func(n int) map[string]int {
		out := map[string]int{}
		for range n {
			_, body, _ := mustGet(t, cl, base+"/")
			out[body]++
		}
		return out
	}
	if got := tally(10); got["a"] != 5 || got["c"] != 5 {
		t.Fatalf("all up: %v", got)
	}
	a.stop()
	waitFor(t, "the fallback", func() bool { got := tally(4); return got["b"] == 2 && got["c"] == 2 })
	b.stop()
	waitFor(t, "the status to go up the tree", func() bool { return tally(4)["c"] == 4 })
	if got := tally(10); got["c"] != 10 {
		t.Errorf("failover down: %v", got)
	}
	a.start()
	waitFor(t, "the branch back", func() bool { got := tally(4); return got["a"] == 2 && got["c"] == 2 })
	// Every request that went through the mirroring branch was mirrored.
	tgt := s.Runtime().mirrors["mir"].mirrors[0]
	waitFor(t, "the mirror", func() bool { return mir.n.Load() == int64(tgt.sent.Load()) })
	if tgt.sent.Load() == 0 {
		t.Error("nothing mirrored")
	}
}

// TestNestedWithoutHealthCheck: without `healthCheck: {}` on the parent
// (always so from the CRD), a weighted service does not follow its
// children: a failover whose services are all down still gets its share
// and answers 503.
func TestNestedWithoutHealthCheck(t *testing.T) {
	a, c := newKillable(t, "a"), newKillable(t, "c")
	snap := routed("top")
	lbDef(snap, "a", a.url(), true)
	lbDef(snap, "b", "http://127.0.0.1:1", false)
	lbDef(snap, "c", c.url(), false)
	// The fallback is not followed (no health check on the failover): the
	// main service going down sends to it, and it refuses connections.
	snap.Services["fo"] = &spec.Service{Name: "fo", Failover: &spec.Failover{Service: "a", Fallback: "b"}}
	snap.Services["top"] = &spec.Service{Name: "top", Weighted: &spec.Weighted{
		Services: []spec.WeightedService{{Name: "fo", Weight: 1}, {Name: "c", Weight: 1}}}}
	_, base := startServer(t, snap)
	cl := &http.Client{}
	a.stop()
	waitFor(t, "the fallback's 502s", func() bool {
		codes := map[int]int{}
		for range 4 {
			code, _, _ := mustGet(t, cl, base+"/")
			codes[code]++
		}
		return codes[502] == 2 && codes[200] == 2
	})
}

// TestServiceCycles: a service that refers to itself through any chain is
// refused, naming the chain; services that lead to the cycle fail with it;
// others serve. A service of several kinds is refused as in Traefik.
func TestServiceCycles(t *testing.T) {
	static, _ := ParseStatic([]string{"--entryPoints.web.address=127.0.0.1:0"})
	snap := &spec.Snapshot{Routers: []spec.Router{
		{Name: "r1", Rule: "Path(`/1`)", Service: "a"},
		{Name: "r2", Rule: "Path(`/2`)", Service: "entry"},
		{Name: "r3", Rule: "Path(`/3`)", Service: "self"},
		{Name: "r4", Rule: "Path(`/4`)", Service: "fine"},
		{Name: "r5", Rule: "Path(`/5`)", Service: "two"},
	}, Services: map[string]*spec.Service{}, Endpoints: map[string][]spec.Server{}}
	lbDef(snap, "leaf", "http://127.0.0.1:1", false)
	snap.Services["a"] = &spec.Service{Name: "a", Weighted: &spec.Weighted{Services: []spec.WeightedService{{Name: "leaf", Weight: 1}, {Name: "b", Weight: 1}}}}
	snap.Services["b"] = &spec.Service{Name: "b", Mirroring: &spec.Mirroring{Service: "leaf", Mirrors: []spec.Mirror{{Name: "c", Percent: 10}}}}
	snap.Services["c"] = &spec.Service{Name: "c", Failover: &spec.Failover{Service: "leaf", Fallback: "a", Errors: &spec.FailoverErrors{Status: []string{"500"}}}}
	snap.Services["entry"] = &spec.Service{Name: "entry", HighestRandomWeight: &spec.HighestRandomWeight{Services: []spec.WeightedService{{Name: "c", Weight: 1}}}}
	snap.Services["self"] = &spec.Service{Name: "self", Weighted: &spec.Weighted{Services: []spec.WeightedService{{Name: "self", Weight: 1}}}}
	snap.Services["fine"] = &spec.Service{Name: "fine", Weighted: &spec.Weighted{Services: []spec.WeightedService{{Name: "leaf", Weight: 1}, {Name: "leaf2", Weight: 1}}}}
	lbDef(snap, "leaf2", "http://127.0.0.1:1", false)
	snap.Services["two"] = &spec.Service{Name: "two", LoadBalancer: snap.Services["leaf"].LoadBalancer, Weighted: &spec.Weighted{}}
	rt, probs := Build(static, snap)
	byRouter := map[string]string{}
	for _, p := range probs {
		msg := p.Error()
		byRouter[strings.TrimSuffix(strings.Fields(msg)[1], ":")] = msg
	}
	for router, want := range map[string]string{
		"r1": "recursion detected in service:a->service:b->service:c->service:a",
		// A service in error stays so (as Traefik's disabled service):
		// c's error is the one found through r1.
		"r2": "router r2: could not instantiate service a: recursion detected in service:a->service:b->service:c->service:a",
		"r3": "could not instantiate service self: recursion detected in service:self->service:self",
		"r5": "cannot create service: multi-types service not supported, consider declaring two different pieces of service instead",
	} {
		if !strings.Contains(byRouter[router], want) {
			t.Errorf("%s: problem %q, want %q", router, byRouter[router], want)
		}
	}
	if byRouter["r4"] != "" || len(probs) != 4 {
		t.Errorf("problems: %v", probs)
	}
	if _, routers := rt.Table("web"); len(routers) != 1 || routers[0].Name != "r4" {
		t.Errorf("routers served: %v", routers)
	}
}

// TestMirrorPercentRange: Traefik's percent check.
func TestMirrorPercentRange(t *testing.T) {
	static, _ := ParseStatic([]string{"--entryPoints.web.address=127.0.0.1:0"})
	for p, ok := range map[int]bool{-1: false, 0: true, 100: true, 101: false} {
		snap := routed("m")
		lbDef(snap, "leaf", "http://127.0.0.1:1", false)
		snap.Services["m"] = &spec.Service{Name: "m", Mirroring: &spec.Mirroring{Service: "leaf", Mirrors: []spec.Mirror{{Name: "leaf", Percent: p}}}}
		_, probs := Build(static, snap)
		if ok != (len(probs) == 0) || !ok && !strings.Contains(probs[0].Error(), "percent must be between 0 and 100") {
			t.Errorf("percent %d: %v", p, probs)
		}
	}
}

// TestWeightedStickyChildName: a weighted service's sticky cookie value
// is the hash of the child's name as Traefik's CRD provider spells it
// (unqualified), so that cookies set by Traefik keep their child.
func TestWeightedStickyChildName(t *testing.T) {
	a, b := backend(t, "a"), backend(t, "b")
	snap := routed("w@kubernetescrd")
	snap.Services["w@kubernetescrd"] = &spec.Service{Name: "w@kubernetescrd", Weighted: &spec.Weighted{Sticky: &spec.Cookie{Name: "s", Path: "/"},
		Services: []spec.WeightedService{{Name: "default-a-80@kubernetescrd", Weight: 1}, {Name: "default-b-80@kubernetescrd", Weight: 1}}}}
	lbDef(snap, "default-a-80@kubernetescrd", a, false)
	lbDef(snap, "default-b-80@kubernetescrd", b, false)
	_, base := startServer(t, snap)
	for _, child := range []string{"a", "b"} {
		value := lb.CookieValue("default-" + child + "-80")
		for range 4 {
			_, body := get(t, base+"/", "", "Cookie: s="+value)
			if !strings.HasPrefix(body, child+" ") {
				t.Fatalf("cookie of %s went to %.10q", child, body)
			}
		}
	}
}
