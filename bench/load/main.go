// Command load is edgeroute's load harness (`make bench-load`). For each
// route count N and rule-set variant it generates equivalent configurations
// for edgeroute, nginx and HAProxy, starts each proxy alone on CPU 0 (one
// worker, GOMAXPROCS=1), a fasthttp upstream and the load generator (wrk) on
// CPU 1, checks that every route answers, drives keep-alive load at random
// routes, and prints a side-by-side table with ratios to nginx measured in
// the same round. Proxies run in interleaved rounds so that drift on a shared
// machine hits all of them alike. Everything listens on 127.0.0.1 only.
//
// -mode chooses the scenarios: http (the default, plain HTTP/1.1 keep-alive)
// and the TLS ones, https, handshake and h2, described in tls.go.
//
//	go run ./bench/load -n 1,1000,10000 -variant simple,mixed -rounds 3 -duration 10s -conns 64
//	go run ./bench/load -mode https,handshake,h2 -n 1,1000 -variant simple
package main

import (
	"encoding/base64"

	"bufio"
	"errors"
	"flag"
	"fmt"
	"golang.org/x/crypto/bcrypt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "upstream" {
		upstream(os.Args[2])
		return
	}
	var (
		ns       = flag.String("n", "1,1000,10000,100000", "route counts, comma-separated")
		variants = flag.String("variant", "simple,mixed", "rule sets: simple (one Host per route), mixed (Host && PathPrefix under 8 hosts, with Header, Method and HostRegexp), "+
			"mw0 and mw (one Host per route, path /api/x; mw adds stripPrefix, headers (a request header, three security headers) and a redirectScheme that lets the request through), "+
			"gzip and zstd (one Host per route, a 16 KiB JSON answer compressed by the compress middleware, nginx's and HAProxy's gzip; the client accepts only that encoding), "+
			"auth, ratelimit and obs (mw0's routes with basicAuth (bcrypt), with a local rateLimit that never refuses, with metrics and an access log; edgeroute only: compare with mw0)")
		rounds   = flag.Int("rounds", 3, "interleaved rounds per scenario")
		duration = flag.Duration("duration", 10*time.Second, "load duration per measurement")
		conns    = flag.Int("conns", 64, "keep-alive connections")
		targets  = flag.String("targets", "edgeroute,nginx,haproxy", "proxies to measure")
		binary   = flag.String("edgeroute", "bin/edgeroute", "edgeroute binary")
		base     = flag.String("base", "", "a second edgeroute binary, measured as target edgeroute-base (add it to -targets): a before/after comparison in one run")
		modes    = flag.String("mode", "http", "scenarios, comma-separated: http (plain keep-alive), https (TLS keep-alive), handshake (a full TLS handshake per request), h2 (HTTP/2 over TLS with h2load, one route)")
		streams  = flag.Int("streams", 10, "h2: concurrent streams per connection (h2load -m)")
	)
	flag.Parse()
	baseBinary = *base
	tlsModes := false
	for _, m := range strings.Split(*modes, ",") {
		switch m {
		case "http":
		case "https", "handshake", "h2":
			tlsModes = true
		default:
			fmt.Fprintf(os.Stderr, "load: unknown mode %q (http, https, handshake, h2)\n", m)
			os.Exit(2)
		}
	}
	if err := ensureTools(strings.Split(*targets, ","), tlsModes); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
	work, err := os.MkdirTemp("", "edgeroute-load")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(work)
	var cert *benchCert
	if tlsModes {
		if cert, err = newBenchCert(work); err != nil {
			panic(err)
		}
	}

	upPort := freePort()
	self, _ := os.Executable()
	up := exec.Command("taskset", "-c", "1", self, "upstream", fmt.Sprintf("127.0.0.1:%d", upPort))
	up.Stderr = os.Stderr
	if err := up.Start(); err != nil {
		panic(err)
	}
	defer up.Process.Kill()
	defer os.RemoveAll(work)
	waitListening(upPort)

	var rows []row
	for _, variant := range strings.Split(*variants, ",") {
		for _, nStr := range strings.Split(*ns, ",") {
			n, _ := strconv.Atoi(nStr)
			sc := &scenario{variant: variant, n: n, upPort: upPort, dir: filepath.Join(work, fmt.Sprintf("%s-%d", variant, n)), cert: cert}
			if err := sc.generate(); err != nil {
				panic(err)
			}
			for r := 1; r <= *rounds; r++ {
				for _, mode := range strings.Split(*modes, ",") {
					var nginxRPS float64
					for _, target := range strings.Split(*targets, ",") {
						var res row
						var err error
						if mode == "http" {
							res, err = sc.measure(target, *binary, *duration, *conns)
						} else {
							res, err = sc.measureTLS(mode, target, *binary, *duration, *conns, *streams)
						}
						if err != nil {
							fmt.Fprintf(os.Stderr, "%s %s %s n=%d: %v\n", target, mode, variant, n, err)
							continue
						}
						res.mode, res.round = mode, r
						if target == "nginx" {
							nginxRPS = res.perCore
						}
						rows = append(rows, res)
						fmt.Fprintln(os.Stderr, res.format(0))
					}
					for i := range rows {
						if rows[i].mode == mode && rows[i].variant == variant && rows[i].n == n && rows[i].round == r && nginxRPS > 0 {
							rows[i].ratio = rows[i].perCore / nginxRPS
						}
					}
				}
			}
		}
	}
	// Plain HTTP rows in the original table, TLS rows in their own.
	for _, tlsTable := range []bool{false, true} {
		first := true
		for _, r := range rows {
			if (r.mode != "http") != tlsTable {
				continue
			}
			if first {
				if tlsTable {
					fmt.Println(tlsHeader)
				} else {
					fmt.Println(header)
				}
				first = false
			}
			fmt.Println(r.format(r.ratio))
		}
	}
	if tlsModes {
		fmt.Println(tlsNotes)
	}
}

