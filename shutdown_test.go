package appbackend_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/appbackend/appbackend"
)

// TestShutdownClosesStalledClients: a client that sent headers and part of a body
// and stalls, and one that does not read a large answer, cost the HTTP budget and no
// more; their connections are closed and Run returns nil (nothing accepted was lost),
// leaving the event queue its own budget.
func TestShutdownClosesStalledClients(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	logs := &syncBuffer{}
	const httpBudget = time.Second
	ready := make(chan struct{})
	app, err := appbackend.New(appbackend.Config{
		Database:        "sqlite:" + filepath.Join(t.TempDir(), "test.db"),
		AppSecrets:      []string{secretA},
		WebhookSecrets:  []string{"whsec_shutdown_test"},
		Listener:        ln,
		Logger:          slog.New(slog.NewTextHandler(logs, nil)),
		ShutdownTimeout: httpBudget,
		Ready:           func(net.Addr) { close(ready) },
	})
	require.NoError(t, err)
	app.HandleFunc("POST /api/large", func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 64<<10))
		for range 1024 { // 64 MiB: far more than the socket buffers hold
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	<-ready
	addr := ln.Addr().String()

	// A webhook whose body stops half-way.
	stalledBody, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer stalledBody.Close()
	fmt.Fprintf(stalledBody, "POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n{\"id\":\"evt_")

	// A signed request whose answer is never read.
	slowReader, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer slowReader.Close()
	body := defaultSigned(userID, acctID)
	fmt.Fprintf(slowReader, "POST /api/large HTTP/1.1\r\nHost: x\r\nStripe-Signature: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		hmacHeader(time.Now().Unix(), body, secretA), len(body), body)
	// Read the status line, so the handler is known to be writing, then stop reading.
	status, err := bufio.NewReader(slowReader).ReadString('\n')
	require.NoError(t, err)
	require.Contains(t, status, "200")

	start := time.Now()
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err, "stalled clients made the shutdown fail:\n%s", logs.String())
	case <-time.After(httpBudget + 20*time.Second):
		require.Failf(t, "Run did not return within the HTTP budget and a margin", "logs:\n%s", logs.String())
	}
	t.Logf("shutdown took %v with an HTTP budget of %v", time.Since(start), httpBudget)
	require.Contains(t, logs.String(), "closing their connections")
}
