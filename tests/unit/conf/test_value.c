/* Unit tests of conf/value.c: scalar text to durations, sizes, addresses. */
#include "tests/unit/test.h"
#include "conf/conf-int.h"
#include "tests/unit/conf/list.h"

/* Prototypes for the TEST() definitions below (-Wmissing-prototypes). */
#define CONF_TEST_DECLARE(name) void test_##name(void);
CONF_TESTS(CONF_TEST_DECLARE)

#include <arpa/inet.h>
#include <netinet/in.h>

static uint64_t ms(const char *s)
{
    uint64_t v = 0;
    const char *why = conf__duration_parse(s, &v);
    if (why != NULL)
        TEST_FAIL_("duration '%s': %s", s, why);
    return v;
}

static const char *ms_err(const char *s)
{
    uint64_t v = 12345;
    const char *why = conf__duration_parse(s, &v);
    ASSERT_NOT_NULL(why);
    ASSERT_EQ(v, 12345); /* untouched on error */
    return why;
}

TEST(conf_duration_units)
{
    ASSERT_EQ(ms("1ms"), 1);
    ASSERT_EQ(ms("500ms"), 500);
    ASSERT_EQ(ms("2s"), 2000);
    ASSERT_EQ(ms("1.5s"), 1500);
    ASSERT_EQ(ms("0.25s"), 250);
    ASSERT_EQ(ms(".5s"), 500);
    ASSERT_EQ(ms("0.001s"), 1);
    ASSERT_EQ(ms("1m"), 60000);
    ASSERT_EQ(ms("1.5m"), 90000);
    ASSERT_EQ(ms("1h"), 3600000);
    ASSERT_EQ(ms("7d"), UINT64_C(604800000));
    ASSERT_EQ(ms("0s"), 0); /* the parser allows it; the directive range refuses it */
    ASSERT_EQ(ms("007s"), 7000);
}

TEST(conf_duration_errors)
{
    ASSERT_STR_CONTAINS(ms_err("5"), "missing unit");
    ASSERT_STR_CONTAINS(ms_err("1.5"), "missing unit");
    ASSERT_STR_CONTAINS(ms_err("5x"), "unknown unit");
    ASSERT_STR_CONTAINS(ms_err("5S"), "unknown unit");
    ASSERT_STR_CONTAINS(ms_err("5 s"), "unknown unit");
    ASSERT_STR_CONTAINS(ms_err("5sec"), "unknown unit");
    ASSERT_STR_CONTAINS(ms_err("-1s"), "negative");
    ASSERT_STR_CONTAINS(ms_err("s"), "expected a number");
    ASSERT_STR_CONTAINS(ms_err(""), "expected a number");
    ASSERT_STR_CONTAINS(ms_err("1.s"), "expected a number");
    ASSERT_STR_CONTAINS(ms_err("+1s"), "expected a number");
    ASSERT_STR_CONTAINS(ms_err("1.5ms"), "whole number of milliseconds");
    ASSERT_STR_CONTAINS(ms_err("0.0001s"), "whole number of milliseconds");
    ASSERT_STR_CONTAINS(ms_err("1.0000000001s"), "too many decimal places");
    ASSERT_STR_CONTAINS(ms_err("99999999999999999999s"), "too large");
    ASSERT_STR_CONTAINS(ms_err("999999999999999999d"), "too large");
}

static uint64_t size(const char *s)
{
    uint64_t v = 0;
    const char *why = conf__size_parse(s, &v);
    if (why != NULL)
        TEST_FAIL_("size '%s': %s", s, why);
    return v;
}

