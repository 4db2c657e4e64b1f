package webhook_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/webhook/webhooktest"
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
	if len(headers) != len(bodies) {
		t.Fatalf("stripe-node signed %d of %d bodies: %q", len(headers), len(bodies), headers)
	}
	for i, body := range bodies {
		header, ok := strings.CutPrefix(headers[i], "ok ")
		if !ok {
			t.Fatalf("stripe-node: %s", headers[i])
		}
		if r := b.postWithHeader(t, body, header); r.status != 200 {
			t.Fatalf("POST with stripe-node's header = %d %s, want 200", r.status, r.raw)
		}
		b.waitStatus(t, eventID(t, body), store.EventProcessed)
	}
	if in, ok := b.installation(t, "acct_node", true); !ok || in.Status != store.Installed {
		t.Errorf("installation = %+v (found %v), want installed in live mode", in, ok)
	}
}

func runNodeSigner(t *testing.T, input []byte) []string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not on PATH; this test signs events with stripe-node (run make node-deps after installing Node.js): %v", err)
	}
	modules := os.Getenv("APPBACKEND_NODE_MODULES")
	if modules == "" {
		modules = filepath.Join("..", "..", "testdata", "node", "node_modules")
	}
	if modules, err = filepath.Abs(modules); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(modules, "stripe", "package.json")); err != nil {
		t.Fatalf("stripe-node is not installed in %s: run make node-deps (%v)", modules, err)
	}
	cmd := exec.CommandContext(t.Context(), node, filepath.Join("..", "..", "testdata", "node", "peer_sign.js"))
	cmd.Env = append(os.Environ(), "APPBACKEND_NODE_MODULES="+modules)
	cmd.Stdin = bytes.NewReader(input)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node peer_sign.js: %v\nstderr: %s", err, stderr.String())
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}
