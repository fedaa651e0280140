/* serve.c - the OpenAI-compatible endpoints of `evalctl serve` (see serve.h):
 * the generation engine (one completion on the CPU forward pass, stop strings,
 * incremental text), request validation, the queue and its worker thread, and
 * the JSON and server-sent-event answers.
 *
 * Threads: http.c runs each connection's handler on its own thread; handlers
 * validate and tokenize there (the tokenizer may be shared), render chat
 * templates under tmpl_mu, then queue a job and wait. One worker thread owns
 * the engine (the model's one KV cache) and runs the jobs in order. Everything
 * a job shares with its handler is guarded by the server's one mutex `mu`. */
#include "serve.h"

#include "backend.h"

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "chat.h"
#include "forward.h"
#include "http.h"
#include "util.h"

/* ------------------------------------------------------------ text buffer */

typedef struct {
    char *p;
    size_t len, cap;
} sbuf;

static void sb_init(sbuf *b) {
    b->cap = 256;
    b->len = 0;
    b->p = xmalloc(b->cap);
}

static void sb_add(sbuf *b, const char *s, size_t n) {
    if (b->len + n > b->cap) {
        while (b->len + n > b->cap) b->cap *= 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

/* ================================================================= engine */

struct serve_engine {
    const model *m;
    tok_tokenizer *tok;
    const char *bk;
    int n_threads, chunk;
    backend *be; /* KV cache of `cap` positions, grown on demand */
    int cap;
    float *logits; /* [vocab] */
};

serve_engine *serve_engine_new(const model *m, tok_tokenizer *tok, const char *backend, int n_threads, int chunk) {
    serve_engine *e = xcalloc(1, sizeof *e);
    e->m = m;
    e->tok = tok;
    e->bk = backend ? backend : "cpu";
    e->n_threads = n_threads;
    e->chunk = chunk > 0 ? chunk : 512;
    e->logits = xmalloc(sizeof *e->logits * (size_t)m->hp.vocab);
    return e;
}

void serve_engine_free(serve_engine *e) {
    if (!e) return;
    backend_free(e->be);
    free(e->logits);
    free(e);
}

/* A cache of at least `need` positions: doubled when it grows, so that a
 * series of longer prompts does not rebuild it each time (it holds the thread
 * pool too). */
static int engine_room(serve_engine *e, int need) {
    if (e->be && e->cap >= need) return 0;
    int ctx = e->m->hp.context;
    long cap = e->cap * 2L > need ? e->cap * 2L : need;
    if (cap < 512) cap = 512;
    if (cap > ctx) cap = ctx;
    if (cap < need) cap = need;
    backend_free(e->be);
    e->be = backend_new(e->m, e->bk, (int)cap, e->n_threads, e->chunk);
    e->cap = e->be ? (int)cap : 0;
    return e->be ? 0 : -1;
}

/* The earliest start of a stop string in t[0..len) that ends past `fresh` (the
 * bytes before it were searched already), or SIZE_MAX. */
static size_t stop_find(const char *t, size_t len, size_t fresh, const char *const *stop, int n_stop) {
    size_t best = SIZE_MAX;
    for (int i = 0; i < n_stop; i++) {
        size_t sl = strlen(stop[i]);
        size_t from = fresh >= sl - 1 ? fresh - (sl - 1) : 0;
        if (from >= len) continue;
        const char *p = memmem(t + from, len - from, stop[i], sl);
        if (p && (size_t)(p - t) < best) best = (size_t)(p - t);
    }
    return best;
}

/* The longest tail of t[0..len) that begins some stop string: it is held back
 * until the next token says whether the stop string completes. Because stop
 * strings are whole UTF-8, the cut falls between characters. */
static size_t stop_holdback(const char *t, size_t len, const char *const *stop, int n_stop) {
    size_t best = 0;
    for (int i = 0; i < n_stop; i++) {
        size_t sl = strlen(stop[i]);
        for (size_t h = sl - 1 < len ? sl - 1 : len; h > best; h--)
            if (!memcmp(t + len - h, stop[i], h)) {
                best = h;
                break;
            }
    }
    return best;
}

int serve_generate(serve_engine *e, const serve_gen *g, serve_emit_fn emit, void *ud, serve_result *res) {
    const model_hparams *hp = &e->m->hp;
    memset(res, 0, sizeof *res);
    res->finish = SERVE_FINISH_LENGTH;
    if (g->n_ids < 1 || g->max_tokens < 0 || (long)g->n_ids + g->max_tokens > hp->context)
        return ev_error("serve: %d prompt tokens + %d new ones do not fit the context of %d", g->n_ids, g->max_tokens,
                        hp->context);
    if (g->max_tokens == 0) return 0;
    if (engine_room(e, g->n_ids + g->max_tokens) != 0) return -1;
    if (backend_begin(e->be, g->variant, g->n_ids) != 0) return -1;
    sampler *s = sample_new(hp->vocab, &g->sample);
    if (!s) return -1;
    tok_stream *ts = tok_stream_new(e->tok);
    sbuf txt;
    sb_init(&txt);
    size_t sent = 0; /* txt[0..sent) went to emit */
    int rc = -1;
    double t0 = ev_now(), t1 = t0;
    /* the prefill a chunk at a time (the same result as one call), so that a
     * client that leaves, or a server stopping, need not wait for all of it */
    for (int off = 0; off < g->n_ids; off += e->chunk) {
        int n = g->n_ids - off < e->chunk ? g->n_ids - off : e->chunk;
        int last = off + n == g->n_ids;
        if (backend_eval(e->be, g->ids + off, n, last ? e->logits : NULL) != 0) goto done;
        if (!last && emit(ud, txt.p, 0)) {
            res->finish = SERVE_FINISH_CANCELLED;
            rc = 0;
            goto done;
        }
    }
    t1 = ev_now();
    res->prefill_s = t1 - t0;
    /* the loop of backend_generate, with a sampler in place of the argmax */
    for (;;) {
        int32_t id = sample_next(s, e->logits);
        res->completion_tokens++;
        if (model_is_eos(hp, id)) {
            res->finish = SERVE_FINISH_STOP;
            break;
        }
        const char *piece;
        size_t plen;
        int r = tok_stream_push(ts, id, &piece, &plen);
        if (r < 0) goto done;
        size_t before = txt.len;
        if (r > 0) sb_add(&txt, piece, plen);
        size_t upto = txt.len;
        int stopped = 0;
        if (g->n_stop > 0) {
            size_t at = txt.len > before ? stop_find(txt.p, txt.len, before, g->stop, g->n_stop) : SIZE_MAX;
            if (at != SIZE_MAX) {
                txt.len = upto = at;
                stopped = 1;
            } else {
                upto = txt.len - stop_holdback(txt.p, txt.len, g->stop, g->n_stop);
            }
        }
        if (upto < sent) upto = sent;
        int cancel = emit(ud, txt.p + sent, upto - sent);
        sent = upto;
        if (stopped) {
            res->finish = SERVE_FINISH_STOP;
            break;
        }
        if (cancel) {
            res->finish = SERVE_FINISH_CANCELLED;
            break;
        }
        if (res->completion_tokens == g->max_tokens) break;
        if (backend_eval(e->be, &id, 1, e->logits) != 0) goto done;
    }
    /* what was held back for a stop string that never came */
    if (res->finish != SERVE_FINISH_CANCELLED && sent < txt.len) emit(ud, txt.p + sent, txt.len - sent);
    res->decode_s = ev_now() - t1;
    rc = 0;
done:
    free(txt.p);
    tok_stream_free(ts);
    sample_free(s);
    return rc;
}

/* ================================================================ errors */

typedef struct {
    int status;
    const char *type; /* invalid_request_error, server_error ... */
    const char *code; /* NULL: null */
    char param[128];  /* "": null */
    char message[768];
    const char *extra; /* more response headers */
} api_error;

static int fail(api_error *e, int status, const char *param, const char *code, const char *fmt, ...) EV_PRINTF(5, 6);
static int fail(api_error *e, int status, const char *param, const char *code, const char *fmt, ...) {
    e->status = status;
    e->type = status >= 500 ? "server_error" : "invalid_request_error";
    e->code = code;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

/* A JSON string of n bytes; bytes that are not UTF-8 become U+FFFD. */
static json_t *jstr(const char *s, size_t n) {
    json_t *j = json_stringn(s, n);
    if (j) return j;
    sbuf b;
    sb_init(&b);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (k && i + k <= n && ev_utf8_valid(s + i, k) && (k > 1 || c != 0)) {
            sb_add(&b, s + i, k);
            i += k;
        } else {
            sb_add(&b, "\xEF\xBF\xBD", 3);
            i++;
        }
    }
    j = json_stringn(b.p, b.len);
    free(b.p);
    return j ? j : json_string("");
}

/* ============================================================= the server */

enum { JOB_QUEUED, JOB_RUNNING, JOB_DONE };

typedef struct job {
    struct job *next;
    struct serve_ctx *S;
    http_conn *conn;
    serve_gen g; /* points at the fields below */
    int32_t *ids;
    char **stop;
    attn_variant var;
    pthread_cond_t cv;
    /* guarded by S->mu */
    int state, cancel, failed;
    sbuf out;     /* the text emitted so far */
    size_t taken; /* how much of out a stream has sent */
    serve_result res;
} job;

struct serve_ctx {
    serve_config cfg;
    model *m;
    tok_tokenizer *tok;
    chat_template *tmpl; /* NULL: chat completions answer 400 */
    pthread_mutex_t tmpl_mu;
    serve_engine *engine;
    http_server *http;
    char model_id[256];
    long created;
    pthread_mutex_t mu;
    pthread_cond_t work; /* the worker waits here for jobs */
    job *head, *tail;
    int n_queued, running, stopping;
    pthread_t worker;
    int worker_started;
    atomic_long n_requests, n_errors, n_completions, next_id;
};

int serve_port(const serve_ctx *s) { return http_server_port(s->http); }
const char *serve_model_id(const serve_ctx *s) { return s->model_id; }

/* -------------------------------------------------------------- replies */

static void reply_json(serve_ctx *S, http_conn *c, int status, json_t *body, const char *extra) {
    char *txt = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(body);
    if (!txt) txt = xstrdup("{}");
    if (status >= 400) atomic_fetch_add(&S->n_errors, 1);
    http_respond(c, status, "application/json", extra, txt, strlen(txt));
    free(txt);
}

static json_t *error_object(const api_error *e) {
    json_t *err = json_object();
    json_object_set_new(err, "message", jstr(e->message, strlen(e->message)));
    json_object_set_new(err, "type", json_string(e->type ? e->type : "invalid_request_error"));
    json_object_set_new(err, "param", e->param[0] ? jstr(e->param, strlen(e->param)) : json_null());
    json_object_set_new(err, "code", e->code ? json_string(e->code) : json_null());
    json_t *o = json_object();
    json_object_set_new(o, "error", err);
    return o;
}

static void reply_error(serve_ctx *S, http_conn *c, const api_error *e) {
    if (S->cfg.verbose) {
        /* the message may quote the client: no control characters into the log */
        char line[200];
        size_t i = 0;
        for (const char *m = e->message; *m && i + 1 < sizeof line; m++) line[i++] = (unsigned char)*m < 0x20 ? '?' : *m;
        line[i] = '\0';
        fprintf(stderr, "evalctl serve: %d %s\n", e->status, line);
    }
    reply_json(S, c, e->status, error_object(e), e->extra);
}

/* The http layer's own refusals (bad head, timeouts, sizes) in the same shape. */
static void on_http_error(void *ud, http_conn *c, int status, const char *msg) {
    serve_ctx *S = ud;
    api_error e = {0};
    const char *code = status == 408 ? "timeout" : status == 413 ? "request_too_large"
                     : status == 431 ? "headers_too_large" : status == 503 ? "too_many_connections"
                     : status == 501 ? "not_implemented" : NULL;
    fail(&e, status, NULL, code, "%s", msg);
    if (status == 503) e.extra = "Retry-After: 1\r\n";
    reply_error(S, c, &e);
}

/* ----------------------------------------------------- request parsing */

typedef struct {
    int chat;
    int stream, include_usage;
    long max_tokens; /* -1: the default */
    sample_params sp;
    int have_seed;
    char **stop;
    int n_stop;
    attn_variant var;
    json_t *prompt;   /* borrowed from the body */
    json_t *messages; /* normalised copy (chat) */
    int32_t *ids;
    int n_ids;
} api_req;

static void req_free(api_req *r) {
    for (int i = 0; i < r->n_stop; i++) free(r->stop[i]);
    free(r->stop);
    json_decref(r->messages);
    free(r->ids);
}

static const char *json_type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* An integer (or a number with no fraction) in [lo, hi]. */
static int get_int(const json_t *v, const char *param, long lo, long hi, long *out, api_error *e) {
    double d;
    if (json_is_integer(v)) d = (double)json_integer_value(v);
    else if (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v)) d = json_real_value(v);
    else return fail(e, 400, param, "invalid_type", "'%s' must be an integer, not %s", param, json_type_name(v));
    if (!(d >= (double)lo && d <= (double)hi))
        return fail(e, 400, param, "invalid_value", "'%s' must be between %ld and %ld, got %.17g", param, lo, hi, d);
    *out = (long)d;
    return 0;
}

static int get_num(const json_t *v, const char *param, double lo, double hi, double *out, api_error *e) {
    if (!json_is_number(v))
        return fail(e, 400, param, "invalid_type", "'%s' must be a number, not %s", param, json_type_name(v));
    double d = json_number_value(v);
    if (!(d >= lo && d <= hi))
        return fail(e, 400, param, "invalid_value", "'%s' must be between %g and %g, got %.17g", param, lo, hi, d);
    *out = d;
    return 0;
}

static int unsupported(api_error *e, const char *param) {
    return fail(e, 400, param, "unsupported_parameter",
                "'%s' is not supported by evalctl serve except at its default value", param);
}

static int parse_stop(const json_t *v, api_req *r, api_error *e) {
    if (json_is_null(v)) return 0;
    if (!json_is_string(v) && !json_is_array(v))
        return fail(e, 400, "stop", "invalid_type", "'stop' must be a string or a list of strings, not %s", json_type_name(v));
    size_t n = json_is_string(v) ? 1 : json_array_size(v);
    if (n > 16) return fail(e, 400, "stop", "invalid_value", "'stop' holds %zu strings, at most 16 are allowed", n);
    r->stop = xcalloc(n ? n : 1, sizeof *r->stop);
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_is_string(v) ? v : json_array_get(v, i);
        if (!json_is_string(s))
            return fail(e, 400, "stop", "invalid_type", "'stop' item %zu must be a string, not %s", i, json_type_name(s));
        size_t len = json_string_length(s);
        if (len == 0 || len > 1024 || memchr(json_string_value(s), '\0', len))
            return fail(e, 400, "stop", "invalid_value", "'stop' item %zu must hold 1 to 1024 bytes and no NUL", i);
        r->stop[r->n_stop++] = xstrdup(json_string_value(s));
    }
    return 0;
}