TEST(conf_size_units)
{
    uint64_t v = 7;

    ASSERT_EQ(size("0"), 0);
    ASSERT_EQ(size("512"), 512);
    ASSERT_EQ(size("512b"), 512);
    ASSERT_EQ(size("512B"), 512);
    ASSERT_EQ(size("16k"), 16384);
    ASSERT_EQ(size("16K"), 16384);
    ASSERT_EQ(size("16kb"), 16384);
    ASSERT_EQ(size("16KB"), 16384);
    ASSERT_EQ(size("16KiB"), 16384);
    ASSERT_EQ(size("16kib"), 16384);
    ASSERT_EQ(size("1m"), 1048576);
    ASSERT_EQ(size("1MiB"), 1048576);
    ASSERT_EQ(size("2g"), UINT64_C(2147483648));
    ASSERT_EQ(size("2GB"), UINT64_C(2147483648));

    ASSERT_STR_CONTAINS(conf__size_parse("16x", &v), "unknown size suffix");
    ASSERT_STR_CONTAINS(conf__size_parse("16t", &v), "unknown size suffix");
    ASSERT_STR_CONTAINS(conf__size_parse("16ib", &v), "unknown size suffix");
    ASSERT_STR_CONTAINS(conf__size_parse("1.5k", &v), "sizes take whole numbers");
    ASSERT_STR_CONTAINS(conf__size_parse("16 k", &v), "unknown size suffix");
    ASSERT_STR_CONTAINS(conf__size_parse("k", &v), "expected a number");
    ASSERT_STR_CONTAINS(conf__size_parse("", &v), "expected a number");
    ASSERT_STR_CONTAINS(conf__size_parse("-1k", &v), "negative");
    ASSERT_STR_CONTAINS(conf__size_parse("99999999999999999999", &v), "too large");
    ASSERT_STR_CONTAINS(conf__size_parse("99999999999999g", &v), "too large");
    ASSERT_EQ(v, 7);
}

TEST(conf_uint_and_bool)
{
    uint64_t v = 0;
    int b = -1;

    ASSERT_NULL(conf__uint_parse("0", &v));
    ASSERT_EQ(v, 0);
    ASSERT_NULL(conf__uint_parse("18446744073709551615", &v));
    ASSERT_EQ(v, UINT64_MAX);
    ASSERT_STR_CONTAINS(conf__uint_parse("18446744073709551616", &v), "too large");
    ASSERT_STR_CONTAINS(conf__uint_parse("-1", &v), "negative");
    ASSERT_STR_CONTAINS(conf__uint_parse("1e3", &v), "whole number");
    ASSERT_STR_CONTAINS(conf__uint_parse("10_000", &v), "whole number");
    ASSERT_STR_CONTAINS(conf__uint_parse("0x10", &v), "whole number");
    ASSERT_STR_CONTAINS(conf__uint_parse("", &v), "whole number");

    ASSERT_NULL(conf__bool_parse("true", &b));
    ASSERT_EQ(b, 1);
    ASSERT_NULL(conf__bool_parse("Off", &b));
    ASSERT_EQ(b, 0);
    ASSERT_NULL(conf__bool_parse("YES", &b));
    ASSERT_EQ(b, 1);
    ASSERT_NULL(conf__bool_parse("no", &b));
    ASSERT_EQ(b, 0);
    ASSERT_STR_CONTAINS(conf__bool_parse("1", &b), "true or false");
}

static const struct conf_addr *addr(const char *s)
{
    static struct conf_addr a;
    const char *why = conf__addr_parse(s, &a);
    if (why != NULL)
        TEST_FAIL_("address '%s': %s", s, why);
    return &a;
}

static const char *addr_err(const char *s)
{
    struct conf_addr a;
    const char *why = conf__addr_parse(s, &a);
    if (why == NULL)
        TEST_FAIL_("address '%s' accepted", s);
    return why;
}

