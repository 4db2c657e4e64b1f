package appauth

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v85/webhook"
)

// The peers are Stripe's own SDKs: what Sign produces must pass their verification, and
// what stripe-node produces must pass ours.

// peerCase is one signed request for the peer tests: every golden vector's inputs, signed
// here by Sign, with one or two secrets.
type peerCase struct {
	name    string
	secrets []string
	unix    int64
	header  string
	body    []byte
}

func peerCases(t *testing.T, at time.Time) []peerCase {
	t.Helper()
	var cases []peerCase
	for i, gc := range loadGolden(t) {
		secrets := []string{gc.secret}
		if i%3 == 0 { // a third of them during a secret rotation
			secrets = append(secrets, "absec_rotated_"+gc.secret)
		}
		header, body, err := Sign(secrets, at, gc.userID, gc.accountID, gc.payloadText)
		require.NoError(t, err, "%s: Sign", gc.name)
		cases = append(cases, peerCase{gc.name, secrets, at.Unix(), header, body})
	}
	return cases
}

func TestPeerStripeGoValidatesSign(t *testing.T) {
	t.Parallel()
	for _, c := range peerCases(t, time.Now()) {
		for _, secret := range c.secrets {
			err := webhook.ValidatePayload(c.body, c.header, secret)
			require.NoError(t, err, "%s: stripe-go rejects Sign's output: %v\nheader %s\nbody %q", c.name, err, c.header, c.body)
		}
		err := webhook.ValidatePayload(c.body, c.header, "absec_not_configured")
		require.Error(t, err, "%s: stripe-go accepts a signature under a foreign secret", c.name)
	}
}

func TestPeerStripeNodeVerifiesSign(t *testing.T) {
	t.Parallel()
	cases := peerCases(t, testNow)
	var input bytes.Buffer
	enc := json.NewEncoder(&input)
	type line struct {
		Payload    string `json:"payload"`
		Header     string `json:"header"`
		Secret     string `json:"secret"`
		ReceivedAt int64  `json:"received_at"`
	}
	var want []string // "ok" or "error" per line
	for _, c := range cases {
		payload := base64.StdEncoding.EncodeToString(c.body)
		for _, secret := range c.secrets {
			_ = enc.Encode(line{payload, c.header, secret, c.unix})
			want = append(want, "ok")
		}
		// A control that stripe-node does reject: the body with one more space.
		_ = enc.Encode(line{base64.StdEncoding.EncodeToString(append(c.body, ' ')), c.header, c.secrets[0], c.unix})
		want = append(want, "error")
	}
	answers := runNodePeer(t, "peer_verify.js", input.Bytes())
	require.Len(t, answers, len(want), "stripe-node answered %d lines, want %d", len(answers), len(want))
	i := 0
	for _, c := range cases {
		for range len(c.secrets) + 1 {
			if got, _, _ := strings.Cut(answers[i], " "); got != want[i] {
				require.FailNow(t, fmt.Sprintf("%s: stripe-node verifyHeader answered %q, want %s\nheader %s\nbody %q", c.name, decodeNodeError(answers[i]), want[i], c.header, c.body))
			}
			i++
		}
	}
}

func TestVerifyAcceptsStripeNodeHeaders(t *testing.T) {
	t.Parallel()
	cases := peerCases(t, testNow)
	var input bytes.Buffer
	enc := json.NewEncoder(&input)
	for _, c := range cases {
		_ = enc.Encode(map[string]any{
			"payload": base64.StdEncoding.EncodeToString(c.body), "secret": c.secrets[0], "timestamp": c.unix,
		})
	}
	answers := runNodePeer(t, "peer_sign.js", input.Bytes())
	require.Len(t, answers, len(cases), "stripe-node answered %d lines, want %d", len(answers), len(cases))
	for i, c := range cases {
		header, ok := strings.CutPrefix(answers[i], "ok ")
		if !ok {
			require.FailNow(t, fmt.Sprintf("%s: generateTestHeaderString failed: %s", c.name, decodeNodeError(answers[i])))
		}
		want := "t=" + strconv.FormatInt(c.unix, 10) + ",v1=" + ComputeSignature(c.secrets[0], c.unix, c.body)
		require.Equal(t, want, header, "%s: stripe-node header %s, want %s", c.name, header, want)
		v := newTestVerifier(t, c.secrets...)
		_, err := v.VerifyRequest(header, c.body, nil)
		require.NoError(t, err, "%s: VerifyRequest rejects stripe-node's header: %v\nheader %s\nbody %q", c.name, err, header, c.body)
		if _, err := v.VerifyPayload(header, c.body); err != nil {
			require.FailNow(t, fmt.Sprintf("%s: VerifyPayload rejects stripe-node's header: %v", c.name, err))
		}
	}
}

// runNodePeer runs testdata/node/<script> with input on stdin and returns its output lines.
// The peers are part of the test suite: without Node or stripe-node the test fails.
func runNodePeer(t *testing.T, script string, input []byte) []string {
	t.Helper()
	node, err := exec.LookPath("node")
	require.NoError(t, err, "node is not on PATH; the peer tests run stripe-node (run make node-deps after installing Node.js)")
	modules := nodeModulesDir(t)
	cmd := exec.CommandContext(t.Context(), node, filepath.Join("..", "testdata", "node", script))
	cmd.Env = append(os.Environ(), "APPBACKEND_NODE_MODULES="+modules)
	cmd.Stdin = bytes.NewReader(input)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		require.FailNow(t, fmt.Sprintf("node %s: %v\nstderr: %s", script, err, stderr.String()))
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

// nodeModulesDir is $APPBACKEND_NODE_MODULES (set by the Makefile) or the repository's
// testdata/node/node_modules, and must hold stripe-node.
func nodeModulesDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("APPBACKEND_NODE_MODULES")
	if dir == "" {
		dir = filepath.Join("..", "testdata", "node", "node_modules")
	}
	dir, err := filepath.Abs(dir)
	require.NoError(t, err)
	if _, err := os.Stat(filepath.Join(dir, "stripe", "package.json")); err != nil {
		require.FailNow(t, fmt.Sprintf("stripe-node is not installed in %s: run make node-deps (%v)", dir, err))
	}
	return dir
}

func decodeNodeError(answer string) string {
	msg, ok := strings.CutPrefix(answer, "error ")
	if !ok {
		return answer
	}
	b, err := base64.StdEncoding.DecodeString(msg)
	if err != nil {
		return answer
	}
	return "error: " + string(b)
}
