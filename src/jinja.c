/* jinja.c - a small Jinja2 interpreter for chat templates (see jinja.h).
 *
 * The lexer follows jinja2's own rules (lexer.py) with trim_blocks and
 * lstrip_blocks on; the parser follows jinja2's grammar (parser.py) so that
 * precedence is the same (filters bind tighter than arithmetic, `not x is y`
 * is `not (x is y)`, ...); evaluation follows Python's semantics where a
 * template can observe them: truthiness, ==, ordering, +, //, %, str() and
 * repr() of values, float formatting, json.dumps.
 *
 * Memory: the parsed template lives in one arena owned by the template; a
 * render allocates every value, scope and buffer from a second arena freed
 * when the render ends. Errors unwind with longjmp to the entry point, which
 * frees the arena, so no path leaks. */
#include "jinja.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

/* Limits that keep a hostile or buggy template from running away. */
#define JJ_MAX_OUTPUT   ((size_t)64 << 20)   /* bytes of rendered text */
#define JJ_MAX_MEMORY   ((size_t)256 << 20)  /* bytes of render-time values */
#define JJ_MAX_STRING   ((size_t)64 << 20)   /* bytes of one string value */
#define JJ_MAX_ITERS    5000000              /* loop iterations per render */
#define JJ_MAX_DEPTH    200                  /* macro calls / parser nesting */
#define JJ_MAX_RANGE    100000               /* jinja2's sandbox MAX_RANGE */

/* ============================================================== arena */

typedef struct ablk {
    struct ablk *next;
    size_t cap, used;
    max_align_t data[];
} ablk;

typedef struct {
    ablk *head;
    size_t total;
    int over;       /* set once total passes JJ_MAX_MEMORY; checked by the renderer */
} arena;

static void *aalloc(arena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (!a->head || a->head->cap - a->head->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        ablk *b = xmalloc(sizeof(ablk) + cap);
        b->next = a->head;
        b->cap = cap;
        b->used = 0;
        a->head = b;
        a->total += cap;
        if (a->total > JJ_MAX_MEMORY) a->over = 1;
    }
    void *p = (char *)a->head->data + a->head->used;
    a->head->used += n;
    return p;
}

static void *azalloc(arena *a, size_t n) {
    void *p = aalloc(a, n);
    memset(p, 0, n);
    return p;
}

static void afree(arena *a) {
    ablk *b = a->head;
    while (b) {
        ablk *n = b->next;
        free(b);
        b = n;
    }
    a->head = NULL;
    a->total = 0;
}

static char *astrndup(arena *a, const char *s, size_t n) {
    char *p = aalloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

/* Growable byte buffer living in an arena (old blocks are abandoned). */
typedef struct {
    arena *a;
    char *p;
    size_t n, cap;
} sbuf;

static void sb_init(sbuf *b, arena *a) {
    b->a = a;
    b->p = NULL;
    b->n = b->cap = 0;
}

static void sb_reserve(sbuf *b, size_t extra) {
    if (b->cap - b->n > extra) return;
    size_t cap = b->cap ? b->cap * 2 : 64;
    while (cap - b->n <= extra) cap *= 2;
    char *p = aalloc(b->a, cap);
    if (b->n) memcpy(p, b->p, b->n);
    b->p = p;
    b->cap = cap;
}

static void sb_add(sbuf *b, const char *s, size_t n) {
    sb_reserve(b, n);
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_adds(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }
static void sb_addc(sbuf *b, char c) { sb_add(b, &c, 1); }

static void sb_printf(sbuf *b, const char *fmt, ...) EV_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...) {
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        sb_add(b, tmp, (size_t)n);
        return;
    }
    sb_reserve(b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
}

/* ============================================================== UTF-8 */

/* Input is validated UTF-8, so decoding never meets a bad sequence. */
static uint32_t u8_dec(const char *s, size_t n, size_t *adv) {
    const unsigned char *u = (const unsigned char *)s;
    if (u[0] < 0x80 || n < 2) { *adv = 1; return u[0]; }
    if ((u[0] & 0xE0) == 0xC0) { *adv = 2; return ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F); }
    if ((u[0] & 0xF0) == 0xE0 && n >= 3) {
        *adv = 3;
        return ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
    }
    if (n >= 4) {
        *adv = 4;
        return ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12) |
               ((uint32_t)(u[2] & 0x3F) << 6) | (u[3] & 0x3F);
    }
    *adv = 1;
    return u[0];
}

static size_t u8_enc(uint32_t c, char *o) {
    if (c < 0x80) { o[0] = (char)c; return 1; }
    if (c < 0x800) { o[0] = (char)(0xC0 | (c >> 6)); o[1] = (char)(0x80 | (c & 0x3F)); return 2; }
    if (c < 0x10000) {
        o[0] = (char)(0xE0 | (c >> 12)); o[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (c >> 18)); o[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((c >> 6) & 0x3F)); o[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* Python's str.isspace() (and re's \s for str patterns). */
static int py_space(uint32_t c) {
    return (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
           c == 0x202f || c == 0x205f || c == 0x3000;
}

/* Start of the code point ending at s[n-1]. */
static size_t u8_prev(const char *s, size_t n) {
    size_t i = n - 1;
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80) i--;
    return i;
}

/* Length of s[0..n) with trailing Python whitespace removed. */
static size_t rstrip_len(const char *s, size_t n) {
    while (n > 0) {
        size_t st = u8_prev(s, n), adv;
        if (!py_space(u8_dec(s + st, n - st, &adv))) break;
        n = st;
    }
    return n;
}

/* Bytes of leading Python whitespace in s[0..n). */
static size_t lspace_len(const char *s, size_t n) {
    size_t i = 0, adv;
    while (i < n && py_space(u8_dec(s + i, n - i, &adv))) i += adv;
    return i;
}

static size_t u8_count(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) c++;
    return c;
}

/* ============================================================== values */

enum {
    JV_MISSING = 0, /* internal: an argument not given */
    JV_UNDEF, JV_NONE, JV_BOOL, JV_INT, JV_FLOAT, JV_STR, JV_LIST, JV_TUPLE, JV_DICT,
    JV_NS, JV_LOOP, JV_FUNC, JV_METHOD, JV_MACRO,
};

typedef struct jstr {
    size_t len;
    char s[];          /* NUL-terminated */
} jstr;

typedef struct jv {
    int t;
    union {
        int b;
        int64_t i;
        double f;
        jstr *s;
        struct jlist *l;   /* list, tuple */
        struct jdict *d;   /* dict, namespace */
        struct jloop *loop;
        int fn;            /* builtin function id */
        struct jmethod *m;
        struct stmt *macro;
        const char *hint;  /* undefined: why (for the error when it is used) */
    } u;
} jv;

typedef struct jlist {
    size_t n, cap;
    jv *v;
} jlist;

typedef struct jdict {
    size_t n, cap;
    jv *k, *v;
} jdict;

typedef struct jloop {
    int64_t index0, length;
    jlist *items;
} jloop;

typedef struct jmethod {
    jv self;
    const char *name;
} jmethod;

static const jv V_MISSING = {JV_MISSING, {0}};
static const jv V_NONE = {JV_NONE, {0}};

static jv mk_undef(const char *hint) { jv v = {JV_UNDEF, {0}}; v.u.hint = hint; return v; }
static jv mk_bool(int b) { jv v = {JV_BOOL, {0}}; v.u.b = b ? 1 : 0; return v; }
static jv mk_int(int64_t i) { jv v = {JV_INT, {0}}; v.u.i = i; return v; }
static jv mk_float(double f) { jv v = {JV_FLOAT, {0}}; v.u.f = f; return v; }

static jstr *jstr_new(arena *a, const char *s, size_t n) {
    jstr *j = aalloc(a, sizeof(jstr) + n + 1);
    j->len = n;
    if (n) memcpy(j->s, s, n);
    j->s[n] = 0;
    return j;
}

static jv mk_strn(arena *a, const char *s, size_t n) {
    jv v = {JV_STR, {0}};
    v.u.s = jstr_new(a, s, n);
    return v;
}

static jv mk_str(arena *a, const char *s) { return mk_strn(a, s, strlen(s)); }

static jlist *jl_new(arena *a, size_t cap) {
    jlist *l = aalloc(a, sizeof(jlist));
    l->n = 0;
    l->cap = cap;
    l->v = cap ? aalloc(a, cap * sizeof(jv)) : NULL;
    return l;
}

static void jl_push(arena *a, jlist *l, jv x) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        jv *v = aalloc(a, cap * sizeof(jv));
        if (l->n) memcpy(v, l->v, l->n * sizeof(jv));
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = x;
}

static jv mk_list(jlist *l) { jv v = {JV_LIST, {0}}; v.u.l = l; return v; }
static jv mk_tuple(jlist *l) { jv v = {JV_TUPLE, {0}}; v.u.l = l; return v; }

static jdict *jd_new(arena *a) {
    jdict *d = aalloc(a, sizeof(jdict));
    memset(d, 0, sizeof *d);
    return d;
}

static jv mk_dict(jdict *d) { jv v = {JV_DICT, {0}}; v.u.d = d; return v; }

static int str_eq(jv a, const char *s, size_t n) {
    return a.t == JV_STR && a.u.s->len == n && memcmp(a.u.s->s, s, n) == 0;
}

static int is_num(jv v) { return v.t == JV_BOOL || v.t == JV_INT || v.t == JV_FLOAT; }
static int is_seq(jv v) { return v.t == JV_LIST || v.t == JV_TUPLE; }

static double num_f(jv v) {
    return v.t == JV_FLOAT ? v.u.f : v.t == JV_INT ? (double)v.u.i : (double)v.u.b;
}
static int64_t num_i(jv v) { return v.t == JV_INT ? v.u.i : v.u.b; }

static int jv_eq(jv a, jv b);

/* Index of key k in d, or -1. Dicts here are small (message fields). */
static long jd_find(const jdict *d, jv k) {
    for (size_t i = 0; i < d->n; i++)
        if (jv_eq(d->k[i], k)) return (long)i;
    return -1;
}

static long jd_finds(const jdict *d, const char *s, size_t n) {
    for (size_t i = 0; i < d->n; i++)
        if (str_eq(d->k[i], s, n)) return (long)i;
    return -1;
}

static void jd_set(arena *a, jdict *d, jv k, jv v) {
    long i = jd_find(d, k);
    if (i >= 0) { d->v[i] = v; return; }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        jv *nk = aalloc(a, cap * sizeof(jv)), *nv = aalloc(a, cap * sizeof(jv));
        if (d->n) {
            memcpy(nk, d->k, d->n * sizeof(jv));
            memcpy(nv, d->v, d->n * sizeof(jv));
        }
        d->k = nk;
        d->v = nv;
        d->cap = cap;
    }
    d->k[d->n] = k;
    d->v[d->n] = v;
    d->n++;
}

/* ============================================================== tokens */

enum {
    T_DATA, T_VBEGIN, T_VEND, T_BBEGIN, T_BEND, T_NAME, T_STRING, T_INT, T_FLOAT, T_OP, T_EOF,
};

enum {
    OP_ADD = 1, OP_SUB, OP_DIV, OP_FLOORDIV, OP_MUL, OP_MOD, OP_POW, OP_TILDE, OP_LBRACKET,
    OP_RBRACKET, OP_LPAREN, OP_RPAREN, OP_LBRACE, OP_RBRACE, OP_EQ, OP_NE, OP_GT, OP_GE, OP_LT,
    OP_LE, OP_ASSIGN, OP_DOT, OP_COLON, OP_PIPE, OP_COMMA, OP_SEMICOLON,
    /* comparison pseudo-ops */
    OP_IN, OP_NOTIN,
};

static const struct { const char *s; int op; } OPS[] = {
    {"//", OP_FLOORDIV}, {"**", OP_POW}, {"==", OP_EQ}, {"!=", OP_NE}, {">=", OP_GE},
    {"<=", OP_LE}, {"+", OP_ADD}, {"-", OP_SUB}, {"/", OP_DIV}, {"*", OP_MUL}, {"%", OP_MOD},
    {"~", OP_TILDE}, {"[", OP_LBRACKET}, {"]", OP_RBRACKET}, {"(", OP_LPAREN}, {")", OP_RPAREN},
    {"{", OP_LBRACE}, {"}", OP_RBRACE}, {">", OP_GT}, {"<", OP_LT}, {"=", OP_ASSIGN},
    {".", OP_DOT}, {":", OP_COLON}, {"|", OP_PIPE}, {",", OP_COMMA}, {";", OP_SEMICOLON},
};

static const char *op_text(int op) {
    for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++)
        if (OPS[i].op == op) return OPS[i].s;
    return op == OP_IN ? "in" : op == OP_NOTIN ? "not in" : "?";
}

typedef struct {
    int t, line, op;
    const char *s;   /* name, data or decoded string (arena, NUL-terminated) */
    size_t len;
    int64_t i;
    double f;
} token;

/* ============================================================== AST */

enum {
    E_CONST, E_NAME, E_ATTR, E_ITEM, E_SLICE, E_CALL, E_FILTER, E_TEST, E_NOT, E_NEG, E_POS,
    E_BIN, E_AND, E_OR, E_CMP, E_COND, E_LIST, E_TUPLE, E_DICT, E_CONCAT, E_NSREF,
};

typedef struct expr {
    int k, line, op;
    jv cval;               /* E_CONST */
    const char *name;      /* name, attribute, filter, test; E_NSREF: the namespace */
    size_t namelen;
    const char *attr;      /* E_NSREF attribute */
    struct expr *a, *b, *c;
    struct expr **args;    /* call/filter/test args, list/tuple items, dict keys, compare rhs */
    struct expr **vals;    /* dict values */
    int nargs;
    const char **kwn;      /* keyword names */
    struct expr **kwv;
    int nkw;
    int *ops;              /* E_CMP operators */
    int filter_id, test_id;
} expr;

typedef struct body {
    struct stmt **v;
    int n;
} body;

enum {
    S_TEXT, S_OUT, S_IF, S_FOR, S_SET, S_SETBLOCK, S_MACRO, S_BREAK, S_CONTINUE, S_WITH,
    S_FILTERBLOCK, S_SCOPE,
};

typedef struct stmt {
    int k, line;
    const char *text;
    size_t textlen;
    expr *e;              /* output, if test, for iterable, set value */
    expr *target;         /* for/set target */
    expr *cond;           /* for ... if cond */
    expr *filter;         /* set block / filter block: filter chain with NULL innermost input */
    body b, else_b;
    /* macro */
    const char *name;
    const char **params;
    expr **defaults;      /* [nparams], NULL where none */
    int nparams;
    /* with */
    expr **wt, **wv;
    int nw;
} stmt;

struct jinja_template {
    arena mem;
    body root;
    char *name;
};

/* ============================================================== parser */

typedef struct {
    arena *a;
    const char *name;
    jinja_error *err;
    jmp_buf jb;
    token *tok;
    size_t ntok, cap, pos;
    int depth;
    /* lexer */
    const char *src;
    size_t n;
} P;

static void pfail(P *p, int line, const char *fmt, ...) EV_PRINTF(3, 4) EV_NORETURN;
static void pfail(P *p, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    p->err->line = line;
    vsnprintf(p->err->msg, sizeof p->err->msg, fmt, ap);
    va_end(ap);
    longjmp(p->jb, 1);
}

static token *tpush(P *p, int t, int line) {
    if (p->ntok == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 256;
        token *nt = aalloc(p->a, cap * sizeof(token));
        if (p->ntok) memcpy(nt, p->tok, p->ntok * sizeof(token));
        p->tok = nt;
        p->cap = cap;
    }
    token *k = &p->tok[p->ntok++];
    memset(k, 0, sizeof *k);
    k->t = t;
    k->line = line;
    return k;
}

static int count_nl(const char *s, size_t n) {
    int c = 0;
    for (size_t i = 0; i < n; i++) c += s[i] == '\n';
    return c;
}

static void emit_data(P *p, const char *s, size_t n, int line) {
    if (!n) return;
    token *k = tpush(p, T_DATA, line);
    k->s = s;
    k->len = n;
}

/* Applies the whitespace rules jinja2 applies to the text before a tag:
 * `-` strips all trailing whitespace; otherwise lstrip_blocks removes the
 * spaces and tabs between the last newline (or the start of a line) and a
 * block or comment tag. */
static size_t strip_before(const char *text, size_t n, int sign, int is_var, int line_starting) {
    if (sign == '-') return rstrip_len(text, n);
    if (sign == '+' || is_var) return n;
    size_t l = n;
    while (l > 0 && text[l - 1] != '\n') l--;
    if (l > 0 || line_starting) {
        if (l < n && lspace_len(text + l, n - l) == n - l) return l;
    }
    return n;
}

/* Python's unicode-escape decoding of a string literal's body. */
static void unescape(P *p, const char *s, size_t n, int line, sbuf *o) {
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c != '\\' || i + 1 >= n) { sb_addc(o, c); continue; }
        char e = s[++i];
        uint32_t cp;
        int hex = 0;
        switch (e) {
        case '\n': break;
        case '\\': sb_addc(o, '\\'); break;
        case '\'': sb_addc(o, '\''); break;
        case '"': sb_addc(o, '"'); break;
        case 'a': sb_addc(o, '\a'); break;
        case 'b': sb_addc(o, '\b'); break;
        case 'f': sb_addc(o, '\f'); break;
        case 'n': sb_addc(o, '\n'); break;
        case 'r': sb_addc(o, '\r'); break;
        case 't': sb_addc(o, '\t'); break;
        case 'v': sb_addc(o, '\v'); break;
        case 'x': hex = 2; break;
        case 'u': hex = 4; break;
        case 'U': hex = 8; break;
        case 'N': pfail(p, line, "unsupported \\N{...} escape in a string literal");
        default:
            if (e >= '0' && e <= '7') {
                cp = (uint32_t)(e - '0');
                for (int k = 0; k < 2 && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '7'; k++)
                    cp = cp * 8 + (uint32_t)(s[++i] - '0');
                char b[4];
                sb_add(o, b, u8_enc(cp, b));
            } else {
                sb_addc(o, '\\');
                sb_addc(o, e);
            }
        }
        if (hex) {
            cp = 0;
            for (int k = 0; k < hex; k++) {
                if (i + 1 >= n) pfail(p, line, "truncated \\%c escape in a string literal", e);
                char h = s[++i];
                int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
                      : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
                if (d < 0) pfail(p, line, "truncated \\%c escape in a string literal", e);
                cp = cp * 16 + (uint32_t)d;
            }
            if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                pfail(p, line, "invalid \\%c escape in a string literal", e);
            char b[4];
            sb_add(o, b, u8_enc(cp, b));
        }
    }
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_name0(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_name1(char c) { return is_name0(c) || is_digit(c); }

/* (\d+_)*\d+ at s[i]: returns the end, or i when none. */
static size_t digits_us(const char *s, size_t n, size_t i) {
    size_t j = i;
    if (j >= n || !is_digit(s[j])) return i;
    while (j < n && is_digit(s[j])) j++;
    while (j + 1 < n && s[j] == '_' && is_digit(s[j + 1])) {
        j++;
        while (j < n && is_digit(s[j])) j++;
    }
    return j;
}

/* jinja2's float_re at s[i]; returns the end or i. */
static size_t match_float(const char *s, size_t n, size_t i) {
    if (i > 0 && s[i - 1] == '.') return i;
    size_t j = digits_us(s, n, i);
    if (j == i) return i;
    size_t k = j;
    int frac = 0;
    if (k < n && s[k] == '.') {
        size_t f = digits_us(s, n, k + 1);
        if (f > k + 1) { k = f; frac = 1; }
    }
    if (k < n && (s[k] == 'e' || s[k] == 'E')) {
        size_t e = k + 1;
        if (e < n && (s[e] == '+' || s[e] == '-')) e++;
        size_t f = digits_us(s, n, e);
        if (f > e) return f;
    }
    return frac ? k : i;
}

/* jinja2's integer_re; returns the end or i. */
static size_t match_int(const char *s, size_t n, size_t i) {
    if (i >= n || !is_digit(s[i])) return i;
    if (s[i] == '0' && i + 1 < n && strchr("bBoOxX", s[i + 1]) && s[i + 1]) {
        char k = (char)(s[i + 1] | 0x20);
        size_t j = i + 2;
        for (;;) {
            size_t q = j;
            if (q < n && s[q] == '_') q++;
            int ok = q < n && (k == 'b' ? (s[q] == '0' || s[q] == '1')
                             : k == 'o' ? (s[q] >= '0' && s[q] <= '7')
                             : ((s[q] >= '0' && s[q] <= '9') || ((s[q] | 0x20) >= 'a' && (s[q] | 0x20) <= 'f')));
            if (!ok) break;
            j = q + 1;
        }
        if (j > i + 2) return j;
    }
    if (s[i] == '0') {
        size_t j = i + 1;
        for (;;) {
            size_t q = j;
            if (q < n && s[q] == '_') q++;
            if (q < n && s[q] == '0') j = q + 1; else break;
        }
        return j;
    }
    size_t j = i + 1;
    for (;;) {
        size_t q = j;
        if (q < n && s[q] == '_') q++;
        if (q < n && is_digit(s[q])) j = q + 1; else break;
    }
    return j;
}

static int64_t parse_int_lit(P *p, const char *s, size_t n, int line) {
    int base = 10;
    size_t i = 0;
    if (n > 1 && s[0] == '0' && strchr("bBoOxX", s[1])) {
        char k = (char)(s[1] | 0x20);
        base = k == 'b' ? 2 : k == 'o' ? 8 : 16;
        i = 2;
    }
    uint64_t v = 0;
    for (; i < n; i++) {
        if (s[i] == '_') continue;
        int d = is_digit(s[i]) ? s[i] - '0' : (s[i] | 0x20) - 'a' + 10;
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base || v * (uint64_t)base + (uint64_t)d > INT64_MAX)
            pfail(p, line, "integer literal too large");
        v = v * (uint64_t)base + (uint64_t)d;
    }
    return (int64_t)v;
}

