package appbackend_test

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend"
)

// TestServerErrorLinesAreBounded: server errors are logged at warn like client errors
// at info, and as few: with the disk full every webhook is a 503 and Stripe retries at
// thousands a second, which must not become thousands of log lines a second.
func TestServerErrorLinesAreBounded(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	b := setupWith(t, func(c *appbackend.Config) {
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}, func(app *appbackend.App) {
		app.HandleFunc("POST /api/unavailable", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
		})
	})
	def := defaultSigned(userID, acctID)
	start := time.Now()
	for i := range 200 {
		require.Equal(t, http.StatusServiceUnavailable,
			b.do(t, http.MethodPost, "/api/unavailable", hmacHeader(time.Now().Unix(), def, secretA), def, "X-Request-Id", "down-"+strconv.Itoa(i)).status)
	}
	seconds := int(time.Since(start)/time.Second) + 2 // the windows the requests can span
	lines := strings.Count(logs.String(), "status=503")
	require.GreaterOrEqual(t, lines, 20, "the first ones are logged")
	require.Contains(t, logs.String(), "level=WARN msg=request")
	require.LessOrEqual(t, lines, 20*seconds, "200 server errors in %d s are not 200 lines", seconds)
	require.Less(t, lines, 200)
}
