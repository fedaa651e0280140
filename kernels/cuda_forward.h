/* cuda_forward.h - the CUDA twin of src/forward.c: the whole decoder on
 * one GPU, weights in bf16, activations bf16 into the matrix products and fp32
 * everywhere else (residual stream, norms, softmax statistics, logits).
 *
 * Weights: each tensor is copied to the GPU in its file type and expanded to
 * bf16 there, once, at load (F32, F16, BF16, Q8_0, Q4_0, Q4_1 on the GPU; the
 * other ggml types through src/quant.c on the host). Q|K|V and gate|up are
 * stored as one matrix each so a layer runs five cuBLAS products.
 *
 * One cuda_fwd holds one sequence: its bf16 KV cache (preallocated for n_ctx
 * positions), scratch for chunks of at most max_chunk tokens, and the per-layer
 * Delta state of the attention kernels (kernels/attn.h). It borrows the model.
 * Calls are synchronous from the caller's view (results are on the host when a
 * call returns). */
#ifndef EV_KERNELS_CUDA_FORWARD_H
#define EV_KERNELS_CUDA_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "attention.h"
#include "forward.h"
#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cuda_fwd cuda_fwd;

/* Bytes of GPU memory cuda_fwd_new would take for this model, context and
 * chunk (weights + KV cache + scratch), for the "does not fit" message. */
size_t cuda_fwd_bytes(const model *m, int n_ctx, int max_chunk);

/* Uploads the model to GPU 0. random_seed != 0: ignore the tensors' data and
 * fill every weight with seeded random values (benchmarks of model shapes with
 * no file behind them; norms are set to 1). Returns NULL after one error line
 * (no GPU, not enough memory: how much is needed and free, a CUDA error). */
cuda_fwd *cuda_fwd_new(const model *m, int n_ctx, int max_chunk, uint64_t random_seed);
void cuda_fwd_free(cuda_fwd *f); /* NULL-safe */

/* Starts a new sequence whose prompt has prompt_len tokens, computed under
 * variant v (copied): empties the cache, zeroes the Delta state. Returns 0 or
 * -1 after one error line (bad variant parameters). */
int cuda_fwd_begin(cuda_fwd *f, const attn_variant *v, int prompt_len);
int cuda_fwd_n_past(const cuda_fwd *f);

/* Appends ids[0..n-1] (chunks of at most max_chunk tokens). logits_last
 * (may be NULL) receives the last token's logits [vocab] (fp32, host). nll
 * (may be NULL) receives, for i = 0 .. n-2, -log p(ids[i+1] | ...) computed
 * on the GPU in fp32 from the logits of token i (host array of n-1 doubles).
 * Returns 0 or -1 after one error line. */
int cuda_fwd_eval(cuda_fwd *f, const int32_t *ids, int n, float *logits_last, double *nll);

/* Observes attention as fwd_set_attn_hook (src/forward.h) does on the CPU:
 * after every layer's attention, fn gets the outputs of the chunk's rows
 * (before the output projection) as fp32 on the host. Copies every layer's
 * output off the GPU, so only for analyses. NULL removes it. */
void cuda_fwd_set_attn_hook(cuda_fwd *f, fwd_attn_fn fn, void *ud);

/* Per-phase GPU time of the calls since the last reset, in milliseconds
 * (CUDA events around each phase; only when timing is on, as it serialises). */
typedef struct {
    double gemm_ms, attn_ms, other_ms;
} cuda_fwd_times;
void cuda_fwd_timing(cuda_fwd *f, int on, cuda_fwd_times *out_and_reset);

/* The reference rate for the GEMM share of a prefill: TFLOP/s of a bf16
 * 8192 x 8192 x 8192 cuBLAS product with fp32 accumulation on GPU 0, median of
 * 5 after 2 warm-ups. Returns 0 or -1 after one error line. */
int cuda_gemm_rate(double *tflops);

#ifdef __cplusplus
}
#endif

#endif
