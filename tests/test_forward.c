/* test_forward.c - the CPU forward pass (forward.c) against transformers, and its
 * own invariants.
 *
 * Against the oracle: tests/fixtures/forward/<model>.json, written by
 * tools/gen_forward_fixtures.py from transformers (PyTorch, fp32, CPU, eager
 * attention): last-position logits of several prompts (every logit for the tiny
 * vocabularies; for SmolLM2 the top 50, 48 probes spread over the vocabulary, the
 * L2 norm and the max-abs), 32 greedy tokens with the top-2 logit gap of each
 * step, and the mean NLL of a windowed perplexity run. The fixtures the lead
 * generated are listed in tests/fixtures/forward/MANIFEST; a listed file that is
 * missing fails, and with no MANIFEST the comparisons are skipped ("fixture
 * missing").
 *
 * Tolerances, and why:
 *   logits   |ours - ref| <= 1e-4 * max|ref| per compared logit. Both sides are
 *            fp32 with the same weights (the GGUF is dequantised identically:
 *            quant.c is bit-exact against gguf-py, which transformers uses), so
 *            the difference is summation order only: ~sqrt(K) * 6e-8 relative
 *            per dot product, compounding over the layers. Against a float64
 *            numpy forward SmolLM2's logits differ by ~2e-7 of the max-abs;
 *            1e-4 leaves a wide margin while still catching any real error (a
 *            wrong RoPE pair or scaling moves logits by >1e-2 of the max).
 *   greedy   identical tokens while the reference's top-2 gap exceeds twice the
 *            logit bound (below it either choice is right and the sequences may
 *            part; the comparison stops there).
 *   ppl      mean NLL within 1e-4 relative (log-softmax in double on both sides).
 * Invariants (no oracle needed): prefill in chunks of 1, 7, 64 and all at once,
 * and prefill n + decode 1 against prefill n+1, give the same logits within
 * 1e-5 of the max-abs (by design they are the same bits); fwd_eval's per-token
 * logits equal fwd_prefill's of each prefix; backend_generate (backend.h, on the
 * CPU) stops at an eos id.
 * Other oracles: the tiny HF models against their GGUF twins (llama.cpp's Q/K
 * permutation and rope_freqs tensor; within 1e-5), and forward.c's own
 * vectorised expansion of Q4_0/Q4_1/Q8_0/F16/BF16 against quant.c's (which is
 * bit-exact against gguf-py) on synthetic one-layer models: the same bits. */
#include "attention.h"
#include "backend.h"
#include "forward.h"
#include "model.h"
#include "ppl.h"
#include "quant.h"
#include "test.h"
#include "util.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LOGIT_TOL 1e-4
#define CHUNK_TOL 1e-5
#define PPL_TOL 1e-4
#define SMOLLM2 "models/smollm2-135m-instruct.gguf"

#if defined(__SANITIZE_ADDRESS__)
#define SLOW_BUILD 1 /* ASan+UBSan at -O1: keep the SmolLM2 work small */
#else
#define SLOW_BUILD 0
#endif

static attn_ctx *dense_attn(const model *m, int prompt_len) {
    attn_variant v;
    if (attn_variant_parse("dense", &v) != 0) return NULL;
    return attn_new(&v, m->hp.n_layers, m->hp.n_heads, m->hp.n_kv_heads, m->hp.head_dim, prompt_len);
}

static double max_abs(const float *x, int n) {
    double m = 0;
    for (int i = 0; i < n; i++)
        if (fabs(x[i]) > m) m = fabs(x[i]);
    return m;
}

static double max_diff(const float *a, const float *b, int n) {
    double m = 0;
    for (int i = 0; i < n; i++)
        if (fabs((double)a[i] - b[i]) > m) m = fabs((double)a[i] - b[i]);
    return m;
}

static void random_ids(int32_t *ids, int n, int vocab, unsigned seed) {
    for (int i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        ids[i] = (int32_t)((seed >> 8) % (unsigned)vocab);
    }
}

/* Last logits of ids[0..n-1] from an empty cache, prefilled in `chunk`s. */
static int logits_of(fwd_ctx *f, const model *m, const int32_t *ids, int n, int chunk, float *out) {
    attn_ctx *a = dense_attn(m, n);
    fwd_reset(f);
    int rc = a ? fwd_prefill(f, ids, n, chunk, a, out) : -1;
    attn_free(a);
    return rc;
}

/* ------------------------------------------------------------ invariants */

