#!/usr/bin/env python3
"""gen_tables_fixtures.py - run directories and the tables `evalctl tables`
must make of them, for tests/test_tables_cli.sh.

Writes tests/fixtures/tables/:
  runs/NAME/      config.ini, summary.csv, pvalues.csv of made-up runs (seeded
                  random numbers): RULER at 4K, 8K and 16K of one model (one
                  variant missing at 8K, 16K saved with LF line ends and a
                  UTF-8 BOM as a spreadsheet would, quoted fields), a RULER run
                  at 32K whose 'streaming' has other parameters, InfiniteBench,
                  PG19 (one task, no averages, two lengths) and a run without a
                  [benchmark] name.
  expected/       every CSV and Markdown file of `evalctl tables runs/*`, built
                  here from the runs with Python's csv module, following the
                  file list in src/tables.h (not from evalctl's output), and
                  files.txt, the names in the order evalctl writes them.
  bad/NAME/       malformed runs; bad/expected.txt has "NAME<TAB>regex" of the
                  one error line each must give.
  csv/read_N.csv  valid RFC 4180 texts (quotes, line breaks in fields, LF or
                  CRLF ends, a BOM, no final line end, UTF-8), and read_N.json,
                  the rows Python's csv.reader gives (tests/test_csv.c);
  csv/put.json    rows of awkward fields, and put.csv, what Python's
                  csv.writer (QUOTE_MINIMAL, CRLF) makes of them.

Run from the repository root: python3 tools/gen_tables_fixtures.py
"""
import csv
import io
import json
import os
import random
import shutil

ROOT = "tests/fixtures/tables"
MODEL = "models/llama-3.1-8b-instruct"
RULER_TASKS = ["niah_single_1", "niah_multikey_3", "vt", "cwe", "qa_1"]
VARIANTS = [
    ("dense", {"variant": "dense"}),
    ("streaming", {"variant": "streaming", "sink": "1024", "window": "2048"}),
    ("streaming_delta", {"variant": "streaming+delta", "sink": "1024", "window": "2048", "gamma": "64"}),
    ("streaming_recompute", {"variant": "streaming+recompute", "sink": "1024", "window": "2048", "gamma": "64"}),
    ("block", {"variant": "block", "block": "2048", "tail": "128"}),
    ("block_delta", {"variant": "block+delta", "block": "2048", "tail": "128", "gamma": "64"}),
]
BASES = {"streaming_delta": "streaming", "streaming_recompute": "streaming", "block_delta": "block"}
rng = random.Random(20250516)


def ini_text(name, bench, model, variants, tasks, lengths):
    out = ["; made by tools/gen_tables_fixtures.py", "[run]", f"name = {name}", f"model = {model}", ""]
    out.append("[benchmark]")
    if bench is not None:
        out.append(f"name = {bench}")
    out += [f"tasks = {', '.join(tasks)}", f"lengths = {', '.join(map(str, lengths))}", "samples = 20", ""]
    for vn, params in variants:
        out.append(f"[variant.{vn}]")
        out += [f"{k} = {v}" for k, v in params.items()]
        out.append("")
    return "\n".join(out)


def csv_text(rows, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL):
    f = io.StringIO()
    w = csv.writer(f, lineterminator=lineterminator, quoting=quoting)
    for r in rows:
        w.writerow(r)
    return f.getvalue()


def score(lo=0.0, hi=100.0):
    m = rng.uniform(lo, hi)
    a = max(lo, m - rng.uniform(1, 9))
    b = min(hi, m + rng.uniform(1, 9))
    return [f"{m:.4f}", f"{a:.4f}", f"{b:.4f}"]


def summary_rows(tasks, variants, lengths, avg=True, n=20, lo=0.0, hi=100.0):
    rows = [["length", "task", "variant", "n", "mean", "ci_lo", "ci_hi"]]
    for L in lengths:
        for t in tasks + (["average"] if avg else []):
            for vn, _ in variants:
                rows.append([str(L), t, vn, str(n)] + score(lo, hi))
    return rows


