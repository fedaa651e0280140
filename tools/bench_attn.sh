#!/usr/bin/env bash
# bench_attn.sh - our CUDA attention (evalctl bench attn --backend cuda) against
# PyTorch's (tools/bench_attn_torch.py: SDPA flash and cuDNN, FlexAttention,
# streaming+delta from torch pieces) at Llama-3.1-8B's attention shape, on the same GPU, into
# one CSV with ratios.
#
# usage: tools/bench_attn.sh [OUT_CSV]        (default results/bench/attn_h100.csv)
# env:   EVALCTL    our binary (build-gpu/evalctl)
#        PY         python with torch (python3)
#        LENS       lengths ("32768 131072 1048576")
#        RUNS       timed runs per measurement, median reported (3; warm-up 1)
#        DENSE_MAX  dense causal runs only up to this length (131072); DENSE_1M=1
#                   also times ours at 1M once (about half a minute)
#        SKIP_TORCH=1  ours only
#        EVALCTL_ATTN_KERNEL=mma  ours with the mma.sync kernel for 128-row
#                   tiles instead of the wgmma one (kernels/attn.h)
# Shapes: 32 heads, 8 kv heads, head dim 128, bf16; sink 1024 and 128 with
# window 2048; block 2048 (tail 128); gamma 64. Also one decode step (dense,
# one token after L keys) of ours, against the GPU's copy bandwidth.
#
# CSV columns: gpu, variant, len, heads, kv_heads, head_dim, sink, window,
# block, tail, gamma, impl (ours or the torch name), ms (median), tflops
# (4 * head_dim * heads * scored entries / time, entries as our density counts
# them, the same for every impl of a variant), tflops_dense_equiv (the causal
# L(L+1)/2 entries over the same time), ours_ms, ratio (ms / ours_ms: > 1
# means ours is faster), speedup_vs_dense_flash (SDPA flash's dense time at
# that length / ms), command.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-results/bench/attn_h100.csv}
EVALCTL=${EVALCTL:-build-gpu/evalctl}
PY=${PY:-python3}
LENS=${LENS:-32768 131072 1048576}
RUNS=${RUNS:-3}
DENSE_MAX=${DENSE_MAX:-131072}
SHAPE="--heads 32 --kv-heads 8 --head-dim 128"
RAW=$(mktemp -d)
trap 'rm -rf "$RAW"' EXIT
mkdir -p "$(dirname "$OUT")"

n=0
ours() { # ours LEN VARIANT ARGS...: one measurement into $RAW/ours.N
    local len=$1 variant=$2; shift 2
    local runs=$RUNS warm=1
    if [ "$variant" = dense ] && [ "$len" -gt "$DENSE_MAX" ]; then
        [ "${DENSE_1M:-0}" = 1 ] || return 0
        runs=1 warm=0
    fi
    local cmd="$EVALCTL bench attn --backend cuda $SHAPE --len $len --variant $variant $* --runs $runs --warmup $warm"
    echo "+ $cmd" >&2
    n=$((n + 1))
    { echo "command: $cmd"; $cmd; } > "$RAW/ours.$n"
}

for L in $LENS; do
    ours "$L" dense
    for S in 1024 128; do
        ours "$L" streaming --sink $S --window 2048
        ours "$L" streaming+delta --sink $S --window 2048 --gamma 64
    done
    ours "$L" block --block 2048 --tail 128
    ours "$L" block+delta --block 2048 --tail 128 --gamma 64
    cmd="$EVALCTL bench attn --backend cuda $SHAPE --len $L --variant dense --rows 1 --runs 20 --warmup 3"
    echo "+ $cmd" >&2
    n=$((n + 1))
    { echo "command: $cmd"; $cmd; } > "$RAW/ours.$n"
    if [ "${SKIP_TORCH:-0}" != 1 ]; then
        cmd="$PY tools/bench_attn_torch.py --len $L --heads 32 --kv-heads 8 --head-dim 128 --sink 1024,128 --window 2048 --block 2048 --tail 128 --gamma 64 --runs $RUNS --warmup 1 --dense-max $DENSE_MAX"
        echo "+ $cmd" >&2
        { echo "command: $cmd"; $cmd; } > "$RAW/torch.$L" || echo "bench_attn.sh: torch at $L failed (see above)" >&2
    fi
done