const header = "variant  routes   round target     req/s    req/s/core  x nginx  p50ms   p99ms   p99.9ms  RSS MiB  ready ms  flags"

type row struct {
	mode            string // http, https, handshake or h2
	variant, target string
	n, round        int
	rps, perCore    float64
	requests        float64 // answers counted by the load generator
	p50, p99, p999  float64
	mean            float64 // TLS modes: mean latency, ms
	rssMiB, readyMs float64
	ratio           float64
	contended       bool
	busy            float64 // TLS modes: the proxy's CPU time over the duration
}

// format prints r in the table of its mode.
func (r row) format(ratio float64) string {
	if r.mode == "http" {
		return r.line(ratio)
	}
	return r.tlsLine(ratio)
}

func (r row) line(ratio float64) string {
	flags := ""
	if r.contended {
		flags = "CONTENDED (another process used the proxy's core)"
	}
	rs := "    -"
	if ratio > 0 {
		rs = fmt.Sprintf("%5.2f", ratio)
	}
	return fmt.Sprintf("%-8s %-8d %-5d %-10s %-8.0f %-11.0f %s    %-7.2f %-7.2f %-8.2f %-8.1f %-9.0f %s",
		r.variant, r.n, r.round, r.target, r.rps, r.perCore, rs, r.p50, r.p99, r.p999, r.rssMiB, r.readyMs, flags)
}

// scenario is one (variant, N) configuration in the three dialects.
type scenario struct {
	variant string
	n       int
	upPort  int
	dir     string
	cert    *benchCert // non-nil: also write the TLS configurations
	hosts   []string   // request Host for route i
	paths   []string   // request path for route i
	headers []string   // extra request header for route i ("" for none)
	methods []string
}

