/* tables.h - `evalctl tables`: the paper-style tables and plots of a set of
 * run directories (run.h), as CSV, Markdown and SVG.
 *
 * Each run directory gives its config.ini ([benchmark] name, [run] model, the
 * [variant.NAME] sections), its summary.csv (columns found by name: length,
 * task, variant, mean required; n, ci_lo, ci_hi used when there) and, when
 * present, its pvalues.csv (length, group, variant, base, p_value required).
 * Runs of one benchmark and one model form a group, whatever their lengths,
 * so that ruler4k.ini ... ruler131k.ini make one table. Within a group a
 * variant is its NAME and its parameters (variant=... first, the other keys
 * sorted): the same NAME with other parameters is another row, labelled
 * "NAME [parameters]". A cell (length, task, variant) given by two runs is an
 * error naming both.
 *
 * Files written for a group G = BENCHMARK_MODEL (model: the file or directory
 * name, .gguf dropped), every number copied from the runs' files, none
 * recomputed (Markdown rounds to 2 decimals, p-values to 3 digits):
 *   G-by-length.csv/.md   rows variants, columns lengths: the "average" rows of
 *                         summary.csv (RULER's average accuracy, the paper's
 *                         Table 1), or the one task's rows when the runs have
 *                         one task and no averages (PG19 perplexity)
 *   G-by-length.svg       the same as lines against context length (log axis),
 *                         95% intervals as error bars; a lone length gives points
 *   G-tasks-L.csv/.md     per length L, rows variants, columns tasks (then the
 *                         average), those with a value at L: the rebuttal's
 *                         per-task tables, InfiniteBench per task
 *   G-pvalues.csv/.md     every pvalues.csv row; in Markdown one row per
 *                         variant, base and group, columns lengths
 *   G-summary.csv         every summary.csv row with its run and the variant's
 *                         parameters (run,length,task,variant,variant_params,n,
 *                         mean,ci_lo,ci_hi)
 *   tables.md             all Markdown tables with headings and the plots
 * CSV files are RFC 4180 with CRLF (csv.h), UTF-8, '.' as decimal point.
 *
 * Errors follow util.h: one line "FILE:LINE: problem", then -1 / NULL. */
#ifndef EV_TABLES_H
#define EV_TABLES_H

#include <stddef.h>
#include <stdio.h>

typedef struct tables_set tables_set;

tables_set *tables_new(void);
void tables_free(tables_set *t);

/* Reads one run directory into the set. 0, or -1 after one error line (the
 * set keeps the runs read before). */
int tables_add_run(tables_set *t, const char *dir);

/* Writes every file into outdir (created with its parents when missing). The
 * path of each file written goes to list, one a line, when list is not NULL.
 * 0, or -1 after one error line. */
int tables_write(const tables_set *t, const char *outdir, FILE *list);

/* A context length as the tables print it: "4K" when a multiple of 1024, else
 * the number. */
void tables_length_label(long length, char *buf, size_t n);

#endif
