/* util.c - error helpers, checked allocation, file mapping and reading. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

/* ------------------------------------------------------------------------ errors */

/* The last message, for callers that record an error instead of stopping
 * (evalctl run's per-sample records). */
static _Thread_local char last_error[1024];

static void vreport(const char *fmt, va_list ap) {
    va_list aq;
    va_copy(aq, ap);
    vsnprintf(last_error, sizeof last_error, fmt, aq);
    va_end(aq);
    fflush(stdout);
    fputs("evalctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

const char *ev_error_last(void) { return last_error; }

int ev_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport(fmt, ap);
    va_end(ap);
    return -1;
}

void ev_fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport(fmt, ap);
    va_end(ap);
    exit(1);
}

/* -------------------------------------------------------------------- allocation */

static void oom(size_t n, const char *file, int line) {
    fprintf(stderr, "evalctl: out of memory allocating %zu bytes at %s:%d\n", n, file, line);
    abort();
}

void *ev_xmalloc_at(size_t n, const char *file, int line) {
    void *p = malloc(n ? n : 1);
    if (!p) oom(n, file, line);
    return p;
}

void *ev_xcalloc_at(size_t n, size_t sz, const char *file, int line) {
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p) oom(n * sz, file, line);
    return p;
}

void *ev_xrealloc_at(void *p, size_t n, const char *file, int line) {
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n, file, line);
    return q;
}

char *ev_xstrdup_at(const char *s, const char *file, int line) {
    size_t n = strlen(s) + 1;
    char *p = ev_xmalloc_at(n, file, line);
    memcpy(p, s, n);
    return p;
}

int ev_mul_size(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return -1;
    *out = a * b;
    return 0;
}

int ev_add_size(size_t a, size_t b, size_t *out) {
    if (b > SIZE_MAX - a) return -1;
    *out = a + b;
    return 0;
}

/* ------------------------------------------------------------------------- files */

int ev_map_file(const char *path, ev_map *m) {
    m->data = NULL;
    m->size = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return ev_error("%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return ev_error("%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return ev_error("%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return 0;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) return ev_error("%s: cannot map: %s", path, strerror(e));
    m->data = p;
    m->size = (size_t)st.st_size;
    return 0;
}

void ev_unmap(ev_map *m) {
    if (m && m->data) munmap((void *)m->data, m->size);
    if (m) {
        m->data = NULL;
        m->size = 0;
    }
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

char *ev_read_file(const char *path, size_t *len) {
    if (ev_is_dir(path)) {
        ev_error("%s: is a directory", path);
        return NULL;
    }
    gzFile gz = NULL;
    FILE *f = NULL;
    /* gzopen reads plain files transparently, but only .gz names go through it so
     * that an error on a plain file reports errno rather than a zlib message. */
    int zipped = ends_with(path, ".gz");
    if (zipped) gz = gzopen(path, "rb");
    else f = fopen(path, "rb");
    if (!gz && !f) {
        ev_error("%s: %s", path, strerror(errno ? errno : ENOENT));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (cap - n < 1 << 15) {
            if (cap > SIZE_MAX / 2) {
                ev_error("%s: file too large", path);
                goto fail;
            }
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        size_t want = cap - n - 1;
        if (zipped) {
            if (want > (1u << 30)) want = 1u << 30;
            int r = gzread(gz, buf + n, (unsigned)want);
            if (r < 0) {
                int ez;
                const char *msg = gzerror(gz, &ez);
                size_t pl = strlen(path); /* zlib prefixes the path itself */
                if (strncmp(msg, path, pl) == 0 && strncmp(msg + pl, ": ", 2) == 0) msg += pl + 2;
                ev_error("%s: corrupt gzip data: %s", path, msg);
                goto fail;
            }
            if (r == 0) break;
            n += (size_t)r;
        } else {
            size_t r = fread(buf + n, 1, want, f);
            n += r;
            if (r < want) {
                if (ferror(f)) {
                    ev_error("%s: read error: %s", path, strerror(errno));
                    goto fail;
                }
                break;
            }
        }
    }
    buf[n] = '\0';
    if (zipped) gzclose(gz);
    else fclose(f);
    if (len) *len = n;
    return buf;
fail:
    free(buf);
    if (zipped) gzclose(gz);
    else fclose(f);
    return NULL;
}

int ev_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int ev_is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

char *ev_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = xmalloc(a + b + 2);
    memcpy(p, dir, a);
    size_t k = a;
    if (k > 0 && p[k - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

void ev_xfwrite(const void *p, size_t n, FILE *f, const char *name) {
    if (n && fwrite(p, 1, n, f) != n) ev_fatal("%s: write failed: %s", name, strerror(errno));
}

void ev_xfflush(FILE *f, const char *name) {
    if (fflush(f) != 0) ev_fatal("%s: write failed: %s", name, strerror(errno));
}

/* ------------------------------------------------------------------------- utf-8 */

int ev_utf8_valid(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        unsigned cp;
        if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07;
        else return 0;
        if (n - i < len) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        /* overlong forms, surrogates and values past U+10FFFF */
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return 0;
        if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
        i += len;
    }
    return 1;
}

double ev_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int ev_mkdirs(const char *path) {
    char *p = xstrdup(path);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            if (mkdir(p, 0755) != 0 && errno != EEXIST) {
                ev_error("%s: mkdir: %s", p, strerror(errno));
                free(p);
                return -1;
            }
            *s = '/';
        }
    int r = mkdir(p, 0755) != 0 && errno != EEXIST ? ev_error("%s: mkdir: %s", p, strerror(errno)) : 0;
    if (r == 0 && !ev_is_dir(p)) r = ev_error("%s: not a directory", p);
    free(p);
    return r;
}
