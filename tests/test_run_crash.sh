# test_run_crash.sh - crash-safety evidence for `evalctl run` on the real
# SmolLM2 model (fwe at 256 tokens, 2 samples x 2 variants, 4 new tokens):
#  (a) a run killed with SIGKILL twice at random moments (after a random number of
#      records, plus a random part of half a record's time), its last record then
#      torn in the middle of the line, and re-run to the end, gives the
#      uninterrupted run's summary.csv and pvalues.csv byte for byte, and its
#      predictions.jsonl and samples.csv byte for byte once the timings
#      (prefill_s, decode_s, which no two runs share) are taken out;
#  (b) three shards running at the same time (one of them killed once and
#      resumed), merged, give the same files, and `evalctl tables` of either
#      run gives the same bytes;
#  (c) one writer at a time: the same run started again while it runs is
#      refused with one line, and so is a merge while a shard runs; once the
#      first is killed, the run resumes.
# The moments of the kills are printed on failure, to replay a case.
. tests/lib.sh
M=models/smollm2-135m-instruct.gguf
need_model run_crash
EV=$(cd "$(dirname "$EVALCTL")" && pwd)/$(basename "$EVALCTL")
CFG=$T_TMP/crash.ini
cat >"$CFG" <<EOF
[run]
name = crash
model = $PWD/$M
threads = 0
max_new_tokens = 4

[benchmark]
name = ruler
tasks = fwe
lengths = 256
samples = 2
seed = 7

[variant.stream]
variant = streaming
sink = 4
window = 32

[variant.stream_delta]
variant = streaming+delta
sink = 4
window = 32
gamma = 16
EOF
N=4 # items
run() { "$EV" run --config "$CFG" --set run.output_dir="$1" "${@:2}"; }
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
# prints the file without the timing fields: JSONL records, or samples.csv rows
untimed() {
    python3 - "$1" <<'PY'
import csv, json, sys
p = sys.argv[1]
if p.endswith(".jsonl"):
    for line in open(p, encoding="utf-8"):
        r = json.loads(line)
        r.pop("prefill_s"); r.pop("decode_s")
        print(json.dumps(r, ensure_ascii=False))
else:
    rows = list(csv.reader(open(p, newline="", encoding="utf-8")))
    i, j = rows[0].index("prefill_s"), rows[0].index("decode_s")
    for r in rows:
        print(json.dumps([x for k, x in enumerate(r) if k not in (i, j)], ensure_ascii=False))
PY
}
# same DIR1 DIR2 WHAT: the run files of two run directories agree
same() {
    local f
    for f in summary.csv pvalues.csv; do
        cmp -s "$1/$f" "$2/$f" && t_ok || t_bad "$3: $f differs: $(diff "$1/$f" "$2/$f" | head -n 4)"
    done
    for f in predictions.jsonl samples.csv; do
        [ "$(untimed "$1/$f")" = "$(untimed "$2/$f")" ] && t_ok || t_bad "$3: $f differs beyond the timings"
    done
}
# starts a run in the background into $1, kills it with SIGKILL once the
# predictions file $2 has at least $3 lines, $4 ms later; says what it did in $LOG
kill_after() {
    local dir=$1 preds=$2 want=$3 ms=$4 pid i
    # not through run(): $! must be evalctl itself, not a subshell around it
    "$EV" run --config "$CFG" --set run.output_dir="$dir" "${@:5}" 2>>"$T_TMP/runlog" &
    pid=$!
    for ((i = 0; i < 3000; i++)); do # 150 s at most
        [ "$(lines "$preds")" -ge "$want" ] && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.05
    done
    sleep "$(printf '0.%03d' "$ms")"
    if kill -9 $pid 2>/dev/null; then
        LOG+=" killed after $(lines "$preds") records (+${ms} ms);"
    else
        LOG+=" ended before the kill;"
    fi
    wait $pid 2>/dev/null
}

