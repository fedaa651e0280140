/* tokenizer_load.c - builds a tok_tokenizer from tokenizer.json (+
 * tokenizer_config.json) or from GGUF metadata.
 *
 * tokenizer.json is read the way `tokenizers` deserialises it (a model, then the
 * normaliser, then the added tokens, whose ids and normalised forms depend on
 * both), then tokenizer_config.json the way transformers (v5) reads it: extra
 * special tokens and added_tokens_decoder entries not already present are added,
 * bos/eos strings are taken, add_bos_token/add_eos_token are ignored because the
 * file's post_processor decides.
 *
 * A GGUF file has no tokenizer.json; transformers rebuilds one (integrations/
 * gguf): byte-level BPE (GPT2Tokenizer: ByteLevel pre-tokenizer and decoder,
 * or the Split regex named by tokenizer.ggml.pre) or SentencePiece BPE
 * (LlamaTokenizer: Metaspace with prepend_scheme "first", byte fallback, merges
 * recovered from the scores). We build the same pipeline. The regex table is
 * ours, from the names llama.cpp's llama-vocab.cpp gives. */
#include "gguf.h"
#include "model.h"
#include "tokenizer_int.h"
#include "unicode.h"
#include "util.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* ================================================================ regexes */

static const char GPT2_REGEX[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char LLAMA3_REGEX[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char QWEN2_REGEX[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char TEKKEN_REGEX[] =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|"
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|"
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char GPT4O_REGEX[] =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|"
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|"
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* tokenizer.ggml.pre -> the split that pre-tokenizer applies before the byte-level
 * step. Names transformers also maps take its regex; a NULL regex means plain
 * ByteLevel with GPT-2's own regex, which is also what transformers does for any
 * name it does not know (so "gpt2", "smollm", "default", "starcoder"... tokenize
 * with GPT-2's regex). For smollm/starcoder llama.cpp additionally isolates each
 * digit; their vocabularies hold no token mixing a digit with anything else, so
 * the ids are the same. */
static const struct {
    const char *name;
    const char *regex;
} PRE_TABLE[] = {
    {"llama3", LLAMA3_REGEX}, {"llama-v3", LLAMA3_REGEX}, {"llama-bpe", LLAMA3_REGEX},
    {"falcon3", LLAMA3_REGEX}, {"falcon-h1", LLAMA3_REGEX}, {"pixtral", LLAMA3_REGEX},
    {"midm-2.0", LLAMA3_REGEX}, {"lfm2", LLAMA3_REGEX}, {"dbrx", LLAMA3_REGEX},
    {"smaug-bpe", LLAMA3_REGEX}, {"tekken", TEKKEN_REGEX}, {"qwen2", QWEN2_REGEX},
    {"deepseek-r1-qwen", QWEN2_REGEX}, {"megrez", QWEN2_REGEX}, {"gpt-4o", GPT4O_REGEX},
    {"llama4", GPT4O_REGEX}, {"minimax-m2", GPT4O_REGEX},
};

/* ================================================================ JSON helpers */

typedef struct {
    tok_tokenizer *t;
    const char *path; /* the JSON file being read */
} ld;

static int jfail(const ld *L, const char *fmt, const char *what) {
    char msg[512];
    snprintf(msg, sizeof msg, fmt, what);
    ev_error("%s: %s", L->path, msg);
    return -1;
}

/* Boolean member with a default; any other type is an error. */
static int jbool(const ld *L, const json_t *o, const char *key, int dflt, int *out) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        *out = dflt;
        return 0;
    }
    if (!json_is_boolean(v)) return jfail(L, "'%s' is not a boolean", key);
    *out = json_is_true(v);
    return 0;
}

static int jstr(const ld *L, const json_t *o, const char *key, const char **s, size_t *n) {
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v)) return jfail(L, "'%s' is missing or not a string", key);
    *s = json_string_value(v);
    *n = json_string_length(v);
    return 0;
}

