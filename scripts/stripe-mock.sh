#!/usr/bin/env bash
# stripe-mock.sh: install, start and stop the stripe-mock the tests use.
#
#   scripts/stripe-mock.sh install   install stripe-mock into .tmp/bin if missing
#   scripts/stripe-mock.sh start     install if needed, start on free loopback ports (HTTP
#                                    and HTTPS, never on other interfaces), wait until it
#                                    answers, print its base URL (STRIPE_MOCK_URL)
#   scripts/stripe-mock.sh url       print the base URL of the running one (exit 1 if none)
#   scripts/stripe-mock.sh stop      stop the one start started
#
# State lives in .tmp/stripe-mock/ (pid, url, log). start is idempotent: a running
# instance is reused. Tests read STRIPE_MOCK_URL; without it they start stripe-mock
# themselves (appbackendtest.StripeMockURL: APPBACKEND_STRIPE_MOCK_DIR, PATH, or one
# it installs under the Go module cache).
set -euo pipefail

VERSION=v0.203.0
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN_DIR=${STRIPE_MOCK_BIN_DIR:-$ROOT/.tmp/bin}
BIN=$BIN_DIR/stripe-mock
STATE=$ROOT/.tmp/stripe-mock
PID_FILE=$STATE/pid
URL_FILE=$STATE/url
LOG_FILE=$STATE/log

die() { echo "stripe-mock.sh: $*" >&2; exit 1; }

install() {
	[ -x "$BIN" ] && return 0
	mkdir -p "$BIN_DIR"
	echo "stripe-mock.sh: installing stripe-mock $VERSION into $BIN_DIR" >&2
	GOBIN=$BIN_DIR GOFLAGS=-buildvcs=false go install "github.com/stripe/stripe-mock@$VERSION" >&2 ||
		die "go install github.com/stripe/stripe-mock@$VERSION failed"
}

running() {
	[ -f "$PID_FILE" ] && [ -f "$URL_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null
}

# answers succeeds once the server at $1 answers HTTP (any status).
answers() {
	local hostport=${1#http://}
	if command -v curl >/dev/null 2>&1; then
		curl -s -o /dev/null --max-time 2 "$1/v1/balance"
	else
		(exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}") 2>/dev/null
	fi
}

start() {
	if running && answers "$(cat "$URL_FILE")"; then
		cat "$URL_FILE"
		return 0
	fi
	install
	mkdir -p "$STATE"
	rm -f "$PID_FILE" "$URL_FILE"
	# Empty ports: stripe-mock binds free ones itself and logs them, so nothing else can
	# take a port between choosing and binding it.
	nohup "$BIN" -http-addr 127.0.0.1: -https-addr 127.0.0.1: >"$LOG_FILE" 2>&1 </dev/null &
	local pid=$!
	echo "$pid" >"$PID_FILE"
	local addr="" i
	for i in $(seq 1 300); do
		addr=$(sed -n 's/^Listening for HTTP at address: //p' "$LOG_FILE" | head -n 1)
		[ -n "$addr" ] && break
		kill -0 "$pid" 2>/dev/null || { cat "$LOG_FILE" >&2; rm -f "$PID_FILE"; die "stripe-mock exited"; }
		sleep 0.1
	done
	[ -n "$addr" ] || { stop; die "stripe-mock did not listen within 30s (log: $LOG_FILE)"; }
	local url="http://$addr"
	for i in $(seq 1 100); do
		answers "$url" && break
		sleep 0.1
	done
	answers "$url" || { stop; die "stripe-mock at $url does not answer"; }
	echo "$url" >"$URL_FILE"
	echo "$url"
}

stop() {
	if [ -f "$PID_FILE" ]; then
		local pid
		pid=$(cat "$PID_FILE")
		if kill -0 "$pid" 2>/dev/null; then
			kill "$pid" 2>/dev/null || true
			for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
			kill -9 "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$PID_FILE" "$URL_FILE"
}

case "${1:-}" in
install) install ;;
start) start ;;
stop) stop ;;
url) running && cat "$URL_FILE" || die "not running (scripts/stripe-mock.sh start)" ;;
*) echo "usage: $0 install|start|url|stop" >&2; exit 2 ;;
esac
