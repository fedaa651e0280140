/* test_forward.c (GPU) - the CUDA forward pass against the CPU one (itself
 * checked against transformers in tests/test_forward.c) and against the
 * transformers fixture directly, on the real SmolLM2-135M-Instruct (Q4_1 GGUF:
 * the GPU expansion of its blocks) and on random models of the kernels' head
 * dimensions (tools/gen_gpu_models.py: llama3 RoPE scaling, qwen2 biases and
 * tied embeddings, mistral; bf16 and f16 safetensors).
 *
 * Tolerances, and why: the GPU rounds weights and matrix inputs to bf16 (8
 * significant bits, relative rounding 2^-9 = 2e-3), so every product carries
 * ~2e-3 relative noise that compounds through the layers, against ~1e-7 on the
 * fp32 CPU path. We require, per compared logit vector:
 *   max |gpu - cpu| <= LOGIT_REL * max |cpu|   (LOGIT_REL = 5e-2), and
 *   cosine(gpu, cpu) >= 0.998;
 * greedy tokens identical while the CPU's top-2 gap exceeds twice the bound
 * (below that either token is right); perplexity within 2% (mean NLL). These are
 * loose enough for bf16 and tight enough to catch a wrong RoPE pair, mask or
 * Delta (each moves logits by far more: see the variant cases, where the
 * variants differ from dense by more than the bound). */
#include "backend.h"
#include "model.h"
#include "test.h"
#include "tokenizer.h"
#include "util.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LOGIT_REL 5e-2
#define COS_MIN 0.998

static double max_abs(const float *x, int n) {
    double m = 0;
    for (int i = 0; i < n; i++)
        if (fabs(x[i]) > m) m = fabs(x[i]);
    return m;
}

/* checks a against the reference b; returns the absolute bound used */
static double cmp_logits(const float *a, const float *b, int V, const char *what) {
    double d = 0, ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < V; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (e > d) d = e;
        ab += (double)a[i] * b[i], aa += (double)a[i] * a[i], bb += (double)b[i] * b[i];
    }
    double scale = max_abs(b, V), cs = ab / (sqrt(aa * bb) + 1e-30);
    CHECK(d <= LOGIT_REL * scale, "%s: max |gpu - cpu| %g > %g of max-abs %g", what, d, LOGIT_REL, scale);
    CHECK(cs >= COS_MIN, "%s: cosine %f < %f", what, cs, COS_MIN);
    printf("%s: max |gpu - cpu| = %.3g of max-abs, cosine %.6f\n", what, d / (scale + 1e-30), cs);
    return LOGIT_REL * scale;
}

static double top2_gap(const float *x, int n) {
    int a = fwd_argmax(x, n);
    float second = -INFINITY;
    for (int i = 0; i < n; i++)
        if (i != a && x[i] > second) second = x[i];
    return (double)x[a] - second;
}

/* prefill + greedy decode on both backends, step by step */
static void cmp_sequence(const model *m, backend *cpu, backend *gpu, const attn_variant *v, const int32_t *ids,
                         int n, int steps, const char *what) {
    int V = m->hp.vocab;
    float *lc = xmalloc(sizeof(float) * (size_t)V), *lg = xmalloc(sizeof(float) * (size_t)V);
    int ok = backend_begin(cpu, v, n) == 0 && backend_eval(cpu, ids, n, lc) == 0;
    int okg = backend_begin(gpu, v, n) == 0 && backend_eval(gpu, ids, n, lg) == 0;
    CHECK(ok && okg, "%s: prefill (cpu %d, gpu %d)", what, ok, okg);
    if (ok && okg) {
        char w[256];
        snprintf(w, sizeof w, "%s prefill", what);
        double bound = cmp_logits(lg, lc, V, w);
        int same = 0;
        for (int i = 0; i < steps; i++) {
            int tc = fwd_argmax(lc, V), tg = fwd_argmax(lg, V);
            if (tc != tg) {
                double gap = top2_gap(lc, V);
                CHECK(gap <= 2 * bound, "%s: greedy step %d: gpu %d, cpu %d with top-2 gap %g", what, i, tg, tc, gap);
                break;
            }
            same++;
            int32_t id = tc;
            if (backend_eval(cpu, &id, 1, lc) || backend_eval(gpu, &id, 1, lg)) {
                CHECK(0, "%s: decode step %d", what, i);
                break;
            }
            snprintf(w, sizeof w, "%s decode %d", what, i);
            if (i == steps - 1) cmp_logits(lg, lc, V, w);
        }
        printf("%s: %d of %d greedy tokens equal\n", what, same, steps);
    }
    free(lc);
    free(lg);
}

