package middleware

import (
	"bytes"
	"errors"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// redirectSchemeConfig is Traefik's redirectScheme: requests are
// redirected to the same host and request URI with another scheme and,
// optionally, port; a request already on that scheme and port passes.
type redirectSchemeConfig struct {
	Scheme string `json:"scheme,omitempty"`
	// Port is the target port; empty means the scheme's default (no port
	// in the URL). "80" for http and "443" for https are dropped.
	Port string `json:"port,omitempty"`
	// Permanent answers 301 (GET) or 308 instead of 302 or 307.
	Permanent bool `json:"permanent,omitempty"`
}

// Traefik builds redirectScheme as a redirectRegex with a fixed pattern
// over the client's URL:
//
//	^(https?:\/\/)?(\[[\w:.]+\]|[\w\._-]+)?(:\d+)?(.*)$  ->  <scheme>://${2}<:port>${4}
//
// splitURIPattern finds the groups without the regexp engine.

func newRedirectScheme(c *redirectSchemeConfig, _ *spec.Middleware, bc *BuildContext) (Middleware, error) {
	if c.Scheme == "" {
		return nil, errors.New("you must provide a target scheme") // Traefik's message
	}
	port := ""
	if c.Port != "" && !(c.Scheme == "http" && c.Port == "80" || c.Scheme == "https" && c.Port == "443") {
		port = ":" + c.Port
	}
	if !allDigits(c.Port) {
		bc.Warn("port %q is not a number: the redirect URLs will not parse and requests will be answered 502", c.Port)
	}
	prefix := []byte(c.Scheme + "://")
	suffixPort := []byte(port)
	permanent := c.Permanent
	return func(next Handler) Handler {
		return func(ctx *fasthttp.RequestCtx, r *Request) {
			buf := appendClientURL(r.Buf[:0], ctx, r)
			r.Buf = buf
			if bytes.IndexByte(buf, '\n') >= 0 {
				next(ctx, r) // the pattern's '.' does not match it: no match
				return
			}
			n := len(buf)
			host, rest := splitURIPattern(buf)
			buf = append(buf, prefix...)
			buf = append(buf, host...)
			buf = append(buf, suffixPort...)
			buf = append(buf, rest...)
			r.Buf = buf
			finishRedirect(ctx, r, next, buf[:n], buf[n:], permanent)
		}
	}, nil
}

// appendClientURL appends Traefik's clientRequestURL: the scheme (https
// over TLS, else http, then as X-Forwarded-Proto says: http or ws means
// http, https or wss means https, another value is ignored), "://", the
// host, its port unless it is the scheme's default, and the request URI.
func appendClientURL(dst []byte, ctx *fasthttp.RequestCtx, r *Request) []byte {
	secure := r.Secure
	if xp := ctx.Request.Header.Peek("X-Forwarded-Proto"); len(xp) > 0 {
		// bytes.EqualFold folds as Traefik's strings.EqualFold does.
		switch {
		case bytes.EqualFold(xp, []byte("http")), bytes.EqualFold(xp, []byte("ws")):
			secure = false
		case bytes.EqualFold(xp, []byte("https")), bytes.EqualFold(xp, []byte("wss")):
			secure = true
		}
	}
	host, port := requestHost(ctx), []byte(nil)
	if h, p, ok := splitHostPort(host); ok {
		host, port = h, p
	}
	if !secure && string(port) == ":80" || secure && string(port) == ":443" {
		port = nil
	}
	if secure {
		dst = append(dst, "https://"...)
	} else {
		dst = append(dst, "http://"...)
	}
	dst = append(append(dst, host...), port...)
	return appendRequestURI(dst, r)
}

// splitHostPort is net.SplitHostPort on bytes, returning the port with its
// ':', except that an IPv6 literal keeps its brackets ("[::1]:80" gives
// "[::1]" and ":80"). This is where edgeroute departs from Traefik's code
// on purpose: Traefik drops the brackets, builds "http://::1/", which its
// pattern cannot split, and net/url then refuses the new URL, so every
// IPv6 literal with a port is answered 502. Its tests expect
// "https://[::1]" and "https://[::1]:8443", which it gives only to
// absolute-form request targets; edgeroute gives them to all.
func splitHostPort(hp []byte) (host, port []byte, ok bool) {
	i := bytes.LastIndexByte(hp, ':')
	if i < 0 {
		return nil, nil, false
	}
	j, k := 0, 0
	if hp[0] == '[' {
		end := bytes.IndexByte(hp, ']')
		if end < 0 || end+1 != i {
			return nil, nil, false
		}
		host = hp[:end+1]
		j, k = 1, end+1
	} else {
		host = hp[:i]
		if bytes.IndexByte(host, ':') >= 0 {
			return nil, nil, false
		}
	}
	if bytes.IndexByte(hp[j:], '[') >= 0 || bytes.IndexByte(hp[k:], ']') >= 0 {
		return nil, nil, false
	}
	return host, hp[i:], true
}

// splitURIPattern returns groups 2 and 4 of Traefik's pattern (above) on
// u, which has no '\n' (the pattern then always matches). Go's regexp
// prefers, like Perl, the first alternative and the longest repetition
// that lets the rest match, and the rest always matches here, so each
// group takes what it can, in order.
func splitURIPattern(u []byte) (host, rest []byte) {
	i := 0
	switch {
	case bytes.HasPrefix(u, []byte("https://")):
		i = len("https://")
	case bytes.HasPrefix(u, []byte("http://")):
		i = len("http://")
	}
	start := i
	if i < len(u) && u[i] == '[' {
		j := i + 1
		for j < len(u) && (isWordByte(u[j]) || u[j] == ':' || u[j] == '.') {
			j++
		}
		if j > i+1 && j < len(u) && u[j] == ']' {
			i = j + 1
		}
	} else {
		for i < len(u) && (isWordByte(u[i]) || u[i] == '.' || u[i] == '-') {
			i++
		}
	}
	host = u[start:i]
	if i+1 < len(u) && u[i] == ':' && isDigitByte(u[i+1]) {
		i += 2
		for i < len(u) && isDigitByte(u[i]) {
			i++
		}
	}
	return host, u[i:]
}

// isWordByte is RE2's \w: [0-9A-Za-z_].
func isWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

func isDigitByte(c byte) bool { return '0' <= c && c <= '9' }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigitByte(s[i]) {
			return false
		}
	}
	return true
}
