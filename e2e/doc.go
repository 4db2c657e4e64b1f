// Package e2e tests appbackend end to end, as Stripe and an operator meet it: it
// builds the real `appbackend` binary and e2e/testserver (the library embedded in a Go
// program, with an event handler that records each applied event in the database),
// runs them as processes on loopback ports with temporary SQLite files, posts events
// signed by stripe-go's and stripe-node's test helpers, and reads the outcome through
// the CLI (`events --json`, `installations --json`), the signed
// GET /api/installation and the database itself.
//
// The crash test kills the server with SIGKILL while 64 senders post events, restarts
// it on the same database and checks that every acknowledged event was kept, every
// unanswered one is accepted when resent, and every event's effect was applied exactly
// once. Its kill moments come from a seed it prints; E2E_CRASH_SEED replays one.
//
// The tests need Node.js and stripe-node (`make node-deps`); without them they fail.
package e2e
