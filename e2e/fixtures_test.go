package e2e

import (
	"bufio"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	stripe "github.com/stripe/stripe-go/v85"
	stripewebhook "github.com/stripe/stripe-go/v85/webhook"
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

// newID returns a random id such as evt_1QxZ… with the given prefix.
func newID(prefix string) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return prefix + string(b)
}

// body fills the defaults (a new id, now, stripe-go's API version, an object fitting
// the type) and returns the event's JSON, shaped as Stripe sends it.
func (e *event) body() []byte {
	if e.ID == "" {
		e.ID = newID("evt_")
	}
	if e.Created.IsZero() {
		e.Created = time.Now()
	}
	if e.APIVersion == "" {
		e.APIVersion = stripe.APIVersion
	}
	obj := e.Object
	if obj == nil {
		obj = objectFor(e.Type, e.Account, e.Live, e.Created)
	}
	ev := map[string]any{
		"id":               e.ID,
		"object":           "event",
		"api_version":      e.APIVersion,
		"created":          e.Created.Unix(),
		"data":             map[string]any{"object": obj},
		"livemode":         e.Live,
		"pending_webhooks": 2,
		"request":          map[string]any{"id": nil, "idempotency_key": nil},
		"type":             e.Type,
	}
	if e.Account != "" {
		ev["account"] = e.Account
	}
	b, err := json.Marshal(ev)
	if err != nil {
		panic(err) // maps of JSON values only
	}
	return b
}

func objectFor(eventType, account string, live bool, created time.Time) map[string]any {
	switch {
	case strings.HasPrefix(eventType, "account.application."):
		return map[string]any{"id": "ca_" + newID("")[:16], "object": "application", "name": "appbackend e2e"}
	case strings.HasPrefix(eventType, "apps.install."):
		status := "installed"
		if eventType == "apps.install.deleted" {
			status = "uninstalled"
		}
		return map[string]any{"id": newID("appinst_"), "object": "apps.install", "account": account,
			"app": newID("app_"), "created": created.Unix(), "livemode": live, "status": status}
	case strings.HasPrefix(eventType, "customer."):
		return map[string]any{"id": newID("cus_"), "object": "customer", "created": created.Unix(),
			"email": "jenny.rosen@example.com", "livemode": live, "metadata": map[string]any{}}
	case strings.HasPrefix(eventType, "invoice."):
		return map[string]any{"id": newID("in_"), "object": "invoice", "amount_paid": 2000, "created": created.Unix(),
			"currency": "usd", "customer": newID("cus_"), "livemode": live, "status": "paid"}
	}
	return map[string]any{"id": newID("obj_"), "object": "unknown", "created": created.Unix()}
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
	return stripewebhook.GenerateTestSignedPayload(&stripewebhook.UnsignedPayload{
		Payload: payload, Secret: secret, Timestamp: at,
	}).Header
}

// signWithStripeNode uses stripe-node's webhooks.generateTestHeaderString through
// testdata/node/sign_event.js, one Node process for the whole run.
func signWithStripeNode(t testing.TB, payload []byte, secret string, at time.Time) string {
	t.Helper()
	header, err := nodeSigner.sign(payload, secret, at)
	if err != nil {
		t.Fatalf("stripe-node: %v", err)
	}
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
	root, err := filepath.Abs(filepath.Join("..", "testdata", "node"))
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
