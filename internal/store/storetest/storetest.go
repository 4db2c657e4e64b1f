// Package storetest is the conformance suite every [store.Store] adapter runs, so that
// the flows built on the store behave the same on SQLite and PostgreSQL.
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return openFreshStore(t) })
//	}
//
// newStore must return an empty, migrated store for each call and close it when the
// test ends. The suite's tests run in parallel, each on its own store.
package storetest

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/store"
)

// Run runs the suite against stores built by newStore.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	for _, tc := range []struct {
		name string
		test func(t *testing.T, s store.Store)
	}{
		{"Settings", testSettings},
		{"InsertEventOnce", testInsertEventOnce},
		{"InsertEventConcurrently", testInsertEventConcurrently},
		{"RollbackDiscardsEvent", testRollbackDiscardsEvent},
		{"FinishEvent", testFinishEvent},
		{"EventsInBatches", testEventsInBatches},
		{"InsertEventsTx", testInsertEventsTx},
		{"EventsByIDs", testEventsByIDs},
		{"FailureNeverOverridesSuccess", testFailureNeverOverridesSuccess},
		{"ReplayEvent", testReplayEvent},
		{"BulkReplay", testBulkReplay},
		{"ListEvents", testListEvents},
		{"DeleteAccountEvents", testDeleteAccountEvents},
		{"PruneEvents", testPruneEvents},
		{"PruneKeepsUnfinished", testPruneKeepsUnfinished},
		{"DeleteAccountEventsTombstones", testDeleteAccountEventsTombstones},
		{"Installations", testInstallations},
		{"ListInstallations", testListInstallations},
		{"InstallationOrderUnderRace", testInstallationOrderUnderRace},
		{"StaleInstallationPut", testStaleInstallationPut},
		{"PutSettingIfAbsentRace", testPutSettingIfAbsentRace},
		{"ProcessesRequeueOrphanedJobs", testProcessesRequeueOrphanedJobs},
		{"ProcessesRunningJobs", testProcessesRunningJobs},
		{"RiverJobInEventTransaction", testRiverJobInEventTransaction},
		{"ClaimWaitingJobs", testClaimWaitingJobs},
		{"ClaimSkipsPausedQueue", testClaimSkipsPausedQueue},
		{"JSONShapes", testJSONShapes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, newStore(t))
		})
	}
	runScheduleTests(t, newStore)
	runInstallUseTests(t, newStore)
}

// inTx runs f in a transaction on s's write pool and commits it.
func inTx(t *testing.T, s store.Store, f func(tx *sql.Tx) error) {
	t.Helper()
	ctx := t.Context()
	tx, err := s.DB().BeginTx(ctx, nil)
	require.NoError(t, err, "begin")
	defer tx.Rollback()
	require.NoError(t, f(tx))
	require.NoError(t, tx.Commit(), "commit")
}

var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newEvent(id string) store.Event {
	return store.Event{
		ID: id, Type: "customer.created", AccountID: "acct_1", Livemode: true,
		Created: base, APIVersion: "2023-10-16", Raw: []byte(`{"id":"` + id + `"}`),
		ReceivedAt: base.Add(time.Second),
	}
}

func insertEvents(t *testing.T, s store.Store, evs ...store.Event) {
	t.Helper()
	inTx(t, s, func(tx *sql.Tx) error {
		for _, ev := range evs {
			inserted, err := s.InsertEventTx(t.Context(), tx, &ev)
			if err != nil {
				return err
			}
			if !inserted {
				return fmt.Errorf("event %s not inserted", ev.ID)
			}
		}
		return nil
	})
}

func testSettings(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, ok, err := s.Setting(ctx, "missing")
	require.NoError(t, err, "Setting(missing) = _, %v, %v; want false, nil", ok, err)
	require.False(t, ok, "Setting(missing) = _, %v, %v; want false, nil", ok, err)
	for _, v := range []string{"first", "second", ""} {
		require.NoError(t, s.PutSetting(ctx, "k", v), "PutSetting")
		got, ok, err := s.Setting(ctx, "k")
		require.False(t, err != nil || !ok || got != v, "Setting(k) = %q, %v, %v; want %q, true, nil", got, ok, err, v)
	}
}

