package tlsmux

import (
	"bytes"
	"crypto/tls"
	"sync"
	"sync/atomic"
	"testing"
)

// TestSwapDuringHandshakes swaps between two configurations while 200
// handshakes run. Configuration A serves certificate A with TLS 1.2 at most,
// B serves certificate B with TLS 1.3: every handshake must succeed and see
// one consistent snapshot (certificate A with TLS 1.2 or B with TLS 1.3).
func TestSwapDuringHandshakes(t *testing.T) {
	ca := newCA(t, "swap CA")
	certA, certB := ca.server(t, "swap.test"), ca.server(t, "swap.test", "*.swap.test")
	cfgA := &Config{
		Certificates: []Certificate{certA},
		Options:      map[string]*Options{"default": {MaxVersion: tls.VersionTLS12}},
	}
	cfgB := &Config{
		Certificates: []Certificate{certB},
		Options:      map[string]*Options{"default": {MinVersion: tls.VersionTLS13}},
	}
	s := newStore(t, cfgA)
	srv := startTLSServer(t, s, false)

	stop := make(chan struct{})
	var swaps atomic.Int64
	var swapper sync.WaitGroup
	swapper.Add(1)
	go func() {
		defer swapper.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			c := cfgA
			if i%2 == 1 {
				c = cfgB
			}
			if err := s.Swap(c); err != nil {
				t.Error(err)
				return
			}
			swaps.Add(1)
		}
	}()

	const handshakes, workers = 200, 20
	var seenA, seenB atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range handshakes / workers {
				st, err := srv.dial(t, &tls.Config{ServerName: "swap.test", RootCAs: ca.pool})
				if err != nil {
					t.Errorf("worker %d: handshake failed: %v", w, err)
					return
				}
				switch raw := st.PeerCertificates[0].Raw; {
				case bytes.Equal(raw, certA.Cert.Certificate[0]) && st.Version == tls.VersionTLS12:
					seenA.Add(1)
				case bytes.Equal(raw, certB.Cert.Certificate[0]) && st.Version == tls.VersionTLS13:
					seenB.Add(1)
				default:
					t.Errorf("worker %d: inconsistent handshake: %s with certificate %q", w, tls.VersionName(st.Version), st.PeerCertificates[0].DNSNames)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	swapper.Wait()
	if n := seenA.Load() + seenB.Load(); n != handshakes && !t.Failed() {
		t.Errorf("%d handshakes counted, want %d", n, handshakes)
	}
	t.Logf("%d swaps; %d handshakes with A, %d with B", swaps.Load(), seenA.Load(), seenB.Load())
}
