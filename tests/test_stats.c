/* test_stats.c - stats.c against SciPy and exact decimal counts
 * (tests/fixtures/stats, written by tools/gen_stats_fixtures.py):
 *   - exact permutation p-values equal SciPy's exact permutation_test to 1e-12
 *     wherever SciPy's float tie rule agrees with the exact decimal count, and
 *     the decimal count everywhere;
 *   - Monte Carlo p-values lie within 4 binomial standard errors + 1/N of the
 *     exact p (the bound SciPy's own Monte Carlo values are checked against
 *     when the fixtures are made);
 *   - percentile bootstrap intervals agree with SciPy's within its own
 *     seed-to-seed spread, and cover the true mean as often as SciPy's;
 *   - the generator's outputs, quantiles, number files and error paths. */
#include "stats.h"
#include "test.h"
#include "util.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>

/* ---------------------------------------------------------------------- helpers */

/* test.h's capture; stderr_end() returns what was written (kept until the next
 * call) so tests can check for exactly one error line. */
static char *err_text;

static void stderr_begin(void) { test_capture_begin(); }

static const char *stderr_end(void) {
    free(err_text);
    return err_text = test_capture_end();
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* The fixture files: lines of space-separated tokens. */
typedef struct {
    char *text;
    char **line;
    int n;
} lines_t;

static int lines_open(lines_t *L, const char *path) {
    memset(L, 0, sizeof *L);
    L->text = ev_read_file(path, NULL);
    if (!L->text) return -1;
    int cap = 256;
    L->line = xmalloc(cap * sizeof *L->line);
    for (char *p = L->text; *p;) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = '\0';
        if (*p && *p != '#') {
            if (L->n == cap) L->line = xrealloc(L->line, (cap *= 2) * sizeof *L->line);
            L->line[L->n++] = p;
        }
        if (!nl) break;
        p = nl + 1;
    }
    return 0;
}

static void lines_close(lines_t *L) {
    free(L->text);
    free(L->line);
}

/* Parses "TAG v1 v2 ..." into a new array; returns the count or -1. */
static int parse_values(const char *line, const char *tag, double **out) {
    size_t tl = strlen(tag);
    *out = NULL;
    if (strncmp(line, tag, tl) != 0 || line[tl] != ' ') return -1;
    int cap = 64, n = 0;
    double *v = xmalloc(cap * sizeof *v);
    const char *p = line + tl;
    for (;;) {
        char *end;
        double x = strtod(p, &end);
        if (end == p) break;
        if (n == cap) v = xrealloc(v, (cap *= 2) * sizeof *v);
        v[n++] = x;
        p = end;
    }
    *out = v;
    return n;
}

static double mc_tolerance(double p, double N) { return 4.0 * sqrt(p * (1.0 - p) / N) + 1.0 / N; }

/* ---------------------------------------------------------------------- permutation test */

