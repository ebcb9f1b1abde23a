//go:build linux

package kubetest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
)

// ControlPlane is a running etcd and kube-apiserver pair. Stop it when done.
type ControlPlane struct {
	// Config reaches the API server as a system:masters user, without a
	// client-side rate limit.
	Config *rest.Config
	// Kubeconfig is the path of a kubeconfig file with the same server and
	// credentials, for subprocesses (KUBECONFIG=...).
	Kubeconfig string
	// Dir is the work directory: apiserver.log, etcd.log, the etcd data,
	// certificates and the kubeconfig. Stop removes it unless
	// EDGEROUTE_KEEP_KUBE is set.
	Dir string

	etcd, apiserver *proc
	stopOnce        sync.Once
}

// readyTimeout bounds the wait for the API server's /readyz.
const readyTimeout = 60 * time.Second

// Start runs etcd and kube-apiserver on free ports of 127.0.0.1 and returns
// once the API server is ready. ctx bounds only the start; the processes run
// until Stop (or until the test binary exits: they are killed with it).
func Start(ctx context.Context) (cp *ControlPlane, err error) {
	bins, err := Bins()
	if err != nil {
		return nil, err
	}
	dir, err := workDir()
	if err != nil {
		return nil, err
	}
	cp = &ControlPlane{Dir: dir, Kubeconfig: filepath.Join(dir, "kubeconfig")}
	defer func() {
		if err != nil {
			cp.Stop()
			cp = nil
		}
	}()

	ports, err := freePorts(3)
	if err != nil {
		return cp, err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	apiURL := "https://127.0.0.1:" + strconv.Itoa(ports[2])

	certs := filepath.Join(dir, "certs")
	if err := os.MkdirAll(certs, 0o700); err != nil {
		return cp, err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return cp, err
	}
	keyFile := filepath.Join(certs, "sa.key")
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return cp, err
	}
	token := randomHex(16)
	tokenFile := filepath.Join(certs, "tokens.csv")
	if err := os.WriteFile(tokenFile, []byte(token+",admin,admin-uid,system:masters\n"), 0o600); err != nil {
		return cp, err
	}

	cp.etcd, err = startProc(filepath.Join(dir, "etcd.log"), filepath.Join(bins, "etcd"),
		"--name=kubetest",
		"--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=kubetest="+peerURL,
		"--unsafe-no-fsync")
	if err != nil {
		return cp, err
	}
	cp.apiserver, err = startProc(filepath.Join(dir, "apiserver.log"), filepath.Join(bins, "kube-apiserver"),
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(ports[2]),
		// The endpoint reconciler refuses a loopback advertise address, and
		// without it no EndpointSlice names a host address.
		"--endpoint-reconciler-type=none",
		"--cert-dir="+certs,
		"--token-auth-file="+tokenFile, "--authorization-mode=RBAC",
		"--service-account-issuer="+apiURL,
		"--service-account-key-file="+keyFile, "--service-account-signing-key-file="+keyFile,
		"--service-cluster-ip-range=10.0.0.0/24",
		"--allow-privileged=true",
		"--disable-admission-plugins=ServiceAccount")
	if err != nil {
		return cp, err
	}
	if err := cp.waitReady(ctx, apiURL, token); err != nil {
		return cp, err
	}

	caFile := filepath.Join(certs, "apiserver.crt")
	cp.Config = &rest.Config{
		Host:            apiURL,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAFile: caFile},
		QPS:             -1, // no client-side rate limit
	}
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: kubetest
  cluster:
    server: %q
    certificate-authority: %q
users:
- name: admin
  user:
    token: %q
contexts:
- name: kubetest
  context:
    cluster: kubetest
    user: admin
