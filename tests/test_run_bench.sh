# test_run_bench.sh - `evalctl run` beyond generated RULER, on the real SmolLM2
# model at tiny lengths: RULER files prepared by NVIDIA's own prepare.py read
# as they are (and giving the predictions of the same samples generated in
# memory), InfiniteBench on locally generated passkey files and hand-made
# records in the official format (prompt lengths from the official harness,
# scores from the official metric), PG19 under two variants (per-book nll as
# `evalctl ppl` measures it, perplexity and its direction in the tables), a
# sample that cannot run recorded with its error, and bad inputs refused with
# one line before anything is written.
. tests/lib.sh
M=models/smollm2-135m-instruct.gguf
need_model run_bench
O=$T_TMP/res
FX=tests/fixtures/run
# cfg FILE BENCHMARK-LINES...: a config with one streaming pair (or the variants given in $VARS)
cfg() {
    local f=$1; shift
    {
        printf '[run]\nname = %s\nmodel = %s\nthreads = 0\noutput_dir = %s\n%s\n[benchmark]\n' \
            "$(basename "$f" .ini)" "$M" "$O" "${RUNX:-}"
        printf '%s\n' "$@"
        printf '%s\n' "${VARS:-[variant.stream]
variant = streaming
sink = 4
window = 16}"
    } >"$f"
}
pyrun() { python3 - "$@" && t_ok || t_bad "python check $1 failed"; }

# ---------------------------------------------------------------- RULER
# NVIDIA's prepare.py output, in RULER's run.sh tree (LENGTH/data/TASK/validation.jsonl)
RUNX='max_new_tokens = 4' cfg "$T_TMP/official.ini" 'name = ruler' 'tasks = fwe' 'lengths = 256' 'samples = 2' \
    "data_dir = $FX/ruler"
"$EVALCTL" run --config "$T_TMP/official.ini" 2>"$T_TMP/log" || t_bad "official RULER files: $(cat "$T_TMP/log")"
# prompt = input + answer_prefix as RULER's call_api.py sends it: RULER counted
# those tokens (SmolLM2's tokenizer, which adds no BOS) plus tokens_to_generate (50)
pyrun "$O/official/predictions.jsonl" "$FX/ruler/256/data/fwe/validation.jsonl" <<'PY'
import json, sys
preds = [json.loads(l) for l in open(sys.argv[1])]
src = [json.loads(l) for l in open(sys.argv[2])]
assert len(preds) == 2, preds
for p, s in zip(preds, src):
    assert p["prompt_tokens"] == s["length"] - 50, (p["prompt_tokens"], s["length"])
    assert p["outputs"] == s["outputs"] and p["data_index"] == s["index"] and p["new_tokens"] <= 4
    pred = p["pred"].strip()
    assert p["score"] == round(100 * sum(o.lower() in pred.lower() for o in s["outputs"]) / len(s["outputs"]), 2)
PY

# the same samples generated in memory and written by gen ruler, then read: the same predictions
VARS='[variant.stream]
variant = streaming
sink = 4
window = 16' RUNX='max_new_tokens = 4' cfg "$T_TMP/gen.ini" 'name = ruler' 'tasks = fwe' 'lengths = 256' 'samples = 1' 'seed = 7'
"$EVALCTL" run --config "$T_TMP/gen.ini" 2>"$T_TMP/log" || t_bad "generated: $(cat "$T_TMP/log")"
"$EVALCTL" gen ruler --model "$M" --length 256 --samples 1 --seed 7 --tasks fwe --out "$T_TMP/prep" >/dev/null 2>&1 ||
    t_bad "gen ruler"
RUNX='max_new_tokens = 4' cfg "$T_TMP/prep.ini" 'name = ruler' 'tasks = fwe' 'lengths = 256' 'samples = 1' 'seed = 7' \
    "data_dir = $T_TMP/prep"
"$EVALCTL" run --config "$T_TMP/prep.ini" 2>"$T_TMP/log" || t_bad "prepared: $(cat "$T_TMP/log")"
pyrun "$O/gen/predictions.jsonl" "$O/prep/predictions.jsonl" <<'PY'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert len(a) == len(b) == 1
for x, y in zip(a, b):
    for k in ("task", "length", "index", "variant", "prompt_tokens", "new_tokens", "pred", "outputs", "score"):
        assert x[k] == y[k], (k, x[k], y[k])
