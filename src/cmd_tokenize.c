/* cmd_tokenize.c - `evalctl tokenize`: text or chat messages to token ids and
 * back, with only the tokenizer loaded (no weights), so its output can be set
 * beside transformers' tokenizer(text)["input_ids"] / apply_chat_template. */
#include "chat.h"
#include "cli.h"
#include "tokenizer.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: evalctl tokenize --model PATH [--text T | --file F] [--no-special] [--count] [--stats]\n"
    "       evalctl tokenize --model PATH --decode [--text \"1 2 3\" | --file F]\n"
    "       evalctl tokenize --model PATH --messages FILE.json [--no-generation-prompt] [--render]\n"
    "                        [--chat-template NAME|FILE]\n"
    "\n"
    "  --model PATH     a .gguf file, an HF directory (its tokenizer.json), or a tokenizer.json\n"
    "  --text T         the input; else --file F (.gz read too); else standard input\n"
    "  (default)        print the ids of tokenizer(text)[\"input_ids\"] on one line\n"
    "  --no-special     without the BOS/EOS the tokenizer adds (add_special_tokens=False)\n"
    "  --count          print only the number of ids\n"
    "  --stats          also report ids, bytes and tokens/s on standard error\n"
    "  --decode         the input is ids (spaces, commas or a [list]); print their text as\n"
    "                   decode(ids) gives it, with nothing added\n"
    "  --messages F     a JSON list of {\"role\", \"content\"} (or {\"messages\": [...]}): print the ids\n"
    "                   of apply_chat_template(messages, add_generation_prompt=True)\n"
    "  --no-generation-prompt   add_generation_prompt=False\n"
    "  --render         print the rendered chat text instead of its ids\n"
    "  --chat-template  a built-in (chatml, llama3, mistral, none) or a .jinja file\n";

typedef struct {
    const char *model, *text, *file, *messages, *chat_template;
    int decode, no_special, count, stats, no_gen, render;
} tok_opts;

/* The input text: --text, --file or stdin. Heap, owned by the caller. */
static char *read_input(const tok_opts *o, size_t *len) {
    if (o->text) {
        *len = strlen(o->text);
        return xstrdup(o->text);
    }
    if (o->file) return ev_read_file(o->file, len);
    size_t cap = 1 << 16, n = 0;
    char *buf = xmalloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n - 1, stdin)) > 0) {
        n += r;
        if (cap - n - 1 == 0) buf = xrealloc(buf, cap *= 2);
    }
    if (ferror(stdin)) {
        free(buf);
        ev_error("standard input: read error");
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void print_ids(const int32_t *ids, size_t n) {
    char num[16];
    for (size_t i = 0; i < n; i++) {
        int k = snprintf(num, sizeof num, i ? " %d" : "%d", ids[i]);
        ev_xfwrite(num, (size_t)k, stdout, "stdout");
    }
    ev_xfwrite("\n", 1, stdout, "stdout");
}

/* "1 2 3", "1,2,3" or "[1, 2, 3]" -> ids. */
static int parse_ids(const char *s, size_t len, int32_t **ids, size_t *n) {
    size_t cap = 64, k = 0;
    int32_t *v = xmalloc(cap * sizeof *v);
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if (isspace(c) || c == ',' || c == '[' || c == ']') {
            i++;
            continue;
        }
        char *end;
        errno = 0;
        long x = strtol(s + i, &end, 10);
        if (end == s + i || errno || x < 0 || x > INT32_MAX || (end < s + len && !isspace((unsigned char)*end) &&
                                                               *end != ',' && *end != ']')) {
            size_t w = 0;
            while (i + w < len && w < 20 && !isspace((unsigned char)s[i + w])) w++;
            ev_error("--decode: '%.*s' is not a token id", (int)w, s + i);
            free(v);
            return -1;
        }
        if (k == cap) v = xrealloc(v, (cap *= 2) * sizeof *v);
        v[k++] = (int32_t)x;
        i = (size_t)(end - s);
    }
    *ids = v;
    *n = k;
    return 0;
}

static int do_decode(tok_tokenizer *t, const char *in, size_t len) {
    int32_t *ids;
    size_t n;
    if (parse_ids(in, len, &ids, &n) < 0) return 1;
    size_t dl;
    char *text = tok_decode(t, ids, n, &dl);
    free(ids);
    if (!text) return 1;
    ev_xfwrite(text, dl, stdout, "stdout");
    free(text);
    return 0;
}

