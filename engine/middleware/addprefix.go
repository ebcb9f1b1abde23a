package middleware

import (
	"errors"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// addPrefixConfig is Traefik's addPrefix: the prefix is put in front of
// the path, and of the raw path when there is one.
type addPrefixConfig struct {
	Prefix string `json:"prefix,omitempty"`
}

func newAddPrefix(c *addPrefixConfig, _ *spec.Middleware, _ *BuildContext) (Middleware, error) {
	if c.Prefix == "" {
		return nil, errors.New("prefix cannot be empty") // Traefik's message
	}
	prefix := []byte(c.Prefix)
	return func(next Handler) Handler {
		return func(ctx *fasthttp.RequestCtx, r *Request) {
			raw := r.RawPath()
			buf := appendSlashed(r.Buf[:0], prefix, r.Path())
			n := len(buf)
			if len(raw) > 0 {
				buf = appendSlashed(buf, prefix, raw)
			}
			r.Buf = buf
			r.SetPath(buf[:n], buf[n:])
			next(ctx, r)
		}
	}, nil
}

// appendSlashed appends a+b with a leading '/' added when it is not empty
// and lacks one (Traefik's ensureLeadingSlash).
func appendSlashed(dst, a, b []byte) []byte {
	first := byte(0)
	switch {
	case len(a) > 0:
		first = a[0]
	case len(b) > 0:
		first = b[0]
	default:
		return dst
	}
	if first != '/' {
		dst = append(dst, '/')
	}
	return append(append(dst, a...), b...)
}
