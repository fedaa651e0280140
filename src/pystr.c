/* pystr.c - Python 3 str semantics (see pystr.h): code-point strings, the
 * character classes of str methods and of re on str patterns, full case
 * mapping, int() parsing and float repr/round, checked code point by code point
 * against CPython by tests/test_pystr.c. */
#include "pystr.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ------------------------------------------------------------ building */

static void reserve(pystr *s, size_t extra) {
    size_t need;
    if (ev_add_size(s->n, extra, &need) != 0) ev_fatal("pystr: string too long");
    if (need <= s->cap) return;
    size_t cap = s->cap ? s->cap : 16;
    while (cap < need) {
        if (cap > SIZE_MAX / 2 / sizeof(uint32_t)) ev_fatal("pystr: string too long");
        cap *= 2;
    }
    s->cp = xrealloc(s->cp, cap * sizeof(uint32_t));
    s->cap = cap;
}

void pystr_push(pystr *s, uint32_t c) {
    reserve(s, 1);
    s->cp[s->n++] = c;
}

void pystr_append(pystr *s, const uint32_t *cp, size_t n) {
    if (n == 0) return;
    reserve(s, n);
    memcpy(s->cp + s->n, cp, n * sizeof(uint32_t));
    s->n += n;
}

void pystr_free(pystr *s) {
    if (!s) return;
    free(s->cp);
    s->cp = NULL;
    s->n = s->cap = 0;
}

int pystr_from_utf8(pystr *out, const char *s, size_t len) {
    const uint8_t *p = (const uint8_t *)s;
    out->n = 0;
    reserve(out, len); /* never more code points than bytes */
    size_t i = 0;
    while (i < len) {
        uint32_t c = p[i];
        size_t k;
        uint32_t min;
        if (c < 0x80) {
            out->cp[out->n++] = c;
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            k = 1, c &= 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2, c &= 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3, c &= 0x07, min = 0x10000;
        } else {
            goto bad;
        }
        if (len - i - 1 < k) goto bad;
        for (size_t j = 1; j <= k; j++) {
            if ((p[i + j] & 0xC0) != 0x80) goto bad;
            c = (c << 6) | (p[i + j] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) goto bad;
        out->cp[out->n++] = c;
        i += k + 1;
    }
    return 0;
bad:
    out->n = 0;
    return -1;
}

char *pystr_to_utf8(const uint32_t *cp, size_t n, size_t *out_len) {
    size_t cap;
    if (ev_mul_size(n, 4, &cap) != 0 || ev_add_size(cap, 1, &cap) != 0) ev_fatal("pystr: string too long");
    char *buf = xmalloc(cap);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = cp[i];
        if (c < 0x80) {
            buf[o++] = (char)c;
        } else if (c < 0x800) {
            buf[o++] = (char)(0xC0 | (c >> 6));
            buf[o++] = (char)(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
            buf[o++] = (char)(0xE0 | (c >> 12));
            buf[o++] = (char)(0x80 | ((c >> 6) & 0x3F));
            buf[o++] = (char)(0x80 | (c & 0x3F));
        } else {
            buf[o++] = (char)(0xF0 | (c >> 18));
            buf[o++] = (char)(0x80 | ((c >> 12) & 0x3F));
            buf[o++] = (char)(0x80 | ((c >> 6) & 0x3F));
            buf[o++] = (char)(0x80 | (c & 0x3F));
        }
    }
    buf[o] = '\0';
    if (out_len) *out_len = o;
    return buf;
}

/* ------------------------------------------------------------ predicates */

static int category(uint32_t c) { return c > 0x10FFFF ? UTF8PROC_CATEGORY_CN : (int)utf8proc_category((utf8proc_int32_t)c); }

/* CPython's Py_UNICODE_ISSPACE: the ASCII whitespace of _Py_ascii_whitespace
 * (which counts the information separators 0x1C-0x1F), and beyond ASCII every
 * character of category Zs or of bidirectional class WS, B or S. Outside ASCII
 * that set is short and stable, so it is listed rather than looked up. */
int pystr_isspace(uint32_t c) {
    if (c < 0x80) return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20);
    switch (c) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
    case 0x202F: case 0x205F: case 0x3000:
        return 1;
    default:
        return c >= 0x2000 && c <= 0x200A;
    }
}

/* str.isalnum() is isalpha() (categories Lu Ll Lt Lm Lo) or isdecimal() or
 * isdigit() or isnumeric() (characters with a numeric value: Nd, Nl, No, and
 * CJK ideographs that are Lo anyway). Marks (Mn, Mc) are not alnum, unlike in
 * PCRE2's UCP \w. */
