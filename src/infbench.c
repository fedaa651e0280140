/* infbench.c - InfiniteBench task files, prompts, truncation and the synthetic
 * retrieval tasks; see infbench.h for the official code this follows. */
#include "infbench.h"

#include "chat.h"
#include "pystr.h"
#include "rng.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- tasks */

static const char *const task_names[INFB_N_TASKS] = {
    "passkey",          "number_string",       "kv_retrieval", "longbook_sum_eng",
    "longbook_choice_eng", "longbook_qa_eng",  "longbook_qa_chn", "longdialogue_qa_eng",
    "math_find",        "math_calc",           "code_run",     "code_debug",
};

/* eval_utils.py DATA_NAME_TO_MAX_NEW_TOKENS */
static const int max_new[INFB_N_TASKS] = {6, 12, 50, 1200, 40, 40, 40, 40, 3, 30000, 5, 5};

int infb_task_from_name(const char *name) {
    for (int i = 0; i < INFB_N_TASKS; i++)
        if (!strcmp(name, task_names[i])) return i;
    return -1;
}

const char *infb_task_name(infb_task t) { return (unsigned)t < INFB_N_TASKS ? task_names[t] : "?"; }

const char *infb_task_names(void) {
    return "passkey, number_string, kv_retrieval, longbook_sum_eng, longbook_choice_eng, longbook_qa_eng, "
           "longbook_qa_chn, longdialogue_qa_eng, math_find, math_calc, code_run, code_debug";
}

int infb_max_new_tokens(infb_task t) { return (unsigned)t < INFB_N_TASKS ? max_new[t] : 0; }

int infb_task_is_synthetic(infb_task t) {
    return t == INFB_PASSKEY || t == INFB_NUMBER_STRING || t == INFB_KV_RETRIEVAL;
}

/* ------------------------------------------------------------ templates */

/* src/prompt.py, character for character (Python str.format syntax). */
#define T_PASSKEY_INTRO "There is an important info hidden inside a lot of irrelevant text. Find it and memorize "
#define T_NUMBER_INTRO \
    "There is an important info hidden inside a lot of irrelevant text. Find it. I will quiz you about the important information there.\n\n"
#define T_MASK_INTRO \
    "Below is a dialogue script where one random occurrence of a character name is replaced with \"$$MASK$$\", and you should try to guess who that character is."
#define T_CHOICE_TAIL                                                                                              \
    "Only one of the following options is correct, tell me the answer using one single letter (A, B, C, or D). " \
    "Don't say anything else.\nA. {OPTION_A}\nB. {OPTION_B}\nC. {OPTION_C}\nD. {OPTION_D}"
#define T_DEBUG_HEAD                                                                                             \
    "There is ONLY ONE function in the large project that is deliberately made to include an obvious error. "   \
    "Please find the function that contains the most obvious errors. I will give you four options to narrow "   \
    "your scope. You can inspect "
#define T_DEBUG_TAIL                                                                                                \
    "Eventually, tell me the answer using one single letter (A, B, C, or D).\n\n{context}\n\nWhich funtion has "   \
    "deliberate error?\nA. {OPTION_A}\nB. {OPTION_B}\nC. {OPTION_C}\nD. {OPTION_D}\n\nYou should first find the " \
    "functions in the options. Repeat their content, inspect through code, and at last give me your answer for "  \
    "the function that has the deliberate and obvious error in A, B, C, or D."
#define T_DIALOGUE_GPT4                                                                                            \
    T_MASK_INTRO "\n\nThe dialogue:\n\n---\n\n{context}\n\n---\n\nEnd of dialogue.\n\nWhich character is most "    \
                 "likely \"$$MASK$$\"? Just say the name used by the scriptwriter (before the colon marks) of one " \
                 "single character and nothing else."
#define T_CALC_FEWSHOT \
    "Expression: 1 + 3 + 4\nValues: [1, 4, 8]\n\nExpression: 8 - 3 + 2 - 4\nValues: [8, 5, 7, 3]\n\nExpression: {context}\nValues:"

