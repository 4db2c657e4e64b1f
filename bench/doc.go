// Package bench measures appbackend's UI-request path against the tools a Stripe App
// developer would otherwise use, and renders the figures the README shows.
//
// What `make bench` (bench/run.sh) measures, each against a peer or a ceiling in the same
// run, with the ratio:
//
//   - Go microbenchmarks (verify_test.go): verifying a default UI-extension signature,
//     {"user_id":…,"account_id":…}, with two configured secrets, by appauth's Verifier and
//     by stripe-go's webhook.ValidatePayloadWithTolerance on the same input in the same
//     run. stripe-go takes one secret per call, so it is called the way a user with two
//     secrets would: each secret in turn, the matching one second.
//
//   - POST /api/whoami under wrk (whoami.lua; cmd/loadgen when wrk is missing), 64
//     keep-alive connections on loopback, in rounds where `appbackend serve` at its
//     default configuration, a bare net/http handler answering the same JSON
//     (cmd/bareserver, the ceiling) and an Express 5 + stripe-node server
//     (testdata/node/express-peer.js) take turns; then a 60 s soak of appbackend that
//     samples its resident memory.
//
//   - Webhook acknowledgements (acks.sh, acks.lua, cmd/eventgen, cmd/ackcheck): distinct
//     pre-signed events posted by wrk to `appbackend serve` on PostgreSQL and SQLite and
//     to @supabase/stripe-sync-engine (peers/stripe-sync-engine) on the same PostgreSQL,
//     each run checked for every acknowledged event stored once.
//
//   - An abuse load test (cmd/floodgen): 32 parallel forged 1 MB bodies against a fresh
//     server while honest callers measure /api/whoami's latency and /proc gives the
//     server's peak RSS; then 1,000 connections that announce a 1 MiB body and stall,
//     and the server's RSS and Go heap growth.
//
//   - The flows' Go benchmarks beside their code (webhook inbox, processing drain,
//     replicas, schedules).
//
// cmd/benchreport turns loadgen's JSON results and `go test -bench` output into the
// Markdown table (absolute figures and ratios, with each bar of issue 2 checked). The types
// here are what those two commands exchange.
package bench
