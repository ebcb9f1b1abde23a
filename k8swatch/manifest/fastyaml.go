package manifest

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file is a fast path for the YAML that real manifests are made of.
// It parses one document into a small tree (ytree) in one pass, without the
// interface{} values, reflection and JSON round trip of
// sigs.k8s.io/yaml.YAMLToJSONStrict, and the tree is either decoded directly
// into the typed objects (fastdecode.go) or written out as JSON.
//
// The subset is what kubectl, Helm and people write: block mappings and
// sequences (including sequences at their key's indentation), single-line
// flow collections ({a: b, c: [d]}), single-line plain, single-quoted and
// double-quoted scalars, comments and blank lines. Anything else makes the
// parser give up (errBail) and the document goes to YAMLToJSONStrict as
// before: anchors and aliases, tags, block scalars (| and >), multi-line
// scalars or flow collections, complex keys (?), merge keys (<<), keys that
// are not strings (1:, true:, null:), duplicate keys, NaN and infinities
// (which JSON cannot hold), tabs, control and non-printable characters,
// directives and document markers, and every oddity of indentation. So the
// fast path never changes a result: where it answers, it answers what the
// reference path (go.yaml.in/yaml/v2 in strict mode, then encoding/json)
// answers, and where it is not sure it does not answer. FuzzFastYAML and
// TestFastYAMLDifferential check this.
//
// Scalars are resolved with YAML 1.1 rules exactly as yaml.v2 resolves
// them (booleans y/yes/on/true..., nulls ~/null, ints in any base with
// underscores, floats), and numbers keep the text encoding/json would give
// them.

// errBail reports a document outside the fast subset.
var errBail = errors.New("outside the fast YAML subset")

// bailSignal is the panic value the parser unwinds with when it gives up.
type bailSignal struct{}

func bail() { panic(bailSignal{}) }

// maxFastDepth bounds the nesting the fast path handles; deeper documents
// (none in practice) take the reference path.
const maxFastDepth = 64

// maxKeyLen bounds the length of a key: the YAML parser refuses a simple
// key whose ':' is more than 1024 characters from its start.
const maxKeyLen = 1000

type nodeKind uint8

const (
	kNull nodeKind = iota
	kBool
	kNum
	kStr
	kSeq
	kMap
)

// ynode is a node of a parsed document. Scalars carry their value in s:
// the string for kStr, the JSON text for kNum and kBool. Collections list
// their children in ytree.kids[kids:kids+n]; a mapping's children are its
// keys (kStr nodes) and values, alternately, in document order.
type ynode struct {
	s    string
	kids int32
	n    int32
	kind nodeKind
}

// ytree is a parsed document.
type ytree struct {
	nodes []ynode
	kids  []int32
}

// yline is a content line (not blank, not a comment) of a document.
type yline struct {
	start int32 // offset of the line's first byte
	first int32 // offset of its first non-space byte
	end   int32 // offset just past its content, before "\n" or "\r\n"
}

func (l yline) indent() int { return int(l.first - l.start) }

// yparser parses documents; it keeps its buffers from one document to the
// next, so a worker reuses one parser.
type yparser struct {
	src   string
	lines []yline
	t     ytree
	stk   []int32 // children of the collections being parsed
	depth int
}

// parse parses src, one YAML document, into p.t and returns the root node.
// Any error means "use the reference path": errBail for input outside the
// subset, another error for an internal failure (a bug, which the tests
// look for).
func (p *yparser) parse(src string) (root int32, err error) {
	p.src = src
	p.lines = p.lines[:0]
	p.t.nodes = p.t.nodes[:0]
	p.t.kids = p.t.kids[:0]
	p.stk = p.stk[:0]
	p.depth = 0
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(bailSignal); ok {
				err = errBail
				return
			}
			err = fmt.Errorf("fast YAML parser: %v", r)
		}
	}()
	p.scanLines()
	if len(p.lines) == 0 {
		bail()
	}
	root, next := p.blockNode(0, int(p.lines[0].first))
	if next != len(p.lines) {
		bail()
	}
	return root, nil
}