static int do_encode(tok_tokenizer *t, const tok_opts *o, const char *in, size_t len, int add_special) {
    int32_t *ids;
    size_t n;
    double t0 = ev_now();
    if (tok_encode(t, in, len, add_special, &ids, &n) < 0) return 1;
    double dt = ev_now() - t0;
    if (o->count) printf("%zu\n", n);
    else print_ids(ids, n);
    if (o->stats)
        fprintf(stderr, "evalctl tokenize: %zu ids from %zu bytes in %.3f s (%.0f tokens/s)\n", n, len, dt,
                dt > 0 ? (double)n / dt : 0.0);
    free(ids);
    return 0;
}

/* The chat template: the override, else the one the tokenizer found beside it
 * (GGUF metadata, chat_template.jinja, tokenizer_config.json), else chat.c's
 * own search of a directory (chat_template.json; its error message). */
static chat_template *find_template(const tok_tokenizer *t, const tok_opts *o) {
    if (o->chat_template) return chat_template_for_path(o->model, o->chat_template);
    const char *src = tok_chat_template(t);
    if (src) return chat_template_from_string(src, o->model);
    if (ev_is_dir(o->model)) return chat_template_for_path(o->model, NULL);
    ev_error("%s: no chat template found; pick one with --chat-template chatml|llama3|mistral|none", o->model);
    return NULL;
}

static int do_messages(tok_tokenizer *t, const tok_opts *o) {
    json_error_t err;
    json_t *root = json_load_file(o->messages, 0, &err);
    if (!root) {
        if (!ev_is_file(o->messages)) ev_error("%s: cannot open messages file", o->messages);
        else ev_error("%s: invalid JSON: %s (at byte %d)", o->messages, err.text, err.position);
        return 1;
    }
    json_t *msgs = json_is_object(root) ? json_object_get(root, "messages") : root;
    if (!json_is_array(msgs)) {
        json_decref(root);
        ev_error("%s: expected a list of messages or {\"messages\": [...]}", o->messages);
        return 1;
    }
    chat_template *ct = find_template(t, o);
    if (!ct) {
        json_decref(root);
        return 1;
    }
    char *text = chat_render(ct, msgs, !o->no_gen, tok_bos_str(t), tok_eos_str(t));
    chat_template_free(ct);
    json_decref(root);
    if (!text) return 1;
    int rc = 0;
    if (o->render) ev_xfwrite(text, strlen(text), stdout, "stdout");
    else rc = do_encode(t, o, text, strlen(text), 0); /* apply_chat_template encodes with add_special_tokens=False */
    free(text);
    return rc;
}

int cmd_tokenize(int argc, char **argv) {
    tok_opts o = {0};
    for (int i = 0; i < argc; i++) {
        int r;
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(usage, stdout);
            return 0;
        }
        if ((r = cli_opt(argc, argv, &i, "--model", &o.model)) != 0 ||
            (r = cli_opt(argc, argv, &i, "--text", &o.text)) != 0 ||
            (r = cli_opt(argc, argv, &i, "--file", &o.file)) != 0 ||
            (r = cli_opt(argc, argv, &i, "--messages", &o.messages)) != 0 ||
            (r = cli_opt(argc, argv, &i, "--chat-template", &o.chat_template)) != 0) {
            if (r < 0) return 2;
            continue;
        }
        if (!strcmp(a, "--decode")) o.decode = 1;
        else if (!strcmp(a, "--no-special")) o.no_special = 1;
        else if (!strcmp(a, "--count")) o.count = 1;
        else if (!strcmp(a, "--stats")) o.stats = 1;
        else if (!strcmp(a, "--no-generation-prompt")) o.no_gen = 1;
        else if (!strcmp(a, "--render")) o.render = 1;
        else return cli_unknown("tokenize", a);
    }
    if (!o.model) {
        fputs(usage, stderr);
        return 2;
    }
    if ((o.text && o.file) || (o.messages && (o.text || o.file || o.decode)) ||
        ((o.render || o.no_gen || o.chat_template) && !o.messages)) {
        fprintf(stderr, "evalctl tokenize: conflicting options (see evalctl tokenize --help)\n");
        return 2;
    }
    tok_tokenizer *t = tok_open_path(o.model);
    if (!t) return 1;
    int rc;
    if (o.messages) {
        rc = do_messages(t, &o);
    } else {
        size_t len;
        char *in = read_input(&o, &len);
        if (!in) rc = 1;
        else rc = o.decode ? do_decode(t, in, len) : do_encode(t, &o, in, len, !o.no_special);
        free(in);
    }
    tok_free(t);
    if (rc == 0) ev_xfflush(stdout, "stdout");
    return rc;
}