static int parse_evalctl(serve_ctx *S, const json_t *o, api_req *r, api_error *e) {
    if (json_is_null(o)) return 0;
    if (!json_is_object(o))
        return fail(e, 400, "evalctl", "invalid_type", "'evalctl' must be an object, not %s", json_type_name(o));
    const char *k;
    json_t *v;
    char param[128];
    /* the variant name first: it sets the kind, the numbers then override */
    const json_t *name = json_object_get(o, "variant");
    if (name) {
        attn_variant t;
        if (!json_is_string(name) || attn_variant_parse(json_string_value(name), &t) != 0)
            return fail(e, 400, "evalctl.variant", "invalid_value",
                        "'evalctl.variant' must be one of dense, streaming, block, streaming+delta, block+delta, "
                        "streaming+recompute, block+recompute");
        r->var.base = t.base;
        r->var.fix = t.fix;
    }
    json_object_foreach((json_t *)o, k, v) {
        snprintf(param, sizeof param, "evalctl.%s", k);
        long x;
        if (!strcmp(k, "variant")) continue;
        if (!strcmp(k, "sink") || !strcmp(k, "tail")) {
            if (get_int(v, param, 0, 1L << 30, &x, e)) return -1;
            *(!strcmp(k, "sink") ? &r->var.sink : &r->var.tail) = (int)x;
        } else if (!strcmp(k, "window") || !strcmp(k, "block") || !strcmp(k, "gamma")) {
            if (get_int(v, param, 1, 1L << 30, &x, e)) return -1;
            *(!strcmp(k, "window") ? &r->var.window : !strcmp(k, "block") ? &r->var.block : &r->var.gamma) = (int)x;
        } else if (!strcmp(k, "decode")) {
            const char *d = json_string_value(v);
            if (!d || (strcmp(d, "dense") && strcmp(d, "sparse")))
                return fail(e, 400, param, "invalid_value", "'%s' must be \"dense\" or \"sparse\"", param);
            r->var.decode_sparse = !strcmp(d, "sparse");
        } else if (!strcmp(k, "dense_layers")) {
            if (!json_is_array(v) || json_array_size(v) > ATTN_MAX_DENSE_LAYERS)
                return fail(e, 400, param, "invalid_type", "'%s' must be a list of at most %d layer numbers", param,
                            ATTN_MAX_DENSE_LAYERS);
            r->var.n_dense_layers = 0;
            for (size_t i = 0; i < json_array_size(v); i++) {
                if (get_int(json_array_get(v, i), param, 0, S->m->hp.n_layers - 1, &x, e)) return -1;
                r->var.dense_layers[r->var.n_dense_layers++] = (int)x;
            }
        } else {
            return fail(e, 400, param, "unknown_parameter",
                        "Unrecognized evalctl argument: '%s' (variant, sink, window, block, tail, gamma, decode, "
                        "dense_layers)", k);
        }
    }
    if (r->var.base == ATTN_DENSE && r->var.fix != ATTN_FIX_NONE)
        return fail(e, 400, "evalctl.variant", "invalid_value", "dense attention takes no correction");
    if (attn_variant_check(&r->var) != 0)
        return fail(e, 400, "evalctl", "invalid_value", "the attention parameters are not valid");
    return 0;
}

