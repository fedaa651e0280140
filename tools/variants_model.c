/* variants_model.c - what the attention variants do to a real model:
 * SmolLM2-135M-Instruct over a RULER haystack or public-domain text. Built by
 * `make variants-model` (build/variants-model).
 *
 * Two real-model effects from the paper (arXiv 2505.11254, Fig. 3 and its
 * perplexity results): a sparse prefill shifts attention outputs away from the
 * dense ones, and the Delta correction moves them back and lowers perplexity.
 * (The third, retrieval after a sparse prefill, is `evalctl run` on RULER.)
 * Measured seven ways:
 *
 *   check   the attention operator: every layer but the last runs dense, so
 *           the last layer's sparse, +delta and dense attention see the same
 *           queries, keys and values; the mean cosine similarity to dense of
 *           its outputs must be higher for X+delta than for X (X = streaming,
 *           block), over the rows where X differs from dense (past the sparse
 *           reach, before the dense last rows). Then `decode`'s last-layer
 *           cosine, which must be higher for streaming+delta than streaming.
 *           Asserted; tests/test_variants_model.sh runs it on a 4K RULER
 *           haystack in `make test`.
 *   decode  the paper's Fig. 3 setting, the whole model: the prompt but its
 *           last Q tokens is prefilled with the variant in every layer, the
 *           last Q are decoded one at a time (dense over the cache the prefill
 *           left), and every layer's attention output at those Q positions is
 *           compared with the dense model's (mean cosine); also the decoded
 *           tokens' mean NLL. On a RULER haystack the last Q tokens are the
 *           question and answer prefix, the queries that must find the needle.
 *   claims  check's first comparison (the prefill rows) with the variant in
 *           every layer (errors compound through the model), and perplexity
 *           ordered dense <= streaming+delta <= streaming. Asserted, and on
 *           SmolLM2 both fail (README "Attention variants" has the figures),
 *           so this mode is not in the suite.
 *   sweep   both cosines and perplexity over a grid of sink/window/gamma,
 *           printed, nothing asserted.
 *   offsets where in a group the Delta rows lose perplexity: every token's NLL
 *           under dense, streaming, +delta and +recompute (every layer, each
 *           window of --len tokens prefilled as `evalctl ppl` does), averaged
 *           by the predicting row's offset i - a from its group's anchor a, over
 *           the rows streaming changes and Delta corrects, [sink + window, P).
 *           Printed, nothing asserted.
 *   layers  the same tokens' mean NLL with streaming, +delta and +recompute in
 *           one layer alone, every other layer dense, for each layer in turn:
 *           whether Delta lowers perplexity where its error cannot compound.
 *           Printed, nothing asserted.
 *   premise the assumption Delta rests on, layer by layer: that the
 *           correction dense - sparse of a row changes slowly over the next
 *           gamma rows. Each layer in turn runs sparse with every other layer
 *           dense, so that layer's dense and sparse outputs share their inputs;
 *           printed per layer: the mean cosine to dense of X and X+delta, and
 *           R2 = 1 - |D_i - D_a|^2 / |D_i|^2 (D = dense - sparse, a the group's
 *           anchor row, summed over rows i past the anchor): 1 when the
 *           anchor's Delta is every row's, 0 when it is no better than no
 *           correction, negative when it is worse; then both cosines again
 *           with every layer sparse (the shift compounding through the
 *           layers, at the prefill rows). Asserted only that layer
 *           0, whose inputs are the same either way, gives the same cosines
 *           both ways (the +delta composed here from dense and sparse outputs
 *           is what the attention module computes).
 *
 * usage: variants-model check|claims|sweep|premise|decode|offsets|layers
 *                       [--ruler FILE.jsonl [--record K] | --text FILE] [--len S] [--backend cpu|cuda]
 *                       [--params SINK,WINDOW,BLOCK,GAMMA]   (premise, decode, offsets, layers; default
 *                                                            16,128,256,32)
 *                       [--decode Q]                         (decode; default 64)
 *                       [--windows W]                        (offsets, layers: W windows of S tokens; default 4)
 *                       [--at F]                             (--text; default 0.333)
 * --ruler takes record K's input (a chat-templated haystack prompt; default 0);
 * --text the fraction F of the way into FILE (default data/texts/kjv.txt), so a
 * script can take many prompts from one long text. */
