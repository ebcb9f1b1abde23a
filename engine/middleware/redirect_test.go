package middleware

import (
	"encoding/json"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// redirectCase is one request through a redirect middleware and what the
// client gets: a redirect (status and Location), a 502, or the request
// passed to the backend (200, with the URI it received).
type redirectCase struct {
	desc     string
	config   string
	method   string // "" is GET
	host     string // the Host header
	target   string // path and query
	secure   bool   // the request came over TLS
	header   []string
	status   int
	location string // for redirects
	uri      string // for 200: what the backend received; "" is target
}

// overTLS marks requests as read over TLS, as the engine's TLS entry
// points do (the harness serves plain HTTP).
func overTLS(next Handler) Handler {
	return func(ctx *fasthttp.RequestCtx, r *Request) {
		r.Secure = true
		next(ctx, r)
	}
}

func runRedirect(t *testing.T, kind string, tc redirectCase) {
	t.Helper()
	mws := []Middleware{buildOne(t, kind, tc.config)}
	if tc.secure {
		mws = append([]Middleware{overTLS}, mws...)
	}
	base := front(t, nil, mws...)
	method := tc.method
	if method == "" {
		method = "GET"
	}
	resp := do(t, method, base+tc.target, nil, append([]string{"Host: " + tc.host}, tc.header...)...)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != tc.status {
		t.Fatalf("status %d, want %d (Location %q, body %q)", resp.StatusCode, tc.status, resp.Header.Get("Location"), body)
	}
	switch tc.status {
	case 200:
		var e echo
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		want := tc.uri
		if want == "" {
			want = tc.target
		}
		if e.URI != want {
			t.Errorf("upstream URI %q, want %q", e.URI, want)
		}
		if !strings.EqualFold(e.Host, tc.host) { // the client lower-cases it
			t.Errorf("upstream Host %q, want %q", e.Host, tc.host)
		}
		return
	case 301, 302, 307, 308:
		if got := resp.Header.Get("Location"); got != tc.location {
			t.Errorf("Location %q, want %q", got, tc.location)
		}
	default:
		if got, ok := resp.Header["Location"]; ok {
			t.Errorf("Location %q on a %d", got, tc.status)
		}
	}
	// Traefik's entry point turns Content-Type sniffing off: the status
	// text goes out without one.
	if ct, ok := resp.Header["Content-Type"]; ok {
		t.Errorf("Content-Type %q, want none", ct)
	}
	want := http.StatusText(tc.status)
	if method == "HEAD" {
		want = ""
	}
	if string(body) != want {
		t.Errorf("body %q, want %q", body, want)
	}
}

// An answered redirect does not reach the backend, whatever the method.
func TestRedirectAnswersAlone(t *testing.T) {
	hit := false
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit = true })
	base := front(t, backend, buildOne(t, "redirectScheme", `{"scheme":"https"}`))
	for _, m := range []string{"GET", "POST", "HEAD", "DELETE"} {
		resp := do(t, m, base+"/x", strings.NewReader("body"), "Host: foo")
		if resp.StatusCode/100 != 3 || hit {
			t.Fatalf("%s: status %d, backend reached %v", m, resp.StatusCode, hit)
		}
		if m == "HEAD" && resp.ContentLength != int64(len("Temporary Redirect")) {
			t.Errorf("HEAD: Content-Length %d, want that of the status text", resp.ContentLength)
		}
	}
}

// uriPattern is Traefik's redirectScheme pattern, which splitURIPattern
// stands for.
var uriPattern = regexp.MustCompile(`^(https?:\/\/)?(\[[\w:.]+\]|[\w\._-]+)?(:\d+)?(.*)$`)

// randomURLs returns n strings made of the bytes that matter to URL
// parsing, mostly shaped as scheme://host/path?query.
func randomURLs(seed uint64, n int) []string {
	rnd := rand.New(rand.NewPCG(seed, 1))
	const alphabet = "aZ09_.-~:[]/?#%@!$&'()*+,;= \"<>\\^`{|}\t\n\x7f\xc3\xa9fF"
	pick := func(k int) string {
		var b strings.Builder
		for range rnd.IntN(k) {
			b.WriteByte(alphabet[rnd.IntN(len(alphabet))])
		}
		return b.String()
	}
	prefixes := []string{"http://", "https://", "wss://", "HTTP://", "x+y.z-1://", "", "http:/", "h://"}
	hosts := []string{"foo", "foo:80", "[::1]", "[::1]:443", "[fe80::1%25en0]", "Foo.COM:8080", "a_b", "foo:", "[1.2.3.4]", "::1", "%66oo", "u@h", ""}
	out := make([]string, n)
	for i := range out {
		s := prefixes[rnd.IntN(len(prefixes))]
		if rnd.IntN(2) == 0 {
			s += hosts[rnd.IntN(len(hosts))]
		} else {
			s += pick(8)
		}
		if rnd.IntN(4) > 0 {
			s += "/" + pick(10)
		}
		if rnd.IntN(3) == 0 {
			s += "?" + pick(6)
		}
		out[i] = s
	}
	return out
}