/* The text of a message's content: a string, or a list of {"type": "text",
 * "text": ...} parts joined by newlines (as vLLM joins them). */
static int message_text(const json_t *c, const char *param, sbuf *out, api_error *e) {
    if (json_is_string(c)) {
        sb_add(out, json_string_value(c), json_string_length(c));
        return 0;
    }
    if (json_is_null(c)) return 0;
    if (!json_is_array(c))
        return fail(e, 400, param, "invalid_type", "'%s' must be a string or a list of text parts, not %s", param,
                    json_type_name(c));
    for (size_t i = 0; i < json_array_size(c); i++) {
        const json_t *p = json_array_get(c, i), *t = json_object_get(p, "text");
        const char *ty = json_string_value(json_object_get(p, "type"));
        if (!json_is_object(p) || !ty || strcmp(ty, "text") || !json_is_string(t) || json_object_size(p) != 2)
            return fail(e, 400, param, "invalid_value",
                        "'%s' part %zu must be {\"type\": \"text\", \"text\": ...}; only text is supported", param, i);
        if (i) sb_add(out, "\n", 1);
        sb_add(out, json_string_value(t), json_string_length(t));
    }
    return 0;
}

static int parse_messages(const json_t *v, api_req *r, api_error *e) {
    if (!json_is_array(v) || json_array_size(v) == 0)
        return fail(e, 400, "messages", "invalid_value", "'messages' must be a non-empty list of messages");
    r->messages = json_array();
    char param[128];
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *m = json_array_get(v, i), *role = json_object_get(m, "role");
        snprintf(param, sizeof param, "messages[%zu]", i);
        if (!json_is_object(m)) return fail(e, 400, param, "invalid_type", "'%s' must be an object", param);
        if (!json_is_string(role)) return fail(e, 400, param, "invalid_value", "'%s' needs a string 'role'", param);
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)m, k, x) if (strcmp(k, "role") && strcmp(k, "content") && strcmp(k, "name")) {
            snprintf(param, sizeof param, "messages[%zu].%.40s", i, k);
            return fail(e, 400, param, "unknown_parameter", "Unrecognized message field: '%s'", param);
        }
        json_t *name = json_object_get(m, "name");
        if (name && !json_is_string(name))
            return fail(e, 400, param, "invalid_type", "'%s.name' must be a string", param);
        snprintf(param, sizeof param, "messages[%zu].content", i);
        sbuf t;
        sb_init(&t);
        if (message_text(json_object_get(m, "content"), param, &t, e) != 0) {
            free(t.p);
            return -1;
        }
        json_t *n = json_object();
        json_object_set(n, "role", role);
        json_object_set_new(n, "content", json_stringn(t.p, t.len));
        free(t.p);
        if (name) json_object_set(n, "name", name);
        json_array_append_new(r->messages, n);
    }
    return 0;
}

