#!/usr/bin/env python3
"""check_delta_torch.py - an independent PyTorch (fp32, CPU) check of the Delta Attention
variants on SmolLM2-135M-Instruct, to compare with evalctl's src/attention.c.

The variants follow the public code's delta_forward (jeffwillette/delta-attention,
delta_attention/llama.py), rewritten here from its description:
  cut = S % gamma + max(128, gamma); P = S - cut; anchors = 0, gamma, 2 gamma, ... < P;
  rows < P: sparse(i) + (dense - sparse)(anchor of i's group); rows >= P: dense.
Sparse masks (causal in all cases):
  streaming  key j visible to row i iff j < sink or i - j < window;
  block      blocks of `block` tokens from 0; row i sees block 0 and its own block;
             the last `tail` rows of the prompt see every key.
The function is registered with transformers' AttentionInterface and so runs in every
layer of a full-sequence forward pass.

Measures
  (1) mean cosine (per row and head, rows [sink+window or block, S-cut)) of the last
      layer's attention outputs (before o_proj) to the dense run's, with the variant in
      every layer (errors accumulate through the layers);
  (2) the same per layer but with each layer fed the dense run's q, k, v (one layer's own
      error, no accumulation);
  (3) the mean NLL (nats) of the ppl windows of a text prefix (as `evalctl ppl`: the
      tokenizer's special tokens, windows of --ctx tokens, every token but the first
      scored) for dense, streaming, streaming+delta;
  (4) LongPPL over the same windows (`evalctl ppl --longppl T`, src/ppl.h), written from
      the definition of PKU-ML/LongPPL's find_key_token with the dense model as its own
      evaluator: per window, the key tokens (nll_short - nll_full > 2, nll_full < 2, the
      short contexts T .. T + slide - 1 tokens), their count and positions, and each
      variant's mean NLL over them.

Usage (needs torch, transformers, gguf):
  python3 tools/check_delta_torch.py haystack [--S 4096] [--sink 64 --window 256 --block 512 --gamma 64]
  python3 tools/check_delta_torch.py ppl [--bytes 60000 --ctx 2048 --sink 16 --window 256 --windows 1]
                                         [--block 512 --tail 128 --variants dense,block,block+delta]
  python3 tools/check_delta_torch.py longppl [--bytes .. --ctx .. --windows .. --trunc 512 --slide 128]
"""
import argparse
import os
import sys
import time

import torch
import torch.nn.functional as F
import transformers

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
MODEL = os.path.join(ROOT, "models", "smollm2-135m-instruct.gguf")
TEXT = os.path.join(ROOT, "data", "texts", "kjv.txt")

# what the registered attention function does; set before each forward
STATE = {"variant": "dense", "sink": 64, "window": 256, "block": 512, "tail": 128, "gamma": 64,
         "capture_layer": None, "captured": None, "per_layer": None, "per_layer_out": None}


def load():
    d, f = os.path.split(os.path.abspath(MODEL))
    tok = transformers.AutoTokenizer.from_pretrained(d, gguf_file=f)
    kw = {"gguf_file": f}
    try:
        from transformers import GgufConfig
        kw["quantization_config"] = GgufConfig(gguf_file=f, dequantize=True)
    except ImportError:
        pass
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, **kw)
    except Exception:
        kw.pop("quantization_config", None)
        model = transformers.AutoModelForCausalLM.from_pretrained(d, torch_dtype=torch.float32, **kw)
    packed = [n for n, m in model.named_modules() if type(m).__name__.startswith("Gguf")]
    if packed:
        raise RuntimeError("weights left packed: %s" % packed[:3])
    model = model.float().eval()
    transformers.AttentionInterface.register("evcheck", variant_attention)
    model.set_attn_implementation("evcheck")
    return tok, model


