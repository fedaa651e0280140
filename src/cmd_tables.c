/* cmd_tables.c - `evalctl tables DIR... [--out OUTDIR]`: the command-line side
 * of tables.h. */
#include "cli.h"
#include "tables.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char tables_usage[] =
    "usage: evalctl tables RUN_DIR... [--out OUTDIR]\n"
    "\n"
    "Reads each run directory's config.ini, summary.csv and pvalues.csv (evalctl run) and writes\n"
    "paper-style tables into OUTDIR (default results/tables), as CSV and Markdown, with plots of the\n"
    "score against context length as SVG; OUTDIR/tables.md shows them all (README \"Tables\").\n"
    "Runs of one benchmark and model are combined: one column per length, one row per variant.\n"
    "The paths written are printed, one a line.\n"
    "\n"
    "  --out OUTDIR   where the tables go (created when missing)\n";

int cmd_tables(int argc, char **argv) {
    const char *out = "results/tables";
    const char **dirs = xcalloc((size_t)argc + 1, sizeof *dirs);
    int n = 0, rcode = 2;
    tables_set *t = NULL;
    for (int i = 0; i < argc; i++) {
        int r;
        if (cli_is_help(argv[i])) {
            fputs(tables_usage, stdout);
            rcode = 0;
            goto done;
        }
        if ((r = cli_opt(argc, argv, &i, "--out", &out)) != 0) {
            if (r < 0) goto done;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            rcode = cli_unknown("tables", argv[i]);
            goto done;
        } else {
            dirs[n++] = argv[i];
        }
    }
    if (n == 0) {
        fputs(tables_usage, stderr);
        goto done;
    }
    rcode = 1;
    t = tables_new();
    for (int i = 0; i < n; i++)
        if (tables_add_run(t, dirs[i]) < 0) goto done;
    if (tables_write(t, out, stdout) < 0) goto done;
    rcode = 0;
done:
    tables_free(t);
    free(dirs);
    return rcode;
}
