/* test_http.c - the HTTP/1.1 layer of `evalctl serve`: the head parser on good
 * and hostile heads (expectations from RFC 9110/9112), then a live server on a
 * loopback port driven by raw sockets: keep-alive and pipelining, split
 * bodies, 100-continue, size limits, head and body timeouts, chunked and
 * HTTP/1.0 streams, a client that hangs up mid-request, too many connections,
 * and a clean stop. */
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "http.h"
#include "util.h"

/* ------------------------------------------------------------------ parser */

static long parse(const char *text, http_request *r, const char **why, char **keep) {
    size_t n = strlen(text);
    char *b = malloc(n + 1);
    memcpy(b, text, n + 1);
    long rc = http_parse_head(b, n, 256, 1000, r, why);
    *keep = b;
    return rc;
}

static void test_parser(void) {
    http_request r;
    const char *why;
    char *b;
    const char *ok = "POST /v1/completions?x=1&y HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n"
                     "Connection: keep-alive, Upgrade\r\nX-Blank:   \r\nX-Pad:  v  w \t\r\n\r\nbody...";
    long rc = parse(ok, &r, &why, &b);
    CHECK_EQ_INT(rc, (long)(strstr(ok, "\r\n\r\n") - ok) + 4);
    if (rc > 0) {
        CHECK_EQ_STR(r.method, "POST");
        CHECK_EQ_STR(r.path, "/v1/completions");
        CHECK_EQ_STR(r.query, "x=1&y");
        CHECK_EQ_INT(r.minor, 1);
        CHECK_EQ_INT(r.content_length, 12);
        CHECK_EQ_INT(r.keep_alive, 1);
        CHECK_EQ_INT(r.n_headers, 5);
        CHECK_EQ_STR(http_get_header(&r, "x-pad"), "v  w");
        CHECK_EQ_STR(http_get_header(&r, "X-BLANK"), "");
        CHECK(http_get_header(&r, "Authorization") == NULL, "absent header found");
    }
    free(b);
    /* LF line ends, leading empty lines, HTTP/1.0 without Host, absolute form */
    rc = parse("\r\n\nGET http://h:1/p/q?z HTTP/1.0\nConnection: close\n\n", &r, &why, &b);
    CHECK(rc > 0, "LF head: %ld %s", rc, why ? why : "");
    if (rc > 0) {
        CHECK_EQ_STR(r.path, "/p/q");
        CHECK_EQ_STR(r.query, "z");
        CHECK_EQ_INT(r.minor, 0);
        CHECK_EQ_INT(r.keep_alive, 0);
    }
    free(b);
    rc = parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r, &why, &b);
    CHECK(rc > 0 && r.keep_alive == 1, "1.0 keep-alive: %ld", rc);
    free(b);
    rc = parse("POST /x HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", &r,
               &why, &b);
    CHECK(rc > 0 && r.expect_continue && r.content_length == 5, "expect/duplicate equal CL: %ld", rc);
    free(b);

    /* incomplete: more bytes needed, nothing written */
    const char *partial[] = {"", "GET / HTTP/1.1\r\nHost: a\r\n", "GET / HTTP/1.1\r\nHost: a\r\n\r", "\r\n\r\n"};
    for (size_t i = 0; i < sizeof partial / sizeof partial[0]; i++) {
        CHECK_EQ_INT(parse(partial[i], &r, &why, &b), 0);
        CHECK(!strcmp(b, partial[i]), "partial %zu modified", i);
        free(b);
    }

    struct {
        const char *head;
        int status;
        const char *why;
    } bad[] = {
        {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "request line"},
        {"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, "request line"},
        {"GET /\r\nHost: a\r\n\r\n", 400, "request line"},
        {"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "method"},
        {"GET x HTTP/1.1\r\nHost: a\r\n\r\n", 400, "target"},
        {"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400, "target"},
        {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, "version"},
        {"GET / HTTP/1.1x\r\nHost: a\r\n\r\n", 400, "version"},
        {"GET / FTP/1.1\r\nHost: a\r\n\r\n", 400, "version"},
        {"GET / HTTP/1.1\r\n\r\n", 400, "Host"},
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "Host"},
        {"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400, "folded"},
        {"GET / HTTP/1.1\r\nHost: a\r\nNo colon\r\n\r\n", 400, "header"},
        {"GET / HTTP/1.1\r\nHost: a\r\nBad Name: 1\r\n\r\n", 400, "header name"},
        {"GET / HTTP/1.1\r\nHost: a\r\n: empty\r\n\r\n", 400, "header"},
        {"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", 400, "control"},
        {"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400, "bare CR"},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400, "Content-Length"},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", 400, "Content-Length"},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400, "Content-Length"},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400, "conflicting"},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n", 413, "too large"},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999999\r\n\r\n", 413, "too large"},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 501, "Transfer-Encoding"},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400, "both"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why = NULL;
        rc = parse(bad[i].head, &r, &why, &b);
        CHECK(rc == -bad[i].status && why && strstr(why, bad[i].why), "bad %zu: %ld '%s'", i, rc, why ? why : "");
        free(b);
    }
    /* a NUL inside the head */
    char nul[] = "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n";
    CHECK_EQ_INT(http_parse_head(nul, sizeof nul - 1, 256, 1000, &r, &why), -400);
    /* too many headers, a head past max_head (complete or not) */
    char big[4096];
    int n = snprintf(big, sizeof big, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < HTTP_MAX_HEADERS; i++) n += snprintf(big + n, sizeof big - (size_t)n, "X%d: 1\r\n", i);
    n += snprintf(big + n, sizeof big - (size_t)n, "\r\n");
    CHECK_EQ_INT(http_parse_head(big, (size_t)n, 4096, 1000, &r, &why), -431);
    memset(big, 'a', 300);
    memcpy(big, "GET /", 5);
    CHECK_EQ_INT(http_parse_head(big, 300, 256, 1000, &r, &why), -431);
    memcpy(big + 290, " HTTP/1.0\n\n", 11);
    CHECK_EQ_INT(http_parse_head(big, 301, 256, 1000, &r, &why), -431);
    CHECK_EQ_INT(http_parse_head(big, 301, 512, 1000, &r, &why), 301);
}

