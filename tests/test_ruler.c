/* test_ruler.c - RULER task generation and the RULER JSONL reader.
 *
 * Oracles: the files NVIDIA/RULER's own prepare.py wrote
 * (tests/fixtures/ruler/official, tools/gen_ruler_fixtures.py) for the reader,
 * the writer (byte for byte), RULER's token counting and the template text
 * outside the random parts; for our own samples, checks that recompute the
 * answer from the prompt (needles found, chains resolved, words counted) and
 * the made-up QA files parsed here independently. */
#include "test.h"

#include "chat.h"
#include "rng.h"
#include "ruler.h"
#include "tokenizer.h"
#include "util.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MODEL "models/smollm2-135m-instruct.gguf"
#define ESSAY "data/texts/kjv.txt"

static tok_tokenizer *TOK;

static long ntok(const char *s, size_t n) {
    int32_t *ids;
    size_t k;
    if (tok_encode(TOK, s, n, 0, &ids, &k) < 0) return -1;
    free(ids);
    return (long)k;
}

static long ntok2(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    memcpy(s, a, la);
    memcpy(s + la, b, lb + 1);
    long n = ntok(s, la + lb);
    free(s);
    return n;
}

/* The last occurrence of needle in s, or NULL. */
static const char *rfind(const char *s, const char *needle) {
    const char *last = NULL;
    for (const char *p = s; (p = strstr(p, needle)); p++) last = p;
    return last;
}

static char *dupn(const char *s, size_t n) {
    char *d = malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* Counting words: a small linear table is enough for a few thousand entries. */
typedef struct {
    char **w;
    long *c;
    size_t n, cap;
} counter;

static void count_add(counter *t, const char *w, size_t len) {
    for (size_t i = 0; i < t->n; i++)
        if (strlen(t->w[i]) == len && memcmp(t->w[i], w, len) == 0) {
            t->c[i]++;
            return;
        }
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 64;
        t->w = realloc(t->w, t->cap * sizeof *t->w);
        t->c = realloc(t->c, t->cap * sizeof *t->c);
    }
    t->w[t->n] = dupn(w, len);
    t->c[t->n++] = 1;
}

static long count_of(const counter *t, const char *w) {
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->w[i], w) == 0) return t->c[i];
    return 0;
}

static void count_free(counter *t) {
    for (size_t i = 0; i < t->n; i++) free(t->w[i]);
    free(t->w);
    free(t->c);
    memset(t, 0, sizeof *t);
}

/* "1. a 2. b ... M. z" between s and e: each entry counted; returns M, or -1
 * when the numbering is not 1, 2, 3, ... */
static long count_numbered(const char *s, const char *e, counter *t) {
    long i = 1;
    char lab[32];
    snprintf(lab, sizeof lab, "1. ");
    if (strncmp(s, lab, 3) != 0) return -1;
    const char *p = s + 3;
    for (;;) {
        snprintf(lab, sizeof lab, " %ld. ", i + 1);
        const char *q = strstr(p, lab);
        if (!q || q > e) q = e;
        count_add(t, p, (size_t)(q - p));
        if (q == e) return i;
        p = q + strlen(lab);
        i++;
    }
}

/* ---------------------------------------------------------------- checks */

static const char *const PLURAL[] = {"words", "numbers", "uuids"};
static const char *const SINGULAR[] = {"word", "number", "uuid"};
static const char NOISE[] = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.";

/* The query keys of a niah question "...for K1, K2, and K3 mentioned in..." */
static size_t query_keys(const char *q, size_t qn, char **keys, size_t max) {
    size_t n = 0;
    const char *p = q, *end = q + qn;
    while (p < end && n < max) {
        const char *c = strstr(p, ", ");
        if (!c || c >= end) c = end;
        if (strncmp(p, "and ", 4) == 0 && n > 0) p += 4;
        keys[n++] = dupn(p, (size_t)(c - p));
        p = c + 2;
    }
    return n;
}

