/* test_infbench.c - InfiniteBench inputs against the official Python code
 * (tools/gen_infbench_fixtures.py): prompts of every task for four template
 * sets, truncate_by_tokens with three tokenizers, the synthetic records of
 * construct_synthetic_dataset.py; then our generator's invariants (fit to L,
 * depths, keys, determinism) and bad input. */
#include "chat.h"
#include "infbench.h"
#include "test.h"
#include "util.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DIR_ "tests/fixtures/infbench/"

/* ------------------------------------------------------------ helpers */

/* The lines of a JSONL file as a JSON array (blank lines skipped). */
static json_t *read_jsonl(const char *path) {
    size_t len;
    char *text = ev_read_file(path, &len);
    if (!text) return NULL;
    json_t *arr = json_array();
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - text - pos) : len - pos;
        if (ll) {
            json_error_t err;
            json_t *r = json_loadb(text + pos, ll, JSON_ALLOW_NUL, &err);
            if (!r) fprintf(stderr, "%s: %s\n", path, err.text);
            else json_array_append_new(arr, r);
        }
        pos += ll + 1;
    }
    free(text);
    return arr;
}

static int eq_bytes(const char *a, size_t an, const json_t *b) {
    return a && json_is_string(b) && an == json_string_length(b) && !memcmp(a, json_string_value(b), an);
}

/* stderr captured (test.h) around calls that must print exactly one error line */
static void quiet_begin(void) { test_capture_begin(); }
/* Returns the captured text (heap); *lines gets its number of lines. */
static char *quiet_end(int *lines) {
    char *t = test_capture_end();
    *lines = test_count_lines(t);
    return t;
}

static void write_file(const char *path, const char *s) {
    FILE *f = fopen(path, "wb");
    fputs(s, f);
    fclose(f);
}

/* ------------------------------------------------------------ tables */

static void test_tables(void) {
    json_t *t = json_load_file(DIR_ "tables.json", 0, NULL);
    CHECK(t != NULL, "tables.json");
    if (!t) return;
    size_t i;
    json_t *v;
    CHECK_EQ_INT(json_array_size(json_object_get(t, "tasks")), INFB_N_TASKS);
    json_array_foreach(json_object_get(t, "tasks"), i, v) {
        CHECK_EQ_INT(infb_task_from_name(json_string_value(v)), (long long)i);
        CHECK_EQ_STR(infb_task_name((infb_task)i), json_string_value(v));
    }
    const char *k;
    json_object_foreach(json_object_get(t, "max_new_tokens"), k, v) {
        int task = infb_task_from_name(k);
        CHECK(task >= 0, "%s", k);
        CHECK_EQ_INT(infb_max_new_tokens((infb_task)task), json_integer_value(v));
    }
    json_object_foreach(json_object_get(t, "model_set"), k, v) {
        CHECK_EQ_INT(infb_template_from_name(k), infb_template_from_name(json_string_value(v)));
    }
    CHECK_EQ_INT(infb_template_from_name("open"), INFB_TPL_OPEN);
    CHECK_EQ_INT(infb_template_from_name("llama"), -1);
    CHECK_EQ_INT(infb_task_from_name("passkeys"), -1);
    CHECK_EQ_INT(infb_template_default(), INFB_TPL_OPEN);
    json_decref(t);
}

/* ------------------------------------------------------------ prompts */

