package middleware

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// digestAuthConfig is Traefik's digestAuth (pkg/middlewares/auth/digest_auth.go)
// as translation resolves it: Users are htdigest lines
// "name:realm:HA1" with HA1 = hex(MD5(name:realm:password)).
type digestAuthConfig struct {
	Users        []string `json:"users,omitempty"`
	Realm        string   `json:"realm,omitempty"`
	RemoveHeader bool     `json:"removeHeader,omitempty"`
	HeaderField  string   `json:"headerField,omitempty"`
}

// The nonce table of Traefik's library (go-http-auth's DigestAuth, with
// its defaults): when a challenge finds more than size+tolerance nonces,
// the 2×tolerance least recently seen are dropped. Nonces have no time
// limit; a dropped one is unknown (a plain 401, not stale).
const (
	digestNonces    = 1000
	digestTolerance = 100
)

// digestAuth is a built digestAuth middleware: RFC 2617 digest with MD5
// and qop=auth only, as Traefik's library. Every 401 issues a new nonce,
// remembered in a table bounded as above (so a flood of unauthenticated
// requests can only push out idle nonces, whose clients get a new
// challenge); a nonce's nonce count must grow: the same count again is a
// replay (401), a lower one an out-of-order request (401 with
// stale="true").
type digestAuth struct {
	realm  string
	opaque string // random per middleware, as the library's
	// users maps names to HA1 for the configured realm only (the library
	// looks up "name:realm").
	users map[string][]byte
	fwd   authForward

	mu     sync.Mutex
	nonces map[string]*digestNonce
	seen   uint64 // a clock for least recently seen
}

type digestNonce struct {
	nc   uint64
	used bool // authenticated once: nc is the last count seen
	seen uint64
}

func newDigestAuth(c *digestAuthConfig, _ *spec.Middleware, _ *BuildContext) (Middleware, error) {
	d, err := buildDigestAuth(c)
	if err != nil {
		return nil, err
	}
	return d.wrap, nil
}

func buildDigestAuth(c *digestAuthConfig) (*digestAuth, error) {
	d := &digestAuth{realm: c.Realm, users: map[string][]byte{}, nonces: map[string]*digestNonce{}}
	if d.realm == "" {
		d.realm = defaultRealm
	}
	for _, line := range c.Users {
		f := strings.Split(line, ":")
		if len(f) != 3 {
			return nil, fmt.Errorf("error parsing DigestUser: %v", line) // Traefik's words
		}
		// The library looks up "name:"+realm among "name:realm" keys: a
		// realm with a colon matches no line. A later line wins.
		if f[1] == d.realm {
			d.users[f[0]] = []byte(f[2])
		}
	}
	// No users is no error in Traefik: every request is refused.
	fwd, err := newAuthForward(c.HeaderField, c.RemoveHeader, c.Users)
	if err != nil {
		return nil, err
	}
	d.fwd = fwd
	if d.opaque, err = randomKey(); err != nil {
		return nil, err
	}
	return d, nil
}

// randomKey is the library's RandomKey: 12 random bytes in base64.
func randomKey() (string, error) {
	var k [12]byte
	if _, err := rand.Read(k[:]); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(k[:]), nil
}

func (d *digestAuth) wrap(next Handler) Handler {
	return func(ctx *fasthttp.RequestCtx, r *Request) {
		user, stale := d.check(ctx, r)
		if user == nil {
			d.challenge(ctx, stale)
			return
		}
		r.User = append(r.User[:0], user...) // for the access log
		d.fwd.apply(ctx, user)
		next(ctx, r)
	}
}

// digestParams are the Authorization header's parameters the check reads
// (the library's map of them: a missing one is empty).
type digestParams struct {
	username, nonce, uri, response, opaque, algorithm, qop, nc, cnonce []byte
	hasAlgorithm                                                       bool
}