static void check_niah(const ruler_task *t, const ruler_record *r, int chat) {
    const int one = t->num_q * t->num_v == 1;
    const char *type = one ? SINGULAR[t->type_v] : PLURAL[t->type_v];
    char head[256], ask[128];
    snprintf(head, sizeof head, "%s special magic %s %s hidden within the following text. Make sure to memorize it. I "
             "will quiz you about the %s afterwards.\n", one ? "A" : "Some", type, one ? "is" : "are", type);
    snprintf(ask, sizeof ask, "\nWhat %s the special magic %s for ", one ? "is" : "are all", type);
    const char *h = strstr(r->input, head), *tail = rfind(r->input, ask);
    CHECK(h && tail && tail > h, "%s: template head/question not found", t->name);
    if (!h || !tail) return;
    const char *qs = tail + strlen(ask), *qe = strstr(qs, " mentioned in the provided text?");
    CHECK(qe != NULL, "%s: question end", t->name);
    if (!qe) return;
    if (chat) CHECK(strcmp(qe, " mentioned in the provided text?<|im_end|>\n<|im_start|>assistant\n") == 0,
                    "%s: prompt end '%s'", t->name, qe);
    char *keys[8];
    size_t nk = query_keys(qs, (size_t)(qe - qs), keys, 8);
    CHECK_EQ_INT(nk, t->num_q);
    /* the answer prefix repeats the query */
    char pre[512];
    snprintf(pre, sizeof pre, " The special magic %s for %.*s mentioned in the provided text %s", type,
             (int)(qe - qs), qs, one ? "is" : "are");
    CHECK_EQ_STR(r->answer_prefix, pre);
    /* every output is the value of a needle of a queried key, num_v per key */
    size_t found = 0;
    for (size_t k = 0; k < nk; k++) {
        char nd[512];
        snprintf(nd, sizeof nd, "One of the special magic %s for %s is: ", PLURAL[t->type_v], keys[k]);
        int per = 0;
        for (const char *p = r->input; (p = strstr(p, nd)); p++) {
            const char *v = p + strlen(nd), *dot = strchr(v, '.');
            while (dot && dot[1] != '\n' && dot[1] != ' ' && dot[1] != '\0') dot = strchr(dot + 1, '.');
            if (!dot) break;
            int hit = 0;
            for (size_t o = 0; o < r->n_outputs; o++)
                if (strlen(r->outputs[o]) == (size_t)(dot - v) && memcmp(r->outputs[o], v, (size_t)(dot - v)) == 0)
                    hit = 1;
            CHECK(hit, "%s: needle value '%.*s' of %s is not an output", t->name, (int)(dot - v), v, keys[k]);
            per++;
            /* the needle sits between haystack units */
            if (t->haystack == RULER_HAY_ESSAY) {
                /* after a sentence, or after the last (cut) words of the text */
                char c2 = p[-2];
                int after_sentence = p[-1] == ' ' && (c2 == '.' || c2 == '?' || c2 == '!' || c2 == '"' || c2 == '\'' ||
                                                      c2 == ')' || c2 == '\n' || c2 == ' ');
                const char *next = dot + 1;
                while (strncmp(next, " One of the special magic ", 26) == 0) next = strstr(next + 1, ".") + 1;
                /* (a needle at depth 100 is followed by " " and the empty last part, as in RULER) */
                CHECK(after_sentence || (next[0] == ' ' && next[1] == '\n'), "%s: needle not at a sentence boundary: '%.20s'", t->name,
                      p - 12);
            } else {
                CHECK(p[-1] == '\n', "%s: needle not on its own line", t->name);
            }
        }
        CHECK_EQ_INT(per, t->num_v);
        found += (size_t)per;
        free(keys[k]);
    }
    CHECK_EQ_INT(found, r->n_outputs);
    /* the recorded token position is where the first answer is */
    const char *a = strstr(r->input, r->outputs[0]);
    CHECK(a && (r->fields & RULER_F_TOKEN_POS) && r->token_position_answer == ntok(r->input, (size_t)(a - r->input)),
          "%s: token_position_answer %lld", t->name, r->token_position_answer);
    /* the haystack lines: noise, or needles only */
    if (t->haystack != RULER_HAY_ESSAY) {
        const char *ctx = h + strlen(head);
        long lines = 0, needles = 0, noise = 0;
        for (const char *p = ctx; p < tail;) {
            const char *e = strchr(p, '\n');
            if (!e || e > tail) e = tail;
            lines++;
            if ((size_t)(e - p) == strlen(NOISE) && memcmp(p, NOISE, strlen(NOISE)) == 0) noise++;
            else if (strncmp(p, "One of the special magic ", 25) == 0) needles++;
            p = e + 1;
        }
        if (t->haystack == RULER_HAY_NOISE) CHECK(noise == lines - (long)r->n_outputs, "%s: noise lines", t->name);
        else CHECK(needles == lines && lines >= 5, "%s: %ld needle lines of %ld", t->name, needles, lines);
    } else {
        long nd = 0;
        for (const char *p = h; (p = strstr(p, "One of the special magic ")); p++) nd++;
        CHECK_EQ_INT(nd, (long)(t->num_k > t->num_q ? t->num_k : t->num_q) * t->num_v);
    }
}

/* Lines "VAR X = 12345" / "VAR Y = VAR X " between s and e: the variables
 * holding `value`, in chain order, written to names (up to max). */
static size_t vt_resolve(const char *s, const char *e, const char *value, char names[][8], size_t max) {
    char from[32][8], to[32][16];
    size_t n = 0;
    for (const char *p = s; p < e && (p = strstr(p, "VAR ")) && p < e; p++) {
        if (p != s && p[-1] != '\n' && p[-1] != ' ') continue;
        if (p > s && p[-1] == ' ') continue; /* the "= VAR X" half */
        if (n == 32) break;
        if (sscanf(p, "VAR %7[A-Z] = %15[A-Z0-9 ]", from[n], to[n]) == 2) {
            char *x = to[n];
            if (strncmp(x, "VAR ", 4) == 0) memmove(x, x + 4, strlen(x + 4) + 1);
            size_t l = strlen(x);
            while (l && x[l - 1] == ' ') x[--l] = '\0';
            n++;
        }
    }
    size_t k = 0;
    const char *cur = value;
    for (int step = 0; step < 32 && k < max; step++) {
        size_t i = 0;
        while (i < n && strcmp(to[i], cur) != 0) i++;
        if (i == n) break;
        snprintf(names[k], 8, "%s", from[i]);
        cur = names[k++];
    }
    return k;
}