#include "attention.h"
#include "backend.h"
#include "model.h"
#include "ruler.h"
#include "test.h"
#include "tokenizer.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MODEL_PATH "models/smollm2-135m-instruct.gguf"
#define TEXT_PATH "data/texts/kjv.txt"

typedef struct {
    int layer, dim, S; /* layer -1: every layer */
    int row0;          /* rows [row0, S) are kept, as rows 0 .. S - row0 - 1 */
    float *out;        /* [S - row0][dim], or [n_layers][S - row0][dim] */
} capture;

static void grab(void *ud, int layer, int pos0, int n, const float *out) {
    capture *c = ud;
    int skip = c->row0 > pos0 ? c->row0 - pos0 : 0, rows = c->S - c->row0;
    if (skip >= n || (c->layer >= 0 && layer != c->layer)) return;
    size_t at = (size_t)(c->layer < 0 ? layer : 0) * rows + (size_t)(pos0 + skip - c->row0);
    memcpy(c->out + at * c->dim, out + (size_t)skip * c->dim, sizeof *out * (size_t)(n - skip) * c->dim);
}

typedef struct {
    int sink, window, block, gamma;
} params;

/* configs/quickstart.ini's settings: what check asserts, and --params' default */
static const params quickstart = {16, 128, 256, 32};

/* `name` with p; only: the one layer that runs it, every other staying dense
 * (-1: every layer runs it) */
static attn_variant variant(const char *name, params p, int only, int n_layers) {
    attn_variant v;
    attn_variant_parse(name, &v);
    v.sink = p.sink, v.window = p.window, v.block = p.block, v.tail = 128, v.gamma = p.gamma;
    for (int l = 0; only >= 0 && l < n_layers && l < ATTN_MAX_DENSE_LAYERS; l++)
        if (l != only) v.dense_layers[v.n_dense_layers++] = l;
    return v;
}

/* layer `layer`'s attention outputs of a prefill of ids[0..S) under v, [S][dim];
 * layer -1: every layer's, [n_layers][S][dim] */
static float *layer_out(backend *be, const model *m, const int32_t *ids, int S, const attn_variant *v, int layer) {
    capture c = {layer, m->hp.n_heads * m->hp.head_dim, S, 0, NULL};
    c.out = xmalloc(sizeof *c.out * (size_t)(layer < 0 ? m->hp.n_layers : 1) * S * c.dim);
    backend_set_attn_hook(be, grab, &c);
    int rc = backend_begin(be, v, S) == 0 ? backend_eval(be, ids, S, NULL) : -1;
    backend_set_attn_hook(be, NULL, NULL);
    CHECK(rc == 0, "%s prefill", attn_variant_name(v));
    return c.out;
}

/* mean over rows [r0, r1) and heads of cos(a_head, b_head) */
static double mean_cos(const float *a, const float *b, int r0, int r1, int heads, int hd) {
    double sum = 0;
    long n = 0;
    for (int r = r0; r < r1; r++)
        for (int h = 0; h < heads; h++) {
            const float *x = a + ((size_t)r * heads + h) * hd, *y = b + ((size_t)r * heads + h) * hd;
            double xy = 0, xx = 0, yy = 0;
            for (int d = 0; d < hd; d++) xy += (double)x[d] * y[d], xx += (double)x[d] * x[d], yy += (double)y[d] * y[d];
            sum += xy / (sqrt(xx * yy) + 1e-30);
            n++;
        }
    return n ? sum / (double)n : 1.0;
}