static const char *jtype(const json_t *o) {
    json_t *v = json_object_get(o, "type");
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int one_char(const ld *L, const char *s, size_t n, const char *what, uint32_t *cp) {
    if (!n || uni_decode(s, n, cp) != n) return jfail(L, "%s must be one character", what);
    return 0;
}

/* {"String": s} or {"Regex": r} -> a compiled pattern. */
static int jpattern(const ld *L, const json_t *o, tk_regex *re) {
    json_t *p = json_object_get(o, "pattern");
    json_t *s = json_object_get(p, "String"), *r = json_object_get(p, "Regex");
    json_t *v = json_is_string(s) ? s : r;
    if (!json_is_string(v)) return jfail(L, "%s", "'pattern' must be {\"String\": ...} or {\"Regex\": ...}");
    char err[256];
    if (tk_regex_compile(re, json_string_value(v), json_string_length(v), v == s, err, sizeof err) < 0) {
        char msg[400];
        snprintf(msg, sizeof msg, "bad regex /%.60s/: %s", json_string_value(v), err);
        return jfail(L, "%s", msg);
    }
    return 0;
}

static int parse_prepend_scheme(const ld *L, const json_t *o, int *out) {
    json_t *ps = json_object_get(o, "prepend_scheme");
    int aps = 1;
    if (jbool(L, o, "add_prefix_space", 1, &aps) < 0) return -1;
    *out = PREPEND_ALWAYS;
    if (json_is_string(ps)) {
        const char *s = json_string_value(ps);
        if (!strcmp(s, "first")) *out = PREPEND_FIRST;
        else if (!strcmp(s, "never")) *out = PREPEND_NEVER;
        else if (strcmp(s, "always")) return jfail(L, "unknown prepend_scheme '%s'", s);
    }
    if (!aps) {
        if (*out != PREPEND_NEVER && json_is_string(ps))
            return jfail(L, "%s", "Metaspace add_prefix_space does not match its prepend_scheme");
        *out = PREPEND_NEVER;
    }
    return 0;
}

static int metaspace_repl(const ld *L, const json_t *o, uint32_t *cp, char *repl, size_t *repl_len) {
    const char *s = NULL;
    size_t n = 0;
    if (jstr(L, o, "replacement", &s, &n) < 0 || one_char(L, s, n, "Metaspace replacement", cp) < 0) return -1;
    memcpy(repl, s, n);
    *repl_len = n;
    return 0;
}

/* ================================================================ components */

static int parse_norm(ld *L, const json_t *o, tk_norm *nm) {
    const char *ty = jtype(o);
    memset(nm, 0, sizeof *nm);
    if (!ty) return jfail(L, "%s", "normalizer without a type");
    if (!strcmp(ty, "NFC")) nm->kind = TN_NFC;
    else if (!strcmp(ty, "NFD")) nm->kind = TN_NFD;
    else if (!strcmp(ty, "NFKC")) nm->kind = TN_NFKC;
    else if (!strcmp(ty, "NFKD")) nm->kind = TN_NFKD;
    else if (!strcmp(ty, "ByteLevel")) nm->kind = TN_BYTELEVEL;
    else if (!strcmp(ty, "Sequence")) {
        nm->kind = TN_SEQ;
        json_t *a = json_object_get(o, "normalizers");
        if (!json_is_array(a)) return jfail(L, "%s", "normalizer Sequence without a 'normalizers' list");
        nm->kids = xcalloc(json_array_size(a) + 1, sizeof *nm->kids);
        for (size_t i = 0; i < json_array_size(a); i++) {
            nm->n_kids++;
            if (parse_norm(L, json_array_get(a, i), &nm->kids[i]) < 0) return -1;
        }
    } else if (!strcmp(ty, "Replace")) {
        nm->kind = TN_REPLACE;
        const char *s = NULL;
        size_t n = 0;
        if (jpattern(L, o, &nm->re) < 0 || jstr(L, o, "content", &s, &n) < 0) return -1;
        nm->str = xmalloc(n + 1);
        memcpy(nm->str, s, n + 1);
        nm->str_len = n;
    } else if (!strcmp(ty, "Prepend")) {
        nm->kind = TN_PREPEND;
        const char *s = NULL;
        size_t n = 0;
        if (jstr(L, o, "prepend", &s, &n) < 0) return -1;
        nm->str = xmalloc(n + 1);
        memcpy(nm->str, s, n + 1);
        nm->str_len = n;
    } else if (!strcmp(ty, "Strip")) {
        nm->kind = TN_STRIP;
        if (jbool(L, o, "strip_left", 1, &nm->left) < 0 || jbool(L, o, "strip_right", 1, &nm->right) < 0) return -1;
    } else
        return jfail(L, "unsupported normalizer type '%s'", ty);
    return 0;
}

static int parse_behavior(const ld *L, const json_t *o, tk_behavior *b) {
    json_t *v = json_object_get(o, "behavior");
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    static const struct {
        const char *name;
        tk_behavior b;
    } tab[] = {{"Removed", SB_REMOVED}, {"Isolated", SB_ISOLATED}, {"MergedWithPrevious", SB_MERGED_PREV},
               {"MergedWithNext", SB_MERGED_NEXT}, {"Contiguous", SB_CONTIGUOUS}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (!strcmp(s, tab[i].name)) {
            *b = tab[i].b;
            return 0;
        }
    return jfail(L, "unknown split behavior '%s'", s);
}

static int compile_fixed(const ld *L, tk_regex *re, const char *pat) {
    char err[256];
    if (tk_regex_compile(re, pat, strlen(pat), 0, err, sizeof err) < 0) return jfail(L, "built-in regex: %s", err);
    return 0;
}

static int parse_pre(ld *L, const json_t *o, tk_pretok *p) {
    const char *ty = jtype(o);
    memset(p, 0, sizeof *p);
    if (!ty) return jfail(L, "%s", "pre_tokenizer without a type");
    if (!strcmp(ty, "Sequence")) {
        p->kind = TP_SEQ;
        json_t *a = json_object_get(o, "pretokenizers");
        if (!json_is_array(a)) return jfail(L, "%s", "pre_tokenizer Sequence without a 'pretokenizers' list");
        p->kids = xcalloc(json_array_size(a) + 1, sizeof *p->kids);
        for (size_t i = 0; i < json_array_size(a); i++) {
            p->n_kids++;
            if (parse_pre(L, json_array_get(a, i), &p->kids[i]) < 0) return -1;
        }
    } else if (!strcmp(ty, "Split")) {
        p->kind = TP_SPLIT;
        if (jpattern(L, o, &p->re) < 0 || parse_behavior(L, o, &p->behavior) < 0 ||
            jbool(L, o, "invert", 0, &p->invert) < 0)
            return -1;
    } else if (!strcmp(ty, "ByteLevel")) {
        p->kind = TP_BYTELEVEL;
        if (jbool(L, o, "add_prefix_space", 1, &p->add_prefix_space) < 0 ||
            jbool(L, o, "use_regex", 1, &p->use_regex) < 0)
            return -1;
        if (p->use_regex && compile_fixed(L, &p->re, GPT2_REGEX) < 0) return -1;
    } else if (!strcmp(ty, "Digits")) {
        p->kind = TP_DIGITS;
        if (jbool(L, o, "individual_digits", 0, &p->individual) < 0) return -1;
    } else if (!strcmp(ty, "Metaspace")) {
        p->kind = TP_METASPACE;
        if (metaspace_repl(L, o, &p->repl_cp, p->repl, &p->repl_len) < 0 || parse_prepend_scheme(L, o, &p->prepend) < 0 ||
            jbool(L, o, "split", 1, &p->split) < 0)
            return -1;
    } else
        return jfail(L, "unsupported pre_tokenizer type '%s'", ty);
    return 0;
}

static int parse_dec(ld *L, const json_t *o, tk_dec *d) {
    const char *ty = jtype(o);
    memset(d, 0, sizeof *d);
    if (!ty) return jfail(L, "%s", "decoder without a type");
    if (!strcmp(ty, "ByteLevel")) d->kind = TD_BYTELEVEL;
    else if (!strcmp(ty, "ByteFallback")) d->kind = TD_BYTEFALLBACK;
    else if (!strcmp(ty, "Fuse")) d->kind = TD_FUSE;
    else if (!strcmp(ty, "Metaspace")) {
        d->kind = TD_METASPACE;
        char repl[4];
        size_t rl;
        if (metaspace_repl(L, o, &d->cp, repl, &rl) < 0 || parse_prepend_scheme(L, o, &d->prepend) < 0) return -1;
    } else if (!strcmp(ty, "Replace")) {
        d->kind = TD_REPLACE;
        const char *s = NULL;
        size_t n = 0;
        if (jpattern(L, o, &d->re) < 0 || jstr(L, o, "content", &s, &n) < 0) return -1;
        d->str = xmalloc(n + 1);
        memcpy(d->str, s, n + 1);
        d->str_len = n;
    } else if (!strcmp(ty, "Strip")) {
        d->kind = TD_STRIP;
        const char *s = NULL;
        size_t n = 0;
        json_t *st = json_object_get(o, "start"), *sp = json_object_get(o, "stop");
        if (jstr(L, o, "content", &s, &n) < 0 || one_char(L, s, n, "Strip content", &d->cp) < 0) return -1;
        if (!json_is_integer(st) || !json_is_integer(sp) || json_integer_value(st) < 0 ||
            json_integer_value(sp) < 0 || json_integer_value(st) > 1000000 || json_integer_value(sp) > 1000000)
            return jfail(L, "%s", "Strip decoder needs integer 'start' and 'stop'");
        d->start = (int)json_integer_value(st);
        d->stop = (int)json_integer_value(sp);
    } else if (!strcmp(ty, "Sequence")) {
        d->kind = TD_SEQ;
        json_t *a = json_object_get(o, "decoders");
        if (!json_is_array(a)) return jfail(L, "%s", "decoder Sequence without a 'decoders' list");
        d->kids = xcalloc(json_array_size(a) + 1, sizeof *d->kids);
        for (size_t i = 0; i < json_array_size(a); i++) {
            d->n_kids++;
            if (parse_dec(L, json_array_get(a, i), &d->kids[i]) < 0) return -1;
        }
    } else
        return jfail(L, "unsupported decoder type '%s'", ty);
    return 0;
}

/* Growable id list for the post-processor's prefix and suffix. */
typedef struct {
    int32_t *v;
    size_t n;
} idl;

static void idl_add(idl *l, int32_t id) {
    l->v = xrealloc(l->v, (l->n + 1) * sizeof *l->v);
    l->v[l->n++] = id;
}

/* ["<s>", 1] -> 1 */
static int pair_id(const ld *L, const json_t *o, const char *key, int32_t *id) {
    json_t *p = json_object_get(o, key);
    json_t *v = json_array_get(p, 1);
    if (!json_is_array(p) || !json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX)
        return jfail(L, "post_processor '%s' must be [token, id]", key);
    *id = (int32_t)json_integer_value(v);
    return 0;
}

/* Folds a post-processor into (pre, suf): the ids it puts around a single sequence. */
static int parse_post(ld *L, const json_t *o, idl *pre, idl *suf) {
    const char *ty = jtype(o);
    if (!ty) return jfail(L, "%s", "post_processor without a type");
    if (!strcmp(ty, "ByteLevel")) return 0;
    if (!strcmp(ty, "Sequence")) {
        json_t *a = json_object_get(o, "processors");
        if (!json_is_array(a)) return jfail(L, "%s", "post_processor Sequence without a 'processors' list");
        for (size_t i = 0; i < json_array_size(a); i++)
            if (parse_post(L, json_array_get(a, i), pre, suf) < 0) return -1;
        return 0;
    }
    idl p = {0}, s = {0};
    int rc = 0;
    if (!strcmp(ty, "RobertaProcessing") || !strcmp(ty, "BertProcessing")) {
        int32_t cls, sep;
        if (pair_id(L, o, "cls", &cls) < 0 || pair_id(L, o, "sep", &sep) < 0) return -1;
        idl_add(&p, cls);
        idl_add(&s, sep);
    } else if (!strcmp(ty, "TemplateProcessing")) {
        json_t *single = json_object_get(o, "single"), *specials = json_object_get(o, "special_tokens");
        if (!json_is_array(single)) return jfail(L, "%s", "TemplateProcessing without a 'single' template");
        int seen_a = 0;
        for (size_t i = 0; i < json_array_size(single) && rc == 0; i++) {
            json_t *it = json_array_get(single, i);
            json_t *sp = json_object_get(it, "SpecialToken"), *sq = json_object_get(it, "Sequence");
            if (json_is_object(sq)) {
                if (seen_a++) rc = jfail(L, "%s", "TemplateProcessing: a single template with the sequence twice");
                continue;
            }
            json_t *name = json_object_get(sp, "id");
            if (!json_is_string(name)) {
                rc = jfail(L, "%s", "TemplateProcessing: template item is neither SpecialToken nor Sequence");
                break;
            }
            json_t *ids = json_object_get(json_object_get(specials, json_string_value(name)), "ids");
            if (!json_is_array(ids)) {
                rc = jfail(L, "TemplateProcessing: missing special token '%s'", json_string_value(name));
                break;
            }
            for (size_t k = 0; k < json_array_size(ids); k++) {
                json_t *v = json_array_get(ids, k);
                if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX) {
                    rc = jfail(L, "TemplateProcessing: bad id for '%s'", json_string_value(name));
                    break;
                }
                idl_add(seen_a ? &s : &p, (int32_t)json_integer_value(v));
            }
        }
        if (rc == 0 && !seen_a) rc = jfail(L, "%s", "TemplateProcessing: single template without $A");
    } else
        rc = jfail(L, "unsupported post_processor type '%s'", ty);
    if (rc == 0) {
        /* a later processor wraps what the earlier ones made */
        for (size_t i = 0; i < pre->n; i++) idl_add(&p, pre->v[i]);
        free(pre->v);
        *pre = p;
        for (size_t i = 0; i < s.n; i++) idl_add(suf, s.v[i]);
        free(s.v);
    } else {
        free(p.v);
        free(s.v);
    }
    return rc;
}

/* ================================================================ the BPE model */

static int parse_model(ld *L, const json_t *m) {
    tok_tokenizer *t = L->t;
    const char *ty = jtype(m);
    if (ty && strcmp(ty, "BPE")) return jfail(L, "unsupported model type '%s' (only BPE)", ty);
    json_t *vocab = json_object_get(m, "vocab"), *merges = json_object_get(m, "merges");
    if (!json_is_object(vocab)) return jfail(L, "%s", "model has no 'vocab' object");
    if (!json_is_array(merges)) return jfail(L, "%s", "model has no 'merges' list");
    json_t *dropout = json_object_get(m, "dropout");
    if (json_is_number(dropout) && json_number_value(dropout) > 0)
        return jfail(L, "%s", "BPE dropout is random; not supported");
    tk_map_free(&t->vocab);
    tk_map_init(&t->vocab, json_object_size(vocab));
    const char *key;
    json_t *val;
    void *iter = json_object_iter(vocab);
    for (; iter; iter = json_object_iter_next(vocab, iter)) {
        key = json_object_iter_key(iter);
        size_t kl = json_object_iter_key_len(iter);
        val = json_object_iter_value(iter);
        if (!json_is_integer(val) || json_integer_value(val) < 0 || json_integer_value(val) >= (1 << 24))
            return jfail(L, "vocab entry '%.80s' has no valid id", key);
        tk_map_put(&t->vocab, key, kl, (int32_t)json_integer_value(val));
    }
    if (jbool(L, m, "fuse_unk", 0, &t->fuse_unk) < 0 || jbool(L, m, "byte_fallback", 0, &t->byte_fallback) < 0 ||
        jbool(L, m, "ignore_merges", 0, &t->ignore_merges) < 0)
        return -1;
    json_t *unk = json_object_get(m, "unk_token");
    if (json_is_string(unk)) t->unk_id = tk_map_get(&t->vocab, json_string_value(unk), json_string_length(unk));
    json_t *cp = json_object_get(m, "continuing_subword_prefix"), *sf = json_object_get(m, "end_of_word_suffix");
    if (json_is_string(cp) && json_string_length(cp)) {
        t->cont_prefix = xstrdup(json_string_value(cp));
        t->cont_prefix_len = json_string_length(cp);
    }
    if (json_is_string(sf) && json_string_length(sf)) {
        t->eow_suffix = xstrdup(json_string_value(sf));
        t->eow_suffix_len = json_string_length(sf);
    }
    /* merges: "a b" strings (lines starting "#version" skipped) or ["a", "b"] pairs */
    tk_merges_init(&t->merges, json_array_size(merges));
    uint32_t rank = 0;
    char *buf = NULL;
    size_t bufcap = 0;
    for (size_t i = 0; i < json_array_size(merges); i++) {
        json_t *e = json_array_get(merges, i);
        const char *a, *bb;
        size_t al, bl;
        if (json_is_string(e)) {
            const char *s = json_string_value(e);
            size_t n = json_string_length(e);
            if (n >= 8 && !memcmp(s, "#version", 8)) continue;
            const char *sp = memchr(s, ' ', n);
            if (!sp || memchr(sp + 1, ' ', n - (size_t)(sp + 1 - s))) {
                free(buf);
                char msg[64];
                snprintf(msg, sizeof msg, "%zu", i);
                return jfail(L, "merge %s is not two tokens separated by one space", msg);
            }
            a = s, al = (size_t)(sp - s), bb = sp + 1, bl = n - al - 1;
        } else if (json_is_array(e) && json_array_size(e) == 2 && json_is_string(json_array_get(e, 0)) &&
                   json_is_string(json_array_get(e, 1))) {
            a = json_string_value(json_array_get(e, 0)), al = json_string_length(json_array_get(e, 0));
            bb = json_string_value(json_array_get(e, 1)), bl = json_string_length(json_array_get(e, 1));
        } else {
            free(buf);
            char msg[64];
            snprintf(msg, sizeof msg, "%zu", i);
            return jfail(L, "merge %s is neither \"a b\" nor [\"a\", \"b\"]", msg);
        }
        int32_t ia = tk_map_get(&t->vocab, a, al), ib = tk_map_get(&t->vocab, bb, bl);
        /* the merged token drops the continuing-subword prefix of the right half */
        size_t skip = t->cont_prefix_len <= bl && t->cont_prefix_len && !memcmp(bb, t->cont_prefix, t->cont_prefix_len)
                          ? t->cont_prefix_len : 0;
        if (al + bl + 1 > bufcap) buf = xrealloc(buf, bufcap = 2 * (al + bl) + 64);
        memcpy(buf, a, al);
        memcpy(buf + al, bb + skip, bl - skip);
        int32_t im = tk_map_get(&t->vocab, buf, al + bl - skip);
        if (ia < 0 || ib < 0 || im < 0) {
            const char *bad = ia < 0 ? a : ib < 0 ? bb : buf;
            size_t badn = ia < 0 ? al : ib < 0 ? bl : al + bl - skip;
            char msg[200];
            snprintf(msg, sizeof msg, "merge %zu names unknown token '%.*s'", i, (int)(badn > 80 ? 80 : badn), bad);
            free(buf);
            return jfail(L, "%s", msg);
        }
        tk_merges_put(&t->merges, ia, ib, rank++, im);
    }
    free(buf);
    return 0;
}

/* ================================================================ tokenizer_config.json */

/* A special token as tokenizer_config.json writes it: "<s>" or {"content": "<s>", ...}. */
static int add_config_token(ld *L, const json_t *v, int special_default) {
    tok_tokenizer *t = L->t;
    const char *s = NULL;
    size_t n = 0;
    int lstrip = 0, rstrip = 0, single = 0, normalized = 0, special = special_default;
    if (json_is_string(v)) {
        s = json_string_value(v);
        n = json_string_length(v);
    } else if (json_is_object(v) && json_is_string(json_object_get(v, "content"))) {
        s = json_string_value(json_object_get(v, "content"));
        n = json_string_length(json_object_get(v, "content"));
        if (jbool(L, v, "lstrip", 0, &lstrip) < 0 || jbool(L, v, "rstrip", 0, &rstrip) < 0 ||
            jbool(L, v, "single_word", 0, &single) < 0 || jbool(L, v, "normalized", !special, &normalized) < 0 ||
            jbool(L, v, "special", special_default, &special) < 0)
            return -1;
    } else
        return 0;
    int ai = tk_added_index(t, s, n);
    if (ai >= 0) {
        const tk_added *a = &t->added[ai];
        if (json_is_string(v)) return 0; /* a name only: the existing token stays as it is */
        if (a->lstrip == (unsigned)lstrip && a->rstrip == (unsigned)rstrip && a->single_word == (unsigned)single &&
            a->normalized == (unsigned)normalized && a->special == (unsigned)special)
            return 0;
    }
    tk_add_token(t, s, n, -1, special, normalized, single, lstrip, rstrip);
    return 0;
}

static char *config_token_str(const json_t *v) {
    if (json_is_string(v)) return xstrdup(json_string_value(v));
    if (json_is_object(v) && json_is_string(json_object_get(v, "content")))
        return xstrdup(json_string_value(json_object_get(v, "content")));
    return NULL;
}

/* tokenizer_config.json beside the tokenizer (NULL when absent, -1 into *rc on
 * a bad file) and the chat template (chat_template.jinja wins over the config's
 * "chat_template": a string, or a list of {name, template} whose "default" is used). */
static json_t *load_config(ld *L, const char *dir, int *rc) {
    tok_tokenizer *t = L->t;
    char *cfg_path = ev_path_join(dir, "tokenizer_config.json");
    char *jinja_path = ev_path_join(dir, "chat_template.jinja");
    json_t *cfg = NULL;
    *rc = 0;
    if (ev_is_file(cfg_path)) {
        json_error_t err;
        /* model_max_length can be 1e30 written as an integer */
        cfg = json_load_file(cfg_path, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &err);
        if (!cfg || !json_is_object(cfg)) {
            if (cfg) ev_error("%s: not a JSON object", cfg_path);
            else ev_error("%s: invalid JSON: %s (at byte %d)", cfg_path, err.text, err.position);
            json_decref(cfg);
            cfg = NULL;
            *rc = -1;
        }
    }
    json_t *ct = json_object_get(cfg, "chat_template");
    if (json_is_string(ct)) {
        t->chat_template = xstrdup(json_string_value(ct));
    } else if (json_is_array(ct)) {
        for (size_t k = 0; k < json_array_size(ct); k++) {
            json_t *e = json_array_get(ct, k);
            json_t *nm = json_object_get(e, "name"), *tp = json_object_get(e, "template");
            if (json_is_string(nm) && !strcmp(json_string_value(nm), "default") && json_is_string(tp))
                t->chat_template = xstrdup(json_string_value(tp));
        }
    }
    if (*rc == 0 && ev_is_file(jinja_path)) {
        char *src = ev_read_file(jinja_path, NULL);
        if (!src) *rc = -1;
        else {
            free(t->chat_template);
            t->chat_template = src;
        }
    }
    free(cfg_path);
    free(jinja_path);
    return cfg;
}

/* The tokenizer classes transformers (v5) rebuilds from tokenizer.json's
 * vocabulary and merges with a pipeline of their own, ignoring the file's
 * normalizer, pre-tokenizer, decoder and added tokens; FILE is TokenizersBackend,
 * which takes the file as it is. */
typedef enum { CLS_FILE = 0, CLS_GPT2, CLS_QWEN2, CLS_LLAMA } tk_class;

/* AutoTokenizer's choice, for the model types that matter here (the class
 * registered for config.json's model_type can override tokenizer_class). */
static const struct {
    const char *model_type, *cls;
    int hub_class_wrong; /* MODELS_WITH_INCORRECT_HUB_TOKENIZER_CLASS */
} REGISTERED[] = {
    {"mistral", "TokenizersBackend", 0}, {"mixtral", "TokenizersBackend", 0}, {"ministral", "TokenizersBackend", 0},
    {"phi3", "TokenizersBackend", 1},    {"olmo2", "TokenizersBackend", 0},   {"granite", "TokenizersBackend", 0},
    {"stablelm", "TokenizersBackend", 0}, {"qwen2", "Qwen2Tokenizer", 1},     {"qwen2_moe", "Qwen2Tokenizer", 0},
    {"qwen3", "Qwen2Tokenizer", 0},      {"qwen3_moe", "Qwen2Tokenizer", 0},  {"gpt2", "GPT2Tokenizer", 0},
    {"starcoder2", "GPT2Tokenizer", 0},  {"phi", "GPT2Tokenizer", 0},
};

static int has_bytelevel(const json_t *o) {
    if (json_is_object(o)) {
        json_t *ty = json_object_get(o, "type");
        if (json_is_string(ty) && !strcmp(json_string_value(ty), "ByteLevel")) return 1;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)o, k, v) if (strcmp(k, "model") && has_bytelevel(v)) return 1;
    } else if (json_is_array(o)) {
        for (size_t i = 0; i < json_array_size(o); i++)
            if (has_bytelevel(json_array_get(o, i))) return 1;
    }
    return 0;
}

