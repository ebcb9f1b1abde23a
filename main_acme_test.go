package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgeroute/edgeroute/acme/pebbletest"
)

// acmeEnv is a Pebble whose validations reach the proxy's entry point web
// (plain HTTP and TLS on one port), and the flags of a resolver "le".
type acmeEnv struct {
	pebble *pebbletest.Server
	port   int
	addr   string
	roots  *x509.CertPool
}

func newACMEEnv(t *testing.T, validity time.Duration) *acmeEnv {
	t.Helper()
	port, err := pebbletest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return newACMEEnvAt(t, validity, port)
}

// newACMEEnvAt is newACMEEnv with Pebble validating on port.
func newACMEEnvAt(t *testing.T, validity time.Duration, port int) *acmeEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p, err := pebbletest.Start(ctx, pebbletest.Options{HTTPPort: port, TLSPort: port, Validity: validity, Blocked: []string{"blocked.test"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pebble log:\n%s", p.Log())
		}
		p.Stop()
	})
	root, err := p.Root()
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(root)
	return &acmeEnv{pebble: p, port: port, addr: "127.0.0.1:" + strconv.Itoa(port), roots: roots}
}

// flags are the proxy's: entry point web on the validated port and the
// resolver le with the given challenge keys.
func (e *acmeEnv) flags(storage string, challenge ...string) []string {
	out := []string{"--entryPoints.web.address=" + e.addr,
		"--certificatesResolvers.le.acme.caServer=" + e.pebble.Directory,
		"--certificatesResolvers.le.acme.caCertificates=" + e.pebble.CAFile,
		"--certificatesResolvers.le.acme.email=ops@example.test",
		"--certificatesResolvers.le.acme.keyType=EC256",
		"--certificatesResolvers.le.acme.storage=" + storage}
	for _, c := range challenge {
		out = append(out, "--certificatesResolvers.le.acme."+c)
	}
	return out
}

// issued does a real handshake with SNI name and returns the leaf when it
// verifies against Pebble's root for that name, else nil.
func (e *acmeEnv) issued(name string) *x509.Certificate { return e.issuedAt(e.addr, name) }

// issuedAt is issued for the proxy at addr.
func (e *acmeEnv) issuedAt(addr, name string) *x509.Certificate {
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: name, RootCAs: e.roots})
	if err != nil {
		return nil
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0]
}

// waitIssued waits (bounded) for the proxy to serve a certificate for name
// that Pebble issued.
func (e *acmeEnv) waitIssued(t *testing.T, p *proc, name string) *x509.Certificate {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if leaf := e.issued(name); leaf != nil {
			return leaf
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no certificate issued for %s; proxy log:\n%s", name, p.log())
	return nil
}

// httpsGet sends a request over TLS to the proxy, verifying its
// certificate against Pebble's root.
func (e *acmeEnv) httpsGet(t *testing.T, host string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{ServerName: host, RootCAs: e.roots}}}
	req, _ := http.NewRequest("GET", "https://"+e.addr+"/", nil)
	req.Host = host
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET https://%s/: %v", host, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func acmeRoute(name, host, tls string) string {
	return fmt.Sprintf(`---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: %s, namespace: default}
spec:
  routes:
    - match: Host(`+"`%s`"+`)
      services: [{name: whoami-a, port: 80}]
  tls: %s
`, name, host, tls)
}

