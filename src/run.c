/* run.c - `evalctl run` and `evalctl merge`: config, work loop, crash-safe
 * predictions, tables. See run.h for the item order and the files. */
#include "run.h"

#include "backend.h"
#include "chat.h"
#include "forward.h"
#include "infbench.h"
#include "metric.h"
#include "model.h"
#include "pg19.h"
#include "ppl.h"
#include "stats.h"
#include "tokenizer.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define RUN_PERMS 100000 /* Monte Carlo resamples where 2^n is larger (exact below) */
#define RUN_BOOT 10000   /* bootstrap resamples */
#define RUN_INFB_SLACK 64 /* KV positions beyond an InfiniteBench truncation length (infbench.h) */

/* ------------------------------------------------------------------ config */

static const char *const keys_run[] = {"name", "model", "backend", "threads", "chunk", "chat_template",
                                       "output_dir", "max_new_tokens", NULL};
static const char *const keys_bench[] = {"name", "tasks", "lengths", "samples", "seed", "data_dir",
                                         "essays", "words", "squad", "hotpotqa", "template", "chat",
                                         "books", "max_windows", "longppl", "longppl_slide", NULL};
static const char *const keys_variant[] = {"variant", "sink", "window", "block", "tail",
                                           "gamma", "dense_layers", "decode", NULL};
static const ini_schema schema[] = {
    {"run", keys_run}, {"benchmark", keys_bench}, {"variant.*", keys_variant}};

/* "FILE:LINE" of a key (or of its section, or the file). */
static const char *where_of(const ini *c, const char *sec, const char *key) {
    int s = ini_section_find(c, sec);
    if (s < 0) return ini_name(c);
    for (int k = 0; k < ini_key_count(c, s); k++)
        if (!strcmp(ini_key_name(c, s, k), key)) return ini_key_where(c, s, k);
    return ini_section_where(c, s);
}

static int name_ok(const char *s) {
    if (!*s || *s == '.') return 0;
    for (; *s; s++)
        if (!(('a' <= *s && *s <= 'z') || ('A' <= *s && *s <= 'Z') || ('0' <= *s && *s <= '9') || *s == '_' ||
              *s == '-' || *s == '.'))
            return 0;
    return 1;
}

static int load_variant(const ini *c, const char *sec, run_variant *rv) {
    const char *vn = NULL;
    if (ini_require(c, sec, "variant") < 0 || ini_get_str(c, sec, "variant", &vn) < 0) return -1;
    if (attn_variant_parse(vn, &rv->v) < 0)
        return ev_error("%s: [%s] variant: unknown variant '%s' (dense, streaming, block, streaming+delta, "
                        "block+delta, streaming+recompute, block+recompute)", where_of(c, sec, "variant"), sec, vn);
    static const char *const ints[] = {"sink", "window", "block", "tail", "gamma"};
    for (int i = 0; i < 5; i++) {
        long x;
        int r = ini_get_int(c, sec, ints[i], i == 0 || i == 3 ? 0 : 1, 1 << 24, &x);
        if (r < 0) return -1;
        if (r > 0) {
            char buf[32];
            snprintf(buf, sizeof buf, "%ld", x);
            if (attn_variant_set(&rv->v, ints[i], buf) < 0) return -1;
        }
    }
    const char *d;
    int r = ini_get_str(c, sec, "decode", &d);
    if (r > 0) {
        if (strcmp(d, "dense") && strcmp(d, "sparse"))
            return ev_error("%s: [%s] decode: '%s' is not dense or sparse", where_of(c, sec, "decode"), sec, d);
        attn_variant_set(&rv->v, "decode", d);
    }
    char **items;
    int n;
    r = ini_get_list(c, sec, "dense_layers", &items, &n);
    if (r < 0) return -1;
    if (r > 0) {
        for (int i = 0; i < n; i++) {
            char *end;
            long x = strtol(items[i], &end, 10);
            if (end == items[i] || *end || x < 0 || x > 4096) {
                ev_error("%s: [%s] dense_layers: '%s' is not a layer index", where_of(c, sec, "dense_layers"),
                         sec, items[i]);
                free(items);
                return -1;
            }
        }
        if (n > ATTN_MAX_DENSE_LAYERS) {
            free(items);
            return ev_error("%s: [%s] dense_layers: more than %d layers", where_of(c, sec, "dense_layers"), sec,
                            ATTN_MAX_DENSE_LAYERS);
        }
        free(items);
        if (attn_variant_set(&rv->v, "dense_layers", ini_get(c, sec, "dense_layers")) < 0) return -1;
    }
    if (attn_variant_check(&rv->v) < 0) return -1;
    attn_variant_describe(&rv->v, rv->desc, sizeof rv->desc);
    return 0;
}

int run_config_from_ini(ini *c, run_config *rc) {
    memset(rc, 0, sizeof *rc);
    rc->ini = c;
    rc->backend = "cpu";
    rc->output_dir = "results";
    rc->essays = "data/texts/kjv.txt";
    rc->words = "data/words";
    rc->chunk = 512;
    rc->max_new = -1;
    rc->samples = 500;
    rc->infb_tpl = infb_template_default();
    long seed = 42;
    const char *bn = NULL, *v, *tpl = NULL;
    char **items = NULL;
    int n = 0;
    if (ini_check(c, schema, sizeof schema / sizeof schema[0]) < 0) goto fail;
    if (ini_require(c, "run", "name") < 0 || ini_require(c, "run", "model") < 0 ||
        ini_require(c, "benchmark", "name") < 0 || ini_require(c, "benchmark", "lengths") < 0)
        goto fail;
    if (ini_get_str(c, "run", "name", &rc->name) < 0 || ini_get_str(c, "run", "model", &rc->model) < 0 ||
        ini_get_str(c, "run", "backend", &rc->backend) < 0 || ini_get_int(c, "run", "threads", 0, 4096, &rc->threads) < 0 ||
        ini_get_int(c, "run", "chunk", 1, 1 << 20, &rc->chunk) < 0 ||
        ini_get_str(c, "run", "chat_template", &rc->chat_template) < 0 ||
        ini_get_str(c, "run", "output_dir", &rc->output_dir) < 0 ||
        ini_get_int(c, "run", "max_new_tokens", 1, 1 << 20, &rc->max_new) < 0 ||
        ini_get_str(c, "benchmark", "name", &bn) < 0 || ini_get_int(c, "benchmark", "samples", 1, 1 << 24, &rc->samples) < 0 ||
        ini_get_int(c, "benchmark", "seed", 0, 0x7fffffffffffffffL, &seed) < 0 ||
        ini_get_str(c, "benchmark", "essays", &rc->essays) < 0 || ini_get_str(c, "benchmark", "words", &rc->words) < 0 ||
        ini_get_str(c, "benchmark", "squad", &rc->squad) < 0 || ini_get_str(c, "benchmark", "hotpotqa", &rc->hotpotqa) < 0 ||
        ini_get_str(c, "benchmark", "data_dir", &rc->data_dir) < 0 || ini_get_str(c, "benchmark", "template", &tpl) < 0 ||
        ini_get_bool(c, "benchmark", "chat", &rc->chat) < 0 || ini_get_str(c, "benchmark", "books", &rc->books) < 0 ||
        ini_get_int(c, "benchmark", "max_windows", 0, 1L << 30, &rc->max_windows) < 0 ||
        ini_get_int(c, "benchmark", "longppl", 0, 1L << 24, &rc->longppl) < 0 ||
        ini_get_int(c, "benchmark", "longppl_slide", 1, 1L << 24, &rc->longppl_slide) < 0)
        goto fail;
    rc->seed = (uint64_t)seed;
    if (!name_ok(rc->name)) {
        ev_error("%s: [run] name: '%s' is not a directory name ([A-Za-z0-9._-], not starting with '.')",
                 where_of(c, "run", "name"), rc->name);
        goto fail;
    }
    if (strcmp(rc->backend, "cpu") && strcmp(rc->backend, "cuda") && strcmp(rc->backend, "auto")) {
        ev_error("%s: [run] backend: '%s' is not cpu, cuda or auto", where_of(c, "run", "backend"), rc->backend);
        goto fail;
    }
    if (!*rc->model) {
        ev_error("%s: [run] model: empty", where_of(c, "run", "model"));
        goto fail;
    }
    if (!strcmp(bn, "ruler")) rc->bench = RUN_RULER;
    else if (!strcmp(bn, "infinitebench")) rc->bench = RUN_INFBENCH;
    else if (!strcmp(bn, "pg19")) rc->bench = RUN_PG19;
    else {
        ev_error("%s: [benchmark] name: '%s' is not a benchmark run supports (ruler, infinitebench, pg19)",
                 where_of(c, "benchmark", "name"), bn);
        goto fail;
    }
    /* the keys each benchmark reads; any other one is a mistake worth stopping for */
    static const char *const only_ruler[] = {"essays", "words", "squad", "hotpotqa", NULL};
    static const char *const only_infb[] = {"template", "chat", NULL};
    static const char *const only_pg19[] = {"books", "max_windows", "longppl", "longppl_slide", NULL};
    static const char *const needs_dir[] = {"data_dir", NULL};
    const char *const *only[] = {only_ruler, only_infb, only_pg19, needs_dir};
    const char *for_what[] = {"ruler", "infinitebench", "pg19", "ruler and infinitebench"};
    for (int g = 0; g < 4; g++) {
        int ok = g == 3 ? rc->bench != RUN_PG19 : (int)rc->bench == g;
        for (int k = 0; only[g][k] && !ok; k++)
            if (ini_get(c, "benchmark", only[g][k])) {
                ev_error("%s: [benchmark] %s: only for %s, not %s", where_of(c, "benchmark", only[g][k]), only[g][k],
                         for_what[g], bn);
                goto fail;
            }
    }
    if (rc->bench == RUN_INFBENCH && ini_require(c, "benchmark", "data_dir") < 0) goto fail;
    if (rc->bench == RUN_PG19 && ini_require(c, "benchmark", "books") < 0) goto fail;
    if (rc->bench != RUN_PG19 && ini_require(c, "benchmark", "tasks") < 0) goto fail;
    if (rc->data_dir && !*rc->data_dir) {
        ev_error("%s: [benchmark] data_dir: empty", where_of(c, "benchmark", "data_dir"));
        goto fail;
    }
    if (tpl) {
        int t = infb_template_from_name(tpl);
        if (t < 0) {
            ev_error("%s: [benchmark] template: '%s' is not an InfiniteBench template set (open, gpt4, claude2, kimi)",
                     where_of(c, "benchmark", "template"), tpl);
            goto fail;
        }
        rc->infb_tpl = t;
    }

    v = where_of(c, "benchmark", "tasks");
    if (rc->bench == RUN_PG19 && !ini_get(c, "benchmark", "tasks")) {
        items = xcalloc(1, sizeof *items);
        items[0] = (char *)"pg19";
        n = 1;
    } else if (ini_get_list(c, "benchmark", "tasks", &items, &n) < 0) {
        goto fail;
    }
    if (n == 0) {
        ev_error("%s: [benchmark] tasks: empty list", v);
        goto fail;
    }
    rc->tasks = xcalloc((size_t)n, sizeof *rc->tasks);
    for (int i = 0; i < n; i++) {
        run_task *t = &rc->tasks[i];
        if (rc->bench == RUN_RULER) {
            if (!(t->ruler = ruler_task_find(items[i]))) {
                ev_error("%s: [benchmark] tasks: unknown RULER task '%s'", v, items[i]);
                goto fail;
            }
            t->name = t->ruler->name;
            t->group = t->ruler->kind == RULER_QA;
            t->max_new = t->ruler->tokens_to_generate;
            if (!rc->data_dir && t->ruler->kind == RULER_QA &&
                !(t->ruler->dataset == RULER_SQUAD ? rc->squad : rc->hotpotqa)) {
                ev_error("%s: [benchmark] tasks: %s needs [benchmark] %s (the dataset's JSON) or data_dir", v,
                         items[i], t->ruler->dataset == RULER_SQUAD ? "squad" : "hotpotqa");
                goto fail;
            }
        } else if (rc->bench == RUN_INFBENCH) {
            if ((t->infb = infb_task_from_name(items[i])) < 0) {
                ev_error("%s: [benchmark] tasks: unknown InfiniteBench task '%s' (%s)", v, items[i], infb_task_names());
                goto fail;
            }
            t->name = infb_task_name(t->infb);
            t->group = !infb_task_is_synthetic(t->infb);
            t->max_new = infb_max_new_tokens(t->infb);
        } else {
            if (strcmp(items[i], "pg19")) {
                ev_error("%s: [benchmark] tasks: pg19 has the one task 'pg19', not '%s'", v, items[i]);
                goto fail;
            }
            t->name = "pg19";
        }
        if (rc->max_new > 0 && rc->bench != RUN_PG19) t->max_new = rc->max_new;
        for (int j = 0; j < i; j++)
            if (!strcmp(rc->tasks[j].name, t->name)) {
                ev_error("%s: [benchmark] tasks: '%s' twice", v, items[i]);
                goto fail;
            }
    }
    rc->n_tasks = n;
    free(items);
    items = NULL;
    v = where_of(c, "benchmark", "lengths");
    if (ini_get_list(c, "benchmark", "lengths", &items, &n) < 0) goto fail;
    if (n == 0) {
        ev_error("%s: [benchmark] lengths: empty list", v);
        goto fail;
    }
    /* RULER needs room for a template and an answer; a truncation length or a
     * perplexity window only needs 2 tokens */
    long min_len = rc->bench == RUN_RULER ? 64 : 2;
    rc->lengths = xcalloc((size_t)n, sizeof *rc->lengths);
    for (int i = 0; i < n; i++) {
        char *end;
        errno = 0;
        long x = strtol(items[i], &end, 10);
        if (end == items[i] || *end || errno || x < min_len || x > (1L << 24)) {
            ev_error("%s: [benchmark] lengths: '%s' is not a length in tokens (%ld .. 16777216)", v, items[i], min_len);
            goto fail;
        }
        for (int j = 0; j < i; j++)
            if (rc->lengths[j] == x) {
                ev_error("%s: [benchmark] lengths: %ld twice", v, x);
                goto fail;
            }
        rc->lengths[i] = x;
    }
    rc->n_lengths = n;
    free(items);
    items = NULL;
    if (rc->longppl_slide && !rc->longppl) {
        ev_error("%s: [benchmark] longppl_slide: only with longppl", where_of(c, "benchmark", "longppl_slide"));
        goto fail;
    }
    if (rc->longppl) {
        /* a window no longer than trunc has no key tokens: its LongPPL would be empty */
        for (int i = 0; i < rc->n_lengths; i++)
            if (rc->lengths[i] <= rc->longppl) {
                ev_error("%s: [benchmark] longppl: %ld is not shorter than the length %ld", where_of(c, "benchmark", "longppl"),
                         rc->longppl, rc->lengths[i]);
                goto fail;
            }
    }
    for (int s = 0; s < ini_section_count(c); s++) {
        const char *sec = ini_section_name(c, s);
        if (strncmp(sec, "variant.", 8)) continue;
        rc->variants = xrealloc(rc->variants, sizeof *rc->variants * (size_t)(rc->n_variants + 1));
        run_variant *rv = &rc->variants[rc->n_variants++];
        memset(rv, 0, sizeof *rv);
        rv->name = xstrdup(sec + 8);
        if (load_variant(c, sec, rv) < 0) goto fail;
    }
    if (rc->n_variants == 0) {
        ev_error("%s: no [variant.NAME] section", ini_name(c));
        goto fail;
    }
    return 0;
fail:
    free(items);
    run_config_free(rc);
    return -1;
}

