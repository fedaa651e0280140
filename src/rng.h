/* rng.h - a small deterministic random number generator for generating
 * benchmark data: the same seed gives the same stream on every platform and
 * build (xoshiro256** seeded through splitmix64, integer arithmetic only, plus
 * rng_double's exact 53-bit conversion). It is not Python's Mersenne Twister:
 * data made with it follow the same distributions as the Python generators
 * they mirror, not their exact draws.
 *
 * Not thread-safe: one rng_state per thread. */
#ifndef EV_RNG_H
#define EV_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4];
} rng_state;

void rng_seed(rng_state *r, uint64_t seed);
/* A seed derived from a base seed and a name (FNV-1a mixed through
 * splitmix64), so that independent streams (one per task) come from one user
 * seed. */
uint64_t rng_derive(uint64_t seed, const char *name);

uint64_t rng_u64(rng_state *r);
/* Uniform in [0, n) without modulo bias; n must be > 0. */
uint64_t rng_below(rng_state *r, uint64_t n);
/* Uniform in [lo, hi], both inclusive (Python's random.randint); lo <= hi. */
int64_t rng_range(rng_state *r, int64_t lo, int64_t hi);
/* Uniform in [0, 1) with 53 random bits (Python's random.random). */
double rng_double(rng_state *r);

/* Fisher-Yates shuffle of n elements of `size` bytes (random.shuffle). */
void rng_shuffle(rng_state *r, void *base, size_t n, size_t size);
/* k distinct indices of [0, n) in random order (random.sample(range(n), k)),
 * written to out[0..k-1]; k <= n. Memory is O(k) when k is small beside n. */
void rng_sample(rng_state *r, size_t n, size_t k, size_t *out);

#endif
