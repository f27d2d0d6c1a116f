/*
 * Unit tests of proxy/data/client.c's helpers that need no loop.
 */
#include "tests/unit/test.h"
#include "proxy/data/client.h"
#include "proxy/base/px.h"

#include <arpa/inet.h>
#include <string.h>

/* The peer address as XFF and the access log show it: every IPv4 digit count, and IPv6. */
TEST(client_peer_ip_text)
{
    static const char *const v4[] = {"0.0.0.0", "127.0.0.1", "10.20.30.40", "255.254.199.100",
                                     "9.99.100.1"};
    struct px_client c;
    char buf[64];

    memset(&c, 0, sizeof(c));
    for (size_t i = 0; i < PX_ARRAY_LEN(v4); i++) {
        c.peer.in.sin_family = AF_INET;
        ASSERT_EQ(inet_pton(AF_INET, v4[i], &c.peer.in.sin_addr), 1);
        px_client_peer_ip(&c, buf, sizeof(buf));
        ASSERT_STR_EQ(buf, v4[i]);
    }
    memset(&c, 0, sizeof(c));
    c.peer.in6.sin6_family = AF_INET6;
    ASSERT_EQ(inet_pton(AF_INET6, "2001:db8::1", &c.peer.in6.sin6_addr), 1);
    px_client_peer_ip(&c, buf, sizeof(buf));
    ASSERT_STR_EQ(buf, "2001:db8::1");
}
