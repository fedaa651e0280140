/* test_model_hf.c - the Hugging Face directory loader.
 *
 * The tiny model directories and their expected hyperparameters come from
 * tools/gen_hf_fixtures.py, which reads every config back through transformers'
 * own AutoConfig/GenerationConfig. Broken and variant configs are made here: each
 * case copies a fixture into a temporary directory (weights by symlink), patches
 * its config.json, and expects the loader to accept it with given values or to
 * refuse it with exactly one error line saying why. */
#include "test.h"

#include "model.h"
#include "quant.h"
#include "util.h"

#include <dirent.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ loading */

/* What model_open does, minus validation, so that the loader is tested alone. */
static model *load(const char *dir, int *rc) {
    model *m = xcalloc(1, sizeof *m);
    m->path = xstrdup(dir);
    *rc = model_load_hf(m, dir);
    return m;
}

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int bytes_equal_hex(const void *p, const char *hex) {
    const unsigned char *b = p;
    for (size_t i = 0; hex[2 * i]; i++)
        if (((hexval(hex[2 * i]) << 4) | hexval(hex[2 * i + 1])) != b[i]) return 0;
    return 1;
}

static int type_of(const char *dtype) {
    return strcmp(dtype, "F32") == 0 ? QT_F32 : strcmp(dtype, "F16") == 0 ? QT_F16
           : strcmp(dtype, "BF16") == 0 ? QT_BF16 : -1;
}

/* The view the loader made for an HF tensor name, through the model's fields. */
static const model_tensor *view_of(const model *m, const char *name) {
    if (strcmp(name, "model.embed_tokens.weight") == 0) return m->tok_embd;
    if (strcmp(name, "model.norm.weight") == 0) return m->out_norm;
    if (strcmp(name, "lm_head.weight") == 0) return m->lm_head;
    if (strcmp(name, "model.layers.1.self_attn.k_proj.weight") == 0) return m->layers[1].wk;
    if (strcmp(name, "model.layers.0.self_attn.q_proj.bias") == 0) return m->layers[0].bq;
    if (strcmp(name, "model.layers.1.mlp.down_proj.weight") == 0) return m->layers[1].w_down;
    return NULL;
}

