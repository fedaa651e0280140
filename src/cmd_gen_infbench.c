/* cmd_gen_infbench.c - `evalctl gen infinitebench`: InfiniteBench's three
 * synthetic retrieval tasks (passkey, number_string, kv_retrieval) made
 * locally at any length, in the official file format (infbench.h says how
 * they follow construct_synthetic_dataset.py). Each DIR/TASK.jsonl appears
 * only when complete (written under a temporary name, then renamed). */
#include "cli.h"
#include "infbench.h"
#include "tokenizer.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char usage[] =
    "usage: evalctl gen infinitebench --length L --out DIR [options]\n"
    "\n"
    "Writes DIR/TASK.jsonl for each task, one record a line as the official files hold them:\n"
    "{\"id\", \"context\", \"input\", \"answer\": \"...\", \"options\": []}.\n"
    "\n"
    "  --tasks LIST      comma-separated: passkey, number_string, kv_retrieval (default: all three)\n"
    "  --length L        the prompt's length: tokens of --model's tokenizer (with its BOS/EOS), else\n"
    "                    characters; a k suffix multiplies by 1024 (128k = 131072). Each record has\n"
    "                    as many noise lines (or key-value pairs) as fit L\n"
    "  --samples N       records per task (default 10); needle depths (passkey, number_string) and\n"
    "                    the asked pair (kv_retrieval) are spread evenly over them\n"
    "  --seed S          random seed (default 0); the same seed gives the same files\n"
    "  --out DIR         output directory (made if missing)\n"
    "  --model PATH      a .gguf file, Hugging Face directory or tokenizer.json whose tokenizer\n"
    "                    measures L\n"
    "  --template SET    the template set the prompt is measured in: open (yarn-mistral's, which\n"
    "                    evalctl uses for every model; default), gpt4, claude2, kimi\n";

/* A decimal count with an optional k (x1024) suffix. */
static int parse_length(const char *s, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end != s && (*end == 'k' || *end == 'K') && end[1] == '\0') {
        if (v > 1000000000L / 1024) v = -1;
        else v *= 1024;
        end++;
    }
    if (errno || end == s || *end != '\0' || v < 1 || v > 1000000000L) {
        fprintf(stderr, "evalctl: --length: '%s' is not a positive length (digits, optionally ending in k)\n", s);
        return -1;
    }
    *out = v;
    return 0;
}

/* mkdir -p; 0 or -1 after one error line. */
static int make_dirs(const char *dir) {
    char *p = xstrdup(dir);
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0') continue;
        char c = *s;
        *s = '\0';
        if (!ev_is_dir(p) && mkdir(p, 0777) != 0 && errno != EEXIST) {
            rc = ev_error("%s: cannot create the directory: %s", p, strerror(errno));
            break;
        }
        *s = c;
        if (!c) break;
    }
    free(p);
    if (rc == 0 && !ev_is_dir(dir)) rc = ev_error("%s: not a directory", dir);
    return rc;
}

int cmd_gen_infinitebench(int argc, char **argv) {
    const char *tasks_s = "passkey,number_string,kv_retrieval", *len_s = NULL, *out = NULL, *model = NULL,
               *tpl_s = NULL, *v;
    long samples = 10, seed = 0, length = 0;
    for (int i = 0; i < argc; i++) {
        int r;
        if (cli_is_help(argv[i])) {
            fputs(usage, stdout);
            return 0;
        }
        if ((r = cli_opt(argc, argv, &i, "--tasks", &tasks_s)) != 0 ||
            (r = cli_opt(argc, argv, &i, "--length", &len_s)) != 0 ||
            (r = cli_opt(argc, argv, &i, "--out", &out)) != 0 || (r = cli_opt(argc, argv, &i, "--model", &model)) != 0 ||
            (r = cli_opt(argc, argv, &i, "--template", &tpl_s)) != 0) {
            if (r < 0) return 2;
        } else if ((r = cli_opt(argc, argv, &i, "--samples", &v)) != 0) {
            if (r < 0 || cli_int("--samples", v, 1, 1000000, &samples) < 0) return 2;
        } else if ((r = cli_opt(argc, argv, &i, "--seed", &v)) != 0) {
            if (r < 0 || cli_int("--seed", v, 0, 0x7fffffffffffffffL, &seed) < 0) return 2;
        } else {
            return cli_unknown("gen infinitebench", argv[i]);
        }
    }
    if (!len_s || !out) {
        fputs(usage, stderr);
        return 2;
    }
    if (parse_length(len_s, &length) < 0) return 2;
    infb_tpl tpl = infb_template_default();
    if (tpl_s) {
        int t = infb_template_from_name(tpl_s);
        if (t < 0) {
            ev_error("gen infinitebench: unknown template set '%s' (known: open, gpt4, claude2, kimi)", tpl_s);
            return 1;
        }
        tpl = (infb_tpl)t;
    }

    /* the task list, checked whole before anything is made */
    infb_task tasks[INFB_N_TASKS];
    int nt = 0;
    char *list = xstrdup(tasks_s);
    int rc = 1;
    tok_tokenizer *tok = NULL;
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int k = infb_task_from_name(t);
        if (k < 0) {
            ev_error("gen infinitebench: unknown task '%s' (synthetic tasks: passkey, number_string, kv_retrieval)", t);
            goto done;
        }
        if (!infb_task_is_synthetic((infb_task)k)) {
            ev_error("gen infinitebench: %s is read from the official data, not generated (synthetic tasks: passkey, "
                     "number_string, kv_retrieval)", t);
            goto done;
        }
        for (int j = 0; j < nt; j++)
            if (tasks[j] == (infb_task)k) {
                ev_error("gen infinitebench: task '%s' is listed twice", t);
                goto done;
            }
        tasks[nt++] = (infb_task)k;
    }
    if (nt == 0) {
        ev_error("gen infinitebench: --tasks names no task");
        goto done;
    }
    if (model && !(tok = tok_open_path(model))) goto done;
    if (make_dirs(out) != 0) goto done;
    for (int j = 0; j < nt; j++) {
        infb_gen_opts o = {.task = tasks[j], .length = length, .samples = (size_t)samples, .seed = (uint64_t)seed,
                           .tok = tok, .tpl = tpl};
        infb_gen_stats st;
        json_t *recs = infb_generate(&o, &st);
        if (!recs) goto done;
        char name[64];
        snprintf(name, sizeof name, "%s.jsonl", infb_task_name(tasks[j]));
        char *path = ev_path_join(out, name);
        int w = infb_write_jsonl(path, recs);
        json_decref(recs);
        if (w == 0)
            printf("%s: %ld samples, %zu-%zu %s, prompts of %zu-%zu %s\n", path, samples, st.n_min, st.n_max,
                   tasks[j] == INFB_KV_RETRIEVAL ? "key-value pairs" : "noise lines", st.len_min, st.len_max,
                   tok ? "tokens" : "characters");
        free(path);
        if (w != 0) goto done;
    }
    ev_xfflush(stdout, "stdout");
    rc = 0;
done:
    tok_free(tok);
    free(list);
    return rc;
}
