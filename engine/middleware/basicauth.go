package middleware

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http/httpguts"
	"golang.org/x/sync/singleflight"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// basicAuthConfig is Traefik's basicAuth (pkg/middlewares/auth/basic_auth.go)
// as translation resolves it: Users are htpasswd lines "name:hash" (read
// from the Secret the CRD names; Traefik's usersFile is not part of the
// CRD).
type basicAuthConfig struct {
	Users        []string `json:"users,omitempty"`
	Realm        string   `json:"realm,omitempty"`
	RemoveHeader bool     `json:"removeHeader,omitempty"`
	HeaderField  string   `json:"headerField,omitempty"`
}

// defaultRealm is Traefik's realm when none is set.
const defaultRealm = "traefik"

// basicAuth is a built basicAuth middleware.
//
// Verifying a bcrypt hash takes tens of milliseconds by design, which
// Traefik pays on every request (it only merges concurrent identical
// checks, with singleflight). Here each user keeps the proof of its last
// successful verification: tag = HMAC-SHA256(key, user, password, stored
// hash), with a random key drawn when the middleware is built, so the
// cache holds neither the password nor anything an offline attacker could
// test guesses against without the key (which never leaves the process).
// A request whose tag equals the user's (compared in constant time) is
// accepted without running the hash again; anything else runs the full
// check, and only a success stores its tag. The cache is bounded by the
// configuration: one slot per configured user, a new success replacing
// the old one (a user switching between two valid passwords, or clients
// sending both, merely pay the hash again). Failures are never cached, an
// unknown user still costs one hash (Traefik's timing defence), and a
// changed hash or user list builds a new middleware, hence a new cache.
// Concurrent checks of the same credentials run the hash once
// (singleflight keyed by the tag, as Traefik does by password and hash).
type basicAuth struct {
	users map[string]*basicUser
	// notFound is hashed against for unknown users, so that they take as
	// long as known ones (Traefik uses one of the users' hashes).
	notFound  []byte
	challenge string // WWW-Authenticate
	fwd       authForward
	noCache   bool // benchmarks: measure the hash itself
	// checkSecret is the hash check (tests count its calls).
	checkSecret func(password []byte, secret string) bool

	key     []byte
	macs    sync.Pool // of hash.Hash: HMAC-SHA256 under key
	flights singleflight.Group
}

// basicUser is a configured user: its stored hash and the tag of its last
// successful verification.
type basicUser struct {
	hash     []byte
	verified atomic.Pointer[[sha256.Size]byte]
}

func newBasicAuth(c *basicAuthConfig, _ *spec.Middleware, _ *BuildContext) (Middleware, error) {
	b, err := buildBasicAuth(c)
	if err != nil {
		return nil, err
	}
	return b.wrap, nil
}

func buildBasicAuth(c *basicAuthConfig) (*basicAuth, error) {
	b := &basicAuth{users: make(map[string]*basicUser, len(c.Users)), checkSecret: checkSecret}
	for i, line := range c.Users {
		name, hash, ok := strings.Cut(line, ":")
		if !ok || strings.Contains(hash, ":") {
			return nil, fmt.Errorf("error parsing BasicUser: %v", line) // Traefik's words
		}
		if i == 0 {
			b.notFound = []byte(hash)
		}
		b.users[name] = &basicUser{hash: []byte(hash)} // a later line wins, as in Traefik
	}
	if len(b.users) == 0 {
		// Traefik's message names the users file, which the CRD never sets.
		return nil, fmt.Errorf("no users found in %s", "")
	}
	fwd, err := newAuthForward(c.HeaderField, c.RemoveHeader, c.Users)
	if err != nil {
		return nil, err
	}
	b.fwd = fwd
	realm := c.Realm
	if realm == "" {
		realm = defaultRealm
	}
	b.challenge = `Basic realm="` + realm + `"`
	b.key = make([]byte, 32)
	if _, err := rand.Read(b.key); err != nil {
		return nil, err
	}
	b.macs.New = func() any { return hmac.New(sha256.New, b.key) }
	return b, nil
}

func (b *basicAuth) wrap(next Handler) Handler {
	return func(ctx *fasthttp.RequestCtx, r *Request) {
		user, password, ok := parseBasicAuth(r, ctx.Request.Header.Peek("Authorization"))
		if !ok || !b.check(r, user, password) {
			unauthorized(ctx, b.challenge)
			return
		}
		r.User = append(r.User[:0], user...) // for the access log
		b.fwd.apply(ctx, user)
		next(ctx, r)
	}
}

// parseBasicAuth is Go's Request.BasicAuth, which Traefik uses: a "Basic "
// prefix in any case, standard base64 with padding, name and password
// split at the first ':'. The decoded bytes are in r.Buf.
func parseBasicAuth(r *Request, auth []byte) (user, password []byte, ok bool) {
	const prefix = "Basic "
	if len(auth) < len(prefix) || !strings.EqualFold(string(auth[:len(prefix)]), prefix) {
		return nil, nil, false
	}
	src := auth[len(prefix):]
	buf := r.Buf[:0]
	if need := base64.StdEncoding.DecodedLen(len(src)); cap(buf) < need {
		buf = make([]byte, 0, need+sha256.Size) // room for check's tag
	}
	n, err := base64.StdEncoding.Decode(buf[:cap(buf)], src)
	if err != nil {
		r.Buf = buf
		return nil, nil, false
	}
	cred := buf[:n]
	r.Buf = cred
	i := bytes.IndexByte(cred, ':')
	if i < 0 {
		return nil, nil, false
	}
	return cred[:i], cred[i+1:], true
}

