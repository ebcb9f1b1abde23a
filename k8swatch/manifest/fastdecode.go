package manifest

import (
	"encoding"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"k8s.io/apimachinery/pkg/util/intstr"
)

// This file decodes a parsed document (ytree) straight into a typed
// object, the way sigs.k8s.io/json's UnmarshalStrict decodes the JSON that
// sigs.k8s.io/yaml would write for it: case-sensitive field names, no
// unknown or duplicate field, encoding/json's rules for every Go kind,
// json.Unmarshaler types handed the exact JSON bytes of their value.
//
// It only answers for a clean decode. Whenever the reference would report
// anything (an unknown field, a type mismatch, an overflow, an
// UnmarshalJSON error) or the type has a feature this decoder does not
// reproduce (",string" fields, embedded pointers, ambiguous embedded
// names, TextUnmarshaler types, arrays, non-string map keys...), it gives
// up and the caller decodes the JSON with sigs.k8s.io/json as before, which
// also produces the error message. So the result is never different.

type planKind uint8

const (
	pUnsupported planKind = iota
	pBool
	pString
	pInt
	pUint
	pFloat
	pBytes
	pIface
	pPtr
	pSlice
	pMap
	pStruct
	pUnmarshaler
	pIntOrString
)

// typePlan tells how to decode into one Go type.
type typePlan struct {
	kind   planKind
	t      reflect.Type
	bits   int
	elem   *typePlan            // pPtr, pSlice, pMap
	fields map[string]fieldPlan // pStruct, by exact JSON name
}

// fieldPlan locates a struct field, possibly in embedded structs. A nil
// plan marks a name the decoder does not resolve (an ambiguous embedded
// name, a ",string" field): such a key makes it give up.
type fieldPlan struct {
	index []int
	plan  *typePlan
}

var (
	plansMu sync.Mutex
	plans   sync.Map // reflect.Type → *typePlan, complete plans only

	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	intOrStringType     = reflect.TypeFor[intstr.IntOrString]()
	numberType          = reflect.TypeFor[json.Number]()
)

// planFor returns the plan for t, building it (and the plans it refers to)
// on first use.
func planFor(t reflect.Type) *typePlan {
	if p, ok := plans.Load(t); ok {
		return p.(*typePlan)
	}
	plansMu.Lock()
	defer plansMu.Unlock()
	if p, ok := plans.Load(t); ok {
		return p.(*typePlan)
	}
	b := planBuilder{building: map[reflect.Type]*typePlan{}}
	p := b.plan(t)
	for bt, bp := range b.building {
		plans.Store(bt, bp)
	}
	return p
}

type planBuilder struct {
	building map[reflect.Type]*typePlan
}

func (b *planBuilder) plan(t reflect.Type) *typePlan {
	if p, ok := plans.Load(t); ok {
		return p.(*typePlan)
	}
	if p, ok := b.building[t]; ok {
		return p // a recursive type: filled in below
	}
	p := &typePlan{t: t}
	b.building[t] = p
	b.fill(p)
	return p
}

func (b *planBuilder) fill(p *typePlan) {
	t := p.t
	if t == intOrStringType {
		p.kind = pIntOrString
		return
	}
	if t == numberType {
		return // unsupported
	}
	// encoding/json looks for an Unmarshaler on the address of a named
	// value, and on every pointer it goes through.
	if t.Kind() != reflect.Pointer && t.Name() != "" {
		pt := reflect.PointerTo(t)
		if pt.Implements(unmarshalerType) {
			p.kind = pUnmarshaler
			return
		}
		if pt.Implements(textUnmarshalerType) {
			return // unsupported
		}
	}
	if t.Kind() != reflect.Pointer && t.Name() == "" && t.NumMethod() > 0 {
		return // an unnamed type with promoted methods: unsupported
	}
	switch t.Kind() {
	case reflect.Bool:
		p.kind = pBool
	case reflect.String:
		p.kind = pString
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		p.kind = pInt
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		p.kind = pUint
	case reflect.Float32, reflect.Float64:
		p.kind, p.bits = pFloat, t.Bits()
	case reflect.Interface:
		if t.NumMethod() == 0 {
			p.kind = pIface
		}
	case reflect.Pointer:
		e := t.Elem()
		if e.Kind() == reflect.Pointer || t.Name() != "" {
			return // unsupported
		}
		if t.Implements(unmarshalerType) && !reflect.PointerTo(e).Implements(unmarshalerType) ||
			t.Implements(textUnmarshalerType) && !reflect.PointerTo(e).Implements(textUnmarshalerType) {
			return // methods on a named pointer type: unsupported
		}
		p.kind, p.elem = pPtr, b.plan(e)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			// encoding/json reads []byte (any slice of a byte kind whose
			// element is not an Unmarshaler) as base64.
			pe := reflect.PointerTo(t.Elem())
			if pe.Implements(unmarshalerType) || pe.Implements(textUnmarshalerType) {
				return
			}
			p.kind = pBytes
			return
		}
		p.kind, p.elem = pSlice, b.plan(t.Elem())
	case reflect.Map:
		k := t.Key()
		if k.Kind() != reflect.String || reflect.PointerTo(k).Implements(textUnmarshalerType) {
			return // unsupported
		}
		p.kind, p.elem = pMap, b.plan(t.Elem())
	case reflect.Struct:
		fields, ok := b.structFields(t)
		if ok {
			p.kind, p.fields = pStruct, fields
		}
	}
}

