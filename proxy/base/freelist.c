/*
 * freelist: size classes of powers of two from 64 bytes. Each block starts
 * with a header naming its class, so free() needs no size (nghttp2's
 * allocator interface gives none) and a block kept for one size serves any
 * size of its class. Kept blocks are linked through their headers, and
 * under AddressSanitizer their bytes are poisoned while kept, so a use
 * after free is still caught as with malloc.
 *
 * Sparse blocks are slots carved from 2 MB anonymous mappings (one VMA per
 * hundred blocks, not one each). A freed slot goes on a stack sized when
 * its mapping was made, so that a free never allocates. Giving its pages
 * back at once would cost a page fault and a TLB flush per connection
 * (3-4 us, measured): instead the periodic trim gives back those of the
 * slots at the bottom of the stack, which no block took for a period.
 */
#include "proxy/base/freelist.h"
#include "proxy/base/px.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PX_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define PX_ASAN 1
#endif
#ifdef PX_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define MIN_CLASS_SHIFT 6 /* 64 bytes */
#define BIG 0xffu         /* over the largest class: malloc's */
#define SPARSE 0xfeu      /* a slot of a sparse mapping */
#define SLOT_BYTES ((size_t)PX_FREELIST_SPARSE_SLOT_BYTES)
#define REGION_SLOTS 100u
#define HDR_BYTES PX_FREELIST_HEADER_BYTES

struct hdr {
    unsigned cls;     /* class index, or BIG */
    struct hdr *next; /* the next kept block of the class, while kept */
};

_Static_assert(sizeof(struct hdr) <= HDR_BYTES && HDR_BYTES % _Alignof(max_align_t) == 0,
               "the header holds its fields and keeps blocks aligned");

static size_t class_bytes(unsigned cls)
{
    return (size_t)1 << (MIN_CLASS_SHIFT + cls);
}

/* The class of a block of TOTAL bytes (header included), or BIG. */
static unsigned class_of(size_t total)
{
    if (total <= class_bytes(0))
        return 0;
    if (total > class_bytes(PX_FREELIST_CLASSES - 1))
        return BIG;
    /* The bits of TOTAL - 1 give the power of two that holds TOTAL. */
    unsigned bits = (unsigned)(sizeof(unsigned long long) * 8) -
                    (unsigned)__builtin_clzll((unsigned long long)(total - 1));
    return bits - MIN_CLASS_SHIFT;
}

static struct hdr *hdr_of(void *p)
{
    return (struct hdr *)((char *)p - HDR_BYTES);
}

void px_freelist_init(struct px_freelist *f, size_t max_bytes)
{
    memset(f, 0, sizeof(*f));
    f->max_bytes = max_bytes;
}

void *px_freelist_alloc(struct px_freelist *f, size_t n)
{
    if (n > SIZE_MAX - HDR_BYTES)
        return NULL;
    unsigned cls = class_of(n + HDR_BYTES);
    struct hdr *h;

    if (cls != BIG && f != NULL && f->head[cls] != NULL) {
        h = f->head[cls];
        f->head[cls] = h->next;
        /* The next taking of this class reads that block's header: with
         * 100 HTTP/2 streams in flight kept blocks are cold, and that read
         * was the costliest load of the allocator. Start it now. */
        __builtin_prefetch(h->next);
        f->kept_bytes -= class_bytes(cls);
        UNPOISON((char *)h + HDR_BYTES, class_bytes(cls) - HDR_BYTES);
        return (char *)h + HDR_BYTES;
    }
    /* A class block is made whole, so that it can serve any size of its class later. */
    h = malloc(cls == BIG ? n + HDR_BYTES : class_bytes(cls));
    if (h == NULL)
        return NULL;
    h->cls = cls;
    return (char *)h + HDR_BYTES;
}

/* ---- sparse blocks ---- */

struct px_sparse_region {
    struct px_sparse_region *next;
    char *base; /* REGION_SLOTS slots */
};

/* Maps one more region, with room on the stack for all its slots. 0 or -1
 * (also where pages are larger than a slot divides into). */
static int add_region(struct px_freelist *f)
{
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0 || SLOT_BYTES % (size_t)page != 0)
        return -1;
    size_t slots = (size_t)(f->nregions + 1) * REGION_SLOTS;
    void **room = realloc(f->sparse_free, slots * sizeof(*room));
    if (room == NULL)
        return -1;
    f->sparse_free = room;
    struct px_sparse_region *r = malloc(sizeof(*r));
    void *base = mmap(NULL, REGION_SLOTS * SLOT_BYTES, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (r == NULL || base == MAP_FAILED) {
        free(r);
        if (base != MAP_FAILED)
            munmap(base, REGION_SLOTS * SLOT_BYTES);
        return -1;
    }
    /* Mappings next to each other merge; a huge page there would back 2 MB
     * at the first write of one slot. */
    madvise(base, REGION_SLOTS * SLOT_BYTES, MADV_NOHUGEPAGE);
    r->base = base;
    r->next = f->regions;
    f->regions = r;
    f->nregions++;
    f->carved = 0;
    return 0;
}

