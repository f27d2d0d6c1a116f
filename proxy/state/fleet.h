/*
 * fleet: the set of backends in service, as the control thread last built
 * it from the config and the DNS answers. A fleet is immutable and shared
 * by reference count; it travels to the workers inside the routing table.
 * A backend that survives a rebuild (same region, same address) keeps its
 * px_bdesc, so workers keep its pool and the control thread its health.
 *
 * The fleet also carries the snapshot (config and geo databases) it was
 * built on, so a worker always sees a config, its backends and the routes
 * decided on them as one consistent set.
 */
#ifndef PX_FLEET_H
#define PX_FLEET_H

#include "conf/conf.h"
#include "proxy/state/snapshot.h"
#include "proxy/state/stats.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/*
 * One backend's identity: where to connect and what to call it. Immutable
 * but for the per-worker in-flight counters, each written only by its own
 * worker (relaxed load and store) and summed by the admin endpoint.
 */
struct px_bdesc {
    atomic_uint refs;
    uint32_t id;                    /* unique for the process's lifetime */
    struct conf_addr addr;          /* where to connect; text for logs */
    char region[CONF_NAME_MAX + 1]; /* the region it belongs to, for logs */
    unsigned nworkers;              /* entries of inflight and stats */
    struct px_bstats *stats;        /* per worker, in this allocation: its counts */
    _Atomic unsigned inflight[];    /* per worker: requests on it now */
};

/*
 * Upstream TLS of one fleet backend. The context is borrowed from the
 * fleet's snapshot; the name to verify and send when the entry's tls sets
 * no sni is a name entry's name (borrowed from the config), or an SRV
 * backend's target name (own_host, owned by the fleet); NULL: its address.
 */
struct px_fleet_tls {
    struct px_tls_client *ctx; /* NULL = plain TCP */
    const char *host;          /* NULL, the config's name, or own_host */
    char *own_host;            /* owned: an SRV target's name; NULL otherwise */
};

struct px_fleet {
    atomic_uint refs;
    uint64_t generation;        /* increases with every fleet built */
    struct px_snapshot *snap;   /* one reference: the config and geo databases */
    struct px_bdesc **backends; /* nbackends, one reference each; grouped by region */
    size_t nbackends;
    struct px_fleet_tls *tls; /* owned, nbackends: how to speak TLS to each */
    size_t *region_first;     /* nregions + 1: region r is [region_first[r], region_first[r + 1]) */
    uint16_t *zone_slot;      /* nzones: each zone's slot in the workers' stats */
    uint16_t *region_slot;    /* nregions: each region's slot in the workers' stats */
};

/* A new descriptor with one reference, zero in-flight; NULL without memory. */
struct px_bdesc *px_bdesc_new(uint32_t id, const struct conf_addr *addr, const char *region,
                              unsigned nworkers);

struct px_bdesc *px_bdesc_ref(struct px_bdesc *d);

/* Drops one reference; the last frees D. Accepts NULL. */
void px_bdesc_unref(struct px_bdesc *d);

/* Requests on D from every worker now (relaxed reads; any thread). */
unsigned px_bdesc_inflight(const struct px_bdesc *d);

/*
 * A fleet on SNAP (takes a reference) with room for NBACKENDS descriptors,
 * all NULL, and the region and zone tables of SNAP's config zeroed; the
 * caller fills them (taking a reference per descriptor). refs = 1.
 */
struct px_fleet *px_fleet_new(struct px_snapshot *snap, size_t nbackends);

struct px_fleet *px_fleet_ref(struct px_fleet *f);

/* Drops one reference; the last frees F and drops what it holds. Accepts NULL. */
void px_fleet_unref(struct px_fleet *f);

static inline const struct conf *px_fleet_conf(const struct px_fleet *f)
{
    return f->snap->cfg->conf;
}

#endif
