package main

// The TLS scenarios (-mode https,handshake,h2). Every proxy serves the same
// certificate: an ECDSA P-256 certificate for *.bench.test (and bench.test)
// that the harness generates into its temporary folder. The load generators
// connect to 127.0.0.1, so no proxy sees a server name it knows: each serves
// its default certificate, which is that one (edgeroute: the default
// TLSStore's defaultCertificate; nginx: ssl_certificate at http level;
// HAProxy: the bind's only crt), and edgeroute picks its default TLS
// options for both the connection and the Host, so its 421 check (SNI and
// Host naming different options) cannot fire. The edgeroute routes are TLS
// routers (tls: {secretName: bench-cert}); they do not answer plain HTTP.
//
// Every proxy has TLS 1.2 and 1.3, ALPN h2 and http/1.1, and no session
// resumption: no tickets and no session cache (edgeroute: the default
// TLSOption's disableSessionTickets; nginx: ssl_session_tickets off,
// ssl_session_cache off, NumTickets 0 for TLS 1.3; HAProxy: no-tls-tickets,
// tune.ssl.cachesize 0, and NumTickets 0 through OPENSSL_CONF, which 2.6
// has no keyword for). Before measuring, the harness checks that a client
// keeping its sessions gets neither a ticket nor a resumption, over TLS 1.2
// and 1.3. The settings are the same in all three modes.
//
//   - handshake: wrk with Connection: close on every request, so each answer
//     ends its connection and wrk opens a new one: one full handshake per
//     request (the harness checks that each proxy answers Connection: close
//     and closes, and that the kernel counted at least one TCP connect per
//     answer during the run). req/s is handshakes per second. wrk's latency
//     is the request's, after the handshake.
//   - https: wrk over TLS, keep-alive, HTTP/1.1 (wrk offers no ALPN),
//     requests spread over the N routes by Host as in the http mode.
//   - h2: h2load (-c conns, -m streams) over TLS with ALPN h2 to a single
//     route (the last GET route without extra header; h2load sends one
//     :authority), so the table holds N routes but one is requested. req/s
//     is h2load's "finished in" rate, latency its mean time for request.
//
// nginx keeps up to 1024 idle upstream connections (h2 has conns × streams
// requests in flight) and keepalive_requests 1000000 (its default, 1000,
// would close client connections: a handshake per 1000 requests, and a
// GOAWAY per 1000 h2 streams).

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// benchCert is the certificate every proxy serves.
type benchCert struct {
	crtPath, keyPath, pemPath string // PEM certificate, PEM key, both (HAProxy)
	opensslConf               string // OpenSSL configuration without TLS 1.3 tickets (HAProxy)
	crtPEM, keyPEM            []byte
	der                       []byte
}

func newBenchCert(dir string) (*benchCert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "bench.test"},
		DNSNames:              []string{"*.bench.test", "bench.test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	c := &benchCert{
		crtPath: filepath.Join(dir, "bench.crt"), keyPath: filepath.Join(dir, "bench.key"), pemPath: filepath.Join(dir, "bench.pem"),
		opensslConf: filepath.Join(dir, "openssl-notickets.cnf"),
		crtPEM:      pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:      pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}),
		der:         der,
	}
	files := map[string][]byte{
		c.crtPath: c.crtPEM, c.keyPath: c.keyPEM, c.pemPath: append(append([]byte{}, c.crtPEM...), c.keyPEM...),
		// Applied to every SSL_CTX: OpenSSL's NumTickets command, as
		// nginx's ssl_conf_command NumTickets 0.
		c.opensslConf: []byte("openssl_conf = init\n[init]\nssl_conf = ssl\n[ssl]\nsystem_default = tls\n[tls]\nNumTickets = 0\n"),
	}
	for path, data := range files {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// clientConfig is what the harness's own checks use: no server name (as
// wrk and h2load to 127.0.0.1), and the bench certificate required.
func (c *benchCert) clientConfig() *tls.Config {
	return &tls.Config{
		InsecureSkipVerify: true, // verified below: it must be exactly ours
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, c.der) {
				return errors.New("the proxy does not serve the bench certificate")
			}
			return nil
		},
	}
}

