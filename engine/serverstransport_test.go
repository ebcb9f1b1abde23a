package engine

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// stName is the name the transport of these tests gets.
const stName = "default-st@kubernetescrd"

// withDefaults is a ServersTransport as translation hands it over, with
// Traefik's forwarding timeout defaults.
func withDefaults(st spec.ServersTransport) *spec.ServersTransport {
	if st.DialTimeout == 0 {
		st.DialTimeout = 30 * time.Second
	}
	if st.IdleConnTimeout == 0 {
		st.IdleConnTimeout = 90 * time.Second
	}
	if st.PingTimeout == 0 {
		st.PingTimeout = 15 * time.Second
	}
	return &st
}

// stSnap routes everything to server through st (nil: the static
// serversTransport).
func stSnap(server string, st *spec.ServersTransport) *spec.Snapshot {
	snap := lbSnap([]spec.Router{{Name: "r", Rule: "PathPrefix(`/`)", Service: "s"}}, map[string]string{"s": server})
	if st != nil {
		st.Name = stName
		snap.Services["s"].LoadBalancer.ServersTransport = stName
		snap.ServersTransports = map[string]*spec.ServersTransport{stName: st}
	}
	return snap
}

// leaf issues a certificate signed by ca for DNS names, IP addresses and
// URIs; client makes it a client certificate.
func leaf(t *testing.T, ca *testCA, client bool, cn string, dns []string, ips []net.IP, uris []string) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	usage := x509.ExtKeyUsageServerAuth
	if client {
		usage = x509.ExtKeyUsageClientAuth
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, DNSNames: dns, IPAddresses: ips,
		ExtKeyUsage: []x509.ExtKeyUsage{usage}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	for _, u := range uris {
		p, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, p)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	pair, err := tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}))
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

// pemOf returns a certificate pair as a spec.Certificate.
func pemOf(t *testing.T, c tls.Certificate) spec.Certificate {
	t.Helper()
	kd, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return spec.Certificate{Ref: spec.Ref{Kind: "Secret", Namespace: "default", Name: "client"},
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})}
}

// tlsBackend serves HTTPS (HTTP/2 when the client offers it) on loopback
// with cfg, answering with what it saw of the connection: protocol, SNI,
// TLS version and the client certificate's subject.
func tlsBackend(t *testing.T, cfg *tls.Config, h http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if h == nil {
		h = func(w http.ResponseWriter, r *http.Request) {
			client := "-"
			if len(r.TLS.PeerCertificates) > 0 {
				client = r.TLS.PeerCertificates[0].Subject.CommonName
			}
			fmt.Fprintf(w, "proto=%s sni=%s version=%s client=%s", r.Proto, r.TLS.ServerName, tls.VersionName(r.TLS.Version), client)
		}
	}
	srv := &http.Server{Handler: h, TLSConfig: cfg, ErrorLog: nopLog()}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return "https://" + ln.Addr().String()
}

