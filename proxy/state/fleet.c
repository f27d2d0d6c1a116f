/*
 * fleet: descriptors and backend sets. Reference counts are atomic because
 * the last holder may be any thread: the control thread, a worker's view,
 * or a worker's pooled connection to a removed backend.
 */
#include "proxy/state/fleet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct px_bdesc *px_bdesc_new(uint32_t id, const struct conf_addr *addr, const char *region,
                              unsigned nworkers)
{
    /* The counters follow the in-flight array, each worker's on its own cache lines. */
    size_t off = (sizeof(struct px_bdesc) + nworkers * sizeof(_Atomic unsigned) + 63) & ~(size_t)63;
    size_t each = sizeof(struct px_bstats); /* a multiple of 64: its first member is aligned */
    struct px_bdesc *d = aligned_alloc(64, off + nworkers * each);
    if (d == NULL)
        return NULL;
    memset(d, 0, off + nworkers * each);
    d->stats = (struct px_bstats *)((char *)d + off);
    atomic_init(&d->refs, 1);
    d->id = id;
    d->addr = *addr;
    snprintf(d->region, sizeof(d->region), "%s", region);
    d->nworkers = nworkers;
    return d;
}

struct px_bdesc *px_bdesc_ref(struct px_bdesc *d)
{
    atomic_fetch_add(&d->refs, 1);
    return d;
}

void px_bdesc_unref(struct px_bdesc *d)
{
    if (d && atomic_fetch_sub(&d->refs, 1) == 1)
        free(d);
}

unsigned px_bdesc_inflight(const struct px_bdesc *d)
{
    unsigned n = 0;
    for (unsigned w = 0; w < d->nworkers; w++)
        n += atomic_load_explicit((_Atomic unsigned *)&d->inflight[w], memory_order_relaxed);
    return n;
}

struct px_fleet *px_fleet_new(struct px_snapshot *snap, size_t nbackends)
{
    const struct conf *cf = snap->cfg->conf;
    struct px_fleet *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return NULL;
    atomic_init(&f->refs, 1);
    f->snap = px_snapshot_ref(snap);
    f->nbackends = nbackends;
    f->backends = calloc(nbackends ? nbackends : 1, sizeof(*f->backends));
    f->tls = calloc(nbackends ? nbackends : 1, sizeof(*f->tls));
    f->region_first = calloc(cf->nregions + 1, sizeof(*f->region_first));
    f->zone_slot = calloc(cf->nzones ? cf->nzones : 1, sizeof(*f->zone_slot));
    f->region_slot = calloc(cf->nregions ? cf->nregions : 1, sizeof(*f->region_slot));
    if (!f->backends || !f->tls || !f->region_first || !f->zone_slot || !f->region_slot) {
        px_fleet_unref(f);
        return NULL;
    }
    return f;
}

struct px_fleet *px_fleet_ref(struct px_fleet *f)
{
    atomic_fetch_add(&f->refs, 1);
    return f;
}

void px_fleet_unref(struct px_fleet *f)
{
    if (f == NULL || atomic_fetch_sub(&f->refs, 1) != 1)
        return;
    for (size_t i = 0; f->backends && i < f->nbackends; i++)
        px_bdesc_unref(f->backends[i]);
    for (size_t i = 0; f->tls && i < f->nbackends; i++)
        free(f->tls[i].own_host);
    free(f->backends);
    free(f->tls);
    free(f->region_first);
    free(f->zone_slot);
    free(f->region_slot);
    px_snapshot_unref(f->snap);
    free(f);
}
