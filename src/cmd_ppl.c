/* cmd_ppl.c - `evalctl ppl`: perplexity of a text file on the CPU.
 *
 * The whole file is tokenized as `evalctl tokenize` does (with the tokenizer's
 * BOS/EOS), the ids are cut into consecutive windows of --ctx tokens (the last
 * may be shorter; one of fewer than 2 tokens is dropped), every window runs from
 * an empty cache and every token of it but the first is scored by the logits of
 * the position before it (ppl.h, shared with `evalctl run`). nll is the mean
 * negative log-likelihood in nats over the scored tokens (summed in double),
 * ppl = exp(nll). --longppl T adds the same mean over each window's key
 * tokens (ppl.h: those the dense model predicts much better with the whole
 * window than with T to T + slide - 1 tokens of context). */
#include "attention.h"
#include "backend.h"
#include "cli.h"
#include "model.h"
#include "pg19.h"
#include "ppl.h"
#include "tokenizer.h"
#include "util.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: evalctl ppl --model PATH --file F --ctx N [options]\n"
    "\n"
    "  --model PATH       a .gguf file or a Hugging Face directory\n"
    "  --file F           the text: .txt, .txt.gz, JSONL of books with a \"text\" field (PG19 as\n"
    "                     published), or a directory of those; every book is windowed alone\n"
    "  --ctx N            window length in tokens (2 .. the model's context)\n"
    "  --backend B        cpu (default), cuda, or auto (cuda when a GPU answers)\n"
    "  -t N               CPU threads (default: every core)\n"
    "  --chunk N          prefill chunk in tokens (default 512 on the CPU, 4096 on the GPU; the result\n"
    "                     does not depend on it)\n"
    CLI_VARIANT_HELP
    "                     (each window is one prompt prefilled with the variant)\n"
    "  --longppl T        also LongPPL (Fang et al. 2025, the perplexity the Delta Attention paper\n"
    "                     reports): the mean over each window's key tokens, those the dense model\n"
    "                     predicts better by more than 2 nats (and within 2 nats) with the whole\n"
    "                     window than from the last T to T + slide - 1 tokens\n"
    "  --slide N          LongPPL: tokens sharing one short context (default T / 4, as 4096/1024)\n"
    "  --stats            timings on standard error\n"
    "\n"
    "prints `key: value` lines: tokens, windows, scored, nll (mean, nats), ppl; with --longppl also\n"
    "key_tokens, key_nll (mean over them) and longppl. Several books: first a `book:` line each\n"
    "(tokens, windows, scored, nll, ppl, with --longppl key_tokens and key_nll, then title)\n";