"$PY" - "$RAW" "$OUT" <<'EOF'
import csv, glob, os, sys
raw, out = sys.argv[1], sys.argv[2]
rows, gpu = [], ""
for f in sorted(glob.glob(os.path.join(raw, "ours.*")), key=lambda p: int(p.rsplit(".", 1)[1])):
    kv, cmd = {}, ""
    for line in open(f):
        if line.startswith("command: "):
            cmd = line[9:].strip()
        elif line.startswith("variant="):  # attn_variant_describe's line
            kv["variant"] = line.strip()
        elif ": " in line:
            k, v = line.rstrip("\n").split(": ", 1)
            kv[k] = v
    if "ms" not in kv:
        continue
    params = dict(p.split("=", 1) for p in kv.get("variant", "").split() if "=" in p)
    gpu = kv.get("gpu", gpu)
    impl = "ours_decode" if kv.get("rows", "0") != kv.get("len") and kv.get("pos0", "0") != "0" else "ours"
    rows.append(dict(gpu=gpu, variant=params.get("variant", "?"), len=int(kv["len"]), heads=kv["heads"],
                     kv_heads=kv["kv_heads"], head_dim=kv["head_dim"], sink=params.get("sink", 0),
                     window=params.get("window", 0), block=params.get("block", 0), tail=params.get("tail", 0),
                     gamma=params.get("gamma", 0), impl=impl, ms=float(kv["ms"]), tflops=float(kv["tflops"]),
                     tflops_dense_equiv=float(kv["tflops_dense_equiv"]), command=cmd,
                     extra=f"kv_gbps={kv.get('kv_gbps', '')} hbm_fraction={kv.get('hbm_fraction', '')}"
                     if impl == "ours_decode" else ""))
def key(r):
    return (r["variant"], int(r["len"]), int(r["sink"]) if r["variant"].startswith("streaming") else 0)
ours = {key(r): r for r in rows if r["impl"] == "ours"}
for f in glob.glob(os.path.join(raw, "torch.*")):
    cmd = ""
    for line in open(f):
        if line.startswith("command: "):
            cmd = line[9:].strip()
        if not line.startswith("result "):
            continue
        kv = dict(p.split("=", 1) for p in line.split()[1:])
        r = dict(gpu=gpu, variant=kv["variant"], len=int(kv["len"]), heads=kv["heads"], kv_heads=kv["kv_heads"],
                 head_dim=kv["head_dim"], sink=kv["sink"], window=kv["window"], block=kv["block"], tail=kv["tail"],
                 gamma=kv["gamma"], impl="torch_" + kv["impl"], ms=float(kv["ms"]), command=cmd,
                 extra=" ".join(f"{k}={v}" for k, v in kv.items() if k in ("gqa", "sparse_ms", "strided_ms")))
        o = ours.get(key(r))
        # same variant, same scored entries: scale our rates by the time ratio
        r["tflops"] = o["tflops"] * o["ms"] / r["ms"] if o else ""
        r["tflops_dense_equiv"] = o["tflops_dense_equiv"] * o["ms"] / r["ms"] if o else ""
        rows.append(r)
flash = {int(r["len"]): r["ms"] for r in rows if r["impl"] == "torch_sdpa_flash"}
for r in rows:
    o = ours.get(key(r)) if r["impl"] != "ours_decode" else None
    r["ours_ms"] = o["ms"] if o else ""
    r["ratio"] = f"{r['ms'] / o['ms']:.3f}" if o else ""
    f = flash.get(int(r["len"]))
    r["speedup_vs_dense_flash"] = f"{f / r['ms']:.2f}" if f and r["impl"] != "ours_decode" else ""
for r in rows:  # numbers to text only once every ratio is computed
    for k in ("tflops", "tflops_dense_equiv"):
        if isinstance(r[k], float):
            r[k] = f"{r[k]:.1f}"
    r["ms"] = f"{r['ms']:.3f}"
rows.sort(key=lambda r: (int(r["len"]), r["variant"], str(r["sink"]), r["impl"]))
cols = ["gpu", "variant", "len", "heads", "kv_heads", "head_dim", "sink", "window", "block", "tail", "gamma", "impl",
        "ms", "tflops", "tflops_dense_equiv", "ours_ms", "ratio", "speedup_vs_dense_flash", "extra", "command"]
with open(out, "w", newline="") as fh:
    w = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
# the table on the terminal
print(f"{'len':>8} {'variant':<20} {'sink':>5} {'impl':<22} {'ms':>10} {'TFLOP/s':>8} {'dense-eq':>9} {'torch/ours':>10}")
for r in rows:
    print(f"{r['len']:>8} {r['variant']:<20} {str(r['sink']):>5} {r['impl']:<22} {r['ms']:>10} {str(r['tflops']):>8}"
          f" {str(r['tflops_dense_equiv']):>9} {r['ratio']:>10} {r['extra']}")
print(f"wrote {out}")
EOF
