package appbackend

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// discardWriter is a reusable ResponseWriter: the handler chain is measured without
// httptest's recorder and its buffers.
type discardWriter struct {
	header http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

func (w *discardWriter) reset() {
	clear(w.header)
	w.status = 0
}

// whoamiRig is what BenchmarkWhoami, BenchmarkWhoamiTraced and TestWhoamiAllocations
// share: an App at the default configuration (SQLite in a temp dir, one secret, log
// level info to a discarded text output, metrics on) and one signed POST /api/whoami,
// replayed in place so that the loop measures the handler chain, not the request's
// construction.
type whoamiRig struct {
	app  *App
	req  *http.Request
	body []byte
	rd   *bytes.Reader
	rc   io.ReadCloser
	w    *discardWriter
}

func newWhoamiRig(tb testing.TB) *whoamiRig {
	tb.Helper()
	const secret = "absec_bench_secret"
	a, err := New(Config{
		Database:   "sqlite:" + filepath.Join(tb.TempDir(), "bench.db"),
		AppSecrets: []string{secret},
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(tb, err)
	require.NoError(tb, a.open(tb.Context()))
	tb.Cleanup(func() { _ = a.db.Close() })
	require.NoError(tb, a.openMetrics())
	body := []byte(`{"user_id":"usr_bench","account_id":"acct_bench"}`)
	ts := time.Now().Unix()
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%d.%s", ts, body)
	sig := "t=" + strconv.FormatInt(ts, 10) + ",v1=" + hex.EncodeToString(mac.Sum(nil))
	req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:3000/api/whoami", nil)
	require.NoError(tb, err)
	req.Header.Set("Stripe-Signature", sig)
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = "127.0.0.1:50000"
	rd := bytes.NewReader(body)
	return &whoamiRig{app: a, req: req, body: body, rd: rd, rc: io.NopCloser(rd), w: &discardWriter{header: make(http.Header)}}
}

// serve sends the signed request through h once and requires a 200.
func (g *whoamiRig) serve(tb testing.TB, h http.Handler) {
	g.rd.Reset(g.body)
	g.req.Body = g.rc
	g.req.ContentLength = int64(len(g.body))
	g.w.reset()
	h.ServeHTTP(g.w, g.req)
	if g.w.status != http.StatusOK {
		require.Equal(tb, http.StatusOK, g.w.status, "status")
	}
}

// loop runs serve for b.N requests, counting allocations.
func (g *whoamiRig) loop(b *testing.B, h http.Handler) {
	g.serve(b, h)
	b.ReportAllocs()
	for b.Loop() {
		g.serve(b, h)
	}
}

// bareWhoami answers what handleWhoami answers with net/http and encoding/json alone,
// no signature check: the ceiling, as bench/cmd/bareserver is for the load test.
var bareWhoami = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	var in struct {
		UserID    string `json:"user_id"`
		AccountID string `json:"account_id"`
	}
	_ = json.NewDecoder(r.Body).Decode(&in)
	WriteJSON(w, http.StatusOK, map[string]any{"user_id": in.UserID, "account_id": in.AccountID, "roles": []string{}, "payload": nil})
})

// BenchmarkWhoami measures the whole handler chain for a signed POST /api/whoami at
// the default log level (info, text, to a discarded output): request id, access log,
// metrics, signature check, JSON answer. "bare" is a net/http handler that answers the
// same JSON without any of it, for the ratio in one run.
func BenchmarkWhoami(b *testing.B) {
	g := newWhoamiRig(b)
	full := g.app.handler()
	b.Run("appbackend", func(b *testing.B) { g.loop(b, full) })
	b.Run("bare", func(b *testing.B) { g.loop(b, bareWhoami) })
}

// whoamiAllocs is the most allocations a signed POST /api/whoami may cost in the handler
// chain at the default configuration: the request's state (its id's bytes within), the
// body read, the Identity and its two strings, the request's new context and copy, the
// body handed on and its GetBody, the CORS header, the answer and its two header values.
// It was 20 before issue 25 (an error made for a body that was not too large, a
// MaxBytesReader below the limit, root's two lookups of "/api/", the request id's
// string, two header slices).
const whoamiAllocs = 11

// TestWhoamiAllocations holds the signed path to whoamiAllocs: every allocation is paid
// by every signed request, at tens of thousands a second. Not parallel: AllocsPerRun
// counts every allocation in the process.
func TestWhoamiAllocations(t *testing.T) {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "-race" && s.Value == "true" {
				t.Skip("allocation counts differ under the race detector")
			}
		}
	}
	g := newWhoamiRig(t)
	h := g.app.handler()
	g.serve(t, h)
	got := testing.AllocsPerRun(200, func() { g.serve(t, h) })
	require.LessOrEqual(t, got, float64(whoamiAllocs), "allocations per signed POST /api/whoami")
}
