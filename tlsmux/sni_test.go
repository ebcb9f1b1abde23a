package tlsmux

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestSNISelection(t *testing.T) {
	ca := newCA(t, "sni CA")
	s := newStore(t, &Config{Certificates: []Certificate{
		ca.server(t, "*.example.com"),
		ca.server(t, "a.example.com"), // listed after the wildcard: exact still wins
		ca.server(t, "www.other.test", "Mixed.Case.Test"),
		ca.server(t, "fqdn.test."),
		{Cert: ca.issue(t, "cn-only.test", false), Source: "test cn-only"}, // no SAN: the CommonName selects it
	}})
	srv := startTLSServer(t, s, false)

	defaultSAN := s.DefaultCertificate().DNSNames[0]
	for _, tc := range []struct{ sni, want string }{
		{"a.example.com", "a.example.com"},         // exact
		{"b.example.com", "*.example.com"},         // wildcard
		{"A.EXAMPLE.COM", "a.example.com"},         // case-insensitive exact
		{"B.Example.Com", "*.example.com"},         // case-insensitive wildcard
		{"mixed.case.test", "www.other.test"},      // SAN with capitals
		{"www.other.test", "www.other.test"},       // second SAN of a cert
		{"fqdn.test", "fqdn.test."},                // SAN with a trailing dot
		{"example.com", defaultSAN},                // wildcard needs one label
		{"x.b.example.com", defaultSAN},            // wildcard matches one label only
		{"a.example.com.evil.test", defaultSAN},    // no suffix matching
		{"unknown.test", defaultSAN},               // unknown
		{"", defaultSAN},                           // no SNI
		{"other.test", defaultSAN},                 // parent of a SAN
		{"www.other.test.example.com", defaultSAN}, // three extra labels
		{"cn-only.test", "CN=cn-only.test"},        // CommonName, as in Traefik
	} {
		st, err := srv.dial(t, insecure(tc.sni))
		if err != nil {
			t.Fatalf("SNI %q: %v", tc.sni, err)
		}
		if got := servedName(st); got != tc.want {
			t.Errorf("SNI %q: served %q, want %q", tc.sni, got, tc.want)
		}
	}
}

func TestGeneratedDefaultCertificate(t *testing.T) {
	s := newStore(t, nil)
	leaf := s.DefaultCertificate()
	if leaf.Subject.CommonName != "TRAEFIK DEFAULT CERT" {
		t.Errorf("CN = %q", leaf.Subject.CommonName)
	}
	if len(leaf.DNSNames) != 1 || !regexp.MustCompile(`^[0-9a-f]{32}\.[0-9a-f]{32}\.traefik\.default$`).MatchString(leaf.DNSNames[0]) {
		t.Errorf("DNS names = %q", leaf.DNSNames)
	}
	if pub, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key %T, want ECDSA P-256", leaf.PublicKey)
	}
	if d := leaf.NotAfter.Sub(leaf.NotBefore); d < 364*24*time.Hour || d > 366*24*time.Hour {
		t.Errorf("validity %v, want one year", d)
	}
	if time.Now().Before(leaf.NotBefore) || time.Now().After(leaf.NotAfter) {
		t.Errorf("not valid now: %v – %v", leaf.NotBefore, leaf.NotAfter)
	}

	// Each store has its own; it survives swaps.
	if other := newStore(t, nil).DefaultCertificate(); other.DNSNames[0] == leaf.DNSNames[0] {
		t.Error("two stores generated the same default certificate")
	}
	s.Swap(&Config{})
	if s.DefaultCertificate() != leaf {
		t.Error("Swap replaced the generated default certificate")
	}

	srv := startTLSServer(t, s, false)
	for _, sni := range []string{"", "whatever.test"} {
		st, err := srv.dial(t, insecure(sni))
		if err != nil {
			t.Fatal(err)
		}
		if got := st.PeerCertificates[0].Subject.CommonName; got != DefaultCommonName {
			t.Errorf("SNI %q: served CN %q", sni, got)
		}
	}
}

func TestConfiguredDefaultCertificate(t *testing.T) {
	ca := newCA(t, "default CA")
	def := ca.server(t, "default.test")
	s := newStore(t, &Config{
		Certificates: []Certificate{ca.server(t, "known.test")},
		Default:      &def,
	})
	if got := s.DefaultCertificate(); got.DNSNames[0] != "default.test" {
		t.Fatalf("DefaultCertificate = %q", got.DNSNames)
	}
	srv := startTLSServer(t, s, false)
	for sni, want := range map[string]string{"": "default.test", "unknown.test": "default.test", "known.test": "known.test"} {
		st, err := srv.dial(t, insecure(sni))
		if err != nil {
			t.Fatal(err)
		}
		if got := servedName(st); got != want {
			t.Errorf("SNI %q: served %q, want %q", sni, got, want)
		}
	}

	// Back to the generated one.
	s.Swap(&Config{})
	if cn := s.DefaultCertificate().Subject.CommonName; cn != DefaultCommonName {
		t.Errorf("after removing Default: CN %q", cn)
	}
}

