/* ruler.c - RULER's 13 synthetic tasks made the way NVIDIA/RULER's
 * scripts/data/synthetic/ scripts make them, and RULER's JSONL read and written
 * (see ruler.h for the recipe, the file format and where we differ). */
#include "ruler.h"

#include "rng.h"
#include "util.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ tasks */

/* scripts/synthetic.yaml, with tokens_to_generate from constants.py. */
const ruler_task ruler_tasks[RULER_N_TASKS] = {
    {.name = "niah_single_1", .kind = RULER_NIAH, .tokens_to_generate = 128, .haystack = RULER_HAY_NOISE,
     .type_k = RULER_WORDS, .type_v = RULER_NUMBERS, .num_k = 1, .num_v = 1, .num_q = 1},
    {.name = "niah_single_2", .kind = RULER_NIAH, .tokens_to_generate = 128, .haystack = RULER_HAY_ESSAY,
     .type_k = RULER_WORDS, .type_v = RULER_NUMBERS, .num_k = 1, .num_v = 1, .num_q = 1},
    {.name = "niah_single_3", .kind = RULER_NIAH, .tokens_to_generate = 128, .haystack = RULER_HAY_ESSAY,
     .type_k = RULER_WORDS, .type_v = RULER_UUIDS, .num_k = 1, .num_v = 1, .num_q = 1},
    {.name = "niah_multikey_1", .kind = RULER_NIAH, .tokens_to_generate = 128, .haystack = RULER_HAY_ESSAY,
     .type_k = RULER_WORDS, .type_v = RULER_NUMBERS, .num_k = 4, .num_v = 1, .num_q = 1},
    {.name = "niah_multikey_2", .kind = RULER_NIAH, .tokens_to_generate = 128, .haystack = RULER_HAY_NEEDLE,
     .type_k = RULER_WORDS, .type_v = RULER_NUMBERS, .num_k = 1, .num_v = 1, .num_q = 1},
    {.name = "niah_multikey_3", .kind = RULER_NIAH, .tokens_to_generate = 128, .haystack = RULER_HAY_NEEDLE,
     .type_k = RULER_UUIDS, .type_v = RULER_UUIDS, .num_k = 1, .num_v = 1, .num_q = 1},
    {.name = "niah_multivalue", .kind = RULER_NIAH, .tokens_to_generate = 128, .haystack = RULER_HAY_ESSAY,
     .type_k = RULER_WORDS, .type_v = RULER_NUMBERS, .num_k = 1, .num_v = 4, .num_q = 1},
    {.name = "niah_multiquery", .kind = RULER_NIAH, .tokens_to_generate = 128, .haystack = RULER_HAY_ESSAY,
     .type_k = RULER_WORDS, .type_v = RULER_NUMBERS, .num_k = 1, .num_v = 1, .num_q = 4},
    {.name = "vt", .kind = RULER_VT, .tokens_to_generate = 30, .haystack = RULER_HAY_NOISE, .num_chains = 1,
     .num_hops = 4},
    {.name = "cwe", .kind = RULER_CWE, .tokens_to_generate = 120, .freq_cw = 30, .freq_ucw = 3, .num_cw = 10},
    {.name = "fwe", .kind = RULER_FWE, .tokens_to_generate = 50, .alpha = 2.0},
    {.name = "qa_1", .kind = RULER_QA, .tokens_to_generate = 32, .dataset = RULER_SQUAD},
    {.name = "qa_2", .kind = RULER_QA, .tokens_to_generate = 32, .dataset = RULER_HOTPOTQA},
};

const ruler_task *ruler_task_find(const char *name) {
    for (int i = 0; i < RULER_N_TASKS; i++)
        if (strcmp(ruler_tasks[i].name, name) == 0) return &ruler_tasks[i];
    return NULL;
}

int ruler_task_needs_words(const ruler_task *t) {
    return t->kind == RULER_CWE ||
           (t->kind == RULER_NIAH && (t->type_k == RULER_WORDS || t->type_v == RULER_WORDS));
}

int ruler_task_needs_essay(const ruler_task *t) { return t->kind == RULER_NIAH && t->haystack == RULER_HAY_ESSAY; }

/* constants.py's templates (T) and answer prefixes (P). */
static const char NIAH_T[] =
    "Some special magic {type_needle_v} are hidden within the following text. Make sure to memorize it. I will "
    "quiz you about the {type_needle_v} afterwards.\n{context}\nWhat are all the special magic {type_needle_v} "
    "for {query} mentioned in the provided text?";
static const char NIAH_P[] = " The special magic {type_needle_v} for {query} mentioned in the provided text are";
static const char VT_T[] = "Memorize and track the chain(s) of variable assignment hidden in the following text.\n\n"
                           "{context}\nQuestion: Find all variables that are assigned the value {query} in the text "
                           "above.";
static const char VT_P[] = " Answer: According to the chain(s) of variable assignment in the text above, {num_v} "
                           "variables are assigned the value {query}, they are: ";
static const char CWE_T[] = "Below is a numbered list of words. In these words, some appear more often than others. "
                            "Memorize the ones that appear most often.\n{context}\nQuestion: What are the 10 most "
                            "common words in the above list?";
static const char CWE_P[] = " Answer: The top 10 words that appear most often in the list are:";
static const char FWE_T[] = "Read the following coded text and track the frequency of each coded word. Find the three "
                            "most frequently appeared coded words. {context}\nQuestion: Do not provide any "
                            "explanation. Please ignore the dots '....'. What are the three most frequently appeared "
                            "words in the above coded text?";
static const char FWE_P[] = " Answer: According to the coded text above, the three most frequently appeared words are:";
static const char QA_T[] = "Answer the question based on the given documents. Only give me the answer and do not "
                           "output any other words.\n\nThe following are given documents.\n\n{context}\n\nAnswer the "
                           "question based on the given documents. Only give me the answer and do not output any "
                           "other words.\n\nQuestion: {query}";
static const char QA_P[] = " Answer:";

/* niah.py's haystacks and needle. */
static const char NOISE[] = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.";
static const char NEEDLE[] = "One of the special magic {type_needle_v} for {key} is: {value}.";
static const char *const TYPE_PLURAL[] = {"words", "numbers", "uuids"};
static const char *const TYPE_SINGULAR[] = {"word", "number", "uuid"};

/* A sample drawn this many times at the smallest haystack without fitting is
 * an error (RULER retries for ever). */
#define MAX_DRAWS 100

/* --------------------------------------------------------------- strings */

typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
    size_t need;
    if (ev_add_size(b->n, n, &need) || ev_add_size(need, 1, &need)) ev_fatal("ruler: string too long");
    if (need > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (c < need) c = c > SIZE_MAX / 2 ? need : c * 2;
        b->p = xrealloc(b->p, c);
        b->cap = c;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}
static void sb_adds(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }
static void sb_addc(sbuf *b, char c) { sb_add(b, &c, 1); }
static void sb_addf(sbuf *b, const char *fmt, ...) EV_PRINTF(2, 3);
static void sb_addf(sbuf *b, const char *fmt, ...) {
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= sizeof tmp) ev_fatal("ruler: formatted piece too long");
    sb_add(b, tmp, (size_t)k);
}
/* The buffer's string, owned by the caller; the buffer is empty after. */
static char *sb_take(sbuf *b) {
    char *p = b->p ? b->p : xstrdup("");
    b->p = NULL;
    b->n = b->cap = 0;
    return p;
}

/* Python's str.format with named fields, for the constant templates above
 * (their fields are all given; values are inserted as they are). */
static char *pyformat(const char *tmpl, int n, const char *const *names, const char *const *values) {
    sbuf b = {0};
    for (const char *p = tmpl; *p;) {
        if (*p != '{') {
            const char *q = strchr(p, '{');
            size_t len = q ? (size_t)(q - p) : strlen(p);
            sb_add(&b, p, len);
            p += len;
            continue;
        }
        const char *e = strchr(p, '}');
        if (!e) ev_fatal("ruler: template without '}'");
        size_t len = (size_t)(e - p - 1);
        int k = 0;
        while (k < n && !(strlen(names[k]) == len && memcmp(names[k], p + 1, len) == 0)) k++;
        if (k == n) ev_fatal("ruler: template field {%.*s} not given", (int)len, p + 1);
        sb_adds(&b, values[k]);
        p = e + 1;
    }
    return sb_take(&b);
}

/* Python's s.replace(from, to): every non-overlapping occurrence, left to right. */
static char *str_replace_all(const char *s, const char *from, const char *to) {
    sbuf b = {0};
    size_t fl = strlen(from);
    for (const char *p = s;;) {
        const char *q = strstr(p, from);
        if (!q) {
            sb_adds(&b, p);
            break;
        }
        sb_add(&b, p, (size_t)(q - p));
        sb_adds(&b, to);
        p = q + fl;
    }
    return sb_take(&b);
}

