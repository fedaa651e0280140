/* metric.c - the official RULER and InfiniteBench scorers, one prediction at a
 * time (see metric.h). Each scorer follows its Python original step by step;
 * comments name the Python they stand for where the mapping is not obvious. */
#include "metric.h"
#include "pystr.h"
#include "rouge.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WHERE(w) ((w) ? (w) : "metric")

/* ------------------------------------------------------------ names */

static const char *const ruler_names[] = {"string_match_all", "string_match_part"};

typedef int (*infb_fn)(const pystr *pred, const json_t *label, double *score, const char *where);

static int sc_passkey(const pystr *, const json_t *, double *, const char *);
static int sc_kv_retrieval(const pystr *, const json_t *, double *, const char *);
static int sc_code_run(const pystr *, const json_t *, double *, const char *);
static int sc_code_debug(const pystr *, const json_t *, double *, const char *);
static int sc_math_find(const pystr *, const json_t *, double *, const char *);
static int sc_math_calc(const pystr *, const json_t *, double *, const char *);
static int sc_longdialogue(const pystr *, const json_t *, double *, const char *);
static int sc_choice(const pystr *, const json_t *, double *, const char *);
static int sc_qa_eng(const pystr *, const json_t *, double *, const char *);
static int sc_qa_chn(const pystr *, const json_t *, double *, const char *);
static int sc_sum(const pystr *, const json_t *, double *, const char *);

static const struct {
    const char *name;
    infb_fn fn;
    const char *raises; /* what Python raises when fn returns METRIC_RAISES */
} infb_tasks[] = {
    {"passkey", sc_passkey, NULL},
    {"number_string", sc_passkey, NULL},
    {"kv_retrieval", sc_kv_retrieval, NULL},
    {"longbook_sum_eng", sc_sum, NULL},
    {"longbook_choice_eng", sc_choice, NULL},
    {"longbook_qa_eng", sc_qa_eng, NULL},
    {"longbook_qa_chn", sc_qa_chn, NULL},
    {"longdialogue_qa_eng", sc_longdialogue, NULL},
    {"math_find", sc_math_find,
     "ValueError: the answer is an int and the first number in the prediction is a decimal fraction "
     "or has over 4300 digits, so int() fails"},
    {"math_calc", sc_math_calc, "ValueError: a number in the prediction has over 4300 digits, so int() fails"},
    {"code_run", sc_code_run, NULL},
    {"code_debug", sc_code_debug, NULL},
};
#define N_INFB (sizeof infb_tasks / sizeof infb_tasks[0])

int metric_kind(const char *name) {
    for (size_t i = 0; i < 2; i++)
        if (strcmp(name, ruler_names[i]) == 0) return METRIC_RULER;
    for (size_t i = 0; i < N_INFB; i++)
        if (strcmp(name, infb_tasks[i].name) == 0) return METRIC_INFBENCH;
    return METRIC_UNKNOWN;
}

const char *metric_names(void) {
    return "string_match_all, string_match_part (RULER); passkey, number_string, kv_retrieval, "
           "longbook_sum_eng, longbook_choice_eng, longbook_qa_eng, longbook_qa_chn, longdialogue_qa_eng, "
           "math_find, math_calc, code_run, code_debug (InfiniteBench)";
}

const char *metric_raise_reason(const char *name) {
    for (size_t i = 0; i < N_INFB; i++)
        if (strcmp(name, infb_tasks[i].name) == 0 && infb_tasks[i].raises) return infb_tasks[i].raises;
    return "the official scorer raises an exception on this prediction";
}

void metric_format(double score, char buf[32]) { pystr_float_repr(score, buf); }

/* ------------------------------------------------------------ helpers */

static int decode(pystr *out, const char *s, size_t len, const char *where, const char *field) {
    if (pystr_from_utf8(out, s, len) != 0) return ev_error("%s: field \"%s\" is not valid UTF-8", WHERE(where), field);
    return 0;
}

static int decode_json(pystr *out, const json_t *j, const char *where, const char *field) {
    return decode(out, json_string_value(j), json_string_length(j), where, field);
}

/* code-point substring test, Python's `needle in hay` */
static int contains(const pystr *hay, const pystr *needle) {
    if (needle->n == 0) return 1;
    if (needle->n > hay->n) return 0;
    for (size_t i = 0; i + needle->n <= hay->n; i++)
        if (hay->cp[i] == needle->cp[0] && pystr_eq(hay->cp + i, needle->n, needle->cp, needle->n)) return 1;
    return 0;
}

