// Package jsjson parses JSON while keeping what JavaScript's JSON.stringify depends on
// (key order, the text of numbers) and prints values byte for byte as JSON.stringify
// would. A UI extension signs JSON.stringify's output, so a verifier that rebuilds the
// signed string from a parsed body must print it the way JavaScript does, not the way
// encoding/json does (see the package tests for the differences).
package jsjson

// Kind is the type of a JSON value.
type Kind uint8

const (
	Null Kind = iota
	Bool
	Number
	String
	Array
	Object
)

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

// Members is an ordered set of object members.
type Members struct {
	// implementation-defined
}

// Parse parses one JSON text, as strict as JavaScript's JSON.parse.
func Parse(data []byte) (Value, error) { panic("unimplemented") }

// Len, Get, Set (spread semantics: an existing key keeps its position and takes the new
// value), Delete and All (iterate in insertion order) are Members' methods.
func (m *Members) Len() int                                 { panic("unimplemented") }
func (m *Members) Get(key string) (Value, bool)             { panic("unimplemented") }
func (m *Members) Set(key string, v Value)                  { panic("unimplemented") }
func (m *Members) Delete(key string)                        { panic("unimplemented") }
func (m *Members) All() func(yield func(string, Value) bool) { panic("unimplemented") }

// NewObject, StringValue and so on build values.
func NewObject() Value              { panic("unimplemented") }
func StringValue(s string) Value    { return Value{Kind: String, Text: s} }

// AppendStringify appends JSON.stringify(v) to dst.
func AppendStringify(dst []byte, v Value) []byte { panic("unimplemented") }

// AppendString appends s quoted as JSON.stringify quotes a string.
func AppendString(dst []byte, s string) []byte { panic("unimplemented") }

// AppendNumber appends f as JavaScript's Number.prototype.toString prints it.
func AppendNumber(dst []byte, f float64) []byte { panic("unimplemented") }
