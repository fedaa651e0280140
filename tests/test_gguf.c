/* test_gguf.c - the GGUF reader against files written by the gguf Python package
 * and by hand (tools/gen_gguf_fixtures.py, expectations in expect.json).
 *
 * Valid files: every key, type and value (nested arrays walked element by
 * element), every tensor's shape, type and dequantised values (bit-exact against
 * gguf.quants), through both gguf_open and gguf_open_mem. Bad files: NULL, and
 * exactly one error line "evalctl: FILE: ..." containing the expected reason.
 * Every prefix and every single-byte corruption of small valid files must fail
 * or parse cleanly without crashing (the suite also runs under ASan/UBSan).
 * The real SmolLM2 model is checked when models/ has it. */
#include "gguf.h"
#include "quant.h"
#include "test.h"
#include "util.h"

#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>

#define DIR "tests/fixtures/gguf/"

/* "a|b" matches when either alternative is a substring; "" matches anything. */
static int matches(const char *text, const char *alts) {
    if (!*alts) return 1;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", alts);
    for (char *save = NULL, *p = strtok_r(buf, "|", &save); p; p = strtok_r(NULL, "|", &save))
        if (strstr(text, p)) return 1;
    return 0;
}

/* ------------------------------------------------------------- value checks */

static uint32_t fbits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static void check_value(const gguf_value *v, int type, json_t *e, const char *key);

static void check_number(const gguf_value *v, int type, json_t *e, const char *key) {
    if (type == GGUF_T_FLOAT32 || type == GGUF_T_FLOAT64) {
        double got;
        CHECK(gguf_value_float(v, &got) == 0, "%s: not a float", key);
        if (json_is_string(e)) {
            const char *s = json_string_value(e);
            if (strcmp(s, "nan") == 0) CHECK(isnan(got), "%s: want nan, got %g", key, got);
            else CHECK(isinf(got) && (got < 0) == (s[0] == '-'), "%s: want %s, got %g", key, s, got);
        } else {
            double want = json_number_value(e);
            CHECK(got == want && signbit(got) == signbit(want), "%s: got %.17g want %.17g", key, got, want);
        }
        int64_t dummy;
        CHECK(gguf_value_int(v, &dummy) != 0, "%s: a float must not read as an integer", key);
        return;
    }
    if (type == GGUF_T_BOOL) {
        int64_t got;
        CHECK(json_is_boolean(e), "%s: expectation not a bool", key);
        CHECK(gguf_value_int(v, &got) == 0 && got == (json_is_true(e) ? 1 : 0), "%s: bool", key);
        return;
    }
    if (json_is_string(e)) { /* "u64:N", beyond int64 */
        unsigned long long want = strtoull(json_string_value(e) + 4, NULL, 10);
        uint64_t got;
        memcpy(&got, v->p, 8);
        CHECK(type == GGUF_T_UINT64 && got == want, "%s: u64 %llu vs %llu", key, (unsigned long long)got, want);
        int64_t i;
        CHECK(gguf_value_int(v, &i) != 0, "%s: u64 beyond int64 must not convert", key);
        double d;
        CHECK(gguf_value_float(v, &d) == 0 && d == (double)want, "%s: u64 as double", key);
        return;
    }
    int64_t got;
    CHECK(gguf_value_int(v, &got) == 0, "%s: not an integer", key);
    CHECK(got == (int64_t)json_integer_value(e), "%s: %lld vs %lld", key, (long long)got,
          (long long)json_integer_value(e));
    double d;
    CHECK(gguf_value_float(v, &d) == 0 && d == (double)got, "%s: integer as double", key);
}

static void check_value(const gguf_value *v, int type, json_t *e, const char *key) {
    CHECK_EQ_INT(v->type, type);
    if (v->type != type) return;
    if (type == GGUF_T_ARRAY) {
        int et = (int)json_integer_value(json_object_get(e, "elem"));
        json_t *items = json_object_get(e, "items");
        CHECK_EQ_INT(v->elem_type, et);
        CHECK_EQ_INT(v->n, json_array_size(items));
        if (v->elem_type != et || v->n != json_array_size(items)) return;
        for (size_t i = 0; i < v->n; i++) {
            gguf_value sub;
            CHECK(gguf_value_elem(v, i, &sub) == 0, "%s[%zu]", key, i);
            check_value(&sub, et, json_array_get(items, i), key);
        }
        gguf_value none;
        CHECK(gguf_value_elem(v, v->n, &none) != 0, "%s: element past the end", key);
        return;
    }
    if (type == GGUF_T_STRING) {
        size_t n = json_string_length(e);
        CHECK(v->n == n && memcmp(v->p, json_string_value(e), n) == 0, "%s: string differs", key);
        return;
    }
    check_number(v, type, e, key);
}