static void test_prompts(void) {
    static const char *const sets[] = {"yarn-mistral", "gpt4", "claude2", "kimi"};
    json_t *data[INFB_N_TASKS];
    for (int t = 0; t < INFB_N_TASKS; t++) {
        char path[256];
        snprintf(path, sizeof path, DIR_ "data/%s.jsonl", infb_task_name((infb_task)t));
        data[t] = read_jsonl(path);
        CHECK(data[t] && json_array_size(data[t]) > 0, "%s", path);
    }
    int n_ok = 0, n_raise = 0;
    for (int s = 0; s < 4; s++) {
        char path[256];
        snprintf(path, sizeof path, DIR_ "prompts_%s.jsonl", sets[s]);
        json_t *rows = read_jsonl(path);
        CHECK(rows && json_array_size(rows) > 0, "%s", path);
        infb_tpl tpl = (infb_tpl)infb_template_from_name(sets[s]);
        size_t i;
        json_t *row;
        json_array_foreach(rows, i, row) {
            int task = infb_task_from_name(json_string_value(json_object_get(row, "task")));
            size_t line = (size_t)json_integer_value(json_object_get(row, "line"));
            const json_t *rec = json_array_get(data[task], line - 1);
            size_t len = 0;
            if (json_object_get(row, "raises")) {
                int lines;
                quiet_begin();
                char *p = infb_prompt_record(rec, (infb_task)task, tpl, "rec", &len);
                char *err = quiet_end(&lines);
                CHECK(p == NULL, "%s %s:%zu should raise", sets[s], infb_task_name((infb_task)task), line);
                CHECK(lines == 1 && strstr(err, "KeyError"), "%s %s: %s", sets[s], infb_task_name((infb_task)task),
                      err);
                free(err);
                free(p);
                n_raise++;
            } else {
                char *p = infb_prompt_record(rec, (infb_task)task, tpl, "rec", &len);
                CHECK(eq_bytes(p, len, json_object_get(row, "prompt")), "%s %s:%zu: %s", sets[s],
                      infb_task_name((infb_task)task), line, p ? p : "(null)");
                free(p);
                n_ok++;
            }
        }
        json_decref(rows);
    }
    CHECK(n_ok >= 70 && n_raise >= 7, "%d prompts, %d raises", n_ok, n_raise);

    /* the same through infb_open / infb_prompt */
    json_t *rows = read_jsonl(DIR_ "prompts_yarn-mistral.jsonl");
    for (int t = 0; t < INFB_N_TASKS; t++) {
        char path[256];
        snprintf(path, sizeof path, DIR_ "data/%s.jsonl", infb_task_name((infb_task)t));
        infb_data *d = infb_open(path, (infb_task)t);
        CHECK(d != NULL, "%s", path);
        if (!d) continue;
        CHECK_EQ_INT(infb_count(d), json_array_size(data[t]));
        size_t i;
        json_t *row;
        json_array_foreach(rows, i, row) {
            if (infb_task_from_name(json_string_value(json_object_get(row, "task"))) != t) continue;
            size_t line = (size_t)json_integer_value(json_object_get(row, "line")), len;
            char *p = infb_prompt(d, line - 1, INFB_TPL_OPEN, &len);
            CHECK(eq_bytes(p, len, json_object_get(row, "prompt")), "%s:%zu", path, line);
            free(p);
        }
        char where[512];
        CHECK(strstr(infb_where(d, 0, where, sizeof where), "data/") != NULL, "%s", where);
        infb_close(d);
    }
    json_decref(rows);
    for (int t = 0; t < INFB_N_TASKS; t++) json_decref(data[t]);

    /* records on which create_prompt raises whatever the set */
    json_t *raises = read_jsonl(DIR_ "raises.jsonl");
    CHECK(raises && json_array_size(raises) >= 5, "raises.jsonl");
    size_t i;
    json_t *row;
    json_array_foreach(raises, i, row) {
        int task = infb_task_from_name(json_string_value(json_object_get(row, "task")));
        for (int s = 0; s < INFB_N_TPL; s++) {
            int lines;
            quiet_begin();
            char *p = infb_prompt_record(json_object_get(row, "record"), (infb_task)task, (infb_tpl)s, "raises:x", NULL);
            char *err = quiet_end(&lines);
            CHECK(p == NULL && lines == 1 && strncmp(err, "evalctl: raises:x: ", 19) == 0, "raises row %zu set %d: %s",
                  i, s, err);
            free(p);
            free(err);
        }
    }
    json_decref(raises);
}

/* ------------------------------------------------------------ truncation */