// HTTP-01 against a real ACME server: the proxy orders a certificate for
// the rule's Host, answers the validation on its entry point, serves the
// certificate in a real handshake, keeps it in Traefik's acme.json layout,
// and a restart serves it from the file without a new order. A route whose
// order fails, and one naming no such resolver, are reported on their
// IngressRoute while the others keep their certificates.
func TestACMEHTTP01(t *testing.T) {
	e := newACMEEnv(t, 0)
	_, pa := whoami(t, "whoami-a")
	dir := t.TempDir()
	storage := filepath.Join(t.TempDir(), "acme.json")
	manifests(t, dir, map[string]int{"whoami-a": pa},
		acmeRoute("shop", "shop.test", "{certResolver: le}")+
			acmeRoute("multi", "api.test", "{certResolver: le, domains: [{main: api.test, sans: [www.api.test]}]}")+
			acmeRoute("refused", "blocked.test", "{certResolver: le}")+
			acmeRoute("typo", "typo.test", "{certResolver: nope}"))
	p := start(t, append(e.flags(storage, "httpChallenge.entryPoint=web"), "--providers.manifests.directory="+dir)...)

	leaf := e.waitIssued(t, p, "shop.test")
	if leaf.VerifyHostname("shop.test") != nil {
		t.Errorf("certificate names %v", leaf.DNSNames)
	}
	multi := e.waitIssued(t, p, "www.api.test")
	if !strings.Contains(strings.Join(multi.DNSNames, ","), "api.test") {
		t.Errorf("tls.domains certificate names %v", multi.DNSNames)
	}
	if code, body := e.httpsGet(t, "shop.test"); code != 200 || backendName(body) != "whoami-a" {
		t.Errorf("HTTPS request: %d %q", code, body)
	}
	// The challenge router answers only tokens in progress.
	if code, _ := fetch(t, "http://"+e.addr+"/.well-known/acme-challenge/unknown", "shop.test"); code != 404 {
		t.Errorf("unknown token: %d, want 404", code)
	}
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(p.log(), "IngressRoute default/refused") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	log := p.log()
	for _, want := range []string{`IngressRoute default/refused`, `tls.certResolver \"nope\": no such certificate resolver`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if e.issued("blocked.test") != nil {
		t.Error("a certificate for the blocked name")
	}
	// The route naming no resolver serves, with the default certificate.
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{ServerName: "typo.test", InsecureSkipVerify: true}}}
	req, _ := http.NewRequest("GET", "https://"+e.addr+"/", nil)
	req.Host = "typo.test"
	if resp, err := c.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("route with an unknown resolver: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// acme.json: Traefik's layout, mode 0600.
	fi, err := os.Stat(storage)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("acme.json: %v %v", fi, err)
	}
	data, _ := os.ReadFile(storage)
	var stored map[string]struct {
		Account struct {
			Email        string
			Registration struct {
				URI  string `json:"uri"`
				Body struct {
					Status string `json:"status"`
				} `json:"body"`
			}
			PrivateKey []byte
		}
		Certificates []struct {
			Domain struct {
				Main string   `json:"main"`
				SANs []string `json:"sans"`
			} `json:"domain"`
			Certificate, Key []byte
			Store            string
		}
	}
	if err := json.Unmarshal(data, &stored); err != nil {
		t.Fatal(err)
	}
	le := stored["le"]
	if le.Account.Email != "ops@example.test" || le.Account.Registration.URI == "" || le.Account.Registration.Body.Status != "valid" || len(le.Account.PrivateKey) == 0 {
		t.Errorf("account: %+v", le.Account)
	}
	domains := map[string]bool{}
	for _, c := range le.Certificates {
		domains[c.Domain.Main+" "+strings.Join(c.Domain.SANs, ",")] = true
		if b, _ := pem.Decode(c.Certificate); b == nil || b.Type != "CERTIFICATE" || c.Store != "default" || len(c.Key) == 0 {
			t.Errorf("stored certificate %s: store %q", c.Domain.Main, c.Store)
		}
	}
	if len(domains) != 2 || !domains["shop.test "] || !domains["api.test www.api.test"] {
		t.Errorf("stored domains %v", domains)
	}
	orders := e.pebble.Orders()
	if orders != 3 { // shop, api and the refused one
		t.Errorf("%d orders, want 3", orders)
	}

	// A restart serves the stored certificates at once and orders
	// nothing for them.
	p.cmd.Process.Kill()
	p.cmd.Wait()
	p2 := start(t, append(e.flags(storage, "httpChallenge.entryPoint=web"), "--providers.manifests.directory="+dir)...)
	p2.address(t)
	again := e.issued("shop.test")
	if again == nil || again.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Fatalf("after restart: %v, want serial %v", again, leaf.SerialNumber)
	}
	time.Sleep(2 * time.Second) // time for any order the restart would place
	if n := e.pebble.Orders(); n > orders+1 {
		t.Errorf("%d orders after the restart, want at most one more (the refused name's retry)", n)
	}
}

// TLS-ALPN-01: Pebble validates with a handshake offering acme-tls/1 on
// the TLS port, which the proxy answers with the challenge certificate
// and closes; the issued certificate is then served. A client offering
// acme-tls/1 when no challenge is in progress is refused, as in Traefik.
func TestACMETLSALPN01(t *testing.T) {
	e := newACMEEnv(t, 0)
	_, pa := whoami(t, "whoami-a")
	dir := t.TempDir()
	manifests(t, dir, map[string]int{"whoami-a": pa}, acmeRoute("alpn", "alpn.test", "{certResolver: le}"))
	p := start(t, append(e.flags(filepath.Join(t.TempDir(), "acme.json"), "tlsChallenge=true"), "--providers.manifests.directory="+dir)...)
	leaf := e.waitIssued(t, p, "alpn.test")
	if leaf.VerifyHostname("alpn.test") != nil {
		t.Errorf("certificate names %v", leaf.DNSNames)
	}
	if code, body := e.httpsGet(t, "alpn.test"); code != 200 || backendName(body) != "whoami-a" {
		t.Errorf("HTTPS request: %d %q", code, body)
	}
	if !strings.Contains(p.log(), `type=tls-alpn-01`) {
		t.Errorf("no TLS-ALPN-01 solver in the log:\n%s", p.log())
	}
	c, err := tls.Dial("tcp", e.addr, &tls.Config{ServerName: "alpn.test", InsecureSkipVerify: true, NextProtos: []string{"acme-tls/1"}})
	if err == nil {
		c.Close()
		t.Error("an acme-tls/1 handshake without a challenge in progress succeeded")
	}
	if n := e.pebble.Orders(); n != 1 {
		t.Errorf("%d orders, want 1", n)
	}
}

