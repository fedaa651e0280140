/* rng.c - xoshiro256** (Blackman and Vigna) with splitmix64 seeding; see rng.h. */
#include "rng.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void rng_seed(rng_state *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

uint64_t rng_derive(uint64_t seed, const char *name) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 0x100000001b3ULL;
    uint64_t x = seed ^ h;
    return splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_u64(rng_state *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Rejection keeps every value equally likely: draws below 2^64 mod n are
 * thrown away, so the accepted range is a whole multiple of n. */
uint64_t rng_below(rng_state *r, uint64_t n) {
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t x = rng_u64(r);
        if (x >= threshold) return x % n;
    }
}

int64_t rng_range(rng_state *r, int64_t lo, int64_t hi) {
    uint64_t span = (uint64_t)hi - (uint64_t)lo + 1;
    if (span == 0) return (int64_t)rng_u64(r); /* the whole 64-bit range */
    return (int64_t)((uint64_t)lo + rng_below(r, span));
}

double rng_double(rng_state *r) { return (double)(rng_u64(r) >> 11) * 0x1.0p-53; }

void rng_shuffle(rng_state *r, void *base, size_t n, size_t size) {
    if (n < 2) return;
    unsigned char *b = base, tmp[64];
    unsigned char *t = size <= sizeof tmp ? tmp : xmalloc(size);
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)rng_below(r, (uint64_t)i + 1);
        if (j == i) continue;
        memcpy(t, b + i * size, size);
        memcpy(b + i * size, b + j * size, size);
        memcpy(b + j * size, t, size);
    }
    if (t != tmp) free(t);
}

/* Small k beside n: draw with rejection through an open-addressing set of
 * the chosen indices; else a partial Fisher-Yates over all n indices. */
void rng_sample(rng_state *r, size_t n, size_t k, size_t *out) {
    if (k == 0) return;
    if (k > n) ev_fatal("rng_sample: k=%zu > n=%zu", k, n);
    if (k <= n / 4) {
        size_t cap = 16;
        while (cap < 2 * k) cap *= 2;
        size_t *set = xmalloc(cap * sizeof *set);
        for (size_t i = 0; i < cap; i++) set[i] = SIZE_MAX;
        for (size_t got = 0; got < k;) {
            size_t x = (size_t)rng_below(r, n);
            size_t h = (size_t)((x * 0x9e3779b97f4a7c15ULL) >> 7) & (cap - 1);
            while (set[h] != SIZE_MAX && set[h] != x) h = (h + 1) & (cap - 1);
            if (set[h] == x) continue;
            set[h] = x;
            out[got++] = x;
        }
        free(set);
        return;
    }
    size_t *idx = xmalloc(n * sizeof *idx);
    for (size_t i = 0; i < n; i++) idx[i] = i;
    for (size_t i = 0; i < k; i++) {
        size_t j = i + (size_t)rng_below(r, (uint64_t)(n - i));
        size_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
        out[i] = idx[i];
    }
    free(idx);
}
