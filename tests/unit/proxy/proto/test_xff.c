/*
 * Unit tests of proxy/proto/xff.c: every element form real proxies write
 * parses to the right address, junk parses to nothing, and the walk stops
 * at the first element it cannot read or the first untrusted hop.
 */
#include "tests/unit/test.h"
#include "proxy/proto/xff.h"
#include "geo/addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>

/* The text of the address parsed from ELEM, or "ERR". */
static const char *parsed(const char *elem)
{
    static char out[64];
    struct sockaddr_storage ss;
    struct geo_addr a;

    if (px_xff_parse(elem, strlen(elem), &ss) != 0)
        return "ERR";
    ASSERT_OK(geo_addr_from_sockaddr(&a, (struct sockaddr *)&ss));
    ASSERT(geo_addr_format(&a, out, sizeof(out)) >= 0);
    return out;
}

TEST(xff_parses_every_form_proxies_write)
{
    ASSERT_STR_EQ(parsed("1.2.3.4"), "1.2.3.4");
    ASSERT_STR_EQ(parsed("1.2.3.4:5678"), "1.2.3.4");
    ASSERT_STR_EQ(parsed("2001:db8::1"), "2001:db8::1");
    ASSERT_STR_EQ(parsed("[2001:db8::1]"), "2001:db8::1");
    ASSERT_STR_EQ(parsed("[2001:db8::1]:443"), "2001:db8::1");
    /* HAProxy's v4v6 and dual-stack sockets: the IPv4 address it maps. */
    ASSERT_STR_EQ(parsed("::ffff:1.2.3.4"), "1.2.3.4");
    ASSERT_STR_EQ(parsed("[::ffff:1.2.3.4]:80"), "1.2.3.4");
    ASSERT_STR_EQ(parsed("::ffff:102:304"), "1.2.3.4");
    ASSERT_STR_EQ(parsed("::1"), "::1");
}

TEST(xff_refuses_what_is_not_an_address)
{
    static const char *const bad[] = {
        "",
        "unknown",
        "_hidden",
        "1.2.3",
        "1.2.3.4:",
        "1.2.3.4:0",
        "1.2.3.4:65536",
        "1.2.3.4:80x",
        "1.2.3.4:-1",
        "[1.2.3.4]",
        "[::1",
        "[::1]80",
        "[::1]:",
        "[::1]:99999",
        "::1]:80",
        "1.2.3.4 x",
        "300.1.1.1",
        "example.com",
        "[::1]:80:90",
        "1.2.3.4:80:90",
        "::ffff:1.2.3.4:80",
        "2001:db8::1:80:81:82:83:84:85",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (strcmp(parsed(bad[i]), "ERR") != 0)
            TEST_FAIL_("'%s' parsed as %s", bad[i], parsed(bad[i]));
}

static struct conf_cidr_list trusted_list(struct conf_cidr *c, size_t n)
{
    return (struct conf_cidr_list){.cidrs = c, .ncidrs = n};
}

static struct conf_cidr v4net(const char *ip, unsigned prefix)
{
    struct conf_cidr c = {.family = AF_INET, .prefix = (uint8_t)prefix};
    ASSERT_EQ(inet_pton(AF_INET, ip, c.addr), 1);
    return c;
}

/* Walks LINES (header values) from PEER with 10.0.0.0/8 trusted; the result's text. */
static const char *walk(const char *peer, const char *const *lines, size_t n)
{
    static char out[64];
    struct conf_cidr c[] = {v4net("10.0.0.0", 8)};
    struct conf_cidr_list t = trusted_list(c, 1);
    struct px_span spans[8];
    struct sockaddr_storage ss;
    struct geo_addr a;

    for (size_t i = 0; i < n; i++)
        spans[i] = (struct px_span){lines[i], strlen(lines[i])};
    ASSERT_OK(px_xff_parse(peer, strlen(peer), &ss));
    px_xff_walk(spans, n, &t, &ss);
    ASSERT_OK(geo_addr_from_sockaddr(&a, (struct sockaddr *)&ss));
    geo_addr_format(&a, out, sizeof(out));
    return out;
}

TEST(xff_walk_right_to_left_through_trusted_hops)
{
    const char *one[] = {"203.0.113.9, 10.0.0.2"};
    const char *two[] = {"198.51.100.1", "203.0.113.9 ,10.0.0.2"};
    const char *mapped[] = {"::ffff:203.0.113.9"};
    const char *junk[] = {"203.0.113.9, unknown, 10.0.0.3"};
    const char *spoof[] = {"1.1.1.1, 203.0.113.9"};

    ASSERT_STR_EQ(walk("10.0.0.1", one, 1), "203.0.113.9");
    ASSERT_STR_EQ(walk("10.0.0.1", two, 2), "203.0.113.9");
    /* The v4v6 form no longer stops the walk at the trusted proxy. */
    ASSERT_STR_EQ(walk("10.0.0.1", mapped, 1), "203.0.113.9");
    /* Junk stops it: the last trusted hop is what we know. */
    ASSERT_STR_EQ(walk("10.0.0.1", junk, 1), "10.0.0.3");
    /* An untrusted hop ends it: what the client wrote left of it is not believed. */
    ASSERT_STR_EQ(walk("10.0.0.1", spoof, 1), "203.0.113.9");
    /* An untrusted peer: XFF is not read at all. */
    ASSERT_STR_EQ(walk("192.0.2.7", one, 1), "192.0.2.7");
}
