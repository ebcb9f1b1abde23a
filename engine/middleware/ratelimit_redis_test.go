package middleware

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// rlRedisServer is a redis-server of the test's own, on a loopback port.
type rlRedisServer struct {
	addr string
	args []string
	dir  string
	cmd  *exec.Cmd
}

// startRedis starts redis-server on a free loopback port (its TLS port
// with tls) and stops it at the end of the test. It skips the test when
// redis-server is not installed.
func startRedis(t *testing.T, tls bool, args ...string) *rlRedisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	base := []string{"--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no", "--dir", t.TempDir()}
	if tls {
		base[3] = "0"
		base = append(base, "--tls-port", port)
	}
	s := &rlRedisServer{addr: addr, args: append(base, args...)}
	s.start(t, bin)
	t.Cleanup(s.stop)
	return s
}

func (s *rlRedisServer) start(t *testing.T, bin string) {
	t.Helper()
	s.cmd = exec.Command(bin, s.args...)
	out, _ := s.cmd.StdoutPipe()
	s.cmd.Stderr = s.cmd.Stdout
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "Ready to accept connections") {
				ready <- true
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("redis-server %v exited:\n%s", s.args, log.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("redis-server %v did not start", s.args)
	}
}

func (s *rlRedisServer) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		s.cmd = nil
	}
}

// client is a plain client of the server, for the test's own checks.
func (s *rlRedisServer) client(t *testing.T, db int) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.addr, DB: db, Password: "pw"})
	t.Cleanup(func() { c.Close() })
	return c
}

