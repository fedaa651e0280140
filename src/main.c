/* main.c - evalctl's entry point: dispatches the subcommand named in argv[1]
 * through one table (git.c style); each cmd_* lives in src/cmd_NAME.c. */
#include "cli.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"info", cmd_info, "describe a model file (GGUF or HF directory), or the CUDA device"},
    {"metric", cmd_metric, "score predictions with a benchmark's official metric"},
    {"tokenize", cmd_tokenize, "text or chat messages to token ids, and back"},
    {"generate", cmd_generate, "greedy generation on the CPU, with any attention variant"},
    {"ppl", cmd_ppl, "perplexity of a text file in windows of N tokens"},
    {"bench", cmd_bench, "CPU speed: tokenizer, prefill, decode, attention variants"},
    {"gen", cmd_gen, "generate benchmark task files (RULER, InfiniteBench synthetic)"},
    {"permtest", cmd_permtest, "paired permutation test that B scores higher than A"},
    {"run", cmd_run, "run a benchmark config: every task x length x variant x sample, resumable"},
    {"merge", cmd_merge, "join the shard files of a run directory and write its tables"},
    {"tables", cmd_tables, "paper-style tables (CSV, Markdown) and SVG plots from run directories"},
    {"serve", cmd_serve, "OpenAI-compatible HTTP server (completions, chat, streaming) with any variant"},
};

static void usage(FILE *f) {
    fprintf(f, "evalctl %s - sparse-attention evaluation harness for long-context LLMs\n\n"
               "usage: evalctl COMMAND [options]    (evalctl COMMAND --help for its options)\n\n"
               "commands:\n", EV_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (cli_is_help(argv[1]) || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("evalctl %s\n", EV_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].fn(argc - 2, argv + 2);
    fprintf(stderr, "evalctl: unknown command '%s' (see evalctl --help)\n", argv[1]);
    return 2;
}