static int32_t *text_ids(const model *m, int n) {
    /* deterministic ids spread over the vocabulary, avoiding 0 .. 2 (specials) */
    int32_t *ids = xmalloc(sizeof(int32_t) * (size_t)n);
    uint64_t s = 12345;
    for (int i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        ids[i] = 3 + (int32_t)((s >> 33) % (uint64_t)(m->hp.vocab - 3));
    }
    return ids;
}

/* The first n tokens of Genesis (make data), for the real model: random ids
 * are no input a language model was made for, and on them the sparse variants
 * (+recompute most) turn chaotic enough that bf16 noise flips whole logits. */
#define BOOK "data/texts/kjv-books/01.txt"
static int32_t *book_ids(const model *m, int n) {
    tok_tokenizer *tok = tok_open_model(m);
    size_t len = 0, k = 0;
    char *text = tok ? ev_read_file(BOOK, &len) : NULL;
    int32_t *ids = NULL;
    CHECK(text != NULL, "%s (make data)", BOOK);
    if (text && tok_encode(tok, text, len, 1, &ids, &k) == 0 && (int)k >= n) {
        free(text);
        tok_free(tok);
        return ids;
    }
    CHECK(0, "%s: fewer than %d tokens", BOOK, n);
    free(ids);
    free(text);
    tok_free(tok);
    return NULL;
}

static void check_model(const char *path, int long_len, int real_text) {
    model *m = model_open(path);
    CHECK(m != NULL, "open %s", path);
    if (!m) return;
    int n_ctx = long_len + 64;
    backend *cpu = backend_new(m, "cpu", n_ctx, 0, 64), *gpu = backend_new(m, "cuda", n_ctx, 0, 256);
    CHECK(cpu && gpu, "%s: backends", path);
    if (cpu && gpu) {
        attn_variant v;
        /* dense on a short and a long prompt (several GPU chunks) */
        int32_t *ids = real_text ? book_ids(m, long_len) : text_ids(m, long_len);
        if (!ids) goto out;
        char what[256];
        attn_variant_parse("dense", &v);
        snprintf(what, sizeof what, "%s dense 37", path);
        cmp_sequence(m, cpu, gpu, &v, ids, 37, 16, what);
        snprintf(what, sizeof what, "%s dense %d", path, long_len);
        cmp_sequence(m, cpu, gpu, &v, ids, long_len, 8, what);
        /* every variant, parameters small enough to be sparse at long_len */
        static const char *const names[] = {"streaming", "block", "streaming+delta", "block+delta",
                                            "streaming+recompute", "block+recompute"};
        for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
            attn_variant_parse(names[k], &v);
            v.sink = 8, v.window = 64, v.block = 96, v.tail = 32, v.gamma = 16;
            snprintf(what, sizeof what, "%s %s %d", path, names[k], long_len);
            cmp_sequence(m, cpu, gpu, &v, ids, long_len, 8, what);
        }
        attn_variant_parse("streaming+delta", &v);
        v.sink = 8, v.window = 64, v.gamma = 16, v.decode_sparse = 1;
        v.n_dense_layers = 1, v.dense_layers[0] = 0;
        snprintf(what, sizeof what, "%s streaming+delta decode=sparse dense_layers=0", path);
        cmp_sequence(m, cpu, gpu, &v, ids, long_len, 8, what);
        /* perplexity */
        attn_variant_parse("streaming+delta", &v);
        v.sink = 8, v.window = 64, v.gamma = 16;
        double nc = 0, ng = 0;
        int kc = backend_score(cpu, &v, ids, long_len, &nc, NULL), kg = backend_score(gpu, &v, ids, long_len, &ng, NULL);
        CHECK(kc == long_len - 1 && kg == long_len - 1, "%s: score", path);
        CHECK_NEAR(ng / kg, nc / kc, 0, 0.02);
        printf("%s: streaming+delta mean nll cpu %.5f gpu %.5f\n", path, nc / kc, ng / kg);
        free(ids);
    }
