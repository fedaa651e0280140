/* ppl.h - the perplexity protocol shared by `evalctl ppl` and `evalctl run`
 * ([benchmark] name = pg19): one text's ids cut into windows (pg19.h's
 * pg19_windows: consecutive windows of ctx tokens, the last may be shorter
 * and is dropped below 2 tokens, max_windows > 0 keeps the first ones), each
 * window prefilled from an empty cache under an attention variant and every
 * token of it but the first scored from the logits of the position before it
 * (backend.h's backend_score). There is no decode step, so the variant's sparse
 * rows, its corrected rows and its dense last rows all count. */
#ifndef EV_PPL_H
#define EV_PPL_H

#include <stddef.h>
#include <stdint.h>

#include "attention.h"
#include "backend.h"

typedef struct {
    double nll;     /* sum over the scored tokens of -log p, nats (summed in double) */
    long scored;    /* tokens scored: sum of (window length - 1) */
    long windows;   /* windows run */
} ppl_result;

/* Scores ids[0..n) on backend b (whose cache holds at least ctx positions)
 * under variant v. ctx >= 2. A text of fewer than 2 tokens scores nothing (all
 * zero, not an error). Returns 0, or -1 after one error line. */
int ppl_score(backend *b, const attn_variant *v, const int32_t *ids, size_t n, size_t ctx, size_t max_windows,
              ppl_result *r);

#endif
