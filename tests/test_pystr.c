/* test_pystr.c - pystr against CPython on every code point: str.isspace(),
 * isalnum(), isdecimal() and its digit value, lower() and upper() of each
 * character, and the Final_Sigma rule of lower() (through two probe strings per
 * character); then int(), repr(float) and round() cases. The expectations are
 * tests/fixtures/metric/pyunicode.txt and pyscalar.jsonl, written by
 * tools/gen_metric_fixtures.py from the Python that ran it.
 *
 * Code points unassigned in that Python's Unicode database (flag 512) are
 * skipped: utf8proc may know them from a newer Unicode version, and there
 * pystr follows utf8proc, i.e. a newer Python. */
#include "pystr.h"
#include "test.h"
#include "util.h"

#include <jansson.h>
#include <stdlib.h>

#define NCP 0x110000
enum { F_SPACE = 1, F_ALNUM = 2, F_DEC = 4, F_SKIP = 128, F_CASED = 256, F_CN = 512 };

typedef struct {
    uint32_t cp[4];
    int n; /* 0: maps to itself */
} cmap;

static uint16_t *flags;
static cmap *lower_map, *upper_map;

static int load_table(void) {
    char *text = ev_read_file(FIXTURE("metric/pyunicode.txt"), NULL);
    if (!text) return -1;
    flags = xcalloc(NCP, sizeof *flags);
    lower_map = xcalloc(NCP, sizeof *lower_map);
    upper_map = xcalloc(NCP, sizeof *upper_map);
    for (size_t i = 0; i < NCP; i++) flags[i] = 0xFFFF; /* surrogates: never listed */
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *p = line;
        if (line[0] == 'R') {
            unsigned long a = strtoul(p + 2, &p, 16), b = strtoul(p, &p, 16), f = strtoul(p, &p, 16);
            for (unsigned long c = a; c <= b && c < NCP; c++) flags[c] = (uint16_t)f;
        } else if (line[0] == 'L' || line[0] == 'U') {
            cmap *m = line[0] == 'L' ? lower_map : upper_map;
            unsigned long c = strtoul(p + 2, &p, 16);
            if (c >= NCP) continue;
            while (*p == ' ' && m[c].n < 4) m[c].cp[m[c].n++] = (uint32_t)strtoul(p, &p, 16);
        }
    }
    free(text);
    return 0;
}

/* Counts mismatches of one property, printing the first few. */
typedef struct {
    const char *name;
    long bad;
} prop;

static void miss(prop *p, uint32_t c, const char *fmt, long got, long want) {
    if (p->bad++ < 5) {
        fprintf(stderr, "  %s U+%04X: got ", p->name, c);
        fprintf(stderr, fmt, got);
        fprintf(stderr, ", Python ");
        fprintf(stderr, fmt, want);
        fputc('\n', stderr);
    }
}

static void check_map(prop *p, uint32_t c, const pystr *got, const cmap *want) {
    int ok = want->n == 0 ? (got->n == 1 && got->cp[0] == c) : pystr_eq(got->cp, got->n, want->cp, (size_t)want->n);
    if (!ok && p->bad++ < 5)
        fprintf(stderr, "  %s U+%04X: got %zu code points starting U+%04X\n", p->name, c, got->n,
                got->n ? got->cp[0] : 0);
}

static void test_codepoints(void) {
    prop space = {"isspace", 0}, alnum = {"isalnum", 0}, dec = {"isdecimal", 0}, val = {"decimal value", 0},
         lo = {"lower", 0}, up = {"upper", 0}, sig2 = {"sigma probe A+c+S", 0}, sig3 = {"sigma probe AS+c", 0};
    long checked = 0, skipped = 0;
    pystr in = {0}, out = {0};
    for (uint32_t c = 0; c < NCP; c++) {
        uint16_t f = flags[c];
        if (f == 0xFFFF) continue;
        if (f & F_CN) {
            skipped++;
            continue;
        }
        checked++;
        if (pystr_isspace(c) != !!(f & F_SPACE)) miss(&space, c, "%ld", pystr_isspace(c), !!(f & F_SPACE));
        if (pystr_isalnum(c) != !!(f & F_ALNUM)) miss(&alnum, c, "%ld", pystr_isalnum(c), !!(f & F_ALNUM));
        if (pystr_isdecimal(c) != !!(f & F_DEC)) miss(&dec, c, "%ld", pystr_isdecimal(c), !!(f & F_DEC));
        int want_val = (f & F_DEC) ? (int)((f >> 3) & 15) - 1 : -1;
        if (pystr_decimal_value(c) != want_val) miss(&val, c, "%ld", pystr_decimal_value(c), want_val);
        in.n = 0;
        pystr_push(&in, c);
        pystr_lower(&in, &out);
        check_map(&lo, c, &out, &lower_map[c]);
        pystr_upper(&in, &out);
        check_map(&up, c, &out, &upper_map[c]);
        /* 'A' + c + 'Σ': final sigma iff c is case-ignorable or cased */
        in.n = 0;
        pystr_push(&in, 'A');
        pystr_push(&in, c);
        pystr_push(&in, 0x3A3);
        pystr_lower(&in, &out);
        int p2 = out.cp[out.n - 1] == 0x3C2, want2 = !!(f & (F_SKIP | F_CASED));
        if (p2 != want2) miss(&sig2, c, "%ld", p2, want2);
        /* 'AΣ' + c: final sigma iff c is case-ignorable or not cased */
        in.n = 0;
        pystr_push(&in, 'A');
        pystr_push(&in, 0x3A3);
        pystr_push(&in, c);
        pystr_lower(&in, &out);
        int p3 = out.cp[1] == 0x3C2, want3 = !(f & F_CASED);
        if (p3 != want3) miss(&sig3, c, "%ld", p3, want3);
    }
    pystr_free(&in);
    pystr_free(&out);
    prop *all[] = {&space, &alnum, &dec, &val, &lo, &up, &sig2, &sig3};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        CHECK(all[i]->bad == 0, "%s: %ld of %ld code points differ from Python", all[i]->name, all[i]->bad, checked);
    CHECK(checked > 280000, "only %ld code points checked", checked);
    printf("pystr: %ld code points checked against Python, %ld unassigned there skipped\n", checked, skipped);
}

