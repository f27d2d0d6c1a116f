/*
 * slab: fixed-size I/O buffers recycled through a per-worker freelist, so a
 * busy connection never mallocs per read and an idle one holds no buffer.
 */
#ifndef PX_SLAB_H
#define PX_SLAB_H

#include <stdint.h>

#define PX_SLAB_BYTES (64 * 1024)

struct px_slab {
    struct px_slab *next; /* freelist link while free */
    char data[PX_SLAB_BYTES];
};

struct px_slab_cache {
    struct px_slab *free; /* owned, singly linked */
    unsigned nfree;
    unsigned max_free; /* slabs kept beyond this are freed */
};

/* Returns a slab (from the cache, else malloc), or NULL when out of memory. */
struct px_slab *px_slab_get(struct px_slab_cache *sc);

/* Gives S back to the cache (or frees it). Accepts NULL. */
void px_slab_put(struct px_slab_cache *sc, struct px_slab *s);

/* Frees every cached slab. */
void px_slab_cache_dispose(struct px_slab_cache *sc);

#endif
