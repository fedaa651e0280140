/* sample.h - picks the next token from a row of logits: greedy (the argmax,
 * fwd_argmax's tie rule) or a random draw after temperature, top-k and top-p,
 * applied as Hugging Face transformers' logits warpers apply them in generate()
 * (TemperatureLogitsWarper, then TopKLogitsWarper, then TopPLogitsWarper):
 *
 *   x_i = logit_i / temperature
 *   top-k: keep x_i >= the k-th largest x (ties with it are kept)
 *   top-p: over the kept tokens in decreasing order of p = softmax(x), keep a
 *          token while the mass of the tokens before it is < top_p (so the
 *          smallest prefix reaching top_p, and never less than one token)
 *   draw from softmax over what is kept.
 *
 * Draws come from rng.h's generator seeded with `seed`: the same seed and
 * logits give the same tokens on every platform, but not torch.multinomial's
 * tokens. Not thread-safe: one sampler per sequence. */
#ifndef EV_SAMPLE_H
#define EV_SAMPLE_H

#include <stdint.h>

typedef struct {
    double temperature; /* <= 0: greedy (top_k, top_p and seed are then unused) */
    int top_k;          /* <= 0: off */
    double top_p;       /* in (0, 1]; 1: off */
    uint64_t seed;
} sample_params;

typedef struct sampler sampler;

/* A sampler for a vocabulary of `vocab` logits. Returns NULL after one error
 * line for vocab < 1, a temperature that is not finite, or top_p outside (0, 1]. */
sampler *sample_new(int vocab, const sample_params *p);
void sample_free(sampler *s); /* NULL-safe */

/* The next token for logits[vocab]. */
int32_t sample_next(sampler *s, const float *logits);

/* The distribution sample_next draws from, written to probs[vocab] (zero for
 * the tokens cut away; one-hot at the argmax when greedy). Returns how many
 * tokens have non-zero probability. Does not advance the generator. */
int sample_probs(sampler *s, const float *logits, float *probs);

#endif
