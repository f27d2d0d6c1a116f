/*
 * control: the control thread. Its own uv loop runs the active probes of
 * every backend, drains the workers' passive signals, keeps health, RTT and
 * ejection state, asks the router for every zone's region on a short tick,
 * and publishes the resulting routing table to the workers. It is the only
 * writer of health state, so none of it needs a lock.
 */
#ifndef PX_CONTROL_H
#define PX_CONTROL_H

#include "proxy/control/admit.h"
#include "proxy/control/dns.h"
#include "proxy/state/fleet.h"
#include "proxy/control/health.h"
#include "proxy/control/probe.h"
#include "proxy/base/rng.h"
#include "proxy/control/router.h"
#include "proxy/state/routes.h"
#include "proxy/state/port.h"
#include "proxy/state/snapshot.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <uv.h>

struct px_worker;

/*
 * Something else that lives on the control loop: the admin listener. main.c
 * starts it on ctl->loop before the thread runs (so control/ never includes
 * admin/); the control thread calls close() when it stops.
 */
struct px_control_guest {
    void (*close)(struct px_control_guest *g);
    /* Stops serving, leaving the socket to a successor (its file stays). */
    void (*release)(struct px_control_guest *g);
};

/* One backend as the control thread tracks it. */
struct px_cbackend {
    uv_timer_t probe_timer;
    struct px_control *ctl;           /* borrowed back-pointer */
    struct px_bdesc *desc;            /* one reference: identity and address */
    const struct conf_backend *conf;  /* the entry it comes from, in the current config */
    size_t region;                    /* index into the current config's regions */
    unsigned weight;                  /* the entry's weight, or the SRV record's */
    char target[PX_DNS_NAME_MAX + 1]; /* SRV: the target name it was found under, else "" */
    struct px_health health;
    struct px_probe *probe;  /* in flight, or NULL; frees itself */
    uv_timer_t bulk_timer;   /* the next bulk probe (probe.bulk), when configured */
    struct px_probe *bulk;   /* bulk probe in flight, or NULL; frees itself */
    uint64_t bulk_probes;    /* bulk probes that read a 2xx body (fed to the goodput), count */
    uint64_t bulk_failures;  /* bulk probes that failed, count */
    unsigned closing;        /* timers still closing before the record is freed */
    int last_err;            /* last probe's error (0 = ok) */
    int last_status;         /* last probe's HTTP status */
    uint64_t last_probe_ms;  /* when the last probe finished; 0 = not yet */
    uint64_t probe_failures; /* probes that failed, count */
    /* Scratch while a fleet is built: listed again, and what it will be. */
    bool keep;
    const struct conf_backend *next_conf;
    size_t next_region;
    unsigned next_weight;
    char next_target[PX_DNS_NAME_MAX + 1];
};

/* A backend entry given by name or SRV, and its last good DNS answer. */
struct px_cname {
    struct px_control *ctl;          /* borrowed back-pointer */
    struct px_dns_watch *watch;      /* owned by ctl->dns */
    const struct conf_backend *conf; /* the entry, in the current config */
    char region[CONF_NAME_MAX + 1];
    struct px_dns_addr *addrs; /* owned, naddrs: the last good answer */
    size_t naddrs;
    bool answered;         /* some answer arrived (naddrs may still be 0 after a change) */
    bool keep;             /* scratch while a reload matches entries */
    uint64_t refused;      /* answers refused by discovery rules (the last good set stays) */
    uint64_t capped;       /* answers cut to discovery.max_addresses */
    const char *refusal;   /* static: why the last refused answer was refused; NULL: none */
    char refused_addr[64]; /* the address that made it refused */
};

/* Names seen since start, each with a fixed slot in the workers' stats. */
struct px_slots {
    char (*names)[CONF_NAME_MAX + 1]; /* owned, cap entries, n used */
    size_t n, cap;
};

struct px_control {
    uv_loop_t loop;
    uv_thread_t thread;
    uv_async_t wake;      /* from other threads: stop, reload */
    uv_timer_t tick;      /* drain signals, decide, publish */
    uv_timer_t geo_timer; /* checks the geo database files for changes */
    atomic_bool stop_requested;
    atomic_bool reload_requested;  /* SIGHUP: reload on the next wake */
    atomic_bool lame_duck;         /* shutting down: /readyz answers 503 (set by main) */
    atomic_bool release_admin;     /* a successor took the admin socket: stop serving it */
    _Atomic uint64_t lame_duck_ms; /* timeouts.lame_duck of the config in force, for main */

