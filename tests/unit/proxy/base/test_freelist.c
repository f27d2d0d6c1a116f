/*
 * Unit tests of proxy/base/freelist.c: blocks come back for reuse within
 * their size class, what it keeps stays under its bound, and what is too
 * big or over the bound goes back to malloc. Sparse blocks are backed only
 * where written, give their pages back when freed (mincore says which
 * pages are resident), and fall back to the ordinary blocks.
 */
#include "tests/unit/test.h"
#include "proxy/base/freelist.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

TEST(freelist_reuses_a_block_within_its_class)
{
    struct px_freelist f;
    px_freelist_init(&f, 4096);

    char *a = px_freelist_alloc(&f, 100);
    ASSERT(a != NULL);
    ASSERT_EQ((uintptr_t)a % _Alignof(max_align_t), 0);
    memset(a, 'x', 100);
    px_freelist_free(&f, a);
    ASSERT_EQ(px_freelist_kept_bytes(&f), 128);
    /* Another size of the same class (112 + header = 128) takes the same block. */
    char *b = px_freelist_calloc(&f, 1, 112);
    ASSERT_PTR_EQ(a, b);
    for (int i = 0; i < 112; i++)
        ASSERT_EQ(b[i], 0);
    ASSERT_EQ(px_freelist_kept_bytes(&f), 0);
    /* Another class does not. */
    char *c = px_freelist_alloc(&f, 200);
    ASSERT(c != b);
    px_freelist_free(&f, b);
    px_freelist_free(&f, c);
    ASSERT_EQ(px_freelist_kept_bytes(&f), 128 + 256);
    /* The class edges: 48 bytes and the header fill 64; 49 do not. */
    char *d = px_freelist_alloc(&f, 48);
    px_freelist_free(&f, d);
    ASSERT_EQ(px_freelist_kept_bytes(&f), 64 + 128 + 256);
    char *e = px_freelist_alloc(&f, 49);
    ASSERT_PTR_EQ(e, b);
    ASSERT_EQ(px_freelist_kept_bytes(&f), 64 + 256);
    px_freelist_free(&f, e);
    px_freelist_dispose(&f);
    ASSERT_EQ(px_freelist_kept_bytes(&f), 0);
}

TEST(freelist_keeps_at_most_its_bound)
{
    struct px_freelist f;
    void *p[64];
    px_freelist_init(&f, 1024); /* 16 blocks of 64 bytes, or one of 1 KiB, ... */

    for (int i = 0; i < 64; i++)
        ASSERT((p[i] = px_freelist_alloc(&f, 10)) != NULL);
    for (int i = 0; i < 64; i++)
        px_freelist_free(&f, p[i]);
    ASSERT_EQ(px_freelist_kept_bytes(&f), 1024);
    /* Full: blocks of another class go back to malloc. */
    for (int i = 0; i < 4; i++)
        ASSERT((p[i] = px_freelist_alloc(&f, 1000)) != NULL);
    for (int i = 0; i < 4; i++)
        px_freelist_free(&f, p[i]);
    ASSERT_EQ(px_freelist_kept_bytes(&f), 1024);
    /* Taken out, the room serves any class. */
    for (int i = 0; i < 16; i++)
        ASSERT((p[i] = px_freelist_alloc(&f, 10)) != NULL);
    ASSERT_EQ(px_freelist_kept_bytes(&f), 0);
    void *k = px_freelist_alloc(&f, 1000);
    px_freelist_free(&f, k);
    ASSERT_EQ(px_freelist_kept_bytes(&f), 1024);
    for (int i = 0; i < 16; i++)
        px_freelist_free(&f, p[i]);
    ASSERT_EQ(px_freelist_kept_bytes(&f), 1024);
    /* Over the largest class: malloc's, never kept. */
    void *big = px_freelist_alloc(&f, 64 * 1024);
    ASSERT(big != NULL);
    px_freelist_free(&f, big);
    ASSERT_EQ(px_freelist_kept_bytes(&f), 1024);
    px_freelist_dispose(&f);
    /* Disposed: keeps nothing, and blocks still out are freed by free(). */
    void *late = px_freelist_alloc(&f, 10);
    px_freelist_free(&f, late);
    ASSERT_EQ(px_freelist_kept_bytes(&f), 0);
}

