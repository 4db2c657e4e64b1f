package e2etest

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRelay: a server behind a relay keeps its address across a restart on another
// port; while it is down a connection is closed at once, and once it is stopped the
// relay never reaches whatever binds its old port next.
func TestRelay(t *testing.T) {
	t.Parallel()
	r := NewRelay(t)
	get := func() (string, error) {
		// A new connection each time, as a client after a restart would open.
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get(r.URL())
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	serve := func(name string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, name) }))
	}

	_, err := get()
	require.Error(t, err, "no target: the request got an answer")

	first := serve("first")
	r.SetTarget(first.Listener.Addr().String())
	if got, err := get(); err != nil || got != "first" {
		require.FailNow(t, fmt.Sprintf("got %q, %v; want first", got, err))
	}

	// Down: the relay must not dial the port it let go, which another process (here an
	// impostor) may have bound since.
	r.SetTarget("")
	oldAddr := first.Listener.Addr().String()
	first.Close()
	if ln, err := net.Listen("tcp", oldAddr); err == nil {
		impostor := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "impostor") })}}
		impostor.Start()
		defer impostor.Close()
	}
	if got, err := get(); err == nil {
		require.FailNow(t, fmt.Sprintf("down: the request got %q", got))
	}

	second := serve("second")
	defer second.Close()
	r.SetTarget(second.Listener.Addr().String())
	if got, err := get(); err != nil || got != "second" {
		require.FailNow(t, fmt.Sprintf("after the restart: got %q, %v; want second", got, err))
	}
}
