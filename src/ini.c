/* ini.c - strict INI parser, getters, schema check, overrides, canonical
 * writer and diff for run configs (the dialect is described in ini.h). */
#include "ini.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    char *name;
    char *value;
    char *where; /* "FILE:LINE" or "--set PATH=VALUE" */
    int line;    /* 0 for overrides */
} ini_key_t;

typedef struct {
    char *name;
    char *where;
    int line;
    ini_key_t *keys; /* (nkeys) in order */
    int nkeys, cap;
} ini_sec_t;

struct ini {
    char *name;
    ini_sec_t *secs; /* (nsecs) in order */
    int nsecs, cap;
};

/* ---------------------------------------------------------------------- small helpers */

typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
    if (b->cap - b->n < n + 1) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->n < n + 1) cap *= 2;
        b->p = xrealloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static char *xstrndup(const char *s, size_t n) {
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static char *xprintf(const char *fmt, ...) EV_PRINTF(1, 2);
static char *xprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

static int is_ws(char c) { return c == ' ' || c == '\t'; }
static int name_char(char c) { return isalnum((unsigned char)c) || c == '_' || c == '-'; }

static int valid_key(const char *s, size_t n) {
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++)
        if (!name_char(s[i])) return 0;
    return 1;
}

/* dot-separated non-empty parts of key characters */
static int valid_section(const char *s, size_t n) {
    if (n == 0 || s[0] == '.' || s[n - 1] == '.') return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.') {
            if (s[i + 1] == '.') return 0;
        } else if (!name_char(s[i])) {
            return 0;
        }
    }
    return 1;
}

/* At most max bytes of s, cut back to a UTF-8 character boundary, so that
 * messages quoting user text stay short and well-formed. */
static int clip(const char *s, size_t n, size_t max) {
    if (n <= max) return (int)n;
    size_t k = max;
    while (k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80) k--;
    return (int)k;
}

/* Index of the first control character other than tab, or -1. */
static long control_char(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) return (long)i;
    }
    return -1;
}

/* ---------------------------------------------------------------------- building */

ini *ini_new(const char *name) {
    ini *c = xcalloc(1, sizeof *c);
    c->name = xstrdup(name ? name : "config");
    return c;
}

void ini_free(ini *c) {
    if (!c) return;
    for (int s = 0; s < c->nsecs; s++) {
        ini_sec_t *sec = &c->secs[s];
        for (int k = 0; k < sec->nkeys; k++) {
            free(sec->keys[k].name);
            free(sec->keys[k].value);
            free(sec->keys[k].where);
        }
        free(sec->keys);
        free(sec->name);
        free(sec->where);
    }
    free(c->secs);
    free(c->name);
    free(c);
}

const char *ini_name(const ini *c) { return c->name; }

static ini_sec_t *find_sec(const ini *c, const char *name) {
    for (int s = 0; s < c->nsecs; s++)
        if (strcmp(c->secs[s].name, name) == 0) return &c->secs[s];
    return NULL;
}

static ini_key_t *find_key(const ini_sec_t *sec, const char *name) {
    for (int k = 0; sec && k < sec->nkeys; k++)
        if (strcmp(sec->keys[k].name, name) == 0) return &sec->keys[k];
    return NULL;
}

/* takes ownership of name and where */
static ini_sec_t *add_sec(ini *c, char *name, char *where, int line) {
    if (c->nsecs == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 8;
        c->secs = xrealloc(c->secs, (size_t)c->cap * sizeof *c->secs);
    }
    ini_sec_t *s = &c->secs[c->nsecs++];
    memset(s, 0, sizeof *s);
    s->name = name;
    s->where = where;
    s->line = line;
    return s;
}

static void add_key(ini_sec_t *s, char *name, char *value, char *where, int line) {
    if (s->nkeys == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 8;
        s->keys = xrealloc(s->keys, (size_t)s->cap * sizeof *s->keys);
    }
    s->keys[s->nkeys++] = (ini_key_t){name, value, where, line};
}

/* ---------------------------------------------------------------------- parsing */

/* Parses the value that starts at s (leading whitespace skipped) and runs to
 * e. Returns the value (heap) or NULL after setting *err. */
