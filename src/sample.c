/* sample.c - the next token from logits: greedy, or temperature + top-k +
 * top-p sampling in transformers' warper order (see sample.h). */
#include "sample.h"

#include <math.h>
#include <stdlib.h>

#include "forward.h"
#include "rng.h"
#include "util.h"

typedef struct {
    float x; /* scaled logit */
    int32_t id;
} cand;

struct sampler {
    int vocab;
    sample_params p;
    rng_state rng;
    cand *c;   /* [vocab] candidates, sorted by decreasing x */
    double *w; /* [vocab] probability of c[j] after the cuts */
};

sampler *sample_new(int vocab, const sample_params *p) {
    if (vocab < 1) return ev_error("sampler: vocabulary of %d tokens", vocab), NULL;
    if (!isfinite(p->temperature)) return ev_error("sampler: temperature is not a finite number"), NULL;
    if (!(p->top_p > 0 && p->top_p <= 1)) return ev_error("sampler: top_p %g is outside (0, 1]", p->top_p), NULL;
    sampler *s = xcalloc(1, sizeof *s);
    s->vocab = vocab;
    s->p = *p;
    rng_seed(&s->rng, p->seed);
    if (p->temperature > 0) {
        s->c = xmalloc(sizeof *s->c * (size_t)vocab);
        s->w = xmalloc(sizeof *s->w * (size_t)vocab);
    }
    return s;
}

void sample_free(sampler *s) {
    if (!s) return;
    free(s->c);
    free(s->w);
    free(s);
}

/* Decreasing x; the lower id first among equals, so the order (and so the
 * draw) does not depend on qsort's handling of ties. */
static int cand_cmp(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->x != y->x) return x->x > y->x ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Sorts the candidates and applies the cuts: c[0..n-1] are kept with
 * probabilities w[0..n-1] (summing to 1). Returns n >= 1. */
static int keep(sampler *s, const float *logits) {
    int V = s->vocab;
    /* transformers divides the fp32 scores by the temperature */
    float t = (float)s->p.temperature;
    for (int i = 0; i < V; i++) {
        float x = logits[i] / t;
        s->c[i].x = isnan(x) ? -INFINITY : x;
        s->c[i].id = i;
    }
    qsort(s->c, (size_t)V, sizeof *s->c, cand_cmp);
    int n = V;
    if (s->p.top_k > 0 && s->p.top_k < V) {
        float th = s->c[s->p.top_k - 1].x;
        n = s->p.top_k;
        while (n < V && s->c[n].x >= th) n++; /* TopKLogitsWarper keeps ties with the k-th */
    }
    float mx = s->c[0].x;
    if (isinf(mx)) {
        /* all -inf: the argmax's choice; some +inf: those tokens share the mass */
        int m = 1;
        if (mx > 0)
            while (m < n && s->c[m].x == mx) m++;
        for (int j = 0; j < m; j++) s->w[j] = 1.0 / m;
        return m;
    }
    while (n > 1 && s->c[n - 1].x == -INFINITY) n--;
    double sum = 0;
    for (int j = 0; j < n; j++) sum += s->w[j] = exp((double)s->c[j].x - mx);
    for (int j = 0; j < n; j++) s->w[j] /= sum;
    if (s->p.top_p < 1) {
        /* TopPLogitsWarper drops a token when the mass at and below it (ascending
         * cumsum) is <= 1 - top_p, i.e. when the mass above it is >= top_p */
        double cum = 0;
        int m = 0;
        while (m < n && cum < s->p.top_p) cum += s->w[m++];
        n = m;
        for (int j = 0; j < n; j++) s->w[j] /= cum;
    }
    return n;
}

int32_t sample_next(sampler *s, const float *logits) {
    if (s->p.temperature <= 0) return fwd_argmax(logits, s->vocab);
    int n = keep(s, logits);
    double u = rng_double(&s->rng);
    for (int j = 0; j < n; j++) {
        u -= s->w[j];
        if (u < 0) return s->c[j].id;
    }
    return s->c[n - 1].id; /* rounding left u a hair above the total */
}

int sample_probs(sampler *s, const float *logits, float *probs) {
    for (int i = 0; i < s->vocab; i++) probs[i] = 0;
    if (s->p.temperature <= 0) {
        probs[fwd_argmax(logits, s->vocab)] = 1;
        return 1;
    }
    int n = keep(s, logits);
    for (int j = 0; j < n; j++) probs[s->c[j].id] = (float)s->w[j];
    return n;
}
