#!/usr/bin/env python3
"""gen_metric_fixtures.py - expected scores for `evalctl metric`, from the
official Python scorers of RULER and InfiniteBench run as they are.

Writes tests/fixtures/metric/:
  ruler_<metric>.jsonl / .expected   RULER records and repr() of the score
  infbench_<task>.jsonl / .expected  InfiniteBench records and repr() of the score
  raises.jsonl                       records on which the official code raises
  pyunicode.txt                      Python's str semantics for every code point
  pyscalar.jsonl                     int(), repr(float) and round() cases

The official files are not part of evalctl. Put them in OFFICIAL_DIR, laid out
as below, from these public repositories and commits:

  ruler/evaluate.py        NVIDIA/RULER c3f5e3b4f87f97e048793bb510a3a6b19a46bf3a
                           scripts/eval/evaluate.py
  ruler/constants.py       same commit, scripts/eval/synthetic/constants.py
  infinitebench/*.py       OpenBMB/InfiniteBench 88b3daa6989da2fbe0077170d7a3c84c25d5ae58
                           src/compute_scores.py, src/eval_utils.py, src/args.py,
                           src/prompt.py
  hf_metrics/rouge/rouge.py  huggingface/evaluate a7dd338386a4fae9a1767e05eb9ef9479513d9e8
                           metrics/rouge/rouge.py (what evaluate.load("rouge") runs)

`--setup OFFICIAL_DIR RULER_GIT INFBENCH_GIT EVALUATE_GIT` fills OFFICIAL_DIR
from local git clones of the three repositories (git show COMMIT:PATH).

Python packages (PyPI; a virtual environment is best): rouge_score (0.1.2),
nltk, evaluate, datasets, tqdm, and rouge + jieba, which eval_utils.py imports.
Nothing here needs nltk's punkt data: RULER's evaluate.py only downloads it at
import time for nothing it uses here (postprocess_pred is lifted out of the
file with ast rather than importing the script, which parses argv and imports
NeMo), and rouge_score only sentence-splits with punkt when split_summaries is
set, which evaluate's rouge metric never does.

Usage:
  python3 tools/gen_metric_fixtures.py OFFICIAL_DIR [OUT_DIR]
"""
import ast
import importlib.util
import json
import os
import random
import re
import subprocess
import sys
import unicodedata

RULER_COMMIT = "c3f5e3b4f87f97e048793bb510a3a6b19a46bf3a"
INFB_COMMIT = "88b3daa6989da2fbe0077170d7a3c84c25d5ae58"
EVAL_COMMIT = "a7dd338386a4fae9a1767e05eb9ef9479513d9e8"

INFB_TASKS = [
    "passkey", "number_string", "kv_retrieval", "longbook_sum_eng", "longbook_choice_eng",
    "longbook_qa_eng", "longbook_qa_chn", "longdialogue_qa_eng", "math_find", "math_calc",
    "code_run", "code_debug",
]


def setup(official, ruler_git, infb_git, eval_git):
    files = [
        (ruler_git, RULER_COMMIT, "scripts/eval/evaluate.py", "ruler/evaluate.py"),
        (ruler_git, RULER_COMMIT, "scripts/eval/synthetic/constants.py", "ruler/constants.py"),
        (eval_git, EVAL_COMMIT, "metrics/rouge/rouge.py", "hf_metrics/rouge/rouge.py"),
    ] + [(infb_git, INFB_COMMIT, "src/" + f, "infinitebench/" + f)
         for f in ["compute_scores.py", "eval_utils.py", "args.py", "prompt.py"]]
    for git, commit, src, dst in files:
        out = os.path.join(official, dst)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        data = subprocess.run(["git", "--git-dir", git, "show", f"{commit}:{src}"],
                              check=True, capture_output=True).stdout
        with open(out, "wb") as f:
            f.write(data)


# ---------------------------------------------------------------- official code