// serve starts a proxy on snap whose Apply problems are returned, not
// fatal.
func serve(t *testing.T, snap *spec.Snapshot) (*Server, string, []spec.Problem) {
	t.Helper()
	static, err := ParseStatic([]string{"--entryPoints.web.address=127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(static, slog.New(slog.DiscardHandler))
	probs := s.Apply(snap)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return s, "http://" + s.Addr("web"), probs
}

// statusOr500 added to a wanted status also accepts 500.
const statusOr500 = 1000

// TLS towards servers: each option of a ServersTransport against a real
// TLS server, over the HTTP/2-capable net/http path.
func TestServersTransportTLS(t *testing.T) {
	ca, other := newTestCA(t), newTestCA(t)
	ip := []net.IP{net.ParseIP("127.0.0.1")}
	serverCert := leaf(t, ca, false, "backend", []string{"backend.test"}, ip, []string{"spiffe://test/backend"})
	nameOnly := leaf(t, ca, false, "named", []string{"named.test"}, nil, nil)
	clientCert := leaf(t, ca, true, "edgeroute-client", nil, nil, nil)
	strangerCert := leaf(t, other, true, "stranger", nil, nil, nil)

	mtls := tlsBackend(t, &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.pool}, nil)
	named := tlsBackend(t, &tls.Config{Certificates: []tls.Certificate{nameOnly}}, nil)
	plain := tlsBackend(t, &tls.Config{Certificates: []tls.Certificate{serverCert}}, nil)
	tls12 := tlsBackend(t, &tls.Config{Certificates: []tls.Certificate{serverCert}, MaxVersion: tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}, nil)
	tls13 := tlsBackend(t, &tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS13}, nil)

	roots := [][]byte{ca.pem}
	for _, tc := range []struct {
		name   string
		server string
		st     *spec.ServersTransport // nil: the static serversTransport
		status int
		body   string // prefix
	}{
		// Mutual TLS: the client certificate opens the handshake.
		{"mtls", mtls, withDefaults(spec.ServersTransport{RootCAs: roots, Certificates: []spec.Certificate{pemOf(t, clientCert)}}), 200,
			"proto=HTTP/2.0 sni= version=TLS 1.3 client=edgeroute-client"},
		// Without one, or with one from another CA, the server refuses it:
		// a remote TLS alert, a net.Error, so 502 as in Traefik; or, when
		// Go's HTTP/2 client sees the connection fail first, "http2: client
		// conn could not be established", 500 (Traefik's transport races
		// the same way). statusOr500 accepts both.
		{"mtls without a client certificate", mtls, withDefaults(spec.ServersTransport{RootCAs: roots}), statusOr500 + 502, "Bad Gateway"},
		{"mtls with a foreign client certificate", mtls, withDefaults(spec.ServersTransport{RootCAs: roots, Certificates: []spec.Certificate{pemOf(t, strangerCert)}}), statusOr500 + 502, "Bad Gateway"},
		// rootCAs replace the system roots; without them the certificate
		// does not verify (a certificate error, not a net.Error: 500, as
		// Traefik's ComputeStatusCode).
		{"rootCAs", plain, withDefaults(spec.ServersTransport{RootCAs: roots}), 200, "proto=HTTP/2.0 sni= "},
		{"no rootCAs", plain, withDefaults(spec.ServersTransport{}), 500, "Internal Server Error"},
		{"static transport", plain, nil, 500, "Internal Server Error"},
		{"rootCAs of another CA", plain, withDefaults(spec.ServersTransport{RootCAs: [][]byte{other.pem}}), 500, "Internal Server Error"},
		// serverName is the SNI sent and the name verified.
		{"serverName", named, withDefaults(spec.ServersTransport{RootCAs: roots, ServerName: "named.test"}), 200, "proto=HTTP/2.0 sni=named.test "},
		{"no serverName", named, withDefaults(spec.ServersTransport{RootCAs: roots}), 500, "Internal Server Error"},
		{"serverName not in the certificate", named, withDefaults(spec.ServersTransport{RootCAs: roots, ServerName: "other.test"}), 500, "Internal Server Error"},
		// insecureSkipVerify accepts any certificate.
		{"insecureSkipVerify", named, withDefaults(spec.ServersTransport{InsecureSkipVerify: true}), 200, "proto=HTTP/2.0 sni= "},
		{"insecureSkipVerify sends serverName", named, withDefaults(spec.ServersTransport{InsecureSkipVerify: true, ServerName: "x.test"}), 200, "proto=HTTP/2.0 sni=x.test "},
		// Versions: the server's range must meet the transport's.
		{"maxVersion 1.2", plain, withDefaults(spec.ServersTransport{RootCAs: roots, MaxVersion: tls.VersionTLS12}), 200, "proto=HTTP/2.0 sni= version=TLS 1.2 "},
		{"minVersion 1.3 against a 1.2 server", tls12, withDefaults(spec.ServersTransport{RootCAs: roots, MinVersion: tls.VersionTLS13}), 502, "Bad Gateway"},
		{"maxVersion 1.2 against a 1.3 server", tls13, withDefaults(spec.ServersTransport{RootCAs: roots, MaxVersion: tls.VersionTLS12}), 502, "Bad Gateway"},
		{"minVersion 1.3 alone", tls13, withDefaults(spec.ServersTransport{RootCAs: roots, MinVersion: tls.VersionTLS13}), 200, "proto=HTTP/2.0 sni= version=TLS 1.3 "},
		// cipherSuites (TLS 1.2): a suite the server lacks fails.
		{"cipherSuites", tls12, withDefaults(spec.ServersTransport{RootCAs: roots, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}), 200, "proto=HTTP/2.0 sni= version=TLS 1.2 "},
		{"cipherSuites unmet", tls12, withDefaults(spec.ServersTransport{RootCAs: roots, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}}), 502, "Bad Gateway"},
		// peerCertSANs: a URI or a DNS name of the certificate; the chain
		// is verified against rootCAs even with insecureSkipVerify.
		{"peerCertSANs URI", plain, withDefaults(spec.ServersTransport{RootCAs: roots, PeerCertSANs: []spec.SAN{{Type: spec.SANURI, Value: "SPIFFE://test/backend"}}}), 200, "proto=HTTP/2.0 "},
		{"peerCertSANs DNSName", plain, withDefaults(spec.ServersTransport{RootCAs: roots, PeerCertSANs: []spec.SAN{{Type: spec.SANURI, Value: "spiffe://x"}, {Type: spec.SANDNSName, Value: "backend.test"}}}), 200, "proto=HTTP/2.0 "},
		{"peerCertSANs unmatched", plain, withDefaults(spec.ServersTransport{RootCAs: roots, PeerCertSANs: []spec.SAN{{Type: spec.SANURI, Value: "spiffe://test/other"}}}), 500, "Internal Server Error"},
		{"peerCertSANs with insecureSkipVerify", named, withDefaults(spec.ServersTransport{RootCAs: roots, InsecureSkipVerify: true, PeerCertSANs: []spec.SAN{{Type: spec.SANDNSName, Value: "named.test"}}}), 200, "proto=HTTP/2.0 "},
		{"peerCertSANs with insecureSkipVerify, foreign chain", named, withDefaults(spec.ServersTransport{RootCAs: [][]byte{other.pem}, InsecureSkipVerify: true, PeerCertSANs: []spec.SAN{{Type: spec.SANDNSName, Value: "named.test"}}}), 500, "Internal Server Error"},
		// disableHTTP2: HTTP/1.1 over TLS.
		{"disableHTTP2", plain, withDefaults(spec.ServersTransport{RootCAs: roots, DisableHTTP2: true}), 200, "proto=HTTP/1.1 sni= "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, base, probs := serve(t, stSnap(tc.server, tc.st))
			if len(probs) > 0 {
				t.Fatalf("Apply: %v", probs)
			}
			code, body := get(t, base+"/", "a.test")
			if tc.status > statusOr500 && code == 500 && body == "Internal Server Error" {
				return
			}
			if want := tc.status % statusOr500; code != want || !strings.HasPrefix(body, tc.body) {
				t.Errorf("got %d %q, want %d %q", code, body, want, tc.body)
			}
		})
	}
}

