#!/usr/bin/env bash
# run.sh - runs every compiled C test (BUILD/tests/test_*) and every shell test
# (tests/test_*.sh), sums their "RESULT name passed=N failed=N" lines and ends
# with the suite's one summary line "N passed, N failed". A test program that
# crashes or exits non-zero without failures counts as one failure.
# Usage: tests/run.sh BUILD_DIR [EVALCTL_BINARY]
set -u
build=${1:-build}
export EVALCTL=${2:-./evalctl}
export BUILD=$build
pass=0
fail=0
run_one() {
    local name=$1; shift
    local out rc p f
    # | as the delimiter: GPU tests are named gpu/test_*
    out=$("$@" 2> >(sed "s|^|  [$name] |" >&2))
    rc=$?
    printf '%s\n' "$out" | grep -v '^RESULT ' || true
    p=$(printf '%s\n' "$out" | sed -n 's/^RESULT .* passed=\([0-9]*\) failed=\([0-9]*\)$/\1/p' | tail -n 1)
    f=$(printf '%s\n' "$out" | sed -n 's/^RESULT .* passed=\([0-9]*\) failed=\([0-9]*\)$/\2/p' | tail -n 1)
    p=${p:-0}
    f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "  [$name] exited with status $rc"
        f=1
    fi
    printf '%-28s %5d passed %3d failed\n' "$name" "$p" "$f"
    pass=$((pass + p))
    fail=$((fail + f))
}
# GPU=1 (make test-gpu): the GPU tests first
if [ "${GPU:-0}" = 1 ]; then
    for t in "$build"/tests/gpu/test_*; do
        [ -x "$t" ] || continue
        run_one "gpu/$(basename "$t")" "$t"
    done
fi
for t in "$build"/tests/test_*; do
    [ -x "$t" ] || continue
    run_one "$(basename "$t")" "$t"
done
for t in tests/test_*.sh; do
    [ -f "$t" ] || continue
    run_one "$(basename "$t" .sh)" bash "$t"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
