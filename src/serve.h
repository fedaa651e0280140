/* serve.h - `evalctl serve`: OpenAI-compatible endpoints over http.h, so that
 * existing benchmark clients (RULER's call_api.py, lm-evaluation-harness, the
 * openai package) can drive the attention variants.
 *
 *   POST /v1/completions       prompt (a string, or token ids) tokenized as
 *                              `evalctl generate --prompt` does (with the
 *                              tokenizer's BOS/EOS)
 *   POST /v1/chat/completions  messages rendered through the chat template with
 *                              the generation prompt, tokenized without special
 *                              tokens (`evalctl generate --chat`)
 *   GET  /v1/models, /v1/models/ID, /health
 *
 * Bodies are the OpenAI API's: max_tokens (completions default 16; chat: up to
 * the context), temperature (default 1; 0 = greedy, identical to `evalctl
 * generate`), top_p, top_k (vLLM's extension), seed, stop (a string or a list;
 * not part of the text), n = 1, stream (server-sent events, ending `data:
 * [DONE]`), stream_options.include_usage, usage (completion_tokens counts every
 * token made, the end token included), finish_reason "stop" (an end token or a
 * stop string) or "length". Fields the API defines but evalctl does not
 * implement are accepted at their neutral value only (frequency_penalty 0,
 * logprobs null, echo false ...); unknown fields are refused. Errors are
 * {"error": {"message", "type", "param", "code"}} with 400, 401, 404, 405, 408,
 * 413, 503 as fits.
 *
 * The attention variant of the command line applies to every request; an
 * "evalctl" object in the body overrides it for that request, e.g.
 *   "evalctl": {"variant": "streaming+delta", "sink": 64, "window": 256, "gamma": 32}
 * (variant, sink, window, block, tail, gamma, decode, dense_layers). A variant
 * name changes the kind of attention and keeps the server's parameters; the
 * numbers override them. Responses carry "evalctl": {"variant": ...} saying
 * what ran.
 *
 * One model instance: requests wait in a bounded queue (503 when full) and a
 * worker thread runs them one at a time; a client that hangs up while queued
 * or generating is dropped at the next token. */
#ifndef EV_SERVE_H
#define EV_SERVE_H

#include <stddef.h>
#include <stdint.h>

#include "attention.h"
#include "model.h"
#include "sample.h"
#include "tokenizer.h"

/* --------------------------------------------------- one completion's work */

/* What a request asks of the model. The engine below runs it through
 * backend.h, on the CPU or the GPU. */
typedef struct {
    const int32_t *ids; /* the prompt, n_ids >= 1 tokens */
    int n_ids;
    int max_tokens;     /* new tokens at most (>= 0); n_ids + max_tokens <= context */
    sample_params sample;
    const attn_variant *variant;
    const char *const *stop; /* strings that end the text (not included); n_stop may be 0 */
    int n_stop;
} serve_gen;

typedef enum { SERVE_FINISH_STOP = 0, SERVE_FINISH_LENGTH = 1, SERVE_FINISH_CANCELLED = 2 } serve_finish;

typedef struct {
    int completion_tokens; /* tokens made, the end token included */
    serve_finish finish;
    double prefill_s, decode_s;
} serve_result;

/* Receives the text as it becomes final (pieces concatenate to the whole
 * answer; a piece never ends inside a UTF-8 character nor inside a possible
 * stop string). Called after every token, with len 0 when nothing is final
 * yet, and with len 0 between prefill chunks; returning non-zero cancels the
 * generation (finish SERVE_FINISH_CANCELLED). */
typedef int (*serve_emit_fn)(void *ud, const char *text, size_t len);

typedef struct serve_engine serve_engine;

/* Borrows m and tok (they must outlive it). backend: "cpu", "cuda" or "auto"
 * (backend.h; the first request opens it). chunk: prefill chunk (<= 0: the
 * backend's default). */
serve_engine *serve_engine_new(const model *m, tok_tokenizer *tok, const char *backend, int n_threads, int chunk);
void serve_engine_free(serve_engine *e); /* NULL-safe */
/* Generates one completion: greedy tokens are those of backend_generate; the text
 * is what `evalctl generate` prints (end tokens dropped, tokenizers'
 * DecodeStream), cut at the first stop string. Returns 0, or -1 after one
 * error line. Not re-entrant: one call at a time per engine. */
int serve_generate(serve_engine *e, const serve_gen *g, serve_emit_fn emit, void *ud, serve_result *res);

/* ------------------------------------------------------------------ server */

typedef struct {
    const char *model_path;
    const char *chat_template; /* NULL: the model's own; else a built-in name or a .jinja file */
    attn_variant variant;      /* every request's default */
    const char *host;          /* NULL: 127.0.0.1 */
    int port;                  /* 0: any free port */
    const char *api_key;       /* NULL: no check; else "Authorization: Bearer KEY" on /v1/ */
    const char *backend;       /* cpu, cuda or auto (NULL: cpu) */
    int threads;               /* forward-pass threads (<= 0: every core) */
    int queue;                 /* requests that may wait behind the running one */
    size_t max_body;           /* request body bytes */
    double timeout_s;          /* reading a head or body, keep-alive idle, each write */
    int max_conns;             /* connections at once */
    int chunk;                 /* prefill chunk */
    int verbose;               /* a log line per request on stderr */
} serve_config;

typedef struct serve_ctx serve_ctx;

/* Opens the model, tokenizer and chat template and binds the port. Returns
 * NULL after one error line. */
serve_ctx *serve_new(const serve_config *cfg);
int serve_port(const serve_ctx *s);
const char *serve_model_id(const serve_ctx *s);
/* Serves until serve_stop; returns 0 or -1. */
int serve_run(serve_ctx *s);
/* Async-signal-safe. */
void serve_stop(serve_ctx *s);
void serve_free(serve_ctx *s); /* NULL-safe */

#endif