def pvalue_rows(tasks, variants, lengths):
    rows = [["length", "group", "variant", "base", "n", "mean_base", "mean_variant", "mean_diff", "p_value", "method"]]
    names = [v for v, _ in variants]
    for L in lengths:
        for vn in names:
            if vn not in BASES or BASES[vn] not in names:
                continue
            for g in ("synthetic", "qa"):
                if g == "qa" and "qa_1" not in tasks:
                    continue
                a, b = rng.uniform(0, 100), rng.uniform(0, 100)
                p = rng.choice([rng.uniform(0, 1), rng.uniform(0, 0.001), 1.0])
                rows.append([str(L), g, vn, BASES[vn], "40", f"{a:.4f}", f"{b:.4f}", f"{b - a:.4f}", f"{p:.6g}",
                             rng.choice(["exact", "monte_carlo"])])
    return rows


def write(path, text, bom=False):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(("\ufeff" if bom else "") + text)


def make_runs():
    runs = {}
    # RULER 4K: everything
    runs["ruler4k"] = ("ruler", MODEL, VARIANTS, RULER_TASKS, [4096], {})
    # RULER 8K: block_delta missing, every field quoted
    runs["ruler8k"] = ("ruler", MODEL, VARIANTS[:5], RULER_TASKS, [8192], {"quote": True})
    # RULER 16K: LF line ends and a BOM, as a spreadsheet saves it
    runs["ruler16k"] = ("ruler", MODEL, VARIANTS, RULER_TASKS, [16384], {"lf": True})
    # RULER 32K, trailing slash in the model path: 'streaming' with another window
    other = [("dense", VARIANTS[0][1]), ("streaming", {"variant": "streaming", "sink": "1024", "window": "4096"})]
    runs["ruler32k"] = ("ruler", MODEL + "/", other, RULER_TASKS[:3], [32768], {})
    runs["infbench"] = ("infinitebench", MODEL, VARIANTS[:3], ["passkey", "kv_retrieval", "longbook_qa_eng"],
                        [131072], {})
    runs["pg19"] = ("pg19", "models/smollm2-135m-instruct.gguf", VARIANTS[:3], ["pg19"], [1000, 4096],
                    {"avg": False, "lo": 8.0, "hi": 40.0, "nopv": True})
    runs["nobench"] = (None, "models/qwen2.5-0.5b-instruct.gguf", VARIANTS[:2], ["x|y"], [2048], {"avg": False})
    out = {}
    for name, (bench, model, variants, tasks, lengths, opt) in runs.items():
        d = f"{ROOT}/runs/{name}"
        write(f"{d}/config.ini", ini_text(name, bench, model, variants, tasks, lengths))
        srows = summary_rows(tasks, variants, lengths, opt.get("avg", True), lo=opt.get("lo", 0.0),
                             hi=opt.get("hi", 100.0))
        q = csv.QUOTE_ALL if opt.get("quote") else csv.QUOTE_MINIMAL
        le = "\n" if opt.get("lf") else "\r\n"
        write(f"{d}/summary.csv", csv_text(srows, le, q), bom=opt.get("lf", False))
        prows = None
        if not opt.get("nopv"):
            prows = pvalue_rows(tasks, variants, lengths)
            write(f"{d}/pvalues.csv", csv_text(prows, le, q), bom=opt.get("lf", False))
        out[name] = (bench, model, variants, srows, prows)
    return out


# ------------------------------------------------------------------ the oracle

def slug(model):
    m = model.rstrip("/") or model
    b = m.rsplit("/", 1)[-1]
    return b[:-5] if b.endswith(".gguf") and len(b) > 5 else b


def safe(s):
    s = s or "unknown"
    r = "".join(c if (c.isascii() and (c.isalnum() or c in "._-")) else "_" for c in s)
    return "_" + r[1:] if r.startswith(".") else r


def length_label(L):
    return f"{L // 1024}K" if L % 1024 == 0 else str(L)


def params_of(variants, name):
    d = dict(variants).get(name)
    if d is None:
        return ""
    kv = [f"{k}={v}" for k, v in d.items()]
    return " ".join(sorted(kv, key=lambda s: (not s.startswith("variant="), s)))


BENCH = {
    "ruler": ("RULER", "Average accuracy (%) by context length", "Accuracy (%) per task at {} tokens", "accuracy (%)"),
    "infinitebench": ("InfiniteBench", "Average score by context length", "Score per task at {} tokens", "score"),
    "pg19": ("PG19", "Perplexity by context length (lower is better)", "Perplexity per task at {} tokens",
             "perplexity"),
}


def md_cell(kind, s):
    if kind == "missing":
        return "-"
    if kind == "mean":
        return "%.2f" % float(s)
    if kind == "p":
        return "%.3g" % float(s)
    return s.replace("\\", "\\\\").replace("|", "\\|")


