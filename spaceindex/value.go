package spaceindex

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Kind is the type of a Value. The numeric order of kinds is the cross-type
// sort order: Null < Bool < Number < String < List.
type Kind uint8

// Value kinds, in cross-type sort order.
const (
	KindNull Kind = iota
	KindBool
	KindNumber
	KindString
	KindList
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case KindNull:
		return "null"
	case KindBool:
		return "bool"
	case KindNumber:
		return "number"
	case KindString:
		return "string"
	case KindList:
		return "list"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is a typed detail value: null, bool, number (float64), string or a
// list of values. The zero Value is Null. Values are immutable once built;
// List does not copy its argument, so callers must not modify it afterwards.
//
// Numbers are canonicalised on construction: -0 becomes +0 and every NaN
// becomes one NaN, which sorts after +Inf. So Equal and Compare are a total
// order that agrees byte for byte with the order-preserving encoding
// (AppendValue).
//
// A Value is 40 bytes (a list keeps a pointer to its slice rather than the
// slice header): a record's details map holds eight values to a group, and
// a query decodes one map per record it returns. The pointer is to the
// whole slice, so reflect.DeepEqual (and so testify's Equal) still compares
// every element.
type Value struct {
	kind Kind
	b    bool
	n    float64
	s    string
	l    *[]Value // a list's elements (nil when empty)
}

// list returns the elements of a list value (nil when empty or not a list).
func (v Value) list() []Value {
	if v.l == nil {
		return nil
	}
	return *v.l
}

// Null returns the null value.
func Null() Value { return Value{} }

// Bool returns a boolean value.
func Bool(b bool) Value { return Value{kind: KindBool, b: b} }

// Number returns a numeric value.
func Number(f float64) Value {
	if f == 0 {
		f = 0 // turns -0 into +0
	} else if math.IsNaN(f) {
		f = math.NaN()
	}
	return Value{kind: KindNumber, n: f}
}

// String returns a string value.
func String(s string) Value { return Value{kind: KindString, s: s} }

// List returns a list value holding vs (not copied).
func List(vs ...Value) Value {
	v := Value{kind: KindList}
	if len(vs) > 0 {
		v.l = &vs
	}
	return v
}

// Strings returns a list of string values.
func Strings(ss ...string) Value {
	vs := make([]Value, len(ss))
	for i, s := range ss {
		vs[i] = String(s)
	}
	return List(vs...)
}

// Kind returns the value's kind.
func (v Value) Kind() Kind { return v.kind }

// IsNull reports whether v is Null.
func (v Value) IsNull() bool { return v.kind == KindNull }

// AsBool returns the boolean held by v (false unless v is a Bool).
func (v Value) AsBool() bool { return v.b }

// AsNumber returns the number held by v (0 unless v is a Number).
func (v Value) AsNumber() float64 { return v.n }

// AsString returns the string held by v ("" unless v is a String).
func (v Value) AsString() string { return v.s }

// AsList returns the elements of v (nil unless v is a List). Callers must not
// modify the returned slice.
func (v Value) AsList() []Value {
	if v.kind == KindList && v.l == nil {
		return []Value{}
	}
	return v.list()
}

// String renders v for debugging and test failure messages.
func (v Value) String() string {
	switch v.kind {
	case KindNull:
		return "null"
	case KindBool:
		return strconv.FormatBool(v.b)
	case KindNumber:
		return strconv.FormatFloat(v.n, 'g', -1, 64)
	case KindString:
		return strconv.Quote(v.s)
	case KindList:
		l := v.list()
		parts := make([]string, len(l))
		for i, e := range l {
			parts[i] = e.String()
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	return "?"
}

// sortableBits maps a float64 to a uint64 whose unsigned order is the total
// order of the (canonical) floats.
func sortableBits(f float64) uint64 {
	u := math.Float64bits(f)
	if u>>63 == 1 {
		return ^u
	}
	return u | 1<<63
}

// Compare returns -1, 0 or +1 comparing a and b in the total order shared by
// the encoding: first by kind (Null < Bool < Number < String < List), then
// false < true, numbers numerically (NaN last), strings by their UTF-8 bytes,
// lists element by element (a proper prefix sorts first).
func Compare(a, b Value) int {
	if a.kind != b.kind {
		if a.kind < b.kind {
			return -1
		}
		return 1
	}
	switch a.kind {
	case KindBool:
		switch {
		case a.b == b.b:
			return 0
		case !a.b:
			return -1
		}
		return 1
	case KindNumber:
		x, y := sortableBits(a.n), sortableBits(b.n)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	case KindString:
		return strings.Compare(a.s, b.s)
	case KindList:
		al, bl := a.list(), b.list()
		for i := 0; i < len(al) && i < len(bl); i++ {
			if c := Compare(al[i], bl[i]); c != 0 {
				return c
			}
		}
		switch {
		case len(al) < len(bl):
			return -1
		case len(al) > len(bl):
			return 1
		}
	}
	return 0
}

// Equal reports whether a and b are the same value (Compare(a, b) == 0).
func Equal(a, b Value) bool { return Compare(a, b) == 0 }

// Encoding tags. Every tag is >= 0x10, so 0x00 can terminate lists and
// strings, and tagMissing (index keys only) sorts after every value.
const (
	tagNull    = 0x10
	tagFalse   = 0x20
	tagTrue    = 0x21
	tagNumber  = 0x30
	tagString  = 0x40
	tagList    = 0x50
	tagMissing = 0xFF

	maxListDepth = 32
)

// kindTagRange returns the half-open range [lo, hi) of first bytes used by
// encodings of kind k.
func kindTagRange(k Kind) (lo, hi byte) {
	switch k {
	case KindNull:
		return tagNull, tagNull + 1
	case KindBool:
		return tagFalse, tagTrue + 1
	case KindNumber:
		return tagNumber, tagNumber + 1
	case KindString:
		return tagString, tagString + 1
	}
	return tagList, tagList + 1
}

// AppendValue appends the order-preserving encoding of v to dst: for any a,
// b, bytes.Compare(AppendValue(nil, a), AppendValue(nil, b)) ==
// Compare(a, b). The encoding is self-delimiting, so values can be followed
// by more key bytes.
//
//	null    0x10
//	false   0x20          true 0x21
//	number  0x30 + 8 bytes big-endian (sign-flipped IEEE 754)
//	string  0x40 + bytes with 0x00 escaped as 0x00 0xFF + terminator 0x00 0x01
//	list    0x50 + each element's encoding + terminator 0x00
func AppendValue(dst []byte, v Value) []byte {
	switch v.kind {
	case KindNull:
		return append(dst, tagNull)
	case KindBool:
		if v.b {
			return append(dst, tagTrue)
		}
		return append(dst, tagFalse)
	case KindNumber:
		u := sortableBits(v.n)
		return append(dst, tagNumber, byte(u>>56), byte(u>>48), byte(u>>40), byte(u>>32),
			byte(u>>24), byte(u>>16), byte(u>>8), byte(u))
	case KindString:
		return appendEscaped(append(dst, tagString), v.s)
	case KindList:
		dst = append(dst, tagList)
		for _, e := range v.list() {
			dst = AppendValue(dst, e)
		}
		return append(dst, 0x00)
	}
	panic(fmt.Sprintf("spaceindex: invalid value kind %d", v.kind))
}

// appendEscaped appends s with 0x00 escaped and a 0x00 0x01 terminator.
func appendEscaped(dst []byte, s string) []byte {
	for {
		i := strings.IndexByte(s, 0)
		if i < 0 {
			break
		}
		dst = append(dst, s[:i]...)
		dst = append(dst, 0x00, 0xFF)
		s = s[i+1:]
	}
	dst = append(dst, s...)
	return append(dst, 0x00, 0x01)
}

// errBadEncoding is wrapped by every decoding error.
var errBadEncoding = errors.New("bad encoding")

// decodeEscaped decodes an escaped string at the start of b and returns it
// with the number of bytes consumed.
func decodeEscaped(b []byte, a *arena) (string, int, error) {
	// Fast path: no escapes.
	i := bytes.IndexByte(b, 0)
	if i < 0 || i+1 >= len(b) {
		return "", 0, fmt.Errorf("%w: unterminated string", errBadEncoding)
	}
	if b[i+1] == 0x01 {
		return a.str(b[:i]), i + 2, nil
	}
	var sb []byte
	pos := 0
	for {
		j := bytes.IndexByte(b[pos:], 0)
		if j < 0 || pos+j+1 >= len(b) {
			return "", 0, fmt.Errorf("%w: unterminated string", errBadEncoding)
		}
		sb = append(sb, b[pos:pos+j]...)
		switch b[pos+j+1] {
		case 0x01:
			return string(sb), pos + j + 2, nil
		case 0xFF:
			sb = append(sb, 0)
			pos += j + 2
		default:
			return "", 0, fmt.Errorf("%w: bad string escape", errBadEncoding)
		}
	}
}

// DecodeValue decodes one value encoded by AppendValue at the start of b and
// returns it with the number of bytes consumed. It never panics: malformed
// input yields an error.
func DecodeValue(b []byte) (Value, int, error) {
	return decodeValue(b, 0, nil)
}

// decodeValue decodes like DecodeValue; strings are copied into a when it
// is not nil (arena.go).
func decodeValue(b []byte, depth int, a *arena) (Value, int, error) {
	if len(b) == 0 {
		return Value{}, 0, fmt.Errorf("%w: empty value", errBadEncoding)
	}
	switch b[0] {
	case tagNull:
		return Null(), 1, nil
	case tagFalse:
		return Bool(false), 1, nil
	case tagTrue:
		return Bool(true), 1, nil
	case tagNumber:
		if len(b) < 9 {
			return Value{}, 0, fmt.Errorf("%w: short number", errBadEncoding)
		}
		var u uint64
		for _, c := range b[1:9] {
			u = u<<8 | uint64(c)
		}
		if u>>63 == 1 {
			u &^= 1 << 63
		} else {
			u = ^u
		}
		f := math.Float64frombits(u)
		v := Number(f)
		if math.Float64bits(v.n) != u {
			return Value{}, 0, fmt.Errorf("%w: non-canonical number", errBadEncoding)
		}
		return v, 9, nil
	case tagString:
		s, n, err := decodeEscaped(b[1:], a)
		if err != nil {
			return Value{}, 0, err
		}
		return String(s), n + 1, nil
	case tagList:
		if depth >= maxListDepth {
			return Value{}, 0, fmt.Errorf("%w: lists nested too deep", errBadEncoding)
		}
		pos := 1
		elems := []Value{}
		for {
			if pos >= len(b) {
				return Value{}, 0, fmt.Errorf("%w: unterminated list", errBadEncoding)
			}
			if b[pos] == 0x00 {
				return List(elems...), pos + 1, nil
			}
			e, n, err := decodeValue(b[pos:], depth+1, a)
			if err != nil {
				return Value{}, 0, err
			}
			elems = append(elems, e)
			pos += n
		}
	}
	return Value{}, 0, fmt.Errorf("%w: unknown tag 0x%02x", errBadEncoding, b[0])
}

// skipValue returns the length of the encoded value (or missing marker) at
// the start of b without allocating.
func skipValue(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, fmt.Errorf("%w: empty value", errBadEncoding)
	}
	switch b[0] {
	case tagNull, tagFalse, tagTrue, tagMissing:
		return 1, nil
	case tagNumber:
		if len(b) < 9 {
			return 0, fmt.Errorf("%w: short number", errBadEncoding)
		}
		return 9, nil
	case tagString:
		n, err := skipEscaped(b[1:])
		return n + 1, err
	case tagList:
		pos := 1
		for depth := 0; ; {
			if pos >= len(b) {
				return 0, fmt.Errorf("%w: unterminated list", errBadEncoding)
			}
			switch b[pos] {
			case 0x00:
				pos++
				if depth == 0 {
					return pos, nil
				}
				depth--
				continue
			case tagList:
				depth++
				pos++
				continue
			}
			n, err := skipValue(b[pos:])
			if err != nil {
				return 0, err
			}
			pos += n
		}
	}
	return 0, fmt.Errorf("%w: unknown tag 0x%02x", errBadEncoding, b[0])
}

// skipEscaped returns the length of the escaped string at the start of b.
func skipEscaped(b []byte) (int, error) {
	pos := 0
	for {
		j := bytes.IndexByte(b[pos:], 0)
		if j < 0 || pos+j+1 >= len(b) {
			return 0, fmt.Errorf("%w: unterminated string", errBadEncoding)
		}
		switch b[pos+j+1] {
		case 0x01:
			return pos + j + 2, nil
		case 0xFF:
			pos += j + 2
		default:
			return 0, fmt.Errorf("%w: bad string escape", errBadEncoding)
		}
	}
}
