/* cmd_bench.c - `evalctl bench`: CPU speed figures that the issues' targets are
 * checked against (never timed unit tests).
 *
 *   bench tokenize  tokens/s of one-core encoding of a long text
 *   bench prefill   prefill tokens/s at a context length, and peak memory
 *   bench decode    decode tokens/s after a prefill of a context length
 *   bench attn      one attention layer's prefill time per variant, and the
 *                   fraction of the causal score matrix it computes; with
 *                   --backend cuda the GPU kernels (kernels/attn.cu) up to 1M
 *                   tokens, or one decode step with --rows 1
 *   bench all       the default set on the default model (make bench)
 *
 * Prefill and decode use fixed pseudo-random token ids, so no text is needed and
 * two runs do the same work. */
#include "attention.h"
#include "cli.h"
#include "forward.h"
#include "model.h"
#include "parallel.h"
#include "tokenizer.h"
#include "util.h"
#ifdef EV_CUDA
#include "attn.h"
#include "cuda_device.h"
#include "cuda_forward.h"
#endif

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define DEFAULT_MODEL "models/smollm2-135m-instruct.gguf"
/* The default text: the King James Bible, public domain, made from Debian's
 * bible-kjv package by `make data` (tools/make-texts.sh). */
#define BENCH_TEXT "data/texts/kjv.txt"

static const char usage[] =
    "usage: evalctl bench tokenize [--model PATH] [--file F] [--repeat N]\n"
    "       evalctl bench prefill  [--model PATH] [--len L] [-t N] [--chunk N] [--variant V --attn K=V ...]\n"
    "                              [--backend cpu|cuda] [--shape NAME --random-weights]\n"
    "       evalctl bench decode   [--model PATH] [--len L] [--n N] [-t N] [--backend cpu|cuda]\n"
    "       evalctl bench attn     [--variant V --attn K=V ...] [--len L] [--heads H] [--kv-heads K]\n"
    "                              [--head-dim D] [-t N] [--backend cpu|cuda]\n"
    "                              cuda: [--rows N] [--runs N] [--warmup N] [--tile 64|128] [--kernel mma|wgmma]\n"
    "       evalctl bench all      [--model PATH] [-t N]\n"
    "\n"
    "--model defaults to " DEFAULT_MODEL "; --file to " BENCH_TEXT " (make data);\n"
    "--shape llama-3.1-8b|llama-3.2-1b|smollm2-135m --random-weights (cuda): a model's shape with\n"
    "seeded random weights, no file needed.\n"
    "each measurement prints one block of `key: value` lines.\n";

static long peak_rss_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

