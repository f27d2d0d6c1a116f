/* retry: the per-worker retry budget; the rules are in retry.h. */
#include "proxy/data/retry.h"

#include <stddef.h>

/* Moves B's window forward to NOW_MS, clearing buckets that fell out of it. */
static void retry_advance(struct px_retry_budget *b, uint64_t now_ms)
{
    uint64_t cur = now_ms / PX_RETRY_BUCKET_MS, steps;

    if (cur <= b->bucket)
        return; /* same bucket, or the clock stepped back: count into the newest */
    steps = cur - b->bucket;
    if (steps > PX_RETRY_BUCKETS)
        steps = PX_RETRY_BUCKETS;
    for (uint64_t i = 1; i <= steps; i++) {
        size_t k = (size_t)((b->bucket + i) % PX_RETRY_BUCKETS);
        b->requests[k] = 0;
        b->retries[k] = 0;
    }
    b->bucket = cur;
}

/* Empties B at NOW_MS. */
void px_retry_budget_init(struct px_retry_budget *b, uint64_t now_ms)
{
    *b = (struct px_retry_budget){.bucket = now_ms / PX_RETRY_BUCKET_MS};
}

/* Counts one first attempt at NOW_MS. */
void px_retry_budget_request(struct px_retry_budget *b, uint64_t now_ms)
{
    retry_advance(b, now_ms);
    b->requests[b->bucket % PX_RETRY_BUCKETS]++;
}

/* Grants and counts one retry when the window's budget allows; see retry.h. */
bool px_retry_budget_try(struct px_retry_budget *b, uint64_t now_ms, uint32_t pct)
{
    uint64_t requests = 0, retries = 0;

    if (pct == 0)
        return false;
    retry_advance(b, now_ms);
    for (size_t i = 0; i < PX_RETRY_BUCKETS; i++) {
        requests += b->requests[i];
        retries += b->retries[i];
    }
    if (retries >= PX_RETRY_MIN_COUNT && (retries + 1) * 100 > (uint64_t)pct * requests)
        return false;
    b->retries[b->bucket % PX_RETRY_BUCKETS]++;
    return true;
}
