#!/usr/bin/env python3
"""bench_attn_torch.py - PyTorch's attention at the shapes of `evalctl bench attn
--backend cuda`, the baselines our kernels are measured against (tools/bench_attn.sh runs both and
writes the comparison CSV).

Implementations (bf16, one layer, batch 1, q/k/v [1, heads, L, head_dim]):
  sdpa_flash    dense causal, torch SDPA restricted to its flash backend
  sdpa_cudnn    dense causal, torch SDPA restricted to its cuDNN backend
  flex_sinkwin  FlexAttention (compiled) with the sink + window mask
  flex_block    FlexAttention with the block mask (anchor block 0 + own block,
                the last `tail` rows dense)
  delta         streaming+delta from torch pieces: FlexAttention sink+window
                over all rows, FlexAttention over the strided rows g*gamma < P
                with the per-row causal bound kv <= g*gamma, FlexAttention over
                the last `cut` rows (kv <= P + i), then Delta = dense - sparse at
                the anchors spread over each group in place (P = L - cut,
                cut = L % gamma + max(128, gamma), as src/attention.h defines it)
GQA: FlexAttention and SDPA get enable_gqa=True; a backend that refuses it gets
K/V expanded per head once, outside the timing (printed as gqa=expanded).
Block masks are built once per shape, outside the timing (FlexAttention's
intended use). Timing: CUDA events around each call, median of --runs after
--warmup calls.

Output: one line per measurement,
  result impl=NAME variant=V len=L heads=H kv_heads=K head_dim=D sink=S window=W block=B tail=T gamma=G ms=X [parts]
and lines starting with '#' for notes. --check (small L, CPU or GPU) instead
compares every implementation that runs with a float64 brute force built
from the definitions and exits non-zero on a mismatch.
"""
import argparse
import math
import statistics
import sys

import warnings

import torch
import torch.nn.functional as F

# one compile per mask kind and parameter set; a run uses a handful
for _name in ("recompile_limit", "cache_size_limit"):
    if hasattr(torch._dynamo.config, _name):
        setattr(torch._dynamo.config, _name, 64)
warnings.filterwarnings("ignore", message=".*_compile flag on create_block_mask.*")

try:
    from torch.nn.attention import SDPBackend, sdpa_kernel
except ImportError:  # very old torch
    SDPBackend = sdpa_kernel = None
try:
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention
except ImportError:
    create_block_mask = flex_attention = None


# ------------------------------------------------------------------ masks
# mask_mod(b, h, q_idx, kv_idx) -> bool tensor, as FlexAttention calls them;
# the same functions build the brute-force masks of --check.

def sinkwin_mod(sink, window, q_off=0):
    def mod(b, h, q, kv):
        i = q + q_off
        return (kv <= i) & ((kv < sink) | (i - kv < window))
    return mod