/* X against X+delta for both bases; strict: assert X+delta is closer */
static void cosines(backend *be, const model *m, const int32_t *ids, int S, params p, int local, int strict) {
    const model_hparams *hp = &m->hp;
    int last = hp->n_layers - 1, only = local ? last : -1;
    attn_variant dv = variant("dense", p, -1, hp->n_layers);
    float *dense = layer_out(be, m, ids, S, &dv, last);
    static const char *const pairs[][2] = {{"streaming", "streaming+delta"}, {"block", "block+delta"}};
    for (int k = 0; k < 2; k++) {
        attn_variant a = variant(pairs[k][0], p, only, hp->n_layers), b = variant(pairs[k][1], p, only, hp->n_layers);
        float *sp = layer_out(be, m, ids, S, &a, last), *dl = layer_out(be, m, ids, S, &b, last);
        int r0 = k == 0 ? p.sink + p.window : p.block, r1 = (int)attn_fix_start(&b, S);
        double cs = mean_cos(dense, sp, r0, r1, hp->n_heads, hp->head_dim);
        double cd = mean_cos(dense, dl, r0, r1, hp->n_heads, hp->head_dim);
        printf("S=%d sink=%d window=%d block=%d gamma=%d, %s: last-layer attention, mean cosine to dense over "
               "rows [%d, %d): %s %.4f, %s %.4f\n", S, p.sink, p.window, p.block, p.gamma,
               local ? "that layer sparse" : "every layer sparse", r0, r1, pairs[k][0], cs, pairs[k][1], cd);
        if (strict) {
            CHECK(cs < 0.9999, "%s must differ from dense at all (%.6f)", pairs[k][0], cs);
            CHECK(cd > cs, "%s (%.4f) must be closer to dense than %s (%.4f)", pairs[k][1], cd, pairs[k][0], cs);
        }
        free(sp);
        free(dl);
    }
    free(dense);
}

/* Layer by layer, each alone sparse: how well a group's anchor Delta stands in
 * for the Delta of the group's other rows; then every layer sparse (see the
 * header's `premise`). */
static void premise(backend *be, const model *m, const int32_t *ids, int S, params p) {
    const model_hparams *hp = &m->hp;
    int L = hp->n_layers, H = hp->n_heads, hd = hp->head_dim, dim = H * hd;
    attn_variant dv = variant("dense", p, -1, L);
    float *dense = layer_out(be, m, ids, S, &dv, -1);
    static const char *const bases[] = {"streaming", "block"};
    for (int k = 0; k < 2; k++) {
        attn_variant base = variant(bases[k], p, -1, L), fix = variant(k == 0 ? "streaming+delta" : "block+delta", p, -1, L);
        int r0 = k == 0 ? p.sink + p.window : p.block, r1 = (int)attn_fix_start(&fix, S), closer = 0, closer_all = 0;
        float *all_x = layer_out(be, m, ids, S, &base, -1), *all_fix = layer_out(be, m, ids, S, &fix, -1);
        printf("S=%d sink=%d window=%d block=%d gamma=%d, %s alone in each layer, rows [%d, %d): layer, mean cosine "
               "to dense of %s and %s+delta, R2 of the anchor's Delta over the group's other rows (all, next row, "
               "rows >= gamma/2 on), |dense - sparse| / |dense|; then with every layer sparse: mean cosine to dense of "
               "%s and %s+delta\n", S, p.sink, p.window, p.block, p.gamma, bases[k], r0,
               r1, bases[k], bases[k], bases[k], bases[k]);
        for (int l = 0; l < L; l++) {
            attn_variant v = variant(bases[k], p, l, L);
            float *sp = layer_out(be, m, ids, S, &v, l);
            const float *dn = dense + (size_t)l * S * dim;
            double cs = mean_cos(dn, sp, r0, r1, H, hd), cd = 0, err[3] = {0}, tot[3] = {0}, dd = 0, nn = 0;
            long n = 0;
            for (int i = r0; i < r1; i++) {
                int a = i / p.gamma * p.gamma, off = i - a;
                for (int h = 0; h < H; h++) {
                    size_t at = ((size_t)i * H + h) * hd, aa = ((size_t)a * H + h) * hd;
                    double xx = 0, xz = 0, zz = 0, e = 0, t = 0; /* z: the composed X+delta row */
                    for (int d = 0; d < hd; d++) {
                        double x = dn[at + d], y = sp[at + d], da = (double)dn[aa + d] - sp[aa + d], z = y + da;
                        xx += x * x, xz += x * z, zz += z * z;
                        e += (x - y - da) * (x - y - da), t += (x - y) * (x - y);
                    }
                    cd += xz / (sqrt(xx * zz) + 1e-30), n++;
                    dd += t, nn += xx;
                    if (off == 0) continue;
                    err[0] += e, tot[0] += t;
                    if (off == 1) err[1] += e, tot[1] += t;
                    if (off >= p.gamma / 2) err[2] += e, tot[2] += t;
                }
            }
            free(sp);
            cd /= (double)(n ? n : 1);
            closer += cd > cs;
            printf("%2d %.4f %.4f", l, cs, cd);
            for (int j = 0; j < 3; j++) printf(tot[j] > 0 ? " %7.3f" : "       -", 1 - err[j] / (tot[j] > 0 ? tot[j] : 1));
            double ws = mean_cos(dn, all_x + (size_t)l * S * dim, r0, r1, H, hd);
            double wd = mean_cos(dn, all_fix + (size_t)l * S * dim, r0, r1, H, hd);
            closer_all += wd > ws;
            if (l == 0) /* layer 0 sees the same inputs either way, and its X+delta composed here is what attention computes */
                CHECK(fabs(ws - cs) < 1e-3 && fabs(wd - cd) < 1e-3, "layer 0: %s %.5f / %.5f, +delta %.5f / %.5f",
                      bases[k], cs, ws, cd, wd);
            printf(" %.3f  %.4f %.4f\n", sqrt(dd / (nn > 0 ? nn : 1)), ws, wd);
            fflush(stdout);
        }
        printf("%s+delta closer to dense than %s in %d of %d layers alone, in %d with every layer sparse\n", bases[k],
               bases[k], closer, L, closer_all);
        free(all_x);
        free(all_fix);
    }
    free(dense);
}

