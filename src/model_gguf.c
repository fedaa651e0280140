/* model_gguf.c - fills the model description from a GGUF file written by
 * llama.cpp's converters (metadata keys `<arch>.*`, tensor names `blk.N.*`).
 *
 * llama.cpp permutes the Q/K rows of `llama` models for its adjacent-pair RoPE and
 * leaves `qwen2` in the half-split (NeoX) layout; see model.h. */
#include "model.h"

#include "gguf.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads `<arch>.<suffix>` as an int in [lo, hi]. Absent: *out = dflt, unless
 * dflt < 0, which makes the key required. */
static int get_int(model *m, const char *arch, const char *suffix, long dflt, long lo, long hi, int *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int64_t v;
    if (gguf_get_int(m->gguf, key, &v) != 0) {
        if (gguf_find_key(m->gguf, key) >= 0) return ev_error("%s: metadata %s is not an integer", m->path, key);
        if (dflt < 0) return ev_error("%s: missing metadata key %s", m->path, key);
        *out = (int)dflt;
        return 0;
    }
    if (v < lo || v > hi)
        return ev_error("%s: metadata %s = %lld is out of range [%ld, %ld]", m->path, key, (long long)v, lo, hi);
    *out = (int)v;
    return 0;
}

static int get_float(model *m, const char *arch, const char *suffix, double dflt, float *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    double v;
    if (gguf_get_float(m->gguf, key, &v) != 0) {
        if (gguf_find_key(m->gguf, key) >= 0) return ev_error("%s: metadata %s is not a number", m->path, key);
        v = dflt;
    }
    *out = (float)v;
    return 0;
}

static const model_tensor *find(model *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}

static const model_tensor *find_layer(model *m, int l, const char *suffix) {
    char name[96];
    snprintf(name, sizeof name, "blk.%d.%s", l, suffix);
    return find(m, name);
}

static void add_eos(model_hparams *hp, int64_t id) {
    if (id < 0 || id >= hp->vocab) return;
    for (int i = 0; i < hp->n_eos; i++)
        if (hp->eos_ids[i] == id) return;
    if (hp->n_eos < MODEL_MAX_EOS) hp->eos_ids[hp->n_eos++] = (int)id;
}

