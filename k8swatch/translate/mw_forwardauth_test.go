package translate

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/engine/middleware"
	"github.com/edgeroute/edgeroute/k8swatch/crd"
)

// Traefik's fixture with_auth.yml and what its provider test expects for
// it: the CA read from the Secret's only entry ("ca"), the key pair from
// tls.crt and tls.key, maxBodySize defaulted to -1.
func TestForwardAuthFixture(t *testing.T) {
	snap := Snapshot(load(t, "with_auth.yml"), Options{})
	m := snap.Middlewares["default-forwardauth@kubernetescrd"]
	if m == nil {
		t.Fatalf("no forwardauth middleware: %v", snap.Problems)
	}
	want := `{"address":"test.com","tls":{"ca":"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----",` +
		`"cert":"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----","key":"-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----"},` +
		`"headerField":"X-Header-Field","maxBodySize":-1}`
	if string(m.Config) != want {
		t.Errorf("config\n got %s\nwant %s", m.Config, want)
	}
	// Those PEM blocks are empty: Traefik fails to build the middleware,
	// and so does edgeroute.
	b := middleware.Build(map[string]*spec.Middleware{m.Name: m}, middleware.BuildContext{})[m.Name]
	if b.Err == nil || !strings.Contains(b.Err.Error(), "unable to create client TLS configuration: failed to parse CA") {
		t.Errorf("build error %v", b.Err)
	}
}

func faSecret(ns, name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

func faMiddleware(ns, name string, fa *crd.ForwardAuth) *crd.Middleware {
	m := &crd.Middleware{Spec: crd.MiddlewareSpec{ForwardAuth: fa}}
	m.Namespace, m.Name = ns, name
	return m
}

// Every option reaches the engine; the Secrets resolve as Traefik's
// loadCASecret and loadAuthTLSSecret read them, with their errors.
func TestForwardAuthTranslation(t *testing.T) {
	f, tr := false, true
	n10, n20 := int64(10), int64(20)
	tlsWith := func(ca, cert string) *crd.ClientTLSWithCAOptional {
		return &crd.ClientTLSWithCAOptional{ClientTLS: crd.ClientTLS{CASecret: ca, CertSecret: cert}}
	}
	secrets := []*corev1.Secret{
		faSecret("ns", "both-ca", map[string]string{"tls.ca": "TLSCA", "ca.crt": "CACRT", "other": "x"}),
		faSecret("ns", "ca-crt", map[string]string{"ca.crt": "CACRT", "tls.crt": "C"}),
		faSecret("ns", "only-key", map[string]string{"bundle.pem": "BUNDLE"}),
		faSecret("ns", "no-ca", map[string]string{"a": "1", "b": "2"}),
		faSecret("ns", "pair", map[string]string{"tls.crt": "CERT", "tls.key": "KEY", "ca.crt": "unused"}),
		faSecret("ns", "no-key", map[string]string{"tls.crt": "CERT"}),
		faSecret("ns", "nothing", map[string]string{"x": "y"}),
		faSecret("ns", "empty-crt", map[string]string{"tls.crt": "", "tls.key": "KEY"}),
		faSecret("ns", "empty-both", map[string]string{"tls.crt": "", "tls.key": ""}),
		faSecret("other", "pair", map[string]string{"tls.crt": "OTHER", "tls.key": "OTHER"}),
	}
	tests := []struct {
		name string
		fa   *crd.ForwardAuth
		want string // the config, or the problem
	}{
		{"no address", &crd.ForwardAuth{}, "forward authentication requires an address"},
		{"every option", &crd.ForwardAuth{Address: "https://auth.example.com/check", TrustForwardHeader: &f,
			AuthResponseHeaders: []string{"X-User"}, AuthResponseHeadersRegex: "^X-Auth-", AuthRequestHeaders: []string{"Cookie"},
			MaxResponseBodySize: &n10, AddAuthCookiesToResponse: []string{"session"}, HeaderField: "X-User", ForwardBody: true,
			MaxBodySize: &n20, PreserveLocationHeader: true, PreserveRequestMethod: true, AuthSigninURL: "https://sso/login",
			TLS: &crd.ClientTLSWithCAOptional{ClientTLS: crd.ClientTLS{InsecureSkipVerify: true}, CAOptional: &tr}},
			`{"address":"https://auth.example.com/check","trustForwardHeader":false,"authResponseHeaders":["X-User"],` +
				`"authResponseHeadersRegex":"^X-Auth-","authRequestHeaders":["Cookie"],"tls":{"insecureSkipVerify":true,"caOptional":true},` +
				`"maxResponseBodySize":10,"addAuthCookiesToResponse":["session"],"headerField":"X-User","forwardBody":true,"maxBodySize":20,` +
				`"preserveLocationHeader":true,"preserveRequestMethod":true,"authSigninURL":"https://sso/login"}`},
		{"empty lists pass", &crd.ForwardAuth{Address: "http://a", AuthRequestHeaders: []string{}},
			`{"address":"http://a","authRequestHeaders":[],"maxBodySize":-1}`},
		{"tls.ca before ca.crt", &crd.ForwardAuth{Address: "http://a", TLS: tlsWith("both-ca", "")},
			`{"address":"http://a","tls":{"ca":"TLSCA"},"maxBodySize":-1}`},
		{"ca.crt", &crd.ForwardAuth{Address: "http://a", TLS: tlsWith("ca-crt", "")},
			`{"address":"http://a","tls":{"ca":"CACRT"},"maxBodySize":-1}`},
		{"the only entry", &crd.ForwardAuth{Address: "http://a", TLS: tlsWith("only-key", "")},
			`{"address":"http://a","tls":{"ca":"BUNDLE"},"maxBodySize":-1}`},
		{"no CA", &crd.ForwardAuth{Address: "http://a", TLS: tlsWith("no-ca", "")},
			"failed to load auth ca secret: secret 'ns/no-ca' has no CA block: secret ns/no-ca contains neither tls.ca nor ca.crt"},
		{"CA Secret missing", &crd.ForwardAuth{Address: "http://a", TLS: tlsWith("missing", "")},
			"failed to load auth ca secret: secret 'ns/missing' not found"},
		{"key pair and CA", &crd.ForwardAuth{Address: "http://a", TLS: tlsWith("ca-crt", "pair")},
			`{"address":"http://a","tls":{"ca":"CACRT","cert":"CERT","key":"KEY"},"maxBodySize":-1}`},
		{"key pair in the middleware's namespace", &crd.ForwardAuth{Address: "http://a", TLS: tlsWith("", "pair")},
			`{"address":"http://a","tls":{"cert":"CERT","key":"KEY"},"maxBodySize":-1}`},
		{"no tls.key", &crd.ForwardAuth{Address: "http://a", TLS: tlsWith("", "no-key")},
			"failed to load auth secret: secret ns/no-key is missing the following TLS data entries: tls.key"},
		{"neither", &crd.ForwardAuth{Address: "http://a", TLS: tlsWith("", "nothing")},
			"failed to load auth secret: secret ns/nothing is missing the following TLS data entries: tls.crt, tls.key"},
		{"empty tls.crt", &crd.ForwardAuth{Address: "http://a", TLS: tlsWith("", "empty-crt")},
			"failed to load auth secret: secret ns/empty-crt contains the following empty TLS data entries: tls.crt"},
		{"both empty", &crd.ForwardAuth{Address: "http://a", TLS: tlsWith("", "empty-both")},
			"failed to load auth secret: secret ns/empty-both contains the following empty TLS data entries: tls.crt, tls.key"},
		{"cert Secret missing", &crd.ForwardAuth{Address: "http://a", TLS: tlsWith("", "missing")},
			"failed to load auth secret: secret 'ns/missing' does not exist"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objs := &Objects{Middlewares: []*crd.Middleware{faMiddleware("ns", "fa", tc.fa)}, Secrets: secrets}
			snap, deps := Translate(objs, Options{})
			m := snap.Middlewares["ns-fa@kubernetescrd"]
			if strings.HasPrefix(tc.want, "{") {
				if m == nil {
					t.Fatalf("no middleware: %v", snap.Problems)
				}
				if string(m.Config) != tc.want {
					t.Errorf("config\n got %s\nwant %s", m.Config, tc.want)
				}
				if m.Kind != "forwardAuth" {
					t.Errorf("kind %s", m.Kind)
				}
				return
			}
			if m != nil {
				t.Fatalf("middleware translated: %s", m.Config)
			}
			if got := problems(snap.Problems); got != "Middleware ns/fa: "+tc.want {
				t.Errorf("problem %q, want %q", got, tc.want)
			}
			if tc.fa.TLS != nil {
				for _, name := range []string{tc.fa.TLS.CASecret, tc.fa.TLS.CertSecret} {
					if name != "" && !deps.UsesSecret("ns", name) {
						t.Errorf("Secret ns/%s not recorded", name)
					}
				}
			}
		})
	}
}