/* ------------------------------------------------------------ live server */

static atomic_int saw_gone;  /* /wait saw its client hang up */
static atomic_int n_handled;

static void handler(void *ud, http_conn *c, const http_request *req) {
    (void)ud;
    atomic_fetch_add(&n_handled, 1);
    char out[2048];
    if (!strcmp(req->path, "/echo")) {
        int n = snprintf(out, sizeof out, "%s %s ?%s [%.*s]", req->method, req->path, req->query, (int)req->body_len,
                         req->body);
        http_respond(c, 200, "text/plain", "X-Test: 1\r\n", out, (size_t)n);
    } else if (!strcmp(req->path, "/stream")) {
        http_stream_begin(c, 200, "text/event-stream", NULL);
        for (int i = 0; i < 3; i++) {
            int n = snprintf(out, sizeof out, "data: %d\n\n", i);
            http_stream_write(c, out, (size_t)n);
        }
        http_stream_write(c, "", 0);
        http_stream_end(c);
    } else if (!strcmp(req->path, "/wait")) {
        /* waits (as a queued request does) until its client leaves */
        double t0 = ev_now();
        while (ev_now() - t0 < 3) {
            if (http_conn_gone(c)) {
                atomic_store(&saw_gone, 1);
                break;
            }
            poll(NULL, 0, 20);
        }
        http_respond(c, 200, "text/plain", NULL, "late", 4);
    } else if (!strcmp(req->path, "/none")) {
        /* no response: the server must answer 500 */
    } else {
        http_respond(c, 404, "text/plain", NULL, "nope", 4);
    }
}

static void on_error(void *ud, http_conn *c, int status, const char *msg) {
    (void)ud;
    char body[300];
    int n = snprintf(body, sizeof body, "{\"error\": \"%s\"}", msg);
    http_respond(c, status, "application/json", NULL, body, (size_t)n);
}

static void *run_server(void *s) {
    http_server_run(s);
    return NULL;
}

static int port_;

static int dial(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port_)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void put(int fd, const char *s, size_t n) {
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

static void say(int fd, const char *s) { put(fd, s, strlen(s)); }

/* Everything the server sends until it closes (or 3 s pass). *closed: it closed. */
static char *drain(int fd, int *closed) {
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap + 1);
    *closed = 0;
    for (;;) {
        ssize_t r = recv(fd, b + n, cap - n, 0);
        if (r == 0) *closed = 1;
        if (r <= 0) break;
        n += (size_t)r;
        if (n == cap) break;
    }
    b[n] = '\0';
    return b;
}