static void test_truncation(void) {
    static const char *const toks[] = {"smollm2", "spm", "llama3"};
    json_t *texts = read_jsonl(DIR_ "texts.jsonl");
    CHECK(texts && json_array_size(texts) >= 4, "texts.jsonl");
    for (int k = 0; k < 3; k++) {
        char path[256];
        snprintf(path, sizeof path, "tests/fixtures/tok/%s", toks[k]);
        tok_tokenizer *tok = tok_open_path(path);
        CHECK(tok != NULL, "%s", path);
        if (!tok) continue;
        snprintf(path, sizeof path, DIR_ "trunc_%s.jsonl", toks[k]);
        json_t *rows = read_jsonl(path);
        CHECK(rows && json_array_size(rows) > 20, "%s", path);
        size_t i, cut = 0;
        json_t *row;
        json_array_foreach(rows, i, row) {
            const json_t *text =
                json_object_get(json_array_get(texts, (size_t)json_integer_value(json_object_get(row, "text"))), "text");
            size_t max = (size_t)json_integer_value(json_object_get(row, "max")), out_len = 0, before = 0;
            char *out = infb_truncate(tok, json_string_value(text), json_string_length(text), max, &out_len, &before);
            CHECK(eq_bytes(out, out_len, json_object_get(row, "out")), "%s row %zu (max %zu): '%s'", toks[k], i, max,
                  out ? out : "(null)");
            CHECK_EQ_INT(before, json_integer_value(json_object_get(row, "n_before")));
            cut += before > max;
            free(out);
            int32_t *ids = NULL;
            size_t n = 0;
            int rc = infb_prompt_ids(tok, json_string_value(text), json_string_length(text), max, &ids, &n);
            const json_t *want = json_object_get(row, "ids");
            int same = rc == 0 && n == json_array_size(want);
            for (size_t j = 0; same && j < n; j++) same = ids[j] == json_integer_value(json_array_get(want, j));
            CHECK(same, "%s row %zu: prompt ids differ (%zu vs %zu)", toks[k], i, n, json_array_size(want));
            free(ids);
        }
        CHECK(cut > 10, "%s: only %zu rows cut", toks[k], cut);
        json_decref(rows);
        /* max < 2 cannot follow the official split */
        int lines;
        quiet_begin();
        char *bad = infb_truncate(tok, "abc", 3, 1, NULL, NULL);
        char *err = quiet_end(&lines);
        CHECK(bad == NULL && lines == 1, "max 1: %s", err);
        free(err);
        tok_free(tok);
    }
    json_decref(texts);
    /* the non-official chat wrapping: one user message, generation prompt */
    chat_template *ct = chat_template_from_string(chat_builtin_source("chatml"), "chatml");
    tok_tokenizer *st = tok_open_path("tests/fixtures/tok/smollm2");
    char *c = ct && st ? infb_chat_prompt(ct, st, "Q?\n\nThe pass key is") : NULL;
    CHECK(c && strstr(c, "<|im_start|>user\nQ?\n\nThe pass key is<|im_end|>\n<|im_start|>assistant\n"), "%s",
          c ? c : "(null)");
    free(c);
    chat_template_free(ct);
    tok_free(st);
    size_t h, t;
    infb_keep(10, 10, &h, &t);
    CHECK(h == 10 && t == 0, "keep all");
    infb_keep(11, 7, &h, &t);
    CHECK(h == 3 && t == 3, "odd max keeps max-1: %zu %zu", h, t);
}

/* ------------------------------------------------------------ official synthetic records */

static void test_official_synth(void) {
    static const char *const files[] = {DIR_ "synth_passkey.jsonl", DIR_ "synth_number_string.jsonl"};
    for (int f = 0; f < 2; f++) {
        infb_task task = f == 0 ? INFB_PASSKEY : INFB_NUMBER_STRING;
        json_t *rows = read_jsonl(files[f]);
        CHECK(rows && json_array_size(rows) >= 10, "%s", files[f]);
        size_t i;
        json_t *row;
        json_array_foreach(rows, i, row) {
            size_t len;
            const char *key = json_string_value(json_object_get(row, "key"));
            char *ctx = infb_haystack(task, key, (size_t)json_integer_value(json_object_get(row, "n")),
                                      (size_t)json_integer_value(json_object_get(row, "depth")), &len);
            CHECK(eq_bytes(ctx, len, json_object_get(row, "context")), "%s row %zu", files[f], i);
            CHECK_EQ_STR(json_string_value(json_object_get(row, "input")),
                         task == INFB_PASSKEY ? infb_passkey_question : infb_number_question);
            CHECK_EQ_INT(strlen(key), task == INFB_PASSKEY ? 5 : 10);
            free(ctx);
        }
        json_decref(rows);
    }
    json_t *rows = read_jsonl(DIR_ "synth_kv_retrieval.jsonl");
    CHECK(rows && json_array_size(rows) >= 4, "synth_kv_retrieval.jsonl");
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) {
        const json_t *pairs = json_object_get(row, "pairs");
        size_t n = json_array_size(pairs), len;
        const char **k = xmalloc(n * sizeof *k), **v = xmalloc(n * sizeof *v);
        for (size_t j = 0; j < n; j++) {
            k[j] = json_string_value(json_array_get(json_array_get(pairs, j), 0));
            v[j] = json_string_value(json_array_get(json_array_get(pairs, j), 1));
        }
        char *ctx = infb_kv_context(k, v, n, &len);
        CHECK(eq_bytes(ctx, len, json_object_get(row, "context")), "kv row %zu: %s", i, ctx);
        size_t ask = (size_t)json_integer_value(json_object_get(row, "ask"));
        char *in = infb_kv_input(k[ask]);
        CHECK(eq_bytes(in, strlen(in), json_object_get(row, "input")), "kv row %zu input", i);
        CHECK_EQ_STR(json_string_value(json_object_get(row, "answer")), v[ask]);
        free(ctx);
        free(in);
        free(k);
        free(v);
    }
    json_decref(rows);
}

