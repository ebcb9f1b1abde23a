package compile

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
)

// Request is the view of an HTTP request that rules are matched against. It
// is made of byte slices so that any front door (fasthttp, net/http for
// HTTP/2) can fill it without copying; the slices are borrowed for the
// duration of a Match call. Keep one Request per connection or in a pool and
// reuse it: its scratch buffer then stops allocating after warm-up.
//
// A Request is not safe for concurrent use.
type Request struct {
	// Host is the canonical request host: port stripped, spaces trimmed,
	// lower-cased (see AppendCanonicalHost). It may be empty.
	Host []byte
	// Path is Traefik's routing path (see AppendRoutingPath).
	Path []byte
	// Method is the request method exactly as sent.
	Method []byte
	// Query is the raw query string, without '?'.
	Query []byte
	// ClientIP is the TCP peer (or PROXY-protocol source) address. The zero
	// Addr never matches ClientIP.
	ClientIP netip.Addr
	// Header gives access to header lines; nil means no headers.
	Header Headers

	buf []byte // scratch for decoded query components and v2 paths
}

// Headers reads request header lines. fasthttp's *RequestHeader implements it.
type Headers interface {
	// PeekAll returns the value of every line of the header whose name equals
	// name case-insensitively. The result is borrowed until the next call.
	PeekAll(name string) [][]byte
}

// HeaderList is a Headers made of name/value pairs, for tests, tools and
// front doors that do not have one. Names compare case-insensitively.
type HeaderList struct {
	Lines [][2]string
	vals  [][]byte // Lines' values as bytes, converted once
	out   [][]byte
}

// PeekAll implements Headers. After its first call it does not allocate.
func (h *HeaderList) PeekAll(name string) [][]byte {
	if len(h.vals) != len(h.Lines) {
		h.vals = h.vals[:0]
		for _, kv := range h.Lines {
			h.vals = append(h.vals, []byte(kv[1]))
		}
	}
	h.out = h.out[:0]
	for i, kv := range h.Lines {
		if equalFold(kv[0], name) {
			h.out = append(h.out, h.vals[i])
		}
	}
	return h.out
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// AppendCanonicalHost appends the canonical form of a Host header (or of an
// absolute-form request target's authority) to dst, as Traefik computes it:
// when the host contains ':', the port is split off the way net.SplitHostPort
// does it, or else a bare "[v6]" loses its brackets; spaces are trimmed, and the result is lower-cased. An
// address net.SplitHostPort rejects (such as "::1" or "a:b:c") is kept whole.
// It does not allocate when dst has room.
func AppendCanonicalHost(dst, host []byte) []byte {
	if bytes.IndexByte(host, ':') >= 0 {
		if h, ok := splitHost(host); ok {
			host = h
		} else if host[0] == '[' && host[len(host)-1] == ']' {
			host = host[1 : len(host)-1]
		}
	}
	host = trimSpace(host)
	for _, c := range host {
		dst = append(dst, lower(c))
	}
	return dst
}

// splitHost is net.SplitHostPort's host half, on bytes, without allocating.
func splitHost(hp []byte) ([]byte, bool) {
	i := bytes.LastIndexByte(hp, ':')
	if i < 0 {
		return nil, false
	}
	var host []byte
	j, k := 0, 0
	if hp[0] == '[' {
		end := bytes.IndexByte(hp, ']')
		if end < 0 || end+1 != i {
			return nil, false
		}
		host = hp[1:end]
		j, k = 1, end+1
	} else {
		host = hp[:i]
		if bytes.IndexByte(host, ':') >= 0 {
			return nil, false
		}
	}
	if bytes.IndexByte(hp[j:], '[') >= 0 || bytes.IndexByte(hp[k:], ']') >= 0 {
		return nil, false
	}
	return host, true
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// Errors returned for request targets that Traefik answers with 400.
var (
	ErrFragment       = errors.New("compile: request path contains '#'")
	ErrPercentEncoded = errors.New("compile: invalid percent-encoding in request path")
)

// AppendNormalizedPath appends the raw request path (as sent, without the
// query) in the form Traefik forwards and routes on: percent-encoded
// unreserved characters (A-Z a-z 0-9 - . _ ~) are decoded, every other %xx is
// upper-cased, and, when sanitize is set (Traefik's default), dot-segments
// and repeated slashes are removed as Go's path.Join does while a trailing
// slash is kept. A path containing '#' or a malformed escape is an error (Go's
// URL parser answers such requests with 400 before Traefik routes them). It does not allocate when dst has room.
func AppendNormalizedPath(dst, raw []byte, sanitize bool) ([]byte, error) {
	if bytes.IndexByte(raw, '#') >= 0 {
		return dst, ErrFragment
	}
	start := len(dst)
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '%' {
			dst = append(dst, c)
			continue
		}
		if i+2 >= len(raw) {
			return dst[:start], ErrPercentEncoded
		}
		h, l := upper(raw[i+1]), upper(raw[i+2])
		d, ok := unhex2(h, l)
		switch {
		case !ok:
			// Go's URL parser rejects the request before Traefik sees it.
			return dst[:start], ErrPercentEncoded
		case isUnreserved(d):
			dst = append(dst, d)
		default:
			dst = append(dst, '%', h, l)
		}
		i += 2
	}
	if !sanitize || len(dst) == start || dst[start] != '/' {
		return dst, nil
	}
	return cleanRooted(dst, start), nil
}

// cleanRooted rewrites dst[start:], a path starting with '/', in place the
// way path.Join cleans it, keeping one trailing slash if the input had one.
// It is path.Clean's lazybuf algorithm specialised to rooted paths.
func cleanRooted(dst []byte, start int) []byte {
	p := dst[start:]
	n := len(p)
	trailing := p[n-1] == '/'
	w := 1 // write index; p[0] == '/' stays
	r := 1
	for r < n {
		switch {
		case p[r] == '/':
			r++
		case p[r] == '.' && (r+1 == n || p[r+1] == '/'):
			r++
		case p[r] == '.' && p[r+1] == '.' && (r+2 == n || p[r+2] == '/'):
			r += 2
			// Back up to the previous '/', never past the root.
			if w > 1 {
				w--
				for w > 1 && p[w] != '/' {
					w--
				}
			}
		default:
			if w != 1 {
				p[w] = '/'
				w++
			}
			for ; r < n && p[r] != '/'; r++ {
				p[w] = p[r]
				w++
			}
		}
	}
	if trailing && p[w-1] != '/' {
		p[w] = '/' // safe: a trailing slash in the input left room for it
		w++
	}
	return dst[:start+w]
}

// AppendRoutingPath appends Traefik's routing path for an escaped path (the
// output of AppendNormalizedPath): every %XX is decoded except the reserved
// characters : / ? # [ ] @ ! $ & ' ( ) * + , ; = and % itself, which stay
// encoded in upper case. So /foo%20bar routes as "/foo bar" while /foo%2Fbar
// stays "/foo%2Fbar". An invalid or incomplete escape is an error.
func AppendRoutingPath(dst, escaped []byte) ([]byte, error) {
	start := len(dst)
	for i := 0; i < len(escaped); i++ {
		c := escaped[i]
		if c != '%' {
			dst = append(dst, c)
			continue
		}
		if i+2 >= len(escaped) {
			return dst[:start], ErrPercentEncoded
		}
		d, ok := unhex2(escaped[i+1], escaped[i+2])
		if !ok {
			return dst[:start], ErrPercentEncoded
		}
		// Traefik looks reserved escapes up in upper case only; a lower-case
		// one (impossible after normalisation) is decoded like the others.
		if isReserved(d) && escaped[i+1] == upper(escaped[i+1]) && escaped[i+2] == upper(escaped[i+2]) {
			dst = append(dst, escaped[i:i+3]...)
		} else {
			dst = append(dst, d)
		}
		i += 2
	}
	return dst, nil
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func unhex2(h, l byte) (byte, bool) {
	a, ok1 := unhex(h)
	b, ok2 := unhex(l)
	return a<<4 | b, ok1 && ok2
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func isReserved(c byte) bool {
	switch c {
	case ':', '/', '?', '#', '[', ']', '@', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', '%':
		return true
	}
	return false
}

// queryUnescape appends the decoded form of a query component (url.QueryUnescape:
// '+' is a space, %XX a byte) to dst. ok is false for a malformed escape.
func queryUnescape(dst, s []byte) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			dst = append(dst, ' ')
		case '%':
			if i+2 >= len(s) {
				return dst, false
			}
			d, ok := unhex2(s[i+1], s[i+2])
			if !ok {
				return dst, false
			}
			dst = append(dst, d)
			i += 2
		default:
			dst = append(dst, c)
		}
	}
	return dst, true
}