int pystr_isalnum(uint32_t c) {
    if (c < 0x80) return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
    int k = category(c);
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) ||
           (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO);
}

int pystr_isword(uint32_t c) { return c == '_' || pystr_isalnum(c); }

int pystr_isdecimal(uint32_t c) {
    if (c < 0x80) return c >= '0' && c <= '9';
    return category(c) == UTF8PROC_CATEGORY_ND;
}

/* Unicode encodes every decimal digit in runs of ten, 0 to 9, one run after
 * another (UAX #44, Numeric_Type=Decimal), so a digit's value is its distance
 * from the start of its block of Nd characters, modulo ten. */
int pystr_decimal_value(uint32_t c) {
    if (c < 0x80) return (c >= '0' && c <= '9') ? (int)(c - '0') : -1;
    if (category(c) != UTF8PROC_CATEGORY_ND) return -1;
    uint32_t start = c;
    while (start > 0 && category(start - 1) == UTF8PROC_CATEGORY_ND) start--;
    return (int)((c - start) % 10);
}

/* Unicode's Cased: Lu, Ll, Lt, plus Other_Lowercase and Other_Uppercase
 * (PropList.txt), which hold letters of category Lm/Lo/Mn/Nl/So such as
 * U+00AA, the modifier letters and the Roman numerals. */
static const uint32_t other_cased[][2] = {
    {0x00AA, 0x00AA}, {0x00BA, 0x00BA}, {0x02B0, 0x02B8}, {0x02C0, 0x02C1}, {0x02E0, 0x02E4},
    {0x0345, 0x0345}, {0x037A, 0x037A}, {0x10FC, 0x10FC}, {0x1D2C, 0x1D6A}, {0x1D78, 0x1D78},
    {0x1D9B, 0x1DBF}, {0x2071, 0x2071}, {0x207F, 0x207F}, {0x2090, 0x209C}, {0x2160, 0x217F},
    {0x24B6, 0x24E9}, {0x2C7C, 0x2C7D}, {0xA69C, 0xA69D}, {0xA770, 0xA770}, {0xA7F2, 0xA7F4},
    {0xA7F8, 0xA7F9}, {0xAB5C, 0xAB5F}, {0xAB69, 0xAB69}, {0x10780, 0x10780}, {0x10783, 0x10785},
    {0x10787, 0x107B0}, {0x107B2, 0x107BA}, {0x1E030, 0x1E06D}, {0x1F130, 0x1F149},
    {0x1F150, 0x1F169}, {0x1F170, 0x1F189},
};

static int in_ranges(uint32_t c, const uint32_t (*r)[2], size_t n) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c < r[mid][0]) hi = mid;
        else if (c > r[mid][1]) lo = mid + 1;
        else return 1;
    }
    return 0;
}

static int is_cased(uint32_t c) {
    int k = category(c);
    if (k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT) return 1;
    return in_ranges(c, other_cased, sizeof other_cased / sizeof other_cased[0]);
}

/* Unicode's Case_Ignorable: categories Mn Me Cf Lm Sk, plus the characters of
 * Word_Break MidLetter, MidNumLet and Single_Quote. */
static int is_case_ignorable(uint32_t c) {
    switch (c) {
    case 0x0027: case 0x002E: case 0x003A: case 0x00B7: case 0x0387: case 0x055F:
    case 0x05F4: case 0x2018: case 0x2019: case 0x2024: case 0x2027: case 0xFE13:
    case 0xFE52: case 0xFE55: case 0xFF07: case 0xFF0E: case 0xFF1A:
        return 1;
    default:
        break;
    }
    int k = category(c);
    return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_ME || k == UTF8PROC_CATEGORY_CF ||
           k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_SK;
}

/* ------------------------------------------------------------ case mapping */

/* CPython's handle_capital_sigma: U+03A3 lowers to final U+03C2 when a cased
 * letter precedes it and none follows, skipping case-ignorable characters. */
static uint32_t lower_sigma(const uint32_t *s, size_t n, size_t i) {
    size_t j = i;
    uint32_t c = 0;
    while (j > 0) {
        c = s[--j];
        if (!is_case_ignorable(c)) goto found;
    }
    return 0x3C3;
found:
    if (!is_cased(c)) return 0x3C3;
    for (j = i + 1; j < n; j++) {
        c = s[j];
        if (!is_case_ignorable(c)) return is_cased(c) ? 0x3C3 : 0x3C2;
    }
    return 0x3C2;
}

