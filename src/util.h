/* util.h - error reporting, checked allocation and file mapping shared by every module.
 *
 * Two error layers (see STYLE.md): modules that meet bad input print one line with
 * ev_error() and return NULL/-1; the CLI decides to exit. Failures that are not bad
 * input (out of memory, write errors) go through ev_fatal() or the x* wrappers and
 * end the process with a message saying where. */
#ifndef EV_UTIL_H
#define EV_UTIL_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdarg.h>

#define EV_VERSION "0.1.0"

#if defined(__GNUC__)
#define EV_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define EV_NORETURN __attribute__((noreturn))
#else
#define EV_PRINTF(a, b)
#define EV_NORETURN
#endif

/* Prints "evalctl: <message>" to stderr and returns -1, so callers write
 * `return ev_error("%s: bad magic", path);`. */
int ev_error(const char *fmt, ...) EV_PRINTF(1, 2);
/* Same line, then exit(1). */
void ev_fatal(const char *fmt, ...) EV_PRINTF(1, 2) EV_NORETURN;
/* The message of this thread's last ev_error (without "evalctl: "; "" when
 * none, truncated to 1023 bytes). */
const char *ev_error_last(void);

/* Allocation that never returns NULL: on failure prints the size and the caller's
 * file:line, then aborts. */
void *ev_xmalloc_at(size_t n, const char *file, int line);
void *ev_xcalloc_at(size_t n, size_t sz, const char *file, int line);
void *ev_xrealloc_at(void *p, size_t n, const char *file, int line);
char *ev_xstrdup_at(const char *s, const char *file, int line);
#define xmalloc(n) ev_xmalloc_at((n), __FILE__, __LINE__)
#define xcalloc(n, sz) ev_xcalloc_at((n), (sz), __FILE__, __LINE__)
#define xrealloc(p, n) ev_xrealloc_at((p), (n), __FILE__, __LINE__)
#define xstrdup(s) ev_xstrdup_at((s), __FILE__, __LINE__)

/* Overflow-checked size arithmetic: return 0 on success, -1 on overflow. */
int ev_mul_size(size_t a, size_t b, size_t *out);
int ev_add_size(size_t a, size_t b, size_t *out);

/* A read-only memory map of a whole file. An empty file maps to data == NULL,
 * size == 0. */
typedef struct {
    const uint8_t *data;
    size_t size;
} ev_map;

/* Returns 0, or prints one error line naming the file and returns -1. */
int ev_map_file(const char *path, ev_map *m);
void ev_unmap(ev_map *m);

/* Reads a whole file into a NUL-terminated heap buffer (owned by the caller).
 * Files ending in .gz are inflated through zlib. Returns NULL after printing one
 * error line. *len may be NULL. */
char *ev_read_file(const char *path, size_t *len);

/* 1 when path exists and is a directory / regular file. */
int ev_is_dir(const char *path);
int ev_is_file(const char *path);

/* Joins a directory and a file name into a new heap string. */
char *ev_path_join(const char *dir, const char *name);

/* Checked stdio writes: exit with the file name on any error (full disk...). */
void ev_xfwrite(const void *p, size_t n, FILE *f, const char *name);
void ev_xfflush(FILE *f, const char *name);

/* Validates UTF-8: returns 1 when the n bytes are well-formed UTF-8. */
int ev_utf8_valid(const char *s, size_t n);

/* Monotonic seconds, for progress and benchmarks. */
double ev_now(void);

/* mkdir -p: creates path and the directories above it (0755); an existing
 * directory is fine. Returns 0, or -1 after one error line naming the part
 * that failed, or saying path is not a directory. */
int ev_mkdirs(const char *path);

#endif
