/* rouge.h - ROUGE-Lsum as the rouge_score package (0.1.2) computes it with its
 * default tokenizer and no stemmer, which is how HF evaluate's "rouge" metric
 * calls it (use_stemmer=False, split_summaries=False):
 *
 *   tokens:    text.lower(), every run of characters outside [a-z0-9] becomes
 *              one space, split on spaces, keep the non-empty tokens
 *   sentences: text.split("\n"), dropping empty strings
 *   score:     summary-level LCS (union LCS per reference sentence, each
 *              token counted at most as often as it occurs on both sides),
 *              F = 2PR/(P+R) with P = hits/|prediction|, R = hits/|target|
 *
 * The union LCS uses rouge_score's own backtracking, whose tie-breaking picks
 * which of several longest subsequences is taken, so the exact hits match. */
#ifndef EV_ROUGE_H
#define EV_ROUGE_H

#include "pystr.h"

/* The ROUGE-Lsum F-measure of prediction against target, in [0, 1]. */
double rouge_lsum(const pystr *target, const pystr *prediction);

/* rouge_score's tokenizer on one string: the tokens as NUL-separated ASCII in
 * a new heap buffer (*buf, caller frees) with their count returned. */
size_t rouge_tokenize(const pystr *text, char **buf);

#endif
