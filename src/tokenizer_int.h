/* tokenizer_int.h - the tokenizer's internal representation, shared by the
 * engine (tokenizer.c: encode, decode, streaming) and the loaders
 * (tokenizer_load.c: tokenizer.json + tokenizer_config.json, GGUF metadata).
 * Nothing outside those two files includes it.
 *
 * The pipeline mirrors Hugging Face `tokenizers` (TokenizerImpl): added tokens
 * are cut out of the raw text, the rest is normalised, added tokens with
 * normalized=true are cut out of the normalised text, the pieces are
 * pre-tokenised into words, each word goes through BPE, and the post-processor
 * adds BOS/EOS. Each stage is a small tagged tree (a Sequence holds kids). */
#ifndef EV_TOKENIZER_INT_H
#define EV_TOKENIZER_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"

/* ------------------------------------------------------------------ containers */

/* String -> int32 hash map owning copies of its keys (open addressing). */
typedef struct {
    struct tk_slot {
        uint64_t hash;
        uint32_t off, len; /* key in blob */
        int32_t val;
        int32_t used;
    } *slots;
    size_t cap, n;  /* cap: power of two */
    char *blob;
    size_t blob_len, blob_cap;
} tk_map;

void tk_map_init(tk_map *m, size_t expect);
void tk_map_free(tk_map *m);
/* -1 when absent. */
int32_t tk_map_get(const tk_map *m, const char *s, size_t n);
/* Inserts or overwrites; returns the offset of the key copy in m->blob. */
uint32_t tk_map_put(tk_map *m, const char *s, size_t n, int32_t val);

/* (left id, right id) -> (rank, merged id). */
typedef struct {
    struct tk_merge {
        uint64_t key;
        uint32_t rank;
        int32_t id; /* -1: empty slot */
    } *slots;
    size_t cap, n;
} tk_merges;

void tk_merges_init(tk_merges *m, size_t expect);
void tk_merges_put(tk_merges *m, int32_t a, int32_t b, uint32_t rank, int32_t id);
const struct tk_merge *tk_merges_get(const tk_merges *m, int32_t a, int32_t b);

/* ------------------------------------------------------------------ components */

typedef struct {
    pcre2_code *code;
    pcre2_match_data *md;
} tk_regex;

/* Compiles an Oniguruma-syntax pattern (as tokenizer.json writes them) or, with
 * literal set, a plain string. Returns 0, or -1 with a message in err. */
int tk_regex_compile(tk_regex *re, const char *pat, size_t n, int literal, char *err, size_t errlen);
void tk_regex_free(tk_regex *re);

typedef enum { TN_NFC, TN_NFD, TN_NFKC, TN_NFKD, TN_SEQ, TN_REPLACE, TN_PREPEND, TN_STRIP, TN_BYTELEVEL } tn_kind;
typedef struct tk_norm {
    tn_kind kind;
    struct tk_norm *kids; /* Sequence */
    int n_kids;
    tk_regex re;          /* Replace: the pattern */
    char *str;            /* Replace: content; Prepend: the text */
    size_t str_len;
    int left, right;      /* Strip */
} tk_norm;

typedef enum { SB_REMOVED, SB_ISOLATED, SB_MERGED_PREV, SB_MERGED_NEXT, SB_CONTIGUOUS } tk_behavior;
typedef enum { TP_SPLIT, TP_BYTELEVEL, TP_SEQ, TP_DIGITS, TP_METASPACE } tp_kind;
enum { PREPEND_NEVER = 0, PREPEND_FIRST = 1, PREPEND_ALWAYS = 2 };
typedef struct tk_pretok {
    tp_kind kind;
    struct tk_pretok *kids;
    int n_kids;
    tk_regex re;          /* Split: pattern; ByteLevel: GPT-2's regex when use_regex */
    tk_behavior behavior; /* Split */
    int invert;           /* Split */
    int add_prefix_space; /* ByteLevel */
    int use_regex;        /* ByteLevel */
    int individual;       /* Digits */
    uint32_t repl_cp;     /* Metaspace replacement character */
    char repl[4];
    size_t repl_len;
    int prepend;          /* Metaspace: PREPEND_* */
    int split;            /* Metaspace */
} tk_pretok;

typedef enum { TD_BYTELEVEL, TD_METASPACE, TD_REPLACE, TD_BYTEFALLBACK, TD_FUSE, TD_STRIP, TD_SEQ } td_kind;
typedef struct tk_dec {
    td_kind kind;
    struct tk_dec *kids;
    int n_kids;
    tk_regex re;          /* Replace */
    char *str;            /* Replace content */
    size_t str_len;
    uint32_t cp;          /* Strip content / Metaspace replacement */
    int start, stop;      /* Strip */
    int prepend;          /* Metaspace */
} tk_dec;

