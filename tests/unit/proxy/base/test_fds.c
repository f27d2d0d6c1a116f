/*
 * Unit tests of proxy/base/fds.c: what fits is left alone, clients are
 * capped to what the limit leaves (two descriptors each), and a limit too
 * small for the fixed needs is reported.
 */
#include "tests/unit/proxy/state/state_fixture.h"
#include "proxy/base/fds.h"

#include <sys/resource.h>

TEST(fds_plan_fits_caps_or_refuses)
{
    struct px_snapshot *s = state_snapshot("limits: {max_client_connections: 1000, "
                                           "upstream_pool_size: 10}\n");
    const struct conf *cf = s->cfg->conf; /* 3 literal backends, 1 listen address */
    struct px_fd_plan p;

    ASSERT_EQ(px_fds_plan(cf, 2, 1 << 20, &p), 0);
    ASSERT_EQ(p.client_cap, 1000);
    ASSERT_EQ(p.wanted, p.fixed + 2000);
    /* Pools: 2 workers x 10 idle x 3 backends = 60; probes: 3; admin: 64. */
    ASSERT_GE(p.fixed, 60 + 3 + PX_FDS_ADMIN);

    ASSERT_EQ(px_fds_plan(cf, 2, p.fixed + 201, &p), 1);
    ASSERT_EQ(p.client_cap, 100); /* (limit - fixed) / 2, rounded down */
    ASSERT_LE(p.fixed + 2 * p.client_cap, p.limit);

    /* Little room: idle pools get half of what is left, clients the rest. */
    uint64_t base = p.fixed - 60;
    ASSERT_EQ(px_fds_plan(cf, 2, base + 80, &p), 1);
    ASSERT_EQ(p.fixed, base + 40);
    ASSERT_EQ(p.client_cap, 20);

    ASSERT_EQ(px_fds_plan(cf, 2, base, &p), -1);
    ASSERT_EQ(p.client_cap, 0);
    px_snapshot_unref(s);
}

TEST(fds_plan_counts_dns_sockets)
{
    struct px_snapshot *a = state_snapshot(NULL);
    struct px_fd_plan lit, named;

    ASSERT_EQ(px_fds_plan(a->cfg->conf, 1, 1 << 20, &lit), 0);
    px_snapshot_unref(a);
    /* The same config with one backend named instead of literal. */
    struct px_snapshot *b = state_snapshot("dns: {servers: [127.0.0.1:53]}\n");
    ASSERT_EQ(px_fds_plan(b->cfg->conf, 1, 1 << 20, &named), 0);
    ASSERT_EQ(named.fixed + 4, lit.fixed); /* one DNS server (2 sockets) instead of 3 assumed */
    px_snapshot_unref(b);
}

TEST(fds_raise_limit_reaches_the_hard_limit)
{
    struct rlimit rl;
    ASSERT_OK(getrlimit(RLIMIT_NOFILE, &rl));
    if (rl.rlim_max > 64) {
        rl.rlim_cur = 64;
        ASSERT_OK(setrlimit(RLIMIT_NOFILE, &rl));
    }
    uint64_t got = px_fds_raise_limit();
    ASSERT_OK(getrlimit(RLIMIT_NOFILE, &rl));
    ASSERT_EQ(rl.rlim_cur, rl.rlim_max);
    ASSERT_EQ(got, rl.rlim_cur == RLIM_INFINITY ? UINT32_MAX : rl.rlim_cur);
}
