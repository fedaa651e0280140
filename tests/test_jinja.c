/* test_jinja.c - the Jinja interpreter, construct by construct, against what
 * transformers' jinja2 environment renders (tests/fixtures/chat/jinja_cases.json,
 * written by tools/gen_chat_fixtures.py), plus syntax errors, unsupported
 * constructs and runaway templates. */
#include "jinja.h"
#include "test.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Prints s with control characters escaped, so a failing case is readable. */
static void show(const char *label, const char *s) {
    fprintf(stderr, "    %s: \"", label);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\n') fputs("\\n", stderr);
        else if (*p == '\t') fputs("\\t", stderr);
        else if (*p < 0x20) fprintf(stderr, "\\x%02x", *p);
        else fputc(*p, stderr);
    }
    fputs("\"\n", stderr);
}

/* Runs fn with stderr sent to a temporary file; returns what was printed. */
static char *with_stderr(void (*fn)(void *), void *arg) {
    fflush(stderr);
    int saved = dup(2);
    FILE *tmp = tmpfile();
    if (saved < 0 || !tmp) return xstrdup("");
    dup2(fileno(tmp), 2);
    fn(arg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    long n = ftell(tmp);
    rewind(tmp);
    char *buf = xcalloc(1, (size_t)(n > 0 ? n : 0) + 1);
    if (n > 0 && fread(buf, 1, (size_t)n, tmp) != (size_t)n) buf[0] = 0;
    fclose(tmp);
    return buf;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

typedef struct {
    const char *src;
    jinja_template *t;
    const json_t *vars;
    char *out;
} job;

static void parse_printing(void *p) {
    job *j = p;
    j->t = jinja_parse(j->src, "test template", NULL);
}

static void render_printing(void *p) {
    job *j = p;
    j->out = jinja_render(j->t, j->vars, NULL);
}

static void test_render_cases(const json_t *doc) {
    const json_t *vars = json_object_get(doc, "vars");
    size_t i, agree = 0, n = json_array_size(json_object_get(doc, "render"));
    json_t *c;
    json_array_foreach(json_object_get(doc, "render"), i, c) {
        const char *src = json_string_value(json_object_get(c, "template"));
        const char *want = json_string_value(json_object_get(c, "expected"));
        jinja_error err;
        jinja_template *t = jinja_parse(src, "case", &err);
        char *got = t ? jinja_render(t, vars, &err) : NULL;
        int ok = got && !strcmp(got, want);
        CHECK(ok, "render case %zu", i);
        if (!ok) {
            show("template", src);
            show("expected", want);
            if (got) show("got     ", got);
            else fprintf(stderr, "    error: line %d: %s\n", err.line, err.msg);
        }
        agree += ok;
        free(got);
        jinja_free(t);
    }
    printf("jinja constructs: %zu/%zu render cases agree with jinja2\n", agree, n);
}

static void test_raise_cases(const json_t *doc) {
    const json_t *vars = json_object_get(doc, "vars");
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(doc, "raise"), i, c) {
        const char *src = json_string_value(json_object_get(c, "template"));
        const char *type = json_string_value(json_object_get(c, "error_type"));
        const char *msg = json_string_value(json_object_get(c, "error"));
        jinja_error err;
        jinja_template *t = jinja_parse(src, "case", &err);
        CHECK(t != NULL, "raise case %zu parses: %s (%s)", i, src, err.msg);
        if (!t) continue;
        char *got = jinja_render(t, vars, &err);
        CHECK(got == NULL, "raise case %zu must fail: %s -> %s", i, src, got ? got : "");
        CHECK(err.msg[0] != 0, "raise case %zu has a message", i);
        /* raise_exception's text is the template's own: it must come through unchanged */
        if (!strcmp(type, "TemplateError")) CHECK_EQ_STR(err.msg, msg);
        free(got);
        jinja_free(t);
    }
}

static void test_syntax_errors(const json_t *doc) {
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(doc, "syntax_errors"), i, c) {
        const char *src = json_string_value(json_object_get(c, "template"));
        jinja_error err;
        jinja_template *t = jinja_parse(src, "case", &err);
        CHECK(t == NULL, "syntax error case %zu must not parse: %s", i, src);
        CHECK(err.msg[0] != 0 && err.line >= 1, "syntax error case %zu: a message and a line", i);
        jinja_free(t);
        /* printed form: exactly one line */
        job j = {src, NULL, NULL, NULL};
        char *printed = with_stderr(parse_printing, &j);
        CHECK(j.t == NULL, "syntax error case %zu (printing)", i);
        CHECK(count_lines(printed) == 1 && !strncmp(printed, "evalctl: test template: line ", 29),
              "one error line, got \"%s\"", printed);
        free(printed);
        jinja_free(j.t);
    }
}