/* Reads until `want` appears (or 3 s / close). */
static char *read_until(int fd, const char *want) {
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap + 1);
    b[0] = '\0';
    while (!strstr(b, want) && n < cap) {
        ssize_t r = recv(fd, b + n, cap - n, 0);
        if (r <= 0) break;
        n += (size_t)r;
        b[n] = '\0';
    }
    return b;
}

static int count(const char *s, const char *sub) {
    int k = 0;
    for (const char *p = s; (p = strstr(p, sub)); p++) k++;
    return k;
}

static void test_server(void) {
    http_config cfg = {.port = 0, .max_head = 1024, .max_body = 1000, .timeout_s = 0.4, .max_conns = 4,
                       .handler = handler, .on_error = on_error};
    http_server *s = http_server_new(&cfg);
    CHECK(s != NULL, "server did not start");
    if (!s) return;
    port_ = http_server_port(s);
    CHECK(port_ > 0, "port %d", port_);
    pthread_t th;
    pthread_create(&th, NULL, run_server, s);
    int closed, fd;
    char *got;

    /* keep-alive: two pipelined requests in one write, then a third later; a body split in pieces */
    fd = dial();
    const char *two = "GET /echo?a=1 HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
    put(fd, two, strlen(two));
    got = read_until(fd, "[hello]");
    CHECK(strstr(got, "GET /echo ?a=1 []") && strstr(got, "POST /echo ? [hello]") && count(got, "HTTP/1.1 200 OK") == 2,
          "pipelined: '%s'", got);
    CHECK(strstr(got, "Connection: keep-alive\r\n") && strstr(got, "X-Test: 1\r\n") && strstr(got, "Content-Length: 17\r\n"),
          "headers: '%s'", got);
    free(got);
    say(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nab");
    poll(NULL, 0, 50);
    say(fd, "cd");
    poll(NULL, 0, 50);
    say(fd, "ef");
    got = read_until(fd, "[abcdef]");
    CHECK(strstr(got, "[abcdef]") != NULL, "split body: '%s'", got);
    free(got);
    /* HEAD: the headers a GET would get, no body; the connection goes on */
    say(fd, "HEAD /echo HTTP/1.1\r\nHost: x\r\n\r\nGET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
    got = read_until(fd, "GET /echo ? []");
    CHECK(!strncmp(got, "HTTP/1.1 200 OK\r\n", 17) && strstr(got, "Content-Length: 15\r\n") &&
              strstr(got, "\r\n\r\nHTTP/1.1 200 OK\r\n") && !strstr(got, "HEAD /echo") && count(got, "HTTP/1.1 200") == 2,
          "HEAD: '%s'", got);
    free(got);
    /* Connection: close is obeyed */
    say(fd, "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    got = drain(fd, &closed);
    CHECK(closed && strstr(got, "Connection: close\r\n") && strstr(got, "GET /echo"), "close: %d '%s'", closed, got);
    free(got);
    close(fd);

    /* errors answered by the layer itself, through on_error, then the connection closes */
    struct {
        const char *req;
        const char *want;
    } errs[] = {
        {"BLAH\r\n\r\n", "HTTP/1.1 400 Bad Request"},
        {"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n", "HTTP/1.1 413 Content Too Large"},
        {"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
         "HTTP/1.1 501 Not Implemented"},
        {"GET / HTTP/3.0\r\n\r\n", "HTTP/1.1 505"},
        {"GET /none HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 500"},
        {"GET /nothere HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 404"},
    };
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        fd = dial();
        put(fd, errs[i].req, strlen(errs[i].req));
        if (i == 1) {
            /* the body the client goes on sending after a 413 does not reset the connection */
            char junk[5000];
            memset(junk, 'x', sizeof junk);
            put(fd, junk, sizeof junk);
        }
        got = i == 5 ? read_until(fd, "nope") : drain(fd, &closed);
        CHECK(!strncmp(got, errs[i].want, strlen(errs[i].want)), "error %zu: '%s'", i, got);
        if (i < 4) CHECK(strstr(got, "{\"error\": ") && closed, "error %zu: body/close '%s'", i, got);
        free(got);
        close(fd);
    }

    /* 100-continue: the interim answer, then the response */
    fd = dial();
    say(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
    got = read_until(fd, "\r\n\r\n");
    CHECK(!strcmp(got, "HTTP/1.1 100 Continue\r\n\r\n"), "100: '%s'", got);
    free(got);
    say(fd, "abc");
    got = read_until(fd, "[abc]");
    CHECK(strstr(got, "HTTP/1.1 200 OK") && strstr(got, "[abc]"), "after 100: '%s'", got);
    free(got);
    close(fd);

    /* slow head (slow-loris), slow body: 408 after the timeout; an idle connection closes silently */
    double t0 = ev_now();
    fd = dial();
    say(fd, "GET /echo HTTP/1.1\r\nHo");
    poll(NULL, 0, 200);
    say(fd, "s");
    got = drain(fd, &closed);
    CHECK(!strncmp(got, "HTTP/1.1 408", 12) && closed && ev_now() - t0 < 2, "slow head: '%s' after %.2f s", got, ev_now() - t0);
    free(got);
    close(fd);
    fd = dial();
    say(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
    got = drain(fd, &closed);
    CHECK(!strncmp(got, "HTTP/1.1 408", 12) && strstr(got, "body") && closed, "slow body: '%s'", got);
    free(got);
    close(fd);
    fd = dial();
    got = drain(fd, &closed);
    CHECK(closed && got[0] == '\0', "idle: closed %d, '%s'", closed, got);
    free(got);
    close(fd);

    /* streams: chunked for 1.1 (and the connection stays usable), raw then close for 1.0 */
    fd = dial();
    say(fd, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
    got = read_until(fd, "0\r\n\r\n");
    CHECK(strstr(got, "Transfer-Encoding: chunked\r\n") &&
              strstr(got, "\r\n\r\n9\r\ndata: 0\n\n\r\n9\r\ndata: 1\n\n\r\n9\r\ndata: 2\n\n\r\n0\r\n\r\n"),
          "chunked: '%s'", got);
    free(got);
    say(fd, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
    got = read_until(fd, "[]");
    CHECK(strstr(got, "GET /echo ? []") != NULL, "after a stream: '%s'", got);
    free(got);
    close(fd);
    fd = dial();
    say(fd, "GET /stream HTTP/1.0\r\n\r\n");
    got = drain(fd, &closed);
    CHECK(closed && !strstr(got, "chunked") && strstr(got, "\r\n\r\ndata: 0\n\ndata: 1\n\ndata: 2\n\n"), "1.0 stream: '%s'",
          got);
    free(got);
    close(fd);

    /* a client that leaves while its request waits is noticed */
    atomic_store(&saw_gone, 0);
    fd = dial();
    say(fd, "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n");
    poll(NULL, 0, 100);
    close(fd);
    t0 = ev_now();
    while (!atomic_load(&saw_gone) && ev_now() - t0 < 2) poll(NULL, 0, 20);
    CHECK(atomic_load(&saw_gone), "the handler did not see its client leave");

    /* more than max_conns connections: the extra one is told 503 */
    int idle[4];
    for (int i = 0; i < 4; i++) idle[i] = dial();
    poll(NULL, 0, 50);
    fd = dial();
    say(fd, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
    got = drain(fd, &closed);
    CHECK(!strncmp(got, "HTTP/1.1 503", 12) && strstr(got, "too many connections"), "over the limit: '%s'", got);
    free(got);
    close(fd);
    for (int i = 0; i < 4; i++) close(idle[i]);

    /* stop: a connection in the middle of a wait is shut down, run returns */
    fd = dial();
    say(fd, "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n");
    poll(NULL, 0, 100);
    t0 = ev_now();
    http_server_stop(s);
    pthread_join(th, NULL);
    CHECK(ev_now() - t0 < 2.5, "stop took %.2f s", ev_now() - t0);
    close(fd);
    http_server_free(s);

    /* a port in use is one error line */
    http_config c2 = cfg;
    http_server *a = http_server_new(&c2);
    CHECK(a != NULL, "second server");
    if (a) {
        c2.port = http_server_port(a);
        test_capture_begin();
        http_server *b = http_server_new(&c2);
        char *err = test_capture_end();
        CHECK(b == NULL && test_count_lines(err) == 1 && strstr(err, "cannot listen on 127.0.0.1:"), "'%s'", err);
        free(err);
        http_server_free(b);
        http_server_free(a);
    }
    c2.host = "localhost";
    c2.port = 0;
    test_capture_begin();
    http_server *b = http_server_new(&c2);
    char *err = test_capture_end();
    CHECK(b == NULL && test_count_lines(err) == 1 && strstr(err, "numeric address"), "'%s'", err);
    free(err);
    http_server_free(b);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    test_parser();
    test_server();
    return test_done("http");
}
