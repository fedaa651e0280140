/* test_chat.c - chat templates: every conversation of tests/fixtures/chat/
 * chat_cases.json (public templates of Llama 3/3.1/3.2, Qwen2/2.5, Mistral,
 * SmolLM2's own, and the built-ins) rendered and compared byte for byte with
 * transformers' apply_chat_template; then where templates are found (GGUF,
 * HF directories, overrides) and how failures read. */
#include "chat.h"
#include "test.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MODEL_GGUF "models/smollm2-135m-instruct.gguf"

static void show(const char *label, const char *s) {
    fprintf(stderr, "    %s: \"", label);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\n') fputs("\\n", stderr);
        else if (*p < 0x20) fprintf(stderr, "\\x%02x", *p);
        else fputc(*p, stderr);
    }
    fputs("\"\n", stderr);
}

static char *read_fixture(const char *rel) {
    char path[512];
    snprintf(path, sizeof path, "tests/fixtures/chat/%s", rel);
    return ev_read_file(path, NULL);
}

/* The variables apply_chat_template gave the template for this case. */
static json_t *case_vars(const json_t *tmpl, const json_t *c) {
    json_t *v = json_deep_copy(json_object_get(c, "vars"));
    json_object_set(v, "messages", json_object_get(c, "messages"));
    json_object_set(v, "add_generation_prompt", json_object_get(c, "add_generation_prompt"));
    json_t *bos = json_object_get(tmpl, "bos_token"), *eos = json_object_get(tmpl, "eos_token");
    if (json_is_string(bos)) json_object_set(v, "bos_token", bos);
    if (json_is_string(eos)) json_object_set(v, "eos_token", eos);
    return v;
}

static void test_template_cases(const json_t *tmpl) {
    const char *name = json_string_value(json_object_get(tmpl, "name"));
    char *src = read_fixture(json_string_value(json_object_get(tmpl, "file")));
    CHECK(src != NULL, "%s: template file", name);
    if (!src) return;
    chat_template *t = chat_template_from_string(src, name);
    CHECK(t != NULL, "%s: parses", name);
    free(src);
    if (!t) return;
    const char *bos = json_string_value(json_object_get(tmpl, "bos_token"));
    const char *eos = json_string_value(json_object_get(tmpl, "eos_token"));
    size_t i, agree = 0, n = 0;
    json_t *c;
    json_array_foreach(json_object_get(tmpl, "cases"), i, c) {
        const char *label = json_string_value(json_object_get(c, "label"));
        const char *want = json_string_value(json_object_get(c, "expected"));
        const char *want_err = json_string_value(json_object_get(c, "error"));
        const char *err_type = json_string_value(json_object_get(c, "error_type"));
        json_t *vars = case_vars(tmpl, c);
        jinja_error err;
        char *got = chat_render_vars(t, vars, &err);
        int ok;
        if (want) {
            ok = got && !strcmp(got, want);
            CHECK(ok, "%s: case %zu (%s)", name, i, label);
            if (!ok) {
                show("expected", want);
                if (got) show("got     ", got);
                else fprintf(stderr, "    error: line %d: %s\n", err.line, err.msg);
            }
        } else {
            /* raise_exception and apply_chat_template's own ValueError carry exact
             * messages; other Python errors only need to be errors here */
            int exact = !strcmp(err_type, "TemplateError") || !strcmp(err_type, "ValueError");
            ok = !got && (!exact || !strcmp(err.msg, want_err));
            CHECK(ok, "%s: case %zu (%s) must fail with \"%s\", got \"%s\"", name, i, label, want_err,
                  got ? got : err.msg);
        }
        /* the plain API agrees when the case needs no extra variables */
        if (want && json_object_size(json_object_get(c, "vars")) == 0) {
            char *plain = chat_render(t, json_object_get(c, "messages"),
                                      json_is_true(json_object_get(c, "add_generation_prompt")), bos, eos);
            CHECK(plain && !strcmp(plain, want), "%s: case %zu via chat_render", name, i);
            free(plain);
        }
        agree += ok;
        n++;
        free(got);
        json_decref(vars);
    }
    printf("chat template %-28s %3zu/%zu cases agree with transformers\n", name, agree, n);
    chat_template_free(t);
}

