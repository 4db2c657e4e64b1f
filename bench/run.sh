#!/usr/bin/env bash
# bench/run.sh: appbackend's benchmarks, run by `make bench`. It prints a Markdown report
# on stdout (progress and raw output go to stderr), so `./bench/run.sh > results.md` works.
#
#  1. Builds appbackend, the load generator, the report printer and the microbenchmarks.
#  2. Loopback load test, one server at a time, in rounds where the servers take turns
#     (so that a neighbour's burst of CPU use does not land on one server only): starts
#     `appbackend serve` (two app secrets, a temp SQLite database), then the Express 5 +
#     stripe-node peer (testdata/node/express-peer.js) with the same secrets, each on a
#     free 127.0.0.1 port; waits until it answers the signed POST /api/whoami correctly;
#     drives it with bench/cmd/loadgen (keep-alive connections, warm-up, fixed measured
#     window); reads its memory and CPU from /proc; stops it.
#  3. Go microbenchmarks: appauth's Verifier vs stripe-go's ValidatePayloadWithTolerance.
#  4. Prints the table with absolute figures, ratios and the bars of issue 2.
#  5. Abuse load test (bench/cmd/floodgen), a fresh `appbackend serve` per scenario:
#     32 parallel forged 1 MB bodies for BENCH_ABUSE_DURATION while honest callers measure
#     /api/whoami's p99 and /proc gives the server's peak RSS; then 1,000 stalled
#     connections announcing a 1 MiB body, and the server's RSS and Go heap growth.
# Everything it starts is stopped on exit, and it only ever talks to 127.0.0.1.
#
# Environment (defaults in brackets):
#   BENCH_DURATION     measured window per server [10s]
#   BENCH_WARMUP       warm-up before it [2s]
#   BENCH_CONNECTIONS  concurrent keep-alive connections [64]
#   BENCH_ROUNDS       rounds of the load test; the table shows each server's median
#                      round, and lists every round [3]
#   BENCH_SIGN_WITH    which configured secrets sign the request: "second" (one v1, by the
#                      second of the two secrets, so each server tries the first in vain,
#                      as in the microbenchmark) or "both" (one v1 per secret, what Stripe
#                      sends while a secret is being expired) [second]
#   BENCH_SERVERS      servers to load, in order: "appbackend express", or one of them
#                      [appbackend express]
#   BENCH_APPBACKEND_LOG_LEVEL  appbackend's APPBACKEND_LOG_LEVEL; its default (info) logs
#                      one line per request, the Express peer logs nothing [info]
#   BENCH_GO_COUNT     runs of each microbenchmark; the report shows the median [5]
#   BENCH_GO_BENCHTIME -benchtime of each run [1s]; BENCH_GO_COUNT=0 skips them
#   BENCH_ABUSE        1 runs the abuse load test, 0 skips it [1]
#   BENCH_ABUSE_DURATION  how long the forged-body flood lasts [5s]
#   GO, NODE           the go and node commands [go, node]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

duration=${BENCH_DURATION:-10s}
warmup=${BENCH_WARMUP:-2s}
connections=${BENCH_CONNECTIONS:-64}
rounds=${BENCH_ROUNDS:-3}
sign_with=${BENCH_SIGN_WITH:-second}
servers=${BENCH_SERVERS:-appbackend express}
appbackend_log_level=${BENCH_APPBACKEND_LOG_LEVEL:-info}
go_count=${BENCH_GO_COUNT:-5}
go_benchtime=${BENCH_GO_BENCHTIME:-1s}
GO=${GO:-go}
NODE=${NODE:-node}

log() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

case "$sign_with" in second | both) ;; *) die "BENCH_SIGN_WITH=$sign_with: want second or both" ;; esac
[[ "$connections" =~ ^[0-9]+$ ]] || die "BENCH_CONNECTIONS=$connections: want a number"
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS=$rounds: want a positive number"
[[ "$go_count" =~ ^[0-9]+$ ]] || die "BENCH_GO_COUNT=$go_count: want a number"
for s in $servers; do
	case "$s" in appbackend | express) ;; *) die "BENCH_SERVERS: unknown server $s (want appbackend, express)" ;; esac
