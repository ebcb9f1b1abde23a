package middleware

import (
	"bytes"
	"net/url"

	"github.com/valyala/fasthttp"
)

// What redirectRegex and redirectScheme share: Traefik's redirect handler
// (pkg/middlewares/redirect/redirect.go). Each kind rebuilds the request
// URL its own way (the "old" URL) and derives a "new" one from it; then:
//   - a new URL different from the old one is parsed with net/url and
//     answered with a redirect whose Location is the parsed URL printed
//     back (url.URL.String); a URL net/url refuses is answered 502;
//   - a new URL equal to the old one passes the request on, with the
//     request URL replaced by the parsed one (the kinds build the old URL
//     with the path as net/url prints it, so that changes nothing), or
//     answered 502 if net/url refuses it.
//
// Traefik's entry point disables Content-Type sniffing, so the redirect
// answers carry none: just the status, Location, and the status text as
// the body.
//
// Both steps go through net/url only for URLs outside plainURL's shape
// (those it would not print back unchanged); the usual ones are handled
// without allocating.

// Bodies of the answers: Go's http.StatusText of the status.
var (
	bodyMovedPermanently  = []byte("Moved Permanently")
	bodyFound             = []byte("Found")
	bodyTemporaryRedirect = []byte("Temporary Redirect")
	bodyPermanentRedirect = []byte("Permanent Redirect")
	bodyBadGateway        = []byte("Bad Gateway")
)

// finishRedirect ends the work of a redirect middleware once it has the
// old and the new URL (see above).
func finishRedirect(ctx *fasthttp.RequestCtx, r *Request, next Handler, oldURL, newURL []byte, permanent bool) {
	if !bytes.Equal(oldURL, newURL) {
		if plainURL(newURL) {
			answerRedirect(ctx, newURL, permanent)
			return
		}
		u, err := url.Parse(string(newURL))
		if err != nil {
			answerBadGateway(ctx)
			return
		}
		answerRedirect(ctx, []byte(u.String()), permanent)
		return
	}
	if !plainURL(oldURL) {
		u, err := url.Parse(string(oldURL))
		if err != nil {
			answerBadGateway(ctx)
			return
		}
		// Traefik sets req.URL to u and req.RequestURI to u.RequestURI(),
		// which its proxy forwards.
		if u.Path == "" {
			r.SetPath([]byte("/"), nil)
		} else {
			r.SetPath([]byte(u.Path), []byte(u.RawPath))
		}
		r.Query, r.HasQuery = []byte(u.RawQuery), u.ForceQuery || u.RawQuery != ""
	}
	next(ctx, r)
}

// answerRedirect is Traefik's moveHandler: 302 for GET and 307 for any
// other method (HEAD included), 301 and 308 when permanent.
func answerRedirect(ctx *fasthttp.RequestCtx, location []byte, permanent bool) {
	get := string(ctx.Method()) == fasthttp.MethodGet
	status, body := fasthttp.StatusFound, bodyFound
	switch {
	case permanent && get:
		status, body = fasthttp.StatusMovedPermanently, bodyMovedPermanently
	case permanent:
		status, body = fasthttp.StatusPermanentRedirect, bodyPermanentRedirect
	case !get:
		status, body = fasthttp.StatusTemporaryRedirect, bodyTemporaryRedirect
	}
	ctx.Response.Header.SetBytesV(fasthttp.HeaderLocation, location)
	ctx.SetStatusCode(status)
	ctx.SetBody(body)
}

// answerBadGateway is what Traefik's error handler (oxy's StdHandler)
// answers for a URL net/url refuses: a url.Error is a net.Error that did
// not time out, so 502 with its status text.
func answerBadGateway(ctx *fasthttp.RequestCtx) {
	ctx.SetStatusCode(fasthttp.StatusBadGateway)
	ctx.SetBody(bodyBadGateway)
}

// appendRequestURI appends what Traefik's req.RequestURI holds when a
// middleware sees it: the entry point rebuilds it as url.URL.RequestURI
// (sanitizePath, on by default), so the escaped path ("/" for none),
// escaped anew when it is not a valid escaping, then '?' and the raw query
// if there was one.
func appendRequestURI(dst []byte, r *Request) []byte {
	path := r.EscapedPath()
	switch {
	case len(path) == 0:
		dst = append(dst, '/')
	case validEncoded(path):
		dst = append(dst, path...)
	default:
		// appendUnescape cannot work in place in dst: go through tmp.
		r.tmp = appendUnescape(r.tmp[:0], path)
		dst = appendEscape(dst, r.tmp)
	}
	if r.HasQuery {
		dst = append(append(dst, '?'), r.Query...)
	}
	return dst
}

// requestHost returns Go's req.Host: the authority of an absolute-form
// request target (without user information) when it has one, else the
// Host header, as sent (case and port kept).
func requestHost(ctx *fasthttp.RequestCtx) []byte {
	t := ctx.Request.Header.RequestURI()
	n := 0
	switch {
	case hasPrefixFold(t, "http://"):
		n = len("http://")
	case hasPrefixFold(t, "https://"):
		n = len("https://")
	default:
		return ctx.Request.Header.Host()
	}
	t = t[n:]
	if i := bytes.IndexAny(t, "/?"); i >= 0 {
		t = t[:i]
	}
	if i := bytes.LastIndexByte(t, '@'); i >= 0 {
		t = t[i+1:]
	}
	if len(t) == 0 {
		return ctx.Request.Header.Host()
	}
	return t
}

// plainURL reports whether s is an absolute URL that url.Parse accepts and
// that url.URL.String and RequestURI print back unchanged: a lower-case
// scheme, "://", a host of unreserved characters with an optional decimal
// port, a path that is a valid escaping (see validEncoded), an optional
// query, and no control character or '#' anywhere. Anything else (IPv6
// literals, user information, escapes in the host, characters net/url
// escapes or refuses) takes the net/url path.
func plainURL(s []byte) bool {
	if len(s) == 0 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	i := 1
	for i < len(s) && isSchemeByte(s[i]) {
		i++
	}
	if !bytes.HasPrefix(s[i:], []byte("://")) {
		return false
	}
	i += len("://")
	start := i
	for i < len(s) && isUnreservedByte(s[i]) {
		i++
	}
	if i == start {
		return false
	}
	if i < len(s) && s[i] == ':' {
		i++
		digits := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		if i == digits {
			return false
		}
	}
	if i < len(s) && s[i] != '/' && s[i] != '?' {
		return false
	}
	for ; i < len(s) && s[i] != '?'; i++ {
		switch c := s[i]; {
		case c == '%':
			if i+2 >= len(s) || !ishex(s[i+1]) || !ishex(s[i+2]) {
				return false
			}
			i += 2
		case c == '#' || !validEncoded(s[i:i+1]):
			return false
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c == '#' {
			return false
		}
	}
	return true
}

// isSchemeByte is a byte of a lower-case URL scheme after its first.
func isSchemeByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'
}

// isUnreservedByte is RFC 3986's unreserved set, which net/url neither
// escapes nor refuses in a host.
func isUnreservedByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// hasPrefixFold reports whether b starts with the lower-case p, ignoring
// ASCII case.
func hasPrefixFold(b []byte, p string) bool {
	if len(b) < len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != p[i] {
			return false
		}
	}
	return true
}
