#!/usr/bin/env bash
# wrk-whoami.sh: signed POST /api/whoami against `appbackend serve --dev` at two log
# levels and against a bare net/http server, in one run (wrk -t2 -c64 -d8s, loopback).
# Usage: bench/wrk-whoami.sh [DURATION]   (needs wrk; apt-get install -y wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${1:-8s}
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$tmp"' EXIT
go build -o "$tmp/appbackend" ./cmd/appbackend
go build -o "$tmp/bareserver" ./bench/cmd/bareserver

secret=absec_wrk_bench_secret_0123456789
mapfile -t signed < <("$tmp/appbackend" sign --secret "$secret" --user usr_wrk --account acct_wrk --timestamp "$(date +%s)")
cat >"$tmp/whoami.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Stripe-Signature"] = "${signed[0]}"
wrk.body = '${signed[1]}'
LUA

run() { # name url: a 2 s warm-up (start-up work, caches), then the measure
	local out
	wrk -t2 -c64 -d2s -s "$tmp/whoami.lua" "$2/api/whoami" >/dev/null
	out=$(wrk -t2 -c64 -d"$dur" -s "$tmp/whoami.lua" "$2/api/whoami")
	printf '%-28s %s req/s  (non-2xx: %s)\n' "$1" "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" "$(awk '/Non-2xx/ {print $5}' <<<"$out")"
}
wait_up() { for _ in $(seq 100); do curl -fs -o /dev/null "$1" 2>/dev/null && return; sleep 0.1; done; curl -fs "$1" >/dev/null; }

port=3101
for level in info warn; do
	STRIPE_APP_SECRETS=$secret APPBACKEND_LOG_LEVEL=$level "$tmp/appbackend" serve --dev --addr 127.0.0.1:$port \
		--database "sqlite:$tmp/$level.db" >"$tmp/$level.out" 2>"$tmp/$level.log" &
	pids+=($!)
	wait_up "http://127.0.0.1:$port/healthz"
	run "appbackend (log $level)" "http://127.0.0.1:$port"
	echo "  log bytes written: $(wc -c <"$tmp/$level.log")"
	kill "${pids[-1]}" && wait "${pids[-1]}" 2>/dev/null || true
	port=$((port + 1))
done
"$tmp/bareserver" --addr 127.0.0.1:3099 &
pids+=($!)
sleep 0.5
run "bare net/http" "http://127.0.0.1:3099"