PY
cmp -s "$O/gen/summary.csv" "$O/prep/summary.csv" && t_ok || t_bad "generated and prepared summaries differ"

# a sample whose prompt does not fit gets a record with its error and score 0;
# the run goes on and writes its tables
mkdir -p "$T_TMP/long"
python3 - "$T_TMP/long/fwe.jsonl" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    f.write(json.dumps({"index": 0, "input": "word " * 400, "outputs": ["word"], "answer_prefix": " Answer:"}) + "\n")
PY
cfg "$T_TMP/long.ini" 'name = ruler' 'tasks = fwe' 'lengths = 256' 'samples = 1' "data_dir = $T_TMP/long"
"$EVALCTL" run --config "$T_TMP/long.ini" 2>"$T_TMP/log" || t_bad "a run with a sample too long failed: $(cat "$T_TMP/log")"
grep -q '"score":0.0,"error":"fwe length 256 index 0 variant stream: prompt of [0-9]* tokens leaves no room' \
    "$O/long/predictions.jsonl" && t_ok || t_bad "error record: $(cat "$O/long/predictions.jsonl")"
grep -q '^256,fwe,stream,1,0.0000,' "$O/long/summary.csv" && t_ok || t_bad "summary with the error: $(cat "$O/long/summary.csv")"
grep -q 'recorded with score 0' "$T_TMP/log" && t_ok || t_bad "error not reported: $(cat "$T_TMP/log")"

# ---------------------------------------------------------- InfiniteBench
IB=$T_TMP/ib
"$EVALCTL" gen infinitebench --model "$M" --tasks passkey --length 100 --samples 2 --seed 3 --out "$IB" >/dev/null 2>&1 ||
    t_bad "gen infinitebench"
cp tests/fixtures/infbench/data/longbook_choice_eng.jsonl "$IB/"
VARS='[variant.dense]
variant = dense' RUNX='max_new_tokens = 6' cfg "$T_TMP/ib.ini" 'name = infinitebench' "data_dir = $IB" \
    'tasks = passkey, longbook_choice_eng' 'lengths = 64, 128' 'samples = 2'
"$EVALCTL" run --config "$T_TMP/ib.ini" 2>"$T_TMP/log" || t_bad "infinitebench: $(cat "$T_TMP/log")"
[ "$(wc -l <"$O/ib/predictions.jsonl")" -eq 8 ] && t_ok || t_bad "infinitebench records"
grep -q '^length,task,variant,n,mean,ci_lo,ci_hi' "$O/ib/summary.csv" && grep -q '^128,average,dense,2,' "$O/ib/summary.csv" &&
    t_ok || t_bad "infinitebench summary: $(cat "$O/ib/summary.csv")"
# the official metric (evalctl metric, checked against the official scorer) on
# each prediction gives its score; prompt lengths are the official harness's
# (tools/gen_run_fixtures.py) and passkey prompts are cut to the length
python3 - "$O/ib/predictions.jsonl" "$T_TMP/ib" "$FX/infbench_expected.jsonl" <<'PY' || t_bad "infinitebench records"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
exp = {(e["task"], e["line"], e["length"]): e["prompt_tokens"] for e in map(json.loads, open(sys.argv[3]))}
for task in ("passkey", "longbook_choice_eng"):
    with open("%s_%s.jsonl" % (sys.argv[2], task), "w") as f:
        for r in recs:
            if r["task"] == task:
                f.write(json.dumps({"pred": r["pred"], "answer": r["answer"], "options": r.get("options", [])}) + "\n")
with open(sys.argv[2] + "_scores", "w") as f:
    for task in ("passkey", "longbook_choice_eng"):
        for r in recs:
            if r["task"] == task:
                f.write(repr(r["score"]) + "\n")
for r in recs:
    assert r["new_tokens"] <= 6 and "error" not in r, r
    if r["task"] == "longbook_choice_eng":
        assert r["prompt_tokens"] == exp[(r["task"], r["index"] + 1, r["length"])], r
        assert len(r["options"]) >= 4
    else:
        assert r["prompt_tokens"] == (64 if r["length"] == 64 else 94), r
PY
{ "$EVALCTL" metric --name passkey --in "$T_TMP/ib_passkey.jsonl" &&
  "$EVALCTL" metric --name longbook_choice_eng --in "$T_TMP/ib_longbook_choice_eng.jsonl"; } >"$T_TMP/ib_metric" 2>&1