// A client certificate or CA bundle that does not parse is left out, as
// in Traefik, and reported.
func TestServersTransportBadPEM(t *testing.T) {
	ca := newTestCA(t)
	st := withDefaults(spec.ServersTransport{RootCAs: [][]byte{ca.pem, []byte("TESTROOTCAS0")},
		Certificates: []spec.Certificate{{Ref: spec.Ref{Kind: "Secret", Namespace: "foo", Name: "mtls1"}, CertPEM: []byte("TESTCERT1"), KeyPEM: []byte("TESTKEY1")}}})
	server := tlsBackend(t, &tls.Config{Certificates: []tls.Certificate{leaf(t, ca, false, "b", nil, []net.IP{net.ParseIP("127.0.0.1")}, nil)}}, nil)
	_, base, probs := serve(t, stSnap(server, st))
	var msgs []string
	for _, p := range probs {
		if !p.Warning {
			t.Errorf("not a warning: %v", p)
		}
		msgs = append(msgs, p.Error())
	}
	all := strings.Join(msgs, "\n")
	if len(probs) != 2 || !strings.Contains(all, "root CA 2 of 2 holds no PEM certificate") || !strings.Contains(all, "Secret foo/mtls1: serversTransport "+stName+": client certificate foo/mtls1:") {
		t.Errorf("problems:\n%s", all)
	}
	// The good CA still verifies.
	if code, body := get(t, base+"/", ""); code != 200 {
		t.Errorf("got %d %q", code, body)
	}
}