/* Lexes the inside of a {{ }} or {% %} tag starting at *pos; emits tokens up to
 * and including the end token. Returns the position after the end delimiter. */
static size_t lex_tag(P *p, size_t pos, int *line, int is_block, int open_line, int *line_starting) {
    const char *s = p->src;
    size_t n = p->n;
    int bal[256];
    int nbal = 0;
    for (;;) {
        if (pos >= n)
            pfail(p, open_line, "unexpected end of template: %s opened here is never closed",
                  is_block ? "'{%'" : "'{{'");
        if (nbal == 0) {
            size_t end = 0;
            if (is_block) {
                if (pos + 2 < n && s[pos] == '+' && s[pos + 1] == '%' && s[pos + 2] == '}') end = pos + 3;
                else if (pos + 2 < n && s[pos] == '-' && s[pos + 1] == '%' && s[pos + 2] == '}') {
                    end = pos + 3;
                    end += lspace_len(s + end, n - end);
                } else if (pos + 1 < n && s[pos] == '%' && s[pos + 1] == '}') {
                    end = pos + 2;
                    if (end < n && s[end] == '\n') end++;
                }
            } else {
                if (pos + 2 < n && s[pos] == '-' && s[pos + 1] == '}' && s[pos + 2] == '}') {
                    end = pos + 3;
                    end += lspace_len(s + end, n - end);
                } else if (pos + 1 < n && s[pos] == '}' && s[pos + 1] == '}')
                    end = pos + 2;
            }
            if (end) {
                tpush(p, is_block ? T_BEND : T_VEND, *line);
                *line += count_nl(s + pos, end - pos);
                *line_starting = s[end - 1] == '\n';
                return end;
            }
        }
        size_t ws = lspace_len(s + pos, n - pos);
        if (ws) {
            *line += count_nl(s + pos, ws);
            pos += ws;
            continue;
        }
        size_t e;
        if ((e = match_float(s, n, pos)) > pos) {
            token *k = tpush(p, T_FLOAT, *line);
            char tmp[128];
            size_t m = 0;
            for (size_t i = pos; i < e && m + 1 < sizeof tmp; i++)
                if (s[i] != '_') tmp[m++] = s[i];
            tmp[m] = 0;
            k->f = strtod(tmp, NULL);
            pos = e;
            continue;
        }
        if ((e = match_int(s, n, pos)) > pos) {
            token *k = tpush(p, T_INT, *line);
            k->i = parse_int_lit(p, s + pos, e - pos, *line);
            pos = e;
            continue;
        }
        if (is_name0(s[pos])) {
            e = pos;
            while (e < n && is_name1(s[e])) e++;
            token *k = tpush(p, T_NAME, *line);
            k->s = astrndup(p->a, s + pos, e - pos);
            k->len = e - pos;
            pos = e;
            continue;
        }
        if (s[pos] == '\'' || s[pos] == '"') {
            char q = s[pos];
            e = pos + 1;
            while (e < n && s[e] != q) e += s[e] == '\\' ? 2 : 1;
            if (e < n) {
                sbuf o;
                sb_init(&o, p->a);
                sb_add(&o, "", 0);
                unescape(p, s + pos + 1, e - pos - 1, *line, &o);
                token *k = tpush(p, T_STRING, *line);
                k->s = o.p;
                k->len = o.n;
                *line += count_nl(s + pos, e + 1 - pos);
                pos = e + 1;
                continue;
            }
        }
        int op = 0;
        size_t oplen = 0;
        for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++) {
            size_t l = strlen(OPS[i].s);
            if (pos + l <= n && memcmp(s + pos, OPS[i].s, l) == 0) { op = OPS[i].op; oplen = l; break; }
        }
        if (!op) {
            size_t adv;
            uint32_t c = u8_dec(s + pos, n - pos, &adv);
            if (c == '\'' || c == '"') pfail(p, *line, "unterminated string literal");
            char b[8] = {0};
            u8_enc(c, b);
            pfail(p, *line, "unexpected character '%s'", b);
        }
        if (op == OP_LBRACE || op == OP_LPAREN || op == OP_LBRACKET) {
            if (nbal == (int)(sizeof bal / sizeof bal[0])) pfail(p, *line, "brackets nested too deeply");
            bal[nbal++] = op == OP_LBRACE ? OP_RBRACE : op == OP_LPAREN ? OP_RPAREN : OP_RBRACKET;
        } else if (op == OP_RBRACE || op == OP_RPAREN || op == OP_RBRACKET) {
            if (!nbal) pfail(p, *line, "unexpected '%s'", op_text(op));
            if (bal[nbal - 1] != op)
                pfail(p, *line, "unexpected '%s', expected '%s'", op_text(op), op_text(bal[nbal - 1]));
            nbal--;
        }
        token *k = tpush(p, T_OP, *line);
        k->op = op;
        pos += oplen;
    }
}

/* `{%[-+]?\s*raw\s*(-%}\s*|%})` at pos (pointing at '{'); returns the end or 0. */
static size_t match_raw(const char *s, size_t n, size_t pos, const char *word, int trim_nl,
                        int *sign) {
    size_t i = pos + 2;
    *sign = 0;
    if (i < n && (s[i] == '-' || s[i] == '+')) *sign = s[i++];
    i += lspace_len(s + i, n - i);
    size_t wl = strlen(word);
    if (i + wl > n || memcmp(s + i, word, wl) != 0) return 0;
    i += wl;
    i += lspace_len(s + i, n - i);
    if (trim_nl && i + 2 < n && s[i] == '+' && s[i + 1] == '%' && s[i + 2] == '}') return i + 3;
    if (i + 2 < n && s[i] == '-' && s[i + 1] == '%' && s[i + 2] == '}') {
        i += 3;
        return i + lspace_len(s + i, n - i);
    }
    if (i + 1 < n && s[i] == '%' && s[i + 1] == '}') {
        i += 2;
        if (trim_nl && i < n && s[i] == '\n') i++;
        return i;
    }
    return 0;
}

static void lex(P *p, const char *src0) {
    /* newlines normalised to \n, one trailing newline dropped (keep_trailing_newline=False) */
    size_t n0 = strlen(src0);
    char *s = aalloc(p->a, n0 + 1);
    size_t n = 0;
    for (size_t i = 0; i < n0; i++) {
        if (src0[i] == '\r') {
            s[n++] = '\n';
            if (i + 1 < n0 && src0[i + 1] == '\n') i++;
        } else
            s[n++] = src0[i];
    }
    if (n && s[n - 1] == '\n') n--;
    s[n] = 0;
    p->src = s;
    p->n = n;

    size_t pos = 0;
    int line = 1, line_starting = 1;
    while (pos < n) {
        size_t q = pos;
        while (q + 1 < n && !(s[q] == '{' && (s[q + 1] == '{' || s[q + 1] == '%' || s[q + 1] == '#'))) q++;
        if (q + 1 >= n) {
            emit_data(p, s + pos, n - pos, line);
            break;
        }
        char kind = s[q + 1];
        int sign = 0, raw_sign = 0;
        size_t raw_end = kind == '%' ? match_raw(s, n, q, "raw", 0, &raw_sign) : 0;
        if (raw_end) sign = raw_sign;
        else if (q + 2 < n && (s[q + 2] == '-' || s[q + 2] == '+')) sign = s[q + 2];
        size_t keep = strip_before(s + pos, q - pos, sign, kind == '{', line_starting);
        emit_data(p, s + pos, keep, line);
        line += count_nl(s + pos, q - pos);
        int open_line = line;
        if (raw_end) {
            line += count_nl(s + q, raw_end - q);
            size_t r = raw_end, endraw = 0;
            int esign = 0;
            for (; r + 1 < n; r++)
                if (s[r] == '{' && s[r + 1] == '%' && (endraw = match_raw(s, n, r, "endraw", 1, &esign))) break;
            if (!endraw) pfail(p, open_line, "missing end of raw directive");
            keep = strip_before(s + raw_end, r - raw_end, esign, 0, s[raw_end - 1] == '\n');
            emit_data(p, s + raw_end, keep, line);
            line += count_nl(s + raw_end, endraw - raw_end);
            line_starting = s[endraw - 1] == '\n';
            pos = endraw;
            continue;
        }
        pos = q + 2 + (sign ? 1 : 0);
        if (kind == '#') {
            size_t r = pos;
            while (r + 1 < n && !(s[r] == '#' && s[r + 1] == '}')) r++;
            if (r + 1 >= n) pfail(p, open_line, "missing end of comment tag");
            size_t end;
            if (r > pos && s[r - 1] == '-') {
                end = r + 2;
                end += lspace_len(s + end, n - end);
            } else if (r > pos && s[r - 1] == '+')
                end = r + 2;
            else {
                end = r + 2;
                if (end < n && s[end] == '\n') end++;
            }
            line += count_nl(s + q, end - q);
            line_starting = s[end - 1] == '\n';
            pos = end;
            continue;
        }
        tpush(p, kind == '%' ? T_BBEGIN : T_VBEGIN, line);
        pos = lex_tag(p, pos, &line, kind == '%', open_line, &line_starting);
    }
    tpush(p, T_EOF, line);
}

/* ---------------------------------------------------------------- grammar */

static token *cur(P *p) { return &p->tok[p->pos]; }
static token *peek(P *p, size_t k) {
    size_t i = p->pos + k;
    return &p->tok[i < p->ntok ? i : p->ntok - 1];
}
static int is_op(token *t, int op) { return t->t == T_OP && t->op == op; }
static int is_name(token *t, const char *s) { return t->t == T_NAME && strcmp(t->s, s) == 0; }

static const char *describe(token *t, char *buf, size_t n) {
    switch (t->t) {
    case T_NAME: snprintf(buf, n, "'%s'", t->s); break;
    case T_OP: snprintf(buf, n, "'%s'", op_text(t->op)); break;
    case T_STRING: snprintf(buf, n, "string literal"); break;
    case T_INT: case T_FLOAT: snprintf(buf, n, "number"); break;
    case T_VEND: snprintf(buf, n, "end of print statement '}}'"); break;
    case T_BEND: snprintf(buf, n, "end of statement block '%%}'"); break;
    case T_EOF: snprintf(buf, n, "end of template"); break;
    default: snprintf(buf, n, "template data"); break;
    }
    return buf;
}

static void expect_op(P *p, int op) {
    token *t = cur(p);
    if (!is_op(t, op)) {
        char b[128];
        pfail(p, t->line, "expected '%s', got %s", op_text(op), describe(t, b, sizeof b));
    }
    p->pos++;
}

static const char *expect_name(P *p) {
    token *t = cur(p);
    if (t->t != T_NAME) {
        char b[128];
        pfail(p, t->line, "expected a name, got %s", describe(t, b, sizeof b));
    }
    p->pos++;
    return t->s;
}

static void expect_kw(P *p, const char *kw) {
    token *t = cur(p);
    if (!is_name(t, kw)) {
        char b[128];
        pfail(p, t->line, "expected '%s', got %s", kw, describe(t, b, sizeof b));
    }
    p->pos++;
}

static expr *enew(P *p, int k, int line) {
    expr *e = azalloc(p->a, sizeof(expr));
    e->k = k;
    e->line = line;
    return e;
}

typedef struct {
    expr **v;
    int n, cap;
} evec;

