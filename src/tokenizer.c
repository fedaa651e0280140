/* tokenizer.c - the encode/decode engine behind tokenizer.h.
 *
 * It follows Hugging Face `tokenizers` step by step (tokenizer/mod.rs,
 * added_vocabulary.rs, normalizer.rs, the pre_tokenizers, models/bpe and
 * decoders directories), because "token for token the same ids" leaves no room for a
 * different algorithm: the same leftmost-longest added-token split with the same
 * lstrip/rstrip/single_word rules, the same split behaviours, the same BPE merge
 * order (lowest rank first, leftmost on ties, stale queue entries skipped), the
 * same decoders. Loading lives in tokenizer_load.c.
 *
 * Speed: merges are a hash map (pair -> rank), each word merges through a binary
 * heap over a linked list of symbols, and words already seen come from a cache,
 * so long prompts cost little more than one regex pass. */
#include "tokenizer_int.h"
#include "unicode.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* ================================================================ containers */

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t k;
        memcpy(&k, s, 8);
        h = (h ^ k) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
        s += 8;
        n -= 8;
    }
    uint64_t k = 0;
    memcpy(&k, s, n);
    h = (h ^ k) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 29;
    return h;
}

void tk_map_init(tk_map *m, size_t expect) {
    size_t cap = 16;
    while (cap < 2 * expect) cap *= 2;
    m->slots = xcalloc(cap, sizeof *m->slots);
    m->cap = cap;
    m->n = 0;
    m->blob = NULL;
    m->blob_len = m->blob_cap = 0;
}

void tk_map_free(tk_map *m) {
    free(m->slots);
    free(m->blob);
    memset(m, 0, sizeof *m);
}

static size_t map_find(const tk_map *m, const char *s, size_t n, uint64_t h) {
    size_t mask = m->cap - 1, i = (size_t)h & mask;
    while (m->slots[i].used) {
        const struct tk_slot *sl = &m->slots[i];
        if (sl->hash == h && sl->len == n && memcmp(m->blob + sl->off, s, n) == 0) return i;
        i = (i + 1) & mask;
    }
    return i;
}

int32_t tk_map_get(const tk_map *m, const char *s, size_t n) {
    if (!m->cap) return -1;
    size_t i = map_find(m, s, n, hash_bytes(s, n));
    return m->slots[i].used ? m->slots[i].val : -1;
}

static void map_grow(tk_map *m) {
    size_t ncap = m->cap * 2, mask = ncap - 1;
    struct tk_slot *ns = xcalloc(ncap, sizeof *ns);
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].used) continue;
        size_t j = (size_t)m->slots[i].hash & mask;
        while (ns[j].used) j = (j + 1) & mask;
        ns[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
}

uint32_t tk_map_put(tk_map *m, const char *s, size_t n, int32_t val) {
    uint64_t h = hash_bytes(s, n);
    size_t i = map_find(m, s, n, h);
    if (m->slots[i].used) {
        m->slots[i].val = val;
        return m->slots[i].off;
    }
    if (m->blob_len + n + 1 > m->blob_cap) {
        m->blob_cap = 2 * m->blob_cap + n + 1024;
        m->blob = xrealloc(m->blob, m->blob_cap);
    }
    if (m->blob_len + n > UINT32_MAX) ev_fatal("tokenizer: vocabulary strings exceed 4 GiB");
    uint32_t off = (uint32_t)m->blob_len;
    memcpy(m->blob + off, s, n);
    m->blob[off + n] = '\0';
    m->blob_len += n + 1;
    m->slots[i] = (struct tk_slot){h, off, (uint32_t)n, val, 1};
    if (++m->n * 2 > m->cap) map_grow(m);
    return off;
}

static uint64_t pair_key(int32_t a, int32_t b) { return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b; }

static size_t pair_slot(uint64_t k, size_t mask) {
    k ^= k >> 33;
    k *= 0xFF51AFD7ED558CCDull;
    k ^= k >> 33;
    return (size_t)k & mask;
}

void tk_merges_init(tk_merges *m, size_t expect) {
    size_t cap = 16;
    while (cap < 2 * expect) cap *= 2;
    m->slots = xmalloc(cap * sizeof *m->slots);
    for (size_t i = 0; i < cap; i++) m->slots[i].id = -1;
    m->cap = cap;
    m->n = 0;
}

void tk_merges_put(tk_merges *m, int32_t a, int32_t b, uint32_t rank, int32_t id) {
    if ((m->n + 1) * 2 > m->cap) {
        tk_merges old = *m;
        tk_merges_init(m, old.n + 1);
        for (size_t i = 0; i < old.cap; i++)
            if (old.slots[i].id >= 0) {
                size_t j = pair_slot(old.slots[i].key, m->cap - 1);
                while (m->slots[j].id >= 0) j = (j + 1) & (m->cap - 1);
                m->slots[j] = old.slots[i];
                m->n++;
            }
        free(old.slots);
    }
    uint64_t k = pair_key(a, b);
    size_t j = pair_slot(k, m->cap - 1);
    while (m->slots[j].id >= 0 && m->slots[j].key != k) j = (j + 1) & (m->cap - 1);
    if (m->slots[j].id < 0) m->n++;
    m->slots[j] = (struct tk_merge){k, rank, id}; /* a repeated pair keeps the last rank, as a HashMap collect does */
}

const struct tk_merge *tk_merges_get(const tk_merges *m, int32_t a, int32_t b) {
    if (!m->cap) return NULL;
    uint64_t k = pair_key(a, b);
    size_t j = pair_slot(k, m->cap - 1);
    while (m->slots[j].id >= 0) {
        if (m->slots[j].key == k) return &m->slots[j];
        j = (j + 1) & (m->cap - 1);
    }
    return NULL;
}

/* ================================================================ regex */

/* Oniguruma's \s (Unicode White_Space, 25 code points), which PCRE2's UCP \s
 * does not equal (it adds U+180E); as the inside of a character class. */
static const char ONIG_SPACE[] =
    "\\t-\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}";

typedef struct {
    char *p;
    size_t n, cap;
} tbuf;

static void tb_reserve(tbuf *b, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = 2 * b->cap + n + 256;
        b->p = xrealloc(b->p, b->cap);
    }
}

/* s must not point into b (use tb_copy_self for that). */
static void tb_put(tbuf *b, const void *s, size_t n) {
    tb_reserve(b, n);
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void tb_puts(tbuf *b, const char *s) { tb_put(b, s, strlen(s)); }

/* Appends a copy of the buffer's own bytes [off, off + n), safe across the
 * reallocation appending may cause. */
static void tb_copy_self(tbuf *b, size_t off, size_t n) {
    tb_reserve(b, n);
    memcpy(b->p + b->n, b->p + off, n);
    b->n += n;
    b->p[b->n] = '\0';
}

/* Rewrites the Oniguruma escapes whose PCRE2 meaning differs: \s \S (White_Space
 * exactly), \h \H (hex digit in Oniguruma, horizontal space in PCRE2) and
 * \p{^X} (negated property). Everything else means the same in both. */
static char *translate_onig(const char *p, size_t n, size_t *out_n) {
    tbuf b = {0};
    int depth = 0; /* inside a character class */
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '\\' && i + 1 < n) {
            char e = p[++i];
            if (e == 's') {
                if (depth) tb_puts(&b, ONIG_SPACE);
                else tb_puts(&b, "["), tb_puts(&b, ONIG_SPACE), tb_puts(&b, "]");
            } else if (e == 'S' && !depth) {
                tb_puts(&b, "[^"), tb_puts(&b, ONIG_SPACE), tb_puts(&b, "]");
            } else if (e == 'h') {
                tb_puts(&b, depth ? "0-9a-fA-F" : "[0-9a-fA-F]");
            } else if (e == 'H' && !depth) {
                tb_puts(&b, "[^0-9a-fA-F]");
            } else if ((e == 'p' || e == 'P') && i + 2 < n && p[i + 1] == '{' && p[i + 2] == '^') {
                tb_puts(&b, e == 'p' ? "\\P{" : "\\p{");
                i += 2;
            } else {
                char two[2] = {'\\', e};
                tb_put(&b, two, 2);
            }
            continue;
        }
        if (c == '[') {
            depth++;
            tb_put(&b, &c, 1);
            /* a ']' right after '[' or '[^' is a literal in both engines */
            if (i + 1 < n && p[i + 1] == '^') tb_put(&b, &p[++i], 1);
            if (i + 1 < n && p[i + 1] == ']') tb_put(&b, &p[++i], 1);
            continue;
        }
        if (c == ']' && depth) depth--;
        tb_put(&b, &c, 1);
    }
    if (!b.p) tb_put(&b, "", 0);
    *out_n = b.n;
    return b.p;
}