def load_official(official):
    official = os.path.abspath(official)
    # RULER: constants.py imports cleanly; evaluate.py runs argparse and imports
    # NeMo at import time, so only its postprocess_pred definition is executed.
    # (loaded by path: ruler/ must not go on sys.path, where its evaluate.py
    # would shadow HF's evaluate package)
    spec = importlib.util.spec_from_file_location("ruler_constants", os.path.join(official, "ruler", "constants.py"))
    ruler_constants = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ruler_constants)
    src = open(os.path.join(official, "ruler", "evaluate.py")).read()
    tree = ast.parse(src)
    fn = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "postprocess_pred"]
    assert len(fn) == 1
    ns = {"re": re}
    exec(compile(ast.Module(body=fn, type_ignores=[]), "ruler/evaluate.py", "exec"), ns)
    postprocess_pred = ns["postprocess_pred"]

    # InfiniteBench: compute_scores.py runs evaluate.load("rouge") at import,
    # which finds ./rouge/rouge.py relative to the working directory.
    for k in ["HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE"]:
        os.environ[k] = "1"
    sys.path.insert(0, os.path.join(official, "infinitebench"))
    cwd = os.getcwd()
    os.chdir(os.path.join(official, "hf_metrics"))
    try:
        import compute_scores
        import eval_utils
    finally:
        os.chdir(cwd)
    return ruler_constants, postprocess_pred, compute_scores, eval_utils


# ---------------------------------------------------------------- RULER cases

def ruler_cases(rng):
    cases = [
        ("", ["a"]), ("", [""]), ("   ", [""]), ("abc", [""]), ("abc", ["", "x"]),
        ("The special magic number is 12345.", ["12345"]),
        ("the special MAGIC number", ["Magic"]), ("1234567", ["123456"]), ("12345", ["123456"]),
        ("apple banana", ["apple", "banana", "cherry"]), ("APPLE", ["apple", "banana", "cherry"]),
        ("cherry", ["apple", "banana", "cherry", "date", "elder", "fig"]),
        ("a b c d e", ["a", "b", "c", "d", "e", "f", "g"]),
        ("x", ["X", "x", "y"]), ("x", ["x", "x"]),
        ("İSTANBUL", ["i̇stanbul"]), ("İSTANBUL", ["istanbul"]), ("istanbul", ["İstanbul"]),
        ("ΟΔΟΣ ΚΑΙ", ["οδος"]), ("ΟΔΟΣ ΚΑΙ", ["οδοσ"]), ("ΣΑ", ["σα"]), ("ΑΣ'Β", ["ας'β", "ασ'β"]),
        ("ΑΣ.", ["ας."]), ("ΑΣ", ["ας"]), ("Σ", ["σ"]), ("ΑΣΑ", ["ασα"]),
        ("ΑΣ\u0301 x", ["ας\u0301"]), ("ΑΣ\u0301Β", ["ασ\u0301β"]), ("\u00aaΣ", ["\u00aaς"]),
        ("Kelvin 5\u212a", ["5k"]), ("STRASSE", ["straße"]), ("straße", ["STRASSE"]), ("ǅ", ["ǆ"]),
        ("\x00abc\x01def\x1f", ["abc\ndef"]), ("\x00abc\x01def\x1f", ["abcdef"]),
        ("abc\x7fdef", ["abc\x7fdef"]), ("abc\x7fdef", ["abc\ndef"]),
        ("\u2028answer\u2029", ["answer"]), ("\u200banswer", ["answer"]), ("\u200banswer", ["\u200bANSWER"]),
        ("a\x85b", ["a\x85b"]), ("a\x85b", ["a\nb"]), ("  \t\n value \r\n", ["value"]),
        ("\x1c\x1dvalue\x1e\x1f", ["value"]), ("tab\tsep", ["tab\nsep"]), ("cr\rlf", ["cr\nlf"]),
        ("\u3000全角\u3000", ["全角"]), ("ＡＢＣ", ["ａｂｃ"]), ("Ǆ", ["ǆ", "Ǆ", "ǅ"]),
        ("The answer is 42, not 24.", ["42", "24", "4224"]),
        ("Numbers: 1, 2, 3", ["1", "2", "3", "4", "5", "6"]),
        ("vAlUe", ["VaLuE"]), ("MiXeD cAsE", ["mixed case", "MIXED  CASE"]),
        ("Ⅻ", ["ⅻ"]), ("Ⓐ", ["ⓐ"]), ("ꭰ", ["Ꭰ"]), ("Ꭰ", ["ꭰ"]),
        ("ﬁne", ["fine"]), ("ΐ", ["ΐ"]), ("ᾼ", ["ᾳ"]),
    ]
    words = ["apple", "Banana", "CHERRY", "date", "Elder", "fig", "grape", "magic", "number", "key",
             "värde", "Ärger", "naïve", "Straße", "ΣΟΦΙΑ", "İzmir", "東京", "北京", "ok", "x"]
    seps = [" ", "  ", "\n", "\t", ", ", "\u3000", "\u00a0", "\u200b", "\x01", "; ", "-"]

    def rnd_word():
        k = rng.random()
        if k < 0.4:
            return str(rng.randrange(10 ** rng.randrange(1, 9)))
        if k < 0.5:
            return "%08x-%04x" % (rng.randrange(1 << 32), rng.randrange(1 << 16))
        w = rng.choice(words)
        c = rng.random()
        return w.upper() if c < 0.2 else w.lower() if c < 0.4 else w

    for _ in range(120):
        n = rng.randrange(1, 13)
        outs = [rnd_word() for _ in range(n)]
        keep = [o for o in outs if rng.random() < 0.5]
        parts = [rng.choice(["", "The", "answer:", "so"])] + keep + [rnd_word() for _ in range(rng.randrange(0, 4))]
        rng.shuffle(parts)
        pred = rng.choice(seps).join(parts)
        if rng.random() < 0.3:
            pred = rng.choice(["  ", "\n", "\x02", "\u2029", ""]) + pred + rng.choice(["  ", "\n", "\x03", ""])
        if rng.random() < 0.3:
            pred = pred.swapcase()
        cases.append((pred, outs))
    return cases


