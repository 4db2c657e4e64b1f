#!/usr/bin/env bash
# bench/run.sh: appbackend's benchmarks, run by `make bench`. It prints a Markdown report
# on stdout (progress and raw output go to stderr), so `./bench/run.sh > results.md` works.
# The report opens with issue 25's goals from this one run: whoami vs bare net/http (2),
# acks vs the bare durable receiver (5) and the gateway vs nginx and vs direct (6), each
# with its ratio, the range of its per-round ratios and whether it is met, then the load
# average over the run and how noisy the rounds were; the parts follow.
#
#  1. Builds appbackend, the bare net/http server, the load generator, the report printer
#     and the microbenchmarks; installs wrk with apt-get if it is missing (as root only).
#  2. Signed POST /api/whoami, one server at a time, in rounds where the servers take
#     turns (so that a neighbour's burst of CPU use does not land on one server only):
#     `appbackend serve` at its default configuration (two app secrets, SQLite in a temp
#     dir, default log level), the bare net/http handler (bench/cmd/bareserver: the same
#     answer, no signature check), the Express 5 + stripe-node peer
#     (testdata/node/express-peer.js) with the same secrets; each on a 127.0.0.1 port
#     it binds itself (port 0, read back from its listening line). For each: a curl of the signed request must answer 200 with the signed user;
#     the request is signed again (`appbackend sign`, a signature lives 300 s), then
#     `wrk -t2 -cN --latency -s bench/whoami.lua` for a warm-up and for the measured
#     window; any non-2xx answer fails the run. The server's peak RSS (VmHWM) and its CPU
#     time in the window come from /proc. Without wrk, bench/cmd/loadgen drives the
#     same request instead, and the report says so.
#  3. Memory soak: one `appbackend serve` under the same load for BENCH_SOAK_DURATION,
#     its VmRSS sampled every 5 s; the growth from the first sample after a 10 s warm-up
#     to the last, and the peak (VmHWM).
#  4. Go microbenchmarks: appauth's Verifier vs stripe-go's ValidatePayloadWithTolerance
#     (bench/cmd/benchreport prints their table).
#  5. Webhook acknowledgements: bench/acks.sh, its report passed through.
#  6. Gateway mode: `go run ./bench/cmd/gatewaybench -bin APPBACKEND -nginx NGINX` (nginx
#     from scripts/nginx.sh, which installs it; without it gatewaybench measures direct and
#     appbackend only), its report passed through.
#  7. Abuse load test (bench/cmd/floodgen), a fresh `appbackend serve` per scenario:
#     32 parallel forged 1 MB bodies for BENCH_ABUSE_DURATION while honest callers measure
#     /api/whoami's p99 and /proc gives the server's peak RSS; then 1,000 stalled
#     connections announcing a 1 MiB body, and the server's RSS and Go heap growth.
#  8. The other flows' Go benchmarks (webhook inbox, scheduling, PostgreSQL).
# Everything it starts is stopped on exit, and it only ever talks to 127.0.0.1.
#
# Environment (defaults in brackets):
#   BENCH_DURATION     measured window per server, Ns or Nm [10s]
#   BENCH_WARMUP       warm-up before it, Ns or Nm [2s]
#   BENCH_CONNECTIONS  concurrent keep-alive connections [64] (wrk -t2)
#   BENCH_ROUNDS       rounds of the load test; the table shows the median of each figure
#                      over the rounds, how far the rounds spread, and every round [7]: on
#                      a shared machine single rounds of the same server spread by more
#                      than 100 %; the ratio taken is the median of the 7 same-round
#                      ratios, which 3 disturbed rounds on one side cannot move past the
#                      undisturbed ones (5 tolerate 2), for 7 × 3 × ~15 s ≈ 5 min
#   BENCH_SIGN_WITH    which configured secrets sign the request: "second" (one v1, by the
#                      second of the two secrets, so appbackend and Express try the first
#                      in vain, as in the microbenchmark) or "both" (one v1 per secret,
#                      what Stripe sends while a secret is being expired) [second]
#   BENCH_SERVERS      servers to load, in the order of each round [appbackend bare express]
#   BENCH_APPBACKEND_LOG_LEVEL  appbackend's APPBACKEND_LOG_LEVEL; unset or empty leaves
#                      appbackend's default (info) [unset]; bench/acks.sh reads it too
#   BENCH_SOAK_DURATION  length of the memory soak, Ns or Nm; 0 skips it [60s]
#   BENCH_GO_COUNT     runs of each microbenchmark; the report shows the median [5]
#   BENCH_GO_BENCHTIME -benchtime of each run [1s]; BENCH_GO_COUNT=0 skips them
#   BENCH_ACKS         1 runs bench/acks.sh (its BENCH_ACK_* variables apply), 0 skips it [1]
#   BENCH_GATEWAY      1 runs bench/cmd/gatewaybench (gateway vs nginx and direct), 0 skips it [1]
#   BENCH_ABUSE        1 runs the abuse load test, 0 skips it [1]
#   BENCH_ABUSE_DURATION  how long the forged-body flood lasts [5s]
#   BENCH_FLOWS        1 runs the other flows' Go benchmarks, 0 skips them [1]
#   GO, NODE, WRK      the go, node and wrk commands [go, node, wrk]; when WRK is not found
#                      (and cannot be installed), bench/cmd/loadgen measures instead
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

duration=${BENCH_DURATION:-10s}
warmup=${BENCH_WARMUP:-2s}
connections=${BENCH_CONNECTIONS:-64}
rounds=${BENCH_ROUNDS:-7}
sign_with=${BENCH_SIGN_WITH:-second}
servers=${BENCH_SERVERS:-appbackend bare express}
appbackend_log_level=${BENCH_APPBACKEND_LOG_LEVEL:-}
soak=${BENCH_SOAK_DURATION:-60s}
go_count=${BENCH_GO_COUNT:-5}
go_benchtime=${BENCH_GO_BENCHTIME:-1s}
run_acks=${BENCH_ACKS:-1}
run_gateway=${BENCH_GATEWAY:-1}
run_abuse=${BENCH_ABUSE:-1}
run_flows=${BENCH_FLOWS:-1}
threads=2
GO=${GO:-go}
NODE=${NODE:-node}
WRK=${WRK:-wrk}
user=usr_bench_whoami
account=acct_bench_whoami

log_prefix=bench
# shellcheck source=bench/lib.sh
source bench/lib.sh

