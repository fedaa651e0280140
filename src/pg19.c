/* pg19.c - PG19 books from .txt, .txt.gz, JSONL or a directory of them, and
 * the perplexity windows; see pg19.h. */
#include "pg19.h"

#include "util.h"

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !memcmp(s + n - m, suf, m);
}

static int is_jsonl(const char *p) { return ends_with(p, ".jsonl") || ends_with(p, ".jsonl.gz"); }
static int is_txt(const char *p) { return ends_with(p, ".txt") || ends_with(p, ".txt.gz"); }

/* The first byte at which s[0, n) stops being UTF-8, or n. */
static size_t utf8_bad_at(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = u[i];
        size_t k;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) k = 1, cp = c & 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0) k = 2, cp = c & 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0) k = 3, cp = c & 0x07, min = 0x10000;
        else return i;
        if (n - i <= k) return i;
        for (size_t j = 1; j <= k; j++) {
            if ((u[i + j] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (u[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += k + 1;
    }
    return n;
}

static void add_book(pg19_books *b, size_t *cap, pg19_book bk) {
    if (b->n == *cap) {
        *cap = *cap ? 2 * *cap : 16;
        b->books = xrealloc(b->books, *cap * sizeof *b->books);
    }
    b->books[b->n++] = bk;
}

static char *base_title(const char *path) {
    const char *s = strrchr(path, '/');
    s = s ? s + 1 : path;
    char *t = xstrdup(s);
    size_t n = strlen(t);
    if (n > 3 && !strcmp(t + n - 3, ".gz")) t[n -= 3] = '\0';
    if (n > 4 && !strcmp(t + n - 4, ".txt")) t[n -= 4] = '\0';
    return t;
}

static int read_txt(const char *path, pg19_books *b, size_t *cap) {
    size_t len;
    char *text = ev_read_file(path, &len);
    if (!text) return -1;
    size_t bad = utf8_bad_at(text, len);
    if (bad < len) {
        free(text);
        return ev_error("%s: invalid UTF-8 (at byte %zu)", path, bad);
    }
    add_book(b, cap, (pg19_book){.title = base_title(path), .text = text, .len = len, .source = xstrdup(path)});
    return 0;
}

static char *opt_str(const json_t *rec, const char *key) {
    const json_t *v = json_object_get(rec, key);
    return json_is_string(v) ? xstrdup(json_string_value(v)) : NULL;
}

static int read_jsonl(const char *path, pg19_books *b, size_t *cap) {
    size_t len;
    char *text = ev_read_file(path, &len);
    if (!text) return -1;
    int rc = 0;
    size_t lineno = 0;
    for (size_t pos = 0; pos < len && rc == 0;) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - line) : len - pos;
        pos += ll + 1;
        lineno++;
        size_t k = 0;
        while (k < ll && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r')) k++;
        if (k == ll) continue;
        char where[4096];
        snprintf(where, sizeof where, "%s:%zu", path, lineno);
        json_error_t err;
        /* no JSON_ALLOW_NUL: a book is a C string */
        json_t *rec = json_loadb(line, ll, 0, &err);
        if (!rec) {
            rc = ev_error("%s: invalid JSON: %s (at column %d)", where, err.text, err.column);
            break;
        }
        const json_t *t = json_object_get(rec, "text");
        if (!json_is_object(rec)) rc = ev_error("%s: the record is not a JSON object", where);
        else if (!t) rc = ev_error("%s: missing field \"text\"", where);
        else if (!json_is_string(t)) rc = ev_error("%s: field \"text\" must be a string", where);
        else {
            const json_t *tt = json_object_get(rec, "short_book_title");
            if (tt && !json_is_string(tt) && !json_is_null(tt))
                rc = ev_error("%s: field \"short_book_title\" must be a string", where);
        }
        if (rc == 0) {
            pg19_book bk = {0};
            bk.len = json_string_length(t);
            bk.text = xmalloc(bk.len + 1);
            memcpy(bk.text, json_string_value(t), bk.len + 1);
            bk.title = opt_str(rec, "short_book_title");
            if (!bk.title) bk.title = xstrdup(where);
            bk.date = opt_str(rec, "publication_date");
            bk.url = opt_str(rec, "url");
            bk.source = xstrdup(where);
            add_book(b, cap, bk);
        }
        json_decref(rec);
    }
    free(text);
    return rc;
}

static int read_one(const char *path, pg19_books *b, size_t *cap) {
    if (is_jsonl(path)) return read_jsonl(path, b, cap);
    return read_txt(path, b, cap);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int read_dir(const char *path, pg19_books *b, size_t *cap) {
    DIR *d = opendir(path);
    if (!d) return ev_error("%s: cannot open the directory", path);
    char **names = NULL;
    size_t n = 0, ncap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !(is_txt(e->d_name) || is_jsonl(e->d_name))) continue;
        char *full = ev_path_join(path, e->d_name);
        if (!ev_is_file(full)) {
            free(full);
            continue;
        }
        if (n == ncap) {
            ncap = ncap ? 2 * ncap : 16;
            names = xrealloc(names, ncap * sizeof *names);
        }
        names[n++] = full;
    }
    closedir(d);
    int rc = 0;
    if (n == 0) rc = ev_error("%s: no books in the directory (*.txt, *.txt.gz, *.jsonl, *.jsonl.gz)", path);
    if (n) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0) rc = read_one(names[i], b, cap);
        free(names[i]);
    }
    free(names);
    return rc;
}

pg19_books *pg19_open(const char *path) {
    pg19_books *b = xcalloc(1, sizeof *b);
    size_t cap = 0;
    int rc;
    if (ev_is_dir(path)) rc = read_dir(path, b, &cap);
    else if (!ev_is_file(path)) rc = ev_error("%s: no such file or directory", path);
    else rc = read_one(path, b, &cap);
    if (rc != 0) {
        pg19_close(b);
        return NULL;
    }
    return b;
}

void pg19_close(pg19_books *b) {
    if (!b) return;
    for (size_t i = 0; i < b->n; i++) {
        free(b->books[i].title);
        free(b->books[i].text);
        free(b->books[i].date);
        free(b->books[i].url);
        free(b->books[i].source);
    }
    free(b->books);
    free(b);
}

size_t pg19_windows(size_t n_tokens, size_t ctx, size_t max_windows, pg19_window *out) {
    size_t k = 0;
    if (ctx < 2) return 0;
    for (size_t s = 0; s < n_tokens; s += ctx) {
        size_t w = n_tokens - s < ctx ? n_tokens - s : ctx;
        if (w < 2) break;
        if (max_windows && k == max_windows) break;
        if (out) out[k] = (pg19_window){s, w};
        k++;
    }
    return k;
}

int pg19_tokenize(tok_tokenizer *tok, const pg19_book *b, int32_t **ids, size_t *n) {
    return tok_encode(tok, b->text, b->len, 1, ids, n);
}
