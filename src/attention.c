/* attention.c - causal attention of one layer with the Delta Attention variants;
 * the definitions are in attention.h.
 *
 * How a call runs: every query row gets a mask kind (dense, sink+window, block)
 * from the variant; the mask of a row is at most two key ranges, so a row costs
 * what its mask allows (streaming O(sink + window), block O(2 block)). Rows are
 * cut into (row block, head group) tasks for par_for; a task walks the keys in
 * tiles of TILE at absolute offsets, transposes each tile's keys once for all
 * its queries (the heads sharing a kv head, up to RMAX rows), and keeps an
 * online softmax per query (running max M, sum L, output accumulated in place in
 * out), with a vectorised exp. A row only ever visits the tiles its own mask
 * touches, in increasing order, with the same arithmetic whatever rows share its
 * task: so chunked prefill is bit-identical to one chunk, and results do not
 * depend on the thread count.
 *
 * +delta runs in two passes: first the chunk's anchor rows (every gamma-th row
 * below P) are computed twice, dense and sparse, into scratch, giving Delta per
 * group; then every row is computed and rows below P add their group's Delta.
 * The last group's Delta is copied into the layer's slot for the next chunk. */
#include "attention.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- variants */

int attn_variant_parse(const char *name, attn_variant *v) {
    static const struct { const char *name; attn_base base; attn_fix fix; } names[] = {
        {"dense", ATTN_DENSE, ATTN_FIX_NONE},
        {"streaming", ATTN_STREAMING, ATTN_FIX_NONE},
        {"block", ATTN_BLOCK, ATTN_FIX_NONE},
        {"streaming+delta", ATTN_STREAMING, ATTN_FIX_DELTA},
        {"block+delta", ATTN_BLOCK, ATTN_FIX_DELTA},
        {"streaming+recompute", ATTN_STREAMING, ATTN_FIX_RECOMPUTE},
        {"block+recompute", ATTN_BLOCK, ATTN_FIX_RECOMPUTE},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(name, names[i].name) != 0) continue;
        memset(v, 0, sizeof *v);
        v->base = names[i].base;
        v->fix = names[i].fix;
        v->sink = 1024;
        v->window = 2048;
        v->block = 2048;
        v->tail = 128;
        v->gamma = 64;
        return 0;
    }
    return -1;
}

const char *attn_variant_name(const attn_variant *v) {
    static const char *names[3][3] = {
        {"dense", "dense+delta", "dense+recompute"},
        {"streaming", "streaming+delta", "streaming+recompute"},
        {"block", "block+delta", "block+recompute"},
    };
    if ((unsigned)v->base > 2 || (unsigned)v->fix > 2) return "invalid";
    return names[v->base][v->fix];
}

void attn_variant_describe(const attn_variant *v, char *buf, size_t n) {
    if (n == 0) return;
    size_t off = 0;
#define PUT(...)                                                                \
    do {                                                                        \
        if (off < n) {                                                          \
            int w_ = snprintf(buf + off, n - off, __VA_ARGS__);                 \
            off = w_ < 0 ? n : off + (size_t)w_;                                \
        }                                                                       \
    } while (0)
    PUT("variant=%s", attn_variant_name(v));
    if (v->base == ATTN_STREAMING) PUT(" sink=%d window=%d", v->sink, v->window);
    if (v->base == ATTN_BLOCK) PUT(" block=%d tail=%d", v->block, v->tail);
    if (v->fix != ATTN_FIX_NONE) PUT(" gamma=%d", v->gamma);
    if (v->base != ATTN_DENSE) {
        if (v->decode_sparse && v->base == ATTN_BLOCK) PUT(" decode=sparse sink=%d window=%d", v->sink, v->window);
        else PUT(" decode=%s", v->decode_sparse ? "sparse" : "dense");
    }
    if (v->n_dense_layers > 0) {
        PUT(" dense_layers=");
        for (int i = 0; i < v->n_dense_layers && i < ATTN_MAX_DENSE_LAYERS; i++)
            PUT("%s%d", i ? "," : "", v->dense_layers[i]);
    }
#undef PUT
}

/* A whole decimal int in [0, INT_MAX]; -1 when s is not one. */
static long parse_count(const char *s) {
    if (*s < '0' || *s > '9') return -1;
    long x = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return -1;
        x = x * 10 + (*s - '0');
        if (x > 0x7fffffff) return -1;
    }
    return x;
}

