// Package tlshello fuzzes the TLS side of the front door with
// ClientHellos: the input is the bytes of the TLS records a client opens
// with. Each input is sent on a loopback connection, then the client's
// side is shut, to two servers:
//
//   - tlsmux alone: SplitProtocols (the first-bytes classification) in
//     front of SplitALPN and a Store with certificates and two option
//     sets, whose GetConfigForClient is observed;
//   - the engine's real server, whose TLS configuration comes from
//     routers, Secrets and a TLSOption.
//
// Properties: nothing panics; the classifier reads at most the 24 bytes
// of the h2c preface before handing the connection on, and the TLS side
// reads the input from its first byte (the peeked bytes replayed); the
// server closes once the input ends; what it sends is well-formed TLS
// records; whenever crypto/tls accepts the hello, the SNI, ALPN list,
// cipher suites, versions and extensions its ClientHelloInfo shows are
// those an independent parser (hello_test.go) reads, the options and the
// certificate the Store picks are those its documented rules give for
// that name, and what the server answers in clear (the ServerHello's
// version and ALPN, the TLS 1.2 certificate) agrees with the hello.
package tlshello

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/engine"
	"github.com/edgeroute/edgeroute/tlsmux"
)

// maxInput bounds the inputs tried: a hello has at most 64 KiB of
// handshake message in records of 16 KiB, and smaller inputs find the
// same bugs faster.
const maxInput = 20 << 10

// The servers' configuration, the same on both: certificates for a.test,
// *.b.test and s.test; s.test and strict.test use the options "strict"
// (SNI strict, ALPN http/1.1 only), every other name "default" (ALPN h2
// and http/1.1).
var (
	certNames   = [][]string{{"a.test"}, {"*.b.test"}, {"s.test"}}
	strictHosts = []string{"s.test", "strict.test"}
	alpnOf      = map[string][]string{"default": {"h2", "http/1.1"}, "strict": {"http/1.1"}}
)

const generatedCN = "TRAEFIK DEFAULT CERT" // the engine's and tlsmux's self-signed default

type fixtures struct {
	certs []tls.Certificate // by certNames
	pems  [][2][]byte
	mux   *muxServer
	door  string // the engine's entry point
}

var (
	once sync.Once
	fx   *fixtures
)

func setup() *fixtures {
	once.Do(func() {
		fx = &fixtures{}
		for _, names := range certNames {
			c, p := selfSigned(names...)
			fx.certs = append(fx.certs, c)
			fx.pems = append(fx.pems, p)
		}
		fx.mux = newMuxServer(fx.certs)
		fx.door = newFrontDoor(fx.pems)
	})
	return fx
}

// optionsFor is the documented choice of options: the SNI, compared
// without case and without one trailing dot, in the host map; else
// "default".
func optionsFor(sni string) string {
	if slices.Contains(strictHosts, fold(sni)) {
		return "strict"
	}
	return "default"
}

func fold(name string) string { return strings.TrimSuffix(strings.ToLower(name), ".") }

// certFor is the documented choice of certificate: a SAN equal to the
// SNI (case-insensitive, one trailing dot ignored), else a wildcard SAN
// for exactly one more label; -1 for the default certificate (or, with
// strict options, no certificate at all).
func certFor(sni string) int {
	name := fold(sni)
	if name == "" {
		return -1
	}
	for i, names := range certNames {
		if slices.Contains(names, name) {
			return i
		}
	}
	if i := strings.IndexByte(name, '.'); i > 0 && i < len(name)-1 {
		for j, names := range certNames {
			if slices.Contains(names, "*"+name[i:]) {
				return j
			}
		}
	}
	return -1
}

