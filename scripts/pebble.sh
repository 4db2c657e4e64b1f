#!/usr/bin/env bash
# pebble.sh: install, start and stop Let's Encrypt's pebble, the ACME server the HTTPS
# tests obtain certificates from.
#
#   scripts/pebble.sh install   install pebble into .tmp/bin if missing
#   scripts/pebble.sh start     install if needed, start on a free loopback port (never on
#                               other interfaces), wait until its directory answers, and
#                               print two lines: the ACME directory URL and the PEM file of
#                               the root that signs pebble's own HTTPS certificate (the
#                               ACME client must trust it: APPBACKEND_ACME_CA_ROOT)
#   scripts/pebble.sh url       print the same two lines for the running one (exit 1 if none)
#   scripts/pebble.sh stop      stop the one start started
#
# By default validation is switched off (PEBBLE_VA_ALWAYS_VALID=1): the tests' domains
# resolve to nothing, and what is tested is appbackend's side of ACME. With
# PEBBLE_VALIDATE=1, challenges are really validated instead: pebble-challtestsrv (same
# module) answers every DNS query with 127.0.0.1, and pebble connects for HTTP-01 to
# 127.0.0.1:PEBBLE_HTTP_PORT and for TLS-ALPN-01 to 127.0.0.1:PEBBLE_TLS_PORT (the
# server under test's ports). Nonces are never rejected on purpose
# (PEBBLE_WFE_NONCEREJECT=0) and validation does not sleep, so the tests do not wait
# on pebble's chaos. State lives in PEBBLE_STATE_DIR (default .tmp/pebble/): config,
# certificates, pids, url, logs.
set -euo pipefail

VERSION=v2.10.3
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN_DIR=${PEBBLE_BIN_DIR:-$ROOT/.tmp/bin}
BIN=$BIN_DIR/pebble
DNS_BIN=$BIN_DIR/pebble-challtestsrv
STATE=${PEBBLE_STATE_DIR:-$ROOT/.tmp/pebble}
PID_FILE=$STATE/pid
DNS_PID_FILE=$STATE/dns.pid
URL_FILE=$STATE/url
LOG_FILE=$STATE/log

die() { echo "pebble.sh: $*" >&2; exit 1; }

install() {
	[ -x "$BIN" ] && [ -x "$DNS_BIN" ] && return 0
	mkdir -p "$BIN_DIR"
	echo "pebble.sh: installing pebble and pebble-challtestsrv $VERSION into $BIN_DIR" >&2
	GOBIN=$BIN_DIR GOFLAGS=-buildvcs=false go install "github.com/letsencrypt/pebble/v2/cmd/pebble@$VERSION" \
		"github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv@$VERSION" >&2 ||
		die "go install github.com/letsencrypt/pebble/v2/cmd/pebble@$VERSION failed"
}

# start_dns starts pebble-challtestsrv as a DNS server that answers 127.0.0.1 for every
# name (and nothing for AAAA), and prints its address.
start_dns() {
	local port mgmt pid
	for _ in 1 2 3 4 5; do
		port=$(free_port)
		mgmt=$(free_port)
		nohup "$DNS_BIN" -dnsserver "127.0.0.1:$port" -management "127.0.0.1:$mgmt" -defaultIPv4 127.0.0.1 -defaultIPv6 "" \
			-http01 "" -https01 "" -tlsalpn01 "" -doh "" >"$STATE/dns.log" 2>&1 </dev/null &
		pid=$!
		echo "$pid" >"$DNS_PID_FILE"
		sleep 0.3
		if kill -0 "$pid" 2>/dev/null; then
			echo "127.0.0.1:$port"
			return 0
		fi
	done
	die "pebble-challtestsrv did not start (log: $STATE/dns.log)"
}

