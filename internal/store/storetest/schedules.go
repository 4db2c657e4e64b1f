package storetest

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/appbackend/appbackend/internal/store"
	"github.com/stretchr/testify/require"
)

// runScheduleTests runs the schedules part of the suite, each test on its own store.
func runScheduleTests(t *testing.T, newStore func(t *testing.T) store.Store) {
	for _, tc := range []struct {
		name string
		test func(t *testing.T, s store.Store)
	}{
		{"EnsureScheduleKeepsPlanInProgress", testEnsureSchedule},
		{"SyncAccountSchedulesFollowsInstallations", testSyncAccountSchedules},
		{"DisableAccountSchedules", testDisableAccountSchedules},
		{"DisableSchedulesExcept", testDisableSchedulesExcept},
		{"DueSchedules", testDueSchedules},
		{"NextScheduleRunAt", testNextScheduleRunAt},
		{"RecordScheduleRun", testRecordScheduleRun},
		{"ListSchedules", testListSchedules},
		{"ScheduleJSONShape", testScheduleJSONShape},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, newStore(t))
		})
	}
}

// sk is a schedule key: name, account ("" for the platform), livemode.
func sk(name, accountID string, livemode bool) store.ScheduleKey {
	return store.ScheduleKey{Name: name, AccountID: accountID, Livemode: livemode}
}

func platformSchedule(name, spec string, next time.Time) store.Schedule {
	return store.Schedule{
		ScheduleKey: store.ScheduleKey{Name: name}, Spec: spec, Enabled: true,
		NextSlot: next, NextRunAt: next,
	}
}

func mustSchedule(t *testing.T, s store.Store, key store.ScheduleKey) store.Schedule {
	t.Helper()
	got, err := s.Schedule(t.Context(), key)
	require.NoError(t, err, "Schedule(%+v)", key)
	return got
}

func ensure(t *testing.T, s store.Store, sc store.Schedule) {
	t.Helper()
	inTx(t, s, func(tx *sql.Tx) error { return s.EnsureScheduleTx(t.Context(), tx, sc) })
}

func testEnsureSchedule(t *testing.T, s store.Store) {
	ctx := t.Context()
	key := store.ScheduleKey{Name: "report"}
	first := base.Add(time.Hour)
	ensure(t, s, platformSchedule("report", "@hourly", first))
	got := mustSchedule(t, s, key)
	require.False(t, !got.Enabled || got.Spec != "@hourly" || !got.NextSlot.Equal(first) || !got.NextRunAt.Equal(first) || got.Runs != 0, "after insert: %+v; want enabled @hourly planned at %v", got, first)
	inTx(t, s, func(tx *sql.Tx) error {
		return s.RecordScheduleRunTx(ctx, tx, key, store.ScheduleRun{Slot: first, At: first.Add(time.Second)})
	})

	// A restart ensures the same schedule with a fresh plan: the plan in progress (and
	// with it a slot missed while down) stays.
	ensure(t, s, platformSchedule("report", "@hourly", base.Add(5*time.Hour)))
	if got := mustSchedule(t, s, key); !got.NextSlot.Equal(first) || got.Runs != 1 {
		require.FailNow(t, fmt.Sprintf("same spec again: next slot %v, runs %d; want %v kept and 1 run", got.NextSlot, got.Runs, first))
	}

	// Another spec replans.
	daily := base.Add(24 * time.Hour)
	ensure(t, s, platformSchedule("report", "@daily", daily))
	if got := mustSchedule(t, s, key); got.Spec != "@daily" || !got.NextSlot.Equal(daily) || got.Runs != 1 {
		require.FailNow(t, fmt.Sprintf("new spec: %+v; want @daily planned at %v, runs kept", got, daily))
	}

	// A disabled row that is ensured again is replanned, not resumed.
	inTx(t, s, func(tx *sql.Tx) error {
		_, err := s.DisableSchedulesExceptTx(ctx, tx, nil)
		return err
	})
	again := base.Add(48 * time.Hour)
	ensure(t, s, platformSchedule("report", "@daily", again))
	if got := mustSchedule(t, s, key); !got.Enabled || !got.NextSlot.Equal(again) {
		require.FailNow(t, fmt.Sprintf("re-enabled: %+v; want enabled and planned at %v", got, again))
	}
}

