/* ruler.h - RULER's synthetic tasks (NVIDIA/RULER, scripts/synthetic.yaml):
 * generating them the way RULER's scripts/data/prepare.py and the task
 * scripts under scripts/data/synthetic/ do, and reading the JSONL files that
 * those scripts (or we) write.
 *
 * ---------------------------------------------------------------- the files
 * One JSON object per line, keys in this order, written as Python's
 * json.dump(ensure_ascii=True) writes them (", " and ": " separators, non-ASCII
 * as \uXXXX):
 *   index                  int    the sample's number, 0..N-1 (see "differs")
 *   input                  str    the prompt up to, not including, the answer
 *                                 prefix (below)
 *   outputs                [str]  the references RULER's metric looks for
 *   length                 int    tokens of input + answer_prefix, counted as
 *                                 RULER counts them (the tokenizer's tokenize():
 *                                 no BOS/EOS added; special tokens written in the
 *                                 text count once), plus tokens_to_generate
 *   length_w_model_temp    int    = length (RULER adds model_template_token,
 *                                 0 unless NeMo-Skills' --prepare_for_ns)
 *   answer_prefix          str    the text the model's answer continues from
 *   token_position_answer  int    niah_* only: tokens of input before the first
 *                                 occurrence of outputs[0]
 * A model is given input + answer_prefix (RULER's call_api.py does exactly
 * that) and generates at most tokens_to_generate tokens.
 *
 * ------------------------------------------------------- what `input` holds
 * RULER formats the task template (constants.py) into its model template
 * (template.py, e.g. meta-llama3) and appends the answer prefix:
 *   model_template.format(task_template=T) + P
 * then cuts the text at the answer prefix. We use the model's own chat
 * template instead of RULER's hand-written ones: input is
 *   chat_render([{"role": "user", "content": T formatted}], add_generation_prompt)
 * and answer_prefix is P formatted, so input + answer_prefix has the shape of
 * RULER's prompt for that model ("<|im_start|>assistant\n The special magic
 * ..."). With --chat-template none the prompt is RULER's `base` template. Two
 * tasks put more before the question, as RULER does:
 *   vt   the in-context example (a small chain problem with its answer) opens
 *        the user message: ICL + "\n" + T (RULER inserts it at the start of the
 *        task template, inside the model template);
 *   cwe  the few-shot example is a whole templated prompt with its answer
 *        prefix and answer, then "\n", then the real prompt (RULER formats the
 *        full model template twice).
 *
 * ----------------------------------------------------------- the recipe
 * Per task (tokens_to_generate in brackets):
 *   niah_* [128]  needles "One of the special magic {numbers|words|uuids} for
 *                 {key} is: {value}." in a haystack: lines of the noise paragraph
 *                 "The grass is green. ... There and back again." or of other
 *                 needles (needles at random line positions), or essay text
 *                 (needles between sentences, at depths drawn without
 *                 replacement from round(linspace(0, 100, 40))% of the
 *                 sentences); keys adjective-noun words or UUIDs, values
 *                 7-digit numbers or UUIDs; several needles go in one
 *                 seed-fixed order; one query and value reads "A ... is",
 *                 several "Some ... are".
 *   vt [30]       a chain VAR A = 12345, VAR B = VAR A, ... (5 variables) among
 *                 noise lines, after an in-context example found to fit 500
 *                 tokens with 3-letter names whose names and value are redrawn
 *                 for every sample.
 *   cwe [120]     a numbered list of words, 10 common ones 30 times (6 below
 *                 4096 tokens) and the others 3 times (1), in a seed-fixed
 *                 order; one few-shot example of 40 (20) words.
 *   fwe [50]      random 6-letter words with Zipf(2) counts (the most frequent
 *                 replaced by "..."), vocabulary (L - 50) / 50 words; outputs
 *                 ranks 2-4.
 *   qa_1, qa_2 [32]  the question's own document(s) among distractors
 *                 ("Document i:\n..."), SQuAD v2.0 (its article's other
 *                 paragraphs first) and HotpotQA (distractor setting); sample i
 *                 asks question i.
 * The haystack size is found as RULER finds it: a probe prompt gives tokens per
 * unit, a binary search over [incremental, 3x the estimate] (cwe: 2x) keeps the
 * largest size whose prompt + tokens_to_generate fits L (vt also counts its
 * example; fwe: RULER's linear search from (L - 50) / 6 words in steps of
 * (L - 50) / 32), then each sample is drawn at that size, shrinking by
 * `incremental` units while it does not fit (so a sample can fall short of L by
 * up to one increment, as in RULER's files). Units and increments: essay words
 * (500), noise or needle lines (25; 5 below 4096), vt noise lines (10; 5 below
 * 4096), cwe words (10), qa documents (10).
 *
 * -------------------------------------------- where we differ, on purpose
 * - Randomness comes from rng.h seeded per task from --seed, not Python's
 *   random/numpy: the samples follow RULER's distributions but are not NVIDIA's
 *   files byte for byte. The "fixed" shuffles RULER does with
 *   random.Random(seed) (needle order, cwe/fwe word order, qa document order)
 *   are fixed here too, by a generator seeded with the seed alone.
 * - index is the sample's number. RULER's niah.py overwrites its loop variable
 *   and writes the character offset of the answer instead.
 * - The chat template is the model's own (see above), and niah's singular
 *   wording ("Some" -> "A", "are" -> "is", ...) is applied to the task template
 *   and answer prefix only; RULER applies it to its model template too.
 * - Sentences (essay haystack) are split by a rule, not NLTK's Punkt model: a
 *   sentence ends at . ! or ? (and closing quotes or brackets) followed by a
 *   space and a character that is not a lowercase letter.
 * - A sample's keys are distinct and distractor needles never reuse one; vt's
 *   variable names are distinct (RULER allows the rare repeat, which makes the
 *   answer ambiguous); a sample that cannot be made to fit after 100 draws at
 *   the smallest size is an error (RULER loops forever).
 * - An adjective-noun key is a uniform adjective and a uniform noun of the
 *   deduplicated lists (RULER: a uniform pick from the set of joined pairs; the
 *   same but for the few pairs that join to one string).
 * - cwe's word list: wonderwords 2.2.0's nouns, adjectives and verbs as RULER
 *   uses them; beyond their 8169 words RULER takes its english_words.json (a
 *   Git LFS file of unstated origin): we take DIR/english.txt, the lowercase
 *   words of Debian's wamerican (tools/fetch-words.sh).
 * - The essay haystack is any text (default data/texts/kjv.txt), not Paul
 *   Graham's essays; its whitespace is collapsed to single spaces as RULER does.
 * - SQuAD records without "is_impossible" (v1.1) count as answerable.
 */