static const char *const templates[INFB_N_TPL][INFB_N_TASKS] = {
    [INFB_TPL_OPEN] =
        {
            [INFB_PASSKEY] = T_PASSKEY_INTRO "it. I will quiz you about the important information.\n\n{context}\n\n{input}\n\nThe pass key is",
            [INFB_NUMBER_STRING] = T_NUMBER_INTRO "{context}\n\n{input}\n\nThe sequence of digits is",
            [INFB_KV_RETRIEVAL] = "Extract the value corresponding to the specified key in the JSON object below.\n\n{context}\n\n{input}",
            [INFB_LONGBOOK_SUM_ENG] = "Summarize the book below.\n\n{context}\n\nSummary:",
            [INFB_LONGBOOK_CHOICE_ENG] = "Read the book and answer the question.\n\n{context}\n\nQuestion: {question}\nA. "
                                         "{OPTION_A}\nB. {OPTION_B}\nC. {OPTION_C}\nD. {OPTION_D}\n\nThe letter of the "
                                         "correct answer is",
            [INFB_LONGBOOK_QA_ENG] = "Read the book and answer the question. Be very concise in your answer.\n\n{context}"
                                     "\n\nQuestion: {question}\nAnswer:",
            [INFB_LONGBOOK_QA_CHN] = "阅读以下书籍然后回答问题。\n\n{context}\n\n问题：{question}\n答案：",
            [INFB_MATH_FIND] = "{prefix}\n\n{context}\n\n{input}",
            [INFB_MATH_CALC] = "Let us calculate the intermediate values of an expression.\n\n" T_CALC_FEWSHOT,
            [INFB_CODE_RUN] = "There is a function called {func} in the following Python code.\n\n{context}\n\nPlease "
                              "compute the exact value of {func_call}. The value of {func_call} is",
            [INFB_CODE_DEBUG] = "Following is a Python code where exactly one of the functions/methods has a deliberate "
                                "error that makes it crash.\n\n{context}\n\nOptions:\nA. {OPTION_A}\nB. {OPTION_B}\nC. "
                                "{OPTION_C}\nD. {OPTION_D}\n\nThe correct option is:",
            [INFB_LONGDIALOGUE_QA_ENG] = T_MASK_INTRO "\n\n{context}\n\nThe name that has been replaced with $$MASK$$ is likely",
        },
    [INFB_TPL_GPT4] =
        {
            [INFB_PASSKEY] = T_PASSKEY_INTRO "them. I will quiz you about the important information there.\n\n{context}\n\n{input}",
            [INFB_NUMBER_STRING] = T_NUMBER_INTRO "{context}\n\n{input}",
            [INFB_KV_RETRIEVAL] = "Extract the value corresponding to the specified key in the JSON object below.\n\n{context}\n\n{input}",
            [INFB_LONGBOOK_QA_ENG] = "Read the book below and answer a question.\n\n{context}\n\nQuestion: {question}\n\nBe very concise.",
            [INFB_LONGBOOK_CHOICE_ENG] = "Read the book and answer the question.\n\n{context}\n\nQuestion: {question}\n\n" T_CHOICE_TAIL,
            [INFB_LONGBOOK_SUM_ENG] = "Summarize the following book.\n\n{context}",
            [INFB_LONGBOOK_QA_CHN] = "请根据以下书籍回答我的问题。\n\n{context}\n\n问题：{question}\n请尽量简短地回答。",
            [INFB_MATH_FIND] = "{prefix}\n\n{context}\n\n{input}",
            [INFB_MATH_CALC] = "Compute the intermediate values in the following long expression.\n\n{context}",
            [INFB_CODE_RUN] = "Following is a set of Python functions. There is a function called named {func}.\n\n"
                              "{context}\n\nPlease give me the exact number of the return value of {func_call}. Be "
                              "concise. Your response must end with the final returned value.",
            [INFB_CODE_DEBUG] = T_DEBUG_HEAD "the options and think. " T_DEBUG_TAIL,
            [INFB_LONGDIALOGUE_QA_ENG] = T_DIALOGUE_GPT4,
        },
    [INFB_TPL_CLAUDE2] =
        {
            [INFB_PASSKEY] = T_PASSKEY_INTRO "them. I will quiz you about the important information there.\n\n{context}\n{input}\nThe pass key is",
            [INFB_NUMBER_STRING] = T_NUMBER_INTRO "{context}\n{input}\nThe sequence of digits is",
            [INFB_KV_RETRIEVAL] = T_NUMBER_INTRO "{context}\n{input}",
            [INFB_LONGBOOK_SUM_ENG] = "Summarize the following book.\n\n{context}",
            [INFB_LONGBOOK_CHOICE_ENG] = "Read the book and answer the question.\n\n{context}\n\nQuestion: {question}\n\n" T_CHOICE_TAIL,
            [INFB_LONGBOOK_QA_ENG] = "Read the novel below and answer a question:\n\n{context}\n\n{input}\nPlease answer "
                                     "as short as possible. The answer is: ",
            [INFB_LONGBOOK_QA_CHN] = "请根据以下书籍回答我的问题。\n\n{context}\n\n问题：{question}\n请尽量简短地回答。",
            [INFB_MATH_FIND] = "{prefix}\n\n{context}\n\n{input}",
            [INFB_MATH_CALC] = "Let us calculate the intermediate values of an expression.\n" T_CALC_FEWSHOT,
            [INFB_CODE_RUN] = "In the file functions_module.py, there is a function called ${func}.\n\n\nHere is the "
                              "content of functions_module.py:\n{context}\n\nPlease give me the exact number of the "
                              "return value of {func_call}. Your response should end with the sentence 'The return "
                              "value is:'.",
            [INFB_CODE_DEBUG] = T_DEBUG_HEAD "through the options and think. " T_DEBUG_TAIL,
            [INFB_LONGDIALOGUE_QA_ENG] = T_DIALOGUE_GPT4,
        },
    [INFB_TPL_KIMI] =
        {
            [INFB_PASSKEY] = T_PASSKEY_INTRO "them. I will quiz you about the important information there.\n\n{context}\n{input}\nThe pass key is",
            [INFB_NUMBER_STRING] = T_NUMBER_INTRO "{context}\n{input}\nThe sequence of digits is",
            [INFB_KV_RETRIEVAL] = "Extract the value corresponding to the specified key in the JSON object below.\n\n{context}\n{input}",
            [INFB_LONGBOOK_SUM_ENG] = "Summarize the book below:\n\n{file:{context}}",
            [INFB_LONGBOOK_CHOICE_ENG] = "Read the book and answer the question.\n\nQuestion: {question}\n\n" T_CHOICE_TAIL "{file:{document}}",
            [INFB_LONGBOOK_QA_ENG] = "Read the book below and answer a question.\n\nQuestion: {question}\n\nBe very concise.{file:{context}}",
            [INFB_LONGBOOK_QA_CHN] = "阅读以下书籍然后回答问题。\n\n问题：{question}\n答案：{file:{context}}",
            [INFB_MATH_FIND] = "{prefix}\n\n{context}\n\n{input}",
            [INFB_MATH_CALC] = "Let us calculate the intermediate values of an expression.\n" T_CALC_FEWSHOT,
            [INFB_CODE_RUN] = "In the file functions_module.py, there is a function called ${func}.\n\n\nHere is the "
                              "content of functions_module.py:\n\nPlease give me the exact number of the return value "
                              "of ${func_call}. Your response should end with the sentence 'The return value is:'.{context}",
            [INFB_CODE_DEBUG] = "Below is a code repository where there is one single function with bugs that causes an "
                                "error. Please tell me the name of that function.\nWhich function has bugs? Give me the "
                                "final answer in this format: \"[FINAL ANSWER: XXX]\". Don't say anything else.{fcontext}",
            [INFB_LONGDIALOGUE_QA_ENG] = T_MASK_INTRO " Give me the answer using the name before the colons, don't say "
                                                      "anything else.\n\n{context}",
        },
};