static void test_invariants(const model *m, const char *name, int n) {
    int V = m->hp.vocab;
    int32_t *ids = xmalloc(sizeof(int32_t) * (size_t)(n + 1));
    random_ids(ids, n + 1, V, 7);
    fwd_ctx *f = fwd_new(m, n + 1, 0);
    CHECK(f != NULL, "%s: fwd_new", name);
    if (!f) {
        free(ids);
        return;
    }
    float *ref = xmalloc(sizeof(float) * (size_t)V), *got = xmalloc(sizeof(float) * (size_t)V);

    /* chunk-size invariance */
    CHECK(logits_of(f, m, ids, n, 0, ref) == 0, "%s: prefill", name);
    double scale = max_abs(ref, V);
    CHECK(scale > 0 && isfinite(scale), "%s: logits finite and non-zero (max-abs %g)", name, scale);
    static const int chunks[] = {1, 7, 64};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        if (chunks[c] >= n) continue;
        CHECK(logits_of(f, m, ids, n, chunks[c], got) == 0, "%s: prefill chunk %d", name, chunks[c]);
        double d = max_diff(got, ref, V);
        CHECK(d <= CHUNK_TOL * scale, "%s: chunk %d vs one chunk: max diff %g (max-abs %g)", name, chunks[c], d,
              scale);
        if (d != 0) printf("note: %s: chunk %d differs from one chunk by %g (within bound)\n", name, chunks[c], d);
    }

    /* KV cache: prefill n then decode 1 == prefill n+1 */
    CHECK(logits_of(f, m, ids, n + 1, 0, ref) == 0, "%s: prefill n+1", name);
    attn_ctx *a = dense_attn(m, n);
    fwd_reset(f);
    CHECK(fwd_prefill(f, ids, n, 0, a, NULL) == 0 && fwd_decode_one(f, ids[n], a, got) == 0, "%s: decode", name);
    double d = max_diff(got, ref, V);
    CHECK(d <= CHUNK_TOL * max_abs(ref, V), "%s: prefill %d + decode 1 vs prefill %d: max diff %g", name, n, n + 1,
          d);
    CHECK_EQ_INT(fwd_n_past(f), n + 1);

    /* the cache is full now: one more token is refused and changes nothing */
    fprintf(stderr, "(expected error follows)\n");
    CHECK(fwd_decode_one(f, ids[0], a, got) == -1, "%s: decode past the context must fail", name);
    CHECK_EQ_INT(fwd_n_past(f), n + 1);
    attn_free(a);

    free(ref);
    free(got);
    free(ids);
    fwd_free(f);
}

/* fwd_eval's per-position logits against fwd_prefill of every prefix, through
 * fwd_score's NLL. */
typedef struct {
    int V, n;
    float *all; /* [n][V] */
} eval_capture;

static void capture_cb(void *ud, int i, const float *logits) {
    eval_capture *c = ud;
    if (i >= 0 && i < c->n) memcpy(c->all + (size_t)i * c->V, logits, sizeof(float) * (size_t)c->V);
}

static double nll_of(const float *lg, int V, int target) {
    double mx = lg[0];
    for (int v = 1; v < V; v++)
        if (lg[v] > mx) mx = lg[v];
    double s = 0;
    for (int v = 0; v < V; v++) s += exp((double)lg[v] - mx);
    return mx + log(s) - lg[target];
}

static void test_eval_score(const model *m, const char *name, int n) {
    int V = m->hp.vocab;
    int32_t *ids = xmalloc(sizeof(int32_t) * (size_t)n);
    random_ids(ids, n, V, 11);
    fwd_ctx *f = fwd_new(m, n, 0);
    eval_capture c = {V, n, xmalloc(sizeof(float) * (size_t)n * (size_t)V)};
    attn_ctx *a = dense_attn(m, n);
    CHECK(fwd_eval(f, ids, n, 5, a, capture_cb, &c) == 0, "%s: eval", name);
    attn_free(a);
    float *lg = xmalloc(sizeof(float) * (size_t)V);
    double worst = 0, nll = 0;
    for (int i = 1; i <= n; i++) {
        logits_of(f, m, ids, i, 0, lg);
        double d = max_diff(lg, c.all + (size_t)(i - 1) * V, V) / max_abs(lg, V);
        if (d > worst) worst = d;
        if (i < n) nll += nll_of(lg, V, ids[i]);
    }
    CHECK(worst <= CHUNK_TOL, "%s: eval row vs prefill of its prefix: %g of max-abs", name, worst);
    a = dense_attn(m, n);
    double got = -1;
    CHECK_EQ_INT(fwd_score(f, a, ids, n, 3, &got, NULL), n - 1);
    CHECK_NEAR(got, nll, 0, 1e-9);
    attn_free(a);
    free(lg);
    free(c.all);
    free(ids);
    fwd_free(f);
}

