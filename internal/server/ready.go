package server

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/appbackend/appbackend/internal/apierror"
	"github.com/appbackend/appbackend/internal/baseservice"
	"github.com/appbackend/appbackend/internal/setup"
	"github.com/appbackend/appbackend/internal/webhook"
)

// readyLogEvery bounds how often GET /readyz logs a database that stays down: a probe
// every second (or a caller hammering the public route) must not flood the log.
const readyLogEvery = time.Minute

// readyFailFor is how long a failed database ping answers GET /readyz: the route is
// public, and while the database is away each ping may take seconds, so a caller
// looping on it must not turn into a pile of pings.
const readyFailFor = time.Second

// ReadyConfig configures Readiness. Its functions are called at each probe, so that
// they reach what the App opens after New (its store, its webhook receiver).
type ReadyConfig struct {
	// Archetype is the App's logger, which says when the database goes down and comes
	// back, and its clock.
	Archetype *baseservice.Archetype
	// Ping pings the database.
	Ping func(ctx context.Context) error
	// WriteErr is the webhook receiver's latest write error; nil without a receiver.
	WriteErr func(ctx context.Context) error
	// Database is APPBACKEND_DATABASE, whose password a logged error never shows.
	Database string
	// WriteError answers with the contract's JSON error (the App's).
	WriteError func(w http.ResponseWriter, r *http.Request, err error)
}

// Readiness serves GET /readyz: 200 {"status":"ready"} while the database answers and
// has room for webhook events, else 503.
type Readiness struct {
	baseservice.Base
	cfg ReadyConfig

	// The latest database ping, and the one in flight.
	mu       sync.Mutex
	at       time.Time
	err      error
	inflight chan struct{}
	// loggedAt is when the database was last logged down (Unix ns; 0 while it answers).
	loggedAt atomic.Int64
}

// NewReadiness returns the readiness route of cfg.
func NewReadiness(cfg ReadyConfig) *Readiness {
	r := &Readiness{cfg: cfg}
	r.Init(cfg.Archetype)
	return r
}

// pingErr pings the database. Concurrent callers share one ping, and a failure is
// kept for readyFailFor; a success is not kept, so that /readyz turns 503 as soon as
// the database goes away.
func (c *Readiness) pingErr(ctx context.Context) error {
	c.mu.Lock()
	if c.err != nil && c.Now().Sub(c.at) < readyFailFor {
		err := c.err
		c.mu.Unlock()
		return err
	}
	done := c.inflight
	if done == nil {
		done = make(chan struct{})
		c.inflight = done
		go func() {
			// Not the caller's context: its going away must not be taken for the
			// database's.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			err := c.cfg.Ping(ctx)
			c.mu.Lock()
			c.err, c.at, c.inflight = err, c.Now(), nil
			c.mu.Unlock()
			close(done)
		}()
	}
	c.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Readiness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	message := "database unreachable"
	err := c.pingErr(r.Context())
	if err == nil && c.cfg.WriteErr != nil {
		// The database answers, but a ping does not write: the latest webhook batch
		// says whether there is room to store events (no write per probe).
		var full *webhook.DiskFullError
		if err = c.cfg.WriteErr(r.Context()); errors.As(err, &full) {
			message = "the database has no room to store webhook events (disk full since " + full.Since.UTC().Format(time.RFC3339) + ")"
		}
	}
	if err != nil {
		now := c.Now().UnixNano()
		last := c.loggedAt.Load()
		if (last == 0 || now-last >= int64(readyLogEvery)) && c.loggedAt.CompareAndSwap(last, now) {
			c.Logger().WarnContext(r.Context(), "database not ready", "reason", message, "err", setup.RedactDatabaseError(err, c.cfg.Database))
		}
		c.cfg.WriteError(w, r, apierror.New(apierror.CodeUnavailable, message))
		return
	}
	if c.loggedAt.Swap(0) != 0 {
		c.Logger().InfoContext(r.Context(), "database ready again")
	}
	apierror.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
