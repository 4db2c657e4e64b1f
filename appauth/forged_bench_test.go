package appauth

import (
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A forged request: a valid-JSON body claiming an identity, a current timestamp and a
// made-up v1. Nothing matches, so the verifier tries every candidate, the re-print of
// the body as JSON.stringify prints it included: the most work an unauthenticated
// client can ask for.

// forgedBody returns {"user_id":"a","account_id":"b","x":[0,0,…]} of about size bytes,
// the body of the hardening issue.
func forgedBody(size int) []byte {
	const head, tail = `{"user_id":"a","account_id":"b","x":[0`, `]}`
	n := max((size-len(head)-len(tail))/2, 0)
	return []byte(head + strings.Repeat(",0", n) + tail)
}

// forgedHeader is a current timestamp and a v1 nobody signed.
func forgedHeader(now time.Time) string {
	return "t=" + strconv.FormatInt(now.Unix(), 10) + ",v1=" + strings.Repeat("ab", 32)
}

// BenchmarkVerifyForgedBody verifies a forged 1 MB body with two configured secrets and
// reports, besides ns/op and B/op, the cost per body byte and per megabyte.
func BenchmarkVerifyForgedBody(b *testing.B) {
	for _, size := range []int{64 << 10, 1 << 20} {
		b.Run(strconv.Itoa(size>>10)+"KiB", func(b *testing.B) {
			body := forgedBody(size)
			v := newTestVerifier(b, testSecret, testSecretNew)
			header := forgedHeader(testNow)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for b.Loop() {
				_, err := v.VerifyRequest(header, body, nil)
				require.Error(b, err, "a forged body verifies")
			}
			runtime.ReadMemStats(&after)
			n := float64(b.N)
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/n/float64(len(body)), "B/body-byte")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n/(float64(len(body))/1e6), "ns/MB")
		})
	}
}