static void check_vt(const ruler_record *r) {
    static const char T0[] = "Memorize and track the chain(s) of variable assignment hidden in the following text.\n\n";
    const char *icl = strstr(r->input, T0), *real = rfind(r->input, T0);
    CHECK(icl && real && real > icl, "vt: in-context example and task");
    if (!icl || !real || real == icl) return;
    /* the real question */
    const char *q = rfind(r->input, "\nQuestion: Find all variables that are assigned the value ");
    CHECK(q && q > real, "vt: question");
    if (!q) return;
    char value[16];
    CHECK(sscanf(q, "\nQuestion: Find all variables that are assigned the value %15[0-9]", value) == 1, "vt: value");
    char names[8][8];
    size_t k = vt_resolve(real, q, value, names, 8);
    CHECK_EQ_INT(k, r->n_outputs);
    for (size_t i = 0; i < k && i < r->n_outputs; i++) CHECK_EQ_STR(names[i], r->outputs[i]);
    char pre[256];
    snprintf(pre, sizeof pre, " Answer: According to the chain(s) of variable assignment in the text above, %zu "
             "variables are assigned the value %s, they are: ", r->n_outputs, value);
    CHECK_EQ_STR(r->answer_prefix, pre);
    /* the example's own chain resolves to the answer it shows */
    const char *iq = strstr(icl, "\nQuestion: Find all variables that are assigned the value ");
    char iv[16];
    CHECK(iq && iq < real && sscanf(iq, "\nQuestion: Find all variables that are assigned the value %15[0-9]", iv) == 1,
          "vt: example question");
    if (!iq) return;
    size_t ik = vt_resolve(icl, iq, iv, names, 8);
    CHECK_EQ_INT(ik, 5);
    const char *ans = strstr(iq, "they are:  ");
    CHECK(ans && ans < real, "vt: example answer");
    if (!ans) return;
    char shown[64];
    snprintf(shown, sizeof shown, "%s %s %s %s %s\n\n", names[0], names[1], names[2], names[3], names[4]);
    CHECK(strncmp(ans + 11, shown, strlen(shown)) == 0 && ans + 11 + strlen(shown) == real,
          "vt: example shows '%.40s', chain gives '%s'", ans + 11, shown);
    CHECK(strlen(names[0]) == 3, "vt: example names have 3 letters");
}

static void check_cwe(const ruler_record *r, long L) {
    static const char T0[] = "Memorize the ones that appear most often.\n";
    static const char P[] = " Answer: The top 10 words that appear most often in the list are:";
    const char *fs = strstr(r->input, T0), *real = rfind(r->input, T0);
    CHECK(fs && real && real > fs, "cwe: example and task");
    if (!fs || !real || fs == real) return;
    int small = L < 4096;
    /* the real list: the outputs 30 (6) times, the others 3 (1) */
    const char *s = real + strlen(T0), *e = strstr(s, "\nQuestion: What are the 10 most common words");
    counter c = {0};
    CHECK(e && count_numbered(s, e, &c) > 0, "cwe: numbered list");
    CHECK_EQ_INT(r->n_outputs, 10);
    for (size_t i = 0; i < r->n_outputs; i++) CHECK_EQ_INT(count_of(&c, r->outputs[i]), small ? 6 : 30);
    CHECK_EQ_INT(c.n - 10 >= 1, 1);
    for (size_t i = 0; i < c.n; i++) {
        int is_out = 0;
        for (size_t j = 0; j < r->n_outputs; j++) is_out |= strcmp(c.w[i], r->outputs[j]) == 0;
        if (!is_out) CHECK(c.c[i] == (small ? 1 : 3), "cwe: '%s' %ld times", c.w[i], c.c[i]);
    }
    count_free(&c);
    /* the example: its list and the answer after its answer prefix */
    const char *fe = strstr(fs, "\nQuestion: What are the 10 most common words"), *fa = strstr(fs, P);
    CHECK(fe && fa && fa < real, "cwe: example answer");
    if (!fe || !fa) return;
    long nfs = count_numbered(fs + strlen(T0), fe, &c);
    CHECK_EQ_INT(nfs, small ? 40 : 190);
    counter a = {0};
    const char *as = fa + strlen(P) + 1, *ae = strchr(as, '\n');
    long nas = count_numbered(as, ae, &a);
    CHECK_EQ_INT(nas, 10);
    for (size_t i = 0; i < a.n; i++) CHECK_EQ_INT(count_of(&c, a.w[i]), small ? 3 : 10);
    count_free(&a);
    count_free(&c);
    CHECK_EQ_STR(r->answer_prefix, P);
}

static int by_count_desc(const void *x, const void *y) {
    long a = ((const long *)x)[0], b = ((const long *)y)[0];
    return a < b ? 1 : a > b ? -1 : 0;
}

