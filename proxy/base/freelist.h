/*
 * freelist: small blocks kept by size class for one thread, so that memory
 * taken and given back many times a second (an HTTP/2 stream's state,
 * nghttp2's frames and header copies) skips malloc's slow paths, which
 * 100 streams in flight push it onto (glibc's per-thread cache holds seven
 * blocks of a size). Owns the blocks it keeps, and keeps at most
 * max_bytes of them in all: beyond that, and for blocks over the largest
 * class, it is malloc and free. Not thread-safe: one per worker.
 */
#ifndef PX_FREELIST_H
#define PX_FREELIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 64 B, 128 B, ... 1 KiB, header included. Per-stream blocks are under
 * 1 KiB; a session's own (its 2.9 KB state, 4 KiB stream map, 1 KiB HPACK
 * rings) live as long as the connection, and rounding them up to a power
 * of two cost 7 KB per idle HTTP/2 connection: they go to malloc. */
#define PX_FREELIST_CLASSES 5
#define PX_FREELIST_HEADER_BYTES 16 /* before each block; a class holds its size less this */

struct px_freelist {
    void *head[PX_FREELIST_CLASSES]; /* owned: kept blocks, linked through their headers */
    size_t kept_bytes;               /* of blocks kept, headers included */
    size_t max_bytes;                /* 0: keeps nothing */
};

/*
 * Sets F up to keep at most MAX_BYTES of blocks. A zeroed struct is a valid
 * freelist that keeps nothing.
 */
void px_freelist_init(struct px_freelist *f, size_t max_bytes);

/* As malloc, calloc, realloc and free; F may be NULL (then they are those). */
void *px_freelist_alloc(struct px_freelist *f, size_t n);
void *px_freelist_calloc(struct px_freelist *f, size_t nmemb, size_t size);
void *px_freelist_realloc(struct px_freelist *f, void *p, size_t n);
void px_freelist_free(struct px_freelist *f, void *p);

/*
 * What a buffer of CAP bytes (FIRST when 0) grows to so that it holds NEED:
 * doubled, less a header each time, so that when FIRST fills a class block
 * exactly, each size does too (e.g. 240 in 256, 496 in 512).
 */
static inline size_t px_freelist_grow(size_t cap, size_t first, size_t need)
{
    if (cap == 0)
        cap = first;
    while (cap < need)
        cap = 2 * cap + PX_FREELIST_HEADER_BYTES;
    return cap;
}

/* Bytes of blocks F keeps now. */
static inline size_t px_freelist_kept_bytes(const struct px_freelist *f)
{
    return f->kept_bytes;
}

/* Frees the blocks F keeps; F keeps nothing afterwards (blocks still out
 * may be freed later: they go to free()). */
void px_freelist_dispose(struct px_freelist *f);

#endif