static void test_perm_exact(void) {
    lines_t L;
    CHECK(lines_open(&L, FIXTURE("stats/perm_exact.txt")) == 0, "perm_exact.txt");
    int cases = 0, sp_cases = 0, sp_agree = 0, dec_agree = 0, mc_cases = 0, mc_agree = 0;
    double mc_worst = 0.0;
    for (int i = 0; i < L.n; i += 3) {
        char name[64];
        int n;
        long long nres;
        double p_sp, p_dec, stat;
        if (sscanf(L.line[i], "case %63s %d %lld %lf %lf %lf", name, &n, &nres, &p_sp, &p_dec, &stat) != 6 ||
            i + 2 >= L.n) {
            CHECK(0, "bad fixture line %s", L.line[i]);
            break;
        }
        double *a, *b;
        int na = parse_values(L.line[i + 1], "a", &a), nb = parse_values(L.line[i + 2], "b", &b);
        CHECK(na == n && nb == n, "%s: %d/%d values, want %d", name, na, nb, n);
        if (na == n && nb == n) {
            cases++;
            stats_perm_result r;
            int rc = stats_permtest(a, b, n, (int64_t)nres, 7, &r);
            CHECK(rc == 0 && r.exact && r.perms == ((int64_t)1 << n) && r.n == n, "%s: rc %d exact %d perms %lld",
                  name, rc, r.exact, (long long)r.perms);
            CHECK(fabs(r.p_value - p_dec) <= 1e-12, "%s: p %.17g, exact decimal count %.17g", name, r.p_value, p_dec);
            dec_agree += fabs(r.p_value - p_dec) <= 1e-12;
            double scale = 0;
            for (int k = 0; k < n; k++) scale += (fabs(a[k]) + fabs(b[k])) / n;
            CHECK(fabs(r.mean_diff - stat) <= 1e-12 * scale, "%s: mean_diff %.17g, SciPy %.17g", name, r.mean_diff,
                  stat);
            if (p_sp == p_dec) {
                sp_cases++;
                CHECK(fabs(r.p_value - p_sp) <= 1e-12, "%s: p %.17g, SciPy %.17g", name, r.p_value, p_sp);
                sp_agree += fabs(r.p_value - p_sp) <= 1e-12;
            } else {
                printf("  %s (n=%d): SciPy p=%.10g misses a decimal tie; exact count and evalctl give %.10g\n", name,
                       n, p_sp, r.p_value);
            }
            /* an exact count does not depend on the seed or on how far perms exceeds 2^n */
            stats_perm_result r2;
            rc = stats_permtest(a, b, n, STATS_MAX_PERMS, 99, &r2);
            CHECK(rc == 0 && r2.count == r.count && r2.p_value == r.p_value, "%s: exact path not repeatable", name);
            /* the Monte Carlo path on the same data, against the exact value */
            if (n >= 10) {
                int64_t N = ((int64_t)1 << n) - 1 < 20000 ? ((int64_t)1 << n) - 1 : 20000;
                rc = stats_permtest(a, b, n, N, (uint64_t)i, &r2);
                double tol = mc_tolerance(p_dec, (double)N), dev = fabs(r2.p_value - p_dec);
                CHECK(rc == 0 && !r2.exact && r2.perms == N, "%s: Monte Carlo path not taken", name);
                CHECK(dev <= tol, "%s: Monte Carlo p %.6g (N=%lld), exact %.6g, tolerance %.3g", name, r2.p_value,
                      (long long)N, p_dec, tol);
                mc_cases++;
                mc_agree += dev <= tol;
                if (dev / tol > mc_worst) mc_worst = dev / tol;
            }
        }
        free(a);
        free(b);
    }
    lines_close(&L);
    CHECK(cases >= 100, "%d exact cases", cases);
    printf("exact: %d/%d agree with SciPy's exact p to 1e-12 (%d where SciPy misses a decimal tie); "
           "%d/%d with the decimal count\n",
           sp_agree, sp_cases, cases - sp_cases, dec_agree, cases);
    printf("monte carlo on the small cases: %d/%d within 4 se + 1/N of the exact p (worst %.2f of the bound)\n",
           mc_agree, mc_cases, mc_worst);
}

static void test_perm_mc(void) {
    lines_t L;
    CHECK(lines_open(&L, FIXTURE("stats/perm_mc.txt")) == 0, "perm_mc.txt");
    int cases = 0, agree = 0;
    double worst = 0.0;
    for (int i = 0; i + 2 < L.n; i += 3) {
        char name[64];
        int n;
        long long N;
        double p_ex, p_sp;
        if (sscanf(L.line[i], "case %63s %d %lld %lf %lf", name, &n, &N, &p_ex, &p_sp) != 5) {
            CHECK(0, "bad fixture line %s", L.line[i]);
            break;
        }
        double *a, *b;
        int na = parse_values(L.line[i + 1], "a", &a), nb = parse_values(L.line[i + 2], "b", &b);
        CHECK(na == n && nb == n, "%s: %d/%d values, want %d", name, na, nb, n);
        if (na == n && nb == n) {
            stats_perm_result r;
            int rc = stats_permtest(a, b, n, (int64_t)N, 1000 + (uint64_t)i, &r);
            double tol = mc_tolerance(p_ex, (double)N), dev = fabs(r.p_value - p_ex);
            CHECK(rc == 0 && !r.exact && r.perms == N, "%s: rc %d exact %d", name, rc, r.exact);
            CHECK(dev <= tol, "%s: p %.6g, exact %.6g, SciPy MC %.6g, tolerance %.3g", name, r.p_value, p_ex, p_sp,
                  tol);
            CHECK(r.p_value == ((double)r.count + 1) / ((double)N + 1), "%s: not (count+1)/(N+1)", name);
            cases++;
            agree += dev <= tol;
            if (dev / tol > worst) worst = dev / tol;
            /* a seed gives the same draws every time */
            stats_perm_result r2;
            stats_permtest(a, b, n, (int64_t)N, 1000 + (uint64_t)i, &r2);
            CHECK(r2.count == r.count, "%s: seed not repeatable", name);
            if (i == 0) {
                stats_permtest(a, b, n, (int64_t)N, 5, &r2);
                CHECK(r2.count != r.count, "%s: seeds 1000 and 5 drew the same count %lld", name, (long long)r.count);
            }
        }
        free(a);
        free(b);
    }
    lines_close(&L);
    CHECK(cases >= 10, "%d Monte Carlo cases", cases);
    printf("monte carlo (n = 30..200, N = 100000): %d/%d within 4 se + 1/N of the exact p (worst %.2f of the bound)\n",
           agree, cases, worst);
}

