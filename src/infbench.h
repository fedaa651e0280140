/* infbench.h - InfiniteBench (OpenBMB/InfiniteBench, commit 88b3daa) inputs:
 * reading the official task files, building each prompt as the official
 * harness builds it, cutting over-long prompts as it cuts them, and making the
 * three synthetic retrieval tasks locally.
 *
 * ---------------------------------------------------------------- the files
 * One JSON object per line (the Hugging Face dataset
 * xinrongzhang2022/InfiniteBench, file TASK.jsonl):
 *   id       int          the record's number
 *   context  str          the long document (book, script, code, haystack...)
 *   input    str          the question ("" for longbook_sum_eng, math_calc)
 *   answer   [str|int]    references (metric.h scores against them)
 *   options  [str]        4 choices for longbook_choice_eng and code_debug, else []
 * Blank lines are skipped; other keys are ignored. Only the fields the task's
 * prompt reads are required (see infb_open).
 *
 * -------------------------------------------------------------- the prompt
 * src/eval_utils.py create_prompt(eg, task, model) formats the template of the
 * task from a per-model set in src/prompt.py with Python's str.format:
 *   passkey, number_string, kv_retrieval   context, input
 *   longbook_sum_eng, math_calc,
 *   longdialogue_qa_eng                    context
 *   longbook_qa_eng, longbook_qa_chn       question = input, context
 *   longbook_choice_eng                    question = input, context, OPTION_A..D
 *   code_debug                             context, OPTION_A..D = options[0..3]
 *   code_run                               func_call = the first match of
 *                                          func_[0-9]+\(-?[0-9]+\) in input,
 *                                          func = func_call up to "(", context
 *   math_find                              prefix = "What is X in the following
 *                                          list?" where X is the first match of
 *                                          "The .+ of" in input, lowered, less its
 *                                          last 3 characters; context, input
 * The gpt4 set returns math_calc's context unformatted. A template naming a
 * field the call does not pass raises KeyError in Python (kimi: longbook_*,
 * code_debug; claude2: longbook_qa_eng): infb_prompt fails there too.
 *
 * Template sets (prompt.py) and the official models that use them
 * (eval_utils.py MODEL_TO_PROMPT_TEMPLATE):
 *   INFB_TPL_OPEN    yarn_mistral_templates: yarn-mistral, yi-6b-200k,
 *                    yi-34b-200k, chatglm3 - every open model the harness runs
 *   INFB_TPL_GPT4    gpt4_templates
 *   INFB_TPL_CLAUDE2 claude2_templates
 *   INFB_TPL_KIMI    kimi_templates
 * Our families (llama, qwen2, mistral; base or instruct) are open models run
 * from their weights, so all of them take INFB_TPL_OPEN (infb_template_default).
 *
 * ---------------------------------------------------- what the model is fed
 * The open-model harnesses (eval_yarn_mistral.py, eval_yi_200k.py,
 * eval_chatglm.py) apply no chat template: the prompt text goes to the model
 * raw. Before that, truncate_by_tokens(prompt, tok, TRUNCATE_LEN):
 *   ids = tok.encode(prompt)                  (with the tokenizer's BOS/EOS)
 *   if len(ids) > max: ids = ids[:max//2] + ids[-(max//2):]
 *   text = tok.decode(ids, skip_special_tokens=True)
 * (always decoded, cut or not), then tok(text) again gives the model's ids,
 * BOS included. TRUNCATE_LEN is 128*1024 for yarn-mistral and chatglm3,
 * 200000 for yi. infb_truncate and infb_prompt_ids do exactly this with our
 * tokenizer; max is the caller's (the context left after the answer budget).
 * For an odd max the kept length is max-1, as in those files; eval_utils.py's
 * own truncate_input (GPT-4 only) keeps input[:max//2] + input[-max//2:] with
 * Python's floor of -max/2, i.e. max tokens: not used here.
 * Decoding follows tok_decode: no clean_up_tokenization_spaces (transformers
 * 5 ignores it for BPE tokenizers; 4.x applied it where the config asked, e.g.
 * Llama 3's tokenizer_config.json).
 * infb_chat_prompt is an option outside the official protocol: the cut
 * prompt as one user message through the model's chat template.
 *
 * ------------------------------------------------ the synthetic tasks
 * data/construct_synthetic_dataset.py:
 *   passkey        context = NOISE*j + "The pass key is K. Remember it. K is the
 *                  pass key.\n" + NOISE*(n-j), K five digits each randint(0,9),
 *                  input "What is the pass key?", answer K
 *   number_string  the same with "The sequence of digits is K. Remember it. K is
 *                  the sequence of digits.\n" and K: five digits, then for k in
 *                  0..4 the digit at randint(0, 4+k) is doubled (10 digits);
 *                  input "What is the sequence of digits?"
 *   kv_retrieval   context = "JSON data:\n{" + '"k": "v", '... (last ", " cut) +
 *                  "}", keys and values uuid4 strings (lost-in-the-middle's
 *                  make_kv_retrieval_data.py), input = "\nKey: \"k\"\nThe value
 *                  associated with the specified key is: ", answer v
 *   NOISE = "The grass is green. The sky is blue. The sun is yellow. Here we go.
 *           There and back again.\n"
 * The official files hold n = 5220 noise lines (passkey, number_string) or
 * 2500 pairs (kv) per sample; depths step over j = 0..n (59 depths) and the key
 * asked is pair int(i*2500/500) of sample i. Here n is the most that fits
 * length L: sample i of N puts the needle at j = floor(i*n/(N-1)) (N = 1:
 * n/2), and asks pair floor(i*n/N). L counts the tokens of the prompt (template
 * set `tpl`) encoded with the tokenizer's BOS/EOS, i.e. what the model gets
 * when max >= L cuts nothing, or with no tokenizer the characters (code
 * points) of the prompt. Every sample has n such that its prompt fits L and n+1 would
 * not (passkey and number_string: n is found once, then lowered for a sample
 * whose key or depth tokenizes longer). Records are written as
 * {"id", "context", "input", "answer": str, "options": []}: the answer a
 * string as construct_synthetic_dataset.py writes it and the files the
 * official results were scored against held it (compute_scores.py's
 * kv_retrieval scorer tests `label in words`, never true for a list; the
 * Hugging Face copy lists it). Randomness is
 * rng.h's, seeded from (seed, task name): the same distributions as Python's
 * random/uuid, not the same draws. */
