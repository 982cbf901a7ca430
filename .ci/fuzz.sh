#!/usr/bin/env bash
# Runs every fuzz target of the module (every `func FuzzX(f *testing.F)` in a
# _test.go file) with `go test -fuzz` for a bounded time each, one after the
# other, and fails if any target fails. The seed corpora checked in under
# <package>/testdata/fuzz/<FuzzX>/ run first, so a regression on a known
# input fails at once; a new failing input is written there by go test, for
# the developer to keep as a regression case.
#
#   FUZZTIME      time per target (default 20s)
#   FUZZMINTIME   time to minimize a failing input (default 5s)
#
# With 8 targets, 20s each plus building the instrumented test binaries, the
# whole run takes about 3.5 minutes on 2 cores; with more targets, lower
# FUZZTIME to stay within the CI budget.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime="${FUZZTIME:-20s}"
mintime="${FUZZMINTIME:-5s}"

# package_dir:FuzzName for every fuzz target of this module (a directory
# with a go.mod of its own is another module and is skipped).
targets=()
while IFS= read -r line; do
	file="${line%%:*}"
	name="$(sed -E 's/^.*func (Fuzz[A-Za-z0-9_]*)\(.*/\1/' <<<"${line#*:}")"
	dir="$(dirname "$file")"
	nested=""
	d="$dir"
	while [ "$d" != "." ]; do
		if [ -f "$d/go.mod" ]; then nested=1; break; fi
		d="$(dirname "$d")"
	done
	[ -n "$nested" ] && continue
	targets+=("$dir:$name")
done < <(grep -rE --include='*_test.go' --exclude-dir=testdata --exclude-dir=.git \
	'^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' . | sort)

if [ "${#targets[@]}" -eq 0 ]; then
	echo "no fuzz targets found" >&2
	exit 1
fi
echo "== fuzzing ${#targets[@]} targets, ${fuzztime} each"

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT

failed=()
for t in "${targets[@]}"; do
	dir="${t%%:*}"
	name="${t##*:}"
	echo "-- ${dir#./} ${name}"
	start=$SECONDS
	if go test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" -fuzzminimizetime="$mintime" "$dir" >"$logs/${name}.log" 2>&1; then
		echo "   ok ($((SECONDS - start))s): $(grep -E '^fuzz: elapsed' "$logs/${name}.log" | tail -1)"
	else
		echo "   FAILED ($((SECONDS - start))s):"
		sed 's/^/   | /' "$logs/${name}.log" | tail -40
		failed+=("$t")
	fi
done

if [ "${#failed[@]}" -gt 0 ]; then
	echo "== ${#failed[@]} fuzz target(s) failed: ${failed[*]}"
	echo "   the failing inputs are in <package>/testdata/fuzz/<FuzzName>/; keep them as regression cases once fixed"
	exit 1
fi
echo "== all ${#targets[@]} fuzz targets passed"
