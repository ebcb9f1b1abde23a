package tlsmux

import (
	"crypto/tls"
	"testing"
)

// TestClientAuth checks each ClientAuthType against a client without a
// certificate, with one from the trusted CA and with one from another CA,
// in TLS 1.2 and 1.3.
func TestClientAuth(t *testing.T) {
	trusted := newCA(t, "trusted client CA")
	other := newCA(t, "other client CA")
	serverCA := newCA(t, "server CA")
	goodCert := trusted.client(t, "good client")
	badCert := other.client(t, "bad client")

	opts := map[string]*Options{"default": {}}
	hosts := map[string]string{}
	types := []tls.ClientAuthType{
		tls.NoClientCert,
		tls.RequestClientCert,
		tls.RequireAnyClientCert,
		tls.VerifyClientCertIfGiven,
		tls.RequireAndVerifyClientCert,
	}
	for _, typ := range types {
		opts[typ.String()] = &Options{ClientAuth: typ, ClientCAs: trusted.pool}
		hosts[typ.String()+".test"] = typ.String()
	}
	s := newStore(t, &Config{
		Certificates: []Certificate{serverCA.server(t, "*.test")},
		Options:      opts,
		HostOptions:  hosts,
	})
	srv := startTLSServer(t, s, true)

	const (
		none = iota
		good
		bad
	)
	// Go's semantics: Request* never verify; Require* need a certificate;
	// Verify* verify the certificate when there is one.
	accepted := map[tls.ClientAuthType][3]bool{
		tls.NoClientCert:               {none: true, good: true, bad: true},
		tls.RequestClientCert:          {none: true, good: true, bad: true},
		tls.RequireAnyClientCert:       {none: false, good: true, bad: true},
		tls.VerifyClientCertIfGiven:    {none: true, good: true, bad: false},
		tls.RequireAndVerifyClientCert: {none: false, good: true, bad: false},
	}
	certs := [3]*tls.Certificate{none: nil, good: &goodCert, bad: &badCert}
	names := [3]string{"no certificate", "trusted certificate", "untrusted certificate"}

	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for _, typ := range types {
			for who, cert := range certs {
				cfg := &tls.Config{
					ServerName: typ.String() + ".test",
					RootCAs:    serverCA.pool,
					MinVersion: version,
					MaxVersion: version,
					// Send the certificate whatever CAs the server names,
					// so that the untrusted one reaches the server.
					GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
						if cert == nil {
							return new(tls.Certificate), nil
						}
						return cert, nil
					},
				}
				_, clientErr, res := srv.roundTrip(t, cfg)
				want := accepted[typ][who]
				name := tls.VersionName(version) + " " + typ.String() + ", " + names[who]
				if got := res.err == nil; got != want {
					t.Errorf("%s: accepted %v, want %v (server: %v)", name, got, want, res.err)
					continue
				}
				if (clientErr == nil) != want {
					t.Errorf("%s: client error %v", name, clientErr)
				}
				if !want {
					continue
				}
				// The server sees the certificate exactly when it asked
				// for one and the client had one.
				gotCert := len(res.state.PeerCertificates) > 0
				wantCert := typ != tls.NoClientCert && cert != nil
				if gotCert != wantCert {
					t.Errorf("%s: server got a client certificate: %v", name, gotCert)
				}
				verified := len(res.state.VerifiedChains) > 0
				wantVerified := wantCert && typ >= tls.VerifyClientCertIfGiven
				if verified != wantVerified {
					t.Errorf("%s: verified chains: %v, want %v", name, verified, wantVerified)
				}
			}
		}
	}
}