/* The named getters agree with the generic walk. */
static void check_getters(const gguf_ctx *g, const char *key, int type, json_t *e) {
    if (type == GGUF_T_STRING) {
        const char *s;
        size_t n;
        CHECK(gguf_get_str(g, key, &s, &n) == 0 && n == json_string_length(e) && memcmp(s, json_string_value(e), n) == 0,
              "gguf_get_str %s", key);
        char *d = gguf_get_strdup(g, key);
        CHECK(d && strlen(d) == strnlen(json_string_value(e), n) && memcmp(d, s, strlen(d)) == 0, "strdup %s", key);
        free(d);
        int64_t i;
        CHECK(gguf_get_int(g, key, &i) != 0, "a string is not an int: %s", key);
        CHECK(gguf_get_arr(g, key, NULL, NULL) != 0, "a string is not an array: %s", key);
        return;
    }
    if (type == GGUF_T_ARRAY) {
        int et;
        uint64_t n;
        json_t *items = json_object_get(e, "items");
        CHECK(gguf_get_arr(g, key, &et, &n) == 0 && n == json_array_size(items), "gguf_get_arr %s", key);
        CHECK(gguf_get_str(g, key, &(const char *){0}, &(size_t){0}) != 0, "an array is not a string: %s", key);
        for (uint64_t i = 0; i < n; i++) {
            json_t *x = json_array_get(items, i);
            if (et == GGUF_T_STRING) {
                const char *s;
                size_t len;
                CHECK(gguf_arr_str(g, key, i, &s, &len) == 0 && len == json_string_length(x) &&
                          memcmp(s, json_string_value(x), len) == 0,
                      "gguf_arr_str %s[%llu]", key, (unsigned long long)i);
            } else if (et == GGUF_T_FLOAT32 || et == GGUF_T_FLOAT64) {
                double d;
                CHECK(gguf_arr_float(g, key, i, &d) == 0, "gguf_arr_float %s", key);
                if (json_is_number(x)) CHECK(d == json_number_value(x), "gguf_arr_float %s", key);
            } else if (et != GGUF_T_ARRAY && json_is_integer(x)) {
                int64_t v;
                CHECK(gguf_arr_int(g, key, i, &v) == 0 && v == (int64_t)json_integer_value(x), "gguf_arr_int %s", key);
            } else if (et == GGUF_T_BOOL) {
                int64_t v;
                CHECK(gguf_arr_int(g, key, i, &v) == 0 && v == json_is_true(x), "gguf_arr_int bool %s", key);
            }
        }
        const char *s;
        size_t len;
        int64_t v;
        CHECK(gguf_arr_str(g, key, n, &s, &len) != 0 && gguf_arr_int(g, key, n, &v) != 0, "index past the end");
        return;
    }
    if (type == GGUF_T_FLOAT32 || type == GGUF_T_FLOAT64) {
        double d;
        CHECK(gguf_get_float(g, key, &d) == 0, "gguf_get_float %s", key);
        if (json_is_number(e)) CHECK(d == json_number_value(e), "gguf_get_float %s", key);
        return;
    }
    if (json_is_integer(e) || json_is_boolean(e)) {
        int64_t v;
        int64_t want = json_is_boolean(e) ? json_is_true(e) : (int64_t)json_integer_value(e);
        CHECK(gguf_get_int(g, key, &v) == 0 && v == want, "gguf_get_int %s", key);
    }
}