int tk_regex_compile(tk_regex *re, const char *pat, size_t n, int literal, char *err, size_t errlen) {
    size_t tn = n;
    char *tp = literal ? NULL : translate_onig(pat, n, &tn);
    int code;
    PCRE2_SIZE at;
    uint32_t opt = literal ? PCRE2_UTF | PCRE2_LITERAL : PCRE2_UTF | PCRE2_UCP; /* LITERAL refuses UCP */
    re->code = pcre2_compile((PCRE2_SPTR)(literal ? pat : tp), tn, opt, &code, &at, NULL);
    free(tp);
    if (!re->code) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof msg);
        snprintf(err, errlen, "%s (pattern offset %zu)", (const char *)msg, (size_t)at);
        return -1;
    }
    pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE); /* the interpreter runs it if JIT is unavailable */
    re->md = pcre2_match_data_create_from_pattern(re->code, NULL);
    return 0;
}

void tk_regex_free(tk_regex *re) {
    if (re->md) pcre2_match_data_free(re->md);
    if (re->code) pcre2_code_free(re->code);
    re->md = NULL;
    re->code = NULL;
}

/* A cut of a string: [s, e) and whether the pattern matched it. */
typedef struct {
    size_t s, e;
    int m;
} seg;
typedef struct {
    seg *v;
    size_t n, cap;
} segvec;

static void seg_push(segvec *v, size_t s, size_t e, int m) {
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 64;
        v->v = xrealloc(v->v, v->cap * sizeof *v->v);
    }
    v->v[v->n++] = (seg){s, e, m};
}

static size_t char_len_at(const char *s, size_t n, size_t i) {
    uint32_t cp;
    size_t l = uni_decode(s + i, n - i, &cp);
    return l ? l : 1;
}

/* The cuts tokenizers' Pattern for a SysRegex gives: matches found the way the
 * onig crate's find_iter walks (an empty match right after the previous match is
 * skipped by one character), gaps between them as non-matches. */
static int regex_segments(const tk_regex *re, pcre2_match_data *md, pcre2_match_context *mctx, const char *s,
                          size_t n, segvec *out) {
    out->n = 0;
    if (n == 0) {
        seg_push(out, 0, 0, 0);
        return 0;
    }
    size_t prev = 0, last_end = 0, last_match_end = 0;
    int have_last = 0;
    while (last_end <= n) {
        int rc = pcre2_match(re->code, (PCRE2_SPTR)s, n, last_end, PCRE2_NO_UTF_CHECK, md, mctx);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return ev_error("tokenizer: regex match failed: %s", (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        if (me < ms) me = ms; /* \K can report an end before the start */
        if (ms == me && have_last && last_match_end == me) {
            last_end += last_end < n ? char_len_at(s, n, last_end) : 1;
            continue;
        }
        last_end = me;
        last_match_end = me;
        have_last = 1;
        if (prev != ms) seg_push(out, prev, ms, 0);
        seg_push(out, ms, me, 1);
        prev = me;
    }
    if (prev != n) seg_push(out, prev, n, 0);
    return 0;
}

/* The cuts of tokenizers' Pattern for a char predicate: every matching character
 * alone, the runs between them as non-matches. */
static void pred_segments(const char *s, size_t n, int (*pred)(uint32_t, uint32_t), uint32_t arg, segvec *out) {
    out->n = 0;
    if (n == 0) {
        seg_push(out, 0, 0, 0);
        return;
    }
    size_t last = 0, i = 0;
    while (i < n) {
        uint32_t cp;
        size_t l = uni_decode(s + i, n - i, &cp);
        if (!l) l = 1, cp = 0xFFFD;
        if (pred(cp, arg)) {
            if (last < i) seg_push(out, last, i, 0);
            seg_push(out, i, i + l, 1);
            last = i + l;
        }
        i += l;
    }
    if (n > last) seg_push(out, last, n, 0);
}

static int pred_numeric(uint32_t cp, uint32_t arg) { return (void)arg, uni_is_numeric(cp); }
static int pred_equal(uint32_t cp, uint32_t arg) { return cp == arg; }

/* NormalizedString::split: folds the cuts by behaviour, drops removed ones.
 * Output ranges replace the segments in place (m is reused as "keep"). */
static void apply_behavior(segvec *v, tk_behavior b, int invert) {
    if (invert)
        for (size_t i = 0; i < v->n; i++) v->v[i].m = !v->v[i].m;
    size_t k = 0;
    int prev = 0;
    switch (b) {
    case SB_ISOLATED:
        for (size_t i = 0; i < v->n; i++) v->v[i].m = 0;
        return;
    case SB_REMOVED:
        for (size_t i = 0; i < v->n; i++)
            if (!v->v[i].m) v->v[k++] = v->v[i];
        v->n = k;
        return;
    case SB_CONTIGUOUS:
        for (size_t i = 0; i < v->n; i++) {
            int m = v->v[i].m;
            if (m == prev && k > 0) v->v[k - 1].e = v->v[i].e;
            else v->v[k++] = v->v[i];
            prev = m;
        }
        break;
    case SB_MERGED_PREV:
        for (size_t i = 0; i < v->n; i++) {
            int m = v->v[i].m;
            if (m && !prev && k > 0) v->v[k - 1].e = v->v[i].e;
            else v->v[k++] = v->v[i];
            prev = m;
        }
        break;
    case SB_MERGED_NEXT: {
        /* walk backwards, a match joins the piece after it unless that is a match */
        size_t w = v->n;
        for (size_t i = v->n; i-- > 0;) {
            int m = v->v[i].m;
            if (m && !prev && w < v->n) v->v[w].s = v->v[i].s;
            else v->v[--w] = v->v[i];
            prev = m;
        }
        memmove(v->v, v->v + w, (v->n - w) * sizeof *v->v);
        k = v->n - w;
        break;
    }
    }
    v->n = k;
    for (size_t i = 0; i < k; i++) v->v[i].m = 0;
}

/* ================================================================ encode state */

/* A piece of the text on its way through the pipeline: bytes in the arena, an
 * id once it is an added token, and what Metaspace's "first" scheme asks
 * (whether it starts at offset 0 of the original text; `lead` counts bytes
 * prepended in front of that offset). */
typedef struct {
    size_t off, len;
    int32_t id;
    uint32_t lead;
    uint8_t orig0;
} tpiece;
typedef struct {
    tpiece *v;
    size_t n, cap;
} tplist;

typedef struct {
    int32_t id; /* -1 once merged into its left neighbour */
    int32_t prev, next;
} tsym;
/* A queued merge: rank << 32 | position, so the smallest integer is the lowest
 * rank, leftmost on ties. */
typedef uint64_t theap_item;

typedef struct {
    tok_tokenizer *t;
    tbuf a;            /* arena holding every piece's bytes */
    tplist cur, nxt;
    segvec seg;
    tsym *sym;
    size_t sym_cap;
    theap_item *heap;
    size_t heap_n, heap_cap;
    char key[64];      /* a character with prefix/suffix, for vocab lookups */
    int32_t *ids;
    size_t n_ids, cap_ids;
} enc_ctx;

static void pl_push(tplist *l, tpiece p) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = p;
}

static void swap_lists(enc_ctx *c) {
    tplist t = c->cur;
    c->cur = c->nxt;
    c->nxt = t;
    c->nxt.n = 0;
}

/* A sub-piece [s, e) of p (empty ones are dropped, as PreTokenizedString::split does). */
static void push_sub(tplist *out, const tpiece *p, size_t s, size_t e) {
    if (e <= s) return;
    tpiece q = {p->off + s, e - s, -1, p->lead > s ? (uint32_t)(p->lead - s) : 0, (uint8_t)(p->orig0 && s <= p->lead)};
    pl_push(out, q);
}

static void push_id(enc_ctx *c, int32_t id) {
    if (c->n_ids == c->cap_ids) {
        c->cap_ids = c->cap_ids ? 2 * c->cap_ids : 256;
        c->ids = xrealloc(c->ids, c->cap_ids * sizeof *c->ids);
    }
    c->ids[c->n_ids++] = id;
}

/* Appends bytes to the arena and returns their offset. */
static size_t arena_put(enc_ctx *c, const void *s, size_t n) {
    size_t off = c->a.n;
    tb_put(&c->a, s, n);
    return off;
}

/* ================================================================ added tokens */

static void trie_init(tk_trie *tr) {
    tr->cap = 16;
    tr->nodes = xmalloc(tr->cap * sizeof *tr->nodes);
    tr->nodes[0] = (struct tk_node){-1, -1, -1, 0};
    tr->n = 1;
    memset(tr->first, 0, sizeof tr->first);
}

static void trie_insert(tk_trie *tr, const char *s, size_t n, int32_t added) {
    int32_t cur = 0;
    if (n) tr->first[(uint8_t)s[0]] = 1;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = (uint8_t)s[i];
        int32_t ch = tr->nodes[cur].child;
        while (ch >= 0 && tr->nodes[ch].byte != b) ch = tr->nodes[ch].sibling;
        if (ch < 0) {
            if (tr->n == tr->cap) {
                tr->cap *= 2;
                tr->nodes = xrealloc(tr->nodes, tr->cap * sizeof *tr->nodes);
            }
            ch = (int32_t)tr->n++;
            tr->nodes[ch] = (struct tk_node){-1, tr->nodes[cur].child, -1, b};
            tr->nodes[cur].child = ch;
        }
        cur = ch;
    }
    if (tr->nodes[cur].added < 0) tr->nodes[cur].added = added; /* the first of equal forms wins */
}

