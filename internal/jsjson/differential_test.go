package jsjson

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Environment of TestDifferentialAgainstNode.
const (
	diffSeedEnv         = "JSJSON_DIFF_SEED"  // seed of the random texts; default 1
	diffCountEnv        = "JSJSON_DIFF_COUNT" // how many texts; default 3000
	nodeStringifyScript = "../../testdata/node/stringify.js"
)

// TestDifferentialAgainstNode sends random JSON texts (valid ones and near misses) to
// Node and checks that Parse accepts exactly what JSON.parse accepts and that
// AppendStringify prints exactly what JSON.stringify prints.
func TestDifferentialAgainstNode(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	require.NoError(t, err, "node is not on PATH; this test compares the printer with Node's JSON.stringify and needs Node.js installed")
	seed := envInt(t, diffSeedEnv, 1)
	count := envInt(t, diffCountEnv, 3000)
	t.Logf("%s=%d %s=%d", diffSeedEnv, seed, diffCountEnv, count)

	gen := newTextGenerator(uint64(seed))
	inputs := make([][]byte, count)
	for i := range inputs {
		inputs[i] = gen.text()
	}

	cmd := exec.CommandContext(t.Context(), node, nodeStringifyScript)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start(), "starting %s %s", node, nodeStringifyScript)
	go func() {
		w := bufio.NewWriter(stdin)
		for _, in := range inputs {
			w.WriteString(base64.StdEncoding.EncodeToString(in))
			w.WriteByte('\n')
		}
		w.Flush()
		stdin.Close()
	}()

	lines := bufio.NewScanner(stdout)
	lines.Buffer(nil, 64<<20)
	var mismatches, accepted int
	for i, in := range inputs {
		if !lines.Scan() {
			require.FailNow(t, fmt.Sprintf("node stopped after %d of %d answers: %v\nstderr: %s", i, len(inputs), lines.Err(), stderr.String()))
		}
		nodeOK, nodeOut := decodeNodeAnswer(t, lines.Text())
		v, parseErr := Parse(in)
		switch {
		case nodeOK && parseErr != nil:
			require.FailNow(t, fmt.Sprintf("input %d %q: JSON.parse accepts it, Parse says %v", i, in, parseErr))
		case !nodeOK && parseErr == nil:
			require.FailNow(t, fmt.Sprintf("input %d %q: JSON.parse rejects it (%s), Parse accepts it", i, in, nodeOut))
		case nodeOK:
			accepted++
			got := AppendStringify(nil, v)
			canonical, err := AppendCanonical(nil, in)
			switch {
			case string(got) != nodeOut:
				require.FailNow(t, fmt.Sprintf("input %d %q:\n  Go   %q\n  Node %q", i, in, got, nodeOut))
			case err != nil || string(canonical) != nodeOut:
				require.FailNow(t, fmt.Sprintf("input %d %q:\n  AppendCanonical %q, %v\n  Node            %q", i, in, canonical, err, nodeOut))
			default:
				continue
			}
		default:
			continue
		}
		if mismatches++; mismatches >= 5 {
			require.FailNow(t, fmt.Sprintf("stopping after %d mismatches (%s=%d)", mismatches, diffSeedEnv, seed))
		}
	}
	if err := stdin.Close(); err != nil && !strings.Contains(err.Error(), "closed") {
		t.Log(err)
	}
	if err := cmd.Wait(); err != nil {
		require.FailNow(t, fmt.Sprintf("node: %v\nstderr: %s", err, stderr.String()))
	}
	t.Logf("%d texts, %d accepted by both, %d rejected by both", len(inputs), accepted, len(inputs)-accepted)
	require.GreaterOrEqual(t, accepted, len(inputs)/2, "only %d of %d texts were valid JSON: the generator is broken", accepted, len(inputs))
}

func decodeNodeAnswer(t *testing.T, line string) (ok bool, text string) {
	t.Helper()
	status, payload, _ := strings.Cut(line, " ")
	decoded, err := base64.StdEncoding.DecodeString(payload)
	require.NoError(t, err, "unexpected line from node: %q", line)
	require.False(t, status != "ok" && status != "error", "unexpected line from node: %q", line)
	return status == "ok", string(decoded)
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	require.NoError(t, err, "%s=%q: want a non-negative integer", name, s)
	require.GreaterOrEqual(t, n, 0, "%s=%q: want a non-negative integer", name, s)
	return n
}