static const char *const tpl_names[INFB_N_TPL] = {"open", "gpt4", "claude2", "kimi"};

int infb_template_from_name(const char *name) {
    static const struct {
        const char *name;
        infb_tpl tpl;
    } alias[] = {
        {"open", INFB_TPL_OPEN},       {"yarn-mistral", INFB_TPL_OPEN}, {"yi-6b-200k", INFB_TPL_OPEN},
        {"yi-34b-200k", INFB_TPL_OPEN}, {"chatglm3", INFB_TPL_OPEN},    {"gpt4", INFB_TPL_GPT4},
        {"claude2", INFB_TPL_CLAUDE2}, {"kimi", INFB_TPL_KIMI},
    };
    for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
        if (!strcmp(name, alias[i].name)) return alias[i].tpl;
    return -1;
}

const char *infb_template_name(infb_tpl t) { return (unsigned)t < INFB_N_TPL ? tpl_names[t] : "?"; }
infb_tpl infb_template_default(void) { return INFB_TPL_OPEN; }

const char *infb_template_text(infb_tpl tpl, infb_task task) {
    if ((unsigned)tpl >= INFB_N_TPL || (unsigned)task >= INFB_N_TASKS) return NULL;
    return templates[tpl][task];
}

/* ------------------------------------------------------------ strings */

typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) {
            if (cap > SIZE_MAX / 2) ev_fatal("infbench: string too long");
            cap *= 2;
        }
        b->p = xrealloc(b->p, cap);
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

/* A keyword argument of str.format. */
typedef struct {
    const char *name;
    const char *s;
    size_t n;
} kwarg;

/* Python's template.format(**kw) for the subset prompt.py uses: literal text,
 * {{ and }}, and {name} fields (a field with a format spec or conversion is
 * parsed so that a missing name raises first, as in Python). Returns 0, or -1
 * with the name Python's KeyError would carry in *missing (or NULL for a
 * construct not supported). */
static int pyformat(const char *tpl, const kwarg *kw, int nkw, sbuf *out, char *missing, size_t msz) {
    const char *p = tpl;
    missing[0] = '\0';
    while (*p) {
        const char *q = p;
        while (*q && *q != '{' && *q != '}') q++;
        sb_add(out, p, (size_t)(q - p));
        p = q;
        if (!*p) break;
        if (p[0] == '}') {
            if (p[1] != '}') return -1; /* "Single '}' encountered": not in prompt.py */
            sb_add(out, "}", 1);
            p += 2;
            continue;
        }
        if (p[1] == '{') {
            sb_add(out, "{", 1);
            p += 2;
            continue;
        }
        const char *name = ++p;
        while (*p && *p != '}' && *p != ':' && *p != '!') p++;
        size_t nlen = (size_t)(p - name);
        int plain = *p == '}';
        /* skip a format spec with its nested fields */
        int depth = 1;
        while (*p && depth) {
            if (*p == '{') depth++;
            else if (*p == '}') depth--;
            if (depth) p++;
        }
        if (!*p) return -1;
        p++;
        int k;
        for (k = 0; k < nkw; k++)
            if (strlen(kw[k].name) == nlen && !memcmp(kw[k].name, name, nlen)) break;
        if (k == nkw) {
            snprintf(missing, msz, "%.*s", (int)(nlen < 64 ? nlen : 64), name);
            return -1;
        }
        if (!plain) return -1;
        sb_add(out, kw[k].s, kw[k].n);
    }
    return 0;
}

/* ------------------------------------------------------------ records */

#define WHERE(w) ((w) ? (w) : "infinitebench")

/* A string field the prompt reads. */
static int get_str(const json_t *rec, const char *key, const char *where, const char **s, size_t *n) {
    const json_t *v = json_object_get(rec, key);
    if (!v) return ev_error("%s: missing field \"%s\"", WHERE(where), key);
    if (!json_is_string(v)) return ev_error("%s: field \"%s\" must be a string", WHERE(where), key);
    *s = json_string_value(v);
    *n = json_string_length(v);
    return 0;
}

