/* cmd_permtest.c - `evalctl permtest A.txt B.txt`: the paired sign-flip
 * permutation test of stats.h on two files of per-sample scores paired by
 * line, one-sided (B higher than A). Prints key=value lines so that scripts
 * can read them; nothing reaches stdout unless both files are good. */
#include "cli.h"
#include "stats.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PERMTEST_DEFAULT_PERMS 100000
#define PERMTEST_MAX_PERMS 1000000000L

static void usage(FILE *f) {
    fprintf(f,
            "usage: evalctl permtest A.txt B.txt [--perms N] [--seed S]\n\n"
            "Paired permutation (sign-flip) test that B scores higher than A. Each file holds one\n"
            "number a line; line i of A and line i of B are one pair (blank lines, non-numbers and\n"
            "files of different lengths are errors). The statistic is mean(B - A); p is the share\n"
            "of sign flips of the differences whose mean is at least the observed one.\n\n"
            "  --perms N   sign vectors to draw (default %d, at most %ld). When 2^n <= N all 2^n\n"
            "              are enumerated instead (method=exact, p = count / 2^n); otherwise\n"
            "              method=monte_carlo and p = (count + 1) / (N + 1). Time is about N x n.\n"
            "  --seed S    seed of the Monte Carlo draws, 0..2^64-1 (default 0); a seed always\n"
            "              gives the same p\n\n"
            "Output: p_value, mean_diff (mean of B - A), mean_a, mean_b, n, method, perms (sign\n"
            "vectors evaluated), one key=value a line. Means within 2e-12 x mean(|A|+|B|) of the\n"
            "observed one count as ties, and ties count toward p.\n",
            PERMTEST_DEFAULT_PERMS, PERMTEST_MAX_PERMS);
}

static int parse_seed(const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end != '\0' || s[0] == '-' || s[0] == '+' || s[0] == ' ') {
        fprintf(stderr, "evalctl: --seed: '%s' is not an integer in [0, 2^64-1]\n", s);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

int cmd_permtest(int argc, char **argv) {
    const char *files[2] = {NULL, NULL}, *perms_s = NULL, *seed_s = NULL;
    int nfiles = 0;
    for (int i = 0; i < argc; i++) {
        int r;
        if (cli_is_help(argv[i])) {
            usage(stdout);
            return 0;
        }
        if ((r = cli_opt(argc, argv, &i, "--perms", &perms_s)) != 0 ||
            (r = cli_opt(argc, argv, &i, "--seed", &seed_s)) != 0) {
            if (r < 0) return 2;
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1] != '\0') return cli_unknown("permtest", argv[i]);
        if (nfiles == 2) {
            fprintf(stderr, "evalctl permtest: more than two files (see evalctl permtest --help)\n");
            return 2;
        }
        files[nfiles++] = argv[i];
    }
    if (nfiles != 2) {
        usage(stderr);
        return 2;
    }
    long perms = PERMTEST_DEFAULT_PERMS;
    uint64_t seed = 0;
    if (perms_s && cli_int("--perms", perms_s, 1, PERMTEST_MAX_PERMS, &perms) < 0) return 2;
    if (seed_s && parse_seed(seed_s, &seed) < 0) return 2;

    double *a = NULL, *b = NULL;
    int na = 0, nb = 0, rc = 1;
    if (stats_read_numbers(files[0], &a, &na) < 0 || stats_read_numbers(files[1], &b, &nb) < 0) goto done;
    if (na != nb) {
        /* name the first line that has no partner */
        const char *longer = na > nb ? files[0] : files[1], *shorter = na > nb ? files[1] : files[0];
        int common = na < nb ? na : nb;
        ev_error("%s:%d: no line %d in %s to pair with (%s has %d numbers, %s has %d)", longer, common + 1,
                 common + 1, shorter, files[0], na, files[1], nb);
        goto done;
    }
    stats_perm_result r;
    if (stats_permtest(a, b, na, perms, seed, &r) < 0) goto done;
    printf("p_value=%.10g\n"
           "mean_diff=%.10g\n"
           "mean_a=%.10g\n"
           "mean_b=%.10g\n"
           "n=%d\n"
           "method=%s\n"
           "perms=%lld\n",
           r.p_value, r.mean_diff, r.mean_a, r.mean_b, r.n, r.exact ? "exact" : "monte_carlo", (long long)r.perms);
    ev_xfflush(stdout, "stdout");
    rc = 0;
done:
    free(a);
    free(b);
    return rc;
}