TEST(conf_addr_parse)
{
    const struct conf_addr *a = addr("127.0.0.1:8080");
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->sa;
    const struct sockaddr_in6 *sin6;

    ASSERT_EQ(sin->sin_family, AF_INET);
    ASSERT_EQ(ntohs(sin->sin_port), 8080);
    ASSERT_EQ(ntohl(sin->sin_addr.s_addr), 0x7f000001);
    ASSERT_EQ(a->salen, sizeof(struct sockaddr_in));
    ASSERT_STR_EQ(a->text, "127.0.0.1:8080");

    a = addr("[::]:8080");
    sin6 = (const struct sockaddr_in6 *)&a->sa;
    ASSERT_EQ(sin6->sin6_family, AF_INET6);
    ASSERT_EQ(ntohs(sin6->sin6_port), 8080);
    ASSERT_EQ(a->salen, sizeof(struct sockaddr_in6));
    ASSERT_STR_EQ(a->text, "[::]:8080");
    ASSERT_STR_EQ(addr("[0:0:0:0:0:0:0:1]:1")->text, "[::1]:1"); /* canonical */
    ASSERT_STR_EQ(addr("[2001:DB8::A]:65535")->text, "[2001:db8::a]:65535");
    ASSERT_STR_EQ(addr("0.0.0.0:080")->text, "0.0.0.0:80");

    ASSERT_STR_CONTAINS(addr_err("localhost:80"), "host names are only allowed for backends");
    ASSERT_STR_CONTAINS(addr_err("db-1.example.com:80"),
                        "host names are only allowed for backends");
    ASSERT_STR_CONTAINS(addr_err("256.1.1.1:80"), "not a valid IPv4 address");
    ASSERT_STR_CONTAINS(addr_err("1.2.3:80"), "not a valid IPv4 address");
    ASSERT_STR_CONTAINS(addr_err(":80"), "missing address before ':'");
    ASSERT_STR_CONTAINS(addr_err("127.0.0.1"), "missing :PORT");
    ASSERT_STR_CONTAINS(addr_err("127.0.0.1:"), "port must be");
    ASSERT_STR_CONTAINS(addr_err("127.0.0.1:0"), "port must be");
    ASSERT_STR_CONTAINS(addr_err("127.0.0.1:65536"), "port must be");
    ASSERT_STR_CONTAINS(addr_err("127.0.0.1:http"), "port must be");
    ASSERT_STR_CONTAINS(addr_err("::1:80"), "must be in brackets");
    ASSERT_STR_CONTAINS(addr_err("[::1]"), "missing :PORT");
    ASSERT_STR_CONTAINS(addr_err("[::1:80"), "missing ']'");
    ASSERT_STR_CONTAINS(addr_err("[::g]:80"), "not a valid IPv6 address");
    ASSERT_STR_CONTAINS(addr_err("[fe80::1%eth0]:80"), "not a valid IPv6 address");
    ASSERT_STR_CONTAINS(addr_err("[127.0.0.1]:80"), "not a valid IPv6 address");
    ASSERT_STR_CONTAINS(addr_err("[::1]:80:80"), "port must be");
    ASSERT_STR_CONTAINS(addr_err(""), "missing :PORT");
}

TEST(conf_name_valid)
{
    char name[CONF_NAME_MAX + 2];

    ASSERT_EQ(conf__name_valid("cn"), 1);
    ASSERT_EQ(conf__name_valid("us-east_1"), 1);
    ASSERT_EQ(conf__name_valid("A"), 1);
    ASSERT_EQ(conf__name_valid(""), 0);
    ASSERT_EQ(conf__name_valid("c n"), 0);
    ASSERT_EQ(conf__name_valid("cn.1"), 0);
    ASSERT_EQ(conf__name_valid("\xc3\xa9"), 0);
    memset(name, 'a', CONF_NAME_MAX);
    name[CONF_NAME_MAX] = '\0';
    ASSERT_EQ(conf__name_valid(name), 1);
    name[CONF_NAME_MAX] = 'a';
    name[CONF_NAME_MAX + 1] = '\0';
    ASSERT_EQ(conf__name_valid(name), 0);
}