static void replace_in_place(char **s, const char *from, const char *to) {
    char *r = str_replace_all(*s, from, to);
    free(*s);
    *s = r;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorts and drops duplicates (freeing them): Python's sorted(set(list)). */
static size_t sort_unique(char **v, size_t n) {
    if (n == 0) return 0;
    qsort(v, n, sizeof *v, cmp_str);
    size_t k = 1;
    for (size_t i = 1; i < n; i++) {
        if (strcmp(v[i], v[k - 1]) == 0) free(v[i]);
        else v[k++] = v[i];
    }
    return k;
}

static void free_strs(char **v, size_t n) {
    if (!v) return;
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* ------------------------------------------------------------ word lists */

struct ruler_words {
    char **nouns, **adjs; /* deduplicated: niah's keys are adjective-noun pairs */
    size_t n_nouns, n_adjs;
    char **cw; /* sorted(set(nouns + adjs + verbs)): cwe's words */
    size_t n_cw;
    char **english; /* DIR/english.txt, sorted and unique; may be empty */
    size_t n_english;
};

/* One word a line, as wonderwords' _get_words_from_text_file reads them
 * (trailing whitespace dropped); blank lines skipped. -1 after an error line;
 * a missing optional file gives 0 words and 0. */
static int read_list(const char *dir, const char *file, int optional, char ***out, size_t *n) {
    char *path = ev_path_join(dir, file);
    *out = NULL;
    *n = 0;
    if (optional && !ev_is_file(path)) {
        free(path);
        return 0;
    }
    if (!ev_is_file(path)) {
        ev_error("%s: cannot open word list (run tools/fetch-words.sh, or give --words DIR)", path);
        free(path);
        return -1;
    }
    size_t len;
    char *text = ev_read_file(path, &len);
    if (!text) {
        free(path);
        return -1;
    }
    if (!ev_utf8_valid(text, len)) {
        ev_error("%s: not valid UTF-8", path);
        free(text);
        free(path);
        return -1;
    }
    size_t cap = 1024, k = 0;
    char **v = xmalloc(cap * sizeof *v);
    for (char *p = text; p < text + len;) {
        char *e = memchr(p, '\n', (size_t)(text + len - p));
        if (!e) e = text + len;
        char *q = e;
        while (q > p && isspace((unsigned char)q[-1])) q--;
        if (q > p) {
            if (k == cap) v = xrealloc(v, (cap *= 2) * sizeof *v);
            v[k] = xmalloc((size_t)(q - p) + 1);
            memcpy(v[k], p, (size_t)(q - p));
            v[k][q - p] = '\0';
            k++;
        }
        p = e + 1;
    }
    free(text);
    if (k == 0) {
        free(v);
        ev_error("%s: no words", path);
        free(path);
        return -1;
    }
    free(path);
    *out = v;
    *n = k;
    return 0;
}

ruler_words *ruler_words_load(const char *dir) {
    char **verbs;
    size_t n_verbs;
    ruler_words *w = xcalloc(1, sizeof *w);
    if (read_list(dir, "nounlist.txt", 0, &w->nouns, &w->n_nouns) < 0 ||
        read_list(dir, "adjectivelist.txt", 0, &w->adjs, &w->n_adjs) < 0) {
        ruler_words_free(w);
        return NULL;
    }
    if (read_list(dir, "verblist.txt", 0, &verbs, &n_verbs) < 0) {
        ruler_words_free(w);
        return NULL;
    }
    if (read_list(dir, "english.txt", 1, &w->english, &w->n_english) < 0) {
        free_strs(verbs, n_verbs);
        ruler_words_free(w);
        return NULL;
    }
    w->n_cw = w->n_nouns + w->n_adjs + n_verbs;
    w->cw = xmalloc(w->n_cw * sizeof *w->cw);
    size_t k = 0;
    for (size_t i = 0; i < w->n_nouns; i++) w->cw[k++] = xstrdup(w->nouns[i]);
    for (size_t i = 0; i < w->n_adjs; i++) w->cw[k++] = xstrdup(w->adjs[i]);
    for (size_t i = 0; i < n_verbs; i++) w->cw[k++] = verbs[i];
    free(verbs);
    w->n_cw = sort_unique(w->cw, w->n_cw);
    w->n_nouns = sort_unique(w->nouns, w->n_nouns);
    w->n_adjs = sort_unique(w->adjs, w->n_adjs);
    w->n_english = sort_unique(w->english, w->n_english);
    return w;
}

void ruler_words_free(ruler_words *w) {
    if (!w) return;
    free_strs(w->nouns, w->n_nouns);
    free_strs(w->adjs, w->n_adjs);
    free_strs(w->cw, w->n_cw);
    free_strs(w->english, w->n_english);
    free(w);
}

/* ------------------------------------------------------------------ essay */

struct ruler_essay {
    char *text;        /* the words joined by single spaces */
    size_t len;
    size_t *word_start; /* (n_words) byte offsets into text */
    size_t n_words;
};

/* Length of the whitespace character at s (Python's str.isspace, which \s
 * matches), or 0. */
static size_t space_len(const unsigned char *s, size_t n) {
    if (n == 0) return 0;
    unsigned c = s[0];
    if (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f)) return 1;
    if (c == 0xc2 && n >= 2 && (s[1] == 0x85 || s[1] == 0xa0)) return 2;
    if (n >= 3 && c == 0xe1 && s[1] == 0x9a && s[2] == 0x80) return 3; /* U+1680 */
    if (n >= 3 && c == 0xe2 && s[1] == 0x80 &&
        (s[2] <= 0x8a || s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf)) /* U+2000..200A, 2028, 2029, 202F */
        return 3;
    if (n >= 3 && c == 0xe2 && s[1] == 0x81 && s[2] == 0x9f) return 3; /* U+205F */
    if (n >= 3 && c == 0xe3 && s[1] == 0x80 && s[2] == 0x80) return 3; /* U+3000 */
    return 0;
}

ruler_essay *ruler_essay_load(const char *path) {
    if (!ev_is_file(path)) {
        ev_error("%s: cannot open essay text (make data writes data/texts/kjv.txt)", path);
        return NULL;
    }
    size_t len;
    char *raw = ev_read_file(path, &len);
    if (!raw) return NULL;
    if (!ev_utf8_valid(raw, len)) {
        free(raw);
        ev_error("%s: essay text is not valid UTF-8", path);
        return NULL;
    }
    /* re.sub(r'\s+', " ", essay).split(" "), without the empty words an
     * opening or closing space would give */
    ruler_essay *e = xcalloc(1, sizeof *e);
    e->text = xmalloc(len + 1);
    size_t cap = 1024, n = 0, o = 0;
    e->word_start = xmalloc(cap * sizeof *e->word_start);
    const unsigned char *s = (const unsigned char *)raw;
    for (size_t i = 0; i < len;) {
        size_t sl = space_len(s + i, len - i);
        if (sl) {
            i += sl;
            continue;
        }
        if (n == cap) e->word_start = xrealloc(e->word_start, (cap *= 2) * sizeof *e->word_start);
        if (o) e->text[o++] = ' ';
        e->word_start[n++] = o;
        while (i < len && !space_len(s + i, len - i)) e->text[o++] = raw[i++];
    }
    e->text[o] = '\0';
    e->len = o;
    e->n_words = n;
    free(raw);
    if (n == 0) {
        ev_error("%s: essay text has no words", path);
        ruler_essay_free(e);
        return NULL;
    }
    return e;
}

void ruler_essay_free(ruler_essay *e) {
    if (!e) return;
    free(e->text);
    free(e->word_start);
    free(e);
}

/* " ".join((haystack * repeats)[:n]) */
static char *essay_words(const ruler_essay *e, long n) {
    sbuf b = {0};
    size_t left = (size_t)n;
    while (left > 0) {
        if (b.n) sb_addc(&b, ' ');
        if (left >= e->n_words) {
            sb_add(&b, e->text, e->len);
            left -= e->n_words;
        } else {
            sb_add(&b, e->text, e->word_start[left] - 1);
            left = 0;
        }
    }
    return sb_take(&b);
}

/* Sentence boundaries of single-spaced text, standing in for NLTK's
 * sent_tokenize: a sentence ends after . ! or ? (and closing quotes or
 * brackets) when a space and then a character other than a lowercase letter
 * follow. starts/ends are byte offsets (ends exclusive); returns the count. */
static size_t split_sentences(const char *s, size_t n, size_t **starts, size_t **ends) {
    size_t cap = 64, k = 0, start = 0;
    size_t *st = xmalloc(cap * sizeof *st), *en = xmalloc(cap * sizeof *en);
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '.' && s[i] != '!' && s[i] != '?') continue;
        size_t j = i + 1;
        for (;;) {
            if (j < n && s[j] && strchr("\"')]}", s[j])) j++;
            else if (j + 2 < n && (unsigned char)s[j] == 0xe2 && (unsigned char)s[j + 1] == 0x80 &&
                     ((unsigned char)s[j + 2] == 0x99 || (unsigned char)s[j + 2] == 0x9d))
                j += 3; /* ’ ” */
            else break;
        }
        if (j + 1 < n && s[j] == ' ' && !islower((unsigned char)s[j + 1])) {
            if (k == cap) {
                cap *= 2;
                st = xrealloc(st, cap * sizeof *st);
                en = xrealloc(en, cap * sizeof *en);
            }
            st[k] = start;
            en[k++] = j;
            start = j + 1;
            i = j;
        }
    }
    if (start < n) {
        if (k == cap) {
            cap += 1;
            st = xrealloc(st, cap * sizeof *st);
            en = xrealloc(en, cap * sizeof *en);
        }
        st[k] = start;
        en[k++] = n;
    }
    *starts = st;
    *ends = en;
    return k;
}

/* --------------------------------------------------------------------- QA */

typedef struct {
    char *query;
    char **answers;
    size_t n_answers;
    size_t *ctx, n_ctx;   /* the question's own documents */
    size_t *more, n_more; /* SQuAD: its article's other paragraphs */
} qa_question;

