package webhook_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/webhook/webhooktest"
	"github.com/stretchr/testify/require"
)

// TestStripeNodeSignedEvents posts events signed by stripe-node's
// webhooks.generateTestHeaderString (testdata/node/peer_sign.js). Node and stripe-node
// are part of the test suite: without them the test fails.
func TestStripeNodeSignedEvents(t *testing.T) {
	t.Parallel()
	b := setup(t, testConfig{})
	bodies := [][]byte{
		webhooktest.Event("account.application.authorized", webhooktest.Account("acct_node"), webhooktest.Live(),
			webhooktest.Created(time.Now().Add(-time.Minute))),
		webhooktest.Event("invoice.paid", webhooktest.Account("acct_node"), webhooktest.Live()),
	}
	var input bytes.Buffer
	now := time.Now().Unix()
	for _, body := range bodies {
		line, _ := json.Marshal(map[string]any{"payload": base64.StdEncoding.EncodeToString(body), "secret": secret, "timestamp": now})
		input.Write(append(line, '\n'))
	}
	headers := runNodeSigner(t, input.Bytes())
	require.Len(t, headers, len(bodies), "stripe-node signed %d of %d bodies: %q", len(headers), len(bodies), headers)
	for i, body := range bodies {
		header, ok := strings.CutPrefix(headers[i], "ok ")
		if !ok {
			require.FailNow(t, fmt.Sprintf("stripe-node: %s", headers[i]))
		}
		r := b.postWithHeader(t, body, header)
		require.Equal(t, 200, r.status, "POST with stripe-node's header = %d %s, want 200", r.status, r.raw)
		b.waitStatus(t, eventID(t, body), store.EventProcessed)
	}
	in, ok := b.installation(t, "acct_node", true)
	require.True(t, ok, "installation = %+v (found %v), want installed in live mode", in, ok)
	require.Equal(t, store.Installed, in.Status, "installation = %+v (found %v), want installed in live mode", in, ok)
}

func runNodeSigner(t *testing.T, input []byte) []string {
	t.Helper()
	node, err := exec.LookPath("node")
	require.NoError(t, err, "node is not on PATH; this test signs events with stripe-node (run make node-deps after installing Node.js)")
	modules := os.Getenv("APPBACKEND_NODE_MODULES")
	if modules == "" {
		modules = filepath.Join("..", "..", "testdata", "node", "node_modules")
	}
	if modules, err = filepath.Abs(modules); err != nil {
		require.FailNow(t, fmt.Sprint(err))
	}
	if _, err := os.Stat(filepath.Join(modules, "stripe", "package.json")); err != nil {
		require.FailNow(t, fmt.Sprintf("stripe-node is not installed in %s: run make node-deps (%v)", modules, err))
	}
	cmd := exec.CommandContext(t.Context(), node, filepath.Join("..", "..", "testdata", "node", "peer_sign.js"))
	cmd.Env = append(os.Environ(), "APPBACKEND_NODE_MODULES="+modules)
	cmd.Stdin = bytes.NewReader(input)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		require.FailNow(t, fmt.Sprintf("node peer_sign.js: %v\nstderr: %s", err, stderr.String()))
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}
