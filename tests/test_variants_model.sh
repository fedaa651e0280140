# test_variants_model.sh - the Delta correction on a real model: SmolLM2-135M-
# Instruct over a 4K RULER haystack (niah_single_1, generated here), quickstart's
# sink 16 / window 128 / block 256 / gamma 32. With every layer but the last
# dense, the last layer's streaming+delta and block+delta attention outputs must
# be closer to dense (mean cosine) than streaming's and block's; and with every
# layer sparse in the prefill of all but the last 64 tokens (the question),
# decoded one at a time, the last layer's outputs at those decode steps must be
# closer to dense for streaming+delta than for streaming (the paper's Fig. 3)
# (build/variants-model check; tools/variants_model.c says what else it measures).
. tests/lib.sh
M=models/smollm2-135m-instruct.gguf
B=${BUILD:-build}
$EVALCTL gen ruler --model $M --length 4096 --out "$T_TMP/r" --samples 1 --tasks niah_single_1 >/dev/null 2>"$T_TMP/err" &&
    t_ok || t_bad "gen ruler: $(cat "$T_TMP/err")"
"$B/variants-model" check --ruler "$T_TMP/r/niah_single_1.jsonl" >"$T_TMP/out"
grep -v '^RESULT ' "$T_TMP/out"
p=$(sed -n 's/^RESULT .* passed=\([0-9]*\) failed=\([0-9]*\)$/\1/p' "$T_TMP/out")
f=$(sed -n 's/^RESULT .* passed=\([0-9]*\) failed=\([0-9]*\)$/\2/p' "$T_TMP/out")
[ -n "$p" ] || { t_bad "variants-model check printed no RESULT"; p=0; f=0; }
T_PASS=$((T_PASS + p))
T_FAIL=$((T_FAIL + f))
[ "$(grep -c "mean cosine" "$T_TMP/out")" -eq 3 ] && t_ok || t_bad "three cosine lines expected"
done_tests variants_model
