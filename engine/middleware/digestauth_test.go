package middleware

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/valyala/fasthttp"
)

// Users of Traefik's digest tests: name:realm:hex(MD5(name:realm:password)).
const (
	digestTest       = "test:traefik:a2688e031edb4be6a3797f3882655c05"     // password test
	digestTest2      = "test2:traefik:518845800f9e2bfb1f1f740ec24f074e"    // test2
	digestTest3      = "test3:traefik:c8e9f57ce58ecb4424407f665a91646c"    // test3
	digestOverridden = "test2:traefik:8de60a1c52da68ccf41f0c0ffb7c51a0"    // overridden
	digestTraefiker  = "test:traefiker:a3d334dff2645b914918de78bec50bf4"   // test2, realm traefiker
	digestExampleCom = "test:example.com:aa78524fceb0e50fd8ca96dd818b8cf9" // go-http-auth's: hello
	digestChallengeR = `^Digest realm="([^"]*)", nonce="([A-Za-z0-9+/]{16})", opaque="([A-Za-z0-9+/]{16})", (stale="true", )?algorithm="MD5", qop="auth"$`
)

var digestChallengeRe = regexp.MustCompile(digestChallengeR)

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// challenge is a parsed WWW-Authenticate: Digest.
type challenge struct {
	realm, nonce, opaque string
	stale                bool
}

// getChallenge asks url without credentials and parses the 401's challenge.
func getChallenge(t *testing.T, url string) challenge {
	t.Helper()
	return parseChallenge(t, do(t, "GET", url, nil))
}

