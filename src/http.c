/* http.c - the HTTP/1.1 server under `evalctl serve` (see http.h): a head
 * parser that refuses what it does not understand, and a thread per
 * connection that reads under deadlines on non-blocking sockets.
 *
 * Why threads rather than one poll loop: a handler waits for its turn at the
 * model (seconds) and then streams tokens as they come; a thread that simply
 * blocks in that wait keeps the code linear, and max_conns bounds the count.
 * Connection threads are joinable and reaped by the accept loop, so shutting
 * down frees everything (the sanitizer build checks for leaks). */
#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

/* ------------------------------------------------------------- head parser */

static int is_tchar(int c) {
    /* RFC 9110 token characters */
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* The end of the head (just past the blank line) in buf[from..len), or 0. */
static size_t head_end(const char *buf, size_t from, size_t len) {
    for (size_t i = from; i < len; i++) {
        if (buf[i] != '\n') continue;
        if (i + 1 < len && buf[i + 1] == '\n') return i + 2;
        if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n') return i + 3;
    }
    return 0;
}

/* Cuts the line at *p (ending in LF, CRLF, or the NUL that ends the head) and
 * returns it; *p moves past it. NULL when the line holds a bare CR. */
static char *take_line(char **p) {
    char *s = *p, *nl = strchr(s, '\n');
    if (nl) {
        *nl = '\0';
        *p = nl + 1;
    } else {
        nl = s + strlen(s);
        *p = nl;
    }
    if (nl > s && nl[-1] == '\r') nl[-1] = '\0';
    if (strchr(s, '\r')) return NULL;
    return s;
}

/* Does the comma-separated header value list `v` hold `tok` (case-insensitive)? */
static int has_token(const char *v, const char *tok) {
    size_t n = strlen(tok);
    while (*v) {
        while (*v == ' ' || *v == '\t' || *v == ',') v++;
        const char *e = v;
        while (*e && *e != ',') e++;
        const char *t = e;
        while (t > v && (t[-1] == ' ' || t[-1] == '\t')) t--;
        if ((size_t)(t - v) == n && strncasecmp(v, tok, n) == 0) return 1;
        v = e;
    }
    return 0;
}

#define FAIL(code, msg)     \
    do {                    \
        *why = (msg);       \
        return -(long)code; \
    } while (0)

long http_parse_head(char *buf, size_t len, size_t max_head, size_t max_body, http_request *r, const char **why) {
    *why = NULL;
    /* RFC 9112 2.2: empty lines before a request line are ignored */
    size_t start = 0;
    while (start < len && (buf[start] == '\r' || buf[start] == '\n')) start++;
    size_t end = start < len ? head_end(buf, start, len) : 0;
    if (!end) {
        if (len > max_head) FAIL(431, "request head too large");
        return 0;
    }
    if (end > max_head) FAIL(431, "request head too large");
    if (memchr(buf, '\0', end)) FAIL(400, "NUL byte in the request head");
    memset(r, 0, sizeof *r);
    /* the blank line's LF becomes the NUL that ends the last header line */
    buf[end - 1] = '\0';
    char *p = buf + start;
    char *line = take_line(&p);
    if (!line) FAIL(400, "bare CR in the request line");

    /* request line: METHOD SP TARGET SP HTTP/1.x */
    char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp1 || !sp2 || strchr(sp2 + 1, ' ')) FAIL(400, "malformed request line");
    *sp1 = *sp2 = '\0';
    char *method = line, *target = sp1 + 1, *version = sp2 + 1;
    if (!*method || sp1 - method > 32) FAIL(400, "malformed method");
    for (char *m = method; *m; m++)
        if (!is_tchar((unsigned char)*m)) FAIL(400, "malformed method");
    if (!*target) FAIL(400, "empty request target");
    for (char *t = target; *t; t++)
        if ((unsigned char)*t <= 0x20 || (unsigned char)*t >= 0x7f) FAIL(400, "bad character in the request target");
    if (strncmp(version, "HTTP/", 5) != 0) FAIL(400, "malformed HTTP version");
    if (!strcmp(version + 5, "1.1")) r->minor = 1;
    else if (!strcmp(version + 5, "1.0")) r->minor = 0;
    else if (version[5] >= '0' && version[5] <= '9' && version[6] == '.' && version[7] >= '0' && version[7] <= '9' &&
             !version[8])
        FAIL(505, "HTTP version not supported");
    else FAIL(400, "malformed HTTP version");
    r->method = method;
    r->target = target;
    /* absolute-form (http://host/path) is reduced to its path */
    char *path = target;
    if (!strncasecmp(path, "http://", 7) || !strncasecmp(path, "https://", 8)) {
        path = strchr(path, ':') + 3;
        path = strchr(path, '/');
        if (!path) path = "/";
    } else if (*path != '/' && strcmp(path, "*") != 0) {
        FAIL(400, "malformed request target");
    }
    char *q = strchr(path, '?');
    r->query = "";
    if (q) {
        *q = '\0';
        r->query = q + 1;
    }
    r->path = path;

    /* header lines */
    int cl_seen = 0, te_seen = 0, hosts = 0;
    size_t cl = 0;
    r->keep_alive = r->minor == 1;
    while (*p) {
        char *h = take_line(&p);
        if (!h) FAIL(400, "bare CR in a header line");
        if (!*h) break;
        if (*h == ' ' || *h == '\t') FAIL(400, "folded header line");
        char *colon = strchr(h, ':');
        if (!colon || colon == h) FAIL(400, "malformed header line");
        *colon = '\0';
        for (char *c = h; *c; c++)
            if (!is_tchar((unsigned char)*c)) FAIL(400, "malformed header name");
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t') v++;
        char *e = v + strlen(v);
        while (e > v && (e[-1] == ' ' || e[-1] == '\t')) *--e = '\0';
        for (char *c = v; *c; c++)
            if (((unsigned char)*c < 0x20 && *c != '\t') || (unsigned char)*c == 0x7f)
                FAIL(400, "control character in a header value");
        if (r->n_headers == HTTP_MAX_HEADERS) FAIL(431, "too many header lines");
        r->headers[r->n_headers].name = h;
        r->headers[r->n_headers++].value = v;
        if (!strcasecmp(h, "content-length")) {
            if (!*v) FAIL(400, "malformed Content-Length");
            size_t x = 0;
            int big = 0;
            for (char *c = v; *c; c++) {
                if (*c < '0' || *c > '9') FAIL(400, "malformed Content-Length");
                if (x > (max_body + 1) / 10 + 1) big = 1;
                else x = x * 10 + (size_t)(*c - '0');
            }
            if (big || x > max_body) x = max_body + 1;
            if (cl_seen && x != cl) FAIL(400, "conflicting Content-Length headers");
            cl_seen = 1;
            cl = x;
        } else if (!strcasecmp(h, "transfer-encoding")) {
            te_seen = 1;
        } else if (!strcasecmp(h, "connection")) {
            if (has_token(v, "close")) r->keep_alive = 0;
            else if (has_token(v, "keep-alive")) r->keep_alive = 1;
        } else if (!strcasecmp(h, "expect")) {
            if (!strcasecmp(v, "100-continue")) r->expect_continue = 1;
        } else if (!strcasecmp(h, "host")) {
            hosts++;
        }
    }
    if (te_seen && cl_seen) FAIL(400, "both Content-Length and Transfer-Encoding");
    if (te_seen) FAIL(501, "Transfer-Encoding is not supported; send Content-Length");
    if (r->minor == 1 && hosts != 1) FAIL(400, hosts ? "more than one Host header" : "missing Host header");
    if (cl > max_body) FAIL(413, "request body too large");
    r->content_length = cl;
    return (long)end;
}