int run_config_load(const char *path, char **sets, int n_sets, run_config *rc) {
    memset(rc, 0, sizeof *rc);
    ini *c = ini_open(path);
    if (!c) return -1;
    for (int i = 0; i < n_sets; i++)
        if (ini_set_arg(c, sets[i]) < 0) {
            ini_free(c);
            return -1;
        }
    return run_config_from_ini(c, rc);
}

void run_config_free(run_config *rc) {
    for (int i = 0; i < rc->n_variants; i++) free(rc->variants[i].name);
    free(rc->variants);
    free(rc->tasks);
    free(rc->lengths);
    ini_free(rc->ini);
    memset(rc, 0, sizeof *rc);
}

char *run_dir(const run_config *rc) { return ev_path_join(rc->output_dir, rc->name); }

/* ------------------------------------------------------------------ sha256 */

/* FIPS 180-4; only meta.json uses it, so a plain byte-at-a-time version. */
typedef struct {
    uint32_t h[8];
    uint64_t len;
    unsigned char buf[64];
    size_t n;
} sha256;

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha_block(sha256 *s, const unsigned char *p) {
    uint32_t w[64], a, b, c, d, e, f, g, h;
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4], f = s->h[5], g = s->h[6], h = s->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    s->h[0] += a, s->h[1] += b, s->h[2] += c, s->h[3] += d, s->h[4] += e, s->h[5] += f, s->h[6] += g, s->h[7] += h;
}

static void sha_init(sha256 *s) {
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, h0, sizeof h0);
    s->len = 0;
    s->n = 0;
}

static void sha_update(sha256 *s, const unsigned char *p, size_t n) {
    s->len += n;
    if (s->n) {
        while (n && s->n < 64) s->buf[s->n++] = *p++, n--;
        if (s->n < 64) return;
        sha_block(s, s->buf);
        s->n = 0;
    }
    for (; n >= 64; p += 64, n -= 64) sha_block(s, p);
    memcpy(s->buf, p, n);
    s->n = n;
}

static void sha_final(sha256 *s, char hex[65]) {
    uint64_t bits = s->len * 8;
    unsigned char pad = 0x80, z = 0, lb[8];
    sha_update(s, &pad, 1);
    while (s->n != 56) sha_update(s, &z, 1);
    for (int i = 0; i < 8; i++) lb[i] = (unsigned char)(bits >> (56 - 8 * i));
    sha_update(s, lb, 8);
    for (int i = 0; i < 8; i++) snprintf(hex + 8 * i, 9, "%08x", s->h[i]);
}

int run_sha256_file(const char *path, char hex[65]) {
    FILE *f = fopen(path, "rb");
    if (!f) return ev_error("%s: %s", path, strerror(errno));
    sha256 s;
    sha_init(&s);
    unsigned char *buf = xmalloc(1 << 20);
    size_t k;
    while ((k = fread(buf, 1, 1 << 20, f)) > 0) sha_update(&s, buf, k);
    int err = ferror(f);
    fclose(f);
    free(buf);
    if (err) return ev_error("%s: read error", path);
    sha_final(&s, hex);
    return 0;
}

/* ---------------------------------------------------------------- records */

/* One scored item as the tables need it; line is the JSON text (no newline). */
typedef struct {
    long long item;
    double score;
    double nll;    /* pg19: the book's nll sum and scored tokens */
    double tokens;
    double key_nll; /* pg19 with longppl: the same over its key tokens */
    double key;
    char *line;
} run_rec;

static long long n_items(const run_config *rc) {
    return (long long)rc->n_lengths * rc->n_tasks * rc->n_variants * rc->samples;
}

static long long item_of(const run_config *rc, int li, int ti, int vi, long idx) {
    return (((long long)li * rc->n_tasks + ti) * rc->n_variants + vi) * rc->samples + idx;
}

static void item_parts(const run_config *rc, long long k, int *li, int *ti, int *vi, long *idx) {
    *idx = (long)(k % rc->samples);
    k /= rc->samples;
    *vi = (int)(k % rc->n_variants);
    k /= rc->n_variants;
    *ti = (int)(k % rc->n_tasks);
    *li = (int)(k / rc->n_tasks);
}

