/* test_util.c - util.c (UTF-8 validation, file reading incl. gzip, size checks)
 * and the thread pool. */
#include "parallel.h"
#include "test.h"
#include "util.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

static void test_utf8(void) {
    CHECK(ev_utf8_valid("", 0), "empty");
    CHECK(ev_utf8_valid("plain ascii", 11), "ascii");
    CHECK(ev_utf8_valid("\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80", 9), "e-acute, CJK, emoji");
    CHECK(!ev_utf8_valid("\xc3", 1), "truncated 2-byte");
    CHECK(!ev_utf8_valid("\xc0\xaf", 2), "overlong slash");
    CHECK(!ev_utf8_valid("\xe0\x80\xaf", 3), "overlong 3-byte");
    CHECK(!ev_utf8_valid("\xed\xa0\x80", 3), "surrogate");
    CHECK(!ev_utf8_valid("\xf4\x90\x80\x80", 4), "past U+10FFFF");
    CHECK(!ev_utf8_valid("\xff", 1), "0xff");
    CHECK(!ev_utf8_valid("a\x80", 2), "stray continuation");
}

static void test_sizes(void) {
    size_t r;
    CHECK(ev_mul_size(SIZE_MAX / 2, 3, &r) == -1, "mul overflow");
    CHECK(ev_mul_size(1000, 1000, &r) == 0 && r == 1000000, "mul");
    CHECK(ev_add_size(SIZE_MAX, 1, &r) == -1, "add overflow");
}

static void test_read_file(void) {
    char dir[] = "/tmp/evtestXXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char *plain = ev_path_join(dir, "a.txt"), *gz = ev_path_join(dir, "a.txt.gz");
    /* a payload larger than the reader's first buffer */
    size_t n = 200000;
    char *want = xmalloc(n);
    for (size_t i = 0; i < n; i++) want[i] = (char)('a' + i % 26);
    FILE *f = fopen(plain, "wb");
    fwrite(want, 1, n, f);
    fclose(f);
    gzFile g = gzopen(gz, "wb");
    gzwrite(g, want, (unsigned)n);
    gzclose(g);
    size_t len = 0;
    char *got = ev_read_file(plain, &len);
    CHECK(got && len == n && memcmp(got, want, n) == 0 && got[n] == '\0', "plain read");
    free(got);
    got = ev_read_file(gz, &len);
    CHECK(got && len == n && memcmp(got, want, n) == 0, "gzip read");
    free(got);
    /* a corrupt .gz must fail with an error, not return garbage */
    f = fopen(gz, "r+b");
    fseek(f, 20, SEEK_SET);
    fwrite("XXXXXXXXXXXX", 1, 12, f);
    fclose(f);
    fprintf(stderr, "(expected error follows)\n");
    got = ev_read_file(gz, &len);
    CHECK(got == NULL, "corrupt gzip rejected");
    free(got);
    fprintf(stderr, "(expected errors follow)\n");
    CHECK(ev_read_file("/nonexistent/file.txt", NULL) == NULL, "missing file");
    CHECK(ev_read_file(dir, NULL) == NULL, "directory");
    ev_map m;
    CHECK(ev_map_file(plain, &m) == 0 && m.size == n && memcmp(m.data, want, n) == 0, "map");
    ev_unmap(&m);
    CHECK(ev_map_file("/nonexistent", &m) == -1, "map missing");
    unlink(plain);
    unlink(gz);
    rmdir(dir);
    free(plain);
    free(gz);
    free(want);
}

static atomic_int hits[1000];
static void bump(void *ctx, int i) {
    (void)ctx;
    atomic_fetch_add(&hits[i], 1);
}

static void test_pool(void) {
    par_pool *p = par_new(4);
    CHECK_EQ_INT(par_threads(p), 4);
    for (int round = 0; round < 50; round++) par_for(p, 1000, bump, NULL);
    int ok = 1;
    for (int i = 0; i < 1000; i++) ok &= atomic_load(&hits[i]) == 50;
    CHECK(ok, "every task ran exactly once per loop");
    par_for(NULL, 10, bump, NULL);
    CHECK_EQ_INT(atomic_load(&hits[9]), 51);
    par_free(p);
    par_free(NULL);
}

int main(void) {
    test_utf8();
    test_sizes();
    test_read_file();
    test_pool();
    return test_done("util");
}