static void check_fixture(const char *name) {
    char dir[256], exp_path[256];
    snprintf(dir, sizeof dir, "tests/fixtures/hf/%s", name);
    snprintf(exp_path, sizeof exp_path, "tests/fixtures/hf/%s.expected.json", name);
    json_error_t err;
    json_t *e = json_load_file(exp_path, 0, &err);
    CHECK(e != NULL, "%s: %s", exp_path, err.text);
    if (!e) return;
    int rc;
    model *m = load(dir, &rc);
    CHECK(rc == 0, "%s did not load", dir);
    if (rc != 0) {
        model_close(m);
        json_decref(e);
        return;
    }
    const model_hparams *hp = &m->hp;
#define EI(key) json_integer_value(json_object_get(e, key))
#define ER(key) json_number_value(json_object_get(e, key))
    CHECK_EQ_STR(model_arch_name(hp->arch), json_string_value(json_object_get(e, "arch")));
    CHECK_EQ_INT(hp->n_layers, EI("n_layers"));
    CHECK_EQ_INT(hp->hidden, EI("hidden"));
    CHECK_EQ_INT(hp->n_heads, EI("n_heads"));
    CHECK_EQ_INT(hp->n_kv_heads, EI("n_kv_heads"));
    CHECK_EQ_INT(hp->head_dim, EI("head_dim"));
    CHECK_EQ_INT(hp->rope_dim, EI("head_dim"));
    CHECK_EQ_INT(hp->rope_adjacent_pairs, 0);
    CHECK_EQ_INT(hp->ffn, EI("ffn"));
    CHECK_EQ_INT(hp->vocab, EI("vocab"));
    CHECK_EQ_INT(hp->context, EI("context"));
    CHECK_NEAR(hp->rms_eps, ER("rms_eps"), 0, 1e-6);
    CHECK_NEAR(hp->rope_theta, ER("rope_theta"), 0, 1e-6);
    const json_t *rs = json_object_get(e, "rope_scaling");
    const char *kind = json_string_value(json_object_get(rs, "kind"));
    int want_kind = strcmp(kind, "llama3") == 0 ? ROPE_SCALE_LLAMA3 : strcmp(kind, "linear") == 0 ? ROPE_SCALE_LINEAR
                    : strcmp(kind, "none") == 0 ? ROPE_SCALE_NONE : -1;
    CHECK_EQ_INT(hp->rope_scaling.kind, want_kind);
    if (want_kind != ROPE_SCALE_NONE)
        CHECK_NEAR(hp->rope_scaling.factor, json_number_value(json_object_get(rs, "factor")), 0, 1e-6);
    if (want_kind == ROPE_SCALE_LLAMA3) {
        CHECK_NEAR(hp->rope_scaling.low_freq_factor, json_number_value(json_object_get(rs, "low_freq_factor")), 0,
                   1e-6);
        CHECK_NEAR(hp->rope_scaling.high_freq_factor, json_number_value(json_object_get(rs, "high_freq_factor")),
                   0, 1e-6);
        CHECK_EQ_INT(hp->rope_scaling.original_context, json_integer_value(json_object_get(rs, "original_context")));
    }
    int tied = json_is_true(json_object_get(e, "tied_embeddings"));
    CHECK_EQ_INT(hp->tied_embeddings, tied);
    CHECK((m->lm_head == m->tok_embd) == tied, "%s: lm_head shared iff tied", name);
    CHECK_EQ_INT(hp->bos_id, EI("bos_id"));
    const json_t *eos = json_object_get(e, "eos_ids");
    CHECK_EQ_INT(hp->n_eos, json_array_size(eos));
    for (int i = 0; i < hp->n_eos && i < (int)json_array_size(eos); i++)
        CHECK_EQ_INT(hp->eos_ids[i], json_integer_value(json_array_get(eos, (size_t)i)));

    CHECK_EQ_STR(m->format, "safetensors");
    CHECK(m->dir && strcmp(m->dir, dir) == 0, "dir");
    CHECK(m->st != NULL && m->gguf == NULL && m->rope_freqs == NULL, "handles");
    int biases = json_is_true(json_object_get(e, "biases"));
    for (int l = 0; l < hp->n_layers; l++) {
        const model_layer *L = &m->layers[l];
        CHECK(((L->bq != NULL) == biases) && ((L->bk != NULL) == biases) && ((L->bv != NULL) == biases),
              "%s layer %d biases", name, l);
        CHECK(L->attn_norm && L->wq && L->wk && L->wv && L->wo && L->ffn_norm && L->w_gate && L->w_up && L->w_down,
              "%s layer %d views", name, l);
    }
    CHECK_EQ_INT(m->n_tensors, 2 + !tied + hp->n_layers * (9 + 3 * biases));

    /* listed tensors: dtype, ggml-order shape, leading bytes as the package wrote them */
    const char *tn;
    json_t *te;
    json_object_foreach(json_object_get(e, "tensors"), tn, te) {
        const model_tensor *t = view_of(m, tn);
        if (tied && strcmp(tn, "lm_head.weight") == 0) continue;
        CHECK(t != NULL, "%s: no view for %s", name, tn);
        if (!t) continue;
        CHECK_EQ_STR(t->name, tn);
        CHECK_EQ_INT(t->type, type_of(json_string_value(json_object_get(te, "dtype"))));
        const json_t *shape = json_object_get(te, "shape");
        size_t nd = json_array_size(shape);
        CHECK_EQ_INT(t->n_dims, nd);
        CHECK_EQ_INT(t->ne[0], json_integer_value(json_array_get(shape, nd - 1)));
        if (nd == 2) CHECK_EQ_INT(t->ne[1], json_integer_value(json_array_get(shape, 0)));
        CHECK(bytes_equal_hex(t->data, json_string_value(json_object_get(te, "head_hex"))), "%s: %s bytes", name,
              tn);
    }

    /* the lead's validation accepts what the loader built, and counts as HF does */
    CHECK(model_validate(m) == 0, "%s: model_validate failed", name);
    CHECK_EQ_INT(m->n_params, EI("n_params"));
    model_close(m);

    m = model_open(dir);
    CHECK(m != NULL, "model_open(%s)", dir);
    if (m) {
        FILE *null = fopen("/dev/null", "w");
        if (null) model_print_info(m, null);
        if (null) fclose(null);
    }
    model_close(m);
    json_decref(e);
#undef EI
#undef ER
}

