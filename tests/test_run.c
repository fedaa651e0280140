/* test_run.c - run configs (run.h) without a model: the shipped configs parse
 * into the paper's settings, every benchmark's keys are read, and keys of
 * another benchmark, unknown task names and bad values give one error line
 * naming FILE:LINE and the key. The runs themselves are in test_run_cli.sh
 * and test_run_bench.sh. */
#include "infbench.h"
#include "run.h"
#include "test.h"
#include "util.h"

static int find_task(const run_config *rc, const char *name) {
    for (int i = 0; i < rc->n_tasks; i++)
        if (!strcmp(rc->tasks[i].name, name)) return i;
    return -1;
}

static const run_variant *find_variant(const run_config *rc, const char *name) {
    for (int i = 0; i < rc->n_variants; i++)
        if (!strcmp(rc->variants[i].name, name)) return &rc->variants[i];
    return NULL;
}

/* The variants the paper runs Llama-3.1-8B-Instruct with, written out in the
 * file (not left to the defaults, which happen to be the same). */
static void check_paper_variants(const run_config *rc, const char *file) {
    static const char *const names[] = {"dense", "streaming", "streaming_delta", "streaming_recompute", "block",
                                        "block_delta"};
    CHECK_EQ_INT(rc->n_variants, 6);
    for (int i = 0; i < 6; i++) {
        const run_variant *v = find_variant(rc, names[i]);
        CHECK(v != NULL, "%s: no [variant.%s]", file, names[i]);
        if (!v || i < 4) continue;
        /* the block mask of configs/ruler*.ini: 2048, the last 128 rows dense */
        char sec[64];
        snprintf(sec, sizeof sec, "variant.%s", names[i]);
        const char *blk = ini_get(rc->ini, sec, "block"), *tail = ini_get(rc->ini, sec, "tail");
        CHECK(blk && !strcmp(blk, "2048") && tail && !strcmp(tail, "128"), "%s [%s] block, tail", file, sec);
        CHECK_EQ_INT(v->v.base, ATTN_BLOCK);
        CHECK_EQ_INT(v->v.fix, i == 5 ? ATTN_FIX_DELTA : ATTN_FIX_NONE);
        if (i == 5) CHECK_EQ_INT(v->v.gamma, 64);
    }
    for (int i = 0; i < 4; i++) {
        const run_variant *v = find_variant(rc, names[i]);
        CHECK(v != NULL, "%s: no [variant.%s]", file, names[i]);
        if (!v || i == 0) continue;
        char sec[64];
        snprintf(sec, sizeof sec, "variant.%s", names[i]);
        const char *sink = ini_get(rc->ini, sec, "sink"), *win = ini_get(rc->ini, sec, "window");
        CHECK(sink && !strcmp(sink, "1024"), "%s [%s] sink", file, sec);
        CHECK(win && !strcmp(win, "2048"), "%s [%s] window", file, sec);
        CHECK_EQ_INT(v->v.sink, 1024);
        CHECK_EQ_INT(v->v.window, 2048);
        CHECK_EQ_INT(v->v.base, ATTN_STREAMING);
        if (i >= 2) {
            const char *g = ini_get(rc->ini, sec, "gamma");
            CHECK(g && !strcmp(g, "64"), "%s [%s] gamma", file, sec);
            CHECK_EQ_INT(v->v.gamma, 64);
            CHECK_EQ_INT(v->v.fix, i == 2 ? ATTN_FIX_DELTA : ATTN_FIX_RECOMPUTE);
        }
    }
}