// scanLines splits the document into content lines, checking every byte on
// the way: the subset has no tab, no control character, no lone carriage
// return, only valid and printable UTF-8 without YAML's Unicode line
// breaks, and no directive or document marker.
func (p *yparser) scanLines() {
	src := p.src
	n := len(src)
	for off := 0; off < n; {
		start := off
		end := n
		i := off
		for i < n {
			c := src[i]
			if c >= 0x20 && c < 0x7f {
				i++
				continue
			}
			if c == '\n' {
				end = i
				break
			}
			if c == '\r' && i+1 < n && src[i+1] == '\n' {
				end = i
				i++
				break
			}
			if c < 0x80 {
				bail() // tab, other control characters, DEL, lone CR
			}
			r, size := utf8.DecodeRuneInString(src[i:])
			if !printableRune(r) || r == utf8.RuneError && size == 1 {
				bail()
			}
			i += size
		}
		if i < n {
			off = i + 1 // past '\n'
		} else {
			off = n
		}
		first := start
		for first < end && src[first] == ' ' {
			first++
		}
		if first == end || src[first] == '#' {
			continue // blank or comment line
		}
		if first == start && end-start >= 3 && (src[start:start+3] == "---" || src[start:start+3] == "...") {
			bail() // a document marker the splitter left in
		}
		if len(p.lines) >= math.MaxInt32 || end > math.MaxInt32 {
			bail()
		}
		p.lines = append(p.lines, yline{start: int32(start), first: int32(first), end: int32(end)})
	}
}

// printableRune reports whether r (non-ASCII) may appear in the subset:
// YAML's printable characters, less the Unicode line breaks (NEL, LS, PS)
// and the byte order mark.
func printableRune(r rune) bool {
	switch {
	case r >= 0xA0 && r <= 0xD7FF:
		return r != 0x2028 && r != 0x2029
	case r >= 0xE000 && r <= 0xFFFD:
		return r != 0xFEFF
	default:
		return r >= 0x10000 && r <= 0x10FFFF
	}
}

func (p *yparser) enter() {
	p.depth++
	if p.depth > maxFastDepth {
		bail()
	}
}

func (p *yparser) leave() { p.depth-- }

func (p *yparser) add(nd ynode) int32 {
	if len(p.t.nodes) >= math.MaxInt32 {
		bail()
	}
	p.t.nodes = append(p.t.nodes, nd)
	return int32(len(p.t.nodes) - 1)
}

// collection turns the children pushed since base into a collection node.
func (p *yparser) collection(kind nodeKind, base int) int32 {
	kids := p.stk[base:]
	nd := ynode{kind: kind, kids: int32(len(p.t.kids)), n: int32(len(kids))}
	p.t.kids = append(p.t.kids, kids...)
	p.stk = p.stk[:base]
	return p.add(nd)
}

func (p *yparser) null() int32 { return p.add(ynode{kind: kNull}) }

func (p *yparser) str(s string) int32 { return p.add(ynode{kind: kStr, s: s}) }

// isDashEntry reports whether a line starts with a block sequence entry.
func (p *yparser) isDashEntry(l yline) bool {
	f := int(l.first)
	return p.src[f] == '-' && (f+1 == int(l.end) || p.src[f+1] == ' ')
}

func (p *yparser) skipSpaces(i, end int) int {
	for i < end && p.src[i] == ' ' {
		i++
	}
	return i
}

// restIsEmpty reports whether nothing but spaces and a comment follow
// position i on a line. A comment must be separated by a space.
func (p *yparser) restIsEmpty(i, end int) bool {
	j := p.skipSpaces(i, end)
	return j == end || p.src[j] == '#' && j > i
}

// blockNode parses the node starting at byte pos of line li, in block
// context. It returns the node and the index of the first line after it.
func (p *yparser) blockNode(li, pos int) (int32, int) {
	l := p.lines[li]
	end := int(l.end)
	switch c := p.src[pos]; {
	case c == '-' && (pos+1 == end || p.src[pos+1] == ' '):
		return p.blockSeq(li, pos)
	case c == '[' || c == '{':
		n, q := p.flowNode(pos, end)
		if !p.restIsEmpty(q, end) {
			bail()
		}
		return n, li + 1
	case c == '"' || c == '\'':
		s, q := p.quoted(pos, end)
		r := p.skipSpaces(q, end)
		if r < end && p.src[r] == ':' && (r+1 == end || p.src[r+1] == ' ') {
			return p.blockMap(li, pos)
		}
		if !p.restIsEmpty(q, end) {
			bail()
		}
		return p.str(s), li + 1
	default:
		if !p.plainStart(pos, end, false) {
			bail()
		}
		e, stop := p.scanPlain(pos, end, false)
		if stop < end && p.src[stop] == ':' {
			return p.blockMap(li, pos)
		}
		return p.plain(p.src[pos:e]), li + 1
	}
}

