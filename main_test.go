package main

// End-to-end tests of the real binary: it is built once, then run as a
// separate process against real whoami backends (also the binary) over
// loopback sockets, with manifests in a temporary folder.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
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
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "edgeroute-e2e")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "edgeroute")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building the binary: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running edgeroute process with its log.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs bytes.Buffer
	addr chan string
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

var addrRE = regexp.MustCompile(`(?:whoami \S+ listening on |msg="entry point listening" name=web address=)(127\.0\.0\.1:\d+)`)

func start(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary, args...), addr: make(chan string, 1)}
	stderr, _ := p.cmd.StderrPipe()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs.WriteString(line + "\n")
			p.mu.Unlock()
			if m := addrRE.FindStringSubmatch(line); m != nil {
				select {
				case p.addr <- m[1]:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		if t.Failed() {
			t.Logf("log of %v:\n%s", args, p.log())
		}
	})
	return p
}

func (p *proc) address(t *testing.T) string {
	t.Helper()
	select {
	case a := <-p.addr:
		p.addr <- a
		return a
	case <-time.After(20 * time.Second):
		t.Fatalf("process did not report its address; log:\n%s", p.log())
	}
	return ""
}

func whoami(t *testing.T, name string) (host string, port int) {
	p := start(t, "whoami", "--address", "127.0.0.1:0", "--name", name)
	h, ps, _ := net.SplitHostPort(p.address(t))
	port, _ = strconv.Atoi(ps)
	return h, port
}

