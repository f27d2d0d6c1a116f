/*
 * router: per zone, which region serves it, and why (DESIGN.md "Scoring").
 * Pure logic on a caller-supplied clock; the control thread calls
 * px_router_decide() for every zone after each health update and publishes
 * each zone's choice and px_router_failover_order() in the routing table
 * (state/routes.h); workers split each request with px_routes_pick().
 *
 *   score(z, r) = rtt(r) + bias(z, r)
 *
 * Candidates are the zone's allowed `route.regions`; `route.fallback`
 * regions are used only while no allowed region is healthy, and with
 * `reject` the zone then gets -1 (503). The result is never a region outside
 * regions + fallback (residency).
 *
 * Hysteresis: the current region stays until it has been beaten by more than
 * max(min_gain_ms, min_gain_pct % of its own score) continuously for hold_ms
 * by some healthy candidate; the switch then goes to the best candidate at
 * that moment. The timer follows "the current region is beaten", not one
 * particular challenger: two challengers trading the lead must not keep a
 * clearly worse current region forever. Any decision in which the current
 * region is not beaten by the margin resets the timer. When the current
 * region is unhealthy, drained, no longer allowed, or a fallback while an
 * allowed region is healthy again, the switch to the best is immediate.
 *
 * Slow start: when a decision moves the zone to a region that became
 * healthy less than slow_start_ms ago, and the region it leaves is still
 * healthy and allowed, the state carries `secondary` = the old region and
 * `share` = (now - healthy_since) / slow_start_ms of the new one, a linear
 * ramp from 0 to 1. px_routes_pick() sends that share of requests to
 * `current` and the rest to `secondary`, so a region that comes back is
 * warmed gradually instead of taking the whole stampede. The ramp is
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
    uint64_t healthy_since_ms; /* when it last became healthy, for slow start */
};

/* The parts of one region's score in the last decision, for /status. */
struct px_route_score {
    double rtt_ms;   /* from the view, ms */
    double bias_ms;  /* route.bias_ms[r], ms */
    double total_ms; /* rtt + bias, ms */
    bool allowed;    /* r is in route.regions */
    bool fallback;   /* r is in route.fallback */
    bool healthy;    /* healthy and not drained */
};

/* A zone's routing decision and the memory hysteresis needs. */
struct px_route_state {
    int current;                   /* index into conf->regions; -1 = none (reject, 503) */
    int secondary;                 /* slow start: region sharing traffic with current; -1 none */
    double share;                  /* fraction of requests for current, 0..1; 1 without secondary */
    int candidate;                 /* best candidate beating current by the margin; -1 none */
    uint64_t beaten_since_ms;      /* since when current is beaten by the margin (if candidate) */
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
 * Decides where zone CF->zones[ZONE_IDX] goes at NOW_MS, given the state of
 * every configured region in REGIONS (CF->nregions entries, borrowed), and
 * updates ST: current, secondary/share, candidate timer, reason/why, scores
 * and the switch counter. ST must have been initialised with CF->nregions.
 * After a reload that changes the region list, the caller re-initialises
 * the state (or maps current by name) before deciding.
 * Returns true when `current` changed (the caller logs it once), else false.
 */
bool px_router_decide(const struct conf *cf, size_t zone_idx, const struct px_region_view *regions,
                      uint64_t now_ms, struct px_route_state *st);

/*
 * Writes into OUT (room for st->nscores entries) the regions a request of
 * ST's zone may try, best first: the healthy allowed regions by total score,
 * then the healthy fallback regions by total score (ties: lower index
 * first), as scored by the last px_router_decide(). Returns how many.
 */
unsigned px_router_failover_order(const struct px_route_state *st, uint16_t *out);

#endif