// blockMap parses a block mapping whose first key starts at byte pos of
// line li; its indentation is that key's column.
func (p *yparser) blockMap(li, pos int) (int32, int) {
	p.enter()
	defer p.leave()
	l := p.lines[li]
	indent := pos - int(l.start)
	base := len(p.stk)
	var seen map[string]struct{}
	for {
		end := int(l.end)
		key, q := p.blockKey(pos, end)
		p.checkDup(base, key, &seen)
		p.stk = append(p.stk, p.str(key))
		r := p.skipSpaces(q, end)
		var val int32
		if r == end || p.src[r] == '#' {
			// The value, if any, is on the following lines.
			nl := li + 1
			switch {
			case nl < len(p.lines) && p.lines[nl].indent() > indent:
				val, li = p.blockNode(nl, int(p.lines[nl].first))
			case nl < len(p.lines) && p.lines[nl].indent() == indent && p.isDashEntry(p.lines[nl]):
				// A sequence at its key's indentation.
				val, li = p.blockSeq(nl, int(p.lines[nl].first))
			default:
				val, li = p.null(), nl
			}
		} else {
			if p.src[r] == '-' && (r+1 == end || p.src[r+1] == ' ') {
				bail()
			}
			val = p.inlineValue(r, end)
			li++
		}
		p.stk = append(p.stk, val)
		if li >= len(p.lines) {
			break
		}
		l = p.lines[li]
		if m := l.indent(); m < indent {
			break
		} else if m > indent || p.isDashEntry(l) {
			bail()
		}
		pos = int(l.first)
	}
	return p.collection(kMap, base), li
}

// blockKey parses a block mapping key at pos and its ':' indicator, and
// returns the key and the position after the ':'.
func (p *yparser) blockKey(pos, end int) (string, int) {
	var key string
	var colon int
	switch c := p.src[pos]; {
	case c == '"' || c == '\'':
		var q int
		key, q = p.quoted(pos, end)
		colon = p.skipSpaces(q, end)
		if colon == end || p.src[colon] != ':' || colon+1 < end && p.src[colon+1] != ' ' {
			bail()
		}
	default:
		if !p.plainStart(pos, end, false) {
			bail()
		}
		e, stop := p.scanPlain(pos, end, false)
		if stop == end || p.src[stop] != ':' {
			bail()
		}
		key, colon = plainKey(p.src[pos:e]), stop
	}
	if colon-pos > maxKeyLen {
		bail()
	}
	return key, colon + 1
}

// checkDup bails out when key is already a key of the mapping whose
// children start at p.stk[base]: duplicates are an error in strict mode.
// Small mappings are searched; a large one keeps its keys in *seen.
func (p *yparser) checkDup(base int, key string, seen *map[string]struct{}) {
	pairs := (len(p.stk) - base) / 2
	if pairs < 16 {
		for i := base; i < len(p.stk); i += 2 {
			if p.t.nodes[p.stk[i]].s == key {
				bail()
			}
		}
		return
	}
	if *seen == nil {
		*seen = make(map[string]struct{}, 2*pairs)
		for i := base; i < len(p.stk); i += 2 {
			(*seen)[p.t.nodes[p.stk[i]].s] = struct{}{}
		}
	}
	if _, ok := (*seen)[key]; ok {
		bail()
	}
	(*seen)[key] = struct{}{}
}