/* Longest pattern starting at s[i]: its end, or 0 with *which = -1. */
static size_t trie_longest(const tk_trie *tr, const char *s, size_t n, size_t i, int32_t *which) {
    int32_t cur = 0;
    size_t best = 0;
    *which = -1;
    for (size_t k = i; k < n; k++) {
        uint8_t b = (uint8_t)s[k];
        int32_t ch = tr->nodes[cur].child;
        while (ch >= 0 && tr->nodes[ch].byte != b) ch = tr->nodes[ch].sibling;
        if (ch < 0) break;
        cur = ch;
        if (tr->nodes[cur].added >= 0) {
            best = k + 1;
            *which = tr->nodes[cur].added;
        }
    }
    return best;
}

static uint32_t last_cp(const char *s, size_t n) {
    size_t i = n;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) i--;
    if (i > 0) i--;
    uint32_t cp = 0;
    if (!uni_decode(s + i, n - i, &cp)) cp = 0xFFFD;
    return cp;
}

static uint32_t first_cp(const char *s, size_t n) {
    uint32_t cp = 0;
    if (!uni_decode(s, n, &cp)) cp = 0xFFFD;
    return cp;
}

/* AddedVocabulary::find_matches over one piece. */
static void split_added(enc_ctx *c, const tk_trie *tr) {
    tok_tokenizer *t = c->t;
    c->nxt.n = 0;
    for (size_t pi = 0; pi < c->cur.n; pi++) {
        tpiece p = c->cur.v[pi];
        if (p.id >= 0 || tr->n <= 1) {
            pl_push(&c->nxt, p);
            continue;
        }
        const char *s = c->a.p + p.off;
        size_t n = p.len, start_offset = 0, i = 0;
        while (i < n) {
            if (!tr->first[(uint8_t)s[i]]) {
                i++;
                continue;
            }
            int32_t k;
            size_t stop = trie_longest(tr, s, n, i, &k);
            if (k < 0) {
                i++;
                continue;
            }
            size_t start = i, match_end = stop;
            const tk_added *at = &t->added[k];
            i = match_end; /* the next search starts after this match, used or not */
            if (at->single_word) {
                int start_space = start == 0 || !uni_is_word(last_cp(s, start));
                int stop_space = stop == n || !uni_is_word(first_cp(s + stop, n - stop));
                if (!start_space || !stop_space) continue;
            }
            if (at->lstrip) {
                size_t ns = start;
                while (ns > 0) {
                    size_t b = ns;
                    while (b > 0 && ((unsigned char)s[b - 1] & 0xC0) == 0x80) b--;
                    if (b > 0) b--;
                    uint32_t cp;
                    if (!uni_decode(s + b, ns - b, &cp) || !uni_is_whitespace(cp)) break;
                    ns = b;
                }
                start = ns > start_offset ? ns : start_offset;
            }
            if (at->rstrip) {
                while (stop < n) {
                    uint32_t cp;
                    size_t l = uni_decode(s + stop, n - stop, &cp);
                    if (!l || !uni_is_whitespace(cp)) break;
                    stop += l;
                }
            }
            if (start_offset < start) push_sub(&c->nxt, &p, start_offset, start);
            tpiece q = {p.off + start, stop - start, at->id, 0, 0};
            pl_push(&c->nxt, q);
            start_offset = stop;
        }
        if (start_offset != n) push_sub(&c->nxt, &p, start_offset, n);
    }
    swap_lists(c);
}

/* ================================================================ normalizers */

/* Byte-level spelling of s (every byte as its alphabet character). */
static void bytelevel_spell(tbuf *out, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char u[4];
        size_t l = uni_encode(uni_byte_to_cp((uint8_t)s[i]), u);
        tb_put(out, u, l);
    }
}

/* Replaces every match of re in s by content. */
static int replace_all(const tk_regex *re, pcre2_match_data *md, pcre2_match_context *mctx, const char *s, size_t n,
                       const char *content, size_t clen, tbuf *out, segvec *sv) {
    if (regex_segments(re, md, mctx, s, n, sv) < 0) return -1;
    for (size_t i = 0; i < sv->n; i++) {
        if (sv->v[i].m) tb_put(out, content, clen);
        else tb_put(out, s + sv->v[i].s, sv->v[i].e - sv->v[i].s);
    }
    if (!out->p) tb_put(out, "", 0);
    return 0;
}