static void check_tensors(const gguf_ctx *g, json_t *tensors, const char *file) {
    CHECK_EQ_INT(gguf_n_tensors(g), json_array_size(tensors));
    for (size_t i = 0; i < json_array_size(tensors) && (int)i < gguf_n_tensors(g); i++) {
        json_t *et = json_array_get(tensors, i);
        const gguf_tensor *t = gguf_tensor_at(g, (int)i);
        const char *name = json_string_value(json_object_get(et, "name"));
        CHECK_EQ_STR(t->name, name);
        CHECK(gguf_find_tensor(g, name) == t, "%s: find %s", file, name);
        CHECK_EQ_INT(t->type, json_integer_value(json_object_get(et, "type")));
        CHECK_EQ_INT(t->n_dims, json_integer_value(json_object_get(et, "n_dims")));
        json_t *ne = json_object_get(et, "ne");
        int64_t count = 1;
        for (int d = 0; d < 4; d++) {
            int64_t want = d < (int)json_array_size(ne) ? json_integer_value(json_array_get(ne, d)) : 1;
            CHECK(t->ne[d] == want, "%s: %s ne[%d] = %lld, want %lld", file, name, d, (long long)t->ne[d],
                  (long long)want);
            count *= t->ne[d];
        }
        CHECK_EQ_INT(t->nbytes, qt_row_bytes(t->type, t->ne[0]) * (size_t)(count / t->ne[0]));
        json_t *vals = json_object_get(et, "values");
        CHECK_EQ_INT(json_array_size(vals), count);
        if ((int64_t)json_array_size(vals) != count) continue;
        float *y = xmalloc((size_t)count * sizeof *y);
        qt_dequant(t->type, t->data, y, count);
        int bad = 0;
        for (int64_t k = 0; k < count; k++) {
            float want = (float)json_number_value(json_array_get(vals, (size_t)k));
            if (fbits(y[k]) != fbits(want)) {
                if (bad < 3) fprintf(stderr, "  %s %s[%lld]: %.9g vs %.9g\n", file, name, (long long)k, y[k], want);
                bad++;
            }
        }
        CHECK(bad == 0, "%s: tensor %s: %d values differ from gguf.quants", file, name, bad);
        free(y);
    }
    CHECK(gguf_find_tensor(g, "no.such.tensor") == NULL, "absent tensor");
    CHECK(gguf_tensor_at(g, -1) == NULL && gguf_tensor_at(g, gguf_n_tensors(g)) == NULL, "tensor index range");
}

static void check_valid(json_t *f) {
    const char *file = json_string_value(json_object_get(f, "file"));
    char path[512];
    snprintf(path, sizeof path, DIR "%s", file);
    gguf_ctx *g = gguf_open(path);
    CHECK(g != NULL, "%s did not open", path);
    if (!g) return;
    CHECK_EQ_STR(gguf_path(g), path);
    CHECK_EQ_INT(gguf_version(g), json_integer_value(json_object_get(f, "version")));
    CHECK_EQ_INT(gguf_alignment(g), json_integer_value(json_object_get(f, "alignment")));
    CHECK_EQ_INT(gguf_n_shards(g), json_integer_value(json_object_get(f, "n_shards")));
    json_t *kvs = json_object_get(f, "kvs");
    CHECK_EQ_INT(gguf_n_kv(g), json_array_size(kvs));
    for (size_t i = 0; i < json_array_size(kvs) && (int)i < gguf_n_kv(g); i++) {
        json_t *e = json_array_get(kvs, i);
        const char *key = json_string_value(json_object_get(e, "key"));
        int type = (int)json_integer_value(json_object_get(e, "type"));
        CHECK_EQ_STR(gguf_kv_key(g, (int)i), key);
        CHECK_EQ_INT(gguf_kv_type(g, (int)i), type);
        CHECK_EQ_INT(gguf_find_key(g, key), i);
        gguf_value v;
        CHECK(gguf_kv_value(g, (int)i, &v) == 0, "kv %zu", i);
        check_value(&v, type, json_object_get(e, "value"), key);
        check_getters(g, key, type, json_object_get(e, "value"));
    }
    CHECK(gguf_find_key(g, "no.such.key") == -1 && gguf_kv_key(g, -1) == NULL && gguf_kv_key(g, gguf_n_kv(g)) == NULL,
          "absent keys");
    check_tensors(g, json_object_get(f, "tensors"), file);
    gguf_close(g);

    /* the same bytes through the in-memory entry point (first shard only) */
    if (json_integer_value(json_object_get(f, "n_shards")) == 1) {
        size_t len;
        char *buf = ev_read_file(path, &len);
        gguf_ctx *m = buf ? gguf_open_mem(buf, len, path) : NULL;
        CHECK(m != NULL, "%s: gguf_open_mem failed", path);
        if (m) {
            CHECK_EQ_INT(gguf_n_kv(m), json_array_size(kvs));
            check_tensors(m, json_object_get(f, "tensors"), file);
        }
        gguf_close(m);
        free(buf);
    }
}

