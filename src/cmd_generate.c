/* cmd_generate.c - `evalctl generate`: greedy generation on the CPU from a text
 * prompt (optionally through the chat template) or from token ids, with any
 * attention variant in the prefill; prints the completion as it is made, after a
 * header line on standard error naming the variant and its parameters. */
#include "attention.h"
#include "backend.h"
#include "chat.h"
#include "cli.h"
#include "forward.h"
#include "model.h"
#include "tokenizer.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: evalctl generate --model PATH (--prompt TEXT | --prompt-ids \"1 2 3\") [options]\n"
    "\n"
    "  --model PATH       a .gguf file or a Hugging Face directory\n"
    "  --prompt TEXT      tokenized as `evalctl tokenize --text` does (with the BOS/EOS the\n"
    "                     tokenizer adds)\n"
    "  --chat             the prompt is one user message, rendered through the chat template\n"
    "                     with the generation prompt (then tokenized without special tokens)\n"
    "  --chat-template N  a built-in template (chatml, llama3, mistral, none) instead of the model's\n"
    "  --prompt-ids IDS   token ids (spaces or commas) fed as they are; no tokenizer needed\n"
    "  --max-new N        new tokens at most (default 128); generation also ends at an end token\n"
    "  --ids              print the generated ids on one line (the end token included) instead\n"
    "                     of the text\n"
    "  --truncate         keep the last tokens of a prompt longer than the model's context\n"
    "  --backend B        cpu (default), cuda, or auto (cuda when a GPU answers)\n"
    "  -t N               CPU threads (default: every core)\n"
    "  --chunk N          prefill chunk in tokens (default 512 on the CPU, 4096 on the GPU; the\n"
    "                     output does not depend on it)\n"
    CLI_VARIANT_HELP
    "  --stats            timings on standard error\n";

/* ------------------------------------------------------------------ helpers */

/* "1 2 3" or "1,2,3" -> ids (heap). Returns -1 after one error line. */
static int parse_ids(const char *s, int32_t **ids, int *n) {
    size_t cap = 64;
    int k = 0;
    int32_t *v = xmalloc(cap * sizeof *v);
    const char *p = s;
    for (;;) {
        while (isspace((unsigned char)*p) || *p == ',') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (end == p || errno || x < 0 || x > INT32_MAX || (*end && !isspace((unsigned char)*end) && *end != ',')) {
            int w = 0;
            while (p[w] && !isspace((unsigned char)p[w]) && w < 20) w++;
            free(v);
            return ev_error("--prompt-ids: '%.*s' is not a token id", w, p);
        }
        if ((size_t)k == cap) v = xrealloc(v, (cap *= 2) * sizeof *v);
        v[k++] = (int32_t)x;
        p = end;
    }
    *ids = v;
    *n = k;
    return 0;
}

static int encode_prompt(const model *m, tok_tokenizer *tok, const char *prompt, int chat, const char *tmpl,
                         int32_t **ids, int *n) {
    char *text = NULL;
    if (chat) {
        chat_template *ct = chat_template_for_model(m, tmpl);
        if (!ct) return -1;
        json_t *msgs = json_pack("[{s:s, s:s}]", "role", "user", "content", prompt);
        text = chat_render(ct, msgs, 1, tok_bos_str(tok), tok_eos_str(tok));
        json_decref(msgs);
        chat_template_free(ct);
        if (!text) return -1;
    }
    const char *in = text ? text : prompt;
    size_t k;
    int rc = tok_encode(tok, in, strlen(in), !chat, ids, &k);
    free(text);
    if (rc != 0) return -1;
    if (k > INT_MAX / 2) {
        free(*ids);
        return ev_error("prompt of %zu tokens is too long", k);
    }
    *n = (int)k;
    return 0;
}

typedef struct {
    tok_stream *stream;
    const model_hparams *hp;
    int print_ids, n, failed;
    double t_first; /* when the first new token came: the end of the prefill */
} gen_out;

static void on_token(void *ud, int32_t id) {
    gen_out *o = ud;
    if (o->n == 0) o->t_first = ev_now();
    if (o->print_ids) {
        printf(o->n ? " %d" : "%d", (int)id);
    } else if (!model_is_eos(o->hp, id) && !o->failed) {
        const char *t;
        size_t len;
        int r = tok_stream_push(o->stream, id, &t, &len);
        if (r < 0) o->failed = 1;
        else if (r > 0) ev_xfwrite(t, len, stdout, "stdout");
    }
    o->n++;
    ev_xfflush(stdout, "stdout");
}

/* ---------------------------------------------------------------- command */

