/* unicode.c - UTF-8 and Unicode helpers for the tokenizer (see unicode.h). */
#include "unicode.h"
#include "util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ------------------------------------------------------------------ UTF-8 */

size_t uni_decode(const char *str, size_t n, uint32_t *cp) {
    const unsigned char *s = (const unsigned char *)str;
    if (n == 0) return 0;
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) len = 2, v = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, v = c & 0x0F;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, v = c & 0x07;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 0;
    if (n < len) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    v = (v << 6) | (s[1] & 0x3F);
    for (size_t k = 2; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[k] & 0x3F);
    }
    *cp = v;
    return len;
}

size_t uni_encode(uint32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t uni_valid_prefix(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        if ((unsigned char)s[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        size_t l = uni_decode(s + i, n - i, &cp);
        if (!l) return i;
        i += l;
    }
    return n;
}

/* Length of the maximal prefix of s[0..n) that could begin a valid character
 * (Unicode's "maximal subpart"): 0 for a byte that can never start one. */
static size_t maximal_subpart(const unsigned char *s, size_t n) {
    unsigned c = s[0], lo = 0x80, hi = 0xBF;
    size_t len;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 0;
    size_t k = 1;
    if (k < n && k < len && s[k] >= lo && s[k] <= hi) {
        k++;
        while (k < n && k < len && (s[k] & 0xC0) == 0x80) k++;
    }
    return k;
}

size_t uni_incomplete_tail(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        unsigned c = s[n - back];
        if ((c & 0xC0) == 0x80) continue;
        /* c starts the last character: incomplete when it needs more bytes than remain
         * and every byte present fits */
        size_t k = maximal_subpart(s + n - back, back);
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 1;
        return (k == back && need > back) ? back : 0;
    }
    return 0;
}

char *uni_lossy(const char *str, size_t n, size_t *out_len) {
    const unsigned char *s = (const unsigned char *)str;
    size_t cap = n + 1, len = 0;
    char *out = xmalloc(cap);
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t l = s[i] < 0x80 ? 1 : uni_decode(str + i, n - i, &cp);
        if (l) {
            if (len + l + 1 > cap) out = xrealloc(out, cap = 2 * cap + l);
            memcpy(out + len, str + i, l);
            len += l;
            i += l;
            continue;
        }
        size_t k = maximal_subpart(s + i, n - i);
        if (k == 0) k = 1;
        if (len + 4 > cap) out = xrealloc(out, cap = 2 * cap + 4);
        memcpy(out + len, UNI_REPLACEMENT, 3);
        len += 3;
        i += k;
    }
    out[len] = '\0';
    if (out_len) *out_len = len;
    return out;
}

/* -------------------------------------------------------- byte-level alphabet */

static uint32_t byte_cp[256];       /* byte -> code point */
static int16_t cp_byte[0x100 + 68]; /* code point -> byte, -1 when not in the alphabet */
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static int printable_byte(unsigned b) {
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

static void build_tables(void) {
    unsigned n = 0; /* the n-th non-printable byte (in byte order) maps to U+0100 + n */
    for (unsigned i = 0; i < sizeof cp_byte / sizeof cp_byte[0]; i++) cp_byte[i] = -1;
    for (unsigned b = 0; b < 256; b++) {
        byte_cp[b] = printable_byte(b) ? b : 0x100 + n++;
        cp_byte[byte_cp[b]] = (int16_t)b;
    }
}

uint32_t uni_byte_to_cp(uint8_t b) {
    pthread_once(&tables_once, build_tables);
    return byte_cp[b];
}

int uni_cp_to_byte(uint32_t cp) {
    pthread_once(&tables_once, build_tables);
    return cp < sizeof cp_byte / sizeof cp_byte[0] ? cp_byte[cp] : -1;
}

/* ------------------------------------------------------------ character classes */

int uni_is_whitespace(uint32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000;
}

int uni_is_numeric(uint32_t cp) {
    int c = utf8proc_category((utf8proc_int32_t)cp);
    return c == UTF8PROC_CATEGORY_ND || c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_NO;
}

int uni_is_word(uint32_t cp) {
    if (cp < 0x80)
        return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == '_';
    if (cp == 0x200C || cp == 0x200D) return 1; /* Join_Control */
    /* symbols that are Other_Alphabetic: circled and squared Latin letters */
    if ((cp >= 0x24B6 && cp <= 0x24E9) || (cp >= 0x1F130 && cp <= 0x1F149) ||
        (cp >= 0x1F150 && cp <= 0x1F169) || (cp >= 0x1F170 && cp <= 0x1F189))
        return 1;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_PC:
        return 1;
    default:
        return 0;
    }
}

/* ---------------------------------------------------------------- normalisation */

char *uni_normalize(const char *s, size_t n, int form, size_t *out_len) {
    size_t i = 0;
    while (i < n && (unsigned char)s[i] < 0x80) i++;
    if (i == n) { /* ASCII is invariant under every normal form */
        char *out = xmalloc(n + 1);
        memcpy(out, s, n);
        out[n] = '\0';
        if (out_len) *out_len = n;
        return out;
    }
    utf8proc_option_t opt = UTF8PROC_STABLE;
    switch (form) {
    case UNI_NFC: opt |= UTF8PROC_COMPOSE; break;
    case UNI_NFD: opt |= UTF8PROC_DECOMPOSE; break;
    case UNI_NFKC: opt |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
    default: opt |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
    }
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &dst, opt);
    if (r < 0) {
        free(dst);
        return NULL;
    }
    /* utf8proc_map NUL-terminates and allocates with malloc: the caller's free() fits */
    if (out_len) *out_len = (size_t)r;
    return (char *)dst;
}
