package compile

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"path"
	"strings"
	"testing"
)

// canonicalHostRef is Traefik's requestdecorator (v3.7): parseHost, then
// CanonicalDomain.
func canonicalHostRef(h string) string {
	if strings.Contains(h, ":") {
		if host, _, err := net.SplitHostPort(h); err == nil {
			h = host
		} else if h[0] == '[' && h[len(h)-1] == ']' {
			h = h[1 : len(h)-1]
		}
	}
	return strings.ToLower(strings.TrimSpace(h))
}

func TestCanonicalHost(t *testing.T) {
	for in, want := range map[string]string{
		"Example.COM":        "example.com",
		"example.com:8080":   "example.com",
		"example.com:":       "example.com",
		"[::1]:443":          "::1",
		"[::1]":              "::1",
		"::1":                "::1",
		"[fe80::1%25eth0]:1": "fe80::1%25eth0",
		"a:b:c":              "a:b:c",
		" a.test ":           "a.test",
		"a.test.":            "a.test.",
		"":                   "",
		"[a]b:1":             "[a]b:1",
		"[a]":                "[a]",
	} {
		if got := string(AppendCanonicalHost(nil, []byte(in))); got != want {
			t.Errorf("AppendCanonicalHost(%q) = %q, want %q", in, got, want)
		}
	}
	// Random strings over the characters that matter agree with the reference.
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := "aB.:[]1 %"
	for range 20000 {
		b := make([]byte, rng.IntN(8))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		if got, want := string(AppendCanonicalHost(nil, b)), canonicalHostRef(string(b)); got != want {
			t.Fatalf("AppendCanonicalHost(%q) = %q, reference %q", b, got, want)
		}
	}
}

func TestNormalizedPath(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"/a/b", "/a/b", ""},
		{"/a/../b", "/b", ""},
		{"/a//b", "/a/b", ""},
		{"/./a", "/a", ""},
		{"/a/", "/a/", ""},
		{"/a/./", "/a/", ""},
		{"/a/..", "/", ""},
		{"/..", "/", ""},
		{"//", "/", ""},
		{"/public/%2e%2e/admin", "/admin", ""},
		{"/public/%2E%2e/admin", "/admin", ""},
		{"/public%2F..%2Fadmin", "/public%2F..%2Fadmin", ""},
		{"/a%2fb", "/a%2Fb", ""},
		{"/%7e%41", "/~A", ""},
		{"/%c3%a9", "/%C3%A9", ""},
		{"/a%20b", "/a%20b", ""},
		{"/a#b", "", "#"},
		{"/a%", "", "%"},
		{"/a%4", "", "%"},
		{"/a%zz", "", "%"},
		{"*", "*", ""},
	} {
		got, err := AppendNormalizedPath(nil, []byte(tc.in), true)
		switch {
		case tc.err == "#" && err != ErrFragment, tc.err == "%" && err != ErrPercentEncoded, tc.err == "" && err != nil:
			t.Errorf("AppendNormalizedPath(%q) error = %v, want %q", tc.in, err, tc.err)
		case tc.err == "" && string(got) != tc.want:
			t.Errorf("AppendNormalizedPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// Without sanitizing, dot-segments survive.
	if got, _ := AppendNormalizedPath(nil, []byte("/a/../b//c"), false); string(got) != "/a/../b//c" {
		t.Errorf("unsanitized = %q", got)
	}
	// The cleaner is path.Join with the trailing slash kept, on random paths.
	rng := rand.New(rand.NewPCG(3, 4))
	parts := []string{"/", "a", ".", "..", "bc", "/", "/"}
	for range 50000 {
		var sb strings.Builder
		sb.WriteByte('/')
		for range rng.IntN(10) {
			sb.WriteString(parts[rng.IntN(len(parts))])
		}
		in := sb.String()
		want := path.Join(in)
		if strings.HasSuffix(in, "/") && !strings.HasSuffix(want, "/") {
			want += "/"
		}
		got, _ := AppendNormalizedPath([]byte("prefix"), []byte(in), true)
		if string(got) != "prefix"+want {
			t.Fatalf("sanitize(%q) = %q, want %q", in, got[6:], want)
		}
	}
}

func TestRoutingPath(t *testing.T) {
	for in, want := range map[string]string{
		"/foo%20bar":    "/foo bar",
		"/foo%2Fbar":    "/foo%2Fbar",
		"/a%3A%40%21":   "/a%3A%40%21",
		"/%25":          "/%25",
		"/%C3%A9":       "/é",
		"/a%2Bb%3Dc":    "/a%2Bb%3Dc",
		"/%5B%5D%3F%23": "/%5B%5D%3F%23",
		"/%0A":          "/\n",
	} {
		got, err := AppendRoutingPath(nil, []byte(in))
		if err != nil || string(got) != want {
			t.Errorf("AppendRoutingPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"/a%", "/a%2", "/a%zz"} {
		if _, err := AppendRoutingPath(nil, []byte(in)); err != ErrPercentEncoded {
			t.Errorf("AppendRoutingPath(%q) error = %v", in, err)
		}
	}
}

func TestNewRequestHost(t *testing.T) {
	for _, tc := range []struct{ target, hostHdr, want string }{
		{"/x", "a.test", "a.test"},
		{"http://b.test/x", "a.test", "b.test"},
		{"http://user@b.test:81/x", "a.test", "b.test"},
		{"http://@/x", "a.test", "a.test"},
		{"http://B.test", "", "b.test"},
	} {
		r, err := NewRequest("GET", tc.target, [][2]string{{"Host", tc.hostHdr}}, netip.Addr{}, true)
		if err != nil || string(r.Host) != tc.want {
			t.Errorf("NewRequest(%q, Host %q) host = %q, %v; want %q", tc.target, tc.hostHdr, r.Host, err, tc.want)
		}
	}
}