// manifests writes a quickstart-like folder: services a and b on the given
// ports, and the routes given.
func manifests(t *testing.T, dir string, ports map[string]int, routes string) {
	t.Helper()
	var b strings.Builder
	for name, port := range ports {
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: Service
metadata: {name: %[1]s, namespace: default}
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: %[1]s-1
  namespace: default
  labels: {kubernetes.io/service-name: %[1]s}
addressType: IPv4
ports: [{name: http, port: %[2]d}]
endpoints: [{addresses: ["127.0.0.1"], conditions: {ready: true}}]
`, name, port)
	}
	write(t, filepath.Join(dir, "services.yaml"), b.String())
	write(t, filepath.Join(dir, "routes.yaml"), routes)
}

func write(t *testing.T, path, data string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil { // atomic, as kubectl and editors do
		t.Fatal(err)
	}
}

const routesYAML = `apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: demo, namespace: default}
spec:
  routes:
    - match: Host(` + "`a.test`" + `)
      services: [{name: whoami-a, port: 80}]
    - match: Host(` + "`a.test`" + `) && PathPrefix(` + "`/b`" + `)
      services: [{name: whoami-b, port: http}]
    - match: PathPrefix(` + "`/`" + `)
      priority: -1
      services: [{name: whoami-b, port: 80}]
    - match: Host(` + "`split.test`" + `)
      services:
        - {name: whoami-a, port: 80, weight: 3}
        - {name: whoami-b, port: 80, weight: 1}
    - match: Path(` + "`/ws`" + `)
      services: [{name: whoami-a, port: 80}]
    - match: PathPrefix(` + "`/data`" + `)
      services: [{name: whoami-a, port: 80}]
`

type env struct {
	dir   string
	proxy *proc
	base  string
	ports map[string]int
}

func setup(t *testing.T, extra ...string) *env {
	t.Helper()
	_, pa := whoami(t, "whoami-a")
	_, pb := whoami(t, "whoami-b")
	e := &env{dir: t.TempDir(), ports: map[string]int{"whoami-a": pa, "whoami-b": pb}}
	manifests(t, e.dir, e.ports, routesYAML)
	e.proxy = start(t, append([]string{"--entryPoints.web.address=127.0.0.1:0", "--providers.manifests.directory=" + e.dir}, extra...)...)
	e.base = "http://" + e.proxy.address(t)
	return e
}

var client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func fetch(t *testing.T, url, host string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Host = host
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func backendName(body string) string {
	name, _, _ := strings.Cut(strings.TrimPrefix(body, "Name: "), "\n")
	return name
}

func TestServeRoutingTable(t *testing.T) {
	e := setup(t)
	for _, tc := range []struct{ path, host, want string }{
		{"/", "a.test", "whoami-a"},
		{"/b/x", "a.test", "whoami-b"},
		{"/bx", "A.TEST:80", "whoami-b"}, // PathPrefix is a string prefix
		{"/c", "a.test", "whoami-a"},
		{"/anything", "other.test", "whoami-b"}, // the negative-priority catch-all
	} {
		code, body := fetch(t, e.base+tc.path, tc.host)
		if code != 200 || backendName(body) != tc.want {
			t.Errorf("GET %s Host %s: %d %q, want %s", tc.path, tc.host, code, backendName(body), tc.want)
		}
	}
	// The weighted split: 3 to 1 over 400 requests, exactly (EDF is deterministic per period).
	counts := map[string]int{}
	for range 400 {
		_, body := fetch(t, e.base+"/", "split.test")
		counts[backendName(body)]++
	}
	if counts["whoami-a"] != 300 || counts["whoami-b"] != 100 {
		t.Errorf("weighted split = %v, want 300/100", counts)
	}
	// The request the backend saw carries Traefik's forwarded headers.
	_, body := fetch(t, e.base+"/", "a.test")
	for _, want := range []string{"GET / HTTP/1.1", "Host: a.test", "X-Forwarded-For: 127.0.0.1", "X-Forwarded-Host: a.test", "X-Forwarded-Proto: http", "X-Real-Ip: 127.0.0.1"} {
		if !strings.Contains(body, want) {
			t.Errorf("backend did not see %q:\n%s", want, body)
		}
	}
}

func TestServeWebSocket(t *testing.T) {
	e := setup(t)
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(e.base, "http")+"/ws", http.Header{"Host": {"a.test"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 20 {
		msg := fmt.Sprintf("message %d %s", i, strings.Repeat("z", i*1000))
		if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if _, got, err := c.ReadMessage(); err != nil || string(got) != msg {
			t.Fatalf("echo %d: %v", i, err)
		}
	}
}

func rssKB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			n, _ := strconv.Atoi(strings.Fields(l)[1])
			return n
		}
	}
	return 0
}

func TestServeStreams100MB(t *testing.T) {
	e := setup(t)
	const size = 100 << 20
	before := rssKB(e.proxy.cmd.Process.Pid)
	resp, err := client.Get(e.base + "/data?size=" + strconv.Itoa(size))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var n int64
	peak := 0
	buf := make([]byte, 1<<16)
	for {
		k, err := resp.Body.Read(buf)
		n += int64(k)
		if n%(8<<20) < int64(k) {
			peak = max(peak, rssKB(e.proxy.cmd.Process.Pid))
			time.Sleep(5 * time.Millisecond) // a slow reader: the proxy must not buffer ahead
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if n != size {
		t.Fatalf("received %d bytes, want %d", n, size)
	}
	t.Logf("proxy RSS %d KiB before, peak %d KiB while streaming 100 MiB", before, peak)
	if peak-before > 32<<10 {
		t.Errorf("proxy RSS grew by %d KiB while streaming: the body is being buffered", peak-before)
	}
}

func TestServeSIGTERMDrains(t *testing.T) {
	e := setup(t, "--entryPoints.web.transport.lifeCycle.graceTimeOut=10s")
	var wg sync.WaitGroup
	results := make(chan error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 20 * time.Second}
			resp, err := c.Get(fmt.Sprintf("%s/slow-%d?wait=2s", e.base, i))
			if err != nil {
				results <- err
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "Name: whoami-b") {
				results <- fmt.Errorf("status %d body %.30q", resp.StatusCode, body)
				return
			}
			results <- nil
		}()
	}
	time.Sleep(time.Second) // every request is now in flight at the backend (which answers after 2s)
	start := time.Now()
	e.proxy.cmd.Process.Signal(syscall.SIGTERM)
	wg.Wait()
	close(results)
	for err := range results {
		if err != nil {
			t.Errorf("in-flight request lost on SIGTERM: %v", err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- e.proxy.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit: %v", err)
		}
	case <-time.After(12 * time.Second):
		t.Fatal("proxy did not exit within the grace period")
	}
	t.Logf("drained and exited %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(e.base, "http://"), time.Second); err == nil {
		t.Error("still accepting connections after exit")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestServeBrokenManifestKeepsOthers(t *testing.T) {
	e := setup(t)
	write(t, filepath.Join(e.dir, "broken.yaml"), "apiVersion: traefik.io/v1alpha1\nkind: IngressRoute\nmetadata: {name: bad\n  namespace: default\n")
	write(t, filepath.Join(e.dir, "badrule.yaml"), `apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: badrule, namespace: default}
