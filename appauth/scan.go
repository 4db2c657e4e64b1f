package appauth

import "unicode/utf8"

// This file is the allocation-free fast path behind the default-signature check: it
// validates a request body as one JSON text and finds its top-level user_id and account_id
// without building a value. It only ever answers "valid, and here is what I found" for
// input that jsjson.Parse also accepts with the same result; whenever it is not sure (an
// escape sequence in a top-level key or in an identity value, bytes that are not UTF-8,
// nesting deeper than scanMaxDepth) or the body is invalid, it gives up and the caller
// falls back to jsjson, which has the final word. FuzzScanBodyMatchesParser checks the
// agreement.

// scanMaxDepth bounds the nesting the fast path follows; deeper bodies go to jsjson.
const scanMaxDepth = 512

// fieldState is what the scan knows about one identity member, last occurrence winning
// as in JSON.parse.
type fieldState uint8

const (
	fieldAbsent fieldState = iota
	fieldString
	fieldOther // present with a value that is not a string
)

// bodyScan is the result of scanBody: the raw text between the quotes of the top-level
// user_id and account_id strings, which the scan guarantees contain no escape sequence
// and only printable ASCII, so the raw text is the decoded value and JSON.stringify prints
// it unchanged.
type bodyScan struct {
	user, account           []byte
	userState, accountState fieldState
}

// scanBody reports whether it could decide that body is one valid JSON text, and what it
// found. ok == false means "ask jsjson": either the body is invalid or the fast path is
// unsure.
func scanBody(body []byte) (res bodyScan, ok bool) {
	const (
		wantValue  = iota // a value must start at i
		wantKey           // a member name must start at i (after '{' or ',')
		afterValue        // a value just ended
	)
	var stack [scanMaxDepth / 64]uint64 // bit set: that level is an object
	depth := 0
	rootIsObject := false
	// capture points at the identity field whose value starts next, if any.
	var capture *[]byte
	var captureState *fieldState

	i := skipSpace(body, 0)
	state := wantValue
	for {
		switch state {
		case wantValue:
			if i >= len(body) {
				return res, false
			}
			c := body[i]
			if capture != nil {
				if c == '"' {
					end, plain := scanString(body, i)
					if end < 0 || !plain {
						return res, false
					}
					*capture, *captureState = body[i+1:end-1], fieldString
					i = end
					capture, captureState = nil, nil
					state = afterValue
					continue
				}
				*captureState = fieldOther
				capture, captureState = nil, nil
			}
			switch {
			case c == '{' || c == '[':
				if depth == scanMaxDepth {
					return res, false
				}
				if c == '{' {
					stack[depth/64] |= 1 << (depth % 64)
					if depth == 0 {
						rootIsObject = true
					}
				} else {
					stack[depth/64] &^= 1 << (depth % 64)
				}
				depth++
				i = skipSpace(body, i+1)
				if i < len(body) && body[i] == "}]"[boolIndex(c == '[')] {
					depth--
					i++
					state = afterValue
				} else if c == '{' {
					state = wantKey
				}
			case c == '"':
				end, _ := scanString(body, i)
				if end < 0 {
					return res, false
				}
				i, state = end, afterValue
			case c == 't':
				if !hasPrefix(body[i:], "true") {
					return res, false
				}
				i, state = i+4, afterValue
			case c == 'f':
				if !hasPrefix(body[i:], "false") {
					return res, false
				}
				i, state = i+5, afterValue
			case c == 'n':
				if !hasPrefix(body[i:], "null") {
					return res, false
				}
				i, state = i+4, afterValue
			default:
				end := scanNumber(body, i)
				if end < 0 {
					return res, false
				}
				i, state = end, afterValue
			}
		case wantKey:
			if i >= len(body) || body[i] != '"' {
				return res, false
			}
			end, plain := scanString(body, i)
			if end < 0 {
				return res, false
			}
			if depth == 1 && rootIsObject {
				if !plain {
					// An escaped key might spell user_id; let jsjson decode it.
					return res, false
				}
				switch string(body[i+1 : end-1]) {
				case "user_id":
					capture, captureState = &res.user, &res.userState
				case "account_id":
					capture, captureState = &res.account, &res.accountState
				}
			}
			i = skipSpace(body, end)
			if i >= len(body) || body[i] != ':' {
				return res, false
			}
			i = skipSpace(body, i+1)
			state = wantValue
		case afterValue:
			i = skipSpace(body, i)
			if depth == 0 {
				if i != len(body) {
					return res, false
				}
				if !rootIsObject {
					res = bodyScan{}
				}
				return res, true
			}
			if i >= len(body) {
				return res, false
			}
			inObject := stack[(depth-1)/64]&(1<<((depth-1)%64)) != 0
			switch c := body[i]; {
			case c == ',':
				i = skipSpace(body, i+1)
				if inObject {
					state = wantKey
				} else {
					state = wantValue
				}
			case c == '}' && inObject, c == ']' && !inObject:
				depth--
				i++
			default:
				return res, false
			}
		}
	}
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

func hasPrefix(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == prefix
}

// scanString scans the JSON string starting at the quote b[i] and returns the index just
// past its closing quote, or -1 if it is invalid or not plainly UTF-8 (then jsjson decides).
// plain reports that it has no escape sequence and only printable ASCII, so that its raw
// text is its value and JSON.stringify prints it unchanged.
func scanString(b []byte, i int) (end int, plain bool) {
	plain = true
	for i++; i < len(b); {
		c := b[i]
		if plainStringByte[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			return i + 1, plain
		case c == '\\':
			plain = false
			if i+1 >= len(b) {
				return -1, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) {
					return -1, false
				}
				for _, h := range b[i+2 : i+6] {
					if hexValue[h] == 0xff {
						return -1, false
					}
				}
				i += 6
			default:
				return -1, false
			}
		case c < 0x20:
			return -1, false
		case c == 0x7f:
			plain = false
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return -1, false
			}
			plain = false
			i += size
		}
	}
	return -1, false
}

// plainStringByte marks the bytes a string may hold that JSON.stringify prints as they
// are: printable ASCII other than '"' and '\\'.
var plainStringByte = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanNumber scans a JSON number starting at b[i] and returns the index just past it, or -1.
func scanNumber(b []byte, i int) int {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = skipDigits(b, i+1)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		j := skipDigits(b, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := skipDigits(b, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func skipDigits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}
