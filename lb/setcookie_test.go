package lb

import (
	"net/http"
	"testing"
	"time"
)

// netHTTPSetCookie renders spec the way Traefik's WriteStickyCookie does.
func netHTTPSetCookie(c CookieSpec, value string, now time.Time) string {
	ck := &http.Cookie{
		Name:     c.Name,
		Value:    value,
		Path:     c.Path,
		Domain:   c.Domain,
		HttpOnly: c.HTTPOnly,
		Secure:   c.Secure,
		SameSite: [...]http.SameSite{http.SameSiteDefaultMode, http.SameSiteNoneMode, http.SameSiteLaxMode, http.SameSiteStrictMode}[c.SameSite],
		MaxAge:   c.MaxAge,
	}
	if c.Expires > 0 {
		ck.Expires = now.Add(c.Expires)
	}
	return ck.String()
}

func TestAppendSetCookieMatchesNetHTTP(t *testing.T) {
	now := time.Date(2026, 3, 14, 15, 9, 26, 535000000, time.FixedZone("CET", 3600))
	value := CookieValue("http://10.42.0.7:80")
	specs := []CookieSpec{
		{Name: "_1682a", Path: "/"},
		{Name: "sess"},
		{Name: "test", Path: "/foo", Domain: "foo.com", MaxAge: 42, Expires: 10 * time.Second, HTTPOnly: true, Secure: true, SameSite: SameSiteNone},
		{Name: "a", Path: "/", SameSite: SameSiteLax, MaxAge: -1},
		{Name: "a", Path: "/", SameSite: SameSiteStrict, Expires: 365 * 24 * time.Hour},
		{Name: "a", Path: "/", Domain: ".example.com"},
		{Name: "a", Domain: "10.0.0.1"},
		{Name: "a", Domain: "::1"},
		{Name: "a", Domain: "bad_domain.com"},
		{Name: "a", Domain: "-x.com"},
		{Name: "a", Domain: "x..com"},
		{Name: "a", Domain: "123.com"},
		{Name: "a", Domain: "1.2.3"},
		{Name: "a", Path: "/p;ath\x01/é"},
		{Name: "bad name"},
		{Name: ""},
		{Name: "a!#$%&'*+-.^_`|~Z"},
	}
	values := []string{value, "", "with space", "a,b", "q\"uo;te\\s", "é"}
	for _, c := range specs {
		for _, v := range values {
			want := netHTTPSetCookie(c, v, now)
			got := string(AppendSetCookieAt([]byte("prefix"), c, v, now))
			if got != "prefix"+want {
				t.Errorf("%+v value %q:\n got %q\nwant %q", c, v, got[min(len(got), 6):], want)
			}
		}
	}
}

// TestSetCookieTraefikVectors replays Traefik's sticky cookie tests.
func TestSetCookieTraefikVectors(t *testing.T) {
	path := "/foo"
	value := CookieValue("first")
	for _, c := range []struct {
		preserve bool
		want     string
	}{
		{true, "test=" + value + "; Path=/foo; Domain=.example.com; Max-Age=42; HttpOnly; Secure; SameSite=None"},
		{false, "test=" + value + "; Path=/foo; Domain=example.com; Max-Age=42; HttpOnly; Secure; SameSite=None"},
	} {
		spec := NewCookieSpec(CookieConfig{
			Name: "test", Secure: true, HTTPOnly: true, SameSite: "none", MaxAge: 42,
			Path: &path, Domain: ".example.com", PreserveLeadingDot: c.preserve,
		}, "svc")
		if got := string(AppendSetCookie(nil, spec, value)); got != c.want {
			t.Errorf("preserve=%v:\n got %q\nwant %q", c.preserve, got, c.want)
		}
	}

	// Expires is "now + Expires seconds", re-evaluated on every write.
	spec := NewCookieSpec(CookieConfig{Name: "test", Expires: 3600}, "svc")
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if got, want := string(AppendSetCookieAt(nil, spec, "v", now)), "test=v; Path=/; Expires=Fri, 02 Jan 2026 04:04:05 GMT"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// Without Expires the cookie is a session cookie.
	if got := string(AppendSetCookie(nil, NewCookieSpec(CookieConfig{Name: "test"}, "svc"), "v")); got != "test=v; Path=/" {
		t.Errorf("got %q", got)
	}
}

func TestPreserveLeadingDotLikeTraefik(t *testing.T) {
	// Traefik replaces the first "Domain=<domain without dot>" in the
	// rendered cookie, wherever it is.
	cases := []CookieSpec{
		{Name: "a", Path: "/Domain=example.com/x", Domain: ".example.com", PreserveLeadingDot: true},
		{Name: "a", Path: "/Domain=ex", Domain: ".example.com", PreserveLeadingDot: true},
		{Name: "a", Path: "/Domain=x", Domain: ".bad_domain", PreserveLeadingDot: true},
		{Name: "a", Domain: "example.com", PreserveLeadingDot: true},
	}
	now := time.Now()
	for _, c := range cases {
		s := netHTTPSetCookie(c, "v", now)
		if c.Domain[0] == '.' {
			s = replaceFirst(s, "Domain="+c.Domain[1:], "Domain="+c.Domain)
		}
		if got := string(AppendSetCookieAt(nil, c, "v", now)); got != s {
			t.Errorf("%+v:\n got %q\nwant %q", c, got, s)
		}
	}
}

func replaceFirst(s, old, repl string) string {
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			return s[:i] + repl + s[i+len(old):]
		}
	}
	return s
}

func TestParseSameSite(t *testing.T) {
	for in, want := range map[string]SameSite{
		"none": SameSiteNone, "None": SameSiteNone, "NONE": SameSiteNone,
		"lax": SameSiteLax, "LAX": SameSiteLax, "Strict": SameSiteStrict,
		"": SameSiteDefault, "invalid": SameSiteDefault,
	} {
		if got := ParseSameSite(in); got != want {
			t.Errorf("ParseSameSite(%q) = %v, want %v", in, got, want)
		}
	}
	empty := ""
	if spec := NewCookieSpec(CookieConfig{Path: &empty}, "svc"); spec.Path != "" || spec.Name != CookieName("", "svc") {
		t.Errorf("spec %+v", spec)
	}
}
