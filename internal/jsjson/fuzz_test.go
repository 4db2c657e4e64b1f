package jsjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// seedTexts are the fuzz seeds besides the golden payloads: each rule's edge cases.
var seedTexts = []string{
	`{}`, `[]`, `null`, `true`, `"x"`, `0`, `-0`, `1e400`, `5e-324`, `123456789012345678901234`,
	`{"b":1,"10":2,"2":3,"4294967294":4,"4294967295":5,"01":6}`,
	`{"a":1,"a":2}`, `{"user_id":"u","account_id":"a","user\u005fid":"v"}`,
	`"\ud800\udc00\udc00\ud800\ud83dz"`, "\"\u2028<>&\x7f\"", `"\u0000\u001f\b\f\n\r\t\/"`,
	"\"\xff\xe2\x82\xed\xa0\x80\"", `[1E5,-0.0,1e-7,1.7976931348623157e308,0.1]`,
	`[[[[[[[[[[1]]]]]]]]]]`, ` {"a" : [ 1 , { "b" : null } ] } `, `01`, `[1,]`, `"\x"`, "\ufeff{}",
}

func addSeeds(f *testing.F) {
	for _, s := range seedTexts {
		f.Add([]byte(s))
	}
	for _, tc := range loadGolden(f) {
		if tc.PayloadText != nil {
			f.Add([]byte(*tc.PayloadText))
		}
	}
}

// FuzzParse: Parse never panics; whatever it accepts prints as valid JSON that
// encoding/json accepts, and printing is idempotent. LookupString agrees with Parse.
func FuzzParse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Parse(data)
		got, found, lookupErr := LookupString(data, "user_id")
		if err != nil {
			var syntaxErr *SyntaxError
			require.ErrorAs(t, err, &syntaxErr, "Parse error %v is not a *SyntaxError", err)
			require.ErrorAs(t, lookupErr, &syntaxErr, "Parse rejects %q (%v), LookupString says %q, %v, %v", data, err, got, found, lookupErr)
			return
		}

		out := AppendStringify(nil, v)
		require.True(t, json.Valid(out), "stringify(parse(%q)) = %q is not valid JSON", data, out)
		v2, err := Parse(out)
		require.NoError(t, err, "Parse(stringify(parse(%q))) = %v; output %q", data, err, out)
		out2 := AppendStringify(nil, v2)
		require.Equal(t, out2, out, "printing is not idempotent for %q:\n%q\n%q", data, out, out2)

		// LookupString is Parse followed by Get.
		var member Value
		var ok bool
		if v.Kind == Object {
			member, ok = v.Members.Get("user_id")
		}
		switch {
		case v.Kind != Object:
			require.ErrorIs(t, lookupErr, ErrNotObject, "LookupString(%q) error %v, want ErrNotObject", data, lookupErr)
		case ok && member.Kind != String:
			require.ErrorIs(t, lookupErr, ErrNotString, "LookupString(%q) error %v, want ErrNotString", data, lookupErr)
		case lookupErr != nil || found != ok || got != member.Text:
			require.FailNow(t, fmt.Sprintf("LookupString(%q) = %q, %v, %v; Parse+Get = %q, %v", data, got, found, lookupErr, member.Text, ok))
		}
	})
}

// FuzzStringify: AppendString and AppendNumber never panic, print valid JSON that parses
// back to the same string or number, and agree with encoding/json where the two
// languages agree (well-formed UTF-8 strings).
func FuzzStringify(f *testing.F) {
	for _, s := range []string{"", "usr_K6yd2CbXLO9A5G", "<>&\u2028\u2029", "\x00\x1f\x7f\"\\", "😀",
		"\xed\xa0\x80", "\xed\xa0\xbd\xed\xb8\x80", "\xff\xe2\x82", "\ufffd"} {
		f.Add(s, 0.0)
	}
	for _, x := range []float64{1e21, 1e-7, 1.5e-7, 123e-20, 1e20, 5e-324, math.MaxFloat64,
		12345678901234567890, 0.1, -1.5, math.Copysign(0, -1), math.Inf(1), math.NaN()} {
		f.Add("", x)
	}
	f.Fuzz(func(t *testing.T, s string, x float64) {
		quoted := AppendString(nil, s)
		require.True(t, json.Valid(quoted), "AppendString(%q) = %q is not valid JSON", s, quoted)
		v, err := Parse(quoted)
		require.NoError(t, err, "Parse(AppendString(%q)) = %v", s, v.Kind)
		require.Equal(t, String, v.Kind, "Parse(AppendString(%q)) = %v, %v", s, v.Kind, err)
		again := AppendString(nil, v.Text)
		require.Equal(t, quoted, again, "AppendString is not idempotent for %q: %q then %q", s, quoted, again)
		if utf8.ValidString(s) {
			require.Equal(t, s, v.Text, "Parse(AppendString(%q)).Text = %q", s, v.Text)
			var decoded string
			if err := json.Unmarshal(quoted, &decoded); err != nil || decoded != s {
				require.FailNow(t, fmt.Sprintf("encoding/json reads AppendString(%q) = %q as %q, %v", s, quoted, decoded, err))
			}
		}

		num := AppendNumber(nil, x)
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return
		}
		require.True(t, json.Valid(num), "AppendNumber(%v) = %q is not valid JSON", x, num)
		back, err := strconv.ParseFloat(string(num), 64)
		require.NoError(t, err, "AppendNumber(%v) = %q reads back as %v", x, num, back)
		require.Equal(t, x, back, "AppendNumber(%v) = %q reads back as %v, %v", x, num, back, err)
		shortest := strconv.FormatFloat(x, 'g', -1, 64)
		require.LessOrEqual(t, digitCount(string(num)), digitCount(shortest), "AppendNumber(%v) = %q has more digits than %q", x, num, shortest)
		if v, err := Parse(num); err != nil || !bytes.Equal(AppendStringify(nil, v), num) {
			require.FailNow(t, fmt.Sprintf("AppendNumber(%v) = %q does not print back as itself", x, num))
		}
	})
}

// digitCount counts the significant digits of a number's spelling.
func digitCount(s string) int {
	n, started, trailingZeros := 0, false, 0
	for _, c := range []byte(s) {
		if c == 'e' || c == 'E' {
			break
		}
		if c < '0' || c > '9' || !started && c == '0' {
			continue
		}
		started = true
		n++
		if c == '0' {
			trailingZeros++
		} else {
			trailingZeros = 0
		}
	}
	return n - trailingZeros
}