// structFields maps the JSON names of t's fields to the fields, as
// encoding/json's typeFields does, except that anything it resolves with a
// rule this decoder does not reproduce is left out or marked unresolved.
func (b *planBuilder) structFields(t reflect.Type) (map[string]fieldPlan, bool) {
	type found struct {
		name  string
		index []int
		typ   reflect.Type
	}
	var all []found
	var walk func(t reflect.Type, index []int, depth int) bool
	walk = func(t reflect.Type, index []int, depth int) bool {
		if depth > 16 {
			return false
		}
		for i := range t.NumField() {
			sf := t.Field(i)
			if sf.Anonymous {
				ft := sf.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if !sf.IsExported() && ft.Kind() != reflect.Struct {
					continue
				}
			} else if !sf.IsExported() {
				continue
			}
			tag := sf.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if !validTagName(name) {
				name = ""
			}
			idx := append(append([]int(nil), index...), i)
			if name == "" && sf.Anonymous {
				// An embedded struct whose fields are promoted: only a
				// plain exported struct value is supported.
				if sf.Type.Kind() != reflect.Struct {
					if sf.Type.Kind() == reflect.Pointer && sf.Type.Elem().Kind() == reflect.Struct {
						return false
					}
					// An embedded non-struct is a field named after its type.
				} else {
					if !sf.IsExported() {
						return false
					}
					if !walk(sf.Type, idx, depth+1) {
						return false
					}
					continue
				}
			}
			if name == "" {
				name = sf.Name
			}
			ft := sf.Type
			if hasOption(opts, "string") {
				ft = nil // ",string" is not reproduced
			}
			all = append(all, found{name: name, index: idx, typ: ft})
		}
		return true
	}
	if !walk(t, nil, 0) {
		return nil, false
	}
	fields := make(map[string]fieldPlan, len(all))
	count := map[string]int{}
	for _, f := range all {
		count[f.name]++
	}
	for _, f := range all {
		if count[f.name] > 1 || f.typ == nil {
			fields[f.name] = fieldPlan{} // resolved by dominance rules, or ",string"
			continue
		}
		fields[f.name] = fieldPlan{index: f.index, plan: b.plan(f.typ)}
	}
	return fields, true
}

func hasOption(opts, want string) bool {
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == want {
			return true
		}
	}
	return false
}

// validTagName is encoding/json's isValidTag.
func validTagName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
			// Backslash and quote chars are reserved, but otherwise any
			// punctuation chars are allowed in a tag name.
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}

// fastDecode decodes node n of t into *dst and reports whether it did so
// exactly as sigs.k8s.io/json's UnmarshalStrict would, without any error or
// strict error. On false, *dst is undefined.
func fastDecode[T any](t *ytree, n int32, dst *T) bool {
	v := reflect.ValueOf(dst).Elem()
	return decodeValue(t, n, v, planFor(v.Type()))
}

