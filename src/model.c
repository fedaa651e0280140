/* model.c - opens a model from either format into the one description (model.h),
 * validates every tensor against the hyperparameters, and describes it. */
#include "model.h"

#include "gguf.h"
#include "quant.h"
#include "safetensors.h"
#include "util.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

model *model_open(const char *path) {
    model *m = xcalloc(1, sizeof *m);
    m->path = xstrdup(path);
    int rc;
    if (ev_is_dir(path)) {
        rc = model_load_hf(m, path);
    } else if (ev_is_file(path)) {
        rc = model_load_gguf(m, path);
    } else {
        rc = ev_error("%s: no such model file or directory", path);
    }
    if (rc != 0 || model_validate(m) != 0) {
        model_close(m);
        return NULL;
    }
    return m;
}

void model_close(model *m) {
    if (!m) return;
    gguf_close(m->gguf);
    st_close(m->st);
    free(m->tensors);
    free(m->layers);
    free(m->dir);
    free(m->path);
    free(m);
}

const char *model_arch_name(model_arch a) {
    switch (a) {
    case MODEL_LLAMA: return "llama";
    case MODEL_QWEN2: return "qwen2";
    }
    return "?";
}

/* ------------------------------------------------------------------ validation */

/* layer < 0: a tensor outside the layers */
static int check_tensor(const model *m, int layer, const model_tensor *t, const char *what, int64_t ne0,
                        int64_t ne1) {
    if (!t && layer >= 0) return ev_error("%s: missing tensor: layer %d %s", m->path, layer, what);
    if (!t) return ev_error("%s: missing tensor: %s", m->path, what);
    int want_dims = ne1 > 0 ? 2 : 1;
    int64_t n1 = t->n_dims >= 2 ? t->ne[1] : 1;
    int extra = t->n_dims > 2 && (t->ne[2] != 1 || t->ne[3] != 1);
    if (t->ne[0] != ne0 || (want_dims == 2 && n1 != ne1) || (want_dims == 1 && t->n_dims != 1) || extra) {
        if (want_dims == 2)
            return ev_error("%s: tensor '%s' has shape [%" PRId64 ", %" PRId64 "] (ggml order), expected [%" PRId64
                            ", %" PRId64 "]", m->path, t->name, t->ne[0], n1, ne0, ne1);
        return ev_error("%s: tensor '%s' has %d dims / %" PRId64 " elements, expected a vector of %" PRId64,
                        m->path, t->name, t->n_dims, t->ne[0], ne0);
    }
    if (!qt_supported(t->type)) {
        const char *n = qt_name(t->type);
        if (n) return ev_error("%s: tensor '%s' has unsupported type %s", m->path, t->name, n);
        return ev_error("%s: tensor '%s' has unsupported type %d", m->path, t->name, t->type);
    }
    size_t row = qt_row_bytes(t->type, t->ne[0]);
    size_t need;
    if (row == 0 || ev_mul_size(row, (size_t)n1, &need) != 0 || need != t->nbytes)
        return ev_error("%s: tensor '%s' holds %zu bytes, its shape and type need %zu", m->path, t->name,
                        t->nbytes, row * (size_t)n1);
    return 0;
}

static int64_t numel(const model_tensor *t) {
    return t ? t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3] : 0;
}