def sparse_mask(kind, S, p):
    i = torch.arange(S).view(S, 1)
    j = torch.arange(S).view(1, S)
    causal = j <= i
    if kind == "dense":
        return causal
    if kind == "streaming":
        return causal & ((j < p["sink"]) | (i - j < p["window"]))
    if kind == "block":
        b = p["block"]
        m = causal & (((j // b) == 0) | ((j // b) == (i // b)))
        return m | (causal & (i >= S - p["tail"]))
    raise ValueError(kind)


def attend(q, k, v, mask, scale):
    """q [h, n, d] (rows), k, v [h, S, d] (kv already repeated), mask [n, S] bool."""
    s = torch.matmul(q, k.transpose(-1, -2)) * scale
    s = s.masked_fill(~mask, float("-inf"))
    return torch.matmul(torch.softmax(s, dim=-1), v)


def variant_out(kind, fix, q, k, v, scale, p):
    """q [h, S, d], k, v [h, S, d]; returns [h, S, d]."""
    S = q.shape[1]
    if kind == "dense":
        return attend(q, k, v, sparse_mask("dense", S, p), scale)
    sp = attend(q, k, v, sparse_mask(kind, S, p), scale)
    if fix is None:
        return sp
    g = p["gamma"]
    cut = S % g + max(128, g)
    P = S - cut
    if P <= 0:   # a prompt no longer than cut is dense throughout
        return attend(q, k, v, sparse_mask("dense", S, p), scale)
    assert P % g == 0, (S, g, P)
    anchors = torch.arange(0, P, g)
    rows = torch.cat((anchors, torch.arange(P, S)))
    full = sparse_mask("dense", S, p)
    dn = attend(q[:, rows], k, v, full[rows], scale)
    na = anchors.numel()
    diff = dn[:, :na] - sp[:, anchors]                       # [h, P/g, d]
    if fix == "recompute":
        out = sp.clone()
        out[:, rows] = dn
        return out
    h, _, d = q.shape
    body = sp[:, :P].reshape(h, P // g, g, d) + diff.reshape(h, P // g, 1, d)
    return torch.cat((body.reshape(h, P, d), dn[:, na:]), dim=1)


def cos_rows(a, b, r0, r1):
    """a, b [h, S, d]; mean over rows [r0, r1) and heads of the cosine (float64)."""
    x = a[:, r0:r1].double()
    y = b[:, r0:r1].double()
    c = (x * y).sum(-1) / ((x * x).sum(-1) * (y * y).sum(-1)).sqrt().clamp_min(1e-30)
    return c.mean().item()


def variant_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """The transformers attention hook: query [b, h, S, d], key/value [b, kvh, S, d];
    returns ([b, S, h, d], None)."""
    assert query.shape[0] == 1
    rep = query.shape[1] // key.shape[1]
    q = query[0]
    k = key[0].repeat_interleave(rep, dim=0)
    v = value[0].repeat_interleave(rep, dim=0)
    scale = scaling if scaling is not None else q.shape[-1] ** -0.5
    name = STATE["variant"]
    kind, _, fix = name.partition("+")
    out = variant_out(kind, fix or None, q, k, v, scale, STATE)
    li = module.layer_idx
    if STATE["capture_layer"] is not None and li == STATE["capture_layer"]:
        STATE["captured"] = out.clone()
    if STATE["per_layer"] is not None:   # one-layer effect, on this (dense) run's q, k, v
        res = {}
        for base in STATE["per_layer"]:
            s = variant_out(base, None, q, k, v, scale, STATE)
            dl = variant_out(base, "delta", q, k, v, scale, STATE)
            r0, r1 = STATE["rows"][base]
            res[base] = (cos_rows(out, s, r0, r1), cos_rows(out, dl, r0, r1))
        STATE["per_layer_out"][li] = res
    return out.transpose(0, 1).unsqueeze(0).contiguous(), None


def run(model, ids, variant, capture_layer=None):
    STATE["variant"] = variant
    STATE["capture_layer"] = capture_layer
    STATE["captured"] = None
    with torch.no_grad():
        logits = model(torch.tensor([ids]), use_cache=False).logits[0]
    return logits, STATE["captured"]


def haystack_ids(tok, S):
    raw = open(TEXT, "rb").read()
    off = len(raw) // 3
    text = raw[off:off + S * 8].decode("utf-8", errors="strict")
    ids = tok(text, add_special_tokens=True)["input_ids"]
    assert len(ids) >= S, len(ids)
    return [int(x) for x in ids[:S]]


def cmd_haystack(a, tok, model):
    S = a.S
    ids = haystack_ids(tok, S)
    print("S=%d first ids %s (bos %s)" % (S, ids[:4], tok.bos_token_id))
    L = model.config.num_hidden_layers
    cut = S % a.gamma + max(128, a.gamma)
    STATE["rows"] = {"streaming": (a.sink + a.window, S - cut), "block": (a.block, S - cut)}
    t = time.time()
    STATE["per_layer"] = ["streaming", "block"] if a.per_layer else None
    STATE["per_layer_out"] = {}
    _, dense = run(model, ids, "dense", L - 1)
    STATE["per_layer"] = None
    print("dense forward %.1fs" % (time.time() - t))
    print("params sink=%d window=%d block=%d tail=%d gamma=%d cut=%d" % (a.sink, a.window, a.block, a.tail, a.gamma, cut))
    print("(1) last layer (%d) attention output, variant in every layer, mean cos to dense:" % (L - 1))
    for base in a.bases.split(","):
        r0, r1 = STATE["rows"][base]
        _, sp = run(model, ids, base, L - 1)
        _, dl = run(model, ids, base + "+delta", L - 1)
        print("  rows [%d,%d): %-10s %.4f   %s+delta %.4f" % (r0, r1, base, cos_rows(dense, sp, r0, r1), base,
                                                             cos_rows(dense, dl, r0, r1)))
        sys.stdout.flush()
    if a.per_layer:
        print("(2) per layer, dense inputs (one-layer effect), mean cos to dense: layer  streaming  +delta  block  +delta")
        for li in range(L):
            r = STATE["per_layer_out"][li]
            print("  %2d  %.4f %.4f   %.4f %.4f" % (li, r["streaming"][0], r["streaming"][1], r["block"][0],
                                                   r["block"][1]))
        for base in ("streaming", "block"):
            ms = sum(STATE["per_layer_out"][li][base][0] for li in range(L)) / L
            md = sum(STATE["per_layer_out"][li][base][1] for li in range(L)) / L
            nb = sum(STATE["per_layer_out"][li][base][1] > STATE["per_layer_out"][li][base][0] for li in range(L))
            print("  mean over layers %s %.4f +delta %.4f (delta better in %d/%d layers)" % (base, ms, md, nb, L))


def cmd_ppl(a, tok, model):
    raw = open(TEXT, "rb").read()[:a.bytes]
    ids = [int(x) for x in tok(raw.decode("utf-8", errors="strict"), add_special_tokens=True)["input_ids"]]
    wins = [ids[i:i + a.ctx] for i in range(0, len(ids), a.ctx)]
    wins = [w for w in wins if len(w) >= 2][:a.windows]
    print("tokens %d, windows used %d (ctx %d), first ids %s" % (len(ids), len(wins), a.ctx, ids[:4]))
    for name in a.variants.split(","):
        tot, n = 0.0, 0
        for w in wins:
            lg, _ = run(model, w, name)
            lp = torch.log_softmax(lg.double(), dim=-1)
            tgt = torch.tensor(w[1:])
            tot += -lp[:-1].gather(1, tgt.view(-1, 1)).sum().item()
            n += len(w) - 1
        print("  %-16s nll %.4f  (scored %d)" % (name, tot / n, n))
        sys.stdout.flush()


def token_nll(model, ids, name):
    """-log p(ids[i] | ids[:i]) for i >= 1 (float64), the whole of ids prefilled under name."""
    lg, _ = run(model, ids, name)
    lp = torch.log_softmax(lg.double(), dim=-1)
    return -lp[:-1].gather(1, torch.tensor(ids[1:]).view(-1, 1)).view(-1)


def key_tokens(model, w, T, slide):
    """Positions i of window w whose dense prediction needs more than T tokens of context."""
    full = token_nll(model, w, "dense")
    n, keys = len(w), []
    for start in range(0, n - T, slide):
        L = min(T + slide, n - start)
        short = token_nll(model, w[start:start + L], "dense")
        for t in range(T, L):
            f, sh = full[start + t - 1].item(), short[t - 1].item()
            if sh - f > 2 and f < 2:
                keys.append(start + t)
    return keys, full


def cmd_longppl(a, tok, model):
    raw = open(TEXT, "rb").read()[:a.bytes]
    ids = [int(x) for x in tok(raw.decode("utf-8", errors="strict"), add_special_tokens=True)["input_ids"]]
    wins = [ids[i:i + a.ctx] for i in range(0, len(ids), a.ctx)]
    wins = [w for w in wins if len(w) >= 2][:a.windows]
    slide = a.slide or max(1, a.trunc // 4)
    print("tokens %d, windows used %d (ctx %d), trunc %d, slide %d" % (len(ids), len(wins), a.ctx, a.trunc, slide))
    keys = []
    for k, w in enumerate(wins):
        kk, _ = key_tokens(model, w, a.trunc, slide)
        keys.append(kk)
        print("  window %d: %d key tokens at %s" % (k, len(kk), kk))
    nk = sum(len(kk) for kk in keys)
    for name in a.variants.split(","):
        tot, key, n = 0.0, 0.0, 0
        for w, kk in zip(wins, keys):
            nll = token_nll(model, w, name)
            tot += nll.sum().item()
            key += sum(nll[i - 1].item() for i in kk)
            n += len(w) - 1
        print("  %-18s nll %.6f  key_tokens %d  key_nll %.6f" % (name, tot / n, nk, key / nk if nk else float("nan")))
        sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["haystack", "ppl", "longppl"])
    ap.add_argument("--S", type=int, default=4096)
    ap.add_argument("--sink", type=int, default=None)
    ap.add_argument("--window", type=int, default=256)
    ap.add_argument("--block", type=int, default=512)
    ap.add_argument("--tail", type=int, default=128)
    ap.add_argument("--gamma", type=int, default=64)
    ap.add_argument("--bases", default="streaming,block")
    ap.add_argument("--no-per-layer", dest="per_layer", action="store_false")
    ap.add_argument("--bytes", type=int, default=60000)
    ap.add_argument("--ctx", type=int, default=2048)
    ap.add_argument("--windows", type=int, default=1)
    ap.add_argument("--variants", default="dense,streaming,streaming+delta")
    ap.add_argument("--trunc", type=int, default=512)
    ap.add_argument("--slide", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    if a.sink is None:
        a.sink = 64 if a.cmd == "haystack" else 16
    torch.set_num_threads(a.threads)
    for k in ("sink", "window", "block", "tail", "gamma"):   # the variant's parameters, for every mode
        STATE[k] = getattr(a, k)
    tok, model = load()
    {"haystack": cmd_haystack, "ppl": cmd_ppl, "longppl": cmd_longppl}[a.cmd](a, tok, model)


if __name__ == "__main__":
    main()