done

work=$(mktemp -d "${TMPDIR:-/tmp}/appbackend-bench.XXXXXX")
started=() # pids of the processes this script started and has not stopped yet

# stop_server ends one process started here: SIGTERM, then SIGKILL after 5 s.
stop_server() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	local remaining=()
	for p in "${started[@]}"; do [[ "$p" == "$pid" ]] || remaining+=("$p"); done
	started=("${remaining[@]}")
}

cleanup() {
	local pid
	for pid in "${started[@]}"; do stop_server "$pid"; done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# free_port prints a 127.0.0.1 port nobody answers on. Another process could still take
# it before the server binds; the server then fails to start and the run stops clearly.
free_port() {
	local port i
	for ((i = 0; i < 100; i++)); do
		port=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return
		fi
	done
	die "no free port on 127.0.0.1"
}

random_secret() { printf 'absec_bench_%s' "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"; }

loadavg() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "unknown"; }

# --- build -------------------------------------------------------------------------------
log "building into $work"
"$GO" build -o "$work/appbackend" ./cmd/appbackend
"$GO" build -o "$work/loadgen" ./bench/cmd/loadgen
"$GO" build -o "$work/benchreport" ./bench/cmd/benchreport
"$GO" build -o "$work/floodgen" ./bench/cmd/floodgen
"$GO" test -c -o "$work/bench.test" ./bench
if [[ " $servers " == *" express "* ]]; then
	[[ -d testdata/node/node_modules/express && -d testdata/node/node_modules/stripe ]] ||
		die "testdata/node/node_modules lacks express or stripe: run make node-deps"
fi

secret_old=$(random_secret)
secret_new=$(random_secret)
secrets="$secret_old,$secret_new"
if [[ "$sign_with" == second ]]; then signers=$secret_new; else signers=$secrets; fi

load_before=$(loadavg)

# --- load test ---------------------------------------------------------------------------
# run_load NAME ROUND: starts server NAME, loads it, writes $work/NAME.ROUND.json, stops it.
run_load() {
	local name=$1 round=$2 port pid result="$work/$1.$2.json"
	port=$(free_port)
	case "$name" in
	appbackend)
		# A clean environment: no GOMAXPROCS/GOGC or Stripe keys leak in from the caller.
		env -i PATH="$PATH" HOME="$HOME" \
			APPBACKEND_ADDR="127.0.0.1:$port" \
			APPBACKEND_DATABASE="sqlite:$work/bench-$round.db" \
			APPBACKEND_LOG_LEVEL="$appbackend_log_level" \
			STRIPE_APP_SECRETS="$secrets" \
			"$work/appbackend" serve >"$work/$name.log" 2>&1 &
		;;
	express)
		env -i PATH="$PATH" HOME="$HOME" NODE_ENV=production \
			EXPRESS_PEER_ADDR="127.0.0.1:$port" \
			STRIPE_APP_SECRETS="$secrets" \
			"$NODE" testdata/node/express-peer.js >"$work/$name.log" 2>&1 &
		;;
	esac
	pid=$!
	started+=("$pid")
	log "round $round/$rounds, $name: pid $pid on 127.0.0.1:$port; $warmup warm-up, $duration measured, $connections connections"

	# In the background so that a signal to this script runs the EXIT trap at once
	# instead of after the load generator's run.
	local loadgen_pid status=0
	"$work/loadgen" -name "$name" -url "http://127.0.0.1:$port/api/whoami" \
		-secrets "$signers" -connections "$connections" -warmup "$warmup" -duration "$duration" \
		-server-pid "$pid" -json >"$result" &
	loadgen_pid=$!
	started+=("$loadgen_pid")
	wait "$loadgen_pid" || status=$?
	stop_server "$loadgen_pid"
	if ((status != 0)); then
		log "$name's last output:"
		tail -n 20 "$work/$name.log" >&2 || true
		die "$name: load test failed"
	fi
	stop_server "$pid"
	log "round $round/$rounds, $name: $(grep -o '"requests_per_second": [0-9]*' "$result")"
}

for ((round = 1; round <= rounds; round++)); do
	for s in $servers; do run_load "$s" "$round"; done