struct ruler_qa {
    char **docs; /* sorted(set(documents)) */
    size_t n_docs;
    qa_question *qs;
    size_t n_qs;
};

size_t ruler_qa_n_questions(const ruler_qa *q) { return q->n_qs; }

void ruler_qa_free(ruler_qa *q) {
    if (!q) return;
    free_strs(q->docs, q->n_docs);
    for (size_t i = 0; i < q->n_qs; i++) {
        free(q->qs[i].query);
        free_strs(q->qs[i].answers, q->qs[i].n_answers);
        free(q->qs[i].ctx);
        free(q->qs[i].more);
    }
    free(q->qs);
    free(q);
}

static size_t doc_id(const ruler_qa *q, const char *doc) {
    char *const *hit = bsearch(&doc, q->docs, q->n_docs, sizeof *q->docs, cmp_str);
    if (!hit) ev_fatal("ruler: document lost while indexing");
    return (size_t)(hit - q->docs);
}

static const char *jstr(const json_t *o, const char *key) {
    const json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* SQuAD: -1 after an error line naming the record. */
static int squad_read(ruler_qa *q, const json_t *root, const char *path) {
    const json_t *data = json_is_object(root) ? json_object_get(root, "data") : NULL;
    if (!json_is_array(data)) return ev_error("%s: not SQuAD JSON: no \"data\" list", path);
    size_t cap = 256, nd = 0;
    char **all = xmalloc(cap * sizeof *all);
    size_t i, j, k;
    const json_t *d, *p, *qa;
    /* pass 1: the documents, each paragraph's context checked */
    json_array_foreach(data, i, d) {
        const json_t *paras = json_object_get(d, "paragraphs");
        if (!json_is_array(paras)) {
            free_strs(all, nd);
            return ev_error("%s: data[%zu]: no \"paragraphs\" list", path, i);
        }
        json_array_foreach(paras, j, p) {
            const char *c = jstr(p, "context");
            if (!c || !json_is_array(json_object_get(p, "qas"))) {
                free_strs(all, nd);
                return ev_error("%s: data[%zu].paragraphs[%zu]: needs \"context\" (a string) and \"qas\" (a list)",
                                path, i, j);
            }
            if (nd == cap) all = xrealloc(all, (cap *= 2) * sizeof *all);
            all[nd++] = xstrdup(c);
        }
    }
    q->docs = all;
    q->n_docs = sort_unique(all, nd);
    /* pass 2: the answerable questions */
    size_t qcap = 256;
    q->qs = xmalloc(qcap * sizeof *q->qs);
    json_array_foreach(data, i, d) {
        const json_t *paras = json_object_get(d, "paragraphs");
        size_t np = json_array_size(paras);
        size_t *ids = xmalloc((np ? np : 1) * sizeof *ids);
        json_array_foreach(paras, j, p) ids[j] = doc_id(q, jstr(p, "context"));
        json_array_foreach(paras, j, p) {
            json_array_foreach(json_object_get(p, "qas"), k, qa) {
                const json_t *imp = json_object_get(qa, "is_impossible");
                if (imp && !json_is_boolean(imp)) {
                    free(ids);
                    return ev_error("%s: data[%zu].paragraphs[%zu].qas[%zu]: \"is_impossible\" is not a boolean",
                                    path, i, j, k);
                }
                if (json_is_true(imp)) continue;
                const char *question = jstr(qa, "question");
                const json_t *ans = json_object_get(qa, "answers");
                int ok = question && json_is_array(ans);
                size_t a;
                const json_t *av;
                if (ok) json_array_foreach(ans, a, av) if (!jstr(av, "text")) ok = 0;
                if (!ok) {
                    free(ids);
                    return ev_error("%s: data[%zu].paragraphs[%zu].qas[%zu]: needs \"question\" and \"answers\" "
                                    "[{\"text\": ...}]",
                                    path, i, j, k);
                }
                if (q->n_qs == qcap) q->qs = xrealloc(q->qs, (qcap *= 2) * sizeof *q->qs);
                qa_question *x = &q->qs[q->n_qs++];
                memset(x, 0, sizeof *x);
                x->query = xstrdup(question);
                x->n_answers = json_array_size(ans);
                x->answers = xmalloc((x->n_answers ? x->n_answers : 1) * sizeof *x->answers);
                json_array_foreach(ans, a, av) x->answers[a] = xstrdup(jstr(av, "text"));
                x->ctx = xmalloc(sizeof *x->ctx);
                x->ctx[0] = ids[j];
                x->n_ctx = 1;
                x->more = xmalloc(np * sizeof *x->more);
                for (size_t m = 0; m < np; m++)
                    if (ids[m] != ids[j]) x->more[x->n_more++] = ids[m];
            }
        }
        free(ids);
    }
    return 0;
}

/* HotpotQA: each context entry [title, [sentences]] is "title\n" + "".join(sentences). */
static char *hotpot_doc(const json_t *entry) {
    if (!json_is_array(entry) || json_array_size(entry) != 2) return NULL;
    const json_t *title = json_array_get(entry, 0), *sents = json_array_get(entry, 1);
    if (!json_is_string(title) || !json_is_array(sents)) return NULL;
    sbuf b = {0};
    sb_add(&b, json_string_value(title), json_string_length(title));
    sb_addc(&b, '\n');
    size_t i;
    const json_t *s;
    json_array_foreach(sents, i, s) {
        if (!json_is_string(s)) {
            free(b.p);
            return NULL;
        }
        sb_add(&b, json_string_value(s), json_string_length(s));
    }
    return sb_take(&b);
}

static int hotpot_read(ruler_qa *q, const json_t *root, const char *path) {
    if (!json_is_array(root)) return ev_error("%s: not HotpotQA JSON: expected a list of questions", path);
    size_t cap = 256, nd = 0, i, j;
    char **all = xmalloc(cap * sizeof *all);
    const json_t *r, *c;
    json_array_foreach(root, i, r) {
        const json_t *ctx = json_object_get(r, "context");
        if (!jstr(r, "question") || !jstr(r, "answer") || !json_is_array(ctx)) {
            free_strs(all, nd);
            return ev_error("%s: [%zu]: needs \"question\", \"answer\" (strings) and \"context\" (a list)", path, i);
        }
        json_array_foreach(ctx, j, c) {
            char *doc = hotpot_doc(c);
            if (!doc) {
                free_strs(all, nd);
                return ev_error("%s: [%zu].context[%zu]: expected [title, [sentence, ...]]", path, i, j);
            }
            if (nd == cap) all = xrealloc(all, (cap *= 2) * sizeof *all);
            all[nd++] = doc;
        }
    }
    q->docs = all;
    q->n_docs = sort_unique(all, nd);
    q->n_qs = json_array_size(root);
    q->qs = xcalloc(q->n_qs ? q->n_qs : 1, sizeof *q->qs);
    json_array_foreach(root, i, r) {
        qa_question *x = &q->qs[i];
        const json_t *ctx = json_object_get(r, "context");
        x->query = xstrdup(jstr(r, "question"));
        x->answers = xmalloc(sizeof *x->answers);
        x->answers[0] = xstrdup(jstr(r, "answer"));
        x->n_answers = 1;
        x->n_ctx = json_array_size(ctx);
        x->ctx = xmalloc((x->n_ctx ? x->n_ctx : 1) * sizeof *x->ctx);
        json_array_foreach(ctx, j, c) {
            char *doc = hotpot_doc(c);
            x->ctx[j] = doc_id(q, doc);
            free(doc);
        }
    }
    return 0;
}

ruler_qa *ruler_qa_load(const char *path, ruler_dataset which) {
    if (!ev_is_file(path)) {
        ev_error("%s: cannot open %s file", path, which == RULER_SQUAD ? "SQuAD" : "HotpotQA");
        return NULL;
    }
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!root) {
        ev_error("%s: invalid JSON: %s (at byte %d)", path, err.text, err.position);
        return NULL;
    }
    ruler_qa *q = xcalloc(1, sizeof *q);
    int rc = which == RULER_SQUAD ? squad_read(q, root, path) : hotpot_read(q, root, path);
    json_decref(root);
    if (rc == 0 && (q->n_qs == 0 || q->n_docs == 0)) rc = ev_error("%s: no answerable questions", path);
    if (rc < 0) {
        ruler_qa_free(q);
        return NULL;
    }
    return q;
}

/* ---------------------------------------------------------------- records */

void ruler_records_free(ruler_record *r, size_t n) {
    if (!r) return;
    for (size_t i = 0; i < n; i++) {
        free(r[i].input);
        free_strs(r[i].outputs, r[i].n_outputs);
        free(r[i].answer_prefix);
    }
    free(r);
}

