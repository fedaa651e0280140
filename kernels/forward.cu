/* forward.cu - the decoder on the GPU (see cuda_forward.h). The layer is the CPU
 * one of src/forward.c step for step: RMSNorm -> QKV product (+ qwen2 biases)
 * -> RoPE -> attention (kernels/attn.h, every variant) -> output product added
 * to the residual -> RMSNorm -> gate|up product -> SwiGLU -> down product added
 * to the residual; then the final norm and the LM head.
 *
 * Precision, and why: matrix products take bf16 operands with fp32
 * accumulation (cuBLAS, CUBLAS_COMPUTE_32F) because that is what the tensor
 * cores run at full rate; the residual stream stays fp32 so that 32-80 layers
 * of additions do not lose the small updates, which is where bf16 models drift
 * most; the residual additions are folded into the products (beta = 1 onto an
 * fp32 C). Norm statistics, RoPE angles and the log-softmax are fp32. */
extern "C" {
#include "attention.h"
#include "forward.h"
#include "model.h"
#include "quant.h"
}

#include "attn.h"
#include "cuda_check.h"
#include "cuda_forward.h"

#include <cuda_bf16.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef __nv_bfloat16 bf16;

/* ------------------------------------------------------------------ kernels */

/* One element per thread: the ggml block formats, expanded as quant.c expands
 * them (ggml's expressions, unfused), then rounded to bf16. */
__global__ void k_deq(int type, const uint8_t *src, bf16 *dst, int64_t n) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float v;
    switch (type) {
    case QT_F32: v = ((const float *)src)[i]; break;
    case QT_F16: v = __half2float(((const __half *)src)[i]); break;
    case QT_BF16: dst[i] = ((const bf16 *)src)[i]; return;
    case QT_Q8_0: {
        const uint8_t *b = src + (i / 32) * 34;
        float d = __half2float(*(const __half *)b);
        v = __fmul_rn((float)(int8_t)b[2 + i % 32], d);
        break;
    }
    default: { /* Q4_0, Q4_1: low nibbles are elements 0..15, high 16..31 */
        int q1 = type == QT_Q4_1;
        const uint8_t *b = src + (i / 32) * (q1 ? 20 : 18);
        float d = __half2float(*(const __half *)b);
        int j = (int)(i % 32);
        uint8_t byte = b[(q1 ? 4 : 2) + (j & 15)];
        int q = j < 16 ? (byte & 15) : (byte >> 4);
        v = q1 ? __fadd_rn(__fmul_rn((float)q, d), __half2float(*(const __half *)(b + 2))) : __fmul_rn((float)(q - 8), d);
    }
    }
    dst[i] = __float2bfloat16(v);
}

/* splitmix64 -> uniform in [-scale, scale): reproducible random weights */
__global__ void k_rand(bf16 *dst, int64_t n, uint64_t seed, float scale) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    uint64_t z = seed + (uint64_t)i * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    dst[i] = __float2bfloat16(((float)(z >> 40) / 16777216.0f * 2.0f - 1.0f) * scale);
}

__global__ void k_fill_f32(float *dst, int64_t n, float v) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) dst[i] = v;
}

__global__ void k_embed(const int32_t *ids, const bf16 *table, float *x, int hidden) {
    int t = blockIdx.x;
    const bf16 *row = table + (size_t)ids[t] * hidden;
    for (int i = threadIdx.x; i < hidden; i += blockDim.x) x[(size_t)t * hidden + i] = __bfloat162float(row[i]);
}

