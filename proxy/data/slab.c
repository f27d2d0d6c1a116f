/*
 * slab: the per-worker buffer freelist. Single-threaded by construction: each
 * worker owns its cache, so there is no lock.
 */
#include "proxy/data/slab.h"

#include <stdlib.h>

struct px_slab *px_slab_get(struct px_slab_cache *sc)
{
    struct px_slab *s = sc->free;
    if (s == NULL) {
        px_reserve_miss(&sc->r);
        return malloc(sizeof(*s));
    }
    sc->free = s->next;
    __builtin_prefetch(sc->free); /* the next taker reads its link: cold when many are out */
    px_reserve_take(&sc->r);
    return s;
}

void px_slab_put(struct px_slab_cache *sc, struct px_slab *s)
{
    if (s == NULL)
        return;
    s->next = sc->free;
    sc->free = s;
    px_reserve_put(&sc->r);
}

void px_slab_trim(struct px_slab_cache *sc)
{
    unsigned surplus = px_reserve_trim(&sc->r);
    struct px_slab **tail = &sc->free;

    if (surplus == 0)
        return;
    for (unsigned i = 0; i < sc->r.n; i++) /* the ones kept: most recently used */
        tail = &(*tail)->next;
    while (*tail) {
        struct px_slab *s = *tail;
        *tail = s->next;
        free(s);
    }
}

void px_slab_cache_dispose(struct px_slab_cache *sc)
{
    while (sc->free) {
        struct px_slab *s = sc->free;
        sc->free = s->next;
        free(s);
    }
    sc->r.n = sc->r.low = 0;
}