static char *parse_value(const char *s, const char *e, const char **err, char *errbuf, size_t errn) {
    if (s < e && *s == '"') {
        sbuf b = {0};
        sb_add(&b, "", 0);
        const char *p = s + 1;
        for (;;) {
            if (p == e) {
                free(b.p);
                *err = "unterminated quote";
                return NULL;
            }
            if (*p == '"') {
                p++;
                break;
            }
            if (*p == '\\') {
                if (p + 1 == e) {
                    free(b.p);
                    *err = "unterminated quote";
                    return NULL;
                }
                if (p[1] != '"' && p[1] != '\\') {
                    free(b.p);
                    snprintf(errbuf, errn, "unknown escape '\\%c' in a quoted value (only \\\" and \\\\)", p[1]);
                    *err = errbuf;
                    return NULL;
                }
                sb_add(&b, p + 1, 1);
                p += 2;
                continue;
            }
            sb_add(&b, p, 1);
            p++;
        }
        while (p < e && is_ws(*p)) p++;
        if (p < e && *p != ';' && *p != '#') {
            free(b.p);
            *err = "text after the closing quote";
            return NULL;
        }
        return b.p;
    }
    const char *v = s;
    for (const char *p = s; p < e; p++)
        if ((*p == ';' || *p == '#') && (p == s || is_ws(p[-1]))) {
            e = p;
            break;
        }
    while (e > v && is_ws(e[-1])) e--;
    return xstrndup(v, (size_t)(e - v));
}

ini *ini_parse(const char *text, size_t len, const char *name) {
    ini *c = ini_new(name);
    name = c->name;
    if (len > INI_MAX_SIZE) {
        ev_error("%s: config larger than %d bytes", name, INI_MAX_SIZE);
        goto fail;
    }
    size_t pos = 0;
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) pos = 3;
    ini_sec_t *cur = NULL;
    int line = 0;
    while (pos < len) {
        const char *s = text + pos;
        const char *nl = memchr(s, '\n', len - pos);
        const char *e = nl ? nl : text + len;
        pos = (size_t)(e - text) + (nl ? 1 : 0);
        if (e > s && e[-1] == '\r') e--;
        line++;
        size_t n = (size_t)(e - s);
        long bad = control_char(s, n);
        if (bad >= 0) {
            ev_error("%s:%d: control character 0x%02x in the line (at byte %ld)", name, line,
                     (unsigned char)s[bad], (long)(s - text) + bad);
            goto fail;
        }
        if (!ev_utf8_valid(s, n)) {
            ev_error("%s:%d: malformed UTF-8", name, line);
            goto fail;
        }
        while (s < e && is_ws(*s)) s++;
        if (s == e || *s == ';' || *s == '#') continue;

        if (*s == '[') {
            const char *close = memchr(s, ']', (size_t)(e - s));
            if (!close) {
                ev_error("%s:%d: malformed section header (no ']')", name, line);
                goto fail;
            }
            const char *a = s + 1, *b = close;
            while (a < b && is_ws(*a)) a++;
            while (b > a && is_ws(b[-1])) b--;
            if (!valid_section(a, (size_t)(b - a))) {
                int k = clip(a, (size_t)(b - a), 60);
                ev_error("%s:%d: bad section name '%.*s' (dot-separated parts of letters, digits, '_' and '-')",
                         name, line, k, a);
                goto fail;
            }
            const char *r = close + 1;
            while (r < e && is_ws(*r)) r++;
            if (r < e && *r != ';' && *r != '#') {
                ev_error("%s:%d: text after the section header", name, line);
                goto fail;
            }
            char *sname = xstrndup(a, (size_t)(b - a));
            ini_sec_t *dup = find_sec(c, sname);
            if (dup) {
                ev_error("%s:%d: duplicate section [%s] (first at line %d)", name, line, sname, dup->line);
                free(sname);
                goto fail;
            }
            cur = add_sec(c, sname, xprintf("%s:%d", name, line), line);
            continue;
        }

        const char *eq = memchr(s, '=', (size_t)(e - s));
        if (!eq) {
            ev_error("%s:%d: malformed line (expected [section], key = value or a comment)", name, line);
            goto fail;
        }
        const char *ke = eq;
        while (ke > s && is_ws(ke[-1])) ke--;
        if (ke == s) {
            ev_error("%s:%d: no key name before '='", name, line);
            goto fail;
        }
        if (!valid_key(s, (size_t)(ke - s))) {
            int k = clip(s, (size_t)(ke - s), 60);
            ev_error("%s:%d: bad key name '%.*s' (letters, digits, '_' and '-')", name, line, k, s);
            goto fail;
        }
        if (!cur) {
            ev_error("%s:%d: key '%.*s' outside a section", name, line, (int)(ke - s), s);
            goto fail;
        }
        char *kname = xstrndup(s, (size_t)(ke - s));
        ini_key_t *dup = find_key(cur, kname);
        if (dup) {
            ev_error("%s:%d: duplicate key '%s' in [%s] (first at line %d)", name, line, kname, cur->name, dup->line);
            free(kname);
            goto fail;
        }
        const char *v = eq + 1;
        while (v < e && is_ws(*v)) v++;
        const char *err = NULL;
        char errbuf[96];
        char *value = parse_value(v, e, &err, errbuf, sizeof errbuf);
        if (!value) {
            ev_error("%s:%d: %s", name, line, err);
            free(kname);
            goto fail;
        }
        add_key(cur, kname, value, xprintf("%s:%d", name, line), line);
    }
    return c;