    struct px_snapshot *snap;      /* one reference: the config it works on */
    struct px_local_addrs local;   /* the host's addresses, for discovery's self check */
    struct px_fleet *fleet;        /* one reference: the backends in service, on snap */
    struct px_cbackend **backends; /* owned, nbackends, in the fleet's order */
    struct px_cbackend **by_id;    /* owned, nbackends, the same sorted by desc->id */
    size_t nbackends;
    uint32_t next_id;                 /* of the next new backend */
    bool fleet_dirty;                 /* a DNS answer changed: rebuild on the next tick */
    struct px_region_state *regions;  /* owned, nregions */
    const struct px_health **scratch; /* owned, nbackends: region views for px_health_* */
    struct px_route_state *states;    /* owned, conf->nroutes: per zone and class (routes.h) */
    struct px_slots zone_slots, region_slots;
    /* owned, zone_slots.cap * PX_CLASS_SLOTS: response sizes by zone slot and class */
    struct px_size_mean *sizes;
    struct px_rng rng;

    struct px_dns *dns;      /* owned; NULL until a config names a backend by DNS */
    struct px_cname **names; /* owned, nnames: every name and SRV entry */
    size_t nnames;

    struct px_port **ports;        /* borrowed, nworkers: each worker's mailbox */
    const struct px_process *proc; /* borrowed: process-wide counters */
    unsigned nworkers;
    /* Held while this thread publishes to the workers or reads their stats;
     * once detached (shutdown) it leaves them alone: their loops, and with
     * them the wake-up fds, are going away. */
    uv_mutex_t workers_lock;
    bool workers_detached;
    struct px_routes *routes; /* one reference: the table last published */
    uint64_t started_ms;
    uint64_t published_ms; /* when the last table went out */
    bool dirty;            /* backend state changed since then */
    unsigned pending_closes;
    struct px_control_guest *admin; /* owned (frees itself once closed); NULL when off */
    uint64_t reloads_ok;            /* config reloads applied, count */
    uint64_t reloads_failed;        /* config reloads rejected, count */
    bool last_reload_failed;        /* the last reload was rejected */
    uint64_t config_loaded_unix_s;  /* wall time the config in force was loaded */
    char geo_error[1024];           /* last geo database reload failure, logged once */

    /* Start-up: workers start once every backend has been probed once and
     * every name answered (or the first probe and DNS timeouts have passed),
     * so the first routes are measured. */
    uv_mutex_t ready_lock;
    uv_cond_t ready_cond;
    bool ready;
};

/*
 * Prepares CTL on SNAP (takes a reference) for WORKERS, whose stats have
 * px_stats_slots() zone and region slots for SNAP's config. Returns 0,
 * PX_ENOMEM, UV_EINVAL (DNS settings refused) or a negative libuv error.
 */
int px_control_init(struct px_control *ctl, struct px_snapshot *snap, struct px_port **ports,
                    unsigned nworkers, const struct px_process *proc);

/* Starts the control thread and waits (bounded) until the first routing
 * table is published. Returns 0 or a negative libuv error. */
int px_control_start(struct px_control *ctl);

/*
 * Stops every use of the workers (publication, stats) before they are
 * joined: a routing table sent to a worker whose loop is closed would write
 * to a closed wake-up fd. Any thread; waits for a publication in progress.
 */
void px_control_detach_workers(struct px_control *ctl);

/*
 * Locks the workers for the control thread: returns true with the lock held
 * (release with px__control_workers_unlock), or false, unlocked, once
 * detached.
 */
bool px__control_workers_lock(struct px_control *ctl);
void px__control_workers_unlock(struct px_control *ctl);

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

/* Turns /readyz to 503 for the rest of the process's life (any thread). */
static inline void px_control_set_lame_duck(struct px_control *ctl)
{
    atomic_store(&ctl->lame_duck, true);
}

/* The config in force's timeouts.lame_duck, in ms (any thread). */
static inline uint64_t px_control_lame_duck_ms(struct px_control *ctl)
{
    return atomic_load(&ctl->lame_duck_ms);
}