// splitURIPattern gives the groups Go's regexp gives.
func TestSplitURIPattern(t *testing.T) {
	for _, s := range append(randomURLs(1, 100000), "http://[::1]x", "http://[]:1", "http://[a:b]]:80/", "http://a:1b", "https://:80/x") {
		m := uriPattern.FindStringSubmatch(s)
		if strings.Contains(s, "\n") {
			if m != nil {
				t.Fatalf("%q: the pattern matched across a newline", s)
			}
			continue
		}
		host, rest := splitURIPattern([]byte(s))
		if m == nil || string(host) != m[2] || string(rest) != m[4] {
			t.Fatalf("%q: split into %q, %q; regexp groups %q", s, host, rest, m)
		}
	}
}

// plainURL holds only URLs that net/url parses and prints back as they
// are, so skipping net/url for them changes nothing.
func TestPlainURL(t *testing.T) {
	plain := 0
	for _, s := range randomURLs(2, 200000) {
		if !plainURL([]byte(s)) {
			continue
		}
		plain++
		u, err := url.Parse(s)
		if err != nil {
			t.Fatalf("%q: plain, but url.Parse: %v", s, err)
		}
		if u.String() != s {
			t.Fatalf("%q: plain, but printed back as %q", s, u.String())
		}
		// With a path, the request URI is what follows the authority.
		after := s[len(u.Scheme)+len("://"):]
		if i := strings.IndexAny(after, "/?"); i >= 0 && after[i] == '/' && u.RequestURI() != after[i:] {
			t.Fatalf("%q: plain, but its request URI is %q", s, u.RequestURI())
		}
	}
	if plain < 1000 {
		t.Fatalf("only %d plain URLs in the sample: the test proves little", plain)
	}
	for _, s := range []string{
		"https://foo/", "https://foo:8443/a%2Fb?x=1;y", "http://a_b.c-d~/p?", "wss://foo/x?a?b", "https://h/a[b]",
	} {
		if !plainURL([]byte(s)) {
			t.Errorf("%q: not plain", s)
		}
	}
	for _, s := range []string{
		"HTTPS://foo/", "https://[::1]/", "https://u@h/", "https://h/a b", "https://h/a%2", "https://h/#f",
		"https://h:/", "https://h:8a/", "/rel", "https:///x", "https://h/\xc3\xa9", "https://h/?\x7f",
	} {
		if plainURL([]byte(s)) {
			t.Errorf("%q: plain", s)
		}
	}
}

// splitHostPort is net.SplitHostPort, but for the brackets it keeps.
func TestSplitHostPort(t *testing.T) {
	inputs := []string{"", "foo", "foo:80", "foo:", ":80", "a:b:c", "[::1]", "[::1]:80", "[::1]:", "[::1]80", "[::1]:80:1",
		"[a]b]:1", "a]:1", "a[:1", "[::1", "::1", "[fe80::1%25en0]:8443", "Foo.COM:8000"}
	for _, s := range inputs {
		h, p, ok := splitHostPort([]byte(s))
		wh, wp, err := net.SplitHostPort(s)
		if ok != (err == nil) {
			t.Errorf("%q: ok %v, net.SplitHostPort err %v", s, ok, err)
			continue
		}
		if !ok {
			continue
		}
		if strings.HasPrefix(s, "[") {
			wh = "[" + wh + "]"
		}
		if string(h) != wh || string(p) != ":"+wp {
			t.Errorf("%q: %q %q, want %q %q", s, h, p, wh, ":"+wp)
		}
	}
}

// requestHost is Go's req.Host: an absolute-form target's authority wins
// over the Host header.
func TestRequestHost(t *testing.T) {
	for _, tc := range []struct{ target, host, want string }{
		{"/x", "Foo:81", "Foo:81"},
		{"http://other:82/x?y", "foo", "other:82"},
		{"HTTPS://Other/x", "foo", "Other"},
		{"http://u:p@other?x", "foo", "other"},
		{"http:///x", "foo", "foo"},
		{"ftp://other/x", "foo", "foo"},
	} {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetRequestURI(tc.target)
		ctx.Request.Header.SetHost(tc.host)
		if got := requestHost(&ctx); string(got) != tc.want {
			t.Errorf("%s with Host %s: %q, want %q", tc.target, tc.host, got, tc.want)
		}
	}
}