/* Applies one normaliser to the heap string *s (replaced in place). */
static int norm_apply(const tok_tokenizer *t, const tk_norm *nm, char **s, size_t *n, uint32_t *lead, segvec *sv) {
    tbuf out = {0};
    switch (nm->kind) {
    case TN_NFC: case TN_NFD: case TN_NFKC: case TN_NFKD: {
        int form = nm->kind == TN_NFC ? UNI_NFC : nm->kind == TN_NFD ? UNI_NFD : nm->kind == TN_NFKC ? UNI_NFKC : UNI_NFKD;
        size_t on;
        char *o = uni_normalize(*s, *n, form, &on);
        if (!o) return ev_error("%s: Unicode normalisation failed", t->path);
        free(*s);
        *s = o;
        *n = on;
        return 0;
    }
    case TN_SEQ:
        for (int i = 0; i < nm->n_kids; i++)
            if (norm_apply(t, &nm->kids[i], s, n, lead, sv) < 0) return -1;
        return 0;
    case TN_REPLACE:
        if (replace_all(&nm->re, nm->re.md, t->mctx, *s, *n, nm->str, nm->str_len, &out, sv) < 0) return -1;
        break;
    case TN_PREPEND:
        if (*n == 0) return 0;
        tb_put(&out, nm->str, nm->str_len);
        tb_put(&out, *s, *n);
        *lead += (uint32_t)nm->str_len;
        break;
    case TN_STRIP: {
        size_t b = 0, e = *n;
        uint32_t cp;
        size_t l;
        if (nm->left)
            while (b < e && (l = uni_decode(*s + b, e - b, &cp)) && uni_is_whitespace(cp)) b += l;
        if (nm->right)
            while (e > b) {
                size_t k = e;
                while (k > b && ((unsigned char)(*s)[k - 1] & 0xC0) == 0x80) k--;
                if (k > b) k--;
                if (!uni_decode(*s + k, e - k, &cp) || !uni_is_whitespace(cp)) break;
                e = k;
            }
        tb_put(&out, *s + b, e - b);
        *lead = *lead > b ? *lead - (uint32_t)b : 0;
        break;
    }
    case TN_BYTELEVEL:
        if (*n == 0) return 0;
        bytelevel_spell(&out, *s, *n);
        break;
    }
    free(*s);
    *s = out.p;
    *n = out.n;
    return 0;
}

int tk_normalize_str(const tok_tokenizer *t, const char *s, size_t n, char **out, size_t *out_len) {
    char *w = xmalloc(n + 1);
    memcpy(w, s, n);
    w[n] = '\0';
    size_t wn = n;
    uint32_t lead = 0;
    segvec sv = {0};
    int rc = t->norm ? norm_apply(t, t->norm, &w, &wn, &lead, &sv) : 0;
    free(sv.v);
    if (rc < 0) {
        free(w);
        return -1;
    }
    *out = w;
    *out_len = wn;
    return 0;
}

static int normalize_pieces(enc_ctx *c) {
    tok_tokenizer *t = c->t;
    if (!t->norm) return 0;
    for (size_t i = 0; i < c->cur.n; i++) {
        tpiece *p = &c->cur.v[i];
        if (p->id >= 0) continue;
        char *w = xmalloc(p->len + 1);
        memcpy(w, c->a.p + p->off, p->len);
        size_t wn = p->len;
        uint32_t lead = p->lead;
        if (norm_apply(t, t->norm, &w, &wn, &lead, &c->seg) < 0) {
            free(w);
            return -1;
        }
        p->off = arena_put(c, w, wn);
        p->len = wn;
        p->lead = lead;
        free(w);
    }
    /* pieces normalised to nothing disappear */
    size_t k = 0;
    for (size_t i = 0; i < c->cur.n; i++)
        if (c->cur.v[i].len || c->cur.v[i].id >= 0) c->cur.v[k++] = c->cur.v[i];
    c->cur.n = k;
    return 0;
}

/* ================================================================ pre-tokenizers */

static int pre_apply(enc_ctx *c, const tk_pretok *pt) {
    tok_tokenizer *t = c->t;
    switch (pt->kind) {
    case TP_SEQ:
        for (int i = 0; i < pt->n_kids; i++)
            if (pre_apply(c, &pt->kids[i]) < 0) return -1;
        return 0;
    case TP_SPLIT:
    case TP_DIGITS:
        c->nxt.n = 0;
        for (size_t i = 0; i < c->cur.n; i++) {
            tpiece p = c->cur.v[i];
            if (p.id >= 0) {
                pl_push(&c->nxt, p);
                continue;
            }
            if (pt->kind == TP_SPLIT) {
                if (regex_segments(&pt->re, pt->re.md, t->mctx, c->a.p + p.off, p.len, &c->seg) < 0) return -1;
                apply_behavior(&c->seg, pt->behavior, pt->invert);
            } else {
                pred_segments(c->a.p + p.off, p.len, pred_numeric, 0, &c->seg);
                apply_behavior(&c->seg, pt->individual ? SB_ISOLATED : SB_CONTIGUOUS, 0);
            }
            for (size_t k = 0; k < c->seg.n; k++) push_sub(&c->nxt, &p, c->seg.v[k].s, c->seg.v[k].e);
        }
        swap_lists(c);
        return 0;
    case TP_METASPACE:
        c->nxt.n = 0;
        for (size_t i = 0; i < c->cur.n; i++) {
            tpiece p = c->cur.v[i];
            if (p.id >= 0) {
                pl_push(&c->nxt, p);
                continue;
            }
            /* ' ' becomes the replacement; then the replacement is prepended unless
             * the piece now starts with it */
            size_t start = c->a.n;
            int starts = c->a.p[p.off] == ' ' ||
                         (p.len >= pt->repl_len && memcmp(c->a.p + p.off, pt->repl, pt->repl_len) == 0);
            int pre = !starts && (pt->prepend == PREPEND_ALWAYS || (pt->prepend == PREPEND_FIRST && p.orig0));
            if (pre) arena_put(c, pt->repl, pt->repl_len);
            size_t src = p.off; /* arena_put may move the arena: index, do not hold pointers */
            for (size_t k = 0; k < p.len; k++) {
                char ch = c->a.p[src + k];
                if (ch == ' ') arena_put(c, pt->repl, pt->repl_len);
                else arena_put(c, &ch, 1);
            }
            tpiece q = {start, c->a.n - start, -1, p.lead + (pre ? (uint32_t)pt->repl_len : 0), p.orig0};
            if (!pt->split) {
                if (q.len) pl_push(&c->nxt, q);
                continue;
            }
            pred_segments(c->a.p + q.off, q.len, pred_equal, pt->repl_cp, &c->seg);
            apply_behavior(&c->seg, SB_MERGED_NEXT, 0);
            for (size_t k = 0; k < c->seg.n; k++) push_sub(&c->nxt, &q, c->seg.v[k].s, c->seg.v[k].e);
        }
        swap_lists(c);
        return 0;
    case TP_BYTELEVEL:
        c->nxt.n = 0;
        for (size_t i = 0; i < c->cur.n; i++) {
            tpiece p = c->cur.v[i];
            if (p.id >= 0) {
                pl_push(&c->nxt, p);
                continue;
            }
            if (pt->add_prefix_space && !(p.len && c->a.p[p.off] == ' ')) {
                size_t start = arena_put(c, " ", 1);
                tb_copy_self(&c->a, p.off, p.len);
                p.off = start;
                p.len += 1;
                p.lead += 1;
            }
            if (!pt->use_regex) {
                if (p.len) pl_push(&c->nxt, p);
                continue;
            }
            if (regex_segments(&pt->re, pt->re.md, t->mctx, c->a.p + p.off, p.len, &c->seg) < 0) return -1;
            apply_behavior(&c->seg, SB_ISOLATED, 0);
            for (size_t k = 0; k < c->seg.n; k++) push_sub(&c->nxt, &p, c->seg.v[k].s, c->seg.v[k].e);
        }
        swap_lists(c);
        /* then every piece is spelt in the byte alphabet */
        for (size_t i = 0; i < c->cur.n; i++) {
            tpiece *p = &c->cur.v[i];
            if (p->id >= 0) continue;
            size_t start = c->a.n;
            for (size_t k = 0; k < p->len; k++) {
                char u[4];
                size_t l = uni_encode(uni_byte_to_cp((uint8_t)c->a.p[p->off + k]), u);
                tb_put(&c->a, u, l);
            }
            p->off = start;
            p->len = c->a.n - start;
        }
        return 0;
    }
    return 0;
}

