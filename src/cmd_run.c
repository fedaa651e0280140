/* cmd_run.c - `evalctl run --config FILE` and `evalctl merge DIR`: the
 * command-line side of run.h (options, overrides, exit codes). */
#include "cli.h"
#include "run.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char run_usage[] =
    "usage: evalctl run --config FILE [--set SECTION.KEY=VALUE]... [--shard I/N] [--force-new]\n"
    "\n"
    "Runs every task x length x variant x sample of a benchmark config into OUTPUT_DIR/NAME\n"
    "(predictions.jsonl, samples.csv, summary.csv, pvalues.csv, config.ini, meta.json; README \"Runs\").\n"
    "Re-running the same command resumes where it stopped.\n"
    "\n"
    "  --config FILE      the INI config ([run], [benchmark], [variant.NAME]...)\n"
    "  --set S.K=V        override one key (repeatable); part of the saved config\n"
    "  --shard I/N        run items k with k mod N == I into predictions.shard-I-of-N.jsonl;\n"
    "                     `evalctl merge DIR` joins the shards and writes the tables\n"
    "  --force-new        when the run directory holds another config, move it aside to\n"
    "                     NAME.old-YYYYMMDD-HHMMSS and start over\n";

static const char merge_usage[] =
    "usage: evalctl merge DIR\n"
    "\n"
    "Joins DIR/predictions.jsonl and DIR/predictions.shard-*.jsonl into DIR/predictions.jsonl in the\n"
    "canonical order (refusing duplicate or missing items), removes the shard files and writes\n"
    "summary.csv, pvalues.csv, samples.csv and meta.json.\n";

int cmd_run(int argc, char **argv) {
    const char *cfg = NULL, *v;
    char **sets = xcalloc((size_t)argc + 1, sizeof *sets);
    int n_sets = 0, rcode = 2;
    run_opts o = {0, 1, 0};
    for (int i = 0; i < argc; i++) {
        int r;
        if (cli_is_help(argv[i])) {
            fputs(run_usage, stdout);
            free(sets);
            return 0;
        }
        if ((r = cli_opt(argc, argv, &i, "--config", &cfg)) != 0) {
            if (r < 0) goto out;
        } else if ((r = cli_opt(argc, argv, &i, "--set", &v)) != 0) {
            if (r < 0) goto out;
            sets[n_sets++] = (char *)v;
        } else if ((r = cli_opt(argc, argv, &i, "--shard", &v)) != 0) {
            if (r < 0) goto out;
            int a, b, k = 0;
            if (sscanf(v, "%d/%d%n", &a, &b, &k) != 2 || v[k] || b < 1 || a < 0 || a >= b || b > 1000000) {
                fprintf(stderr, "evalctl run: --shard wants I/N with 0 <= I < N, not '%s'\n", v);
                goto out;
            }
            o.shard_i = a;
            o.shard_n = b;
        } else if (!strcmp(argv[i], "--force-new")) {
            o.force_new = 1;
        } else {
            rcode = cli_unknown("run", argv[i]);
            goto out;
        }
    }
    if (!cfg) {
        fputs(run_usage, stderr);
        goto out;
    }
    run_config rc;
    rcode = 1;
    if (run_config_load(cfg, sets, n_sets, &rc) < 0) goto out;
    rcode = run_execute(&rc, &o) < 0 ? 1 : 0;
    run_config_free(&rc);
out:
    free(sets);
    return rcode;
}

int cmd_merge(int argc, char **argv) {
    if (argc == 1 && cli_is_help(argv[0])) {
        fputs(merge_usage, stdout);
        return 0;
    }
    if (argc != 1 || argv[0][0] == '-') {
        fputs(merge_usage, stderr);
        return 2;
    }
    return run_merge(argv[0]) < 0 ? 1 : 0;
}