/* Cases small enough to count by hand. */
static void test_perm_small(void) {
    stats_perm_result r;
    /* n = 1: the identity always counts; the flip counts when -d >= d */
    double a1 = 1.0, b1 = 2.0;
    CHECK(stats_permtest(&a1, &b1, 1, 100, 0, &r) == 0 && r.p_value == 0.5 && r.count == 1 && r.perms == 2,
          "p %g", r.p_value);
    CHECK(stats_permtest(&b1, &a1, 1, 100, 0, &r) == 0 && r.p_value == 1.0, "p %g", r.p_value);
    CHECK(stats_permtest(&a1, &a1, 1, 100, 0, &r) == 0 && r.p_value == 1.0 && r.mean_diff == 0.0, "p %g",
          r.p_value);
    /* d = (1, 2, 3): of the 8 sign vectors only +++ reaches 6 */
    double a[3] = {0, 0, 0}, b[3] = {1, 2, 3};
    CHECK(stats_permtest(a, b, 3, 8, 0, &r) == 0 && r.exact && r.count == 1 && r.p_value == 0.125, "p %g",
          r.p_value);
    CHECK(r.mean_a == 0.0 && r.mean_b == 2.0 && r.mean_diff == 2.0, "means %g %g %g", r.mean_a, r.mean_b,
          r.mean_diff);
    /* 7 < 2^3: Monte Carlo, and the count is that of 7 draws */
    CHECK(stats_permtest(a, b, 3, 7, 0, &r) == 0 && !r.exact && r.perms == 7 && r.count <= 7, "mc");
    /* d = (0.1, 0.2, -0.3): the sum is 5.55e-17 in binary, 0 in decimal. The sets F with
     * sum_F d <= 0 in decimal: {}, {-0.3}, {0.1, -0.3}, {0.2, -0.3} and all three (a tie) */
    double a3[3] = {0, 0, 0}, b3[3] = {0.1, 0.2, -0.3};
    CHECK(stats_permtest(a3, b3, 3, 8, 0, &r) == 0 && r.count == 5, "count %lld", (long long)r.count);
    /* n = 40, the largest exact case: meet in the middle over 2^20 sums per half, against
     * a dynamic programme over the integer sums of d = (1, -2, 3, -4, ..., -40) */
    double a40[40], b40[40];
    for (int i = 0; i < 40; i++) a40[i] = 0, b40[i] = (i % 2 ? -1.0 : 1.0) * (i + 1);
    enum { OFF = 820 };
    static int64_t dp[2 * OFF + 1], nx[2 * OFF + 1];
    dp[OFF] = 1;
    for (int i = 0; i < 40; i++) {
        int v = (int)b40[i];
        memcpy(nx, dp, sizeof dp);
        for (int s = 0; s <= 2 * OFF; s++)
            if (dp[s] && s + v >= 0 && s + v <= 2 * OFF) nx[s + v] += dp[s];
        memcpy(dp, nx, sizeof dp);
    }
    int64_t want = 0;
    for (int s = 0; s <= OFF; s++) want += dp[s];
    double t0 = ev_now();
    CHECK(stats_permtest(a40, b40, 40, STATS_MAX_PERMS, 0, &r) == 0 && r.exact && r.perms == ((int64_t)1 << 40) &&
              r.count == want,
          "n=40: count %lld, dynamic programme %lld", (long long)r.count, (long long)want);
    printf("exact n=40: %.2f s\n", ev_now() - t0);

    /* errors: one line each */
    stderr_begin();
    int rc = stats_permtest(a, b, 0, 8, 0, &r);
    const char *e = stderr_end();
    CHECK(rc == -1 && count_lines(e) == 1 && strstr(e, "at least one pair"), "%s", e);
    stderr_begin();
    rc = stats_permtest(a, b, 3, 0, 0, &r);
    e = stderr_end();
    CHECK(rc == -1 && count_lines(e) == 1 && strstr(e, "permutation count"), "%s", e);
    stderr_begin();
    rc = stats_permtest(a, b, 3, STATS_MAX_PERMS + 1, 0, &r);
    e = stderr_end();
    CHECK(rc == -1 && count_lines(e) == 1, "%s", e);
    double bn[3] = {1, NAN, 3};
    stderr_begin();
    rc = stats_permtest(a, bn, 3, 8, 0, &r);
    e = stderr_end();
    CHECK(rc == -1 && count_lines(e) == 1 && strstr(e, "b[1]"), "%s", e);
}