int attn_variant_set(attn_variant *v, const char *key, const char *value) {
    int *field = NULL;
    if (strcmp(key, "sink") == 0) field = &v->sink;
    else if (strcmp(key, "window") == 0) field = &v->window;
    else if (strcmp(key, "block") == 0) field = &v->block;
    else if (strcmp(key, "tail") == 0) field = &v->tail;
    else if (strcmp(key, "gamma") == 0) field = &v->gamma;
    if (field) {
        long x = parse_count(value);
        if (x < 0) return ev_error("attention: %s: expected a non-negative integer, got \"%s\"", key, value);
        *field = (int)x;
        return 0;
    }
    if (strcmp(key, "decode") == 0) {
        if (strcmp(value, "dense") == 0) v->decode_sparse = 0;
        else if (strcmp(value, "sparse") == 0) v->decode_sparse = 1;
        else return ev_error("attention: decode: expected dense or sparse, got \"%s\"", value);
        return 0;
    }
    if (strcmp(key, "dense_layers") == 0) {
        int n = 0, list[ATTN_MAX_DENSE_LAYERS];
        const char *p = value;
        while (*p) {
            const char *e = strchr(p, ',');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            char tmp[16];
            if (len == 0 || len >= sizeof tmp) return ev_error("attention: dense_layers: bad list \"%s\"", value);
            memcpy(tmp, p, len);
            tmp[len] = 0;
            long x = parse_count(tmp);
            if (x < 0) return ev_error("attention: dense_layers: bad layer \"%s\"", tmp);
            if (n == ATTN_MAX_DENSE_LAYERS)
                return ev_error("attention: dense_layers: more than %d layers", ATTN_MAX_DENSE_LAYERS);
            list[n++] = (int)x;
            if (!e) break;
            p = e + 1;
            if (!*p) return ev_error("attention: dense_layers: bad list \"%s\"", value);
        }
        v->n_dense_layers = n;
        memcpy(v->dense_layers, list, (size_t)n * sizeof list[0]);
        return 0;
    }
    return ev_error("attention: unknown parameter \"%s\" (sink, window, block, tail, gamma, decode, dense_layers)", key);
}

int attn_variant_check(const attn_variant *v) {
    if ((unsigned)v->base > ATTN_BLOCK) return ev_error("attention: unknown base variant %d", (int)v->base);
    if ((unsigned)v->fix > ATTN_FIX_RECOMPUTE) return ev_error("attention: unknown correction %d", (int)v->fix);
    if (v->base == ATTN_DENSE && v->fix != ATTN_FIX_NONE)
        return ev_error("attention: %s: delta/recompute need a sparse base (streaming or block)", attn_variant_name(v));
    if (v->sink < 0) return ev_error("attention: sink must be >= 0 (got %d)", v->sink);
    if (v->window < 1) return ev_error("attention: window must be >= 1 (got %d)", v->window);
    if (v->block < 1) return ev_error("attention: block must be >= 1 (got %d)", v->block);
    if (v->tail < 0) return ev_error("attention: tail must be >= 0 (got %d)", v->tail);
    if (v->gamma < 1) return ev_error("attention: gamma must be >= 1 (got %d)", v->gamma);
    if (v->decode_sparse != 0 && v->decode_sparse != 1)
        return ev_error("attention: decode_sparse must be 0 or 1 (got %d)", v->decode_sparse);
    if (v->n_dense_layers < 0 || v->n_dense_layers > ATTN_MAX_DENSE_LAYERS)
        return ev_error("attention: %d dense layers (at most %d)", v->n_dense_layers, ATTN_MAX_DENSE_LAYERS);
    for (int i = 0; i < v->n_dense_layers; i++)
        if (v->dense_layers[i] < 0) return ev_error("attention: dense layer %d is negative", v->dense_layers[i]);
    return 0;
}

/* ---------------------------------------------------------------- masks */

typedef enum { MK_DENSE, MK_SINKWIN, MK_BLOCK } mask_kind;

long attn_fix_start(const attn_variant *v, int S) {
    int g = v->gamma;
    long cut = (long)(S % g) + (g > 128 ? g : 128);
    return (long)S - cut;
}

/* The sparse pass's mask for prompt row i (the tail of block is dense). */
static mask_kind sparse_kind(const attn_variant *v, int S, long i) {
    switch (v->base) {
    case ATTN_STREAMING: return MK_SINKWIN;
    case ATTN_BLOCK: return i >= (long)S - v->tail ? MK_DENSE : MK_BLOCK;
    default: return MK_DENSE;
    }
}

/* The keys row i sees under a kind, as at most two sorted disjoint ranges
 * [lo, hi); returns how many. */
