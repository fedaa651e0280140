#!/usr/bin/env python3
"""gen_ruler_fixtures.py - fixtures for tests/test_ruler.c and tests/test_gen_cli.sh.

Writes, under tests/fixtures/ruler/:
  squad.json, hotpotqa.json   small synthetic data sets in the official SQuAD v2.0
                              dev and HotpotQA dev-distractor formats (made up
                              here, deterministic), for the qa_1/qa_2 path
  words/                      small word lists: every 11th line of wonderwords'
                              noun/adjective/verb lists (data/words, MIT) and
                              5000 made-up lowercase words as english.txt
  official/TASK.jsonl         RULER's OWN output: NVIDIA/RULER's scripts/data/prepare.py
                              run for the 13 synthetic tasks, 2 samples each at
                              max_seq_length 2048, model_template_type base,
                              tokenizer_type hf on tests/fixtures/tok/smollm2, with
                              the squad/hotpotqa files above and data/texts/kjv.txt
                              (first 300000 characters) as PaulGrahamEssays.json
  official/README             the RULER commit and how the files were made

RULER is not vendored: pass --ruler DIR (a checkout), or the script clones
https://github.com/NVIDIA/RULER at RULER_COMMIT into /tmp. It needs nltk,
wonderwords==2.2.0, tenacity, tqdm, scipy, pyyaml, numpy and transformers
importable by this interpreter. When NLTK's punkt model is not installed (and
cannot be downloaded), sent_tokenize is replaced by NLTK's untrained
PunktSentenceTokenizer through a sitecustomize.py on PYTHONPATH; README says
which was used. RULER's json/english_words.json (a Git LFS object, only read
beyond 8169 words) is replaced by {}.

Usage: tools/gen_ruler_fixtures.py [--ruler DIR] [--skip-official]
"""
import argparse
import importlib.metadata
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FX = os.path.join(ROOT, "tests", "fixtures", "ruler")
RULER_URL = "https://github.com/NVIDIA/RULER"
RULER_COMMIT = "c3f5e3b"  # Merge pull request #108 (2025)
TASKS = ["niah_single_1", "niah_single_2", "niah_single_3", "niah_multikey_1", "niah_multikey_2",
         "niah_multikey_3", "niah_multivalue", "niah_multiquery", "vt", "cwe", "fwe", "qa_1", "qa_2"]
LENGTH = 2048
SAMPLES = 2

# ---------------------------------------------------------------- made-up QA data

PLACES = ["Arvendale", "Brisk Hollow", "Corlan", "Dunmere", "Eskarth", "Fallowmere", "Glenriff", "Zürichmoor"]
THINGS = ["copper bells", "river barges", "glass lanterns", "wool carpets", "clay pipes", "salt cakes"]
BANKS = ["north", "east", "south", "west", "upper", "lower"]
PEOPLE = ["Ilsa Varrow", "Tomas Quenby", "Marit Oldcastle", "Perrin Hale", "Odile Marchetti", "Saul Brenner"]


def make_squad(rng):
    data = []
    for a, place in enumerate(PLACES):
        paragraphs = []
        for p in range(6):
            thing = THINGS[(a + p) % len(THINGS)]
            person = PEOPLE[(a * 5 + p) % len(PEOPLE)]
            year = 1400 + a * 37 + p * 11
            context = (f"{place} is known for its {thing}, first made there in {year}. "
                       f"The workshop on the {BANKS[p]} bank was run by {person}, "
                       f"who trained {rng.randint(3, 40)} apprentices. Traders carried the goods to "
                       f"{PLACES[(a + p + 1) % len(PLACES)]} along the old road.")
            qas = [
                {"question": f"In what year were {thing} first made in {place}?", "id": f"{a}-{p}-0",
                 "answers": [{"text": str(year), "answer_start": context.index(str(year))},
                             {"text": f"in {year}", "answer_start": context.index(str(year)) - 3}],
                 "is_impossible": False},
                {"question": f"Who ran the workshop on the {BANKS[p]} bank in {place}?",
                 "id": f"{a}-{p}-1", "answers": [{"text": person, "answer_start": context.index(person)}],
                 "is_impossible": False},
            ]
            if p == 2:
                qas.append({"question": f"How many ships sailed from {place}?", "id": f"{a}-{p}-2",
                            "answers": [], "plausible_answers": [{"text": "12", "answer_start": 0}],
                            "is_impossible": True})
            paragraphs.append({"context": context, "qas": qas})
        data.append({"title": place, "paragraphs": paragraphs})
    return {"version": "v2.0", "data": data}