/* ---------------------------------------------------------------------- bootstrap */

static void test_boot(void) {
    lines_t L;
    CHECK(lines_open(&L, FIXTURE("stats/boot.txt")) == 0, "boot.txt");
    int cases = 0, agree = 0;
    double worst = 0;
    for (int i = 0; i + 1 < L.n; i += 2) {
        char name[64];
        int n, B, R;
        double lo_m, lo_s, hi_m, hi_s, sig;
        if (sscanf(L.line[i], "case %63s %d %d %d %lf %lf %lf %lf %lf", name, &n, &B, &R, &lo_m, &lo_s, &hi_m, &hi_s,
                   &sig) != 9) {
            CHECK(0, "bad fixture line %s", L.line[i]);
            break;
        }
        double *x;
        int nx = parse_values(L.line[i + 1], "x", &x);
        CHECK(nx == n, "%s: %d values", name, nx);
        if (nx == n) {
            double lo, hi, mean = stats_mean(x, n);
            int rc = stats_bootstrap_ci(x, n, B, 12345 + (uint64_t)i, &lo, &hi);
            /* If evalctl's interval has SciPy's sampling distribution, lo - mean(SciPy's R
             * seeds) has sd lo_s * sqrt(1 + 1/R); 5 of those leaves room for lo_s being
             * itself estimated from R = 30 runs. The floor of 0.15 sigma_boot covers
             * lattice data (0/100 scores), whose quantiles SciPy may hit identically on
             * all 30 seeds (sd 0); it is about 5 standard errors of a 2.5% quantile of
             * B = 9999 normal draws (sqrt(.025 .975 / B) / phi(1.96) = 0.027 sigma). */
            double tl = fmax(5 * lo_s * sqrt(1 + 1.0 / R), 0.15 * sig);
            double th = fmax(5 * hi_s * sqrt(1 + 1.0 / R), 0.15 * sig);
            int ok = rc == 0 && fabs(lo - lo_m) <= tl && fabs(hi - hi_m) <= th;
            CHECK(ok, "%s: [%.6g, %.6g], SciPy [%.6g +- %.2g, %.6g +- %.2g]", name, lo, hi, lo_m, lo_s, hi_m, hi_s);
            CHECK(lo <= mean && mean <= hi, "%s: %g not in [%g, %g]", name, mean, lo, hi);
            agree += ok;
            cases++;
            worst = fmax(worst, fmax(fabs(lo - lo_m) / tl, fabs(hi - hi_m) / th));
            double lo2, hi2;
            stats_bootstrap_ci(x, n, B, 12345 + (uint64_t)i, &lo2, &hi2);
            CHECK(lo2 == lo && hi2 == hi, "%s: seed not repeatable", name);
        }
        free(x);
    }
    lines_close(&L);
    CHECK(cases >= 5, "%d bootstrap cases", cases);
    printf("bootstrap: %d/%d intervals within SciPy's seed-to-seed spread (worst %.2f of the bound)\n", agree, cases,
           worst);
}