/* 1 when the JSON value v equals the pystr s[0, n) under Python's ==: only a
 * string can equal a string. */
static int json_eq_str(const json_t *v, const uint32_t *s, size_t n) {
    if (!json_is_string(v)) return 0;
    pystr t = {0};
    int eq = pystr_from_utf8(&t, json_string_value(v), json_string_length(v)) == 0 && pystr_eq(t.cp, t.n, s, n);
    pystr_free(&t);
    return eq;
}

/* 1 when the JSON value v equals the Python int written canonically in canon
 * (as pystr_to_int makes it): ints, bools (True == 1) and integral floats
 * compare by value, anything else is unequal. */
static int json_eq_int(const json_t *v, const char *canon) {
    char buf[400];
    if (json_is_integer(v)) {
        pystr_int64_canon((long long)json_integer_value(v), buf);
    } else if (json_is_boolean(v)) {
        strcpy(buf, json_is_true(v) ? "1" : "0");
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!isfinite(d) || d != floor(d)) return 0;
        if (d == 0) strcpy(buf, "0");
        else snprintf(buf, sizeof buf, "%.0f", d); /* exact for integral doubles */
    } else {
        return 0;
    }
    return strcmp(buf, canon) == 0;
}

/* Python's label[0] for a label that is a list (its first element) or a str
 * (its first character, as a new string); IndexError, KeyError and TypeError
 * become one error line. Returns a new reference or NULL. */
static json_t *index0(const json_t *label, const char *where, const char *what) {
    if (json_is_array(label)) {
        if (json_array_size(label) == 0) {
            ev_error("%s: field \"answer\" is an empty list (%s takes answer[0])", WHERE(where), what);
            return NULL;
        }
        return json_incref(json_array_get(label, 0));
    }
    if (json_is_string(label)) {
        const char *s = json_string_value(label);
        size_t n = json_string_length(label), k = 1;
        if (n == 0) {
            ev_error("%s: field \"answer\" is an empty string (%s takes answer[0])", WHERE(where), what);
            return NULL;
        }
        while (k < n && ((uint8_t)s[k] & 0xC0) == 0x80) k++;
        return json_stringn(s, k);
    }
    ev_error("%s: field \"answer\" must be a list or a string (%s takes answer[0])", WHERE(where), what);
    return NULL;
}

/* Python's `if isinstance(label, list): label = label[0]`. */
static json_t *unlist(const json_t *label, const char *where, const char *what) {
    if (json_is_array(label)) return index0(label, where, what);
    return json_incref((json_t *)label);
}

/* s = s.replace(c, " ") for each string of the NULL-terminated list. */
static void blank_out(pystr *s, const char *const *chars) {
    for (size_t i = 0; chars[i]; i++) pystr_replace_ascii(s, chars[i], " ");
}

/* while "  " in s: s = s.replace("  ", " ") */
static void squeeze_spaces(pystr *s) {
    while (pystr_find_ascii(s, 0, "  ") >= 0) pystr_replace_ascii(s, "  ", " ");
}

static const char *const retrieval_chars[] = {"\n", ":", "\"", "'", ".", ",", "?", "!", "{", "}", NULL};

/* 1 when some word of s.split() equals w (Python's `w in words`). */
static int in_words(const pystr *s, const pystr_span *words, size_t nw, const json_t *w) {
    for (size_t i = 0; i < nw; i++)
        if (json_eq_str(w, s->cp + words[i].off, words[i].len)) return 1;
    return 0;
}

/* ------------------------------------------------------------ RULER */

static int ruler_score(int all, pystr *pred, pystr *refs, size_t n, double *score) {
    /* postprocess_pred: strip, re.sub(r'[\x00-\x1f]', '\n'), strip */
    pystr_strip(pred);
    for (size_t i = 0; i < pred->n; i++)
        if (pred->cp[i] <= 0x1F) pred->cp[i] = '\n';
    pystr_strip(pred);
    pystr lp = {0}, lr = {0};
    pystr_lower(pred, &lp);
    double sum = 0.0, best = 0.0;
    for (size_t i = 0; i < n; i++) {
        pystr_lower(&refs[i], &lr);
        double hit = contains(&lp, &lr) ? 1.0 : 0.0;
        sum += hit;
        if (hit > best) best = hit;
    }
    pystr_free(&lp);
    pystr_free(&lr);
    /* sum([...]) / len(ref) ... / len(preds) * 100, with one prediction */
    double v = all ? sum / (double)n : best;
    *score = pystr_round(v / 1.0 * 100, 2);
    return 0;
}

