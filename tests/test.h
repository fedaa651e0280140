/* test.h - the tiny assertion harness every tests/test_*.c uses.
 *
 * CHECK records a failure with file:line and carries on, so one run shows every
 * broken case; test_done() prints "RESULT <name> passed=N failed=N" (summed by
 * tests/run.sh into the suite's final line) and returns the exit code. */
#ifndef EV_TEST_H
#define EV_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int test_passed_, test_failed_;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (cond) {                                                        \
            test_passed_++;                                                \
        } else {                                                           \
            test_failed_++;                                                \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                  \
            fputc('\n', stderr);                                           \
        }                                                                  \
    } while (0)

#define CHECK_EQ_INT(a, b) CHECK((long long)(a) == (long long)(b), "%lld != %lld", (long long)(a), (long long)(b))
#define CHECK_EQ_STR(a, b) CHECK(strcmp((a), (b)) == 0, "\"%s\" != \"%s\"", (a), (b))
/* |a - b| <= atol + rtol * |b| */
#define CHECK_NEAR(a, b, atol, rtol) \
    CHECK(fabs((double)(a) - (double)(b)) <= (atol) + (rtol) * fabs((double)(b)), "%.9g vs %.9g", (double)(a), (double)(b))

static inline int test_done(const char *name) {
    printf("RESULT %s passed=%d failed=%d\n", name, test_passed_, test_failed_);
    return test_failed_ ? 1 : 0;
}

/* Capturing the error lines a call prints: everything written to stderr between
 * test_capture_begin() and test_capture_end() is returned (heap, caller frees),
 * so a test can check that bad input gives exactly one line saying what. */
static int test_saved_fd_ = -1;
static FILE *test_cap_;

static inline void test_capture_begin(void) {
    fflush(stderr);
    test_cap_ = tmpfile();
    if (!test_cap_) abort();
    test_saved_fd_ = dup(2);
    dup2(fileno(test_cap_), 2);
}

static inline char *test_capture_end(void) {
    fflush(stderr);
    dup2(test_saved_fd_, 2);
    close(test_saved_fd_);
    long n = ftell(test_cap_);
    if (n < 0) n = 0;
    char *s = malloc((size_t)n + 1);
    if (!s) abort();
    rewind(test_cap_);
    size_t r = fread(s, 1, (size_t)n, test_cap_);
    s[r] = '\0';
    fclose(test_cap_);
    return s;
}

static inline int test_count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* Fixture paths are relative to the repository root, where tests run. */
#define FIXTURE(p) ("tests/fixtures/" p)

#endif
