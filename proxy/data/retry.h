/*
 * retry: the retry budget, one per worker. Retries may be at most a share
 * of first attempts over a sliding window (with a floor), so a failing
 * backend cannot turn a burst of requests into a retry storm.
 */
#ifndef PX_RETRY_H
#define PX_RETRY_H

#include <stdbool.h>
#include <stdint.h>

/* A sliding window of PX_RETRY_BUCKETS buckets of PX_RETRY_BUCKET_MS. */
#define PX_RETRY_BUCKETS 10
#define PX_RETRY_BUCKET_MS 1000
/* Retries allowed per window whatever the traffic: 10 a second, Linkerd's
 * default, so a quiet service still rides out a failing backend. */
#define PX_RETRY_MIN_COUNT 100

struct px_retry_budget {
    uint64_t bucket;                     /* absolute number (now / bucket ms) of the newest */
    uint32_t requests[PX_RETRY_BUCKETS]; /* first attempts per bucket, count */
    uint32_t retries[PX_RETRY_BUCKETS];  /* retries granted per bucket, count */
};

/* Initialises B empty at NOW_MS. Nothing is allocated. */
void px_retry_budget_init(struct px_retry_budget *b, uint64_t now_ms);

/* Counts one first attempt (not a retry) at NOW_MS. */
void px_retry_budget_request(struct px_retry_budget *b, uint64_t now_ms);

/*
 * Asks for one retry at NOW_MS. Granted (and counted) when, within the
 * window, the retries so far are fewer than PX_RETRY_MIN_COUNT or one more
 * keeps retries <= PCT % of the requests. PCT 0 disables retries entirely.
 * Returns true when the retry may go, false when the budget is spent.
 */
bool px_retry_budget_try(struct px_retry_budget *b, uint64_t now_ms, uint32_t pct);

#endif
