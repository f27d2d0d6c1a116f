/*
 * backend: a backend as one worker sees it, and the choice of one for a
 * request (HAProxy's src/backend.c: assign_server, connect_server). Picks a
 * backend through the request's view of the fleet, reuses a pooled
 * connection or opens one, keeps the worker off a backend it just failed to
 * reach, and spends the worker's retry budget on further attempts.
 */
#ifndef PX_BACKEND_H
#define PX_BACKEND_H

#include "proxy/base/list.h"
#include "proxy/data/balancer.h"
#include "proxy/data/retry.h"
#include "proxy/state/fleet.h"
#include "proxy/state/routes.h"
#include "proxy/state/signals.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct px_worker;
struct px_wview;
struct px_upstream;
struct px_upstream_ops;
struct conf;

#define PX_BACKEND_BACKOFF_MS 500 /* a worker skips a backend it failed to reach for this long */

/*
 * A backend as one worker sees it: its idle pool and recent failures. It
 * lives while a view lists it or a connection uses it (refs, plain: one
 * thread); once the fleet drops it, it is retired: its pool is closed and it
 * gets no new requests, but a request already on it finishes.
 */
struct px_backend {
    struct px_bdesc *desc;   /* one reference: address, region name, in-flight counters */
    struct px_fleet_tls tls; /* borrowed from the newest fleet listing it: upstream TLS */
    struct px_list idle;     /* pooled px_upstream, most recent first */
    unsigned nidle;
    unsigned fails;       /* consecutive connect failures */
    uint64_t retry_at_ms; /* skipped until then after failures */
    unsigned refs;        /* views listing it + upstreams on it */
    bool retired;         /* no longer in the current fleet */
};

/* A worker's state for choosing backends, owned by the worker, used only here. */
struct px_backend_ctx {
    struct px_balancer_peer *peers; /* owned scratch, npeers: one per backend of a region */
    size_t npeers;
    struct px_retry_budget budget; /* retries allowed over first attempts */
};

/* One request's choice across its attempts; embedded in the exchange, zeroed
 * (region -1) before the first. */
struct px_pick {
    struct px_backend *backend; /* borrowed from the view: the last one tried */
    uint64_t tried;             /* bitmask of the view's backend indexes tried */
    uint64_t sent_ms;           /* loop time the request went to the current backend */
    int region;                 /* region of the current attempt, -1 = none or reject */
    uint8_t cls;                /* the request's class in its zone (state/classes.h), 0 = none */
    enum px_route_reason why;   /* why the zone's route chose the region */
    unsigned attempts;
};

/* Takes a reference on B for an upstream connection. */
static inline void px_backend_ref(struct px_backend *b)
{
    b->refs++;
}

/* Drops a reference on B; the last frees it. */
void px_backend_unref(struct px_backend *b);

/* Adds DELTA (+1 or -1) to worker WID's in-flight count on B. */
static inline void px_backend_inflight_add(struct px_backend *b, unsigned wid, int delta)
{
    _Atomic unsigned *n = &b->desc->inflight[wid];
    atomic_store_explicit(n, atomic_load_explicit(n, memory_order_relaxed) + (unsigned)delta,
                          memory_order_relaxed);
}

/* Worker WID's in-flight count on B. */
static inline unsigned px_backend_inflight(const struct px_backend *b, unsigned wid)
{
    return atomic_load_explicit(&b->desc->inflight[wid], memory_order_relaxed);
}

/* Grows CTX's scratch to N peers. Returns 0 or PX_ENOMEM. */
int px_backend_ctx_reserve(struct px_backend_ctx *ctx, size_t n);

/* Frees what CTX owns. */
void px_backend_ctx_dispose(struct px_backend_ctx *ctx);

/*
 * True for the implicit default zone (a config without zones): it has no
 * residency to protect, so when health checks say nothing is up it still
 * tries every backend (Envoy's panic routing).
 */
bool px_backend_panic_zone(const struct conf *cf, int zone);

/*
 * The view's index of the backend for P's next attempt by a request of
 * ZONE in view V: first the region the zone's route picks (recorded in P),
 * on a retry another backend of the same region, else the next region in
 * the zone's failover order, so a retry never breaks residency. Only
 * usable, untried backends this worker has not just failed to reach are
 * candidates. Returns -1 when none is left.
 */
int px_backend_pick(struct px_worker *w, const struct px_wview *v, int zone, struct px_pick *p);

/*
 * Gives P's next attempt a connection: picks a backend (px_backend_pick)
 * and takes a pooled connection or starts a connect, attached to the user
 * DATA with OPS; *UP is set to it and counted in flight. Returns 1 when *UP
 * is a pooled connection, ready now; 0 when connecting (ops->on_connect
 * follows, never synchronously); PX_EBUDGET when a retry would overspend
 * the worker's retry budget; PX_ENOBACKEND when no backend is left.
 */
int px_backend_connect(struct px_worker *w, const struct px_wview *v, int zone, struct px_pick *p,
                       const struct px_upstream_ops *ops, void *data, struct px_upstream **up);

/* Starts a fresh connection to P's current backend (its pooled one died
 * idle). Returns 0 (on_connect follows) or a negative error. */
int px_backend_reconnect(struct px_worker *w, struct px_pick *p, const struct px_upstream_ops *ops,
                         void *data, struct px_upstream **up);

/* A connect to B succeeded: its backoff ends. */
void px_backend_connected(struct px_backend *b);

/* A connect to B failed: this worker skips it for PX_BACKEND_BACKOFF_MS. */
void px_backend_connect_failed(struct px_worker *w, struct px_backend *b);

/* Reports a passive health signal about P's current backend, if any. */
void px_backend_signal(struct px_worker *w, const struct px_pick *p, enum px_outcome outcome);

#endif
