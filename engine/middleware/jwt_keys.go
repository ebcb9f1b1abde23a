package middleware

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/sync/singleflight"
)

// The keys of the jwt kind: a set parsed from a JWKS or from PEM blocks,
// either fixed (jwksSecret, resolved by translation) or fetched from a
// URL (jwksURL).
//
// The URL's set is fetched lazily, by the requests that need it, with no
// goroutine of its own: nothing outlives a dropped configuration but an
// object the garbage collector takes. The first request fetches it (its
// concurrent fellows share that one fetch: singleflight); later, a request
// finding the set stale refreshes it while the others go on with the
// stale set, and a request whose token names a key the set lacks
// refreshes it and waits. No fetch starts within jwksMinInterval of the
// previous one (a rate limit on unknown key IDs, and a back-off while the
// server fails); a failed fetch keeps the last good set.

const (
	// jwksDefaultTTL is how long a set stays fresh without max-age.
	jwksDefaultTTL = 10 * time.Minute
	// jwksMinTTL and jwksMaxTTL bound Cache-Control max-age: a server
	// asking for no caching is not asked again on every request, and one
	// caching for days still has removed keys dropped within the hour.
	jwksMinTTL = time.Minute
	jwksMaxTTL = time.Hour
	// jwksMinInterval separates two fetches.
	jwksMinInterval = 10 * time.Second
	// jwksTimeout bounds one fetch (a request waits at most that long).
	jwksTimeout = 5 * time.Second
	// jwksMaxBody caps a JWKS document.
	jwksMaxBody = 1 << 20
)

var (
	// errJWTNoKey: no key of the set can verify the token (unknown key
	// ID, or no key of the token's algorithm).
	errJWTNoKey = errors.New("no key matches the token")
	// errJWKSUnavailable: the URL's set could never be fetched.
	errJWKSUnavailable = errors.New("the JWKS is not available")
)

// jwtKey is one verification key.
type jwtKey struct {
	kid string
	alg string // the JWK's alg; "" fits any algorithm of its type
	// key is *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey or
	// []byte (HMAC).
	key any
}

// jwtKeySet is an immutable set of keys.
type jwtKeySet struct {
	keys []jwtKey
}

// candidates returns the keys that may verify a token of algorithm alg
// whose header names kid: those with that key ID, else those without a
// key ID (PEM keys); every key of the algorithm when the token names none.
func (s *jwtKeySet) candidates(kid, alg string) []jwt.VerificationKey {
	var out, anon []jwt.VerificationKey
	for i := range s.keys {
		k := &s.keys[i]
		if !keyFits(k, alg) {
			continue
		}
		switch {
		case kid == "" || k.kid == kid:
			out = append(out, k.key)
		case k.kid == "":
			anon = append(anon, k.key)
		}
	}
	if len(out) == 0 {
		return anon
	}
	return out
}

// keyFits tells whether key k may verify a signature of algorithm alg.
func keyFits(k *jwtKey, alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch key := k.key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return key.Curve == elliptic.P256()
		case "ES384":
			return key.Curve == elliptic.P384()
		case "ES512":
			return key.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return alg == "EdDSA"
	case []byte:
		// RFC 7518 section 3.2: a key at least as long as the hash.
		n, ok := hmacSizes[alg]
		return ok && len(key) >= n
	}
	return false
}

// hmacSizes are the HMAC algorithms and their smallest key sizes.
var hmacSizes = map[string]int{"HS256": 32, "HS384": 48, "HS512": 64}

// parseKeyData reads the keys of one document: a JWKS or a single JWK as
// JSON, or PEM blocks (public keys, certificates). strict (a Secret)
// makes every unusable key an error; otherwise (a URL's set) unusable keys
// are skipped, and HMAC keys are never taken from the network.
func parseKeyData(data []byte, strict bool) ([]jwtKey, error) {
	data = bytes.TrimSpace(data)
	switch {
	case len(data) > 0 && data[0] == '{':
		return parseJWKS(data, strict)
	case bytes.Contains(data, []byte("-----BEGIN")):
		return parsePEMKeys(data)
	}
	return nil, errors.New("neither a JWKS (JSON) nor PEM")
}

