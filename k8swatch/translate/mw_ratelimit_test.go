package translate

import (
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/edgeroute/edgeroute/engine/middleware"
	"github.com/edgeroute/edgeroute/k8swatch/crd"
)

func rlSecret(ns, name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

// rateLimit's Secrets are read as Traefik's CRD provider reads them
// (createRateLimitMiddleware, loadRedisCredentials, loadCASecret,
// loadAuthTLSSecret), with its error messages.
func TestRateLimitTranslation(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	period := intstr.FromString("1m")
	timeout := intstr.FromInt32(2)
	full := func() *crd.RateLimit {
		return &crd.RateLimit{Average: i64(6), Period: &period, Burst: i64(12),
			SourceCriterion: &crd.SourceCriterion{RequestHeaderName: "X-Key"},
			Redis: &crd.Redis{Endpoints: []string{"redis:6379"}, Secret: "creds", DB: 3, PoolSize: 4, MinIdleConns: 1, MaxActiveConns: 8,
				ReadTimeout: &timeout, WriteTimeout: &timeout, DialTimeout: &timeout,
				TLS: &crd.ClientTLS{CASecret: "ca", CertSecret: "cert", InsecureSkipVerify: true}}}
	}
	goodSecrets := []*corev1.Secret{
		rlSecret("ns", "creds", map[string]string{"username": "user", "password": "pw"}),
		rlSecret("ns", "ca", map[string]string{"tls.ca": "CA PEM", "ca.crt": "other"}),
		rlSecret("ns", "cert", map[string]string{"tls.crt": "CERT PEM", "tls.key": "KEY PEM"}),
	}
	tests := []struct {
		desc    string
		rl      func() *crd.RateLimit
		secrets []*corev1.Secret
		want    string // the configuration, or the problem
	}{
		{"no redis", func() *crd.RateLimit {
			return &crd.RateLimit{Average: i64(100), Burst: i64(50), Period: &period,
				SourceCriterion: &crd.SourceCriterion{IPStrategy: &crd.IPStrategy{Depth: 2}}}
		}, nil, `{"average":100,"period":"1m","burst":50,"sourceCriterion":{"ipStrategy":{"depth":2}}}`},
		{"empty", func() *crd.RateLimit { return &crd.RateLimit{} }, nil, `{}`},
		{"redis without secrets", func() *crd.RateLimit { return &crd.RateLimit{Average: i64(1), Redis: &crd.Redis{}} }, nil,
			`{"average":1,"redis":{}}`},
		{"everything", full, goodSecrets,
			`{"average":6,"period":"1m","burst":12,"sourceCriterion":{"requestHeaderName":"X-Key"},"redis":{"endpoints":["redis:6379"],` +
				`"tls":{"ca":"CA PEM","cert":"CERT PEM","key":"KEY PEM","insecureSkipVerify":true},"username":"user","password":"pw",` +
				`"db":3,"poolSize":4,"minIdleConns":1,"maxActiveConns":8,"readTimeout":2,"writeTimeout":2,"dialTimeout":2}}`},
		{"CA from ca.crt", func() *crd.RateLimit {
			return &crd.RateLimit{Redis: &crd.Redis{TLS: &crd.ClientTLS{CASecret: "ca"}}}
		}, []*corev1.Secret{rlSecret("ns", "ca", map[string]string{"ca.crt": "CRT", "x": "y"})}, `{"redis":{"tls":{"ca":"CRT"}}}`},
		{"CA from the only entry", func() *crd.RateLimit {
			return &crd.RateLimit{Redis: &crd.Redis{TLS: &crd.ClientTLS{CASecret: "ca"}}}
		}, []*corev1.Secret{rlSecret("ns", "ca", map[string]string{"ca": "ONLY"})}, `{"redis":{"tls":{"ca":"ONLY"}}}`},
		{"no CA", func() *crd.RateLimit {
			return &crd.RateLimit{Redis: &crd.Redis{TLS: &crd.ClientTLS{CASecret: "ca"}}}
		}, []*corev1.Secret{rlSecret("ns", "ca", map[string]string{"a": "1", "b": "2"})},
			"failed to load auth ca secret: secret 'ns/ca' has no CA block: secret ns/ca contains neither tls.ca nor ca.crt"},
		{"CA Secret missing", full, goodSecrets[:1], "failed to load auth ca secret: secret 'ns/ca' not found"},
		{"certificate Secret missing", full, goodSecrets[:2], "failed to load auth secret: secret 'ns/cert' does not exist"},
		{"no tls.key", full, []*corev1.Secret{goodSecrets[0], goodSecrets[1], rlSecret("ns", "cert", map[string]string{"tls.crt": "C"})},
			"failed to load auth secret: secret ns/cert is missing the following TLS data entries: tls.key"},
		{"no tls.crt nor tls.key", full, []*corev1.Secret{goodSecrets[0], goodSecrets[1], rlSecret("ns", "cert", nil)},
			"failed to load auth secret: secret ns/cert is missing the following TLS data entries: tls.crt, tls.key"},
		{"empty tls.crt", full, []*corev1.Secret{goodSecrets[0], goodSecrets[1], rlSecret("ns", "cert", map[string]string{"tls.crt": "", "tls.key": "K"})},
			"failed to load auth secret: secret ns/cert contains the following empty TLS data entries: tls.crt"},
		{"credentials Secret missing", full, goodSecrets[1:], "secret 'ns/creds' not found"},
		{"no password", full, []*corev1.Secret{rlSecret("ns", "creds", map[string]string{"username": "u"}), goodSecrets[1], goodSecrets[2]},
			"secret 'ns/creds' must contain both username and password keys"},
		{"no username", full, []*corev1.Secret{rlSecret("ns", "creds", map[string]string{"password": "p"}), goodSecrets[1], goodSecrets[2]},
			"secret 'ns/creds' must contain both username and password keys"},
		{"empty credentials are credentials", func() *crd.RateLimit { return &crd.RateLimit{Redis: &crd.Redis{Secret: "creds"}} },
			[]*corev1.Secret{rlSecret("ns", "creds", map[string]string{"username": "", "password": ""})}, `{"redis":{}}`},
		{"a Secret of another namespace is not read", func() *crd.RateLimit { return &crd.RateLimit{Redis: &crd.Redis{Secret: "creds"}} },
			[]*corev1.Secret{rlSecret("other", "creds", map[string]string{"username": "u", "password": "p"})}, "secret 'ns/creds' not found"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			m := &crd.Middleware{Spec: crd.MiddlewareSpec{RateLimit: tc.rl()}}
			m.Namespace, m.Name = "ns", "rl"
			snap, _ := Translate(&Objects{Middlewares: []*crd.Middleware{m}, Secrets: tc.secrets}, Options{})
			def := snap.Middlewares["ns-rl@kubernetescrd"]
			if strings.HasPrefix(tc.want, "{") {
				if def == nil {
					t.Fatalf("not translated: %s", problems(snap.Problems))
				}
				if string(def.Config) != tc.want {
					t.Errorf("config\n %s\nwant\n %s", def.Config, tc.want)
				}
				return
			}
			if def != nil {
				t.Fatalf("translated despite %q: %s", tc.want, def.Config)
			}
			if msg := problems(snap.Problems); msg != "Middleware ns/rl: "+tc.want {
				t.Errorf("problem %q, want %q", msg, tc.want)
			}
		})
	}
}