// writeTLSManifests writes edgeroute's TLS configuration: the HTTP one
// (ir, then the objects after the IngressRoute) with tls on the
// IngressRoute, the certificate's Secret, the default TLSStore serving it,
// and default TLS options without session tickets.
func (sc *scenario) writeTLSManifests(ir, rest string) error {
	dir := filepath.Join(sc.dir, "manifests-tls")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b := base64.StdEncoding.EncodeToString
	doc := ir + "  tls: {secretName: bench-cert}\n" + rest + `---
apiVersion: v1
kind: Secret
metadata: {name: bench-cert, namespace: bench}
type: kubernetes.io/tls
data:
  tls.crt: ` + b(sc.cert.crtPEM) + `
  tls.key: ` + b(sc.cert.keyPEM) + `
---
apiVersion: traefik.io/v1alpha1
kind: TLSStore
metadata: {name: default, namespace: bench}
spec:
  defaultCertificate: {secretName: bench-cert}
---
apiVersion: traefik.io/v1alpha1
kind: TLSOption
metadata: {name: default, namespace: bench}
spec:
  minVersion: VersionTLS12
  disableSessionTickets: true
`
	return os.WriteFile(filepath.Join(dir, "bench.yaml"), []byte(doc), 0o644)
}

// nginxTLSListen are the listen parameters of the TLS configuration
// (nginx 1.22 has no "http2 on;": h2 is a listen parameter before 1.25.1).
const nginxTLSListen = "ssl http2"

// nginxTLS are the http-level directives of nginx's TLS configuration.
func (sc *scenario) nginxTLS(withTLS bool) string {
	if !withTLS {
		return ""
	}
	return fmt.Sprintf(`  ssl_certificate %s;
  ssl_certificate_key %s;
  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_session_tickets off;
  ssl_session_cache off;
  ssl_conf_command NumTickets 0;
  keepalive_requests 1000000;
`, sc.cert.crtPath, sc.cert.keyPath)
}

func (sc *scenario) haproxyTLSGlobal(withTLS bool) string {
	if !withTLS {
		return ""
	}
	return "  tune.ssl.cachesize 0\n  ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets\n"
}

func (sc *scenario) haproxyTLSBind(withTLS bool) string {
	if !withTLS {
		return ""
	}
	return " ssl crt " + sc.cert.pemPath + " alpn h2,http/1.1"
}

// h2Route is the route h2load requests: the last GET route that needs no
// extra header.
func (sc *scenario) h2Route() int {
	for i := sc.n - 1; i > 0; i-- {
		if sc.methods[i] == "GET" && sc.headers[i] == "" {
			return i
		}
	}
	return 0
}

const tlsHeader = "mode      variant  routes   round target     req/s    req/s/core  x nginx  p50ms   p99ms   mean ms  RSS MiB  ready ms  flags"

const tlsNotes = `TLS modes (same ECDSA P-256 certificate everywhere; no session resumption, checked):
  handshake  req/s = full TLS handshakes/s: wrk, Connection: close, one new connection per request (checked);
             p50/p99/mean are wrk's request latency after the handshake
  https      TLS keep-alive, HTTP/1.1 (wrk), requests spread over the N routes
  h2         h2load -c CONNS -m STREAMS over ALPN h2, one route; req/s from "finished in", mean = mean time for request
  req/s/core = answers per CPU-second of the proxy (/proc); x nginx = that, relative to nginx in the same round and mode;
  "proxy core N% busy": the load generator (wrk/h2load, sharing CPU 1 with the upstream) could not saturate the proxy`

