/* csv.h - RFC 4180 CSV: a strict reader for the tables evalctl writes (and
 * spreadsheets save), and the one field writer its tables use.
 *
 * The format: records end with CRLF (LF alone is read too); fields are
 * separated by ','; a field holding ',', '"', CR or LF is quoted "...", a
 * quote inside doubled (""). The text is UTF-8. The reader refuses, with one
 * line "NAME:LINE: problem", a quote inside an unquoted field, text after a
 * closing quote, an unterminated quoted field (naming the line it opened on),
 * a NUL byte, malformed UTF-8. A last record without its line end is kept; a
 * leading UTF-8 BOM (what spreadsheets write) is skipped.
 *
 * Ownership: a csv_table owns every string in it; csv_free releases it all. */
#ifndef EV_CSV_H
#define EV_CSV_H

#include <stddef.h>
#include <stdio.h>

typedef struct {
    char *name;       /* what messages call the text (the path) */
    int n_rows;       /* records, the header included */
    int *n_fields;    /* [n_rows] */
    char ***fields;   /* [n_rows][n_fields[r]], NUL-terminated */
    int *line;        /* [n_rows] 1-based line on which the record starts */
} csv_table;

/* Parses len bytes; NULL after one error line. */
csv_table *csv_parse(const char *text, size_t len, const char *name);
/* Reads and parses a file; NULL after one error line. */
csv_table *csv_read(const char *path);
void csv_free(csv_table *t);

/* The index of the header (row 0) field equal to name, or -1. */
int csv_column(const csv_table *t, const char *name);

/* Writes one field, quoted when RFC 4180 needs it, followed by ',' or, for
 * the last field of a record, by CRLF. */
void csv_put(FILE *f, const char *s, int last);

#endif
