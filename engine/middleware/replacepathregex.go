package middleware

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// replacePathRegexConfig is Traefik's replacePathRegex: when the regular
// expression matches the escaped path, every match is replaced (with $1,
// ${name} expanded) and the old escaped path named in X-Replaced-Path.
type replacePathRegexConfig struct {
	Regex       string `json:"regex,omitempty"`
	Replacement string `json:"replacement,omitempty"`
}

func newReplacePathRegex(c *replacePathRegexConfig, _ *spec.Middleware, _ *BuildContext) (Middleware, error) {
	re, err := regexp.Compile(strings.TrimSpace(c.Regex))
	if err != nil {
		return nil, fmt.Errorf("error compiling regular expression %s: %w", c.Regex, err) // Traefik's message
	}
	repl := []byte(strings.TrimSpace(c.Replacement))
	return func(next Handler) Handler {
		return func(ctx *fasthttp.RequestCtx, r *Request) {
			// Traefik matches the escaped form: RawPath, else EscapedPath.
			cur := currentEscapedPath(r)
			if !re.Match(cur) {
				next(ctx, r)
				return
			}
			ctx.Request.Header.AddBytesV(ReplacedPath, cur)
			// ReplaceAll allocates its result (and regexp its match
			// indices); pinned in TestRewriteAllocs.
			raw := re.ReplaceAll(cur, repl)
			path, ok := appendPathUnescape(r.Buf[:0], raw)
			r.Buf = path
			if !ok {
				_, err := url.PathUnescape(string(raw)) // Go's exact message
				pathError(ctx, fasthttp.StatusInternalServerError, err.Error())
				return
			}
			r.SetPath(path, raw)
			if len(path) > 0 && !joinPathSettles(r) {
				badRequest(ctx)
				return
			}
			next(ctx, r)
		}
	}, nil
}

// appendPathUnescape appends s unescaped as url.PathUnescape does, and
// reports false where PathUnescape fails (a '%' not followed by two hex
// digits).
func appendPathUnescape(dst, s []byte) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' {
			if i+2 >= len(s) || !ishex(s[i+1]) || !ishex(s[i+2]) {
				return dst, false
			}
			c = unhex(s[i+1])<<4 | unhex(s[i+2])
			i += 2
		}
		dst = append(dst, c)
	}
	return dst, true
}

// joinPathSettles does what Traefik's path middlewares do after changing a
// non-empty path: req.URL = req.URL.JoinPath(), and a 400 when that changed
// the path. It reports false when JoinPath would clean the escaped path
// (an empty, "." or ".." segment; "%2F" is no separator). Otherwise it
// leaves the raw path as JoinPath's setPath does: the escaped path when
// that differs from the default escaping of the path, else empty (so a
// raw path that no longer encodes the path, or needlessly spells it out,
// is dropped, and later middlewares read what Traefik's would).
func joinPathSettles(r *Request) bool {
	esc := r.EscapedPath()
	if !joinPathKeeps(esc) {
		return false
	}
	path, raw := r.Path(), r.RawPath()
	r.Buf = appendEscape(r.Buf[:0], path)
	switch {
	case string(r.Buf) == string(esc):
		if len(raw) > 0 {
			r.SetPath(path, nil)
		}
	case string(raw) != string(esc):
		r.SetPath(path, esc)
	}
	return true
}

// joinPathKeeps reports whether url.URL.JoinPath() leaves the non-empty
// escaped path esc unchanged. A path without a leading '/' is cleaned as
// if it had one, and stays relative.
func joinPathKeeps(esc []byte) bool {
	if len(esc) > 0 && esc[0] == '/' {
		return isClean(esc)
	}
	start := 0
	for i := 0; i <= len(esc); i++ {
		if i < len(esc) && esc[i] != '/' {
			continue
		}
		switch seg := esc[start:i]; {
		case string(seg) == "." || string(seg) == "..":
			return false
		case len(seg) == 0 && i < len(esc): // "//" (or a leading '/', excluded above)
			return false
		}
		start = i + 1
	}
	return true
}