/* ---------------------------------------------------------- variant configs */

static char tmp_root[64];

/* Copies fixture `base` into a fresh temporary directory: weights and index by
 * symlink; config.json patched (patch: a JSON object whose keys replace the
 * base's, "DEL" deleting one), or `raw` written verbatim, or none when raw is
 * "-"; generation_config.json kept when gen is NULL, left out when "-", else
 * written from gen. weights == 0 leaves the weights out. */
static char *variant(const char *base, const char *patch, const char *raw, const char *gen, int weights) {
    static int n;
    char *dir = xmalloc(PATH_MAX);
    snprintf(dir, PATH_MAX, "%s/v%d", tmp_root, n++);
    if (mkdir(dir, 0700) != 0) ev_fatal("%s: cannot create", dir);
    char src[PATH_MAX], abs_src[PATH_MAX];
    snprintf(src, sizeof src, "tests/fixtures/hf/%s", base);
    if (!realpath(src, abs_src)) ev_fatal("%s: missing fixture", src);
    DIR *d = opendir(abs_src);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        const char *f = de->d_name;
        if (f[0] == '.' || strcmp(f, "config.json") == 0) continue;
        if (strcmp(f, "generation_config.json") == 0 && gen) continue;
        if (!weights && strcmp(f, "generation_config.json") != 0) continue;
        char *from = ev_path_join(abs_src, f), *to = ev_path_join(dir, f);
        if (symlink(from, to) != 0) ev_fatal("%s: cannot link", to);
        free(from);
        free(to);
    }
    if (d) closedir(d);

    char *cpath = ev_path_join(dir, "config.json");
    if (raw && strcmp(raw, "-") != 0) {
        FILE *f = fopen(cpath, "w");
        fputs(raw, f);
        fclose(f);
    } else if (!raw) {
        char *bpath = ev_path_join(abs_src, "config.json");
        json_t *c = json_load_file(bpath, 0, NULL);
        json_error_t err;
        json_t *p = json_loads(patch ? patch : "{}", 0, &err);
        if (!c || !p) ev_fatal("bad patch %s: %s", patch, err.text);
        const char *k;
        json_t *v;
        json_object_foreach(p, k, v) {
            if (json_is_string(v) && strcmp(json_string_value(v), "DEL") == 0) json_object_del(c, k);
            else json_object_set(c, k, v);
        }
        json_dump_file(c, cpath, JSON_INDENT(2));
        json_decref(c);
        json_decref(p);
        free(bpath);
    }
    free(cpath);
    if (gen && strcmp(gen, "-") != 0) {
        char *gpath = ev_path_join(dir, "generation_config.json");
        FILE *f = fopen(gpath, "w");
        fputs(gen, f);
        fclose(f);
        free(gpath);
    }
    return dir;
}

static void remove_dir(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        char *p = ev_path_join(dir, de->d_name);
        unlink(p);
        free(p);
    }
    if (d) closedir(d);
    rmdir(dir);
}

typedef struct {
    const char *base, *patch, *raw, *gen;
    const char *says; /* in the one error line */
} bad_case;