static void check_fwe(const ruler_record *r) {
    const char *s = strstr(r->input, "coded words. "), *e = rfind(r->input, "\nQuestion: Do not provide");
    CHECK(s && e, "fwe: template");
    if (!s || !e) return;
    s += strlen("coded words. ");
    counter c = {0};
    for (const char *p = s; p < e;) {
        const char *q = memchr(p, ' ', (size_t)(e - p));
        if (!q) q = e;
        count_add(&c, p, (size_t)(q - p));
        p = q + 1;
    }
    long (*rank)[2] = malloc(c.n * sizeof *rank);
    for (size_t i = 0; i < c.n; i++) {
        rank[i][0] = c.c[i];
        rank[i][1] = (long)i;
    }
    qsort(rank, c.n, sizeof *rank, by_count_desc);
    CHECK(c.n >= 5 && strcmp(c.w[rank[0][1]], "...") == 0, "fwe: '...' is the most frequent");
    CHECK_EQ_INT(r->n_outputs, 3);
    for (int i = 0; i < 3 && c.n >= 5; i++) {
        CHECK_EQ_STR(c.w[rank[i + 1][1]], r->outputs[i]);
        CHECK(rank[i + 1][0] > rank[i + 2][0], "fwe: rank %d not strictly more frequent", i + 2);
        for (int j = 0; j < 6; j++) CHECK(strlen(r->outputs[i]) == 6 && r->outputs[i][j] >= 'a' &&
                                        r->outputs[i][j] <= 'z', "fwe: coded word");
    }
    free(rank);
    count_free(&c);
}

/* The fixture's answerable questions in file order, parsed here (not by
 * ruler.c): question i's text and answers. */
typedef struct {
    char *q[64];
    json_t *answers[64];
    json_t *root;
    size_t n;
} qa_list;

static void qa_list_load(qa_list *l, const char *path, int squad) {
    memset(l, 0, sizeof *l);
    l->root = json_load_file(path, 0, NULL);
    if (!l->root) return;
    size_t i, j, k;
    json_t *d, *p, *qa;
    if (squad) {
        json_array_foreach(json_object_get(l->root, "data"), i, d) json_array_foreach(json_object_get(d, "paragraphs"), j, p)
            json_array_foreach(json_object_get(p, "qas"), k, qa) {
            if (json_is_true(json_object_get(qa, "is_impossible")) || l->n == 64) continue;
            l->q[l->n] = (char *)json_string_value(json_object_get(qa, "question"));
            l->answers[l->n++] = json_object_get(qa, "answers");
        }
    } else {
        json_array_foreach(l->root, i, d) {
            if (l->n == 64) break;
            l->q[l->n] = (char *)json_string_value(json_object_get(d, "question"));
            l->answers[l->n++] = json_object_get(d, "answer");
        }
    }
}

static void check_qa(const ruler_task *t, const ruler_record *r, const qa_list *l) {
    CHECK(r->index < (long long)l->n, "qa index");
    if (r->index >= (long long)l->n) return;
    const json_t *a = l->answers[r->index];
    if (json_is_string(a)) {
        CHECK(r->n_outputs == 1 && strcmp(r->outputs[0], json_string_value(a)) == 0, "%s: outputs", t->name);
    } else {
        CHECK_EQ_INT(r->n_outputs, json_array_size(a));
        for (size_t i = 0; i < r->n_outputs && i < json_array_size(a); i++)
            CHECK_EQ_STR(r->outputs[i], json_string_value(json_object_get(json_array_get(a, i), "text")));
    }
    char tail[512];
    snprintf(tail, sizeof tail, "\n\nAnswer the question based on the given documents. Only give me the answer and do "
             "not output any other words.\n\nQuestion: %s", l->q[r->index]);
    CHECK(strstr(r->input, tail) != NULL, "%s: question text", t->name);
    CHECK_EQ_STR(r->answer_prefix, " Answer:");
    /* documents numbered 1, 2, 3, ... */
    long d = 0;
    char lab[32];
    for (const char *p = r->input;;) {
        snprintf(lab, sizeof lab, "Document %ld:\n", d + 1);
        const char *q = strstr(p, lab);
        if (!q) break;
        p = q + 1;
        d++;
    }
    CHECK(d >= 10, "%s: %ld documents", t->name, d);
}

/* Tolerance below L in tokens: a sample may fall short by about one
 * `incremental` of haystack (RULER shrinks by that much when a draw does not
 * fit): 500 essay words, 10 cwe words (30 entries), L/32 fwe words, 10
 * documents; 5 or 25 lines of noise or needles. */
static long slack(const ruler_task *t, long L) {
    switch (t->kind) {
    case RULER_NIAH:
        if (t->haystack == RULER_HAY_ESSAY) return 800;
        return (L < 4096 ? 5 : 25) * (t->type_k == RULER_UUIDS ? 50 : 25) + 60;
    case RULER_VT: return L / 15 + 30;
    case RULER_CWE: return L / 10 + 40;
    case RULER_FWE: return L / 7;
    case RULER_QA: return L * 3 / 10;
    }
    return 0;
}

