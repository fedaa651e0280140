/* forward.c - the CPU forward pass (see forward.h): the readable fp32 reference
 * that the CUDA path and the sparse-attention evaluations are checked against.
 *
 * Weights: dequantised on the fly, a block of FWD_RB rows at a time, into a
 * per-thread fp32 buffer, then multiplied with every token of the chunk; for a
 * single token (decode) the dot products run straight from the quantised
 * blocks. Not once at load: fp32 copies are 4-8x the file (SmolLM2-135M Q4_1:
 * 98 MB in the file, 540 MB as fp32; an 8B model 32 GB), and decode has to
 * stream every weight once per token. Measured on the 2-core dev VM, one
 * thread, SmolLM2 as Q4_1 against the same weights as an F32 GGUF (same logits,
 * bit for bit): prefill 119 vs 119 tokens/s (a block's expansion is shared by
 * the chunk's tokens), decode 21 vs 19 tokens/s, and with two threads the fp32
 * copy is capped by DRAM (540 MB/token at ~12 GB/s: <= 22 tokens/s) while the
 * 4.5-bit path reached 31. F32 tensors are used in place.
 *
 * Matmul: y[t][r] = dot(x[t], w[r]) over K, written with 8-lane vectors (GCC
 * vector extensions; FMA when the target has it). Every output is summed in
 * one fixed order (8 lane sums in k order, then a fixed horizontal tree, then
 * the K % 8 tail), whatever path or tile it falls in, so the result is the same
 * bits for any chunk size and for prefill and decode alike. One token (decode)
 * uses a dot-product tile of FWD_TR weight rows x FWD_TT tokens (or the fused
 * quantised dots); a chunk of tokens uses the packed 6x16 GEMM microkernel
 * further down, which keeps that order by running each of the 8 lanes as its
 * own pass. On the dev VM (an AMD EPYC of family 23: 256-bit FMA at one per
 * cycle, ~39.5 GFLOP/s a core measured with an FMA-only loop) the dot tile ran
 * the model's matmuls at ~28 GFLOP/s a core, the packed kernel ~35 (37-38 in
 * isolation): prefill ~10-20% faster, not more, because the old tile was
 * already at 70% of this core's peak.
 *
 * Elementwise numerics mirror transformers' fp32 code (modeling_llama.py,
 * modeling_rope_utils.py): RoPE angles are fp32 products inv_freq * pos,
 * inv_freq is computed in fp32 as HF does, RMSNorm is w * (x * rsqrt(mean+eps)),
 * SiLU is g / (1 + exp(-g)). This file relies on -std=c11 (no FMA contraction)
 * outside the explicit FMA of the matmul. */
#include "forward.h"

#include "quant.h"
#include "util.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVX2__) || defined(__FMA__)
#include <immintrin.h>
#endif

/* Tunables (-D to experiment). On the dev VM 4x3 and 3x4 tiles were fastest
 * (~110 prefill tokens/s on one thread at 512 tokens; 2x5, 5x2, 6x2 70-85),
 * and FWD_RB from 8 to 64 made no measurable difference. */
#ifndef FWD_RB
#define FWD_RB 16     /* weight rows dequantised per task */
#endif
#ifndef FWD_TR
#define FWD_TR 4      /* register tile: weight rows (<= 6) ... */
#endif
#ifndef FWD_TT
#define FWD_TT 3      /* ... x tokens (<= 6) */
#endif
#ifndef FWD_PB
#define FWD_PB 32     /* weight rows per task in the packed (prefill) path, multiple of FWD_NR */
#endif
#ifndef FWD_PACK_MIN_T
#define FWD_PACK_MIN_T 2 /* chunks of at least this many tokens take the packed path */
#endif
#define FWD_MR 6      /* packed microkernel: tokens ... */
#define FWD_NR 16     /* ... x weight rows (12 accumulators of 8 lanes) */
#define FWD_LM_ROWS 64 /* tokens per LM-head pass in fwd_eval */

/* ------------------------------------------------------------------ context */

typedef struct {
    float *attn_norm, *ffn_norm; /* [hidden] */
    float *bq, *bk, *bv;         /* [q_dim], [kv_dim] x2, or NULL */
} layer_f32;

struct fwd_ctx {
    const model *m;
    const model_hparams *hp;
    par_pool *pool;
    int n_ctx, n_past;
    int q_dim, kv_dim, kmax;     /* n_heads*head_dim, n_kv_heads*head_dim, widest matmul K */
    float *kcache, *vcache;      /* [n_layers][n_ctx][kv_dim] each */
    float *inv_freq;             /* [rope_dim/2] */
    layer_f32 *lw;               /* [n_layers]: the 1-D weights as fp32 */
    float *out_norm;             /* [hidden] */
    float *small;                /* one allocation behind lw and out_norm */
    /* per-thread dequantisation buffers, claimed by a task for its duration */
    int n_slots;
    float *wbuf;                 /* [n_slots][2][FWD_RB][kmax] */
    float *pbuf;                 /* [n_slots][2][FWD_PB][kmax]: expanded rows and their panel */
    float *apack;                /* [apack_cap]: the chunk's activations, packed (see pack_a) */
    size_t apack_cap;
    atomic_int *slot_busy;       /* [n_slots] */
    /* scratch for one chunk of up to cap tokens */
    int cap;
    float *x;                    /* [cap][hidden] residual stream */
    float *xn;                   /* [cap][hidden] normed */
    float *q;                    /* [cap][q_dim] */
    float *att;                  /* [cap][q_dim] attention output */
    float *h;                    /* [cap][ffn] silu(gate) * up */
    float *cosb, *sinb;          /* [cap][rope_dim/2] */
    float *logits;               /* [FWD_LM_ROWS][vocab] */
    fwd_attn_fn attn_hook;       /* sees every layer's attention output (may be NULL) */
    void *attn_hook_ud;
};

int fwd_n_ctx(const fwd_ctx *f) { return f->n_ctx; }
int fwd_n_past(const fwd_ctx *f) { return f->n_past; }
par_pool *fwd_pool(fwd_ctx *f) { return f->pool; }
void fwd_reset(fwd_ctx *f) { f->n_past = 0; }