static int ruler_which(const char *name, const char *where) {
    if (strcmp(name, "string_match_all") == 0) return 1;
    if (strcmp(name, "string_match_part") == 0) return 0;
    return ev_error("%s: unknown RULER metric '%s' (known: string_match_all, string_match_part)", WHERE(where), name);
}

int metric_ruler(const char *name, const char *pred, size_t pred_len, const char *const *outputs,
                 const size_t *output_lens, size_t n_outputs, double *score, const char *where) {
    int all = ruler_which(name, where);
    if (all < 0) return -1;
    if (n_outputs == 0)
        return ev_error("%s: field \"outputs\" is an empty list (RULER's %s fails on it)", WHERE(where), name);
    pystr p = {0};
    pystr *refs = xcalloc(n_outputs, sizeof *refs);
    int rc = decode(&p, pred, pred_len, where, "pred");
    for (size_t i = 0; rc == 0 && i < n_outputs; i++)
        rc = decode(&refs[i], outputs[i], output_lens ? output_lens[i] : strlen(outputs[i]), where, "outputs");
    if (rc == 0) rc = ruler_score(all, &p, refs, n_outputs, score);
    pystr_free(&p);
    for (size_t i = 0; i < n_outputs; i++) pystr_free(&refs[i]);
    free(refs);
    return rc;
}

/* ------------------------------------------------------------ InfiniteBench */

/* first_int_match: the first run of ASCII digits (re.split("[^0-9]")), or "" */
static void first_int_match(const pystr *pred, size_t *off, size_t *len) {
    size_t i = 0;
    while (i < pred->n && !(pred->cp[i] >= '0' && pred->cp[i] <= '9')) i++;
    size_t a = i;
    while (i < pred->n && pred->cp[i] >= '0' && pred->cp[i] <= '9') i++;
    *off = a;
    *len = i - a;
}

/* passkey and number_string */
static int sc_passkey(const pystr *pred, const json_t *label, double *score, const char *where) {
    json_t *l = unlist(label, where, "passkey/number_string");
    if (!l) return -1;
    size_t off, len;
    first_int_match(pred, &off, &len);
    *score = json_eq_str(l, pred->cp + off, len) ? 1.0 : 0.0;
    json_decref(l);
    return 0;
}

static int sc_kv_retrieval(const pystr *pred0, const json_t *label, double *score, const char *where) {
    (void)where;
    pystr p = {0};
    pystr_append(&p, pred0->cp, pred0->n);
    blank_out(&p, retrieval_chars);
    pystr_span *w;
    size_t nw = pystr_split(&p, &w);
    *score = in_words(&p, w, nw, label) ? 1.0 : 0.0;
    free(w);
    pystr_free(&p);
    return 0;
}

static int sc_code_run(const pystr *pred0, const json_t *label, double *score, const char *where) {
    static const char *const chars[] = {"\n", ".", "`", "'", "\"", ":", NULL};
    json_t *l = unlist(label, where, "code_run");
    if (!l) return -1;
    pystr p = {0};
    pystr_append(&p, pred0->cp, pred0->n);
    pystr_strip(&p);
    blank_out(&p, chars);
    pystr_span *w;
    size_t nw = pystr_split(&p, &w);
    *score = 0.0;
    char *canon;
    /* try: int(words[-1]) ... except Exception: return False */
    if (nw > 0 && pystr_to_int(p.cp + w[nw - 1].off, w[nw - 1].len, &canon) == 0) {
        *score = json_eq_int(l, canon) ? 1.0 : 0.0;
        free(canon);
    }
    free(w);
    pystr_free(&p);
    json_decref(l);
    return 0;
}

/* The prefix rule shared by code_debug and longbook_choice_eng: find the first
 * prefix of the list present in s; the text after it, skipping one character,
 * must start with one of the candidates. Returns 1, 0, or -1 when no prefix
 * occurs. */
static int after_prefix(const pystr *s, const char *const *prefixes, const pystr *cands, size_t ncand) {
    for (size_t k = 0; prefixes[k]; k++) {
        long idx = pystr_find_ascii(s, 0, prefixes[k]);
        if (idx < 0) continue;
        size_t start = (size_t)idx + strlen(prefixes[k]) + 1;
        if (s->n < start) return 0;
        for (size_t c = 0; c < ncand; c++)
            if (pystr_startswith(s->cp + start, s->n - start, cands[c].cp, cands[c].n)) return 1;
        return 0;
    }
    return -1;
}

