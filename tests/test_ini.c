/* test_ini.c - the run-config INI parser (ini.c) on the fixtures of
 * tests/fixtures/ini: good files read as the dialect in ini.h says (the
 * expectations below are written by hand from the fixture text), every bad
 * file refused with one error line naming FILE:LINE, typed getters and their
 * errors, the schema check, --set overrides, canonical output (parse, write,
 * parse gives the same config, and the writer is a fixed point) and diff. */
#include "ini.h"
#include "test.h"
#include "util.h"

#include <stdlib.h>
#include <unistd.h>

#define GOOD(f) FIXTURE("ini/good/" f)
#define BAD(f) FIXTURE("ini/bad/" f)

/* ---------------------------------------------------------------------- stderr capture */

/* test.h's capture, its text kept until the next stderr_end() */
static char *err_text;

static void stderr_begin(void) { test_capture_begin(); }

static const char *stderr_end(void) {
    free(err_text);
    return err_text = test_capture_end();
}

static int one_line(const char *s) {
    const char *nl = strchr(s, '\n');
    return nl && nl[1] == '\0';
}

/* The error must be exactly one line and contain want. */
#define CHECK_ERR(rc_ok, want)                                                                          \
    do {                                                                                                \
        const char *e_ = stderr_end();                                                                  \
        CHECK((rc_ok) && one_line(e_) && strstr(e_, (want)) != NULL, "stderr '%s', want '%s'", e_, want); \
    } while (0)

/* ---------------------------------------------------------------------- good files */

static const char *const run_keys[] = {"name", "model", "backend", "threads", "seed", NULL};
static const char *const bench_keys[] = {"name", "tasks", "lengths", "samples", "seed", NULL};
static const char *const variant_keys[] = {"variant", "sink", "window", "gamma", NULL};
static const ini_schema schema[] = {
    {"run", run_keys},
    {"benchmark", bench_keys},
    {"variant.*", variant_keys},
};

