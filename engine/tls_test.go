package engine

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// testCA issues certificates for the TLS tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a PEM certificate and key for names (server) or a client
// certificate when client is set.
func (ca *testCA) issue(t *testing.T, client bool, names ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	usage := x509.ExtKeyUsageServerAuth
	if client {
		usage = x509.ExtKeyUsageClientAuth
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		ExtKeyUsage: []x509.ExtKeyUsage{usage}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}

func (ca *testCA) certificate(t *testing.T, name string, names ...string) spec.Certificate {
	c, k := ca.issue(t, false, names...)
	return spec.Certificate{Ref: spec.Ref{Kind: "Secret", Namespace: "default", Name: name}, CertPEM: c, KeyPEM: k}
}

// tlsGet sends one HTTPS request with the given SNI and Host over a fresh
// connection and returns the status, body and the server's certificate.
func tlsGet(t *testing.T, addr, sni, host string, cfg *tls.Config) (int, string, *x509.Certificate, error) {
	t.Helper()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg = cfg.Clone()
	cfg.ServerName, cfg.InsecureSkipVerify = sni, true
	conn, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return 0, "", nil, err
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, "", nil, err
	}
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), conn.ConnectionState().PeerCertificates[0], nil
}

func tlsSnap(ca *testCA, t *testing.T, backend string) *spec.Snapshot {
	snap := lbSnap([]spec.Router{
		{Name: "secure", Rule: "Host(`a.test`)", Service: "s", TLS: &spec.RouterTLS{Options: spec.DefaultTLSOptions}},
		{Name: "strict", Rule: "Host(`strict.test`)", Service: "s", TLS: &spec.RouterTLS{Options: "strict"}},
		{Name: "other", Rule: "Host(`other.test`)", Service: "s", TLS: &spec.RouterTLS{Options: spec.DefaultTLSOptions}},
		{Name: "plain", Rule: "Host(`b.test`)", Service: "s"},
	}, map[string]string{"s": backend})
	snap.TLS = &spec.TLS{
		Certificates: []spec.Certificate{ca.certificate(t, "a", "a.test", "other.test"), ca.certificate(t, "wild", "*.wild.test")},
		Options:      map[string]*spec.TLSOptions{"strict": {MinVersion: tls.VersionTLS13}},
	}
	return snap
}

// One port serves TLS and plain HTTP; TLS routers answer only on TLS and
// plain routers only on plain connections; certificates are chosen by SNI.
func TestTLSRouting(t *testing.T) {
	ca := newTestCA(t)
	s, base := startServer(t, tlsSnap(ca, t, backend(t, "a")))
	addr := s.Addr("web")

	code, body, cert, err := tlsGet(t, addr, "a.test", "a.test", nil)
	if err != nil || code != 200 || !strings.Contains(body, "xfp=https") || cert.Subject.CommonName != "a.test" {
		t.Fatalf("TLS router over TLS: %d %q cert %v err %v", code, body, cert, err)
	}
	if code, _ := get(t, base+"/", "a.test"); code != 404 {
		t.Errorf("TLS router over plain HTTP: %d, want 404", code)
	}
	if code, _, _, err := tlsGet(t, addr, "b.test", "b.test", nil); err != nil || code != 404 {
		t.Errorf("plain router over TLS: %d %v, want 404", code, err)
	}
	if code, body := get(t, base+"/", "b.test"); code != 200 || !strings.Contains(body, "xfp=http ") {
		t.Errorf("plain router over plain HTTP: %d %q", code, body)
	}
	if _, _, cert, err := tlsGet(t, addr, "x.wild.test", "a.test", nil); err != nil || cert.Subject.CommonName != "*.wild.test" {
		t.Errorf("wildcard certificate: %v %v", cert, err)
	}
	if _, _, cert, err := tlsGet(t, addr, "unknown.test", "a.test", nil); err != nil || cert.Subject.CommonName != "TRAEFIK DEFAULT CERT" {
		t.Errorf("default certificate: %v %v", cert, err)
	}
}

