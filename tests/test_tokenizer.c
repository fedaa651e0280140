/* test_tokenizer.c - the tokenizer against transformers' own output.
 *
 * tests/fixtures/tok/ holds a bank of strings and, for each tokenizer (SmolLM2
 * from its GGUF and as an HF directory, plus Llama-3-, Qwen2- and
 * SentencePiece-style tokenizers trained with `tokenizers`, each as a directory
 * and as a vocab-only GGUF; and directories naming a tokenizer_class that
 * transformers rebuilds with its own pipeline), what transformers gives: input_ids with and
 * without special tokens, decode(ids), and tokenizers' DecodeStream chunks.
 * tools/gen_tok_fixtures.py writes them. Every string must agree exactly. */
#include "chat.h"
#include "test.h"
#include "tokenizer.h"
#include "util.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Expected error lines go to /dev/null so the suite's output stays clean. */
static int saved_stderr = -1;
static void quiet(int on) {
    fflush(stderr);
    if (on) {
        saved_stderr = dup(2);
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 2);
        close(fd);
    } else if (saved_stderr >= 0) {
        dup2(saved_stderr, 2);
        close(saved_stderr);
        saved_stderr = -1;
    }
}

static const char *const NAMES[] = {"smollm2_gguf", "smollm2_dir", "llama3_dir", "llama3_gguf", "qwen2_dir",
                                    "qwen2_gguf",   "spm_dir",     "spm_gguf",   "mix_dir",     "gpt2cls",
                                    "qwen2cls",     "llamacls",    "mistralcls"};

static int same_ids(const int32_t *got, size_t n, const json_t *want) {
    if (!json_is_array(want) || json_array_size(want) != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (json_integer_value(json_array_get(want, i)) != got[i]) return 0;
    return 1;
}

static void show_ids(const char *what, const int32_t *ids, size_t n) {
    fprintf(stderr, "    %s:", what);
    for (size_t i = 0; i < n && i < 40; i++) fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, n > 40 ? " ...\n" : "\n");
}

static int32_t *ids_of(const json_t *a, size_t *n) {
    *n = json_array_size(a);
    int32_t *v = xmalloc((*n ? *n : 1) * sizeof *v);
    for (size_t i = 0; i < *n; i++) v[i] = (int32_t)json_integer_value(json_array_get(a, i));
    return v;
}

