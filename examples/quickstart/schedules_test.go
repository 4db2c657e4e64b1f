package main

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/appbackendtest"
)

func balanceReads(fake *appbackendtest.StripeFake, account string) int {
	n := 0
	for _, r := range fake.Requests() {
		if r.Method == http.MethodGet && r.Path == "/v1/balance" && r.Account == account {
			n++
		}
	}
	return n
}

func TestExportIsALongJobTheUIPolls(t *testing.T) {
	t.Parallel()
	app := start(t, nil)

	res := app.As(user, "acct_exporter").Post(t, "/api/export", nil)
	require.Equal(t, http.StatusAccepted, res.Status, res)
	var created struct {
		JobID int64 `json:"job_id"`
	}
	res.JSON(t, &created)

	status := app.WaitForJob(t, created.JobID)
	require.Equal(t, "completed", status.State, "errors: %v", status.Errors)
	// What the UI sees when it polls.
	res = app.As(user, "acct_exporter").Get(t, "/api/jobs/"+strconv.FormatInt(created.JobID, 10))
	require.Equal(t, http.StatusOK, res.Status, res)
	var job map[string]any
	res.JSON(t, &job)
	require.Equal(t, "completed", job["state"])
	require.Equal(t, "quickstart.export", job["kind"])
	require.Equal(t, map[string]any{"available": map[string]any{"usd": float64(0)}, "pending": map[string]any{"usd": float64(0)}, "livemode": false}, job["output"])
	require.Equal(t, 1, balanceReads(app.Fake, "acct_exporter"), "the job read the caller's balance")

	res = app.As(user, "acct_someone_else").Get(t, "/api/jobs/"+strconv.FormatInt(created.JobID, 10))
	require.Equal(t, http.StatusNotFound, res.Status, res)
}

func TestRefreshRunsPerInstalledAccount(t *testing.T) {
	t.Parallel()
	app := start(t, map[string]string{"QUICKSTART_REFRESH_EVERY": "@every 1s"})
	app.Install(t, "acct_refreshed", false)
	require.Eventually(t, func() bool { return balanceReads(app.Fake, "acct_refreshed") >= 2 }, 30*time.Second, 50*time.Millisecond,
		"the installed account's balance was not refreshed every second")
	require.Zero(t, balanceReads(app.Fake, ""), "the refresh never reads the platform's balance")
}
