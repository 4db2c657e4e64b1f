#!/usr/bin/env bash
# pebble.sh: install, start and stop Let's Encrypt's pebble, the ACME server the HTTPS
# tests obtain certificates from.
#
#   scripts/pebble.sh install   install pebble into .tmp/bin if missing
#   scripts/pebble.sh start     install if needed, start on a loopback port it binds itself
#                               (never on other interfaces), wait until its directory answers, and
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
# server under test's ports: listeners the caller holds open, never numbers it let go). Nonces are never rejected on purpose
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
# name (and nothing for AAAA), and prints its address once it answers a query.
#
# Every listener binds port 0, so no port is chosen before it is bound (a port found free
# and bound later can be taken in between: a TCP connection's local end, invisible to a
# connect probe, is enough to make the bind fail). challtestsrv neither exits when a
# bind fails (it only logs it) nor prints the ports it got, so a live process proves
# nothing: the port is read from the process's own listening sockets (listen_ports), and
# the DNS one is the one that answers a DNS query over TCP, which is what pebble sends.
# Its management API is unused, but it cannot be switched off ("" would mean :80).
start_dns() {
	local pid port i
	nohup "$DNS_BIN" -dnsserver 127.0.0.1:0 -management 127.0.0.1:0 -defaultIPv4 127.0.0.1 -defaultIPv6 "" \
		-http01 "" -https01 "" -tlsalpn01 "" -doh "" >"$STATE/dns.log" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$DNS_PID_FILE"
	for i in $(seq 1 300); do
		kill -0 "$pid" 2>/dev/null || { cat "$STATE/dns.log" >&2; die "pebble-challtestsrv exited (log: $STATE/dns.log)"; }
		for port in $(listen_ports "$pid"); do
			if dns_answers "$port"; then
				echo "127.0.0.1:$port"
				return 0
			fi
		done
		sleep 0.1
	done
	tail -n 5 "$STATE/dns.log" >&2 || true
	die "pebble-challtestsrv answered no DNS query over TCP within 30 s (log: $STATE/dns.log)"
}

# listen_ports PID prints the TCP ports process PID listens on, from the kernel's own
# table (/proc on Linux, lsof elsewhere): the ports a server bound itself, whatever it
# logs.
listen_ports() {
	local pid=$1 fd link inodes=" "
	if [ -d "/proc/$pid/fd" ] && [ -r "/proc/$pid/net/tcp" ]; then
		for fd in /proc/"$pid"/fd/*; do
			link=$(readlink "$fd" 2>/dev/null) || continue
			case "$link" in socket:\[*\]) link=${link#socket:[}; inodes="$inodes${link%]} " ;; esac
		done
		# Fields: sl local_address rem_address st … inode; st 0A is LISTEN.
		awk -v inodes="$inodes" '$4 == "0A" && index(inodes, " " $10 " ") { split($2, a, ":"); print a[2] }' \
			"/proc/$pid/net/tcp" "/proc/$pid/net/tcp6" 2>/dev/null |
			while read -r hex; do echo $((16#$hex)); done
	elif command -v lsof >/dev/null 2>&1; then
		lsof -nP -a -p "$pid" -iTCP -sTCP:LISTEN -Fn 2>/dev/null | sed -n 's/^n.*:\([0-9][0-9]*\)$/\1/p'
	else
		die "cannot see which ports a process listens on: neither /proc nor lsof"
	fi
}

# dns_answers PORT succeeds if a DNS server on 127.0.0.1:PORT answers a query for
# a.test over TCP (two length bytes, then the message; the answer starts with the
# length and the query's id, 0x1234). The CR LF after the message end a line for an
# HTTP server (challtestsrv's management API is the other port), which then answers
# "HTTP/1.1 400" and closes instead of waiting for the rest of a request line; a
# DNS server has answered the query before it reads them.
dns_answers() {
	local reply
	reply=$(
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf '\x00\x18\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x04test\x00\x00\x01\x00\x01\r\n\r\n' >&3
		dd bs=1 count=4 <&3 2>/dev/null | od -An -tx1 | tr -d ' \n'
	) 2>/dev/null || return 1
	[ "${reply:4:4}" = 1234 ]
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
	local port="" url pid i dns="127.0.0.1:1" always_valid=1 http_port=0 tls_port=0
	if [ "${PEBBLE_VALIDATE:-0}" = 1 ]; then
		[ -n "${PEBBLE_HTTP_PORT:-}" ] && [ -n "${PEBBLE_TLS_PORT:-}" ] || die "PEBBLE_VALIDATE=1 needs PEBBLE_HTTP_PORT and PEBBLE_TLS_PORT"
		http_port=$PEBBLE_HTTP_PORT tls_port=$PEBBLE_TLS_PORT
		dns=$(start_dns)
		always_valid=0
	fi
	# Port 0 for the ACME listener, read back with listen_ports (pebble logs the configured
	# address, not the bound one). The management interface (roots of the issued
	# certificates) is off: nothing uses it, and it would be a second listener to tell
	# apart. Without validation pebble never connects, so httpPort and tlsPort are 0
	# rather than ports somebody else may have.
	cat >"$STATE/config.json" <<JSON
{
  "pebble": {
    "listenAddress": "127.0.0.1:0",
    "managementListenAddress": "",
    "certificate": "$STATE/certs/cert.pem",
    "privateKey": "$STATE/certs/key.pem",
    "httpPort": $http_port,
    "tlsPort": $tls_port,
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
	for i in $(seq 1 300); do
		kill -0 "$pid" 2>/dev/null || break
		[ -n "$port" ] || port=$(listen_ports "$pid" | head -n 1)
		if [ -n "$port" ]; then
			url="https://127.0.0.1:$port/dir"
			if answers "$url"; then
				printf '%s\n%s\n' "$url" "$STATE/certs/pebble.minica.pem" >"$URL_FILE"
				cat "$URL_FILE"
				return 0
			fi
		fi
		sleep 0.1
	done
	tail -n 5 "$LOG_FILE" >&2 || true
	stop
	die "pebble did not answer within 30 s (log: $LOG_FILE)"
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