static const bad_case bad_cases[] = {
    {"tiny-llama3", NULL, "-", NULL, "config.json"},
    {"tiny-llama3", NULL, "{\"hidden_size\": 64,", NULL, "not valid JSON"},
    {"tiny-llama3", NULL, "[1, 2]", NULL, "not a JSON object"},
    {"tiny-llama3", NULL, "{\"a\": 1, \"a\": 2}", NULL, "duplicate"},
    {"tiny-llama3", "{\"architectures\": [\"GPT2LMHeadModel\"]}", NULL, NULL, "'GPT2LMHeadModel'"},
    {"tiny-llama3", "{\"architectures\": \"LlamaForCausalLM\"}", NULL, NULL, "architectures"},
    {"tiny-llama3", "{\"architectures\": [\"Evil\\nLine\"]}", NULL, NULL, "'Evil?Line'"},
    {"tiny-llama3", "{\"architectures\": []}", NULL, NULL, "architectures"},
    {"tiny-llama3", "{\"architectures\": \"DEL\", \"model_type\": \"gpt2\"}", NULL, NULL, "'gpt2'"},
    {"tiny-llama3", "{\"architectures\": \"DEL\", \"model_type\": \"DEL\"}", NULL, NULL, "architectures"},
    {"tiny-llama3", "{\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}}", NULL, NULL, "'yarn'"},
    {"tiny-llama3", "{\"rope_scaling\": {\"type\": \"dynamic\", \"factor\": 2.0}}", NULL, NULL, "'dynamic'"},
    {"tiny-llama3", "{\"rope_scaling\": {\"factor\": 2.0}}", NULL, NULL, "rope_type"},
    {"tiny-llama3", "{\"rope_scaling\": [1]}", NULL, NULL, "rope_scaling is not an object"},
    {"tiny-llama3", "{\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, \"high_freq_factor\": 4.0, "
                    "\"original_max_position_embeddings\": 64}}", NULL, NULL, "low_freq_factor"},
    {"tiny-llama3", "{\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 4.0, "
                    "\"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 64}}", NULL, NULL,
     "out of range"},
    {"tiny-llama3", "{\"rope_scaling\": {\"rope_type\": \"linear\"}}", NULL, NULL, "factor"},
    {"tiny-llama3", "{\"rope_scaling\": {\"rope_type\": 3}}", NULL, NULL, "rope_type"},
    {"tiny-qwen2", "{\"rope_parameters\": {\"rope_type\": \"yarn\", \"rope_theta\": 1e4, \"factor\": 4.0}}", NULL,
     NULL, "'yarn'"},
    {"tiny-qwen2", "{\"rope_parameters\": {\"full_attention\": {\"rope_type\": \"default\"}}}", NULL, NULL,
     "per-layer"},
    {"tiny-qwen2", "{\"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": -1}}", NULL, NULL,
     "rope_theta"},
    {"tiny-llama3", "{\"rope_theta\": \"big\"}", NULL, NULL, "rope_theta"},
    {"tiny-llama3", "{\"hidden_size\": \"DEL\"}", NULL, NULL, "missing key hidden_size"},
    {"tiny-llama3", "{\"hidden_size\": \"64\"}", NULL, NULL, "hidden_size is not an integer"},
    {"tiny-llama3", "{\"hidden_size\": 64.0}", NULL, NULL, "hidden_size"},
    {"tiny-llama3", "{\"hidden_size\": 0}", NULL, NULL, "hidden_size = 0"},
    {"tiny-llama3", "{\"num_hidden_layers\": -2}", NULL, NULL, "num_hidden_layers"},
    {"tiny-llama3", "{\"num_attention_heads\": \"DEL\"}", NULL, NULL, "num_attention_heads"},
    {"tiny-llama3", "{\"intermediate_size\": \"DEL\"}", NULL, NULL, "intermediate_size"},
    {"tiny-llama3", "{\"vocab_size\": 99999999999}", NULL, NULL, "vocab_size"},
    {"tiny-llama3", "{\"max_position_embeddings\": \"DEL\"}", NULL, NULL, "max_position_embeddings"},
    {"tiny-llama3", "{\"num_key_value_heads\": 3}", NULL, NULL, "num_key_value_heads 3"},
    {"tiny-llama3", "{\"num_key_value_heads\": 0}", NULL, NULL, "num_key_value_heads"},
    {"tiny-llama3", "{\"head_dim\": \"DEL\", \"num_attention_heads\": 3}", NULL, NULL, "head_dim is absent"},
    {"tiny-llama3", "{\"head_dim\": -16}", NULL, NULL, "head_dim"},
    {"tiny-llama3", "{\"rms_norm_eps\": \"DEL\"}", NULL, NULL, "rms_norm_eps"},
    {"tiny-llama3", "{\"rms_norm_eps\": -1e-5}", NULL, NULL, "rms_norm_eps"},
    {"tiny-llama3", "{\"tie_word_embeddings\": false}", NULL, NULL, "missing tensor lm_head.weight"},
    /* transformers' LlamaConfig default is untied: absent means lm_head.weight is needed */
    {"tiny-llama3", "{\"tie_word_embeddings\": \"DEL\"}", NULL, NULL, "missing tensor lm_head.weight"},
    {"tiny-llama3", "{\"tie_word_embeddings\": 1}", NULL, NULL, "tie_word_embeddings"},
    {"tiny-llama3", "{\"eos_token_id\": \"2\"}", NULL, NULL, "eos_token_id"},
    {"tiny-llama3", "{\"eos_token_id\": 256}", NULL, NULL, "eos_token_id 256"},
    {"tiny-llama3", "{\"eos_token_id\": [1, 2, 3, 4, 5, 6, 7, 8, 9]}", NULL, "-", "more than"},
    {"tiny-llama3", "{\"bos_token_id\": -5}", NULL, NULL, "bos_token_id"},
    {"tiny-llama3", NULL, NULL, "{\"eos_token_id\": ", "generation_config.json: not valid JSON"},
    {"tiny-llama3", NULL, NULL, "{\"eos_token_id\": [1.5]}", "generation_config.json: eos_token_id"},
    {"tiny-llama3", NULL, NULL, "[]", "generation_config.json: not a JSON object"},
    {"tiny-qwen2", "{\"use_sliding_window\": true, \"sliding_window\": 16}", NULL, NULL, "use_sliding_window"},
    {"tiny-qwen2", "{\"layer_types\": [\"full_attention\", \"sliding_attention\"]}", NULL, NULL, "layer_types[1]"},
    {"tiny-llama3", "{\"hidden_act\": \"gelu\"}", NULL, NULL, "hidden_act"},
    {"tiny-llama3", "{\"attention_bias\": true}", NULL, NULL, "attention_bias"},
    {"tiny-llama3", "{\"mlp_bias\": true}", NULL, NULL, "mlp_bias"},
};

