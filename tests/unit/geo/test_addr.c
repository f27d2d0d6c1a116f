/*
 * Tests of geo/addr.c: normalised client addresses.
 */
#include "tests/unit/test.h"
#include "tests/unit/geo/fixture.h"

#include "geo/addr.h"

#include <errno.h>

TEST(geo_addr_convert)
{
    struct sockaddr_storage ss;
    struct geo_addr a, b;
    char buf[GEO_ADDR_TEXT_MAX];
    socklen_t len;

    ASSERT_OK(geo_addr_from_sockaddr(&a, geo_test_sa(&ss, "192.0.2.7")));
    ASSERT_EQ(a.family, AF_INET);
    ASSERT_EQ(geo_addr_bits(&a), 32);
    ASSERT_OK(geo_addr_format(&a, buf, sizeof(buf)));
    ASSERT_STR_EQ(buf, "192.0.2.7");

    /* IPv4-mapped IPv6 is the IPv4 address. */
    ASSERT_OK(geo_addr_from_sockaddr(&b, geo_test_sa(&ss, "::ffff:192.0.2.7")));
    ASSERT_EQ(b.family, AF_INET);
    ASSERT(geo_addr_equal(&a, &b));

    /* Not mapped: IPv4-compatible, 6to4, NAT64 stay IPv6. */
    ASSERT_OK(geo_addr_from_sockaddr(&b, geo_test_sa(&ss, "::192.0.2.7")));
    ASSERT_EQ(b.family, AF_INET6);
    ASSERT_OK(geo_addr_from_sockaddr(&b, geo_test_sa(&ss, "2002:c000:207::1")));
    ASSERT_EQ(b.family, AF_INET6);
    ASSERT_OK(geo_addr_from_sockaddr(&b, geo_test_sa(&ss, "64:ff9b::192.0.2.7")));
    ASSERT_EQ(b.family, AF_INET6);
    ASSERT_EQ(geo_addr_bits(&b), 128);
    ASSERT(!geo_addr_equal(&a, &b));
    ASSERT_OK(geo_addr_format(&b, buf, sizeof(buf)));
    ASSERT_STR_EQ(buf, "64:ff9b::c000:207");
    ASSERT_EQ(geo_addr_format(&b, buf, 8), -ENOSPC);
    ASSERT_STR_EQ(buf, "");

    /* Round trip through a sockaddr. */
    ASSERT_OK(geo_addr_to_sockaddr(&b, &ss, &len));
    ASSERT_EQ(len, sizeof(struct sockaddr_in6));
    ASSERT_OK(geo_addr_from_sockaddr(&a, (struct sockaddr *)&ss));
    ASSERT(geo_addr_equal(&a, &b));

    memset(&ss, 0, sizeof(ss));
    ss.ss_family = AF_UNIX;
    ASSERT_EQ(geo_addr_from_sockaddr(&a, (struct sockaddr *)&ss), -EAFNOSUPPORT);
    ASSERT_EQ(a.family, 0);
    ASSERT_EQ(geo_addr_bits(&a), 0);
    ASSERT_EQ(geo_addr_from_sockaddr(&a, NULL), -EAFNOSUPPORT);
    ASSERT_EQ(geo_addr_to_sockaddr(&a, &ss, &len), -EAFNOSUPPORT);
    ASSERT_EQ(geo_addr_format(&a, buf, sizeof(buf)), -EAFNOSUPPORT);
}

TEST(geo_addr_parse_text)
{
    struct geo_addr a;
    ASSERT_OK(geo_addr_parse(&a, "10.1.2.3"));
    ASSERT_EQ(a.family, AF_INET);
    ASSERT_EQ(a.bytes[3], 3);
    ASSERT_OK(geo_addr_parse(&a, "::FFFF:10.1.2.3"));
    ASSERT_EQ(a.family, AF_INET);
    ASSERT_EQ(a.bytes[0], 10);
    ASSERT_OK(geo_addr_parse(&a, "2001:db8::1"));
    ASSERT_EQ(a.family, AF_INET6);
    ASSERT_EQ(geo_addr_parse(&a, "1.2.3"), -EINVAL);
    ASSERT_EQ(geo_addr_parse(&a, "1.2.3.4/8"), -EINVAL);
    ASSERT_EQ(geo_addr_parse(&a, "example.com"), -EINVAL);
    ASSERT_EQ(geo_addr_parse(&a, ""), -EINVAL);
    ASSERT_EQ(geo_addr_parse(&a, NULL), -EINVAL);
    ASSERT_EQ(a.family, 0);
}
