package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/appbackend/appbackend/internal/baseservice"
	"github.com/appbackend/appbackend/internal/webhook"
)

func writeError(w http.ResponseWriter, r *http.Request, err error) { apierror.Write(w, r, nil, err) }

// A line budget lets perSecond lines through in one second and tells the first line
// of the next second how many it left out.
func TestLineBudget(t *testing.T) {
	t.Parallel()
	b := lineBudget{perSecond: 3}
	at := time.Unix(1_700_000_000, 0)
	for i := range 3 {
		ok, suppressed := b.take(at)
		require.True(t, ok, "line %d", i)
		require.Zero(t, suppressed)
	}
	for range 5 {
		ok, _ := b.take(at)
		require.False(t, ok)
	}
	ok, suppressed := b.take(at.Add(time.Second))
	require.True(t, ok)
	require.Equal(t, int64(5), suppressed)
}

// Observe keeps a caller's well-formed X-Request-Id, names the other requests itself,
// and turns a panic into the contract's 500 with a log line naming the request.
func TestObserve(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	f := NewFront(&baseservice.Archetype{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	root := http.NewServeMux()
	root.HandleFunc("GET /ok", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	root.HandleFunc("GET /boom", func(w http.ResponseWriter, r *http.Request) { panic("boom") })
	h := f.Observe(root, Routes{Signed: http.NewServeMux(), Public: http.NewServeMux(), WriteError: writeError})

	do := func(path, id string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		if id != "" {
			r.Header.Set("X-Request-Id", id)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	require.Equal(t, "req-1", do("/ok", "req-1").Header().Get("X-Request-Id"))
	forged := do("/ok", "bad id\nlevel=ERROR").Header().Get("X-Request-Id")
	require.NotContains(t, forged, " ")
	require.NotEmpty(t, forged)
	require.NotEqual(t, forged, do("/ok", "").Header().Get("X-Request-Id"), "generated ids are unique")

	w := do("/boom", "boom-1")
	require.Equal(t, http.StatusInternalServerError, w.Code)
	var body struct{ Error apierror.Error }
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
	require.Equal(t, apierror.CodeInternal, body.Error.Code)
	require.Contains(t, logs.String(), `msg="handler panic" request_id=boom-1`)
	require.Contains(t, logs.String(), "level=WARN msg=request request_id=boom-1")
	require.Zero(t, f.InFlight())
}

// GET /readyz is 503 while the database is away or full, and says which.
func TestReadiness(t *testing.T) {
	t.Parallel()
	var pingErr, writeErr error
	r := NewReadiness(ReadyConfig{Database: "sqlite:x.db", WriteError: writeError,
		Ping:     func(context.Context) error { return pingErr },
		WriteErr: func(context.Context) error { return writeErr },
	})
	probe := func() (int, string) {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return w.Code, w.Body.String()
	}
	code, body := probe()
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"status":"ready"}`, body)

	writeErr = &webhook.DiskFullError{Since: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC), Err: errors.New("disk full")}
	code, body = probe()
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "disk full since 2026-12-07T00:00:00Z")

	writeErr, pingErr = nil, errors.New("connection refused")
	code, body = probe()
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.True(t, strings.Contains(body, "database unreachable"), body)
}

// Without a domain there is no HTTPS: a nil HTTPS serves nothing and the plain
// listener serves everything.
func TestNilHTTPS(t *testing.T) {
	t.Parallel()
	var h *HTTPS
	all := http.NotFoundHandler()
	require.NotNil(t, h.PlainHandler(all))
	h.Serve(nil, nil)
	h.Shutdown(t.Context(), time.Second)
	h.Stop()
}