static void expect_fail(const char *dir, const char *says) {
    test_capture_begin();
    int rc;
    model *m = load(dir, &rc);
    char *err = test_capture_end();
    CHECK(rc == -1, "%s loaded (expected: %s)", dir, says);
    CHECK(test_count_lines(err) == 1 && strncmp(err, "evalctl: ", 9) == 0, "%s: want one error line, got: %s", dir, err);
    CHECK(strstr(err, says) != NULL, "%s: error does not say '%s': %s", dir, says, err);
    /* a failed load leaves nothing behind for model_close to trip on */
    CHECK(m->st == NULL && m->tensors == NULL && m->layers == NULL && m->dir == NULL, "%s: leftovers", dir);
    model_close(m);
    free(err);
}

static void test_bad_configs(void) {
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case *c = &bad_cases[i];
        char *dir = variant(c->base, c->patch, c->raw, c->gen, 1);
        expect_fail(dir, c->says);
        remove_dir(dir);
        free(dir);
    }
    char *dir = variant("tiny-llama3", NULL, NULL, NULL, 0);
    expect_fail(dir, "no model.safetensors");
    remove_dir(dir);
    free(dir);
    expect_fail("tests/fixtures/hf/does-not-exist", "config.json");
    expect_fail("tests/fixtures/hf/bad-i64-weight", "model.norm.weight has unsupported dtype I64");
    expect_fail("tests/fixtures/hf/bad-f8-weight", "q_proj.weight has unsupported dtype F8_E4M3");
    expect_fail("tests/fixtures/hf/bad-missing-tensor", "missing tensor model.layers.0.mlp.up_proj.weight");
}

