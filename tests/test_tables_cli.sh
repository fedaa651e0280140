# test_tables_cli.sh - `evalctl tables` on made-up run directories
# (tests/fixtures/tables/runs, tools/gen_tables_fixtures.py): every CSV and
# Markdown file byte for byte as the generator's independent Python builds it,
# the SVG plots checked as XML (series, legend, points where the values put
# them), one error line naming the file and line for each malformed run, and
# `make reproduce-tables` over a results directory of its own (RESULTS=).
. tests/lib.sh
F=tests/fixtures/tables
O=$T_TMP/tables
RUNS=$(LC_ALL=C ls -d $F/runs/*)

# shellcheck disable=SC2086
"$EVALCTL" tables $RUNS --out "$O" >"$T_TMP/list" 2>"$T_TMP/err" || t_bad "tables: $(cat "$T_TMP/err")"
[ -s "$T_TMP/err" ] && t_bad "tables wrote to stderr: $(cat "$T_TMP/err")" || t_ok
sed "s#^#$O/#" $F/expected/files.txt | cmp -s - "$T_TMP/list" && t_ok || t_bad "files written: $(cat "$T_TMP/list")"
while read -r f; do
    case $f in *.svg) continue ;; esac
    cmp -s "$O/$f" "$F/expected/$f" && t_ok || t_bad "$f differs: $(diff "$O/$f" "$F/expected/$f" | head -n 6)"
done <$F/expected/files.txt
# CSVs: CRLF on every line
for f in "$O"/*.csv; do
    [ "$(grep -c $'\r$' "$f")" -eq "$(wc -l <"$f")" ] && t_ok || t_bad "$f: a line without CRLF"
done
# the same again: same bytes (SVGs too)
"$EVALCTL" tables $RUNS --out "$T_TMP/again" >/dev/null 2>&1
diff -r "$O" "$T_TMP/again" >/dev/null && t_ok || t_bad "a second run differs"

# SVG: well-formed; one series per variant with a value in the by-length CSV,
# legend = row labels, a polyline for two or more points, markers only for
# one, and the plotted y an affine function of the value (same for x and log
# length) across all points of a plot
python3 - "$O" <<'PY' && t_ok || t_bad "SVG checks"
import csv, math, sys, glob, os
import xml.etree.ElementTree as ET
NS = "{http://www.w3.org/2000/svg}"
O = sys.argv[1]
svgs = sorted(glob.glob(f"{O}/*-by-length.svg"))
assert len(svgs) == 4, svgs
for svg in svgs:
    root = ET.parse(svg).getroot()
    assert root.tag == NS + "svg"
    rows = list(csv.reader(open(svg[:-4] + ".csv", newline="", encoding="utf-8")))
    lengths = [int(x) for x in rows[0][1:]]
    want = {r[0]: [(L, float(v)) for L, v in zip(lengths, r[1:]) if v] for r in rows[1:]}
    want = {k: v for k, v in want.items() if v}
    series = [g for g in root.iter(NS + "g") if g.get("class") == "series"]
    names = [g.find(NS + "title").text for g in series]
    assert names == list(want), (svg, names, list(want))
    legend = [g for g in root.iter(NS + "g") if g.get("class") == "legend"][0]
    assert [t.text for t in legend.iter(NS + "text")] == names
    pts = []  # (length, value, px, py)
    for g, name in zip(series, names):
        pl = g.find(NS + "polyline")
        if len(want[name]) >= 2:
            xy = [tuple(map(float, p.split(","))) for p in pl.get("points").split()]
            assert len(xy) == len(want[name]), (svg, name)
            pts += [(L, v, px, py) for (L, v), (px, py) in zip(want[name], xy)]
        else:
            assert pl is None, (svg, name)
            marks = [e for e in g if e.tag in (NS + "circle", NS + "rect", NS + "polygon")]
            assert len(marks) == 1, (svg, name, len(marks))
    if len(pts) >= 3:
        (L0, v0, x0, y0), (L1, v1, x1, y1) = min(pts, key=lambda p: p[1]), max(pts, key=lambda p: p[1])
        for L, v, px, py in pts:
            assert abs(y0 + (v - v0) * (y1 - y0) / (v1 - v0) - py) < 0.02, (svg, L, v, py)
        a, b = min(pts), max(pts)
        for L, v, px, py in pts:
            t = (math.log(L) - math.log(a[0])) / (math.log(b[0]) - math.log(a[0]))
            assert abs(a[2] + t * (b[2] - a[2]) - px) < 0.02, (svg, L, px)
PY
# tables.md links the plots it shows
for s in "$O"/*.svg; do
    grep -qF "]($(basename "$s"))" "$O/tables.md" && t_ok || t_bad "tables.md does not show $s"
done

# malformed runs: one line naming the file and line
while IFS=$'\t' read -r name re; do
    expect_error "bad run $name" "$re" "$EVALCTL" tables "$F/bad/$name" --out "$T_TMP/bad"
done <$F/bad/expected.txt
expect_error "a run given twice" 'ruler4k/summary\.csv:2: length 4096 task niah_single_1 variant dense is also in .*ruler4k/summary\.csv:2' \
    "$EVALCTL" tables $F/runs/ruler4k $F/runs/ruler4k/ --out "$T_TMP/bad"
expect_error "not a directory" 'nothere: not a run directory' "$EVALCTL" tables "$T_TMP/nothere" --out "$T_TMP/bad"
: >"$T_TMP/file"
expect_error "--out is a file" "file: (not a directory|mkdir)" "$EVALCTL" tables $F/runs/pg19 --out "$T_TMP/file"
"$EVALCTL" tables >/dev/null 2>&1
[ $? -eq 2 ] && t_ok || t_bad "no run directory: want exit 2"
"$EVALCTL" tables $F/runs/pg19 --bogus >/dev/null 2>&1
[ $? -eq 2 ] && t_ok || t_bad "unknown option: want exit 2"
expect_grep "help" 'usage: evalctl tables' "$EVALCTL" tables --help

# make reproduce-tables over a results directory (RESULTS=): the run
# directories with a summary.csv, not the NAME.old-* copies (the copy of
# ruler4k would clash with it), not a run without tables yet; stale tables go
if [ -x "${BUILD:-build}/evalctl" ]; then
    R=$T_TMP/results
    mk() { make -s --no-print-directory -o all BUILD="${BUILD:-build}" RESULTS="$R" reproduce-tables; }
    mkdir -p "$R"
    mk >"$T_TMP/out" 2>&1 && t_bad "no runs: make succeeded" || t_ok
    grep -q "no run directory with a summary.csv under $R/" "$T_TMP/out" && t_ok || t_bad "no runs: $(cat "$T_TMP/out")"
    cp -r $F/runs/ruler4k $F/runs/ruler8k $F/runs/pg19 "$R/"
    cp -r $F/runs/ruler4k "$R/ruler4k.old-20250101-000000"
    mkdir -p "$R/unfinished" "$R/tables" && cp $F/runs/ruler4k/config.ini "$R/unfinished/"
    : >"$R/tables/stale.md"
    mk >"$T_TMP/out" 2>&1 && t_ok || t_bad "make reproduce-tables: $(cat "$T_TMP/out")"
    grep -q "3 run(s)" "$T_TMP/out" && t_ok || t_bad "runs found: $(cat "$T_TMP/out")"
    [ ! -e "$R/tables/stale.md" ] && t_ok || t_bad "a stale table was kept"
    "$EVALCTL" tables "$R/pg19" "$R/ruler4k" "$R/ruler8k" --out "$T_TMP/direct" >/dev/null 2>&1
    diff -r "$R/tables" "$T_TMP/direct" >/dev/null && t_ok || t_bad "make reproduce-tables and evalctl tables differ"
fi

done_tests tables_cli
