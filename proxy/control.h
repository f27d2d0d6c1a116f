/*
 * control: the control thread. Its own uv loop runs the active probes of
 * every backend, drains the workers' passive signals, keeps health, RTT and
 * ejection state, asks the router for every zone's region on a short tick,
 * and publishes the resulting routing table to the workers. It is the only
 * writer of health state, so none of it needs a lock.
 */
#ifndef PX_CONTROL_H
#define PX_CONTROL_H

#include "proxy/health.h"
#include "proxy/probe.h"
#include "proxy/rng.h"
#include "proxy/router.h"
#include "proxy/routes.h"
#include "proxy/snapshot.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <uv.h>

struct px_worker;

/* One backend as the control thread tracks it. */
struct px_cbackend {
    uv_timer_t probe_timer;
    struct px_control *ctl;          /* borrowed back-pointer */
    const struct conf_backend *conf; /* borrowed from the snapshot's config */
    size_t region;                   /* index into conf->regions */
    struct px_health health;
    struct px_probe *probe; /* in flight, or NULL; frees itself */
    int last_err;           /* last probe's error (0 = ok) */
    int last_status;        /* last probe's HTTP status */
    uint64_t last_probe_ms; /* when the last probe finished */
};

struct px_control {
    uv_loop_t loop;
    uv_thread_t thread;
    uv_async_t wake; /* from other threads: stop, drain changes */
    uv_timer_t tick; /* drain signals, decide, publish */
    atomic_bool stop_requested;

    struct px_snapshot *snap;     /* one reference: the config it works on */
    struct px_cbackend *backends; /* owned, nbackends, flattened in config order */
    size_t nbackends;
    size_t *region_first;             /* owned, nregions: index of each region's first backend */
    struct px_region_state *regions;  /* owned, nregions */
    const struct px_health **scratch; /* owned, nbackends: region views for px_health_* */
    struct px_route_state *zones;     /* owned, nzones */
    struct px_rng rng;

    struct px_worker *workers; /* borrowed, nworkers: publish and signals */
    unsigned nworkers;
    struct px_routes *routes; /* one reference: the table last published */
    uint64_t started_ms;
    uint64_t published_ms; /* when the last table went out */
    bool dirty;            /* backend state changed since then */
    unsigned pending_closes;

    /* Start-up: workers start once every backend has been probed once (or
     * the first probe timeout has passed), so the first routes are measured. */
    uv_mutex_t ready_lock;
    uv_cond_t ready_cond;
    bool ready;
};

/*
 * Prepares CTL on SNAP (takes a reference) for WORKERS. Returns 0 or a
 * negative libuv error.
 */
int px_control_init(struct px_control *ctl, struct px_snapshot *snap, struct px_worker *workers,
                    unsigned nworkers);

/* Starts the control thread and waits (bounded) until the first routing
 * table is published. Returns 0 or a negative libuv error. */
int px_control_start(struct px_control *ctl);

/* Asks the control thread to stop (any thread). */
void px_control_stop(struct px_control *ctl);

/* Waits for the control thread and frees what CTL owns. */
void px_control_join(struct px_control *ctl);

/* Flattened index of backend B of region R. */
static inline size_t px_control_backend_index(const struct px_control *ctl, size_t r, size_t b)
{
    return ctl->region_first[r] + b;
}

#endif
