/* test_csv.c - the RFC 4180 reader and writer (src/csv.c) against Python's csv
 * module (tests/fixtures/tables/csv/, tools/gen_tables_fixtures.py), and the
 * reader's error lines. */
#include "csv.h"
#include "util.h"

#include "test.h"

#include <jansson.h>

static void check_read(int i) {
    char path[128], jpath[128];
    snprintf(path, sizeof path, FIXTURE("tables/csv/read_%d.csv"), i);
    snprintf(jpath, sizeof jpath, FIXTURE("tables/csv/read_%d.json"), i);
    json_error_t je;
    json_t *want = json_load_file(jpath, 0, &je);
    CHECK(want != NULL, "%s: %s", jpath, je.text);
    csv_table *t = csv_read(path);
    CHECK(t != NULL, "%s unreadable", path);
    if (!want || !t) {
        json_decref(want);
        csv_free(t);
        return;
    }
    CHECK((size_t)t->n_rows == json_array_size(want), "%s: %d rows, want %zu", path, t->n_rows, json_array_size(want));
    for (int r = 0; r < t->n_rows && (size_t)r < json_array_size(want); r++) {
        json_t *row = json_array_get(want, (size_t)r);
        CHECK((size_t)t->n_fields[r] == json_array_size(row), "%s row %d: %d fields, want %zu", path, r,
              t->n_fields[r], json_array_size(row));
        for (int k = 0; k < t->n_fields[r] && (size_t)k < json_array_size(row); k++)
            CHECK(!strcmp(t->fields[r][k], json_string_value(json_array_get(row, (size_t)k))),
                  "%s row %d field %d: '%s'", path, r, k, t->fields[r][k]);
    }
    json_decref(want);
    csv_free(t);
}

static void check_put(void) {
    json_error_t je;
    json_t *rows = json_load_file(FIXTURE("tables/csv/put.json"), 0, &je);
    size_t wl;
    char *want = ev_read_file(FIXTURE("tables/csv/put.csv"), &wl);
    CHECK(rows && want, "put fixtures");
    if (!rows || !want) {
        json_decref(rows);
        free(want);
        return;
    }
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    for (size_t r = 0; r < json_array_size(rows); r++) {
        json_t *row = json_array_get(rows, r);
        for (size_t k = 0; k < json_array_size(row); k++)
            csv_put(f, json_string_value(json_array_get(row, k)), k + 1 == json_array_size(row));
    }
    fclose(f);
    CHECK(n == wl && !memcmp(buf, want, n), "csv_put wrote '%s', Python '%s'", buf, want);
    /* and what it wrote reads back as the same fields */
    csv_table *t = csv_parse(buf, n, "put");
    CHECK(t && (size_t)t->n_rows == json_array_size(rows), "put read back");
    for (int r = 0; t && r < t->n_rows; r++)
        for (int k = 0; k < t->n_fields[r]; k++)
            CHECK(!strcmp(t->fields[r][k], json_string_value(json_array_get(json_array_get(rows, (size_t)r), (size_t)k))),
                  "round trip row %d field %d", r, k);
    csv_free(t);
    free(buf);
    free(want);
    json_decref(rows);
}

/* text must be refused with exactly one line containing msg. */
static void check_bad(const char *text, const char *msg) {
    test_capture_begin();
    csv_table *t = csv_parse(text, strlen(text), "x.csv");
    char *err = test_capture_end();
    CHECK(t == NULL, "accepted: %s", text);
    CHECK(test_count_lines(err) == 1 && strstr(err, msg), "'%s' gave '%s', want '%s'", text, err, msg);
    csv_free(t);
    free(err);
}

int main(void) {
    for (int i = 0; i < 8; i++) check_read(i);
    check_put();

    /* the line a record starts on counts the line breaks inside quoted fields */
    const char *s = "a,b\r\n\"x\r\ny\",1\r\nlast,2\r\n";
    csv_table *t = csv_parse(s, strlen(s), "lines");
    CHECK(t && t->n_rows == 3 && t->line[0] == 1 && t->line[1] == 2 && t->line[2] == 4, "record lines");
    CHECK(t && csv_column(t, "b") == 1 && csv_column(t, "c") == -1, "csv_column");
    csv_free(t);
    t = csv_parse("", 0, "empty");
    CHECK(t && t->n_rows == 0, "an empty text has no records");
    csv_free(t);

    check_bad("a,b\r\n1,\"open\r\n2,3\r\n", "x.csv:2: quoted field not closed");
    check_bad("a,b\r\n1,2\r\n3,x\"y\r\n", "x.csv:3: a quote inside an unquoted field");
    check_bad("a,b\r\n\"q\"x,1\r\n", "x.csv:2: text after a closing quote");
    check_bad("a,b\r\n1,2\r3,4\r\n", "x.csv:2: a CR not followed by LF");
    check_bad("a,b\n\n\xc3\x28,1\n", "x.csv:3: not UTF-8");
    char nul[] = "a,b\n1,2\nx\0y,3\n";
    test_capture_begin();
    t = csv_parse(nul, sizeof nul - 1, "x.csv");
    char *err = test_capture_end();
    CHECK(!t && strstr(err, "x.csv:3: NUL byte"), "NUL: %s", err);
    free(err);
    return test_done("csv");
}
