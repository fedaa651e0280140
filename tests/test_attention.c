/* test_attention.c - the attention variants against a brute force written straight
 * from the definitions in attention.h, plus chunk invariance, causality, thread
 * count invariance, parameter handling, attn_density, and the PyTorch fixtures
 * of tools/gen_attn_fixtures.py (tests/fixtures/attn/manifest.json).
 *
 * The brute force builds, per row, a boolean key mask for the base variant and
 * the softmax in double; the Delta and recompute rules are then applied row by
 * row exactly as worded (cut = S % gamma + max(128, gamma), anchors g*gamma below
 * S - cut). It shares no code with attention.c.
 *
 * Tolerance against the double brute force: |ours - ref| <= 2e-5 + 1e-4 |ref|.
 * Outputs are convex combinations of v (|v| < 1), so every term is O(1): fp32
 * dot products over head_dim <= 128 give score errors ~1e-6, which move softmax
 * weights by the same relative amount; the float sums of up to ~700 exp terms
 * and weighted values add ~sqrt(n) eps ~ 1e-6 typically, and Delta rows add
 * three such outputs. 2e-5 leaves a 5-10x margin over the worst error seen
 * (printed as "max error"). Chunk, thread and causality checks are bitwise:
 * attention.c is built so that a row's arithmetic never depends on its company. */
#include "attention.h"
#include "parallel.h"
#include "test.h"
#include "util.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *VARIANTS[] = {"dense", "streaming", "block", "streaming+delta", "block+delta",
                                 "streaming+recompute", "block+recompute"};
#define N_VARIANTS 7

/* ------------------------------------------------------------ random data */

static uint64_t rng_state;
static double rnd(void) { /* uniform [0, 1) from splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

typedef struct {
    int S, n_dec, H, KV, D;
    int sink, window, block, tail, gamma, decode_sparse;
} shape;

typedef struct {
    int n; /* S + n_dec rows */
    float *q, *k, *v;
} inputs;

static inputs make_inputs(const shape *c, uint64_t seed) {
    inputs in;
    in.n = c->S + c->n_dec;
    size_t nq = (size_t)in.n * c->H * c->D, nk = (size_t)in.n * c->KV * c->D;
    in.q = xmalloc(nq * sizeof(float));
    in.k = xmalloc(nk * sizeof(float));
    in.v = xmalloc(nk * sizeof(float));
    rng_state = seed;
    /* q, k in [-2, 2): scores q.k/sqrt(D) spread over a few units, so softmaxes range from flat to peaked */
    for (size_t i = 0; i < nq; i++) in.q[i] = (float)(4 * rnd() - 2);
    for (size_t i = 0; i < nk; i++) in.k[i] = (float)(4 * rnd() - 2);
    for (size_t i = 0; i < nk; i++) in.v[i] = (float)(2 * rnd() - 1);
    return in;
}

static void free_inputs(inputs *in) {
    free(in->q);
    free(in->k);
    free(in->v);
}

static void set_params(attn_variant *v, const shape *c) {
    v->sink = c->sink;
    v->window = c->window;
    v->block = c->block;
    v->tail = c->tail;
    v->gamma = c->gamma;
    v->decode_sparse = c->decode_sparse;
}

/* ------------------------------------------------------------ brute force */

/* Does prompt row i see key j <= i under the base variant's sparse mask? */
static int bf_sparse_sees(const attn_variant *v, int S, int i, int j) {
    if (v->base == ATTN_STREAMING) return j < v->sink || i - j < v->window;
    if (v->base == ATTN_BLOCK) {
        if (i >= S - v->tail) return 1;
        return j / v->block == 0 || j / v->block == i / v->block;
    }
    return 1;
}