/* Every field of the body, checked against the OpenAI API. */
static int parse_body(serve_ctx *S, const json_t *root, api_req *r, api_error *e) {
    const int chat = r->chat;
    const char *k;
    json_t *v;
    long x;
    double d;
    r->max_tokens = -1;
    r->sp.temperature = 1.0;
    r->sp.top_p = 1.0;
    r->var = S->cfg.variant;
    json_object_foreach((json_t *)root, k, v) {
        int isnull = json_is_null(v);
        if (!strcmp(k, "model") || !strcmp(k, "user")) {
            if (!isnull && !json_is_string(v))
                return fail(e, 400, k, "invalid_type", "'%s' must be a string, not %s", k, json_type_name(v));
        } else if (!strcmp(k, chat ? "messages" : "prompt")) {
            if (chat && parse_messages(v, r, e)) return -1;
            if (!chat) r->prompt = v;
        } else if (!strcmp(k, "max_tokens") || (chat && !strcmp(k, "max_completion_tokens"))) {
            if (!isnull) {
                if (get_int(v, k, 0, INT_MAX / 2, &x, e)) return -1;
                r->max_tokens = x;
            }
        } else if (!strcmp(k, "temperature")) {
            if (!isnull && get_num(v, k, 0, 2, &r->sp.temperature, e)) return -1;
        } else if (!strcmp(k, "top_p")) {
            if (!isnull) {
                if (get_num(v, k, 0, 1, &d, e)) return -1;
                r->sp.top_p = d > 0 ? d : 1e-12; /* 0: only the most likely token, as a tiny top_p keeps */
            }
        } else if (!strcmp(k, "top_k")) {
            if (!isnull) {
                if (get_int(v, k, -1, INT_MAX, &x, e)) return -1;
                r->sp.top_k = x > 0 ? (int)x : 0;
            }
        } else if (!strcmp(k, "n") || (!chat && !strcmp(k, "best_of"))) {
            if (!isnull) {
                if (get_int(v, k, 1, INT_MAX, &x, e)) return -1;
                if (x != 1)
                    return fail(e, 400, k, "unsupported_value",
                                "'%s' = %ld is not supported: evalctl serve makes one choice per request", k, x);
            }
        } else if (!strcmp(k, "stop")) {
            if (parse_stop(v, r, e)) return -1;
        } else if (!strcmp(k, "stream")) {
            if (!isnull && !json_is_boolean(v))
                return fail(e, 400, k, "invalid_type", "'stream' must be a boolean, not %s", json_type_name(v));
            r->stream = json_is_true(v);
        } else if (!strcmp(k, "stream_options")) {
            if (isnull) continue;
            const json_t *u = json_object_get(v, "include_usage");
            if (!json_is_object(v) || json_object_size(v) != (u ? 1u : 0u) || (u && !json_is_boolean(u)))
                return fail(e, 400, k, "invalid_value", "'stream_options' must be {\"include_usage\": true|false}");
            r->include_usage = json_is_true(u);
        } else if (!strcmp(k, "seed")) {
            if (!isnull) {
                if (!json_is_integer(v))
                    return fail(e, 400, k, "invalid_type", "'seed' must be an integer, not %s", json_type_name(v));
                r->sp.seed = (uint64_t)json_integer_value(v);
                r->have_seed = 1;
            }
        } else if (!strcmp(k, "frequency_penalty") || !strcmp(k, "presence_penalty")) {
            if (!isnull && (get_num(v, k, -2, 2, &d, e) || (d != 0 && unsupported(e, k)))) return -1;
        } else if (!strcmp(k, "logit_bias")) {
            if (!isnull && !(json_is_object(v) && json_object_size(v) == 0)) return unsupported(e, k);
        } else if (!strcmp(k, "logprobs")) {
            if (!isnull && !json_is_false(v)) return unsupported(e, k);
        } else if (chat && !strcmp(k, "top_logprobs")) {
            if (!isnull) return unsupported(e, k);
        } else if (!chat && !strcmp(k, "echo")) {
            if (!isnull && !json_is_false(v)) return unsupported(e, k);
        } else if (!chat && !strcmp(k, "suffix")) {
            if (!isnull && !(json_is_string(v) && json_string_length(v) == 0)) return unsupported(e, k);
        } else if (chat && !strcmp(k, "response_format")) {
            const char *t = json_string_value(json_object_get(v, "type"));
            if (!isnull && !(t && !strcmp(t, "text") && json_object_size(v) == 1)) return unsupported(e, k);
        } else if (chat && (!strcmp(k, "tools") || !strcmp(k, "functions"))) {
            if (!isnull && !(json_is_array(v) && json_array_size(v) == 0)) return unsupported(e, k);
        } else if (chat && (!strcmp(k, "tool_choice") || !strcmp(k, "function_call"))) {
            const char *t = json_string_value(v);
            if (!isnull && !(t && (!strcmp(t, "none") || !strcmp(t, "auto")))) return unsupported(e, k);
        } else if (chat && !strcmp(k, "parallel_tool_calls")) {
            if (!isnull && !json_is_boolean(v)) return fail(e, 400, k, "invalid_type", "'%s' must be a boolean", k);
        } else if (!strcmp(k, "evalctl")) {
            if (parse_evalctl(S, v, r, e)) return -1;
        } else {
            return fail(e, 400, k, "unknown_parameter", "Unrecognized request argument supplied: %s", k);
        }
    }
    if (chat && !r->messages) return fail(e, 400, "messages", "missing_required_parameter", "'messages' is required");
    if (!chat && !r->prompt) return fail(e, 400, "prompt", "missing_required_parameter", "'prompt' is required");
    if (!r->have_seed) r->sp.seed = (uint64_t)(ev_now() * 1e9) ^ ((uint64_t)atomic_fetch_add(&S->next_id, 1) << 40);
    return 0;
}