/* label = get_answer(...) = [text, letter] for both multiple-choice tasks */
static int choice_label(const json_t *label, pystr cand[2], const char *where) {
    for (int i = 0; i < 2; i++)
        if (decode_json(&cand[i], json_array_get(label, (size_t)i), where, "answer") != 0) return -1;
    return 0;
}

static int sc_code_debug(const pystr *pred0, const json_t *label, double *score, const char *where) {
    static const char *const chars[] = {"\n", "`", "'", "\"", "-", "*", "Option", "option", NULL};
    static const char *const prefixes[] = {"answer is:", "is:", "answer:", "correct option is:", NULL};
    pystr lab[2] = {{0}, {0}}; /* fn_name, label_c */
    if (choice_label(label, lab, where) != 0) {
        pystr_free(&lab[0]);
        pystr_free(&lab[1]);
        return -1;
    }
    pystr p = {0};
    pystr_append(&p, pred0->cp, pred0->n);
    pystr_strip(&p);
    *score = 0.0;
    /* pred[:2] in [f"{label_c}.", f"{label_c}:"] */
    size_t head = p.n < 2 ? p.n : 2;
    for (int k = 0; k < 2; k++) {
        pystr t = {0};
        pystr_append(&t, lab[1].cp, lab[1].n);
        pystr_push(&t, k ? ':' : '.');
        if (pystr_eq(p.cp, head, t.cp, t.n)) *score = 1.0;
        pystr_free(&t);
    }
    if (*score == 0.0) {
        blank_out(&p, chars);
        squeeze_spaces(&p);
        pystr cands[2] = {lab[1], lab[0]}; /* [label_c, fn_name] */
        *score = after_prefix(&p, prefixes, cands, 2) == 1 ? 1.0 : 0.0;
    }
    pystr_free(&p);
    pystr_free(&lab[0]);
    pystr_free(&lab[1]);
    return 0;
}

static int sc_choice(const pystr *pred0, const json_t *label, double *score, const char *where) {
    static const char *const chars[] = {"\n", "\"", "'", ".", ",", "?", "!", "{", "}", NULL};
    static const char *const prefixes[] = {"answer is:", "answer:", "answer is", "option is", NULL};
    pystr lab[2] = {{0}, {0}};
    if (choice_label(label, lab, where) != 0) {
        pystr_free(&lab[0]);
        pystr_free(&lab[1]);
        return -1;
    }
    pystr p = {0};
    pystr_append(&p, pred0->cp, pred0->n);
    pystr_strip(&p);
    *score = 0.0;
    if (p.n == 0) goto done;
    uint32_t c0 = p.cp[0];
    if (c0 == 'A' || c0 == 'B' || c0 == 'C' || c0 == 'D') { /* pred[0] in "ABCD" */
        *score = (pystr_eq(lab[0].cp, lab[0].n, &c0, 1) || pystr_eq(lab[1].cp, lab[1].n, &c0, 1)) ? 1.0 : 0.0;
        goto done;
    }
    if (pystr_eq(p.cp, p.n, lab[0].cp, lab[0].n) || pystr_eq(p.cp, p.n, lab[1].cp, lab[1].n)) { /* pred in label */
        *score = 1.0;
        goto done;
    }
    blank_out(&p, chars);
    squeeze_spaces(&p);
    int r = after_prefix(&p, prefixes, lab, 2);
    if (r >= 0) {
        *score = r;
        goto done;
    }
    /* for word in pred.split(): if word in "ABCD": return word in label */
    pystr_span *w;
    size_t nw = pystr_split(&p, &w);
    static const uint32_t abcd[] = {'A', 'B', 'C', 'D'};
    for (size_t i = 0; i < nw; i++) {
        const uint32_t *ws = p.cp + w[i].off;
        size_t wl = w[i].len;
        int sub = 0;
        for (size_t a = 0; a + wl <= 4 && !sub; a++) sub = pystr_eq(abcd + a, wl, ws, wl);
        if (sub) {
            *score = (pystr_eq(lab[0].cp, lab[0].n, ws, wl) || pystr_eq(lab[1].cp, lab[1].n, ws, wl)) ? 1.0 : 0.0;
            break;
        }
    }
    free(w);
done:
    pystr_free(&p);
    pystr_free(&lab[0]);
    pystr_free(&lab[1]);
    return 0;
}

