/*
 * rng: a tiny deterministic pseudo-random generator (splitmix64) for the
 * control-plane logic: probe jitter, power-of-two-choices sampling and the
 * slow-start share. The caller owns the state and seeds it, so the pure
 * modules (health, router, balancer) stay reproducible under test. Not for
 * anything security-related.
 */
#ifndef PX_RNG_H
#define PX_RNG_H

#include <stdint.h>

struct px_rng {
    uint64_t state; /* splitmix64 counter; any value is a valid seed */
};

/* Seeds R with SEED. Every seed, 0 included, gives a full-period sequence. */
static inline void px_rng_seed(struct px_rng *r, uint64_t seed)
{
    r->state = seed;
}

/* Returns the next 64 uniformly distributed bits of R (splitmix64, Vigna 2015). */
static inline uint64_t px_rng_next(struct px_rng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Returns a uniform double in [0, 1) with 53 random bits. */
static inline double px_rng_unit(struct px_rng *r)
{
    return (double)(px_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/*
 * Returns a uniform integer in [0, N) (Lemire's multiply-shift; the bias is
 * below 2^-32 for the small N used here). N must be > 0.
 */
static inline uint32_t px_rng_below(struct px_rng *r, uint32_t n)
{
    return (uint32_t)(((px_rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

#endif