// textGenerator writes random JSON texts that reach every rule of the parser and the
// printer, and now and then breaks one so that rejection is compared too.
type textGenerator struct {
	r   *rand.Rand
	buf []byte
}

func newTextGenerator(seed uint64) *textGenerator {
	return &textGenerator{r: rand.New(rand.NewPCG(seed, 0x6a736a736f6e))}
}

func (g *textGenerator) chance(p float64) bool { return g.r.Float64() < p }

func pickFrom[T any](g *textGenerator, list []T) T { return list[g.r.IntN(len(list))] }

func (g *textGenerator) text() []byte {
	g.buf = g.buf[:0]
	g.space()
	switch n := g.r.IntN(20); {
	case n == 0: // a deep chain
		depth := 1 + g.r.IntN(MaxDepth-1)
		g.buf = append(g.buf, strings.Repeat("[", depth)...)
		g.value(6) // a scalar: deeper than MaxDepth is a known difference
		g.buf = append(g.buf, strings.Repeat("]", depth)...)
	case n < 4:
		g.value(3) // any value at the top level
	default:
		g.object(0)
	}
	g.space()
	out := bytes.Clone(g.buf)
	if g.chance(0.08) {
		out = g.breakText(out)
	}
	return out
}

// breakText returns a near miss of a valid text, which JSON.parse usually rejects.
func (g *textGenerator) breakText(text []byte) []byte {
	if g.chance(0.3) {
		return []byte(pickFrom(g, nearMisses))
	}
	i := g.r.IntN(len(text) + 1)
	switch g.r.IntN(3) {
	case 0: // truncate
		return text[:i]
	case 1: // insert
		return append(text[:i:i], append([]byte(pickFrom(g, insertions)), text[i:]...)...)
	default: // replace
		if i == len(text) {
			return text
		}
		return append(text[:i:i], append([]byte(pickFrom(g, insertions)), text[i+1:]...)...)
	}
}