void fwd_set_attn_hook(fwd_ctx *f, fwd_attn_fn fn, void *ud) {
    f->attn_hook = fn;
    f->attn_hook_ud = ud;
}

fwd_ctx *fwd_new(const model *m, int n_ctx, int n_threads) {
    const model_hparams *hp = &m->hp;
    if (n_ctx < 1) return ev_error("%s: context of %d tokens: need at least 1", m->path, n_ctx), NULL;
    fwd_ctx *f = xcalloc(1, sizeof *f);
    f->m = m;
    f->hp = hp;
    f->n_ctx = n_ctx;
    f->q_dim = hp->n_heads * hp->head_dim;
    f->kv_dim = hp->n_kv_heads * hp->head_dim;
    f->kmax = hp->hidden;
    if (f->q_dim > f->kmax) f->kmax = f->q_dim;
    if (hp->ffn > f->kmax) f->kmax = hp->ffn;

    size_t per_layer, total;
    if (ev_mul_size((size_t)n_ctx, (size_t)f->kv_dim, &per_layer) || ev_mul_size(per_layer, (size_t)hp->n_layers, &total) ||
        ev_mul_size(total, sizeof(float), &total) || !(f->kcache = malloc(total)) || !(f->vcache = malloc(total))) {
        ev_error("%s: cannot allocate a KV cache of %d tokens (%.0f MB)", m->path, n_ctx,
                 2.0 * n_ctx * f->kv_dim * hp->n_layers * 4 / 1e6);
        fwd_free(f);
        return NULL;
    }

    f->inv_freq = xmalloc(sizeof(float) * (size_t)(hp->rope_dim / 2));
    model_rope_inv_freq(f->m, f->inv_freq);

    size_t n_small = (size_t)hp->hidden;
    for (int l = 0; l < hp->n_layers; l++) {
        n_small += 2 * (size_t)hp->hidden;
        if (m->layers[l].bq) n_small += (size_t)f->q_dim + 2 * (size_t)f->kv_dim;
    }
    f->small = xmalloc(n_small * sizeof(float));
    f->lw = xcalloc((size_t)hp->n_layers, sizeof *f->lw);
    float *p = f->small;
#define TAKE(dst, t, n) do { dst = p; model_tensor_row((t), 0, p); p += (n); } while (0)
    TAKE(f->out_norm, m->out_norm, hp->hidden);
    for (int l = 0; l < hp->n_layers; l++) {
        const model_layer *L = &m->layers[l];
        TAKE(f->lw[l].attn_norm, L->attn_norm, hp->hidden);
        TAKE(f->lw[l].ffn_norm, L->ffn_norm, hp->hidden);
        if (L->bq) {
            TAKE(f->lw[l].bq, L->bq, f->q_dim);
            TAKE(f->lw[l].bk, L->bk, f->kv_dim);
            TAKE(f->lw[l].bv, L->bv, f->kv_dim);
        }
    }
#undef TAKE

    f->pool = par_new(n_threads);
    f->n_slots = par_threads(f->pool);
    f->wbuf = xmalloc(sizeof(float) * (size_t)f->n_slots * 2 * FWD_RB * (size_t)f->kmax);
    f->pbuf = xmalloc(sizeof(float) * (size_t)f->n_slots * 2 * FWD_PB * (size_t)f->kmax);
    f->slot_busy = xcalloc((size_t)f->n_slots, sizeof *f->slot_busy);
    f->logits = xmalloc(sizeof(float) * FWD_LM_ROWS * (size_t)hp->vocab);
    return f;
}

static void free_scratch(fwd_ctx *f) {
    free(f->x);
    free(f->xn);
    free(f->q);
    free(f->att);
    free(f->h);
    free(f->cosb);
    free(f->sinb);
}

void fwd_free(fwd_ctx *f) {
    if (!f) return;
    par_free(f->pool);
    free(f->kcache);
    free(f->vcache);
    free(f->inv_freq);
    free(f->lw);
    free(f->small);
    free(f->wbuf);
    free(f->pbuf);
    free(f->apack);
    free(f->slot_busy);
    free(f->logits);
    free_scratch(f);
    free(f);
}

static void ensure_cap(fwd_ctx *f, int T) {
    if (T <= f->cap) return;
    free_scratch(f);
    size_t t = (size_t)T;
    const model_hparams *hp = f->hp;
    f->x = xmalloc(sizeof(float) * t * (size_t)hp->hidden);
    f->xn = xmalloc(sizeof(float) * t * (size_t)hp->hidden);
    f->q = xmalloc(sizeof(float) * t * (size_t)f->q_dim);
    f->att = xmalloc(sizeof(float) * t * (size_t)f->q_dim);
    f->h = xmalloc(sizeof(float) * t * (size_t)hp->ffn);
    f->cosb = xmalloc(sizeof(float) * t * (size_t)(hp->rope_dim / 2));
    f->sinb = xmalloc(sizeof(float) * t * (size_t)(hp->rope_dim / 2));
    f->cap = T;
}

/* ------------------------------------------------------------------- matmul */

typedef float v8 __attribute__((vector_size(32)));

static inline v8 v8_load(const float *p) {
    v8 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline v8 v8_fma(v8 acc, v8 a, v8 b) {
#if defined(__FMA__) && defined(__AVX__)
    return (v8)_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)acc);
#else
    return acc + a * b;
#endif
}

/* The one horizontal order every output uses. */
static inline float v8_sum(v8 v) {
    return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
}

/* res[r][t] = dot(w[r], x[t]) for r < R, t < TT; R and TT are constants at every
 * call site, so GCC unrolls the tile into registers (12 accumulators). */