int model_load_gguf(model *m, const char *path) {
    m->format = "gguf";
    m->gguf = gguf_open(path);
    if (!m->gguf) return -1;
    model_hparams *hp = &m->hp;

    char *arch = gguf_get_strdup(m->gguf, "general.architecture");
    if (!arch) return ev_error("%s: missing metadata general.architecture", path);
    if (strcmp(arch, "llama") == 0) hp->arch = MODEL_LLAMA;
    else if (strcmp(arch, "qwen2") == 0) hp->arch = MODEL_QWEN2;
    else {
        ev_error("%s: unsupported architecture '%s' (supported: llama, qwen2)", path, arch);
        free(arch);
        return -1;
    }

    m->n_tensors = gguf_n_tensors(m->gguf);
    m->tensors = xcalloc((size_t)m->n_tensors + 1, sizeof *m->tensors);
    for (int i = 0; i < m->n_tensors; i++) {
        const gguf_tensor *t = gguf_tensor_at(m->gguf, i);
        model_tensor *d = &m->tensors[i];
        d->name = t->name;
        d->type = t->type;
        d->n_dims = t->n_dims;
        memcpy(d->ne, t->ne, sizeof d->ne);
        d->data = t->data;
        d->nbytes = t->nbytes;
    }

    int rc = 0;
    const long big = 1L << 30;
    if (get_int(m, arch, "block_count", -1, 1, 4096, &hp->n_layers) ||
        get_int(m, arch, "embedding_length", -1, 1, big, &hp->hidden) ||
        get_int(m, arch, "feed_forward_length", -1, 1, big, &hp->ffn) ||
        get_int(m, arch, "attention.head_count", -1, 1, 4096, &hp->n_heads) ||
        get_int(m, arch, "attention.head_count_kv", hp->n_heads, 1, 4096, &hp->n_kv_heads) ||
        get_int(m, arch, "context_length", 4096, 1, big, &hp->context) ||
        get_int(m, arch, "attention.key_length", hp->hidden / hp->n_heads, 1, 1 << 16, &hp->head_dim) ||
        get_int(m, arch, "rope.dimension_count", hp->head_dim, 1, 1 << 16, &hp->rope_dim) ||
        get_float(m, arch, "attention.layer_norm_rms_epsilon", 1e-5, &hp->rms_eps) ||
        get_float(m, arch, "rope.freq_base", 10000.0, &hp->rope_theta))
        goto fail;

    /* vocab: the metadata key when present, else the token list, else the embedding */
    uint64_t n_tok;
    int et;
    const model_tensor *embd = find(m, "token_embd.weight");
    if (gguf_get_arr(m->gguf, "tokenizer.ggml.tokens", &et, &n_tok) == 0) hp->vocab = (int)(n_tok < (uint64_t)big ? n_tok : 0);
    else if (embd) hp->vocab = (int)embd->ne[1];
    if (get_int(m, arch, "vocab_size", hp->vocab, 1, big, &hp->vocab)) goto fail;

    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    char *scaling = gguf_get_strdup(m->gguf, key);
    if (scaling && strcmp(scaling, "linear") == 0) {
        hp->rope_scaling.kind = ROPE_SCALE_LINEAR;
        if (get_float(m, arch, "rope.scaling.factor", 1.0, &hp->rope_scaling.factor)) {
            free(scaling);
            goto fail;
        }
    } else if (scaling && strcmp(scaling, "none") != 0) {
        ev_error("%s: unsupported rope scaling type '%s'", path, scaling);
        free(scaling);
        goto fail;
    }
    free(scaling);

    hp->rope_adjacent_pairs = hp->arch == MODEL_LLAMA;
    m->tok_embd = embd;
    m->out_norm = find(m, "output_norm.weight");
    m->lm_head = find(m, "output.weight");
    hp->tied_embeddings = m->lm_head == NULL;
    if (!m->lm_head) m->lm_head = m->tok_embd;
    m->rope_freqs = find(m, "rope_freqs.weight");

    m->layers = xcalloc((size_t)hp->n_layers, sizeof *m->layers);
    for (int l = 0; l < hp->n_layers; l++) {
        model_layer *L = &m->layers[l];
        L->attn_norm = find_layer(m, l, "attn_norm.weight");
        L->wq = find_layer(m, l, "attn_q.weight");
        L->wk = find_layer(m, l, "attn_k.weight");
        L->wv = find_layer(m, l, "attn_v.weight");
        L->wo = find_layer(m, l, "attn_output.weight");
        L->bq = find_layer(m, l, "attn_q.bias");
        L->bk = find_layer(m, l, "attn_k.bias");
        L->bv = find_layer(m, l, "attn_v.bias");
        L->ffn_norm = find_layer(m, l, "ffn_norm.weight");
        L->w_gate = find_layer(m, l, "ffn_gate.weight");
        L->w_up = find_layer(m, l, "ffn_up.weight");
        L->w_down = find_layer(m, l, "ffn_down.weight");
    }

    /* end-of-generation ids: eos, and the end-of-turn/message ids chat models stop on */
    int64_t id;
    hp->bos_id = gguf_get_int(m->gguf, "tokenizer.ggml.bos_token_id", &id) == 0 ? (int)id : -1;
    static const char *const eos_keys[] = {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id",
                                           "tokenizer.ggml.eom_token_id"};
    for (size_t i = 0; i < sizeof eos_keys / sizeof eos_keys[0]; i++)
        if (gguf_get_int(m->gguf, eos_keys[i], &id) == 0) add_eos(hp, id);
    goto out;
fail:
    rc = -1;
out:
    free(arch);
    return rc ? -1 : 0;
}