/* The prompt's first S - Q tokens prefilled under v, the last Q fed one at a
 * time as decode steps (dense over the whole cache): every layer's attention
 * output at those Q positions, [n_layers][Q][dim], and in *nll the mean NLL of
 * the Q - 1 tokens the decode steps predict (teacher forced). */
static float *decode_out(backend *be, const model *m, const int32_t *ids, int S, int Q, const attn_variant *v,
                         double *nll) {
    const model_hparams *hp = &m->hp;
    capture c = {-1, hp->n_heads * hp->head_dim, S, S - Q, NULL};
    c.out = xmalloc(sizeof *c.out * (size_t)hp->n_layers * Q * c.dim);
    float *logits = xmalloc(sizeof *logits * (size_t)hp->vocab);
    double sum = 0;
    backend_set_attn_hook(be, grab, &c);
    int rc = backend_begin(be, v, S - Q) == 0 ? backend_eval(be, ids, S - Q, NULL) : -1;
    for (int t = S - Q; rc == 0 && t < S; t++) {
        if (t > S - Q) sum += fwd_nll(logits, hp->vocab, ids[t]);
        rc = backend_eval(be, ids + t, 1, logits);
    }
    backend_set_attn_hook(be, NULL, NULL);
    CHECK(rc == 0, "%s prefill and decode", attn_variant_name(v));
    *nll = Q > 1 ? sum / (Q - 1) : 0;
    free(logits);
    return c.out;
}

/* The paper's Fig. 3 setting: decode-time queries against the cache a sparse
 * prefill (every layer) left. Per layer, the mean cosine to the dense model's
 * attention output at the Q decode positions of each sparse variant; then the
 * decoded tokens' mean NLL. strict (the check): dense, streaming and
 * streaming+delta only, and assert that the last layer's streaming+delta is
 * closer to dense than streaming. */
