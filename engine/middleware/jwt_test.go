package middleware

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// The jwt kind is edgeroute's own (Traefik's open edition has none), so
// its cases come from RFC 7519 (claims), RFC 7515/7517/7518 (signatures,
// keys, algorithms) and RFC 6750 (the challenge), over real sockets: a
// real JWKS server on loopback serves keys generated here, tokens are
// signed here, and time is a test clock shared by the middleware's
// validation and its key cache.

// jwtTestKeys are generated once for the package's tests.
type jwtTestKeys struct {
	rsa, rsa2, rsaOther *rsa.PrivateKey
	ec256, ec384        *ecdsa.PrivateKey
	ed                  ed25519.PrivateKey
}

var testKeys = sync.OnceValue(func() *jwtTestKeys {
	k := &jwtTestKeys{}
	var err error
	for _, p := range []**rsa.PrivateKey{&k.rsa, &k.rsa2, &k.rsaOther} {
		if *p, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	}
	if k.ec256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		panic(err)
	}
	if k.ec384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
		panic(err)
	}
	if _, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		panic(err)
	}
	return k
})

// testClock is the middleware's clock in tests.
type testClock struct{ ns atomic.Int64 }

var jwtT0 = time.Unix(1_800_000_000, 0)

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(jwtT0.UnixNano())
	return c
}

func (c *testClock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *testClock) add(d time.Duration) { c.ns.Add(int64(d)) }

// jwksServer is a JWKS endpoint on loopback whose document, status and
// Cache-Control the test changes; it counts its requests.
type jwksServer struct {
	url    string
	srv    *http.Server
	doc    atomic.Pointer[[]byte]
	cache  atomic.Pointer[string]
	status atomic.Int32
	hits   atomic.Int32
}

func newJWKSServer(t *testing.T, keys ...jose.JSONWebKey) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.serve(keys...)
	s.status.Store(200)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if c := s.cache.Load(); c != nil {
			w.Header().Set("Cache-Control", *c)
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.WriteHeader(int(s.status.Load()))
		w.Write(*s.doc.Load())
	})}
	go s.srv.Serve(ln)
	t.Cleanup(func() { s.srv.Close() })
	s.url = "http://" + ln.Addr().String() + "/.well-known/jwks.json"
	return s
}

// serve sets the keys served, with two entries a client must skip: a key
// of an unknown type and an encryption key.
func (s *jwksServer) serve(keys ...jose.JSONWebKey) {
	var list []json.RawMessage
	for _, k := range keys {
		b, err := k.MarshalJSON()
		if err != nil {
			panic(err)
		}
		list = append(list, b)
	}
	list = append(list, json.RawMessage(`{"kty":"XYZ","kid":"odd"}`))
	enc, _ := jose.JSONWebKey{Key: &testKeys().rsa2.PublicKey, KeyID: "enc1", Use: "enc"}.MarshalJSON()
	list = append(list, enc)
	doc, _ := json.Marshal(map[string]any{"keys": list})
	s.setDoc(doc)
}

func (s *jwksServer) setDoc(doc []byte) { s.doc.Store(&doc) }
func (s *jwksServer) setCache(v string) { s.cache.Store(&v) }

// the keys the main JWKS serves.
func servedKeys() []jose.JSONWebKey {
	k := testKeys()
	return []jose.JSONWebKey{
		{Key: &k.rsa.PublicKey, KeyID: "r1", Algorithm: "RS256", Use: "sig"},
		{Key: &k.ec256.PublicKey, KeyID: "e1"},
		{Key: &k.ec384.PublicKey, KeyID: "e384", Use: "sig"},
		{Key: k.ed.Public(), KeyID: "ed1"},
	}
}

