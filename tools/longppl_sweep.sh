#!/bin/bash
# longppl_sweep.sh - LongPPL and plain perplexity of every attention variant on
# a prefix of the Bible, for the README's LongPPL table:
#   tools/longppl_sweep.sh [BACKEND [BYTES]]    (cuda, 1200000)
# Each sweep line: ctx, T (--longppl), sink, window, block, gamma. Prints the
# `evalctl ppl` lines that matter, one block per variant, settings in order. On
# the GPU the five settings run as concurrent processes (the model is small
# enough that one process leaves the GPU mostly idle between launches); on the
# CPU one after another, since each already uses every core.
set -u
E=${EVALCTL:-./evalctl}
M=${MODEL:-models/smollm2-135m-instruct.gguf}
BK=${1:-cuda}
BYTES=${2:-1200000}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
head -c "$BYTES" data/texts/kjv.txt >"$TMP/text" || exit 1
sweep() {
    for v in dense streaming streaming+delta streaming+recompute block block+delta block+recompute; do
        echo "== ctx $1 trunc $2 sink $3 window $4 block $5 gamma $6 $v"
        "$E" ppl --model "$M" --file "$TMP/text" --ctx "$1" --longppl "$2" --variant "$v" --sink "$3" --window "$4" \
            --block "$5" --gamma "$6" --backend "$BK" --stats 2>&1 | grep '^nll\|^ppl\|^key\|^longppl:\|tokens/s\|evalctl'
    done
}
n=0
while read -r ctx trunc sink window block gamma; do
    n=$((n + 1))
    if [ "$BK" = cuda ]; then
        sweep "$ctx" "$trunc" "$sink" "$window" "$block" "$gamma" >"$TMP/$n.out" &
    else
        sweep "$ctx" "$trunc" "$sink" "$window" "$block" "$gamma" >"$TMP/$n.out"
    fi
done <<'SETTINGS'
4096 1024 16 128 256 32
2048 512 16 128 256 32
4096 1024 64 256 512 64
4096 1024 64 1024 1024 64
2048 512 4 64 128 4
SETTINGS
wait
for i in $(seq 1 "$n"); do cat "$TMP/$i.out"; done
