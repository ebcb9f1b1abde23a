package acme

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/go-acme/lego/v5/challenge/http01"
	"github.com/go-acme/lego/v5/challenge/tlsalpn01"
	"golang.org/x/time/rate"
)

// ALPNProtocol is the protocol a TLS-ALPN-01 validation offers.
const ALPNProtocol = tlsalpn01.ACMETLS1Protocol

// challenges holds the challenges in progress, answered on the entry
// points: HTTP-01 key authorizations by token and domain, TLS-ALPN-01
// certificates by domain. All resolvers share them, as in Traefik. With a
// shared store, those this process presents are also written there, and
// a challenge this process does not know is looked up there (bounded: a
// flood of unknown tokens costs the API server at most lookupRate reads a
// second).
type challenges struct {
	log    *slog.Logger
	mu     sync.RWMutex
	http   map[string]map[string]string // token → domain → key authorization
	alpn   map[string]*tls.Certificate  // domain → certificate
	shared ChallengeStore               // nil: this process only
	lookup *rate.Limiter
	// built caches certificates made from shared key authorizations
	// (an RSA key each), by domain and key authorization.
	built map[string]*tls.Certificate
}

// lookupRate bounds the reads of the shared store for challenges this
// process does not know.
const lookupRate = 20

func newChallenges(log *slog.Logger) *challenges {
	return &challenges{log: log, http: map[string]map[string]string{}, alpn: map[string]*tls.Certificate{},
		lookup: rate.NewLimiter(lookupRate, lookupRate), built: map[string]*tls.Certificate{}}
}

// sharedTimeout bounds a write or read of the shared store.
const sharedTimeout = 10 * time.Second

// httpProvider answers HTTP-01 (lego's challenge.Provider).
type httpProvider struct{ c *challenges }

func (p httpProvider) Present(ctx context.Context, domain, token, keyAuth string) error {
	c := p.c
	c.mu.Lock()
	if c.http[token] == nil {
		c.http[token] = map[string]string{}
	}
	c.http[token][domain] = keyAuth
	all := c.http[token]
	value, _ := json.Marshal(all)
	c.mu.Unlock()
	if c.shared != nil {
		ctx, cancel := context.WithTimeout(ctx, sharedTimeout)
		defer cancel()
		return c.shared.PutChallenge(ctx, "http-"+token, value)
	}
	return nil
}

func (p httpProvider) CleanUp(ctx context.Context, domain, token, _ string) error {
	c := p.c
	c.mu.Lock()
	delete(c.http[token], domain)
	left := len(c.http[token])
	if left == 0 {
		delete(c.http, token)
	}
	value, _ := json.Marshal(c.http[token])
	c.mu.Unlock()
	if c.shared == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, sharedTimeout)
	defer cancel()
	if left == 0 {
		return c.shared.DeleteChallenge(ctx, "http-"+token)
	}
	return c.shared.PutChallenge(ctx, "http-"+token, value)
}

// Timeout is Traefik's for HTTP-01.
func (p httpProvider) Timeout() (timeout, interval time.Duration) {
	return 60 * time.Second, 5 * time.Second
}

// alpnProvider answers TLS-ALPN-01.
type alpnProvider struct{ c *challenges }

func (p alpnProvider) Present(ctx context.Context, domain, _, keyAuth string) error {
	cert, err := tlsalpn01.ChallengeCert(domain, keyAuth)
	if err != nil {
		return err
	}
	c := p.c
	c.mu.Lock()
	c.alpn[strings.ToLower(domain)] = cert
	c.mu.Unlock()
	if c.shared != nil {
		ctx, cancel := context.WithTimeout(ctx, sharedTimeout)
		defer cancel()
		return c.shared.PutChallenge(ctx, "alpn-"+strings.ToLower(domain), []byte(keyAuth))
	}
	return nil
}

func (p alpnProvider) CleanUp(ctx context.Context, domain, _, _ string) error {
	c := p.c
	c.mu.Lock()
	delete(c.alpn, strings.ToLower(domain))
	c.mu.Unlock()
	if c.shared != nil {
		ctx, cancel := context.WithTimeout(ctx, sharedTimeout)
		defer cancel()
		return c.shared.DeleteChallenge(ctx, "alpn-"+strings.ToLower(domain))
	}
	return nil
}

// tokenPath is Traefik's getPathParam.
var tokenPath = regexp.MustCompile(`^` + regexp.QuoteMeta(http01.PathPrefix) + `([^/]+)/?$`)

// httpAnswer returns the key authorization of the HTTP-01 challenge for
// path (/.well-known/acme-challenge/TOKEN) and host (the Host header,
// whose port is ignored).
func (c *challenges) httpAnswer(host, path string) (string, bool) {
	m := tokenPath.FindStringSubmatch(path)
	if m == nil {
		return "", false
	}
	token := m[1]
	if h, _, ok := splitPort(host); ok {
		host = h
	}
	c.mu.RLock()
	keyAuth, ok := c.http[token][host]
	c.mu.RUnlock()
	if ok || c.shared == nil || !c.lookup.Allow() {
		return keyAuth, ok
	}
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	value, found, err := c.shared.GetChallenge(ctx, "http-"+token)
	if err != nil {
		c.log.Warn("reading a shared HTTP-01 challenge", "token", token, "err", err)
	}
	if !found {
		return "", false
	}
	var byDomain map[string]string
	if json.Unmarshal(value, &byDomain) != nil {
		return "", false
	}
	keyAuth, ok = byDomain[host]
	return keyAuth, ok
}

// splitPort is net.SplitHostPort for a Host header (a bracketed IPv6
// address keeps no brackets).
func splitPort(host string) (string, string, bool) {
	i := strings.LastIndexByte(host, ':')
	if i < 0 || strings.Contains(host[i:], "]") {
		return strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), "", false
	}
	return strings.TrimSuffix(strings.TrimPrefix(host[:i], "["), "]"), host[i+1:], true
}

// alpnCertificate returns the TLS-ALPN-01 certificate for a server name,
// or nil.
func (c *challenges) alpnCertificate(serverName string) *tls.Certificate {
	domain := strings.TrimSuffix(strings.ToLower(serverName), ".")
	c.mu.RLock()
	cert := c.alpn[domain]
	c.mu.RUnlock()
	if cert != nil || c.shared == nil || domain == "" || !c.lookup.Allow() {
		return cert
	}
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	keyAuth, found, err := c.shared.GetChallenge(ctx, "alpn-"+domain)
	if err != nil {
		c.log.Warn("reading a shared TLS-ALPN-01 challenge", "domain", domain, "err", err)
	}
	if !found {
		return nil
	}
	key := domain + " " + string(keyAuth)
	c.mu.Lock()
	defer c.mu.Unlock()
	if cert := c.built[key]; cert != nil {
		return cert
	}
	cert, err = tlsalpn01.ChallengeCert(domain, string(keyAuth))
	if err != nil {
		return nil
	}
	if len(c.built) >= 64 {
		clear(c.built)
	}
	c.built[key] = cert
	return cert
}
