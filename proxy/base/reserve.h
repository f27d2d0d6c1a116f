/*
 * reserve: the counts of a freelist sized by use. A worker keeps what a
 * burst gave back for the next burst, and once a period frees what sat
 * unused the whole period, never going below a floor. A fixed cap would
 * free the surplus of every burst bigger than it and allocate it again for
 * the next one (for 64 KiB slabs glibc even returns the pages to the
 * kernel, which faults them in again). The list itself is the caller's.
 */
#ifndef PX_RESERVE_H
#define PX_RESERVE_H

struct px_reserve {
    unsigned n;    /* items in the list */
    unsigned low;  /* fewest in it since the last trim: that many went unused */
    unsigned keep; /* the floor: items kept however long they sit unused */
};

/* An item went into the list. */
static inline void px_reserve_put(struct px_reserve *r)
{
    r->n++;
}

/* An item came out of the list. */
static inline void px_reserve_take(struct px_reserve *r)
{
    if (--r->n < r->low)
        r->low = r->n;
}

/* The list was empty when an item was wanted: none went unused. */
static inline void px_reserve_miss(struct px_reserve *r)
{
    r->low = 0;
}

/* Ends a period: returns how many items to free (the caller frees the least
 * recently used) and counts them gone. */
static inline unsigned px_reserve_trim(struct px_reserve *r)
{
    unsigned above_keep = r->n > r->keep ? r->n - r->keep : 0;
    unsigned surplus = r->low < above_keep ? r->low : above_keep;

    r->n -= surplus;
    r->low = r->n;
    return surplus;
}

#endif
