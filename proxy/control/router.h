/*
 * router: per zone (and per request class of a zone), which region serves
 * it, and why. Pure logic on a caller-supplied clock; the control thread
 * calls px_router_decide() for every zone and class after each health
 * update and publishes each choice and px_router_failover_order() in the
 * routing table (state/routes.h); workers split each request with
 * px_routes_pick(). docs/ROUTING.md has the rules with their numbers.
 *
 *   cost(z, r) = rtt(r) + size(z) / goodput(r) + bias(z, r)
 *
 * rtt is what a small request waits (the region's best usable backend),
 * size the mean response body of the zone's (class's) traffic, goodput the
 * region's measured body bytes/s. The mean is the right size: waiting time
 * is linear in size, so the region with the least cost for the mean size is
 * the one with the least total waiting time for the whole mix. A region
 * without a goodput figure yet is charged no transfer time: optimism that
 * explores. When a zone's transfer time on its region outweighs the RTT
 * difference to an unmeasured one, the evidence moves the zone there, its
 * traffic measures it, and a worse figure brings the zone back on the same
 * rule; a zone of small responses never pays for the exploration.
 *
 * Candidates are the zone's allowed `route.regions`; `route.fallback`
 * regions are used only while no allowed region is healthy, and with
 * `reject` the zone then gets -1 (503). The result is never a region outside
 * regions + fallback (residency).
 *
 * Switching on evidence (CUSUM): with gain = cost(current) - cost(best) and
 * margin = max(min_gain_ms, min_gain_pct % of cost(current)), the evidence
 *
 *   S = max(0, S + (gain - margin) * dt)          in ms*s
 *
 * integrates, between two decisions dt seconds apart, the excess observed
 * at the earlier one. The zone moves to the best candidate when S reaches
 * switch_evidence: a 100 ms excess switches after 1 s at the default 100,
 * a 2 ms excess after 50 s, an excess that comes and goes with noise
 * accumulates nothing because the spells below the margin drain S again.
 * S follows "the current region is beaten", not one challenger, so two
 * challengers trading the lead still move a clearly worse zone. It starts
 * at 0 after every change of region. When the current region is unhealthy,
 * drained, no longer allowed, or a fallback while an allowed region is
 * healthy again, the move to the best is immediate.
 *
 * A failover is a state, not an event: while the allowed region the zone
 * failed over from (`away_from`) stays unhealthy or drained, the reason
 * stays "failover" (held or best among what is left), so an operator
 * asking why a zone is on its region hears the cause until it is gone.
 * A decision that moves the zone again says "switched" for that tick.
 *
 * Slow start: when a decision moves the zone to a region that became
 * healthy less than the ramp ago, and the region it leaves is still
 * healthy and allowed, the state carries `secondary` = the old region and
 * `share` = (now - healthy_since) / ramp of the new one, a linear ramp
 * from 0 to 1, with ramp = min(slow_start_ms, PX_ROUTER_RAMP_MAX_MS): the
 * balancer warms each backend over the whole slow_start, while the zone's
 * users reach the better region within seconds. px_routes_pick() sends that
 * share of requests to `current` and the rest to `secondary`. The ramp is
 * recomputed on each decision and ends (secondary = -1, share = 1) when it
 * reaches 1 or the secondary stops being healthy and allowed. A fallback
 * region is never a secondary: while an allowed region is healthy, every
 * request goes to an allowed region.
 */
#ifndef PX_ROUTER_H
#define PX_ROUTER_H

#include "conf/conf.h"
#include "proxy/base/rng.h"
#include "proxy/state/routes.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the router needs to know of one configured region, at decision time. */
struct px_region_view {
    bool healthy;              /* px_region_state.healthy: enough backends usable */
    bool drained;              /* ops drained it; treated as unhealthy */
    double rtt_ms;             /* routing RTT (px_region_state.rtt_ms), ms */
    double goodput_bps;        /* body bytes/s (px_region_state.goodput_bps); 0 = unknown */
    uint64_t healthy_since_ms; /* when it last became healthy, for slow start */
};

#define PX_ROUTER_RAMP_MAX_MS 3000 /* longest slow-start ramp of a zone onto a region */
#define PX_SIZE_HALF_LIFE_MS 30000 /* a response this old weighs half in a zone's mean size */