# ---------------------------------------------------------------- InfiniteBench cases

WORDS = ("the a an of and to in is was for on that with as by at from his her it he she they be this "
         "which or had not but are were been have has one all would there their what so up out if about who "
         "get go me when make can like time no just him know take people into year your good some could them "
         "see other than then now look only come its over think also back after use two how our work first "
         "well way even new want because any these give day most us story war family house letter mother "
         "father child ship sea island night morning garden window light dark long short old young").split()


def text(rng, n_words, lines=True):
    out = []
    for i in range(n_words):
        w = rng.choice(WORDS)
        r = rng.random()
        if r < 0.08:
            w = w.capitalize()
        elif r < 0.1:
            w = str(rng.randrange(1, 2000))
        out.append(w)
        if lines and rng.random() < 0.06:
            out.append(rng.choice([".\n", "\n", ".\n\n", "!\n"]))
        elif rng.random() < 0.05:
            out.append(rng.choice([",", ".", ";", " -"]))
    s = " ".join(out)
    return re.sub(r" ([,.;!])", r"\1", s)


def infb_cases(rng):
    C = {t: [] for t in INFB_TASKS}
    raises = []

    def add(task, pred, answer, options=None):
        rec = {"pred": pred, "answer": answer}
        if options is not None:
            rec["options"] = options
        C[task].append(rec)

    # passkey / number_string
    for task, key in [("passkey", "71432"), ("number_string", "3000077442")]:
        preds = [key, f" {key}. Remember it. {key}", f"The pass key is {key}.", "", "no number here",
                 key[:-1], key + "1", "00" + key, key + "abc", "abc" + key + "def", "-" + key,
                 key[:1] + " " + key[1:], key[:2] + "," + key[2:],
                 "".join(chr(0x660 + int(d)) for d in key), "".join(chr(0xFF10 + int(d)) for d in key),
                 f"pass key: {key}\n{key}", f"12345 then {key}", "\u200b" + key, key + "\u00b2",
                 "\u00b2" + key, f"{key}.5", f"The sequence of digits is {key}.", "\n\n" + key + "\n",
                 "x" * 50 + key]
        for p in preds:
            add(task, p, [key])
        add(task, key, key)
        add(task, key, [int(key)])
        add(task, "nothing", [""])
        add(task, "007", ["007"])
        add(task, "7", ["007"])
        add(task, key, [key, "other"])
        raises.append({"name": task, "pred": key, "answer": []})

    # kv_retrieval
    u = "c14cb8ba-002b-43be-bdc7-8a83f0fe1ac8"
    o = "84fe443f-dcff-48dd-8b2e-ae4daff8b278"
    for p in [u, f'"{u}"', f'The value associated with the specified key "{o}" is: "{u}"', f"{u}.", "{" + u + "}",
              f"key: {u}", u.upper(), "x" + u, u + "x", u + "\u3000next", u + "\u200bnext", f"'{u}'", u + "!",
              u + "?", u + ";", f"({u})", "", u[:-1], u + "\u00a0", f"`{u}`", f"{o}\n{u}", f"{o}:{u}",
              f"{u},{o}", f"\u2028{u}\u2029", f"value\x1c{u}\x1d", f"{o}", "The value is " + u.replace("-", " ")]:
        add("kv_retrieval", p, u)
    add("kv_retrieval", u, [u])
    add("kv_retrieval", "", "")
    add("kv_retrieval", "5", 5)

    # longbook_sum_eng
    ref = ("Jennifer is an earnest intelligent woman who makes a serious error in judgment.\n"
           "She marries Mina Loris, a pompous scholar many years her senior.\n\n"
           "Jennifer hopes to be actively involved in his work, but he wants her to serve as a secretary.")
    sums = [
        "", "   ", "!!! ... ???", ref, ref.upper(), ref.replace("\n", " "), ref.replace("\n", "\r\n"),
        "Jennifer marries Mina Loris.\nShe wants to work with him.",
        "the the the the the", "Jennifer Jennifer\nJennifer",
        "Jennifer is a woman.\nShe is intelligent and earnest.\nLoris is a pompous scholar.",
        "İstanbul İSTANBUL \u212aelvin café naïve",
        "Jennifer\u00a0is\u3000an earnest-intelligent_woman",
        "secretary a as serve to her wants he but work his in involved actively be to hopes Jennifer",
        "1984 was the year. 2001 too.\n3 4 5",
        "\n\n\nJennifer\n\n\n",
    ]
    for p in sums:
        add("longbook_sum_eng", p, [ref])
    add("longbook_sum_eng", "İstanbul and the \u212a unit", ["i stanbul and the k unit"])
    add("longbook_sum_eng", "Mina Loris is a scholar", ref)
    add("longbook_sum_eng", "Mina Loris is a scholar.\nJennifer marries him.",
        ["Loris is a scholar.", "Jennifer marries Mina Loris, a scholar.\nShe regrets it."])
    add("longbook_sum_eng", "a b c d e", ["", "c d"])
    for k in range(14):
        long_ref = text(rng, rng.randrange(150, 700))
        if k % 3 == 0:
            pred = text(rng, rng.randrange(100, 600))
        elif k % 3 == 1:  # a noisy copy: shares much of the reference
            ws = long_ref.split(" ")
            pred = " ".join(w for w in ws if rng.random() < 0.7) + " " + text(rng, 50)
        else:
            pred = text(rng, rng.randrange(50, 400), lines=(k % 2 == 0))
        add("longbook_sum_eng", pred, [long_ref])
    # token soup from a tiny vocabulary over several lines: many equally long
    # LCSs, so rouge_score's backtracking order and its per-token hit counting
    # decide the score
    for k in range(16):
        vocab = ["x", "y", "z", "w"][: 2 + k % 3]
        def soup():
            return "\n".join(" ".join(rng.choice(vocab) for _ in range(rng.randrange(0, 7)))
                             for _ in range(rng.randrange(1, 5)))
        add("longbook_sum_eng", soup(), [soup()] if k % 4 else [soup(), soup()])
    raises.append({"name": "longbook_sum_eng", "pred": "x", "answer": []})

    # longbook_choice_eng
    opts = ["Walking Georgie", "Hall Farm", "Snowfield", "Kindergarten"]
    for p in ["C", "C. Snowfield", "c", "Snowfield", "snowfield", "The answer is: C", "The answer is C",
              "answer: Snowfield", "The correct option is C", "", "   ", "A", "Answer: C", "D", "BCD",
              "The options are A and C", "I think C", "I think it's (C)", "My answer is Snowfield",
              "answer is:C", "answer is: C", "The answer is", "The answer is  C", "option is C",
              "In summary, the correct option is C.", "Snowfield.", "So, answer: \"C\"", "so it is CD",
              "so it is B C", "\n\nC", "Ｃ", "the answer is: Snowfield", "answer is Hall Farm",
              "Kindergarten", "option is:C"]:
        add("longbook_choice_eng", p, ["Snowfield"], opts)
    add("longbook_choice_eng", "Snowfield", "Snowfield", opts)
    add("longbook_choice_eng", "The answer is C", ["Snowfield", "C"], opts)
    add("longbook_choice_eng", "Walking Georgie", ["Walking Georgie"], opts)
    add("longbook_choice_eng", "A", "Walking Georgie", opts)
    raises.append({"name": "longbook_choice_eng", "pred": "A", "answer": "Nonexistent", "options": opts})
    raises.append({"name": "longbook_choice_eng", "pred": "A", "answer": ["x", "E"], "options": opts})
    raises.append({"name": "longbook_choice_eng", "pred": "A", "answer": ["Snowfield"]})

    # longbook_qa_eng
    qa = [
        (["fighting in world war 1"], ["fighting in world war 1", "Fighting in World War I.",
                                       "He dies fighting in the war", "the war", "a war", "An apple",
                                       "", "!!!", "World-War 1", "fighting_in_world_war_1", "1 1 1 1"]),
        (['"Peyton"'], ["Peyton", "peyton.", "The final to perish is Peyton", "PEYTON PEYTON", "P e y t o n"]),
        (["stockings"], ["The stockings", "a sweater", "stockings\u3000stockings", "stockings\u200bstockings",
                         "stockings\u00a0and socks", "théâtre stockings", "the\u0301 stockings",
                         "ａn stockings", "the€ stockings", "a€b stockings", "İstanbul stockings",
                         "ΑΣ stockings", "1,000 stockings", "STOCKINGS"]),
        (["Mrs. Deandra", "Deandra"], ["Mrs Deandra", "deandra", "The final to perish is Mrs. Deandra.",
                                        "an anne the theatre a"]),
        (["the", "a"], ["the", "a an the", "x"]),
        (["stockings"], ["a\u0301 stockings", "the\u00b2 stockings", "_the_ stockings", "ǅthe stockings",
                         "the\u200dstockings", "THE\u0130 stockings"]),
    ]
    for ans, preds in qa:
        for p in preds:
            add("longbook_qa_eng", p, ans)
    add("longbook_qa_eng", "s t o c k", "stockings")
    add("longbook_qa_eng", "stockings", [])
    raises.append({"name": "longbook_qa_eng", "pred": "x", "answer": [1]})
    raises.append({"name": "longbook_qa_eng", "pred": "x", "answer": 5})

    # longbook_qa_chn
    zh = [
        (["田立帆, 商老太, 王剑英, 王剑杰, 福气龙, 慕容景岳, 薛鹊"],
         ["田立帆，商老太，王剑英，王剑杰，福气龙，慕容景岳，薛鹊", "福气龙派出的武士（包括田立帆率领的大批好手）",
          "", "\n1. 程紫洁\n2. 薛鹊\n3. 慕容景岳\n4. 石万�", "……——", "田 立 帆", "《田立帆》", "〈田立帆〉"]),
        (["胡一刀，马行空，商老太，徐峥，程紫洁"],
         ["商老太（商剑鸣）、马行空、徐峥、程紫洁、胡一刀的死亡先后顺序为：徐峥、商老太", "胡一刀胡一刀胡一刀",
          "胡一刀\u3000马行空", "胡一刀\u200b马行空", "ＡＢＣ胡一刀", "abc", "「胡一刀」『马行空』"]),
        (["ABC 测试", "abc"], ["ＡＢＣ", "abc", "A.B.C.", "测试ABC", "İ测试", "Σ测试Σ"]),
        (["北京"], ["北京。", "北京！", "北京?", "北 京", "南京", "北京北京", "北京\x1c", "“北京”"]),
    ]
    for ans, preds in zh:
        for p in preds:
            add("longbook_qa_chn", p, ans)
    add("longbook_qa_chn", "北京", "北京")
    raises.append({"name": "longbook_qa_chn", "pred": "x", "answer": [None]})

    # longdialogue_qa_eng
    for ans, preds in [
        (["ACE", "ACE ROTHSTEIN"], ["Nicky Santoro", "Ace Rothstein", "ace's", "ACE:", "  ace  ", "ACEROTHSTEIN",
                                    "Ace-Rothstein", "ace\u00a0rothstein", "ace\u200brothstein", "", "{ace}",
                                    "\"Ace\"", "GREEN.\n\n\nINT. ACE'S SAN DIEGO", "ＡＣＥ", "Àce"]),
        (["GAGGI", "Remo", "remo Gaggi"], ["remo", "Remo Gaggi", "gaggi!", "Gaggi?"]),
        (["STRASSE"], ["straße", "Strasse", "STRAẞE"]),
        (["FINE"], ["ﬁne", "fine", "FINE."]),
        (["ICE"], ["ıce", "ice", "İCE"]),
        (["ΣΑΣ"], ["σας", "ΣΑΣ"]),
    ]:
        for p in preds:
            add("longdialogue_qa_eng", p, ans)
    add("longdialogue_qa_eng", "a", "ACE")
    add("longdialogue_qa_eng", "ace", [5])
    raises.append({"name": "longdialogue_qa_eng", "pred": "x", "answer": []})
    raises.append({"name": "longdialogue_qa_eng", "pred": "x", "answer": ""})
    raises.append({"name": "longdialogue_qa_eng", "pred": "x", "answer": 5})

    # math_find
    for p in ["88", "The answer is 88", "88\n\nThe smallest number of the list is: 1", "x", "", "-88", "1,088",
              "٨٨", "８８", "the max is 88 and min 1", "88th", "0088", "8 8", "1e88", "\u00b988"]:
        add("math_find", p, [88])
    add("math_find", "88", 88)
    add("math_find", "1", [True])
    add("math_find", "0", [False])
    for p in ["3.5", "3.50", "03.5", "3", "3.5.1", "3. 5", ".5", "3..5", "The mean is 3.5!", "35", "x3.5x"]:
        add("math_find", p, [3.5])
    add("math_find", "١.٥", 1.5)
    add("math_find", "1e3", [1.0])
    add("math_find", "4", [4.0])
    add("math_find", "4.0", 4.0)
    raises.append({"name": "math_find", "pred": "88.5", "answer": [88]})
    raises.append({"name": "math_find", "pred": "The mean is 3.5", "answer": 3})
    raises.append({"name": "math_find", "pred": "9" * 4301, "answer": [9]})
    raises.append({"name": "math_find", "pred": "88", "answer": ["88"]})
    raises.append({"name": "math_find", "pred": "88", "answer": []})

    # math_calc
    lab = [79, 59, 73, 78, 43, 21, 18, 1, 0, 0]
    for p in ["[79, 59, 73, 78, 43, 21, 18, 1, 0, 0]", "79 59 73", "79 59 74 78", "", "abc",
              "[79, 59, 73, 78, 43, 21, 18, 1, 0, 0, 5, 6]", "079 059", "79\n59\n73", "79.5 59",
              "٧٩ 79", " [1, 4, 8]\n\n[1, 4", "79,59,73,78,43,21,18,1,0,0", "-79 -59", "7959"]:
        add("math_calc", p, [lab])
    add("math_calc", "1 2 3", [1, 2, 3, 4])
    add("math_calc", "5 3 2", [[5, -3, 2]])
    add("math_calc", "5 3 2", [[5, 3.0, 2.5]])
    add("math_calc", "1 0", [[True, False]])
    add("math_calc", "1 2", [["1", 2]])
    add("math_calc", "1 2 3", [1, 2, 3])
    add("math_calc", "", [[0]])
    add("math_calc", "0", [[0]])
    add("math_calc", "00", [[0]])
    add("math_calc", "１ 2", [[1, 2]])
    add("math_calc", "1\x002", [[1, 2]])
    add("math_calc", "1 2 3 4 5 6 7", [[1, 2, 3, 4, 5, 6, 8]])
    add("math_calc", "12345678901234567890 1", [[12345678901234567890 % (1 << 63), 1]])
    add("math_calc", "9223372036854775807 1", [[9223372036854775807, 1]])
    add("math_calc", "[34, 2, 58, 37, 5, 8, 27, 71, 7]", [[34, 2, 58, 37, 5, 8, 27, 71, 7]])
    add("math_calc", "[34, 2, 58, 37, 5, 8, 27, 71, 7]", [[34, -2, 58]])
    add("math_calc", "The results: 34 then 2 then 58", [[34, 2, 58, 37]])
    raises.append({"name": "math_calc", "pred": "1" * 5000, "answer": [[1]]})
    raises.append({"name": "math_calc", "pred": "1", "answer": []})
    raises.append({"name": "math_calc", "pred": "1", "answer": 5})
    raises.append({"name": "math_calc", "pred": "1", "answer": [[]]})

    # code_run
    for p in ["4", " 24.", " 24.\n\nThe value of func_6351(", "The answer is 4.", "`4`", "x = 4", "4:", "4 5",
              "5 4", "+4", "--4", "4)", "", "   ", "٤", "0004", "4.0", "func_6351(2) returns 4", "4\u00b2", "4_",
              "４", "'4'", "\"4\"", "\u00a04\u3000", "4\x1c"]:
        add("code_run", p, [4])
    add("code_run", "1_000", [1000])
    add("code_run", "-3", [-3])
    add("code_run", "`-3`", -3)
    add("code_run", "4", ["4"])
    add("code_run", "4", [4.0])
    add("code_run", "1", [True])
    add("code_run", "9" * 4301, [9])
    add("code_run", "123456789012345678901234567890", [1])
    raises.append({"name": "code_run", "pred": "4", "answer": []})

    # code_debug
    opts = ["repack_carchive", "Configer._set_option", "main", "_parser"]
    for p in ["B.", "B:", "B. repack", "b.", "B", "The answer is: B", "answer is: B", "is: B",
              "answer: Configer._set_option", "Option B", "option B", "The correct option is: B", "**B**", "-B-",
              "`B`", "\n\n    A\n    B", "answer is:B", "answer is: Configer", "", "The answer is: C",
              "B.Configer", "  B:", "is:  B", "The function with the error is: Configer._set_option.",
              "answer is:", "Answer: B", "Ｂ."]:
        add("code_debug", p, "Configer._set_option", opts)
    add("code_debug", "C. main", ["main"], opts)
    add("code_debug", "is: _parser", ["_parser", "D"], opts)
    add("code_debug", "The function with the error is: _parser", ["_parser"], opts)
    add("code_debug", "A.", "repack_carchive", opts)
    raises.append({"name": "code_debug", "pred": "A", "answer": "nothing", "options": opts})
    raises.append({"name": "code_debug", "pred": "A", "answer": "main"})
    return C, raises


