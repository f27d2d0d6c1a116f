/*
 * slab: fixed-size I/O buffers recycled through a per-worker freelist, so a
 * busy connection never mallocs per read and an idle one holds no buffer.
 */
#ifndef PX_SLAB_H
#define PX_SLAB_H

#include "proxy/base/reserve.h"

#include <stdint.h>

#define PX_SLAB_BYTES (64 * 1024)

struct px_slab {
    struct px_slab *next; /* freelist link while free */
    char data[PX_SLAB_BYTES];
};

/* Every slab given back is kept; px_slab_trim() frees those a period did
 * not need (proxy/base/reserve.h): a burst of 100 h2 streams and their 100
 * upstream connections, each holding a slab, finds them again next time. */
struct px_slab_cache {
    struct px_slab *free; /* owned, singly linked, most recently used first */
    struct px_reserve r;  /* r.n: how many; r.keep: the floor */
};

/* Returns a slab (from the cache, else malloc), or NULL when out of memory. */
struct px_slab *px_slab_get(struct px_slab_cache *sc);

/* Gives S back to the cache. Accepts NULL. */
void px_slab_put(struct px_slab_cache *sc, struct px_slab *s);

/* Frees the slabs not needed since the last call, beyond r.keep (the least
 * recently used ones). Called periodically: memory a burst took comes back
 * within two periods of the load going away. */
void px_slab_trim(struct px_slab_cache *sc);

/* Frees every cached slab. */
void px_slab_cache_dispose(struct px_slab_cache *sc);

#endif