static void test_scalars(void) {
    FILE *f = fopen(FIXTURE("metric/pyscalar.jsonl"), "r");
    CHECK(f != NULL, "pyscalar.jsonl missing");
    if (!f) return;
    json_error_t err;
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *r = json_loads(line, JSON_ALLOW_NUL, &err);
        CHECK(r != NULL, "bad fixture line: %s", err.text);
        if (!r) continue;
        n++;
        json_t *s = json_object_get(r, "int"), *x = json_object_get(r, "repr"), *rd = json_object_get(r, "round");
        if (s) {
            pystr p = {0};
            CHECK(pystr_from_utf8(&p, json_string_value(s), json_string_length(s)) == 0, "utf8");
            char *canon = NULL;
            int rc = pystr_to_int(p.cp, p.n, &canon);
            const json_t *v = json_object_get(r, "value");
            if (json_is_null(v)) {
                CHECK(rc == -1, "int(%.40s) should raise, got %s", json_string_value(s), canon ? canon : "?");
            } else {
                CHECK(rc == 0 && strcmp(canon, json_string_value(v)) == 0, "int(%.40s): got %s want %.40s",
                      json_string_value(s), rc == 0 ? canon : "ValueError", json_string_value(v));
            }
            free(canon);
            pystr_free(&p);
        } else if (x) {
            char buf[32];
            pystr_float_repr(json_number_value(x), buf);
            CHECK_EQ_STR(buf, json_string_value(json_object_get(r, "text")));
        } else if (rd) {
            double got = pystr_round(json_number_value(rd), (int)json_integer_value(json_object_get(r, "ndigits")));
            double want = json_number_value(json_object_get(r, "value"));
            CHECK(got == want, "round(%.17g, 2): got %.17g want %.17g", json_number_value(rd), got, want);
        }
        json_decref(r);
    }
    free(line);
    fclose(f);
    CHECK(n > 50, "only %d scalar cases", n);
}

static void test_methods(void) {
    pystr s = {0};
    const char *src = "\x1c\xe3\x80\x80 a  b\xc2\xa0" "c\xe2\x80\x8b" "d \xc2\x85";
    CHECK(pystr_from_utf8(&s, src, strlen(src)) == 0, "decode");
    pystr_span *sp;
    size_t n = pystr_split(&s, &sp);
    /* "a", "b", "c\u200bd": U+200B is not whitespace, U+00A0 and U+0085 are */
    CHECK_EQ_INT(n, 3);
    if (n == 3) CHECK_EQ_INT(sp[2].len, 3);
    free(sp);
    pystr_strip(&s);
    CHECK(s.n > 0 && s.cp[0] == 'a' && s.cp[s.n - 1] == 'd', "strip");
    pystr_replace_ascii(&s, " ", "--");
    CHECK(pystr_find_ascii(&s, 0, "a--") == 0, "replace");
    CHECK(pystr_find_ascii(&s, 1, "a--") == -1, "find from");
    pystr_free(&s);
    /* malformed UTF-8: overlong, surrogate, truncated, past U+10FFFF */
    const char *bad[] = {"\xc0\xaf", "\xed\xa0\x80", "\xe2\x82", "\xf4\x90\x80\x80", "\xff"};
    for (size_t i = 0; i < 5; i++) CHECK(pystr_from_utf8(&s, bad[i], strlen(bad[i])) == -1, "bad utf8 %zu", i);
    pystr_free(&s);
    size_t len;
    uint32_t cps[] = {'a', 0xE9, 0x4E2D, 0x1F600};
    char *u = pystr_to_utf8(cps, 4, &len);
    CHECK(len == 10 && strcmp(u, "a\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80") == 0, "encode");
    free(u);
}

int main(void) {
    if (load_table() == 0) {
        test_codepoints();
        free(flags);
        free(lower_map);
        free(upper_map);
    } else {
        CHECK(0, "pyunicode.txt missing");
    }
    test_scalars();
    test_methods();
    return test_done("pystr");
}