static void ev_push(P *p, evec *v, expr *e) {
    if (v->n == v->cap) {
        int cap = v->cap ? v->cap * 2 : 4;
        expr **nv = aalloc(p->a, (size_t)cap * sizeof(expr *));
        if (v->n) memcpy(nv, v->v, (size_t)v->n * sizeof(expr *));
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = e;
}

static expr *parse_expression(P *p, int with_condexpr);
static expr *parse_tuple(P *p, int simplified, int with_condexpr, const char *extra_end, int explicit_paren);
static expr *parse_unary(P *p, int with_filter);
static expr *parse_primary(P *p);
static expr *parse_postfix(P *p, expr *node);
static expr *parse_filter_expr(P *p, expr *node);
static int filter_lookup(const char *name);
static int test_lookup(const char *name);

static void enter(P *p) {
    if (++p->depth > JJ_MAX_DEPTH) pfail(p, cur(p)->line, "expression nested too deeply");
}

static expr *parse_condexpr(P *p);
static expr *parse_or(P *p);

static expr *parse_expression(P *p, int with_condexpr) {
    enter(p);
    expr *e = with_condexpr ? parse_condexpr(p) : parse_or(p);
    p->depth--;
    return e;
}

static expr *parse_and(P *p);
static expr *parse_not(P *p);
static expr *parse_compare(P *p);
static expr *parse_math1(P *p);
static expr *parse_concat(P *p);
static expr *parse_math2(P *p);
static expr *parse_pow(P *p);

static expr *parse_condexpr(P *p) {
    int line = cur(p)->line;
    expr *e1 = parse_or(p);
    while (is_name(cur(p), "if")) {
        p->pos++;
        expr *e2 = parse_or(p), *e3 = NULL;
        if (is_name(cur(p), "else")) {
            p->pos++;
            e3 = parse_condexpr(p);
        }
        expr *c = enew(p, E_COND, line);
        c->a = e2;   /* test */
        c->b = e1;   /* value when true */
        c->c = e3;   /* value when false (NULL: undefined) */
        e1 = c;
        line = cur(p)->line;
    }
    return e1;
}

static expr *parse_or(P *p) {
    expr *l = parse_and(p);
    while (is_name(cur(p), "or")) {
        int line = cur(p)->line;
        p->pos++;
        expr *e = enew(p, E_OR, line);
        e->a = l;
        e->b = parse_and(p);
        l = e;
    }
    return l;
}

static expr *parse_and(P *p) {
    expr *l = parse_not(p);
    while (is_name(cur(p), "and")) {
        int line = cur(p)->line;
        p->pos++;
        expr *e = enew(p, E_AND, line);
        e->a = l;
        e->b = parse_not(p);
        l = e;
    }
    return l;
}

static expr *parse_not(P *p) {
    if (is_name(cur(p), "not")) {
        int line = cur(p)->line;
        p->pos++;
        enter(p);
        expr *e = enew(p, E_NOT, line);
        e->a = parse_not(p);
        p->depth--;
        return e;
    }
    return parse_compare(p);
}

static expr *parse_compare(P *p) {
    int line = cur(p)->line;
    expr *e = parse_math1(p);
    evec rhs = {0};
    int *ops = NULL, nops = 0, cap = 0;
    for (;;) {
        token *t = cur(p);
        int op = 0;
        if (t->t == T_OP && (t->op == OP_EQ || t->op == OP_NE || t->op == OP_LT || t->op == OP_LE ||
                             t->op == OP_GT || t->op == OP_GE)) {
            op = t->op;
            p->pos++;
        } else if (is_name(t, "in")) {
            op = OP_IN;
            p->pos++;
        } else if (is_name(t, "not") && is_name(peek(p, 1), "in")) {
            op = OP_NOTIN;
            p->pos += 2;
        } else
            break;
        if (nops == cap) {
            cap = cap ? cap * 2 : 4;
            int *no = aalloc(p->a, (size_t)cap * sizeof(int));
            if (nops) memcpy(no, ops, (size_t)nops * sizeof(int));
            ops = no;
        }
        ops[nops++] = op;
        ev_push(p, &rhs, parse_math1(p));
    }
    if (!nops) return e;
    expr *c = enew(p, E_CMP, line);
    c->a = e;
    c->args = rhs.v;
    c->nargs = rhs.n;
    c->ops = ops;
    return c;
}

static expr *binop(P *p, int op, expr *l, expr *r, int line) {
    expr *e = enew(p, E_BIN, line);
    e->op = op;
    e->a = l;
    e->b = r;
    return e;
}

static expr *parse_math1(P *p) {
    expr *l = parse_concat(p);
    while (is_op(cur(p), OP_ADD) || is_op(cur(p), OP_SUB)) {
        token *t = cur(p);
        p->pos++;
        l = binop(p, t->op, l, parse_concat(p), t->line);
    }
    return l;
}

static expr *parse_concat(P *p) {
    int line = cur(p)->line;
    expr *first = parse_math2(p);
    if (!is_op(cur(p), OP_TILDE)) return first;
    evec v = {0};
    ev_push(p, &v, first);
    while (is_op(cur(p), OP_TILDE)) {
        p->pos++;
        ev_push(p, &v, parse_math2(p));
    }
    expr *e = enew(p, E_CONCAT, line);
    e->args = v.v;
    e->nargs = v.n;
    return e;
}

static expr *parse_math2(P *p) {
    expr *l = parse_pow(p);
    while (is_op(cur(p), OP_MUL) || is_op(cur(p), OP_DIV) || is_op(cur(p), OP_FLOORDIV) ||
           is_op(cur(p), OP_MOD)) {
        token *t = cur(p);
        p->pos++;
        l = binop(p, t->op, l, parse_pow(p), t->line);
    }
    return l;
}

static expr *parse_pow(P *p) {
    expr *l = parse_unary(p, 1);
    while (is_op(cur(p), OP_POW)) {
        token *t = cur(p);
        p->pos++;
        l = binop(p, OP_POW, l, parse_unary(p, 1), t->line);
    }
    return l;
}

static expr *parse_unary(P *p, int with_filter) {
    token *t = cur(p);
    expr *node;
    enter(p);
    if (is_op(t, OP_SUB) || is_op(t, OP_ADD)) {
        p->pos++;
        node = enew(p, t->op == OP_SUB ? E_NEG : E_POS, t->line);
        node->a = parse_unary(p, 0);
    } else
        node = parse_primary(p);
    node = parse_postfix(p, node);
    if (with_filter) node = parse_filter_expr(p, node);
    p->depth--;
    return node;
}

static expr *parse_list_or_dict(P *p, int dict) {
    token *open = cur(p);
    p->pos++;
    evec keys = {0}, vals = {0};
    int close = dict ? OP_RBRACE : OP_RBRACKET;
    while (!is_op(cur(p), close)) {
        if (keys.n) expect_op(p, OP_COMMA);
        if (is_op(cur(p), close)) break;
        expr *k = parse_expression(p, 1);
        ev_push(p, &keys, k);
        if (dict) {
            expect_op(p, OP_COLON);
            ev_push(p, &vals, parse_expression(p, 1));
        }
    }
    expect_op(p, close);
    expr *e = enew(p, dict ? E_DICT : E_LIST, open->line);
    e->args = keys.v;
    e->vals = vals.v;
    e->nargs = keys.n;
    return e;
}

static expr *parse_primary(P *p) {
    token *t = cur(p);
    expr *e;
    char b[128];
    switch (t->t) {
    case T_NAME:
        p->pos++;
        e = enew(p, E_CONST, t->line);
        if (!strcmp(t->s, "true") || !strcmp(t->s, "True")) e->cval = mk_bool(1);
        else if (!strcmp(t->s, "false") || !strcmp(t->s, "False")) e->cval = mk_bool(0);
        else if (!strcmp(t->s, "none") || !strcmp(t->s, "None")) e->cval = V_NONE;
        else {
            e->k = E_NAME;
            e->name = t->s;
            e->namelen = t->len;
        }
        return e;
    case T_STRING: {
        sbuf o;
        sb_init(&o, p->a);
        sb_add(&o, t->s, t->len);
        p->pos++;
        while (cur(p)->t == T_STRING) {
            sb_add(&o, cur(p)->s, cur(p)->len);
            p->pos++;
        }
        e = enew(p, E_CONST, t->line);
        e->cval = mk_strn(p->a, o.p, o.n);
        return e;
    }
    case T_INT:
        p->pos++;
        e = enew(p, E_CONST, t->line);
        e->cval = mk_int(t->i);
        return e;
    case T_FLOAT:
        p->pos++;
        e = enew(p, E_CONST, t->line);
        e->cval = mk_float(t->f);
        return e;
    case T_OP:
        if (t->op == OP_LPAREN) {
            p->pos++;
            e = parse_tuple(p, 0, 1, NULL, 1);
            expect_op(p, OP_RPAREN);
            return e;
        }
        if (t->op == OP_LBRACKET) return parse_list_or_dict(p, 0);
        if (t->op == OP_LBRACE) return parse_list_or_dict(p, 1);
        break;
    default:
        break;
    }
    pfail(p, t->line, "unexpected %s", describe(t, b, sizeof b));
}

static int tuple_end(P *p, const char *extra_end) {
    token *t = cur(p);
    if (t->t == T_VEND || t->t == T_BEND || t->t == T_EOF) return 1;
    if (is_op(t, OP_RPAREN)) return 1;
    if (extra_end && is_name(t, extra_end)) return 1;
    return 0;
}

/* simplified: only names and literals (assignment targets) */
static expr *parse_tuple(P *p, int simplified, int with_condexpr, const char *extra_end, int explicit_paren) {
    int line = cur(p)->line;
    evec v = {0};
    int is_tuple = 0;
    for (;;) {
        if (v.n) expect_op(p, OP_COMMA);
        if (tuple_end(p, extra_end)) break;
        ev_push(p, &v, simplified ? parse_primary(p) : parse_expression(p, with_condexpr));
        if (is_op(cur(p), OP_COMMA)) is_tuple = 1;
        else break;
    }
    if (!is_tuple) {
        if (v.n) return v.v[0];
        if (!explicit_paren) {
            char b[128];
            pfail(p, cur(p)->line, "expected an expression, got %s", describe(cur(p), b, sizeof b));
        }
    }
    expr *e = enew(p, E_TUPLE, line);
    e->args = v.v;
    e->nargs = v.n;
    return e;
}

static void parse_call_args(P *p, expr *e) {
    token *open = cur(p);
    expect_op(p, OP_LPAREN);
    evec args = {0}, kwv = {0};
    const char **kwn = NULL;
    int nkw = 0, kcap = 0;
    int need_comma = 0;
    while (!is_op(cur(p), OP_RPAREN)) {
        if (need_comma) {
            expect_op(p, OP_COMMA);
            if (is_op(cur(p), OP_RPAREN)) break;
        }
        if (is_op(cur(p), OP_MUL) || is_op(cur(p), OP_POW))
            pfail(p, cur(p)->line, "unsupported *args/**kwargs in a call");
        if (cur(p)->t == T_NAME && is_op(peek(p, 1), OP_ASSIGN)) {
            if (nkw == kcap) {
                kcap = kcap ? kcap * 2 : 4;
                const char **nk = aalloc(p->a, (size_t)kcap * sizeof(char *));
                if (nkw) memcpy(nk, kwn, (size_t)nkw * sizeof(char *));
                kwn = nk;
            }
            kwn[nkw++] = cur(p)->s;
            p->pos += 2;
            ev_push(p, &kwv, parse_expression(p, 1));
        } else {
            if (nkw) pfail(p, open->line, "invalid syntax for function call expression");
            ev_push(p, &args, parse_expression(p, 1));
        }
        need_comma = 1;
    }
    expect_op(p, OP_RPAREN);
    e->args = args.v;
    e->nargs = args.n;
    e->kwn = kwn;
    e->kwv = kwv.v;
    e->nkw = nkw;
}

static expr *parse_subscript(P *p, expr *node) {
    token *t = cur(p);
    p->pos++;
    if (t->op == OP_DOT) {
        token *a = cur(p);
        p->pos++;
        if (a->t == T_NAME) {
            expr *e = enew(p, E_ATTR, t->line);
            e->a = node;
            e->name = a->s;
            e->namelen = a->len;
            return e;
        }
        if (a->t != T_INT) pfail(p, a->line, "expected name or number after '.'");
        expr *e = enew(p, E_ITEM, t->line);
        e->a = node;
        e->b = enew(p, E_CONST, a->line);
        e->b->cval = mk_int(a->i);
        return e;
    }
    /* '[' */
    evec args = {0};
    while (!is_op(cur(p), OP_RBRACKET)) {
        if (args.n) expect_op(p, OP_COMMA);
        int line = cur(p)->line;
        expr *parts[3] = {NULL, NULL, NULL};
        int is_slice = 0;
        if (is_op(cur(p), OP_COLON)) {
            p->pos++;
            is_slice = 1;
        } else {
            parts[0] = parse_expression(p, 1);
            if (is_op(cur(p), OP_COLON)) {
                p->pos++;
                is_slice = 1;
            }
        }
        if (is_slice) {
            if (!is_op(cur(p), OP_COLON) && !is_op(cur(p), OP_RBRACKET) && !is_op(cur(p), OP_COMMA))
                parts[1] = parse_expression(p, 1);
            if (is_op(cur(p), OP_COLON)) {
                p->pos++;
                if (!is_op(cur(p), OP_RBRACKET) && !is_op(cur(p), OP_COMMA))
                    parts[2] = parse_expression(p, 1);
            }
            expr *s = enew(p, E_SLICE, line);
            s->a = parts[0];
            s->b = parts[1];
            s->c = parts[2];
            ev_push(p, &args, s);
        } else
            ev_push(p, &args, parts[0]);
    }
    expect_op(p, OP_RBRACKET);
    if (args.n == 0) pfail(p, t->line, "expected a subscript expression");
    expr *e = enew(p, E_ITEM, t->line);
    e->a = node;
    if (args.n == 1)
        e->b = args.v[0];
    else {
        e->b = enew(p, E_TUPLE, t->line);
        e->b->args = args.v;
        e->b->nargs = args.n;
    }
    return e;
}

static expr *parse_postfix(P *p, expr *node) {
    for (;;) {
        token *t = cur(p);
        if (is_op(t, OP_DOT) || is_op(t, OP_LBRACKET))
            node = parse_subscript(p, node);
        else if (is_op(t, OP_LPAREN)) {
            expr *c = enew(p, E_CALL, t->line);
            c->a = node;
            parse_call_args(p, c);
            node = c;
        } else
            break;
    }
    return node;
}

static const char *dotted_name(P *p) {
    const char *name = expect_name(p);
    while (is_op(cur(p), OP_DOT)) {
        p->pos++;
        const char *more = expect_name(p);
        size_t a = strlen(name), b = strlen(more);
        char *s = aalloc(p->a, a + b + 2);
        memcpy(s, name, a);
        s[a] = '.';
        memcpy(s + a + 1, more, b + 1);
        name = s;
    }
    return name;
}

/* One `| name(args)`; node may be NULL for a filter block's input. */
static expr *parse_one_filter(P *p, expr *node) {
    int line = cur(p)->line;
    const char *name = dotted_name(p);
    expr *f = enew(p, E_FILTER, line);
    f->a = node;
    f->name = name;
    f->filter_id = filter_lookup(name);
    if (f->filter_id < 0) pfail(p, line, "unsupported filter '%s'", name);
    if (is_op(cur(p), OP_LPAREN)) parse_call_args(p, f);
    return f;
}

static expr *parse_filter_expr(P *p, expr *node) {
    for (;;) {
        token *t = cur(p);
        if (is_op(t, OP_PIPE)) {
            p->pos++;
            node = parse_one_filter(p, node);
        } else if (is_name(t, "is")) {
            p->pos++;
            int neg = 0;
            if (is_name(cur(p), "not")) {
                neg = 1;
                p->pos++;
            }
            int line = cur(p)->line;
            const char *name = dotted_name(p);
            expr *e = enew(p, E_TEST, t->line);
            e->a = node;
            e->name = name;
            e->test_id = test_lookup(name);
            if (e->test_id < 0) pfail(p, line, "unsupported test '%s'", name);
            token *c = cur(p);
            if (is_op(c, OP_LPAREN))
                parse_call_args(p, e);
            else if ((c->t == T_NAME || c->t == T_STRING || c->t == T_INT || c->t == T_FLOAT ||
                      is_op(c, OP_LBRACKET) || is_op(c, OP_LBRACE)) &&
                     !is_name(c, "else") && !is_name(c, "or") && !is_name(c, "and")) {
                if (is_name(c, "is")) pfail(p, c->line, "cannot chain multiple tests with 'is'");
                expr *arg = parse_postfix(p, parse_primary(p));
                e->args = aalloc(p->a, sizeof(expr *));
                e->args[0] = arg;
                e->nargs = 1;
            }
            if (neg) {
                expr *n = enew(p, E_NOT, t->line);
                n->a = e;
                e = n;
            }
            node = e;
        } else if (is_op(t, OP_LPAREN)) {
            expr *c = enew(p, E_CALL, t->line);
            c->a = node;
            parse_call_args(p, c);
            node = c;
        } else
            break;
    }
    return node;
}

/* ---------------------------------------------------------------- statements */

static body subparse(P *p, const char *const *end_tokens);

typedef struct {
    stmt **v;
    int n, cap;
} svec;

static void sv_push(P *p, svec *v, stmt *s) {
    if (v->n == v->cap) {
        int cap = v->cap ? v->cap * 2 : 8;
        stmt **nv = aalloc(p->a, (size_t)cap * sizeof(stmt *));
        if (v->n) memcpy(nv, v->v, (size_t)v->n * sizeof(stmt *));
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = s;
}

static stmt *snew(P *p, int k, int line) {
    stmt *s = azalloc(p->a, sizeof(stmt));
    s->k = k;
    s->line = line;
    return s;
}

/* Parses `%}` then a body up to one of end_tokens; leaves the end name current. */
static body parse_statements(P *p, const char *const *end_tokens, int drop_needle, const char *opener, int open_line) {
    if (is_op(cur(p), OP_COLON)) p->pos++;
    if (cur(p)->t != T_BEND) {
        char b[128];
        pfail(p, cur(p)->line, "expected end of statement block, got %s", describe(cur(p), b, sizeof b));
    }
    p->pos++;
    body b = subparse(p, end_tokens);
    if (cur(p)->t == T_EOF) {
        char want[128] = "";
        for (int i = 0; end_tokens[i]; i++) {
            if (i) strncat(want, " or ", sizeof want - strlen(want) - 1);
            strncat(want, "'", sizeof want - strlen(want) - 1);
            strncat(want, end_tokens[i], sizeof want - strlen(want) - 1);
            strncat(want, "'", sizeof want - strlen(want) - 1);
        }
        pfail(p, open_line, "unexpected end of template: '%s' is never closed (expected %s)", opener, want);
    }
    if (drop_needle) p->pos++;
    return b;
}

static void check_assign_target(P *p, expr *t) {
    if (t->k == E_NAME || t->k == E_NSREF) return;
    if (t->k == E_TUPLE) {
        for (int i = 0; i < t->nargs; i++)
            if (t->args[i]->k != E_NAME) pfail(p, t->line, "can't assign to this tuple element");
        return;
    }
    pfail(p, t->line, "can't assign to this expression");
}

/* Assignment target: name, tuple of names, or (for set) ns.attr. */
static expr *parse_assign_target(P *p, const char *extra_end, int with_namespace) {
    if (with_namespace && cur(p)->t == T_NAME && is_op(peek(p, 1), OP_DOT)) {
        token *t = cur(p);
        p->pos += 2;
        expr *e = enew(p, E_NSREF, t->line);
        e->name = t->s;
        e->namelen = t->len;
        e->attr = expect_name(p);
        return e;
    }
    expr *t = parse_tuple(p, 1, 1, extra_end, 0);
    check_assign_target(p, t);
    return t;
}

static stmt *parse_for(P *p, int line) {
    static const char *const ends[] = {"endfor", "else", NULL};
    static const char *const ends2[] = {"endfor", NULL};
    stmt *s = snew(p, S_FOR, line);
    s->target = parse_assign_target(p, "in", 0);
    expect_kw(p, "in");
    s->e = parse_tuple(p, 0, 0, "recursive", 0);
    if (is_name(cur(p), "if")) {
        p->pos++;
        s->cond = parse_expression(p, 1);
    }
    if (is_name(cur(p), "recursive")) pfail(p, cur(p)->line, "unsupported recursive for loop");
    s->b = parse_statements(p, ends, 0, "for", line);
    token *t = cur(p);
    p->pos++;
    if (!strcmp(t->s, "else")) s->else_b = parse_statements(p, ends2, 1, "for", line);
    return s;
}

static stmt *parse_if(P *p, int line) {
    static const char *const ends[] = {"elif", "else", "endif", NULL};
    static const char *const ends2[] = {"endif", NULL};
    stmt *s = snew(p, S_IF, line);
    stmt *node = s;
    for (;;) {
        node->e = parse_tuple(p, 0, 0, NULL, 0);
        node->b = parse_statements(p, ends, 0, "if", line);
        token *t = cur(p);
        p->pos++;
        if (!strcmp(t->s, "elif")) {
            stmt *n = snew(p, S_IF, t->line);
            node->else_b.v = aalloc(p->a, sizeof(stmt *));
            node->else_b.v[0] = n;
            node->else_b.n = 1;
            node = n;
            continue;
        }
        if (!strcmp(t->s, "else")) node->else_b = parse_statements(p, ends2, 1, "if", line);
        break;
    }
    return s;
}

static expr *parse_filter_chain(P *p) {
    expr *f = NULL;
    if (cur(p)->t == T_NAME) {
        f = parse_one_filter(p, NULL);
        while (is_op(cur(p), OP_PIPE)) {
            p->pos++;
            f = parse_one_filter(p, f);
        }
    }
    return f;
}

static stmt *parse_set(P *p, int line) {
    static const char *const ends[] = {"endset", NULL};
    expr *target = parse_assign_target(p, NULL, 1);
    if (is_op(cur(p), OP_ASSIGN)) {
        p->pos++;
        stmt *s = snew(p, S_SET, line);
        s->target = target;
        s->e = parse_tuple(p, 0, 1, NULL, 0);
        return s;
    }
    stmt *s = snew(p, S_SETBLOCK, line);
    s->target = target;
    if (is_op(cur(p), OP_PIPE)) {
        p->pos++;
        s->filter = parse_filter_chain(p);
    }
    s->b = parse_statements(p, ends, 1, "set", line);
    return s;
}

static stmt *parse_macro(P *p, int line) {
    static const char *const ends[] = {"endmacro", NULL};
    stmt *s = snew(p, S_MACRO, line);
    s->name = expect_name(p);
    expect_op(p, OP_LPAREN);
    const char *params[64];
    expr *defs[64];
    int n = 0;
    while (!is_op(cur(p), OP_RPAREN)) {
        if (n) expect_op(p, OP_COMMA);
        if (n == 64) pfail(p, line, "too many macro parameters");
        params[n] = expect_name(p);
        defs[n] = NULL;
        if (is_op(cur(p), OP_ASSIGN)) {
            p->pos++;
            defs[n] = parse_expression(p, 1);
        } else if (n && defs[n - 1])
            pfail(p, line, "non-default argument follows default argument");
        n++;
    }
    expect_op(p, OP_RPAREN);
    s->nparams = n;
    s->params = aalloc(p->a, (size_t)(n ? n : 1) * sizeof(char *));
    s->defaults = aalloc(p->a, (size_t)(n ? n : 1) * sizeof(expr *));
    for (int i = 0; i < n; i++) {
        s->params[i] = params[i];
        s->defaults[i] = defs[i];
    }
    s->b = parse_statements(p, ends, 1, "macro", line);
    return s;
}

static stmt *parse_statement(P *p) {
    token *t = cur(p);
    char b[128];
    if (t->t != T_NAME) pfail(p, t->line, "tag name expected, got %s", describe(t, b, sizeof b));
    int line = t->line;
    const char *n = t->s;
    p->pos++;
    if (!strcmp(n, "if")) return parse_if(p, line);
    if (!strcmp(n, "for")) return parse_for(p, line);
    if (!strcmp(n, "set")) return parse_set(p, line);
    if (!strcmp(n, "macro")) return parse_macro(p, line);
    if (!strcmp(n, "break")) return snew(p, S_BREAK, line);
    if (!strcmp(n, "continue")) return snew(p, S_CONTINUE, line);
    if (!strcmp(n, "with")) {
        static const char *const ends[] = {"endwith", NULL};
        stmt *s = snew(p, S_WITH, line);
        evec tv = {0}, vv = {0};
        while (cur(p)->t != T_BEND) {
            if (tv.n) expect_op(p, OP_COMMA);
            expr *target = parse_assign_target(p, NULL, 0);
            ev_push(p, &tv, target);
            expect_op(p, OP_ASSIGN);
            ev_push(p, &vv, parse_expression(p, 1));
        }
        s->wt = tv.v;
        s->wv = vv.v;
        s->nw = tv.n;
        s->b = parse_statements(p, ends, 1, "with", line);
        return s;
    }
    if (!strcmp(n, "filter")) {
        static const char *const ends[] = {"endfilter", NULL};
        stmt *s = snew(p, S_FILTERBLOCK, line);
        s->filter = parse_filter_chain(p);
        if (!s->filter) pfail(p, line, "expected a filter name after 'filter'");
        s->b = parse_statements(p, ends, 1, "filter", line);
        return s;
    }
    if (!strcmp(n, "generation")) {
        /* transformers' AssistantTracker tag: renders its body unchanged */
        static const char *const ends[] = {"endgeneration", NULL};
        stmt *s = snew(p, S_SCOPE, line);
        s->b = parse_statements(p, ends, 1, "generation", line);
        return s;
    }
    if (!strcmp(n, "include") || !strcmp(n, "extends") || !strcmp(n, "import") ||
        !strcmp(n, "from") || !strcmp(n, "block") || !strcmp(n, "call") ||
        !strcmp(n, "autoescape") || !strcmp(n, "print") || !strcmp(n, "raw"))
        pfail(p, line, "unsupported statement '%s'", n);
    pfail(p, line, "unknown statement '%s'", n);
}

static int in_list(const char *s, const char *const *list) {
    for (int i = 0; list && list[i]; i++)
        if (!strcmp(s, list[i])) return 1;
    return 0;
}

static body subparse(P *p, const char *const *end_tokens) {
    svec v = {0};
    enter(p);
    for (;;) {
        token *t = cur(p);
        if (t->t == T_EOF) break;
        if (t->t == T_DATA) {
            stmt *s = snew(p, S_TEXT, t->line);
            s->text = t->s;
            s->textlen = t->len;
            sv_push(p, &v, s);
            p->pos++;
        } else if (t->t == T_VBEGIN) {
            p->pos++;
            stmt *s = snew(p, S_OUT, t->line);
            s->e = parse_tuple(p, 0, 1, NULL, 0);
            if (cur(p)->t != T_VEND) {
                char b[128];
                pfail(p, cur(p)->line, "expected end of print statement '}}', got %s",
                      describe(cur(p), b, sizeof b));
            }
            p->pos++;
            sv_push(p, &v, s);
        } else if (t->t == T_BBEGIN) {
            p->pos++;
            token *n = cur(p);
            if (end_tokens && n->t == T_NAME && in_list(n->s, end_tokens)) break;
            if (n->t == T_NAME && (!strncmp(n->s, "end", 3) || !strcmp(n->s, "else") || !strcmp(n->s, "elif")))
                pfail(p, n->line, "unexpected '%s'%s", n->s,
                      end_tokens ? " (does not match the innermost open block)" : " (no open block)");
            sv_push(p, &v, parse_statement(p));
            if (cur(p)->t != T_BEND) {
                char b[128];
                pfail(p, cur(p)->line, "expected end of statement block '%%}', got %s",
                      describe(cur(p), b, sizeof b));
            }
            p->pos++;
        } else {
            char b[128];
            pfail(p, t->line, "unexpected %s", describe(t, b, sizeof b));
        }
    }
    p->depth--;
    body b = {v.v, v.n};
    return b;
}

static void report(const char *name, const jinja_error *e) {
    if (e->line > 0) ev_error("%s: line %d: %s", name, e->line, e->msg);
    else ev_error("%s: %s", name, e->msg);
}

/* setjmp lives here, apart from the callers' locals, so nothing is clobbered. */
static int parse_run(P *p, jinja_template *t, const char *src) {
    if (setjmp(p->jb)) return -1;
    lex(p, src);
    t->root = subparse(p, NULL);
    return 0;
}

jinja_template *jinja_parse(const char *src, const char *name, jinja_error *err) {
    jinja_error local;
    jinja_error *e = err ? err : &local;
    memset(e, 0, sizeof *e);
    if (!name) name = "template";
    if (!ev_utf8_valid(src, strlen(src))) {
        snprintf(e->msg, sizeof e->msg, "template is not valid UTF-8");
        if (!err) report(name, e);
        return NULL;
    }
    jinja_template *t = xcalloc(1, sizeof *t);
    t->name = xstrdup(name);
    P *p = xcalloc(1, sizeof *p);
    p->a = &t->mem;
    p->name = name;
    p->err = e;
    int rc = parse_run(p, t, src);
    free(p);
    if (rc < 0) {
        if (!err) report(name, e);
        jinja_free(t);
        return NULL;
    }
    return t;
}

void jinja_free(jinja_template *t) {
    if (!t) return;
    afree(&t->mem);
    free(t->name);
    free(t);
}

/* ============================================================== render state */

typedef struct scope {
    struct scope *parent;
    jdict *vars;
} scope;

typedef struct R {
    arena mem;
    jmp_buf jb;
    jinja_error *err;
    const jinja_template *t;
    scope *root;
    sbuf *out;
    size_t iters;
    int depth;
    struct tm now;
} R;

static void rfail(R *r, int line, const char *fmt, ...) EV_PRINTF(3, 4) EV_NORETURN;
static void rfail(R *r, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    r->err->line = line;
    vsnprintf(r->err->msg, sizeof r->err->msg, fmt, ap);
    va_end(ap);
    longjmp(r->jb, 1);
}

static void check_limits(R *r, int line) {
    if (r->mem.over) rfail(r, line, "template used more than %zu MiB of memory", JJ_MAX_MEMORY >> 20);
}

static void emit(R *r, const char *s, size_t n, int line) {
    if (r->out->n + n > JJ_MAX_OUTPUT)
        rfail(r, line, "template output larger than %zu MiB", JJ_MAX_OUTPUT >> 20);
    sb_add(r->out, s, n);
    check_limits(r, line);
}

static scope *scope_new(R *r, scope *parent) {
    scope *s = aalloc(&r->mem, sizeof(scope));
    s->parent = parent;
    s->vars = jd_new(&r->mem);
    return s;
}

static void scope_set(R *r, scope *s, const char *name, jv v) {
    jd_set(&r->mem, s->vars, mk_str(&r->mem, name), v);
}

static int scope_get(scope *s, const char *name, size_t n, jv *out) {
    for (; s; s = s->parent) {
        long i = jd_finds(s->vars, name, n);
        if (i >= 0) { *out = s->vars->v[i]; return 1; }
    }
    return 0;
}

/* ---------------------------------------------------------------- type names */

static const char *type_name(jv v) {
    switch (v.t) {
    case JV_UNDEF: return "Undefined";
    case JV_NONE: return "NoneType";
    case JV_BOOL: return "bool";
    case JV_INT: return "int";
    case JV_FLOAT: return "float";
    case JV_STR: return "str";
    case JV_LIST: return "list";
    case JV_TUPLE: return "tuple";
    case JV_DICT: return "dict";
    case JV_NS: return "Namespace";
    case JV_LOOP: return "LoopContext";
    case JV_MACRO: return "Macro";
    case JV_METHOD: return "builtin_function_or_method";
    default: return "function";
    }
}

/* Using an undefined value in an operation is an error, as in jinja2. */
static void fail_undef(R *r, jv v, int line) EV_NORETURN;
static void fail_undef(R *r, jv v, int line) {
    rfail(r, line, "%s", v.u.hint ? v.u.hint : "value is undefined");
}

static const char *hintf(R *r, const char *fmt, ...) EV_PRINTF(2, 3);
static const char *hintf(R *r, const char *fmt, ...) {
    char tmp[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    return astrndup(&r->mem, tmp, strlen(tmp));
}

/* ---------------------------------------------------------------- str() and repr() */

/* Python's repr(float): the shortest digits that round-trip, fixed notation for
 * exponents in [-4, 16), scientific otherwise. */
static void py_float_repr(double f, char *out, size_t outn) {
    if (isnan(f)) { snprintf(out, outn, "nan"); return; }
    if (isinf(f)) { snprintf(out, outn, f > 0 ? "inf" : "-inf"); return; }
    if (f == 0) { snprintf(out, outn, signbit(f) ? "-0.0" : "0.0"); return; }
    char tmp[48];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, f);
        if (strtod(tmp, NULL) == f) break;
    }
    char digits[32];
    int nd = 0, neg = 0;
    const char *q = tmp;
    if (*q == '-') { neg = 1; q++; }
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9' && nd < 30) digits[nd++] = *q;
    int e = *q == 'e' ? atoi(q + 1) : 0;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    char *o = out;
    size_t left = outn;
#define PUT(c) do { if (left > 1) { *o++ = (c); left--; } } while (0)
    if (neg) PUT('-');
    if (e >= -4 && e < 16) {
        if (e >= 0) {
            for (int i = 0; i <= e; i++) PUT(i < nd ? digits[i] : '0');
            PUT('.');
            if (nd > e + 1) for (int i = e + 1; i < nd; i++) PUT(digits[i]);
            else PUT('0');
        } else {
            PUT('0');
            PUT('.');
            for (int i = 0; i < -e - 1; i++) PUT('0');
            for (int i = 0; i < nd; i++) PUT(digits[i]);
        }
    } else {
        PUT(digits[0]);
        if (nd > 1) {
            PUT('.');
            for (int i = 1; i < nd; i++) PUT(digits[i]);
        }
        PUT('e');
        PUT(e < 0 ? '-' : '+');
        char eb[16];
        snprintf(eb, sizeof eb, "%02d", e < 0 ? -e : e);
        for (char *c = eb; *c; c++) PUT(*c);
    }
#undef PUT
    *o = 0;
}

static int py_printable(uint32_t c) {
    if (c == ' ') return 1;
    if (c < 0x20 || c == 0x7f) return 0;
    if (c < 0x7f) return 1;
    switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO: case UTF8PROC_CATEGORY_CN: case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP: case UTF8PROC_CATEGORY_ZS:
        return 0;
    default:
        return 1;
    }
}

