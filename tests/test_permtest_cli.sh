# test_permtest_cli.sh - `evalctl permtest` end to end: the exact case of
# tests/fixtures/stats/cli_*.txt must print SciPy's p-value and mean
# difference (tools/gen_stats_fixtures.py), the method switches at 2^n, a seed
# repeats, and bad input gives one error line naming the file and line.
. tests/lib.sh
F=tests/fixtures/stats

"$EVALCTL" permtest "$F/cli_a.txt" "$F/cli_b.txt" >"$T_TMP/out" 2>"$T_TMP/err"
if [ $? -eq 0 ] && [ "$(grep -E '^(p_value|mean_diff)=' "$T_TMP/out")" = "$(cat "$F/cli_expected.txt")" ]; then
    t_ok
else
    t_bad "SciPy case: $(cat "$T_TMP/out" "$T_TMP/err")"
fi
expect_grep "exact by default for n=14" '^method=exact$' "$EVALCTL" permtest "$F/cli_a.txt" "$F/cli_b.txt"
expect_grep "2^14 sign vectors" '^perms=16384$' "$EVALCTL" permtest "$F/cli_a.txt" "$F/cli_b.txt"
expect_grep "n" '^n=14$' "$EVALCTL" permtest "$F/cli_a.txt" "$F/cli_b.txt"
expect_grep "exact at --perms 2^n" '^method=exact$' "$EVALCTL" permtest "$F/cli_a.txt" "$F/cli_b.txt" --perms 16384
expect_grep "Monte Carlo below 2^n" '^method=monte_carlo$' "$EVALCTL" permtest "$F/cli_a.txt" "$F/cli_b.txt" --perms 16383
expect_grep "Monte Carlo perms" '^perms=5000$' "$EVALCTL" permtest --perms 5000 --seed 3 "$F/cli_a.txt" "$F/cli_b.txt"
one=$("$EVALCTL" permtest --perms 5000 --seed 3 "$F/cli_a.txt" "$F/cli_b.txt")
two=$("$EVALCTL" permtest --perms 5000 --seed 3 "$F/cli_a.txt" "$F/cli_b.txt")
three=$("$EVALCTL" permtest --perms 5000 --seed 18446744073709551615 "$F/cli_a.txt" "$F/cli_b.txt")
if [ -n "$one" ] && [ "$one" = "$two" ] && [ "$one" != "$three" ]; then t_ok; else t_bad "seeds: '$one' '$two' '$three'"; fi

# by hand: d = (1, 2, 3) -> only +++ reaches the observed sum, p = 1/8; swapped, p = 1
printf '1\n2\n3\n' >"$T_TMP/a.txt"
printf '2\n4\n6\n' >"$T_TMP/b.txt"
expect_grep "p = 1/8" '^p_value=0\.125$' "$EVALCTL" permtest "$T_TMP/a.txt" "$T_TMP/b.txt"
expect_grep "mean_diff" '^mean_diff=2$' "$EVALCTL" permtest "$T_TMP/a.txt" "$T_TMP/b.txt"
expect_grep "B lower: p = 1" '^p_value=1$' "$EVALCTL" permtest "$T_TMP/b.txt" "$T_TMP/a.txt"
# CRLF, surrounding blanks and no final newline are accepted
printf '1\r\n 2 \r\n3' >"$T_TMP/crlf.txt"
expect_grep "CRLF" '^p_value=0\.125$' "$EVALCTL" permtest "$T_TMP/crlf.txt" "$T_TMP/b.txt"

printf '1\n\n3\n' >"$T_TMP/blank.txt"
expect_error "blank line" 'blank\.txt:2: blank line' "$EVALCTL" permtest "$T_TMP/blank.txt" "$T_TMP/b.txt"
printf '1\n2\nthree\n' >"$T_TMP/word.txt"
expect_error "non-number in B" "word\.txt:3: 'three' is not a number" "$EVALCTL" permtest "$T_TMP/a.txt" "$T_TMP/word.txt"
printf '1\nnan\n3\n' >"$T_TMP/nan.txt"
expect_error "nan" "nan\.txt:2: 'nan' is not a number" "$EVALCTL" permtest "$T_TMP/nan.txt" "$T_TMP/b.txt"
printf '1\n2\n3\n4\n' >"$T_TMP/four.txt"
expect_error "longer B" 'four\.txt:4: no line 4 in .*a\.txt' "$EVALCTL" permtest "$T_TMP/a.txt" "$T_TMP/four.txt"
expect_error "longer A" 'four\.txt:4: no line 4 in .*b\.txt' "$EVALCTL" permtest "$T_TMP/four.txt" "$T_TMP/b.txt"
: >"$T_TMP/empty.txt"
expect_error "empty file" 'empty\.txt: no numbers' "$EVALCTL" permtest "$T_TMP/empty.txt" "$T_TMP/b.txt"
expect_error "missing file" 'nosuch\.txt: No such file' "$EVALCTL" permtest "$T_TMP/a.txt" "$T_TMP/nosuch.txt"

# usage errors exit 2
"$EVALCTL" permtest "$T_TMP/a.txt" >/dev/null 2>&1
if [ $? -eq 2 ]; then t_ok; else t_bad "one file: exit not 2"; fi
"$EVALCTL" permtest "$T_TMP/a.txt" "$T_TMP/b.txt" --perms 0 >/dev/null 2>&1
if [ $? -eq 2 ]; then t_ok; else t_bad "--perms 0: exit not 2"; fi
"$EVALCTL" permtest "$T_TMP/a.txt" "$T_TMP/b.txt" --seed -1 >/dev/null 2>&1
if [ $? -eq 2 ]; then t_ok; else t_bad "--seed -1: exit not 2"; fi
"$EVALCTL" permtest "$T_TMP/a.txt" "$T_TMP/b.txt" --bogus >/dev/null 2>&1
if [ $? -eq 2 ]; then t_ok; else t_bad "unknown option: exit not 2"; fi
"$EVALCTL" permtest "$T_TMP/a.txt" "$T_TMP/b.txt" "$T_TMP/b.txt" >/dev/null 2>&1
if [ $? -eq 2 ]; then t_ok; else t_bad "three files: exit not 2"; fi
expect_grep "help" '^usage: evalctl permtest' "$EVALCTL" permtest --help

done_tests permtest_cli