static inline __attribute__((always_inline)) void dot_tile(const float *w, int K, const float *x, int ldx, int R,
                                                           int TT, float res[FWD_TR][FWD_TT]) {
    v8 acc[FWD_TR][FWD_TT];
#pragma GCC unroll 6
    for (int r = 0; r < R; r++)
#pragma GCC unroll 6
        for (int t = 0; t < TT; t++) acc[r][t] = (v8){0};
    int K8 = K & ~7;
    for (int k = 0; k < K8; k += 8) {
        v8 xv[FWD_TT];
#pragma GCC unroll 6
        for (int t = 0; t < TT; t++) xv[t] = v8_load(x + (size_t)t * ldx + k);
#pragma GCC unroll 6
        for (int r = 0; r < R; r++) {
            v8 wv = v8_load(w + (size_t)r * K + k);
#pragma GCC unroll 6
            for (int t = 0; t < TT; t++) acc[r][t] = v8_fma(acc[r][t], wv, xv[t]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int t = 0; t < TT; t++) {
            float s = v8_sum(acc[r][t]);
            for (int k = K8; k < K; k++) s += w[(size_t)r * K + k] * x[(size_t)t * ldx + k];
            res[r][t] = s;
        }
}

static void dot_tile_any(const float *w, int K, const float *x, int ldx, int R, int TT,
                         float res[FWD_TR][FWD_TT]) {
#define TILE(r, t) case t: if (r <= FWD_TR && t <= FWD_TT) dot_tile(w, K, x, ldx, r, t, res); break
#define TILE_T(r) switch (TT) { TILE(r, 1); TILE(r, 2); TILE(r, 3); TILE(r, 4); TILE(r, 5); TILE(r, 6); } break
    switch (R) {
    case 1: TILE_T(1);
    case 2: TILE_T(2);
    case 3: TILE_T(3);
    case 4: TILE_T(4);
    case 5: TILE_T(5);
    case 6: TILE_T(6);
    }
#undef TILE_T
#undef TILE
}

typedef enum { EPI_STORE, EPI_ADD, EPI_SWIGLU } epi_mode;

/* One output of a matmul job: y[t*ldy + r] for rows r of w. */
typedef struct {
    const model_tensor *w; /* [N][K] */
    const float *bias;     /* [N] or NULL (added to the dot) */
    float *y;
    int ldy;
    epi_mode mode;         /* EPI_ADD: y += dot (the residual); EPI_SWIGLU: y = silu(y) * dot */
} mm_out;

typedef struct {
    fwd_ctx *f;
    const float *x;  /* [T][K], row stride ldx */
    int ldx, T, K;
    int n_out;
    mm_out out[3];
    int first[4];    /* task index where out[j] starts; first[n_out] = n_tasks */
    int swiglu;      /* out[0] = gate, out[1] = up, one task per row block of both */
} mm_job;

static int slot_claim(fwd_ctx *f) {
    for (;;)
        for (int s = 0; s < f->n_slots; s++) {
            int zero = 0;
            if (atomic_compare_exchange_strong(&f->slot_busy[s], &zero, 1)) return s;
        }
}

/* Vectorised expansions of the element types SmolLM2 and most GGUF files use
 * for their big matrices. Each computes exactly quant.c's expression (ggml's:
 * Q4_1 q*d + m, Q4_0 (q-8)*d, Q8_0 q*d, one rounding per operation, no FMA), so
 * the floats are identical; quant.c's scalar loops run at about 2 ns an element,
 * which made dequantisation 75% of a decode step. Other types go through
 * qt_dequant. */
#if defined(__AVX2__) && defined(__F16C__) && defined(__FMA__)
#define FWD_FAST_DEQUANT 1

static inline float f16_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

static inline void store_affine(float *y, __m128i q8, __m256 d, __m256 m, int has_m) {
    /* 8 bytes of q8 -> 8 floats q*d (+ m) */
    __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8)), d);
    if (has_m) v = _mm256_add_ps(v, m);
    _mm256_storeu_ps(y, v);
}

static void deq_q4(const uint8_t *b, float *y, int64_t nb, int type1) {
    const __m128i low = _mm_set1_epi8(0x0f), eight = _mm_set1_epi8(8);
    size_t bs = type1 ? 20 : 18;
    for (int64_t i = 0; i < nb; i++, b += bs, y += 32) {
        __m256 d = _mm256_set1_ps(f16_at(b)), m = _mm256_set1_ps(type1 ? f16_at(b + 2) : 0.0f);
        __m128i q = _mm_loadu_si128((const __m128i *)(b + (type1 ? 4 : 2)));
        __m128i lo = _mm_and_si128(q, low), hi = _mm_and_si128(_mm_srli_epi16(q, 4), low);
        if (!type1) {
            lo = _mm_sub_epi8(lo, eight);
            hi = _mm_sub_epi8(hi, eight);
        }
        store_affine(y, lo, d, m, type1);
        store_affine(y + 8, _mm_srli_si128(lo, 8), d, m, type1);
        store_affine(y + 16, hi, d, m, type1);
        store_affine(y + 24, _mm_srli_si128(hi, 8), d, m, type1);
    }
}

static void deq_q8_0(const uint8_t *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b += 34, y += 32) {
        __m256 d = _mm256_set1_ps(f16_at(b));
        __m128i q0 = _mm_loadu_si128((const __m128i *)(b + 2)), q1 = _mm_loadu_si128((const __m128i *)(b + 18));
        store_affine(y, q0, d, d, 0);
        store_affine(y + 8, _mm_srli_si128(q0, 8), d, d, 0);
        store_affine(y + 16, q1, d, d, 0);
        store_affine(y + 24, _mm_srli_si128(q1, 8), d, d, 0);
    }
}

static void deq_16bit(const uint8_t *b, float *y, int64_t n, int bf16) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(b + 2 * i));
        __m256 v = bf16 ? _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)) : _mm256_cvtph_ps(h);
        _mm256_storeu_ps(y + i, v);
    }
    if (i < n) qt_dequant(bf16 ? QT_BF16 : QT_F16, b + 2 * i, y + i, n - i);
}

/* One block of 32 weights of one row, expanded as deq_q4/deq_q8_0 expand it and
 * accumulated into acc exactly as dot_tile accumulates it (k order, one FMA per
 * 8 lanes), so fused_rows gives the bits that rows_f32 + dot_tile give. Plain
 * variables rather than small arrays: the sanitizer build (-O1) keeps arrays on
 * the stack and checks every access, which made it ten times slower. */
#define EXPAND8(q) _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q))

