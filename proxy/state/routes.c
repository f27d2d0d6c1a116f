/*
 * routes: one allocation per table, so publishing ten tables a second costs
 * ten mallocs, and freeing is one free whichever thread drops it last.
 */
#include "proxy/state/routes.h"

#include <stdlib.h>

struct px_routes *px_routes_new(struct px_fleet *fleet)
{
    const struct conf *cf = px_fleet_conf(fleet);
    size_t nroutes = cf->nroutes, nregions = cf->nregions, nbackends = fleet->nbackends;
    size_t bytes = sizeof(struct px_routes) + nroutes * sizeof(struct px_routes_zone) +
                   nbackends * sizeof(struct px_routes_backend) +
                   nregions * sizeof(struct px_routes_region) +
                   nroutes * nregions * sizeof(uint16_t);
    char *p = calloc(1, bytes);
    struct px_routes *r = (struct px_routes *)p;
    if (r == NULL)
        return NULL;
    p += sizeof(*r);
    atomic_init(&r->refs, 1);
    r->fleet = px_fleet_ref(fleet);
    r->nroutes = nroutes;
    r->nregions = nregions;
    r->nbackends = nbackends;
    r->zones = (struct px_routes_zone *)p;
    p += nroutes * sizeof(struct px_routes_zone);
    r->backends = (struct px_routes_backend *)p;
    p += nbackends * sizeof(struct px_routes_backend);
    r->regions = (struct px_routes_region *)p; /* doubles: aligned after the backends */
    p += nregions * sizeof(struct px_routes_region);
    for (size_t z = 0; z < nroutes; z++) {
        r->zones[z].order = (uint16_t *)p;
        p += nregions * sizeof(uint16_t);
    }
    return r;
}

struct px_routes *px_routes_ref(struct px_routes *r)
{
    atomic_fetch_add(&r->refs, 1);
    return r;
}

void px_routes_unref(struct px_routes *r)
{
    if (r && atomic_fetch_sub(&r->refs, 1) == 1) {
        px_fleet_unref(r->fleet);
        free(r);
    }
}

int px_routes_pick(const struct px_routes *r, size_t route, struct px_rng *rng)
{
    const struct px_routes_zone *z = &r->zones[route];
    return px_routes_split(z->current, z->secondary, z->share, rng);
}

/* Returns the short, static name of REASON. */
const char *px_route_reason_name(enum px_route_reason reason)
{
    switch (reason) {
    case PX_ROUTE_NONE:
        return "none";
    case PX_ROUTE_INITIAL:
        return "initial";
    case PX_ROUTE_BEST:
        return "best";
    case PX_ROUTE_HELD:
        return "held";
    case PX_ROUTE_SWITCHED:
        return "switched";
    case PX_ROUTE_FAILOVER:
        return "failover";
    case PX_ROUTE_RECOVERED:
        return "recovered";
    case PX_ROUTE_FALLBACK:
        return "fallback";
    case PX_ROUTE_REJECT:
        return "reject";
    }
    return "unknown";
}
