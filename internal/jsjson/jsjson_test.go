package jsjson

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func stringify(v Value) string { return string(AppendStringify(nil, v)) }

// roundTrip is JSON.stringify(JSON.parse(text)).
func roundTrip(t *testing.T, text string) string {
	t.Helper()
	v, err := Parse([]byte(text))
	require.NoError(t, err, "Parse(%q)", text)
	return stringify(v)
}

// TestParseAndStringify checks each JSON.stringify rule on texts whose JavaScript output
// was taken from Node (JSON.stringify(JSON.parse(text))).
func TestParseAndStringify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"empty object", `{}`, `{}`},
		{"empty array", `[]`, `[]`},
		{"whitespace everywhere", " \t\r\n{ \"a\" :\n1 ,\t\"b\"\r: [ 1 , 2 ] }\n", `{"a":1,"b":[1,2]}`},
		{"scalars at top level", `"x"`, `"x"`},
		{"true", `true`, `true`},
		{"false", `false`, `false`},
		{"null", `null`, `null`},
		{"booleans and null", `{"t":true,"f":false,"n":null}`, `{"t":true,"f":false,"n":null}`},
		{"nested", `{"a":{"b":[1,[2,{"c":null}]]}}`, `{"a":{"b":[1,[2,{"c":null}]]}}`},

		// Key order.
		{"insertion order kept", `{"b":1,"a":2,"c":3}`, `{"b":1,"a":2,"c":3}`},
		{"array-index keys first, ascending", `{"b":1,"10":2,"2":3,"a":4,"0":5}`, `{"0":5,"2":3,"10":2,"b":1,"a":4}`},
		{"largest array index is 4294967294", `{"a":1,"4294967295":2,"4294967294":3}`, `{"4294967294":3,"a":1,"4294967295":2}`},
		{"non-canonical integers are ordinary keys", `{"01":1,"-0":2,"1.0":3,"-1":4,"1e3":5," 1":6,"1 ":7,"+1":8,"00":9,"4294967296":10,"5":11}`,
			`{"5":11,"01":1,"-0":2,"1.0":3,"-1":4,"1e3":5," 1":6,"1 ":7,"+1":8,"00":9,"4294967296":10}`},
		{"escaped integer key", `{"b":1,"\u0031":2}`, `{"1":2,"b":1}`},
		{"duplicate key keeps first position, last value", `{"a":1,"b":2,"a":3}`, `{"a":3,"b":2}`},
		{"duplicate key with escape", `{"a":1,"b":2,"\u0061":3}`, `{"a":3,"b":2}`},
		{"duplicate integer key", `{"2":"a","1":"b","2":"c"}`, `{"1":"b","2":"c"}`},
		{"duplicate nested object replaced whole", `{"o":{"x":1},"o":{"y":2}}`, `{"o":{"y":2}}`},
		{"__proto__ is an ordinary key", `{"__proto__":{"x":1},"a":2}`, `{"__proto__":{"x":1},"a":2}`},

		// Strings.
		{"html characters not escaped", `"<script>&amp;</script>"`, `"<script>&amp;</script>"`},
		{"line separators raw", "\"a\u2028b\u2029c\"", "\"a\u2028b\u2029c\""},
		{"line separators from escapes print raw", `"\u2028\u2029"`, "\"\u2028\u2029\""},
		{"short escapes", `"\b\f\n\r\t\"\\"`, `"\b\f\n\r\t\"\\"`},
		{"other control characters lowercase hex", `"\u0000\u0001\u000B\u001F"`, `"\u0000\u0001\u000b\u001f"`},
		{"DEL and C1 raw", `"\u007f\u0080\u009F"`, "\"\u007f\u0080\u009f\""},
		{"solidus unescaped", `"\/a\/b"`, `"/a/b"`},
		{"needless unicode escapes", `"\u0041\u00e9\u20AC"`, `"Aé€"`},
		{"escaped surrogate pair joins", `"\ud83d\ude00\uD834\uDD1E"`, `"😀𝄞"`},
		{"astral raw", `"🙂👩‍💻"`, `"🙂👩‍💻"`},
		{"lone high surrogate", `"\uD800"`, `"\ud800"`},
		{"lone low surrogate", `"\uDFFF"`, `"\udfff"`},
		{"reversed pair stays two lone surrogates", `"\udc00\ud800"`, `"\udc00\ud800"`},
		{"high surrogate before a pair", `"\ud800\ud83d\ude00"`, `"\ud800😀"`},
		{"pair then extra low surrogate", `"\ud83d\ude00\ude00"`, `"😀\ude00"`},
		{"high surrogate then letter", `"\ud83dz"`, `"\ud83dz"`},
		{"lone surrogate keys", `{"\udfff":1,"\ud800x":2}`, `{"\udfff":1,"\ud800x":2}`},
		{"noncharacters raw", `"\ufeff\uffff\ufffe"`, "\"\ufeff\uffff\ufffe\""},

		// Invalid UTF-8 decodes as a JavaScript server decodes a body (Node's
		// Buffer#toString gives these outputs).
		{"invalid byte", "\"a\xffb\"", "\"a\uFFFDb\""},
		{"truncated three-byte sequence is one U+FFFD", "\"\xe2\x82A\"", "\"\uFFFDA\""},
		{"encoded surrogate is three U+FFFD", "\"\xed\xa0\x80\"", "\"\uFFFD\uFFFD\uFFFD\""},
		{"truncated four-byte sequence", "\"\xf0\x9f\x98\"", "\"\uFFFD\""},
		{"overlong encoding", "\"\xc0\xaf\"", "\"\uFFFD\uFFFD\""},
		{"beyond U+10FFFF", "\"\xf4\x90\x80\x80\"", "\"\uFFFD\uFFFD\uFFFD\uFFFD\""},
		{"invalid byte in key", "{\"k\xff\":1}", "{\"k\uFFFD\":1}"},

		// Numbers.
		{"integers", `[0,1,-1,100,123456789012345]`, `[0,1,-1,100,123456789012345]`},
		{"negative zero", `[-0,-0.0,-0e5,-1e-400]`, `[0,0,0,0]`},
		{"fractions", `[1.0,1.50,-2.500,0.1,4.35]`, `[1,1.5,-2.5,0.1,4.35]`},
		{"exponent spellings", `[1E5,1e+5,1E+0,1e-0,0.5e1,123.456e3,10e-8]`, `[100000,100000,1,1,5,123456,1e-7]`},
		{"shortest round trip", `[0.30000000000000004,3.141592653589793]`, `[0.30000000000000004,3.141592653589793]`},
		{"1e21 switches to exponent form", `[1e20,999999999999999999999,1e21,1.2345e21]`, `[100000000000000000000,1e+21,1e+21,1.2345e+21]`},
		{"1e-7 switches to exponent form", `[0.000001,1.5e-6,1e-7,1.5e-7,123e-20]`, `[0.000001,0.0000015,1e-7,1.5e-7,1.23e-18]`},
		{"integers beyond 2^53 round", `[9007199254740993,12345678901234567890,123456789012345678901234,18446744073709551615]`,
			`[9007199254740992,12345678901234567000,1.2345678901234569e+23,18446744073709552000]`},
		{"overflow to Infinity prints null", `[1e400,-1e400,1.7976931348623159e308]`, `[null,null,null]`},
		{"largest double", `[1.7976931348623157e308,1.7976931348623158e308]`, `[1.7976931348623157e+308,1.7976931348623157e+308]`},
		{"subnormals", `[5e-324,2.5e-324,2.4e-324,4.9406564584124654e-324]`, `[5e-324,5e-324,0,5e-324]`},
		{"long mantissa rounds correctly", `[9007199254740993.00000000000000000000000000000000000001]`, `[9007199254740994]`},
		{"sixteen digits", `[1234567890123456,-1234567890123456]`, `[1234567890123456,-1234567890123456]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := roundTrip(t, tt.in)
			require.Equal(t, tt.want, got, "stringify(parse(%q))\n got %s\nwant %s", tt.in, got, tt.want)
		})
	}
}

// TestParseRejects lists texts that JSON.parse rejects.
func TestParseRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		offset   int
	}{
		{"empty", ``, 0},
		{"only whitespace", " \n", 2},
		{"byte order mark", "\ufeff{}", 0},
		{"leading zero", `01`, 1},
		{"negative leading zero", `[-01]`, 3},
		{"lone minus", `-`, 1},
		{"trailing dot", `1.`, 2},
		{"leading dot", `.5`, 0},
		{"empty exponent", `1e`, 2},
		{"exponent sign only", `1e+`, 3},
		{"plus sign", `+1`, 0},
		{"NaN", `NaN`, 0},
		{"Infinity", `Infinity`, 0},
		{"hex number", `0x10`, 1},
		{"trailing comma in array", `[1,]`, 3},
		{"trailing comma in object", `{"a":1,}`, 7},
		{"unquoted key", `{a:1}`, 1},
		{"single quotes", `{'a':1}`, 1},
		{"missing colon", `{"a" 1}`, 5},
		{"missing value", `{"a":}`, 5},
		{"bad escape", `"\x"`, 1},
		{"uppercase U escape", `"\U0041"`, 1},
		{"short unicode escape", `"\u12"`, 5},
		{"non-hex unicode escape", `"\u12g4"`, 5},
		{"raw tab in string", "\"a\tb\"", 2},
		{"raw newline in string", "\"a\nb\"", 2},
		{"raw NUL in string", "\"\x00\"", 1},
		{"unterminated string", `"abc`, 0},
		{"unterminated escape", `"\`, 2},
		{"second top-level value", `[1] 2`, 4},
		{"trailing garbage", `{}x`, 2},
		{"truncated true", `tru`, 3},
		{"misspelled null", `nul1`, 3},
		{"unclosed array", `[1`, 2},
		{"unclosed object", `{"a":1`, 6},
		{"vertical tab is not whitespace", "\v1", 0},
		{"form feed is not whitespace", "\f1", 0},
		{"no-break space is not whitespace", "\u00a01", 0},
		{"invalid byte outside strings", "[\xff]", 1},
		{"comment", `{} // no`, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := Parse([]byte(tt.in))
			if err == nil {
				require.FailNow(t, fmt.Sprintf("Parse(%q) = %s, want an error", tt.in, stringify(v)))
			}
			var syntaxErr *SyntaxError
			require.ErrorAs(t, err, &syntaxErr, "Parse(%q) error %v (%T), want a *SyntaxError", tt.in, err, err)
			if syntaxErr.Offset != tt.offset {
				require.FailNow(t, fmt.Sprintf("Parse(%q) error %q: offset %d, want %d", tt.in, err, syntaxErr.Offset, tt.offset))
			}
			require.True(t, strings.HasPrefix(err.Error(), "jsjson: "), "error %q lacks the package prefix", err)
		})
	}
}