// buildJWTAt builds a jwt middleware from its JSON configuration with the
// test clock.
func buildJWTAt(t *testing.T, config string, clk *testClock) Middleware {
	t.Helper()
	var c jwtConfig
	if err := decode(json.RawMessage(config), &c); err != nil {
		t.Fatal(err)
	}
	m, err := buildJWT(&c, &BuildContext{}, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	return m.wrap
}

// claimsAt are valid claims at now, with overrides (a nil value deletes
// the claim).
func claimsAt(now time.Time, over map[string]any) jwt.MapClaims {
	c := jwt.MapClaims{
		"iss": "https://idp.test", "aud": "api", "sub": "alice",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"roles": []string{"admin", "dev"}, "admin": true, "level": 42,
		"org": map[string]any{"id": "o1"}, "scope": "read write",
	}
	for k, v := range over {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// sign makes a token; header entries are added to the JOSE header (a nil
// value deletes one).
func sign(t *testing.T, m jwt.SigningMethod, key any, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func kid(k string) map[string]any { return map[string]any{"kid": k} }

// rawToken assembles a token from its JSON parts and a signature.
func rawToken(header, claims string, sig []byte) string {
	e := base64.RawURLEncoding
	return e.EncodeToString([]byte(header)) + "." + e.EncodeToString([]byte(claims)) + "." + e.EncodeToString(sig)
}

// challenge is the WWW-Authenticate of an invalid_token answer.
func jwtChallenge(desc string) string {
	return `Bearer realm="traefik", error="invalid_token", error_description="` + desc + `"`
}

const bare = `Bearer realm="traefik"`

// expectDenied checks an answer of the middleware itself.
func expectDenied(t *testing.T, url string, status int, wwwAuth string, hdr ...string) {
	t.Helper()
	resp := do(t, "GET", url, nil, hdr...)
	body := readAll(t, resp)
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d (%s; WWW-Authenticate %q)", resp.StatusCode, status, body, resp.Header.Get("WWW-Authenticate"))
	}
	if got := resp.Header.Get("WWW-Authenticate"); got != wwwAuth {
		t.Errorf("WWW-Authenticate %q\n                   want %q", got, wwwAuth)
	}
	if status == 500 {
		if body != "" {
			t.Errorf("body %q, want none", body)
		}
		return
	}
	if want := http.StatusText(status); body != strings.Fields(resp.Status)[0]+" "+want+"\n" || resp.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("body %q, Content-Type %q", body, resp.Header.Get("Content-Type"))
	}
}

func bearer(tok string) string { return "Authorization: Bearer " + tok }

func TestJWT(t *testing.T) {
	k := testKeys()
	clk := newTestClock()
	now := clk.now()
	jwks := newJWKSServer(t, servedKeys()...)
	url := front(t, nil, buildJWTAt(t, `{"jwksURL":"`+jwks.url+`","issuer":"https://idp.test","audience":["other","api"],
		"forwardClaims":{"sub":"X-User","roles":"X-Roles","admin":"X-Admin","level":"X-Level","org":"X-Org","missing":"X-Missing","aud":"X-Aud"}}`, clk))

	rs := func(over map[string]any) string {
		return sign(t, jwt.SigningMethodRS256, k.rsa, claimsAt(now, over), kid("r1"))
	}
	pubPEM, _ := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)

	t.Run("valid RS256: claims forwarded, client copies removed", func(t *testing.T) {
		e := echoed(t, url, bearer(rs(nil)), "X-User: mallory", "X-Missing: forged", "X-Roles: root")
		want := map[string][]string{"X-User": {"alice"}, "X-Roles": {"admin,dev"}, "X-Admin": {"true"},
			"X-Level": {"42"}, "X-Org": {`{"id":"o1"}`}, "X-Aud": {"api"}, "X-Missing": nil}
		for h, v := range want {
			if !slices.Equal(e.Header[h], v) {
				t.Errorf("%s: %q, want %q", h, e.Header[h], v)
			}
		}
		if len(e.Header["Authorization"]) != 1 {
			t.Errorf("Authorization not forwarded: %v", e.Header)
		}
	})

	type tc struct {
		name   string
		hdr    []string
		status int
		auth   string // WWW-Authenticate when refused
	}
	ok := func(name string, hdr ...string) tc { return tc{name: name, hdr: hdr, status: 200} }
	bad := func(name, desc string, hdr ...string) tc {
		return tc{name: name, hdr: hdr, status: 401, auth: jwtChallenge(desc)}
	}
	unsigned := rawToken(`{"alg":"none","typ":"JWT"}`, `{"iss":"https://idp.test","aud":"api","exp":1900000000}`, nil)
	tests := []tc{
		ok("ES256", bearer(sign(t, jwt.SigningMethodES256, k.ec256, claimsAt(now, nil), kid("e1")))),
		ok("ES384", bearer(sign(t, jwt.SigningMethodES384, k.ec384, claimsAt(now, nil), kid("e384")))),
		ok("EdDSA", bearer(sign(t, jwt.SigningMethodEdDSA, k.ed, claimsAt(now, nil), kid("ed1")))),
		ok("no kid: every key of the algorithm is tried", bearer(sign(t, jwt.SigningMethodRS256, k.rsa, claimsAt(now, nil), nil))),
		ok("scheme is case-insensitive", "Authorization: bearer "+rs(nil)),
		ok("audience list, one matches", bearer(rs(map[string]any{"aud": []string{"x", "api"}}))),
		ok("expired within the skew", bearer(rs(map[string]any{"exp": now.Add(-29 * time.Second).Unix()}))),
		ok("not yet valid within the skew", bearer(rs(map[string]any{"nbf": now.Add(29 * time.Second).Unix()}))),
		ok("issued in the future within the skew", bearer(rs(map[string]any{"iat": now.Add(29 * time.Second).Unix()}))),

		{name: "no token", status: 401, auth: bare},
		{name: "another scheme", hdr: []string{"Authorization: Basic dXNlcjpwYXNz"}, status: 401, auth: bare},
		{name: "Bearer without a token", hdr: []string{"Authorization: Bearer "}, status: 401, auth: bare},
		bad("expired", "token is expired", bearer(rs(map[string]any{"exp": now.Add(-31 * time.Second).Unix()}))),
		bad("not yet valid", "token is not valid yet", bearer(rs(map[string]any{"nbf": now.Add(31 * time.Second).Unix()}))),
		bad("issued in the future", "token is issued in the future", bearer(rs(map[string]any{"iat": now.Add(31 * time.Second).Unix()}))),
		bad("no exp", "token has no exp claim", bearer(rs(map[string]any{"exp": nil}))),
		bad("exp not a number", "token has invalid claims", bearer(rs(map[string]any{"exp": "tomorrow"}))),
		bad("wrong issuer", "token has invalid issuer", bearer(rs(map[string]any{"iss": "https://evil.test"}))),
		bad("no issuer", "token has no iss claim", bearer(rs(map[string]any{"iss": nil}))),
		bad("wrong audience", "token has invalid audience", bearer(rs(map[string]any{"aud": []string{"x", "y"}}))),
		bad("no audience", "token has no aud claim", bearer(rs(map[string]any{"aud": nil}))),
		bad("alg none", "signing algorithm is not allowed", bearer(unsigned)),
		bad("HS256 not allowed (signed with the public key)", "signing algorithm is not allowed",
			bearer(sign(t, jwt.SigningMethodHS256, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubPEM}), claimsAt(now, nil), kid("r1")))),
		bad("unknown algorithm", "signing algorithm is not allowed",
			bearer(rawToken(`{"alg":"XX256","kid":"r1"}`, `{"exp":1900000000}`, []byte("sig")))),
		bad("malformed: one part", "token is malformed", bearer("abc")),
		bad("malformed: bad base64", "token is malformed", bearer("a.b.c")),
		bad("malformed: five parts (JWE)", "token is malformed", bearer("a.b.c.d.e")),
		bad("malformed: header not JSON", "token is malformed", bearer(rawToken(`{alg`, `{}`, nil))),
		bad("kid not a string", "token is malformed", bearer(sign(t, jwt.SigningMethodRS256, k.rsa, claimsAt(now, nil), map[string]any{"kid": 7}))),
		bad("signed by another key", "token signature is invalid", bearer(sign(t, jwt.SigningMethodRS256, k.rsaOther, claimsAt(now, nil), kid("r1")))),
		bad("tampered claims", "token signature is invalid", bearer(tamper(rs(nil)))),
		bad("critical header", "token has critical header parameters",
			bearer(sign(t, jwt.SigningMethodRS256, k.rsa, claimsAt(now, nil), map[string]any{"kid": "r1", "crit": []string{"exp"}, "exp": 1}))),
		bad("key bound to another algorithm (r1 is RS256)", "no key matches the token", bearer(sign(t, jwt.SigningMethodPS256, k.rsa, claimsAt(now, nil), kid("r1")))),
		bad("ES256 token naming the P-384 key", "no key matches the token", bearer(sign(t, jwt.SigningMethodES256, k.ec256, claimsAt(now, nil), kid("e384")))),
		bad("encryption key skipped", "no key matches the token", bearer(sign(t, jwt.SigningMethodRS256, k.rsa2, claimsAt(now, nil), kid("enc1")))),
		bad("unknown kid", "no key matches the token", bearer(sign(t, jwt.SigningMethodRS256, k.rsa2, claimsAt(now, nil), kid("r9")))),
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.status == 200 {
				echoed(t, url, tt.hdr...)
				return
			}
			expectDenied(t, url, tt.status, tt.auth, tt.hdr...)
		})
	}
	// One fetch: the unknown key IDs came within jwksMinInterval of it.
	if n := jwks.hits.Load(); n != 1 {
		t.Errorf("JWKS fetched %d times, want 1", n)
	}
}

