/*
 * Unit tests of proxy/data/backend.c's choice on a hand-built view: the
 * zone's region first, the rest of it on a retry, then the failover order;
 * the tried mask, the connect backoff, unusable backends, and a zone whose
 * route rejects. The rng is seeded, so every run draws the same.
 */
#include "tests/unit/test.h"
#include "proxy/data/backend.h"
#include "proxy/data/worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fx {
    char path[4096];
    struct px_snapshot *snap;
    struct px_routes *rt;
    struct px_backend *bk[3];
    struct px_wview v;
};

static struct px_worker w;

/* east: backends 0 and 1; west: backend 2. Zone lab: east then west;
 * zone default: rejected for now. */
static void setup(struct fx *f)
{
    struct px_config *cfg;
    char err[1024];

    memset(f, 0, sizeof(*f));
    snprintf(f->path, sizeof(f->path), "%s/georoute-test-backend-%d.yaml", test_tmpdir(),
             (int)getpid());
    FILE *fp = fopen(f->path, "w");
    ASSERT_NOT_NULL(fp);
    fputs("listen: 127.0.0.1:1\nregions:\n"
          "  east:\n    backends: [127.0.0.1:2, 127.0.0.1:3]\n"
          "  west:\n    backends: [127.0.0.1:4]\n"
          "zones:\n  - name: lab\n    match: {cidr: [10.0.0.0/8]}\n"
          "    route: {regions: [east], fallback: [west]}\n"
          "  - name: default\n    route: {regions: [west, east]}\n",
          fp);
    fclose(fp);
    if (px_config_load(f->path, &cfg, err, sizeof(err)) != 0)
        TEST_FAIL_("config: %s", err);
    ASSERT_OK(px_snapshot_new(cfg, NULL, &f->snap, err, sizeof(err)));
    px_config_unref(cfg);
    const struct conf *cf = f->snap->cfg->conf;

    struct px_fleet *fl = px_fleet_new(f->snap, 3);
    ASSERT_NOT_NULL(fl);
    size_t i = 0;
    for (size_t r = 0; r < cf->nregions; r++) {
        fl->region_first[r] = i;
        for (size_t k = 0; k < cf->regions[r].nbackends; k++, i++)
            fl->backends[i] = px_bdesc_new((uint32_t)i + 1, &cf->regions[r].backends[k].addr,
                                           cf->regions[r].name, 1);
    }
    fl->region_first[cf->nregions] = i;
    f->rt = px_routes_new(fl);
    px_fleet_unref(fl);
    ASSERT_NOT_NULL(f->rt);
    static uint16_t lab_order[] = {0, 1};
    f->rt->zones[0] =
        (struct px_routes_zone){.current = 0, .secondary = -1, .order = lab_order, .norder = 2};
    f->rt->zones[1] = (struct px_routes_zone){.current = -1, .secondary = -1};
    for (i = 0; i < 3; i++) {
        f->rt->backends[i] = (struct px_routes_backend){.usable = true, .load_ms = 1, .weight = 1};
        f->bk[i] = calloc(1, sizeof(*f->bk[i]));
        f->bk[i]->desc = px_bdesc_ref(f->rt->fleet->backends[i]);
        f->bk[i]->refs = 1;
        px_list_init(&f->bk[i]->idle);
    }
    f->v = (struct px_wview){.routes = f->rt, .bk = f->bk};

    memset(&w, 0, sizeof(w));
    ASSERT_OK(uv_loop_init(&w.loop));
    px_rng_seed(&w.rng, 42);
    ASSERT_OK(px_backend_ctx_reserve(&w.backends, 3));
}

static void teardown(struct fx *f)
{
    for (size_t i = 0; i < 3; i++)
        px_backend_unref(f->bk[i]);
    px_routes_unref(f->rt);
    px_snapshot_unref(f->snap);
    px_backend_ctx_dispose(&w.backends);
    ASSERT_OK(uv_loop_close(&w.loop));
    unlink(f->path);
}

/* One attempt as px_backend_connect records it. */
static int attempt(struct fx *f, int zone, struct px_pick *p)
{
    int i = px_backend_pick(&w, &f->v, zone, p);
    if (i >= 0) {
        p->backend = f->bk[i];
        p->tried |= 1ull << i;
        p->attempts++;
    }
    return i;
}

TEST(backend_pick_region_then_failover_order)
{
    struct fx f;
    struct px_pick p = {.region = -1};

    setup(&f);
    int a = attempt(&f, 0, &p), b = attempt(&f, 0, &p);
    ASSERT(a == 0 || a == 1);
    ASSERT_EQ(a + b, 1); /* the other east backend on the retry */
    ASSERT_EQ(p.region, 0);
    ASSERT_EQ(attempt(&f, 0, &p), 2); /* then west, next in the failover order */
    ASSERT_EQ(p.region, 1);
    ASSERT_EQ(attempt(&f, 0, &p), -1); /* every backend tried */
    ASSERT_EQ(p.tried, 7);

    /* A zone whose route rejects (and is not the implicit one) gets none. */
    struct px_pick r = {.region = -1};
    ASSERT_EQ(px_backend_pick(&w, &f.v, 1, &r), -1);
    ASSERT_EQ(r.region, -1);
    teardown(&f);
}

TEST(backend_pick_skips_backoff_and_unusable)
{
    struct fx f;

    setup(&f);
    px_backend_connect_failed(&w, f.bk[0]);
    ASSERT_EQ(f.bk[0]->fails, 1);
    for (int n = 0; n < 50; n++) {
        struct px_pick p = {.region = -1};
        ASSERT_EQ(px_backend_pick(&w, &f.v, 0, &p), 1);
    }
    px_backend_connected(f.bk[0]);
    ASSERT_EQ(f.bk[0]->fails, 0);
    bool saw0 = false;
    for (int n = 0; n < 50; n++) {
        struct px_pick p = {.region = -1};
        saw0 |= px_backend_pick(&w, &f.v, 0, &p) == 0;
    }
    ASSERT(saw0);

    /* East unusable (the control thread says so): west, by failover. */
    f.rt->backends[0].usable = f.rt->backends[1].usable = false;
    struct px_pick p = {.region = -1};
    ASSERT_EQ(px_backend_pick(&w, &f.v, 0, &p), 2);
    ASSERT_EQ(p.region, 1);
    /* A retired backend is never picked either. */
    f.bk[2]->retired = true;
    p = (struct px_pick){.region = -1};
    ASSERT_EQ(px_backend_pick(&w, &f.v, 0, &p), -1);
    teardown(&f);
}
