/* cli.c - option helpers shared by the subcommands (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int cli_opt(int argc, char **argv, int *i, const char *name, const char **value) {
    if (strcmp(argv[*i], name) != 0) return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "evalctl: option %s needs a value\n", name);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

int cli_int(const char *opt, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "evalctl: %s: '%s' is not an integer in [%ld, %ld]\n", opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_unknown(const char *cmd, const char *arg) {
    fprintf(stderr, "evalctl %s: unknown option %s (see evalctl %s --help)\n", cmd, arg, cmd);
    return 2;
}

int cli_is_help(const char *arg) { return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0; }

/* ------------------------------------------------- attention variant options */

static const char *const variant_flags[][2] = {
    {"--sink", "sink"}, {"--window", "window"}, {"--block", "block"}, {"--tail", "tail"},
    {"--gamma", "gamma"}, {"--decode", "decode"}, {"--dense-layers", "dense_layers"},
};

static int add_param(cli_variant_opts *o, const char *key, const char *val) {
    if (o->n == CLI_MAX_ATTN_OPTS) {
        fprintf(stderr, "evalctl: at most %d attention parameters\n", CLI_MAX_ATTN_OPTS);
        return -1;
    }
    o->key[o->n] = key;
    o->val[o->n++] = val;
    return 1;
}

int cli_variant_arg(int argc, char **argv, int *i, cli_variant_opts *o) {
    const char *v;
    int r;
    if ((r = cli_opt(argc, argv, i, "--variant", &v)) != 0) {
        if (r > 0) o->name = v;
        return r;
    }
    if ((r = cli_opt(argc, argv, i, "--attn", &v)) != 0) return r < 0 ? r : add_param(o, NULL, v);
    for (size_t k = 0; k < sizeof variant_flags / sizeof variant_flags[0]; k++)
        if ((r = cli_opt(argc, argv, i, variant_flags[k][0], &v)) != 0)
            return r < 0 ? r : add_param(o, variant_flags[k][1], v);
    return 0;
}

int cli_variant_build(const cli_variant_opts *o, attn_variant *v) {
    const char *name = o->name ? o->name : "dense";
    if (attn_variant_parse(name, v) != 0)
        return ev_error("--variant: unknown attention variant '%s' (dense, streaming, block, streaming+delta, "
                        "block+delta, streaming+recompute, block+recompute)", name);
    for (int i = 0; i < o->n; i++) {
        char key[32];
        const char *val = o->val[i];
        if (o->key[i]) {
            snprintf(key, sizeof key, "%s", o->key[i]);
        } else {
            const char *eq = strchr(val, '=');
            size_t kl = eq ? (size_t)(eq - val) : 0;
            if (!eq || kl == 0 || kl >= sizeof key) return ev_error("--attn: expected KEY=VALUE, got '%s'", val);
            memcpy(key, val, kl);
            key[kl] = '\0';
            val = eq + 1;
        }
        if (attn_variant_set(v, key, val) != 0) return -1;
    }
    return attn_variant_check(v);
}