/* ------------------------------------------------------------ our generator */

/* Length of a prompt as the generator measures it. */
static long measure(tok_tokenizer *tok, const char *p, size_t n) {
    if (!tok) {
        long c = 0;
        for (size_t i = 0; i < n; i++) c += ((unsigned char)p[i] & 0xC0) != 0x80;
        return c;
    }
    int32_t *ids;
    size_t k;
    if (tok_encode(tok, p, n, 1, &ids, &k) != 0) return -1;
    free(ids);
    return (long)k;
}

static long prompt_len(tok_tokenizer *tok, infb_task task, const char *ctx, const char *input) {
    json_t *rec = json_pack("{s:s, s:s}", "context", ctx, "input", input);
    size_t n;
    char *p = infb_prompt_record(rec, task, INFB_TPL_OPEN, "test", &n);
    long m = p ? measure(tok, p, n) : -1;
    free(p);
    json_decref(rec);
    return m;
}

static size_t count_noise(const char *s) {
    size_t n = 0, nl = strlen(infb_noise);
    for (const char *p = s; (p = strstr(p, infb_noise)); p += nl) n++;
    return n;
}

/* number_string keys: 10 digits made by doubling 5 digits 5 times, so the
 * runs of equal digits hold at least 5 repeats between them. */
static int reachable_number_key(const char *k) {
    if (strlen(k) != 10) return 0;
    int extra = 0;
    for (int i = 0; i < 10; i++) {
        if (k[i] < '0' || k[i] > '9') return 0;
        if (i && k[i] == k[i - 1]) extra++;
    }
    return extra >= 5;
}

static int is_uuid4(const char *s) {
    if (strlen(s) != 36) return 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') return 0;
        } else if (!strchr("0123456789abcdef", s[i])) return 0;
    }
    return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

static void check_haystack_task(tok_tokenizer *tok, infb_task task, long L, size_t N) {
    infb_gen_opts o = {.task = task, .length = L, .samples = N, .seed = 42, .tok = tok, .tpl = INFB_TPL_OPEN};
    infb_gen_stats st;
    json_t *recs = infb_generate(&o, &st);
    CHECK(recs && json_array_size(recs) == N, "%s generated", infb_task_name(task));
    if (!recs) return;
    size_t i;
    json_t *r;
    json_array_foreach(recs, i, r) {
        CHECK_EQ_INT(json_integer_value(json_object_get(r, "id")), (long long)i);
        const char *ctx = json_string_value(json_object_get(r, "context"));
        const char *in = json_string_value(json_object_get(r, "input"));
        const json_t *ans = json_object_get(r, "answer");
        CHECK(json_is_string(ans) && json_array_size(json_object_get(r, "options")) == 0, "answer/options");
        const char *key = json_string_value(ans);
        CHECK_EQ_STR(in, task == INFB_PASSKEY ? infb_passkey_question : infb_number_question);
        if (task == INFB_PASSKEY) {
            CHECK(strlen(key) == 5 && strspn(key, "0123456789") == 5, "passkey key %s", key);
        } else {
            CHECK(reachable_number_key(key), "number key %s", key);
        }
        size_t n = count_noise(ctx);
        size_t depth = N > 1 ? i * n / (N - 1) : n / 2;
        size_t len;
        char *want = infb_haystack(task, key, n, depth, &len);
        CHECK(strlen(ctx) == len && !strcmp(ctx, want), "%s sample %zu: not the official haystack at depth %zu",
              infb_task_name(task), i, depth);
        free(want);
        long m = prompt_len(tok, task, ctx, in);
        CHECK(m > 0 && m <= L, "%s sample %zu: %ld > %ld", infb_task_name(task), i, m, L);
        CHECK(m >= (long)st.len_min && m <= (long)st.len_max, "stats");
        char *more = infb_haystack(task, key, n + 1, N > 1 ? i * (n + 1) / (N - 1) : (n + 1) / 2, NULL);
        long m1 = prompt_len(tok, task, more, in);
        CHECK(m1 > L, "%s sample %zu: one more noise line still fits (%ld <= %ld)", infb_task_name(task), i, m1, L);
        free(more);
    }
    /* needle at the start and at the end */
    if (N < 2) {
        json_decref(recs);
        return;
    }
    const char *first = json_string_value(json_object_get(json_array_get(recs, 0), "context"));
    const char *last = json_string_value(json_object_get(json_array_get(recs, N - 1), "context"));
    CHECK(strncmp(first, "The ", 4) == 0 && strncmp(first, infb_noise, strlen(infb_noise)) != 0, "depth 0");
    CHECK(strncmp(last + strlen(last) - strlen(infb_noise), infb_noise, strlen(infb_noise)) != 0, "depth n");
    json_decref(recs);
}

