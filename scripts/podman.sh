#!/usr/bin/env bash
# podman.sh: make sure Debian's podman and runc are installed for the container image's
# test (internal/e2e/container_test.go), and print podman's path.
#
#   scripts/podman.sh          install podman and runc with apt-get if either is missing,
#                              then print /usr/bin/podman
#
# runc, not Debian's default crun: crun refuses this kind of kernel ("cgroups in hybrid
# mode not supported"), so the test runs podman with --runtime runc. The test fails with
# a pointer to this script when podman is absent and APPBACKEND_REQUIRE_PODMAN is set, as
# `make test` sets it after running this script first. Installing needs root (or sudo
# without a password), as on CI.
set -euo pipefail

BIN=/usr/bin/podman
RUNC=/usr/sbin/runc

die() { echo "podman.sh: $*" >&2; exit 1; }

if [ ! -x "$BIN" ] || [ ! -x "$RUNC" ]; then
	SUDO=
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null 2>&1 || die "podman or runc is missing and installing them needs root: run 'apt-get install podman runc' as root"
		SUDO="sudo -n"
	fi
	command -v apt-get >/dev/null 2>&1 || die "podman or runc is missing and apt-get is not available: install podman and runc so that $BIN and $RUNC exist"
	echo "podman.sh: installing Debian's podman and runc (apt-get update, then apt-get install podman runc)" >&2
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq >&2 || die "apt-get update failed"
	$SUDO apt-get install -y -qq --no-install-recommends podman runc >&2 || die "apt-get install podman runc failed"
	[ -x "$BIN" ] || die "apt-get installed podman but $BIN does not exist"
	[ -x "$RUNC" ] || die "apt-get installed runc but $RUNC does not exist"
fi
echo "$BIN"