static void test_boot_cover(void) {
    lines_t L;
    CHECK(lines_open(&L, FIXTURE("stats/boot_cover.txt")) == 0, "boot_cover.txt");
    int sets = 0, n = 0, B = 0, sp_cov = 0;
    double mu = 0;
    if (L.n < 1 || sscanf(L.line[0], "cover %d %d %d %lf %d", &sets, &n, &B, &mu, &sp_cov) != 5) {
        CHECK(0, "bad boot_cover.txt");
        lines_close(&L);
        return;
    }
    int cov = 0, done = 0;
    double wratio = 0, worst = 0;
    for (int k = 0; k < sets && 2 + 2 * k < L.n; k++) {
        double *x, slo, shi;
        int nx = parse_values(L.line[1 + 2 * k], "x", &x);
        if (nx != n || sscanf(L.line[2 + 2 * k], "ci %lf %lf", &slo, &shi) != 2) {
            CHECK(0, "dataset %d", k);
            free(x);
            break;
        }
        double lo, hi, m = stats_mean(x, n), ss = 0;
        for (int i = 0; i < n; i++) ss += (x[i] - m) * (x[i] - m);
        double sig = sqrt(ss / n) / sqrt((double)n);
        stats_bootstrap_ci(x, n, B, 777 + (uint64_t)k, &lo, &hi);
        cov += lo <= mu && mu <= hi;
        wratio += (hi - lo) / (shi - slo);
        /* per dataset: a quantile of B = 1999 means has a standard error near 0.06 sigma_boot,
         * a difference of two near 0.085; 0.5 sigma_boot is about 6 of those */
        double dev = fmax(fabs(lo - slo), fabs(hi - shi)) / sig;
        CHECK(dev <= 0.5, "dataset %d: [%g, %g], SciPy [%g, %g]", k, lo, hi, slo, shi);
        worst = fmax(worst, dev);
        done++;
        free(x);
    }
    lines_close(&L);
    wratio /= done;
    CHECK(done == sets, "%d/%d datasets", done, sets);
    /* Coverage can only differ on datasets whose true mean sits within Monte Carlo
     * noise of an end; SciPy against itself with three other seeds differed by 2, 1
     * and 1 datasets (tools/gen_stats_fixtures.py prints this), so 6 is a loose bound. */
    CHECK(abs(cov - sp_cov) <= 6, "coverage %d/%d, SciPy %d/%d", cov, sets, sp_cov, sets);
    /* the mean width ratio averages 200 ratios of standard deviation ~3% each */
    CHECK(fabs(wratio - 1) <= 0.01, "mean width ratio %g", wratio);
    printf("bootstrap coverage of Exp(1) mean, n=%d: %d/%d (SciPy %d/%d); mean width / SciPy's %.4f; "
           "worst end %.2f sigma_boot apart\n",
           n, cov, sets, sp_cov, sets, wratio, worst);
}