// A resolved configuration is what the engine's kind decodes and builds.
func TestForwardAuthTranslationBuilds(t *testing.T) {
	objs := &Objects{Middlewares: []*crd.Middleware{faMiddleware("ns", "fa", &crd.ForwardAuth{
		Address: "https://auth.example.com", TrustForwardHeader: new(true), MaxResponseBodySize: new(int64(4096)),
		TLS: &crd.ClientTLSWithCAOptional{ClientTLS: crd.ClientTLS{CASecret: "ca"}}})},
		Secrets: []*corev1.Secret{faSecret("ns", "ca", map[string]string{"ca.crt": testCAPEM(t)})}}
	snap, deps := Translate(objs, Options{})
	m := snap.Middlewares["ns-fa@kubernetescrd"]
	if m == nil {
		t.Fatalf("problems: %v", snap.Problems)
	}
	var cfg struct {
		TLS struct{ CA string } `json:"tls"`
	}
	if err := json.Unmarshal(m.Config, &cfg); err != nil || !strings.HasPrefix(cfg.TLS.CA, "-----BEGIN CERTIFICATE-----") {
		t.Fatalf("config %s: %v", m.Config, err)
	}
	b := middleware.Build(map[string]*spec.Middleware{m.Name: m}, middleware.BuildContext{})[m.Name]
	if b.Err != nil || len(b.Warnings) != 0 {
		t.Errorf("build: %v, warnings %q", b.Err, b.Warnings)
	}
	if !deps.UsesSecret("ns", "ca") {
		t.Error("the CA Secret is not a dependency")
	}
}

// testCAPEM returns a self-signed CA certificate in PEM.
func testCAPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "auth-ca"}, IsCA: true,
		BasicConstraintsValid: true, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
