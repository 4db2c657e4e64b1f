package e2e

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend/internal/e2etest"
)

// whatwgUpstream routes by new URL(req.url).pathname, as Node servers and the
// frameworks on the WHATWG URL parser do, and prints one JSON line per request: the
// path as received and the pathname it served.
const whatwgUpstream = `
const http = require("node:http");
const srv = http.createServer((req, res) => {
  const pathname = new URL(req.url, "http://upstream").pathname;
  console.log(JSON.stringify({ url: req.url, pathname, user: req.headers["appbackend-user-id"] ?? null }));
  res.setHeader("Content-Type", "application/json");
  res.end(JSON.stringify({ served: pathname }));
});
srv.listen(0, "127.0.0.1", () => console.log(JSON.stringify({ port: srv.address().port })));
`

type whatwgLine struct {
	Port     int     `json:"port"`
	URL      string  `json:"url"`
	Pathname string  `json:"pathname"`
	User     *string `json:"user"`
}

// TestGatewayNodeUpstreamIsNotReachedOutsideAPI: behind the binary, a Node upstream
// never serves a path outside /api/ (or outside the base path) to a signed caller,
// whatever dot-segments or separators the caller encodes.
func TestGatewayNodeUpstreamIsNotReachedOutsideAPI(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	script := filepath.Join(t.TempDir(), "upstream.js")
	require.NoError(t, os.WriteFile(script, []byte(whatwgUpstream), 0o600))
	cmd := exec.Command(node, script)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	lines := make(chan whatwgLine, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var l whatwgLine
			if json.Unmarshal(sc.Bytes(), &l) == nil {
				lines <- l
			}
		}
	}()
	next := func() whatwgLine {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "the Node upstream exited")
			return l
		case <-time.After(60 * time.Second): // a bound for a broken test, not a wait for success
			require.FailNow(t, "no line from the Node upstream")
			return whatwgLine{}
		}
	}
	port := next().Port
	require.NotZero(t, port)

	srv := e2etest.Start(t, e2etest.Options{Program: e2etest.Serve, Name: "gateway-whatwg", Env: map[string]string{
		"APPBACKEND_UPSTREAM":          "http://127.0.0.1:" + strconv.Itoa(port) + "/base",
		"APPBACKEND_UPSTREAM_SECRET":   gatewaySecret,
		"APPBACKEND_UPSTREAM_API_ADDR": "127.0.0.1:0",
	}})

	for _, path := range []string{
		"/api/%2e%2e/internal/flush",
		"/api/x/%2e%2e/%2e%2e/internal/flush",
		"/api/x/%2E%2E/%2e%2e/%2e%2e/internal/flush",
		"/api/.%2e/internal/flush",
		"/api/x%5c..%5c..%5cinternal",
		"/api/x%2f..%2f..%2finternal",
	} {
		status, _, body := signedCall(t, http.MethodPost, srv.URL+path, "usr_1", "acct_1", nil, nil)
		require.Equal(t, http.StatusBadRequest, status, "%s: %s", path, body)
		require.Contains(t, string(body), `"bad_request"`)
	}
	// Requests are sequential: had any of the above been forwarded, its line would come
	// before this one's.
	status, _, body := signedCall(t, http.MethodPost, srv.URL+"/api/ok", "usr_1", "acct_1", nil, nil)
	require.Equal(t, http.StatusOK, status, string(body))
	l := next()
	require.Equal(t, "/base/api/ok", l.URL)
	require.Equal(t, "/base/api/ok", l.Pathname)
	require.NotNil(t, l.User)
	require.Equal(t, "usr_1", *l.User)
	require.True(t, strings.HasPrefix(l.Pathname, "/base/api/"))
}
