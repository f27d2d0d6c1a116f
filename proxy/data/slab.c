/*
 * slab: the per-worker buffer freelist. Single-threaded by construction: each
 * worker owns its cache, so there is no lock.
 */
#include "proxy/data/slab.h"

#include <stdlib.h>

struct px_slab *px_slab_get(struct px_slab_cache *sc)
{
    struct px_slab *s = sc->free;
    if (s) {
        sc->free = s->next;
        sc->nfree--;
        return s;
    }
    return malloc(sizeof(*s));
}

void px_slab_put(struct px_slab_cache *sc, struct px_slab *s)
{
    if (s == NULL)
        return;
    if (sc->nfree >= sc->max_free) {
        free(s);
        return;
    }
    s->next = sc->free;
    sc->free = s;
    sc->nfree++;
}

void px_slab_cache_dispose(struct px_slab_cache *sc)
{
    while (sc->free) {
        struct px_slab *s = sc->free;
        sc->free = s->next;
        free(s);
    }
    sc->nfree = 0;
}
