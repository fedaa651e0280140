#!/usr/bin/env python3
"""gen_infbench_fixtures.py - expected InfiniteBench prompts, truncations and
synthetic records for tests/test_infbench.c, from the official Python code run
as it is, and PG19 reader expectations for tests/test_pg19.c.

Writes tests/fixtures/infbench/:
  tables.json              DATA_NAME_TO_PATH's tasks, DATA_NAME_TO_MAX_NEW_TOKENS,
                           and the template set of each MODEL_TO_PROMPT_TEMPLATE model
  data/<task>.jsonl        small records of every task in the official format
                           (written here; short contexts, edge cases)
  raises.jsonl             {"task", "record", "raises"}: records on which the
                           official create_prompt raises for every template set
  prompts_<set>.jsonl      {"task", "line", "prompt"} or {"task", "line",
                           "raises"}: eval_utils.create_prompt(record, task,
                           model) for the sets yarn-mistral, gpt4, claude2, kimi
  texts.jsonl              the texts the truncation cases cut
  trunc_<tok>.jsonl        {"text", "max", "n_before", "out", "ids"}:
                           eval_yarn_mistral.truncate_by_tokens(text, tok, max)
                           (n_before from its own "# tokens before" line) and
                           tok(out)["input_ids"], what chunk_generate feeds the
                           model; tokenizers smollm2, spm, llama3 of
                           tests/fixtures/tok through transformers
  synth_<task>.jsonl       records made by construct_synthetic_dataset.py's
                           build_passkey / build_number_string /
                           build_kv_retrieval with smaller sizes (the constants
                           num_noise, step, repeat_time, nsample, nnoise
                           replaced in the function's syntax tree), with the
                           parameters they were made from (noise lines n, depth
                           j = n - len/26, key; kv: the shuffled pairs, nnoise
                           and the asked index); the kv input file comes from
                           lost-in-the-middle's make_kv_retrieval_data.py main()
and tests/fixtures/pg19/:
  books.jsonl, books.jsonl.gz, dir/*.txt(.gz)  small PG19-style inputs
  expected.jsonl           {"source", "title", "text", "n_tokens"} per book as
                           Python's json/gzip read them, n_tokens from the
                           SmolLM2 tokenizer with add_special_tokens=True

The official files are not part of evalctl. Put them in OFFICIAL_DIR:
  infinitebench/{eval_utils,prompt,eval_yarn_mistral}.py   OpenBMB/InfiniteBench
      88b3daa6989da2fbe0077170d7a3c84c25d5ae58 src/<name>.py
  infinitebench/construct_synthetic_dataset.py              same commit,
      data/construct_synthetic_dataset.py
  lost_in_the_middle/make_kv_retrieval_data.py              nelson-liu/lost-in-the-middle
      29b8a6d042ce29abccee3db1a73171a107d7e6af scripts/make_kv_retrieval_data.py
`--setup OFFICIAL_DIR INFB_GIT LITM_GIT` fills it from local git clones (git
show COMMIT:PATH), e.g. into /tmp (never commit them).

Python packages: transformers and tokenizers (no torch needed). eval_utils.py
imports rouge and jieba, and construct_synthetic_dataset.py jsonlines, and
make_kv_retrieval_data.py tqdm and xopen: none of them is used by the functions
run here, so they are replaced by stubs (jsonlines' writer is a stub that keeps
what is written; its reader yields the records we give it).

Usage:
  python3 tools/gen_infbench_fixtures.py OFFICIAL_DIR [REPO_ROOT]
"""
import ast
import contextlib
import copy
import gzip
import io
import json
import os
import random
import subprocess
import sys
import types

INFB_COMMIT = "88b3daa6989da2fbe0077170d7a3c84c25d5ae58"
LITM_COMMIT = "29b8a6d042ce29abccee3db1a73171a107d7e6af"