/* first match of r"\d+\.\d+|\d+" (Unicode \d), as [off, off+len); 0 if none */
static int first_number(const pystr *s, size_t *off, size_t *len) {
    size_t i = 0;
    while (i < s->n && !pystr_isdecimal(s->cp[i])) i++;
    if (i == s->n) return 0;
    size_t a = i;
    while (i < s->n && pystr_isdecimal(s->cp[i])) i++;
    if (i + 1 < s->n && s->cp[i] == '.' && pystr_isdecimal(s->cp[i + 1])) {
        i++;
        while (i < s->n && pystr_isdecimal(s->cp[i])) i++;
    }
    *off = a;
    *len = i - a;
    return 1;
}

static int sc_math_find(const pystr *pred, const json_t *label, double *score, const char *where) {
    json_t *l = unlist(label, where, "math_find");
    if (!l) return -1;
    int rc = 0;
    size_t off, len;
    *score = 0.0;
    if (json_is_integer(l) || json_is_boolean(l)) { /* isinstance(label, int); bool is an int */
        char *canon;
        if (!first_number(pred, &off, &len)) goto done;
        if (pystr_to_int(pred->cp + off, len, &canon) != 0) {
            rc = METRIC_RAISES;
            goto done;
        }
        *score = json_eq_int(l, canon) ? 1.0 : 0.0;
        free(canon);
    } else if (json_is_real(l)) {
        if (!first_number(pred, &off, &len)) goto done;
        /* float() reads decimal digits of any script, like int() */
        char *buf = xmalloc(len + 1);
        for (size_t i = 0; i < len; i++) {
            uint32_t c = pred->cp[off + i];
            buf[i] = c == '.' ? '.' : (char)('0' + pystr_decimal_value(c));
        }
        buf[len] = '\0';
        *score = strtod(buf, NULL) == json_real_value(l) ? 1.0 : 0.0;
        free(buf);
    } else {
        rc = ev_error("%s: field \"answer\" must be a number or a list holding one (math_find raises TypeError)",
                      WHERE(where));
    }
done:
    json_decref(l);
    return rc;
}

static int sc_math_calc(const pystr *pred, const json_t *label0, double *score, const char *where) {
    if (!json_is_array(label0))
        return ev_error("%s: field \"answer\" must be a list (math_calc asserts it)", WHERE(where));
    if (json_array_size(label0) == 0)
        return ev_error("%s: field \"answer\" is an empty list (math_calc takes answer[0])", WHERE(where));
    const json_t *label = label0;
    if (json_is_array(json_array_get(label0, 0))) label = json_array_get(label0, 0);
    size_t nl = json_array_size(label);
    if (nl == 0) return ev_error("%s: field \"answer\" is [[]] (math_calc divides by its length)", WHERE(where));
    /* pred_nums = [int(x) for x in re.split("[^0-9]", pred) if x != ""] */
    size_t cnt = 0, i = 0, k = 0;
    int matching = 1;
    while (i < pred->n) {
        while (i < pred->n && !(pred->cp[i] >= '0' && pred->cp[i] <= '9')) i++;
        if (i == pred->n) break;
        size_t a = i;
        while (i < pred->n && pred->cp[i] >= '0' && pred->cp[i] <= '9') i++;
        char *canon;
        if (pystr_to_int(pred->cp + a, i - a, &canon) != 0) {
            *score = 0.0;
            return METRIC_RAISES;
        }
        /* cnt counts the leading run of positions where label[i] == pred_nums[i] */
        if (matching && k < nl) {
            if (json_eq_int(json_array_get(label, k), canon)) cnt++;
            else matching = 0;
        }
        k++;
        free(canon);
    }
    *score = (double)cnt / (double)nl;
    return 0;
}

static int sc_longdialogue(const pystr *pred0, const json_t *label, double *score, const char *where) {
    json_t *l = index0(label, where, "longdialogue_qa_eng");
    if (!l) return -1;
    pystr p = {0}, up = {0}, word = {0};
    pystr_append(&p, pred0->cp, pred0->n);
    pystr_strip(&p);
    blank_out(&p, retrieval_chars);
    pystr_span *w;
    size_t nw = pystr_split(&p, &w);
    *score = 0.0;
    for (size_t i = 0; i < nw && *score == 0.0; i++) { /* label in [x.upper() for x in words] */
        word.n = 0;
        pystr_append(&word, p.cp + w[i].off, w[i].len);
        pystr_upper(&word, &up);
        if (json_eq_str(l, up.cp, up.n)) *score = 1.0;
    }
    free(w);
    pystr_free(&p);
    pystr_free(&up);
    pystr_free(&word);
    json_decref(l);
    return 0;
}

/* ---- token F1 (Counter(prediction) & Counter(ground_truth)) */

typedef struct {
    const uint32_t *s;
    size_t n;
} tok;