static void test_run_ini(void) {
    ini *c = ini_open(GOOD("run.ini"));
    CHECK(c != NULL, "run.ini");
    if (!c) return;
    CHECK_EQ_INT(ini_section_count(c), 4);
    static const char *const names[] = {"run", "benchmark", "variant.dense", "variant.sw_delta"};
    static const int nkeys[] = {4, 5, 1, 4}, lines[] = {3, 9, 16, 18};
    for (int s = 0; s < 4 && s < ini_section_count(c); s++) {
        CHECK_EQ_STR(ini_section_name(c, s), names[s]);
        CHECK_EQ_INT(ini_key_count(c, s), nkeys[s]);
        CHECK_EQ_INT(ini_section_line(c, s), lines[s]);
    }
    int sw = ini_section_find(c, "variant.sw_delta");
    CHECK_EQ_INT(sw, 3);
    CHECK_EQ_INT(ini_section_find(c, "variant"), -1);
    CHECK_EQ_STR(ini_key_name(c, sw, 2), "window");
    CHECK_EQ_STR(ini_key_value(c, sw, 2), "512");
    CHECK_EQ_INT(ini_key_line(c, sw, 2), 21);
    CHECK_EQ_STR(ini_key_where(c, sw, 2), "tests/fixtures/ini/good/run.ini:21");
    CHECK_EQ_STR(ini_section_where(c, 1), "tests/fixtures/ini/good/run.ini:9");
    CHECK_EQ_STR(ini_get(c, "run", "model"), "models/smollm2-135m-instruct.gguf");
    CHECK_EQ_STR(ini_get(c, "variant.sw_delta", "variant"), "streaming+delta");
    CHECK_EQ_STR(ini_get(c, "variant.sw_delta", "sink"), "64");
    CHECK(ini_get(c, "run", "nope") == NULL && ini_get(c, "nope", "name") == NULL, "absent");

    long threads = -1, window = -1, seed = 7;
    CHECK(ini_get_int(c, "run", "threads", 1, 256, &threads) == 1 && threads == 2, "threads %ld", threads);
    CHECK(ini_get_int(c, "variant.sw_delta", "window", 1, 1 << 20, &window) == 1 && window == 512, "window");
    CHECK(ini_get_int(c, "run", "seed", 0, 100, &seed) == 0 && seed == 7, "absent int keeps the default");
    const char *s = "default";
    CHECK(ini_get_str(c, "variant.dense", "variant", &s) == 1 && strcmp(s, "dense") == 0, "str");
    s = "default";
    CHECK(ini_get_str(c, "variant.dense", "sink", &s) == 0 && strcmp(s, "default") == 0, "absent str");
    char **items = NULL;
    int n = -1;
    CHECK(ini_get_list(c, "benchmark", "tasks", &items, &n) == 1 && n == 2, "tasks n %d", n);
    if (items && n == 2) {
        CHECK_EQ_STR(items[0], "niah_single_1");
        CHECK_EQ_STR(items[1], "niah_single_2");
        CHECK(items[2] == NULL, "NULL after the items");
    }
    free(items);

    CHECK(ini_check(c, schema, 3) == 0, "schema");
    CHECK(ini_require(c, "run", "model") == 0, "require");
    stderr_begin();
    int rc = ini_require(c, "run", "seed");
    CHECK_ERR(rc == -1, "tests/fixtures/ini/good/run.ini:3: missing key 'seed' in [run]");
    stderr_begin();
    rc = ini_require(c, "output", "dir");
    CHECK_ERR(rc == -1, "tests/fixtures/ini/good/run.ini: missing section [output]");

    /* schema errors name the line of the offender */
    static const char *const variant_nogamma[] = {"variant", "sink", "window", NULL};
    const ini_schema narrow[] = {{"run", run_keys}, {"benchmark", bench_keys}, {"variant.*", variant_nogamma}};
    stderr_begin();
    rc = ini_check(c, narrow, 3);
    CHECK_ERR(rc == -1, "good/run.ini:22: unknown key 'gamma' in [variant.sw_delta] (allowed: variant, sink, window)");
    stderr_begin();
    rc = ini_check(c, schema, 2);
    CHECK_ERR(rc == -1, "good/run.ini:16: unknown section [variant.dense] (known: run, benchmark)");
    /* an exact entry wins over a pattern */
    static const char *const dense_keys[] = {"other", NULL};
    const ini_schema exact[] = {{"run", run_keys}, {"benchmark", bench_keys}, {"variant.*", variant_keys},
                                {"variant.dense", dense_keys}};
    stderr_begin();
    rc = ini_check(c, exact, 4);
    CHECK_ERR(rc == -1, "good/run.ini:17: unknown key 'variant' in [variant.dense] (allowed: other)");
    /* "variant.*" needs something after the dot */
    const ini_schema pat[] = {{"variant.*", variant_keys}};
    ini *v = ini_parse("[variant]\n", 10, "v.ini");
    stderr_begin();
    rc = ini_check(v, pat, 1);
    CHECK_ERR(rc == -1, "v.ini:1: unknown section [variant] (known: variant.*)");
    ini_free(v);
    ini_free(c);
}