const char *http_get_header(const http_request *r, const char *name) {
    for (int i = 0; i < r->n_headers; i++)
        if (!strcasecmp(r->headers[i].name, name)) return r->headers[i].value;
    return NULL;
}

const char *http_status_text(int status) {
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

/* ------------------------------------------------------------------ server */

struct http_conn {
    http_server *srv;
    int fd;
    pthread_t th;
    struct http_conn *next;
    int done;        /* the thread has finished: join it, then close fd (under srv->mu) */
    int reject;      /* over max_conns: answer 503 to the first request and close */
    int minor;       /* of the current request */
    int keep_alive;  /* the current request allows another */
    int close_after; /* the handler or an error asked to close */
    int responded;   /* a response (or a stream head) was written */
    int streaming;   /* inside a stream, before its end */
    int head_only;   /* a HEAD request: headers as for GET, no body (RFC 9110 9.3.2) */
    atomic_int broken; /* a write failed: the client is gone (read by http_conn_gone on other threads) */
};

struct http_server {
    http_config cfg;
    int lfd, port;
    int wake_r, wake_w; /* self-pipe: 's' from http_server_stop, 'r' when a connection ends */
    atomic_int stopping;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    http_conn *conns; /* every connection whose thread has not been joined */
    int n_conns;
};

static int set_nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

http_server *http_server_new(const http_config *cfg) {
    http_server *s = xcalloc(1, sizeof *s);
    s->cfg = *cfg;
    if (!s->cfg.host) s->cfg.host = "127.0.0.1";
    if (!s->cfg.max_head) s->cfg.max_head = 16384;
    if (!s->cfg.max_body) s->cfg.max_body = 1 << 20;
    if (s->cfg.timeout_s <= 0) s->cfg.timeout_s = 30;
    if (s->cfg.max_conns <= 0) s->cfg.max_conns = 64;
    s->lfd = s->wake_r = s->wake_w = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    const char *host = s->cfg.host;
    char port[16];
    snprintf(port, sizeof port, "%d", s->cfg.port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int e = getaddrinfo(host, port, &hints, &ai);
    if (e != 0) {
        ev_error("serve: cannot listen on %s:%d: %s (give a numeric address)", host, s->cfg.port, gai_strerror(e));
        http_server_free(s);
        return NULL;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0 || set_nonblock(fd) != 0) {
        ev_error("serve: cannot listen on %s:%d: %s", host, s->cfg.port, strerror(errno));
        if (fd >= 0) close(fd);
        freeaddrinfo(ai);
        http_server_free(s);
        return NULL;
    }
    freeaddrinfo(ai);
    s->lfd = fd;
    struct sockaddr_storage sa;
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    s->port = sa.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&sa)->sin6_port)
                                       : ntohs(((struct sockaddr_in *)&sa)->sin_port);
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC | O_NONBLOCK) != 0) {
        ev_error("serve: pipe: %s", strerror(errno));
        http_server_free(s);
        return NULL;
    }
    s->wake_r = pfd[0];
    s->wake_w = pfd[1];
    return s;
}