static void check_records(const ruler_config *c, const ruler_task *t, const ruler_record *r, size_t n, int chat,
                          const qa_list *squad, const qa_list *hotpot) {
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ_INT(r[i].index, (long long)i);
        CHECK(r[i].length <= c->max_seq_length && r[i].length >= c->max_seq_length - slack(t, c->max_seq_length),
              "%s: length %lld for L=%ld", t->name, r[i].length, c->max_seq_length);
        CHECK_EQ_INT(r[i].length_w_model_temp, r[i].length);
        CHECK_EQ_INT(r[i].length, ntok2(r[i].input, r[i].answer_prefix) + t->tokens_to_generate);
        unsigned want = RULER_F_LENGTH | RULER_F_LENGTH_W | RULER_F_PREFIX | (t->kind == RULER_NIAH ? RULER_F_TOKEN_POS : 0);
        CHECK_EQ_INT(r[i].fields, want);
        if (chat) {
            const char *end = "<|im_end|>\n<|im_start|>assistant\n";
            size_t li = strlen(r[i].input);
            CHECK(strncmp(r[i].input, "<|im_start|>system\n", 19) == 0 && li > strlen(end) &&
                      strcmp(r[i].input + li - strlen(end), end) == 0,
                  "%s: not in SmolLM2's chat template", t->name);
        }
        switch (t->kind) {
        case RULER_NIAH: check_niah(t, &r[i], chat); break;
        case RULER_VT: check_vt(&r[i]); break;
        case RULER_CWE: check_cwe(&r[i], c->max_seq_length); break;
        case RULER_FWE: check_fwe(&r[i]); break;
        case RULER_QA: check_qa(t, &r[i], t->dataset == RULER_SQUAD ? squad : hotpot); break;
        }
    }
}

static int same_records(const ruler_record *a, const ruler_record *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (strcmp(a[i].input, b[i].input) || strcmp(a[i].answer_prefix, b[i].answer_prefix) ||
            a[i].length != b[i].length || a[i].n_outputs != b[i].n_outputs)
            return 0;
        for (size_t k = 0; k < a[i].n_outputs; k++)
            if (strcmp(a[i].outputs[k], b[i].outputs[k])) return 0;
    }
    return 1;
}

/* ------------------------------------------------ RULER's own files (oracle) */

/* The template around the random parts: the text up to the first `head`
 * marker (inclusive), "|", the text from the last `tail` marker, with the
 * query between `from` and `to` in the tail replaced by "#". */
static char *skeleton(const char *s, const char *head, const char *tail, const char *from, const char *to) {
    const char *h = strstr(s, head), *t = rfind(s, tail);
    if (!h || !t) return strdup("<missing>");
    size_t hl = (size_t)(h - s) + strlen(head), tl = strlen(t);
    char *o = malloc(hl + tl + 2);
    memcpy(o, s, hl);
    o[hl] = '|';
    memcpy(o + hl + 1, t, tl + 1);
    char *q = from ? strstr(o + hl + 1, from) : NULL, *e = q ? strstr(q + strlen(from), to) : NULL;
    if (q && e) {
        q += strlen(from);
        memmove(q + 1, e, strlen(e) + 1);
        *q = '#';
    }
    return o;
}

static char *skeleton_of(const ruler_task *t, const char *input) {
    switch (t->kind) {
    case RULER_NIAH: return skeleton(input, "afterwards.\n", "\nWhat ", " for ", " mentioned");
    case RULER_VT: return skeleton(input, "following text.\n\n", "\nQuestion: Find", "the value ", " in the text");
    case RULER_CWE: return skeleton(input, "appear most often.\n", "\nQuestion:", NULL, NULL);
    case RULER_FWE: return skeleton(input, "coded words. ", "\nQuestion:", NULL, NULL);
    case RULER_QA: return skeleton(input, "The following are given documents.\n\n", "\n\nAnswer the question", NULL, NULL);
    }
    return NULL;
}

/* The answer prefix with its random query masked. */
static char *mask_prefix(const ruler_task *t, const char *p) {
    char *o = strdup(p);
    const char *from = t->kind == RULER_NIAH ? " for " : t->kind == RULER_VT ? "the value " : NULL;
    const char *to = t->kind == RULER_NIAH ? " mentioned" : t->kind == RULER_VT ? ", they" : NULL;
    if (!from) return o;
    char *a = strstr(o, from), *b = a ? strstr(a, to) : NULL;
    if (a && b) {
        a += strlen(from);
        memmove(a + 1, b, strlen(b) + 1);
        *a = '#';
    }
    return o;
}

