/* test_pg19.c - PG19 books read from JSONL (plain and gzipped), .txt,
 * .txt.gz and directories, compared with what Python's json/gzip read and the
 * SmolLM2 tokenizer counts (tools/gen_infbench_fixtures.py); the windows of
 * the ppl protocol; bad input. */
#include "pg19.h"
#include "test.h"
#include "util.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIR_ "tests/fixtures/pg19/"

static int saved_fd = -1;
static char err_path[64];
static void quiet_begin(void) {
    fflush(stderr);
    snprintf(err_path, sizeof err_path, "/tmp/test_pg19_err.%d", (int)getpid());
    int fd = open(err_path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    saved_fd = dup(2);
    dup2(fd, 2);
    close(fd);
}
static char *quiet_end(int *lines) {
    fflush(stderr);
    dup2(saved_fd, 2);
    close(saved_fd);
    size_t n;
    char *t = ev_read_file(err_path, &n);
    unlink(err_path);
    *lines = 0;
    for (size_t i = 0; t && i < n; i++) *lines += t[i] == '\n';
    return t ? t : xstrdup("");
}

static json_t *expected(void) {
    size_t len;
    char *text = ev_read_file(DIR_ "expected.jsonl", &len);
    json_t *arr = json_array();
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        json_array_append_new(arr, json_loads(l, 0, NULL));
    free(text);
    return arr;
}

/* Book b against expected row e; path is what pg19_open was given for a
 * JSONL source (its untitled books are named "path:LINE"). */
static void check_book(tok_tokenizer *tok, const pg19_book *b, const json_t *e, const char *jsonl_path) {
    const char *src = json_string_value(json_object_get(e, "source"));
    const json_t *text = json_object_get(e, "text");
    CHECK(b->len == json_string_length(text) && !memcmp(b->text, json_string_value(text), b->len), "%s: text", src);
    CHECK(b->text[b->len] == '\0', "NUL-terminated");
    const char *title = json_string_value(json_object_get(e, "title"));
    char want[512];
    const char *colon = strrchr(title, ':');
    if (jsonl_path && colon && !strncmp(title, "tests/fixtures/pg19/books.jsonl", 31))
        snprintf(want, sizeof want, "%s%s", jsonl_path, colon);
    else snprintf(want, sizeof want, "%s", title);
    CHECK_EQ_STR(b->title, want);
    int32_t *ids;
    size_t n;
    CHECK(pg19_tokenize(tok, b, &ids, &n) == 0, "tokenize");
    CHECK_EQ_INT(n, json_integer_value(json_object_get(e, "n_tokens")));
    free(ids);
}

static void test_sources(void) {
    tok_tokenizer *tok = tok_open_path("tests/fixtures/tok/smollm2");
    CHECK(tok != NULL, "tokenizer");
    if (!tok) return;
    json_t *exp = expected();
    CHECK_EQ_INT(json_array_size(exp), 6);
    static const char *const jsonl[] = {DIR_ "books.jsonl", DIR_ "books.jsonl.gz"};
    for (int k = 0; k < 2; k++) {
        pg19_books *b = pg19_open(jsonl[k]);
        CHECK(b && b->n == 4, "%s: 4 books", jsonl[k]);
        for (size_t i = 0; b && i < b->n && i < 4; i++) check_book(tok, &b->books[i], json_array_get(exp, i), jsonl[k]);
        if (b && b->n == 4) {
            CHECK(b->books[0].url && !strcmp(b->books[0].url, "http://www.gutenberg.org/ebooks/1"), "url");
            CHECK(b->books[0].date == NULL, "an integer date is not kept");
            CHECK(b->books[3].date && !strcmp(b->books[3].date, "1920"), "date");
            CHECK(b->books[3].url == NULL, "null url");
            char want[256];
            snprintf(want, sizeof want, "%s:4", jsonl[k]);
            CHECK_EQ_STR(b->books[2].source, want);
        }
        pg19_close(b);
    }
    pg19_books *d = pg19_open(DIR_ "dir");
    CHECK(d && d->n == 2, "dir: 2 books (notes.md ignored)");
    for (size_t i = 0; d && i < d->n && i < 2; i++) check_book(tok, &d->books[i], json_array_get(exp, 4 + i), NULL);
    pg19_close(d);
    pg19_books *one = pg19_open(DIR_ "dir/b_book.txt.gz");
    CHECK(one && one->n == 1, "one .txt.gz");
    if (one && one->n == 1) check_book(tok, &one->books[0], json_array_get(exp, 5), NULL);
    pg19_close(one);
    json_decref(exp);
    tok_free(tok);
    pg19_close(NULL);
}

static void test_windows(void) {
    pg19_window w[8];
    /* cmd_ppl's rule: consecutive windows, the last shorter, one of < 2 tokens dropped */
    CHECK_EQ_INT(pg19_windows(10, 4, 0, w), 3);
    CHECK(w[0].start == 0 && w[0].len == 4 && w[1].start == 4 && w[2].start == 8 && w[2].len == 2, "10/4");
    CHECK_EQ_INT(pg19_windows(9, 4, 0, NULL), 2);
    CHECK_EQ_INT(pg19_windows(8, 4, 0, NULL), 2);
    CHECK_EQ_INT(pg19_windows(1, 4, 0, NULL), 0);
    CHECK_EQ_INT(pg19_windows(0, 4, 0, NULL), 0);
    CHECK_EQ_INT(pg19_windows(100, 4, 3, w), 3);
    CHECK(w[2].start == 8 && w[2].len == 4, "max_windows");
    CHECK_EQ_INT(pg19_windows(10, 1, 0, NULL), 0);
    size_t scored = 0;
    pg19_window all[16];
    size_t n = pg19_windows(1001, 100, 0, all);
    for (size_t i = 0; i < n; i++) scored += pg19_window_scored(all[i]);
    CHECK_EQ_INT(n, 10);
    CHECK_EQ_INT(scored, 990);
}

static void expect_error(const char *name, const char *content, int gz, const char *want_suffix) {
    char path[160];
    snprintf(path, sizeof path, "/tmp/test_pg19_%d_%s", (int)getpid(), name);
    FILE *f = fopen(path, "wb");
    fwrite(content, 1, strlen(content), f);
    fclose(f);
    (void)gz;
    int lines;
    quiet_begin();
    pg19_books *b = pg19_open(path);
    char *err = quiet_end(&lines);
    char want[512];
    snprintf(want, sizeof want, "evalctl: %s%s", path, want_suffix);
    CHECK(b == NULL && lines == 1 && !strncmp(err, want, strlen(want)), "%s: want '%s' got '%s'", name, want, err);
    free(err);
    pg19_close(b);
    unlink(path);
}

static void test_bad(void) {
    expect_error("a.jsonl", "{\"text\": \"ok\"}\n{\"text\": \n", 0, ":2: invalid JSON");
    expect_error("b.jsonl", "{\"text\": \"ok\"}\n\n{\"title\": \"x\"}\n", 0, ":3: missing field \"text\"");
    expect_error("c.jsonl", "{\"text\": 3}\n", 0, ":1: field \"text\" must be a string");
    expect_error("d.jsonl", "[\"text\"]\n", 0, ":1: the record is not a JSON object");
    expect_error("e.jsonl", "{\"text\": \"a\", \"short_book_title\": 5}\n", 0, ":1: field \"short_book_title\"");
    expect_error("f.jsonl", "{\"text\": \"a\\u0000b\"}\n", 0, ":1: invalid JSON");
    expect_error("g.txt", "abc\xff\xfe", 0, ": invalid UTF-8 (at byte 3)");
    expect_error("h.txt", "ok \xc3\xa9 then \xed\xa0\x80", 0, ": invalid UTF-8 (at byte 11)");
    int lines;
    quiet_begin();
    pg19_books *b = pg19_open("/nonexistent/pg19");
    char *err = quiet_end(&lines);
    CHECK(b == NULL && lines == 1 && strstr(err, "/nonexistent/pg19"), "%s", err);
    free(err);
    char dir[96];
    snprintf(dir, sizeof dir, "/tmp/test_pg19_dir_%d", (int)getpid());
    mkdir(dir, 0700);
    quiet_begin();
    b = pg19_open(dir);
    err = quiet_end(&lines);
    CHECK(b == NULL && lines == 1 && strstr(err, "no books"), "%s", err);
    free(err);
    rmdir(dir);
    /* an empty .txt is a book with no text */
    char path[128];
    snprintf(path, sizeof path, "/tmp/test_pg19_%d_empty.txt", (int)getpid());
    FILE *f = fopen(path, "wb");
    fclose(f);
    b = pg19_open(path);
    CHECK(b && b->n == 1 && b->books[0].len == 0 && b->books[0].text[0] == '\0', "empty book");
    pg19_close(b);
    unlink(path);
}

int main(void) {
    test_sources();
    test_windows();
    test_bad();
    return test_done("pg19");
}