static void check_kv(tok_tokenizer *tok, long L, size_t N) {
    infb_gen_opts o = {.task = INFB_KV_RETRIEVAL, .length = L, .samples = N, .seed = 3, .tok = tok, .tpl = INFB_TPL_OPEN};
    json_t *recs = infb_generate(&o, NULL);
    CHECK(recs && json_array_size(recs) == N, "kv generated");
    if (!recs) return;
    size_t i;
    json_t *r;
    json_array_foreach(recs, i, r) {
        const char *ctx = json_string_value(json_object_get(r, "context"));
        const char *in = json_string_value(json_object_get(r, "input"));
        const char *ans = json_string_value(json_object_get(r, "answer"));
        CHECK(strncmp(ctx, "JSON data:\n{", 12) == 0 && ctx[strlen(ctx) - 1] == '}', "kv context shape");
        /* the pairs: "k": "v" separated by ", " */
        size_t n = 0, cap = 64;
        char (*keys)[37] = xmalloc(cap * sizeof *keys), (*vals)[37] = xmalloc(cap * sizeof *vals);
        const char *p = ctx + 12;
        int ok = 1;
        while (ok && *p == '"') {
            if (n == cap) {
                cap *= 2;
                keys = xrealloc(keys, cap * sizeof *keys);
                vals = xrealloc(vals, cap * sizeof *vals);
            }
            ok = strlen(p) >= 79 && p[37] == '"' && !strncmp(p + 38, ": \"", 3) && p[77] == '"';
            if (!ok) break;
            memcpy(keys[n], p + 1, 36), keys[n][36] = '\0';
            memcpy(vals[n], p + 41, 36), vals[n][36] = '\0';
            ok = is_uuid4(keys[n]) && is_uuid4(vals[n]);
            n++;
            p += 78;
            if (!strncmp(p, ", ", 2)) p += 2;
        }
        CHECK(ok && !strcmp(p, "}") && n >= 1, "kv sample %zu: context does not parse", i);
        size_t ask = i * n / N;
        char *want_in = infb_kv_input(keys[ask]);
        CHECK_EQ_STR(in, want_in);
        CHECK_EQ_STR(ans, vals[ask]);
        free(want_in);
        long m = prompt_len(tok, INFB_KV_RETRIEVAL, ctx, in);
        CHECK(m > 0 && m <= L, "kv sample %zu: %ld > %ld", i, m, L);
        /* one pair more (a fresh one; the asked index moves with n) does not fit */
        const char **k = xmalloc((n + 1) * sizeof *k), **v = xmalloc((n + 1) * sizeof *v);
        for (size_t j = 0; j < n; j++) k[j] = keys[j], v[j] = vals[j];
        k[n] = v[n] = "00000000-0000-4000-8000-000000000000";
        char *more = infb_kv_context(k, v, n + 1, NULL);
        char *more_in = infb_kv_input(k[i * (n + 1) / N]);
        long m1 = prompt_len(tok, INFB_KV_RETRIEVAL, more, more_in);
        CHECK(m1 > L - (tok ? 12 : 0), "kv sample %zu: far from L with one pair more (%ld, L %ld)", i, m1, L);
        free(more);
        free(more_in);
        free(k);
        free(v);
        free(keys);
        free(vals);
    }
    json_decref(recs);
}