/* A string as Python's json.dumps(ensure_ascii=True) writes it. */
static void json_quote(sbuf *b, const char *s) {
    static const char hex[] = "0123456789abcdef";
    sb_addc(b, '"');
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        if (c < 0x80) {
            const char *esc = NULL;
            switch (c) {
            case '"': esc = "\\\""; break;
            case '\\': esc = "\\\\"; break;
            case '\n': esc = "\\n"; break;
            case '\r': esc = "\\r"; break;
            case '\t': esc = "\\t"; break;
            case '\b': esc = "\\b"; break;
            case '\f': esc = "\\f"; break;
            }
            if (esc) sb_adds(b, esc);
            else if (c < 0x20 || c == 0x7f) sb_addf(b, "\\u%04x", c); /* Python escapes all but ' '..'~' */
            else sb_addc(b, (char)c);
            p++;
            continue;
        }
        /* decode one UTF-8 sequence (the text was validated: a stray byte becomes U+FFFD) */
        unsigned cp = 0xfffd;
        int len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
        int ok = len > 1;
        for (int i = 1; i < len && ok; i++) ok = (p[i] & 0xc0) == 0x80;
        if (ok) {
            cp = c & (0x7f >> len);
            for (int i = 1; i < len; i++) cp = (cp << 6) | (p[i] & 0x3f);
        } else {
            len = 1;
        }
        p += len;
        unsigned units[2] = {cp, 0};
        int nu = 1;
        if (cp >= 0x10000) {
            cp -= 0x10000;
            units[0] = 0xd800 | (cp >> 10);
            units[1] = 0xdc00 | (cp & 0x3ff);
            nu = 2;
        }
        for (int i = 0; i < nu; i++) {
            char u[6] = {'\\', 'u', hex[units[i] >> 12 & 15], hex[units[i] >> 8 & 15], hex[units[i] >> 4 & 15],
                         hex[units[i] & 15]};
            sb_add(b, u, 6);
        }
    }
    sb_addc(b, '"');
}

void ruler_write_jsonl(FILE *f, const char *name, const ruler_record *r, size_t n) {
    sbuf b = {0};
    for (size_t i = 0; i < n; i++) {
        const ruler_record *x = &r[i];
        b.n = 0;
        sb_addf(&b, "{\"index\": %lld, \"input\": ", x->index);
        json_quote(&b, x->input);
        sb_adds(&b, ", \"outputs\": [");
        for (size_t k = 0; k < x->n_outputs; k++) {
            if (k) sb_adds(&b, ", ");
            json_quote(&b, x->outputs[k]);
        }
        sb_addc(&b, ']');
        if (x->fields & RULER_F_LENGTH) sb_addf(&b, ", \"length\": %lld", x->length);
        if (x->fields & RULER_F_LENGTH_W) sb_addf(&b, ", \"length_w_model_temp\": %lld", x->length_w_model_temp);
        if (x->fields & RULER_F_PREFIX) {
            sb_adds(&b, ", \"answer_prefix\": ");
            json_quote(&b, x->answer_prefix);
        }
        if (x->fields & RULER_F_TOKEN_POS) sb_addf(&b, ", \"token_position_answer\": %lld", x->token_position_answer);
        sb_adds(&b, "}\n");
        ev_xfwrite(b.p, b.n, f, name);
    }
    free(b.p);
}

/* One field of a record: 0 (absent, when optional), 1 (read), -1 after an error line. */
static int get_int(const json_t *o, const char *key, int required, long long *v, const char *path, size_t line) {
    const json_t *j = json_object_get(o, key);
    if (!j) return required ? ev_error("%s:%zu: missing field '%s'", path, line, key) : 0;
    if (!json_is_integer(j)) return ev_error("%s:%zu: field '%s' must be an integer", path, line, key);
    *v = json_integer_value(j);
    return 1;
}

static int get_str(const json_t *o, const char *key, int required, char **v, const char *path, size_t line) {
    const json_t *j = json_object_get(o, key);
    if (!j) return required ? ev_error("%s:%zu: missing field '%s'", path, line, key) : 0;
    if (!json_is_string(j)) return ev_error("%s:%zu: field '%s' must be a string", path, line, key);
    *v = xstrdup(json_string_value(j));
    return 1;
}

static int read_record(const json_t *o, ruler_record *r, const char *path, size_t line) {
    memset(r, 0, sizeof *r);
    r->length = r->length_w_model_temp = r->token_position_answer = -1;
    if (!json_is_object(o)) return ev_error("%s:%zu: expected a JSON object", path, line);
    int k;
    if (get_int(o, "index", 1, &r->index, path, line) < 0 || get_str(o, "input", 1, &r->input, path, line) < 0)
        return -1;
    const json_t *outs = json_object_get(o, "outputs");
    if (!outs) return ev_error("%s:%zu: missing field 'outputs'", path, line);
    size_t i;
    const json_t *v;
    int ok = json_is_array(outs);
    if (ok) json_array_foreach(outs, i, v) if (!json_is_string(v)) ok = 0;
    if (!ok) return ev_error("%s:%zu: field 'outputs' must be a list of strings", path, line);
    r->n_outputs = json_array_size(outs);
    r->outputs = xmalloc((r->n_outputs ? r->n_outputs : 1) * sizeof *r->outputs);
    json_array_foreach(outs, i, v) r->outputs[i] = xstrdup(json_string_value(v));
    if ((k = get_int(o, "length", 0, &r->length, path, line)) < 0) return -1;
    if (k) r->fields |= RULER_F_LENGTH;
    if ((k = get_int(o, "length_w_model_temp", 0, &r->length_w_model_temp, path, line)) < 0) return -1;
    if (k) r->fields |= RULER_F_LENGTH_W;
    if ((k = get_str(o, "answer_prefix", 0, &r->answer_prefix, path, line)) < 0) return -1;
    if (k) r->fields |= RULER_F_PREFIX;
    else r->answer_prefix = xstrdup("");
    if ((k = get_int(o, "token_position_answer", 0, &r->token_position_answer, path, line)) < 0) return -1;
    if (k) r->fields |= RULER_F_TOKEN_POS;
    return 0;
}

int ruler_read_jsonl(const char *path, ruler_record **out, size_t *n) {
    *out = NULL;
    *n = 0;
    size_t len;
    char *text = ev_read_file(path, &len);
    if (!text) return -1;
    size_t cap = 16, k = 0, line = 0;
    ruler_record *recs = xmalloc(cap * sizeof *recs);
    for (char *p = text; p < text + len;) {
        char *e = memchr(p, '\n', (size_t)(text + len - p));
        if (!e) e = text + len;
        line++;
        size_t ll = (size_t)(e - p);
        const char *q = p;
        p = e + 1;
        int blank = 1;
        for (size_t i = 0; i < ll && blank; i++) blank = isspace((unsigned char)q[i]) != 0;
        if (blank) continue;
        json_error_t err;
        json_t *o = json_loadb(q, ll, 0, &err);
        if (!o) {
            ev_error("%s:%zu: invalid JSON: %s (at byte %d)", path, line, err.text, err.position);
            goto fail;
        }
        if (k == cap) recs = xrealloc(recs, (cap *= 2) * sizeof *recs);
        int rc = read_record(o, &recs[k], path, line);
        json_decref(o);
        k++;
        if (rc < 0) goto fail;
    }
    free(text);
    *out = recs;
    *n = k;
    return 0;
fail:
    free(text);
    ruler_records_free(recs, k);
    return -1;
}

/* -------------------------------------------------------------- generation */

/* One prompt in the making. */
typedef struct {
    char *input;  /* the rendered prompt without the answer prefix */
    char *prefix; /* the answer prefix */
    char **outputs;
    size_t n_outputs;
    long ntok; /* tokens of input + prefix */
} draft;

static void draft_free(draft *d) {
    free(d->input);
    free(d->prefix);
    free_strs(d->outputs, d->n_outputs);
    memset(d, 0, sizeof *d);
}

typedef struct gen gen;
/* Builds the prompt for a haystack of `size` units; sample is the sample's
 * number (qa asks question `sample`), final is 0 while searching (vt leaves
 * its in-context example out then). 0, or -1 after an error line. */
typedef int (*make_fn)(gen *g, long size, long sample, int final, draft *d);

struct gen {
    const ruler_config *c;
    const ruler_task *t;
    rng_state rng; /* the task's stream */
    /* vt: the in-context example's layout (slot k: -1 noise, else chain element) */
    int vt_icl_stage;
    int *vt_slots, *icl_slots;
    size_t vt_n_slots, icl_n_slots;
    long icl_tokens;
    /* fwe: this sample's vocabulary */
    char **vocab;
    size_t n_vocab;
};

static void gen_free(gen *g) {
    free(g->vt_slots);
    free(g->icl_slots);
    free_strs(g->vocab, g->n_vocab);
}

static void gen_init(gen *g, const ruler_config *c, const ruler_task *t, const char *stream) {
    memset(g, 0, sizeof *g);
    g->c = c;
    g->t = t;
    char name[96];
    snprintf(name, sizeof name, "%s/%s", t->name, stream);
    rng_seed(&g->rng, rng_derive(c->seed, name));
}

/* RULER's random.Random(args.random_seed).shuffle(x): the same permutation
 * for every list of the same length. */
static void fixed_shuffle(const gen *g, void *base, size_t n, size_t size) {
    rng_state r;
    rng_seed(&r, g->c->seed);
    rng_shuffle(&r, base, n, size);
}

/* The task text as the one user message, through the chat template. */
static char *render_user(const gen *g, const char *content) {
    if (!g->c->tmpl) return xstrdup(content);
    json_t *msg = json_object(), *msgs = json_array();
    json_object_set_new(msg, "role", json_string("user"));
    json_t *s = json_string(content);
    if (!s) ev_fatal("ruler: prompt is not valid UTF-8");
    json_object_set_new(msg, "content", s);
    json_array_append_new(msgs, msg);
    char *out = chat_render(g->c->tmpl, msgs, 1, g->c->bos, g->c->eos);
    json_decref(msgs);
    return out;
}