fail:
    ini_free(c);
    return NULL;
}

ini *ini_open(const char *path) {
    size_t len;
    char *text = ev_read_file(path, &len);
    if (!text) return NULL;
    ini *c = ini_parse(text, len, path);
    free(text);
    return c;
}

/* ---------------------------------------------------------------------- walking */

int ini_section_count(const ini *c) { return c->nsecs; }
const char *ini_section_name(const ini *c, int s) { return c->secs[s].name; }
const char *ini_section_where(const ini *c, int s) { return c->secs[s].where; }
int ini_section_line(const ini *c, int s) { return c->secs[s].line; }
int ini_key_count(const ini *c, int s) { return c->secs[s].nkeys; }
const char *ini_key_name(const ini *c, int s, int k) { return c->secs[s].keys[k].name; }
const char *ini_key_value(const ini *c, int s, int k) { return c->secs[s].keys[k].value; }
const char *ini_key_where(const ini *c, int s, int k) { return c->secs[s].keys[k].where; }
int ini_key_line(const ini *c, int s, int k) { return c->secs[s].keys[k].line; }

int ini_section_find(const ini *c, const char *name) {
    const ini_sec_t *s = find_sec(c, name);
    return s ? (int)(s - c->secs) : -1;
}

/* ---------------------------------------------------------------------- getters */

static const ini_key_t *lookup(const ini *c, const char *section, const char *key) {
    return find_key(find_sec(c, section), key);
}

const char *ini_get(const ini *c, const char *section, const char *key) {
    const ini_key_t *k = lookup(c, section, key);
    return k ? k->value : NULL;
}

int ini_get_str(const ini *c, const char *section, const char *key, const char **out) {
    const ini_key_t *k = lookup(c, section, key);
    if (!k) return 0;
    *out = k->value;
    return 1;
}

static int bad_value(const ini_key_t *k, const char *section, const char *what) {
    int n = clip(k->value, strlen(k->value), 60);
    return ev_error("%s: [%s] %s: '%.*s' is not %s", k->where, section, k->name, n, k->value, what);
}

int ini_get_int(const ini *c, const char *section, const char *key, long lo, long hi, long *out) {
    const ini_key_t *k = lookup(c, section, key);
    if (!k) return 0;
    const char *v = k->value;
    size_t i = (v[0] == '+' || v[0] == '-') ? 1 : 0;
    int digits = v[i] != '\0';
    for (; v[i]; i++) digits &= isdigit((unsigned char)v[i]) != 0;
    char what[96];
    snprintf(what, sizeof what, "an integer in [%ld, %ld]", lo, hi);
    if (!digits) return bad_value(k, section, what);
    errno = 0;
    long x = strtol(v, NULL, 10);
    if (errno || x < lo || x > hi) return bad_value(k, section, what);
    *out = x;
    return 1;
}

/* [+-] (digits [. [digits]] | . digits) [(e|E) [+-] digits] */
static int decimal_syntax(const char *s) {
    size_t i = 0, digits = 0;
    if (s[i] == '+' || s[i] == '-') i++;
    while (isdigit((unsigned char)s[i])) i++, digits++;
    if (s[i] == '.') {
        i++;
        while (isdigit((unsigned char)s[i])) i++, digits++;
    }
    if (digits == 0) return 0;
    if (s[i] == 'e' || s[i] == 'E') {
        i++;
        if (s[i] == '+' || s[i] == '-') i++;
        size_t e = 0;
        while (isdigit((unsigned char)s[i])) i++, e++;
        if (e == 0) return 0;
    }
    return s[i] == '\0';
}