static void decode(backend *be, const model *m, const int32_t *ids, int S, int Q, params p, int strict) {
    const model_hparams *hp = &m->hp;
    int L = hp->n_layers, H = hp->n_heads, hd = hp->head_dim;
    static const char *const names[] = {"dense", "streaming", "streaming+delta", "streaming+recompute",
                                        "block", "block+delta", "block+recompute"};
    enum { NV = sizeof names / sizeof *names };
    int nv = strict ? 3 : NV; /* the check: dense, streaming, streaming+delta */
    float *out[NV];
    double nll[NV], cos_last[NV];
    for (int k = 0; k < nv; k++) {
        attn_variant v = variant(names[k], p, -1, L);
        out[k] = decode_out(be, m, ids, S, Q, &v, &nll[k]);
    }
    size_t per_layer = (size_t)Q * H * hd;
    printf("S=%d sink=%d window=%d block=%d gamma=%d, every layer sparse in a prefill of %d tokens, then %d decode "
           "steps: layer, mean cosine to dense at the decode positions of", S, p.sink, p.window, p.block, p.gamma,
           S - Q, Q);
    for (int k = 1; k < nv; k++) printf(" %s", names[k]);
    printf("\n");
    int closer[2] = {0, 0};
    for (int l = 0; l < L; l++) {
        double c[NV];
        printf("%2d", l);
        for (int k = 1; k < nv; k++) {
            c[k] = mean_cos(out[0] + l * per_layer, out[k] + l * per_layer, 0, Q, H, hd);
            printf(" %.4f", c[k]);
            if (l == L - 1) cos_last[k] = c[k];
        }
        printf("\n");
        closer[0] += c[2] > c[1];
        if (nv == NV) closer[1] += c[5] > c[4];
    }
    printf("+delta closer to dense than its base at the decode positions in %d (streaming)", closer[0]);
    if (nv == NV) printf(" and %d (block)", closer[1]);
    printf(" of %d layers\n", L);
    printf("decoded tokens' mean nll:");
    for (int k = 0; k < nv; k++) printf(" %s %.4f", names[k], nll[k]);
    printf("\n");
    if (strict) {
        CHECK(cos_last[1] < 0.9999, "streaming must differ from dense at all (%.6f)", cos_last[1]);
        CHECK(cos_last[2] > cos_last[1], "decode, last layer: streaming+delta (%.4f) must be closer to dense than "
              "streaming (%.4f)", cos_last[2], cos_last[1]);
    }
    for (int k = 0; k < nv; k++) free(out[k]);
}

/* backend_score of one window of S tokens, checked: 1 when it scored */
static int score_window(backend *be, const attn_variant *v, const int32_t *ids, int S, double *sum, double *each) {
    int s = backend_score(be, v, ids, S, sum, each);
    CHECK(s == S - 1, "%s: score a window of %d tokens", attn_variant_name(v), S);
    return s == S - 1;
}

/* mean NLL of the tokens predicted by rows [r0, r1) of `windows` windows of S
 * tokens under v */
static double rows_nll(backend *be, const attn_variant *v, const int32_t *ids, int S, int windows, int r0, int r1,
                       double *each) {
    double sum = 0;
    long n = 0;
    for (int w = 0; w < windows; w++) {
        double part = 0;
        if (score_window(be, v, ids + (size_t)w * S, S, &part, each))
            for (int r = r0; r < r1; r++) sum += each[r], n++;
    }
    return n ? sum / (double)n : 0;
}

/* mean NLL of the first `windows` windows of ctx tokens; strict: assert the order */
static void ppl(backend *be, const int32_t *ids, int ctx, int windows, params p, int n_layers, int strict) {
    static const char *const names[] = {"dense", "streaming", "streaming+delta"};
    double nll[3], *each = xmalloc(sizeof *each * (size_t)(ctx - 1));
    for (int k = 0; k < 3; k++) {
        attn_variant v = variant(names[k], p, -1, n_layers);
        nll[k] = rows_nll(be, &v, ids, ctx, windows, 0, ctx - 1, each);
    }
    free(each);
    printf("ppl ctx=%d windows=%d sink=%d window=%d gamma=%d: dense %.4f, streaming %.4f, streaming+delta %.4f "
           "(perplexity %.3f %.3f %.3f)\n", ctx, windows, p.sink, p.window, p.gamma, nll[0], nll[1], nll[2],
           exp(nll[0]), exp(nll[1]), exp(nll[2]));
    if (strict) {
        CHECK(nll[0] <= nll[2], "dense %.4f <= streaming+delta %.4f", nll[0], nll[2]);
        CHECK(nll[2] <= nll[1], "streaming+delta %.4f <= streaming %.4f", nll[2], nll[1]);
    }
}