def block_mod(block, tail, L):
    def mod(b, h, q, kv):
        return (kv <= q) & ((kv < block) | (kv // block == q // block) | (q >= L - tail))
    return mod


def strided_causal_mod(stride, q_off=0):
    """query row r is at position q_off + r * stride and sees kv <= its position"""
    def mod(b, h, q, kv):
        return kv <= q_off + q * stride
    return mod


def causal_mod():
    def mod(b, h, q, kv):
        return kv <= q
    return mod


# ------------------------------------------------------------ attention

class Attn:
    """Runs masked attention by FlexAttention when it is usable on the device,
    else (CPU without a compiler, --check) by SDPA with an explicit boolean mask."""

    def __init__(self, device, use_flex=True, compile_flex=True):
        self.device = device
        self.flex = None
        self.masks = {}
        if use_flex and flex_attention is not None:
            self.flex = torch.compile(flex_attention, dynamic=False) if compile_flex else flex_attention

    def block_mask(self, key, mod, q_len, kv_len):
        k = (key, q_len, kv_len)
        if k not in self.masks:
            if self.flex is not None:
                self.masks[k] = create_block_mask(mod, None, None, q_len, kv_len, device=self.device, _compile=True)
            else:
                q = torch.arange(q_len, device=self.device)[:, None]
                kv = torch.arange(kv_len, device=self.device)[None, :]
                self.masks[k] = mod(0, 0, q, kv)
        return self.masks[k]

    def __call__(self, q, k, v, key, mod):
        bm = self.block_mask(key, mod, q.shape[2], k.shape[2])
        if self.flex is not None:
            return self.flex(q, k, v, block_mask=bm, enable_gqa=True)
        rep = q.shape[1] // k.shape[1]
        return F.scaled_dot_product_attention(q, k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1), attn_mask=bm)


def fix_start(L, gamma):
    return L - (L % gamma + max(128, gamma))


def delta_torch(attn, q, k, v, sink, window, gamma, parts=None):
    """streaming+delta from torch pieces (see the module comment); parts, when
    a dict, gets the CUDA events around the sparse and the strided pass."""
    L = q.shape[2]
    P = fix_start(L, gamma)
    if P <= 0:  # the whole prefill is dense
        return attn(q, k, v, "causal", causal_mod())
    ev = [torch.cuda.Event(enable_timing=True) for _ in range(3)] if parts is not None else None
    if ev: ev[0].record()
    out = attn(q, k, v, "sinkwin", sinkwin_mod(sink, window))
    if ev: ev[1].record()
    n_a = (P + gamma - 1) // gamma
    qa = q[:, :, 0:P:gamma].contiguous()  # the gather costs ~0.1 ms at 1M; kernels get dense rows
    dense_a = attn(qa, k, v, "anchors", strided_causal_mod(gamma))
    if ev: ev[2].record()
    dense_t = attn(q[:, :, P:].contiguous(), k, v, "tail", strided_causal_mod(1, P))
    delta = dense_a - out[:, :, 0:P:gamma]
    n_full = P // gamma
    H, D = q.shape[1], q.shape[3]
    if n_full:
        out[:, :, :n_full * gamma].view(1, H, n_full, gamma, D).add_(delta[:, :, :n_full, None, :])
    if n_full < n_a:  # a partial last group below P
        out[:, :, n_full * gamma:P] += delta[:, :, n_full:n_full + 1]
    out[:, :, P:] = dense_t
    if parts is not None:
        parts["ev"] = ev
    return out


def sdpa_dense(q, k, v, backend, state):
    """dense causal SDPA on one backend; state remembers expanded K/V when GQA is refused"""
    with sdpa_kernel([backend]):
        if state.get("kv") is None:
            try:
                return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
            except (RuntimeError, TypeError):
                rep = q.shape[1] // k.shape[1]
                state["kv"] = (k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1))
                state["gqa"] = "expanded"
        return F.scaled_dot_product_attention(q, *state["kv"], is_causal=True)


# ---------------------------------------------------------------- timing

def time_cuda(fn, warmup, runs):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


def bench(args):
    dev = "cuda"
    torch.manual_seed(0)
    L, H, K, D = args.len, args.heads, args.kv_heads, args.head_dim
    mk = lambda h: (torch.rand(1, h, L, D, device=dev, dtype=torch.bfloat16) * 2 - 1)
    q, k, v = mk(H), mk(K), mk(K)
    attn = Attn(dev)
    print(f"# torch {torch.__version__} gpu {torch.cuda.get_device_name()}", flush=True)
    base = f"len={L} heads={H} kv_heads={K} head_dim={D}"
    jobs = []
    for impl in args.impl.split(","):
        for sink in (args.sink.split(",") if impl in ("flex_sinkwin", "delta") else ["0"]):
            jobs.append((impl, int(sink)))
    for impl, sink in jobs:
        extra, parts = "", None
        attn.masks.clear()  # block masks of 1M tokens take hundreds of MB each
        try:
            if impl in ("sdpa_flash", "sdpa_cudnn"):
                if L > args.dense_max:
                    print(f"# {impl}: skipped at len {L} (> --dense-max {args.dense_max})", flush=True)
                    continue
                backend = SDPBackend.FLASH_ATTENTION if impl == "sdpa_flash" else SDPBackend.CUDNN_ATTENTION
                state = {"gqa": "native"}
                ms = time_cuda(lambda: sdpa_dense(q, k, v, backend, state), args.warmup, args.runs)
                state.pop("kv", None)
                variant, params, extra = "dense", "sink=0 window=0 block=0 tail=0 gamma=0", f" gqa={state['gqa']}"
            elif impl == "flex_sinkwin":
                variant, params = "streaming", f"sink={sink} window={args.window} block=0 tail=0 gamma=0"
                mod = sinkwin_mod(sink, args.window)
                ms = time_cuda(lambda: attn(q, k, v, "sinkwin", mod), args.warmup, args.runs)
            elif impl == "flex_block":
                variant, params = "block", f"sink=0 window=0 block={args.block} tail={args.tail} gamma=0"
                mod = block_mod(args.block, args.tail, L)
                ms = time_cuda(lambda: attn(q, k, v, "block", mod), args.warmup, args.runs)
            elif impl == "delta":
                variant = "streaming+delta"
                params = f"sink={sink} window={args.window} block=0 tail=0 gamma={args.gamma}"
                ms = time_cuda(lambda: delta_torch(attn, q, k, v, sink, args.window, args.gamma), args.warmup,
                               args.runs)
                parts = {}
                delta_torch(attn, q, k, v, sink, args.window, args.gamma, parts)
                torch.cuda.synchronize()
                ev = parts.get("ev")
                if ev:
                    extra = f" sparse_ms={ev[0].elapsed_time(ev[1]):.3f} strided_ms={ev[1].elapsed_time(ev[2]):.3f}"
            else:
                print(f"# unknown impl {impl}", flush=True)
                continue
        except torch.OutOfMemoryError:
            print(f"# {impl}: out of memory at len {L}", flush=True)
            torch.cuda.empty_cache()
            continue
        print(f"result impl={impl} variant={variant} {base} {params} ms={ms:.4f}{extra}", flush=True)


