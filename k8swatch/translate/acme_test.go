package translate

import (
	"slices"
	"strings"
	"testing"
)

// tls.certResolver and tls.domains reach the routers; the TLSStore's
// defaultGeneratedCert reaches the snapshot, unless defaultCertificate is
// set too (Traefik's precedence) or it lacks a resolver or domain.
func TestACMETranslation(t *testing.T) {
	snap := Snapshot(decode(t, tlsBase+route("a", "{certResolver: le, domains: [{main: a.test, sans: [www.a.test]}]}")+route("b", "{certResolver: le}")+`---
apiVersion: traefik.io/v1alpha1
kind: TLSStore
metadata: {name: default, namespace: default}
spec:
  defaultGeneratedCert: {resolver: le, domain: {main: default.test, sans: [x.test]}}
`), Options{})
	byName := map[string]int{}
	for i, r := range snap.Routers {
		byName[r.Ref.Name] = i
	}
	a := snap.Routers[byName["a"]].TLS
	if a == nil || a.CertResolver != "le" || len(a.Domains) != 1 || a.Domains[0].Main != "a.test" || !slices.Equal(a.Domains[0].SANs, []string{"www.a.test"}) {
		t.Fatalf("router a: %+v", a)
	}
	if b := snap.Routers[byName["b"]].TLS; b == nil || b.CertResolver != "le" || len(b.Domains) != 0 {
		t.Fatalf("router b: %+v", b)
	}
	g := snap.TLS.DefaultGenerated
	if g == nil || g.Resolver != "le" || g.Domain.Main != "default.test" || !slices.Equal(g.Domain.SANs, []string{"x.test"}) || g.Ref.Kind != "TLSStore" {
		t.Fatalf("defaultGeneratedCert: %+v", g)
	}

	crt, key := certPEM(t, "d.test")
	for _, tc := range []struct{ spec, want string }{
		{"{defaultCertificate: {secretName: d}, defaultGeneratedCert: {resolver: le, domain: {main: a.test}}}", "cannot be defined at the same time"},
		{"{defaultGeneratedCert: {resolver: le}}", "domain or the resolver is missing"},
		{"{defaultGeneratedCert: {domain: {main: a.test}}}", "domain or the resolver is missing"},
	} {
		snap := Snapshot(decode(t, secret("d", crt, key)+"---\napiVersion: traefik.io/v1alpha1\nkind: TLSStore\nmetadata: {name: default, namespace: default}\nspec: "+tc.spec+"\n"), Options{})
		var all []string
		for _, p := range snap.Problems {
			all = append(all, p.Error())
		}
		if snap.TLS.DefaultGenerated != nil || !strings.Contains(strings.Join(all, "\n"), tc.want) {
			t.Errorf("%s: generated %+v, problems %q", tc.spec, snap.TLS.DefaultGenerated, all)
		}
	}
}