static int mask_ranges(const attn_variant *v, mask_kind kind, long i, long lo[2], long hi[2]) {
    if (kind == MK_SINKWIN) {
        long w0 = i - v->window + 1; /* first key of the window */
        long s = v->sink;
        if (w0 <= s) { lo[0] = 0; hi[0] = i + 1; return 1; }
        if (s == 0) { lo[0] = w0; hi[0] = i + 1; return 1; }
        lo[0] = 0; hi[0] = s; lo[1] = w0; hi[1] = i + 1;
        return 2;
    }
    if (kind == MK_BLOCK) {
        long b = v->block, start = i / b * b;
        if (start <= b) { lo[0] = 0; hi[0] = i + 1; return 1; } /* block 0 or 1: contiguous */
        lo[0] = 0; hi[0] = b; lo[1] = start; hi[1] = i + 1;
        return 2;
    }
    lo[0] = 0;
    hi[0] = i + 1;
    return 1;
}

static long mask_count(const attn_variant *v, mask_kind kind, long i) {
    long lo[2], hi[2], c = 0;
    int n = mask_ranges(v, kind, i, lo, hi);
    for (int r = 0; r < n; r++) c += hi[r] - lo[r];
    return c;
}

static int layer_is_dense(const attn_variant *v, int layer) {
    for (int i = 0; i < v->n_dense_layers; i++)
        if (v->dense_layers[i] == layer) return 1;
    return 0;
}

double attn_density(const attn_variant *v, int S) {
    if (S <= 0) return 0;
    long P = v->fix != ATTN_FIX_NONE ? attn_fix_start(v, S) : S;
    double done = 0;
    for (long i = 0; i < S; i++) {
        long dense = i + 1;
        if (v->base == ATTN_DENSE || i >= P) { done += (double)dense; continue; }
        long sparse = mask_count(v, sparse_kind(v, S, i), i);
        int anchor = i % v->gamma == 0;
        if (v->fix == ATTN_FIX_DELTA && anchor) done += (double)(sparse + dense);
        else if (v->fix == ATTN_FIX_RECOMPUTE && anchor) done += (double)dense;
        else done += (double)sparse;
    }
    return done / ((double)S * (double)(S + 1) / 2);
}

/* ---------------------------------------------------------------- context */

#define HD_MAX 256 /* largest head_dim (a task keeps a transposed key tile on its stack) */

struct attn_ctx {
    attn_variant v;
    int n_layers, n_heads, n_kv, hd, S;
    long P;          /* rows >= P are dense under +delta/+recompute */
    float scale;     /* 1/sqrt(head_dim) */
    float *slot;     /* +delta: [n_layers][n_heads][hd], Delta of the latest anchor */
    long *slot_group; /* [n_layers]: which group slot holds, -1 none */
    float *scratch;  /* +delta: anchors of one chunk, 3 x [n_anchor][n_heads][hd] */
    size_t scratch_cap;
};

attn_ctx *attn_new(const attn_variant *v, int n_layers, int n_heads, int n_kv_heads,
                   int head_dim, int prompt_len) {
    if (attn_variant_check(v) < 0) return NULL;
    if (n_layers < 1 || n_heads < 1 || n_kv_heads < 1 || head_dim < 1 || prompt_len < 0) {
        ev_error("attention: bad shape (layers %d, heads %d, kv heads %d, head dim %d, prompt %d)",
                 n_layers, n_heads, n_kv_heads, head_dim, prompt_len);
        return NULL;
    }
    if (head_dim > HD_MAX) {
        ev_error("attention: head dim %d is over the supported %d", head_dim, HD_MAX);
        return NULL;
    }
    if (n_heads % n_kv_heads != 0) {
        ev_error("attention: %d heads is not a multiple of %d kv heads", n_heads, n_kv_heads);
        return NULL;
    }
    for (int i = 0; i < v->n_dense_layers; i++)
        if (v->dense_layers[i] >= n_layers) {
            ev_error("attention: dense layer %d out of range (the model has %d layers)", v->dense_layers[i], n_layers);
            return NULL;
        }
    attn_ctx *a = xcalloc(1, sizeof *a);
    a->v = *v;
    a->n_layers = n_layers;
    a->n_heads = n_heads;
    a->n_kv = n_kv_heads;
    a->hd = head_dim;
    a->S = prompt_len;
    a->P = v->fix != ATTN_FIX_NONE ? attn_fix_start(v, prompt_len) : prompt_len;
    a->scale = (float)(1.0 / sqrt((double)head_dim));
    if (v->fix == ATTN_FIX_DELTA) {
        size_t n;
        if (ev_mul_size((size_t)n_layers * (size_t)n_heads, (size_t)head_dim, &n) < 0)
            ev_fatal("attention: Delta slots overflow");
        a->slot = xcalloc(n, sizeof *a->slot);
        a->slot_group = xmalloc((size_t)n_layers * sizeof *a->slot_group);
        for (int l = 0; l < n_layers; l++) a->slot_group[l] = -1;
    }
    return a;
}

void attn_free(attn_ctx *a) {
    if (!a) return;
    free(a->slot);
    free(a->slot_group);
    free(a->scratch);
    free(a);
}