/* LongPPL's key tokens (ppl.h) against their definition taken token by token:
 * token i >= trunc of a window has the short context that starts at
 * floor((i - trunc) / slide) * slide, its short NLL the last term of scoring
 * ids[start..i] alone. The thresholds are set from the data so that both
 * kinds of token occur (with the official 2 / -2 a random model has none). */
static void test_longppl(const model *m, const char *name) {
    enum { N = 41, T = 8, SLIDE = 5 }; /* N - T not a multiple of SLIDE: the last group is clipped */
    int32_t ids[N];
    random_ids(ids, N, m->hp.vocab, 17);
    attn_variant dense;
    attn_variant_parse("dense", &dense);
    backend *be = backend_new(m, "cpu", N, 0, 4);
    double full[N], diff[N], sum, part[N];
    CHECK_EQ_INT(backend_score(be, &dense, ids, N, &sum, full), N - 1);
    double acc = 0;
    for (int i = 0; i < N - 1; i++) acc += full[i];
    CHECK_NEAR(acc, sum, 0, 1e-9);
    double dmin = 1e300, dmax = -1e300;
    for (int i = T; i < N; i++) {
        int start = (i - T) / SLIDE * SLIDE;
        CHECK_EQ_INT(backend_score(be, &dense, ids + start, i - start + 1, &sum, part), i - start);
        diff[i] = part[i - start - 1] - full[i - 1];
        if (diff[i] < dmin) dmin = diff[i];
        if (diff[i] > dmax) dmax = diff[i];
    }
    CHECK(dmax > dmin, "%s: short and full contexts differ", name);
    ppl_key_opts o = {T, SLIDE, (dmin + dmax) / 2, -100};
    unsigned char key[N];
    long k = ppl_key_tokens(be, ids, N, full, &o, key);
    long want = 0, bad = 0;
    for (int i = 0; i < N; i++) {
        int w = i >= T && diff[i] > o.alpha;
        want += w;
        bad += key[i] != w;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(k, want);
    CHECK(want > 0 && want < N - T, "%s: %ld key tokens of %d", name, want, N - T);
    /* beta: a key token must also be predicted within -beta nats */
    double fmin = 1e300;
    for (int i = T; i < N; i++)
        if (key[i] && full[i - 1] < fmin) fmin = full[i - 1];
    o.beta = -fmin; /* full < fmin: none */
    CHECK_EQ_INT(ppl_key_tokens(be, ids, N, full, &o, key), 0);
    /* ppl_key_mark over one window: ppl_key_tokens' marks */
    o.beta = -100;
    unsigned char mark[N];
    CHECK_EQ_INT(ppl_key_mark(be, ids, N, N, 0, &o, mark), want);
    ppl_key_tokens(be, ids, N, full, &o, key);
    CHECK(memcmp(mark, key, N) == 0, "%s: ppl_key_mark's marks are not ppl_key_tokens'", name);
    /* over several windows: each window's own marks, at the text's positions */
    unsigned char mark2[N];
    enum { W = 20 }; /* windows [0, 20), [20, 40), [40, 41) */
    long k2 = ppl_key_mark(be, ids, N, W, 0, &o, mark2), k2want = 0, bad2 = 0;
    for (int w0 = 0; w0 < N; w0 += W) {
        int len = N - w0 < W ? N - w0 : W;
        double wf[W], ws;
        unsigned char wk[W];
        if (len < 2) {
            bad2 += mark2[w0] != 0;
            continue;
        }
        backend_score(be, &dense, ids + w0, len, &ws, wf);
        k2want += ppl_key_tokens(be, ids + w0, len, wf, &o, wk);
        bad2 += memcmp(wk, mark2 + w0, (size_t)len) != 0;
    }
    CHECK_EQ_INT(bad2, 0);
    CHECK_EQ_INT(k2, k2want);
    /* ppl_score, dense: the key tokens' NLL sum, and the plain sum unchanged */
    ppl_result r, plain;
    CHECK(ppl_score(be, &dense, ids, N, N, 0, mark, &r) == 0, "%s: ppl_score with key tokens", name);
    CHECK(ppl_score(be, &dense, ids, N, N, 0, NULL, &plain) == 0, "%s: ppl_score", name);
    double ksum = 0;
    for (int i = T; i < N; i++)
        if (diff[i] > o.alpha) ksum += full[i - 1];
    CHECK_EQ_INT(r.key, want);
    CHECK_NEAR(r.key_nll, ksum, 0, 1e-9);
    CHECK_NEAR(r.nll, plain.nll, 0, 1e-9);
    CHECK_EQ_INT(plain.key, 0);
    /* a sparse variant: scored on the same key tokens, from its own prefill */
    attn_variant sv;
    attn_variant_parse("streaming+delta", &sv);
    sv.sink = 1, sv.window = 4, sv.gamma = 2;
    double each[N];
    backend_score(be, &sv, ids, N, &sum, each);
    ppl_result rs;
    CHECK(ppl_score(be, &sv, ids, N, N, 0, mark, &rs) == 0, "%s: ppl_score streaming+delta", name);
    ksum = 0;
    for (int i = T; i < N; i++)
        if (diff[i] > o.alpha) ksum += each[i - 1];
    CHECK_EQ_INT(rs.key, want);
    CHECK_NEAR(rs.key_nll, ksum, 0, 1e-9);
    CHECK_NEAR(rs.nll, sum, 0, 1e-9);
    /* a window no longer than trunc has no key tokens */
    o.trunc = N;
    CHECK_EQ_INT(ppl_key_tokens(be, ids, N, full, &o, key), 0);
    backend_free(be);
}

typedef struct {
    int n;
    int32_t got[64];
} tok_log;

static void log_token(void *ud, int32_t id) {
    tok_log *t = ud;
    if (t->n < 64) t->got[t->n++] = id;
}

/* backend_generate on the CPU against a hand-run greedy loop, and its stop at
 * an eos id. */
static void test_generate(model *m, const char *name) {
    int V = m->hp.vocab, n = 12, steps = 10;
    int32_t ids[12], out[16], want[16];
    random_ids(ids, n, V, 3);
    fwd_ctx *f = fwd_new(m, n + steps, 0);
    float *lg = xmalloc(sizeof(float) * (size_t)V);
    attn_ctx *a = dense_attn(m, n);
    fwd_prefill(f, ids, n, 0, a, lg);
    for (int i = 0; i < steps; i++) {
        want[i] = fwd_argmax(lg, V);
        if (i + 1 < steps) fwd_decode_one(f, want[i], a, lg);
    }
    attn_free(a);

    /* no eos among them: all `steps` tokens come out */
    model_hparams saved = m->hp;
    m->hp.n_eos = 0;
    attn_variant dense;
    attn_variant_parse("dense", &dense);
    backend *be = backend_new(m, "cpu", n + steps, 0, 5);
    tok_log log = {0};
    int k = backend_generate(be, &dense, ids, n, steps, out, log_token, &log);
    CHECK_EQ_INT(k, steps);
    CHECK(k == steps && memcmp(out, want, sizeof(int32_t) * (size_t)steps) == 0, "%s: generate == greedy loop", name);
    CHECK(log.n == k && memcmp(log.got, out, sizeof(int32_t) * (size_t)k) == 0, "%s: on_token sees each id", name);

    /* make the 4th greedy token an end token: generation stops there, keeping it */
    m->hp.n_eos = 1;
    m->hp.eos_ids[0] = want[3];
    int first = 0;
    while (want[first] != want[3]) first++;
    k = backend_generate(be, &dense, ids, n, steps, out, NULL, NULL);
    CHECK_EQ_INT(k, first + 1);
    CHECK(out[k - 1] == want[3], "%s: ends with the eos id", name);

    /* max_new 0: nothing */
    CHECK_EQ_INT(backend_generate(be, &dense, ids, n, 0, out, NULL, NULL), 0);
    backend_free(be);
    m->hp = saved;
    free(lg);
    fwd_free(f);
}

static void test_errors(const model *m) {
    fprintf(stderr, "(expected errors follow)\n");
    CHECK(fwd_new(m, 0, 1) == NULL, "n_ctx 0 refused");
    fwd_ctx *f = fwd_new(m, 8, 1);
    attn_ctx *a = dense_attn(m, 8);
    int32_t ids[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    CHECK(fwd_prefill(f, ids, 0, 0, a, NULL) == -1, "0 tokens refused");
    CHECK(fwd_prefill(f, ids, 9, 0, a, NULL) == -1, "9 tokens in a context of 8 refused");
    int32_t bad[2] = {1, m->hp.vocab};
    CHECK(fwd_prefill(f, bad, 2, 0, a, NULL) == -1, "id == vocab refused");
    bad[1] = -1;
    CHECK(fwd_prefill(f, bad, 2, 0, a, NULL) == -1, "negative id refused");
    CHECK_EQ_INT(fwd_n_past(f), 0);
    attn_free(a);
    fwd_free(f);
    fwd_free(NULL);
}

/* An HF directory and its GGUF twin (tests/fixtures/models/, written by
 * tools/gen_model_fixtures.py the way llama.cpp's converter writes them: Q/K
 * rows permuted for adjacent-pair RoPE, llama3 scaling as a rope_freqs tensor)
 * must give the same logits: this checks the adjacent-pair rotation and the
 * frequency-factor path against the half-split rotation and the HF formula. */
static void test_gguf_twin(const char *hf, const char *gguf) {
    model *a = model_open(hf), *b = model_open(gguf);
    CHECK(a && b, "open %s and %s", hf, gguf);
    if (a && b) {
        int n = 200, V = a->hp.vocab;
        int32_t *ids = xmalloc(sizeof(int32_t) * (size_t)n);
        random_ids(ids, n, V, 17);
        float *la = xmalloc(sizeof(float) * (size_t)V), *lb = xmalloc(sizeof(float) * (size_t)V);
        fwd_ctx *fa = fwd_new(a, n, 0), *fb = fwd_new(b, n, 0);
        CHECK(logits_of(fa, a, ids, n, 64, la) == 0 && logits_of(fb, b, ids, n, 64, lb) == 0, "%s: prefill", gguf);
        double d = max_diff(la, lb, V) / max_abs(la, V);
        CHECK(d <= CHUNK_TOL, "%s vs %s: logits differ by %g of the max-abs", gguf, hf, d);
        fwd_free(fa);
        fwd_free(fb);
        free(la);
        free(lb);
        free(ids);
    }
    model_close(a);
    model_close(b);
}

/* ------------------------------------------- fast dequantisation paths */

/* A one-layer llama whose matrices all have one element type, filled with
 * random blocks, and its twin with the same matrices expanded to F32 by
 * quant.c's qt_dequant. forward.c expands Q4_0/Q4_1/Q8_0/F16/BF16 with its own
 * vectorised code (and for a single token dots straight from the blocks); the
 * twin takes none of those paths, so the same logits bit for bit (the sums run
 * in the same order) show that those paths expand exactly as quant.c does. */
enum { SY_H = 64, SY_FFN = 96, SY_V = 96, SY_N = 12 };

typedef struct {
    model m;
    model_layer layer;
    model_tensor t[SY_N];
} synth;

static unsigned sy_rand(unsigned *s) {
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static float sy_float(unsigned *s) { return ((float)(sy_rand(s) % 2001) - 1000.0f) * 3e-4f; }

static void synth_fill(model_tensor *t, int type, int64_t ne0, int64_t ne1, unsigned *seed) {
    int64_t rows = ne1 > 0 ? ne1 : 1;
    size_t rb = qt_row_bytes(type, ne0), n = rb * (size_t)rows, bb = qt_block_bytes(type);
    uint8_t *p = xmalloc(n);
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)sy_rand(seed);
    for (size_t b = 0; b < n / bb; b++) {
        uint8_t *blk = p + b * bb;
        if (type == QT_F32) {
            float v = sy_float(seed) + (ne1 > 0 ? 0.0f : 1.0f); /* norms near 1 */
            memcpy(blk, &v, 4);
        } else if (type == QT_F16 || type == QT_BF16) {
            uint16_t h = type == QT_F16 ? qt_f32_to_f16(sy_float(seed)) : qt_f32_to_bf16(sy_float(seed));
            memcpy(blk, &h, 2);
        } else { /* Q4_0, Q4_1, Q8_0: scale d first, Q4_1's min m second */
            uint16_t d = qt_f32_to_f16(0.01f + (float)(sy_rand(seed) % 100) * 1e-4f);
            uint16_t m = qt_f32_to_f16(-0.08f + (float)(sy_rand(seed) % 100) * 1e-4f);
            memcpy(blk, &d, 2);
            if (type == QT_Q4_1) memcpy(blk + 2, &m, 2);
        }
    }
    memset(t, 0, sizeof *t);
    t->name = "synthetic";
    t->type = type;
    t->n_dims = ne1 > 0 ? 2 : 1;
    t->ne[0] = ne0;
    t->ne[1] = rows;
    t->ne[2] = t->ne[3] = 1;
    t->data = p;
    t->nbytes = n;
}

/* Matrices of `type` (norms F32); with src, the F32 twin of src instead. */
static int synth_make(synth *s, int type, const synth *src) {
    static const int shape[SY_N][2] = {
        {SY_H, SY_V}, {SY_H, 0}, {SY_H, SY_V}, /* tok_embd, out_norm, lm_head */
        {SY_H, 0}, {SY_H, 64}, {SY_H, 32}, {SY_H, 32}, {64, SY_H}, /* attn_norm, q, k, v, o */
        {SY_H, 0}, {SY_H, SY_FFN}, {SY_H, SY_FFN}, {SY_FFN, SY_H}, /* ffn_norm, gate, up, down */
    };
    memset(s, 0, sizeof *s);
    model_hparams *hp = &s->m.hp;
    hp->arch = MODEL_LLAMA;
    hp->n_layers = 1;
    hp->hidden = SY_H;
    hp->n_heads = 2;
    hp->n_kv_heads = 1;
    hp->head_dim = 32;
    hp->ffn = SY_FFN;
    hp->vocab = SY_V;
    hp->context = 64;
    hp->rms_eps = 1e-5f;
    hp->rope_theta = 10000;
    hp->rope_dim = 32;
    hp->bos_id = -1;
    s->m.path = "synthetic";
    unsigned seed = 99;
    for (int i = 0; i < SY_N; i++) {
        if (!src) {
            synth_fill(&s->t[i], shape[i][1] ? type : QT_F32, shape[i][0], shape[i][1], &seed);
            continue;
        }
        const model_tensor *o = &src->t[i];
        size_t n = (size_t)o->ne[0] * (size_t)o->ne[1];
        float *f = xmalloc(n * sizeof *f);
        qt_dequant(o->type, o->data, f, (int64_t)n);
        s->t[i] = *o;
        s->t[i].type = QT_F32;
        s->t[i].data = f;
        s->t[i].nbytes = n * sizeof *f;
    }
    model_layer *L = &s->layer;
    s->m.layers = L;
    s->m.tok_embd = &s->t[0];
    s->m.out_norm = &s->t[1];
    s->m.lm_head = &s->t[2];
    L->attn_norm = &s->t[3];
    L->wq = &s->t[4];
    L->wk = &s->t[5];
    L->wv = &s->t[6];
    L->wo = &s->t[7];
    L->ffn_norm = &s->t[8];
    L->w_gate = &s->t[9];
    L->w_up = &s->t[10];
    L->w_down = &s->t[11];
    return model_validate(&s->m);
}

static void synth_free(synth *s) {
    for (int i = 0; i < SY_N; i++) free((void *)s->t[i].data);
}

/* prefill 20 tokens in chunks of 7, then decode 3 (the one-token path) */
static void synth_run(const model *m, float *out /* [4][SY_V] */) {
    int32_t ids[23];
    random_ids(ids, 23, SY_V, 5);
    fwd_ctx *f = fwd_new(m, 23, 2);
    attn_ctx *a = dense_attn(m, 20);
    fwd_prefill(f, ids, 20, 7, a, out);
    for (int i = 0; i < 3; i++) fwd_decode_one(f, ids[20 + i], a, out + (size_t)(i + 1) * SY_V);
    attn_free(a);
    fwd_free(f);
}

static void test_fast_dequant(void) {
    static const int types[] = {QT_Q4_0, QT_Q4_1, QT_Q8_0, QT_F16, QT_BF16, QT_F32};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        synth q, f;
        memset(&f, 0, sizeof f);
        int ok = synth_make(&q, types[i], NULL) == 0 && synth_make(&f, 0, &q) == 0;
        CHECK(ok, "%s: synthetic model", qt_name(types[i]));
        if (ok) {
            float a[4 * SY_V], b[4 * SY_V];
            synth_run(&q.m, a);
            synth_run(&f.m, b);
            double d = max_diff(a, b, 4 * SY_V);
            CHECK(d == 0 && max_abs(a, 4 * SY_V) > 0, "%s: logits differ from the F32 twin's by %g", qt_name(types[i]),
                  d);
        }
        synth_free(&q);
        synth_free(&f);
    }
}

/* ------------------------------------------------------------ the oracle */

static int32_t *json_ids(const json_t *arr, int *n) {
    *n = (int)json_array_size(arr);
    int32_t *ids = xmalloc(sizeof(int32_t) * (size_t)(*n + 1));
    for (int i = 0; i < *n; i++) ids[i] = (int32_t)json_integer_value(json_array_get(arr, (size_t)i));
    return ids;
}

/* Compares logits with a fixture's record of them; returns the bound used. */
static double check_logits(const float *lg, int V, const json_t *ref, const char *what) {
    double scale = json_number_value(json_object_get(ref, "max_abs"));
    double bound = LOGIT_TOL * scale, worst = 0;
    const json_t *full = json_object_get(ref, "full");
    if (full) {
        CHECK_EQ_INT(json_array_size(full), V);
        for (int v = 0; v < V && v < (int)json_array_size(full); v++) {
            double d = fabs(lg[v] - json_number_value(json_array_get(full, (size_t)v)));
            if (d > worst) worst = d;
        }
    } else {
        static const char *const pairs[][2] = {{"top_ids", "top_vals"}, {"probe_ids", "probe_vals"}};
        for (int p = 0; p < 2; p++) {
            const json_t *ids = json_object_get(ref, pairs[p][0]), *vals = json_object_get(ref, pairs[p][1]);
            CHECK(json_array_size(ids) > 0 && json_array_size(ids) == json_array_size(vals), "%s: %s", what,
                  pairs[p][0]);
            for (size_t i = 0; i < json_array_size(ids); i++) {
                json_int_t id = json_integer_value(json_array_get(ids, i));
                if (id < 0 || id >= V) continue;
                double d = fabs(lg[id] - json_number_value(json_array_get(vals, i)));
                if (d > worst) worst = d;
            }
        }
        double l2 = 0;
        for (int v = 0; v < V; v++) l2 += (double)lg[v] * lg[v];
        CHECK_NEAR(sqrt(l2), json_number_value(json_object_get(ref, "l2")), 0, LOGIT_TOL);
    }
    CHECK_NEAR(max_abs(lg, V), scale, 0, LOGIT_TOL);
    CHECK(worst <= bound, "%s: max |logit - ref| %g > %g (1e-4 of max-abs %g)", what, worst, bound, scale);
    printf("%s: max |logit - ref| = %.3g = %.2g of max-abs\n", what, worst, worst / scale);
    return bound;
}

static void check_case(fwd_ctx *f, const model *m, const json_t *c, const char *name, int idx, int max_steps) {
    int V = m->hp.vocab, n;
    int32_t *ids = json_ids(json_object_get(c, "ids"), &n);
    const json_t *greedy = json_object_get(c, "greedy"), *gap = json_object_get(c, "gap");
    int steps = (int)json_array_size(greedy);
    if (steps > max_steps) steps = max_steps;
    char what[128];
    snprintf(what, sizeof what, "%s case %d (%d tokens)", name, idx, n);
    float *lg = xmalloc(sizeof(float) * (size_t)V);
    attn_ctx *a = dense_attn(m, n);
    fwd_reset(f);
    int rc = fwd_prefill(f, ids, n, 64, a, lg);
    CHECK(rc == 0, "%s: prefill", what);
    if (rc == 0) {
        double bound = check_logits(lg, V, json_object_get(c, "last"), what);
        int same = 0;
        for (int i = 0; i < steps; i++) {
            int want = (int)json_integer_value(json_array_get(greedy, (size_t)i));
            double g = json_number_value(json_array_get(gap, (size_t)i));
            int got = fwd_argmax(lg, V);
            if (got != want) {
                CHECK(g <= 2 * bound, "%s: greedy step %d: %d, reference %d with top-2 gap %g", what, i, got, want, g);
                break;
            }
            same++;
            if (i + 1 < steps && fwd_decode_one(f, got, a, lg) != 0) break;
        }
        printf("%s: %d of %d greedy tokens equal\n", what, same, steps);
    }
    attn_free(a);
    free(lg);
    free(ids);
}

static void check_ppl(fwd_ctx *f, const model *m, const json_t *p, const char *name) {
    int n, ctx = (int)json_integer_value(json_object_get(p, "ctx"));
    int32_t *ids = json_ids(json_object_get(p, "ids"), &n);
    double nll = 0;
    int scored = 0, windows = 0;
    for (int s = 0; s < n; s += ctx) {
        int w = n - s < ctx ? n - s : ctx;
        if (w < 2) break;
        attn_ctx *a = dense_attn(m, w);
        double part;
        int k = fwd_score(f, a, ids + s, w, 64, &part, NULL);
        attn_free(a);
        CHECK(k == w - 1, "%s: ppl window at %d", name, s);
        if (k < 0) break;
        nll += part;
        scored += k;
        windows++;
    }
    CHECK_EQ_INT(windows, json_integer_value(json_object_get(p, "windows")));
    CHECK_EQ_INT(scored, json_integer_value(json_object_get(p, "scored")));
    double want = json_number_value(json_object_get(p, "nll"));
    CHECK_NEAR(nll / scored, want, 0, PPL_TOL);
    printf("%s: ppl mean nll %.6f, reference %.6f\n", name, nll / scored, want);
    free(ids);
}

/* EV_FORWARD_FIXTURES may point elsewhere (e.g. fixtures just generated, before
 * they are committed). */
static const char *fixture_dir(void) {
    const char *d = getenv("EV_FORWARD_FIXTURES");
    return d && *d ? d : FIXTURE("forward");
}

static void check_fixture(const char *file) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", fixture_dir(), file);
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    CHECK(root != NULL, "fixture missing or unreadable: %s (%s)", path, err.text);
    if (!root) return;
    const char *name = json_string_value(json_object_get(root, "name"));
    const char *mpath = json_string_value(json_object_get(root, "model"));
    if (!name) name = file;
    if (!mpath || (!ev_is_file(mpath) && !ev_is_dir(mpath))) {
        printf("%s: model %s not present, comparisons skipped (make model)\n", name, mpath ? mpath : "?");
        json_decref(root);
        return;
    }
    model *m = model_open(mpath);
    CHECK(m != NULL, "%s: open %s", name, mpath);
    if (!m) {
        json_decref(root);
        return;
    }
    CHECK_EQ_INT(m->hp.vocab, json_integer_value(json_object_get(root, "vocab")));
    const json_t *cases = json_object_get(root, "cases");
    int big = strstr(mpath, ".gguf") != NULL;
    int max_len = 1;
    for (size_t i = 0; i < json_array_size(cases); i++) {
        int n = (int)json_array_size(json_object_get(json_array_get(cases, i), "ids"));
        if (n > max_len) max_len = n;
    }
    fwd_ctx *f = fwd_new(m, max_len + 40, 0);
    for (size_t i = 0; i < json_array_size(cases); i++) {
        const json_t *c = json_array_get(cases, i);
        int n = (int)json_array_size(json_object_get(c, "ids"));
        if (SLOW_BUILD && big && n > 128) {
            printf("%s case %zu (%d tokens): skipped in the sanitizer build\n", name, i, n);
            continue;
        }
        check_case(f, m, c, name, (int)i, SLOW_BUILD && big ? 4 : 1000);
    }
    const json_t *p = json_object_get(root, "ppl");
    if (p && !(SLOW_BUILD && big)) {
        fwd_free(f);
        f = fwd_new(m, (int)json_integer_value(json_object_get(p, "ctx")), 0);
        check_ppl(f, m, p, name);
    }
    fwd_free(f);
    model_close(m);
    json_decref(root);
}

