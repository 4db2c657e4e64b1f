package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/schedule"
	"github.com/appbackend/appbackend/internal/setup"
	"github.com/appbackend/appbackend/internal/store"
)

type cliExportArgs struct{}

func (cliExportArgs) Kind() string { return "cli.export" }

// seedSchedulesAndJobs writes what a server leaves in its database: a platform
// schedule that ran, an account's schedule that failed, an uninstalled account's, a
// job enqueued for an account and a schedule tick.
func seedSchedulesAndJobs(t *testing.T) map[string]string {
	t.Helper()
	ctx := context.Background()
	db := "sqlite:" + filepath.Join(t.TempDir(), "cli.db")
	st, err := setup.OpenStore(ctx, db, setup.StoreOptions{})
	require.NoError(t, err)
	defer st.Close()
	at := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	tx, err := st.DB().BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback()
	for _, in := range []store.Installation{
		{AccountID: "acct_live", Livemode: true, Status: store.Installed},
		{AccountID: "acct_gone", Livemode: false, Status: store.Uninstalled},
	} {
		in.LastEventCreated, in.LastEventID = at, "evt_"+in.AccountID
		require.NoError(t, st.PutInstallationTx(ctx, tx, in))
	}
	require.NoError(t, st.EnsureScheduleTx(ctx, tx, store.Schedule{ScheduleKey: store.ScheduleKey{Name: "report"},
		Spec: "@daily", Enabled: true, NextSlot: at.Add(24 * time.Hour), NextRunAt: at.Add(24 * time.Hour)}))
	require.NoError(t, st.RecordScheduleRunTx(ctx, tx, store.ScheduleKey{Name: "report"}, store.ScheduleRun{Slot: at, At: at.Add(time.Second)}))
	_, err = st.SyncAccountSchedulesTx(ctx, tx, "refresh", "@hourly")
	require.NoError(t, err)
	require.NoError(t, st.RecordScheduleRunTx(ctx, tx, store.ScheduleKey{Name: "refresh", AccountID: "acct_live", Livemode: true},
		store.ScheduleRun{Slot: at, Error: "stripe: 500 stripe_error: boom"}))
	require.NoError(t, st.EnsureScheduleTx(ctx, tx, store.Schedule{ScheduleKey: store.ScheduleKey{Name: "refresh", AccountID: "acct_gone"},
		Spec: "@hourly", Enabled: true, NextSlot: at, NextRunAt: at}))
	_, err = st.DisableAccountSchedulesTx(ctx, tx, "acct_gone", false)
	require.NoError(t, err)

	client, err := river.NewClient(st.RiverDriver(), &river.Config{SkipUnknownJobCheck: true})
	require.NoError(t, err)
	_, err = client.InsertTx(ctx, tx, cliExportArgs{}, &river.InsertOpts{Metadata: []byte(`{"appbackend":{"account_id":"acct_live","livemode":true}}`)})
	require.NoError(t, err)
	_, err = client.InsertTx(ctx, tx, schedule.TickArgs{}, nil)
	require.NoError(t, err)
	require.NoError(t, tx.Commit())
	return map[string]string{"APPBACKEND_DATABASE": db}
}

func TestSchedulesCommand(t *testing.T) {
	t.Parallel()
	env := seedSchedulesAndJobs(t)

	code, stdout, stderr := runCmd(t, env, "schedules", "--json")
	require.Equal(t, 0, code, stderr)
	var rows []map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &rows), stdout)
	require.Len(t, rows, 3)
	for _, row := range rows {
		for _, key := range []string{"name", "spec", "account_id", "livemode", "next_run_at", "last_run_at", "runs", "last_error"} {
			require.Contains(t, row, key)
		}
	}
	// By name, then account: refresh (acct_gone, acct_live), then report.
	require.Equal(t, "acct_gone", rows[0]["account_id"])
	require.Equal(t, "disabled", rows[0]["state"])
	require.Nil(t, rows[0]["next_run_at"])
	require.Equal(t, "acct_live", rows[1]["account_id"])
	require.Equal(t, true, rows[1]["livemode"])
	require.Equal(t, "stripe: 500 stripe_error: boom", rows[1]["last_error"])
	require.Equal(t, "report", rows[2]["name"])
	require.Nil(t, rows[2]["account_id"], "a platform schedule has no account")
	require.EqualValues(t, 1, rows[2]["runs"])
	require.Equal(t, "2026-03-02T12:00:01Z", rows[2]["last_run_at"])

	code, stdout, stderr = runCmd(t, env, "schedules", "--account", "acct_live")
	require.Equal(t, 0, code, stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 2)
	require.Contains(t, lines[0], "NEXT RUN")
	require.Contains(t, lines[1], "refresh")
	require.Contains(t, lines[1], "live")
	require.Contains(t, lines[1], "boom")

	code, _, stderr = runCmd(t, env, "schedules", "--limit", "-1")
	require.Equal(t, 2, code, stderr)
}

func TestJobsCommand(t *testing.T) {
	t.Parallel()
	env := seedSchedulesAndJobs(t)

	code, stdout, stderr := runCmd(t, env, "jobs", "--json")
	require.Equal(t, 0, code, stderr)
	var jobs []map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &jobs), stdout)
	require.Len(t, jobs, 1, "the schedule tick is left out unless asked for")
	require.Equal(t, "cli.export", jobs[0]["kind"])
	require.Equal(t, "available", jobs[0]["state"])
	require.Equal(t, "acct_live", jobs[0]["account_id"])
	require.Equal(t, []any{}, jobs[0]["errors"])

	code, stdout, stderr = runCmd(t, env, "jobs", "--json", "--kind", schedule.TickArgs{}.Kind())
	require.Equal(t, 0, code, stderr)
	require.NoError(t, json.Unmarshal([]byte(stdout), &jobs))
	require.Len(t, jobs, 1)
	require.Equal(t, schedule.TickArgs{}.Kind(), jobs[0]["kind"])

	code, stdout, _ = runCmd(t, env, "jobs", "--json", "--state", "completed")
	require.Equal(t, 0, code)
	require.Equal(t, "[]\n", stdout)

	code, stdout, _ = runCmd(t, env, "jobs")
	require.Equal(t, 0, code)
	require.Contains(t, stdout, "cli.export")
	require.Contains(t, stdout, "acct_live")

	code, _, stderr = runCmd(t, env, "jobs", "--state", "done")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "want one of available")
}
