/* cmd_serve.c - `evalctl serve`: the OpenAI-compatible HTTP server (serve.h)
 * from the command line; runs until SIGINT or SIGTERM, then stops cleanly. */
#include "cli.h"
#include "serve.h"
#include "util.h"

#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: evalctl serve --model PATH [options]\n"
    "\n"
    "OpenAI-compatible HTTP/1.1 server: POST /v1/completions, POST /v1/chat/completions,\n"
    "GET /v1/models, GET /health. One request generates at a time; the others wait in a queue.\n"
    "A request may override the variant with \"evalctl\": {\"variant\": ..., \"window\": ...}.\n"
    "\n"
    "  --model PATH         a .gguf file or a Hugging Face directory\n"
    "  --host ADDR          numeric address to listen on (default 127.0.0.1; 0.0.0.0 exposes it)\n"
    "  --port N             port (default 8080; 0: any free port, printed at start)\n"
    "  --api-key KEY        require \"Authorization: Bearer KEY\" on /v1/ (default: none)\n"
    "  --threads N          forward-pass threads (default: every core)\n"
    "  --queue N            requests that may wait behind the running one (default 16); then 503\n"
    "  --max-body BYTES     largest request body (default 8388608); then 413\n"
    "  --timeout SECONDS    to read a request head or body, keep-alive idle, each write (default 30)\n"
    "  --max-conns N        connections at once (default 64)\n"
    "  --chat-template N    a built-in (chatml, llama3, mistral, none) or .jinja file instead of the\n"
    "                       model's; `none` sends chat contents as they are (prompts already templated)\n"
    "  --backend B          cpu (default), cuda, or auto (cuda when a GPU answers)\n"
    "  --chunk N            prefill chunk in tokens (default 512; the output does not depend on it)\n"
    "  --verbose            a line per request on standard error\n"
    CLI_VARIANT_HELP;

static serve_ctx *running;

static void on_signal(int sig) {
    (void)sig;
    if (running) serve_stop(running);
}

int cmd_serve(int argc, char **argv) {
    serve_config cfg = {.port = 8080, .queue = 16, .max_body = 8u << 20, .timeout_s = 30, .max_conns = 64, .chunk = 512};
    cli_variant_opts vo = {0};
    const char *v;
    long x;
    for (int i = 0; i < argc; i++) {
        int r;
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(usage, stdout);
            return 0;
        }
        if ((r = cli_opt(argc, argv, &i, "--model", &cfg.model_path)) != 0 ||
            (r = cli_opt(argc, argv, &i, "--host", &cfg.host)) != 0 ||
            (r = cli_opt(argc, argv, &i, "--api-key", &cfg.api_key)) != 0 ||
            (r = cli_opt(argc, argv, &i, "--chat-template", &cfg.chat_template)) != 0 ||
            (r = cli_opt(argc, argv, &i, "--backend", &cfg.backend)) != 0 ||
            (r = cli_variant_arg(argc, argv, &i, &vo)) != 0) {
            if (r < 0) return 2;
            continue;
        }
        if ((r = cli_opt(argc, argv, &i, "--port", &v)) != 0) {
            if (r < 0 || cli_int("--port", v, 0, 65535, &x) < 0) return 2;
            cfg.port = (int)x;
        } else if ((r = cli_opt(argc, argv, &i, "--threads", &v)) != 0 || (r = cli_opt(argc, argv, &i, "-t", &v)) != 0) {
            if (r < 0 || cli_int("--threads", v, 0, 4096, &x) < 0) return 2;
            cfg.threads = (int)x;
        } else if ((r = cli_opt(argc, argv, &i, "--queue", &v)) != 0) {
            if (r < 0 || cli_int("--queue", v, 0, 1 << 20, &x) < 0) return 2;
            cfg.queue = (int)x;
        } else if ((r = cli_opt(argc, argv, &i, "--max-body", &v)) != 0) {
            if (r < 0 || cli_int("--max-body", v, 1, 1L << 32, &x) < 0) return 2;
            cfg.max_body = (size_t)x;
        } else if ((r = cli_opt(argc, argv, &i, "--timeout", &v)) != 0) {
            char *end;
            double t = strtod(v, &end);
            if (r < 0 || end == v || *end || !(t > 0 && t <= 86400)) {
                fprintf(stderr, "evalctl: --timeout: '%s' is not a number of seconds in (0, 86400]\n", r < 0 ? "" : v);
                return 2;
            }
            cfg.timeout_s = t;
        } else if ((r = cli_opt(argc, argv, &i, "--max-conns", &v)) != 0) {
            if (r < 0 || cli_int("--max-conns", v, 1, 100000, &x) < 0) return 2;
            cfg.max_conns = (int)x;
        } else if ((r = cli_opt(argc, argv, &i, "--chunk", &v)) != 0) {
            if (r < 0 || cli_int("--chunk", v, 1, 1 << 20, &x) < 0) return 2;
            cfg.chunk = (int)x;
        } else if (!strcmp(a, "--verbose")) {
            cfg.verbose = 1;
        } else {
            return cli_unknown("serve", a);
        }
    }
    if (!cfg.model_path) {
        fputs(usage, stderr);
        return 2;
    }
    if (cli_variant_build(&vo, &cfg.variant) != 0) return 1;
    if (cfg.api_key && !*cfg.api_key) return ev_error("serve: --api-key is empty"), 1;

    /* a client that hangs up must not kill the server: writes report EPIPE instead */
    signal(SIGPIPE, SIG_IGN);
    serve_ctx *s = serve_new(&cfg);
    if (!s) return 1;
    running = s;
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    char desc[256];
    attn_variant_describe(&cfg.variant, desc, sizeof desc);
    const char *host = cfg.host ? cfg.host : "127.0.0.1";
    int v6 = strchr(host, ':') != NULL;
    fprintf(stderr, "evalctl serve: listening on http://%s%s%s:%d (model %s, %s, queue %d)\n", v6 ? "[" : "", host,
            v6 ? "]" : "", serve_port(s), serve_model_id(s), desc, cfg.queue);
    fflush(stderr);
    int rc = serve_run(s);
    running = NULL;
    serve_free(s);
    fprintf(stderr, "evalctl serve: stopped\n");
    return rc == 0 ? 0 : 1;
}
