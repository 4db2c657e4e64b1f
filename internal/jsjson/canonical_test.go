package jsjson

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// assertCanonicalMatchesReference checks AppendCanonical against the reference printer,
// AppendStringify(Parse(data)): the same bytes, or the same error; dst is kept.
func assertCanonicalMatchesReference(t *testing.T, c *Canonicalizer, data []byte) {
	t.Helper()
	prefix := []byte("prefix:")
	got, err := c.Append(bytes.Clone(prefix), data)
	v, wantErr := Parse(data)
	switch {
	case wantErr != nil:
		require.EqualError(t, err, wantErr.Error(), "AppendCanonical(%q) error %v, Parse error %v", data, err, wantErr)
		require.Equal(t, prefix, got, "AppendCanonical(%q) changed dst to %q on error", data, got)
	case err != nil:
		require.FailNow(t, fmt.Sprintf("AppendCanonical(%q): %v; Parse accepts it", data, err))
	default:
		if want := AppendStringify(bytes.Clone(prefix), v); !bytes.Equal(got, want) {
			require.FailNow(t, fmt.Sprintf("AppendCanonical(%q)\n got %q\nwant %q", data, got, want))
		}
	}
}

func TestAppendCanonical(t *testing.T) {
	t.Parallel()
	many := func(format string, n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(format, i, i)
		}
		return strings.Join(parts, ",")
	}
	texts := append([]string{}, seedTexts...)
	texts = append(texts,
		// reordering and duplicates, nested in each other and in arrays
		`{"b":1,"a":2,"b":3}`, `{"a":{"1":1,"0":0},"0":{"b":1,"b":{"2":2,"1":1}},"a":[{"9":9,"x":1,"8":8}]}`,
		`[{"x":1,"x":2},{"y":{"3":[],"z":{},"3":{"1":1,"0":0}}}]`, `{"":1,"":2}`, `{"a\u0062":1,"ab":2}`,
		`{"1":1,"01":2,"1.0":3,"-0":4,"4294967294":5,"4294967295":6,"0":7}`,
		`{ "z" : 1 , "1" : [ 1 , { "2" : 2 , "1" : 1 } ] }`,
		// more members than the linear lookup handles, with and without duplicates
		"{"+many(`"k%d":%d`, 100)+"}", "{"+many(`"k%d":%d`, 100)+`,"k7":"last","k99":{"1":1,"0":0}}`,
		"{"+many(`"%d":%d`, 50)+"}", `{"a":[`+many(`{"%d":%d,"b":0,"b":1}`, 40)+`]}`,
		// numbers: canonical and not
		`[0,-0,1,-1,0.5,-0.5,0.000001,0.0000001,1.25,123456789012345,1234567890123456,0.1234567890123456]`,
		`[1.0,1.50,1e0,1E2,1e21,1e-7,2e308,-2e308,1.7976931348623157e308,1.7976931348623158e308,1.797693134862315808e308]`,
		`[100.5,999999999999999.9,0.00001,0.000012345678901234,12.34e-2,0e5,-0.0e-5,5e-324,2e-324,1e-400]`,
		// strings
		`["\u00e9\u0301","é","\uD83D\uDE00","\uDE00\uD83D","\ud800x","a\/b","\u007f","\u2028","\"\\"]`,
		"[\"\xc3\x28\",\"\xf0\x9f\x98\",\"\xed\xa0\x80\",\"\xef\xbf\xbd\"]",
		// errors at every place
		`{"a":1,}`, `{"a" 1}`, `{"a":}`, `{1:2}`, `[1 2]`, `{"a":1]`, `[1}`, `  `, ``, `{"a":[1,{"b":tru}]}`,
		`{"a":"\q"}`, `[-]`, `[1.]`, `[1e]`, `"abc`, `{"a":1}x`, `[01]`,
		strings.Repeat("[", MaxDepth)+strings.Repeat("]", MaxDepth),
		strings.Repeat("[", MaxDepth+1)+strings.Repeat("]", MaxDepth+1),
		strings.Repeat(`{"1":0,"a":`, MaxDepth-1)+"{}"+strings.Repeat("}", MaxDepth-1),
	)
	for _, tc := range loadGolden(t) {
		texts = append(texts, tc.Signed)
		if tc.PayloadText != nil {
			texts = append(texts, *tc.PayloadText)
		}
	}
	var c Canonicalizer // reused, as the verifier does
	for _, text := range texts {
		assertCanonicalMatchesReference(t, &c, []byte(text))
	}
}