/* ================================================================ BPE */

/* A 4-ary min-heap: long SentencePiece words queue hundreds of thousands of
 * merges, and a shallower heap misses the cache less. */
static void heap_push(enc_ctx *c, theap_item it) {
    if (c->heap_n == c->heap_cap) {
        c->heap_cap = c->heap_cap ? 2 * c->heap_cap : 64;
        c->heap = xrealloc(c->heap, c->heap_cap * sizeof *c->heap);
    }
    size_t i = c->heap_n++;
    while (i > 0) {
        size_t p = (i - 1) / 4;
        if (it >= c->heap[p]) break;
        c->heap[i] = c->heap[p];
        i = p;
    }
    c->heap[i] = it;
}

static void heap_sift_down(theap_item *h, size_t n, size_t i, theap_item it) {
    for (;;) {
        size_t first = 4 * i + 1, m = i;
        theap_item best = it;
        for (size_t k = first; k < first + 4 && k < n; k++)
            if (h[k] < best) best = h[k], m = k;
        if (m == i) break;
        h[i] = h[m];
        i = m;
    }
    h[i] = it;
}

static theap_item heap_pop(enc_ctx *c) {
    theap_item top = c->heap[0], last = c->heap[--c->heap_n];
    if (c->heap_n) heap_sift_down(c->heap, c->heap_n, 0, last);
    return top;
}

static size_t add_sym(enc_ctx *c, size_t nsym, int32_t id) {
    if (nsym == c->sym_cap) {
        c->sym_cap = c->sym_cap ? 2 * c->sym_cap : 256;
        c->sym = xrealloc(c->sym, c->sym_cap * sizeof *c->sym);
    }
    c->sym[nsym] = (tsym){id, (int32_t)nsym - 1, (int32_t)nsym + 1};
    return nsym + 1;
}

/* Word::merge_all: lowest rank first, leftmost on ties; an entry whose pair has
 * changed since it was queued is dropped. tokenizers tells a changed pair by
 * its merged id; a symbol only grows by absorbing its right neighbour, so the
 * pair at a position changed exactly when its merge (and so its rank, unique
 * per pair) changed, and the rank is what we compare. */
static void merge_all(enc_ctx *c, size_t nsym) {
    const tk_merges *mg = &c->t->merges;
    tsym *sy = c->sym;
    if (nsym) sy[nsym - 1].next = -1;
    /* the initial pairs, heapified in place */
    c->heap_n = 0;
    for (size_t i = 0; i + 1 < nsym; i++) {
        const struct tk_merge *m = tk_merges_get(mg, sy[i].id, sy[i + 1].id);
        if (!m) continue;
        if (c->heap_n == c->heap_cap) {
            c->heap_cap = c->heap_cap ? 2 * c->heap_cap : 64;
            c->heap = xrealloc(c->heap, c->heap_cap * sizeof *c->heap);
        }
        c->heap[c->heap_n++] = (uint64_t)m->rank << 32 | i;
    }
    for (size_t i = c->heap_n / 4 + 1; i-- > 0;)
        if (i < c->heap_n) heap_sift_down(c->heap, c->heap_n, i, c->heap[i]);
    while (c->heap_n) {
        theap_item top = heap_pop(c);
        uint32_t rank = (uint32_t)(top >> 32), pos = (uint32_t)top;
        tsym *cur = &sy[pos];
        if (cur->id < 0 || cur->next < 0) continue;
        int32_t nx = cur->next;
        const struct tk_merge *m = tk_merges_get(mg, cur->id, sy[nx].id);
        if (!m || m->rank != rank) continue;
        cur->id = m->id;
        cur->next = sy[nx].next;
        sy[nx].id = -1;
        if (cur->next >= 0) sy[cur->next].prev = (int32_t)pos;
        if (cur->prev >= 0) {
            const struct tk_merge *pm = tk_merges_get(mg, sy[cur->prev].id, cur->id);
            if (pm) heap_push(c, (uint64_t)pm->rank << 32 | (uint32_t)cur->prev);
        }
        if (cur->next >= 0) {
            const struct tk_merge *nm = tk_merges_get(mg, cur->id, sy[cur->next].id);
            if (nm) heap_push(c, (uint64_t)nm->rank << 32 | pos);
        }
    }
}

#define CACHE_MAX_WORD 256   /* tokenizers caches words shorter than this */
#define CACHE_MAX_ENTRIES (1u << 17)
#define CACHE_MAX_IDS (1u << 22)

static void bpe_word(enc_ctx *c, const char *w, size_t n) {
    tok_tokenizer *t = c->t;
    if (t->ignore_merges) {
        int32_t id = tk_map_get(&t->vocab, w, n);
        if (id >= 0) {
            push_id(c, id);
            return;
        }
    }
    if (n < CACHE_MAX_WORD) {
        int32_t at = tk_map_get(&t->cache, w, n);
        if (at >= 0) {
            int32_t cnt = t->cache_ids[at];
            for (int32_t k = 0; k < cnt; k++) push_id(c, t->cache_ids[at + 1 + k]);
            return;
        }
    }
    size_t nsym = 0, i = 0;
    int32_t unk = -1; /* a pending unknown (fused with the next ones when fuse_unk) */
    while (i < n) {
        size_t l = char_len_at(w, n, i);
        int first = i == 0, last = i + l >= n;
        char *key = c->key, *big = NULL;
        size_t kn = l + (!first ? t->cont_prefix_len : 0) + (last ? t->eow_suffix_len : 0);
        if (kn > sizeof c->key) key = big = xmalloc(kn);
        size_t kp = 0;
        if (!first && t->cont_prefix_len) memcpy(key, t->cont_prefix, t->cont_prefix_len), kp += t->cont_prefix_len;
        memcpy(key + kp, w + i, l), kp += l;
        if (last && t->eow_suffix_len) memcpy(key + kp, t->eow_suffix, t->eow_suffix_len), kp += t->eow_suffix_len;
        int32_t id = tk_map_get(&t->vocab, key, kp);
        i += l;
        if (id >= 0) {
            if (unk >= 0) nsym = add_sym(c, nsym, unk), unk = -1;
            nsym = add_sym(c, nsym, id);
            free(big);
            continue;
        }
        if (t->byte_fallback) {
            int all = 1;
            for (size_t k = 0; k < kp; k++) all &= t->byte_ids[(uint8_t)key[k]] >= 0;
            if (all) {
                for (size_t k = 0; k < kp; k++) nsym = add_sym(c, nsym, t->byte_ids[(uint8_t)key[k]]);
                free(big);
                continue;
            }
        }
        free(big);
        if (t->unk_id >= 0) {
            if (unk >= 0 && !t->fuse_unk) nsym = add_sym(c, nsym, unk);
            unk = t->unk_id;
        }
    }
    if (unk >= 0) nsym = add_sym(c, nsym, unk);
    merge_all(c, nsym);
    size_t first_out = c->n_ids;
    for (int32_t k = 0; k >= 0 && (size_t)k < nsym; k = c->sym[k].next) push_id(c, c->sym[k].id);
    size_t cnt = c->n_ids - first_out;
    if (n < CACHE_MAX_WORD && t->cache.n < CACHE_MAX_ENTRIES && t->cache_ids_len < CACHE_MAX_IDS) {
        if (t->cache_ids_len + cnt + 1 > t->cache_ids_cap) {
            t->cache_ids_cap = 2 * t->cache_ids_cap + cnt + 4096;
            t->cache_ids = xrealloc(t->cache_ids, t->cache_ids_cap * sizeof *t->cache_ids);
        }
        int32_t at = (int32_t)t->cache_ids_len;
        t->cache_ids[at] = (int32_t)cnt;
        memcpy(t->cache_ids + at + 1, c->ids + first_out, cnt * sizeof *c->ids);
        t->cache_ids_len += cnt + 1;
        tk_map_put(&t->cache, w, n, at);
    }
}