/* out[r] = bf16(w * (x[r] * rsqrt(mean(x[r]^2) + eps))); one block a row */
__global__ void k_rmsnorm(const float *x, const float *w, bf16 *out, int n, float eps) {
    const float *xr = x + (size_t)blockIdx.x * n;
    float ss = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) ss += xr[i] * xr[i];
    __shared__ float part[32];
    for (int o = 16; o; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = ss;
    __syncthreads();
    if (threadIdx.x < 32) {
        ss = threadIdx.x < (blockDim.x + 31) / 32 ? part[threadIdx.x] : 0;
        for (int o = 16; o; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
        if (threadIdx.x == 0) part[0] = ss;
    }
    __syncthreads();
    float rs = rsqrtf(part[0] / n + eps);
    bf16 *o = out + (size_t)blockIdx.x * n;
    for (int i = threadIdx.x; i < n; i += blockDim.x) o[i] = __float2bfloat16(w[i] * (xr[i] * rs));
}

/* qkv[t] = [q | k | v] fp32 from the fused product: adds the biases, rotates q
 * and k (pairs (2i, 2i+1) or (i, i + half), as the weights were laid out),
 * writes q as bf16 and k, v into the cache at position pos0 + t. One block a
 * token; angles pos * inv_freq in fp32, then cos/sin in double as the CPU. */
__global__ void k_qkv_rope(const float *qkv, const float *bias, const float *inv_freq, int pos0, int n_heads,
                           int n_kv, int hd, int adjacent, bf16 *q, bf16 *kc, bf16 *vc) {
    int t = blockIdx.x, half = hd / 2, qd = n_heads * hd, kd = n_kv * hd, w = qd + 2 * kd;
    const float *row = qkv + (size_t)t * w;
    size_t cpos = (size_t)(pos0 + t) * kd;
    for (int p = threadIdx.x; p < (n_heads + n_kv) * half; p += blockDim.x) {
        int h = p / half, i = p % half;
        int a = adjacent ? 2 * i : i, b = adjacent ? 2 * i + 1 : i + half;
        int base = h * hd; /* q heads then k heads: contiguous in the row */
        float x0 = row[base + a], x1 = row[base + b];
        if (bias) x0 += bias[base + a], x1 += bias[base + b];
        float ang = (float)(pos0 + t) * inv_freq[i];
        double sd, cd;
        sincos((double)ang, &sd, &cd);
        float c = (float)cd, s = (float)sd;
        float y0 = __fadd_rn(__fmul_rn(x0, c), __fmul_rn(-x1, s));
        float y1 = __fadd_rn(__fmul_rn(x1, c), __fmul_rn(x0, s));
        if (h < n_heads) {
            q[(size_t)t * qd + base + a] = __float2bfloat16(y0);
            q[(size_t)t * qd + base + b] = __float2bfloat16(y1);
        } else {
            kc[cpos + base - qd + a] = __float2bfloat16(y0);
            kc[cpos + base - qd + b] = __float2bfloat16(y1);
        }
    }
    for (int i = threadIdx.x; i < kd; i += blockDim.x) {
        float v = row[qd + kd + i];
        if (bias) v += bias[qd + kd + i];
        vc[cpos + i] = __float2bfloat16(v);
    }
}

/* h = bf16(silu(gate) * up) from the fused [gate | up] product */
__global__ void k_swiglu(const float *gu, bf16 *h, int ffn, int64_t n) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    int64_t t = i / ffn, j = i % ffn;
    float g = gu[t * 2 * ffn + j], u = gu[t * 2 * ffn + ffn + j];
    h[i] = __float2bfloat16(g / (1.0f + expf(-g)) * u);
}

/* nll[r] = logsumexp(logits[r]) - logits[r][target[r]]; one block a row */
__global__ void k_nll(const float *logits, const int32_t *target, int vocab, double *nll) {
    const float *l = logits + (size_t)blockIdx.x * vocab;
    __shared__ float red[32];
    __shared__ float mx_s;
    float mx = -INFINITY;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) mx = fmaxf(mx, l[i]);
    for (int o = 16; o; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = mx;
    __syncthreads();
    if (threadIdx.x == 0) {
        float m = red[0];
        for (int w = 1; w < (int)(blockDim.x + 31) / 32; w++) m = fmaxf(m, red[w]);
        mx_s = m;
    }
    __syncthreads();
    mx = mx_s;
    float s = 0;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) s += expf(l[i] - mx);
    for (int o = 16; o; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    __syncthreads();
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = s;
    __syncthreads();
    if (threadIdx.x == 0) {
        double tot = 0;
        for (int w = 0; w < (int)(blockDim.x + 31) / 32; w++) tot += red[w];
        nll[blockIdx.x] = (double)mx + log(tot) - (double)l[target[blockIdx.x]];
    }
}

/* ------------------------------------------------------------------ context */

typedef struct {
    bf16 *wqkv, *wo, *wgu, *wdown;     /* [q+2kv][H], [H][q], [2F][H], [H][F] */
    float *attn_norm, *ffn_norm, *bqkv; /* [H], [H], [q+2kv] or NULL */
    float *delta;                       /* [n_heads][head_dim] Delta state */
} gpu_layer;

struct cuda_fwd {
    const model *m;
    model_hparams hp;
    int n_ctx, max_chunk, n_past, qd, kd;
    cublasHandle_t blas;
    cudaStream_t st;
    bf16 *embd, *lm_head;               /* lm_head == embd when tied */
    float *out_norm, *inv_freq;
    gpu_layer *L;
    bf16 *kcache, *vcache;              /* [n_layers][n_ctx][kd] */
    /* chunk scratch */
    float *x, *qkv, *gu, *logits;       /* [T][H], [T][q+2kv], [T][2F], [LM][V] */
    bf16 *xn, *q, *att, *h;
    int32_t *ids_d, *tgt_d;
    double *nll_d;
    void *ws;
    size_t ws_bytes;
    attn_variant var;
    int prompt_len, began;
    /* phase timing */
    int timing;
    cudaEvent_t ev0, ev1;
    cuda_fwd_times times;
    fwd_attn_fn hook;                   /* attention observer (analyses) */
    void *hook_ud;
    uint16_t *hook_bf;                  /* [max_chunk][qd] host copies for it */
    float *hook_f;
    void **mem;                         /* every cudaMalloc, for free */
    int n_mem, cap_mem;
};

