package tlsmux

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"
)

// optionsStore serves one certificate for *.example.com and the given
// options, with HostOptions mapping "<name>.example.com" to each option
// name except "default".
func optionsStore(t *testing.T, opts map[string]*Options) (*Store, *tlsServer) {
	s, srv, _ := optionsStoreConfig(t, opts)
	return s, srv
}

func optionsStoreConfig(t *testing.T, opts map[string]*Options) (*Store, *tlsServer, *Config) {
	t.Helper()
	ca := newCA(t, "options CA")
	hosts := map[string]string{}
	for name := range opts {
		if name != "default" {
			hosts[name+".example.com"] = name
		}
	}
	c := &Config{
		Certificates: []Certificate{ca.server(t, "*.example.com")},
		Options:      opts,
		HostOptions:  hosts,
	}
	s := newStore(t, c)
	return s, startTLSServer(t, s, true), c
}

func TestOptionsByHost(t *testing.T) {
	_, srv := optionsStore(t, map[string]*Options{
		"default": {},
		"tls12":   {MaxVersion: tls.VersionTLS12},
	})
	for _, tc := range []struct {
		sni     string
		version uint16
	}{
		{"tls12.example.com", tls.VersionTLS12},
		{"TLS12.Example.COM", tls.VersionTLS12}, // case-insensitive host
		{"other.example.com", tls.VersionTLS13}, // "default"
		{"", tls.VersionTLS13},                  // no SNI: "default"
	} {
		st, err, _ := srv.roundTrip(t, insecure(tc.sni))
		if err != nil {
			t.Fatalf("%q: %v", tc.sni, err)
		}
		if st.Version != tc.version {
			t.Errorf("%q: %s, want %s", tc.sni, tls.VersionName(st.Version), tls.VersionName(tc.version))
		}
	}
}

func TestOptionsFor(t *testing.T) {
	s := newStore(t, nil)
	err := s.Swap(&Config{
		Options: map[string]*Options{"default": {}, "strict": {SniStrict: true}, "modern": {}},
		HostOptions: map[string]string{
			"a.test":  "strict",
			"B.Test":  "modern", // keys are folded too
			"c.test.": "modern",
			"d.test":  "missing",
		},
	})
	if err == nil || !strings.Contains(err.Error(), `"missing"`) {
		t.Errorf("Swap: %v", err)
	}
	for name, want := range map[string]string{
		"a.test":                 "strict",
		"A.TEST":                 "strict",
		"a.test.":                "strict", // Host header in FQDN form
		"b.test":                 "modern",
		"c.test":                 "modern",
		"d.test":                 "default", // undefined options
		"x.a.test":               "default", // exact hosts only
		"":                       "default",
		"unknown":                "default",
		strings.Repeat("a", 300): "default", // longer than any DNS name
	} {
		if got := s.OptionsFor(name); got != want {
			t.Errorf("OptionsFor(%.20q) = %q, want %q", name, got, want)
		}
	}
	// Missing "default": built-in defaults, still named "default".
	s.Swap(&Config{Options: map[string]*Options{"x": {}}, HostOptions: map[string]string{"x.test": "x"}})
	if got := s.OptionsFor("y.test"); got != "default" {
		t.Errorf("without a default: %q", got)
	}
	if got := s.OptionsFor("X.test"); got != "x" {
		t.Errorf("x.test: %q", got)
	}
}

func TestBuiltinDefaultOptions(t *testing.T) {
	// No "default" options: TLS 1.2 minimum, http/1.1.
	_, srv := optionsStore(t, map[string]*Options{"other": {}})
	if _, err, res := srv.roundTrip(t, &tls.Config{ServerName: "a.example.com", InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}); err == nil || res.err == nil {
		t.Errorf("TLS 1.1 client accepted by the built-in defaults (client %v, server %v)", err, res.err)
	}
	cfg := insecure("a.example.com")
	cfg.NextProtos = []string{"h2", "http/1.1"}
	st, err, _ := srv.roundTrip(t, cfg)
	if err != nil || st.Version != tls.VersionTLS13 || st.NegotiatedProtocol != "http/1.1" {
		t.Errorf("modern client: %v, %s, ALPN %q", err, tls.VersionName(st.Version), st.NegotiatedProtocol)
	}
}

