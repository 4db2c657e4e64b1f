#!/usr/bin/env bash
# nginx.sh: make sure Debian's nginx is installed for the gateway benchmark's reference
# reverse proxy (bench/cmd/gatewaybench, run by `make bench-gateway`), and print its path.
#
#   scripts/nginx.sh        install nginx with apt-get if /usr/sbin/nginx is missing, then
#                           print /usr/sbin/nginx
#
# Only the binary is used: the benchmark runs it in the foreground with a configuration
# of its own in a temporary directory (no system service is started or configured here;
# Debian's package may start its default site on port 80, which the benchmark does not
# use). Installing needs root (or sudo without a password).
set -euo pipefail

BIN=/usr/sbin/nginx

die() { echo "nginx.sh: $*" >&2; exit 1; }

if [ ! -x "$BIN" ]; then
	SUDO=
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null 2>&1 || die "$BIN is missing and installing it needs root: run 'apt-get install nginx-light' or 'apt-get install nginx' as root"
		SUDO="sudo -n"
	fi
	command -v apt-get >/dev/null 2>&1 || die "$BIN is missing and apt-get is not available: install nginx so that $BIN exists"
	echo "nginx.sh: installing Debian's nginx (apt-get install nginx)" >&2
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get install -y -qq --no-install-recommends nginx >&2 ||
		{ $SUDO apt-get update -qq >&2 && $SUDO apt-get install -y -qq --no-install-recommends nginx >&2; } ||
		die "apt-get install nginx failed"
	[ -x "$BIN" ] || die "apt-get installed nginx but $BIN does not exist"
fi
echo "$BIN"