int ini_get_double(const ini *c, const char *section, const char *key, double lo, double hi, double *out) {
    const ini_key_t *k = lookup(c, section, key);
    if (!k) return 0;
    char what[96];
    snprintf(what, sizeof what, "a number in [%g, %g]", lo, hi);
    if (!decimal_syntax(k->value)) return bad_value(k, section, what);
    double x = strtod(k->value, NULL);
    if (!isfinite(x) || x < lo || x > hi) return bad_value(k, section, what);
    *out = x;
    return 1;
}

int ini_get_bool(const ini *c, const char *section, const char *key, int *out) {
    const ini_key_t *k = lookup(c, section, key);
    if (!k) return 0;
    static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(k->value, yes[i]) == 0) return *out = 1, 1;
        if (strcasecmp(k->value, no[i]) == 0) return *out = 0, 1;
    }
    return bad_value(k, section, "a boolean (true/false, yes/no, on/off, 1/0)");
}

int ini_get_list(const ini *c, const char *section, const char *key, char ***items, int *n) {
    const ini_key_t *k = lookup(c, section, key);
    if (!k) return 0;
    const char *v = k->value;
    size_t len = strlen(v);
    int count = 0;
    if (len > 0) {
        count = 1;
        for (size_t i = 0; i < len; i++) count += v[i] == ',';
    }
    /* one block: count + 1 pointers, then the items' bytes */
    size_t ptrs = ((size_t)count + 1) * sizeof(char *);
    char **out = xmalloc(ptrs + len + 1);
    char *dst = (char *)out + ptrs;
    const char *p = v;
    for (int i = 0; i < count; i++) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : v + len;
        const char *a = p, *b = end;
        while (a < b && is_ws(*a)) a++;
        while (b > a && is_ws(b[-1])) b--;
        if (a == b) {
            free(out);
            return ev_error("%s: [%s] %s: empty item %d in the comma-separated list", k->where, section, k->name,
                            i + 1);
        }
        memcpy(dst, a, (size_t)(b - a));
        out[i] = dst;
        dst += b - a;
        *dst++ = '\0';
        p = end + 1;
    }
    out[count] = NULL;
    *items = out;
    *n = count;
    return 1;
}

int ini_require(const ini *c, const char *section, const char *key) {
    const ini_sec_t *s = find_sec(c, section);
    if (!s) return ev_error("%s: missing section [%s]", c->name, section);
    if (!find_key(s, key)) return ev_error("%s: missing key '%s' in [%s]", s->where, key, section);
    return 0;
}

/* ---------------------------------------------------------------------- schema */

static int schema_matches(const char *pattern, const char *name) {
    size_t pl = strlen(pattern);
    if (pl >= 2 && pattern[pl - 1] == '*' && pattern[pl - 2] == '.')
        return strncmp(pattern, name, pl - 1) == 0 && name[pl - 1] != '\0';
    return strcmp(pattern, name) == 0;
}

/* An exact entry wins over a pattern that also matches. */
static const ini_schema *schema_find(const ini_schema *schema, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(schema[i].section, name) == 0) return &schema[i];
    for (size_t i = 0; i < n; i++)
        if (schema_matches(schema[i].section, name)) return &schema[i];
    return NULL;
}

/* "a, b, c" into buf, ending in "..." when it does not fit. */
static void join(char *buf, size_t cap, const char *const *names, size_t n, const char *(*get)(const void *, size_t),
                 const void *ctx) {
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const char *s = names ? names[i] : get(ctx, i);
        int w = snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", s);
        if (w < 0 || (size_t)w >= cap - used) {
            if (cap > 4) strcpy(buf + cap - 4, "...");
            return;
        }
        used += (size_t)w;
    }
}

static const char *schema_section_at(const void *ctx, size_t i) { return ((const ini_schema *)ctx)[i].section; }

