package acme

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Traefik's test cases of deleteUnnecessaryDomains
// (pkg/provider/acme/provider_test.go).
func TestDedupeDomains(t *testing.T) {
	d := func(main string, sans ...string) Domain { return Domain{Main: main, SANs: sans} }
	for _, tc := range []struct {
		desc     string
		in, want []Domain
	}{
		{"no domain to delete",
			[]Domain{d("acme.wtf", "traefik.acme.wtf", "foo.bar"), d("*.foo.acme.wtf"), d("acme02.wtf", "traefik.acme02.wtf", "bar.foo")},
			[]Domain{d("acme.wtf", "traefik.acme.wtf", "foo.bar"), d("*.foo.acme.wtf"), d("acme02.wtf", "traefik.acme02.wtf", "bar.foo")}},
		{"wildcard and root domain", []Domain{d("acme.wtf"), d("*.acme.wtf", "acme.wtf")}, []Domain{d("acme.wtf"), d("*.acme.wtf")}},
		{"2 equals domains", []Domain{d("acme.wtf", "traefik.acme.wtf", "foo.bar"), d("acme.wtf", "traefik.acme.wtf", "foo.bar")},
			[]Domain{d("acme.wtf", "traefik.acme.wtf", "foo.bar")}},
		{"2 domains with same values", []Domain{d("acme.wtf", "traefik.acme.wtf"), d("acme.wtf", "traefik.acme.wtf", "foo.bar")},
			[]Domain{d("acme.wtf", "traefik.acme.wtf"), d("foo.bar")}},
		{"domain totally checked by wildcard", []Domain{d("who.acme.wtf", "traefik.acme.wtf", "bar.acme.wtf"), d("*.acme.wtf")},
			[]Domain{d("*.acme.wtf")}},
		{"duplicated wildcard", []Domain{d("*.acme.wtf", "acme.wtf"), d("*.acme.wtf")}, []Domain{d("*.acme.wtf", "acme.wtf")}},
		{"domain partially checked by wildcard", []Domain{d("traefik.acme.wtf", "acme.wtf", "foo.bar"), d("*.acme.wtf"), d("who.acme.wtf", "traefik.acme.wtf", "bar.acme.wtf")},
			[]Domain{d("acme.wtf", "foo.bar"), d("*.acme.wtf")}},
	} {
		got := dedupeDomains(tc.in)
		if !slices.EqualFunc(got, tc.want, func(a, b Domain) bool {
			return a.Main == b.Main && slices.Equal(a.SANs, b.SANs) || a.Main == b.Main && len(a.SANs)+len(b.SANs) == 0
		}) {
			t.Errorf("%s: %v, want %v", tc.desc, got, tc.want)
		}
	}
}

func TestMatchDomain(t *testing.T) {
	for _, tc := range []struct {
		domain, cert string
		want         bool
	}{
		{"a.test", "a.test", true},
		{"www.a.test", "*.a.test", true},
		{"x.www.a.test", "*.*.a.test", true},
		{"a.test", "*.a.test", false},
		{"www.a.test", "*.b.test", false},
		{"www.a.test", "*.a.test.", true}, // a trailing dot only on wildcards, as Traefik
	} {
		if got := matchDomain(tc.domain, tc.cert); got != tc.want {
			t.Errorf("matchDomain(%q, %q) = %v", tc.domain, tc.cert, got)
		}
	}
}

func TestSanitize(t *testing.T) {
	got, err := sanitize(Domain{Main: " A.Test. ", SANs: []string{"WWW.a.test"}})
	if err != nil || !slices.Equal(got, []string{"a.test", "www.a.test"}) {
		t.Errorf("sanitize: %v %v", got, err)
	}
	if _, err := sanitize(Domain{Main: "*.*.a.test"}); err == nil || !strings.Contains(err.Error(), "'*.*' wildcard") {
		t.Errorf("double wildcard: %v", err)
	}
	if _, err := sanitize(Domain{}); err == nil {
		t.Error("empty domain accepted")
	}
}