/* Tokens of a + b as RULER's TOKENIZER.text_to_tokens counts them (HF
 * tokenize(): no BOS/EOS added). -1 after an error line. */
static long count_tokens(const gen *g, const char *a, const char *b) {
    size_t la = strlen(a), lb = b ? strlen(b) : 0;
    char *s = xmalloc(la + lb + 1);
    memcpy(s, a, la);
    if (lb) memcpy(s + la, b, lb);
    s[la + lb] = '\0';
    int32_t *ids;
    size_t n;
    int rc = tok_encode(g->c->tok, s, la + lb, 0, &ids, &n);
    free(s);
    if (rc < 0) return -1;
    free(ids);
    return (long)n;
}

static int measure(const gen *g, draft *d) {
    d->ntok = count_tokens(g, d->input, d->prefix);
    return d->ntok < 0 ? -1 : 0;
}

static char *fmt_long(long long v) {
    char b[32];
    snprintf(b, sizeof b, "%lld", v);
    return xstrdup(b);
}

/* ------------------------------------------------------------------- niah */

static char *rand_uuid4(gen *g) {
    /* uuid.UUID(int=random.getrandbits(128), version=4) */
    uint64_t hi = rng_u64(&g->rng), lo = rng_u64(&g->rng);
    hi = (hi & ~0xf000ULL) | 0x4000ULL;
    lo = (lo & ~(3ULL << 62)) | (2ULL << 62);
    char b[40];
    snprintf(b, sizeof b, "%08llx-%04llx-%04llx-%04llx-%012llx", (unsigned long long)(hi >> 32),
             (unsigned long long)(hi >> 16 & 0xffff), (unsigned long long)(hi & 0xffff),
             (unsigned long long)(lo >> 48), (unsigned long long)(lo & 0xffffffffffffULL));
    return xstrdup(b);
}

static char *rand_value(gen *g, ruler_value_type ty) {
    if (ty == RULER_NUMBERS) return fmt_long(rng_range(&g->rng, 1000000, 9999999));
    if (ty == RULER_UUIDS) return rand_uuid4(g);
    /* random.choice over sorted(set(adj-noun)): uniform over the pairs */
    const ruler_words *w = g->c->words;
    const char *adj = w->adjs[rng_below(&g->rng, w->n_adjs)];
    const char *noun = w->nouns[rng_below(&g->rng, w->n_nouns)];
    size_t la = strlen(adj), ln = strlen(noun);
    char *s = xmalloc(la + ln + 2);
    memcpy(s, adj, la);
    s[la] = '-';
    memcpy(s + la + 1, noun, ln + 1);
    return s;
}

static int in_list(char *const *v, size_t n, const char *s) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0) return 1;
    return 0;
}

static char *needle_text(ruler_value_type tv, const char *key, const char *value) {
    const char *names[] = {"type_needle_v", "key", "value"};
    const char *vals[] = {TYPE_PLURAL[tv], key, value};
    return pyformat(NEEDLE, 3, names, vals);
}

static int cmp_size_desc(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}
static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? -1 : x > y;
}
static int cmp_size(const void *a, const void *b) { return -cmp_size_desc(a, b); }

/* round(linspace(0, 100, 40)) */
static long depth_at(int i) { return lround(i * (100.0 / 39.0)); }

/* Needles put between the sentences of essay text (niah.py's essay branch). */
static char *essay_context(gen *g, long n_words, char **needles, size_t nn) {
    char *text = essay_words(g->c->essay, n_words);
    size_t *st, *en;
    size_t ns = split_sentences(text, strlen(text), &st, &en);
    size_t di[40];
    rng_sample(&g->rng, 40, nn, di);
    long *pos = xmalloc((nn + 2) * sizeof *pos);
    pos[0] = 0;
    for (size_t i = 0; i < nn; i++) pos[i + 1] = (long)((double)ns * ((double)depth_at((int)di[i]) / 100.0));
    qsort(pos + 1, nn, sizeof *pos, cmp_long);
    pos[nn + 1] = (long)ns;
    sbuf b = {0};
    for (size_t i = 1; i < nn + 2; i++) {
        if (i > 1) sb_addc(&b, ' ');
        long a = pos[i - 1], z = pos[i];
        if (z > a) sb_add(&b, text + st[a], en[z - 1] - st[a]);
        if (i - 1 < nn) {
            sb_addc(&b, ' ');
            sb_adds(&b, needles[i - 1]);
        }
    }
    free(pos);
    free(st);
    free(en);
    free(text);
    return sb_take(&b);
}

/* Needles put between lines of noise or of other needles. */
static char *line_context(gen *g, long n_lines, char **keys, size_t nk, char **needles, size_t nn) {
    const ruler_task *t = g->t;
    size_t m = (size_t)n_lines;
    const char **lines = xmalloc((m + nn) * sizeof *lines);
    char **owned = NULL;
    if (t->haystack == RULER_HAY_NEEDLE) {
        owned = xmalloc((m ? m : 1) * sizeof *owned);
        for (size_t i = 0; i < m; i++) {
            char *k;
            do { /* a distractor never carries a real key */
                k = rand_value(g, t->type_k);
                if (!in_list(keys, nk, k)) break;
                free(k);
            } while (1);
            char *v = rand_value(g, t->type_v);
            owned[i] = needle_text(t->type_v, k, v);
            free(k);
            free(v);
            lines[i] = owned[i];
        }
    } else {
        for (size_t i = 0; i < m; i++) lines[i] = NOISE;
    }
    /* indexes = sorted(random.sample(range(n), len(needles)), reverse=True);
     * needle i goes in at indexes[i] */
    size_t *idx = xmalloc((nn ? nn : 1) * sizeof *idx);
    rng_sample(&g->rng, m, nn, idx);
    qsort(idx, nn, sizeof *idx, cmp_size_desc);
    for (size_t i = 0; i < nn; i++) {
        memmove(lines + idx[i] + 1, lines + idx[i], (m - idx[i]) * sizeof *lines);
        lines[idx[i]] = needles[i];
        m++;
    }
    sbuf b = {0};
    for (size_t i = 0; i < m; i++) {
        if (i) sb_addc(&b, '\n');
        sb_adds(&b, lines[i]);
    }
    free(idx);
    free(lines);
    free_strs(owned, (size_t)n_lines);
    return sb_take(&b);
}

static int niah_make(gen *g, long size, long sample, int final, draft *d) {
    (void)sample;
    (void)final;
    const ruler_task *t = g->t;
    size_t nk = (size_t)(t->num_k > t->num_q ? t->num_k : t->num_q), nv = (size_t)t->num_v, nn = nk * nv;
    char **keys = xcalloc(nk, sizeof *keys), **vals = xcalloc(nn, sizeof *vals);
    char **needles = xcalloc(nn, sizeof *needles);
    for (size_t i = 0; i < nk; i++) {
        do { /* distinct keys, so that every query has one answer */
            free(keys[i]);
            keys[i] = rand_value(g, t->type_k);
        } while (in_list(keys, i, keys[i]));
        for (size_t j = 0; j < nv; j++) {
            vals[i * nv + j] = rand_value(g, t->type_v);
            needles[i * nv + j] = needle_text(t->type_v, keys[i], vals[i * nv + j]);
        }
    }
    char **order = xmalloc(nn * sizeof *order);
    memcpy(order, needles, nn * sizeof *order);
    fixed_shuffle(g, order, nn, sizeof *order);
    char *context = t->haystack == RULER_HAY_ESSAY ? essay_context(g, size, order, nn)
                                                   : line_context(g, size, keys, nk, order, nn);
    free(order);
    /* the query: num_q keys; the answers are all their values */
    size_t nq = (size_t)t->num_q, *qi = xmalloc(nq * sizeof *qi);
    rng_sample(&g->rng, nk, nq, qi);
    d->n_outputs = nq * nv;
    d->outputs = xmalloc(d->n_outputs * sizeof *d->outputs);
    sbuf q = {0};
    for (size_t i = 0; i < nq; i++) {
        for (size_t j = 0; j < nv; j++) d->outputs[i * nv + j] = xstrdup(vals[qi[i] * nv + j]);
        /* ', '.join(queries[:-1]) + ', and ' + queries[-1] */
        if (i) sb_adds(&q, i == nq - 1 ? ", and " : ", ");
        sb_adds(&q, keys[qi[i]]);
    }
    char *query = sb_take(&q);
    free(qi);
    char *T = xstrdup(NIAH_T), *P = xstrdup(NIAH_P);
    const char *type = TYPE_PLURAL[t->type_v];
    if (nq * nv == 1) {
        static const char *const rep[][2] = {{"Some", "A"}, {"are all", "is"}, {"are", "is"}, {"answers", "answer"}};
        for (int r = 0; r < 4; r++) {
            replace_in_place(&T, rep[r][0], rep[r][1]);
            replace_in_place(&P, rep[r][0], rep[r][1]);
        }
        type = TYPE_SINGULAR[t->type_v];
    }
    const char *names[] = {"type_needle_v", "context", "query"};
    const char *vs[] = {type, context, query};
    char *user = pyformat(T, 3, names, vs);
    d->prefix = pyformat(P, 3, names, vs);
    d->input = render_user(g, user);
    free(user);
    free(T);
    free(P);
    free(query);
    free(context);
    free_strs(keys, nk);
    free_strs(vals, nn);
    free_strs(needles, nn);
    return d->input ? 0 : -1;
}

/* --------------------------------------------------------------------- vt */

