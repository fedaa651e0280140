/* ppl.h - the perplexity protocol shared by `evalctl ppl` and `evalctl run`
 * ([benchmark] name = pg19): one text's ids cut into windows (pg19.h's
 * pg19_windows: consecutive windows of ctx tokens, the last may be shorter
 * and is dropped below 2 tokens, max_windows > 0 keeps the first ones), each
 * window prefilled from an empty cache under an attention variant and every
 * token of it but the first scored from the logits of the position before it
 * (backend.h's backend_score). There is no decode step, so the variant's sparse
 * rows, its corrected rows and its dense last rows all count.
 *
 * LongPPL (Fang et al., ICLR 2025, "What is Wrong with Perplexity for
 * Long-context Language Modeling?"; PKU-ML/LongPPL's find_key_token and
 * compute_longppl), the perplexity the Delta Attention paper reports, is the
 * same mean taken over a window's key tokens only: those whose prediction
 * needs more than `trunc` tokens of context. The model itself, dense, is the
 * evaluator (the official code takes any; every variant is scored on the same
 * tokens). Within a window, for start = 0, slide, 2 slide, ... < len - trunc,
 * the tokens at start + trunc .. start + trunc + slide - 1 (clipped to the
 * window) are scored again, densely, from the window's ids [start, start +
 * trunc + slide) alone, so each sees trunc to trunc + slide - 1 tokens of
 * context; a token is key when nll_short - nll_full > alpha and nll_full <
 * -beta (official defaults 2 and -2; trunc 4096 and slide 1024 for 32K-token
 * texts). Tokens before position trunc are never key. */
#ifndef EV_PPL_H
#define EV_PPL_H

#include <stddef.h>
#include <stdint.h>

#include "attention.h"
#include "backend.h"

typedef struct {
    int trunc;    /* short context in tokens; 0: no LongPPL */
    int slide;    /* tokens sharing one short context (>= 1) */
    double alpha; /* nll_short - nll_full must exceed it (2) */
    double beta;  /* nll_full must be below -beta (-2) */
} ppl_key_opts;

typedef struct {
    double nll;     /* sum over the scored tokens of -log p, nats (summed in double) */
    long scored;    /* tokens scored: sum of (window length - 1) */
    long windows;   /* windows run */
    double key_nll; /* LongPPL: the same sum over the key tokens only */
    long key;       /* key tokens (0 without LongPPL, or when none qualified) */
} ppl_result;

/* The official options for a trunc: alpha 2, beta -2, and slide (0: trunc / 4,
 * the official 4096 / 1024). */
ppl_key_opts ppl_key_official(int trunc, int slide);

/* Marks LongPPL's key tokens of ids[0..n) windowed as ppl_score windows it:
 * key[i] = 1 when token i is a key token of its window (key[n]; a window's
 * first token is never key). Runs each window densely, then its short passes
 * (ppl_key_tokens). The marks depend on the text, ctx and o only, so one
 * marking serves every variant. Returns the number marked, or -1 after one
 * error line. */
long ppl_key_mark(backend *b, const int32_t *ids, size_t n, size_t ctx, size_t max_windows, const ppl_key_opts *o,
                  unsigned char *key);

/* Scores ids[0..n) on backend b (whose cache holds at least ctx positions)
 * under variant v; key (ppl_key_mark's marks, or NULL) adds the sums over the
 * key tokens. ctx >= 2. A text of fewer than 2 tokens scores nothing (all
 * zero, not an error). Returns 0, or -1 after one error line. */
int ppl_score(backend *b, const attn_variant *v, const int32_t *ids, size_t n, size_t ctx, size_t max_windows,
              const unsigned char *key, ppl_result *r);

/* Marks key[i] = 1 for the key tokens ids[i] of one window ids[0..n) (key[0]
 * is always 0), given full[i - 1], the dense NLL of ids[i] in the whole
 * window (backend_score's each). Runs the short dense passes on b. Returns
 * the number marked, or -1 after one error line. */
long ppl_key_tokens(backend *b, const int32_t *ids, int n, const double *full, const ppl_key_opts *o,
                    unsigned char *key);

#endif