// Renewal ahead of expiry: with certificatesDuration=1 (hours) Traefik
// renews certificates that expire within 20 minutes; Pebble issues them
// for 10, so the next pass of the resolver (here the one a configuration
// change starts; otherwise every minute) renews it: a new certificate,
// served and stored, from a second order.
func TestACMERenewal(t *testing.T) {
	e := newACMEEnv(t, 10*time.Minute)
	_, pa := whoami(t, "whoami-a")
	dir := t.TempDir()
	storage := filepath.Join(t.TempDir(), "acme.json")
	route := acmeRoute("shop", "shop.test", "{certResolver: le}")
	manifests(t, dir, map[string]int{"whoami-a": pa}, route)
	p := start(t, append(e.flags(storage, "httpChallenge.entryPoint=web", "certificatesDuration=1"), "--providers.manifests.directory="+dir)...)
	first := e.waitIssued(t, p, "shop.test")
	if d := first.NotAfter.Sub(first.NotBefore); d > 11*time.Minute {
		t.Fatalf("Pebble issued for %v", d)
	}
	// A configuration change wakes the resolver.
	manifests(t, dir, map[string]int{"whoami-a": pa}, route+acmeRoute("plain", "plain.test", "{}"))
	deadline := time.Now().Add(90 * time.Second)
	var renewed *x509.Certificate
	for time.Now().Before(deadline) {
		if leaf := e.issued("shop.test"); leaf != nil && leaf.SerialNumber.Cmp(first.SerialNumber) != 0 {
			renewed = leaf
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if renewed == nil {
		t.Fatalf("not renewed; log:\n%s", p.log())
	}
	if !strings.Contains(p.log(), `msg="certificate obtained" component=acme resolver=le domains=shop.test renewal=true`) {
		t.Errorf("no renewal in the log:\n%s", p.log())
	}
	if e.pebble.Orders() < 2 {
		t.Errorf("%d orders", e.pebble.Orders())
	}
	data, _ := os.ReadFile(storage)
	var stored map[string]struct {
		Certificates []struct{ Certificate []byte }
	}
	json.Unmarshal(data, &stored)
	if cs := stored["le"].Certificates; len(cs) != 1 {
		t.Fatalf("stored: %d certificates", len(cs))
	} else if b, _ := pem.Decode(cs[0].Certificate); b == nil {
		t.Fatal("stored certificate is not PEM")
	} else if c, err := x509.ParseCertificate(b.Bytes); err != nil || c.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Errorf("stored certificate was not replaced by the renewal: %v", err)
	}
}

// The TLSStore's defaultGeneratedCert: the resolver orders a certificate
// for its domain, which then answers handshakes whose server name no
// certificate matches (instead of the self-signed TRAEFIK DEFAULT CERT).
func TestACMEDefaultGeneratedCert(t *testing.T) {
	e := newACMEEnv(t, 0)
	_, pa := whoami(t, "whoami-a")
	dir := t.TempDir()
	manifests(t, dir, map[string]int{"whoami-a": pa}, acmeRoute("plain", "plain.test", "{}")+`---
apiVersion: traefik.io/v1alpha1
kind: TLSStore
metadata: {name: default, namespace: default}
spec:
  defaultGeneratedCert:
    resolver: le
    domain: {main: fallback.test, sans: [www.fallback.test]}
`)
	p := start(t, append(e.flags(filepath.Join(t.TempDir(), "acme.json"), "httpChallenge.entryPoint=web"), "--providers.manifests.directory="+dir)...)
	p.address(t)
	deadline := time.Now().Add(90 * time.Second)
	for {
		c, err := tls.Dial("tcp", e.addr, &tls.Config{ServerName: "unknown.test", InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		leaf := c.ConnectionState().PeerCertificates[0]
		c.Close()
		_, verr := leaf.Verify(x509.VerifyOptions{Roots: e.roots, DNSName: "www.fallback.test",
			Intermediates: pool(c.ConnectionState().PeerCertificates[1:])})
		if verr == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("default certificate %q %v: %v; log:\n%s", leaf.Subject.CommonName, leaf.DNSNames, verr, p.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := e.pebble.Orders(); n != 1 {
		t.Errorf("%d orders, want 1", n)
	}
}

func pool(certs []*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}
