package jsjson

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"unicode/utf8"
)

// SyntaxError reports a text that JSON.parse would reject, or one nested deeper than
// MaxDepth (then errors.Is(err, ErrTooDeep)).
type SyntaxError struct {
	// Offset is the byte offset in the input where the problem was found.
	Offset int
	msg    string
	err    error
}

func (e *SyntaxError) Error() string {
	return "jsjson: " + e.msg + " at offset " + strconv.Itoa(e.Offset)
}

// Unwrap returns ErrTooDeep for a text nested too deeply, nil otherwise.
func (e *SyntaxError) Unwrap() error { return e.err }

var (
	// ErrTooDeep is wrapped by the SyntaxError for a text nested deeper than MaxDepth.
	ErrTooDeep = errors.New("jsjson: nesting too deep")
	// ErrNotObject is returned by the lookups for a valid JSON text that is not an object.
	ErrNotObject = errors.New("jsjson: not a JSON object")
	// ErrNotString is returned (wrapped) by the lookups when the member is not a string.
	ErrNotString = errors.New("jsjson: member is not a string")
)

func syntaxError(offset int, msg string) error {
	return &SyntaxError{Offset: offset, msg: msg}
}

// unexpected describes what was found at data[i] where something else was expected.
func unexpected(data []byte, i int, expected string) error {
	if i >= len(data) {
		return syntaxError(i, "unexpected end of input, expected "+expected)
	}
	c := data[i]
	if c < utf8.RuneSelf && c >= 0x20 {
		return syntaxError(i, "unexpected character "+strconv.QuoteRune(rune(c))+", expected "+expected)
	}
	return syntaxError(i, fmt.Sprintf("unexpected byte 0x%02x, expected %s", c, expected))
}

func tooDeep(offset int) error {
	return &SyntaxError{Offset: offset, msg: "nesting deeper than " + strconv.Itoa(MaxDepth) + " levels", err: ErrTooDeep}
}

// Parse parses one JSON text, as strict as JavaScript's JSON.parse (see the package
// documentation). The strings and number texts of the result may share one copy of data,
// so a small value kept from a large input keeps the input's memory alive.
func Parse(data []byte) (Value, error) {
	p := parsers.Get().(*parser)
	defer p.release()
	p.data, p.src = data, string(data)
	i := skipSpace(data, 0)
	v, i, err := p.value(i, 0)
	if err != nil {
		return Value{}, err
	}
	if i = skipSpace(data, i); i != len(data) {
		return Value{}, unexpected(data, i, "end of input")
	}
	return v, nil
}

// parsers keeps parsers' element and member stacks between calls: growing them anew for
// every body cost more than the parse itself.
var parsers = sync.Pool{New: func() any { return new(parser) }}

// maxPooledStack bounds the stacks a pooled parser keeps, so that one huge input does not
// pin its memory forever.
const maxPooledStack = 1024

func (p *parser) release() {
	p.data, p.src = nil, ""
	clear(p.elems) // nonempty only after an error
	clear(p.members)
	if cap(p.elems) > maxPooledStack || cap(p.members) > maxPooledStack {
		return
	}
	p.elems, p.members = p.elems[:0], p.members[:0]
	parsers.Put(p)
}

type parser struct {
	data []byte
	// src is data converted to a string once, so that strings without escapes and number
	// texts are substrings of it rather than one allocation each.
	src string
	// elems and members hold the elements of the arrays and objects being parsed, shared
	// by every nesting level, so that each array or object allocates its final slice once.
	elems   []Value
	members []member
}

// isSpace reports JSON whitespace: JSON.parse accepts exactly these four.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(data []byte, i int) int {
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	return i
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func (p *parser) value(i, depth int) (Value, int, error) {
	data := p.data
	if i >= len(data) {
		return Value{}, i, unexpected(data, i, "a value")
	}
	switch c := data[i]; c {
	case '{':
		return p.object(i, depth+1)
	case '[':
		return p.array(i, depth+1)
	case '"':
		s, end, err := p.string(i)
		return Value{Kind: String, Text: s}, end, err
	case 't':
		end, err := literal(data, i, "true")
		return Value{Kind: Bool, Bool: true}, end, err
	case 'f':
		end, err := literal(data, i, "false")
		return Value{Kind: Bool}, end, err
	case 'n':
		end, err := literal(data, i, "null")
		return Value{}, end, err
	default:
		if c != '-' && !isDigit(c) {
			return Value{}, i, unexpected(data, i, "a value")
		}
		end, err := number(data, i)
		if err != nil {
			return Value{}, end, err
		}
		return Value{Kind: Number, Text: p.src[i:end]}, end, nil
	}
}

func literal(data []byte, i int, word string) (int, error) {
	for j := 0; j < len(word); j++ {
		if i+j >= len(data) || data[i+j] != word[j] {
			return i + j, unexpected(data, i+j, strconv.Quote(word))
		}
	}
	return i + len(word), nil
}

