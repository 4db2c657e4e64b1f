#!/bin/sh
# version.sh: print the version that `make build` and the container image stamp into
# appbackend (`appbackend version`), computed from git as `go build` itself would record
# it in a clone (Go's pseudo-versions, go.dev/ref/mod#pseudo-versions):
#
#   vX.Y.Z                                  HEAD is tagged vX.Y.Z
#   vX.Y.(Z+1)-0.YYYYMMDDHHMMSS-<12 hex>    commits after the latest tag vX.Y.Z
#   vX.Y.Z-pre.0.YYYYMMDDHHMMSS-<12 hex>    commits after a pre-release tag vX.Y.Z-pre
#   v0.0.0-YYYYMMDDHHMMSS-<12 hex>          no tag yet
#
# with "+dirty" when the working tree has uncommitted changes. Outside a git checkout it
# prints nothing, and the build keeps whatever Go recorded.
set -eu

git rev-parse --git-dir >/dev/null 2>&1 || exit 0

dirty=
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	dirty=+dirty
fi
if tag=$(git describe --tags --exact-match --match 'v[0-9]*.[0-9]*.[0-9]*' HEAD 2>/dev/null); then
	echo "$tag$dirty"
	exit 0
fi
stamp=$(TZ=UTC git log -1 --date=format-local:%Y%m%d%H%M%S --format=%cd HEAD)
hash=$(git rev-parse --short=12 HEAD)
if last=$(git describe --tags --abbrev=0 --match 'v[0-9]*.[0-9]*.[0-9]*' HEAD 2>/dev/null); then
	case "$last" in
	*-*) echo "$last.0.$stamp-$hash$dirty" ;; # after a pre-release vX.Y.Z-rc.1
	*) echo "${last%.*}.$((${last##*.} + 1))-0.$stamp-$hash$dirty" ;;
	esac
	exit 0
fi
echo "v0.0.0-$stamp-$hash$dirty"
