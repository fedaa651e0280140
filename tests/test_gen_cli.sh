#!/usr/bin/env bash
# test_gen_cli.sh - `evalctl gen ruler` through the binary: the 13 files with
# the samples asked for, same seed same bytes, files appearing whole or not at
# all, one clear error line for bad input. The samples' content is checked by
# test_ruler.c.
. "$(dirname "$0")/lib.sh"
FX=tests/fixtures/ruler
TOK=tests/fixtures/tok/smollm2
ESSAY=data/texts/kjv.txt
W=(--words $FX/words)

# expect_usage "what" PATTERN cmd...: exit 2 with exactly one stderr line matching PATTERN.
expect_usage() {
    local what=$1 pat=$2; shift 2
    "$@" >"$T_TMP/out" 2>"$T_TMP/err"
    local rc=$?
    if [ "$rc" -ne 2 ]; then t_bad "$what: exit $rc, want 2 ($(head -c 300 "$T_TMP/err"))"; return; fi
    if [ "$(wc -l <"$T_TMP/err")" -ne 1 ]; then t_bad "$what: stderr: $(head -c 400 "$T_TMP/err")"; return; fi
    if ! grep -Eq -- "$pat" "$T_TMP/err"; then t_bad "$what: stderr '$(cat "$T_TMP/err")' !~ /$pat/"; return; fi
    t_ok
}