/* Attention of row i, head h over the keys where mask[j] (j <= i), in double. */
static void bf_attend(const shape *c, const inputs *in, int i, int h, const unsigned char *mask, double *o) {
    int D = c->D, kv = h / (c->H / c->KV);
    const float *q = in->q + ((size_t)i * c->H + h) * D;
    double *sc = xmalloc((size_t)(i + 1) * sizeof *sc), mx = -INFINITY, sum = 0;
    for (int j = 0; j <= i; j++) {
        if (!mask[j]) continue;
        const float *k = in->k + ((size_t)j * c->KV + kv) * D;
        double s = 0;
        for (int d = 0; d < D; d++) s += (double)q[d] * k[d];
        sc[j] = s / sqrt((double)D);
        if (sc[j] > mx) mx = sc[j];
    }
    for (int d = 0; d < D; d++) o[d] = 0;
    for (int j = 0; j <= i; j++) {
        if (!mask[j]) continue;
        double p = exp(sc[j] - mx);
        sum += p;
        const float *vv = in->v + ((size_t)j * c->KV + kv) * D;
        for (int d = 0; d < D; d++) o[d] += p * vv[d];
    }
    for (int d = 0; d < D; d++) o[d] /= sum;
    free(sc);
}

/* dense[i] for every row, and sparse[i]: the base's sparse mask for prompt rows,
 * sink + window for decode rows. [n][H][D] doubles each. */
typedef struct { double *dense, *sparse; } bf_parts;

static double *bf_compute(const attn_variant *v, const shape *c, const inputs *in, int dense) {
    size_t row = (size_t)c->H * c->D;
    double *out = xmalloc((size_t)in->n * row * sizeof(double));
    unsigned char *mask = xmalloc((size_t)in->n);
    for (int i = 0; i < in->n; i++) {
        for (int j = 0; j <= i; j++)
            mask[j] = dense ? 1 : i < c->S ? bf_sparse_sees(v, c->S, i, j) : (j < v->sink || i - j < v->window);
        for (int h = 0; h < c->H; h++) bf_attend(c, in, i, h, mask, out + (size_t)i * row + (size_t)h * c->D);
    }
    free(mask);
    return out;
}

/* The variant's output of every row, from the definitions. */
static void bf_variant(const attn_variant *v, const shape *c, const inputs *in, const bf_parts *p,
                       int layer_dense, double *out) {
    size_t row = (size_t)c->H * c->D;
    int S = c->S, g = v->gamma;
    int cut = S % g + (g > 128 ? g : 128);
    for (int i = 0; i < in->n; i++) {
        double *o = out + (size_t)i * row;
        const double *dn = p->dense + (size_t)i * row, *sp = p->sparse + (size_t)i * row;
        if (i >= S) { /* decode */
            const double *src = (v->decode_sparse && v->base != ATTN_DENSE && !layer_dense) ? sp : dn;
            memcpy(o, src, row * sizeof *o);
            continue;
        }
        if (layer_dense || v->base == ATTN_DENSE) {
            memcpy(o, dn, row * sizeof *o);
            continue;
        }
        if (v->fix == ATTN_FIX_NONE) {
            memcpy(o, sp, row * sizeof *o);
        } else if (i >= S - cut) {
            memcpy(o, dn, row * sizeof *o); /* the last cut rows, or everything when S <= cut */
        } else if (v->fix == ATTN_FIX_RECOMPUTE) {
            memcpy(o, i % g == 0 ? dn : sp, row * sizeof *o);
        } else {
            int a = i / g * g; /* anchor of the group */
            const double *da = p->dense + (size_t)a * row, *sa = p->sparse + (size_t)a * row;
            for (size_t x = 0; x < row; x++) o[x] = sp[x] + (da[x] - sa[x]);
        }
    }
}

/* ------------------------------------------------------------ running ours */

/* One attn_layer call on rows [p, p + n) with buffers of exactly the size the
 * API promises (q and out of the chunk; a cache of p + n keys, except for
 * one-row calls, which would make chunks of 1 quadratic), so that ASan sees any
 * access outside them. */