static tk_class pick_class(const json_t *cfg, const json_t *root, const char *dir) {
    if (json_object_get(cfg, "auto_map")) return CLS_FILE; /* remote code: not ours to emulate */
    char hub[64] = "";
    json_t *tc = json_object_get(cfg, "tokenizer_class");
    if (json_is_string(tc)) snprintf(hub, sizeof hub, "%s", json_string_value(tc));
    size_t hl = strlen(hub);
    if (hl > 4 && !strcmp(hub + hl - 4, "Fast")) hub[hl - 4] = '\0';
    /* config.json's model_type */
    char mt[64] = "";
    char *cp = ev_path_join(dir, "config.json");
    if (ev_is_file(cp)) {
        json_t *c = json_load_file(cp, JSON_DECODE_INT_AS_REAL, NULL);
        json_t *v = json_object_get(c, "model_type");
        if (json_is_string(v)) snprintf(mt, sizeof mt, "%s", json_string_value(v));
        json_decref(c);
    }
    free(cp);
    const char *reg = NULL;
    int wrong = 0;
    for (size_t i = 0; i < sizeof REGISTERED / sizeof REGISTERED[0]; i++)
        if (!strcmp(mt, REGISTERED[i].model_type)) reg = REGISTERED[i].cls, wrong = REGISTERED[i].hub_class_wrong;
    const char *cls = hub;
    if (!strcmp(hub, "LlamaTokenizer") && !wrong && has_bytelevel(root)) return CLS_FILE;
    if (hub[0] && mt[0] && reg && strcmp(reg, hub)) {
        if (!strcmp(reg, "TokenizersBackend")) return CLS_FILE;
        cls = wrong ? reg : hub;
    } else if (!hub[0] && reg) {
        cls = reg;
    }
    if (!strcmp(cls, "GPT2Tokenizer")) return CLS_GPT2;
    if (!strcmp(cls, "Qwen2Tokenizer")) return CLS_QWEN2;
    if (!strcmp(cls, "LlamaTokenizer")) return CLS_LLAMA;
    return CLS_FILE;
}

