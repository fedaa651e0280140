/* ini.h - the strict INI dialect of evalctl's run configs: parse, typed
 * getters, a schema check, command-line overrides, canonical output and a
 * diff, so that a run can save the exact config it used and a later run can
 * refuse a changed one.
 *
 * The format, line by line (UTF-8; \n or \r\n; a leading BOM is skipped):
 *   blank, or starting with ';' or '#'       comment
 *   [NAME]                                   a section; NAME is dot-separated
 *                                            parts of [A-Za-z0-9_-], e.g.
 *                                            variant.sw_delta
 *   KEY = VALUE                              KEY is [A-Za-z0-9_-]+
 * Whitespace around names and values is trimmed. A value may be quoted,
 * "...", with \" and \\ the only escapes; quotes keep spaces, ';' and '#'.
 * Outside quotes, ';' or '#' at the start of the value or after whitespace
 * starts a comment (so `x = a;b` is "a;b" but `x = a ;b` is "a"). An empty
 * value is allowed.
 * Errors, each one line "FILE:LINE: ..." and NULL: a key outside a section,
 * a duplicate key in a section, a duplicate section (a section is written
 * once: repeating it is refused rather than merged, so a key's place is
 * unambiguous), an unterminated quote, an unknown escape, text after a closing
 * quote, a bad section or key name, a line that is none of the above, control
 * characters (tab aside), malformed UTF-8.
 *
 * Names are case-sensitive. Every section and key remembers where it came
 * from, "FILE:LINE", or "--set SECTION.KEY=VALUE" for an override, and error
 * messages about it start with that.
 *
 * Ownership: an ini owns all its strings; pointers returned by getters stay
 * valid until the ini is freed or the same key is overridden with ini_set. */
#ifndef EV_INI_H
#define EV_INI_H

#include <stddef.h>
#include <stdio.h>

#define INI_MAX_SIZE (1 << 20) /* bytes in a config file */

typedef struct ini ini;

/* Parses a file (.gz too) / a buffer of len bytes that `name` stands for in
 * messages. NULL after one error line. */
ini *ini_open(const char *path);
ini *ini_parse(const char *text, size_t len, const char *name);
/* An empty config, to fill with ini_set. */
ini *ini_new(const char *name);
void ini_free(ini *c);
const char *ini_name(const ini *c);

/* ---------------------------------------------------------------- walking */

/* Sections and keys in file order (overrides that add them come last). */
int ini_section_count(const ini *c);
const char *ini_section_name(const ini *c, int s);
const char *ini_section_where(const ini *c, int s);
int ini_section_find(const ini *c, const char *name); /* index or -1 */
int ini_key_count(const ini *c, int s);
const char *ini_key_name(const ini *c, int s, int k);
const char *ini_key_value(const ini *c, int s, int k);
const char *ini_key_where(const ini *c, int s, int k);
/* 1-based line of a key or section header; 0 when it came from ini_set. */
int ini_key_line(const ini *c, int s, int k);
int ini_section_line(const ini *c, int s);

/* ---------------------------------------------------------------- getters */

/* Each returns 1 with *out set when the key is present and valid, 0 when the
 * section or key is absent (*out untouched, so callers preset defaults), or
 * -1 after one error line "WHERE: [SECTION] KEY: ...". */
const char *ini_get(const ini *c, const char *section, const char *key); /* raw value or NULL */
int ini_get_str(const ini *c, const char *section, const char *key, const char **out);
/* Decimal integer, optional sign, within [lo, hi]. */
int ini_get_int(const ini *c, const char *section, const char *key, long lo, long hi, long *out);
/* Decimal number (no inf, nan or hex), finite, within [lo, hi]. */
int ini_get_double(const ini *c, const char *section, const char *key, double lo, double hi, double *out);
/* true/false, yes/no, on/off, 1/0, in any case. */
int ini_get_bool(const ini *c, const char *section, const char *key, int *out);
/* Comma-separated items, each trimmed and non-empty; an empty value is an
 * empty list. *items is one heap block (free(*items) frees all) holding *n
 * pointers and a NULL after them. */
int ini_get_list(const ini *c, const char *section, const char *key, char ***items, int *n);
/* 0 when present; else -1 after "FILE: missing section [S]" or
 * "WHERE-OF-SECTION: missing key 'K' in [S]". */
int ini_require(const ini *c, const char *section, const char *key);

/* ---------------------------------------------------------------- schema */

typedef struct {
    const char *section;     /* a name, or "PREFIX.*": any section PREFIX.SOMETHING */
    const char *const *keys; /* allowed keys, NULL-terminated */
} ini_schema;

/* 0 when every section matches an entry and every key is allowed there;
 * otherwise -1 after one line for the first offender in order, e.g.
 * "run.ini:14: unknown key 'windw' in [variant.sw_delta] (allowed: variant, sink, window, gamma)"
 * or "--set run.thread=4: unknown key 'thread' in [run] (...)". */
int ini_check(const ini *c, const ini_schema *schema, size_t n);

/* ---------------------------------------------------------------- overrides */

/* Sets SECTION.KEY to value (taken literally: no quotes or comments), the
 * LAST dot separating the section from the key (variant.sw_delta.window).
 * An existing key keeps its place and takes the value; a new key goes to the
 * end of its section, a new section to the end. The key's origin becomes
 * "--set PATH=VALUE". 0, or -1 after one line (no dot, bad names, control
 * characters in the value). */
int ini_set(ini *c, const char *path, const char *value);
/* The same from one "SECTION.KEY=VALUE" argument (split at the first '='). */
int ini_set_arg(ini *c, const char *arg);

/* ---------------------------------------------------------------- output */

/* Canonical text: sections and keys in order, "key = value", a blank line
 * between sections, no comments; values quoted only where needed. Parsing it
 * gives the same config. ini_format returns a heap string (the caller frees
 * it; *len may be NULL). ini_write returns 0, or -1 after one line on a write
 * error. */
char *ini_format(const ini *c, size_t *len);
int ini_write(const ini *c, FILE *f);

/* Compares two configs by content (order and comments do not count): returns
 * the number of differences, and writes the first few into buf (always
 * NUL-terminated when n > 0), "; "-separated, from a to b:
 *   "[variant.sw_delta] window: 512 -> 256", "[run] seed: added (= 3)",
 *   "[run] seed: removed (was 3)", "[variant.x]: added", "[variant.x]: removed",
 * followed by "; and N more" when they do not all fit the first few. */
int ini_diff(const ini *a, const ini *b, char *buf, size_t n);

#endif
