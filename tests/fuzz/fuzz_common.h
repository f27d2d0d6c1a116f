/*
 * Shared bits of the libFuzzer targets: a small deterministic PRNG seeded
 * from the input (so a crash replays exactly) and the invariant check, which
 * aborts so libFuzzer records the input.
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(expr)                                                                           \
    do {                                                                                           \
        if (!(expr)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #expr);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* xorshift32; never returns to 0 from a non-zero state. */
static inline uint32_t fuzz_rand(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *s = x;
    return x;
}

#endif
