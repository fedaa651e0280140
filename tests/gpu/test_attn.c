/* test_attn.c - the CUDA attention kernels (kernels/attn.cu) against the CPU
 * reference attn_layer (src/attention.c) on random inputs, for every variant.
 *
 * Inputs: q, k in [-2, 2) (q in [-8, 8) for peaked softmaxes in some cases), v
 * in [-1, 1), rounded to bf16; the CPU reference runs in fp32 on the same
 * rounded values. Lengths 1 .. 32768 including non-multiples of the 64-key
 * tile, of gamma, window and block; head dims 64 and 128; GQA ratios 1, 4, 8;
 * sink 0, window >= S, gamma 1, 7 and 200, S < cut, tail > cut, a dense layer;
 * decode rows (positions >= S) dense and sparse, one call per token and all in
 * one call. Every case runs as one prefill chunk and, for most, again in
 * chunks of 1, 7 and 64 rows (the +delta carry across chunks included); each
 * chunking is compared with the CPU and with the one-chunk GPU result, and the
 * one-chunk run is repeated with 64-row prefill tiles (the default is 128) and
 * with each kernel of 128-row tiles (wgmma and mma.sync, cuda_attn_set_kernel);
 * chunks of 300 rows run on both kernels too. Cache
 * rows past the keys a call may read hold NaN, and `out` starts as NaN, so a
 * read past the causal bound or a row left unwritten shows.
 *
 * THE BOUND, per output element of row (position, head):
 *     |gpu - cpu| <= 2^-8 |cpu| + 2e-2 * rms(cpu row)
 * The first term is the final rounding to bf16 (at most 2^-9 relative), twice.
 * The second covers the softmax weights P entering the PV product as bf16
 * (relative error 2^-9 each; the sums over keys stay fp32): simulating exactly
 * that rounding in float64 (numpy, D = 64/128, 3 .. 3000 keys, q scales 2 and
 * 8) gives at most 0.0072 * rms beyond the first term, so 2e-2 leaves about 3x,
 * also for +delta rows, which add three such outputs. The worst ratio seen is
 * printed per case ("worst" = max over elements of err / bound). */
#include "attention.h"
#include "attn.h"
#include "parallel.h"
#include "test.h"
#include "util.h"

