//go:build !race

// The race detector allocates on its own, so these guards only run in
// normal builds.

package tlsmux

import (
	"crypto/tls"
	"strings"
	"testing"
)

// TestSelectionAllocs guards the per-handshake selection path:
// GetConfigForClient, GetCertificate and OptionsFor allocate nothing, even
// for mixed-case names.
func TestSelectionAllocs(t *testing.T) {
	ca := newCA(t, "allocs CA")
	s := newStore(t, &Config{
		Certificates: []Certificate{ca.server(t, "exact.test"), ca.server(t, "*.wild.test")},
		Options:      map[string]*Options{"default": {}, "other": {}, "strict": {SniStrict: true}},
		HostOptions:  map[string]string{"exact.test": "other", "a.wild.test": "strict"},
	})
	cfg := s.ServerConfig()
	for _, sni := range []string{"exact.test", "EXACT.Test", "a.wild.test", "A.WILD.TEST", "unknown.test", "", "x." + strings.Repeat("a", 250)} {
		hello := &tls.ClientHelloInfo{ServerName: sni}
		var cert *tls.Certificate
		n := testing.AllocsPerRun(1000, func() {
			c, _ := cfg.GetConfigForClient(hello)
			cert, _ = c.GetCertificate(hello)
			_ = s.OptionsFor(sni)
		})
		if n != 0 {
			t.Errorf("SNI %.20q: %v allocations per selection", sni, n)
		}
		if cert == nil {
			t.Errorf("SNI %.20q: no certificate", sni)
		}
	}
}
