#!/usr/bin/env bash
# bench/acks.sh: webhook acknowledgements, appbackend against a bare durable receiver
# (bench/cmd/barereceiver, issue 25) on both databases and @supabase/stripe-sync-engine
# (issue 15) on PostgreSQL. It prints a Markdown report on stdout (progress and raw output go to
# stderr), so `./scripts/with-services.sh ./bench/acks.sh > acks.md` works.
#
#  1. Builds appbackend, bench/cmd/eventgen and bench/cmd/ackcheck; installs the peer's
#     node_modules with `npm ci` if they are missing (bench/peers/stripe-sync-engine) and
#     wrk with apt-get if it is missing (as root only).
#  2. Uses the PostgreSQL of APPBACKEND_TEST_POSTGRES_URL (scripts/with-services.sh sets
#     it), or starts a private one with scripts/postgres.sh and stops it again.
#  3. Rounds in which the servers take turns, one at a time, each on a 127.0.0.1 port it
#     binds itself (port 0, read back from its listening line): `appbackend serve` on a
#     fresh PostgreSQL database, the stripe-sync-engine peer
#     (bench/peers/stripe-sync-engine/server.js, the package's own migrations and
#     StripeSync#processWebhook) on a fresh database of the same server, `appbackend
#     serve` on a fresh SQLite file, and bench/cmd/barereceiver (the least work a
#     durable-before-ack receiver does: verify, read the id, one group-commit writer, 200
#     after the commit) on a fresh database of each kind. For each: fresh pre-signed customer.updated events
#     (bench/cmd/eventgen, signed right before the run, distinct ids), a warm-up with
#     events of its own, then `wrk -t2 -cN -dD --latency -s bench/acks.lua` posting one
#     distinct event per request (appbackend, bare: /webhooks/stripe; peer: /webhooks).
#  4. After each run: for appbackend the processing drain (until every event is processed:
#     the events still unprocessed at the load's end, i.e. at the last event's arrival,
#     over the time from then to the last processed_at); the server's peak RSS (VmHWM of
#     /proc/PID/status, after the drain); then
#     the stored-once check (bench/cmd/ackcheck): the rows holding the measured events
#     (appbackend_events, the bare receiver's bare_events, or the peer's stripe.customers,
#     one customer per event) must be
#     at least the 2xx answers wrk counted, at most the events sent, each id once. A failed
#     check, a server that dies, or wrk running out of events fails the script.
#  5. Prints a table per database (each server's median round by acks/s, and the ratios
#     appbackend/bare and appbackend/peer), then every round.
# Everything it starts is stopped on exit, and it only ever talks to 127.0.0.1.
#
# Environment (defaults in brackets):
#   BENCH_ACK_DURATION     measured window per run, Ns or Nm [8s]
#   BENCH_ACK_WARMUP       warm-up before it, with its own events [2s]
#   BENCH_ACK_CONNECTIONS  wrk's keep-alive connections [64] (wrk -t2)
#   BENCH_ACK_ROUNDS       rounds; the tables show each server's median round [3]
#   BENCH_ACK_SERVERS      runs of a round, in order
#                          [appbackend-postgres bare-postgres appbackend-sqlite bare-sqlite peer-postgres]
#   BENCH_ACK_EVENT_RATE   events generated per second of each run: the most acks/s a
#                          run can measure before wrk runs out (and the script fails) [20000]
#   BENCH_APPBACKEND_LOG_LEVEL  appbackend's APPBACKEND_LOG_LEVEL [info]
#   GO, NODE, NPM, WRK     the commands [go, node, npm, wrk]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

duration=${BENCH_ACK_DURATION:-8s}
warmup=${BENCH_ACK_WARMUP:-2s}
connections=${BENCH_ACK_CONNECTIONS:-64}
rounds=${BENCH_ACK_ROUNDS:-3}
servers=${BENCH_ACK_SERVERS:-appbackend-postgres bare-postgres appbackend-sqlite bare-sqlite peer-postgres}
event_rate=${BENCH_ACK_EVENT_RATE:-20000}
appbackend_log_level=${BENCH_APPBACKEND_LOG_LEVEL:-info}
threads=2
GO=${GO:-go}
NODE=${NODE:-node}
NPM=${NPM:-npm}
WRK=${WRK:-wrk}
peer_dir=bench/peers/stripe-sync-engine