func putInstallation(t *testing.T, s store.Store, account string, livemode bool, status store.InstallStatus) {
	t.Helper()
	inTx(t, s, func(tx *sql.Tx) error {
		return s.PutInstallationTx(t.Context(), tx, store.Installation{
			AccountID: account, Livemode: livemode, Status: status,
			LastEventCreated: base, LastEventID: "evt_" + account, InstalledAt: base,
		})
	})
}

func syncAccounts(t *testing.T, s store.Store, name, spec string) int64 {
	t.Helper()
	var n int64
	inTx(t, s, func(tx *sql.Tx) error {
		var err error
		n, err = s.SyncAccountSchedulesTx(t.Context(), tx, name, spec)
		return err
	})
	return n
}

func testSyncAccountSchedules(t *testing.T, s store.Store) {
	putInstallation(t, s, "acct_a", true, store.Installed)
	putInstallation(t, s, "acct_b", false, store.Installed)
	putInstallation(t, s, "acct_c", true, store.Uninstalled)

	n := syncAccounts(t, s, "refresh", "@hourly")
	require.EqualValues(t, 2, n, "first sync changed %d rows, want 2 (one per installed account and mode)", n)
	rows, err := s.ListSchedules(t.Context(), store.ScheduleFilter{Name: "refresh"})
	require.NoError(t, err)
	var keys []store.ScheduleKey
	for _, r := range rows {
		keys = append(keys, r.ScheduleKey)
		require.False(t, !r.Enabled || !r.NextSlot.IsZero() || r.Spec != "@hourly", "new row %+v: want enabled, unplanned, @hourly", r)
	}
	want := []store.ScheduleKey{sk("refresh", "acct_a", true), sk("refresh", "acct_b", false)}
	require.Equal(t, want, keys, "rows = %v, want %v", keys, want)
	n = syncAccounts(t, s, "refresh", "@hourly")
	require.EqualValues(t, 0, n, "second sync changed %d rows, want 0", n)

	// A plan in progress survives a sync with the same spec.
	planned := base.Add(time.Hour)
	inTx(t, s, func(tx *sql.Tx) error {
		return s.PlanSchedulesTx(t.Context(), tx, []store.SchedulePlan{{Key: want[0], NextSlot: planned, NextRunAt: planned}})
	})
	syncAccounts(t, s, "refresh", "@hourly")
	got := mustSchedule(t, s, want[0])
	require.True(t, got.NextSlot.Equal(planned), "plan after a sync = %v, want %v kept", got.NextSlot, planned)

	// b uninstalled while the server was down; c installed.
	putInstallation(t, s, "acct_b", false, store.Uninstalled)
	putInstallation(t, s, "acct_c", true, store.Installed)
	syncAccounts(t, s, "refresh", "@hourly")
	got = mustSchedule(t, s, want[1])
	require.False(t, got.Enabled, "acct_b after its uninstall: enabled; want disabled")
	got = mustSchedule(t, s, store.ScheduleKey{Name: "refresh", AccountID: "acct_c", Livemode: true})
	require.True(t, got.Enabled, "acct_c after its install: disabled; want enabled")

	// b reinstalled: enabled and replanned from scratch.
	putInstallation(t, s, "acct_b", false, store.Installed)
	syncAccounts(t, s, "refresh", "@hourly")
	got = mustSchedule(t, s, want[1])
	require.True(t, got.Enabled, "acct_b after its reinstall: %+v; want enabled and unplanned", got)
	require.True(t, got.NextSlot.IsZero(), "acct_b after its reinstall: %+v; want enabled and unplanned", got)

	// A new spec unplans every row.
	syncAccounts(t, s, "refresh", "@daily")
	got = mustSchedule(t, s, want[0])
	require.Equal(t, "@daily", got.Spec, "after a spec change: %+v; want @daily and unplanned", got)
	require.True(t, got.NextSlot.IsZero(), "after a spec change: %+v; want @daily and unplanned", got)
}