static void test_shipped(void) {
    run_config rc;
    CHECK(run_config_load("configs/infinitebench.ini", NULL, 0, &rc) == 0, "infinitebench.ini does not parse");
    CHECK_EQ_INT(rc.bench, RUN_INFBENCH);
    CHECK_EQ_STR(rc.model, "models/llama-3.1-8b-instruct");
    CHECK_EQ_STR(rc.backend, "auto");
    CHECK_EQ_STR(rc.data_dir, "data/infinitebench");
    CHECK_EQ_INT(rc.n_lengths, 1);
    CHECK_EQ_INT(rc.lengths[0], 131072);
    CHECK_EQ_INT(rc.infb_tpl, INFB_TPL_OPEN);
    CHECK_EQ_INT(rc.chat, 0);
    CHECK_EQ_INT(rc.n_tasks, 10);
    CHECK(find_task(&rc, "code_run") < 0 && find_task(&rc, "math_calc") < 0, "code_run / math_calc listed");
    int pk = find_task(&rc, "passkey"), sum = find_task(&rc, "longbook_sum_eng"), mc = find_task(&rc, "longbook_choice_eng");
    CHECK(pk >= 0 && sum >= 0 && mc >= 0, "tasks missing");
    if (pk >= 0 && sum >= 0 && mc >= 0) {
        /* the official DATA_NAME_TO_MAX_NEW_TOKENS; tests/fixtures/infbench/tables.json */
        CHECK_EQ_INT(rc.tasks[pk].max_new, 6);
        CHECK_EQ_INT(rc.tasks[sum].max_new, 1200);
        CHECK_EQ_INT(rc.tasks[mc].max_new, 40);
        CHECK_EQ_INT(rc.tasks[pk].group, 0);
        CHECK_EQ_INT(rc.tasks[mc].group, 1);
    }
    check_paper_variants(&rc, "infinitebench.ini");
    run_config_free(&rc);

    CHECK(run_config_load("configs/pg19.ini", NULL, 0, &rc) == 0, "pg19.ini does not parse");
    CHECK_EQ_INT(rc.bench, RUN_PG19);
    CHECK_EQ_STR(rc.books, "data/pg19/test");
    CHECK_EQ_INT(rc.n_tasks, 1);
    CHECK_EQ_STR(rc.tasks[0].name, "pg19");
    CHECK_EQ_INT(rc.n_lengths, 6);
    CHECK_EQ_INT(rc.lengths[0], 4096);
    CHECK_EQ_INT(rc.lengths[5], 131072);
    CHECK_EQ_INT(rc.samples, 100);
    CHECK_EQ_INT(rc.max_windows, 0);
    CHECK_EQ_INT(rc.longppl, 2048);
    CHECK_EQ_INT(rc.longppl_slide, 0); /* ppl_key_official: 2048 / 4 */
    check_paper_variants(&rc, "pg19.ini");
    run_config_free(&rc);

    CHECK(run_config_load("configs/quickstart.ini", NULL, 0, &rc) == 0, "quickstart.ini does not parse");
    CHECK_EQ_INT(rc.bench, RUN_RULER);
    CHECK(rc.data_dir == NULL, "quickstart generates its samples");
    CHECK_EQ_INT(rc.tasks[0].max_new, 128); /* niah's tokens_to_generate */
    run_config_free(&rc);
}

/* Overrides on a minimal config; want NULL: it loads, else the one error line
 * must contain want. */
static void expect(const char *what, const char *base, char **sets, int n, const char *want) {
    char path[] = "/tmp/evalctl-test-run-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) abort();
    if (write(fd, base, strlen(base)) != (ssize_t)strlen(base)) abort();
    close(fd);
    run_config rc;
    test_capture_begin();
    int r = run_config_load(path, sets, n, &rc);
    char *err = test_capture_end();
    if (!want) {
        CHECK(r == 0, "%s: %s", what, err);
        if (r == 0) run_config_free(&rc);
    } else {
        CHECK(r < 0, "%s: loaded", what);
        CHECK(test_count_lines(err) == 1 && strstr(err, want), "%s: got '%s', want '%s'", what, err, want);
    }
    free(err);
    unlink(path);
}

static const char ruler_ini[] = "[run]\nname = t\nmodel = m.gguf\n"
                                "[benchmark]\nname = ruler\ntasks = fwe\nlengths = 256\nsamples = 2\n"
                                "[variant.d]\nvariant = dense\n";
static const char infb_ini[] = "[run]\nname = t\nmodel = m.gguf\nmax_new_tokens = 3\n"
                               "[benchmark]\nname = infinitebench\ndata_dir = d\ntasks = passkey, code_debug\n"
                               "lengths = 64, 128\nsamples = 2\n[variant.d]\nvariant = dense\n";
static const char pg19_ini[] = "[run]\nname = t\nmodel = m.gguf\n"
                               "[benchmark]\nname = pg19\nbooks = b.jsonl\nlengths = 32\nsamples = 2\n"
                               "[variant.d]\nvariant = dense\n";

