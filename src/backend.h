/* backend.h - one interface over the two forward passes: the CPU reference
 * (forward.h + attention.h) and the CUDA backend (kernels/cuda_forward.h).
 * Everything above the compute layer (generate, ppl, run, serve, bench) runs
 * a model through this and never asks which backend it got.
 *
 * A backend holds one sequence at a time: backend_begin() starts one with its
 * prompt length and attention variant, backend_eval() appends tokens (prompt
 * chunks, then one decoded token at a time). */
#ifndef EV_BACKEND_H
#define EV_BACKEND_H

#include <stdint.h>

#include "attention.h"
#include "forward.h"
#include "model.h"

typedef struct backend backend;

/* kind: "cpu", "cuda" or "auto" (cuda when this build has it and a GPU
 * answers, else cpu). n_ctx: the longest sequence (prompt + generated) it will
 * hold; chunk: prefill chunk size (<= 0: 512 on the CPU, 4096 on the GPU);
 * n_threads: CPU threads (<= 0: every core). Returns NULL after one error line
 * (unknown kind, no GPU, model too big for it, allocation). */
backend *backend_new(const model *m, const char *kind, int n_ctx, int n_threads, int chunk);
void backend_free(backend *b); /* NULL-safe */

const char *backend_name(const backend *b); /* "cpu" or "cuda" */
/* "cpu, 2 threads" / "cuda, NVIDIA H100 80GB HBM3": for output headers */
const char *backend_describe(const backend *b);
int backend_n_ctx(const backend *b);
int backend_n_past(const backend *b);

/* Starts a sequence (empties the cache) whose prompt has prompt_len tokens,
 * under variant v. Returns 0, or -1 after one error line (bad parameters). */
int backend_begin(backend *b, const attn_variant *v, int prompt_len);
/* Appends ids[0..n-1]; logits_last (may be NULL) gets the last one's logits
 * [vocab]. Returns 0, or -1 after one error line (context full, bad id). */
int backend_eval(backend *b, const int32_t *ids, int n, float *logits_last);

/* Greedy generation from an empty cache: begin + prompt, then the argmax
 * token until one of hp.eos_ids was produced (it is kept), max_new tokens were
 * made or the cache is full. out[max_new] receives the new ids; on_token (may
 * be NULL) is called with each as it is made. Returns the number of new ids,
 * or -1 after one error line. */
int backend_generate(backend *b, const attn_variant *v, const int32_t *prompt, int n_prompt, int max_new,
                     int32_t *out, fwd_token_fn on_token, void *ud);

/* As fwd_score: the summed NLL (nats) of ids[1..n-1] with the whole window
 * prefilled under v, and each (may be NULL) the n - 1 terms. Returns n - 1,
 * or -1 after one error line. */
int backend_score(backend *b, const attn_variant *v, const int32_t *ids, int n, double *nll_sum, double *each);

/* Observes every layer's attention output (forward.h's fwd_attn_fn) on either
 * backend; the CUDA one copies it off the GPU, so analyses only. */
void backend_set_attn_hook(backend *b, fwd_attn_fn fn, void *ud);

/* The CPU forward context, NULL on CUDA. */
fwd_ctx *backend_cpu(backend *b);

#endif