func (sc *scenario) generate() error {
	if err := os.MkdirAll(filepath.Join(sc.dir, "manifests"), 0o755); err != nil {
		return err
	}
	var ir strings.Builder
	fmt.Fprintf(&ir, `apiVersion: v1
kind: Service
metadata: {name: upstream, namespace: bench}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: upstream-1, namespace: bench, labels: {kubernetes.io/service-name: upstream}}
addressType: IPv4
ports: [{name: http, port: %d}]
endpoints: [{addresses: ["127.0.0.1"]}]
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: bench, namespace: bench}
spec:
  routes:
`, sc.upPort)
	ngxHosts := map[string][]string{} // host -> location blocks
	var hapLines []string
	for i := 0; i < sc.n; i++ {
		host, path, hdr, method := fmt.Sprintf("r%d.bench.test", i), "/", "", "GET"
		rule := fmt.Sprintf("Host(`%s`)", host)
		loc := "location / { proxy_pass http://up; }"
		hapKey := host
		if sc.variant == "mixed" {
			host = fmt.Sprintf("h%d.bench.test", i%8)
			path = fmt.Sprintf("/p%d/x", i)
			prefix := fmt.Sprintf("/p%d/", i)
			rule = fmt.Sprintf("Host(`%s`) && PathPrefix(`%s`)", host, prefix)
			cond := ""
			switch i % 8 {
			case 5:
				hdr = fmt.Sprintf("X-Tenant: t%d", i)
				rule += fmt.Sprintf(" && Header(`X-Tenant`, `t%d`)", i)
				cond = fmt.Sprintf(`if ($http_x_tenant != "t%d") { return 404; } `, i)
			case 6:
				method = "POST"
				rule += " && Method(`POST`)"
				cond = `if ($request_method != "POST") { return 404; } `
			case 7:
				rule = fmt.Sprintf("HostRegexp(`^h[0-9]+\\.bench\\.test$`) && PathPrefix(`%s`)", prefix)
			}
			loc = fmt.Sprintf("location %s { %sproxy_pass http://up; }", prefix, cond)
			hapKey = host + prefix
		}
		mws := ""
		switch sc.variant {
		case "mw0", "mw":
			path = "/api/x"
			if sc.variant == "mw" {
				mws = "      middlewares: [{name: strip}, {name: sec}, {name: redir}]\n"
				loc = `location / { rewrite ^/api(/.*)$ $1 break; proxy_set_header X-Forwarded-Prefix /api; proxy_set_header X-Edge 1; ` +
					`add_header X-Frame-Options DENY; add_header X-Content-Type-Options nosniff; add_header X-XSS-Protection "1; mode=block"; proxy_pass http://up; }`
			}
		case "auth", "ratelimit", "obs":
			// Against mw0: basicAuth with a bcrypt user, a local rateLimit
			// that never refuses, and mw0's routes with metrics and an
			// access log on. edgeroute only (-targets edgeroute).
			path = "/api/x"
			switch sc.variant {
			case "auth":
				mws = "      middlewares: [{name: auth}]\n"
			case "ratelimit":
				mws = "      middlewares: [{name: rl}]\n"
			}
		case "gzip", "zstd":
			path = "/json"
			mws = "      middlewares: [{name: compress}]\n"
			loc = "location / { gzip on; gzip_types application/json; gzip_min_length 1024; gzip_comp_level " + gzipLevel + "; proxy_pass http://up; }"
		}
		fmt.Fprintf(&ir, "    - match: %q\n%s      services: [{name: upstream, port: 80}]\n", rule, mws)
		ngxHosts[host] = append(ngxHosts[host], loc)
		hapLines = append(hapLines, hapKey+" up")
		sc.hosts, sc.paths, sc.headers, sc.methods = append(sc.hosts, host), append(sc.paths, path), append(sc.headers, hdr), append(sc.methods, method)
	}
	routes := ir.Len() // the IngressRoute ends here: its tls goes before the middlewares
	ir.WriteString(benchMiddlewares)
	if sc.variant == "auth" {
		hash, err := bcrypt.GenerateFromPassword([]byte("bench"), bcrypt.DefaultCost)
		if err != nil {
			return err
		}
		fmt.Fprintf(&ir, benchAuth, base64.StdEncoding.EncodeToString([]byte("bench:"+string(hash))))
	}
	if err := os.WriteFile(filepath.Join(sc.dir, "manifests", "bench.yaml"), []byte(ir.String()), 0o644); err != nil {
		return err
	}
	if sc.cert != nil {
		if err := sc.writeTLSManifests(ir.String()[:routes], ir.String()[routes:]); err != nil {
			return err
		}
	}
	hosts := make([]string, 0, len(ngxHosts))
	for h := range ngxHosts {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	if err := sc.writeNginx("nginx.conf.tmpl", hosts, ngxHosts, false); err != nil {
		return err
	}
	if sc.cert != nil {
		if err := sc.writeNginx("nginx-tls.conf.tmpl", hosts, ngxHosts, true); err != nil {
			return err
		}
	}
	// HAProxy: a map from host (and, for mixed, host + path prefix) to backend.
	if err := os.WriteFile(filepath.Join(sc.dir, "routes.map"), []byte(strings.Join(hapLines, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	if err := sc.writeHAProxy("haproxy.cfg.tmpl", false); err != nil {
		return err
	}
	if sc.cert != nil {
		return sc.writeHAProxy("haproxy-tls.cfg.tmpl", true)
	}
	return nil
}

// benchMiddlewares are the middlewares of the mw, gzip and zstd variants.
// redir asks for the scheme the requests already have, so it only looks.
const benchMiddlewares = `---
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: strip, namespace: bench}
spec:
  stripPrefix: {prefixes: [/api]}
---
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: redir, namespace: bench}
spec:
  redirectScheme: {scheme: http}
---
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: sec, namespace: bench}
spec:
  headers:
    customRequestHeaders: {X-Edge: "1"}
    frameDeny: true
    contentTypeNosniff: true
    browserXssFilter: true
---
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: compress, namespace: bench}
spec:
  compress: {}
---
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: rl, namespace: bench}
spec:
  rateLimit: {average: 100000000, burst: 100000000}
`

// benchAuth is the auth variant's basicAuth and its Secret (a bcrypt
// user, "bench:bench", at Go's default cost).
const benchAuth = `---
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: auth, namespace: bench}
spec:
  basicAuth: {secret: users}
---
apiVersion: v1
kind: Secret
metadata: {name: users, namespace: bench}
data:
  users: %s
`

// gzipLevel is the gzip level given to nginx and HAProxy: that of the
// compress middleware (klauspost's gzip default, as Traefik's).
const gzipLevel = "6"

// writeNginx writes nginx's configuration: one server block per host,
// server_names_hash sized for N. With TLS, every listen is TLS and h2.
func (sc *scenario) writeNginx(name string, hosts []string, ngxHosts map[string][]string, withTLS bool) error {
	var ngx strings.Builder
	listen, keepalive := "", 128
	if withTLS {
		listen, keepalive = " "+nginxTLSListen, 1024
	}
	fmt.Fprintf(&ngx, `worker_processes 1;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  server_names_hash_max_size %[2]d;
  server_names_hash_bucket_size 128;
  upstream up { server 127.0.0.1:%[3]d; keepalive %[4]d; }
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  proxy_set_header Host $host;
  proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
  proxy_set_header X-Real-IP $remote_addr;
  client_body_temp_path %[1]s; proxy_temp_path %[1]s; fastcgi_temp_path %[1]s; uwsgi_temp_path %[1]s; scgi_temp_path %[1]s;
%[5]s  server { listen 127.0.0.1:__PORT__%[6]s default_server; return 404; }
`, sc.dir, max(1024, 2*len(ngxHosts)), sc.upPort, keepalive, sc.nginxTLS(withTLS), listen)
	for _, h := range hosts {
		fmt.Fprintf(&ngx, "  server { listen 127.0.0.1:__PORT__%s; server_name %s; %s }\n", listen, h, strings.Join(ngxHosts[h], " "))
	}
	ngx.WriteString("}\n")
	return os.WriteFile(filepath.Join(sc.dir, name), []byte(ngx.String()), 0o644)
}

// writeHAProxy writes HAProxy's configuration. With TLS, the frontend
// binds TLS with ALPN h2 and http/1.1.
func (sc *scenario) writeHAProxy(name string, withTLS bool) error {
	var hap strings.Builder
	lookup := `use_backend %[req.hdr(host),lower,map(` + sc.dir + `/routes.map)]`
	if sc.variant == "mixed" {
		// Host and path prefix: the key is host + path, matched by prefix.
		lookup = `http-request set-var(txn.key) req.hdr(host),lower,concat(,txn.pfx,)` + "\n" +
			`  use_backend %[var(txn.key),map_beg(` + sc.dir + `/routes.map)]`
	}
	fmt.Fprintf(&hap, `global
  nbthread 1
  maxconn 4096
%sdefaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
frontend fe
  bind 127.0.0.1:__PORT__%s
  http-request set-var(txn.pfx) path
  %s
  default_backend notfound
backend up
  http-reuse always
%s  server s1 127.0.0.1:%d
backend notfound
  http-request deny deny_status 404
`, sc.haproxyTLSGlobal(withTLS), sc.haproxyTLSBind(withTLS), lookup, haproxyExtras[sc.variant], sc.upPort)
	return os.WriteFile(filepath.Join(sc.dir, name), []byte(hap.String()), 0o644)
}

// haproxyExtras are the backend lines doing what the variants'
// middlewares do.
var haproxyExtras = map[string]string{
	"mw": `  http-request replace-path ^/api(/.*) \1
  http-request set-header X-Forwarded-Prefix /api
  http-request set-header X-Edge 1
  http-response set-header X-Frame-Options DENY
  http-response set-header X-Content-Type-Options nosniff
  http-response set-header X-XSS-Protection "1; mode=block"
`,
	"gzip": "  compression algo gzip\n  compression type application/json\n",
	"zstd": "  compression algo gzip\n  compression type application/json\n",
}

// baseBinary is -base: the edgeroute binary of target edgeroute-base.
var baseBinary string

// start launches a proxy pinned to CPU 0 and returns it with its port.
// withTLS chooses the TLS configurations (see tls.go).
func (sc *scenario) start(target, binary string, withTLS bool) (*exec.Cmd, int, error) {
	port := freePort()
	manifests, nginxConf, haproxyConf := "manifests", "nginx.conf", "haproxy.cfg"
	if withTLS {
		manifests, nginxConf, haproxyConf = "manifests-tls", "nginx-tls.conf", "haproxy-tls.cfg"
	}
	var cmd *exec.Cmd
	switch target {
	case "edgeroute", "edgeroute-base":
		if target == "edgeroute-base" {
			if baseBinary == "" {
				return nil, 0, fmt.Errorf("target edgeroute-base needs -base BINARY")
			}
			binary = baseBinary
		}
		args := []string{fmt.Sprintf("--entryPoints.web.address=127.0.0.1:%d", port),
			"--providers.manifests.directory=" + filepath.Join(sc.dir, manifests)}
		if sc.variant == "obs" {
			args = append(args, "--entryPoints.traefik.address=127.0.0.1:0", "--metrics.prometheus",
				"--accessLog.filePath="+filepath.Join(sc.dir, "access.log"))
		}
		cmd = exec.Command("taskset", append([]string{"-c", "0", binary}, args...)...)
		cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	case "nginx":
		conf := filepath.Join(sc.dir, nginxConf)
		if err := fill(filepath.Join(sc.dir, nginxConf+".tmpl"), conf, port); err != nil {
			return nil, 0, err
		}
		cmd = exec.Command("taskset", "-c", "0", "nginx", "-c", conf, "-e", filepath.Join(sc.dir, "nginx-error.log"))
	case "haproxy":
		conf := filepath.Join(sc.dir, haproxyConf)
		if err := fill(filepath.Join(sc.dir, haproxyConf+".tmpl"), conf, port); err != nil {
			return nil, 0, err
		}
		cmd = exec.Command("taskset", "-c", "0", "haproxy", "-f", conf)
		if withTLS {
			// HAProxy 2.6 cannot turn TLS 1.3 tickets off itself.
			cmd.Env = append(os.Environ(), "OPENSSL_CONF="+sc.cert.opensslConf)
		}
	default:
		return nil, 0, fmt.Errorf("unknown target %q", target)
	}
	// No pipes (a leftover worker holding one would block Wait), and a
	// process group of its own so that the workers die with the master.
	cmd.Stdout, cmd.Stderr = nil, nil
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd, port, cmd.Start()
}

func fill(tmpl, out string, port int) error {
	b, err := os.ReadFile(tmpl)
	if err != nil {
		return err
	}
	return os.WriteFile(out, []byte(strings.ReplaceAll(string(b), "__PORT__", strconv.Itoa(port))), 0o644)
}

func (sc *scenario) measure(target, binary string, d time.Duration, conns int) (row, error) {
	r := row{variant: sc.variant, target: target, n: sc.n}
	started := time.Now()
	cmd, port, err := sc.start(target, binary, false)
	if err != nil {
		return r, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}()
	// Ready: the last route answers (the time a rollout waits for).
	last := sc.n - 1
	if err := waitRoute(port, sc, last, 120*time.Second, exited); err != nil {
		return r, err
	}
	r.readyMs = float64(time.Since(started).Milliseconds())
	// Every route answers before measuring (sampled above 1000 routes).
	step := max(1, sc.n/1000)
	for i := 0; i < sc.n; i += step {
		if err := waitRoute(port, sc, i, 5*time.Second, exited); err != nil {
			return r, fmt.Errorf("route %d: %w", i, err)
		}
	}
	script := filepath.Join(sc.dir, "wrk.lua")
	if err := sc.writeScript(script, false); err != nil {
		return r, err
	}
	pid := cmd.Process.Pid
	if target == "nginx" {
		pid = childPID(pid) // the worker
	}
	cpu0, sys0 := procCPU(pid), cpuBusy(0)
	wrk := exec.Command("taskset", "-c", "1", "wrk", "-t1", fmt.Sprintf("-c%d", conns), "-d", d.String(),
		"-s", script, fmt.Sprintf("http://127.0.0.1:%d/", port))
	wrk.Env = append(os.Environ(), "TARGET="+target)
	out, err := wrk.CombinedOutput()
	if err != nil {
		return r, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	cpu1, sys1 := procCPU(pid), cpuBusy(0)
	r.rssMiB = float64(rssKB(pid)) / 1024
	if err := parseWrk(string(out), &r); err != nil {
		return r, err
	}
	proxyCPU := cpu1 - cpu0
	if proxyCPU > 0 {
		r.perCore = r.rps * d.Seconds() / proxyCPU
	}
	// The proxy should be all that ran on CPU 0.
	r.contended = (sys1-sys0)-proxyCPU > 0.1*d.Seconds()
	return r, nil
}

// writeScript writes wrk's Lua script. Requests are computed from the route
// number with the same formulas as generate (a table of 100k literals would
// exceed Lua's constant limit). closeConn adds Connection: close to every
// request (wrk then reconnects after each answer).
func (sc *scenario) writeScript(path string, closeConn bool) error {
	req := `local host, p, h, m = "r" .. i .. ".bench.test", "/", nil, "GET"`
	enc := ""
	switch sc.variant {
	case "mw0", "mw", "ratelimit", "obs":
		req = `local host, p, h, m = "r" .. i .. ".bench.test", "/api/x", nil, "GET"`
	case "auth":
		req = `local host, p, h, m = "r" .. i .. ".bench.test", "/api/x", nil, "GET"`
		enc = "\n  headers[\"Authorization\"] = \"Basic YmVuY2g6YmVuY2g=\""
	case "gzip", "zstd":
		req = `local host, p, h, m = "r" .. i .. ".bench.test", "/json", nil, "GET"`
		enc = "\n  headers[\"Accept-Encoding\"] = \"" + sc.variant + "\""
		if sc.variant == "zstd" {
			// nginx and HAProxy have no zstd: they answer gzip to gzip.
			enc = "\n  headers[\"Accept-Encoding\"] = target_zstd and \"zstd\" or \"gzip\""
		}
	}
	if sc.variant == "mixed" {
		req = `local host, p, h, m = "h" .. (i % 8) .. ".bench.test", "/p" .. i .. "/x", nil, "GET"
  if i % 8 == 5 then h = "t" .. i end
  if i % 8 == 6 then m = "POST" end`
	}
	closeHeader := enc
	if closeConn {
		closeHeader += "\n  headers[\"Connection\"] = \"close\""
	}
	script := fmt.Sprintf(`local n = %d
target_zstd = os.getenv("TARGET") == "edgeroute" or os.getenv("TARGET") == "edgeroute-base"
request = function()
  local i = math.random(n) - 1
  %s
  local headers = { Host = host }
  if h then headers["X-Tenant"] = h end%s
  return wrk.format(m, p, headers, nil)
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%%d errors=%%d status=%%d p50=%%.3f p99=%%.3f p999=%%.3f mean=%%.3f duration=%%d\n",
    summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50)/1000, latency:percentile(99)/1000, latency:percentile(99.9)/1000, latency.mean/1000, summary.duration))
end
`, sc.n, req, closeHeader)
	return os.WriteFile(path, []byte(script), 0o644)
}

func parseWrk(out string, r *row) error {
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "RESULT ") {
			continue
		}
		v := map[string]float64{}
		for _, kv := range strings.Fields(line)[1:] {
			k, val, _ := strings.Cut(kv, "=")
			v[k], _ = strconv.ParseFloat(val, 64)
		}
		if v["errors"] > 0 || v["status"] > 0 {
			return fmt.Errorf("%v socket errors, %v non-2xx answers", v["errors"], v["status"])
		}
		r.requests = v["requests"]
		r.rps = v["requests"] / (v["duration"] / 1e6)
		r.p50, r.p99, r.p999, r.mean = v["p50"], v["p99"], v["p999"], v["mean"]
		return nil
	}
	return errors.New("no RESULT line from wrk:\n" + out)
}

func waitRoute(port int, sc *scenario, i int, timeout time.Duration, exited chan error) error {
	return waitRouteWith(&http.Client{Timeout: 2 * time.Second}, "http", port, sc, i, timeout, exited, nil)
}

// waitRouteWith waits until route i answers 200 through client, and check
// (if not nil) accepts the answer.
func waitRouteWith(client *http.Client, scheme string, port int, sc *scenario, i int, timeout time.Duration, exited chan error,
	check func(*http.Response, []byte) error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("the proxy exited: %v", err)
		default:
		}
		req, _ := http.NewRequest(sc.methods[i], fmt.Sprintf("%s://127.0.0.1:%d%s", scheme, port, sc.paths[i]), nil)
		req.Host = sc.hosts[i]
		if sc.headers[i] != "" {
			k, v, _ := strings.Cut(sc.headers[i], ": ")
			req.Header.Set(k, v)
		}
		if sc.variant == "auth" {
			req.SetBasicAuth("bench", "bench")
		}
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				if check == nil {
					return nil
				}
				if last = check(resp, body); last == nil {
					return nil
				}
			} else {
				last = fmt.Errorf("status %d", resp.StatusCode)
			}
		} else {
			last = err
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("not serving after %v: %v", timeout, last)
}

// procCPU is the CPU time (user+system) of a process, in seconds.
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

// cpuBusy is the busy time of one CPU, in seconds, from /proc/stat.
func cpuBusy(cpu int) float64 {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	prefix := fmt.Sprintf("cpu%d ", cpu)
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, prefix) {
			var total, idle float64
			for i, x := range strings.Fields(l)[1:] {
				v, _ := strconv.ParseFloat(x, 64)
				total += v
				if i == 3 || i == 4 { // idle, iowait
					idle += v
				}
			}
			return (total - idle) / 100
		}
	}
	return 0
}