// rlBuildNamed is rlBuild for a middleware of the given name.
func rlBuildNamed(t testing.TB, name, config string, clock *rlClock, bc *BuildContext) *rateLimit {
	t.Helper()
	var c rateLimitConfig
	if err := decode(json.RawMessage(config), &c); err != nil {
		t.Fatal(err)
	}
	now := time.Now
	if clock != nil {
		now = clock.now
	}
	def := &spec.Middleware{Name: name, Kind: "rateLimit", Config: json.RawMessage(config)}
	l, err := buildRateLimit(&c, def, bc, now)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Traefik's option mapping (newRedisLimiter) and dynamic.Redis
// defaults as its CRD provider applies them.
func TestRateLimitRedisOptions(t *testing.T) {
	type o struct {
		addrs                       []string
		user, pass                  string
		db, pool, idle, active      int
		dial, read, write           time.Duration
		tls, insecure, certs, roots bool
	}
	ca, caKey := testCert(t, nil, nil, "redis CA", true)
	cert, key := testCert(t, ca, caKey, "client", false)
	caPEM, certPEM, keyPEM := rlPEM(t, ca, nil), rlPEM(t, cert, nil), rlPEM(t, nil, key)
	def := []string{"localhost:6379"}
	tests := []struct {
		config string
		want   o
	}{
		{`{}`, o{addrs: def, dial: 5 * time.Second, read: 3 * time.Second, write: 3 * time.Second}},
		{`{"endpoints":[]}`, o{addrs: def, dial: 5 * time.Second, read: 3 * time.Second, write: 3 * time.Second}},
		{`{"endpoints":["a:1","b:2"],"username":"u","password":"p","db":4,"poolSize":5,"minIdleConns":2,"maxActiveConns":9,` +
			`"dialTimeout":"1s","readTimeout":"250ms","writeTimeout":7}`,
			o{addrs: []string{"a:1", "b:2"}, user: "u", pass: "p", db: 4, pool: 5, idle: 2, active: 9, dial: time.Second, read: 250 * time.Millisecond, write: 7 * time.Second}},
		// 0 or less: go-redis's -1, no timeout; the dial timeout keeps
		// its default.
		{`{"dialTimeout":0,"readTimeout":0,"writeTimeout":"-1s"}`, o{addrs: def, dial: 5 * time.Second, read: -1, write: -1}},
		{`{"dialTimeout":"-3s"}`, o{addrs: def, dial: 5 * time.Second, read: 3 * time.Second, write: 3 * time.Second}},
		{`{"tls":{}}`, o{addrs: def, dial: 5 * time.Second, read: 3 * time.Second, write: 3 * time.Second, tls: true}},
		{`{"tls":{"insecureSkipVerify":true}}`, o{addrs: def, dial: 5 * time.Second, read: 3 * time.Second, write: 3 * time.Second, tls: true, insecure: true}},
		{fmt.Sprintf(`{"tls":{"ca":%q,"cert":%q,"key":%q}}`, caPEM, certPEM, keyPEM),
			o{addrs: def, dial: 5 * time.Second, read: 3 * time.Second, write: 3 * time.Second, tls: true, certs: true, roots: true}},
	}
	for _, tc := range tests {
		t.Run(tc.config, func(t *testing.T) {
			var c rateLimitRedis
			if err := decode(json.RawMessage(tc.config), &c); err != nil {
				t.Fatal(err)
			}
			opts, _, err := rlRedisOptions(&c)
			if err != nil {
				t.Fatal(err)
			}
			got := o{addrs: opts.Addrs, user: opts.Username, pass: opts.Password, db: opts.DB, pool: opts.PoolSize, idle: opts.MinIdleConns,
				active: opts.MaxActiveConns, dial: opts.DialTimeout, read: opts.ReadTimeout, write: opts.WriteTimeout, tls: opts.TLSConfig != nil}
			if opts.TLSConfig != nil {
				got.insecure, got.certs, got.roots = opts.TLSConfig.InsecureSkipVerify, len(opts.TLSConfig.Certificates) == 1, opts.TLSConfig.RootCAs != nil
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("options %+v, want %+v", got, tc.want)
			}
		})
	}
}

// rlPEM encodes a certificate or an EC key.
func rlPEM(t *testing.T, cert *x509.Certificate, key any) string {
	t.Helper()
	if cert != nil {
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// rlLuaModel is Traefik's Redis bucket arithmetic (its Lua script) in Go:
// Lua numbers are float64s and the script's stored values round-trip
// exactly, so the model predicts every answer.
type rlLuaModel struct {
	rate, burst, maxWait float64 // per µs, tokens, µs
	maxDelay             time.Duration
	last, tokens         float64
}

func newRLLuaModel(p rateLimitParams) *rlLuaModel {
	return &rlLuaModel{rate: float64(p.rate / 1e6), burst: float64(p.burst), maxWait: float64(p.maxDelay.Microseconds()), maxDelay: p.maxDelay}
}

// take returns the delay the middleware reads back (the script's
// tostring, 14 significant digits) and whether the request is admitted.
func (m *rlLuaModel) take(now time.Time) (time.Duration, bool) {
	t := math.Max(float64(now.UnixMicro()), m.last)
	tokens := math.Min(m.tokens+m.rate*(t-m.last), m.burst) - 1
	wait := 0.0
	if tokens < 0 {
		wait = -tokens / m.rate
		if wait > m.maxWait {
			tokens = math.Min(tokens+1, m.burst)
		}
	}
	m.last, m.tokens = t, tokens
	us, _ := strconv.ParseFloat(strconv.FormatFloat(wait, 'g', 14, 64), 64)
	d := time.Duration(us * float64(time.Microsecond))
	return d, d <= m.maxDelay
}

// Over a real Redis, on a simulated clock: every answer is the one
// Traefik's script gives, the bucket is one Redis hash with Traefik's
// key, fields and expiry.
func TestRateLimitRedisModel(t *testing.T) {
	srv := startRedis(t, false)
	rc := srv.client(t, 0)
	for _, tc := range []struct{ desc, config string }{
		{"fast", `{"average":1000,"burst":5}`},     // maxDelay 500µs
		{"slow", `{"average":20,"period":"20ms"}`}, // the same rate, burst 1
		{"uneven", `{"average":1,"period":"3ms","burst":3}`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			name := "default-" + tc.desc + "@kubernetescrd"
			config := strings.TrimSuffix(tc.config, "}") + fmt.Sprintf(`,"redis":{"endpoints":[%q]}}`, srv.addr)
			clock := newRLClock()
			l := rlBuildNamed(t, name, config, clock, nil)
			var c rateLimitConfig
			decode(json.RawMessage(tc.config), &c)
			p, _ := rateLimitParamsOf(&c)
			m := newRLLuaModel(p)
			url := front(t, nil, l.wrap)
			r := rand.New(rand.NewPCG(7, uint64(len(tc.desc))))
			admitted := 0
			for i := range 300 {
				clock.advance(time.Duration(r.Int64N(int64(2 * time.Millisecond))))
				status, _, in, body := rlGet(t, url)
				d, ok := m.take(clock.now())
				if ok != (status == 200) || !ok && (status != 429 || in != d.String()) {
					t.Fatalf("request %d: %d %q %q, model admitted %v, delay %v", i, status, in, body, ok, d)
				}
				if ok {
					admitted++
				}
			}
			if admitted == 0 || admitted == 300 {
				t.Errorf("%d of 300 admitted: the run does not exercise the bucket", admitted)
			}
			key := "rate:" + name + ":127.0.0.1"
			h, err := rc.HGetAll(context.Background(), key).Result()
			if err != nil {
				t.Fatal(err)
			}
			if h["last"] != strconv.FormatInt(clock.now().UnixMicro(), 10) || len(h) != 2 {
				t.Errorf("bucket %s: %v, want last %d", key, h, clock.now().UnixMicro())
			}
			if tok, _ := strconv.ParseFloat(h["tokens"], 64); tok != m.tokens {
				t.Errorf("bucket tokens %s, model %v", h["tokens"], m.tokens)
			}
			if ttl := rc.TTL(context.Background(), key).Val(); ttl <= 0 || ttl > time.Duration(p.ttl)*time.Second {
				t.Errorf("bucket ttl %v, want at most %ds", ttl, p.ttl)
			}
		})
	}
}

// Two proxies (two middlewares built apart, with clients of their own)
// using the same Redis hold ONE budget: their answers, interleaved, are
// those of a single bucket. In-memory buckets, one per proxy, would
// admit more (the control).
func TestRateLimitRedisSharedBudget(t *testing.T) {
	srv := startRedis(t, false)
	cfg := func(pool int) string {
		return fmt.Sprintf(`{"average":1000,"burst":5,"redis":{"endpoints":[%q],"poolSize":%d}}`, srv.addr, pool)
	}
	p, _ := rateLimitParamsOf(&rateLimitConfig{Average: ptr(int64(1000)), Burst: ptr(int64(5))})
	run := func(a, b Middleware, clock *rlClock, single func(time.Time) (time.Duration, bool)) (admitted, agree int) {
		urls := []string{front(t, nil, a), front(t, nil, b)}
		r := rand.New(rand.NewPCG(3, 4))
		for range 400 {
			clock.advance(time.Duration(r.Int64N(int64(1500 * time.Microsecond))))
			status, _, _, _ := rlGet(t, urls[r.IntN(2)])
			_, ok := single(clock.now())
			if status == 200 {
				admitted++
			}
			if ok == (status == 200) {
				agree++
			}
		}
		return admitted, agree
	}
	clock := newRLClock()
	a := rlBuildNamed(t, "default-shared@kubernetescrd", cfg(3), clock, nil)
	b := rlBuildNamed(t, "default-shared@kubernetescrd", cfg(4), clock, nil)
	if a.redis.client == b.redis.client {
		t.Fatal("the two proxies share a client")
	}
	admitted, agree := run(a.wrap, b.wrap, clock, newRLLuaModel(p).take)
	if agree != 400 {
		t.Errorf("the two proxies answered as one bucket %d times of 400", agree)
	}
	// Control: one in-memory bucket per proxy.
	clock = newRLClock()
	la := rlBuildNamed(t, "default-shared@kubernetescrd", `{"average":1000,"burst":5}`, clock, nil)
	lb := rlBuildNamed(t, "default-shared@kubernetescrd", `{"average":1000,"burst":5}`, clock, nil)
	local, _ := run(la.wrap, lb.wrap, clock, newRLModel(p.rate, p.burst, p.maxDelay).take)
	t.Logf("admitted: %d through Redis, %d with a bucket per proxy", admitted, local)
	if local <= admitted*5/4 {
		t.Errorf("separate buckets admitted %d, not clearly more than one shared bucket (%d): the test cannot tell them apart", local, admitted)
	}
}

// The shared budget holds on the real clock: two proxies, four clients
// for a second, 50 requests a second and a burst of 20 in all (separate
// budgets would admit about twice as many).
func TestRateLimitRedisRealRate(t *testing.T) {
	srv := startRedis(t, false)
	config := fmt.Sprintf(`{"average":5,"period":"100ms","burst":20,"redis":{"endpoints":[%q],"poolSize":%%d}}`, srv.addr)
	a := rlBuildNamed(t, "default-real@kubernetescrd", fmt.Sprintf(config, 5), nil, nil)
	b := rlBuildNamed(t, "default-real@kubernetescrd", fmt.Sprintf(config, 6), nil, nil)
	admitted, sent, lastSent, elapsed := rlRun(t, 4, time.Second, front(t, nil, a.wrap), front(t, nil, b.wrap))
	rlCheckRate(t, admitted, sent, lastSent, elapsed, 50, 20, 10*time.Millisecond)
}

// rlLogs collects log records.
type rlLogs struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *rlLogs) Enabled(context.Context, slog.Level) bool { return true }
func (h *rlLogs) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.records = append(h.records, r)
	h.mu.Unlock()
	return nil
}
func (h *rlLogs) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *rlLogs) WithGroup(string) slog.Handler      { return h }