static const char *const SPECIAL_KEYS[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                           "pad_token", "cls_token", "mask_token"};

/* What the class's constructor defaults each named special token to. */
static const char *class_default(tk_class c, const char *key) {
    if (c == CLS_GPT2 && (!strcmp(key, "bos_token") || !strcmp(key, "eos_token") || !strcmp(key, "unk_token")))
        return "<|endoftext|>";
    if (c == CLS_QWEN2 && (!strcmp(key, "eos_token") || !strcmp(key, "unk_token") || !strcmp(key, "pad_token")))
        return "<|endoftext|>";
    if (c == CLS_LLAMA) {
        if (!strcmp(key, "bos_token")) return "<s>";
        if (!strcmp(key, "eos_token")) return "</s>";
        if (!strcmp(key, "unk_token")) return "<unk>";
    }
    return NULL;
}

/* The special tokens transformers adds from the config: added_tokens_decoder
 * entries that differ from what the tokenizer has (in id order), then the named
 * ones it lacks, then extra_special_tokens (v5 no longer reads
 * additional_special_tokens). bos/eos strings are kept for the chat template. */
static int apply_config(ld *L, const json_t *cfg, tk_class cls) {
    tok_tokenizer *t = L->t;
    int rc = 0;
    json_t *atd = json_object_get(cfg, "added_tokens_decoder");
    if (json_is_object(atd)) {
        /* keys are ids as strings: visit them in numeric order */
        size_t n = json_object_size(atd), k = 0;
        struct kid {
            long id;
            json_t *v;
        } *ord = xmalloc((n ? n : 1) * sizeof *ord);
        const char *key;
        json_t *v;
        json_object_foreach(atd, key, v) ord[k++] = (struct kid){strtol(key, NULL, 10), v};
        for (size_t i = 1; i < k; i++)
            for (size_t j = i; j > 0 && ord[j - 1].id > ord[j].id; j--) {
                struct kid tmp = ord[j];
                ord[j] = ord[j - 1];
                ord[j - 1] = tmp;
            }
        for (size_t i = 0; i < k && rc == 0; i++)
            rc = add_config_token(L, ord[i].v, json_is_true(json_object_get(ord[i].v, "special")));
        free(ord);
    }
    for (size_t i = 0; i < sizeof SPECIAL_KEYS / sizeof SPECIAL_KEYS[0] && rc == 0; i++) {
        json_t *v = json_object_get(cfg, SPECIAL_KEYS[i]);
        const char *d = class_default(cls, SPECIAL_KEYS[i]);
        if (!v && d) {
            json_t *s = json_string(d);
            rc = add_config_token(L, s, 1);
            json_decref(s);
        } else {
            rc = add_config_token(L, v, 1);
        }
    }
    json_t *extra = json_object_get(cfg, "extra_special_tokens");
    for (size_t k = 0; json_is_array(extra) && k < json_array_size(extra) && rc == 0; k++)
        rc = add_config_token(L, json_array_get(extra, k), 1);
    for (int which = 0; which < 2; which++) {
        const char *key = which ? "eos_token" : "bos_token";
        json_t *v = json_object_get(cfg, key);
        char *s = v ? config_token_str(v) : (class_default(cls, key) ? xstrdup(class_default(cls, key)) : NULL);
        free(which ? t->eos : t->bos);
        if (which) t->eos = s;
        else t->bos = s;
    }
    return rc;
}

