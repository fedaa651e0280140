/* cmd_gen.c - `evalctl gen BENCHMARK`: writes a benchmark's task files. One
 * table entry per benchmark; each lives in its own static function. */
#include "chat.h"
#include "cli.h"
#include "ruler.h"
#include "tokenizer.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ================================================================ gen ruler */

static const char ruler_usage[] =
    "usage: evalctl gen ruler --model PATH --length L --out DIR [--samples N] [--seed S] [--tasks LIST]\n"
    "                         [--essays FILE] [--words DIR] [--squad FILE] [--hotpotqa FILE]\n"
    "                         [--chat-template NAME|FILE]\n"
    "\n"
    "Writes DIR/TASK.jsonl for RULER's synthetic tasks the way NVIDIA/RULER's prepare.py does, fitted to\n"
    "L tokens of the model's tokenizer through its chat template (fields: index, input, outputs, length,\n"
    "length_w_model_temp, answer_prefix, and token_position_answer for niah_*).\n"
    "\n"
    "  --model PATH     a .gguf file, an HF directory or a tokenizer.json: its tokenizer and chat template\n"
    "  --length L       max_seq_length: prompt + answer prefix + tokens_to_generate\n"
    "  --out DIR        output directory (made if missing); each file appears whole or not at all\n"
    "  --samples N      samples per task (default 500, as RULER's run.sh)\n"
    "  --seed S         random seed (default 42); same seed, same files\n"
    "  --tasks LIST     comma-separated (default all): niah_single_1 niah_single_2 niah_single_3\n"
    "                   niah_multikey_1 niah_multikey_2 niah_multikey_3 niah_multivalue niah_multiquery\n"
    "                   vt cwe fwe qa_1 qa_2\n"
    "  --essays FILE    haystack text for the essay tasks (default data/texts/kjv.txt)\n"
    "  --words DIR      word lists (default data/words, written by tools/fetch-words.sh)\n"
    "  --squad FILE     SQuAD v2.0 dev JSON for qa_1; without it qa_1 is skipped\n"
    "  --hotpotqa FILE  HotpotQA dev distractor JSON for qa_2; without it qa_2 is skipped\n"
    "  --chat-template  a built-in (chatml, llama3, mistral, none = RULER's base template) or a .jinja file\n";

typedef struct {
    const char *model, *out, *tasks, *essays, *words, *squad, *hotpotqa, *chat_template;
    long length, samples, seed;
} ruler_opts;

/* The temporary file being written, removed if the process ends early (a
 * write error exits from ev_xfwrite). */
static char *pending_tmp;
static void remove_pending(void) {
    if (pending_tmp) unlink(pending_tmp);
}

/* mkdir -p */
static int make_dir(const char *dir) {
    char *p = xstrdup(dir);
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0') continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0777) < 0 && errno != EEXIST) {
            ev_error("%s: cannot make directory: %s", p, strerror(errno));
            free(p);
            return -1;
        }
        *s = c;
        if (!c) break;
    }
    free(p);
    if (!ev_is_dir(dir)) return ev_error("%s: not a directory", dir);
    return 0;
}

/* Parses LIST into sel[] (task indices, in table order). -1 after a usage line. */
static int parse_tasks(const char *list, int *sel) {
    memset(sel, 0, RULER_N_TASKS * sizeof *sel);
    if (!list || strcmp(list, "all") == 0) {
        for (int i = 0; i < RULER_N_TASKS; i++) sel[i] = 1;
        return 0;
    }
    char *copy = xstrdup(list);
    int any = 0;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        char *e = tok + strlen(tok);
        while (e > tok && e[-1] == ' ') *--e = '\0';
        if (!*tok) continue;
        const ruler_task *t = ruler_task_find(tok);
        if (!t) {
            fprintf(stderr, "evalctl gen ruler: unknown task '%s' (known: niah_single_1..3, niah_multikey_1..3, "
                            "niah_multivalue, niah_multiquery, vt, cwe, fwe, qa_1, qa_2)\n", tok);
            free(copy);
            return -1;
        }
        sel[t - ruler_tasks] = 1;
        any = 1;
    }
    free(copy);
    if (!any) {
        fprintf(stderr, "evalctl gen ruler: --tasks names no task\n");
        return -1;
    }
    return 0;
}

static chat_template *ruler_template(const tok_tokenizer *t, const ruler_opts *o) {
    if (o->chat_template || ev_is_dir(o->model)) return chat_template_for_path(o->model, o->chat_template);
    const char *src = tok_chat_template(t);
    if (!src) {
        ev_error("%s: no chat template found; pick one with --chat-template chatml|llama3|mistral|none", o->model);
        return NULL;
    }
    return chat_template_from_string(src, o->model);
}

/* Writes the records to DIR/NAME.jsonl through a temporary file renamed into
 * place when complete. */