/* ---------------------------------------------------------------- kernel */

#if !defined(__GNUC__)
#error "attention.c uses GCC/clang vector extensions"
#endif
#if !defined(__clang__)
/* Let GCC fuse a*b+c as clang does by default (-std=c11 turns contraction off). */
#pragma GCC optimize("fp-contract=fast")
#endif

#if defined(__AVX__)
#include <immintrin.h>
#endif

#define TILE 64     /* keys per tile: tile boundaries are absolute multiples of TILE */
#define NCH (TILE / 8) /* eight-lane chunks per tile */
#define RMAX 64     /* rows per task */
#define QMAX 512    /* queries (rows x heads) per task */

/* One parallel pass over rows pos0, pos0 + pstride, ... (n_rows of them). */
typedef struct {
    const attn_ctx *a;
    const float *q;  /* the chunk's q; the row at position p is q + (p - qpos0) * n_heads * hd */
    long qpos0;
    const float *k, *v;
    float *out;      /* job row r goes to out + r * n_heads * hd */
    long pos0, pstride;
    int n_rows;
    int layer_dense;
    int force;       /* -1: the row rule; 0: dense; 1: the sparse pass */
    int rpt, hpt;    /* rows and heads per task */
    int n_hgroups, n_rblocks;
    const float *delta_chunk; /* Delta of groups g >= g_first, [g - g_first][n_heads][hd] */
    long g_first;
    const float *delta_slot;  /* Delta of group g_first - 1 (anchored in an earlier chunk) */
} job;

/* The mask row `pos` gets in job j, and whether it adds its group's Delta. */
static mask_kind row_kind(const job *j, long pos, int *add_delta) {
    const attn_ctx *a = j->a;
    const attn_variant *v = &a->v;
    *add_delta = 0;
    if (j->force == 0) return MK_DENSE;
    if (j->force == 1) return sparse_kind(v, a->S, pos);
    if (j->layer_dense || v->base == ATTN_DENSE) return MK_DENSE;
    if (pos >= a->S) return v->decode_sparse ? MK_SINKWIN : MK_DENSE;
    if (pos >= a->P) return MK_DENSE; /* P == S without a fix */
    if (v->fix == ATTN_FIX_RECOMPUTE && pos % v->gamma == 0) return MK_DENSE;
    if (v->fix == ATTN_FIX_DELTA) *add_delta = 1;
    return sparse_kind(v, a->S, pos);
}

/* Eight-lane vectors (GCC/clang extension): C loops with float reductions do not
 * vectorise without -ffast-math, these do, and keep a fixed summation order.
 * Built without AVX (the fuzz build), the compilers warn that passing them
 * changes the ABI; these helpers are static and inlined, so no ABI is involved. */
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float v8f __attribute__((vector_size(32)));
typedef int v8i __attribute__((vector_size(32)));
static inline v8f load8(const float *p) { v8f x; memcpy(&x, p, sizeof x); return x; }
static inline void store8(float *p, v8f x) { memcpy(p, &x, sizeof x); }
static inline v8f splat(float x) { return (v8f){x, x, x, x, x, x, x, x}; }
static inline v8i splati(int x) { return (v8i){x, x, x, x, x, x, x, x}; }
static inline v8f select8(v8i m, v8f a, v8f b) { return (v8f)(((v8i)a & m) | ((v8i)b & ~m)); }
static inline float hmax8(v8f x) {
    float a = x[0] > x[4] ? x[0] : x[4], b = x[1] > x[5] ? x[1] : x[5];
    float c = x[2] > x[6] ? x[2] : x[6], d = x[3] > x[7] ? x[3] : x[7];
    a = a > b ? a : b;
    c = c > d ? c : d;
    return a > c ? a : c;
}
static inline float hsum8(v8f x) { return ((x[0] + x[4]) + (x[1] + x[5])) + ((x[2] + x[6]) + (x[3] + x[7])); }

/* e^x for x <= 0, relative error ~2e-7; 0 for x < -87 (and -inf). Cody-Waite
 * reduction x = n ln2 + r, |r| <= ln2/2, degree-6 Taylor polynomial for e^r. */
static inline v8f exp8(v8f x) {
    const v8f magic = splat(12582912.0f); /* 1.5 * 2^23: adding it rounds to an integer */
    v8i under = x < splat(-87.0f);
    x = select8(under, splat(-87.0f), x);
    v8f t = x * splat(1.44269504f) + magic;
    v8f n = t - magic;
    v8f r = x - n * splat(0.693145752f); /* ln2 split in two for an exact n*ln2_hi */
    r = r - n * splat(1.42860677e-6f);
    v8f p = splat(1.0f / 720);
    p = p * r + splat(1.0f / 120);
    p = p * r + splat(1.0f / 24);
    p = p * r + splat(1.0f / 6);
    p = p * r + splat(0.5f);
    p = p * r + splat(1.0f);
    p = p * r + splat(1.0f);
    v8i e = ((v8i)t - (v8i)magic + splati(127)) << 23; /* 2^n */
    return (v8f)((v8i)(p * (v8f)e) & ~under);
}

