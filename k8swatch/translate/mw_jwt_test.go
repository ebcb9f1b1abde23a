package translate

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgeroute/edgeroute/engine/middleware"
	"github.com/edgeroute/edgeroute/k8swatch/crd"
)

// jwt's jwksSecret is read from the Middleware's namespace and passed to
// the engine as the Secret's entries; jwksURL passes as written.
func TestJWTTranslation(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	mw := func(name string, j *crd.JWT) *crd.Middleware {
		return &crd.Middleware{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}, Spec: crd.MiddlewareSpec{JWT: j}}
	}
	secret := func(ns, name string, data map[string]string) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string][]byte{}}
		for k, v := range data {
			s.Data[k] = []byte(v)
		}
		return s
	}
	objs := &Objects{
		Middlewares: []*crd.Middleware{
			mw("pem", &crd.JWT{JWKSSecret: "keys", Issuer: "https://idp", Algorithms: []string{"ES256"}}),
			mw("url", &crd.JWT{JWKSURL: "https://idp/jwks", Audience: []string{"api"}, TokenSource: &crd.JWTTokenSource{Cookie: "t"}}),
			mw("missing", &crd.JWT{JWKSSecret: "nope"}),
			mw("other-ns", &crd.JWT{JWKSSecret: "elsewhere"}),
			mw("garbage", &crd.JWT{JWKSSecret: "garbage"}),
		},
		Secrets: []*corev1.Secret{
			secret("ns", "keys", map[string]string{"key.pem": pemKey}),
			secret("ns", "garbage", map[string]string{"x": "not a key"}),
			secret("other", "elsewhere", map[string]string{"key.pem": pemKey}),
		},
	}
	snap, deps := Translate(objs, Options{})

	m := snap.Middlewares["ns-pem@kubernetescrd"]
	if m == nil || m.Kind != "jwt" {
		t.Fatalf("pem: %+v", m)
	}
	var got map[string]any
	if err := json.Unmarshal(m.Config, &got); err != nil {
		t.Fatal(err)
	}
	if got["jwksSecret"] != "ns/keys" || got["issuer"] != "https://idp" {
		t.Errorf("pem config: %s", m.Config)
	}
	if data, _ := got["jwksSecretData"].(map[string]any); data["key.pem"] != pemKey {
		t.Errorf("pem config lacks the Secret's entry: %s", m.Config)
	}
	if !deps.UsesSecret("ns", "keys") || !deps.UsesSecret("ns", "nope") || deps.UsesSecret("other", "elsewhere") {
		t.Errorf("secret dependencies: keys %v, nope %v, other/elsewhere %v",
			deps.UsesSecret("ns", "keys"), deps.UsesSecret("ns", "nope"), deps.UsesSecret("other", "elsewhere"))
	}
	if u := snap.Middlewares["ns-url@kubernetescrd"]; u == nil ||
		string(u.Config) != `{"jwksURL":"https://idp/jwks","audience":["api"],"tokenSource":{"cookie":"t"}}` {
		t.Errorf("url: %+v", u)
	}

	msg := problems(snap.Problems)
	for _, want := range []string{
		"Middleware ns/missing: secret 'ns/nope' not found",
		"Middleware ns/other-ns: secret 'ns/elsewhere' not found", // Secrets are read in the Middleware's namespace
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("problems lack %q:\n%s", want, msg)
		}
	}

	// The engine builds what translation produced; a Secret entry that
	// holds no key is an error on the middleware.
	built := middleware.Build(snap.Middlewares, middleware.BuildContext{})
	for name, wantErr := range map[string]string{
		"ns-pem@kubernetescrd":     "",
		"ns-url@kubernetescrd":     "",
		"ns-garbage@kubernetescrd": "jwksSecret ns/garbage, entry x: neither a JWKS (JSON) nor PEM",
	} {
		b := built[name]
		switch {
		case b == nil:
			t.Errorf("%s: not built", name)
		case wantErr == "" && b.Err != nil:
			t.Errorf("%s: %v", name, b.Err)
		case wantErr != "" && (b.Err == nil || !strings.Contains(b.Err.Error(), wantErr)):
			t.Errorf("%s: err %v, want %q", name, b.Err, wantErr)
		}
	}
}