// A load balancer naming a transport the snapshot lacks is not built: its
// routers answer 404 (Traefik: "servers transport not found").
func TestServersTransportMissing(t *testing.T) {
	snap := stSnap(backend(t, "a"), nil)
	snap.Services["s"].LoadBalancer.ServersTransport = "default-nope@kubernetescrd"
	snap.Routers = append(snap.Routers, spec.Router{Name: "other", Rule: "Host(`other.test`)", Service: "o"})
	snap.Services["o"] = &spec.Service{Name: "o", LoadBalancer: &spec.LoadBalancer{EndpointsKey: "o", ServersTransport: spec.DefaultServersTransport}}
	snap.Endpoints["o"] = []spec.Server{{URL: backend(t, "o")}}
	_, base, probs := serve(t, snap)
	if len(probs) != 1 || !strings.Contains(probs[0].Error(), "router r: service s: servers transport not found default-nope@kubernetescrd") {
		t.Errorf("problems: %v", probs)
	}
	if code, _ := get(t, base+"/", "a.test"); code != 404 {
		t.Errorf("router with a missing transport: %d, want 404", code)
	}
	if code, body := get(t, base+"/", "other.test"); code != 200 || !strings.HasPrefix(body, "o ") {
		t.Errorf("router on default@internal: %d %q", code, body)
	}
}

// silentBackend accepts connections, reads each request and never answers;
// it counts the requests it received.
func silentBackend(t *testing.T, tlsCfg *tls.Config) (string, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	scheme := "http"
	if tlsCfg != nil {
		ln, scheme = tls.NewListener(ln, tlsCfg), "https"
	}
	var n atomic.Int32
	var conns sync.WaitGroup
	stop := make(chan struct{})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Go(func() {
				defer c.Close()
				go func() { <-stop; c.Close() }()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					n.Add(1)
				}
			})
		}
	}()
	t.Cleanup(func() { ln.Close(); close(stop); conns.Wait() })
	return scheme + "://" + ln.Addr().String(), &n
}

// scriptedBackend answers every request by running answer on the
// connection.
func scriptedBackend(t *testing.T, answer func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					answer(c)
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return "http://" + ln.Addr().String()
}

// responseHeaderTimeout bounds the wait for the response headers, on both
// clients, with Traefik's 504; a request that timed out is not sent again.
// It does not bound the body, nor end at an interim (1xx) answer.
func TestServersTransportResponseHeaderTimeout(t *testing.T) {
	ca := newTestCA(t)
	cert := leaf(t, ca, false, "b", nil, []net.IP{net.ParseIP("127.0.0.1")}, nil)
	st := func() *spec.ServersTransport {
		return withDefaults(spec.ServersTransport{RootCAs: [][]byte{ca.pem}, ResponseHeaderTimeout: 50 * time.Millisecond})
	}
	for _, tc := range []struct {
		name string
		tls  *tls.Config
	}{{"http (fasthttp)", nil}, {"https (net/http)", &tls.Config{Certificates: []tls.Certificate{cert}}}} {
		t.Run(tc.name, func(t *testing.T) {
			server, n := silentBackend(t, tc.tls)
			_, base, _ := serve(t, stSnap(server, st()))
			if code, body := get(t, base+"/", ""); code != 504 || body != "Gateway Timeout" {
				t.Errorf("silent server: %d %q, want 504", code, body)
			}
			if got := n.Load(); got != 1 {
				t.Errorf("the server got %d requests, want 1 (no retry after a timeout)", got)
			}
		})
	}
	t.Run("body slower than the timeout", func(t *testing.T) {
		server := scriptedBackend(t, func(c net.Conn) {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfirst")
			time.Sleep(200 * time.Millisecond) // four times the timeout
			io.WriteString(c, "-last")
		})
		_, base, _ := serve(t, stSnap(server, st()))
		for range 2 { // a fresh connection, then a reused one
			if code, body := get(t, base+"/", ""); code != 200 || body != "first-last" {
				t.Errorf("slow body: %d %q", code, body)
			}
		}
	})
	t.Run("interim answer", func(t *testing.T) {
		server := scriptedBackend(t, func(c net.Conn) {
			io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n")
			time.Sleep(200 * time.Millisecond)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		})
		_, base, _ := serve(t, stSnap(server, st()))
		if code, body := get(t, base+"/", ""); code != 504 {
			t.Errorf("final headers late after a 103: %d %q, want 504", code, body)
		}
	})
	t.Run("headers in time", func(t *testing.T) {
		server := scriptedBackend(t, func(c net.Conn) {
			io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		})
		_, base, _ := serve(t, stSnap(server, st()))
		for range 3 {
			if code, body := get(t, base+"/", ""); code != 200 || body != "ok" {
				t.Errorf("prompt answer: %d %q", code, body)
			}
		}
	})
}