static void test_boot_props(void) {
    double lo, hi;
    /* constant data: every resample mean is the same sum, so lo == hi == mean */
    double c[7] = {0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1};
    CHECK(stats_bootstrap_ci(c, 7, 999, 1, &lo, &hi) == 0 && lo == hi && lo == stats_mean(c, 7), "[%.17g, %.17g]",
          lo, hi);
    double one = 42.5;
    CHECK(stats_bootstrap_ci(&one, 1, 10, 1, &lo, &hi) == 0 && lo == 42.5 && hi == 42.5, "n=1");
    /* two values: resample means are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4 */
    double two[2] = {0, 1};
    CHECK(stats_bootstrap_ci(two, 2, 9999, 3, &lo, &hi) == 0 && lo == 0.0 && hi == 1.0, "[%g, %g]", lo, hi);
    /* a wider level gives a wider interval on the same draws */
    double x[50], lo9, hi9;
    for (int i = 0; i < 50; i++) x[i] = (i * 37) % 11;
    stats_bootstrap_ci_level(x, 50, 2000, 0.90, 4, &lo9, &hi9);
    stats_bootstrap_ci_level(x, 50, 2000, 0.99, 4, &lo, &hi);
    CHECK(lo < lo9 && hi > hi9, "99%% [%g, %g] vs 90%% [%g, %g]", lo, hi, lo9, hi9);

    stderr_begin();
    int rc = stats_bootstrap_ci(x, 0, 100, 1, &lo, &hi);
    const char *e = stderr_end();
    CHECK(rc == -1 && count_lines(e) == 1 && isnan(lo), "%s", e);
    stderr_begin();
    rc = stats_bootstrap_ci(x, 50, 0, 1, &lo, &hi);
    e = stderr_end();
    CHECK(rc == -1 && count_lines(e) == 1, "%s", e);
    stderr_begin();
    rc = stats_bootstrap_ci_level(x, 50, 10, 1.0, 1, &lo, &hi);
    e = stderr_end();
    CHECK(rc == -1 && count_lines(e) == 1 && strstr(e, "level"), "%s", e);
    x[3] = INFINITY;
    stderr_begin();
    rc = stats_bootstrap_ci(x, 50, 10, 1, &lo, &hi);
    e = stderr_end();
    CHECK(rc == -1 && count_lines(e) == 1 && strstr(e, "x[3]"), "%s", e);
}

/* ---------------------------------------------------------------------- pieces */

static void test_rng(void) {
    lines_t L;
    CHECK(lines_open(&L, FIXTURE("stats/rng.txt")) == 0, "rng.txt");
    int seeds = 0;
    for (int i = 0; i < L.n; i++) {
        char *p = L.line[i];
        if (strncmp(p, "seed ", 5) != 0) continue;
        char *end;
        uint64_t seed = strtoull(p + 5, &end, 10);
        stats_rng r;
        stats_rng_seed(&r, seed);
        int k = 0;
        for (p = end; *p; k++) {
            uint64_t want = strtoull(p, &end, 10);
            if (end == p) break;
            p = end;
            uint64_t got = stats_rng_next(&r);
            CHECK(got == want, "seed %" PRIu64 " output %d: %" PRIu64 " != %" PRIu64, seed, k, got, want);
        }
        CHECK(k == 8, "seed %" PRIu64 ": %d outputs", seed, k);
        seeds++;
    }
    lines_close(&L);
    CHECK(seeds == 4, "%d seeds", seeds);

    /* bounded draws: every value reachable, none out of range, counts near n/k
     * (chi-square with 6 degrees of freedom; 40 is far beyond its 99.99th percentile) */
    stats_rng r;
    stats_rng_seed(&r, 11);
    int cnt[7] = {0};
    int bad = 0;
    for (int i = 0; i < 70000; i++) {
        uint64_t v = stats_rng_below(&r, 7);
        if (v >= 7) bad++;
        else cnt[v]++;
    }
    double chi = 0;
    for (int k = 0; k < 7; k++) chi += (cnt[k] - 10000.0) * (cnt[k] - 10000.0) / 10000.0;
    CHECK(bad == 0 && chi < 40, "bad %d chi2 %g", bad, chi);
    /* n = 1 and a huge n, where rejection matters most */
    CHECK(stats_rng_below(&r, 1) == 0, "below(1)");
    /* n = 3 2^62: plain x % n would put half the draws below 2^62 instead of a third */
    uint64_t big = UINT64_C(3) << 62, hits = 0;
    for (int i = 0; i < 1000; i++) hits += stats_rng_below(&r, big) < (UINT64_C(1) << 62);
    CHECK(hits > 260 && hits < 410, "below(3 2^62) under 2^62: %" PRIu64 "/1000, want about 333", hits);
    double u = stats_rng_uniform(&r);
    CHECK(u >= 0 && u < 1, "%g", u);
}

