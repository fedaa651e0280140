#!/usr/bin/env python3
"""gen_forward_fixtures.py - reference outputs of the forward pass for tests/test_forward.c.

The oracle is transformers (PyTorch) in fp32 on the CPU with eager attention:
for each model it records
  * the last-position logits of several prompts (token-id lists, stored, so the
    C test needs no tokenizer): every logit for the tiny vocabularies; for a big
    vocabulary the top 50, 48 probes spread over it, the L2 norm and the max-abs;
  * 32 greedy tokens after each prompt (KV cache, no eos stop) and the top-2 logit
    gap at every step;
  * a windowed perplexity: ids cut into consecutive windows of `ctx` tokens, each
    run from an empty cache, every token but a window's first scored; the mean
    NLL in nats (log-softmax in float64).

Models: the tiny random HF directories under tests/fixtures/hf/ (tiny-llama3:
llama3 RoPE scaling, tied, GQA; tiny-qwen2: q/k/v biases, bf16; tiny-mistral:
f16) and SmolLM2-135M-Instruct, loaded by transformers from the GGUF file
(dequantised by gguf-py to fp32, Q/K un-permuted to the HF layout).

Output: tests/fixtures/forward/<name>.json and MANIFEST (the files written, which
test_forward.c then requires). Prompts are random ids (fixed seed) for the tiny
models and a public-domain English text tokenised by SmolLM2's own tokenizer
(repeated to reach 2,048 tokens) for SmolLM2.

Usage (from anywhere; needs torch, transformers >= 4.45, gguf, numpy; no network):
  python3 tools/gen_forward_fixtures.py [--gguf models/smollm2-135m-instruct.gguf]
  python3 tools/gen_forward_fixtures.py --dry-run     # the plan, no torch needed
  python3 tools/gen_forward_fixtures.py --self-test   # the whole pipeline on a
                                                      # numpy stand-in model
Exit status 0 when every model was written, 1 when any failed (the others are
still written and listed in MANIFEST).
"""
import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
import traceback

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "forward")
HF = os.path.join(ROOT, "tests", "fixtures", "hf")
SMOLLM2_REL = "models/smollm2-135m-instruct.gguf"  # the path test_forward.c opens

GREEDY_STEPS = 32
FULL_VOCAB_MAX = 4096   # store every logit up to this vocabulary size
TOP_K = 50
N_PROBES = 48

# Public domain: Charles Dickens, A Tale of Two Cities (1859), opening; Abraham
# Lincoln, the Gettysburg Address (1863).
TEXT = """It was the best of times, it was the worst of times, it was the age of wisdom, \
it was the age of foolishness, it was the epoch of belief, it was the epoch of incredulity, \
it was the season of Light, it was the season of Darkness, it was the spring of hope, \
it was the winter of despair, we had everything before us, we had nothing before us, \
we were all going direct to Heaven, we were all going direct the other way - in short, \
the period was so far like the present period, that some of its noisiest authorities \
insisted on its being received, for good or for evil, in the superlative degree of comparison only.

There were a king with a large jaw and a queen with a plain face, on the throne of England; \
there were a king with a large jaw and a queen with a fair face, on the throne of France. \
In both countries it was clearer than crystal to the lords of the State preserves of loaves \
and fishes, that things in general were settled for ever.

Four score and seven years ago our fathers brought forth on this continent, a new nation, \
conceived in Liberty, and dedicated to the proposition that all men are created equal.

Now we are engaged in a great civil war, testing whether that nation, or any nation so \
conceived and so dedicated, can long endure. We are met on a great battle-field of that war. \
We have come to dedicate a portion of that field, as a final resting place for those who here \
gave their lives that that nation might live. It is altogether fitting and proper that we \
should do this.

But, in a larger sense, we can not dedicate - we can not consecrate - we can not hallow - this \
ground. The brave men, living and dead, who struggled here, have consecrated it, far above our \
poor power to add or detract. The world will little note, nor long remember what we say here, \
but it can never forget what they did here. It is for us the living, rather, to be dedicated \
here to the unfinished work which they who fought here have thus far so nobly advanced. It is \
rather for us to be here dedicated to the great task remaining before us - that from these \
honored dead we take increased devotion to that cause for which they gave the last full measure \
of devotion - that we here highly resolve that these dead shall not have died in vain - that \
this nation, under God, shall have a new birth of freedom - and that government of the people, \
by the people, for the people, shall not perish from the earth.
"""


