package translate

import (
	"crypto/tls"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/k8swatch/crd"
)

// tlsOptionsName is Traefik's name for a TLSOption: "default" for the one
// named default (in any namespace), else "ns-name@kubernetescrd".
func tlsOptionsName(ns, name string) string {
	if name == spec.DefaultTLSOptions {
		return spec.DefaultTLSOptions
	}
	return Normalize(ns+"-"+name) + ProviderSuffix
}

// tlsObjects translates TLSOptions and the TLSStore named default into
// snap.TLS. Run before the IngressRoutes, which refer to them.
func (t *translator) tlsObjects() {
	t.tlsOptions = map[string]bool{spec.DefaultTLSOptions: true}
	opts := map[string]*spec.TLSOptions{}
	var defaults []*crd.TLSOption
	for _, o := range t.objs.TLSOptions {
		if o.Name == spec.DefaultTLSOptions {
			defaults = append(defaults, o)
			continue
		}
		name := tlsOptionsName(o.Namespace, o.Name)
		t.tlsOptions[name] = true // referable even when invalid: the routers then fail
		if so, err := t.tlsOption(o); err != nil {
			t.problem(t.ref("TLSOption", o.Namespace, o.Name, 0), "%v", err)
			t.badOptions[name] = err
		} else {
			opts[name] = so
		}
	}
	switch len(defaults) {
	case 0:
	case 1:
		o := defaults[0]
		if so, err := t.tlsOption(o); err != nil {
			t.problem(t.ref("TLSOption", o.Namespace, o.Name, 0), "%v; the built-in default options are used", err)
		} else {
			opts[spec.DefaultTLSOptions] = so
		}
	default:
		for _, o := range defaults {
			t.problem(t.ref("TLSOption", o.Namespace, o.Name, 0),
				"TLSOption named default defined in %d namespaces; as Traefik, edgeroute uses the built-in default options", len(defaults))
		}
	}
	store := &spec.TLS{Options: opts}
	var stores []*crd.TLSStore
	for _, s := range t.objs.TLSStores {
		if s.Name != "default" {
			t.warn(t.ref("TLSStore", s.Namespace, s.Name, 0), "only the TLSStore named default is used (as in Traefik); this one is ignored")
			continue
		}
		stores = append(stores, s)
	}
	if len(stores) > 1 {
		for _, s := range stores {
			t.problem(t.ref("TLSStore", s.Namespace, s.Name, 0), "TLSStore named default defined in %d namespaces; as Traefik, edgeroute uses none of them", len(stores))
		}
		stores = nil
	}
	for _, s := range stores {
		ref := t.ref("TLSStore", s.Namespace, s.Name, 0)
		if c := s.Spec.DefaultCertificate; c != nil {
			if cert, err := t.certificate(s.Namespace, c.SecretName); err != nil {
				t.problem(ref, "defaultCertificate: %v", err)
			} else {
				store.Default = cert
			}
		}
		if g := s.Spec.DefaultGeneratedCert; g != nil {
			switch {
			case s.Spec.DefaultCertificate != nil:
				// As Traefik: the Secret wins.
				t.warn(ref, "defaultCertificate and defaultGeneratedCert cannot be defined at the same time; defaultCertificate is used")
			case g.Domain == nil || g.Resolver == "" || g.Domain.Main == "" && len(g.Domain.SANs) == 0:
				t.warn(ref, "defaultGeneratedCert: the domain or the resolver is missing; it is ignored")
			default:
				store.DefaultGenerated = &spec.GeneratedCert{Ref: ref, Resolver: g.Resolver,
					Domain: spec.Domain{Main: g.Domain.Main, SANs: g.Domain.SANs}}
			}
		}
		for _, c := range s.Spec.Certificates {
			if cert, err := t.certificate(s.Namespace, c.SecretName); err != nil {
				t.problem(ref, "certificates: %v", err)
			} else {
				store.Certificates = append(store.Certificates, *cert)
			}
		}
	}
	t.snap.TLS = store
}