static inline __attribute__((always_inline)) __m256 fused_blk(int type, const uint8_t *p, __m256 x0, __m256 x1,
                                                              __m256 x2, __m256 x3, __m256 acc) {
    __m256 d = _mm256_set1_ps(f16_at(p)), w0, w1, w2, w3;
    if (type == QT_Q8_0) {
        __m128i q0 = _mm_loadu_si128((const __m128i *)(p + 2)), q1 = _mm_loadu_si128((const __m128i *)(p + 18));
        w0 = _mm256_mul_ps(EXPAND8(q0), d);
        w1 = _mm256_mul_ps(EXPAND8(_mm_srli_si128(q0, 8)), d);
        w2 = _mm256_mul_ps(EXPAND8(q1), d);
        w3 = _mm256_mul_ps(EXPAND8(_mm_srli_si128(q1, 8)), d);
    } else {
        const __m128i low = _mm_set1_epi8(0x0f);
        __m128i qq = _mm_loadu_si128((const __m128i *)(p + (type == QT_Q4_1 ? 4 : 2)));
        __m128i lo = _mm_and_si128(qq, low), hi = _mm_and_si128(_mm_srli_epi16(qq, 4), low);
        if (type == QT_Q4_0) {
            lo = _mm_sub_epi8(lo, _mm_set1_epi8(8));
            hi = _mm_sub_epi8(hi, _mm_set1_epi8(8));
        }
        w0 = _mm256_mul_ps(EXPAND8(lo), d);
        w1 = _mm256_mul_ps(EXPAND8(_mm_srli_si128(lo, 8)), d);
        w2 = _mm256_mul_ps(EXPAND8(hi), d);
        w3 = _mm256_mul_ps(EXPAND8(_mm_srli_si128(hi, 8)), d);
        if (type == QT_Q4_1) {
            __m256 m = _mm256_set1_ps(f16_at(p + 2));
            w0 = _mm256_add_ps(w0, m);
            w1 = _mm256_add_ps(w1, m);
            w2 = _mm256_add_ps(w2, m);
            w3 = _mm256_add_ps(w3, m);
        }
    }
    acc = _mm256_fmadd_ps(w0, x0, acc);
    acc = _mm256_fmadd_ps(w1, x1, acc);
    acc = _mm256_fmadd_ps(w2, x2, acc);
    return _mm256_fmadd_ps(w3, x3, acc);
}

static inline __attribute__((always_inline)) void fused_impl(int type, const uint8_t *base, size_t rb, int nb,
                                                             int nr, const float *x, float *res) {
    size_t bs = type == QT_Q4_1 ? 20 : type == QT_Q4_0 ? 18 : 34;
    int r = 0;
    for (; r + 4 <= nr; r += 4) {
        const uint8_t *p0 = base + (size_t)r * rb, *p1 = p0 + rb, *p2 = p1 + rb, *p3 = p2 + rb;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int b = 0; b < nb; b++) {
            const float *xb = x + b * 32;
            __m256 x0 = _mm256_loadu_ps(xb), x1 = _mm256_loadu_ps(xb + 8), x2 = _mm256_loadu_ps(xb + 16),
                   x3 = _mm256_loadu_ps(xb + 24);
            a0 = fused_blk(type, p0 + b * bs, x0, x1, x2, x3, a0);
            a1 = fused_blk(type, p1 + b * bs, x0, x1, x2, x3, a1);
            a2 = fused_blk(type, p2 + b * bs, x0, x1, x2, x3, a2);
            a3 = fused_blk(type, p3 + b * bs, x0, x1, x2, x3, a3);
        }
        res[r] = v8_sum((v8)a0);
        res[r + 1] = v8_sum((v8)a1);
        res[r + 2] = v8_sum((v8)a2);
        res[r + 3] = v8_sum((v8)a3);
    }
    for (; r < nr; r++) {
        const uint8_t *p0 = base + (size_t)r * rb;
        __m256 a0 = _mm256_setzero_ps();
        for (int b = 0; b < nb; b++) {
            const float *xb = x + b * 32;
            a0 = fused_blk(type, p0 + b * bs, _mm256_loadu_ps(xb), _mm256_loadu_ps(xb + 8), _mm256_loadu_ps(xb + 16),
                           _mm256_loadu_ps(xb + 24), a0);
        }
        res[r] = v8_sum((v8)a0);
    }
}

/* res[r] = dot(row r0 + r of W, x) for one token straight from the quantised
 * rows, without the round trip through a buffer: one-token decode spends most
 * of its time expanding weights. Returns 0 for types it does not handle. */
static int fused_rows(const model_tensor *W, int r0, int nr, const float *x, float *res) {
    int type = W->type, K = (int)W->ne[0];
    if (type != QT_Q4_0 && type != QT_Q4_1 && type != QT_Q8_0) return 0;
    size_t rb = qt_row_bytes(type, K);
    const uint8_t *base = (const uint8_t *)W->data + (size_t)r0 * rb;
    switch (type) {
    case QT_Q4_0: fused_impl(QT_Q4_0, base, rb, K / 32, nr, x, res); break;
    case QT_Q4_1: fused_impl(QT_Q4_1, base, rb, K / 32, nr, x, res); break;
    default: fused_impl(QT_Q8_0, base, rb, K / 32, nr, x, res); break;
    }
    return 1;
}
#endif

/* Rows r0 .. r0+nr-1 of W as fp32 [nr][K]: the mapping itself for F32, else
 * dequantised into buf. Rows are consecutive in the file, so one call expands
 * the whole block. */
static const float *rows_f32(const model_tensor *W, int r0, int nr, float *buf) {
    int64_t K = W->ne[0], n = (int64_t)nr * K;
    if (W->type == QT_F32) return (const float *)W->data + (size_t)r0 * (size_t)K;
    const uint8_t *src = (const uint8_t *)W->data + (size_t)r0 * qt_row_bytes(W->type, K);
#ifdef FWD_FAST_DEQUANT
    switch (W->type) {
    case QT_Q4_0: deq_q4(src, buf, n / 32, 0); return buf;
    case QT_Q4_1: deq_q4(src, buf, n / 32, 1); return buf;
    case QT_Q8_0: deq_q8_0(src, buf, n / 32); return buf;
    case QT_F16: deq_16bit(src, buf, n, 0); return buf;
    case QT_BF16: deq_16bit(src, buf, n, 1); return buf;
    default: break;
    }
#endif
    qt_dequant(W->type, src, buf, n);
    return buf;
}