// tamper changes a token's claims, keeping its signature.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c map[string]any
	json.Unmarshal(b, &c)
	c["sub"] = "mallory"
	b, _ = json.Marshal(c)
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

// A token naming a key the set lacks refreshes it (at most once per
// jwksMinInterval): rotated keys are picked up, removed ones stop working.
func TestJWTKeyRotation(t *testing.T) {
	k := testKeys()
	clk := newTestClock()
	jwks := newJWKSServer(t, jose.JSONWebKey{Key: &k.rsa.PublicKey, KeyID: "r1"})
	url := front(t, nil, buildJWTAt(t, `{"jwksURL":"`+jwks.url+`"}`, clk))
	tok := func(key *rsa.PrivateKey, id string) string {
		return bearer(sign(t, jwt.SigningMethodRS256, key, claimsAt(clk.now(), nil), kid(id)))
	}

	echoed(t, url, tok(k.rsa, "r1"))
	jwks.serve(jose.JSONWebKey{Key: &k.rsa2.PublicKey, KeyID: "r2"})
	clk.add(5 * time.Second)
	expectDenied(t, url, 401, jwtChallenge("no key matches the token"), tok(k.rsa2, "r2"))
	if n := jwks.hits.Load(); n != 1 {
		t.Fatalf("refreshed within the rate limit: %d fetches", n)
	}
	echoed(t, url, tok(k.rsa, "r1")) // the cached set still serves
	clk.add(5 * time.Second)
	echoed(t, url, tok(k.rsa2, "r2"))
	if n := jwks.hits.Load(); n != 2 {
		t.Errorf("%d fetches, want 2", n)
	}
	expectDenied(t, url, 401, jwtChallenge("no key matches the token"), tok(k.rsa, "r1"))
	clk.add(10 * time.Second)
	expectDenied(t, url, 401, jwtChallenge("no key matches the token"), tok(k.rsa, "r1"))
	if n := jwks.hits.Load(); n != 3 {
		t.Errorf("%d fetches, want 3", n)
	}
}

