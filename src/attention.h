/* attention.h - causal attention of one layer and its sparse variants (CPU reference).
 *
 * THE API (the forward pass calls exactly this, once per layer per chunk):
 *   attn_ctx holds, for one sequence, the variant, the prompt length S and the
 *   per-layer state a variant needs across chunks (the Delta rows). attn_layer()
 *   computes the outputs of n_q consecutive query rows at absolute positions
 *   pos0 .. pos0+n_q-1 against the cache keys 0 .. pos0+n_q-1 (the cache already
 *   holds this chunk's keys). Rows with position < S are prefill rows and follow
 *   the variant; rows at position >= S are decode rows (dense over the whole cache,
 *   or sink + window when decode_sparse).
 *
 * Layouts (fp32, row-major):
 *   q    [n_q][n_heads][head_dim]     already RoPE'd
 *   k, v [n_ctx][n_kv_heads][head_dim] the cache; n_ctx >= pos0 + n_q
 *   out  [n_q][n_heads][head_dim]
 *   GQA: query head h reads kv head h / (n_heads / n_kv_heads).
 *   Scores are scaled by 1/sqrt(head_dim).
 *
 * THE VARIANTS. Delta Attention is Willette, Lee, Hwang, "Delta Attention: Fast
 * and Accurate Sparse Attention Inference by Delta Correction", NeurIPS 2025,
 * arXiv 2505.11254 (Fig. 4 draws the Delta correction); the rules below follow
 * its public code, jeffwillette/delta-attention, delta_attention/llama.py,
 * LlamaAttention.delta_forward (gamma is its config.delta_lambda). Positions are
 * absolute, S is the prompt length, i the query row, j a key; every row sees
 * only keys j <= i (causal).
 *
 *   dense            row i sees every key j <= i.
 *   streaming        (StreamingLLM: sink tokens + sliding window) row i sees key j
 *                    when j < sink or i - j < window.
 *   block            positions are cut into blocks of `block` tokens counted from 0;
 *                    row i in block b = i / block sees the keys of block 0 (the
 *                    anchor block) and of its own block b; the last `tail` prompt
 *                    rows (i >= S - tail) see every key (as the code's
 *                    hip_attention_last_dense rows do).
 *   X+delta          (X = streaming or block) with cut = S % gamma + max(128, gamma)
 *                    and P = S - cut (delta_forward's cut_n and s_p):
 *                      - rows i >= P take the dense output;
 *                      - rows i < P take sparse(i) + Delta(g), g = i / gamma, where
 *                        Delta(g) = dense(g*gamma) - sparse(g*gamma) is measured at
 *                        the group's anchor row g*gamma < P ("dense - sparse on
 *                        every gamma-th query, repeated over the next gamma rows
 *                        and added to the sparse output").
 *                    So when S <= cut (P <= 0) the whole prefill is dense.
 *   X+recompute      the paper's ablation (mode "recompute" in the code): the same
 *                    dense rows (anchors g*gamma < P and rows >= P) replace the
 *                    sparse output on those rows only; nothing is spread.
 *   dense_layers     listed layers compute dense attention on every row (prefill
 *                    and decode) whatever the variant (hip_attention_dense_layers).
 *   decode rows      (i >= S) are dense over the whole cache (the paper's setting:
 *                    sparse prefill, dense decode; the code switches to
 *                    "sdpa_rectangle" after the prefill). With decode_sparse = 1 and
 *                    a sparse base they see only j < sink or i - j < window (the
 *                    original StreamingLLM decode; for the block base too).
 *
 * Chunked prefill gives bit-identical outputs to a single chunk: rows and groups
 * are absolute, every row's sum runs over key tiles at fixed absolute offsets,
 * and a group's Delta computed by an earlier chunk is kept in the context. Only
 * the Delta of the latest anchor is kept per layer ([n_layers][n_heads][head_dim],
 * not one per group), so prefill chunks of a layer must come in order; attn_layer
 * refuses a chunk that needs a Delta it no longer holds.
 *
 * Known differences from the public code (which needs gamma | 128 or gamma >=
 * 128, and S > cut): when P is not a multiple of gamma the last group below P is
 * partial here (the code's reshape would fail), and S <= cut is dense here (the
 * code would index with negative positions). The code's streaming mask comes
 * from hip_attn's block-sparse kernel (64-query blocks); ours is exact per token.
 * Its dense_layers apply only to its hip_attention path; ours to every variant. */