#define FWD_LM_ROWS 512 /* LM-head rows per pass when scoring (logits [512][vocab] fp32) */

static int dalloc(cuda_fwd *f, void **p, size_t bytes) {
    if (f->n_mem == f->cap_mem) {
        int cap = f->cap_mem ? 2 * f->cap_mem : 64;
        void **m = (void **)realloc(f->mem, sizeof(void *) * (size_t)cap);
        if (!m) {
            fprintf(stderr, "evalctl: cuda: out of host memory\n");
            return -1;
        }
        f->mem = m;
        f->cap_mem = cap;
    }
    cudaError_t e = cudaMalloc(p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        size_t fr = 0, tot = 0;
        cudaMemGetInfo(&fr, &tot);
        fprintf(stderr, "evalctl: cuda: cannot allocate %.2f GiB on the GPU (%.2f GiB free of %.2f): %s\n",
                bytes / 1073741824.0, fr / 1073741824.0, tot / 1073741824.0, cudaGetErrorString(e));
        return -1;
    }
    f->mem[f->n_mem++] = *p;
    return 0;
}
#define DALLOC(f, p, bytes) dalloc((f), (void **)&(p), (bytes))

static int blocks(int64_t n, int t) { return (int)((n + t - 1) / t); }

/* One model tensor -> rows [row0, row0+rows) of a bf16 device matrix with its
 * column count. GPU-expanded types go up raw through a staging buffer. */
static int upload(cuda_fwd *f, const model_tensor *t, bf16 *dst, void *stage, size_t stage_bytes, float *host_f32,
                  uint64_t seed, float scale) {
    int64_t n = t->ne[0] * (t->n_dims > 1 ? t->ne[1] : 1);
    if (seed) {
        k_rand<<<blocks(n, 256), 256, 0, f->st>>>(dst, n, seed, scale);
        CU_LAUNCHED();
        return 0;
    }
    int gpu_type = t->type == QT_F32 || t->type == QT_F16 || t->type == QT_BF16 || t->type == QT_Q8_0 ||
                   t->type == QT_Q4_0 || t->type == QT_Q4_1;
    int64_t cols = t->ne[0], nrows = t->n_dims > 1 ? t->ne[1] : 1;
    size_t rb = gpu_type ? qt_row_bytes(t->type, cols) : (size_t)cols * 4;
    int64_t per = (int64_t)(stage_bytes / 2 / rb); /* rows a pass; stage holds raw bytes */
    if (per < 1) per = 1;
    for (int64_t r0 = 0; r0 < nrows; r0 += per) {
        int64_t nr = nrows - r0 < per ? nrows - r0 : per;
        if (gpu_type) {
            CU_TRY(cudaMemcpyAsync(stage, (const uint8_t *)t->data + (size_t)r0 * rb, (size_t)nr * rb,
                                   cudaMemcpyHostToDevice, f->st));
            k_deq<<<blocks(nr * cols, 256), 256, 0, f->st>>>(t->type, (const uint8_t *)stage, dst + r0 * cols,
                                                             nr * cols);
        } else {
            /* host expansion (K-quants ...) into fp32, then on the GPU to bf16 */
            for (int64_t r = 0; r < nr; r++) model_tensor_row(t, r0 + r, host_f32 + r * cols);
            CU_TRY(cudaMemcpyAsync(stage, host_f32, (size_t)nr * cols * 4, cudaMemcpyHostToDevice, f->st));
            k_deq<<<blocks(nr * cols, 256), 256, 0, f->st>>>(QT_F32, (const uint8_t *)stage, dst + r0 * cols,
                                                             nr * cols);
        }
        CU_LAUNCHED();
        CU_TRY(cudaStreamSynchronize(f->st)); /* stage is reused */
    }
    return 0;
}

static int upload_f32(cuda_fwd *f, const model_tensor *t, float *dst, int64_t n, uint64_t seed) {
    float *h = (float *)malloc(sizeof(float) * (size_t)n);
    if (!h) {
        fprintf(stderr, "evalctl: cuda: out of host memory\n");
        return -1;
    }
    if (seed) {
        for (int64_t i = 0; i < n; i++) h[i] = 1.0f;
    } else {
        model_tensor_row(t, 0, h);
    }
    cudaError_t e = cudaMemcpyAsync(dst, h, sizeof(float) * (size_t)n, cudaMemcpyHostToDevice, f->st);
    if (e == cudaSuccess) e = cudaStreamSynchronize(f->st);
    free(h);
    CU_TRY(e);
    return 0;
}