// The set stays fresh for Cache-Control's max-age, within bounds.
func TestJWTCacheControl(t *testing.T) {
	k := testKeys()
	tests := []struct {
		cacheControl string
		ttl          time.Duration
	}{
		{"", 10 * time.Minute},
		{"max-age=120", 2 * time.Minute},
		{"public, max-age=300, must-revalidate", 5 * time.Minute},
		{"max-age=5", time.Minute},
		{"max-age=86400", time.Hour},
		{"no-store", time.Minute},
		{"no-cache, max-age=600", time.Minute},
		{"max-age=junk", 10 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.cacheControl, func(t *testing.T) {
			clk := newTestClock()
			jwks := newJWKSServer(t, jose.JSONWebKey{Key: &k.rsa.PublicKey, KeyID: "r1"})
			if tt.cacheControl != "" {
				jwks.setCache(tt.cacheControl)
			}
			url := front(t, nil, buildJWTAt(t, `{"jwksURL":"`+jwks.url+`"}`, clk))
			get := func() {
				echoed(t, url, bearer(sign(t, jwt.SigningMethodRS256, k.rsa, claimsAt(clk.now(), nil), kid("r1"))))
			}
			get()
			clk.add(tt.ttl)
			get()
			if n := jwks.hits.Load(); n != 1 {
				t.Errorf("refetched before the set went stale: %d fetches", n)
			}
			clk.add(time.Second)
			get()
			if n := jwks.hits.Load(); n != 2 {
				t.Errorf("stale set not refetched: %d fetches", n)
			}
		})
	}
}

