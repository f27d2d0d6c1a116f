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
        sc->low = 0;
        return malloc(sizeof(*s));
    }
    sc->free = s->next;
    if (--sc->nfree < sc->low)
        sc->low = sc->nfree;
    return s;
}

void px_slab_put(struct px_slab_cache *sc, struct px_slab *s)
{
    if (s == NULL)
        return;
    s->next = sc->free;
    sc->free = s;
    sc->nfree++;
}

void px_slab_trim(struct px_slab_cache *sc)
{
    unsigned above_keep = sc->nfree > sc->keep ? sc->nfree - sc->keep : 0;
    unsigned surplus = sc->low < above_keep ? sc->low : above_keep;
    struct px_slab **tail = &sc->free;

    /* The list is most recently used first: keep its head, warm in cache. */
    for (unsigned i = surplus; i < sc->nfree; i++)
        tail = &(*tail)->next;
    while (*tail) {
        struct px_slab *s = *tail;
        *tail = s->next;
        free(s);
    }
    sc->nfree -= surplus;
    sc->low = sc->nfree;
}

void px_slab_cache_dispose(struct px_slab_cache *sc)
{
    while (sc->free) {
        struct px_slab *s = sc->free;
        sc->free = s->next;
        free(s);
    }
    sc->nfree = sc->low = 0;
}