// TestAppendCanonicalNumbers checks the number fast paths (a literal already in
// JavaScript's spelling is copied; an overflow is found without strconv) against the
// reference on literals of every shape.
func TestAppendCanonicalNumbers(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	digits := func(n int, leadingZeroOK bool) string {
		var b strings.Builder
		for i := range n {
			d := byte('0' + r.IntN(10))
			if i == 0 && !leadingZeroOK && d == '0' {
				d = '1'
			}
			b.WriteByte(d)
		}
		return b.String()
	}
	literal := func() string {
		var b strings.Builder
		if r.IntN(2) == 0 {
			b.WriteByte('-')
		}
		if r.IntN(3) == 0 {
			b.WriteByte('0')
		} else {
			b.WriteString(digits(1+r.IntN(20), false))
		}
		if r.IntN(2) == 0 {
			b.WriteString("." + strings.Repeat("0", r.IntN(8)) + digits(1+r.IntN(18), true))
		}
		if r.IntN(3) == 0 {
			b.WriteString([]string{"e", "E", "e+", "e-"}[r.IntN(4)] + strconv.Itoa(r.IntN(400)))
		}
		return b.String()
	}
	var c Canonicalizer
	for range 200000 {
		assertCanonicalMatchesReference(t, &c, []byte(literal()))
	}
	// Around the overflow boundary, 2^1024 - 2^970.
	for _, s := range []string{
		overflowDigits, overflowDigits + "0", overflowDigits[:len(overflowDigits)-1] + "1",
		overflowDigits[:len(overflowDigits)-1] + "1" + "9", overflowDigits[:300], overflowDigits[:17] + "e291",
		"1" + overflowDigits, "0." + overflowDigits + "e309", "0.0" + overflowDigits + "e310", "179769313486231580e291",
		"17976931348623158e292", "17976931348623157e292", "17976931348623159e292", "1797693134862315799999999999e280",
	} {
		assertCanonicalMatchesReference(t, &c, []byte(s))
		assertCanonicalMatchesReference(t, &c, []byte("-"+s))
	}
}

// forgedBody is the body of the hardening issue: a claimed identity and about size
// bytes of zeros in an array.
func forgedBody(size int) []byte {
	const head, tail = `{"user_id":"a","account_id":"b","x":[0`, `]}`
	return []byte(head + strings.Repeat(",0", max((size-len(head)-len(tail))/2, 0)) + tail)
}

func TestAppendCanonicalAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("builds megabyte texts")
	}
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"array of zeros", forgedBody(1 << 20)},
		{"object with 50000 keys", []byte("{" + strings.Repeat(`"k":0,`, 1) + func() string {
			var b strings.Builder
			for i := range 50000 {
				fmt.Fprintf(&b, `"%d":%d,"k%d":[1.5,"\u00e9"],`, i, i, i)
			}
			return b.String()
		}() + `"z":0}`)},
		{"nested reordered objects", []byte(strings.Repeat(`{"1":0,"a":`, MaxDepth-2) + string(forgedBody(1<<20)) + strings.Repeat("}", MaxDepth-2))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Canonicalizer
			out := make([]byte, 0, 2*len(tc.body))
			_, err := c.Append(out[:0], tc.body)
			require.NoError(t, err)
			// Once the scratch space has grown, reprinting the same text allocates nothing.
			allocs := testing.AllocsPerRun(3, func() { _, _ = c.Append(out[:0], tc.body) })
			require.EqualValues(t, 0, allocs, "%v allocations per reprint, want 0", allocs)
		})
	}
}

// FuzzCanonical checks the streaming printer against the reference printer on arbitrary
// input: the same output for every text Parse accepts, the same error otherwise.
func FuzzCanonical(f *testing.F) {
	addSeeds(f)
	for _, s := range []string{`{"b":1,"a":2,"b":3}`, `{"a":{"1":1,"0":0},"0":{"b":1,"b":{"2":2,"1":1}}}`, `[1.50,1e21,2e308]`} {
		f.Add([]byte(s))
	}
	var c Canonicalizer
	f.Fuzz(func(t *testing.T, data []byte) {
		assertCanonicalMatchesReference(t, &c, data)
		if out, err := AppendCanonical(nil, data); err == nil {
			// Printing is idempotent.
			if again, err := AppendCanonical(nil, out); err != nil || !bytes.Equal(again, out) {
				require.FailNow(t, fmt.Sprintf("AppendCanonical(%q) = %q, and again %q, %v", data, out, again, err))
			}
		}
	})
}

// BenchmarkReprintForgedBody compares the streaming printer with Parse + AppendStringify
// on the 1 MB body of the hardening issue, per body byte and per megabyte.
func BenchmarkReprintForgedBody(b *testing.B) {
	body := forgedBody(1 << 20)
	report := func(b *testing.B, run func() []byte) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for b.Loop() {
			out := run()
			require.Len(b, out, len(body), "printed %d bytes, want %d", len(out), len(body))
		}
		runtime.ReadMemStats(&after)
		n := float64(b.N)
		b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/n/float64(len(body)), "B/body-byte")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n/(float64(len(body))/1e6), "ns/MB")
	}
	b.Run("Canonicalizer", func(b *testing.B) {
		var c Canonicalizer
		var out []byte
		report(b, func() []byte {
			out, _ = c.Append(out[:0], body)
			return out
		})
	})
	b.Run("ParseStringify", func(b *testing.B) {
		report(b, func() []byte {
			v, _ := Parse(body)
			return AppendStringify(nil, v)
		})
	})
}
