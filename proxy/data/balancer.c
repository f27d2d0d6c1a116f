/*
 * balancer: weighted power of two choices on peak-EWMA latency; see
 * balancer.h for the cost and why weights enter it the way they do.
 */
#include "proxy/data/balancer.h"
#include "proxy/base/px.h"

#include <limits.h>

/* Returns P's effective weight; see balancer.h. */
double px_balancer_weight(const struct px_balancer_peer *p, uint64_t slow_start_ms, uint64_t now_ms)
{
    uint64_t up_ms;
    double w, ramp;

    if (!p->usable || p->weight == 0)
        return 0;
    w = (double)p->weight;
    up_ms = now_ms > p->up_since_ms ? now_ms - p->up_since_ms : 0;
    if (slow_start_ms == 0 || up_ms >= slow_start_ms)
        return w;
    ramp = (double)up_ms / (double)slow_start_ms;
    if (ramp < PX_BALANCER_SLOW_START_MIN)
        ramp = PX_BALANCER_SLOW_START_MIN;
    return w * ramp;
}

/*
 * Draws one peer with probability proportional to its effective weight,
 * skipping index SKIP (-1: none); TOTAL is the sum of the weights drawn
 * from. Returns the index, or -1 when TOTAL is 0.
 */
static int draw(const struct px_balancer_peer *peers, size_t n, uint64_t slow_start_ms,
                uint64_t now_ms, double total, int skip, struct px_rng *rng)
{
    double x = px_rng_unit(rng) * total;
    int last = -1;

    for (size_t i = 0; i < n; i++) {
        double w;
        if ((int)i == skip)
            continue;
        w = px_balancer_weight(&peers[i], slow_start_ms, now_ms);
        if (w <= 0)
            continue;
        last = (int)i;
        if (x < w)
            return (int)i;
        x -= w;
    }
    return last; /* rounding left x a hair above the last weight */
}

/* Returns the cost of P (lower wins); LOAD_ZERO stands in for an unknown load. */
static double cost(const struct px_balancer_peer *p, double eff_weight, double load_zero)
{
    double load = p->load_ms > 0 ? p->load_ms : load_zero;
    return load * ((double)p->inflight / eff_weight + 1.0);
}

/* Picks a backend by weighted P2C; returns its index or -1. */
int px_balancer_pick(const struct px_balancer_peer *peers, size_t n, uint64_t slow_start_ms,
                     uint64_t now_ms, struct px_rng *rng)
{
    double total = 0, known = 0, load_zero = 1.0, w1, w2, c1, c2;
    size_t usable = 0, nknown = 0;
    int a, b;

    PX_ASSERT(n <= INT_MAX);
    for (size_t i = 0; i < n; i++) {
        double w = px_balancer_weight(&peers[i], slow_start_ms, now_ms);
        if (w <= 0)
            continue;
        total += w;
        usable++;
        if (peers[i].load_ms > 0) {
            known += peers[i].load_ms;
            nknown++;
        }
    }
    if (usable == 0)
        return -1;
    a = draw(peers, n, slow_start_ms, now_ms, total, -1, rng);
    if (usable == 1)
        return a;
    w1 = px_balancer_weight(&peers[a], slow_start_ms, now_ms);
    b = draw(peers, n, slow_start_ms, now_ms, total - w1, a, rng);
    if (b < 0)
        return a;
    w2 = px_balancer_weight(&peers[b], slow_start_ms, now_ms);
    if (nknown > 0)
        load_zero = known / (double)nknown;
    c1 = cost(&peers[a], w1, load_zero);
    c2 = cost(&peers[b], w2, load_zero);
    return c2 < c1 ? b : a;
}
