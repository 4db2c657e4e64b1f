package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	stripe "github.com/stripe/stripe-go/v85"

	"github.com/appbackend/appbackend/internal/webhook/webhooktest"
)

// event is a Stripe snapshot event as the tests post it. Zero fields get realistic
// defaults in body.
type event struct {
	ID         string
	Type       string
	Account    string
	Live       bool
	Created    time.Time
	APIVersion string
	Object     map[string]any
}

// body fills the defaults (a new id, now, stripe-go's API version, an object fitting
// the type) and returns the event's JSON, shaped as Stripe sends it.
func (e *event) body() []byte {
	if e.ID == "" {
		e.ID = webhooktest.NewID("evt_")
	}
	if e.Created.IsZero() {
		e.Created = time.Now()
	}
	if e.APIVersion == "" {
		e.APIVersion = stripe.APIVersion
	}
	opts := []webhooktest.Option{webhooktest.ID(e.ID), webhooktest.Account(e.Account), webhooktest.Livemode(e.Live),
		webhooktest.Created(e.Created), webhooktest.APIVersion(e.APIVersion)}
	if e.Object != nil {
		opts = append(opts, webhooktest.Object(e.Object))
	}
	return webhooktest.Event(e.Type, opts...)
}

// signer makes the Stripe-Signature header for a payload, as one of Stripe's
// libraries' test helpers does.
type signer struct {
	name string
	sign func(t testing.TB, payload []byte, secret string, at time.Time) string
}

// signers are the two test helpers every webhook scenario runs with.
var signers = []signer{
	{"stripe-go", signWithStripeGo},
	{"stripe-node", signWithStripeNode},
}

// signWithStripeGo uses stripe-go's webhook.GenerateTestSignedPayload.
func signWithStripeGo(_ testing.TB, payload []byte, secret string, at time.Time) string {
	return webhooktest.Sign(payload, secret, at)
}

// signWithStripeNode uses stripe-node's webhooks.generateTestHeaderString through
// testdata/node/sign_event.js, one Node process for the whole run.
func signWithStripeNode(t testing.TB, payload []byte, secret string, at time.Time) string {
	t.Helper()
	header, err := nodeSigner.sign(payload, secret, at)
	require.NoError(t, err, "stripe-node")
	return header
}

// nodeSigner runs `node testdata/node/sign_event.js --lines` once and serves every
// signing request through it, one line in, one line out.
var nodeSigner nodeProcess

type nodeProcess struct {
	once     sync.Once
	startErr error

	mu    sync.Mutex
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

func (n *nodeProcess) start() error {
	node, err := exec.LookPath("node")
	if err != nil {
		return fmt.Errorf("node is not on PATH; install Node.js and run make node-deps: %w", err)
	}
	root, err := filepath.Abs(filepath.Join("..", "..", "testdata", "node"))
	if err != nil {
		return err
	}
	modules := os.Getenv("APPBACKEND_NODE_MODULES")
	if modules == "" {
		modules = filepath.Join(root, "node_modules")
	}
	if modules, err = filepath.Abs(modules); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(modules, "stripe", "package.json")); err != nil {
		return fmt.Errorf("stripe-node is not installed in %s: run make node-deps (%v)", modules, err)
	}
	cmd := exec.Command(node, filepath.Join(root, "sign_event.js"), "--lines")
	cmd.Env = append(os.Environ(), "APPBACKEND_NODE_MODULES="+modules)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start node sign_event.js (run make node-deps): %w", err)
	}
	n.cmd, n.stdin, n.out = cmd, stdin, bufio.NewReader(stdout)
	return nil
}

func (n *nodeProcess) sign(payload []byte, secret string, at time.Time) (string, error) {
	n.once.Do(func() { n.startErr = n.start() })
	if n.startErr != nil {
		return "", n.startErr
	}
	req, err := json.Marshal(map[string]any{"payload": string(payload), "secret": secret, "timestamp": at.Unix()})
	if err != nil {
		return "", err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, err := n.stdin.Write(append(req, '\n')); err != nil {
		return "", fmt.Errorf("write to sign_event.js: %w", err)
	}
	line, err := n.out.ReadBytes('\n')
	if err != nil {
		return "", fmt.Errorf("read from sign_event.js: %w", err)
	}
	var answer struct {
		Header string `json:"header"`
		Error  string `json:"error"`
	}
	if err := json.Unmarshal(line, &answer); err != nil {
		return "", fmt.Errorf("sign_event.js answered %q: %w", line, err)
	}
	if answer.Error != "" {
		return "", fmt.Errorf("sign_event.js: %s", answer.Error)
	}
	return answer.Header, nil
}

func (n *nodeProcess) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		n.stdin.Close()
		_ = n.cmd.Wait()
		n.cmd = nil
	}
}