extern "C" size_t cuda_fwd_bytes(const model *m, int n_ctx, int max_chunk) {
    const model_hparams *hp = &m->hp;
    size_t H = hp->hidden, qd = (size_t)hp->n_heads * hp->head_dim, kd = (size_t)hp->n_kv_heads * hp->head_dim;
    size_t F = hp->ffn, V = hp->vocab, T = max_chunk;
    size_t w = ((qd + 2 * kd) * H + H * qd + 2 * F * H + H * F) * 2 * hp->n_layers + V * H * 2 * (hp->tied_embeddings ? 1 : 2);
    size_t kv = 2 * (size_t)hp->n_layers * n_ctx * kd * 2;
    size_t s = T * (H * 4 + (qd + 2 * kd) * 4 + 2 * F * 4 + H * 2 + qd * 2 * 2 + F * 2) + FWD_LM_ROWS * V * 4;
    return w + kv + s + ((size_t)64 << 20);
}

extern "C" void cuda_fwd_free(cuda_fwd *f) {
    if (!f) return;
    cudaStreamSynchronize(f->st);
    for (int i = 0; i < f->n_mem; i++) cudaFree(f->mem[i]);
    cudaFree(f->ws);
    free(f->mem);
    if (f->blas) cublasDestroy(f->blas);
    if (f->st) cudaStreamDestroy(f->st);
    if (f->ev0) cudaEventDestroy(f->ev0);
    if (f->ev1) cudaEventDestroy(f->ev1);
    free(f->L);
    free(f->hook_bf);
    free(f->hook_f);
    free(f);
}

extern "C" void cuda_fwd_set_attn_hook(cuda_fwd *f, fwd_attn_fn fn, void *ud) {
    f->hook = fn;
    f->hook_ud = ud;
    if (fn && !f->hook_bf) {
        f->hook_bf = (uint16_t *)malloc(sizeof(uint16_t) * (size_t)f->max_chunk * f->qd);
        f->hook_f = (float *)malloc(sizeof(float) * (size_t)f->max_chunk * f->qd);
        if (!f->hook_bf || !f->hook_f) f->hook = NULL; /* analyses only: no hook rather than a crash */
    }
}

/* hands the layer's attention output (bf16 on the GPU) to the hook as fp32 */
static int call_hook(cuda_fwd *f, int layer, int p0, int T) {
    size_t n = (size_t)T * f->qd;
    CU_TRY(cudaMemcpyAsync(f->hook_bf, f->att, n * 2, cudaMemcpyDeviceToHost, f->st));
    CU_TRY(cudaStreamSynchronize(f->st));
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)f->hook_bf[i] << 16;
        memcpy(&f->hook_f[i], &u, 4);
    }
    f->hook(f->hook_ud, layer, p0, T, f->hook_f);
    return 0;
}