// The options of the handshake come from the Host() rules of the TLS
// routers; a request whose Host asks for other options than the SNI got
// is misdirected (421); hosts sharing options may differ freely.
func TestTLSOptionsAndDomainFronting(t *testing.T) {
	ca := newTestCA(t)
	s, _ := startServer(t, tlsSnap(ca, t, backend(t, "a")))
	addr := s.Addr("web")
	tls12 := &tls.Config{MaxVersion: tls.VersionTLS12}
	if _, _, _, err := tlsGet(t, addr, "strict.test", "strict.test", tls12); err == nil {
		t.Error("TLS 1.2 handshake accepted for a host whose options require TLS 1.3")
	}
	if code, _, _, err := tlsGet(t, addr, "a.test", "a.test", tls12); err != nil || code != 200 {
		t.Errorf("TLS 1.2 for a host with default options: %d %v", code, err)
	}
	code, body, _, err := tlsGet(t, addr, "a.test", "strict.test", nil)
	if err != nil || code != 421 || body != "Misdirected Request\n" {
		t.Errorf("fronting strict.test through a.test: %d %q %v, want 421", code, body, err)
	}
	if code, _, _, err := tlsGet(t, addr, "a.test", "other.test", nil); err != nil || code != 200 {
		t.Errorf("other.test through a.test (same options): %d %v, want 200", code, err)
	}
	if code, _, _, err := tlsGet(t, addr, "strict.test", "strict.test", nil); err != nil || code != 200 {
		t.Errorf("strict.test with TLS 1.3: %d %v", code, err)
	}
}

// entryPoints.NAME.http.tls makes every router of the entry point a TLS
// router; a new certificate is served at the next handshake after Apply.
func TestTLSEntryPointAndCertificateSwap(t *testing.T) {
	ca := newTestCA(t)
	snap := lbSnap([]spec.Router{{Name: "r", Rule: "Host(`a.test`)", Service: "s"}}, map[string]string{"s": backend(t, "a")})
	snap.TLS = &spec.TLS{Certificates: []spec.Certificate{ca.certificate(t, "one", "a.test")}}
	s, base := startServer(t, snap, "--entryPoints.web.http.tls=true")
	addr := s.Addr("web")
	_, _, first, err := tlsGet(t, addr, "a.test", "a.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, base+"/", "a.test"); code != 404 {
		t.Errorf("plain request on a TLS entry point: %d, want 404", code)
	}
	next := lbSnap([]spec.Router{{Name: "r", Rule: "Host(`a.test`)", Service: "s"}}, map[string]string{"s": backend(t, "a")})
	next.TLS = &spec.TLS{Certificates: []spec.Certificate{ca.certificate(t, "two", "a.test")}}
	if probs := s.Apply(next); len(probs) > 0 {
		t.Fatal(probs)
	}
	code, _, second, err := tlsGet(t, addr, "a.test", "a.test", nil)
	if err != nil || code != 200 || second.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Fatalf("after the swap: %d %v, same certificate %v", code, err, second.SerialNumber.Cmp(first.SerialNumber) == 0)
	}
}

// Client certificates through the engine: RequireAndVerifyClientCert
// refuses a client without one and accepts one from the configured CA.
func TestTLSClientAuth(t *testing.T) {
	ca, clients := newTestCA(t), newTestCA(t)
	snap := tlsSnap(ca, t, backend(t, "a"))
	snap.TLS.Options["strict"] = &spec.TLSOptions{ClientAuthType: "RequireAndVerifyClientCert", ClientCAs: [][]byte{clients.pem}}
	s, _ := startServer(t, snap)
	addr := s.Addr("web")
	if code, _, _, err := tlsGet(t, addr, "strict.test", "strict.test", nil); err == nil {
		t.Errorf("no client certificate: %d, want a refused handshake", code)
	}
	c, k := clients.issue(t, true, "client")
	pair, _ := tls.X509KeyPair(c, k)
	if code, _, _, err := tlsGet(t, addr, "strict.test", "strict.test", &tls.Config{Certificates: []tls.Certificate{pair}}); err != nil || code != 200 {
		t.Errorf("trusted client certificate: %d %v", code, err)
	}
	otherCert, otherKey := ca.issue(t, true, "client")
	pair2, _ := tls.X509KeyPair(otherCert, otherKey)
	if _, _, _, err := tlsGet(t, addr, "strict.test", "strict.test", &tls.Config{Certificates: []tls.Certificate{pair2}}); err == nil {
		t.Error("client certificate from another CA accepted")
	}
	if code, _, _, err := tlsGet(t, addr, "a.test", "a.test", nil); err != nil || code != 200 {
		t.Errorf("a.test (default options) without a client certificate: %d %v", code, err)
	}
}

