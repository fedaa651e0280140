/* stats.h - the statistics behind evalctl's comparisons: a paired
 * permutation test that variant B scores higher than variant A, percentile
 * bootstrap confidence intervals for a mean, and the seeded random numbers
 * both use. Checked against SciPy (tools/gen_stats_fixtures.py).
 *
 * Paired permutation (sign-flip) test. With d_i = b_i - a_i (i = 1..n), the
 * statistic is mean(d). Under the null hypothesis each pair is exchangeable,
 * so every sign vector s in {-1,+1}^n is equally likely and
 *     p = P( mean(s_i d_i) >= mean(d) )
 * one-sided ("greater": B higher than A). A zero difference flips to itself
 * and stays in n. Flipping the set F of pairs gives sum(d) - 2 sum_{i in F} d_i,
 * so the event is sum_{i in F} d_i <= 0, which is what the code counts.
 *   exact:       when 2^n <= perms, all 2^n sign vectors (the identity
 *                included) are counted: p = count / 2^n. Meet in the middle:
 *                the subset sums of each half are sorted and the pairs whose
 *                total is <= tol counted with two pointers, O(2^(n/2) n) time
 *                and 2^(n/2+1) doubles; n is at most STATS_EXACT_MAX_N (40,
 *                16 MiB), which perms <= STATS_MAX_PERMS guarantees.
 *   monte_carlo: otherwise, perms random sign vectors (each takes the next
 *                ceil(n/64) outputs of the generator below, bit k of output w
 *                flipping pair 64 w + k): p = (count + 1) / (perms + 1),
 *                counting the observed statistic as one of the resamples so
 *                that p is never 0 (SciPy's permutation_test does the same).
 * This is scipy.stats.permutation_test((a, b), mean(y - x),
 * permutation_type='samples', alternative='greater', n_resamples=perms),
 * which swaps a_i and b_i within pairs, i.e. flips the sign of d_i, and is
 * exact when n_resamples >= 2^n.
 *
 * Ties. Sums of the same values in another order differ by rounding, and
 * decimal scores (0.1, 0.7) are not exact in binary, so a sign vector whose
 * statistic equals the observed one in decimal arithmetic can come out a few
 * ulps below it. A flipped sum counts as >= the observed one when
 *     sum_{i in F} d_i <= tol,   tol = 1e-12 * sum_i (|a_i| + |b_i|)
 * i.e. a flipped mean within 2e-12 * mean(|a| + |b|) below the observed mean
 * is a tie, and ties count as "at least as extreme". Representation and
 * summation errors of the exact path stay below (n + 2) * 2^-52 * sum(|a|+|b|)
 * (< 1e-14 of it for n <= 40), far inside tol; Monte Carlo sums, taken eight
 * pairs at a time, stay below (n/8 + 10) * 2^-52 of it, inside tol up to
 * n = 36000 even in the worst case (ties only move p by their share of the
 * draws there, and typical errors grow as sqrt(n)); genuinely different means are
 * only merged when they differ in the 12th significant digit of the scores'
 * scale, which evaluation scores never do. SciPy's rule, flipped >= observed -
 * 100 eps |observed|, is scaled by the observed mean alone and can miss a
 * decimal tie when the observed mean is small next to the scores (the
 * fixtures record such cases; there this test gives the exact decimal count).
 *
 * Random numbers: xoshiro256** (Blackman and Vigna), its state filled by
 * four steps of splitmix64 from the 64-bit seed, so a seed gives the same
 * streams on every platform. Bounded integers use Lemire's multiply-shift
 * with rejection, so they are unbiased.
 *
 * Bootstrap: B resamples of n indices drawn uniformly with replacement
 * (stats_rng_below(n) from the seeded generator, resample after resample); the
 * statistic is the mean of each resample; the interval is the 2.5% and 97.5%
 * quantiles of the B means with numpy's default 'linear' interpolation
 * (Hyndman and Fan's type 7: position q (B - 1) in the sorted means, linear
 * between neighbours, evaluated as np.quantile does, bit for bit). That is
 * scipy.stats.bootstrap(..., method='percentile') at confidence 0.95, whose
 * scipy.stats.quantile computes the same type 7 quantile with other roundings
 * (it may differ in the last bit).
 * Resample means are summed in index order like stats_mean, so constant data
 * give lo == hi == stats_mean(x).
 *
 * Errors: functions taking data return 0, or print one line through
 * ev_error() (bad sizes, non-finite values) and return -1. */
