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
 * The variant definitions (with the paper's equation numbers) are written in the
 * comment below, once; attention.c implements them and tests/test_attention.c
 * checks them against brute force. */
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
    int dense_layers[ATTN_MAX_DENSE_LAYERS]; /* layers that stay dense in prefill */
} attn_variant;

/* The defaults above with base/fix set from a name like "streaming+delta";
 * returns 0, or -1 (no message) for an unknown name. */
int attn_variant_parse(const char *name, attn_variant *v);
/* "streaming+delta" etc.; static string. */
const char *attn_variant_name(const attn_variant *v);
/* One line of parameters, e.g. "variant=streaming+delta sink=1024 window=2048 gamma=64 ...". */
void attn_variant_describe(const attn_variant *v, char *buf, size_t n);

typedef struct attn_ctx attn_ctx;

attn_ctx *attn_new(const attn_variant *v, int n_layers, int n_heads, int n_kv_heads,
                   int head_dim, int prompt_len);
void attn_free(attn_ctx *a);

void attn_layer(attn_ctx *a, par_pool *pool, int layer, const float *q, int pos0, int n_q,
                const float *k, const float *v, float *out);

#endif