// nextQueryPair splits the first '&'- or ';'-separated pair off q and cuts it
// at its first '='. Empty pairs are skipped; ok is false when q is exhausted.
func nextQueryPair(q []byte) (key, val, rest []byte, hasEq, ok bool) {
	for len(q) > 0 {
		pair := q
		q = nil
		for i, c := range pair {
			if c == '&' || c == ';' {
				pair, q = pair[:i], pair[i+1:]
				break
			}
		}
		if len(pair) == 0 {
			continue
		}
		if i := bytes.IndexByte(pair, '='); i >= 0 {
			return pair[:i], pair[i+1:], q, true, true
		}
		return pair, nil, q, false, true
	}
	return nil, nil, nil, false, false
}

// NewRequest builds a Request from a method, a request target and header
// lines, the way the entry point would see them: the host comes from an
// absolute target's authority, else from the Host header; the path is
// normalised, sanitised (when sanitize is set) and turned into the routing
// path. It allocates; it is meant for tools (explain), tests and fuzzing.
func NewRequest(method, target string, header [][2]string, clientIP netip.Addr, sanitize bool) (*Request, error) {
	r := &Request{Method: []byte(method), ClientIP: clientIP, Header: &HeaderList{Lines: header}}
	host := ""
	for _, kv := range header {
		if equalFold(kv[0], "Host") {
			host = kv[1]
			break
		}
	}
	rawPath := target
	if i := strings.Index(target, "://"); i >= 0 && !strings.HasPrefix(target, "/") {
		rest := target[i+3:]
		end := strings.IndexAny(rest, "/?")
		if end < 0 {
			end = len(rest)
		}
		if auth := rest[:end]; auth != "" {
			if at := strings.LastIndexByte(auth, '@'); at >= 0 {
				auth = auth[at+1:]
			}
			if auth != "" {
				host = auth
			}
		}
		rawPath = rest[end:]
		if rawPath == "" || rawPath[0] == '?' {
			rawPath = "/" + rawPath
		}
	}
	if i := strings.IndexByte(rawPath, '?'); i >= 0 {
		r.Query = []byte(rawPath[i+1:])
		rawPath = rawPath[:i]
	}
	r.Host = AppendCanonicalHost(nil, []byte(host))
	esc, err := AppendNormalizedPath(nil, []byte(rawPath), sanitize)
	if err != nil {
		return nil, err
	}
	if r.Path, err = AppendRoutingPath(nil, esc); err != nil {
		return nil, err
	}
	return r, nil
}