/* ================================================================ encode */

static void enc_free(enc_ctx *c) {
    free(c->a.p);
    free(c->cur.v);
    free(c->nxt.v);
    free(c->seg.v);
    free(c->sym);
    free(c->heap);
}

static int encode_locked(enc_ctx *c, const char *text, size_t len) {
    tok_tokenizer *t = c->t;
    tpiece whole = {arena_put(c, text, len), len, -1, 0, 1};
    if (len) pl_push(&c->cur, whole);
    split_added(c, &t->trie_raw);
    if (normalize_pieces(c) < 0) return -1;
    split_added(c, &t->trie_norm);
    if (t->pre && pre_apply(c, t->pre) < 0) return -1;
    for (size_t i = 0; i < c->cur.n; i++) {
        tpiece *p = &c->cur.v[i];
        if (p->id >= 0) push_id(c, p->id);
        else if (p->len) bpe_word(c, c->a.p + p->off, p->len);
    }
    return 0;
}

int tok_encode(tok_tokenizer *t, const char *text, size_t len, int add_special, int32_t **ids, size_t *n) {
    *ids = NULL;
    *n = 0;
    if (len > INT32_MAX) return ev_error("text to encode is longer than 2 GiB");
    size_t bad = uni_valid_prefix(text, len);
    if (bad != len) return ev_error("text to encode is not valid UTF-8 (at byte %zu)", bad);
    enc_ctx c = {0};
    c.t = t;
    if (add_special)
        for (size_t i = 0; i < t->n_post_prefix; i++) push_id(&c, t->post_prefix[i]);
    pthread_mutex_lock(&t->lock);
    int rc = encode_locked(&c, text, len);
    pthread_mutex_unlock(&t->lock);
    if (add_special)
        for (size_t i = 0; i < t->n_post_suffix; i++) push_id(&c, t->post_suffix[i]);
    enc_free(&c);
    if (rc < 0) {
        free(c.ids);
        return -1;
    }
    if (!c.ids) c.ids = xmalloc(sizeof *c.ids);
    *ids = c.ids;
    *n = c.n_ids;
    return 0;
}

/* ================================================================ decode */

/* The token strings a decoder chain passes along: spans into one arena. */
typedef struct {
    tbuf a;
    struct dspan {
        size_t off, len;
    } *v;
    size_t n, cap;
} dlist;

static void dl_push(dlist *d, size_t off, size_t len) {
    if (d->n == d->cap) {
        d->cap = d->cap ? 2 * d->cap : 64;
        d->v = xrealloc(d->v, d->cap * sizeof *d->v);
    }
    d->v[d->n++] = (struct dspan){off, len};
}

/* Adds bytes as a new token string. */
static void dl_add(dlist *d, const char *s, size_t n) {
    size_t off = d->a.n;
    tb_put(&d->a, s, n);
    dl_push(d, off, n);
}

static int dec_apply(const tk_dec *dc, dlist *d);

/* Runs f over each token: f appends the new string to the arena. */
static int dec_map(const tk_dec *dc, dlist *d) {
    struct dspan *old = d->v;
    size_t n = d->n;
    d->v = NULL;
    d->n = d->cap = 0;
    segvec sv = {0};
    pcre2_match_data *md = dc->kind == TD_REPLACE ? pcre2_match_data_create_from_pattern(dc->re.code, NULL) : NULL;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t start = d->a.n, so = old[i].off, sl = old[i].len;
        switch (dc->kind) {
        case TD_METASPACE:
            for (size_t k = 0; k < sl;) {
                uint32_t cp;
                size_t l = uni_decode(d->a.p + so + k, sl - k, &cp);
                if (!l) l = 1, cp = 0;
                if (cp == dc->cp) {
                    if (!(i == 0 && dc->prepend != PREPEND_NEVER)) tb_put(&d->a, " ", 1);
                } else {
                    tb_copy_self(&d->a, so + k, l);
                }
                k += l;
            }
            break;
        case TD_REPLACE: {
            char *tok = xmalloc(sl + 1);
            memcpy(tok, d->a.p + so, sl);
            tbuf out = {0};
            rc = replace_all(&dc->re, md, NULL, tok, sl, dc->str, dc->str_len, &out, &sv);
            if (rc == 0) tb_put(&d->a, out.p, out.n);
            free(out.p);
            free(tok);
            break;
        }
        case TD_STRIP: {
            /* Strip: up to `start` leading and `stop` trailing copies of the character */
            size_t b = 0, e = sl;
            uint32_t cp;
            for (int k = 0; k < dc->start && b < e; k++) {
                size_t l = uni_decode(d->a.p + so + b, e - b, &cp);
                if (!l || cp != dc->cp) break;
                b += l;
            }
            for (int k = 0; k < dc->stop && e > b; k++) {
                size_t q = e;
                while (q > b && ((unsigned char)d->a.p[so + q - 1] & 0xC0) == 0x80) q--;
                if (q > b) q--;
                if (!uni_decode(d->a.p + so + q, e - q, &cp) || cp != dc->cp) break;
                e = q;
            }
            tb_copy_self(&d->a, so + b, e - b);
            break;
        }
        default:
            break;
        }
        dl_push(d, start, d->a.n - start);
    }
    if (md) pcre2_match_data_free(md);
    free(sv.v);
    free(old);
    return rc;
}

