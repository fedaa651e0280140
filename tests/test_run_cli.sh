# test_run_cli.sh - `evalctl run` and `evalctl merge` end to end on the real
# SmolLM2 model (the smallest RULER run: fwe at 256 tokens, 2 samples, 2
# variants, 4 new tokens): the files, resuming (a no-op re-run, a torn last
# record redone), a changed config refused, --force-new, config errors naming
# FILE:LINE and the key, and shards merged into the same tables as one run.
. tests/lib.sh
CFG=tests/fixtures/run/tiny.ini
M=models/smollm2-135m-instruct.gguf
need_model run_cli
O=$T_TMP/res
D=$O/tiny
run() { "$EVALCTL" run --config "$CFG" --set run.output_dir="$O" "$@"; }

run 2>"$T_TMP/log" || t_bad "first run: $(cat "$T_TMP/log")"
for f in config.ini meta.json predictions.jsonl samples.csv summary.csv pvalues.csv; do
    if [ -s "$D/$f" ]; then t_ok; else t_bad "missing $f"; fi
done
n=$(wc -l <"$D/predictions.jsonl")
[ "$n" -eq 4 ] && t_ok || t_bad "predictions.jsonl has $n records, want 4"
[ "$(head -n 1 "$D/summary.csv" | tr -d '\r')" = "length,task,variant,n,mean,ci_lo,ci_hi" ] && t_ok || t_bad "summary header"
[ "$(grep -c '^256,' "$D/summary.csv")" -eq 4 ] && t_ok || t_bad "summary rows: $(cat "$D/summary.csv")"
grep -q '^256,average,stream_delta,2,' "$D/summary.csv" && t_ok || t_bad "average row"
grep -q '^256,synthetic,stream_delta,stream,2,' "$D/pvalues.csv" && t_ok || t_bad "pvalues row: $(cat "$D/pvalues.csv")"
grep -q "\"sha256\": \"$(sha256sum "$M" | cut -d' ' -f1)\"" "$D/meta.json" && t_ok || t_bad "meta.json sha256"
# every record carries its keys and a score from the official metric (0..100)
python3 - "$D/predictions.jsonl" <<'PY' && t_ok || t_bad "record fields"
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    assert r["task"] == "fwe" and r["length"] == 256 and r["variant"] in ("stream", "stream_delta")
    assert 0 <= r["score"] <= 100 and r["prompt_tokens"] > 100 and r["new_tokens"] <= 4
    assert r["score"] == round(100 * sum(o.lower() in r["pred"].strip().lower() for o in r["outputs"]) / len(r["outputs"]), 2)
PY
cp "$D/summary.csv" "$T_TMP/summary.csv"
cp "$D/pvalues.csv" "$T_TMP/pvalues.csv"
cp "$D/predictions.jsonl" "$T_TMP/preds.jsonl"

# re-running is a no-op
run 2>"$T_TMP/log" || t_bad "re-run: $(cat "$T_TMP/log")"
cmp -s "$D/summary.csv" "$T_TMP/summary.csv" && cmp -s "$D/predictions.jsonl" "$T_TMP/preds.jsonl" && t_ok ||
    t_bad "re-run changed the files"
grep -q 'samples to do' "$T_TMP/log" && t_bad "re-run ran samples: $(cat "$T_TMP/log")" || t_ok

# a record torn by a crash (no newline at the end) is dropped and redone
size=$(stat -c %s "$D/predictions.jsonl")
truncate -s $((size - 30)) "$D/predictions.jsonl"
run 2>"$T_TMP/log" || t_bad "torn: $(cat "$T_TMP/log")"
grep -q 'dropping a torn last record' "$T_TMP/log" && t_ok || t_bad "torn line not reported: $(cat "$T_TMP/log")"
n=$(wc -l <"$D/predictions.jsonl")
[ "$n" -eq 4 ] && t_ok || t_bad "after the torn line: $n records"
cmp -s "$D/summary.csv" "$T_TMP/summary.csv" && t_ok || t_bad "summary differs after the redo"
# so is an unparsable last line with its newline
sed -i '$ s/.*/{"task": "fwe", "len/' "$D/predictions.jsonl"
run 2>"$T_TMP/log" && [ "$(wc -l <"$D/predictions.jsonl")" -eq 4 ] && t_ok || t_bad "garbled last line: $(cat "$T_TMP/log")"

# a changed config is refused, naming the difference; --force-new moves the old run aside
expect_error "changed config" 'config\.ini: the config differs.*\[benchmark\] samples: 2 -> 1' \
    run --set benchmark.samples=1