// certificate reads a kubernetes.io/tls Secret. The engine parses the key
// pair (and reports a bad one on the Secret); as in Traefik, a router
// whose certificate does not parse still serves, with the default one.
func (t *translator) certificate(ns, name string) (*spec.Certificate, error) {
	s := t.secrets[key(ns, name)]
	t.deps.secrets[key(ns, name)] = true
	if s == nil {
		return nil, fmt.Errorf("secret %s/%s not found", ns, name)
	}
	crt, k := s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey]
	if len(crt) == 0 || len(k) == 0 {
		return nil, fmt.Errorf("secret %s/%s has no %s and %s", ns, name, corev1.TLSCertKey, corev1.TLSPrivateKeyKey)
	}
	return &spec.Certificate{Ref: t.ref("Secret", ns, name, 0), CertPEM: crt, KeyPEM: k}, nil
}

var tlsVersions = map[string]uint16{
	"VersionTLS10": tls.VersionTLS10, "VersionTLS11": tls.VersionTLS11,
	"VersionTLS12": tls.VersionTLS12, "VersionTLS13": tls.VersionTLS13,
}

// Traefik's curve names (its CurveIDs map) and Go's.
var tlsCurves = map[string]tls.CurveID{
	"secp256r1": tls.CurveP256, "CurveP256": tls.CurveP256,
	"secp384r1": tls.CurveP384, "CurveP384": tls.CurveP384,
	"secp521r1": tls.CurveP521, "CurveP521": tls.CurveP521,
	"x25519": tls.X25519, "X25519": tls.X25519,
	"X25519MLKEM768": tls.X25519MLKEM768,
}

// cipherSuites are the cipher suite names Traefik accepts (TLSOption and
// ServersTransport): Go's, and beyond them (its pkg/tls/cipher.go) the
// legacy ChaCha20 names and the fallback signalling value, which a server
// never selects (and a client leaves out).
var cipherSuites = func() map[string]uint16 {
	suites := map[string]uint16{}
	for _, c := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		suites[c.Name] = c.ID
	}
	suites["TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305"] = tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305
	suites["TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305"] = tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305
	suites["TLS_FALLBACK_SCSV"] = tls.TLS_FALLBACK_SCSV
	return suites
}()

var clientAuthTypes = map[string]bool{
	"": true, crd.NoClientCert: true, crd.RequestClientCert: true, crd.RequireAnyClientCert: true,
	crd.VerifyClientCertIfGiven: true, crd.RequireAndVerifyClientCert: true,
}

// tlsOption validates a TLSOption; every field is enforced or refused.
func (t *translator) tlsOption(o *crd.TLSOption) (*spec.TLSOptions, error) {
	s := o.Spec
	out := &spec.TLSOptions{Ref: t.ref("TLSOption", o.Namespace, o.Name, 0), SniStrict: s.SniStrict,
		ALPNProtocols: s.ALPNProtocols, DisableSessionTickets: s.DisableSessionTickets, ClientAuthType: s.ClientAuth.ClientAuthType}
	for _, v := range []struct {
		field, val string
		dst        *uint16
	}{{"minVersion", s.MinVersion, &out.MinVersion}, {"maxVersion", s.MaxVersion, &out.MaxVersion}} {
		if v.val == "" {
			continue
		}
		n, ok := tlsVersions[v.val]
		if !ok {
			return nil, fmt.Errorf("%s %q: not one of VersionTLS10, VersionTLS11, VersionTLS12, VersionTLS13", v.field, v.val)
		}
		*v.dst = n
	}
	if out.MinVersion != 0 && out.MaxVersion != 0 && out.MinVersion > out.MaxVersion {
		return nil, fmt.Errorf("minVersion %s is above maxVersion %s", s.MinVersion, s.MaxVersion)
	}
	for _, name := range s.CipherSuites {
		id, ok := cipherSuites[name]
		if !ok {
			return nil, fmt.Errorf("cipherSuites: unknown suite %q", name)
		}
		out.CipherSuites = append(out.CipherSuites, id)
	}
	for _, name := range s.CurvePreferences {
		id, ok := tlsCurves[name]
		if !ok {
			return nil, fmt.Errorf("curvePreferences: unknown curve %q", name)
		}
		out.CurvePreferences = append(out.CurvePreferences, uint16(id))
	}
	if !clientAuthTypes[s.ClientAuth.ClientAuthType] {
		return nil, fmt.Errorf("clientAuth.clientAuthType %q: not one of NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert", s.ClientAuth.ClientAuthType)
	}
	for _, name := range s.ClientAuth.SecretNames {
		sec := t.secrets[key(o.Namespace, name)]
		t.deps.secrets[key(o.Namespace, name)] = true
		if sec == nil {
			return nil, fmt.Errorf("clientAuth: secret %s/%s not found", o.Namespace, name)
		}
		// Traefik reads tls.ca, else ca.crt.
		ca := sec.Data["tls.ca"]
		if len(ca) == 0 {
			ca = sec.Data["ca.crt"]
		}
		if len(ca) == 0 {
			return nil, fmt.Errorf("clientAuth: secret %s/%s has no tls.ca or ca.crt", o.Namespace, name)
		}
		out.ClientCAs = append(out.ClientCAs, ca)
	}
	needCAs := s.ClientAuth.ClientAuthType == crd.VerifyClientCertIfGiven || s.ClientAuth.ClientAuthType == crd.RequireAndVerifyClientCert
	if needCAs && len(out.ClientCAs) == 0 {
		return nil, fmt.Errorf("clientAuth.clientAuthType %s needs clientAuth.secretNames with the CA certificates", s.ClientAuth.ClientAuthType)
	}
	return out, nil
}