TASKS = [
    "passkey", "number_string", "kv_retrieval", "longbook_sum_eng", "longbook_choice_eng",
    "longbook_qa_eng", "longbook_qa_chn", "longdialogue_qa_eng", "math_find", "math_calc",
    "code_run", "code_debug",
]
SETS = ["yarn-mistral", "gpt4", "claude2", "kimi"]
TOKS = ["smollm2", "spm", "llama3"]


def setup(official, infb_git, litm_git):
    files = [
        (infb_git, INFB_COMMIT, "src/eval_utils.py", "infinitebench/eval_utils.py"),
        (infb_git, INFB_COMMIT, "src/prompt.py", "infinitebench/prompt.py"),
        (infb_git, INFB_COMMIT, "src/eval_yarn_mistral.py", "infinitebench/eval_yarn_mistral.py"),
        (infb_git, INFB_COMMIT, "data/construct_synthetic_dataset.py",
         "infinitebench/construct_synthetic_dataset.py"),
        (litm_git, LITM_COMMIT, "scripts/make_kv_retrieval_data.py",
         "lost_in_the_middle/make_kv_retrieval_data.py"),
    ]
    for git, commit, src, dst in files:
        out = os.path.join(official, dst)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        data = subprocess.run(["git", "--git-dir", git, "show", f"{commit}:{src}"], check=True,
                              capture_output=True).stdout
        with open(out, "wb") as f:
            f.write(data)


def stub(name, **attrs):
    m = types.ModuleType(name)
    for k, v in attrs.items():
        setattr(m, k, v)
    sys.modules[name] = m
    return m


def load_module(name, path):
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def functions_from(path, names, replace=None, env=None):
    """The named top-level functions of a file, exec'd alone (the file's other
    statements import torch and the like). replace: {function: {variable:
    value}} swaps the value of simple assignments inside a function."""
    tree = ast.parse(open(path, encoding="utf8").read())
    keep = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in names:
            for var, value in (replace or {}).get(node.name, {}).items():
                hits = 0
                for sub in ast.walk(node):
                    if isinstance(sub, ast.Assign) and len(sub.targets) == 1 and \
                            isinstance(sub.targets[0], ast.Name) and sub.targets[0].id == var:
                        sub.value = ast.parse(repr(value), mode="eval").body
                        hits += 1
                assert hits == 1, (node.name, var, hits)
            keep.append(node)
    assert len(keep) == len(names), names
    mod = ast.Module(body=keep, type_ignores=[])
    ast.fix_missing_locations(mod)
    g = dict(env or {})
    exec(compile(mod, path, "exec"), g)
    return g