duration_s=$(seconds "$duration") && [[ "$duration_s" =~ ^[1-9][0-9]*$ ]] || die "BENCH_DURATION=$duration: want Ns or Nm"
warmup_s=$(seconds "$warmup") && [[ "$warmup_s" =~ ^[0-9]+$ ]] || die "BENCH_WARMUP=$warmup: want Ns or Nm"
# A run is signed once, right before its warm-up, and every server rejects a signature
# older than 300 s.
((warmup_s + duration_s <= 240)) || die "BENCH_WARMUP + BENCH_DURATION must stay under 240 s (a signature lives 300 s)"
if [[ "$soak" == 0 ]]; then
	soak_s=0
else
	soak_s=$(seconds "$soak") && [[ "$soak_s" =~ ^[1-9][0-9]*$ ]] || die "BENCH_SOAK_DURATION=$soak: want Ns, Nm or 0"
	((soak_s <= 240)) || die "BENCH_SOAK_DURATION must stay under 240 s (a signature lives 300 s)"
fi
case "$sign_with" in second | both) ;; *) die "BENCH_SIGN_WITH=$sign_with: want second or both" ;; esac
[[ "$connections" =~ ^[1-9][0-9]*$ ]] && ((connections >= threads)) || die "BENCH_CONNECTIONS=$connections: want a number >= $threads"
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS=$rounds: want a positive number"
[[ "$go_count" =~ ^[0-9]+$ ]] || die "BENCH_GO_COUNT=$go_count: want a number"
for v in BENCH_ACKS=$run_acks BENCH_GATEWAY=$run_gateway BENCH_ABUSE=$run_abuse BENCH_FLOWS=$run_flows; do
	[[ "${v#*=}" == [01] ]] || die "$v: want 1 or 0"
done
for s in $servers; do
	case "$s" in appbackend | bare | express) ;; *) die "BENCH_SERVERS: unknown server $s (want appbackend, bare, express)" ;; esac
done

work=$(mktemp -d "${TMPDIR:-/tmp}/appbackend-bench.XXXXXX")


