/* Unit tests of proxy/data/retry.c: the floor, the share and the sliding window. */
#include "tests/unit/test.h"
#include "proxy/data/retry.h"

TEST(retry_budget_min_and_pct)
{
    struct px_retry_budget b;

    /* No traffic: the minimum per window. */
    px_retry_budget_init(&b, 0);
    for (int i = 0; i < PX_RETRY_MIN_COUNT; i++)
        ASSERT(px_retry_budget_try(&b, 10, 20));
    ASSERT(!px_retry_budget_try(&b, 10, 20));
    /* 1000 requests: 20 % = 200 retries in the window, the minimum included. */
    px_retry_budget_init(&b, 0);
    for (int i = 0; i < 1000; i++)
        px_retry_budget_request(&b, (uint64_t)i * 5);
    for (int i = 0; i < 200; i++)
        ASSERT(px_retry_budget_try(&b, 5000, 20));
    ASSERT(!px_retry_budget_try(&b, 5000, 20));
    /* More requests buy more retries, one per five. */
    for (int i = 0; i < 4; i++)
        px_retry_budget_request(&b, 5001);
    ASSERT(!px_retry_budget_try(&b, 5001, 20));
    px_retry_budget_request(&b, 5001);
    ASSERT(px_retry_budget_try(&b, 5001, 20));
    ASSERT(!px_retry_budget_try(&b, 5001, 20));
    /* pct 0: never, not even the minimum. */
    px_retry_budget_init(&b, 0);
    ASSERT(!px_retry_budget_try(&b, 0, 0));
    /* pct 100: one retry per request. */
    for (int i = 0; i < 2 * PX_RETRY_MIN_COUNT; i++)
        px_retry_budget_request(&b, 0);
    for (int i = 0; i < 2 * PX_RETRY_MIN_COUNT; i++)
        ASSERT(px_retry_budget_try(&b, 0, 100));
    ASSERT(!px_retry_budget_try(&b, 0, 100));
}

TEST(retry_budget_window_slides)
{
    struct px_retry_budget b;

    px_retry_budget_init(&b, 100000);
    /* 500 requests in each of the seconds 100..104. */
    for (uint64_t s = 0; s < 5; s++)
        for (int i = 0; i < 500; i++)
            px_retry_budget_request(&b, 100000 + s * 1000 + 500);
    /* 2500 requests: 500 retries. */
    for (int i = 0; i < 500; i++)
        ASSERT(px_retry_budget_try(&b, 104900, 20));
    ASSERT(!px_retry_budget_try(&b, 104900, 20));
    /* Still all in the window at 109.999 s. */
    ASSERT(!px_retry_budget_try(&b, 109999, 20));
    /*
     * At 110 s second 100 leaves: 2000 requests, and its retries? They were
     * all counted at 104 s, so 500 retries for a budget of 400: still no.
     */
    ASSERT(!px_retry_budget_try(&b, 110000, 20));
    /* At 115 s everything is gone: the minimum again. */
    for (int i = 0; i < PX_RETRY_MIN_COUNT; i++)
        ASSERT(px_retry_budget_try(&b, 115000, 20));
    ASSERT(!px_retry_budget_try(&b, 115000, 20));
    /* A long idle gap clears the whole window. */
    for (int i = 0; i < 1000; i++)
        px_retry_budget_request(&b, 120000);
    ASSERT(px_retry_budget_try(&b, 120000, 20));
    for (int i = 0; i < PX_RETRY_MIN_COUNT; i++)
        ASSERT(px_retry_budget_try(&b, 3600000, 20));
    ASSERT(!px_retry_budget_try(&b, 3600000, 20));
    /* A clock stepping back counts into the newest bucket, harmlessly. */
    ASSERT(!px_retry_budget_try(&b, 1000, 20));
}