static void check_bad(json_t *b) {
    const char *file = json_string_value(json_object_get(b, "file"));
    const char *want = json_string_value(json_object_get(b, "error"));
    char path[512];
    snprintf(path, sizeof path, DIR "%s", file);
    CHECK(ev_is_file(path), "%s missing", path);
    test_capture_begin();
    gguf_ctx *g = gguf_open(path);
    char *err = test_capture_end();
    CHECK(g == NULL, "%s opened but should not", path);
    gguf_close(g);
    CHECK(test_count_lines(err) == 1, "%s: %d error lines: %s", path, test_count_lines(err), err);
    CHECK(strncmp(err, "evalctl: " DIR, strlen("evalctl: " DIR)) == 0, "%s: message does not name the file: %s", path,
          err);
    CHECK(matches(err, want), "%s: error \"%s\" lacks \"%s\"", path, err, want);
    free(err);
    /* split checks need the file name; every other defect must fail from memory too */
    if (!strstr(file, "split")) {
        size_t len;
        char *buf = ev_read_file(path, &len);
        test_capture_begin();
        gguf_ctx *m = gguf_open_mem(buf, len, file);
        char *e2 = test_capture_end();
        CHECK(m == NULL && test_count_lines(e2) == 1, "%s: gguf_open_mem: %s", file, e2);
        gguf_close(m);
        free(e2);
        free(buf);
    }
}

/* Opens a parsed image and reads everything in it, so ASan sees any stray read. */
static void touch_all(const gguf_ctx *g) {
    for (int i = 0; i < gguf_n_kv(g); i++) {
        gguf_value v;
        gguf_kv_value(g, i, &v);
        if (v.type == GGUF_T_ARRAY)
            for (uint64_t k = 0; k < v.n && k < 64; k++) {
                gguf_value e;
                gguf_value_elem(&v, k, &e);
            }
    }
    for (int i = 0; i < gguf_n_tensors(g); i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        float *y = xmalloc((size_t)t->ne[0] * sizeof *y);
        qt_dequant(t->type, t->data, y, t->ne[0]);
        free(y);
    }
}

/* Every prefix of a file whose last tensor ends at EOF fails with one line;
 * every single-byte corruption fails with one line or parses cleanly. */
static void sweep(const char *file) {
    size_t len;
    char *buf = ev_read_file(file, &len);
    CHECK(buf != NULL, "%s", file);
    if (!buf) return;
    int opened = 0, lines_ok = 1;
    char *copy = xmalloc(len);
    for (size_t cut = 0; cut < len; cut++) {
        memcpy(copy, buf, cut);
        test_capture_begin();
        gguf_ctx *g = gguf_open_mem(copy, cut, "cut");
        char *e = test_capture_end();
        if (g) opened++;
        if (test_count_lines(e) != 1) lines_ok = 0;
        gguf_close(g);
        free(e);
    }
    CHECK(opened == 0, "%s: %d truncated prefixes opened", file, opened);
    CHECK(lines_ok, "%s: a truncation did not give exactly one error line", file);
    int fails = 0, oks = 0;
    lines_ok = 1;
    for (size_t i = 0; i < len; i++)
        for (int x = 0; x < 3; x++) {
            static const unsigned char flips[] = {0xff, 0x01, 0x80};
            memcpy(copy, buf, len);
            copy[i] ^= (char)flips[x];
            test_capture_begin();
            gguf_ctx *g = gguf_open_mem(copy, len, "flip");
            char *e = test_capture_end();
            if (g) {
                oks++;
                touch_all(g);
                if (test_count_lines(e) != 0) lines_ok = 0;
            } else {
                fails++;
                if (test_count_lines(e) != 1) lines_ok = 0;
            }
            gguf_close(g);
            free(e);
        }
    CHECK(fails > 0 && oks > 0, "%s: flips: %d failed, %d opened", file, fails, oks);
    CHECK(lines_ok, "%s: a corrupted file gave other than one error line", file);
    free(copy);
    free(buf);
}

