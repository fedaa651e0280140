# lib.sh - helpers for shell tests of the evalctl command line. Source it, call
# the expect_* functions, end with `done_tests NAME`. $EVALCTL is the binary.
EVALCTL=${EVALCTL:-./evalctl}
T_PASS=0
T_FAIL=0
T_TMP=$(mktemp -d)
trap 'rm -rf "$T_TMP"' EXIT

t_ok() { T_PASS=$((T_PASS + 1)); }

# need_model NAME: tests of the real model end here, saying why, when
# models/smollm2-135m-instruct.gguf is missing (make model fetches it).
need_model() {
    [ -f models/smollm2-135m-instruct.gguf ] && return
    echo "test_$1: models/smollm2-135m-instruct.gguf missing (make model); skipped" >&2
    done_tests "$1"
    exit
}
t_bad() { T_FAIL=$((T_FAIL + 1)); echo "FAIL: $*" >&2; }

# expect_error "what" PATTERN cmd...: the command must exit 1 (not a signal),
# print nothing on stdout, print exactly one line on stderr, and that line must
# match the extended regex PATTERN.
expect_error() {
    local what=$1 pat=$2; shift 2
    "$@" >"$T_TMP/out" 2>"$T_TMP/err"
    local rc=$?
    local lines
    lines=$(wc -l <"$T_TMP/err")
    if [ "$rc" -ne 1 ]; then t_bad "$what: exit $rc, want 1 ($(head -c 300 "$T_TMP/err"))"; return; fi
    if [ "$lines" -ne 1 ]; then t_bad "$what: $lines stderr lines: $(head -c 400 "$T_TMP/err")"; return; fi
    if ! grep -Eq -- "$pat" "$T_TMP/err"; then t_bad "$what: stderr '$(cat "$T_TMP/err")' !~ /$pat/"; return; fi
    t_ok
}

# expect_output "what" EXPECTED cmd...: exit 0 and stdout exactly EXPECTED.
expect_output() {
    local what=$1 want=$2; shift 2
    local got
    got=$("$@" 2>"$T_TMP/err")
    local rc=$?
    if [ "$rc" -ne 0 ]; then t_bad "$what: exit $rc: $(head -c 300 "$T_TMP/err")"; return; fi
    if [ "$got" != "$want" ]; then t_bad "$what: got '$got' want '$want'"; return; fi
    t_ok
}

# expect_grep "what" REGEX cmd...: exit 0 and stdout has a line matching REGEX.
expect_grep() {
    local what=$1 pat=$2; shift 2
    "$@" >"$T_TMP/out" 2>"$T_TMP/err"
    local rc=$?
    if [ "$rc" -ne 0 ]; then t_bad "$what: exit $rc: $(head -c 300 "$T_TMP/err")"; return; fi
    if ! grep -Eq -- "$pat" "$T_TMP/out"; then t_bad "$what: no line /$pat/ in: $(head -c 400 "$T_TMP/out")"; return; fi
    t_ok
}

done_tests() {
    echo "RESULT $1 passed=$T_PASS failed=$T_FAIL"
    [ "$T_FAIL" -eq 0 ]
}