// blockSeq parses a block sequence whose first '-' is at byte pos of line
// li; its indentation is that column.
func (p *yparser) blockSeq(li, pos int) (int32, int) {
	p.enter()
	defer p.leave()
	l := p.lines[li]
	indent := pos - int(l.start)
	base := len(p.stk)
	for {
		end := int(l.end)
		r := p.skipSpaces(pos+1, end)
		var item int32
		if r == end || p.src[r] == '#' {
			nl := li + 1
			if nl < len(p.lines) && p.lines[nl].indent() > indent {
				item, li = p.blockNode(nl, int(p.lines[nl].first))
			} else {
				item, li = p.null(), nl
			}
		} else {
			item, li = p.blockNode(li, r)
		}
		p.stk = append(p.stk, item)
		if li >= len(p.lines) {
			break
		}
		l = p.lines[li]
		if m := l.indent(); m < indent {
			break
		} else if m > indent {
			bail()
		}
		if !p.isDashEntry(l) {
			break // the end of a sequence at its key's indentation
		}
		pos = int(l.first)
	}
	return p.collection(kSeq, base), li
}

// inlineValue parses a mapping value that follows its key on the same
// line: a scalar or a flow collection, and nothing after it but a comment.
func (p *yparser) inlineValue(pos, end int) int32 {
	switch c := p.src[pos]; c {
	case '[', '{':
		n, q := p.flowNode(pos, end)
		if !p.restIsEmpty(q, end) {
			bail()
		}
		return n
	case '"', '\'':
		s, q := p.quoted(pos, end)
		if !p.restIsEmpty(q, end) {
			bail()
		}
		return p.str(s)
	default:
		if !p.plainStart(pos, end, false) {
			bail()
		}
		e, stop := p.scanPlain(pos, end, false)
		if stop < end && p.src[stop] == ':' {
			bail() // "a: b: c"
		}
		return p.plain(p.src[pos:e])
	}
}

// flowNode parses a flow collection starting at pos and ending on the same
// line; it returns the node and the position after it.
func (p *yparser) flowNode(pos, end int) (int32, int) {
	p.enter()
	defer p.leave()
	base := len(p.stk)
	q := p.skipSpaces(pos+1, end)
	if p.src[pos] == '[' {
		if q < end && p.src[q] == ']' {
			return p.collection(kSeq, base), q + 1
		}
		for {
			var item int32
			item, q = p.flowItem(q, end)
			p.stk = append(p.stk, item)
			q = p.skipSpaces(q, end)
			if q == end {
				bail()
			}
			switch p.src[q] {
			case ',':
				q = p.skipSpaces(q+1, end)
				if q == end || p.src[q] == ']' {
					bail()
				}
				continue
			case ']':
				return p.collection(kSeq, base), q + 1
			}
			bail()
		}
	}
	if q < end && p.src[q] == '}' {
		return p.collection(kMap, base), q + 1
	}
	var seen map[string]struct{}
	for {
		if q == end {
			bail()
		}
		var key string
		start := q
		switch c := p.src[q]; {
		case c == '"' || c == '\'':
			key, q = p.quoted(q, end)
			q = p.skipSpaces(q, end)
			if q == end || p.src[q] != ':' {
				bail()
			}
		default:
			if !p.plainStart(q, end, true) {
				bail()
			}
			e, stop := p.scanPlain(q, end, true)
			if stop == end || p.src[stop] != ':' {
				bail()
			}
			key, q = plainKey(p.src[q:e]), stop
		}
		if q-start > maxKeyLen {
			bail()
		}
		p.checkDup(base, key, &seen)
		p.stk = append(p.stk, p.str(key))
		q = p.skipSpaces(q+1, end)
		if q == end || p.src[q] == ',' || p.src[q] == '}' {
			bail() // a key without a value
		}
		var val int32
		val, q = p.flowItem(q, end)
		p.stk = append(p.stk, val)
		q = p.skipSpaces(q, end)
		if q == end {
			bail()
		}
		switch p.src[q] {
		case ',':
			q = p.skipSpaces(q+1, end)
			if q == end || p.src[q] == '}' {
				bail()
			}
			continue
		case '}':
			return p.collection(kMap, base), q + 1
		}
		bail()
	}
}