static int tok_cmp(const void *a, const void *b) {
    const tok *x = a, *y = b;
    size_t m = x->n < y->n ? x->n : y->n;
    for (size_t i = 0; i < m; i++)
        if (x->s[i] != y->s[i]) return x->s[i] < y->s[i] ? -1 : 1;
    return x->n < y->n ? -1 : x->n > y->n;
}

static double f1_tokens(tok *p, size_t np, tok *g, size_t ng) {
    qsort(p, np, sizeof *p, tok_cmp);
    qsort(g, ng, sizeof *g, tok_cmp);
    size_t same = 0, i = 0, j = 0;
    while (i < np && j < ng) {
        int c = tok_cmp(&p[i], &g[j]);
        if (c == 0) same++, i++, j++;
        else if (c < 0) i++;
        else j++;
    }
    if (same == 0) return 0.0;
    double precision = 1.0 * (double)same / (double)np;
    double recall = 1.0 * (double)same / (double)ng;
    return (2 * precision * recall) / (precision + recall);
}

/* string.punctuation */
static int is_ascii_punct(uint32_t c) { return c < 0x80 && c > 0x20 && c != 0x7F && !pystr_isalnum(c); }

/* normalize_answer(s).split(): lower, drop string.punctuation, replace the
 * words a/an/the (re \b(a|an|the)\b with Unicode \w) by a space, split. The
 * spans point into *norm. */
static size_t normalize_answer(const pystr *s, pystr *norm, tok **toks) {
    pystr low = {0}, np = {0};
    pystr_lower(s, &low);
    for (size_t i = 0; i < low.n; i++)
        if (!is_ascii_punct(low.cp[i])) pystr_push(&np, low.cp[i]);
    norm->n = 0;
    size_t i = 0;
    while (i < np.n) {
        if (!pystr_isword(np.cp[i])) {
            pystr_push(norm, np.cp[i++]);
            continue;
        }
        size_t a = i;
        while (i < np.n && pystr_isword(np.cp[i])) i++;
        const uint32_t *w = np.cp + a;
        size_t wl = i - a;
        if (pystr_eq_ascii(w, wl, "a") || pystr_eq_ascii(w, wl, "an") || pystr_eq_ascii(w, wl, "the"))
            pystr_push(norm, ' ');
        else
            pystr_append(norm, w, wl);
    }
    pystr_free(&low);
    pystr_free(&np);
    pystr_span *sp;
    size_t n = pystr_split(norm, &sp);
    *toks = xcalloc(n ? n : 1, sizeof **toks);
    for (size_t k = 0; k < n; k++) (*toks)[k] = (tok){norm->cp + sp[k].off, sp[k].len};
    free(sp);
    return n;
}

static const uint32_t cn_punct[] = {
    0xFF01, 0xFF1F, 0xFF61, 0x3002, 0xFF02, 0xFF03, 0xFF04, 0xFF05, 0xFF06, 0xFF07, 0xFF08, 0xFF09, 0xFF0A,
    0xFF0B, 0xFF0C, 0xFF0D, 0xFF0F, 0xFF1A, 0xFF1B, 0xFF1C, 0xFF1D, 0xFF1E, 0xFF20, 0xFF3B, 0xFF3C, 0xFF3D,
    0xFF3E, 0xFF3F, 0xFF40, 0xFF5B, 0xFF5C, 0xFF5D, 0xFF5E, 0xFF5F, 0xFF60, 0xFF62, 0xFF63, 0xFF64, 0x3001,
    0x3003, 0x300B, 0x300C, 0x300D, 0x300E, 0x300F, 0x3010, 0x3011, 0x3014, 0x3015, 0x3016, 0x3017, 0x3018,
    0x3019, 0x301A, 0x301B, 0x301C, 0x301D, 0x301E, 0x301F, 0x3030, 0x303E, 0x303F, 0x2013, 0x2014, 0x2018,
    0x2019, 0x201B, 0x201C, 0x201D, 0x201E, 0x201F, 0x2026, 0x2027, 0xFE4F,
};

/* list(normalize_zh_answer(s)): lower, drop string.punctuation and the
 * Chinese punctuation of compute_scores.py, drop all whitespace; one token per
 * character. */