func TestParseDepthLimit(t *testing.T) {
	t.Parallel()
	nested := func(open, close string, depth int) []byte {
		return []byte(strings.Repeat(open, depth) + strings.Repeat(close, depth))
	}
	tests := []struct {
		name    string
		in      []byte
		tooDeep bool
	}{
		{"arrays at the limit", nested("[", "]", MaxDepth), false},
		{"arrays beyond the limit", nested("[", "]", MaxDepth+1), true},
		{"objects at the limit", []byte(strings.Repeat(`{"a":`, MaxDepth-1) + "{}" + strings.Repeat("}", MaxDepth-1)), false},
		{"objects beyond the limit", []byte(strings.Repeat(`{"a":`, MaxDepth) + "{}" + strings.Repeat("}", MaxDepth)), true},
		{"a million brackets", nested("[", "]", 1_000_000), true},
		{"a million unclosed brackets", []byte(strings.Repeat("[", 1_000_000)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := Parse(tt.in)
			_, _, lookupErr := LookupString(tt.in, "a")
			if !tt.tooDeep {
				require.NoError(t, err, "Parse")
				got := stringify(v)
				require.Equal(t, string(tt.in), got, "stringify(parse(x)) differs from x (%d bytes vs %d)", len(got), len(tt.in))
				require.False(t, lookupErr != nil && !errors.Is(lookupErr, ErrNotObject) && !errors.Is(lookupErr, ErrNotString), "LookupString: %v", lookupErr)
				return
			}
			require.ErrorIs(t, err, ErrTooDeep, "Parse error %v, want ErrTooDeep", err)
			require.ErrorIs(t, lookupErr, ErrTooDeep, "LookupString error %v, want ErrTooDeep", lookupErr)
		})
	}
}

