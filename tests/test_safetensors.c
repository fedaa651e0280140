/* test_safetensors.c - the safetensors reader against files written by the
 * safetensors package (tools/gen_hf_fixtures.py): every tensor's dtype, shape and
 * bytes as the package recorded them; directories with and without an index; and
 * one corrupt file or directory per failure case, each of which must fail with
 * exactly one error line naming it. */
#include "test.h"

#include "quant.h"
#include "safetensors.h"
#include "util.h"

#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ helpers */

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* 1 when the n bytes at p equal the hex string. */
static int bytes_equal_hex(const void *p, size_t n, const char *hex) {
    if (strlen(hex) != 2 * n) return 0;
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (((hexval(hex[2 * i]) << 4) | hexval(hex[2 * i + 1])) != b[i]) return 0;
    return 1;
}

static int expected_type(const char *dtype) {
    if (strcmp(dtype, "F32") == 0) return QT_F32;
    if (strcmp(dtype, "F16") == 0) return QT_F16;
    if (strcmp(dtype, "BF16") == 0) return QT_BF16;
    return -1;
}

/* Checks every tensor of the set against valid.expected.json. */
static void check_valid(const st_set *s, const json_t *exp, const char *file) {
    const json_t *tensors = json_object_get(exp, "tensors");
    CHECK(json_object_size(tensors) >= 10, "expectations missing");
    CHECK_EQ_INT(st_n_tensors(s), json_object_size(tensors));
    const char *name;
    json_t *e;
    json_object_foreach((json_t *)tensors, name, e) {
        const st_tensor *t = st_find(s, name);
        CHECK(t != NULL, "tensor %s not found", name);
        if (!t) continue;
        const char *dtype = json_string_value(json_object_get(e, "dtype"));
        CHECK_EQ_STR(t->name, name);
        CHECK_EQ_STR(t->dtype, dtype);
        CHECK_EQ_INT(t->type, expected_type(dtype));
        CHECK_EQ_STR(t->file, file);
        const json_t *shape = json_object_get(e, "shape");
        int nd = (int)json_array_size(shape);
        CHECK_EQ_INT(t->n_dims, nd);
        for (int d = 0; d < 4; d++) {
            /* ggml order: ne[0] is the file's last dim; unused dims are 1 */
            long long want = d < nd ? json_integer_value(json_array_get(shape, (size_t)(nd - 1 - d))) : 1;
            CHECK(t->ne[d] == want, "%s ne[%d] = %lld, want %lld", name, d, (long long)t->ne[d], want);
        }
        CHECK_EQ_INT(t->nbytes, json_integer_value(json_object_get(e, "nbytes")));
        CHECK(bytes_equal_hex(t->data, t->nbytes, json_string_value(json_object_get(e, "hex"))),
              "%s: bytes differ from the package's", name);
        const json_t *vals = json_object_get(e, "values");
        for (size_t i = 0; vals && i < json_array_size(vals); i++) {
            float f;
            memcpy(&f, (const char *)t->data + 4 * i, 4);
            CHECK(f == (float)json_real_value(json_array_get(vals, i)), "%s[%zu] = %g", name, i, f);
        }
    }
    /* iteration reaches every tensor once, and lookups of absent names fail */
    int seen = 0;
    for (int i = 0; i < st_n_tensors(s); i++) {
        const st_tensor *t = st_tensor_at(s, i);
        seen += t && st_find(s, t->name) == t;
    }
    CHECK_EQ_INT(seen, st_n_tensors(s));
    CHECK(st_tensor_at(s, -1) == NULL && st_tensor_at(s, st_n_tensors(s)) == NULL, "out-of-range index");
    CHECK(st_find(s, "absent") == NULL && st_find(s, "") == NULL, "found an absent name");
    CHECK(st_find(s, "__metadata__") == NULL, "metadata taken for a tensor");
}

static json_t *load_expected(const char *path) {
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    if (!j) fprintf(stderr, "%s: %s\n", path, err.text);
    return j;
}