static int write_task(const char *dir, const char *name, const ruler_record *r, size_t n, char **final_path) {
    char file[64];
    snprintf(file, sizeof file, "%s.jsonl", name);
    char *path = ev_path_join(dir, file);
    snprintf(file, sizeof file, ".%s.jsonl.XXXXXX", name);
    char *tmp = ev_path_join(dir, file);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        ev_error("%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        free(path);
        return -1;
    }
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    pending_tmp = tmp;
    FILE *f = fdopen(fd, "w");
    if (!f) ev_fatal("%s: fdopen: %s", tmp, strerror(errno));
    ruler_write_jsonl(f, tmp, r, n);
    ev_xfflush(f, tmp);
    if (fclose(f) != 0) ev_fatal("%s: write error: %s", tmp, strerror(errno));
    if (rename(tmp, path) < 0) {
        ev_error("%s: cannot rename to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        pending_tmp = NULL;
        free(tmp);
        free(path);
        return -1;
    }
    pending_tmp = NULL;
    free(tmp);
    *final_path = path;
    return 0;
}

static int ruler_run(const ruler_opts *o, const int *sel) {
    int rc = 1;
    tok_tokenizer *tok = NULL;
    chat_template *tmpl = NULL;
    ruler_words *words = NULL;
    ruler_essay *essay = NULL;
    ruler_qa *squad = NULL, *hotpot = NULL;
    int need_words = 0, need_essay = 0;
    for (int i = 0; i < RULER_N_TASKS; i++) {
        if (!sel[i]) continue;
        need_words |= ruler_task_needs_words(&ruler_tasks[i]);
        need_essay |= ruler_task_needs_essay(&ruler_tasks[i]);
    }
    if (!(tok = tok_open_path(o->model)) || !(tmpl = ruler_template(tok, o))) goto done;
    if (need_words && !(words = ruler_words_load(o->words))) goto done;
    if (need_essay && !(essay = ruler_essay_load(o->essays))) goto done;
    for (int i = 0; i < RULER_N_TASKS; i++) {
        const ruler_task *t = &ruler_tasks[i];
        if (!sel[i] || t->kind != RULER_QA) continue;
        if (t->dataset == RULER_SQUAD && !(squad = ruler_qa_load(o->squad, RULER_SQUAD))) goto done;
        if (t->dataset == RULER_HOTPOTQA && !(hotpot = ruler_qa_load(o->hotpotqa, RULER_HOTPOTQA))) goto done;
    }
    ruler_config c = {.tok = tok, .tmpl = tmpl, .bos = tok_bos_str(tok), .eos = tok_eos_str(tok), .words = words,
                      .essay = essay, .squad = squad, .hotpotqa = hotpot, .max_seq_length = o->length,
                      .seed = (uint64_t)o->seed};
    /* every check first, so that bad input writes nothing */
    for (int i = 0; i < RULER_N_TASKS; i++) {
        long min;
        if (!sel[i]) continue;
        const ruler_qa *qa = ruler_tasks[i].dataset == RULER_SQUAD ? squad : hotpot;
        if (ruler_tasks[i].kind == RULER_QA && ruler_qa_n_questions(qa) < (size_t)o->samples) {
            ev_error("%s: %s has %zu answerable questions, fewer than the %ld samples asked for", ruler_tasks[i].name,
                     ruler_tasks[i].dataset == RULER_SQUAD ? o->squad : o->hotpotqa, ruler_qa_n_questions(qa),
                     o->samples);
            goto done;
        }
        if (ruler_min_length(&c, &ruler_tasks[i], &min) < 0) goto done;
        if (o->length < min) {
            ev_error("gen ruler: --length %ld is too short for %s: it needs at least %ld tokens", o->length,
                     ruler_tasks[i].name, min);
            goto done;
        }
    }
    if (make_dir(o->out) < 0) goto done;
    for (int i = 0; i < RULER_N_TASKS; i++) {
        if (!sel[i]) continue;
        const ruler_task *t = &ruler_tasks[i];
        ruler_record *recs;
        ruler_stats st;
        double t0 = ev_now();
        if (ruler_generate(&c, t, (size_t)o->samples, &recs, &st) < 0) goto done;
        char *path;
        int wr = write_task(o->out, t->name, recs, (size_t)o->samples, &path);
        ruler_records_free(recs, (size_t)o->samples);
        if (wr < 0) goto done;
        printf("%s: %ld samples, length %ld..%ld of %ld, haystack %ld %s (%.1f s)\n", path, o->samples,
               st.min_length, st.max_length, o->length, st.haystack, st.unit, ev_now() - t0);
        fflush(stdout);
        free(path);
    }
    rc = 0;
done:
    ruler_qa_free(squad);
    ruler_qa_free(hotpot);
    ruler_essay_free(essay);
    ruler_words_free(words);
    chat_template_free(tmpl);
    tok_free(tok);
    return rc;
}

static int gen_ruler(int argc, char **argv) {
    ruler_opts o = {.essays = "data/texts/kjv.txt", .words = "data/words", .samples = 500, .seed = 42};
    const char *length = NULL, *samples = NULL, *seed = NULL;
    for (int i = 0; i < argc; i++) {
        int r;
        if (cli_is_help(argv[i])) {
            fputs(ruler_usage, stdout);
            return 0;
        }
        if ((r = cli_opt(argc, argv, &i, "--model", &o.model)) != 0 ||
            (r = cli_opt(argc, argv, &i, "--out", &o.out)) != 0 ||
            (r = cli_opt(argc, argv, &i, "--length", &length)) != 0 ||
            (r = cli_opt(argc, argv, &i, "--samples", &samples)) != 0 ||
            (r = cli_opt(argc, argv, &i, "--seed", &seed)) != 0 ||
            (r = cli_opt(argc, argv, &i, "--tasks", &o.tasks)) != 0 ||
            (r = cli_opt(argc, argv, &i, "--essays", &o.essays)) != 0 ||
            (r = cli_opt(argc, argv, &i, "--words", &o.words)) != 0 ||
            (r = cli_opt(argc, argv, &i, "--squad", &o.squad)) != 0 ||
            (r = cli_opt(argc, argv, &i, "--hotpotqa", &o.hotpotqa)) != 0 ||
            (r = cli_opt(argc, argv, &i, "--chat-template", &o.chat_template)) != 0) {
            if (r < 0) return 2;
            continue;
        }
        return cli_unknown("gen ruler", argv[i]);
    }
    static const char *const required[] = {"--model", "--length", "--out"};
    const char *given[] = {o.model, length, o.out};
    for (int i = 0; i < 3; i++)
        if (!given[i]) {
            fprintf(stderr, "evalctl gen ruler: %s is required (see evalctl gen ruler --help)\n", required[i]);
            return 2;
        }
    if (cli_int("--length", length, 64, 16L << 20, &o.length) < 0 ||
        (samples && cli_int("--samples", samples, 1, 1L << 24, &o.samples) < 0) ||
        (seed && cli_int("--seed", seed, 0, 0x7fffffffffffffffL, &o.seed) < 0))
        return 2;
    int sel[RULER_N_TASKS];
    if (parse_tasks(o.tasks, sel) < 0) return 2;
    /* QA tasks without their data file are skipped, with one line saying so
     * once the others are written */
    static const struct {
        const char *task, *opt;
    } qa[] = {{"qa_1", "--squad FILE: SQuAD v2.0 dev JSON"}, {"qa_2", "--hotpotqa FILE: HotpotQA dev distractor JSON"}};
    const char *qa_file[] = {o.squad, o.hotpotqa};
    char skipped[256] = "";
    for (int q = 0; q < 2; q++) {
        int i = (int)(ruler_task_find(qa[q].task) - ruler_tasks);
        if (!sel[i] || qa_file[q]) continue;
        sel[i] = 0;
        size_t l = strlen(skipped);
        snprintf(skipped + l, sizeof skipped - l, "%s%s (no %s)", l ? ", " : "", qa[q].task, qa[q].opt);
    }
    int n_left = 0;
    for (int i = 0; i < RULER_N_TASKS; i++) n_left += sel[i];
    if (n_left == 0) {
        ev_error("gen ruler: nothing to do: %s", skipped);
        return 1;
    }
    atexit(remove_pending);
    int rc = ruler_run(&o, sel);
    if (rc == 0 && skipped[0]) fprintf(stderr, "evalctl gen ruler: skipping %s\n", skipped);
    return rc;
}

/* ================================================================ dispatch */

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} generators[] = {
    {"ruler", gen_ruler, "RULER's 13 synthetic tasks (NVIDIA/RULER scripts/synthetic.yaml)"},
    {"infinitebench", cmd_gen_infinitebench, "InfiniteBench's synthetic retrieval tasks (passkey, number_string, kv_retrieval)"},
};

static void gen_usage(FILE *f) {
    fprintf(f, "usage: evalctl gen BENCHMARK [options]    (evalctl gen BENCHMARK --help for its options)\n\n");
    for (size_t i = 0; i < sizeof generators / sizeof generators[0]; i++)
        fprintf(f, "  %-14s %s\n", generators[i].name, generators[i].summary);
}

int cmd_gen(int argc, char **argv) {
    if (argc < 1) {
        gen_usage(stderr);
        return 2;
    }
    if (cli_is_help(argv[0])) {
        gen_usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof generators / sizeof generators[0]; i++)
        if (strcmp(argv[0], generators[i].name) == 0) return generators[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "evalctl gen: unknown benchmark '%s' (see evalctl gen --help)\n", argv[0]);
    return 2;
}