spec:
  routes:
    - match: Host(`+"`x.test`"+`) && Hots(`+"`y`"+`)
      services: [{name: whoami-a, port: 80}]
    - match: Host(`+"`good.test`"+`)
      services: [{name: whoami-a, port: 80}]
`)
	waitFor(t, "the new route", func() bool {
		_, body := fetch(t, e.base+"/", "good.test")
		return backendName(body) == "whoami-a"
	})
	if _, body := fetch(t, e.base+"/b/1", "a.test"); backendName(body) != "whoami-b" {
		t.Errorf("existing route broken: %q", body)
	}
	log := e.proxy.log()
	for _, want := range []string{"broken.yaml", `unknown matcher \"Hots\"`, "default/badrule routes[0]"} {
		if !strings.Contains(log, want) {
			t.Errorf("log does not mention %q", want)
		}
	}
}

func TestServeEndpointSliceMovesTraffic(t *testing.T) {
	e := setup(t)
	if _, body := fetch(t, e.base+"/", "a.test"); backendName(body) != "whoami-a" {
		t.Fatalf("before: %q", body)
	}
	// Point whoami-a's EndpointSlice at whoami-b's port: same routes, new endpoints.
	manifests(t, e.dir, map[string]int{"whoami-a": e.ports["whoami-b"], "whoami-b": e.ports["whoami-b"]}, routesYAML)
	waitFor(t, "traffic to move", func() bool {
		_, body := fetch(t, e.base+"/", "a.test")
		return backendName(body) == "whoami-b"
	})
	waitFor(t, "the rebuild to be logged", func() bool { return strings.Contains(e.proxy.log(), "recompiled=false") })
	if n := strings.Count(e.proxy.log(), "recompiled=true"); n != 1 {
		t.Errorf("the rules were compiled %d times, want once (at start): an endpoint-only change must not recompile", n)
	}
}

func TestCheckCommand(t *testing.T) {
	dir := t.TempDir()
	manifests(t, dir, map[string]int{"whoami-a": 9}, routesYAML)
	out, err := exec.Command(binary, "check", dir).CombinedOutput()
	// routesYAML refers to whoami-b, which this folder lacks: reported, exit 1.
	if err == nil || !strings.Contains(string(out), "kubernetes service not found: default/whoami-b") {
		t.Errorf("check: %v\n%s", err, out)
	}
	manifests(t, dir, map[string]int{"whoami-a": 9, "whoami-b": 10}, routesYAML)
	if out, err := exec.Command(binary, "check", dir).CombinedOutput(); err != nil {
		t.Errorf("check of a good folder: %v\n%s", err, out)
	}
}