#ifndef EV_INFBENCH_H
#define EV_INFBENCH_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer.h"

struct chat_template;

typedef enum {
    INFB_PASSKEY,
    INFB_NUMBER_STRING,
    INFB_KV_RETRIEVAL,
    INFB_LONGBOOK_SUM_ENG,
    INFB_LONGBOOK_CHOICE_ENG,
    INFB_LONGBOOK_QA_ENG,
    INFB_LONGBOOK_QA_CHN,
    INFB_LONGDIALOGUE_QA_ENG,
    INFB_MATH_FIND,
    INFB_MATH_CALC,
    INFB_CODE_RUN,
    INFB_CODE_DEBUG,
    INFB_N_TASKS
} infb_task;

typedef enum { INFB_TPL_OPEN, INFB_TPL_GPT4, INFB_TPL_CLAUDE2, INFB_TPL_KIMI, INFB_N_TPL } infb_tpl;

/* -1 for a name that is not one of the 12 tasks. */
int infb_task_from_name(const char *name);
const char *infb_task_name(infb_task t);
/* The names, comma-separated, for messages. */
const char *infb_task_names(void);
/* DATA_NAME_TO_MAX_NEW_TOKENS (passkey 6 ... math_calc 30000). */
int infb_max_new_tokens(infb_task t);
/* 1 for passkey, number_string, kv_retrieval (infb_generate makes them). */
int infb_task_is_synthetic(infb_task t);

/* Accepts the set names "open" (= "yarn-mistral"), "gpt4", "claude2", "kimi"
 * and the official model names yi-6b-200k, yi-34b-200k, chatglm3. -1 if none. */
int infb_template_from_name(const char *name);
const char *infb_template_name(infb_tpl t);
/* INFB_TPL_OPEN: the set for the families evalctl runs (see above). */
infb_tpl infb_template_default(void);
/* The raw template text (Python format syntax) of a task in a set. */
const char *infb_template_text(infb_tpl tpl, infb_task task);

/* ------------------------------------------------------------- data files */

typedef struct infb_data infb_data;

/* Reads a task file (.gz inflated). Every non-blank line must be a JSON object
 * holding the fields the task's prompt reads, with their types: context and
 * input strings (input only where read: not longbook_sum_eng, math_calc,
 * longdialogue_qa_eng), options a list of at least 4 strings
 * (longbook_choice_eng, code_debug); code_run's input must contain a call
 * func_N(X); math_find's a "The ... of". NULL after one error line
 * "FILE:LINE: missing field \"context\"" (or a type, or invalid JSON). */
