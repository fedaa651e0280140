/* run.h - `evalctl run`: a benchmark config (INI, ini.h) turned into work
 * items (length x task x variant x sample), run once each (greedy generation
 * scored with the benchmark's official metric: RULER generated or read from
 * prepared files, InfiniteBench; or the perplexity protocol of ppl.h: PG19),
 * appended to a crash-safe predictions file, and summarised into tables.
 * README "Runs" documents the keys, the records and the tables.
 *
 * Work items are numbered in the canonical order
 *     length (config order), task (config order), variant (config order), index
 * item k = ((l * n_tasks + t) * n_variants + v) * samples + index. A shard I/N
 * runs the items with k mod N == I. The tables are always built from the
 * records sorted in this order, so sharded and unsharded runs give the same
 * bytes.
 *
 * Files of a run directory OUTPUT_DIR/NAME (README "Runs" lists the columns):
 *   config.ini                     the effective config (ini_write)
 *   predictions.jsonl              one JSON object a line, appended + fsync'ed
 *   predictions.shard-I-of-N.jsonl the same for a shard, until `evalctl merge`
 *   samples.csv, summary.csv, pvalues.csv, meta.json
 *
 * Errors follow util.h: one line, then -1 / NULL. */
#ifndef EV_RUN_H
#define EV_RUN_H

#include <stdint.h>

#include "attention.h"
#include "ini.h"
#include "ruler.h"

typedef struct {
    char *name;      /* the NAME of [variant.NAME] */
    attn_variant v;
    char desc[256];  /* attn_variant_describe */
} run_variant;

typedef enum { RUN_RULER, RUN_INFBENCH, RUN_PG19 } run_bench;

typedef struct {
    const char *name;         /* static: ruler_task / infb_task_name / "pg19" */
    const ruler_task *ruler;  /* RUN_RULER */
    int infb;                 /* RUN_INFBENCH: an infb_task */
    int group;                /* pvalues.csv group (run.c's group names) */
    long max_new;             /* new tokens at most ([run] max_new_tokens, else the benchmark's own) */
} run_task;

typedef struct {
    ini *ini;                         /* owned: the effective config */
    const char *name, *model, *backend, *chat_template, *output_dir; /* borrowed from ini */
    run_bench bench;
    const char *data_dir;             /* ruler: prepared files (NULL: generate); infinitebench: task files */
    const char *essays, *words, *squad, *hotpotqa; /* ruler generation */
    int infb_tpl;                     /* infinitebench: template set (infb_tpl) */
    int chat;                         /* infinitebench: prompt through the chat template (not official) */
    const char *books;                /* pg19 */
    long max_windows;                 /* pg19: windows per book at most (0: all) */
    long longppl, longppl_slide;      /* pg19: LongPPL's trunc (0: none) and slide (ppl.h) */
    long threads, chunk, max_new;     /* max_new -1: each task's own limit */
    int n_tasks;
    run_task *tasks;                  /* [n_tasks] */
    int n_lengths;
    long *lengths;                    /* [n_lengths] */
    long samples;
    uint64_t seed;
    int n_variants;
    run_variant *variants;            /* [n_variants] */
    char backend_used[160];           /* set by run_execute: backend_describe() of what ran */
} run_config;

/* Parses and checks a config (schema, types, ranges) after applying the
 * "SECTION.KEY=VALUE" overrides. Takes ownership of nothing; *rc is filled
 * (run_config_free it). Returns 0, or -1 after one error line naming
 * FILE:LINE and the key. */
int run_config_load(const char *path, char **sets, int n_sets, run_config *rc);
/* The same from an already parsed ini, which *rc takes over (freed on error too). */
int run_config_from_ini(ini *c, run_config *rc);
void run_config_free(run_config *rc);

/* The run directory, OUTPUT_DIR/NAME (heap). */
char *run_dir(const run_config *rc);

typedef struct {
    int shard_i, shard_n; /* 0/1 when not sharded */
    int force_new;        /* move an existing run directory with another config aside */
} run_opts;

/* Runs the items of this shard that predictions file lacks. Returns 0 (tables
 * written when the run is unsharded and complete), or -1 after one error line. */
int run_execute(run_config *rc, const run_opts *o);

/* `evalctl merge DIR`: reads DIR/config.ini, combines predictions.jsonl and
 * every predictions.shard-*.jsonl into predictions.jsonl (canonical order),
 * refusing duplicates and missing items, removes the shard files and writes
 * the tables. Returns 0 or -1 after one error line. */
int run_merge(const char *dir);

/* SHA-256 of a file, as 64 lowercase hex digits + NUL in hex. 0, or -1 after
 * one error line. */
int run_sha256_file(const char *path, char hex[65]);

#endif