def f32(x):
    """A float32 value as the shortest decimal that reads back to the same float32."""
    x = np.float32(x)
    for digits in range(6, 10):
        s = "%.*g" % (digits, x)
        if np.float32(s) == x:
            return float(s)
    return float(x)


# ----------------------------------------------------------------------- plan


def tiny_specs():
    specs = []
    for name in ("tiny-llama3", "tiny-qwen2", "tiny-mistral"):
        d = os.path.join(HF, name)
        cfg_path = os.path.join(d, "config.json")
        if not os.path.isfile(cfg_path):
            print("warning: %s missing, skipped" % cfg_path, file=sys.stderr)
            continue
        with open(cfg_path) as f:
            cfg = json.load(f)
        ctx = int(cfg.get("max_position_embeddings", 512))
        vocab = int(cfg["vocab_size"])
        lengths = sorted({16, max(17, ctx // 3), ctx - GREEDY_STEPS})
        specs.append({
            "name": name,
            "model_rel": os.path.relpath(d, ROOT),
            "load": ("hf", d),
            "vocab_hint": vocab,
            "lengths": lengths,
            "ids_from": "random",
            "ppl_n": min(300, 4 * ctx), "ppl_ctx": min(64, ctx),
        })
    return specs


def smollm2_spec(gguf_path):
    return {
        "name": "smollm2-135m-instruct",
        "model_rel": SMOLLM2_REL,
        "load": ("gguf", gguf_path),
        "vocab_hint": 49152,
        "lengths": [16, 128, 512, 2048],
        "ids_from": "text",
        "ppl_n": 300, "ppl_ctx": 128,
    }


def random_ids(seed, n, vocab):
    rng = np.random.RandomState(seed)
    return [int(v) for v in rng.randint(0, vocab, size=n)]


def text_ids(tokenizer_ids, n):
    """The first n ids of the text's tokens repeated end to end."""
    out = []
    while len(out) < n:
        out.extend(tokenizer_ids)
    return out[:n]


# --------------------------------------------------------------- the records


def logits_record(lg):
    """lg: float32 numpy vector of one position's logits."""
    lg = np.asarray(lg, dtype=np.float32)
    v = lg.shape[0]
    rec = {"max_abs": f32(np.abs(lg).max()), "l2": float(np.sqrt(np.sum(lg.astype(np.float64) ** 2)))}
    if v <= FULL_VOCAB_MAX:
        rec["full"] = [f32(x) for x in lg]
    else:
        top = np.argsort(-lg, kind="stable")[:TOP_K]
        rec["top_ids"] = [int(i) for i in top]
        rec["top_vals"] = [f32(lg[i]) for i in top]
        probes = [int(i) for i in np.linspace(0, v - 1, N_PROBES).round().astype(np.int64)]
        rec["probe_ids"] = probes
        rec["probe_vals"] = [f32(lg[i]) for i in probes]
    return rec


def top2_gap(lg):
    lg = np.asarray(lg, dtype=np.float32)
    a = np.partition(lg, -2)[-2:]
    return f32(abs(float(a[1]) - float(a[0])))


def greedy(runner, ids, steps):
    lg = runner.prefill(ids)
    last = lg
    toks, gaps = [], []
    for i in range(steps):
        t = int(np.argmax(lg))  # first maximum, as torch.argmax
        toks.append(t)
        gaps.append(top2_gap(lg))
        if i + 1 < steps:
            lg = runner.decode(t)
    return last, toks, gaps


def ppl_record(runner, ids, ctx):
    nll, scored, windows = 0.0, 0, 0
    for s in range(0, len(ids), ctx):
        w = ids[s:s + ctx]
        if len(w) < 2:
            break
        lg = np.asarray(runner.all_logits(w), dtype=np.float64)  # [len(w)][V]
        mx = lg.max(axis=1, keepdims=True)
        lse = mx[:, 0] + np.log(np.exp(lg - mx).sum(axis=1))
        rows = np.arange(len(w) - 1)
        nll += float(np.sum(lse[:-1] - lg[rows, np.asarray(w[1:])]))
        scored += len(w) - 1
        windows += 1
    return {"ids": ids, "ctx": ctx, "windows": windows, "scored": scored, "nll": nll / scored}


def build_fixture(spec, runner, prompt_ids, ppl_ids, provenance):
    cases = []
    for ids in prompt_ids:
        t0 = time.time()
        last, toks, gaps = greedy(runner, ids, GREEDY_STEPS)
        cases.append({"ids": ids, "last": logits_record(last), "greedy": toks, "gap": gaps})
        print("  %s: %d-token prompt done in %.1fs (greedy %s...)" % (spec["name"], len(ids), time.time() - t0,
                                                                      toks[:6]), flush=True)
    rec = {
        "format": 1,
        "name": spec["name"],
        "model": spec["model_rel"],
        "vocab": runner.vocab,
        "reference": provenance,
        "ids_from": spec["ids_from"],
        "cases": cases,
        "ppl": ppl_record(runner, ppl_ids, spec["ppl_ctx"]),
    }
    return rec


def write_json(path, rec):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(rec, f, separators=(",", ":"))
        f.write("\n")
    os.replace(tmp, path)


# ------------------------------------------------------------------- runners


class TorchRunner:
    """transformers model in fp32 on the CPU; prefill/decode keep a KV cache."""

    def __init__(self, torch, model):
        self.torch, self.model = torch, model
        self.vocab = int(model.config.vocab_size)
        self.past = None

    def _forward(self, ids, past, keep_last):
        torch = self.torch
        kw = {"input_ids": torch.tensor([ids], dtype=torch.long), "use_cache": True}
        if past is not None:
            kw["past_key_values"] = past
        if keep_last:
            try:
                out = self.model(**kw, logits_to_keep=1)
            except TypeError:
                out = self.model(**kw)
        else:
            out = self.model(**kw)
        return out

    def prefill(self, ids):
        with self.torch.no_grad():
            out = self._forward(ids, None, True)
        self.past = out.past_key_values
        return out.logits[0, -1].float().numpy().copy()

    def decode(self, tok):
        with self.torch.no_grad():
            out = self._forward([tok], self.past, True)
        self.past = out.past_key_values
        return out.logits[0, -1].float().numpy().copy()

    def all_logits(self, ids):
        with self.torch.no_grad():
            out = self.model(input_ids=self.torch.tensor([ids], dtype=self.torch.long), use_cache=False)
        return out.logits[0].float().numpy().copy()


class FakeRunner:
    """--self-test: a deterministic numpy stand-in (a causal bag of embeddings)."""

    def __init__(self, vocab, seed=0):
        rng = np.random.RandomState(seed)
        self.vocab = vocab
        self.emb = rng.standard_normal((vocab, 16)).astype(np.float32)
        self.out = rng.standard_normal((vocab, 16)).astype(np.float32)
        self.hist = []

    def _logits(self, hist):
        h = self.emb[hist].mean(axis=0)
        return (self.out @ h).astype(np.float32)

    def prefill(self, ids):
        self.hist = list(ids)
        return self._logits(self.hist)

    def decode(self, tok):
        self.hist.append(tok)
        return self._logits(self.hist)

    def all_logits(self, ids):
        return np.stack([self._logits(ids[:i + 1]) for i in range(len(ids))])


def load_torch_model(torch, transformers, spec):
    """The model as plain fp32 nn.Linear/nn.Embedding layers: transformers >= 5.2x can keep GGUF
    weights packed behind quantised matmul kernels, which would not be an fp32 reference, so the
    GGUF is loaded with GgufConfig(dequantize=True) where that exists, and the result is checked."""
    kind, path = spec["load"]
    kw = {"attn_implementation": "eager"}
    attempts = [{}]
    if kind == "gguf":
        d, f = os.path.split(os.path.abspath(path))
        kw["gguf_file"] = f
        path = d
        try:
            from transformers import GgufConfig
            attempts.insert(0, {"quantization_config": GgufConfig(gguf_file=f, dequantize=True)})
        except ImportError:
            pass
    errors = []
    for extra in attempts:
        try:
            try:
                model = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, **kw, **extra)
            except TypeError:
                model = transformers.AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch.float32, **kw,
                                                                          **extra)
        except Exception as e:  # try the next way of loading
            errors.append("%s: %s" % (sorted(extra), e))
            continue
        packed = [n for n, m in model.named_modules() if type(m).__name__.startswith("Gguf")]
        if packed:
            errors.append("%s: weights left packed in %s" % (sorted(extra), packed[:3]))
            continue
        model = model.float().eval()  # bf16/f16 checkpoints upcast exactly
        for n, p in model.named_parameters():
            if p.dtype != torch.float32:
                raise RuntimeError("parameter %s is %s, not float32" % (n, p.dtype))
        impl = getattr(model.config, "_attn_implementation", "eager")
        if impl != "eager":
            print("warning: attention implementation is %s, not eager" % impl, file=sys.stderr)
        return model
    raise RuntimeError("cannot load %s as a dense fp32 model: %s" % (spec["load"][1], "; ".join(errors)))


def smollm2_text_ids(transformers, gguf_path):
    d, f = os.path.split(os.path.abspath(gguf_path))
    tok = transformers.AutoTokenizer.from_pretrained(d, gguf_file=f)
    ids = tok(TEXT, add_special_tokens=False)["input_ids"]
    if len(ids) < 100:
        raise RuntimeError("text tokenised to only %d ids" % len(ids))
    return [int(i) for i in ids]


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def prompts_for(spec, vocab, text):
    if spec["ids_from"] == "text" and text:
        prompts = [text_ids(text, n) for n in spec["lengths"]]
        ppl = text_ids(text[37:] + text[:37], spec["ppl_n"])
    else:
        prompts = [random_ids(1000 + n, n, vocab) for n in spec["lengths"]]
        ppl = random_ids(77, spec["ppl_n"], vocab)
    return prompts, ppl


# ---------------------------------------------------------------------- main


def run(specs, out_dir, make_runner, text_for, provenance_for):
    os.makedirs(out_dir, exist_ok=True)
    written, failed = [], []
    for spec in specs:
        t0 = time.time()
        print("%s: loading %s" % (spec["name"], spec["load"][1]), flush=True)
        try:
            runner = make_runner(spec)
            text = text_for(spec)
            if spec["ids_from"] == "text" and not text:
                spec = dict(spec, ids_from="random")
            prompts, ppl = prompts_for(spec, runner.vocab, text)
            rec = build_fixture(spec, runner, prompts, ppl, provenance_for(spec))
            fn = spec["name"] + ".json"
            write_json(os.path.join(out_dir, fn), rec)
            written.append(fn)
            print("%s: wrote %s (%.0f KB) in %.0fs; ppl nll %.6f" % (
                spec["name"], fn, os.path.getsize(os.path.join(out_dir, fn)) / 1024, time.time() - t0,
                rec["ppl"]["nll"]), flush=True)
        except Exception:
            traceback.print_exc()
            print("%s: FAILED, no fixture written" % spec["name"], file=sys.stderr, flush=True)
            failed.append(spec["name"])
    # keep entries of earlier runs whose files are still there (e.g. --only)
    man = os.path.join(out_dir, "MANIFEST")
    old = []
    if os.path.isfile(man):
        with open(man) as f:
            old = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    names = sorted(set(written) | {n for n in old if os.path.isfile(os.path.join(out_dir, n))})
    with open(man, "w") as f:
        f.write("# fixtures written by tools/gen_forward_fixtures.py; test_forward.c requires each\n")
        for n in names:
            f.write(n + "\n")
    total = sum(os.path.getsize(os.path.join(out_dir, n)) for n in names)
    print("MANIFEST: %d fixtures, %.0f KB in all%s" % (len(names), total / 1024,
                                                       "; FAILED: " + ", ".join(failed) if failed else ""))
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gguf", default=os.path.join(ROOT, SMOLLM2_REL),
                    help="SmolLM2-135M-Instruct GGUF (default %(default)s)")
    ap.add_argument("--out", default=OUT, help="output directory (default %(default)s)")
    ap.add_argument("--only", action="append", default=[], help="only this model name (repeatable)")
    ap.add_argument("--no-gguf", action="store_true", help="skip SmolLM2")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    ap.add_argument("--dry-run", action="store_true", help="print the plan; needs no torch")
    ap.add_argument("--self-test", action="store_true",
                    help="run the pipeline on a numpy stand-in model into a temporary directory")
    args = ap.parse_args()

    specs = tiny_specs()
    if not args.no_gguf:
        if os.path.isfile(args.gguf):
            specs.append(smollm2_spec(args.gguf))
        else:
            print("warning: %s not found; SmolLM2 skipped (give --gguf PATH)" % args.gguf, file=sys.stderr)
    if args.only:
        specs = [s for s in specs if s["name"] in args.only]
    if not specs:
        print("nothing to do", file=sys.stderr)
        return 1

    if args.dry_run or args.self_test:
        for s in specs:
            print("%-22s %-5s %s prompts %s, ppl %d ids ctx %d -> %s.json" % (
                s["name"], s["load"][0], s["ids_from"], s["lengths"], s["ppl_n"], s["ppl_ctx"], s["name"]))
        if args.dry_run:
            return 0
        with tempfile.TemporaryDirectory() as tmp:
            rc = run(specs, tmp, lambda s: FakeRunner(s["vocab_hint"]),
                     lambda s: list(range(5, 400)) if s["ids_from"] == "text" else None,
                     lambda s: {"oracle": "self-test stand-in"})
            for fn in sorted(os.listdir(tmp)):
                p = os.path.join(tmp, fn)
                if fn.endswith(".json"):
                    with open(p) as f:
                        rec = json.load(f)
                    n, ctx = len(rec["ppl"]["ids"]), rec["ppl"]["ctx"]
                    want = sum(min(ctx, n - s) - 1 for s in range(0, n, ctx) if n - s >= 2)
                    assert rec["ppl"]["scored"] == want, (rec["ppl"]["scored"], want)
                    assert all(len(c["greedy"]) == GREEDY_STEPS for c in rec["cases"])
                print("self-test: %s %d bytes" % (fn, os.path.getsize(p)))
            return rc

    import torch  # noqa: E402
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import transformers  # noqa: E402

    torch.manual_seed(0)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    models = {}

    def make_runner(spec):
        m = load_torch_model(torch, transformers, spec)
        models[spec["name"]] = m
        return TorchRunner(torch, m)

    def text_for(spec):
        if spec["ids_from"] != "text":
            return None
        try:
            return smollm2_text_ids(transformers, spec["load"][1])
        except Exception as e:  # the tokenizer is a convenience: fall back to random ids
            print("warning: tokenizer from %s failed (%s); random ids instead" % (spec["load"][1], e),
                  file=sys.stderr)
            return None

    def provenance_for(spec):
        p = {"oracle": "transformers AutoModelForCausalLM, fp32, CPU, eager attention",
             "transformers": transformers.__version__, "torch": torch.__version__,
             "threads": torch.get_num_threads()}
        if spec["load"][0] == "gguf":
            import gguf  # noqa: F401
            p["gguf_sha256"] = sha256_of(spec["load"][1])
            p["gguf_py"] = getattr(gguf, "__version__", "?")
        return p

    return run(specs, args.out, make_runner, text_for, provenance_for)


if __name__ == "__main__":
    sys.exit(main())
