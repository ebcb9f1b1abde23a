package middleware

import (
	"bytes"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// stripPrefixConfig is Traefik's stripPrefix: the first prefix of the
// list that the (decoded) path starts with is removed, and named in
// X-Forwarded-Prefix.
type stripPrefixConfig struct {
	Prefixes []string `json:"prefixes,omitempty"`
	// ForceSlash is deprecated; true keeps Traefik v2's behaviour of
	// always leaving a "/" (an empty rest becomes "/").
	ForceSlash *bool `json:"forceSlash,omitempty"`
}

// ForwardedPrefix is the header naming the prefix a middleware removed.
const ForwardedPrefix = "X-Forwarded-Prefix"

func newStripPrefix(c *stripPrefixConfig, _ *spec.Middleware, bc *BuildContext) (Middleware, error) {
	if c.ForceSlash != nil {
		bc.Warn("the forceSlash option is deprecated, please remove it")
	}
	force := c.ForceSlash != nil && *c.ForceSlash
	prefixes := make([][]byte, len(c.Prefixes))
	for i, p := range c.Prefixes {
		prefixes[i] = []byte(strings.TrimSpace(p))
	}
	return func(next Handler) Handler {
		return func(ctx *fasthttp.RequestCtx, r *Request) {
			path := r.Path()
			for _, p := range prefixes {
				if !bytes.HasPrefix(path, p) {
					continue
				}
				if !stripPath(r, p, len(p), force) {
					badRequest(ctx)
					return
				}
				ctx.Request.Header.AddBytesV(ForwardedPrefix, p)
				break
			}
			next(ctx, r)
		}
	}, nil
}

// stripPath removes the first n bytes of the decoded path, and the bytes
// encoding them from the raw path, then cleans the result as Traefik's
// url.JoinPath does. It returns false when cleaning would change the
// stripped path ("/a/../b" left over): Traefik answers 400 then, rather
// than forward a path the router never saw.
func stripPath(r *Request, prefix []byte, n int, force bool) bool {
	path, raw := r.Path(), r.RawPath()
	buf := appendStripped(r.Buf[:0], path[n:], force)
	pn := len(buf)
	if len(raw) > 0 {
		buf = appendStripped(buf, raw[encodedPrefixLen(raw, n):], force)
	}
	r.Buf = buf
	r.SetPath(buf[:pn], buf[pn:])
	// JoinPath cleans the escaped form, so "%2F.." is not a dot-segment;
	// its setPath then empties a raw path that no longer encodes the path
	// (or equals its default escaping), which later middlewares read.
	return pn == 0 || joinPathSettles(r)
}

// appendStripped is Traefik's getPathStripped on what follows the prefix.
func appendStripped(dst, rest []byte, force bool) []byte {
	if force {
		return append(append(dst, '/'), bytes.TrimPrefix(rest, []byte("/"))...)
	}
	return appendSlashed(dst, nil, rest)
}

// encodedPrefixLen is how many bytes of raw encode the first n decoded
// bytes (3 per %XX, 1 otherwise).
func encodedPrefixLen(raw []byte, n int) int {
	i, decoded := 0, 0
	for i < len(raw) && decoded < n {
		if raw[i] == '%' && i+2 < len(raw) {
			i += 3
		} else {
			i++
		}
		decoded++
	}
	return i
}

// isClean reports whether url.JoinPath would leave path as it is: no
// empty, "." or ".." segments (a trailing slash is kept by JoinPath).
func isClean(path []byte) bool {
	if len(path) == 0 || path[0] != '/' {
		return false
	}
	for seg := range bytes.SplitSeq(path[1:], []byte("/")) {
		switch string(seg) {
		case ".", "..":
			return false
		}
	}
	return !bytes.Contains(path, []byte("//"))
}

// badRequest is Traefik's http.Error(rw, "Bad Request", 400).
func badRequest(ctx *fasthttp.RequestCtx) {
	ctx.Response.Reset()
	ctx.SetStatusCode(fasthttp.StatusBadRequest)
	ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
	ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
	ctx.SetBodyString("Bad Request\n")
}