def dump_jsonl(path, rows):
    with open(path, "w", encoding="utf8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


# ------------------------------------------------------------------ records

NOISE = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.\n"


def make_records():
    rng = random.Random(20240613)
    uu = lambda: "%08x-%04x-4%03x-%04x-%012x" % (rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(12),
                                                 0x8000 | rng.getrandbits(14), rng.getrandbits(48))
    book = ("Chapter 1\n\nIt was a bright cold day in April, and the clocks were striking thirteen. "
            "Snowfield lay under the hill; {context} is not a field, nor is {{this}}.\n\n"
            "Chapter 2\n\n\u201cWell,\u201d said Mrs. Hall \u2014 caf\u00e9 au lait \u2014 \"I never.\"\n")
    recs = {t: [] for t in TASKS}
    recs["passkey"] = [
        {"id": 0, "context": NOISE * 3 + "The pass key is 71432. Remember it. 71432 is the pass key.\n" + NOISE * 2,
         "input": "What is the pass key?", "answer": ["71432"], "options": []},
        {"id": 1, "context": "The pass key is 00042. Remember it. 00042 is the pass key.\n" + NOISE,
         "input": "What is the pass key?", "answer": ["00042"], "options": []},
        # create_prompt moves "content" into "context"
        {"id": 2, "content": NOISE + "The pass key is 5. {input}\n", "context": "unused",
         "input": "What is the pass key?", "answer": ["5"], "options": []},
    ]
    recs["number_string"] = [
        {"id": 0, "context": NOISE * 2 + "The sequence of digits is 3000077442. Remember it. 3000077442 is the "
         "sequence of digits.\n" + NOISE, "input": "What is the sequence of digits?", "answer": ["3000077442"],
         "options": []},
    ]
    pairs = [(uu(), uu()) for _ in range(6)]
    kv = "JSON data:\n{" + ", ".join('"%s": "%s"' % p for p in pairs) + "}"
    recs["kv_retrieval"] = [
        {"id": 0, "context": kv, "input": "\nKey: \"%s\"\nThe value associated with the specified key is: " % pairs[2][0],
         "answer": [pairs[2][1]], "options": []},
    ]
    recs["longbook_sum_eng"] = [
        {"id": 0, "context": book, "input": "", "answer": ["A cold day; a field."], "options": []},
    ]
    recs["longbook_choice_eng"] = [
        {"id": 0, "context": book, "input": "Where does the story take place?", "answer": ["Snowfield"],
         "options": ["Walking Georgie", "Hall Farm", "Snowfield", "the {context} room"]},
        {"id": 1, "context": book, "input": "Who speaks?", "answer": ["Mrs. Hall"],
         "options": ["Mrs. Hall", "Mr. Hall", "Nobody", "The clock", "an extra fifth option"]},
    ]
    recs["longbook_qa_eng"] = [
        {"id": 0, "context": book, "input": "What were the clocks striking?", "answer": ["thirteen"], "options": []},
    ]
    recs["longbook_qa_chn"] = [
        {"id": 0, "context": "第一章\n\n胡一刀和苗人凤在沧州比武，商老太在一旁观看。\n\n第二章\n\n马行空带着徐峥和程紫洁离开。",
         "input": "谁在一旁观看比武？", "answer": ["商老太"], "options": []},
    ]
    recs["longdialogue_qa_eng"] = [
        {"id": 0, "context": "INT. CASINO - NIGHT\n\nACE: I mean, I had my own little empire out here.\n\n"
         "$$MASK$$: You did.\n\nGINGER: Sam?\n", "input": "", "answer": ["NICKY"], "options": []},
    ]
    lst = str([rng.randint(0, 99) for _ in range(40)])
    recs["math_find"] = [
        {"id": 0, "context": lst, "input": "You should answer with only one number, no other words. The largest "
         "number of the list is: ", "answer": [99], "options": []},
        {"id": 1, "context": lst, "input": "You should answer with only one number, no other words. The median "
         "number of the list is: ", "answer": [50], "options": []},
        {"id": 2, "context": lst, "input": "The first of them, The second of those of", "answer": [1], "options": []},
        {"id": 3, "context": lst, "input": "no target here\nThe Third \u0130STANBUL \u039f\u03a3 of x\nThe x of y",
         "answer": [1], "options": []},
        {"id": 4, "context": lst, "input": "The  of, then The s of", "answer": [1], "options": []},
    ]
    expr = "1 + 3 + 4 - 2 + 10"
    recs["math_calc"] = [
        {"id": 0, "context": expr, "input": "", "answer": [[1, 4, 8, 6, 16]], "options": []},
    ]
    funcs = "\nHere is the content of functions_module.py:\n\ndef func_12(x):\n    return func_7(x) - 3\n\n" \
            "def func_7(x):\n    return x + 5\n"
    recs["code_run"] = [
        {"id": 0, "context": funcs, "input": "Please give me the exact number of the return value of func_12(-3). "
         "Your response should end with the sentence 'The return value is:'.", "answer": [-1], "options": []},
        {"id": 1, "context": funcs, "input": "func_(3) func_a(1) func_12(+3) then func_7(10) and func_12(1)",
         "answer": [15], "options": []},
        {"id": 2, "context": funcs, "input": "value of func_7(-0)?", "answer": [5], "options": []},
    ]
    code = "class Configer:\n    def _set_option(self, k, v):\n        self.opts[k] = v / 0\n\n" \
           "def repack_carchive(path):\n    return open(path).read()\n"
    recs["code_debug"] = [
        {"id": 0, "context": code, "input": "", "answer": ["Configer._set_option"],
         "options": ["repack_carchive", "Configer._set_option", "main", "__init__"]},
    ]
    raises = [
        ("code_run", {"id": 9, "context": funcs, "input": "Please compute func_12(x).", "answer": [1], "options": []}),
        ("math_find", {"id": 9, "context": lst, "input": "The  of the list", "answer": [1], "options": []}),
        ("math_find", {"id": 9, "context": lst, "input": "the largest number of the list", "answer": [1],
                       "options": []}),
        ("code_debug", {"id": 9, "context": code, "input": "", "answer": ["main"],
                        "options": ["repack_carchive", "main", "x"]}),
        ("longbook_choice_eng", {"id": 9, "context": book, "input": "Q?", "answer": ["a"]}),
        ("passkey", {"id": 9, "input": "What is the pass key?", "answer": ["1"], "options": []}),
        ("longbook_qa_eng", {"id": 9, "context": book, "answer": ["1"], "options": []}),
    ]
    return recs, raises


# ------------------------------------------------------------------ main

def main(official, root):
    infb = os.path.join(official, "infinitebench")
    litm = os.path.join(official, "lost_in_the_middle")
    out = os.path.join(root, "tests/fixtures/infbench")
    os.makedirs(os.path.join(out, "data"), exist_ok=True)

    stub("rouge", Rouge=object)
    stub("jieba", cut=None)
    sys.path.insert(0, infb)
    eval_utils = load_module("eval_utils", os.path.join(infb, "eval_utils.py"))

    # the task table and which template set each official model uses
    prompt = sys.modules["prompt"]
    sets = {"yarn_mistral_templates": "open", "gpt4_templates": "gpt4", "claude2_templates": "claude2",
            "kimi_templates": "kimi"}
    model_set = {m: next(sets[k] for k in sets if getattr(prompt, k) is d)
                 for m, d in eval_utils.MODEL_TO_PROMPT_TEMPLATE.items()}
    with open(os.path.join(out, "tables.json"), "w") as f:
        json.dump({"tasks": list(eval_utils.DATA_NAME_TO_PATH),
                   "max_new_tokens": eval_utils.DATA_NAME_TO_MAX_NEW_TOKENS, "model_set": model_set}, f, indent=1)
        f.write("\n")

    recs, raises = make_records()
    for t in TASKS:
        dump_jsonl(os.path.join(out, "data", t + ".jsonl"), recs[t])

    # ---- prompts
    for s in SETS:
        rows = []
        for t in TASKS:
            for line, eg in enumerate(recs[t], 1):
                try:
                    p = eval_utils.create_prompt(copy.deepcopy(eg), t, s, ".")
                    rows.append({"task": t, "line": line, "prompt": p})
                except Exception as e:  # noqa: BLE001 - which exception is the fixture
                    rows.append({"task": t, "line": line, "raises": type(e).__name__})
        dump_jsonl(os.path.join(out, "prompts_%s.jsonl" % s), rows)
    rrows = []
    for t, eg in raises:
        kinds = set()
        for s in SETS:
            try:
                eval_utils.create_prompt(copy.deepcopy(eg), t, s, ".")
                kinds.add("none")
            except Exception as e:  # noqa: BLE001
                kinds.add(type(e).__name__)
        assert "none" not in kinds and len(kinds) == 1, (t, kinds)
        rrows.append({"task": t, "record": eg, "raises": kinds.pop()})
    dump_jsonl(os.path.join(out, "raises.jsonl"), rrows)

    # ---- truncation
    from transformers import AutoTokenizer
    trunc = functions_from(os.path.join(infb, "eval_yarn_mistral.py"), ["truncate_input", "truncate_by_tokens"])
    texts = [
        eval_utils.create_prompt(copy.deepcopy(recs["passkey"][0]), "passkey", "yarn-mistral", "."),
        eval_utils.create_prompt(copy.deepcopy(recs["longbook_qa_chn"][0]), "longbook_qa_chn", "yarn-mistral", "."),
        eval_utils.create_prompt(copy.deepcopy(recs["longbook_choice_eng"][0]), "longbook_choice_eng",
                                 "yarn-mistral", "."),
        "  leading spaces, <|endoftext|> and <s> and </s> and <|im_start|>user inside, trailing newline\n",
        "\u00e9\u00e9\u00e9 \u4e2d\u6587\u5b57\u7b26 \U0001f600\U0001f600 caf\u00e9 na\u00efve",
    ]
    dump_jsonl(os.path.join(out, "texts.jsonl"), [{"text": x} for x in texts])
    for name in TOKS:
        tok = AutoTokenizer.from_pretrained(os.path.join(root, "tests/fixtures/tok", name))
        rows = []
        for ti, text in enumerate(texts):
            n = len(tok.encode(text))
            for mx in sorted({2, 3, 4, 5, 8, 17, 64, n - 1, n, n + 1}):
                if mx < 2:
                    continue
                buf = io.StringIO()
                with contextlib.redirect_stdout(buf):
                    res = trunc["truncate_by_tokens"](text, tok, mx)
                before = int(buf.getvalue().split("# tokens before: ")[1].split("\n")[0])
                rows.append({"text": ti, "max": mx, "n_before": before, "out": res,
                             "ids": tok(res)["input_ids"]})
        dump_jsonl(os.path.join(out, "trunc_%s.jsonl" % name), rows)

    # ---- synthetic tasks
    written = {}

    class Writer:
        def __init__(self, name):
            self.name = name

        def write_all(self, rows):
            written[self.name] = [dict(r) for r in rows]

        def close(self):
            pass

    kv_lines = []

    class Reader:
        def __enter__(self):
            return iter(kv_lines)

        def __exit__(self, *a):
            return False

    def jl_open(name, mode="r"):
        return Writer(name) if mode == "w" else Reader()

    stub("jsonlines", open=jl_open)
    env = {"random": random, "jsonlines": sys.modules["jsonlines"], "print": lambda *a, **k: None}
    syn = functions_from(
        os.path.join(infb, "construct_synthetic_dataset.py"), ["build_passkey", "build_number_string",
                                                                "build_kv_retrieval"],
        replace={"build_passkey": {"num_noise": [0, 3, 7, 12], "step": [1, 2, 3, 4], "repeat_time": 2},
                 "build_number_string": {"num_noise": [0, 9], "step": [1, 3], "repeat_time": 3},
                 "build_kv_retrieval": {"nsample": [1, 5], "nnoise": [1, 6]}},
        env=env)
    random.seed(7)
    syn["build_passkey"]()
    random.seed(8)
    syn["build_number_string"]()
    # make_kv_retrieval_data.main writes the 3000-key file; here 8 keys, 6 examples
    stub("tqdm", tqdm=lambda x, **k: x)
    stub("xopen", xopen=open)
    mk = load_module("make_kv", os.path.join(litm, "make_kv_retrieval_data.py"))
    tmp = os.path.join(out, ".kv_keys.jsonl")
    random.seed(9)
    import uuid
    real_uuid4 = uuid.uuid4
    uuid.uuid4 = lambda: uuid.UUID(int=random.getrandbits(128), version=4)  # seeded, for reproducible fixtures
    try:
        mk.main(8, 6, tmp)
    finally:
        uuid.uuid4 = real_uuid4
    kv_lines.extend(json.loads(x) for x in open(tmp))
    os.remove(tmp)
    random.seed(10)
    syn["build_kv_retrieval"]()

    rows = []
    for fname in sorted(k for k in written if k.startswith("passkey_")):
        for r in written[fname]:
            ctx = r["context"]
            n = ctx.count(NOISE)
            rows.append({"n": n, "depth": n - r["len"] // 26, "key": r["answer"], "context": ctx,
                         "input": r["input"], "answer": r["answer"]})
    dump_jsonl(os.path.join(out, "synth_passkey.jsonl"), rows)
    rows = []
    for r in written["number_string.jsonl"]:
        n = r["context"].count(NOISE)
        rows.append({"n": n, "depth": n - r["len"] // 26, "key": r["answer"], "context": r["context"],
                     "input": r["input"], "answer": r["answer"]})
    dump_jsonl(os.path.join(out, "synth_number_string.jsonl"), rows)
    rows = []
    nnoise = 6
    for r, line in zip(written["kv_retrieval.jsonl"], kv_lines):
        pairs = line["ordered_kv_records"]  # shuffled in place by build_kv_retrieval
        ask = [p[0] for p in pairs].index(r["input"].split('"')[1])
        rows.append({"pairs": pairs[:nnoise], "ask": ask, "context": r["context"], "input": r["input"],
                     "answer": r["answer"]})
    dump_jsonl(os.path.join(out, "synth_kv_retrieval.jsonl"), rows)

    gen_pg19(root)


def gen_pg19(root):
    from transformers import AutoTokenizer
    out = os.path.join(root, "tests/fixtures/pg19")
    os.makedirs(os.path.join(out, "dir"), exist_ok=True)
    tok = AutoTokenizer.from_pretrained(os.path.join(root, "tests/fixtures/tok/smollm2"))
    body = ("The Project Gutenberg EBook of a Small Book.\r\n\r\nCHAPTER I.\n\nIt was the best of times, it was the "
            "worst of times; caf\u00e9, na\u00efve, \u201cquoted\u201d \u2014 dashes.\n") * 3
    books = [
        {"short_book_title": "A Small Book", "publication_date": 1859, "url": "http://www.gutenberg.org/ebooks/1",
         "text": body},
        {"short_book_title": "Empty", "publication_date": 1900, "url": "http://x/2", "text": ""},
        {"url": "http://x/3", "text": "No title here.\nJust\ttabs and \\ backslashes and \"quotes\".\n"},
        {"short_book_title": "\u4e2d\u6587\u4e66", "publication_date": "1920", "url": None,
         "text": "\u7b2c\u4e00\u7ae0\n\u4e2d\u6587\u5b57\u7b26\u3002" * 5},
    ]
    with open(os.path.join(out, "books.jsonl"), "w", encoding="utf8") as f:
        for i, b in enumerate(books):
            f.write(json.dumps(b, ensure_ascii=(i % 2 == 0)) + "\n")
            if i == 1:
                f.write("\n")  # a blank line, skipped
    raw = open(os.path.join(out, "books.jsonl"), "rb").read()
    with open(os.path.join(out, "books.jsonl.gz"), "wb") as f:
        f.write(gzip.compress(raw, mtime=0))
    txt_a = "Book A.\nLine two.\n" * 40
    txt_b = "Book B, gzipped \u00e9.\n" * 30
    with open(os.path.join(out, "dir", "a_book.txt"), "w", encoding="utf8", newline="") as f:
        f.write(txt_a)
    with open(os.path.join(out, "dir", "b_book.txt.gz"), "wb") as f:
        f.write(gzip.compress(txt_b.encode("utf8"), mtime=0))
    with open(os.path.join(out, "dir", "notes.md"), "w") as f:
        f.write("not a book\n")
    exp = []
    for line_no, line in enumerate(open(os.path.join(out, "books.jsonl"), encoding="utf8"), 1):
        if not line.strip():
            continue
        r = json.loads(line)
        title = r.get("short_book_title") or "tests/fixtures/pg19/books.jsonl:%d" % line_no
        exp.append({"source": "books.jsonl:%d" % line_no, "title": title, "text": r["text"],
                    "n_tokens": len(tok(r["text"])["input_ids"])})
    for name, text in [("a_book.txt", txt_a), ("b_book.txt.gz", txt_b)]:
        exp.append({"source": "dir/" + name, "title": name.split(".")[0], "text": text,
                    "n_tokens": len(tok(text)["input_ids"])})
    dump_jsonl(os.path.join(out, "expected.jsonl"), exp)


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "--setup":
        setup(*sys.argv[2:5])
        sys.exit(0)
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
