package middleware

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"
	"golang.org/x/crypto/bcrypt"
)

// Known MD5-crypt vectors: Traefik's tests, go-http-auth's, and ones made
// with `openssl passwd -apr1 / -1` (an independent implementation).
var md5CryptVectors = []struct{ password, hash string }{
	{"test", "$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/"},
	{"test2", "$apr1$d9hr9HBB$4HxwgUir3HP4EsggP/QNo0"},
	{"test3", "$apr1$3rJbDP0q$RfzJiorTk78jQ1EcKqWso0"},
	{"overridden", "$apr1$mK.GtItK$ncnLYvNLek0weXdxo68690"},
	{"apache", "$apr1$J.w5a/..$IW9y6DR0oO/ADuhlMF5/X1"},
	{"topsecret", "$apr1$JI4wh3am$AmhephVqLTUyAVpFQeHZC0"},
	{"pass", "$1$YeNsbWdH$wvOF8JdqsoiLix754LTW90"},
	{"password", "$apr1$xxxxxxxx$dxHfLAsjHkDRmG83UXe8K0"},
	{"test", "$apr1$Ab.1/z$Vd.t6u0fyXhcouRB3n3OI."},
	{"hello", "$1$saltsalt$fFhQNRZ9A4AYLdo7vOe8a0"},
	{"", "$apr1$12345678$sHuPAw7VA9xjRbJz7zKV7/"},
	{"ünïcødé pässwörd with a long tail that exceeds sixteen bytes", "$apr1$abc$Id81/hl9FmI65CIOZhzaa1"},
}

func TestMD5Crypt(t *testing.T) {
	for _, v := range md5CryptVectors {
		parts := strings.SplitN(v.hash, "$", 4)
		got := md5Crypt([]byte(v.password), []byte(parts[2]), []byte("$"+parts[1]+"$"))
		if string(got) != v.hash {
			t.Errorf("md5Crypt(%q) = %s, want %s", v.password, got, v.hash)
		}
	}
}

// bcryptHash makes a bcrypt hash at the lowest cost, with the given
// variant prefix ("$2a$" is what Go writes; the others hash alike).
func bcryptHash(t testing.TB, password, prefix string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return prefix + string(h[4:])
}

// What the library accepts, and what it refuses.
func TestCheckSecret(t *testing.T) {
	tests := []struct {
		password, secret string
		want             bool
	}{
		{"hello", "{SHA}qvTGHdzF6KLavt4PO0gs2a6pQ00=", true},
		{"hello!", "{SHA}qvTGHdzF6KLavt4PO0gs2a6pQ00=", false},
		{"hello", "{SHA}qvTGHdzF6KLavt4PO0gs2a6pQ00", false},
		{"hello", "{sha}qvTGHdzF6KLavt4PO0gs2a6pQ00=", false},                            // the prefix is case-sensitive
		{"hello3", "$2y$05$ih3C91zUBSTFcAh2mQnZYuob0UOZVEf16wl/ukgjDhjvj.xgM1WwS", true}, // htpasswd -B
		{"hello4", "$2y$05$ih3C91zUBSTFcAh2mQnZYuob0UOZVEf16wl/ukgjDhjvj.xgM1WwS", false},
		{"hello2", "$apr1$a0j62R97$mYqFkloXH0/UOaUnAiV2b0", true},
		{"hello2", "$apr10.KbAJur$4G9MiqUjDLCuihkMfmg6e1", false}, // too few '$'
		{"test", "test", false}, // plain text is not a hash
		{"", "", false},
		{"test", " $apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/", false}, // a leading space
		{"test", "$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/x", false},
		{"test", "$5$rounds=5000$salt$hash", false}, // SHA-256 crypt is not supported
		{"test", "$2$05$abc", false},                // not a bcrypt prefix it knows
	}
	for _, v := range md5CryptVectors {
		tests = append(tests, struct {
			password, secret string
			want             bool
		}{v.password, v.hash, true}, struct {
			password, secret string
			want             bool
		}{v.password + "x", v.hash, false})
	}
	for _, p := range bcryptPrefixes {
		h := bcryptHash(t, "s3cret", p)
		tests = append(tests, struct {
			password, secret string
			want             bool
		}{"s3cret", h, true}, struct {
			password, secret string
			want             bool
		}{"s3cre", h, false})
	}
	for _, tc := range tests {
		if got := checkSecret([]byte(tc.password), tc.secret); got != tc.want {
			t.Errorf("checkSecret(%q, %q) = %v, want %v", tc.password, tc.secret, got, tc.want)
		}
	}
}