static void repr_str(sbuf *b, const char *s, size_t n) {
    int has_sq = memchr(s, '\'', n) != NULL, has_dq = memchr(s, '"', n) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    sb_addc(b, q);
    for (size_t i = 0; i < n;) {
        size_t adv;
        uint32_t c = u8_dec(s + i, n - i, &adv);
        if (c == (uint32_t)q || c == '\\') { sb_addc(b, '\\'); sb_addc(b, (char)c); }
        else if (c == '\n') sb_adds(b, "\\n");
        else if (c == '\r') sb_adds(b, "\\r");
        else if (c == '\t') sb_adds(b, "\\t");
        else if (py_printable(c)) sb_add(b, s + i, adv);
        else if (c < 0x100) sb_printf(b, "\\x%02x", c);
        else if (c < 0x10000) sb_printf(b, "\\u%04x", c);
        else sb_printf(b, "\\U%08x", c);
        i += adv;
    }
    sb_addc(b, q);
}

static void to_repr(R *r, sbuf *b, jv v);

static void to_str(R *r, sbuf *b, jv v) {
    char tmp[64];
    switch (v.t) {
    case JV_MISSING:
    case JV_UNDEF: return;
    case JV_NONE: sb_adds(b, "None"); return;
    case JV_BOOL: sb_adds(b, v.u.b ? "True" : "False"); return;
    case JV_INT: sb_printf(b, "%" PRId64, v.u.i); return;
    case JV_FLOAT: py_float_repr(v.u.f, tmp, sizeof tmp); sb_adds(b, tmp); return;
    case JV_STR: sb_add(b, v.u.s->s, v.u.s->len); return;
    case JV_LIST:
    case JV_TUPLE:
        sb_addc(b, v.t == JV_LIST ? '[' : '(');
        for (size_t i = 0; i < v.u.l->n; i++) {
            if (i) sb_adds(b, ", ");
            to_repr(r, b, v.u.l->v[i]);
        }
        if (v.t == JV_TUPLE && v.u.l->n == 1) sb_addc(b, ',');
        sb_addc(b, v.t == JV_LIST ? ']' : ')');
        return;
    case JV_DICT:
    case JV_NS:
        if (v.t == JV_NS) sb_adds(b, "<Namespace ");
        sb_addc(b, '{');
        for (size_t i = 0; i < v.u.d->n; i++) {
            if (i) sb_adds(b, ", ");
            to_repr(r, b, v.u.d->k[i]);
            sb_adds(b, ": ");
            to_repr(r, b, v.u.d->v[i]);
        }
        sb_addc(b, '}');
        if (v.t == JV_NS) sb_addc(b, '>');
        return;
    case JV_LOOP:
        sb_printf(b, "<LoopContext %" PRId64 "/%" PRId64 ">", v.u.loop->index0 + 1, v.u.loop->length);
        return;
    case JV_MACRO: sb_printf(b, "<Macro '%s'>", v.u.macro->name); return;
    case JV_METHOD: sb_printf(b, "<built-in method %s>", v.u.m->name); return;
    default: sb_adds(b, "<function>"); return;
    }
}

static void to_repr(R *r, sbuf *b, jv v) {
    if (v.t == JV_STR) repr_str(b, v.u.s->s, v.u.s->len);
    else if (v.t == JV_UNDEF) sb_adds(b, "Undefined");
    else to_str(r, b, v);
}

/* str(v) as a string value (v itself when it is one). */
static jv str_of(R *r, jv v) {
    if (v.t == JV_STR) return v;
    sbuf b;
    sb_init(&b, &r->mem);
    to_str(r, &b, v);
    return mk_strn(&r->mem, b.p ? b.p : "", b.n);
}

/* ---------------------------------------------------------------- truth, ==, ordering */

static int truthy(jv v) {
    switch (v.t) {
    case JV_MISSING: case JV_UNDEF: case JV_NONE: return 0;
    case JV_BOOL: return v.u.b;
    case JV_INT: return v.u.i != 0;
    case JV_FLOAT: return v.u.f != 0;
    case JV_STR: return v.u.s->len != 0;
    case JV_LIST: case JV_TUPLE: return v.u.l->n != 0;
    case JV_DICT: return v.u.d->n != 0;
    default: return 1;
    }
}

static int jv_eq(jv a, jv b) {
    if (is_num(a) && is_num(b)) {
        if (a.t != JV_FLOAT && b.t != JV_FLOAT) return num_i(a) == num_i(b);
        return num_f(a) == num_f(b);
    }
    if (a.t != b.t) return 0;
    switch (a.t) {
    case JV_UNDEF: case JV_NONE: case JV_MISSING: return 1;
    case JV_STR: return a.u.s->len == b.u.s->len && memcmp(a.u.s->s, b.u.s->s, a.u.s->len) == 0;
    case JV_LIST: case JV_TUPLE:
        if (a.u.l->n != b.u.l->n) return 0;
        for (size_t i = 0; i < a.u.l->n; i++)
            if (!jv_eq(a.u.l->v[i], b.u.l->v[i])) return 0;
        return 1;
    case JV_DICT:
        if (a.u.d->n != b.u.d->n) return 0;
        for (size_t i = 0; i < a.u.d->n; i++) {
            long j = jd_find(b.u.d, a.u.d->k[i]);
            if (j < 0 || !jv_eq(a.u.d->v[i], b.u.d->v[j])) return 0;
        }
        return 1;
    case JV_NS: return a.u.d == b.u.d;
    case JV_LOOP: return a.u.loop == b.u.loop;
    case JV_FUNC: return a.u.fn == b.u.fn;
    case JV_MACRO: return a.u.macro == b.u.macro;
    default: return 0;
    }
}

/* Python ordering: returns <0, 0, >0, or fails with a TypeError-like message. */
static int jv_cmp(R *r, jv a, jv b, int op, int line) {
    if (a.t == JV_UNDEF) fail_undef(r, a, line);
    if (b.t == JV_UNDEF) fail_undef(r, b, line);
    if (is_num(a) && is_num(b)) {
        if (a.t != JV_FLOAT && b.t != JV_FLOAT) {
            int64_t x = num_i(a), y = num_i(b);
            return x < y ? -1 : x > y;
        }
        double x = num_f(a), y = num_f(b);
        return x < y ? -1 : x > y ? 1 : 0;
    }
    if (a.t == JV_STR && b.t == JV_STR) {
        size_t n = a.u.s->len < b.u.s->len ? a.u.s->len : b.u.s->len;
        int c = memcmp(a.u.s->s, b.u.s->s, n);
        if (c) return c;
        return a.u.s->len < b.u.s->len ? -1 : a.u.s->len > b.u.s->len;
    }
    if ((a.t == JV_LIST || a.t == JV_TUPLE) && a.t == b.t) {
        size_t n = a.u.l->n < b.u.l->n ? a.u.l->n : b.u.l->n;
        for (size_t i = 0; i < n; i++)
            if (!jv_eq(a.u.l->v[i], b.u.l->v[i])) return jv_cmp(r, a.u.l->v[i], b.u.l->v[i], op, line);
        return a.u.l->n < b.u.l->n ? -1 : a.u.l->n > b.u.l->n;
    }
    rfail(r, line, "'%s' not supported between instances of '%s' and '%s'", op_text(op), type_name(a),
          type_name(b));
}

/* ---------------------------------------------------------------- code-point strings */

static int is_ascii(const jstr *s) {
    for (size_t i = 0; i < s->len; i++)
        if ((unsigned char)s->s[i] >= 0x80) return 0;
    return 1;
}

/* Byte offsets of each code point (and the end): off[0..ncp]. */
static size_t *cp_offsets(R *r, const jstr *s, size_t *ncp) {
    size_t n = u8_count(s->s, s->len), k = 0;
    size_t *off = aalloc(&r->mem, (n + 1) * sizeof(size_t));
    for (size_t i = 0; i < s->len; i++)
        if (((unsigned char)s->s[i] & 0xC0) != 0x80) off[k++] = i;
    off[k] = s->len;
    *ncp = n;
    return off;
}

static int64_t jv_len(R *r, jv v, int line) {
    switch (v.t) {
    case JV_UNDEF: return 0;
    case JV_STR: return (int64_t)u8_count(v.u.s->s, v.u.s->len);
    case JV_LIST: case JV_TUPLE: return (int64_t)v.u.l->n;
    case JV_DICT: return (int64_t)v.u.d->n;
    case JV_LOOP: return v.u.loop->length;
    default: rfail(r, line, "object of type '%s' has no len()", type_name(v));
    }
}

/* The items a for loop (or list()) sees. */
static jlist *iter_items(R *r, jv v, int line) {
    switch (v.t) {
    case JV_UNDEF: return jl_new(&r->mem, 0);
    case JV_LIST: case JV_TUPLE: return v.u.l;
    case JV_DICT: {
        jlist *l = jl_new(&r->mem, v.u.d->n);
        for (size_t i = 0; i < v.u.d->n; i++) l->v[l->n++] = v.u.d->k[i];
        return l;
    }
    case JV_STR: {
        size_t n;
        size_t *off = cp_offsets(r, v.u.s, &n);
        jlist *l = jl_new(&r->mem, n);
        for (size_t i = 0; i < n; i++) l->v[l->n++] = mk_strn(&r->mem, v.u.s->s + off[i], off[i + 1] - off[i]);
        return l;
    }
    case JV_LOOP: return v.u.loop->items;
    default: rfail(r, line, "'%s' object is not iterable", type_name(v));
    }
}

/* ---------------------------------------------------------------- arithmetic */

static jv arith(R *r, int op, jv a, jv b, int line) {
    if (a.t == JV_UNDEF) fail_undef(r, a, line);
    if (b.t == JV_UNDEF) fail_undef(r, b, line);
    if (is_num(a) && is_num(b)) {
        int ints = a.t != JV_FLOAT && b.t != JV_FLOAT;
        if (ints && op != OP_DIV) {
            int64_t x = num_i(a), y = num_i(b), z;
            switch (op) {
            case OP_ADD: if (__builtin_add_overflow(x, y, &z)) goto ovf; return mk_int(z);
            case OP_SUB: if (__builtin_sub_overflow(x, y, &z)) goto ovf; return mk_int(z);
            case OP_MUL: if (__builtin_mul_overflow(x, y, &z)) goto ovf; return mk_int(z);
            case OP_FLOORDIV:
            case OP_MOD: {
                if (y == 0) rfail(r, line, "integer division or modulo by zero");
                if (x == INT64_MIN && y == -1) goto ovf;
                int64_t q = x / y, m = x % y;
                if (m != 0 && ((m < 0) != (y < 0))) { q--; m += y; }
                return mk_int(op == OP_MOD ? m : q);
            }
            case OP_POW: {
                if (y < 0) {
                    if (x == 0) rfail(r, line, "0.0 cannot be raised to a negative power");
                    return mk_float(pow((double)x, (double)y));
                }
                int64_t res = 1, base = x;
                while (y) {
                    if (y & 1) if (__builtin_mul_overflow(res, base, &res)) goto ovf;
                    y >>= 1;
                    if (y && __builtin_mul_overflow(base, base, &base)) goto ovf;
                }
                return mk_int(res);
            }
            }
        }
        double x = num_f(a), y = num_f(b);
        switch (op) {
        case OP_ADD: return mk_float(x + y);
        case OP_SUB: return mk_float(x - y);
        case OP_MUL: return mk_float(x * y);
        case OP_DIV:
            if (y == 0) rfail(r, line, "division by zero");
            return mk_float(x / y);
        case OP_FLOORDIV:
            if (y == 0) rfail(r, line, "float floor division by zero");
            return mk_float(floor(x / y));
        case OP_MOD: {
            if (y == 0) rfail(r, line, "float modulo");
            double m = fmod(x, y);
            if (m != 0 && ((m < 0) != (y < 0))) m += y;
            return mk_float(m);
        }
        case OP_POW:
            if (x == 0 && y < 0) rfail(r, line, "0.0 cannot be raised to a negative power");
            return mk_float(pow(x, y));
        }
    }
    if (op == OP_ADD && a.t == JV_STR && b.t == JV_STR) {
        if (a.u.s->len + b.u.s->len > JJ_MAX_STRING)
            rfail(r, line, "string larger than %zu MiB", JJ_MAX_STRING >> 20);
        jstr *s = aalloc(&r->mem, sizeof(jstr) + a.u.s->len + b.u.s->len + 1);
        s->len = a.u.s->len + b.u.s->len;
        memcpy(s->s, a.u.s->s, a.u.s->len);
        memcpy(s->s + a.u.s->len, b.u.s->s, b.u.s->len);
        s->s[s->len] = 0;
        jv v = {JV_STR, {0}};
        v.u.s = s;
        check_limits(r, line);
        return v;
    }
    if (op == OP_ADD && is_seq(a) && a.t == b.t) {
        jlist *l = jl_new(&r->mem, a.u.l->n + b.u.l->n);
        for (size_t i = 0; i < a.u.l->n; i++) l->v[l->n++] = a.u.l->v[i];
        for (size_t i = 0; i < b.u.l->n; i++) l->v[l->n++] = b.u.l->v[i];
        check_limits(r, line);
        return a.t == JV_LIST ? mk_list(l) : mk_tuple(l);
    }
    if (op == OP_MUL && ((a.t == JV_STR || is_seq(a)) && (b.t == JV_INT || b.t == JV_BOOL))) {
        jv t = a;
        a = b;
        b = t;
    }
    if (op == OP_MUL && (a.t == JV_INT || a.t == JV_BOOL) && (b.t == JV_STR || is_seq(b))) {
        int64_t k = num_i(a);
        if (k < 0) k = 0;
        size_t unit = b.t == JV_STR ? b.u.s->len : b.u.l->n, total;
        size_t lim = b.t == JV_STR ? JJ_MAX_STRING : JJ_MAX_STRING / sizeof(jv);
        if (ev_mul_size(unit, (size_t)k, &total) || total > lim)
            rfail(r, line, "%s larger than %zu MiB", b.t == JV_STR ? "string" : "list", JJ_MAX_STRING >> 20);
        if (b.t == JV_STR) {
            jstr *s = aalloc(&r->mem, sizeof(jstr) + total + 1);
            s->len = total;
            for (int64_t i = 0; i < k; i++) memcpy(s->s + (size_t)i * unit, b.u.s->s, unit);
            s->s[total] = 0;
            jv v = {JV_STR, {0}};
            v.u.s = s;
            return v;
        }
        jlist *l = jl_new(&r->mem, total);
        for (int64_t i = 0; i < k; i++)
            for (size_t j = 0; j < unit; j++) l->v[l->n++] = b.u.l->v[j];
        return b.t == JV_LIST ? mk_list(l) : mk_tuple(l);
    }
    if (op == OP_MOD && a.t == JV_STR) rfail(r, line, "unsupported: printf-style string formatting with '%%'");
    if (op == OP_ADD && a.t == JV_STR)
        rfail(r, line, "can only concatenate str (not \"%s\") to str", type_name(b));
    rfail(r, line, "unsupported operand type(s) for %s: '%s' and '%s'", op_text(op), type_name(a), type_name(b));
ovf:
    rfail(r, line, "integer overflow in '%s'", op_text(op));
}

/* ---------------------------------------------------------------- json.dumps */

typedef struct {
    const char *indent;   /* NULL: no newlines */
    const char *item_sep, *key_sep;
    int sort_keys, ensure_ascii;
} jsonopt;