/* n distinct strings of k random letters from `first` on (random.choices of
 * string.ascii_uppercase / ascii_lowercase). */
static char **rand_names(gen *g, size_t n, int k, char first) {
    char **v = xmalloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        v[i] = xmalloc((size_t)k + 1);
        do {
            for (int j = 0; j < k; j++) v[i][j] = (char)(first + rng_below(&g->rng, 26));
            v[i][k] = '\0';
        } while (in_list(v, i, v[i]));
    }
    return v;
}

/* The noise lines with the chains in them: slot -1 is noise, else chain
 * c's element j as c * (hops + 1) + j. */
static char *vt_context(const int *slots, size_t n, char **names, char **values, int hops) {
    sbuf b = {0};
    for (size_t i = 0; i < n; i++) {
        if (i) sb_addc(&b, '\n');
        if (slots[i] < 0) {
            sb_adds(&b, NOISE);
            continue;
        }
        int c = slots[i] / (hops + 1), j = slots[i] % (hops + 1);
        sb_adds(&b, "VAR ");
        sb_adds(&b, names[slots[i]]);
        if (j == 0) {
            sb_adds(&b, " = ");
            sb_adds(&b, values[c]);
        } else {
            sb_adds(&b, " = VAR ");
            sb_adds(&b, names[slots[i] - 1]);
            sb_addc(&b, ' ');
        }
    }
    char *s = sb_take(&b);
    replace_in_place(&s, ". \n", ".\n");
    return s;
}

/* T + P formatted for a chain whose first value is value. */
static void vt_texts(const char *context, const char *value, int hops, char **user, char **prefix) {
    char num_v[16];
    snprintf(num_v, sizeof num_v, "%d", hops + 1);
    const char *names[] = {"context", "query", "num_v"};
    const char *vs[] = {context, value, num_v};
    *user = pyformat(VT_T, 3, names, vs);
    *prefix = pyformat(VT_P, 3, names, vs);
}

/* The in-context example with fresh names and value (randomize_icl), ending
 * in its answer and "\n". */
static char *vt_icl_text(gen *g) {
    int hops = g->t->num_hops < 10 ? g->t->num_hops : 10;
    size_t nvar = (size_t)(hops + 1) * (size_t)g->t->num_chains;
    char **names = rand_names(g, nvar, 3, 'A');
    char **values = xmalloc((size_t)g->t->num_chains * sizeof *values);
    for (int c = 0; c < g->t->num_chains; c++) values[c] = xstrdup("12345");
    /* randomize_icl replaces every 12345 with one new value */
    char *value = fmt_long(rng_range(&g->rng, 10000, 99998));
    for (int c = 0; c < g->t->num_chains; c++) {
        free(values[c]);
        values[c] = xstrdup(value);
    }
    char *context = vt_context(g->icl_slots, g->icl_n_slots, names, values, hops);
    char *user, *prefix;
    vt_texts(context, value, hops, &user, &prefix);
    sbuf b = {0};
    sb_adds(&b, user);
    sb_adds(&b, prefix);
    sb_addc(&b, ' ');
    for (int j = 0; j <= hops; j++) {
        if (j) sb_addc(&b, ' ');
        sb_adds(&b, names[j]);
    }
    sb_addc(&b, '\n');
    free(user);
    free(prefix);
    free(context);
    free(value);
    free_strs(values, (size_t)g->t->num_chains);
    free_strs(names, nvar);
    return sb_take(&b);
}

static int vt_make(gen *g, long size, long sample, int final, draft *d) {
    (void)sample;
    const ruler_task *t = g->t;
    int icl = g->vt_icl_stage;
    int hops = icl && t->num_hops > 10 ? 10 : t->num_hops;
    int nchains = t->num_chains;
    size_t per = (size_t)hops + 1, nvar = per * (size_t)nchains;
    char **names = rand_names(g, nvar, icl ? 3 : 5, 'A');
    char **values = xmalloc((size_t)nchains * sizeof *values);
    /* np.random.randint(10000, 99999): the high end is exclusive */
    for (int c = 0; c < nchains; c++) values[c] = icl ? xstrdup("12345") : fmt_long(rng_range(&g->rng, 10000, 99998));
    size_t m = (size_t)size;
    free(g->vt_slots);
    int *slots = g->vt_slots = xmalloc((m + nvar) * sizeof *slots);
    for (size_t i = 0; i < m; i++) slots[i] = -1;
    size_t *pos = xmalloc(per * sizeof *pos);
    for (int c = 0; c < nchains; c++) {
        rng_sample(&g->rng, m, per, pos);
        qsort(pos, per, sizeof *pos, cmp_size);
        for (size_t j = 0; j < per; j++) {
            size_t at = pos[j] + j;
            memmove(slots + at + 1, slots + at, (m - at) * sizeof *slots);
            slots[at] = c * (int)per + (int)j;
            m++;
        }
    }
    free(pos);
    g->vt_n_slots = m;
    char *context = vt_context(slots, m, names, values, hops);
    char *user, *prefix;
    vt_texts(context, values[0], hops, &user, &prefix);
    free(context);
    d->n_outputs = per;
    d->outputs = xmalloc(per * sizeof *d->outputs);
    for (size_t j = 0; j < per; j++) d->outputs[j] = xstrdup(names[j]);
    free_strs(names, nvar);
    free_strs(values, (size_t)nchains);
    if (icl) { /* RULER's plain template, answer prefix kept in the text */
        sbuf b = {0};
        sb_adds(&b, user);
        sb_adds(&b, prefix);
        free(user);
        free(prefix);
        d->input = sb_take(&b);
        d->prefix = xstrdup("");
        return 0;
    }
    if (final) {
        char *ex = vt_icl_text(g);
        sbuf b = {0};
        sb_adds(&b, ex);
        sb_addc(&b, '\n');
        sb_adds(&b, user);
        free(ex);
        free(user);
        user = sb_take(&b);
    }
    d->input = render_user(g, user);
    d->prefix = prefix;
    free(user);
    return d->input ? 0 : -1;
}

/* -------------------------------------------------------------------- cwe */

/* get_example: num distinct words, the first num_cw of them `common`; the list
 * common * cr + uncommon * ur in the fixed order, numbered. */
static int cwe_example(gen *g, long num, int cr, int ur, sbuf *ctx, char ***common) {
    const ruler_words *w = g->c->words;
    char *const *src = w->cw;
    size_t nsrc = w->n_cw;
    if ((size_t)num > nsrc) {
        src = w->english;
        nsrc = w->n_english;
        if ((size_t)num > nsrc)
            return ev_error("%s: %ld distinct words needed, the word lists have %zu (wonderwords) and %zu "
                            "(english.txt; tools/fetch-words.sh writes it)",
                            g->t->name, num, w->n_cw, w->n_english);
    }
    size_t ncw = (size_t)g->t->num_cw, n = (size_t)num;
    size_t *idx = xmalloc(n * sizeof *idx);
    rng_sample(&g->rng, nsrc, n, idx);
    size_t total = ncw * (size_t)cr + (n - ncw) * (size_t)ur, k = 0;
    size_t *list = xmalloc((total ? total : 1) * sizeof *list);
    for (int r = 0; r < cr; r++)
        for (size_t i = 0; i < ncw; i++) list[k++] = idx[i];
    for (int r = 0; r < ur; r++)
        for (size_t i = ncw; i < n; i++) list[k++] = idx[i];
    fixed_shuffle(g, list, total, sizeof *list);
    for (size_t i = 0; i < total; i++) {
        if (i) sb_addc(ctx, ' ');
        sb_addf(ctx, "%zu. ", i + 1);
        sb_adds(ctx, src[list[i]]);
    }
    *common = xmalloc(ncw * sizeof **common);
    for (size_t i = 0; i < ncw; i++) (*common)[i] = xstrdup(src[idx[i]]);
    free(list);
    free(idx);
    return 0;
}

static char *cwe_user(const char *context) {
    const char *names[] = {"context"};
    const char *vs[] = {context};
    return pyformat(CWE_T, 1, names, vs);
}

static int cwe_make(gen *g, long size, long sample, int final, draft *d) {
    (void)sample;
    (void)final;
    const ruler_task *t = g->t;
    int small = g->c->max_seq_length < 4096;
    sbuf fs = {0}, real = {0};
    char **fs_common = NULL, **common = NULL;
    size_t ncw = (size_t)t->num_cw;
    if (cwe_example(g, small ? 20 : 40, small ? 3 : 10, small ? 1 : 3, &fs, &fs_common) < 0) {
        free(fs.p);
        return -1;
    }
    if (cwe_example(g, size, small ? 6 : t->freq_cw, small ? 1 : t->freq_ucw, &real, &common) < 0) {
        free(fs.p);
        free(real.p);
        free_strs(fs_common, ncw);
        return -1;
    }
    char *fs_user = cwe_user(fs.p), *user = cwe_user(real.p);
    free(fs.p);
    free(real.p);
    char *fs_in = render_user(g, fs_user), *in = fs_in ? render_user(g, user) : NULL;
    free(fs_user);
    free(user);
    if (!in) {
        free(fs_in);
        free_strs(fs_common, ncw);
        free_strs(common, ncw);
        return -1;
    }
    /* the example with its answer prefix and answer, then the real prompt */
    sbuf b = {0};
    sb_adds(&b, fs_in);
    sb_adds(&b, CWE_P);
    sb_addc(&b, ' ');
    for (size_t i = 0; i < ncw; i++) {
        if (i) sb_addc(&b, ' ');
        sb_addf(&b, "%zu. ", i + 1);
        sb_adds(&b, fs_common[i]);
    }
    sb_addc(&b, '\n');
    sb_adds(&b, in);
    free(fs_in);
    free(in);
    free_strs(fs_common, ncw);
    d->input = sb_take(&b);
    d->prefix = xstrdup(CWE_P);
    d->outputs = common;
    d->n_outputs = ncw;
    return 0;
}

