package webhook_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appbackend/appbackend/appauth"
	"github.com/appbackend/appbackend/internal/events"
	"github.com/appbackend/appbackend/internal/runtime"
	"github.com/appbackend/appbackend/internal/store"
	"github.com/appbackend/appbackend/internal/store/postgres/pgtest"
	"github.com/appbackend/appbackend/internal/store/sqlite"
	"github.com/appbackend/appbackend/internal/webhook"
	"github.com/appbackend/appbackend/internal/webhook/webhooktest"
	"github.com/stretchr/testify/require"
)

// crashChildEnv makes the test binary run the inbox as a server (see runCrashChild)
// instead of the tests: its value is the database path.
const crashChildEnv = "APPBACKEND_WEBHOOK_CRASH_CHILD"

func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		runCrashChild(path)
		return
	}
	code := m.Run()
	pgtest.Stop() // the throwaway PostgreSQL server, if this process started one
	os.Exit(code)
}

// runCrashChild serves POST /webhooks/stripe on a loopback port, which it prints on
// stdout, with a handler that records each event's effect, until it is killed.
func runCrashChild(path string) {
	ctx := context.Background()
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(1)
	}
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		fail(err)
	}
	if _, err := st.DB().ExecContext(ctx, `CREATE TABLE IF NOT EXISTS effects (event_id TEXT PRIMARY KEY, n INTEGER NOT NULL)`); err != nil {
		fail(err)
	}
	// Jobs running when the process was killed are rescued by the next process once
	// its River client is leader (within about 15 s) and they are RescueStuckAfter old.
	rt := runtime.New(runtime.Config{PollInterval: 10 * time.Millisecond, RetryPolicy: fastRetry{},
		JobTimeout: time.Second, RescueStuckAfter: 2 * time.Second})
	rt.Open(st)
	proc, err := events.New(rt, events.Config{})
	if err != nil {
		fail(err)
	}
	if err := rt.Build(); err != nil {
		fail(err)
	}
	proc.On("*", countEffect)
	verifier, err := appauth.NewVerifier([]string{secret})
	if err != nil {
		fail(err)
	}
	rcv, err := webhook.NewReceiver(st, verifier, proc, webhook.Config{})
	if err != nil {
		fail(err)
	}
	if err := rt.Start(ctx); err != nil {
		fail(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	fmt.Println(ln.Addr().String())
	fail(http.Serve(ln, rcv))
}

type crashChild struct {
	cmd *exec.Cmd
	url string
}

func startCrashChild(t *testing.T, path string) *crashChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err, "crash child did not print its address")
	return &crashChild{cmd: cmd, url: "http://" + strings.TrimSpace(addr) + "/webhooks/stripe"}
}

// TestCrashLosesNothingAcknowledged posts events from 64 senders, kills the server
// with SIGKILL at a random moment, restarts it and resends what got no answer: every
// acknowledged event must be stored, every event accepted on resend, and every
// handler effect applied exactly once.
func TestCrashLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("the crash test waits ~20 s for the restarted server to rescue the killed one's jobs")
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "appbackend.db")
	child := startCrashChild(t, path)

	const senders, perSender = 64, 40
	bodies := make([][][]byte, senders)
	for s := range bodies {
		for range perSender {
			bodies[s] = append(bodies[s], webhooktest.Event("customer.created", webhooktest.Account("acct_crash")))
		}
	}
	post := func(url string, body []byte) (int, error) {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Stripe-Signature", webhooktest.Sign(body, secret, time.Now()))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		res.Body.Close()
		return res.StatusCode, nil
	}

	var (
		mu          sync.Mutex
		acked       = map[string]bool{}
		unacked     [][]byte
		wg          sync.WaitGroup
		killAfter   = time.Duration(100+rand.IntN(400)) * time.Millisecond
		killed      = make(chan struct{})
		ackedAtKill int
	)
	for s := range senders {
		wg.Go(func() {
			for _, body := range bodies[s] {
				status, err := post(child.url, body)
				mu.Lock()
				if err == nil && status == http.StatusOK {
					acked[eventID(t, body)] = true
				} else {
					unacked = append(unacked, body)
				}
				mu.Unlock()
			}
		})
	}
	time.AfterFunc(killAfter, func() {
		mu.Lock()
		ackedAtKill = len(acked)
		mu.Unlock()
		_ = child.cmd.Process.Kill() // SIGKILL: no shutdown, no flush
		close(killed)
	})
	wg.Wait()
	<-killed
	_ = child.cmd.Wait()
	if ackedAtKill == 0 || len(unacked) == 0 {
		t.Logf("kill after %v: %d acknowledged, %d not; the kill missed the load window", killAfter, len(acked), len(unacked))
	}

	child = startCrashChild(t, path)
	for _, body := range unacked {
		status, err := post(child.url, body)
		require.NoError(t, err, "resend after restart: %d, %v; want 200", status, err)
		require.Equal(t, http.StatusOK, status, "resend after restart: %d, %v; want 200", status, err)
		acked[eventID(t, body)] = true
	}
	require.Len(t, acked, senders*perSender, "%d events acknowledged in all, want %d", len(acked), senders*perSender)

	st, err := sqlite.Open(t.Context(), path)
	require.NoError(t, err)
	defer st.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		counts, err := st.CountEvents(t.Context())
		require.NoError(t, err)
		if counts[store.EventProcessed] == senders*perSender {
			break
		}
		require.False(t, time.Now().After(deadline), "event statuses %v, want all %d processed", counts, senders*perSender)
		time.Sleep(50 * time.Millisecond)
	}
	rows, err := st.DB().QueryContext(t.Context(), `SELECT event_id, n FROM effects`)
	require.NoError(t, err)
	defer rows.Close()
	effects := 0
	for rows.Next() {
		var (
			id string
			n  int
		)
		require.NoError(t, rows.Scan(&id, &n))
		if n != 1 || !acked[id] {
			require.FailNow(t, fmt.Sprintf("event %s: effect applied %d times (acknowledged %v), want once", id, n, acked[id]))
		}
		effects++
	}
	require.Equal(t, senders*perSender, effects, "%d effects, want %d", effects, senders*perSender)
	t.Logf("killed after %v with %d acknowledged; %d resent after restart", killAfter, ackedAtKill, len(unacked))
}