static void json_str(sbuf *b, const char *s, size_t n, int ensure_ascii) {
    sb_addc(b, '"');
    for (size_t i = 0; i < n;) {
        size_t adv;
        uint32_t c = u8_dec(s + i, n - i, &adv);
        switch (c) {
        case '"': sb_adds(b, "\\\""); break;
        case '\\': sb_adds(b, "\\\\"); break;
        case '\n': sb_adds(b, "\\n"); break;
        case '\r': sb_adds(b, "\\r"); break;
        case '\t': sb_adds(b, "\\t"); break;
        case '\b': sb_adds(b, "\\b"); break;
        case '\f': sb_adds(b, "\\f"); break;
        default:
            if (c < 0x20) sb_printf(b, "\\u%04x", c);
            else if (c < 0x80 || !ensure_ascii) sb_add(b, s + i, adv);
            else if (c < 0x10000) sb_printf(b, "\\u%04x", c);
            else {
                uint32_t v = c - 0x10000;
                sb_printf(b, "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
            }
        }
        i += adv;
    }
    sb_addc(b, '"');
}

static void json_newline(sbuf *b, const jsonopt *o, int level) {
    sb_addc(b, '\n');
    for (int i = 0; i < level; i++) sb_adds(b, o->indent);
}

static void json_float(sbuf *b, double f) {
    char tmp[64];
    if (isnan(f)) sb_adds(b, "NaN");
    else if (isinf(f)) sb_adds(b, f > 0 ? "Infinity" : "-Infinity");
    else { py_float_repr(f, tmp, sizeof tmp); sb_adds(b, tmp); }
}

static void dump_json(R *r, sbuf *b, jv v, const jsonopt *o, int level, int line) {
    if (level > 1000) rfail(r, line, "tojson: value nested too deeply");
    switch (v.t) {
    case JV_NONE: sb_adds(b, "null"); return;
    case JV_BOOL: sb_adds(b, v.u.b ? "true" : "false"); return;
    case JV_INT: sb_printf(b, "%" PRId64, v.u.i); return;
    case JV_FLOAT: json_float(b, v.u.f); return;
    case JV_STR: json_str(b, v.u.s->s, v.u.s->len, o->ensure_ascii); return;
    case JV_LIST:
    case JV_TUPLE: {
        if (!v.u.l->n) { sb_adds(b, "[]"); return; }
        sb_addc(b, '[');
        for (size_t i = 0; i < v.u.l->n; i++) {
            if (i) sb_adds(b, o->item_sep);
            if (o->indent) json_newline(b, o, level + 1);
            dump_json(r, b, v.u.l->v[i], o, level + 1, line);
        }
        if (o->indent) json_newline(b, o, level);
        sb_addc(b, ']');
        return;
    }
    case JV_DICT: {
        jdict *d = v.u.d;
        if (!d->n) { sb_adds(b, "{}"); return; }
        size_t *ord = aalloc(&r->mem, d->n * sizeof(size_t));
        for (size_t i = 0; i < d->n; i++) ord[i] = i;
        if (o->sort_keys) {
            for (size_t i = 1; i < d->n; i++) {   /* insertion sort: stable, small dicts */
                size_t x = ord[i], j = i;
                while (j > 0 && jv_cmp(r, d->k[ord[j - 1]], d->k[x], OP_LT, line) > 0) {
                    ord[j] = ord[j - 1];
                    j--;
                }
                ord[j] = x;
            }
        }
        sb_addc(b, '{');
        for (size_t i = 0; i < d->n; i++) {
            jv k = d->k[ord[i]];
            if (i) sb_adds(b, o->item_sep);
            if (o->indent) json_newline(b, o, level + 1);
            if (k.t == JV_STR) json_str(b, k.u.s->s, k.u.s->len, o->ensure_ascii);
            else if (k.t == JV_FLOAT) {
                sbuf t;
                sb_init(&t, &r->mem);
                json_float(&t, k.u.f);
                json_str(b, t.p, t.n, 0);
            } else if (k.t == JV_BOOL) sb_adds(b, k.u.b ? "\"true\"" : "\"false\"");
            else if (k.t == JV_NONE) sb_adds(b, "\"null\"");
            else if (k.t == JV_INT) sb_printf(b, "\"%" PRId64 "\"", k.u.i);
            else rfail(r, line, "tojson: keys must be str, int, float, bool or None, not %s", type_name(k));
            sb_adds(b, o->key_sep);
            dump_json(r, b, d->v[ord[i]], o, level + 1, line);
        }
        if (o->indent) json_newline(b, o, level);
        sb_addc(b, '}');
        return;
    }
    default:
        rfail(r, line, "tojson: Object of type %s is not JSON serializable", type_name(v));
    }
}

/* ---------------------------------------------------------------- attributes, items */

static jv mk_method(R *r, jv self, const char *name) {
    jmethod *m = aalloc(&r->mem, sizeof(jmethod));
    m->self = self;
    m->name = name;
    jv v = {JV_METHOD, {0}};
    v.u.m = m;
    return v;
}

static const char *const STR_METHODS[] = {
    "strip", "lstrip", "rstrip", "split", "rsplit", "startswith", "endswith", "upper", "lower",
    "title", "capitalize", "replace", "find", "rfind", "count", "join", "splitlines", "isdigit",
    "isalpha", "isalnum", "isspace", "islower", "isupper", "removeprefix", "removesuffix",
    "index", "rindex", "format", "center", "ljust", "rjust", "zfill", "swapcase", "casefold",
    "partition", "rpartition", "encode", "expandtabs", "isnumeric", "isdecimal", "istitle",
    "isidentifier", "isprintable", "isascii", "format_map", "translate", "maketrans", NULL};
static const char *const DICT_METHODS[] = {
    "items", "keys", "values", "get", "copy", "pop", "popitem", "setdefault", "update", "clear",
    "fromkeys", NULL};
static const char *const LIST_METHODS[] = {
    "append", "pop", "index", "count", "copy", "extend", "insert", "remove", "reverse", "sort",
    "clear", NULL};
static const char *const TUPLE_METHODS[] = {"index", "count", NULL};

static const char *find_name(const char *const *list, const char *s, size_t n) {
    for (int i = 0; list[i]; i++)
        if (strlen(list[i]) == n && !memcmp(list[i], s, n)) return list[i];
    return NULL;
}

static jv loop_attr(R *r, jloop *l, const char *name, size_t n, int *found) {
    *found = 1;
#define IS(s) (n == strlen(s) && !memcmp(name, s, n))
    if (IS("index0")) return mk_int(l->index0);
    if (IS("index")) return mk_int(l->index0 + 1);
    if (IS("revindex")) return mk_int(l->length - l->index0);
    if (IS("revindex0")) return mk_int(l->length - l->index0 - 1);
    if (IS("first")) return mk_bool(l->index0 == 0);
    if (IS("last")) return mk_bool(l->index0 == l->length - 1);
    if (IS("length")) return mk_int(l->length);
    if (IS("depth")) return mk_int(1);
    if (IS("depth0")) return mk_int(0);
    if (IS("previtem"))
        return l->index0 > 0 ? l->items->v[l->index0 - 1] : mk_undef("there is no previous item");
    if (IS("nextitem"))
        return l->index0 + 1 < l->length ? l->items->v[l->index0 + 1] : mk_undef("there is no next item");
    if (IS("cycle")) {
        jv self = {JV_LOOP, {0}};
        self.u.loop = l;
        return mk_method(r, self, "cycle");
    }
#undef IS
    *found = 0;
    return V_MISSING;
}

static const char *obj_desc(jv v) {
    switch (v.t) {
    case JV_DICT: return "dict object";
    case JV_LIST: return "list object";
    case JV_TUPLE: return "tuple object";
    case JV_STR: return "str object";
    case JV_INT: return "int object";
    case JV_FLOAT: return "float object";
    case JV_BOOL: return "bool object";
    case JV_NONE: return "None";
    case JV_NS: return "jinja2.utils.Namespace object";
    case JV_LOOP: return "jinja2.runtime.LoopContext object";
    default: return "object";
    }
}

/* obj.name: Python attribute first (methods), then the item, as jinja2's getattr. */
static jv get_attr(R *r, jv obj, const char *name, size_t n, int line) {
    const char *m;
    switch (obj.t) {
    case JV_UNDEF: fail_undef(r, obj, line);
    case JV_DICT: {
        if ((m = find_name(DICT_METHODS, name, n))) return mk_method(r, obj, m);
        long i = jd_finds(obj.u.d, name, n);
        if (i >= 0) return obj.u.d->v[i];
        break;
    }
    case JV_NS: {
        long i = jd_finds(obj.u.d, name, n);
        if (i >= 0) return obj.u.d->v[i];
        break;
    }
    case JV_STR:
        if ((m = find_name(STR_METHODS, name, n))) return mk_method(r, obj, m);
        break;
    case JV_LIST:
        if ((m = find_name(LIST_METHODS, name, n))) return mk_method(r, obj, m);
        break;
    case JV_TUPLE:
        if ((m = find_name(TUPLE_METHODS, name, n))) return mk_method(r, obj, m);
        break;
    case JV_LOOP: {
        int found;
        jv v = loop_attr(r, obj.u.loop, name, n, &found);
        if (found) return v;
        break;
    }
    default:
        break;
    }
    return mk_undef(hintf(r, "'%s' has no attribute '%.*s'", obj_desc(obj), (int)n, name));
}

static int64_t as_index(R *r, jv v, int line, const char *what) {
    if (v.t == JV_INT || v.t == JV_BOOL) return num_i(v);
    rfail(r, line, "%s must be integers, not %s", what, type_name(v));
}

/* obj[key]: the item first, then the attribute, as jinja2's getitem. */
static jv get_item(R *r, jv obj, jv key, int line) {
    if (obj.t == JV_UNDEF) fail_undef(r, obj, line);
    switch (obj.t) {
    case JV_DICT: {
        long i = jd_find(obj.u.d, key);
        if (i >= 0) return obj.u.d->v[i];
        break;
    }
    case JV_LIST:
    case JV_TUPLE:
    case JV_STR:
        if (key.t == JV_INT || key.t == JV_BOOL) {
            int64_t i = num_i(key), n;
            if (obj.t == JV_STR) {
                if (is_ascii(obj.u.s)) {
                    n = (int64_t)obj.u.s->len;
                    if (i < 0) i += n;
                    if (i >= 0 && i < n) return mk_strn(&r->mem, obj.u.s->s + i, 1);
                } else {
                    size_t ncp;
                    size_t *off = cp_offsets(r, obj.u.s, &ncp);
                    n = (int64_t)ncp;
                    if (i < 0) i += n;
                    if (i >= 0 && i < n) return mk_strn(&r->mem, obj.u.s->s + off[i], off[i + 1] - off[i]);
                }
            } else {
                n = (int64_t)obj.u.l->n;
                if (i < 0) i += n;
                if (i >= 0 && i < n) return obj.u.l->v[i];
            }
            return mk_undef(hintf(r, "'%s' has no element %" PRId64, obj_desc(obj), num_i(key)));
        }
        break;
    default:
        break;
    }
    if (key.t == JV_STR) {
        if (obj.t == JV_DICT && !find_name(DICT_METHODS, key.u.s->s, key.u.s->len))
            return mk_undef(hintf(r, "'%s' has no attribute '%s'", obj_desc(obj), key.u.s->s));
        return get_attr(r, obj, key.u.s->s, key.u.s->len, line);
    }
    sbuf b;
    sb_init(&b, &r->mem);
    to_repr(r, &b, key);
    return mk_undef(hintf(r, "'%s' has no element %s", obj_desc(obj), b.p ? b.p : ""));
}

/* Python slice semantics (PySlice_AdjustIndices). */
static jv do_slice(R *r, jv obj, jv start, jv stop, jv step, int line) {
    if (obj.t == JV_UNDEF) fail_undef(r, obj, line);
    if (obj.t != JV_STR && !is_seq(obj)) rfail(r, line, "'%s' object is not subscriptable", type_name(obj));
    int64_t st = 1;
    if (step.t != JV_NONE && step.t != JV_MISSING) st = as_index(r, step, line, "slice indices");
    if (st == 0) rfail(r, line, "slice step cannot be zero");
    size_t ncp = 0, *off = NULL;
    int64_t n;
    if (obj.t == JV_STR) {
        off = cp_offsets(r, obj.u.s, &ncp);
        n = (int64_t)ncp;
    } else
        n = (int64_t)obj.u.l->n;
    int64_t lo, hi;
    if (start.t == JV_NONE || start.t == JV_MISSING) lo = st < 0 ? n - 1 : 0;
    else {
        lo = as_index(r, start, line, "slice indices");
        if (lo < 0) { lo += n; if (lo < 0) lo = st < 0 ? -1 : 0; }
        else if (lo >= n) lo = st < 0 ? n - 1 : n;
    }
    if (stop.t == JV_NONE || stop.t == JV_MISSING) hi = st < 0 ? -1 : n;
    else {
        hi = as_index(r, stop, line, "slice indices");
        if (hi < 0) { hi += n; if (hi < 0) hi = st < 0 ? -1 : 0; }
        else if (hi >= n) hi = st < 0 ? n - 1 : n;
    }
    if (obj.t == JV_STR) {
        sbuf b;
        sb_init(&b, &r->mem);
        sb_add(&b, "", 0);
        for (int64_t i = lo; st > 0 ? i < hi : i > hi; i += st)
            sb_add(&b, obj.u.s->s + off[i], off[i + 1] - off[i]);
        return mk_strn(&r->mem, b.p, b.n);
    }
    jlist *l = jl_new(&r->mem, 0);
    for (int64_t i = lo; st > 0 ? i < hi : i > hi; i += st) jl_push(&r->mem, l, obj.u.l->v[i]);
    return obj.t == JV_LIST ? mk_list(l) : mk_tuple(l);
}

/* ---------------------------------------------------------------- arguments */

typedef struct {
    jv *pos;
    int npos;
    const char **kwn;
    jv *kwv;
    int nkw;
} args_t;

/* Binds positional and keyword arguments to a Python-like signature; params
 * not given are JV_MISSING. */
static void bind_args(R *r, int line, const char *what, const char *const *names, int np,
                      const args_t *a, jv *out) {
    for (int i = 0; i < np; i++) out[i] = V_MISSING;
    if (a->npos > np) rfail(r, line, "%s takes at most %d argument%s (%d given)", what, np, np == 1 ? "" : "s", a->npos);
    for (int i = 0; i < a->npos; i++) out[i] = a->pos[i];
    for (int k = 0; k < a->nkw; k++) {
        int i;
        for (i = 0; i < np; i++)
            if (!strcmp(names[i], a->kwn[k])) break;
        if (i == np) rfail(r, line, "%s got an unexpected keyword argument '%s'", what, a->kwn[k]);
        if (out[i].t != JV_MISSING) rfail(r, line, "%s got multiple values for argument '%s'", what, a->kwn[k]);
        out[i] = a->kwv[k];
    }
}

static jv arg_or(jv v, jv dflt) { return v.t == JV_MISSING ? dflt : v; }

static const char *need_str(R *r, jv v, int line, const char *what) {
    if (v.t != JV_STR) rfail(r, line, "%s must be a string, not %s", what, type_name(v));
    return v.u.s->s;
}

/* ---------------------------------------------------------------- string helpers */

typedef struct {
    uint32_t *c;
    size_t n;
} cps;

static cps to_cps(R *r, const jstr *s) {
    cps o;
    o.c = aalloc(&r->mem, (s->len + 1) * sizeof(uint32_t));
    o.n = 0;
    for (size_t i = 0; i < s->len;) {
        size_t adv;
        o.c[o.n++] = u8_dec(s->s + i, s->len - i, &adv);
        i += adv;
    }
    return o;
}

static jv from_cps(R *r, const uint32_t *c, size_t n) {
    sbuf b;
    sb_init(&b, &r->mem);
    sb_add(&b, "", 0);
    char t[4];
    for (size_t i = 0; i < n; i++) sb_add(&b, t, u8_enc(c[i], t));
    return mk_strn(&r->mem, b.p, b.n);
}

static int cp_cased(uint32_t c) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT;
}
static uint32_t cp_upper(uint32_t c) { return (uint32_t)utf8proc_toupper((utf8proc_int32_t)c); }
static uint32_t cp_lower(uint32_t c) { return (uint32_t)utf8proc_tolower((utf8proc_int32_t)c); }
static uint32_t cp_title(uint32_t c) { return (uint32_t)utf8proc_totitle((utf8proc_int32_t)c); }

enum { CASE_UPPER, CASE_LOWER, CASE_TITLE, CASE_CAPITALIZE, CASE_SWAP };

static jv str_case(R *r, jv s, int mode) {
    cps c = to_cps(r, s.u.s);
    int prev_cased = 0;
    for (size_t i = 0; i < c.n; i++) {
        uint32_t x = c.c[i];
        switch (mode) {
        case CASE_UPPER: c.c[i] = cp_upper(x); break;
        case CASE_LOWER: c.c[i] = cp_lower(x); break;
        case CASE_SWAP: c.c[i] = cp_lower(x) != x ? cp_lower(x) : cp_upper(x); break;
        case CASE_CAPITALIZE: c.c[i] = i == 0 ? cp_title(x) : cp_lower(x); break;
        case CASE_TITLE: {
            int cased = cp_cased(x);
            c.c[i] = prev_cased ? cp_lower(x) : cp_title(x);
            prev_cased = cased;
            break;
        }
        }
    }
    return from_cps(r, c.c, c.n);
}

static int in_set(uint32_t c, const cps *set) {
    for (size_t i = 0; i < set->n; i++)
        if (set->c[i] == c) return 1;
    return 0;
}

/* which: 1 left, 2 right, 3 both; chars NULL: whitespace. */
static jv str_strip(R *r, jv s, jv chars, int which, int line) {
    cps set = {NULL, 0};
    int ws = chars.t == JV_MISSING || chars.t == JV_NONE;
    if (!ws) {
        need_str(r, chars, line, "strip argument");
        set = to_cps(r, chars.u.s);
    }
    cps c = to_cps(r, s.u.s);
    size_t lo = 0, hi = c.n;
    if (which & 1) while (lo < hi && (ws ? py_space(c.c[lo]) : in_set(c.c[lo], &set))) lo++;
    if (which & 2) while (hi > lo && (ws ? py_space(c.c[hi - 1]) : in_set(c.c[hi - 1], &set))) hi--;
    return from_cps(r, c.c + lo, hi - lo);
}

static const char *memfind(const char *h, size_t hn, const char *nd, size_t nn) {
    if (nn == 0) return h;
    if (nn > hn) return NULL;
    for (size_t i = 0; i + nn <= hn; i++)
        if (h[i] == nd[0] && !memcmp(h + i, nd, nn)) return h + i;
    return NULL;
}

static const char *memrfind(const char *h, size_t hn, const char *nd, size_t nn) {
    if (nn > hn) return NULL;
    for (size_t i = hn - nn + 1; i-- > 0;)
        if (!memcmp(h + i, nd, nn)) return h + i;
    return NULL;
}

static jv str_split(R *r, jv s, jv sep, jv maxsplit, int right, int line) {
    int64_t max = maxsplit.t == JV_MISSING ? -1 : as_index(r, maxsplit, line, "maxsplit");
    jlist *l = jl_new(&r->mem, 0);
    const char *p = s.u.s->s;
    size_t n = s.u.s->len;
    if (sep.t == JV_MISSING || sep.t == JV_NONE) {
        cps c = to_cps(r, s.u.s);
        /* split on runs of whitespace; work in code points, then rebuild */
        size_t *st = aalloc(&r->mem, (c.n + 1) * sizeof(size_t)), *en = aalloc(&r->mem, (c.n + 1) * sizeof(size_t));
        size_t nw = 0;
        if (!right) {
            size_t i = 0;
            while (i < c.n) {
                while (i < c.n && py_space(c.c[i])) i++;
                if (i >= c.n) break;
                if (max >= 0 && (int64_t)nw == max) {
                    size_t e = c.n;
                    while (e > i && py_space(c.c[e - 1])) e--;
                    st[nw] = i; en[nw++] = e;
                    break;
                }
                size_t j = i;
                while (j < c.n && !py_space(c.c[j])) j++;
                st[nw] = i; en[nw++] = j;
                i = j;
            }
            for (size_t k = 0; k < nw; k++) jl_push(&r->mem, l, from_cps(r, c.c + st[k], en[k] - st[k]));
        } else {
            size_t i = c.n;
            while (i > 0) {
                while (i > 0 && py_space(c.c[i - 1])) i--;
                if (i == 0) break;
                if (max >= 0 && (int64_t)nw == max) {
                    size_t b = 0;
                    while (b < i && py_space(c.c[b])) b++;
                    st[nw] = b; en[nw++] = i;
                    break;
                }
                size_t j = i;
                while (j > 0 && !py_space(c.c[j - 1])) j--;
                st[nw] = j; en[nw++] = i;
                i = j;
            }
            for (size_t k = nw; k-- > 0;) jl_push(&r->mem, l, from_cps(r, c.c + st[k], en[k] - st[k]));
        }
        return mk_list(l);
    }
    need_str(r, sep, line, "separator");
    const char *d = sep.u.s->s;
    size_t dn = sep.u.s->len;
    if (!dn) rfail(r, line, "empty separator");
    if (!right) {
        int64_t k = 0;
        for (;;) {
            const char *f = (max < 0 || k < max) ? memfind(p, n, d, dn) : NULL;
            if (!f) { jl_push(&r->mem, l, mk_strn(&r->mem, p, n)); break; }
            jl_push(&r->mem, l, mk_strn(&r->mem, p, (size_t)(f - p)));
            n -= (size_t)(f - p) + dn;
            p = f + dn;
            k++;
        }
        return mk_list(l);
    }
    jlist *rev = jl_new(&r->mem, 0);
    int64_t k = 0;
    for (;;) {
        const char *f = (max < 0 || k < max) ? memrfind(p, n, d, dn) : NULL;
        if (!f) { jl_push(&r->mem, rev, mk_strn(&r->mem, p, n)); break; }
        jl_push(&r->mem, rev, mk_strn(&r->mem, f + dn, n - (size_t)(f - p) - dn));
        n = (size_t)(f - p);
        k++;
    }
    for (size_t i = rev->n; i-- > 0;) jl_push(&r->mem, l, rev->v[i]);
    return mk_list(l);
}

static jv str_replace(R *r, jv s, jv old, jv nw, jv count, int line) {
    need_str(r, old, line, "replace() argument 1");
    need_str(r, nw, line, "replace() argument 2");
    int64_t max = count.t == JV_MISSING ? -1 : as_index(r, count, line, "count");
    sbuf b;
    sb_init(&b, &r->mem);
    sb_add(&b, "", 0);
    const char *p = s.u.s->s;
    size_t n = s.u.s->len;
    int64_t k = 0;
    if (old.u.s->len == 0) {
        /* Python inserts the new string before every code point and at the end */
        size_t i = 0;
        while (i <= n) {
            if (max < 0 || k < max) { sb_add(&b, nw.u.s->s, nw.u.s->len); k++; }
            if (i == n) break;
            size_t adv;
            u8_dec(p + i, n - i, &adv);
            sb_add(&b, p + i, adv);
            i += adv;
        }
        return mk_strn(&r->mem, b.p, b.n);
    }
    for (;;) {
        const char *f = (max < 0 || k < max) ? memfind(p, n, old.u.s->s, old.u.s->len) : NULL;
        if (!f) { sb_add(&b, p, n); break; }
        sb_add(&b, p, (size_t)(f - p));
        sb_add(&b, nw.u.s->s, nw.u.s->len);
        n -= (size_t)(f - p) + old.u.s->len;
        p = f + old.u.s->len;
        k++;
        if (b.n > JJ_MAX_OUTPUT) rfail(r, line, "replace() result too large");
    }
    return mk_strn(&r->mem, b.p, b.n);
}

static int affix_match(R *r, jv s, jv affix, int end, int line) {
    if (affix.t == JV_TUPLE) {
        for (size_t i = 0; i < affix.u.l->n; i++)
            if (affix_match(r, s, affix.u.l->v[i], end, line)) return 1;
        return 0;
    }
    if (affix.t != JV_STR)
        rfail(r, line, "%s first arg must be str or a tuple of str, not %s", end ? "endswith" : "startswith",
              type_name(affix));
    size_t n = affix.u.s->len;
    if (n > s.u.s->len) return 0;
    return !memcmp(s.u.s->s + (end ? s.u.s->len - n : 0), affix.u.s->s, n);
}

