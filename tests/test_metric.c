/* test_metric.c - metric.c against the official RULER and InfiniteBench
 * scorers: every record of tests/fixtures/metric/{ruler,infbench}_*.jsonl must
 * score exactly what the official Python printed (the .expected files, repr()
 * of each score, written by tools/gen_metric_fixtures.py), and every record of
 * raises.jsonl, on which the official code raises, must be refused. Also the
 * library API without records, and its errors. */
#include "metric.h"
#include "rouge.h"
#include "test.h"
#include "util.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

/* stderr to /dev/null around calls expected to print an error line */
static int saved_fd = -1;
static void quiet(int on) {
    fflush(stderr);
    if (on) {
        saved_fd = dup(2);
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 2);
        close(fd);
    } else if (saved_fd >= 0) {
        dup2(saved_fd, 2);
        close(saved_fd);
        saved_fd = -1;
    }
}

static char **read_lines(const char *path, size_t *n) {
    char *text = ev_read_file(path, NULL);
    *n = 0;
    if (!text) return NULL;
    size_t cap = 64;
    char **v = xmalloc(cap * sizeof *v);
    for (char *p = text; *p;) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = '\0';
        if (*n == cap) v = xrealloc(v, (cap *= 2) * sizeof *v);
        v[(*n)++] = xstrdup(p);
        if (!nl) break;
        p = nl + 1;
    }
    free(text);
    return v;
}