static void test_official(tok_tokenizer *fx_tok, const ruler_words *words, const ruler_essay *essay,
                          const ruler_qa *squad, const ruler_qa *hotpot, const qa_list *sq, const qa_list *hp) {
    char path[256];
    snprintf(path, sizeof path, "%s", FIXTURE("ruler/official/niah_single_1.jsonl"));
    if (!ev_is_file(path)) {
        CHECK(0, "%s missing: run tools/gen_ruler_fixtures.py", path);
        return;
    }
    tok_tokenizer *keep = TOK;
    TOK = fx_tok;
    ruler_config c = {.tok = fx_tok, .tmpl = NULL, .words = words, .essay = essay, .squad = squad,
                      .hotpotqa = hotpot, .max_seq_length = 2048, .seed = 42};
    for (int ti = 0; ti < RULER_N_TASKS; ti++) {
        const ruler_task *t = &ruler_tasks[ti];
        snprintf(path, sizeof path, "tests/fixtures/ruler/official/%s.jsonl", t->name);
        ruler_record *off;
        size_t n;
        CHECK(ruler_read_jsonl(path, &off, &n) == 0 && n == 2, "read %s", path);
        if (!off) continue;
        /* RULER's counting: tokenize() of input + answer_prefix, plus tokens_to_generate */
        for (size_t i = 0; i < n; i++) {
            CHECK(off[i].length == ntok2(off[i].input, off[i].answer_prefix) + t->tokens_to_generate,
                  "%s: RULER's length %lld, ours %ld", t->name, off[i].length,
                  ntok2(off[i].input, off[i].answer_prefix) + t->tokens_to_generate);
            CHECK(off[i].length <= 2048, "%s: official length", t->name);
            /* our checkers agree with RULER's own samples */
            switch (t->kind) {
            case RULER_NIAH: check_niah(t, &off[i], 0); break;
            case RULER_VT: check_vt(&off[i]); break;
            case RULER_CWE: check_cwe(&off[i], 2048); break;
            case RULER_FWE: check_fwe(&off[i]); break;
            case RULER_QA: check_qa(t, &off[i], t->dataset == RULER_SQUAD ? sq : hp); break;
            }
            if (t->kind == RULER_NIAH) {
                const char *a = strstr(off[i].input, off[i].outputs[0]);
                CHECK(a && off[i].token_position_answer == ntok(off[i].input, (size_t)(a - off[i].input)),
                      "%s: official token_position_answer", t->name);
            }
        }
        /* the writer gives back RULER's bytes */
        char tmp[] = "/tmp/test_ruler_XXXXXX";
        int fd = mkstemp(tmp);
        FILE *f = fdopen(fd, "w");
        ruler_write_jsonl(f, tmp, off, n);
        fclose(f);
        size_t la, lb;
        char *a = ev_read_file(path, &la), *b = ev_read_file(tmp, &lb);
        CHECK(a && b && la == lb && memcmp(a, b, la) == 0, "%s: rewritten file differs from RULER's", t->name);
        free(a);
        free(b);
        unlink(tmp);
        /* ours with the base template: same fields, same text around the random parts */
        ruler_record *ours;
        CHECK(ruler_generate(&c, t, 2, &ours, NULL) == 0, "generate %s at 2048", t->name);
        if (ours) {
            for (size_t i = 0; i < n; i++) {
                CHECK_EQ_INT(ours[i].fields, off[i].fields);
                char *so = skeleton_of(t, off[i].input), *sm = skeleton_of(t, ours[i].input);
                CHECK(strcmp(so, sm) == 0, "%s: template differs:\n  RULER: %s\n  ours:  %s", t->name, so, sm);
                free(so);
                free(sm);
                char *po = mask_prefix(t, off[i].answer_prefix), *pm = mask_prefix(t, ours[i].answer_prefix);
                CHECK_EQ_STR(pm, po);
                free(po);
                free(pm);
                CHECK_EQ_INT(ours[i].n_outputs, off[i].n_outputs);
                /* lengths: the same search over the same units */
                CHECK(labs((long)(ours[i].length - off[i].length)) <= slack(t, 2048),
                      "%s: length %lld vs RULER's %lld", t->name, ours[i].length, off[i].length);
                if (t->kind == RULER_QA)
                    for (size_t k = 0; k < ours[i].n_outputs && k < off[i].n_outputs; k++)
                        CHECK_EQ_STR(ours[i].outputs[k], off[i].outputs[k]);
            }
            ruler_records_free(ours, 2);
        }
        ruler_records_free(off, n);
    }
    TOK = keep;
}

/* ---------------------------------------------------------------- reader */

static int read_text(const char *text) {
    char tmp[] = "/tmp/test_ruler_XXXXXX";
    int fd = mkstemp(tmp);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    ruler_record *r;
    size_t n;
    int rc = ruler_read_jsonl(tmp, &r, &n);
    if (rc == 0) {
        rc = (int)n;
        ruler_records_free(r, n);
    } else {
        rc = -1;
    }
    unlink(tmp);
    return rc;
}

/* The writer against Python: json.dumps({"index": 3, "input": "a\u00e9\U0001F600\x01\"\\\\/\x7f\t\n",
 * "outputs": ["\u2028", ""]}) printed by python3. */
static void test_writer(void) {
    static const char want[] = "{\"index\": 3, \"input\": \"a\\u00e9\\ud83d\\ude00\\u0001\\\"\\\\/\\u007f\\t\\n\", "
                               "\"outputs\": [\"\\u2028\", \"\"]}\n";
    char *outs[] = {"\xe2\x80\xa8", ""};
    ruler_record r = {.index = 3, .input = "a\xc3\xa9\xf0\x9f\x98\x80\x01\"\\/\x7f\t\n", .outputs = outs, .n_outputs = 2,
                      .answer_prefix = ""};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ruler_write_jsonl(f, "memory", &r, 1);
    fclose(f);
    CHECK(strcmp(buf, want) == 0, "writer: %s", buf);
    free(buf);
}

