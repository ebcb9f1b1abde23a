package tlsmux

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
)

// BenchmarkHandshake measures a full TLS 1.3 handshake over loopback with an
// ECDSA P-256 certificate and no resumption (no client session cache, no
// server tickets), client and server included. "static" is the baseline: a
// plain tls.Config holding the one certificate. The difference is the cost
// of Store's selection.
func BenchmarkHandshake(b *testing.B) {
	ca := newCA(b, "bench CA")
	cert := ca.server(b, "bench.test")
	s := newStore(b, &Config{
		Certificates: []Certificate{cert, ca.server(b, "*.other.test")},
		Options:      map[string]*Options{"default": {DisableSessionTickets: true}},
	})
	static := &tls.Config{
		MinVersion:             tls.VersionTLS12,
		Certificates:           []tls.Certificate{cert.Cert},
		NextProtos:             []string{"http/1.1"},
		SessionTicketsDisabled: true,
	}
	for _, bc := range []struct {
		name string
		cfg  *tls.Config
	}{{"store", s.ServerConfig()}, {"static", static}} {
		b.Run(bc.name, func(b *testing.B) {
			raw, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			ln := tls.NewListener(raw, bc.cfg)
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					if c.(*tls.Conn).Handshake() == nil {
						c.Write([]byte{1})
					}
					c.Close()
				}
			}()
			client := &tls.Config{ServerName: "bench.test", RootCAs: ca.pool, MinVersion: tls.VersionTLS13}
			var one [1]byte
			b.ReportAllocs()
			for b.Loop() {
				nc, err := net.Dial("tcp", raw.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				c := tls.Client(nc, client)
				if _, err := io.ReadFull(c, one[:]); err != nil {
					b.Fatal(err)
				}
				if st := c.ConnectionState(); st.Version != tls.VersionTLS13 || st.DidResume {
					b.Fatalf("%s, resumed %v", tls.VersionName(st.Version), st.DidResume)
				}
				nc.Close()
			}
			ln.Close()
			wg.Wait()
		})
	}
}

// manyCerts builds a Config with n certificates, each with an exact SAN
// "host<i>.example.test" and a wildcard SAN "*.w<i>.test", and n hosts mapped
// to 10 option sets. The certificates share one key: only the index size
// matters here. Leaf is set, as ParseCertificate does, so that Swap does not
// parse the certificates again.
func manyCerts(b *testing.B, n int) *Config {
	ca := newCA(b, "many CA")
	key := newKey(b)
	c := &Config{Options: map[string]*Options{"default": {}}, HostOptions: map[string]string{}}
	for i := range 10 {
		c.Options[fmt.Sprint("opt", i)] = &Options{}
	}
	for i := range n {
		der := ca.issueDER(b, key, "many", false, fmt.Sprintf("host%d.example.test", i), fmt.Sprintf("*.w%d.test", i))
		leaf, err := x509.ParseCertificate(der)
		if err != nil {
			b.Fatal(err)
		}
		c.Certificates = append(c.Certificates, Certificate{Cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}})
		c.HostOptions[fmt.Sprintf("host%d.example.test", i)] = fmt.Sprint("opt", i%10)
	}
	return c
}

// BenchmarkSelect measures what a handshake spends choosing its options and
// certificate (GetConfigForClient, then GetCertificate on the config it
// returns). It should not depend on the number of certificates.
func BenchmarkSelect(b *testing.B) {
	for _, n := range []int{1, 10_000} {
		s := newStore(b, manyCerts(b, n))
		cfg := s.ServerConfig()
		last := n - 1
		for _, tc := range []struct{ name, sni string }{
			{"exact", fmt.Sprintf("host%d.example.test", last)},
			{"wildcard", fmt.Sprintf("a.w%d.test", last)},
			{"upper", strings.ToUpper(fmt.Sprintf("host%d.example.test", last))},
			{"default", "unknown.test"},
			{"nosni", ""},
		} {
			b.Run(fmt.Sprintf("certs=%d/%s", n, tc.name), func(b *testing.B) {
				hello := &tls.ClientHelloInfo{ServerName: tc.sni}
				b.ReportAllocs()
				for b.Loop() {
					c, _ := cfg.GetConfigForClient(hello)
					if cert, _ := c.GetCertificate(hello); cert == nil {
						b.Fatal("no certificate")
					}
				}
			})
		}
	}
}

// BenchmarkSwap measures compiling and installing a configuration.
func BenchmarkSwap(b *testing.B) {
	for _, n := range []int{1, 10_000} {
		c := manyCerts(b, n)
		s := newStore(b, c)
		b.Run(fmt.Sprintf("certs=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.Swap(c)
			}
		})
	}
}