/* Pipelines the classes (and transformers' GGUF loader, which uses the same
 * classes) build. */
static int set_bytelevel_pipeline(tok_tokenizer *t, const char *split_regex, int add_prefix_space, int nfc) {
    char err[256];
    if (nfc) {
        t->norm = xcalloc(1, sizeof *t->norm);
        t->norm->kind = TN_NFC;
    }
    t->pre = xcalloc(1, sizeof *t->pre);
    if (split_regex) {
        t->pre->kind = TP_SEQ;
        t->pre->kids = xcalloc(2, sizeof *t->pre->kids);
        t->pre->n_kids = 2;
        t->pre->kids[0].kind = TP_SPLIT;
        t->pre->kids[0].behavior = SB_ISOLATED;
        if (tk_regex_compile(&t->pre->kids[0].re, split_regex, strlen(split_regex), 0, err, sizeof err) < 0)
            return ev_error("%s: built-in regex: %s", t->path, err);
        t->pre->kids[1].kind = TP_BYTELEVEL;
        t->pre->kids[1].add_prefix_space = add_prefix_space;
    } else {
        t->pre->kind = TP_BYTELEVEL;
        t->pre->use_regex = 1;
        t->pre->add_prefix_space = add_prefix_space;
        if (tk_regex_compile(&t->pre->re, GPT2_REGEX, strlen(GPT2_REGEX), 0, err, sizeof err) < 0)
            return ev_error("%s: built-in regex: %s", t->path, err);
    }
    t->dec = xcalloc(1, sizeof *t->dec);
    t->dec->kind = TD_BYTELEVEL;
    return 0;
}

/* LlamaTokenizer: Metaspace (no split), byte fallback, decoder Replace, ByteFallback,
 * Fuse and, with the prefix space, Strip of one leading space. */
static int set_llama_pipeline(tok_tokenizer *t, int prepend) {
    char err[256];
    t->byte_fallback = 1;
    t->fuse_unk = 1;
    t->pre = xcalloc(1, sizeof *t->pre);
    t->pre->kind = TP_METASPACE;
    t->pre->repl_cp = 0x2581;
    t->pre->repl_len = uni_encode(0x2581, t->pre->repl);
    t->pre->prepend = prepend;
    t->pre->split = 0;
    t->dec = xcalloc(1, sizeof *t->dec);
    t->dec->kind = TD_SEQ;
    t->dec->n_kids = prepend != PREPEND_NEVER ? 4 : 3;
    t->dec->kids = xcalloc(4, sizeof *t->dec->kids);
    t->dec->kids[0].kind = TD_REPLACE;
    if (tk_regex_compile(&t->dec->kids[0].re, "\xE2\x96\x81", 3, 1, err, sizeof err) < 0)
        return ev_error("%s: built-in pattern: %s", t->path, err);
    t->dec->kids[0].str = xstrdup(" ");
    t->dec->kids[0].str_len = 1;
    t->dec->kids[1].kind = TD_BYTEFALLBACK;
    t->dec->kids[2].kind = TD_FUSE;
    t->dec->kids[3].kind = TD_STRIP;
    t->dec->kids[3].cp = ' ';
    t->dec->kids[3].start = 1;
    return 0;
}