/* options[0..3], strings. */
static int get_options(const json_t *rec, const char *where, kwarg opt[4]) {
    static const char *const names[4] = {"OPTION_A", "OPTION_B", "OPTION_C", "OPTION_D"};
    const json_t *v = json_object_get(rec, "options");
    if (!v) return ev_error("%s: missing field \"options\"", WHERE(where));
    if (!json_is_array(v) || json_array_size(v) < 4)
        return ev_error("%s: field \"options\" must be a list of at least 4 strings", WHERE(where));
    for (int i = 0; i < 4; i++) {
        const json_t *o = json_array_get(v, (size_t)i);
        if (!json_is_string(o))
            return ev_error("%s: field \"options\" must be a list of at least 4 strings (item %d is not)",
                            WHERE(where), i);
        opt[i] = (kwarg){names[i], json_string_value(o), json_string_length(o)};
    }
    return 0;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* re.findall(r"func_[0-9]+\(\-?[0-9]+\)", s)[0]: the pattern is ASCII, so a
 * byte scan of the UTF-8 finds the same leftmost match. */
static int find_func_call(const char *s, size_t n, size_t *off, size_t *len, size_t *name_len) {
    for (size_t p = 0; p + 5 <= n; p++) {
        if (memcmp(s + p, "func_", 5) != 0) continue;
        size_t q = p + 5;
        if (q >= n || !is_digit(s[q])) continue;
        while (q < n && is_digit(s[q])) q++;
        if (q >= n || s[q] != '(') continue;
        size_t nl = q - p;
        q++;
        if (q < n && s[q] == '-') q++;
        if (q >= n || !is_digit(s[q])) continue;
        while (q < n && is_digit(s[q])) q++;
        if (q >= n || s[q] != ')') continue;
        *off = p;
        *len = q + 1 - p;
        *name_len = nl;
        return 0;
    }
    return -1;
}

/* re.findall(r"The .+ of", s)[0].lower()[:-3] on code points: '.' is any
 * character but '\n', .+ is greedy, so in the first line whose first "The "
 * starts at least 5 characters before the line's last " of" the match runs
 * from that "The " to the end of that " of". Returns a heap UTF-8 string or
 * NULL when nothing matches. */
static char *math_find_target(const char *s, size_t n) {
    pystr in = {0};
    if (pystr_from_utf8(&in, s, n) != 0) return NULL;
    const uint32_t *c = in.cp;
    char *res = NULL;
    for (size_t a = 0; a < in.n && !res;) {
        size_t b = a;
        while (b < in.n && c[b] != '\n') b++;
        size_t first = SIZE_MAX, last = SIZE_MAX;
        for (size_t p = a; p + 4 <= b; p++)
            if (c[p] == 'T' && c[p + 1] == 'h' && c[p + 2] == 'e' && c[p + 3] == ' ') {
                first = p;
                break;
            }
        for (size_t e = b >= a + 3 ? b - 3 + 1 : a; e-- > a;)
            if (c[e] == ' ' && c[e + 1] == 'o' && c[e + 2] == 'f') {
                last = e;
                break;
            }
        if (first != SIZE_MAX && last != SIZE_MAX && first + 5 <= last) {
            pystr m = {0}, lo = {0};
            pystr_append(&m, c + first, last + 3 - first);
            pystr_lower(&m, &lo);
            res = pystr_to_utf8(lo.cp, lo.n - 3, NULL);
            pystr_free(&m);
            pystr_free(&lo);
        }
        a = b + 1;
    }
    pystr_free(&in);
    return res;
}

/* create_prompt's fallback branch (passkey, number_string, kv_retrieval)
 * moves a record's "content" into "context" before formatting. */
static const char *ctx_key(const json_t *rec) { return json_object_get(rec, "content") ? "content" : "context"; }

/* Checks what create_prompt reads, in its order, without formatting. */
static int check_record(const json_t *rec, infb_task task, const char *where) {
    const char *s, *in;
    size_t n, inn;
    kwarg opt[4];
    if (!json_is_object(rec)) return ev_error("%s: the record is not a JSON object", WHERE(where));
    switch (task) {
    case INFB_CODE_RUN: {
        size_t off, len, nl;
        if (get_str(rec, "input", where, &in, &inn)) return -1;
        if (find_func_call(in, inn, &off, &len, &nl))
            return ev_error("%s: field \"input\" has no call func_N(X) (create_prompt takes the function from it)",
                            WHERE(where));
        return get_str(rec, "context", where, &s, &n);
    }
    case INFB_CODE_DEBUG:
        if (get_str(rec, "context", where, &s, &n)) return -1;
        return get_options(rec, where, opt);
    case INFB_LONGBOOK_CHOICE_ENG:
        if (get_str(rec, "context", where, &s, &n) || get_str(rec, "input", where, &in, &inn)) return -1;
        return get_options(rec, where, opt);
    case INFB_LONGBOOK_QA_ENG:
    case INFB_LONGBOOK_QA_CHN:
        if (get_str(rec, "context", where, &s, &n)) return -1;
        return get_str(rec, "input", where, &in, &inn);
    case INFB_LONGBOOK_SUM_ENG:
    case INFB_LONGDIALOGUE_QA_ENG:
    case INFB_MATH_CALC:
        return get_str(rec, "context", where, &s, &n);
    case INFB_MATH_FIND: {
        if (get_str(rec, "input", where, &in, &inn) || get_str(rec, "context", where, &s, &n)) return -1;
        char *t = math_find_target(in, inn);
        if (!t)
            return ev_error("%s: field \"input\" has no \"The ... of\" (create_prompt asserts one)", WHERE(where));
        free(t);
        return 0;
    }
    default:
        if (get_str(rec, ctx_key(rec), where, &s, &n)) return -1;
        return get_str(rec, "input", where, &in, &inn);
    }
}

/* Formats the template with the keyword arguments create_prompt passes. */
static char *format_prompt(infb_tpl tpl, infb_task task, const kwarg *kw, int nkw, const char *where, size_t *len) {
    sbuf out = {0};
    char missing[72];
    sb_add(&out, "", 0);
    if (pyformat(templates[tpl][task], kw, nkw, &out, missing, sizeof missing) != 0) {
        free(out.p);
        if (missing[0])
            ev_error("%s: the official %s template of %s raises KeyError: '%s'", WHERE(where), tpl_names[tpl],
                     task_names[task], missing);
        else
            ev_error("%s: the %s template of %s uses an unsupported format field", WHERE(where), tpl_names[tpl],
                     task_names[task]);
        return NULL;
    }
    if (len) *len = out.n;
    return out.p;
}

char *infb_prompt_record(const json_t *rec, infb_task task, infb_tpl tpl, const char *where, size_t *len) {
    if ((unsigned)task >= INFB_N_TASKS || (unsigned)tpl >= INFB_N_TPL) {
        ev_error("%s: unknown task or template set", WHERE(where));
        return NULL;
    }
    if (check_record(rec, task, where)) return NULL;
    kwarg kw[8];
    int nkw = 0;
    const char *ctx, *in;
    size_t ctxn, inn;
    get_str(rec, infb_task_is_synthetic(task) ? ctx_key(rec) : "context", where, &ctx, &ctxn);
    if (tpl == INFB_TPL_GPT4 && task == INFB_MATH_CALC) {
        char *r = xmalloc(ctxn + 1);
        memcpy(r, ctx, ctxn);
        r[ctxn] = '\0';
        if (len) *len = ctxn;
        return r;
    }
    kw[nkw++] = (kwarg){"context", ctx, ctxn};
    switch (task) {
    case INFB_CODE_RUN: {
        size_t off, cl, nl;
        get_str(rec, "input", where, &in, &inn);
        find_func_call(in, inn, &off, &cl, &nl);
        kw[nkw++] = (kwarg){"func", in + off, nl};
        kw[nkw++] = (kwarg){"func_call", in + off, cl};
        break;
    }
    case INFB_CODE_DEBUG:
    case INFB_LONGBOOK_CHOICE_ENG:
        get_options(rec, where, kw + nkw);
        nkw += 4;
        if (task == INFB_CODE_DEBUG) break;
        /* fallthrough */
    case INFB_LONGBOOK_QA_ENG:
    case INFB_LONGBOOK_QA_CHN:
        get_str(rec, "input", where, &in, &inn);
        kw[nkw++] = (kwarg){"question", in, inn};
        break;
    case INFB_LONGBOOK_SUM_ENG:
    case INFB_LONGDIALOGUE_QA_ENG:
    case INFB_MATH_CALC:
        break;
    case INFB_MATH_FIND: {
        get_str(rec, "input", where, &in, &inn);
        char *target = math_find_target(in, inn);
        sbuf pre = {0};
        sb_str(&pre, "What is ");
        sb_str(&pre, target);
        sb_str(&pre, " in the following list?");
        free(target);
        kw[nkw++] = (kwarg){"prefix", pre.p, pre.n};
        kw[nkw++] = (kwarg){"input", in, inn};
        char *r = format_prompt(tpl, task, kw, nkw, where, len);
        free(pre.p);
        return r;
    }
    default:
        get_str(rec, "input", where, &in, &inn);
        kw[nkw++] = (kwarg){"input", in, inn};
        break;
    }
    return format_prompt(tpl, task, kw, nkw, where, len);
}

/* ------------------------------------------------------------ data files */

struct infb_data {
    char *path;
    infb_task task;
    char *text;   /* the whole file, inflated */
    size_t n;     /* records */
    size_t *off;  /* (n) byte offset of each record's line */
    size_t *len;  /* (n) its length */
    size_t *line; /* (n) its 1-based line number */
};

static json_t *parse_line(const infb_data *d, size_t i, const char *where) {
    json_error_t err;
    json_t *rec = json_loadb(d->text + d->off[i], d->len[i], JSON_ALLOW_NUL, &err);
    if (!rec) ev_error("%s: invalid JSON: %s (at column %d)", where, err.text, err.column);
    return rec;
}

infb_data *infb_open(const char *path, infb_task task) {
    if ((unsigned)task >= INFB_N_TASKS) {
        ev_error("%s: unknown task", path);
        return NULL;
    }
    size_t len;
    char *text = ev_read_file(path, &len);
    if (!text) return NULL;
    infb_data *d = xcalloc(1, sizeof *d);
    d->path = xstrdup(path);
    d->task = task;
    d->text = text;
    size_t cap = 0, lineno = 0;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - (text + pos)) : len - pos;
        lineno++;
        size_t k = 0;
        while (k < ll && (text[pos + k] == ' ' || text[pos + k] == '\t' || text[pos + k] == '\r')) k++;
        if (k < ll) {
            if (d->n == cap) {
                cap = cap ? 2 * cap : 64;
                d->off = xrealloc(d->off, cap * sizeof *d->off);
                d->len = xrealloc(d->len, cap * sizeof *d->len);
                d->line = xrealloc(d->line, cap * sizeof *d->line);
            }
            d->off[d->n] = pos;
            d->len[d->n] = ll;
            d->line[d->n] = lineno;
            d->n++;
        }
        pos += ll + 1;
    }
    for (size_t i = 0; i < d->n; i++) {
        char where[4096];
        infb_where(d, i, where, sizeof where);
        json_t *rec = parse_line(d, i, where);
        int bad = !rec || check_record(rec, task, where) != 0;
        json_decref(rec);
        if (bad) {
            infb_close(d);
            return NULL;
        }
    }
    return d;
}