func TestParseStringsAsWTF8(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"plain", `"abc"`, "abc"},
		{"escapes", `"\"\\\/\b\f\n\r\t"`, "\"\\/\b\f\n\r\t"},
		{"NUL", `"\u0000"`, "\x00"},
		{"pair joins into UTF-8", `"\ud83d\ude00"`, "😀"},
		{"lone high surrogate is WTF-8", `"\ud800"`, "\xed\xa0\x80"},
		{"lone low surrogate is WTF-8", `"\udfff"`, "\xed\xbf\xbf"},
		{"raw encoded surrogate is not a surrogate", "\"\xed\xa0\x80\"", "\uFFFD\uFFFD\uFFFD"},
		{"raw U+FFFD kept", "\"\uFFFD\"", "\uFFFD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := Parse([]byte(tt.in))
			require.NoError(t, err)
			require.Equal(t, String, v.Kind, "Parse(%q) = %v %q, want string %q", tt.in, v.Kind, v.Text, tt.want)
			require.Equal(t, tt.want, v.Text, "Parse(%q) = %v %q, want string %q", tt.in, v.Kind, v.Text, tt.want)
		})
	}
}

func TestNumberTextIsKept(t *testing.T) {
	t.Parallel()
	v, err := Parse([]byte(`[1.50,1E5,-0,123456789012345678901234]`))
	require.NoError(t, err)
	var got []string
	for _, e := range v.Elems {
		got = append(got, e.Text)
	}
	want := []string{"1.50", "1E5", "-0", "123456789012345678901234"}
	require.True(t, slices.Equal(got, want), "number texts %q, want %q", got, want)
	f, ok := v.Elems[1].Float()
	require.True(t, ok, "Float() = %v, %v, want 100000, true", f, ok)
	require.Equal(t, 1e5, f, "Float() = %v, %v, want 100000, true", f, ok)
}

