#!/usr/bin/env bash
# chromium.sh: make sure Debian's chromium is installed for the admin dashboard's browser
# test, and print its path.
#
#   scripts/chromium.sh        install chromium with apt-get if /usr/bin/chromium is
#                              missing, then print /usr/bin/chromium
#
# The browser test (admin/browser_test.go) fails with a pointer to this script when
# the binary is absent; `make test` runs it first so that a fresh machine passes.
# Installing needs root (or sudo without a password), as on CI.
set -euo pipefail

BIN=/usr/bin/chromium

die() { echo "chromium.sh: $*" >&2; exit 1; }

if [ ! -x "$BIN" ]; then
	SUDO=
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null 2>&1 || die "$BIN is missing and installing it needs root: run 'apt-get install chromium' as root"
		SUDO="sudo -n"
	fi
	command -v apt-get >/dev/null 2>&1 || die "$BIN is missing and apt-get is not available: install Chromium so that $BIN exists"
	echo "chromium.sh: installing Debian's chromium (apt-get update, then apt-get install chromium)" >&2
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq >&2 || die "apt-get update failed"
	$SUDO apt-get install -y -qq --no-install-recommends chromium >&2 || die "apt-get install chromium failed"
	[ -x "$BIN" ] || die "apt-get installed chromium but $BIN does not exist"
fi
echo "$BIN"