cmp -s "$T_TMP/ib_metric" "$T_TMP/ib_scores" && t_ok ||
    t_bad "scores differ from evalctl metric: $(paste "$T_TMP/ib_metric" "$T_TMP/ib_scores" | tr '\n' ' ')"
grep -q '^128,passkey,dense,2,1.0000,' "$O/ib/summary.csv" && t_ok ||
    t_bad "SmolLM2 should find both pass keys in 94 tokens: $(grep passkey "$O/ib/summary.csv")"

# ---------------------------------------------------------------- PG19
VARS='[variant.stream]
variant = streaming
sink = 4
window = 8
[variant.stream_delta]
variant = streaming+delta
sink = 4
window = 8
gamma = 8' cfg "$T_TMP/pg.ini" 'name = pg19' 'books = tests/fixtures/pg19/books.jsonl' 'lengths = 32, 128' 'samples = 3'
"$EVALCTL" run --config "$T_TMP/pg.ini" 2>"$T_TMP/log" || t_bad "pg19: $(cat "$T_TMP/log")"
# the per-book figures of evalctl ppl under the same variant and window
"$EVALCTL" ppl --model "$M" --file tests/fixtures/pg19/books.jsonl --ctx 128 --variant streaming+delta --sink 4 \
    --window 8 --gamma 8 >"$T_TMP/ppl" 2>&1 || t_bad "ppl: $(cat "$T_TMP/ppl")"
python3 - "$O/pg/predictions.jsonl" "$T_TMP/ppl" "$O/pg/summary.csv" "$O/pg/pvalues.csv" <<'PY' || t_bad "pg19 records"
import csv, json, math, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert len(recs) == 12
books = {}
for line in open(sys.argv[2]):
    if line.startswith("book: "):
        f = dict(kv.split("=", 1) for kv in line.split()[2:6])
        books[int(line.split()[1])] = f
for r in recs:
    if r["index"] == 1:  # the empty book: an error record, nothing scored
        assert r["tokens"] == 0 and r["nll"] == 0 and "no window of 2" in r["error"], r
        continue
    assert "error" not in r and abs(r["score"] - r["nll"] / r["tokens"]) < 1e-8, r
    if r["length"] == 128 and r["variant"] == "stream_delta":
        b = books[r["index"]]
        assert int(b["scored"]) == r["tokens"] and int(b["windows"]) == r["windows"], (b, r)
        assert abs(float(b["nll"]) - r["nll"] / r["tokens"]) < 2e-6, (b, r)
rows = list(csv.DictReader(open(sys.argv[3], newline="")))
assert [k for k in rows[0]] == ["length", "task", "variant", "n", "mean", "ci_lo", "ci_hi"]
for row in rows:
    sel = [r for r in recs if r["length"] == int(row["length"]) and r["variant"] == row["variant"]]
    ppl = math.exp(sum(r["nll"] for r in sel) / sum(r["tokens"] for r in sel))
    assert row["task"] in ("pg19", "average") and row["n"] == "3", row
    assert abs(float(row["mean"]) - ppl) < 6e-5, (row, ppl)
    assert float(row["ci_lo"]) <= float(row["mean"]) <= float(row["ci_hi"]), row
pv = list(csv.DictReader(open(sys.argv[4], newline="")))
assert len(pv) == 2 and all(p["group"] == "pg19" and p["base"] == "stream" for p in pv), pv
for p in pv:
    sel = lambda v: [r["score"] for r in sorted(recs, key=lambda r: r["index"]) if r["length"] == int(p["length"]) and r["variant"] == v]
    base, var = sel("stream"), sel("stream_delta")
    assert abs(float(p["mean_base"]) - sum(base) / 3) < 6e-5 and abs(float(p["mean_variant"]) - sum(var) / 3) < 6e-5, p
    assert abs(float(p["mean_diff"]) - (sum(var) - sum(base)) / 3) < 1e-4, p
# at 128 tokens the delta variant's dense last rows cover the whole window: far lower nll
p128 = [p for p in pv if p["length"] == "128"][0]
assert float(p128["mean_diff"]) < -0.1, p128
PY