static size_t normalize_zh(const pystr *s, pystr *norm, tok **toks) {
    pystr low = {0};
    pystr_lower(s, &low);
    norm->n = 0;
    for (size_t i = 0; i < low.n; i++) {
        uint32_t c = low.cp[i];
        int drop = is_ascii_punct(c) || pystr_isspace(c);
        for (size_t k = 0; !drop && k < sizeof cn_punct / sizeof cn_punct[0]; k++) drop = c == cn_punct[k];
        if (!drop) pystr_push(norm, c);
    }
    pystr_free(&low);
    *toks = xcalloc(norm->n ? norm->n : 1, sizeof **toks);
    for (size_t k = 0; k < norm->n; k++) (*toks)[k] = (tok){norm->cp + k, 1};
    return norm->n;
}

/* qa_f1_score / qa_f1_score_zh: the best F1 over the ground truths. Iterating
 * a str label yields its characters, as Python's for loop does. */
static int qa_f1(const pystr *pred, const json_t *label, double *score, const char *where, int zh) {
    size_t (*norm_fn)(const pystr *, pystr *, tok **) = zh ? normalize_zh : normalize_answer;
    size_t ng;
    pystr whole = {0};
    if (json_is_array(label)) {
        ng = json_array_size(label);
        for (size_t i = 0; i < ng; i++)
            if (!json_is_string(json_array_get(label, i)))
                return ev_error("%s: field \"answer\" must hold strings (qa_f1_score calls .lower() on them)",
                                WHERE(where));
    } else if (json_is_string(label)) {
        if (decode_json(&whole, label, where, "answer") != 0) return -1;
        ng = whole.n;
    } else {
        return ev_error("%s: field \"answer\" must be a list of strings", WHERE(where));
    }
    double f1 = 0.0;
    int rc = 0;
    pystr pn = {0}, gs = {0}, gn = {0};
    tok *pt = NULL, *gt = NULL;
    for (size_t i = 0; i < ng && rc == 0; i++) {
        if (json_is_array(label)) {
            rc = decode_json(&gs, json_array_get(label, i), where, "answer");
            if (rc) break;
        } else {
            gs.n = 0;
            pystr_push(&gs, whole.cp[i]);
        }
        size_t np = norm_fn(pred, &pn, &pt);
        size_t ngt = norm_fn(&gs, &gn, &gt);
        double this_f1 = f1_tokens(pt, np, gt, ngt);
        if (this_f1 > f1) f1 = this_f1;
        free(pt);
        free(gt);
        pt = gt = NULL;
    }
    *score = f1;
    pystr_free(&whole);
    pystr_free(&pn);
    pystr_free(&gs);
    pystr_free(&gn);
    return rc;
}

static int sc_qa_eng(const pystr *pred, const json_t *label, double *score, const char *where) {
    return qa_f1(pred, label, score, where, 0);
}

static int sc_qa_chn(const pystr *pred, const json_t *label, double *score, const char *where) {
    return qa_f1(pred, label, score, where, 1);
}

/* ROUGE_SCORER.compute(predictions=[pred], references=[label]): a list label
 * is several references (score_multi keeps the best F), a str label one. */
static int sc_sum(const pystr *pred, const json_t *label, double *score, const char *where) {
    size_t n = json_is_array(label) ? json_array_size(label) : 1;
    if (json_is_array(label) && n == 0)
        return ev_error("%s: field \"answer\" is an empty list (rouge's score_multi fails on it)", WHERE(where));
    if (!json_is_array(label) && !json_is_string(label))
        return ev_error("%s: field \"answer\" must be a string or a list of strings", WHERE(where));
    double best = 0.0;
    for (size_t i = 0; i < n; i++) {
        const json_t *r = json_is_array(label) ? json_array_get(label, i) : label;
        if (!json_is_string(r))
            return ev_error("%s: field \"answer\" must be a string or a list of strings", WHERE(where));
        pystr t = {0};
        if (decode_json(&t, r, where, "answer") != 0) return -1;
        double f = rouge_lsum(&t, pred);
        if (i == 0 || f > best) best = f;
        pystr_free(&t);
    }
    *score = best;
    return 0;
}

/* get_answer(eg, task) of eval_utils.py: for the multiple-choice tasks the
 * answer text and its letter; otherwise eg["answer"] itself. New reference. */
