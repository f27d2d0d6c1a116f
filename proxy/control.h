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
struct px_admin;

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
    uv_async_t wake;      /* from other threads: stop, reload */
    uv_timer_t tick;      /* drain signals, decide, publish */
    uv_timer_t geo_timer; /* checks the geo database files for changes */
    atomic_bool stop_requested;
    atomic_bool reload_requested; /* SIGHUP: reload on the next wake */

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
    struct px_admin *admin;  /* owned (frees itself once closed); NULL when off */
    uint64_t reloads_ok;     /* config reloads applied, count */
    uint64_t reloads_failed; /* config reloads rejected, count */
    char geo_error[1024];    /* last geo database reload failure, logged once */

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

/*
 * Frees what CTL owns once its loop has no open handle (px_control_join()
 * after the thread ended; tests that never started the thread close the
 * handles themselves first).
 */
void px__control_dispose(struct px_control *ctl);

/* Asks the control thread, from any thread, to reload the config file (SIGHUP). */
void px_control_reload_async(struct px_control *ctl);

/*
 * Reloads the config file on the control thread: parses and validates it
 * into a new snapshot (unchanged geo databases are shared), and on success
 * swaps it in for the control thread and every worker, keeping the health,
 * RTT, ejection and route state (the layout of listeners, regions, backends
 * and zones must be the same; see the comment in control.c). Returns 0, or
 * -1 with "FILE:LINE:COL: ..." lines in ERR, the old config staying in
 * force. Either way the result is counted and logged once.
 */
int px_control_reload(struct px_control *ctl, char *err, size_t errlen);

/* Flattened index of backend B of region R. */
static inline size_t px_control_backend_index(const struct px_control *ctl, size_t r, size_t b)
{
    return ctl->region_first[r] + b;
}

#endif
