/* rouge.c - ROUGE-Lsum in the manner of rouge_score 0.1.2 (see rouge.h):
 * tokens are interned to small integers so the LCS tables compare ints. */
#include "rouge.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ tokens */

/* Calls fn(tok, len, ctx) for every rouge_score token of text[0, n). The
 * lowercasing comes first because it can create ASCII (U+212A KELVIN SIGN ->
 * 'k', U+0130 -> 'i' + U+0307). */
static void each_token(const uint32_t *cp, size_t n, void (*fn)(const char *, size_t, void *), void *ctx) {
    pystr in = {0}, low = {0};
    pystr_append(&in, cp, n);
    pystr_lower(&in, &low);
    char *tok = xmalloc(low.n + 1);
    size_t len = 0;
    for (size_t i = 0; i <= low.n; i++) {
        uint32_t c = i < low.n ? low.cp[i] : ' ';
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            tok[len++] = (char)c;
        } else if (len > 0) {
            fn(tok, len, ctx);
            len = 0;
        }
    }
    free(tok);
    pystr_free(&in);
    pystr_free(&low);
}

typedef struct {
    char *buf;
    size_t len, cap, count;
} tokbuf;

static void tokbuf_add(const char *tok, size_t len, void *ctx) {
    tokbuf *b = ctx;
    if (b->len + len + 1 > b->cap) {
        while (b->len + len + 1 > b->cap) b->cap = b->cap ? b->cap * 2 : 64;
        b->buf = xrealloc(b->buf, b->cap);
    }
    memcpy(b->buf + b->len, tok, len);
    b->buf[b->len + len] = '\0';
    b->len += len + 1;
    b->count++;
}

size_t rouge_tokenize(const pystr *text, char **buf) {
    tokbuf b = {0};
    each_token(text->cp, text->n, tokbuf_add, &b);
    *buf = b.buf;
    return b.count;
}

/* Token interning: an open-addressing hash table of owned strings. */
typedef struct {
    char **key;  /* (cap) */
    int *id;     /* (cap) */
    size_t cap, used;
} intern;

static uint64_t hash(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static int intern_id(intern *t, const char *s, size_t n) {
    if (2 * (t->used + 1) > t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 256;
        char **nk = xcalloc(ncap, sizeof *nk);
        int *ni = xcalloc(ncap, sizeof *ni);
        for (size_t i = 0; i < t->cap; i++) {
            if (!t->key[i]) continue;
            size_t j = hash(t->key[i], strlen(t->key[i])) & (ncap - 1);
            while (nk[j]) j = (j + 1) & (ncap - 1);
            nk[j] = t->key[i];
            ni[j] = t->id[i];
        }
        free(t->key);
        free(t->id);
        t->key = nk;
        t->id = ni;
        t->cap = ncap;
    }
    size_t j = hash(s, n) & (t->cap - 1);
    while (t->key[j]) {
        if (strlen(t->key[j]) == n && memcmp(t->key[j], s, n) == 0) return t->id[j];
        j = (j + 1) & (t->cap - 1);
    }
    t->key[j] = xmalloc(n + 1);
    memcpy(t->key[j], s, n);
    t->key[j][n] = '\0';
    t->id[j] = (int)t->used++;
    return t->id[j];
}

static void intern_free(intern *t) {
    for (size_t i = 0; i < t->cap; i++) free(t->key[i]);
    free(t->key);
    free(t->id);
}

/* ------------------------------------------------------------ sentences */

typedef struct {
    int *tok; /* (n) token ids */
    size_t n, cap;
} sent;

typedef struct {
    sent *s; /* (n) */
    size_t n, total;
} sents;

typedef struct {
    intern *in;
    sent *cur;
} add_ctx;

static void sent_add(const char *tok, size_t len, void *ctx) {
    add_ctx *a = ctx;
    sent *s = a->cur;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->tok = xrealloc(s->tok, s->cap * sizeof *s->tok);
    }
    s->tok[s->n++] = intern_id(a->in, tok, len);
}

/* rouge_score's get_sents without split_summaries: text.split("\n") keeping
 * the non-empty pieces, each tokenized. */