static int call_exact(attn_ctx *a, par_pool *pool, int layer, const shape *c, const inputs *in, int p, int n,
                      float *out) {
    size_t row = (size_t)c->H * c->D, krow = (size_t)c->KV * c->D;
    float *q = xmalloc((size_t)n * row * sizeof *q), *o = xmalloc((size_t)n * row * sizeof *o);
    float *k = in->k, *v = in->v;
    memcpy(q, in->q + (size_t)p * row, (size_t)n * row * sizeof *q);
    if (n > 1) {
        k = xmalloc((size_t)(p + n) * krow * sizeof *k);
        v = xmalloc((size_t)(p + n) * krow * sizeof *v);
        memcpy(k, in->k, (size_t)(p + n) * krow * sizeof *k);
        memcpy(v, in->v, (size_t)(p + n) * krow * sizeof *v);
    }
    int rc = attn_layer(a, pool, layer, q, p, n, k, v, o);
    memcpy(out + (size_t)p * row, o, (size_t)n * row * sizeof *o);
    free(q);
    free(o);
    if (n > 1) {
        free(k);
        free(v);
    }
    return rc;
}

/* Runs a 2-layer context on `layer`, prefill in chunks of `chunk` rows (0: the
 * whole prompt in one call; -1: prompt and decode rows in one call), then the
 * decode rows one at a time. Returns 0 when every call succeeded. */
static int run_ours(const attn_variant *v, const shape *c, const inputs *in, int layer, int chunk,
                    par_pool *pool, float *out) {
    attn_ctx *a = attn_new(v, 2, c->H, c->KV, c->D, c->S);
    if (!a) return -1;
    int rc = 0, end = chunk < 0 ? in->n : c->S;
    int step = chunk <= 0 ? (end > 0 ? end : 1) : chunk;
    for (int p = 0; p < end && rc == 0; p += step)
        rc = call_exact(a, pool, layer, c, in, p, end - p < step ? end - p : step, out);
    for (int p = end; p < in->n && rc == 0; p++) rc = call_exact(a, pool, layer, c, in, p, 1, out);
    attn_free(a);
    return rc;
}

static double max_err_seen;

/* Compares fp32 outputs with the reference; one CHECK per (variant, shape). */
static void compare(const char *what, const shape *c, int n_rows, const float *ours, const double *ref) {
    size_t n = (size_t)n_rows * c->H * c->D, bad = 0, first = 0;
    double worst = 0;
    for (size_t x = 0; x < n; x++) {
        double e = fabs((double)ours[x] - ref[x]);
        if (!(e <= 1e-5 + 1e-4 * fabs(ref[x]))) {
            if (!bad) first = x;
            bad++;
        }
        if (e > worst || e != e) worst = e;
    }
    if (worst > max_err_seen) max_err_seen = worst;
    size_t row = (size_t)c->H * c->D;
    CHECK(bad == 0, "%s S=%d H=%d KV=%d D=%d: %zu values off, first row %zu head %zu: %.9g vs %.9g", what,
          c->S, c->H, c->KV, c->D, bad, first / row, first % row / c->D, bad ? ours[first] : 0.0,
          bad ? ref[first] : 0.0);
}

/* ------------------------------------------------------------ the tests */

static const shape SHAPES[] = {
    /*  S  dec  H KV   D  sink win blk tail gamma dsparse */
    {1, 2, 2, 2, 64, 4, 8, 16, 4, 8, 0},
    {2, 2, 3, 1, 128, 0, 1, 1, 0, 1, 1},        /* window 1, block 1, gamma 1, sink 0 */
    {63, 3, 4, 1, 64, 4, 16, 16, 5, 8, 0},      /* S < cut: fixes are dense */
    {64, 1, 3, 3, 64, 0, 5, 7, 64, 64, 1},      /* tail >= S */
    {65, 2, 6, 2, 128, 3, 100, 64, 1, 5, 0},    /* window >= S, GQA 3 */
    {127, 2, 4, 1, 64, 1, 9, 20, 0, 3, 1},      /* tail 0, GQA 4 */
    {200, 3, 3, 1, 64, 4, 24, 32, 10, 8, 0},    /* P = 72 */
    {200, 2, 4, 4, 128, 0, 13, 50, 0, 1, 1},    /* gamma 1: every row below P an anchor */
    {333, 2, 6, 2, 64, 16, 40, 48, 20, 64, 0},  /* S % gamma = 13, P = 192 */
    {333, 2, 4, 1, 64, 5, 30, 33, 3, 10, 1},    /* gamma does not divide 128: partial last group */
    {300, 1, 3, 1, 64, 8, 20, 40, 0, 150, 0},   /* gamma > 128: cut = S % gamma + gamma */
    {700, 2, 4, 1, 64, 32, 100, 128, 50, 64, 0} /* P = 512 */
};
#define N_SHAPES (int)(sizeof SHAPES / sizeof SHAPES[0])