/* Every token's NLL under dense, streaming, +delta and +recompute over
 * `windows` windows of S tokens, averaged by the offset of the row that
 * predicts it from its group's anchor (see the header's `offsets`). Offsets
 * are bucketed by powers of two: 0, 1, 2-3, 4-7, ... */
static void offsets(backend *be, const int32_t *ids, int S, int windows, params p, int n_layers) {
    static const char *const names[] = {"dense", "streaming", "streaming+delta", "streaming+recompute"};
    enum { NV = sizeof names / sizeof *names, NB = 32 };
    attn_variant fix = variant("streaming+delta", p, -1, n_layers);
    int r0 = p.sink + p.window, r1 = (int)attn_fix_start(&fix, S);
    double sum[NV][NB] = {{0}}, rest[NV][2] = {{0}};
    long cnt[NB] = {0}, rest_n[2] = {0};
    double *each = xmalloc(sizeof *each * (size_t)(S - 1));
    for (int k = 0; k < NV; k++) {
        attn_variant v = variant(names[k], p, -1, n_layers);
        for (int w = 0; w < windows; w++) {
            double part = 0;
            int ok = score_window(be, &v, ids + (size_t)w * S, S, &part, each);
            for (int r = 0; ok && r < S - 1; r++) { /* row r predicts token r + 1 */
                if (r < r0 || r >= r1) {
                    rest[k][r >= r1] += each[r];
                    rest_n[r >= r1] += k == 0;
                    continue;
                }
                int off = r % p.gamma, b = 0; /* bucket b >= 1 holds offsets [2^(b-1), 2^b) */
                while (off >= 1 << b) b++;
                sum[k][b] += each[r];
                cnt[b] += k == 0;
            }
        }
    }
    printf("offsets S=%d windows=%d sink=%d window=%d gamma=%d: mean NLL of the tokens predicted by rows [%d, %d), "
           "by the row's offset from its anchor: offsets, tokens, dense, streaming, +delta, +recompute, +delta - "
           "streaming\n", S, windows, p.sink, p.window, p.gamma, r0, r1);
    double all[NV] = {0};
    long all_n = 0;
    for (int b = 0; b < NB; b++) {
        if (!cnt[b]) continue;
        int lo = b ? 1 << (b - 1) : 0, hi = b ? (1 << b) - 1 : 0;
        printf(lo == hi ? "%5d      " : "%5d-%-5d", lo, hi < p.gamma - 1 ? hi : p.gamma - 1);
        printf(" %7ld", cnt[b]);
        for (int k = 0; k < NV; k++) printf(" %.4f", sum[k][b] / cnt[b]), all[k] += sum[k][b];
        printf(" %+.4f\n", (sum[2][b] - sum[1][b]) / cnt[b]);
        all_n += cnt[b];
    }
    static const char *const where[] = {"rows before sink + window", "rows >= P (dense)"};
    for (int j = 0; j < 2; j++) {
        if (!rest_n[j]) continue;
        printf("%s: %ld tokens:", where[j], rest_n[j]);
        for (int k = 0; k < NV; k++) printf(" %.4f", rest[k][j] / rest_n[j]);
        printf("\n");
    }
    if (all_n) {
        printf("all offsets: %ld tokens:", all_n);
        for (int k = 0; k < NV; k++) printf(" %.4f", all[k] / all_n);
        printf("\n");
    }
    free(each);
}

/* Each layer alone under streaming, +delta and +recompute (see the header's
 * `layers`), over the rows [sink + window, P) that offsets averages. */