func (h *rlLogs) all() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.records {
		s := r.Level.String() + " " + r.Message
		r.Attrs(func(a slog.Attr) bool { s += " " + a.String(); return true })
		out = append(out, s)
	}
	return out
}

// Redis unreachable: Traefik's 500 "Could not insert/update bucket"
// (traefik#12091 shows it), within the configured timeouts, logged.
func TestRateLimitRedisDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().String()
	ln.Close()
	// A server that accepts and never answers.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	for _, tc := range []struct{ desc, addr string }{{"connection refused", refused}, {"no answer", silent.Addr().String()}} {
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			logs := &rlLogs{}
			config := fmt.Sprintf(`{"average":10,"redis":{"endpoints":[%q],"dialTimeout":"500ms","readTimeout":"200ms","writeTimeout":"200ms"}}`, tc.addr)
			l := rlBuildNamed(t, "default-down@kubernetescrd", config, nil, &BuildContext{Log: slog.New(logs)})
			url := front(t, nil, l.wrap)
			c := &http.Client{Timeout: 10 * time.Second} // a hang fails the test
			start := time.Now()
			resp, err := c.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, resp)
			resp.Body.Close()
			took := time.Since(start)
			if resp.StatusCode != 500 || body != "Could not insert/update bucket\n" ||
				resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%d %q %v", resp.StatusCode, body, resp.Header)
			}
			if took > 3*time.Second {
				t.Errorf("answered after %v, beyond the timeouts (900ms)", took)
			}
			got := logs.all()
			if len(got) != 1 || !strings.Contains(got[0], "ERROR rateLimit: could not insert/update bucket middleware=default-down@kubernetescrd error=evaluating script: running script: ") {
				t.Errorf("logs %q", got)
			}
		})
	}
}

