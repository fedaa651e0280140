/* backend.c - the CPU and CUDA forward passes behind backend.h. The greedy
 * loop and scoring are written once here over backend_eval, so the two
 * backends differ only in how a chunk of tokens goes through the model. */
#include "backend.h"

#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef EV_CUDA
#include "cuda_device.h"
#include "cuda_forward.h"
#endif

struct backend {
    const model *m;
    int is_cuda, n_ctx, chunk;
    char desc[160];
    /* cpu */
    fwd_ctx *f;
    attn_ctx *attn;
    /* cuda */
#ifdef EV_CUDA
    cuda_fwd *g;
#endif
    float *logits; /* [vocab] */
};

#ifdef EV_CUDA
/* "gpu: NAME" out of cuda_describe's lines */
static void gpu_name(char *out, size_t n) {
    char buf[1024];
    snprintf(out, n, "GPU");
    if (cuda_describe(buf, sizeof buf) != 0) return;
    char *p = strstr(buf, "gpu: ");
    if (!p) return;
    p += 5;
    size_t k = strcspn(p, "\n");
    snprintf(out, n, "%.*s", (int)k, p);
}
#endif

backend *backend_new(const model *m, const char *kind, int n_ctx, int n_threads, int chunk) {
    int want_cuda;
    if (!strcmp(kind, "cpu")) {
        want_cuda = 0;
    } else if (!strcmp(kind, "cuda")) {
        want_cuda = 1;
    } else if (!strcmp(kind, "auto")) {
#ifdef EV_CUDA
        char buf[1024];
        want_cuda = cuda_describe(buf, sizeof buf) == 0;
#else
        want_cuda = 0;
#endif
    } else {
        return ev_error("backend '%s': not cpu, cuda or auto", kind), NULL;
    }
#ifndef EV_CUDA
    if (want_cuda)
        return ev_error("backend cuda: this evalctl was built without CUDA (no nvcc at build time, or CUDA=0)"), NULL;
#endif
    backend *b = xcalloc(1, sizeof *b);
    b->m = m;
    b->n_ctx = n_ctx;
    b->is_cuda = want_cuda;
    b->logits = xmalloc(sizeof(float) * (size_t)m->hp.vocab);
    if (!want_cuda) {
        b->chunk = chunk > 0 ? chunk : 512;
        if (!(b->f = fwd_new(m, n_ctx, n_threads))) goto fail;
        snprintf(b->desc, sizeof b->desc, "cpu, %d threads", par_threads(fwd_pool(b->f)));
        return b;
    }
#ifdef EV_CUDA
    char buf[1024];
    if (cuda_describe(buf, sizeof buf) != 0) {
        ev_error("backend cuda: %s", buf);
        goto fail;
    }
    b->chunk = chunk > 0 ? chunk : 4096;
    if (!(b->g = cuda_fwd_new(m, n_ctx, b->chunk, 0))) goto fail;
    char name[128];
    gpu_name(name, sizeof name);
    snprintf(b->desc, sizeof b->desc, "cuda, %s", name);
    return b;
#endif
fail:
    backend_free(b);
    return NULL;
}

void backend_free(backend *b) {
    if (!b) return;
    attn_free(b->attn);
    fwd_free(b->f);
#ifdef EV_CUDA
    cuda_fwd_free(b->g);
#endif
    free(b->logits);
    free(b);
}

const char *backend_name(const backend *b) { return b->is_cuda ? "cuda" : "cpu"; }
const char *backend_describe(const backend *b) { return b->desc; }
int backend_n_ctx(const backend *b) { return b->n_ctx; }
fwd_ctx *backend_cpu(backend *b) { return b->f; }

void backend_set_attn_hook(backend *b, fwd_attn_fn fn, void *ud) {
#ifdef EV_CUDA
    if (b->is_cuda) {
        cuda_fwd_set_attn_hook(b->g, fn, ud);
        return;
    }
#endif
    fwd_set_attn_hook(b->f, fn, ud);
}

int backend_n_past(const backend *b) {
#ifdef EV_CUDA
    if (b->is_cuda) return cuda_fwd_n_past(b->g);
#endif
    return fwd_n_past(b->f);
}

int backend_begin(backend *b, const attn_variant *v, int prompt_len) {
#ifdef EV_CUDA
    if (b->is_cuda) return cuda_fwd_begin(b->g, v, prompt_len);
#endif
    const model_hparams *hp = &b->m->hp;
    attn_free(b->attn);
    b->attn = attn_new(v, hp->n_layers, hp->n_heads, hp->n_kv_heads, hp->head_dim, prompt_len);
    if (!b->attn) return -1;
    fwd_reset(b->f);
    return 0;
}

int backend_eval(backend *b, const int32_t *ids, int n, float *logits_last) {
#ifdef EV_CUDA
    if (b->is_cuda) return cuda_fwd_eval(b->g, ids, n, logits_last, NULL);
#endif
    if (!b->attn) return ev_error("%s: backend_eval before backend_begin", b->m->path);
    return fwd_prefill(b->f, ids, n, b->chunk, b->attn, logits_last);
}

int backend_generate(backend *b, const attn_variant *v, const int32_t *prompt, int n_prompt, int max_new,
                     int32_t *out, fwd_token_fn on_token, void *ud) {
    const model_hparams *hp = &b->m->hp;
    if (max_new < 0) max_new = 0;
    if (backend_begin(b, v, n_prompt) != 0 || backend_eval(b, prompt, n_prompt, b->logits) != 0) return -1;
    int n = 0;
    while (n < max_new) {
        int32_t id = fwd_argmax(b->logits, hp->vocab);
        out[n++] = id;
        if (on_token) on_token(ud, id);
        if (model_is_eos(hp, id) || n == max_new || backend_n_past(b) >= b->n_ctx) break;
        if (backend_eval(b, &id, 1, b->logits) != 0) return -1;
    }
    return n;
}

int backend_score(backend *b, const attn_variant *v, const int32_t *ids, int n, double *nll_sum, double *each) {
    if (backend_begin(b, v, n) != 0) return -1;
#ifdef EV_CUDA
    if (b->is_cuda) {
        if (n < 2) return ev_error("%s: nothing to score (%d tokens)", b->m->path, n);
        double *nll = each ? each : xmalloc(sizeof(double) * (size_t)(n - 1));
        int rc = cuda_fwd_eval(b->g, ids, n, NULL, nll);
        double s = 0;
        for (int i = 0; rc == 0 && i < n - 1; i++) s += nll[i];
        if (nll != each) free(nll);
        if (rc != 0) return -1;
        *nll_sum = s;
        return n - 1;
    }
#endif
    return fwd_score(b->f, b->attn, ids, n, b->chunk, nll_sum, each);
}