static void test_brute_force(void) {
    for (int si = 0; si < N_SHAPES; si++) {
        const shape *c = &SHAPES[si];
        inputs in = make_inputs(c, 1000 + si);
        size_t n = (size_t)in.n * c->H * c->D;
        double *ref = xmalloc(n * sizeof *ref);
        float *ours = xmalloc(n * sizeof *ours);
        bf_parts parts[3] = {{0}}; /* per base; the dense part is shared */
        double *dense = NULL;
        for (int vi = 0; vi < N_VARIANTS; vi++) {
            attn_variant v;
            CHECK(attn_variant_parse(VARIANTS[vi], &v) == 0, "%s", VARIANTS[vi]);
            set_params(&v, c);
            if (!dense) dense = bf_compute(&v, c, &in, 1);
            if (!parts[v.base].dense) {
                parts[v.base].dense = dense;
                parts[v.base].sparse = v.base == ATTN_DENSE ? dense : bf_compute(&v, c, &in, 0);
            }
            /* layer 1 follows the variant; layer 0 is listed in dense_layers (tested on some shapes) */
            for (int dl = 0; dl < (si % 3 == 0 ? 2 : 1); dl++) {
                v.n_dense_layers = 1;
                v.dense_layers[0] = 0;
                bf_variant(&v, c, &in, &parts[v.base], dl, ref);
                memset(ours, 0xff, n * sizeof *ours); /* NaN: rows left unwritten fail */
                char what[96];
                snprintf(what, sizeof what, "%s%s", VARIANTS[vi], dl ? " (dense layer)" : "");
                CHECK(run_ours(&v, c, &in, dl ? 0 : 1, 0, NULL, ours) == 0, "%s", what);
                compare(what, c, in.n, ours, ref);
            }
        }
        for (int b = 0; b < 3; b++)
            if (parts[b].sparse != dense) free(parts[b].sparse);
        free(dense);
        free(ref);
        free(ours);
        free_inputs(&in);
    }
    printf("attention: max |error| vs double brute force %.3g\n", max_err_seen);
}

/* Chunks of 1, 7, 64, S, and prompt + decode in one call; pools of 1 and 3
 * threads: all bit-identical to one chunk on one thread. */
static void test_chunks(void) {
    static const int pick[] = {6, 8, 9, 11};
    static const int chunks[] = {1, 7, 64, -1};
    par_pool *pool = par_new(3);
    for (size_t s = 0; s < sizeof pick / sizeof pick[0]; s++) {
        const shape *c = &SHAPES[pick[s]];
        inputs in = make_inputs(c, 2000 + s);
        size_t n = (size_t)in.n * c->H * c->D;
        float *base = xmalloc(n * sizeof *base), *got = xmalloc(n * sizeof *got);
        for (int vi = 0; vi < N_VARIANTS; vi++) {
            attn_variant v;
            attn_variant_parse(VARIANTS[vi], &v);
            set_params(&v, c);
            CHECK(run_ours(&v, c, &in, 1, 0, NULL, base) == 0, "%s", VARIANTS[vi]);
            for (size_t ci = 0; ci < sizeof chunks / sizeof chunks[0]; ci++) {
                memset(got, 0, n * sizeof *got);
                CHECK(run_ours(&v, c, &in, 1, chunks[ci], NULL, got) == 0, "%s", VARIANTS[vi]);
                CHECK(memcmp(base, got, n * sizeof *got) == 0, "%s S=%d: chunks of %d differ", VARIANTS[vi], c->S,
                      chunks[ci]);
            }
            memset(got, 0, n * sizeof *got);
            CHECK(run_ours(&v, c, &in, 1, 0, pool, got) == 0, "%s", VARIANTS[vi]);
            CHECK(memcmp(base, got, n * sizeof *got) == 0, "%s S=%d: 3 threads differ", VARIANTS[vi], c->S);
            memset(got, 0, n * sizeof *got);
            CHECK(run_ours(&v, c, &in, 1, 13, pool, got) == 0, "%s", VARIANTS[vi]);
            CHECK(memcmp(base, got, n * sizeof *got) == 0, "%s S=%d: 3 threads, chunks of 13 differ", VARIANTS[vi],
                  c->S);
        }
        free(base);
        free(got);
        free_inputs(&in);
    }
    par_free(pool);
}

