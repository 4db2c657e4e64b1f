package replicas

import (
	"context"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/appbackend/appbackend/internal/e2etest"
)

func TestMain(m *testing.M) {
	os.Exit(e2etest.Run(m))
}

// startReplica starts program on the database, named name (the test server records
// it with each effect), with vars added to the environment and warnings-only logs.
func startReplica(t testing.TB, name, database string, program e2etest.Program, vars map[string]string) *e2etest.Server {
	t.Helper()
	return e2etest.Start(t, e2etest.Options{Program: program, Name: name, Database: database, Env: vars, LogLevel: "warn"})
}

// post sends ev to the replica's webhook endpoint and returns the status, or 0 and the
// error when no answer came (a refused connection, a killed replica).
func post(ctx context.Context, r *e2etest.Server, ev e2etest.SignedEvent) (int, error) {
	d, err := ev.Post(ctx, r)
	return d.Status, err
}

// get returns the status of GET url, or 0 when no answer came.
func get(ctx context.Context, url string) int {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	res, err := e2etest.HTTPClient.Do(req)
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode
}
