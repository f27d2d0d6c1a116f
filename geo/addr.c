/*
 * geo/addr: normalised client addresses (see addr.h).
 */
#include "geo/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

static const uint8_t v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Fills *out from raw IPv6 bytes, unmapping ::ffff:a.b.c.d to IPv4. */
static void set_v6(struct geo_addr *out, const uint8_t b[16])
{
    memset(out, 0, sizeof(*out));
    if (memcmp(b, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0) {
        out->family = AF_INET;
        memcpy(out->bytes, b + 12, 4);
    } else {
        out->family = AF_INET6;
        memcpy(out->bytes, b, 16);
    }
}

/*
 * Converts a socket address into a geo_addr. An AF_INET6 address in
 * ::ffff:0:0/96 becomes the AF_INET address it carries; the port and the
 * IPv6 scope are dropped. sa is borrowed and must be at least as long as its
 * family's sockaddr. Allocation-free.
 * Returns 0, or -EAFNOSUPPORT (out zeroed) for NULL or another family.
 */
int geo_addr_from_sockaddr(struct geo_addr *out, const struct sockaddr *sa)
{
    if (sa != NULL && sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;
        memset(out, 0, sizeof(*out));
        out->family = AF_INET;
        memcpy(out->bytes, &sin->sin_addr, 4);
        return 0;
    }
    if (sa != NULL && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;
        set_v6(out, sin6->sin6_addr.s6_addr);
        return 0;
    }
    memset(out, 0, sizeof(*out));
    return -EAFNOSUPPORT;
}

/*
 * Parses a numeric IPv4 (dotted quad, exactly four parts) or IPv6 address,
 * unmapping IPv4-mapped IPv6 as geo_addr_from_sockaddr does. text is
 * borrowed. Returns 0, or -EINVAL (out zeroed) when it is not an address.
 */
int geo_addr_parse(struct geo_addr *out, const char *text)
{
    uint8_t b[16];
    memset(out, 0, sizeof(*out));
    if (text == NULL)
        return -EINVAL;
    if (inet_pton(AF_INET, text, b) == 1) {
        out->family = AF_INET;
        memcpy(out->bytes, b, 4);
        return 0;
    }
    if (inet_pton(AF_INET6, text, b) == 1) {
        set_v6(out, b);
        return 0;
    }
    return -EINVAL;
}

/*
 * Writes a as a sockaddr_in or sockaddr_in6 (port 0) into *ss and its length
 * into *len. Returns 0, or -EAFNOSUPPORT when a->family is neither.
 */
int geo_addr_to_sockaddr(const struct geo_addr *a, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    if (a->family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)(void *)ss;
        sin->sin_family = AF_INET;
        memcpy(&sin->sin_addr, a->bytes, 4);
        *len = sizeof(*sin);
        return 0;
    }
    if (a->family == AF_INET6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)ss;
        sin6->sin6_family = AF_INET6;
        memcpy(&sin6->sin6_addr, a->bytes, 16);
        *len = sizeof(*sin6);
        return 0;
    }
    return -EAFNOSUPPORT;
}

/*
 * Writes the text form of a into buf (GEO_ADDR_TEXT_MAX bytes always
 * suffice). Returns 0, -EAFNOSUPPORT for an unknown family, or -ENOSPC when
 * buf is too small (buf then holds "").
 */
int geo_addr_format(const struct geo_addr *a, char *buf, size_t buflen)
{
    if (buflen > 0)
        buf[0] = '\0';
    if (a->family != AF_INET && a->family != AF_INET6)
        return -EAFNOSUPPORT;
    if (inet_ntop(a->family, a->bytes, buf, (socklen_t)buflen) == NULL) {
        if (buflen > 0)
            buf[0] = '\0';
        return -ENOSPC;
    }
    return 0;
}

/* Returns 1 when a and b are the same family and address, else 0. */
int geo_addr_equal(const struct geo_addr *a, const struct geo_addr *b)
{
    return a->family == b->family && memcmp(a->bytes, b->bytes, sizeof(a->bytes)) == 0;
}

/* Returns the address length in bits: 32 for AF_INET, 128 for AF_INET6, else 0. */
unsigned geo_addr_bits(const struct geo_addr *a)
{
    return a->family == AF_INET ? 32 : a->family == AF_INET6 ? 128 : 0;
}
