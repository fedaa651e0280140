# test_gen_infbench_cli.sh - `evalctl gen infinitebench` end to end: files in
# the official format that the official metric (evalctl metric) scores, fitted
# to --length, the same for the same seed, whole or absent; every bad input
# one error line. The record contents are checked against the official
# generator in test_infbench.c.
. tests/lib.sh
E=$EVALCTL
TOK=tests/fixtures/tok/smollm2

if ! $E gen infinitebench --help >"$T_TMP/help" 2>&1; then
    t_bad "'evalctl gen infinitebench' is not wired: src/cmd_gen.c's table needs" \
        "{\"infinitebench\", cmd_gen_infinitebench, ...} ($(head -c 200 "$T_TMP/help"))"
    done_tests gen_infbench_cli
    exit 1
fi
expect_grep "help" "^usage: evalctl gen infinitebench" $E gen infinitebench --help
$E gen infinitebench --out "$T_TMP/x" >/dev/null 2>&1; [ $? -eq 2 ] && t_ok || t_bad "no --length: exit 2"
$E gen infinitebench --length 10 >/dev/null 2>&1; [ $? -eq 2 ] && t_ok || t_bad "no --out: exit 2"
$E gen infinitebench --length 12q --out "$T_TMP/x" >/dev/null 2>&1; [ $? -eq 2 ] && t_ok || t_bad "bad --length: exit 2"
$E gen infinitebench --length 100 --out "$T_TMP/x" --bogus >/dev/null 2>&1; [ $? -eq 2 ] && t_ok || t_bad "unknown option: exit 2"

# ---- all three tasks, lengths in the SmolLM2 tokenizer's tokens
A=$T_TMP/a/b
expect_grep "generate" "kv_retrieval\.jsonl: 4 samples, .* prompts of [0-9]+-[0-9]+ tokens$" \
    $E gen infinitebench --model $TOK --length 900 --samples 4 --seed 5 --out "$A"
for t in passkey number_string kv_retrieval; do
    [ -f "$A/$t.jsonl" ] && [ "$(wc -l <"$A/$t.jsonl")" -eq 4 ] && t_ok || t_bad "$t: want 4 lines in $A/$t.jsonl"
    # the largest prompt reported fits the length
    max=$(sed -n "s/^.*$t\.jsonl: .* prompts of [0-9]*-\([0-9]*\) tokens$/\1/p" "$T_TMP/out")
    [ -n "$max" ] && [ "$max" -le 900 ] && t_ok || t_bad "$t: prompts up to '$max' tokens for --length 900"
    head -n 1 "$A/$t.jsonl" | grep -Eq '^\{"id": 0, "context": ".*", "input": ".*", "answer": "[^"]*", "options": \[\]\}$' \
        && t_ok || t_bad "$t: record format: $(head -c 120 "$A/$t.jsonl")"
done
ls "$A" | grep -q tmp && t_bad "temporary files left: $(ls "$A")" || t_ok

# the official metric scores the answers as right
for t in passkey number_string kv_retrieval; do
    sed -E 's/.*"answer": "([^"]*)", "options".*/{"pred": "\1", "answer": "\1"}/' "$A/$t.jsonl" >"$T_TMP/pred_$t.jsonl"
    expect_output "$t: answers score 1" "$(printf '1.0\n1.0\n1.0\n1.0')" $E metric --name $t --in "$T_TMP/pred_$t.jsonl"
done

# same seed, same bytes; another seed, other bytes
$E gen infinitebench --model $TOK --length 900 --samples 4 --seed 5 --out "$T_TMP/a2" >/dev/null
for t in passkey number_string kv_retrieval; do
    cmp -s "$A/$t.jsonl" "$T_TMP/a2/$t.jsonl" && t_ok || t_bad "$t: not deterministic"
done
$E gen infinitebench --model $TOK --length 900 --samples 4 --seed 6 --out "$T_TMP/a3" --tasks passkey >/dev/null
cmp -s "$A/passkey.jsonl" "$T_TMP/a3/passkey.jsonl" && t_bad "seed 6 gave seed 5's file" || t_ok
[ ! -e "$T_TMP/a3/kv_retrieval.jsonl" ] && t_ok || t_bad "--tasks passkey wrote other tasks"

# characters without --model, a k suffix, another template set
expect_grep "characters" "passkey\.jsonl: 2 samples, .* prompts of (19[0-9][0-9]|20[0-4][0-9])-[0-9]+ characters$" \
    $E gen infinitebench --length 2k --samples 2 --tasks passkey --out "$T_TMP/c"
expect_grep "gpt4 set" "kv_retrieval\.jsonl: 2 samples" \
    $E gen infinitebench --length 700 --samples 2 --tasks kv_retrieval --template gpt4 --model $TOK --out "$T_TMP/g"

# ---- bad input: one line, exit 1, nothing written
expect_error "unknown task" "unknown task 'passkey2'" \
    $E gen infinitebench --tasks passkey,passkey2 --length 900 --out "$T_TMP/e1"
[ ! -e "$T_TMP/e1/passkey.jsonl" ] && t_ok || t_bad "a bad task list must write nothing"
expect_error "not synthetic" "longbook_qa_eng is read from the official data" \
    $E gen infinitebench --tasks longbook_qa_eng --length 900 --out "$T_TMP/e2"
expect_error "listed twice" "listed twice" $E gen infinitebench --tasks kv_retrieval,kv_retrieval --length 900 --out "$T_TMP/e3"
expect_error "too short" "passkey: a length of 30 tokens is too short: the prompt with no noise takes [0-9]+" \
    $E gen infinitebench --tasks passkey --length 30 --model $TOK --out "$T_TMP/e4"
[ -z "$(ls "$T_TMP/e4" 2>/dev/null)" ] && t_ok || t_bad "too short: files written: $(ls "$T_TMP/e4")"
expect_error "kv too short" "kv_retrieval: a length of 100 characters is too short: the prompt with one key-value pair" \
    $E gen infinitebench --tasks kv_retrieval --length 100 --out "$T_TMP/e5"
expect_error "unknown template" "unknown template set 'llama'" \
    $E gen infinitebench --length 900 --template llama --out "$T_TMP/e6"
expect_error "bad model" "no-such-model" $E gen infinitebench --length 900 --model "$T_TMP/no-such-model" --out "$T_TMP/e7"
printf 'x' >"$T_TMP/file"
expect_error "out is a file" "file" $E gen infinitebench --length 900 --out "$T_TMP/file"

done_tests gen_infbench_cli
