package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/appbackend/appbackend/internal/events"
	"github.com/appbackend/appbackend/internal/runtime"
	"github.com/appbackend/appbackend/internal/store"
)

// openProcessor opens the configured database and builds on it the runtime and
// event processor the server builds, with the server's settings for what a job
// carries from its insert (its attempts). The processor is never started: it only
// enqueues and pauses, and the running server's workers act on that (or the next
// start does). Close the store when done.
func openProcessor(ctx context.Context, d *dbFlags, getenv func(string) string) (store.Store, *events.Processor, error) {
	cfg, err := loadConfig(getenv, nil)
	if err != nil {
		return nil, nil, err
	}
	st, err := d.open(ctx, existing)
	if err != nil {
		return nil, nil, err
	}
	rt := runtime.New(runtime.Config{MaxAttempts: cfg.EventMaxAttempts, RescueStuckAfter: cfg.JobRescueAfter})
	rt.Open(st)
	proc, err := events.New(rt, events.Config{})
	if err == nil {
		err = rt.Build()
	}
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, proc, nil
}

// runReplay is `events replay ID`, one event whatever its status, and `events replay
// --status dead|failed [filters]`, every event that matches, in batches.
func runReplay(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	f := newFlags("events replay", "appbackend events replay ID | appbackend events replay --status dead|failed [--type T] [--account acct_…] [--since DURATION] [--dry-run]", stdout)
	var d dbFlags
	d.register(f, getenv)
	status := f.String("status", "", "replay every event with this status: dead or failed")
	eventType := f.String("type", "", "only events of this type (with --status)")
	account := f.String("account", "", "only events of this account (with --status)")
	since := f.Duration("since", 0, "only events received within this long, such as 24h (with --status)")
	dryRun := f.Bool("dry-run", false, "print how many events would be replayed, and replay none (with --status)")
	rest, err := f.parse(args)
	if err != nil {
		return err
	}
	bulk := false
	f.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "status", "type", "account", "since", "dry-run":
			bulk = true
		}
	})
	switch {
	case bulk && len(rest) > 0:
		return usagef("give an event ID or --status with filters, not both")
	case bulk && *status == "":
		return usagef("--type, --account, --since and --dry-run select events for a bulk replay: add --status dead or --status failed")
	case bulk && !events.ReplayableStatus(store.EventStatus(*status)):
		return usagef("--status %q: want dead or failed (a processed event is replayed by its ID)", *status)
	case bulk && *since < 0:
		return usagef("--since must not be negative")
	case !bulk && len(rest) != 1:
		return usagef("want one event ID, or --status dead|failed, got %d arguments", len(rest))
	}
	st, proc, err := openProcessor(ctx, &d, getenv)
	if err != nil {
		return err
	}
	defer st.Close()
	if !bulk {
		if err := proc.Replay(ctx, rest[0]); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no event %s in the inbox", strconv.Quote(rest[0]))
			}
			return err
		}
		fmt.Fprintf(stdout, "event %s queued for processing again\n", rest[0])
		return nil
	}
	filter := store.EventFilter{Status: store.EventStatus(*status), Type: *eventType, AccountID: *account}
	if *since > 0 {
		filter.ReceivedSince = time.Now().Add(-*since)
	}
	n, err := st.CountMatchingEvents(ctx, filter)
	if err != nil {
		return err
	}
	if *dryRun {
		fmt.Fprintf(stdout, "%s would be replayed (dry run: nothing changed)\n", eventCount(n, *status))
		return nil
	}
	if n == 0 {
		fmt.Fprintf(stdout, "no %s event matches: nothing to replay\n", *status)
		return nil
	}
	fmt.Fprintf(stdout, "replaying %s in batches of %d\n", eventCount(n, *status), events.ReplayBatch)
	done, err := proc.ReplayMatching(ctx, filter, func(done int) {
		if n > events.ReplayBatch {
			fmt.Fprintf(stdout, "  %d queued\n", done)
		}
	})
	if err != nil {
		return fmt.Errorf("%w (%d events were queued before the failure; run the command again for the rest)", err, done)
	}
	fmt.Fprintf(stdout, "%d events queued for processing again\n", done)
	return nil
}

func eventCount(n int, status string) string {
	if n == 1 {
		return "1 " + status + " event"
	}
	return strconv.Itoa(n) + " " + status + " events"
}

// runPause is `events pause` and `events resume`.
func runPause(ctx context.Context, cmd string, args []string, getenv func(string) string, stdout io.Writer) error {
	f := newFlags("events "+cmd, "appbackend events "+cmd+" [--database URL]", stdout)
	var d dbFlags
	d.register(f, getenv)
	if rest, err := f.parse(args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usagef("unexpected argument %q", rest[0])
	}
	st, proc, err := openProcessor(ctx, &d, getenv)
	if err != nil {
		return err
	}
	defer st.Close()
	if cmd == "pause" {
		if err := proc.Pause(ctx); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "event processing paused on every replica (within a few seconds); webhooks are still acknowledged and stored. Resume with 'appbackend events resume'.")
		return nil
	}
	if err := proc.Resume(ctx); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "event processing resumed; the events that waited are processed oldest first")
	return nil
}
