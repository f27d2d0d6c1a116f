/*
 * backend: choosing a backend for a request and getting it a connection.
 * Health, ejection and their backoff belong to the control thread, which
 * publishes them in the routing table; the worker adds only what it knows
 * first: its own in-flight counts and the backends it just failed to reach.
 */
#include "proxy/data/backend.h"
#include "proxy/state/classes.h"
#include "proxy/base/log.h"
#include "proxy/base/px.h"
#include "proxy/data/pool.h"
#include "proxy/data/upstream.h"
#include "proxy/data/worker.h"

#include <stdlib.h>

void px_backend_unref(struct px_backend *b)
{
    if (--b->refs > 0)
        return;
    px_bdesc_unref(b->desc);
    free(b);
}

int px_backend_ctx_reserve(struct px_backend_ctx *ctx, size_t n)
{
    if (n <= ctx->npeers)
        return 0;
    struct px_balancer_peer *p = realloc(ctx->peers, n * sizeof(*p));
    if (p == NULL)
        return PX_ENOMEM;
    ctx->peers = p;
    ctx->npeers = n;
    return 0;
}

void px_backend_ctx_dispose(struct px_backend_ctx *ctx)
{
    free(ctx->peers);
    ctx->peers = NULL;
    ctx->npeers = 0;
}

static inline const struct conf *view_conf(const struct px_wview *v)
{
    return px_fleet_conf(v->routes->fleet);
}

static bool tried(const struct px_pick *p, size_t i)
{
    return i < 64 && (p->tried & (1ull << i));
}

bool px_backend_panic_zone(const struct conf *cf, int zone)
{
    return cf->zones[zone].implicit;
}

/*
 * Power of two choices among region R's backends that the control thread
 * says are usable (or all, in PANIC), P has not tried, and this worker has
 * not just failed to reach. Returns the backend's index in V, or -1.
 */
static int pick_in_region(struct px_worker *w, const struct px_wview *v, const struct px_pick *p,
                          size_t r, bool panic)
{
    const struct px_routes *rt = v->routes;
    struct px_balancer_peer *peers = w->backends.peers;
    size_t first = rt->fleet->region_first[r], n = rt->fleet->region_first[r + 1] - first;
    uint64_t now = uv_now(&w->loop);

    for (size_t i = 0; i < n; i++) {
        const struct px_backend *b = v->bk[first + i];
        const struct px_routes_backend *rb = &rt->backends[first + i];
        peers[i] = (struct px_balancer_peer){
            .load_ms = rb->load_ms,
            .inflight = px_backend_inflight(b, w->id),
            .weight = rb->weight,
            .up_since_ms = rb->up_since_ms,
            .usable = (rb->usable || panic) && !b->retired && !tried(p, first + i) &&
                      b->retry_at_ms <= now,
        };
    }
    int i = px_balancer_pick(peers, n, view_conf(v)->routing.slow_start_ms, now, &w->rng);
    return i < 0 ? -1 : (int)(first + (size_t)i);
}

int px_backend_pick(struct px_worker *w, const struct px_wview *v, int zone, struct px_pick *p)
{
    const struct px_routes *rt = v->routes;
    /* Each class of a zone has its own route (its own entry in the table). */
    size_t ri = px_class_route(view_conf(v), (size_t)zone, p->cls);
    const struct px_routes_zone *rz = &rt->zones[ri];
    bool panic = px_backend_panic_zone(view_conf(v), zone);
    int i;

    if (p->attempts == 0) {
        p->region = px_routes_pick(rt, ri, &w->rng);
        p->why = rz->reason;
        if (p->region < 0 && !panic)
            return -1;
    }
    if (p->region >= 0 && (i = pick_in_region(w, v, p, (size_t)p->region, false)) >= 0)
        return i;
    for (unsigned k = 0; k < rz->norder; k++) {
        if ((int)rz->order[k] == p->region)
            continue;
        if ((i = pick_in_region(w, v, p, rz->order[k], false)) >= 0) {
            p->region = rz->order[k];
            return i;
        }
    }
    if (panic) {
        const struct conf_route *route = &view_conf(v)->zones[zone].route;
        for (size_t k = 0; k < route->nregions; k++) {
            if ((i = pick_in_region(w, v, p, route->regions[k], true)) >= 0) {
                p->region = (int)route->regions[k];
                return i;
            }
        }
    }
    return -1;
}

int px_backend_connect(struct px_worker *w, const struct px_wview *v, int zone, struct px_pick *p,
                       const struct px_upstream_ops *ops, void *data, struct px_upstream **up)
{
    const struct conf *cf = view_conf(v);
    uint64_t now = uv_now(&w->loop);
    int err;

    if (p->attempts == 0)
        px_retry_budget_request(&w->backends.budget, now);
    while (p->attempts <= cf->limits.retries) {
        if (p->attempts > 0 &&
            !px_retry_budget_try(&w->backends.budget, now, cf->routing.retry_budget_pct))
            return PX_EBUDGET;
        int i = px_backend_pick(w, v, zone, p);
        if (i < 0)
            break;
        struct px_backend *b = p->backend = v->bk[i];
        p->attempts++;
        if (i < 64)
            p->tried |= 1ull << i;
        if ((*up = px_pool_acquire(b, ops, data)) != NULL) {
            px_backend_inflight_add(b, w->id, 1);
            return 1;
        }
        if ((*up = px_upstream_connect(w, b, ops, data, &err)) != NULL) {
            px_backend_inflight_add(b, w->id, 1);
            return 0;
        }
        px_backend_connect_failed(w, b);
    }
    return PX_ENOBACKEND;
}

int px_backend_reconnect(struct px_worker *w, struct px_pick *p, const struct px_upstream_ops *ops,
                         void *data, struct px_upstream **up)
{
    int err;
    if ((*up = px_upstream_connect(w, p->backend, ops, data, &err)) == NULL)
        return err;
    px_backend_inflight_add(p->backend, w->id, 1);
    return 0;
}

void px_backend_connected(struct px_backend *b)
{
    b->fails = 0;
    b->retry_at_ms = 0;
}

/*
 * The backoff only bridges the moment until the control thread (which owns
 * health, ejection and their backoff, and logs the transitions) has taken
 * the signal in: its tick is far shorter.
 */
void px_backend_connect_failed(struct px_worker *w, struct px_backend *b)
{
    if (b->fails++ == 0)
        px_log(PX_LOG_DEBUG, NULL, "event=connect_backoff backend=%s region=%s ms=%d",
               b->desc->addr.text, b->desc->region, PX_BACKEND_BACKOFF_MS);
    b->retry_at_ms = uv_now(&w->loop) + PX_BACKEND_BACKOFF_MS;
}

void px_backend_signal(struct px_worker *w, const struct px_pick *p, enum px_outcome outcome)
{
    if (p->backend == NULL)
        return;
    uint64_t ms = uv_now(&w->loop) - p->sent_ms;
    bool head = outcome == PX_OUTCOME_OK || outcome == PX_OUTCOME_HTTP_5XX;
    px_signals_put(&w->port.signals, p->backend->desc->id, outcome, (double)ms);
    px_stats_backend(&p->backend->desc->stats[w->id], outcome != PX_OUTCOME_OK, head, ms * 1000);
}