# ---------------------------------------------------------------- Python str data

def unicode_table():
    lines = ["# Python %s, Unicode %s: R first last flags (hex) for runs of equal flags;" %
             (sys.version.split()[0], unicodedata.unidata_version),
             "# flags: 1 isspace, 2 isalnum, 4 isdecimal, 8*(decimal+1), 128 sigma-skip, 256 sigma-cased,",
             "# 512 unassigned (Cn); L/U cp: lower()/upper() where they differ from the character."]
    def flags(cp):
        c = chr(cp)
        f = 0
        f |= 1 if c.isspace() else 0
        f |= 2 if c.isalnum() else 0
        if c.isdecimal():
            f |= 4 | ((unicodedata.decimal(c) + 1) << 3)
        # final-sigma probes (see test_pystr.c): 'A'+c+'Σ' and 'AΣ'+c
        p2 = ("A" + c + "\u03a3").lower()[-1] == "\u03c2"
        p3 = ("A\u03a3" + c).lower()[1] == "\u03c2"
        if p2 and p3:
            f |= 128
        elif p2:
            f |= 256
        if unicodedata.category(c) == "Cn":
            f |= 512
        return f
    run_start, run_flags = 0, None
    maps = []
    for cp in range(0x110000):
        f = flags(cp) if not (0xD800 <= cp <= 0xDFFF) else 0x1000
        if f != run_flags:
            if run_flags is not None and run_flags != 0x1000:
                lines.append("R %X %X %X" % (run_start, cp - 1, run_flags))
            run_start, run_flags = cp, f
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        if c.lower() != c:
            maps.append("L %X %s" % (cp, " ".join("%X" % ord(x) for x in c.lower())))
        if c.upper() != c:
            maps.append("U %X %s" % (cp, " ".join("%X" % ord(x) for x in c.upper())))
    lines.append("R %X %X %X" % (run_start, 0x10FFFF, run_flags))
    return "\n".join(lines + maps) + "\n"


