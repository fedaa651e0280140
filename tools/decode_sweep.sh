#!/bin/bash
# decode_sweep.sh - the paper's Fig. 3 setting on SmolLM2 (variants-model
# decode: every layer sparse in the prefill, the last 64 prompt tokens decoded
# densely over the cache it left), for the README's decode tables:
#   tools/decode_sweep.sh run [BACKEND [SAMPLES]]   (cuda, 20)  raw outputs
#   tools/decode_sweep.sh summary FILE               the tables from run's output
#   tools/decode_sweep.sh nll FILE GROUP VARIANT     the decoded tokens' mean NLL
#                                   of each record of GROUP (e.g. "bible
#                                   64,256,512,64"), one a line, for permtest
# run: RULER niah_single_1, niah_single_2 and niah_multikey_1 at 4K, SAMPLES
# records each at each of $SAMPLE_PARAMS (sink,window,block,gamma; default
# configs/quickstart.ini's 16,128,256,32 and the paper's gamma 64 with a window
# of 256); then record 0 of each and the Bible (data/texts/kjv.txt) at each of
# $SETTINGS (default six). $TEXT_SAMPLES (default 0) adds that many 4096-token
# windows of the Bible at each of $SAMPLE_PARAMS, spread evenly through it
# (variants-model --at), the last $TEXT_DECODE (64) tokens of each decoded;
# TASKS= SETTINGS= runs those alone. Each output starts with a `== what` line.
# On the GPU the processes run 8 at a time (one leaves the GPU mostly idle); on
# the CPU one at a time.
set -u
V=${VARIANTS_MODEL:-build/variants-model}
E=${EVALCTL:-./evalctl}
M=${MODEL:-models/smollm2-135m-instruct.gguf}
TASKS=${TASKS-niah_single_1 niah_single_2 niah_multikey_1}
TEXT_SAMPLES=${TEXT_SAMPLES:-0}
TEXT_DECODE=${TEXT_DECODE:-64}
SAMPLE_PARAMS=${SAMPLE_PARAMS-16,128,256,32 64,256,512,64}
SETTINGS=${SETTINGS-16,128,256,32 16,128,256,64 4,64,128,4 64,256,512,16 64,256,512,64 64,1024,1024,64}

summary() {
    # per group (the `== ` line without its record): the last layer's mean
    # cosine per variant averaged over records, in how many records +delta is
    # closer there, the median count of layers where it is closer, and the
    # decoded tokens' mean NLL per variant averaged over records
    awk '
    /^== / { g = $2 " " $3; if (!(g in n)) order[++ng] = g; n[g]++; next }
    /^S=.*decode steps/ { nv = split($0, h, " positions of ")
                          nvar = split(h[2], names, " "); next }
    /^ *[0-9]+ [0-9.]+( [0-9.]+)+$/ { layer = $1
        for (k = 2; k <= NF; k++) c[k - 1] = $k
        if (c[2] > c[1]) cs[g]++
        if (nvar >= 6 && c[5] > c[4]) cb[g]++
        if (layer > last) last = layer
        for (k = 1; k < NF; k++) lc[g, layer, k] = c[k]
        next }
    /^decoded tokens/ {
        for (k = 5; k < NF; k += 2) {
            nll[g, $(k)] += $(k + 1)
            if (!((g, $(k)) in seen)) { seen[g, $(k)] = 1; vn[g, ++nvn[g]] = $(k) }
        }
        L = last
        for (k = 1; k <= nvar; k++) sc[g, k] += lc[g, L, k]
        if (lc[g, L, 2] > lc[g, L, 1]) ws[g]++
        if (nvar >= 6 && lc[g, L, 5] > lc[g, L, 4]) wb[g]++
        ls[g, n[g]] = cs[g] + 0; lb[g, n[g]] = cb[g] + 0; cs[g] = 0; cb[g] = 0
        next }
    END {
        for (i = 1; i <= ng; i++) {
            g = order[i]; m = n[g]
            printf "%s (%d): last layer, mean cosine to dense:", g, m
            for (k = 1; k <= nvar; k++) printf " %s %.4f", names[k], sc[g, k] / m
            printf "\n  +delta closer at the last layer in %d of %d (streaming), %d of %d (block)", ws[g], m, wb[g], m
            printf "; layers where it is closer, median: %s (streaming), %s (block)\n", med(ls, g, m), med(lb, g, m)
            printf "  decoded tokens, mean nll:"
            for (k = 1; k <= nvn[g]; k++) printf " %s %.4f", vn[g, k], nll[g, vn[g, k]] / m
            printf "\n"
        }
    }
    function med(a, g, m,   x, j, k, t) {
        for (j = 1; j <= m; j++) x[j] = a[g, j]
        for (j = 2; j <= m; j++) for (k = j; k > 1 && x[k - 1] > x[k]; k--) { t = x[k]; x[k] = x[k - 1]; x[k - 1] = t }
        return m % 2 ? x[(m + 1) / 2] : (x[m / 2] + x[m / 2 + 1]) / 2
    }' "$1"
}

nll() {
    awk -v want="$2" -v v="$3" '
    /^== / { g = $2 " " $3; next }
    /^decoded tokens/ && g == want { for (k = 5; k < NF; k += 2) if ($(k) == v) print $(k + 1) }' "$1"
}

run() {
    local bk=${1:-cuda} samples=${2:-20} jobs n=0
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    jobs=$([ "$bk" = cuda ] && echo 8 || echo 1)
    if [ -n "$TASKS" ]; then
        "$E" gen ruler --model "$M" --length 4096 --out "$tmp/r" --samples "$samples" --tasks "${TASKS// /,}" \
            >/dev/null || exit 1
    fi
    one() { # name, then variants-model's arguments
        local name=$1
        shift
        { echo "== $name"; "$V" decode --backend "$bk" "$@" 2>&1; } >"$tmp/$n.out" &
        n=$((n + 1))
        [ $((n % jobs)) -eq 0 ] && wait
    }
    for p in $SAMPLE_PARAMS; do
        for t in $TASKS; do
            for k in $(seq 0 $((samples - 1))); do
                one "$t $p record $k" --ruler "$tmp/r/$t.jsonl" --record "$k" --params "$p"
            done
        done
        for k in $(seq 0 $((TEXT_SAMPLES - 1))); do
            # window k starts (k + 1/2) / TEXT_SAMPLES of the way through the first 96%
            one "bible $p record $k" --text data/texts/kjv.txt --len 4096 --decode "$TEXT_DECODE" --params "$p" \
                --at "$(awk -v k="$k" -v n="$TEXT_SAMPLES" 'BEGIN { printf "%.4f", (k + 0.5) / n * 0.96 }')"
        done
    done
    for p in $SETTINGS; do
        for t in $TASKS; do one "$t:0 $p" --ruler "$tmp/r/$t.jsonl" --params "$p"; done
        one "kjv $p" --text data/texts/kjv.txt --len 4096 --params "$p"
    done
    wait
    for k in $(seq 0 $((n - 1))); do cat "$tmp/$k.out"; done
}

case "${1:-}" in
run) shift; run "$@" ;;
summary) summary "$2" ;;
nll) nll "$2" "$3" "$4" ;;
*) echo "usage: tools/decode_sweep.sh run [BACKEND [SAMPLES]] | summary FILE | nll FILE GROUP VARIANT" >&2; exit 2 ;;
esac
