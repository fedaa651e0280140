/* jinja.h - a small Jinja2 interpreter for chat templates.
 *
 * It renders the subset of Jinja that real chat templates use, with the
 * options transformers gives jinja2 (ImmutableSandboxedEnvironment with
 * trim_blocks=True, lstrip_blocks=True, the loopcontrols extension, and its
 * own globals raise_exception, strftime_now, namespace, dict and tojson
 * filter), so that the output is byte for byte what
 * apply_chat_template(..., tokenize=False) returns.
 *
 * Supported: {{ }}, {% %}, {# #}, whitespace control (-/+ on both sides),
 * raw blocks; statements if/elif/else, for (tuple targets, `if` filter, else,
 * loop.*, break/continue), set (names, tuples, ns.attr, block set), macro,
 * with, filter blocks, generation; Python-like values (none, bool, int, float,
 * str, list, tuple, dict in insertion order, namespace, loop, callables) with
 * Python's truthiness, comparison, arithmetic and str()/repr() output; the
 * common filters, tests and str/dict/list methods. Anything else is an error
 * naming the construct and the line.
 *
 * Bounds: output size, loop iterations, memory and recursion depth are capped
 * (generously), so a runaway template ends in one error line. */
#ifndef EV_JINJA_H
#define EV_JINJA_H

#include <jansson.h>

typedef struct jinja_template jinja_template;

/* Where a parse or render error is reported when the caller wants it instead
 * of a printed line: line is the template line (0 when unknown), msg the bare
 * message (for raise_exception, exactly the template's string). */
typedef struct {
    int line;
    char msg[512];
} jinja_error;

/* Parses src (NUL-terminated UTF-8). name prefixes error messages, e.g.
 * "chat template (GGUF tokenizer.chat_template)". On a syntax error returns
 * NULL and either prints one line "evalctl: NAME: line N: problem" (err ==
 * NULL) or fills *err. */
jinja_template *jinja_parse(const char *src, const char *name, jinja_error *err);
void jinja_free(jinja_template *t); /* NULL-safe */

/* Renders with the variables of a JSON object (each key a template global;
 * JSON null is None). Returns a heap string owned by the caller, or NULL
 * after reporting the error as jinja_parse does.
 *
 * strftime_now() uses the local time, or the fixed time in the environment
 * variable EVALCTL_DATE ("YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SS") when set, so
 * tests and reproducible runs can pin the date. */
char *jinja_render(const jinja_template *t, const json_t *vars, jinja_error *err);

#endif
