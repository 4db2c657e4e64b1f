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

// BenchmarkWhoami measures the whole handler chain for a signed POST /api/whoami at
// the default log level (info, text, to a discarded output): request id, access log,
// metrics, signature check, JSON answer. "bare" is a net/http handler that answers the
// same JSON without any of it, for the ratio in one run.
func BenchmarkWhoami(b *testing.B) {
	const secret = "absec_bench_secret"
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := New(Config{
		Database:   "sqlite:" + filepath.Join(b.TempDir(), "bench.db"),
		AppSecrets: []string{secret},
		Logger:     logger,
	})
	require.NoError(b, err)
	require.NoError(b, a.open(b.Context()))
	defer a.db.Close()
	require.NoError(b, a.openMetrics())
	body := []byte(`{"user_id":"usr_bench","account_id":"acct_bench"}`)
	ts := time.Now().Unix()
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%d.%s", ts, body)
	sig := "t=" + strconv.FormatInt(ts, 10) + ",v1=" + hex.EncodeToString(mac.Sum(nil))

	run := func(b *testing.B, h http.Handler) {
		req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:3000/api/whoami", nil)
		require.NoError(b, err)
		req.Header.Set("Stripe-Signature", sig)
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = "127.0.0.1:50000"
		rd := bytes.NewReader(body)
		w := &discardWriter{header: make(http.Header)}
		b.ReportAllocs()
		for b.Loop() {
			rd.Reset(body)
			req.Body = io.NopCloser(rd)
			req.ContentLength = int64(len(body))
			w.reset()
			h.ServeHTTP(w, req)
			require.Equal(b, http.StatusOK, w.status, "status")
		}
	}
	full := a.handler()
	b.Run("appbackend", func(b *testing.B) { run(b, full) })
	b.Run("bare", func(b *testing.B) {
		run(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var in struct {
				UserID    string `json:"user_id"`
				AccountID string `json:"account_id"`
			}
			_ = json.NewDecoder(r.Body).Decode(&in)
			WriteJSON(w, http.StatusOK, map[string]any{"user_id": in.UserID, "account_id": in.AccountID, "roles": []string{}, "payload": nil})
		}))
	})
}