done

# --- microbenchmarks ---------------------------------------------------------------------
if ((go_count > 0)); then
	log "Go microbenchmarks: -count $go_count -benchtime $go_benchtime"
	(cd bench && "$work/bench.test" -test.run '^$' -test.bench . -test.benchmem \
		-test.count "$go_count" -test.benchtime "$go_benchtime") | tee "$work/gobench.txt" >&2
fi

load_after=$(loadavg)

# --- report ------------------------------------------------------------------------------
report_args=()
[[ -f "$work/gobench.txt" ]] && report_args+=(-gobench "$work/gobench.txt")
for ((round = 1; round <= rounds; round++)); do
	[[ -f "$work/appbackend.$round.json" ]] && report_args+=(-ours "$work/appbackend.$round.json")
	[[ -f "$work/express.$round.json" ]] && report_args+=(-peer "$work/express.$round.json")
done

node_pkg_version() { sed -n 's/^  "version": "\(.*\)",$/\1/p' "testdata/node/node_modules/$1/package.json" 2>/dev/null | head -n 1; }
cpus=$(nproc 2>/dev/null || echo "?")
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
go_version=$("$GO" env GOVERSION)
node_version=$("$NODE" --version 2>/dev/null || echo "no node")
if [[ "$sign_with" == second ]]; then
	signing_note="The load test's request carries one v1, made with the second of the two configured secrets: each server tries the first secret in vain, then matches (the microbenchmark's case)."
else
	signing_note="The load test's request carries one v1 per configured secret, as Stripe sends while a secret is being expired: the first secret matches."
fi

"$work/benchreport" "${report_args[@]}" \
	-ours-label "appbackend" \
	-peer-label "Express $(node_pkg_version express) + stripe-node $(node_pkg_version stripe)" \
	-note "Machine: $cpus CPUs ($cpu_model), Linux $(uname -r); $go_version, GOMAXPROCS default ($cpus); Node $node_version, one process (as Stripe's sample runs), NODE_ENV=production." \
	-note "The load generator runs on the same $cpus CPUs as the server it measures: on a 2-CPU machine they compete, which lowers both servers' figures (the CPU lines above show each one's share)." \
	-note "Each server answers POST /api/whoami with {\"user_id\",\"account_id\",\"roles\",\"payload\"}; only 200s count as requests. appbackend: \`appbackend serve\`, SQLite in a temp dir, log level $appbackend_log_level (info writes one log line per request, to a file). Express: testdata/node/express-peer.js, verifying the raw body with stripe.webhooks.signature.verifyHeader, each secret in turn." \
	-note "$signing_note" \
	-note "The microbenchmarks verify the default string {\"user_id\":…,\"account_id\":…} with 2 configured secrets; stripe-go is called once per secret in turn, the matching one second. appauth.VerifyRequest also reads the identity from the body and returns a new *Identity." \
	-note "Load average (1, 5, 15 min) before: $load_before; after: $load_after." \
	-note "Reproduce: \`make bench\` (or \`./bench/run.sh\`); BENCH_DURATION=$duration BENCH_WARMUP=$warmup BENCH_CONNECTIONS=$connections BENCH_ROUNDS=$rounds BENCH_SIGN_WITH=$sign_with BENCH_APPBACKEND_LOG_LEVEL=$appbackend_log_level BENCH_GO_COUNT=$go_count BENCH_GO_BENCHTIME=$go_benchtime."

