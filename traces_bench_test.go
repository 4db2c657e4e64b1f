package appbackend

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

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
	g := newWhoamiRig(b)
	g.app.tel, err = telemetry.Start(b.Context(), settings, g.app.logger)
	require.NoError(b, err)
	defer g.app.tel.Shutdown(b.Context())
	g.loop(b, g.app.handler())
}
