# test_metric_cli.sh - `evalctl metric` end to end: each fixture file of
# tests/fixtures/metric scored by the binary must print exactly what the
# official Python printed (tools/gen_metric_fixtures.py), and bad input must
# give one error line naming the file, the line and the field.
. tests/lib.sh
F=tests/fixtures/metric

for f in "$F"/ruler_*.jsonl "$F"/infbench_*.jsonl; do
    base=$(basename "$f" .jsonl)
    name=${base#ruler_}
    name=${name#infbench_}
    expect_output "$base" "$(cat "$F/$base.expected")" "$EVALCTL" metric --name "$name" --in "$f"
done

# blank lines are skipped, as InfiniteBench's iter_jsonl does
printf '{"pred":"71432","answer":["71432"]}\n\n  \n{"pred":"1","answer":["2"]}\n' >"$T_TMP/blank.jsonl"
expect_output "blank lines" "$(printf '1.0\n0.0')" "$EVALCTL" metric --name passkey --in "$T_TMP/blank.jsonl"
# a record without a final newline, and NUL inside a string (RULER maps it to "\n")
printf '{"pred":"a\\u0000b","outputs":["a\\nb"]}' >"$T_TMP/nul.jsonl"
expect_output "NUL in pred" "100.0" "$EVALCTL" metric --name string_match_all --in "$T_TMP/nul.jsonl"
printf '' >"$T_TMP/empty.jsonl"
expect_output "empty file" "" "$EVALCTL" metric --name passkey --in "$T_TMP/empty.jsonl"

printf '{"pred":"1","answer":["1"]}\n{"pred": "x", "answer": \n' >"$T_TMP/bad.jsonl"
expect_error "malformed JSON" "bad\.jsonl:2: invalid JSON" "$EVALCTL" metric --name passkey --in "$T_TMP/bad.jsonl"
printf '{"pred":"1","answer":["1"]}\n{"pred":"1","answer":["1"]} x\n' >"$T_TMP/trail.jsonl"
expect_error "trailing garbage" "trail\.jsonl:2: invalid JSON" "$EVALCTL" metric --name passkey --in "$T_TMP/trail.jsonl"
printf '[1, 2]\n' >"$T_TMP/arr.jsonl"
expect_error "not an object" "arr\.jsonl:1: .*not a JSON object" "$EVALCTL" metric --name passkey --in "$T_TMP/arr.jsonl"
printf '{"pred":"1","answer":["1"]}\n{"answer":["1"]}\n' >"$T_TMP/nopred.jsonl"
expect_error "missing pred" "nopred\.jsonl:2: missing field \"pred\"" "$EVALCTL" metric --name passkey --in "$T_TMP/nopred.jsonl"
printf '{"pred":1,"answer":["1"]}\n' >"$T_TMP/predint.jsonl"
expect_error "pred not a string" "predint\.jsonl:1: field \"pred\" must be a string" "$EVALCTL" metric --name passkey --in "$T_TMP/predint.jsonl"
printf '{"pred":"x"}\n' >"$T_TMP/noans.jsonl"
expect_error "missing answer" "noans\.jsonl:1: missing field \"answer\"" "$EVALCTL" metric --name kv_retrieval --in "$T_TMP/noans.jsonl"
printf '{"pred":"x","answer":"Snowfield"}\n' >"$T_TMP/noopt.jsonl"
expect_error "missing options" "noopt\.jsonl:1: missing field \"options\"" "$EVALCTL" metric --name longbook_choice_eng --in "$T_TMP/noopt.jsonl"
printf '{"pred":"x","answer":"Snow","options":["a","b","c","d"]}\n' >"$T_TMP/notopt.jsonl"
expect_error "answer not an option" "notopt\.jsonl:1: field \"answer\" is not one of \"options\"" "$EVALCTL" metric --name code_debug --in "$T_TMP/notopt.jsonl"
printf '{"pred":"x"}\n' >"$T_TMP/noout.jsonl"
expect_error "missing outputs" "noout\.jsonl:1: missing field \"outputs\"" "$EVALCTL" metric --name string_match_all --in "$T_TMP/noout.jsonl"
printf '{"pred":"x","outputs":"x"}\n' >"$T_TMP/outstr.jsonl"
expect_error "outputs not a list" "outstr\.jsonl:1: field \"outputs\" must be a list" "$EVALCTL" metric --name string_match_part --in "$T_TMP/outstr.jsonl"
printf '{"pred":"x","outputs":["a",2]}\n' >"$T_TMP/outint.jsonl"
expect_error "outputs item not a string" "outint\.jsonl:1: field \"outputs\" .*item 1" "$EVALCTL" metric --name string_match_part --in "$T_TMP/outint.jsonl"
printf '{"pred":"x","outputs":[]}\n' >"$T_TMP/outempty.jsonl"
expect_error "outputs empty" "outempty\.jsonl:1: field \"outputs\" is an empty list" "$EVALCTL" metric --name string_match_all --in "$T_TMP/outempty.jsonl"
printf '{"pred":"x","answer":["1"]}\n' >"$T_TMP/any.jsonl"
expect_error "unknown task" "unknown metric or task 'passkeys'" "$EVALCTL" metric --name passkeys --in "$T_TMP/any.jsonl"
printf '{"pred":"The answer is 88.5","answer":[88]}\n' >"$T_TMP/raise.jsonl"
expect_error "official code raises" "raise\.jsonl:1: no score: the official math_find scorer raises ValueError" "$EVALCTL" metric --name math_find --in "$T_TMP/raise.jsonl"
printf '{"pred":"x","answer":"\\ud800"}\n' >"$T_TMP/surr.jsonl"
expect_error "lone surrogate" "surr\.jsonl:1: invalid JSON" "$EVALCTL" metric --name passkey --in "$T_TMP/surr.jsonl"
expect_error "missing file" "nope\.jsonl" "$EVALCTL" metric --name passkey --in "$T_TMP/nope.jsonl"

# usage errors exit 2
"$EVALCTL" metric --name passkey >/dev/null 2>&1
if [ $? -eq 2 ]; then t_ok; else t_bad "missing --in should exit 2"; fi
"$EVALCTL" metric --name passkey --in x --bogus >/dev/null 2>&1
if [ $? -eq 2 ]; then t_ok; else t_bad "unknown option should exit 2"; fi
expect_grep "help" "string_match_all" "$EVALCTL" metric --help

done_tests metric_cli
