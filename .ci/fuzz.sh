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
# With 11 targets, 20s each plus building the instrumented test binaries, the
# whole run takes about 4.5 minutes on 2 cores; with more targets, lower
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

# corpus_files DIR NAME: the inputs go test has written for NAME, one a line.
corpus_files() {
	find "$1/testdata/fuzz/$2" -type f 2>/dev/null | sort || true
}

# fuzz_once DIR NAME LOG: one bounded fuzzing run; 0 passed, 1 failed with a
# finding, 2 failed with nothing found (see below).
#
# Go 1.26's fuzz coordinator can fail a run at the -fuzztime boundary with a
# bare "context deadline exceeded" when a starved worker misses its stop
# deadline (golang/go#75804, fixed in Go 1.27). Such a run writes no failing
# input and its log names no panic or t.Error; it says nothing about the code
# under test. It is told apart from a finding by exactly that: no new file in
# testdata/fuzz/NAME and the deadline message as the only failure.
fuzz_once() {
	local dir="$1" name="$2" log="$3" before after
	before="$(corpus_files "$dir" "$name")"
	if go test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" -fuzzminimizetime="$mintime" "$dir" >"$log" 2>&1; then
		return 0
	fi
	after="$(corpus_files "$dir" "$name")"
	if [ "$before" = "$after" ] &&
		grep -qx $'[ \t]*context deadline exceeded' "$log" &&
		! grep -qE 'panic:|Failing input written|_test\.go:[0-9]+:' "$log"; then
		return 2
	fi
	return 1
}

failed=()
for t in "${targets[@]}"; do
	dir="${t%%:*}"
	name="${t##*:}"
	echo "-- ${dir#./} ${name}"
	start=$SECONDS
	log="$logs/${name}.log"
	rc=0
	fuzz_once "$dir" "$name" "$log" || rc=$?
	if [ "$rc" -eq 2 ]; then
		# The coordinator race, not a finding: say so and fuzz the target
		# again, so that it still gets its full time.
		echo "   Go fuzz coordinator stopped at the deadline with nothing found (golang/go#75804); running it again"
		rc=0
		fuzz_once "$dir" "$name" "$log" || rc=$?
	fi
	case "$rc" in
	0) echo "   ok ($((SECONDS - start))s): $(grep -E '^fuzz: elapsed' "$log" | tail -1)" ;;
	*)
		echo "   FAILED ($((SECONDS - start))s):"
		sed 's/^/   | /' "$log" | tail -40
		failed+=("$t")
		;;
	esac
done

if [ "${#failed[@]}" -gt 0 ]; then
	echo "== ${#failed[@]} fuzz target(s) failed: ${failed[*]}"
	echo "   the failing inputs are in <package>/testdata/fuzz/<FuzzName>/; keep them as regression cases once fixed"
	exit 1
fi
echo "== all ${#targets[@]} fuzz targets passed"