static inline float silu(float g) { return g / (1.0f + expf(-g)); }

/* Multiplies the dequantised rows w[nr][K] with all tokens and applies o's
 * epilogue to columns r0 .. r0+nr-1 of o->y. */
static inline void epilogue(const mm_out *o, int t, int col, float v) {
    if (o->bias) v = v + o->bias[col];
    float *y = &o->y[(size_t)t * o->ldy + col];
    switch (o->mode) {
    case EPI_STORE: *y = v; break;
    case EPI_ADD: *y = *y + v; break;
    case EPI_SWIGLU: *y = silu(*y) * v; break;
    }
}

/* epilogue for y[t][col .. col+n-1] += or = v[0 .. n-1] (the same operations,
 * eight lanes at a time where they can be). */
static void epilogue_row(const mm_out *o, int t, int col, const float *v, int n) {
    if (n == FWD_NR && o->mode != EPI_SWIGLU) {
        float *y = &o->y[(size_t)t * o->ldy + col];
        for (int h = 0; h < FWD_NR; h += 8) {
            v8 s = v8_load(v + h);
            if (o->bias) s = s + v8_load(o->bias + col + h);
            if (o->mode == EPI_ADD) s = v8_load(y + h) + s;
            memcpy(y + h, &s, sizeof s);
        }
        return;
    }
    for (int c = 0; c < n; c++) epilogue(o, t, col + c, v[c]);
}

static void mm_rows(const mm_job *j, const mm_out *o, const float *w, int r0, int nr) {
    float res[FWD_TR][FWD_TT];
    for (int t0 = 0; t0 < j->T; t0 += FWD_TT) {
        int tt = j->T - t0 < FWD_TT ? j->T - t0 : FWD_TT;
        const float *x = j->x + (size_t)t0 * j->ldx;
        for (int rr = 0; rr < nr; rr += FWD_TR) {
            int R = nr - rr < FWD_TR ? nr - rr : FWD_TR;
            dot_tile_any(w + (size_t)rr * j->K, j->K, x, j->ldx, R, tt, res);
            for (int t = 0; t < tt; t++)
                for (int r = 0; r < R; r++) epilogue(o, t0 + t, r0 + rr + r, res[r][t]);
        }
    }
}

/* Rows r0 .. r0+nr-1 of o's matrix times every token: fused for a single token
 * when the type allows, else expanded into buf first. */
static void mm_block(const mm_job *j, const mm_out *o, int r0, int nr, float *buf) {
#ifdef FWD_FAST_DEQUANT
    float res[FWD_RB];
    if (j->T == 1 && fused_rows(o->w, r0, nr, j->x, res)) {
        for (int r = 0; r < nr; r++) epilogue(o, 0, r0 + r, res[r]);
        return;
    }
#endif
    mm_rows(j, o, rows_f32(o->w, r0, nr, buf), r0, nr);
}

/* ------------------------------------------------------ packed matmul (prefill)
 *
 * For a chunk of tokens the matmul is a GEMM. The dot-product tile above needs
 * 7 vector loads per 12 FMAs plus a horizontal reduction per output; this path
 * is the BLIS/llm.c shape instead: a 6-token x 16-row register tile of outputs
 * (12 accumulators), one broadcast activation times two vectors of 8 weight
 * rows per k, 12 FMAs per 2 vector loads and 6 broadcasts. Weights are expanded
 * and repacked per task (FWD_PB rows, into the slot's buffer), the chunk's
 * activations once per matmul (in parallel, by token tile).
 *
 * The summation order stays dot_tile's, so the two paths give the same bits:
 * dot_tile's lane j of an output sums the products k = j, j+8, j+16, ... in k
 * order with one FMA each; here each lane j is its own pass over those k (the
 * operands are packed so that pass reads contiguous memory), its 6x16 sums go
 * to a small buffer, and the 8 lane sums are then combined by v8_sum's tree and
 * followed by the K % 8 tail, as in dot_tile.
 *
 * Layouts (K8 = K rounded down to 8, n8 = K8 / 8):
 *   activations, per tile of FWD_MR tokens (missing tokens zero):
 *       a[j][kk][r] = x[t0 + r][8 kk + j]            (j < 8, kk < n8, r < FWD_MR)
 *   weights, per panel of FWD_NR rows (missing rows zero), packed per task:
 *       b[j][kk][c] = w[r0 + c][8 kk + j]            (c < FWD_NR) */

static inline v8 v8_splat(float s) { return (v8){s, s, s, s, s, s, s, s}; }

/* part[j][r][c] = lane j's sum for token r and weight row c. */
static void kern_tile(const float *a, const float *b, int n8, float part[8][FWD_MR][FWD_NR]) {
    for (int j = 0; j < 8; j++) {
        const float *aj = a + (size_t)j * n8 * FWD_MR, *bj = b + (size_t)j * n8 * FWD_NR;
        v8 c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0};
        v8 c30 = {0}, c31 = {0}, c40 = {0}, c41 = {0}, c50 = {0}, c51 = {0};
        for (int kk = 0; kk < n8; kk++, aj += FWD_MR, bj += FWD_NR) {
            v8 b0 = v8_load(bj), b1 = v8_load(bj + 8), x;
            x = v8_splat(aj[0]); c00 = v8_fma(c00, b0, x); c01 = v8_fma(c01, b1, x);
            x = v8_splat(aj[1]); c10 = v8_fma(c10, b0, x); c11 = v8_fma(c11, b1, x);
            x = v8_splat(aj[2]); c20 = v8_fma(c20, b0, x); c21 = v8_fma(c21, b1, x);
            x = v8_splat(aj[3]); c30 = v8_fma(c30, b0, x); c31 = v8_fma(c31, b1, x);
            x = v8_splat(aj[4]); c40 = v8_fma(c40, b0, x); c41 = v8_fma(c41, b1, x);
            x = v8_splat(aj[5]); c50 = v8_fma(c50, b0, x); c51 = v8_fma(c51, b1, x);
        }
        float(*p)[FWD_NR] = part[j];
        memcpy(p[0], &c00, 32); memcpy(p[0] + 8, &c01, 32);
        memcpy(p[1], &c10, 32); memcpy(p[1] + 8, &c11, 32);
        memcpy(p[2], &c20, 32); memcpy(p[2] + 8, &c21, 32);
        memcpy(p[3], &c30, 32); memcpy(p[3] + 8, &c31, 32);
        memcpy(p[4], &c40, 32); memcpy(p[4] + 8, &c41, 32);
        memcpy(p[5], &c50, 32); memcpy(p[5] + 8, &c51, 32);
    }
}

