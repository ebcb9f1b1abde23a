package middleware

import (
	"net/url"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// replacePathConfig is Traefik's replacePath: the path is replaced by a
// fixed one, given escaped (it becomes the raw path; its unescaped form the
// path), and the path it replaced is named in X-Replaced-Path.
type replacePathConfig struct {
	Path string `json:"path,omitempty"`
}

// ReplacedPath is the header naming the path a middleware replaced.
const ReplacedPath = "X-Replaced-Path"

func newReplacePath(c *replacePathConfig, _ *spec.Middleware, bc *BuildContext) (Middleware, error) {
	raw := []byte(c.Path)
	decoded, err := url.PathUnescape(c.Path)
	if err != nil {
		// Traefik accepts the configuration and answers every request
		// 500 with the unescaping error; so does edgeroute, but it says so.
		bc.Warn("path %q cannot be unescaped (%v): every request will be answered 500", c.Path, err)
		msg := err.Error()
		return func(next Handler) Handler {
			return func(ctx *fasthttp.RequestCtx, r *Request) {
				ctx.Request.Header.AddBytesV(ReplacedPath, currentEscapedPath(r))
				pathError(ctx, fasthttp.StatusInternalServerError, msg)
			}
		}, nil
	}
	path := []byte(decoded)
	return func(next Handler) Handler {
		return func(ctx *fasthttp.RequestCtx, r *Request) {
			ctx.Request.Header.AddBytesV(ReplacedPath, currentEscapedPath(r))
			// As Traefik, RawPath is the configured path as written (even
			// when it is not a valid encoding: EscapedPath escapes Path then).
			r.SetPath(path, raw)
			next(ctx, r)
		}
	}, nil
}

// currentEscapedPath is what Traefik's replacePath and replacePathRegex
// read: req.URL.RawPath, or EscapedPath when RawPath is empty.
func currentEscapedPath(r *Request) []byte {
	if raw := r.RawPath(); len(raw) > 0 {
		return raw
	}
	return r.EscapedPath()
}

// pathError is Go's http.Error(rw, msg, status), which Traefik's path
// middlewares answer with.
func pathError(ctx *fasthttp.RequestCtx, status int, msg string) {
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
	ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
	ctx.Response.AppendBodyString(msg)
	ctx.Response.AppendBodyString("\n")
}
