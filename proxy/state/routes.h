/*
 * routes: the routing table the control thread publishes to workers: the
 * fleet it was decided on (config, geo databases and backends), per route
 * (a zone, or one of its request classes: classes.h) the chosen region
 * (with slow-start secondary and share) and the failover order, per backend
 * whether it is usable and its load for the balancer.
 * Immutable once published and shared by reference count; a worker reads
 * it on its own thread without locks.
 */
#ifndef PX_ROUTES_H
#define PX_ROUTES_H

#include "proxy/state/fleet.h"
#include "proxy/base/rng.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Why a zone is where it is. */
enum px_route_reason {
    PX_ROUTE_NONE,      /* no decision yet */
    PX_ROUTE_INITIAL,   /* first decision: the best healthy allowed region */
    PX_ROUTE_BEST,      /* the current region is the best */
    PX_ROUTE_HELD,      /* a candidate scores better, but not by the margin for hold yet */
    PX_ROUTE_SWITCHED,  /* a candidate beat the current region by the margin for hold */
    PX_ROUTE_FAILOVER,  /* the current region became unhealthy, drained or disallowed */
    PX_ROUTE_RECOVERED, /* an allowed region is healthy again after fallback or reject */
    PX_ROUTE_FALLBACK,  /* no allowed region is healthy: best healthy fallback */
    PX_ROUTE_REJECT,    /* no allowed (nor fallback) region is healthy: 503 */
};

/* Returns the short name of REASON ("best", "held", ...), static. */
const char *px_route_reason_name(enum px_route_reason reason);

/* The choice for one route: zone Z's class K is zones[cf->zones[Z].route_first + K]. */
struct px_routes_zone {
    int current;                 /* region index, -1 = reject */
    int secondary;               /* slow start: previous region, -1 = none */
    double share;                /* of requests to current while secondary >= 0 */
    enum px_route_reason reason; /* why current was chosen */
    uint16_t *order;             /* borrowed (routes' block): regions to try, best first */
    unsigned norder;             /* healthy allowed by score, then healthy fallback */
    double size_bytes;           /* the typical response size the decision used; 0 = none */
};

/* A region's cost figures at the decision, for the explain header. */
struct px_routes_region {
    double rtt_ms;      /* routing RTT of its best usable backend, ms */
    double goodput_bps; /* response body bytes/s; 0 = not measured (no transfer time) */
};

struct px_routes_backend {
    bool usable;          /* up and not ejected */
    double load_ms;       /* peak-EWMA latency for power-of-two choices */
    unsigned weight;      /* configured weight, or the SRV record's */
    uint64_t up_since_ms; /* for the balancer's slow start */
};

struct px_routes {
    atomic_uint refs;
    uint64_t generation;
    struct px_fleet *fleet; /* one reference: backends[i] describes fleet->backends[i] */
    size_t nroutes, nregions, nbackends;
    struct px_routes_zone *zones;       /* nroutes (conf->nroutes), in the same block */
    struct px_routes_backend *backends; /* nbackends, flattened in config order */
    struct px_routes_region *regions;   /* nregions, in the same block */
};

/*
 * Allocates a table for FLEET (takes a reference) in one block, sized by its
 * config and backends, all zero (refs = 1), or NULL.
 */
struct px_routes *px_routes_new(struct px_fleet *fleet);

struct px_routes *px_routes_ref(struct px_routes *r);

/* Drops one reference; the last frees the table. Accepts NULL. */
void px_routes_unref(struct px_routes *r);

/*
 * The region for one request of ROUTE (px_class_route(): a zone, or a class
 * of it): current, or secondary by share; -1 = reject.
 */
int px_routes_pick(const struct px_routes *r, size_t route, struct px_rng *rng);

/*
 * The split px_routes_pick applies, on its own so the router's tests check
 * the very rule the workers run: -1 when CURRENT is -1; SECONDARY with
 * probability 1 - SHARE while SECONDARY >= 0 and SHARE < 1; else CURRENT.
 */
static inline int px_routes_split(int current, int secondary, double share, struct px_rng *rng)
{
    if (current < 0)
        return -1;
    if (secondary >= 0 && share < 1.0 && px_rng_unit(rng) >= share)
        return secondary;
    return current;
}

#endif