// A failed refresh keeps the last good set: the server down, an error
// status, a document without keys.
func TestJWTKeepsKeysWhenRefreshFails(t *testing.T) {
	k := testKeys()
	clk := newTestClock()
	jwks := newJWKSServer(t, jose.JSONWebKey{Key: &k.rsa.PublicKey, KeyID: "r1"})
	url := front(t, nil, buildJWTAt(t, `{"jwksURL":"`+jwks.url+`"}`, clk))
	tok := func(id string) string {
		return bearer(sign(t, jwt.SigningMethodRS256, k.rsa, claimsAt(clk.now(), nil), kid(id)))
	}
	echoed(t, url, tok("r1"))

	for i, breakIt := range []func(){
		func() { jwks.status.Store(503) },
		func() { jwks.status.Store(200); jwks.setDoc([]byte(`{"keys":[]}`)) },
		func() { jwks.setDoc([]byte(`<html>oops</html>`)) },
		func() { jwks.setDoc([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]}`)) }, // HMAC: never from a URL
	} {
		breakIt()
		clk.add(11 * time.Minute) // stale
		echoed(t, url, tok("r1"))
		if n := jwks.hits.Load(); n != int32(i+2) {
			t.Errorf("step %d: %d fetches, want %d", i, n, i+2)
		}
	}

	// The server down: the cached keys serve; a fetch failure is not
	// retried within jwksMinInterval, even for unknown key IDs.
	jwks.srv.Close()
	clk.add(11 * time.Minute)
	echoed(t, url, tok("r1"))
	clk.add(time.Second)
	echoed(t, url, tok("r1"))
	expectDenied(t, url, 401, jwtChallenge("no key matches the token"), tok("r2"))
	clk.add(time.Hour)
	echoed(t, url, tok("r1"))
}

// Without any set (the server failing from the start) tokens cannot be
// checked: 500, as forwardAuth answers without its server; no fetch is
// tried again within jwksMinInterval.
func TestJWTKeysUnavailable(t *testing.T) {
	k := testKeys()
	clk := newTestClock()
	jwks := newJWKSServer(t, jose.JSONWebKey{Key: &k.rsa.PublicKey, KeyID: "r1"})
	jwks.status.Store(503)
	url := front(t, nil, buildJWTAt(t, `{"jwksURL":"`+jwks.url+`"}`, clk))
	tok := bearer(sign(t, jwt.SigningMethodRS256, k.rsa, claimsAt(clk.now(), nil), kid("r1")))
	expectDenied(t, url, 500, "", tok)
	jwks.status.Store(200)
	expectDenied(t, url, 500, "", tok)
	if n := jwks.hits.Load(); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
	expectDenied(t, url, 401, bare) // no token: no keys needed
	clk.add(10 * time.Second)
	echoed(t, url, tok)

	// Nothing listening: the same.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	url = front(t, nil, buildJWTAt(t, `{"jwksURL":"http://`+addr+`/jwks"}`, clk))
	expectDenied(t, url, 500, "", tok)
}

// Concurrent first requests share one fetch.
func TestJWTSingleFetch(t *testing.T) {
	k := testKeys()
	clk := newTestClock()
	jwks := newJWKSServer(t, jose.JSONWebKey{Key: &k.rsa.PublicKey, KeyID: "r1"})
	url := front(t, nil, buildJWTAt(t, `{"jwksURL":"`+jwks.url+`"}`, clk))
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+sign(t, jwt.SigningMethodRS256, k.rsa, claimsAt(clk.now(), nil), kid("r1")))
	var wg sync.WaitGroup
	statuses := make([]int, 16)
	for i := range statuses {
		wg.Go(func() {
			resp, err := http.DefaultClient.Do(req.Clone(req.Context()))
			if err != nil {
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		})
	}
	wg.Wait()
	for i, s := range statuses {
		if s != 200 {
			t.Errorf("request %d: status %d", i, s)
		}
	}
	if n := jwks.hits.Load(); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
}

// Where the token is read, and removeHeader taking it out.
func TestJWTTokenSource(t *testing.T) {
	k := testKeys()
	clk := newTestClock()
	jwks := newJWKSServer(t, servedKeys()...)
	tok := sign(t, jwt.SigningMethodRS256, k.rsa, claimsAt(clk.now(), nil), kid("r1"))
	all := `"tokenSource":{"header":"x-token","query":"access_token","cookie":"tok"}`
	removing := front(t, nil, buildJWTAt(t, `{"jwksURL":"`+jwks.url+`",`+all+`,"removeHeader":true}`, clk))
	keeping := front(t, nil, buildJWTAt(t, `{"jwksURL":"`+jwks.url+`",`+all+`}`, clk))

	tests := []struct {
		name, path string
		hdr        []string
		uri        string            // forwarded URI
		headers    map[string]string // forwarded headers ("" absent)
		keepURI    string
		keepHdr    map[string]string
	}{
		{name: "header", path: "/", hdr: []string{"X-Token: " + tok}, uri: "/",
			headers: map[string]string{"X-Token": ""}, keepHdr: map[string]string{"X-Token": tok}},
		{name: "header with Bearer", path: "/", hdr: []string{"X-Token: Bearer " + tok}, uri: "/",
			headers: map[string]string{"X-Token": ""}, keepHdr: map[string]string{"X-Token": "Bearer " + tok}},
		{name: "query, other parameters kept", path: "/p?a=1&access_token=" + tok + "&b=%20", uri: "/p?a=1&b=%20",
			keepURI: "/p?a=1&access_token=" + tok + "&b=%20"},
		{name: "query alone", path: "/p?access_token=" + tok, uri: "/p"},
		{name: "query, escaped name", path: "/p?access%5Ftoken=" + tok + ";z", uri: "/p?z"},
		{name: "cookie, others kept", path: "/", hdr: []string{"Cookie: a=1; tok=" + tok + "; b=2"}, uri: "/",
			headers: map[string]string{"Cookie": "a=1; b=2"}, keepHdr: map[string]string{"Cookie": "a=1; tok=" + tok + "; b=2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := echoed(t, removing+tt.path, tt.hdr...)
			if e.URI != tt.uri {
				t.Errorf("removeHeader: URI %q, want %q", e.URI, tt.uri)
			}
			for h, v := range tt.headers {
				if got := strings.Join(e.Header[h], ", "); got != v {
					t.Errorf("removeHeader: %s %q, want %q", h, got, v)
				}
			}
			e = echoed(t, keeping+tt.path, tt.hdr...)
			want := tt.keepURI
			if want == "" {
				want = tt.path
			}
			if e.URI != want {
				t.Errorf("kept: URI %q, want %q", e.URI, want)
			}
			for h, v := range tt.keepHdr {
				if got := strings.Join(e.Header[h], ", "); got != v {
					t.Errorf("kept: %s %q, want %q", h, got, v)
				}
			}
		})
	}
	t.Run("two sources", func(t *testing.T) {
		expectDenied(t, removing+"/?access_token="+tok, 400,
			`Bearer realm="traefik", error="invalid_request", error_description="more than one token in the request"`, "X-Token: "+tok)
	})
	t.Run("Authorization is not a source here", func(t *testing.T) {
		expectDenied(t, removing, 401, bare, bearer(tok))
	})
	t.Run("empty query value", func(t *testing.T) {
		expectDenied(t, removing+"/?access_token=", 401, bare)
	})

	// The default source with removeHeader.
	url := front(t, nil, buildJWTAt(t, `{"jwksURL":"`+jwks.url+`","removeHeader":true}`, clk))
	if e := echoed(t, url, bearer(tok)); e.Header["Authorization"] != nil {
		t.Errorf("Authorization forwarded: %q", e.Header["Authorization"])
	}
}

// requiredClaims: a valid token without them is answered 403
// insufficient_scope (RFC 6750 section 3.1).
func TestJWTRequiredClaims(t *testing.T) {
	k := testKeys()
	clk := newTestClock()
	now := clk.now()
	jwks := newJWKSServer(t, servedKeys()...)
	url := front(t, nil, buildJWTAt(t, `{"jwksURL":"`+jwks.url+`","realm":"api",
		"requiredClaims":{"roles":"admin","admin":"true","level":"42","scope":"read","tenant":"","https://idp.test/org":"o1"}}`, clk))
	tok := func(over map[string]any) string {
		c := claimsAt(now, over)
		if _, ok := over["tenant"]; !ok {
			c["tenant"] = "t1"
		}
		if _, ok := over["https://idp.test/org"]; !ok {
			c["https://idp.test/org"] = "o1"
		}
		return bearer(sign(t, jwt.SigningMethodRS256, k.rsa, c, kid("r1")))
	}
	lacks := func(claim string) string {
		return `Bearer realm="api", error="insufficient_scope", error_description="token lacks the required claim ` + claim + `"`
	}
	echoed(t, url, tok(nil))
	echoed(t, url, tok(map[string]any{"scope": []string{"write", "read"}}))
	echoed(t, url, tok(map[string]any{"roles": "admin"}))
	echoed(t, url, tok(map[string]any{"tenant": ""})) // present
	tests := []struct {
		name string
		over map[string]any
		auth string
	}{
		{"role missing", map[string]any{"roles": []string{"dev"}}, lacks("roles")},
		{"roles absent", map[string]any{"roles": nil}, lacks("roles")},
		{"boolean false", map[string]any{"admin": false}, lacks("admin")},
		{"boolean as string", map[string]any{"admin": "yes"}, lacks("admin")},
		{"number differs", map[string]any{"level": 43}, lacks("level")},
		{"presence: absent", map[string]any{"tenant": nil}, lacks("tenant")},
		{"presence: null", map[string]any{"tenant": json.RawMessage("null")}, lacks("tenant")},
		{"namespaced claim", map[string]any{"https://idp.test/org": "o2"}, lacks("https://idp.test/org")},
		{"scope not granted", map[string]any{"scope": "write readonly"},
			`Bearer realm="api", error="insufficient_scope", error_description="token lacks the required scope", scope="read"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { expectDenied(t, url, 403, tt.auth, tok(tt.over)) })
	}
	// An invalid token is refused as such first.
	expectDenied(t, url, 401, `Bearer realm="api", error="invalid_token", error_description="token is expired"`,
		tok(map[string]any{"roles": nil, "exp": now.Add(-time.Hour).Unix()}))
}