#ifdef __AVX__
/* r[0..7] (8 floats each) transposed: r[j][i] becomes out[i][j]. */
static inline void transpose8(const __m256 r[8], __m256 out[8]) {
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
    for (int i = 0; i < 4; i++) {
        out[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
        out[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
    }
}
#endif

/* Tile `tile` of the activations (tokens tile*FWD_MR ..) in the layout above. */
static void pack_a(const float *x, int ldx, int T, int K8, int tile, float *dst) {
    int n8 = K8 / 8, t0 = tile * FWD_MR, live = T - t0 < FWD_MR ? T - t0 : FWD_MR;
#ifdef __AVX__
    const __m256i mask = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, 0, 0); /* FWD_MR lanes */
    __m256 r[8], c[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_setzero_ps();
    for (int kk = 0; kk < n8; kk++) {
        for (int i = 0; i < live; i++) r[i] = _mm256_loadu_ps(x + (size_t)(t0 + i) * ldx + 8 * kk);
        transpose8(r, c);
        /* 8-lane stores spill 2 floats into the next kk's slot, which is written
         * after; the last kk's would land in the next lane's (or tile's) data */
        if (kk + 1 < n8)
            for (int j = 0; j < 8; j++) _mm256_storeu_ps(dst + ((size_t)j * n8 + kk) * FWD_MR, c[j]);
        else
            for (int j = 0; j < 8; j++) _mm256_maskstore_ps(dst + ((size_t)j * n8 + kk) * FWD_MR, mask, c[j]);
    }
#else
    for (int r = 0; r < FWD_MR; r++) {
        const float *xr = x + (size_t)(t0 + r) * ldx;
        for (int kk = 0; kk < n8; kk++)
            for (int j = 0; j < 8; j++) dst[((size_t)j * n8 + kk) * FWD_MR + r] = r < live ? xr[8 * kk + j] : 0.0f;
    }
#endif
}

/* Rows w[0 .. nr-1] (row stride K) as panels of FWD_NR rows in the layout above. */
static void pack_b(const float *w, int K, int K8, int nr, float *dst) {
    int n8 = K8 / 8;
    for (int p0 = 0; p0 < nr; p0 += FWD_NR, dst += (size_t)FWD_NR * K8) {
#ifdef __AVX__
        for (int c0 = 0; c0 < FWD_NR; c0 += 8) {
            int live = nr - p0 - c0 < 8 ? nr - p0 - c0 : 8;
            __m256 r[8], c[8];
            for (int i = 0; i < 8; i++) r[i] = _mm256_setzero_ps();
            for (int kk = 0; kk < n8; kk++) {
                for (int i = 0; i < live; i++) r[i] = _mm256_loadu_ps(w + (size_t)(p0 + c0 + i) * K + 8 * kk);
                transpose8(r, c);
                for (int j = 0; j < 8; j++) _mm256_storeu_ps(dst + ((size_t)j * n8 + kk) * FWD_NR + c0, c[j]);
            }
        }
#else
        for (int c = 0; c < FWD_NR; c++) {
            const float *wr = w + (size_t)(p0 + c) * K;
            int live = p0 + c < nr;
            for (int kk = 0; kk < n8; kk++)
                for (int j = 0; j < 8; j++) dst[((size_t)j * n8 + kk) * FWD_NR + c] = live ? wr[8 * kk + j] : 0.0f;
        }
#endif
    }
}

/* Rows r0 .. r0+nr-1 of o's matrix (already expanded to w) times every token,
 * from the packed activations. */
static void mm_packed(const mm_job *j, const mm_out *o, const float *w, int r0, int nr, float *panel) {
    int K = j->K, K8 = K & ~7, n8 = K8 / 8;
    pack_b(w, K, K8, nr, panel);
    float part[8][FWD_MR][FWD_NR];
    int tiles = (j->T + FWD_MR - 1) / FWD_MR;
    for (int ti = 0; ti < tiles; ti++) {
        const float *a = j->f->apack + (size_t)ti * FWD_MR * K8;
        int t0 = ti * FWD_MR, nt = j->T - t0 < FWD_MR ? j->T - t0 : FWD_MR;
        for (int p0 = 0; p0 < nr; p0 += FWD_NR) {
            kern_tile(a, panel + (size_t)p0 * K8, n8, part);
            int nc = nr - p0 < FWD_NR ? nr - p0 : FWD_NR;
            for (int r = 0; r < nt; r++) {
                float sum[FWD_NR];
                for (int h = 0; h < FWD_NR; h += 8) {
                    v8 s = ((v8_load(&part[0][r][h]) + v8_load(&part[4][r][h])) +
                            (v8_load(&part[2][r][h]) + v8_load(&part[6][r][h]))) +
                           ((v8_load(&part[1][r][h]) + v8_load(&part[5][r][h])) +
                            (v8_load(&part[3][r][h]) + v8_load(&part[7][r][h])));
                    memcpy(sum + h, &s, sizeof s);
                }
                if (K8 < K) {
                    const float *x = j->x + (size_t)(t0 + r) * j->ldx;
                    for (int c = 0; c < nc; c++) {
                        const float *wr = w + (size_t)(p0 + c) * K;
                        for (int k = K8; k < K; k++) sum[c] += wr[k] * x[k];
                    }
                }
                epilogue_row(o, t0 + r, r0 + p0, sum, nc);
            }
        }
    }
}

static void pack_task(void *ctx, int i) {
    const mm_job *j = ctx;
    pack_a(j->x, j->ldx, j->T, j->K & ~7, i, j->f->apack + (size_t)i * FWD_MR * (j->K & ~7));
}

static void mm_task(void *ctx, int i) {
    const mm_job *j = ctx;
    fwd_ctx *f = j->f;
    int o = 0;
    while (i >= j->first[o + 1]) o++;
    const mm_out *out = &j->out[o];
    int packed = j->T >= FWD_PACK_MIN_T, rb = packed ? FWD_PB : FWD_RB;
    int r0 = (i - j->first[o]) * rb;
    int N = (int)out->w->ne[1];
    int nr = N - r0 < rb ? N - r0 : rb;
    int s = slot_claim(f);
    if (packed) {
        float *buf = f->pbuf + (size_t)s * 2 * FWD_PB * (size_t)f->kmax, *panel = buf + FWD_PB * (size_t)f->kmax;
        if (j->swiglu) { /* gate rows first (stored), then up rows combine: h = silu(gate) * up */
            const float *w = rows_f32(j->out[0].w, r0, nr, buf);
            mm_packed(j, &j->out[0], w, r0, nr, panel);
            w = rows_f32(j->out[1].w, r0, nr, buf);
            mm_packed(j, &j->out[1], w, r0, nr, panel);
        } else {
            const float *w = rows_f32(out->w, r0, nr, buf);
            mm_packed(j, out, w, r0, nr, panel);
        }
    } else {
        float *buf = f->wbuf + (size_t)s * 2 * FWD_RB * (size_t)f->kmax;
        if (j->swiglu) {
            mm_block(j, &j->out[0], r0, nr, buf);
            mm_block(j, &j->out[1], r0, nr, buf + FWD_RB * (size_t)f->kmax);
        } else {
            mm_block(j, out, r0, nr, buf);
        }
    }
    atomic_store(&f->slot_busy[s], 0);
}

static void mm_run(mm_job *j) {
    fwd_ctx *f = j->f;
    int rb = FWD_RB;
    if (j->T >= FWD_PACK_MIN_T) {
        rb = FWD_PB;
        int tiles = (j->T + FWD_MR - 1) / FWD_MR;
        size_t need = (size_t)tiles * FWD_MR * (size_t)(j->K & ~7);
        if (need > f->apack_cap) {
            free(f->apack);
            f->apack = xmalloc(sizeof(float) * (need ? need : 1));
            f->apack_cap = need;
        }
        par_for(f->pool, tiles, pack_task, j);
    }
    int n = 0;
    int outs = j->swiglu ? 1 : j->n_out;
    for (int o = 0; o < outs; o++) {
        j->first[o] = n;
        n += (int)((j->out[o].w->ne[1] + rb - 1) / rb);
    }
    for (int o = outs; o < 4; o++) j->first[o] = n;
    par_for(f->pool, n, mm_task, j);
}

/* ---------------------------------------------------------------- the layers */

/* HF LlamaRMSNorm in fp32: w * (x * rsqrt(mean(x^2) + eps)). */
static void rmsnorm(float *out, const float *x, const float *w, int n, float eps) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float var = (float)(ss / n);
    float r = (float)(1.0 / sqrt((double)(var + eps)));
    for (int i = 0; i < n; i++) out[i] = w[i] * (x[i] * r);
}

/* Rotates the first rope_dim dims of each of n_heads heads of one token. */
static void rope_token(const fwd_ctx *f, float *v, int n_heads, const float *cs, const float *sn) {
    const model_hparams *hp = f->hp;
    int half = hp->rope_dim / 2;
    for (int h = 0; h < n_heads; h++) {
        float *p = v + (size_t)h * hp->head_dim;
        for (int i = 0; i < half; i++) {
            int a = hp->rope_adjacent_pairs ? 2 * i : i;
            int b = hp->rope_adjacent_pairs ? 2 * i + 1 : i + half;
            float x0 = p[a], x1 = p[b];
            /* q*cos + rotate_half(q)*sin, each product rounded as torch does */
            float c = cs[i], s = sn[i];
            float y0 = x0 * c + (-x1) * s;
            float y1 = x1 * c + x0 * s;
            p[a] = y0;
            p[b] = y1;
        }
    }
}

static void lm_head(fwd_ctx *f, const float *xn, int T, float *logits) {
    mm_job j = {.f = f, .x = xn, .ldx = f->hp->hidden, .T = T, .K = f->hp->hidden, .n_out = 1};
    j.out[0] = (mm_out){.w = f->m->lm_head, .y = logits, .ldy = f->hp->vocab, .mode = EPI_STORE};
    mm_run(&j);
}

/* Runs T tokens at positions n_past .. n_past+T-1 through every layer; leaves
 * the final hidden states (before the output norm) in f->x. Returns -1 when
 * attn_layer refuses (its message printed). */
static int run_chunk(fwd_ctx *f, const int32_t *ids, int T, attn_ctx *attn) {
    const model *m = f->m;
    const model_hparams *hp = f->hp;
    int H = hp->hidden, p0 = f->n_past, half = hp->rope_dim / 2;
    ensure_cap(f, T);
    for (int t = 0; t < T; t++) model_tensor_row(m->tok_embd, ids[t], f->x + (size_t)t * H);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < half; i++) {
            float ang = (float)(p0 + t) * f->inv_freq[i];
            f->cosb[(size_t)t * half + i] = (float)cos((double)ang);
            f->sinb[(size_t)t * half + i] = (float)sin((double)ang);
        }
    size_t layer_stride = (size_t)f->n_ctx * f->kv_dim;
    for (int l = 0; l < hp->n_layers; l++) {
        const model_layer *L = &m->layers[l];
        const layer_f32 *lw = &f->lw[l];
        float *kl = f->kcache + l * layer_stride, *vl = f->vcache + l * layer_stride;
        float *kn = kl + (size_t)p0 * f->kv_dim, *vn = vl + (size_t)p0 * f->kv_dim;

        for (int t = 0; t < T; t++)
            rmsnorm(f->xn + (size_t)t * H, f->x + (size_t)t * H, lw->attn_norm, H, hp->rms_eps);
        mm_job j = {.f = f, .x = f->xn, .ldx = H, .T = T, .K = H, .n_out = 3};
        j.out[0] = (mm_out){L->wq, lw->bq, f->q, f->q_dim, EPI_STORE};
        j.out[1] = (mm_out){L->wk, lw->bk, kn, f->kv_dim, EPI_STORE}; /* straight into the cache */
        j.out[2] = (mm_out){L->wv, lw->bv, vn, f->kv_dim, EPI_STORE};
        mm_run(&j);
        for (int t = 0; t < T; t++) {
            rope_token(f, f->q + (size_t)t * f->q_dim, hp->n_heads, f->cosb + (size_t)t * half,
                       f->sinb + (size_t)t * half);
            rope_token(f, kn + (size_t)t * f->kv_dim, hp->n_kv_heads, f->cosb + (size_t)t * half,
                       f->sinb + (size_t)t * half);
        }
        if (attn_layer(attn, f->pool, l, f->q, p0, T, kl, vl, f->att) != 0) return -1;
        if (f->attn_hook) f->attn_hook(f->attn_hook_ud, l, p0, T, f->att);

        j = (mm_job){.f = f, .x = f->att, .ldx = f->q_dim, .T = T, .K = f->q_dim, .n_out = 1};
        j.out[0] = (mm_out){L->wo, NULL, f->x, H, EPI_ADD};
        mm_run(&j);

        for (int t = 0; t < T; t++)
            rmsnorm(f->xn + (size_t)t * H, f->x + (size_t)t * H, lw->ffn_norm, H, hp->rms_eps);
        j = (mm_job){.f = f, .x = f->xn, .ldx = H, .T = T, .K = H, .n_out = 2, .swiglu = 1};
        j.out[0] = (mm_out){L->w_gate, NULL, f->h, hp->ffn, EPI_STORE};
        j.out[1] = (mm_out){L->w_up, NULL, f->h, hp->ffn, EPI_SWIGLU};
        mm_run(&j);

        j = (mm_job){.f = f, .x = f->h, .ldx = hp->ffn, .T = T, .K = hp->ffn, .n_out = 1};
        j.out[0] = (mm_out){L->w_down, NULL, f->x, H, EPI_ADD};
        mm_run(&j);
    }
    f->n_past += T;
    return 0;
}