// number scans the number starting at data[i] and returns where it ends.
func number(data []byte, i int) (int, error) {
	end, ok := scanNumber(data, i)
	if !ok {
		return end, unexpected(data, end, "a digit")
	}
	// JSON.parse("01") fails on the second digit; say why.
	if end < len(data) && isDigit(data[end]) {
		return end, syntaxError(end, "leading zero in number")
	}
	return end, nil
}

// scanNumber scans a JSON number (-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?)
// starting at s[i]. It returns where the number ends, or where it went wrong and false.
func scanNumber[T ~string | ~[]byte](s T, i int) (int, bool) {
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i >= len(s):
		return i, false
	case s[i] == '0':
		i++
	case isDigit(s[i]):
		for i++; i < len(s) && isDigit(s[i]); i++ {
		}
	default:
		return i, false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || !isDigit(s[i]) {
			return i, false
		}
		for i++; i < len(s) && isDigit(s[i]); i++ {
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || !isDigit(s[i]) {
			return i, false
		}
		for i++; i < len(s) && isDigit(s[i]); i++ {
		}
	}
	return i, true
}

// parseNumberText rounds a JSON number literal to the nearest float64 as JavaScript does
// (±Inf beyond the range). ok is false if text is not a JSON number.
func parseNumberText(text string) (f float64, ok bool) {
	if end, ok := scanNumber(text, 0); !ok || end != len(text) {
		return 0, false
	}
	// The syntax is checked, so the only possible error is ErrRange, where ParseFloat
	// already returns the correctly rounded ±Inf or ±0.
	f, _ = strconv.ParseFloat(text, 64)
	return f, true
}

func (p *parser) string(i int) (string, int, error) {
	end, decode, err := scanString(p.data, i)
	if err != nil {
		return "", end, err
	}
	if !decode {
		return p.src[i+1 : end-1], end, nil
	}
	return string(appendDecoded(nil, p.data[i+1:end-1])), end, nil
}

func (p *parser) array(i, depth int) (Value, int, error) {
	if depth > MaxDepth {
		return Value{}, i, tooDeep(i)
	}
	data := p.data
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		return Value{Kind: Array, Elems: []Value{}}, i + 1, nil
	}
	base := len(p.elems)
	for {
		v, end, err := p.value(i, depth)
		if err != nil {
			return Value{}, end, err
		}
		p.elems = append(p.elems, v)
		i = skipSpace(data, end)
		if i < len(data) && data[i] == ',' {
			i = skipSpace(data, i+1)
			continue
		}
		if i < len(data) && data[i] == ']' {
			i++
			break
		}
		return Value{}, i, unexpected(data, i, "',' or ']'")
	}
	elems := make([]Value, len(p.elems)-base)
	copy(elems, p.elems[base:])
	clear(p.elems[base:])
	p.elems = p.elems[:base]
	return Value{Kind: Array, Elems: elems}, i, nil
}

func (p *parser) object(i, depth int) (Value, int, error) {
	if depth > MaxDepth {
		return Value{}, i, tooDeep(i)
	}
	data := p.data
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return Value{Kind: Object, Members: &Members{}}, i + 1, nil
	}
	base := len(p.members)
	var index map[string]int // positions relative to base, once there are many keys
	for {
		if i >= len(data) || data[i] != '"' {
			return Value{}, i, unexpected(data, i, "a string key")
		}
		key, end, err := p.string(i)
		if err != nil {
			return Value{}, end, err
		}
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ':' {
			return Value{}, i, unexpected(data, i, "':'")
		}
		v, end, err := p.value(skipSpace(data, i+1), depth)
		if err != nil {
			return Value{}, end, err
		}

		// A duplicate key keeps its first position and takes the last value.
		pending := p.members[base:]
		dup := -1
		if index != nil {
			if j, ok := index[key]; ok {
				dup = j
			}
		} else {
			for j := range pending {
				if pending[j].key == key {
					dup = j
					break
				}
			}
		}
		if dup >= 0 {
			pending[dup].value = v
		} else {
			p.members = append(p.members, member{key: key, value: v})
			if index != nil {
				index[key] = len(pending)
			} else if len(pending)+1 > linearLookupMax {
				index = make(map[string]int, 2*linearLookupMax)
				for j, m := range p.members[base:] {
					index[m.key] = j
				}
			}
		}

		i = skipSpace(data, end)
		if i < len(data) && data[i] == ',' {
			i = skipSpace(data, i+1)
			continue
		}
		if i < len(data) && data[i] == '}' {
			i++
			break
		}
		return Value{}, i, unexpected(data, i, "',' or '}'")
	}
	entries := make([]member, len(p.members)-base)
	copy(entries, p.members[base:])
	clear(p.members[base:])
	p.members = p.members[:base]
	return Value{Kind: Object, Members: &Members{entries: entries, index: index}}, i, nil
}