// The Secrets read are dependencies: a change to one translates again.
func TestRateLimitTranslationDeps(t *testing.T) {
	m := &crd.Middleware{Spec: crd.MiddlewareSpec{RateLimit: &crd.RateLimit{Redis: &crd.Redis{Secret: "creds",
		TLS: &crd.ClientTLS{CASecret: "ca", CertSecret: "cert"}}}}}
	m.Namespace, m.Name = "ns", "rl"
	_, deps := Translate(&Objects{Middlewares: []*crd.Middleware{m}, Secrets: []*corev1.Secret{
		rlSecret("ns", "creds", map[string]string{"username": "u", "password": "p"}),
		rlSecret("ns", "ca", map[string]string{"ca.crt": "C"}),
		rlSecret("ns", "cert", map[string]string{"tls.crt": "C", "tls.key": "K"}),
	}}, Options{})
	for _, name := range []string{"creds", "ca", "cert"} {
		if !deps.UsesSecret("ns", name) {
			t.Errorf("Secret ns/%s is not a dependency", name)
		}
	}
	// A missing Secret is one too: its creation translates again.
	_, deps = Translate(&Objects{Middlewares: []*crd.Middleware{m}}, Options{})
	if !deps.UsesSecret("ns", "ca") {
		t.Error("missing Secret ns/ca is not a dependency")
	}
}

// Traefik's own fixture (with_ratelimit.yml) translates to the values
// of its test, and the engine decodes them.
func TestRateLimitTranslationFixture(t *testing.T) {
	snap := Snapshot(load(t, "services.yml", "with_ratelimit.yml"), Options{AllowCrossNamespace: true})
	if len(snap.Problems) > 0 {
		t.Fatalf("problems: %v", snap.Problems)
	}
	def := snap.Middlewares["default-ratelimit@kubernetescrd"]
	if def == nil || def.Kind != "rateLimit" {
		t.Fatalf("ratelimit: %+v", def)
	}
	var got map[string]any
	if err := json.Unmarshal(def.Config, &got); err != nil {
		t.Fatal(err)
	}
	want := `{"average":6,"burst":12,"period":"1m","sourceCriterion":{"ipStrategy":{"excludedIPs":["127.0.0.1/32","192.168.1.7"]}},` +
		`"redis":{"endpoints":["127.0.0.1:6379"],"username":"user","password":"password",` +
		`"tls":{"ca":"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----","cert":"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----",` +
		`"key":"-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----"},"poolSize":42,"maxActiveConns":42,` +
		`"readTimeout":"42s","writeTimeout":"42s","dialTimeout":"42s"}}`
	var w map[string]any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("config\n %s\nwant\n %s", gb, wb)
	}
	// The engine decodes it; its PEM blocks are empty, which Traefik
	// refuses too.
	k, _ := middleware.Lookup("rateLimit")
	if k.Name != "rateLimit" {
		t.Fatal("rateLimit is not an engine kind")
	}
	built := middleware.Build(snap.Middlewares, middleware.BuildContext{})
	if b := built[def.Name]; b.Err == nil || !strings.Contains(b.Err.Error(), "creating redis limiter: creating TLS config: failed to parse CA") {
		t.Errorf("build: %v", b.Err)
	}
}