func TestSwapReportsProblems(t *testing.T) {
	ca := newCA(t, "problems CA")
	good := ca.server(t, "good.test")
	noSAN := Certificate{Cert: ca.issue(t, "", false), Source: "Secret ns/nosan"}
	badDefault := Certificate{Source: "Secret ns/baddefault"}
	s := newStore(t, nil)
	err := s.Swap(&Config{
		Certificates: []Certificate{
			{Source: "Secret ns/empty"},
			{Cert: tls.Certificate{Certificate: [][]byte{[]byte("junk")}, PrivateKey: good.Cert.PrivateKey}, Source: "Secret ns/junk"},
			noSAN,
			good,
		},
		Default: &badDefault,
		Options: map[string]*Options{
			"inverted": {MinVersion: tls.VersionTLS13, MaxVersion: tls.VersionTLS12},
			"noca":     {ClientAuth: tls.RequireAndVerifyClientCert},
		},
		HostOptions: map[string]string{"typo.test": "missing"},
	})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"Secret ns/empty: no certificate",
		"Secret ns/junk:",
		"Secret ns/nosan: the certificate has no name",
		"Secret ns/baddefault: no certificate (serving the generated default certificate)",
		`TLS options "inverted": maximum version TLS 1.2 is below minimum version TLS 1.3`,
		`TLS options "noca": client authentication RequireAndVerifyClientCert has no CA pool`,
		`host "typo.test" uses undefined TLS options "missing" (using "default")`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	// What could be installed was.
	if s.DefaultCertificate().Subject.CommonName != DefaultCommonName {
		t.Error("invalid Default installed")
	}
	if got := s.OptionsFor("typo.test"); got != "default" {
		t.Errorf("OptionsFor(typo.test) = %q", got)
	}
	if got := s.OptionsFor("x"); got != "default" {
		t.Errorf("OptionsFor(x) = %q", got)
	}
	st, err := startTLSServer(t, s, false).dial(t, insecure("good.test"))
	if err != nil || servedName(st) != "good.test" {
		t.Errorf("good.test: %v, served %q", err, servedName(st))
	}
}

func TestParseCertificate(t *testing.T) {
	ca := newCA(t, "parse CA")
	certPEM, keyPEM := ca.serverPEM(t, "parsed.test")
	_, otherKey := ca.serverPEM(t, "other.test")

	cert, err := ParseCertificate(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Leaf == nil || cert.Leaf.DNSNames[0] != "parsed.test" {
		t.Fatalf("Leaf = %v", cert.Leaf)
	}
	s := newStore(t, &Config{Certificates: []Certificate{{Cert: cert, Source: "pem"}}})
	if st, err := startTLSServer(t, s, false).dial(t, insecure("parsed.test")); err != nil || servedName(st) != "parsed.test" {
		t.Errorf("handshake: %v, served %q", err, servedName(st))
	}

	for _, tc := range []struct {
		name      string
		cert, key []byte
		want      string
	}{
		{"empty cert", nil, keyPEM, "the certificate is empty"},
		{"empty key", certPEM, []byte("\n"), "the private key is empty"},
		{"cert not PEM", []byte("hello"), keyPEM, "no PEM block of type CERTIFICATE"},
		{"key in cert", keyPEM, keyPEM, "no PEM block of type CERTIFICATE"},
		{"cert in key", certPEM, certPEM, "no PEM block of type PRIVATE KEY"},
		{"mismatch", certPEM, otherKey, "invalid certificate and key pair: tls: private key does not match public key"},
		{"corrupt cert", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), keyPEM, "invalid certificate and key pair"},
	} {
		if _, err := ParseCertificate(tc.cert, tc.key); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

// IP SANs select a certificate too, for clients that send an address as
// the server name (Go's client does not, so the hello is built here).
func TestIPSANSelection(t *testing.T) {
	ca := newCA(t, "ip CA")
	key := newKey(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(42), IPAddresses: []net.IP{net.ParseIP("10.1.2.3")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	s := newStore(t, &Config{Certificates: []Certificate{{Cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, Source: "test ip"}}})
	hello := &tls.ClientHelloInfo{ServerName: "10.1.2.3"}
	cfg, err := s.ServerConfig().GetConfigForClient(hello)
	if err != nil {
		t.Fatal(err)
	}
	got, err := cfg.GetCertificate(hello)
	if err != nil || got.Leaf.SerialNumber.Int64() != 42 {
		t.Fatalf("IP SAN: %v %v", got, err)
	}
}
