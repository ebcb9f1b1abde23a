// Runs per request: must not allocate (guarded by TestRewriteAllocs).

package middleware

// The request path, with the meaning Go's url.URL gives Path and RawPath,
// which Traefik's path middlewares edit: Path is decoded; RawPath is an
// escaped form kept only while it still encodes Path; what goes upstream
// is EscapedPath. Until a middleware rewrites it, the path is the entry
// point's normalised escaped path, forwarded byte for byte.

// Path returns the decoded path (url.URL.Path). The slice is valid until
// the path changes or the request ends.
func (r *Request) Path() []byte {
	if r.rewritten || r.decoded {
		return r.path
	}
	r.path = appendUnescape(r.path[:0], r.raw)
	r.decoded = true
	return r.path
}

// RawPath returns url.URL.RawPath: the escaped path when it differs from
// the default escaping of Path, else empty.
func (r *Request) RawPath() []byte {
	if r.rewritten {
		return r.rawPath
	}
	r.tmp = appendEscape(r.tmp[:0], r.Path())
	if string(r.tmp) == string(r.raw) {
		return nil
	}
	return r.raw
}

// SetPath sets the decoded path and the raw path (nil for none) as a
// middleware that assigns req.URL.Path and req.URL.RawPath does. Both are
// copied.
func (r *Request) SetPath(path, rawPath []byte) {
	// path or rawPath may alias r.path or r.rawPath: go through tmp.
	r.tmp = append(append(r.tmp[:0], path...), rawPath...)
	r.path = append(r.path[:0], r.tmp[:len(path)]...)
	r.rawPath = append(r.rawPath[:0], r.tmp[len(path):]...)
	r.rewritten = true
}

// EscapedPath returns what is forwarded: url.URL.EscapedPath of the
// current path (RawPath when it is a valid encoding of Path, else Path
// escaped); until a middleware rewrites it, the entry point's path as
// received when it is a valid encoding.
func (r *Request) EscapedPath() []byte {
	if !r.rewritten {
		// Fast path: what arrived is a valid encoding (an HTTP/1 target
		// almost always is). Otherwise, as Go does, escape the decoded
		// path: "/a b" from an HTTP/2 client goes out as "/a%20b".
		if validEncoded(r.raw) {
			return r.raw
		}
		r.esc = appendEscape(r.esc[:0], r.Path())
		return r.esc
	}
	if len(r.rawPath) > 0 && validEncoded(r.rawPath) {
		r.tmp = appendUnescape(r.tmp[:0], r.rawPath)
		if string(r.tmp) == string(r.path) {
			return r.rawPath
		}
	}
	if string(r.path) == "*" {
		return r.path
	}
	r.esc = appendEscape(r.esc[:0], r.path)
	return r.esc
}

// Rewritten reports whether a middleware changed the path.
func (r *Request) Rewritten() bool { return r.rewritten }

// appendUnescape appends s with %XX sequences decoded, as url.PathUnescape
// (the entry point has already refused malformed escapes; a stray '%' is
// kept).
func appendUnescape(dst, s []byte) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' && i+2 < len(s) && ishex(s[i+1]) && ishex(s[i+2]) {
			dst = append(dst, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

// appendEscape appends s escaped as url.URL escapes a path.
func appendEscape(dst, s []byte) []byte {
	const hex = "0123456789ABCDEF"
	for _, c := range s {
		if shouldEscapePath(c) {
			dst = append(dst, '%', hex[c>>4], hex[c&15])
		} else {
			dst = append(dst, c)
		}
	}
	return dst
}

// shouldEscapePath is net/url's shouldEscape(c, encodePath).
func shouldEscapePath(c byte) bool {
	if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
		return false
	}
	switch c {
	case '-', '_', '.', '~', '$', '&', '+', ',', '/', ':', ';', '=', '@':
		return false
	}
	return true
}

// validEncoded is net/url's validEncoded(s, encodePath).
func validEncoded(s []byte) bool {
	for _, c := range s {
		switch c {
		case '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '@', '[', ']', '%':
		default:
			if shouldEscapePath(c) {
				return false
			}
		}
	}
	return true
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
