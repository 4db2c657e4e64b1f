#!/usr/bin/env bash
# promtool.sh: make sure Prometheus's promtool is installed, for the check of
# deploy/prometheus-rules.yml, and print its path.
#
#   scripts/promtool.sh        install Debian's prometheus package (which ships
#                              promtool) with apt-get if promtool is missing, then
#                              print promtool's path
#
# The rules test (prometheus_rules_test.go) fails with a pointer to this script when
# promtool is absent; `make test` runs it first so that a fresh machine passes.
# Installing needs root (or sudo without a password), as on CI. The package's service
# is not needed: only the promtool binary is used.
set -euo pipefail

die() { echo "promtool.sh: $*" >&2; exit 1; }

if ! BIN=$(command -v promtool); then
	SUDO=
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null 2>&1 || die "promtool is missing and installing it needs root: run 'apt-get install prometheus' as root"
		SUDO="sudo -n"
	fi
	command -v apt-get >/dev/null 2>&1 || die "promtool is missing and apt-get is not available: install Prometheus's promtool on PATH"
	echo "promtool.sh: installing Debian's prometheus for promtool (apt-get update, then apt-get install prometheus)" >&2
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq >&2 || die "apt-get update failed"
	$SUDO apt-get install -y -qq --no-install-recommends prometheus >&2 || die "apt-get install prometheus failed"
	BIN=$(command -v promtool) || die "apt-get installed prometheus but promtool is not on PATH"
fi
echo "$BIN"
