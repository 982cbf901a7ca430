#!/usr/bin/env bash
# Builds Ory Hydra, the real authorization server of the end-to-end tests
# (e2e/), from the tools module e2e/tools, and prints the binary's path.
#
# Hydra stays out of portcullis's own go.mod: e2e/tools/go.mod pins it with a
# `tool` directive (and repeats Hydra's replace of gobuffalo/pop, which does
# not travel with a dependency). The binary is cached under a name keyed by
# the sha256 of e2e/tools/go.sum, so a cold build (5 to 9 minutes on 2 cores)
# happens once per Hydra version and later runs take a second.
#
# Usage: PORTCULLIS_HYDRA_BIN="$(.ci/hydra.sh)"
# Progress goes to stderr; stdout carries only the path.
set -euo pipefail
cd "$(dirname "$0")/../e2e/tools"

cache="${PORTCULLIS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/portcullis}"
sum="$(sha256sum go.sum | cut -c1-16)"
bin="$cache/hydra-$sum"

if [ -x "$bin" ] && "$bin" version >/dev/null 2>&1; then
	echo "hydra: cached $bin" >&2
	echo "$bin"
	exit 0
fi

# cgo (for the sqlite in-memory database) needs a C compiler.
if ! command -v "${CC:-gcc}" >/dev/null 2>&1; then
	echo "hydra: no C compiler (${CC:-gcc}) for cgo; install one, e.g. apt-get install -y gcc libc6-dev" >&2
	exit 1
fi
mkdir -p "$cache"
echo "hydra: building $bin (cold: 5 to 9 minutes on 2 cores)" >&2
go mod download >&2
go mod verify >&2
# cgo and the sqlite tags give Hydra its in-memory database (DSN=memory).
tmp="$bin.tmp.$$"
trap 'rm -f "$tmp"' EXIT
CGO_ENABLED=1 go build -trimpath -tags sqlite,sqlite_omit_load_extension \
	-o "$tmp" github.com/ory/hydra/v2 >&2
"$tmp" version >&2
mv -f "$tmp" "$bin"
echo "$bin"