#ifndef EV_ATTENTION_H
#define EV_ATTENTION_H

#include <stddef.h>

#include "parallel.h"

typedef enum { ATTN_DENSE = 0, ATTN_STREAMING = 1, ATTN_BLOCK = 2 } attn_base;
typedef enum { ATTN_FIX_NONE = 0, ATTN_FIX_DELTA = 1, ATTN_FIX_RECOMPUTE = 2 } attn_fix;

#define ATTN_MAX_DENSE_LAYERS 64

typedef struct {
    attn_base base;
    attn_fix fix;
    int sink;          /* streaming: sink tokens (default 1024) */
    int window;        /* streaming: window (default 2048) */
    int block;         /* block: block size (default 2048) */
    int tail;          /* block: last rows of the prompt that see every key (default 128) */
    int gamma;         /* delta/recompute stride (default 64) */
    int decode_sparse; /* 1: decode rows see only sink + window keys */
    int n_dense_layers;
    int dense_layers[ATTN_MAX_DENSE_LAYERS]; /* layers that stay dense (prefill and decode) */
} attn_variant;

/* The defaults above with base/fix set from one of dense, streaming, block,
 * streaming+delta, block+delta, streaming+recompute, block+recompute;
 * returns 0, or -1 (no message) for an unknown name. */
int attn_variant_parse(const char *name, attn_variant *v);
/* "streaming+delta" etc.; static string. */
const char *attn_variant_name(const attn_variant *v);
/* One line of parameters, e.g. "variant=streaming+delta sink=1024 window=2048 gamma=64 decode=dense";
 * only the parameters the variant uses. Always NUL-terminates (truncates to n). */
void attn_variant_describe(const attn_variant *v, char *buf, size_t n);
/* Sets one parameter from text, for command lines: key is sink, window, block,
 * tail, gamma, decode (dense|sparse) or dense_layers (comma list, "" for none).
 * Returns 0, or prints one line ("evalctl: attention: ...") and returns -1. */
int attn_variant_set(attn_variant *v, const char *key, const char *value);
/* Checks the parameters (window >= 1, block >= 1, gamma >= 1, sink >= 0,
 * tail >= 0, dense layer indices >= 0, known base/fix, no fix on dense).
 * Returns 0, or prints one line naming the bad parameter and returns -1. */
int attn_variant_check(const attn_variant *v);

/* P = S - cut, cut = S % gamma + max(128, gamma): where the dense last rows of
 * +delta/+recompute start (rows >= P are dense; P <= 0: the whole prefill). */
long attn_fix_start(const attn_variant *v, int S);

/* Fraction of the S(S+1)/2 causal score entries that a prefill of S tokens
 * computes in a layer not listed in dense_layers: sum over rows of the keys
 * scored, counting an anchor row of +delta twice (its sparse and its dense
 * pass) and every dense row (recompute anchors, rows >= S - cut) once. So
 * streaming+delta at long S is about 2(sink + window)/S + 1/gamma, dense is 1. */
double attn_density(const attn_variant *v, int S);

typedef struct attn_ctx attn_ctx;

/* A context for one sequence whose prompt has prompt_len tokens. Copies *v.
 * Returns NULL after one error line for bad parameters (see attn_variant_check;
 * also n_heads a multiple of n_kv_heads, dense layers < n_layers). attn_free
 * accepts NULL. */
attn_ctx *attn_new(const attn_variant *v, int n_layers, int n_heads, int n_kv_heads,
                   int head_dim, int prompt_len);
void attn_free(attn_ctx *a);

/* Writes out (see Layouts). pool may be NULL (single thread); the result does not
 * depend on the pool's size nor on how the prompt is cut into chunks. One call at
 * a time per context (it keeps scratch). Reads only keys 0 .. pos0+n_q-1. Returns
 * 0, or -1 after one error line for bad arguments or a +delta prefill chunk of
 * this layer that does not follow the previous one. Accuracy: fp32 with a
 * polynomial exp (relative error ~2e-7); within 2e-6 of a float64 reference in
 * the tests. */
int attn_layer(attn_ctx *a, par_pool *pool, int layer, const float *q, int pos0, int n_q,
               const float *k, const float *v, float *out);

#endif
