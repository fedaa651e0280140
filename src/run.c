/* run.c - `evalctl run` and `evalctl merge`: config, work loop, crash-safe
 * predictions, tables. See run.h for the item order and the files. */
#include "run.h"

#include "chat.h"
#include "forward.h"
#include "metric.h"
#include "model.h"
#include "stats.h"
#include "tokenizer.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define RUN_PERMS 100000 /* Monte Carlo resamples where 2^n is larger (exact below) */
#define RUN_BOOT 10000   /* bootstrap resamples */

/* ------------------------------------------------------------------ config */

static const char *const keys_run[] = {"name", "model", "backend", "threads", "chunk", "chat_template",
                                       "output_dir", "max_new_tokens", NULL};
static const char *const keys_bench[] = {"name", "tasks", "lengths", "samples", "seed",
                                         "essays", "words", "squad", "hotpotqa", NULL};
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
    long seed = 42;
    const char *bn = NULL, *v;
    char **items = NULL;
    int n = 0;
    if (ini_check(c, schema, sizeof schema / sizeof schema[0]) < 0) goto fail;
    if (ini_require(c, "run", "name") < 0 || ini_require(c, "run", "model") < 0 ||
        ini_require(c, "benchmark", "name") < 0 || ini_require(c, "benchmark", "tasks") < 0 ||
        ini_require(c, "benchmark", "lengths") < 0)
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
        ini_get_str(c, "benchmark", "squad", &rc->squad) < 0 || ini_get_str(c, "benchmark", "hotpotqa", &rc->hotpotqa) < 0)
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
    if (strcmp(bn, "ruler")) {
        ev_error("%s: [benchmark] name: '%s' is not a benchmark run supports (ruler)", where_of(c, "benchmark", "name"), bn);
        goto fail;
    }
    v = where_of(c, "benchmark", "tasks");
    if (ini_get_list(c, "benchmark", "tasks", &items, &n) < 0) goto fail;
    if (n == 0) {
        ev_error("%s: [benchmark] tasks: empty list", v);
        goto fail;
    }
    rc->tasks = xcalloc((size_t)n, sizeof *rc->tasks);
    for (int i = 0; i < n; i++) {
        if (!(rc->tasks[i] = ruler_task_find(items[i]))) {
            ev_error("%s: [benchmark] tasks: unknown RULER task '%s'", v, items[i]);
            goto fail;
        }
        for (int j = 0; j < i; j++)
            if (rc->tasks[j] == rc->tasks[i]) {
                ev_error("%s: [benchmark] tasks: '%s' twice", v, items[i]);
                goto fail;
            }
        if (rc->tasks[i]->kind == RULER_QA &&
            !(rc->tasks[i]->dataset == RULER_SQUAD ? rc->squad : rc->hotpotqa)) {
            ev_error("%s: [benchmark] tasks: %s needs [benchmark] %s (the dataset's JSON)", v, items[i],
                     rc->tasks[i]->dataset == RULER_SQUAD ? "squad" : "hotpotqa");
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
    rc->lengths = xcalloc((size_t)n, sizeof *rc->lengths);
    for (int i = 0; i < n; i++) {
        char *end;
        errno = 0;
        long x = strtol(items[i], &end, 10);
        if (end == items[i] || *end || errno || x < 64 || x > (1L << 24)) {
            ev_error("%s: [benchmark] lengths: '%s' is not a length in tokens (64 .. 16777216)", v, items[i]);
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
static long long record_item(const run_config *rc, json_t *j, const char *where, double *score) {
    const char *task = json_string_value(json_object_get(j, "task"));
    const char *var = json_string_value(json_object_get(j, "variant"));
    json_t *len = json_object_get(j, "length"), *idx = json_object_get(j, "index"), *sc = json_object_get(j, "score");
    if (!task || !var || !json_is_integer(len) || !json_is_integer(idx) || !json_is_number(sc))
        return ev_error("%s: not a prediction record (task, variant, length, index, score)", where);
    int li = -1, ti = -1, vi = -1;
    for (int i = 0; i < rc->n_lengths; i++)
        if (rc->lengths[i] == json_integer_value(len)) li = i;
    for (int i = 0; i < rc->n_tasks; i++)
        if (!strcmp(rc->tasks[i]->name, task)) ti = i;
    for (int i = 0; i < rc->n_variants; i++)
        if (!strcmp(rc->variants[i].name, var)) vi = i;
    long long x = json_integer_value(idx);
    if (li < 0 || ti < 0 || vi < 0 || x < 0 || x >= rc->samples)
        return ev_error("%s: record %s/%lld/%s/%lld is not an item of the config", where, task,
                        (long long)json_integer_value(len), var, x);
    *score = json_number_value(sc);
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
        double score = 0;
        long long k = record_item(rc, j, where, &score);
        json_decref(j);
        if (k < 0) {
            free(text);
            return -1;
        }
        *recs = xrealloc(*recs, sizeof **recs * (*n + 1));
        (*recs)[*n].item = k;
        (*recs)[*n].score = score;
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

static int cmp_rec(const void *a, const void *b) {
    long long x = ((const run_rec *)a)->item, y = ((const run_rec *)b)->item;
    return x < y ? -1 : x > y;
}

/* --------------------------------------------------------------- writing */

/* Writes text to path through path.tmp + fsync + rename. */
static int write_atomic(const char *path, const char *text, size_t n) {
    size_t pl = strlen(path);
    char *tmp = xmalloc(pl + 5);
    memcpy(tmp, path, pl);
    memcpy(tmp + pl, ".tmp", 5);
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

static int is_qa(const ruler_task *t) { return t->kind == RULER_QA; }

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

/* summary.csv, pvalues.csv, samples.csv from the complete, sorted records
 * (recs[k].item == k). */
static int write_tables(const run_config *rc, const char *dir, const run_rec *recs) {
    long S = rc->samples;
    int rcode = -1;
    sbuf sum = {0}, pv = {0}, smp = {0};
    double *x = xmalloc(sizeof *x * (size_t)S * (size_t)rc->n_tasks), *y = xmalloc(sizeof *y * (size_t)S * (size_t)rc->n_tasks);
    char num[64], lo_s[64], hi_s[64];
    sb_printf(&sum, "length,task,variant,n,mean,ci_lo,ci_hi\r\n");
    for (int li = 0; li < rc->n_lengths; li++) {
        for (int ti = 0; ti <= rc->n_tasks; ti++) /* ti == n_tasks: the average rows */
            for (int vi = 0; vi < rc->n_variants; vi++) {
                double mean, lo, hi;
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
                snprintf(num, sizeof num, "%.4f", mean);
                snprintf(lo_s, sizeof lo_s, "%.4f", lo);
                snprintf(hi_s, sizeof hi_s, "%.4f", hi);
                sb_printf(&sum, "%ld,", rc->lengths[li]);
                csv_field(&sum, ti < rc->n_tasks ? rc->tasks[ti]->name : "average", 0);
                csv_field(&sum, rc->variants[vi].name, 0);
                sb_printf(&sum, "%ld,%s,%s,%s\r\n", S, num, lo_s, hi_s);
            }
    }
    sb_printf(&pv, "length,group,variant,base,n,mean_base,mean_variant,mean_diff,p_value,method\r\n");
    for (int li = 0; li < rc->n_lengths; li++)
        for (int vi = 0; vi < rc->n_variants; vi++) {
            int bi = base_of(rc, vi);
            if (bi < 0) continue;
            for (int g = 0; g < 2; g++) { /* 0: the synthetic tasks, 1: QA */
                int n = 0;
                for (int ti = 0; ti < rc->n_tasks; ti++) {
                    if (is_qa(rc->tasks[ti]) != g) continue;
                    for (long i = 0; i < S; i++) {
                        x[n] = recs[item_of(rc, li, ti, bi, i)].score;
                        y[n++] = recs[item_of(rc, li, ti, vi, i)].score;
                    }
                }
                if (n == 0) continue;
                stats_perm_result r;
                if (stats_permtest(x, y, n, RUN_PERMS, rc->seed, &r) < 0) goto out;
                sb_printf(&pv, "%ld,%s,", rc->lengths[li], g ? "qa" : "synthetic");
                csv_field(&pv, rc->variants[vi].name, 0);
                csv_field(&pv, rc->variants[bi].name, 0);
                sb_printf(&pv, "%d,%.4f,%.4f,%.4f,%.6g,%s\r\n", n, r.mean_a, r.mean_b, r.mean_diff, r.p_value,
                          r.exact ? "exact" : "monte_carlo");
            }
        }
    sb_printf(&smp, "length,task,index,variant,variant_params,prompt_tokens,new_tokens,score,prefill_s,decode_s,"
                    "pred,outputs\r\n");
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
        char *outs = json_dumps(json_object_get(j, "outputs"), JSON_COMPACT | JSON_ENCODE_ANY);
        csv_field(&smp, outs ? outs : "", 1);
        free(outs);
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
                            rc->tasks[ti]->name, rc->variants[vi].name, idx);
        }
    if ((long long)n != n_items(rc)) {
        long long k = 0;
        while (k < (long long)n && recs[k].item == k) k++;
        int li, ti, vi;
        long idx;
        item_parts(rc, k, &li, &ti, &vi, &idx);
        return ev_error("%s: %lld of %lld items missing (first: length %ld task %s variant %s index %ld); run the "
                        "missing shard(s) again", dir, n_items(rc) - (long long)n, n_items(rc), rc->lengths[li],
                        rc->tasks[ti]->name, rc->variants[vi].name, idx);
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
                          "uname", machine, "cores", (json_int_t)sysconf(_SC_NPROCESSORS_ONLN), "backend", "cpu",
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

static const char *metric_for(const ruler_task *t) {
    /* RULER's synthetic/constants.py: qa uses string_match_part, the rest string_match_all */
    return t->kind == RULER_QA ? "string_match_part" : "string_match_all";
}

/* Runs the work of one session; *recs gets the records already there. */
static int work(run_config *rc, const run_opts *o, const char *preds_path, const unsigned char *done,
                long long todo_total, progress *pg) {
    int rcode = -1;
    model *m = NULL;
    tok_tokenizer *tok = NULL;
    chat_template *tmpl = NULL;
    ruler_words *words = NULL;
    ruler_essay *essay = NULL;
    ruler_qa *squad = NULL, *hotpot = NULL;
    fwd_ctx *f = NULL;
    int32_t *out = NULL;
    int fd = -1;
    (void)todo_total;
    if (!(m = model_open(rc->model)) || !(tok = tok_open_model(m)) || !(tmpl = chat_template_for_model(m, rc->chat_template)))
        goto done;
    int need_words = 0, need_essay = 0;
    for (int t = 0; t < rc->n_tasks; t++) {
        need_words |= ruler_task_needs_words(rc->tasks[t]);
        need_essay |= ruler_task_needs_essay(rc->tasks[t]);
        if (rc->tasks[t]->kind == RULER_QA && rc->tasks[t]->dataset == RULER_SQUAD && !squad &&
            !(squad = ruler_qa_load(rc->squad, RULER_SQUAD)))
            goto done;
        if (rc->tasks[t]->kind == RULER_QA && rc->tasks[t]->dataset == RULER_HOTPOTQA && !hotpot &&
            !(hotpot = ruler_qa_load(rc->hotpotqa, RULER_HOTPOTQA)))
            goto done;
    }
    if (need_words && !(words = ruler_words_load(rc->words))) goto done;
    if (need_essay && !(essay = ruler_essay_load(rc->essays))) goto done;
    long max_len = 0, max_new = 0;
    for (int li = 0; li < rc->n_lengths; li++)
        if (rc->lengths[li] > max_len) max_len = rc->lengths[li];
    for (int t = 0; t < rc->n_tasks; t++) {
        long k = rc->max_new > 0 ? rc->max_new : rc->tasks[t]->tokens_to_generate;
        if (k > max_new) max_new = k;
    }
    if (max_len > m->hp.context) {
        ev_error("%s: length %ld is longer than the model's context of %d tokens", rc->model, max_len, m->hp.context);
        goto done;
    }
    /* RULER's lengths count prompt + tokens_to_generate; a larger max_new_tokens needs more room */
    long n_ctx = max_len + max_new;
    if (!(f = fwd_new(m, (int)n_ctx, (int)rc->threads))) goto done;
    out = xmalloc(sizeof *out * (size_t)max_new);
    if ((fd = open(preds_path, O_WRONLY | O_CREAT | O_APPEND, 0644)) < 0) {
        ev_error("%s: %s", preds_path, strerror(errno));
        goto done;
    }
    ruler_config c = {.tok = tok, .tmpl = tmpl, .bos = tok_bos_str(tok), .eos = tok_eos_str(tok), .words = words,
                      .essay = essay, .squad = squad, .hotpotqa = hotpot, .seed = rc->seed};
    for (int li = 0; li < rc->n_lengths; li++)
        for (int ti = 0; ti < rc->n_tasks; ti++) {
            const ruler_task *t = rc->tasks[ti];
            int any = 0;
            for (int vi = 0; vi < rc->n_variants && !any; vi++)
                for (long i = 0; i < rc->samples && !any; i++) {
                    long long k = item_of(rc, li, ti, vi, i);
                    any = k % o->shard_n == o->shard_i && !done[k];
                }
            if (!any) continue;
            c.max_seq_length = rc->lengths[li];
            ruler_record *recs = NULL;
            if (ruler_generate(&c, t, (size_t)rc->samples, &recs, NULL) < 0) goto done;
            int32_t **ids = xcalloc((size_t)rc->samples, sizeof *ids);
            size_t *nids = xcalloc((size_t)rc->samples, sizeof *nids);
            int ok = 1;
            for (int vi = 0; vi < rc->n_variants && ok; vi++)
                for (long i = 0; i < rc->samples && ok; i++) {
                    long long k = item_of(rc, li, ti, vi, i);
                    if (k % o->shard_n != o->shard_i || done[k]) continue;
                    ok = 0;
                    if (!ids[i]) {
                        /* input + answer_prefix as RULER's call_api.py feeds it; the chat
                         * template already wrote any BOS, so none is added */
                        size_t la = strlen(recs[i].input), lb = strlen(recs[i].answer_prefix);
                        char *p = xmalloc(la + lb + 1);
                        memcpy(p, recs[i].input, la);
                        memcpy(p + la, recs[i].answer_prefix, lb + 1);
                        int e = tok_encode(tok, p, la + lb, 0, &ids[i], &nids[i]);
                        free(p);
                        if (e < 0) break;
                    }
                    int np = (int)nids[i];
                    int mx = (int)(rc->max_new > 0 ? rc->max_new : t->tokens_to_generate);
                    attn_ctx *a = attn_new(&rc->variants[vi].v, m->hp.n_layers, m->hp.n_heads, m->hp.n_kv_heads,
                                           m->hp.head_dim, np);
                    if (!a) break;
                    tok_timer tt = {0};
                    double t0 = ev_now();
                    int k_new = fwd_generate(f, a, ids[i], np, (int)rc->chunk, mx, out, on_tok, &tt);
                    double t1 = ev_now();
                    attn_free(a);
                    if (k_new < 0) break;
                    int keep = k_new;
                    for (int e = 0; keep > 0 && e < m->hp.n_eos; e++)
                        if (out[keep - 1] == m->hp.eos_ids[e]) {
                            keep--;
                            break;
                        }
                    size_t plen;
                    char *raw = tok_decode(tok, out, (size_t)keep, &plen);
                    if (!raw) break;
                    char *pred = utf8_fix(raw, plen);
                    free(raw);
                    double score;
                    char where[128];
                    snprintf(where, sizeof where, "%s length %ld index %ld", t->name, rc->lengths[li], i);
                    int mr = metric_ruler(metric_for(t), pred, strlen(pred), (const char *const *)recs[i].outputs,
                                          NULL, recs[i].n_outputs, &score, where);
                    if (mr < 0) {
                        free(pred);
                        break;
                    }
                    json_t *outs = json_array();
                    for (size_t r = 0; r < recs[i].n_outputs; r++) json_array_append_new(outs, json_string(recs[i].outputs[r]));
                    double pre = tt.n ? tt.t_first - t0 : t1 - t0;
                    json_t *j = json_pack("{s:s, s:i, s:i, s:s, s:s, s:i, s:i, s:s, s:o, s:f, s:f, s:f}", "task", t->name,
                                          "length", (int)rc->lengths[li], "index", (int)i, "variant",
                                          rc->variants[vi].name, "variant_params", rc->variants[vi].desc,
                                          "prompt_tokens", np, "new_tokens", k_new, "pred", pred, "outputs", outs,
                                          "score", score, "prefill_s", pre, "decode_s", t1 - t0 - pre);
                    free(pred);
                    if (!j) {
                        ev_error("%s: cannot build the record of %s", preds_path, where);
                        break;
                    }
                    char *line = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
                    json_decref(j);
                    int w = append_line(fd, preds_path, line);
                    free(line);
                    if (w < 0) break;
                    pg->done++;
                    progress_show(pg, 0);
                    ok = 1;
                }
            for (long i = 0; i < rc->samples; i++) free(ids[i]);
            free(ids);
            free(nids);
            ruler_records_free(recs, (size_t)rc->samples);
            if (!ok) goto done;
        }
    progress_show(pg, 1);
    rcode = 0;
done:
    if (fd >= 0) close(fd);
    free(out);
    fwd_free(f);
    ruler_qa_free(squad);
    ruler_qa_free(hotpot);
    ruler_essay_free(essay);
    ruler_words_free(words);
    chat_template_free(tmpl);
    tok_free(tok);
    model_close(m);
    return rcode;
}

static int mkdirs(const char *path) {
    char *p = xstrdup(path);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            if (mkdir(p, 0755) != 0 && errno != EEXIST) {
                ev_error("%s: mkdir: %s", p, strerror(errno));
                free(p);
                return -1;
            }
            *s = '/';
        }
    int r = mkdir(p, 0755) != 0 && errno != EEXIST ? ev_error("%s: mkdir: %s", p, strerror(errno)) : 0;
    free(p);
    return r;
}

static char *preds_name(const char *dir, const run_opts *o) {
    char name[96];
    if (o->shard_n > 1) snprintf(name, sizeof name, "predictions.shard-%d-of-%d.jsonl", o->shard_i, o->shard_n);
    else snprintf(name, sizeof name, "predictions.jsonl");
    return ev_path_join(dir, name);
}

int run_execute(run_config *rc, const run_opts *o) {
    if (!strcmp(rc->backend, "cuda"))
        return ev_error("%s: [run] backend = cuda: this build/machine has no CUDA backend yet (use cpu or auto)",
                        where_of(rc->ini, "run", "backend"));
    char start[32];
    iso_now(start);
    char *dir = run_dir(rc), *cfg_path = ev_path_join(dir, "config.ini"), *preds = NULL;
    run_rec *recs = NULL;
    size_t n = 0;
    unsigned char *done = NULL;
    int rcode = -1;
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
        if (nd > 0) {
            char stamp[32], *aside;
            time_t t = time(NULL);
            struct tm tm;
            localtime_r(&t, &tm);
            strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
            size_t l = strlen(dir) + strlen(stamp) + 8;
            aside = xmalloc(l);
            snprintf(aside, l, "%s.old-%s", dir, stamp);
            if (rename(dir, aside) != 0) {
                ev_error("%s: cannot move it to %s: %s", dir, aside, strerror(errno));
                free(aside);
                goto out;
            }
            fprintf(stderr, "evalctl run: the old run is now %s\n", aside);
            free(aside);
        }
    }
    if (mkdirs(dir) < 0) goto out;
    if (!ev_is_file(cfg_path)) {
        size_t len;
        char *text = ini_format(rc->ini, &len);
        int r = write_atomic(cfg_path, text, len);
        free(text);
        if (r < 0) goto out;
    }
    preds = preds_name(dir, o);
    if (read_preds(rc, preds, 1, &recs, &n) < 0) goto out;
    long long total = n_items(rc);
    done = xcalloc((size_t)total, 1);
    for (size_t i = 0; i < n; i++) {
        if (done[recs[i].item]) {
            ev_error("%s: a record is there twice (item %lld)", preds, recs[i].item);
            goto out;
        }
        if (recs[i].item % o->shard_n != o->shard_i) {
            ev_error("%s: holds item %lld, which is not in shard %d/%d", preds, recs[i].item, o->shard_i, o->shard_n);
            goto out;
        }
        done[recs[i].item] = 1;
    }
    progress pg = {.t0 = ev_now(), .tty = isatty(2)};
    for (long long k = 0; k < total; k++)
        if (k % o->shard_n == o->shard_i) pg.total++;
    pg.done = pg.done0 = (long long)n;
    if (pg.done < pg.total) {
        fprintf(stderr, "evalctl run: %s: %lld of %lld samples to do%s\n", dir, pg.total - pg.done, pg.total,
                n ? " (resuming)" : "");
        if (work(rc, o, preds, done, pg.total - pg.done, &pg) < 0) goto out;
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
    int ns = 0;
    if (run_config_load(cfg_path, NULL, 0, &rc) < 0) {
        free(cfg_path);
        return -1;
    }
    char *pp = ev_path_join(dir, "predictions.jsonl");
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
            shards = xrealloc(shards, sizeof *shards * (size_t)(ns + 1));
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
    for (int i = 0; i < ns; i++) free(shards[i]);
    free(shards);
    free(pp);
    recs_free(recs, n);
    free(cfg_path);
    run_config_free(&rc);
    return rcode;
}
