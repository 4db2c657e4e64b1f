# bench/lib.sh: what bench/run.sh and bench/acks.sh share. Source it after setting
# log_prefix; it defines log, die, seconds, stop_process, free_port, random_hex and
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

random_hex() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "unknown"; }