int cmd_generate(int argc, char **argv) {
    const char *mpath = NULL, *prompt = NULL, *prompt_ids = NULL, *tmpl = NULL, *v, *bk = "cpu";
    long max_new = 128, threads = 0, chunk = 0;
    int chat = 0, print_ids = 0, truncate = 0, stats = 0;
    cli_variant_opts vo = {0};
    for (int i = 0; i < argc; i++) {
        int r;
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(usage, stdout);
            return 0;
        }
        if ((r = cli_opt(argc, argv, &i, "--model", &mpath)) != 0 ||
            (r = cli_opt(argc, argv, &i, "--prompt", &prompt)) != 0 ||
            (r = cli_opt(argc, argv, &i, "--prompt-ids", &prompt_ids)) != 0 ||
            (r = cli_opt(argc, argv, &i, "--chat-template", &tmpl)) != 0 ||
            (r = cli_opt(argc, argv, &i, "--backend", &bk)) != 0 || (r = cli_variant_arg(argc, argv, &i, &vo)) != 0) {
            if (r < 0) return 2;
            continue;
        }
        if ((r = cli_opt(argc, argv, &i, "--max-new", &v)) != 0) {
            if (r < 0 || cli_int("--max-new", v, 0, 1 << 24, &max_new) < 0) return 2;
        } else if ((r = cli_opt(argc, argv, &i, "-t", &v)) != 0) {
            if (r < 0 || cli_int("-t", v, 0, 4096, &threads) < 0) return 2;
        } else if ((r = cli_opt(argc, argv, &i, "--chunk", &v)) != 0) {
            if (r < 0 || cli_int("--chunk", v, 1, 1 << 20, &chunk) < 0) return 2;
        } else if (!strcmp(a, "--chat")) chat = 1;
        else if (!strcmp(a, "--ids")) print_ids = 1;
        else if (!strcmp(a, "--truncate")) truncate = 1;
        else if (!strcmp(a, "--stats")) stats = 1;
        else return cli_unknown("generate", a);
    }
    if (!mpath || (!prompt && !prompt_ids)) {
        fputs(usage, stderr);
        return 2;
    }
    if ((prompt && prompt_ids) || (prompt_ids && (chat || tmpl)) || (tmpl && !chat)) {
        fprintf(stderr, "evalctl generate: conflicting options (see evalctl generate --help)\n");
        return 2;
    }
    if (prompt && !*prompt) return ev_error("generate: the prompt is empty"), 1;
    attn_variant var;
    if (cli_variant_build(&vo, &var) != 0) return 1;

    int32_t *ids = NULL;
    int n = 0;
    if (prompt_ids && parse_ids(prompt_ids, &ids, &n) != 0) return 1;
    if (prompt_ids && n == 0) {
        free(ids);
        return ev_error("generate: --prompt-ids holds no ids"), 1;
    }
    model *m = model_open(mpath);
    if (!m) {
        free(ids);
        return 1;
    }
    tok_tokenizer *tok = NULL;
    int rc = 1;
    backend *be = NULL;
    int32_t *out = NULL;
    gen_out go = {.hp = &m->hp, .print_ids = print_ids};
    if (!print_ids || prompt) {
        tok = tok_open_model(m);
        if (!tok) goto done;
    }
    if (prompt && encode_prompt(m, tok, prompt, chat, tmpl, &ids, &n) != 0) goto done;
    if (n == 0) {
        ev_error("generate: the prompt encodes to no tokens");
        goto done;
    }
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->hp.vocab) {
            ev_error("generate: token id %d is outside the vocabulary (0 .. %d)", (int)ids[i], m->hp.vocab - 1);
            goto done;
        }
    int ctx = m->hp.context;
    if (n > ctx) {
        if (!truncate) {
            ev_error("%s: the prompt has %d tokens, more than the model's context of %d (--truncate keeps the "
                     "last ones)", mpath, n, ctx);
            goto done;
        }
        int keep = ctx - (int)(max_new < ctx / 2 ? max_new : ctx / 2);
        if (keep < 1) keep = 1;
        fprintf(stderr, "evalctl generate: prompt truncated from %d to its last %d tokens\n", n, keep);
        memmove(ids, ids + (n - keep), sizeof *ids * (size_t)keep);
        n = keep;
    }
    long want = (long)n + max_new;
    int n_ctx = want < ctx ? (int)want : ctx;
    if (n_ctx < n) n_ctx = n;
    if (attn_variant_check(&var) != 0 || !(be = backend_new(m, bk, n_ctx, (int)threads, (int)chunk))) goto done;
    char desc[256];
    attn_variant_describe(&var, desc, sizeof desc);
    fprintf(stderr, "evalctl generate: %d prompt tokens, %s, backend %s\n", n, desc, backend_describe(be));
    if (!print_ids) go.stream = tok_stream_new(tok);
    out = xmalloc(sizeof *out * (size_t)(max_new > 0 ? max_new : 1));
    double t0 = ev_now();
    int k = backend_generate(be, &var, ids, n, (int)max_new, out, on_token, &go);
    double t1 = ev_now();
    if (k < 0 || go.failed) goto done;
    ev_xfwrite("\n", 1, stdout, "stdout");
    ev_xfflush(stdout, "stdout");
    if (stats && k > 0)
        fprintf(stderr,
                "evalctl generate: prefill %d tokens in %.3f s (%.1f tokens/s), decode %d tokens in %.3f s "
                "(%.1f tokens/s), %s, variant %s\n",
                n, go.t_first - t0, n / (go.t_first - t0), k - 1, t1 - go.t_first,
                k > 1 ? (k - 1) / (t1 - go.t_first) : 0.0, backend_describe(be), attn_variant_name(&var));
    rc = 0;
done:
    tok_stream_free(go.stream);
    free(out);
    backend_free(be);
    tok_free(tok);
    free(ids);
    model_close(m);
    return rc;
}