/* A failing open must print exactly one "evalctl: FILE: problem" line; `name`
 * must appear in it, after FILE when in_problem is set (fixture names say what
 * is wrong with them, so a match in FILE would prove nothing). */
static void expect_open_fails_at(const char *path, const char *name, int in_problem) {
    test_capture_begin();
    st_set *s = st_open(path);
    char *err = test_capture_end();
    CHECK(s == NULL, "%s opened", path);
    st_close(s);
    CHECK(test_count_lines(err) == 1 && strncmp(err, "evalctl: ", 9) == 0, "%s: want one error line, got: %s", path,
          err);
    const char *problem = strstr(err + (strlen(err) > 9 ? 9 : 0), ": ");
    CHECK(strstr(in_problem ? (problem ? problem : "") : err, name) != NULL, "%s: error does not say %s: %s", path,
          name, err);
    free(err);
}

static void expect_open_fails(const char *path, const char *name) {
    expect_open_fails_at(path, name, 0);
}

/* -------------------------------------------------------------------- tests */

static void test_valid_file(void) {
    json_t *exp = load_expected(FIXTURE("safetensors/valid.expected.json"));
    CHECK(exp != NULL, "no expectations");
    if (!exp) return;
    const char *path = FIXTURE("safetensors/valid.safetensors");
    st_set *s = st_open(path);
    CHECK(s != NULL, "cannot open %s", path);
    if (s) check_valid(s, exp, path);
    st_close(s);

    /* the same bytes through the buffer entry point */
    size_t len;
    char *buf = ev_read_file(path, &len);
    CHECK(buf != NULL, "read %s", path);
    s = buf ? st_open_buffer(buf, len, "mem") : NULL;
    CHECK(s != NULL, "st_open_buffer failed");
    if (s) check_valid(s, exp, "mem");
    st_close(s);

    /* every truncation cuts into the data (the last tensor ends at EOF) or the
     * header: none may open, none may read past the shortened buffer */
    int opened = 0;
    test_capture_begin();
    for (size_t n = 0; buf && n < len; n++) {
        char *copy = xmalloc(n ? n : 1);
        memcpy(copy, buf, n);
        st_set *t = st_open_buffer(copy, n, "cut");
        opened += t != NULL;
        st_close(t);
        free(copy);
    }
    char *err = test_capture_end();
    CHECK_EQ_INT(opened, 0);
    CHECK_EQ_INT(test_count_lines(err), len);
    free(err);

    /* trailing bytes after the last tensor are tolerated (readers index by offset) */
    if (buf) {
        char *more = xmalloc(len + 7);
        memcpy(more, buf, len);
        memset(more + len, 0xAB, 7);
        st_set *t = st_open_buffer(more, len + 7, "padded");
        CHECK(t != NULL, "trailing bytes refused");
        if (t) check_valid(t, exp, "padded");
        st_close(t);
        free(more);
    }
    free(buf);
    json_decref(exp);
    st_close(NULL);
    CHECK(st_n_tensors(NULL) == 0 && st_find(NULL, "x") == NULL, "NULL set");
}

static float f32_at(const st_tensor *t, int i) {
    float f;
    memcpy(&f, (const char *)t->data + 4 * i, 4);
    return f;
}