func TestExplainCommand(t *testing.T) {
	dir := t.TempDir()
	manifests(t, dir, map[string]int{"whoami-a": 9001, "whoami-b": 9002}, routesYAML)
	out, err := exec.Command(binary, "explain", "--providers.manifests.directory="+dir, "GET", "http://a.test/b/x").CombinedOutput()
	if err != nil {
		t.Fatalf("explain: %v\n%s", err, out)
	}
	for _, want := range []string{"router default-demo-", "service default-whoami-b-http@kubernetescrd", "servers: http://127.0.0.1:9002", "YES", "not tried"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("explain output lacks %q:\n%s", want, out)
		}
	}
	out, err = exec.Command(binary, "explain", "--json", "--providers.manifests.directory="+dir, "GET", "http://nothing.test/zzz").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"router": "default-demo-`) {
		t.Errorf("explain --json: %v\n%s", err, out)
	}
}

// TestCheckTraefikFixtures runs `check` on every file of Traefik's own
// provider test corpus (with services.yml, as Traefik's tests pair them):
// no panic, a verdict for each, and the files that are fully supported pass.
func TestCheckTraefikFixtures(t *testing.T) {
	const dir = "testdata/traefik-crd-fixtures"
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	pass, fail := 0, 0
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".yml") {
			continue
		}
		var out bytes.Buffer
		code := runCheck([]string{filepath.Join(dir, "services.yml"), filepath.Join(dir, e.Name()),
			"--providers.kubernetesCRD.allowExternalNameServices=true"}, &out)
		switch code {
		case 0:
			pass++
		case 1:
			fail++
			if !strings.Contains(out.String(), "error:   ") {
				t.Errorf("%s: exit 1 without an error line:\n%s", e.Name(), out.String())
			}
		default:
			t.Errorf("%s: exit %d\n%s", e.Name(), code, out.String())
		}
	}
	t.Logf("%d fixture files pass check, %d report problems", pass, fail)
	for _, f := range []string{"simple.yml", "with_two_services.yml", "with_sticky.yml", "with_externalname_with_http.yml", "with_services_lb0.yml",
		"with_error_page.yml", "with_error_page_traefik_service.yml", "with_middleware_multiple_hyphens.yml", "with_traefik_service_middleware.yml",
		"with_mirroring.yml", "with_mirroring2.yml", "with_failover_errors.yml", "with_highest_random_weight.yml", "with_services_lb3.yml"} {
		var out bytes.Buffer
		if code := runCheck([]string{filepath.Join(dir, "services.yml"), filepath.Join(dir, f), "--providers.kubernetesCRD.allowExternalNameServices=true"}, &out); code != 0 {
			t.Errorf("%s: exit %d\n%s", f, code, out.String())
		}
	}
	// TraefikService fixtures that need a provider option, and those
	// Traefik's service manager refuses: a failover whose main service
	// cannot report its health (no health check, which the CRD allows
	// only on ExternalName Services) and has no error statuses.
	for _, tc := range []struct {
		file, flag, problem string
	}{
		{"with_namespaces.yml", "--providers.kubernetesCRD.allowCrossNamespace=true", ""},
		{"with_empty_services_ts.yml", "--providers.kubernetesCRD.allowEmptyServices=true", ""},
		{"with_failover.yml", "", "cannot register default-whoami5-8080@kubernetescrd as updater for default-failover1@kubernetescrd: healthCheck not enabled in config for this WRR service"},
		{"with_failover2.yml", "", "cannot register default-wrr1@kubernetescrd as updater for default-failover1@kubernetescrd: healthCheck not enabled in config for this WRR service"},
	} {
		var out bytes.Buffer
		args := []string{filepath.Join(dir, "services.yml"), filepath.Join(dir, tc.file)}
		if tc.flag != "" {
			args = append(args, tc.flag)
		}
		code := runCheck(args, &out)
		if tc.problem == "" && code != 0 || tc.problem != "" && (code != 1 || !strings.Contains(out.String(), tc.problem)) {
			t.Errorf("%s: exit %d\n%s", tc.file, code, out.String())
		}
	}
}