current-context: kubetest
`, apiURL, caFile, token)
	return cp, os.WriteFile(cp.Kubeconfig, []byte(kubeconfig), 0o600)
}

// waitReady polls /readyz until it answers ok and the default namespace
// exists (the API server creates it just after it starts serving).
func (cp *ControlPlane) waitReady(ctx context.Context, apiURL, token string) error {
	client := &http.Client{
		Timeout: time.Second,
		// Only for polling: the certificate is written by the server itself.
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	}
	defer client.CloseIdleConnections()
	ok := func(path, want string) bool {
		req, err := http.NewRequestWithContext(ctx, "GET", apiURL+path, nil)
		if err != nil {
			return false
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		return resp.StatusCode == http.StatusOK && (want == "" || strings.TrimSpace(string(body)) == want)
	}
	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if ok("/readyz", "ok") && ok("/api/v1/namespaces/default", "") {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kubetest: waiting for kube-apiserver: %w\n%s", ctx.Err(), cp.apiserver.tail())
		case <-deadline.C:
			return fmt.Errorf("kubetest: kube-apiserver not ready after %v\n%s", readyTimeout, cp.apiserver.tail())
		case <-cp.apiserver.done:
			return fmt.Errorf("kubetest: kube-apiserver exited: %v\n%s", cp.apiserver.err, cp.apiserver.tail())
		case <-cp.etcd.done:
			return fmt.Errorf("kubetest: etcd exited: %v\n%s", cp.etcd.err, cp.etcd.tail())
		case <-tick.C:
		}
	}
}

// Stop stops the API server, then etcd (SIGTERM, SIGKILL after 10 s), and
// removes the work directory unless EDGEROUTE_KEEP_KUBE is set. It is safe to
// call more than once.
func (cp *ControlPlane) Stop() {
	cp.stopOnce.Do(func() {
		cp.apiserver.stop()
		cp.etcd.stop()
		if os.Getenv("EDGEROUTE_KEEP_KUBE") != "" {
			fmt.Fprintf(os.Stderr, "kubetest: kept %s\n", cp.Dir)
			return
		}
		_ = os.RemoveAll(cp.Dir)
	})
}

// workDir makes the work directory, on /dev/shm when possible.
func workDir() (string, error) {
	if os.Getenv("EDGEROUTE_KEEP_KUBE") == "" {
		removeStaleWorkDirs()
	}
	pattern := fmt.Sprintf("edgeroute-kube-%d-", os.Getpid())
	if dir, err := os.MkdirTemp("/dev/shm", pattern); err == nil {
		return dir, nil
	}
	return os.MkdirTemp("", pattern)
}

// removeStaleWorkDirs removes the work directories of test processes that
// died without Stop (a timeout, a panic); each holds about 120 MB, in memory
// when on /dev/shm.
func removeStaleWorkDirs() {
	for _, base := range []string{"/dev/shm", os.TempDir()} {
		dirs, _ := filepath.Glob(filepath.Join(base, "edgeroute-kube-*"))
		for _, d := range dirs {
			pid, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(d), "edgeroute-kube-"), "-")
			if !processExists(pid) {
				_ = os.RemoveAll(d)
			}
		}
	}
}

// processExists reports whether pid, a decimal string, names a running
// process. It says yes when unsure, so that nothing in use is removed.
func processExists(pid string) bool {
	if _, err := strconv.Atoi(pid); err != nil {
		return true
	}
	_, err := os.Stat("/proc/" + pid)
	return !errors.Is(err, fs.ErrNotExist)
}

// freePorts returns n distinct ports that were free on 127.0.0.1 a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// proc is a child process whose output goes to a log file.
type proc struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed once the process has exited
	err  error         // the exit status, set before done is closed
}

// startProc starts bin with its output in logPath. The child gets SIGKILL
// when the test binary dies, so an interrupted or timed-out test leaves no
// servers behind. Linux sends that signal when the thread that started the
// child exits, so that thread stays locked to a goroutine that waits for the
// child.
func startProc(logPath, bin string, args ...string) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	p := &proc{cmd: exec.Command(bin, args...), log: logPath, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		err := p.cmd.Start()
		f.Close()
		started <- err
		if err == nil {
			p.err = p.cmd.Wait()
			close(p.done)
		}
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("kubetest: %w", err)
	}
	return p, nil
}

// stop sends SIGTERM, then SIGKILL after 10 s, and waits for the exit.
func (p *proc) stop() {
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// tail returns the last lines of the log, for error messages.
func (p *proc) tail() string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return fmt.Sprintf("--- last lines of %s:\n%s", p.log, strings.Join(lines, "\n"))
}