func TestAppendNumber(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   float64
		want string
	}{
		{"zero", 0, "0"},
		{"negative zero", math.Copysign(0, -1), "0"},
		{"NaN", math.NaN(), "NaN"},
		{"Infinity", math.Inf(1), "Infinity"},
		{"-Infinity", math.Inf(-1), "-Infinity"},
		{"integer", 100, "100"},
		{"negative integer", -42, "-42"},
		{"2^53", 1 << 53, "9007199254740992"},
		{"2^53+2", 1<<53 + 2, "9007199254740994"},
		{"above 2^64", 12345678901234567890, "12345678901234567000"},
		{"1e20 plain", 1e20, "100000000000000000000"},
		{"1e21 exponent", 1e21, "1e+21"},
		{"k <= n <= 21 with zeros", 1.2345e20, "123450000000000000000"},
		{"0 < n <= 21", 123.456, "123.456"},
		{"-6 < n <= 0", 0.000123, "0.000123"},
		{"1e-6 plain", 1e-6, "0.000001"},
		{"1e-7 exponent", 1e-7, "1e-7"},
		{"1.5e-7", 1.5e-7, "1.5e-7"},
		{"small with several digits", 1.23e-18, "1.23e-18"},
		{"big with several digits", 1.2345678901234568e23, "1.2345678901234569e+23"},
		{"1e100", 1e100, "1e+100"},
		{"largest", math.MaxFloat64, "1.7976931348623157e+308"},
		{"smallest subnormal", 5e-324, "5e-324"},
		{"smallest normal", 2.2250738585072014e-308, "2.2250738585072014e-308"},
		{"0.1+0.2 in float64 arithmetic", 0.30000000000000004, "0.30000000000000004"},
		{"negative fraction", -1.5, "-1.5"},
		{"negative exponent form", -1e-10, "-1e-10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := string(AppendNumber(nil, tt.in))
			require.Equal(t, tt.want, got, "AppendNumber(%v) = %s, want %s", tt.in, got, tt.want)
		})
	}
}

