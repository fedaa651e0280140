/* model_hf.c - fills the model description from a Hugging Face model directory:
 * config.json (+ generation_config.json) and safetensors weights.
 *
 * config.json is read in both dialects transformers has written: 4.x (and most hub
 * checkpoints) put `rope_theta` at the top level and the scaling in `rope_scaling`
 * ({"rope_type" or "type": ...}); 5.x writes one `rope_parameters` object holding
 * rope_type, rope_theta and the scaling factors. Defaults are transformers' own for
 * llama, mistral and qwen2 (num_key_value_heads = heads, head_dim = hidden/heads,
 * rope_theta 10000, tie_word_embeddings false).
 *
 * Sliding-window attention: Qwen2 turns it on with use_sliding_window (or marks
 * layers "sliding_attention" in layer_types); we compute full attention only, so
 * such configs are refused. Mistral configs carry `sliding_window` without a
 * switch; Mistral v0.2+ set it null, v0.1 set it to 4096 and is loaded anyway, as
 * full attention (identical to HF up to 4096 tokens).
 *
 * HF keeps the rotary pairs half a head apart, so rope_adjacent_pairs = 0 (model.h).
 * Shapes are not checked here: model_validate() does that for both loaders. */
#include "model.h"

#include "safetensors.h"
#include "util.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define BIG (1L << 30)

/* --------------------------------------------------------------- config values */

/* JSON null counts as absent: transformers writes `"head_dim": null` and the like. */
static json_t *get(const json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return json_is_null(v) ? NULL : v;
}

/* An integer key in [lo, hi]. Absent: *out = dflt, or an error when required. */
static int get_int(const char *cp, const json_t *o, const char *key, int required, long dflt, long lo, long hi,
                   int *out) {
    json_t *v = get(o, key);
    if (!v) {
        if (required) return ev_error("%s: missing key %s", cp, key);
        *out = (int)dflt;
        return 0;
    }
    if (!json_is_integer(v)) return ev_error("%s: %s is not an integer", cp, key);
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi) return ev_error("%s: %s = %lld is out of range [%ld, %ld]", cp, key, (long long)x, lo, hi);
    *out = (int)x;
    return 0;
}

/* A positive number (integer or real). */
static int get_pos(const char *cp, const json_t *o, const char *key, int required, double dflt, float *out) {
    json_t *v = get(o, key);
    if (!v) {
        if (required) return ev_error("%s: missing key %s", cp, key);
        *out = (float)dflt;
        return 0;
    }
    if (!json_is_number(v)) return ev_error("%s: %s is not a number", cp, key);
    double x = json_number_value(v);
    if (!(x > 0) || x > 1e30) return ev_error("%s: %s = %g must be positive", cp, key, x);
    *out = (float)x;
    return 0;
}

static int get_bool(const char *cp, const json_t *o, const char *key, int dflt, int *out) {
    json_t *v = get(o, key);
    if (!v) {
        *out = dflt;
        return 0;
    }
    if (!json_is_boolean(v)) return ev_error("%s: %s is not true or false", cp, key);
    *out = json_is_true(v);
    return 0;
}

/* Adds the ids of `key` (a number or a list of numbers) to hp's eos set. */
static int add_eos(const char *cp, const json_t *o, const char *key, model_hparams *hp) {
    json_t *v = get(o, key);
    if (!v) return 0;
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
        if (!json_is_integer(e)) return ev_error("%s: %s is not a token id or a list of them", cp, key);
        json_int_t id = json_integer_value(e);
        if (id < 0 || id >= hp->vocab)
            return ev_error("%s: %s %lld is outside the vocabulary of %d", cp, key, (long long)id, hp->vocab);
        int seen = 0;
        for (int k = 0; k < hp->n_eos; k++) seen |= hp->eos_ids[k] == id;
        if (seen) continue;
        if (hp->n_eos == MODEL_MAX_EOS) return ev_error("%s: more than %d %s ids", cp, MODEL_MAX_EOS, key);
        hp->eos_ids[hp->n_eos++] = (int)id;
    }
    return 0;
}

/* A config string fit for an error line: control characters replaced, length capped. */
static const char *clean(char buf[64], const char *s) {
    size_t k = 0;
    for (; s && s[k] && k < 63; k++) buf[k] = (unsigned char)s[k] < 0x20 || s[k] == 0x7f ? '?' : s[k];
    buf[k] = '\0';
    return buf;
}

static json_t *load_json(const char *path) {
    size_t len;
    char *text = ev_read_file(path, &len);
    if (!text) return NULL;
    json_error_t err;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    free(text);
    if (!root) {
        ev_error("%s: not valid JSON: %s (at byte %d)", path, err.text, err.position > 0 ? err.position : 0);
        return NULL;
    }
    if (!json_is_object(root)) {
        ev_error("%s: not a JSON object", path);
        json_decref(root);
        return NULL;
    }
    return root;
}