cleanup() {
	local pid
	for pid in "${started[@]}"; do stop_process "$pid"; done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM


random_secret() { printf 'absec_bench_%s' "$(random_hex)"; }
now_us() { local t=$EPOCHREALTIME; echo $((10#${t//[.,]/})); }
clk_tck=$(getconf CLK_TCK 2>/dev/null || echo 100)
# cpu_ticks PID: user + system CPU time of PID (all its threads) in clock ticks.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }'; }
# proc_kb PID FIELD: VmHWM or VmRSS of PID in kB (0 when unreadable).
proc_kb() { awk -v f="$2:" '$1 == f { print $2; found = 1 } END { if (!found) print 0 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# --- tools and build -----------------------------------------------------------------------
if ! command -v "$WRK" >/dev/null 2>&1 && [[ "$WRK" == wrk && "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
	log "installing wrk with apt-get"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >&2 ||
		{ apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >&2; } ||
		log "apt-get install wrk failed"
fi
if command -v "$WRK" >/dev/null 2>&1; then
	generator=wrk
	generator_label="$("$WRK" -v 2>&1 | head -n 1 | sed 's/ Copyright.*//' || true)"
else
	generator=loadgen
	generator_label="bench/cmd/loadgen (wrk not found: $WRK)"
	log "wrk not found ($WRK): bench/cmd/loadgen measures instead"
fi
command -v curl >/dev/null 2>&1 || die "curl not found (it checks that a server answers)"

log "building into $work"
"$GO" build -o "$work/appbackend" ./cmd/appbackend
"$GO" build -o "$work/bareserver" ./bench/cmd/bareserver
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
if [[ "$sign_with" == second ]]; then
	signers=$secret_new
	sign_args=(--secret "$secret_new")
else
	signers=$secrets
	sign_args=(--secret "$secret_old" --secret "$secret_new")
fi

node_pkg_version() { sed -n 's/^  "version": "\(.*\)",$/\1/p' "testdata/node/node_modules/$1/package.json" 2>/dev/null | head -n 1; }
express_label="Express $(node_pkg_version express) + stripe-node $(node_pkg_version stripe)"
label() {
	case "$1" in
	appbackend) echo "\`appbackend serve\`" ;;
	bare) echo "bare net/http" ;;
	express) echo "$express_label" ;;
	esac
}

# --- servers, signing, load ----------------------------------------------------------------

# start_server NAME DB LOG: starts server NAME in the background on a port of 127.0.0.1 it
# binds itself, records its pid in server_pid and, once it listens, its address in
# server_addr.
start_server() {
	local name=$1 port=0 db=$2 logfile=$3
	case "$name" in
	appbackend)
		# A clean environment: no GOMAXPROCS/GOGC or Stripe keys leak in from the caller;
		# only what the default configuration needs, and the log level if one was asked for.
		local level=()
		[[ -n "$appbackend_log_level" ]] && level=(APPBACKEND_LOG_LEVEL="$appbackend_log_level")
		env -i PATH="$PATH" HOME="$HOME" \
			APPBACKEND_ADDR="127.0.0.1:$port" \
			APPBACKEND_DATABASE="sqlite:$db" \
			STRIPE_APP_SECRETS="$secrets" \
			"${level[@]}" \
			"$work/appbackend" serve >"$logfile" 2>&1 &
		;;
	bare)
		env -i PATH="$PATH" HOME="$HOME" "$work/bareserver" -addr "127.0.0.1:$port" >"$logfile" 2>&1 &
		;;
	express)
		env -i PATH="$PATH" HOME="$HOME" NODE_ENV=production \
			EXPRESS_PEER_ADDR="127.0.0.1:$port" \
			STRIPE_APP_SECRETS="$secrets" \
			"$NODE" testdata/node/express-peer.js >"$logfile" 2>&1 &
		;;
	esac
	server_pid=$!
	started+=("$server_pid")
	server_addr=$(listening_addr "$server_pid" "$logfile")
}

# sign_request: signs the default string for $user and $account now; sets signature and body.
sign_request() {
	local lines
	mapfile -t lines < <("$work/appbackend" sign "${sign_args[@]}" --user "$user" --account "$account" --timestamp "$(date +%s)")
	[[ ${#lines[@]} -eq 2 && -n "${lines[0]}" && -n "${lines[1]}" ]] || die "appbackend sign printed ${#lines[@]} lines, want 2"
	signature=${lines[0]}
	body=${lines[1]}
}

# check_whoami PID URL NAME LOG: sends the signed request with curl, retrying for 30 s
# while the server does not listen yet (or answers 503 while starting); fails unless the
# answer is a 200 naming the signed user and account.
check_whoami() {
	local pid=$1 url=$2 name=$3 logfile=$4 status i answer="$work/check.out"
	sign_request
	for ((i = 0; i < 300; i++)); do
		kill -0 "$pid" 2>/dev/null || { tail -n 20 "$logfile" >&2 || true; die "$name exited before answering"; }
		status=$(curl -sS --max-time 2 -o "$answer" -w '%{http_code}' -X POST \
			-H 'Content-Type: application/json' -H 'Origin: null' -H "Stripe-Signature: $signature" \
			--data-binary "$body" "$url" 2>/dev/null) || status=000
		case "$status" in
		000 | 503) sleep 0.1 ;;
		200)
			grep -q "\"user_id\":\"$user\"" "$answer" && grep -q "\"account_id\":\"$account\"" "$answer" ||
				die "$name answered 200 without the signed user and account: $(head -c 300 "$answer")"
			log "$name answers the signed request: $(head -c 200 "$answer")"
			return 0
			;;
		*) die "$name answered the signed request with status $status: $(head -c 300 "$answer")" ;;
		esac
	done
	die "$name did not answer $url within 30 s"
}

# field NAME FILE: the value of NAME=… in whoami.lua's result line.
field() { sed -n "s/^whoami\.lua: result.*[[:space:]]$1=\([0-9]*\).*/\1/p" "$2" | tail -n 1; }

# start_load URL DURATION OUT SERVER_PID NAME: starts the load generator in the background
# (so that a signal runs the EXIT trap at once), with the current signature; sets load_pid.
# wrk runs for DURATION; loadgen (which warms up by itself) for BENCH_WARMUP + DURATION.
start_load() {
	local url=$1 dur=$2 out=$3 pid=$4 name=$5
	if [[ "$generator" == wrk ]]; then
		"$WRK" -t"$threads" -c"$connections" -d"$dur" --latency -s bench/whoami.lua "$url" -- "$signature" "$body" >"$out" 2>&1 &
	else
		local cors=()
		[[ "$name" == bare ]] && cors=(-cors=false)
		"$work/loadgen" -name "$name" -url "$url" -secrets "$signers" -user "$user" -account "$account" \
			-connections "$connections" -warmup "${6:-0s}" -duration "$dur" -server-pid "$pid" -json "${cors[@]}" >"$out" &
	fi
	load_pid=$!
	started+=("$load_pid")
}

# wait_load NAME OUT: waits for the load generator; fails if it failed.
wait_load() {
	local name=$1 out=$2 status=0
	wait "$load_pid" || status=$?
	stop_process "$load_pid"
	[[ "$generator" == wrk ]] && cat "$out" >&2
	((status == 0)) || { cat "$out" >&2; die "$name: the load generator failed (status $status)"; }
	if [[ "$generator" == wrk ]]; then
		grep -q '^whoami\.lua: result ' "$out" || die "$name: wrk printed no result line"
	fi
}

# load_figures OUT: "rps p50_us p99_us max_us ok non2xx socket_errors" of a run's output.
load_figures() {
	local out=$1
	if [[ "$generator" == wrk ]]; then
		local requests dur_us non2xx sock
		requests=$(field requests "$out")
		dur_us=$(field duration_us "$out")
		non2xx=$(field status_errors "$out")
		sock=$(($(field connect "$out") + $(field read "$out") + $(field write "$out") + $(field timeout "$out")))
		awk -v r="$requests" -v us="$dur_us" -v n="$non2xx" -v s="$sock" \
			-v p50="$(field p50_us "$out")" -v p99="$(field p99_us "$out")" -v mx="$(field max_us "$out")" \
			'BEGIN { printf "%.0f %d %d %d %d %d %d\n", (r - n) / (us / 1e6), p50, p99, mx, r - n, n, s }'
	else
		# loadgen's JSON: errors are every non-200 answer and every request without one.
		awk '
			function num(line) { sub(/^[^:]*: */, "", line); sub(/,$/, "", line); return line + 0 }
			/^  "requests_per_second":/ { rps = num($0) }
			/^  "p50_ms":/ { p50 = num($0) }
			/^  "p99_ms":/ { p99 = num($0) }
			/^  "max_ms":/ { mx = num($0) }
			/^  "ok":/ { ok = num($0) }
			/^  "errors":/ { errors = num($0) }
			/^    "status [0-9]+": [0-9]+,?$/ { status += num($0) }
			END { printf "%.0f %d %d %d %d %d %d\n", rps, p50 * 1000, p99 * 1000, mx * 1000, ok, status, errors - status }' "$out"
	fi
}

# --- whoami load test ------------------------------------------------------------------------
results="$work/whoami.tsv"
: >"$results"

# run_whoami NAME ROUND: starts server NAME, checks it, warms it up, loads it, appends a
# line to $results, stops it.
run_whoami() {
	local name=$1 round=$2 port url dir="$work/$1.$2" load1 pid
	mkdir -p "$dir"
	load1=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo "?")
	start_server "$name" "$dir/appbackend.db" "$dir/server.log"
	pid=$server_pid
	url="http://$server_addr/api/whoami"
	log "round $round/$rounds, $name: pid $pid on $server_addr"
	check_whoami "$pid" "$url" "$name" "$dir/server.log"

	sign_request
	local cpu_before cpu_after
	if [[ "$generator" == wrk ]]; then
		log "round $round/$rounds, $name: $warmup warm-up, then $duration measured, $connections connections (wrk)"
		if ((warmup_s > 0)); then
			start_load "$url" "$warmup" "$dir/warmup.out" "$pid" "$name"
			wait_load "$name" "$dir/warmup.out"
			[[ "$(field status_errors "$dir/warmup.out")" == 0 ]] || die "$name: non-2xx answers during the warm-up"
		fi
		cpu_before=$(cpu_ticks "$pid")
		start_load "$url" "$duration" "$dir/load.out" "$pid" "$name"
		wait_load "$name" "$dir/load.out"
		cpu_after=$(cpu_ticks "$pid")
	else
		log "round $round/$rounds, $name: $warmup warm-up, then $duration measured, $connections connections (loadgen)"
		start_load "$url" "$duration" "$dir/load.out" "$pid" "$name" "$warmup"
		wait_load "$name" "$dir/load.out"
	fi
	kill -0 "$pid" 2>/dev/null || { tail -n 20 "$dir/server.log" >&2 || true; die "$name died during the load"; }

	local figures rps p50 p99 mx ok non2xx sock peak cpu logbytes=-
	figures=$(load_figures "$dir/load.out")
	read -r rps p50 p99 mx ok non2xx sock <<<"$figures"
	peak=$(proc_kb "$pid" VmHWM)
	if [[ "$generator" == wrk ]]; then
		cpu=$(awk -v a="$cpu_before" -v b="$cpu_after" -v t="$clk_tck" 'BEGIN { printf "%.2f", (b - a) / t }')
	else
		cpu=$(sed -n 's/^    "cpu_seconds": \([0-9.e+-]*\),\{0,1\}$/\1/p' "$dir/load.out" | head -n 1)
		cpu=$(awk -v c="${cpu:-0}" 'BEGIN { printf "%.2f", c }')
	fi
	[[ "$name" == appbackend ]] && logbytes=$(wc -c <"$dir/server.log")
	stop_process "$pid"
	log "round $round/$rounds, $name: $rps req/s, p50 $p50 µs, p99 $p99 µs, $non2xx non-2xx, $sock socket errors, peak RSS $peak kB, CPU $cpu s"
	((non2xx == 0)) || die "$name: $non2xx answers other than 2xx in the measured window: every server must answer the signed request with 200"
	((ok > 0)) || die "$name: no request answered in the measured window"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
		"$name" "$round" "$rps" "$p50" "$p99" "$mx" "$ok" "$non2xx" "$sock" "$peak" "$cpu" \
		"$(awk -v ok="$ok" -v c="${cpu:-0}" 'BEGIN { if (c > 0) printf "%.0f", ok / c; else print 0 }')" \
		"$logbytes" "$load1" >>"$results"
}

