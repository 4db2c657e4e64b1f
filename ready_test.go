package appbackend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/store"
)

// pingFailingStore is a store whose Ping fails the way the PostgreSQL adapter's does
// when the server is down, quoting the URL as configured.
type pingFailingStore struct {
	store.Store
	url string
}

func (s pingFailingStore) Ping(context.Context) error {
	return fmt.Errorf("ping postgres database %s: failed to connect: %w", s.url, errors.New("connection refused"))
}

// TestReadyzNeverLogsTheDatabasePassword: while the database is down every GET
// /readyz fails; the log says so without the password, and not once per probe.
func TestReadyzNeverLogsTheDatabasePassword(t *testing.T) {
	t.Parallel()
	const secret = "readyz_pw_8c1f"
	for _, url := range []string{
		"postgres://app:" + secret + "@127.0.0.1:1/app",
		"postgres://app@127.0.0.1:1/app?sslmode=disable&password=" + secret,
	} {
		var logs bytes.Buffer
		a, err := New(Config{Database: url, Dev: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		require.NoError(t, err)
		a.db = pingFailingStore{url: url}
		for range 5 {
			w := httptest.NewRecorder()
			a.ready.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			require.Equal(t, http.StatusServiceUnavailable, w.Code)
			require.NotContains(t, w.Body.String(), secret)
		}
		require.NotContains(t, logs.String(), secret)
		require.Contains(t, logs.String(), "127.0.0.1:1", "the log still says which database")
		require.Equal(t, 1, strings.Count(logs.String(), "database not ready"), "one line while it stays down:\n%s", logs.String())
	}
}

// countingPingStore counts pings, each of which takes a moment.
type countingPingStore struct {
	store.Store
	pings atomic.Int64
	err   error
}

func (s *countingPingStore) Ping(context.Context) error {
	s.pings.Add(1)
	time.Sleep(20 * time.Millisecond)
	return s.err
}

// TestReadyzSharesPings: GET /readyz is public; concurrent requests share one
// database ping, and while the database is away a failure answers for a second.
func TestReadyzSharesPings(t *testing.T) {
	t.Parallel()
	a, err := New(Config{Dev: true, Database: "sqlite:unused.db", Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	st := &countingPingStore{}
	a.db = st
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			w := httptest.NewRecorder()
			a.ready.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			require.Equal(t, http.StatusOK, w.Code)
		})
	}
	wg.Wait()
	// 50 requests arriving within one 20 ms ping; allow a few on a slow machine.
	require.LessOrEqual(t, st.pings.Load(), int64(5), "50 concurrent /readyz")

	// The pings above succeeded, and a success is not kept: the next probe pings.
	down := &countingPingStore{err: errors.New("connection refused")}
	a.db = down
	for range 20 {
		w := httptest.NewRecorder()
		a.ready.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		require.Equal(t, http.StatusServiceUnavailable, w.Code)
	}
	require.LessOrEqual(t, down.pings.Load(), int64(2), "20 /readyz in a row while the database is down")
}