static void test_reader(void) {
    CHECK_EQ_INT(read_text("{\"index\": 0, \"input\": \"x\", \"outputs\": [\"a\"]}\n\n"
                           "{\"index\": 1, \"input\": \"y\\u00e9\", \"outputs\": [], \"length\": 9, \"pred\": \"z\"}\n"),
                 2);
    fprintf(stderr, "(expected error lines follow)\n");
    CHECK_EQ_INT(read_text("{\"index\": 0, \"input\": \"x\", \"outputs\": [\"a\"]\n"), -1);
    CHECK_EQ_INT(read_text("{\"index\": 0, \"outputs\": [\"a\"]}\n"), -1);
    CHECK_EQ_INT(read_text("{\"index\": \"0\", \"input\": \"x\", \"outputs\": [\"a\"]}\n"), -1);
    CHECK_EQ_INT(read_text("{\"index\": 0, \"input\": \"x\", \"outputs\": \"a\"}\n"), -1);
    CHECK_EQ_INT(read_text("{\"index\": 0, \"input\": \"x\", \"outputs\": [1]}\n"), -1);
    CHECK_EQ_INT(read_text("{\"index\": 0, \"input\": \"x\", \"outputs\": [], \"length\": 1.5}\n"), -1);
    CHECK_EQ_INT(read_text("{\"index\": 0, \"input\": \"x\", \"outputs\": [], \"answer_prefix\": 3}\n"), -1);
    CHECK_EQ_INT(read_text("[1, 2]\n"), -1);
    CHECK_EQ_INT(read_text("{\"index\": 0, \"input\": \"a\\u0000b\", \"outputs\": []}\n"), -1);
    ruler_record *r;
    size_t n;
    CHECK(ruler_read_jsonl("/nonexistent/x.jsonl", &r, &n) == -1 && r == NULL, "missing file");
    /* the QA loaders refuse other shapes */
    char tmp[] = "/tmp/test_ruler_XXXXXX";
    int fd = mkstemp(tmp);
    FILE *f = fdopen(fd, "w");
    fputs("{\"data\": [{\"paragraphs\": [{\"context\": \"c\"}]}]}", f);
    fclose(f);
    CHECK(ruler_qa_load(tmp, RULER_SQUAD) == NULL, "SQuAD without qas");
    CHECK(ruler_qa_load(tmp, RULER_HOTPOTQA) == NULL, "HotpotQA given an object");
    unlink(tmp);
    CHECK(ruler_words_load("/nonexistent") == NULL, "missing word lists");
    CHECK(ruler_essay_load("/nonexistent") == NULL, "missing essay");
    fprintf(stderr, "(end of expected error lines)\n");
}

static void test_rng(void) {
    rng_state a, b;
    rng_seed(&a, 5);
    rng_seed(&b, 5);
    int same = 1;
    for (int i = 0; i < 100; i++) same &= rng_u64(&a) == rng_u64(&b);
    CHECK(same, "same seed, same stream");
    rng_seed(&b, 6);
    CHECK(rng_u64(&a) != rng_u64(&b), "seeds differ");
    long hist[10] = {0}, out_of_range = 0;
    for (int i = 0; i < 100000; i++) {
        int64_t v = rng_range(&a, 10, 19);
        if (v < 10 || v > 19) out_of_range++;
        else hist[v - 10]++;
    }
    CHECK_EQ_INT(out_of_range, 0);
    for (int i = 0; i < 10; i++) CHECK(hist[i] > 9400 && hist[i] < 10600, "uniform: %ld", hist[i]);
    for (int pass = 0; pass < 2; pass++) {
        size_t n = pass ? 1000000 : 50, k = pass ? 20 : 40, out[40];
        rng_sample(&a, n, k, out);
        int ok = 1;
        for (size_t i = 0; i < k; i++) {
            ok &= out[i] < n;
            for (size_t j = 0; j < i; j++) ok &= out[i] != out[j];
        }
        CHECK(ok, "sample: distinct and in range");
    }
    double d = rng_double(&a);
    CHECK(d >= 0 && d < 1, "double");
    CHECK(rng_derive(42, "a") != rng_derive(42, "b") && rng_derive(42, "a") == rng_derive(42, "a"), "derive");
}

/* ------------------------------------------------------------------ main */

