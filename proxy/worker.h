/*
 * worker: one thread, one uv loop, its own SO_REUSEPORT listeners, clients,
 * upstream pools, buffers and access log. Workers share only the immutable
 * config and one atomic connection count, so the request path takes no lock.
 */
#ifndef PX_WORKER_H
#define PX_WORKER_H

#include "conf/conf.h"
#include "proxy/list.h"
#include "proxy/log.h"
#include "proxy/balancer.h"
#include "proxy/rng.h"
#include "proxy/router.h"
#include "proxy/routes.h"
#include "proxy/signals.h"
#include "proxy/slab.h"
#include "proxy/snapshot.h"
#include "proxy/stats.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <uv.h>

/* State shared by every worker of the process. */
struct px_process {
    const struct conf *conf; /* borrowed: the startup config; lives as long as the process */
    atomic_uint nclients;    /* open client connections, all workers */
    int access_fd;           /* access log fd, -1 when off */
};

/*
 * A worker's hold on one snapshot. Exchanges count themselves in `users`
 * (plain integer: one thread), so a request never pays for an atomic; the
 * worker drops its snapshot reference once a retired hold has no users.
 */
struct px_wsnap {
    struct px_snapshot *snap; /* one reference owned */
    unsigned users;           /* exchanges started under it */
    bool retired;             /* replaced by a newer snapshot */
};

/* A backend as one worker sees it: its idle pool and recent failures. */
struct px_backend {
    const struct conf_backend *conf; /* borrowed from the config */
    const char *region;              /* borrowed: region name */
    unsigned index;                  /* flattened index (config order, all regions) */
    unsigned region_idx;             /* index into conf->regions */
    unsigned inflight;   /* this worker's requests on it now; others read it relaxed (admin) */
    struct px_list idle; /* pooled px_upstream, most recent first */
    unsigned nidle;
    unsigned fails;       /* consecutive connect failures */
    uint64_t retry_at_ms; /* skipped until then after failures */
};

struct px_worker {
    uv_loop_t loop;
    struct px_stats stats; /* written only by this worker; the control thread sums */
    unsigned id;
    struct px_process *proc; /* borrowed */
    const struct conf *conf; /* borrowed: the current snapshot's config (reload repoints it) */

    uv_tcp_t *listeners; /* owned array, nlisteners handles */
    size_t nlisteners;
    unsigned pending_closes; /* listener/worker handles still closing */

    uv_async_t wake; /* main thread → worker: start draining */
    uv_timer_t tick; /* access-log flush and drain deadline */
    atomic_bool stop_requested;
    _Atomic(struct px_snapshot *) incoming; /* published, not yet taken; one ref */
    struct px_wsnap *snap;                  /* owned: the current snapshot */
    struct geo_cache *geo_caches;           /* owned, CONF_GEO_DB_MAX decoded-record caches */

    struct px_slab_cache slabs;
    struct px_list clients; /* every open px_client */
    unsigned nclients;

    struct px_backend *backends; /* owned, nbackends: every region's, flattened */
    size_t nbackends;
    size_t *region_first;           /* owned, nregions: first backend of each region */
    struct px_balancer_peer *peers; /* owned scratch, nbackends, for the balancer */
    unsigned rr;                    /* round-robin cursor */

    _Atomic(struct px_routes *) incoming_routes; /* published, not yet taken; one ref */
    struct px_routes *routes;                    /* one reference: the table requests use */
    struct px_signals signals;                   /* passive health signals to the control thread */
    struct px_rng rng;
    struct px_retry_budget retry_budget;
    struct px_exchange *spare; /* owned: reset exchanges kept for reuse */
    unsigned nspare;

    struct px_accesslog alog;

    bool draining;
    uint64_t drain_deadline_ms;
    uv_thread_t thread;
};

/*
 * Prepares W (loop, listeners from FDS, pools) on SNAP (W takes its own
 * reference). FDS are bound listening sockets the worker takes over.
 * Returns 0 or a negative libuv error.
 */
int px_worker_init(struct px_worker *w, unsigned id, struct px_process *proc,
                   struct px_snapshot *snap, const int *fds, size_t nfds);

/* Starts W's thread. Returns 0 or a negative libuv error. */
int px_worker_start(struct px_worker *w);

/* Asks W, from any thread, to stop accepting and drain. */
void px_worker_stop(struct px_worker *w);

/* Waits for W's thread to end and frees what W owns. */
void px_worker_join(struct px_worker *w);

/*
 * Hands SNAP to W from any thread (takes its own reference); W switches to
 * it on its next loop turn. New connections and requests then use it.
 */
void px_worker_publish(struct px_worker *w, struct px_snapshot *snap);

/* Hands a routing table to W from any thread (takes its own reference). */
void px_worker_publish_routes(struct px_worker *w, struct px_routes *rt);

/* Takes a hold on W's current snapshot for one exchange. */
struct px_wsnap *px_worker_snap_hold(struct px_worker *w);

/* Releases a hold taken with px_worker_snap_hold(). Accepts NULL. */
void px_worker_snap_release(struct px_worker *w, struct px_wsnap *ws);

struct px_client;
struct px_exchange;

/*
 * Counts the finished exchange X of client C in W's stats: status class and
 * duration by zone and region, retries, and for a connection's first
 * request the client's TCP RTT (one getsockopt per connection).
 */
void px__worker_count_exchange(struct px_worker *w, struct px_client *c,
                               const struct px_exchange *x);

/* Called by client.c when a client connection is gone. */
void px__worker_client_gone(struct px_worker *w);

#endif