func testDisableAccountSchedules(t *testing.T, s store.Store) {
	putInstallation(t, s, "acct_a", true, store.Installed)
	putInstallation(t, s, "acct_a", false, store.Installed)
	syncAccounts(t, s, "one", "@hourly")
	syncAccounts(t, s, "two", "@daily")
	var n int64
	inTx(t, s, func(tx *sql.Tx) error {
		var err error
		n, err = s.DisableAccountSchedulesTx(t.Context(), tx, "acct_a", true)
		return err
	})
	require.EqualValues(t, 2, n, "disabled %d rows, want 2 (both schedules of acct_a live)", n)
	for _, tc := range []struct {
		key  store.ScheduleKey
		want bool
	}{
		{store.ScheduleKey{Name: "one", AccountID: "acct_a", Livemode: true}, false},
		{store.ScheduleKey{Name: "two", AccountID: "acct_a", Livemode: true}, false},
		{store.ScheduleKey{Name: "one", AccountID: "acct_a", Livemode: false}, true},
	} {
		got := mustSchedule(t, s, tc.key)
		require.True(t, got.Enabled == tc.want, "%+v enabled = %v, want %v", tc.key, got.Enabled, tc.want)
	}
}

func testDisableSchedulesExcept(t *testing.T, s store.Store) {
	for _, name := range []string{"kept", "gone", "also.kept"} {
		ensure(t, s, platformSchedule(name, "@hourly", base))
	}
	var n int64
	inTx(t, s, func(tx *sql.Tx) error {
		var err error
		n, err = s.DisableSchedulesExceptTx(t.Context(), tx, []string{"kept", "also.kept"})
		return err
	})
	require.EqualValues(t, 1, n, "disabled %d rows, want 1", n)
	got := mustSchedule(t, s, store.ScheduleKey{Name: "gone"})
	require.False(t, got.Enabled, "unregistered schedule still enabled")
	got = mustSchedule(t, s, store.ScheduleKey{Name: "kept"})
	require.True(t, got.Enabled, "registered schedule disabled")
}

func due(t *testing.T, s store.Store, now time.Time, limit int) []string {
	t.Helper()
	var names []string
	inTx(t, s, func(tx *sql.Tx) error {
		rows, err := s.DueSchedulesTx(t.Context(), tx, now, limit)
		for _, r := range rows {
			names = append(names, r.Name)
		}
		return err
	})
	return names
}

func testDueSchedules(t *testing.T, s store.Store) {
	ensure(t, s, platformSchedule("later", "@hourly", base.Add(2*time.Minute)))
	ensure(t, s, platformSchedule("sooner", "@hourly", base.Add(time.Minute)))
	ensure(t, s, platformSchedule("unplanned", "@hourly", time.Time{}))
	ensure(t, s, platformSchedule("off", "@hourly", base))
	inTx(t, s, func(tx *sql.Tx) error {
		_, err := s.DisableSchedulesExceptTx(t.Context(), tx, []string{"later", "sooner", "unplanned"})
		return err
	})
	for _, tc := range []struct {
		name  string
		now   time.Time
		limit int
		want  []string
	}{
		{"unplanned rows are due at once", base, 10, []string{"unplanned"}},
		{"earliest first, inclusive", base.Add(2 * time.Minute), 10, []string{"unplanned", "sooner", "later"}},
		{"limit", base.Add(time.Hour), 2, []string{"unplanned", "sooner"}},
	} {
		got := due(t, s, tc.now, tc.limit)
		require.Equal(t, tc.want, got, "%s: due = %v, want %v", tc.name, got, tc.want)
	}

	// Planned past now, a row is no longer due.
	inTx(t, s, func(tx *sql.Tx) error {
		return s.PlanSchedulesTx(t.Context(), tx, []store.SchedulePlan{
			{Key: store.ScheduleKey{Name: "unplanned"}, NextSlot: base.Add(time.Hour), NextRunAt: base.Add(time.Hour + time.Second)},
			{Key: store.ScheduleKey{Name: "missing"}, NextSlot: base, NextRunAt: base},
		})
	})
	if got := due(t, s, base.Add(time.Hour), 10); !reflect.DeepEqual(got, []string{"sooner", "later"}) {
		require.FailNow(t, fmt.Sprintf("after planning: due = %v, want [sooner later]", got))
	}
	got := mustSchedule(t, s, store.ScheduleKey{Name: "unplanned"})
	if want := base.Add(time.Hour + time.Second); !got.NextRunAt.Equal(want) || !got.NextSlot.Equal(base.Add(time.Hour)) {
		require.FailNow(t, fmt.Sprintf("planned row: slot %v run at %v; want %v, %v", got.NextSlot, got.NextRunAt, base.Add(time.Hour), want))
	}
}