func (r row) tlsLine(ratio float64) string {
	var flags []string
	if r.contended {
		flags = append(flags, "CONTENDED (another process used the proxy's core)")
	}
	if r.busy > 0 && r.busy < 0.9 {
		flags = append(flags, fmt.Sprintf("proxy core %.0f%% busy", 100*r.busy))
	}
	rs := "    -"
	if ratio > 0 {
		rs = fmt.Sprintf("%5.2f", ratio)
	}
	ms := func(v float64) string {
		if v <= 0 {
			return "-"
		}
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return fmt.Sprintf("%-9s %-8s %-8d %-5d %-10s %-8.0f %-11.0f %s    %-7s %-7s %-8s %-8.1f %-9.0f %s",
		r.mode, r.variant, r.n, r.round, r.target, r.rps, r.perCore, rs, ms(r.p50), ms(r.p99), ms(r.mean), r.rssMiB, r.readyMs,
		strings.Join(flags, "; "))
}

// measureTLS runs one TLS scenario against one proxy, as measure does
// for plain HTTP.
func (sc *scenario) measureTLS(mode, target, binary string, d time.Duration, conns, streams int) (row, error) {
	r := row{mode: mode, variant: sc.variant, target: target, n: sc.n}
	started := time.Now()
	cmd, port, err := sc.start(target, binary, true)
	if err != nil {
		return r, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}()
	h1 := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: sc.cert.clientConfig()}}
	h2t := &http.Transport{TLSClientConfig: sc.cert.clientConfig(), Protocols: new(http.Protocols)}
	h2t.Protocols.SetHTTP2(true)
	h2 := &http.Client{Timeout: 2 * time.Second, Transport: h2t}
	defer h1.CloseIdleConnections()
	defer h2.CloseIdleConnections()
	answer := func(major int) func(*http.Response, []byte) error {
		return func(resp *http.Response, body []byte) error {
			if resp.TLS == nil || resp.ProtoMajor != major {
				return fmt.Errorf("answered over %s, want HTTP/%d over TLS", resp.Proto, major)
			}
			if string(body) != "ok\n" {
				return fmt.Errorf("body %q is not the upstream's", body)
			}
			return nil
		}
	}
	// Ready: the last route answers over TLS.
	if err := waitRouteWith(h1, "https", port, sc, sc.n-1, 120*time.Second, exited, answer(1)); err != nil {
		return r, err
	}
	r.readyMs = float64(time.Since(started).Milliseconds())
	// Every route answers over the mode's protocol (sampled above 1000).
	client, major := h1, 1
	if mode == "h2" {
		client, major = h2, 2
	}
	step := max(1, sc.n/1000)
	for i := 0; i < sc.n; i += step {
		if err := waitRouteWith(client, "https", port, sc, i, 5*time.Second, exited, answer(major)); err != nil {
			return r, fmt.Errorf("route %d: %w", i, err)
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := checkNoResumption(addr, sc); err != nil {
		return r, err
	}
	if params := opensslParams(addr); params != "" {
		fmt.Fprintf(os.Stderr, "%s %s: %s\n", target, mode, params)
	}
	switch mode {
	case "handshake":
		if err := checkClose(addr, sc); err != nil {
			return r, err
		}
	case "h2":
		if err := sc.checkH2load(port); err != nil {
			return r, err
		}
	}

	pid := cmd.Process.Pid
	if target == "nginx" {
		pid = childPID(pid) // the worker
	}
	opens0 := tcpActiveOpens()
	cpu0, sys0 := procCPU(pid), cpuBusy(0)
	if mode == "h2" {
		args := append([]string{"-c", "1", "h2load", "-t1", fmt.Sprintf("-c%d", conns), fmt.Sprintf("-m%d", streams),
			"-D", fmt.Sprintf("%dms", d.Milliseconds())}, sc.h2Args(port)...)
		out, err := exec.Command("taskset", args...).CombinedOutput()
		if err != nil {
			return r, fmt.Errorf("h2load: %v\n%s", err, out)
		}
		if err := parseH2load(string(out), &r); err != nil {
			return r, err
		}
	} else {
		script := filepath.Join(sc.dir, "wrk-"+mode+".lua")
		if err := sc.writeScript(script, mode == "handshake"); err != nil {
			return r, err
		}
		out, err := exec.Command("taskset", "-c", "1", "wrk", "-t1", fmt.Sprintf("-c%d", conns), "-d", d.String(),
			"-s", script, "https://"+addr+"/").CombinedOutput()
		if err != nil {
			return r, fmt.Errorf("wrk: %v\n%s", err, out)
		}
		if err := parseWrk(string(out), &r); err != nil {
			return r, err
		}
	}
	cpu1, sys1 := procCPU(pid), cpuBusy(0)
	opens := tcpActiveOpens() - opens0
	r.rssMiB = float64(rssKB(pid)) / 1024
	if mode == "handshake" && opens < r.requests {
		return r, fmt.Errorf("%.0f answers but only %.0f TCP connects: connections were reused", r.requests, opens)
	}
	proxyCPU := cpu1 - cpu0
	if proxyCPU > 0 {
		r.perCore = r.requests / proxyCPU
	}
	r.busy = proxyCPU / d.Seconds()
	r.contended = (sys1-sys0)-proxyCPU > 0.1*d.Seconds()
	return r, nil
}

// h2Args are h2load's target arguments: the h2 route's URL on 127.0.0.1
// (no SNI) with its host as :authority.
func (sc *scenario) h2Args(port int) []string {
	i := sc.h2Route()
	return []string{"-H", ":authority: " + sc.hosts[i], fmt.Sprintf("https://127.0.0.1:%d%s", port, sc.paths[i])}
}

// checkH2load runs a short h2load: every request must succeed with a 2xx
// over h2.
func (sc *scenario) checkH2load(port int) error {
	out, err := exec.Command("h2load", append([]string{"-n", "200", "-c", "2", "-m", "10"}, sc.h2Args(port)...)...).CombinedOutput()
	s := string(out)
	if err != nil || !strings.Contains(s, "200 succeeded, 0 failed, 0 errored") || !strings.Contains(s, "status codes: 200 2xx") {
		return fmt.Errorf("h2load check: %v\n%s", err, s)
	}
	if !strings.Contains(s, "Application protocol: h2") {
		return fmt.Errorf("h2load did not negotiate h2:\n%s", s)
	}
	return nil
}

var (
	h2Finished = regexp.MustCompile(`finished in ([0-9.]+)(m?s), ([0-9.]+) req/s`)
	h2Requests = regexp.MustCompile(`requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout`)
	h2Status   = regexp.MustCompile(`status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx`)
	h2Time     = regexp.MustCompile(`time for request:\s+(\S+)\s+(\S+)\s+(\S+)`)
)

func parseH2load(out string, r *row) error {
	f, q, st, tm := h2Finished.FindStringSubmatch(out), h2Requests.FindStringSubmatch(out), h2Status.FindStringSubmatch(out), h2Time.FindStringSubmatch(out)
	if f == nil || q == nil || st == nil || tm == nil {
		return errors.New("unexpected h2load output:\n" + out)
	}
	if !strings.Contains(out, "Application protocol: h2") {
		return errors.New("h2load did not negotiate h2:\n" + out)
	}
	num := func(s string) float64 { v, _ := strconv.ParseFloat(s, 64); return v }
	done, succeeded := num(q[3]), num(q[4])
	// Streams still open at the end may have counted their status
	// already: 2xx can exceed done.
	if num(q[5])+num(q[6])+num(q[7]) > 0 || num(st[2])+num(st[3])+num(st[4]) > 0 || num(st[1]) < succeeded || succeeded != done || done == 0 {
		return fmt.Errorf("h2load: %s; %s", q[0], st[0])
	}
	r.rps, r.requests = num(f[3]), done
	r.mean = durationMs(tm[3])
	return nil
}

// durationMs parses h2load's durations (123us, 4.56ms, 1.2s) into ms.
func durationMs(s string) float64 {
	for _, u := range []struct {
		suffix string
		ms     float64
	}{{"us", 1e-3}, {"ms", 1}, {"s", 1e3}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f * u.ms
			}
		}
	}
	return 0
}

