/* cli.h - the subcommands' entry points and the small option helpers they share.
 *
 * Every cmd_* takes the arguments after its own name and returns the process
 * exit code: 0 success, 1 failure (one error line already printed), 2 usage. */
#ifndef EV_CLI_H
#define EV_CLI_H

#include "attention.h"

int cmd_info(int argc, char **argv);
int cmd_metric(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_ppl(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_gen(int argc, char **argv);
int cmd_permtest(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_tables(int argc, char **argv);
int cmd_serve(int argc, char **argv);
/* `evalctl gen infinitebench ...` (cmd_gen_infbench.c): argv holds the arguments after "infinitebench". */
int cmd_gen_infinitebench(int argc, char **argv);

/* Option scanning: at argv[*i], if the argument is `name`, takes the next
 * argument as its value (printing a usage error when missing) and advances *i.
 * Returns 1 when matched, 0 when not, -1 on a missing value. */
int cli_opt(int argc, char **argv, int *i, const char *name, const char **value);
/* Parses a whole decimal integer in [lo, hi]; prints a usage error naming the
 * option and returns -1 otherwise. */
int cli_int(const char *opt, const char *s, long lo, long hi, long *out);
/* Prints "evalctl CMD: unknown option X (see evalctl CMD --help)" and returns 2. */
int cli_unknown(const char *cmd, const char *arg);
/* 1 when arg is -h or --help. */
int cli_is_help(const char *arg);

/* The attention-variant options every model-running command shares: --variant
 * NAME, the parameters as their own flags (--sink N, --window N, --block N,
 * --tail N, --gamma N, --dense-layers 0,1,2, --decode dense|sparse) or as
 * repeatable --attn KEY=VALUE. cli_variant_arg works like cli_opt;
 * cli_variant_build makes the variant (dense by default), returning 0 or -1
 * after one error line. CLI_VARIANT_HELP is their usage text. */
#define CLI_MAX_ATTN_OPTS 16
typedef struct {
    const char *name;
    int n;
    const char *key[CLI_MAX_ATTN_OPTS]; /* NULL: val is "KEY=VALUE" from --attn */
    const char *val[CLI_MAX_ATTN_OPTS];
} cli_variant_opts;
int cli_variant_arg(int argc, char **argv, int *i, cli_variant_opts *o);
int cli_variant_build(const cli_variant_opts *o, attn_variant *v);
#define CLI_VARIANT_HELP                                                                                 \
    "  --variant V        attention in prefill: dense (default), streaming, block, streaming+delta,\n"   \
    "                     block+delta, streaming+recompute, block+recompute; decode is dense\n"         \
    "  --sink N           streaming: sink tokens (1024)        --window N  streaming window (2048)\n"   \
    "  --block N          block: block size (2048)             --tail N    block: dense last rows (128)\n" \
    "  --gamma N          +delta/+recompute: stride (64)       --decode dense|sparse  (dense)\n"        \
    "  --dense-layers L   comma list of layers kept dense (none)\n"                                      \
    "  --attn KEY=VALUE   any of the above as key=value (dense_layers=0,1,2), repeatable\n"

#endif