/* The prompt's token ids: a completion prompt as `generate --prompt` encodes
 * it (or given as ids), chat messages through the template as `generate --chat`. */
static int build_prompt(serve_ctx *S, api_req *r, api_error *e) {
    size_t n = 0;
    const int vocab = S->m->hp.vocab;
    if (r->chat) {
        if (!S->tmpl)
            return fail(e, 400, "messages", "no_chat_template",
                        "this model has no chat template; start the server with --chat-template");
        json_t *vars = json_object();
        json_object_set(vars, "messages", r->messages);
        json_object_set_new(vars, "add_generation_prompt", json_true());
        if (tok_bos_str(S->tok)) json_object_set_new(vars, "bos_token", json_string(tok_bos_str(S->tok)));
        if (tok_eos_str(S->tok)) json_object_set_new(vars, "eos_token", json_string(tok_eos_str(S->tok)));
        jinja_error je;
        pthread_mutex_lock(&S->tmpl_mu);
        char *text = chat_render_vars(S->tmpl, vars, &je);
        pthread_mutex_unlock(&S->tmpl_mu);
        json_decref(vars);
        if (!text) return fail(e, 400, "messages", "invalid_value", "chat template: %s", je.msg);
        int rc = tok_encode(S->tok, text, strlen(text), 0, &r->ids, &n);
        free(text);
        if (rc != 0) return fail(e, 400, "messages", "invalid_value", "the rendered conversation does not tokenize");
    } else {
        json_t *p = r->prompt;
        if (json_is_array(p) && json_array_size(p) == 1 && (json_is_string(json_array_get(p, 0)) || json_is_array(json_array_get(p, 0))))
            p = json_array_get(p, 0);
        if (json_is_string(p)) {
            if (tok_encode(S->tok, json_string_value(p), json_string_length(p), 1, &r->ids, &n) != 0)
                return fail(e, 400, "prompt", "invalid_value", "the prompt does not tokenize");
        } else if (json_is_array(p) && json_array_size(p) > 0 && json_is_integer(json_array_get(p, 0))) {
            n = json_array_size(p);
            if (n > (size_t)S->m->hp.context) n = (size_t)S->m->hp.context + 1; /* refused below */
            r->ids = xmalloc(sizeof *r->ids * n);
            for (size_t i = 0; i < n; i++) {
                const json_t *t = json_array_get(p, i);
                if (!json_is_integer(t) || json_integer_value(t) < 0 || json_integer_value(t) >= vocab)
                    return fail(e, 400, "prompt", "invalid_value", "prompt token %zu is not a token id in [0, %d)", i, vocab);
                r->ids[i] = (int32_t)json_integer_value(t);
            }
        } else if (json_is_array(p) && json_array_size(p) > 1) {
            return fail(e, 400, "prompt", "unsupported_value",
                        "a list of %zu prompts is not supported: send one prompt per request", json_array_size(p));
        } else {
            return fail(e, 400, "prompt", "invalid_type",
                        "'prompt' must be a string, a list of token ids, or a list holding one of these");
        }
    }
    int ctx = S->m->hp.context;
    if (n == 0) return fail(e, 400, r->chat ? "messages" : "prompt", "invalid_value", "the prompt encodes to no tokens");
    if (n > (size_t)ctx)
        return fail(e, 400, r->chat ? "messages" : "prompt", "context_length_exceeded",
                    "This model's maximum context length is %d tokens. However, your prompt has %s%zu tokens.", ctx,
                    n == (size_t)ctx + 1 ? "more than " : "", n);
    r->n_ids = (int)n;
    if (r->max_tokens < 0) r->max_tokens = r->chat ? ctx - r->n_ids : 16;
    if (r->n_ids + r->max_tokens > ctx)
        return fail(e, 400, "max_tokens", "context_length_exceeded",
                    "This model's maximum context length is %d tokens. However, you requested %ld tokens (%d in the "
                    "prompt, %ld for the completion). Please reduce the prompt or max_tokens.",
                    ctx, r->n_ids + r->max_tokens, r->n_ids, r->max_tokens);
    return 0;
}

/* ------------------------------------------------------- queue and worker */

static void ts_after(struct timespec *ts, long ms) {
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_nsec += (ms % 1000) * 1000000L;
    ts->tv_sec += ms / 1000 + ts->tv_nsec / 1000000000L;
    ts->tv_nsec %= 1000000000L;
}

