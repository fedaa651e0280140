/* ppl.c - the windowed perplexity protocol and its LongPPL key tokens (ppl.h). */
#include "ppl.h"

#include "pg19.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

ppl_key_opts ppl_key_official(int trunc, int slide) {
    if (!slide) slide = trunc / 4 > 0 ? trunc / 4 : 1;
    return (ppl_key_opts){trunc, slide, 2.0, -2.0};
}

long ppl_key_tokens(backend *b, const int32_t *ids, int n, const double *full, const ppl_key_opts *o,
                    unsigned char *key) {
    memset(key, 0, (size_t)n);
    if (o->trunc <= 0 || o->slide <= 0 || n <= o->trunc) return 0;
    attn_variant dense;
    attn_variant_parse("dense", &dense);
    double *part = xmalloc(sizeof(double) * (size_t)(o->trunc + o->slide));
    long marked = 0;
    for (int start = 0; start < n - o->trunc; start += o->slide) {
        int len = o->trunc + o->slide;
        if (start + len > n) len = n - start;
        double sum;
        if (backend_score(b, &dense, ids + start, len, &sum, part) < 0) {
            free(part);
            return -1;
        }
        /* window token i = start + t (t >= trunc): its short NLL is part[t - 1] */
        for (int t = o->trunc; t < len; t++) {
            int i = start + t;
            double f = full[i - 1], s = part[t - 1];
            if (s - f > o->alpha && f < -o->beta) {
                key[i] = 1;
                marked++;
            }
        }
    }
    free(part);
    return marked;
}

/* The windows of a text (pg19_windows), or NULL with *nw = 0 when none. */
static pg19_window *windows_of(size_t n, size_t ctx, size_t max_windows, size_t *nw) {
    *nw = pg19_windows(n, ctx, max_windows, NULL);
    if (*nw == 0) return NULL;
    pg19_window *w = xmalloc(sizeof *w * *nw);
    pg19_windows(n, ctx, max_windows, w);
    return w;
}

long ppl_key_mark(backend *b, const int32_t *ids, size_t n, size_t ctx, size_t max_windows, const ppl_key_opts *o,
                  unsigned char *key) {
    memset(key, 0, n);
    if (ctx < 2) return ev_error("ppl: a window of %zu tokens scores nothing (at least 2)", ctx);
    size_t nw;
    pg19_window *w = windows_of(n, ctx, max_windows, &nw);
    attn_variant dense;
    attn_variant_parse("dense", &dense);
    double *full = xmalloc(sizeof(double) * ctx), sum;
    long marked = 0;
    for (size_t k = 0; k < nw && marked >= 0; k++) {
        const int32_t *wi = ids + w[k].start;
        int len = (int)w[k].len;
        long m = backend_score(b, &dense, wi, len, &sum, full) < 0 ? -1
                                                                  : ppl_key_tokens(b, wi, len, full, o, key + w[k].start);
        marked = m < 0 ? -1 : marked + m;
    }
    free(full);
    free(w);
    return marked;
}

int ppl_score(backend *b, const attn_variant *v, const int32_t *ids, size_t n, size_t ctx, size_t max_windows,
              const unsigned char *key, ppl_result *r) {
    memset(r, 0, sizeof *r);
    if (ctx < 2) return ev_error("ppl: a window of %zu tokens scores nothing (at least 2)", ctx);
    size_t nw;
    pg19_window *w = windows_of(n, ctx, max_windows, &nw);
    double *each = key ? xmalloc(sizeof(double) * ctx) : NULL, sum;
    int rc = 0;
    for (size_t k = 0; k < nw && rc == 0; k++) {
        int s = backend_score(b, v, ids + w[k].start, (int)w[k].len, &sum, each);
        if (s < 0) {
            rc = -1;
            break;
        }
        r->nll += sum;
        r->scored += s;
        r->windows++;
        /* window token t is scored by each[t - 1] */
        for (size_t t = 1; key && t < w[k].len; t++)
            if (key[w[k].start + t]) {
                r->key_nll += each[t - 1];
                r->key++;
            }
    }
    free(w);
    free(each);
    return rc;
}