var nearMisses = []string{
	"", " ", "01", "-01", "-", "1.", ".5", "1e", "1e+", "+1", "NaN", "Infinity", "-Infinity",
	"0x10", "[1,]", `{"a":1,}`, "{a:1}", "{'a':1}", `{"a" 1}`, `"\x"`, `"\U0041"`, `"\u12"`,
	`"\u12g4"`, "\"a\tb\"", "\"a\nb\"", `"abc`, `"\`, "[1] 2", "tru", "nul", "[", "\v1", "\f1",
	"\u00a01", "\ufeff{}", "\ufeff\"x\"", "[\xff]", "{} //", "[1 2]", `{"a":1 "b":2}`, "1_000",
	"1e5.0", "--1", "-.5", "[.5]", "\"\x7f\x1f\"", "\"\x00\"", "[-]", "{\"\\ud800\":}", "00",
	"\"\\u0000\"", "\"\\uD800\"", "[0.0e-0]", "[-0]", "1E400", "\"\u2028\"",
}

var insertions = []string{",", "]", "}", "[", "{", "0", "00", "\x01", "\\", "\"", " ", "\xff", "x", ":", "e", ".", "-", "\\u"}

func (g *textGenerator) space() {
	for g.chance(0.25) {
		g.buf = append(g.buf, pickFrom(g, []byte(" \t\n\r")))
	}
}

func (g *textGenerator) value(depth int) {
	kinds := 9
	if depth > 5 {
		kinds = 6 // scalars only
	}
	switch g.r.IntN(kinds) {
	case 0:
		g.buf = append(g.buf, "null"...)
	case 1:
		g.buf = append(g.buf, pickFrom(g, []string{"true", "false"})...)
	case 2, 3:
		g.number()
	case 4, 5:
		g.str()
	case 6:
		g.array(depth + 1)
	default:
		g.object(depth + 1)
	}
}

func (g *textGenerator) array(depth int) {
	g.buf = append(g.buf, '[')
	g.space()
	for i := range g.r.IntN(5) {
		if i > 0 {
			g.buf = append(g.buf, ',')
			g.space()
		}
		g.value(depth)
		g.space()
	}
	g.buf = append(g.buf, ']')
}

func (g *textGenerator) object(depth int) {
	g.buf = append(g.buf, '{')
	g.space()
	var keys []string
	for i := range g.r.IntN(7) {
		if i > 0 {
			g.buf = append(g.buf, ',')
			g.space()
		}
		if len(keys) > 0 && g.chance(0.15) { // a duplicate key, maybe spelled differently
			g.key(pickFrom(g, keys))
		} else {
			keys = append(keys, g.newKey())
			g.key(keys[len(keys)-1])
		}
		g.space()
		g.buf = append(g.buf, ':')
		g.space()
		g.value(depth)
		g.space()
	}
	g.buf = append(g.buf, '}')
}

var generatedKeys = []string{
	"a", "b", "z", "amount", "currency", "user_id", "account_id", "stripe_roles", "__proto__",
	"0", "1", "2", "9", "10", "11", "100", "4294967294", "4294967295", "4294967296",
	"9007199254740993", "01", "00", "-0", "-1", "1.0", "1e3", "+1", " 1", "1 ", "",
	"<b>", "é", "🙂", "\u2028", "\x00",
	"\xed\xa0\x80", // a lone surrogate (U+D800) as WTF-8
}

func (g *textGenerator) newKey() string {
	if g.chance(0.75) {
		return pickFrom(g, generatedKeys)
	}
	if g.chance(0.5) {
		return strconv.FormatUint(uint64(g.r.Uint32()>>g.r.IntN(32)), 10)
	}
	start := len(g.buf)
	g.str()
	s := string(g.buf[start+1 : len(g.buf)-1]) // the literal's content, decoded when written again
	g.buf = g.buf[:start]
	v, err := Parse([]byte(`"` + s + `"`))
	if err != nil {
		return s
	}
	return v.Text
}

// key writes k (WTF-8) as a string literal, with random but equivalent escapes.
func (g *textGenerator) key(k string) {
	g.buf = append(g.buf, '"')
	for i := 0; i < len(k); {
		if u, ok := surrogateAt(k, i); ok {
			g.buf = appendUnicodeEscape(g.buf, u, g.chance(0.5))
			i += 3
			continue
		}
		c := k[i]
		switch {
		case c == '"' || c == '\\':
			g.buf = append(g.buf, '\\', c)
		case c < 0x20 || g.chance(0.1) && c < 0x80:
			g.buf = appendUnicodeEscape(g.buf, rune(c), g.chance(0.5))
		default:
			g.buf = append(g.buf, c)
		}
		i++
	}
	g.buf = append(g.buf, '"')
}

func appendUnicodeEscape(dst []byte, u rune, upper bool) []byte {
	h := strconv.FormatInt(int64(u)|0x10000, 16)[1:]
	if upper {
		h = strings.ToUpper(h)
	}
	return append(append(dst, '\\', 'u'), h...)
}

var stringPieces = []string{
	// Raw text.
	"hello", "usd", " ", "<", ">", "&", "</script>", "é", "€", "日本", "🙂", "👩‍💻", "𝄞",
	"\u2028", "\u2029", "\x7f", "\u0080", "\u00a0", "\ufeff", "\ufffd", "\uffff", "/",
	// Escapes of every kind.
	`\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`, `\u0000`, `\u0001`, `\u001f`, `\u001F`,
	`\u000b`, `\u007f`, `\u0041`, `\u00e9`, `\u00E9`, `\u2028`, `\u2029`, `\ufeff`, `\uFFFF`,
	`\ud800`, `\uD800`, `\udbff`, `\udc00`, `\uDFFF`, `\ud83d`, `\ude00`, `\ud83d\ude00`,
	`\uD83D\uDE00`, `\ude00\ud83d`, `\ud800\ud800\udc00`, `\ud83d\u0041`, `\ud83dx`,
	`\u0022`, `\u005c`, `\u002F`,
}

// invalidUTF8 are ill-formed byte sequences; a JavaScript server decodes each maximal
// ill-formed part to U+FFFD.
var invalidUTF8 = []string{
	"\xff", "\xfe", "\x80", "\xbf", "\xc0\xaf", "\xc2", "\xe2\x82",
	"\xed\xa0\x80", "\xed\xbf\xbf", "\xf0\x9f\x98", "\xf0\x80\x80\x80", "\xf4\x90\x80\x80",
	"\xf8\x88\x80\x80\x80", "\xe0\x80\x80", "\xc1\xbf",
}

func (g *textGenerator) str() {
	g.buf = append(g.buf, '"')
	for range g.r.IntN(6) {
		if g.chance(0.03) {
			g.buf = append(g.buf, pickFrom(g, invalidUTF8)...)
		} else {
			g.buf = append(g.buf, pickFrom(g, stringPieces)...)
		}
	}
	g.buf = append(g.buf, '"')
}

var numberSpellings = []string{
	"0", "-0", "-0.0", "0.0", "0e0", "-0e-5", "1", "-1", "1.0", "1.50", "100", "1e2", "1E5",
	"1e+5", "1E+0", "1e-0", "0.5e1", "123.456e3", "4.35", "0.1", "0.30000000000000004",
	"1e-5", "1e-6", "0.000001", "1.5e-6", "1e-7", "1E-7", "0.0000001", "1.5e-7", "123e-20",
	"1e20", "1e21", "1e+21", "999999999999999999999", "100000000000000000000",
	"123456789012345678901234", "12345678901234567890", "9007199254740991",
	"9007199254740992", "9007199254740993", "-9007199254740993", "18446744073709551615",
	"5e-324", "2.5e-324", "2.4e-324", "1e-400", "-1e-400", "4.9406564584124654e-324",
	"2.2250738585072014e-308", "2.2250738585072011e-308", "1.7976931348623157e308",
	"1.7976931348623158e308", "1.7976931348623159e308", "1e308", "1e309", "1e400",
	"-1e400", "1E400", "0.1e-6", "10e-8", "4294967295", "4294967296",
	// Halfway cases that need every digit to round right.
	"9007199254740993.00000000000000000000000000000000000000000000000001",
	"9007199254740992.99999999999999999999999999999999999999999999999999",
	"2.47032822920623272088284396434110686182529901307162382212792841250337753635104375932649918180817996189898282347722858865463328355177969898199387398005390939063150356595155702263922908583924491051844359318028499365361525003193704576782492193656236698636584807570015857692699037063119282795585513329278343384093519780155312465972635795746227664652728272200563740064854999770965994704540208281662262378573934507363390079677619305775067401763246736009689513405355374585166611342237666786041621596804619144672918403005300575308490487653917113865916462395249126236538818796362393732804238910186723484976682350898633885879256283027559956575244555072551893136908362547791869486679949683240497058210285131854513962138377228261454376934125320985913276672363281255e-324",
	strings.Repeat("1", 400), "0." + strings.Repeat("0", 330) + "1",
}

func (g *textGenerator) number() {
	switch g.r.IntN(5) {
	case 0, 1:
		g.buf = append(g.buf, pickFrom(g, numberSpellings)...)
	case 2: // a random literal
		if g.chance(0.3) {
			g.buf = append(g.buf, '-')
		}
		if g.chance(0.2) {
			g.buf = append(g.buf, '0')
		} else {
			g.buf = strconv.AppendInt(g.buf, 1+g.r.Int64N(9), 10)
			g.digits(g.r.IntN(25))
		}
		if g.chance(0.4) {
			g.buf = append(g.buf, '.')
			g.digits(1 + g.r.IntN(20))
		}
		if g.chance(0.4) {
			g.buf = append(g.buf, pickFrom(g, []string{"e", "E", "e+", "E-", "e-"})...)
			g.buf = strconv.AppendInt(g.buf, g.r.Int64N(340), 10)
		}
	case 3: // a random double, spelled by strconv in one of its formats
		f := math.Float64frombits(g.r.Uint64())
		if math.IsNaN(f) || math.IsInf(f, 0) {
			f = 0
		}
		format := pickFrom(g, []byte("eEg"))
		g.buf = strconv.AppendFloat(g.buf, f, format, g.r.IntN(20)-1, 64)
	default: // an integer of any size
		g.buf = strconv.AppendInt(g.buf, g.r.Int64()>>g.r.IntN(64), 10)
	}
}

func (g *textGenerator) digits(n int) {
	for range n {
		g.buf = append(g.buf, byte('0'+g.r.IntN(10)))
	}
}