// jwksSecret: a JWKS and PEM keys from a Secret (as translation resolves
// it), with HMAC allowed explicitly.
func TestJWTSecretKeys(t *testing.T) {
	k := testKeys()
	clk := newTestClock()
	now := clk.now()
	hmacKey := []byte("0123456789abcdef0123456789abcdef")
	jwksDoc, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: hmacKey, KeyID: "h1", Algorithm: "HS256"},
		{Key: &k.rsa.PublicKey, KeyID: "r1"},
	}})
	ecDER, _ := x509.MarshalPKIXPublicKey(&k.ec256.PublicKey)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idp"},
		NotBefore: jwtT0.Add(-time.Hour), NotAfter: jwtT0.Add(time.Hour)}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.ed.Public(), k.ed)
	if err != nil {
		t.Fatal(err)
	}
	data := map[string]string{
		"jwks.json": string(jwksDoc),
		"ec.pem":    string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecDER})),
		"cert.pem":  string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER})),
		"rsa.pem":   string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa2.PublicKey)})),
	}
	cfg := func(algs string) string {
		b, _ := json.Marshal(data)
		return `{"jwksSecret":"ns/keys","jwksSecretData":` + string(b) + `,"algorithms":` + algs + `,"issuer":"https://idp.test"}`
	}
	url := front(t, nil, buildJWTAt(t, cfg(`["HS256","ES256","EdDSA","RS256"]`), clk))
	c := claimsAt(now, nil)
	for _, tt := range []struct {
		name string
		tok  string
	}{
		{"HS256 by kid", sign(t, jwt.SigningMethodHS256, hmacKey, c, kid("h1"))},
		{"HS256 without kid", sign(t, jwt.SigningMethodHS256, hmacKey, c, nil)},
		{"ES256, PEM key", sign(t, jwt.SigningMethodES256, k.ec256, c, nil)},
		{"ES256, unknown kid falls back to keys without one", sign(t, jwt.SigningMethodES256, k.ec256, c, kid("x"))},
		{"EdDSA, certificate", sign(t, jwt.SigningMethodEdDSA, k.ed, c, nil)},
		{"RS256 by kid", sign(t, jwt.SigningMethodRS256, k.rsa, c, kid("r1"))},
		{"RS256, PKCS#1 PEM key", sign(t, jwt.SigningMethodRS256, k.rsa2, c, nil)},
	} {
		t.Run(tt.name, func(t *testing.T) { echoed(t, url, bearer(tt.tok)) })
	}
	for _, tt := range []struct{ name, tok, desc string }{
		{"HS256, another secret", sign(t, jwt.SigningMethodHS256, []byte("another secret, long enough 1234"), c, kid("h1")), "token signature is invalid"},
		{"HS384 not allowed", sign(t, jwt.SigningMethodHS384, append(hmacKey, hmacKey...), c, kid("h1")), "signing algorithm is not allowed"},
		{"ES384 not allowed", sign(t, jwt.SigningMethodES384, k.ec384, c, nil), "signing algorithm is not allowed"},
		{"RS256 by an unknown key", sign(t, jwt.SigningMethodRS256, k.rsaOther, c, nil), "token signature is invalid"},
	} {
		t.Run(tt.name, func(t *testing.T) { expectDenied(t, url, 401, jwtChallenge(tt.desc), bearer(tt.tok)) })
	}

	// HMAC keys are unused unless listed: the default algorithms refuse
	// HS256 even with the key at hand.
	var c2 jwtConfig
	decode(json.RawMessage(cfg(`[]`)), &c2)
	var warnings []string
	m, err := buildJWT(&c2, &BuildContext{warnings: &warnings}, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "holds HMAC keys, unused") {
		t.Errorf("warnings %q", warnings)
	}
	url = front(t, nil, m.wrap)
	expectDenied(t, url, 401, jwtChallenge("signing algorithm is not allowed"), bearer(sign(t, jwt.SigningMethodHS256, hmacKey, c, kid("h1"))))
	echoed(t, url, bearer(sign(t, jwt.SigningMethodES256, k.ec256, c, nil)))
}