func testNextScheduleRunAt(t *testing.T, s store.Store) {
	next := func() (time.Time, bool) {
		t.Helper()
		at, ok, err := s.NextScheduleRunAt(t.Context())
		require.NoError(t, err, "NextScheduleRunAt")
		return at, ok
	}
	at, ok := next()
	require.False(t, ok, "no rows: next = %v, want none", at)
	ensure(t, s, platformSchedule("later", "@hourly", base.Add(2*time.Minute)))
	ensure(t, s, platformSchedule("off", "@hourly", base))
	inTx(t, s, func(tx *sql.Tx) error {
		_, err := s.DisableSchedulesExceptTx(t.Context(), tx, []string{"later", "unplanned"})
		return err
	})
	if at, ok := next(); !ok || !at.Equal(base.Add(2*time.Minute)) {
		require.FailNow(t, fmt.Sprintf("a disabled row is not waited for: next = %v, %v; want %v", at, ok, base.Add(2*time.Minute)))
	}
	ensure(t, s, platformSchedule("unplanned", "@hourly", time.Time{}))
	if at, ok := next(); !ok || !at.IsZero() {
		require.FailNow(t, fmt.Sprintf("an unplanned row is due at once: next = %v, %v; want the zero time", at, ok))
	}
}

func testRecordScheduleRun(t *testing.T, s store.Store) {
	ctx := t.Context()
	key := store.ScheduleKey{Name: "refresh", AccountID: "acct_r", Livemode: true}
	ensure(t, s, store.Schedule{ScheduleKey: key, Spec: "@hourly", Enabled: true, NextSlot: base, NextRunAt: base})
	record := func(run store.ScheduleRun) {
		t.Helper()
		inTx(t, s, func(tx *sql.Tx) error { return s.RecordScheduleRunTx(ctx, tx, key, run) })
	}
	record(store.ScheduleRun{Slot: base, At: base.Add(time.Second), Error: "stripe: 500"})
	got := mustSchedule(t, s, key)
	require.False(t, got.Runs != 0 || got.LastError != "stripe: 500" || !got.LastRunAt.IsZero(), "after a failure: runs %d, last error %q, last run %v; want 0, the error, none", got.Runs, got.LastError, got.LastRunAt)
	record(store.ScheduleRun{Slot: base, At: base.Add(time.Minute)})
	got = mustSchedule(t, s, key)
	require.False(t, got.Runs != 1 || got.LastError != "" || !got.LastRunAt.Equal(base.Add(time.Minute)), "after a success: %+v; want 1 run, no error, last run and slot set", got)
	require.True(t, got.LastSlot.Equal(base), "after a success: %+v; want 1 run, no error, last run and slot set", got)

	inTx(t, s, func(tx *sql.Tx) error {
		err := s.RecordScheduleRunTx(ctx, tx, store.ScheduleKey{Name: "missing"}, store.ScheduleRun{Slot: base})
		require.ErrorIs(t, err, store.ErrNotFound, "record on a missing row: err = %v, want ErrNotFound", err)
		return nil
	})
	_, err := s.Schedule(ctx, store.ScheduleKey{Name: "missing"})
	require.ErrorIs(t, err, store.ErrNotFound, "Schedule(missing) err = %v, want ErrNotFound", err)
}

