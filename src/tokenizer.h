/* tokenizer.h - text <-> token ids, token for token what Hugging Face
 * `tokenizers` / transformers produce for the same model.
 *
 * Sources:
 *   - tokenizer.json (model BPE with byte-level or SentencePiece-style vocab,
 *     added tokens with their lstrip/rstrip/single_word/normalized flags,
 *     normalizer, pre_tokenizer, post_processor, decoder), plus
 *     tokenizer_config.json beside it for the bos/eos strings, extra special
 *     tokens, added_tokens_decoder and the chat template, as transformers (v5)
 *     reads them: add_bos_token/add_eos_token are ignored when a tokenizer.json
 *     exists (the file's post_processor decides), and a tokenizer_class of
 *     GPT2Tokenizer, Qwen2Tokenizer or LlamaTokenizer (subject to config.json's
 *     model_type, as AutoTokenizer decides) rebuilds the pipeline the way that
 *     class does, keeping only the file's vocabulary, merges and post-processor;
 *   - GGUF metadata (tokenizer.ggml.model gpt2 or llama), built the way
 *     transformers' GGUF loader builds it: byte-level BPE with the split regex
 *     llama.cpp's `tokenizer.ggml.pre` names, or SentencePiece BPE with merges
 *     recovered from the scores, Metaspace, byte fallback; control tokens
 *     special, user-defined tokens added; add_bos_token/add_eos_token obeyed.
 *
 * Regexes are Oniguruma syntax in the files; they run through PCRE2 (JIT,
 * PCRE2_UTF|PCRE2_UCP) with \s and \h rewritten to Oniguruma's meaning.
 * Characters assigned after PCRE2's Unicode version (14 for 10.42) may be
 * classed differently than by the Rust library.
 *
 * Threads: a tokenizer may be shared; tok_encode serialises on an internal lock
 * (it owns a word cache), the rest only reads. */
#ifndef EV_TOKENIZER_H
#define EV_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct tok_tokenizer tok_tokenizer;
typedef struct gguf_ctx gguf_ctx;
struct model;

/* Each opener returns NULL after one error line naming the file (malformed JSON,
 * an unsupported component type named, merges naming unknown tokens...). */
tok_tokenizer *tok_open_json(const char *tokenizer_json_path);
/* tokenizer.json text already in memory, with no tokenizer_config.json (tests,
 * fuzzing); name stands for the file in error messages. */
tok_tokenizer *tok_open_json_mem(const char *data, size_t len, const char *name);
/* g stays the caller's: everything needed is copied. path names g in errors. */
tok_tokenizer *tok_open_gguf(const gguf_ctx *g, const char *path);
/* A .gguf file, an HF directory (DIR/tokenizer.json) or a tokenizer.json. */
tok_tokenizer *tok_open_path(const char *path);
/* The tokenizer of an opened model: its GGUF metadata, or its directory. */
tok_tokenizer *tok_open_model(const struct model *m);
void tok_free(tok_tokenizer *t); /* NULL-safe */

/* Encodes len bytes of UTF-8 text. add_special: wrap in the post-processor's
 * BOS/EOS (transformers' add_special_tokens). Special tokens written in the text
 * are always recognised. On success *ids is a heap array owned by the caller
 * (possibly of length 0) and 0 is returned; invalid UTF-8 gives one error line
 * naming the byte offset and -1. */
int tok_encode(tok_tokenizer *t, const char *text, size_t len, int add_special, int32_t **ids, size_t *n);

/* Decodes ids to text exactly as transformers' decode(ids) (special tokens
 * kept, no clean-up): a heap NUL-terminated string owned by the caller, its
 * length in *len (may be NULL). An id outside [0, tok_n_vocab) gives one error
 * line and NULL. */
char *tok_decode(const tok_tokenizer *t, const int32_t *ids, size_t n, size_t *len);

int32_t tok_n_vocab(const tok_tokenizer *t);  /* 1 + the largest id */
/* The token's own string (added tokens' content; byte-level tokens spelt in
 * the byte alphabet), not NUL-terminated; NULL for an unused id. */
const char *tok_token_str(const tok_tokenizer *t, int32_t id, size_t *len);
int32_t tok_token_id(const tok_tokenizer *t, const char *s, size_t len); /* -1: none */
int tok_is_special(const tok_tokenizer *t, int32_t id);
int32_t tok_bos_id(const tok_tokenizer *t);   /* -1: none */
int32_t tok_eos_id(const tok_tokenizer *t);
const char *tok_bos_str(const tok_tokenizer *t); /* NULL: none */
const char *tok_eos_str(const tok_tokenizer *t);
/* The chat template source found with the tokenizer (GGUF tokenizer.chat_template,
 * chat_template.jinja, tokenizer_config.json "chat_template"), or NULL. */
const char *tok_chat_template(const tok_tokenizer *t);
const char *tok_path(const tok_tokenizer *t);

/* Streaming decode for generation (tokenizers' DecodeStream): each pushed id
 * returns the text it completes. Text is held back while the decoded tail is
 * incomplete UTF-8 (ends in U+FFFD), so multi-byte characters split over byte
 * tokens come out whole. */
typedef struct tok_stream tok_stream;
tok_stream *tok_stream_new(const tok_tokenizer *t);
/* Returns 1 with the new text in *text and *len (valid until the next call), 0 when
 * nothing is complete yet, -1 after an error line (id out of range). */
int tok_stream_push(tok_stream *s, int32_t id, const char **text, size_t *len);
void tok_stream_free(tok_stream *s); /* NULL-safe */

#endif
