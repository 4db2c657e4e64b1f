# bench/lib.sh: what bench/run.sh and bench/acks.sh share. Source it after setting
# log_prefix; it defines log, die, seconds, stop_process, listening_addr, random_hex and
# loadavg, and the array started (the pids a script started and has not stopped yet).

log() { printf '%s: %s\n' "$log_prefix" "$*" >&2; }
die() { printf '%s: %s\n' "$log_prefix" "$*" >&2; exit 1; }

# seconds D: D (Ns or Nm) in whole seconds.
seconds() {
	case "$1" in
	*[0-9]s) echo "${1%s}" ;;
	*[0-9]m) echo $((${1%m} * 60)) ;;
	*) return 1 ;;
	esac
}

started=()

# stop_process ends one process started here: SIGTERM, then SIGKILL after 5 s.
stop_process() {
	local pid=$1 i p
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

# listening_addr PID LOG prints the 127.0.0.1:PORT the server PID names in its
# "listening on http://ADDR" line in LOG, once it has printed it (30 s at most). Every
# server here is started on port 0 and binds a free port itself: a port found free and
# passed on can be taken by another process before the server binds it.
listening_addr() {
	local pid=$1 logfile=$2 addr i
	for ((i = 0; i < 300; i++)); do
		addr=$(sed -n 's|.*listening on http://\(127\.0\.0\.1:[0-9][0-9]*\).*|\1|p' "$logfile" 2>/dev/null | head -n 1)
		[[ -n "$addr" ]] && { echo "$addr"; return 0; }
		kill -0 "$pid" 2>/dev/null || { tail -n 20 "$logfile" >&2 || true; die "pid $pid exited before listening"; }
		sleep 0.1
	done
	tail -n 20 "$logfile" >&2 || true
	die "pid $pid printed no listening line within 30 s ($logfile)"
}

random_hex() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "unknown"; }
