/*
 * Unit tests of proxy/state/stats.c and proxy/base/json.c: request and RTT counting by
 * zone, region and class, histogram buckets, merging workers, the RTT
 * median, and the JSON / Prometheus escaping the admin endpoint relies on.
 */
#include "tests/unit/test.h"
#include "proxy/base/json.h"
#include "proxy/base/px.h"
#include "proxy/state/stats.h"

#include <math.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#define NEAR(a, b, eps) ASSERT(fabs((double)(a) - (double)(b)) <= (eps))

TEST(stats_requests_by_zone_region_class)
{
    struct px_stats s;

    ASSERT_OK(px_stats_init(&s, 3, 2));
    px_stats_request(&s, 0, 1, 200, 700);      /* 0.7 ms: first bucket */
    px_stats_request(&s, 0, 1, 204, 1000);     /* exactly 1 ms: still the first (le) */
    px_stats_request(&s, 0, -1, 503, 3000);    /* rejected: region slot 0, 5 ms bucket */
    px_stats_request(&s, 2, 0, 101, 20000000); /* 20 s: +Inf */
    px_stats_request(&s, 3, 0, 200, 1);        /* zone out of range: ignored */
    px_stats_request(&s, 0, 2, 200, 1);        /* region out of range: ignored */
    px_stats_request(&s, 1, 0, 999, 1);        /* no class, still timed */

    ASSERT_EQ(px_stats_get(&s.requests[px_stats_req_index(&s, 0, 2, 1)]), 2);
    ASSERT_EQ(px_stats_get(&s.requests[px_stats_req_index(&s, 0, 0, 4)]), 1);
    ASSERT_EQ(px_stats_get(&s.requests[px_stats_req_index(&s, 2, 1, 0)]), 1);
    ASSERT_EQ(px_stats_get(&s.dur[px_stats_dur_index(&s, 0, 2, 0)]), 2);
    ASSERT_EQ(px_stats_get(&s.dur[px_stats_dur_index(&s, 0, 0, 2)]), 1);
    ASSERT_EQ(px_stats_get(&s.dur[px_stats_dur_index(&s, 2, 1, PX_STATS_DUR_BUCKETS)]), 1);
    ASSERT_EQ(px_stats_get(&s.dur[px_stats_dur_index(&s, 1, 1, 0)]), 1);
    ASSERT_EQ(px_stats_get(&s.dur_sum_us[0 * 3 + 2]), 1700);
    uint64_t total = 0;
    for (size_t z = 0; z < 3; z++)
        for (size_t r = 0; r < 3; r++)
            for (size_t k = 0; k < PX_STATS_CLASSES; k++)
                total += px_stats_get(&s.requests[px_stats_req_index(&s, z, r, k)]);
    ASSERT_EQ(total, 4);
    px_stats_reset(&s);
    ASSERT_EQ(px_stats_get(&s.requests[px_stats_req_index(&s, 0, 2, 1)]), 0);
    ASSERT_EQ(px_stats_get(&s.dur_sum_us[2]), 0);
    px_stats_dispose(&s);
    px_stats_dispose(&s);
}

TEST(stats_merge_sums_workers)
{
    struct px_stats w[3], sum, other;

    for (int i = 0; i < 3; i++) {
        ASSERT_OK(px_stats_init(&w[i], 2, 1));
        for (int k = 0; k <= i; k++)
            px_stats_request(&w[i], 1, 0, 200, 2000);
        px_stats_add(&w[i].geo_lookups, 10);
        px_stats_add(&w[i].accepted, (uint64_t)i);
        px_stats_client_rtt(&w[i], 0, 300);
    }
    ASSERT_OK(px_stats_init(&sum, 2, 1));
    for (int i = 0; i < 3; i++)
        ASSERT_OK(px_stats_merge(&sum, &w[i]));
    ASSERT_EQ(px_stats_get(&sum.requests[px_stats_req_index(&sum, 1, 1, 1)]), 6);
    ASSERT_EQ(px_stats_get(&sum.dur_sum_us[1 * 2 + 1]), 12000);
    ASSERT_EQ(px_stats_get(&sum.geo_lookups), 30);
    ASSERT_EQ(px_stats_get(&sum.accepted), 3);
    ASSERT_EQ(px_stats_get(&sum.rtt[0]), 3);
    ASSERT_EQ(px_stats_get(&sum.rtt_sum_us[0]), 900);
    ASSERT_OK(px_stats_init(&other, 3, 1));
    ASSERT_EQ(px_stats_merge(&other, &w[0]), -1);
    px_stats_dispose(&other);
    px_stats_dispose(&sum);
    for (int i = 0; i < 3; i++)
        px_stats_dispose(&w[i]);
}

