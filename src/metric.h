/* metric.h - scores one prediction exactly as the official Python scorers of
 * RULER and InfiniteBench do, so that evalctl's numbers can be compared with
 * published ones.
 *
 * RULER (NVIDIA/RULER scripts/eval): the prediction goes through
 * evaluate.py's postprocess_pred (strip, every character U+0000..U+001F
 * becomes "\n", strip); then synthetic/constants.py's metric on this one
 * prediction, on RULER's 0-100 scale rounded with round(x, 2):
 *   string_match_all   100 * (references found in the prediction) / (references)
 *   string_match_part  100 if any reference is found, else 0
 * where "found" is r.lower() in pred.lower().
 *
 * InfiniteBench (OpenBMB/InfiniteBench src/compute_scores.py): the value of
 * get_score_one(pred, get_answer(record, task), task, model) for a model that
 * is not "gpt4", on a 0-1 scale. get_answer (src/eval_utils.py) reads the
 * record's "answer" (and "options" for longbook_choice_eng and code_debug) as
 * they are in the task's data file. longbook_sum_eng is ROUGE-Lsum (rouge.h),
 * longbook_qa_eng token F1 after SQuAD normalisation, longbook_qa_chn
 * character F1 after the Chinese normalisation; the other tasks are exact
 * matches of parsed answers (0 or 1) or, for math_calc, the fraction of the
 * leading numbers that are right.
 *
 * Python string semantics (Unicode lower/upper/split/strip, re's Unicode \d,
 * \w, \b, int()) come from pystr.h.
 *
 * Return codes: 0 with *score set; METRIC_RAISES where the official code
 * raises an exception on this prediction (for instance math_find's int("3.5")
 * when the answer is an int): *score is 0 and nothing is printed, and
 * metric_raise_reason() says what Python raises; -1 on bad input (unknown name,
 * missing or ill-typed field, malformed UTF-8, an answer on which the official
 * code raises whatever the prediction), after printing one line that starts
 * with `where` (e.g. "preds.jsonl:3"; NULL means "metric"). */
#ifndef EV_METRIC_H
#define EV_METRIC_H

#include <jansson.h>
#include <stddef.h>

#define METRIC_RAISES 1

enum { METRIC_UNKNOWN = 0, METRIC_RULER = 1, METRIC_INFBENCH = 2 };

/* Which benchmark a metric/task name belongs to (METRIC_UNKNOWN if none). */
int metric_kind(const char *name);
/* The names metric_kind() accepts, comma-separated, for usage messages. */
const char *metric_names(void);

/* RULER metric `name` on one prediction of pred_len bytes of UTF-8 and its
 * n_outputs references (output_lens may be NULL for NUL-terminated ones). */
int metric_ruler(const char *name, const char *pred, size_t pred_len, const char *const *outputs,
                 const size_t *output_lens, size_t n_outputs, double *score, const char *where);

/* InfiniteBench task `task` on one prediction against the task's data record
 * (an object with "answer", plus "options" where the task uses them). */
int metric_infbench(const char *task, const char *pred, size_t pred_len, const json_t *record, double *score,
                    const char *where);

/* Either benchmark from one JSONL record: "pred" plus "outputs" (RULER) or the
 * InfiniteBench fields above. */
int metric_record(const char *name, const json_t *record, double *score, const char *where);

/* What the official code raises where a call returned METRIC_RAISES. */
const char *metric_raise_reason(const char *name);

/* Python's repr() of a score, which is how the official scripts print them;
 * buf needs 32 bytes. */
void metric_format(double score, char buf[32]);

#endif