func decodeValue(t *ytree, n int32, v reflect.Value, p *typePlan) bool {
	nd := &t.nodes[n]
	if nd.kind == kNull {
		// encoding/json: null clears pointers, maps, slices and interfaces,
		// and leaves other values alone; but an Unmarshaler gets "null".
		switch p.kind {
		case pPtr, pSlice, pMap, pIface, pBytes:
			v.SetZero()
			return true
		case pBool, pString, pInt, pUint, pFloat, pStruct:
			return true
		}
		return false
	}
	switch p.kind {
	case pBool:
		if nd.kind != kBool {
			return false
		}
		v.SetBool(nd.s == "true")
	case pString:
		if nd.kind != kStr {
			return false
		}
		// A copy: a substring would keep the whole file alive.
		v.SetString(strings.Clone(nd.s))
	case pInt:
		if nd.kind != kNum {
			return false
		}
		i, err := strconv.ParseInt(nd.s, 10, 64)
		if err != nil || v.OverflowInt(i) {
			return false
		}
		v.SetInt(i)
	case pUint:
		if nd.kind != kNum {
			return false
		}
		u, err := strconv.ParseUint(nd.s, 10, 64)
		if err != nil || v.OverflowUint(u) {
			return false
		}
		v.SetUint(u)
	case pFloat:
		if nd.kind != kNum {
			return false
		}
		f, err := strconv.ParseFloat(nd.s, p.bits)
		if err != nil || v.OverflowFloat(f) {
			return false
		}
		v.SetFloat(f)
	case pBytes:
		if nd.kind != kStr {
			return false
		}
		b := make([]byte, base64.StdEncoding.DecodedLen(len(nd.s)))
		m, err := base64.StdEncoding.Decode(b, []byte(nd.s))
		if err != nil {
			return false
		}
		v.SetBytes(b[:m])
	case pIface:
		x, ok := decodeAny(t, n)
		if !ok {
			return false
		}
		if x == nil {
			v.SetZero()
		} else {
			v.Set(reflect.ValueOf(x))
		}
	case pPtr:
		if v.IsNil() {
			v.Set(reflect.New(p.t.Elem()))
		}
		return decodeValue(t, n, v.Elem(), p.elem)
	case pSlice:
		if nd.kind != kSeq {
			return false
		}
		s := reflect.MakeSlice(p.t, int(nd.n), int(nd.n))
		for i, k := range t.kids[nd.kids : nd.kids+nd.n] {
			if !decodeValue(t, k, s.Index(i), p.elem) {
				return false
			}
		}
		v.Set(s)
	case pMap:
		if nd.kind != kMap {
			return false
		}
		m := reflect.MakeMapWithSize(p.t, int(nd.n/2))
		kt, et := p.t.Key(), p.t.Elem()
		kids := t.kids[nd.kids : nd.kids+nd.n]
		for i := 0; i < len(kids); i += 2 {
			e := reflect.New(et).Elem()
			if !decodeValue(t, kids[i+1], e, p.elem) {
				return false
			}
			k := reflect.ValueOf(strings.Clone(t.nodes[kids[i]].s))
			if k.Type() != kt {
				k = k.Convert(kt)
			}
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case pStruct:
		if nd.kind != kMap {
			return false
		}
		kids := t.kids[nd.kids : nd.kids+nd.n]
		for i := 0; i < len(kids); i += 2 {
			f, ok := p.fields[t.nodes[kids[i]].s]
			if !ok || f.plan == nil {
				return false // an unknown field, or one not resolved here
			}
			fv := v
			for _, x := range f.index {
				fv = fv.Field(x)
			}
			if !decodeValue(t, kids[i+1], fv, f.plan) {
				return false
			}
		}
	case pIntOrString:
		// IntOrString.UnmarshalJSON: a JSON string is a String, anything
		// else is decoded by encoding/json into the int32.
		ios := v.Addr().Interface().(*intstr.IntOrString)
		switch nd.kind {
		case kStr:
			*ios = intstr.IntOrString{Type: intstr.String, StrVal: nd.s}
		case kNum:
			i, err := strconv.ParseInt(nd.s, 10, 32)
			if err != nil {
				return false
			}
			*ios = intstr.IntOrString{Type: intstr.Int, IntVal: int32(i)}
		default:
			return false
		}
	case pUnmarshaler:
		raw := t.appendJSON(nil, n)
		if err := v.Addr().Interface().(json.Unmarshaler).UnmarshalJSON(raw); err != nil {
			return false
		}
	default:
		return false
	}
	return true
}

// decodeAny decodes node n as sigs.k8s.io/json decodes JSON into an empty
// interface: objects, arrays, strings, booleans, nil, and numbers as int64
// when they are integers (PreserveInts), float64 otherwise.
func decodeAny(t *ytree, n int32) (any, bool) {
	nd := &t.nodes[n]
	switch nd.kind {
	case kNull:
		return nil, true
	case kBool:
		return nd.s == "true", true
	case kStr:
		return nd.s, true
	case kNum:
		if !strings.Contains(nd.s, ".") {
			if i, err := strconv.ParseInt(nd.s, 10, 64); err == nil {
				return i, true
			}
		}
		f, err := strconv.ParseFloat(nd.s, 64)
		return f, err == nil
	case kSeq:
		out := make([]any, nd.n)
		for i, k := range t.kids[nd.kids : nd.kids+nd.n] {
			x, ok := decodeAny(t, k)
			if !ok {
				return nil, false
			}
			out[i] = x
		}
		return out, true
	}
	kids := t.kids[nd.kids : nd.kids+nd.n]
	out := make(map[string]any, len(kids)/2)
	for i := 0; i < len(kids); i += 2 {
		x, ok := decodeAny(t, kids[i+1])
		if !ok {
			return nil, false
		}
		out[t.nodes[kids[i]].s] = x
	}
	return out, true
}
