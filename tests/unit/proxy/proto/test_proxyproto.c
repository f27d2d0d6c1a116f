/* Unit tests of proxy/proto/proxyproto.c: v1 and v2 headers, prefixes, garbage. */
#include "tests/unit/test.h"
#include "proxy/proto/proxyproto.h"
#include "proxy/base/px.h"

#include <arpa/inet.h>

static int parse(const char *s, size_t n, struct sockaddr_storage *ss, size_t *used)
{
    return px_proxyproto_parse(s, n, ss, used);
}

TEST(proxyproto_v1_tcp4)
{
    const char h[] = "PROXY TCP4 127.1.0.7 127.0.0.1 40000 8080\r\nGET / HTTP/1.1\r\n";
    struct sockaddr_storage ss;
    size_t used = 0;
    char ip[64];
    ASSERT_EQ(parse(h, sizeof(h) - 1, &ss, &used), PX_PROXYPROTO_DONE);
    ASSERT_EQ(used, strlen("PROXY TCP4 127.1.0.7 127.0.0.1 40000 8080\r\n"));
    ASSERT_EQ(ss.ss_family, AF_INET);
    inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, sizeof(ip));
    ASSERT_STR_EQ(ip, "127.1.0.7");
    ASSERT_EQ(ntohs(((struct sockaddr_in *)&ss)->sin_port), 40000);
}

TEST(proxyproto_v1_tcp6_and_unknown)
{
    const char h6[] = "PROXY TCP6 fd00:1::5 ::1 1 2\r\n";
    const char hu[] = "PROXY UNKNOWN\r\n";
    struct sockaddr_storage ss;
    size_t used;
    char ip[64];
    ASSERT_EQ(parse(h6, sizeof(h6) - 1, &ss, &used), PX_PROXYPROTO_DONE);
    ASSERT_EQ(ss.ss_family, AF_INET6);
    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip, sizeof(ip));
    ASSERT_STR_EQ(ip, "fd00:1::5");
    ASSERT_EQ(parse(hu, sizeof(hu) - 1, &ss, &used), PX_PROXYPROTO_DONE);
    ASSERT_EQ(ss.ss_family, AF_UNSPEC);
    ASSERT_EQ(used, sizeof(hu) - 1);
}

TEST(proxyproto_v1_prefixes_need_more)
{
    const char h[] = "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n";
    struct sockaddr_storage ss;
    size_t used;
    for (size_t n = 0; n < sizeof(h) - 1; n++)
        ASSERT_EQ(parse(h, n, &ss, &used), PX_PROXYPROTO_MORE);
}

TEST(proxyproto_v1_rejects_garbage)
{
    static const char *const bad[] = {
        "GET / HTTP/1.1\r\n\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
        "PROXY TCP4 1.2.3.999 5.6.7.8 1 2\r\n",
        "PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
        "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
    };
    struct sockaddr_storage ss;
    size_t used;
    for (size_t i = 0; i < PX_ARRAY_LEN(bad); i++)
        ASSERT_EQ(parse(bad[i], strlen(bad[i]), &ss, &used), PX_EPARSE);
    char longline[200];
    memset(longline, 'A', sizeof(longline));
    memcpy(longline, "PROXY TCP4 ", 11);
    ASSERT_EQ(parse(longline, sizeof(longline), &ss, &used), PX_EPARSE);
}

static size_t v2_header(unsigned char *b, unsigned char cmd, unsigned char fam, size_t body)
{
    memcpy(b, "\r\n\r\n\0\r\nQUIT\n", 12);
    b[12] = (unsigned char)(0x20 | cmd);
    b[13] = fam;
    b[14] = (unsigned char)(body >> 8);
    b[15] = (unsigned char)body;
    return 16;
}

TEST(proxyproto_v2_tcp4_tcp6_local)
{
    unsigned char b[64] = {0};
    struct sockaddr_storage ss;
    size_t used;
    char ip[64];

    size_t n = v2_header(b, 1, 0x11, 12);
    memcpy(b + n, "\x7f\x02\x00\x09", 4);     /* src 127.2.0.9 */
    memcpy(b + n + 4, "\x7f\x00\x00\x01", 4); /* dst */
    memcpy(b + n + 8, "\x9c\x40\x1f\x90", 4); /* ports 40000, 8080 */
    ASSERT_EQ(parse((char *)b, n + 12, &ss, &used), PX_PROXYPROTO_DONE);
    ASSERT_EQ(used, 28);
    inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, sizeof(ip));
    ASSERT_STR_EQ(ip, "127.2.0.9");
    ASSERT_EQ(ntohs(((struct sockaddr_in *)&ss)->sin_port), 40000);
    for (size_t k = 0; k < n + 12; k++)
        ASSERT_EQ(parse((char *)b, k, &ss, &used), PX_PROXYPROTO_MORE);

    memset(b, 0, sizeof(b));
    n = v2_header(b, 1, 0x21, 36);
    b[n + 15] = 1; /* ::1 */
    ASSERT_EQ(parse((char *)b, n + 36, &ss, &used), PX_PROXYPROTO_DONE);
    ASSERT_EQ(ss.ss_family, AF_INET6);

    n = v2_header(b, 0, 0x00, 0);
    ASSERT_EQ(parse((char *)b, n, &ss, &used), PX_PROXYPROTO_DONE);
    ASSERT_EQ(ss.ss_family, AF_UNSPEC);
}

TEST(proxyproto_v2_rejects_bad)
{
    unsigned char b[64] = {0};
    struct sockaddr_storage ss;
    size_t used;
    size_t n = v2_header(b, 1, 0x11, 8); /* too short for TCP4 */
    ASSERT_EQ(parse((char *)b, n + 8, &ss, &used), PX_EPARSE);
    n = v2_header(b, 2, 0x11, 12); /* unknown command */
    ASSERT_EQ(parse((char *)b, n + 12, &ss, &used), PX_EPARSE);
    n = v2_header(b, 1, 0x11, 12);
    b[12] = 0x11; /* version 1 in a v2 signature */
    ASSERT_EQ(parse((char *)b, n + 12, &ss, &used), PX_EPARSE);
}