TEST(conf_format_helpers)
{
    char buf[32], q[8];

    ASSERT_STR_EQ(conf__duration_format(1, buf, sizeof(buf)), "1ms");
    ASSERT_STR_EQ(conf__duration_format(1500, buf, sizeof(buf)), "1500ms");
    ASSERT_STR_EQ(conf__duration_format(2000, buf, sizeof(buf)), "2s");
    ASSERT_STR_EQ(conf__duration_format(90000, buf, sizeof(buf)), "90s");
    ASSERT_STR_EQ(conf__duration_format(3600000, buf, sizeof(buf)), "1h");
    ASSERT_STR_EQ(conf__duration_format(UINT64_C(604800000), buf, sizeof(buf)), "7d");
    ASSERT_STR_EQ(conf__duration_format(0, buf, sizeof(buf)), "0ms");
    ASSERT_STR_EQ(conf__size_format(0, buf, sizeof(buf)), "0");
    ASSERT_STR_EQ(conf__size_format(1000, buf, sizeof(buf)), "1000");
    ASSERT_STR_EQ(conf__size_format(16384, buf, sizeof(buf)), "16k");
    ASSERT_STR_EQ(conf__size_format(1048576, buf, sizeof(buf)), "1m");
    ASSERT_STR_EQ(conf__size_format(UINT64_C(1) << 40, buf, sizeof(buf)), "1024g");

    ASSERT_STR_EQ(conf__quote("abc", q, sizeof(q)), "abc");
    ASSERT_STR_EQ(conf__quote("a\nb\tc", q, sizeof(q)), "a?b?c");
    ASSERT_STR_EQ(conf__quote("abcdefghij", q, sizeof(q)), "abcd...");
}

/* Parses a network, failing the test on error; returns a static copy. */
static const struct conf_cidr *cidr(const char *s)
{
    static struct conf_cidr c;
    const char *why = conf__cidr_parse(s, &c);
    if (why != NULL)
        TEST_FAIL_("cidr '%s': %s", s, why);
    return &c;
}

static const char *cidr_err(const char *s)
{
    struct conf_cidr c;
    const char *why = conf__cidr_parse(s, &c);
    if (why == NULL)
        TEST_FAIL_("cidr '%s' was accepted", s);
    return why;
}

TEST(conf_cidr_parse)
{
    static const uint8_t ten_one[4] = {10, 1, 0, 0};
    const struct conf_cidr *c;

    c = cidr("10.1.0.0/16");
    ASSERT_EQ(c->family, AF_INET);
    ASSERT_EQ(c->prefix, 16);
    ASSERT(memcmp(c->addr, ten_one, 4) == 0);
    ASSERT_STR_EQ(c->text, "10.1.0.0/16");
    ASSERT_STR_EQ(cidr("10.1.2.3/16")->text, "10.1.0.0/16"); /* masked */
    ASSERT_STR_EQ(cidr("10.1.2.3/0")->text, "0.0.0.0/0");
    ASSERT_STR_EQ(cidr("10.1.2.255/31")->text, "10.1.2.254/31");
    ASSERT_STR_EQ(cidr("10.1.2.3")->text, "10.1.2.3/32");
    ASSERT_STR_EQ(cidr("2001:DB8::1/32")->text, "2001:db8::/32");
    ASSERT_STR_EQ(cidr("2001:db8:ffff::/33")->text, "2001:db8:8000::/33");
    ASSERT_STR_EQ(cidr("::1")->text, "::1/128");
    ASSERT_STR_EQ(cidr("::/0")->text, "::/0");
    c = cidr("::ffff:10.0.0.0/104");
    ASSERT_EQ(c->family, AF_INET);
    ASSERT_STR_EQ(c->text, "10.0.0.0/8");
    ASSERT_STR_EQ(cidr("::ffff:1.2.3.4")->text, "1.2.3.4/32");
    ASSERT_EQ(cidr("::ffff:0:0/95")->family, AF_INET6); /* wider than the mapped range */
    ASSERT_EQ(cidr("0.0.0.0/32")->prefix, 32);

    ASSERT_STR_CONTAINS(cidr_err("10.0.0.0/33"), "at most 32");
    ASSERT_STR_CONTAINS(cidr_err("::/129"), "at most 128");
    ASSERT_STR_CONTAINS(cidr_err("10.0.0.0/"), "must be a number");
    ASSERT_STR_CONTAINS(cidr_err("10.0.0.0/-1"), "must be a number");
    ASSERT_STR_CONTAINS(cidr_err("10.0.0/8"), "not a valid IP address");
    ASSERT_STR_CONTAINS(cidr_err("/8"), "expected an address");
    ASSERT_STR_CONTAINS(cidr_err(""), "expected an address");
    ASSERT_STR_CONTAINS(cidr_err("1111:2222:3333:4444:5555:6666:7777:8888:9999/8"),
                        "not a valid IP address");
}