/* The item a record stands for, or -1 after one error line. */
static long long record_item(const run_config *rc, json_t *j, const char *where, run_rec *out) {
    const char *task = json_string_value(json_object_get(j, "task"));
    const char *var = json_string_value(json_object_get(j, "variant"));
    json_t *len = json_object_get(j, "length"), *idx = json_object_get(j, "index"), *sc = json_object_get(j, "score");
    if (!task || !var || !json_is_integer(len) || !json_is_integer(idx) || !json_is_number(sc))
        return ev_error("%s: not a prediction record (task, variant, length, index, score)", where);
    int li = -1, ti = -1, vi = -1;
    for (int i = 0; i < rc->n_lengths; i++)
        if (rc->lengths[i] == json_integer_value(len)) li = i;
    for (int i = 0; i < rc->n_tasks; i++)
        if (!strcmp(rc->tasks[i].name, task)) ti = i;
    for (int i = 0; i < rc->n_variants; i++)
        if (!strcmp(rc->variants[i].name, var)) vi = i;
    long long x = json_integer_value(idx);
    if (li < 0 || ti < 0 || vi < 0 || x < 0 || x >= rc->samples)
        return ev_error("%s: record %s/%lld/%s/%lld is not an item of the config", where, task,
                        (long long)json_integer_value(len), var, x);
    out->score = json_number_value(sc);
    if (rc->bench == RUN_PG19) {
        json_t *nll = json_object_get(j, "nll"), *tk = json_object_get(j, "tokens");
        if (!json_is_number(nll) || !json_is_integer(tk) || json_integer_value(tk) < 0)
            return ev_error("%s: not a pg19 record (nll, tokens)", where);
        out->nll = json_number_value(nll);
        out->tokens = (double)json_integer_value(tk);
        if (rc->longppl) {
            json_t *kn = json_object_get(j, "key_nll"), *kt = json_object_get(j, "key_tokens");
            if (!json_is_number(kn) || !json_is_integer(kt) || json_integer_value(kt) < 0)
                return ev_error("%s: not a LongPPL record (key_nll, key_tokens)", where);
            out->key_nll = json_number_value(kn);
            out->key = (double)json_integer_value(kt);
        }
    }
    return item_of(rc, li, ti, vi, (long)x);
}

static void recs_free(run_rec *r, size_t n) {
    for (size_t i = 0; i < n; i++) free(r[i].line);
    free(r);
}

/* Reads a predictions file (a missing one is empty). A last line without its
 * newline, or an unparsable last line, is a record torn by a crash: with
 * repair the file is truncated back to the end of the line before it, else it
 * is ignored. Appends to *recs / *n. 0, or -1 after one error line. */
static int read_preds(const run_config *rc, const char *path, int repair, run_rec **recs, size_t *n) {
    if (access(path, F_OK) != 0) return 0;
    size_t len;
    char *text = ev_read_file(path, &len);
    if (!text) return -1;
    size_t off = 0, good = 0;
    int line = 0;
    while (off < len) {
        line++;
        char *nl = memchr(text + off, '\n', len - off);
        size_t end = nl ? (size_t)(nl - text) : len;
        json_error_t je;
        json_t *j = nl ? json_loadb(text + off, end - off, 0, &je) : NULL;
        int last = !nl || end + 1 == len;
        if (!j) {
            if (!last) {
                free(text);
                return ev_error("%s:%d: not JSON (%s)", path, line, nl ? je.text : "no newline");
            }
            break; /* torn */
        }
        char where[600];
        snprintf(where, sizeof where, "%s:%d", path, line);
        run_rec r = {0};
        long long k = record_item(rc, j, where, &r);
        json_decref(j);
        if (k < 0) {
            free(text);
            return -1;
        }
        r.item = k;
        *recs = xrealloc(*recs, sizeof **recs * (*n + 1));
        (*recs)[*n] = r;
        (*recs)[*n].line = xmalloc(end - off + 1);
        memcpy((*recs)[*n].line, text + off, end - off);
        (*recs)[*n].line[end - off] = 0;
        (*n)++;
        off = good = end + 1;
    }
    free(text);
    if (good < len && repair) {
        fprintf(stderr, "evalctl: %s: dropping a torn last record (%zu bytes)\n", path, len - good);
        if (truncate(path, (off_t)good) != 0) return ev_error("%s: truncate: %s", path, strerror(errno));
    }
    return 0;
}

