#!/usr/bin/env python3
"""gen_attn_fixtures.py - reference outputs of the attention variants, for tests/test_attention.c.

Computes, with PyTorch in float64 (GPU when there is one, else CPU), the output of
every attention variant defined in src/attention.h for a few small random cases,
straight from the definitions: an explicit boolean key mask per row, a softmax,
and the Delta / recompute rules of delta_forward (jeffwillette/delta-attention,
delta_attention/llama.py). Writes, under tests/fixtures/attn/:

  manifest.json          the cases: shapes, input file, and per output its variant
                         and parameters
  caseN.in.bin           q [n][H][D], then k [n][KV][D], then v [n][KV][D]
  caseN.<variant>.bin    out [n][H][D], n = S + n_decode rows (decode rows are the
                         ones at positions >= S)

all little-endian float32. The inputs come from a fixed splitmix64 stream (no
library RNG), are rounded to float32, and the references are computed from those
rounded values.

Usage: python3 tools/gen_attn_fixtures.py            (needs torch)
       python3 tools/gen_attn_fixtures.py --backend numpy --out /tmp/attn
                                                     (a dry run of the same math)
"""
import argparse
import json
import math
import os
import sys
from array import array

# ------------------------------------------------------------------ backends


class TorchOps:
    def __init__(self):
        import torch

        self.t = torch
        self.dev = "cuda" if torch.cuda.is_available() else "cpu"
        self.name = "torch %s (%s, float64)" % (torch.__version__, self.dev)

    def tensor(self, values, shape):
        return self.t.tensor(values, dtype=self.t.float64, device=self.dev).reshape(shape)

    def arange(self, n):
        return self.t.arange(n, device=self.dev)

    def einsum(self, eq, *xs):
        return self.t.einsum(eq, *xs)

    def masked_softmax(self, scores, mask):
        scores = scores.masked_fill(~mask, float("-inf"))
        return self.t.softmax(scores, dim=-1)

    def copy(self, x):
        return x.clone()

    def flat(self, x):
        return x.detach().to("cpu").reshape(-1).tolist()


class NumpyOps:
    def __init__(self):
        import numpy

        self.np = numpy
        self.name = "numpy %s (float64)" % numpy.__version__

    def tensor(self, values, shape):
        return self.np.array(values, dtype=self.np.float64).reshape(shape)

    def arange(self, n):
        return self.np.arange(n)

    def einsum(self, eq, *xs):
        return self.np.einsum(eq, *xs)

    def masked_softmax(self, scores, mask):
        scores = self.np.where(mask, scores, -self.np.inf)
        scores = scores - scores.max(axis=-1, keepdims=True)
        e = self.np.exp(scores)
        return e / e.sum(axis=-1, keepdims=True)

    def copy(self, x):
        return x.copy()

    def flat(self, x):
        return x.reshape(-1).tolist()


# ------------------------------------------------------------------ inputs