static void test_generate(void) {
    tok_tokenizer *tok = tok_open_path("tests/fixtures/tok/smollm2");
    CHECK(tok != NULL, "smollm2 tokenizer");
    if (!tok) return;
    check_haystack_task(tok, INFB_PASSKEY, 700, 5);
    check_haystack_task(tok, INFB_NUMBER_STRING, 1500, 4);
    check_haystack_task(NULL, INFB_PASSKEY, 3000, 3);
    check_haystack_task(tok, INFB_PASSKEY, 300, 1);
    check_kv(tok, 1200, 5);
    check_kv(NULL, 2500, 3);

    /* determinism, and the seed matters */
    infb_gen_opts o = {.task = INFB_KV_RETRIEVAL, .length = 800, .samples = 3, .seed = 11, .tok = tok};
    json_t *a = infb_generate(&o, NULL), *b = infb_generate(&o, NULL);
    o.seed = 12;
    json_t *c = infb_generate(&o, NULL);
    CHECK(a && b && c && json_equal(a, b) && !json_equal(a, c), "kv determinism");
    o.task = INFB_PASSKEY;
    o.seed = 11;
    json_t *d = infb_generate(&o, NULL), *e = infb_generate(&o, NULL);
    CHECK(d && e && json_equal(d, e), "passkey determinism");
    /* keys spread: 40 passkeys are not all alike */
    o.samples = 40;
    o.length = 150;
    json_t *f = infb_generate(&o, NULL);
    int digits[10] = {0};
    size_t i;
    json_t *r;
    json_array_foreach(f, i, r) {
        for (const char *k = json_string_value(json_object_get(r, "answer")); *k; k++)
            digits[*k - '0']++;
    }
    int used = 0;
    for (int k = 0; k < 10; k++) used += digits[k] > 0;
    CHECK(used >= 8, "only %d digits in 200 draws", used);

    /* write and read back */
    char path[128];
    snprintf(path, sizeof path, "/tmp/test_infbench_%d.jsonl", (int)getpid());
    CHECK(infb_write_jsonl(path, a) == 0, "write");
    json_t *back = read_jsonl(path);
    CHECK(back && json_equal(back, a), "read back");
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    CHECK(access(tmp, F_OK) != 0, "temporary file left");
    infb_data *dd = infb_open(path, INFB_KV_RETRIEVAL);
    CHECK(dd && infb_count(dd) == 3, "the written file reads as kv_retrieval");
    infb_close(dd);
    unlink(path);
    json_decref(back);
    /* the line format of dump_jsonl: ", " and ": " separators */
    char *line = json_dumps(json_array_get(a, 0), JSON_PRESERVE_ORDER);
    static const char head[] = "{\"id\": 0, \"context\": \"JSON data:\\n{";
    CHECK(line && !strncmp(line, head, strlen(head)), "%.40s", line ? line : "");
    CHECK(line && strstr(line, "\"options\": []}") != NULL, "options last");
    free(line);
    json_decref(a);
    json_decref(b);
    json_decref(c);
    json_decref(d);
    json_decref(e);
    json_decref(f);

    /* too short */
    static const infb_task tasks[] = {INFB_PASSKEY, INFB_NUMBER_STRING, INFB_KV_RETRIEVAL};
    for (int t = 0; t < 3; t++) {
        infb_gen_opts s = {.task = tasks[t], .length = 40, .samples = 2, .tok = tok};
        int lines;
        quiet_begin();
        json_t *x = infb_generate(&s, NULL);
        char *err = quiet_end(&lines);
        CHECK(x == NULL && lines == 1 && strstr(err, "too short") && strstr(err, infb_task_name(tasks[t])), "%s", err);
        free(err);
        json_decref(x);
    }
    infb_gen_opts s = {.task = INFB_CODE_RUN, .length = 4000, .samples = 2};
    int lines;
    quiet_begin();
    json_t *x = infb_generate(&s, NULL);
    char *err = quiet_end(&lines);
    CHECK(x == NULL && lines == 1 && strstr(err, "not a synthetic task"), "%s", err);
    free(err);
    tok_free(tok);
}

/* ------------------------------------------------------------ bad files */

