/* model.h - the one in-memory description of a decoder model, whichever file it
 * came from (a GGUF file or a Hugging Face directory of safetensors).
 *
 * Later code (tokenizer set-up, forward pass, CUDA upload) reads only this: the
 * hyperparameters and one borrowed view per weight tensor. Tensor data stays in
 * the file mapping, in the file's own element type; the compute layer decides how
 * to dequantise it (see quant.h).
 *
 * Q/K layout, held in this one place: llama.cpp's converter permutes the rows of
 * the Q and K projections of `llama` models so that each rotary pair is two
 * adjacent dimensions (2i, 2i+1); Hugging Face keeps the pairs half a head apart
 * (i, i + head_dim/2). hp.rope_adjacent_pairs says which the weights use, and RoPE
 * must rotate those pairs. Attention scores are unchanged by the permutation
 * (it permutes q and k alike), so only RoPE needs to know. */
#ifndef EV_MODEL_H
#define EV_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum { MODEL_LLAMA = 0, MODEL_QWEN2 = 1 } model_arch;

typedef enum {
    ROPE_SCALE_NONE = 0,
    ROPE_SCALE_LINEAR = 1,   /* positions divided by factor */
    ROPE_SCALE_LLAMA3 = 2,   /* Llama 3.1 frequency-dependent scaling */
} rope_scale_kind;

#define MODEL_MAX_EOS 8

typedef struct {
    model_arch arch;
    int n_layers;
    int hidden;          /* d_model */
    int n_heads;
    int n_kv_heads;
    int head_dim;
    int ffn;             /* intermediate size */
    int vocab;
    int context;         /* max_position_embeddings / context_length */
    float rms_eps;
    float rope_theta;
    int rope_dim;        /* rotated dims per head (== head_dim for supported models) */
    int rope_adjacent_pairs; /* 1: pairs (2i,2i+1) (GGUF llama); 0: (i, i+rope_dim/2) */
    struct {
        rope_scale_kind kind;
        float factor;
        float low_freq_factor, high_freq_factor; /* llama3 */
        int original_context;                     /* llama3 */
    } rope_scaling;
    int tied_embeddings;  /* lm_head shares token_embd */
    int bos_id;           /* -1 when unknown */
    int n_eos;
    int eos_ids[MODEL_MAX_EOS]; /* every id that ends generation */
} model_hparams;

/* A borrowed view of one weight: 2-D [ne1 rows][ne0 cols] or 1-D [ne0]. */
typedef struct {
    const char *name;    /* the file's own tensor name */
    int type;            /* qt_type */
    int n_dims;
    int64_t ne[4];
    const void *data;    /* valid until model_close */
    size_t nbytes;
} model_tensor;

typedef struct {
    const model_tensor *attn_norm;           /* [hidden] */
    const model_tensor *wq, *wk, *wv, *wo;   /* [heads*hd][hidden], [kv*hd][hidden] x2, [hidden][heads*hd] */
    const model_tensor *bq, *bk, *bv;        /* qwen2 biases, NULL for llama */
    const model_tensor *ffn_norm;            /* [hidden] */
    const model_tensor *w_gate, *w_up;       /* [ffn][hidden] */
    const model_tensor *w_down;              /* [hidden][ffn] */
} model_layer;

typedef struct gguf_ctx gguf_ctx;
typedef struct st_set st_set;

typedef struct model {
    model_hparams hp;
    char *path;               /* as given */
    const char *format;       /* "gguf" or "safetensors" */
    const model_tensor *tok_embd;  /* [vocab][hidden] */
    const model_tensor *out_norm;  /* [hidden] */
    const model_tensor *lm_head;   /* [vocab][hidden]; == tok_embd when tied */
    const model_tensor *rope_freqs; /* [rope_dim/2] or NULL: GGUF Llama 3.1 files carry the
                                       llama3 rope scaling as per-frequency divisors here
                                       instead of metadata; RoPE divides each frequency by it */
    model_layer *layers;           /* [n_layers] */
    int64_t n_params;
    /* the format handles the views point into; tokenizer set-up reads them too */
    gguf_ctx *gguf;           /* GGUF only */
    st_set *st;               /* safetensors only */
    char *dir;                /* HF directory (tokenizer.json, tokenizer_config.json ...) */
    /* private */
    model_tensor *tensors;
    int n_tensors;
} model;

/* path: a .gguf file (first shard of a split model) or an HF directory. Returns
 * NULL after one error line naming the file and the problem: unknown
 * architecture, missing or misshaped tensor, unsupported element type... */
model *model_open(const char *path);
void model_close(model *m); /* NULL-safe */

/* A model of a known architecture's shape with no weights behind it (every
 * tensor's data is NULL): "llama-3.1-8b", "llama-3.2-1b", "smollm2-135m". Only
 * for benchmarks that fill weights with random values on the GPU
 * (cuda_fwd_new's random_seed). NULL after one error line for an unknown name. */
model *model_shape(const char *name);

/* Loader halves, one per format (model_gguf.c, model_hf.c); model_open picks. */
int model_load_gguf(model *m, const char *path);
int model_load_hf(model *m, const char *dir);

/* Shared by both loaders: checks every tensor's shape and type against hp,
 * counts parameters. Returns 0 or -1 after one error line. */
int model_validate(model *m);

/* Dequantises row r of a 2-D tensor (or the whole of a 1-D one when r == 0)
 * into dst[ne0]. */
void model_tensor_row(const model_tensor *t, int64_t r, float *dst);

/* 1 when id is one of hp's end-of-generation ids. */
int model_is_eos(const model_hparams *hp, int32_t id);

/* RoPE's inverse frequencies inv_freq[rope_dim/2] with the model's scaling
 * (none, linear, llama3, GGUF rope_freqs divisors), computed in fp32 exactly as
 * transformers does: the CPU forward pass and the CUDA one share this table. */
void model_rope_inv_freq(const model *m, float *inv_freq);

const char *model_arch_name(model_arch a);
/* Prints the `key: value` lines of `evalctl info`. */
void model_print_info(const model *m, FILE *f);

#endif
