/*
 * proxyproto: v1 is one CRLF-terminated ASCII line of at most 107 bytes;
 * v2 is a 16-byte binary header with a length-prefixed address block. Both
 * are validated strictly: a header we cannot read closes the connection, so
 * a trusted peer's bug never turns into a wrong client address.
 */
#include "proxy/proto/proxyproto.h"
#include "proxy/base/px.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char v2_sig[12] = {'\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n'};
static const char v1_sig[6] = {'P', 'R', 'O', 'X', 'Y', ' '};

/* Splits the next space-terminated field off *p (up to END). */
static int next_field(const char **p, const char *end, char *out, size_t cap)
{
    const char *s = *p;
    const char *e = memchr(s, ' ', (size_t)(end - s));
    size_t n;
    if (e == NULL)
        e = end;
    n = (size_t)(e - s);
    if (n == 0 || n >= cap)
        return -1;
    memcpy(out, s, n);
    out[n] = '\0';
    *p = e < end ? e + 1 : e;
    return 0;
}

static int parse_port(const char *s, uint16_t *port)
{
    char *end;
    if (s[0] < '0' || s[0] > '9' || (s[0] == '0' && s[1] != '\0'))
        return -1;
    unsigned long v = strtoul(s, &end, 10);
    if (*end != '\0' || v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

static int parse_v1(const char *buf, size_t len, struct sockaddr_storage *src, size_t *consumed)
{
    size_t max = len < PX_PROXYPROTO_V1_MAX_BYTES ? len : PX_PROXYPROTO_V1_MAX_BYTES;
    const char *cr = memchr(buf, '\r', max);
    char proto[8], saddr[48], daddr[48], sport[8], dport[8];
    uint16_t port, unused;

    if (cr == NULL)
        return len < PX_PROXYPROTO_V1_MAX_BYTES && memchr(buf, '\n', len) == NULL
                   ? PX_PROXYPROTO_MORE
                   : PX_EPARSE;
    /* A LF before the CR is refused whatever follows, so the answer for
     * a header never depends on how it was split over reads. */
    if (memchr(buf, '\n', (size_t)(cr - buf)) != NULL)
        return PX_EPARSE;
    if ((size_t)(cr - buf) + 1 >= len)
        return PX_PROXYPROTO_MORE;
    if (cr[1] != '\n')
        return PX_EPARSE;
    *consumed = (size_t)(cr - buf) + 2;
    const char *p = buf + sizeof(v1_sig), *end = cr;
    memset(src, 0, sizeof(*src));
    if (next_field(&p, end, proto, sizeof(proto)) != 0)
        return PX_EPARSE;
    if (strcmp(proto, "UNKNOWN") == 0) {
        src->ss_family = AF_UNSPEC;
        return PX_PROXYPROTO_DONE;
    }
    if (next_field(&p, end, saddr, sizeof(saddr)) != 0 ||
        next_field(&p, end, daddr, sizeof(daddr)) != 0 ||
        next_field(&p, end, sport, sizeof(sport)) != 0 ||
        next_field(&p, end, dport, sizeof(dport)) != 0 || p != end ||
        parse_port(sport, &port) != 0 || parse_port(dport, &unused) != 0)
        return PX_EPARSE;
    if (strcmp(proto, "TCP4") == 0) {
        struct sockaddr_in *in = (struct sockaddr_in *)src;
        struct in_addr dummy;
        if (inet_pton(AF_INET, saddr, &in->sin_addr) != 1 || inet_pton(AF_INET, daddr, &dummy) != 1)
            return PX_EPARSE;
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        return PX_PROXYPROTO_DONE;
    }
    if (strcmp(proto, "TCP6") == 0) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)src;
        struct in6_addr dummy;
        if (inet_pton(AF_INET6, saddr, &in6->sin6_addr) != 1 ||
            inet_pton(AF_INET6, daddr, &dummy) != 1)
            return PX_EPARSE;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        return PX_PROXYPROTO_DONE;
    }
    return PX_EPARSE;
}

static int parse_v2(const unsigned char *b, size_t len, struct sockaddr_storage *src,
                    size_t *consumed)
{
    if (len < 16)
        return PX_PROXYPROTO_MORE;
    unsigned ver = b[12] >> 4, cmd = b[12] & 0x0f;
    unsigned fam = b[13] >> 4, proto = b[13] & 0x0f;
    size_t body = (size_t)b[14] << 8 | b[15];
    if (ver != 2 || cmd > 1)
        return PX_EPARSE;
    if (len < 16 + body)
        return PX_PROXYPROTO_MORE;
    *consumed = 16 + body;
    memset(src, 0, sizeof(*src));
    src->ss_family = AF_UNSPEC;
    if (cmd == 0 || proto != 1) /* LOCAL, or not a stream: the peer stands */
        return PX_PROXYPROTO_DONE;
    if (fam == 1) {
        struct sockaddr_in *in = (struct sockaddr_in *)src;
        if (body < 12)
            return PX_EPARSE;
        in->sin_family = AF_INET;
        memcpy(&in->sin_addr, b + 16, 4);
        memcpy(&in->sin_port, b + 24, 2);
    } else if (fam == 2) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)src;
        if (body < 36)
            return PX_EPARSE;
        in6->sin6_family = AF_INET6;
        memcpy(&in6->sin6_addr, b + 16, 16);
        memcpy(&in6->sin6_port, b + 48, 2);
    } else if (fam != 0 && fam != 3) {
        return PX_EPARSE;
    }
    return PX_PROXYPROTO_DONE;
}

int px_proxyproto_parse(const char *buf, size_t len, struct sockaddr_storage *src, size_t *consumed)
{
    size_t n = len < sizeof(v2_sig) ? len : sizeof(v2_sig);
    if (memcmp(buf, v2_sig, n) == 0)
        return n < sizeof(v2_sig) ? PX_PROXYPROTO_MORE
                                  : parse_v2((const unsigned char *)buf, len, src, consumed);
    n = len < sizeof(v1_sig) ? len : sizeof(v1_sig);
    if (memcmp(buf, v1_sig, n) == 0)
        return n < sizeof(v1_sig) ? PX_PROXYPROTO_MORE : parse_v1(buf, len, src, consumed);
    return PX_EPARSE;
}