out:
    backend_free(cpu);
    backend_free(gpu);
    model_close(m);
}

/* The transformers fixtures directly: last-position logits of each case. */
static void check_fixture(const char *file) {
    json_error_t err;
    json_t *root = json_load_file(file, 0, &err);
    CHECK(root != NULL, "%s: %s", file, err.text);
    if (!root) return;
    const char *mpath = json_string_value(json_object_get(root, "model"));
    model *m = mpath ? model_open(mpath) : NULL;
    CHECK(m != NULL, "%s: model %s", file, mpath ? mpath : "?");
    backend *gpu = m ? backend_new(m, "cuda", 2048, 0, 512) : NULL;
    if (gpu) {
        attn_variant v;
        attn_variant_parse("dense", &v);
        const json_t *cases = json_object_get(root, "cases");
        float *lg = xmalloc(sizeof(float) * (size_t)m->hp.vocab);
        for (size_t c = 0; c < json_array_size(cases); c++) {
            const json_t *cs = json_array_get(cases, c), *arr = json_object_get(cs, "ids");
            int n = (int)json_array_size(arr);
            int32_t *ids = xmalloc(sizeof(int32_t) * (size_t)n);
            for (int i = 0; i < n; i++) ids[i] = (int32_t)json_integer_value(json_array_get(arr, (size_t)i));
            CHECK(backend_begin(gpu, &v, n) == 0 && backend_eval(gpu, ids, n, lg) == 0, "%s case %zu", file, c);
            const json_t *last = json_object_get(cs, "last");
            double scale = json_number_value(json_object_get(last, "max_abs")), worst = 0;
            const json_t *full = json_object_get(last, "full");
            const json_t *ids_j = full ? NULL : json_object_get(last, "top_ids"), *vals = json_object_get(last, full ? "full" : "top_vals");
            for (size_t i = 0; i < json_array_size(vals); i++) {
                size_t id = ids_j ? (size_t)json_integer_value(json_array_get(ids_j, i)) : i;
                double d = fabs(lg[id] - json_number_value(json_array_get(vals, i)));
                if (d > worst) worst = d;
            }
            CHECK(worst <= LOGIT_REL * scale, "%s case %zu: max |gpu - transformers| %g > %g", file, c, worst,
                  LOGIT_REL * scale);
            printf("%s case %zu: max |gpu - transformers| = %.3g of max-abs\n", file, c, worst / scale);
            free(ids);
        }
        free(lg);
    }
    backend_free(gpu);
    model_close(m);
    json_decref(root);
}

/* GPU-shaped random models written by tools/gen_gpu_models.py (make test-gpu) */
static void check_gpu_models(void) {
    const char *dir = getenv("GPU_MODELS") ? getenv("GPU_MODELS") : "build-gpu/gpu-models";
    static const char *const names[] = {"gpu-llama3", "gpu-qwen2", "gpu-mistral"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char *p = ev_path_join(dir, names[i]);
        CHECK(ev_is_dir(p), "%s missing: run python3 tools/gen_gpu_models.py %s", p, dir);
        if (ev_is_dir(p)) check_model(p, 300, 0);
        free(p);
    }
}

int main(void) {
    check_fixture(FIXTURE("forward/smollm2-135m-instruct.json"));
    check_model("models/smollm2-135m-instruct.gguf", 700, 1);
    check_gpu_models();
    return test_done("gpu_forward");
}
