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

/*
 * Every slab given back is kept, and px_slab_trim() frees those that sat
 * unused for a whole period. A fixed cap would free the surplus of every
 * burst larger than it (100 h2 streams and their 100 upstream connections
 * each hold a slab): glibc then returns the pages to the kernel and the next
 * burst faults them in again, a page fault every few requests.
 */
struct px_slab_cache {
    struct px_slab *free; /* owned, singly linked, most recently used first */
    unsigned nfree;
    unsigned keep; /* slabs kept however long they sit unused */
    unsigned low;  /* fewest free since the last trim: that many were not needed */
};

/* Returns a slab (from the cache, else malloc), or NULL when out of memory. */
struct px_slab *px_slab_get(struct px_slab_cache *sc);

/* Gives S back to the cache. Accepts NULL. */
void px_slab_put(struct px_slab_cache *sc, struct px_slab *s);

/* Frees the slabs not needed since the last call, beyond keep (the least
 * recently used ones). Call it periodically: memory taken by a burst comes
 * back within two periods of the load going away. */
void px_slab_trim(struct px_slab_cache *sc);

/* Frees every cached slab. */
void px_slab_cache_dispose(struct px_slab_cache *sc);

#endif