func testInsertEventOnce(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := newEvent("evt_once")
	insertEvents(t, s, want)

	dup := newEvent("evt_once")
	dup.Type = "something.else"
	inTx(t, s, func(tx *sql.Tx) error {
		inserted, err := s.InsertEventTx(ctx, tx, &dup)
		if err != nil || inserted {
			return fmt.Errorf("second insert = %v, %v; want false, nil", inserted, err)
		}
		return nil
	})

	got, err := s.Event(ctx, "evt_once")
	require.NoError(t, err)
	want.Status = store.EventPending
	require.Equal(t, want, got, "Event =\n%+v\nwant\n%+v", got, want)
	inTx(t, s, func(tx *sql.Tx) error {
		got, err := s.EventsTx(ctx, tx, []string{"evt_missing", "evt_once"}, true)
		if err != nil || !reflect.DeepEqual(got, []store.Event{want}) {
			return fmt.Errorf("EventsTx = %+v, %v; want [%+v]", got, err, want)
		}
		return nil
	})
	if _, err := s.Event(ctx, "evt_missing"); !errors.Is(err, store.ErrNotFound) {
		require.FailNow(t, fmt.Sprintf("Event(missing) err = %v, want ErrNotFound", err))
	}
}

func testInsertEventConcurrently(t *testing.T, s store.Store) {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		inserted int
	)
	for range 8 {
		wg.Go(func() {
			ev := newEvent("evt_race")
			tx, err := s.DB().BeginTx(t.Context(), nil)
			if err != nil {
				assert.Fail(t, fmt.Sprint(err))
				return
			}
			defer tx.Rollback()
			ok, err := s.InsertEventTx(t.Context(), tx, &ev)
			if err != nil {
				assert.Fail(t, fmt.Sprint(err))
				return
			}
			if err := tx.Commit(); err != nil {
				assert.Fail(t, fmt.Sprint(err))
				return
			}
			if ok {
				mu.Lock()
				inserted++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Equal(t, 1, inserted, "%d of 8 concurrent inserts of one id inserted, want 1", inserted)
}

func testRollbackDiscardsEvent(t *testing.T, s store.Store) {
	ctx := t.Context()
	tx, err := s.DB().BeginTx(ctx, nil)
	require.NoError(t, err)
	ev := newEvent("evt_rolled_back")
	if _, err := s.InsertEventTx(ctx, tx, &ev); err != nil {
		require.FailNow(t, fmt.Sprint(err))
	}
	require.NoError(t, tx.Rollback())
	if _, err := s.Event(ctx, ev.ID); !errors.Is(err, store.ErrNotFound) {
		require.FailNow(t, fmt.Sprintf("after rollback: err = %v, want ErrNotFound", err))
	}
}

func testFinishEvent(t *testing.T, s store.Store) {
	ctx := t.Context()
	insertEvents(t, s, newEvent("evt_a"), newEvent("evt_b"), newEvent("evt_c"))
	done := base.Add(time.Minute)
	inTx(t, s, func(tx *sql.Tx) error {
		for _, step := range []struct {
			id  string
			out store.EventOutcome
		}{
			{"evt_a", store.EventOutcome{Status: store.EventFailed, Error: "boom 1"}},
			{"evt_a", store.EventOutcome{Status: store.EventProcessed, NotInstalled: true, At: done}},
			{"evt_b", store.EventOutcome{Status: store.EventFailed, Error: "boom 1"}},
			{"evt_b", store.EventOutcome{Status: store.EventDead, Error: "boom 2"}},
		} {
			if err := s.FinishEventTx(ctx, tx, step.id, step.out); err != nil {
				return err
			}
		}
		if err := s.FinishEventTx(ctx, tx, "evt_c", store.EventOutcome{Status: store.EventPending}); err == nil {
			return errors.New("FinishEventTx with status pending succeeded, want an error")
		}
		if err := s.FinishEventTx(ctx, tx, "evt_missing", store.EventOutcome{Status: store.EventProcessed}); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("FinishEventTx(missing) err = %v, want ErrNotFound", err)
		}
		return nil
	})
	for _, want := range []struct {
		id           string
		status       store.EventStatus
		attempts     int
		lastError    string
		notInstalled bool
		processedAt  time.Time
	}{
		{"evt_a", store.EventProcessed, 2, "", true, done},
		{"evt_b", store.EventDead, 2, "boom 2", false, time.Time{}},
		{"evt_c", store.EventPending, 0, "", false, time.Time{}},
	} {
		got, err := s.Event(ctx, want.id)
		require.NoError(t, err)
		require.False(t, got.Status != want.status || got.Attempts != want.attempts || got.LastError != want.lastError ||
			got.NotInstalled != want.notInstalled || !got.ProcessedAt.Equal(want.processedAt), "%s = status %s, attempts %d, last_error %q, not_installed %v, processed_at %v; want %s, %d, %q, %v, %v", want.id, got.Status, got.Attempts, got.LastError, got.NotInstalled, got.ProcessedAt, want.status, want.attempts, want.lastError, want.notInstalled, want.processedAt)
	}
	counts, err := s.CountEvents(ctx)
	require.NoError(t, err)
	want := map[store.EventStatus]int{store.EventProcessed: 1, store.EventDead: 1, store.EventPending: 1}
	require.Equal(t, want, counts, "CountEvents = %v, want %v", counts, want)
}

// The processor loads a job's events and records their success with one statement each.
func testEventsInBatches(t *testing.T, s store.Store) {
	ctx := t.Context()
	insertEvents(t, s, newEvent("evt_c"), newEvent("evt_a"), newEvent("evt_b"), newEvent("evt_other"))
	inTx(t, s, func(tx *sql.Tx) error {
		for _, withRaw := range []bool{false, true} {
			got, err := s.EventsTx(ctx, tx, []string{"evt_b", "evt_missing", "evt_c", "evt_a"}, withRaw)
			if err != nil {
				return err
			}
			var ids []string
			for _, ev := range got {
				ids = append(ids, ev.ID)
				if (ev.Raw != nil) != withRaw || ev.Type != "customer.created" || ev.AccountID != "acct_1" || ev.Status != store.EventPending {
					return fmt.Errorf("EventsTx(withRaw %v): %+v", withRaw, ev)
				}
			}
			if !reflect.DeepEqual(ids, []string{"evt_a", "evt_b", "evt_c"}) {
				return fmt.Errorf("EventsTx(withRaw %v) ids = %v, want evt_a, evt_b, evt_c (id order, no missing one)", withRaw, ids)
			}
		}
		if got, err := s.EventsTx(ctx, tx, nil, true); err != nil || len(got) != 0 {
			return fmt.Errorf("EventsTx(none) = %v, %v", got, err)
		}
		return s.FinishProcessedTx(ctx, tx, []store.ProcessedEvent{{ID: "evt_a"}, {ID: "evt_b", NotInstalled: true}, {ID: "evt_c"}})
	})
	for id, notInstalled := range map[string]bool{"evt_a": false, "evt_b": true, "evt_c": false} {
		got, err := s.Event(ctx, id)
		require.NoError(t, err)
		require.False(t, got.Status != store.EventProcessed || got.Attempts != 1 || got.NotInstalled != notInstalled, "%s after FinishProcessedTx: %+v", id, got)
		require.False(t, got.ProcessedAt.IsZero(), "%s after FinishProcessedTx: %+v", id, got)
	}
	if got, err := s.Event(ctx, "evt_other"); err != nil || got.Status != store.EventPending {
		require.FailNow(t, fmt.Sprintf("evt_other = %+v, %v; want it untouched", got, err))
	}
	err := store.InTx(ctx, s.DB(), func(tx *sql.Tx) error {
		return s.FinishProcessedTx(ctx, tx, []store.ProcessedEvent{{ID: "evt_other"}, {ID: "evt_missing"}})
	})
	require.ErrorIs(t, err, store.ErrNotFound, "FinishProcessedTx with an unknown id: err = %v, want ErrNotFound", err)
	got, _ := s.Event(ctx, "evt_other")
	require.Equal(t, store.EventPending, got.Status, "evt_other = %s after a failed FinishProcessedTx; want pending (rolled back)", got.Status)
}

func testFailureNeverOverridesSuccess(t *testing.T, s store.Store) {
	ctx := t.Context()
	insertEvents(t, s, newEvent("evt_done"))
	inTx(t, s, func(tx *sql.Tx) error {
		if err := s.FinishEventTx(ctx, tx, "evt_done", store.EventOutcome{Status: store.EventProcessed}); err != nil {
			return err
		}
		// A concurrent copy of the job failing afterwards must not undo the success.
		return s.FinishEventTx(ctx, tx, "evt_done", store.EventOutcome{Status: store.EventDead, Error: "late"})
	})
	got, err := s.Event(ctx, "evt_done")
	require.NoError(t, err)
	require.Equal(t, store.EventProcessed, got.Status, "status %s, last_error %q; want processed and none", got.Status, got.LastError)
	require.Equal(t, "", got.LastError, "status %s, last_error %q; want processed and none", got.Status, got.LastError)
}

func testReplayEvent(t *testing.T, s store.Store) {
	ctx := t.Context()
	insertEvents(t, s, newEvent("evt_replay"))
	inTx(t, s, func(tx *sql.Tx) error {
		if err := s.FinishEventTx(ctx, tx, "evt_replay", store.EventOutcome{Status: store.EventDead, Error: "boom"}); err != nil {
			return err
		}
		if err := s.ReplayEventTx(ctx, tx, "evt_replay"); err != nil {
			return err
		}
		if err := s.ReplayEventTx(ctx, tx, "evt_missing"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("ReplayEventTx(missing) err = %v, want ErrNotFound", err)
		}
		return nil
	})
	got, err := s.Event(ctx, "evt_replay")
	require.NoError(t, err)
	require.Equal(t, store.EventPending, got.Status, "after replay: status %s, attempts %d; want pending, 1 (attempts are kept)", got.Status, got.Attempts)
	require.Equal(t, 1, got.Attempts, "after replay: status %s, attempts %d; want pending, 1 (attempts are kept)", got.Status, got.Attempts)
}

func testListEvents(t *testing.T, s store.Store) {
	ctx := t.Context()
	empty, err := s.ListEvents(ctx, store.EventFilter{})
	require.False(t, err != nil || empty == nil || len(empty) != 0, "ListEvents on an empty inbox = %#v, %v; want an empty, non-nil list", empty, err)
	var evs []store.Event
	for i, spec := range []struct {
		typ, account string
		live         bool
	}{
		{"customer.created", "acct_1", true},
		{"invoice.paid", "acct_1", false},
		{"customer.created", "acct_2", false},
		{"invoice.paid", "", true},
	} {
		ev := newEvent(fmt.Sprintf("evt_%d", i))
		ev.Type, ev.AccountID, ev.Livemode = spec.typ, spec.account, spec.live
		ev.ReceivedAt = base.Add(time.Duration(i) * time.Second)
		evs = append(evs, ev)
	}
	insertEvents(t, s, evs...)
	inTx(t, s, func(tx *sql.Tx) error {
		return s.FinishEventTx(ctx, tx, "evt_1", store.EventOutcome{Status: store.EventProcessed})
	})
	live, test := true, false
	for _, tc := range []struct {
		name string
		f    store.EventFilter
		want []string
	}{
		{"all, newest first", store.EventFilter{}, []string{"evt_3", "evt_2", "evt_1", "evt_0"}},
		{"status", store.EventFilter{Status: store.EventProcessed}, []string{"evt_1"}},
		{"type", store.EventFilter{Type: "customer.created"}, []string{"evt_2", "evt_0"}},
		{"account", store.EventFilter{AccountID: "acct_1"}, []string{"evt_1", "evt_0"}},
		{"live", store.EventFilter{Livemode: &live}, []string{"evt_3", "evt_0"}},
		{"test", store.EventFilter{Livemode: &test}, []string{"evt_2", "evt_1"}},
		{"limit", store.EventFilter{Limit: 2}, []string{"evt_3", "evt_2"}},
		{"combined", store.EventFilter{Status: store.EventPending, Type: "invoice.paid"}, []string{"evt_3"}},
		{"no match", store.EventFilter{Status: store.EventDead}, []string{}},
	} {
		got, err := s.ListEvents(ctx, tc.f)
		require.NoError(t, err, "%s", tc.name)
		ids := []string{}
		for _, ev := range got {
			ids = append(ids, ev.ID)
			require.Nil(t, ev.Raw, "%s: listing carries the raw payload of %s, want none", tc.name, ev.ID)
		}
		require.Equal(t, tc.want, ids, "%s: ListEvents = %v, want %v", tc.name, ids, tc.want)
	}
}

func testDeleteAccountEvents(t *testing.T, s store.Store) {
	ctx := t.Context()
	var evs []store.Event
	for i, spec := range []struct {
		account string
		live    bool
		at      time.Duration
	}{
		{"acct_gone", true, 0}, {"acct_gone", true, time.Hour}, {"acct_gone", false, 0}, {"acct_kept", true, 0},
	} {
		ev := newEvent(fmt.Sprintf("evt_%d", i))
		ev.AccountID, ev.Livemode, ev.ReceivedAt = spec.account, spec.live, base.Add(spec.at)
		evs = append(evs, ev)
	}
	insertEvents(t, s, evs...)
	inTx(t, s, func(tx *sql.Tx) error {
		n, err := s.DeleteAccountEventsTx(ctx, tx, "acct_gone", true, base.Add(time.Minute))
		if err != nil || n != 1 {
			return fmt.Errorf("DeleteAccountEventsTx = %d, %v; want 1, nil", n, err)
		}
		return nil
	})
	got, err := s.ListEvents(ctx, store.EventFilter{})
	require.NoError(t, err)
	require.Len(t, got, 3, "%d events left, want 3 (other mode, other account and newer kept)", len(got))
}

func testInstallations(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.Installation(ctx, "acct_1", true); !errors.Is(err, store.ErrNotFound) {
		require.FailNow(t, fmt.Sprintf("Installation before any = %v, want ErrNotFound", err))
	}
	installed := store.Installation{
		AccountID: "acct_1", Livemode: true, Status: store.Installed, ApplicationID: "ca_1",
		InstalledAt: base, LastEventCreated: base, LastEventID: "evt_1", UpdatedAt: base.Add(time.Second),
	}
	// The Install object's fields: an empty list stays empty (not never seen), and
	// a later state without them (an account.application event) clears nothing it
	// does not carry: the caller writes back what it loaded.
	fromInstall := installed
	fromInstall.InstallID, fromInstall.ApprovalRequired = "appinst_test_1", true
	fromInstall.PermissionsGranted = []string{"customer_read", "event_read"}
	fromInstall.PermissionsPending = []string{}
	fromInstall.LastEventID = "evt_1b"
	pending := fromInstall
	pending.PermissionsPending, pending.LastEventID = []string{"invoice_write"}, "evt_1c"
	uninstalled := installed
	uninstalled.Status, uninstalled.UninstalledAt = store.Uninstalled, base.Add(time.Hour)
	uninstalled.DisplayName, uninstalled.LastEventID = "Rocket Rides", "evt_2"
	uninstalled.LastEventCreated = base.Add(time.Hour)
	for _, want := range []store.Installation{installed, fromInstall, pending, uninstalled} {
		inTx(t, s, func(tx *sql.Tx) error { return s.PutInstallationTx(ctx, tx, want) })
		got, err := s.Installation(ctx, "acct_1", true)
		require.NoError(t, err)
		require.Equal(t, want, got, "Installation =\n%+v\nwant\n%+v", got, want)
		inTx(t, s, func(tx *sql.Tx) error {
			got, err := s.InstallationTx(ctx, tx, "acct_1", true)
			if err != nil || !reflect.DeepEqual(got, want) {
				return fmt.Errorf("InstallationTx = %+v, %v; want %+v", got, err, want)
			}
			return nil
		})
	}
	if _, err := s.Installation(ctx, "acct_1", false); !errors.Is(err, store.ErrNotFound) {
		require.FailNow(t, fmt.Sprintf("the other mode = %v, want ErrNotFound", err))
	}
	bad := installed
	bad.Status = "paused"
	tx, err := s.DB().BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback()
	if err := s.PutInstallationTx(ctx, tx, bad); err == nil {
		require.FailNow(t, fmt.Sprintf("PutInstallationTx with status %q succeeded, want an error", bad.Status))
	}
}

func testListInstallations(t *testing.T, s store.Store) {
	ctx := t.Context()
	inTx(t, s, func(tx *sql.Tx) error {
		for _, in := range []store.Installation{
			{AccountID: "acct_b", Livemode: true, Status: store.Installed},
			{AccountID: "acct_a", Livemode: true, Status: store.Uninstalled},
			{AccountID: "acct_a", Livemode: false, Status: store.Installed},
		} {
			in.LastEventID, in.LastEventCreated = "evt", base
			if err := s.PutInstallationTx(ctx, tx, in); err != nil {
				return err
			}
		}
		return nil
	})
	live := true
	for _, tc := range []struct {
		name string
		f    store.InstallationFilter
		want []string
	}{
		{"all, by account then test before live", store.InstallationFilter{}, []string{"acct_a/test", "acct_a/live", "acct_b/live"}},
		{"account", store.InstallationFilter{AccountID: "acct_b"}, []string{"acct_b/live"}},
		{"live", store.InstallationFilter{Livemode: &live}, []string{"acct_a/live", "acct_b/live"}},
		{"status", store.InstallationFilter{Status: store.Installed}, []string{"acct_a/test", "acct_b/live"}},
		{"limit", store.InstallationFilter{Limit: 1}, []string{"acct_a/test"}},
	} {
		got, err := s.ListInstallations(ctx, tc.f)
		require.NoError(t, err, "%s", tc.name)
		keys := []string{}
		for _, in := range got {
			mode := "test"
			if in.Livemode {
				mode = "live"
			}
			keys = append(keys, in.AccountID+"/"+mode)
		}
		require.Equal(t, tc.want, keys, "%s: ListInstallations = %v, want %v", tc.name, keys, tc.want)
	}
}

type noopArgs struct{}

func (noopArgs) Kind() string { return "storetest.noop" }

func testRiverJobInEventTransaction(t *testing.T, s store.Store) {
	// The receiver's contract: an event and its job commit or roll back together.
	client, err := river.NewClient(s.RiverDriver(), &river.Config{})
	require.NoError(t, err)
	ctx := t.Context()
	countJobs := func() int {
		t.Helper()
		res, err := client.JobList(ctx, river.NewJobListParams().Kinds("storetest.noop"))
		require.NoError(t, err)
		return len(res.Jobs)
	}
	for _, commit := range []bool{false, true} {
		tx, err := s.DB().BeginTx(ctx, nil)
		require.NoError(t, err)
		ev := newEvent(fmt.Sprintf("evt_commit_%v", commit))
		if _, err := s.InsertEventTx(ctx, tx, &ev); err != nil {
			require.FailNow(t, fmt.Sprint(err))
		}
		if _, err := client.InsertTx(ctx, tx, noopArgs{}, nil); err != nil {
			require.FailNow(t, fmt.Sprint(err))
		}
		if commit {
			err = tx.Commit()
		} else {
			err = tx.Rollback()
		}
		require.NoError(t, err)
		_, evErr := s.Event(ctx, ev.ID)
		wantJobs := 0
		if commit {
			wantJobs = 1
		}
		got := countJobs()
		require.Equal(t, wantJobs, got, "commit=%v: %d jobs, event lookup err %v; want %d jobs and the event stored only if committed", commit, got, evErr, wantJobs)
		require.True(t, (evErr == nil) == commit, "commit=%v: %d jobs, event lookup err %v; want %d jobs and the event stored only if committed", commit, got, evErr, wantJobs)
	}
}

func testJSONShapes(t *testing.T, s store.Store) {
	ctx := t.Context()
	ev := newEvent("evt_json")
	ev.AccountID = ""
	insertEvents(t, s, ev)
	got, err := s.Event(ctx, ev.ID)
	require.NoError(t, err)
	var evJSON map[string]any
	b, _ := json.Marshal(got)
	require.NoError(t, json.Unmarshal(b, &evJSON))
	for key, want := range map[string]any{
		"id": "evt_json", "type": "customer.created", "account_id": nil, "livemode": true,
		"status": "pending", "attempts": float64(0), "received_at": "2026-03-01T12:00:01Z",
		"processed_at": nil, "last_error": nil,
	} {
		v, ok := evJSON[key]
		require.True(t, ok, "event JSON %q = %#v (present %v), want %#v", key, v, ok, want)
		require.Equal(t, want, v, "event JSON %q = %#v (present %v), want %#v", key, v, ok, want)
	}
	_, ok := evJSON["raw"]
	require.False(t, ok, "event JSON carries the raw payload")

	inTx(t, s, func(tx *sql.Tx) error {
		return s.PutInstallationTx(ctx, tx, store.Installation{AccountID: "acct_json", Status: store.Installed,
			InstalledAt: base, LastEventCreated: base, LastEventID: "evt_1"})
	})
	in, err := s.Installation(ctx, "acct_json", false)
	require.NoError(t, err)
	var inJSON map[string]any
	b, _ = json.Marshal(in)
	require.NoError(t, json.Unmarshal(b, &inJSON))
	for key, want := range map[string]any{
		"account_id": "acct_json", "livemode": false, "status": "installed",
		"installed_at": "2026-03-01T12:00:00Z", "uninstalled_at": nil,
	} {
		v, ok := inJSON[key]
		require.True(t, ok, "installation JSON %q = %#v (present %v), want %#v", key, v, ok, want)
		require.Equal(t, want, v, "installation JSON %q = %#v (present %v), want %#v", key, v, ok, want)
	}
}

type sizedArgs struct {
	Events []string `json:"events"`
}

func (sizedArgs) Kind() string { return "storetest.sized" }

// The processor takes waiting jobs over in its transaction: the ones it accepts, oldest
// first, leave the queue with its commit; the others, and jobs already tried, stay.
func testClaimWaitingJobs(t *testing.T, s store.Store) {
	client, err := river.NewClient(s.RiverDriver(), &river.Config{})
	require.NoError(t, err)
	ctx := t.Context()
	sizes := []int{2, 3, 1, 1}
	for _, n := range sizes {
		args := sizedArgs{Events: make([]string, n)}
		if _, err := client.Insert(ctx, args, nil); err != nil {
			require.FailNow(t, fmt.Sprint(err))
		}
	}
	if _, err := client.Insert(ctx, noopArgs{}, nil); err != nil {
		require.FailNow(t, fmt.Sprint(err))
	}
	var claimed []store.WaitingJob
	room := 4
	inTx(t, s, func(tx *sql.Tx) error {
		var offered []int
		claimed, err = s.ClaimWaitingJobsTx(ctx, tx, sizedArgs{}.Kind(), river.QueueDefault, 10, func(raw []byte) bool {
			var a sizedArgs
			if err := json.Unmarshal(raw, &a); err != nil {
				require.FailNow(t, fmt.Sprintf("args %q: %v", raw, err))
				return false
			}
			offered = append(offered, len(a.Events))
			if len(a.Events) > room {
				return false
			}
			room -= len(a.Events)
			return true
		})
		require.Equal(t, sizes, offered, "offered jobs of sizes %v, want %v (oldest first, this kind only)", offered, sizes)
		return err
	})
	require.Len(t, claimed, 3, "claimed %d jobs, want 3 (sizes 2, 1, 1)", len(claimed))
	res, err := client.JobList(ctx, river.NewJobListParams().Kinds(sizedArgs{}.Kind()))
	require.NoError(t, err)
	if len(res.Jobs) != 1 || string(res.Jobs[0].EncodedArgs) == string(claimed[0].Args) {
		require.FailNow(t, fmt.Sprintf("after the claim: %d jobs of the kind left, want 1 (the one of size 3)", len(res.Jobs)))
	}
	inTx(t, s, func(tx *sql.Tx) error {
		again, err := s.ClaimWaitingJobsTx(ctx, tx, sizedArgs{}.Kind(), river.QueueDefault, 10, func([]byte) bool { return false })
		if err != nil || len(again) != 0 {
			return fmt.Errorf("a claim that takes nothing = %v, %v", again, err)
		}
		return nil
	})
}
