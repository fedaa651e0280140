/* fuzz_safetensors.c - libFuzzer target for the safetensors parser (`make fuzz`).
 *
 * Every input is parsed from memory; whatever opens must describe tensors that
 * lie wholly inside the input and can be found by name. libFuzzer hands us an
 * exactly sized heap copy, so ASan flags any read past its end. */
#include "safetensors.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    /* Silence the parser's one-line errors (one per rejected input) without
     * touching fd 2: libFuzzer keeps its own FILE for stderr, and sanitizer
     * reports write to the descriptor directly. glibc lets stderr be assigned. */
    FILE *null = fopen("/dev/null", "w");
    if (null) stderr = null;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    st_set *s = st_open_buffer(data, size, "fuzz");
    if (!s) return 0;
    volatile uint8_t sink = 0;
    for (int i = 0; i < st_n_tensors(s); i++) {
        const st_tensor *t = st_tensor_at(s, i);
        const uint8_t *p = t->data;
        if (p < data || p > data + size || t->nbytes > (size_t)(data + size - p)) __builtin_trap();
        if (t->nbytes) sink ^= p[0] ^ p[t->nbytes - 1];
        if (st_find(s, t->name) != t) __builtin_trap();
        if (t->n_dims < 0 || t->n_dims > 4) __builtin_trap();
    }
    (void)sink;
    st_close(s);
    return 0;
}