// get sends one HTTP/1.1 request for the h2 route (GET, no extra header)
// with Connection: close on conn, and returns the answer and whether the
// proxy then closed the connection.
func get(conn net.Conn, sc *scenario) (*http.Response, []byte, bool, error) {
	i := sc.h2Route()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", sc.paths[i], sc.hosts[i]); err != nil {
		return nil, nil, false, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, nil, false, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, nil, false, err
	}
	_, err = br.ReadByte()
	return resp, body, err == io.EOF, nil
}

// checkClose checks what wrk relies on in the handshake mode: an answer to
// Connection: close says Connection: close and ends the connection.
func checkClose(addr string, sc *scenario) error {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, sc.cert.clientConfig())
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, body, closed, err := get(conn, sc)
	switch {
	case err != nil:
		return fmt.Errorf("Connection: close request: %v", err)
	case resp.StatusCode != 200 || string(body) != "ok\n":
		return fmt.Errorf("Connection: close request: status %d, body %q", resp.StatusCode, body)
	case !resp.Close:
		return errors.New("the answer to Connection: close does not say Connection: close (wrk would not reconnect)")
	case !closed:
		return errors.New("the proxy kept the connection open after Connection: close")
	}
	return nil
}

// ticketCache is a client session cache that counts the sessions the
// server made resumable (tickets).
type ticketCache struct {
	tls.ClientSessionCache
	mu      sync.Mutex
	tickets int
}

