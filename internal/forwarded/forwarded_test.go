package forwarded_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/forwarded"
)

func TestClient(t *testing.T) {
	t.Parallel()
	trusted, err := forwarded.Parse([]string{"10.0.0.0/8", "192.0.2.7", "::1"})
	require.NoError(t, err)
	cases := []struct {
		name      string
		proxies   forwarded.Proxies
		peer      string
		xff       []string
		proto     string
		wantAddr  string
		wantHTTPS bool
	}{
		{name: "no proxy trusted ignores headers", peer: "10.1.1.1:5000", xff: []string{"203.0.113.9"}, proto: "https", wantAddr: "10.1.1.1:5000"},
		{name: "untrusted peer ignored", proxies: trusted, peer: "198.51.100.1:5000", xff: []string{"203.0.113.9"}, proto: "https", wantAddr: "198.51.100.1:5000"},
		{name: "trusted peer believed", proxies: trusted, peer: "10.1.1.1:5000", xff: []string{"203.0.113.9"}, proto: "https", wantAddr: "203.0.113.9:0", wantHTTPS: true},
		{name: "single address trusted", proxies: trusted, peer: "192.0.2.7:1", xff: []string{"203.0.113.9"}, wantAddr: "203.0.113.9:0"},
		{name: "spoofed left entries skipped", proxies: trusted, peer: "10.1.1.1:5000", xff: []string{"1.2.3.4, 203.0.113.9, 10.2.2.2"}, wantAddr: "203.0.113.9:0"},
		{name: "several header lines", proxies: trusted, peer: "10.1.1.1:5000", xff: []string{"1.2.3.4", "203.0.113.9"}, wantAddr: "203.0.113.9:0"},
		{name: "garbage stops the walk", proxies: trusted, peer: "10.1.1.1:5000", xff: []string{"203.0.113.9, junk"}, wantAddr: "10.1.1.1:5000"},
		{name: "http proto", proxies: trusted, peer: "10.1.1.1:5000", proto: "http", wantAddr: "10.1.1.1:5000"},
		{name: "last proto wins", proxies: trusted, peer: "10.1.1.1:5000", proto: "http, https", wantAddr: "10.1.1.1:5000", wantHTTPS: true},
		{name: "ipv6 loopback proxy", proxies: trusted, peer: "[::1]:5000", xff: []string{"2001:db8::1"}, wantAddr: "[2001:db8::1]:0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.peer
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if tc.proto != "" {
				r.Header.Set("X-Forwarded-Proto", tc.proto)
			}
			gotAddr, gotHTTPS := tc.proxies.Client(r)
			require.Equal(t, tc.wantAddr, gotAddr)
			require.Equal(t, tc.wantHTTPS, gotHTTPS)
		})
	}
}

func TestHandlerStripsUntrusted(t *testing.T) {
	t.Parallel()
	trusted, err := forwarded.Parse([]string{"10.0.0.0/8"})
	require.NoError(t, err)
	var seen *http.Request
	h := trusted.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r }))

	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "198.51.100.1:5000"
	r.Header.Set("X-Forwarded-For", "203.0.113.9")
	r.Header.Set("X-Forwarded-Proto", "https")
	h.ServeHTTP(httptest.NewRecorder(), r)
	require.Equal(t, "198.51.100.1:5000", seen.RemoteAddr)
	require.Empty(t, seen.Header.Get("X-Forwarded-Proto"))
	require.Empty(t, seen.Header.Get("X-Forwarded-For"))

	r.RemoteAddr = "10.0.0.5:5000"
	h.ServeHTTP(httptest.NewRecorder(), r)
	require.Equal(t, "203.0.113.9:0", seen.RemoteAddr)
	require.Equal(t, "https", seen.Header.Get("X-Forwarded-Proto"))
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0"} {
		_, err := forwarded.Parse([]string{bad})
		require.Error(t, err, bad)
	}
}