func FuzzClientHello(f *testing.F) {
	for _, cfg := range []*tls.Config{
		{ServerName: "a.test", NextProtos: []string{"h2", "http/1.1"}},
		{ServerName: "x.b.test", NextProtos: []string{"http/1.1"}, MaxVersion: tls.VersionTLS12},
		{ServerName: "s.test", NextProtos: []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS13},
		{ServerName: "strict.test", MaxVersion: tls.VersionTLS12},
		{ServerName: "A.TEST", NextProtos: []string{"h2"}, CurvePreferences: []tls.CurveID{tls.CurveP256}},
		{ServerName: "unknown.test", NextProtos: []string{"spdy/3", "http/1.1"}},
		{InsecureSkipVerify: true}, // no SNI, no ALPN
		{ServerName: "a.b.b.test", MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}},
		{ServerName: "old.test", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11},
		{ServerName: "a.test", CurvePreferences: []tls.CurveID{tls.X25519MLKEM768}},
	} {
		f.Add(captureHello(cfg))
	}
	for _, sp := range []helloSpec{
		{names: [][2]string{{"0", "a.test"}}, alpn: []string{"h2", "http/1.1"}},
		{names: [][2]string{{"0", "a.test."}}, alpn: []string{"http/1.1"}},
		{names: [][2]string{{"0", "S.TEST"}}, alpn: []string{"h2"}},
		{names: [][2]string{{"0", "a.test"}, {"0", "s.test"}}},
		{names: [][2]string{{"1", "a.test"}, {"0", "s.test"}}},
		{names: [][2]string{{"0", "127.0.0.1"}}, noALPN: true},
		{names: [][2]string{{"0", "a\x00.test"}}, alpn: []string{""}},
		{names: [][2]string{{"0", strings.Repeat("x", 300) + ".b.test"}}, alpn: []string{"http/1.1"}},
		{names: [][2]string{{"0", "x.b.test"}}, alpn: []string{"h2"}, splitAt: 40},
		{names: [][2]string{{"0", "strict.test"}}, alpn: []string{"h2"}, tls13: true},
		{names: [][2]string{{"0", "a.test"}}, recordVer: 0x0305},
	} {
		f.Add(sp.build())
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		if len(input) == 0 || len(input) > maxInput {
			return
		}
		if input[0] != recordHandshake {
			// Every other first byte is a plain connection (fuzz/http1's):
			// spend the run on a TLS one.
			input = append([]byte{recordHandshake}, input[1:]...)
		}
		fx := setup()
		ref, refErr := parseHello(input)
		var problems []string
		problems = append(problems, fx.mux.check(t, input, ref, refErr)...)
		problems = append(problems, fx.checkDoor(t, input, ref, refErr)...)
		if len(problems) > 0 {
			t.Fatalf("input %q:\n%s", input, strings.Join(problems, "\n"))
		}
	})
}

// send writes input on a new connection to addr, shuts the client's side
// and reads until the server closes.
func send(t *testing.T, addr string, input []byte) (out []byte, local string) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write(input)
	c.(*net.TCPConn).CloseWrite()
	out, err = io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("input %q: the server did not close in 10 s after the end of the input (sent %q)", input, out)
	}
	return out, c.LocalAddr().String()
}

// checkFlight checks what a server sent in answer to input against the
// hello; defaultLeaf tells the default certificate.
func checkFlight(out []byte, ref *hello, refErr error, defaultLeaf func(der []byte) bool, certs []tls.Certificate) []string {
	fl := readFlight(out)
	problems := fl.problems
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if !fl.serverHello {
		return problems
	}
	if refErr != nil {
		bad("the server answered a ServerHello to a hello the reference cannot read (%v)", refErr)
		return problems
	}
	if len(ref.versions) > 0 && !slices.Contains(ref.versions, fl.version) {
		bad("the server chose version %#04x, the client offered %#04x", fl.version, ref.versions)
	}
	if fl.version < tls.VersionTLS12 {
		bad("the server chose version %#04x below TLS 1.2", fl.version)
	}
	opts := optionsFor(ref.sni)
	if fl.alpn != "" && (!slices.Contains(ref.alpn, fl.alpn) || !slices.Contains(alpnOf[opts], fl.alpn)) {
		bad("the server chose ALPN %q; the client offered %q, options %s allow %q", fl.alpn, ref.alpn, opts, alpnOf[opts])
	}
	want := certFor(ref.sni)
	if want < 0 && opts == "strict" && !fl.retry {
		bad("strict SNI %q without a certificate, yet the server answered a ServerHello", ref.sni)
	}
	if fl.leaf != nil {
		switch {
		case want >= 0 && !bytes.Equal(fl.leaf, certs[want].Certificate[0]):
			bad("SNI %q: the server sent another certificate than %v", ref.sni, certNames[want])
		case want < 0 && !defaultLeaf(fl.leaf):
			bad("SNI %q: the server sent another certificate than the default", ref.sni)
		}
	}
	return problems
}

// muxServer is tlsmux's stack on a loopback listener, observed.
type muxServer struct {
	addr  string
	store *tlsmux.Store
	certs []tls.Certificate
	mu    sync.Mutex
	conns map[string]*observed // by the client's address
}

// observed is what the server saw of one connection.
type observed struct {
	peeked    int    // bytes the classifier had read when it handed the connection to the TLS side
	consumed  []byte // what crypto/tls read (through the replaying *tlsmux.Conn)
	hello     *tls.ClientHelloInfo
	options   string // the options the store picked
	cert      *tls.Certificate
	certErr   error
	handedOut bool // the handshake completed: impossible without the client's next flight
}