// basicConfig returns a basicAuth configuration as JSON.
func basicConfig(t testing.TB, c basicAuthConfig) string {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func basicHeader(user, password string) string {
	return "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// countingBackend counts the requests that reach it, then echoes.
func countingBackend(n *atomic.Int32) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		echoBackend(w, r)
	})
}

// assertUnauthorized checks the library's 401 answer.
func assertUnauthorized(t *testing.T, resp *http.Response, challenge string) {
	t.Helper()
	body := readAll(t, resp)
	if resp.StatusCode != 401 || body != "401 Unauthorized\n" || resp.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("status %d, Content-Type %q, body %q; want 401, text/plain, \"401 Unauthorized\\n\"",
			resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if challenge != "" {
		if got := resp.Header.Values("WWW-Authenticate"); len(got) != 1 || got[0] != challenge {
			t.Errorf("WWW-Authenticate %q, want %q", got, challenge)
		}
	}
}

// Every hash type, accepted with the right password and refused with a
// wrong one, over real sockets.
func TestBasicAuthHashTypes(t *testing.T) {
	t.Parallel()
	users := []struct{ name, hash, password string }{
		{"sha", "{SHA}qvTGHdzF6KLavt4PO0gs2a6pQ00=", "hello"},
		{"apr1", "$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/", "test"},
		{"md5", "$1$YeNsbWdH$wvOF8JdqsoiLix754LTW90", "pass"},
		{"2y", "$2y$05$ih3C91zUBSTFcAh2mQnZYuob0UOZVEf16wl/ukgjDhjvj.xgM1WwS", "hello3"},
		{"2a", bcryptHash(t, "pw-2a", "$2a$"), "pw-2a"},
		{"2b", bcryptHash(t, "pw-2b", "$2b$"), "pw-2b"},
		{"2x", bcryptHash(t, "pw-2x", "$2x$"), "pw-2x"},
		{"plain", "test", "test"}, // Traefik's TestBasicAuthFail: refused
		{"empty", "", ""},
	}
	var lines []string
	for _, u := range users {
		lines = append(lines, u.name+":"+u.hash)
	}
	var hits atomic.Int32
	url := front(t, countingBackend(&hits), buildOne(t, "basicAuth", basicConfig(t, basicAuthConfig{Users: lines})))
	for _, u := range users {
		refused := u.name == "plain" || u.name == "empty"
		for _, pw := range []string{u.password, u.password + "x", strings.ToUpper(u.password) + "X"} {
			before := hits.Load()
			resp := do(t, "GET", url+"/p", nil, basicHeader(u.name, pw))
			if pw == u.password && !refused {
				if body := readAll(t, resp); resp.StatusCode != 200 || hits.Load() != before+1 {
					t.Errorf("%s with its password: status %d: %s", u.name, resp.StatusCode, body)
				}
				continue
			}
			assertUnauthorized(t, resp, `Basic realm="traefik"`)
			if hits.Load() != before {
				t.Errorf("%s with password %q reached the backend", u.name, pw)
			}
		}
	}
	// Unknown users and another user's password are refused.
	assertUnauthorized(t, do(t, "GET", url, nil, basicHeader("foo", "foo")), `Basic realm="traefik"`)
	assertUnauthorized(t, do(t, "GET", url, nil, basicHeader("sha", "test")), `Basic realm="traefik"`)
}

// The Authorization header as Go's Request.BasicAuth reads it.
func TestBasicAuthMalformedHeaders(t *testing.T) {
	t.Parallel()
	const line = "test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/"
	url := front(t, nil, buildOne(t, "basicAuth", basicConfig(t, basicAuthConfig{Users: []string{line}})))
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		auth string
		ok   bool
	}{
		{"Basic " + b64("test:test"), true},
		{"basic " + b64("test:test"), true}, // the scheme in any case
		{"BASIC " + b64("test:test"), true},
		{"Basic " + b64("test:test:"), false}, // the password is "test:"
		{"Basic " + b64("test:"), false},
		{"Basic " + b64("test"), false}, // no colon
		{"Basic " + b64(":test"), false},
		{"Basic " + strings.TrimRight(b64("test:test1"), "="), false}, // padding is required
		{"Basic  " + b64("test:test"), false},                         // one space only
		{"Basic\t" + b64("test:test"), false},
		{"Basic " + base64.URLEncoding.EncodeToString([]byte("test:test??>")), false},
		{"Basic !@#", false},
		{"Basic", false},
		{"Basic ", false},
		{"Bearer " + b64("test:test"), false},
		{"Digest username=\"test\"", false},
		{"", false},
	}
	for _, tc := range tests {
		var hdr []string
		if tc.auth != "" {
			hdr = append(hdr, "Authorization: "+tc.auth)
		}
		resp := do(t, "GET", url, nil, hdr...)
		if tc.ok {
			if body := readAll(t, resp); resp.StatusCode != 200 {
				t.Errorf("%q: status %d: %s", tc.auth, resp.StatusCode, body)
			}
			continue
		}
		assertUnauthorized(t, resp, `Basic realm="traefik"`)
	}
	// A second Authorization header is not read (Go's Header.Get).
	resp := do(t, "GET", url, nil, "Authorization: Bearer x", basicHeader("test", "test"))
	assertUnauthorized(t, resp, `Basic realm="traefik"`)

	// HEAD: the same answer without its body.
	resp = do(t, "HEAD", url, nil)
	if body := readAll(t, resp); resp.StatusCode != 401 || body != "" || resp.Header.Get("WWW-Authenticate") != `Basic realm="traefik"` {
		t.Errorf("HEAD: status %d, WWW-Authenticate %q, body %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
	}

	// Spaces and tabs around the header value are not part of it (Go's
	// server trims them too); Go's client cannot send them, so a raw
	// request does.
	for _, v := range []string{"Basic dGVzdDp0ZXN0  ", "Basic dGVzdDp0ZXN0\t", "  Basic dGVzdDp0ZXN0"} {
		c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n\r\n", v)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 {
			t.Errorf("%q: status %d", v, resp.StatusCode)
		}
		c.Close()
	}
}