int http_server_port(const http_server *s) { return s->port; }

void http_server_stop(http_server *s) {
    atomic_store(&s->stopping, 1);
    ssize_t w = write(s->wake_w, "s", 1);
    (void)w;
}

void http_server_free(http_server *s) {
    if (!s) return;
    if (s->lfd >= 0) close(s->lfd);
    if (s->wake_r >= 0) close(s->wake_r);
    if (s->wake_w >= 0) close(s->wake_w);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

/* ------------------------------------------------------------------- I/O */

static int ms_left(double deadline) {
    double left = deadline - ev_now();
    if (left <= 0) return 0;
    return left > 1e6 ? 1000000000 : (int)(left * 1000) + 1;
}

/* Reads what is there (at most n bytes) before the deadline: > 0 bytes read,
 * 0 at end of stream, -1 on an error, -2 on timeout. */
static long read_some(http_conn *c, char *p, size_t n, double deadline) {
    for (;;) {
        ssize_t r = recv(c->fd, p, n, 0);
        if (r >= 0) return (long)r;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
        int ms = ms_left(deadline);
        if (ms == 0) return -2;
        struct pollfd pf = {.fd = c->fd, .events = POLLIN};
        if (poll(&pf, 1, ms) < 0 && errno != EINTR) return -1;
    }
}

static int write_all(http_conn *c, const void *data, size_t n) {
    const char *p = data;
    if (c->broken) return -1;
    double deadline = ev_now() + c->srv->cfg.timeout_s;
    while (n > 0) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int ms = ms_left(deadline);
            struct pollfd pf = {.fd = c->fd, .events = POLLOUT};
            if (ms > 0 && (poll(&pf, 1, ms) >= 0 || errno == EINTR)) continue;
        }
        c->broken = 1;
        return -1;
    }
    return 0;
}

