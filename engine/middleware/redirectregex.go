package middleware

import (
	"regexp"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// redirectRegexConfig is Traefik's redirectRegex: when the regex matches
// the request URL, every match is replaced (capture groups as $1, ${name})
// and the client is redirected to the result.
type redirectRegexConfig struct {
	Regex       string `json:"regex,omitempty"`
	Replacement string `json:"replacement,omitempty"`
	// Permanent answers 301 (GET) or 308 instead of 302 or 307.
	Permanent bool `json:"permanent,omitempty"`
}

func newRedirectRegex(c *redirectRegexConfig, _ *spec.Middleware, bc *BuildContext) (Middleware, error) {
	re, err := regexp.Compile(c.Regex)
	if err != nil {
		return nil, err // Traefik's error: regexp's own
	}
	if c.Regex == "" {
		bc.Warn("the regex is empty: it matches every URL, at every position")
	}
	repl := []byte(c.Replacement)
	permanent := c.Permanent
	return func(next Handler) Handler {
		return func(ctx *fasthttp.RequestCtx, r *Request) {
			buf := appendRawURL(r.Buf[:0], ctx, r)
			r.Buf = buf
			if !re.Match(buf) {
				next(ctx, r)
				return
			}
			finishRedirect(ctx, r, next, buf, re.ReplaceAll(buf, repl), permanent)
		}
	}, nil
}

// appendRawURL appends Traefik's rawURL, the URL redirectRegex matches:
// https over TLS, else http (X-Forwarded-Proto is not looked at), "://",
// the Host as sent (port included, even the scheme's default one) and the
// request URI.
func appendRawURL(dst []byte, ctx *fasthttp.RequestCtx, r *Request) []byte {
	if r.Secure {
		dst = append(dst, "https://"...)
	} else {
		dst = append(dst, "http://"...)
	}
	dst = append(dst, requestHost(ctx)...)
	return appendRequestURI(dst, r)
}