static void test_unsupported(const json_t *doc) {
    const json_t *vars = json_object_get(doc, "vars");
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(doc, "unsupported"), i, c) {
        const char *src = json_string_value(json_object_get(c, "template"));
        const char *want = json_string_value(json_object_get(c, "error_contains"));
        jinja_error err;
        jinja_template *t = jinja_parse(src, "case", &err);
        char *got = t ? jinja_render(t, vars, &err) : NULL;
        char line[700];
        snprintf(line, sizeof line, "line %d: %s", err.line, err.msg);
        CHECK(got == NULL && strstr(line, want), "unsupported case %zu: \"%s\" should contain \"%s\"", i, line, want);
        free(got);
        jinja_free(t);
    }
}

/* Templates that must end in one error line rather than hang, exhaust memory
 * or overflow the stack. */
static void test_runaway(void) {
    static const char *const parse_bad[] = {
        "{{ ((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((1 }}",
        "{{ [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[ }}",
        "\xff\xfe",
    };
    for (size_t i = 0; i < sizeof parse_bad / sizeof parse_bad[0]; i++) {
        jinja_error err;
        jinja_template *t = jinja_parse(parse_bad[i], "runaway", &err);
        CHECK(t == NULL && err.msg[0], "bad template %zu refused: %s", i, err.msg);
        jinja_free(t);
    }
    /* 300 nested ifs: deeper than the parser allows */
    size_t cap = 300 * 24 + 16;
    char *deep = xmalloc(cap);
    deep[0] = 0;
    for (int i = 0; i < 300; i++) strcat(deep, "{% if true %}");
    for (int i = 0; i < 300; i++) strcat(deep, "{% endif %}");
    jinja_error err;
    jinja_template *t = jinja_parse(deep, "deep", &err);
    CHECK(t == NULL && strstr(err.msg, "too deeply"), "deep nesting refused: %s", err.msg);
    free(deep);

    static const struct { const char *src, *want; } run_bad[] = {
        {"{% macro r() %}{{ r() }}{% endmacro %}{{ r() }}", "nested too deeply"},
        {"{% set r = range(100000) %}{% for i in r %}{% for j in r %}{% endfor %}{% endfor %}", "loop iterations"},
        {"{% for i in range(100000) %}{{ 'x' * 100000 }}{% endfor %}", "output larger"},
        {"{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", "MiB"},
        {"{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}", "string larger"},
        {"{% set ns = namespace(l=[1, 2]) %}{% for i in range(40) %}{% set ns.l = ns.l * 2 %}{% endfor %}", "larger than"},
    };
    for (size_t i = 0; i < sizeof run_bad / sizeof run_bad[0]; i++) {
        t = jinja_parse(run_bad[i].src, "runaway", &err);
        CHECK(t != NULL, "runaway %zu parses", i);
        if (!t) continue;
        char *out = jinja_render(t, NULL, &err);
        CHECK(out == NULL && strstr(err.msg, run_bad[i].want), "runaway %zu stopped: \"%s\"", i, err.msg);
        free(out);
        jinja_free(t);
    }
}

static void test_printed_render_error(void) {
    job j = {"line one\n{{ raise_exception('Conversation roles must alternate') }}", NULL, NULL, NULL};
    j.t = jinja_parse(j.src, "test template", NULL);
    CHECK(j.t != NULL, "parses");
    if (!j.t) return;
    char *printed = with_stderr(render_printing, &j);
    CHECK_EQ_STR(printed, "evalctl: test template: line 2: Conversation roles must alternate\n");
    CHECK(j.out == NULL, "no output on error");
    free(printed);
    jinja_free(j.t);
}

static void test_fixed_date_env(void) {
    jinja_error err;
    jinja_template *t = jinja_parse("{{ strftime_now('%d %b %Y') }}", "date", &err);
    setenv("EVALCTL_DATE", "2024-07-26", 1);
    char *out = jinja_render(t, NULL, &err);
    CHECK(out && !strcmp(out, "26 Jul 2024"), "EVALCTL_DATE: %s", out ? out : err.msg);
    free(out);
    setenv("EVALCTL_DATE", "yesterday", 1);
    out = jinja_render(t, NULL, &err);
    CHECK(out == NULL && strstr(err.msg, "EVALCTL_DATE"), "bad EVALCTL_DATE refused: %s", err.msg);
    free(out);
    jinja_free(t);
}

int main(void) {
    json_error_t je;
    json_t *doc = json_load_file(FIXTURE("chat/jinja_cases.json"), 0, &je);
    CHECK(doc != NULL, "load jinja_cases.json: %s", je.text);
    if (!doc) return test_done("jinja");
    setenv("EVALCTL_DATE", json_string_value(json_object_get(doc, "date")), 1);
    test_render_cases(doc);
    test_raise_cases(doc);
    test_syntax_errors(doc);
    test_unsupported(doc);
    test_runaway();
    test_printed_render_error();
    test_fixed_date_env();
    json_decref(doc);
    return test_done("jinja");
}
