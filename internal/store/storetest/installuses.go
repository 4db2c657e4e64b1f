package storetest

import (
	"database/sql"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/store"
)

// runInstallUseTests runs the install-link part of the suite, each test on its own store.
func runInstallUseTests(t *testing.T, newStore func(t *testing.T) store.Store) {
	for _, tc := range []struct {
		name string
		test func(t *testing.T, s store.Store)
	}{
		{"InstallStateUsedOnce", testInstallStateUsedOnce},
		{"InstallSignatureUsesCountedUnderRace", testInstallSignatureUsesUnderRace},
		{"DeleteExpiredInstallUses", testDeleteExpiredInstallUses},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, newStore(t))
		})
	}
}

func installUse(state, sig string, expires time.Time) store.InstallUse {
	return store.InstallUse{StateHash: state, SignatureKey: sig, AccountID: "acct_1", UserID: "usr_1",
		SignedAs: "state_user_account", UsedAt: base, ExpiresAt: expires}
}

func useInstallState(t *testing.T, s store.Store, u store.InstallUse) (inserted bool, uses int) {
	t.Helper()
	err := store.InTx(t.Context(), s.DB(), func(tx *sql.Tx) (err error) {
		inserted, uses, err = s.UseInstallStateTx(t.Context(), tx, u)
		return err
	})
	require.NoError(t, err)
	return inserted, uses
}

func testInstallStateUsedOnce(t *testing.T, s store.Store) {
	ctx := t.Context()
	used, err := s.InstallStateUsed(ctx, "state_a")
	require.NoError(t, err)
	require.False(t, used)

	inserted, uses := useInstallState(t, s, installUse("state_a", "sig_1", base.Add(time.Hour)))
	require.True(t, inserted)
	require.Equal(t, 1, uses)
	used, err = s.InstallStateUsed(ctx, "state_a")
	require.NoError(t, err)
	require.True(t, used)

	// The same state again, even with another signature: refused, nothing counted.
	inserted, _ = useInstallState(t, s, installUse("state_a", "sig_2", base.Add(time.Hour)))
	require.False(t, inserted)
	inserted, uses = useInstallState(t, s, installUse("state_b", "sig_2", base.Add(time.Hour)))
	require.True(t, inserted)
	require.Equal(t, 1, uses, "sig_2's refused use was not recorded")
	inserted, uses = useInstallState(t, s, installUse("state_c", "sig_1", base.Add(time.Hour)))
	require.True(t, inserted)
	require.Equal(t, 2, uses)

	// A rolled-back use leaves the state usable.
	err = store.InTx(ctx, s.DB(), func(tx *sql.Tx) error {
		_, _, err := s.UseInstallStateTx(ctx, tx, installUse("state_d", "sig_1", base.Add(time.Hour)))
		require.NoError(t, err)
		return fmt.Errorf("roll back")
	})
	require.Error(t, err)
	used, err = s.InstallStateUsed(ctx, "state_d")
	require.NoError(t, err)
	require.False(t, used)
}

// Concurrent uses of one signature each see an exact count: 1, 2, … n, in some order.
func testInstallSignatureUsesUnderRace(t *testing.T, s store.Store) {
	const n = 6
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen []int
	)
	for i := range n {
		wg.Go(func() {
			var uses int
			err := store.InTx(t.Context(), s.DB(), func(tx *sql.Tx) error {
				inserted, u, err := s.UseInstallStateTx(t.Context(), tx, installUse(fmt.Sprintf("state_%d", i), "sig_race", base.Add(time.Hour)))
				if err == nil && !inserted {
					err = fmt.Errorf("state_%d refused", i)
				}
				uses = u
				return err
			})
			mu.Lock()
			defer mu.Unlock()
			require.NoError(t, err)
			seen = append(seen, uses)
		})
	}
	wg.Wait()
	slices.Sort(seen)
	require.Equal(t, []int{1, 2, 3, 4, 5, 6}, seen)
}

func testDeleteExpiredInstallUses(t *testing.T, s store.Store) {
	ctx := t.Context()
	useInstallState(t, s, installUse("old", "sig_old", base.Add(-time.Minute)))
	useInstallState(t, s, installUse("new", "sig_new", base.Add(time.Minute)))
	n, err := s.DeleteInstallUses(ctx, base)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	for state, want := range map[string]bool{"old": false, "new": true} {
		used, err := s.InstallStateUsed(ctx, state)
		require.NoError(t, err)
		require.Equal(t, want, used, state)
	}
}