class SplitMix64:
    def __init__(self, seed):
        self.s = seed & 0xFFFFFFFFFFFFFFFF

    def uniform(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        z ^= z >> 31
        return (z >> 11) / 9007199254740992.0


def f32(values):
    """Rounds to float32 (the C side reads float32)."""
    return list(array("f", values))


def f32_bytes(values):
    a = array("f", values)
    if sys.byteorder != "little":
        a.byteswap()
    return a.tobytes()


# ------------------------------------------------------------------ the definitions


def masks(ops, v, S, n):
    """Boolean [n, n] masks: 'dense' (causal) and 'sparse' (the base variant's
    mask on prompt rows; sink + window on decode rows, used when decode_sparse)."""
    i = ops.arange(n)[:, None]
    j = ops.arange(n)[None, :]
    causal = j <= i
    sinkwin = (j < v["sink"]) | (i - j < v["window"])
    base = v["variant"].split("+")[0]
    if base == "streaming":
        prompt = sinkwin
    elif base == "block":
        b = v["block"]
        prompt = (j // b == 0) | (j // b == i // b) | (i >= S - v["tail"])
    else:
        prompt = causal
    sparse = causal & (((i < S) & prompt) | ((i >= S) & sinkwin))
    return causal, sparse


def attend(ops, q, k, v, mask, rep):
    """softmax(q k^T / sqrt(D)) v per head, GQA head h reading kv head h // rep."""
    n, H, D = q.shape
    hidx = ops.arange(H) // rep
    kh, vh = k[:, hidx, :], v[:, hidx, :]
    scores = ops.einsum("ihd,jhd->hij", q, kh) / math.sqrt(D)
    p = ops.masked_softmax(scores, mask[None, :, :])
    return ops.einsum("hij,jhd->ihd", p, vh)


def variant_output(ops, v, S, q, k, vv, rep, dense_layer):
    n = q.shape[0]
    causal, sparse_mask = masks(ops, v, S, n)
    dense = attend(ops, q, k, vv, causal, rep)
    sparse = attend(ops, q, k, vv, sparse_mask, rep)
    base, _, fix = v["variant"].partition("+")
    g = v["gamma"]
    cut = S % g + max(128, g)  # delta_forward: cut_n = s % lambd + max(128, lambd)
    out = ops.copy(dense)
    for i in range(n):
        if i >= S:  # decode rows: dense, or sink + window when decode_sparse
            if v["decode_sparse"] and base != "dense" and not dense_layer:
                out[i] = sparse[i]
            continue
        if dense_layer or base == "dense":
            continue
        if fix == "":
            out[i] = sparse[i]
        elif i >= S - cut:  # the last cut rows (all rows when S <= cut) stay dense
            continue
        elif fix == "recompute":
            if i % g != 0:
                out[i] = sparse[i]
        else:  # delta: sparse + (dense - sparse) at the group's anchor row
            a = i // g * g
            out[i] = sparse[i] + (dense[a] - sparse[a])
    return out


# ------------------------------------------------------------------ the cases

ALL = ["dense", "streaming", "block", "streaming+delta", "block+delta", "streaming+recompute", "block+recompute"]

CASES = [
    # every variant; 21 Delta groups below P = 300 - (4 + 128) = 168
    dict(S=300, n_decode=3, H=3, KV=1, D=16, seed=11,
         outputs=[dict(variant=x, sink=4, window=24, block=32, tail=10, gamma=8) for x in ALL]),
    # head dim 64, GQA 2; gamma 16 does not matter to block 50
    dict(S=160, n_decode=2, H=2, KV=1, D=64, seed=12,
         outputs=[dict(variant=x, sink=3, window=20, block=50, tail=0, gamma=16)
                  for x in ["dense", "streaming+delta", "block+delta"]]),
    # gamma 10 (not a divisor of 128: partial last group), sparse decode, a dense layer
    dict(S=260, n_decode=4, H=4, KV=1, D=16, seed=13,
         outputs=[dict(variant="streaming+delta", sink=0, window=17, block=40, tail=5, gamma=10, decode_sparse=1),
                  dict(variant="streaming", sink=2, window=9, block=40, tail=5, gamma=10, decode_sparse=1),
                  dict(variant="block+recompute", sink=2, window=9, block=40, tail=5, gamma=10, decode_sparse=1),
                  dict(variant="block+delta", sink=2, window=9, block=40, tail=300, gamma=10),
                  dict(variant="streaming+delta", sink=2, window=9, block=40, tail=5, gamma=10, dense_layer=True)]),
    # S <= cut: the fixes are dense over the whole prompt
    dict(S=40, n_decode=2, H=2, KV=1, D=16, seed=14,
         outputs=[dict(variant=x, sink=1, window=5, block=8, tail=3, gamma=4)
                  for x in ["streaming+delta", "block+recompute", "block"]]),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", choices=["torch", "numpy"], default="torch")
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.join(here, "..", "tests", "fixtures", "attn")
    ap.add_argument("--out", default=default_out)
    args = ap.parse_args()
    if args.backend == "numpy" and os.path.abspath(args.out) == os.path.abspath(default_out):
        sys.exit("gen_attn_fixtures: the numpy backend is a dry run; give --out elsewhere "
                 "(the committed fixtures come from torch)")
    try:
        ops = TorchOps() if args.backend == "torch" else NumpyOps()
    except ImportError as e:
        sys.exit("gen_attn_fixtures: %s (install torch, or try --backend numpy --out DIR)" % e)
    os.makedirs(args.out, exist_ok=True)

    manifest = {"version": 1, "generator": "tools/gen_attn_fixtures.py, " + ops.name, "cases": []}
    total = 0
    for ci, c in enumerate(CASES):
        n, H, KV, D = c["S"] + c["n_decode"], c["H"], c["KV"], c["D"]
        rng = SplitMix64(c["seed"])
        qv = f32([4 * rng.uniform() - 2 for _ in range(n * H * D)])
        kv = f32([4 * rng.uniform() - 2 for _ in range(n * KV * D)])
        vv = f32([2 * rng.uniform() - 1 for _ in range(n * KV * D)])
        name = "case%d.in.bin" % ci
        data = f32_bytes(qv + kv + vv)
        with open(os.path.join(args.out, name), "wb") as f:
            f.write(data)
        total += len(data)
        q, k, v = ops.tensor(qv, (n, H, D)), ops.tensor(kv, (n, KV, D)), ops.tensor(vv, (n, KV, D))
        entry = dict(S=c["S"], n_decode=c["n_decode"], n_heads=H, n_kv_heads=KV, head_dim=D, inputs=name,
                     outputs=[])
        for o in c["outputs"]:
            o = dict(o)
            o.setdefault("decode_sparse", 0)
            o.setdefault("dense_layer", False)
            out = variant_output(ops, o, c["S"], q, k, v, H // KV, o["dense_layer"])
            fname = "case%d.%s%s.bin" % (ci, o["variant"].replace("+", "_"), "_denselayer" if o["dense_layer"] else "")
            data = f32_bytes(ops.flat(out))
            with open(os.path.join(args.out, fname), "wb") as f:
                f.write(data)
            total += len(data)
            o["file"] = fname
            entry["outputs"].append(o)
        manifest["cases"].append(entry)
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print("gen_attn_fixtures: %d cases, %d bytes of data in %s (%s)" % (len(CASES), total, args.out, ops.name))


if __name__ == "__main__":
    main()