/* kt[d * TILE + c] = k[c * stride + d] for the tile's keys c in [c0, c1): the
 * scores loop then runs over eight keys per vector with no horizontal sums. */
static void transpose_keys(float *kt, const float *k, size_t stride, int c0, int c1, int hd) {
    int c = c0;
#if defined(__AVX__)
    for (; c + 8 <= c1; c += 8) {
        int d = 0;
        for (; d + 8 <= hd; d += 8) { /* 8 x 8 blocks */
            const float *p = k + (size_t)c * stride + d;
            __m256 r0 = _mm256_loadu_ps(p), r1 = _mm256_loadu_ps(p + stride), r2 = _mm256_loadu_ps(p + 2 * stride),
                   r3 = _mm256_loadu_ps(p + 3 * stride), r4 = _mm256_loadu_ps(p + 4 * stride),
                   r5 = _mm256_loadu_ps(p + 5 * stride), r6 = _mm256_loadu_ps(p + 6 * stride),
                   r7 = _mm256_loadu_ps(p + 7 * stride);
            __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
            __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
            __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
            __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
            __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee);
            __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee);
            __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee);
            __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
            float *o = kt + (size_t)d * TILE + c;
            _mm256_storeu_ps(o, _mm256_permute2f128_ps(u0, u4, 0x20));
            _mm256_storeu_ps(o + TILE, _mm256_permute2f128_ps(u1, u5, 0x20));
            _mm256_storeu_ps(o + 2 * TILE, _mm256_permute2f128_ps(u2, u6, 0x20));
            _mm256_storeu_ps(o + 3 * TILE, _mm256_permute2f128_ps(u3, u7, 0x20));
            _mm256_storeu_ps(o + 4 * TILE, _mm256_permute2f128_ps(u0, u4, 0x31));
            _mm256_storeu_ps(o + 5 * TILE, _mm256_permute2f128_ps(u1, u5, 0x31));
            _mm256_storeu_ps(o + 6 * TILE, _mm256_permute2f128_ps(u2, u6, 0x31));
            _mm256_storeu_ps(o + 7 * TILE, _mm256_permute2f128_ps(u3, u7, 0x31));
        }
        for (; d < hd; d++)
            for (int x = c; x < c + 8; x++) kt[d * TILE + x] = k[(size_t)x * stride + d];
    }
#endif
    for (; c < c1; c++)
        for (int d = 0; d < hd; d++) kt[d * TILE + c] = k[(size_t)c * stride + d];
}

/* A row's keys inside one tile, as at most two spans [lo, hi). */
typedef struct { int n; long lo[2], hi[2]; } spans;

/* The heads of one row that share a kv head go through a tile together, up to
 * QG at a time, so each key (and value) vector loaded serves G queries: on the
 * AVX2 machines we run on, loads, not FMAs, bound these loops. Each output lane
 * still sums over d (scores) or over keys (values) in order with one FMA per
 * term, so the results are the bits of one query at a time. */
#define QG 4

/* Vectors of 8 per query that the kernels below accumulate at once: G x that
 * many accumulators, G splats and one loaded vector fit the 16 registers. */
static inline int acc_cols(int G) { return G == 1 ? 8 : G == 4 ? 2 : 4; }

/* s[g][c], lane l: sum over d of qs_g[d] * kt[d][8c + l] for a whole tile, qs
 * the scaled queries. */
static inline __attribute__((always_inline)) void scores_tile(const float (*qs)[HD_MAX], const int G,
                                                              const float *kt, int hd, v8f s[QG][NCH]) {
    const int CH = acc_cols(G);
    for (int c0 = 0; c0 < NCH; c0 += CH) {
        v8f acc[QG][8];
#pragma GCC unroll 8
        for (int g = 0; g < G; g++)
#pragma GCC unroll 8
            for (int c = 0; c < CH; c++) acc[g][c] = splat(0);
        for (int d = 0; d < hd; d++) {
            const float *kd = kt + d * TILE + 8 * c0;
            v8f qd[QG];
#pragma GCC unroll 8
            for (int g = 0; g < G; g++) qd[g] = splat(qs[g][d]);
#pragma GCC unroll 8
            for (int c = 0; c < CH; c++) {
                v8f kv = load8(kd + 8 * c);
#pragma GCC unroll 8
                for (int g = 0; g < G; g++) acc[g][c] += qd[g] * kv;
            }
        }
#pragma GCC unroll 8
        for (int g = 0; g < G; g++)
#pragma GCC unroll 8
            for (int c = 0; c < CH; c++) s[g][c0 + c] = acc[g][c];
    }
}