log_prefix=acks
# shellcheck source=bench/lib.sh
source bench/lib.sh

duration_s=$(seconds "$duration") && [[ "$duration_s" =~ ^[1-9][0-9]*$ ]] || die "BENCH_ACK_DURATION=$duration: want Ns or Nm"
warmup_s=$(seconds "$warmup") && [[ "$warmup_s" =~ ^[1-9][0-9]*$ ]] || die "BENCH_ACK_WARMUP=$warmup: want Ns or Nm"
[[ "$connections" =~ ^[1-9][0-9]*$ ]] && ((connections >= threads)) || die "BENCH_ACK_CONNECTIONS=$connections: want a number >= $threads"
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "BENCH_ACK_ROUNDS=$rounds: want a positive number"
[[ "$event_rate" =~ ^[1-9][0-9]*$ ]] || die "BENCH_ACK_EVENT_RATE=$event_rate: want a positive number"
for s in $servers; do
	case "$s" in appbackend-postgres | peer-postgres | appbackend-sqlite | bare-postgres | bare-sqlite) ;;
	*) die "BENCH_ACK_SERVERS: unknown server $s (want appbackend-postgres, bare-postgres, appbackend-sqlite, bare-sqlite, peer-postgres)" ;;
	esac
done

work=$(mktemp -d "${TMPDIR:-/tmp}/appbackend-acks.XXXXXX")
databases=() # PostgreSQL databases this script created and has not dropped yet
own_postgres=""
pg_url=""


drop_database() {
	local name=$1 d remaining=()
	"$work/ackcheck" dropdb -url "$pg_url" -name "$name" || log "could not drop the database $name"
	for d in "${databases[@]}"; do [[ "$d" == "$name" ]] || remaining+=("$d"); done
	databases=("${remaining[@]}")
}

