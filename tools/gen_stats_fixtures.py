#!/usr/bin/env python3
"""gen_stats_fixtures.py - reference values for src/stats.c from SciPy and
from exact decimal arithmetic.

Writes tests/fixtures/stats/:
  perm_exact.txt  paired cases (n = 2..20) with SciPy's exact p-value
                  (permutation_test, permutation_type='samples',
                  alternative='greater', n_resamples >= 2^n), SciPy's observed
                  statistic, and the p-value counted exactly in decimal
                  integers (the values as written, scaled by 10^k).
  perm_mc.txt     larger cases (n = 30..200) for the Monte Carlo path: the
                  exact p-value from a dynamic programme over the decimal
                  integer sums, and SciPy's Monte Carlo p-value with the same
                  number of resamples (checked here against the same tolerance
                  the C test uses).
  boot.txt        datasets with the mean and standard deviation, over R seeds,
                  of the ends of scipy.stats.bootstrap(method='percentile')
                  95% intervals of the mean.
  boot_cover.txt  datasets drawn from Exp(1) (true mean 1) with SciPy's
                  per-dataset percentile intervals, for coverage and width.
  rng.txt         the first outputs of xoshiro256** seeded through splitmix64,
                  from a port of the published reference code (Vigna's
                  splitmix64.c and xoshiro256starstar.c); the port's
                  splitmix64 is checked against the published sequence for
                  seed 1234567 first.
  cli_a.txt, cli_b.txt, cli_expected.txt
                  one exact case for `evalctl permtest`, and the p_value= and
                  mean_diff= lines it must print (SciPy's values, %.10g).

Every number is written with repr(), which C's strtod reads back to the same
double. Line formats are described at the top of each file.

Why two oracles for the exact cases: SciPy counts a null statistic as
>= the observed one when null >= observed - 100 eps |observed|. When the
observed mean is small next to the values, rounding in numpy's sums can put
a statistic that is equal in decimal just below that bound, so SciPy misses a
tie (and evalctl does not: its tolerance is scaled by sum |a| + |b|, see
stats.h). The decimal count is exact; the C test requires agreement with it
everywhere and with SciPy wherever SciPy agrees with it, and reports the rest.

Needs numpy and scipy (pip install scipy). Deterministic: fixed seeds.
Usage: python3 tools/gen_stats_fixtures.py [OUT_DIR]
"""
import math
import os
import sys
from decimal import Decimal

import numpy as np
import scipy
import scipy.stats as ss

OUT = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/stats"
MC_PERMS = 100000          # Monte Carlo resamples, C and SciPy alike
BOOT_B = 9999              # SciPy's default n_resamples
BOOT_SEEDS = 30
COVER_SETS, COVER_N, COVER_B = 200, 30, 1999


def mean_diff(x, y, axis):
    return np.mean(y - x, axis=axis)


def scipy_perm(a, b, n_resamples, seed=None):
    r = ss.permutation_test((a, b), mean_diff, permutation_type="samples", alternative="greater",
                            n_resamples=n_resamples, vectorized=True, batch=1 << 15,
                            rng=np.random.default_rng(seed))
    return float(r.pvalue), float(r.statistic)