/* One tokenizer against its fixture; returns 1 when it ran. */
static int check_one(const char *name, const json_t *bank, const json_t *convs) {
    char fx[256];
    snprintf(fx, sizeof fx, "tests/fixtures/tok/%s.json.gz", name);
    json_error_t err;
    size_t fl;
    char *raw = ev_read_file(fx, &fl);
    json_t *ref = raw ? json_loadb(raw, fl, JSON_ALLOW_NUL, &err) : NULL;
    free(raw);
    CHECK(ref != NULL, "%s: %s", fx, raw ? err.text : "unreadable");
    if (!ref) return 0;
    const char *path = json_string_value(json_object_get(ref, "path"));
    if (!ev_is_file(path) && !ev_is_dir(path)) {
        printf("  %s: skipped, %s is absent (make model)\n", name, path);
        json_decref(ref);
        return 0;
    }
    tok_tokenizer *t = tok_open_path(path);
    CHECK(t != NULL, "%s: cannot open %s", name, path);
    if (!t) {
        json_decref(ref);
        return 0;
    }
    json_t *bos = json_object_get(ref, "bos_id"), *eos = json_object_get(ref, "eos_id");
    CHECK_EQ_INT(tok_bos_id(t), json_is_integer(bos) ? json_integer_value(bos) : -1);
    CHECK_EQ_INT(tok_eos_id(t), json_is_integer(eos) ? json_integer_value(eos) : -1);
    CHECK_EQ_INT(tok_n_vocab(t), json_integer_value(json_object_get(ref, "vocab_size")));

    json_t *all = json_object_get(ref, "ids"), *decoded = json_object_get(ref, "decoded");
    json_t *plain = json_object_get(ref, "no_special"), *stream = json_object_get(ref, "stream");
    size_t n = json_array_size(bank), enc_ok = 0, dec_ok = 0, plain_ok = 0, plain_n = 0, st_ok = 0, st_n = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *js = json_array_get(bank, i);
        const char *s = json_string_value(js);
        size_t sl = json_string_length(js);
        char key[32];
        snprintf(key, sizeof key, "%zu", i);

        int32_t *ids;
        size_t nid;
        int rc = tok_encode(t, s, sl, 1, &ids, &nid);
        int ok = rc == 0 && same_ids(ids, nid, json_array_get(all, i));
        enc_ok += ok;
        if (!ok && enc_ok + 5 > i) {
            fprintf(stderr, "  %s: string %zu \"%.60s\" differs\n", name, i, s);
            show_ids("got ", ids, nid);
            size_t wn;
            int32_t *w = ids_of(json_array_get(all, i), &wn);
            show_ids("want", w, wn);
            free(w);
        }
        free(ids);

        /* decode the reference ids: transformers' decode(ids) */
        size_t wn;
        int32_t *w = ids_of(json_array_get(all, i), &wn);
        size_t dl;
        char *d = tok_decode(t, w, wn, &dl);
        json_t *want_d = json_object_get(decoded, key);
        const char *ws = want_d ? json_string_value(want_d) : s;
        size_t wl = want_d ? json_string_length(want_d) : sl;
        int dok = d && dl == wl && memcmp(d, ws, wl) == 0;
        dec_ok += dok;
        if (!dok && dec_ok + 5 > i) fprintf(stderr, "  %s: decode %zu \"%.60s\" != \"%.60s\"\n", name, i, d ? d : "(null)", ws);
        free(d);

        json_t *pw = json_object_get(plain, key);
        if (pw) {
            plain_n++;
            rc = tok_encode(t, s, sl, 0, &ids, &nid);
            plain_ok += rc == 0 && same_ids(ids, nid, pw);
            free(ids);
        }

        json_t *sw = json_object_get(stream, key);
        if (sw) {
            st_n++;
            tok_stream *ts = tok_stream_new(t);
            int sok = 1;
            for (size_t k = 0; k < wn && sok; k++) {
                const char *txt;
                size_t tl;
                int r = tok_stream_push(ts, w[k], &txt, &tl);
                json_t *want = json_array_get(sw, k);
                if (json_is_null(want)) sok = r == 0;
                else sok = r == 1 && tl == json_string_length(want) && memcmp(txt, json_string_value(want), tl) == 0;
            }
            st_ok += sok;
            if (!sok && st_ok + 3 > st_n) fprintf(stderr, "  %s: stream %zu differs\n", name, i);
            tok_stream_free(ts);
        }
        free(w);
    }
    /* apply_chat_template: the rendered text, then its ids without special tokens */
    json_t *chat = json_object_get(ref, "chat");
    size_t chat_ok = 0, chat_n = json_array_size(chat);
    chat_template *ct = chat_n ? chat_template_for_path(path, NULL) : NULL;
    CHECK(!chat_n || ct, "%s: chat template", name);
    for (size_t k = 0; ct && k < chat_n; k++) {
        json_t *c = json_array_get(chat, k);
        json_t *conv = json_array_get(convs, (size_t)json_integer_value(json_object_get(c, "conv")));
        char *text = chat_render(ct, conv, json_is_true(json_object_get(c, "gen")), tok_bos_str(t), tok_eos_str(t));
        json_t *want = json_object_get(c, "text");
        int ok = text && strcmp(text, json_string_value(want)) == 0;
        if (!ok) fprintf(stderr, "  %s: chat %zu renders \"%.80s\"\n", name, k, text ? text : "(null)");
        int32_t *ids;
        size_t nid;
        if (ok) ok = tok_encode(t, text, strlen(text), 0, &ids, &nid) == 0 && same_ids(ids, nid, json_object_get(c, "ids"));
        if (text && ok) free(ids);
        chat_ok += ok;
        free(text);
    }
    chat_template_free(ct);
    CHECK(chat_ok == chat_n, "%s: %zu/%zu chats", name, chat_ok, chat_n);
    printf("  %-13s encode %zu/%zu  decode %zu/%zu  no-special %zu/%zu  stream %zu/%zu  chat %zu/%zu\n", name, enc_ok,
           n, dec_ok, n, plain_ok, plain_n, st_ok, st_n, chat_ok, chat_n);
    CHECK(enc_ok == n, "%s: %zu/%zu strings encode as transformers does", name, enc_ok, n);
    CHECK(dec_ok == n, "%s: %zu/%zu decode as transformers does", name, dec_ok, n);
    CHECK(plain_ok == plain_n, "%s: %zu/%zu without special tokens", name, plain_ok, plain_n);
    CHECK(st_ok == st_n, "%s: %zu/%zu streams", name, st_ok, st_n);
    tok_free(t);
    json_decref(ref);
    return 1;
}

