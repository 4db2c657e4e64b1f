package store

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

func TestReadMigrations(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"0001_accounts.sql":           {Data: []byte("CREATE TABLE accounts (id TEXT)")},
		"0002_tags.sql":               {Data: []byte("CREATE TABLE tags (id INTEGER)")},
		"postgres/0002_tags.sql":      {Data: []byte("CREATE TABLE tags (id BIGSERIAL)")},
		"sqlite/0003_only_sqlite.sql": {Data: []byte("PRAGMA user_version = 3")},
	}
	for _, tc := range []struct {
		dialect string
		want    []string
	}{
		{"sqlite", []string{"0001_accounts:CREATE TABLE accounts (id TEXT)", "0002_tags:CREATE TABLE tags (id INTEGER)", "0003_only_sqlite:PRAGMA user_version = 3"}},
		{"postgres", []string{"0001_accounts:CREATE TABLE accounts (id TEXT)", "0002_tags:CREATE TABLE tags (id BIGSERIAL)"}},
	} {
		list, err := ReadMigrations(fsys, tc.dialect)
		require.NoError(t, err, "%s", tc.dialect)
		var got []string
		for _, m := range list {
			got = append(got, m.Name+":"+m.SQL)
		}
		require.Equal(t, strings.Join(tc.want, "|"), strings.Join(got, "|"))
	}
	list, err := ReadMigrations(nil, "sqlite")
	require.NoError(t, err, "ReadMigrations(nil) = %v, %v; want none", list, err)
	require.Empty(t, list, "ReadMigrations(nil) = %v, %v; want none", list, err)
}

func TestReadMigrationsRefusesMistakes(t *testing.T) {
	t.Parallel()
	for name, fsys := range map[string]fstest.MapFS{
		"no number":          {"accounts.sql": {}},
		"zero version":       {"0000_x.sql": {}},
		"not sql":            {"0001_x.txt": {}},
		"same version twice": {"0001_a.sql": {}, "01_b.sql": {}},
		"unknown folder":     {"mysql/0001_a.sql": {}},
	} {
		_, err := ReadMigrations(fsys, "sqlite")
		require.Error(t, err, "%s: ReadMigrations succeeded, want an error", name)
	}
}