int http_conn_gone(http_conn *c) {
    if (c->broken) return 1;
    struct pollfd pf = {.fd = c->fd, .events = POLLRDHUP};
    if (poll(&pf, 1, 0) <= 0) return 0;
    return (pf.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

void http_conn_close_after(http_conn *c) { c->close_after = 1; }

static int conn_keeps(const http_conn *c) {
    return c->keep_alive && !c->close_after && !c->reject && !atomic_load(&c->srv->stopping);
}

/* The status line and the common headers, then `extra`; returns the length. */
static int head_text(http_conn *c, char *buf, size_t n, int status, const char *ctype, const char *extra, const char *framing) {
    return snprintf(buf, n, "HTTP/1.1 %d %s\r\nServer: evalctl/%s\r\nContent-Type: %s\r\n%sConnection: %s\r\n%s\r\n",
                    status, http_status_text(status), EV_VERSION, ctype, framing, conn_keeps(c) ? "keep-alive" : "close",
                    extra ? extra : "");
}

int http_respond(http_conn *c, int status, const char *ctype, const char *extra, const void *body, size_t len) {
    if (c->responded) return -1;
    c->responded = 1;
    char framing[64];
    snprintf(framing, sizeof framing, "Content-Length: %zu\r\n", len);
    size_t hn = 512 + (extra ? strlen(extra) : 0) + strlen(ctype);
    char *buf = xmalloc(hn + len);
    int h = head_text(c, buf, hn, status, ctype, extra, framing);
    if (h < 0 || (size_t)h >= hn) {
        free(buf);
        c->broken = 1;
        return -1;
    }
    if (c->head_only) len = 0;
    if (len) memcpy(buf + h, body, len);
    int r = write_all(c, buf, (size_t)h + len);
    free(buf);
    return r;
}

int http_stream_begin(http_conn *c, int status, const char *ctype, const char *extra) {
    if (c->responded) return -1;
    c->responded = 1;
    c->streaming = 1;
    if (c->minor == 0) c->close_after = 1; /* no chunked encoding: the end of the body is the close */
    size_t hn = 512 + (extra ? strlen(extra) : 0) + strlen(ctype);
    char *buf = xmalloc(hn);
    int h = head_text(c, buf, hn, status, ctype, extra,
                      c->minor ? "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n" : "Cache-Control: no-cache\r\n");
    int r = h > 0 && (size_t)h < hn ? write_all(c, buf, (size_t)h) : -1;
    free(buf);
    return r;
}

int http_stream_write(http_conn *c, const void *data, size_t len) {
    if (!c->streaming) return -1;
    if (len == 0 || c->head_only) return 0; /* a zero-length chunk would end the body */
    if (c->minor == 0) return write_all(c, data, len);
    char *buf = xmalloc(len + 32);
    int h = snprintf(buf, 32, "%zx\r\n", len);
    memcpy(buf + h, data, len);
    memcpy(buf + h + len, "\r\n", 2);
    int r = write_all(c, buf, (size_t)h + len + 2);
    free(buf);
    return r;
}

int http_stream_end(http_conn *c) {
    if (!c->streaming) return -1;
    c->streaming = 0;
    return c->minor && !c->head_only ? write_all(c, "0\r\n\r\n", 5) : 0;
}

static void send_error(http_conn *c, int status, const char *msg) {
    c->close_after = 1;
    http_server *s = c->srv;
    if (s->cfg.on_error) s->cfg.on_error(s->cfg.ud, c, status, msg);
    if (!c->responded) {
        char body[256];
        int n = snprintf(body, sizeof body, "%s\n", msg);
        http_respond(c, status, "text/plain; charset=utf-8", NULL, body, (size_t)n);
    }
}

/* After the last response: no more writes, then read and drop what the client
 * still sends for a moment, so that closing a socket with unread bytes does
 * not reset the connection before the client has read our answer. */
static void linger_close(http_conn *c) {
    shutdown(c->fd, SHUT_WR);
    double deadline = ev_now() + (c->srv->cfg.timeout_s < 2 ? c->srv->cfg.timeout_s : 2);
    char sink[4096];
    size_t total = 0;
    while (total < (1u << 24)) {
        long r = read_some(c, sink, sizeof sink, deadline);
        if (r <= 0) break;
        total += (size_t)r;
    }
}

/* ------------------------------------------------------- connection thread */

static void *conn_main(void *arg) {
    http_conn *c = arg;
    http_server *s = c->srv;
    size_t cap = s->cfg.max_head + 1;
    char *buf = xmalloc(cap + 1);
    size_t len = 0;
    for (;;) {
        http_request req;
        const char *why = NULL;
        long hl;
        double deadline = ev_now() + s->cfg.timeout_s;
        for (;;) {
            hl = http_parse_head(buf, len, s->cfg.max_head, s->cfg.max_body, &req, &why);
            if (hl != 0) break;
            long n = read_some(c, buf + len, cap - len, deadline);
            if (n == -2) {
                /* an idle keep-alive connection just closes; a half-sent head is told */
                size_t k = 0;
                while (k < len && (buf[k] == '\r' || buf[k] == '\n')) k++;
                if (k < len) send_error(c, 408, "timed out reading the request head");
                goto out;
            }
            if (n <= 0) goto out;
            len += (size_t)n;
        }
        if (hl < 0) {
            send_error(c, (int)-hl, why);
            goto out;
        }
        c->minor = req.minor;
        c->keep_alive = req.keep_alive;
        c->responded = c->streaming = 0;
        c->head_only = !strcmp(req.method, "HEAD");
        if (c->reject) {
            send_error(c, 503, "too many connections; try again later");
            goto out;
        }
        size_t cl = req.content_length, after = len - (size_t)hl, have = after < cl ? after : cl;
        char *body = xmalloc(cl + 1);
        memcpy(body, buf + hl, have);
        if (have < cl && req.expect_continue && write_all(c, "HTTP/1.1 100 Continue\r\n\r\n", 25) != 0) {
            free(body);
            goto out;
        }
        deadline = ev_now() + s->cfg.timeout_s;
        while (have < cl) {
            long n = read_some(c, body + have, cl - have, deadline);
            if (n <= 0) {
                if (n == -2) send_error(c, 408, "timed out reading the request body");
                free(body);
                goto out;
            }
            have += (size_t)n;
        }
        body[cl] = '\0';
        req.body = body;
        req.body_len = cl;
        s->cfg.handler(s->cfg.ud, c, &req);
        free(body);
        if (!c->responded) {
            c->close_after = 1;
            static const char msg[] = "the handler gave no response\n";
            http_respond(c, 500, "text/plain; charset=utf-8", NULL, msg, sizeof msg - 1);
        }
        if (c->streaming) c->close_after = 1; /* an unfinished stream ends with the connection */
        if (c->broken || !conn_keeps(c)) break;
        /* bytes of a pipelined next request stay */
        size_t used = (size_t)hl + (after < cl ? after : cl);
        memmove(buf, buf + used, len - used);
        len -= used;
    }
out:
    if (!c->broken) linger_close(c);
    free(buf);
    pthread_mutex_lock(&s->mu);
    c->done = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    ssize_t w = write(s->wake_w, "r", 1);
    (void)w;
    return NULL;
}

/* Joins the finished connection threads and closes their sockets; all = wait for every one. */
static void reap(http_server *s, int all) {
    pthread_mutex_lock(&s->mu);
    for (;;) {
        http_conn **pp = &s->conns;
        while (*pp) {
            http_conn *c = *pp;
            if (!c->done) {
                pp = &c->next;
                continue;
            }
            *pp = c->next;
            s->n_conns--;
            pthread_mutex_unlock(&s->mu);
            pthread_join(c->th, NULL);
            close(c->fd);
            free(c);
            pthread_mutex_lock(&s->mu);
            pp = &s->conns;
        }
        if (!all || !s->conns) break;
        pthread_cond_wait(&s->cv, &s->mu);
    }
    pthread_mutex_unlock(&s->mu);
}

static void refuse_now(int fd) {
    static const char msg[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 21\r\n"
                              "Connection: close\r\n\r\ntoo many connections\n";
    ssize_t w = send(fd, msg, sizeof msg - 1, MSG_NOSIGNAL);
    (void)w;
    close(fd);
}

int http_server_run(http_server *s) {
    int rc = 0;
    while (!atomic_load(&s->stopping)) {
        struct pollfd pf[2] = {{.fd = s->lfd, .events = POLLIN}, {.fd = s->wake_r, .events = POLLIN}};
        if (poll(pf, 2, 1000) < 0 && errno != EINTR) {
            rc = ev_error("serve: poll: %s", strerror(errno));
            break;
        }
        if (pf[1].revents) {
            char tmp[64];
            while (read(s->wake_r, tmp, sizeof tmp) > 0) {
            }
        }
        reap(s, 0);
        if (atomic_load(&s->stopping)) break;
        if (!(pf[0].revents & POLLIN)) continue;
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED || errno == EPROTO)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                poll(NULL, 0, 100); /* out of descriptors: let connections end */
                continue;
            }
            rc = ev_error("serve: accept: %s", strerror(errno));
            break;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_mutex_lock(&s->mu);
        int n = s->n_conns;
        pthread_mutex_unlock(&s->mu);
        /* a few connections past the limit are told 503 properly (after their
         * request has been read); beyond that they are dropped at once */
        if (n >= s->cfg.max_conns + 16) {
            refuse_now(fd);
            continue;
        }
        http_conn *c = xcalloc(1, sizeof *c);
        c->srv = s;
        c->fd = fd;
        c->reject = n >= s->cfg.max_conns;
        pthread_mutex_lock(&s->mu);
        if (pthread_create(&c->th, NULL, conn_main, c) != 0) {
            pthread_mutex_unlock(&s->mu);
            free(c);
            refuse_now(fd);
            continue;
        }
        c->next = s->conns;
        s->conns = c;
        s->n_conns++;
        pthread_mutex_unlock(&s->mu);
    }
    /* stop: wake every connection (reads end, writes fail, liveness checks say gone) */
    pthread_mutex_lock(&s->mu);
    for (http_conn *c = s->conns; c; c = c->next)
        if (!c->done) shutdown(c->fd, SHUT_RDWR);
    pthread_mutex_unlock(&s->mu);
    reap(s, 1);
    return rc;
}
