// Package pebbletest runs a real ACME server for tests: Let's Encrypt's
// Pebble (github.com/letsencrypt/pebble/v2) and its pebble-challtestsrv as
// the DNS server that Pebble's validation asks, both on 127.0.0.1.
//
// [Bins] builds the two programs from the Go module proxy once into a cache
// directory outside the checkout (~/.cache/edgeroute/pebble/VERSION; about
// 30 s of compiling on a fresh machine, nothing afterwards), as
// hack/kube-test-bins.sh does for the Kubernetes binaries. [Start] runs
// them: every name resolves to 127.0.0.1, and Pebble validates HTTP-01 on
// HTTPPort and TLS-ALPN-01 on TLSPort, which a test points at the proxy's
// entry points. Pebble's HTTPS listener has a certificate of a CA made by
// the test ([Server.CAFile], what caCertificates names); the certificates
// it issues chain to [Server.Root].
//
// The ACME API is reached through a recording reverse proxy
// ([Server.Directory]), so a test can count the orders placed
// ([Server.Orders]) whoever placed them.
package pebbletest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Version is the Pebble release built.
const Version = "v2.10.3"

// Bins returns the directory holding pebble and pebble-challtestsrv,
// building them when missing: $EDGEROUTE_PEBBLE_BINS when set, else
// ~/.cache/edgeroute/pebble/VERSION. Concurrent callers wait for one
// build.
func Bins() (string, error) {
	if dir := os.Getenv("EDGEROUTE_PEBBLE_BINS"); dir != "" {
		return dir, nil
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		cache = filepath.Join(home, ".cache")
	}
	dir := filepath.Join(cache, "edgeroute", "pebble", Version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	if fileExists(filepath.Join(dir, "pebble")) && fileExists(filepath.Join(dir, "pebble-challtestsrv")) {
		return dir, nil
	}
	t0 := time.Now()
	fmt.Fprintf(os.Stderr, "pebbletest: building pebble %s into %s\n", Version, dir)
	src := filepath.Join(dir, ".src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	mod := "module pebblebins\n\ngo 1.25.0\n\ntool (\n\tgithub.com/letsencrypt/pebble/v2/cmd/pebble\n\tgithub.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv\n)\n\nrequire github.com/letsencrypt/pebble/v2 " + Version + "\n"
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte(mod), 0o644); err != nil {
		return "", err
	}
	run := func(args ...string) error {
		cmd := exec.Command("go", args...)
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("pebbletest: go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := run("mod", "tidy"); err != nil {
		return "", err
	}
	for _, p := range []string{"pebble", "pebble-challtestsrv"} {
		if err := run("build", "-trimpath", "-o", filepath.Join(dir, p+".tmp"), "github.com/letsencrypt/pebble/v2/cmd/"+p); err != nil {
			return "", err
		}
		if err := os.Rename(filepath.Join(dir, p+".tmp"), filepath.Join(dir, p)); err != nil {
			return "", err
		}
	}
	fmt.Fprintf(os.Stderr, "pebbletest: built in %s\n", time.Since(t0).Round(time.Second))
	return dir, nil
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// Options configure Start.
type Options struct {
	// HTTPPort and TLSPort are where Pebble validates HTTP-01 and
	// TLS-ALPN-01 (on 127.0.0.1).
	HTTPPort, TLSPort int
	// Validity is the lifetime of the certificates issued (0: 90 days).
	Validity time.Duration
	// Blocked are names Pebble refuses to issue for.
	Blocked []string
}

// Server is a running Pebble.
type Server struct {
	// Directory is the ACME directory URL (through the recording proxy).
	Directory string
	// CAFile is the PEM file of the CA of Pebble's HTTPS certificate.
	CAFile string

	dir     string
	mgmt    string
	procs   []*exec.Cmd
	front   *http.Server
	orders  atomic.Int64
	mu      sync.Mutex
	logs    bytes.Buffer
	stopped sync.Once
}

// Start runs challtestsrv and Pebble; Stop them when done.
func Start(ctx context.Context, o Options) (s *Server, err error) {
	bins, err := Bins()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pebbletest")
	if err != nil {
		return nil, err
	}
	s = &Server{dir: dir}
	defer func() {
		if err != nil {
			s.Stop()
			s = nil
		}
	}()
	caPEM, certPEM, keyPEM, err := listenerCert()
	if err != nil {
		return s, err
	}
	s.CAFile = filepath.Join(dir, "ca.pem")
	for name, data := range map[string][]byte{"ca.pem": caPEM, "cert.pem": certPEM, "key.pem": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return s, err
		}
	}
	ports, err := freePorts(4)
	if err != nil {
		return s, err
	}
	dns := "127.0.0.1:" + strconv.Itoa(ports[0])
	acmeAddr := "127.0.0.1:" + strconv.Itoa(ports[1])
	s.mgmt = "127.0.0.1:" + strconv.Itoa(ports[2])
	chall := "127.0.0.1:" + strconv.Itoa(ports[3])

	if err := s.run(filepath.Join(bins, "pebble-challtestsrv"), nil,
		"-dnsserver", dns, "-management", chall, "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", ""); err != nil {
		return s, err
	}
	validity := int64(o.Validity / time.Second)
	if validity <= 0 {
		validity = 90 * 24 * 3600
	}
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":           acmeAddr,
		"managementListenAddress": s.mgmt,
		"certificate":             filepath.Join(dir, "cert.pem"),
		"privateKey":              filepath.Join(dir, "key.pem"),
		"httpPort":                o.HTTPPort,
		"tlsPort":                 o.TLSPort,
		"ocspResponderURL":        "",
		"domainBlocklist":         append([]string{"blocked-domain.example"}, o.Blocked...),
		"retryAfter":              map[string]int{"authz": 1, "order": 1},
		"keyAlgorithm":            "ecdsa",
		"profiles": map[string]any{"default": map[string]any{
			"description": "test", "validityPeriod": validity}},
	}}
	data, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "pebble.json"), data, 0o600); err != nil {
		return s, err
	}
	// Validation at once, every challenge validated anew, no nonce
	// refused at random: a test's result does not depend on luck.
	env := []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_AUTHZREUSE=0", "PEBBLE_WFE_NONCEREJECT=0"}
	if err := s.run(filepath.Join(bins, "pebble"), env, "-config", filepath.Join(dir, "pebble.json"), "-dnsserver", dns); err != nil {
		return s, err
	}

	// The recording front: Pebble builds its URLs from the Host header,
	// which the proxy keeps, so the client sends every request through it.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	target, _ := url.Parse("https://" + acmeAddr)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}
	director := rp.Director
	rp.Director = func(r *http.Request) {
		host := r.Host
		director(r)
		r.Host = host
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return s, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return s, err
	}
	s.front = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/order-plz" {
			s.orders.Add(1)
		}
		rp.ServeHTTP(w, r)
	}), TLSConfig: &tls.Config{Certificates: []tls.Certificate{pair}}}
	go s.front.ServeTLS(ln, "", "")
	s.Directory = "https://" + ln.Addr().String() + "/dir"

	// Ready when the directory answers through the front.
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for {
		resp, err := c.Get(s.Directory)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, nil
			}
		}
		select {
		case <-ctx.Done():
			return s, fmt.Errorf("pebbletest: pebble not ready: %v; log:\n%s", err, s.Log())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Orders counts the newOrder requests Pebble received.
func (s *Server) Orders() int { return int(s.orders.Load()) }

// Root returns the PEM root certificate that the issued certificates
// chain to (Pebble makes a new one at every start).
func (s *Server) Root() ([]byte, error) {
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(s.CAFile)
	if err != nil {
		return nil, err
	}
	pool.AppendCertsFromPEM(ca)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}}
	resp, err := c.Get("https://" + s.mgmt + "/roots/0")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		return nil, fmt.Errorf("pebbletest: root: %d %v", resp.StatusCode, err)
	}
	return body, nil
}

// Log is what both programs printed.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

type logWriter struct{ s *Server }

func (w logWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.s.logs.Write(p)
}

func (s *Server) run(bin string, env []string, args ...string) error {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logWriter{s}, logWriter{s}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	s.procs = append(s.procs, cmd)
	return nil
}

// Stop ends both programs (by their process ids) and removes the files.
func (s *Server) Stop() {
	s.stopped.Do(func() {
		if s.front != nil {
			s.front.Close()
		}
		for i := len(s.procs) - 1; i >= 0; i-- {
			s.procs[i].Process.Kill()
			s.procs[i].Wait()
		}
		os.RemoveAll(s.dir)
	})
}

// FreePort returns a port of 127.0.0.1 that nothing listens on (closed
// again; the caller binds it).
func FreePort() (int, error) {
	p, err := freePorts(1)
	if err != nil {
		return 0, err
	}
	return p[0], nil
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

// listenerCert makes a CA and a certificate for 127.0.0.1 and localhost
// that it signs: Pebble's HTTPS.
func listenerCert() (caPEM, certPEM, keyPEM []byte, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pebbletest CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), nil
}