int main(void) {
    test_rng();
    test_writer();
    test_reader();
    CHECK_EQ_INT(RULER_N_TASKS, 13);
    static const char *const names[] = {"niah_single_1", "niah_single_2", "niah_single_3", "niah_multikey_1",
                                        "niah_multikey_2", "niah_multikey_3", "niah_multivalue", "niah_multiquery",
                                        "vt", "cwe", "fwe", "qa_1", "qa_2"};
    for (int i = 0; i < 13; i++) CHECK(ruler_task_find(names[i]) == &ruler_tasks[i], "%s", names[i]);
    CHECK(ruler_task_find("niah") == NULL, "unknown task");

    int have_model = ev_is_file(MODEL);
    const char *model = have_model ? MODEL : FIXTURE("tok/smollm2");
    if (!have_model) fprintf(stderr, "note: %s absent (make model); using the tokenizer fixture\n", MODEL);
    TOK = tok_open_path(model);
    tok_tokenizer *fx_tok = tok_open_path(FIXTURE("tok/smollm2"));
    chat_template *tmpl = chat_template_for_path(model, NULL);
    ruler_words *words = ruler_words_load(FIXTURE("ruler/words"));
    ruler_essay *essay = ruler_essay_load(ESSAY);
    ruler_qa *squad = ruler_qa_load(FIXTURE("ruler/squad.json"), RULER_SQUAD);
    ruler_qa *hotpot = ruler_qa_load(FIXTURE("ruler/hotpotqa.json"), RULER_HOTPOTQA);
    CHECK(TOK && fx_tok && tmpl && words && essay && squad && hotpot, "setup (essay: make data)");
    if (!(TOK && fx_tok && tmpl && words && essay && squad && hotpot)) return test_done("ruler");
    CHECK_EQ_INT(ruler_qa_n_questions(squad), 96);
    CHECK_EQ_INT(ruler_qa_n_questions(hotpot), 8);
    qa_list sq, hp;
    qa_list_load(&sq, FIXTURE("ruler/squad.json"), 1);
    qa_list_load(&hp, FIXTURE("ruler/hotpotqa.json"), 0);

    ruler_config c = {.tok = TOK, .tmpl = tmpl, .bos = tok_bos_str(TOK), .eos = tok_eos_str(TOK), .words = words,
                      .essay = essay, .squad = squad, .hotpotqa = hotpot, .seed = 7};
    /* every task at 4096 (RULER's large-L settings) and 1024 (its small-L ones) */
    static const long lengths[] = {4096, 1024};
    for (int li = 0; li < 2; li++) {
        c.max_seq_length = lengths[li];
        for (int ti = 0; ti < RULER_N_TASKS; ti++) {
            const ruler_task *t = &ruler_tasks[ti];
            size_t n = li == 0 ? 3 : 2;
            ruler_record *r, *again;
            long min;
            CHECK(ruler_min_length(&c, t, &min) == 0 && min < c.max_seq_length, "%s: min %ld", t->name, min);
            CHECK(ruler_generate(&c, t, n, &r, NULL) == 0, "generate %s at %ld", t->name, c.max_seq_length);
            if (!r) continue;
            check_records(&c, t, r, n, 1, &sq, &hp);
            if (li == 0) { /* same seed, same samples; another seed, others */
                CHECK(ruler_generate(&c, t, n, &again, NULL) == 0 && same_records(r, again, n), "%s: deterministic",
                      t->name);
                ruler_records_free(again, n);
                c.seed = 8;
                CHECK(ruler_generate(&c, t, n, &again, NULL) == 0, "%s: seed 8", t->name);
                if (t->kind != RULER_QA || t->dataset == RULER_SQUAD)
                    CHECK(again && !same_records(r, again, n), "%s: seed 8 gives other samples", t->name);
                ruler_records_free(again, n);
                c.seed = 7;
            }
            ruler_records_free(r, n);
        }
    }

    /* cwe beyond the wonderwords lists (the fixture's ~790 words): english.txt */
    {
        const ruler_task *t = ruler_task_find("cwe");
        ruler_record *r;
        ruler_stats st;
        c.max_seq_length = 32768;
        CHECK(ruler_generate(&c, t, 1, &r, &st) == 0 && st.haystack > 1000, "cwe at 32768: %ld words", st.haystack);
        if (r) check_records(&c, t, r, 1, 1, &sq, &hp);
        ruler_records_free(r, 1);
    }

    /* needle depths spread over the whole text (40 samples, essay and noise) */
    c.max_seq_length = 4096;
    for (int k = 0; k < 2; k++) {
        const ruler_task *t = ruler_task_find(k ? "niah_single_1" : "niah_single_2");
        ruler_record *r;
        int quart[4] = {0};
        CHECK(ruler_generate(&c, t, 40, &r, NULL) == 0, "40 samples");
        for (int i = 0; r && i < 40; i++) {
            double rel = (double)r[i].token_position_answer / (double)(r[i].length - t->tokens_to_generate);
            quart[rel < 0.25 ? 0 : rel < 0.5 ? 1 : rel < 0.75 ? 2 : 3]++;
        }
        for (int q = 0; q < 4; q++) CHECK(quart[q] >= 3, "%s: %d needles in quarter %d", t->name, quart[q], q);
        ruler_records_free(r, 40);
    }

    /* too short: the minimum is reported and a sample at the minimum fits */
    {
        const ruler_task *t = ruler_task_find("niah_single_1");
        long min;
        c.max_seq_length = 400;
        CHECK(ruler_min_length(&c, t, &min) == 0 && min > 200 && min < 400, "min %ld", min);
        c.max_seq_length = min + 20;
        ruler_record *r;
        CHECK(ruler_generate(&c, t, 2, &r, NULL) == 0, "generate at the minimum");
        ruler_records_free(r, 2);
        t = ruler_task_find("niah_single_2");
        c.max_seq_length = 400;
        CHECK(ruler_min_length(&c, t, &min) == 0 && min > 500, "essay min %ld", min);
        fprintf(stderr, "(expected error line follows)\n");
        CHECK(ruler_generate(&c, t, 1, &r, NULL) == -1, "essay task at 400 tokens");
        c.max_seq_length = 4096;
        CHECK(ruler_generate(&c, ruler_task_find("qa_2"), 9, &r, NULL) == -1, "more samples than questions");
    }

    test_official(fx_tok, words, essay, squad, hotpot, &sq, &hp);

    json_decref(sq.root);
    json_decref(hp.root);
    ruler_qa_free(squad);
    ruler_qa_free(hotpot);
    ruler_essay_free(essay);
    ruler_words_free(words);
    chat_template_free(tmpl);
    tok_free(fx_tok);
    tok_free(TOK);
    return test_done("ruler");
}