void infb_close(infb_data *d) {
    if (!d) return;
    free(d->path);
    free(d->text);
    free(d->off);
    free(d->len);
    free(d->line);
    free(d);
}

size_t infb_count(const infb_data *d) { return d->n; }
infb_task infb_data_task(const infb_data *d) { return d->task; }

const char *infb_where(const infb_data *d, size_t i, char *buf, size_t n) {
    snprintf(buf, n, "%s:%zu", d->path, i < d->n ? d->line[i] : (size_t)0);
    return buf;
}

json_t *infb_record(const infb_data *d, size_t i) {
    if (i >= d->n) return NULL;
    char where[4096];
    return parse_line(d, i, infb_where(d, i, where, sizeof where));
}

char *infb_prompt(const infb_data *d, size_t i, infb_tpl tpl, size_t *len) {
    char where[4096];
    infb_where(d, i, where, sizeof where);
    json_t *rec = infb_record(d, i);
    if (!rec) return NULL;
    char *p = infb_prompt_record(rec, d->task, tpl, where, len);
    json_decref(rec);
    return p;
}

/* ------------------------------------------------------------ truncation */

void infb_keep(size_t n, size_t max, size_t *head, size_t *tail) {
    if (n <= max) {
        *head = n;
        *tail = 0;
        return;
    }
    *head = max / 2;
    *tail = max / 2;
}