func parseChallenge(t *testing.T, resp *http.Response) challenge {
	t.Helper()
	body := readAll(t, resp)
	if resp.StatusCode != 401 || body != "401 Unauthorized\n" || resp.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("challenge: status %d, Content-Type %q, body %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	h := resp.Header.Values("WWW-Authenticate")
	if len(h) != 1 {
		t.Fatalf("WWW-Authenticate %q", h)
	}
	m := digestChallengeRe.FindStringSubmatch(h[0])
	if m == nil {
		t.Fatalf("WWW-Authenticate %q does not match %s", h[0], digestChallengeR)
	}
	return challenge{realm: m[1], nonce: m[2], opaque: m[3], stale: m[4] != ""}
}

// digestCreds is what a client puts in its Authorization header; response
// is computed from password unless set.
type digestCreds struct {
	user, password, realm, nonce, opaque, uri, method string
	nc, cnonce, qop, algorithm                        string
	response                                          string
	ha1                                               string // instead of MD5(user:realm:password)
}

func (c digestCreds) header() string {
	if c.method == "" {
		c.method = "GET"
	}
	if c.qop == "" {
		c.qop = "auth"
	}
	if c.cnonce == "" {
		c.cnonce = "0a4f113b"
	}
	ha1 := c.ha1
	if ha1 == "" {
		ha1 = md5hex(c.user + ":" + c.realm + ":" + c.password)
	} else if ha1 == "-" {
		ha1 = ""
	}
	resp := c.response
	if resp == "" {
		resp = md5hex(strings.Join([]string{ha1, c.nonce, c.nc, c.cnonce, c.qop, md5hex(c.method + ":" + c.uri)}, ":"))
	}
	alg := ""
	if c.algorithm != "-" {
		a := c.algorithm
		if a == "" {
			a = "MD5"
		}
		alg = ", algorithm=" + a
	}
	return fmt.Sprintf(`Authorization: Digest username="%s", realm="%s", nonce="%s", uri="%s"%s, qop=%s, nc=%s, cnonce="%s", response="%s", opaque="%s"`,
		c.user, c.realm, c.nonce, c.uri, alg, c.qop, c.nc, c.cnonce, resp, c.opaque)
}

// creds makes the credentials answering ch for path.
func (ch challenge) creds(user, password, uri, nc string) digestCreds {
	return digestCreds{user: user, password: password, realm: ch.realm, nonce: ch.nonce, opaque: ch.opaque, uri: uri, nc: nc}
}

func digestConfig(t testing.TB, c digestAuthConfig) string {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The full handshake: challenge, then an answer computed here, over real
// sockets; Traefik's user list cases.
func TestDigestAuthHandshake(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		users []string
		realm string
		ok    map[string]string
	}{
		{"finds the users", []string{digestTest, digestTest2}, "", map[string]string{"test": "test", "test2": "test2"}},
		{"three users", []string{digestTest, digestTest2, digestTest3}, "", map[string]string{"test": "test", "test2": "test2", "test3": "test3"}},
		{"later lines win", []string{digestTest, digestTest2, digestOverridden}, "", map[string]string{"test": "test", "test2": "overridden"}},
		{"the realm picks the line", []string{digestTest, digestTraefiker}, "traefiker", map[string]string{"test": "test2"}},
		{"go-http-auth's vector", []string{digestExampleCom}, "example.com", map[string]string{"test": "hello"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url := front(t, nil, buildOne(t, "digestAuth", digestConfig(t, digestAuthConfig{Users: tc.users, Realm: tc.realm})))
			ch := getChallenge(t, url+"/")
			realm := tc.realm
			if realm == "" {
				realm = "traefik"
			}
			if ch.realm != realm || ch.stale {
				t.Errorf("challenge %+v, want realm %q", ch, realm)
			}
			for user, pw := range tc.ok {
				ch := getChallenge(t, url+"/p")
				c := ch.creds(user, pw, "/p", "00000001")
				e := echoed(t, url+"/p", c.header())
				if got := e.Header["Authorization"]; len(got) != 1 || !strings.HasPrefix(got[0], "Digest ") {
					t.Errorf("%s: forwarded Authorization %q", user, got)
				}
				// Wrong passwords and unknown users are refused.
				c.password, c.nc = pw+"x", "00000002"
				parseChallenge(t, do(t, "GET", url+"/p", nil, c.header()))
			}
			ch = getChallenge(t, url+"/p")
			parseChallenge(t, do(t, "GET", url+"/p", nil, ch.creds("foo", "foo", "/p", "00000001").header()))
			if len(tc.ok) == 2 && tc.ok["test2"] == "overridden" {
				parseChallenge(t, do(t, "GET", url+"/p", nil, ch.creds("test2", "test2", "/p", "00000001").header()))
			}
		})
	}
}

// Nonce counts: each must exceed the last; the same again is a replay
// (401), a lower one is stale (401 with stale="true"); an unknown nonce is
// a plain 401.
func TestDigestAuthNonceCount(t *testing.T) {
	t.Parallel()
	url := front(t, nil, buildOne(t, "digestAuth", digestConfig(t, digestAuthConfig{Users: []string{digestTest}})))
	ch := getChallenge(t, url+"/a")
	send := func(nc string) *http.Response {
		return do(t, "GET", url+"/a", nil, ch.creds("test", "test", "/a", nc).header())
	}
	expect := func(nc string, status int, stale bool) {
		t.Helper()
		resp := send(nc)
		if status == 200 {
			if body := readAll(t, resp); resp.StatusCode != 200 {
				t.Errorf("nc %s: status %d: %s", nc, resp.StatusCode, body)
			}
			return
		}
		got := parseChallenge(t, resp)
		if got.stale != stale {
			t.Errorf("nc %s: stale = %v, want %v", nc, got.stale, stale)
		}
		if got.nonce == ch.nonce {
			t.Errorf("nc %s: the challenge repeats the nonce", nc)
		}
	}
	expect("00000001", 200, false)
	expect("00000001", 401, false) // replay
	expect("00000003", 200, false) // counts may skip
	expect("00000002", 401, true)  // out of order
	expect("00000003", 401, false)
	expect("4", 200, false) // any hex spelling
	expect("0000000A", 200, false)
	expect("0000000b", 200, false)
	expect("0x0c", 401, false) // not hex
	expect("", 401, false)
	expect("fffffffffffffffff", 401, false) // over 64 bits
	expect("ffffffffffffffff", 200, false)

	// nc 0 is no free pass: Traefik's library would accept it again and
	// again on a fresh nonce; here the second is a replay.
	ch = getChallenge(t, url+"/a")
	expect("00000000", 200, false)
	expect("00000000", 401, false)
	expect("00000001", 200, false)

	// A nonce the middleware never issued.
	ch.nonce = "AAAAAAAAAAAAAAAA"
	expect("00000001", 401, false)
}

// The nonce table keeps the most recently seen ones: past 1100, a new
// challenge drops the 200 least recently seen (the library's defaults).
func TestDigestAuthNonceTable(t *testing.T) {
	t.Parallel()
	url := front(t, nil, buildOne(t, "digestAuth", digestConfig(t, digestAuthConfig{Users: []string{digestTest}})))
	old := getChallenge(t, url)                    // 1st
	kept := getChallenge(t, url)                   // 2nd, used below after the others
	for range digestNonces + digestTolerance - 2 { // 1100 issued in all
		getChallenge(t, url)
	}
	// Using kept makes it the most recently seen.
	echoed(t, url+"/", kept.creds("test", "test", "/", "1").header())
	getChallenge(t, url) // the 1101st: nothing dropped yet
	getChallenge(t, url) // the 1102nd finds 1101: 200 dropped, old among them
	parseChallenge(t, do(t, "GET", url+"/", nil, old.creds("test", "test", "/", "1").header()))
	echoed(t, url+"/", kept.creds("test", "test", "/", "2").header())

	// The table's size at the boundary.
	d, err := buildDigestAuth(&digestAuthConfig{Users: []string{digestTest}})
	if err != nil {
		t.Fatal(err)
	}
	var ctx fasthttp.RequestCtx
	for i := 1; i <= 1103; i++ {
		d.challenge(&ctx, false)
		want := i
		if i > digestNonces+digestTolerance+1 {
			want = i - 2*digestTolerance
		}
		if len(d.nonces) != want {
			t.Fatalf("after %d challenges: %d nonces, want %d", i, len(d.nonces), want)
		}
	}
}

// The digest's uri against the request: the request URI itself, or (the
// library's leniency) any URI whose path is a prefix of the request path.
func TestDigestAuthURI(t *testing.T) {
	t.Parallel()
	base := front(t, nil, buildOne(t, "digestAuth", digestConfig(t, digestAuthConfig{Users: []string{digestTest}})))
	tests := []struct {
		path, uri string
		ok        bool
	}{
		{"/a/b", "/a/b", true},
		{"/a/b?x=1&y", "/a/b?x=1&y", true},
		{"/a/b?x=1", "/a/b", true},
		{"/a/b", "/a/b?other", true}, // the path is what counts
		{"/a/b", "/a", true},
		{"/a/b", "/", true},
		{"/a/b", "", true},
		{"/a/b", "http://elsewhere/a", true}, // Traefik's own test client sends the full URL
		{"/a%20b", "/a%20b", true},
		{"/a%20b", "/a b", true},
		{"/a/b", "/a/c", false},
		{"/a/b", "/a/b/c", false},
		{"/a", "/b", false},
		{"/a/b", "%zz", false}, // url.Parse fails
	}
	for _, tc := range tests {
		ch := getChallenge(t, base+tc.path)
		resp := do(t, "GET", base+tc.path, nil, ch.creds("test", "test", tc.uri, "00000001").header())
		if tc.ok {
			if body := readAll(t, resp); resp.StatusCode != 200 {
				t.Errorf("path %s uri %q: status %d: %s", tc.path, tc.uri, resp.StatusCode, body)
			}
		} else {
			parseChallenge(t, resp)
		}
	}
	// The method is part of the digest.
	ch := getChallenge(t, base+"/m")
	c := ch.creds("test", "test", "/m", "00000001")
	c.method = "POST"
	parseChallenge(t, do(t, "GET", base+"/m", nil, c.header()))
	if resp := do(t, "POST", base+"/m", strings.NewReader("x"), c.header()); resp.StatusCode != 200 {
		t.Errorf("POST: status %d", resp.StatusCode)
	}
}

// Malformed or mismatched Authorization headers are refused with a new
// challenge.
func TestDigestAuthMalformed(t *testing.T) {
	t.Parallel()
	url := front(t, nil, buildOne(t, "digestAuth", digestConfig(t, digestAuthConfig{Users: []string{digestTest}})))
	tests := []struct {
		name string
		edit func(c *digestCreds) string // returns the header
		ok   bool
	}{
		{"as computed", func(c *digestCreds) string { return c.header() }, true},
		{"no algorithm is MD5", func(c *digestCreds) string { c.algorithm = "-"; return c.header() }, true},
		{"quoted algorithm", func(c *digestCreds) string { c.algorithm = `"MD5"`; return c.header() }, true},
		{"MD5-sess", func(c *digestCreds) string { c.algorithm = "MD5-sess"; return c.header() }, false},
		{"md5", func(c *digestCreds) string { c.algorithm = "md5"; return c.header() }, false},
		{"SHA-256", func(c *digestCreds) string { c.algorithm = "SHA-256"; return c.header() }, false},
		{"qop auth-int", func(c *digestCreds) string { c.qop = "auth-int"; return c.header() }, false},
		{"wrong opaque", func(c *digestCreds) string { c.opaque = "x" + c.opaque[1:]; return c.header() }, false},
		{"no opaque", func(c *digestCreds) string {
			h := c.header()
			return h[:strings.LastIndex(h, ", opaque=")]
		}, false},
		{"wrong response", func(c *digestCreds) string { c.response = strings.Repeat("0", 32); return c.header() }, false},
		{"upper-case response", func(c *digestCreds) string {
			h := c.header()
			i := strings.Index(h, `response="`) + len(`response="`)
			return h[:i] + strings.ToUpper(h[i:i+32]) + h[i+32:]
		}, false},
		{"wrong realm in the digest", func(c *digestCreds) string { c.realm = "other"; return c.header() }, false},
		// The library would take an unknown user with an empty HA1, which
		// anyone can compute: refused here.
		{"unknown user, empty HA1", func(c *digestCreds) string { c.user, c.ha1 = "nobody", "-"; return c.header() }, false},
		{"known user, empty HA1", func(c *digestCreds) string { c.ha1 = "-"; return c.header() }, false},
		{"lower-case scheme", func(c *digestCreds) string { return strings.Replace(c.header(), "Digest ", "digest ", 1) }, false},
		{"two spaces after the scheme", func(c *digestCreds) string { return strings.Replace(c.header(), "Digest ", "Digest  ", 1) }, true},
		{"spaces around =", func(c *digestCreds) string { return strings.Replace(c.header(), `nc=`, `nc = `, 1) }, false},
		{"no spaces after commas", func(c *digestCreds) string { return strings.ReplaceAll(c.header(), ", ", ",") }, true},
		{"escaped quote in a value", func(c *digestCreds) string { c.cnonce = `a\"b`; return c.header() }, false},
		{"comma in a quoted value", func(c *digestCreds) string { c.cnonce = `a,b`; return c.header() }, true},
		{"empty value", func(c *digestCreds) string { return c.header() + ", x=" }, false},
		{"lone quote", func(c *digestCreds) string { return c.header() + `, x="` }, false},
		{"Digest alone", func(*digestCreds) string { return "Authorization: Digest" }, false},
		{"Digest and a space", func(*digestCreds) string { return "Authorization: Digest " }, false},
		{"Basic", func(*digestCreds) string { return "Authorization: Basic dGVzdDp0ZXN0" }, false},
		{"username=", func(*digestCreds) string { return "Authorization: Digest username=" }, false},
		{"no header", func(*digestCreds) string { return "" }, false},
	}
	for _, tc := range tests {
		ch := getChallenge(t, url+"/r")
		c := ch.creds("test", "test", "/r", "00000001")
		h := tc.edit(&c)
		var hdr []string
		if h != "" {
			hdr = append(hdr, h)
		}
		resp := do(t, "GET", url+"/r", nil, hdr...)
		if tc.ok {
			if body := readAll(t, resp); resp.StatusCode != 200 {
				t.Errorf("%s: status %d: %s", tc.name, resp.StatusCode, body)
			}
			continue
		}
		if got := parseChallenge(t, resp); got.stale {
			t.Errorf("%s: stale challenge", tc.name)
		}
	}
}

// removeHeader and headerField, as forwarded.
func TestDigestAuthOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  digestAuthConfig
		hdr  []string
		want map[string][]string
	}{
		{"removeHeader", digestAuthConfig{RemoveHeader: true}, nil, map[string][]string{"Authorization": nil}},
		{"headerField", digestAuthConfig{HeaderField: "x-user"}, []string{"X-User: admin"},
			map[string][]string{"X-User": {"test"}}},
		{"headerField and removeHeader", digestAuthConfig{HeaderField: "X-Remote-User", RemoveHeader: true}, nil,
			map[string][]string{"X-Remote-User": {"test"}, "Authorization": nil}},
		{"headerField authorization, removeHeader", digestAuthConfig{HeaderField: "authorization", RemoveHeader: true}, nil,
			map[string][]string{"Authorization": {"test"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.cfg.Users = []string{digestTest}
			url := front(t, nil, buildOne(t, "digestAuth", digestConfig(t, tc.cfg)))
			ch := getChallenge(t, url+"/")
			e := echoed(t, url+"/", append([]string{ch.creds("test", "test", "/", "1").header()}, tc.hdr...)...)
			for k, v := range tc.want {
				if got := e.Header[k]; v == nil && got != nil || v != nil && !equalStrings(got, v) {
					t.Errorf("forwarded %s: %q, want %q", k, got, v)
				}
			}
			if _, ok := e.Header["Authentication-Info"]; ok {
				t.Error("Authentication-Info forwarded")
			}
		})
	}
}