/* o_g += sum over the span's keys, in order, of pr[g][key] * v[key]. */
static inline __attribute__((always_inline)) void pv_tile(float *const *o, const int G, const float (*pr)[TILE],
                                                          const spans *sp, long t0, const float *vb,
                                                          size_t key_stride, int hd) {
    const int DC = acc_cols(G);
    int d = 0;
    for (; d + 8 * DC <= hd; d += 8 * DC) {
        v8f acc[QG][8];
#pragma GCC unroll 8
        for (int g = 0; g < G; g++)
#pragma GCC unroll 8
            for (int c = 0; c < DC; c++) acc[g][c] = load8(o[g] + d + 8 * c);
        for (int x = 0; x < sp->n; x++)
            for (long key = sp->lo[x]; key < sp->hi[x]; key++) {
                const float *vr = vb + (size_t)key * key_stride + d;
                v8f p[QG];
#pragma GCC unroll 8
                for (int g = 0; g < G; g++) p[g] = splat(pr[g][key - t0]);
#pragma GCC unroll 8
                for (int c = 0; c < DC; c++) {
                    v8f vv = load8(vr + 8 * c);
#pragma GCC unroll 8
                    for (int g = 0; g < G; g++) acc[g][c] += p[g] * vv;
                }
            }
#pragma GCC unroll 8
        for (int g = 0; g < G; g++)
#pragma GCC unroll 8
            for (int c = 0; c < DC; c++) store8(o[g] + d + 8 * c, acc[g][c]);
    }
    for (int g = 0; g < G; g++) { /* head dims that are not a multiple of 8 DC */
        int e = d;
        for (; e + 8 <= hd; e += 8) {
            v8f acc = load8(o[g] + e);
            for (int x = 0; x < sp->n; x++)
                for (long key = sp->lo[x]; key < sp->hi[x]; key++)
                    acc += splat(pr[g][key - t0]) * load8(vb + (size_t)key * key_stride + e);
            store8(o[g] + e, acc);
        }
        for (; e < hd; e++) {
            float acc = o[g][e];
            for (int x = 0; x < sp->n; x++)
                for (long key = sp->lo[x]; key < sp->hi[x]; key++) acc += pr[g][key - t0] * vb[(size_t)key * key_stride + e];
            o[g][e] = acc;
        }
    }
}