/* Changing token t's q, k and v never changes a row before t, and does change row t. */
static void test_causality(void) {
    const shape c = {150, 3, 3, 1, 64, 3, 20, 32, 10, 8, 1};
    static const int toks[] = {0, 5, 64, 100, 141, 149, 151};
    inputs in = make_inputs(&c, 77);
    size_t row = (size_t)c.H * c.D, n = (size_t)in.n * row;
    float *base = xmalloc(n * sizeof *base), *got = xmalloc(n * sizeof *got);
    for (int vi = 0; vi < N_VARIANTS; vi++) {
        attn_variant v;
        attn_variant_parse(VARIANTS[vi], &v);
        set_params(&v, &c);
        run_ours(&v, &c, &in, 0, 0, NULL, base);
        for (size_t ti = 0; ti < sizeof toks / sizeof toks[0]; ti++) {
            int t = toks[ti];
            inputs p = make_inputs(&c, 77);
            for (size_t x = 0; x < row; x++) p.q[(size_t)t * row + x] += 0.5f;
            for (int x = 0; x < c.KV * c.D; x++) {
                p.k[(size_t)t * c.KV * c.D + x] -= 0.75f;
                p.v[(size_t)t * c.KV * c.D + x] *= -1;
            }
            run_ours(&v, &c, &p, 0, 0, NULL, got);
            CHECK(memcmp(base, got, (size_t)t * row * sizeof *got) == 0, "%s: token %d changed an earlier row",
                  VARIANTS[vi], t);
            CHECK(memcmp(base + (size_t)t * row, got + (size_t)t * row, row * sizeof *got) != 0,
                  "%s: token %d did not change its own row", VARIANTS[vi], t);
            free_inputs(&p);
        }
    }
    free(base);
    free(got);
    free_inputs(&in);
}

