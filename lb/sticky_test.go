package lb

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"net/http"
	"strconv"
	"testing"
)

func TestCookieName(t *testing.T) {
	cases := []struct{ name, service, want string }{
		// Traefik's pkg/server/cookie tests.
		{"", "/my/BACKEND-v1.0~rc1", "_5f7bc"},
		{"/my/BACKEND-v1.0~rc1", "", "_my_BACKEND-v1.0~rc1"},
		{"cookie", "backend", "cookie"},
		{"", "backend", "_76eb3"},
		{"!#$%&'()*+-./:<=>?@[]^_`{|}~", "", "!#$%&'__*+-._________^_`_|_~"},
		// Computed independently (sha1sum of "_TRAEFIK_BACKEND_" + name).
		{"", "default-whoami-80@kubernetes", "_1682a"},
		// Sanitising is per rune: one '_' for a two-byte character.
		{"café sess", "x", "caf__sess"},
	}
	for _, c := range cases {
		if got := CookieName(c.name, c.service); got != c.want {
			t.Errorf("CookieName(%q, %q) = %q, want %q", c.name, c.service, got, c.want)
		}
	}
	// The formula, for arbitrary service names.
	for i := range 50 {
		svc := fmt.Sprintf("ns-%d-svc-%d@kubernetescrd", i, i*i)
		sum := sha1.Sum([]byte("_TRAEFIK_BACKEND_" + svc))
		if want := "_" + hex.EncodeToString(sum[:])[:5]; CookieName("", svc) != want {
			t.Fatalf("CookieName(%q) = %q, want %q", svc, CookieName("", svc), want)
		}
	}
}

func TestCookieValue(t *testing.T) {
	// Computed independently with sha256sum.
	known := map[string]string{
		"http://10.42.0.7:80":     "d17ae3395a51adae",
		"first":                   "a7937b64b8caa58f",
		"whoami-v1@kubernetescrd": "a8ab91395f0455ab",
	}
	for key, want := range known {
		if got := CookieValue(key); got != want {
			t.Errorf("CookieValue(%q) = %q, want %q", key, got, want)
		}
		sum := sha256.Sum256([]byte(key))
		if got := CookieValue(key); got != hex.EncodeToString(sum[:])[:16] {
			t.Errorf("CookieValue(%q) = %q does not follow the formula", key, got)
		}
	}
	// Legacy FNV-1 values, computed independently.
	legacy := legacyCookieValues("http://10.42.0.7:80")
	if legacy != [3]string{"http://10.42.0.7:80", "63f1f8b170546cc3", "1c5820a44e111e3f"} {
		t.Errorf("legacy values = %q", legacy)
	}
	h := fnv.New64()
	h.Write([]byte("first"))
	if got, want := legacyCookieValues("first")[1], strconv.FormatUint(h.Sum64(), 16); got != want {
		t.Errorf("fnv value %q, want %q", got, want)
	}
}

// TestStickyLookup follows Traefik's TestSticky_StickyHandler.
func TestStickyLookup(t *testing.T) {
	eps := []*Endpoint{{Key: "first"}, {Key: "second"}}
	s := NewSticky(NewCookieSpec(CookieConfig{Name: "test"}, "svc"), eps)
	cases := []struct {
		desc       string
		value      string
		want       string
		wantLegacy bool
	}{
		{"wrong previous cookie", CookieValue("foo"), "", false},
		{"sha256 previous cookie", CookieValue("first"), "first", false},
		{"raw previous cookie", "first", "first", true},
		{"fnv previous cookie", fnvHex("first"), "first", true},
		{"double fnv previous cookie", fnvHex(fnvHex("second")), "second", true},
	}
	for _, c := range cases {
		ep, legacy := s.Lookup([]byte(c.value))
		got := ""
		if ep != nil {
			got = ep.Key
		}
		if got != c.want || legacy != c.wantLegacy {
			t.Errorf("%s: got (%q, %v), want (%q, %v)", c.desc, got, legacy, c.want, c.wantLegacy)
		}
	}
	if s.Spec().Name != "test" {
		t.Errorf("spec name %q", s.Spec().Name)
	}
}

func TestLookupCookieMatchesNetHTTP(t *testing.T) {
	headers := []string{
		"",
		"a=1",
		"sid=abc",
		"x=1; sid=abc; sid=def",
		"  sid = abc ;x=2",
		"sid=\"quoted\"",
		"sid=\"",
		"sid=\"\"",
		"sid=a b",
		"sid=a\\b; sid=ok",
		"sid=a\"b; sid=ok2",
		"s(d=1; sid=2",
		";;; sid=3;;",
		"sid",
		"sid=; sid=x",
		"sid=é; sid=ascii",
		"\tsid=tab\t",
		"other=sid=1; sid=2",
		"sid=x=y",
		"SID=upper; sid=lower",
	}
	for _, hdr := range headers {
		req := &http.Request{Header: http.Header{"Cookie": {hdr}}}
		want, err := req.Cookie("sid")
		got, ok := LookupCookie([]byte(hdr), "sid")
		if (err == nil) != ok || (ok && string(got) != want.Value) {
			t.Errorf("header %q: got (%q, %v), net/http (%v, %v)", hdr, got, ok, want, err)
		}
	}
	// net/http ignores every cookie beyond 3000 pairs.
	many := []byte("sid=1")
	for range 3000 {
		many = append(many, "; a=b"...)
	}
	if _, ok := LookupCookie(many, "sid"); ok {
		t.Error("cookie found in an over-long header")
	}
}

