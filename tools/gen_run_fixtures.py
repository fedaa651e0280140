#!/usr/bin/env python3
"""gen_run_fixtures.py - expectations for tests/test_run_bench.sh (evalctl run
on prepared RULER files, InfiniteBench and PG19), from the official Python
code run as it is.

Writes, under tests/fixtures/run/:
  ruler/256/data/fwe/validation.jsonl
                    RULER's OWN output, laid out as RULER's run.sh lays out
                    benchmark_root/MODEL/synthetic/LENGTH/data/TASK/: NVIDIA/RULER's
                    scripts/data/prepare.py --task fwe --max_seq_length 256
                    --num_samples 2 --model_template_type base --tokenizer_type
                    hf on tests/fixtures/tok/smollm2 (fwe is the one task RULER
                    can fit into 256 tokens; niah and vt loop forever there)
  infbench_expected.jsonl
                    {"task", "line", "length", "prompt_tokens"}: for the records
                    of tests/fixtures/infbench/data/longbook_choice_eng.jsonl and
                    longbook_qa_eng.jsonl, the length of what the official open
                    harness feeds the model at truncation length LENGTH:
                    eval_utils.create_prompt(record, task, "yarn-mistral") cut by
                    eval_yarn_mistral.truncate_by_tokens(prompt, tok, LENGTH),
                    then tok(text)["input_ids"], with the SmolLM2 tokenizer
                    (tests/fixtures/tok/smollm2) through transformers

The official code is not part of evalctl:
  --official DIR   DIR/infinitebench/{eval_utils,prompt,eval_yarn_mistral}.py from
                   OpenBMB/InfiniteBench 88b3daa (tools/gen_infbench_fixtures.py
                   --setup fills it from a git clone)
  --ruler DIR      a NVIDIA/RULER checkout (default: clone into /tmp, as
                   tools/gen_ruler_fixtures.py does); prepare.py needs nltk,
                   wonderwords==2.2.0, tenacity, tqdm, scipy, pyyaml, numpy and
                   transformers importable by this interpreter

Usage: tools/gen_run_fixtures.py --official DIR [--ruler DIR]
"""
import argparse
import contextlib
import copy
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FX = os.path.join(ROOT, "tests", "fixtures", "run")
sys.path.insert(0, os.path.join(ROOT, "tools"))
import gen_infbench_fixtures as infx  # noqa: E402  (its loaders of the official files)
import gen_ruler_fixtures as rufx  # noqa: E402  (its RULER checkout and punkt stand-in)

RULER_TASK, RULER_LENGTH, RULER_SAMPLES = "fwe", 256, 2
INFB_TASKS = ["longbook_choice_eng", "longbook_qa_eng"]
INFB_LENGTHS = [64, 128]


def gen_ruler(ruler_dir):
    work = tempfile.mkdtemp(prefix="run-fx-")
    try:
        shutil.copytree(os.path.join(ruler_dir, "scripts", "data"), os.path.join(work, "scripts", "data"))
        shutil.copy(os.path.join(ruler_dir, "scripts", "synthetic.yaml"), os.path.join(work, "scripts"))
        with open(os.path.join(work, "scripts", "data", "synthetic", "json", "english_words.json"), "w") as fh:
            json.dump({}, fh)
        bindir = os.path.join(work, "bin")
        os.makedirs(bindir)
        wrapper = os.path.join(bindir, "python")
        with open(wrapper, "w") as fh:
            fh.write(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
        os.chmod(wrapper, 0o755)
        env = dict(os.environ, PATH=bindir + os.pathsep + os.environ["PATH"], TOKENIZERS_PARALLELISM="false")
        if not rufx.have_punkt():
            site = os.path.join(work, "site")
            os.makedirs(site)
            with open(os.path.join(site, "sitecustomize.py"), "w") as fh:
                fh.write(rufx.SITECUSTOMIZE)
            env["PYTHONPATH"] = site + os.pathsep + env.get("PYTHONPATH", "")
        out = os.path.join(work, "out")
        tok = os.path.join(ROOT, "tests", "fixtures", "tok", "smollm2")
        cmd = [sys.executable, "prepare.py", "--save_dir", out, "--benchmark", "synthetic", "--task", RULER_TASK,
               "--tokenizer_path", tok, "--tokenizer_type", "hf", "--max_seq_length", str(RULER_LENGTH),
               "--model_template_type", "base", "--num_samples", str(RULER_SAMPLES), "--random_seed", "42"]
        r = subprocess.run(cmd, cwd=os.path.join(work, "scripts", "data"), env=env, capture_output=True, text=True,
                           timeout=600)
        got = os.path.join(out, RULER_TASK, "validation.jsonl")
        if r.returncode != 0 or not os.path.exists(got):
            sys.exit(f"gen_run_fixtures: prepare.py failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
        dst = os.path.join(FX, "ruler", str(RULER_LENGTH), "data", RULER_TASK)
        os.makedirs(dst, exist_ok=True)
        shutil.copy(got, os.path.join(dst, "validation.jsonl"))
        print(os.path.relpath(os.path.join(dst, "validation.jsonl"), ROOT))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def gen_infbench(official):
    from transformers import AutoTokenizer
    infb = os.path.join(official, "infinitebench")
    infx.stub("rouge", Rouge=object)
    infx.stub("jieba", cut=None)
    sys.path.insert(0, infb)
    eval_utils = infx.load_module("eval_utils", os.path.join(infb, "eval_utils.py"))
    trunc = infx.functions_from(os.path.join(infb, "eval_yarn_mistral.py"), ["truncate_input", "truncate_by_tokens"])
    tok = AutoTokenizer.from_pretrained(os.path.join(ROOT, "tests", "fixtures", "tok", "smollm2"))
    rows = []
    for task in INFB_TASKS:
        path = os.path.join(ROOT, "tests", "fixtures", "infbench", "data", task + ".jsonl")
        with open(path, encoding="utf8") as fh:
            lines = fh.read().split("\n")
        for ln, text in enumerate(lines, 1):
            if not text.strip():
                continue
            rec = json.loads(text)
            prompt = eval_utils.create_prompt(copy.deepcopy(rec), task, "yarn-mistral", ".")
            for length in INFB_LENGTHS:
                with contextlib.redirect_stdout(io.StringIO()):
                    cut = trunc["truncate_by_tokens"](prompt, tok, length)
                rows.append({"task": task, "line": ln, "length": length, "prompt_tokens": len(tok(cut)["input_ids"])})
    infx.dump_jsonl(os.path.join(FX, "infbench_expected.jsonl"), rows)
    print("tests/fixtures/run/infbench_expected.jsonl")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--official", required=True, help="DIR with infinitebench/*.py (see the top of this file)")
    ap.add_argument("--ruler", help="a NVIDIA/RULER checkout (default: clone into /tmp)")
    a = ap.parse_args()
    os.makedirs(FX, exist_ok=True)
    gen_infbench(a.official)
    gen_ruler(rufx.ruler_checkout(a.ruler))


if __name__ == "__main__":
    main()