static void test_values_ini(void) {
    ini *c = ini_open(GOOD("values.ini"));
    CHECK(c != NULL, "values.ini");
    if (!c) return;
    static const struct {
        const char *key, *value;
    } q[] = {
        {"plain", "a;b#c"},
        {"spaced", "several words here"},
        {"comment_after", "value"},
        {"hash_after", "value"},
        {"empty", ""},
        {"empty_quoted", ""},
        {"semicolon_first", ""},
        {"quoted_spaces", "  padded  "},
        {"quoted_marks", "a ; b # c"},
        {"escapes", "say \"hi\" \\ back"},
        {"quoted_comment", "x"},
        {"inner_quote", "it\"s"},
        {"unicode", "caf\xc3\xa9 \xe2\x88\x91 \xe6\x97\xa5\xe6\x9c\xac"},
        {"tabbed", "a\tb"},
        {"eq_in_value", "a=b=c"},
    };
    CHECK_EQ_STR(ini_section_name(c, 0), "quoted");
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        const char *v = ini_get(c, "quoted", q[i].key);
        CHECK(v && strcmp(v, q[i].value) == 0, "%s: '%s', want '%s'", q[i].key, v ? v : "(absent)", q[i].value);
    }
    CHECK_EQ_INT(ini_key_count(c, 0), (int)(sizeof q / sizeof q[0]));

    /* booleans */
    static const char *const tkeys[] = {"t1", "t2", "t3", "t4"}, *const fkeys[] = {"f1", "f2", "f3", "f4"};
    for (int i = 0; i < 4; i++) {
        int b = -1;
        CHECK(ini_get_bool(c, "flags", tkeys[i], &b) == 1 && b == 1, "%s", tkeys[i]);
        b = -1;
        CHECK(ini_get_bool(c, "flags", fkeys[i], &b) == 1 && b == 0, "%s", fkeys[i]);
    }
    int b = 5;
    stderr_begin();
    int rc = ini_get_bool(c, "flags", "bad", &b);
    CHECK_ERR(rc == -1 && b == 5, "good/values.ini:26: [flags] bad: 'maybe' is not a boolean");

    /* numbers */
    long x = 0;
    CHECK(ini_get_int(c, "numbers", "int", 0, 100, &x) == 1 && x == 42, "int");
    CHECK(ini_get_int(c, "numbers", "neg", -10, 10, &x) == 1 && x == -7, "neg");
    CHECK(ini_get_int(c, "numbers", "plus", 0, 10, &x) == 1 && x == 3, "plus");
    double d = 0;
    CHECK(ini_get_double(c, "numbers", "float", 0, 1, &d) == 1 && d == 0.25, "float");
    CHECK(ini_get_double(c, "numbers", "exp", -1e4, 0, &d) == 1 && d == -1500, "exp");
    CHECK(ini_get_double(c, "numbers", "int", 0, 100, &d) == 1 && d == 42, "int as double");
    static const struct {
        const char *key, *want;
        int as_double;
    } bad[] = {
        {"int", "good/values.ini:28: [numbers] int: '42' is not an integer in [0, 10]", 0},
        {"neg", "good/values.ini:29: [numbers] neg: '-7' is not an integer in [0, 100]", 0},
        {"big", "good/values.ini:31: [numbers] big: '99999999999999999999' is not an integer", 0},
        {"float", "good/values.ini:32: [numbers] float: '0.25' is not an integer", 0},
        {"int_bad", "good/values.ini:34: [numbers] int_bad: '4x' is not an integer", 0},
        {"float_bad", "good/values.ini:35: [numbers] float_bad: '1.5.2' is not a number", 1},
        {"inf", "good/values.ini:36: [numbers] inf: 'inf' is not a number", 1},
        {"hex", "good/values.ini:37: [numbers] hex: '0x10' is not a number", 1},
        {"float", "good/values.ini:32: [numbers] float: '0.25' is not a number in [0.5, 1]", 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        x = 11;
        d = 11;
        stderr_begin();
        rc = bad[i].as_double ? ini_get_double(c, "numbers", bad[i].key, i == 8 ? 0.5 : -1e300, i == 8 ? 1 : 1e300, &d)
                              : ini_get_int(c, "numbers", bad[i].key, i == 0 ? 0 : i == 1 ? 0 : -1000,
                                            i == 0 ? 10 : 100, &x);
        CHECK_ERR(rc == -1 && x == 11 && d == 11, bad[i].want);
    }

    /* lists */
    char **items = NULL;
    int n = -1;
    CHECK(ini_get_list(c, "lists", "tasks", &items, &n) == 1 && n == 3, "n %d", n);
    if (items && n == 3) {
        CHECK_EQ_STR(items[0], "niah_single_1");
        CHECK_EQ_STR(items[1], "niah_single_2");
        CHECK_EQ_STR(items[2], "niah_multikey_1");
    }
    free(items);
    CHECK(ini_get_list(c, "lists", "one", &items, &n) == 1 && n == 1 && strcmp(items[0], "solo") == 0, "one");
    free(items);
    CHECK(ini_get_list(c, "lists", "none", &items, &n) == 1 && n == 0 && items[0] == NULL, "none");
    free(items);
    items = NULL;
    stderr_begin();
    rc = ini_get_list(c, "lists", "hole", &items, &n);
    CHECK_ERR(rc == -1 && items == NULL, "good/values.ini:42: [lists] hole: empty item 2 in the comma-separated list");
    stderr_begin();
    rc = ini_get_list(c, "lists", "trailing", &items, &n);
    CHECK_ERR(rc == -1, "good/values.ini:43: [lists] trailing: empty item 3");
    CHECK(ini_get_list(c, "lists", "absent", &items, &n) == 0, "absent list");
    ini_free(c);
}

