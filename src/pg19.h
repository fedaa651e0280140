/* pg19.h - PG19 books (Rae et al. 2019, deepmind/pg19) for the perplexity
 * protocol: reading the books, tokenizing each, and cutting it into the
 * windows `evalctl ppl` scores.
 *
 * ------------------------------------------------------------- the inputs
 * pg19_open(path) takes any of
 *   FILE.txt, FILE.txt.gz        one book (gzip inflated); title = the file
 *                                name less .gz and .txt
 *   FILE.jsonl, FILE.jsonl.gz    one book a line, as the Hugging Face dataset
 *                                (deepmind/pg19, emozilla/pg19) holds them:
 *                                "text" (required, a string) and
 *                                "short_book_title" (the title when present;
 *                                else "FILE:LINE"); "publication_date" and "url"
 *                                are kept when they are strings; other keys are
 *                                ignored; blank lines skipped
 *   DIR                          every *.txt, *.txt.gz, *.jsonl, *.jsonl.gz in
 *                                it (not in subdirectories, no hidden files), in
 *                                byte order of their names
 * Text must be UTF-8 (the release's files are); it is kept byte for byte
 * (no newline or whitespace changes).
 *
 * ---------------------------------------------------------- the protocol
 * As cmd_ppl.c does for one text: a book is encoded whole with the tokenizer's
 * BOS/EOS (add_special_tokens=True), the ids are cut into consecutive windows
 * of ctx tokens, the last may be shorter and is dropped when it has fewer than
 * 2 tokens; each window runs from an empty cache and each of its tokens but
 * the first is scored. max_windows > 0 keeps only a book's first windows (the
 * usual way to bound the cost of a long book). */
#ifndef EV_PG19_H
#define EV_PG19_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"

typedef struct {
    char *title;  /* never NULL */
    char *text;   /* (len) UTF-8, NUL-terminated */
    size_t len;
    char *date;   /* publication_date, or NULL */
    char *url;    /* or NULL */
    char *source; /* "FILE" or "FILE:LINE": where the book was read, for messages */
} pg19_book;

typedef struct {
    size_t n;
    pg19_book *books; /* (n) */
} pg19_books;

/* NULL after one error line naming the file (and line, and field), e.g.
 * "evalctl: test.jsonl:3: missing field \"text\"". A directory holding no book
 * file is an error; an empty book is not. */
pg19_books *pg19_open(const char *path);
void pg19_close(pg19_books *b); /* NULL-safe */

/* A window [start, start + len) of a book's ids. */
typedef struct {
    size_t start, len;
} pg19_window;

/* The windows of n_tokens ids (see above). Writes at most the number it
 * returns into out (which may be NULL to count them first). ctx >= 2. */
size_t pg19_windows(size_t n_tokens, size_t ctx, size_t max_windows, pg19_window *out);

/* Tokens a window scores: len - 1. */
static inline size_t pg19_window_scored(pg19_window w) { return w.len ? w.len - 1 : 0; }

/* The book's ids as the protocol encodes them (*ids owned by the caller).
 * 0, or -1 after one error line. */
int pg19_tokenize(tok_tokenizer *tok, const pg19_book *b, int32_t **ids, size_t *n);

#endif