static int byte_token(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int v = 0;
    for (int k = 3; k < 5; k++) {
        char h = s[k];
        int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

static int dec_apply(const tk_dec *dc, dlist *d) {
    switch (dc->kind) {
    case TD_SEQ:
        for (int i = 0; i < dc->n_kids; i++)
            if (dec_apply(&dc->kids[i], d) < 0) return -1;
        return 0;
    case TD_METASPACE:
    case TD_REPLACE:
    case TD_STRIP:
        return dec_map(dc, d);
    case TD_FUSE: {
        size_t start = d->a.n;
        for (size_t i = 0; i < d->n; i++) tb_copy_self(&d->a, d->v[i].off, d->v[i].len);
        if (!d->a.p) tb_put(&d->a, "", 0);
        d->n = 0;
        dl_push(d, start, d->a.n - start);
        return 0;
    }
    case TD_BYTELEVEL: {
        /* each token's characters back to bytes (a token with a character outside
         * the alphabet stays as it is), then one lossy UTF-8 string */
        tbuf raw = {0};
        for (size_t i = 0; i < d->n; i++) {
            const char *s = d->a.p + d->v[i].off;
            size_t sl = d->v[i].len, k = 0, mark = raw.n;
            while (k < sl) {
                uint32_t cp;
                size_t l = uni_decode(s + k, sl - k, &cp);
                int b = l ? uni_cp_to_byte(cp) : -1;
                if (b < 0) break;
                char ch = (char)b;
                tb_put(&raw, &ch, 1);
                k += l;
            }
            if (k < sl) {
                raw.n = mark;
                tb_put(&raw, s, sl);
            }
        }
        size_t ln;
        char *lossy = uni_lossy(raw.p ? raw.p : "", raw.n, &ln);
        free(raw.p);
        d->n = 0;
        dl_add(d, lossy, ln);
        free(lossy);
        return 0;
    }
    case TD_BYTEFALLBACK: {
        struct dspan *old = d->v;
        size_t n = d->n;
        d->v = NULL;
        d->n = d->cap = 0;
        tbuf bytes = {0};
        for (size_t i = 0; i <= n; i++) {
            int b = i < n ? byte_token(d->a.p + old[i].off, old[i].len) : -1;
            if (b >= 0) {
                char ch = (char)b;
                tb_put(&bytes, &ch, 1);
                continue;
            }
            if (bytes.n) {
                /* a run of byte tokens: one string when it is valid UTF-8, else one U+FFFD per byte */
                if (uni_valid_prefix(bytes.p, bytes.n) == bytes.n) {
                    dl_add(d, bytes.p, bytes.n);
                } else {
                    for (size_t k = 0; k < bytes.n; k++) dl_add(d, UNI_REPLACEMENT, 3);
                }
                bytes.n = 0;
            }
            if (i < n) dl_push(d, old[i].off, old[i].len);
        }
        free(bytes.p);
        free(old);
        return 0;
    }
    }
    return 0;
}

/* The string tokenizers' decode gives for a token id (added tokens' normalised
 * form, else the model's token), or NULL for an unused id. */
static const char *id_string(const tok_tokenizer *t, int32_t id, size_t *len) {
    int32_t a = t->added_of_id ? t->added_of_id[id] : -1;
    if (a >= 0) {
        *len = t->added[a].form_len;
        return t->added[a].form;
    }
    if (t->vocab_r[id].len == UINT32_MAX) return NULL;
    *len = t->vocab_r[id].len;
    return t->vocab.blob + t->vocab_r[id].off;
}

char *tok_decode(const tok_tokenizer *t, const int32_t *ids, size_t n, size_t *len) {
    dlist d = {0};
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_ids) {
            free(d.a.p);
            free(d.v);
            ev_error("%s: token id %d out of range (vocabulary of %d)", t->path, ids[i], t->n_ids);
            return NULL;
        }
        size_t sl;
        const char *s = id_string(t, ids[i], &sl);
        if (s) dl_add(&d, s, sl);
    }
    tbuf out = {0};
    if (t->dec) {
        if (dec_apply(t->dec, &d) < 0) {
            free(d.a.p);
            free(d.v);
            return NULL;
        }
        for (size_t i = 0; i < d.n; i++) tb_put(&out, d.a.p + d.v[i].off, d.v[i].len);
    } else {
        for (size_t i = 0; i < d.n; i++) {
            if (i) tb_put(&out, " ", 1);
            tb_put(&out, d.a.p + d.v[i].off, d.v[i].len);
        }
    }
    if (!out.p) tb_put(&out, "", 0);
    free(d.a.p);
    free(d.v);
    if (len) *len = out.n;
    return out.p;
}

/* ================================================================ streaming */

struct tok_stream {
    const tok_tokenizer *t;
    int32_t *ids;
    size_t n, cap;
    char *prefix;      /* the text the ids from prefix_index on decode to */
    size_t prefix_len, prefix_index;
    char *out;
};

tok_stream *tok_stream_new(const tok_tokenizer *t) {
    tok_stream *s = xcalloc(1, sizeof *s);
    s->t = t;
    return s;
}

void tok_stream_free(tok_stream *s) {
    if (!s) return;
    free(s->ids);
    free(s->prefix);
    free(s->out);
    free(s);
}

static int ends_with_fffd(const char *s, size_t n) { return n >= 3 && memcmp(s + n - 3, UNI_REPLACEMENT, 3) == 0; }

/* tokenizers' step_decode_stream, step for step. */
int tok_stream_push(tok_stream *s, int32_t id, const char **text, size_t *len) {
    *text = "";
    *len = 0;
    if (id < 0 || id >= s->t->n_ids)
        return ev_error("%s: token id %d out of range (vocabulary of %d)", s->t->path, id, s->t->n_ids);
    size_t dl;
    if (s->prefix_len == 0 && s->n > 0) {
        char *p = tok_decode(s->t, s->ids, s->n, &dl);
        if (!p) return -1;
        if (!ends_with_fffd(p, dl)) {
            free(s->prefix);
            s->prefix = p;
            s->prefix_len = dl;
            s->prefix_index = s->n;
        } else {
            free(p);
        }
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 32;
        s->ids = xrealloc(s->ids, s->cap * sizeof *s->ids);
    }
    s->ids[s->n++] = id;
    char *str = tok_decode(s->t, s->ids, s->n, &dl);
    if (!str) return -1;
    if (dl > s->prefix_len && !ends_with_fffd(str, dl)) {
        if (s->prefix_len && memcmp(str, s->prefix, s->prefix_len) != 0) {
            free(str);
            return ev_error("%s: streaming decode: the text decoded so far changed", s->t->path);
        }
        free(s->out);
        s->out = xmalloc(dl - s->prefix_len + 1);
        memcpy(s->out, str + s->prefix_len, dl - s->prefix_len + 1);
        *len = dl - s->prefix_len;
        *text = s->out;
        free(str);
        size_t new_index = s->n - s->prefix_index;
        memmove(s->ids, s->ids + s->prefix_index, new_index * sizeof *s->ids);
        s->n = new_index;
        free(s->prefix);
        s->prefix = tok_decode(s->t, s->ids, s->n, &s->prefix_len);
        if (!s->prefix) return -1;
        s->prefix_index = new_index;
        return 1;
    }
    free(str);
    return 0;
}

/* ================================================================ building and accessors */

tok_tokenizer *tk_new(const char *path) {
    tok_tokenizer *t = xcalloc(1, sizeof *t);
    t->path = xstrdup(path);
    t->unk_id = t->bos_id = t->eos_id = -1;
    for (int i = 0; i < 256; i++) t->byte_ids[i] = -1;
    tk_map_init(&t->vocab, 1024);
    tk_map_init(&t->cache, 4096);
    tk_map_init(&t->added_map, 64);
    t->max_added_id = -1;
    trie_init(&t->trie_raw);
    trie_init(&t->trie_norm);
    pthread_mutex_init(&t->lock, NULL);
    t->mctx = pcre2_match_context_create(NULL);
    t->jit_stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, NULL);
    if (t->mctx && t->jit_stack) pcre2_jit_stack_assign(t->mctx, NULL, t->jit_stack);
    return t;
}

int tk_added_index(const tok_tokenizer *t, const char *s, size_t n) { return tk_map_get(&t->added_map, s, n); }

void tk_clear_added(tok_tokenizer *t) {
    for (int i = 0; i < t->n_added; i++) {
        free(t->added[i].content);
        free(t->added[i].form);
    }
    t->n_added = 0;
    t->max_added_id = -1;
    tk_map_free(&t->added_map);
    tk_map_init(&t->added_map, 64);
}

int32_t tk_token_to_id(const tok_tokenizer *t, const char *s, size_t n) {
    int a = tk_added_index(t, s, n);
    return a >= 0 ? t->added[a].id : tk_map_get(&t->vocab, s, n);
}