// check verifies the credentials, through the cache described on
// basicAuth. The tag is computed in r.Buf after the decoded credentials.
func (b *basicAuth) check(r *Request, user, password []byte) bool {
	u := b.users[string(user)]
	if u == nil {
		// Unknown: hash all the same, report a failure.
		b.verify(b.tag(r, 0, user, password, nil), password, b.notFound, nil)
		return false
	}
	tag := b.tag(r, 1, user, password, u.hash)
	if p := u.verified.Load(); p != nil && !b.noCache && subtle.ConstantTimeCompare(p[:], tag) == 1 {
		return true
	}
	return b.verify(tag, password, u.hash, u)
}

// verify runs the hash check, once for concurrent identical requests;
// a success is remembered in u's slot.
func (b *basicAuth) verify(tag, password, secret []byte, u *basicUser) bool {
	var t [sha256.Size]byte
	copy(t[:], tag)
	v, _, _ := b.flights.Do(string(t[:]), func() (any, error) {
		ok := b.checkSecret(password, string(secret))
		if ok && u != nil && !b.noCache {
			u.verified.Store(&t)
		}
		return ok, nil
	})
	return v.(bool) && u != nil
}

// tag returns HMAC-SHA256(key, kind, len(user), user, len(password),
// password, secret), appended to r.Buf: lengths make the encoding
// unambiguous, kind separates unknown users' flights from known ones'.
func (b *basicAuth) tag(r *Request, kind byte, user, password, secret []byte) []byte {
	m := b.macs.Get().(hash.Hash)
	m.Reset()
	start := len(r.Buf)
	// The framing goes through r.Buf: a local array would escape.
	r.Buf = binary.AppendUvarint(append(r.Buf, kind), uint64(len(user)))
	m.Write(r.Buf[start:])
	m.Write(user)
	r.Buf = binary.AppendUvarint(r.Buf[:start], uint64(len(password)))
	m.Write(r.Buf[start:])
	m.Write(password)
	m.Write(secret)
	r.Buf = m.Sum(r.Buf[:start])
	b.macs.Put(m)
	return r.Buf[start:]
}

// unauthorized is the library's RequireAuth: 401 with the challenge,
// Content-Type text/plain and the body "401 Unauthorized\n".
func unauthorized(ctx *fasthttp.RequestCtx, challenge string) {
	skip := ctx.Response.SkipBody // HEAD
	resetResponse(&ctx.Response)
	ctx.Response.SkipBody = skip
	ctx.Response.SetStatusCode(fasthttp.StatusUnauthorized)
	ctx.Response.Header.SetContentType("text/plain")
	ctx.Response.Header.Set("WWW-Authenticate", challenge)
	ctx.Response.SetBodyString("401 Unauthorized\n")
}

// authForward is what basicAuth and digestAuth do to the request they let
// through, in Traefik's order: the header named by headerField replaced
// by the user name, then the Authorization header removed (removeHeader).
type authForward struct {
	header []byte // headerField; nil for none
	// removeAuth: Traefik deletes the canonical "Authorization" after
	// setting headerField under its literal name, so a headerField of
	// "authorization" (or any other spelling but the canonical one)
	// survives removeHeader, carrying the user name.
	removeAuth bool
}

func newAuthForward(headerField string, removeHeader bool, users []string) (authForward, error) {
	f := authForward{removeAuth: removeHeader}
	if headerField == "" {
		return f, nil
	}
	if !httpguts.ValidHeaderFieldName(headerField) {
		// Traefik would fail every authenticated request when forwarding.
		return f, fmt.Errorf("headerField %q is not a valid header name", headerField)
	}
	canon := textproto.CanonicalMIMEHeaderKey(headerField)
	switch canon {
	case "Host", "Content-Length", "Transfer-Encoding", "Trailer", "Connection", "Te", "Upgrade":
		// Go's transport writes these from the request's fields, or drops
		// them as hop-by-hop: in Traefik the user name never reaches the
		// backend there.
		return f, fmt.Errorf("headerField %s cannot carry the user name", headerField)
	case "Authorization":
		f.removeAuth = removeHeader && headerField == canon
	}
	for _, u := range users {
		name, _, _ := strings.Cut(u, ":")
		if !httpguts.ValidHeaderFieldValue(name) {
			return f, fmt.Errorf("user name %q cannot be sent in header %s", name, headerField)
		}
	}
	f.header = []byte(headerField)
	return f, nil
}

func (f *authForward) apply(ctx *fasthttp.RequestCtx, user []byte) {
	h := &ctx.Request.Header
	if f.header != nil {
		h.DelBytes(f.header)
		h.SetBytesKV(f.header, user)
	}
	if f.removeAuth {
		h.Del("Authorization")
	}
}