# PG19 with LongPPL ([benchmark] longppl): each book's key tokens and their nll
# sum as `evalctl ppl --longppl` gives for that book alone; a longppl row per
# variant, exp(sum key nll / sum key tokens); a longppl group of p-values over
# the books with key tokens; samples.csv's key columns
# four books of Genesis, one a JSONL line each, long enough for key tokens
python3 - "$T_TMP/lp.jsonl" <<'PY'
import json, sys
t = open("data/texts/kjv.txt", encoding="utf-8").read()
with open(sys.argv[1], "w") as f:
    for i, (a, n) in enumerate([(3000, 700), (9000, 500), (20000, 900), (40000, 400)]):
        f.write(json.dumps({"short_book_title": "book %d" % i, "text": t[a:a + n]}) + "\n")
PY
VARS='[variant.stream]
variant = streaming
sink = 4
window = 8
[variant.stream_delta]
variant = streaming+delta
sink = 4
window = 8
gamma = 8' cfg "$T_TMP/pglp.ini" 'name = pg19' "books = $T_TMP/lp.jsonl" 'lengths = 96' 'samples = 4' \
    'longppl = 32' 'longppl_slide = 16'
"$EVALCTL" run --config "$T_TMP/pglp.ini" 2>"$T_TMP/log" && t_ok || t_bad "pg19 longppl: $(cat "$T_TMP/log")"
i=0
while IFS= read -r line; do
    printf '%s\n' "$line" >"$T_TMP/book$i.jsonl"
    for v in streaming streaming+delta; do
        "$EVALCTL" ppl --model "$M" --file "$T_TMP/book$i.jsonl" --ctx 96 --longppl 32 --slide 16 --variant $v --sink 4 \
            --window 8 --gamma 8 >"$T_TMP/book$i.$v" 2>&1
    done
    i=$((i + 1))
done <"$T_TMP/lp.jsonl"
pyrun "$O/pglp" "$T_TMP" <<'PY'
import csv, json, math, sys
d, tmp = sys.argv[1], sys.argv[2]
recs = [json.loads(l) for l in open(d + "/predictions.jsonl")]
assert len(recs) == 8, len(recs)
def ppl_out(i, v):
    out = dict(l.split(": ", 1) for l in open("%s/book%d.%s" % (tmp, i, v)).read().splitlines() if ": " in l)
    k = int(out["key_tokens"]) if "key_tokens" in out else 0
    return k, float(out["key_nll"]) if k else 0.0
keyed = 0
for r in recs:
    k, m = ppl_out(r["index"], {"stream": "streaming", "stream_delta": "streaming+delta"}[r["variant"]])
    assert r["key_tokens"] == k and abs(r["key_nll"] - k * m) < 1e-4 * max(1, k), (r, k, m)
    keyed += r["key_tokens"] > 0
assert keyed >= 6, "too few books with key tokens to test: %d" % keyed
rows = [r for r in csv.DictReader(open(d + "/summary.csv", newline="")) if r["task"] == "longppl"]
assert sorted(r["variant"] for r in rows) == ["stream", "stream_delta"], rows
for row in rows:
    sel = [r for r in recs if r["variant"] == row["variant"]]
    lp = math.exp(sum(r["key_nll"] for r in sel) / sum(r["key_tokens"] for r in sel))
    assert abs(float(row["mean"]) - lp) < 1e-4 * lp and row["n"] == "4", (row, lp)
    assert float(row["ci_lo"]) <= float(row["mean"]) <= float(row["ci_hi"]), row
pv = [p for p in csv.DictReader(open(d + "/pvalues.csv", newline="")) if p["group"] == "longppl"]
assert len(pv) == 1 and pv[0]["variant"] == "stream_delta" and pv[0]["base"] == "stream", pv
def key_means(v):
    return {r["index"]: r["key_nll"] / r["key_tokens"] for r in recs if r["variant"] == v and r["key_tokens"]}
b, a = key_means("stream"), key_means("stream_delta")
both = sorted(set(a) & set(b))
assert int(pv[0]["n"]) == len(both) >= 2, (pv, both)
assert abs(float(pv[0]["mean_base"]) - sum(b[i] for i in both) / len(both)) < 6e-5, pv
assert abs(float(pv[0]["mean_variant"]) - sum(a[i] for i in both) / len(both)) < 6e-5, pv
smp = list(csv.DictReader(open(d + "/samples.csv", newline="")))
for s, r in zip(smp, recs):
    assert int(s["key_tokens"]) == r["key_tokens"], (s, r)
    assert (s["key_score"] == "") == (r["key_tokens"] == 0), s
    if r["key_tokens"]:
        assert abs(float(s["key_score"]) - r["key_nll"] / r["key_tokens"]) < 1e-5, (s, r)
PY