// clockSkew, as seconds or a duration string.
func TestJWTClockSkew(t *testing.T) {
	k := testKeys()
	clk := newTestClock()
	now := clk.now()
	jwks := newJWKSServer(t, servedKeys()...)
	for _, tt := range []struct {
		skew string
		d    time.Duration
	}{{`"5s"`, 5 * time.Second}, {`2`, 2 * time.Second}, {`0`, 0}, {`"1m"`, time.Minute}} {
		t.Run(tt.skew, func(t *testing.T) {
			url := front(t, nil, buildJWTAt(t, `{"jwksURL":"`+jwks.url+`","clockSkew":`+tt.skew+`}`, clk))
			tok := func(exp time.Time) string {
				return bearer(sign(t, jwt.SigningMethodRS256, k.rsa, claimsAt(now, map[string]any{"exp": exp.Unix()}), kid("r1")))
			}
			echoed(t, url, tok(now.Add(tt.d+time.Second)))
			if tt.d >= time.Second {
				echoed(t, url, tok(now.Add(-tt.d+time.Second)))
			}
			expectDenied(t, url, 401, jwtChallenge("token is expired"), tok(now.Add(-tt.d)))
		})
	}
}

// An unchanged jwt middleware is reused across reloads: its cached keys
// with it.
func TestJWTReusedAcrossReloads(t *testing.T) {
	k := testKeys()
	jwks := newJWKSServer(t, jose.JSONWebKey{Key: &k.rsa.PublicKey, KeyID: "r1"})
	def := &spec.Middleware{Name: "default-jwt@kubernetescrd", Kind: "jwt",
		Config: json.RawMessage(`{"jwksURL":"` + jwks.url + `","issuer":"https://idp.test"}`)}
	defs := map[string]*spec.Middleware{def.Name: def}
	first := Build(defs, BuildContext{})
	if b := first[def.Name]; b.Err != nil || len(b.Warnings) != 1 || !strings.Contains(b.Warnings[0], "is plain http") {
		t.Fatalf("build: %v, warnings %q", b.Err, b.Warnings)
	}
	tok := bearer(sign(t, jwt.SigningMethodRS256, k.rsa, claimsAt(time.Now(), nil), kid("r1")))
	echoed(t, front(t, nil, first[def.Name].Wrap), tok)
	second := Build(defs, BuildContext{Previous: first})
	echoed(t, front(t, nil, second[def.Name].Wrap), tok)
	if n := jwks.hits.Load(); n != 1 {
		t.Errorf("%d fetches across the reload, want 1", n)
	}
}