static void layers(backend *be, const int32_t *ids, int S, int windows, params p, int n_layers) {
    static const char *const names[] = {"streaming", "streaming+delta", "streaming+recompute"};
    attn_variant fix = variant("streaming+delta", p, -1, n_layers), dv = variant("dense", p, -1, n_layers);
    int r0 = p.sink + p.window, r1 = (int)attn_fix_start(&fix, S), lower = 0;
    double *each = xmalloc(sizeof *each * (size_t)(S - 1));
    double dense = rows_nll(be, &dv, ids, S, windows, r0, r1, each), all[3];
    for (int k = 0; k < 3; k++) {
        attn_variant v = variant(names[k], p, -1, n_layers);
        all[k] = rows_nll(be, &v, ids, S, windows, r0, r1, each);
    }
    printf("layers S=%d windows=%d sink=%d window=%d gamma=%d: mean NLL of the tokens predicted by rows [%d, %d); "
           "dense %.4f; every layer: streaming %.4f, +delta %.4f, +recompute %.4f; one layer alone (the others "
           "dense): layer, streaming, +delta, +recompute, +delta - streaming\n", S, windows, p.sink, p.window,
           p.gamma, r0, r1, dense, all[0], all[1], all[2]);
    for (int l = 0; l < n_layers; l++) {
        double nll[3];
        for (int k = 0; k < 3; k++) {
            attn_variant v = variant(names[k], p, l, n_layers);
            nll[k] = rows_nll(be, &v, ids, S, windows, r0, r1, each);
        }
        lower += nll[1] < nll[0];
        printf("%2d %.4f %.4f %.4f %+.4f\n", l, nll[0], nll[1], nll[2], nll[1] - nll[0]);
        fflush(stdout);
    }
    printf("+delta below streaming with one layer alone in %d of %d layers\n", lower, n_layers);
    free(each);
}