static void free_lines(char **v, size_t n) {
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* Scores every record of PREFIX_NAME.jsonl with metric `name` and compares
 * with PREFIX_NAME.expected. Returns the number of records. */
static size_t check_file(const char *prefix, const char *name) {
    char jpath[256], epath[256];
    snprintf(jpath, sizeof jpath, "tests/fixtures/metric/%s_%s.jsonl", prefix, name);
    snprintf(epath, sizeof epath, "tests/fixtures/metric/%s_%s.expected", prefix, name);
    size_t nr, ne;
    char **recs = read_lines(jpath, &nr), **exp = read_lines(epath, &ne);
    CHECK(recs && exp && nr == ne && nr > 0, "%s: %zu records, %zu expectations", jpath, nr, ne);
    size_t agree = 0;
    for (size_t i = 0; recs && exp && i < nr && i < ne; i++) {
        json_error_t err;
        json_t *rec = json_loads(recs[i], JSON_ALLOW_NUL, &err);
        CHECK(rec != NULL, "%s:%zu: %s", jpath, i + 1, err.text);
        if (!rec) continue;
        char where[300];
        snprintf(where, sizeof where, "%s:%zu", jpath, i + 1);
        double score = -1;
        int rc = metric_record(name, rec, &score, where);
        char got[32];
        metric_format(score, got);
        int ok = rc == 0 && strcmp(got, exp[i]) == 0 && score == strtod(exp[i], NULL);
        CHECK(ok, "%s: got %s (rc %d), Python %s; record %.300s", where, got, rc, exp[i], recs[i]);
        agree += ok;
        json_decref(rec);
    }
    printf("%-12s %-22s %zu/%zu agree with the official scorer\n", prefix, name, agree, nr);
    free_lines(recs, nr);
    free_lines(exp, ne);
    return nr;
}

static void test_fixtures(void) {
    size_t n = check_file("ruler", "string_match_all") + check_file("ruler", "string_match_part");
    CHECK(n >= 300, "RULER fixture has %zu cases", n);
    static const char *const tasks[] = {"passkey", "number_string", "kv_retrieval", "longbook_sum_eng",
                                        "longbook_choice_eng", "longbook_qa_eng", "longbook_qa_chn",
                                        "longdialogue_qa_eng", "math_find", "math_calc", "code_run", "code_debug"};
    n = 0;
    for (size_t t = 0; t < 12; t++) n += check_file("infbench", tasks[t]);
    CHECK(n >= 300, "InfiniteBench fixture has %zu cases", n);
}

static void test_raises(void) {
    size_t n;
    char **recs = read_lines(FIXTURE("metric/raises.jsonl"), &n);
    CHECK(recs && n >= 10, "raises.jsonl");
    for (size_t i = 0; recs && i < n; i++) {
        json_t *rec = json_loads(recs[i], JSON_ALLOW_NUL, NULL);
        if (!rec) continue;
        const char *name = json_string_value(json_object_get(rec, "name"));
        double score = 1;
        quiet(1);
        int rc = metric_record(name, rec, &score, "raises.jsonl");
        quiet(0);
        CHECK(rc != 0, "%s: official code raises %s, evalctl scored %g: %.200s", name,
              json_string_value(json_object_get(rec, "raises")), score, recs[i]);
        /* a prediction-dependent raise is reported as such, with score 0 */
        if (rc == METRIC_RAISES) CHECK(score == 0.0, "score %g", score);
        json_decref(rec);
    }
    free_lines(recs, n);
}

static void test_api(void) {
    double s = -1;
    const char *outs[] = {"Apple", "pear", "fig"};
    CHECK(metric_ruler("string_match_all", " an APPLE and a fig\x01", 20, outs, NULL, 3, &s, NULL) == 0, "ruler");
    CHECK(s == 66.67, "all: %g", s);
    CHECK(metric_ruler("string_match_part", "pear", 4, outs, NULL, 3, &s, NULL) == 0 && s == 100.0, "part: %g", s);
    quiet(1);
    CHECK(metric_ruler("string_match_any", "x", 1, outs, NULL, 3, &s, "t") == -1, "unknown RULER name");
    CHECK(metric_ruler("string_match_all", "x", 1, outs, NULL, 0, &s, "t") == -1, "no outputs");
    CHECK(metric_ruler("string_match_all", "\xff", 1, outs, NULL, 3, &s, "t") == -1, "bad UTF-8");
    quiet(0);

    json_t *rec = json_pack("{s:[s]}", "answer", "71432");
    CHECK(metric_infbench("passkey", "The pass key is 71432.", 22, rec, &s, NULL) == 0 && s == 1.0, "passkey %g", s);
    CHECK(metric_infbench("passkey", "71431", 5, rec, &s, NULL) == 0 && s == 0.0, "passkey miss %g", s);
    quiet(1);
    CHECK(metric_infbench("passkeys", "71432", 5, rec, &s, NULL) == -1, "unknown task");
    quiet(0);
    json_decref(rec);

    rec = json_pack("{s:i}", "answer", 88);
    CHECK(metric_infbench("math_find", "88.5", 4, rec, &s, NULL) == METRIC_RAISES && s == 0.0, "raises");
    CHECK(strstr(metric_raise_reason("math_find"), "ValueError") != NULL, "reason");
    json_decref(rec);

    rec = json_pack("{s:s, s:[ssss]}", "answer", "Snowfield", "options", "Walking Georgie", "Hall Farm",
                    "Snowfield", "Kindergarten");
    CHECK(metric_infbench("longbook_choice_eng", "The answer is C", 15, rec, &s, NULL) == 0 && s == 1.0, "%g", s);
    CHECK(metric_infbench("longbook_choice_eng", "Answer: C", 9, rec, &s, NULL) == 0 && s == 0.0, "%g", s);
    json_decref(rec);

    CHECK(metric_kind("code_run") == METRIC_INFBENCH && metric_kind("string_match_part") == METRIC_RULER &&
              metric_kind("niah") == METRIC_UNKNOWN, "metric_kind");

    char buf[32];
    metric_format(1.0, buf);
    CHECK_EQ_STR(buf, "1.0");
    metric_format(2.0 / 3.0, buf);
    CHECK_EQ_STR(buf, "0.6666666666666666");

    /* rouge_score's tokenizer: lower() first, so KELVIN SIGN becomes 'k' and
     * U+0130 becomes 'i' + a combining dot, which splits the word */
    pystr t = {0};
    const char *txt = "\xc4\xb0stanbul \xe2\x84\xaa-2 caf\xc3\xa9";
    CHECK(pystr_from_utf8(&t, txt, strlen(txt)) == 0, "utf8");
    char *toks;
    size_t nt = rouge_tokenize(&t, &toks);
    CHECK_EQ_INT(nt, 5);
    if (nt == 5) {
        const char *want[] = {"i", "stanbul", "k", "2", "caf"};
        const char *p = toks;
        for (size_t i = 0; i < 5; p += strlen(p) + 1, i++) CHECK_EQ_STR(p, want[i]);
    }
    free(toks);
    pystr_free(&t);
}

int main(void) {
    test_fixtures();
    test_raises();
    test_api();
    return test_done("metric");
}