// routerTLS resolves an IngressRoute's tls block for its routers.
func (t *translator) routerTLS(ir *crd.IngressRoute) (*spec.RouterTLS, error) {
	tl := ir.Spec.TLS
	if tl.SecretName != "" {
		cert, err := t.certificate(ir.Namespace, tl.SecretName)
		if err != nil {
			return nil, fmt.Errorf("tls.secretName: %w", err)
		}
		t.addCertificate(*cert)
	}
	out := &spec.RouterTLS{Options: spec.DefaultTLSOptions, CertResolver: tl.CertResolver}
	for _, d := range tl.Domains {
		out.Domains = append(out.Domains, spec.Domain{Main: d.Main, SANs: d.SANs})
	}
	if o := tl.Options; o != nil && o.Name != "" {
		if strings.Contains(o.Name, "@") {
			return nil, fmt.Errorf("tls.options %q: cross-provider references are not supported", o.Name)
		}
		ns := o.Namespace
		if ns == "" {
			ns = ir.Namespace
		}
		if ns != ir.Namespace && !t.opts.AllowCrossNamespace {
			return nil, fmt.Errorf("tls.options %s/%s: cross-namespace references are not allowed", ns, o.Name)
		}
		name := tlsOptionsName(ns, o.Name)
		if !t.tlsOptions[name] {
			return nil, fmt.Errorf("tls.options: TLSOption %s/%s not found", ns, o.Name)
		}
		if err := t.badOptions[name]; err != nil {
			return nil, fmt.Errorf("tls.options: TLSOption %s/%s is invalid: %v", ns, o.Name, err)
		}
		out.Options = name
	}
	if tl.Store != nil && tl.Store.Name != "" && tl.Store.Name != "default" {
		t.warn(t.ref("IngressRoute", ir.Namespace, ir.Name, 0), "tls.store %q is ignored: as in Traefik, certificates come from the store named default", tl.Store.Name)
	}
	return out, nil
}

// addCertificate adds a router's certificate once.
func (t *translator) addCertificate(c spec.Certificate) {
	for _, have := range t.snap.TLS.Certificates {
		if have.Ref.Namespace == c.Ref.Namespace && have.Ref.Name == c.Ref.Name {
			return
		}
	}
	t.snap.TLS.Certificates = append(t.snap.TLS.Certificates, c)
}

// finishTLS orders the certificates (the input order does not matter).
func (t *translator) finishTLS() {
	cs := t.snap.TLS.Certificates
	sort.SliceStable(cs, func(i, j int) bool {
		return cs[i].Ref.Namespace+"/"+cs[i].Ref.Name < cs[j].Ref.Namespace+"/"+cs[j].Ref.Name
	})
}
