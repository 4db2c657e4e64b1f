package sqlite_test

import (
	"database/sql"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/dbtest"
)

// The write connection keeps its statements prepared (stmtcache.go). What callers rely
// on must hold as without the cache: a query that runs while another query's rows of
// the same text are still open reads its own rows, more distinct texts than the cache
// holds all answer right, and errors and column types come through.
func TestStatementCacheKeepsQueriesApart(t *testing.T) {
	t.Parallel()
	s := dbtest.SQLite(t)
	ctx := t.Context()
	db := s.DB()
	_, err := db.ExecContext(ctx, `CREATE TABLE numbers (n INTEGER PRIMARY KEY, word TEXT NOT NULL)`)
	require.NoError(t, err)
	for n := 1; n <= 5; n++ {
		_, err := db.ExecContext(ctx, `INSERT INTO numbers (n, word) VALUES (?, ?)`, n, fmt.Sprint("w", n))
		require.NoError(t, err)
	}

	const query = `SELECT n, word FROM numbers WHERE n >= ? ORDER BY n`
	err = store.InTx(ctx, db, func(tx *sql.Tx) error {
		outer, err := tx.QueryContext(ctx, query, 1)
		require.NoError(t, err)
		defer outer.Close()
		var got []string
		for outer.Next() {
			var n int
			var word string
			require.NoError(t, outer.Scan(&n, &word))
			// The same text again while outer's rows are open: its own statement.
			var count int
			inner, err := tx.QueryContext(ctx, query, n)
			require.NoError(t, err)
			for inner.Next() {
				count++
			}
			require.NoError(t, inner.Close())
			got = append(got, fmt.Sprintf("%s:%d", word, count))
		}
		require.NoError(t, outer.Err())
		require.Equal(t, []string{"w1:5", "w2:4", "w3:3", "w4:2", "w5:1"}, got)
		return nil
	})
	require.NoError(t, err)

	// More distinct texts than the cache holds, each twice: evicted ones are prepared
	// again and every answer is its own.
	for round := range 2 {
		for i := range 300 {
			var got int
			require.NoError(t, db.QueryRowContext(ctx, fmt.Sprintf(`SELECT count(*) + %d FROM numbers WHERE n > ?`, i), 2).Scan(&got), "round %d", round)
			require.Equal(t, 3+i, got)
		}
	}

	// A statement whose execution fails leaves the cached one usable.
	_, err = db.ExecContext(ctx, `INSERT INTO numbers (n, word) VALUES (?, ?)`, 1, "again")
	require.ErrorContains(t, err, "UNIQUE")
	_, err = db.ExecContext(ctx, `INSERT INTO numbers (n, word) VALUES (?, ?)`, 6, "w6")
	require.NoError(t, err)

	rows, err := db.QueryContext(ctx, query, 6)
	require.NoError(t, err)
	types, err := rows.ColumnTypes()
	require.NoError(t, err)
	require.Equal(t, "INTEGER", types[0].DatabaseTypeName())
	require.True(t, rows.Next())
	var n int
	var word string
	require.NoError(t, rows.Scan(&n, &word))
	require.Equal(t, "w6", word)
	require.NoError(t, rows.Close())
}