TEST(conf_cidr_contains)
{
    static const uint8_t a[4] = {10, 1, 255, 9}, b[4] = {10, 2, 0, 0};
    static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0x80};
    struct conf_cidr c;

    ASSERT_NULL(conf__cidr_parse("10.0.0.0/15", &c));
    ASSERT_EQ(conf__cidr_contains(&c, AF_INET, a), 1);
    ASSERT_EQ(conf__cidr_contains(&c, AF_INET, b), 0);
    ASSERT_EQ(conf__cidr_contains(&c, AF_INET6, a), 0);
    ASSERT_NULL(conf__cidr_parse("0.0.0.0/0", &c));
    ASSERT_EQ(conf__cidr_contains(&c, AF_INET, b), 1);
    ASSERT_NULL(conf__cidr_parse("2001:db8:8000::/33", &c));
    ASSERT_EQ(conf__cidr_contains(&c, AF_INET6, v6), 1);
    ASSERT_NULL(conf__cidr_parse("2001:db8::/33", &c));
    ASSERT_EQ(conf__cidr_contains(&c, AF_INET6, v6), 0);
}

TEST(conf_hostname_check)
{
    char long_label[80], long_name[300];

    ASSERT_NULL(conf__hostname_check("localhost", 0));
    ASSERT_NULL(conf__hostname_check("backend.cn.internal", 0));
    ASSERT_NULL(conf__hostname_check("a-b.c0.example.", 0));
    ASSERT_NULL(conf__hostname_check("1a.example", 0));
    ASSERT_NULL(conf__hostname_check("_http._tcp.svc.consul", 1));
    ASSERT_STR_CONTAINS(conf__hostname_check("_http._tcp.svc.consul", 0), "only letters");
    ASSERT_STR_CONTAINS(conf__hostname_check("", 0), "empty host name");
    ASSERT_STR_CONTAINS(conf__hostname_check(".", 0), "empty host name");
    ASSERT_STR_CONTAINS(conf__hostname_check(".a", 0), "empty label");
    ASSERT_STR_CONTAINS(conf__hostname_check("a..b", 0), "empty label");
    ASSERT_STR_CONTAINS(conf__hostname_check("a.b..", 0), "empty label");
    ASSERT_STR_CONTAINS(conf__hostname_check("-a.b", 0), "cannot start with '-'");
    ASSERT_STR_CONTAINS(conf__hostname_check("a-.b", 0), "cannot end with '-'");
    ASSERT_STR_CONTAINS(conf__hostname_check("a.b-", 0), "cannot end with '-'");
    ASSERT_STR_CONTAINS(conf__hostname_check("a.123", 0), "cannot be all digits");
    ASSERT_STR_CONTAINS(conf__hostname_check("a b", 0), "only letters");

    memset(long_label, 'a', 63);
    long_label[63] = '\0';
    ASSERT_NULL(conf__hostname_check(long_label, 0));
    long_label[63] = 'a';
    long_label[64] = '\0';
    ASSERT_STR_CONTAINS(conf__hostname_check(long_label, 0), "longer than 63");
    for (size_t i = 0; i < 253; i++)
        long_name[i] = i % 2 ? '.' : 'a';
    long_name[253] = '\0';
    ASSERT_NULL(conf__hostname_check(long_name, 0));
    long_name[253] = 'a';
    long_name[254] = '\0';
    ASSERT_STR_CONTAINS(conf__hostname_check(long_name, 0), "longer than 253");
}