// check is the library's CheckAuth: the authenticated user name, or nil
// and whether the failure is a stale (out of order) nonce count.
func (d *digestAuth) check(ctx *fasthttp.RequestCtx, r *Request) (user []byte, stale bool) {
	var p digestParams
	if !parseDigest(r, ctx.Request.Header.Peek("Authorization"), &p) {
		return nil, false
	}
	algorithm := p.algorithm
	if !p.hasAlgorithm {
		algorithm = []byte("MD5") // clients that omit it, as the library
	}
	if string(p.opaque) != d.opaque || string(algorithm) != "MD5" || string(p.qop) != "auth" {
		return nil, false
	}
	if !d.uriMatches(r, p.uri) {
		return nil, false
	}

	ha1, known := d.users[string(p.username)]
	if bytes.IndexByte(p.username, ':') >= 0 {
		known = false
	}
	// HA2 = MD5(method:uri), response = MD5(HA1:nonce:nc:cnonce:qop:HA2),
	// in hex, computed in r.Buf after the parameters.
	var ha2, kd [md5.Size * 2]byte
	start := len(r.Buf)
	buf := append(append(append(r.Buf, ctx.Method()...), ':'), p.uri...)
	sum := md5.Sum(buf[start:])
	hex.Encode(ha2[:], sum[:])
	buf = buf[:start]
	for i, part := range [...][]byte{ha1, p.nonce, p.nc, p.cnonce, p.qop, ha2[:]} {
		if i > 0 {
			buf = append(buf, ':')
		}
		buf = append(buf, part...)
	}
	sum = md5.Sum(buf[start:])
	hex.Encode(kd[:], sum[:])
	r.Buf = buf
	if subtle.ConstantTimeCompare(kd[:], p.response) != 1 || !known {
		// An unknown user fails here: the library goes on with an empty
		// HA1, which anyone can compute a response for.
		return nil, false
	}

	nc, ok := parseHex(p.nc)
	if !ok {
		return nil, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.nonces[string(p.nonce)]
	switch {
	case n == nil:
		return nil, false
	case n.used && nc == n.nc:
		return nil, false // a replay
	case n.used && nc < n.nc:
		return nil, true // out of order: stale, the client may retry
	}
	n.nc, n.used = nc, true
	d.seen++
	n.seen = d.seen
	return p.username, false
}

// uriMatches is the library's check of the digest's uri against the
// request: equal to the request URI (after the entry point's path
// sanitising, as Traefik's RequestURI), or, for "some reason lost in
// history", any URI whose path is a prefix of the request's path.
func (d *digestAuth) uriMatches(r *Request, uri []byte) bool {
	esc := r.EscapedPath()
	if bytes.HasPrefix(uri, esc) {
		rest := uri[len(esc):]
		if !r.HasQuery && len(rest) == 0 || r.HasQuery && len(rest) == 1+len(r.Query) && rest[0] == '?' && bytes.Equal(rest[1:], r.Query) {
			return true
		}
	}
	u, err := url.Parse(string(uri))
	if err != nil {
		return false
	}
	path := r.Path()
	return len(u.Path) <= len(path) && bytes.HasPrefix(path, []byte(u.Path))
}

// parseHex is strconv.ParseUint(s, 16, 64).
func parseHex(s []byte) (uint64, bool) {
	if len(s) == 0 {
		return 0, false
	}
	var n uint64
	for _, c := range s {
		var v byte
		switch {
		case '0' <= c && c <= '9':
			v = c - '0'
		case 'a' <= c && c <= 'f':
			v = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, false
		}
		if n > ^uint64(0)>>4 {
			return 0, false
		}
		n = n<<4 | uint64(v)
	}
	return n, true
}

// parseDigest is the library's DigestAuthParams: "Digest" and a space,
// then comma-separated key=value pairs (ParsePairs over ParseList: commas
// inside double quotes do not split, a backslash in quotes escapes the
// next character, each element is trimmed, a value in quotes is
// unquoted, an element without '=' is a key with an empty value, the last
// of a key wins). Keys are case-sensitive and not trimmed ("nc =1" is the
// key "nc "). The values are written to r.Buf. An element whose value is
// empty or a lone '"' makes the library panic (Traefik answers 500); here
// the header is refused as unparsable (401).
func parseDigest(r *Request, auth []byte, p *digestParams) bool {
	scheme, rest, ok := bytes.Cut(auth, []byte{' '})
	if !ok || string(scheme) != "Digest" {
		return false
	}
	rest = bytes.TrimSpace(rest)
	buf := r.Buf[:0]
	var escape, quote bool
	start := 0
	ok = true
	flush := func() {
		if !ok {
			return
		}
		ok = p.set(bytes.TrimSpace(buf[start:]))
		start = len(buf)
	}
	for i := 0; i < len(rest); {
		c, size := utf8.DecodeRune(rest[i:])
		i += size
		switch {
		case escape:
			buf = utf8.AppendRune(buf, c)
			escape = false
		case quote:
			if c == '\\' {
				escape = true
			} else {
				if c == '"' {
					quote = false
				}
				buf = utf8.AppendRune(buf, c)
			}
		case c == ',':
			flush()
		case c == '"':
			quote = true
			buf = append(buf, '"')
		default:
			buf = utf8.AppendRune(buf, c)
		}
	}
	if start < len(buf) { // the last element, when not empty
		flush()
	}
	r.Buf = buf
	return ok
}

// set records one element of the list; false when the library would
// panic on it.
func (p *digestParams) set(pair []byte) bool {
	key, v, hasValue := bytes.Cut(pair, []byte{'='})
	if hasValue {
		if len(v) == 0 || v[0] == '"' && len(v) == 1 {
			return false
		}
		if v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
	}
	switch string(key) {
	case "username":
		p.username = v
	case "nonce":
		p.nonce = v
	case "uri":
		p.uri = v
	case "response":
		p.response = v
	case "opaque":
		p.opaque = v
	case "algorithm":
		p.algorithm, p.hasAlgorithm = v, true
	case "qop":
		p.qop = v
	case "nc":
		p.nc = v
	case "cnonce":
		p.cnonce = v
	}
	return true
}

// challenge is the library's RequireAuth / RequireAuthStale: a new nonce
// (the table trimmed first) in a 401.
func (d *digestAuth) challenge(ctx *fasthttp.RequestCtx, stale bool) {
	nonce, err := randomKey()
	if err != nil {
		ctx.Error("Internal Server Error", fasthttp.StatusInternalServerError)
		return
	}
	d.mu.Lock()
	if len(d.nonces) > digestNonces+digestTolerance {
		d.purge(2 * digestTolerance)
	}
	d.seen++
	d.nonces[nonce] = &digestNonce{seen: d.seen}
	d.mu.Unlock()

	var b strings.Builder
	b.WriteString(`Digest realm="`)
	b.WriteString(d.realm)
	b.WriteString(`", nonce="`)
	b.WriteString(nonce)
	b.WriteString(`", opaque="`)
	b.WriteString(d.opaque)
	b.WriteString(`", `)
	if stale {
		b.WriteString(`stale="true", `)
	}
	b.WriteString(`algorithm="MD5", qop="auth"`)
	unauthorized(ctx, b.String())
}

// purge drops the count least recently seen nonces; d.mu is held.
func (d *digestAuth) purge(count int) {
	type entry struct {
		nonce string
		seen  uint64
	}
	all := make([]entry, 0, len(d.nonces))
	for k, n := range d.nonces {
		all = append(all, entry{k, n.seen})
	}
	slices.SortFunc(all, func(a, b entry) int {
		switch {
		case a.seen < b.seen:
			return -1
		case a.seen > b.seen:
			return 1
		}
		return 0
	})
	for _, e := range all[:min(count, len(all))] {
		delete(d.nonces, e.nonce)
	}
}