/* --------------------------------------------------------------- architecture */

static const struct {
    const char *class_name, *model_type;
    model_arch arch;
} archs[] = {
    {"LlamaForCausalLM", "llama", MODEL_LLAMA},
    {"MistralForCausalLM", "mistral", MODEL_LLAMA},
    {"Qwen2ForCausalLM", "qwen2", MODEL_QWEN2},
};
#define N_ARCHS (sizeof archs / sizeof archs[0])

/* `architectures` names the class transformers instantiates; older or hand-made
 * configs may carry only `model_type`. Sets *mt to the model_type the class
 * implies (for transformers' per-type defaults). */
static int read_arch(const char *cp, const json_t *c, model_hparams *hp, const char **mt) {
    json_t *a = get(c, "architectures");
    if (a && !(json_is_array(a) && json_array_size(a) > 0))
        return ev_error("%s: architectures is not a non-empty list", cp);
    if (a) {
        for (size_t i = 0; i < json_array_size(a); i++) {
            const char *s = json_string_value(json_array_get(a, i));
            if (!s) return ev_error("%s: architectures holds a non-string", cp);
            for (size_t k = 0; k < N_ARCHS; k++) {
                if (strcmp(s, archs[k].class_name) == 0) {
                    hp->arch = archs[k].arch;
                    *mt = archs[k].model_type;
                    return 0;
                }
            }
        }
        char b[64];
        return ev_error("%s: unsupported architecture '%s' (supported: LlamaForCausalLM, MistralForCausalLM, "
                        "Qwen2ForCausalLM)", cp, clean(b, json_string_value(json_array_get(a, 0))));
    }
    json_t *t = get(c, "model_type");
    if (!t) return ev_error("%s: missing key architectures (and model_type)", cp);
    if (!json_is_string(t)) return ev_error("%s: model_type is not a string", cp);
    for (size_t k = 0; k < N_ARCHS; k++) {
        if (strcmp(json_string_value(t), archs[k].model_type) == 0) {
            hp->arch = archs[k].arch;
            *mt = archs[k].model_type;
            return 0;
        }
    }
    char b[64];
    return ev_error("%s: unsupported model_type '%s' (supported: llama, mistral, qwen2)", cp,
                    clean(b, json_string_value(t)));
}

/* Refuses what would make our forward pass differ from transformers'. */
static int check_features(const char *cp, const json_t *c) {
    json_t *v = get(c, "hidden_act");
    if (v && !(json_is_string(v) && strcmp(json_string_value(v), "silu") == 0))
        return ev_error("%s: hidden_act must be \"silu\"", cp);
    int on = 0;
    if (get_bool(cp, c, "attention_bias", 0, &on) != 0) return -1;
    if (on) return ev_error("%s: attention_bias true is not supported", cp);
    if (get_bool(cp, c, "mlp_bias", 0, &on) != 0) return -1;
    if (on) return ev_error("%s: mlp_bias true is not supported", cp);
    if (get_bool(cp, c, "use_sliding_window", 0, &on) != 0) return -1;
    if (on && get(c, "sliding_window")) return ev_error("%s: use_sliding_window true is not supported", cp);
    v = get(c, "layer_types");
    if (v) {
        if (!json_is_array(v)) return ev_error("%s: layer_types is not a list", cp);
        for (size_t i = 0; i < json_array_size(v); i++) {
            const char *s = json_string_value(json_array_get(v, i));
            if (!s || strcmp(s, "full_attention") != 0)
                return ev_error("%s: layer_types[%zu] is not \"full_attention\"", cp, i);
        }
    }
    return 0;
}

/* rope_theta and scaling from rope_parameters (transformers 5) or from
 * rope_theta + rope_scaling (4.x); rope_parameters wins when both are present. */
