package translate

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/k8swatch/manifest"
)

// decode turns inline manifests into translation input.
func decode(t *testing.T, docs string) *Objects {
	t.Helper()
	objs, probs := manifest.Decode("test.yaml", []byte(docs))
	for _, p := range probs {
		if p.Severity == manifest.Error {
			t.Fatalf("decoding: %v", p)
		}
	}
	return FromManifest(objs)
}

func certPEM(t *testing.T, host string) (crt, key string) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(k)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}))
}

const tlsBase = `
apiVersion: v1
kind: Service
metadata: {name: whoami, namespace: default}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: whoami-1, namespace: default, labels: {kubernetes.io/service-name: whoami}}
addressType: IPv4
ports: [{name: http, port: 80}]
endpoints: [{addresses: ["10.0.0.1"]}]
`

func secret(name, crt, key string) string {
	b := base64.StdEncoding.EncodeToString
	return "---\napiVersion: v1\nkind: Secret\nmetadata: {name: " + name + ", namespace: default}\ntype: kubernetes.io/tls\ndata: {tls.crt: " +
		b([]byte(crt)) + ", tls.key: " + b([]byte(key)) + "}\n"
}

func route(name, tls string) string {
	return "---\napiVersion: traefik.io/v1alpha1\nkind: IngressRoute\nmetadata: {name: " + name + ", namespace: default}\nspec:\n  routes: [{match: \"Host(`" +
		name + ".test`)\", services: [{name: whoami, port: 80}]}]\n  tls: " + tls + "\n"
}

func TestTLSTranslation(t *testing.T) {
	crt, key := certPEM(t, "a.test")
	otherCrt, otherKey := certPEM(t, "b.test")
	options := `---
apiVersion: traefik.io/v1alpha1
kind: TLSOption
metadata: {name: strict, namespace: default}
spec:
  minVersion: VersionTLS13
  curvePreferences: [CurveP256, X25519]
  sniStrict: true
  clientAuth: {clientAuthType: RequireAnyClientCert}
`
	store := `---
apiVersion: traefik.io/v1alpha1
kind: TLSStore
metadata: {name: default, namespace: default}
spec:
  defaultCertificate: {secretName: other}
`
	snap := Snapshot(decode(t, tlsBase+secret("cert", crt, key)+secret("other", otherCrt, otherKey)+options+store+
		route("a", "{secretName: cert, options: {name: strict}}")+route("b", "{}")), Options{})
	if len(snap.Problems) > 0 {
		t.Fatalf("problems: %v", snap.Problems)
	}
	byName := map[string]*spec.Router{}
	for i := range snap.Routers {
		byName[snap.Routers[i].Ref.Name] = &snap.Routers[i]
	}
	if r := byName["a"]; r == nil || r.TLS == nil || r.TLS.Options != "default-strict@kubernetescrd" {
		t.Fatalf("router a: %+v", r)
	}
	if r := byName["b"]; r == nil || r.TLS == nil || r.TLS.Options != spec.DefaultTLSOptions {
		t.Fatalf("router b: %+v", r)
	}
	if len(snap.TLS.Certificates) != 1 || snap.TLS.Certificates[0].Ref.Name != "cert" || string(snap.TLS.Certificates[0].CertPEM) != crt {
		t.Fatalf("certificates: %+v", snap.TLS.Certificates)
	}
	if snap.TLS.Default == nil || snap.TLS.Default.Ref.Name != "other" {
		t.Fatalf("default certificate: %+v", snap.TLS.Default)
	}
	o := snap.TLS.Options["default-strict@kubernetescrd"]
	if o == nil || o.MinVersion != tls.VersionTLS13 || !o.SniStrict || o.ClientAuthType != "RequireAnyClientCert" ||
		len(o.CurvePreferences) != 2 || o.CurvePreferences[0] != uint16(tls.CurveP256) {
		t.Fatalf("options: %+v", o)
	}

	// Errors name the object and skip only the route concerned.
	for _, tc := range []struct{ docs, want string }{
		{route("a", "{secretName: missing}"), "tls.secretName: secret default/missing not found"},
		{route("a", "{options: {name: nope}}"), "tls.options: TLSOption default/nope not found"},
		{route("a", "{options: {name: strict, namespace: other}}"), "cross-namespace references are not allowed"},
		{"---\napiVersion: traefik.io/v1alpha1\nkind: TLSOption\nmetadata: {name: bad, namespace: default}\nspec: {minVersion: VersionTLS14}\n" +
			route("a", "{options: {name: bad}}"), "minVersion \"VersionTLS14\""},
		{"---\napiVersion: traefik.io/v1alpha1\nkind: TLSOption\nmetadata: {name: bad, namespace: default}\nspec: {cipherSuites: [TLS_NOPE]}\n", "unknown suite \"TLS_NOPE\""},
		{"---\napiVersion: traefik.io/v1alpha1\nkind: TLSOption\nmetadata: {name: bad, namespace: default}\nspec: {clientAuth: {clientAuthType: RequireAndVerifyClientCert}}\n", "needs clientAuth.secretNames"},
		{"---\napiVersion: v1\nkind: Secret\nmetadata: {name: empty, namespace: default}\ntype: kubernetes.io/tls\ndata: {}\n" +
			route("a", "{secretName: empty}"), "secret default/empty has no tls.crt and tls.key"},
	} {
		snap := Snapshot(decode(t, tlsBase+tc.docs+route("ok", "{}")), Options{})
		var all []string
		for _, p := range snap.Problems {
			all = append(all, p.Error())
		}
		if !strings.Contains(strings.Join(all, "\n"), tc.want) {
			t.Errorf("want a problem containing %q, got %q", tc.want, all)
		}
		found := false
		for _, r := range snap.Routers {
			found = found || r.Ref.Name == "ok"
		}
		if !found {
			t.Errorf("%q: the other route was dropped too", tc.want)
		}
	}
}

// Traefik's cipher suite names beyond Go's: the legacy ChaCha20 aliases
// and TLS_FALLBACK_SCSV are accepted (real manifests use them).
func TestTLSOptionCipherAliases(t *testing.T) {
	doc := "---\napiVersion: traefik.io/v1alpha1\nkind: TLSOption\nmetadata: {name: legacy, namespace: default}\n" +
		"spec: {cipherSuites: [TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305, TLS_FALLBACK_SCSV, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]}\n"
	snap := Snapshot(decode(t, doc), Options{})
	if len(snap.Problems) > 0 {
		t.Fatalf("problems: %v", snap.Problems)
	}
	o := snap.TLS.Options["default-legacy@kubernetescrd"]
	want := []uint16{tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_FALLBACK_SCSV, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}
	if o == nil || !slices.Equal(o.CipherSuites, want) {
		t.Fatalf("options: %+v", o)
	}
}