def md_table(header, rows, n_left):
    """header: [(kind, text)], rows: [[(kind, text)]]"""
    out = "| " + " | ".join(md_cell(k, s) for k, s in header) + " |\n"
    out += "|" + "".join(" --- |" if i < n_left else " ---: |" for i in range(len(header))) + "\n"
    for r in rows:
        out += "| " + " | ".join(md_cell(k, s) for k, s in r) + " |\n"
    return out


def oracle(runs, order):
    groups = {}  # key -> dict
    for name in order:
        bench, model, variants, srows, prows = runs[name]
        key = f"{safe(bench)}_{safe(slug(model))}"
        g = groups.setdefault(key, dict(bench=bench or "", model=slug(model), runs=[], tasks=[], vars=[], cells={},
                                        pv=[]))
        d = f"{ROOT}/runs/{name}"
        g["runs"].append(d)

        def var(vn):
            v = (vn, params_of(variants, vn))
            if v not in g["vars"]:
                g["vars"].append(v)
            return g["vars"].index(v)

        for r in srows[1:]:
            L, t, vn, n, mean, lo, hi = r
            ti = -1 if t == "average" else None
            if ti is None:
                if t not in g["tasks"]:
                    g["tasks"].append(t)
                ti = g["tasks"].index(t)
            g["cells"][(int(L), ti, var(vn))] = (d, n, mean, lo, hi)
        for r in (prows or [])[1:]:
            L, grp, vn, base = r[0], r[1], r[2], r[3]
            g["pv"].append((int(L), grp, var(vn), var(base), r[4:]))
    files = {}
    index = "# Tables\n\nWritten by `evalctl tables` from the run directories below (README, \"Tables\").\n\n"
    names = []
    for key, g in groups.items():
        disp, by_len, per_task, ylabel = BENCH.get(g["bench"], (g["bench"] or "unknown benchmark",
                                                                   "Mean score by context length",
                                                                   "Mean score per task at {} tokens", "mean score"))
        index += f"## {disp}, {g['model']}\n\nRuns:" + ",".join(f" `{r}`" for r in g["runs"]) + ".\n\n"
        lengths = sorted({k[0] for k in g["cells"]} | {p[0] for p in g["pv"]})

        def label(v):
            n, p = g["vars"][v]
            if sum(1 for x in g["vars"] if x[0] == n) > 1:
                return f"{n} [{p or 'no config section'}]"
            return n

        has_avg = any(k[1] == -1 for k in g["cells"])
        head = -1 if has_avg else (0 if len(g["tasks"]) == 1 else -2)
        if head != -2 and g["cells"]:
            header = [("text", "variant")] + [("text", str(L)) for L in lengths]
            mdh = [("text", "variant")] + [("text", length_label(L)) for L in lengths]
            rows, csvrows = [], [[h for _, h in header]]
            for v in range(len(g["vars"])):
                r = [("text", label(v))]
                for L in lengths:
                    c = g["cells"].get((L, head, v))
                    r.append(("mean", c[2]) if c else ("missing", ""))
                rows.append(r)
                csvrows.append([s for _, s in r])
            files[f"{key}-by-length.csv"] = csv_text(csvrows)
            files[f"{key}-by-length.md"] = md_table(mdh, rows, 1)
            names += [f"{key}-by-length.csv", f"{key}-by-length.md", f"{key}-by-length.svg"]
            index += f"### {by_len}" + (f": {g['tasks'][head]}" if head >= 0 else "") + "\n\n"
            index += md_table(mdh, rows, 1)
            index += f"\n![{ylabel} against context length]({key}-by-length.svg)\n\n"
        for L in lengths:
            here = [k for k in g["cells"] if k[0] == L]
            if not here:
                continue
            cols = [t for t in list(range(len(g["tasks"]))) + [-1] if any(k[1] == t for k in here)]
            vrows = [v for v in range(len(g["vars"])) if any(k[2] == v for k in here)]
            header = [("text", "variant")] + [("text", g["tasks"][t] if t >= 0 else "average") for t in cols]
            rows, csvrows = [], [[h for _, h in header]]
            for v in vrows:
                r = [("text", label(v))]
                for t in cols:
                    c = g["cells"].get((L, t, v))
                    r.append(("mean", c[2]) if c else ("missing", ""))
                rows.append(r)
                csvrows.append([s for _, s in r])
            files[f"{key}-tasks-{L}.csv"] = csv_text(csvrows)
            files[f"{key}-tasks-{L}.md"] = md_table(header, rows, 1)
            names += [f"{key}-tasks-{L}.csv", f"{key}-tasks-{L}.md"]
            index += "### " + per_task.format(length_label(L)) + "\n\n" + md_table(header, rows, 1) + "\n"
        if g["pv"]:
            keys = []
            for p in g["pv"]:
                k = (p[2], p[3], p[1])
                if k not in keys:
                    keys.append(k)
            csvrows = [["length", "group", "variant", "base", "n", "mean_base", "mean_variant", "mean_diff",
                        "p_value", "method"]]
            for L in lengths:
                for k in keys:
                    for p in g["pv"]:
                        if p[0] == L and (p[2], p[3], p[1]) == k:
                            csvrows.append([str(L), p[1], label(p[2]), label(p[3])] + list(p[4]))
            files[f"{key}-pvalues.csv"] = csv_text(csvrows)
            header = [("text", "variant"), ("text", "base"), ("text", "group")] + \
                [("text", length_label(L)) for L in lengths]
            rows = []
            for k in keys:
                r = [("text", label(k[0])), ("text", label(k[1])), ("text", k[2])]
                for L in lengths:
                    m = [p for p in g["pv"] if p[0] == L and (p[2], p[3], p[1]) == k]
                    r.append(("p", m[0][4][4]) if m else ("missing", ""))
                rows.append(r)
            files[f"{key}-pvalues.md"] = md_table(header, rows, 3)
            names += [f"{key}-pvalues.csv", f"{key}-pvalues.md"]
            index += "### p-values: variant better than its base (one-sided paired permutation test)\n\n"
            index += md_table(header, rows, 3) + "\n"
        csvrows = [["run", "length", "task", "variant", "variant_params", "n", "mean", "ci_lo", "ci_hi"]]
        for L in lengths:
            for t in list(range(len(g["tasks"]))) + [-1]:
                for v in range(len(g["vars"])):
                    c = g["cells"].get((L, t, v))
                    if c:
                        csvrows.append([c[0], str(L), g["tasks"][t] if t >= 0 else "average", label(v),
                                        g["vars"][v][1], c[1], c[2], c[3], c[4]])
        files[f"{key}-summary.csv"] = csv_text(csvrows)
        names.append(f"{key}-summary.csv")
    files["tables.md"] = index
    names.append("tables.md")
    return files, names


