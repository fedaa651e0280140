#!/usr/bin/env bash
# bench_prefill.sh - whole-model prefill (and decode) of the Llama-3.1-8B shape
# on the GPU under each attention variant, with random weights (no file
# needed), into one CSV: seconds, tokens/s and where the time goes (cuBLAS
# products, attention, the rest), the products' rate against a plain cuBLAS
# 8192^3 product measured in the same process, and the command line.
#
# usage: tools/bench_prefill.sh [OUT_CSV]     (default results/bench/prefill_h100.csv)
# env:   EVALCTL (build-gpu/evalctl), LEN (131072), CHUNK (4096), SHAPE (llama-3.1-8b)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-results/bench/prefill_h100.csv}
EVALCTL=${EVALCTL:-build-gpu/evalctl}
LEN=${LEN:-131072}
CHUNK=${CHUNK:-4096}
SHAPE=${SHAPE:-llama-3.1-8b}
P="--sink 1024 --window 2048 --block 2048 --tail 128 --gamma 64"
mkdir -p "$(dirname "$OUT")"
cols="gpu,shape,len,chunk,variant,seconds,tokens_per_s,gemm_ms,attn_ms,other_ms,gemm_tflops,cublas_ref_tflops,gemm_fraction_of_ref,attn_tflops,decode_tokens_per_s,command"
echo "$cols" > "$OUT"
row() { # row KIND VARIANT: one bench run -> one CSV line
    local cmd="$EVALCTL bench $1 --backend cuda --shape $SHAPE --random-weights --len $LEN --chunk $CHUNK --variant $2 $P"
    [ "$1" = decode ] && cmd="$cmd --n 32"
    echo "+ $cmd" >&2
    $cmd | awk -v cols="$cols" -v shape="$SHAPE" -v variant="$2" -v cmd="$cmd" -F': ' '
        NF == 2 { v[$1] = $2 }
        END {
            v["shape"] = shape; v["variant"] = variant; v["command"] = "\"" cmd "\""
            n = split(cols, c, ",")
            for (i = 1; i <= n; i++) printf "%s%s", (i > 1 ? "," : ""), v[c[i]]
            printf "\n"
        }' >> "$OUT"
}
for v in dense streaming streaming+delta streaming+recompute block block+delta; do row prefill "$v"; done
row decode dense
cat "$OUT"