static void expect_open_error(const char *content, infb_task task, const char *want) {
    char path[128];
    snprintf(path, sizeof path, "/tmp/test_infbench_bad_%d.jsonl", (int)getpid());
    write_file(path, content);
    int lines;
    quiet_begin();
    infb_data *d = infb_open(path, task);
    char *err = quiet_end(&lines);
    char full[512];
    snprintf(full, sizeof full, "evalctl: %s:%s", path, want);
    CHECK(d == NULL && lines == 1 && strncmp(err, full, strlen(full)) == 0, "want '%s', got '%s'", full, err);
    free(err);
    infb_close(d);
    unlink(path);
}

static void test_bad_files(void) {
    const char *ok = "{\"id\": 0, \"context\": \"c\", \"input\": \"i\", \"answer\": [\"1\"], \"options\": []}\n";
    char buf[1024];
    snprintf(buf, sizeof buf, "%s{\"context\": \"c\", \n", ok);
    expect_open_error(buf, INFB_PASSKEY, "2: invalid JSON");
    snprintf(buf, sizeof buf, "%s\n%s{\"input\": \"i\"}\n", ok, ok);
    expect_open_error(buf, INFB_PASSKEY, "4: missing field \"context\"");
    snprintf(buf, sizeof buf, "%s{\"context\": \"c\"}\n", ok);
    expect_open_error(buf, INFB_KV_RETRIEVAL, "2: missing field \"input\"");
    expect_open_error("{\"context\": 5, \"input\": \"i\"}\n", INFB_PASSKEY, "1: field \"context\" must be a string");
    expect_open_error("[1, 2]\n", INFB_MATH_CALC, "1: the record is not a JSON object");
    expect_open_error("{\"context\": \"c\", \"input\": \"q\", \"options\": [\"a\", \"b\"]}\n", INFB_LONGBOOK_CHOICE_ENG,
                      "1: field \"options\" must be a list");
    expect_open_error("{\"context\": \"c\", \"input\": \"q\"}\n", INFB_CODE_DEBUG, "1: missing field \"options\"");
    expect_open_error("{\"context\": \"c\", \"input\": \"run func_1(x)\"}\n", INFB_CODE_RUN,
                      "1: field \"input\" has no call func_N(X)");
    expect_open_error("{\"context\": \"c\", \"input\": \"the max of\"}\n", INFB_MATH_FIND,
                      "1: field \"input\" has no \"The ... of\"");
    expect_open_error("{\"context\": \"c\"} x\n", INFB_MATH_CALC, "1: invalid JSON");
    /* longbook_sum_eng does not read input; blank lines and CRLF are fine */
    char path[128];
    snprintf(path, sizeof path, "/tmp/test_infbench_ok_%d.jsonl", (int)getpid());
    write_file(path, "\n{\"context\": \"a book\"}\r\n   \n{\"context\": \"b\", \"extra\": 1}");
    infb_data *d = infb_open(path, INFB_LONGBOOK_SUM_ENG);
    CHECK(d && infb_count(d) == 2, "two records");
    if (d) {
        char where[256];
        char want[200];
        snprintf(want, sizeof want, "%s:4", path);
        CHECK_EQ_STR(infb_where(d, 1, where, sizeof where), want);
        size_t n;
        char *p = infb_prompt(d, 1, INFB_TPL_OPEN, &n);
        CHECK(p && !strcmp(p, "Summarize the book below.\n\nb\n\nSummary:"), "%s", p);
        free(p);
        /* the kimi template of longbook_sum_eng raises KeyError in Python */
        int lines;
        quiet_begin();
        p = infb_prompt(d, 0, INFB_TPL_KIMI, &n);
        char *err = quiet_end(&lines);
        CHECK(p == NULL && lines == 1 && strstr(err, ":2: the official kimi template of longbook_sum_eng raises "
                                                     "KeyError: 'file'"), "%s", err);
        free(err);
        free(p);
    }
    infb_close(d);
    unlink(path);
    int lines;
    quiet_begin();
    d = infb_open("/nonexistent/infbench.jsonl", INFB_PASSKEY);
    char *err = quiet_end(&lines);
    CHECK(d == NULL && lines == 1 && strstr(err, "/nonexistent/infbench.jsonl"), "%s", err);
    free(err);
}

int main(void) {
    test_tables();
    test_prompts();
    test_truncation();
    test_official_synth();
    test_generate();
    test_bad_files();
    return test_done("infbench");
}