/* ------------------------------------------------------------------- driving */

static int check_ids(fwd_ctx *f, const int32_t *ids, int n) {
    if (n < 1) return ev_error("%s: nothing to evaluate (0 tokens)", f->m->path);
    if (n > f->n_ctx - f->n_past)
        return ev_error("%s: %d tokens do not fit the context: %d of %d positions used", f->m->path, n, f->n_past,
                        f->n_ctx);
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= f->hp->vocab)
            return ev_error("%s: token id %d is outside the vocabulary (0 .. %d)", f->m->path, (int)ids[i],
                            f->hp->vocab - 1);
    return 0;
}

int fwd_prefill(fwd_ctx *f, const int32_t *ids, int n, int chunk, attn_ctx *attn, float *logits_last) {
    if (check_ids(f, ids, n) != 0) return -1;
    if (chunk <= 0 || chunk > n) chunk = n;
    int H = f->hp->hidden, T = 0, n_past0 = f->n_past;
    for (int i = 0; i < n; i += T) {
        T = n - i < chunk ? n - i : chunk;
        if (run_chunk(f, ids + i, T, attn) != 0) {
            f->n_past = n_past0;
            return -1;
        }
    }
    if (logits_last) {
        rmsnorm(f->xn, f->x + (size_t)(T - 1) * H, f->out_norm, H, f->hp->rms_eps);
        lm_head(f, f->xn, 1, logits_last);
    }
    return 0;
}