# --- abuse: forged bodies and stalled connections ------------------------------------------
# run_abuse SCENARIO: starts a fresh appbackend, runs floodgen's SCENARIO on it, stops it.
run_abuse() {
	local scenario=$1 port pid status=0 floodgen_pid
	port=$(free_port)
	env -i PATH="$PATH" HOME="$HOME" \
		APPBACKEND_ADDR="127.0.0.1:$port" \
		APPBACKEND_DATABASE="sqlite:$work/abuse-$scenario.db" \
		APPBACKEND_LOG_LEVEL="$appbackend_log_level" \
		STRIPE_APP_SECRETS="$secrets" \
		"$work/appbackend" serve >"$work/abuse-$scenario.log" 2>&1 &
	pid=$!
	started+=("$pid")
	log "abuse $scenario: pid $pid on 127.0.0.1:$port"
	"$work/floodgen" -scenario "$scenario" -url "http://127.0.0.1:$port/api/whoami" \
		-secrets "$signers" -server-pid "$pid" -duration "${BENCH_ABUSE_DURATION:-5s}" >"$work/abuse-$scenario.md" &
	floodgen_pid=$!
	started+=("$floodgen_pid")
	wait "$floodgen_pid" || status=$?
	stop_server "$floodgen_pid"
	stop_server "$pid"
	if ((status != 0)); then
		tail -n 20 "$work/abuse-$scenario.log" >&2 || true
		die "abuse $scenario: floodgen failed"
	fi
	cat "$work/abuse-$scenario.md"
}
if [[ "${BENCH_ABUSE:-1}" != 0 ]]; then
	printf '\n## Unauthenticated abuse: forged bodies, stalled connections\n\n'
	printf 'Each scenario on a fresh `appbackend serve` (SQLite in a temp dir), loopback only; bars from the hardening issue. Reproduce: `go build -o /tmp/floodgen ./bench/cmd/floodgen` and `floodgen -scenario forged|stalled -url http://127.0.0.1:PORT/api/whoami -secrets S -server-pid PID` against a running server. Load average before: %s.\n\n' "$(loadavg)"
	printf '| scenario | server memory | honest callers | answers |\n|---|---|---|---|\n'
	run_abuse forged
	run_abuse stalled
	printf '\nThe forged-body path in Go microbenchmarks (`go test ./appauth -bench VerifyForgedBody -benchtime 20x` and `go test ./internal/jsjson -bench ReprintForgedBody -benchtime 20x`; bars: at most 4 B/body-byte and 10 ms per MB, i.e. 1e7 ns/MB, for the re-print):\n\n```\n'
	for target in "./appauth VerifyForgedBody" "./internal/jsjson ReprintForgedBody"; do
		"$GO" test ${target% *} -run '^$' -bench "${target#* }" -benchtime 20x -count 1 2>&1 | grep -E '^Benchmark' || true
	done
	printf '```\n'
fi

# --- the other flows' benchmarks ---------------------------------------------------------
# Go benchmarks that live beside the code they measure, each against real files and real
# loopback HTTP; printed as they come. BENCH_FLOWS=0 skips them.
if [[ "${BENCH_FLOWS:-1}" != 0 ]]; then
	flow_bench() { # TITLE PACKAGE PATTERN BENCHTIME [ENV…]
		local title=$1 pkg=$2 pattern=$3 benchtime=$4
		shift 4
		log "flow benchmark: $title"
		printf '\n### %s\n\n```\n' "$title"
		env "$@" "$GO" test "$pkg" -run '^$' -bench "$pattern" -benchtime "$benchtime" -count 1 2>&1 |
			grep -E '^(Benchmark|goos|cpu)' || true
		printf '```\n'
	}
	printf '\n## Webhook inbox, scheduling, PostgreSQL\n\n'
	printf 'Reproduce one with the go test command its title names. Load average before: %s.\n' "$(loadavg)"
	flow_bench "Durable webhook acknowledgements, 64 senders, SQLite (go test ./internal/webhook -bench 'BenchmarkAck' -benchtime 5000x)" \
		./internal/webhook 'BenchmarkAck' 5000x
	flow_bench "Processing drain, SQLite (go test ./internal/webhook -bench 'BenchmarkDrain' -benchtime 5000x)" \
		./internal/webhook 'BenchmarkDrain' 5000x
	flow_bench "Durable acknowledgements with processing running: SQLite, PostgreSQL with 1 and 2 replicas (go test ./internal/replicas -bench 'BenchmarkAck' -benchtime 5000x)" \
		./internal/replicas 'BenchmarkAck' 5000x
	flow_bench "10,000 accounts on an hourly EveryAccount schedule (go test ./internal/schedule -bench 'HourlyEveryAccount10k' -benchtime 3x)" \
		./internal/schedule 'HourlyEveryAccount10k' 3x
fi