func TestMinMaxVersion(t *testing.T) {
	_, srv := optionsStore(t, map[string]*Options{
		"default": {}, // minimum TLS 1.2
		"legacy":  {MinVersion: tls.VersionTLS10},
		"tls12":   {MaxVersion: tls.VersionTLS12},
		"tls13":   {MinVersion: tls.VersionTLS13},
	})
	tls11 := func(sni string) *tls.Config {
		c := insecure(sni)
		c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
		return c
	}
	tls13 := func(sni string) *tls.Config {
		c := insecure(sni)
		c.MinVersion = tls.VersionTLS13
		return c
	}
	tls12 := func(sni string) *tls.Config {
		c := insecure(sni)
		c.MaxVersion = tls.VersionTLS12
		return c
	}
	for _, tc := range []struct {
		name    string
		cfg     *tls.Config
		version uint16 // 0: refused
	}{
		{"TLS 1.1 client, min 1.2", tls11("a.example.com"), 0},
		{"TLS 1.1 client, min 1.0", tls11("legacy.example.com"), tls.VersionTLS11},
		{"TLS 1.3-only client, max 1.2", tls13("tls12.example.com"), 0},
		{"TLS 1.3-only client, default", tls13("a.example.com"), tls.VersionTLS13},
		{"any client, max 1.2", insecure("tls12.example.com"), tls.VersionTLS12},
		{"TLS 1.2 client, min 1.3", tls12("tls13.example.com"), 0},
		{"TLS 1.2 client, default", tls12("a.example.com"), tls.VersionTLS12},
	} {
		st, err, res := srv.roundTrip(t, tc.cfg)
		if tc.version == 0 {
			if err == nil || res.err == nil {
				t.Errorf("%s: accepted with %s", tc.name, tls.VersionName(st.Version))
			} else if !strings.Contains(res.err.Error(), "version") {
				t.Errorf("%s: server error %v, want a version error", tc.name, res.err)
			}
			continue
		}
		if err != nil || res.err != nil {
			t.Errorf("%s: refused: client %v, server %v", tc.name, err, res.err)
		} else if st.Version != tc.version {
			t.Errorf("%s: %s, want %s", tc.name, tls.VersionName(st.Version), tls.VersionName(tc.version))
		}
	}
}

func TestCipherSuites(t *testing.T) {
	const (
		aes256 = tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
		chacha = tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
	)
	_, srv := optionsStore(t, map[string]*Options{
		"default": {CipherSuites: []uint16{aes256}},
		// TLS 1.3 IDs are ignored: they neither break TLS 1.2 selection
		// nor restrict TLS 1.3.
		"mixed":  {CipherSuites: []uint16{tls.TLS_AES_128_GCM_SHA256, chacha}},
		"only13": {CipherSuites: []uint16{tls.TLS_AES_256_GCM_SHA384}},
	})
	tls12 := func(sni string, suites ...uint16) *tls.Config {
		c := insecure(sni)
		c.MaxVersion = tls.VersionTLS12
		c.CipherSuites = suites
		return c
	}
	for _, tc := range []struct {
		name  string
		cfg   *tls.Config
		suite uint16 // 0: refused
	}{
		{"configured suite offered", tls12("a.example.com"), aes256},
		{"configured suite not offered", tls12("a.example.com", chacha), 0},
		{"TLS 1.3 ID ignored for 1.2", tls12("mixed.example.com"), chacha},
		{"TLS 1.3 not restricted", insecure("mixed.example.com"), 0x1301},
		{"only TLS 1.3 IDs: no TLS 1.2 suite", tls12("only13.example.com"), 0},
		{"only TLS 1.3 IDs: TLS 1.3 works", insecure("only13.example.com"), 0x1301},
	} {
		st, err, res := srv.roundTrip(t, tc.cfg)
		switch {
		case tc.suite == 0 && (err == nil || res.err == nil):
			t.Errorf("%s: accepted with %s", tc.name, tls.CipherSuiteName(st.CipherSuite))
		case tc.suite == 0:
		case err != nil || res.err != nil:
			t.Errorf("%s: refused: client %v, server %v", tc.name, err, res.err)
		case tc.suite == 0x1301 && st.Version != tls.VersionTLS13:
			t.Errorf("%s: %s", tc.name, tls.VersionName(st.Version))
		case tc.suite != 0x1301 && st.CipherSuite != tc.suite:
			t.Errorf("%s: %s, want %s", tc.name, tls.CipherSuiteName(st.CipherSuite), tls.CipherSuiteName(tc.suite))
		}
	}
}

