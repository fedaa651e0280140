/* stats.c - paired permutation test and percentile bootstrap over the seeded
 * generator of rng.h (definitions, tie rule and limits in stats.h). */
#include "stats.h"
#include "util.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------- random */

uint64_t stats_rng_below(stats_rng *r, uint64_t n) {
    /* Lemire: the high word of x * n is uniform once the low words that would
     * give some outputs one extra preimage (those below 2^64 mod n) are refused */
    unsigned __int128 m = (unsigned __int128)stats_rng_next(r) * n;
    uint64_t low = (uint64_t)m;
    if (low < n) {
        uint64_t thresh = -n % n;
        while (low < thresh) {
            m = (unsigned __int128)stats_rng_next(r) * n;
            low = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

/* ---------------------------------------------------------------------- summaries */

double stats_mean(const double *x, int n) {
    if (n <= 0) return 0.0;
    double s = 0.0;
    for (int i = 0; i < n; i++) s += x[i];
    return s / n;
}

double stats_quantile_sorted(const double *v, int n, double q) {
    if (n <= 1) return n == 1 ? v[0] : NAN;
    if (!(q > 0)) return v[0];
    if (q >= 1) return v[n - 1];
    double h = (n - 1) * q; /* numpy's virtual index for 'linear' */
    int i = (int)floor(h);
    if (i < 0) return v[0];
    if (i >= n - 1) return v[n - 1];
    double t = h - i, a = v[i], b = v[i + 1], diff = b - a;
    /* numpy's _lerp: interpolate from the nearer end, so that t = 1 gives b exactly */
    return t >= 0.5 ? b - diff * (1.0 - t) : a + diff * t;
}

static int check_values(const char *what, const double *x, int n) {
    for (int i = 0; i < n; i++)
        if (!isfinite(x[i])) return ev_error("stats: %s[%d] is not a finite number", what, i);
    return 0;
}

/* ---------------------------------------------------------------------- permutation test */

/* All 2^h subset sums of d[0..h-1]: sums[m] adds d[j] for each bit j of m, in
 * increasing j, so each is at most h additions (a Gray-code walk would carry
 * 2^h roundings from one sum into the next). */
static double *subset_sums(const double *d, int h) {
    size_t m = (size_t)1 << h;
    double *s = xmalloc(m * sizeof *s);
    s[0] = 0.0;
    for (int j = 0; j < h; j++) {
        size_t half = (size_t)1 << j;
        for (size_t k = 0; k < half; k++) s[half + k] = s[k] + d[j];
    }
    return s;
}

static int cmp_double(const void *pa, const void *pb) {
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

/* #{F subset of [n] : sum_{i in F} d_i <= tol}, meet in the middle. */
static int64_t exact_count(const double *d, int n, double tol) {
    int h = n / 2;
    double *L = subset_sums(d, h), *R = subset_sums(d + h, n - h);
    size_t nl = (size_t)1 << h, nr = (size_t)1 << (n - h);
    qsort(L, nl, sizeof *L, cmp_double);
    qsort(R, nr, sizeof *R, cmp_double);
    /* as l grows, the bound tol - l falls, so the count of r <= it only shrinks */
    int64_t count = 0;
    size_t j = nr;
    for (size_t i = 0; i < nl; i++) {
        double bound = tol - L[i];
        while (j > 0 && R[j - 1] > bound) j--;
        if (j == 0) break;
        count += (int64_t)j;
    }
    free(L);
    free(R);
    return count;
}

/* Bit k of random word w flips pair 64 w + k. The pairs are taken eight at a
 * time: table[g][m] holds the sum over the bits of m of d[8 g + bit], so one
 * sign vector costs n/8 lookups instead of n branches (10x faster at
 * n = 2000). Pairs past n in the last group have d = 0. */
static int64_t monte_carlo_count(const double *d, int n, int64_t perms, double tol, uint64_t seed) {
    int groups = (n + 7) / 8, words = (n + 63) / 64;
    double *table = xmalloc((size_t)groups * 256 * sizeof *table);
    for (int g = 0; g < groups; g++) {
        double *t = table + (size_t)g * 256, v[8];
        for (int j = 0; j < 8; j++) v[j] = 8 * g + j < n ? d[8 * g + j] : 0.0;
        t[0] = 0.0;
        for (int j = 0; j < 8; j++)
            for (int k = 0; k < 1 << j; k++) t[(1 << j) + k] = t[k] + v[j];
    }
    stats_rng rng;
    stats_rng_seed(&rng, seed);
    int64_t count = 0;
    for (int64_t p = 0; p < perms; p++) {
        double s = 0.0;
        const double *t = table;
        int g = 0;
        for (int w = 0; w < words; w++) {
            uint64_t bits = stats_rng_next(&rng);
            for (int b = 0; b < 8 && g < groups; b++, g++, t += 256) s += t[(bits >> (8 * b)) & 0xff];
        }
        count += s <= tol;
    }
    free(table);
    return count;
}

int stats_permtest(const double *a, const double *b, int n, int64_t perms, uint64_t seed, stats_perm_result *r) {
    memset(r, 0, sizeof *r);
    if (n < 1) return ev_error("stats: permutation test needs at least one pair (got %d)", n);
    if (perms < 1 || perms > STATS_MAX_PERMS)
        return ev_error("stats: permutation count %lld is outside [1, 2^40]", (long long)perms);
    if (check_values("a", a, n) < 0 || check_values("b", b, n) < 0) return -1;

    double *d = xmalloc((size_t)n * sizeof *d);
    double scale = 0.0;
    for (int i = 0; i < n; i++) {
        d[i] = b[i] - a[i];
        scale += fabs(a[i]) + fabs(b[i]);
    }
    double tol = 1e-12 * scale;
    r->n = n;
    r->mean_a = stats_mean(a, n);
    r->mean_b = stats_mean(b, n);
    r->mean_diff = stats_mean(d, n);
    /* 2^n <= perms <= 2^40 also bounds the exact path's memory */
    if (n <= STATS_EXACT_MAX_N && ((int64_t)1 << n) <= perms) {
        r->exact = 1;
        r->perms = (int64_t)1 << n;
        r->count = exact_count(d, n, tol);
        r->p_value = (double)r->count / (double)r->perms;
    } else {
        r->exact = 0;
        r->perms = perms;
        r->count = monte_carlo_count(d, n, perms, tol, seed);
        r->p_value = ((double)r->count + 1.0) / ((double)perms + 1.0);
    }
    free(d);
    return 0;
}

/* ---------------------------------------------------------------------- bootstrap */

int stats_bootstrap_ci_level(const double *x, int n, int B, double level, uint64_t seed, double *lo, double *hi) {
    *lo = *hi = NAN;
    if (n < 1) return ev_error("stats: bootstrap needs at least one value (got %d)", n);
    if (B < 1 || B > STATS_MAX_BOOT) return ev_error("stats: bootstrap resamples %d outside [1, %ld]", B, STATS_MAX_BOOT);
    if (!(level > 0 && level < 1)) return ev_error("stats: confidence level %g is not in (0, 1)", level);
    if (check_values("x", x, n) < 0) return -1;

    stats_rng rng;
    stats_rng_seed(&rng, seed);
    double *means = xmalloc((size_t)B * sizeof *means);
    for (int k = 0; k < B; k++) {
        double s = 0.0;
        for (int i = 0; i < n; i++) s += x[stats_rng_below(&rng, (uint64_t)n)];
        means[k] = s / n;
    }
    qsort(means, (size_t)B, sizeof *means, cmp_double);
    double alpha = (1.0 - level) / 2.0;
    *lo = stats_quantile_sorted(means, B, alpha);
    *hi = stats_quantile_sorted(means, B, 1.0 - alpha);
    free(means);
    return 0;
}

int stats_bootstrap_ci(const double *x, int n, int B, uint64_t seed, double *lo, double *hi) {
    return stats_bootstrap_ci_level(x, n, B, 0.95, seed, lo, hi);
}

/* ---------------------------------------------------------------------- input */

/* Whole-token decimal syntax: [+-] (digits [. [digits]] | . digits) [(e|E) [+-] digits].
 * strtod alone would also take "inf", "nan", hex floats and a leading prefix. */
static int decimal_syntax(const char *s, size_t n) {
    size_t i = 0, digits = 0;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    while (i < n && isdigit((unsigned char)s[i])) i++, digits++;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && isdigit((unsigned char)s[i])) i++, digits++;
    }
    if (digits == 0) return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        size_t e = 0;
        while (i < n && isdigit((unsigned char)s[i])) i++, e++;
        if (e == 0) return 0;
    }
    return i == n;
}

/* Quotes at most 40 bytes of a bad line, non-printable bytes as '?'. */
static void show(char *out, const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n && k < 40; i++) out[k++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (n > 40) out[k++] = '.', out[k++] = '.', out[k++] = '.';
    out[k] = '\0';
}

int stats_read_numbers(const char *path, double **out, int *nout) {
    *out = NULL;
    *nout = 0;
    size_t len;
    char *text = ev_read_file(path, &len);
    if (!text) return -1;
    size_t cap = 256;
    int n = 0;
    double *x = xmalloc(cap * sizeof *x);
    long lineno = 0;
    for (size_t pos = 0; pos < len;) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - line) : len - pos;
        pos += ll + (nl ? 1 : 0);
        lineno++;
        size_t b = 0, e = ll;
        if (e > 0 && line[e - 1] == '\r') e--;
        while (b < e && (line[b] == ' ' || line[b] == '\t')) b++;
        while (e > b && (line[e - 1] == ' ' || line[e - 1] == '\t')) e--;
        char shown[48];
        if (b == e) {
            ev_error("%s:%ld: blank line (one number a line)", path, lineno);
            goto fail;
        }
        if (e - b > 400 || !decimal_syntax(line + b, e - b)) {
            show(shown, line + b, e - b);
            ev_error("%s:%ld: '%s' is not a number", path, lineno, shown);
            goto fail;
        }
        char buf[408];
        memcpy(buf, line + b, e - b);
        buf[e - b] = '\0';
        double v = strtod(buf, NULL);
        if (!isfinite(v)) {
            show(shown, line + b, e - b);
            ev_error("%s:%ld: '%s' is out of range", path, lineno, shown);
            goto fail;
        }
        if (n == INT_MAX) {
            ev_error("%s:%ld: too many numbers", path, lineno);
            goto fail;
        }
        if ((size_t)n == cap) {
            cap *= 2;
            x = xrealloc(x, cap * sizeof *x);
        }
        x[n++] = v;
    }
    if (n == 0) {
        ev_error("%s: no numbers (empty file)", path);
        goto fail;
    }
    free(text);
    *out = x;
    *nout = n;
    return 0;
fail:
    free(text);
    free(x);
    return -1;
}
