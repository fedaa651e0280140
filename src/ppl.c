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

/* One window: its NLL sum under v into r, and with LongPPL its key tokens'. */
static int score_window(backend *b, const attn_variant *v, const int32_t *ids, int n, const ppl_key_opts *key,
                        double *each, double *full, unsigned char *mark, ppl_result *r) {
    double sum;
    int s;
    if (!key || key->trunc <= 0) {
        if ((s = backend_score(b, v, ids, n, &sum, NULL)) < 0) return -1;
    } else {
        attn_variant dense;
        attn_variant_parse("dense", &dense);
        double full_sum;
        if (backend_score(b, &dense, ids, n, &full_sum, full) < 0) return -1;
        if (ppl_key_tokens(b, ids, n, full, key, mark) < 0) return -1;
        /* the dense evaluator's pass is the dense variant's own */
        const double *got = full;
        if (v->base == ATTN_DENSE) {
            sum = full_sum;
            s = n - 1;
        } else if ((s = backend_score(b, v, ids, n, &sum, each)) < 0) {
            return -1;
        } else {
            got = each;
        }
        for (int i = 1; i < n; i++)
            if (mark[i]) {
                r->key_nll += got[i - 1];
                r->key++;
            }
    }
    r->nll += sum;
    r->scored += s;
    r->windows++;
    return 0;
}

int ppl_score(backend *b, const attn_variant *v, const int32_t *ids, size_t n, size_t ctx, size_t max_windows,
              const ppl_key_opts *key, ppl_result *r) {
    memset(r, 0, sizeof *r);
    if (ctx < 2) return ev_error("ppl: a window of %zu tokens scores nothing (at least 2)", ctx);
    size_t nw = pg19_windows(n, ctx, max_windows, NULL);
    if (nw == 0) return 0;
    pg19_window *w = xmalloc(sizeof *w * nw);
    pg19_windows(n, ctx, max_windows, w);
    int longppl = key && key->trunc > 0;
    double *each = longppl ? xmalloc(sizeof(double) * ctx) : NULL;
    double *full = longppl ? xmalloc(sizeof(double) * ctx) : NULL;
    unsigned char *mark = longppl ? xmalloc(ctx) : NULL;
    int rc = 0;
    for (size_t k = 0; k < nw && rc == 0; k++)
        rc = score_window(b, v, ids + w[k].start, (int)w[k].len, key, each, full, mark, r);
    free(w);
    free(each);
    free(full);
    free(mark);
    return rc;
}