static void test_builtins_match_fixtures(void) {
    for (int i = 0; chat_builtin_names[i]; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "templates/builtin-%s.jinja", chat_builtin_names[i]);
        char *want = read_fixture(rel);
        const char *src = chat_builtin_source(chat_builtin_names[i]);
        CHECK(want && src && !strcmp(want, src), "built-in %s equals its fixture", chat_builtin_names[i]);
        chat_template *t = chat_template_for_path("/nonexistent", chat_builtin_names[i]);
        CHECK(t && !strcmp(chat_template_source(t), src), "override %s", chat_builtin_names[i]);
        chat_template_free(t);
        free(want);
    }
    CHECK(chat_builtin_source("nosuch") == NULL, "unknown built-in");
}

static void test_gguf(void) {
    if (!ev_is_file(MODEL_GGUF)) {
        printf("test_chat: %s absent (make model): GGUF lookup not tested\n", MODEL_GGUF);
        return;
    }
    chat_template *t = chat_template_for_path(MODEL_GGUF, NULL);
    CHECK(t != NULL, "template from the GGUF");
    if (!t) return;
    char *want = read_fixture("templates/smollm2-135m-instruct.jinja");
    CHECK(want && !strcmp(chat_template_source(t), want), "GGUF template equals gguf.GGUFReader's");
    CHECK_EQ_STR(chat_template_origin(t), "GGUF tokenizer.chat_template");
    json_error_t je;
    json_t *msgs = json_loads("[{\"role\":\"user\",\"content\":\"Hi\"}]", 0, &je);
    char *out = chat_render(t, msgs, 1, "<|im_start|>", "<|im_end|>");
    CHECK(out && !strcmp(out, "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by "
                               "Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"),
          "SmolLM2 render");
    free(out);
    json_decref(msgs);
    free(want);
    chat_template_free(t);
}

typedef struct {
    const char *a, *b;
    chat_template *t;
} job;

static char *with_stderr(void (*fn)(job *), job *j) {
    fflush(stderr);
    int saved = dup(2);
    FILE *tmp = tmpfile();
    if (saved < 0 || !tmp) return xstrdup("");
    dup2(fileno(tmp), 2);
    fn(j);
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

static void do_from_string(job *j) { j->t = chat_template_from_string(j->a, j->b); }
static void do_for_path(job *j) { j->t = chat_template_for_path(j->a, j->b); }

static void write_file(const char *dir, const char *name, const char *text) {
    char *p = ev_path_join(dir, name);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    free(p);
}

static void rm_file(const char *dir, const char *name) {
    char *p = ev_path_join(dir, name);
    unlink(p);
    free(p);
}

static void test_hf_dirs(void) {
    char dir[] = "/tmp/evalctl-chat-XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    json_error_t je;
    json_t *msgs = json_loads("[{\"role\":\"user\",\"content\":\"x\"}]", 0, &je);

    /* no template anywhere: one line naming the directory */
    job j = {dir, NULL, NULL};
    char *printed = with_stderr(do_for_path, &j);
    CHECK(j.t == NULL && strstr(printed, dir) && strstr(printed, "no chat_template.jinja"), "missing: %s", printed);
    free(printed);

    write_file(dir, "tokenizer_config.json", "{\"chat_template\": \"A{{ messages[0].content }}\"}");
    chat_template *t = chat_template_for_path(dir, NULL);
    char *out = t ? chat_render(t, msgs, 0, NULL, NULL) : NULL;
    CHECK(out && !strcmp(out, "Ax"), "tokenizer_config.json string template");
    free(out);
    chat_template_free(t);

    write_file(dir, "tokenizer_config.json",
               "{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"}, {\"name\": \"default\", "
               "\"template\": \"D{{ messages|length }}\"}]}");
    t = chat_template_for_path(dir, NULL);
    out = t ? chat_render(t, msgs, 0, NULL, NULL) : NULL;
    CHECK(out && !strcmp(out, "D1"), "named templates: default");
    free(out);
    chat_template_free(t);

    write_file(dir, "tokenizer_config.json", "{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"}]}");
    j.t = NULL;
    printed = with_stderr(do_for_path, &j);
    CHECK(j.t == NULL && strstr(printed, "'default'"), "named templates without default: %s", printed);
    free(printed);

    write_file(dir, "chat_template.jinja", "J{{ add_generation_prompt }}\n");
    t = chat_template_for_path(dir, NULL);
    out = t ? chat_render(t, msgs, 1, NULL, NULL) : NULL;
    CHECK(out && !strcmp(out, "JTrue"), "chat_template.jinja wins");
    free(out);
    chat_template_free(t);

    /* an override file path */
    char *jpath = ev_path_join(dir, "chat_template.jinja");
    t = chat_template_for_path("/nonexistent", jpath);
    CHECK(t != NULL, "override by path");
    chat_template_free(t);
    free(jpath);

    j.a = dir;
    j.b = "nosuch";
    printed = with_stderr(do_for_path, &j);
    CHECK(j.t == NULL && strstr(printed, "unknown chat template 'nosuch'") && strchr(printed, '\n') == strrchr(printed, '\n'),
          "unknown override: %s", printed);
    free(printed);

    write_file(dir, "tokenizer_config.json", "{bad json");
    rm_file(dir, "chat_template.jinja");
    j.b = NULL;
    printed = with_stderr(do_for_path, &j);
    CHECK(j.t == NULL && strstr(printed, "tokenizer_config.json"), "bad config: %s", printed);
    free(printed);

    rm_file(dir, "tokenizer_config.json");
    rmdir(dir);
    json_decref(msgs);
}