func TestDigestAuthBadConfigs(t *testing.T) {
	tests := []struct{ config, err string }{
		{`{"users":["test"]}`, "error parsing DigestUser: test"},
		{`{"users":["test:traefik"]}`, "error parsing DigestUser: test:traefik"},
		{`{"users":["a:b:c:d"]}`, "error parsing DigestUser: a:b:c:d"},
		{`{"users":["a:b:c"],"usersFile":"x"}`, `option "usersFile" is not supported by edgeroute`},
		{`{"users":["a:b:c"],"headerField":"X:User"}`, `headerField "X:User" is not a valid header name`},
		{`{"users":["a:b:c"],"headerField":"Transfer-Encoding"}`, "headerField Transfer-Encoding cannot carry the user name"},
	}
	for _, tc := range tests {
		_, err := tryBuild("digestAuth", tc.config)
		if err == nil || !strings.HasSuffix(err.Error(), tc.err) {
			t.Errorf("%s: err = %v, want %q", tc.config, err, tc.err)
		}
	}
	// No users builds, as in Traefik, and refuses everyone.
	for _, cfg := range []string{`{}`, `{"users":[]}`, `{"users":["test:other:a2688e031edb4be6a3797f3882655c05"]}`} {
		url := front(t, nil, buildOne(t, "digestAuth", cfg))
		ch := getChallenge(t, url)
		parseChallenge(t, do(t, "GET", url+"/", nil, ch.creds("test", "test", "/", "1").header()))
	}
}

// One middleware serves many routers: concurrent handshakes are safe
// (run with -race).
func TestDigestAuthConcurrent(t *testing.T) {
	t.Parallel()
	url := front(t, nil, buildOne(t, "digestAuth", digestConfig(t, digestAuthConfig{Users: []string{digestTest, digestTest2}})))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			user := []string{"test", "test2"}[i%2]
			ch := getChallenge(t, url+"/c")
			for n := 1; n <= 5; n++ {
				resp := do(t, "GET", url+"/c", nil, ch.creds(user, user, "/c", fmt.Sprintf("%08x", n)).header())
				if resp.StatusCode != 200 {
					t.Errorf("%s nc %d: status %d", user, n, resp.StatusCode)
				}
				readAll(t, resp)
			}
		})
	}
	wg.Wait()
}
