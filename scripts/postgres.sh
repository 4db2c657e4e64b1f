#!/usr/bin/env bash
# postgres.sh: a throwaway PostgreSQL for the tests, from the machine's initdb/pg_ctl.
#
#   scripts/postgres.sh start   create and start a server on a loopback port (once: a
#                               running one is reused), create the database
#                               appbackend_test, print its URL
#                               (postgres://postgres@127.0.0.1:PORT/appbackend_test?sslmode=disable)
#   scripts/postgres.sh url     print the URL of the running server (exit 1 if none)
#   scripts/postgres.sh stop    stop the server and delete its data directory
#
# PostgreSQL cannot listen on port 0, so start asks it for a random port and, when
# that port is taken, says so on stderr and tries another: no port is looked up as
# free first and bound later, which another process could take in between. (Tests
# that stop a server and start it again at the same address use servers of their
# own on Unix sockets: store/postgres/pgtest.)
#
# The server listens on 127.0.0.1 only, trusts local connections (no password), keeps
# fsync on (acknowledged webhooks must survive a crash, and the tests and benchmarks
# measure that) and stays small: shared_buffers 64MB, max_connections 100.
#
# State lives in APPBACKEND_PG_DIR (default .tmp/postgres): the URL, and the server's
# data directory, socket and log. initdb refuses to run as root, so as root the server
# runs as the system user postgres (created with useradd --system if missing), which
# owns them; if that user cannot reach APPBACKEND_PG_DIR (a repository under /root,
# say), they go to a directory under /tmp instead, removed by stop too. PostgreSQL's programs are found on PATH or under
# /usr/lib/postgresql/*/bin; if there are none, start installs postgresql with apt-get.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${APPBACKEND_PG_DIR:-$ROOT/.tmp/postgres}
PGDIR_FILE=$STATE/pgdir # where the server's files are, when not under STATE
URL_FILE=$STATE/url
DATABASE=appbackend_test
PG_USER=postgres

die() { echo "postgres.sh: $*" >&2; exit 1; }

# use_pgdir sets where the server's own files are.
use_pgdir() {
	PGDIR=$1
	DATA=$PGDIR/data
	RUN=$PGDIR/run
	LOG_FILE=$RUN/postgres.log
}
if [ -s "$PGDIR_FILE" ]; then use_pgdir "$(cat "$PGDIR_FILE")"; else use_pgdir "$STATE/pg"; fi

# bindir finds the directory of PostgreSQL's server programs.
bindir() {
	local initdb
	if initdb=$(command -v initdb 2>/dev/null); then
		dirname "$(readlink -f "$initdb")"
		return 0
	fi
	local dir
	for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -V -r); do
		[ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
	done
	return 1
}

install() {
	bindir >/dev/null && return 0
	command -v apt-get >/dev/null 2>&1 || die "initdb and pg_ctl not found, and no apt-get to install PostgreSQL; install PostgreSQL 15"
	[ "$(id -u)" = 0 ] || die "initdb and pg_ctl not found; install PostgreSQL 15 (apt-get install postgresql-15), or run as root to let this script do it"
	echo "postgres.sh: installing PostgreSQL with apt-get" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2 || true
	apt-get install -y -qq postgresql-15 >&2 || apt-get install -y -qq postgresql >&2 ||
		die "apt-get install postgresql failed"
	bindir >/dev/null || die "PostgreSQL installed, but initdb is still not found"
}

# as_pg runs a command as the user who owns the server: postgres when we are root,
# ourselves otherwise.
as_pg() {
	if [ "$(id -u)" = 0 ]; then
		if command -v runuser >/dev/null 2>&1; then
			runuser -u "$PG_USER" -- "$@"
		else
			su "$PG_USER" -s /bin/sh -c "$(printf '%q ' "$@")"
		fi
	else
		"$@"
	fi
}

ensure_user() {
	[ "$(id -u)" = 0 ] || return 0
	id "$PG_USER" >/dev/null 2>&1 && return 0
	useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_USER" ||
		die "cannot create the system user $PG_USER (initdb refuses to run as root)"
}

# owned_dir creates a directory that the server's user owns.
owned_dir() {
	mkdir -p "$1"
	if [ "$(id -u)" = 0 ]; then chown "$PG_USER:" "$1"; fi
	chmod 700 "$1"
}

port_of() { sed -E 's|.*@127\.0\.0\.1:([0-9]+)/.*|\1|' "$URL_FILE"; }