#ifndef EV_STATS_H
#define EV_STATS_H

#include <stdint.h>

#include "rng.h"

#define STATS_EXACT_MAX_N 40
#define STATS_MAX_PERMS (INT64_C(1) << 40)
#define STATS_MAX_BOOT 100000000L /* B * n is bounded by time, not this */

/* ------------------------------------------------------------- random */

/* The project's one generator (rng.h: xoshiro256** seeded through splitmix64);
 * stats keeps its own draw below n (Lemire's multiply-shift), whose stream the
 * permutation and bootstrap fixtures were made with. */
typedef rng_state stats_rng;

static inline void stats_rng_seed(stats_rng *r, uint64_t seed) { rng_seed(r, seed); }
static inline uint64_t stats_rng_next(stats_rng *r) { return rng_u64(r); }
/* Uniform in [0, n), n >= 1, unbiased. */
uint64_t stats_rng_below(stats_rng *r, uint64_t n);
/* Uniform in [0, 1) with 53 random bits. */
static inline double stats_rng_uniform(stats_rng *r) { return rng_double(r); }

/* ---------------------------------------------------------- summaries */

/* Mean of x[0..n-1], summed in index order (n >= 1; 0 for n <= 0). */
double stats_mean(const double *x, int n);

/* Quantile q in [0, 1] of sorted[0..n-1] (ascending, n >= 1) with numpy's
 * default 'linear' method. */
double stats_quantile_sorted(const double *sorted, int n, double q);

/* ------------------------------------------------------- permutation */

typedef struct {
    int n;             /* pairs */
    double mean_a;     /* mean(a), mean(b) */
    double mean_b;
    double mean_diff;  /* mean(b - a), the observed statistic */
    double p_value;    /* one-sided: B higher than A */
    int exact;         /* 1: all 2^n sign vectors; 0: Monte Carlo */
    int64_t perms;     /* sign vectors evaluated: 2^n, or the perms asked for */
    int64_t count;     /* of those, how many reached the observed statistic */
} stats_perm_result;

/* The paired test above on a[0..n-1], b[0..n-1] (n >= 1, finite values),
 * perms in [1, STATS_MAX_PERMS]; seed only matters for Monte Carlo. */
int stats_permtest(const double *a, const double *b, int n, int64_t perms, uint64_t seed, stats_perm_result *r);

/* --------------------------------------------------------- bootstrap */

/* Percentile bootstrap 95% interval of the mean of x[0..n-1] (n >= 1, finite)
 * from B resamples (B in [1, STATS_MAX_BOOT]). */
int stats_bootstrap_ci(const double *x, int n, int B, uint64_t seed, double *lo, double *hi);
/* The same at another two-sided confidence level in (0, 1): the quantiles
 * (1 - level) / 2 and (1 + level) / 2. */
int stats_bootstrap_ci_level(const double *x, int n, int B, double level, uint64_t seed, double *lo, double *hi);

/* --------------------------------------------------------------- input */

/* Reads a file of one number a line (decimal, optional sign, fraction and
 * exponent; spaces, tabs and a final \r around it are allowed; a last line
 * without newline is fine). Blank lines, anything else, non-finite values and
 * an empty file are errors naming FILE:LINE. On success *x (heap, the
 * caller frees it) holds *n >= 1 values. */
int stats_read_numbers(const char *path, double **x, int *n);

#endif
