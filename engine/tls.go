package engine

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"slices"

	"github.com/edgeroute/edgeroute/compile/spec"
	"github.com/edgeroute/edgeroute/tlsmux"
)

// clientAuthTypes maps Traefik's names to crypto/tls's.
var clientAuthTypes = map[string]tls.ClientAuthType{
	"":                           tls.NoClientCert,
	"NoClientCert":               tls.NoClientCert,
	"RequestClientCert":          tls.RequestClientCert,
	"RequireAnyClientCert":       tls.RequireAnyClientCert,
	"VerifyClientCertIfGiven":    tls.VerifyClientCertIfGiven,
	"RequireAndVerifyClientCert": tls.RequireAndVerifyClientCert,
}

// alpnDefault is what edgeroute offers when the options name no protocols:
// Traefik's list without acme-tls/1 (edgeroute has no ACME).
var alpnDefault = []string{"h2", "http/1.1"}

// tlsConfigs turns a snapshot's TLS configuration into one tlsmux.Config
// per entry point (they differ only in their host → options maps).
// Certificates and options that cannot be used are reported and left
// out; options that fail refuse every handshake that would use them, as
// Traefik's "closing" route does.
func tlsConfigs(t *spec.TLS, rt *Runtime) (map[string]*tlsmux.Config, []spec.Problem) {
	var problems []spec.Problem
	report := func(ref spec.Ref, format string, args ...any) {
		problems = append(problems, spec.Problem{Ref: ref, Err: fmt.Errorf(format, args...)})
	}
	base := tlsmux.Config{Options: map[string]*tlsmux.Options{}}
	if t == nil {
		t = &spec.TLS{}
	}
	for _, c := range t.Certificates {
		cert, err := tlsmux.ParseCertificate(c.CertPEM, c.KeyPEM)
		if err != nil {
			report(c.Ref, "certificate: %v", err)
			continue
		}
		base.Certificates = append(base.Certificates, tlsmux.Certificate{Cert: cert, Source: c.Ref.String()})
	}
	if c := t.Default; c != nil {
		if cert, err := tlsmux.ParseCertificate(c.CertPEM, c.KeyPEM); err != nil {
			report(c.Ref, "default certificate: %v; the generated one is served", err)
		} else {
			base.Default = &tlsmux.Certificate{Cert: cert, Source: c.Ref.String()}
		}
	}
	names := []string{spec.DefaultTLSOptions}
	for name := range t.Options {
		if name != spec.DefaultTLSOptions {
			names = append(names, name)
		}
	}
	for _, name := range names {
		o := t.Options[name]
		if o == nil {
			o = &spec.TLSOptions{}
		}
		opts, err := tlsOptions(o)
		if err != nil {
			report(o.Ref, "TLS options %s: %v; handshakes that would use them are refused", name, err)
			opts = refuseAll()
		}
		base.Options[name] = opts
	}
	out := map[string]*tlsmux.Config{}
	for name, er := range rt.secure {
		c := base
		c.HostOptions = er.hostOptions
		out[name] = &c
	}
	return out, problems
}

func tlsOptions(o *spec.TLSOptions) (*tlsmux.Options, error) {
	out := &tlsmux.Options{MinVersion: o.MinVersion, MaxVersion: o.MaxVersion, CipherSuites: o.CipherSuites,
		SniStrict: o.SniStrict, DisableSessionTickets: o.DisableSessionTickets, ALPNProtocols: alpnDefault}
	if out.MinVersion == 0 {
		out.MinVersion = tls.VersionTLS12
	}
	for _, c := range o.CurvePreferences {
		out.CurvePreferences = append(out.CurvePreferences, tls.CurveID(c))
	}
	if len(o.ALPNProtocols) > 0 {
		out.ALPNProtocols = o.ALPNProtocols
		if slices.Contains(o.ALPNProtocols, "acme-tls/1") {
			// Offered by Traefik's default list; without ACME it would
			// only let a client pick a protocol nobody answers.
			out.ALPNProtocols = slices.DeleteFunc(slices.Clone(o.ALPNProtocols), func(p string) bool { return p == "acme-tls/1" })
		}
	}
	auth, ok := clientAuthTypes[o.ClientAuthType]
	if !ok {
		return nil, fmt.Errorf("unknown clientAuthType %q", o.ClientAuthType)
	}
	out.ClientAuth = auth
	if len(o.ClientCAs) > 0 {
		out.ClientCAs = x509.NewCertPool()
		for i, pem := range o.ClientCAs {
			if !out.ClientCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("clientAuth: CA bundle %d holds no PEM certificate", i+1)
			}
		}
	}
	return out, nil
}

// refuseAll are options no client can satisfy: a client certificate is
// required and must verify against an empty pool.
func refuseAll() *tlsmux.Options {
	return &tlsmux.Options{MinVersion: tls.VersionTLS13, ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs: x509.NewCertPool(), ALPNProtocols: alpnDefault}
}