func rssKB(pid int) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			n, _ := strconv.Atoi(strings.Fields(l)[1])
			return n
		}
	}
	return 0
}

// childPID finds nginx's single worker process.
func childPID(parent int) int {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", parent, parent))
		if f := strings.Fields(string(b)); len(f) > 0 {
			pid, _ := strconv.Atoi(f[0])
			return pid
		}
		time.Sleep(10 * time.Millisecond)
	}
	return parent
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitListening(port int) {
	for range 500 {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ensureTools installs wrk and the proxies to compare from Debian when
// they are missing, and for the TLS modes h2load and openssl.
func ensureTools(targets []string, withTLS bool) error {
	need := []string{"wrk", "taskset"}
	for _, t := range targets {
		if t != "edgeroute" && t != "edgeroute-base" {
			need = append(need, t)
		}
	}
	if withTLS {
		need = append(need, "h2load", "openssl")
	}
	// Debian packages whose name is not the command's.
	pkg := map[string]string{"taskset": "util-linux", "h2load": "nghttp2-client"}
	var missing []string
	for _, t := range need {
		if _, err := exec.LookPath(t); err != nil {
			if p, ok := pkg[t]; ok {
				t = p
			}
			missing = append(missing, t)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	fmt.Fprintln(os.Stderr, "installing", missing)
	if out, err := exec.Command("apt-get", "update", "-qq").CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get update: %v\n%s", err, out)
	}
	args := append([]string{"install", "-y", "-qq"}, missing...)
	cmd := exec.Command("apt-get", args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get install %v: %v\n%s", missing, err, out)
	}
	return nil
}

// upstream is the backend: a fasthttp server with a small fixed answer.
func upstream(addr string) {
	body := []byte("ok\n")
	json := benchJSON(16 << 10)
	s := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			if string(ctx.Path()) == "/json" {
				ctx.SetContentType("application/json")
				ctx.SetBody(json)
				return
			}
			ctx.SetBody(body)
		},
		NoDefaultServerHeader: true,
		NoDefaultDate:         true,
	}
	if err := s.ListenAndServe(addr); err != nil {
		fmt.Fprintln(os.Stderr, "upstream:", err)
		os.Exit(1)
	}
}

// benchJSON is a JSON document of about n bytes that compresses as API
// answers do (repeated keys, varied values).
func benchJSON(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"items":[`)
	for i := 0; b.Len() < n-64; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"name":"item-%d","price":%d.%02d,"tags":["t%d","t%d"],"active":%t}`, i, i*7919%10007, i*37%1000, i%100, i%13, i%29, i%3 == 0)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}