/*
 * Asks the control thread, from any thread, to stop serving the admin
 * listener, whose socket a successor took over (takeover): it stops
 * accepting and closes its connections, and a unix socket's file stays.
 */
void px_control_release_admin(struct px_control *ctl);

/* Asks the control thread, from any thread, to reload the config file (SIGHUP). */
void px_control_reload_async(struct px_control *ctl);

/*
 * Reloads the config file on the control thread: parses and validates it
 * into a new snapshot (unchanged geo databases are shared), and on success
 * swaps it in for the control thread and every worker. Regions, zones and
 * backends may come and go; the ones that stay (by name, and backends by
 * region and address) keep their health, RTT, ejection and route state.
 * Listeners, workers, the access log and the admin listener take a restart
 * (see check_layout in control.c). Returns 0, or
 * -1 with "FILE:LINE:COL: ..." lines in ERR, the old config staying in
 * force. Either way the result is counted and logged once.
 */
int px_control_reload(struct px_control *ctl, char *err, size_t errlen);

/*
 * Sums every worker's stats into S, which it initialises with the workers'
 * dimensions (the caller disposes S). Control thread. Once the workers are
 * detached S stays zero. Returns 0 or PX_ENOMEM.
 */
int px_control_scrape(struct px_control *ctl, struct px_stats *s);

/* The stats slot of zone NAME (see struct px_slots), or -1 when it has none. */
int px_control_zone_slot(const struct px_control *ctl, const char *name);

/* The stats slot of region NAME, or -1 when it has none. */
int px_control_region_slot(const struct px_control *ctl, const char *name);

/*
 * Returns whether zone Z has no region to go to: none of its allowed and
 * fallback regions is healthy and undrained, counting region ALSO_DRAINED
 * (-1: none) as drained. Control thread only.
 */
bool px_control_zone_stranded(const struct px_control *ctl, size_t z, int also_drained);

/*
 * Drains (ON) or undrains the region named NAME, on the control thread.
 * Draining a region that would leave some zone without any region (its
 * only allowed region with `fallback: reject`, or every region it may use)
 * is refused unless FORCE; either way the zones are named in ERR ("a, b")
 * and the event is logged. Returns 0 (ERR names the zones a forced drain
 * left without a region, or is empty), UV_ENOENT (no such region) or
 * UV_EBUSY (refused).
 */
int px_control_drain(struct px_control *ctl, const char *name, bool on, bool force, char *err,
                     size_t errlen);

#define PX_CLASS_SLOTS (1 + CONF_CLASSES_MAX) /* a zone's other requests, then each class */

/* The route state of class CLS (0: the zone's other requests) of zone Z. */
static inline struct px_route_state *px_control_route(const struct px_control *ctl, size_t z,
                                                      size_t cls)
{
    return &ctl->states[ctl->snap->cfg->conf->zones[z].route_first + cls];
}

/* The backends of region R in the fleet: ctl->backends[*first .. *end). */
static inline void px_control_region_span(const struct px_control *ctl, size_t r, size_t *first,
                                          size_t *end)
{
    *first = ctl->fleet->region_first[r];
    *end = ctl->fleet->region_first[r + 1];
}

/* Internal to control.c and discovery.c (the control thread's backends). */
void px__control_probe_timer(uv_timer_t *t);
void px__control_start_probes(struct px_control *ctl);
void px__control_stop_probes(struct px_control *ctl);
void px__control_close_backends(struct px_control *ctl);
struct px_cbackend *px__control_find(const struct px_control *ctl, uint32_t id);
int px__control_slots_init(struct px_slots *s, size_t cap);
int px__control_slot_find(const struct px_slots *s, const char *name); /* -1: none */
/* NAME's slot, added when new; the caller checked room with px__control_slots_check(). */
uint16_t px__control_slot_add(struct px_slots *s, const char *name);
int px__control_slots_check(struct px_control *ctl, const struct conf *cf, char *err,
                            size_t errlen);
void px__control_addr_from_dns(const struct px_dns_addr *d, struct conf_addr *out);
int px__control_dns_check(struct px_control *ctl, const struct conf *cf, char *err, size_t errlen);
int px__control_sync_names(struct px_control *ctl, const struct conf *cf);
void px__control_close_names(struct px_control *ctl);
bool px__control_names_settled(const struct px_control *ctl);
int px__control_build_fleet(struct px_control *ctl, struct px_snapshot *snap);

#endif