static void test_small_good(void) {
    ini *c = ini_open(GOOD("crlf_bom.ini"));
    CHECK(c && ini_section_count(c) == 2, "crlf_bom.ini");
    if (c) {
        CHECK_EQ_STR(ini_get(c, "run", "name"), "crlf");
        CHECK_EQ_STR(ini_get(c, "run", "threads"), "8");
        CHECK_EQ_STR(ini_get(c, "variant.x", "window"), "a b");
        CHECK_EQ_INT(ini_key_line(c, 1, 0), 7);
    }
    ini_free(c);
    c = ini_open(GOOD("empty.ini"));
    CHECK(c && ini_section_count(c) == 0, "empty.ini");
    ini_free(c);
    c = ini_open(GOOD("comments.ini"));
    CHECK(c && ini_section_count(c) == 0, "comments.ini");
    ini_free(c);
    c = ini_open(GOOD("no_newline.ini"));
    CHECK(c && ini_get(c, "run", "name") && strcmp(ini_get(c, "run", "name"), "last line without newline") == 0,
          "no_newline.ini");
    ini_free(c);
    /* a NULL-safe destructor, and ini_parse on a buffer that is not NUL-terminated */
    ini_free(NULL);
    char buf[12];
    memcpy(buf, "[a]\nk = vXXX", 12);
    c = ini_parse(buf, 9, "mem");
    CHECK(c && strcmp(ini_get(c, "a", "k"), "v") == 0 && strcmp(ini_name(c), "mem") == 0, "mem");
    ini_free(c);
}

/* ---------------------------------------------------------------------- bad files */