// The header scanner of headerTimeoutConn: CRLF or bare LF line ends,
// interim blocks skipped (101 excepted), block ends split across reads.
func TestHeaderTimeoutScan(t *testing.T) {
	for _, tc := range []struct {
		reads []string
		end   int // index of the read in which the final headers end; -1 never
	}{
		{[]string{"HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody"}, 0},
		{[]string{"HTTP/1.1 200 OK\nA: b\n\nbody"}, 0},
		{[]string{"HTTP/1.1 200 OK\r\nA: b\r", "\n\r", "\nbody"}, 2},
		{[]string{"HTTP/1.1 200 OK\r\nA: b\r\n"}, -1},
		{[]string{"HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 204 No Content\r\n\r\n"}, 1},
		{[]string{"HTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"}, 0},
		{[]string{"HTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n"}, -1},
		{[]string{"HTTP/1.1 101 Switching Protocols\r\n\r\n"}, 0},
		{[]string{"HTTP/1.", "1 1", "02 Processing\n\nHTTP/1.1 500 Oops\n\n"}, 2},
	} {
		c := &headerTimeoutConn{}
		got := -1
		for i, r := range tc.reads {
			if c.scan([]byte(r)) {
				got = i
				break
			}
		}
		if got != tc.end {
			t.Errorf("%q: headers end in read %d, want %d", tc.reads, got, tc.end)
		}
	}
}

// connEvents serves HTTP(S) with h and reports each connection's close,
// by remote address, and the connections opened.
func connEvents(t *testing.T, tlsCfg *tls.Config, h http.HandlerFunc) (server string, opened *atomic.Int32, closed chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opened, closed = &atomic.Int32{}, make(chan string, 100)
	srv := &http.Server{Handler: h, TLSConfig: tlsCfg, ErrorLog: nopLog(), ConnState: func(c net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			opened.Add(1)
		case http.StateClosed, http.StateHijacked:
			closed <- c.RemoteAddr().String()
		}
	}}
	if tlsCfg != nil {
		go srv.ServeTLS(ln, "", "")
		server = "https://" + ln.Addr().String()
	} else {
		go srv.Serve(ln)
		server = "http://" + ln.Addr().String()
	}
	t.Cleanup(func() { srv.Close() })
	return server, opened, closed
}

func echoRemoteAddr(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.RemoteAddr) }

// waitClosed waits for the server to see the connection from addr close.
func waitClosed(t *testing.T, closed chan string, addr string) {
	t.Helper()
	deadline := time.After(20 * time.Second) // a hang guard, not a measure
	for {
		select {
		case a := <-closed:
			if a == addr {
				return
			}
		case <-deadline:
			t.Fatalf("connection %s never closed", addr)
		}
	}
}