# ------------------------------------------------------------------ bad runs

def make_bad():
    good_cfg = ini_text("bad", "ruler", MODEL, VARIANTS[:2], ["vt"], [4096])
    good_sum = summary_rows(["vt"], VARIANTS[:2], [4096])
    cases = []

    def case(name, files, regex):
        for fn, text in files.items():
            write(f"{ROOT}/bad/{name}/{fn}", text)
        cases.append((name, regex))

    case("nocfg", {"summary.csv": csv_text(good_sum)}, r"bad/nocfg/config\.ini: No such file")
    case("nosummary", {"config.ini": good_cfg}, r"bad/nosummary/summary\.csv: No such file")
    case("badcfg", {"config.ini": good_cfg.replace("[benchmark]", "[benchmark"), "summary.csv": csv_text(good_sum)},
         r"bad/badcfg/config\.ini:6: ")
    s = [list(r) for r in good_sum]
    s[2][4] = "abc"
    case("badnum", {"config.ini": good_cfg, "summary.csv": csv_text(s)},
         r"bad/badnum/summary\.csv:3: mean 'abc' is not a number")
    s = [list(r) for r in good_sum]
    s[3] = s[3][:6]
    case("fields", {"config.ini": good_cfg, "summary.csv": csv_text(s)},
         r"bad/fields/summary\.csv:4: 6 fields, the header has 7")
    case("quote", {"config.ini": good_cfg, "summary.csv": csv_text(good_sum[:1]) + '4096,"vt,dense,20,1,0,2\r\n'},
         r"bad/quote/summary\.csv:2: quoted field not closed")
    case("bare", {"config.ini": good_cfg, "summary.csv": csv_text(good_sum[:1]) + '4096,v"t,dense,20,1,0,2\r\n'},
         r"bad/bare/summary\.csv:2: a quote inside an unquoted field")
    s = [list(r) for r in good_sum]
    s[0][4] = "score"
    case("nocol", {"config.ini": good_cfg, "summary.csv": csv_text(s)},
         r"bad/nocol/summary\.csv:1: no 'mean' column")
    case("empty", {"config.ini": good_cfg, "summary.csv": ""}, r"bad/empty/summary\.csv:1: empty")
    s = [list(r) for r in good_sum]
    s[1][0] = "4k"
    case("badlen", {"config.ini": good_cfg, "summary.csv": csv_text(s)},
         r"bad/badlen/summary\.csv:2: length '4k' is not a positive whole number")
    s = [list(r) for r in good_sum]
    s[2][5] = "nan"
    case("nan", {"config.ini": good_cfg, "summary.csv": csv_text(s)},
         r"bad/nan/summary\.csv:3: ci_lo 'nan' is not a number")
    s = [list(r) for r in good_sum]
    s.append(list(s[1]))
    case("dup", {"config.ini": good_cfg, "summary.csv": csv_text(s)},
         r"bad/dup/summary\.csv:6: length 4096 task vt variant dense is also in .*bad/dup/summary\.csv:2")
    p = pvalue_rows(["vt"], [VARIANTS[1], VARIANTS[2]], [4096])
    p[1][8] = "1.5"
    case("pvalue", {"config.ini": ini_text("bad", "ruler", MODEL, [VARIANTS[1], VARIANTS[2]], ["vt"], [4096]),
                    "summary.csv": csv_text(summary_rows(["vt"], [VARIANTS[1], VARIANTS[2]], [4096])),
                    "pvalues.csv": csv_text(p)},
         r"bad/pvalue/pvalues\.csv:2: p_value '1\.5' is not a number in \[0, 1\]")
    case("utf8", {"config.ini": good_cfg}, r"bad/utf8/summary\.csv:3: not UTF-8")
    with open(f"{ROOT}/bad/utf8/summary.csv", "wb") as f:
        f.write(csv_text(good_sum[:2]).encode() + b"4096,vt\xff,streaming,20,1,0,2\r\n")
    with open(f"{ROOT}/bad/expected.txt", "w") as f:
        for name, regex in cases:
            f.write(f"{name}\t{regex}\n")


