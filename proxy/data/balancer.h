/*
 * balancer: which backend of a region takes one request. Power of two
 * choices (Mitzenmacher) on peak-EWMA latency (Finagle/Linkerd), pure and
 * allocation-free: the caller (a worker) fills one struct px_balancer_peer
 * per backend from the published health snapshot and its own in-flight
 * counts, and passes its own rng.
 *
 * Two candidates are drawn without replacement, each with probability
 * proportional to its effective weight; the one with the lower cost wins,
 * and on a tie the first drawn. The cost is
 *
 *   cost = load_ms * (inflight / eff_weight + 1)
 *
 * i.e. latency x (in-flight + 1) with the in-flight count taken per unit of
 * weight. Weights then count twice, deliberately, in the two regimes that
 * matter: when backends are idle and equally fast (costs tie) the share of
 * each is exactly its weight (it is drawn first that often); under load the
 * costs equalise when in-flight counts are proportional to weights, which
 * at equal latency is a throughput proportional to weight (Little's law).
 * Dividing the whole cost by the weight instead would send every request of
 * an idle pair to the heavier backend.
 *
 * Slow start: a backend that became usable less than slow_start_ms ago has
 * eff_weight = weight * max(elapsed / slow_start_ms, PX_BALANCER_SLOW_START_MIN),
 * a linear ramp with a small floor so it is still probed by real traffic.
 *
 * A backend whose load is unknown (0: nothing measured yet) is costed at the
 * average load of the measured usable backends, so it is neither shunned nor
 * flooded; when none is measured, every load counts as 1 ms.
 */
#ifndef PX_BALANCER_H
#define PX_BALANCER_H

#include "proxy/base/rng.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PX_BALANCER_SLOW_START_MIN 0.05 /* effective weight share at the start of a ramp */

/* One backend as the balancer sees it; filled by the caller per pick. */
struct px_balancer_peer {
    double load_ms;       /* peak-EWMA latency (px_health_load_ms), ms; <= 0 = unknown */
    uint32_t inflight;    /* requests outstanding on it from this worker, count */
    uint32_t weight;      /* configured weight, 1..256; 0 = never picked */
    uint64_t up_since_ms; /* when it last became usable (up and not ejected), for slow start */
    bool usable;          /* up and not ejected; false = never picked */
};

/*
 * Returns the effective weight of P at NOW_MS: its weight, ramped linearly
 * over SLOW_START_MS (0 = off) since up_since_ms with the floor above; 0
 * when P is not usable or has weight 0.
 */
double px_balancer_weight(const struct px_balancer_peer *p, uint64_t slow_start_ms,
                          uint64_t now_ms);

/*
 * Picks one of the N PEERS (borrowed; N <= INT_MAX) at NOW_MS using RNG.
 * Returns its index, or -1 when no peer is usable with a weight above 0.
 * Allocates nothing; O(N).
 */
int px_balancer_pick(const struct px_balancer_peer *peers, size_t n, uint64_t slow_start_ms,
                     uint64_t now_ms, struct px_rng *rng);

#endif
