// Package events processes the webhook inbox: River jobs, each naming the events one
// webhook commit stored, run by a worker that applies the built-in handlers (the
// installation lifecycle) and then the app's handlers, exactly once per event.
//
// # Exactly once
//
// The webhook receiver inserts events and their job in one transaction
// ([Processor.EnqueueTx]). The worker then, in ONE transaction on the store's write
// pool, for each of the job's events: loads and locks it; skips it if it is already
// processed; runs the handlers under a savepoint with the transaction in their context
// ([store.TxFrom]); and marks it processed. An event's handler writes and its
// processed mark commit together or not at all, and a processed event is never run
// again except by a replay, so a handler's database writes happen once even if the
// process dies mid-way, Stripe delivers the event again, or River runs the job twice
// (a job whose completion was lost in a crash is handed back and rerun).
//
// # Crashes and lost jobs
//
// A job a process was running when it died stays marked running. River's rescuer
// reruns such jobs after RescueStuckAfter (minutes), since it cannot tell them from
// long ones; event processing cannot wait that long. Package runtime, which owns the
// River client, keeps every process's heartbeat and hands back the running jobs of the
// kinds that declare themselves rerunnable (runtime.Rerunnable; ProcessEventsArgs
// does) once their process's heartbeat is stale, or that their own process lost; on
// SQLite it hands back every running job at start (runtime.Config.ResumeOnStart).
//
// A handler that returns an error (or panics) rolls back to its event's savepoint; the
// event is marked failed with the error, the other events of the job commit, and the
// job returns the error so that River retries it with backoff — the retry redoes only
// the failed events. On the job's last attempt a failing event is dead.
// [Processor.Replay] moves a dead — or, on purpose, a processed — event back to
// pending and enqueues it again.
//
// Grouping the events of one webhook commit into one job shares River's own cost per
// job (fetching, completing) and the disk flush of the commit between them, which is
// what lets processing keep up with acknowledgements on SQLite. For the same reason a
// job with room left takes over event jobs that wait in the queue and were never
// tried (deleting them in its transaction once their events succeeded), so a backlog
// of events that arrived one by one drains in batches too.
//
// # Handlers must be quick
//
// On SQLite the transaction holds the database's only write lock, so while a handler
// runs, webhooks wait to be acknowledged. Handlers should write to the database and
// return; slow work (calls to the Stripe API, e-mail) belongs in its own River job,
// inserted through the same transaction so that it exists exactly when the event is
// processed. A handler must not commit or roll back the transaction itself.
package events