char *infb_truncate(tok_tokenizer *tok, const char *text, size_t len, size_t max, size_t *out_len,
                    size_t *n_before) {
    if (max < 2) {
        ev_error("infinitebench: truncation to %zu tokens: the official split keeps max/2 from each end, so "
                 "max must be at least 2", max);
        return NULL;
    }
    int32_t *ids;
    size_t n;
    if (tok_encode(tok, text, len, 1, &ids, &n) != 0) return NULL;
    size_t head, tail, k = 0;
    infb_keep(n, max, &head, &tail);
    /* skip_special_tokens: drop special added tokens before decoding, as the
     * tokenizers library does */
    for (size_t i = 0; i < head + tail; i++) {
        int32_t id = i < head ? ids[i] : ids[n - tail + (i - head)];
        if (!tok_is_special(tok, id)) ids[k++] = id;
    }
    char *out = tok_decode(tok, ids, k, out_len);
    free(ids);
    if (out && n_before) *n_before = n;
    return out;
}

int infb_prompt_ids(tok_tokenizer *tok, const char *text, size_t len, size_t max, int32_t **ids, size_t *n) {
    size_t tl;
    char *t = infb_truncate(tok, text, len, max, &tl, NULL);
    if (!t) return -1;
    int rc = tok_encode(tok, t, tl, 1, ids, n);
    free(t);
    return rc;
}

char *infb_chat_prompt(const chat_template *ct, const tok_tokenizer *tok, const char *text) {
    json_t *msgs = json_pack("[{s:s, s:s}]", "role", "user", "content", text);
    if (!msgs) {
        ev_error("infinitebench: the prompt is not valid UTF-8");
        return NULL;
    }
    char *r = chat_render(ct, msgs, 1, tok_bos_str(tok), tok_eos_str(tok));
    json_decref(msgs);
    return r;
}

/* ------------------------------------------------------------ synthetic tasks */

const char infb_noise[] = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.\n";
const char infb_passkey_question[] = "What is the pass key?";
const char infb_number_question[] = "What is the sequence of digits?";

static void add_needle(sbuf *b, infb_task task, const char *key) {
    if (task == INFB_PASSKEY) {
        sb_str(b, "The pass key is ");
        sb_str(b, key);
        sb_str(b, ". Remember it. ");
        sb_str(b, key);
        sb_str(b, " is the pass key.\n");
    } else {
        sb_str(b, "The sequence of digits is ");
        sb_str(b, key);
        sb_str(b, ". Remember it. ");
        sb_str(b, key);
        sb_str(b, " is the sequence of digits.\n");
    }
}

char *infb_haystack(infb_task task, const char *key, size_t n, size_t depth, size_t *len) {
    sbuf b = {0};
    sb_add(&b, "", 0);
    size_t nl = sizeof infb_noise - 1;
    for (size_t i = 0; i < depth && i < n; i++) sb_add(&b, infb_noise, nl);
    add_needle(&b, task, key);
    for (size_t i = depth < n ? depth : n; i < n; i++) sb_add(&b, infb_noise, nl);
    if (len) *len = b.n;
    return b.p;
}