int model_validate(model *m) {
    const model_hparams *hp = &m->hp;
    if (hp->n_layers <= 0 || hp->hidden <= 0 || hp->n_heads <= 0 || hp->n_kv_heads <= 0 || hp->head_dim <= 0 ||
        hp->ffn <= 0 || hp->vocab <= 0)
        return ev_error("%s: hyperparameters must be positive (layers %d, hidden %d, heads %d, kv_heads %d, "
                        "head_dim %d, ffn %d, vocab %d)", m->path, hp->n_layers, hp->hidden, hp->n_heads,
                        hp->n_kv_heads, hp->head_dim, hp->ffn, hp->vocab);
    if (hp->n_heads % hp->n_kv_heads != 0)
        return ev_error("%s: %d attention heads are not a multiple of %d kv heads", m->path, hp->n_heads,
                        hp->n_kv_heads);
    if (hp->head_dim % 2 != 0 || hp->rope_dim <= 0 || hp->rope_dim > hp->head_dim || hp->rope_dim % 2 != 0)
        return ev_error("%s: rope dimension %d does not fit head_dim %d", m->path, hp->rope_dim, hp->head_dim);
    if (!(hp->rope_theta > 0)) return ev_error("%s: rope theta must be positive", m->path);
    if (hp->n_layers > 4096 || hp->n_heads > 4096 || (int64_t)hp->n_heads * hp->head_dim > (1 << 20))
        return ev_error("%s: implausible model size (layers %d, heads %d)", m->path, hp->n_layers, hp->n_heads);

    int64_t H = hp->hidden, Q = (int64_t)hp->n_heads * hp->head_dim, KV = (int64_t)hp->n_kv_heads * hp->head_dim;
    if (check_tensor(m, -1, m->tok_embd, "token embedding", H, hp->vocab)) return -1;
    if (check_tensor(m, -1, m->out_norm, "output norm", H, 0)) return -1;
    if (check_tensor(m, -1, m->lm_head, "output (lm head)", H, hp->vocab)) return -1;
    if (m->rope_freqs && check_tensor(m, -1, m->rope_freqs, "rope frequency factors", hp->rope_dim / 2, 0)) return -1;
    if (m->rope_freqs && m->rope_freqs->type != QT_F32)
        return ev_error("%s: tensor '%s' must be F32", m->path, m->rope_freqs->name);
    int64_t n = numel(m->tok_embd) + numel(m->out_norm) + (m->lm_head != m->tok_embd ? numel(m->lm_head) : 0);
    for (int l = 0; l < hp->n_layers; l++) {
        const model_layer *L = &m->layers[l];
        if (check_tensor(m, l, L->attn_norm, "attention norm", H, 0) || check_tensor(m, l, L->wq, "q projection", H, Q) ||
            check_tensor(m, l, L->wk, "k projection", H, KV) || check_tensor(m, l, L->wv, "v projection", H, KV) ||
            check_tensor(m, l, L->wo, "attention output", Q, H) || check_tensor(m, l, L->ffn_norm, "ffn norm", H, 0) ||
            check_tensor(m, l, L->w_gate, "ffn gate", H, hp->ffn) || check_tensor(m, l, L->w_up, "ffn up", H, hp->ffn) ||
            check_tensor(m, l, L->w_down, "ffn down", hp->ffn, H))
            return -1;
        int want_bias = hp->arch == MODEL_QWEN2;
        if (want_bias && (check_tensor(m, l, L->bq, "q bias", Q, 0) || check_tensor(m, l, L->bk, "k bias", KV, 0) ||
                          check_tensor(m, l, L->bv, "v bias", KV, 0)))
            return -1;
        if (!want_bias && (L->bq || L->bk || L->bv))
            return ev_error("%s: layer %d has q/k/v biases, which %s models do not use", m->path, l,
                            model_arch_name(hp->arch));
        n += numel(L->attn_norm) + numel(L->wq) + numel(L->wk) + numel(L->wv) + numel(L->wo) + numel(L->bq) +
             numel(L->bk) + numel(L->bv) + numel(L->ffn_norm) + numel(L->w_gate) + numel(L->w_up) +
             numel(L->w_down);
    }
    m->n_params = n;
    return 0;
}

void model_tensor_row(const model_tensor *t, int64_t r, float *dst) {
    size_t row = qt_row_bytes(t->type, t->ne[0]);
    qt_dequant(t->type, (const uint8_t *)t->data + (size_t)r * row, dst, t->ne[0]);
}

/* ------------------------------------------------------------------------ info */