def scalar_cases():
    out = []
    ints = ["0", "7", "-0", "+0_0", "1_000", "_1", "1_", "1__0", "-_1", " 5", "5 ", "\u00a05\u3000", " 5\x1c",
            "\x1c5", "5\x85", "5\x7f", "٣", "１２", "٣_٤", "0" * 4300, "0" * 4301, "1" * 4300, "1" * 4301, "",
            "+", "-", "0x10", "1e3", "12a", "007", "-007", "²", "𝟙𝟚", "߁", "᠑", "9" * 25, "-" + "9" * 25]
    for s in ints:
        try:
            v = int(s)
            out.append({"int": s, "value": str(v)})
        except ValueError:
            out.append({"int": s, "value": None})
    floats = [0.0, -0.0, 1.0, 100.0, 0.1, 1 / 3, 2 / 3, 66.67, 1e16, 1e15, 123456789012345678.0, 0.0001,
              0.00001, 1.5e-10, 5e-324, 1.7976931348623157e308, 0.30000000000000004, 33.33, 14.29, 1e22, 9.5]
    for x in floats:
        out.append({"repr": x, "text": repr(x)})
    for x in [1 / 3 * 100, 2 / 3 * 100, 0.125, 0.375, 2.675, 1.005, 100.0, 0.0, 14.285714285714286, 50.0,
              5 / 7 * 100, 1 / 6 * 100, 99.995, 12.345, 0.045]:
        out.append({"round": x, "ndigits": 2, "value": round(x, 2)})
    return out