TEST(freelist_realloc_keeps_the_bytes)
{
    struct px_freelist f;
    px_freelist_init(&f, 64 * 1024);

    char *a = px_freelist_alloc(&f, 20);
    memcpy(a, "0123456789012345678", 20);
    ASSERT_PTR_EQ(px_freelist_realloc(&f, a, 40), a); /* still fits its 64-byte block */
    char *b = px_freelist_realloc(&f, a, 1000);       /* the largest class */
    ASSERT(b != NULL);
    ASSERT(memcmp(b, "0123456789012345678", 20) == 0);
    memset(b + 20, 'y', 980);
    char *c = px_freelist_realloc(&f, b, 100000); /* into malloc's */
    ASSERT(c != NULL);
    ASSERT(memcmp(c, "0123456789012345678", 20) == 0);
    ASSERT_EQ(c[999], 'y');
    char *d = px_freelist_realloc(&f, c, 200000);
    ASSERT(d != NULL);
    ASSERT_EQ(d[999], 'y');
    px_freelist_free(&f, d);
    ASSERT_EQ(px_freelist_kept_bytes(&f), 64 + 1024); /* the two class blocks it left */
    px_freelist_dispose(&f);
}

TEST(freelist_null_is_malloc)
{
    char *a = px_freelist_calloc(NULL, 3, 7);
    ASSERT(a != NULL);
    ASSERT_EQ(a[20], 0);
    a = px_freelist_realloc(NULL, a, 300);
    ASSERT(a != NULL);
    px_freelist_free(NULL, a);
    px_freelist_free(NULL, NULL);
    ASSERT(px_freelist_calloc(NULL, SIZE_MAX / 2, 4) == NULL);
}

/* Pages of the sparse slot holding P that are resident, as a bit mask. */
static unsigned resident_pages(const void *p)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char *slot = (char *)p - PX_FREELIST_HEADER_BYTES;
    unsigned char vec[PX_FREELIST_SPARSE_SLOT_BYTES / 4096];
    unsigned mask = 0;

    if ((uintptr_t)slot % page != 0 || PX_FREELIST_SPARSE_SLOT_BYTES / page > sizeof(vec) ||
        mincore(slot, PX_FREELIST_SPARSE_SLOT_BYTES, vec) != 0)
        return ~0u;
    for (size_t i = 0; i < PX_FREELIST_SPARSE_SLOT_BYTES / page; i++)
        mask |= (vec[i] & 1u) << i;
    return mask;
}

TEST(freelist_sparse_block_is_backed_only_where_written)
{
    struct px_freelist f;
    px_freelist_init(&f, 4096);

    /* nghttp2's frame buffer: 16 KiB + 10. */
    char *a = px_freelist_alloc_sparse(&f, 16394);
    ASSERT(a != NULL);
    ASSERT_EQ((uintptr_t)a % _Alignof(max_align_t), 0);
    memset(a, 'x', 300);
    ASSERT_EQ(resident_pages(a), 1u); /* the header's page, which the 300 bytes share */
    a[16393] = 'y';
    ASSERT_EQ(resident_pages(a), 1u | 1u << 4);
    /* Freed, the slot serves the next block as it is: no fault, no syscall. */
    px_freelist_free(&f, a);
    char *b = px_freelist_alloc_sparse(&f, 16394);
    ASSERT_PTR_EQ(a, b);
    ASSERT_EQ(resident_pages(b), 1u | 1u << 4);
    ASSERT_EQ(px_freelist_kept_bytes(&f), 0); /* slots are not class blocks */
    px_freelist_free(&f, b);
    px_freelist_dispose(&f);
}