// Traefik's table (Test_getCertificateRenewDurations).
func TestRenewDurations(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		hours            int
		period, interval time.Duration
	}{
		{1, 20 * time.Minute, time.Minute},
		{24 * 365, 120 * day, 7 * day},
		{24 * 265, 30 * day, day},
		{24 * 90, 30 * day, day},
		{24 * 30, 10 * day, 12 * time.Hour},
		{24 * 7, 2 * day, 2 * time.Hour},
		{24, 6 * time.Hour, 10 * time.Minute},
	} {
		p, i := RenewDurations(tc.hours)
		if p != tc.period || i != tc.interval {
			t.Errorf("%d hours: %v %v, want %v %v", tc.hours, p, i, tc.period, tc.interval)
		}
	}
}

func TestValidate(t *testing.T) {
	eps := map[string]bool{"web": true}
	c := NewConfig("le")
	c.HTTPChallenge = &HTTPChallenge{EntryPoint: "web"}
	if err := c.Validate(eps); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.CertificatesDuration = 0 }, "lower than 1 hour"},
		{func(c *Config) { c.KeyType = "RSA1024" }, `keyType "RSA1024"`},
		{func(c *Config) { c.HTTPChallenge.EntryPoint = "websecure" }, `"websecure" is not an entry point`},
		{func(c *Config) { c.ClientTimeout = time.Second }, "clientTimeout must be at least"},
		{func(c *Config) { c.Storage, c.StorageSet = "", true }, "storage is empty"},
	} {
		c := NewConfig("le")
		c.HTTPChallenge = &HTTPChallenge{EntryPoint: "web"}
		tc.mod(c)
		if err := c.Validate(eps); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "certificatesResolvers.le.acme") {
			t.Errorf("want %q, got %v", tc.want, err)
		}
	}
	c = NewConfig("le")
	c.HTTPChallenge = &HTTPChallenge{}
	if err := c.challengeError(); err == nil || !strings.Contains(err.Error(), "httpChallenge has no entryPoint") {
		t.Errorf("challenge: %v", err)
	}
	c.TLSChallenge = &TLSChallenge{}
	if err := c.challengeError(); err != nil {
		t.Errorf("tlsChallenge: %v", err)
	}
}

// The file store keeps Traefik's acme.json, refuses a file others can
// read, and drops entries without certificate, as Traefik.
func TestFileStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "acme.json")
	s := NewFileStore(path)
	if a, certs, err := s.Load(ctx, "le"); err != nil || a != nil || len(certs) != 0 {
		t.Fatalf("empty store: %v %v %v", a, certs, err)
	}
	if err := s.SaveAccount(ctx, "le", &Account{Email: "a@b.test", PrivateKey: []byte{1, 2}}); err != nil {
		t.Fatal(err)
	}
	c1 := &CertAndStore{Domain: Domain{Main: "a.test"}, Certificate: []byte("C1"), Key: []byte("K1"), Store: "default"}
	c2 := &CertAndStore{Domain: Domain{Main: "a.test"}, Certificate: []byte("C2"), Key: []byte("K2"), Store: "default"}
	other := &CertAndStore{Domain: Domain{Main: "b.test"}, Certificate: []byte("C3"), Key: []byte("K3"), Store: "default"}
	for _, c := range []*CertAndStore{c1, other, c2} {
		if err := s.SaveCertificate(ctx, "le", c); err != nil {
			t.Fatal(err)
		}
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %o", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	for _, want := range []string{`"le": {`, `"Account": {`, `"Email": "a@b.test"`, `"Certificates": [`, `"domain": {`, `"main": "a.test"`, `"certificate": "QzI="`, `"Store": "default"`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("acme.json lacks %s:\n%s", want, data)
		}
	}
	a, certs, err := NewFileStore(path).Load(ctx, "le")
	if err != nil || a.Email != "a@b.test" || len(certs) != 2 || string(certs[0].Certificate) != "C2" || certs[1].Domain.Main != "b.test" {
		t.Fatalf("reloaded: %+v %v %v", a, certs, err)
	}
	// Traefik's files: an entry without key is dropped.
	os.WriteFile(path, []byte(`{"le":{"Account":null,"Certificates":[{"domain":{"main":"x.test"},"certificate":"QzE=","key":"","Store":"default"}]}}`), 0o600)
	if _, certs, err := NewFileStore(path).Load(ctx, "le"); err != nil || len(certs) != 0 {
		t.Errorf("empty key kept: %v %v", certs, err)
	}
	os.Chmod(path, 0o644)
	if _, _, err := NewFileStore(path).Load(ctx, "le"); err == nil || !strings.Contains(err.Error(), "too open") {
		t.Errorf("0644 file: %v", err)
	}
}