# ---------------------------------------------------------------- main

def dump_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "--setup":
        if len(sys.argv) != 6:
            sys.exit("usage: gen_metric_fixtures.py --setup OFFICIAL_DIR RULER_GIT INFBENCH_GIT EVALUATE_GIT")
        setup(*sys.argv[2:6])
        return
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    official = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) == 3 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "metric")
    os.makedirs(out, exist_ok=True)
    ruler_constants, postprocess_pred, cs, eu = load_official(official)
    rng = random.Random(20250511)

    counts = {}
    cases = ruler_cases(rng)
    for name in ["string_match_all", "string_match_part"]:
        fn = ruler_constants.TASKS["niah" if name == "string_match_all" else "qa"]["metric_fn"]
        assert fn.__name__ == name
        rows, exp = [], []
        for pred, outs in cases:
            rows.append({"pred": pred, "outputs": outs})
            exp.append(repr(fn([postprocess_pred(pred, {})], [outs])))
        dump_jsonl(os.path.join(out, f"ruler_{name}.jsonl"), rows)
        with open(os.path.join(out, f"ruler_{name}.expected"), "w") as f:
            f.write("\n".join(exp) + "\n")
        counts["ruler " + name] = len(rows)

    infb, raises = infb_cases(rng)
    for task in INFB_TASKS:
        exp = []
        for rec in infb[task]:
            label = eu.get_answer(rec, task)
            # what compute_scores.py sees: the label after a JSON round trip
            label = json.loads(json.dumps(label))
            exp.append(repr(cs.get_score_one(rec["pred"], label, task, "yarn-mistral")))
        dump_jsonl(os.path.join(out, f"infbench_{task}.jsonl"), infb[task])
        with open(os.path.join(out, f"infbench_{task}.expected"), "w") as f:
            f.write("\n".join(exp) + "\n")
        counts["infbench " + task] = len(exp)

    rows = []
    for r in raises:
        try:
            if r["name"] in ("string_match_all", "string_match_part"):
                fn = ruler_constants.TASKS["niah" if r["name"] == "string_match_all" else "qa"]["metric_fn"]
                fn([postprocess_pred(r["pred"], {})], [r["outputs"]])
            else:
                rec = {k: v for k, v in r.items() if k != "name"}
                cs.get_score_one(r["pred"], eu.get_answer(rec, r["name"]), r["name"], "yarn-mistral")
        except Exception as e:  # the point: which inputs make the official code raise
            r["raises"] = type(e).__name__
            rows.append(r)
            continue
        sys.exit(f"expected an exception for {r}")
    for name in ["string_match_all", "string_match_part"]:
        try:
            ruler_constants.TASKS["niah" if name == "string_match_all" else "qa"]["metric_fn"](["x"], [[]])
        except Exception as e:
            rows.append({"name": name, "pred": "x", "outputs": [], "raises": type(e).__name__})
    dump_jsonl(os.path.join(out, "raises.jsonl"), rows)

    with open(os.path.join(out, "pyunicode.txt"), "w") as f:
        f.write(unicode_table())
    dump_jsonl(os.path.join(out, "pyscalar.jsonl"), scalar_cases())
    for k, v in counts.items():
        print(f"{k}: {v} cases")
    print(f"raises: {len(rows)} cases")


if __name__ == "__main__":
    main()