char *infb_kv_context(const char *const *keys, const char *const *values, size_t n, size_t *len) {
    sbuf b = {0};
    sb_str(&b, "JSON data:\n{");
    for (size_t i = 0; i < n; i++) {
        sb_str(&b, "\"");
        sb_str(&b, keys[i]);
        sb_str(&b, "\": \"");
        sb_str(&b, values[i]);
        sb_str(&b, "\", ");
    }
    /* text[:-2] + '}' */
    b.n = b.n >= 2 ? b.n - 2 : 0;
    sb_str(&b, "}");
    if (len) *len = b.n;
    return b.p;
}

char *infb_kv_input(const char *key) {
    sbuf b = {0};
    sb_str(&b, "\nKey: \"");
    sb_str(&b, key);
    sb_str(&b, "\"\nThe value associated with the specified key is: ");
    return b.p;
}

static void uuid4(rng_state *r, char out[37]) {
    uint8_t b[16];
    uint64_t x = rng_u64(r), y = rng_u64(r);
    for (int i = 0; i < 8; i++) {
        b[i] = (uint8_t)(x >> (8 * i));
        b[8 + i] = (uint8_t)(y >> (8 * i));
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    static const char hex[] = "0123456789abcdef";
    int k = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out[k++] = '-';
        out[k++] = hex[b[i] >> 4];
        out[k++] = hex[b[i] & 15];
    }
    out[k] = '\0';
}

/* The keys of build_passkey / build_number_string. */
static void make_key(infb_task task, rng_state *r, char key[16]) {
    char d[10];
    int n = 5;
    for (int k = 0; k < 5; k++) d[k] = (char)('0' + rng_range(r, 0, 9));
    if (task == INFB_NUMBER_STRING) {
        for (int k = 0; k < 5; k++) {
            int pos = (int)rng_range(r, 0, 5 + k - 1);
            memmove(d + pos + 1, d + pos, (size_t)(n - pos));
            n++; /* keys.insert(pos, keys[pos]): the digit at pos, doubled */
        }
    }
    memcpy(key, d, (size_t)n);
    key[n] = '\0';
}

/* One sample being fitted: builds its prompt for n units and measures it. */
typedef struct {
    const infb_gen_opts *o;
    size_t i;            /* sample index */
    char key[16];        /* passkey / number_string */
    rng_state rng;       /* kv: the stream the pairs come from */
    char (*kv)[2][37];   /* kv pairs made so far */
    size_t n_kv, cap_kv;
    /* the last prompt built */
    char *context, *input;
    size_t context_len;
    long measured;
} sample;

static size_t depth_of(const infb_gen_opts *o, size_t i, size_t n) {
    if (o->samples <= 1) return n / 2;
    return (size_t)(((unsigned long long)i * n) / (o->samples - 1));
}

static size_t ask_of(const infb_gen_opts *o, size_t i, size_t n) {
    return (size_t)(((unsigned long long)i * n) / o->samples);
}

static void kv_ensure(sample *s, size_t n) {
    while (s->n_kv < n) {
        if (s->n_kv == s->cap_kv) {
            s->cap_kv = s->cap_kv ? 2 * s->cap_kv : 256;
            s->kv = xrealloc(s->kv, s->cap_kv * sizeof *s->kv);
        }
        uuid4(&s->rng, s->kv[s->n_kv][0]);
        uuid4(&s->rng, s->kv[s->n_kv][1]);
        s->n_kv++;
    }
}

/* Builds sample s with n units into s->context/s->input and returns its
 * length (tokens or characters), or -1 after an error line. */
static long build_measure(sample *s, size_t n) {
    const infb_gen_opts *o = s->o;
    free(s->context);
    free(s->input);
    s->context = s->input = NULL;
    if (o->task == INFB_KV_RETRIEVAL) {
        kv_ensure(s, n);
        const char **k = xmalloc(n * sizeof *k), **v = xmalloc(n * sizeof *v);
        for (size_t j = 0; j < n; j++) {
            k[j] = s->kv[j][0];
            v[j] = s->kv[j][1];
        }
        s->context = infb_kv_context(k, v, n, &s->context_len);
        s->input = infb_kv_input(s->kv[ask_of(o, s->i, n)][0]);
        free(k);
        free(v);
    } else {
        s->context = infb_haystack(o->task, s->key, n, depth_of(o, s->i, n), &s->context_len);
        s->input = xstrdup(o->task == INFB_PASSKEY ? infb_passkey_question : infb_number_question);
    }
    kwarg kw[2] = {{"context", s->context, s->context_len}, {"input", s->input, strlen(s->input)}};
    size_t plen;
    char *p = format_prompt(o->tpl, o->task, kw, 2, "gen infinitebench", &plen);
    if (!p) return -1;
    long m;
    if (o->tok) {
        int32_t *ids;
        size_t nid;
        if (tok_encode(o->tok, p, plen, 1, &ids, &nid) != 0) {
            free(p);
            return -1;
        }
        free(ids);
        m = (long)nid;
    } else {
        size_t cps = 0;
        for (size_t j = 0; j < plen; j++) cps += ((unsigned char)p[j] & 0xC0) != 0x80;
        m = (long)cps;
    }
    free(p);
    s->measured = m;
    return m;
}

/* The largest n >= nmin whose prompt fits L, starting from a guess and
 * stepping by the estimated units per token; ends with n fitting and n + 1
 * measured not to. -1 with no error printed when nmin does not fit; -2 after
 * an error line. */
