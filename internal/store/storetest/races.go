package storetest

import (
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/appbackend/appbackend/internal/store"
	"github.com/stretchr/testify/require"
)

// lifecycleStep is one lifecycle event as the installation lifecycle applies it: the
// state it sets, identified by its (created, id) order.
type lifecycleStep struct {
	id      string
	created time.Time
	status  store.InstallStatus
}

// raceSteps are an account's install, uninstall and reinstall, then an uninstall
// created in the same second as the reinstall (the event id breaks the tie), with a
// duplicate delivery of the install.
func raceSteps() []lifecycleStep {
	return []lifecycleStep{
		{"evt_1_install", base, store.Installed},
		{"evt_2_uninstall", base.Add(time.Minute), store.Uninstalled},
		{"evt_3_reinstall", base.Add(2 * time.Minute), store.Installed},
		{"evt_4_uninstall", base.Add(2 * time.Minute), store.Uninstalled},
		{"evt_1_install", base, store.Installed},
	}
}

func newerStep(s lifecycleStep, in store.Installation) bool {
	if !s.created.Equal(in.LastEventCreated) {
		return s.created.After(in.LastEventCreated)
	}
	return s.id > in.LastEventID
}

// applyStep applies one step the way the lifecycle does: lock the installation (also
// when it has no row yet), compare, write. It reports whether the step changed the
// status.
func applyStep(s store.Store, t *testing.T, accountID string, step lifecycleStep, start <-chan struct{}) (changed bool, err error) {
	ctx := t.Context()
	<-start
	tx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	prev, err := s.LockInstallationTx(ctx, tx, accountID, true)
	exists := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	if exists && !newerStep(step, prev) {
		return false, tx.Commit()
	}
	next := store.Installation{AccountID: accountID, Livemode: true, Status: step.status,
		LastEventCreated: step.created, LastEventID: step.id}
	if err := s.PutInstallationTx(ctx, tx, next); err != nil {
		return false, err
	}
	return !exists || prev.Status != step.status, tx.Commit()
}

// testInstallationOrderUnderRace applies an account's lifecycle events concurrently,
// each in its own transaction, in a shuffled order, starting on a new account whose
// row does not exist yet: the final state is always the newest event's, and the
// status changes applied alternate (none computed from a stale read).
func testInstallationOrderUnderRace(t *testing.T, s store.Store) {
	const rounds = 40
	steps := raceSteps()
	newest := steps[3]
	rng := rand.New(rand.NewPCG(1, 17))
	for round := range rounds {
		accountID := fmt.Sprintf("acct_race_%d", round)
		order := rng.Perm(len(steps))
		start := make(chan struct{})
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			changes = map[store.InstallStatus]int{}
			errs    []error
		)
		for _, i := range order {
			wg.Go(func() {
				changed, err := applyStep(s, t, accountID, steps[i], start)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", steps[i].id, err))
				}
				if changed {
					changes[steps[i].status]++
				}
			})
		}
		close(start)
		wg.Wait()
		require.NoError(t, errors.Join(errs...), "round %d (order %v)", round, order)
		got, err := s.Installation(t.Context(), accountID, true)
		require.NoError(t, err, "round %d", round)
		require.Equal(t, newest.status, got.Status, "round %d (order %v): installation = %s by %s, want %s by %s (the newest event)", round, order, got.Status, got.LastEventID, newest.status, newest.id)
		require.Equal(t, newest.id, got.LastEventID, "round %d (order %v): installation = %s by %s, want %s by %s (the newest event)", round, order, got.Status, got.LastEventID, newest.status, newest.id)
		// Real changes of status alternate and end with the newest (an uninstall), so
		// there are as many uninstalls as installs, or one more. A transaction that
		// computed its change from a stale read counts an extra install or uninstall,
		// and would run the app's hooks twice.
		d := changes[store.Uninstalled] - changes[store.Installed]
		require.False(t, d != 0 && d != 1, "round %d (order %v): status changes %v do not alternate", round, order, changes)
	}
}

// testStaleInstallationPut checks the store's own guard: a write carrying an older
// event than the stored one changes nothing and says so, even without the lock.
func testStaleInstallationPut(t *testing.T, s store.Store) {
	ctx := t.Context()
	newer := store.Installation{AccountID: "acct_stale", Livemode: false, Status: store.Uninstalled,
		LastEventCreated: base.Add(time.Minute), LastEventID: "evt_b"}
	inTx(t, s, func(tx *sql.Tx) error { return s.PutInstallationTx(ctx, tx, newer) })

	for _, older := range []store.Installation{
		{LastEventCreated: base, LastEventID: "evt_z"},
		{LastEventCreated: newer.LastEventCreated, LastEventID: "evt_a"},
	} {
		older.AccountID, older.Livemode, older.Status = newer.AccountID, newer.Livemode, store.Installed
		tx, err := s.DB().BeginTx(ctx, nil)
		require.NoError(t, err)
		err = s.PutInstallationTx(ctx, tx, older)
		_ = tx.Rollback()
		if !errors.Is(err, store.ErrStale) {
			require.FailNow(t, fmt.Sprintf("PutInstallationTx of %s (%s) over %s = %v, want ErrStale", older.LastEventID, older.LastEventCreated.Format(time.TimeOnly), newer.LastEventID, err))
		}
	}
	// The same event's state may be written back (a display name found later).
	named := newer
	named.DisplayName = "Rocket Rides"
	inTx(t, s, func(tx *sql.Tx) error { return s.PutInstallationTx(ctx, tx, named) })
	got, err := s.Installation(ctx, "acct_stale", false)
	require.NoError(t, err)
	require.Equal(t, store.Uninstalled, got.Status, "installation = %s, %q; want uninstalled, %q", got.Status, got.DisplayName, "Rocket Rides")
	require.Equal(t, "Rocket Rides", got.DisplayName, "installation = %s, %q; want uninstalled, %q", got.Status, got.DisplayName, "Rocket Rides")
}

// testPutSettingIfAbsentRace stores one key from many goroutines at once: all of
// them get the same value back, and it is the one stored.
func testPutSettingIfAbsentRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	const callers = 8
	got := make([]string, callers)
	errs := make([]error, callers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			<-start
			got[i], errs[i] = s.PutSettingIfAbsent(ctx, "shared.key", fmt.Sprintf("value-%d", i))
		})
	}
	close(start)
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	stored, ok, err := s.Setting(ctx, "shared.key")
	require.NoError(t, err, "Setting = %q, %v", stored, ok)
	require.True(t, ok, "Setting = %q, %v, %v", stored, ok, err)
	for i, v := range got {
		require.Equal(t, stored, v, "caller %d got %q, but %q is stored", i, v, stored)
	}
}
