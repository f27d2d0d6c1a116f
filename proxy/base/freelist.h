/*
 * freelist: small blocks kept by size class for one thread, so that memory
 * taken and given back many times a second (an HTTP/2 stream's state,
 * nghttp2's frames and header copies) skips malloc's slow paths, which
 * 100 streams in flight push it onto (glibc's per-thread cache holds seven
 * blocks of a size). Owns the blocks it keeps, and keeps at most
 * max_bytes of them in all: beyond that, and for blocks over the largest
 * class, it is malloc and free. Also owns the mappings of sparse blocks
 * (px_freelist_alloc_sparse). Not thread-safe: one per worker.
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

/* A sparse block is a slot of 20 KiB (five pages), header included. */
#define PX_FREELIST_SPARSE_SLOT_BYTES (20 * 1024)

struct px_sparse_region;

struct px_freelist {
    void *head[PX_FREELIST_CLASSES];  /* owned: kept blocks, linked through their headers */
    size_t kept_bytes;                /* of blocks kept, headers included */
    size_t max_bytes;                 /* 0: keeps nothing */
    struct px_sparse_region *regions; /* owned: mappings of sparse slots, newest first */
    void **sparse_free;               /* owned: freed slots, a stack with room for every slot */
    uint32_t nregions, nsparse_free;
    uint32_t carved;     /* slots handed out of the newest region so far */
    uint32_t sparse_out; /* sparse blocks not freed yet */
    uint32_t sparse_low; /* fewest freed slots since the last trim: the bottom ones sat unused */
    uint32_t trimmed;    /* bottom freed slots whose pages went back */
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
 * As px_freelist_alloc, for a block that lives long and is mostly never
 * written: nghttp2's 16 KiB frame buffer, kept for a session's life, of
 * which an idle connection has used a few hundred bytes. The block is a
 * slot of an anonymous mapping, so only the pages ever written are backed.
 * px_freelist_free keeps the slot for the next block (its pages as they
 * are); px_freelist_trim_sparse gives back the pages of those that sat
 * unused. Larger sizes, a NULL F or a failed mapping get
 * px_freelist_alloc's.
 */
void *px_freelist_alloc_sparse(struct px_freelist *f, size_t n);

/*
 * Ends a period: the pages of the freed slots no block took since the last
 * call go back to the kernel (madvise), so a burst of connections leaves no
 * memory behind once it has been over for a period. Call it periodically.
 */
void px_freelist_trim_sparse(struct px_freelist *f);

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
 * may be freed later: they go to free()). The mappings of sparse blocks go
 * too once none is out; with some out they stay, so that freeing those
 * later is still safe. */
void px_freelist_dispose(struct px_freelist *f);

#endif