TEST(conf_target_parse)
{
    struct conf_addr a;
    char host[256];
    uint16_t port = 0;
    int is_name = -1;

    ASSERT_NULL(conf__target_parse("10.0.0.1:80", &a, host, sizeof(host), &port, &is_name));
    ASSERT_EQ(is_name, 0);
    ASSERT_EQ(port, 80);
    ASSERT_STR_EQ(a.text, "10.0.0.1:80");
    ASSERT_NULL(conf__target_parse("[::1]:81", &a, host, sizeof(host), &port, &is_name));
    ASSERT_EQ(is_name, 0);
    ASSERT_EQ(port, 81);
    ASSERT_NULL(conf__target_parse("db.internal:5432", &a, host, sizeof(host), &port, &is_name));
    ASSERT_EQ(is_name, 1);
    ASSERT_EQ(port, 5432);
    ASSERT_STR_EQ(host, "db.internal");
    ASSERT_STR_CONTAINS(conf__target_parse("db.internal", &a, host, sizeof(host), &port, &is_name),
                        "missing :PORT");
    ASSERT_STR_CONTAINS(conf__target_parse("db:0", &a, host, sizeof(host), &port, &is_name),
                        "port must be");
    ASSERT_STR_CONTAINS(conf__target_parse("1.2.3.256:1", &a, host, sizeof(host), &port, &is_name),
                        "not a valid IPv4 address");
    ASSERT_STR_CONTAINS(conf__target_parse("[db]:1", &a, host, sizeof(host), &port, &is_name),
                        "not a valid IPv6 address");
    ASSERT_STR_CONTAINS(conf__target_parse("d_b:1", &a, host, sizeof(host), &port, &is_name),
                        "only letters");
    ASSERT_STR_CONTAINS(conf__target_parse("a:b:1", &a, host, sizeof(host), &port, &is_name),
                        "brackets");
}

TEST(conf_header_name_check)
{
    ASSERT_NULL(conf__header_name_check("X-Geo-Country"));
    ASSERT_NULL(conf__header_name_check("x_geo.asn~1"));
    ASSERT_STR_CONTAINS(conf__header_name_check(""), "empty");
    ASSERT_STR_CONTAINS(conf__header_name_check("X Geo"), "only letters");
    ASSERT_STR_CONTAINS(conf__header_name_check("X-Geo:"), "only letters");
    ASSERT_STR_CONTAINS(conf__header_name_check("X-G\xc3\xa9o"), "only letters");
    ASSERT_STR_CONTAINS(conf__header_name_check("HOST"), "used by HTTP");
    ASSERT_STR_CONTAINS(conf__header_name_check("X-Forwarded-For"), "used by HTTP");
    ASSERT_STR_CONTAINS(conf__header_name_check("transfer-encoding"), "used by HTTP");
    ASSERT_STR_CONTAINS(conf__header_name_check(
                            "X-123456789012345678901234567890123456789012345678901234567890123"),
                        "longer than 64");
}