static job *job_new(serve_ctx *S, api_req *r, http_conn *c) {
    job *j = xcalloc(1, sizeof *j);
    j->S = S;
    j->conn = c;
    j->ids = r->ids;
    j->stop = r->stop;
    r->ids = NULL;
    r->stop = NULL;
    j->var = r->var;
    j->g = (serve_gen){.ids = j->ids, .n_ids = r->n_ids, .max_tokens = (int)r->max_tokens, .sample = r->sp,
                       .variant = &j->var, .stop = (const char *const *)j->stop, .n_stop = r->n_stop};
    r->n_stop = 0;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&j->cv, &ca);
    pthread_condattr_destroy(&ca);
    sb_init(&j->out);
    return j;
}

static void job_free(job *j) {
    for (int i = 0; i < j->g.n_stop; i++) free(j->stop[i]);
    free(j->stop);
    free(j->ids);
    free(j->out.p);
    pthread_cond_destroy(&j->cv);
    free(j);
}

static int enqueue(serve_ctx *S, job *j, api_error *e) {
    pthread_mutex_lock(&S->mu);
    /* `queue` requests may wait behind the running one */
    if (S->stopping || S->n_queued + S->running > S->cfg.queue) {
        int q = S->n_queued;
        pthread_mutex_unlock(&S->mu);
        fail(e, 503, NULL, "queue_full", "The server is busy: %d requests are waiting; retry later", q);
        e->extra = "Retry-After: 1\r\n";
        return -1;
    }
    j->state = JOB_QUEUED;
    if (S->tail) S->tail->next = j;
    else S->head = j;
    S->tail = j;
    S->n_queued++;
    pthread_cond_signal(&S->work);
    pthread_mutex_unlock(&S->mu);
    return 0;
}

/* Under S->mu: a queued job leaves the queue at once, a running one stops at its next token. */
static void cancel_locked(serve_ctx *S, job *j) {
    if (j->state == JOB_QUEUED) {
        job **pp = &S->head, *prev = NULL;
        while (*pp && *pp != j) {
            prev = *pp;
            pp = &(*pp)->next;
        }
        if (*pp) {
            *pp = j->next;
            if (S->tail == j) S->tail = prev;
            S->n_queued--;
        }
        j->state = JOB_DONE;
        j->res.finish = SERVE_FINISH_CANCELLED;
    } else if (j->state == JOB_RUNNING) {
        j->cancel = 1;
    }
}

static int job_emit(void *ud, const char *text, size_t len) {
    job *j = ud;
    serve_ctx *S = j->S;
    pthread_mutex_lock(&S->mu);
    if (len) {
        sb_add(&j->out, text, len);
        pthread_cond_broadcast(&j->cv);
    }
    int cancel = j->cancel;
    pthread_mutex_unlock(&S->mu);
    return cancel || http_conn_gone(j->conn);
}

static void *worker_main(void *arg) {
    serve_ctx *S = arg;
    pthread_mutex_lock(&S->mu);
    for (;;) {
        while (!S->head && !S->stopping) pthread_cond_wait(&S->work, &S->mu);
        if (S->stopping) break;
        job *j = S->head;
        S->head = j->next;
        if (!S->head) S->tail = NULL;
        S->n_queued--;
        j->state = JOB_RUNNING;
        S->running = 1;
        pthread_mutex_unlock(&S->mu);
        int rc = serve_generate(S->engine, &j->g, job_emit, j, &j->res);
        pthread_mutex_lock(&S->mu);
        j->failed = rc != 0;
        j->state = JOB_DONE;
        S->running = 0;
        pthread_cond_broadcast(&j->cv);
    }
    pthread_mutex_unlock(&S->mu);
    return NULL;
}

typedef int (*piece_fn)(void *ud, const char *text, size_t len);

/* Waits until j is done; with `piece` set, hands it each new stretch of text
 * as it comes. A client that leaves (or a piece that cannot be sent) cancels. */
static void wait_job(serve_ctx *S, job *j, http_conn *c, piece_fn piece, void *ud) {
    pthread_mutex_lock(&S->mu);
    while (j->state != JOB_DONE || (piece && j->taken < j->out.len)) {
        if (piece && j->taken < j->out.len) {
            size_t n = j->out.len - j->taken;
            char *p = xmalloc(n);
            memcpy(p, j->out.p + j->taken, n);
            j->taken = j->out.len;
            pthread_mutex_unlock(&S->mu);
            int w = piece(ud, p, n);
            free(p);
            pthread_mutex_lock(&S->mu);
            if (w != 0) cancel_locked(S, j);
            continue;
        }
        struct timespec ts;
        ts_after(&ts, 100);
        pthread_cond_timedwait(&j->cv, &S->mu, &ts);
        if (j->state != JOB_DONE) {
            pthread_mutex_unlock(&S->mu);
            int gone = http_conn_gone(c);
            pthread_mutex_lock(&S->mu);
            if (gone) cancel_locked(S, j);
        }
    }
    pthread_mutex_unlock(&S->mu);
}

/* --------------------------------------------------------- completions */

typedef struct {
    serve_ctx *S;
    http_conn *c;
    int chat;
    char id[64];
    long created;
} reply_ctx;

static const char *finish_name(serve_finish f) { return f == SERVE_FINISH_STOP ? "stop" : "length"; }

static json_t *usage_object(int prompt, int completion) {
    return json_pack("{s:i, s:i, s:i}", "prompt_tokens", prompt, "completion_tokens", completion, "total_tokens",
                     prompt + completion);
}

/* One choice of a reply or a stream chunk. text NULL: no text field (chat's final delta). */
static json_t *choice(const reply_ctx *rc, const char *text, size_t len, const char *finish, int first, int stream) {
    json_t *ch = json_object();
    json_object_set_new(ch, "index", json_integer(0));
    if (!rc->chat) {
        json_object_set_new(ch, "text", jstr(text ? text : "", text ? len : 0));
        json_object_set_new(ch, "logprobs", json_null());
    } else {
        json_t *m = json_object();
        if (!stream || first) json_object_set_new(m, "role", json_string("assistant"));
        if (text) json_object_set_new(m, "content", jstr(text, len));
        json_object_set_new(ch, stream ? "delta" : "message", m);
        json_object_set_new(ch, "logprobs", json_null());
    }
    json_object_set_new(ch, "finish_reason", finish ? json_string(finish) : json_null());
    return ch;
}

static json_t *envelope(const reply_ctx *rc, int stream) {
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(rc->id));
    json_object_set_new(o, "object", json_string(rc->chat ? (stream ? "chat.completion.chunk" : "chat.completion")
                                                         : "text_completion"));
    json_object_set_new(o, "created", json_integer(rc->created));
    json_object_set_new(o, "model", json_string(rc->S->model_id));
    return o;
}

