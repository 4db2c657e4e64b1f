package jsjson

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// AppendStringify appends JSON.stringify(v) to dst.
//
// Values that JavaScript could not have produced print as close to it as possible: a
// Number whose Text is not a JSON number prints as null (as NaN does), an unknown Kind as
// null, an Object with nil Members as {}. A hand-built value nested deeper than MaxDepth
// (or a cycle) prints null below that depth instead of recursing forever.
func AppendStringify(dst []byte, v Value) []byte {
	return appendValue(dst, v, 0)
}

func appendValue(dst []byte, v Value, depth int) []byte {
	switch v.Kind {
	case Bool:
		if v.Bool {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case Number:
		return appendNumberText(dst, v.Text)
	case String:
		return AppendString(dst, v.Text)
	case Array:
		if depth >= MaxDepth {
			return append(dst, "null"...)
		}
		dst = append(dst, '[')
		for i := range v.Elems {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendValue(dst, v.Elems[i], depth+1)
		}
		return append(dst, ']')
	case Object:
		if depth >= MaxDepth {
			return append(dst, "null"...)
		}
		return appendObject(dst, v.Members, depth+1)
	default:
		return append(dst, "null"...)
	}
}

// keyedPosition is an array-index key's numeric value and its position in the entries.
type keyedPosition struct {
	index uint32
	pos   int
}

func appendObject(dst []byte, m *Members, depth int) []byte {
	dst = append(dst, '{')
	if m == nil {
		return append(dst, '}')
	}
	entries := m.entries
	var indexKeys []keyedPosition
	var small [8]keyedPosition
	for pos := range entries {
		if index, ok := arrayIndex(entries[pos].key); ok {
			if indexKeys == nil {
				indexKeys = small[:0]
			}
			indexKeys = append(indexKeys, keyedPosition{index, pos})
		}
	}
	if indexKeys == nil {
		for i := range entries {
			dst = appendMember(dst, &entries[i], i == 0, depth)
		}
		return append(dst, '}')
	}

	// JavaScript orders an object's array-index keys numerically before its other keys.
	slices.SortFunc(indexKeys, func(a, b keyedPosition) int { return cmp.Compare(a.index, b.index) })
	for i, k := range indexKeys {
		dst = appendMember(dst, &entries[k.pos], i == 0, depth)
	}
	for i := range entries {
		if _, ok := arrayIndex(entries[i].key); !ok {
			dst = appendMember(dst, &entries[i], false, depth)
		}
	}
	return append(dst, '}')
}

func appendMember(dst []byte, e *member, first bool, depth int) []byte {
	if !first {
		dst = append(dst, ',')
	}
	dst = AppendString(dst, e.key)
	dst = append(dst, ':')
	return appendValue(dst, e.value, depth)
}

// arrayIndex reports whether key is an array index as ECMA-262 defines it (the canonical
// decimal string of an integer in 0..2^32-2), the keys that JavaScript orders first.
// "4294967295", "01", "-0" and "1.0" are not.
func arrayIndex[T ~string | ~[]byte](key T) (uint32, bool) {
	if len(key) == 0 || len(key) > 10 || (key[0] == '0' && len(key) > 1) {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if n > math.MaxUint32-1 {
		return 0, false
	}
	return uint32(n), true
}

// appendNumberText prints a number literal the way JavaScript prints the float64 it reads.
func appendNumberText(dst []byte, text string) []byte {
	if isShortCanonicalInteger(text) {
		return append(dst, text...)
	}
	f, ok := parseNumberText(text)
	if !ok || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	return AppendNumber(dst, f)
}

// isShortCanonicalInteger reports whether text is an integer literal of at most 15
// digits, without a leading zero, and not "-0": such a number is exact in a float64 and
// JavaScript prints it as written.
func isShortCanonicalInteger[T ~string | ~[]byte](text T) bool {
	digits := text
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 15 || digits[0] == '0' && (len(digits) > 1 || len(text) > 1) {
		return false
	}
	for i := 0; i < len(digits); i++ {
		if !isDigit(digits[i]) {
			return false
		}
	}
	return true
}

// AppendNumber appends f as JavaScript's Number.prototype.toString prints it
// (ECMA-262 Number::toString with radix 10): the shortest digits that round-trip, in
// plain notation when 1e-7 < |f| < 1e21 and as d.ddde±n otherwise; -0 as 0; NaN,
// Infinity and -Infinity by name. (JSON.stringify prints the last three as null.)
func AppendNumber(dst []byte, f float64) []byte {
	switch {
	case f != f:
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	case f == 0:
		return append(dst, '0')
	}
	if f < 0 {
		dst = append(dst, '-')
		f = -f
	}
	if f < 1<<53 && f == math.Trunc(f) {
		return strconv.AppendUint(dst, uint64(f), 10)
	}

	// strconv's shortest round-trip digits, as d.ddde±XX; then ECMA-262's layout, where
	// the value is 0.digits × 10^n with k digits.
	var buf [32]byte
	e := strconv.AppendFloat(buf[:0], f, 'e', -1, 64)
	var digitBuf [24]byte
	digits := append(digitBuf[:0], e[0])
	i := 1
	if e[1] == '.' {
		for i = 2; e[i] != 'e'; i++ {
		}
		digits = append(digits, e[2:i]...)
	}
	exp := 0
	for _, c := range e[i+2:] { // after "e" and its sign
		exp = exp*10 + int(c-'0')
	}
	if e[i+1] == '-' {
		exp = -exp
	}
	k, n := len(digits), exp+1

	switch {
	case k <= n && n <= 21:
		dst = append(dst, digits...)
		for range n - k {
			dst = append(dst, '0')
		}
	case 0 < n && n <= 21:
		dst = append(dst, digits[:n]...)
		dst = append(dst, '.')
		dst = append(dst, digits[n:]...)
	case -6 < n && n <= 0:
		dst = append(dst, '0', '.')
		for range -n {
			dst = append(dst, '0')
		}
		dst = append(dst, digits...)
	default:
		dst = append(dst, digits[0])
		if k > 1 {
			dst = append(dst, '.')
			dst = append(dst, digits[1:]...)
		}
		dst = append(dst, 'e')
		if n-1 >= 0 {
			dst = append(dst, '+')
		}
		dst = strconv.AppendInt(dst, int64(n-1), 10)
	}
	return dst
}

// AppendString appends s quoted as JSON.stringify quotes a string: '"' and '\\'
// backslash-escaped, \b \f \n \r \t, other control characters as \u00xx (lowercase hex),
// lone surrogates as \udxxx, and everything else (including < > &, DEL, U+2028 and
// U+2029) as is. s is read as WTF-8: three-byte surrogate encodings are UTF-16 code
// units (a high one followed by a low one form one character, as in a JavaScript string
// concatenation), and any other ill-formed UTF-8 subsequence prints as U+FFFD.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if plainStringByte[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			dst = appendEscapedASCII(dst, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r != utf8.RuneError || size != 1 {
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		if u, ok := surrogateAt(s, i); ok {
			i += 3
			if lo, ok := surrogateAt(s, i); ok && isHighSurrogate(u) && isLowSurrogate(lo) {
				dst = utf8.AppendRune(dst, utf16Pair(u, lo))
				i += 3
			} else {
				dst = append(dst, '\\', 'u', 'd', lowerHex[u>>8&0xF], lowerHex[u>>4&0xF], lowerHex[u&0xF])
			}
		} else {
			dst = append(dst, replacementChar...)
			i += maximalSubpart(s[i:])
		}
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

const lowerHex = "0123456789abcdef"

func appendEscapedASCII(dst []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	default:
		return append(dst, '\\', 'u', '0', '0', lowerHex[c>>4], lowerHex[c&0xF])
	}
}

// surrogateAt decodes the WTF-8 encoding of a surrogate code unit at s[i:i+3].
func surrogateAt(s string, i int) (rune, bool) {
	if i+3 > len(s) || s[i] != 0xED || s[i+1] < 0xA0 || s[i+1] > 0xBF || s[i+2] < 0x80 || s[i+2] > 0xBF {
		return 0, false
	}
	return rune(s[i]&0x0F)<<12 | rune(s[i+1]&0x3F)<<6 | rune(s[i+2]&0x3F), true
}