// plainStringByte marks the bytes a string scan passes over without a second look:
// printable ASCII other than '"' and '\\'.
var plainStringByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanString checks the string literal starting at the quote data[i] and returns the
// offset just past its closing quote. decode reports whether the content differs from its
// decoded form (an escape, or bytes that are not UTF-8).
func scanString(data []byte, i int) (end int, decode bool, err error) {
	start := i
	i++
	for i < len(data) {
		c := data[i]
		if plainStringByte[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			return i + 1, decode, nil
		case c == '\\':
			decode = true
			if i+1 >= len(data) {
				return i + 1, false, syntaxError(i+1, "unterminated string starting")
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for j := i + 2; j < i+6; j++ {
					if j >= len(data) || hexValue[data[j]] < 0 {
						return j, false, unexpected(data, j, "a hexadecimal digit in \\u escape")
					}
				}
				i += 6
			default:
				return i, false, syntaxError(i, "invalid escape "+strconv.Quote(string(data[i:i+2]))+" in string")
			}
		case c < 0x20:
			return i, false, syntaxError(i, fmt.Sprintf("control character 0x%02x in string (must be escaped)", c))
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				decode = true
			}
			i += size
		}
	}
	return i, false, syntaxError(start, "unterminated string starting")
}

var hexValue = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = int8(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = int8(c - 'a' + 10)
		t[c-'a'+'A'] = int8(c - 'a' + 10)
	}
	return t
}()

func hex4(b []byte) rune {
	return rune(hexValue[b[0]])<<12 | rune(hexValue[b[1]])<<8 | rune(hexValue[b[2]])<<4 | rune(hexValue[b[3]])
}

func isHighSurrogate(r rune) bool { return 0xD800 <= r && r <= 0xDBFF }
func isLowSurrogate(r rune) bool  { return 0xDC00 <= r && r <= 0xDFFF }

// appendWTF8 appends r in UTF-8, or a lone surrogate in the same three-byte form.
func appendWTF8(dst []byte, r rune) []byte {
	if 0xD800 <= r && r <= 0xDFFF {
		return append(dst, 0xE0|byte(r>>12), 0x80|byte(r>>6)&0x3F, 0x80|byte(r)&0x3F)
	}
	return utf8.AppendRune(dst, r)
}

const replacementChar = "\uFFFD"

// appendDecoded appends the decoded content of a string literal that scanString
// accepted: escapes resolved (an escaped surrogate pair joined into one character, a lone
// one kept as WTF-8) and each maximal ill-formed UTF-8 subsequence replaced by U+FFFD.
func appendDecoded(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' && c < utf8.RuneSelf {
			j := i + 1
			for j < len(raw) && raw[j] != '\\' && raw[j] < utf8.RuneSelf {
				j++
			}
			dst = append(dst, raw[i:j]...)
			i = j
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, replacementChar...)
				i += maximalSubpart(raw[i:])
				continue
			}
			dst = append(dst, raw[i:i+size]...)
			i += size
			continue
		}
		switch e := raw[i+1]; e {
		case 'u':
			r := hex4(raw[i+2:])
			i += 6
			if isHighSurrogate(r) && i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
				if lo := hex4(raw[i+2:]); isLowSurrogate(lo) {
					dst = utf8.AppendRune(dst, utf16Pair(r, lo))
					i += 6
					continue
				}
			}
			dst = appendWTF8(dst, r)
			continue
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		default: // '"', '\\', '/'
			dst = append(dst, e)
		}
		i += 2
	}
	return dst
}

func utf16Pair(hi, lo rune) rune { return (hi-0xD800)<<10 | (lo - 0xDC00) + 0x10000 }

// maximalSubpart returns the length of the maximal ill-formed subsequence at the start of
// s, which must not begin with a valid UTF-8 sequence: the lead byte and the continuation
// bytes that could still have completed a character. The WHATWG UTF-8 decoder (and so
// every JavaScript runtime) replaces each such subsequence by one U+FFFD.
func maximalSubpart[T ~string | ~[]byte](s T) int {
	need, lo, hi := 0, byte(0x80), byte(0xBF)
	switch c := s[0]; {
	case 0xC2 <= c && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c == 0xED:
		need, hi = 2, 0x9F
	case 0xE1 <= c && c <= 0xEF:
		need = 2
	case c == 0xF0:
		need, lo = 3, 0x90
	case c == 0xF4:
		need, hi = 3, 0x8F
	case 0xF1 <= c && c <= 0xF3:
		need = 3
	default:
		return 1
	}
	n := 1
	for n <= need && n < len(s) && lo <= s[n] && s[n] <= hi {
		n++
		lo, hi = 0x80, 0xBF
	}
	return n
}