static int fwd_init(cuda_fwd *f, uint64_t seed) {
    const model *m = f->m;
    const model_hparams *hp = &f->hp;
    int H = hp->hidden, F = hp->ffn, V = hp->vocab, T = f->max_chunk, nl = hp->n_layers;
    int qkvw = f->qd + 2 * f->kd;
    int dev_count = 0;
    CU_TRY(cudaGetDeviceCount(&dev_count));
    size_t need = cuda_fwd_bytes(m, f->n_ctx, f->max_chunk), fr = 0, tot = 0;
    CU_TRY(cudaMemGetInfo(&fr, &tot));
    if (need > fr) {
        fprintf(stderr, "evalctl: cuda: %s with a %d-token cache needs about %.1f GiB of GPU memory; %.1f GiB of %.1f are free\n",
                m->path, f->n_ctx, need / 1073741824.0, fr / 1073741824.0, tot / 1073741824.0);
        return -1;
    }
    CU_TRY(cudaStreamCreateWithFlags(&f->st, cudaStreamNonBlocking));
    CU_TRY(cudaEventCreate(&f->ev0));
    CU_TRY(cudaEventCreate(&f->ev1));
    CUBLAS_TRY(cublasCreate(&f->blas));
    CUBLAS_TRY(cublasSetStream(f->blas, f->st));

    f->L = (gpu_layer *)calloc((size_t)nl, sizeof *f->L);
    if (!f->L) return -1;
    /* the weights go up through one 64 MB staging buffer, freed before the
     * KV cache and scratch are allocated */
    size_t stage_bytes = (size_t)64 << 20;
    void *stage = NULL;
    float *host = (float *)malloc(stage_bytes);
    if (!host || cudaMalloc(&stage, stage_bytes) != cudaSuccess) {
        fprintf(stderr, "evalctl: cuda: cannot allocate the 64 MB upload buffer\n");
        free(host);
        return -1;
    }
    int rc = -1;
    uint64_t s = seed;
#define NEXT_SEED (seed ? ++s : 0)
    float sc_h = 1.0f / sqrtf((float)H), sc_f = 1.0f / sqrtf((float)F);
    if (DALLOC(f, f->embd, (size_t)V * H * 2) ||
        upload(f, m->tok_embd, f->embd, stage, stage_bytes, host, NEXT_SEED, 1.0f))
        goto out;
    if (hp->tied_embeddings) {
        f->lm_head = f->embd;
    } else if (DALLOC(f, f->lm_head, (size_t)V * H * 2) ||
               upload(f, m->lm_head, f->lm_head, stage, stage_bytes, host, NEXT_SEED, sc_h)) {
        goto out;
    }
    if (DALLOC(f, f->out_norm, (size_t)H * 4) || upload_f32(f, m->out_norm, f->out_norm, H, seed)) goto out;
    for (int l = 0; l < nl; l++) {
        const model_layer *ml = &m->layers[l];
        gpu_layer *g = &f->L[l];
        if (DALLOC(f, g->wqkv, (size_t)qkvw * H * 2) || DALLOC(f, g->wo, (size_t)H * f->qd * 2) ||
            DALLOC(f, g->wgu, (size_t)2 * F * H * 2) || DALLOC(f, g->wdown, (size_t)H * F * 2) ||
            DALLOC(f, g->attn_norm, (size_t)H * 4) || DALLOC(f, g->ffn_norm, (size_t)H * 4) ||
            DALLOC(f, g->delta, (size_t)f->qd * 4))
            goto out;
        if (upload(f, ml->wq, g->wqkv, stage, stage_bytes, host, NEXT_SEED, sc_h) ||
            upload(f, ml->wk, g->wqkv + (size_t)f->qd * H, stage, stage_bytes, host, NEXT_SEED, sc_h) ||
            upload(f, ml->wv, g->wqkv + (size_t)(f->qd + f->kd) * H, stage, stage_bytes, host, NEXT_SEED, sc_h) ||
            upload(f, ml->wo, g->wo, stage, stage_bytes, host, NEXT_SEED, 1.0f / sqrtf((float)f->qd)) ||
            upload(f, ml->w_gate, g->wgu, stage, stage_bytes, host, NEXT_SEED, sc_h) ||
            upload(f, ml->w_up, g->wgu + (size_t)F * H, stage, stage_bytes, host, NEXT_SEED, sc_h) ||
            upload(f, ml->w_down, g->wdown, stage, stage_bytes, host, NEXT_SEED, sc_f) ||
            upload_f32(f, ml->attn_norm, g->attn_norm, H, seed) || upload_f32(f, ml->ffn_norm, g->ffn_norm, H, seed))
            goto out;
        if (ml->bq && !seed) {
            if (DALLOC(f, g->bqkv, (size_t)qkvw * 4) || upload_f32(f, ml->bq, g->bqkv, f->qd, 0) ||
                upload_f32(f, ml->bk, g->bqkv + f->qd, f->kd, 0) || upload_f32(f, ml->bv, g->bqkv + f->qd + f->kd, f->kd, 0))
                goto out;
        }
    }
#undef NEXT_SEED
    {
        float *inv = (float *)malloc(sizeof(float) * (size_t)(hp->rope_dim / 2));
        if (!inv) goto out;
        model_rope_inv_freq(m, inv);
        cudaError_t e = DALLOC(f, f->inv_freq, sizeof(float) * (size_t)(hp->rope_dim / 2)) ? cudaErrorMemoryAllocation
                        : cudaMemcpy(f->inv_freq, inv, sizeof(float) * (size_t)(hp->rope_dim / 2), cudaMemcpyHostToDevice);
        free(inv);
        if (e != cudaSuccess) goto out;
    }
    {
        cudaError_t e = cudaStreamSynchronize(f->st);
        if (e != cudaSuccess) {
            fprintf(stderr, "evalctl: cuda: uploading %s: %s\n", m->path, cudaGetErrorString(e));
            goto out;
        }
    }
    cudaFree(stage);
    stage = NULL;
    {
        size_t kvb = (size_t)nl * f->n_ctx * f->kd * 2;
        if (DALLOC(f, f->kcache, kvb) || DALLOC(f, f->vcache, kvb)) goto out;
    }
    if (DALLOC(f, f->x, (size_t)T * H * 4) || DALLOC(f, f->qkv, (size_t)T * qkvw * 4) ||
        DALLOC(f, f->gu, (size_t)T * 2 * F * 4) || DALLOC(f, f->logits, (size_t)FWD_LM_ROWS * V * 4) ||
        DALLOC(f, f->xn, (size_t)T * H * 2) || DALLOC(f, f->q, (size_t)T * f->qd * 2) ||
        DALLOC(f, f->att, (size_t)T * f->qd * 2) || DALLOC(f, f->h, (size_t)T * F * 2) ||
        DALLOC(f, f->ids_d, (size_t)T * 4) || DALLOC(f, f->tgt_d, (size_t)T * 4) ||
        DALLOC(f, f->nll_d, (size_t)T * 8))
        goto out;
    rc = 0;
out:
    cudaFree(stage);
    free(host);
    return rc;
}

