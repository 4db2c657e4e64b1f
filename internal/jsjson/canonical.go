package jsjson

import (
	"bytes"
	"cmp"
	"hash/maphash"
	"math/big"
	"slices"
	"strconv"
	"sync"
	"unsafe"
)

// This file prints JSON.stringify(JSON.parse(text)) straight from the text, without
// building Values: the verifier does it for every request whose signature did not match
// the cheaper candidates, so its cost is what an unauthenticated client can make a server
// spend. It is O(len(text)) in time, and its memory is the output plus scratch that grows
// only with the objects that JavaScript would reorder (array-index keys) or merge
// (duplicate keys), and with the members of the objects open at one time.
//
// The first pass validates the text exactly as Parse does (same errors) and prints it in
// insertion order, which is JSON.stringify's order for every object without an
// array-index or a duplicate key. Such an object is flagged when it closes and its
// members' order (array-index keys ascending, then the others, each duplicate at its
// first position with its last value) is kept. Only if some object was flagged does a
// second pass print the text again, visiting each flagged object's members in the kept
// order: no byte is printed twice by either pass, however deeply flagged objects nest.

// maxCanonicalInput is the largest text Canonicalizer handles itself; it keeps offsets in
// int32 (an output is at most about five times its input). Larger texts go through Parse
// and AppendStringify.
const maxCanonicalInput = 256 << 20

// Canonicalizer prints JSON texts as JSON.stringify(JSON.parse(text)) would. Its scratch
// space is kept between calls, so a Canonicalizer that is reused allocates nothing once
// it has seen a text of the same shape. The zero value is ready to use; it is not safe
// for concurrent use.
type Canonicalizer struct {
	frames  []canonicalFrame
	members []memberRecord
	// table holds the open-addressing key sets of the open objects with more than
	// linearLookupMax members: member positions (relative to the object's first record)
	// plus one, 0 for an empty slot.
	table   []int32
	kept    []keptMember
	objects []keptObject
	order   []keyedPosition
	decoded []byte
	seed    maphash.Seed
	seeded  bool
}

// canonicalFrame is an open array or object of the first pass, or (second pass) an open
// array, object or flagged object being printed.
type canonicalFrame struct {
	object  bool
	flagged bool
	// first pass: start is the input offset of the '{'; recBase and tabBase the object's
	// first record and table slot; tabSize its table's size (0: linear lookups).
	start, recBase, tabBase, tabSize int32
	// second pass: a flagged object prints kept[next:hi], then continues at end.
	next, hi, end int32
}

// memberRecord is one distinct key of an open object in the first pass.
type memberRecord struct {
	// keyOut and keyEnd delimit the printed key (quotes included) in the output,
	// relative to where the call started writing.
	keyOut, keyEnd int32
	// keyIn is the input offset of the key's first quote, valIn of its last value.
	keyIn, valIn int32
}

// keptMember is one member of a flagged object, in JSON.stringify's order.
type keptMember struct{ keyIn, valIn int32 }

// keptObject is a flagged object: its '{' and the offset just past its '}' in the
// input, and its members kept[lo:hi].
type keptObject struct{ start, end, lo, hi int32 }

// canonicalizers serves AppendCanonical.
var canonicalizers = sync.Pool{New: func() any { return new(Canonicalizer) }}

// AppendCanonical appends JSON.stringify(JSON.parse(data)) to dst: the same bytes as
// AppendStringify of Parse's result, or Parse's error (and dst unchanged) if data is not
// one JSON text. It builds no Values.
func AppendCanonical(dst, data []byte) ([]byte, error) {
	c := canonicalizers.Get().(*Canonicalizer)
	defer func() {
		c.Shrink(maxPooledStack * 64)
		canonicalizers.Put(c)
	}()
	return c.Append(dst, data)
}

// Shrink drops the scratch slices whose capacity exceeds max elements, so that a
// Canonicalizer kept in a pool does not pin the memory of one huge text.
func (c *Canonicalizer) Shrink(max int) {
	shrink(&c.frames, max)
	shrink(&c.members, max)
	shrink(&c.table, max)
	shrink(&c.kept, max)
	shrink(&c.objects, max)
	shrink(&c.order, max)
	shrink(&c.decoded, max)
}