int fwd_decode_one(fwd_ctx *f, int32_t id, attn_ctx *attn, float *logits) {
    return fwd_prefill(f, &id, 1, 1, attn, logits);
}

int fwd_eval(fwd_ctx *f, const int32_t *ids, int n, int chunk, attn_ctx *attn, fwd_logits_fn cb, void *ud) {
    if (check_ids(f, ids, n) != 0) return -1;
    if (chunk <= 0 || chunk > n) chunk = n;
    int H = f->hp->hidden, V = f->hp->vocab, n_past0 = f->n_past;
    for (int i = 0, T; i < n; i += T) {
        T = n - i < chunk ? n - i : chunk;
        if (run_chunk(f, ids + i, T, attn) != 0) {
            f->n_past = n_past0;
            return -1;
        }
        for (int t0 = 0; t0 < T; t0 += FWD_LM_ROWS) {
            int nt = T - t0 < FWD_LM_ROWS ? T - t0 : FWD_LM_ROWS;
            for (int t = 0; t < nt; t++)
                rmsnorm(f->xn + (size_t)t * H, f->x + (size_t)(t0 + t) * H, f->out_norm, H, f->hp->rms_eps);
            lm_head(f, f->xn, nt, f->logits);
            for (int t = 0; t < nt; t++) cb(ud, i + t0 + t, f->logits + (size_t)t * V);
        }
    }
    return 0;
}

int fwd_argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

typedef struct {
    const int32_t *ids;
    int n, vocab;
    double nll;
    double *each;
} score_acc;

double fwd_nll(const float *logits, int vocab, int32_t id) {
    float mx = logits[0];
    for (int v = 1; v < vocab; v++)
        if (logits[v] > mx) mx = logits[v];
    double sum = 0;
    for (int v = 0; v < vocab; v++) sum += exp((double)logits[v] - mx);
    return (double)mx + log(sum) - (double)logits[id];
}

static void score_cb(void *ud, int i, const float *logits) {
    score_acc *s = ud;
    if (i + 1 >= s->n) return;
    double t = fwd_nll(logits, s->vocab, s->ids[i + 1]);
    s->nll += t;
    if (s->each) s->each[i] = t;
}

int fwd_score(fwd_ctx *f, attn_ctx *attn, const int32_t *ids, int n, int chunk, double *nll_sum, double *each) {
    fwd_reset(f);
    score_acc s = {ids, n, f->hp->vocab, 0, each};
    if (fwd_eval(f, ids, n, chunk, attn, score_cb, &s) != 0) return -1;
    *nll_sum = s.nll;
    return n - 1;
}
