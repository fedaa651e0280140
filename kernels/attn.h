/* attn.h - the CUDA twins of src/attention.c: prefill attention for every
 * variant (dense, streaming, block, +delta, +recompute) and split-KV decode,
 * flash-attention style (tiled online softmax, the score matrix is never
 * materialised). src/attention.h defines the variants; the CPU code there is
 * the reference every kernel here is tested against (tests/gpu/).
 *
 * Layouts (bf16 = __nv_bfloat16, passed as void * so C callers need no CUDA
 * headers; all pointers are device pointers, row-major):
 *   q    [n_q][n_heads][head_dim]       RoPE'd queries of positions pos0 .. pos0+n_q-1
 *   k, v [n_ctx][n_kv_heads][head_dim]  the layer's cache; holds keys 0 .. pos0+n_q-1
 *   out  [n_q][n_heads][head_dim]
 * GQA: query head h reads kv head h / (n_heads / n_kv_heads), without copying.
 * head_dim is 64 or 128. Softmax statistics and accumulation are fp32; scores
 * are scaled by 1/sqrt(head_dim).
 *
 * Semantics are those of attn_layer() in src/attention.h, row by row: rows at
 * positions >= prompt_len are decode rows; chunks of one prefill come in order
 * per layer, and a +delta chunk may need the Delta of an anchor that an
 * earlier chunk computed: `delta` carries it ([n_heads][head_dim] fp32 per
 * layer, owned by the caller, zeroed by the caller before a new sequence).
 * The GPU cannot check that chunks come in order (attn_layer refuses a chunk
 * whose Delta group is gone; here the caller must not skip or reorder them).
 *
 * Accuracy: inputs bf16, scores, softmax and sums fp32, the softmax weights
 * enter the PV product as bf16, outputs rounded once to bf16 (after the Delta
 * is added in fp32). tests/gpu/test_attn.c holds every output element to
 * |gpu - cpu| <= 2^-8 |cpu| + 2e-2 rms(cpu row) against attn_layer.
 * Chunked prefill is bit-identical to one chunk except for rows computed with
 * split-KV (launches of at most 64 rows that would not fill the GPU), which
 * differ by fp32 rounding. Design and costs: the top of attn.cu. */
#ifndef EV_KERNELS_ATTN_H
#define EV_KERNELS_ATTN_H

#include <stddef.h>

#include "attention.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int n_heads, n_kv_heads, head_dim;
    int prompt_len;   /* S: rows at positions >= S are decode rows */
    int dense_layer;  /* 1: this layer is in v->dense_layers (every row dense) */
} cuda_attn_shape;

/* Scratch (device memory) that cuda_attn_layer needs for n_q rows at most:
 * bytes to pass as `ws` (+delta: the chunk's Delta rows, fp32; split-KV
 * partials for up to 64 rows: about 34 MB at 32 heads of 128). */
size_t cuda_attn_workspace(const attn_variant *v, const cuda_attn_shape *s, int max_n_q);

/* One layer, rows pos0 .. pos0+n_q-1, on `stream` (a cudaStream_t; NULL: the
 * default stream). delta: [n_heads][head_dim] fp32 device buffer of this
 * layer (see above; required when v->fix == ATTN_FIX_DELTA and the layer is
 * not dense, unused otherwise). Keys past pos0+n_q-1 are never read. ws: workspace of
 * cuda_attn_workspace(v, s, n_q) bytes or more. Asynchronous: returns 0 after
 * launching, or -1 after one error line (bad arguments, a launch error). */
int cuda_attn_layer(const attn_variant *v, const cuda_attn_shape *s, const void *q, int pos0, int n_q,
                    const void *k, const void *v_cache, void *out, float *delta, void *ws, size_t ws_bytes,
                    void *stream);

/* The prefill query tile of large launches: 128 rows (default; 4 warps of 32
 * rows, FlashAttention-2's H100 shape) or 64 (4 warps of 16 rows). Small
 * launches (decode, a few anchors) always use 64. Returns 0, or -1 after one
 * error line. Process-wide; for benchmarks. */
int cuda_attn_set_tile_rows(int rows);

/* The kernel of large prefill launches (128-row tiles without split-KV):
 * CUDA_ATTN_WGMMA, Hopper warpgroup MMA (sm_90a, the default), or
 * CUDA_ATTN_MMA, the mma.sync kernel that every other launch uses (the
 * fallback: same results up to fp32 summation order). The environment
 * variable EVALCTL_ATTN_KERNEL=mma|wgmma sets it before the first launch.
 * cuda_attn_set_kernel returns 0, or -1 after one error line; it is
 * process-wide (tests and benchmarks). cuda_attn_kernel: the one in force. */
enum { CUDA_ATTN_MMA = 0, CUDA_ATTN_WGMMA = 1 };
int cuda_attn_set_kernel(int kernel);
int cuda_attn_kernel(void);

/* Timing of cuda_attn_bench. */
typedef struct {
    int runs;
    double ms_median, ms_min; /* per cuda_attn_layer call, CUDA events */
    double kv_bytes;          /* bytes of the K and V caches the call may read */
    double copy_gbps;         /* device-to-device copy of the K cache (read + write), the
                                 HBM rate to compare a decode call with; 0 when K < 64 MiB */
    char gpu[256];
} cuda_attn_timing;

/* Benchmark of one layer: allocates q [n_q rows], k, v [pos0 + n_q keys], out,
 * the workspace and the delta buffer on the current device, fills q, k, v with
 * random bf16 in [-1, 1) by a kernel, runs `warmup` untimed and `runs` timed
 * calls of cuda_attn_layer(v, s, q, pos0, n_q, ...) on the default stream, and
 * frees everything. s->prompt_len says which rows are prompt rows (pos0 = 0,
 * n_q = prompt_len: a whole prefill; pos0 = prompt_len, n_q = 1: a decode
 * step). Returns 0, or -1 after one error line (no GPU, out of memory). */
int cuda_attn_bench(const attn_variant *v, const cuda_attn_shape *s, int pos0, int n_q, int warmup, int runs,
                    cuda_attn_timing *t);

#ifdef __cplusplus
}
#endif

#endif
