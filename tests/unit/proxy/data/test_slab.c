/*
 * Unit tests of proxy/data/slab.c: a burst's buffers are kept for the next
 * burst (no cap that would hand them back to the kernel between bursts),
 * and a trim frees only those that sat unused for a whole period.
 */
#include "tests/unit/test.h"
#include "proxy/data/slab.h"

#define BURST 10

static void take(struct px_slab_cache *sc, struct px_slab **s, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        s[i] = px_slab_get(sc);
        ASSERT(s[i] != NULL);
        s[i]->data[0] = 'x'; /* a usable buffer */
    }
}

static void give(struct px_slab_cache *sc, struct px_slab **s, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        px_slab_put(sc, s[i]);
}

TEST(slab_burst_larger_than_keep_is_kept_for_the_next_burst)
{
    struct px_slab_cache sc = {.r.keep = 2};
    struct px_slab *s[BURST], *again[BURST];

    take(&sc, s, BURST);
    give(&sc, s, BURST);
    ASSERT_EQ(sc.r.n, BURST);
    /* A trim right after the burst frees nothing: every slab was needed. */
    px_slab_trim(&sc);
    ASSERT_EQ(sc.r.n, BURST);
    /* The next burst is served from the cache alone, most recent first. */
    take(&sc, again, BURST);
    ASSERT_EQ(sc.r.n, 0);
    ASSERT_PTR_EQ(again[0], s[BURST - 1]);
    give(&sc, again, BURST);
    px_slab_cache_dispose(&sc);
    ASSERT_EQ(sc.r.n, 0);
    ASSERT_NULL(sc.free);
}

TEST(slab_trim_frees_what_a_period_did_not_need_down_to_keep)
{
    struct px_slab_cache sc = {.r.keep = 2};
    struct px_slab *s[BURST];

    take(&sc, s, BURST);
    give(&sc, s, BURST);
    px_slab_trim(&sc); /* starts a period with 10 free */
    /* This period needs 3 at most: 7 were never used. */
    take(&sc, s, 3);
    give(&sc, s, 3);
    px_slab_trim(&sc);
    ASSERT_EQ(sc.r.n, 3); /* 10 - 7 */
    /* The most recently used stay (warm): the three just given back. */
    ASSERT_PTR_EQ(sc.free, s[2]);
    ASSERT_PTR_EQ(sc.free->next, s[1]);
    ASSERT_PTR_EQ(sc.free->next->next, s[0]);
    /* An idle period frees down to keep, never below. */
    px_slab_trim(&sc);
    ASSERT_EQ(sc.r.n, 2);
    px_slab_trim(&sc);
    ASSERT_EQ(sc.r.n, 2);
    /* A period that ran dry (malloc) frees nothing. */
    take(&sc, s, 4);
    give(&sc, s, 4);
    px_slab_trim(&sc);
    ASSERT_EQ(sc.r.n, 4);
    px_slab_cache_dispose(&sc);
}
