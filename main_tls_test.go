package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned returns a PEM certificate for host and its key.
func selfSigned(t *testing.T, host string) (crt, key []byte, serial *big.Int) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ = rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), serial
}

func tlsSecret(crt, key []byte) string {
	b := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: cert, namespace: default}\ntype: kubernetes.io/tls\ndata:\n  tls.crt: %s\n  tls.key: %s\n", b(crt), b(key))
}

// handshakeSerial dials with SNI and returns the served certificate's serial.
func handshakeSerial(addr, sni string) (*big.Int, error) {
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber, nil
}

// A certificate Secret changed in the manifests folder is served at the
// next handshake, with no restart; the route answers over TLS only.
func TestServeTLSCertificateReload(t *testing.T) {
	_, pa := whoami(t, "whoami-a")
	dir := t.TempDir()
	manifests(t, dir, map[string]int{"whoami-a": pa}, secureRoute("Host(`secure.test`)", "{secretName: cert}"))
	crt, key, first := selfSigned(t, "secure.test")
	write(t, filepath.Join(dir, "secret.yaml"), tlsSecret(crt, key))
	p := start(t, "--entryPoints.web.address=127.0.0.1:0", "--providers.manifests.directory="+dir)
	addr := p.address(t)
	if got, err := handshakeSerial(addr, "secure.test"); err != nil || got.Cmp(first) != 0 {
		t.Fatalf("first certificate: %v %v", got, err)
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{ServerName: "secure.test", InsecureSkipVerify: true}}}
	if code, body := fetch2(t, hc, "https://"+addr+"/", "secure.test"); code != 200 || !strings.Contains(body, "whoami-a") {
		t.Fatalf("over TLS: %d %q", code, body)
	}
	if code, _ := fetch(t, "http://"+addr+"/", "secure.test"); code != 404 {
		t.Fatalf("over plain HTTP: %d, want 404", code)
	}
	crt2, key2, second := selfSigned(t, "secure.test")
	write(t, filepath.Join(dir, "secret.yaml"), tlsSecret(crt2, key2))
	waitFor(t, "the new certificate", func() bool {
		got, err := handshakeSerial(addr, "secure.test")
		return err == nil && got.Cmp(second) == 0
	})
}

func fetch2(t *testing.T, c *http.Client, url, host string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Host = host
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// curl --http2 and h2load through the binary's TLS entry point.
func TestServeHTTP2Clients(t *testing.T) {
	for _, tool := range []string{"curl", "h2load"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (apt-get install curl nghttp2-client; .ci/run installs them)", tool)
		}
	}
	_, pa := whoami(t, "whoami-a")
	dir := t.TempDir()
	manifests(t, dir, map[string]int{"whoami-a": pa}, secureRoute("PathPrefix(`/`)", "{}"))
	p := start(t, "--entryPoints.web.address=127.0.0.1:0", "--providers.manifests.directory="+dir)
	addr := p.address(t)
	out, err := exec.Command("curl", "--http2", "-sk", "-w", "\n%{http_version} %{http_code}", "https://"+addr+"/curl").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "whoami-a") || !strings.HasSuffix(string(out), "\n2 200") {
		t.Fatalf("curl --http2: %v\n%s", err, out)
	}
	out, err = exec.Command("h2load", "-n", "2000", "-c", "4", "-m", "10", "https://"+addr+"/h2load").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "2000 succeeded, 0 failed, 0 errored") || !strings.Contains(string(out), "2000 2xx") {
		t.Fatalf("h2load: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "Application protocol: h2") {
		t.Fatalf("h2load did not negotiate h2:\n%s", out)
	}
}

// explain takes an https:// URL as a request on a TLS connection, and
// points a plain request that only a TLS router matches at it.
func TestExplainTLS(t *testing.T) {
	dir := t.TempDir()
	manifests(t, dir, map[string]int{"whoami-a": 9001}, secureRoute("Host(`a.test`)", "{}"))
	for url, want := range map[string]string{
		"https://a.test/": "result:      router default-secure-",
		"http://a.test/":  "(with tls) would take it on a TLS connection",
	} {
		out, err := exec.Command(binary, "explain", "--providers.manifests.directory="+dir, "GET", url).CombinedOutput()
		if err != nil || !strings.Contains(string(out), want) {
			t.Errorf("explain %s: %v, want %q in:\n%s", url, err, want, out)
		}
	}
}

// secureRoute is an IngressRoute "secure" to whoami-a with the given rule
// and tls block.
func secureRoute(match, tls string) string {
	return "apiVersion: traefik.io/v1alpha1\nkind: IngressRoute\nmetadata: {name: secure, namespace: default}\nspec:\n" +
		"  routes:\n    - match: " + match + "\n      services: [{name: whoami-a, port: 80}]\n  tls: " + tls + "\n"
}