/*
 * The mean response body size of a zone's traffic over a time-decayed
 * window: sums of bytes and of responses both decay with the half-life, so
 * the mean is the traffic mix of the last minute or so, every response
 * weighing the same (that is what the total waiting time weighs).
 */
struct px_size_mean {
    double bytes;   /* decayed sum of body bytes */
    double count;   /* decayed count of responses */
    uint64_t at_ms; /* time of the last response folded in */
    uint64_t total; /* responses folded in since start, count (not decayed) */
};

/* Folds one response body of BYTES at NOW_MS into M. */
void px_size_add(struct px_size_mean *m, uint64_t bytes, uint64_t now_ms);

/* Returns M's mean size in bytes, 0 before any response. */
double px_size_mean(const struct px_size_mean *m);

/* The parts of one region's score in the last decision, for /status. */
struct px_route_score {
    double rtt_ms;      /* from the view, ms */
    double transfer_ms; /* size / goodput, ms; 0 for size 0 or an unknown goodput */
    double goodput_bps; /* the region's goodput, bytes/s; 0 = not measured yet */
    double bias_ms;     /* route.bias_ms[r], ms */
    double total_ms;    /* rtt + transfer + bias, ms */
    bool allowed;       /* r is in route.regions */
    bool fallback;      /* r is in route.fallback */
    bool healthy;       /* healthy and not drained */
};

/* A zone's routing decision and the memory hysteresis needs. */
struct px_route_state {
    int current;                   /* index into conf->regions; -1 = none (reject, 503) */
    int secondary;                 /* slow start: region sharing traffic with current; -1 none */
    double share;                  /* fraction of requests for current, 0..1; 1 without secondary */
    int candidate;                 /* best candidate beating current by the margin; -1 none */
    int away_from;                 /* allowed region left on failover, while still out; -1 none */
    double evidence;               /* S, ms*s: accumulated excess gain of the best candidate */
    double excess_ms;              /* gain - margin at the last decision (integrated next) */
    uint64_t evidence_at_ms;       /* time of the last decision that updated S */
    double size_bytes;             /* the typical response size the last decision used */
    uint64_t switched_ms;          /* last change of current */
    uint32_t switches;             /* changes of current after the first decision, count */
    enum px_route_reason reason;   /* of the last decision */
    char why[128];                 /* the reason as text, e.g. "held" or "switched: ..." */
    struct px_route_score *scores; /* owned, nscores entries (one per conf region) */
    size_t nscores;
};

/*
 * Initialises ST for a conf with NREGIONS regions: no decision yet
 * (current -1, reason NONE). Returns 0, or PX_ENOMEM (ST is then disposed
 * and may be disposed again). Release with px_route_state_dispose().
 */
int px_route_state_init(struct px_route_state *st, size_t nregions);

/* Releases what ST owns; ST may be initialised again. Accepts NULL. */
void px_route_state_dispose(struct px_route_state *st);

/*
 * Decides where zone CF->zones[ZONE_IDX] (or one of its classes: the caller keeps a state
 * and a size per class, and the candidates are the zone's either way) goes at
 * NOW_MS, given the state of every configured region in REGIONS
 * (CF->nregions entries, borrowed) and the mean response body SIZE_BYTES
 * of its traffic (0 = unknown: latency only), and updates ST: current,
 * secondary/share, evidence, reason/why, scores and the switch counter. ST must have been
 * initialised with CF->nregions. After a reload that changes the region list, the caller
 * re-initialises the state (or maps current by name) before deciding. Returns true when `current`
 * changed (the caller logs it once), else false.
 */
bool px_router_decide(const struct conf *cf, size_t zone_idx, const struct px_region_view *regions,
                      double size_bytes, uint64_t now_ms, struct px_route_state *st);

/*
 * Writes into OUT (room for st->nscores entries) the regions a request of
 * ST's zone may try, best first: the healthy allowed regions by total score,
 * then the healthy fallback regions by total score (ties: lower index
 * first), as scored by the last px_router_decide(). Returns how many.
 */
unsigned px_router_failover_order(const struct px_route_state *st, uint16_t *out);

#endif