func newMuxServer(certs []tls.Certificate) *muxServer {
	store, err := tlsmux.NewStore()
	if err != nil {
		panic(err)
	}
	cfg := &tlsmux.Config{
		Options: map[string]*tlsmux.Options{
			"default": {ALPNProtocols: alpnOf["default"]},
			"strict":  {ALPNProtocols: alpnOf["strict"], SniStrict: true},
		},
		HostOptions: map[string]string{},
	}
	for i, c := range certs {
		cfg.Certificates = append(cfg.Certificates, tlsmux.Certificate{Cert: c, Source: strings.Join(certNames[i], ",")})
	}
	for _, h := range strictHosts {
		cfg.HostOptions[h] = "strict"
	}
	if err := store.Swap(cfg); err != nil {
		panic(err)
	}
	m := &muxServer{store: store, certs: certs, conns: map[string]*observed{}}
	// Observe the store's choice: the hook calls the store's own
	// GetConfigForClient and GetCertificate and records their results.
	sc := store.ServerConfig()
	pick := sc.GetConfigForClient
	sc.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		c, err := pick(h)
		o := m.of(h.Conn.RemoteAddr().String())
		m.mu.Lock()
		defer m.mu.Unlock()
		cp := *h
		o.hello, o.options = &cp, store.OptionsFor(h.ServerName)
		if c != nil {
			o.cert, o.certErr = c.GetCertificate(h)
		}
		return c, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	m.addr = ln.Addr().String()
	tlsRaw, h2c, plain := tlsmux.SplitProtocols(countListener{ln}, 10*time.Second)
	h1, h2 := tlsmux.SplitALPN(&peekListener{Listener: tlsRaw, m: m}, store, 10*time.Second)
	for _, l := range []net.Listener{h1, h2, h2c, plain} {
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				o := m.of(c.RemoteAddr().String())
				m.mu.Lock()
				o.handedOut = true
				m.mu.Unlock()
				c.Close()
			}
		}()
	}
	return m
}

func (m *muxServer) of(client string) *observed {
	m.mu.Lock()
	defer m.mu.Unlock()
	o := m.conns[client]
	if o == nil {
		o = &observed{peeked: -1}
		m.conns[client] = o
	}
	return o
}

func (m *muxServer) take(client string) *observed {
	m.mu.Lock()
	defer m.mu.Unlock()
	o := m.conns[client]
	delete(m.conns, client)
	return o
}

// peekListener is the TLS side of SplitProtocols as SplitALPN accepts
// from it: it notes how much the classifier read, and records what
// crypto/tls reads.
type peekListener struct {
	net.Listener
	m *muxServer
}

func (l *peekListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	o := l.m.of(c.RemoteAddr().String())
	peeked := len(h2cPreface) + 1 // not a *tlsmux.Conn over a countConn: fails the check
	if tc, ok := c.(*tlsmux.Conn); ok {
		if cc, ok := tc.NetConn().(*countConn); ok {
			peeked = int(cc.n.Load())
		}
	}
	l.m.mu.Lock()
	o.peeked = peeked
	l.m.mu.Unlock()
	return &recordConn{Conn: c, m: l.m, o: o}, nil
}

// countListener hands out connections that count the bytes read from them.
type countListener struct{ net.Listener }

func (l countListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countConn{Conn: c}, nil
}

type countConn struct {
	net.Conn
	n atomic.Int64
}

