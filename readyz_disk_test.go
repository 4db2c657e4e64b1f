package appbackend_test

import (
	"bytes"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend"
	"github.com/appbackend/appbackend/appbackendtest"
	"github.com/appbackend/appbackend/internal/webhook/webhooktest"
)

// TestReadyzReportsADiskFull: with the disk full the database still answers pings,
// but no webhook can be stored; GET /readyz says so (503 with the reason) until a
// batch commits again. SQLite's max_page_count gives the SQLITE_FULL of a full disk
// (the PostgreSQL side is internal/webhook's TestDiskFullMakesTheInboxUnready).
func TestReadyzReportsADiskFull(t *testing.T) {
	t.Parallel()
	a := appbackendtest.Start(t, nil, appbackendtest.WithConfig(func(cfg *appbackend.Config) {
		cfg.Database = "sqlite:" + filepath.Join(t.TempDir(), "app.db")
	}))
	ready := func() (int, string) {
		t.Helper()
		resp, err := http.Get(a.URL + "/readyz")
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, _ := ready()
	require.Equal(t, http.StatusOK, status)

	var pages int
	require.NoError(t, a.DB().QueryRow(`PRAGMA page_count`).Scan(&pages))
	var limit int
	require.NoError(t, a.DB().QueryRow(`PRAGMA max_page_count = `+strconv.Itoa(pages)).Scan(&limit))

	body := webhooktest.Event("customer.updated", webhooktest.Fields(map[string]any{"metadata": map[string]any{"blob": strings.Repeat("x", 200_000)}}))
	req, err := http.NewRequest(http.MethodPost, a.URL+"/webhooks/stripe", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Stripe-Signature", webhooktest.Sign(body, appbackendtest.TestWebhookSecret, time.Now()))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)

	status, msg := ready()
	require.Equal(t, http.StatusServiceUnavailable, status, msg)
	require.Contains(t, msg, `"code":"unavailable"`)
	require.Contains(t, msg, "no room to store webhook events")

	_, err = a.DB().Exec(`PRAGMA max_page_count = 4294967294`)
	require.NoError(t, err)
	a.Deliver(t, appbackendtest.Event{Type: "customer.created", Account: "acct_room"})
	status, msg = ready()
	require.Equal(t, http.StatusOK, status, msg)
}