func shrink[T any](s *[]T, max int) {
	if cap(*s) > max {
		*s = nil
	} else {
		*s = (*s)[:0]
	}
}

// Append appends JSON.stringify(JSON.parse(data)) to dst, as AppendCanonical does.
func (c *Canonicalizer) Append(dst, data []byte) ([]byte, error) {
	if len(data) > maxCanonicalInput {
		v, err := Parse(data)
		if err != nil {
			return dst, err
		}
		return AppendStringify(dst, v), nil
	}
	if !c.seeded {
		c.seed, c.seeded = maphash.MakeSeed(), true
	}
	c.frames, c.members, c.table = c.frames[:0], c.members[:0], c.table[:0]
	c.kept, c.objects = c.kept[:0], c.objects[:0]
	base := len(dst)
	out, err := c.firstPass(dst, data)
	if err != nil {
		return dst[:base], err
	}
	if len(c.objects) == 0 {
		return out, nil
	}
	slices.SortFunc(c.objects, func(a, b keptObject) int { return cmp.Compare(a.start, b.start) })
	return c.secondPass(out[:base], data), nil
}

// States of the passes' loops.
const (
	wantValue = iota
	wantKey
	afterValue
)

func (c *Canonicalizer) firstPass(dst, data []byte) ([]byte, error) {
	base := len(dst)
	i := skipSpace(data, 0)
	state := wantValue
	for {
		switch state {
		case wantValue:
			if i >= len(data) {
				return dst, unexpected(data, i, "a value")
			}
			switch ch := data[i]; ch {
			case '{', '[':
				if len(c.frames)+1 > MaxDepth {
					return dst, tooDeep(i)
				}
				closer := byte('}')
				if ch == '[' {
					closer = ']'
				}
				dst = append(dst, ch)
				j := skipSpace(data, i+1)
				if j < len(data) && data[j] == closer {
					dst = append(dst, closer)
					i, state = j+1, afterValue
					continue
				}
				c.frames = append(c.frames, canonicalFrame{object: ch == '{', start: int32(i),
					recBase: int32(len(c.members)), tabBase: int32(len(c.table))})
				i = j
				if ch == '{' {
					state = wantKey
				}
			case '"':
				end, decode, err := scanString(data, i)
				if err != nil {
					return dst, err
				}
				dst = c.appendStringToken(dst, data[i:end], decode)
				i, state = end, afterValue
			case 't', 'f', 'n':
				word := "null"
				switch ch {
				case 't':
					word = "true"
				case 'f':
					word = "false"
				}
				end, err := literal(data, i, word)
				if err != nil {
					return dst, err
				}
				dst = append(dst, word...)
				i, state = end, afterValue
			default:
				if end := shortInteger(data, i); end > 0 {
					// Most numbers in a large body: print as written, at once.
					dst = append(dst, data[i:end]...)
					i, state = end, afterValue
					continue
				}
				if ch != '-' && !isDigit(ch) {
					return dst, unexpected(data, i, "a value")
				}
				end, err := number(data, i)
				if err != nil {
					return dst, err
				}
				dst = appendNumberToken(dst, data[i:end])
				i, state = end, afterValue
			}

		case wantKey:
			if i >= len(data) || data[i] != '"' {
				return dst, unexpected(data, i, "a string key")
			}
			end, decode, err := scanString(data, i)
			if err != nil {
				return dst, err
			}
			rec := memberRecord{keyOut: int32(len(dst) - base), keyIn: int32(i)}
			dst = c.appendStringToken(dst, data[i:end], decode)
			rec.keyEnd = int32(len(dst) - base)
			i = skipSpace(data, end)
			if i >= len(data) || data[i] != ':' {
				return dst, unexpected(data, i, "':'")
			}
			dst = append(dst, ':')
			i = skipSpace(data, i+1)
			rec.valIn = int32(i)
			c.addMember(dst[base:], rec)
			state = wantValue

		case afterValue:
			i = skipSpace(data, i)
			if len(c.frames) == 0 {
				if i != len(data) {
					return dst, unexpected(data, i, "end of input")
				}
				return dst, nil
			}
			top := &c.frames[len(c.frames)-1]
			switch {
			case i < len(data) && data[i] == ',':
				dst = append(dst, ',')
				i = skipSpace(data, i+1)
				state = wantValue
				if top.object {
					state = wantKey
				}
			case top.object && i < len(data) && data[i] == '}':
				dst = append(dst, '}')
				i++
				c.closeObject(dst[base:], i)
			case !top.object && i < len(data) && data[i] == ']':
				dst = append(dst, ']')
				i++
				c.frames = c.frames[:len(c.frames)-1]
			case top.object:
				return dst, unexpected(data, i, "',' or '}'")
			default:
				return dst, unexpected(data, i, "',' or ']'")
			}
		}
	}
}