/* -------------------------------------------------------------------- fwe */

#define FWE_WORDLEN 6

/* Riemann zeta(s), s > 1 (scipy.special.zeta): a direct sum and the
 * Euler-Maclaurin tail, accurate to a few ulp. */
static double zeta(double s) {
    const int N = 16;
    double sum = 0;
    for (int k = 1; k < N; k++) sum += pow(k, -s);
    double n = N, t = pow(n, -s);
    sum += n * t / (s - 1) + t / 2;
    /* B2/2!, B4/4!, B6/6!, B8/8! terms */
    double term = s * t / n;
    sum += term / 12;
    term *= (s + 1) * (s + 2) / (n * n);
    sum -= term / 720;
    term *= (s + 3) * (s + 4) / (n * n);
    sum += term / 30240;
    term *= (s + 5) * (s + 6) / (n * n);
    sum -= term / 1209600;
    return sum;
}

/* V distinct random coded words, sorted, in the fixed order, the first one
 * "..." (the noise RULER puts on top). */
static void fwe_vocab(gen *g, size_t V) {
    free_strs(g->vocab, g->n_vocab);
    g->vocab = rand_names(g, V, FWE_WORDLEN, 'a');
    g->n_vocab = V;
    qsort(g->vocab, V, sizeof *g->vocab, cmp_str);
    fixed_shuffle(g, g->vocab, V, sizeof *g->vocab);
    free(g->vocab[0]);
    g->vocab[0] = xstrdup("...");
}

/* gen_text: rank k (1-based) appears int(n * k^-alpha / zeta(alpha)) times. */
static int fwe_make(gen *g, long n, long sample, int final, draft *d) {
    (void)sample;
    (void)final;
    size_t V = g->n_vocab, total = 0;
    double z = zeta(g->t->alpha);
    size_t *cnt = xmalloc(V * sizeof *cnt);
    for (size_t k = 0; k < V; k++) {
        double c = (double)n * pow((double)(k + 1), -g->t->alpha) / z;
        cnt[k] = c > 0 ? (size_t)c : 0;
        total += cnt[k];
    }
    size_t *list = xmalloc((total ? total : 1) * sizeof *list), m = 0;
    for (size_t k = 0; k < V; k++)
        for (size_t r = 0; r < cnt[k]; r++) list[m++] = k;
    fixed_shuffle(g, list, total, sizeof *list);
    sbuf b = {0};
    for (size_t i = 0; i < total; i++) {
        if (i) sb_addc(&b, ' ');
        sb_adds(&b, g->vocab[list[i]]);
    }
    free(list);
    free(cnt);
    const char *names[] = {"context"};
    const char *vs[] = {b.p ? b.p : ""};
    char *user = pyformat(FWE_T, 1, names, vs);
    free(b.p);
    d->input = render_user(g, user);
    free(user);
    d->prefix = xstrdup(FWE_P);
    d->n_outputs = V >= 4 ? 3 : V - 1;
    d->outputs = xmalloc(3 * sizeof *d->outputs);
    for (size_t i = 0; i < d->n_outputs; i++) d->outputs[i] = xstrdup(g->vocab[i + 1]);
    return d->input ? 0 : -1;
}

/* The fewest words for which ranks 2, 3, 4 and 5 occur a strictly decreasing
 * number of times (so that the answer is well defined). */
static long fwe_min_words(double alpha) {
    double z = zeta(alpha);
    for (long n = 1;; n++) {
        long c[4];
        for (int k = 0; k < 4; k++) c[k] = (long)((double)n * pow(k + 2, -alpha) / z);
        if (c[2] >= 1 && c[0] > c[1] && c[1] > c[2] && c[2] > c[3]) return n;
    }
}

/* --------------------------------------------------------------------- qa */

static int qa_make(gen *g, long num_docs, long sample, int final, draft *d) {
    (void)final;
    const ruler_qa *qa = g->t->dataset == RULER_SQUAD ? g->c->squad : g->c->hotpotqa;
    const qa_question *q = &qa->qs[sample];
    size_t nd = (size_t)num_docs, k = 0;
    size_t *docs = xmalloc(nd * sizeof *docs);
    if (nd < qa->n_docs) {
        size_t fixed = q->n_ctx < nd ? q->n_ctx : nd;
        for (size_t i = 0; i < fixed; i++) docs[k++] = q->ctx[i];
        if (nd - fixed > q->n_more) {
            /* its documents, its article's, then others drawn at random */
            for (size_t i = 0; i < q->n_more; i++) docs[k++] = q->more[i];
            unsigned char *used = xcalloc(qa->n_docs, 1);
            for (size_t i = 0; i < q->n_ctx; i++) used[q->ctx[i]] = 1;
            for (size_t i = 0; i < q->n_more; i++) used[q->more[i]] = 1;
            size_t na = 0;
            size_t *add = xmalloc(qa->n_docs * sizeof *add);
            for (size_t i = 0; i < qa->n_docs; i++)
                if (!used[i]) add[na++] = i;
            size_t want = nd - k < na ? nd - k : na;
            size_t *pick = xmalloc((want ? want : 1) * sizeof *pick);
            rng_sample(&g->rng, na, want, pick);
            for (size_t i = 0; i < want; i++) docs[k++] = add[pick[i]];
            free(pick);
            free(add);
            free(used);
        } else {
            size_t want = nd - fixed;
            size_t *pick = xmalloc((want ? want : 1) * sizeof *pick);
            rng_sample(&g->rng, q->n_more, want, pick);
            for (size_t i = 0; i < want; i++) docs[k++] = q->more[pick[i]];
            free(pick);
        }
    } else {
        for (size_t i = 0; i < nd; i++) docs[k++] = i % qa->n_docs; /* (DOCS * repeats)[:num_docs] */
    }
    fixed_shuffle(g, docs, k, sizeof *docs);
    sbuf b = {0};
    for (size_t i = 0; i < k; i++) {
        if (i) sb_adds(&b, "\n\n");
        sb_addf(&b, "Document %zu:\n", i + 1);
        sb_adds(&b, qa->docs[docs[i]]);
    }
    free(docs);
    const char *names[] = {"context", "query"};
    const char *vs[] = {b.p ? b.p : "", q->query};
    char *user = pyformat(QA_T, 2, names, vs);
    free(b.p);
    d->input = render_user(g, user);
    free(user);
    d->prefix = xstrdup(QA_P);
    d->n_outputs = q->n_answers;
    d->outputs = xmalloc((q->n_answers ? q->n_answers : 1) * sizeof *d->outputs);
    for (size_t i = 0; i < q->n_answers; i++) d->outputs[i] = xstrdup(q->answers[i]);
    return d->input ? 0 : -1;
}

/* ---------------------------------------------------------- search, draws */

typedef struct {
    make_fn make;
    long incr;        /* RULER's `incremental`: the search's low end and the shrink step */
    long probe;       /* size of the prompt that estimates tokens per unit */
    int cwe_estimate; /* upper end int(max // tpu) * 2, not int(max / tpu * 3) */
    long extra;       /* tokens counted beside the prompt while searching (vt's example) */
    long ttg;         /* tokens_to_generate */
    long max;         /* max_seq_length */
    const char *unit;
} plan;

/* The largest size whose prompt + extra + ttg fits max (RULER's binary
 * search); RULER's incremental when none does. */