infb_data *infb_open(const char *path, infb_task task);
void infb_close(infb_data *d); /* NULL-safe */
size_t infb_count(const infb_data *d);
infb_task infb_data_task(const infb_data *d);
/* Record i parsed (a new reference; json_decref it). */
json_t *infb_record(const infb_data *d, size_t i);
/* "FILE:LINE" of record i, into buf (size n). */
const char *infb_where(const infb_data *d, size_t i, char *buf, size_t n);
/* create_prompt for record i: a heap string (owned by the caller), or NULL
 * after one error line naming FILE:LINE. */
char *infb_prompt(const infb_data *d, size_t i, infb_tpl tpl, size_t *len);

/* create_prompt for one record object; where names it in error lines
 * (NULL: "infinitebench"). Returns a heap string or NULL after one error line
 * (missing or ill-typed field, no func call / "The ... of" in input, a
 * template that raises KeyError in Python). */
char *infb_prompt_record(const json_t *rec, infb_task task, infb_tpl tpl, const char *where, size_t *len);

/* --------------------------------------------------------------- truncation */

/* The kept span of the open harnesses' truncate_input: for n <= max all of
 * [0, n); else [0, max/2) and [n - max/2, n). *head and *tail are the lengths
 * of the two parts (head + tail = n when nothing is cut). max must be >= 2. */
void infb_keep(size_t n, size_t max, size_t *head, size_t *tail);

/* truncate_by_tokens(text, tok, max): encode with BOS/EOS, keep infb_keep's
 * ids, decode without special tokens. Returns a heap string (its length in
 * *out_len, may be NULL; the token count before cutting in *n_before, may be
 * NULL), or NULL after one error line (max < 2, invalid UTF-8). */
char *infb_truncate(tok_tokenizer *tok, const char *text, size_t len, size_t max, size_t *out_len,
                    size_t *n_before);

/* What the open harness feeds the model: infb_truncate, then the text encoded
 * again with BOS/EOS. *ids is a heap array owned by the caller. The result may
 * exceed max by the few tokens re-encoding the joint adds, as it does in the
 * official harness. Returns 0 or -1 after one error line. */
int infb_prompt_ids(tok_tokenizer *tok, const char *text, size_t len, size_t max, int32_t **ids, size_t *n);

/* Outside the official protocol: text (already cut) as the one user message of
 * the chat template, with the generation prompt; encode the result without
 * add_special (the template writes its own BOS), as apply_chat_template does.
 * NULL after one error line. */
char *infb_chat_prompt(const struct chat_template *ct, const tok_tokenizer *tok, const char *text);

/* ------------------------------------------------------ synthetic tasks */

/* The official constants (construct_synthetic_dataset.py). */
extern const char infb_noise[];          /* one noise line, '\n'-terminated */
extern const char infb_passkey_question[];
extern const char infb_number_question[];

/* The pieces infb_generate assembles, exposed so that tests can rebuild the
 * official records. Each returns a heap string (length in *len, may be NULL).
 * passkey/number_string context: NOISE*depth + needle(key) + NOISE*(n-depth). */
char *infb_haystack(infb_task task, const char *key, size_t n, size_t depth, size_t *len);
/* kv_retrieval context over pairs[0..n) (keys[i], values[i]), and the input
 * asking for key. n >= 1. */
char *infb_kv_context(const char *const *keys, const char *const *values, size_t n, size_t *len);
char *infb_kv_input(const char *key);

typedef struct {
    infb_task task;       /* passkey, number_string or kv_retrieval */
    long length;          /* L: tokens (tok != NULL) or characters */
    size_t samples;       /* N >= 1 */
    uint64_t seed;
    tok_tokenizer *tok;   /* NULL: L counts characters */
    infb_tpl tpl;         /* the prompt L is measured on */
} infb_gen_opts;

/* Statistics of one generated file, for the CLI's report. */
typedef struct {
    size_t n_min, n_max;       /* noise lines / pairs per sample */
    size_t len_min, len_max;   /* prompt length (tokens or characters) */
} infb_gen_stats;

/* Makes the task's N records as JSON objects (a new array), or NULL after one
 * error line (L too short for the template with one pair / no noise). */
json_t *infb_generate(const infb_gen_opts *o, infb_gen_stats *st);

/* Writes records one a line as InfiniteBench's dump_jsonl does (", " and ": "
 * separators, UTF-8 kept) to path through a temporary file in the same
 * directory renamed over path when complete. 0, or -1 after one error line. */
int infb_write_jsonl(const char *path, const json_t *records);

#endif