// addMember records the member whose key was just printed into out (the output of this
// call so far): a new key gets a record, a duplicate updates the first one's value, and
// either an array-index key or a duplicate flags the object.
func (c *Canonicalizer) addMember(out []byte, rec memberRecord) {
	f := &c.frames[len(c.frames)-1]
	key := out[rec.keyOut:rec.keyEnd]
	if !f.flagged {
		if _, ok := arrayIndex(key[1 : len(key)-1]); ok {
			f.flagged = true
		}
	}
	records := c.members[f.recBase:]
	if f.tabSize == 0 {
		for j := range records {
			if bytes.Equal(out[records[j].keyOut:records[j].keyEnd], key) {
				records[j].valIn = rec.valIn
				f.flagged = true
				return
			}
		}
		c.members = append(c.members, rec)
		if len(records)+1 > linearLookupMax {
			c.rehash(out, f, 4*linearLookupMax)
		}
		return
	}
	mask := uint64(f.tabSize - 1)
	table := c.table[f.tabBase : f.tabBase+f.tabSize]
	for p := maphash.Bytes(c.seed, key) & mask; ; p = (p + 1) & mask {
		slot := table[p]
		if slot == 0 {
			table[p] = int32(len(records) + 1)
			c.members = append(c.members, rec)
			if 2*(len(records)+1) > int(f.tabSize) {
				c.rehash(out, f, 2*f.tabSize)
			}
			return
		}
		if j := slot - 1; bytes.Equal(out[records[j].keyOut:records[j].keyEnd], key) {
			records[j].valIn = rec.valIn
			f.flagged = true
			return
		}
	}
}

// rehash gives the innermost open object f a key table of size slots (a power of two)
// holding its records. Its table is the last one in c.table: every object opened after it
// has closed.
func (c *Canonicalizer) rehash(out []byte, f *canonicalFrame, size int32) {
	c.table = slices.Grow(c.table[:f.tabBase], int(size))[:int(f.tabBase)+int(size)]
	table := c.table[f.tabBase:]
	clear(table)
	f.tabSize = size
	mask := uint64(size - 1)
	for j, r := range c.members[f.recBase:] {
		p := maphash.Bytes(c.seed, out[r.keyOut:r.keyEnd]) & mask
		for table[p] != 0 {
			p = (p + 1) & mask
		}
		table[p] = int32(j + 1)
	}
}

// closeObject pops the innermost object, which ends just before the input offset end,
// keeping its members' order if it is flagged.
func (c *Canonicalizer) closeObject(out []byte, end int) {
	f := c.frames[len(c.frames)-1]
	c.frames = c.frames[:len(c.frames)-1]
	records := c.members[f.recBase:]
	if f.flagged {
		lo := int32(len(c.kept))
		c.order = c.order[:0]
		for pos, r := range records {
			if index, ok := arrayIndex(out[r.keyOut+1 : r.keyEnd-1]); ok {
				c.order = append(c.order, keyedPosition{index, pos})
			}
		}
		slices.SortFunc(c.order, func(a, b keyedPosition) int { return cmp.Compare(a.index, b.index) })
		for _, k := range c.order {
			c.kept = append(c.kept, keptMember{records[k.pos].keyIn, records[k.pos].valIn})
		}
		for _, r := range records {
			if _, ok := arrayIndex(out[r.keyOut+1 : r.keyEnd-1]); !ok {
				c.kept = append(c.kept, keptMember{r.keyIn, r.valIn})
			}
		}
		c.objects = append(c.objects, keptObject{start: f.start, end: int32(end), lo: lo, hi: int32(len(c.kept))})
	}
	c.members = c.members[:f.recBase]
	c.table = c.table[:f.tabBase]
}