static void test_params(void) {
    attn_variant v;
    char buf[256];
    fprintf(stderr, "(expected errors follow)\n");
    for (int vi = 0; vi < N_VARIANTS; vi++) {
        CHECK(attn_variant_parse(VARIANTS[vi], &v) == 0, "%s", VARIANTS[vi]);
        CHECK_EQ_STR(attn_variant_name(&v), VARIANTS[vi]);
        CHECK(attn_variant_check(&v) == 0, "%s", VARIANTS[vi]);
    }
    CHECK(attn_variant_parse("streaming+", &v) == -1, "prefix accepted");
    CHECK(attn_variant_parse("dense+delta", &v) == -1, "dense+delta accepted");
    CHECK(attn_variant_parse("", &v) == -1, "empty accepted");

    attn_variant_parse("streaming+delta", &v);
    CHECK_EQ_INT(v.sink, 1024);
    CHECK_EQ_INT(v.window, 2048);
    CHECK_EQ_INT(v.block, 2048);
    CHECK_EQ_INT(v.tail, 128);
    CHECK_EQ_INT(v.gamma, 64);
    CHECK_EQ_INT(v.decode_sparse, 0);
    CHECK_EQ_INT(v.n_dense_layers, 0);
    attn_variant_describe(&v, buf, sizeof buf);
    CHECK_EQ_STR(buf, "variant=streaming+delta sink=1024 window=2048 gamma=64 decode=dense");
    CHECK(attn_variant_set(&v, "dense_layers", "0,1,2") == 0, "dense_layers");
    CHECK(attn_variant_set(&v, "decode", "sparse") == 0, "decode");
    CHECK(attn_variant_set(&v, "gamma", "32") == 0, "gamma");
    attn_variant_describe(&v, buf, sizeof buf);
    CHECK_EQ_STR(buf, "variant=streaming+delta sink=1024 window=2048 gamma=32 decode=sparse dense_layers=0,1,2");
    attn_variant_describe(&v, buf, 10);
    CHECK_EQ_STR(buf, "variant=s");
    attn_variant_parse("block+recompute", &v);
    attn_variant_describe(&v, buf, sizeof buf);
    CHECK_EQ_STR(buf, "variant=block+recompute block=2048 tail=128 gamma=64 decode=dense");
    attn_variant_parse("dense", &v);
    attn_variant_describe(&v, buf, sizeof buf);
    CHECK_EQ_STR(buf, "variant=dense");

    attn_variant_parse("block", &v);
    CHECK(attn_variant_set(&v, "dense_layers", "") == 0 && v.n_dense_layers == 0, "empty list");
    CHECK(attn_variant_set(&v, "dense_layers", "1,,2") == -1, "1,,2 accepted");
    CHECK(attn_variant_set(&v, "dense_layers", "1,") == -1, "1, accepted");
    CHECK(attn_variant_set(&v, "dense_layers", "-1") == -1, "-1 accepted");
    CHECK(attn_variant_set(&v, "gamma", "x") == -1, "gamma x accepted");
    CHECK(attn_variant_set(&v, "gamma", "99999999999") == -1, "overflow accepted");
    CHECK(attn_variant_set(&v, "sink", "-3") == -1, "negative sink accepted");
    CHECK(attn_variant_set(&v, "decode", "maybe") == -1, "decode maybe accepted");
    CHECK(attn_variant_set(&v, "nope", "1") == -1, "unknown key accepted");
    CHECK(attn_variant_set(&v, "window", "0") == 0 && attn_variant_check(&v) == -1, "window 0 passes the check");

    static const struct { int field; int value; } bad[] = {{0, -1}, {1, 0}, {2, 0}, {3, -1}, {4, 0}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        attn_variant_parse("streaming+delta", &v);
        int *f[] = {&v.sink, &v.window, &v.block, &v.tail, &v.gamma};
        *f[bad[i].field] = bad[i].value;
        CHECK(attn_variant_check(&v) == -1, "bad parameter %zu passes", i);
        CHECK(attn_new(&v, 2, 4, 2, 64, 100) == NULL, "attn_new accepted bad parameter %zu", i);
    }
    attn_variant_parse("dense", &v);
    v.fix = ATTN_FIX_DELTA;
    CHECK(attn_variant_check(&v) == -1, "dense+delta passes the check");
    attn_variant_parse("streaming", &v);
    CHECK(attn_new(&v, 2, 6, 4, 64, 100) == NULL, "6 heads over 4 kv heads accepted");
    CHECK(attn_new(&v, 2, 4, 2, 0, 100) == NULL, "head dim 0 accepted");
    v.n_dense_layers = 1;
    v.dense_layers[0] = 2;
    CHECK(attn_new(&v, 2, 4, 2, 64, 100) == NULL, "dense layer out of range accepted");
}