extern "C" cuda_fwd *cuda_fwd_new(const model *m, int n_ctx, int max_chunk, uint64_t random_seed) {
    if (n_ctx < 1 || max_chunk < 1) {
        fprintf(stderr, "evalctl: cuda: %s: bad context %d or chunk %d\n", m->path, n_ctx, max_chunk);
        return NULL;
    }
    if (m->hp.head_dim != 64 && m->hp.head_dim != 128) {
        fprintf(stderr, "evalctl: cuda: %s: head_dim %d is not supported by the attention kernels (64, 128)\n",
                m->path, m->hp.head_dim);
        return NULL;
    }
    cuda_fwd *f = (cuda_fwd *)calloc(1, sizeof *f);
    if (!f) return NULL;
    f->m = m;
    f->hp = m->hp;
    f->n_ctx = n_ctx;
    f->max_chunk = max_chunk < n_ctx ? max_chunk : n_ctx;
    f->qd = m->hp.n_heads * m->hp.head_dim;
    f->kd = m->hp.n_kv_heads * m->hp.head_dim;
    if (fwd_init(f, random_seed) != 0) {
        cuda_fwd_free(f);
        return NULL;
    }
    return f;
}

extern "C" int cuda_fwd_n_past(const cuda_fwd *f) { return f->n_past; }

extern "C" int cuda_fwd_begin(cuda_fwd *f, const attn_variant *v, int prompt_len) {
    if (attn_variant_check(v) != 0) return -1;
    for (int i = 0; i < v->n_dense_layers; i++)
        if (v->dense_layers[i] >= f->hp.n_layers) {
            fprintf(stderr, "evalctl: attention: dense layer %d: the model has %d layers\n", v->dense_layers[i],
                    f->hp.n_layers);
            return -1;
        }
    f->var = *v;
    f->prompt_len = prompt_len;
    f->n_past = 0;
    f->began = 1;
    cuda_attn_shape sh = {f->hp.n_heads, f->hp.n_kv_heads, f->hp.head_dim, prompt_len, 0};
    size_t need = cuda_attn_workspace(v, &sh, f->max_chunk);
    if (need > f->ws_bytes) { /* the workspace grows with the prompt (Delta anchors), kept apart from mem[] */
        CU_TRY(cudaStreamSynchronize(f->st));
        CU_TRY(cudaFree(f->ws));
        f->ws = NULL;
        f->ws_bytes = 0;
        CU_TRY(cudaMalloc(&f->ws, need));
        f->ws_bytes = need;
    }
    for (int l = 0; l < f->hp.n_layers; l++) CU_TRY(cudaMemsetAsync(f->L[l].delta, 0, (size_t)f->qd * 4, f->st));
    return 0;
}

/* phase timing: only when on, since each phase boundary waits for the GPU */
static void ph_start(cuda_fwd *f) {
    if (f->timing) cudaEventRecord(f->ev0, f->st);
}
static void ph_end(cuda_fwd *f, double *acc) {
    if (!f->timing) return;
    float ms = 0;
    cudaEventRecord(f->ev1, f->st);
    cudaEventSynchronize(f->ev1);
    cudaEventElapsedTime(&ms, f->ev0, f->ev1);
    *acc += ms;
}

extern "C" void cuda_fwd_timing(cuda_fwd *f, int on, cuda_fwd_times *out) {
    if (out) *out = f->times;
    memset(&f->times, 0, sizeof f->times);
    f->timing = on;
}

/* Y[T][N] (+)= X[T][K] . W[N][K]^T: column-major, that is Y^T = W^T-as-stored . X^T.
 * beta 1 adds into an fp32 Y (the residual). */