func parseJWKS(data []byte, strict bool) ([]jwtKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("JWKS: %v", err)
	}
	if set.Keys == nil {
		// A single JWK (a document with a kty and no keys list).
		var probe struct {
			Kty string `json:"kty"`
		}
		if json.Unmarshal(data, &probe) != nil || probe.Kty == "" {
			return nil, errors.New(`JWKS: no "keys" list`)
		}
		set.Keys = []json.RawMessage{data}
	}
	var keys []jwtKey
	for i, raw := range set.Keys {
		k, err := parseJWK(raw, strict)
		if err != nil {
			if strict {
				return nil, fmt.Errorf("JWKS key %d: %v", i, err)
			}
			continue
		}
		if k.key != nil {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// parseJWK reads one JWK; a key meant for encryption comes back without a
// key (skipped, not an error).
func parseJWK(raw []byte, strict bool) (jwtKey, error) {
	var jk jose.JSONWebKey
	if err := jk.UnmarshalJSON(raw); err != nil {
		return jwtKey{}, err
	}
	if jk.Use != "" && jk.Use != "sig" {
		return jwtKey{}, nil
	}
	k := jwtKey{kid: jk.KeyID, alg: jk.Algorithm}
	switch key := jk.Key.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		k.key = key
	case []byte:
		if !strict {
			return jwtKey{}, errors.New("an HMAC key is never taken from a URL")
		}
		if len(key) < 32 {
			return jwtKey{}, fmt.Errorf("HMAC key of %d bytes: at least 32 are needed", len(key))
		}
		k.key = key
	default:
		return jwtKey{}, errors.New("a private key: give its public key only")
	}
	return k, nil
}

func parsePEMKeys(data []byte) ([]jwtKey, error) {
	var keys []jwtKey
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		var pub any
		var err error
		switch b.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(b.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(b.Bytes)
		case "CERTIFICATE":
			var c *x509.Certificate
			if c, err = x509.ParseCertificate(b.Bytes); err == nil {
				pub = c.PublicKey
			}
		default:
			if strings.Contains(b.Type, "PRIVATE") {
				return nil, fmt.Errorf("PEM %s: a private key: give its public key only", b.Type)
			}
			return nil, fmt.Errorf("PEM %s: not a public key or certificate", b.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("PEM %s: %v", b.Type, err)
		}
		switch pub.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		default:
			return nil, fmt.Errorf("PEM %s: unsupported key type %T", b.Type, pub)
		}
		keys = append(keys, jwtKey{key: pub})
	}
	if len(keys) == 0 {
		return nil, errors.New("no PEM block")
	}
	return keys, nil
}

// jwtKeySource gives the candidate keys for a token.
type jwtKeySource interface {
	lookup(kid, alg string) ([]jwt.VerificationKey, error)
}

// staticKeys are keys read once (jwksSecret).
type staticKeys struct{ set *jwtKeySet }

func (s staticKeys) lookup(kid, alg string) ([]jwt.VerificationKey, error) {
	if keys := s.set.candidates(kid, alg); len(keys) > 0 {
		return keys, nil
	}
	return nil, errJWTNoKey
}

// remoteKeys is the cached set of a JWKS URL.
type remoteKeys struct {
	url    string
	client *http.Client
	now    func() time.Time
	flight singleflight.Group
	// fetching is set while a fetch runs: stale-set readers do not wait
	// for it.
	fetching atomic.Bool

	mu        sync.Mutex
	set       *jwtKeySet // the last good set
	expires   time.Time  // when set goes stale
	lastFetch time.Time  // when the last fetch started
	lastErr   error      // why the last fetch failed
}

func newRemoteKeys(url string, now func() time.Time) *remoteKeys {
	return &remoteKeys{url: url, now: now, client: &http.Client{
		Timeout: jwksTimeout,
		// No keep-alive: fetches are minutes apart, and no idle
		// connection (nor its goroutines) outlives a dropped middleware.
		Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, DisableKeepAlives: true,
			TLSHandshakeTimeout: jwksTimeout, ResponseHeaderTimeout: jwksTimeout},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
				return errors.New("redirect from https to " + req.URL.Scheme)
			}
			return nil
		},
	}}
}

