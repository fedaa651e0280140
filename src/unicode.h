/* unicode.h - the UTF-8 and Unicode helpers the tokenizer needs, with the exact
 * semantics of the Rust code in Hugging Face `tokenizers` that it must agree with.
 *
 *   - decoding/encoding UTF-8, and validation that names the first bad byte;
 *   - lossy conversion with Rust's String::from_utf8_lossy rule (one U+FFFD per
 *     maximal invalid subpart, Unicode 3.9 best practice);
 *   - GPT-2's byte-level alphabet: each byte 0..255 is spelt as one printable
 *     code point (the printable Latin-1 bytes as themselves, the other 68 bytes
 *     as U+0100.. in byte order);
 *   - the character classes `tokenizers` tests with Rust's char methods
 *     (is_whitespace = White_Space, is_numeric = Nd|Nl|No) or the `regex` crate
 *     (\w), from utf8proc's tables;
 *   - NFC/NFD/NFKC/NFKD through utf8proc_map (UTF8PROC_STABLE). */
#ifndef EV_UNICODE_H
#define EV_UNICODE_H

#include <stddef.h>
#include <stdint.h>

#define UNI_REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */

/* Length of the valid UTF-8 character at s[0..n), 0 when s does not start with
 * one; *cp gets the code point. */
size_t uni_decode(const char *s, size_t n, uint32_t *cp);
/* Writes cp as UTF-8 into out (4 bytes room), returns its length. */
size_t uni_encode(uint32_t cp, char *out);
/* Offset of the first byte that does not begin a valid character, or n when
 * all n bytes are valid UTF-8 (no overlongs, surrogates or values > U+10FFFF). */
size_t uni_valid_prefix(const char *s, size_t n);
/* Number of bytes at the end of s[0..n) that are a proper prefix of a valid
 * multi-byte character (0..3): what a streaming decoder must hold back. */
size_t uni_incomplete_tail(const char *s, size_t n);

/* from_utf8_lossy: a new heap string (NUL-terminated, owned by the caller). */
char *uni_lossy(const char *s, size_t n, size_t *out_len);

/* GPT-2 byte-level alphabet. */
uint32_t uni_byte_to_cp(uint8_t b);
/* The byte a code point spells, or -1 when cp is not in the alphabet. */
int uni_cp_to_byte(uint32_t cp);

int uni_is_whitespace(uint32_t cp); /* Rust char::is_whitespace */
int uni_is_numeric(uint32_t cp);    /* Rust char::is_numeric */
int uni_is_word(uint32_t cp);       /* the regex crate's Unicode \w */

enum { UNI_NFC, UNI_NFD, UNI_NFKC, UNI_NFKD };
/* Normalises valid UTF-8 s[0..n) into a new heap string (NUL-terminated, owned
 * by the caller). Returns NULL only when utf8proc refuses the input. */
char *uni_normalize(const char *s, size_t n, int form, size_t *out_len);

#endif