def decimal_diffs(a, b):
    """d_i = b_i - a_i as integers, exactly, in units of 10^-k (the values'
    decimal strings as written), divided by their gcd."""
    da = [Decimal(repr(float(v))) for v in a]
    db = [Decimal(repr(float(v))) for v in b]
    k = max(max(-x.as_tuple().exponent, 0) for x in da + db)
    d = [int((y - x).scaleb(k)) for x, y in zip(da, db)]
    g = 0
    for v in d:
        g = math.gcd(g, abs(v))
    return [v // g for v in d] if g else d


def decimal_p_exact(a, b):
    """#{F : sum_{i in F} d_i <= 0} / 2^n by counting subset sums (exact ints)."""
    counts = {0: 1}
    for v in decimal_diffs(a, b):
        nxt = dict(counts)
        for s, c in counts.items():
            nxt[s + v] = nxt.get(s + v, 0) + c
        counts = nxt
    n = len(a)
    hits = sum(c for s, c in counts.items() if s <= 0)
    return hits / 2 ** n


def decimal_p_dp(a, b):
    """The same probability for large n, as a float dynamic programme over the
    (gcd-reduced) integer sums: P(sum of d_i over a random half <= 0)."""
    d = decimal_diffs(a, b)
    off = sum(abs(v) for v in d)
    p = np.zeros(2 * off + 1)
    p[off] = 1.0
    for v in d:
        q = 0.5 * p
        if v > 0:
            q[v:] += 0.5 * p[:-v]
        elif v < 0:
            q[:v] += 0.5 * p[-v:]
        else:
            q += 0.5 * p
        p = q
    return float(p[: off + 1].sum())


def mc_tolerance(p, n_perms):
    """The C test's bound on |p_mc - p|: 4 binomial standard errors plus 1/N
    for the (count + 1)/(N + 1) correction."""
    return 4.0 * math.sqrt(p * (1.0 - p) / n_perms) + 1.0 / n_perms


def fmt(v):
    return repr(float(v))


# ---------------------------------------------------------------- data families

def family(rng, kind, n):
    """(a, b) for one case: scores of the kinds an evaluation produces."""
    if kind == "acc":          # 0/100 per-sample accuracy, independent
        return rng.choice([0.0, 100.0], n), rng.choice([0.0, 100.0], n, p=[0.4, 0.6])
    if kind == "acc_paired":   # B mostly agrees with A: many zero differences
        a = rng.choice([0.0, 100.0], n)
        b = a.copy()
        flip = rng.random(n) < 0.3
        b[flip] = 100.0 - b[flip]
        return a, b
    if kind == "onedec":       # one decimal: many decimal ties
        return np.round(rng.random(n), 1), np.round(rng.random(n), 1)
    if kind == "twodec_shift":
        a = np.round(rng.random(n) * 3, 2)
        return a, np.round(a + rng.choice([-0.3, 0.1, 0.2, 0.0], n), 2)
    if kind == "normal":       # continuous, negative values, a shift
        return np.round(rng.normal(0.0, 1.0, n), 3), np.round(rng.normal(0.3, 1.0, n), 3)
    if kind == "rouge":        # fractions in [0, 1] with 4 decimals
        a = np.round(rng.beta(2, 3, n), 4)
        return a, np.round(np.clip(a + rng.normal(0.02, 0.05, n), 0, 1), 4)
    if kind == "large":        # large values, small decimal differences
        a = np.round(1e6 + rng.random(n) * 10, 2)
        return a, np.round(a + rng.choice([-0.01, 0.0, 0.01, 0.02], n), 2)
    if kind == "equal":        # B == A: all differences zero, p = 1
        a = np.round(rng.random(n) * 100, 1)
        return a, a.copy()
    if kind == "constant":     # every difference the same positive value: p = 2^-n
        a = np.round(rng.random(n), 2)
        return a, np.round(a + 0.25, 2)
    if kind == "negative":     # B lower everywhere: p = 1
        a = np.round(rng.random(n) + 1, 2)
        return a, np.round(a - rng.random(n) - 0.01, 2)
    raise ValueError(kind)


EXACT_KINDS = ["acc", "acc_paired", "onedec", "twodec_shift", "normal", "rouge", "large"]


def write_exact(path):
    rng = np.random.default_rng(20250511)
    cases = []
    for n in range(2, 17):
        for kind in EXACT_KINDS:
            cases.append((kind, n))
    for n in (3, 8, 13):
        for kind in ("equal", "constant", "negative"):
            cases.append((kind, n))
    for n, kind in ((18, "onedec"), (19, "acc_paired"), (20, "normal")):
        cases.append((kind, n))
    lines = ["# case NAME N N_RESAMPLES P_SCIPY P_DECIMAL STATISTIC_SCIPY, then the lines",
             "# a A_1 .. A_N and b B_1 .. B_N. P_SCIPY: scipy.stats.permutation_test exact",
             f"# (scipy {scipy.__version__}); P_DECIMAL: count of sign flips in exact decimal",
             "# arithmetic (see tools/gen_stats_fixtures.py)."]
    disagree = 0
    for i, (kind, n) in enumerate(cases):
        a, b = family(rng, kind, n)
        p_sp, stat = scipy_perm(a, b, 2 ** n)
        p_dec = decimal_p_exact(a, b)
        if p_sp != p_dec:
            disagree += 1
        lines.append(f"case {kind}_{i} {n} {2 ** n} {fmt(p_sp)} {fmt(p_dec)} {fmt(stat)}")
        lines.append("a " + " ".join(fmt(v) for v in a))
        lines.append("b " + " ".join(fmt(v) for v in b))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{path}: {len(cases)} exact cases; SciPy differs from the decimal count in {disagree}")


def write_mc(path):
    rng = np.random.default_rng(4242)
    specs = [("acc", 50), ("acc_paired", 50), ("normal", 50), ("rouge", 50), ("onedec", 30),
             ("acc", 200), ("acc_paired", 200), ("normal", 200), ("rouge", 200), ("twodec_shift", 200),
             ("onedec", 64), ("onedec", 65)]
    lines = ["# case NAME N N_PERMS P_EXACT P_SCIPY_MC, then a and b lines. P_EXACT: dynamic",
             "# programme over exact decimal integer sums; P_SCIPY_MC: scipy.stats.permutation_test",
             f"# with N_PERMS resamples (scipy {scipy.__version__}), seed 1000 + case index."]
    worst = 0.0
    for i, (kind, n) in enumerate(specs):
        a, b = family(rng, kind, n)
        p_ex = decimal_p_dp(a, b)
        p_sp, _ = scipy_perm(a, b, MC_PERMS, seed=1000 + i)
        dev = abs(p_sp - p_ex) / mc_tolerance(p_ex, MC_PERMS)
        worst = max(worst, dev)
        assert dev <= 1.0, f"SciPy's Monte Carlo p {p_sp} is outside the tolerance of {p_ex}"
        lines.append(f"case {kind}_{i} {n} {MC_PERMS} {fmt(p_ex)} {fmt(p_sp)}")
        lines.append("a " + " ".join(fmt(v) for v in a))
        lines.append("b " + " ".join(fmt(v) for v in b))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{path}: {len(specs)} Monte Carlo cases; SciPy's worst |p - exact| = {worst:.2f} of the tolerance")


def scipy_boot(x, B, seed):
    r = ss.bootstrap((x,), np.mean, n_resamples=B, method="percentile", confidence_level=0.95,
                     vectorized=True, rng=np.random.default_rng(seed))
    return float(r.confidence_interval.low), float(r.confidence_interval.high)


def write_boot(path):
    rng = np.random.default_rng(77)
    sets = [("normal100", np.round(rng.normal(0.5, 0.2, 100), 3)),
            ("exp200", np.round(rng.exponential(1.0, 200), 3)),
            ("acc300", rng.choice([0.0, 100.0], 300, p=[0.3, 0.7])),
            ("uniform1000", np.round(rng.random(1000), 4)),
            ("small12", np.round(rng.normal(10, 3, 12), 2)),
            ("lognormal50", np.round(rng.lognormal(0, 1, 50), 3))]
    lines = ["# case NAME N B R LO_MEAN LO_SD HI_MEAN HI_SD SIGMA_BOOT, then x X_1 .. X_N.",
             "# LO/HI: ends of scipy.stats.bootstrap(method='percentile', confidence 0.95,",
             f"# n_resamples B) over R seeds (scipy {scipy.__version__}); SIGMA_BOOT = std(x)/sqrt(n)."]
    for name, x in sets:
        ci = np.array([scipy_boot(x, BOOT_B, s) for s in range(BOOT_SEEDS)])
        lo_m, hi_m = ci[:, 0].mean(), ci[:, 1].mean()
        lo_s, hi_s = ci[:, 0].std(ddof=1), ci[:, 1].std(ddof=1)
        sig = x.std() / math.sqrt(len(x))
        lines.append(f"case {name} {len(x)} {BOOT_B} {BOOT_SEEDS} {fmt(lo_m)} {fmt(lo_s)} {fmt(hi_m)} "
                     f"{fmt(hi_s)} {fmt(sig)}")
        lines.append("x " + " ".join(fmt(v) for v in x))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{path}: {len(sets)} bootstrap datasets")


def write_cover(path):
    rng = np.random.default_rng(99)
    data = [np.round(rng.exponential(1.0, COVER_N), 3) for _ in range(COVER_SETS)]
    cis = [scipy_boot(x, COVER_B, 5000 + i) for i, x in enumerate(data)]
    covered = sum(lo <= 1.0 <= hi for lo, hi in cis)
    # how far two SciPy runs with other seeds drift apart, to size the C test's bound
    drift = []
    for rep in range(3):
        other = [scipy_boot(x, COVER_B, 9000 + 1000 * rep + i) for i, x in enumerate(data)]
        drift.append(abs(sum(lo <= 1.0 <= hi for lo, hi in other) - covered))
    lines = ["# cover SETS N B TRUE_MEAN COVERED, then per dataset: x X_1 .. X_N and",
             "# ci LO HI from scipy.stats.bootstrap(method='percentile', confidence 0.95,",
             f"# n_resamples B) (scipy {scipy.__version__}); data drawn from Exp(1).",
             f"cover {COVER_SETS} {COVER_N} {COVER_B} 1.0 {covered}"]
    for x, (lo, hi) in zip(data, cis):
        lines.append("x " + " ".join(fmt(v) for v in x))
        lines.append(f"ci {fmt(lo)} {fmt(hi)}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{path}: SciPy covers the true mean in {covered}/{COVER_SETS}; "
          f"other SciPy seeds differ by {drift} datasets")


def write_cli(out):
    rng = np.random.default_rng(3)
    a, b = family(rng, "rouge", 14)
    p, stat = scipy_perm(a, b, 2 ** 14)
    assert p == decimal_p_exact(a, b)
    with open(os.path.join(out, "cli_a.txt"), "w") as f:
        f.write("".join(fmt(v) + "\n" for v in a))
    with open(os.path.join(out, "cli_b.txt"), "w") as f:
        f.write("".join(fmt(v) + "\n" for v in b))
    with open(os.path.join(out, "cli_expected.txt"), "w") as f:
        f.write(f"p_value={p:.10g}\nmean_diff={stat:.10g}\n")


M64 = (1 << 64) - 1


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & M64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return state, z ^ (z >> 31)


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & M64


def xoshiro256ss(seed, count):
    s, st = [], seed
    for _ in range(4):
        st, z = splitmix64(st)
        s.append(z)
    out = []
    for _ in range(count):
        out.append((rotl((s[1] * 5) & M64, 7) * 9) & M64)
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
    return out


def write_rng(path):
    st, got = 1234567, []
    for _ in range(5):
        st, z = splitmix64(st)
        got.append(z)
    # published splitmix64 sequence for seed 1234567 (Rosetta Code, "Pseudo-random numbers/Splitmix64")
    assert got == [6457827717110365317, 3203168211198807973, 9817491932198370423,
                   4593380528125082431, 16408922859458223821], got
    lines = ["# seed SEED, then OUT_1 .. OUT_8: stats_rng_next after stats_rng_seed(SEED)"]
    for seed in (0, 1, 1234567, M64):
        lines.append(f"seed {seed} " + " ".join(str(v) for v in xoshiro256ss(seed, 8)))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    write_exact(os.path.join(OUT, "perm_exact.txt"))
    write_mc(os.path.join(OUT, "perm_mc.txt"))
    write_boot(os.path.join(OUT, "boot.txt"))
    write_cover(os.path.join(OUT, "boot_cover.txt"))
    write_cli(OUT)
    write_rng(os.path.join(OUT, "rng.txt"))


if __name__ == "__main__":
    main()
