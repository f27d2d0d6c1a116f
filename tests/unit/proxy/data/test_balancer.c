/*
 * Unit tests of proxy/data/balancer.c: latency preference, in-flight counts,
 * weights idle and under load, unusable peers, slow start. Every random
 * choice comes from a seeded px_rng, so the counts are deterministic.
 */
#include "tests/unit/test.h"
#include "proxy/data/balancer.h"
#include "proxy/base/px.h"

#include <math.h>

#define NEAR(a, b, eps) ASSERT(fabs((double)(a) - (double)(b)) <= (eps))

#define PICKS 100000

static struct px_balancer_peer peer(double load_ms, uint32_t weight)
{
    return (struct px_balancer_peer){.load_ms = load_ms, .weight = weight, .usable = true};
}

/* Picks PICKS times at NOW with a fixed seed, counting per index into COUNTS (n entries). */
static void count_picks(const struct px_balancer_peer *p, size_t n, uint64_t slow_start_ms,
                        uint64_t now, unsigned *counts)
{
    struct px_rng rng;

    px_rng_seed(&rng, 12345);
    memset(counts, 0, n * sizeof(*counts));
    for (int i = 0; i < PICKS; i++) {
        int k = px_balancer_pick(p, n, slow_start_ms, now, &rng);
        ASSERT(k >= 0 && (size_t)k < n);
        counts[k]++;
    }
}

TEST(balancer_prefers_lower_latency)
{
    struct px_balancer_peer p[5];
    unsigned c[5];
    /* With distinct costs a peer wins exactly the pairs whose other member is slower. */
    static const double want[5] = {0.4, 0.3, 0.2, 0.1, 0.0};

    for (int i = 0; i < 5; i++)
        p[i] = peer(10.0 * (i + 1), 1);
    count_picks(p, 5, 0, 0, c);
    for (int i = 0; i < 5; i++)
        NEAR(c[i] / (double)PICKS, want[i], 0.01);
    ASSERT_EQ(c[4], 0);
    /* Two peers: the faster always. */
    count_picks(p + 2, 2, 0, 0, c);
    ASSERT_EQ(c[0], PICKS);
}

TEST(balancer_inflight_counts)
{
    struct px_balancer_peer p[2] = {peer(10, 1), peer(10, 1)};
    unsigned c[2];

    p[0].inflight = 3; /* 10 * 4 = 40 vs 10 */
    count_picks(p, 2, 0, 0, c);
    ASSERT_EQ(c[1], PICKS);
    /* Latency x (in-flight + 1): 10 * 2 = 20 beats 25 * 1, 10 * 3 = 30 does not. */
    p[0].inflight = 1;
    p[1].load_ms = 25;
    count_picks(p, 2, 0, 0, c);
    ASSERT_EQ(c[0], PICKS);
    p[0].inflight = 2;
    count_picks(p, 2, 0, 0, c);
    ASSERT_EQ(c[1], PICKS);
}

TEST(balancer_weights_idle)
{
    struct px_balancer_peer p[4] = {peer(10, 3), peer(10, 1), peer(10, 2), peer(10, 4)};
    unsigned c[4];

    /* Equal costs: the share is the weight. */
    count_picks(p, 2, 0, 0, c);
    NEAR(c[0] / (double)PICKS, 0.75, 0.01);
    NEAR(c[1] / (double)PICKS, 0.25, 0.01);
    count_picks(p, 4, 0, 0, c);
    NEAR(c[0] / (double)PICKS, 0.3, 0.01);
    NEAR(c[1] / (double)PICKS, 0.1, 0.01);
    NEAR(c[2] / (double)PICKS, 0.2, 0.01);
    NEAR(c[3] / (double)PICKS, 0.4, 0.01);
}

TEST(balancer_weights_under_load)
{
    struct px_balancer_peer p[2] = {peer(10, 3), peer(10, 1)};
    struct px_rng rng;
    unsigned picks[2] = {0, 0};

    /*
     * A closed loop of 40 concurrent requests at equal latency: every step
     * one in-flight request completes (each equally likely) and a new one
     * is picked. Throughput follows the weights.
     */
    px_rng_seed(&rng, 99);
    for (int i = 0; i < 40; i++)
        p[px_balancer_pick(p, 2, 0, 0, &rng)].inflight++;
    for (int i = 0; i < PICKS; i++) {
        uint32_t total = p[0].inflight + p[1].inflight, k;
        k = px_rng_below(&rng, total) < p[0].inflight ? 0 : 1;
        p[k].inflight--;
        k = (uint32_t)px_balancer_pick(p, 2, 0, 0, &rng);
        p[k].inflight++;
        picks[k]++;
    }
    NEAR(picks[0] / (double)PICKS, 0.75, 0.03);
}

