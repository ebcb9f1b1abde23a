package middleware

import (
	"bytes"
	"regexp"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// stripPrefixRegexConfig is Traefik's stripPrefixRegex: the leftmost match
// of the first expression (in list order) that matches a non-empty
// beginning of the decoded path is removed, and named in
// X-Forwarded-Prefix.
type stripPrefixRegexConfig struct {
	Regex []string `json:"regex,omitempty"`
}

func newStripPrefixRegex(c *stripPrefixRegexConfig, _ *spec.Middleware, _ *BuildContext) (Middleware, error) {
	exps := make([]*regexp.Regexp, len(c.Regex))
	for i, s := range c.Regex {
		re, err := regexp.Compile(strings.TrimSpace(s))
		if err != nil {
			return nil, err // Traefik returns regexp's error as it is
		}
		exps[i] = re
	}
	return func(next Handler) Handler {
		return func(ctx *fasthttp.RequestCtx, r *Request) {
			path := r.Path()
			for _, re := range exps {
				// Traefik takes the text of the leftmost match and strips it
				// only when the path starts with that text (not necessarily
				// where it matched: "/$" strips the leading "/" of "/a/").
				// FindIndex allocates its result on a match; pinned in
				// TestRewriteAllocs.
				loc := re.FindIndex(path)
				if loc == nil || loc[0] == loc[1] {
					continue
				}
				prefix := path[loc[0]:loc[1]]
				if !bytes.HasPrefix(path, prefix) {
					continue
				}
				// Added before the path changes (prefix is in r.Path()).
				ctx.Request.Header.AddBytesV(ForwardedPrefix, prefix)
				// stripPrefix's stripping (without forceSlash) and JoinPath check.
				if !stripPath(r, prefix, len(prefix), false) {
					badRequest(ctx)
					return
				}
				break
			}
			next(ctx, r)
		}
	}, nil
}