/* The prompt's ids: RULER record rec's input, or text from the fraction at in. */
static int32_t *load_ids(tok_tokenizer *tok, const char *ruler, size_t rec, const char *text_path, double at, int S,
                         size_t need, size_t *n) {
    int32_t *ids = NULL;
    *n = 0;
    if (ruler) {
        ruler_record *r = NULL;
        size_t nr = 0;
        if (ruler_read_jsonl(ruler, &r, &nr) == 0 && nr > rec)
            CHECK(tok_encode(tok, r[rec].input, strlen(r[rec].input), 0, &ids, n) == 0, "encode %s", ruler);
        else
            CHECK(0, "%s: no record %zu", ruler, rec);
        ruler_records_free(r, nr);
        return ids;
    }
    size_t len = 0;
    char *text = ev_read_file(text_path, &len);
    int in = at >= 0 && at < 1; /* also false for NaN */
    size_t off = in ? (size_t)(at * (double)len) : 0, take = need * 8; /* 8 bytes a token */
    if (text && in && len > off + take)
        CHECK(tok_encode(tok, text + off, take, 1, &ids, n) == 0, "encode %s", text_path);
    else
        CHECK(0, "%s: no %d tokens from %.3f of the way in (--at takes 0 <= F < 1)", text_path, S, at);
    free(text);
    return ids;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "", *bk = "cpu", *ruler = NULL, *text = TEXT_PATH;
    int S = 4096, Q = 64, rec = 0, windows = 4;
    double at = 1.0 / 3;
    params pp = quickstart; /* premise's, decode's, offsets' and layers' */
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--backend") == 0) bk = argv[i + 1];
        else if (strcmp(argv[i], "--ruler") == 0) ruler = argv[i + 1];
        else if (strcmp(argv[i], "--text") == 0) text = argv[i + 1];
        else if (strcmp(argv[i], "--len") == 0) S = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--decode") == 0) Q = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--at") == 0) at = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--windows") == 0) windows = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--record") == 0 && (rec = atoi(argv[i + 1])) >= 0) continue;
        else if (strcmp(argv[i], "--params") == 0 &&
                 sscanf(argv[i + 1], "%d,%d,%d,%d", &pp.sink, &pp.window, &pp.block, &pp.gamma) == 4) continue;
        else mode = "";
    }
    if (strcmp(mode, "check") && strcmp(mode, "claims") && strcmp(mode, "sweep") && strcmp(mode, "premise") &&
        strcmp(mode, "decode") && strcmp(mode, "offsets") && strcmp(mode, "layers")) {
        fprintf(stderr, "usage: variants-model check|claims|sweep|premise|decode|offsets|layers [--ruler FILE.jsonl "
                        "| --text FILE] [--record K] [--at F] [--len S] [--backend cpu|cuda]\n"
                        "       [--params SINK,WINDOW,BLOCK,GAMMA (premise, decode, offsets, layers)] "
                        "[--decode Q (decode)] [--windows W (offsets, layers)]\n");
        return 2;
    }
    attn_variant pv = variant("block+delta", pp, -1, 0); /* --params before anything divides by them */
    if (attn_variant_check(&pv) != 0) {
        CHECK(0, "--params %d,%d,%d,%d", pp.sink, pp.window, pp.block, pp.gamma);
        return test_done("variants_model");
    }
    if (!ev_is_file(MODEL_PATH) || (!ruler && !ev_is_file(text))) {
        CHECK(0, "%s and %s are needed (make model data)", MODEL_PATH, ruler ? ruler : text);
        return test_done("variants_model");
    }
    model *m = model_open(MODEL_PATH);
    tok_tokenizer *tok = m ? tok_open_model(m) : NULL;
    size_t n = 0;
    size_t need = (size_t)(windows > 3 && windows < 4096 ? windows + 1 : 4) * (size_t)S; /* sweep reads 3 S */
    int32_t *ids = tok ? load_ids(tok, ruler, (size_t)rec, text, at, S, need, &n) : NULL;
    if (ruler && n > 0 && n < (size_t)S) S = (int)n; /* the haystack prompt is the length */
    CHECK(ids && n >= (size_t)S && S > 512, "a prompt of %d tokens (have %zu)", S, n);
    backend *be = ids && n >= (size_t)S ? backend_new(m, bk, S, 0, 0) : NULL;
    CHECK(be != NULL, "backend %s", bk);
    int L = m ? m->hp.n_layers : 0;
    if (be && strcmp(mode, "check") == 0) {
        cosines(be, m, ids, S, quickstart, 1, 1);
        decode(be, m, ids, S, 64, quickstart, 1);
    } else if (be && strcmp(mode, "premise") == 0) {
        premise(be, m, ids, S, pp);
    } else if (be && strcmp(mode, "decode") == 0) {
        CHECK(Q >= 2 && Q < S, "--decode %d: between 2 and the prompt's %d tokens", Q, S);
        if (Q >= 2 && Q < S) decode(be, m, ids, S, Q, pp, 0);
    } else if (be && (strcmp(mode, "offsets") == 0 || strcmp(mode, "layers") == 0)) {
        int have = (int)(n / (size_t)S);
        CHECK(windows >= 1 && have >= 1, "--windows %d: at least 1 (the text has %d)", windows, have);
        if (windows >= 1 && have >= 1)
            (mode[0] == 'o' ? offsets : layers)(be, ids, S, windows < have ? windows : have, pp, L);
    } else if (be && strcmp(mode, "claims") == 0) {
        cosines(be, m, ids, S, (params){64, 1024, 1024, 64}, 0, 1);
        ppl(be, ids, 2048, 2, (params){16, 256, 512, 64}, L, 1);
    } else if (be) {
        static const params grid[] = {{64, 256, 512, 64},  {64, 256, 512, 16},  {64, 512, 512, 64},
                                      {64, 1024, 1024, 64}, {64, 1024, 1024, 16}, {256, 1024, 1024, 64},
                                      {16, 128, 256, 32},  {4, 64, 128, 4},     {128, 2048, 2048, 64}};
        for (size_t i = 0; i < sizeof grid / sizeof *grid; i++) {
            cosines(be, m, ids, S, grid[i], 1, 0);
            cosines(be, m, ids, S, grid[i], 0, 0);
            int windows = (int)(n / (size_t)(S / 2)) < 6 ? (int)(n / (size_t)(S / 2)) : 6;
            if (!ruler) ppl(be, ids, S / 2, windows, grid[i], L, 0);
        }
    }
    backend_free(be);
    free(ids);
    tok_free(tok);
    model_close(m);
    return test_done("variants_model");
}
