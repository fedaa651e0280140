#!/bin/bash
# longppl_sweep.sh - LongPPL and plain perplexity of every attention variant on
# a prefix of the Bible, for the README's LongPPL table:
#   tools/longppl_sweep.sh [BACKEND [BYTES]]    (cuda, 1200000)
# Each line set: ctx, T (--longppl), sink, window, block, gamma. Prints the
# `evalctl ppl` lines that matter, one block per variant.
set -u
E=${EVALCTL:-./evalctl}
M=${MODEL:-models/smollm2-135m-instruct.gguf}
BK=${1:-cuda}
BYTES=${2:-1200000}
TXT=$(mktemp)
trap 'rm -f "$TXT"' EXIT
head -c "$BYTES" data/texts/kjv.txt >"$TXT" || exit 1
sweep() {
    for v in dense streaming streaming+delta streaming+recompute block block+delta block+recompute; do
        echo "== ctx $1 trunc $2 sink $3 window $4 block $5 gamma $6 $v"
        "$E" ppl --model "$M" --file "$TXT" --ctx "$1" --longppl "$2" --variant "$v" --sink "$3" --window "$4" \
            --block "$5" --gamma "$6" --backend "$BK" --stats 2>&1 | grep '^nll\|^ppl\|^key\|^longppl:\|tokens/s\|evalctl'
    done
}
sweep 4096 1024 16 128 256 32
sweep 2048 512 16 128 256 32
sweep 4096 1024 64 256 512 64
sweep 4096 1024 64 1024 1024 64
sweep 2048 512 4 64 128 4