/* Rebuilds t as the class would: the file's vocabulary, merges and
 * post-processor, the class's own model options and pipeline, no added tokens. */
static int apply_class(ld *L, const json_t *cfg, tk_class cls) {
    tok_tokenizer *t = L->t;
    tk_clear_added(t);
    tk_norm_free(t->norm);
    free(t->norm);
    tk_pretok_free(t->pre);
    free(t->pre);
    tk_dec_free(t->dec);
    free(t->dec);
    t->norm = NULL;
    t->pre = NULL;
    t->dec = NULL;
    t->unk_id = -1;
    t->fuse_unk = t->byte_fallback = t->ignore_merges = 0;
    free(t->cont_prefix);
    free(t->eow_suffix);
    t->cont_prefix = t->eow_suffix = NULL;
    t->cont_prefix_len = t->eow_suffix_len = 0;
    int aps;
    json_t *v = json_object_get(cfg, "add_prefix_space");
    if (cls == CLS_LLAMA) {
        json_t *lg = json_object_get(cfg, "legacy");
        aps = json_is_boolean(v) ? json_is_true(v) : 1;
        int legacy = json_is_boolean(lg) ? json_is_true(lg) : 0;
        return set_llama_pipeline(t, !aps ? PREPEND_NEVER : legacy ? PREPEND_ALWAYS : PREPEND_FIRST);
    }
    aps = json_is_true(v);
    return set_bytelevel_pipeline(t, cls == CLS_QWEN2 ? QWEN2_REGEX : NULL, aps, cls == CLS_QWEN2);
}

/* ================================================================ tokenizer.json */

static void set_specials(tok_tokenizer *t) {
    t->bos_id = t->bos ? tk_token_to_id(t, t->bos, strlen(t->bos)) : -1;
    t->eos_id = t->eos ? tk_token_to_id(t, t->eos, strlen(t->eos)) : -1;
}

static int check_post_ids(const tok_tokenizer *t) {
    for (size_t i = 0; i < t->n_post_prefix + t->n_post_suffix; i++) {
        int32_t id = i < t->n_post_prefix ? t->post_prefix[i] : t->post_suffix[i - t->n_post_prefix];
        if (id >= t->n_ids) return ev_error("%s: post_processor names id %d beyond the vocabulary", t->path, id);
    }
    return 0;
}

/* dir: where tokenizer_config.json and friends are looked for; NULL: nowhere. */
static tok_tokenizer *open_json(const char *data, size_t len, const char *path, const char *dir) {
    json_error_t err;
    json_t *root = json_loadb(data, len, JSON_ALLOW_NUL, &err);
    if (!root) {
        ev_error("%s: invalid JSON: %s (at byte %d)", path, err.text, err.position);
        return NULL;
    }
    tok_tokenizer *t = tk_new(path);
    ld L = {t, path};
    int rc = 0;
    json_t *ver = json_object_get(root, "version");
    json_t *model = json_object_get(root, "model"), *added = json_object_get(root, "added_tokens");
    json_t *norm = json_object_get(root, "normalizer"), *pre = json_object_get(root, "pre_tokenizer");
    json_t *post = json_object_get(root, "post_processor"), *dec = json_object_get(root, "decoder");
    if (!json_is_object(root)) rc = jfail(&L, "%s", "not a JSON object");
    else if (ver && (!json_is_string(ver) || strcmp(json_string_value(ver), "1.0")))
        rc = jfail(&L, "unknown tokenizer.json version '%s'", json_is_string(ver) ? json_string_value(ver) : "?");
    else if (!json_is_object(model)) rc = jfail(&L, "%s", "no 'model' object");
    /* tokenizer_config.json decides whether transformers takes this file as it is */
    int crc = 0;
    json_t *cfg = rc == 0 && dir ? load_config(&L, dir, &crc) : NULL;
    tk_class cls = rc == 0 && crc == 0 && dir ? pick_class(cfg, root, dir) : CLS_FILE;
    if (crc < 0) rc = -1;
    if (rc == 0) rc = parse_model(&L, model);
    if (rc == 0 && cls != CLS_FILE) {
        rc = apply_class(&L, cfg, cls);
        norm = pre = dec = added = NULL;
    }
    if (rc == 0 && norm && !json_is_null(norm)) {
        t->norm = xcalloc(1, sizeof *t->norm);
        rc = json_is_object(norm) ? parse_norm(&L, norm, t->norm) : jfail(&L, "%s", "'normalizer' is not an object");
    }
    if (rc == 0 && added && !json_is_null(added)) {
        if (!json_is_array(added)) rc = jfail(&L, "%s", "'added_tokens' is not a list");
        for (size_t i = 0; rc == 0 && i < json_array_size(added); i++) {
            json_t *a = json_array_get(added, i);
            const char *s = NULL;
            size_t n = 0;
            int sw = 0, ls = 0, rs = 0, nz = 0, sp = 0;
            if (!json_is_object(a) || jstr(&L, a, "content", &s, &n) < 0) {
                rc = -1;
                if (!json_is_object(a)) jfail(&L, "%s", "added token is not an object");
                break;
            }
            if (jbool(&L, a, "special", 0, &sp) < 0 || jbool(&L, a, "single_word", 0, &sw) < 0 ||
                jbool(&L, a, "lstrip", 0, &ls) < 0 || jbool(&L, a, "rstrip", 0, &rs) < 0 ||
                jbool(&L, a, "normalized", !sp, &nz) < 0) {
                rc = -1;
                break;
            }
            if (n && tk_add_token(t, s, n, -1, sp, nz, sw, ls, rs) < 0) rc = -1;
        }
    }
    if (rc == 0 && pre && !json_is_null(pre)) {
        t->pre = xcalloc(1, sizeof *t->pre);
        rc = json_is_object(pre) ? parse_pre(&L, pre, t->pre) : jfail(&L, "%s", "'pre_tokenizer' is not an object");
    }
    if (rc == 0 && dec && !json_is_null(dec)) {
        t->dec = xcalloc(1, sizeof *t->dec);
        rc = json_is_object(dec) ? parse_dec(&L, dec, t->dec) : jfail(&L, "%s", "'decoder' is not an object");
    }
    idl pp = {0}, ps = {0};
    if (rc == 0 && post && !json_is_null(post))
        rc = json_is_object(post) ? parse_post(&L, post, &pp, &ps) : jfail(&L, "%s", "'post_processor' is not an object");
    if (rc == 0) tk_set_post(t, pp.v, pp.n, ps.v, ps.n);
    free(pp.v);
    free(ps.v);
    json_decref(root);
    if (rc == 0) rc = apply_config(&L, cfg, cls);
    json_decref(cfg);
    if (rc == 0) {
        tk_finish(t);
        set_specials(t);
        rc = check_post_ids(t);
    }
    if (rc < 0) {
        tok_free(t);
        return NULL;
    }
    return t;
}

tok_tokenizer *tok_open_json(const char *path) {
    size_t len;
    if (!ev_is_file(path)) {
        ev_error("%s: cannot open tokenizer file", path);
        return NULL;
    }
    char *data = ev_read_file(path, &len);
    if (!data) return NULL;
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else strcpy(dir, ".");
    tok_tokenizer *t = open_json(data, len, path, dir);
    free(dir);
    free(data);
    return t;
}

tok_tokenizer *tok_open_json_mem(const char *data, size_t len, const char *name) {
    return open_json(data, len, name, NULL);
}

/* ================================================================ GGUF */

enum { GG_NORMAL = 1, GG_UNKNOWN = 2, GG_CONTROL = 3, GG_USER = 4, GG_UNUSED = 5, GG_BYTE = 6 };