# no temporary files left, only the task files named
only_files() {
    local what=$1 dir=$2; shift 2
    local got want
    got=$(ls -A "$dir" 2>/dev/null | sort | tr '\n' ' ')
    want=
    [ $# -gt 0 ] && want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
    [ "$got" == "$want" ] && t_ok || t_bad "$what: $dir holds '$got', want '$want'"
}

all=(niah_single_1 niah_single_2 niah_single_3 niah_multikey_1 niah_multikey_2 niah_multikey_3 niah_multivalue
     niah_multiquery vt cwe fwe qa_1 qa_2)
files=()
for t in "${all[@]}"; do files+=("$t.jsonl"); done

# --- all 13 tasks
out=$T_TMP/a
expect_grep "all tasks" "qa_2.jsonl: 2 samples, length [0-9]+\.\.[0-9]+ of 1024" \
    "$EVALCTL" gen ruler --model $TOK --length 1024 --samples 2 --seed 3 --out $out "${W[@]}" \
    --squad $FX/squad.json --hotpotqa $FX/hotpotqa.json
only_files "all tasks" $out "${files[@]}"
for f in "${files[@]}"; do
    n=$(wc -l <"$out/$f" 2>/dev/null || echo 0)
    [ "$n" -eq 2 ] && t_ok || t_bad "$f: $n lines"
    head -c 40 "$out/$f" | grep -q '^{"index": 0, "input": "' && t_ok || t_bad "$f: first line $(head -c 60 "$out/$f")"
done
# the fields RULER writes, in its order
grep -q '"outputs": \[.*\], "length": [0-9]*, "length_w_model_temp": [0-9]*, "answer_prefix": ".*", "token_position_answer": [0-9]*}$' \
    $out/niah_single_1.jsonl && t_ok || t_bad "niah fields"
grep -q '"outputs": \[.*\], "length": [0-9]*, "length_w_model_temp": [0-9]*, "answer_prefix": " Answer:"}$' \
    $out/qa_1.jsonl && t_ok || t_bad "qa fields"

# --- same seed, same bytes; another seed, other samples
out2=$T_TMP/b
"$EVALCTL" gen ruler --model $TOK --length 1024 --samples 2 --seed 3 --out $out2 "${W[@]}" --tasks vt,cwe,niah_single_2 \
    >/dev/null 2>&1
for t in vt cwe niah_single_2; do cmp -s $out/$t.jsonl $out2/$t.jsonl && t_ok || t_bad "$t: seed 3 twice differs"; done
only_files "--tasks" $out2 vt.jsonl cwe.jsonl niah_single_2.jsonl
"$EVALCTL" gen ruler --model $TOK --length 1024 --samples 2 --seed 4 --out $out2 "${W[@]}" --tasks vt >/dev/null 2>&1
cmp -s $out/vt.jsonl $out2/vt.jsonl && t_bad "seed 4 gives seed 3's file" || t_ok

# --- QA without its file: skipped with one line; only QA asked: an error
expect_grep "qa skipped" "niah_single_1.jsonl: 1 samples" \
    "$EVALCTL" gen ruler --model $TOK --length 1024 --samples 1 --out $T_TMP/c "${W[@]}" --tasks niah_single_1,qa_1
[ "$(wc -l <"$T_TMP/err")" -eq 1 ] && grep -q "skipping qa_1 (no --squad FILE" "$T_TMP/err" && t_ok ||
    t_bad "qa skip message: $(cat "$T_TMP/err")"
expect_error "only qa, no file" "nothing to do: qa_2 \(no --hotpotqa FILE" \
    "$EVALCTL" gen ruler --model $TOK --length 1024 --out $T_TMP/d --tasks qa_2
[ ! -e $T_TMP/d ] && t_ok || t_bad "only qa: output directory made"

# --- bad input: one line each, nothing written
expect_usage "unknown task" "unknown task 'niah_single_9'" \
    "$EVALCTL" gen ruler --model $TOK --length 1024 --out $T_TMP/e --tasks vt,niah_single_9
expect_usage "no --model" "--model is required" "$EVALCTL" gen ruler --length 1024 --out $T_TMP/e
expect_usage "no --out" "--out is required" "$EVALCTL" gen ruler --model $TOK --length 1024
expect_usage "no --length" "--length is required" "$EVALCTL" gen ruler --model $TOK --out $T_TMP/e
expect_usage "bad --length" "--length: 'abc' is not an integer" \
    "$EVALCTL" gen ruler --model $TOK --length abc --out $T_TMP/e
expect_usage "unknown option" "unknown option --bogus" "$EVALCTL" gen ruler --bogus
expect_usage "unknown benchmark" "unknown benchmark 'rular'" "$EVALCTL" gen rular
expect_error "too short" "--length 600 is too short for niah_single_2: it needs at least [0-9]+ tokens" \
    "$EVALCTL" gen ruler --model $TOK --length 600 --out $T_TMP/e "${W[@]}" --tasks niah_single_1,niah_single_2
expect_error "essays unreadable" "$T_TMP/none.txt: cannot open essay text" \
    "$EVALCTL" gen ruler --model $TOK --length 1024 --out $T_TMP/e "${W[@]}" --essays $T_TMP/none.txt
printf 'ok \xff\xfe bad\n' >$T_TMP/bad.txt
expect_error "essays not UTF-8" "bad.txt: essay text is not valid UTF-8" \
    "$EVALCTL" gen ruler --model $TOK --length 1024 --out $T_TMP/e "${W[@]}" --essays $T_TMP/bad.txt --tasks niah_single_3
expect_error "no word lists" "$T_TMP/nowords/nounlist.txt: cannot open word list" \
    "$EVALCTL" gen ruler --model $TOK --length 1024 --out $T_TMP/e --words $T_TMP/nowords --tasks cwe
printf '{"data": [' >$T_TMP/squad.json
expect_error "bad SQuAD" "squad.json: invalid JSON: .*at byte [0-9]+" \
    "$EVALCTL" gen ruler --model $TOK --length 1024 --out $T_TMP/e --squad $T_TMP/squad.json --tasks qa_1
expect_error "too many samples for the QA set" "qa_2: $FX/hotpotqa.json has 8 answerable questions, fewer than the 9" \
    "$EVALCTL" gen ruler --model $TOK --length 1024 --samples 9 --out $T_TMP/e --hotpotqa $FX/hotpotqa.json \
    --tasks vt,qa_2
expect_error "bad model" "no-model: " \
    "$EVALCTL" gen ruler --model $T_TMP/no-model --length 1024 --out $T_TMP/e --tasks vt
only_files "errors write nothing" $T_TMP/e
touch $T_TMP/file
expect_error "--out is a file" "file: " \
    "$EVALCTL" gen ruler --model $TOK --length 1024 --out $T_TMP/file --tasks vt

# --- the real model and word lists, when there
if [ -e models/smollm2-135m-instruct.gguf ] && [ -s data/words/nounlist.txt ]; then
    expect_grep "GGUF model, data/words" "niah_single_1.jsonl: 1 samples, length [0-9]+\.\.[0-9]+ of 4096" \
        "$EVALCTL" gen ruler --model models/smollm2-135m-instruct.gguf --length 4096 --samples 1 --out $T_TMP/g \
        --tasks niah_single_1,cwe
    grep -q '"input": "<|im_start|>system\\n' $T_TMP/g/cwe.jsonl && t_ok || t_bad "GGUF chat template"
else
    echo "  skipped the GGUF run: models/ or data/words/ missing (make model; make data)"
fi

done_tests gen_cli