void pystr_lower(const pystr *in, pystr *out) {
    out->n = 0;
    reserve(out, in->n);
    for (size_t i = 0; i < in->n; i++) {
        uint32_t c = in->cp[i];
        if (c < 0x80) {
            pystr_push(out, (c >= 'A' && c <= 'Z') ? c + 32 : c);
        } else if (c == 0x130) {
            /* the one unconditional multi-character lowercase mapping in
             * SpecialCasing.txt: I WITH DOT ABOVE -> i + COMBINING DOT ABOVE */
            pystr_push(out, 'i');
            pystr_push(out, 0x307);
        } else if (c == 0x3A3) {
            pystr_push(out, lower_sigma(in->cp, in->n, i));
        } else {
            pystr_push(out, (uint32_t)utf8proc_tolower((utf8proc_int32_t)c));
        }
    }
}

/* str.upper() uses the full uppercase mappings of SpecialCasing.txt where they
 * exist. The characters that have one (U+00DF, the ligatures U+FB00.., the
 * Greek letters with ypogegrammeni...) are exactly the non-uppercase ones whose
 * full case folding is several code points, and their full uppercase is the
 * simple uppercase of each code point of that folding (U+00DF folds to "ss",
 * uppers to "SS"; U+1F80 folds to U+1F00 U+03B9, uppers to U+1F08 U+0399).
 * utf8proc has the foldings, so the table is derived instead of copied. */
static void upper_one(pystr *out, uint32_t c) {
    if (c < 0x80) {
        pystr_push(out, (c >= 'a' && c <= 'z') ? c - 32 : c);
        return;
    }
    if (category(c) != UTF8PROC_CATEGORY_LU) {
        utf8proc_int32_t fold[8];
        int last = 0;
        utf8proc_ssize_t k = utf8proc_decompose_char((utf8proc_int32_t)c, fold, 8, UTF8PROC_CASEFOLD, &last);
        if (k > 1 && k <= 8) {
            for (utf8proc_ssize_t j = 0; j < k; j++) pystr_push(out, (uint32_t)utf8proc_toupper(fold[j]));
            return;
        }
    }
    pystr_push(out, (uint32_t)utf8proc_toupper((utf8proc_int32_t)c));
}

void pystr_upper(const pystr *in, pystr *out) {
    out->n = 0;
    reserve(out, in->n);
    for (size_t i = 0; i < in->n; i++) upper_one(out, in->cp[i]);
}

/* ------------------------------------------------------------ methods */

void pystr_strip(pystr *s) {
    size_t a = 0, b = s->n;
    while (a < b && pystr_isspace(s->cp[a])) a++;
    while (b > a && pystr_isspace(s->cp[b - 1])) b--;
    if (a > 0) memmove(s->cp, s->cp + a, (b - a) * sizeof(uint32_t));
    s->n = b - a;
}

void pystr_replace_ascii(pystr *s, const char *old_s, const char *new_s) {
    size_t on = strlen(old_s), nn = strlen(new_s);
    if (on == 0 || s->n < on) return;
    pystr r = {0};
    reserve(&r, s->n);
    size_t i = 0;
    while (i < s->n) {
        if (i + on <= s->n && pystr_eq_ascii(s->cp + i, on, old_s)) {
            for (size_t j = 0; j < nn; j++) pystr_push(&r, (uint8_t)new_s[j]);
            i += on;
        } else {
            pystr_push(&r, s->cp[i++]);
        }
    }
    pystr_free(s);
    *s = r;
}

size_t pystr_split(const pystr *s, pystr_span **spans) {
    size_t n = 0, cap = 0;
    pystr_span *v = NULL;
    size_t i = 0;
    while (i < s->n) {
        while (i < s->n && pystr_isspace(s->cp[i])) i++;
        if (i == s->n) break;
        size_t a = i;
        while (i < s->n && !pystr_isspace(s->cp[i])) i++;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            v = xrealloc(v, cap * sizeof *v);
        }
        v[n].off = a;
        v[n].len = i - a;
        n++;
    }
    *spans = v;
    return n;
}

long pystr_find_ascii(const pystr *s, size_t start, const char *needle) {
    size_t nn = strlen(needle);
    if (start > s->n || s->n - start < nn) return -1;
    for (size_t i = start; i + nn <= s->n; i++)
        if (pystr_eq_ascii(s->cp + i, nn, needle)) return (long)i;
    return -1;
}

int pystr_startswith(const uint32_t *s, size_t n, const uint32_t *t, size_t tn) {
    return tn <= n && (tn == 0 || memcmp(s, t, tn * sizeof(uint32_t)) == 0);
}

