package tlsmux

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testCA is a throw-away certificate authority (ECDSA P-256).
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

var serial atomic.Int64

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func newCA(t testing.TB, name string) *testCA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial.Add(1)),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issueDER signs a leaf for key; client leaves get ClientAuth usage, others
// ServerAuth.
func (ca *testCA) issueDER(t testing.TB, key *ecdsa.PrivateKey, cn string, client bool, dnsNames ...string) []byte {
	t.Helper()
	usage := x509.ExtKeyUsageServerAuth
	if client {
		usage = x509.ExtKeyUsageClientAuth
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		DNSNames:     dnsNames,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func (ca *testCA) issue(t testing.TB, cn string, client bool, dnsNames ...string) tls.Certificate {
	t.Helper()
	key := newKey(t)
	der := ca.issueDER(t, key, cn, client, dnsNames...)
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// server issues a serving certificate for dnsNames (CN: the first name).
func (ca *testCA) server(t testing.TB, dnsNames ...string) Certificate {
	t.Helper()
	cn := "no-name"
	if len(dnsNames) > 0 {
		cn = dnsNames[0]
	}
	return Certificate{Cert: ca.issue(t, cn, false, dnsNames...), Source: "test " + cn}
}

func (ca *testCA) client(t testing.TB, cn string) tls.Certificate {
	t.Helper()
	return ca.issue(t, cn, true)
}

// serverPEM issues a serving certificate and returns it and its key as PEM.
func (ca *testCA) serverPEM(t testing.TB, dnsNames ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	key := newKey(t)
	der := ca.issueDER(t, key, dnsNames[0], false, dnsNames...)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

func newStore(t testing.TB, c *Config) *Store {
	t.Helper()
	s, err := NewStore()
	if err != nil {
		t.Fatal(err)
	}
	if c != nil {
		if err := s.Swap(c); err != nil {
			t.Fatalf("Swap: %v", err)
		}
	}
	return s
}

// serverResult is the server's view of one connection.
type serverResult struct {
	state tls.ConnectionState
	err   error
}

// tlsServer terminates TLS with a Store on a loopback port. Each connection
// completes its handshake, receives "ok" and is closed.
type tlsServer struct {
	addr    string
	results chan serverResult // nil: results are dropped
}

func startTLSServer(t testing.TB, s *Store, report bool) *tlsServer {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := NewTLSListener(raw, s)
	srv := &tlsServer{addr: raw.Addr().String()}
	if report {
		srv.results = make(chan serverResult, 16)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				tc := c.(*tls.Conn)
				tc.SetDeadline(time.Now().Add(10 * time.Second))
				err := tc.Handshake()
				if err == nil {
					_, err = tc.Write([]byte("ok"))
				}
				if srv.results != nil {
					srv.results <- serverResult{state: tc.ConnectionState(), err: err}
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return srv
}

// dial performs a handshake with cfg and reads the server's "ok". It returns
// the client's state and error (of the handshake or of the read: a TLS 1.3
// server refuses a client certificate after the client's handshake is
// complete).
func (srv *tlsServer) dial(t testing.TB, cfg *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", srv.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	c := tls.Client(nc, cfg)
	if err := c.Handshake(); err != nil {
		return c.ConnectionState(), err
	}
	b, err := io.ReadAll(c)
	if err == nil && string(b) != "ok" {
		err = errors.New("server sent " + string(b))
	}
	return c.ConnectionState(), err
}

// roundTrip dials and also returns the server's result (srv must report).
func (srv *tlsServer) roundTrip(t testing.TB, cfg *tls.Config) (client tls.ConnectionState, clientErr error, server serverResult) {
	t.Helper()
	client, clientErr = srv.dial(t, cfg)
	select {
	case server = <-srv.results:
	case <-time.After(10 * time.Second):
		t.Fatal("no server result")
	}
	return client, clientErr, server
}

// insecure returns a client config that sends serverName as SNI (none if
// empty) and accepts any certificate, for tests that inspect which
// certificate was served.
func insecure(serverName string) *tls.Config {
	return &tls.Config{ServerName: serverName, InsecureSkipVerify: true}
}

// servedName returns the first DNS SAN of the certificate the server sent.
func servedName(st tls.ConnectionState) string {
	if len(st.PeerCertificates) == 0 {
		return "<none>"
	}
	leaf := st.PeerCertificates[0]
	if len(leaf.DNSNames) == 0 {
		return "CN=" + leaf.Subject.CommonName
	}
	return leaf.DNSNames[0]
}
