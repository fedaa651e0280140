/* http.h - a small HTTP/1.1 server for `evalctl serve`: one thread per
 * connection, requests read under limits (head and body size) and deadlines
 * (the whole head, the whole body, the idle time between keep-alive
 * requests, each write), fixed-length responses and chunked streams
 * (server-sent events). No TLS, no request bodies other than Content-Length,
 * loopback unless told otherwise.
 *
 * What it answers by itself, before any handler runs (through the on_error
 * hook, so the caller decides the body's format; then the connection closes):
 *   400 a malformed request line, header line or Content-Length; both
 *       Content-Length and Transfer-Encoding; more than HTTP_MAX_HEADERS headers
 *   408 the head or the body did not arrive within the timeout
 *   413 a Content-Length above max_body (before reading the body; with
 *       "Expect: 100-continue" no 100 is sent)
 *   431 a head longer than max_head
 *   501 a Transfer-Encoding (chunked request bodies are not read)
 *   505 a version other than HTTP/1.0 or HTTP/1.1
 *   503 more than max_conns connections at once (the request head is read,
 *       then refused; 16 connections beyond that are closed at accept)
 * A connection idle with no byte of a new request closes silently. */
#ifndef EV_HTTP_H
#define EV_HTTP_H

#include <stddef.h>

#define HTTP_MAX_HEADERS 64

typedef struct {
    const char *name, *value; /* NUL-terminated, inside the request's buffer; value without surrounding blanks */
} http_header;

typedef struct {
    const char *method; /* "GET", "POST" ... as sent (case-sensitive, RFC 9110) */
    const char *target; /* the request target as sent */
    const char *path;   /* target up to '?' */
    const char *query;  /* after '?', or "" */
    int minor;          /* HTTP/1.minor: 0 or 1 */
    int n_headers;
    http_header headers[HTTP_MAX_HEADERS];
    size_t content_length; /* 0 when absent */
    int keep_alive;        /* the client allows another request on this connection */
    int expect_continue;   /* "Expect: 100-continue" */
    const char *body;      /* content_length bytes, NUL-terminated (the body may hold NULs) */
    size_t body_len;
} http_request;

/* Parses the head (request line and header lines up to the blank line) at the
 * start of buf[0..len). Returns the head's length in bytes (the blank line
 * included) when it is complete and well-formed, 0 when more bytes are needed,
 * or minus an HTTP status (-400, -413, -431, -501, -505) with *why set to a
 * static phrase. Lines may end in CRLF or LF. When complete, the fields of *r
 * point into buf, which is modified (NULs written); body/body_len are left
 * for the caller. max_head bounds the head; max_body the Content-Length. */
long http_parse_head(char *buf, size_t len, size_t max_head, size_t max_body, http_request *r, const char **why);

/* The value of the first header called `name` (case-insensitive), or NULL. */
const char *http_get_header(const http_request *r, const char *name);

/* "Not Found" for 404 ...; "Unknown" for a code it does not list. */
const char *http_status_text(int status);

/* ------------------------------------------------------------------ server */

typedef struct http_conn http_conn;
typedef struct http_server http_server;

/* Called on the connection's own thread for every complete request; must
 * answer with http_respond or a stream (else the server answers 500). req and
 * its strings are valid during the call only. */
typedef void (*http_handler_fn)(void *ud, http_conn *c, const http_request *req);
/* Writes the server's own error answers (see the top of this file) with
 * http_respond; NULL: a text/plain body. */
typedef void (*http_error_fn)(void *ud, http_conn *c, int status, const char *message);

typedef struct {
    const char *host;  /* numeric IPv4 or IPv6 address; NULL: 127.0.0.1 */
    int port;          /* 0: a free port (http_server_port says which) */
    size_t max_head;   /* bytes of request line + headers (0: 16 KiB) */
    size_t max_body;   /* bytes of body (0: 1 MiB) */
    double timeout_s;  /* head, body, keep-alive idle and each write (<= 0: 30 s) */
    int max_conns;     /* connections served at once (<= 0: 64) */
    http_handler_fn handler;
    http_error_fn on_error;
    void *ud;
} http_config;

/* Binds and listens. Returns NULL after one error line ("evalctl: serve:
 * cannot listen on HOST:PORT: reason"). */
http_server *http_server_new(const http_config *cfg);
int http_server_port(const http_server *s);
/* Accepts and serves until http_server_stop; then shuts every connection
 * down and returns once their threads have ended. Returns 0, -1 after one
 * error line when accept fails for good. */
int http_server_run(http_server *s);
/* Async-signal-safe: makes http_server_run return. */
void http_server_stop(http_server *s);
void http_server_free(http_server *s); /* NULL-safe; after http_server_run returned */

/* ----------------------------------------------------- answering a request */

/* A complete response with Content-Length. extra: more header lines, each
 * ending in "\r\n", or NULL. Returns 0, or -1 when the client is gone or a
 * write timed out (the connection then closes). */
int http_respond(http_conn *c, int status, const char *content_type, const char *extra, const void *body, size_t len);
/* A response whose body follows in pieces: chunked for HTTP/1.1 clients; for
 * HTTP/1.0 ones written as it comes and ended by closing the connection. */
int http_stream_begin(http_conn *c, int status, const char *content_type, const char *extra);
int http_stream_write(http_conn *c, const void *data, size_t len);
int http_stream_end(http_conn *c);
/* 1 when the client has hung up or reset (it may have sent more bytes: they
 * stay unread), 0 otherwise. Does not block; may be called from another thread
 * while the handler waits. */
int http_conn_gone(http_conn *c);
/* Close the connection after this response even if keep-alive was asked. */
void http_conn_close_after(http_conn *c);

#endif