func (c *countConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

type recordConn struct {
	net.Conn
	m *muxServer
	o *observed
}

func (c *recordConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.m.mu.Lock()
	c.o.consumed = append(c.o.consumed, p[:n]...)
	c.m.mu.Unlock()
	return n, err
}

func (m *muxServer) check(t *testing.T, input []byte, ref *hello, refErr error) []string {
	out, client := send(t, m.addr, input)
	o := m.take(client)
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, "tlsmux: "+fmt.Sprintf(format, args...)) }
	if o == nil || o.peeked < 0 {
		bad("a connection opening with 0x16 never reached the TLS side")
		return problems
	}
	if o.peeked > len(h2cPreface) {
		bad("the classifier read %d bytes (at most %d)", o.peeked, len(h2cPreface))
	}
	if !bytes.HasPrefix(input, o.consumed) {
		bad("crypto/tls read %q, not the input from its first byte", o.consumed)
	}
	if o.handedOut {
		bad("a connection was handed out without a completed handshake")
	}
	if h := o.hello; h != nil {
		if refErr != nil {
			bad("crypto/tls accepted a hello the reference cannot read (%v)", refErr)
			return problems
		}
		if h.ServerName != ref.sni {
			bad("SNI: crypto/tls saw %q, the reference reads %q", h.ServerName, ref.sni)
		}
		if !slices.Equal(h.SupportedProtos, ref.alpn) {
			bad("ALPN: crypto/tls saw %q, the reference reads %q", h.SupportedProtos, ref.alpn)
		}
		if !slices.Equal(h.CipherSuites, ref.suites) {
			bad("cipher suites: crypto/tls saw %#04x, the reference reads %#04x", h.CipherSuites, ref.suites)
		}
		if len(ref.versions) > 0 && !slices.Equal(h.SupportedVersions, ref.versions) {
			bad("versions: crypto/tls saw %#04x, the reference reads %#04x", h.SupportedVersions, ref.versions)
		}
		if !slices.Equal(h.Extensions, ref.exts) {
			bad("extensions: crypto/tls saw %d, the reference reads %d", h.Extensions, ref.exts)
		}
		if want := optionsFor(ref.sni); o.options != want {
			bad("SNI %q: the store picked options %q, want %q", ref.sni, o.options, want)
		}
		switch want := certFor(ref.sni); {
		case want >= 0 && (o.cert == nil || !bytes.Equal(o.cert.Certificate[0], m.certs[want].Certificate[0])):
			bad("SNI %q: the store picked another certificate than %v (%v)", ref.sni, certNames[want], o.certErr)
		case want < 0 && optionsFor(ref.sni) == "strict" && (o.certErr == nil || !errors.Is(o.certErr, tlsmux.ErrStrictSNI)):
			bad("SNI %q under strict options: the store gave a certificate", ref.sni)
		case want < 0 && optionsFor(ref.sni) == "default" && (o.cert == nil || !bytes.Equal(o.cert.Leaf.Raw, m.store.DefaultCertificate().Raw)):
			bad("SNI %q: the store picked another certificate than the default (%v)", ref.sni, o.certErr)
		}
	}
	def := m.store.DefaultCertificate().Raw
	for _, p := range checkFlight(out, ref, refErr, func(der []byte) bool { return bytes.Equal(der, def) }, m.certs) {
		bad("%s", p)
	}
	if o.hello == nil && readFlight(out).serverHello {
		bad("a ServerHello without GetConfigForClient")
	}
	return problems
}

const h2cPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// newFrontDoor starts the engine's server with TLS routers for every
// name and returns its entry point's address.
func newFrontDoor(pems [][2][]byte) string {
	bk, err := net.Listen("tcp", "127.0.0.1:0") // never reached: no handshake completes
	if err != nil {
		panic(err)
	}
	snap := &spec.Snapshot{
		Services:  map[string]*spec.Service{"s": {Name: "s", LoadBalancer: &spec.LoadBalancer{EndpointsKey: "s", PassHostHeader: true, Strategy: "wrr"}}},
		Endpoints: map[string][]spec.Server{"s": {{URL: "http://" + bk.Addr().String()}}},
		TLS: &spec.TLS{Options: map[string]*spec.TLSOptions{
			"strict": {SniStrict: true, ALPNProtocols: alpnOf["strict"]},
		}},
	}
	for i, names := range certNames {
		snap.TLS.Certificates = append(snap.TLS.Certificates, spec.Certificate{
			Ref: spec.Ref{Kind: "Secret", Namespace: "default", Name: fmt.Sprint("cert-", i)}, CertPEM: pems[i][0], KeyPEM: pems[i][1]})
		host := strings.Replace(names[0], "*", "x", 1)
		snap.Routers = append(snap.Routers, spec.Router{Name: fmt.Sprint("r", i), Rule: "Host(`" + host + "`)", Service: "s",
			TLS: &spec.RouterTLS{Options: optionsFor(host)}})
	}
	snap.Routers = append(snap.Routers, spec.Router{Name: "strict", Rule: "Host(`strict.test`)", Service: "s", TLS: &spec.RouterTLS{Options: "strict"}})
	static, err := engine.ParseStatic([]string{"--entryPoints.websecure.address=127.0.0.1:0"})
	if err != nil {
		panic(err)
	}
	s := engine.NewServer(static, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if probs := s.Apply(snap); len(probs) > 0 {
		panic(fmt.Sprint(probs))
	}
	if err := s.Listen(); err != nil {
		panic(err)
	}
	go s.Serve(context.Background()) // lives for the test binary
	return s.Addr("websecure")
}

func (fx *fixtures) checkDoor(t *testing.T, input []byte, ref *hello, refErr error) []string {
	out, _ := send(t, fx.door, input)
	isDefault := func(der []byte) bool {
		c, err := x509.ParseCertificate(der)
		return err == nil && c.Subject.CommonName == generatedCN
	}
	var problems []string
	for _, p := range checkFlight(out, ref, refErr, isDefault, fx.certs) {
		problems = append(problems, "front door: "+p)
	}
	return problems
}

// captureHello returns the first record a crypto/tls client sends.
func captureHello(cfg *tls.Config) []byte {
	c1, c2 := net.Pipe()
	defer c2.Close()
	go func() {
		tls.Client(c1, cfg).Handshake()
		c1.Close()
	}()
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(c2, hdr); err != nil {
		panic(err)
	}
	body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
	if _, err := io.ReadFull(c2, body); err != nil {
		panic(err)
	}
	return append(hdr, body...)
}

// selfSigned returns an ECDSA P-256 certificate for names, and its PEMs.
func selfSigned(names ...string) (tls.Certificate, [2][]byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	p := [2][]byte{pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})}
	c, err := tls.X509KeyPair(p[0], p[1])
	if err != nil {
		panic(err)
	}
	return c, p
}