def make_hotpot(rng):
    docs = []
    for i in range(30):
        place = PLACES[i % len(PLACES)]
        person = PEOPLE[i % len(PEOPLE)]
        title = f"{person} ({i})"
        sents = [f"{person} was a {['painter', 'surveyor', 'composer', 'bishop', 'merchant'][i % 5]} from {place}.",
                 f" In {1500 + 7 * i} {person.split()[0]} moved to {PLACES[(i + 3) % len(PLACES)]}.",
                 f" {person.split()[0]} wrote {rng.randint(2, 30)} letters about {THINGS[i % len(THINGS)]}."]
        docs.append((title, sents))
    out = []
    for q in range(8):
        gold = [docs[q * 2], docs[q * 2 + 1]]
        others = rng.sample([d for d in docs if d not in gold], 8)
        ctx = gold + others
        rng.shuffle(ctx)
        a = gold[1][0].split(" (")[0]
        out.append({"_id": f"hp{q}", "answer": a,
                    "question": f"Who moved to {PLACES[(q * 2 + 1 + 3) % len(PLACES)]} after writing about "
                                f"{THINGS[(q * 2 + 1) % len(THINGS)]}?",
                    "supporting_facts": [[gold[1][0], 1]], "type": "bridge", "level": "easy",
                    "context": [[t, s] for t, s in ctx]})
    return out


def make_words(rng):
    src = os.path.join(ROOT, "data", "words")
    out = os.path.join(FX, "words")
    os.makedirs(out, exist_ok=True)
    for f in ["nounlist.txt", "adjectivelist.txt", "verblist.txt"]:
        with open(os.path.join(src, f)) as fh:
            lines = fh.readlines()
        with open(os.path.join(out, f), "w") as fh:
            fh.writelines(lines[::11])
    shutil.copy(os.path.join(src, "LICENSE.wonderwords"), os.path.join(out, "LICENSE.wonderwords"))
    syl = [c + v for c in "bcdfghklmnprstvz" for v in "aeiou"]
    made = set()
    while len(made) < 5000:
        made.add("".join(rng.choice(syl) for _ in range(rng.randint(2, 4))))
    with open(os.path.join(out, "english.txt"), "w") as fh:
        fh.write("\n".join(sorted(made)) + "\n")


# ---------------------------------------------------------------- RULER's own output

SITECUSTOMIZE = '''# written by gen_ruler_fixtures.py: NLTK's punkt model is not installed here
import nltk, nltk.tokenize
from nltk.tokenize.punkt import PunktSentenceTokenizer
_p = PunktSentenceTokenizer()
nltk.download = lambda *a, **k: False
nltk.tokenize.sent_tokenize = lambda text, language="english": _p.tokenize(text)
'''


def have_punkt():
    import nltk
    for name in ("tokenizers/punkt_tab/english/", "tokenizers/punkt"):
        try:
            nltk.data.find(name)
            return True
        except LookupError:
            pass
    return False


def ruler_checkout(path):
    if path:
        return path
    dst = os.path.join(tempfile.gettempdir(), "ruler-src")
    if not os.path.isdir(os.path.join(dst, "scripts")):
        subprocess.run(["git", "clone", "-q", RULER_URL, dst], check=True)
        subprocess.run(["git", "-C", dst, "checkout", "-q", RULER_COMMIT], check=True)
    return dst


