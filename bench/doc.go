// Package bench measures appbackend's UI-request path against the tools a Stripe App
// developer would otherwise use, and renders the figures the README shows.
//
// Two measurements, both run by `make bench` (bench/run.sh):
//
//   - Go microbenchmarks (verify_test.go): verifying a default UI-extension signature,
//     {"user_id":…,"account_id":…}, with two configured secrets, by appauth's Verifier and
//     by stripe-go's webhook.ValidatePayloadWithTolerance on the same input in the same
//     run. stripe-go takes one secret per call, so it is called the way a user with two
//     secrets would: each secret in turn, the matching one second.
//
//   - A loopback load test: POST /api/whoami on `appbackend serve` against an Express 5 +
//     stripe-node server (testdata/node/express-peer.js) that verifies the same request
//     on its raw body, both on 127.0.0.1, driven in turn by cmd/loadgen with 64 keep-alive
//     connections; requests per second, p50/p99 latency, errors, and each server's memory
//     (VmHWM, VmRSS) and CPU time.
//
//   - An abuse load test (cmd/floodgen): 32 parallel forged 1 MB bodies against a fresh
//     server while honest callers measure /api/whoami's latency and /proc gives the
//     server's peak RSS; then 1,000 connections that announce a 1 MiB body and stall,
//     and the server's RSS and Go heap growth.
//
// cmd/benchreport turns loadgen's JSON results and `go test -bench` output into the
// Markdown table (absolute figures and ratios, with each bar of issue 2 checked). The types
// here are what those two commands exchange.
package bench