void tk_norm_free(tk_norm *n);     /* frees the contents, not n itself */
void tk_pretok_free(tk_pretok *p);
void tk_dec_free(tk_dec *d);

/* A token added on top of the model vocabulary (AddedVocabulary). */
typedef struct {
    int32_t id;
    char *content;
    size_t len;
    char *form;       /* what is matched and decoded: the normalised content for */
    size_t form_len;  /* normalized tokens when a normaliser exists, else content */
    unsigned single_word : 1, lstrip : 1, rstrip : 1, normalized : 1, special : 1;
} tk_added;

/* Byte trie over the added tokens' forms, for leftmost-longest matching. */
typedef struct {
    struct tk_node {
        int32_t child, sibling; /* first child, next sibling (-1: none) */
        int32_t added;          /* index into tok->added of the token ending here, -1 */
        uint8_t byte;
    } *nodes;
    size_t n, cap;
    uint8_t first[256];         /* bytes that start some pattern */
} tk_trie;

/* ------------------------------------------------------------------ the tokenizer */

struct tok_tokenizer {
    char *path;               /* the file named in error messages */

    /* BPE model */
    tk_map vocab;             /* token -> id */
    struct tk_span {
        uint32_t off, len;    /* into vocab.blob; len == UINT32_MAX: no token */
    } *vocab_r;               /* [n_ids] id -> model token */
    int32_t n_ids;            /* 1 + the largest id, model or added */
    tk_merges merges;
    int32_t unk_id;           /* -1: none */
    char *cont_prefix, *eow_suffix; /* continuing_subword_prefix / end_of_word_suffix, or NULL */
    size_t cont_prefix_len, eow_suffix_len;
    int fuse_unk, byte_fallback, ignore_merges;
    int32_t byte_ids[256];    /* the id of <0xNN>, -1 when absent */

    /* added vocabulary */
    tk_added *added;
    int n_added, cap_added;
    tk_map added_map;         /* content -> index into added */
    int32_t max_added_id;     /* -1: none yet */
    int32_t *added_of_id;     /* [n_ids] index into added, or -1 */
    tk_trie trie_raw, trie_norm; /* normalized=false / normalized=true tokens */

    /* pipeline */
    tk_norm *norm;            /* NULL: none */
    tk_pretok *pre;
    tk_dec *dec;
    int32_t *post_prefix, *post_suffix; /* what add_special wraps the ids in */
    size_t n_post_prefix, n_post_suffix;

    /* what transformers reports */
    int32_t bos_id, eos_id;
    char *bos, *eos;
    char *chat_template;

    /* encode state: a cache of words -> ids, and PCRE2's JIT stack */
    pthread_mutex_t lock;
    tk_map cache;
    int32_t *cache_ids;
    size_t cache_ids_len, cache_ids_cap;
    pcre2_jit_stack *jit_stack;
    pcre2_match_context *mctx;
};

/* Allocates an empty tokenizer (no model, no stages). */
tok_tokenizer *tk_new(const char *path);
/* Registers an added token (tokenizers' AddedVocabulary::add_tokens): the id is
 * the existing added token's, else the model's, else want_id (>= 0) or the next
 * free one. Computes its form with the normaliser set at the time. Returns the
 * id, or -1 after an error line. */
int32_t tk_add_token(tok_tokenizer *t, const char *s, size_t n, int32_t want_id, int special,
                     int normalized, int single_word, int lstrip, int rstrip);
/* Builds the two tries and the id index after the added tokens are in. */
void tk_finish(tok_tokenizer *t);
/* Index into t->added of the added token with this content, or -1. */
int tk_added_index(const tok_tokenizer *t, const char *s, size_t n);
/* Drops every added token (a class rebuild starts from the bare vocabulary). */
void tk_clear_added(tok_tokenizer *t);
/* Id of a string as token_to_id does it: added tokens first, then the model. */
int32_t tk_token_to_id(const tok_tokenizer *t, const char *s, size_t n);
/* Ids the post-processor wraps a single sequence in: prefix, then suffix. */
void tk_set_post(tok_tokenizer *t, const int32_t *pre, size_t npre, const int32_t *suf, size_t nsuf);
/* Runs the normaliser over s into a heap string. -1 on failure. */
int tk_normalize_str(const tok_tokenizer *t, const char *s, size_t n, char **out, size_t *out_len);

#endif
