/* test_configs.c - every shipped config (configs/NAME.ini) loads through the run
 * config parser (run_config_load), and the paper configs ruler*.ini hold the
 * paper's settings (arXiv 2505.11254: Llama-3.1-8B-Instruct, RULER's 13 tasks,
 * sink 1024, window 2048, gamma 64, block 2048 with tail 128). */
#include "run.h"

#include "test.h"

#include <dirent.h>

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static const struct {
    const char *name, *variant;
    int sink, window, block, tail, gamma;
} paper[] = {
    {"dense", "dense", 0, 0, 0, 0, 0},
    {"streaming", "streaming", 1024, 2048, 0, 0, 0},
    {"streaming_delta", "streaming+delta", 1024, 2048, 0, 0, 64},
    {"streaming_recompute", "streaming+recompute", 1024, 2048, 0, 0, 64},
    {"block", "block", 0, 0, 2048, 128, 0},
    {"block_delta", "block+delta", 0, 0, 2048, 128, 64},
};

static void check_paper(const char *path, const run_config *rc) {
    static const struct {
        const char *file;
        long length;
    } lengths[] = {{"ruler4k.ini", 4096},   {"ruler8k.ini", 8192},   {"ruler16k.ini", 16384},
                   {"ruler32k.ini", 32768}, {"ruler64k.ini", 65536}, {"ruler131k.ini", 131072}};
    const char *base = strrchr(path, '/') + 1;
    long want = 0;
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++)
        if (!strcmp(base, lengths[i].file)) want = lengths[i].length;
    CHECK(want > 0, "%s: not one of the paper configs", path);
    CHECK(rc->n_lengths == 1 && rc->lengths[0] == want, "%s: lengths", path);
    CHECK_EQ_STR(rc->model, "models/llama-3.1-8b-instruct");
    CHECK_EQ_STR(rc->backend, "auto");
    CHECK(rc->n_tasks == 13, "%s: %d tasks, RULER has 13", path, rc->n_tasks);
    CHECK(rc->samples == 100, "%s: samples %ld", path, rc->samples);
    CHECK(rc->n_variants == 6, "%s: %d variants", path, rc->n_variants);
    for (int i = 0; i < rc->n_variants && i < 6; i++) {
        const attn_variant *v = &rc->variants[i].v;
        CHECK_EQ_STR(rc->variants[i].name, paper[i].name);
        CHECK_EQ_STR(attn_variant_name(v), paper[i].variant);
        if (paper[i].sink) CHECK(v->sink == paper[i].sink && v->window == paper[i].window, "%s: %s", path, paper[i].name);
        if (paper[i].block) CHECK(v->block == paper[i].block && v->tail == paper[i].tail, "%s: %s", path, paper[i].name);
        if (paper[i].gamma) CHECK(v->gamma == paper[i].gamma, "%s: %s gamma", path, paper[i].name);
        CHECK(!v->decode_sparse && v->n_dense_layers == 0, "%s: %s decodes densely", path, paper[i].name);
    }
}

int main(void) {
    DIR *d = opendir("configs");
    CHECK(d != NULL, "configs/ missing");
    if (!d) return test_done("configs");
    char **names = NULL;
    int n = 0, n_paper = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l > 4 && !strcmp(de->d_name + l - 4, ".ini")) {
            names = realloc(names, sizeof *names * (size_t)(n + 1));
            names[n] = malloc(l + 9);
            snprintf(names[n++], l + 9, "configs/%s", de->d_name);
        }
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    CHECK(n >= 7, "%d configs, want quickstart and ruler4k..ruler131k at least", n);
    for (int i = 0; i < n; i++) {
        run_config rc;
        int r = run_config_load(names[i], NULL, 0, &rc);
        CHECK(r == 0, "%s does not load", names[i]);
        if (r == 0 && !strncmp(names[i], "configs/ruler", 13)) {
            check_paper(names[i], &rc);
            n_paper++;
        }
        if (r == 0) run_config_free(&rc);
        free(names[i]);
    }
    free(names);
    CHECK(n_paper == 6, "%d paper configs, want ruler4k..ruler131k", n_paper);
    return test_done("configs");
}
