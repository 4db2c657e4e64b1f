package jsjson

import "fmt"

// LookupString returns the string value of the top-level member key of the JSON object
// data, with the semantics of Parse followed by Members.Get: the whole text must be valid
// JSON, and with duplicate keys the last value counts. found is false if the object has
// no such member. A value that is not a string is an error wrapping ErrNotString; a valid
// text that is not an object, one wrapping ErrNotObject.
//
// It builds no tree: a verifier can read the signed user_id and account_id of a body
// without parsing it into Values. It allocates only the returned string (plus a buffer
// for an escaped value over 64 bytes); AppendLookupString allocates nothing.
func LookupString(data []byte, key string) (value string, found bool, err error) {
	var buf [64]byte
	b, found, err := AppendLookupString(buf[:0], data, key)
	if !found || err != nil {
		return "", found, err
	}
	return string(b), true, nil
}

// AppendLookupString is LookupString appending the value's decoded bytes (WTF-8) to dst
// instead of returning a string. It allocates nothing unless dst must grow.
func AppendLookupString(dst, data []byte, key string) (_ []byte, found bool, err error) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		end, err := skipValue(data, i, 0)
		if err != nil {
			return dst, false, err
		}
		if end = skipSpace(data, end); end != len(data) {
			return dst, false, unexpected(data, end, "end of input")
		}
		return dst, false, ErrNotObject
	}

	valueStart, valueEnd := -1, -1
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		i++
	} else {
		for {
			if i >= len(data) || data[i] != '"' {
				return dst, false, unexpected(data, i, "a string key")
			}
			end, decode, err := scanString(data, i)
			if err != nil {
				return dst, false, err
			}
			matched := keyEquals(data[i+1:end-1], decode, key)
			i = skipSpace(data, end)
			if i >= len(data) || data[i] != ':' {
				return dst, false, unexpected(data, i, "':'")
			}
			start := skipSpace(data, i+1)
			if end, err = skipValue(data, start, 1); err != nil {
				return dst, false, err
			}
			if matched { // the last duplicate wins, as in JSON.parse
				valueStart, valueEnd = start, end
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
			return dst, false, unexpected(data, i, "',' or '}'")
		}
	}
	if i = skipSpace(data, i); i != len(data) {
		return dst, false, unexpected(data, i, "end of input")
	}

	if valueStart < 0 {
		return dst, false, nil
	}
	if data[valueStart] != '"' {
		return dst, false, fmt.Errorf("%w: member %q is a %s", ErrNotString, key, kindAt(data[valueStart]))
	}
	raw := data[valueStart+1 : valueEnd-1]
	if _, decode, _ := scanString(data, valueStart); decode {
		return appendDecoded(dst, raw), true, nil
	}
	return append(dst, raw...), true, nil
}

// keyEquals reports whether the content of a key literal decodes to key.
func keyEquals(raw []byte, decode bool, key string) bool {
	if !decode {
		return string(raw) == key
	}
	var buf [128]byte
	return string(appendDecoded(buf[:0], raw)) == key
}

func kindAt(c byte) Kind {
	switch c {
	case '{':
		return Object
	case '[':
		return Array
	case '"':
		return String
	case 't', 'f':
		return Bool
	case 'n':
		return Null
	default:
		return Number
	}
}

// skipValue checks the value starting at data[i], nested at depth, as strictly as Parse,
// and returns where it ends.
func skipValue(data []byte, i, depth int) (int, error) {
	if i >= len(data) {
		return i, unexpected(data, i, "a value")
	}
	switch c := data[i]; c {
	case '{', '[':
		if depth+1 > MaxDepth {
			return i, tooDeep(i)
		}
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		i = skipSpace(data, i+1)
		if i < len(data) && data[i] == closer {
			return i + 1, nil
		}
		for {
			var err error
			if c == '{' {
				if i >= len(data) || data[i] != '"' {
					return i, unexpected(data, i, "a string key")
				}
				if i, _, err = scanString(data, i); err != nil {
					return i, err
				}
				if i = skipSpace(data, i); i >= len(data) || data[i] != ':' {
					return i, unexpected(data, i, "':'")
				}
				i = skipSpace(data, i+1)
			}
			if i, err = skipValue(data, i, depth+1); err != nil {
				return i, err
			}
			i = skipSpace(data, i)
			if i < len(data) && data[i] == ',' {
				i = skipSpace(data, i+1)
				continue
			}
			if i < len(data) && data[i] == closer {
				return i + 1, nil
			}
			return i, unexpected(data, i, "',' or '"+string(closer)+"'")
		}
	case '"':
		end, _, err := scanString(data, i)
		return end, err
	case 't':
		return literal(data, i, "true")
	case 'f':
		return literal(data, i, "false")
	case 'n':
		return literal(data, i, "null")
	default:
		if c != '-' && !isDigit(c) {
			return i, unexpected(data, i, "a value")
		}
		return number(data, i)
	}
}