static void check_manifest(void) {
    size_t len;
    char man[1024];
    snprintf(man, sizeof man, "%s/MANIFEST", fixture_dir());
    if (!ev_is_file(man)) {
        printf("fixture missing: %s (not generated yet: tools/gen_forward_fixtures.py); comparisons skipped\n", man);
        return;
    }
    char *text = ev_read_file(man, &len);
    if (!text) return;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (!*line || *line == '#') continue;
        check_fixture(line);
    }
    free(text);
}

/* ------------------------------------------------------------------ main */

int main(void) {
    test_fast_dequant();
    static const char *const tiny[] = {"hf/tiny-llama3", "hf/tiny-qwen2", "hf/tiny-mistral"};
    for (size_t i = 0; i < sizeof tiny / sizeof tiny[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s%s", FIXTURE(""), tiny[i]);
        model *m = model_open(path);
        CHECK(m != NULL, "open %s", path);
        if (!m) continue;
        test_invariants(m, tiny[i], 100);
        test_eval_score(m, tiny[i], 24);
        test_generate(m, tiny[i]);
        test_longppl(m, tiny[i]);
        if (i == 0) test_errors(m);
        model_close(m);
    }
    test_gguf_twin(FIXTURE("hf/tiny-llama3"), FIXTURE("models/tiny-llama3.gguf"));
    test_gguf_twin(FIXTURE("hf/tiny-qwen2"), FIXTURE("models/tiny-qwen2.gguf"));
    if (ev_is_file(SMOLLM2)) {
        model *m = model_open(SMOLLM2);
        CHECK(m != NULL, "open %s", SMOLLM2);
        if (m) {
            test_invariants(m, "smollm2", SLOW_BUILD ? 16 : 40);
            model_close(m);
        }
    } else {
        printf("%s not present: its invariants skipped (make model)\n", SMOLLM2);
    }
    check_manifest();
    return test_done("forward");
}