// TestObservations makes sure the fuzzer's checks look at something: for
// hellos of real clients, both servers answer in clear what the checks
// compare, and tlsmux's GetConfigForClient is seen.
func TestObservations(t *testing.T) {
	fx := setup()
	for _, c := range []struct {
		cfg          *tls.Config
		version      uint16 // 0: no ServerHello
		alpn         string // TLS 1.2: in clear
		cert, option string
	}{
		{&tls.Config{ServerName: "a.test", NextProtos: []string{"h2", "http/1.1"}, MaxVersion: tls.VersionTLS12}, 0x0303, "h2", "a.test", "default"},
		{&tls.Config{ServerName: "Y.B.TEST.", NextProtos: []string{"http/1.1"}, MaxVersion: tls.VersionTLS12}, 0x0303, "http/1.1", "*.b.test", "default"},
		{&tls.Config{ServerName: "s.test", NextProtos: []string{"h2", "http/1.1"}, MaxVersion: tls.VersionTLS12}, 0x0303, "http/1.1", "s.test", "strict"},
		{&tls.Config{ServerName: "a.test"}, 0x0304, "", "", "default"},
		{&tls.Config{ServerName: "strict.test", MaxVersion: tls.VersionTLS12}, 0, "", "", "strict"},
		{&tls.Config{ServerName: "other.test", MaxVersion: tls.VersionTLS12}, 0x0303, "", "default", "default"},
	} {
		input := captureHello(c.cfg)
		for _, door := range []string{"tlsmux", "engine"} {
			addr := fx.door
			if door == "tlsmux" {
				addr = fx.mux.addr
			}
			out, client := send(t, addr, input)
			fl := readFlight(out)
			if door == "tlsmux" {
				o := fx.mux.take(client)
				if o == nil || o.hello == nil || o.hello.ServerName != strings.TrimSuffix(c.cfg.ServerName, ".") || // clients drop the dot
					o.options != c.option {
					t.Errorf("%s %s: observed %+v", door, c.cfg.ServerName, o)
				}
			}
			switch {
			case len(fl.problems) > 0:
				t.Errorf("%s %s: %v", door, c.cfg.ServerName, fl.problems)
			case c.version == 0:
				if fl.serverHello || fl.alert == nil {
					t.Errorf("%s %s: want an alert only, got %+v", door, c.cfg.ServerName, fl)
				}
				continue
			case !fl.serverHello || fl.version != c.version || fl.alpn != c.alpn:
				t.Errorf("%s %s: ServerHello %v version %#04x ALPN %q", door, c.cfg.ServerName, fl.serverHello, fl.version, fl.alpn)
			}
			if c.version != 0x0303 {
				continue
			}
			leaf, err := x509.ParseCertificate(fl.leaf)
			switch {
			case err != nil:
				t.Errorf("%s %s: no certificate in clear: %v", door, c.cfg.ServerName, err)
			case c.cert == "default" && door == "engine" && leaf.Subject.CommonName != generatedCN,
				c.cert == "default" && door == "tlsmux" && !bytes.Equal(leaf.Raw, fx.mux.store.DefaultCertificate().Raw),
				c.cert != "default" && leaf.Subject.CommonName != c.cert:
				t.Errorf("%s %s: certificate %q, want %s", door, c.cfg.ServerName, leaf.Subject.CommonName, c.cert)
			}
		}
	}
}
