/* csv.c - the RFC 4180 reader and field writer of csv.h. */
#include "csv.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

/* One record being read: its fields so far and the bytes of the current one. */
typedef struct {
    char **f;
    int n, cap;
    char *cur;
    size_t cur_n, cur_cap;
} rec;

static void cur_add(rec *r, char c) {
    if (r->cur_n + 2 > r->cur_cap) {
        r->cur_cap = r->cur_cap ? r->cur_cap * 2 : 32;
        r->cur = xrealloc(r->cur, r->cur_cap);
    }
    r->cur[r->cur_n++] = c;
}

static void field_end(rec *r) {
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 8;
        r->f = xrealloc(r->f, sizeof *r->f * (size_t)r->cap);
    }
    char *s = xmalloc(r->cur_n + 1);
    if (r->cur_n) memcpy(s, r->cur, r->cur_n);
    s[r->cur_n] = 0;
    r->f[r->n++] = s;
    r->cur_n = 0;
}

static void record_end(csv_table *t, rec *r, int line) {
    field_end(r);
    t->fields = xrealloc(t->fields, sizeof *t->fields * (size_t)(t->n_rows + 1));
    t->n_fields = xrealloc(t->n_fields, sizeof *t->n_fields * (size_t)(t->n_rows + 1));
    t->line = xrealloc(t->line, sizeof *t->line * (size_t)(t->n_rows + 1));
    t->fields[t->n_rows] = r->f;
    t->n_fields[t->n_rows] = r->n;
    t->line[t->n_rows] = line;
    t->n_rows++;
    r->f = NULL;
    r->n = r->cap = 0;
}

csv_table *csv_parse(const char *text, size_t len, const char *name) {
    csv_table *t = xcalloc(1, sizeof *t);
    t->name = xstrdup(name);
    rec r = {0};
    size_t i = 0;
    int line = 1, start = 1;
    if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3)) i = 3;
    if (memchr(text, 0, len)) {
        /* the line of the first NUL, for the message */
        const char *z = memchr(text, 0, len);
        for (const char *p = text; p < z; p++) line += *p == '\n';
        ev_error("%s:%d: NUL byte", name, line);
        goto fail;
    }
    if (!ev_utf8_valid(text, len)) {
        /* find the line: validate line by line */
        size_t a = 0;
        while (a < len) {
            const char *nl = memchr(text + a, '\n', len - a);
            size_t b = nl ? (size_t)(nl - text) + 1 : len;
            if (!ev_utf8_valid(text + a, b - a)) break;
            a = b;
            line++;
        }
        ev_error("%s:%d: not UTF-8", name, line);
        goto fail;
    }
    while (i < len) {
        /* at the start of a field */
        if (text[i] == '"') {
            int open_line = line;
            i++;
            for (;;) {
                if (i >= len) {
                    ev_error("%s:%d: quoted field not closed", name, open_line);
                    goto fail;
                }
                if (text[i] == '"') {
                    if (i + 1 < len && text[i + 1] == '"') {
                        cur_add(&r, '"');
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                if (text[i] == '\n') line++;
                cur_add(&r, text[i++]);
            }
            if (i < len && text[i] != ',' && text[i] != '\n' && !(text[i] == '\r' && i + 1 < len && text[i + 1] == '\n')) {
                ev_error("%s:%d: text after a closing quote", name, line);
                goto fail;
            }
        } else {
            while (i < len && text[i] != ',' && text[i] != '\n' && !(text[i] == '\r' && i + 1 < len && text[i + 1] == '\n')) {
                if (text[i] == '"') {
                    ev_error("%s:%d: a quote inside an unquoted field", name, line);
                    goto fail;
                }
                if (text[i] == '\r') {
                    ev_error("%s:%d: a CR not followed by LF outside quotes", name, line);
                    goto fail;
                }
                cur_add(&r, text[i++]);
            }
        }
        if (i >= len) {
            record_end(t, &r, start);
            break;
        }
        if (text[i] == ',') {
            field_end(&r);
            i++;
            if (i == len) { /* "a,b," at the very end: the last field is empty */
                record_end(t, &r, start);
                break;
            }
            continue;
        }
        i += text[i] == '\r' ? 2 : 1;
        record_end(t, &r, start);
        start = ++line;
    }
    free(r.cur);
    return t;
fail:
    for (int k = 0; k < r.n; k++) free(r.f[k]);
    free(r.f);
    free(r.cur);
    csv_free(t);
    return NULL;
}

csv_table *csv_read(const char *path) {
    size_t len;
    char *text = ev_read_file(path, &len);
    if (!text) return NULL;
    csv_table *t = csv_parse(text, len, path);
    free(text);
    return t;
}

void csv_free(csv_table *t) {
    if (!t) return;
    for (int r = 0; r < t->n_rows; r++) {
        for (int k = 0; k < t->n_fields[r]; k++) free(t->fields[r][k]);
        free(t->fields[r]);
    }
    free(t->fields);
    free(t->n_fields);
    free(t->line);
    free(t->name);
    free(t);
}

int csv_column(const csv_table *t, const char *name) {
    if (t->n_rows == 0) return -1;
    for (int k = 0; k < t->n_fields[0]; k++)
        if (!strcmp(t->fields[0][k], name)) return k;
    return -1;
}

void csv_put(FILE *f, const char *s, int last) {
    if (strpbrk(s, ",\"\r\n")) {
        fputc('"', f);
        for (const char *p = s; *p; p++) {
            if (*p == '"') fputc('"', f);
            fputc(*p, f);
        }
        fputc('"', f);
    } else {
        fputs(s, f);
    }
    fputs(last ? "\r\n" : ",", f);
}