// idleConnTimeout closes pooled connections once idle, on both clients;
// a negative maxIdleConnsPerHost disables reuse (net/http's meaning).
func TestServersTransportIdleConnections(t *testing.T) {
	ca := newTestCA(t)
	cert := leaf(t, ca, false, "b", nil, []net.IP{net.ParseIP("127.0.0.1")}, nil)
	for _, tc := range []struct {
		name string
		tls  *tls.Config
	}{{"http (fasthttp)", nil}, {"https (net/http)", &tls.Config{Certificates: []tls.Certificate{cert}}}} {
		t.Run(tc.name+" idleConnTimeout", func(t *testing.T) {
			server, _, closed := connEvents(t, tc.tls, echoRemoteAddr)
			_, base, _ := serve(t, stSnap(server, withDefaults(spec.ServersTransport{RootCAs: [][]byte{ca.pem}, IdleConnTimeout: 50 * time.Millisecond})))
			code, addr := get(t, base+"/", "")
			if code != 200 {
				t.Fatalf("%d %q", code, addr)
			}
			waitClosed(t, closed, addr)
		})
		t.Run(tc.name+" maxIdleConnsPerHost -1", func(t *testing.T) {
			cfg := tc.tls
			if cfg != nil {
				// Over HTTP/1.1: Go's limit on idle connections does not
				// apply to HTTP/2 ones (see the h2 case below).
				cfg = cfg.Clone()
				cfg.NextProtos = []string{"http/1.1"}
			}
			server, opened, closed := connEvents(t, cfg, echoRemoteAddr)
			_, base, _ := serve(t, stSnap(server, withDefaults(spec.ServersTransport{RootCAs: [][]byte{ca.pem}, MaxIdleConnsPerHost: -1})))
			var addrs []string
			for range 3 {
				code, addr := get(t, base+"/", "")
				if code != 200 {
					t.Fatalf("%d %q", code, addr)
				}
				waitClosed(t, closed, addr) // closed after its answer
				addrs = append(addrs, addr)
			}
			if n := opened.Load(); n != 3 || addrs[0] == addrs[1] {
				t.Errorf("%d connections for 3 requests (%v), want 3", n, addrs)
			}
		})
		t.Run(tc.name+" reuse", func(t *testing.T) {
			server, opened, _ := connEvents(t, tc.tls, echoRemoteAddr)
			// maxIdleConnsPerHost -1 leaves HTTP/2 connections pooled, in
			// Go's transport and so in Traefik.
			_, base, _ := serve(t, stSnap(server, withDefaults(spec.ServersTransport{RootCAs: [][]byte{ca.pem}, MaxIdleConnsPerHost: map[bool]int{true: -1}[tc.tls != nil]})))
			var addrs []string
			for range 3 {
				_, addr := get(t, base+"/", "")
				addrs = append(addrs, addr)
			}
			if n := opened.Load(); n != 1 || addrs[0] != addrs[2] {
				t.Errorf("%d connections for 3 sequential requests (%v), want 1", n, addrs)
			}
		})
	}
}

// h2Frames wraps an HTTP/2 server's connections: it reports the PING
// frames clients send, and with mute it stops answering once one came (so
// the client's ping times out), reporting the connection's end.
type h2Frames struct {
	net.Listener
	mute  bool
	pings chan struct{}
	ended chan struct{}
}

func (l *h2Frames) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &h2FrameConn{Conn: c, l: l}, nil
}

type h2FrameConn struct {
	net.Conn
	l      *h2Frames
	buf    []byte
	seen   int // preface bytes skipped
	pinged atomic.Bool
}

func (c *h2FrameConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.buf = append(c.buf, p[:n]...)
	if c.seen < 24 { // the client preface
		k := min(24-c.seen, len(c.buf))
		c.seen += k
		c.buf = c.buf[k:]
	}
	for c.seen == 24 && len(c.buf) >= 9 {
		length := int(c.buf[0])<<16 | int(c.buf[1])<<8 | int(c.buf[2])
		if len(c.buf) < 9+length {
			break
		}
		if typ, flags := c.buf[3], c.buf[4]; typ == 0x6 && flags&0x1 == 0 && binary.BigEndian.Uint32(c.buf[5:9])&0x7fffffff == 0 {
			c.pinged.Store(true)
			select {
			case c.l.pings <- struct{}{}:
			default:
			}
		}
		c.buf = c.buf[9+length:]
	}
	if err != nil && c.l.mute {
		select {
		case c.l.ended <- struct{}{}:
		default:
		}
	}
	return n, err
}

func (c *h2FrameConn) Write(p []byte) (int, error) {
	if c.l.mute && c.pinged.Load() {
		return len(p), nil // swallowed: the PING is never acknowledged
	}
	return c.Conn.Write(p)
}

