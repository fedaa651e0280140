/* fuzz_gguf.c - libFuzzer target for the GGUF reader (make fuzz).
 *
 * Parses the input from memory with gguf_open_mem, then reads everything a
 * caller could reach: every key and value (array elements walked, nested ones
 * too, as far as a bounded budget allows), the named getters, and the first row
 * of every tensor dequantised, so that ASan/UBSan see any read the validation
 * should have prevented. Each rejected input prints its one error line, so
 * the stdio stream `stderr` that ev_error writes to is pointed at /dev/null
 * (FUZZ_VERBOSE=1 keeps it). Only the stream changes, not descriptor 2: the
 * sanitizers write to the descriptor and libFuzzer to the FILE it saved at
 * start-up, so their reports and statistics still show. (glibc lets programs
 * assign to stderr.) */
#include "gguf.h"
#include "quant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile double sink;

static void walk(const gguf_value *v, int depth, int *budget) {
    if (--*budget < 0) return;
    int64_t i;
    double d;
    if (gguf_value_int(v, &i) == 0) sink += (double)i;
    if (gguf_value_float(v, &d) == 0) sink += d;
    if (v->type == GGUF_T_STRING && v->n) sink += v->p[0] + v->p[v->n - 1];
    if (v->type != GGUF_T_ARRAY || depth > 20) return;
    for (uint64_t k = 0; k < v->n && *budget > 0; k++) {
        gguf_value e;
        if (gguf_value_elem(v, k, &e) == 0) walk(&e, depth + 1, budget);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int quiet;
    if (!quiet) {
        quiet = 1;
        FILE *null = getenv("FUZZ_VERBOSE") ? NULL : fopen("/dev/null", "w");
        if (null) stderr = null;
    }
    gguf_ctx *g = gguf_open_mem(data, size, "fuzz");
    if (!g) return 0;
    int budget = 20000;
    for (int i = 0; i < gguf_n_kv(g); i++) {
        gguf_value v;
        const char *key = gguf_kv_key(g, i);
        if (gguf_kv_value(g, i, &v) != 0 || gguf_find_key(g, key) != i) abort();
        walk(&v, 0, &budget);
        int64_t x;
        double d;
        const char *s;
        size_t n;
        int et;
        uint64_t cnt;
        gguf_get_int(g, key, &x);
        gguf_get_float(g, key, &d);
        if (gguf_get_str(g, key, &s, &n) == 0 && n) sink += s[n - 1];
        free(gguf_get_strdup(g, key));
        if (gguf_get_arr(g, key, &et, &cnt) == 0 && cnt) {
            uint64_t idx[3] = {0, cnt / 2, cnt - 1};
            for (int k = 0; k < 3; k++) {
                if (gguf_arr_str(g, key, idx[k], &s, &n) == 0 && n) sink += s[0] + s[n - 1];
                if (gguf_arr_int(g, key, idx[k], &x) == 0) sink += (double)x;
                if (gguf_arr_float(g, key, idx[k], &d) == 0) sink += d;
            }
        }
    }
    for (int i = 0; i < gguf_n_tensors(g); i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        if (gguf_find_tensor(g, t->name) != t) abort();
        size_t rb = qt_row_bytes(t->type, t->ne[0]);
        if (!qt_supported(t->type) || rb == 0 || rb > t->nbytes) abort();
        float *y = malloc((size_t)t->ne[0] * sizeof *y);
        if (!y) abort();
        qt_dequant(t->type, t->data, y, t->ne[0]);
        sink += y[0] + y[t->ne[0] - 1];
        if (t->nbytes > rb) sink += ((const uint8_t *)t->data)[t->nbytes - 1];
        free(y);
    }
    gguf_close(g);
    return 0;
}
