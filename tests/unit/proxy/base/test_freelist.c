/*
 * Unit tests of proxy/base/freelist.c: blocks come back for reuse within
 * their size class, what it keeps stays under its bound, and what is too
 * big or over the bound goes back to malloc.
 */
#include "tests/unit/test.h"
#include "proxy/base/freelist.h"

#include <stdint.h>

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