# note_load: records the 1-minute load average now, for the summary's range over the run.
loads="$work/loads.txt"
note_load() { cut -d' ' -f1 /proc/loadavg 2>/dev/null >>"$loads" || true; }
run_started=$(date -u +%H:%M)
note_load
load_before=$(loadavg)
for ((round = 1; round <= rounds; round++)); do
	for s in $servers; do
		note_load
		run_whoami "$s" "$round"
	done
done
load_after_whoami=$(loadavg)

# --- memory soak -----------------------------------------------------------------------------
soak_samples="$work/soak.tsv" # seconds since the load started, VmRSS kB
soak_line=""                  # rps p50 p99 max ok non2xx sock peak_kb
if ((soak_s > 0)); then
	load_before_soak=$(loadavg)
	dir="$work/soak"
	mkdir -p "$dir"
	start_server appbackend "$dir/appbackend.db" "$dir/server.log"
	pid=$server_pid
	url="http://$server_addr/api/whoami"
	log "soak: appbackend pid $pid on $server_addr, $soak at $connections connections, VmRSS every 5 s"
	check_whoami "$pid" "$url" appbackend "$dir/server.log"
	sign_request
	: >"$soak_samples"
	t0=$(now_us)
	start_load "$url" "$soak" "$dir/load.out" "$pid" appbackend
	# Samples at 5, 10, … s after the load started; the last one a quarter of a second
	# before the load ends, so that it is taken under load.
	for ((k = 5; ; k += 5)); do
		target=$((t0 + k * 1000000))
		((k < soak_s)) || target=$((t0 + soak_s * 1000000 - 250000))
		wait_us=$((target - $(now_us)))
		((wait_us <= 0)) || sleep "$(printf '%d.%06d' $((wait_us / 1000000)) $((wait_us % 1000000)))"
		kill -0 "$load_pid" 2>/dev/null || break
		printf '%s\t%s\n' "$(awk -v d=$(($(now_us) - t0)) 'BEGIN { printf "%.1f", d / 1e6 }')" "$(proc_kb "$pid" VmRSS)" >>"$soak_samples"
		log "soak: $(tail -n 1 "$soak_samples" | awk -F'\t' '{ printf "%s s: VmRSS %d kB", $1, $2 }')"
		((k < soak_s)) || break
	done
	wait_load appbackend "$dir/load.out"
	kill -0 "$pid" 2>/dev/null || { tail -n 20 "$dir/server.log" >&2 || true; die "appbackend died during the soak"; }
	soak_line="$(load_figures "$dir/load.out") $(proc_kb "$pid" VmHWM)"
	stop_process "$pid"
	read -r _ _ _ _ _ soak_non2xx _ _ <<<"$soak_line"
	((soak_non2xx == 0)) || die "soak: $soak_non2xx answers other than 2xx"
	load_after_soak=$(loadavg)
fi

# --- microbenchmarks ---------------------------------------------------------------------------
load_before_go=$(loadavg)
if ((go_count > 0)); then
	log "Go microbenchmarks: -count $go_count -benchtime $go_benchtime"
	(cd bench && "$work/bench.test" -test.run '^$' -test.bench . -test.benchmem \
		-test.count "$go_count" -test.benchtime "$go_benchtime") | tee "$work/gobench.txt" >&2
fi
load_after_go=$(loadavg)

# --- report: whoami, memory, microbenchmarks ---------------------------------------------------
cpus=$(nproc 2>/dev/null || echo "?")
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
go_version=$("$GO" env GOVERSION)
node_version=$("$NODE" --version 2>/dev/null || echo "no node")
reproduce="BENCH_DURATION=$duration BENCH_WARMUP=$warmup BENCH_CONNECTIONS=$connections BENCH_ROUNDS=$rounds BENCH_SIGN_WITH=$sign_with BENCH_SERVERS='$servers'"
[[ -n "$appbackend_log_level" ]] && reproduce+=" BENCH_APPBACKEND_LOG_LEVEL=$appbackend_log_level"
reproduce+=" BENCH_SOAK_DURATION=$soak BENCH_GO_COUNT=$go_count BENCH_GO_BENCHTIME=$go_benchtime BENCH_ACKS=$run_acks BENCH_GATEWAY=$run_gateway BENCH_ABUSE=$run_abuse BENCH_FLOWS=$run_flows"
# Whatever else of bench/acks.sh's or the abuse test's settings the caller gave.
while IFS= read -r v; do reproduce+=" $v"; done < <(env | grep -E '^BENCH_(ACK_[A-Z_]+|ABUSE_DURATION)=' | sort)
[[ "$WRK" == wrk ]] || reproduce+=" WRK=$WRK"
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
bar_kb=62500 # 64 MB = 64,000,000 bytes = 62,500 kB (of 1,024 bytes)

# The parts' sections go to body.md; the title and the summary of issue 25's goals,
# which needs every part, are printed before it at the end.
exec 3>&1 >"$work/body.md"