static int sse_send(http_conn *c, json_t *o) {
    char *t = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(o);
    if (!t) return -1;
    size_t n = strlen(t);
    char *buf = xmalloc(n + 9);
    memcpy(buf, "data: ", 6);
    memcpy(buf + 6, t, n);
    memcpy(buf + 6 + n, "\n\n", 2);
    free(t);
    int r = http_stream_write(c, buf, n + 8);
    free(buf);
    return r;
}

static int stream_piece(void *ud, const char *text, size_t len) {
    reply_ctx *rc = ud;
    json_t *o = envelope(rc, 1);
    json_t *chs = json_array();
    json_array_append_new(chs, choice(rc, text, len, NULL, 0, 1));
    json_object_set_new(o, "choices", chs);
    return sse_send(rc->c, o);
}

static json_t *evalctl_info(const job *j) {
    char desc[256];
    attn_variant_describe(&j->var, desc, sizeof desc);
    return json_pack("{s:s, s:f, s:f}", "variant", desc, "prefill_s", j->res.prefill_s, "decode_s", j->res.decode_s);
}

static void handle_completion(serve_ctx *S, http_conn *c, const http_request *req, int chat) {
    api_error e = {0};
    api_req r = {.chat = chat};
    job *j = NULL;
    json_error_t je;
    json_t *root = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        fail(&e, 400, NULL, "invalid_json", "We could not parse the JSON body of your request: %s (line %d, column %d)",
             je.text, je.line, je.column);
        goto refuse;
    }
    if (!json_is_object(root)) {
        fail(&e, 400, NULL, "invalid_json", "The body of your request must be a JSON object, not %s",
             json_type_name(root));
        goto refuse;
    }
    if (parse_body(S, root, &r, &e) != 0 || build_prompt(S, &r, &e) != 0) goto refuse;
    j = job_new(S, &r, c);
    if (enqueue(S, j, &e) != 0) goto refuse;

    reply_ctx rc = {.S = S, .c = c, .chat = chat, .created = (long)time(NULL)};
    snprintf(rc.id, sizeof rc.id, "%s-%lx%05lx", chat ? "chatcmpl" : "cmpl", S->created,
             (long)atomic_fetch_add(&S->next_id, 1));
    double t0 = ev_now();
    if (r.stream) {
        http_stream_begin(c, 200, "text/event-stream", NULL);
        if (chat) {
            json_t *o = envelope(&rc, 1), *chs = json_array();
            json_array_append_new(chs, choice(&rc, "", 0, NULL, 1, 1));
            json_object_set_new(o, "choices", chs);
            sse_send(c, o);
        }
        wait_job(S, j, c, stream_piece, &rc);
        if (j->res.finish != SERVE_FINISH_CANCELLED) {
            if (j->failed) {
                fail(&e, 500, NULL, "generation_failed", "generation failed (see the server's log)");
                sse_send(c, error_object(&e));
                atomic_fetch_add(&S->n_errors, 1);
            } else {
                json_t *o = envelope(&rc, 1), *chs = json_array();
                json_array_append_new(chs, choice(&rc, chat ? NULL : "", 0, finish_name(j->res.finish), 0, 1));
                json_object_set_new(o, "choices", chs);
                json_object_set_new(o, "evalctl", evalctl_info(j));
                sse_send(c, o);
                if (r.include_usage) {
                    o = envelope(&rc, 1);
                    json_object_set_new(o, "choices", json_array());
                    json_object_set_new(o, "usage", usage_object(r.n_ids, j->res.completion_tokens));
                    sse_send(c, o);
                }
            }
            static const char done[] = "data: [DONE]\n\n";
            http_stream_write(c, done, sizeof done - 1);
            http_stream_end(c);
        } else {
            http_conn_close_after(c);
        }
    } else {
        wait_job(S, j, c, NULL, NULL);
        if (j->res.finish == SERVE_FINISH_CANCELLED) {
            http_conn_close_after(c); /* the client has gone: nobody to answer */
            fail(&e, 500, NULL, "cancelled", "the client went away");
            reply_error(S, c, &e);
        } else if (j->failed) {
            fail(&e, 500, NULL, "generation_failed", "generation failed (see the server's log)");
            reply_error(S, c, &e);
        } else {
            json_t *o = envelope(&rc, 0), *chs = json_array();
            json_array_append_new(chs, choice(&rc, j->out.p, j->out.len, finish_name(j->res.finish), 1, 0));
            json_object_set_new(o, "choices", chs);
            json_object_set_new(o, "usage", usage_object(r.n_ids, j->res.completion_tokens));
            json_object_set_new(o, "evalctl", evalctl_info(j));
            reply_json(S, c, 200, o, NULL);
        }
    }
    if (j->res.finish != SERVE_FINISH_CANCELLED && !j->failed) atomic_fetch_add(&S->n_completions, 1);
    if (S->cfg.verbose)
        fprintf(stderr, "evalctl serve: %s %s: %d prompt + %d new tokens, %s, %.2f s\n", req->method, req->path,
                r.n_ids, j->res.completion_tokens,
                j->res.finish == SERVE_FINISH_CANCELLED ? "cancelled" : finish_name(j->res.finish), ev_now() - t0);
    job_free(j);
    req_free(&r);
    json_decref(root);
    return;
refuse:
    reply_error(S, c, &e);
    if (j) job_free(j);
    req_free(&r);
    json_decref(root);
}

/* --------------------------------------------------------------- routes */

static int auth_ok(const serve_ctx *S, const http_request *req, api_error *e) {
    if (!S->cfg.api_key) return 1;
    const char *h = http_get_header(req, "authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
        fail(e, 401, NULL, NULL,
             "You didn't provide an API key. You need to provide your API key in an Authorization header using "
             "Bearer auth (i.e. Authorization: Bearer YOUR_KEY).");
        e->extra = "WWW-Authenticate: Bearer\r\n";
        return 0;
    }
    const char *k = h + 7, *want = S->cfg.api_key;
    size_t n = strlen(k), m = strlen(want);
    unsigned diff = (unsigned)(n ^ m);
    for (size_t i = 0; i < n; i++) diff |= (unsigned char)k[i] ^ (unsigned char)want[i % (m ? m : 1)];
    if (diff) {
        fail(e, 401, NULL, "invalid_api_key", "Incorrect API key provided.");
        e->extra = "WWW-Authenticate: Bearer\r\n";
        return 0;
    }
    return 1;
}