TEST(freelist_sparse_trim_gives_back_what_sat_unused_a_period)
{
    struct px_freelist f;
    char *p[3];
    px_freelist_init(&f, 4096);

    for (int i = 0; i < 3; i++) {
        ASSERT((p[i] = px_freelist_alloc_sparse(&f, 16394)) != NULL);
        memset(p[i], 'x', 16394);
    }
    px_freelist_free(&f, p[0]);
    px_freelist_free(&f, p[1]);
    /* Freed during this period: kept as they are. */
    px_freelist_trim_sparse(&f);
    ASSERT_EQ(resident_pages(p[0]), 0x1fu);
    ASSERT_EQ(resident_pages(p[1]), 0x1fu);
    /* One is taken again (the last freed) and given back: its stack slot
     * was in use this period, the other one's was not. */
    char *q = px_freelist_alloc_sparse(&f, 16394);
    ASSERT_PTR_EQ(q, p[1]);
    px_freelist_free(&f, q);
    px_freelist_trim_sparse(&f);
    ASSERT_EQ(resident_pages(p[0]), 0u);
    ASSERT_EQ(resident_pages(p[1]), 0x1fu);
    ASSERT_EQ(resident_pages(p[2]), 0x1fu); /* still out */
    /* A period later the other goes back too; a trimmed slot reads as new. */
    px_freelist_trim_sparse(&f);
    ASSERT_EQ(resident_pages(p[1]), 0u);
    char *r = px_freelist_alloc_sparse(&f, 16394);
    ASSERT_PTR_EQ(r, p[1]);
    ASSERT_EQ(r[100], 0);
    ASSERT_EQ(resident_pages(r), 1u);
    px_freelist_free(&f, r);
    px_freelist_free(&f, p[2]);
    px_freelist_dispose(&f);
}

TEST(freelist_sparse_slots_span_regions_and_realloc_moves_out)
{
    struct px_freelist f;
    enum { N = 250 }; /* more than two mappings of 100 slots */
    static char *p[N];
    px_freelist_init(&f, 4096);

    for (int i = 0; i < N; i++) {
        ASSERT((p[i] = px_freelist_alloc_sparse(&f, 16 * 1024 + i)) != NULL);
        memset(p[i], i & 0x7f, 64);
        for (int j = 0; j < i; j++)
            ASSERT(p[j] + 16 * 1024 + j <= p[i] || p[i] + 16 * 1024 + i <= p[j]);
    }
    for (int i = 0; i < N; i++)
        ASSERT_EQ(p[i][63], i & 0x7f);
    /* Growth within the slot stays; past it, the bytes move to an ordinary block. */
    ASSERT_PTR_EQ(px_freelist_realloc(&f, p[0], PX_FREELIST_SPARSE_SLOT_BYTES - 16), p[0]);
    char *q = px_freelist_realloc(&f, p[0], 40000);
    ASSERT(q != NULL && q != p[0]);
    ASSERT_EQ(q[63], 0);
    q[39999] = 'z';
    px_freelist_free(&f, q);
    for (int i = 1; i < N; i++)
        px_freelist_free(&f, p[i]);
    px_freelist_dispose(&f); /* unmaps: the sanitizer build checks nothing leaked */
}

TEST(freelist_sparse_falls_back_to_ordinary_blocks)
{
    struct px_freelist f;
    px_freelist_init(&f, 4096);

    /* Over a slot, or without a freelist: malloc's, freed the usual way. */
    char *a = px_freelist_alloc_sparse(&f, PX_FREELIST_SPARSE_SLOT_BYTES);
    ASSERT(a != NULL);
    a[PX_FREELIST_SPARSE_SLOT_BYTES - 1] = 1;
    px_freelist_free(&f, a);
    char *b = px_freelist_alloc_sparse(NULL, 16394);
    ASSERT(b != NULL);
    b[16393] = 1;
    px_freelist_free(NULL, b);
    /* A small size still gets a slot when asked: the caller decides. */
    char *c = px_freelist_alloc_sparse(&f, 100);
    ASSERT(c != NULL);
    ASSERT_EQ(resident_pages(c), 1u);
    px_freelist_free(&f, c);
    ASSERT_EQ(px_freelist_kept_bytes(&f), 0);
    px_freelist_dispose(&f);
}