// HTTP/2 over TLS (ALPN h2) goes through the same routing, TLS options
// check and forwarding as HTTP/1.1; request and response bodies stream.
func TestHTTP2(t *testing.T) {
	for _, impl := range h2Impls {
		t.Run(impl, func(t *testing.T) { testHTTP2(t, impl) })
	}
}

func testHTTP2(t *testing.T, impl string) {
	ca := newTestCA(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Backend", "h2test")
		w.Header().Set("Connection", "close") // connection-specific: must not reach an HTTP/2 client
		fmt.Fprintf(w, "%s %s host=%s xfp=%s len=%d\n", r.Method, r.URL.RequestURI(), r.Host, r.Header.Get("X-Forwarded-Proto"), len(body))
		if n := r.URL.Query().Get("stream"); n != "" {
			chunk := strings.Repeat("x", 64<<10)
			for range 32 {
				io.WriteString(w, chunk)
				w.(http.Flusher).Flush()
			}
		}
	})}
	go up.Serve(ln)
	t.Cleanup(func() { up.Close() })
	s, _ := startServer(t, tlsSnap(ca, t, "http://"+ln.Addr().String()), h2ImplArg(impl))
	addr := s.Addr("web")
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{ForceAttemptHTTP2: true,
		TLSClientConfig: &tls.Config{ServerName: "a.test", InsecureSkipVerify: true}}}
	do := func(method, host, path string, body io.Reader) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "https://"+addr+path, body)
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := do("GET", "a.test", "/x?y=1", nil)
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 || !strings.HasPrefix(body, "GET /x?y=1 host=a.test xfp=https") || resp.Header.Get("X-Backend") != "h2test" {
		t.Fatalf("GET over h2: %s %d %q %v", resp.Proto, resp.StatusCode, body, resp.Header)
	}
	resp, body = do("POST", "a.test", "/post", strings.NewReader(strings.Repeat("p", 3<<20)))
	if resp.StatusCode != 200 || !strings.Contains(body, "len=3145728") {
		t.Fatalf("POST over h2: %d %q", resp.StatusCode, body)
	}
	resp, body = do("GET", "a.test", "/s?stream=1", nil)
	if resp.StatusCode != 200 || len(body) < 32*64<<10 {
		t.Fatalf("streamed response over h2: %d, %d bytes", resp.StatusCode, len(body))
	}
	if resp, _ := do("GET", "strict.test", "/", nil); resp.StatusCode != 421 {
		t.Fatalf("fronting over h2: %d, want 421", resp.StatusCode)
	}
	if resp, _ := do("GET", "b.test", "/", nil); resp.StatusCode != 404 {
		t.Fatalf("plain router over h2: %d, want 404", resp.StatusCode)
	}
	// Many concurrent streams on one connection.
	errs := make(chan error, 50)
	for i := range 50 {
		go func() {
			req, _ := http.NewRequest("GET", fmt.Sprintf("https://%s/c%d", addr, i), nil)
			req.Host = "a.test"
			resp, err := client.Do(req)
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if !strings.HasPrefix(string(b), fmt.Sprintf("GET /c%d ", i)) {
					err = fmt.Errorf("stream %d got %q", i, b)
				}
			}
			errs <- err
		}()
	}
	for range 50 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// Cleartext HTTP/2 with prior knowledge on a plain entry point reaches the
// plain routers; HTTP/1.1 on the same port still works, POST included.
func TestH2C(t *testing.T) {
	for _, impl := range h2Impls {
		t.Run(impl, func(t *testing.T) { testH2C(t, impl) })
	}
}