# The whoami table: each figure the median over the rounds (the mean of the middle two
# for an even count), errors summed.
awk_common='
function commas(n,   s, neg) { s = sprintf("%d", n); neg = ""; if (s ~ /^-/) { neg = "-"; s = substr(s, 2) } while (s ~ /[0-9][0-9][0-9][0-9]/) sub(/[0-9][0-9][0-9]([^0-9]|$)/, ",&", s); return neg s }
function ms(us) { return sprintf("%.2f ms", us / 1000) }
function mib(kb) { return sprintf("%.1f MiB", kb / 1024) }
function ratio(a, b) { return b > 0 ? sprintf("%.2f×", a / b) : "—" }
function median(list,   n, v, i, j, t) {
	n = split(list, v, " ")
	for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] + 0 > t + 0; j--) v[j + 1] = v[j]; v[j + 1] = t }
	if (n == 0) return 0
	return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}'
# summary NAME: "rps p50 p99 max peak cpu per_cpu non2xx sock rounds" of NAME's rounds.
summary() {
	awk -F'\t' -v n="$1" "$awk_common"'
		$1 == n { rps = rps " " $3; p50 = p50 " " $4; p99 = p99 " " $5; mx = mx " " $6; peak = peak " " $10; cpu = cpu " " $11; per = per " " $12; non2xx += $8; sock += $9; c++ }
		END { if (c) printf "%.0f %.0f %.0f %.0f %.0f %.2f %.0f %d %d %d\n", median(rps), median(p50), median(p99), median(mx), median(peak), median(cpu), median(per), non2xx, sock, c }' "$results"
}
declare -A sum
for s in $servers; do sum[$s]=$(summary "$s"); done

if [[ "$generator" == wrk ]]; then
	warmup_desc="after a \`-d$warmup\` warm-up run"
	((warmup_s > 0)) || warmup_desc="without a warm-up run"
	generator_desc="$generator_label, \`-t$threads -c$connections -d$duration --latency -s bench/whoami.lua\` $warmup_desc (p50/p99/max from its latency histogram, after wrk's correction for coordinated omission)"
else
	generator_desc="$generator_label, \`-connections $connections -warmup $warmup -duration $duration\` (keep-alive HTTP/1.1; p50/p99/max of the requests that started and ended in the window)"
fi
if [[ "$sign_with" == second ]]; then
	signing_note="Two secrets configured on appbackend and Express; the request carries one v1, made with the second: each tries the first secret in vain, then matches (the microbenchmark's case)."
else
	signing_note="Two secrets configured on appbackend and Express; the request carries one v1 per secret, as Stripe sends while a secret is being expired: the first secret matches."
fi

printf '## Signed `POST /api/whoami`: appbackend, bare net/http, %s\n\n' "$express_label"
printf '%s keep-alive connections on loopback, %s measured after %s of warm-up, one server at a time; %s round(s), the servers taking turns in the order %s. Each figure below is the median of that figure over the rounds; errors are summed.\n\n' \
	"$connections" "$duration" "$warmup" "$rounds" "$servers"
printf '| server | requests/s | p50 | p99 | max | peak RSS (VmHWM) | server CPU-s in the window | requests per server CPU-s | non-2xx | socket errors |\n'
printf '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for s in $servers; do
	awk -v label="$(label "$s")" "$awk_common"'
		{ printf "| %s | %s | %s | %s | %s | %s | %.2f | %s | %d | %d |\n", label, commas($1), ms($2), ms($3), ms($4), mib($5), $6, commas($7), $8, $9 }' <<<"${sum[$s]}"
done
for other in bare express; do
	[[ -n "${sum[appbackend]:-}" && -n "${sum[$other]:-}" ]] || continue
	awk -v label="appbackend ÷ $(label "$other")" "$awk_common"'
		NR == 1 { split($0, a, " ") } NR == 2 { split($0, b, " ")
			printf "| %s | **%s** | %s | %s | %s | %s | %s | %s | | |\n", label, ratio(a[1], b[1]), ratio(a[2], b[2]), ratio(a[3], b[3]), ratio(a[4], b[4]), ratio(a[5], b[5]), ratio(a[6], b[6]), ratio(a[7], b[7]) }' \
		<<<"${sum[appbackend]}"$'\n'"${sum[$other]}"
done
printf '\nRatios are appbackend'"'"'s figure over the other server'"'"'s: above 1× is better for requests/s and requests per CPU-s, below 1× for latency, memory and CPU.\n\n'

# How noisy the rounds were: each server's requests/s spread ((max − min) / median), and
# appbackend's requests/s over the other server's in each round (they ran one after the
# other, so under about the same load from the rest of the machine): the median of those
# per-round ratios, its range, and how far the range reaches either side of the median.
spread() { # NAME
	awk -F'\t' -v n="$1" '$1 == n { print $3 }' "$results" | sort -n |
		awk '{ v[NR] = $1 } END { if (NR) { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.0f–%.0f req/s, spread %.0f %% of the median", v[1], v[NR], (m > 0 ? 100 * (v[NR] - v[1]) / m : 0) } }'
}
round_ratio() { # OURS OTHER: "median min max n" of OURS/OTHER per round
	join -t$'\t' <(awk -F'\t' -v n="$1" '$1 == n { print $2 "\t" $3 }' "$results" | sort) \
		<(awk -F'\t' -v n="$2" '$1 == n { print $2 "\t" $3 }' "$results" | sort) |
		awk -F'\t' '$3 > 0 { print $2 / $3 }' | sort -n |
		awk '{ v[NR] = $1 } END { if (NR) printf "%.4f %.4f %.4f %d\n", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), v[1], v[NR], NR }'
}
printf '### How noisy the rounds were\n\n'
for s in $servers; do printf -- '- %s: %s over %s rounds.\n' "$(label "$s")" "$(spread "$s")" "$rounds"; done
declare -A rr
for other in bare express; do
	[[ " $servers " == *" appbackend "* && " $servers " == *" $other "* ]] || continue
	rr[$other]=$(round_ratio appbackend "$other")
	[[ -n "${rr[$other]}" ]] || continue
	awk -v label="$(label "$other")" '{ printf "- appbackend ÷ %s, requests/s of the same round: median **%.2f×**, %.2f–%.2f× over %d rounds (±%.0f %% around the median).\n", label, $1, $2, $3, $4, ($1 > 0 ? 100 * ($3 - $2) / 2 / $1 : 0) }' <<<"${rr[$other]}"
done
printf '\n'