static int read_rope(const char *cp, const json_t *c, model_hparams *hp) {
    if (get_pos(cp, c, "rope_theta", 0, 10000.0, &hp->rope_theta) != 0) return -1;
    json_t *rp = get(c, "rope_parameters");
    const char *key = rp ? "rope_parameters" : "rope_scaling";
    json_t *r = rp ? rp : get(c, "rope_scaling");
    if (!r) return 0;
    if (!json_is_object(r)) return ev_error("%s: %s is not an object", cp, key);
    if (rp && get(rp, "rope_theta") && get_pos(cp, rp, "rope_theta", 1, 0, &hp->rope_theta) != 0) return -1;

    json_t *t = get(r, "rope_type");
    if (!t) t = get(r, "type");
    const char *type = "default";
    if (t) {
        if (!json_is_string(t)) return ev_error("%s: %s.rope_type is not a string", cp, key);
        type = json_string_value(t);
    } else if (!rp) {
        return ev_error("%s: rope_scaling has no rope_type", cp);
    } else {
        /* transformers 5 nests per-layer-type parameters for some models */
        const char *k;
        json_t *v;
        json_object_foreach(r, k, v) if (json_is_object(v))
            return ev_error("%s: per-layer rope_parameters are not supported", cp);
    }

    if (strcmp(type, "default") == 0) return 0;
    if (strcmp(type, "linear") == 0) {
        const json_t *f = get(r, "factor");
        double fv = json_is_number(f) ? json_number_value(f) : 0;
        if (!(fv > 0 && fv < 1e6)) return ev_error("%s: linear %s needs a positive factor", cp, key);
        hp->rope_scaling.kind = ROPE_SCALE_LINEAR;
        hp->rope_scaling.factor = (float)fv;
        return 0;
    }
    if (strcmp(type, "llama3") == 0) {
        hp->rope_scaling.kind = ROPE_SCALE_LLAMA3;
        const json_t *f = get(r, "factor"), *lo = get(r, "low_freq_factor"), *hi = get(r, "high_freq_factor");
        const json_t *oc = get(r, "original_max_position_embeddings");
        if (!json_is_number(f) || !json_is_number(lo) || !json_is_number(hi) || !json_is_integer(oc))
            return ev_error("%s: llama3 %s needs factor, low_freq_factor, high_freq_factor and "
                            "original_max_position_embeddings", cp, key);
        double fv = json_number_value(f), lv = json_number_value(lo), hv = json_number_value(hi);
        json_int_t ov = json_integer_value(oc);
        /* high > low: the smooth interpolation divides by their difference */
        if (!(fv > 0 && fv < 1e6) || !(lv > 0 && lv < 1e6) || !(hv > lv && hv < 1e6) || ov <= 0 || ov > BIG)
            return ev_error("%s: llama3 %s values out of range (factor %g, low_freq_factor %g, "
                            "high_freq_factor %g, original_max_position_embeddings %lld)", cp, key, fv, lv, hv,
                            (long long)ov);
        hp->rope_scaling.factor = (float)fv;
        hp->rope_scaling.low_freq_factor = (float)lv;
        hp->rope_scaling.high_freq_factor = (float)hv;
        hp->rope_scaling.original_context = (int)ov;
        return 0;
    }
    char b[64];
    return ev_error("%s: unsupported rope type '%s' in %s (supported: default, linear, llama3)", cp, clean(b, type),
                    key);
}

static int read_config(const char *dir, model_hparams *hp) {
    char *cp = ev_path_join(dir, "config.json");
    char *gp = ev_path_join(dir, "generation_config.json");
    json_t *c = load_json(cp), *g = NULL;
    int rc = -1;
    const char *mt = NULL;
    if (!c || read_arch(cp, c, hp, &mt) != 0 || check_features(cp, c) != 0) goto out;
    if (get_int(cp, c, "hidden_size", 1, 0, 1, BIG, &hp->hidden) ||
        get_int(cp, c, "num_hidden_layers", 1, 0, 1, 4096, &hp->n_layers) ||
        get_int(cp, c, "num_attention_heads", 1, 0, 1, 4096, &hp->n_heads) ||
        get_int(cp, c, "num_key_value_heads", 0, hp->n_heads, 1, 4096, &hp->n_kv_heads) ||
        get_int(cp, c, "intermediate_size", 1, 0, 1, BIG, &hp->ffn) ||
        get_int(cp, c, "vocab_size", 1, 0, 1, BIG, &hp->vocab) ||
        get_int(cp, c, "max_position_embeddings", 1, 0, 1, BIG, &hp->context) ||
        get_pos(cp, c, "rms_norm_eps", 1, 0, &hp->rms_eps))
        goto out;
    if (!get(c, "head_dim") && hp->hidden % hp->n_heads != 0) {
        ev_error("%s: hidden_size %d is not a multiple of num_attention_heads %d (and head_dim is absent)", cp,
                 hp->hidden, hp->n_heads);
        goto out;
    }
    if (get_int(cp, c, "head_dim", 0, hp->hidden / hp->n_heads, 1, 1 << 16, &hp->head_dim)) goto out;
    if (hp->n_heads % hp->n_kv_heads != 0) {
        ev_error("%s: num_attention_heads %d is not a multiple of num_key_value_heads %d", cp, hp->n_heads,
                 hp->n_kv_heads);
        goto out;
    }
    hp->rope_dim = hp->head_dim;
    hp->rope_adjacent_pairs = 0;
    if (read_rope(cp, c, hp) != 0) goto out;
    /* LlamaConfig, MistralConfig and Qwen2Config all default to untied */
    if (get_bool(cp, c, "tie_word_embeddings", 0, &hp->tied_embeddings) != 0) goto out;
    if (get_int(cp, c, "bos_token_id", 0, -1, 0, hp->vocab - 1, &hp->bos_id) != 0) goto out;
    if (add_eos(cp, c, "eos_token_id", hp) != 0) goto out;

    /* generation_config.json lists the ids generation stops on (Llama 3 instruct
     * adds <|eot_id|> there): take the union */
    if (ev_is_file(gp)) {
        g = load_json(gp);
        if (!g || add_eos(gp, g, "eos_token_id", hp) != 0) goto out;
        if (hp->bos_id < 0 && get_int(gp, g, "bos_token_id", 0, -1, 0, hp->vocab - 1, &hp->bos_id) != 0) goto out;
    }
    rc = 0;
out:
    json_decref(c);
    json_decref(g);
    free(cp);
    free(gp);
    return rc;
}