/* A +delta chunk that skips ahead must be refused, not silently use a stale Delta. */
static void test_order(void) {
    shape c = {300, 0, 2, 1, 64, 2, 10, 16, 4, 8, 0};
    inputs in = make_inputs(&c, 5);
    attn_variant v;
    attn_variant_parse("streaming+delta", &v);
    set_params(&v, &c);
    size_t row = (size_t)c.H * c.D;
    float *out = xmalloc((size_t)in.n * row * sizeof *out);
    attn_ctx *a = attn_new(&v, 2, c.H, c.KV, c.D, c.S);
    CHECK(a != NULL, "attn_new");
    CHECK(attn_layer(a, NULL, 0, in.q, 0, 50, in.k, in.v, out) == 0, "first chunk");
    CHECK(attn_layer(a, NULL, 0, in.q + 60 * row, 60, 10, in.k, in.v, out) == -1, "skipped chunk accepted");
    CHECK(attn_layer(a, NULL, 1, in.q + 50 * row, 50, 10, in.k, in.v, out) == -1, "layer 1 without its first chunk");
    CHECK(attn_layer(a, NULL, 0, in.q + 50 * row, 50, 10, in.k, in.v, out) == 0, "next chunk refused");
    CHECK(attn_layer(a, NULL, 2, in.q, 0, 1, in.k, in.v, out) == -1, "layer 2 of 2 accepted");
    CHECK(attn_layer(a, NULL, 0, in.q, -1, 1, in.k, in.v, out) == -1, "negative pos0 accepted");
    CHECK(attn_layer(a, NULL, 0, in.q, 0, 0, in.k, in.v, out) == 0, "empty chunk refused");
    attn_free(a);
    attn_free(NULL);
    free(out);
    free_inputs(&in);
}

/* attn_density against a count over explicit masks. */
static void test_density(void) {
    static const int lens[] = {1, 50, 129, 300, 1000};
    for (int vi = 0; vi < N_VARIANTS; vi++) {
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            attn_variant v;
            attn_variant_parse(VARIANTS[vi], &v);
            v.sink = 7;
            v.window = 40;
            v.block = 64;
            v.tail = 30;
            v.gamma = 16;
            int S = lens[li], cut = S % v.gamma + 128;
            double entries = 0;
            for (int i = 0; i < S; i++) {
                long sp = 0;
                for (int j = 0; j <= i; j++) sp += bf_sparse_sees(&v, S, i, j);
                int anchor = i % v.gamma == 0, dense_row = v.base == ATTN_DENSE || (v.fix != ATTN_FIX_NONE && i >= S - cut);
                if (dense_row) entries += i + 1;
                else if (v.fix == ATTN_FIX_DELTA && anchor) entries += sp + i + 1;
                else if (v.fix == ATTN_FIX_RECOMPUTE && anchor) entries += i + 1;
                else entries += sp;
            }
            double want = entries / ((double)S * (S + 1) / 2);
            CHECK_NEAR(attn_density(&v, S), want, 1e-12, 0);
        }
    }
    attn_variant v;
    attn_variant_parse("dense", &v);
    CHECK(attn_density(&v, 4096) == 1.0, "dense density");
    attn_variant_parse("streaming+delta", &v);
    /* long prompt: about 2 (sink + window) / S + 1/gamma */
    double d = attn_density(&v, 131072), approx = 2.0 * 3072 / 131072 + 1.0 / 64;
    CHECK(fabs(d - approx) < 0.1 * approx, "streaming+delta at 128K: %g, expected about %g", d, approx);
}

/* ------------------------------------------------------------ fixtures */

static float *read_f32(const char *dir, const char *name, size_t n) {
    char *path = ev_path_join(dir, name);
    ev_map m;
    float *x = NULL;
    if (ev_map_file(path, &m) == 0) {
        if (m.size == n * sizeof(float)) {
            x = xmalloc(m.size);
            memcpy(x, m.data, m.size); /* little-endian fp32, as the generator writes */
        } else {
            fprintf(stderr, "%s: %zu bytes, expected %zu\n", path, m.size, n * sizeof(float));
        }
        ev_unmap(&m);
    }
    free(path);
    return x;
}

static int jint(json_t *o, const char *key) { return (int)json_integer_value(json_object_get(o, key)); }

/* The manifest lists cases: inputs (q, k, v for S + n_decode rows) and, per
 * variant, the outputs PyTorch computed in float64. Until the lead commits the
 * generated files, the manifest is absent and this part only prints a note; a
 * directory with data files but no manifest is a failure. */
