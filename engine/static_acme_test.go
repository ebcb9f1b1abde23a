package engine

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// certificatesResolvers.NAME.acme from a Traefik YAML file, with Traefik's
// defaults for what it leaves out, and refusals for what edgeroute does
// not do.
func TestParseStaticResolvers(t *testing.T) {
	f := filepath.Join(t.TempDir(), "traefik.yaml")
	os.WriteFile(f, []byte(`
entryPoints:
  web: {address: ":8000"}
  websecure: {address: ":8443"}
certificatesResolvers:
  le:
    acme:
      email: ops@example.com
      storage: /data/acme.json
      caServer: https://acme-staging-v02.api.letsencrypt.org/directory
      keyType: EC384
      certificatesDuration: 2160
      preferredChain: ISRG Root X1
      caCertificates: [/etc/ca.pem]
      httpChallenge: {entryPoint: web, delay: 2s}
  alpn:
    acme:
      tlsChallenge: {}
`), 0o644)
	s, err := ParseStatic([]string{"--configFile=" + f})
	if err != nil {
		t.Fatal(err)
	}
	le, alpn := s.CertResolvers["le"], s.CertResolvers["alpn"]
	if le == nil || le.Email != "ops@example.com" || le.Storage != "/data/acme.json" || !le.StorageSet || le.KeyType != "EC384" ||
		le.PreferredChain != "ISRG Root X1" || !slices.Equal(le.CACertificates, []string{"/etc/ca.pem"}) ||
		le.HTTPChallenge == nil || le.HTTPChallenge.EntryPoint != "web" || le.HTTPChallenge.Delay != 2*time.Second || le.TLSChallenge != nil {
		t.Errorf("le: %+v", le)
	}
	if alpn == nil || alpn.TLSChallenge == nil || alpn.HTTPChallenge != nil || alpn.StorageSet || alpn.KeyType != "RSA4096" ||
		alpn.CertificatesDuration != 2160 || alpn.ClientTimeout != 2*time.Minute || alpn.CAServer != "https://acme-v02.api.letsencrypt.org/directory" {
		t.Errorf("alpn (defaults): %+v", alpn)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--certificatesResolvers.le.acme.dnsChallenge.provider=route53"}, "DNS-01 challenge is not supported"},
		{[]string{"--certificatesResolvers.le.acme.eab.kid=x"}, "not supported"},
		{[]string{"--certificatesResolvers.le.tailscale=true"}, "Tailscale"},
		{[]string{"--certificatesResolvers.le.acme.keyType=RSA1024"}, `keyType "RSA1024"`},
		{[]string{"--certificatesResolvers.le.acme.httpChallenge.entryPoint=nope"}, `"nope" is not an entry point`},
		{[]string{"--certificatesResolvers.le.acme.certificatesDuration=abc"}, "hours"},
		{[]string{"--certificatesResolvers.le.acme.sure=1"}, "unknown"},
	} {
		if _, err := ParseStatic(tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// The HTTP-01 router is Traefik's acme-http@internal: on every
// httpChallenge entry point, before all other routers, plain HTTP only.
func TestACMERouter(t *testing.T) {
	s, err := ParseStatic([]string{"--entryPoints.web.address=:1", "--entryPoints.alt.address=:2", "--entryPoints.websecure.address=:3",
		"--certificatesResolvers.a.acme.httpChallenge.entryPoint=web", "--certificatesResolvers.b.acme.httpChallenge.entryPoint=Alt",
		"--certificatesResolvers.c.acme.tlsChallenge"})
	if err != nil {
		t.Fatal(err)
	}
	rs := acmeRouter(s)
	if len(rs) != 1 || rs[0].Name != "acme-http@internal" || !slices.Equal(rs[0].EntryPoints, []string{"alt", "web"}) ||
		rs[0].Rule != "PathPrefix(`/.well-known/acme-challenge/`)" || rs[0].TLS != nil || rs[0].Service != ACMEHTTPService {
		t.Fatalf("router: %+v", rs)
	}
	if _, err := newInternalService(s, ACMEHTTPService); err != nil {
		t.Error(err)
	}
	s, _ = ParseStatic(nil)
	if acmeRouter(s) != nil {
		t.Error("a challenge router without resolvers")
	}
	if _, err := newInternalService(s, ACMEHTTPService); err == nil || !strings.Contains(err.Error(), "HTTP challenge is not enabled") {
		t.Errorf("acme-http@internal without resolver: %v", err)
	}
}