cleanup() {
	local pid name
	for pid in "${started[@]}"; do stop_process "$pid"; done
	for name in "${databases[@]}"; do drop_database "$name"; done
	if [[ -n "$own_postgres" ]]; then
		APPBACKEND_PG_DIR="$own_postgres" "$root/scripts/postgres.sh" stop || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM



# --- tools ---------------------------------------------------------------------------------
if ! command -v "$WRK" >/dev/null 2>&1; then
	[[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1 ||
		die "wrk not found: install it (apt-get install -y wrk) or run as root to let this script do it"
	log "installing wrk with apt-get"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >&2 ||
		{ apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >&2; } ||
		die "apt-get install wrk failed"
fi
command -v curl >/dev/null 2>&1 || die "curl not found (it checks that a server answers)"
wrk_version=$("$WRK" -v 2>&1 | head -n 1 | sed 's/ Copyright.*//' || true)

log "building into $work"
"$GO" build -o "$work/appbackend" ./cmd/appbackend
"$GO" build -o "$work/eventgen" ./bench/cmd/eventgen
"$GO" build -o "$work/ackcheck" ./bench/cmd/ackcheck
"$GO" build -o "$work/barereceiver" ./bench/cmd/barereceiver

if [[ " $servers " == *" peer-postgres "* ]]; then
	if [[ ! -f "$peer_dir/node_modules/@supabase/stripe-sync-engine/package.json" ]]; then
		log "installing the peer's packages: npm ci in $peer_dir"
		(cd "$peer_dir" && "$NPM" ci --no-audit --no-fund >&2) || die "npm ci in $peer_dir failed"
	fi
fi
# (Empty when the peer's packages are not installed: a run without the peer.)
node_pkg_version() { { sed -n 's/^  "version": "\(.*\)",$/\1/p' "$peer_dir/node_modules/$1/package.json" 2>/dev/null || true; } | head -n 1; }

if [[ " $servers " == *"-postgres "* ]]; then
	if [[ -n "${APPBACKEND_TEST_POSTGRES_URL:-}" ]]; then
		pg_url=$APPBACKEND_TEST_POSTGRES_URL
	else
		own_postgres="$work/postgres"
		log "APPBACKEND_TEST_POSTGRES_URL is not set: starting PostgreSQL (scripts/postgres.sh)"
		pg_url=$(APPBACKEND_PG_DIR="$own_postgres" "$root/scripts/postgres.sh" start)
	fi
	pg_version=$("$work/ackcheck" version -db "$pg_url") || die "PostgreSQL at ${pg_url%%\?*} does not answer"
	# Its postmaster: the CPU time counted is that server's processes', not that of every
	# process named postgres (other PostgreSQL servers may run on the machine).
	pg_pid=$("$work/ackcheck" pgpid -db "$pg_url") || die "cannot find the process of PostgreSQL at ${pg_url%%\?*} (it must run on this machine)"
	log "PostgreSQL $pg_version at ${pg_url%%\?*}, postmaster pid $pg_pid"
fi

webhook_secret="whsec_acks_$(random_hex)"
app_secret="absec_acks_$(random_hex)"
load_before=$(loadavg)

# --- one run -------------------------------------------------------------------------------

# wait_ready PID URL NAME: until GET URL answers 2xx (60 s at most: the peer migrates first).
wait_ready() {
	local pid=$1 url=$2 name=$3 i
	for ((i = 0; i < 600; i++)); do
		kill -0 "$pid" 2>/dev/null || return 1
		curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null && return 0
		sleep 0.1
	done
	log "$name did not answer $url within 60 s"
	return 1
}

# ticks PID: the CPU time (user + system, in clock ticks) the process has used.
clk_tck=$(getconf CLK_TCK 2>/dev/null || echo 100)
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# pg_ticks NAME: the CPU time of the benchmark's PostgreSQL server (its postmaster and
# the processes it forked), for a run on PostgreSQL (0 otherwise). Backends that exit
# during the window lose theirs; the pools keep theirs.
pg_ticks() {
	local total=0 p t
	[[ "$1" == *-postgres ]] || { echo 0; return; }
	for p in /proc/[0-9]*; do
		[[ "${p#/proc/}" == "$pg_pid" || "$(awk '{ print $4 }' "$p/stat" 2>/dev/null)" == "$pg_pid" ]] || continue
		t=$(awk '{ print $14 + $15 }' "$p/stat" 2>/dev/null) || continue
		total=$((total + ${t:-0}))
	done
	echo "$total"
}

# field NAME FILE: the value of NAME=… in acks.lua's result line.
field() { sed -n "s/^acks\.lua: result.*[[:space:]]$1=\([0-9]*\).*/\1/p" "$2" | tail -n 1; }

# run_wrk URL EVENTS OUT DURATION: wrk in the background (so that a signal runs the EXIT trap
# at once), its output in OUT; fails if wrk fails or ran out of events.
run_wrk() {
	local url=$1 events=$2 out=$3 dur=$4 pid status=0
	"$WRK" -t"$threads" -c"$connections" -d"$dur" --latency -s bench/acks.lua "$url" -- "$events" "$threads" >"$out" 2>&1 &
	pid=$!
	started+=("$pid")
	wait "$pid" || status=$?
	stop_process "$pid"
	cat "$out" >&2
	((status == 0)) || { log "wrk failed (status $status)"; return 1; }
	grep -q '^acks\.lua: result ' "$out" || { log "wrk printed no result line"; return 1; }
	if grep -q '^acks\.lua: WARNING' "$out"; then
		log "wrk ran out of events: raise BENCH_ACK_EVENT_RATE (now $event_rate)"
		return 1
	fi
}

# run_one NAME ROUND: starts server NAME on a fresh database, warms it up, loads it,
# checks what it stored, appends a line to $work/results.tsv, stops it.
run_one() {
	local name=$1 round=$2 addr pid db="" dbname="" url path health tag prefix table
	local dir="$work/$name.$round"
	mkdir -p "$dir"
	case "$name" in
	*-postgres)
		dbname="acks_${round}_${name//-/_}_$$"
		db=$("$work/ackcheck" createdb -url "$pg_url" -name "$dbname")
		databases+=("$dbname")
		;;
	*-sqlite) db="sqlite:$dir/$name.db" ;;
	esac
	case "$name" in
	appbackend-*)
		# A clean environment: no GOMAXPROCS/GOGC or Stripe keys leak in from the caller.
		env -i PATH="$PATH" HOME="$HOME" \
			APPBACKEND_ADDR=127.0.0.1:0 \
			APPBACKEND_DATABASE="$db" \
			APPBACKEND_LOG_LEVEL="$appbackend_log_level" \
			STRIPE_APP_SECRETS="$app_secret" \
			STRIPE_WEBHOOK_SECRETS="$webhook_secret" \
			"$work/appbackend" serve >"$dir/server.log" 2>&1 &
		path=/webhooks/stripe
		table=appbackend_events
		prefix=evt_M
		;;
	bare-*)
		env -i PATH="$PATH" HOME="$HOME" \
			"$work/barereceiver" -addr 127.0.0.1:0 -db "$db" -secret "$webhook_secret" >"$dir/server.log" 2>&1 &
		path=/webhooks/stripe
		table=bare_events
		prefix=evt_M
		;;
	peer-postgres)
		env -i PATH="$PATH" HOME="$HOME" NODE_ENV=production \
			SYNC_PEER_ADDR=127.0.0.1:0 \
			SYNC_PEER_DATABASE_URL="$db" \
			STRIPE_WEBHOOK_SECRET="$webhook_secret" \
			"$NODE" "$peer_dir/server.js" >"$dir/server.log" 2>&1 &
		path=/webhooks
		table=stripe.customers
		prefix=cus_M
		;;
	esac
	pid=$!
	started+=("$pid")
	addr=$(listening_addr "$pid" "$dir/server.log")
	url="http://$addr$path"
	health="http://$addr/healthz"
	log "round $round/$rounds, $name: pid $pid on $addr"
	if ! wait_ready "$pid" "$health" "$name"; then
		tail -n 20 "$dir/server.log" >&2 || true
		die "$name did not start"
	fi

	# Fresh events, signed now (a signature is good for 300 s), tagged W and M so that the
	# check counts only the measured ones.
	"$work/eventgen" -n $((event_rate * warmup_s)) -secret "$webhook_secret" -tag W -out "$dir/warmup.tsv"
	"$work/eventgen" -n $((event_rate * duration_s)) -secret "$webhook_secret" -tag M -out "$dir/events.tsv"

	log "round $round/$rounds, $name: $warmup warm-up, then $duration measured, $connections connections"
	run_wrk "$url" "$dir/warmup.tsv" "$dir/warmup.out" "$warmup" || die "$name: warm-up failed"
	local cpu_before pg_before cpu_after pg_after
	cpu_before=$(ticks "$pid")
	pg_before=$(pg_ticks "$name")
	run_wrk "$url" "$dir/events.tsv" "$dir/wrk.out" "$duration" || die "$name: load failed"
	cpu_after=$(ticks "$pid")
	pg_after=$(pg_ticks "$name")
	kill -0 "$pid" 2>/dev/null || { tail -n 20 "$dir/server.log" >&2; die "$name died during the load"; }

	local requests status_errors duration_us p50 p99 sent sockerr ok acks
	requests=$(field requests "$dir/wrk.out")
	status_errors=$(field status_errors "$dir/wrk.out")
	duration_us=$(field duration_us "$dir/wrk.out")
	p50=$(field p50_us "$dir/wrk.out")
	p99=$(field p99_us "$dir/wrk.out")
	sent=$(field sent "$dir/wrk.out")
	sockerr=$(($(field connect "$dir/wrk.out") + $(field read "$dir/wrk.out") + $(field write "$dir/wrk.out") + $(field timeout "$dir/wrk.out")))
	ok=$((requests - status_errors))
	acks=$(awk -v ok="$ok" -v us="$duration_us" 'BEGIN { printf "%.0f", ok / (us / 1e6) }')
	# CPU time per acknowledgement in the measured window, in µs: the server's, and
	# PostgreSQL's (all its processes; "-" on SQLite).
	local cpu_us pg_us=-
	cpu_us=$(awk -v t="$((cpu_after - cpu_before))" -v ok="$ok" -v hz="$clk_tck" 'BEGIN { printf "%.0f", ok ? t / hz * 1e6 / ok : 0 }')
	[[ "$name" == *-postgres ]] &&
		pg_us=$(awk -v t="$((pg_after - pg_before))" -v ok="$ok" -v hz="$clk_tck" 'BEGIN { printf "%.0f", ok ? t / hz * 1e6 / ok : 0 }')

	# appbackend: wait until its processing has caught up. The drain is measured from the
	# load's end as the server saw it, the last event's arrival (received_at): the events
	# processed after it, over the time from it to the last processed_at. The peer
	# processes each event before it answers.
	local backlog=- drain_us=-
	[[ "$name" == bare-* ]] && backlog=x
	if [[ "$name" == appbackend-* ]]; then
		local drain_out
		drain_out=$("$work/ackcheck" drain -db "$db" -timeout 5m) ||
			{ tail -n 20 "$dir/server.log" >&2; die "$name: processing did not drain"; }
		backlog=$(sed -n 's/.*backlog=\([0-9]*\).*/\1/p' <<<"$drain_out")
		drain_us=$(sed -n 's/.*drain_us=\(-\{0,1\}[0-9]*\).*/\1/p' <<<"$drain_out")
	fi
	local rss_kb
	rss_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
	kill -0 "$pid" 2>/dev/null || die "$name died after the load"
	if [[ "$name" == peer-* ]]; then
		# The peer counts the requests its Stripe client started: there must be none.
		local stripe_calls
		stripe_calls=$(curl -fsS --max-time 5 "$health" | sed -n 's/.*"stripe_api_requests":\([0-9]*\).*/\1/p')
		[[ "$stripe_calls" == 0 ]] || die "$name: its Stripe client made ${stripe_calls:-an unknown number of} API requests"
	fi

	# Stored once: at least every 2xx, at most every event sent, each id once.
	local counts stored distinct
	counts=$("$work/ackcheck" count -db "$db" -table "$table" -prefix "$prefix") || die "$name: cannot count $table"
	stored=$(sed -n 's/.*rows=\([0-9]*\).*/\1/p' <<<"$counts")
	distinct=$(sed -n 's/.*distinct=\([0-9]*\).*/\1/p' <<<"$counts")
	log "round $round/$rounds, $name: $acks acks/s, p50 ${p50} µs, p99 ${p99} µs, $status_errors non-2xx, $sockerr socket errors; $table: $stored rows ($distinct distinct ids) for $ok 2xx of $sent events sent; backlog $backlog drained in $drain_us µs; peak RSS $rss_kb kB"
	((stored >= ok)) || die "$name: stored-once check failed: $stored rows in $table for $ok 2xx answers"
	((distinct == stored)) || die "$name: stored-once check failed: $stored rows in $table but $distinct distinct ids"
	((stored <= sent)) || die "$name: stored-once check failed: $stored rows in $table, more than the $sent events sent"
	((ok > 0)) || { tail -n 20 "$dir/server.log" >&2; die "$name: no 2xx answer"; }

	stop_process "$pid"
	if [[ -n "$dbname" ]]; then drop_database "$dbname"; fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
		"$name" "$round" "$acks" "$p50" "$p99" "$ok" "$status_errors" "$sockerr" "$rss_kb" \
		"$stored" "$distinct" "$sent" "$backlog" "$drain_us" "$cpu_us" "$pg_us" >>"$work/results.tsv"
	rm -f "$dir"/*.tsv
}

for ((round = 1; round <= rounds; round++)); do
	for s in $servers; do run_one "$s" "$round"; done
done
load_after=$(loadavg)

# --- report --------------------------------------------------------------------------------
peer_label="stripe-sync-engine $(node_pkg_version @supabase/stripe-sync-engine) + stripe-node $(node_pkg_version stripe)"
label() {
	case "$1" in
	appbackend-postgres) echo "\`appbackend serve\`, PostgreSQL" ;;
	appbackend-sqlite) echo "\`appbackend serve\`, SQLite" ;;
	bare-postgres) echo "bare durable receiver (\`bench/cmd/barereceiver\`), PostgreSQL" ;;
	bare-sqlite) echo "bare durable receiver (\`bench/cmd/barereceiver\`), SQLite" ;;
	peer-postgres) echo "$peer_label, PostgreSQL" ;;
	esac
}

# median NAME: the result line of NAME's median round by acks/s (the lower middle one of
# an even number).
median() {
	awk -F'\t' -v n="$1" '$1 == n' "$work/results.tsv" | sort -t$'\t' -k3,3n |
		awk -v c="$(awk -F'\t' -v n="$1" '$1 == n' "$work/results.tsv" | wc -l)" 'NR == int((c + 1) / 2)'
}

# row LINE: a table row of one result line.
awk_row='
function commas(n,   s) { s = sprintf("%d", n); while (s ~ /[0-9][0-9][0-9][0-9]/) sub(/[0-9][0-9][0-9]([^0-9]|$)/, ",&", s); return s }
function ms(us) { return sprintf("%.1f ms", us / 1000) }
function micros(v) { return v == "-" ? "–" : sprintf("%d µs", v) }
function drain(backlog, us) {
	if (backlog == "-") return "n/a (processed before the answer)"
	if (backlog == "x") return "n/a (no processing)"
	if (backlog == 0) return "none left at the load'"'"'s end"
	# A drain shorter than 0.25 s is the last events'"'"' latency, not a rate.
	if (us < 250000) return sprintf("kept pace: %s left, all processed %s later", commas(backlog), ms(us))
	return sprintf("%s events in %s, %s events/s", commas(backlog), us >= 1e6 ? sprintf("%.2f s", us / 1e6) : ms(us), commas(backlog / (us / 1e6)))
}'

table_rows() { # LABEL LINE…
	local label=$1 line
	shift
	for line in "$@"; do
		[[ -n "$line" ]] || continue
		awk -F'\t' -v label="$label" "$awk_row"'
			{ printf "| %s | %s | %s | %s | %s | %d MiB | %s | %s | %s |\n", label, commas($3), ms($4), ms($5), commas($7 + $8), $9 / 1024, micros($15), micros($16), drain($13, $14) }' <<<"$line"
	done
}

ratio_row() { # OURS PEER [LABEL]
	[[ -n "$1" && -n "$2" ]] || return 0
	awk -F'\t' -v label="${3:-ratio appbackend / peer}" 'function r(a, b) { return (a == "-" || b == "-" || b == 0) ? "" : sprintf("%.2f×", a / b) }
		NR == 1 { a = $3; p99 = $5; rss = $9; cpu = $15; pg = $16 }
		NR == 2 { printf "| %s | **%.2f×** | | %.2f× | | %.2f× | %s | %s | |\n", label, a / $3, p99 / $5, rss / $9, r(cpu, $15), r(pg, $16) }' <<<"$1"$'\n'"$2"
}

# round_ratios OURS REF: OURS's acks/s over REF's in each round (the two ran one after the
# other, so under about the same load from the rest of the machine): "median M (min–max,
# N rounds)", or nothing if either is missing.
round_ratios() {
	join -t$'\t' <(awk -F'\t' -v n="$1" '$1 == n { print $2 "\t" $3 }' "$work/results.tsv" | sort) \
		<(awk -F'\t' -v n="$2" '$1 == n { print $2 "\t" $3 }' "$work/results.tsv" | sort) |
		awk -F'\t' '$3 > 0 { print $2 / $3 }' | sort -n |
		awk '{ v[NR] = $1 } END { if (NR) printf "median %.2f× (%.2f–%.2f×, %d rounds)", v[int((NR + 1) / 2)], v[1], v[NR], NR }'
}

ab_pg=$(median appbackend-postgres)
ab_sqlite=$(median appbackend-sqlite)
bare_pg=$(median bare-postgres)
bare_sqlite=$(median bare-sqlite)
peer_pg=$(median peer-postgres)
header='| server (median round) | acks/s | p50 | p99 | non-2xx + socket errors | peak RSS | server CPU per ack | PostgreSQL CPU per ack | processing drain after the load |
|---|---:|---:|---:|---:|---:|---:|---:|---|'

if [[ -n "$peer_pg" ]]; then
	printf '## Webhook acknowledgements: appbackend, a bare durable receiver and %s\n\n' "$peer_label"
else
	printf '## Webhook acknowledgements: appbackend and a bare durable receiver\n\n'
fi
printf 'Signed `customer.updated` events, each distinct (own `evt_` and `cus_` id, ~1.4 KB), posted by wrk over %s keep-alive connections on loopback for %s after %s of warm-up; median of %s alternating rounds (`bench/acks.sh`).\n\n' "$connections" "$duration" "$warmup" "$rounds"
if [[ -n "$ab_pg$peer_pg" ]]; then
	printf '### PostgreSQL %s (one server, a fresh database per run)\n\n%s\n' "${pg_version:-}" "$header"
	table_rows "$(label appbackend-postgres)" "$ab_pg"
	table_rows "$(label bare-postgres)" "$bare_pg"
	table_rows "$(label peer-postgres)" "$peer_pg"
	ratio_row "$ab_pg" "$bare_pg" "ratio appbackend / bare"
	ratio_row "$ab_pg" "$peer_pg"
	rr=$(round_ratios appbackend-postgres bare-postgres)
	[[ -z "$rr" ]] || printf '\nappbackend / bare receiver, acks/s of the same round: %s.\n' "$rr"
	printf '\n'
fi
if [[ -n "$ab_sqlite" ]]; then
	if [[ -n "$peer_pg" ]]; then
		printf '### SQLite (a fresh file per run; stripe-sync-engine has no SQLite, so the ratio is against its PostgreSQL run)\n\n%s\n' "$header"
	else
		printf '### SQLite (a fresh file per run)\n\n%s\n' "$header"
	fi
	table_rows "$(label appbackend-sqlite)" "$ab_sqlite"
	table_rows "$(label bare-sqlite)" "$bare_sqlite"
	table_rows "$(label peer-postgres)" "$peer_pg"
	ratio_row "$ab_sqlite" "$bare_sqlite" "ratio appbackend / bare"
	ratio_row "$ab_sqlite" "$peer_pg"
	rr=$(round_ratios appbackend-sqlite bare-sqlite)
	[[ -z "$rr" ]] || printf '\nappbackend / bare receiver, acks/s of the same round: %s.\n' "$rr"
	printf '\n'
fi

# Issue 25's bars against the bare receiver, from the median rounds.
bar_line() { # DB OURS BARE
	[[ -n "$2" && -n "$3" ]] || return 0
	awk -F'\t' -v db="$1" 'NR == 1 { a = $3; p = $5; backlog = $13; drain = $14 } NR == 2 {
		ok = a >= 0.70 * $3 ? "✅" : "❌"; okp = p <= 1.5 * $5 ? "✅" : "❌"
		pace = (backlog == "-" || backlog == "x") ? "" : sprintf("; processing: %d left at the load'"'"'s end, all processed %.2f s later", backlog, drain / 1e6)
		printf "- %s %s: appbackend %.0f %% of the bare receiver'"'"'s acks/s (bar ≥ 70 %%)%s\n", ok, db, 100 * a / $3, pace
		printf "- %s %s: appbackend p99 %.1f ms, %.2f× the bare receiver'"'"'s %.1f ms (bar ≤ 1.5×)\n", okp, db, p / 1000, p / $5, $5 / 1000 }' <<<"$2"$'\n'"$3"
}
if [[ -n "$bare_pg$bare_sqlite" ]]; then
	printf '### Bars (issue 25, median rounds)\n\n'
	bar_line PostgreSQL "$ab_pg" "$bare_pg"
	bar_line SQLite "$ab_sqlite" "$bare_sqlite"
	printf '\n'
fi

printf '### Every round\n\n| round | server | acks/s | p50 | p99 | 2xx | non-2xx | socket errors | peak RSS | server CPU per ack | PostgreSQL CPU per ack | stored (distinct ids) of events sent | processing drain |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n'
while IFS= read -r line; do
	awk -F'\t' -v label="$(label "${line%%$'\t'*}")" "$awk_row"'
		{ printf "| %d | %s | %s | %s | %s | %s | %s | %s | %d MiB | %s | %s | %s (%s) of %s | %s |\n", $2, label, commas($3), ms($4), ms($5), commas($6), commas($7), commas($8), $9 / 1024, micros($15), micros($16), commas($10), commas($11), commas($12), drain($13, $14) }' <<<"$line"
done <"$work/results.tsv"

cpus=$(nproc 2>/dev/null || echo "?")
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
printf '\n'
printf -- '- Machine: %s CPUs (%s), Linux %s; %s, GOMAXPROCS default; Node %s, one process, NODE_ENV=production.\n' \
	"$cpus" "$cpu_model" "$(uname -r)" "$("$GO" env GOVERSION)" "$("$NODE" --version 2>/dev/null || echo "?")"
printf -- '- Load generator: %s, `-t%s -c%s -d%s --latency -s bench/acks.lua` (each request a distinct pre-signed event; p50/p99 from its latency histogram), on the same %s CPUs as the server it measures. acks/s are its 2xx answers per second of the run.\n' \
	"$wrk_version" "$threads" "$connections" "$duration" "$cpus"
printf -- '- appbackend: `serve` with STRIPE_WEBHOOK_SECRETS, log level %s; it answers 200 once the event is committed to its inbox (appbackend_events), and processes it (the built-in handlers; the accounts are not installed) in the same process meanwhile. The drain: the events left unprocessed at the load'"'"'s end (the last event'"'"'s received_at) over the time from then to the last processed_at; a drain under 0.25 s shows as "kept pace" (processing kept up with the acknowledgements).\n' "$appbackend_log_level"
printf -- '- Bare receiver: `bench/cmd/barereceiver`, net/http, Stripe-Signature checked (HMAC-SHA256, hmac.Equal, 300 s tolerance), the id read with encoding/json, one writer goroutine storing up to 256 rows per multi-row `INSERT … ON CONFLICT (id) DO NOTHING` (one statement, its own transaction), 200 after the commit; SQLite WAL synchronous=FULL, PostgreSQL default synchronous_commit. No job, no processing.\n'
printf -- '- Peer: `%s/server.js`, a node:http server around StripeSync#processWebhook (package defaults: pool of 10 connections, no revalidation via the Stripe API; its Stripe client started no request in any run, checked after each); it answers 200 once the customer is upserted into stripe.customers. It does not store events.\n' "$peer_dir"
printf -- '- Stored once, checked after every run: rows holding the measured events (appbackend_events; the peer'"'"'s stripe.customers, one customer per event) ≥ 2xx answers, ≤ events sent, every id once. Peak RSS: VmHWM of the server process at the end of its run (after the drain for appbackend); PostgreSQL'"'"'s own memory is not included.\n'
printf -- '- CPU per ack: the CPU time (user + system, /proc/PID/stat) the server process, and the benchmark PostgreSQL server'"'"'s processes (its postmaster and what it forked; not other PostgreSQL servers on the machine), used during the measured window, over its 2xx answers. It does not depend on how the 2 CPUs were shared with wrk and the other processes, so it compares the work each server does per event where acks/s cannot.\n'
printf -- '- Load average (1, 5, 15 min) before: %s; after: %s.\n' "$load_before" "$load_after"
printf -- '- Reproduce: `./scripts/with-services.sh ./bench/acks.sh` with BENCH_ACK_DURATION=%s BENCH_ACK_WARMUP=%s BENCH_ACK_CONNECTIONS=%s BENCH_ACK_ROUNDS=%s BENCH_ACK_EVENT_RATE=%s BENCH_APPBACKEND_LOG_LEVEL=%s.\n' \
	"$duration" "$warmup" "$connections" "$rounds" "$event_rate" "$appbackend_log_level"
