/* fuzz_ini.c - libFuzzer target for the run-config INI parser (`make fuzz`).
 *
 * Whatever parses must survive the canonical round trip: the written text
 * parses again to a config with no differences (ini_diff), writing that gives
 * the same bytes, and setting every key to its own value changes nothing. The
 * getters run on every key. libFuzzer hands us an exactly sized heap copy, so
 * ASan flags any read past its end. */
#include "ini.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    /* silence the one-line errors without touching fd 2 (see fuzz_safetensors.c) */
    FILE *null = fopen("/dev/null", "w");
    if (null) stderr = null;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ini *a = ini_parse((const char *)data, size, "fuzz");
    if (!a) return 0;
    size_t n1, n2;
    char *t1 = ini_format(a, &n1);
    ini *b = ini_parse(t1, n1, "written");
    if (!b) __builtin_trap();
    char diff[64];
    if (ini_diff(a, b, diff, sizeof diff) != 0) __builtin_trap();
    char *t2 = ini_format(b, &n2);
    if (n1 != n2 || memcmp(t1, t2, n1) != 0) __builtin_trap();
    for (int s = 0; s < ini_section_count(a); s++) {
        const char *sec = ini_section_name(a, s);
        for (int k = 0; k < ini_key_count(a, s); k++) {
            const char *key = ini_key_name(a, s, k);
            long l;
            double d;
            int flag, n;
            char **items;
            ini_get_int(a, sec, key, -1000, 1000, &l);
            ini_get_double(a, sec, key, -1e9, 1e9, &d);
            ini_get_bool(a, sec, key, &flag);
            if (ini_get_list(a, sec, key, &items, &n) == 1) {
                if (items[n] != NULL) __builtin_trap();
                free(items);
            }
            size_t pl = strlen(sec) + strlen(key) + 2;
            char *path = malloc(pl);
            snprintf(path, pl, "%s.%s", sec, key);
            char *value = strdup(ini_key_value(a, s, k));
            if (ini_set(b, path, value) != 0) __builtin_trap();
            free(path);
            free(value);
        }
    }
    if (ini_diff(a, b, diff, sizeof diff) != 0) __builtin_trap();
    free(t1);
    free(t2);
    ini_free(a);
    ini_free(b);
    return 0;
}
