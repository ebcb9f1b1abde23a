package middleware

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func loadPEM(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const allInfo = `{"notAfter":true,"notBefore":true,"sans":true,"serialNumber":true,
 "subject":{"commonName":true,"country":true,"domainComponent":true,"locality":true,"organization":true,"organizationalUnit":true,"province":true,"serialNumber":true},
 "issuer":{"commonName":true,"country":true,"domainComponent":true,"locality":true,"organization":true,"province":true,"serialNumber":true}}`

// The info header's text, on Traefik's own test certificates (testdata,
// from pass_tls_client_cert_test.go) and its expected values.
func TestClientCertInfoFormat(t *testing.T) {
	minimal, complete := loadPEM(t, "cheese-minimal.pem"), loadPEM(t, "cheese-complete.pem")
	minimalAll := strings.Join([]string{
		`Subject="C=FR,ST=Some-State,O=Cheese"`,
		`Issuer="DC=org,DC=cheese,C=FR,C=US,ST=Signing State,ST=Signing State 2,L=TOULOUSE,L=LYON,O=Cheese,O=Cheese 2,CN=Simple Signing CA 2"`,
		`SerialNumber="481535886039632329873080491016862977516759989652"`,
		`NB="1544094636"`, `NA="1632568236"`}, ";")
	completeAll := strings.Join([]string{
		`Subject="DC=org,DC=cheese,C=FR,C=US,ST=Cheese org state,ST=Cheese com state,L=TOULOUSE,L=LYON,O=Cheese,O=Cheese 2,OU=Simple Signing Section,OU=Simple Signing Section 2,CN=*.cheese.com"`,
		`Issuer="DC=org,DC=cheese,C=FR,C=US,ST=Signing State,ST=Signing State 2,L=TOULOUSE,L=LYON,O=Cheese,O=Cheese 2,CN=Simple Signing CA 2"`,
		`SerialNumber="1"`, `NB="1544094616"`, `NA="1607166616"`,
		`SAN="*.cheese.org,*.cheese.net,*.cheese.com,test@cheese.org,test@cheese.net,10.0.1.0,10.0.1.2"`}, ";")
	some := `{"notAfter":true,"sans":true,"subject":{"organization":true},"issuer":{"country":true}}`
	someOU := `{"notAfter":true,"sans":true,"subject":{"organization":true,"organizationalUnit":true},"issuer":{"country":true}}`
	tests := []struct {
		config string
		certs  []*x509.Certificate
		want   string
	}{
		{allInfo, []*x509.Certificate{minimal}, minimalAll},
		{some, []*x509.Certificate{minimal}, `Subject="O=Cheese";Issuer="C=FR,C=US";NA="1632568236"`},
		{someOU, []*x509.Certificate{minimal}, `Subject="O=Cheese";Issuer="C=FR,C=US";NA="1632568236"`},
		{allInfo, []*x509.Certificate{complete}, completeAll},
		{allInfo, []*x509.Certificate{minimal, complete}, minimalAll + "," + completeAll},
		{`{}`, []*x509.Certificate{minimal}, ``},
	}
	for _, tc := range tests {
		var info clientCertInfo
		if err := json.Unmarshal([]byte(tc.config), &info); err != nil {
			t.Fatal(err)
		}
		if got := info.format(tc.certs); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.config, got, tc.want)
		}
	}
}

// Over a real mutual-TLS handshake, the headers reach the backend; without
// a client certificate, none is set.
func TestPassTLSClientCert(t *testing.T) {
	ca, caKey := testCert(t, nil, nil, "client CA", true)
	client, clientKey := testCert(t, ca, caKey, "client one", false)
	server, serverKey := testCert(t, nil, nil, "127.0.0.1", false)
	pool := x509.NewCertPool()
	pool.AddCert(ca)

	var got http.Header
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Clone() })
	m := buildOne(t, "passTLSClientCert", `{"pem":true,"info":{"serialNumber":true,"subject":{"commonName":true},"issuer":{"commonName":true}}}`)
	url0 := tlsFront(t, backend, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{server.Raw}, PrivateKey: serverKey}},
		ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pool}, m)

	for _, withCert := range []bool{true, false} {
		got = nil
		cfg := &tls.Config{InsecureSkipVerify: true}
		if withCert {
			cfg.Certificates = []tls.Certificate{{Certificate: [][]byte{client.Raw}, PrivateKey: clientKey}}
		}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
		resp, err := c.Get(url0 + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		pemHdr, info := got.Get(ForwardedTLSClientCert), got.Get(ForwardedTLSClientCertInfo)
		if !withCert {
			if pemHdr != "" || info != "" {
				t.Errorf("without a client certificate: %q %q", pemHdr, info)
			}
			continue
		}
		if want := certsPEM([]*x509.Certificate{client}); pemHdr != want || strings.ContainsAny(pemHdr, "\n-") {
			t.Errorf("PEM header %q, want %q", pemHdr, want)
		}
		unescaped, _ := url.QueryUnescape(info)
		if want := `Subject="CN=client one";Issuer="CN=client CA";SerialNumber="` + client.SerialNumber.String() + `"`; unescaped != want || info != url.QueryEscape(want) {
			t.Errorf("info header %q (%q), want %q", info, unescaped, want)
		}
	}
}

var serial int64 = 100

// testCert makes a certificate signed by parent (self-signed when nil).
func testCert(t *testing.T, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, cn string, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: isCA, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}}
	if ip := net.ParseIP(cn); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent, parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, key
}

// tlsFront is front over TLS: the middlewares run on a fasthttp server
// whose connections are TLS with cfg.
func tlsFront(t *testing.T, backend http.Handler, cfg *tls.Config, ms ...Middleware) string {
	t.Helper()
	hc := &fasthttp.HostClient{Addr: serveLoopback(t, backend), DisablePathNormalizing: true}
	h := Wrap(func(ctx *fasthttp.RequestCtx, r *Request) {
		ctx.Request.SetRequestURIBytes(r.EscapedPath())
		ctx.Request.URI().SetScheme("http") // the backend is plain HTTP
		if err := hc.Do(&ctx.Request, &ctx.Response); err != nil {
			ctx.SetStatusCode(fasthttp.StatusBadGateway)
		}
	}, ms...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		var r Request
		if !prepare(ctx, &r) {
			ctx.SetStatusCode(fasthttp.StatusBadRequest)
			return
		}
		h(ctx, &r)
	}}
	go srv.Serve(tls.NewListener(ln, cfg))
	t.Cleanup(func() { srv.Shutdown() })
	return "https://" + ln.Addr().String()
}