static uint64_t rng_next(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

static int32_t *random_ids(int n, int vocab) {
    uint64_t s = 42;
    int32_t *ids = xmalloc((size_t)n * sizeof *ids);
    for (int i = 0; i < n; i++) ids[i] = (int32_t)(rng_next(&s) % (uint64_t)vocab);
    return ids;
}

/* ------------------------------------------------------------------ tokenize */


static int bench_tokenize(const char *mpath, const char *file, long repeat) {
    size_t len;
    char *one = ev_read_file(file ? file : BENCH_TEXT, &len);
    if (!one) return 1;
    size_t total = len * (size_t)repeat;
    char *text = xmalloc(total + 1);
    for (long r = 0; r < repeat; r++) memcpy(text + (size_t)r * len, one, len);
    text[total] = '\0';
    free(one);
    tok_tokenizer *t = tok_open_path(mpath);
    if (!t) {
        free(text);
        return 1;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    double t0 = ev_now();
    int rc = tok_encode(t, text, total, 1, &ids, &n);
    double dt = ev_now() - t0;
    if (rc == 0)
        printf("bench: tokenize\nmodel: %s\nbytes: %zu\ntokens: %zu\nseconds: %.4f\ntokens_per_s: %.0f\n"
               "threads: 1\n\n", mpath, total, n, dt, (double)n / dt);
    free(ids);
    free(text);
    tok_free(t);
    return rc ? 1 : 0;
}

/* --------------------------------------------------------- prefill / decode */

static int bench_model(const char *mpath, int len, int n_decode, long threads, long chunk, const attn_variant *var) {
    model *m = model_open(mpath);
    if (!m) return 1;
    if (len + n_decode > m->hp.context) {
        ev_error("bench: %d tokens exceed the model's context of %d", len + n_decode, m->hp.context);
        model_close(m);
        return 1;
    }
    int rc = 1;
    int32_t *ids = random_ids(len + n_decode, m->hp.vocab);
    fwd_ctx *f = fwd_new(m, len + n_decode, (int)threads);
    attn_ctx *a = f ? attn_new(var, m->hp.n_layers, m->hp.n_heads, m->hp.n_kv_heads, m->hp.head_dim, len) : NULL;
    float *logits = xmalloc((size_t)m->hp.vocab * sizeof *logits);
    if (!a) goto done;
    char desc[256];
    attn_variant_describe(var, desc, sizeof desc);
    double t0 = ev_now();
    if (fwd_prefill(f, ids, len, (int)chunk, a, logits) != 0) goto done;
    double t_pre = ev_now() - t0;
    if (n_decode == 0) {
        printf("bench: prefill\nmodel: %s\nlen: %d\nchunk: %ld\nthreads: %d\n%s\nseconds: %.3f\n"
               "tokens_per_s: %.1f\npeak_rss_mib: %ld\n\n", mpath, len, chunk, par_threads(fwd_pool(f)), desc, t_pre,
               len / t_pre, peak_rss_mib());
    } else {
        double t1 = ev_now();
        for (int i = 0; i < n_decode; i++)
            if (fwd_decode_one(f, ids[len + i], a, logits) != 0) goto done;
        double t_dec = ev_now() - t1;
        printf("bench: decode\nmodel: %s\ncontext: %d\ndecoded: %d\nthreads: %d\n%s\nseconds: %.3f\n"
               "tokens_per_s: %.1f\nms_per_token: %.2f\npeak_rss_mib: %ld\n\n", mpath, len, n_decode,
               par_threads(fwd_pool(f)), desc, t_dec, n_decode / t_dec, 1e3 * t_dec / n_decode, peak_rss_mib());
    }
    rc = 0;
done:
    free(logits);
    attn_free(a);
    fwd_free(f);
    free(ids);
    model_close(m);
    return rc;
}

/* ---------------------------------------------------------------------- attn */

static int bench_attn(const attn_variant *var, int len, int heads, int kv_heads, int hd, long threads) {
    if (heads % kv_heads != 0) return ev_error("bench attn: %d heads are not a multiple of %d kv heads", heads, kv_heads), 1;
    size_t nq = (size_t)len * heads * hd, nk = (size_t)len * kv_heads * hd;
    float *q = xmalloc(nq * sizeof *q), *k = xmalloc(nk * sizeof *k), *v = xmalloc(nk * sizeof *v);
    float *out = xmalloc(nq * sizeof *out);
    uint64_t s = 7;
    for (size_t i = 0; i < nq; i++) q[i] = (float)((double)rng_next(&s) / 2147483648.0 - 1.0);
    for (size_t i = 0; i < nk; i++) k[i] = (float)((double)rng_next(&s) / 2147483648.0 - 1.0);
    for (size_t i = 0; i < nk; i++) v[i] = (float)((double)rng_next(&s) / 2147483648.0 - 1.0);
    par_pool *pool = par_new((int)threads);
    attn_ctx *a = attn_new(var, 1, heads, kv_heads, hd, len);
    int rc = 1;
    if (!a) goto done;
    double t0 = ev_now();
    if (attn_layer(a, pool, 0, q, 0, len, k, v, out) != 0) goto done;
    double dt = ev_now() - t0;
    double dens = attn_density(var, len);
    /* 4 flops per score entry per head dim: q.k and p.v, multiply and add */
    double flops = 4.0 * heads * hd * dens * ((double)len * (len + 1) / 2);
    char desc[256];
    attn_variant_describe(var, desc, sizeof desc);
    printf("bench: attn\nlen: %d\nheads: %d\nkv_heads: %d\nhead_dim: %d\nthreads: %d\n%s\nms: %.2f\n"
           "density: %.4f\ngflops: %.2f\n\n", len, heads, kv_heads, hd, par_threads(pool), desc, 1e3 * dt, dens,
           flops / dt * 1e-9);
    rc = 0;
done:
    attn_free(a);
    par_free(pool);
    free(q);
    free(k);
    free(v);
    free(out);
    return rc;
}

/* Time of one layer on the GPU (kernels/attn.cu): a prefill of len rows, or
 * with rows > 0 a call of `rows` decode rows after a cache of len keys. Flops
 * count 4 * head_dim * heads per scored key entry (q.k and p.v, multiply and
 * add), entries as attn_density counts them (anchors of +delta twice);
 * "dense-equivalent" divides the causal L(L+1)/2 entries' flops by the same
 * time, the rate a dense kernel would need to match. */
static int bench_attn_cuda(const attn_variant *var, int len, int rows, int heads, int kv_heads, int hd, int runs,
                           int warmup, int tile, const char *kernel) {
#ifdef EV_CUDA
    if (heads % kv_heads != 0) return ev_error("bench attn: %d heads are not a multiple of %d kv heads", heads, kv_heads), 1;
    if (tile && cuda_attn_set_tile_rows(tile) != 0) return 1;
    if (kernel && strcmp(kernel, "mma") != 0 && strcmp(kernel, "wgmma") != 0)
        return ev_error("bench attn: --kernel: expected mma or wgmma, got '%s'", kernel), 1;
    if (kernel && cuda_attn_set_kernel(!strcmp(kernel, "mma") ? CUDA_ATTN_MMA : CUDA_ATTN_WGMMA) != 0) return 1;
    cuda_attn_shape sh = {heads, kv_heads, hd, len, 0};
    cuda_attn_timing t;
    int pos0 = rows > 0 ? len : 0, n_q = rows > 0 ? rows : len;
    if (cuda_attn_bench(var, &sh, pos0, n_q, warmup, runs, &t) != 0) return 1;
    double entries, dense_entries;
    if (rows > 0) { /* decode rows: dense over the cache, or sink + window */
        entries = dense_entries = 0;
        for (long p = pos0; p < (long)pos0 + n_q; p++) {
            dense_entries += (double)(p + 1);
            int sparse = var->decode_sparse && var->base != ATTN_DENSE && p - var->window + 1 > var->sink;
            entries += sparse ? (double)var->sink + var->window : (double)(p + 1);
        }
    } else {
        dense_entries = (double)len * ((double)len + 1) / 2;
        entries = attn_density(var, len) * dense_entries;
    }
    double s = t.ms_median * 1e-3, fl = 4.0 * hd * heads;
    char desc[256];
    attn_variant_describe(var, desc, sizeof desc);
    printf("bench: attn\nbackend: cuda\ngpu: %s\nlen: %d\nrows: %d\npos0: %d\nheads: %d\nkv_heads: %d\nhead_dim: %d\n"
           "%s\ntile_rows: %d\nkernel: %s\nruns: %d\nms: %.4f\nms_min: %.4f\ntokens_per_s: %.1f\ndensity: %.6f\n"
           "tflops: %.2f\ntflops_dense_equiv: %.2f\n",
           t.gpu, len, n_q, pos0, heads, kv_heads, hd, desc, tile ? tile : 128,
           cuda_attn_kernel() == CUDA_ATTN_MMA ? "mma" : "wgmma", t.runs, t.ms_median, t.ms_min,
           n_q / s, entries / dense_entries, fl * entries / s * 1e-12, fl * dense_entries / s * 1e-12);
    if (rows > 0) {
        /* decode reads the K and V caches once: its rate against the copy's */
        double gbps = t.kv_bytes / s * 1e-9;
        printf("kv_gbps: %.1f\n", gbps);
        if (t.copy_gbps > 0) printf("copy_gbps: %.1f\nhbm_fraction: %.3f\n", t.copy_gbps, gbps / t.copy_gbps);
    }
    printf("\n");
    return 0;
#else
    (void)var, (void)len, (void)rows, (void)heads, (void)kv_heads, (void)hd, (void)runs, (void)warmup, (void)tile,
        (void)kernel;
    return ev_error("bench attn: --backend cuda: this build has no CUDA (nvcc was not found, or CUDA=0)"), 1;
#endif
}

/* Prefill (and decode) of a whole model on the GPU: seconds, tokens/s, the
 * split between cuBLAS products, attention and the rest (a second pass with
 * per-phase CUDA events; the first, unsynchronised pass gives the total), and
 * the products' rate against a plain 8192^3 cuBLAS product in the same run. */
static int bench_model_cuda(model *m, int len, int n_decode, long chunk, const attn_variant *var,
                            uint64_t seed) {
#ifdef EV_CUDA
    const model_hparams *hp = &m->hp;
    int rc = 1;
    int32_t *ids = random_ids(len + n_decode, hp->vocab);
    float *logits = xmalloc((size_t)hp->vocab * sizeof *logits);
    cuda_fwd *g = cuda_fwd_new(m, len + n_decode, (int)chunk, seed);
    char desc[256], info[1024];
    attn_variant_describe(var, desc, sizeof desc);
    double ref = 0;
    if (!g || cuda_gemm_rate(&ref) != 0) goto done;
    cuda_fwd_times tm;
    double t_pre = 0;
    for (int pass = 0; pass < 3; pass++) { /* 0: warm-up, 1: total, 2: phases */
        cuda_fwd_timing(g, pass == 2, NULL);
        double t0 = ev_now();
        if (cuda_fwd_begin(g, var, len) != 0 || cuda_fwd_eval(g, ids, len, logits, NULL) != 0) goto done;
        if (pass == 1) t_pre = ev_now() - t0;
    }
    cuda_fwd_timing(g, 0, &tm);
    /* 2 flops per weight per token in the products (the LM head once) */
    double H = hp->hidden, q = (double)hp->n_heads * hp->head_dim, kv = (double)hp->n_kv_heads * hp->head_dim;
    double per_tok = 2.0 * hp->n_layers * ((q + 2 * kv) * H + H * q + 3.0 * H * hp->ffn);
    double gemm_fl = per_tok * len + 2.0 * H * hp->vocab;
    double attn_fl = 4.0 * hp->n_layers * q * attn_density(var, len) * ((double)len * (len + 1) / 2);
    if (cuda_describe(info, sizeof info) != 0) info[0] = 0;
    char *gpu = strstr(info, "gpu: ");
    int gl = gpu ? (int)strcspn(gpu + 5, "\n") : 0;
    printf("bench: %s\nbackend: cuda\ngpu: %.*s\nmodel: %s%s\nlen: %d\nchunk: %ld\n%s\nseconds: %.3f\n"
           "tokens_per_s: %.1f\ngemm_ms: %.1f\nattn_ms: %.1f\nother_ms: %.1f\ngemm_tflops: %.1f\n"
           "cublas_ref_tflops: %.1f\ngemm_fraction_of_ref: %.3f\nattn_tflops: %.1f\n",
           n_decode ? "decode" : "prefill", gl, gpu ? gpu + 5 : "?", m->path, seed ? " (random weights)" : "", len,
           chunk, desc, t_pre, len / t_pre, tm.gemm_ms, tm.attn_ms, tm.other_ms,
           gemm_fl / (tm.gemm_ms * 1e-3) * 1e-12, ref, gemm_fl / (tm.gemm_ms * 1e-3) * 1e-12 / ref,
           attn_fl / (tm.attn_ms * 1e-3) * 1e-12);
    if (n_decode) {
        double t1 = ev_now();
        for (int i = 0; i < n_decode; i++)
            if (cuda_fwd_eval(g, &ids[len + i], 1, logits, NULL) != 0) goto done;
        double t_dec = ev_now() - t1;
        printf("decoded: %d\ndecode_tokens_per_s: %.1f\ndecode_ms_per_token: %.3f\n", n_decode, n_decode / t_dec,
               1e3 * t_dec / n_decode);
    }
    printf("\n");
    rc = 0;
done:
    cuda_fwd_free(g);
    free(logits);
    free(ids);
    return rc;
#else
    (void)m, (void)len, (void)n_decode, (void)chunk, (void)var, (void)seed;
    return ev_error("bench: --backend cuda: this build has no CUDA (nvcc was not found, or CUDA=0)"), 1;
#endif
}

/* ----------------------------------------------------------------------- all */

static int bench_all(const char *mpath, long threads) {
    attn_variant dense;
    attn_variant_parse("dense", &dense);
    int rc = bench_tokenize(mpath, NULL, 1);
    static const int lens[] = {512, 2048, 8192};
    for (size_t i = 0; i < 3; i++) rc |= bench_model(mpath, lens[i], 0, threads, 512, &dense);
    rc |= bench_model(mpath, 2048, 64, threads, 512, &dense);
    static const char *const names[] = {"dense", "streaming", "streaming+delta", "streaming+recompute",
                                        "block", "block+delta", "block+recompute"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        attn_variant v;
        attn_variant_parse(names[i], &v);
        /* SmolLM2's attention shape at 8K, with the paper's parameters scaled by 1/8 */
        v.sink = 128;
        v.window = 256;
        v.block = 256;
        rc |= bench_attn(&v, 8192, 9, 3, 64, threads);
    }
    return rc;
}

int cmd_bench(int argc, char **argv) {
    if (argc < 1 || cli_is_help(argv[0])) {
        fputs(usage, argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    const char *what = argv[0], *mpath = DEFAULT_MODEL, *file = NULL, *backend = "cpu", *shape = NULL, *v;
    const char *attn_kernel = NULL; /* bench attn --backend cuda: mma or wgmma */
    int random_weights = 0;
    long len = -1, n = 64, threads = 0, chunk = 512, repeat = 1, heads = 32, kv_heads = 8, hd = 128;
    long rows = 0, runs = 5, warmup = 1, tile = 0;
    cli_variant_opts vo = {0};
    for (int i = 1; i < argc; i++) {
        int r;
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(usage, stdout);
            return 0;
        }
        if ((r = cli_opt(argc, argv, &i, "--model", &mpath)) != 0 || (r = cli_opt(argc, argv, &i, "--file", &file)) != 0 ||
            (r = cli_opt(argc, argv, &i, "--backend", &backend)) != 0 ||
            (r = cli_opt(argc, argv, &i, "--shape", &shape)) != 0 ||
            (r = cli_opt(argc, argv, &i, "--kernel", &attn_kernel)) != 0 ||
            (r = cli_variant_arg(argc, argv, &i, &vo)) != 0) {
            if (r < 0) return 2;
            continue;
        }
        if (!strcmp(a, "--random-weights")) {
            random_weights = 1;
            continue;
        }
        struct { const char *name; long *dst; long lo, hi; } ints[] = {
            {"--len", &len, 1, 1 << 24}, {"--n", &n, 1, 1 << 20}, {"-t", &threads, 0, 4096},
            {"--chunk", &chunk, 1, 1 << 20}, {"--repeat", &repeat, 1, 100000}, {"--heads", &heads, 1, 1024},
            {"--kv-heads", &kv_heads, 1, 1024}, {"--head-dim", &hd, 1, 256}, {"--rows", &rows, 1, 1 << 20},
            {"--runs", &runs, 1, 1000}, {"--warmup", &warmup, 0, 1000}, {"--tile", &tile, 64, 128},
        };
        size_t k;
        for (k = 0; k < sizeof ints / sizeof ints[0]; k++) {
            if ((r = cli_opt(argc, argv, &i, ints[k].name, &v)) == 0) continue;
            if (r < 0 || cli_int(ints[k].name, v, ints[k].lo, ints[k].hi, ints[k].dst) < 0) return 2;
            break;
        }
        if (k == sizeof ints / sizeof ints[0]) return cli_unknown("bench", a);
    }
    attn_variant var;
    if (cli_variant_build(&vo, &var) != 0) return 1;
    if (strcmp(backend, "cpu") != 0 && strcmp(backend, "cuda") != 0) {
        fprintf(stderr, "evalctl bench: --backend: expected cpu or cuda, got '%s'\n", backend);
        return 2;
    }
    if ((shape != NULL) != random_weights || (shape && strcmp(backend, "cuda") != 0)) {
        fprintf(stderr, "evalctl bench: --shape and --random-weights go together, with --backend cuda\n");
        return 2;
    }
    if (!strcmp(what, "tokenize")) return bench_tokenize(mpath, file, repeat);
    if ((!strcmp(what, "prefill") || !strcmp(what, "decode")) && !strcmp(backend, "cuda")) {
        model *m = shape ? model_shape(shape) : model_open(mpath);
        if (!m) return 1;
        int r = bench_model_cuda(m, len > 0 ? (int)len : 2048, !strcmp(what, "decode") ? (int)n : 0,
                                 chunk == 512 ? 4096 : chunk, &var, shape ? 0x5eed : 0);
        model_close(m);
        return r;
    }
    if (!strcmp(what, "prefill")) return bench_model(mpath, len > 0 ? (int)len : 2048, 0, threads, chunk, &var);
    if (!strcmp(what, "decode")) return bench_model(mpath, len > 0 ? (int)len : 2048, (int)n, threads, chunk, &var);
    if (!strcmp(what, "attn") && !strcmp(backend, "cuda"))
        return bench_attn_cuda(&var, len > 0 ? (int)len : 4096, (int)rows, (int)heads, (int)kv_heads, (int)hd, (int)runs,
                               (int)warmup, (int)tile, attn_kernel);
    if (strcmp(backend, "cpu") != 0) {
        fprintf(stderr, "evalctl bench: --backend cuda is for bench attn, prefill and decode\n");
        return 2;
    }
    if (!strcmp(what, "attn")) return bench_attn(&var, len > 0 ? (int)len : 4096, (int)heads, (int)kv_heads, (int)hd, threads);
    if (!strcmp(what, "all")) return bench_all(mpath, threads);
    fprintf(stderr, "evalctl bench: unknown benchmark '%s' (tokenize, prefill, decode, attn, all)\n", what);
    return 2;
}
