package certstore_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/certstore"
	"github.com/appbackend/appbackend/internal/store/postgres"
	"github.com/appbackend/appbackend/internal/store/postgres/pgtest"
	"github.com/appbackend/appbackend/internal/store/sqlite"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

type db interface {
	certstore.DB
	Close() error
}

// databases runs fn on SQLite and on PostgreSQL: the storage is the same SQL on both.
func databases(t *testing.T, fn func(t *testing.T, open func() db)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "app.db")
		fn(t, func() db {
			st, err := sqlite.Open(t.Context(), path)
			require.NoError(t, err)
			t.Cleanup(func() { st.Close() })
			return st
		})
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url := pgtest.NewDatabase(t)
		fn(t, func() db {
			st, err := postgres.Open(t.Context(), url)
			require.NoError(t, err)
			t.Cleanup(func() { st.Close() })
			return st
		})
	})
}

func TestStorage(t *testing.T) {
	t.Parallel()
	databases(t, testStorage)
}

func testStorage(t *testing.T, open func() db) {
	s := certstore.New(open())
	ctx := t.Context()
	_, err := s.Load(ctx, "certificates/ca/example.com/example.com.crt")
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.NoError(t, s.Store(ctx, "certificates/ca/example.com/example.com.crt", []byte("CERT\x00\xff")))
	require.NoError(t, s.Store(ctx, "certificates/ca/example.com/example.com.key", []byte("KEY")))
	require.NoError(t, s.Store(ctx, "certificates/ca/other.org/other.org.crt", []byte("C2")))
	got, err := s.Load(ctx, "certificates/ca/example.com/example.com.crt")
	require.NoError(t, err)
	require.Equal(t, []byte("CERT\x00\xff"), got)
	require.True(t, s.Exists(ctx, "certificates/ca"))
	require.True(t, s.Exists(ctx, "certificates/ca/example.com/example.com.key"))
	require.False(t, s.Exists(ctx, "certificates/ca/example"))

	list, err := s.List(ctx, "certificates/ca", false)
	require.NoError(t, err)
	require.Equal(t, []string{"certificates/ca/example.com", "certificates/ca/other.org"}, list)
	list, err = s.List(ctx, "certificates", true)
	require.NoError(t, err)
	sort.Strings(list)
	require.Len(t, list, 3)

	info, err := s.Stat(ctx, "certificates/ca/example.com/example.com.key")
	require.NoError(t, err)
	require.True(t, info.IsTerminal)
	require.WithinDuration(t, time.Now(), info.Modified, time.Hour)

	require.NoError(t, s.Delete(ctx, "certificates/ca/example.com"))
	require.False(t, s.Exists(ctx, "certificates/ca/example.com/example.com.crt"))
	require.True(t, s.Exists(ctx, "certificates/ca/other.org/other.org.crt"))
	require.NoError(t, s.Delete(ctx, "nothing/here"))
}

func TestLockExcludesAndExpires(t *testing.T) {
	t.Parallel()
	databases(t, testLock)
}

func testLock(t *testing.T, open func() db) {
	st := open()
	a := certstore.New(st)
	b := certstore.New(open()) // another replica on the same database
	b.PollEvery = 10 * time.Millisecond
	ctx := t.Context()
	require.NoError(t, a.Lock(ctx, "issue_cert_example.com"))

	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, b.Lock(short, "issue_cert_example.com"), context.DeadlineExceeded)

	got := make(chan error, 1)
	go func() { got <- b.Lock(ctx, "issue_cert_example.com") }()
	require.NoError(t, a.Unlock(ctx, "issue_cert_example.com"))
	require.NoError(t, <-got)
	require.NoError(t, b.Unlock(ctx, "issue_cert_example.com"))

	// A holder that died: its lock (an expiry in the past) is taken over.
	require.NoError(t, st.PutSetting(ctx, "certmagic-lock/other", "deadbeef-1 1000"))
	require.NoError(t, b.Lock(ctx, "other"))
	require.NoError(t, b.Unlock(ctx, "other"))
}
