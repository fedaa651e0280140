/* forward.h - the CPU forward pass of a decoder (llama, qwen2): embedding, RMSNorm,
 * RoPE, grouped-query attention through attention.h, SwiGLU MLP, LM head; a KV
 * cache; chunked prefill, one-token decode, greedy generation and scoring.
 *
 * Numerics follow Hugging Face transformers in fp32 (LlamaForCausalLM /
 * Qwen2ForCausalLM): the fixtures under tests/fixtures/forward/ come from it.
 * Activations and the KV cache are fp32; weights stay in the model file's own
 * element type and are dequantised a block of rows at a time inside the matmul
 * (forward.c says why).
 *
 * One fwd_ctx holds one sequence: its KV cache (positions 0 .. n_past-1), the
 * thread pool and the scratch buffers. It borrows the model, which must outlive
 * it. Calls on one fwd_ctx are not re-entrant. */
#ifndef EV_FORWARD_H
#define EV_FORWARD_H

#include <stdint.h>

#include "attention.h"
#include "model.h"
#include "parallel.h"

typedef struct fwd_ctx fwd_ctx;

/* A context whose KV cache holds n_ctx positions, computing on n_threads
 * threads (<= 0: every online core). Returns NULL after one error line when
 * n_ctx < 1 or the cache cannot be allocated. */
fwd_ctx *fwd_new(const model *m, int n_ctx, int n_threads);
void fwd_free(fwd_ctx *f); /* NULL-safe */

int fwd_n_ctx(const fwd_ctx *f);
int fwd_n_past(const fwd_ctx *f);    /* positions already in the cache */
par_pool *fwd_pool(fwd_ctx *f);      /* borrowed; lives as long as f */
/* Observes attention: fn(ud, layer, pos0, n, out) is called after every layer's
 * attention with the outputs out[n][n_heads*head_dim] of positions pos0 .. pos0+n-1
 * (before the output projection); out is valid only during the call. NULL
 * removes it. The attention-variant tests compare variants with it. */
typedef void (*fwd_attn_fn)(void *ud, int layer, int pos0, int n, const float *out);
void fwd_set_attn_hook(fwd_ctx *f, fwd_attn_fn fn, void *ud);

/* Empties the cache (the next token goes to position 0). */
void fwd_reset(fwd_ctx *f);

/* Called with the logits of every evaluated token: i indexes the ids passed to
 * fwd_eval, logits[vocab] is valid only during the call. */
typedef void (*fwd_logits_fn)(void *ud, int i, const float *logits);

/* Appends ids[0..n-1] at positions n_past .. n_past+n-1, in chunks of at most
 * `chunk` tokens (<= 0: all at once); the result does not depend on the chunk
 * size. attn must have been made for this model's shape; every layer goes
 * through attn_layer(). When logits_last is not NULL it receives the last
 * token's logits [vocab]. Returns 0, or -1 after one error line (cache full, a
 * token id outside the vocabulary, n < 1); the cache is then unchanged. */
int fwd_prefill(fwd_ctx *f, const int32_t *ids, int n, int chunk, attn_ctx *attn, float *logits_last);
/* As fwd_prefill, but computes the LM head for every token and calls cb(ud, i,
 * logits) for i = 0 .. n-1 in order. */
int fwd_eval(fwd_ctx *f, const int32_t *ids, int n, int chunk, attn_ctx *attn, fwd_logits_fn cb, void *ud);
/* fwd_prefill of a single token. */
int fwd_decode_one(fwd_ctx *f, int32_t id, attn_ctx *attn, float *logits);

/* Index of the largest value, the first one on ties (torch.argmax). */
int fwd_argmax(const float *x, int n);
/* -log softmax(logits[0..vocab))[id], the max subtracted first (nats). */
double fwd_nll(const float *logits, int vocab, int32_t id);

/* Receives each generated id as it is made (backend.h's backend_generate). */
typedef void (*fwd_token_fn)(void *ud, int32_t id);

/* Scores ids[1..n-1] from an empty cache: *nll_sum gets the sum over i >= 1 of
 * -log p(ids[i] | ids[0..i-1]) in nats (log-softmax in double), and each
 * (may be NULL) the terms one by one, each[i - 1] for ids[i]. Returns the
 * number of scored tokens (n - 1), or -1 after one error line. */
int fwd_score(fwd_ctx *f, attn_ctx *attn, const int32_t *ids, int n, int chunk, double *nll_sum, double *each);

#endif
