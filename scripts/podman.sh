#!/usr/bin/env bash
# podman.sh: make sure Debian's podman and runc are installed for the container image's
# test (internal/e2e/container_test.go), and print podman's path.
#
#   scripts/podman.sh          install podman and runc with apt-get if either is missing,
#                              then print /usr/bin/podman
#   scripts/podman.sh warm     then build the image as the test does, so that a first
#                              build's compiling happens here (make test) and not under
#                              go test's timeout
#   scripts/podman.sh go-image make (once per Go version) and print a local builder image
#                              for the Containerfile's GO_IMAGE: the host's Go toolchain,
#                              its CA roots (to reach the module proxy) and an empty /tmp,
#                              since no registry, and so no golang image, may be reachable
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

# go_image makes (once per Go version) and prints the local builder image.
go_image() {
	command -v go >/dev/null 2>&1 || die "go is not on PATH: the builder image is made of the host's Go toolchain"
	local goroot image certs
	goroot=$(go env GOROOT)
	image=localhost/appbackend-builder:$(go env GOVERSION)
	if ! "$BIN" image exists "$image"; then
		certs=/etc/ssl/certs/ca-certificates.crt
		[ -f "$certs" ] || die "$certs is missing: the builder needs CA roots to download modules (apt-get install ca-certificates)"
		echo "podman.sh: making $image from $goroot" >&2
		# GOROOT without its tests and API lists; /tmp itself, not its contents.
		tar -C / -c --exclude="${goroot#/}/test" --exclude="${goroot#/}/api" --exclude="${goroot#/}/doc" \
			"${goroot#/}" "${certs#/}" --no-recursion tmp |
			"$BIN" import --quiet --change "ENV PATH=$goroot/bin:/usr/bin:/bin" - "$image" >/dev/null ||
			die "podman import of $goroot failed"
	fi
	echo "$image"
}

case "${1:-}" in
go-image)
	go_image
	;;
warm)
	# The test's build, ahead of it: a first build compiles every dependency (minutes on
	# a loaded machine), which must not count against `go test`'s timeout. The test's
	# own build then finds every layer cached (podman's layer cache is keyed by the
	# context's content and the build arguments, which are the same).
	root=$(cd "$(dirname "$0")/.." && pwd)
	image=$(go_image)
	if [ -z "${CONTAINERS_CONF:-}" ]; then
		# What the test's podman gets too: runc, and no default ulimits (refused here).
		conf=$(mktemp)
		trap 'rm -f "$conf"' EXIT
		printf '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n' >"$conf"
		export CONTAINERS_CONF=$conf
	fi
	log=$(mktemp)
	start=$(date +%s)
	if ! "$BIN" build --format docker -f "$root/Containerfile" --build-arg GO_IMAGE="$image" \
		--build-arg VERSION="$("$root/scripts/version.sh")" \
		--build-arg COMMIT="$(git -C "$root" rev-parse HEAD 2>/dev/null || true)" "$root" >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		die "podman build failed"
	fi
	rm -f "$log"
	# Each changed tree leaves an untagged image and its build layers (~80 MB); keep a
	# day of them for the caches, across clones.
	"$BIN" image prune --force --filter until=24h >/dev/null 2>&1 || true
	echo "podman.sh: image built in $(($(date +%s) - start))s" >&2
	echo "$BIN"
	;;
*)
	echo "$BIN"
	;;
esac