// A dead Redis under load does not flood the log: five lines, then one
// a second, each with the count of failures not logged.
func TestRateLimitRedisLogRate(t *testing.T) {
	logs := &rlLogs{}
	e := newRLErrLog(slog.New(logs), "default-x@kubernetescrd")
	now := time.Unix(1_700_000_000, 0)
	for range 20 {
		e.report(now, fmt.Errorf("down"))
	}
	if n := len(logs.all()); n != 5 {
		t.Fatalf("%d lines for 20 failures at once, want 5", n)
	}
	e.report(now.Add(time.Second), fmt.Errorf("down"))
	e.report(now.Add(time.Second), fmt.Errorf("down"))
	got := logs.all()
	if len(got) != 6 || !strings.HasSuffix(got[5], "unlogged=15") || !strings.HasSuffix(got[0], "unlogged=0") {
		t.Errorf("logs %q", got)
	}
}

// When Redis comes back, requests are limited again.
func TestRateLimitRedisRecovers(t *testing.T) {
	srv := startRedis(t, false)
	config := fmt.Sprintf(`{"average":1000,"redis":{"endpoints":[%q],"readTimeout":"300ms","writeTimeout":"300ms","dialTimeout":"300ms"}}`, srv.addr)
	l := rlBuildNamed(t, "default-back@kubernetescrd", config, nil, &BuildContext{Log: slog.New(&rlLogs{})})
	url := front(t, nil, l.wrap)
	if st, _, _, body := rlGet(t, url); st != 200 {
		t.Fatalf("%d %s", st, body)
	}
	srv.stop()
	if st, _, _, _ := rlGet(t, url); st != 500 {
		t.Fatalf("Redis stopped: %d", st)
	}
	bin, _ := exec.LookPath("redis-server")
	srv.start(t, bin)
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _, _, _ := rlGet(t, url)
		if st == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d 10s after Redis came back", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// username and password: Redis's ACL user, or the default user's
// password (requirepass).
func TestRateLimitRedisAuth(t *testing.T) {
	srv := startRedis(t, false, "--requirepass", "pw", "--user", "alice", "on", ">secret", "~*", "&*", "+@all")
	for i, tc := range []struct {
		creds  string
		status int
	}{
		{`"password":"pw"`, 200},
		{`"username":"alice","password":"secret"`, 200},
		{`"username":"default","password":"pw"`, 200},
		{`"password":"wrong"`, 500},
		{`"username":"alice","password":"pw"`, 500},
		{`"db":0`, 500}, // no credentials: NOAUTH
	} {
		name := fmt.Sprintf("default-auth%d@kubernetescrd", i) // a bucket each
		t.Run(tc.creds, func(t *testing.T) {
			config := fmt.Sprintf(`{"average":100,"redis":{"endpoints":[%q],%s}}`, srv.addr, tc.creds)
			l := rlBuildNamed(t, name, config, nil, &BuildContext{Log: slog.New(&rlLogs{})})
			if st, _, _, body := rlGet(t, front(t, nil, l.wrap)); st != tc.status {
				t.Errorf("%d %q, want %d", st, body, tc.status)
			}
		})
	}
}

// db selects the database the buckets are in.
func TestRateLimitRedisDB(t *testing.T) {
	srv := startRedis(t, false, "--requirepass", "pw")
	config := fmt.Sprintf(`{"average":100,"redis":{"endpoints":[%q],"password":"pw","db":3}}`, srv.addr)
	l := rlBuildNamed(t, "default-db@kubernetescrd", config, nil, nil)
	if st, _, _, _ := rlGet(t, front(t, nil, l.wrap)); st != 200 {
		t.Fatal(st)
	}
	key := "rate:default-db@kubernetescrd:127.0.0.1"
	if n := srv.client(t, 3).Exists(context.Background(), key).Val(); n != 1 {
		t.Errorf("%s not in db 3", key)
	}
	if n := srv.client(t, 0).Exists(context.Background(), key).Val(); n != 0 {
		t.Errorf("%s in db 0", key)
	}
}

// TLS to Redis: the server's CA, a client certificate, or
// insecureSkipVerify.
func TestRateLimitRedisTLS(t *testing.T) {
	ca, caKey := testCert(t, nil, nil, "redis CA", true)
	server, serverKey := testCert(t, ca, caKey, "127.0.0.1", false)
	client, clientKey := testCert(t, ca, caKey, "client", false)
	other, _ := testCert(t, nil, nil, "other CA", true)
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caPEM := rlPEM(t, ca, nil)
	tlsArgs := []string{"--tls-cert-file", write("server.crt", rlPEM(t, server, nil)), "--tls-key-file", write("server.key", rlPEM(t, nil, serverKey)),
		"--tls-ca-cert-file", write("ca.crt", caPEM)}
	optional := startRedis(t, true, append(tlsArgs, "--tls-auth-clients", "no")...)
	required := startRedis(t, true, append(tlsArgs, "--tls-auth-clients", "yes")...)
	certPEM, keyPEM := rlPEM(t, client, nil), rlPEM(t, nil, clientKey)
	for i, tc := range []struct {
		desc   string
		srv    *rlRedisServer
		tls    string
		status int
	}{
		{"the server's CA", optional, fmt.Sprintf(`{"ca":%q}`, caPEM), 200},
		{"another CA", optional, fmt.Sprintf(`{"ca":%q}`, rlPEM(t, other, nil)), 500},
		{"the system's roots", optional, `{}`, 500},
		{"insecureSkipVerify", optional, `{"insecureSkipVerify":true}`, 200},
		{"no TLS", optional, ``, 500},
		{"client certificate", required, fmt.Sprintf(`{"ca":%q,"cert":%q,"key":%q}`, caPEM, certPEM, keyPEM), 200},
		{"client certificate missing", required, fmt.Sprintf(`{"ca":%q}`, caPEM), 500},
		{"client certificate, insecureSkipVerify", required, fmt.Sprintf(`{"cert":%q,"key":%q,"insecureSkipVerify":true}`, certPEM, keyPEM), 200},
	} {
		name := fmt.Sprintf("default-tls%d@kubernetescrd", i) // a bucket each
		t.Run(tc.desc, func(t *testing.T) {
			t.Parallel()
			tlsField := ""
			if tc.tls != "" {
				tlsField = `,"tls":` + tc.tls
			}
			config := fmt.Sprintf(`{"average":100,"redis":{"endpoints":[%q],"dialTimeout":"1s","readTimeout":"500ms","writeTimeout":"500ms"%s}}`, tc.srv.addr, tlsField)
			l := rlBuildNamed(t, name, config, nil, &BuildContext{Log: slog.New(&rlLogs{})})
			if st, _, _, body := rlGet(t, front(t, nil, l.wrap)); st != tc.status {
				t.Errorf("%d %q, want %d", st, body, tc.status)
			}
		})
	}
}

// poolSize bounds the connections to Redis: eight requests held up at
// once (Redis paused) queue for two connections. maxActiveConns caps
// them too, but go-redis then fails the requests beyond it at once
// ("connection pool exhausted": Traefik's 500).
func TestRateLimitRedisPool(t *testing.T) {
	srv := startRedis(t, false, "--requirepass", "pw")
	rc := srv.client(t, 0)
	received := func() int {
		info := rc.Info(context.Background(), "stats").Val()
		for _, line := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "total_connections_received:"); ok {
				n, _ := strconv.Atoi(v)
				return n
			}
		}
		t.Fatal("no total_connections_received")
		return 0
	}
	for _, tc := range []struct {
		pool           string
		conns          int // connections opened; -1: not checked
		failed, served func(int) bool
	}{
		{`"poolSize":2`, 2, func(n int) bool { return n == 0 }, func(n int) bool { return n == 8 }},
		{`"poolSize":20`, 8, func(n int) bool { return n == 0 }, func(n int) bool { return n == 8 }}, // control: one each
		// go-redis dials before it counts: how many get through varies.
		{`"poolSize":20,"maxActiveConns":2`, -1, func(n int) bool { return n > 0 }, func(n int) bool { return n > 0 && n < 8 }},
	} {
		t.Run(tc.pool, func(t *testing.T) {
			config := fmt.Sprintf(`{"average":1000000,"burst":1000000,"redis":{"endpoints":[%q],"password":"pw",%s}}`, srv.addr, tc.pool)
			l := rlBuildNamed(t, "default-pool@kubernetescrd", config, nil, &BuildContext{Log: slog.New(&rlLogs{})})
			url := front(t, nil, l.wrap)
			before := received()
			if err := rc.Do(context.Background(), "CLIENT", "PAUSE", 700, "WRITE").Err(); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			var served, failed atomic.Int64
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
					resp, err := c.Get(url)
					if err != nil {
						t.Error(err)
						return
					}
					body := readAllQuiet(resp)
					resp.Body.Close()
					switch {
					case resp.StatusCode == 200:
						served.Add(1)
					case resp.StatusCode == 500 && body == "Could not insert/update bucket\n":
						failed.Add(1)
					default:
						t.Errorf("%d %q", resp.StatusCode, body)
					}
				}()
			}
			wg.Wait()
			if n := received() - before; tc.conns >= 0 && n != tc.conns {
				t.Errorf("%d connections opened, want %d", n, tc.conns)
			}
			if !tc.served(int(served.Load())) || !tc.failed(int(failed.Load())) {
				t.Errorf("%d served, %d failed", served.Load(), failed.Load())
			}
		})
	}
	// minIdleConns are opened with the client, before any request.
	before := received()
	config := fmt.Sprintf(`{"average":1,"redis":{"endpoints":[%q],"password":"pw","minIdleConns":3}}`, srv.addr)
	l := rlBuildNamed(t, "default-idle@kubernetescrd", config, nil, nil)
	deadline := time.Now().Add(5 * time.Second)
	for received()-before < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d idle connections opened, want 3", received()-before)
		}
		time.Sleep(10 * time.Millisecond)
	}
	runtime.KeepAlive(l)
}

