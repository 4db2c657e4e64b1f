// Package schedule runs cron-like schedules on River, kept in the database so that each
// slot runs once across restarts, crashes and replicas, for the platform or once per
// installed account and mode.
//
// # Schedules and slots
//
// A [Set] holds the app's schedules: [Set.Every] for the platform, [Set.EveryAccount]
// for every account and mode in which the app is installed. A spec is a cron
// expression (UTC unless it starts with CRON_TZ=), a descriptor (@hourly) or an
// interval (@every 5m, aligned: on the 5 minutes). The times a spec gives are its
// slots; a run is for one slot, which its handler receives ([Run.Slot]).
//
// The schedules table holds one row per platform schedule and per account and mode of
// a per-account schedule, with its next slot and when to enqueue it (the slot plus the
// row's jitter). Per-account rows follow the installation lifecycle: the install
// hook ([Scheduler.OnInstall]) creates or re-enables them, planned from the install,
// in the install event's transaction; the uninstall hook disables them in the
// uninstall's, and a run already enqueued then finds its row disabled and does
// nothing. [Scheduler.Sync], at start, adds rows for accounts installed before a
// schedule existed and disables the rows of schedules the app no longer registers.
//
// # The tick
//
// River's elected leader considers a tick every second (a River periodic job, also
// run at start) and enqueues it only once the earliest run time of the enabled rows
// has come, which it reads from the store without writing: an idle server writes no
// job, and no row, for its schedules until a slot is due. The tick ([Scheduler.Tick]) takes the rows whose time has come, in
// batches, and in ONE transaction per batch inserts one run job per row and advances
// the rows' plans. The run job is unique by schedule, account, mode and slot
// ([RunArgs]), so a slot that two ticks see — two replicas, a leader hand-over — is
// enqueued once; and since the plan advances in the transaction that enqueues, a
// restart never enqueues a slot again. A slot a few ticks late (a busy database, a
// leader hand-over) still runs on its own; a row further behind — the server was down
// — gets one run for the latest slot, with [Run.Missed] counting the slots folded into
// it: a missed slot runs once on start, not once per slot.
//
// # Jitter
//
// Each per-account row is offset from its slots by a stable hash of the schedule, the
// account and the mode, within a tenth of the spec's interval and at most
// [Config.MaxJitter] (5 minutes): 10,000 accounts on an hourly schedule are spread
// over five minutes, about 33 a second, and each runs at the same offset every hour.
//
// # Runs
//
// The run worker calls the handler with a context bound to the run's account and mode
// (stripeclient.WithAccount) and job (stripeclient.WithJob), so that a Stripe client
// from it calls on the merchant's behalf and a retry repeats its writes under the
// same idempotency keys. A success is counted on the row (runs, last run, last slot)
// in the transaction that completes the job. A failure sets the row's last error and
// is retried with River's backoff unless it cannot succeed (a Stripe 4xx, see
// [RetryOrCancel]), which cancels the run. A panic is recorded and passed to River,
// which records it on the job and retries it; the worker keeps running. On shutdown
// River lets running jobs finish, then cancels them; a cancelled run is retried after
// the restart, and a run a crash cut off is run again (by River's rescuer, after the
// server's rescue delay, or at start on SQLite), so no slot is lost.
//
// # Reconciliation
//
// A [Reconciler] registers two built-in schedules that list Stripe's events
// (GET /v1/events) from a cursor and insert those the inbox lacks, as the webhook
// receiver does, so that events Stripe never delivered are processed like the
// others, once.
package schedule