# The bars of issue 15.
verdict() { if [[ "$1" == 1 ]]; then printf '✅'; else printf '❌'; fi; }
bars=()
if [[ -n "${sum[appbackend]:-}" ]]; then
	read -r a_rps _ a_p99 _ a_peak _ <<<"${sum[appbackend]}"
	p99_others=() p99_ok=1
	if [[ -n "${sum[bare]:-}" ]]; then
		read -r b_rps _ b_p99 _ <<<"${sum[bare]}"
		ok=$(awk -v a="$a_rps" -v b="$b_rps" 'BEGIN { print (a >= 0.90 * b) }')
		per_round=""
		[[ -z "${rr[bare]:-}" ]] || per_round=$(awk '{ printf "; per round: median %.0f %%, %.0f–%.0f %%", 100 * $1, 100 * $2, 100 * $3 }' <<<"${rr[bare]}")
		bars+=("$(verdict "$ok") requests/s: appbackend $(awk -v a="$a_rps" -v b="$b_rps" 'BEGIN { printf "%.0f %%", 100 * a / b }') of bare net/http's, medians$per_round (bar ≥ 90 %, issue 25)")
		p99_others+=("bare net/http $(awk -v u="$b_p99" -v a="$a_p99" 'BEGIN { printf "%.2f ms (appbackend %+.0f %%)", u / 1000, (u > 0 ? 100 * (a - u) / u : 0) }')")
		((a_p99 <= b_p99)) || p99_ok=0
	fi
	if [[ -n "${sum[express]:-}" ]]; then
		read -r e_rps _ e_p99 _ <<<"${sum[express]}"
		ok=$(awk -v a="$a_rps" -v b="$e_rps" 'BEGIN { print (a >= 6 * b) }')
		bars+=("$(verdict "$ok") requests/s: appbackend $(awk -v a="$a_rps" -v b="$e_rps" 'BEGIN { printf "%.2f", a / b }')× Express's (bar ≥ 6×)")
		p99_others+=("Express $(awk -v u="$e_p99" -v a="$a_p99" 'BEGIN { printf "%.2f ms (appbackend %+.0f %%)", u / 1000, (u > 0 ? 100 * (a - u) / u : 0) }')")
		((a_p99 <= e_p99)) || p99_ok=0
	fi
	if ((${#p99_others[@]} > 0)); then
		others=$(printf '%s, ' "${p99_others[@]}")
		bars+=("$(verdict "$p99_ok") p99: appbackend $(awk -v u="$a_p99" 'BEGIN { printf "%.2f ms", u / 1000 }'), ${others%, } (bar: no worse than either)")
	fi
	max_peak=$(awk -F'\t' '$1 == "appbackend" && $10 > m { m = $10 } END { print m + 0 }' "$results")
	bars+=("$(verdict "$((max_peak < bar_kb ? 1 : 0))") memory: appbackend's peak RSS at $connections connections, highest of the rounds: $(mib "$max_peak") (bar < 64 MB = $(mib "$bar_kb"))")
fi
if ((${#bars[@]} > 0)); then
	printf '### Bars (issues 15 and 25)\n\n'
	printf -- '- %s\n' "${bars[@]}"
	printf '\n'
fi

printf '### Every round\n\n| round | server | requests/s | p50 | p99 | max | 2xx | non-2xx | socket errors | peak RSS | server CPU-s | requests per CPU-s | appbackend log | load (1 min) at start |\n'
printf '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
while IFS= read -r line; do
	awk -F'\t' -v label="$(label "${line%%$'\t'*}")" "$awk_common"'
		{ printf "| %d | %s | %s | %s | %s | %s | %s | %d | %d | %s | %s | %s | %s | %s |\n", $2, label, commas($3), ms($4), ms($5), ms($6), commas($7), $8, $9, mib($10), $11, commas($12), ($13 == "-" ? "—" : commas($13) " B"), $14 }' <<<"$line"
done <"$results"
printf '\n'

printf -- '- Load generator: %s, on the same %s CPUs as the server it measures: they compete, which lowers every server'"'"'s figures; requests per server CPU-s is the figure the competition disturbs least. requests/s counts 2xx answers only; any non-2xx answer fails the run.\n' "$generator_desc" "$cpus"
printf -- '- Request: the default signed string `%s`, signed with `appbackend sign` right before each run (a signature lives 300 s), with Content-Type: application/json and Origin: null. Before each run a curl of it must answer 200 naming the signed user and account. %s The bare server checks no signature.\n' \
	"{\"user_id\":\"$user\",\"account_id\":\"$account\"}" "$signing_note"
printf -- '- appbackend: `appbackend serve` at its default configuration, a fresh SQLite file in a temp dir per run, log level %s, its log to a file (the bytes it wrote per run are in the table). bare net/http: `bench/cmd/bareserver` (net/http alone, the same JSON answer, no signature check, no log): the ceiling. Express: `testdata/node/express-peer.js`, verifying the raw body with stripe.webhooks.signature.verifyHeader, each secret in turn; it logs nothing.\n' \
	"${appbackend_log_level:-default (info)}"
printf -- '- Peak RSS: VmHWM of /proc/PID/status after the measured window; server CPU-s: user + system time of the server process (all threads) over the measured window.\n'
printf -- '- Load average (1, 5, 15 min) before: %s; after: %s.\n\n' "$load_before" "$load_after_whoami"

if ((soak_s > 0)); then
	read -r s_rps s_p50 s_p99 s_max s_ok s_non2xx s_sock s_peak <<<"$soak_line"
	printf '## Memory: `appbackend serve` under %s connections for %s\n\n' "$connections" "$soak"
	printf 'One `appbackend serve` (default configuration, a fresh SQLite file), loaded with the signed `POST /api/whoami` for %s by %s at %s connections, no warm-up; its VmRSS sampled every 5 s (the last sample a quarter of a second before the load ends). The first 10 s are its warm-up: the growth is from the first sample at or after 10 s to the last.\n\n' \
		"$soak" "$([[ "$generator" == wrk ]] && echo wrk || echo loadgen)" "$connections"
	printf '| time since the load started | VmRSS |\n|---:|---:|\n'
	awk -F'\t' "$awk_common"'{ printf "| %s s | %s |\n", $1, mib($2) }' "$soak_samples"
	growth=$(awk -F'\t' '$1 + 0 >= 10 && first == "" { first = $2; ft = $1 } { last = $2; lt = $1 }
		END { if (first == "" || lt == ft) print "-"; else printf "%d %d %s %s\n", first, last, ft, lt }' "$soak_samples")
	printf '\n| measure | value | bar |\n|---|---:|---|\n'
	if [[ "$growth" == - ]]; then
		printf '| VmRSS growth after the 10 s warm-up | — (fewer than two samples after 10 s: a longer BENCH_SOAK_DURATION) | no growth |\n'
	else
		read -r g_first g_last g_ft g_lt <<<"$growth"
		# No growth: the last sample at most 5 % above the first (the Go collector's cycle
		# moves RSS by a few MiB either way under steady load).
		g_ok=$(awk -v a="$g_first" -v b="$g_last" 'BEGIN { print (b <= a * 1.05) }')
		printf '| VmRSS growth, %s s → %s s | %s → %s: %s (%s) | %s no growth (≤ +5 %%) |\n' "$g_ft" "$g_lt" "$(mib "$g_first")" "$(mib "$g_last")" \
			"$(awk -v a="$g_first" -v b="$g_last" 'BEGIN { printf "%+.1f MiB", (b - a) / 1024 }')" \
			"$(awk -v a="$g_first" -v b="$g_last" 'BEGIN { printf "%+.1f %%", 100 * (b - a) / a }')" "$(verdict "$g_ok")"
	fi
	printf '| peak RSS (VmHWM) over the soak | %s | %s < 64 MB (%s) |\n' "$(mib "$s_peak")" "$(verdict "$((s_peak < bar_kb ? 1 : 0))")" "$(mib "$bar_kb")"
	printf '| highest VmRSS sample | %s | |\n' "$(mib "$(awk -F'\t' '$2 > m { m = $2 } END { print m + 0 }' "$soak_samples")")"
	awk -v r="$s_rps" -v p50="$s_p50" -v p99="$s_p99" -v ok="$s_ok" -v n="$s_non2xx" -v s="$s_sock" "$awk_common"'
		BEGIN { printf "| load over the soak | %s requests/s, p50 %s, p99 %s; %s answered 2xx, %d non-2xx, %d socket errors | |\n", commas(r), ms(p50), ms(p99), commas(ok), n, s }'
	printf '\nLoad average (1, 5, 15 min) before: %s; after: %s.\n\n' "$load_before_soak" "$load_after_soak"
fi

if [[ -f "$work/gobench.txt" ]]; then
	printf '## Go verification microbenchmarks\n\n'
	"$work/benchreport" -gobench "$work/gobench.txt" \
		-note "The microbenchmarks verify the default string {\"user_id\":…,\"account_id\":…} with 2 configured secrets; stripe-go is called once per secret in turn, the matching one second. appauth.VerifyRequest also reads the identity from the body and returns a new *Identity." \
		-note "\`go test ./bench -run '^\$' -bench . -benchmem -count $go_count -benchtime $go_benchtime\`; load average (1, 5, 15 min) before: $load_before_go; after: $load_after_go."
fi

# --- webhook acknowledgements (bench/acks.sh) ------------------------------------------------
if [[ "$run_acks" != 0 ]]; then
	if ! command -v "$WRK" >/dev/null 2>&1; then
		log "bench/acks.sh skipped: it needs wrk ($WRK not found)"
		printf '## Webhook acknowledgements\n\nNot measured: `bench/acks.sh` needs wrk, and `%s` was not found.\n\n' "$WRK"
	else
		log "webhook acknowledgements: bench/acks.sh"
		# In the background so that a signal to this script runs the EXIT trap at once; its
		# stdout (its report) is this report's section.
		acks_status=0
		note_load
		WRK=$WRK GO=$GO NODE=$NODE ./bench/acks.sh >"$work/acks.md" &
		acks_pid=$!
		started+=("$acks_pid")
		wait "$acks_pid" || acks_status=$?
		stop_process "$acks_pid"
		note_load
		((acks_status == 0)) || die "bench/acks.sh failed (status $acks_status)"
		cat "$work/acks.md"
		printf '\n'
	fi
fi

# --- gateway mode: bench/cmd/gatewaybench ----------------------------------------------------
if [[ "$run_gateway" != 0 ]]; then
	nginx_bin=$(./scripts/nginx.sh) || { nginx_bin=""; log "scripts/nginx.sh found no nginx: gatewaybench measures without it"; }
	log "gateway mode: bench/cmd/gatewaybench -bin $work/appbackend -nginx ${nginx_bin:-(none)}"
	# Built, not `go run`, so that the pid stopped on a signal is gatewaybench's own.
	"$GO" build -o "$work/gatewaybench" ./bench/cmd/gatewaybench
	note_load
	gateway_status=0
	"$work/gatewaybench" -bin "$work/appbackend" -nginx "$nginx_bin" >"$work/gateway.md" &
	gateway_pid=$!
	started+=("$gateway_pid")
	wait "$gateway_pid" || gateway_status=$?
	stop_process "$gateway_pid"
	note_load
	((gateway_status == 0)) || die "bench/cmd/gatewaybench failed (status $gateway_status)"
	cat "$work/gateway.md"
	printf '\nReproduce alone: `make bench-gateway` (`go run ./bench/cmd/gatewaybench -bin ./appbackend -nginx "$(./scripts/nginx.sh)"`).\n\n'
fi

# --- abuse: forged bodies and stalled connections ------------------------------------------
# run_abuse SCENARIO: starts a fresh appbackend, runs floodgen's SCENARIO on it, stops it.
run_abuse() {
	local scenario=$1 pid status=0 floodgen_pid
	start_server appbackend "$work/abuse-$scenario.db" "$work/abuse-$scenario.log"
	pid=$server_pid
	log "abuse $scenario: pid $pid on $server_addr"
	"$work/floodgen" -scenario "$scenario" -url "http://$server_addr/api/whoami" \
		-secrets "$signers" -server-pid "$pid" -duration "${BENCH_ABUSE_DURATION:-5s}" >"$work/abuse-$scenario.md" &
	floodgen_pid=$!
	started+=("$floodgen_pid")
	wait "$floodgen_pid" || status=$?
	stop_process "$floodgen_pid"
	stop_process "$pid"
	if ((status != 0)); then
		tail -n 20 "$work/abuse-$scenario.log" >&2 || true
		die "abuse $scenario: floodgen failed"
	fi
	cat "$work/abuse-$scenario.md"
}
if [[ "$run_abuse" != 0 ]]; then
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
if [[ "$run_flows" != 0 ]]; then
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

# --- the report: title, issue 25's goals from this run, then the parts ----------------------
note_load
exec 1>&3 3>&-
printf '# appbackend benchmarks\n\n'
printf 'Reproduce: `%s make bench` (the same as `./scripts/with-services.sh ./bench/run.sh` after `make node-deps`).\n\n' "$reproduce"
printf 'Machine: %s CPUs (%s), Linux %s; %s, GOMAXPROCS default (%s); Node %s, one process, NODE_ENV=production. Every server and the load generator share these CPUs, on loopback.\n\n' \
	"$cpus" "$cpu_model" "$(uname -r)" "$go_version" "$cpus" "$node_version"

# goal_row GOAL RATIO PER_ROUND MET: one row of the summary.
goal_row() { printf '| %s | %s | %s | %s |\n' "$1" "$2" "$3" "$4"; }
# range_of "a×, b×, …": "min–max× over N rounds" of a per-round list.
range_of() { tr -d '×' <<<"$1" | tr ',' '\n' | awk 'NF { v = $1 + 0; if (n == 0 || v < lo) lo = v; if (n == 0 || v > hi) hi = v; n++ } END { if (n) printf "%.2f–%.2f× over %d rounds", lo, hi, n; else print "—" }'; }

printf '## Issue 25: against the machine'"'"'s own limit, from this run\n\n'
printf '| goal | ratio (median) | per round (same-round ratios) | met |\n|---|---|---|---|\n'
if [[ -n "${rr[bare]:-}" ]]; then
	read -r rr_med rr_lo rr_hi rr_n <<<"${rr[bare]}"
	read -r a_rps _ _ _ _ _ a_per _ <<<"${sum[appbackend]}"
	read -r b_rps _ _ _ _ _ b_per _ <<<"${sum[bare]}"
	goal_row "whoami ≥ 90 % of bare net/http (req/s; appbackend serve, SQLite, log level ${appbackend_log_level:-info})" \
		"$(awk -v m="$rr_med" -v a="$a_rps" -v b="$b_rps" -v pa="$a_per" -v pb="$b_per" 'BEGIN { printf "**%.0f %%** (medians: %.0f %%; requests per CPU-s: %.0f %%)", 100 * m, (b > 0 ? 100 * a / b : 0), (pb > 0 ? 100 * pa / pb : 0) }')" \
		"$(awk -v lo="$rr_lo" -v hi="$rr_hi" -v n="$rr_n" 'BEGIN { printf "%.0f–%.0f %% over %d rounds", 100 * lo, 100 * hi, n }')" \
		"$(verdict "$(awk -v m="$rr_med" 'BEGIN { print (m >= 0.90) }')")"
else
	goal_row "whoami ≥ 90 % of bare net/http" "not measured (BENCH_SERVERS lacks appbackend or bare)" "" ""
fi
if [[ -f "$work/acks.md" ]]; then
	for db in PostgreSQL SQLite; do
		line=$(grep -E "^- (✅|❌) $db: appbackend [0-9]+ % of the bare receiver" "$work/acks.md" | head -n 1) || true
		[[ -n "$line" ]] || { goal_row "acks on $db ≥ 70 % of the bare durable receiver" "not measured (BENCH_ACK_SERVERS)" "" ""; continue; }
		# The same-round ratios are under the database's own heading.
		per=$(awk -v db="### $db" 'index($0, db) == 1 { in_db = 1; next } /^### / { in_db = 0 } in_db && /acks\/s of the same round: / { sub(/.*of the same round: /, ""); sub(/\.$/, ""); print; exit }' "$work/acks.md")
		pace=$(sed -n 's/.*(bar ≥ 70 %); processing: \(.*\)$/; processing: \1/p' <<<"$line")
		goal_row "acks on $db ≥ 70 % of the bare durable receiver, processing keeping pace" \
			"**$(sed -n 's/.*appbackend \([0-9]*\) % of.*/\1/p' <<<"$line") %**$pace" "${per:-—}" "${line:2:1}"
		p99=$(grep -E "^- (✅|❌) $db: appbackend p99 " "$work/acks.md" | head -n 1) || true
		[[ -z "$p99" ]] || goal_row "acks on $db: p99 ≤ 1.5× the receiver's" "$(sed -n 's/.*p99 \(.*\) (bar.*/\1/p' <<<"$p99")" "" "${p99:2:1}"
	done
else
	goal_row "acks ≥ 70 % of the bare durable receiver" "not run (BENCH_ACKS=0 or no wrk)" "" ""
fi
if [[ -f "$work/gateway.md" ]]; then
	for ref in nginx direct; do
		line=$(grep -E "^- appbackend ÷ $ref: " "$work/gateway.md" | head -n 1) || true
		[[ -n "$line" ]] || { goal_row "gateway vs $ref" "not measured (see the gateway section)" "" ""; continue; }
		ratio=$(sed -n 's/.*\*\*\([0-9.]*\)×\*\*.*/\1/p' <<<"$line")
		bar=$(sed -n 's/.*(bar ≥ \([0-9.]*\)×).*/\1/p' <<<"$line")
		per=$(sed -n 's/.*per round \([^(;]*[^ (;]\) (range.*/\1/p' <<<"$line")
		goal_row "gateway ≥ ${bar}× $([[ $ref == nginx ]] && echo "nginx's rate (keep-alive proxy to the same upstream)" || echo "the upstream directly")" \
			"**${ratio}×**" "$(range_of "$per") ($per)" "$(verdict "$(awk -v r="$ratio" -v b="$bar" 'BEGIN { print (r >= b) }')")"
	done
	line=$(grep -E 'the 5,000/s bar\)' "$work/gateway.md" | head -n 1) || true
	[[ -z "$line" ]] || goal_row "gateway: event delivery ≥ 5,000 events/s on SQLite" \
		"$(sed -n 's/.*| \*\*\([0-9]*\)\*\* (\(meets\|below\) the 5,000\/s bar) |.*/**\1** events\/s/p' <<<"$line")" "one run" "$(verdict "$([[ "$line" == *"(meets the"* ]] && echo 1 || echo 0)")"
else
	goal_row "gateway ≥ 0.8× nginx and ≥ 0.5× direct" "not run (BENCH_GATEWAY=0)" "" ""
fi
printf '\n'
printf -- '- Ratios are appbackend over the reference; each part alternates its servers round by round, so both sides of a same-round ratio ran under about the same load from the rest of the machine. The whoami ratio is the median of its %s same-round ratios (the ratio of the medians beside it); the acks and gateway ratios are as their parts report them (ratio of median rounds).\n' "$rounds"
printf -- '- Load average (1 min) over the run, sampled before every whoami round and around each part: %s (%s to %s UTC; before: %s, after: %s).\n' \
	"$(sort -n "$loads" | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s–%s", lo, hi }')" "$run_started" "$(date -u +%H:%M)" "$load_before" "$(loadavg)"
noise=""
for s in $servers; do noise+="$(label "$s") $(spread "$s" | sed 's/ req\/s, spread / req\/s (spread /; s/$/)/'); "; done
printf -- '- How noisy the rounds were: whoami, each server over %s rounds: %s' "$rounds" "${noise%; }"
[[ -z "${rr[bare]:-}" ]] || awk '{ printf "; appbackend ÷ bare per round ±%.0f %% around the median", ($1 > 0 ? 100 * ($3 - $2) / 2 / $1 : 0) }' <<<"${rr[bare]}"
printf '. A goal whose per-round range straddles its bar is within this run'"'"'s noise.\n\n'

cat "$work/body.md"