/* All characters of s are in the byte-level alphabet. */
static int in_alphabet(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = uni_decode(s + i, n - i, &cp);
        if (!l || uni_cp_to_byte(cp) < 0) return 0;
        i += l;
    }
    return 1;
}

/* A merge candidate of transformers' generate_merges. */
typedef struct {
    double score;
    uint32_t len_l, len_r; /* in code points */
    uint32_t seq;          /* position in the unsorted list */
    int32_t id_l, id_r, id;
} gmerge;

static int cmp_local(const void *a, const void *b) {
    const gmerge *x = a, *y = b;
    if (x->id_l != y->id_l) return x->id_l < y->id_l ? -1 : 1;
    return (x->id_r > y->id_r) - (x->id_r < y->id_r);
}

/* sorted(key=(score, len_l, len_r), reverse=True), stable */
static int cmp_global(const void *a, const void *b) {
    const gmerge *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    if (x->len_l != y->len_l) return x->len_l > y->len_l ? -1 : 1;
    if (x->len_r != y->len_r) return x->len_r > y->len_r ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* SentencePiece vocabularies come without merges: every split of a token into
 * two tokens is a merge, best score first (transformers' generate_merges). */
static int spm_merges(tok_tokenizer *t, const gguf_ctx *g, uint64_t n_tok) {
    const char *K = "tokenizer.ggml.tokens";
    double *score = xcalloc(n_tok ? n_tok : 1, sizeof *score);
    int st;
    uint64_t ns;
    int have_scores = gguf_get_arr(g, "tokenizer.ggml.scores", &st, &ns) == 0 && ns == n_tok;
    for (uint64_t i = 0; have_scores && i < n_tok; i++)
        if (gguf_arr_float(g, "tokenizer.ggml.scores", i, &score[i]) < 0) have_scores = 0;
    if (!have_scores) {
        free(score);
        return ev_error("%s: tokenizer.ggml.scores missing or not %llu numbers", t->path, (unsigned long long)n_tok);
    }
    /* dict(zip(tokens, scores)): first position, last score */
    tk_map last;
    tk_map_init(&last, n_tok);
    for (uint64_t i = 0; i < n_tok; i++) {
        const char *s = NULL;
        size_t n = 0;
        gguf_arr_str(g, K, i, &s, &n);
        tk_map_put(&last, s, n, (int32_t)i);
    }
    tk_map seen;
    tk_map_init(&seen, n_tok);
    gmerge *all = NULL, *local = NULL;
    size_t n_all = 0, cap_all = 0, cap_local = 0;
    uint32_t *bounds = NULL;
    size_t cap_bounds = 0;
    for (uint64_t i = 0; i < n_tok; i++) {
        const char *s = NULL;
        size_t n = 0;
        gguf_arr_str(g, K, i, &s, &n);
        if (tk_map_get(&seen, s, n) >= 0) continue;
        tk_map_put(&seen, s, n, 1);
        double sc = score[tk_map_get(&last, s, n)];
        int32_t id = tk_map_get(&t->vocab, s, n);
        size_t nb = 0;
        if (n + 1 > cap_bounds) bounds = xrealloc(bounds, (cap_bounds = 2 * n + 16) * sizeof *bounds);
        for (size_t k = 0; k < n;) {
            uint32_t cp;
            size_t l = uni_decode(s + k, n - k, &cp);
            k += l ? l : 1;
            bounds[nb++] = (uint32_t)k;
        }
        size_t n_local = 0;
        for (size_t j = 0; j + 1 < nb; j++) {
            int32_t il = tk_map_get(&t->vocab, s, bounds[j]), ir = tk_map_get(&t->vocab, s + bounds[j], n - bounds[j]);
            if (il < 0 || ir < 0) continue;
            if (n_local == cap_local) local = xrealloc(local, (cap_local = 2 * cap_local + 16) * sizeof *local);
            local[n_local++] = (gmerge){sc, (uint32_t)(j + 1), (uint32_t)(nb - j - 1), 0, il, ir, id};
        }
        if (n_local > 1) qsort(local, n_local, sizeof *local, cmp_local);
        for (size_t k = 0; k < n_local; k++) {
            if (n_all == cap_all) all = xrealloc(all, (cap_all = 2 * cap_all + 1024) * sizeof *all);
            local[k].seq = (uint32_t)n_all;
            all[n_all++] = local[k];
        }
    }
    if (n_all > 1) qsort(all, n_all, sizeof *all, cmp_global);
    tk_merges_init(&t->merges, n_all);
    for (size_t k = 0; k < n_all; k++) tk_merges_put(&t->merges, all[k].id_l, all[k].id_r, (uint32_t)k, all[k].id);
    free(all);
    free(local);
    free(bounds);
    free(score);
    tk_map_free(&last);
    tk_map_free(&seen);
    return 0;
}

static char *gguf_tok_string(const gguf_ctx *g, uint64_t n_tok, const char *key) {
    int64_t id;
    if (gguf_get_int(g, key, &id) < 0 || id < 0 || (uint64_t)id >= n_tok) return NULL;
    const char *s = NULL;
    size_t n = 0;
    gguf_arr_str(g, "tokenizer.ggml.tokens", (uint64_t)id, &s, &n);
    char *r = xmalloc(n + 1);
    memcpy(r, s, n);
    r[n] = '\0';
    return r;
}

static int gguf_flag(const gguf_ctx *g, const char *key, int dflt) {
    int64_t v;
    return gguf_get_int(g, key, &v) == 0 ? v != 0 : dflt;
}

static int build_gguf(tok_tokenizer *t, const gguf_ctx *g) {
    const char *K = "tokenizer.ggml.tokens";
    const char *ms;
    size_t mn;
    if (gguf_get_str(g, "tokenizer.ggml.model", &ms, &mn) < 0)
        return ev_error("%s: no tokenizer.ggml.model in the GGUF metadata", t->path);
    int byte_level;
    if (mn == 4 && !memcmp(ms, "gpt2", 4)) byte_level = 1;
    else if (mn == 5 && !memcmp(ms, "llama", 5)) byte_level = 0;
    else return ev_error("%s: unsupported tokenizer.ggml.model '%.*s' (gpt2 or llama)", t->path, (int)(mn > 40 ? 40 : mn), ms);
    int et;
    uint64_t n_tok;
    if (gguf_get_arr(g, K, &et, &n_tok) < 0 || et != GGUF_T_STRING || n_tok == 0 || n_tok >= (1u << 24))
        return ev_error("%s: tokenizer.ggml.tokens missing or not a list of strings", t->path);
    uint64_t n_types = 0;
    int have_types = gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &n_types) == 0 && n_types == n_tok;

    /* the vocabulary: byte-level tokens using characters outside the alphabet are
     * respelt from their UTF-8 bytes, as transformers' byte_level_tokenizer does */
    tk_map_free(&t->vocab);
    tk_map_init(&t->vocab, n_tok);
    {
        char *sp = NULL;
        size_t spcap = 0;
        for (uint64_t i = 0; i < n_tok; i++) {
            const char *s = NULL;
            size_t n = 0;
            gguf_arr_str(g, K, i, &s, &n);
            if (uni_valid_prefix(s, n) != n) {
                free(sp);
                return ev_error("%s: token %llu is not valid UTF-8", t->path, (unsigned long long)i);
            }
            if (byte_level && !in_alphabet(s, n)) {
                if (4 * n + 1 > spcap) sp = xrealloc(sp, spcap = 4 * n + 64);
                size_t k = 0;
                for (size_t j = 0; j < n; j++) k += uni_encode(uni_byte_to_cp((uint8_t)s[j]), sp + k);
                tk_map_put(&t->vocab, sp, k, (int32_t)i);
            } else {
                tk_map_put(&t->vocab, s, n, (int32_t)i);
            }
        }
        free(sp);
    }

    /* merges */
    uint64_t n_merges = 0;
    if (gguf_get_arr(g, "tokenizer.ggml.merges", &et, &n_merges) == 0) {
        if (et != GGUF_T_STRING) return ev_error("%s: tokenizer.ggml.merges is not a list of strings", t->path);
        tk_merges_init(&t->merges, n_merges);
        char *buf = NULL;
        size_t cap = 0;
        for (uint64_t i = 0; i < n_merges; i++) {
            const char *s = NULL;
            size_t n = 0;
            gguf_arr_str(g, "tokenizer.ggml.merges", i, &s, &n);
            const char *sp = memchr(s, ' ', n);
            if (!sp || memchr(sp + 1, ' ', n - (size_t)(sp + 1 - s))) {
                free(buf);
                return ev_error("%s: merge %llu is not two tokens separated by one space", t->path, (unsigned long long)i);
            }
            size_t al = (size_t)(sp - s), bl = n - al - 1;
            int32_t ia = tk_map_get(&t->vocab, s, al), ib = tk_map_get(&t->vocab, sp + 1, bl);
            if (al + bl + 1 > cap) buf = xrealloc(buf, cap = 2 * (al + bl) + 64);
            memcpy(buf, s, al);
            memcpy(buf + al, sp + 1, bl);
            int32_t im = tk_map_get(&t->vocab, buf, al + bl);
            if (ia < 0 || ib < 0 || im < 0) {
                const char *bad = ia < 0 ? s : ib < 0 ? sp + 1 : buf;
                size_t badn = ia < 0 ? al : ib < 0 ? bl : al + bl;
                ev_error("%s: merge %llu names unknown token '%.*s'", t->path, (unsigned long long)i,
                         (int)(badn > 80 ? 80 : badn), bad);
                free(buf);
                return -1;
            }
            tk_merges_put(&t->merges, ia, ib, (uint32_t)i, im);
        }
        free(buf);
    } else if (!byte_level) {
        if (spm_merges(t, g, n_tok) < 0) return -1;
    } else {
        return ev_error("%s: byte-level (gpt2) vocabulary without tokenizer.ggml.merges", t->path);
    }

    /* pipeline: GPT2Tokenizer (with the Split the `pre` name asks for) or LlamaTokenizer */
    if (byte_level) {
        const char *pre = NULL;
        size_t pn = 0;
        const char *regex = NULL;
        if (gguf_get_str(g, "tokenizer.ggml.pre", &pre, &pn) == 0)
            for (size_t i = 0; i < sizeof PRE_TABLE / sizeof PRE_TABLE[0]; i++)
                if (strlen(PRE_TABLE[i].name) == pn && !memcmp(PRE_TABLE[i].name, pre, pn)) regex = PRE_TABLE[i].regex;
        if (set_bytelevel_pipeline(t, regex, 0, 0) < 0) return -1;
    } else {
        if (set_llama_pipeline(t, PREPEND_FIRST) < 0) return -1;
    }

    /* the defaults of the class transformers builds (GPT2Tokenizer: <|endoftext|>;
     * LlamaTokenizer: <s> </s> <unk>) become special tokens, new ids if the
     * vocabulary lacks them */
    static const char *const gpt2_defaults[] = {"<|endoftext|>"};
    static const char *const llama_defaults[] = {"<s>", "</s>", "<unk>"};
    const char *const *defs = byte_level ? gpt2_defaults : llama_defaults;
    for (int i = 0; i < (byte_level ? 1 : 3); i++) {
        if (tk_added_index(t, defs[i], strlen(defs[i])) < 0) tk_add_token(t, defs[i], strlen(defs[i]), -1, 1, 0, 0, 0, 0);
    }
    /* added tokens: control ones special, user-defined ones plain */
    for (int pass = 0; pass < 2 && have_types; pass++) {
        for (uint64_t i = 0; i < n_tok; i++) {
            int64_t ty;
            if (gguf_arr_int(g, "tokenizer.ggml.token_type", i, &ty) < 0) continue;
            const char *s = NULL;
            size_t n = 0;
            gguf_arr_str(g, K, i, &s, &n);
            if (pass == 0 && ty == GG_CONTROL && (!byte_level || in_alphabet(s, n)))
                tk_add_token(t, s, n, -1, 1, 0, 0, 0, 0);
            if (pass == 1 && ty == GG_USER && tk_token_to_id(t, s, n) >= 0) tk_add_token(t, s, n, -1, 0, 0, 0, 0, 0);
        }
    }
    /* the special tokens transformers' config names, added when missing */
    t->bos = gguf_tok_string(g, n_tok, "tokenizer.ggml.bos_token_id");
    t->eos = gguf_tok_string(g, n_tok, "tokenizer.ggml.eos_token_id");
    char *unk = gguf_tok_string(g, n_tok, "tokenizer.ggml.unknown_token_id");
    char *pad = gguf_tok_string(g, n_tok, "tokenizer.ggml.padding_token_id");
    const char *named[4] = {t->bos, t->eos, unk, pad};
    for (int i = 0; i < 4; i++) {
        if (!named[i] || !named[i][0]) continue;
        if (tk_added_index(t, named[i], strlen(named[i])) < 0)
            tk_add_token(t, named[i], strlen(named[i]), -1, 1, 0, 0, 0, 0);
    }
    free(unk);
    free(pad);
    tk_finish(t);
    set_specials(t);
    /* BOS/EOS: add_bos_token (true by default for SentencePiece vocabularies) */
    int add_bos = gguf_flag(g, "tokenizer.ggml.add_bos_token", !byte_level);
    int add_eos = gguf_flag(g, "tokenizer.ggml.add_eos_token", 0);
    int32_t b = t->bos_id, e = t->eos_id;
    tk_set_post(t, &b, add_bos && b >= 0, &e, add_eos && e >= 0);
    t->chat_template = gguf_get_strdup(g, "tokenizer.chat_template");
    return 0;
}

tok_tokenizer *tok_open_gguf(const gguf_ctx *g, const char *path) {
    tok_tokenizer *t = tk_new(path);
    if (build_gguf(t, g) < 0) {
        tok_free(t);
        return NULL;
    }
    return t;
}

/* ================================================================ openers */

static int is_gguf_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char m[4] = {0};
    size_t r = fread(m, 1, 4, f);
    fclose(f);
    return r == 4 && !memcmp(m, "GGUF", 4);
}

tok_tokenizer *tok_open_path(const char *path) {
    if (ev_is_dir(path)) {
        char *j = ev_path_join(path, "tokenizer.json");
        tok_tokenizer *t = NULL;
        if (!ev_is_file(j)) ev_error("%s: no tokenizer.json in this directory", path);
        else t = tok_open_json(j);
        free(j);
        return t;
    }
    if (!ev_is_file(path)) {
        ev_error("%s: no such file or directory", path);
        return NULL;
    }
    if (is_gguf_file(path)) {
        gguf_ctx *g = gguf_open(path);
        if (!g) return NULL;
        tok_tokenizer *t = tok_open_gguf(g, path);
        gguf_close(g);
        return t;
    }
    return tok_open_json(path);
}

tok_tokenizer *tok_open_model(const struct model *m) {
    if (m->gguf) return tok_open_gguf(m->gguf, m->path);
    if (m->dir) return tok_open_path(m->dir);
    ev_error("%s: model has neither GGUF metadata nor a directory to find a tokenizer in", m->path);
    return NULL;
}