/* Loads a variant that must succeed; the caller checks and closes. */
static model *load_ok(const char *base, const char *patch, const char *gen, char **dir) {
    *dir = variant(base, patch, NULL, gen, 1);
    int rc;
    model *m = load(*dir, &rc);
    CHECK(rc == 0, "%s (%s) did not load", base, patch ? patch : "");
    return m;
}

static void done(model *m, char *dir) {
    model_close(m);
    remove_dir(dir);
    free(dir);
}

static void test_variants(void) {
    char *dir;
    model *m;

    m = load_ok("tiny-llama3", "{\"architectures\": \"DEL\", \"model_type\": \"mistral\"}", NULL, &dir);
    CHECK_EQ_INT(m->hp.arch, MODEL_LLAMA);
    done(m, dir);
    m = load_ok("tiny-qwen2", "{\"architectures\": \"DEL\"}", NULL, &dir);
    CHECK_EQ_INT(m->hp.arch, MODEL_QWEN2);
    CHECK(m->layers && m->layers[0].bq != NULL, "qwen2 by model_type has biases");
    done(m, dir);
    /* the first known class wins over unknown ones */
    m = load_ok("tiny-llama3", "{\"architectures\": [\"Foo\", \"MistralForCausalLM\"]}", NULL, &dir);
    CHECK_EQ_INT(m->hp.arch, MODEL_LLAMA);
    done(m, dir);

    /* rope defaults and the two config dialects */
    m = load_ok("tiny-llama3", "{\"rope_scaling\": null, \"rope_theta\": \"DEL\"}", NULL, &dir);
    CHECK_EQ_INT(m->hp.rope_scaling.kind, ROPE_SCALE_NONE);
    CHECK_NEAR(m->hp.rope_theta, 10000.0, 0, 0);
    done(m, dir);
    m = load_ok("tiny-llama3", "{\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.5}, \"rope_theta\": 1e6}",
                NULL, &dir);
    CHECK_EQ_INT(m->hp.rope_scaling.kind, ROPE_SCALE_LINEAR);
    CHECK_NEAR(m->hp.rope_scaling.factor, 2.5, 0, 0);
    CHECK_NEAR(m->hp.rope_theta, 1e6, 0, 0);
    done(m, dir);
    m = load_ok("tiny-llama3", "{\"rope_scaling\": {\"rope_type\": \"default\"}}", NULL, &dir);
    CHECK_EQ_INT(m->hp.rope_scaling.kind, ROPE_SCALE_NONE);
    CHECK_NEAR(m->hp.rope_theta, 500000.0, 0, 0);
    done(m, dir);
    m = load_ok("tiny-llama3", "{\"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 123.0}, "
                "\"rope_scaling\": {\"rope_type\": \"yarn\"}}", NULL, &dir);
    CHECK_EQ_INT(m->hp.rope_scaling.kind, ROPE_SCALE_NONE);
    CHECK_NEAR(m->hp.rope_theta, 123.0, 0, 1e-7);
    done(m, dir);
    m = load_ok("tiny-qwen2", "{\"rope_parameters\": {\"rope_type\": \"llama3\", \"rope_theta\": 5e5, \"factor\": 32, "
                "\"low_freq_factor\": 1, \"high_freq_factor\": 4, \"original_max_position_embeddings\": 8192}}", NULL,
                &dir);
    CHECK_EQ_INT(m->hp.rope_scaling.kind, ROPE_SCALE_LLAMA3);
    CHECK_NEAR(m->hp.rope_scaling.factor, 32, 0, 0);
    CHECK_EQ_INT(m->hp.rope_scaling.original_context, 8192);
    CHECK_NEAR(m->hp.rope_theta, 5e5, 0, 0);
    done(m, dir);
    /* rope_parameters without rope_theta: the top-level one, else 10000 */
    m = load_ok("tiny-qwen2", "{\"rope_parameters\": {\"rope_type\": \"default\"}, \"rope_theta\": 77}", NULL, &dir);
    CHECK_NEAR(m->hp.rope_theta, 77, 0, 0);
    done(m, dir);

    /* defaults: kv heads = heads (then the weights no longer fit), head_dim = hidden/heads */
    m = load_ok("tiny-llama3", "{\"num_key_value_heads\": \"DEL\"}", NULL, &dir);
    CHECK_EQ_INT(m->hp.n_kv_heads, 4);
    test_capture_begin();
    int vrc = model_validate(m);
    char *err = test_capture_end();
    CHECK(vrc == -1 && strstr(err, "k_proj") != NULL, "validate should refuse k_proj: %s", err);
    free(err);
    done(m, dir);
    m = load_ok("tiny-llama3", "{\"head_dim\": null}", NULL, &dir);
    CHECK_EQ_INT(m->hp.head_dim, 16);
    CHECK(model_validate(m) == 0, "head_dim default");
    done(m, dir);
    m = load_ok("tiny-mistral", "{\"head_dim\": \"DEL\"}", NULL, &dir);
    CHECK_EQ_INT(m->hp.head_dim, 16); /* 64 / 4, no longer the weights' 32 */
    done(m, dir);

    /* eos: config and generation_config united, in order, without repeats */
    m = load_ok("tiny-llama3", "{\"eos_token_id\": null}", "-", &dir);
    CHECK_EQ_INT(m->hp.n_eos, 0);
    done(m, dir);
    m = load_ok("tiny-llama3", NULL, "{\"eos_token_id\": 7, \"bos_token_id\": 9}", &dir);
    CHECK(m->hp.n_eos == 3 && m->hp.eos_ids[0] == 251 && m->hp.eos_ids[1] == 252 && m->hp.eos_ids[2] == 7, "eos");
    CHECK_EQ_INT(m->hp.bos_id, 250); /* config's bos stands */
    done(m, dir);
    m = load_ok("tiny-llama3", "{\"bos_token_id\": null, \"eos_token_id\": 251}",
                "{\"eos_token_id\": [251, 251, 3], \"bos_token_id\": 9}", &dir);
    CHECK(m->hp.n_eos == 2 && m->hp.eos_ids[0] == 251 && m->hp.eos_ids[1] == 3, "eos dedup");
    CHECK_EQ_INT(m->hp.bos_id, 9);
    done(m, dir);
    m = load_ok("tiny-llama3", "{\"bos_token_id\": \"DEL\"}", "-", &dir);
    CHECK_EQ_INT(m->hp.bos_id, -1);
    done(m, dir);

    /* tied although the checkpoint stores lm_head.weight: transformers ties */
    m = load_ok("tiny-qwen2", "{\"tie_word_embeddings\": true}", NULL, &dir);
    CHECK(m->lm_head == m->tok_embd && m->hp.tied_embeddings, "tied qwen2");
    CHECK_EQ_INT(m->n_tensors, 2 + 2 * 12);
    done(m, dir);
    /* Mistral v0.1 style sliding window without a switch: loaded as full attention */
    m = load_ok("tiny-mistral", "{\"sliding_window\": 4096}", NULL, &dir);
    done(m, dir);
    m = load_ok("tiny-qwen2", "{\"use_sliding_window\": true, \"sliding_window\": null}", NULL, &dir);
    done(m, dir);
    m = load_ok("tiny-qwen2", "{\"use_sliding_window\": false, \"sliding_window\": 4096}", NULL, &dir);
    done(m, dir);
}

int main(void) {
    check_fixture("tiny-llama3");
    check_fixture("tiny-qwen2");
    check_fixture("tiny-mistral");

    snprintf(tmp_root, sizeof tmp_root, "/tmp/evalctl-test-hf-XXXXXX");
    if (!mkdtemp(tmp_root)) ev_fatal("cannot create a temporary directory");
    test_bad_configs();
    test_variants();
    rmdir(tmp_root);
    return test_done("model_hf");
}
