package storetest

import (
	"context"
	"fmt"
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/appbackend/appbackend/internal/store"
	"github.com/stretchr/testify/require"
)

// MigratingStore is a store that reports its pending migrations, as both adapters do.
type MigratingStore interface {
	store.Store
	PendingMigrations(ctx context.Context) ([]store.Migration, error)
}

// RunAppMigrations checks an adapter's handling of the app's own migrations: open
// builds a store on one database (the same each call, until the test ends) with the
// app's migrations fsys, migrated or not.
func RunAppMigrations(t *testing.T, open func(t *testing.T, fsys fs.FS, migrate bool) MigratingStore) {
	ctx := t.Context()
	v1 := fstest.MapFS{
		"0001_accounts.sql":       {Data: []byte(`CREATE TABLE app_accounts (id TEXT PRIMARY KEY, note TEXT)`)},
		"sqlite/0002_index.sql":   {Data: []byte(`CREATE INDEX app_accounts_note ON app_accounts (note)`)},
		"postgres/0002_index.sql": {Data: []byte(`CREATE INDEX app_accounts_note ON app_accounts (note)`)},
	}
	s := open(t, v1, true)
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO app_accounts (id, note) VALUES ('acct_1', 'kept')`); err != nil {
		require.FailNow(t, fmt.Sprintf("the app's table after its migrations: %v", err))
	}
	if pending, err := s.PendingMigrations(ctx); err != nil || len(pending) != 0 {
		require.FailNow(t, fmt.Sprintf("PendingMigrations after Open = %v, %v; want none", pending, err))
	}
	s.Close()

	// Reopening applies nothing twice; a new migration is pending until applied.
	v2 := fstest.MapFS{"0003_tags.sql": {Data: []byte(`CREATE TABLE app_tags (id TEXT PRIMARY KEY)`)}}
	for k, v := range v1 {
		v2[k] = v
	}
	s = open(t, v2, false)
	pending, err := s.PendingMigrations(ctx)
	require.False(t, err != nil || len(pending) != 1 || pending[0].Name != "0003_tags", "PendingMigrations with a new file = %v, %v; want 0003_tags", pending, err)
	require.NoError(t, s.Migrate(ctx), "Migrate")
	var note string
	if err := s.DB().QueryRowContext(ctx, `SELECT note FROM app_accounts WHERE id = 'acct_1'`).Scan(&note); err != nil || note != "kept" {
		require.FailNow(t, fmt.Sprintf("the app's row after a second migration = %q, %v; want kept", note, err))
	}
	if _, err := s.DB().ExecContext(ctx, `INSERT INTO app_tags (id) VALUES ('t')`); err != nil {
		require.FailNow(t, fmt.Sprintf("the new table: %v", err))
	}
	s.Close()

	// A failing migration names itself, changes nothing and stays pending.
	bad := fstest.MapFS{"0004_broken.sql": {Data: []byte(`CREATE TABLE app_broken (id TEXT); NOT SQL AT ALL`)}}
	for k, v := range v2 {
		bad[k] = v
	}
	s = open(t, bad, false)
	err = s.Migrate(ctx)
	require.Error(t, err, "Migrate with a broken migration succeeded")
	require.Contains(t, err.Error(), "0004_broken", "Migrate error %q does not name 0004_broken", err)
	if pending, _ := s.PendingMigrations(ctx); len(pending) != 1 {
		require.FailNow(t, fmt.Sprintf("after the failure %d migrations pending, want 1", len(pending)))
	}
	s.Close()
}