static jv str_join(R *r, jv sep, jv items, int line) {
    jlist *l = iter_items(r, items, line);
    sbuf b;
    sb_init(&b, &r->mem);
    sb_add(&b, "", 0);
    for (size_t i = 0; i < l->n; i++) {
        if (l->v[i].t != JV_STR)
            rfail(r, line, "sequence item %zu: expected str instance, %s found", i, type_name(l->v[i]));
        if (i) sb_add(&b, sep.u.s->s, sep.u.s->len);
        sb_add(&b, l->v[i].u.s->s, l->v[i].u.s->len);
    }
    return mk_strn(&r->mem, b.p, b.n);
}

static int is_linebreak(uint32_t c) {
    return c == '\n' || c == '\r' || c == 0x0b || c == 0x0c || c == 0x1c || c == 0x1d || c == 0x1e ||
           c == 0x85 || c == 0x2028 || c == 0x2029;
}

static jlist *str_splitlines(R *r, jv s) {
    cps c = to_cps(r, s.u.s);
    jlist *l = jl_new(&r->mem, 0);
    size_t i = 0;
    while (i < c.n) {
        size_t j = i;
        while (j < c.n && !is_linebreak(c.c[j])) j++;
        jl_push(&r->mem, l, from_cps(r, c.c + i, j - i));
        if (j < c.n && c.c[j] == '\r' && j + 1 < c.n && c.c[j + 1] == '\n') j++;
        i = j + 1;
    }
    return l;
}

/* Code-point index of a byte offset. */
static int64_t cp_index(const jstr *s, size_t byte) { return (int64_t)u8_count(s->s, byte); }

static int str_pred(jv s, const char *which) {
    cps c;
    size_t n = s.u.s->len;
    int any = 0, cased_lower = 0, cased_upper = 0;
    if (!strcmp(which, "isascii")) {
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)s.u.s->s[i] >= 0x80) return 0;
        return 1;
    }
    /* small helper decode without arena */
    for (size_t i = 0; i < n;) {
        size_t adv;
        uint32_t x = u8_dec(s.u.s->s + i, n - i, &adv);
        i += adv;
        utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)x);
        int alpha = k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT ||
                    k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_LO;
        int digit = k == UTF8PROC_CATEGORY_ND || (k == UTF8PROC_CATEGORY_NO && x >= 0xB2 && x <= 0x2089);
        int numeric = k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
        any = 1;
        if (!strcmp(which, "isdigit") && !digit) return 0;
        if (!strcmp(which, "isdecimal") && k != UTF8PROC_CATEGORY_ND) return 0;
        if (!strcmp(which, "isnumeric") && !numeric) return 0;
        if (!strcmp(which, "isalpha") && !alpha) return 0;
        if (!strcmp(which, "isalnum") && !alpha && !numeric) return 0;
        if (!strcmp(which, "isspace") && !py_space(x)) return 0;
        if (!strcmp(which, "isprintable") && !py_printable(x)) return 0;
        if (k == UTF8PROC_CATEGORY_LL) cased_lower = 1;
        if (k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LT) cased_upper = 1;
    }
    (void)c;
    if (!strcmp(which, "islower")) return cased_lower && !cased_upper;
    if (!strcmp(which, "isupper")) return cased_upper && !cased_lower;
    if (!strcmp(which, "isprintable")) return 1;
    return any;
}

/* ---------------------------------------------------------------- methods */

static jv call_macro(R *r, stmt *m, const args_t *a, int line);

static jv call_method(R *r, jmethod *m, const args_t *a, int line) {
    jv self = m->self;
    const char *n = m->name;
    char what[64];
    snprintf(what, sizeof what, "%s.%s()", type_name(self), n);
    jv v[3];
#define SIG(...) do { static const char *const nm_[] = {__VA_ARGS__}; \
        bind_args(r, line, what, nm_, (int)(sizeof nm_ / sizeof nm_[0]), a, v); } while (0)
#define NOARGS() bind_args(r, line, what, NULL, 0, a, v)
    if (self.t == JV_LOOP) {
        /* loop.cycle(*args) */
        if (a->nkw) rfail(r, line, "loop.cycle() takes no keyword arguments");
        if (!a->npos) rfail(r, line, "no items for cycling given");
        return a->pos[self.u.loop->index0 % a->npos];
    }
    if (self.t == JV_STR) {
        if (!strcmp(n, "strip") || !strcmp(n, "lstrip") || !strcmp(n, "rstrip")) {
            SIG("chars");
            return str_strip(r, self, v[0], n[0] == 'l' ? 1 : n[0] == 'r' ? 2 : 3, line);
        }
        if (!strcmp(n, "split") || !strcmp(n, "rsplit")) {
            SIG("sep", "maxsplit");
            return str_split(r, self, v[0], v[1], n[0] == 'r', line);
        }
        if (!strcmp(n, "startswith") || !strcmp(n, "endswith")) {
            if (a->npos != 1 || a->nkw) rfail(r, line, "%s takes exactly one argument here", what);
            return mk_bool(affix_match(r, self, a->pos[0], n[0] == 'e', line));
        }
        if (!strcmp(n, "upper")) { NOARGS(); return str_case(r, self, CASE_UPPER); }
        if (!strcmp(n, "lower") || !strcmp(n, "casefold")) { NOARGS(); return str_case(r, self, CASE_LOWER); }
        if (!strcmp(n, "title")) { NOARGS(); return str_case(r, self, CASE_TITLE); }
        if (!strcmp(n, "capitalize")) { NOARGS(); return str_case(r, self, CASE_CAPITALIZE); }
        if (!strcmp(n, "swapcase")) { NOARGS(); return str_case(r, self, CASE_SWAP); }
        if (!strcmp(n, "replace")) {
            SIG("old", "new", "count");
            if (v[0].t == JV_MISSING || v[1].t == JV_MISSING) rfail(r, line, "%s needs two arguments", what);
            return str_replace(r, self, v[0], v[1], v[2], line);
        }
        if (!strcmp(n, "find") || !strcmp(n, "rfind") || !strcmp(n, "index") || !strcmp(n, "rindex") ||
            !strcmp(n, "count")) {
            if (a->npos != 1 || a->nkw) rfail(r, line, "%s takes exactly one argument here", what);
            need_str(r, a->pos[0], line, what);
            const jstr *h = self.u.s, *d = a->pos[0].u.s;
            if (!strcmp(n, "count")) {
                int64_t c = 0;
                if (!d->len) return mk_int((int64_t)u8_count(h->s, h->len) + 1);
                const char *p = h->s;
                size_t left = h->len;
                const char *f;
                while ((f = memfind(p, left, d->s, d->len))) {
                    c++;
                    left -= (size_t)(f - p) + d->len;
                    p = f + d->len;
                }
                return mk_int(c);
            }
            const char *f = n[0] == 'r' ? memrfind(h->s, h->len, d->s, d->len) : memfind(h->s, h->len, d->s, d->len);
            if (!f) {
                if (strstr(n, "index")) rfail(r, line, "substring not found");
                return mk_int(-1);
            }
            return mk_int(cp_index(h, (size_t)(f - h->s)));
        }
        if (!strcmp(n, "join")) {
            if (a->npos != 1 || a->nkw) rfail(r, line, "%s takes exactly one argument", what);
            return str_join(r, self, a->pos[0], line);
        }
        if (!strcmp(n, "splitlines")) { NOARGS(); return mk_list(str_splitlines(r, self)); }
        if (!strcmp(n, "removeprefix") || !strcmp(n, "removesuffix")) {
            if (a->npos != 1 || a->nkw) rfail(r, line, "%s takes exactly one argument", what);
            need_str(r, a->pos[0], line, what);
            int end = n[6] == 's';
            if (!affix_match(r, self, a->pos[0], end, line)) return self;
            size_t k = a->pos[0].u.s->len;
            return mk_strn(&r->mem, self.u.s->s + (end ? 0 : k), self.u.s->len - k);
        }
        if (!strncmp(n, "is", 2) && strcmp(n, "istitle") && strcmp(n, "isidentifier")) {
            NOARGS();
            return mk_bool(str_pred(self, n));
        }
        rfail(r, line, "unsupported string method '%s'", n);
    }
    if (self.t == JV_DICT) {
        jdict *d = self.u.d;
        if (!strcmp(n, "items") || !strcmp(n, "keys") || !strcmp(n, "values")) {
            NOARGS();
            jlist *l = jl_new(&r->mem, d->n);
            for (size_t i = 0; i < d->n; i++) {
                if (n[0] == 'k') l->v[l->n++] = d->k[i];
                else if (n[0] == 'v') l->v[l->n++] = d->v[i];
                else {
                    jlist *pair = jl_new(&r->mem, 2);
                    pair->v[0] = d->k[i];
                    pair->v[1] = d->v[i];
                    pair->n = 2;
                    l->v[l->n++] = mk_tuple(pair);
                }
            }
            return mk_list(l);
        }
        if (!strcmp(n, "get")) {
            SIG("key", "default");
            if (v[0].t == JV_MISSING) rfail(r, line, "%s needs a key", what);
            long i = jd_find(d, v[0]);
            return i >= 0 ? d->v[i] : arg_or(v[1], V_NONE);
        }
        if (!strcmp(n, "copy")) {
            NOARGS();
            jdict *c = jd_new(&r->mem);
            for (size_t i = 0; i < d->n; i++) jd_set(&r->mem, c, d->k[i], d->v[i]);
            return mk_dict(c);
        }
        rfail(r, line, "access to attribute '%s' of 'dict' object is unsafe (templates cannot modify values)", n);
    }
    if (is_seq(self)) {
        jlist *l = self.u.l;
        if (!strcmp(n, "index") || !strcmp(n, "count")) {
            if (a->npos != 1 || a->nkw) rfail(r, line, "%s takes exactly one argument here", what);
            int64_t c = 0;
            for (size_t i = 0; i < l->n; i++)
                if (jv_eq(l->v[i], a->pos[0])) {
                    if (n[0] == 'i') return mk_int((int64_t)i);
                    c++;
                }
            if (n[0] == 'i') rfail(r, line, "%s: value is not in %s", what, type_name(self));
            return mk_int(c);
        }
        if (!strcmp(n, "copy")) {
            NOARGS();
            jlist *c = jl_new(&r->mem, l->n);
            memcpy(c->v, l->v, l->n * sizeof(jv));
            c->n = l->n;
            return mk_list(c);
        }
        rfail(r, line, "access to attribute '%s' of '%s' object is unsafe (templates cannot modify values)", n,
              type_name(self));
    }
#undef SIG
#undef NOARGS
    rfail(r, line, "unsupported method '%s'", n);
}

/* ---------------------------------------------------------------- global functions */

enum { FN_RANGE = 1, FN_DICT, FN_NAMESPACE, FN_RAISE, FN_STRFTIME, FN_LIPSUM, FN_CYCLER, FN_JOINER };

static const struct { const char *name; int id; } GLOBAL_FNS[] = {
    {"range", FN_RANGE}, {"dict", FN_DICT}, {"namespace", FN_NAMESPACE},
    {"raise_exception", FN_RAISE}, {"strftime_now", FN_STRFTIME}, {"lipsum", FN_LIPSUM},
    {"cycler", FN_CYCLER}, {"joiner", FN_JOINER},
};

static void fill_mapping(R *r, jdict *d, jv src, int line, const char *what) {
    if (src.t == JV_DICT || src.t == JV_NS) {
        for (size_t i = 0; i < src.u.d->n; i++) jd_set(&r->mem, d, src.u.d->k[i], src.u.d->v[i]);
        return;
    }
    jlist *l = iter_items(r, src, line);
    for (size_t i = 0; i < l->n; i++) {
        jlist *pair = is_seq(l->v[i]) ? l->v[i].u.l : NULL;
        if (!pair || pair->n != 2)
            rfail(r, line, "%s: element #%zu of the sequence is not a pair", what, i);
        jd_set(&r->mem, d, pair->v[0], pair->v[1]);
    }
}

static jv call_fn(R *r, int id, const args_t *a, int line) {
    switch (id) {
    case FN_RANGE: {
        if (a->nkw) rfail(r, line, "range() takes no keyword arguments");
        if (a->npos < 1 || a->npos > 3) rfail(r, line, "range expected 1 to 3 arguments, got %d", a->npos);
        int64_t lo = 0, hi, st = 1;
        if (a->npos == 1) hi = as_index(r, a->pos[0], line, "range() arguments");
        else {
            lo = as_index(r, a->pos[0], line, "range() arguments");
            hi = as_index(r, a->pos[1], line, "range() arguments");
            if (a->npos == 3) st = as_index(r, a->pos[2], line, "range() arguments");
        }
        if (st == 0) rfail(r, line, "range() arg 3 must not be zero");
        int64_t cnt = 0;
        if (st > 0 && hi > lo) cnt = (int64_t)(((uint64_t)hi - (uint64_t)lo - 1) / (uint64_t)st + 1);
        if (st < 0 && lo > hi) cnt = (int64_t)(((uint64_t)lo - (uint64_t)hi - 1) / (uint64_t)(-(st + 1) + 1) + 1);
        if (cnt > JJ_MAX_RANGE)
            rfail(r, line, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (%d).", JJ_MAX_RANGE);
        jlist *l = jl_new(&r->mem, (size_t)cnt);
        for (int64_t i = 0; i < cnt; i++) l->v[l->n++] = mk_int(lo + i * st);
        return mk_list(l);
    }
    case FN_DICT:
    case FN_NAMESPACE: {
        jdict *d = jd_new(&r->mem);
        const char *what = id == FN_DICT ? "dict()" : "namespace()";
        if (a->npos > 1) rfail(r, line, "%s expected at most 1 positional argument, got %d", what, a->npos);
        if (a->npos == 1) fill_mapping(r, d, a->pos[0], line, what);
        for (int i = 0; i < a->nkw; i++) jd_set(&r->mem, d, mk_str(&r->mem, a->kwn[i]), a->kwv[i]);
        jv v = {id == FN_DICT ? JV_DICT : JV_NS, {0}};
        v.u.d = d;
        return v;
    }
    case FN_RAISE: {
        if (a->npos != 1 || a->nkw) rfail(r, line, "raise_exception() takes exactly one argument");
        jv m = str_of(r, a->pos[0]);
        /* the message is the template's own words: report it unchanged */
        r->err->line = line;
        snprintf(r->err->msg, sizeof r->err->msg, "%s", m.u.s->s);
        longjmp(r->jb, 1);
    }
    case FN_STRFTIME: {
        if (a->npos != 1 || a->nkw) rfail(r, line, "strftime_now() takes exactly one argument");
        const char *fmt = need_str(r, a->pos[0], line, "strftime_now() format");
        if (!*fmt) return mk_str(&r->mem, "");
        locale_t c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
        if (!c) rfail(r, line, "strftime_now: cannot create the C locale");
        size_t cap = strlen(fmt) * 16 + 64;
        char *buf = aalloc(&r->mem, cap);
        size_t n = strftime_l(buf, cap, fmt, &r->now, c);
        freelocale(c);
        if (n == 0) rfail(r, line, "strftime_now: format '%s' gives an empty or too long result", fmt);
        return mk_strn(&r->mem, buf, n);
    }
    default: {
        const char *name = "?";
        for (size_t i = 0; i < sizeof GLOBAL_FNS / sizeof GLOBAL_FNS[0]; i++)
            if (GLOBAL_FNS[i].id == id) name = GLOBAL_FNS[i].name;
        rfail(r, line, "unsupported function '%s'", name);
    }
    }
}

static jv call_value(R *r, jv f, const args_t *a, int line) {
    switch (f.t) {
    case JV_FUNC: return call_fn(r, f.u.fn, a, line);
    case JV_METHOD: return call_method(r, f.u.m, a, line);
    case JV_MACRO: return call_macro(r, f.u.macro, a, line);
    case JV_UNDEF: fail_undef(r, f, line);
    default: rfail(r, line, "'%s' object is not callable", type_name(f));
    }
}

/* ---------------------------------------------------------------- filters & tests tables */

enum {
    F_ABS, F_ATTR, F_CAPITALIZE, F_CENTER, F_COUNT, F_D, F_DEFAULT, F_DICTSORT, F_E, F_ESCAPE,
    F_FIRST, F_FLOAT, F_FORCEESCAPE, F_INDENT, F_INT, F_ITEMS, F_JOIN, F_LAST, F_LENGTH, F_LIST,
    F_LOWER, F_MAP, F_MAX, F_MIN, F_REJECT, F_REJECTATTR, F_REPLACE, F_REVERSE, F_ROUND, F_SAFE,
    F_SELECT, F_SELECTATTR, F_SORT, F_STRING, F_SUM, F_TITLE, F_TOJSON, F_TRIM, F_UNIQUE, F_UPPER,
    F_WORDCOUNT, F_COUNT_
};

static const char *const FILTER_NAMES[] = {
    "abs", "attr", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape",
    "first", "float", "forceescape", "indent", "int", "items", "join", "last", "length", "list",
    "lower", "map", "max", "min", "reject", "rejectattr", "replace", "reverse", "round", "safe",
    "select", "selectattr", "sort", "string", "sum", "title", "tojson", "trim", "unique", "upper",
    "wordcount",
};

static int filter_lookup(const char *name) {
    for (int i = 0; i < F_COUNT_; i++)
        if (!strcmp(FILTER_NAMES[i], name)) return i;
    return -1;
}

enum {
    X_BOOLEAN, X_CALLABLE, X_DEFINED, X_DIVISIBLEBY, X_EQ, X_EQUALTO, X_ESCAPED, X_EVEN, X_FALSE,
    X_FILTER, X_FLOAT, X_GE, X_GREATERTHAN, X_GT, X_IN, X_INTEGER, X_ITERABLE, X_LE, X_LESSTHAN,
    X_LOWER, X_LT, X_MAPPING, X_NE, X_NONE, X_NUMBER, X_ODD, X_SAMEAS, X_SEQUENCE, X_STRING,
    X_TEST, X_TRUE, X_UNDEFINED, X_UPPER, X_OP_EQ, X_OP_NE, X_OP_LT, X_OP_LE, X_OP_GT, X_OP_GE,
    X_COUNT_
};

static const char *const TEST_NAMES[] = {
    "boolean", "callable", "defined", "divisibleby", "eq", "equalto", "escaped", "even", "false",
    "filter", "float", "ge", "greaterthan", "gt", "in", "integer", "iterable", "le", "lessthan",
    "lower", "lt", "mapping", "ne", "none", "number", "odd", "sameas", "sequence", "string",
    "test", "true", "undefined", "upper", "==", "!=", "<", "<=", ">", ">=",
};

static int test_lookup(const char *name) {
    for (int i = 0; i < X_COUNT_; i++)
        if (!strcmp(TEST_NAMES[i], name)) return i;
    return -1;
}

static int do_test(R *r, int id, jv v, const args_t *a, int line) {
    jv arg = a->npos ? a->pos[0] : V_MISSING;
    if (a->nkw || a->npos > 1) rfail(r, line, "test '%s' takes at most one positional argument", TEST_NAMES[id]);
    int needs_arg = id == X_DIVISIBLEBY || id == X_EQ || id == X_EQUALTO || id == X_GE ||
                    id == X_GREATERTHAN || id == X_GT || id == X_IN || id == X_LE || id == X_LESSTHAN ||
                    id == X_LT || id == X_NE || id == X_SAMEAS || id >= X_OP_EQ;
    if (needs_arg && arg.t == JV_MISSING) rfail(r, line, "test '%s' needs an argument", TEST_NAMES[id]);
    switch (id) {
    case X_BOOLEAN: return v.t == JV_BOOL;
    case X_CALLABLE: return v.t == JV_FUNC || v.t == JV_METHOD || v.t == JV_MACRO;
    case X_DEFINED: return v.t != JV_UNDEF;
    case X_UNDEFINED: return v.t == JV_UNDEF;
    case X_DIVISIBLEBY: {
        jv m = arith(r, OP_MOD, v, arg, line);
        return is_num(m) && num_f(m) == 0;
    }
    case X_EQ: case X_EQUALTO: case X_OP_EQ: return jv_eq(v, arg);
    case X_NE: case X_OP_NE: return !jv_eq(v, arg);
    case X_ESCAPED: return 0;
    case X_EVEN: case X_ODD: {
        jv m = arith(r, OP_MOD, v, mk_int(2), line);
        return (num_f(m) == 0) == (id == X_EVEN);
    }
    case X_FALSE: return v.t == JV_BOOL && !v.u.b;
    case X_TRUE: return v.t == JV_BOOL && v.u.b;
    case X_FILTER: return v.t == JV_STR && filter_lookup(v.u.s->s) >= 0;
    case X_TEST: return v.t == JV_STR && test_lookup(v.u.s->s) >= 0;
    case X_FLOAT: return v.t == JV_FLOAT;
    case X_INTEGER: return v.t == JV_INT;
    case X_NUMBER: return is_num(v);
    case X_GE: case X_OP_GE: return jv_cmp(r, v, arg, OP_GE, line) >= 0;
    case X_GT: case X_GREATERTHAN: case X_OP_GT: return jv_cmp(r, v, arg, OP_GT, line) > 0;
    case X_LE: case X_OP_LE: return jv_cmp(r, v, arg, OP_LE, line) <= 0;
    case X_LT: case X_LESSTHAN: case X_OP_LT: return jv_cmp(r, v, arg, OP_LT, line) < 0;
    case X_IN: {
        if (arg.t == JV_STR) {
            if (v.t != JV_STR) rfail(r, line, "'in <string>' requires string as left operand, not %s", type_name(v));
            return memfind(arg.u.s->s, arg.u.s->len, v.u.s->s, v.u.s->len) != NULL;
        }
        if (arg.t == JV_DICT) return jd_find(arg.u.d, v) >= 0;
        jlist *l = iter_items(r, arg, line);
        for (size_t i = 0; i < l->n; i++)
            if (jv_eq(l->v[i], v)) return 1;
        return 0;
    }
    case X_ITERABLE:
        return v.t == JV_UNDEF || v.t == JV_STR || v.t == JV_LIST || v.t == JV_TUPLE || v.t == JV_DICT ||
               v.t == JV_LOOP;
    case X_SEQUENCE:
        return v.t == JV_UNDEF || v.t == JV_STR || v.t == JV_LIST || v.t == JV_TUPLE || v.t == JV_DICT;
    case X_LOWER: return str_pred(str_of(r, v), "islower");
    case X_UPPER: return str_pred(str_of(r, v), "isupper");
    case X_MAPPING: return v.t == JV_DICT;
    case X_NONE: return v.t == JV_NONE;
    case X_STRING: return v.t == JV_STR;
    case X_SAMEAS:
        if (v.t != arg.t) return 0;
        if (v.t == JV_NONE || v.t == JV_UNDEF) return 1;
        if (v.t == JV_BOOL) return v.u.b == arg.u.b;
        if (v.t == JV_INT) return v.u.i == arg.u.i && v.u.i >= -5 && v.u.i <= 256; /* CPython small ints */
        return memcmp(&v.u, &arg.u, sizeof v.u) == 0;
    }
    rfail(r, line, "internal error: test id %d", id);
}

/* ---------------------------------------------------------------- filters */

static jv do_filter(R *r, int id, jv in, const args_t *a, int line);

/* jinja2's make_attrgetter: "a.b.0" looked up item by item. */
static jv attr_path(R *r, jv obj, jv attr, int line) {
    if (attr.t == JV_INT) return get_item(r, obj, attr, line);
    const char *s = need_str(r, attr, line, "attribute");
    const char *p = s;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        int num = n > 0;
        for (size_t i = 0; i < n; i++) num &= is_digit(p[i]);
        jv key = num ? mk_int(strtoll(p, NULL, 10)) : mk_strn(&r->mem, p, n);
        obj = get_item(r, obj, key, line);
        if (!dot) break;
        if (obj.t == JV_UNDEF) break;
        p = dot + 1;
    }
    return obj;
}