#ifndef EV_RULER_H
#define EV_RULER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "chat.h"
#include "tokenizer.h"

/* ------------------------------------------------------------------ tasks */

typedef enum { RULER_NIAH, RULER_VT, RULER_CWE, RULER_FWE, RULER_QA } ruler_kind;
typedef enum { RULER_HAY_NOISE, RULER_HAY_ESSAY, RULER_HAY_NEEDLE } ruler_haystack;
typedef enum { RULER_WORDS, RULER_NUMBERS, RULER_UUIDS } ruler_value_type;
typedef enum { RULER_SQUAD, RULER_HOTPOTQA } ruler_dataset;

/* One entry of synthetic.yaml merged with constants.py's TASKS. */
typedef struct {
    const char *name;
    ruler_kind kind;
    int tokens_to_generate;
    ruler_haystack haystack;        /* niah (vt: noise) */
    ruler_value_type type_k, type_v; /* niah */
    int num_k, num_v, num_q;        /* niah */
    int num_chains, num_hops;       /* vt */
    int freq_cw, freq_ucw, num_cw;  /* cwe */
    double alpha;                   /* fwe */
    ruler_dataset dataset;          /* qa */
} ruler_task;

#define RULER_N_TASKS 13
extern const ruler_task ruler_tasks[RULER_N_TASKS];
/* NULL when the name is not one of the 13. */
const ruler_task *ruler_task_find(const char *name);
/* 1 when the task reads the word lists / the essay text. */
int ruler_task_needs_words(const ruler_task *t);
int ruler_task_needs_essay(const ruler_task *t);

/* -------------------------------------------------------------- resources */

/* wonderwords' lists: DIR/nounlist.txt, adjectivelist.txt, verblist.txt (one
 * word a line, trailing whitespace dropped); DIR/english.txt optional (cwe's
 * words beyond the wonderwords set). NULL after one error line. */
typedef struct ruler_words ruler_words;
ruler_words *ruler_words_load(const char *dir);
void ruler_words_free(ruler_words *w); /* NULL-safe */

