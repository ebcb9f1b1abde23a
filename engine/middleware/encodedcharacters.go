package middleware

import (
	"github.com/valyala/fasthttp"

	"github.com/edgeroute/edgeroute/compile/spec"
)

// encodedCharactersConfig is Traefik's encodedCharacters: encoded
// characters in the path that are refused with 400 unless allowed. A
// field left out is false, so `encodedCharacters: {}` refuses all seven.
type encodedCharactersConfig struct {
	AllowEncodedSlash         bool `json:"allowEncodedSlash,omitempty"`
	AllowEncodedBackSlash     bool `json:"allowEncodedBackSlash,omitempty"`
	AllowEncodedNullCharacter bool `json:"allowEncodedNullCharacter,omitempty"`
	AllowEncodedSemicolon     bool `json:"allowEncodedSemicolon,omitempty"`
	AllowEncodedPercent       bool `json:"allowEncodedPercent,omitempty"`
	AllowEncodedQuestionMark  bool `json:"allowEncodedQuestionMark,omitempty"`
	AllowEncodedHash          bool `json:"allowEncodedHash,omitempty"`
}

func newEncodedCharacters(c *encodedCharactersConfig, _ *spec.Middleware, _ *BuildContext) (Middleware, error) {
	// denied[b] is set for the byte b whose %XX form is refused (Traefik
	// matches %2F and %2f alike, as the decoded byte does here).
	var denied [256]bool
	for _, d := range []struct {
		allow bool
		b     byte
	}{{c.AllowEncodedSlash, '/'}, {c.AllowEncodedBackSlash, '\\'}, {c.AllowEncodedNullCharacter, 0},
		{c.AllowEncodedSemicolon, ';'}, {c.AllowEncodedPercent, '%'}, {c.AllowEncodedQuestionMark, '?'}, {c.AllowEncodedHash, '#'}} {
		denied[d.b] = !d.allow
	}
	anyDenied := false
	for _, d := range denied {
		anyDenied = anyDenied || d
	}
	return func(next Handler) Handler {
		if !anyDenied {
			return next
		}
		return func(ctx *fasthttp.RequestCtx, r *Request) {
			p := r.EscapedPath()
			for i := 0; i < len(p); i++ {
				if p[i] != '%' {
					continue
				}
				// Traefik refuses a '%' too close to the end to escape
				// anything, and each denied escape.
				if i+2 >= len(p) || ishex(p[i+1]) && ishex(p[i+2]) && denied[unhex(p[i+1])<<4|unhex(p[i+2])] {
					ctx.Response.Reset()
					ctx.SetStatusCode(fasthttp.StatusBadRequest)
					return
				}
				i += 2
			}
			next(ctx, r)
		}
	}, nil
}