static json_t *model_object(const serve_ctx *S) {
    return json_pack("{s:s, s:s, s:I, s:s}", "id", S->model_id, "object", "model", "created", (json_int_t)S->created,
                     "owned_by", "evalctl");
}

static void handle(void *ud, http_conn *c, const http_request *req) {
    serve_ctx *S = ud;
    atomic_fetch_add(&S->n_requests, 1);
    api_error e = {0};
    const char *path = req->path;
    int get = !strcmp(req->method, "GET"), post = !strcmp(req->method, "POST");
    if (!strcmp(path, "/health")) {
        if (!get) goto get_only;
        pthread_mutex_lock(&S->mu);
        int q = S->n_queued, run = S->running;
        pthread_mutex_unlock(&S->mu);
        reply_json(S, c, 200,
                   json_pack("{s:s, s:s, s:i, s:i, s:I, s:I}", "status", "ok", "model", S->model_id, "queued", q,
                             "running", run, "requests", (json_int_t)atomic_load(&S->n_requests), "errors",
                             (json_int_t)atomic_load(&S->n_errors)),
                   NULL);
        return;
    }
    int known = !strcmp(path, "/v1/completions") || !strcmp(path, "/v1/chat/completions") ||
                !strcmp(path, "/v1/models") || !strncmp(path, "/v1/models/", 11);
    if (!known) {
        fail(&e, 404, NULL, "not_found", "Unknown request URL: %s %s", req->method, path);
        reply_error(S, c, &e);
        return;
    }
    if (!auth_ok(S, req, &e)) {
        reply_error(S, c, &e);
        return;
    }
    if (!strncmp(path, "/v1/models", 10)) {
        if (!get) goto get_only;
        if (path[10] == '/') {
            if (strcmp(path + 11, S->model_id) != 0) {
                fail(&e, 404, "model", "model_not_found", "The model '%s' does not exist", path + 11);
                reply_error(S, c, &e);
            } else {
                reply_json(S, c, 200, model_object(S), NULL);
            }
            return;
        }
        json_t *data = json_array();
        json_array_append_new(data, model_object(S));
        reply_json(S, c, 200, json_pack("{s:s, s:o}", "object", "list", "data", data), NULL);
        return;
    }
    if (!post) {
        fail(&e, 405, NULL, "method_not_allowed", "%s is not allowed on %s; use POST", req->method, path);
        e.extra = "Allow: POST\r\n";
        reply_error(S, c, &e);
        return;
    }
    handle_completion(S, c, req, !strcmp(path, "/v1/chat/completions"));
    return;
get_only:
    fail(&e, 405, NULL, "method_not_allowed", "%s is not allowed on %s; use GET", req->method, path);
    e.extra = "Allow: GET\r\n";
    reply_error(S, c, &e);
}

/* ------------------------------------------------------------- lifetime */

serve_ctx *serve_new(const serve_config *cfg) {
    if (attn_variant_check(&cfg->variant) != 0) return NULL;
    serve_ctx *S = xcalloc(1, sizeof *S);
    S->cfg = *cfg;
    if (S->cfg.queue < 0) S->cfg.queue = 0;
    pthread_mutex_init(&S->mu, NULL);
    pthread_mutex_init(&S->tmpl_mu, NULL);
    pthread_cond_init(&S->work, NULL);
    S->created = (long)time(NULL);
    if (!(S->m = model_open(cfg->model_path)) || !(S->tok = tok_open_model(S->m))) goto fail;
    /* the variant must fit the model (dense layers exist) */
    attn_ctx *probe = attn_new(&cfg->variant, S->m->hp.n_layers, S->m->hp.n_heads, S->m->hp.n_kv_heads,
                               S->m->hp.head_dim, 1);
    if (!probe) goto fail;
    attn_free(probe);
    S->tmpl = chat_template_for_model(S->m, cfg->chat_template);
    if (!S->tmpl) {
        if (cfg->chat_template) goto fail;
        fprintf(stderr, "evalctl serve: no chat template, so /v1/chat/completions answers 400 (see --chat-template)\n");
    }
    /* the id: the file or directory name, without .gguf (a directory may end in '/') */
    size_t bl = strlen(cfg->model_path);
    while (bl > 1 && cfg->model_path[bl - 1] == '/') bl--;
    const char *base = cfg->model_path;
    for (size_t i = 0; i + 1 < bl; i++)
        if (cfg->model_path[i] == '/') base = cfg->model_path + i + 1;
    snprintf(S->model_id, sizeof S->model_id, "%.*s", (int)(cfg->model_path + bl - base), base);
    size_t il = strlen(S->model_id);
    if (il > 5 && !strcmp(S->model_id + il - 5, ".gguf")) S->model_id[il - 5] = '\0';
    S->engine = serve_engine_new(S->m, S->tok, cfg->backend, cfg->threads, cfg->chunk);
    http_config hc = {.host = cfg->host, .port = cfg->port, .max_body = cfg->max_body, .timeout_s = cfg->timeout_s,
                      .max_conns = cfg->max_conns, .handler = handle, .on_error = on_http_error, .ud = S};
    if (!(S->http = http_server_new(&hc))) goto fail;
    return S;
fail:
    serve_free(S);
    return NULL;
}

int serve_run(serve_ctx *S) {
    if (pthread_create(&S->worker, NULL, worker_main, S) != 0) return ev_error("serve: cannot start the worker thread");
    S->worker_started = 1;
    int rc = http_server_run(S->http);
    pthread_mutex_lock(&S->mu);
    S->stopping = 1;
    pthread_cond_broadcast(&S->work);
    pthread_mutex_unlock(&S->mu);
    pthread_join(S->worker, NULL);
    S->worker_started = 0;
    return rc;
}

void serve_stop(serve_ctx *S) { http_server_stop(S->http); }

void serve_free(serve_ctx *S) {
    if (!S) return;
    http_server_free(S->http);
    serve_engine_free(S->engine);
    chat_template_free(S->tmpl);
    tok_free(S->tok);
    model_close(S->m);
    pthread_mutex_destroy(&S->mu);
    pthread_mutex_destroy(&S->tmpl_mu);
    pthread_cond_destroy(&S->work);
    free(S);
}
