/* fuzz_jinja.c - libFuzzer target for the Jinja interpreter (make fuzz).
 *
 * The input is a template: it is parsed, and when it parses it is rendered
 * over a small conversation (messages, tools, special tokens), so that ASan/
 * UBSan watch the lexer, the parser and the evaluator alike. Parse and render
 * errors print one line each; the stdio stream `stderr` is pointed at
 * /dev/null (FUZZ_VERBOSE=1 keeps it) while descriptor 2, where the sanitizers
 * report, is left alone. EVALCTL_DATE pins strftime_now. */
#include "jinja.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *vars;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!vars) {
        FILE *null = getenv("FUZZ_VERBOSE") ? NULL : fopen("/dev/null", "w");
        if (null) stderr = null;
        setenv("EVALCTL_DATE", "2024-09-15", 1);
        json_error_t je;
        vars = json_loads(
            "{\"messages\": [{\"role\": \"system\", \"content\": \"sys\"}, {\"role\": \"user\", \"content\": "
            "\"hi \\u00e9\"}, {\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"id\": "
            "\"abcdefghi\", \"function\": {\"name\": \"f\", \"arguments\": {\"x\": 1.5}}}]}, {\"role\": "
            "\"tool\", \"content\": {\"r\": [1, 2]}}], \"add_generation_prompt\": true, \"bos_token\": "
            "\"<s>\", \"eos_token\": \"</s>\", \"tools\": [{\"type\": \"function\", \"function\": {\"name\": "
            "\"f\", \"parameters\": {}}}]}",
            0, &je);
    }
    char *src = malloc(size + 1);
    if (!src) return 0;
    memcpy(src, data, size);
    src[size] = 0;
    jinja_error err;
    jinja_template *t = jinja_parse(src, "fuzz", &err);
    if (t) {
        char *out = jinja_render(t, vars, &err);
        free(out);
        jinja_free(t);
    }
    free(src);
    return 0;
}