running() {
	[ -f "$PID_FILE" ] && [ -f "$URL_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null
}

# answers succeeds once pebble's directory answers over HTTPS.
answers() {
	if command -v curl >/dev/null 2>&1; then
		curl -s -o /dev/null --max-time 2 --cacert "$STATE/certs/pebble.minica.pem" "$1"
	else
		local hostport=${1#https://}
		hostport=${hostport%%/*}
		(exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}") 2>/dev/null
	fi
}

# free_port prints a loopback port nothing listens on.
free_port() {
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	die "no free loopback port found"
}

start() {
	if running && answers "$(head -n 1 "$URL_FILE")"; then
		cat "$URL_FILE"
		return 0
	fi
	install
	mkdir -p "$STATE/certs"
	rm -f "$PID_FILE" "$URL_FILE"
	local src
	src="$(go env GOMODCACHE)/github.com/letsencrypt/pebble/v2@$VERSION/test/certs"
	[ -f "$src/pebble.minica.pem" ] || die "pebble's test certificates are not in $src (go install should have fetched them)"
	cp "$src/pebble.minica.pem" "$src/localhost/cert.pem" "$src/localhost/key.pem" "$STATE/certs/"
	chmod 600 "$STATE/certs/"*
	local attempt port mgmt url pid dns="127.0.0.1:1" always_valid=1
	if [ "${PEBBLE_VALIDATE:-0}" = 1 ]; then
		[ -n "${PEBBLE_HTTP_PORT:-}" ] && [ -n "${PEBBLE_TLS_PORT:-}" ] || die "PEBBLE_VALIDATE=1 needs PEBBLE_HTTP_PORT and PEBBLE_TLS_PORT"
		dns=$(start_dns)
		always_valid=0
	fi
	for attempt in 1 2 3 4 5; do
		port=$(free_port)
		mgmt=$(free_port)
		cat >"$STATE/config.json" <<JSON
{
  "pebble": {
    "listenAddress": "127.0.0.1:$port",
    "managementListenAddress": "127.0.0.1:$mgmt",
    "certificate": "$STATE/certs/cert.pem",
    "privateKey": "$STATE/certs/key.pem",
    "httpPort": ${PEBBLE_HTTP_PORT:-5002},
    "tlsPort": ${PEBBLE_TLS_PORT:-5001},
    "ocspResponderURL": "",
    "externalAccountBindingRequired": false,
    "retryAfter": {"authz": 1, "order": 1},
    "keyAlgorithm": "ecdsa",
    "profiles": {"default": {"description": "tests", "validityPeriod": 7776000}}
  }
}
JSON
		PEBBLE_VA_ALWAYS_VALID=$always_valid PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 \
			nohup "$BIN" -config "$STATE/config.json" -dnsserver "$dns" >"$LOG_FILE" 2>&1 </dev/null &
		pid=$!
		echo "$pid" >"$PID_FILE"
		url="https://127.0.0.1:$port/dir"
		for _ in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			answers "$url" && break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null && answers "$url"; then
			printf '%s\n%s\n' "$url" "$STATE/certs/pebble.minica.pem" >"$URL_FILE"
			cat "$URL_FILE"
			return 0
		fi
		kill "$pid" 2>/dev/null || true
		echo "pebble.sh: attempt $attempt failed (port taken?):" >&2
		tail -n 5 "$LOG_FILE" >&2 || true
	done
	rm -f "$PID_FILE"
	die "pebble did not start (log: $LOG_FILE)"
}

stop_pid_file() {
	if [ -f "$1" ]; then
		local pid
		pid=$(cat "$1")
		if kill -0 "$pid" 2>/dev/null; then
			kill "$pid" 2>/dev/null || true
			for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
			kill -9 "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$1"
}

stop() {
	stop_pid_file "$PID_FILE"
	stop_pid_file "$DNS_PID_FILE"
	rm -f "$URL_FILE"
}

case "${1:-}" in
install) install ;;
start) start ;;
stop) stop ;;
url) running && cat "$URL_FILE" || die "not running (scripts/pebble.sh start)" ;;
*) echo "usage: $0 install|start|url|stop" >&2; exit 2 ;;
esac