void model_print_info(const model *m, FILE *f) {
    const model_hparams *hp = &m->hp;
    fprintf(f, "path: %s\n", m->path);
    fprintf(f, "format: %s\n", m->format);
    fprintf(f, "arch: %s\n", model_arch_name(hp->arch));
    fprintf(f, "layers: %d\n", hp->n_layers);
    fprintf(f, "hidden: %d\n", hp->hidden);
    fprintf(f, "heads: %d\n", hp->n_heads);
    fprintf(f, "kv_heads: %d\n", hp->n_kv_heads);
    fprintf(f, "head_dim: %d\n", hp->head_dim);
    fprintf(f, "ffn: %d\n", hp->ffn);
    fprintf(f, "vocab: %d\n", hp->vocab);
    fprintf(f, "context: %d\n", hp->context);
    fprintf(f, "rms_eps: %g\n", hp->rms_eps);
    fprintf(f, "rope_theta: %g\n", hp->rope_theta);
    fprintf(f, "rope_layout: %s\n", hp->rope_adjacent_pairs ? "adjacent-pairs (gguf llama)" : "half-split (hf)");
    switch (hp->rope_scaling.kind) {
    case ROPE_SCALE_NONE:
        fprintf(f, "rope_scaling: %s\n", m->rope_freqs ? "llama3 (frequency factors tensor)" : "none");
        break;
    case ROPE_SCALE_LINEAR: fprintf(f, "rope_scaling: linear factor=%g\n", hp->rope_scaling.factor); break;
    case ROPE_SCALE_LLAMA3:
        fprintf(f, "rope_scaling: llama3 factor=%g low_freq_factor=%g high_freq_factor=%g original_context=%d\n",
                hp->rope_scaling.factor, hp->rope_scaling.low_freq_factor, hp->rope_scaling.high_freq_factor,
                hp->rope_scaling.original_context);
        break;
    }
    fprintf(f, "tied_embeddings: %s\n", hp->tied_embeddings ? "true" : "false");
    fprintf(f, "bos_id: %d\n", hp->bos_id);
    fprintf(f, "eos_ids:");
    for (int i = 0; i < hp->n_eos; i++) fprintf(f, "%s%d", i ? "," : " ", hp->eos_ids[i]);
    fprintf(f, "\n");

    int counts[QT_COUNT] = {0};
    for (int i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].type >= 0 && m->tensors[i].type < QT_COUNT) counts[m->tensors[i].type]++;
    fprintf(f, "tensors: %d\n", m->n_tensors);
    fprintf(f, "tensor_types:");
    int first = 1;
    for (int t = 0; t < QT_COUNT; t++) {
        if (!counts[t]) continue;
        fprintf(f, "%s%s=%d", first ? " " : ",", qt_name(t), counts[t]);
        first = 0;
    }
    fprintf(f, "\n");
    fprintf(f, "parameters: %" PRId64 "\n", m->n_params);
}

int model_is_eos(const model_hparams *hp, int32_t id) {
    for (int i = 0; i < hp->n_eos; i++)
        if (hp->eos_ids[i] == id) return 1;
    return 0;
}

/* HF _compute_default_rope_parameters, then the scaling, all in fp32 as torch
 * does it (python scalars meet fp32 tensors in fp32). */
void model_rope_inv_freq(const model *m, float *inv_freq) {
    const model_hparams *hp = &m->hp;
    int d = hp->rope_dim, half = d / 2;
    for (int i = 0; i < half; i++) {
        float e = (float)(2 * i) / (float)d;
        float inv = 1.0f / (float)pow((double)hp->rope_theta, (double)e);
        if (hp->rope_scaling.kind == ROPE_SCALE_LINEAR && hp->rope_scaling.factor > 0) {
            inv = inv / hp->rope_scaling.factor;
        } else if (hp->rope_scaling.kind == ROPE_SCALE_LLAMA3) {
            /* transformers _compute_llama3_parameters */
            float factor = hp->rope_scaling.factor, lo = hp->rope_scaling.low_freq_factor;
            float hi = hp->rope_scaling.high_freq_factor, old = (float)hp->rope_scaling.original_context;
            float lo_wavelen = old / lo, hi_wavelen = old / hi;
            /* torch evaluates `scalar / tensor` as reciprocal(tensor) * scalar */
            float wavelen = (1.0f / inv) * (float)(2 * M_PI);
            float scaled = wavelen > lo_wavelen ? inv / factor : inv;
            float smooth = ((1.0f / wavelen) * old - lo) / (hi - lo);
            float smoothed = (1.0f - smooth) * scaled / factor + smooth * scaled;
            int medium = !(wavelen < hi_wavelen) && !(wavelen > lo_wavelen);
            inv = medium ? smoothed : scaled;
        }
        if (m->rope_freqs) inv = inv / ((const float *)m->rope_freqs->data)[i];
        inv_freq[i] = inv;
    }
}