static void test_keys(void) {
    run_config rc;
    /* what each benchmark reads */
    char *s1[] = {"benchmark.template=kimi", "benchmark.chat=yes"};
    expect("infinitebench keys", infb_ini, s1, 2, NULL);
    char path[] = "/tmp/evalctl-test-run-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, infb_ini, strlen(infb_ini)) != (ssize_t)strlen(infb_ini)) abort();
    close(fd);
    if (run_config_load(path, s1, 2, &rc) == 0) {
        CHECK_EQ_INT(rc.infb_tpl, INFB_TPL_KIMI);
        CHECK_EQ_INT(rc.chat, 1);
        CHECK_EQ_INT(rc.tasks[0].max_new, 3); /* [run] max_new_tokens replaces the official limit */
        CHECK_EQ_INT(rc.tasks[1].group, 1);
        CHECK_EQ_INT(rc.lengths[0], 64);
        run_config_free(&rc);
    }
    unlink(path);
    char *s2[] = {"benchmark.data_dir=prepared"};
    expect("ruler data_dir", ruler_ini, s2, 1, NULL);
    char *s3[] = {"benchmark.tasks=qa_1", "benchmark.data_dir=prepared"};
    expect("qa from prepared files needs no squad", ruler_ini, s3, 2, NULL);
    char *s4[] = {"benchmark.tasks=pg19", "benchmark.max_windows=3"};
    expect("pg19 keys", pg19_ini, s4, 2, NULL);
    char *s5[] = {"benchmark.longppl=8", "benchmark.longppl_slide=3"};
    expect("pg19 longppl", pg19_ini, s5, 2, NULL);

    /* mistakes */
    char *b1[] = {"benchmark.books=x"};
    expect("books in ruler", ruler_ini, b1, 1, "[benchmark] books: only for pg19, not ruler");
    char *b2[] = {"benchmark.essays=x"};
    expect("essays in infinitebench", infb_ini, b2, 1, "[benchmark] essays: only for ruler, not infinitebench");
    char *b3[] = {"benchmark.data_dir=x"};
    expect("data_dir in pg19", pg19_ini, b3, 1, "[benchmark] data_dir: only for ruler and infinitebench, not pg19");
    char *b4[] = {"benchmark.tasks=passkey, passkee"};
    expect("unknown InfiniteBench task", infb_ini, b4, 1, "tasks: unknown InfiniteBench task 'passkee'");
    char *b5[] = {"benchmark.tasks=fwe"};
    expect("a RULER task in pg19", pg19_ini, b5, 1, "pg19 has the one task 'pg19', not 'fwe'");
    char *b6[] = {"benchmark.template=llama"};
    expect("unknown template set", infb_ini, b6, 1, "[benchmark] template: 'llama' is not an InfiniteBench template set");
    char *b7[] = {"benchmark.lengths=1"};
    expect("length below 2", pg19_ini, b7, 1, "[benchmark] lengths: '1' is not a length in tokens (2 ..");
    char *b8[] = {"benchmark.name=longbench"};
    expect("unknown benchmark", ruler_ini, b8, 1, "'longbench' is not a benchmark run supports (ruler, infinitebench, pg19)");
    char *b9[] = {"benchmark.chat=maybe"};
    expect("bad bool", infb_ini, b9, 1, "chat");
    expect("infinitebench without data_dir", "[run]\nname = t\nmodel = m\n[benchmark]\nname = infinitebench\n"
           "tasks = passkey\nlengths = 64\n[variant.d]\nvariant = dense\n", NULL, 0, "data_dir");
    expect("pg19 without books", "[run]\nname = t\nmodel = m\n[benchmark]\nname = pg19\nlengths = 64\n"
           "[variant.d]\nvariant = dense\n", NULL, 0, "books");
    char *b11[] = {"benchmark.longppl=32"};
    expect("longppl not below a length", pg19_ini, b11, 1, "[benchmark] longppl: 32 is not shorter than the length 32");
    char *b12[] = {"benchmark.longppl_slide=4"};
    expect("longppl_slide alone", pg19_ini, b12, 1, "[benchmark] longppl_slide: only with longppl");
    char *b13[] = {"benchmark.longppl=16"};
    expect("longppl in ruler", ruler_ini, b13, 1, "[benchmark] longppl: only for pg19, not ruler");
    char *b10[] = {"benchmark.tasks=qa_1"};
    expect("qa generated without squad", ruler_ini, b10, 1, "qa_1 needs [benchmark] squad");
    /* the line of the key is named */
    expect("line named", "[run]\nname = t\nmodel = m\n[benchmark]\nname = pg19\nlengths = 64\nbooks = b\n"
           "template = open\n[variant.d]\nvariant = dense\n", NULL, 0, ":8: [benchmark] template: only for infinitebench");
}

int main(void) {
    test_shipped();
    test_keys();
    return test_done("run");
}