/* ------------------------------------------------------------------ tensors */

/* Makes the next view onto the named tensor. Absent: NULL, or an error when
 * required; a dtype the compute layer cannot read is an error. */
static int take(model *m, const char *dir, const char *name, int required, const model_tensor **out) {
    *out = NULL;
    const st_tensor *t = st_find(m->st, name);
    if (!t) return required ? ev_error("%s: missing tensor %s", dir, name) : 0;
    if (t->type < 0) return ev_error("%s: tensor %s has unsupported dtype %s", t->file, name, t->dtype);
    model_tensor *d = &m->tensors[m->n_tensors++];
    d->name = t->name;
    d->type = t->type;
    d->n_dims = t->n_dims;
    memcpy(d->ne, t->ne, sizeof d->ne);
    d->data = t->data;
    d->nbytes = t->nbytes;
    *out = d;
    return 0;
}

static int take_layer(model *m, const char *dir, int l, const char *suffix, const model_tensor **out) {
    char name[128];
    snprintf(name, sizeof name, "model.layers.%d.%s", l, suffix);
    return take(m, dir, name, 1, out);
}

static void unload(model *m) {
    st_close(m->st);
    free(m->tensors);
    free(m->layers);
    free(m->dir);
    m->st = NULL;
    m->tensors = NULL;
    m->layers = NULL;
    m->dir = NULL;
    m->n_tensors = 0;
    m->tok_embd = m->out_norm = m->lm_head = NULL;
}

int model_load_hf(model *m, const char *dir) {
    model_hparams *hp = &m->hp;
    memset(hp, 0, sizeof *hp);
    if (read_config(dir, hp) != 0) return -1;
    m->format = "safetensors";
    m->dir = xstrdup(dir);
    m->st = st_open(dir);
    if (!m->st) {
        unload(m);
        return -1;
    }
    int bias = hp->arch == MODEL_QWEN2;
    size_t per_layer = 9 + (bias ? 3 : 0);
    m->tensors = xcalloc(3 + (size_t)hp->n_layers * per_layer, sizeof *m->tensors);
    m->layers = xcalloc((size_t)hp->n_layers, sizeof *m->layers);
    m->n_tensors = 0;

    if (take(m, dir, "model.embed_tokens.weight", 1, &m->tok_embd) ||
        take(m, dir, "model.norm.weight", 1, &m->out_norm))
        goto fail;
    /* a tied checkpoint may still store lm_head.weight; transformers ignores it */
    if (hp->tied_embeddings) m->lm_head = m->tok_embd;
    else if (take(m, dir, "lm_head.weight", 1, &m->lm_head)) goto fail;
    for (int l = 0; l < hp->n_layers; l++) {
        model_layer *L = &m->layers[l];
        if (take_layer(m, dir, l, "input_layernorm.weight", &L->attn_norm) ||
            take_layer(m, dir, l, "self_attn.q_proj.weight", &L->wq) ||
            take_layer(m, dir, l, "self_attn.k_proj.weight", &L->wk) ||
            take_layer(m, dir, l, "self_attn.v_proj.weight", &L->wv) ||
            take_layer(m, dir, l, "self_attn.o_proj.weight", &L->wo) ||
            (bias && (take_layer(m, dir, l, "self_attn.q_proj.bias", &L->bq) ||
                      take_layer(m, dir, l, "self_attn.k_proj.bias", &L->bk) ||
                      take_layer(m, dir, l, "self_attn.v_proj.bias", &L->bv))) ||
            take_layer(m, dir, l, "post_attention_layernorm.weight", &L->ffn_norm) ||
            take_layer(m, dir, l, "mlp.gate_proj.weight", &L->w_gate) ||
            take_layer(m, dir, l, "mlp.up_proj.weight", &L->w_up) ||
            take_layer(m, dir, l, "mlp.down_proj.weight", &L->w_down))
            goto fail;
    }
    return 0;
fail:
    unload(m);
    return -1;
}