void *px_freelist_alloc_sparse(struct px_freelist *f, size_t n)
{
    char *slot;

    if (f == NULL || n > SLOT_BYTES - HDR_BYTES)
        return px_freelist_alloc(f, n);
    if (f->nsparse_free > 0) {
        slot = f->sparse_free[--f->nsparse_free];
        if (f->nsparse_free < f->sparse_low)
            f->sparse_low = f->nsparse_free;
        if (f->nsparse_free < f->trimmed)
            f->trimmed = f->nsparse_free;
    } else {
        if ((f->regions == NULL || f->carved == REGION_SLOTS) && add_region(f) != 0)
            return px_freelist_alloc(f, n); /* malloc's: all of it backed, but served */
        slot = f->regions->base + f->carved++ * SLOT_BYTES;
    }
    UNPOISON(slot, SLOT_BYTES);
    ((struct hdr *)slot)->cls = SPARSE;
    f->sparse_out++;
    return slot + HDR_BYTES;
}

static void free_sparse(struct px_freelist *f, struct hdr *h)
{
    PX_ASSERT(f != NULL && f->sparse_out > 0);
    POISON(h, SLOT_BYTES);
    f->sparse_out--;
    f->sparse_free[f->nsparse_free++] = h;
}

void px_freelist_trim_sparse(struct px_freelist *f)
{
    /* The bottom sparse_low slots sat in the stack all period. */
    for (uint32_t i = f->trimmed; i < f->sparse_low; i++)
        madvise(f->sparse_free[i], SLOT_BYTES, MADV_DONTNEED);
    if (f->sparse_low > f->trimmed)
        f->trimmed = f->sparse_low;
    f->sparse_low = f->nsparse_free;
}

static void dispose_sparse(struct px_freelist *f)
{
    if (f->sparse_out > 0)
        return; /* a session outlived its worker (a bug): its frees still need all this */
    while (f->regions != NULL) {
        struct px_sparse_region *r = f->regions;
        f->regions = r->next;
        UNPOISON(r->base, REGION_SLOTS * SLOT_BYTES);
        munmap(r->base, REGION_SLOTS * SLOT_BYTES);
        free(r);
    }
    free(f->sparse_free);
    f->sparse_free = NULL;
    f->nregions = f->nsparse_free = f->carved = f->sparse_low = f->trimmed = 0;
}

/* ---- as malloc ---- */

void *px_freelist_calloc(struct px_freelist *f, size_t nmemb, size_t size)
{
    if (size != 0 && nmemb > SIZE_MAX / size)
        return NULL;
    void *p = px_freelist_alloc(f, nmemb * size);
    if (p != NULL)
        memset(p, 0, nmemb * size);
    return p;
}

void *px_freelist_realloc(struct px_freelist *f, void *p, size_t n)
{
    if (p == NULL)
        return px_freelist_alloc(f, n);
    struct hdr *h = hdr_of(p);
    if (h->cls == BIG) {
        if (n > SIZE_MAX - HDR_BYTES)
            return NULL;
        struct hdr *g = realloc(h, n + HDR_BYTES);
        return g == NULL ? NULL : (char *)g + HDR_BYTES;
    }
    /* A class block or a sparse slot: it grows in place up to its size,
     * beyond that into a new block (px_freelist_free takes either back). */
    size_t room = (h->cls == SPARSE ? SLOT_BYTES : class_bytes(h->cls)) - HDR_BYTES;
    if (n <= room)
        return p;
    void *q = px_freelist_alloc(f, n);
    if (q == NULL)
        return NULL;
    memcpy(q, p, room);
    px_freelist_free(f, p);
    return q;
}

void px_freelist_free(struct px_freelist *f, void *p)
{
    if (p == NULL)
        return;
    struct hdr *h = hdr_of(p);
    unsigned cls = h->cls;
    if (cls == SPARSE) {
        free_sparse(f, h);
        return;
    }
    if (cls == BIG || f == NULL || f->kept_bytes + class_bytes(cls) > f->max_bytes) {
        free(h);
        return;
    }
    POISON(p, class_bytes(cls) - HDR_BYTES);
    h->next = f->head[cls];
    f->head[cls] = h;
    f->kept_bytes += class_bytes(cls);
}

void px_freelist_dispose(struct px_freelist *f)
{
    for (unsigned c = 0; c < PX_FREELIST_CLASSES; c++) {
        while (f->head[c] != NULL) {
            struct hdr *h = f->head[c];
            f->head[c] = h->next;
            UNPOISON((char *)h + HDR_BYTES, class_bytes(c) - HDR_BYTES);
            free(h);
        }
    }
    f->kept_bytes = 0;
    f->max_bytes = 0;
    dispose_sparse(f);
}