static void run_task(void *arg, int t) {
    const job *j = arg;
    const attn_ctx *a = j->a;
    const int hd = a->hd, H = a->n_heads, KV = a->n_kv, rep = H / KV;
    const size_t row_stride = (size_t)H * (size_t)hd, key_stride = (size_t)KV * (size_t)hd;
    int hg = t % j->n_hgroups, rb = j->n_rblocks - 1 - t / j->n_hgroups; /* late (costly) rows first */
    int r0 = rb * j->rpt, nr = j->n_rows - r0 < j->rpt ? j->n_rows - r0 : j->rpt;
    int h0 = hg * j->hpt, nh = H - h0 < j->hpt ? H - h0 : j->hpt;
    const int kvh = h0 / rep; /* a task's heads share one kv head */
    const float *kb = j->k + (size_t)kvh * hd, *vb = j->v + (size_t)kvh * hd;

    struct { long pos; int n, add; long lo[2], hi[2]; } rows[RMAX];
    spans sp[RMAX];
    float M[QMAX], L[QMAX];
    _Alignas(32) float kt[HD_MAX * TILE]; /* the tile's keys transposed: kt[d * TILE + key - t0] */
    _Alignas(32) float pr[QG][TILE];      /* the group's softmax numerators over the tile */
    float qs[QG][HD_MAX];                 /* the group's queries times 1/sqrt(head_dim) */
    memset(kt, 0, (size_t)hd * TILE * sizeof *kt);
    long maxpos = 0;
    for (int r = 0; r < nr; r++) {
        long pos = j->pos0 + (long)(r0 + r) * j->pstride;
        mask_kind kind = row_kind(j, pos, &rows[r].add);
        rows[r].pos = pos;
        rows[r].n = mask_ranges(&a->v, kind, pos, rows[r].lo, rows[r].hi);
        if (pos > maxpos) maxpos = pos;
        float *o = j->out + (size_t)(r0 + r) * row_stride + (size_t)h0 * hd;
        memset(o, 0, (size_t)nh * (size_t)hd * sizeof *o);
        for (int h = 0; h < nh; h++) {
            M[r * nh + h] = -INFINITY;
            L[r * nh + h] = 0;
        }
    }

    for (long t0 = 0; t0 <= maxpos; t0 += TILE) {
        long t1 = t0 + TILE, ulo = t1, uhi = t0;
        for (int r = 0; r < nr; r++) {
            sp[r].n = 0;
            for (int x = 0; x < rows[r].n; x++) {
                long lo = rows[r].lo[x] > t0 ? rows[r].lo[x] : t0;
                long hi = rows[r].hi[x] < t1 ? rows[r].hi[x] : t1;
                if (lo >= hi) continue;
                sp[r].lo[sp[r].n] = lo;
                sp[r].hi[sp[r].n] = hi;
                sp[r].n++;
                if (lo < ulo) ulo = lo;
                if (hi > uhi) uhi = hi;
            }
        }
        if (ulo >= uhi) continue;
        transpose_keys(kt, kb + (size_t)t0 * key_stride, key_stride, (int)(ulo - t0), (int)(uhi - t0), hd);
        for (int r = 0; r < nr; r++) {
            if (sp[r].n == 0) continue;
            /* this row's chunks, and which of their lanes are its keys */
            int c0 = (int)((sp[r].lo[0] - t0) / 8), c1 = (int)((sp[r].hi[sp[r].n - 1] - t0 + 7) / 8);
            v8i in[NCH];
            for (int c = c0; c < c1; c++) {
                v8i key = (v8i){0, 1, 2, 3, 4, 5, 6, 7} + splati((int)(8 * c));
                v8i m = splati(0);
                for (int x = 0; x < sp[r].n; x++)
                    m |= (key >= splati((int)(sp[r].lo[x] - t0))) & (key < splati((int)(sp[r].hi[x] - t0)));
                in[c] = m;
            }
            const float *qrow = j->q + (size_t)(rows[r].pos - j->qpos0) * row_stride;
            float *orow = j->out + (size_t)(r0 + r) * row_stride;
            for (int hh0 = 0; hh0 < nh; hh0 += QG) {
                int G = nh - hh0 < QG ? nh - hh0 : QG;
                float *o[QG];
                v8f sc[QG][NCH];
                for (int g = 0; g < G; g++) {
                    const float *qv = qrow + (size_t)(h0 + hh0 + g) * hd;
                    for (int d = 0; d < hd; d++) qs[g][d] = qv[d] * a->scale;
                    o[g] = orow + (size_t)(h0 + hh0 + g) * hd;
                }
                if (c0 == 0 && c1 == NCH) { /* a whole tile: the register-tiled kernels */
                    switch (G) {
                    case 1: scores_tile(qs, 1, kt, hd, sc); break;
                    case 2: scores_tile(qs, 2, kt, hd, sc); break;
                    case 3: scores_tile(qs, 3, kt, hd, sc); break;
                    default: scores_tile(qs, 4, kt, hd, sc); break;
                    }
                } else { /* the same arithmetic per lane */
                    for (int g = 0; g < G; g++) {
                        for (int c = c0; c < c1; c++) sc[g][c] = splat(0);
                        for (int d = 0; d < hd; d++) {
                            v8f qd = splat(qs[g][d]);
                            const float *kd = kt + d * TILE;
                            for (int c = c0; c < c1; c++) sc[g][c] += qd * load8(kd + 8 * c);
                        }
                    }
                }
                for (int g = 0; g < G; g++) {
                    int qi = r * nh + hh0 + g;
                    v8f vmax = splat(-INFINITY);
                    for (int c = c0; c < c1; c++) {
                        sc[g][c] = select8(in[c], sc[g][c], splat(-INFINITY));
                        vmax = select8(sc[g][c] > vmax, sc[g][c], vmax);
                    }
                    float mt = hmax8(vmax);
                    if (mt > M[qi]) {
                        float al = M[qi] == -INFINITY ? 0 : expf(M[qi] - mt);
                        L[qi] *= al;
                        for (int d = 0; d < hd; d++) o[g][d] *= al;
                        M[qi] = mt;
                    }
                    v8f m = splat(M[qi]), lsum = splat(0);
                    for (int c = c0; c < c1; c++) {
                        v8f p = exp8(sc[g][c] - m);
                        lsum += p;
                        store8(pr[g] + 8 * c, p);
                    }
                    L[qi] += hsum8(lsum);
                }
                switch (G) {
                case 1: pv_tile(o, 1, pr, &sp[r], t0, vb, key_stride, hd); break;
                case 2: pv_tile(o, 2, pr, &sp[r], t0, vb, key_stride, hd); break;
                case 3: pv_tile(o, 3, pr, &sp[r], t0, vb, key_stride, hd); break;
                default: pv_tile(o, 4, pr, &sp[r], t0, vb, key_stride, hd); break;
                }
            }
        }
    }

    for (int r = 0; r < nr; r++) {
        float *orow = j->out + (size_t)(r0 + r) * row_stride;
        const float *delta = NULL;
        if (rows[r].add) {
            long g = rows[r].pos / a->v.gamma;
            delta = g >= j->g_first ? j->delta_chunk + (size_t)(g - j->g_first) * row_stride : j->delta_slot;
        }
        for (int hh = 0; hh < nh; hh++) {
            int h = h0 + hh;
            float *o = orow + (size_t)h * hd, inv = 1.0f / L[r * nh + hh];
            for (int d = 0; d < hd; d++) o[d] *= inv;
            if (delta)
                for (int d = 0; d < hd; d++) o[d] += delta[(size_t)h * hd + d];
        }
    }
}