def run_official(ruler_dir):
    for mod in ["nltk", "wonderwords", "tenacity", "tqdm", "scipy", "yaml", "numpy", "transformers"]:
        __import__(mod)
    work = tempfile.mkdtemp(prefix="ruler-fx-")
    try:
        shutil.copytree(os.path.join(ruler_dir, "scripts", "data"), os.path.join(work, "scripts", "data"))
        shutil.copy(os.path.join(ruler_dir, "scripts", "synthetic.yaml"), os.path.join(work, "scripts"))
        js = os.path.join(work, "scripts", "data", "synthetic", "json")
        with open(os.path.join(ROOT, "data", "texts", "kjv.txt")) as fh:
            essay = fh.read()[:300000]
        with open(os.path.join(js, "PaulGrahamEssays.json"), "w") as fh:
            json.dump({"text": essay}, fh)
        with open(os.path.join(js, "english_words.json"), "w") as fh:
            json.dump({}, fh)
        shutil.copy(os.path.join(FX, "squad.json"), os.path.join(js, "squad.json"))
        shutil.copy(os.path.join(FX, "hotpotqa.json"), os.path.join(js, "hotpotqa.json"))
        # prepare.py runs "python TASK.py": make that this interpreter
        bindir = os.path.join(work, "bin")
        os.makedirs(bindir)
        wrapper = os.path.join(bindir, "python")
        with open(wrapper, "w") as fh:  # a wrapper, not a link: a venv's python must keep its own path
            fh.write(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
        os.chmod(wrapper, 0o755)
        env = dict(os.environ, PATH=bindir + os.pathsep + os.environ["PATH"], TOKENIZERS_PARALLELISM="false")
        punkt = have_punkt()
        if not punkt:
            site = os.path.join(work, "site")
            os.makedirs(site)
            with open(os.path.join(site, "sitecustomize.py"), "w") as fh:
                fh.write(SITECUSTOMIZE)
            env["PYTHONPATH"] = site + os.pathsep + env.get("PYTHONPATH", "")
        out = os.path.join(work, "out")
        dst = os.path.join(FX, "official")
        os.makedirs(dst, exist_ok=True)
        tok = os.path.join(ROOT, "tests", "fixtures", "tok", "smollm2")
        for task in TASKS:
            cmd = [sys.executable, "prepare.py", "--save_dir", out, "--benchmark", "synthetic", "--task", task,
                   "--tokenizer_path", tok, "--tokenizer_type", "hf", "--max_seq_length", str(LENGTH),
                   "--model_template_type", "base", "--num_samples", str(SAMPLES), "--random_seed", "42"]
            r = subprocess.run(cmd, cwd=os.path.join(work, "scripts", "data"), env=env, capture_output=True,
                               text=True)
            got = os.path.join(out, task, "validation.jsonl")
            if r.returncode != 0 or not os.path.exists(got):
                sys.exit(f"gen_ruler_fixtures: prepare.py {task} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
            with open(got) as fh:
                n = len(fh.readlines())
            if n != SAMPLES:
                sys.exit(f"gen_ruler_fixtures: {task}: {n} lines, want {SAMPLES}:\n{r.stdout[-3000:]}")
            shutil.copy(got, os.path.join(dst, task + ".jsonl"))
            print(f"official/{task}.jsonl")
        commit = subprocess.run(["git", "-C", ruler_dir, "rev-parse", "HEAD"], capture_output=True, text=True)
        with open(os.path.join(dst, "README"), "w") as fh:
            fh.write(f"Written by tools/gen_ruler_fixtures.py with NVIDIA/RULER "
                     f"{commit.stdout.strip() or RULER_COMMIT}: scripts/data/prepare.py --benchmark synthetic "
                     f"--task TASK --tokenizer_path tests/fixtures/tok/smollm2 --tokenizer_type hf "
                     f"--max_seq_length {LENGTH} --model_template_type base --num_samples {SAMPLES} "
                     f"--random_seed 42\n"
                     f"Essay: data/texts/kjv.txt[:300000] as PaulGrahamEssays.json; QA: ../squad.json, "
                     f"../hotpotqa.json; wonderwords {importlib.metadata.version('wonderwords')}.\n"
                     f"Sentence splitter: {'NLTK punkt' if punkt else 'NLTK PunktSentenceTokenizer() untrained (punkt model not installed)'}.\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ruler", help="a NVIDIA/RULER checkout (default: clone into /tmp)")
    ap.add_argument("--skip-official", action="store_true", help="only the data sets and word lists")
    a = ap.parse_args()
    os.makedirs(FX, exist_ok=True)
    rng = random.Random(1234)
    with open(os.path.join(FX, "squad.json"), "w") as fh:
        json.dump(make_squad(rng), fh, ensure_ascii=False)
    with open(os.path.join(FX, "hotpotqa.json"), "w") as fh:
        json.dump(make_hotpot(rng), fh, ensure_ascii=False)
    make_words(rng)
    if not a.skip_official:
        run_official(ruler_checkout(a.ruler))


if __name__ == "__main__":
    main()