func TestCurvePreferences(t *testing.T) {
	_, srv := optionsStore(t, map[string]*Options{
		"default": {CurvePreferences: []tls.CurveID{tls.CurveP384}},
	})
	st, err, _ := srv.roundTrip(t, insecure("a.example.com"))
	if err != nil || st.CurveID != tls.CurveP384 {
		t.Errorf("default client: %v, curve %v", err, st.CurveID)
	}
	c := insecure("a.example.com")
	c.CurvePreferences = []tls.CurveID{tls.X25519}
	if _, err, res := srv.roundTrip(t, c); err == nil || res.err == nil {
		t.Error("X25519-only client accepted")
	}
}

func TestALPN(t *testing.T) {
	_, srv := optionsStore(t, map[string]*Options{
		"default": {},
		"h2":      {ALPNProtocols: []string{"h2", "http/1.1", "acme-tls/1"}},
	})
	for _, tc := range []struct {
		sni    string
		client []string
		want   string // "!": refused
	}{
		{"h2.example.com", []string{"http/1.1", "h2"}, "h2"}, // server preference
		{"h2.example.com", []string{"http/1.1"}, "http/1.1"},
		{"h2.example.com", nil, ""},
		{"h2.example.com", []string{"spdy/3"}, "!"}, // no overlap
		{"a.example.com", []string{"h2", "http/1.1"}, "http/1.1"},
		{"a.example.com", []string{"h2"}, "!"},
	} {
		c := insecure(tc.sni)
		c.NextProtos = tc.client
		st, err, res := srv.roundTrip(t, c)
		if tc.want == "!" {
			if err == nil || res.err == nil {
				t.Errorf("%s %q: accepted with %q", tc.sni, tc.client, st.NegotiatedProtocol)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %q: %v", tc.sni, tc.client, err)
		} else if st.NegotiatedProtocol != tc.want {
			t.Errorf("%s %q: negotiated %q, want %q", tc.sni, tc.client, st.NegotiatedProtocol, tc.want)
		}
	}
}

func TestSessionTickets(t *testing.T) {
	s, srv, cfg := optionsStoreConfig(t, map[string]*Options{
		"default":   {},
		"noticket":  {DisableSessionTickets: true},
		"noticket2": {DisableSessionTickets: true, MaxVersion: tls.VersionTLS12},
	})
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		// resumes dials twice with a session cache and reports whether the
		// second handshake resumed; swap runs between the two.
		resumes := func(sni string, swap func()) bool {
			c := insecure(sni)
			c.MaxVersion = version
			c.ClientSessionCache = tls.NewLRUClientSessionCache(4)
			if _, err := srv.dial(t, c); err != nil {
				t.Fatal(err)
			}
			<-srv.results
			swap()
			st, err := srv.dial(t, c)
			if err != nil {
				t.Fatal(err)
			}
			res := <-srv.results
			if st.DidResume != res.state.DidResume {
				t.Fatalf("client resumed %v, server %v", st.DidResume, res.state.DidResume)
			}
			return st.DidResume
		}
		name := tls.VersionName(version)
		if !resumes("a.example.com", func() {}) {
			t.Errorf("%s: tickets enabled but no resumption", name)
		}
		if resumes("noticket.example.com", func() {}) {
			t.Errorf("%s: resumed with tickets disabled", name)
		}
		if resumes("noticket2.example.com", func() {}) {
			t.Errorf("%s: resumed with tickets disabled (max 1.2)", name)
		}
		// The ticket keys belong to ServerConfig, not to a snapshot.
		if !resumes("b.example.com", func() { s.Swap(cfg) }) {
			t.Errorf("%s: a swap broke resumption", name)
		}
	}
}

func TestSniStrict(t *testing.T) {
	ca := newCA(t, "strict CA")
	s := newStore(t, &Config{
		Certificates: []Certificate{ca.server(t, "known.test"), ca.server(t, "*.wild.test")},
		Options: map[string]*Options{
			"default": {SniStrict: true},
			"lenient": {},
		},
		HostOptions: map[string]string{"lenient.test": "lenient"},
	})
	srv := startTLSServer(t, s, true)
	for _, tc := range []struct {
		sni string
		ok  bool
	}{
		{"known.test", true},
		{"KNOWN.test", true},
		{"a.wild.test", true},
		{"unknown.test", false},
		{"a.b.wild.test", false},
		{"", false},            // no SNI
		{"lenient.test", true}, // not strict: default certificate
	} {
		st, err, res := srv.roundTrip(t, insecure(tc.sni))
		if tc.ok {
			if err != nil {
				t.Errorf("%q refused: %v", tc.sni, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%q accepted, served %q", tc.sni, servedName(st))
		} else if !errors.Is(res.err, ErrStrictSNI) {
			t.Errorf("%q: server error %v, want ErrStrictSNI", tc.sni, res.err)
		}
	}
}