run --set benchmark.samples=1 --force-new 2>"$T_TMP/log" || t_bad "--force-new: $(cat "$T_TMP/log")"
[ "$(wc -l <"$D/predictions.jsonl")" -eq 2 ] && t_ok || t_bad "--force-new run"
ls -d "$O"/tiny.old-* >/dev/null 2>&1 && cmp -s "$O"/tiny.old-*/summary.csv "$T_TMP/summary.csv" && t_ok ||
    t_bad "old run not kept aside"

# bad configs: one line naming FILE:LINE and the key
printf '[run]\nname = x\nmodel = %s\nthreads = 0\nthreds = 1\n[benchmark]\nname = ruler\ntasks = fwe\nlengths = 256\n[variant.a]\nvariant = dense\n' "$M" >"$T_TMP/bad1.ini"
expect_error "unknown key" 'bad1\.ini:5: unknown key .threds. in \[run\]' "$EVALCTL" run --config "$T_TMP/bad1.ini"
sed 's/^\[variant.a\]/[varient.a]/; s/^threds = 1$//' "$T_TMP/bad1.ini" >"$T_TMP/bad2.ini"
expect_error "unknown section" 'bad2\.ini:10: .*varient\.a' "$EVALCTL" run --config "$T_TMP/bad2.ini"
sed 's/^threds = 1$/chunk = many/' "$T_TMP/bad1.ini" >"$T_TMP/bad3.ini"
expect_error "bad value" 'bad3\.ini:5: \[run\] chunk' "$EVALCTL" run --config "$T_TMP/bad3.ini"
sed 's/^threds = 1$//; s/^tasks = fwe/tasks = fwe, nope/' "$T_TMP/bad1.ini" >"$T_TMP/bad4.ini"
expect_error "unknown task" "bad4\.ini:8: \[benchmark\] tasks: unknown RULER task 'nope'" "$EVALCTL" run --config "$T_TMP/bad4.ini"
sed 's/^threds = 1$//; s/^variant = dense/variant = dense\nsink = -3/' "$T_TMP/bad1.ini" >"$T_TMP/bad5.ini"
expect_error "bad variant parameter" 'bad5\.ini:12: \[variant\.a\] sink' "$EVALCTL" run --config "$T_TMP/bad5.ini"
expect_error "missing file" 'nothere\.ini' "$EVALCTL" run --config "$T_TMP/nothere.ini"
expect_error "bad --set" 'unknown key .thread. in \[run\]' run --set run.thread=3
# the cuda backend: with no GPU here (or no CUDA in the build) one line saying
# so, before anything is written; with one (make test-gpu), the same run on it
if "$EVALCTL" info --backend cuda >/dev/null 2>&1; then
    run --set run.backend=cuda --set run.name=cuda 2>"$T_TMP/log" || t_bad "cuda run: $(cat "$T_TMP/log")"
    [ "$(wc -l <"$O/cuda/predictions.jsonl")" -eq 4 ] && t_ok || t_bad "cuda run: predictions.jsonl"
    grep -q '"backend": "cuda, ' "$O/cuda/meta.json" && t_ok || t_bad "cuda run: meta.json backend"
else
    expect_error "cuda backend" 'backend cuda: ' run --set run.backend=cuda --set run.name=cuda
    [ ! -e "$O/cuda" ] && t_ok || t_bad "cuda backend: $O/cuda written"
fi

# shards 0/2 and 1/2, merged, give the tables of the unsharded run byte for byte
for s in 0/2 1/2; do
    run --set run.name=sh --shard $s 2>"$T_TMP/log" || t_bad "shard $s: $(cat "$T_TMP/log")"
done
[ -f "$O/sh/predictions.shard-0-of-2.jsonl" ] && [ -f "$O/sh/predictions.shard-1-of-2.jsonl" ] && t_ok || t_bad "shard files"
"$EVALCTL" merge "$O/sh" 2>"$T_TMP/log" || t_bad "merge: $(cat "$T_TMP/log")"
cmp -s "$O/sh/summary.csv" "$T_TMP/summary.csv" && t_ok || t_bad "sharded summary.csv differs"
cmp -s "$O/sh/pvalues.csv" "$T_TMP/pvalues.csv" && t_ok || t_bad "sharded pvalues.csv differs"
[ "$(wc -l <"$O/sh/predictions.jsonl")" -eq 4 ] && t_ok || t_bad "merged predictions"
# a merge with an item missing is refused
head -n 3 "$T_TMP/preds.jsonl" >"$O/sh/predictions.jsonl"
expect_error "merge, item missing" '1 of 4 items missing' "$EVALCTL" merge "$O/sh"
cat "$T_TMP/preds.jsonl" >"$O/sh/predictions.shard-0-of-2.jsonl"
expect_error "merge, duplicate" 'is there twice' "$EVALCTL" merge "$O/sh"

done_tests run_cli