static void test_bad_files(void) {
    static const struct {
        const char *file, *want;
    } cases[] = {
        {"key_outside.ini", "bad/key_outside.ini:2: key 'name' outside a section"},
        {"dup_key.ini", "bad/dup_key.ini:6: duplicate key 'seed' in [benchmark] (first at line 4)"},
        {"dup_section.ini", "bad/dup_section.ini:5: duplicate section [run] (first at line 1)"},
        {"unterminated.ini", "bad/unterminated.ini:2: unterminated quote"},
        {"unterminated_escape.ini", "bad/unterminated_escape.ini:2: unterminated quote"},
        {"bad_escape.ini", "bad/bad_escape.ini:2: unknown escape '\\n'"},
        {"after_quote.ini", "bad/after_quote.ini:2: text after the closing quote"},
        {"malformed.ini", "bad/malformed.ini:3: malformed line"},
        {"bad_section.ini", "bad/bad_section.ini:2: bad section name 'variant..x'"},
        {"empty_section.ini", "bad/empty_section.ini:2: bad section name ''"},
        {"space_section.ini", "bad/space_section.ini:2: bad section name 'variant x'"},
        {"bad_key.ini", "bad/bad_key.ini:2: bad key name 'my key'"},
        {"no_key.ini", "bad/no_key.ini:2: no key name before '='"},
        {"no_bracket.ini", "bad/no_bracket.ini:1: malformed section header (no ']')"},
        {"header_text.ini", "bad/header_text.ini:1: text after the section header"},
        {"control.ini", "bad/control.ini:2: control character 0x01"},
        {"bad_utf8.ini", "bad/bad_utf8.ini:2: malformed UTF-8"},
        {"nul.ini", "bad/nul.ini:2: control character 0x00"},
        {"dotted_key.ini", "bad/dotted_key.ini:2: bad key name 'window.size'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "tests/fixtures/ini/bad/%s", cases[i].file);
        stderr_begin();
        ini *c = ini_open(path);
        CHECK_ERR(c == NULL, cases[i].want);
        ini_free(c);
    }
    stderr_begin();
    ini *c = ini_open(BAD("no_such_file.ini"));
    CHECK_ERR(c == NULL, "no_such_file.ini");
    /* the size cap */
    size_t big = INI_MAX_SIZE + 1;
    char *text = xmalloc(big);
    memset(text, ';', big);
    stderr_begin();
    c = ini_parse(text, big, "big.ini");
    CHECK_ERR(c == NULL, "big.ini: config larger than");
    free(text);
}

/* ---------------------------------------------------------------------- output */

/* The canonical text of run.ini, by hand from the format in ini.h. */
static const char run_canonical[] =
    "[run]\n"
    "name = quickstart\n"
    "model = models/smollm2-135m-instruct.gguf\n"
    "backend = cpu\n"
    "threads = 2\n"
    "\n"
    "[benchmark]\n"
    "name = ruler\n"
    "tasks = niah_single_1, niah_single_2\n"
    "lengths = 4096\n"
    "samples = 4\n"
    "seed = 42\n"
    "\n"
    "[variant.dense]\n"
    "variant = dense\n"
    "\n"
    "[variant.sw_delta]\n"
    "variant = streaming+delta\n"
    "sink = 64\n"
    "window = 512\n"
    "gamma = 64\n";

static void test_round_trip(void) {
    static const char *const files[] = {"run.ini", "values.ini", "crlf_bom.ini", "empty.ini", "comments.ini",
                                        "no_newline.ini"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "tests/fixtures/ini/good/%s", files[i]);
        ini *a = ini_open(path);
        CHECK(a != NULL, "%s", path);
        if (!a) continue;
        size_t n1, n2;
        char *t1 = ini_format(a, &n1);
        ini *b = ini_parse(t1, n1, "written");
        CHECK(b != NULL, "%s: canonical text does not parse:\n%s", files[i], t1);
        if (b) {
            char buf[256];
            int d = ini_diff(a, b, buf, sizeof buf);
            CHECK(d == 0, "%s: round trip differs: %s", files[i], buf);
            char *t2 = ini_format(b, &n2);
            CHECK(n1 == n2 && memcmp(t1, t2, n1) == 0, "%s: writer is not a fixed point", files[i]);
            /* same order of sections and keys */
            int same = ini_section_count(a) == ini_section_count(b);
            for (int s = 0; same && s < ini_section_count(a); s++) {
                same = strcmp(ini_section_name(a, s), ini_section_name(b, s)) == 0 &&
                       ini_key_count(a, s) == ini_key_count(b, s);
                for (int k = 0; same && k < ini_key_count(a, s); k++)
                    same = strcmp(ini_key_name(a, s, k), ini_key_name(b, s, k)) == 0;
            }
            CHECK(same, "%s: order changed", files[i]);
            free(t2);
        }
        if (strcmp(files[i], "run.ini") == 0) CHECK(strcmp(t1, run_canonical) == 0, "run.ini canonical:\n%s", t1);
        free(t1);
        ini_free(a);
        ini_free(b);
    }
    /* values that need quotes, and the exact spelling of them */
    ini *c = ini_new("q");
    static const char *const v[][2] = {
        {"a", ""}, {"b", " lead"}, {"c", "trail\t"}, {"d", "\"q\""}, {"e", ";x"}, {"f", "#x"},
        {"g", "a ;b"}, {"h", "a\t#b"}, {"i", "back\\slash"}, {"j", "a;b"}, {"k", "it\"s"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char path[16];
        snprintf(path, sizeof path, "s.%s", v[i][0]);
        CHECK(ini_set(c, path, v[i][1]) == 0, "set %s", path);
    }
    char *t = ini_format(c, NULL);
    CHECK_EQ_STR(t, "[s]\n"
                    "a = \"\"\n"
                    "b = \" lead\"\n"
                    "c = \"trail\t\"\n"
                    "d = \"\\\"q\\\"\"\n"
                    "e = \";x\"\n"
                    "f = \"#x\"\n"
                    "g = \"a ;b\"\n"
                    "h = \"a\t#b\"\n"
                    "i = back\\slash\n"
                    "j = a;b\n"
                    "k = it\"s\n");
    ini *back = ini_parse(t, strlen(t), "back");
    for (size_t i = 0; back && i < sizeof v / sizeof v[0]; i++) {
        const char *got = ini_get(back, "s", v[i][0]);
        CHECK(got && strcmp(got, v[i][1]) == 0, "%s: '%s'", v[i][0], got ? got : "(absent)");
    }
    CHECK(back != NULL, "quoted values parse back");
    free(t);
    ini_free(back);
    ini_free(c);

    /* ini_write to a file, read back */
    c = ini_open(GOOD("run.ini"));
    char path[] = "/tmp/evalctl_test_ini_cfg_XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    CHECK(c && f && ini_write(c, f) == 0, "ini_write");
    fclose(f);
    ini *r = ini_open(path);
    char buf[128];
    CHECK(r && ini_diff(c, r, buf, sizeof buf) == 0, "written file differs: %s", buf);
    unlink(path);
    ini_free(r);
    ini_free(c);
}

/* ---------------------------------------------------------------------- overrides and diff */

static void test_overrides(void) {
    ini *c = ini_open(GOOD("run.ini"));
    ini *orig = ini_open(GOOD("run.ini"));
    CHECK(c && orig, "run.ini");
    if (!c || !orig) {
        ini_free(c);
        ini_free(orig);
        return;
    }
    CHECK(ini_set_arg(c, "variant.sw_delta.window=256") == 0, "override");
    int sw = ini_section_find(c, "variant.sw_delta");
    CHECK_EQ_STR(ini_key_name(c, sw, 2), "window"); /* keeps its place */
    CHECK_EQ_STR(ini_key_value(c, sw, 2), "256");
    CHECK_EQ_STR(ini_key_where(c, sw, 2), "--set variant.sw_delta.window=256");
    CHECK_EQ_INT(ini_key_line(c, sw, 2), 0);
    CHECK(ini_set_arg(c, "run.seed=3") == 0, "new key");
    CHECK_EQ_STR(ini_key_name(c, 0, 4), "seed");
    CHECK(ini_set(c, "variant.new.variant", "dense") == 0, "new section via ini_set");
    CHECK_EQ_STR(ini_section_name(c, 4), "variant.new");
    CHECK_EQ_STR(ini_get(c, "variant.new", "variant") ? ini_get(c, "variant.new", "variant") : "", "dense");
    CHECK(ini_set_arg(c, "benchmark.tasks=a, b = c") == 0, "value with '=' and spaces taken literally");
    CHECK_EQ_STR(ini_get(c, "benchmark", "tasks"), "a, b = c");
    CHECK(ini_set_arg(c, "benchmark.tasks=niah_single_1, niah_single_2") == 0, "set back");
    CHECK(ini_set_arg(c, "run.name=") == 0 && strcmp(ini_get(c, "run", "name"), "") == 0, "empty value");
    CHECK(ini_set_arg(c, "run.name=quickstart") == 0, "set back");
    CHECK(ini_check(c, schema, 3) == 0, "overridden config passes the schema");

    /* the saved config.ini would be this text */
    char *t = ini_format(c, NULL);
    CHECK(strstr(t, "[variant.sw_delta]\nvariant = streaming+delta\nsink = 64\nwindow = 256\ngamma = 64\n") &&
              strstr(t, "threads = 2\nseed = 3\n\n[benchmark]") && strstr(t, "\n\n[variant.new]\nvariant = dense\n"),
          "%s", t);
    free(t);

    /* diff: from the file to the overridden config */
    char buf[512];
    int d = ini_diff(orig, c, buf, sizeof buf);
    CHECK_EQ_INT(d, 3);
    CHECK_EQ_STR(buf, "[run] seed: added (= 3); [variant.sw_delta] window: 512 -> 256; [variant.new]: added");
    d = ini_diff(c, orig, buf, sizeof buf);
    CHECK_EQ_INT(d, 3);
    CHECK_EQ_STR(buf, "[run] seed: removed (was 3); [variant.sw_delta] window: 256 -> 512; [variant.new]: removed");
    CHECK(ini_set_arg(c, "run.threads=") == 0 && ini_set_arg(c, "benchmark.samples=8") == 0, "more");
    d = ini_diff(orig, c, buf, sizeof buf);
    CHECK_EQ_INT(d, 5);
    CHECK_EQ_STR(buf, "[run] threads: 2 -> \"\"; [run] seed: added (= 3); [benchmark] samples: 4 -> 8; and 2 more");
    /* a small buffer is truncated, never overrun; a NULL-sized one is left alone */
    char tiny[12];
    d = ini_diff(orig, c, tiny, sizeof tiny);
    CHECK(d == 5 && strlen(tiny) == sizeof tiny - 1 && strncmp(tiny, "[run] threa", 11) == 0, "'%s'", tiny);
    CHECK(ini_diff(orig, c, NULL, 0) == 5, "count only");
    CHECK(ini_diff(orig, orig, buf, sizeof buf) == 0 && buf[0] == '\0', "equal");
    /* order does not count */
    const char *x1 = "[a]\nk = 1\nj = 2\n[b]\n", *x2 = "[b]\n[a]\nj = 2\nk = 1\n";
    ini *p1 = ini_parse(x1, strlen(x1), "x1"), *p2 = ini_parse(x2, strlen(x2), "x2");
    CHECK(p1 && p2 && ini_diff(p1, p2, buf, sizeof buf) == 0, "order: %s", buf);
    ini_free(p1);
    ini_free(p2);

    /* an override of an unknown key fails the schema check, named as --set */
    CHECK(ini_set_arg(c, "variant.sw_delta.windw=256") == 0, "set unknown key");
    stderr_begin();
    int rc = ini_check(c, schema, 3);
    CHECK_ERR(rc == -1, "--set variant.sw_delta.windw=256: unknown key 'windw' in [variant.sw_delta] (allowed: "
                        "variant, sink, window, gamma)");
    ini_free(c);
    c = ini_open(GOOD("run.ini"));
    CHECK(ini_set_arg(c, "varaint.x.window=1") == 0, "set unknown section");
    stderr_begin();
    rc = ini_check(c, schema, 3);
    CHECK_ERR(rc == -1, "--set varaint.x.window=1: unknown section [varaint.x] (known: run, benchmark, variant.*)");

    /* malformed overrides */
    static const struct {
        const char *arg, *want;
    } bad[] = {
        {"noequals", "--set noequals: expected SECTION.KEY=VALUE"},
        {"nodot=1", "--set nodot=1: expected SECTION.KEY=VALUE (the last '.' separates section and key)"},
        {"a..b.c=1", "--set a..b.c=1: bad section name 'a..b'"},
        {".x=1", "--set .x=1: bad section name ''"},
        {"run.=1", "--set run.=1: bad key name ''"},
        {"run.my key=1", "--set run.my key=1: bad key name 'my key'"},
        {"run.name=a\nb", "--set run.name=a?b: control character or malformed UTF-8 in the value"},
        {"run.a\x01" "b=1", "--set run.a?b=1: bad key name 'a?b'"},
        {"ru\tn.a=1", "--set ru\tn.a=1: bad section name 'ru\tn'"},
        {"no\nequals", "--set no?equals: expected SECTION.KEY=VALUE"},
        {"run.name=caf\xe9", "--set run.name=caf?: control character or malformed UTF-8 in the value"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        stderr_begin();
        rc = ini_set_arg(c, bad[i].arg);
        CHECK_ERR(rc == -1, bad[i].want);
    }
    CHECK_EQ_STR(ini_get(c, "run", "name"), "quickstart"); /* failed overrides change nothing */
    ini_free(c);
    ini_free(orig);

    /* building a config from nothing */
    c = ini_new(NULL);
    CHECK(ini_set(c, "run.threads", "4") == 0 && ini_set(c, "run.threads", "5") == 0, "set twice");
    t = ini_format(c, NULL);
    CHECK_EQ_STR(t, "[run]\nthreads = 5\n");
    free(t);
    ini_free(c);
}

int main(void) {
    test_run_ini();
    test_values_ini();
    test_small_good();
    test_bad_files();
    test_round_trip();
    test_overrides();
    return test_done("ini");
}