int ini_check(const ini *c, const ini_schema *schema, size_t n) {
    for (int s = 0; s < c->nsecs; s++) {
        const ini_sec_t *sec = &c->secs[s];
        const ini_schema *e = schema_find(schema, n, sec->name);
        char list[320];
        if (!e) {
            join(list, sizeof list, NULL, n, schema_section_at, schema);
            return ev_error("%s: unknown section [%s] (known: %s)", sec->where, sec->name, list);
        }
        for (int k = 0; k < sec->nkeys; k++) {
            const char *kn = sec->keys[k].name;
            size_t nk = 0, found = 0;
            for (; e->keys && e->keys[nk]; nk++) found |= strcmp(e->keys[nk], kn) == 0;
            if (!found) {
                join(list, sizeof list, e->keys, nk, NULL, NULL);
                return ev_error("%s: unknown key '%s' in [%s] (allowed: %s)", sec->keys[k].where, kn, sec->name,
                                nk ? list : "none");
            }
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------- overrides */

/* "--set PATH=VALUE" for messages: at most 100 bytes of the value; control
 * characters, and every byte >= 0x80 when the text is not UTF-8, shown as '?'
 * so that the message stays one well-formed line. */
static char *set_where(const char *path, const char *value) {
    sbuf b = {0};
    sb_str(&b, "--set ");
    size_t mark = b.n;
    sb_str(&b, path);
    sb_add(&b, "=", 1);
    size_t vl = strlen(value);
    int show = clip(value, vl, 100);
    sb_add(&b, value, (size_t)show);
    if ((size_t)show < vl) sb_str(&b, "...");
    int utf8 = ev_utf8_valid(b.p + mark, b.n - mark);
    for (size_t i = mark; i < b.n; i++) {
        unsigned char ch = (unsigned char)b.p[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f || (!utf8 && ch >= 0x80)) b.p[i] = '?';
    }
    return b.p;
}

int ini_set(ini *c, const char *path, const char *value) {
    size_t pl = strlen(path), vl = strlen(value);
    char *where = set_where(path, value);
    const char *dot = strrchr(path, '.');
    if (!dot) {
        ev_error("%s: expected SECTION.KEY=VALUE (the last '.' separates section and key)", where);
        goto fail;
    }
    size_t sl = (size_t)(dot - path);
    /* names are quoted from where, which holds the path with odd bytes made '?' */
    const char *shown = where + 6;
    if (!valid_section(path, sl)) {
        ev_error("%s: bad section name '%.*s'", where, (int)sl, shown);
        goto fail;
    }
    if (!valid_key(dot + 1, pl - sl - 1)) {
        ev_error("%s: bad key name '%.*s'", where, (int)(pl - sl - 1), shown + sl + 1);
        goto fail;
    }
    if (control_char(value, vl) >= 0 || !ev_utf8_valid(value, vl)) {
        ev_error("%s: control character or malformed UTF-8 in the value", where);
        goto fail;
    }
    char *sname = xstrndup(path, sl);
    ini_sec_t *sec = find_sec(c, sname);
    if (!sec) sec = add_sec(c, sname, xstrdup(where), 0);
    else free(sname);
    ini_key_t *k = find_key(sec, dot + 1);
    if (k) {
        free(k->value);
        free(k->where);
        k->value = xstrdup(value);
        k->where = where;
        k->line = 0;
    } else {
        add_key(sec, xstrdup(dot + 1), xstrdup(value), where, 0);
    }
    return 0;
fail:
    free(where);
    return -1;
}

int ini_set_arg(ini *c, const char *arg) {
    const char *eq = strchr(arg, '=');
    if (!eq) {
        char *where = set_where(arg, "");
        where[strlen(where) - 1] = '\0'; /* the '=' set_where adds */
        ev_error("%s: expected SECTION.KEY=VALUE", where);
        free(where);
        return -1;
    }
    char *path = xstrndup(arg, (size_t)(eq - arg));
    int rc = ini_set(c, path, eq + 1);
    free(path);
    return rc;
}

/* ---------------------------------------------------------------------- output */

/* Whether the parser would read the bare text back as something else. */
static int needs_quotes(const char *v) {
    size_t n = strlen(v);
    if (n == 0 || is_ws(v[0]) || is_ws(v[n - 1]) || v[0] == '"' || v[0] == ';' || v[0] == '#') return 1;
    for (size_t i = 1; i < n; i++)
        if ((v[i] == ';' || v[i] == '#') && is_ws(v[i - 1])) return 1;
    return 0;
}

static void add_value(sbuf *b, const char *v) {
    if (!needs_quotes(v)) {
        sb_str(b, v);
        return;
    }
    sb_add(b, "\"", 1);
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\') sb_add(b, "\\", 1);
        sb_add(b, p, 1);
    }
    sb_add(b, "\"", 1);
}

char *ini_format(const ini *c, size_t *len) {
    sbuf b = {0};
    sb_add(&b, "", 0);
    for (int s = 0; s < c->nsecs; s++) {
        const ini_sec_t *sec = &c->secs[s];
        if (s) sb_add(&b, "\n", 1);
        sb_add(&b, "[", 1);
        sb_str(&b, sec->name);
        sb_add(&b, "]\n", 2);
        for (int k = 0; k < sec->nkeys; k++) {
            sb_str(&b, sec->keys[k].name);
            sb_add(&b, " = ", 3);
            add_value(&b, sec->keys[k].value);
            sb_add(&b, "\n", 1);
        }
    }
    if (len) *len = b.n;
    return b.p;
}

int ini_write(const ini *c, FILE *f) {
    size_t n;
    char *text = ini_format(c, &n);
    int bad = fwrite(text, 1, n, f) != n || fflush(f) != 0 || ferror(f);
    free(text);
    if (bad) return ev_error("%s: writing the config failed: %s", c->name, strerror(errno ? errno : EIO));
    return 0;
}

/* ---------------------------------------------------------------------- diff */

typedef struct {
    char *buf;
    size_t cap, used;
    int count, shown;
} diff_out;

#define DIFF_SHOWN 3

static void note(diff_out *d, const char *fmt, ...) EV_PRINTF(2, 3);
static void note(diff_out *d, const char *fmt, ...) {
    d->count++;
    if (d->shown >= DIFF_SHOWN || d->cap == 0) return;
    char piece[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(piece, sizeof piece, fmt, ap);
    va_end(ap);
    int w = snprintf(d->buf + d->used, d->cap - d->used, "%s%s", d->shown ? "; " : "", piece);
    d->used = w < 0 || (size_t)w >= d->cap - d->used ? d->cap - 1 : d->used + (size_t)w;
    d->shown++;
}

/* a value as ini_write spells it, clipped for messages */
static void shown_value(char *out, size_t cap, const char *v) {
    sbuf b = {0};
    sb_add(&b, "", 0);
    add_value(&b, v);
    int n = clip(b.p, b.n, cap > 4 ? cap - 4 : 0);
    snprintf(out, cap, "%.*s%s", n, b.p, (size_t)n < b.n ? "..." : "");
    free(b.p);
}

int ini_diff(const ini *a, const ini *b, char *buf, size_t n) {
    diff_out d = {buf, n, 0, 0, 0};
    if (n) buf[0] = '\0';
    char va[96], vb[96];
    for (int s = 0; s < a->nsecs; s++) {
        const ini_sec_t *sa = &a->secs[s], *sb = find_sec(b, sa->name);
        if (!sb) {
            note(&d, "[%s]: removed", sa->name);
            continue;
        }
        for (int k = 0; k < sa->nkeys; k++) {
            const ini_key_t *ka = &sa->keys[k], *kb = find_key(sb, ka->name);
            shown_value(va, sizeof va, ka->value);
            if (!kb) {
                note(&d, "[%s] %s: removed (was %s)", sa->name, ka->name, va);
            } else if (strcmp(ka->value, kb->value) != 0) {
                shown_value(vb, sizeof vb, kb->value);
                note(&d, "[%s] %s: %s -> %s", sa->name, ka->name, va, vb);
            }
        }
        for (int k = 0; k < sb->nkeys; k++)
            if (!find_key(sa, sb->keys[k].name)) {
                shown_value(vb, sizeof vb, sb->keys[k].value);
                note(&d, "[%s] %s: added (= %s)", sb->name, sb->keys[k].name, vb);
            }
    }
    for (int s = 0; s < b->nsecs; s++)
        if (!find_sec(a, b->secs[s].name)) note(&d, "[%s]: added", b->secs[s].name);
    if (d.count > d.shown && n) {
        int w = snprintf(buf + d.used, n - d.used, "; and %d more", d.count - d.shown);
        (void)w;
    }
    return d.count;
}
