package translate

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/engine/middleware"
	"github.com/edgeroute/edgeroute/k8swatch/crd"
)

func authSecret(name string, typ corev1.SecretType, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}, Type: typ, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

func authMiddleware(spec crd.MiddlewareSpec) *crd.Middleware {
	m := &crd.Middleware{Spec: spec}
	m.Namespace, m.Name = "ns", "auth"
	return m
}

// Both kinds resolve their Secret as Traefik's CRD provider does.
func TestAuthTranslation(t *testing.T) {
	secrets := []*corev1.Secret{
		authSecret("users", "", map[string]string{"users": "test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/\r\n\n  spaced:x \ntest2:$apr1$d9hr9HBB$4HxwgUir3HP4EsggP/QNo0"}),
		authSecret("opaque", corev1.SecretTypeOpaque, map[string]string{"anykey": "#not-a-comment:x\n"}),
		authSecret("ba", corev1.SecretTypeBasicAuth, map[string]string{"username": "admin", "password": "hello", "extra": "ignored"}),
		authSecret("ba-nopass", corev1.SecretTypeBasicAuth, map[string]string{"username": "admin"}),
		authSecret("two", "", map[string]string{"a": "x:y", "b": "z:w"}),
		authSecret("none", "", nil),
		authSecret("blank", "", map[string]string{"users": "\n\r\n\n"}),
		authSecret("long", "", map[string]string{"users": "a:" + strings.Repeat("x", 70000)}),
		authSecret("digest", "", map[string]string{"users": "test:traefik:a2688e031edb4be6a3797f3882655c05\n"}),
	}
	basic := func(c crd.BasicAuth) crd.MiddlewareSpec { return crd.MiddlewareSpec{BasicAuth: &c} }
	digest := func(c crd.DigestAuth) crd.MiddlewareSpec { return crd.MiddlewareSpec{DigestAuth: &c} }
	tests := []struct {
		name   string
		spec   crd.MiddlewareSpec
		config string // the resolved JSON; "" when err is set
		err    string
	}{
		{"lines", basic(crd.BasicAuth{Secret: "users", Realm: "r", RemoveHeader: true, HeaderField: "X-User"}),
			`{"users":["test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/","  spaced:x ","test2:$apr1$d9hr9HBB$4HxwgUir3HP4EsggP/QNo0"],"realm":"r","removeHeader":true,"headerField":"X-User"}`, ""},
		{"any single key", basic(crd.BasicAuth{Secret: "opaque"}), `{"users":["#not-a-comment:x"]}`, ""},
		{"basic-auth Secret", basic(crd.BasicAuth{Secret: "ba"}), `{"users":["admin:{SHA}qvTGHdzF6KLavt4PO0gs2a6pQ00="]}`, ""},
		{"no secret", basic(crd.BasicAuth{Realm: "r"}), "", "auth secret must be set"},
		{"missing secret", basic(crd.BasicAuth{Secret: "nope"}), "", "secret 'ns/nope' not found"},
		{"basic-auth Secret without password", basic(crd.BasicAuth{Secret: "ba-nopass"}), "",
			"failed to load basic auth credentials: secret 'ns/ba-nopass' must contain both username and password keys"},
		{"two keys", basic(crd.BasicAuth{Secret: "two"}), "",
			"failed to load basic auth credentials: found 2 elements for secret 'ns/two', must be single element exactly"},
		{"no keys", basic(crd.BasicAuth{Secret: "none"}), "",
			"failed to load basic auth credentials: found 0 elements for secret 'ns/none', must be single element exactly"},
		{"blank lines only", basic(crd.BasicAuth{Secret: "blank"}), "",
			"failed to load basic auth credentials: secret 'ns/blank' does not contain any credentials"},
		{"line too long", basic(crd.BasicAuth{Secret: "long"}), "",
			"failed to load basic auth credentials: error reading secret for ns/long: bufio.Scanner: token too long"},

		{"digest lines", digest(crd.DigestAuth{Secret: "digest", Realm: "traefik", HeaderField: "X-User", RemoveHeader: true}),
			`{"users":["test:traefik:a2688e031edb4be6a3797f3882655c05"],"realm":"traefik","removeHeader":true,"headerField":"X-User"}`, ""},
		{"digest no secret", digest(crd.DigestAuth{}), "", "auth secret must be set"},
		{"digest missing secret", digest(crd.DigestAuth{Secret: "nope"}), "", "secret 'ns/nope' not found"},
		// A basic-auth Secret is read as lines for digestAuth: two keys.
		{"digest from a basic-auth Secret", digest(crd.DigestAuth{Secret: "ba"}), "",
			"failed to load digest auth credentials: found 3 elements for secret 'ns/ba', must be single element exactly"},
		{"digest blank", digest(crd.DigestAuth{Secret: "blank"}), "",
			"failed to load digest auth credentials: secret 'ns/blank' does not contain any credentials"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			snap, deps := Translate(&Objects{Middlewares: []*crd.Middleware{authMiddleware(tc.spec)}, Secrets: secrets}, Options{})
			m := snap.Middlewares["ns-auth@kubernetescrd"]
			if tc.err != "" {
				if m != nil {
					t.Errorf("translated: %s", m.Config)
				}
				if msg := problems(snap.Problems); msg != "Middleware ns/auth: "+tc.err {
					t.Errorf("problems %q, want %q", msg, "Middleware ns/auth: "+tc.err)
				}
			} else {
				if len(snap.Problems) > 0 || m == nil {
					t.Fatalf("problems: %s", problems(snap.Problems))
				}
				if string(m.Config) != tc.config {
					t.Errorf("config %s\nwant   %s", m.Config, tc.config)
				}
			}
			var secret string
			if tc.spec.BasicAuth != nil {
				secret = tc.spec.BasicAuth.Secret
			} else {
				secret = tc.spec.DigestAuth.Secret
			}
			if secret != "" && !deps.UsesSecret("ns", secret) {
				t.Errorf("the Secret ns/%s is not recorded as a dependency", secret)
			}
		})
	}
}

// Traefik's with_auth.yml fixture: both kinds read the same users, and
// the engine builds them.
func TestAuthTranslationFixture(t *testing.T) {
	snap := Snapshot(load(t, "with_auth.yml"), Options{})
	want := []string{"test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/", "test2:$apr1$d9hr9HBB$4HxwgUir3HP4EsggP/QNo0"}
	defs := map[string]*spec.Middleware{}
	for _, name := range []string{"default-basicauth@kubernetescrd", "default-digestauth@kubernetescrd"} {
		m := snap.Middlewares[name]
		if m == nil {
			t.Fatalf("%s not translated: %s", name, problems(snap.Problems))
		}
		var c struct{ Users []string }
		if err := json.Unmarshal(m.Config, &c); err != nil || !reflect.DeepEqual(c.Users, want) {
			t.Errorf("%s: users %q (%v), want %q", name, c.Users, err, want)
		}
		defs[name] = m
	}
	built := middleware.Build(defs, middleware.BuildContext{})
	if err := built["default-basicauth@kubernetescrd"].Err; err != nil {
		t.Errorf("basicAuth: %v", err)
	}
	// Traefik's digestAuth refuses these htpasswd lines the same way.
	if err := built["default-digestauth@kubernetescrd"].Err; err == nil || !strings.Contains(err.Error(), "error parsing DigestUser: test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/") {
		t.Errorf("digestAuth: %v", err)
	}
}
