package appbackend

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/appbackend/appbackend/internal/telemetry"
	"github.com/stretchr/testify/require"
)

// BenchmarkWhoamiTraced is BenchmarkWhoami/appbackend with traces on (every request
// sampled, exported to a collector that discards them): what tracing costs a
// request. With traces off the handler is BenchmarkWhoami's, unwrapped.
func BenchmarkWhoamiTraced(b *testing.B) {
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer collector.Close()
	settings, err := telemetry.FromEnv(func(k string) string {
		return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL}[k]
	})
	require.NoError(b, err)
	const secret = "absec_bench_secret"
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := New(Config{Database: "sqlite:" + filepath.Join(b.TempDir(), "bench.db"), AppSecrets: []string{secret}, Logger: logger})
	require.NoError(b, err)
	require.NoError(b, a.open(b.Context()))
	defer a.db.Close()
	require.NoError(b, a.openMetrics())
	a.tel, err = telemetry.Start(b.Context(), settings, logger)
	require.NoError(b, err)
	defer a.tel.Shutdown(b.Context())
	body := []byte(`{"user_id":"usr_bench","account_id":"acct_bench"}`)
	ts := time.Now().Unix()
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%d.%s", ts, body)
	sig := "t=" + strconv.FormatInt(ts, 10) + ",v1=" + hex.EncodeToString(mac.Sum(nil))
	h := a.handler()
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