TEST(balancer_unusable_never_picked)
{
    struct px_balancer_peer p[4] = {peer(1, 1), peer(50, 1), peer(2, 1), peer(60, 1)};
    struct px_rng rng;
    unsigned c[4];

    p[0].usable = false; /* down or ejected, and the fastest */
    p[2].weight = 0;
    count_picks(p, 4, 0, 0, c);
    ASSERT_EQ(c[0], 0);
    ASSERT_EQ(c[2], 0);
    ASSERT_EQ(c[1] + c[3], PICKS);
    /* One usable: always it. */
    p[3].usable = false;
    count_picks(p, 4, 0, 0, c);
    ASSERT_EQ(c[1], PICKS);
    /* None: -1. */
    px_rng_seed(&rng, 1);
    p[1].usable = false;
    ASSERT_EQ(px_balancer_pick(p, 4, 0, 0, &rng), -1);
    ASSERT_EQ(px_balancer_pick(p, 0, 0, 0, &rng), -1);
    ASSERT_EQ(px_balancer_pick(NULL, 0, 0, 0, &rng), -1);
}

TEST(balancer_slow_start_ramp)
{
    struct px_balancer_peer p[2] = {peer(10, 1), peer(10, 2)};
    unsigned c[2];

    /* Peer 1 came up at 100 s; slow start 10 s. */
    p[1].up_since_ms = 100000;
    NEAR(px_balancer_weight(&p[1], 10000, 100000), 2 * PX_BALANCER_SLOW_START_MIN, 1e-12);
    NEAR(px_balancer_weight(&p[1], 10000, 102500), 0.5, 1e-12);
    NEAR(px_balancer_weight(&p[1], 10000, 105000), 1.0, 1e-12);
    NEAR(px_balancer_weight(&p[1], 10000, 107500), 1.5, 1e-12);
    NEAR(px_balancer_weight(&p[1], 10000, 110000), 2.0, 1e-12);
    NEAR(px_balancer_weight(&p[1], 10000, 999999), 2.0, 1e-12);
    NEAR(px_balancer_weight(&p[1], 0, 100000), 2.0, 1e-12); /* off */
    NEAR(px_balancer_weight(&p[1], 10000, 50000), 2 * PX_BALANCER_SLOW_START_MIN, 1e-12);
    /* The picks follow the ramp: 0.1 : 1, 1 : 1, then 2 : 1. */
    count_picks(p, 2, 10000, 100000, c);
    NEAR(c[1] / (double)PICKS, 0.1 / 1.1, 0.01);
    count_picks(p, 2, 10000, 105000, c);
    NEAR(c[1] / (double)PICKS, 0.5, 0.01);
    count_picks(p, 2, 10000, 110000, c);
    NEAR(c[1] / (double)PICKS, 2.0 / 3.0, 0.01);
    /* Unusable: weight 0 whatever the ramp. */
    p[1].usable = false;
    NEAR(px_balancer_weight(&p[1], 10000, 110000), 0, 1e-12);
}

TEST(balancer_unknown_load_is_average)
{
    struct px_balancer_peer p[3] = {peer(0, 1), peer(10, 1), peer(30, 1)};
    unsigned c[3];

    /* Unknown counts as 20: it wins against 30 only. */
    count_picks(p, 3, 0, 0, c);
    NEAR(c[1] / (double)PICKS, 2.0 / 3.0, 0.01);
    NEAR(c[0] / (double)PICKS, 1.0 / 3.0, 0.01);
    ASSERT_EQ(c[2], 0);
    /* Nothing measured: all equal, so the weights decide. */
    p[1].load_ms = p[2].load_ms = 0;
    count_picks(p, 3, 0, 0, c);
    for (int i = 0; i < 3; i++)
        NEAR(c[i] / (double)PICKS, 1.0 / 3.0, 0.01);
    /* An unknown peer with requests in flight is not flooded. */
    p[1].load_ms = 10;
    p[2].load_ms = 10;
    p[0].inflight = 5;
    count_picks(p, 3, 0, 0, c);
    ASSERT_EQ(c[0], 0);
}