// realm, removeHeader and headerField, as forwarded to a real backend.
func TestBasicAuthOptions(t *testing.T) {
	t.Parallel()
	const line = "test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/"
	auth := basicHeader("test", "test")
	authValue := strings.TrimPrefix(auth, "Authorization: ")
	tests := []struct {
		name    string
		cfg     basicAuthConfig
		hdr     []string
		want    map[string][]string // forwarded headers; nil values: absent
		realm   string
		comment string
	}{
		{name: "defaults keep Authorization", cfg: basicAuthConfig{},
			want: map[string][]string{"Authorization": {authValue}}, realm: "traefik"},
		{name: "realm", cfg: basicAuthConfig{Realm: "my realm"}, realm: "my realm"},
		{name: "removeHeader", cfg: basicAuthConfig{RemoveHeader: true},
			want: map[string][]string{"Authorization": nil}},
		{name: "headerField", cfg: basicAuthConfig{HeaderField: "X-WebAuth-User"},
			want: map[string][]string{"X-Webauth-User": {"test"}, "Authorization": {authValue}}},
		{name: "headerField replaces the client's", cfg: basicAuthConfig{HeaderField: "x-user"},
			hdr:  []string{"X-User: admin", "x-user: root"},
			want: map[string][]string{"X-User": {"test"}}},
		{name: "headerField and removeHeader", cfg: basicAuthConfig{HeaderField: "X-User", RemoveHeader: true},
			want: map[string][]string{"X-User": {"test"}, "Authorization": nil}},
		{name: "headerField Authorization, removeHeader", cfg: basicAuthConfig{HeaderField: "Authorization", RemoveHeader: true},
			want: map[string][]string{"Authorization": nil}},
		{name: "headerField Authorization", cfg: basicAuthConfig{HeaderField: "Authorization"},
			want: map[string][]string{"Authorization": {"test"}}},
		// Traefik removes the canonical key after setting the literal one.
		{name: "headerField authorization, removeHeader", cfg: basicAuthConfig{HeaderField: "authorization", RemoveHeader: true},
			want: map[string][]string{"Authorization": {"test"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.cfg.Users = []string{line}
			url := front(t, nil, buildOne(t, "basicAuth", basicConfig(t, tc.cfg)))
			e := echoed(t, url+"/x", append([]string{auth}, tc.hdr...)...)
			for k, v := range tc.want {
				if got := e.Header[k]; v == nil && got != nil || v != nil && !equalStrings(got, v) {
					t.Errorf("forwarded %s: %q, want %q", k, got, v)
				}
			}
			if tc.realm != "" {
				assertUnauthorized(t, do(t, "GET", url, nil), `Basic realm="`+tc.realm+`"`)
			}
		})
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Traefik's user list cases: later lines win, every listed user logs in.
func TestBasicAuthUsers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		users []string
		ok    map[string]string
		realm string
	}{
		{[]string{"test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/", "test2:$apr1$d9hr9HBB$4HxwgUir3HP4EsggP/QNo0"},
			map[string]string{"test": "test", "test2": "test2"}, ""},
		{[]string{"test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/", "test2:$apr1$d9hr9HBB$4HxwgUir3HP4EsggP/QNo0", "test3:$apr1$3rJbDP0q$RfzJiorTk78jQ1EcKqWso0"},
			map[string]string{"test": "test", "test2": "test2", "test3": "test3"}, ""},
		{[]string{"test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/", "test2:$apr1$d9hr9HBB$4HxwgUir3HP4EsggP/QNo0", "test2:$apr1$mK.GtItK$ncnLYvNLek0weXdxo68690"},
			map[string]string{"test": "test", "test2": "overridden"}, "traefiker"},
	}
	for _, tc := range tests {
		url := front(t, nil, buildOne(t, "basicAuth", basicConfig(t, basicAuthConfig{Users: tc.users, Realm: tc.realm})))
		for u, p := range tc.ok {
			echoed(t, url, basicHeader(u, p))
		}
		realm := tc.realm
		if realm == "" {
			realm = "traefik"
		}
		assertUnauthorized(t, do(t, "GET", url, nil, basicHeader("foo", "foo")), `Basic realm="`+realm+`"`)
		if _, over := tc.ok["test2"]; over && tc.ok["test2"] == "overridden" {
			assertUnauthorized(t, do(t, "GET", url, nil, basicHeader("test2", "test2")), "")
		}
	}
}

func TestBasicAuthBadConfigs(t *testing.T) {
	tests := []struct{ config, err string }{
		{`{"users":["test"]}`, "error parsing BasicUser: test"},
		{`{"users":["a:b:c"]}`, "error parsing BasicUser: a:b:c"},
		{`{"users":["ok:{SHA}x",""]}`, "error parsing BasicUser: "},
		{`{"users":[]}`, "no users found in "},
		{`{}`, "no users found in "},
		{`{"users":["a:b"],"usersFile":"/etc/htpasswd"}`, `option "usersFile" is not supported by edgeroute`},
		{`{"users":["a:b"],"secret":"s"}`, `option "secret" is not supported by edgeroute`},
		{`{"users":["a:b"],"headerField":"X User"}`, `headerField "X User" is not a valid header name`},
		{`{"users":["a:b"],"headerField":"host"}`, "headerField host cannot carry the user name"},
		{`{"users":["a:b"],"headerField":"Content-Length"}`, "headerField Content-Length cannot carry the user name"},
		{`{"users":["a\rb:x"],"headerField":"X-User"}`, `user name "a\rb" cannot be sent in header X-User`},
	}
	for _, tc := range tests {
		_, err := tryBuild("basicAuth", tc.config)
		if err == nil || !strings.HasSuffix(err.Error(), tc.err) {
			t.Errorf("%s: err = %v, want %q", tc.config, err, tc.err)
		}
	}
	// A control byte in a name is fine when no header carries it.
	if _, err := tryBuild("basicAuth", `{"users":["a\rb:x"]}`); err != nil {
		t.Errorf("control byte without headerField: %v", err)
	}
}

// The verification cache: a success is remembered (keyed by HMAC, not the
// password), failures are not, a wrong password after a success is still
// refused, unknown users still cost a hash.
func TestBasicAuthCache(t *testing.T) {
	b, err := buildBasicAuth(&basicAuthConfig{Users: []string{
		"test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/", "two:" + bcryptHash(t, "pw", "$2y$"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	var hashes atomic.Int32
	orig := b.checkSecret
	b.checkSecret = func(pw []byte, s string) bool { hashes.Add(1); return orig(pw, s) }
	var r Request
	run := func(user, pw string) bool {
		r.Buf = r.Buf[:0]
		return b.check(&r, []byte(user), []byte(pw))
	}
	steps := []struct {
		user, pw string
		ok       bool
		hashed   bool
	}{
		{"test", "wrong", false, true},
		{"test", "wrong", false, true}, // failures are not cached
		{"test", "test", true, true},
		{"test", "test", true, false}, // cached
		{"test", "test", true, false},
		{"test", "wrong", false, true}, // a cached success does not open the door
		{"test", "test", true, false},  // and is kept
		{"foo", "test", false, true},   // unknown users hash too
		{"foo", "test", false, true},
		{"two", "pw", true, true},
		{"two", "pw", true, false},
		{"two", "pw2", false, true},
		{"test", "test", true, false},
	}
	for i, s := range steps {
		before := hashes.Load()
		if got := run(s.user, s.pw); got != s.ok {
			t.Errorf("step %d (%s:%s): ok = %v, want %v", i, s.user, s.pw, got, s.ok)
		}
		if hashed := hashes.Load() != before; hashed != s.hashed {
			t.Errorf("step %d (%s:%s): hashed = %v, want %v", i, s.user, s.pw, hashed, s.hashed)
		}
	}
	// The slot holds a keyed tag, not the password or its plain hash.
	tag := b.users["test"].verified.Load()
	if tag == nil || bytes.Contains(tag[:], []byte("test")) {
		t.Fatalf("cached tag %x", tag)
	}
	other, _ := buildBasicAuth(&basicAuthConfig{Users: []string{"test:$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/"}})
	var r2 Request
	if got := other.tag(&r2, 1, []byte("test"), []byte("test"), other.users["test"].hash); bytes.Equal(got, tag[:]) {
		t.Error("two middlewares share a tag key")
	}
}

// Many routers share one middleware: concurrent checks are safe (run
// with -race) and answer right.
func TestBasicAuthConcurrent(t *testing.T) {
	t.Parallel()
	url := front(t, nil, buildOne(t, "basicAuth", basicConfig(t, basicAuthConfig{Users: []string{
		"a:" + bcryptHash(t, "pa", "$2y$"), "b:{SHA}qvTGHdzF6KLavt4PO0gs2a6pQ00=",
	}})))
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			user, pw, want := "a", "pa", 200
			switch i % 4 {
			case 1:
				user, pw = "b", "hello"
			case 2:
				pw, want = "pb", 401
			case 3:
				user, want = "c", 401
			}
			for range 5 {
				req, _ := http.NewRequest("GET", url, nil)
				req.SetBasicAuth(user, pw)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != want {
					t.Errorf("%s:%s: status %d, want %d", user, pw, resp.StatusCode, want)
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkBasicAuthBcrypt: one request's authentication against a bcrypt
// hash of htpasswd's cost (10 here), with and without the cache.
func BenchmarkBasicAuthBcrypt(b *testing.B) {
	h, err := bcrypt.GenerateFromPassword([]byte("secret"), 10)
	if err != nil {
		b.Fatal(err)
	}
	for _, cached := range []bool{true, false} {
		name := "uncached"
		if cached {
			name = "cached"
		}
		b.Run(name, func(b *testing.B) {
			ba, err := buildBasicAuth(&basicAuthConfig{Users: []string{"user:" + string(h)}})
			if err != nil {
				b.Fatal(err)
			}
			ba.noCache = !cached
			passed := 0
			handler := ba.wrap(func(*fasthttp.RequestCtx, *Request) { passed++ })
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("user:secret")))
			var r Request
			b.ReportAllocs()
			for b.Loop() {
				handler(&ctx, &r)
			}
			if passed == 0 || ctx.Response.StatusCode() != 200 {
				b.Fatalf("not authenticated: %d", ctx.Response.StatusCode())
			}
		})
	}
}