func TestAppendString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", `""`},
		{"plain", "usr_K6yd2CbXLO9A5G", `"usr_K6yd2CbXLO9A5G"`},
		{"quote and backslash", `a"b\c`, `"a\"b\\c"`},
		{"short escapes", "\b\f\n\r\t", `"\b\f\n\r\t"`},
		{"control characters", "\x00\x01\x0b\x1f", `"\u0000\u0001\u000b\u001f"`},
		{"DEL raw", "\x7f", "\"\x7f\""},
		{"no HTML escaping", "<>&", `"<>&"`},
		{"U+2028 and U+2029 raw", "\u2028\u2029", "\"\u2028\u2029\""},
		{"slash raw", "a/b", `"a/b"`},
		{"astral raw", "😀", `"😀"`},
		{"WTF-8 lone surrogate", "a\xed\xa0\x80b", `"a\ud800b"`},
		{"WTF-8 low surrogate", "\xed\xbf\xbf", `"\udfff"`},
		{"WTF-8 pair joins as in JavaScript concatenation", "\xed\xa0\xbd\xed\xb8\x80", `"😀"`},
		{"WTF-8 reversed pair", "\xed\xb8\x80\xed\xa0\xbd", `"\ude00\ud83d"`},
		{"invalid byte", "a\xffb", "\"a\uFFFDb\""},
		{"truncated sequence", "\xe2\x82", "\"\uFFFD\""},
		{"truncated surrogate encoding", "\xed\xa0", "\"\uFFFD\uFFFD\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := string(AppendString(nil, tt.in))
			require.Equal(t, tt.want, got, "AppendString(%q) = %s, want %s", tt.in, got, tt.want)
		})
	}
}