TEST(stats_rtt_median)
{
    struct px_stats s;

    ASSERT_OK(px_stats_init(&s, 2, 1));
    NEAR(px_stats_rtt_median_s(&s, 0), -1, 0);
    NEAR(px_stats_rtt_median_s(&s, 5), -1, 0);
    /* Four samples in (2.5 ms, 5 ms]: the median interpolates to the middle. */
    for (int i = 0; i < 4; i++)
        px_stats_client_rtt(&s, 0, 4000);
    NEAR(px_stats_rtt_median_s(&s, 0), 0.00375, 1e-9);
    /* Add six in (0, 0.5 ms]: the median moves into the first bucket's top. */
    for (int i = 0; i < 6; i++)
        px_stats_client_rtt(&s, 0, 100);
    NEAR(px_stats_rtt_median_s(&s, 0), 0.0005 * 5.0 / 6.0, 1e-9);
    /* Beyond every bound: reported at the last finite bound. */
    px_stats_client_rtt(&s, 1, 5000000);
    NEAR(px_stats_rtt_median_s(&s, 1), px_stats_rtt_bounds_s[PX_STATS_RTT_BUCKETS - 1], 0);
    px_stats_dispose(&s);
}

TEST(stats_tcp_rtt_of_a_socket)
{
    int fds[2];

    /* Not a TCP socket: an error, never a made-up RTT. */
    ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, fds));
    ASSERT_LT(px_stats_tcp_rtt_us(fds[0]), 0);
    close(fds[0]);
    close(fds[1]);
    ASSERT_LT(px_stats_tcp_rtt_us(-1), 0);
}

TEST(json_writer_escapes)
{
    struct px_sbuf b;
    struct px_json j;

    px_sbuf_init(&b);
    px_json_init(&j, &b);
    px_json_object(&j, NULL);
    px_json_string(&j, "a\"b", "x\\y\n\x01z");
    px_json_number(&j, "n", 42);
    px_json_number(&j, "f", 0.25);
    px_json_number(&j, "nan", NAN);
    px_json_string(&j, "null", NULL);
    px_json_array(&j, "list");
    px_json_bool(&j, NULL, true);
    px_json_object(&j, NULL);
    px_json_end(&j);
    px_json_array(&j, NULL);
    px_json_end(&j);
    px_json_null(&j, NULL);
    px_json_end(&j);
    px_json_bool(&j, "last", false);
    px_json_end(&j);
    ASSERT_EQ(j.depth, 0);
    ASSERT(!b.oom);
    ASSERT_STR_EQ(b.data, "{\"a\\\"b\":\"x\\\\y\\u000a\\u0001z\",\"n\":42,\"f\":0.25,\"nan\":null,"
                          "\"null\":null,\"list\":[true,{},[],null],\"last\":false}");
    px_sbuf_dispose(&b);

    px_sbuf_init(&b);
    px_prom_label(&b, "a\"b\\c\nd");
    ASSERT_STR_EQ(b.data, "a\\\"b\\\\c\\nd");
    for (int i = 0; i < 1000; i++)
        px_sbuf_printf(&b, "%04d", i);
    ASSERT_EQ(b.len, 10 + 4000);
    px_sbuf_dispose(&b);
    px_sbuf_dispose(NULL);
}
