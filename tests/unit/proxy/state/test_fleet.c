/*
 * Unit tests of proxy/state/fleet.c and routes.c: descriptors and their
 * per-worker in-flight counts, the fleet's tables, the routing table's one
 * block, and the per-request pick with a slow-start share.
 */
#include "tests/unit/proxy/state/state_fixture.h"
#include "proxy/state/fleet.h"
#include "proxy/state/routes.h"

static struct px_fleet *fleet_of(struct px_snapshot *s)
{
    const struct conf *cf = s->cfg->conf;
    struct px_fleet *f = px_fleet_new(s, 3);
    size_t k = 0;

    ASSERT_NOT_NULL(f);
    for (size_t r = 0; r < cf->nregions; r++) {
        f->region_first[r] = k;
        for (size_t b = 0; b < cf->regions[r].nbackends; b++, k++)
            f->backends[k] = px_bdesc_new((uint32_t)k + 1, &cf->regions[r].backends[b].addr,
                                          cf->regions[r].name, 2);
    }
    f->region_first[cf->nregions] = k;
    ASSERT_EQ(k, 3);
    return f;
}

TEST(fleet_bdesc_inflight_sums_workers)
{
    struct px_snapshot *s = state_snapshot(NULL);
    const struct conf_addr *a = &s->cfg->conf->regions[0].backends[0].addr;
    struct px_bdesc *d = px_bdesc_new(7, a, "east", 3);

    ASSERT_NOT_NULL(d);
    ASSERT_EQ(d->id, 7);
    ASSERT_STR_EQ(d->region, "east");
    ASSERT_STR_EQ(d->addr.text, "127.0.0.1:2");
    ASSERT_EQ(px_bdesc_inflight(d), 0);
    atomic_store(&d->inflight[0], 2);
    atomic_store(&d->inflight[2], 5);
    ASSERT_EQ(px_bdesc_inflight(d), 7);
    ASSERT_PTR_EQ(px_bdesc_ref(d), d);
    px_bdesc_unref(d);
    px_bdesc_unref(d);
    px_bdesc_unref(NULL);
    px_snapshot_unref(s);
}

TEST(fleet_holds_snapshot_and_descriptors)
{
    struct px_snapshot *s = state_snapshot(NULL);
    struct px_fleet *f = fleet_of(s);

    ASSERT_PTR_EQ(f->snap, s);
    ASSERT_PTR_EQ(px_fleet_conf(f), s->cfg->conf);
    ASSERT_EQ(f->region_first[1] - f->region_first[0], 2);
    ASSERT_EQ(f->region_first[2] - f->region_first[1], 1);
    /* The fleet keeps the snapshot alive after its creator lets go. */
    px_snapshot_unref(s);
    ASSERT_EQ(px_fleet_conf(f)->nregions, 2);
    struct px_bdesc *kept = px_bdesc_ref(f->backends[2]);
    px_fleet_unref(f);
    ASSERT_STR_EQ(kept->addr.text, "127.0.0.1:4"); /* a survivor outlives its fleet */
    px_bdesc_unref(kept);
}

TEST(routes_one_block_sized_by_fleet)
{
    struct px_snapshot *s = state_snapshot(NULL);
    struct px_fleet *f = fleet_of(s);
    struct px_routes *r = px_routes_new(f);

    px_snapshot_unref(s);
    ASSERT_NOT_NULL(r);
    ASSERT_EQ(r->nroutes, 2);
    ASSERT_EQ(r->nregions, 2);
    ASSERT_EQ(r->nbackends, 3);
    for (size_t z = 0; z < r->nroutes; z++) {
        /* Every zone's order has room for every region, inside the block. */
        ASSERT((char *)r->zones[z].order > (char *)r);
        r->zones[z].order[r->nregions - 1] = 1;
        ASSERT_EQ(r->zones[z].current, 0);
    }
    ASSERT_PTR_EQ(r->fleet, f);
    px_fleet_unref(f); /* the table holds its own reference */
    ASSERT_EQ(px_fleet_conf(r->fleet)->nzones, 2);
    ASSERT_PTR_EQ(px_routes_ref(r), r);
    px_routes_unref(r);
    px_routes_unref(r);
    px_routes_unref(NULL);
}

TEST(routes_pick_follows_share)
{
    struct px_snapshot *s = state_snapshot(NULL);
    struct px_fleet *f = fleet_of(s);
    struct px_routes *r = px_routes_new(f);
    struct px_rng rng;
    int counts[2] = {0, 0};

    px_rng_seed(&rng, 42);
    r->zones[0].current = -1;
    ASSERT_EQ(px_routes_pick(r, 0, &rng), -1); /* reject: 503, never a region */
    r->zones[0].current = 1;
    r->zones[0].secondary = -1;
    ASSERT_EQ(px_routes_pick(r, 0, &rng), 1);
    r->zones[0].secondary = 0;
    r->zones[0].share = 0.25;
    for (int i = 0; i < 4000; i++)
        counts[px_routes_pick(r, 0, &rng)]++;
    ASSERT_GT(counts[1], 800); /* ~1000 expected */
    ASSERT_LT(counts[1], 1200);
    r->zones[0].share = 1.0;
    for (int i = 0; i < 100; i++)
        ASSERT_EQ(px_routes_pick(r, 0, &rng), 1);
    px_routes_unref(r);
    px_fleet_unref(f);
    px_snapshot_unref(s);
}
