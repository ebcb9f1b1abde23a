package middleware

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"unsafe"
)

// Accept-Encoding as Traefik's compress middleware reads it
// (acceptencoding.go), and as the klauspost gzhttp handler that Traefik
// serves gzip with reads it again.

// Encodings, by index into encodingNames.
const (
	encGzip = iota
	encBrotli
	encZstd
	numEncodings

	encNone     = -1 // identity, or nothing acceptable: not compressed
	encWildcard = -2 // "*" in an Accept-Encoding entry
	encIdentity = -3 // "identity"
)

var encodingNames = [numEncodings]string{encGzip: "gzip", encBrotli: "br", encZstd: "zstd"}

// encodingIndex returns the index of a Traefik encoding name.
func encodingIndex(name string) int {
	for i, n := range encodingNames {
		if n == name {
			return i
		}
	}
	return encNone
}

// negotiation is what Traefik's getCompressionEncoding needs of the
// configuration.
type negotiation struct {
	// prio is Traefik's supportedEncodings: an encoding's index in the
	// configured list (the last one when listed twice), -1 when not
	// configured. "*" ranks before every encoding, identity after.
	prio     [numEncodings]int
	identity int // len(encodings)
	first    int // encodings[0]
	def      int // defaultEncoding, or encNone
}

func newNegotiation(encodings []string, def string) negotiation {
	n := negotiation{identity: len(encodings), first: encodingIndex(encodings[0]), def: encNone}
	for i := range n.prio {
		n.prio[i] = -1
	}
	for i, e := range encodings {
		n.prio[encodingIndex(e)] = i
	}
	if def != "" {
		n.def = encodingIndex(def)
	}
	return n
}

// acceptEntry is one entry of Accept-Encoding that Traefik's parser keeps.
type acceptEntry struct {
	enc    int // an encoding, encWildcard or encIdentity
	prio   int
	weight float64
}

// compareEntries is Traefik's order: by weight, highest first, and at
// equal weights by configured priority.
func compareEntries(a, b acceptEntry) int {
	if a.weight == b.weight {
		return cmp.Compare(a.prio, b.prio)
	}
	return cmp.Compare(b.weight, a.weight)
}

// choose is Traefik's getCompressionEncoding over the Accept-Encoding
// field lines: the encoding to use, or encNone (identity, or nothing
// acceptable). scratch is reused for the lines without spaces.
func (n *negotiation) choose(lines [][]byte, scratch *[]byte) int {
	// A field with an empty value means no content coding (RFC 9110).
	if len(lines) == 1 && len(trimFieldOWS(lines[0])) == 0 {
		return encNone
	}
	var arr [16]acceptEntry
	entries := arr[:0]
	for _, line := range lines {
		// Traefik removes every space, then splits on ',' and ';'.
		buf := (*scratch)[:0]
		for _, c := range trimFieldOWS(line) {
			if c != ' ' {
				buf = append(buf, c)
			}
		}
		*scratch = buf
		s := unsafe.String(unsafe.SliceData(buf), len(buf))
		for len(s) > 0 {
			var item string
			item, s, _ = strings.Cut(s, ",")
			name, params, hasParams := strings.Cut(item, ";")
			e := acceptEntry{weight: 1}
			switch name {
			case "*":
				e.enc, e.prio = encWildcard, -1
			case "identity":
				e.enc, e.prio = encIdentity, n.identity
			default:
				e.enc = encodingIndex(name)
				if e.enc == encNone || n.prio[e.enc] < 0 {
					continue
				}
				e.prio = n.prio[e.enc]
			}
			if q, ok := strings.CutPrefix(params, "q="); hasParams && ok {
				// Traefik ignores the parse error: what does not parse is 0.
				w, _ := strconv.ParseFloat(q, 64)
				if w == 0 {
					continue // not acceptable
				}
				e.weight = w
			}
			entries = append(entries, e)
		}
	}
	if len(entries) == 0 {
		return encNone // Traefik's not_acceptable: sent as is
	}
	// The same sort as Traefik's (not stable), so that entries of equal
	// rank (NaN weights) come out in the same order.
	slices.SortFunc(entries, compareEntries)
	switch best := entries[0]; best.enc {
	case encWildcard:
		if n.def != encNone {
			return n.def
		}
		return n.first
	case encIdentity:
		return encNone
	default:
		return best.enc
	}
}

// trimFieldOWS trims what Go's header parsing trims from a field value.
func trimFieldOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// gzipQValue is gzhttp's parseEncodingGzip of the first Accept-Encoding
// line (net/http's Header.Get): the quality of the first "gzip" coding,
// clamped to [0, 1], 0 when there is none. Traefik's gzip handler only
// compresses when it is above 0, whatever Traefik's own negotiation
// chose: "*" alone, or no Accept-Encoding with defaultEncoding gzip, is
// not compressed.
func gzipQValue(line []byte) float64 {
	s := strings.TrimSpace(unsafe.String(unsafe.SliceData(line), len(line)))
	for len(s) > 0 {
		var coding string
		coding, s, _ = strings.Cut(s, ",")
		if name, q, ok := parseCoding(coding); ok && name == "gzip" {
			return q
		}
	}
	return 0
}

// parseCoding is gzhttp's parseCoding: a content-coding, lower case, and
// its quality (1 unless a "q=" parameter says otherwise; the last one
// wins). ok is false for an empty coding.
func parseCoding(s string) (coding string, q float64, ok bool) {
	q = 1
	name, params, hasParams := strings.Cut(s, ";")
	coding = strings.ToLower(strings.TrimSpace(name))
	for hasParams {
		var p string
		p, params, hasParams = strings.Cut(params, ";")
		if v, ok := strings.CutPrefix(strings.TrimSpace(p), "q="); ok {
			q, _ = strconv.ParseFloat(v, 64)
			q = max(0, min(q, 1))
		}
	}
	return coding, q, coding != ""
}
