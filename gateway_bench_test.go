package appbackend

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/appauth"
)

// BenchmarkGatewayProxy measures a signed POST /api/do_secret_stuff through the whole
// handler chain in gateway mode (request id, access log, metrics, signature check,
// proof, reverse proxy) to a real upstream on loopback, at the default log level. Its
// allocations per request are the figure to watch: the proxy runs for every request of
// a gateway-mode app. "direct" sends the same request to the upstream with the same
// client, for the share the gateway adds.
func BenchmarkGatewayProxy(b *testing.B) {
	const secret = "absec_bench_secret"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	upstream := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"success":true}`)
	})}
	go upstream.Serve(ln)
	defer upstream.Close()
	upstreamURL := "http://" + ln.Addr().String()

	a, err := New(Config{
		Database:   "sqlite:" + filepath.Join(b.TempDir(), "bench.db"),
		AppSecrets: []string{secret},
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Gateway:    GatewayConfig{Upstream: upstreamURL, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
	})
	require.NoError(b, err)
	require.NoError(b, a.open(b.Context()))
	defer a.db.Close()
	require.NoError(b, a.openMetrics())
	sig, body, err := appauth.Sign([]string{secret}, time.Now(), "usr_bench", "acct_bench", nil)
	require.NoError(b, err)

	// The gateway through its handler, with a ResponseWriter that discards.
	b.Run("appbackend", func(b *testing.B) {
		h := a.handler()
		req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:3000/api/do_secret_stuff", nil)
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
	})
	// The upstream's own cost as a client sees it (one keep-alive connection), which the
	// appbackend figure includes.
	b.Run("direct", func(b *testing.B) {
		client := &http.Client{Transport: &http.Transport{}}
		b.ReportAllocs()
		for b.Loop() {
			req, err := http.NewRequest(http.MethodPost, upstreamURL+"/api/do_secret_stuff", bytes.NewReader(body))
			require.NoError(b, err)
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			require.NoError(b, err)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			require.Equal(b, http.StatusOK, resp.StatusCode, "status")
		}
	})
}