static json_t *get_answer(const char *task, const json_t *rec, const char *where) {
    const json_t *ans = json_object_get(rec, "answer");
    if (!ans) {
        ev_error("%s: missing field \"answer\"", WHERE(where));
        return NULL;
    }
    if (strcmp(task, "code_debug") != 0 && strcmp(task, "longbook_choice_eng") != 0) return json_incref((json_t *)ans);
    const json_t *text = ans;
    if (json_is_array(ans) && json_array_size(ans) == 2) {
        const json_t *letter = json_array_get(ans, 1);
        const char *ls = json_string_value(letter);
        if (ls && json_string_length(letter) == 1 && strchr("ABCD", ls[0]) && json_is_string(json_array_get(ans, 0)))
            return json_incref((json_t *)ans);
        ev_error("%s: field \"answer\": a list of two must be [text, letter A-D] (get_answer raises ValueError)",
                 WHERE(where));
        return NULL;
    }
    if (json_is_array(ans) && json_array_size(ans) == 1) text = json_array_get(ans, 0);
    if (!json_is_string(text)) {
        ev_error("%s: field \"answer\" must be a string, [string] or [string, letter] (get_answer raises ValueError)",
                 WHERE(where));
        return NULL;
    }
    const json_t *opts = json_object_get(rec, "options");
    if (!opts) {
        ev_error("%s: missing field \"options\"", WHERE(where));
        return NULL;
    }
    if (!json_is_array(opts)) {
        ev_error("%s: field \"options\" must be a list of strings", WHERE(where));
        return NULL;
    }
    /* OPTIONS[eg['options'].index(answer)] */
    size_t idx = json_array_size(opts);
    for (size_t i = 0; i < json_array_size(opts) && idx == json_array_size(opts); i++) {
        const json_t *o = json_array_get(opts, i);
        if (json_is_string(o) && json_string_length(o) == json_string_length(text) &&
            memcmp(json_string_value(o), json_string_value(text), json_string_length(text)) == 0)
            idx = i;
    }
    if (idx == json_array_size(opts)) {
        ev_error("%s: field \"answer\" is not one of \"options\" (get_answer raises ValueError)", WHERE(where));
        return NULL;
    }
    if (idx >= 4) {
        ev_error("%s: field \"answer\" is option %zu, past D (get_answer raises IndexError)", WHERE(where), idx + 1);
        return NULL;
    }
    char letter[2] = {(char)("ABCD"[idx]), '\0'};
    return json_pack("[Os]", (json_t *)text, letter);
}

int metric_infbench(const char *task, const char *pred, size_t pred_len, const json_t *record, double *score,
                    const char *where) {
    size_t t = 0;
    while (t < N_INFB && strcmp(task, infb_tasks[t].name) != 0) t++;
    if (t == N_INFB) return ev_error("%s: unknown InfiniteBench task '%s'", WHERE(where), task);
    if (!json_is_object(record)) return ev_error("%s: the record is not a JSON object", WHERE(where));
    pystr p = {0};
    if (decode(&p, pred, pred_len, where, "pred") != 0) return -1;
    json_t *label = get_answer(task, record, where);
    int rc = -1;
    if (label) {
        rc = infb_tasks[t].fn(&p, label, score, where);
        json_decref(label);
    }
    pystr_free(&p);
    if (rc == METRIC_RAISES) *score = 0.0;
    return rc;
}

/* ------------------------------------------------------------ records */

int metric_record(const char *name, const json_t *record, double *score, const char *where) {
    int kind = metric_kind(name);
    if (kind == METRIC_UNKNOWN) return ev_error("%s: unknown metric or task '%s'", WHERE(where), name);
    if (!json_is_object(record)) return ev_error("%s: the record is not a JSON object", WHERE(where));
    const json_t *pred = json_object_get(record, "pred");
    if (!pred) return ev_error("%s: missing field \"pred\"", WHERE(where));
    if (!json_is_string(pred)) return ev_error("%s: field \"pred\" must be a string", WHERE(where));
    if (kind == METRIC_INFBENCH)
        return metric_infbench(name, json_string_value(pred), json_string_length(pred), record, score, where);

    const json_t *outs = json_object_get(record, "outputs");
    if (!outs) return ev_error("%s: missing field \"outputs\"", WHERE(where));
    if (!json_is_array(outs)) return ev_error("%s: field \"outputs\" must be a list of strings", WHERE(where));
    size_t n = json_array_size(outs);
    const char **v = xcalloc(n ? n : 1, sizeof *v);
    size_t *lens = xcalloc(n ? n : 1, sizeof *lens);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const json_t *o = json_array_get(outs, i);
        if (!json_is_string(o)) {
            rc = ev_error("%s: field \"outputs\" must be a list of strings (item %zu is not)", WHERE(where), i);
            break;
        }
        v[i] = json_string_value(o);
        lens[i] = json_string_length(o);
    }
    if (rc == 0)
        rc = metric_ruler(name, json_string_value(pred), json_string_length(pred), v, lens, n, score, where);
    free(v);
    free(lens);
    return rc;
}