# ----------------------------------------------------------------- check

def brute(q, k, v, allowed):
    """float64 softmax attention; allowed [Lq, Lk] bool; GQA by head index"""
    rep = q.shape[1] // k.shape[1]
    q, k, v = q.double(), k.double().repeat_interleave(rep, 1), v.double().repeat_interleave(rep, 1)
    s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    s = s.masked_fill(~allowed, float("-inf"))
    return torch.softmax(s, -1) @ v


def check(args):
    dev = args.device
    torch.manual_seed(1)
    ok = True
    use_flex = flex_attention is not None
    for L, H, K, D, sink, window, gamma, block, tail in [(700, 4, 1, 64, 4, 100, 64, 128, 16),
                                                         (1000, 8, 2, 32, 0, 50, 7, 300, 200),
                                                         (150, 2, 2, 16, 4, 16, 64, 64, 8)]:
        q = torch.rand(1, H, L, D, device=dev) * 4 - 2
        k = torch.rand(1, K, L, D, device=dev) * 4 - 2
        v = torch.rand(1, K, L, D, device=dev) * 2 - 1
        i = torch.arange(L, device=dev)[:, None]
        j = torch.arange(L, device=dev)[None, :]
        causal = j <= i
        sw = causal & ((j < sink) | (i - j < window))
        blk = causal & ((j < block) | (j // block == i // block) | (i >= L - tail))
        ref_sw, ref_dense, ref_blk = brute(q, k, v, sw), brute(q, k, v, causal), brute(q, k, v, blk)
        # the definition of +delta, row by row
        P = fix_start(L, gamma)
        ref_delta = ref_sw.clone()
        for r in range(L):
            if r >= P:
                ref_delta[:, :, r] = ref_dense[:, :, r]
            else:
                a = r // gamma * gamma
                ref_delta[:, :, r] += ref_dense[:, :, a] - ref_sw[:, :, a]
        for flex_on in ([True, False] if use_flex else [False]):
            try:
                attn = Attn(dev, use_flex=flex_on, compile_flex=dev != "cpu")
                got = {
                    "sinkwin": attn(q, k, v, "sinkwin", sinkwin_mod(sink, window)),
                    "block": attn(q, k, v, "block", block_mod(block, tail, L)),
                    "delta": delta_torch(attn, q, k, v, sink, window, gamma),
                }
            except Exception as e:  # FlexAttention may not run on this device
                print(f"# flex={flex_on}: not available here ({type(e).__name__}: {str(e).splitlines()[0][:100]})")
                continue
            for name, ref in (("sinkwin", ref_sw), ("block", ref_blk), ("delta", ref_delta)):
                err = (got[name].double() - ref).abs().max().item()
                good = err < 1e-4
                ok &= good
                print(f"check L={L} H={H} K={K} D={D} gamma={gamma} flex={flex_on} {name}: max err {err:.2e}"
                      f" {'ok' if good else 'FAIL'}")
    print("check: " + ("ok" if ok else "FAILED"))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--len", type=int, default=32768)
    ap.add_argument("--heads", type=int, default=32)
    ap.add_argument("--kv-heads", type=int, default=8)
    ap.add_argument("--head-dim", type=int, default=128)
    ap.add_argument("--sink", default="1024", help="sink tokens; a comma list runs each")
    ap.add_argument("--window", type=int, default=2048)
    ap.add_argument("--block", type=int, default=2048)
    ap.add_argument("--tail", type=int, default=128)
    ap.add_argument("--gamma", type=int, default=64)
    ap.add_argument("--impl", default="sdpa_flash,sdpa_cudnn,flex_sinkwin,flex_block,delta")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--dense-max", type=int, default=131072, help="skip dense SDPA above this length")
    ap.add_argument("--check", action="store_true", help="compare with a float64 brute force at small sizes")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    if args.check:
        return check(args)
    if not torch.cuda.is_available():
        print("bench_attn_torch.py: no CUDA device (use --check for the CPU logic test)", file=sys.stderr)
        return 1
    bench(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