// secondPass prints the already validated data, visiting flagged objects' members in
// their kept order.
func (c *Canonicalizer) secondPass(dst, data []byte) []byte {
	c.frames = c.frames[:0]
	i := skipSpace(data, 0)
	state := wantValue
	for {
		switch state {
		case wantValue:
			switch ch := data[i]; ch {
			case '{':
				if k, ok := slices.BinarySearchFunc(c.objects, int32(i), func(o keptObject, start int32) int { return cmp.Compare(o.start, start) }); ok {
					o := c.objects[k]
					c.frames = append(c.frames, canonicalFrame{flagged: true, next: o.lo, hi: o.hi, end: o.end})
					dst = append(dst, '{')
					dst, i = c.appendKeptMember(dst, data, o.lo)
					continue
				}
				fallthrough
			case '[':
				closer := byte('}')
				if ch == '[' {
					closer = ']'
				}
				dst = append(dst, ch)
				j := skipSpace(data, i+1)
				if data[j] == closer {
					dst = append(dst, closer)
					i, state = j+1, afterValue
					continue
				}
				c.frames = append(c.frames, canonicalFrame{object: ch == '{'})
				i = j
				if ch == '{' {
					state = wantKey
				}
			case '"':
				end, decode, _ := scanString(data, i)
				dst = c.appendStringToken(dst, data[i:end], decode)
				i, state = end, afterValue
			case 't':
				dst, i, state = append(dst, "true"...), i+4, afterValue
			case 'f':
				dst, i, state = append(dst, "false"...), i+5, afterValue
			case 'n':
				dst, i, state = append(dst, "null"...), i+4, afterValue
			default:
				end, _ := scanNumber(data, i)
				dst = appendNumberToken(dst, data[i:end])
				i, state = end, afterValue
			}

		case wantKey:
			end, decode, _ := scanString(data, i)
			dst = c.appendStringToken(dst, data[i:end], decode)
			dst = append(dst, ':')
			i = skipSpace(data, skipSpace(data, end)+1)
			state = wantValue

		case afterValue:
			if len(c.frames) == 0 {
				return dst
			}
			top := &c.frames[len(c.frames)-1]
			if top.flagged {
				top.next++
				if top.next < top.hi {
					dst = append(dst, ',')
					dst, i = c.appendKeptMember(dst, data, top.next)
					state = wantValue
					continue
				}
				dst = append(dst, '}')
				i = int(top.end)
				c.frames = c.frames[:len(c.frames)-1]
				continue
			}
			i = skipSpace(data, i)
			if data[i] == ',' {
				dst = append(dst, ',')
				i = skipSpace(data, i+1)
				state = wantValue
				if top.object {
					state = wantKey
				}
				continue
			}
			dst = append(dst, data[i]) // '}' or ']'
			i++
			c.frames = c.frames[:len(c.frames)-1]
		}
	}
}

// shortInteger returns the end of the number at data[i] if it is a non-negative integer
// literal of at most 15 digits without a leading zero, which JavaScript prints as
// written (isShortCanonicalInteger), and 0 otherwise, leaving the general path to decide.
func shortInteger(data []byte, i int) int {
	j := i
	switch {
	case data[i] == '0':
		j++
	case '1' <= data[i] && data[i] <= '9':
		for j++; j < len(data) && j-i <= 15 && isDigit(data[j]); j++ {
		}
	default:
		return 0
	}
	if j-i > 15 || j < len(data) && (isDigit(data[j]) || data[j] == '.' || data[j] == 'e' || data[j] == 'E') {
		return 0
	}
	return j
}

// appendKeptMember prints the key of kept member k and the colon, and returns where its
// value starts.
func (c *Canonicalizer) appendKeptMember(dst, data []byte, k int32) ([]byte, int) {
	m := c.kept[k]
	end, decode, _ := scanString(data, int(m.keyIn))
	dst = c.appendStringToken(dst, data[m.keyIn:end], decode)
	return append(dst, ':'), int(m.valIn)
}