// flowItem parses a flow sequence item or flow mapping value.
func (p *yparser) flowItem(pos, end int) (int32, int) {
	if pos >= end {
		bail() // a collection not closed on its line
	}
	switch c := p.src[pos]; c {
	case '[', '{':
		return p.flowNode(pos, end)
	case '"', '\'':
		s, q := p.quoted(pos, end)
		return p.str(s), q
	}
	if !p.plainStart(pos, end, true) {
		bail()
	}
	e, stop := p.scanPlain(pos, end, true)
	if stop < end {
		switch p.src[stop] {
		case ',', ']', '}':
		default:
			bail() // ':' (a pair), '#' (a comment in an unclosed collection), '[', '{', '?'
		}
	}
	return p.plain(p.src[pos:e]), e
}

// plainStart reports whether a plain scalar may start at pos: not on an
// indicator, except '-' followed by a non-blank (in flow context, not by a
// flow indicator either) and, in block context, ':' followed by a
// non-blank, as YAML allows. It refuses the '?' forms.
func (p *yparser) plainStart(pos, end int, flow bool) bool {
	switch p.src[pos] {
	case '-', ':':
		if pos+1 == end || flow && p.src[pos] == ':' {
			return false
		}
		switch p.src[pos+1] {
		case ' ':
			return false
		case ',', '[', ']', '{', '}':
			return !flow
		}
		return true
	case '?', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`', ' ':
		return false
	}
	return true
}

// scanPlain scans a single-line plain scalar starting at pos, as the YAML
// scanner does: it ends before a ": " (or ':' at the end of the line), a
// " #" comment, the end of the line, or, in flow context, a flow
// indicator. It returns the end of the scalar (trailing spaces excluded)
// and the position where scanning stopped.
func (p *yparser) scanPlain(pos, end int, flow bool) (int, int) {
	src := p.src
	e := pos
	i := pos
	for i < end {
		c := src[i]
		switch c {
		case ' ':
			i++
			continue
		case '#':
			if src[i-1] == ' ' {
				return e, i
			}
		case ':':
			if i+1 == end || src[i+1] == ' ' {
				return e, i
			}
			if flow {
				switch src[i+1] {
				case ',', '[', ']', '{', '}':
					bail()
				}
			}
		case ',', '[', ']', '{', '}', '?':
			if flow {
				return e, i
			}
		}
		i++
		e = i
	}
	return e, i
}

// quoted parses a single- or double-quoted scalar starting at pos and
// closed on the same line; it returns its value and the position after the
// closing quote.
func (p *yparser) quoted(pos, end int) (string, int) {
	src := p.src
	if src[pos] == '\'' {
		i := pos + 1
		escaped := false
		for {
			if i >= end {
				bail() // a multi-line scalar
			}
			if src[i] == '\'' {
				if i+1 < end && src[i+1] == '\'' {
					escaped = true
					i += 2
					continue
				}
				break
			}
			i++
		}
		s := src[pos+1 : i]
		if escaped {
			s = strings.ReplaceAll(s, "''", "'")
		}
		return s, i + 1
	}
	i := pos + 1
	for {
		if i >= end {
			bail()
		}
		c := src[i]
		if c == '"' {
			return src[pos+1 : i], i + 1
		}
		if c == '\\' {
			break
		}
		i++
	}
	// Escapes: decode into a new string.
	b := make([]byte, 0, end-pos)
	b = append(b, src[pos+1:i]...)
	for {
		if i >= end {
			bail()
		}
		c := src[i]
		switch c {
		case '"':
			return string(b), i + 1
		case '\\':
			if i+1 >= end {
				bail() // an escaped line break
			}
			i += 2
			switch e := src[i-1]; e {
			case '0':
				b = append(b, 0)
			case 'a':
				b = append(b, '\a')
			case 'b':
				b = append(b, '\b')
			case 't':
				b = append(b, '\t')
			case 'n':
				b = append(b, '\n')
			case 'v':
				b = append(b, '\v')
			case 'f':
				b = append(b, '\f')
			case 'r':
				b = append(b, '\r')
			case 'e':
				b = append(b, 0x1b)
			case ' ', '"', '\'', '\\':
				b = append(b, e)
			case 'N':
				b = utf8.AppendRune(b, 0x85)
			case '_':
				b = utf8.AppendRune(b, 0xA0)
			case 'L':
				b = utf8.AppendRune(b, 0x2028)
			case 'P':
				b = utf8.AppendRune(b, 0x2029)
			case 'x', 'u', 'U':
				n := 2
				if e == 'u' {
					n = 4
				} else if e == 'U' {
					n = 8
				}
				if i+n > end {
					bail()
				}
				v, err := strconv.ParseUint(src[i:i+n], 16, 32)
				if err != nil || src[i] == '+' || src[i] == '-' || v >= 0xD800 && v <= 0xDFFF || v > 0x10FFFF {
					bail()
				}
				b = utf8.AppendRune(b, rune(v))
				i += n
			default:
				bail()
			}
		default:
			b = append(b, c)
			i++
		}
	}
}

// plain adds the node of a plain scalar, resolved as yaml.v2 resolves it.
func (p *yparser) plain(s string) int32 {
	switch r, text := resolvePlain(s); r {
	case rStr:
		return p.str(s)
	case rNull:
		return p.null()
	case rBool:
		return p.add(ynode{kind: kBool, s: text})
	default:
		return p.add(ynode{kind: kNum, s: text})
	}
}

// plainKey returns the JSON key for a plain scalar key. sigs.k8s.io/yaml
// turns int and bool keys into their decimal or true/false text; null,
// float and uint64 keys, which it turns into strings otherwise or refuses,
// bail out. Two keys with the same text, such as 1 and "1", bail out as
// duplicates.
func plainKey(s string) string {
	switch r, text := resolvePlain(s); r {
	case rStr:
		return s
	case rInt, rBool:
		return text
	}
	bail()
	return ""
}

// resolved is the type yaml.v2 resolves a plain scalar to.
type resolved uint8

const (
	rStr resolved = iota
	rNull
	rBool
	rInt   // int, or int64 on 32-bit platforms
	rUint  // uint64
	rFloat // float64
)

// resolveHint is yaml.v2's resolveTable: the first bytes that may start a
// non-string plain scalar.
var resolveHint = func() (t [256]byte) {
	t['+'], t['-'] = 'S', 'S'
	for c := '0'; c <= '9'; c++ {
		t[c] = 'D'
	}
	for _, c := range "yYnNtTfFoO~" {
		t[c] = 'M'
	}
	t['.'] = '.'
	return t
}()

// resolvePlain resolves a non-empty plain scalar with yaml.v2's rules (its
// resolve function with an empty tag) and returns its kind and, for
// numbers and booleans, the JSON text encoding/json writes for the value
// yaml.v2 produces. Values JSON cannot represent (NaN, infinities) and the
// merge key "<<" bail out.
func resolvePlain(s string) (resolved, string) {
	if s == "<<" {
		bail()
	}
	hint := resolveHint[s[0]]
	if hint == 0 {
		return rStr, ""
	}
	switch s {
	case "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON":
		return rBool, "true"
	case "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF":
		return rBool, "false"
	case "~", "null", "Null", "NULL":
		return rNull, ""
	case ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF":
		bail()
	}
	switch hint {
	case '.':
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return rFloat, jsonFloat(f)
		}
	case 'D', 'S':
		// A timestamp (yaml.v2 tries those first) resolves to its own
		// text here, and nothing starting with four digits and '-' is a
		// number, so timestamps need no special case.
		plain := s
		if strings.IndexByte(s, '_') >= 0 {
			plain = strings.ReplaceAll(s, "_", "")
		}
		if i, err := strconv.ParseInt(plain, 0, 64); err == nil {
			return rInt, strconv.FormatInt(i, 10)
		}
		if u, err := strconv.ParseUint(plain, 0, 64); err == nil {
			return rUint, strconv.FormatUint(u, 10)
		}
		if yamlStyleFloat(plain) {
			if f, err := strconv.ParseFloat(plain, 64); err == nil {
				return rFloat, jsonFloat(f)
			}
		}
		if strings.HasPrefix(plain, "0b") {
			if i, err := strconv.ParseInt(plain[2:], 2, 64); err == nil {
				return rInt, strconv.FormatInt(i, 10)
			}
			if u, err := strconv.ParseUint(plain[2:], 2, 64); err == nil {
				return rUint, strconv.FormatUint(u, 10)
			}
		} else if strings.HasPrefix(plain, "-0b") {
			if i, err := strconv.ParseInt("-"+plain[3:], 2, 64); err == nil {
				return rInt, strconv.FormatInt(i, 10)
			}
		}
	}
	return rStr, ""
}

// yamlStyleFloat matches yaml.v2's yamlStyleFloat regular expression,
// ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$
func yamlStyleFloat(s string) bool {
	i := 0
	digits := func() int {
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i - j
	}
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	} else {
		if digits() == 0 {
			return false
		}
		if i < len(s) && s[i] == '.' {
			i++
			digits()
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// jsonFloat formats a float64 as encoding/json does; NaN and infinities,
// which it refuses, bail out.
func jsonFloat(f float64) string {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		bail()
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b := strconv.AppendFloat(make([]byte, 0, 24), f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return string(b)
}

// appendJSON appends node n as the JSON sigs.k8s.io/yaml.YAMLToJSON writes
// for it: compact, mapping keys sorted, strings escaped as encoding/json
// escapes them.
func (t *ytree) appendJSON(b []byte, n int32) []byte {
	nd := &t.nodes[n]
	switch nd.kind {
	case kNull:
		return append(b, "null"...)
	case kBool, kNum:
		return append(b, nd.s...)
	case kStr:
		return appendJSONString(b, nd.s)
	case kSeq:
		b = append(b, '[')
		for i, k := range t.kids[nd.kids : nd.kids+nd.n] {
			if i > 0 {
				b = append(b, ',')
			}
			b = t.appendJSON(b, k)
		}
		return append(b, ']')
	}
	kids := t.kids[nd.kids : nd.kids+nd.n]
	var buf [16]int32
	order := buf[:0]
	for i := 0; i < len(kids); i += 2 {
		order = append(order, int32(i))
	}
	slices.SortFunc(order, func(i, j int32) int {
		return strings.Compare(t.nodes[kids[i]].s, t.nodes[kids[j]].s)
	})
	b = append(b, '{')
	for i, k := range order {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, t.nodes[kids[k]].s)
		b = append(b, ':')
		b = t.appendJSON(b, kids[k+1])
	}
	return append(b, '}')
}

// jsonKindName names the JSON type of node n for error messages, as
// jsonKind does for JSON text.
func (t *ytree) jsonKindName(n int32) string {
	switch t.nodes[n].kind {
	case kSeq:
		return "a list"
	case kStr:
		return "a string"
	case kBool:
		return "a boolean"
	case kNull:
		return "null"
	case kMap:
		return "an object"
	}
	return "a number"
}

// lookup returns the value of key in mapping node n.
func (t *ytree) lookup(n int32, key string) (int32, bool) {
	nd := &t.nodes[n]
	if nd.kind != kMap {
		return 0, false
	}
	kids := t.kids[nd.kids : nd.kids+nd.n]
	for i := 0; i < len(kids); i += 2 {
		if t.nodes[kids[i]].s == key {
			return kids[i+1], true
		}
	}
	return 0, false
}

// stringAt returns the value of key in mapping node n when it is a string,
// as readString reads it.
func (t *ytree) stringAt(n int32, key string) string {
	if v, ok := t.lookup(n, key); ok && t.nodes[v].kind == kStr {
		return t.nodes[v].s
	}
	return ""
}

const hexDigits = "0123456789abcdef"

// jsonSafe is encoding/json's htmlSafeSet: the ASCII bytes written as they
// are in a string.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendJSONString is encoding/json's appendString with HTML escaping, as
// json.Marshal uses it.
func appendJSONString(dst []byte, src string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(src); {
		if b := src[i]; b < utf8.RuneSelf {
			if jsonSafe[b] {
				i++
				continue
			}
			dst = append(dst, src[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(src[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, src[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, src[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, src[start:]...)
	return append(dst, '"')
}

// fastYAMLToJSON converts one YAML document to JSON with the fast path, as
// yaml.YAMLToJSONStrict would; ok is false when the document is outside
// the subset. It is the entry point the tests compare with the reference.
func fastYAMLToJSON(p *yparser, doc string) (raw []byte, err error) {
	root, err := p.parse(doc)
	if err != nil {
		return nil, err
	}
	return p.t.appendJSON(nil, root), nil
}
