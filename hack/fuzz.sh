#!/usr/bin/env bash
# Runs every Go fuzz target of the module, one after another, each for
# $FUZZTIME (default 10s), and exits non-zero when any of them finds a crash.
#
#   hack/fuzz.sh                      # every target, 10s each
#   FUZZTIME=2m hack/fuzz.sh          # longer
#   hack/fuzz.sh FuzzRenderExtraData  # only the targets named
#   FUZZFLAGS='-fuzzminimizetime=10s -parallel=1' hack/fuzz.sh   # extra go test flags
#
# A crash leaves its input in <package>/testdata/fuzz/<FuzzTarget>/: commit it
# with the fix, and `go test` replays it as a regression test from then on.
#
# The controllers suite starts its control plane only for the tests that need
# one (never while fuzzing), so a fuzz target there needs nothing but Go.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

FUZZTIME="${FUZZTIME:-10s}"
read -r -a extra_flags <<<"${FUZZFLAGS:-}"
GO="${GO:-go}"

# Targets: "<package dir> <FuzzName>", found in the *_test.go files.
mapfile -t targets < <(
	grep -rEo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(' api cmd controllers internal 2>/dev/null |
		sed -E 's#^(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]*)\($#\1 \2#' | sort -u
)
if [ "${#targets[@]}" -eq 0 ]; then
	echo "fuzz.sh: no fuzz targets found" >&2
	exit 1
fi

if [ "$#" -gt 0 ]; then
	wanted=" $* "
	selected=()
	for t in "${targets[@]}"; do
		if [[ "$wanted" == *" ${t#* } "* ]]; then
			selected+=("$t")
		fi
	done
	if [ "${#selected[@]}" -ne "$#" ]; then
		echo "fuzz.sh: unknown target among: $*; known:" >&2
		printf '  %s\n' "${targets[@]#* }" >&2
		exit 1
	fi
	targets=("${selected[@]}")
fi

failed=()
for t in "${targets[@]}"; do
	dir="${t% *}"
	name="${t#* }"
	echo "== $name in ./$dir for $FUZZTIME"
	if ! "$GO" test "${extra_flags[@]}" -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "./$dir"; then
		failed+=("$name (./$dir)")
		if [ -d "$dir/testdata/fuzz/$name" ]; then
			echo "fuzz.sh: failing inputs of $name are in $dir/testdata/fuzz/$name/:" >&2
			ls -1 "$dir/testdata/fuzz/$name" >&2
		fi
	fi
done

if [ "${#failed[@]}" -gt 0 ]; then
	echo "fuzz.sh: FAIL: ${failed[*]}" >&2
	exit 1
fi
echo "fuzz.sh: ok: ${#targets[@]} targets, $FUZZTIME each"
