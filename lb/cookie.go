package lb

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"hash/fnv"
	"strconv"
	"strings"
	"time"
)

// SameSite is the SameSite attribute of a sticky cookie.
type SameSite uint8

// SameSite modes. SameSiteDefault emits no attribute, like net/http's
// SameSiteDefaultMode.
const (
	SameSiteDefault SameSite = iota
	SameSiteNone
	SameSiteLax
	SameSiteStrict
)

// ParseSameSite converts a configured SameSite value. Matching is
// case-insensitive; any value other than none, lax or strict (including the
// empty string) selects SameSiteDefault, as in Traefik.
func ParseSameSite(s string) SameSite {
	switch strings.ToLower(s) {
	case "none":
		return SameSiteNone
	case "lax":
		return SameSiteLax
	case "strict":
		return SameSiteStrict
	default:
		return SameSiteDefault
	}
}

// CookieConfig is the user's sticky cookie configuration. It mirrors
// Traefik's dynamic.Cookie.
type CookieConfig struct {
	// Name is the cookie name; empty selects a name derived from the
	// service name (see CookieName).
	Name string
	// Secure adds the Secure attribute.
	Secure bool
	// HTTPOnly adds the HttpOnly attribute.
	HTTPOnly bool
	// SameSite is "none", "lax" or "strict" (any case); other values emit
	// no SameSite attribute.
	SameSite string
	// MaxAge is the Max-Age attribute in seconds: positive values are
	// emitted as is, negative values as Max-Age=0, zero omits it.
	MaxAge int
	// Path is the Path attribute. Nil means "/", Traefik's default; a
	// pointer to "" omits the attribute.
	Path *string
	// Domain is the Domain attribute. Invalid domains are dropped and a
	// leading dot is removed, as net/http does.
	Domain string
	// Expires, when positive, adds an Expires attribute this many seconds
	// after the time the cookie is written.
	Expires int
	// PreserveLeadingDot keeps a leading dot in Domain (Ingress NGINX
	// compatibility).
	PreserveLeadingDot bool
}

// CookieSpec is a sticky cookie ready to be rendered on the request path: the
// name is final and every attribute is in the form AppendSetCookie expects.
// Build it once per configuration with NewCookieSpec. It is a plain value and
// safe to share between goroutines once built.
type CookieSpec struct {
	// Name is the final cookie name.
	Name string
	// Path is the Path attribute; empty omits it.
	Path string
	// Domain is the Domain attribute; empty omits it.
	Domain string
	// MaxAge is the Max-Age attribute in seconds (see CookieConfig.MaxAge).
	MaxAge int
	// Expires, when positive, adds an Expires attribute at write time plus
	// Expires.
	Expires time.Duration
	// HTTPOnly adds the HttpOnly attribute.
	HTTPOnly bool
	// Secure adds the Secure attribute.
	Secure bool
	// SameSite selects the SameSite attribute.
	SameSite SameSite
	// PreserveLeadingDot keeps a leading dot in Domain.
	PreserveLeadingDot bool
}

// NewCookieSpec resolves cfg for the service whose fully qualified name is
// service (for example "default-whoami-80@kubernetes"), applying Traefik's
// defaults: the cookie name from CookieName, Path "/" and the SameSite
// mapping of ParseSameSite.
func NewCookieSpec(cfg CookieConfig, service string) CookieSpec {
	spec := CookieSpec{
		Name:               CookieName(cfg.Name, service),
		Path:               "/",
		Domain:             cfg.Domain,
		MaxAge:             cfg.MaxAge,
		HTTPOnly:           cfg.HTTPOnly,
		Secure:             cfg.Secure,
		SameSite:           ParseSameSite(cfg.SameSite),
		PreserveLeadingDot: cfg.PreserveLeadingDot,
	}
	if cfg.Path != nil {
		spec.Path = *cfg.Path
	}
	if cfg.Expires > 0 {
		spec.Expires = time.Duration(cfg.Expires) * time.Second
	}
	return spec
}

// CookieName returns the sticky cookie name Traefik uses for a service.
//
// A non-empty configured name is kept, with every rune that is not an ASCII
// letter, digit or one of ! # $ % & ' * + - . ^ _ ` | ~ replaced by a single
// '_' (one per rune, so a multi-byte character becomes one '_'). An empty
// name is derived from the fully qualified service name: "_" followed by the
// first 5 hex digits of SHA-1("_TRAEFIK_BACKEND_" + service).
func CookieName(name, service string) string {
	if name != "" {
		return strings.Map(sanitizeCookieNameRune, name)
	}
	sum := sha1.Sum([]byte("_TRAEFIK_BACKEND_" + service))
	return "_" + hex.EncodeToString(sum[:3])[:5]
}

// sanitizeCookieNameRune keeps RFC 2616 token characters and replaces
// everything else with '_'.
func sanitizeCookieNameRune(r rune) rune {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return r
	}
	switch r {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '`', '|', '~':
		return r
	}
	return '_'
}

// CookieValue returns the sticky cookie value Traefik writes for a child: the
// first 16 hex digits of SHA-256(key), where key is the server URL as
// configured, or the child service name for weighted services.
func CookieValue(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:8])
}

// legacyCookieValues returns the older cookie values Traefik still accepts
// for a child, in the order Traefik registers them: the raw key, its FNV-1
// 64-bit hash in unpadded lowercase hex, and the hash of that hash (cookies
// written when server URLs were already FNV-hashed upstream).
func legacyCookieValues(key string) [3]string {
	h1 := fnvHex(key)
	return [3]string{key, h1, fnvHex(h1)}
}

// fnvHex formats the FNV-1 (not FNV-1a) 64-bit hash of s without padding.
func fnvHex(s string) string {
	h := fnv.New64()
	_, _ = h.Write([]byte(s)) // hash.Hash never returns an error
	return strconv.FormatUint(h.Sum64(), 16)
}