#include <cuda_runtime_api.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CUDA_OK(call)                                                                                   \
    do {                                                                                                \
        cudaError_t e_ = (call);                                                                        \
        if (e_ != cudaSuccess) {                                                                        \
            fprintf(stderr, "FAIL %s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
            exit(1);                                                                                    \
        }                                                                                               \
    } while (0)

static par_pool *pool;

/* ------------------------------------------------------------------ data */

static uint64_t rng_state;
static double rnd(void) { /* uniform [0, 1), splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

/* float -> bf16 bits, round to nearest even (finite inputs) */
static uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static float from_bf16(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* n values uniform in [-r, r), rounded to bf16: bits in b, values in f */
static void fill(uint16_t *b, float *f, size_t n, double r) {
    for (size_t i = 0; i < n; i++) {
        b[i] = to_bf16((float)((2 * rnd() - 1) * r));
        f[i] = from_bf16(b[i]);
    }
}

/* ----------------------------------------------------------------- cases */

typedef struct {
    const char *variant;
    int S, n_dec, H, KV, D;
    int sink, window, block, tail, gamma, decode_sparse;
    int dense_layer;  /* 1: the layer is in dense_layers */
    int chunked;      /* 1: also chunks of 1, 7 and 64 rows */
    double qscale;    /* q in [-qscale, qscale) */
} tcase;

static const tcase CASES[] = {
    /* dense: lengths, GQA 1/4/8, head dims, one token, a peaked softmax, 32K */
    {"dense", 1, 0, 4, 4, 64, 0, 0, 0, 0, 0, 0, 0, 1, 2},
    {"dense", 17, 3, 8, 2, 128, 0, 0, 0, 0, 0, 0, 0, 1, 2},
    {"dense", 1000, 0, 8, 1, 64, 0, 0, 0, 0, 0, 0, 0, 1, 2},
    {"dense", 4097, 0, 4, 4, 128, 0, 0, 0, 0, 0, 0, 0, 0, 8},
    {"dense", 32768, 0, 8, 1, 128, 0, 0, 0, 0, 0, 0, 0, 0, 2},
    /* streaming: sink 0, odd window, window >= S, the paper's sizes, decode */
    {"streaming", 700, 0, 4, 1, 64, 0, 64, 0, 0, 0, 0, 0, 1, 2},
    {"streaming", 2000, 5, 8, 2, 128, 4, 100, 0, 0, 0, 0, 0, 1, 2},
    {"streaming", 500, 2, 4, 4, 64, 16, 1000, 0, 0, 0, 1, 0, 0, 2},
    {"streaming", 32768, 3, 4, 1, 128, 128, 2048, 0, 0, 0, 1, 0, 0, 2},
    {"streaming", 5000, 0, 8, 8, 64, 1024, 2048, 0, 0, 0, 0, 0, 0, 8},
    /* block: odd block, tail 0, decode sparse */
    {"block", 1500, 0, 4, 1, 64, 0, 0, 100, 7, 0, 0, 0, 1, 2},
    {"block", 9000, 4, 8, 2, 128, 8, 300, 2048, 128, 0, 1, 0, 0, 2},
    {"block", 300, 1, 4, 4, 128, 0, 0, 256, 0, 0, 0, 0, 1, 2},
    /* streaming+delta: chunk carry, gamma 1, S < cut, 32K, gamma 7 and 200 */
    {"streaming+delta", 3000, 3, 4, 1, 64, 8, 200, 0, 0, 64, 0, 0, 1, 2},
    {"streaming+delta", 1000, 0, 8, 2, 128, 0, 50, 0, 0, 1, 0, 0, 1, 2},
    {"streaming+delta", 100, 2, 4, 1, 64, 4, 16, 0, 0, 64, 1, 0, 1, 2},
    {"streaming+delta", 32768, 2, 4, 1, 128, 128, 2048, 0, 0, 64, 0, 0, 0, 2},
    {"streaming+delta", 2500, 0, 4, 4, 128, 4, 90, 0, 0, 7, 0, 0, 1, 2},
    {"streaming+delta", 4000, 0, 8, 8, 64, 16, 300, 0, 0, 200, 0, 0, 1, 8},
    /* block+delta: tail inside and beyond cut */
    {"block+delta", 3000, 2, 4, 4, 128, 0, 0, 256, 128, 64, 0, 0, 1, 2},
    {"block+delta", 5000, 0, 8, 2, 64, 0, 0, 1000, 300, 32, 0, 0, 1, 2},
    /* recompute */
    {"streaming+recompute", 2000, 2, 8, 2, 64, 4, 128, 0, 0, 64, 0, 0, 1, 2},
    {"block+recompute", 3000, 0, 8, 1, 128, 0, 0, 512, 64, 16, 0, 0, 1, 2},
    /* a dense layer under a sparse variant; decode over a long cache (split-KV) */
    {"streaming+delta", 1200, 2, 4, 1, 128, 4, 64, 0, 0, 64, 1, 1, 1, 2},
    {"streaming", 20000, 8, 8, 1, 128, 64, 512, 0, 0, 0, 0, 0, 0, 2},
    {"dense", 20000, 8, 32, 8, 128, 0, 0, 0, 0, 0, 0, 0, 0, 2},
};

/* Compares n rows of [H][D] outputs; returns the worst err / bound (> 1 fails). */
static double compare(const float *got, const float *ref, size_t n_rows, int H, int D, const char *what,
                      const char *name, int *bad) {
    double worst = 0;
    int shown = 0;
    for (size_t r = 0; r < n_rows * (size_t)H; r++) {
        const float *g = got + r * (size_t)D, *c = ref + r * (size_t)D;
        double ss = 0;
        for (int d = 0; d < D; d++) ss += (double)c[d] * c[d];
        double rms = sqrt(ss / D);
        for (int d = 0; d < D; d++) {
            double bound = ldexp(fabs((double)c[d]), -8) + 2e-2 * rms + 1e-30;
            double err = fabs((double)g[d] - (double)c[d]);
            double ratio = err / bound;
            if (!(ratio <= 1.0)) { /* NaN too */
                (*bad)++;
                if (shown++ < 3)
                    fprintf(stderr, "  %s %s: row %zu head %zu dim %d: gpu %.6g cpu %.6g (bound %.3g)\n", name, what,
                            r / (size_t)H, r % (size_t)H, d, g[d], c[d], bound);
                ratio = isnan(ratio) ? 1e30 : ratio;
            }
            if (ratio > worst) worst = ratio;
        }
    }
    return worst;
}

/* The GPU result of a case with prefill chunks of `chunk` rows (0: one chunk)
 * and decode rows one per call (dec_one) or all in one call. */
static void run_gpu(const tcase *c, const attn_variant *v, const cuda_attn_shape *sh, void *dq, void *dk, void *dv,
                    void *dout, float *ddelta, void *ws, size_t ws_bytes, int chunk, int dec_one, uint16_t *host_out,
                    size_t n_out) {
    const size_t row = (size_t)c->H * c->D;
    CUDA_OK(cudaMemset(dout, 0xff, n_out * 2)); /* NaN */
    CUDA_OK(cudaMemset(ddelta, 0, row * sizeof(float)));
    int step = chunk > 0 ? chunk : c->S;
    for (int p = 0; p < c->S; p += step) {
        int n = c->S - p < step ? c->S - p : step;
        int rc = cuda_attn_layer(v, sh, (const uint16_t *)dq + (size_t)p * row, p, n, dk, dv,
                                 (uint16_t *)dout + (size_t)p * row, ddelta, ws, ws_bytes, NULL);
        CHECK(rc == 0, "%s: cuda_attn_layer failed at %d", c->variant, p);
    }
    for (int p = c->S; p < c->S + c->n_dec;) {
        int n = dec_one ? 1 : c->n_dec;
        int rc = cuda_attn_layer(v, sh, (const uint16_t *)dq + (size_t)p * row, p, n, dk, dv,
                                 (uint16_t *)dout + (size_t)p * row, ddelta, ws, ws_bytes, NULL);
        CHECK(rc == 0, "%s: decode cuda_attn_layer failed at %d", c->variant, p);
        p += n;
    }
    CUDA_OK(cudaGetLastError());
    CUDA_OK(cudaDeviceSynchronize());
    CUDA_OK(cudaMemcpy(host_out, dout, n_out * 2, cudaMemcpyDeviceToHost));
}

static void run_case(const tcase *c, int ci) {
    attn_variant v;
    if (attn_variant_parse(c->variant, &v) != 0) {
        CHECK(0, "unknown variant %s", c->variant);
        return;
    }
    v.sink = c->sink;
    v.window = c->window > 0 ? c->window : v.window;
    v.block = c->block > 0 ? c->block : v.block;
    v.tail = c->tail;
    v.gamma = c->gamma > 0 ? c->gamma : v.gamma;
    v.decode_sparse = c->decode_sparse && v.base != ATTN_DENSE;
    v.n_dense_layers = 1;
    v.dense_layers[0] = 1;
    const int layer = c->dense_layer ? 1 : 0;
    const int n = c->S + c->n_dec;
    const size_t row = (size_t)c->H * c->D, krow = (size_t)c->KV * c->D;
    const size_t nq = (size_t)n * row, nk = (size_t)n * krow;
    const int pad = 128; /* cache rows past n, NaN */

    rng_state = 1000 + (uint64_t)ci;
    uint16_t *qb = xmalloc(nq * 2), *kb = xmalloc((nk + pad * krow) * 2), *vb = xmalloc((nk + pad * krow) * 2);
    float *qf = xmalloc(nq * 4), *kf = xmalloc(nk * 4), *vf = xmalloc(nk * 4);
    fill(qb, qf, nq, c->qscale);
    fill(kb, kf, nk, 2);
    fill(vb, vf, nk, 1);
    for (size_t i = nk; i < nk + pad * krow; i++) kb[i] = vb[i] = 0x7fc0; /* NaN */

    /* the CPU reference: the prompt in one call, then the decode rows */
    float *ref = xmalloc(nq * 4);
    double t0 = ev_now();
    attn_ctx *a = attn_new(&v, 2, c->H, c->KV, c->D, c->S);
    CHECK(a != NULL, "attn_new");
    if (!a) return;
    CHECK(attn_layer(a, pool, layer, qf, 0, c->S, kf, vf, ref) == 0, "cpu prefill");
    if (c->n_dec) CHECK(attn_layer(a, pool, layer, qf + (size_t)c->S * row, c->S, c->n_dec, kf, vf, ref + (size_t)c->S * row) == 0, "cpu decode");
    attn_free(a);
    double t_cpu = ev_now() - t0;

    cuda_attn_shape sh = {c->H, c->KV, c->D, c->S, c->dense_layer};
    void *dq, *dk, *dv, *dout, *ws;
    float *ddelta;
    size_t ws_bytes = cuda_attn_workspace(&v, &sh, n);
    CUDA_OK(cudaMalloc(&dq, nq * 2));
    CUDA_OK(cudaMalloc(&dk, (nk + pad * krow) * 2));
    CUDA_OK(cudaMalloc(&dv, (nk + pad * krow) * 2));
    CUDA_OK(cudaMalloc(&dout, nq * 2));
    CUDA_OK(cudaMalloc((void **)&ddelta, row * sizeof(float)));
    CUDA_OK(cudaMalloc(&ws, ws_bytes ? ws_bytes : 1));
    CUDA_OK(cudaMemcpy(dq, qb, nq * 2, cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemcpy(dk, kb, (nk + pad * krow) * 2, cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemcpy(dv, vb, (nk + pad * krow) * 2, cudaMemcpyHostToDevice));

    uint16_t *ob = xmalloc(nq * 2);
    float *one = xmalloc(nq * 4), *got = xmalloc(nq * 4);
    char desc[256];
    attn_variant_describe(&v, desc, sizeof desc);
    char name[320];
    snprintf(name, sizeof name, "case %d (S=%d dec=%d H=%d KV=%d D=%d %s%s)", ci, c->S, c->n_dec, c->H, c->KV, c->D,
             desc, c->dense_layer ? " dense-layer" : "");

    int bad = 0;
    run_gpu(c, &v, &sh, dq, dk, dv, dout, ddelta, ws, ws_bytes, 0, 0, ob, nq);
    for (size_t i = 0; i < nq; i++) one[i] = from_bf16(ob[i]);
    double worst = compare(one, ref, (size_t)n, c->H, c->D, "one chunk", name, &bad);
    /* the 64-row prefill tile (bench --tile 64), one chunk */
    CHECK(cuda_attn_set_tile_rows(64) == 0, "tile rows 64");
    run_gpu(c, &v, &sh, dq, dk, dv, dout, ddelta, ws, ws_bytes, 0, 0, ob, nq);
    CHECK(cuda_attn_set_tile_rows(128) == 0, "tile rows 128");
    for (size_t i = 0; i < nq; i++) got[i] = from_bf16(ob[i]);
    double w64 = compare(got, ref, (size_t)n, c->H, c->D, "64-row tiles", name, &bad);
    if (w64 > worst) worst = w64;
    /* the other kernel of 128-row tiles, one chunk (the default ran above);
     * EVALCTL_ATTN_KERNEL set: that kernel only (to check a fallback alone) */
    const int kdef = cuda_attn_kernel(), kother = kdef == CUDA_ATTN_MMA ? CUDA_ATTN_WGMMA : CUDA_ATTN_MMA;
    const int both = getenv("EVALCTL_ATTN_KERNEL") == NULL;
    if (both) {
        CHECK(cuda_attn_set_kernel(kother) == 0, "set kernel");
        run_gpu(c, &v, &sh, dq, dk, dv, dout, ddelta, ws, ws_bytes, 0, 0, ob, nq);
        CHECK(cuda_attn_set_kernel(kdef) == 0, "set kernel");
        for (size_t i = 0; i < nq; i++) got[i] = from_bf16(ob[i]);
        double wk = compare(got, ref, (size_t)n, c->H, c->D, kother == CUDA_ATTN_MMA ? "mma kernel" : "wgmma kernel",
                            name, &bad);
        if (wk > worst) worst = wk;
    }
    /* chunks of 300 rows (> 64: 128-row tiles, no split-KV) on both kernels */
    static const int chunks[] = {1, 7, 64, 300, -300};
    if (c->chunked)
        for (int x = 0; x < 5; x++) {
            int ch = abs(chunks[x]);
            if (ch >= c->S || (chunks[x] < 0 && !both)) continue;
            if (chunks[x] < 0) CHECK(cuda_attn_set_kernel(kother) == 0, "set kernel");
            run_gpu(c, &v, &sh, dq, dk, dv, dout, ddelta, ws, ws_bytes, ch, 1, ob, nq);
            if (chunks[x] < 0) CHECK(cuda_attn_set_kernel(kdef) == 0, "set kernel");
            for (size_t i = 0; i < nq; i++) got[i] = from_bf16(ob[i]);
            char what[64];
            snprintf(what, sizeof what, "chunks of %d%s vs cpu", ch, chunks[x] < 0 ? " (other kernel)" : "");
            double w = compare(got, ref, (size_t)n, c->H, c->D, what, name, &bad);
            if (w > worst) worst = w;
            snprintf(what, sizeof what, "chunks of %d%s vs one chunk", ch, chunks[x] < 0 ? " (other kernel)" : "");
            w = compare(got, one, (size_t)n, c->H, c->D, what, name, &bad);
            if (w > worst) worst = w;
        }
    CHECK(bad == 0, "%s: %d elements out of bound", name, bad);
    printf("%s: worst %.3f of the bound, cpu %.1fs\n", name, worst, t_cpu);
    fflush(stdout);

    cudaFree(dq);
    cudaFree(dk);
    cudaFree(dv);
    cudaFree(dout);
    cudaFree(ddelta);
    cudaFree(ws);
    free(qb);
    free(kb);
    free(vb);
    free(qf);
    free(kf);
    free(vf);
    free(ref);
    free(ob);
    free(one);
    free(got);
}

/* Bad calls: one error line and -1, nothing launched. */
static void test_errors(void) {
    attn_variant v;
    attn_variant_parse("streaming+delta", &v);
    cuda_attn_shape bad_hd = {4, 1, 96, 10, 0}, ok = {4, 1, 64, 10, 0}, bad_gqa = {6, 4, 64, 10, 0};
    void *p = (void *)16; /* never dereferenced: the calls fail before any launch */
    size_t need = cuda_attn_workspace(&v, &ok, 10);
    CHECK(need > 0, "workspace");
    struct { const cuda_attn_shape *s; size_t ws; float *delta; const char *why; } calls[] = {
        {&bad_hd, need, (float *)p, "head dim 96"},
        {&bad_gqa, need, (float *)p, "6 heads over 4 kv heads"},
        {&ok, need - 1, (float *)p, "small workspace"},
        {&ok, need, NULL, "no delta buffer"},
    };
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        test_capture_begin();
        int rc = cuda_attn_layer(&v, calls[i].s, p, 0, 10, p, p, p, calls[i].delta, p, calls[i].ws, NULL);
        char *err = test_capture_end();
        CHECK(rc == -1, "%s: rc %d", calls[i].why, rc);
        CHECK(test_count_lines(err) == 1 && strncmp(err, "evalctl: ", 9) == 0, "%s: \"%s\"", calls[i].why, err);
        free(err);
    }
    CHECK(cuda_attn_set_tile_rows(96) == -1, "tile rows 96");
    test_capture_begin();
    int rk = cuda_attn_set_kernel(7);
    free(test_capture_end());
    CHECK(rk == -1, "kernel 7");
}

int main(int argc, char **argv) {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
        CHECK(0, "no CUDA device");
        return test_done("gpu_attn");
    }
    pool = par_new(0);
    printf("128-row tiles: %s kernel (\"one chunk\", chunks of 300)%s\n",
           cuda_attn_kernel() == CUDA_ATTN_MMA ? "mma" : "wgmma",
           getenv("EVALCTL_ATTN_KERNEL") ? "; the other kernel is not tested (EVALCTL_ATTN_KERNEL is set)"
                                         : "; the other one as \"mma/wgmma kernel\" and \"(other kernel)\"");
    test_errors();
    /* argv[1]: run only that case (debugging) */
    int only = argc > 1 ? atoi(argv[1]) : -1;
    for (int i = 0; i < (int)(sizeof CASES / sizeof CASES[0]); i++)
        if (only < 0 || only == i) run_case(&CASES[i], i);
    par_free(pool);
    return test_done("gpu_attn");
}
