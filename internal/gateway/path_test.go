package gateway

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckPath(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"/api/x", "/api/a%20b/c.d", "/api/...x/..y.", "/api/caf%C3%A9", "/api/", "/api/x;y=1", "/api//x"} {
		require.NoError(t, CheckPath(p, "/api/"), p)
	}
	for _, p := range []string{
		"/api/..", "/api/%2e%2e/x", "/api/%2E%2E/x", "/api/.%2e/x", "/api/%2e./x", "/api/x/.", "/api/./x",
		"/api/x%2fy", "/api/x%2Fy", "/api/x%5cy", `/api/x\y`, "/api/..;/x", "/api/.;x=1/y", "/api/x%00",
		"/api/x%0a", "/api/%zz", "/apix", "/x", "api/x", "",
	} {
		require.ErrorIs(t, CheckPath(p, "/api/"), ErrPath, p)
	}
}

func TestParseCallAndUpstreamRefuseDotSegments(t *testing.T) {
	t.Parallel()
	_, _, err := ParseCall("POST /jobs/../admin")
	require.ErrorIs(t, err, ErrPath)
	_, _, err = ParseCall("POST /jobs/%2e%2e/admin?x=1")
	require.ErrorIs(t, err, ErrPath)
	m, p, err := ParseCall("POST /jobs/refresh?x=..")
	require.NoError(t, err)
	require.Equal(t, "POST", m)
	require.Equal(t, "/jobs/refresh?x=..", p)

	_, err = ParseUpstream("http://127.0.0.1:8000/app/%2e%2e")
	require.ErrorIs(t, err, ErrUpstreamURL)
	u, err := ParseUpstream("http://127.0.0.1:8000/app/")
	require.NoError(t, err)
	require.Equal(t, "/app", u.Path)
}

// Deliveries never follow redirects: a 3xx is a failed delivery naming the Location,
// and the target is never asked (for events, jobs and schedule runs alike, which all
// go through Deliver).
func TestDeliverDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	var followed atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/landing" {
			followed.Add(1)
			return
		}
		code := map[string]int{"/301": 301, "/302": 302, "/303": 303, "/307": 307, "/308": 308}[r.URL.Path]
		w.Header().Set("Location", "/landing")
		w.WriteHeader(code)
	}))
	defer srv.Close()
	g, err := New(nil, Config{Upstream: srv.URL, Secret: NewSecret()})
	require.NoError(t, err)
	for _, code := range []string{"301", "302", "303", "307", "308"} {
		_, err := g.Deliver(t.Context(), Call{Method: http.MethodPost, Path: "/" + code, ID: "evt_1", Body: []byte(`{}`)})
		var se *StatusError
		require.True(t, errors.As(err, &se), "%s: %v", code, err)
		require.Equal(t, "/landing", se.Location)
		require.True(t, strings.HasPrefix(err.Error(), "upstream answered "+code+" redirecting to /landing"), err.Error())
	}
	require.Zero(t, followed.Load())
}