static void test_quantile(void) {
    /* repr(np.quantile(v, q)) for numpy's default 'linear' method, bit for bit */
    static const struct {
        double v[5];
        int n;
        double q, want;
    } cases[] = {
        {{1, 2, 3, 4, 10}, 5, 0.025, 1.1},
        {{1, 2, 3, 4, 10}, 5, 0.975, 9.399999999999999},
        {{1, 2, 3, 4, 10}, 5, 0.5, 3.0},
        {{1, 2, 3, 4, 10}, 5, 0.3, 2.2},
        {{0.5, 0.7, 0.9, 1.3}, 4, 0.025, 0.515},
        {{0.5, 0.7, 0.9, 1.3}, 4, 0.975, 1.27},
        {{0.5, 0.7, 0.9, 1.3}, 4, 0.1, 0.56},
        {{0.5, 0.7, 0.9, 1.3}, 4, 0.77, 1.024},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double got = stats_quantile_sorted(cases[i].v, cases[i].n, cases[i].q);
        CHECK(got == cases[i].want, "case %zu: %.17g, numpy %.17g", i, got, cases[i].want);
    }
    double v[5] = {1, 2, 3, 4, 10};
    CHECK(stats_quantile_sorted(v, 5, 0.0) == 1 && stats_quantile_sorted(v, 5, 1.0) == 10, "ends");
    CHECK(stats_quantile_sorted(v, 1, 0.3) == 1, "n=1");
    double m[4] = {1, 2, 3, 4};
    CHECK(stats_mean(m, 4) == 2.5 && stats_mean(m, 0) == 0, "mean");
}

static void write_file(const char *path, const char *s) {
    FILE *f = fopen(path, "wb");
    fputs(s, f);
    fclose(f);
}

static void test_read_numbers(void) {
    char dir[] = "/tmp/evalctl_test_statsdir_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[128];
    snprintf(path, sizeof path, "%s/n.txt", dir);
    double *x;
    int n;
    write_file(path, "1\n-2.5\n  +3e2 \t\r\n.5\n7.");
    CHECK(stats_read_numbers(path, &x, &n) == 0 && n == 5 && x[0] == 1 && x[1] == -2.5 && x[2] == 300 &&
              x[3] == 0.5 && x[4] == 7,
          "good file: n %d", n);
    free(x);
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"1\n\n2\n", "n.txt:2: blank line"},
        {"1\n2\n\n", "n.txt:3: blank line"},
        {"1\n2\n \r\n", "n.txt:3: blank line"},
        {"1\nabc\n", "n.txt:2: 'abc' is not a number"},
        {"1 2\n", "n.txt:1: '1 2' is not a number"},
        {"nan\n", "n.txt:1: 'nan' is not a number"},
        {"inf\n", "n.txt:1: 'inf' is not a number"},
        {"0x10\n", "n.txt:1: '0x10' is not a number"},
        {"1e\n", "n.txt:1: '1e' is not a number"},
        {"-\n", "n.txt:1: '-' is not a number"},
        {"1,5\n", "n.txt:1: '1,5' is not a number"},
        {"3\n1e999\n", "n.txt:2: '1e999' is out of range"},
        {"", "n.txt: no numbers"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(path, bad[i].text);
        stderr_begin();
        int rc = stats_read_numbers(path, &x, &n);
        const char *e = stderr_end();
        CHECK(rc == -1 && x == NULL && n == 0 && count_lines(e) == 1 && strstr(e, bad[i].want),
              "case %zu: rc %d, stderr '%s', want '%s'", i, rc, e, bad[i].want);
    }
    /* NUL inside a line */
    FILE *f = fopen(path, "wb");
    fwrite("1\n2\0\n", 1, 5, f);
    fclose(f);
    stderr_begin();
    int rc = stats_read_numbers(path, &x, &n);
    const char *e = stderr_end();
    CHECK(rc == -1 && count_lines(e) == 1 && strstr(e, "n.txt:2:"), "NUL: %s", e);
    unlink(path);
    stderr_begin();
    rc = stats_read_numbers(path, &x, &n);
    e = stderr_end();
    CHECK(rc == -1 && count_lines(e) == 1 && strstr(e, "n.txt"), "missing: %s", e);
    rmdir(dir);
}

int main(void) {
    test_perm_exact();
    test_perm_mc();
    test_perm_small();
    test_boot();
    test_boot_cover();
    test_boot_props();
    test_rng();
    test_quantile();
    test_read_numbers();
    return test_done("stats");
}
