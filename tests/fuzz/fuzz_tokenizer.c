/* fuzz_tokenizer.c - libFuzzer target for the tokenizer (make fuzz).
 *
 * The first input byte picks what the rest is:
 *   even: text, encoded by the fixture tokenizers (byte-level with added-token
 *         flags and NFC, SentencePiece with byte fallback, the one with every
 *         split behaviour), then decoded, streamed, and its bytes reused as ids;
 *   odd:  a tokenizer.json, opened from memory and, when it opens, used to
 *         encode and decode a fixed text and the input itself.
 * Invalid input must end in one error line, never a crash. Error lines go to
 * /dev/null through the stdio stream only (FUZZ_VERBOSE=1 keeps them), so the
 * sanitizers' reports still show. Runs from the repository root. */
#include "tokenizer.h"
#include "unicode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const PATHS[] = {"tests/fixtures/tok/qwen2", "tests/fixtures/tok/spm", "tests/fixtures/tok/mix",
                                    "tests/fixtures/tok/llama3.gguf"};
static tok_tokenizer *toks[4];
static volatile size_t sink;

/* strict: a fixture tokenizer, whose decoders never rewrite text already streamed */
static void exercise(tok_tokenizer *t, const char *text, size_t n, int strict) {
    for (int special = 0; special < 2; special++) {
        int32_t *ids;
        size_t k;
        if (tok_encode(t, text, n, special, &ids, &k) != 0) return;
        size_t dl;
        char *d = tok_decode(t, ids, k, &dl);
        if (!d) abort(); /* ids from encode always decode */
        if (uni_valid_prefix(d, dl) != dl) abort();
        sink += dl;
        free(d);
        tok_stream *s = tok_stream_new(t);
        for (size_t i = 0; i < k; i++) {
            const char *out;
            size_t ol;
            if (tok_stream_push(s, ids[i], &out, &ol) < 0) {
                if (strict) abort();
                break;
            }
            sink += ol;
        }
        tok_stream_free(s);
        free(ids);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int ready;
    if (!ready) {
        ready = 1;
        FILE *null = getenv("FUZZ_VERBOSE") ? NULL : fopen("/dev/null", "w");
        if (null) stderr = null;
        for (int i = 0; i < 4; i++)
            if (!(toks[i] = tok_open_path(PATHS[i]))) abort();
    }
    if (size == 0) return 0;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    if ((data[0] & 1) == 0) {
        for (int i = 0; i < 4; i++) {
            exercise(toks[i], p, n, 1);
            /* the bytes as token ids: out-of-range ones must be refused cleanly */
            size_t k = n / 2;
            int32_t *ids = malloc((k ? k : 1) * sizeof *ids);
            for (size_t j = 0; j < k; j++) ids[j] = (int32_t)(((uint8_t)p[2 * j] << 8 | (uint8_t)p[2 * j + 1]) % 2200);
            char *d = tok_decode(toks[i], ids, k, NULL);
            sink += d != NULL;
            free(d);
            free(ids);
        }
        return 0;
    }
    tok_tokenizer *t = tok_open_json_mem(p, n, "fuzz.json");
    if (!t) return 0;
    static const char sample[] = "Hello <s> world 123 \xE4\xBD\xA0\xE5\xA5\xBD  \n\n\xF0\x9F\x98\x80 caf\xC3\xA9";
    exercise(t, sample, sizeof sample - 1, 0);
    exercise(t, p, n < 256 ? n : 256, 0);
    tok_free(t);
    return 0;
}