static void check_misc(void) {
    gguf_close(NULL);
    test_capture_begin();
    gguf_ctx *g = gguf_open(DIR "does-not-exist.gguf");
    gguf_ctx *d = gguf_open("tests/fixtures/gguf");
    gguf_ctx *m = gguf_open_mem(NULL, 0, NULL);
    char *e = test_capture_end();
    CHECK(g == NULL && d == NULL && m == NULL, "nonexistent, directory, empty");
    CHECK_EQ_INT(test_count_lines(e), 3);
    CHECK(strstr(e, "does-not-exist.gguf") != NULL, "names the missing file");
    free(e);

    g = gguf_open(DIR "valid_v3.gguf");
    CHECK(g != NULL, "valid_v3");
    if (!g) return;
    int64_t i;
    double x;
    CHECK(gguf_get_int(g, "t.u64", &i) != 0, "u64 max does not fit int64");
    CHECK(gguf_get_int(g, "t.u64_small", &i) == 0 && i == 42, "small u64");
    CHECK(gguf_get_int(g, "t.f32", &i) != 0, "float is not int");
    CHECK(gguf_get_float(g, "t.i8", &x) == 0 && x == -128, "int as float");
    CHECK(gguf_get_int(g, "t.bool_t", &i) == 0 && i == 1, "bool as int");
    CHECK(gguf_get_int(g, "absent", &i) == -1 && gguf_get_float(g, "absent", &x) == -1, "absent");
    CHECK(gguf_get_strdup(g, "t.u8") == NULL && gguf_get_strdup(g, "absent") == NULL, "strdup of non-strings");
    char *s = gguf_get_strdup(g, "general.architecture");
    CHECK(s && strcmp(s, "llama") == 0, "architecture");
    free(s);
    CHECK(gguf_arr_int(g, "a.u64", 1, &i) != 0, "u64 array element beyond int64");
    CHECK(gguf_arr_int(g, "a.u64", 2, &i) != 0 && gguf_arr_float(g, "a.u64", 2, &x) == 0 && x == 0x1p63, "2^63");
    CHECK(gguf_arr_int(g, "n.i32", 0, &i) != 0, "nested array element is not an int");
    CHECK(gguf_arr_str(g, "a.i32", 0, &(const char *){0}, &(size_t){0}) != 0, "ints are not strings");
    CHECK(gguf_kv_type(g, -1) == -1 && gguf_kv_value(g, 9999, &(gguf_value){0}) == -1, "kv index range");
    CHECK_EQ_STR(gguf_type_name(GGUF_T_FLOAT64), "float64");
    CHECK_EQ_STR(gguf_type_name(13), "?");
    gguf_close(g);
}

