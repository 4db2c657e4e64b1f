// Package jsjson parses JSON while keeping what JavaScript's JSON.stringify depends on
// (key order, the text of numbers) and prints values byte for byte as JSON.stringify
// would. A UI extension signs JSON.stringify's output, so a verifier that rebuilds the
// signed string from a parsed body must print it the way JavaScript does, not the way
// encoding/json does.
//
// # Parsing
//
// [Parse] is as strict as JSON.parse (RFC 8259): only space, tab, LF and CR as
// whitespace, no leading zeros, no trailing garbage, only the escapes \" \\ \/ \b \f \n
// \r \t \uXXXX, no raw control characters in strings, and no byte-order mark. Objects keep
// their members in insertion order; a duplicate key keeps its first position and takes
// its last value, as JSON.parse does. Numbers keep their literal text.
//
// Strings are held in Go strings as WTF-8: UTF-8 that may also encode lone UTF-16
// surrogates (U+D800..U+DFFF, three bytes ED A0..BF 80..BF). Only a \uD8xx-style escape that
// is not part of a surrogate pair produces one, and it prints back as \udxxx, as in
// JavaScript. Raw bytes that are not valid UTF-8 are decoded the way a JavaScript server
// decodes a request body (Buffer#toString, TextDecoder): each maximal ill-formed
// subsequence becomes one U+FFFD. Nesting deeper than [MaxDepth] is an error, never a
// stack overflow.
//
// # Printing
//
// [AppendStringify] prints like JSON.stringify: array-index keys ("0".."4294967294" in
// canonical decimal form) first in ascending numeric order, then the other keys in
// insertion order; strings escaped as [AppendString] does; numbers as [AppendNumber] does
// after rounding the literal to the nearest float64 (a literal that overflows to
// ±Infinity prints as null, -0 prints as 0). There is no trailing newline.
package jsjson

import (
	"iter"
	"math"
	"slices"
)

// MaxDepth is how deeply arrays and objects may nest. Parse rejects deeper texts.
const MaxDepth = 1000

// Kind is the type of a JSON value.
type Kind uint8

// The kinds of JSON values. The zero Value is Null.
const (
	Null Kind = iota
	Bool
	Number
	String
	Array
	Object
)

var kindNames = [...]string{Null: "null", Bool: "boolean", Number: "number", String: "string", Array: "array", Object: "object"}

// String returns the JSON name of the kind, as in error messages.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "invalid kind"
}

// Value is one parsed JSON value.
type Value struct {
	Kind Kind
	// Bool holds a Bool value.
	Bool bool
	// Text holds a String value (unescaped, may contain lone surrogates encoded as
	// WTF-8) or the literal text of a Number as it appeared in the input.
	Text string
	// Elems holds an Array's elements.
	Elems []Value
	// Members holds an Object's members in JavaScript property order semantics:
	// insertion order; a duplicate key keeps its first position and its last value.
	Members *Members
}

// Members is an ordered set of object members. The zero Members is empty and ready to
// use; a nil *Members reads as empty.
type Members struct {
	entries []member
	// index maps keys to positions in entries once the object is large enough for a
	// linear scan to cost more than the map.
	index map[string]int
}

type member struct {
	key   string
	value Value
}

// linearLookupMax is the member count up to which lookups scan entries instead of
// keeping an index: UI payloads have a handful of keys, and scanning them beats hashing.
const linearLookupMax = 16

// Len returns the number of members.
func (m *Members) Len() int {
	if m == nil {
		return 0
	}
	return len(m.entries)
}

func (m *Members) find(key string) int {
	if m == nil {
		return -1
	}
	if m.index != nil {
		if i, ok := m.index[key]; ok {
			return i
		}
		return -1
	}
	for i := range m.entries {
		if m.entries[i].key == key {
			return i
		}
	}
	return -1
}

// Get returns the value of key and whether it is present.
func (m *Members) Get(key string) (Value, bool) {
	i := m.find(key)
	if i < 0 {
		return Value{}, false
	}
	return m.entries[i].value, true
}

// Set sets key to v with JavaScript's assignment and spread semantics: an existing key
// keeps its position and takes the new value; a new key goes last.
func (m *Members) Set(key string, v Value) {
	if i := m.find(key); i >= 0 {
		m.entries[i].value = v
		return
	}
	m.entries = append(m.entries, member{key: key, value: v})
	switch {
	case m.index != nil:
		m.index[key] = len(m.entries) - 1
	case len(m.entries) > linearLookupMax:
		m.buildIndex()
	}
}

func (m *Members) buildIndex() {
	m.index = make(map[string]int, len(m.entries))
	for i := range m.entries {
		m.index[m.entries[i].key] = i
	}
}

// Delete removes key, as JavaScript's delete operator does: setting it again later puts
// it last.
func (m *Members) Delete(key string) {
	i := m.find(key)
	if i < 0 {
		return
	}
	m.entries = slices.Delete(m.entries, i, i+1)
	if m.index != nil {
		m.index = nil
		if len(m.entries) > linearLookupMax {
			m.buildIndex()
		}
	}
}

// All iterates over the members in insertion order (not JSON.stringify's order, which
// puts array-index keys first).
func (m *Members) All() iter.Seq2[string, Value] {
	return func(yield func(string, Value) bool) {
		if m == nil {
			return
		}
		for i := range m.entries {
			if !yield(m.entries[i].key, m.entries[i].value) {
				return
			}
		}
	}
}

// Clone returns a copy of m that Set and Delete can change without changing m. The
// values themselves are shared (a nested object's Members is the same pointer).
func (m *Members) Clone() *Members {
	if m == nil {
		return &Members{}
	}
	c := &Members{entries: append([]member(nil), m.entries...)}
	if m.index != nil {
		c.buildIndex()
	}
	return c
}

// NewObject returns an empty object.
func NewObject() Value { return Value{Kind: Object, Members: &Members{}} }

// NewArray returns an array of elems.
func NewArray(elems ...Value) Value { return Value{Kind: Array, Elems: elems} }

// StringValue returns a string. s is read as WTF-8 (see the package documentation).
func StringValue(s string) Value { return Value{Kind: String, Text: s} }

// BoolValue returns true or false.
func BoolValue(b bool) Value { return Value{Kind: Bool, Bool: b} }

// NullValue returns null, the zero Value.
func NullValue() Value { return Value{} }

// NumberValue returns f as a number. NaN and ±Infinity print as null, as in JavaScript.
func NumberValue(f float64) Value {
	var buf [32]byte
	return Value{Kind: Number, Text: string(AppendNumber(buf[:0], f))}
}

// Float returns a Number's value rounded to the nearest float64, as JavaScript reads it
// (a literal beyond the float64 range is ±Inf). ok is false if v is not a Number or its
// Text is not a JSON number.
func (v Value) Float() (f float64, ok bool) {
	if v.Kind != Number {
		return 0, false
	}
	f, ok = parseNumberText(v.Text)
	if !ok {
		return math.NaN(), false
	}
	return f, true
}
