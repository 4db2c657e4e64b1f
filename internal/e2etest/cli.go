package e2etest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// CLIResult is what a CLI command printed and its exit status.
type CLIResult struct {
	Stdout, Stderr string
	Code           int
}

// CLI runs `appbackend ARGS…` with the server's environment (so the database and the
// secrets are the server's) and returns what it printed.
func (s *Server) CLI(args ...string) CLIResult {
	s.t.Helper()
	return RunCLI(s.t, s.Env, args...)
}

// RunCLI runs `appbackend ARGS…` with the environment env.
func RunCLI(t testing.TB, env []string, args ...string) CLIResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, Serve.path(t), args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := CLIResult{Stdout: stdout.String(), Stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.Code = exit.ExitCode()
	case err != nil:
		require.FailNow(t, fmt.Sprintf("appbackend %s: %v", strings.Join(args, " "), err))
	}
	return res
}

// MustCLI runs a command that must succeed and returns its standard output.
func (s *Server) MustCLI(args ...string) string {
	s.t.Helper()
	res := s.CLI(args...)
	if res.Code != 0 {
		s.t.Fatalf("appbackend %s: exit %d, stderr: %s", strings.Join(args, " "), res.Code, res.Stderr)
	}
	return res.Stdout
}

// EventRow is an element of `appbackend events --json`.
type EventRow struct {
	ID           string  `json:"id"`
	Type         string  `json:"type"`
	AccountID    *string `json:"account_id"`
	Livemode     bool    `json:"livemode"`
	Status       string  `json:"status"`
	Attempts     int     `json:"attempts"`
	ReceivedAt   string  `json:"received_at"`
	ProcessedAt  *string `json:"processed_at"`
	APIVersion   *string `json:"api_version"`
	LastError    *string `json:"last_error"`
	NotInstalled bool    `json:"not_installed"`
}

// InstallationRow is an element of `appbackend installations --json` and a mode of
// GET /api/installation.
type InstallationRow struct {
	AccountID     string  `json:"account_id"`
	Livemode      bool    `json:"livemode"`
	Status        string  `json:"status"`
	InstalledAt   *string `json:"installed_at"`
	UninstalledAt *string `json:"uninstalled_at"`
	ApplicationID *string `json:"application_id"`
}

// Events lists the inbox through `appbackend events --json ARGS…`.
func (s *Server) Events(args ...string) []EventRow {
	s.t.Helper()
	var rows []EventRow
	out := s.MustCLI(append([]string{"events", "--json"}, args...)...)
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		s.t.Fatalf("events --json printed %q: %v", out, err)
	}
	return rows
}

// Event returns the inbox's event id, if stored.
func (s *Server) Event(id string) (EventRow, bool) {
	s.t.Helper()
	for _, ev := range s.Events() {
		if ev.ID == id {
			return ev, true
		}
	}
	return EventRow{}, false
}

// WaitEvent polls `events --json` until the event has the status, and returns it; it
// fails the test after 30 s.
func (s *Server) WaitEvent(id, status string) EventRow {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ev, ok := s.Event(id)
		if ok && ev.Status == status {
			return ev
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("event %s: %+v (stored %v) after 30 s, want status %s", id, ev, ok, status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Installations lists `appbackend installations --json`.
func (s *Server) Installations() []InstallationRow {
	s.t.Helper()
	var rows []InstallationRow
	out := s.MustCLI("installations", "--json")
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		s.t.Fatalf("installations --json printed %q: %v", out, err)
	}
	return rows
}

// InstallationState is the body of GET /api/installation.
type InstallationState struct {
	AccountID string           `json:"account_id"`
	Live      *InstallationRow `json:"live"`
	Test      *InstallationRow `json:"test"`
}

// InstallationAPI asks GET /api/installation as a Dashboard user of account, signed
// with the header `appbackend sign` prints.
func (s *Server) InstallationAPI(account string) InstallationState {
	s.t.Helper()
	lines := strings.Split(strings.TrimSpace(s.MustCLI("sign", "--secret", AppSecret, "--user", "usr_e2e", "--account", account)), "\n")
	req, err := http.NewRequest(http.MethodGet, s.URL+"/api/installation?user_id=usr_e2e&account_id="+account, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Stripe-Signature", lines[0])
	resp, err := HTTPClient.Do(req)
	if err != nil {
		s.t.Fatalf("GET /api/installation: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("GET /api/installation = %d %s, want 200", resp.StatusCode, body)
	}
	var state InstallationState
	if err := json.Unmarshal(body, &state); err != nil {
		s.t.Fatalf("GET /api/installation body %s: %v", body, err)
	}
	return state
}
