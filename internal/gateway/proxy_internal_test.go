package gateway

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/appauth"
)

// countingWriter counts the writes that reach it: what the transport's bufio.Writer
// hands the connection, one syscall each.
type countingWriter struct {
	writes int
	buf    bytes.Buffer
}

func (c *countingWriter) Write(p []byte) (int, error) { c.writes++; return c.buf.Write(p) }

// writeOnce is a RoundTripper that serialises the request as http.Transport does (over
// a bufio.Writer on the connection) and answers 200.
type writeOnce struct{ conn countingWriter }

func (t *writeOnce) RoundTrip(r *http.Request) (*http.Response, error) {
	bw := bufio.NewWriterSize(&t.conn, 4<<10)
	if err := r.Write(bw); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("{}")), Request: r}, nil
}

// A proxied request reaches the upstream in one write, headers and body together:
// net/http flushes the headers on their own first unless it knows the body is in
// memory, which costs a syscall and a TCP segment more per request.
func TestProxiedRequestIsOneWrite(t *testing.T) {
	t.Parallel()
	g, err := New(nil, Config{Upstream: "http://127.0.0.1:1/base", Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
	require.NoError(t, err)
	rt := &writeOnce{}
	g.proxy.Transport = rt

	body := []byte(`{"user_id":"usr_1","account_id":"acct_1"}`)
	req := httptest.NewRequest(http.MethodPost, "/api/do_secret_stuff", nil)
	// As appauth.Protect leaves it.
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	req = req.WithContext(appauth.NewContext(req.Context(), &appauth.Identity{UserID: "usr_1", AccountID: "acct_1"}))
	w := httptest.NewRecorder()
	g.ServeHTTP(w, req)

	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Equal(t, 1, rt.conn.writes, "writes to the upstream connection for one request")
	sent, err := http.ReadRequest(bufio.NewReader(&rt.conn.buf))
	require.NoError(t, err)
	got, err := io.ReadAll(sent.Body)
	require.NoError(t, err)
	require.Equal(t, string(body), string(got), "the exact body")
	require.Equal(t, "/base/api/do_secret_stuff", sent.URL.Path)
	require.Equal(t, "usr_1", sent.Header.Get(HeaderUserID))
}

// The reserved names are recognised in any case and with "_" for "-", and nothing else
// is.
func TestReservedName(t *testing.T) {
	t.Parallel()
	for _, k := range []string{"Appbackend-User-Id", "APPBACKEND_ROLES", "appbackend-x", "Webhook-Signature", "webhook_id", "Stripe-Signature", "STRIPE_SIGNATURE"} {
		require.True(t, reservedName(k), k)
	}
	for _, k := range []string{"Content-Type", "Appbackend", "Webhook", "Stripe-Signature-X", "Stripe-Signatur", "X-Appbackend-User-Id", "Stripe-Account"} {
		require.False(t, reservedName(k), k)
	}
}
