/* ppl.c - the windowed perplexity protocol (ppl.h). */
#include "ppl.h"

#include "pg19.h"
#include "util.h"

#include <stdlib.h>

int ppl_score(backend *b, const attn_variant *v, const int32_t *ids, size_t n, size_t ctx, size_t max_windows,
              ppl_result *r) {
    r->nll = 0;
    r->scored = 0;
    r->windows = 0;
    if (ctx < 2) return ev_error("ppl: a window of %zu tokens scores nothing (at least 2)", ctx);
    size_t nw = pg19_windows(n, ctx, max_windows, NULL);
    if (nw == 0) return 0;
    pg19_window *w = xmalloc(sizeof *w * nw);
    pg19_windows(n, ctx, max_windows, w);
    int rc = 0;
    for (size_t k = 0; k < nw; k++) {
        double part = 0;
        int s = backend_score(b, v, ids + w[k].start, (int)w[k].len, &part);
        if (s < 0) {
            rc = -1;
            break;
        }
        r->nll += part;
        r->scored += s;
        r->windows++;
    }
    free(w);
    return rc;
}
