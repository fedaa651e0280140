/* pystr.h - Python 3 str semantics in C, for scorers that must agree with
 * official Python code character for character.
 *
 * A pystr holds code points (UCS-4), as a Python str does, so lengths,
 * indices and slices count code points, not bytes. The predicates follow
 * CPython's unicodeobject.c and _sre:
 *   pystr_isspace    str.isspace(), re \s, the separator of str.split()/strip()
 *   pystr_isalnum    str.isalnum() (categories L* and N*)
 *   pystr_isword     re \w on str patterns: isalnum() or '_'
 *   pystr_isdecimal  str.isdecimal(), re \d (category Nd)
 * Case mapping is str.lower()/str.upper(): full mappings (U+0130 lowers to two
 * code points, U+00DF uppers to "SS") and the Final_Sigma rule of lower().
 * Character data comes from utf8proc; code points that utf8proc knows but the
 * comparing Python's Unicode database does not (newer Unicode versions) follow
 * utf8proc, i.e. the Python whose Unicode version matches utf8proc's. */
#ifndef EV_PYSTR_H
#define EV_PYSTR_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t *cp; /* (n) code points, owned */
    size_t n;
    size_t cap;
} pystr;

/* A slice [off, off + len) of some pystr. */
typedef struct {
    size_t off, len;
} pystr_span;

/* ------------------------------------------------------------ building */
/* Decodes len bytes of UTF-8 into *out (which must be zeroed or freed).
 * Returns 0, or -1 on malformed UTF-8 (surrogates and overlongs included),
 * leaving *out empty. */
int pystr_from_utf8(pystr *out, const char *s, size_t len);
/* Appends code points. */
void pystr_push(pystr *s, uint32_t c);
void pystr_append(pystr *s, const uint32_t *cp, size_t n);
/* Encodes s[off, off+len) as a new NUL-terminated UTF-8 heap string; *out_len
 * (may be NULL) gets its byte length. */
char *pystr_to_utf8(const uint32_t *cp, size_t n, size_t *out_len);
void pystr_free(pystr *s); /* NULL-safe; leaves *s empty */

/* ------------------------------------------------------------ predicates */
int pystr_isspace(uint32_t c);
int pystr_isalnum(uint32_t c);
int pystr_isword(uint32_t c);
int pystr_isdecimal(uint32_t c);
/* The digit value 0..9 of a decimal character, -1 for any other. */
int pystr_decimal_value(uint32_t c);

/* ------------------------------------------------------------ methods */
/* out = in.lower() / in.upper(); out is overwritten. */
void pystr_lower(const pystr *in, pystr *out);
void pystr_upper(const pystr *in, pystr *out);
/* s = s.strip(), in place. */
void pystr_strip(pystr *s);
/* s = s.replace(old, new) for a non-empty ASCII old, in place. */
void pystr_replace_ascii(pystr *s, const char *old_s, const char *new_s);
/* The words of s.split() (runs of non-whitespace): returns their number and a
 * heap array of spans into s (NULL when there are none); the caller frees it. */
size_t pystr_split(const pystr *s, pystr_span **spans);
/* s.find(needle, start) for an ASCII needle: the index, or -1. */
long pystr_find_ascii(const pystr *s, size_t start, const char *needle);
/* 1 when s[off, off+len) starts with t (s.startswith(t)). */
int pystr_startswith(const uint32_t *s, size_t n, const uint32_t *t, size_t tn);
/* 1 when a[0,an) == b[0,bn). */
int pystr_eq(const uint32_t *a, size_t an, const uint32_t *b, size_t bn);
/* 1 when a[0,an) equals the ASCII string b. */
int pystr_eq_ascii(const uint32_t *a, size_t an, const char *b);

/* ------------------------------------------------------------ numbers */
/* Python's int(s) for a str s in base 10 (CPython 3.11+): surrounding
 * whitespace, one sign, decimal digits of any script, single underscores
 * between digits, at most 4300 digits (sys.int_info.default_max_str_digits).
 * On success returns 0 and a new heap string with the value in canonical
 * form ("-12", "0"); returns -1 where Python raises ValueError. */
int pystr_to_int(const uint32_t *s, size_t n, char **canon);
/* The canonical decimal form (as above) of an int64, written into buf[24]. */
void pystr_int64_canon(long long v, char buf[24]);
/* Python's repr() of a float: the shortest string that reads back to v
 * ("0.6666666666666666", "100.0", "1e-05"); buf needs 32 bytes. */
void pystr_float_repr(double v, char buf[32]);
/* Python's round(v, ndigits) for a finite v (correctly rounded, ties to even
 * on the exact binary value). */
double pystr_round(double v, int ndigits);

#endif