static jv sort_key(R *r, jv v, jv attr, int case_sensitive, int line) {
    if (attr.t != JV_MISSING && attr.t != JV_NONE) v = attr_path(r, v, attr, line);
    if (!case_sensitive && v.t == JV_STR) v = str_case(r, v, CASE_LOWER);
    return v;
}

/* Stable merge sort of l->v by keys. */
static void sort_by_keys(R *r, jv *items, jv *keys, size_t n, int reverse, int line) {
    if (n < 2) return;
    size_t h = n / 2;
    sort_by_keys(r, items, keys, h, reverse, line);
    sort_by_keys(r, items + h, keys + h, n - h, reverse, line);
    jv *ti = aalloc(&r->mem, n * sizeof(jv)), *tk = aalloc(&r->mem, n * sizeof(jv));
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        int c = jv_cmp(r, keys[j], keys[i], OP_LT, line);
        int take_right = reverse ? c > 0 : c < 0;
        if (take_right) { ti[k] = items[j]; tk[k++] = keys[j++]; }
        else { ti[k] = items[i]; tk[k++] = keys[i++]; }
    }
    while (i < h) { ti[k] = items[i]; tk[k++] = keys[i++]; }
    while (j < n) { ti[k] = items[j]; tk[k++] = keys[j++]; }
    memcpy(items, ti, n * sizeof(jv));
    memcpy(keys, tk, n * sizeof(jv));
}

static jlist *copy_list(R *r, jlist *src) {
    jlist *l = jl_new(&r->mem, src->n);
    if (src->n) memcpy(l->v, src->v, src->n * sizeof(jv));
    l->n = src->n;
    return l;
}

/* select/reject/selectattr/rejectattr */
static jv do_select(R *r, jv in, const args_t *a, int by_attr, int keep, int line) {
    int k = 0;
    jv attr = V_MISSING;
    if (a->nkw) rfail(r, line, "select filters take no keyword arguments");
    if (by_attr) {
        if (a->npos < 1) rfail(r, line, "selectattr/rejectattr need an attribute name");
        attr = a->pos[k++];
    }
    int tid = -1;
    if (k < a->npos) {
        const char *tn = need_str(r, a->pos[k++], line, "test name");
        tid = test_lookup(tn);
        if (tid < 0) rfail(r, line, "no test named '%s'", tn);
    }
    args_t ta = {a->pos + k, a->npos - k, NULL, NULL, 0};
    jlist *src = iter_items(r, in, line);
    jlist *out = jl_new(&r->mem, 0);
    for (size_t i = 0; i < src->n; i++) {
        jv x = by_attr ? attr_path(r, src->v[i], attr, line) : src->v[i];
        int ok = tid < 0 ? truthy(x) : do_test(r, tid, x, &ta, line);
        if (ok == keep) jl_push(&r->mem, out, src->v[i]);
    }
    return mk_list(out);
}

static jv do_filter(R *r, int id, jv in, const args_t *a, int line) {
    const char *fname = FILTER_NAMES[id];
    jv v[4];
#define SIG(...) do { static const char *const nm_[] = {__VA_ARGS__}; \
        bind_args(r, line, fname, nm_, (int)(sizeof nm_ / sizeof nm_[0]), a, v); } while (0)
#define NOARGS() bind_args(r, line, fname, NULL, 0, a, v)
    switch (id) {
    case F_ABS:
        NOARGS();
        if (in.t == JV_INT) {
            if (in.u.i == INT64_MIN) rfail(r, line, "integer overflow in abs");
            return mk_int(in.u.i < 0 ? -in.u.i : in.u.i);
        }
        if (in.t == JV_BOOL) return mk_int(in.u.b);
        if (in.t == JV_FLOAT) return mk_float(fabs(in.u.f));
        rfail(r, line, "bad operand type for abs(): '%s'", type_name(in));
    case F_ATTR: {
        SIG("name");
        const char *n = need_str(r, v[0], line, "attr name");
        if (in.t == JV_UNDEF) fail_undef(r, in, line);
        if (in.t == JV_DICT) {
            const char *m = find_name(DICT_METHODS, n, strlen(n));
            return m ? mk_method(r, in, m) : mk_undef(hintf(r, "'%s' has no attribute '%s'", obj_desc(in), n));
        }
        return get_attr(r, in, n, strlen(n), line);
    }
    case F_CAPITALIZE: NOARGS(); return str_case(r, str_of(r, in), CASE_CAPITALIZE);
    case F_TITLE: {
        /* jinja2: split at runs of [-\s({[<], upper-case each piece's first char, lower the rest */
        NOARGS();
        cps c = to_cps(r, str_of(r, in).u.s);
        int start = 1;
        for (size_t i = 0; i < c.n; i++) {
            uint32_t x = c.c[i];
            int sep = x == '-' || x == '(' || x == '{' || x == '[' || x == '<' || py_space(x);
            if (sep) { start = 1; continue; }
            c.c[i] = start ? cp_upper(x) : cp_lower(x);
            start = 0;
        }
        return from_cps(r, c.c, c.n);
    }
    case F_UPPER: NOARGS(); return str_case(r, str_of(r, in), CASE_UPPER);
    case F_LOWER: NOARGS(); return str_case(r, str_of(r, in), CASE_LOWER);
    case F_CENTER: {
        SIG("width");
        int64_t w = v[0].t == JV_MISSING ? 80 : as_index(r, v[0], line, "width");
        jv s = str_of(r, in);
        int64_t len = (int64_t)u8_count(s.u.s->s, s.u.s->len);
        if (w <= len) return s;
        if (w > (int64_t)JJ_MAX_OUTPUT) rfail(r, line, "center width too large");
        int64_t pad = w - len, left = pad / 2 + (pad & w & 1);
        sbuf b;
        sb_init(&b, &r->mem);
        for (int64_t i = 0; i < left; i++) sb_addc(&b, ' ');
        sb_add(&b, s.u.s->s, s.u.s->len);
        for (int64_t i = 0; i < pad - left; i++) sb_addc(&b, ' ');
        return mk_strn(&r->mem, b.p, b.n);
    }
    case F_COUNT:
    case F_LENGTH: NOARGS(); return mk_int(jv_len(r, in, line));
    case F_D:
    case F_DEFAULT:
        SIG("default_value", "boolean");
        if (in.t == JV_UNDEF || (truthy(arg_or(v[1], mk_bool(0))) && !truthy(in)))
            return arg_or(v[0], mk_str(&r->mem, ""));
        return in;
    case F_DICTSORT: {
        SIG("case_sensitive", "by", "reverse");
        if (in.t != JV_DICT) rfail(r, line, "dictsort expects a mapping, not %s", type_name(in));
        int by_value = 0;
        if (v[1].t != JV_MISSING) {
            const char *by = need_str(r, v[1], line, "dictsort by");
            if (!strcmp(by, "value")) by_value = 1;
            else if (strcmp(by, "key")) rfail(r, line, "You can only sort by either \"key\" or \"value\"");
        }
        size_t n = in.u.d->n;
        jv *items = aalloc(&r->mem, (n + 1) * sizeof(jv)), *keys = aalloc(&r->mem, (n + 1) * sizeof(jv));
        for (size_t i = 0; i < n; i++) {
            jlist *pair = jl_new(&r->mem, 2);
            pair->v[0] = in.u.d->k[i];
            pair->v[1] = in.u.d->v[i];
            pair->n = 2;
            items[i] = mk_tuple(pair);
            keys[i] = sort_key(r, by_value ? pair->v[1] : pair->v[0], V_MISSING, truthy(arg_or(v[0], mk_bool(0))), line);
        }
        sort_by_keys(r, items, keys, n, truthy(arg_or(v[2], mk_bool(0))), line);
        jlist *l = jl_new(&r->mem, n);
        memcpy(l->v, items, n * sizeof(jv));
        l->n = n;
        return mk_list(l);
    }
    case F_E:
    case F_ESCAPE:
    case F_FORCEESCAPE: {
        NOARGS();
        jv s = str_of(r, in);
        sbuf b;
        sb_init(&b, &r->mem);
        sb_add(&b, "", 0);
        for (size_t i = 0; i < s.u.s->len; i++) {
            char c = s.u.s->s[i];
            switch (c) {
            case '&': sb_adds(&b, "&amp;"); break;
            case '<': sb_adds(&b, "&lt;"); break;
            case '>': sb_adds(&b, "&gt;"); break;
            case '"': sb_adds(&b, "&#34;"); break;
            case '\'': sb_adds(&b, "&#39;"); break;
            default: sb_addc(&b, c);
            }
        }
        return mk_strn(&r->mem, b.p, b.n);
    }
    case F_SAFE: NOARGS(); return in;
    case F_FIRST: {
        NOARGS();
        jlist *l = iter_items(r, in, line);
        return l->n ? l->v[0] : mk_undef("No first item, sequence was empty.");
    }
    case F_LAST: {
        NOARGS();
        jlist *l = iter_items(r, in, line);
        return l->n ? l->v[l->n - 1] : mk_undef("No last item, sequence was empty.");
    }
    case F_FLOAT: {
        SIG("default");
        jv dflt = arg_or(v[0], mk_float(0));
        if (in.t == JV_FLOAT) return in;
        if (in.t == JV_INT || in.t == JV_BOOL) return mk_float((double)num_i(in));
        if (in.t == JV_STR) {
            jv s = str_strip(r, in, V_MISSING, 3, line);
            char *end;
            errno = 0;
            double f = strtod(s.u.s->s, &end);
            if (s.u.s->len && *end == 0 && !strchr(s.u.s->s, 'x') && !strchr(s.u.s->s, 'X')) return mk_float(f);
        }
        return dflt;
    }
    case F_INT: {
        SIG("default", "base");
        jv dflt = arg_or(v[0], mk_int(0));
        int64_t base = v[1].t == JV_MISSING ? 10 : as_index(r, v[1], line, "base");
        if (in.t == JV_INT) return in;
        if (in.t == JV_BOOL) return mk_int(in.u.b);
        if (in.t == JV_FLOAT) {
            if (isnan(in.u.f) || isinf(in.u.f) || fabs(in.u.f) >= 9.2e18) return dflt;
            return mk_int((int64_t)in.u.f);
        }
        if (in.t == JV_STR) {
            jv s = str_strip(r, in, V_MISSING, 3, line);
            const char *p = s.u.s->s;
            char *end;
            if (*p && (base == 10 || base == 16 || base == 8 || base == 2)) {
                errno = 0;
                long long x = strtoll(p, &end, (int)base);
                if (*end == 0 && errno == 0 && !strchr(p, ' ')) return mk_int(x);
            }
            errno = 0;
            double f = strtod(p, &end);
            if (*p && *end == 0 && errno == 0 && fabs(f) < 9.2e18 && !strchr(p, 'x') && !strchr(p, 'X'))
                return mk_int((int64_t)f);
        }
        return dflt;
    }
    case F_INDENT: {
        SIG("width", "first", "blank");
        jv s = str_of(r, in);
        sbuf ind;
        sb_init(&ind, &r->mem);
        sb_add(&ind, "", 0);
        if (v[0].t == JV_STR) sb_add(&ind, v[0].u.s->s, v[0].u.s->len);
        else {
            int64_t w = v[0].t == JV_MISSING ? 4 : as_index(r, v[0], line, "width");
            if (w > 1000) rfail(r, line, "indent width too large");
            for (int64_t i = 0; i < w; i++) sb_addc(&ind, ' ');
        }
        jv s2 = arith(r, OP_ADD, s, mk_str(&r->mem, "\n"), line);
        jlist *lines = str_splitlines(r, s2);
        sbuf b;
        sb_init(&b, &r->mem);
        sb_add(&b, "", 0);
        if (truthy(arg_or(v[2], mk_bool(0)))) {
            for (size_t i = 0; i < lines->n; i++) {
                if (i) { sb_addc(&b, '\n'); sb_add(&b, ind.p, ind.n); }
                sb_add(&b, lines->v[i].u.s->s, lines->v[i].u.s->len);
            }
        } else {
            for (size_t i = 0; i < lines->n; i++) {
                jstr *ln = lines->v[i].u.s;
                if (i) {
                    sb_addc(&b, '\n');
                    if (ln->len) sb_add(&b, ind.p, ind.n);
                }
                sb_add(&b, ln->s, ln->len);
            }
        }
        if (truthy(arg_or(v[1], mk_bool(0)))) {
            sbuf c;
            sb_init(&c, &r->mem);
            sb_add(&c, ind.p, ind.n);
            sb_add(&c, b.p, b.n);
            return mk_strn(&r->mem, c.p, c.n);
        }
        return mk_strn(&r->mem, b.p, b.n);
    }
    case F_ITEMS:
        NOARGS();
        if (in.t == JV_UNDEF) return mk_list(jl_new(&r->mem, 0));
        if (in.t != JV_DICT) rfail(r, line, "Can only get item pairs from a mapping.");
        {
            args_t none = {0};
            jmethod m = {in, "items"};
            return call_method(r, &m, &none, line);
        }
    case F_JOIN: {
        SIG("d", "attribute");
        jlist *l = iter_items(r, in, line);
        jv sep = str_of(r, arg_or(v[0], mk_str(&r->mem, "")));
        sbuf b;
        sb_init(&b, &r->mem);
        sb_add(&b, "", 0);
        for (size_t i = 0; i < l->n; i++) {
            jv x = l->v[i];
            if (v[1].t != JV_MISSING && v[1].t != JV_NONE) x = attr_path(r, x, v[1], line);
            if (i) sb_add(&b, sep.u.s->s, sep.u.s->len);
            to_str(r, &b, x);
        }
        return mk_strn(&r->mem, b.p, b.n);
    }
    case F_LIST: NOARGS(); return mk_list(copy_list(r, iter_items(r, in, line)));
    case F_MAP: {
        jlist *src = iter_items(r, in, line);
        jlist *out = jl_new(&r->mem, src->n);
        int by_attr = 0;
        jv attr = V_MISSING, dflt = V_MISSING;
        for (int i = 0; i < a->nkw; i++) {
            if (!strcmp(a->kwn[i], "attribute")) { by_attr = 1; attr = a->kwv[i]; }
            else if (!strcmp(a->kwn[i], "default")) dflt = a->kwv[i];
        }
        if (by_attr) {
            if (a->npos) rfail(r, line, "map: positional arguments with attribute=");
            for (size_t i = 0; i < src->n; i++) {
                jv x = attr_path(r, src->v[i], attr, line);
                if (x.t == JV_UNDEF && dflt.t != JV_MISSING) x = dflt;
                out->v[out->n++] = x;
            }
            return mk_list(out);
        }
        if (!a->npos) rfail(r, line, "map: a filter name or attribute= is required");
        const char *fn = need_str(r, a->pos[0], line, "map filter name");
        int fid = filter_lookup(fn);
        if (fid < 0) rfail(r, line, "unsupported filter '%s'", fn);
        args_t fa = {a->pos + 1, a->npos - 1, a->kwn, a->kwv, a->nkw};
        for (size_t i = 0; i < src->n; i++) out->v[out->n++] = do_filter(r, fid, src->v[i], &fa, line);
        return mk_list(out);
    }
    case F_MAX:
    case F_MIN: {
        SIG("case_sensitive", "attribute");
        jlist *l = iter_items(r, in, line);
        if (!l->n) return mk_undef(id == F_MAX ? "No largest item, sequence was empty." : "No smallest item, sequence was empty.");
        int cs = truthy(arg_or(v[0], mk_bool(0)));
        size_t best = 0;
        jv bk = sort_key(r, l->v[0], v[1], cs, line);
        for (size_t i = 1; i < l->n; i++) {
            jv k = sort_key(r, l->v[i], v[1], cs, line);
            int c = jv_cmp(r, k, bk, OP_LT, line);
            if (id == F_MAX ? c > 0 : c < 0) { best = i; bk = k; }
        }
        return l->v[best];
    }
    case F_SELECT: return do_select(r, in, a, 0, 1, line);
    case F_REJECT: return do_select(r, in, a, 0, 0, line);
    case F_SELECTATTR: return do_select(r, in, a, 1, 1, line);
    case F_REJECTATTR: return do_select(r, in, a, 1, 0, line);
    case F_REPLACE: {
        SIG("old", "new", "count");
        if (v[0].t == JV_MISSING || v[1].t == JV_MISSING) rfail(r, line, "replace needs old and new");
        return str_replace(r, str_of(r, in), str_of(r, v[0]), str_of(r, v[1]), v[2], line);
    }
    case F_REVERSE: {
        NOARGS();
        if (in.t == JV_STR) {
            cps c = to_cps(r, in.u.s);
            for (size_t i = 0; i < c.n / 2; i++) {
                uint32_t t = c.c[i];
                c.c[i] = c.c[c.n - 1 - i];
                c.c[c.n - 1 - i] = t;
            }
            return from_cps(r, c.c, c.n);
        }
        jlist *src = iter_items(r, in, line);
        jlist *l = jl_new(&r->mem, src->n);
        for (size_t i = src->n; i-- > 0;) l->v[l->n++] = src->v[i];
        return mk_list(l);
    }
    case F_ROUND: {
        SIG("precision", "method");
        int64_t prec = v[0].t == JV_MISSING ? 0 : as_index(r, v[0], line, "precision");
        const char *method = v[1].t == JV_MISSING ? "common" : need_str(r, v[1], line, "method");
        if (!is_num(in)) rfail(r, line, "round: expected a number, not %s", type_name(in));
        if (prec < 0 || prec > 15) rfail(r, line, "round: unsupported precision");
        double x = num_f(in), m = pow(10, (double)prec), y;
        if (!strcmp(method, "common")) {
            /* Python's round(): correctly rounded, ties to even, via the decimal string */
            char tmp[64];
            snprintf(tmp, sizeof tmp, "%.*f", (int)prec, x);
            y = strtod(tmp, NULL);
        } else if (!strcmp(method, "ceil")) y = ceil(x * m) / m;
        else if (!strcmp(method, "floor")) y = floor(x * m) / m;
        else rfail(r, line, "method must be common, ceil or floor");
        return mk_float(y);
    }
    case F_SORT: {
        SIG("reverse", "case_sensitive", "attribute");
        jlist *l = copy_list(r, iter_items(r, in, line));
        jv *keys = aalloc(&r->mem, (l->n + 1) * sizeof(jv));
        int cs = truthy(arg_or(v[1], mk_bool(0)));
        for (size_t i = 0; i < l->n; i++) keys[i] = sort_key(r, l->v[i], v[2], cs, line);
        sort_by_keys(r, l->v, keys, l->n, truthy(arg_or(v[0], mk_bool(0))), line);
        return mk_list(l);
    }
    case F_UNIQUE: {
        SIG("case_sensitive", "attribute");
        jlist *l = iter_items(r, in, line);
        jlist *out = jl_new(&r->mem, 0), *seen = jl_new(&r->mem, 0);
        int cs = truthy(arg_or(v[0], mk_bool(0)));
        for (size_t i = 0; i < l->n; i++) {
            jv k = sort_key(r, l->v[i], v[1], cs, line);
            int dup = 0;
            for (size_t j = 0; j < seen->n && !dup; j++) dup = jv_eq(seen->v[j], k);
            if (!dup) {
                jl_push(&r->mem, seen, k);
                jl_push(&r->mem, out, l->v[i]);
            }
        }
        return mk_list(out);
    }
    case F_STRING: NOARGS(); return str_of(r, in);
    case F_SUM: {
        SIG("attribute", "start");
        jlist *l = iter_items(r, in, line);
        jv acc = arg_or(v[1], mk_int(0));
        for (size_t i = 0; i < l->n; i++) {
            jv x = l->v[i];
            if (v[0].t != JV_MISSING && v[0].t != JV_NONE) x = attr_path(r, x, v[0], line);
            acc = arith(r, OP_ADD, acc, x, line);
        }
        return acc;
    }
    case F_TOJSON: {
        /* transformers' own tojson: json.dumps(x, ensure_ascii=False, indent, separators, sort_keys) */
        SIG("ensure_ascii", "indent", "separators", "sort_keys");
        jsonopt o = {NULL, ", ", ": ", 0, 0};
        o.ensure_ascii = truthy(arg_or(v[0], mk_bool(0)));
        o.sort_keys = truthy(arg_or(v[3], mk_bool(0)));
        if (v[1].t != JV_MISSING && v[1].t != JV_NONE) {
            if (v[1].t == JV_STR) o.indent = v[1].u.s->s;
            else {
                int64_t w = as_index(r, v[1], line, "indent");
                if (w > 1000) rfail(r, line, "tojson indent too large");
                char *s = aalloc(&r->mem, (size_t)(w > 0 ? w : 0) + 1);
                for (int64_t i = 0; i < w; i++) s[i] = ' ';
                s[w > 0 ? w : 0] = 0;
                o.indent = s;
            }
            o.item_sep = ",";
        }
        if (v[2].t != JV_MISSING && v[2].t != JV_NONE) {
            if (!is_seq(v[2]) || v[2].u.l->n != 2 || v[2].u.l->v[0].t != JV_STR || v[2].u.l->v[1].t != JV_STR)
                rfail(r, line, "tojson separators must be a pair of strings");
            o.item_sep = v[2].u.l->v[0].u.s->s;
            o.key_sep = v[2].u.l->v[1].u.s->s;
        }
        sbuf b;
        sb_init(&b, &r->mem);
        sb_add(&b, "", 0);
        dump_json(r, &b, in, &o, 0, line);
        return mk_strn(&r->mem, b.p, b.n);
    }
    case F_TRIM: {
        SIG("chars");
        return str_strip(r, str_of(r, in), v[0], 3, line);
    }
    case F_WORDCOUNT: {
        NOARGS();
        /* jinja2 counts matches of \w+ */
        cps c = to_cps(r, str_of(r, in).u.s);
        int64_t words = 0;
        int inw = 0;
        for (size_t i = 0; i < c.n; i++) {
            utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c.c[i]);
            int w = c.c[i] == '_' || (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) ||
                    (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO);
            if (w && !inw) words++;
            inw = w;
        }
        return mk_int(words);
    }
    }