/* Any UTF-8 text, whitespace runs collapsed to one space. NULL after one error
 * line (unreadable, invalid UTF-8, no words). */
typedef struct ruler_essay ruler_essay;
ruler_essay *ruler_essay_load(const char *path);
void ruler_essay_free(ruler_essay *e);

/* SQuAD v2.0 dev JSON ({"data": [{"paragraphs": [{"context", "qas": [{"question",
 * "answers": [{"text"}], "is_impossible"}]}]}]}) or HotpotQA dev distractor JSON
 * ([{"question", "answer", "context": [[title, [sentence, ...]], ...]}]), read as
 * qa.py reads them: documents deduplicated and sorted, unanswerable SQuAD
 * questions dropped. NULL after one error line naming the file and the record. */
typedef struct ruler_qa ruler_qa;
ruler_qa *ruler_qa_load(const char *path, ruler_dataset which);
void ruler_qa_free(ruler_qa *q);
size_t ruler_qa_n_questions(const ruler_qa *q);

/* ---------------------------------------------------------------- records */

enum {
    RULER_F_LENGTH = 1,         /* length present */
    RULER_F_LENGTH_W = 2,       /* length_w_model_temp present */
    RULER_F_PREFIX = 4,         /* answer_prefix present */
    RULER_F_TOKEN_POS = 8,      /* token_position_answer present */
};

typedef struct {
    long long index;
    char *input;
    char **outputs;
    size_t n_outputs;
    long long length;               /* -1 when absent */
    long long length_w_model_temp;  /* -1 when absent */
    char *answer_prefix;            /* "" when absent (never NULL) */
    long long token_position_answer; /* -1 when absent */
    unsigned fields;                /* RULER_F_*: which optional fields the line had */
} ruler_record;

void ruler_records_free(ruler_record *r, size_t n); /* NULL-safe */

/* Reads a RULER JSONL file (NVIDIA's or ours; .gz too). index, input and
 * outputs (a list of strings) are required; length, length_w_model_temp,
 * answer_prefix and token_position_answer are read when present; other keys
 * are ignored; blank lines are skipped. On success *out (owned by the caller,
 * free with ruler_records_free) and *n are set and 0 returned; a malformed line
 * gives one error line "FILE:LINE: ..." naming the field, and -1. */
int ruler_read_jsonl(const char *path, ruler_record **out, size_t *n);

/* Writes records as RULER's write_manifest does (see the top of this file),
 * each with the fields its `fields` names. Exits on a write error (name is the
 * file's name for the message). */
void ruler_write_jsonl(FILE *f, const char *name, const ruler_record *r, size_t n);

/* ------------------------------------------------------------- generation */

typedef struct {
    tok_tokenizer *tok;            /* borrowed */
    const chat_template *tmpl;     /* borrowed; NULL: RULER's base template (none) */
    const char *bos, *eos;         /* passed to the template (may be NULL) */
    const ruler_words *words;      /* niah with word keys or values, cwe */
    const ruler_essay *essay;      /* niah_single_2/3, multikey_1, multivalue, multiquery */
    const ruler_qa *squad, *hotpotqa;
    long max_seq_length;           /* L: prompt + tokens_to_generate */
    uint64_t seed;
} ruler_config;

/* What the search settled on, for progress lines. */
typedef struct {
    long haystack;        /* units of the haystack the search found */
    const char *unit;     /* "words", "lines", "documents" */
    long min_length, max_length; /* over the samples */
} ruler_stats;

/* The shortest L the task can be made at: its prompt with the smallest
 * haystack RULER uses, plus tokens_to_generate. 0 with *min_len set, -1 after
 * an error line (missing resource, template error). Draws from its own random
 * stream: it does not change what ruler_generate makes. */
int ruler_min_length(const ruler_config *c, const ruler_task *t, long *min_len);

/* Makes n samples of task t. Deterministic for a given config (seed, L,
 * tokenizer, template, resources) and task; independent of the other tasks
 * made beside it. *out is owned by the caller (ruler_records_free). -1 after
 * one error line (a sample that cannot be fitted into L, a QA set with fewer
 * questions than n, a missing resource). st may be NULL. */
int ruler_generate(const ruler_config *c, const ruler_task *t, size_t n, ruler_record **out, ruler_stats *st);

#endif