static void test_error_lines(void) {
    /* the error line the issue asks for, word for word */
    job j = {"{{ bos_token }}\n{% for m in messages %}\n{{ m.content | wordwrap(10) }}\n{% endfor %}",
             "GGUF tokenizer.chat_template", NULL};
    char *printed = with_stderr(do_from_string, &j);
    CHECK_EQ_STR(printed, "evalctl: chat template (GGUF tokenizer.chat_template): line 3: unsupported filter 'wordwrap'\n");
    free(printed);

    j.a = "{% if messages %}unclosed";
    j.b = "x.jinja";
    printed = with_stderr(do_from_string, &j);
    CHECK(j.t == NULL && !strncmp(printed, "evalctl: chat template (x.jinja): line 1: ", 42) &&
          strchr(printed, '\n') == printed + strlen(printed) - 1, "unclosed: %s", printed);
    free(printed);

    /* raise_exception through chat_render: one line with the template's message */
    chat_template *t = chat_template_for_path("/nonexistent", "mistral");
    json_error_t je;
    json_t *msgs = json_loads("[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"user\",\"content\":\"b\"}]", 0, &je);
    jinja_error err;
    json_t *vars = json_pack("{s:O, s:b}", "messages", msgs, "add_generation_prompt", 1);
    char *out = chat_render_vars(t, vars, &err);
    CHECK(out == NULL, "alternation violation raises");
    CHECK_EQ_STR(err.msg, "After the optional system message, conversation roles must alternate user/assistant/user/assistant/...");
    json_decref(vars);

    /* messages that are not objects, and an empty conversation */
    json_t *bad = json_loads("[\"just a string\"]", 0, &je);
    vars = json_pack("{s:O}", "messages", bad);
    out = chat_render_vars(t, vars, &err);
    CHECK(out == NULL && strstr(err.msg, "message 0 is not a JSON object"), "non-object message: %s", err.msg);
    json_decref(vars);
    json_decref(bad);
    json_t *empty = json_array();
    vars = json_pack("{s:O}", "messages", empty);
    out = chat_render_vars(t, vars, &err);
    CHECK(out == NULL && strstr(err.msg, "empty conversation"), "empty conversation refused: %s", err.msg);
    json_decref(vars);
    json_decref(empty);
    json_decref(msgs);
    chat_template_free(t);
}

int main(void) {
    json_error_t je;
    json_t *doc = json_load_file(FIXTURE("chat/chat_cases.json"), 0, &je);
    CHECK(doc != NULL, "load chat_cases.json: %s", je.text);
    if (!doc) return test_done("chat");
    setenv("EVALCTL_DATE", json_string_value(json_object_get(doc, "date")), 1);
    size_t i;
    json_t *tmpl;
    json_array_foreach(json_object_get(doc, "templates"), i, tmpl) test_template_cases(tmpl);
    json_decref(doc);
    test_builtins_match_fixtures();
    test_gguf();
    test_hf_dirs();
    test_error_lines();
    return test_done("chat");
}