func testH2C(t *testing.T, impl string) {
	ca := newTestCA(t)
	s, base := startServer(t, tlsSnap(ca, t, backend(t, "a")), h2ImplArg(impl))
	addr := s.Addr("web")
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Protocols: &p}}
	req, _ := http.NewRequest("GET", "http://"+addr+"/h2c", nil)
	req.Host = "b.test"
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 || !strings.HasPrefix(string(body), "a GET /h2c host=b.test") || !strings.Contains(string(body), "xfp=http ") {
		t.Fatalf("h2c: %s %d %q", resp.Proto, resp.StatusCode, body)
	}
	req, _ = http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Host = "a.test"
	if resp, err := client.Do(req); err != nil || resp.StatusCode != 404 {
		t.Fatalf("TLS router over h2c: %v %v, want 404", resp, err)
	}
	for _, path := range []string{"/P", "/PRI"} {
		resp, err := http.Post(base+path, "text/plain", strings.NewReader("PRI * HTTP/2.0"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 { // no plain router matches without Host b.test
			t.Fatalf("HTTP/1.1 POST %s: %d", path, resp.StatusCode)
		}
	}
	if code, body := get(t, base+"/x", "b.test"); code != 200 || !strings.HasPrefix(body, "a GET /x") {
		t.Fatalf("HTTP/1.1 after h2c: %d %q", code, body)
	}
}

// Routers of one host asking for different TLS options: the host gets
// the default options and each router a warning, as in Traefik.
func TestTLSOptionsConflict(t *testing.T) {
	static, err := ParseStatic([]string{"--entryPoints.web.address=:1"})
	if err != nil {
		t.Fatal(err)
	}
	snap := lbSnap([]spec.Router{
		{Name: "one", Rule: "Host(`a.test`) && Path(`/1`)", Service: "s", TLS: &spec.RouterTLS{Options: "strict"}},
		{Name: "two", Rule: "Host(`a.test`) && Path(`/2`)", Service: "s", TLS: &spec.RouterTLS{Options: spec.DefaultTLSOptions}},
		{Name: "three", Rule: "Host(`b.test`)", Service: "s", TLS: &spec.RouterTLS{Options: "strict"}},
		{Name: "four", Rule: "PathPrefix(`/`)", Service: "s", TLS: &spec.RouterTLS{Options: "strict"}},
		{Name: "five", Rule: "Host(`c.test`)", Service: "s", TLS: &spec.RouterTLS{Options: "missing"}},
	}, map[string]string{"s": "http://127.0.0.1:1"})
	snap.TLS = &spec.TLS{Options: map[string]*spec.TLSOptions{"strict": {MinVersion: tls.VersionTLS13}}}
	rt, probs := Build(static, snap)
	m := rt.secure["web"].hostOptions
	if m["a.test"] != spec.DefaultTLSOptions || m["b.test"] != "strict" {
		t.Fatalf("host options: %v", m)
	}
	var all []string
	for _, p := range probs {
		all = append(all, p.Error())
	}
	joined := strings.Join(all, "\n")
	for _, want := range []string{"router one: host a.test has routers with different TLS options",
		"router two: host a.test has routers with different TLS options",
		"router four: its rule names no Host()", `router five: TLS options "missing" do not exist`} {
		if !strings.Contains(joined, want) {
			t.Errorf("missing problem %q in:\n%s", want, joined)
		}
	}
}

// A certificate that does not parse is reported on its Secret by Build
// (so check shows it) and left out; its router still serves, with the
// default certificate, as in Traefik.
func TestBadCertificateReported(t *testing.T) {
	ca := newTestCA(t)
	static, err := ParseStatic([]string{"--entryPoints.web.address=:1"})
	if err != nil {
		t.Fatal(err)
	}
	good := ca.certificate(t, "good", "a.test")
	other := ca.certificate(t, "other", "b.test")
	bad := spec.Certificate{Ref: spec.Ref{Kind: "Secret", Namespace: "default", Name: "mismatch"}, CertPEM: good.CertPEM, KeyPEM: other.KeyPEM}
	snap := lbSnap([]spec.Router{{Name: "r", Rule: "Host(`a.test`)", Service: "s", TLS: &spec.RouterTLS{Options: spec.DefaultTLSOptions}}},
		map[string]string{"s": "http://127.0.0.1:1"})
	snap.TLS = &spec.TLS{Certificates: []spec.Certificate{bad, other}}
	rt, probs := Build(static, snap)
	if len(probs) != 1 || probs[0].Ref.Name != "mismatch" || !strings.Contains(probs[0].Error(), "private key does not match public key") {
		t.Fatalf("problems: %v", probs)
	}
	if len(rt.tls["web"].Certificates) != 1 {
		t.Fatalf("certificates kept: %d, want 1", len(rt.tls["web"].Certificates))
	}
	if table, _ := rt.TLSTable("web"); table == nil {
		t.Fatal("the TLS router was dropped")
	}
}