TEST(conf_pct_status_asn)
{
    uint64_t v = 0;
    uint32_t lo = 0, hi = 0, asn = 0;

    ASSERT_NULL(conf__pct_parse("10", &v));
    ASSERT_EQ(v, 10);
    ASSERT_NULL(conf__pct_parse("0%", &v));
    ASSERT_EQ(v, 0);
    ASSERT_NULL(conf__pct_parse("150%", &v)); /* the range is the caller's */
    ASSERT_EQ(v, 150);
    ASSERT_NOT_NULL(conf__pct_parse("%", &v));
    ASSERT_NOT_NULL(conf__pct_parse("", &v));
    ASSERT_NOT_NULL(conf__pct_parse("-1%", &v));
    ASSERT_NOT_NULL(conf__pct_parse("1.5%", &v));
    ASSERT_NOT_NULL(conf__pct_parse("10%%", &v));

    ASSERT_NULL(conf__status_range_parse("200-399", &lo, &hi));
    ASSERT_EQ(lo, 200);
    ASSERT_EQ(hi, 399);
    ASSERT_NULL(conf__status_range_parse("204", &lo, &hi));
    ASSERT_EQ(lo, 204);
    ASSERT_EQ(hi, 204);
    ASSERT_NULL(conf__status_range_parse("100-599", &lo, &hi));
    ASSERT_STR_CONTAINS(conf__status_range_parse("99", &lo, &hi), "from 100 to 599");
    ASSERT_STR_CONTAINS(conf__status_range_parse("200-600", &lo, &hi), "from 100 to 599");
    ASSERT_STR_CONTAINS(conf__status_range_parse("300-200", &lo, &hi), "greater than");
    ASSERT_STR_CONTAINS(conf__status_range_parse("2xx", &lo, &hi), "expected a status");
    ASSERT_STR_CONTAINS(conf__status_range_parse("200-", &lo, &hi), "expected a status");
    ASSERT_STR_CONTAINS(conf__status_range_parse("-200", &lo, &hi), "expected a status");
    ASSERT_EQ(lo, 100); /* untouched on error */

    ASSERT_NULL(conf__asn_parse("4134", &asn));
    ASSERT_EQ(asn, 4134);
    ASSERT_NULL(conf__asn_parse("as4812", &asn));
    ASSERT_EQ(asn, 4812);
    ASSERT_NULL(conf__asn_parse("AS4294967295", &asn));
    ASSERT_EQ(asn, UINT32_MAX);
    ASSERT_STR_CONTAINS(conf__asn_parse("0", &asn), "AS0 is reserved");
    ASSERT_STR_CONTAINS(conf__asn_parse("4294967296", &asn), "at most");
    ASSERT_STR_CONTAINS(conf__asn_parse("ASN1", &asn), "expected an AS number");
    ASSERT_STR_CONTAINS(conf__asn_parse("", &asn), "expected an AS number");
}

TEST(conf_addr_port_and_loopback)
{
    struct conf_addr a;

    ASSERT_NULL(conf__addr_parse_port("127.0.0.1", 53, &a));
    ASSERT_STR_EQ(a.text, "127.0.0.1:53");
    ASSERT_NULL(conf__addr_parse_port("::1", 53, &a));
    ASSERT_STR_EQ(a.text, "[::1]:53");
    ASSERT_NULL(conf__addr_parse_port("127.0.0.1:5353", 53, &a));
    ASSERT_STR_EQ(a.text, "127.0.0.1:5353");
    ASSERT_NULL(conf__addr_parse_port("[::1]:5353", 53, &a));
    ASSERT_STR_EQ(a.text, "[::1]:5353");
    ASSERT_NOT_NULL(conf__addr_parse_port("ns1:53", 53, &a));
    ASSERT_NOT_NULL(conf__addr_parse_port("", 53, &a));

    ASSERT_NULL(conf__addr_parse("127.0.0.1:1", &a));
    ASSERT_EQ(conf__addr_is_loopback(&a), 1);
    ASSERT_NULL(conf__addr_parse("127.255.0.9:1", &a));
    ASSERT_EQ(conf__addr_is_loopback(&a), 1);
    ASSERT_NULL(conf__addr_parse("128.0.0.1:1", &a));
    ASSERT_EQ(conf__addr_is_loopback(&a), 0);
    ASSERT_NULL(conf__addr_parse("0.0.0.0:1", &a));
    ASSERT_EQ(conf__addr_is_loopback(&a), 0);
    ASSERT_NULL(conf__addr_parse("[::1]:1", &a));
    ASSERT_EQ(conf__addr_is_loopback(&a), 1);
    ASSERT_NULL(conf__addr_parse("[::]:1", &a));
    ASSERT_EQ(conf__addr_is_loopback(&a), 0);
    ASSERT_NULL(conf__addr_parse("[::ffff:127.0.0.1]:1", &a));
    ASSERT_EQ(conf__addr_is_loopback(&a), 1);
    ASSERT_NULL(conf__addr_parse("[::ffff:10.0.0.1]:1", &a));
    ASSERT_EQ(conf__addr_is_loopback(&a), 0);
}