# ------------------------------------------------------------- bad input
# one line naming the file, the line and the field; no run directory
B=$T_TMP/bad
mkdir -p "$B/r"
head -n 1 "$FX/ruler/256/data/fwe/validation.jsonl" >"$B/r/fwe.jsonl"
echo '{"index": 1, "input": "x", "outputs": ["a"' >>"$B/r/fwe.jsonl"
cfg "$T_TMP/bad.ini" 'name = ruler' 'tasks = fwe' 'lengths = 256' 'samples = 2'
bad() { "$EVALCTL" run --config "$T_TMP/bad.ini" --set run.output_dir="$B/out" "$@"; }
expect_error "malformed JSONL line" "$B/r/fwe\\.jsonl:2: invalid JSON" bad --set benchmark.data_dir="$B/r"
head -n 1 "$FX/ruler/256/data/fwe/validation.jsonl" >"$B/r/fwe.jsonl"
printf '{"index": 1, "input": "x"}\n' >>"$B/r/fwe.jsonl"
expect_error "missing field" "$B/r/fwe\\.jsonl:2: missing field .outputs." bad --set benchmark.data_dir="$B/r"
expect_error "fewer records than samples" 'official/fwe\.jsonl: 2 records, fewer than \[benchmark\] samples = 3' \
    bad --set benchmark.data_dir=tests/fixtures/ruler/official --set benchmark.lengths=2048 --set benchmark.samples=3
expect_error "prepared for a longer length" 'official/fwe\.jsonl:1: length: [0-9]+, longer than the 1024' \
    bad --set benchmark.data_dir=tests/fixtures/ruler/official --set benchmark.lengths=1024
expect_error "no directory per length" 'official/1024: no directory for length 1024' \
    bad --set benchmark.data_dir=tests/fixtures/ruler/official --set benchmark.lengths=1024,2048
expect_error "RULER length too short for the template" \
    'benchmark\.lengths=128: \[benchmark\] lengths: 128 is too short for niah_single_1 \(its template and answer need' \
    bad --set benchmark.tasks=niah_single_1 --set benchmark.lengths=128
expect_error "unknown InfiniteBench task" "\\[benchmark\\] tasks: unknown InfiniteBench task 'passkee'" \
    bad --set benchmark.name=infinitebench --set benchmark.tasks=passkee --set benchmark.data_dir="$B/r"
expect_error "missing InfiniteBench file" "$B/r/passkey\\.jsonl: no such file" \
    bad --set benchmark.name=infinitebench --set benchmark.tasks=passkey --set benchmark.data_dir="$B/r"
mkdir -p "$B/ib"
printf '{"id": 0, "input": "What is the pass key?", "answer": ["1"], "options": []}\n' >"$B/ib/passkey.jsonl"
expect_error "InfiniteBench record without context" "$B/ib/passkey\\.jsonl:1: missing field .context." \
    bad --set benchmark.name=infinitebench --set benchmark.tasks=passkey --set benchmark.data_dir="$B/ib" \
    --set benchmark.samples=1
printf '{"id": 0, "context": "x", "input": "What is the pass key?", "options": []}\n' >"$B/ib/passkey.jsonl"
expect_error "InfiniteBench record without answer" "$B/ib/passkey\\.jsonl:1: .*answer" \
    bad --set benchmark.name=infinitebench --set benchmark.tasks=passkey --set benchmark.data_dir="$B/ib" \
    --set benchmark.samples=1
expect_error "InfiniteBench length too short for the template" \
    'lengths: 16 is too short for longbook_choice_eng \(its prompt without the context is [0-9]+ tokens, .*longbook_choice_eng\.jsonl:1\)' \
    bad --set benchmark.name=infinitebench --set benchmark.tasks=longbook_choice_eng \
    --set benchmark.data_dir=tests/fixtures/infbench/data --set benchmark.lengths=16
expect_error "too few books" 'books\.jsonl: 4 books, fewer than \[benchmark\] samples = 9' \
    bad --set benchmark.name=pg19 --set benchmark.tasks=pg19 --set benchmark.books=tests/fixtures/pg19/books.jsonl --set benchmark.samples=9
expect_error "length beyond the model" 'lengths: 9999999 is longer than the model.s context of 8192 tokens' \
    bad --set benchmark.lengths=9999999
[ -e "$B/out" ] && t_bad "bad input left $(ls -R "$B/out")" || t_ok

done_tests run_bench
