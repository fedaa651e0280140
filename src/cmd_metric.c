/* cmd_metric.c - `evalctl metric`: scores a JSONL file of predictions with a
 * benchmark's official metric (metric.h), one score per record on stdout,
 * printed as Python prints it. Scores are held until the whole file is read,
 * so a bad record leaves stdout empty and stderr with one line. */
#include "cli.h"
#include "metric.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: evalctl metric --name NAME --in FILE.jsonl\n\n"
            "Scores each record of FILE.jsonl (one JSON object a line; blank lines are skipped)\n"
            "and prints one score a line, as the official Python code computes and prints it.\n\n"
            "  --name NAME   RULER: string_match_all | string_match_part (records carry \"pred\" and\n"
            "                \"outputs\"; 0-100 scale). InfiniteBench: passkey | number_string |\n"
            "                kv_retrieval | longbook_sum_eng | longbook_choice_eng | longbook_qa_eng |\n"
            "                longbook_qa_chn | longdialogue_qa_eng | math_find | math_calc | code_run |\n"
            "                code_debug (records carry \"pred\", \"answer\" and, for the multiple-choice\n"
            "                tasks, \"options\", as in the task's data file; 0-1 scale)\n"
            "  --in FILE     the JSONL file (.gz is read too)\n");
}

int cmd_metric(int argc, char **argv) {
    const char *name = NULL, *in = NULL;
    for (int i = 0; i < argc; i++) {
        int r;
        if (cli_is_help(argv[i])) {
            usage(stdout);
            return 0;
        }
        if ((r = cli_opt(argc, argv, &i, "--name", &name)) != 0 || (r = cli_opt(argc, argv, &i, "--in", &in)) != 0) {
            if (r < 0) return 2;
            continue;
        }
        return cli_unknown("metric", argv[i]);
    }
    if (!name || !in) {
        usage(stderr);
        return 2;
    }
    if (metric_kind(name) == METRIC_UNKNOWN) {
        ev_error("metric: unknown metric or task '%s' (known: %s)", name, metric_names());
        return 1;
    }
    size_t len;
    char *text = ev_read_file(in, &len);
    if (!text) return 1;

    char *out = NULL;
    size_t out_len = 0, out_cap = 0;
    int rc = 0;
    size_t lineno = 0;
    for (size_t pos = 0; pos < len && rc == 0;) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - line) : len - pos;
        pos += ll + (nl ? 1 : 0);
        lineno++;
        size_t k = 0;
        while (k < ll && strchr(" \t\r\f\v", line[k])) k++;
        if (k == ll) continue;

        char where[4200];
        snprintf(where, sizeof where, "%s:%zu", in, lineno);
        json_error_t err;
        json_t *rec = json_loadb(line, ll, JSON_ALLOW_NUL, &err);
        if (!rec) {
            rc = ev_error("%s: invalid JSON: %s (at column %d)", where, err.text, err.column);
            break;
        }
        double score;
        int r = metric_record(name, rec, &score, where);
        json_decref(rec);
        if (r == METRIC_RAISES) {
            rc = ev_error("%s: no score: the official %s scorer raises %s", where, name, metric_raise_reason(name));
            break;
        }
        if (r != 0) {
            rc = -1;
            break;
        }
        char buf[32];
        metric_format(score, buf);
        size_t bl = strlen(buf);
        if (out_len + bl + 2 > out_cap) {
            out_cap = out_cap ? out_cap * 2 : 4096;
            while (out_len + bl + 2 > out_cap) out_cap *= 2;
            out = xrealloc(out, out_cap);
        }
        memcpy(out + out_len, buf, bl);
        out[out_len + bl] = '\n';
        out_len += bl + 1;
    }
    free(text);
    if (rc == 0 && out_len) {
        ev_xfwrite(out, out_len, stdout, "stdout");
        ev_xfflush(stdout, "stdout");
    }
    free(out);
    return rc == 0 ? 0 : 1;
}