#undef SIG
#undef NOARGS
    rfail(r, line, "unsupported filter '%s'", fname);
}

/* ---------------------------------------------------------------- expressions */

static jv eval(R *r, expr *e, scope *sc);

static void eval_args(R *r, expr *e, scope *sc, args_t *a) {
    a->npos = e->nargs;
    a->nkw = e->nkw;
    a->pos = aalloc(&r->mem, (size_t)(e->nargs + 1) * sizeof(jv));
    a->kwv = aalloc(&r->mem, (size_t)(e->nkw + 1) * sizeof(jv));
    a->kwn = e->kwn;
    for (int i = 0; i < e->nargs; i++) a->pos[i] = eval(r, e->args[i], sc);
    for (int i = 0; i < e->nkw; i++) a->kwv[i] = eval(r, e->kwv[i], sc);
}

static jv apply_filter_chain(R *r, expr *f, jv input, scope *sc) {
    /* a filter block's chain ends in NULL (the block's output); an expression's in its operand */
    jv in = !f->a ? input : f->a->k == E_FILTER ? apply_filter_chain(r, f->a, input, sc) : eval(r, f->a, sc);
    args_t a;
    eval_args(r, f, sc, &a);
    return do_filter(r, f->filter_id, in, &a, f->line);
}

static int contains(R *r, jv container, jv item, int line) {
    if (container.t == JV_UNDEF) return 0;
    if (container.t == JV_STR) {
        if (item.t != JV_STR)
            rfail(r, line, "'in <string>' requires string as left operand, not %s", type_name(item));
        return memfind(container.u.s->s, container.u.s->len, item.u.s->s, item.u.s->len) != NULL;
    }
    if (container.t == JV_DICT) return jd_find(container.u.d, item) >= 0;
    if (container.t == JV_NS || container.t == JV_LOOP || container.t == JV_LIST || container.t == JV_TUPLE) {
        if (!is_seq(container)) rfail(r, line, "argument of type '%s' is not iterable", type_name(container));
        for (size_t i = 0; i < container.u.l->n; i++)
            if (jv_eq(container.u.l->v[i], item)) return 1;
        return 0;
    }
    rfail(r, line, "argument of type '%s' is not iterable", type_name(container));
}

static jv eval(R *r, expr *e, scope *sc) {
    switch (e->k) {
    case E_CONST: return e->cval;
    case E_NAME: {
        jv v;
        if (scope_get(sc, e->name, e->namelen, &v)) return v;
        return mk_undef(hintf(r, "'%s' is undefined", e->name));
    }
    case E_ATTR: return get_attr(r, eval(r, e->a, sc), e->name, e->namelen, e->line);
    case E_ITEM: {
        jv obj = eval(r, e->a, sc);
        if (e->b->k == E_SLICE) {
            expr *s = e->b;
            jv lo = s->a ? eval(r, s->a, sc) : V_NONE, hi = s->b ? eval(r, s->b, sc) : V_NONE,
               st = s->c ? eval(r, s->c, sc) : V_NONE;
            return do_slice(r, obj, lo, hi, st, e->line);
        }
        return get_item(r, obj, eval(r, e->b, sc), e->line);
    }
    case E_SLICE: rfail(r, e->line, "slice outside a subscript");
    case E_CALL: {
        jv f = eval(r, e->a, sc);
        args_t a;
        eval_args(r, e, sc, &a);
        return call_value(r, f, &a, e->line);
    }
    case E_FILTER: return apply_filter_chain(r, e, V_MISSING, sc);
    case E_TEST: {
        jv v = eval(r, e->a, sc);
        args_t a;
        eval_args(r, e, sc, &a);
        return mk_bool(do_test(r, e->test_id, v, &a, e->line));
    }
    case E_NOT: return mk_bool(!truthy(eval(r, e->a, sc)));
    case E_NEG:
    case E_POS: {
        jv v = eval(r, e->a, sc);
        if (v.t == JV_UNDEF) fail_undef(r, v, e->line);
        if (!is_num(v)) rfail(r, e->line, "bad operand type for unary %c: '%s'", e->k == E_NEG ? '-' : '+', type_name(v));
        if (e->k == E_POS) return v.t == JV_BOOL ? mk_int(v.u.b) : v;
        if (v.t == JV_FLOAT) return mk_float(-v.u.f);
        if (num_i(v) == INT64_MIN) rfail(r, e->line, "integer overflow in unary '-'");
        return mk_int(-num_i(v));
    }
    case E_BIN: return arith(r, e->op, eval(r, e->a, sc), eval(r, e->b, sc), e->line);
    case E_AND: {
        jv a = eval(r, e->a, sc);
        return truthy(a) ? eval(r, e->b, sc) : a;
    }
    case E_OR: {
        jv a = eval(r, e->a, sc);
        return truthy(a) ? a : eval(r, e->b, sc);
    }
    case E_CMP: {
        jv left = eval(r, e->a, sc);
        for (int i = 0; i < e->nargs; i++) {
            jv right = eval(r, e->args[i], sc);
            int ok;
            switch (e->ops[i]) {
            case OP_EQ: ok = jv_eq(left, right); break;
            case OP_NE: ok = !jv_eq(left, right); break;
            case OP_LT: ok = jv_cmp(r, left, right, OP_LT, e->line) < 0; break;
            case OP_LE: ok = jv_cmp(r, left, right, OP_LE, e->line) <= 0; break;
            case OP_GT: ok = jv_cmp(r, left, right, OP_GT, e->line) > 0; break;
            case OP_GE: ok = jv_cmp(r, left, right, OP_GE, e->line) >= 0; break;
            case OP_IN: ok = contains(r, right, left, e->line); break;
            default: ok = !contains(r, right, left, e->line); break;
            }
            if (!ok) return mk_bool(0);
            left = right;
        }
        return mk_bool(1);
    }
    case E_COND:
        if (truthy(eval(r, e->a, sc))) return eval(r, e->b, sc);
        if (e->c) return eval(r, e->c, sc);
        return mk_undef(hintf(r, "the inline if-expression on line %d evaluated to false and no else section was defined.", e->line));
    case E_LIST:
    case E_TUPLE: {
        jlist *l = jl_new(&r->mem, (size_t)e->nargs);
        for (int i = 0; i < e->nargs; i++) l->v[l->n++] = eval(r, e->args[i], sc);
        return e->k == E_LIST ? mk_list(l) : mk_tuple(l);
    }
    case E_DICT: {
        jdict *d = jd_new(&r->mem);
        for (int i = 0; i < e->nargs; i++) {
            jv k = eval(r, e->args[i], sc);
            if (k.t != JV_STR && k.t != JV_INT && k.t != JV_BOOL && k.t != JV_FLOAT && k.t != JV_NONE &&
                k.t != JV_TUPLE)
                rfail(r, e->line, "unhashable type: '%s'", type_name(k));
            jd_set(&r->mem, d, k, eval(r, e->vals[i], sc));
        }
        return mk_dict(d);
    }
    case E_CONCAT: {
        sbuf b;
        sb_init(&b, &r->mem);
        sb_add(&b, "", 0);
        for (int i = 0; i < e->nargs; i++) {
            to_str(r, &b, eval(r, e->args[i], sc));
            if (b.n > JJ_MAX_STRING) rfail(r, e->line, "string larger than %zu MiB", JJ_MAX_STRING >> 20);
        }
        check_limits(r, e->line);
        return mk_strn(&r->mem, b.p, b.n);
    }
    default:
        rfail(r, e->line, "internal error: bad expression");
    }
}

/* ---------------------------------------------------------------- statements */

enum { FLOW_NEXT = 0, FLOW_BREAK, FLOW_CONTINUE };

static int exec_body(R *r, const body *b, scope *sc);

static void assign(R *r, expr *target, jv v, scope *sc, int line) {
    if (target->k == E_NAME) {
        jd_set(&r->mem, sc->vars, mk_strn(&r->mem, target->name, target->namelen), v);
        return;
    }
    if (target->k == E_NSREF) {
        jv ns;
        if (!scope_get(sc, target->name, target->namelen, &ns) || ns.t != JV_NS)
            rfail(r, line, "cannot assign attribute on non-namespace object '%s'", target->name);
        if (target->attr[0] == '_')
            rfail(r, line, "Chat templates cannot store underscore-prefixed attributes on a namespace, but got '%s'.", target->attr);
        jd_set(&r->mem, ns.u.d, mk_str(&r->mem, target->attr), v);
        return;
    }
    /* tuple unpacking */
    jlist *items = iter_items(r, v, line);
    if ((int)items->n < target->nargs)
        rfail(r, line, "not enough values to unpack (expected %d, got %zu)", target->nargs, items->n);
    if ((int)items->n > target->nargs) rfail(r, line, "too many values to unpack (expected %d)", target->nargs);
    for (int i = 0; i < target->nargs; i++) assign(r, target->args[i], items->v[i], sc, line);
}

static jv capture(R *r, const body *b, scope *sc) {
    sbuf *saved = r->out, buf;
    sb_init(&buf, &r->mem);
    sb_add(&buf, "", 0);
    r->out = &buf;
    exec_body(r, b, sc);
    r->out = saved;
    return mk_strn(&r->mem, buf.p, buf.n);
}

static jv call_macro(R *r, stmt *m, const args_t *a, int line) {
    if (a->npos > m->nparams)
        rfail(r, line, "macro '%s' takes not more than %d argument(s)", m->name, m->nparams);
    if (++r->depth > JJ_MAX_DEPTH) rfail(r, line, "macro calls nested too deeply (recursion?)");
    scope *sc = scope_new(r, r->root);
    jv *vals = aalloc(&r->mem, (size_t)(m->nparams + 1) * sizeof(jv));
    for (int i = 0; i < m->nparams; i++) vals[i] = i < a->npos ? a->pos[i] : V_MISSING;
    for (int k = 0; k < a->nkw; k++) {
        int i;
        for (i = 0; i < m->nparams; i++)
            if (!strcmp(m->params[i], a->kwn[k])) break;
        if (i == m->nparams) rfail(r, line, "macro '%s' has no argument named '%s'", m->name, a->kwn[k]);
        if (vals[i].t != JV_MISSING) rfail(r, line, "macro '%s' got multiple values for argument '%s'", m->name, a->kwn[k]);
        vals[i] = a->kwv[k];
    }
    for (int i = 0; i < m->nparams; i++) {
        jv v = vals[i];
        if (v.t == JV_MISSING)
            v = m->defaults[i] ? eval(r, m->defaults[i], sc) : mk_undef(hintf(r, "parameter '%s' was not provided", m->params[i]));
        scope_set(r, sc, m->params[i], v);
    }
    jv out = capture(r, &m->b, sc);
    r->depth--;
    return out;
}

/* One scope serves every iteration (cleared each time), so a long loop costs
 * only its loop object per iteration; sets inside the body still vanish at the
 * end of each iteration, as in jinja2. */
static int exec_for(R *r, stmt *s, scope *sc) {
    jlist *src = iter_items(r, eval(r, s->e, sc), s->line);
    jlist *items = src;
    scope *ls = scope_new(r, sc);
    if (s->cond) {
        items = jl_new(&r->mem, 0);
        for (size_t i = 0; i < src->n; i++) {
            if (++r->iters > JJ_MAX_ITERS) rfail(r, s->line, "more than %d loop iterations", JJ_MAX_ITERS);
            ls->vars->n = 0;
            assign(r, s->target, src->v[i], ls, s->line);
            if (truthy(eval(r, s->cond, ls))) jl_push(&r->mem, items, src->v[i]);
        }
    }
    jv loop_key = mk_str(&r->mem, "loop");
    for (size_t i = 0; i < items->n; i++) {
        if (++r->iters > JJ_MAX_ITERS) rfail(r, s->line, "more than %d loop iterations", JJ_MAX_ITERS);
        check_limits(r, s->line);
        ls->vars->n = 0;
        jloop *cur = aalloc(&r->mem, sizeof(jloop));
        cur->index0 = (int64_t)i;
        cur->length = (int64_t)items->n;
        cur->items = items;
        jv lv = {JV_LOOP, {0}};
        lv.u.loop = cur;
        jd_set(&r->mem, ls->vars, loop_key, lv);
        assign(r, s->target, items->v[i], ls, s->line);
        if (exec_body(r, &s->b, ls) == FLOW_BREAK) break;
    }
    if (!items->n && s->else_b.n) exec_body(r, &s->else_b, scope_new(r, sc));
    return FLOW_NEXT;
}

static int exec_body(R *r, const body *b, scope *sc) {
    for (int i = 0; i < b->n; i++) {
        stmt *s = b->v[i];
        switch (s->k) {
        case S_TEXT: emit(r, s->text, s->textlen, s->line); break;
        case S_OUT: {
            jv v = eval(r, s->e, sc);
            if (v.t == JV_STR) emit(r, v.u.s->s, v.u.s->len, s->line);
            else {
                sbuf t;
                sb_init(&t, &r->mem);
                to_str(r, &t, v);
                emit(r, t.p ? t.p : "", t.n, s->line);
            }
            break;
        }
        case S_IF: {
            int flow = truthy(eval(r, s->e, sc)) ? exec_body(r, &s->b, sc) : exec_body(r, &s->else_b, sc);
            if (flow != FLOW_NEXT) return flow;
            break;
        }
        case S_FOR: exec_for(r, s, sc); break;
        case S_SET: assign(r, s->target, eval(r, s->e, sc), sc, s->line); break;
        case S_SETBLOCK: {
            jv v = capture(r, &s->b, sc);
            if (s->filter) v = apply_filter_chain(r, s->filter, v, sc);
            assign(r, s->target, v, sc, s->line);
            break;
        }
        case S_MACRO: {
            jv m = {JV_MACRO, {0}};
            m.u.macro = s;
            scope_set(r, sc, s->name, m);
            break;
        }
        case S_BREAK: return FLOW_BREAK;
        case S_CONTINUE: return FLOW_CONTINUE;
        case S_WITH: {
            scope *ws = scope_new(r, sc);
            jv *vals = aalloc(&r->mem, (size_t)(s->nw + 1) * sizeof(jv));
            for (int k = 0; k < s->nw; k++) vals[k] = eval(r, s->wv[k], sc);
            for (int k = 0; k < s->nw; k++) assign(r, s->wt[k], vals[k], ws, s->line);
            int flow = exec_body(r, &s->b, ws);
            if (flow != FLOW_NEXT) return flow;
            break;
        }
        case S_FILTERBLOCK: {
            jv v = apply_filter_chain(r, s->filter, capture(r, &s->b, sc), sc);
            v = str_of(r, v);
            emit(r, v.u.s->s, v.u.s->len, s->line);
            break;
        }
        case S_SCOPE: {
            int flow = exec_body(r, &s->b, sc);
            if (flow != FLOW_NEXT) return flow;
            break;
        }
        }
    }
    return FLOW_NEXT;
}

/* ---------------------------------------------------------------- entry */

static jv from_json(R *r, const json_t *j) {
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        jdict *d = jd_new(&r->mem);
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v) jd_set(&r->mem, d, mk_str(&r->mem, k), from_json(r, v));
        return mk_dict(d);
    }
    case JSON_ARRAY: {
        jlist *l = jl_new(&r->mem, json_array_size(j));
        for (size_t i = 0; i < json_array_size(j); i++) l->v[l->n++] = from_json(r, json_array_get(j, i));
        return mk_list(l);
    }
    case JSON_STRING: return mk_strn(&r->mem, json_string_value(j), json_string_length(j));
    case JSON_INTEGER: return mk_int(json_integer_value(j));
    case JSON_REAL: return mk_float(json_real_value(j));
    case JSON_TRUE: return mk_bool(1);
    case JSON_FALSE: return mk_bool(0);
    default: return V_NONE;
    }
}

/* EVALCTL_DATE pins strftime_now(): "YYYY-MM-DD" or "YYYY-MM-DD[T ]HH:MM[:SS]". */
static int fixed_date(struct tm *out) {
    const char *s = getenv("EVALCTL_DATE");
    if (!s || !*s) return 0;
    int y, mo, d, h = 0, mi = 0, se = 0;
    char sep;
    int n = sscanf(s, "%d-%d-%d%c%d:%d:%d", &y, &mo, &d, &sep, &h, &mi, &se);
    if (n < 3 || (n > 3 && n < 6) || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 ||
        mi > 59 || se < 0 || se > 60)
        return -1;
    struct tm t = {0};
    t.tm_year = y - 1900;
    t.tm_mon = mo - 1;
    t.tm_mday = d;
    t.tm_hour = h;
    t.tm_min = mi;
    t.tm_sec = se;
    time_t tt = timegm(&t);   /* normalises and fills wday/yday */
    if (!gmtime_r(&tt, out)) return -1;
    return 1;
}

static int render_run(R *r, const json_t *vars, sbuf *out) {
    if (setjmp(r->jb)) return -1;
    int fd = fixed_date(&r->now);
    if (fd < 0) rfail(r, 0, "EVALCTL_DATE must look like YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS");
    if (fd == 0) {
        time_t now = time(NULL);
        localtime_r(&now, &r->now);
    }
    r->root = scope_new(r, NULL);
    for (size_t i = 0; i < sizeof GLOBAL_FNS / sizeof GLOBAL_FNS[0]; i++) {
        jv f = {JV_FUNC, {0}};
        f.u.fn = GLOBAL_FNS[i].id;
        scope_set(r, r->root, GLOBAL_FNS[i].name, f);
    }
    if (vars) {
        if (!json_is_object(vars)) rfail(r, 0, "template variables must be a JSON object");
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)vars, k, v) scope_set(r, r->root, k, from_json(r, v));
    }
    sb_init(out, &r->mem);
    sb_add(out, "", 0);
    r->out = out;
    exec_body(r, &r->t->root, r->root);
    return 0;
}

char *jinja_render(const jinja_template *t, const json_t *vars, jinja_error *err) {
    jinja_error local;
    jinja_error *e = err ? err : &local;
    memset(e, 0, sizeof *e);
    R *r = xcalloc(1, sizeof *r);
    r->err = e;
    r->t = t;
    sbuf out;
    char *result = NULL;
    if (render_run(r, vars, &out) == 0) {
        result = xmalloc(out.n + 1);
        memcpy(result, out.p, out.n);
        result[out.n] = 0;
    } else if (!err)
        report(t->name, e);
    afree(&r->mem);
    free(r);
    return result;
}