# ------------------------------------------------------------------ csv cases

def make_csv():
    texts = [
        "a,b,c\r\n1,2,3\r\n",
        "a,b\n1,2\n",
        'name,text\r\nx,"has, comma"\r\ny,"has ""quotes"""\r\nz,"two\r\nlines"\r\nw,"lf\nonly"\r\n',
        "a,,c,\r\n,,,\r\n",
        "last,line\r\nno,end",
        "\ufefflength,task\r\n4096,vt\r\n",
        'mot,\u00e9t\u00e9\r\n"\u4e2d\u6587",\U0001F600\r\n',
        '"",x\r\n"a""",""""\r\n',
    ]
    for i, t in enumerate(texts):
        with open(f"{ROOT}/csv/read_{i}.csv", "w", encoding="utf-8", newline="") as f:
            f.write(t)
        body = t[1:] if t.startswith("\ufeff") else t
        rows = list(csv.reader(io.StringIO(body, newline="")))
        with open(f"{ROOT}/csv/read_{i}.json", "w", encoding="utf-8") as f:
            json.dump(rows, f, ensure_ascii=False)
            f.write("\n")
    put = [["plain", "with,comma", 'a "quote"', "cr\rhere", "lf\nhere", "", "caf\u00e9"],
           ["4096", "-1.5000", "x;y", "tab\there", " lead", "trail ", '"']]
    with open(f"{ROOT}/csv/put.json", "w", encoding="utf-8") as f:
        json.dump(put, f, ensure_ascii=False)
        f.write("\n")
    write(f"{ROOT}/csv/put.csv", csv_text(put))


def main():
    shutil.rmtree(ROOT, ignore_errors=True)
    runs = make_runs()
    order = sorted(runs)  # the shell glob's order
    files, names = oracle(runs, order)
    for fn, text in files.items():
        write(f"{ROOT}/expected/{fn}", text)
    write(f"{ROOT}/expected/files.txt", "".join(n + "\n" for n in names))
    make_bad()
    os.makedirs(f"{ROOT}/csv", exist_ok=True)
    make_csv()


if __name__ == "__main__":
    main()