static void test_directories(void) {
    st_set *s = st_open(FIXTURE("safetensors/index_ok"));
    CHECK(s != NULL, "index_ok");
    if (s) {
        CHECK_EQ_INT(st_n_tensors(s), 3);
        const st_tensor *a = st_find(s, "a"), *b = st_find(s, "b"), *c = st_find(s, "c");
        CHECK(a && b && c, "index tensors missing");
        if (a && b && c) {
            CHECK_EQ_STR(a->file, FIXTURE("safetensors/index_ok/s1.safetensors"));
            CHECK_EQ_STR(b->file, FIXTURE("safetensors/index_ok/s2.safetensors"));
            CHECK(b->file == c->file, "one shard, one file string");
            CHECK(f32_at(a, 1) == 1.0f && f32_at(b, 0) == 2.0f && f32_at(c, 1) == 3.0f, "index values");
        }
    }
    st_close(s);

    s = st_open(FIXTURE("safetensors/single_dir"));
    CHECK(s != NULL, "single_dir");
    if (s) {
        const st_tensor *x = st_find(s, "x");
        CHECK(x && f32_at(x, 0) == 7.0f && x->type == QT_F32, "single_dir x");
        CHECK_EQ_INT(st_n_tensors(s), 1);
    }
    st_close(s);

    /* the HF fixture split in two shards opens through its index */
    s = st_open(FIXTURE("hf/tiny-qwen2"));
    CHECK(s != NULL, "tiny-qwen2");
    if (s) {
        const st_tensor *t = st_find(s, "lm_head.weight");
        CHECK(t && strstr(t->file, "model-00002-of-00002") != NULL, "lm_head shard");
        t = st_find(s, "model.embed_tokens.weight");
        CHECK(t && strstr(t->file, "model-00001-of-00002") != NULL && t->type == QT_BF16, "embed shard");
    }
    st_close(s);

    expect_open_fails(FIXTURE("safetensors"), "no model.safetensors");
    expect_open_fails(FIXTURE("safetensors/does-not-exist.safetensors"), "does-not-exist");
}

/* Every bad_* fixture (file or directory) must fail with one line naming it. */
static void test_bad_fixtures(void) {
    DIR *d = opendir(FIXTURE("safetensors"));
    CHECK(d != NULL, "fixture dir");
    if (!d) return;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "bad_", 4) != 0) continue;
        char *p = ev_path_join(FIXTURE("safetensors"), e->d_name);
        expect_open_fails(p, e->d_name);
        free(p);
        n++;
    }
    closedir(d);
    CHECK(n >= 34, "only %d bad fixtures", n);
}

/* Specific messages for a few cases, so a file failing for the wrong reason shows. */
static void test_messages(void) {
    static const struct {
        const char *file, *says;
    } cases[] = {
        {"bad_header_huge.safetensors", "exceeds the limit"},
        {"bad_header_past_end.safetensors", "runs past the end"},
        {"bad_header_not_json.safetensors", "not valid JSON"},
        {"bad_unknown_dtype.safetensors", "unknown dtype 'F12'"},
        {"bad_five_dims.safetensors", "5 dimensions"},
        {"bad_offsets_reversed.safetensors", "[16, 0] are reversed"},
        {"bad_offsets_past_end.safetensors", "past the 16-byte data section"},
        {"bad_size_mismatch.safetensors", "needs 16"},
        {"bad_overlap.safetensors", "'a' and 'b' overlap"},
        {"bad_duplicate_names.safetensors", "duplicate object key"},
        {"bad_missing_dtype.safetensors", "missing dtype"},
        {"bad_index_dotdot", "names '../valid.safetensors', which is not a file in this directory"},
        {"bad_index_missing_shard", "No such file"},
        {"bad_index_missing_tensor", "'z'"},
        {"bad_index_wrong_shard", "'a' listed in the index is not in s2"},
        {"bad_index_duplicate", "also appears in"},
        {"bad_truncated_header.safetensors", "3 bytes is too short"},
        {"bad_header_not_object.safetensors", "header is not a JSON object"},
        {"bad_negative_shape.safetensors", "shape[0] is not a non-negative integer"},
        {"bad_float_shape.safetensors", "shape[0] is not a non-negative integer"},
        {"bad_huge_shape.safetensors", "shape is too large"},
        {"bad_offsets_not_pair.safetensors", "not a pair"},
        {"bad_metadata_value.safetensors", "__metadata__ value 'x' is not a string"},
        {"bad_index_slash", "names 'sub/s1.safetensors'"},
        {"bad_index_empty_weight_map", "\"weight_map\" is empty"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *p = ev_path_join(FIXTURE("safetensors"), cases[i].file);
        expect_open_fails_at(p, cases[i].says, 1);
        free(p);
    }
}

int main(void) {
    test_valid_file();
    test_directories();
    test_bad_fixtures();
    test_messages();
    return test_done("safetensors");
}