// readIdleTimeout makes the HTTP/2 client ping an idle connection;
// pingTimeout closes it when the ping goes unanswered.
func TestServersTransportHTTP2Ping(t *testing.T) {
	for _, mute := range []bool{false, true} {
		t.Run(fmt.Sprintf("mute=%v", mute), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			fl := &h2Frames{Listener: ln, mute: mute, pings: make(chan struct{}, 1), ended: make(chan struct{}, 1)}
			var protos http.Protocols
			protos.SetUnencryptedHTTP2(true)
			srv := &http.Server{Protocols: &protos, ErrorLog: nopLog(), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, r.Proto)
			})}
			go srv.Serve(fl)
			t.Cleanup(func() { srv.Close() })
			_, base, _ := serve(t, stSnap("h2c://"+ln.Addr().String(), withDefaults(spec.ServersTransport{
				ReadIdleTimeout: 20 * time.Millisecond, PingTimeout: 50 * time.Millisecond})))
			if code, body := get(t, base+"/", ""); code != 200 || body != "HTTP/2.0" {
				t.Fatalf("h2c: %d %q", code, body)
			}
			guard := time.After(20 * time.Second) // a hang guard, not a measure
			select {
			case <-fl.pings:
			case <-guard:
				t.Fatal("no PING on the idle connection")
			}
			if !mute {
				return
			}
			select {
			case <-fl.ended:
			case <-guard:
				t.Fatal("the connection whose PING went unanswered was kept")
			}
		})
	}
}

// A server that speaks h2c behind a transport that disables HTTP/2:
// Traefik's HTTP/1-only transport does not know the scheme (500).
func TestServersTransportH2CDisableHTTP2(t *testing.T) {
	_, base, probs := serve(t, stSnap("h2c://127.0.0.1:1", withDefaults(spec.ServersTransport{DisableHTTP2: true})))
	if len(probs) != 1 || !probs[0].Warning || !strings.Contains(probs[0].Error(), `their requests fail with 500 (unsupported protocol scheme "h2c")`) {
		t.Errorf("problems: %v", probs)
	}
	if code, body := get(t, base+"/", ""); code != 500 || body != "Internal Server Error" {
		t.Errorf("got %d %q", code, body)
	}
}

// Two services sending to one server URL through different transports
// use different pools: each connection carries its own transport's SNI.
func TestServersTransportSeparatePools(t *testing.T) {
	ca := newTestCA(t)
	cert := leaf(t, ca, false, "b", []string{"one.test", "two.test"}, nil, nil)
	server := tlsBackend(t, &tls.Config{Certificates: []tls.Certificate{cert}}, nil)
	snap := lbSnap([]spec.Router{{Name: "one", Rule: "Host(`one.test`)", Service: "s1"}, {Name: "two", Rule: "Host(`two.test`)", Service: "s2"}},
		map[string]string{"s1": server, "s2": server})
	snap.ServersTransports = map[string]*spec.ServersTransport{}
	for _, n := range []string{"one", "two"} {
		snap.ServersTransports[n] = withDefaults(spec.ServersTransport{RootCAs: [][]byte{ca.pem}, ServerName: n + ".test"})
	}
	snap.Services["s1"].LoadBalancer.ServersTransport = "one"
	snap.Services["s2"].LoadBalancer.ServersTransport = "two"
	s, base, probs := serve(t, snap)
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	for range 2 {
		for _, n := range []string{"one", "two"} {
			if code, body := get(t, base+"/", n+".test"); code != 200 || !strings.Contains(body, "sni="+n+".test ") {
				t.Errorf("%s: %d %q", n, code, body)
			}
		}
	}
	s.ups.mu.Lock()
	pools := len(s.ups.m)
	s.ups.mu.Unlock()
	if pools != 2 {
		t.Errorf("%d upstream pools, want 2", pools)
	}
}

