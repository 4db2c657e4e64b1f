package install

import (
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/dbtest"
)

// TestStatusAfterReadsOncePerReadMemo: under a read memo (one job's delivery)
// StatusAfter reads an account's installation once and answers from that read after,
// while a lifecycle event newer than it still sets its own status; without a memo each
// call reads the database.
func TestStatusAfterReadsOncePerReadMemo(t *testing.T) {
	t.Parallel()
	st := dbtest.SQLite(t)
	at := time.Unix(1_700_000_000, 0).UTC()
	put := func(status store.InstallStatus) {
		require.NoError(t, store.InTx(t.Context(), st.DB(), func(tx *sql.Tx) error {
			return st.PutInstallationTx(t.Context(), tx, store.Installation{AccountID: "acct_1", Livemode: true,
				Status: status, InstalledAt: at, LastEventCreated: at, LastEventID: "evt_0"})
		}))
	}
	put(store.Installed)
	l := New(st, Config{})
	ev := &store.Event{ID: "evt_1", Type: "invoice.paid", AccountID: "acct_1", Livemode: true, Created: at.Add(time.Second)}
	memo := store.WithReadMemo(t.Context())
	status, ok, err := l.StatusAfter(memo, ev)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, store.Installed, status)

	put(store.Uninstalled)
	status, _, err = l.StatusAfter(memo, ev)
	require.NoError(t, err)
	require.Equal(t, store.Installed, status, "the memo's read, not a second one")
	status, _, err = l.StatusAfter(t.Context(), ev)
	require.NoError(t, err)
	require.Equal(t, store.Uninstalled, status, "without a memo, a fresh read")

	// Another account under the same memo is read on its own.
	_, ok, err = l.StatusAfter(memo, &store.Event{ID: "evt_2", Type: "invoice.paid", AccountID: "acct_2", Livemode: true, Created: at})
	require.NoError(t, err)
	require.False(t, ok, "acct_2 never installed")
}