// Clients are shared per redis configuration and closed when no
// middleware can use them any more: an unchanged middleware is reused
// across reloads with its client; a middleware whose redis block
// changed gets a new client, and the old one is closed once the old
// configuration is gone.
func TestRateLimitRedisClientLifecycle(t *testing.T) {
	srv := startRedis(t, false)
	mw := func(average, pool int) map[string]*spec.Middleware {
		c := fmt.Sprintf(`{"average":%d,"redis":{"endpoints":[%q],"poolSize":%d}}`, average, srv.addr, pool)
		return map[string]*spec.Middleware{"default-life@kubernetescrd": {Name: "default-life@kubernetescrd", Kind: "rateLimit", Config: json.RawMessage(c)}}
	}
	entry := func(pool int) *rlClient {
		var c rateLimitRedis
		json.Unmarshal([]byte(fmt.Sprintf(`{"endpoints":[%q],"poolSize":%d}`, srv.addr, pool)), &c)
		_, key, _ := rlRedisOptions(&c)
		rlClients.Lock()
		defer rlClients.Unlock()
		return rlClients.m[key]
	}
	refs := func(e *rlClient) int {
		rlClients.Lock()
		defer rlClients.Unlock()
		return e.refs
	}
	waitRefs := func(e *rlClient, want int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for refs(e) != want {
			if time.Now().After(deadline) {
				t.Fatalf("client references %d, want %d", refs(e), want)
			}
			runtime.GC()
			time.Sleep(5 * time.Millisecond)
		}
	}
	name := "default-life@kubernetescrd"
	b1 := Build(mw(1, 7), BuildContext{})
	e := entry(7)
	if e == nil || refs(e) != 1 {
		t.Fatalf("registry entry %+v", e)
	}
	// Reload, unchanged: the same middleware, the same client.
	b2 := Build(mw(1, 7), BuildContext{Previous: b1})
	if reflect.ValueOf(b2[name].Wrap).Pointer() != reflect.ValueOf(b1[name].Wrap).Pointer() || refs(e) != 1 {
		t.Fatalf("unchanged middleware rebuilt (refs %d)", refs(e))
	}
	// Reload, average changed: a new middleware sharing the client.
	b3 := Build(mw(2, 7), BuildContext{Previous: b2})
	if refs(e) != 2 {
		t.Fatalf("refs %d, want 2", refs(e))
	}
	b1, b2 = nil, nil
	waitRefs(e, 1) // the first middleware is gone
	// Reload, redis changed: a new client; the old one is closed once
	// the configuration using it is dropped.
	b4 := Build(mw(2, 8), BuildContext{Previous: b3})
	e2 := entry(8)
	if e2 == nil || e2 == e || refs(e2) != 1 {
		t.Fatalf("new client entry %+v", e2)
	}
	ping := func(e *rlClient) error { return e.c.Ping(context.Background()).Err() }
	if err := ping(e); err != nil {
		t.Fatalf("old client closed while in use: %v", err)
	}
	b3 = nil
	waitRefs(e, 0)
	if entry(7) != nil {
		t.Error("released client still registered")
	}
	if err := ping(e); err != redis.ErrClosed {
		t.Errorf("released client: ping %v, want %v", err, redis.ErrClosed)
	}
	if err := ping(e2); err != nil {
		t.Errorf("client in use: %v", err)
	}
	runtime.KeepAlive(b4)
	_ = b1
	_ = b2
	_ = b3
}