running() {
	[ -f "$URL_FILE" ] && [ -f "$DATA/postmaster.pid" ] || return 1
	local bin
	bin=$(bindir) || return 1
	as_pg "$bin/pg_isready" -q -h 127.0.0.1 -p "$(port_of)" -t 2
}

# random_port prints a port for the server to try, in the range no system hands out
# as an ephemeral port (Linux's default is 32768-60999).
random_port() { echo $((20000 + RANDOM % 12000)); }

init_cluster() {
	local bin=$1
	[ -f "$DATA/PG_VERSION" ] && return 0
	ensure_user
	mkdir -p "$STATE"
	chmod 755 "$STATE"
	if [ "$(id -u)" = 0 ] && ! as_pg test -x "$STATE"; then
		# The server's user cannot reach the repository's path.
		local dir
		dir=$(mktemp -d "${TMPDIR:-/tmp}/appbackend-pg.XXXXXX")
		chmod 755 "$dir"
		echo "$dir" >"$PGDIR_FILE"
		use_pgdir "$dir"
	fi
	owned_dir "$PGDIR"
	owned_dir "$DATA"
	owned_dir "$RUN"
	as_pg "$bin/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$STATE/initdb.log" 2>&1 ||
		as_pg "$bin/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --no-locale >"$STATE/initdb.log" 2>&1 ||
		{ cat "$STATE/initdb.log" >&2; die "initdb failed (log: $STATE/initdb.log)"; }
	as_pg sh -c "cat >> '$DATA/postgresql.conf'" <<EOF

# scripts/postgres.sh: a small test server on loopback, durable commits.
listen_addresses = '127.0.0.1'
unix_socket_directories = '$RUN'
fsync = on
synchronous_commit = on
full_page_writes = on
shared_buffers = 64MB
max_connections = 100
max_wal_size = 256MB
log_min_messages = warning
log_line_prefix = '%m [%p] '
EOF
}

start() {
	if running; then
		cat "$URL_FILE"
		return 0
	fi
	install
	local bin
	bin=$(bindir)
	init_cluster "$bin"
	rm -f "$URL_FILE"
	# A server left behind by a crash still holds the data directory: stop it first.
	if [ -f "$DATA/postmaster.pid" ]; then
		as_pg "$bin/pg_ctl" -D "$DATA" stop -m immediate -w >/dev/null 2>&1 || true
	fi
	local port attempt started=""
	for attempt in $(seq 1 20); do
		port=$(random_port)
		[ ! -f "$LOG_FILE" ] || : >"$LOG_FILE" # this attempt's errors only; the file stays the server user's
		if as_pg "$bin/pg_ctl" -D "$DATA" -l "$LOG_FILE" -o "-p $port" -w -t 60 start >/dev/null 2>&1; then
			started=1
			break
		fi
		grep -q "could not bind\|Address already in use" "$LOG_FILE" 2>/dev/null || break
		echo "postgres.sh: port $port is taken; trying another (attempt $attempt)" >&2
	done
	[ -n "$started" ] || { tail -n 20 "$LOG_FILE" >&2 || true; die "pg_ctl start failed (log: $LOG_FILE)"; }
	local psql=("$bin/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1)
	if [ "$(as_pg "${psql[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'")" != 1 ]; then
		as_pg "${psql[@]}" -c "CREATE DATABASE $DATABASE" >/dev/null || { stop; die "cannot create the database $DATABASE"; }
	fi
	echo "postgres://postgres@127.0.0.1:$port/$DATABASE?sslmode=disable" >"$URL_FILE"
	cat "$URL_FILE"
}

stop() {
	if [ -f "$DATA/postmaster.pid" ]; then
		local bin
		if bin=$(bindir); then
			as_pg "$bin/pg_ctl" -D "$DATA" stop -m fast -w -t 30 >/dev/null 2>&1 ||
				as_pg "$bin/pg_ctl" -D "$DATA" stop -m immediate -w -t 30 >/dev/null 2>&1 || true
		fi
	fi
	rm -rf "$PGDIR" "$STATE"
}

case "${1:-}" in
install) install ;;
start) start ;;
stop) stop ;;
url) running && cat "$URL_FILE" || die "not running (scripts/postgres.sh start)" ;;
*) echo "usage: $0 start|url|stop|install" >&2; exit 2 ;;
esac