/* The API around the edges: errors are one line and no crash. */
static void check_api(void) {
    tok_tokenizer *t = tok_open_path("tests/fixtures/tok/qwen2");
    CHECK(t != NULL, "open qwen2");
    if (!t) return;
    int32_t *ids = (int32_t *)1;
    size_t n = 99;
    quiet(1);
    CHECK_EQ_INT(tok_encode(t, "ab\xC3(cd", 6, 1, &ids, &n), -1);
    CHECK(ids == NULL && n == 0, "no ids after an error");
    CHECK_EQ_INT(tok_encode(t, "\xED\xA0\x80", 3, 0, &ids, &n), -1); /* a surrogate */
    int32_t bad[2] = {1, 1 << 20};
    CHECK(tok_decode(t, bad, 2, NULL) == NULL, "decode of an id past the vocabulary fails");
    quiet(0);
    CHECK_EQ_INT(tok_encode(t, "", 0, 0, &ids, &n), 0);
    CHECK_EQ_INT(n, 0);
    free(ids);
    int32_t im = tok_token_id(t, "<|im_start|>", 12);
    CHECK(im >= 0 && tok_is_special(t, im), "<|im_start|> is special");
    size_t len;
    const char *s = tok_token_str(t, im, &len);
    CHECK(s && len == 12 && !memcmp(s, "<|im_start|>", 12), "token string of <|im_start|>");
    int32_t tc = tok_token_id(t, "<tool_call>", 11);
    CHECK(tc >= 0 && !tok_is_special(t, tc), "<tool_call> is added but not special");
    CHECK(tok_chat_template(t) != NULL, "chat template from tokenizer_config.json");
    CHECK(tok_bos_str(t) == NULL && tok_eos_str(t) && !strcmp(tok_eos_str(t), "<|im_end|>"), "bos/eos strings");
    /* a NUL inside the text is just a character */
    CHECK_EQ_INT(tok_encode(t, "a\0b", 3, 0, &ids, &n), 0);
    CHECK(n >= 2, "NUL encodes");
    char *d = tok_decode(t, ids, n, &len);
    CHECK(d && len == 3 && !memcmp(d, "a\0b", 3), "NUL round trip");
    free(d);
    free(ids);
    tok_free(t);
    tok_free(NULL);
    tok_stream_free(NULL);
}

int main(void) {
    json_error_t err;
    json_t *bank = json_load_file("tests/fixtures/tok/bank.json", JSON_ALLOW_NUL, &err);
    CHECK(bank != NULL && json_array_size(bank) >= 300, "bank.json: %s", bank ? "too small" : err.text);
    json_t *convs = json_load_file("tests/fixtures/tok/conversations.json", 0, &err);
    CHECK(json_is_array(convs), "conversations.json: %s", err.text);
    if (bank && convs)
        for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++) check_one(NAMES[i], bank, convs);
    json_decref(bank);
    json_decref(convs);
    check_api();
    return test_done("tokenizer");
}
