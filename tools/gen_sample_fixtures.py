#!/usr/bin/env python3
"""gen_sample_fixtures.py - reference distributions for src/sample.c from
Hugging Face transformers' own logits warpers.

Writes tests/fixtures/sample/warpers.json: a list of cases, each with fp32
logits, temperature, top_k, top_p, and `probs`, the softmax of the scores
after TemperatureLogitsWarper, TopKLogitsWarper and TopPLogitsWarper in the
order generate() builds them (transformers' _get_logits_processor), i.e. the
distribution generate(do_sample=True) draws from.

Cases mix random logits, ties (top-k keeps every tie with the k-th score),
a peaked row where top-p keeps one token, and a row with -inf. Cases whose
top-p boundary is within 1e-4 of a cumulative sum are redrawn, so float32
against float64 rounding cannot change which tokens survive.

Run with the PyTorch venv: /tmp/torchenv/bin/python tools/gen_sample_fixtures.py
"""
import json
import os

import numpy as np
import torch
from transformers.generation.logits_process import (TemperatureLogitsWarper, TopKLogitsWarper,
                                                    TopPLogitsWarper)

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "sample")


def warp(logits, temperature, top_k, top_p):
    scores = torch.tensor([logits], dtype=torch.float32)
    ids = torch.zeros((1, 1), dtype=torch.long)
    if temperature != 1.0:
        scores = TemperatureLogitsWarper(temperature)(ids, scores)
    if top_k > 0:
        scores = TopKLogitsWarper(top_k=top_k)(ids, scores)
    if top_p < 1.0:
        scores = TopPLogitsWarper(top_p=top_p)(ids, scores)
    return torch.softmax(scores, dim=-1)[0].tolist()


def safe_top_p(logits, temperature, top_k, top_p):
    """False when a cumulative sum of the kept tokens lies within 1e-4 of top_p."""
    x = np.asarray(logits, dtype=np.float64) / temperature
    order = np.argsort(-x, kind="stable")
    if top_k > 0:
        th = x[order[min(top_k, len(x)) - 1]]
        order = [i for i in order if x[i] >= th]
    p = np.exp(x[order] - x[order[0]])
    p /= p.sum()
    return all(abs(c - top_p) > 1e-4 for c in np.cumsum(p))


def main():
    rng = np.random.default_rng(20240611)
    cases = []
    specs = [(1.0, 0, 1.0), (0.7, 0, 1.0), (1.3, 0, 1.0), (1.0, 5, 1.0), (1.0, 1, 1.0), (1.0, 0, 0.9),
             (1.0, 0, 0.5), (0.8, 10, 0.95), (1.5, 40, 0.8), (1.0, 200, 0.3), (0.5, 3, 0.99), (2.0, 0, 0.7)]
    for temperature, top_k, top_p in specs:
        for n in (17, 64, 300):
            while True:
                logits = (rng.standard_normal(n) * rng.uniform(0.5, 4.0)).astype(np.float32)
                if top_p >= 1.0 or safe_top_p(logits, temperature, top_k, top_p):
                    break
            cases.append({"logits": [float(v) for v in logits], "temperature": temperature, "top_k": top_k,
                          "top_p": top_p})
    # ties at the k-th score: all of them stay
    tie = [3.0, 1.0, 2.0, 2.0, 2.0, 0.5, -1.0, 2.0]
    cases.append({"logits": tie, "temperature": 1.0, "top_k": 2, "top_p": 1.0})
    # one dominant token: top-p keeps just it
    peak = [0.0] * 20
    peak[7] = 12.0
    cases.append({"logits": peak, "temperature": 1.0, "top_k": 0, "top_p": 0.9})
    # -inf entries never get mass
    ninf = [1.0, float("-inf"), 0.5, float("-inf"), 2.0]
    cases.append({"logits": ninf, "temperature": 0.9, "top_k": 0, "top_p": 1.0})
    for c in cases:
        c["probs"] = warp(c["logits"], c["temperature"], c["top_k"], c["top_p"])
        c["logits"] = ["-inf" if v == float("-inf") else v for v in c["logits"]]
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "warpers.json"), "w") as f:
        src = "transformers %s TemperatureLogitsWarper/TopKLogitsWarper/TopPLogitsWarper, torch %s softmax" % (
            __import__("transformers").__version__, torch.__version__)
        f.write('{"source": %s,\n"cases": [\n' % json.dumps(src))
        f.write(",\n".join(json.dumps(c) for c in cases))
        f.write("\n]}\n")
    print("wrote %d cases to %s" % (len(cases), os.path.join(OUT, "warpers.json")))


if __name__ == "__main__":
    main()