static void split_sents(const pystr *text, intern *in, sents *out) {
    memset(out, 0, sizeof *out);
    size_t cap = 0;
    size_t a = 0;
    for (size_t i = 0; i <= text->n; i++) {
        if (i < text->n && text->cp[i] != '\n') continue;
        if (i > a) {
            if (out->n == cap) {
                cap = cap ? cap * 2 : 8;
                out->s = xrealloc(out->s, cap * sizeof *out->s);
            }
            sent *s = &out->s[out->n++];
            memset(s, 0, sizeof *s);
            add_ctx ctx = {in, s};
            each_token(text->cp + a, i - a, sent_add, &ctx);
            out->total += s->n;
        }
        a = i + 1;
    }
}

static void sents_free(sents *s) {
    for (size_t i = 0; i < s->n; i++) free(s->s[i].tok);
    free(s->s);
}

/* ------------------------------------------------------------ LCS */

/* Marks in mark[] the indices of ref that rouge_score's lcs_ind(ref, can)
 * returns: the DP table, then _backtrack_norec's walk from the corner. */
static void lcs_mark(const sent *ref, const sent *can, int **table, size_t *table_cap, char *mark) {
    size_t rows = ref->n, cols = can->n, w = cols + 1, cells;
    if (ev_mul_size(rows + 1, w, &cells) != 0) ev_fatal("rouge: LCS table too large");
    if (cells > *table_cap) {
        *table = xrealloc(*table, cells * sizeof(int));
        *table_cap = cells;
    }
    int *t = *table;
    for (size_t j = 0; j < w; j++) t[j] = 0;
    for (size_t i = 1; i <= rows; i++) {
        int *row = t + i * w, *up = t + (i - 1) * w;
        row[0] = 0;
        for (size_t j = 1; j <= cols; j++) {
            if (ref->tok[i - 1] == can->tok[j - 1]) row[j] = up[j - 1] + 1;
            else row[j] = up[j] > row[j - 1] ? up[j] : row[j - 1];
        }
    }
    size_t i = rows, j = cols;
    while (i > 0 && j > 0) {
        if (ref->tok[i - 1] == can->tok[j - 1]) {
            mark[i - 1] = 1;
            i--, j--;
        } else if (t[i * w + j - 1] > t[(i - 1) * w + j]) {
            j--;
        } else {
            i--;
        }
    }
}

double rouge_lsum(const pystr *target, const pystr *prediction) {
    intern in = {0};
    sents r, c;
    split_sents(target, &in, &r);
    split_sents(prediction, &in, &c);
    double f = 0.0;
    if (r.n == 0 || c.n == 0 || r.total == 0 || c.total == 0) goto done;

    int *cnt_r = xcalloc(in.used, sizeof(int)), *cnt_c = xcalloc(in.used, sizeof(int));
    for (size_t k = 0; k < r.n; k++)
        for (size_t i = 0; i < r.s[k].n; i++) cnt_r[r.s[k].tok[i]]++;
    for (size_t k = 0; k < c.n; k++)
        for (size_t i = 0; i < c.s[k].n; i++) cnt_c[c.s[k].tok[i]]++;

    int *table = NULL;
    size_t table_cap = 0;
    size_t hits = 0;
    for (size_t k = 0; k < r.n; k++) {
        const sent *ref = &r.s[k];
        char *mark = xcalloc(ref->n + 1, 1);
        for (size_t q = 0; q < c.n; q++) lcs_mark(ref, &c.s[q], &table, &table_cap, mark);
        for (size_t i = 0; i < ref->n; i++) {
            int t = ref->tok[i];
            if (mark[i] && cnt_c[t] > 0 && cnt_r[t] > 0) {
                hits++;
                cnt_c[t]--;
                cnt_r[t]--;
            }
        }
        free(mark);
    }
    free(table);
    free(cnt_r);
    free(cnt_c);

    double recall = (double)hits / (double)r.total;
    double precision = (double)hits / (double)c.total;
    f = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0;
done:
    sents_free(&r);
    sents_free(&c);
    intern_free(&in);
    return f;
}