func (s *remoteKeys) lookup(kid, alg string) ([]jwt.VerificationKey, error) {
	s.mu.Lock()
	set, now := s.set, s.now()
	stale := now.After(s.expires)
	s.mu.Unlock()
	switch {
	case set == nil:
		fresh, err := s.fetch()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errJWKSUnavailable, err)
		}
		set = fresh
	case stale && !s.fetching.Load():
		if fresh, err := s.fetch(); err == nil {
			set = fresh
		} // else the last good set serves
	}
	if keys := set.candidates(kid, alg); len(keys) > 0 {
		return keys, nil
	}
	if kid != "" {
		// An unknown key ID: the issuer may have rotated its keys.
		if fresh, err := s.fetch(); err == nil && fresh != set {
			if keys := fresh.candidates(kid, alg); len(keys) > 0 {
				return keys, nil
			}
		}
	}
	return nil, errJWTNoKey
}

// fetch gets the set from the URL, unless a fetch started less than
// jwksMinInterval ago (then it returns the current set, or the last
// error when there is none). Concurrent callers share one fetch.
func (s *remoteKeys) fetch() (*jwtKeySet, error) {
	v, err, _ := s.flight.Do("", func() (any, error) {
		s.mu.Lock()
		now := s.now()
		if !s.lastFetch.IsZero() && now.Sub(s.lastFetch) < jwksMinInterval {
			set, err := s.set, s.lastErr
			s.mu.Unlock()
			switch {
			case set != nil:
				return set, nil
			case err == nil: // cannot happen: a fetch leaves a set or an error
				err = errors.New("no fetch yet")
			}
			return nil, err
		}
		s.lastFetch = now
		s.mu.Unlock()

		s.fetching.Store(true)
		set, ttl, err := s.get()
		s.fetching.Store(false)

		s.mu.Lock()
		defer s.mu.Unlock()
		if err != nil {
			s.lastErr = err
			return nil, err
		}
		s.set, s.expires, s.lastErr = set, s.now().Add(ttl), nil
		return set, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*jwtKeySet), nil
}

// get fetches and parses the set, with its freshness lifetime.
func (s *remoteKeys) get() (*jwtKeySet, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), jwksTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("GET %s: status %d", s.url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBody+1))
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s: %v", s.url, err)
	}
	if len(body) > jwksMaxBody {
		return nil, 0, fmt.Errorf("GET %s: JWKS larger than %d bytes", s.url, jwksMaxBody)
	}
	b := bytes.TrimSpace(body)
	if len(b) == 0 || b[0] != '{' {
		return nil, 0, fmt.Errorf("GET %s: not a JWKS", s.url)
	}
	keys, err := parseJWKS(b, false)
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s: %v", s.url, err)
	}
	if len(keys) == 0 {
		return nil, 0, fmt.Errorf("GET %s: the JWKS has no usable signature key", s.url)
	}
	return &jwtKeySet{keys: keys}, cacheTTL(resp.Header.Values("Cache-Control")), nil
}

// cacheTTL is the freshness lifetime a response's Cache-Control gives,
// within [jwksMinTTL, jwksMaxTTL]: max-age, the minimum for no-cache and
// no-store, jwksDefaultTTL without either.
func cacheTTL(values []string) time.Duration {
	ttl, found := jwksDefaultTTL, false
	for _, v := range values {
		for d := range strings.SplitSeq(v, ",") {
			name, arg, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store", "no-cache":
				return jwksMinTTL
			case "max-age":
				if n, err := strconv.ParseInt(strings.Trim(strings.TrimSpace(arg), `"`), 10, 64); err == nil && n >= 0 && !found {
					ttl, found = time.Duration(min(n, int64(jwksMaxTTL/time.Second)))*time.Second, true
				}
			}
		}
	}
	return min(max(ttl, jwksMinTTL), jwksMaxTTL)
}