static void check_model(void) {
    json_error_t jerr;
    json_t *m = json_load_file(DIR "model.json", 0, &jerr);
    const char *path = m ? json_string_value(json_object_get(m, "path")) : NULL;
    if (!m || !ev_is_file(path)) {
        printf("test_gguf: model or model.json absent, real-model checks skipped\n");
        json_decref(m);
        return;
    }
    gguf_ctx *g = gguf_open(path);
    CHECK(g != NULL, "%s did not open", path);
    if (!g) {
        json_decref(m);
        return;
    }
    CHECK_EQ_INT(gguf_n_tensors(g), 272);
    CHECK_EQ_INT(gguf_n_tensors(g), json_integer_value(json_object_get(m, "n_tensors")));
    CHECK_EQ_INT(gguf_n_kv(g), 33);
    json_t *keys = json_object_get(m, "keys");
    CHECK_EQ_INT(gguf_n_kv(g), json_array_size(keys));
    for (size_t i = 0; i < json_array_size(keys) && (int)i < gguf_n_kv(g); i++)
        CHECK_EQ_STR(gguf_kv_key(g, (int)i), json_string_value(json_array_get(keys, i)));
    int64_t v;
    CHECK(gguf_get_int(g, "llama.block_count", &v) == 0 && v == 30, "block_count");
    double f;
    CHECK(gguf_get_float(g, "llama.rope.freq_base", &f) == 0 &&
              f == json_number_value(json_object_get(m, "rope_freq_base")),
          "rope.freq_base");
    int et;
    uint64_t n;
    CHECK(gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n) == 0 && et == GGUF_T_STRING &&
              n == (uint64_t)json_integer_value(json_object_get(m, "n_tokens")),
          "tokens");
    json_t *first = json_object_get(m, "first_tokens");
    for (size_t i = 0; i < json_array_size(first); i++) {
        const char *s;
        size_t len;
        const char *want = json_string_value(json_array_get(first, i));
        CHECK(gguf_arr_str(g, "tokenizer.ggml.tokens", i, &s, &len) == 0 && len == strlen(want) &&
                  memcmp(s, want, len) == 0,
              "token %zu", i);
    }
    CHECK(gguf_get_arr(g, "tokenizer.ggml.merges", &et, &n) == 0 &&
              n == (uint64_t)json_integer_value(json_object_get(m, "n_merges")),
          "merges");
    int counts[QT_COUNT] = {0};
    for (int i = 0; i < gguf_n_tensors(g); i++) counts[gguf_tensor_at(g, i)->type]++;
    CHECK(counts[QT_Q4_1] == 210 && counts[QT_Q8_0] == 1 && counts[QT_F32] == 61, "type counts %d %d %d",
          counts[QT_Q4_1], counts[QT_Q8_0], counts[QT_F32]);
    json_t *tc = json_object_get(m, "type_counts");
    CHECK_EQ_INT(counts[QT_Q4_1], json_integer_value(json_object_get(tc, "Q4_1")));
    json_t *rows = json_object_get(m, "rows");
    for (size_t r = 0; r < json_array_size(rows); r++) {
        json_t *row = json_array_get(rows, r);
        const char *name = json_string_value(json_object_get(row, "tensor"));
        const gguf_tensor *t = gguf_find_tensor(g, name);
        CHECK(t != NULL, "tensor %s", name);
        if (!t) continue;
        CHECK_EQ_INT(t->type, json_integer_value(json_object_get(row, "type")));
        int64_t ri = json_integer_value(json_object_get(row, "row"));
        json_t *vals = json_object_get(row, "values");
        CHECK_EQ_INT(t->ne[0], json_array_size(vals));
        if (t->ne[0] != (int64_t)json_array_size(vals)) continue;
        size_t rb = qt_row_bytes(t->type, t->ne[0]);
        float *y = xmalloc((size_t)t->ne[0] * sizeof *y);
        qt_dequant(t->type, (const uint8_t *)t->data + (size_t)ri * rb, y, t->ne[0]);
        int bad = 0;
        for (int64_t k = 0; k < t->ne[0]; k++)
            bad += fbits(y[k]) != fbits((float)json_number_value(json_array_get(vals, (size_t)k)));
        CHECK(bad == 0, "%s row %lld: %d values differ from gguf.quants", name, (long long)ri, bad);
        free(y);
    }
    gguf_close(g);
    json_decref(m);
}

int main(void) {
    json_error_t jerr;
    json_t *ex = json_load_file(DIR "expect.json", JSON_ALLOW_NUL, &jerr);
    CHECK(ex != NULL, "expect.json: %s", jerr.text);
    if (!ex) return test_done("gguf");
    json_t *valid = json_object_get(ex, "valid"), *bad = json_object_get(ex, "bad");
    CHECK(json_array_size(valid) >= 6 && json_array_size(bad) >= 40, "expect.json lists %zu valid, %zu bad",
          json_array_size(valid), json_array_size(bad));
    for (size_t i = 0; i < json_array_size(valid); i++) check_valid(json_array_get(valid, i));
    for (size_t i = 0; i < json_array_size(bad); i++) check_bad(json_array_get(bad, i));
    json_decref(ex);
    sweep(DIR "valid_base.gguf");
    sweep(DIR "valid_hand.gguf");
    check_misc();
    check_model();
    return test_done("gguf");
}