/* ------------------------------------------------------- shapes, no weights */

typedef struct {
    const char *name;
    int layers, hidden, heads, kv, hd, ffn, vocab, context;
    float theta;
    int llama3; /* Llama 3.1 rope scaling (factor 8, low 1, high 4, original 8192) */
} shape_def;

static const shape_def shapes[] = {
    {"llama-3.1-8b", 32, 4096, 32, 8, 128, 14336, 128256, 131072, 500000.0f, 1},
    {"llama-3.2-1b", 16, 2048, 32, 8, 64, 8192, 128256, 131072, 500000.0f, 1},
    {"smollm2-135m", 30, 576, 9, 3, 64, 1536, 49152, 8192, 100000.0f, 0},
};

static model_tensor *shape_tensor(model_tensor *t, const char *name, int64_t rows, int64_t cols) {
    t->name = name;
    t->type = QT_BF16;
    t->n_dims = rows ? 2 : 1;
    t->ne[0] = cols;
    t->ne[1] = rows ? rows : 1;
    t->ne[2] = t->ne[3] = 1;
    t->data = NULL;
    t->nbytes = 0;
    return t;
}

model *model_shape(const char *name) {
    const shape_def *d = NULL;
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
        if (!strcmp(shapes[i].name, name)) d = &shapes[i];
    if (!d) return ev_error("model shape '%s' unknown (llama-3.1-8b, llama-3.2-1b, smollm2-135m)", name), NULL;
    model *m = xcalloc(1, sizeof *m);
    model_hparams *hp = &m->hp;
    hp->arch = MODEL_LLAMA;
    hp->n_layers = d->layers, hp->hidden = d->hidden, hp->n_heads = d->heads, hp->n_kv_heads = d->kv;
    hp->head_dim = d->hd, hp->ffn = d->ffn, hp->vocab = d->vocab, hp->context = d->context;
    hp->rms_eps = 1e-5f, hp->rope_theta = d->theta, hp->rope_dim = d->hd;
    if (d->llama3) {
        hp->rope_scaling.kind = ROPE_SCALE_LLAMA3;
        hp->rope_scaling.factor = 8, hp->rope_scaling.low_freq_factor = 1, hp->rope_scaling.high_freq_factor = 4;
        hp->rope_scaling.original_context = 8192;
    }
    hp->bos_id = -1;
    m->path = xstrdup(name);
    m->format = "shape";
    int per = 9, n = 3 + per * d->layers, k = 0;
    m->tensors = xcalloc((size_t)n, sizeof *m->tensors);
    m->layers = xcalloc((size_t)d->layers, sizeof *m->layers);
    int64_t H = d->hidden, q = (int64_t)d->heads * d->hd, kv = (int64_t)d->kv * d->hd;
    m->tok_embd = shape_tensor(&m->tensors[k++], "token_embd", d->vocab, H);
    m->out_norm = shape_tensor(&m->tensors[k++], "output_norm", 0, H);
    m->lm_head = shape_tensor(&m->tensors[k++], "output", d->vocab, H);
    for (int l = 0; l < d->layers; l++) {
        model_layer *L = &m->layers[l];
        L->attn_norm = shape_tensor(&m->tensors[k++], "attn_norm", 0, H);
        L->wq = shape_tensor(&m->tensors[k++], "attn_q", q, H);
        L->wk = shape_tensor(&m->tensors[k++], "attn_k", kv, H);
        L->wv = shape_tensor(&m->tensors[k++], "attn_v", kv, H);
        L->wo = shape_tensor(&m->tensors[k++], "attn_output", H, q);
        L->ffn_norm = shape_tensor(&m->tensors[k++], "ffn_norm", 0, H);
        L->w_gate = shape_tensor(&m->tensors[k++], "ffn_gate", d->ffn, H);
        L->w_up = shape_tensor(&m->tensors[k++], "ffn_up", d->ffn, H);
        L->w_down = shape_tensor(&m->tensors[k++], "ffn_down", H, d->ffn);
    }
    m->n_tensors = k;
    int64_t np = 0;
    for (int i = 0; i < k; i++) np += m->tensors[i].ne[0] * m->tensors[i].ne[1];
    m->n_params = np;
    return m;
}
