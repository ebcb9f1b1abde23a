// Runs per request: must not allocate (guarded by TestAppendSetCookieAllocs).

package lb

import (
	"bytes"
	"net/netip"
	"strconv"
	"time"
)

// httpTimeFormat is net/http's TimeFormat, the date format of the Expires
// attribute. It is repeated here to keep net/http out of this package.
const httpTimeFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

// AppendSetCookie appends the Set-Cookie header value for a sticky cookie
// holding value, computing Expires from the current time. See
// AppendSetCookieAt.
func AppendSetCookie(dst []byte, c CookieSpec, value string) []byte {
	return AppendSetCookieAt(dst, c, value, time.Now())
}

// AppendSetCookieAt appends the Set-Cookie header value for a sticky cookie
// holding value, as written at time now. The output is byte-for-byte what
// Traefik sends: net/http's (*http.Cookie).String() for the same attributes,
// including its sanitising (invalid bytes dropped from value and path,
// values containing a space or comma quoted, invalid domains dropped, a
// leading dot removed from the domain) and, when c.PreserveLeadingDot is set,
// Traefik's restoration of that dot. If c.Name is not a valid token nothing is
// appended, because net/http then produces an empty string and sets no
// cookie.
//
// It does not allocate when dst has enough capacity.
func AppendSetCookieAt(dst []byte, c CookieSpec, value string, now time.Time) []byte {
	if !isToken(c.Name) {
		return dst
	}
	start := len(dst)
	dst = append(dst, c.Name...)
	dst = append(dst, '=')
	dst = appendCookieValue(dst, value)

	if len(c.Path) > 0 {
		dst = append(dst, "; Path="...)
		dst = appendFiltered(dst, c.Path, validCookiePathByte)
	}
	if len(c.Domain) > 0 && validCookieDomain(c.Domain) {
		d := c.Domain
		if d[0] == '.' {
			d = d[1:]
		}
		dst = append(dst, "; Domain="...)
		dst = append(dst, d...)
	}
	if c.Expires > 0 {
		// Year >= 1601 is net/http's validity rule; only absurd clocks
		// or durations fail it.
		if exp := now.Add(c.Expires); exp.Year() >= 1601 {
			dst = append(dst, "; Expires="...)
			dst = exp.UTC().AppendFormat(dst, httpTimeFormat)
		}
	}
	if c.MaxAge > 0 {
		dst = append(dst, "; Max-Age="...)
		dst = strconv.AppendInt(dst, int64(c.MaxAge), 10)
	} else if c.MaxAge < 0 {
		dst = append(dst, "; Max-Age=0"...)
	}
	if c.HTTPOnly {
		dst = append(dst, "; HttpOnly"...)
	}
	if c.Secure {
		dst = append(dst, "; Secure"...)
	}
	switch c.SameSite {
	case SameSiteNone:
		dst = append(dst, "; SameSite=None"...)
	case SameSiteLax:
		dst = append(dst, "; SameSite=Lax"...)
	case SameSiteStrict:
		dst = append(dst, "; SameSite=Strict"...)
	}

	if c.PreserveLeadingDot && len(c.Domain) > 0 && c.Domain[0] == '.' {
		dst = restoreLeadingDot(dst, start, c.Domain[1:])
	}
	return dst
}

// restoreLeadingDot reproduces Traefik's
// strings.Replace(s, "Domain="+d, "Domain=."+d, 1) on dst[start:] without
// building the search string: it inserts a dot after the first "Domain="
// that is followed by d. Like Traefik, the first match wins even if it lies
// in the path, and nothing changes if net/http dropped the domain.
func restoreLeadingDot(dst []byte, start int, d string) []byte {
	for off := start; ; {
		i := bytes.Index(dst[off:], domainAttr)
		if i < 0 {
			return dst
		}
		at := off + i + len(domainAttr)
		// Comparing as strings avoids converting d, which would allocate
		// for long domains.
		if len(dst)-at >= len(d) && string(dst[at:at+len(d)]) == d {
			dst = append(dst, 0)
			copy(dst[at+1:], dst[at:])
			dst[at] = '.'
			return dst
		}
		off += i + 1
	}
}

var domainAttr = []byte("Domain=")

// appendCookieValue appends v as net/http writes a cookie value: invalid
// bytes are dropped, and the result is quoted if it contains a space or a
// comma.
func appendCookieValue(dst []byte, v string) []byte {
	quote := false
	for i := 0; i < len(v); i++ {
		// Space and comma are valid value bytes, so testing before
		// filtering gives net/http's answer.
		if v[i] == ' ' || v[i] == ',' {
			quote = true
			break
		}
	}
	if quote {
		dst = append(dst, '"')
	}
	dst = appendFiltered(dst, v, validCookieValueByte)
	if quote {
		dst = append(dst, '"')
	}
	return dst
}

// appendFiltered appends the bytes of v accepted by valid.
func appendFiltered(dst []byte, v string, valid func(byte) bool) []byte {
	for i := 0; i < len(v); i++ {
		if valid(v[i]) {
			dst = append(dst, v[i])
		}
	}
	return dst
}

// validCookiePathByte is net/http's rule for the Path attribute.
func validCookiePathByte(c byte) bool { return 0x20 <= c && c < 0x7f && c != ';' }

// validCookieDomain is net/http's rule: a domain name, or an IPv4 address.
func validCookieDomain(v string) bool {
	if isCookieDomainName(v) {
		return true
	}
	// netip.ParseAddr accepts the same IPv4 forms as net.ParseIP without
	// allocating; addresses with a colon are rejected like in net/http.
	a, err := netip.ParseAddr(v)
	return err == nil && a.Is4()
}

// isCookieDomainName is net/http's domain syntax check: dot-separated labels
// of letters, digits and inner hyphens, at least one letter, an optional
// leading dot, at most 255 bytes and 63 per label.
func isCookieDomainName(s string) bool {
	if len(s) == 0 || len(s) > 255 {
		return false
	}
	if s[0] == '.' {
		s = s[1:]
	}
	last := byte('.')
	letter := false
	partlen := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
			letter = true
			partlen++
		case '0' <= c && c <= '9':
			partlen++
		case c == '-':
			if last == '.' {
				return false
			}
			partlen++
		case c == '.':
			if last == '.' || last == '-' || partlen > 63 || partlen == 0 {
				return false
			}
			partlen = 0
		default:
			return false
		}
		last = c
	}
	if last == '-' || partlen > 63 {
		return false
	}
	return letter
}