static int cmp_dbl(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmp_rec(const void *a, const void *b) {
    long long x = ((const run_rec *)a)->item, y = ((const run_rec *)b)->item;
    return x < y ? -1 : x > y;
}

/* --------------------------------------------------------------- writing */

/* Writes text to path through path.tmp.PID + fsync + rename: the process id
 * keeps shards that start together in a new directory (a Slurm array) off
 * each other's temporary files. */
static int write_atomic(const char *path, const char *text, size_t n) {
    size_t pl = strlen(path);
    char *tmp = xmalloc(pl + 32);
    snprintf(tmp, pl + 32, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int rc = -1;
    if (fd < 0) {
        ev_error("%s: %s", tmp, strerror(errno));
        goto out;
    }
    for (size_t off = 0; off < n;) {
        ssize_t w = write(fd, text + off, n - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            ev_error("%s: write: %s", tmp, strerror(errno));
            close(fd);
            goto out;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        ev_error("%s: %s", tmp, strerror(errno));
        goto out;
    }
    if (rename(tmp, path) != 0) {
        ev_error("%s: rename: %s", path, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    free(tmp);
    return rc;
}

/* A growing string. */
typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_printf(sbuf *b, const char *fmt, ...) EV_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    if ((size_t)k < sizeof tmp) {
        sb_add(b, tmp, (size_t)k);
        return;
    }
    char *big = xmalloc((size_t)k + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)k + 1, fmt, ap);
    va_end(ap);
    sb_add(b, big, (size_t)k);
    free(big);
}

/* One CSV field, RFC 4180: quoted when it holds a comma, quote, CR or LF. */
static void csv_field(sbuf *b, const char *s, int last) {
    if (strpbrk(s, ",\"\r\n")) {
        sb_add(b, "\"", 1);
        for (const char *p = s; *p; p++) {
            if (*p == '"') sb_add(b, "\"", 1);
            sb_add(b, p, 1);
        }
        sb_add(b, "\"", 1);
    } else {
        sb_add(b, s, strlen(s));
    }
    sb_add(b, last ? "\r\n" : ",", last ? 2 : 1);
}

/* pvalues.csv's groups: RULER's synthetic tasks against its QA tasks (the
 * paper's rebuttal table), InfiniteBench's three synthetic retrieval tasks
 * against the rest, PG19's books (and with longppl the same books' LongPPL). */
static int n_groups(const run_config *rc) { return rc->bench == RUN_PG19 ? 1 + (rc->longppl > 0) : 2; }

static const char *group_name(const run_config *rc, int g) {
    if (rc->bench == RUN_PG19) return g ? "longppl" : "pg19";
    if (rc->bench == RUN_INFBENCH) return g ? "realistic" : "synthetic";
    return g ? "qa" : "synthetic";
}

/* The +delta/+recompute variant vi's base: the first variant without a fix
 * and the same base pattern and parameters; -1 when none. */
static int base_of(const run_config *rc, int vi) {
    const attn_variant *v = &rc->variants[vi].v;
    if (v->fix == ATTN_FIX_NONE) return -1;
    for (int i = 0; i < rc->n_variants; i++) {
        const attn_variant *b = &rc->variants[i].v;
        if (b->fix != ATTN_FIX_NONE || b->base != v->base || b->decode_sparse != v->decode_sparse ||
            b->n_dense_layers != v->n_dense_layers ||
            memcmp(b->dense_layers, v->dense_layers, sizeof b->dense_layers[0] * (size_t)v->n_dense_layers))
            continue;
        if (v->base == ATTN_STREAMING && (b->sink != v->sink || b->window != v->window)) continue;
        if (v->base == ATTN_BLOCK && (b->block != v->block || b->tail != v->tail)) continue;
        return i;
    }
    return -1;
}

/* exp(sum nll / sum tokens), the perplexity of books taken together. */
static double ppl_of(const double *nll, const double *tok, int n) {
    double a = 0, b = 0;
    for (int i = 0; i < n; i++) a += nll[i], b += tok[i];
    return b > 0 ? exp(a / b) : NAN;
}

/* The percentile bootstrap of stats.h (the same draws, resample after
 * resample, and quantiles) with ppl_of as the statistic: books are resampled
 * whole, so a long book weighs as much in each resample as in the estimate. */
static int ppl_bootstrap_ci(const double *nll, const double *tok, int n, int B, uint64_t seed, double *lo, double *hi) {
    double *v = xmalloc(sizeof *v * (size_t)B);
    stats_rng r;
    stats_rng_seed(&r, seed);
    int k = 0;
    for (int b = 0; b < B; b++) {
        double a = 0, t = 0;
        for (int i = 0; i < n; i++) {
            uint64_t j = stats_rng_below(&r, (uint64_t)n);
            a += nll[j];
            t += tok[j];
        }
        if (t > 0) v[k++] = exp(a / t); /* a resample of only unscored books has no perplexity */
    }
    qsort(v, (size_t)k, sizeof *v, cmp_dbl);
    *lo = k ? stats_quantile_sorted(v, k, 0.025) : NAN;
    *hi = k ? stats_quantile_sorted(v, k, 0.975) : NAN;
    free(v);
    return 0;
}

/* summary.csv, pvalues.csv, samples.csv from the complete, sorted records
 * (recs[k].item == k). */
static int write_tables(const run_config *rc, const char *dir, const run_rec *recs) {
    long S = rc->samples;
    int rcode = -1, pg = rc->bench == RUN_PG19;
    sbuf sum = {0}, pv = {0}, smp = {0};
    size_t cap = (size_t)S * (size_t)rc->n_tasks;
    double *x = xmalloc(sizeof *x * cap), *y = xmalloc(sizeof *y * cap);
    char num[64], lo_s[64], hi_s[64];
    sb_printf(&sum, "length,task,variant,n,mean,ci_lo,ci_hi\r\n");
    /* pg19 with longppl: a "longppl" row after the task's (the last row, ti ==
     * rows - 1: the average, is the task's perplexity, LongPPL not mixed in) */
    int lp = pg && rc->longppl > 0, rows = rc->n_tasks + 1 + lp;
    for (int li = 0; li < rc->n_lengths; li++) {
        for (int ti = 0; ti < rows; ti++)
            for (int vi = 0; vi < rc->n_variants; vi++) {
                double mean, lo, hi;
                const char *row = ti < rc->n_tasks ? rc->tasks[ti].name : ti == rows - 1 ? "average" : "longppl";
                if (pg) {
                    /* one task: its row and the average row are the same perplexity */
                    int key = ti == rc->n_tasks && lp;
                    for (long i = 0; i < S; i++) {
                        const run_rec *r = &recs[item_of(rc, li, 0, vi, i)];
                        x[i] = key ? r->key_nll : r->nll;
                        y[i] = key ? r->key : r->tokens;
                    }
                    mean = ppl_of(x, y, (int)S);
                    if (ppl_bootstrap_ci(x, y, (int)S, RUN_BOOT, rc->seed, &lo, &hi) < 0) goto out;
                } else {
                    if (ti < rc->n_tasks) {
                        for (long i = 0; i < S; i++) x[i] = recs[item_of(rc, li, ti, vi, i)].score;
                        mean = stats_mean(x, (int)S);
                    } else {
                        /* the mean of task means; bootstrapped over sample indices, each
                         * index's value being its mean over the tasks */
                        double m = 0;
                        for (int t = 0; t < rc->n_tasks; t++) {
                            for (long i = 0; i < S; i++) y[i] = recs[item_of(rc, li, t, vi, i)].score;
                            m += stats_mean(y, (int)S);
                        }
                        mean = m / rc->n_tasks;
                        for (long i = 0; i < S; i++) {
                            double s = 0;
                            for (int t = 0; t < rc->n_tasks; t++) s += recs[item_of(rc, li, t, vi, i)].score;
                            x[i] = s / rc->n_tasks;
                        }
                    }
                    if (stats_bootstrap_ci(x, (int)S, RUN_BOOT, rc->seed, &lo, &hi) < 0) goto out;
                }
                snprintf(num, sizeof num, "%.4f", mean);
                snprintf(lo_s, sizeof lo_s, "%.4f", lo);
                snprintf(hi_s, sizeof hi_s, "%.4f", hi);
                sb_printf(&sum, "%ld,", rc->lengths[li]);
                csv_field(&sum, row, 0);
                csv_field(&sum, rc->variants[vi].name, 0);
                sb_printf(&sum, "%ld,%s,%s,%s\r\n", S, num, lo_s, hi_s);
            }
    }
    sb_printf(&pv, "length,group,variant,base,n,mean_base,mean_variant,mean_diff,p_value,method\r\n");
    for (int li = 0; li < rc->n_lengths; li++)
        for (int vi = 0; vi < rc->n_variants; vi++) {
            int bi = base_of(rc, vi);
            if (bi < 0) continue;
            for (int g = 0; g < n_groups(rc); g++) {
                int n = 0;
                if (pg && g == 1) {
                    /* longppl: each book's mean nll over its key tokens, books
                     * with key tokens under both variants */
                    for (long i = 0; i < S; i++) {
                        const run_rec *a = &recs[item_of(rc, li, 0, bi, i)], *b = &recs[item_of(rc, li, 0, vi, i)];
                        if (a->key > 0 && b->key > 0) {
                            x[n] = a->key_nll / a->key;
                            y[n++] = b->key_nll / b->key;
                        }
                    }
                }
                for (int ti = 0; ti < rc->n_tasks; ti++) {
                    if (rc->tasks[ti].group != g) continue;
                    for (long i = 0; i < S; i++) {
                        x[n] = recs[item_of(rc, li, ti, bi, i)].score;
                        y[n++] = recs[item_of(rc, li, ti, vi, i)].score;
                    }
                }
                if (n == 0) continue;
                stats_perm_result r;
                double mb, mv, md;
                if (pg) {
                    /* scores are nll, lower is better: the test that the base's nll is
                     * higher than the variant's is the test that the variant is better */
                    if (stats_permtest(y, x, n, RUN_PERMS, rc->seed, &r) < 0) goto out;
                    mb = r.mean_b, mv = r.mean_a, md = -r.mean_diff;
                } else {
                    if (stats_permtest(x, y, n, RUN_PERMS, rc->seed, &r) < 0) goto out;
                    mb = r.mean_a, mv = r.mean_b, md = r.mean_diff;
                }
                sb_printf(&pv, "%ld,%s,", rc->lengths[li], group_name(rc, g));
                csv_field(&pv, rc->variants[vi].name, 0);
                csv_field(&pv, rc->variants[bi].name, 0);
                sb_printf(&pv, "%d,%.4f,%.4f,%.4f,%.6g,%s\r\n", n, mb, mv, md, r.p_value,
                          r.exact ? "exact" : "monte_carlo");
            }
        }
    sb_printf(&smp, "length,task,index,variant,variant_params,prompt_tokens,new_tokens,score,prefill_s,decode_s,"
                    "pred,outputs%s\r\n", lp ? ",key_tokens,key_score" : "");
    for (long long k = 0; k < n_items(rc); k++) {
        json_t *j = json_loads(recs[k].line, 0, NULL);
        if (!j) {
            ev_error("%s: record %lld unparsable", dir, k);
            goto out;
        }
        sb_printf(&smp, "%lld,", (long long)json_integer_value(json_object_get(j, "length")));
        csv_field(&smp, json_string_value(json_object_get(j, "task")), 0);
        sb_printf(&smp, "%lld,", (long long)json_integer_value(json_object_get(j, "index")));
        csv_field(&smp, json_string_value(json_object_get(j, "variant")), 0);
        const char *vp = json_string_value(json_object_get(j, "variant_params"));
        csv_field(&smp, vp ? vp : "", 0);
        sb_printf(&smp, "%lld,%lld,%.6g,%.4f,%.4f,", (long long)json_integer_value(json_object_get(j, "prompt_tokens")),
                  (long long)json_integer_value(json_object_get(j, "new_tokens")), recs[k].score,
                  json_number_value(json_object_get(j, "prefill_s")), json_number_value(json_object_get(j, "decode_s")));
        const char *pr = json_string_value(json_object_get(j, "pred"));
        csv_field(&smp, pr ? pr : "", 0);
        /* the references: RULER's outputs, InfiniteBench's answer; PG19 has none */
        json_t *refs = json_object_get(j, "outputs");
        if (!refs) refs = json_object_get(j, "answer");
        char *outs = refs ? json_dumps(refs, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        csv_field(&smp, outs ? outs : "", !lp);
        free(outs);
        if (lp) {
            /* the mean nll over the book's key tokens; empty without any */
            if (recs[k].key > 0) sb_printf(&smp, "%.0f,%.6g\r\n", recs[k].key, recs[k].key_nll / recs[k].key);
            else sb_printf(&smp, "0,\r\n");
        }
        json_decref(j);
    }
    char *p1 = ev_path_join(dir, "summary.csv"), *p2 = ev_path_join(dir, "pvalues.csv"), *p3 = ev_path_join(dir, "samples.csv");
    rcode = write_atomic(p1, sum.p, sum.n) || write_atomic(p2, pv.p, pv.n) || write_atomic(p3, smp.p, smp.n) ? -1 : 0;
    free(p1);
    free(p2);
    free(p3);
out:
    free(x);
    free(y);
    free(sum.p);
    free(pv.p);
    free(smp.p);
    return rcode;
}

/* Sorts, checks completeness, rewrites predictions.jsonl in canonical order,
 * writes the tables. */
static int finish(const run_config *rc, const char *dir, run_rec *recs, size_t n) {
    qsort(recs, n, sizeof *recs, cmp_rec);
    for (size_t i = 1; i < n; i++)
        if (recs[i].item == recs[i - 1].item) {
            int li, ti, vi;
            long idx;
            item_parts(rc, recs[i].item, &li, &ti, &vi, &idx);
            return ev_error("%s: item length %ld task %s variant %s index %ld is there twice", dir, rc->lengths[li],
                            rc->tasks[ti].name, rc->variants[vi].name, idx);
        }
    if ((long long)n != n_items(rc)) {
        long long k = 0;
        while (k < (long long)n && recs[k].item == k) k++;
        int li, ti, vi;
        long idx;
        item_parts(rc, k, &li, &ti, &vi, &idx);
        return ev_error("%s: %lld of %lld items missing (first: length %ld task %s variant %s index %ld); run the "
                        "missing shard(s) again", dir, n_items(rc) - (long long)n, n_items(rc), rc->lengths[li],
                        rc->tasks[ti].name, rc->variants[vi].name, idx);
    }
    sbuf all = {0};
    for (size_t i = 0; i < n; i++) {
        sb_add(&all, recs[i].line, strlen(recs[i].line));
        sb_add(&all, "\n", 1);
    }
    char *pp = ev_path_join(dir, "predictions.jsonl");
    int r = write_atomic(pp, all.p ? all.p : "", all.n);
    free(pp);
    free(all.p);
    if (r < 0) return -1;
    return write_tables(rc, dir, recs);
}

/* ------------------------------------------------------------------ meta */

static void iso_now(char buf[32]) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *file_entry(const char *path) {
    struct stat st;
    char hex[65];
    if (stat(path, &st) != 0 || run_sha256_file(path, hex) < 0) return NULL;
    return json_pack("{s:s, s:I, s:s}", "path", path, "bytes", (json_int_t)st.st_size, "sha256", hex);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The model's files: a file itself; for an HF directory config.json and each
 * *.safetensors file, in name order. */
static json_t *model_files(const char *path) {
    json_t *arr = json_array();
    if (!ev_is_dir(path)) {
        json_t *e = file_entry(path);
        if (e) json_array_append_new(arr, e);
        return arr;
    }
    DIR *d = opendir(path);
    if (!d) return arr;
    char **names = NULL;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (!strcmp(de->d_name, "config.json") || (l > 12 && !strcmp(de->d_name + l - 12, ".safetensors"))) {
            names = xrealloc(names, sizeof *names * (size_t)(n + 1));
            names[n++] = xstrdup(de->d_name);
        }
    }
    closedir(d);
    if (n) qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n; i++) {
        char *p = ev_path_join(path, names[i]);
        json_t *e = file_entry(p);
        if (e) json_array_append_new(arr, e);
        free(p);
        free(names[i]);
    }
    free(names);
    return arr;
}

static int write_meta(const run_config *rc, const char *dir, const char *fname, const char *start, const run_opts *o) {
    char commit[64] = "unknown", end[32];
    FILE *g = popen("git rev-parse HEAD 2>/dev/null", "r");
    if (g) {
        char buf[64] = "";
        if (fgets(buf, sizeof buf, g) && strlen(buf) >= 40) {
            buf[strcspn(buf, "\r\n")] = 0;
            snprintf(commit, sizeof commit, "%s", buf);
        }
        if (pclose(g) != 0) snprintf(commit, sizeof commit, "unknown");
    }
    struct utsname u;
    char machine[400] = "unknown";
    if (uname(&u) == 0) snprintf(machine, sizeof machine, "%s %s %s %s", u.sysname, u.release, u.version, u.machine);
    iso_now(end);
    json_t *m = json_pack("{s:s, s:s, s:{s:s, s:o}, s:{s:s, s:I}, s:s, s:s, s:s, s:{s:i, s:i}}", "evalctl", EV_VERSION,
                          "git_commit", commit, "model", "path", rc->model, "files", model_files(rc->model), "machine",
                          "uname", machine, "cores", (json_int_t)sysconf(_SC_NPROCESSORS_ONLN), "backend",
                          rc->backend_used[0] ? rc->backend_used : rc->backend,
                          "start", start, "end", end, "shard", "index", o->shard_i, "count", o->shard_n);
    if (!m) return ev_error("%s: cannot build meta.json", dir);
    char *s = json_dumps(m, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(m);
    sbuf b = {0};
    sb_add(&b, s, strlen(s));
    sb_add(&b, "\n", 1);
    free(s);
    char *p = ev_path_join(dir, fname);
    int r = write_atomic(p, b.p, b.n);
    free(p);
    free(b.p);
    return r;
}

/* -------------------------------------------------------------- the loop */

/* Python's bytes.decode(errors="replace") for what the tokenizer decodes, so a
 * completion cut inside a character still makes a JSON string. Heap. */
static char *utf8_fix(const char *s, size_t n) {
    if (ev_utf8_valid(s, n)) {
        char *r = xmalloc(n + 1);
        memcpy(r, s, n);
        r[n] = 0;
        return r;
    }
    sbuf b = {0};
    sb_add(&b, "", 0);
    for (size_t i = 0; i < n;) {
        size_t k = 1;
        unsigned char c = (unsigned char)s[i];
        if (c >= 0xc0) k = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        if (i + k <= n && ev_utf8_valid(s + i, k)) {
            sb_add(&b, s + i, k);
            i += k;
        } else {
            sb_add(&b, "\xef\xbf\xbd", 3);
            i++;
        }
    }
    return b.p;
}

typedef struct {
    double t_first;
    int n;
} tok_timer;

static void on_tok(void *ud, int32_t id) {
    (void)id;
    tok_timer *t = ud;
    if (t->n++ == 0) t->t_first = ev_now();
}

static int append_line(int fd, const char *path, const char *s) {
    size_t n = strlen(s);
    char *line = xmalloc(n + 1);
    memcpy(line, s, n);
    line[n] = '\n';
    size_t off = 0;
    while (off < n + 1) {
        ssize_t w = write(fd, line + off, n + 1 - off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) {
            free(line);
            return ev_error("%s: write: %s", path, strerror(errno));
        }
        off += (size_t)w;
    }
    free(line);
    if (fsync(fd) != 0) return ev_error("%s: fsync: %s", path, strerror(errno));
    return 0;
}

typedef struct {
    long long total, done, done0; /* items of this shard; done ones; done before this session */
    long long shown;              /* done at the last line printed */
    double t0, last;
    int tty;
} progress;

static void progress_show(progress *p, int final) {
    double now = ev_now(), el = now - p->t0;
    long long made = p->done - p->done0;
    if (!p->tty && !final && made % 10 != 0 && now - p->last < 60) return;
    if (!p->tty && final && p->shown == p->done) return;
    p->shown = p->done;
    p->last = now;
    double rate = el > 0 ? made / el : 0;
    double eta = rate > 0 ? (p->total - p->done) / rate : 0;
    fprintf(stderr, "%sevalctl run: %lld/%lld samples, %.2f samples/s, ETA %.0f s%s", p->tty ? "\r" : "", p->done,
            p->total, rate, eta, p->tty && !final ? "   " : "\n");
    fflush(stderr);
}

/* --------------------------------------------------------------- the inputs */

/* What a session needs, loaded and checked before the run directory is
 * touched, so that bad input leaves nothing behind. */
typedef struct {
    model *m;
    tok_tokenizer *tok;
    chat_template *tmpl;          /* RULER generation, InfiniteBench chat = yes */
    ruler_words *words;
    ruler_essay *essay;
    ruler_qa *squad, *hotpot;
    pg19_books *books;
    int32_t **book_ids;           /* [samples]: each book's ids, made on first use */
    size_t *book_n;
    unsigned char **book_key;     /* longppl: each book's key-token marks (ppl_key_mark) ... */
    int *book_key_li;             /* ... for this length index, made on first use (-1: none) */
    backend *be;
    int32_t *out;                 /* [max_new] */
    long n_ctx, max_new;
} run_env;

static void env_close(run_env *e) {
    if (e->book_ids)
        for (size_t i = 0; e->books && i < e->books->n; i++) free(e->book_ids[i]), free(e->book_key[i]);
    free(e->book_ids);
    free(e->book_n);
    free(e->book_key);
    free(e->book_key_li);
    pg19_close(e->books);
    free(e->out);
    backend_free(e->be);
    ruler_qa_free(e->squad);
    ruler_qa_free(e->hotpot);
    ruler_essay_free(e->essay);
    ruler_words_free(e->words);
    chat_template_free(e->tmpl);
    tok_free(e->tok);
    model_close(e->m);
    memset(e, 0, sizeof *e);
}

/* Line number of the i-th record (0-based) of a JSONL file whose blank lines
 * readers skip: only for error messages. 0 when it cannot be told. */
static size_t jsonl_line_of(const char *path, size_t i) {
    size_t len, line = 0, rec = 0;
    char *t = ev_read_file(path, &len);
    if (!t) return 0;
    for (size_t p = 0; p < len;) {
        char *nl = memchr(t + p, '\n', len - p);
        size_t e = nl ? (size_t)(nl - t) : len;
        line++;
        size_t k = p;
        while (k < e && (t[k] == ' ' || t[k] == '\t' || t[k] == '\r')) k++;
        if (k < e && rec++ == i) {
            free(t);
            return line;
        }
        p = e + 1;
    }
    free(t);
    return 0;
}

/* The prepared RULER file of a task at length L (README "Runs"): the length's
 * directory is DIR/L/data (RULER's run.sh tree), else DIR/L, else DIR itself
 * when the config has one length; in it the first of TASK.jsonl (gen ruler)
 * and TASK/validation.jsonl (prepare.py --save_dir). Heap, or NULL after one
 * error line. */
static char *ruler_file(const run_config *rc, long L, const char *task) {
    char num[32], name[128];
    snprintf(num, sizeof num, "%ld", L);
    char *d = ev_path_join(rc->data_dir, num), *dd = ev_path_join(d, "data");
    if (ev_is_dir(dd)) {
        free(d);
        d = dd;
    } else {
        free(dd);
        if (!ev_is_dir(d)) {
            if (rc->n_lengths > 1 || !ev_is_dir(rc->data_dir)) {
                ev_error("%s: no directory for length %ld ([benchmark] data_dir holds one directory per length, "
                         "named by it)", d, L);
                free(d);
                return NULL;
            }
            free(d);
            d = xstrdup(rc->data_dir);
        }
    }
    snprintf(name, sizeof name, "%s.jsonl", task);
    char *p = ev_path_join(d, name);
    if (!ev_is_file(p)) {
        snprintf(name, sizeof name, "%s/validation.jsonl", task);
        char *q = ev_path_join(d, name);
        if (!ev_is_file(q)) {
            ev_error("%s: no RULER file for %s at length %ld (%s.jsonl or %s/validation.jsonl)", d, task, L, task, task);
            free(q);
            q = NULL;
        }
        free(p);
        p = q;
    }
    free(d);
    return p;
}

/* The official task file DIR/TASK.jsonl (or .jsonl.gz). Heap, or NULL after
 * one error line. */
static char *infb_file(const run_config *rc, const char *task) {
    char name[128];
    snprintf(name, sizeof name, "%s.jsonl", task);
    char *p = ev_path_join(rc->data_dir, name);
    if (ev_is_file(p)) return p;
    free(p);
    snprintf(name, sizeof name, "%s.jsonl.gz", task);
    p = ev_path_join(rc->data_dir, name);
    if (ev_is_file(p)) return p;
    free(p);
    p = ev_path_join(rc->data_dir, task);
    ev_error("%s.jsonl: no such file (the official InfiniteBench file of task %s)", p, task);
    free(p);
    return NULL;
}

/* A RULER prompt as RULER's pred/call_api.py sends it, input + answer_prefix,
 * encoded as its HF and vLLM clients do, with the tokenizer's special tokens;
 * a text that already starts with the BOS token (every chat template that
 * writes one) gets no second. */
static int ruler_prompt_ids(run_env *e, const ruler_record *r, int32_t **ids, size_t *n) {
    size_t la = strlen(r->input), lb = strlen(r->answer_prefix);
    char *p = xmalloc(la + lb + 1);
    memcpy(p, r->input, la);
    memcpy(p + la, r->answer_prefix, lb + 1);
    const char *bos = tok_bos_str(e->tok);
    int add = !(bos && *bos && !strncmp(p, bos, strlen(bos)));
    int rc = tok_encode(e->tok, p, la + lb, add, ids, n);
    free(p);
    return rc;
}

/* An InfiniteBench prompt cut to max tokens as the official open harness does
 * (infb_prompt_ids); with chat = yes the cut text goes through the chat
 * template instead (not the official protocol). */
static int infb_ids(const run_config *rc, run_env *e, const char *text, size_t len, size_t max, int32_t **ids,
                    size_t *n) {
    if (!rc->chat) return infb_prompt_ids(e->tok, text, len, max, ids, n);
    size_t cl;
    char *cut = infb_truncate(e->tok, text, len, max, &cl, NULL);
    if (!cut) return -1;
    char *p = infb_chat_prompt(e->tmpl, e->tok, cut);
    free(cut);
    if (!p) return -1;
    int r = tok_encode(e->tok, p, strlen(p), 0, ids, n);
    free(p);
    return r;
}

static long min_length(const run_config *rc) {
    long x = rc->lengths[0];
    for (int i = 1; i < rc->n_lengths; i++)
        if (rc->lengths[i] < x) x = rc->lengths[i];
    return x;
}

/* RULER generation: resources, and the shortest length each task fits. */
static int check_ruler_gen(const run_config *rc, run_env *e) {
    const char *wl = where_of(rc->ini, "benchmark", "lengths");
    int need_words = 0, need_essay = 0;
    for (int t = 0; t < rc->n_tasks; t++) {
        const ruler_task *rt = rc->tasks[t].ruler;
        need_words |= ruler_task_needs_words(rt);
        need_essay |= ruler_task_needs_essay(rt);
        if (rt->kind == RULER_QA) {
            int sq = rt->dataset == RULER_SQUAD;
            ruler_qa **q = sq ? &e->squad : &e->hotpot;
            if (!*q && !(*q = ruler_qa_load(sq ? rc->squad : rc->hotpotqa, rt->dataset))) return -1;
            if (ruler_qa_n_questions(*q) < (size_t)rc->samples)
                return ev_error("%s: %zu answerable questions, fewer than [benchmark] samples = %ld (%s asks one "
                                "per sample)", sq ? rc->squad : rc->hotpotqa, ruler_qa_n_questions(*q), rc->samples,
                                rt->name);
        }
    }
    if (need_words && !e->words && !(e->words = ruler_words_load(rc->words))) return -1;
    if (need_essay && !e->essay && !(e->essay = ruler_essay_load(rc->essays))) return -1;
    ruler_config c = {.tok = e->tok, .tmpl = e->tmpl, .bos = tok_bos_str(e->tok), .eos = tok_eos_str(e->tok),
                      .words = e->words, .essay = e->essay, .squad = e->squad, .hotpotqa = e->hotpot,
                      .seed = rc->seed};
    long L = min_length(rc);
    for (int t = 0; t < rc->n_tasks; t++) {
        long need;
        c.max_seq_length = L;
        if (ruler_min_length(&c, rc->tasks[t].ruler, &need) < 0) return -1;
        if (need > L)
            return ev_error("%s: [benchmark] lengths: %ld is too short for %s (its template and answer need %ld "
                            "tokens)", wl, L, rc->tasks[t].name, need);
    }
    return 0;
}

/* Prepared RULER files: each one there, readable, long enough, and made for
 * a length no longer than the one it is run at. */
static int check_ruler_files(const run_config *rc) {
    for (int li = 0; li < rc->n_lengths; li++)
        for (int t = 0; t < rc->n_tasks; t++) {
            char *p = ruler_file(rc, rc->lengths[li], rc->tasks[t].name);
            if (!p) return -1;
            ruler_record *r = NULL;
            size_t n = 0;
            int bad = ruler_read_jsonl(p, &r, &n) < 0;
            if (!bad && n < (size_t)rc->samples) {
                ev_error("%s: %zu records, fewer than [benchmark] samples = %ld", p, n, rc->samples);
                bad = 1;
            }
            for (size_t i = 0; !bad && i < (size_t)rc->samples; i++)
                if (r[i].length > rc->lengths[li]) {
                    ev_error("%s:%zu: length: %lld, longer than the %ld this directory is run at (prepared for "
                             "another length?)", p, jsonl_line_of(p, i), r[i].length, rc->lengths[li]);
                    bad = 1;
                }
            ruler_records_free(r, n);
            free(p);
            if (bad) return -1;
        }
    return 0;
}

/* InfiniteBench files: each one there and valid (infb_open checks the prompt
 * fields of every record), samples records with answers the official scorer
 * takes, and the shortest length holding each task's prompt without its
 * context. */
static int check_infb_files(const run_config *rc, run_env *e) {
    long L = min_length(rc);
    for (int t = 0; t < rc->n_tasks; t++) {
        const char *name = rc->tasks[t].name;
        char *p = infb_file(rc, name);
        if (!p) return -1;
        infb_data *d = infb_open(p, (infb_task)rc->tasks[t].infb);
        int bad = !d;
        if (!bad && infb_count(d) < (size_t)rc->samples) {
            ev_error("%s: %zu records, fewer than [benchmark] samples = %ld", p, infb_count(d), rc->samples);
            bad = 1;
        }
        for (size_t i = 0; !bad && i < (size_t)rc->samples; i++) {
            char where[4096];
            infb_where(d, i, where, sizeof where);
            json_t *rec = infb_record(d, i);
            double sc;
            /* the scorer on an empty prediction: fails only on a bad answer field */
            bad = !rec || metric_infbench(name, "", 0, rec, &sc, where) < 0;
            if (!bad && i == 0) {
                json_t *bare = json_deep_copy(rec);
                json_object_set_new(bare, "context", json_string(""));
                size_t len, n = 0;
                int32_t *ids = NULL;
                char *text = infb_prompt_record(bare, (infb_task)rc->tasks[t].infb, (infb_tpl)rc->infb_tpl, where, &len);
                bad = !text || infb_ids(rc, e, text, len, (size_t)1 << 40, &ids, &n) < 0;
                if (!bad && (long)n > L) {
                    ev_error("%s: [benchmark] lengths: %ld is too short for %s (its prompt without the context is "
                             "%zu tokens, %s)", where_of(rc->ini, "benchmark", "lengths"), L, name, n, where);
                    bad = 1;
                }
                free(ids);
                free(text);
                json_decref(bare);
            }
            json_decref(rec);
        }
        infb_close(d);
        free(p);
        if (bad) return -1;
    }
    return 0;
}

/* Loads the model and checks the benchmark's inputs; sizes the KV cache. */
static int env_open(const run_config *rc, run_env *e) {
    memset(e, 0, sizeof *e);
    long max_len = 0;
    for (int li = 0; li < rc->n_lengths; li++)
        if (rc->lengths[li] > max_len) max_len = rc->lengths[li];
    int need_tmpl = (rc->bench == RUN_RULER && !rc->data_dir) || (rc->bench == RUN_INFBENCH && rc->chat);
    if (!(e->m = model_open(rc->model)) || !(e->tok = tok_open_model(e->m)) ||
        (need_tmpl && !(e->tmpl = chat_template_for_model(e->m, rc->chat_template))))
        goto fail;
    if (max_len > e->m->hp.context) {
        ev_error("%s: [benchmark] lengths: %ld is longer than the model's context of %d tokens (%s)",
                 where_of(rc->ini, "benchmark", "lengths"), max_len, e->m->hp.context, rc->model);
        goto fail;
    }
    for (int t = 0; t < rc->n_tasks; t++)
        if (rc->tasks[t].max_new > e->max_new) e->max_new = rc->tasks[t].max_new;
    if (rc->bench == RUN_RULER) {
        if (rc->data_dir ? check_ruler_files(rc) < 0 : check_ruler_gen(rc, e) < 0) goto fail;
        /* RULER's lengths count prompt + tokens_to_generate; a larger max_new_tokens needs more room */
        e->n_ctx = max_len + e->max_new;
    } else if (rc->bench == RUN_INFBENCH) {
        if (check_infb_files(rc, e) < 0) goto fail;
        /* the cut prompt, re-encoded, may come out a few tokens longer (infbench.h) */
        e->n_ctx = max_len + RUN_INFB_SLACK + e->max_new;
    } else {
        if (!(e->books = pg19_open(rc->books))) goto fail;
        if (e->books->n < (size_t)rc->samples) {
            ev_error("%s: %zu books, fewer than [benchmark] samples = %ld", rc->books, e->books->n, rc->samples);
            goto fail;
        }
        e->book_ids = xcalloc(e->books->n, sizeof *e->book_ids);
        e->book_n = xcalloc(e->books->n, sizeof *e->book_n);
        e->book_key = xcalloc(e->books->n, sizeof *e->book_key);
        e->book_key_li = xmalloc(sizeof *e->book_key_li * e->books->n);
        for (size_t i = 0; i < e->books->n; i++) e->book_key_li[i] = -1;
        e->n_ctx = max_len;
    }
    if (!(e->be = backend_new(e->m, rc->backend, (int)e->n_ctx, (int)rc->threads, (int)rc->chunk))) goto fail;
    e->out = xmalloc(sizeof *e->out * (size_t)(e->max_new > 0 ? e->max_new : 1));
    return 0;
fail:
    env_close(e);
    return -1;
}

/* ---------------------------------------------------------------- the loop */

static const char *metric_for(const ruler_task *t) {
    /* RULER's synthetic/constants.py: qa uses string_match_part, the rest string_match_all */
    return t->kind == RULER_QA ? "string_match_part" : "string_match_all";
}

/* The samples of one (length, task), their prompts made on first use. */
typedef struct {
    ruler_record *rr;   /* RULER: generated or read */
    size_t n_rr;
    infb_data *d;       /* InfiniteBench */
    char *err;          /* the unit could not be made: every sample records this */
    int32_t **ids;      /* [samples] */
    size_t *nids;
    char **perr;        /* [samples]: why sample i has no prompt */
} run_unit;

static void unit_free(run_unit *u, long samples) {
    ruler_records_free(u->rr, u->n_rr);
    infb_close(u->d);
    free(u->err);
    for (long i = 0; u->ids && i < samples; i++) {
        free(u->ids[i]);
        free(u->perr[i]);
    }
    free(u->ids);
    free(u->nids);
    free(u->perr);
}

static void unit_load(const run_config *rc, run_env *e, int li, int ti, run_unit *u) {
    memset(u, 0, sizeof *u);
    u->ids = xcalloc((size_t)rc->samples, sizeof *u->ids);
    u->nids = xcalloc((size_t)rc->samples, sizeof *u->nids);
    u->perr = xcalloc((size_t)rc->samples, sizeof *u->perr);
    const run_task *t = &rc->tasks[ti];
    int bad = 0;
    if (rc->bench == RUN_RULER && !rc->data_dir) {
        ruler_config c = {.tok = e->tok, .tmpl = e->tmpl, .bos = tok_bos_str(e->tok), .eos = tok_eos_str(e->tok),
                          .words = e->words, .essay = e->essay, .squad = e->squad, .hotpotqa = e->hotpot,
                          .seed = rc->seed, .max_seq_length = rc->lengths[li]};
        bad = ruler_generate(&c, t->ruler, (size_t)rc->samples, &u->rr, NULL) < 0;
        if (!bad) u->n_rr = (size_t)rc->samples;
    } else if (rc->bench == RUN_RULER) {
        char *p = ruler_file(rc, rc->lengths[li], t->name);
        bad = !p || ruler_read_jsonl(p, &u->rr, &u->n_rr) < 0;
        if (!bad && u->n_rr < (size_t)rc->samples) bad = ev_error("%s: fewer records than before", p) < 0;
        free(p);
    } else if (rc->bench == RUN_INFBENCH) {
        char *p = infb_file(rc, t->name);
        bad = !p || !(u->d = infb_open(p, (infb_task)t->infb));
        if (!bad && infb_count(u->d) < (size_t)rc->samples) bad = ev_error("%s: fewer records than before", p) < 0;
        free(p);
    }
    if (bad) u->err = xstrdup(ev_error_last());
}

/* Sample i's prompt ids (0), or -1 with u->perr[i] set. */
static int unit_prompt(const run_config *rc, run_env *e, int li, run_unit *u, long i) {
    if (u->ids[i]) return 0;
    if (u->perr[i]) return -1;
    int r;
    if (u->rr) {
        r = ruler_prompt_ids(e, &u->rr[i], &u->ids[i], &u->nids[i]);
    } else {
        size_t len;
        char *text = infb_prompt(u->d, (size_t)i, (infb_tpl)rc->infb_tpl, &len);
        r = text ? infb_ids(rc, e, text, len, (size_t)rc->lengths[li], &u->ids[i], &u->nids[i]) : -1;
        free(text);
    }
    if (r < 0) {
        free(u->ids[i]);
        u->ids[i] = NULL;
        u->perr[i] = xstrdup(ev_error_last());
        return -1;
    }
    return 0;
}

/* Greedy generation of one prompt under one variant: *pred (heap, end token
 * dropped, invalid UTF-8 replaced). -1 after one error line. */
static int generate(const run_config *rc, run_env *e, int vi, const int32_t *ids, int np, int max_new,
                    const char *what, char **pred, int *k_new, double *pre, double *dec) {
    const model *m = e->m;
    if (np < 1) return ev_error("%s: empty prompt", what);
    if (np > m->hp.context)
        return ev_error("%s: prompt of %d tokens is longer than the model's context of %d", what, np, m->hp.context);
    if (np >= e->n_ctx)
        return ev_error("%s: prompt of %d tokens leaves no room to answer in the KV cache of %ld positions", what, np,
                        e->n_ctx);
    tok_timer tt = {0};
    double t0 = ev_now();
    int k = backend_generate(e->be, &rc->variants[vi].v, ids, np, max_new, e->out, on_tok, &tt);
    double t1 = ev_now();
    if (k < 0) return -1;
    int keep = k > 0 && model_is_eos(&m->hp, e->out[k - 1]) ? k - 1 : k;
    size_t plen;
    char *raw = tok_decode(e->tok, e->out, (size_t)keep, &plen);
    if (!raw) return -1;
    *pred = utf8_fix(raw, plen);
    free(raw);
    *k_new = k;
    *pre = tt.n ? tt.t_first - t0 : t1 - t0;
    *dec = t1 - t0 - *pre;
    return 0;
}

/* The record of a generation item (RULER, InfiniteBench). */
static json_t *item_generate(const run_config *rc, run_env *e, run_unit *u, int li, int ti, int vi, long i) {
    const run_task *t = &rc->tasks[ti];
    char what[256];
    snprintf(what, sizeof what, "%s length %ld index %ld variant %s", t->name, rc->lengths[li], i,
             rc->variants[vi].name);
    const char *err = u->err;
    char *pred = NULL, *err_own = NULL, where[4096];
    int np = 0, k_new = 0;
    double pre = 0, dec = 0, score = 0;
    json_t *rec = NULL, *refs = NULL, *opts = NULL, *data_index = NULL;
    const char *raises = NULL;
    if (!err) {
        if (u->rr) {
            refs = json_array();
            for (size_t r = 0; r < u->rr[i].n_outputs; r++) json_array_append_new(refs, json_string(u->rr[i].outputs[r]));
            if (rc->data_dir) data_index = json_integer(u->rr[i].index);
            snprintf(where, sizeof where, "%s", what);
        } else {
            infb_where(u->d, (size_t)i, where, sizeof where);
            rec = infb_record(u->d, (size_t)i);
            refs = json_incref(json_object_get(rec, "answer"));
            if (t->infb == INFB_LONGBOOK_CHOICE_ENG || t->infb == INFB_CODE_DEBUG)
                opts = json_incref(json_object_get(rec, "options"));
            data_index = json_incref(json_object_get(rec, "id"));
        }
        if (unit_prompt(rc, e, li, u, i) < 0) {
            err = u->perr[i];
        } else {
            np = (int)u->nids[i];
            if (generate(rc, e, vi, u->ids[i], np, (int)t->max_new, what, &pred, &k_new, &pre, &dec) < 0) {
                err = err_own = xstrdup(ev_error_last());
            } else {
                int mr = u->rr ? metric_ruler(metric_for(t->ruler), pred, strlen(pred),
                                              (const char *const *)u->rr[i].outputs, NULL, u->rr[i].n_outputs, &score,
                                              where)
                               : metric_infbench(t->name, pred, strlen(pred), rec, &score, where);
                if (mr < 0) {
                    score = 0;
                    err = err_own = xstrdup(ev_error_last());
                } else if (mr == METRIC_RAISES) {
                    score = 0;
                    raises = metric_raise_reason(t->name);
                }
            }
        }
    }
    json_t *j = json_object();
    json_object_set_new(j, "task", json_string(t->name));
    json_object_set_new(j, "length", json_integer(rc->lengths[li]));
    json_object_set_new(j, "index", json_integer(i));
    json_object_set_new(j, "variant", json_string(rc->variants[vi].name));
    json_object_set_new(j, "variant_params", json_string(rc->variants[vi].desc));
    json_object_set_new(j, "prompt_tokens", json_integer(np));
    json_object_set_new(j, "new_tokens", json_integer(k_new));
    json_object_set_new(j, "pred", json_string(pred ? pred : ""));
    json_object_set_new(j, rc->bench == RUN_RULER ? "outputs" : "answer", refs ? refs : json_null());
    if (opts) json_object_set_new(j, "options", opts);
    json_object_set_new(j, "score", json_real(score));
    if (err) json_object_set_new(j, "error", json_string(err));
    if (raises) json_object_set_new(j, "metric_raises", json_string(raises));
    json_object_set_new(j, "prefill_s", json_real(pre));
    json_object_set_new(j, "decode_s", json_real(dec));
    if (data_index) json_object_set_new(j, rc->bench == RUN_RULER ? "data_index" : "id", data_index);
    if (err) fprintf(stderr, "evalctl run: %s: recorded with score 0 and this error\n", what);
    free(pred);
    free(err_own);
    json_decref(rec);
    return j;
}

/* LongPPL: marks book i's key tokens at length li (the dense model's, so
 * the same for every variant: made once per book and length). */
static int mark_book(const run_config *rc, run_env *e, int li, long i) {
    ppl_key_opts key = ppl_key_official((int)rc->longppl, (int)rc->longppl_slide);
    free(e->book_key[i]);
    e->book_key[i] = xmalloc(e->book_n[i] ? e->book_n[i] : 1);
    e->book_key_li[i] = -1;
    if (ppl_key_mark(e->be, e->book_ids[i], e->book_n[i], (size_t)rc->lengths[li], (size_t)rc->max_windows, &key,
                     e->book_key[i]) < 0)
        return -1;
    e->book_key_li[i] = li;
    return 0;
}

/* The record of a PG19 item: the book under the variant at this length. */
static json_t *item_ppl(const run_config *rc, run_env *e, int li, int vi, long i) {
    char what[256];
    snprintf(what, sizeof what, "pg19 length %ld book %ld variant %s", rc->lengths[li], i, rc->variants[vi].name);
    const pg19_book *b = &e->books->books[i];
    char *err = NULL;
    ppl_result pr = {0};
    double t0 = ev_now();
    if (!e->book_ids[i] && pg19_tokenize(e->tok, b, &e->book_ids[i], &e->book_n[i]) < 0) {
        free(e->book_ids[i]);
        e->book_ids[i] = NULL;
        err = xstrdup(ev_error_last());
    } else if (rc->longppl && e->book_key_li[i] != li && mark_book(rc, e, li, i) < 0) {
        err = xstrdup(ev_error_last());
    } else {
        t0 = ev_now(); /* the record's time is the variant's own, not the marking's */
        if (ppl_score(e->be, &rc->variants[vi].v, e->book_ids[i], e->book_n[i], (size_t)rc->lengths[li],
                      (size_t)rc->max_windows, rc->longppl ? e->book_key[i] : NULL, &pr) < 0) {
            err = xstrdup(ev_error_last());
            pr = (ppl_result){0};
        } else if (pr.scored == 0) {
            ev_error("%s: %s: %zu tokens, no window of 2 to score", what, b->source, e->book_n[i]);
            err = xstrdup(ev_error_last());
        }
    }
    double t1 = ev_now();
    json_t *j = json_object();
    json_object_set_new(j, "task", json_string("pg19"));
    json_object_set_new(j, "length", json_integer(rc->lengths[li]));
    json_object_set_new(j, "index", json_integer(i));
    json_object_set_new(j, "variant", json_string(rc->variants[vi].name));
    json_object_set_new(j, "variant_params", json_string(rc->variants[vi].desc));
    json_object_set_new(j, "title", json_string(b->title));
    json_object_set_new(j, "prompt_tokens", json_integer((json_int_t)e->book_n[i]));
    json_object_set_new(j, "windows", json_integer(pr.windows));
    json_object_set_new(j, "tokens", json_integer(pr.scored));
    json_object_set_new(j, "nll", json_real(pr.nll));
    json_object_set_new(j, "score", json_real(pr.scored ? pr.nll / pr.scored : 0));
    if (rc->longppl) {
        json_object_set_new(j, "key_tokens", json_integer(pr.key));
        json_object_set_new(j, "key_nll", json_real(pr.key_nll));
    }
    if (err) json_object_set_new(j, "error", json_string(err));
    json_object_set_new(j, "prefill_s", json_real(t1 - t0));
    json_object_set_new(j, "decode_s", json_real(0));
    if (err) fprintf(stderr, "evalctl run: %s: recorded with no tokens and this error\n", what);
    free(err);
    return j;
}

/* Runs the items of this session that are not done. */
static int work(const run_config *rc, run_env *e, const run_opts *o, const char *preds_path, const unsigned char *done,
                progress *pg) {
    int fd = open(preds_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) return ev_error("%s: %s", preds_path, strerror(errno));
    int rcode = 0;
    for (int li = 0; li < rc->n_lengths && !rcode; li++)
        for (int ti = 0; ti < rc->n_tasks && !rcode; ti++) {
            int any = 0;
            for (int vi = 0; vi < rc->n_variants && !any; vi++)
                for (long i = 0; i < rc->samples && !any; i++) {
                    long long k = item_of(rc, li, ti, vi, i);
                    any = k % o->shard_n == o->shard_i && !done[k];
                }
            if (!any) continue;
            run_unit u;
            if (rc->bench != RUN_PG19) unit_load(rc, e, li, ti, &u);
            for (int vi = 0; vi < rc->n_variants && !rcode; vi++)
                for (long i = 0; i < rc->samples && !rcode; i++) {
                    long long k = item_of(rc, li, ti, vi, i);
                    if (k % o->shard_n != o->shard_i || done[k]) continue;
                    json_t *j = rc->bench == RUN_PG19 ? item_ppl(rc, e, li, vi, i) : item_generate(rc, e, &u, li, ti, vi, i);
                    char *line = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
                    json_decref(j);
                    if (!line) {
                        rcode = ev_error("%s: cannot write the record of item %lld", preds_path, k);
                        break;
                    }
                    rcode = append_line(fd, preds_path, line);
                    free(line);
                    if (rcode < 0) break;
                    pg->done++;
                    progress_show(pg, 0);
                }
            if (rc->bench != RUN_PG19) unit_free(&u, rc->samples);
        }
    close(fd);
    if (rcode == 0) progress_show(pg, 1);
    return rcode;
}


/* One writer per run file. Two runs of one config at once would both append
 * the same items, so each takes an advisory lock first: `.NAME.lock` (a shard:
 * `.NAME.shard-I-of-N.lock`) beside the run directory, not in it, so that
 * --force-new's move leaves it where it is. The lock lives as long as the
 * process; a killed run's goes with it. Returns the held descriptor, or -1
 * after one error line (busy: who holds it and what to do). */
static int lock_run(const char *dir, int shard_i, int shard_n) {
    char tag[48] = "";
    if (shard_n > 1) snprintf(tag, sizeof tag, ".shard-%d-of-%d", shard_i, shard_n);
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/') dl--;
    size_t b = dl;
    while (b > 0 && dir[b - 1] != '/') b--;
    size_t l = dl + strlen(tag) + 16;
    char *path = xmalloc(l);
    snprintf(path, l, "%.*s.%.*s%s.lock", (int)b, dir, (int)(dl - b), dir + b, tag);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        ev_error("%s: %s", path, strerror(errno));
    } else if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            ev_error("%.*s: another evalctl is writing this run%s (it holds %s); wait for it to end or stop it",
                     (int)dl, dir, *tag ? " shard" : "", path);
        else
            ev_error("%s: cannot lock: %s", path, strerror(errno));
        close(fd);
        fd = -1;
    }
    free(path);
    return fd;
}

/* Reads this writer's predictions file into recs/n and marks their items in
 * done; an item twice, or one of another shard, is an error. Only a writer
 * holding the run's lock repairs a torn last line: without it, that line may
 * be another writer's record in the making. */
static int read_done(const run_config *rc, const char *preds, const run_opts *o, int locked, run_rec **recs,
                     size_t *n, unsigned char *done) {
    if (read_preds(rc, preds, locked, recs, n) < 0) return -1;
    for (size_t i = 0; i < *n; i++) {
        long long k = (*recs)[i].item;
        if (done[k]) return ev_error("%s: a record is there twice (item %lld)", preds, k);
        if (k % o->shard_n != o->shard_i)
            return ev_error("%s: holds item %lld, which is not in shard %d/%d", preds, k, o->shard_i, o->shard_n);
        done[k] = 1;
    }
    return 0;
}

static char *preds_name(const char *dir, const run_opts *o) {
    char name[96];
    if (o->shard_n > 1) snprintf(name, sizeof name, "predictions.shard-%d-of-%d.jsonl", o->shard_i, o->shard_n);
    else snprintf(name, sizeof name, "predictions.jsonl");
    return ev_path_join(dir, name);
}

int run_execute(run_config *rc, const run_opts *o) {
    char start[32];
    iso_now(start);
    char *dir = run_dir(rc), *cfg_path = ev_path_join(dir, "config.ini"), *preds = preds_name(dir, o);
    run_rec *recs = NULL;
    size_t n = 0;
    unsigned char *done = NULL;
    int rcode = -1, aside = 0, have_env = 0, lockfd = -1;
    run_env e;
    if (ev_is_file(cfg_path)) {
        ini *old = ini_open(cfg_path);
        if (!old) goto out;
        char diff[512];
        int nd = ini_diff(old, rc->ini, diff, sizeof diff);
        ini_free(old);
        if (nd > 0 && !o->force_new) {
            ev_error("%s: the config differs from this run's (%s); use another [run] name, or --force-new to move "
                     "the old run aside", cfg_path, diff);
            goto out;
        }
        aside = nd > 0;
    }
    long long total = n_items(rc);
    done = xcalloc((size_t)total, 1);
    if (!aside && read_done(rc, preds, o, 0, &recs, &n, done) < 0) goto out;
    progress pg = {.tty = isatty(2)};
    for (long long k = 0; k < total; k++)
        if (k % o->shard_n == o->shard_i) pg.total++;
    pg.done = pg.done0 = (long long)n;
    /* the model and every input are loaded and checked before anything is
     * written, so that bad input leaves no half-made run behind */
    if (pg.done < pg.total) {
        if (env_open(rc, &e) < 0) goto out;
        have_env = 1;
        snprintf(rc->backend_used, sizeof rc->backend_used, "%s", backend_describe(e.be));
    }
    /* only now, with everything checked, the lock, and then the writes; the
     * records are read again under it, as another writer may have added some */
    if (ev_mkdirs(rc->output_dir) < 0 || (lockfd = lock_run(dir, o->shard_i, o->shard_n)) < 0) goto out;
    if (!aside) {
        recs_free(recs, n);
        recs = NULL;
        n = 0;
        memset(done, 0, (size_t)total);
        if (read_done(rc, preds, o, 1, &recs, &n, done) < 0) goto out;
        pg.done = pg.done0 = (long long)n;
    }
    if (aside) {
        char stamp[32], *to;
        time_t t = time(NULL);
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
        size_t l = strlen(dir) + strlen(stamp) + 8;
        to = xmalloc(l);
        snprintf(to, l, "%s.old-%s", dir, stamp);
        if (rename(dir, to) != 0) {
            ev_error("%s: cannot move it to %s: %s", dir, to, strerror(errno));
            free(to);
            goto out;
        }
        fprintf(stderr, "evalctl run: the old run is now %s\n", to);
        free(to);
    }
    if (ev_mkdirs(dir) < 0) goto out;
    if (!ev_is_file(cfg_path)) {
        size_t len;
        char *text = ini_format(rc->ini, &len);
        int r = write_atomic(cfg_path, text, len);
        free(text);
        if (r < 0) goto out;
    }
    if (have_env) {
        fprintf(stderr, "evalctl run: %s: %lld of %lld samples to do%s\n", dir, pg.total - pg.done, pg.total,
                n ? " (resuming)" : "");
        pg.t0 = pg.last = ev_now();
        int r = work(rc, &e, o, preds, done, &pg);
        env_close(&e);
        have_env = 0;
        if (r < 0) goto out;
        recs_free(recs, n);
        recs = NULL;
        n = 0;
        if (read_preds(rc, preds, 1, &recs, &n) < 0) goto out;
    }
    if (o->shard_n > 1) {
        char meta[64];
        snprintf(meta, sizeof meta, "meta.shard-%d-of-%d.json", o->shard_i, o->shard_n);
        if (write_meta(rc, dir, meta, start, o) < 0) goto out;
        fprintf(stderr, "evalctl run: shard %d/%d complete; `evalctl merge %s` once every shard is\n", o->shard_i,
                o->shard_n, dir);
    } else {
        if (finish(rc, dir, recs, n) < 0 || write_meta(rc, dir, "meta.json", start, o) < 0) goto out;
        fprintf(stderr, "evalctl run: %s/summary.csv\n", dir);
    }
    rcode = 0;
out:
    if (have_env) env_close(&e);
    if (lockfd >= 0) close(lockfd);
    free(done);
    recs_free(recs, n);
    free(preds);
    free(cfg_path);
    free(dir);
    return rcode;
}

int run_merge(const char *dir) {
    char start[32];
    iso_now(start);
    char *cfg_path = ev_path_join(dir, "config.ini");
    run_config rc;
    int rcode = -1;
    run_rec *recs = NULL;
    size_t n = 0;
    char **shards = NULL;
    int ns = 0, *locks = NULL;
    if (run_config_load(cfg_path, NULL, 0, &rc) < 0) {
        free(cfg_path);
        return -1;
    }
    char *pp = ev_path_join(dir, "predictions.jsonl");
    int lockfd = lock_run(dir, 0, 1);
    if (lockfd < 0) goto out;
    if (read_preds(&rc, pp, 0, &recs, &n) < 0) goto out;
    DIR *d = opendir(dir);
    if (!d) {
        ev_error("%s: %s", dir, strerror(errno));
        goto out;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        int a, b, k = 0;
        if (sscanf(de->d_name, "predictions.shard-%d-of-%d.jsonl%n", &a, &b, &k) == 2 && k &&
            de->d_name[k] == 0) {
            int fd = lock_run(dir, a, b); /* a shard still running is not merged */
            if (fd < 0) {
                closedir(d);
                goto out;
            }
            shards = xrealloc(shards, sizeof *shards * (size_t)(ns + 1));
            locks = xrealloc(locks, sizeof *locks * (size_t)(ns + 1));
            locks[ns] = fd;
            shards[ns++] = ev_path_join(dir, de->d_name);
        }
    }
    closedir(d);
    if (ns) qsort(shards, (size_t)ns, sizeof *shards, cmp_str);
    for (int i = 0; i < ns; i++)
        if (read_preds(&rc, shards[i], 0, &recs, &n) < 0) goto out;
    run_opts o = {0, 1, 0};
    if (finish(&rc, dir, recs, n) < 0 || write_meta(&rc, dir, "meta.json", start, &o) < 0) goto out;
    for (int i = 0; i < ns; i++) unlink(shards[i]);
    fprintf(stderr, "evalctl merge: %zu records from %d shard file(s) -> %s\n", n, ns, pp);
    rcode = 0;
out:
    for (int i = 0; i < ns; i++) {
        close(locks[i]);
        free(shards[i]);
    }
    free(locks);
    if (lockfd >= 0) close(lockfd);
    free(shards);
    free(pp);
    recs_free(recs, n);
    free(cfg_path);
    run_config_free(&rc);
    return rcode;
}