static long fit(sample *s, long guess, long nmin, double per_unit, long *m_nmin) {
    long L = s->o->length, lo = -1, hi = LONG_MAX, g = guess < nmin ? nmin : guess;
    if (per_unit <= 0) per_unit = 1;
    for (;;) {
        long v = build_measure(s, (size_t)g);
        if (v < 0) return -2;
        if (g == nmin && m_nmin) *m_nmin = v;
        if (v <= L) {
            lo = g;
            if (hi == lo + 1) break;
            long step = (long)((double)(L - v) / per_unit);
            if (step < 1) step = 1;
            g = lo + step;
            if (g >= hi) g = lo + (hi - lo) / 2;
            if (g > 100000000L) {
                ev_error("gen infinitebench: %s: the prompt stops growing (L %ld)", infb_task_name(s->o->task), L);
                return -2;
            }
        } else {
            hi = g;
            if (g == nmin) return -1;
            if (lo >= 0 && hi == lo + 1) break;
            long step = (long)ceil((double)(v - L) / per_unit);
            if (step < 1) step = 1;
            g = hi - step;
            if (g <= lo) g = lo + (hi - lo) / 2;
            if (g < nmin) g = nmin;
        }
    }
    if (build_measure(s, (size_t)lo) < 0) return -2; /* leave the fitted prompt in s */
    return lo;
}

json_t *infb_generate(const infb_gen_opts *o, infb_gen_stats *st) {
    const char *tname = infb_task_name(o->task);
    if (!infb_task_is_synthetic(o->task)) {
        ev_error("gen infinitebench: %s is not a synthetic task (passkey, number_string, kv_retrieval)", tname);
        return NULL;
    }
    if (o->samples < 1 || o->length < 1) {
        ev_error("gen infinitebench: %s: need at least one sample and a positive length", tname);
        return NULL;
    }
    int kv = o->task == INFB_KV_RETRIEVAL;
    long nmin = kv ? 1 : 0;
    const char *unit = o->tok ? "tokens" : "characters";
    json_t *out = json_array();
    infb_gen_stats stats = {SIZE_MAX, 0, SIZE_MAX, 0};
    double per_unit = 0;
    long guess = -1;
    for (size_t i = 0; i < o->samples; i++) {
        sample s = {.o = o, .i = i};
        char name[64];
        snprintf(name, sizeof name, "%s/%zu", tname, i);
        rng_seed(&s.rng, rng_derive(o->seed, name));
        if (!kv) make_key(o->task, &s.rng, s.key);
        if (guess < 0) {
            /* the units per token (or character), from nmin and nmin + 16 */
            long a = build_measure(&s, (size_t)nmin), b = a >= 0 ? build_measure(&s, (size_t)nmin + 16) : -1;
            if (a < 0 || b < 0) goto fail_sample;
            if (a > o->length) {
                ev_error("gen infinitebench: %s: a length of %ld %s is too short: the prompt with %s takes %ld",
                         tname, o->length, unit, kv ? "one key-value pair" : "no noise", a);
                goto fail_sample;
            }
            per_unit = (double)(b - a) / 16.0;
            guess = nmin + (long)((double)(o->length - a) / (per_unit > 0 ? per_unit : 1));
        }
        long m0 = 0;
        long n = fit(&s, guess, nmin, per_unit, &m0);
        if (n == -1) {
            ev_error("gen infinitebench: %s: a length of %ld %s is too short: the prompt with %s takes %ld", tname,
                     o->length, unit, kv ? "one key-value pair" : "no noise", m0);
            goto fail_sample;
        }
        if (n < 0) goto fail_sample;
        guess = n;
        const char *answer = kv ? s.kv[ask_of(o, i, (size_t)n)][1] : s.key;
        json_t *rec = json_pack("{s:I, s:s%, s:s, s:s, s:[]}", "id", (json_int_t)i, "context", s.context,
                                s.context_len, "input", s.input, "answer", answer, "options");
        if (!rec) ev_fatal("gen infinitebench: cannot build a record");
        json_array_append_new(out, rec);
        if ((size_t)n < stats.n_min) stats.n_min = (size_t)n;
        if ((size_t)n > stats.n_max) stats.n_max = (size_t)n;
        if ((size_t)s.measured < stats.len_min) stats.len_min = (size_t)s.measured;
        if ((size_t)s.measured > stats.len_max) stats.len_max = (size_t)s.measured;
        free(s.context);
        free(s.input);
        free(s.kv);
        continue;
    fail_sample:
        free(s.context);
        free(s.input);
        free(s.kv);
        json_decref(out);
        return NULL;
    }
    if (st) *st = stats;
    return out;
}

/* ------------------------------------------------------------ writing */

int infb_write_jsonl(const char *path, const json_t *records) {
    size_t pl = strlen(path);
    char *tmp = xmalloc(pl + 32);
    snprintf(tmp, pl + 32, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        ev_error("%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    int bad = 0;
    size_t i;
    json_t *rec;
    json_array_foreach(records, i, rec) {
        char *line = json_dumps(rec, JSON_PRESERVE_ORDER);
        if (!line) ev_fatal("%s: cannot encode record %zu", path, i);
        size_t n = strlen(line);
        if (fwrite(line, 1, n, f) != n || fputc('\n', f) == EOF) bad = 1;
        free(line);
        if (bad) break;
    }
    if (fflush(f) != 0 || ferror(f)) bad = 1;
    if (fclose(f) != 0) bad = 1;
    if (bad) {
        ev_error("%s: write error: %s", tmp, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        ev_error("%s: cannot rename to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}