func TestJWTBadConfig(t *testing.T) {
	k := testKeys()
	rsaPEM := func() string {
		der, _ := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
		return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	}()
	secret := func(data map[string]string, rest string) string {
		b, _ := json.Marshal(data)
		return `{"jwksSecret":"ns/keys","jwksSecretData":` + string(b) + rest + `}`
	}
	privPEM := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k.rsa)}))
	privJWK, _ := jose.JSONWebKey{Key: k.rsa, KeyID: "p"}.MarshalJSON()
	const u = `"jwksURL":"https://idp.test/jwks"`
	tests := []struct{ config, err string }{
		{`{}`, "jwksURL or jwksSecret is required"},
		{`{` + u + `,"jwksSecret":"s"}`, "jwksURL and jwksSecret are exclusive"},
		{`{"jwksURL":"ftp://idp/jwks"}`, `jwksURL "ftp://idp/jwks": want an http or https URL`},
		{`{"jwksURL":"/jwks"}`, "want an http or https URL"},
		{`{` + u + `,"jwksSecretData":{"a":"b"}}`, "jwksSecretData is only set by translation"},
		{`{` + u + `,"algorithms":["none"]}`, `"none" is never accepted`},
		{`{` + u + `,"algorithms":["RS256","NONE"]}`, `"none" is never accepted`},
		{`{` + u + `,"algorithms":["RS1"]}`, `unknown algorithm "RS1"`},
		{`{` + u + `,"algorithms":["HS256"]}`, "HMAC algorithms (HS256, HS384, HS512) need a shared key from jwksSecret"},
		{secret(map[string]string{"k.pem": rsaPEM}, `,"algorithms":["HS256","RS256"]`), "holds no HMAC key (kty oct) long enough"},
		{secret(map[string]string{"k.json": `{"kty":"oct","k":"` + base64.RawURLEncoding.EncodeToString(make([]byte, 40)) + `"}`}, `,"algorithms":["HS384"]`), "holds no HMAC key"},
		{secret(map[string]string{"k.json": `{"kty":"oct","k":"c2hvcnQ"}`}, `,"algorithms":["HS256"]`), "entry k.json: JWKS key 0: HMAC key of 5 bytes: at least 32 are needed"},
		{secret(map[string]string{"k.pem": rsaPEM}, `,"algorithms":["ES256"]`), "no key of jwksSecret ns/keys fits the allowed algorithms (ES256)"},
		{secret(map[string]string{"k.pem": privPEM}, ""), "entry k.pem: PEM RSA PRIVATE KEY: a private key: give its public key only"},
		{secret(map[string]string{"k.json": string(privJWK)}, ""), "entry k.json: JWKS key 0: a private key"},
		{secret(map[string]string{"k": "hello"}, ""), "entry k: neither a JWKS (JSON) nor PEM"},
		{secret(map[string]string{"k": `{"foo":1}`}, ""), `entry k: JWKS: no "keys" list`},
		{secret(map[string]string{"k": `{"keys":[{"kty":"RSA"}]}`}, ""), "entry k: JWKS key 0:"},
		{secret(map[string]string{"k": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"}, ""), "not a public key or certificate"},
		{secret(map[string]string{"k": `{"keys":[]}`}, ""), "jwksSecret ns/keys holds no signature keys"},
		{`{"jwksSecret":"ns/keys"}`, "jwksSecret ns/keys holds no keys"},
		{`{` + u + `,"clockSkew":"-1s"}`, "clockSkew -1s: must not be negative"},
		{`{` + u + `,"clockSkew":"soon"}`, `duration "soon"`},
		{`{` + u + `,"audience":["api",""]}`, "audience: an empty audience"},
		{`{` + u + `,"requiredClaims":{"":"x"}}`, "requiredClaims: an empty claim name"},
		{`{` + u + `,"requiredClaims":{"scope":"a\"b"}}`, "not scope characters"},
		{`{` + u + `,"tokenSource":{}}`, "tokenSource: set header, query or cookie"},
		{`{` + u + `,"tokenSource":{"header":"X Token"}}`, `tokenSource.header "X Token": not a header name`},
		{`{` + u + `,"tokenSource":{"cookie":"a;b"}}`, `tokenSource.cookie "a;b": not a cookie name`},
		{`{` + u + `,"tokenSource":{"bogus":"x"}}`, `option "bogus" is not supported`},
		{`{` + u + `,"forwardClaims":{"sub":"X User"}}`, `forwardClaims sub: "X User" is not a header name`},
		{`{` + u + `,"forwardClaims":{"sub":"host"}}`, "forwardClaims sub: header Host cannot receive a claim"},
		{`{` + u + `,"forwardClaims":{"sub":"content-length"}}`, "header Content-Length cannot receive a claim"},
		{`{` + u + `,"forwardClaims":{"sub":"authorization"}}`, "forwardClaims sub: header Authorization carries the token"},
		{`{` + u + `,"forwardClaims":{"sub":"X-U","name":"x-u"}}`, "forwardClaims: claims name and sub both go to header X-U"},
		{`{` + u + `,"forwardClaims":{"":"X-U"}}`, "forwardClaims: an empty claim name"},
		{`{` + u + `,"realm":"a\"b"}`, `realm "a\"b": quotes, backslashes and control characters are not allowed`},
		{`{` + u + `,"bogus":1}`, `option "bogus" is not supported`},
	}
	for _, tt := range tests {
		t.Run(tt.err, func(t *testing.T) {
			_, err := tryBuild("jwt", tt.config)
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("config %s:\n  err %v\n want %q", tt.config, err, tt.err)
			}
		})
	}
	// What builds, with the warnings it deserves.
	for _, tt := range []struct {
		config   string
		warnings []string
	}{
		{`{` + u + `,"issuer":"https://idp.test"}`, nil},
		{`{` + u + `,"audience":["api"],"algorithms":["ES256"],"tokenSource":{"query":"t"},"forwardClaims":{"sub":"authorization"}}`, nil},
		{`{` + u + `}`, []string{"neither issuer nor audience is set"}},
		{`{"jwksURL":"http://idp.test/jwks","issuer":"x"}`, []string{"jwksURL http://idp.test/jwks is plain http"}},
	} {
		def := &spec.Middleware{Name: "default-test@kubernetescrd", Kind: "jwt", Config: json.RawMessage(tt.config)}
		b := Build(map[string]*spec.Middleware{def.Name: def}, BuildContext{})[def.Name]
		if b.Err != nil {
			t.Errorf("%s: %v", tt.config, b.Err)
			continue
		}
		if len(b.Warnings) != len(tt.warnings) {
			t.Errorf("%s: warnings %q, want %q", tt.config, b.Warnings, tt.warnings)
			continue
		}
		for i, w := range tt.warnings {
			if !strings.Contains(b.Warnings[i], w) {
				t.Errorf("%s: warning %q, want %q", tt.config, b.Warnings[i], w)
			}
		}
	}
}

func TestJWTCacheTTL(t *testing.T) {
	for _, tt := range []struct {
		values []string
		want   time.Duration
	}{
		{nil, jwksDefaultTTL},
		{[]string{"max-age=90"}, 90 * time.Second},
		{[]string{`max-age="90"`}, 90 * time.Second},
		{[]string{"public", "MAX-AGE=200"}, 200 * time.Second},
		{[]string{"max-age=0"}, jwksMinTTL},
		{[]string{"max-age=-5"}, jwksDefaultTTL},
		{[]string{"max-age=99999999999999999999"}, jwksDefaultTTL},
		{[]string{"max-age=999999999999"}, jwksMaxTTL},
		{[]string{"max-age=120, max-age=3000"}, 2 * time.Minute},
		{[]string{"private, no-cache"}, jwksMinTTL},
	} {
		if got := cacheTTL(tt.values); got != tt.want {
			t.Errorf("cacheTTL(%q) = %s, want %s", tt.values, got, tt.want)
		}
	}
}