// stickyBalancers builds each sticky-capable balancer over eps.
func stickyBalancers(eps []*Endpoint, spec *CookieSpec) map[string]Balancer {
	return map[string]Balancer{
		"wrr": NewWRR(eps, Options{Sticky: spec}),
		"p2c": NewP2C(eps, Options{Sticky: spec}),
	}
}

func TestStickyBalancers(t *testing.T) {
	spec := NewCookieSpec(CookieConfig{}, "default-whoami-80@kubernetes")
	for name := range stickyBalancers(nil, nil) {
		t.Run(name, func(t *testing.T) {
			eps := ones(3)
			b := stickyBalancers(eps, &spec)[name]
			var h Hint

			// No cookie: a new pick sets one.
			ep, _ := b.Pick(&h)
			sc := h.SetCookies()
			if len(sc) != 1 || sc[0].Spec.Name != "_1682a" || sc[0].Value != CookieValue(ep.Key) {
				t.Fatalf("first pick %s set %+v", ep.Key, sc)
			}

			// The cookie sticks and is not rewritten.
			cookie := []byte("other=1; _1682a=" + sc[0].Value)
			for range 20 {
				h.Reset()
				h.Cookie = cookie
				if got, _ := b.Pick(&h); got != ep || len(h.SetCookies()) != 0 {
					t.Fatalf("sticky pick %s, cookies %+v; want %s", got.Key, h.SetCookies(), ep.Key)
				}
			}

			// Fencing does not break the session.
			fenced := *ep
			fenced.Fenced = true
			bf := stickyBalancers(replace(eps, ep, &fenced), &spec)[name]
			h.Reset()
			h.Cookie = cookie
			if got, _ := bf.Pick(&h); got != &fenced {
				t.Fatalf("fenced sticky target not kept: %v", got.Key)
			}
			if c := countKey(bf, fenced.Key, 50); c != 0 {
				t.Fatalf("fenced endpoint got %d new sessions", c)
			}

			// A legacy cookie is honoured and rewritten.
			h.Reset()
			h.Cookie = []byte("_1682a=" + ep.Key)
			if got, _ := b.Pick(&h); got != ep || len(h.SetCookies()) != 1 || h.SetCookies()[0].Value != CookieValue(ep.Key) {
				t.Fatalf("legacy cookie: got %s, cookies %+v", got.Key, h.SetCookies())
			}

			// An unknown value (endpoint gone after a rebuild) gets a new
			// pick and a new cookie.
			h.Reset()
			h.Cookie = []byte("_1682a=" + CookieValue("http://gone:80"))
			if got, _ := b.Pick(&h); got == nil || len(h.SetCookies()) != 1 || h.SetCookies()[0].Value != CookieValue(got.Key) {
				t.Fatalf("unknown cookie: cookies %+v", h.SetCookies())
			}

			// A down target is replaced and a new cookie is set.
			ep.State.SetUp(false)
			h.Reset()
			h.Cookie = cookie
			got, _ := b.Pick(&h)
			if got == ep || len(h.SetCookies()) != 1 || h.SetCookies()[0].Value != CookieValue(got.Key) {
				t.Fatalf("down target: got %s, cookies %+v", got.Key, h.SetCookies())
			}
		})
	}
}

func replace(eps []*Endpoint, old, repl *Endpoint) []*Endpoint {
	out := append([]*Endpoint(nil), eps...)
	for i := range out {
		if out[i] == old {
			out[i] = repl
		}
	}
	return out
}

func TestStickyNestedWeighted(t *testing.T) {
	childSpec := NewCookieSpec(CookieConfig{Name: "child"}, "whoami@file")
	parentSpec := NewCookieSpec(CookieConfig{Name: "parent"}, "weighted@file")
	child := NewWRR([]*Endpoint{{Key: "http://a:80", Weight: 1}, {Key: "http://b:80", Weight: 1}}, Options{Sticky: &childSpec})
	other := NewWRR([]*Endpoint{{Key: "http://o:80", Weight: 1}}, Options{})
	parent := NewWRR([]*Endpoint{
		{Key: "whoami@file", Weight: 1, Service: child},
		{Key: "other@file", Weight: 1, Service: other},
	}, Options{Sticky: &parentSpec})

	var h Hint
	var ep *Endpoint
	for ep == nil || ep.Key == "http://o:80" {
		h.Reset()
		ep, _ = parent.Pick(&h)
	}
	sc := h.SetCookies()
	// The weighted level names the child service, the inner one the
	// server; the parent cookie comes first, as Traefik writes it first.
	if len(sc) != 2 || sc[0].Spec.Name != "parent" || sc[0].Value != CookieValue("whoami@file") ||
		sc[1].Spec.Name != "child" || sc[1].Value != CookieValue(ep.Key) {
		t.Fatalf("cookies %+v for %s", sc, ep.Key)
	}
	cookie := []byte("parent=" + sc[0].Value + "; child=" + sc[1].Value)
	h.Reset() // sc aliases h and is cleared from here on
	h.Cookie = cookie
	for range 10 {
		if got, _ := parent.Pick(&h); got != ep {
			t.Fatalf("nested sticky moved to %s", got.Key)
		}
	}
	if len(h.SetCookies()) != 0 {
		t.Fatalf("unexpected cookies %+v", h.SetCookies())
	}
}