// appendStringToken prints the string literal lit (quotes included) as JSON.stringify
// prints its value. A literal without escapes whose bytes are valid UTF-8 prints as it is.
func (c *Canonicalizer) appendStringToken(dst, lit []byte, decode bool) []byte {
	if !decode {
		return append(dst, lit...)
	}
	c.decoded = appendDecoded(c.decoded[:0], lit[1:len(lit)-1])
	// AppendString only reads the string during the call.
	return AppendString(dst, unsafe.String(unsafe.SliceData(c.decoded), len(c.decoded)))
}

// appendNumberToken prints a valid number literal as JSON.stringify prints the float64 it
// reads, as appendNumberText does, without allocating: a literal that is already
// JavaScript's spelling is copied.
func appendNumberToken(dst, lit []byte) []byte {
	if isShortCanonicalInteger(lit) || isCanonicalDecimal(lit) {
		return append(dst, lit...)
	}
	if numberOverflows(lit) {
		// strconv would say so with an error, which allocates.
		return append(dst, "null"...)
	}
	// ParseFloat does not keep its argument when it succeeds, and the literal is valid and
	// within the float64 range, so it succeeds.
	f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(lit), len(lit)), 64)
	if err != nil {
		return append(dst, "null"...)
	}
	return AppendNumber(dst, f)
}

// isCanonicalDecimal reports whether a valid number literal is a decimal fraction that
// JavaScript prints as written: no exponent, no trailing zero, at most 15 significant
// digits (so that no shorter spelling reads as the same float64: DBL_DIG), and not below
// 1e-6 (smaller ones print with an exponent).
func isCanonicalDecimal(lit []byte) bool {
	s := lit
	if s[0] == '-' {
		s = s[1:]
	}
	dot := bytes.IndexByte(s, '.')
	if dot < 0 || bytes.IndexAny(s, "eE") >= 0 || s[len(s)-1] == '0' {
		return false
	}
	intPart, frac := s[:dot], s[dot+1:]
	if intPart[0] != '0' {
		return len(intPart)+len(frac) <= 15
	}
	zeros := 0
	for zeros < len(frac) && frac[zeros] == '0' {
		zeros++
	}
	return zeros <= 5 && len(frac)-zeros <= 15
}

// overflowDigits are the digits of 2^1024 - 2^970, the least value that rounds to
// +Infinity as a float64 (halfway between MaxFloat64 and 2^1024, which rounds to even).
var overflowDigits = func() string {
	one := big.NewInt(1)
	t := new(big.Int).Sub(new(big.Int).Lsh(one, 1024), new(big.Int).Lsh(one, 970))
	return t.String()
}()

// numberOverflows reports whether a valid number literal's magnitude rounds to Infinity.
func numberOverflows(lit []byte) bool {
	s := lit
	if s[0] == '-' {
		s = s[1:]
	}
	mantissa, exp := s, 0
	if e := bytes.IndexAny(s, "eE"); e >= 0 {
		mantissa = s[:e]
		digits, negative := s[e+1:], false
		switch digits[0] {
		case '-':
			digits, negative = digits[1:], true
		case '+':
			digits = digits[1:]
		}
		for _, d := range digits {
			if exp < 1e9 { // far beyond any decision
				exp = exp*10 + int(d-'0')
			}
		}
		if negative {
			exp = -exp
		}
	}
	// The value is 0.<significant digits> × 10^n.
	intLen := bytes.IndexByte(mantissa, '.')
	if intLen < 0 {
		intLen = len(mantissa)
	}
	first := 0 // index of the first nonzero digit in mantissa
	for first < len(mantissa) && (mantissa[first] == '0' || mantissa[first] == '.') {
		first++
	}
	if first == len(mantissa) {
		return false // zero
	}
	n := exp
	if first < intLen {
		n += intLen - first
	} else {
		n -= first - intLen - 1
	}
	switch {
	case n < len(overflowDigits):
		return false
	case n > len(overflowDigits):
		return true
	}
	k := 0
	for _, d := range mantissa[first:] {
		if d == '.' {
			continue
		}
		if k == len(overflowDigits) {
			return true // equal so far, and overflowDigits has ended
		}
		if d != overflowDigits[k] {
			return d > overflowDigits[k]
		}
		k++
	}
	return k == len(overflowDigits)
}