static int gemm(cuda_fwd *f, const bf16 *X, const bf16 *W, float *Y, int T, int N, int K, float beta) {
    const float alpha = 1.0f;
    CUBLAS_TRY(cublasGemmEx(f->blas, CUBLAS_OP_T, CUBLAS_OP_N, N, T, K, &alpha, W, CUDA_R_16BF, K, X, CUDA_R_16BF, K,
                            &beta, Y, CUDA_R_32F, N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return 0;
}

static int layer_dense(const attn_variant *v, int l) {
    for (int i = 0; i < v->n_dense_layers; i++)
        if (v->dense_layers[i] == l) return 1;
    return 0;
}

/* T tokens at positions n_past .. n_past+T-1 through every layer; final hidden
 * states (before the output norm) in f->x. */
static int run_chunk(cuda_fwd *f, const int32_t *ids, int T) {
    const model_hparams *hp = &f->hp;
    int H = hp->hidden, F = hp->ffn, p0 = f->n_past, qkvw = f->qd + 2 * f->kd;
    size_t lstride = (size_t)f->n_ctx * f->kd;
    CU_TRY(cudaMemcpyAsync(f->ids_d, ids, sizeof(int32_t) * (size_t)T, cudaMemcpyHostToDevice, f->st));
    ph_start(f);
    k_embed<<<T, 256, 0, f->st>>>(f->ids_d, f->embd, f->x, H);
    CU_LAUNCHED();
    ph_end(f, &f->times.other_ms);
    for (int l = 0; l < hp->n_layers; l++) {
        gpu_layer *g = &f->L[l];
        bf16 *kl = f->kcache + l * lstride, *vl = f->vcache + l * lstride;
        ph_start(f);
        k_rmsnorm<<<T, 256, 0, f->st>>>(f->x, g->attn_norm, f->xn, H, hp->rms_eps);
        CU_LAUNCHED();
        ph_end(f, &f->times.other_ms);
        ph_start(f);
        if (gemm(f, f->xn, g->wqkv, f->qkv, T, qkvw, H, 0.0f)) return -1;
        ph_end(f, &f->times.gemm_ms);
        ph_start(f);
        k_qkv_rope<<<T, 128, 0, f->st>>>(f->qkv, g->bqkv, f->inv_freq, p0, hp->n_heads, hp->n_kv_heads, hp->head_dim,
                                         hp->rope_adjacent_pairs, f->q, kl, vl);
        CU_LAUNCHED();
        ph_end(f, &f->times.other_ms);
        ph_start(f);
        cuda_attn_shape sh = {hp->n_heads, hp->n_kv_heads, hp->head_dim, f->prompt_len, layer_dense(&f->var, l)};
        if (cuda_attn_layer(&f->var, &sh, f->q, p0, T, kl, vl, f->att, g->delta, f->ws, f->ws_bytes, f->st))
            return -1;
        ph_end(f, &f->times.attn_ms);
        if (f->hook && call_hook(f, l, p0, T)) return -1;
        ph_start(f);
        if (gemm(f, f->att, g->wo, f->x, T, H, f->qd, 1.0f)) return -1;
        ph_end(f, &f->times.gemm_ms);
        ph_start(f);
        k_rmsnorm<<<T, 256, 0, f->st>>>(f->x, g->ffn_norm, f->xn, H, hp->rms_eps);
        CU_LAUNCHED();
        ph_end(f, &f->times.other_ms);
        ph_start(f);
        if (gemm(f, f->xn, g->wgu, f->gu, T, 2 * F, H, 0.0f)) return -1;
        ph_end(f, &f->times.gemm_ms);
        ph_start(f);
        k_swiglu<<<blocks((int64_t)T * F, 256), 256, 0, f->st>>>(f->gu, f->h, F, (int64_t)T * F);
        CU_LAUNCHED();
        ph_end(f, &f->times.other_ms);
        ph_start(f);
        if (gemm(f, f->h, g->wdown, f->x, T, H, F, 1.0f)) return -1;
        ph_end(f, &f->times.gemm_ms);
    }
    f->n_past += T;
    return 0;
}

/* LM head over rows r0 .. r0+n-1 of f->x (n <= FWD_LM_ROWS) into f->logits */
static int lm_rows(cuda_fwd *f, int r0, int n) {
    int H = f->hp.hidden;
    k_rmsnorm<<<n, 256, 0, f->st>>>(f->x + (size_t)r0 * H, f->out_norm, f->xn, H, f->hp.rms_eps);
    CU_LAUNCHED();
    return gemm(f, f->xn, f->lm_head, f->logits, n, f->hp.vocab, H, 0.0f);
}

extern "C" int cuda_fwd_eval(cuda_fwd *f, const int32_t *ids, int n, float *logits_last, double *nll) {
    const model_hparams *hp = &f->hp;
    if (!f->began) {
        fprintf(stderr, "evalctl: cuda: cuda_fwd_eval before cuda_fwd_begin\n");
        return -1;
    }
    if (n < 1) {
        fprintf(stderr, "evalctl: %s: nothing to evaluate (0 tokens)\n", f->m->path);
        return -1;
    }
    if (n > f->n_ctx - f->n_past) {
        fprintf(stderr, "evalctl: %s: %d tokens do not fit the context: %d of %d positions used\n", f->m->path, n,
                f->n_past, f->n_ctx);
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= hp->vocab) {
            fprintf(stderr, "evalctl: %s: token id %d is outside the vocabulary (0 .. %d)\n", f->m->path, (int)ids[i],
                    hp->vocab - 1);
            return -1;
        }
    int n_past0 = f->n_past, T = 0;
    for (int i = 0; i < n; i += T) {
        T = n - i < f->max_chunk ? n - i : f->max_chunk;
        if (run_chunk(f, ids + i, T) != 0) {
            f->n_past = n_past0;
            return -1;
        }
        if (nll) {
            int nt = i + T < n ? T : T - 1; /* the sequence's last token has no target */
            if (nt > 0)
                CU_TRY(cudaMemcpyAsync(f->tgt_d, ids + i + 1, sizeof(int32_t) * (size_t)nt, cudaMemcpyHostToDevice,
                                       f->st));
            for (int r0 = 0; r0 < nt; r0 += FWD_LM_ROWS) {
                int k = nt - r0 < FWD_LM_ROWS ? nt - r0 : FWD_LM_ROWS;
                if (lm_rows(f, r0, k)) return -1;
                k_nll<<<k, 512, 0, f->st>>>(f->logits, f->tgt_d + r0, hp->vocab, f->nll_d + r0);
                CU_LAUNCHED();
            }
            if (nt > 0)
                CU_TRY(cudaMemcpyAsync(nll + i, f->nll_d, sizeof(double) * (size_t)nt, cudaMemcpyDeviceToHost, f->st));
            CU_TRY(cudaStreamSynchronize(f->st));
        }
    }
    if (logits_last) {
        if (lm_rows(f, T - 1, 1)) return -1;
        CU_TRY(cudaMemcpyAsync(logits_last, f->logits, sizeof(float) * (size_t)hp->vocab, cudaMemcpyDeviceToHost,
                               f->st));
    }
    CU_TRY(cudaStreamSynchronize(f->st));
    return 0;
}

extern "C" int cuda_gemm_rate(double *tflops) {
    const int N = 8192;
    bf16 *a = NULL, *b = NULL;
    float *c = NULL;
    cublasHandle_t h = NULL;
    cudaEvent_t e0 = NULL, e1 = NULL;
    int rc = -1;
    float ms[5];
    const float alpha = 1.0f, beta = 0.0f;
    if (cudaMalloc(&a, (size_t)N * N * 2) != cudaSuccess || cudaMalloc(&b, (size_t)N * N * 2) != cudaSuccess ||
        cudaMalloc(&c, (size_t)N * N * 4) != cudaSuccess || cublasCreate(&h) != CUBLAS_STATUS_SUCCESS ||
        cudaEventCreate(&e0) != cudaSuccess || cudaEventCreate(&e1) != cudaSuccess) {
        fprintf(stderr, "evalctl: cuda: cannot set up the reference GEMM\n");
        goto out;
    }
    k_rand<<<blocks((int64_t)N * N, 256), 256>>>(a, (int64_t)N * N, 1, 1.0f);
    k_rand<<<blocks((int64_t)N * N, 256), 256>>>(b, (int64_t)N * N, 2, 1.0f);
    for (int i = 0; i < 7; i++) {
        cudaEventRecord(e0);
        if (cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, N, N, N, &alpha, a, CUDA_R_16BF, N, b, CUDA_R_16BF, N, &beta, c,
                         CUDA_R_32F, N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) != CUBLAS_STATUS_SUCCESS) {
            fprintf(stderr, "evalctl: cublas: the reference GEMM failed\n");
            goto out;
        }
        cudaEventRecord(e1);
        if (cudaEventSynchronize(e1) != cudaSuccess) goto out;
        if (i >= 2) cudaEventElapsedTime(&ms[i - 2], e0, e1);
    }
    for (int i = 1; i < 5; i++) /* insertion sort for the median */
        for (int j = i; j > 0 && ms[j] < ms[j - 1]; j--) {
            float t = ms[j];
            ms[j] = ms[j - 1];
            ms[j - 1] = t;
        }
    *tflops = 2.0 * N * N * (double)N / (ms[2] * 1e-3) / 1e12;
    rc = 0;
out:
    cudaFree(a);
    cudaFree(b);
    cudaFree(c);
    if (h) cublasDestroy(h);
    if (e0) cudaEventDestroy(e0);
    if (e1) cudaEventDestroy(e1);
    return rc;
}