func (c *ticketCache) Put(key string, cs *tls.ClientSessionState) {
	if cs != nil {
		c.mu.Lock()
		c.tickets++
		c.mu.Unlock()
	}
	c.ClientSessionCache.Put(key, cs)
}

// checkNoResumption checks, over TLS 1.2 and 1.3, that a client which keeps
// its sessions is given no ticket and cannot resume: every handshake in
// the handshake mode is a full one, whatever the client does.
func checkNoResumption(addr string, sc *scenario) error {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cache := &ticketCache{ClientSessionCache: tls.NewLRUClientSessionCache(8)}
		cfg := sc.cert.clientConfig()
		cfg.MinVersion, cfg.MaxVersion, cfg.ClientSessionCache = v, v, cache
		for n := range 2 {
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, cfg)
			if err != nil {
				return fmt.Errorf("%s: %v", tls.VersionName(v), err)
			}
			// Reading the answer reads the TLS 1.3 tickets sent after
			// the handshake.
			_, _, _, err = get(conn, sc)
			resumed := conn.ConnectionState().DidResume
			conn.Close()
			if err != nil {
				return fmt.Errorf("%s: %v", tls.VersionName(v), err)
			}
			if resumed {
				return fmt.Errorf("%s: connection %d resumed a session", tls.VersionName(v), n+1)
			}
		}
		if cache.tickets > 0 {
			return fmt.Errorf("%s: the proxy issued %d session tickets", tls.VersionName(v), cache.tickets)
		}
	}
	return nil
}

// opensslParams is what OpenSSL (wrk's and h2load's library) negotiates
// with the proxy without ALPN: version, cipher suite and key exchange.
func opensslParams(addr string) string {
	out, _ := exec.Command("openssl", "s_client", "-connect", addr, "-brief").CombinedOutput()
	var params []string
	for _, l := range strings.Split(string(out), "\n") {
		for _, k := range []string{"Protocol version: ", "Ciphersuite: ", "Server Temp Key: "} {
			if v, ok := strings.CutPrefix(l, k); ok {
				params = append(params, strings.TrimSpace(v))
			}
		}
	}
	return strings.Join(params, ", ")
}

// tcpActiveOpens is the kernel's count of TCP connects (Tcp ActiveOpens in
// /proc/net/snmp), for this network namespace.
func tcpActiveOpens() float64 {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0
	}
	var names []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || f[0] != "Tcp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, name := range names {
			if name == "ActiveOpens" && i < len(f) {
				v, _ := strconv.ParseFloat(f[i], 64)
				return v
			}
		}
	}
	return 0
}