/* Runs a job over the pool, choosing the task shape. Results do not depend on it. */
static void run_job(par_pool *pool, job *j) {
    const attn_ctx *a = j->a;
    int rep = a->n_heads / a->n_kv;
    if (j->n_rows <= 0) return;
    /* many rows: one task per kv head group so its K/V tiles are loaded once for
     * `rep` heads; few rows (decode): one head per task for more parallelism */
    int want_tasks = par_threads(pool) > 1 ? 2 * par_threads(pool) : 1;
    j->hpt = rep <= QMAX / RMAX ? rep : 1;
    j->rpt = RMAX;
    if (j->n_rows < RMAX) j->rpt = j->n_rows;
    if ((long)((j->n_rows + j->rpt - 1) / j->rpt) * (a->n_heads / j->hpt) < want_tasks) j->hpt = 1;
    j->n_hgroups = (a->n_heads + j->hpt - 1) / j->hpt;
    j->n_rblocks = (j->n_rows + j->rpt - 1) / j->rpt;
    par_for(pool, j->n_hgroups * j->n_rblocks, run_task, j);
}

int attn_layer(attn_ctx *a, par_pool *pool, int layer, const float *q, int pos0, int n_q,
               const float *k, const float *v, float *out) {
    if (!a || layer < 0 || layer >= a->n_layers || pos0 < 0 || n_q < 0 || (n_q > 0 && (!q || !k || !v || !out)))
        return ev_error("attention: bad attn_layer call (layer %d, pos0 %d, n_q %d)", layer, pos0, n_q);
    if (n_q == 0) return 0;
    const attn_variant *var = &a->v;
    const size_t row = (size_t)a->n_heads * (size_t)a->hd;
    job j = {
        .a = a, .q = q, .qpos0 = pos0, .k = k, .v = v, .out = out, .pos0 = pos0, .pstride = 1,
        .n_rows = n_q, .layer_dense = layer_is_dense(var, layer), .force = -1,
    };
    long end = (long)pos0 + n_q;
    long lim = end < a->P ? end : a->P; /* rows below lim add a Delta */
    int delta = var->fix == ATTN_FIX_DELTA && !j.layer_dense && pos0 < lim;
    if (!delta) {
        run_job(pool, &j);
        return 0;
    }

    int g = var->gamma;
    long g_first = ((long)pos0 + g - 1) / g; /* first group anchored in this chunk */
    long g_end = (lim + g - 1) / g;          /* groups anchored below lim */
    if (pos0 % g != 0 && a->slot_group[layer] != pos0 / g)
        return ev_error("attention: layer %d: prefill chunk at %d does not follow the previous one "
                        "(its Delta group %d is gone)", layer, pos0, pos0 / g);
    const float *slot = a->slot + (size_t)layer * row;
    int n_anchor = g_end > g_first ? (int)(g_end - g_first) : 0;
    float *dense = NULL, *sparse = NULL, *dl = NULL;
    if (n_anchor > 0) {
        size_t need = 3 * (size_t)n_anchor * row;
        if (need > a->scratch_cap) {
            free(a->scratch);
            a->scratch = xmalloc(need * sizeof *a->scratch);
            a->scratch_cap = need;
        }
        dense = a->scratch;
        sparse = dense + (size_t)n_anchor * row;
        dl = sparse + (size_t)n_anchor * row;
        job ja = j;
        ja.pos0 = g_first * g;
        ja.pstride = g;
        ja.n_rows = n_anchor;
        ja.force = 0;
        ja.out = dense;
        run_job(pool, &ja);
        ja.force = 1;
        ja.out = sparse;
        run_job(pool, &ja);
        for (size_t i = 0; i < (size_t)n_anchor * row; i++) dl[i] = dense[i] - sparse[i];
    }
    j.delta_chunk = dl;
    j.g_first = g_first;
    j.delta_slot = slot;
    run_job(pool, &j);
    if (n_anchor > 0) {
        memcpy(a->slot + (size_t)layer * row, dl + (size_t)(n_anchor - 1) * row, row * sizeof *dl);
        a->slot_group[layer] = g_end - 1;
    }
    return 0;
}