static int search_size(gen *g, const plan *p, long *size) {
    draft d = {0};
    if (p->make(g, p->probe, 0, 0, &d) < 0 || measure(g, &d) < 0) {
        draft_free(&d);
        return -1;
    }
    double tpu = (double)d.ntok / (double)p->probe;
    draft_free(&d);
    long est = p->cwe_estimate ? (long)floor((double)p->max / tpu) * 2 : (long)((double)p->max / tpu * 3);
    long lo = p->incr, hi = est > 2 * p->incr ? est : 2 * p->incr, best = -1;
    while (lo <= hi) {
        long mid = lo + (hi - lo) / 2;
        if (p->make(g, mid, 0, 0, &d) < 0 || measure(g, &d) < 0) {
            draft_free(&d);
            return -1;
        }
        long total = d.ntok + p->extra + p->ttg;
        draft_free(&d);
        if (total <= p->max) {
            best = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    *size = best >= 0 ? best : p->incr;
    return 0;
}

/* One sample at `size`, shrinking by incr while it does not fit. */
static int draw(gen *g, const plan *p, long size, long sample, draft *d) {
    for (int tries = 0;;) {
        if (p->make(g, size, sample, 1, d) < 0 || measure(g, d) < 0) return -1;
        if (d->ntok + p->ttg <= p->max) return 0;
        draft_free(d);
        if (size > p->incr) size -= p->incr;
        else if (++tries >= MAX_DRAWS)
            return ev_error("%s: no sample fits in %ld tokens even with the smallest haystack (%ld %s); use a "
                            "larger --length",
                            g->t->name, p->max, size, p->unit);
    }
}

static void plan_for(const gen *g, plan *p) {
    const ruler_task *t = g->t;
    long L = g->c->max_seq_length;
    memset(p, 0, sizeof *p);
    p->ttg = t->tokens_to_generate;
    p->max = L;
    switch (t->kind) {
    case RULER_NIAH:
        p->make = niah_make;
        p->incr = t->haystack == RULER_HAY_ESSAY ? 500 : L < 4096 ? 5 : 25;
        p->unit = t->haystack == RULER_HAY_ESSAY ? "words" : "lines";
        break;
    case RULER_VT:
        p->make = vt_make;
        p->incr = L < 4096 ? 5 : 10;
        p->unit = "lines";
        p->extra = g->icl_tokens;
        break;
    case RULER_CWE:
        p->make = cwe_make;
        p->incr = 10;
        p->probe = 4096;
        p->cwe_estimate = 1;
        p->unit = "words";
        break;
    case RULER_QA:
        p->make = qa_make;
        p->incr = 10;
        p->unit = "documents";
        break;
    case RULER_FWE:
        p->make = fwe_make;
        p->unit = "words";
        break;
    }
    if (!p->probe) p->probe = p->incr;
}

/* vt's in-context example: one sample of a 500-token problem with 3-letter
 * names and the value 12345, in RULER's plain template, searched for without
 * tokens_to_generate; its layout is kept and its names redrawn per sample. */
static int vt_prepare(gen *g) {
    plan p = {.make = vt_make, .incr = 5, .probe = 5, .max = 500, .unit = "lines"};
    g->vt_icl_stage = 1;
    long size;
    draft d = {0};
    int rc = search_size(g, &p, &size);
    if (rc == 0) rc = draw(g, &p, size, 0, &d);
    g->vt_icl_stage = 0;
    if (rc < 0) return -1;
    g->icl_slots = g->vt_slots;
    g->icl_n_slots = g->vt_n_slots;
    g->vt_slots = NULL;
    /* icl_example = input + " " + " ".join(outputs) + "\n" */
    sbuf b = {0};
    sb_adds(&b, d.input);
    sb_addc(&b, ' ');
    for (size_t j = 0; j < d.n_outputs; j++) {
        if (j) sb_addc(&b, ' ');
        sb_adds(&b, d.outputs[j]);
    }
    sb_addc(&b, '\n');
    draft_free(&d);
    g->icl_tokens = count_tokens(g, b.p, NULL);
    free(b.p);
    return g->icl_tokens < 0 ? -1 : 0;
}

static const ruler_qa *qa_set(const ruler_config *c, const ruler_task *t) {
    return t->dataset == RULER_SQUAD ? c->squad : c->hotpotqa;
}

static int check_resources(const ruler_config *c, const ruler_task *t) {
    if (ruler_task_needs_words(t) && !c->words) return ev_error("%s: needs the word lists (--words DIR)", t->name);
    if (ruler_task_needs_essay(t) && !c->essay) return ev_error("%s: needs the essay text (--essays FILE)", t->name);
    if (t->kind == RULER_QA && !qa_set(c, t))
        return ev_error("%s: needs the %s file", t->name, t->dataset == RULER_SQUAD ? "SQuAD (--squad)"
                                                                                    : "HotpotQA (--hotpotqa)");
    return 0;
}

/* fwe's search (freq_words_extraction.py): the vocabulary is (L - ttg) / 50
 * words; words grow from max_len / 6 in steps of max_len / 32 until the text
 * no longer fits, one step back. */
static int fwe_generate(gen *g, size_t n, ruler_record *recs, ruler_stats *st) {
    long max_len = g->c->max_seq_length - g->t->tokens_to_generate, inc = max_len / 32;
    size_t V = (size_t)(max_len / 50);
    long floor_words = fwe_min_words(g->t->alpha);
    if (inc < 1) inc = 1;
    fwe_vocab(g, V);
    long words = max_len / FWE_WORDLEN;
    draft d = {0};
    for (;;) {
        if (fwe_make(g, words, 0, 0, &d) < 0 || measure(g, &d) < 0) goto fail;
        long nt = d.ntok;
        draft_free(&d);
        if (nt >= max_len) break;
        words += inc;
    }
    words -= inc;
    st->haystack = words;
    for (size_t i = 0; i < n; i++) {
        long w = words;
        fwe_vocab(g, V);
        for (;;) {
            if (w < floor_words)
                return ev_error("%s: no sample fits in %ld tokens with at least %ld words; use a larger --length",
                                g->t->name, g->c->max_seq_length, floor_words);
            if (fwe_make(g, w, 0, 1, &d) < 0 || measure(g, &d) < 0) goto fail;
            if (d.ntok <= max_len) break;
            draft_free(&d);
            w -= inc;
        }
        ruler_record *r = &recs[i];
        r->index = (long long)i;
        r->input = d.input;
        r->answer_prefix = d.prefix;
        r->outputs = d.outputs;
        r->n_outputs = d.n_outputs;
        r->length = r->length_w_model_temp = d.ntok + g->t->tokens_to_generate;
        r->token_position_answer = -1;
        r->fields = RULER_F_LENGTH | RULER_F_LENGTH_W | RULER_F_PREFIX;
        memset(&d, 0, sizeof d);
    }
    return 0;
fail:
    draft_free(&d);
    return -1;
}

int ruler_generate(const ruler_config *c, const ruler_task *t, size_t n, ruler_record **out, ruler_stats *st) {
    ruler_stats local;
    if (!st) st = &local;
    memset(st, 0, sizeof *st);
    *out = NULL;
    if (check_resources(c, t) < 0) return -1;
    if (t->kind == RULER_QA && qa_set(c, t)->n_qs < n)
        return ev_error("%s: the %s file has %zu answerable questions, fewer than the %zu samples asked for",
                        t->name, t->dataset == RULER_SQUAD ? "SQuAD" : "HotpotQA", qa_set(c, t)->n_qs, n);
    if (t->kind == RULER_FWE && (c->max_seq_length - t->tokens_to_generate) / 50 < 4)
        return ev_error("%s: --length %ld is too short (at least %d)", t->name, c->max_seq_length,
                        t->tokens_to_generate + 200);
    gen g;
    gen_init(&g, c, t, "samples");
    ruler_record *recs = xcalloc(n ? n : 1, sizeof *recs);
    int rc = 0;
    plan p;
    if (t->kind == RULER_FWE) {
        st->unit = "words";
        rc = fwe_generate(&g, n, recs, st);
    } else {
        if (t->kind == RULER_VT) rc = vt_prepare(&g);
        plan_for(&g, &p);
        st->unit = p.unit;
        long size = 0;
        if (rc == 0) rc = search_size(&g, &p, &size);
        st->haystack = size;
        for (size_t i = 0; i < n && rc == 0; i++) {
            draft d = {0};
            if ((rc = draw(&g, &p, size, (long)i, &d)) < 0) {
                draft_free(&d);
                break;
            }
            ruler_record *r = &recs[i];
            r->index = (long long)i;
            r->length = r->length_w_model_temp = d.ntok + p.ttg;
            r->fields = RULER_F_LENGTH | RULER_F_LENGTH_W | RULER_F_PREFIX;
            r->token_position_answer = -1;
            if (t->kind == RULER_NIAH) {
                /* tokens before the first occurrence of the first answer */
                const char *at = strstr(d.input, d.outputs[0]);
                size_t off = at ? (size_t)(at - d.input) : strlen(d.input);
                char *head = xmalloc(off + 1);
                memcpy(head, d.input, off);
                head[off] = '\0';
                r->token_position_answer = count_tokens(&g, head, NULL);
                free(head);
                r->fields |= RULER_F_TOKEN_POS;
                if (r->token_position_answer < 0) rc = -1;
            }
            r->input = d.input;
            r->answer_prefix = d.prefix;
            r->outputs = d.outputs;
            r->n_outputs = d.n_outputs;
        }
    }
    gen_free(&g);
    if (rc < 0) {
        ruler_records_free(recs, n);
        return -1;
    }
    st->min_length = st->max_length = n ? (long)recs[0].length : 0;
    for (size_t i = 0; i < n; i++) {
        if (recs[i].length < st->min_length) st->min_length = (long)recs[i].length;
        if (recs[i].length > st->max_length) st->max_length = (long)recs[i].length;
    }
    *out = recs;
    return 0;
}

int ruler_min_length(const ruler_config *c, const ruler_task *t, long *min_len) {
    if (check_resources(c, t) < 0) return -1;
    gen g;
    gen_init(&g, c, t, "min");
    draft d = {0};
    int rc = 0;
    if (t->kind == RULER_FWE) {
        size_t V = (size_t)((c->max_seq_length - t->tokens_to_generate) / 50);
        fwe_vocab(&g, V < 5 ? 5 : V);
        rc = fwe_make(&g, fwe_min_words(t->alpha), 0, 1, &d);
        if (rc == 0) rc = measure(&g, &d);
        long need = d.ntok + t->tokens_to_generate, vmin = t->tokens_to_generate + 200;
        *min_len = need > vmin ? need : vmin;
    } else {
        if (t->kind == RULER_VT) rc = vt_prepare(&g);
        plan p;
        plan_for(&g, &p);
        if (rc == 0) rc = p.make(&g, p.incr, 0, 1, &d);
        if (rc == 0) rc = measure(&g, &d);
        *min_len = d.ntok + p.ttg;
    }
    draft_free(&d);
    gen_free(&g);
    return rc;
}
