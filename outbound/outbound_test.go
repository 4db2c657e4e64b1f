package outbound_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/outbound"
)

func TestResponseSizeLimit(t *testing.T) {
	t.Parallel()
	const limit = 1000
	tests := []struct {
		name     string
		size     int
		chunked  bool // no Content-Length: the limit is found while reading
		wantErr  bool
		fromDo   bool // refused before reading, from Content-Length
		wantRead int
	}{
		{name: "under the limit", size: limit - 1, wantRead: limit - 1},
		{name: "exactly the limit", size: limit, wantRead: limit},
		{name: "exactly the limit, chunked", size: limit, chunked: true, wantRead: limit},
		{name: "over, announced by Content-Length", size: limit + 1, wantErr: true, fromDo: true},
		{name: "over, chunked", size: 5 * limit, chunked: true, wantErr: true, wantRead: limit},
		{name: "one byte over, chunked", size: limit + 1, chunked: true, wantErr: true, wantRead: limit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body := bytes.Repeat([]byte("x"), tt.size)
				if tt.chunked {
					// Two writes with a flush between: net/http then sends no length.
					_, _ = w.Write(body[:tt.size/2])
					w.(http.Flusher).Flush()
					_, _ = w.Write(body[tt.size/2:])
					return
				}
				w.Header().Set("Content-Length", strconv.Itoa(tt.size))
				_, _ = w.Write(body)
			}))
			t.Cleanup(srv.Close)

			c := outbound.New(outbound.Config{MaxResponseBytes: limit})
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/data?access_token=tok_secret", nil)
			require.NoError(t, err)
			resp, err := c.Do(req)
			if tt.fromDo {
				require.ErrorIs(t, err, outbound.ErrResponseTooLarge)
				require.NotContains(t, err.Error(), "tok_secret")
				return
			}
			require.NoError(t, err)
			defer resp.Body.Close()
			data, err := io.ReadAll(resp.Body)
			require.Len(t, data, tt.wantRead)
			if !tt.wantErr {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, outbound.ErrResponseTooLarge)
			require.Contains(t, err.Error(), "access_token=REDACTED")
			require.NotContains(t, err.Error(), "tok_secret")
		})
	}
}

func TestTimeoutErrorIsRedacted(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })

	c := outbound.New(outbound.Config{Timeout: 100 * time.Millisecond})
	start := time.Now()
	err := c.GetJSON(t.Context(), srv.URL+"/slow?api_key=key_secret&page=2", http.Header{"Authorization": {"Bearer hdr_secret"}}, nil)
	elapsed := time.Since(start)
	require.Error(t, err)
	require.Less(t, elapsed, 2*time.Second)
	var ne interface{ Timeout() bool }
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "a timeout: %v", err)
	require.Contains(t, err.Error(), "api_key=REDACTED&page=2")
	require.NotContains(t, err.Error(), "key_secret")
	require.NotContains(t, err.Error(), "hdr_secret")
}

func TestJSONHelpers(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo":
			require.Equal(t, "application/json", r.Header.Get("Content-Type"))
			require.Equal(t, "appbackend-test", r.Header.Get("User-Agent"))
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.Copy(w, r.Body)
		case "/missing":
			http.Error(w, `{"error":"no such thing"}`, http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	c := outbound.New(outbound.Config{UserAgent: "appbackend-test"})

	var got map[string]int
	require.NoError(t, c.PostJSON(t.Context(), srv.URL+"/echo", nil, map[string]int{"n": 1}, &got))
	require.Equal(t, map[string]int{"n": 1}, got)

	err := c.GetJSON(t.Context(), srv.URL+"/missing?token=tok_secret", nil, &got)
	var se *outbound.StatusError
	require.ErrorAs(t, err, &se)
	require.Equal(t, http.StatusNotFound, se.StatusCode)
	require.Contains(t, se.Body, "no such thing")
	require.Contains(t, err.Error(), "token=REDACTED")
	require.NotContains(t, err.Error(), "tok_secret")

	err = c.GetJSON(t.Context(), "http://[::1]:namedport/?secret=s3cret", nil, nil)
	require.Error(t, err)
	require.NotContains(t, err.Error(), "s3cret")
}

func TestLogsAreRedacted(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := outbound.New(outbound.Config{Logger: logger})
	header := http.Header{"Authorization": {"Bearer hdr_secret"}, "X-Api-Key": {"xkey_secret"}}
	require.NoError(t, c.GetJSON(t.Context(), srv.URL+"/v1/things?client_secret=cs_secret&limit=3", header, nil))

	out := logs.String()
	require.Contains(t, out, "outbound request")
	require.Contains(t, out, "status=200")
	require.Contains(t, out, "client_secret=REDACTED&limit=3")
	for _, secret := range []string{"hdr_secret", "xkey_secret", "cs_secret"} {
		require.NotContains(t, out, secret)
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"nothing sensitive", "https://api.example.test/v1/items?limit=10&page=2", "https://api.example.test/v1/items?limit=10&page=2"},
		{"api key", "https://x.test/?api_key=abc&q=1", "https://x.test/?api_key=REDACTED&q=1"},
		{"token and secret", "https://x.test/?access_token=a&client_secret=b", "https://x.test/?access_token=REDACTED&client_secret=REDACTED"},
		{"oauth code", "https://x.test/cb?code=c0de&state=s", "https://x.test/cb?code=REDACTED&state=s"},
		{"case and escaping", "https://x.test/?API%5FKEY=abc", "https://x.test/?API%5FKEY=REDACTED"},
		{"password in URL", "https://user:hunter2@x.test/", "https://user:xxxxx@x.test/"},
		{"fragment dropped", "https://x.test/#access_token=abc", "https://x.test/"},
		{"name without value", "https://x.test/?token", "https://x.test/?token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, err := url.Parse(tt.in)
			require.NoError(t, err)
			got := outbound.RedactURL(u)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestRedactHeader(t *testing.T) {
	t.Parallel()
	h := http.Header{
		"Authorization":    {"Bearer a"},
		"Cookie":           {"sid=b"},
		"X-Api-Key":        {"c"},
		"Stripe-Signature": {"t=1,v1=d"},
		"Accept":           {"application/json"},
	}
	got := outbound.RedactHeader(h)
	require.Equal(t, http.Header{
		"Authorization":    {"REDACTED"},
		"Cookie":           {"REDACTED"},
		"X-Api-Key":        {"REDACTED"},
		"Stripe-Signature": {"REDACTED"},
		"Accept":           {"application/json"},
	}, got)
	require.Equal(t, "Bearer a", h.Get("Authorization"), "the original is untouched")
	require.False(t, strings.Contains(got.Get("Accept"), "REDACTED"))
}