int pystr_eq(const uint32_t *a, size_t an, const uint32_t *b, size_t bn) {
    return an == bn && (an == 0 || memcmp(a, b, an * sizeof(uint32_t)) == 0);
}

int pystr_eq_ascii(const uint32_t *a, size_t an, const char *b) {
    for (size_t i = 0; i < an; i++)
        if (b[i] == '\0' || a[i] != (uint8_t)b[i]) return 0;
    return b[an] == '\0';
}

/* ------------------------------------------------------------ numbers */

#define PY_INT_MAX_STR_DIGITS 4300

int pystr_to_int(const uint32_t *s, size_t n, char **canon) {
    /* _PyUnicode_TransformDecimalAndSpaceToASCII: non-ASCII whitespace reads as
     * a space, decimal digits of any script as ASCII digits, anything else
     * non-ASCII (and DEL) ends the parse as an error. */
    size_t i = 0, end = n;
    while (i < end && pystr_isspace(s[i])) i++;
    while (end > i && pystr_isspace(s[end - 1])) end--;
    /* After the transform, PyLong_FromString skips only ASCII " \t\n\v\f\r";
     * 0x1C-0x1F stay in place and make the string invalid. */
    for (size_t j = 0; j < n; j++) {
        if ((j < i || j >= end) && s[j] >= 0x1C && s[j] <= 0x1F) return -1;
    }
    int neg = 0;
    if (i < end && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    if (i >= end || s[i] == '_') return -1;
    size_t digits = 0;
    char *out = xmalloc(end - i + 2);
    size_t o = 0;
    out[o++] = '-';
    uint32_t prev = 0;
    for (; i < end; i++) {
        uint32_t c = s[i];
        if (c == '_') {
            if (prev == '_') goto bad;
        } else {
            int d = c == 0x7F ? -1 : pystr_decimal_value(c);
            if (d < 0) goto bad;
            digits++;
            if (o > 1 || d != 0) out[o++] = (char)('0' + d);
        }
        prev = c;
    }
    if (prev == '_' || digits > PY_INT_MAX_STR_DIGITS) goto bad;
    if (o == 1) out[o++] = '0', neg = 0;
    out[o] = '\0';
    if (!neg) memmove(out, out + 1, o);
    *canon = out;
    return 0;
bad:
    free(out);
    return -1;
}

void pystr_int64_canon(long long v, char buf[24]) { snprintf(buf, 24, "%lld", v); }

void pystr_float_repr(double v, char buf[32]) {
    if (isnan(v) || isinf(v)) {
        strcpy(buf, isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
        return;
    }
    /* shortest round-tripping significand, as repr() (dtoa mode 0) picks */
    char e[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, v);
        if (strtod(e, NULL) == v) break;
    }
    /* e = [-]d[.ddd]e[+-]XX */
    const char *p = e;
    int neg = *p == '-';
    if (neg) p++;
    char dig[20];
    int nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') dig[nd++] = *p;
    while (nd > 1 && dig[nd - 1] == '0') nd--;
    dig[nd] = '\0';
    int ex = atoi(p + 1);
    char *o = buf;
    if (neg) *o++ = '-';
    if (ex < -4 || ex >= 16) {
        *o++ = dig[0];
        if (nd > 1) {
            *o++ = '.';
            memcpy(o, dig + 1, (size_t)nd - 1);
            o += nd - 1;
        }
        sprintf(o, "e%c%02d", ex < 0 ? '-' : '+', ex < 0 ? -ex : ex);
    } else if (ex < 0) {
        *o++ = '0';
        *o++ = '.';
        for (int k = -1; k > ex; k--) *o++ = '0';
        memcpy(o, dig, (size_t)nd);
        o[nd] = '\0';
    } else {
        for (int k = 0; k <= ex; k++) *o++ = k < nd ? dig[k] : '0';
        *o++ = '.';
        if (nd > ex + 1) {
            memcpy(o, dig + ex + 1, (size_t)(nd - ex - 1));
            o += nd - ex - 1;
        } else {
            *o++ = '0';
        }
        *o = '\0';
    }
}

double pystr_round(double v, int ndigits) {
    /* CPython's double_round formats with dtoa mode 3 (correctly rounded to
     * ndigits decimals) and reads the string back; glibc's printf rounds the
     * exact binary value the same way. */
    char buf[400];
    snprintf(buf, sizeof buf, "%.*f", ndigits, v);
    return strtod(buf, NULL);
}