func testListSchedules(t *testing.T, s store.Store) {
	putInstallation(t, s, "acct_b", true, store.Installed)
	putInstallation(t, s, "acct_a", false, store.Installed)
	syncAccounts(t, s, "refresh", "@hourly")
	ensure(t, s, platformSchedule("refresh", "@hourly", base)) // a platform row of the same name
	ensure(t, s, platformSchedule("cleanup", "@daily", base))
	off := false
	inTx(t, s, func(tx *sql.Tx) error {
		_, err := s.DisableAccountSchedulesTx(t.Context(), tx, "acct_b", true)
		return err
	})

	list := func(f store.ScheduleFilter) []store.ScheduleKey {
		t.Helper()
		rows, err := s.ListSchedules(t.Context(), f)
		require.NoError(t, err)
		keys := []store.ScheduleKey{}
		for _, r := range rows {
			keys = append(keys, r.ScheduleKey)
		}
		return keys
	}
	for _, tc := range []struct {
		name string
		f    store.ScheduleFilter
		want []store.ScheduleKey
	}{
		{"all, by name then platform first", store.ScheduleFilter{}, []store.ScheduleKey{
			sk("cleanup", "", false), sk("refresh", "", false), sk("refresh", "acct_a", false), sk("refresh", "acct_b", true)}},
		{"name", store.ScheduleFilter{Name: "cleanup"}, []store.ScheduleKey{sk("cleanup", "", false)}},
		{"account", store.ScheduleFilter{AccountID: "acct_a"}, []store.ScheduleKey{sk("refresh", "acct_a", false)}},
		{"platform", store.ScheduleFilter{Platform: true}, []store.ScheduleKey{sk("cleanup", "", false), sk("refresh", "", false)}},
		{"disabled", store.ScheduleFilter{Enabled: &off}, []store.ScheduleKey{sk("refresh", "acct_b", true)}},
		{"limit", store.ScheduleFilter{Limit: 1}, []store.ScheduleKey{sk("cleanup", "", false)}},
	} {
		got := list(tc.f)
		require.Equal(t, tc.want, got)
	}
}

func testScheduleJSONShape(t *testing.T, s store.Store) {
	ctx := context.Background()
	ensure(t, s, platformSchedule("cleanup", "@daily", base))
	putInstallation(t, s, "acct_j", true, store.Installed)
	syncAccounts(t, s, "refresh", "@hourly")
	inTx(t, s, func(tx *sql.Tx) error {
		_, err := s.DisableAccountSchedulesTx(ctx, tx, "acct_j", true)
		return err
	})
	rows, err := s.ListSchedules(ctx, store.ScheduleFilter{})
	require.NoError(t, err)
	raw, err := json.Marshal(rows)
	require.NoError(t, err)
	var got []map[string]any
	require.NoError(t, json.Unmarshal(raw, &got))
	want := []map[string]any{
		{"name": "cleanup", "spec": "@daily", "account_id": nil, "livemode": false, "state": "active",
			"next_run_at": base.Format(time.RFC3339), "last_run_at": nil, "last_slot": nil, "runs": float64(0), "last_error": nil},
		{"name": "refresh", "spec": "@hourly", "account_id": "acct_j", "livemode": true, "state": "disabled",
			"next_run_at": nil, "last_run_at": nil, "last_slot": nil, "runs": float64(0), "last_error": nil},
	}
	require.Equal(t, want, got, "JSON =\n%v\nwant\n%v", got, want)
}