func TestStringifyHandBuiltValues(t *testing.T) {
	t.Parallel()
	obj := NewObject()
	obj.Members.Set("b", BoolValue(true))
	obj.Members.Set("3", NumberValue(-0.0))
	obj.Members.Set("a", NewArray(NullValue(), StringValue("x"), NumberValue(math.Inf(1)), NumberValue(math.NaN())))

	cyclic := NewObject()
	cyclic.Members.Set("self", cyclic)
	deepest := stringify(cyclic)

	tests := []struct {
		name string
		in   Value
		want string
	}{
		{"object", obj, `{"3":0,"b":true,"a":[null,"x",null,null]}`},
		{"zero value is null", Value{}, `null`},
		{"object with nil members", Value{Kind: Object}, `{}`},
		{"array with nil elements", Value{Kind: Array}, `[]`},
		{"number with bad text", Value{Kind: Number, Text: "0x10"}, `null`},
		{"number with Go-only syntax", Value{Kind: Number, Text: "1_000"}, `null`},
		{"number with leading zero", Value{Kind: Number, Text: "007"}, `null`},
		{"number text normalised", Value{Kind: Number, Text: "1E3"}, `1000`},
		{"unknown kind", Value{Kind: 42}, `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := stringify(tt.in)
			require.Equal(t, tt.want, got)
		})
	}
	t.Run("cycle stops at MaxDepth", func(t *testing.T) {
		t.Parallel()
		want := strings.Repeat(`{"self":`, MaxDepth) + "null" + strings.Repeat("}", MaxDepth)
		require.Equal(t, want, deepest, "cyclic object printed %d bytes, want %d", len(deepest), len(want))
	})
}

func TestMembers(t *testing.T) {
	t.Parallel()
	keys := func(m *Members) []string {
		var ks []string
		for k := range m.All() {
			ks = append(ks, k)
		}
		return ks
	}
	for _, size := range []int{3, linearLookupMax + 5} { // without and with the index
		t.Run(strconv.Itoa(size)+" members", func(t *testing.T) {
			t.Parallel()
			m := &Members{}
			var want []string
			for i := range size {
				k := "k" + strconv.Itoa(i)
				m.Set(k, NumberValue(float64(i)))
				want = append(want, k)
			}
			got := m.Len()
			require.Equal(t, size, got, "Len() = %d, want %d", got, size)

			m.Set("k1", StringValue("new")) // spread semantics: position kept
			if got := keys(m); !slices.Equal(got, want) {
				require.FailNow(t, fmt.Sprintf("after Set of an existing key: keys %q, want %q", got, want))
			}
			v, ok := m.Get("k1")
			require.True(t, ok, "Get(k1) = %v, %v, want the new value", v, ok)
			require.Equal(t, "new", v.Text, "Get(k1) = %v, %v, want the new value", v, ok)

			m.Delete("k0")
			m.Set("k0", NullValue()) // deleted then set: goes last
			want = append(want[1:], "k0")
			if got := keys(m); !slices.Equal(got, want) {
				require.FailNow(t, fmt.Sprintf("after Delete and Set: keys %q, want %q", got, want))
			}
			for i, k := range want {
				_, ok := m.Get(k)
				require.True(t, ok, "Get(%q) (member %d) not found", k, i)
			}
			m.Delete("missing")
			if _, ok := m.Get("missing"); ok || m.Len() != size {
				require.FailNow(t, fmt.Sprintf("Delete of a missing key changed the members"))
			}

			c := m.Clone()
			c.Set("extra", NullValue())
			c.Delete("k2")
			require.Equal(t, size, m.Len(), "changing a clone changed the original")
		})
	}
	t.Run("nil members read as empty", func(t *testing.T) {
		t.Parallel()
		var m *Members
		require.False(t, m.Len() != 0 || len(keys(m)) != 0 || m.Clone().Len() != 0, "nil *Members not empty")
		_, ok := m.Get("a")
		require.False(t, ok, "Get on nil *Members found a key")
	})
	t.Run("All stops when asked", func(t *testing.T) {
		t.Parallel()
		m := &Members{}
		m.Set("a", NullValue())
		m.Set("b", NullValue())
		n := 0
		for range m.All() {
			n++
			break
		}
		require.Equal(t, 1, n, "iterated %d times after break, want 1", n)
	})
	t.Run("large parsed object with duplicates", func(t *testing.T) {
		t.Parallel()
		var b strings.Builder
		b.WriteString("{")
		for i := range 40 {
			b.WriteString(`"k` + strconv.Itoa(i%30) + `":` + strconv.Itoa(i) + ",")
		}
		b.WriteString(`"7":0}`)
		v, err := Parse([]byte(b.String()))
		require.NoError(t, err)
		got, want := v.Members.Len(), 31
		require.Equal(t, want, got, "Len() = %d, want %d", got, want)
		if got, _ := v.Members.Get("k5"); got.Text != "35" {
			require.FailNow(t, fmt.Sprintf("k5 = %s, want the last value 35", got.Text))
		}
		if got := keys(v.Members)[:3]; !slices.Equal(got, []string{"k0", "k1", "k2"}) {
			require.FailNow(t, fmt.Sprintf("first keys %q, want k0 k1 k2", got))
		}
	})
}

// TestSpreadSemantics checks the verifier's use: {...payload, user_id, account_id}.
func TestSpreadSemantics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, payload, want string
	}{
		{"payload keys first", `{"amount":5,"1":true}`, `{"1":true,"amount":5,"user_id":"usr_1","account_id":"acct_1"}`},
		{"user_id in the payload keeps its place", `{"user_id":"spoof","x":1}`, `{"user_id":"usr_1","x":1,"account_id":"acct_1"}`},
		{"both ids reversed", `{"account_id":"a","z":0,"user_id":"u"}`, `{"account_id":"acct_1","z":0,"user_id":"usr_1"}`},
		{"empty payload", `{}`, `{"user_id":"usr_1","account_id":"acct_1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := Parse([]byte(tt.payload))
			require.NoError(t, err)
			v.Members.Set("user_id", StringValue("usr_1"))
			v.Members.Set("account_id", StringValue("acct_1"))
			got := stringify(v)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestLookupString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, key string
		want          string
		found         bool
		err           error // nil, a sentinel, or errSyntax for any *SyntaxError
	}{
		{"found", `{"user_id":"usr_1","account_id":"acct_1"}`, "account_id", "acct_1", true, nil},
		{"missing", `{"user_id":"usr_1"}`, "account_id", "", false, nil},
		{"empty object", ` { } `, "a", "", false, nil},
		{"empty string value", `{"a":""}`, "a", "", true, nil},
		{"last duplicate wins", `{"a":"1","b":"x","a":"2"}`, "a", "2", true, nil},
		{"escaped key matches", `{"user\u005fid":"u"}`, "user_id", "u", true, nil},
		{"escaped value decoded", `{"a":"\u00e9\n\ud83d\ude00"}`, "a", "é\n😀", true, nil},
		{"lone surrogate value as WTF-8", `{"a":"\ud800"}`, "a", "\xed\xa0\x80", true, nil},
		{"nested keys ignored", `{"x":{"a":"inner"},"a":"outer","y":["a"]}`, "a", "outer", true, nil},
		{"only nested key", `{"x":{"a":"inner"}}`, "a", "", false, nil},
		{"invalid UTF-8 value", "{\"a\":\"\xff\"}", "a", "\uFFFD", true, nil},
		{"not a string", `{"a":12}`, "a", "", false, ErrNotString},
		{"last duplicate not a string", `{"a":"x","a":null}`, "a", "", false, ErrNotString},
		{"array", `["a"]`, "a", "", false, ErrNotObject},
		{"string", `"a"`, "a", "", false, ErrNotObject},
		{"invalid later in the text", `{"a":"x","b":01}`, "a", "", false, errSyntax},
		{"trailing garbage", `{"a":"x"} {}`, "a", "", false, errSyntax},
		{"invalid non-object", `[1,]`, "a", "", false, errSyntax},
		{"empty input", ``, "a", "", false, errSyntax},
		{"bad escape in key", `{"\x":"1"}`, "a", "", false, errSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, found, err := LookupString([]byte(tt.in), tt.key)
			require.Equal(t, tt.want, got, "LookupString(%q, %q) = %q, %v, want %q, %v", tt.in, tt.key, got, found, tt.want, tt.found)
			require.True(t, found == tt.found, "LookupString(%q, %q) = %q, %v, want %q, %v", tt.in, tt.key, got, found, tt.want, tt.found)
			checkLookupError(t, err, tt.err)

			// The same answer as Parse followed by Get.
			v, parseErr := Parse([]byte(tt.in))
			require.True(t, (parseErr != nil) == (tt.err == errSyntax), "Parse error %v disagrees with LookupString error %v", parseErr, err)
			if parseErr == nil && v.Kind == Object {
				m, ok := v.Members.Get(tt.key)
				require.True(t, ok == (found || tt.err == ErrNotString), "Parse+Get = %v %q, %v; LookupString = %q, %v", m.Kind, m.Text, ok, got, found)
				require.False(t, found && m.Text != got, "Parse+Get = %v %q, %v; LookupString = %q, %v", m.Kind, m.Text, ok, got, found)
			}
		})
	}
}

var errSyntax = errors.New("any syntax error")

func checkLookupError(t *testing.T, got, want error) {
	t.Helper()
	var syntaxErr *SyntaxError
	switch {
	case want == nil && got != nil:
		require.FailNow(t, fmt.Sprintf("error %v, want none", got))
	case want == errSyntax && !errors.As(got, &syntaxErr):
		require.FailNow(t, fmt.Sprintf("error %v, want a *SyntaxError", got))
	case want != nil && want != errSyntax && !errors.Is(got, want):
		require.FailNow(t, fmt.Sprintf("error %v, want %v", got, want))
	}
}

func TestAllocations(t *testing.T) {
	body := []byte(`{"user_id":"usr_K6yd2CbXLO9A5G","account_id":"acct_1JSkf6FRwUQjTSJE"}`)
	payload, err := Parse([]byte(`{"2":1,"amount":1000,"currency":"usd","price":12.5,"ok":true,"1":null,"s":"a\u2028<b>\n"}`))
	require.NoError(t, err)
	dst := make([]byte, 0, 1024)
	tests := []struct {
		name string
		want float64
		run  func()
	}{
		{"AppendLookupString", 0, func() { _, _, _ = AppendLookupString(dst[:0], body, "account_id") }},
		{"LookupString", 1, func() { _, _, _ = LookupString(body, "account_id") }},
		{"AppendStringify", 0, func() { _ = AppendStringify(dst[:0], payload) }},
		{"AppendNumber", 0, func() { _ = AppendNumber(dst[:0], 1.5e-7) }},
		{"AppendString", 0, func() { _ = AppendString(dst[:0], "usr_K6yd2CbXLO9A5G\u2028\xed\xa0\x80") }},
	}
	for _, tt := range tests {
		got := testing.AllocsPerRun(100, tt.run)
		require.Equal(t, tt.want, got, "%s: %v allocations per run, want %v", tt.name, got, tt.want)
	}
}