// A transport whose definition changes gets new pools; a request in
// flight on the old one completes, and the old connection is closed once
// it is idle. An unchanged transport keeps its pool across reloads.
func TestServersTransportChange(t *testing.T) {
	ca := newTestCA(t)
	cert := leaf(t, ca, false, "b", []string{"one.test", "two.test"}, []net.IP{net.ParseIP("127.0.0.1")}, nil)
	for _, tc := range []struct {
		name       string
		tls        *tls.Config
		scheme     string
		before, at *spec.ServersTransport
	}{
		{"https", &tls.Config{Certificates: []tls.Certificate{cert}}, "https",
			withDefaults(spec.ServersTransport{RootCAs: [][]byte{ca.pem}, ServerName: "one.test"}),
			withDefaults(spec.ServersTransport{RootCAs: [][]byte{ca.pem}, ServerName: "two.test"})},
		{"http", nil, "http",
			withDefaults(spec.ServersTransport{}),
			withDefaults(spec.ServersTransport{ResponseHeaderTimeout: time.Minute})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			arrived, release := make(chan struct{}), make(chan struct{})
			server, _, closed := connEvents(t, tc.tls, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/slow" {
					w.Write([]byte("slow-start "))
					w.(http.Flusher).Flush()
					close(arrived)
					<-release
				}
				sni := ""
				if r.TLS != nil {
					sni = r.TLS.ServerName
				}
				fmt.Fprintf(w, "%s %s", r.RemoteAddr, sni)
			})
			s, base, _ := serve(t, stSnap(server, tc.before))
			_, first := get(t, base+"/", "")
			oldAddr, _, _ := strings.Cut(first, " ")
			// The same definition again (a fresh copy): the pool stays.
			s.Apply(stSnap(server, withDefaults(*tc.before)))
			if _, again := get(t, base+"/", ""); again != first {
				t.Fatalf("unchanged transport, new connection: %q then %q", first, again)
			}

			slow := make(chan string, 1)
			go func() {
				resp, err := http.Get(base + "/slow")
				if err != nil {
					slow <- err.Error()
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				slow <- fmt.Sprintf("%d %s", resp.StatusCode, b)
			}()
			<-arrived
			if probs := s.Apply(stSnap(server, tc.at)); len(probs) > 0 {
				t.Fatal(probs)
			}
			_, now := get(t, base+"/", "")
			newAddr, sni, _ := strings.Cut(now, " ")
			if newAddr == oldAddr || tc.scheme == "https" && sni != "two.test" {
				t.Errorf("after the change: %q (before %q)", now, first)
			}
			close(release)
			if got := <-slow; got != "200 slow-start "+first {
				t.Errorf("request in flight across the change: %q", got)
			}
			waitClosed(t, closed, oldAddr)
			if !s.ups.has(server) {
				t.Error("no pool left for the server")
			}
		})
	}
}

// WebSocket upgrades dial through the transport: its serverName and roots.
func TestServersTransportWebSocket(t *testing.T) {
	ca := newTestCA(t)
	cert := leaf(t, ca, false, "b", []string{"ws.test"}, nil, nil)
	up := websocket.Upgrader{}
	server := tlsBackend(t, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}, func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		mt, msg, err := c.ReadMessage()
		if err == nil {
			c.WriteMessage(mt, append([]byte(r.TLS.ServerName+":"), msg...))
		}
	})
	_, base, _ := serve(t, stSnap(server, withDefaults(spec.ServersTransport{RootCAs: [][]byte{ca.pem}, ServerName: "ws.test"})))
	c, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/ws", nil)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	defer c.Close()
	if err := c.WriteMessage(websocket.TextMessage, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, got, err := c.ReadMessage(); err != nil || string(got) != "ws.test:hi" {
		t.Fatalf("echo = %q, %v", got, err)
	}
}

// Active health checks go through the service's transport: an https
// server signed by the transport's CA stays up.
func TestServersTransportHealthCheck(t *testing.T) {
	ca := newTestCA(t)
	cert := leaf(t, ca, false, "b", []string{"hc.test"}, nil, nil)
	var probes atomic.Int32
	checked := make(chan struct{}, 10)
	server := tlsBackend(t, &tls.Config{Certificates: []tls.Certificate{cert}}, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			probes.Add(1)
			select {
			case checked <- struct{}{}:
			default:
			}
		}
		io.WriteString(w, "ok")
	})
	snap := stSnap(server, withDefaults(spec.ServersTransport{RootCAs: [][]byte{ca.pem}, ServerName: "hc.test"}))
	snap.Services["s"].LoadBalancer.HealthCheck = &spec.HealthCheck{Path: "/health", Method: "GET", Interval: 10 * time.Millisecond,
		UnhealthyInterval: 10 * time.Millisecond, Timeout: 5 * time.Second, FollowRedirects: true}
	_, base, _ := serve(t, snap)
	for range 3 { // the third probe's arrival means the second's answer was recorded
		<-checked
	}
	if code, body := get(t, base+"/", ""); code != 200 || body != "ok" {
		t.Errorf("after health checks through the transport: %d %q", code, body)
	}
}

func nopLog() *log.Logger { return log.New(io.Discard, "", 0) }
