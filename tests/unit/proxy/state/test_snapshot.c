/*
 * Unit tests of proxy/state/snapshot.c: loading, classification by CIDR
 * (IPv4, IPv6 and IPv4-mapped IPv6), the default zone for what matches
 * nothing, reference counting and unique generations.
 */
#include "tests/unit/proxy/state/state_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>

static void classify(const struct px_snapshot *s, const char *ip, struct px_geo *g)
{
    struct sockaddr_storage ss = {0};
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        ASSERT_EQ(inet_pton(AF_INET6, ip, &a->sin6_addr), 1);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        ASSERT_EQ(inet_pton(AF_INET, ip, &a->sin_addr), 1);
    }
    px_snapshot_classify(s, (const struct sockaddr *)&ss, NULL, g);
}

TEST(snapshot_classifies_by_cidr)
{
    struct px_snapshot *s = state_snapshot(NULL);
    struct px_geo g;

    classify(s, "10.1.2.3", &g);
    ASSERT_EQ(g.zone, 0);
    ASSERT_EQ(g.generation, s->generation);
    classify(s, "2001:db8::1", &g);
    ASSERT_EQ(g.zone, 0);
    classify(s, "::ffff:10.9.9.9", &g); /* a dual-stack socket's view of 10.9.9.9 */
    ASSERT_EQ(g.zone, 0);
    classify(s, "192.0.2.1", &g);
    ASSERT_EQ(g.zone, 1);
    ASSERT(!g.found); /* no geo database: nothing "found" */
    classify(s, "2001:db9::1", &g);
    ASSERT_EQ(g.zone, 1);
    px_snapshot_unref(s);
}

TEST(snapshot_unknown_family_goes_to_default)
{
    struct px_snapshot *s = state_snapshot(NULL);
    struct sockaddr_storage ss = {0};
    struct px_geo g;

    ss.ss_family = AF_UNIX;
    px_snapshot_classify(s, (const struct sockaddr *)&ss, NULL, &g);
    ASSERT_EQ(g.zone, 1);
    px_snapshot_unref(s);
}

TEST(snapshot_refcount_and_generation)
{
    struct px_snapshot *a = state_snapshot(NULL), *b = state_snapshot(NULL);

    ASSERT_NE(a->generation, b->generation); /* a geo cache keyed by it never mixes the two */
    ASSERT_PTR_EQ(px_snapshot_ref(a), a);
    px_snapshot_unref(a); /* one reference left: still usable */
    ASSERT_EQ(a->cfg->conf->nzones, 2);
    ASSERT(!px_snapshot_geo_changed(a)); /* no database to change */
    px_snapshot_unref(a);
    px_snapshot_unref(b);
    px_snapshot_unref(NULL);
}