int32_t tk_add_token(tok_tokenizer *t, const char *s, size_t n, int32_t want_id, int special, int normalized,
                     int single_word, int lstrip, int rstrip) {
    if (n == 0) return -1;
    tk_added a = {0};
    a.single_word = single_word != 0;
    a.lstrip = lstrip != 0;
    a.rstrip = rstrip != 0;
    a.normalized = normalized != 0;
    a.special = special != 0;
    int existing = tk_added_index(t, s, n);
    int32_t id;
    if (existing >= 0) {
        id = t->added[existing].id;
    } else {
        id = tk_map_get(&t->vocab, s, n);
        if (id < 0 && want_id >= 0) id = want_id;
        if (id < 0) {
            /* AddedVocabulary's next id: past the largest added id when that is
             * beyond the model vocabulary, else the model vocabulary's size */
            int32_t vs = (int32_t)t->vocab.n, mx = t->max_added_id;
            id = mx < 0 ? vs : (mx >= vs || vs == 0) ? mx + 1 : vs;
        }
    }
    a.id = id;
    a.content = xmalloc(n + 1);
    memcpy(a.content, s, n);
    a.content[n] = '\0';
    a.len = n;
    if (a.normalized && t->norm) {
        if (tk_normalize_str(t, s, n, &a.form, &a.form_len) < 0) {
            free(a.content);
            return -1;
        }
    } else {
        a.form = xmalloc(n + 1);
        memcpy(a.form, s, n + 1);
        a.form_len = n;
    }
    if (existing >= 0) {
        free(t->added[existing].content);
        free(t->added[existing].form);
        t->added[existing] = a;
    } else {
        if (t->n_added == t->cap_added) {
            t->cap_added = t->cap_added ? 2 * t->cap_added : 64;
            t->added = xrealloc(t->added, (size_t)t->cap_added * sizeof *t->added);
        }
        tk_map_put(&t->added_map, s, n, t->n_added);
        t->added[t->n_added++] = a;
    }
    if (id > t->max_added_id) t->max_added_id = id;
    return id;
}

void tk_finish(tok_tokenizer *t) {
    int32_t n_ids = 0;
    for (size_t i = 0; i < t->vocab.cap; i++)
        if (t->vocab.slots[i].used && t->vocab.slots[i].val + 1 > n_ids) n_ids = t->vocab.slots[i].val + 1;
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].id + 1 > n_ids) n_ids = t->added[i].id + 1;
    t->n_ids = n_ids;
    free(t->vocab_r);
    t->vocab_r = xmalloc((size_t)(n_ids ? n_ids : 1) * sizeof *t->vocab_r);
    for (int32_t i = 0; i < n_ids; i++) t->vocab_r[i] = (struct tk_span){0, UINT32_MAX};
    for (size_t i = 0; i < t->vocab.cap; i++) {
        const struct tk_slot *sl = &t->vocab.slots[i];
        /* several tokens on one id: keep the one seen last in slot order, like any */
        if (sl->used) t->vocab_r[sl->val] = (struct tk_span){sl->off, sl->len};
    }
    free(t->added_of_id);
    t->added_of_id = xmalloc((size_t)(n_ids ? n_ids : 1) * sizeof *t->added_of_id);
    for (int32_t i = 0; i < n_ids; i++) t->added_of_id[i] = -1;
    free(t->trie_raw.nodes);
    free(t->trie_norm.nodes);
    trie_init(&t->trie_raw);
    trie_init(&t->trie_norm);
    for (int i = 0; i < t->n_added; i++) {
        t->added_of_id[t->added[i].id] = i;
        if (t->added[i].normalized) trie_insert(&t->trie_norm, t->added[i].form, t->added[i].form_len, i);
        else trie_insert(&t->trie_raw, t->added[i].content, t->added[i].len, i);
    }
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->byte_ids[b] = tk_map_get(&t->vocab, name, 6);
    }
}

void tk_set_post(tok_tokenizer *t, const int32_t *pre, size_t npre, const int32_t *suf, size_t nsuf) {
    free(t->post_prefix);
    free(t->post_suffix);
    t->post_prefix = xmalloc((npre ? npre : 1) * sizeof *pre);
    t->post_suffix = xmalloc((nsuf ? nsuf : 1) * sizeof *suf);
    if (npre) memcpy(t->post_prefix, pre, npre * sizeof *pre);
    if (nsuf) memcpy(t->post_suffix, suf, nsuf * sizeof *suf);
    t->n_post_prefix = npre;
    t->n_post_suffix = nsuf;
}

void tk_norm_free(tk_norm *n) {
    if (!n) return;
    for (int i = 0; i < n->n_kids; i++) tk_norm_free(&n->kids[i]);
    free(n->kids);
    tk_regex_free(&n->re);
    free(n->str);
}

void tk_pretok_free(tk_pretok *p) {
    if (!p) return;
    for (int i = 0; i < p->n_kids; i++) tk_pretok_free(&p->kids[i]);
    free(p->kids);
    tk_regex_free(&p->re);
}

void tk_dec_free(tk_dec *d) {
    if (!d) return;
    for (int i = 0; i < d->n_kids; i++) tk_dec_free(&d->kids[i]);
    free(d->kids);
    tk_regex_free(&d->re);
    free(d->str);
}

void tok_free(tok_tokenizer *t) {
    if (!t) return;
    free(t->path);
    tk_map_free(&t->vocab);
    free(t->vocab_r);
    free(t->merges.slots);
    free(t->cont_prefix);
    free(t->eow_suffix);
    for (int i = 0; i < t->n_added; i++) {
        free(t->added[i].content);
        free(t->added[i].form);
    }
    free(t->added);
    tk_map_free(&t->added_map);
    free(t->added_of_id);
    free(t->trie_raw.nodes);
    free(t->trie_norm.nodes);
    tk_norm_free(t->norm);
    free(t->norm);
    tk_pretok_free(t->pre);
    free(t->pre);
    tk_dec_free(t->dec);
    free(t->dec);
    free(t->post_prefix);
    free(t->post_suffix);
    free(t->bos);
    free(t->eos);
    free(t->chat_template);
    tk_map_free(&t->cache);
    free(t->cache_ids);
    if (t->mctx) pcre2_match_context_free(t->mctx);
    if (t->jit_stack) pcre2_jit_stack_free(t->jit_stack);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

int32_t tok_n_vocab(const tok_tokenizer *t) { return t->n_ids; }

const char *tok_token_str(const tok_tokenizer *t, int32_t id, size_t *len) {
    if (id < 0 || id >= t->n_ids) return NULL;
    int32_t a = t->added_of_id[id];
    if (a >= 0) {
        *len = t->added[a].len;
        return t->added[a].content;
    }
    if (t->vocab_r[id].len == UINT32_MAX) return NULL;
    *len = t->vocab_r[id].len;
    return t->vocab.blob + t->vocab_r[id].off;
}

int32_t tok_token_id(const tok_tokenizer *t, const char *s, size_t len) { return tk_token_to_id(t, s, len); }

int tok_is_special(const tok_tokenizer *t, int32_t id) {
    if (id < 0 || id >= t->n_ids || t->added_of_id[id] < 0) return 0;
    return t->added[t->added_of_id[id]].special;
}

int32_t tok_bos_id(const tok_tokenizer *t) { return t->bos_id; }
int32_t tok_eos_id(const tok_tokenizer *t) { return t->eos_id; }
const char *tok_bos_str(const tok_tokenizer *t) { return t->bos; }
const char *tok_eos_str(const tok_tokenizer *t) { return t->eos; }
const char *tok_chat_template(const tok_tokenizer *t) { return t->chat_template; }
const char *tok_path(const tok_tokenizer *t) { return t->path; }