int cmd_ppl(int argc, char **argv) {
    const char *mpath = NULL, *file = NULL, *ctx_s = NULL, *v, *bk = "cpu";
    long threads = 0, chunk = 0, ctx = 0, trunc = 0, slide = 0;
    int stats = 0;
    cli_variant_opts vo = {0};
    for (int i = 0; i < argc; i++) {
        int r;
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(usage, stdout);
            return 0;
        }
        if ((r = cli_opt(argc, argv, &i, "--model", &mpath)) != 0 || (r = cli_opt(argc, argv, &i, "--file", &file)) != 0 ||
            (r = cli_opt(argc, argv, &i, "--ctx", &ctx_s)) != 0 || (r = cli_opt(argc, argv, &i, "--backend", &bk)) != 0 ||
            (r = cli_variant_arg(argc, argv, &i, &vo)) != 0) {
            if (r < 0) return 2;
            continue;
        }
        if ((r = cli_opt(argc, argv, &i, "-t", &v)) != 0) {
            if (r < 0 || cli_int("-t", v, 0, 4096, &threads) < 0) return 2;
        } else if ((r = cli_opt(argc, argv, &i, "--chunk", &v)) != 0) {
            if (r < 0 || cli_int("--chunk", v, 1, 1 << 20, &chunk) < 0) return 2;
        } else if ((r = cli_opt(argc, argv, &i, "--longppl", &v)) != 0) {
            if (r < 0 || cli_int("--longppl", v, 1, 1 << 24, &trunc) < 0) return 2;
        } else if ((r = cli_opt(argc, argv, &i, "--slide", &v)) != 0) {
            if (r < 0 || cli_int("--slide", v, 1, 1 << 24, &slide) < 0) return 2;
        } else if (!strcmp(a, "--stats")) stats = 1;
        else return cli_unknown("ppl", a);
    }
    if (!mpath || !file || !ctx_s) {
        fputs(usage, stderr);
        return 2;
    }
    if (cli_int("--ctx", ctx_s, LONG_MIN, LONG_MAX, &ctx) < 0) return 2;
    if (ctx < 2) return ev_error("ppl: --ctx %ld: a window needs at least 2 tokens", ctx), 1;
    if (slide && !trunc) return ev_error("ppl: --slide needs --longppl"), 2;
    if (trunc && trunc >= ctx)
        return ev_error("ppl: --longppl %ld: the short context must be shorter than --ctx %ld", trunc, ctx), 1;
    ppl_key_opts key = ppl_key_official((int)trunc, (int)slide);
    attn_variant var;
    if (cli_variant_build(&vo, &var) != 0) return 1;
    if (!ev_is_file(file) && !ev_is_dir(file)) return ev_error("%s: no such file or directory", file), 1;

    model *m = model_open(mpath);
    if (!m) return 1;
    int rc = 1;
    tok_tokenizer *tok = NULL;
    backend *be = NULL;
    pg19_books *books = NULL;
    int32_t *ids = NULL;
    unsigned char *mark = NULL;
    size_t n = 0, total = 0;
    if (ctx > m->hp.context) {
        ev_error("ppl: --ctx %ld is longer than the model's context of %d", ctx, m->hp.context);
        goto done;
    }
    if (!(tok = tok_open_model(m)) || !(books = pg19_open(file))) goto done;
    if (!(be = backend_new(m, bk, (int)ctx, (int)threads, (int)chunk))) goto done;
    char desc[256];
    attn_variant_describe(&var, desc, sizeof desc);
    double nll = 0, key_nll = 0, t_tok = 0, t0 = ev_now();
    long scored = 0, windows = 0, n_key = 0;
    for (size_t b = 0; b < books->n; b++) {
        double tb = ev_now();
        free(ids);
        ids = NULL;
        if (pg19_tokenize(tok, &books->books[b], &ids, &n) != 0) goto done;
        t_tok += ev_now() - tb;
        total += n;
        ppl_result pr;
        free(mark);
        mark = trunc ? xmalloc(n ? n : 1) : NULL;
        if ((mark && ppl_key_mark(be, ids, n, (size_t)ctx, 0, &key, mark) < 0) ||
            ppl_score(be, &var, ids, n, (size_t)ctx, 0, mark, &pr) < 0)
            goto done;
        double book_nll = pr.nll;
        long book_scored = pr.scored, book_windows = pr.windows;
        /* a file of several books also reports each one, in input order */
        if (books->n > 1 && book_scored > 0) {
            printf("book: %zu tokens=%zu windows=%ld scored=%ld nll=%.6f ppl=%.4f ", b, n, book_windows, book_scored,
                   book_nll / book_scored, exp(book_nll / book_scored));
            if (trunc && pr.key) printf("key_tokens=%ld key_nll=%.6f ", pr.key, pr.key_nll / pr.key);
            else if (trunc) printf("key_tokens=0 key_nll=none ");
            printf("title=%s\n", books->books[b].title);
        }
        nll += book_nll;
        scored += book_scored;
        windows += book_windows;
        key_nll += pr.key_nll;
        n_key += pr.key;
    }
    if (scored == 0) {
        ev_error("%s: %zu tokens: nothing to score", file, total);
        goto done;
    }
    double t2 = ev_now();
    printf("variant: %s\nattention: %s\nctx: %ld\nbooks: %zu\n", attn_variant_name(&var), desc, ctx, books->n);
    printf("tokens: %zu\nwindows: %ld\nscored: %ld\nnll: %.6f\nppl: %.4f\n", total, windows, scored, nll / scored,
           exp(nll / scored));
    if (trunc) {
        printf("longppl_trunc: %ld\nlongppl_slide: %d\nkey_tokens: %ld\n", trunc, key.slide, n_key);
        if (n_key) printf("key_nll: %.6f\nlongppl: %.4f\n", key_nll / n_key, exp(key_nll / n_key));
        else printf("key_nll: none\nlongppl: none\n");
    }
    ev_xfflush(stdout, "stdout");
    if (stats)
        fprintf(stderr, "evalctl ppl: tokenized in %.3f s; %zu tokens scored in %.2f s (%.1f tokens/s), %s, "
                        "variant %s\n", t_tok, total, t2 - t0 - t_tok, total / (t2 - t0 - t_tok),
                backend_describe(be), attn_variant_name(&var));
    rc = 0;
done:
    backend_free(be);
    free(ids);
    free(mark);
    pg19_close(books);
    tok_free(tok);
    model_close(m);
    return rc;
}
