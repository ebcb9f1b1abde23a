package middleware

import (
	"bytes"
	"errors"
	"mime"
)

// Media types as Traefik's compress middleware reads them: with Go's
// mime.ParseMediaType, of which it uses the media type (lower case) and
// whether parsing failed. parseMediaType gives the same answers without
// allocating for ASCII values; anything else goes to mime.ParseMediaType
// itself (FuzzCompressMediaType compares the two).

// mediaStatus is how mime.ParseMediaType ended.
type mediaStatus uint8

const (
	// mediaOK: no error.
	mediaOK mediaStatus = iota
	// mediaBadParams: mime.ErrInvalidMediaParameter, which still returns
	// the media type (Traefik's request-side check uses it).
	mediaBadParams
	// mediaInvalid: any other error; the media type returned is "".
	mediaInvalid
)

// maxFastParams bounds the parameters the fast path tracks for its
// duplicate check; a value with more goes to mime.ParseMediaType.
const maxFastParams = 8

// parseMediaType returns the media type of v as mime.ParseMediaType
// returns it, except that the fast path leaves its case alone (compare it
// with mediaEqualFold), and the parse status. The result may alias v.
func parseMediaType(v []byte) ([]byte, mediaStatus) {
	for _, c := range v {
		if c >= 0x80 {
			return parseMediaTypeSlow(v)
		}
	}
	base := v
	if i := bytes.IndexByte(v, ';'); i >= 0 {
		base = v[:i]
	}
	rest := v[len(base):]
	base = mediaTrimSpace(base)
	if !validMediaType(base) {
		return nil, mediaInvalid
	}
	var params [maxFastParams]struct{ k, v []byte }
	n := 0
	for {
		rest = mediaTrimLeft(rest)
		if len(rest) == 0 {
			return base, mediaOK
		}
		k, val, next, res := consumeMediaParam(rest)
		switch res {
		case paramBad:
			if t := mediaTrimSpace(rest); len(t) == 1 && t[0] == ';' {
				return base, mediaOK // a trailing ';' is allowed
			}
			return base, mediaBadParams
		case paramSlow:
			return parseMediaTypeSlow(v)
		}
		// Duplicate names are an error unless their values are equal.
		for _, p := range params[:n] {
			if mediaEqualFold(p.k, k) {
				if !bytes.Equal(p.v, val) {
					return nil, mediaInvalid
				}
				k = nil
				break
			}
		}
		if k != nil {
			if n == maxFastParams {
				return parseMediaTypeSlow(v)
			}
			params[n].k, params[n].v = k, val
			n++
		}
		rest = next
	}
}

// parseMediaTypeSlow is mime.ParseMediaType itself.
func parseMediaTypeSlow(v []byte) ([]byte, mediaStatus) {
	mt, _, err := mime.ParseMediaType(string(v))
	switch {
	case err == nil:
		return []byte(mt), mediaOK
	case errors.Is(err, mime.ErrInvalidMediaParameter):
		return []byte(mt), mediaBadParams
	}
	return nil, mediaInvalid
}

type paramResult uint8

const (
	paramOK paramResult = iota
	paramBad
	paramSlow // a quoted value with escapes: unescaping needs a copy
)

// consumeMediaParam is mime's consumeMediaParam on ASCII: "; key=value" with
// optional spaces, value a token or a quoted string.
func consumeMediaParam(v []byte) (key, value, rest []byte, res paramResult) {
	rest = mediaTrimLeft(v)
	if len(rest) == 0 || rest[0] != ';' {
		return nil, nil, nil, paramBad
	}
	rest = mediaTrimLeft(rest[1:])
	key, rest = consumeMediaToken(rest)
	if len(key) == 0 {
		return nil, nil, nil, paramBad
	}
	rest = mediaTrimLeft(rest)
	if len(rest) == 0 || rest[0] != '=' {
		return nil, nil, nil, paramBad
	}
	rest = mediaTrimLeft(rest[1:])
	if len(rest) > 0 && rest[0] == '"' {
		for i := 1; i < len(rest); i++ {
			switch c := rest[i]; {
			case c == '"':
				return key, rest[1:i], rest[i+1:], paramOK
			case c == '\\' && i+1 < len(rest) && isMediaTSpecial(rest[i+1]):
				return nil, nil, nil, paramSlow
			case c == '\r' || c == '\n':
				return nil, nil, nil, paramBad
			}
		}
		return nil, nil, nil, paramBad // no closing quote
	}
	value, rest = consumeMediaToken(rest)
	if len(value) == 0 {
		return nil, nil, nil, paramBad
	}
	return key, value, rest, paramOK
}

// validMediaType is mime's checkMediaTypeDisposition: a token, optionally
// followed by "/" and a token.
func validMediaType(s []byte) bool {
	typ, rest := consumeMediaToken(s)
	if len(typ) == 0 {
		return false
	}
	if len(rest) == 0 {
		return true
	}
	if rest[0] != '/' {
		return false
	}
	sub, rest := consumeMediaToken(rest[1:])
	return len(sub) > 0 && len(rest) == 0
}

func consumeMediaToken(v []byte) (token, rest []byte) {
	for i, c := range v {
		if !isMediaTokenChar(c) {
			return v[:i], v[i:]
		}
	}
	return v, nil
}

// isMediaTokenChar: any US-ASCII character except space, controls and
// tspecials (RFC 2045).
func isMediaTokenChar(c byte) bool {
	return c > ' ' && c < 0x7f && !isMediaTSpecial(c)
}

func isMediaTSpecial(c byte) bool {
	switch c {
	case '(', ')', '<', '>', '@', ',', ';', ':', '\\', '"', '/', '[', ']', '?', '=':
		return true
	}
	return false
}

// isMediaSpace is unicode.IsSpace on ASCII.
func isMediaSpace(c byte) bool {
	return c == ' ' || c >= '\t' && c <= '\r'
}

func mediaTrimLeft(b []byte) []byte {
	for len(b) > 0 && isMediaSpace(b[0]) {
		b = b[1:]
	}
	return b
}

func mediaTrimSpace(b []byte) []byte {
	b = mediaTrimLeft(b)
	for len(b) > 0 && isMediaSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// mediaEqualFold compares a and b ignoring ASCII case.
func mediaEqualFold(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if mediaLower(a[i]) != mediaLower(b[i]) {
			return false
		}
	}
	return true
}

func mediaLower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// mediaTypeSet is a list of media types (lower case, parameters dropped,
// as Traefik keeps them).
type mediaTypeSet [][]byte

func (s mediaTypeSet) contains(mt []byte) bool {
	for _, m := range s {
		if mediaEqualFold(m, mt) {
			return true
		}
	}
	return false
}