# the uninterrupted run
run "$T_TMP/one" 2>"$T_TMP/log" || t_bad "uninterrupted run: $(cat "$T_TMP/log")"
[ "$(lines "$T_TMP/one/crash/predictions.jsonl")" -eq $N ] && t_ok || t_bad "uninterrupted run: not $N records"
# kills land within half of the fastest record's time after the awaited
# record, so that the next one is still in flight on any machine (a fixed
# 0.9 s once let a resumed run finish its last two records before the kill)
REC_MS=$(python3 -c '
import json, sys
t = min(r["prefill_s"] + r["decode_s"] for r in map(json.loads, open(sys.argv[1])))
print(max(20, min(999, int(t * 500))))' "$T_TMP/one/crash/predictions.jsonl")

# (a) killed twice, then a torn last line, then to the end
D=$T_TMP/killed/crash
LOG="(a):"
kill_after "$T_TMP/killed" "$D/predictions.jsonl" $((RANDOM % 2)) $((RANDOM % REC_MS))
kill_after "$T_TMP/killed" "$D/predictions.jsonl" $((2 + RANDOM % 2)) $((RANDOM % REC_MS))
k=$(lines "$D/predictions.jsonl")
[ "$k" -lt $N ] && t_ok || t_bad "$LOG the run was not interrupted"
# no record twice, none half-written but possibly the last
python3 - "$D/predictions.jsonl" <<'PY' && t_ok || t_bad "$LOG after the kills: $(cat "$D/predictions.jsonl")"
import json, sys
data = open(sys.argv[1], encoding="utf-8").read() if __import__("os").path.exists(sys.argv[1]) else ""
lines = data.split("\n")
whole = [json.loads(l) for l in lines[:-1]]
keys = [(r["variant"], r["index"]) for r in whole]
assert len(keys) == len(set(keys)), keys
PY
# tear the last record in the middle of its line
if [ "$k" -ge 1 ]; then
    size=$(stat -c %s "$D/predictions.jsonl")
    last=$(tail -n 1 "$D/predictions.jsonl" | wc -c)
    truncate -s $((size - last / 2)) "$D/predictions.jsonl"
    LOG+=" tore record $k;"
fi
run "$T_TMP/killed" 2>"$T_TMP/log" || t_bad "$LOG re-run: $(cat "$T_TMP/log")"
if [ "$k" -ge 1 ]; then
    grep -q 'dropping a torn last record' "$T_TMP/log" && t_ok || t_bad "$LOG the torn record was not dropped"
fi
grep -q "$((N - k + (k >= 1 ? 1 : 0))) of $N samples to do (resuming)" "$T_TMP/log" && t_ok ||
    t_bad "$LOG re-run did not resume with $((N - k + 1)) to do: $(cat "$T_TMP/log")"
same "$T_TMP/one/crash" "$D" "$LOG"

# (b) three shards at once, shard 1 killed once and resumed, then merged
D=$T_TMP/sharded/crash
LOG="(b):"
# all three start at once in a new directory, as a Slurm array's do
"$EV" run --config "$CFG" --set run.output_dir="$T_TMP/sharded" --shard 0/3 2>>"$T_TMP/runlog" &
p0=$!
"$EV" run --config "$CFG" --set run.output_dir="$T_TMP/sharded" --shard 2/3 2>>"$T_TMP/runlog" &
p2=$!
kill_after "$T_TMP/sharded" "$D/predictions.shard-1-of-3.jsonl" 0 $((RANDOM % REC_MS)) --shard 1/3
run "$T_TMP/sharded" --shard 1/3 2>>"$T_TMP/runlog" || t_bad "$LOG shard 1 resumed: $(tail -n 3 "$T_TMP/runlog")"
wait $p0 && wait $p2 && t_ok || t_bad "$LOG a shard failed: $(tail -n 5 "$T_TMP/runlog")"
"$EV" merge "$D" 2>"$T_TMP/log" || t_bad "$LOG merge: $(cat "$T_TMP/log")"
same "$T_TMP/one/crash" "$D" "$LOG"

# the tables of the three runs, each made from its own directory: same bytes
for r in one killed sharded; do
    (cd "$T_TMP/$r" && "$EV" tables crash --out tables >/dev/null 2>"$T_TMP/log") || t_bad "tables of $r: $(cat "$T_TMP/log")"
done
diff -r "$T_TMP/one/tables" "$T_TMP/killed/tables" >/dev/null && t_ok || t_bad "(a) tables differ"
diff -r "$T_TMP/one/tables" "$T_TMP/sharded/tables" >/dev/null && t_ok || t_bad "(b) tables differ"
[ "$(ls "$T_TMP/one/tables" | wc -l)" -ge 8 ] && t_ok || t_bad "tables: $(ls "$T_TMP/one/tables")"

# (c) one writer at a time
D=$T_TMP/busy
B=(--set run.name=busy --set benchmark.samples=12) # 24 items: long enough to be caught running
wait_started() { # $1: pid, $2: the run's config.ini, written once its lock is held and the model loaded
    local i
    for ((i = 0; i < 1200; i++)); do
        [ -f "$2" ] && return 0
        kill -0 "$1" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}
"$EV" run --config "$CFG" --set run.output_dir="$D" "${B[@]}" 2>>"$T_TMP/runlog" &
pa=$!
if wait_started $pa "$D/busy/config.ini"; then
    expect_error "(c) the same run twice" "busy: another evalctl is writing this run \\(it holds .*\\.busy\\.lock\\)" \
        "$EV" run --config "$CFG" --set run.output_dir="$D" "${B[@]}"
    kill -0 $pa 2>/dev/null && t_ok || t_bad "(c) the first run ended before the second was refused"
else
    t_bad "(c) the first run did not start: $(tail -n 3 "$T_TMP/runlog")"
fi
kill -9 $pa 2>/dev/null
wait $pa 2>/dev/null
run "$D" "${B[@]}" 2>"$T_TMP/log" && t_ok || t_bad "(c) resumed after the kill: $(cat "$T_TMP/log")"
[ "$(lines "$D/busy/predictions.jsonl")" -eq 24 ] && t_ok || t_bad "(c) not 24 records"
"$EV" run --config "$CFG" --set run.output_dir="$T_TMP/busy2" "${B[@]}" --shard 0/2 2>>"$T_TMP/runlog" &
pa=$!
if wait_started $pa "$T_TMP/busy2/busy/config.ini" && wait_started $pa "$T_TMP/busy2/busy/predictions.shard-0-of-2.jsonl"; then
    expect_error "(c) merge while a shard runs" "another evalctl is writing this run shard" "$EV" merge "$T_TMP/busy2/busy"
else
    t_bad "(c) shard 0/2 did not start: $(tail -n 3 "$T_TMP/runlog")"
fi
kill -9 $pa 2>/dev/null
wait $pa 2>/dev/null

done_tests run_crash
