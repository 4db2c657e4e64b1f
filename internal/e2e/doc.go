// Package e2e tests appbackend end to end, as Stripe and an operator meet it, on
// SQLite and on PostgreSQL: through internal/e2etest it runs the real `appbackend`
// binary and the test server (the library embedded in a Go program, with an event
// handler that records each applied event in the database) as processes on loopback
// ports, each test on a new database of each kind, posts events signed by stripe-go's
// and stripe-node's test helpers, and reads the outcome through the CLI
// (`events --json`, `installations --json`), the signed GET /api/installation and the
// database itself.
//
// Every test runs on both databases, as subtests named sqlite and postgres;
// APPBACKEND_TEST_DATABASE=sqlite (or postgres) runs one. PostgreSQL comes from
// APPBACKEND_TEST_POSTGRES_URL or a server the tests start (store/postgres/pgtest).
//
// The crash test kills the server with SIGKILL while 64 senders post events, restarts
// it on the same database and checks that every acknowledged event was kept, every
// unanswered one is accepted when resent, and every event's effect was applied exactly
// once. Its kill moments come from a seed it prints; E2E_CRASH_SEED replays one. The
// events of the jobs the killed process was running are processed within 10 s of the
// restart on SQLite (the restart resumes them), and within 30 s of the kill on
// PostgreSQL (once the dead process's heartbeat is stale).
//
// The tests need Node.js and stripe-node (`make node-deps`); without them they fail.
package e2e