static void test_fixtures(void) {
    const char *dir = getenv("ATTN_FIXTURE_DIR");
    if (!dir) dir = FIXTURE("attn");
    char *mpath = ev_path_join(dir, "manifest.json");
    if (!ev_is_file(mpath)) {
        char *probe = ev_path_join(dir, "case0.in.bin");
        CHECK(!ev_is_file(probe), "%s has data files but no manifest.json", dir);
        free(probe);
        printf("attention: fixture missing: %s (run tools/gen_attn_fixtures.py with torch); skipped\n", mpath);
        free(mpath);
        return;
    }
    json_error_t jerr;
    json_t *root = json_load_file(mpath, 0, &jerr);
    CHECK(root != NULL, "%s: %s (line %d)", mpath, jerr.text, jerr.line);
    if (!root) {
        free(mpath);
        return;
    }
    json_t *cases = json_object_get(root, "cases");
    CHECK(json_is_array(cases) && json_array_size(cases) > 0, "%s: no cases", mpath);
    int n_checked = 0;
    size_t ci;
    json_t *cj;
    json_array_foreach(cases, ci, cj) {
        shape c = {jint(cj, "S"), jint(cj, "n_decode"), jint(cj, "n_heads"), jint(cj, "n_kv_heads"),
                   jint(cj, "head_dim"), 0, 0, 0, 0, 0, 0};
        inputs in = {c.S + c.n_dec, NULL, NULL, NULL};
        size_t nq = (size_t)in.n * c.H * c.D, nk = (size_t)in.n * c.KV * c.D;
        const char *inf = json_string_value(json_object_get(cj, "inputs"));
        float *all = inf && c.H > 0 && c.KV > 0 && c.D > 0 ? read_f32(dir, inf, nq + 2 * nk) : NULL;
        CHECK(all != NULL, "case %zu: inputs %s unreadable", ci, inf ? inf : "(none)");
        if (!all) continue;
        in.q = all;
        in.k = all + nq;
        in.v = all + nq + nk;
        float *ours = xmalloc(nq * sizeof *ours);
        double *ref = xmalloc(nq * sizeof *ref);
        size_t oi;
        json_t *oj;
        json_array_foreach(json_object_get(cj, "outputs"), oi, oj) {
            attn_variant v;
            const char *name = json_string_value(json_object_get(oj, "variant"));
            const char *of = json_string_value(json_object_get(oj, "file"));
            CHECK(name && attn_variant_parse(name, &v) == 0, "case %zu output %zu: bad variant", ci, oi);
            if (!name || attn_variant_parse(name, &v) != 0 || !of) continue;
            c.sink = jint(oj, "sink");
            c.window = jint(oj, "window");
            c.block = jint(oj, "block");
            c.tail = jint(oj, "tail");
            c.gamma = jint(oj, "gamma");
            c.decode_sparse = jint(oj, "decode_sparse");
            set_params(&v, &c);
            int dense_layer = json_is_true(json_object_get(oj, "dense_layer"));
            v.n_dense_layers = 1;
            v.dense_layers[0] = 0;
            float *want = read_f32(dir, of, nq);
            CHECK(want != NULL, "case %zu: %s unreadable", ci, of);
            if (!want) continue;
            for (size_t x = 0; x < nq; x++) ref[x] = want[x];
            CHECK(run_ours(&v, &c, &in, dense_layer ? 0 : 1, 7, NULL, ours) == 0, "fixture %s", of);
            char what[128];
            snprintf(what, sizeof what, "fixture %s (%s)", of, name);
            compare(what, &c, in.n, ours, ref);
            n_checked++;
            free(want);
        }
        free(ours);
        free(ref);
        free(all);
    }
    printf("attention: %d fixture outputs from %s compared\n", n_checked, mpath);
    CHECK(n_checked > 0, "no fixture outputs");
    json_decref(root);
    free(mpath);
}

int main(void) {
    static const struct { const char *name; void (*fn)(void); } tests[] = {
        {"params", test_params},         {"density", test_density}, {"order", test_order},
        {"brute force", test_brute_force}, {"chunks", test_chunks}, {"causality", test_causality},
        {"fixtures", test_fixtures},
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        double t = ev_now();
        tests[i].fn();
        if (getenv("ATTN_TEST_TIMES")) printf("attention: %s %.2f s\n", tests[i].name, ev_now() - t);
    }
    return test_done("attention");
}
