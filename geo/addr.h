/*
 * geo/addr: the client address as geo/ sees it.
 *
 * A struct geo_addr is a family plus the address bytes, with IPv4-mapped IPv6
 * addresses (::ffff:a.b.c.d, as dual-stack listeners report IPv4 peers)
 * already turned back into the IPv4 address they are. Both the database
 * lookup (geo/geodb) and the zone matcher (geo/zone) work on it, so the two
 * can never disagree about which family an address belongs to. It is small,
 * has no padding holes that matter (compare with geo_addr_equal), and suits
 * a per-connection cache key. This file owns no memory.
 */
#ifndef GEO_ADDR_H
#define GEO_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Longest text form of an address, with NUL (INET6_ADDRSTRLEN). */
#define GEO_ADDR_TEXT_MAX 46

struct geo_addr {
    uint8_t family;    /* AF_INET or AF_INET6; never an IPv4-mapped AF_INET6 */
    uint8_t bytes[16]; /* network byte order; AF_INET uses bytes[0..3], rest 0 */
};

int geo_addr_from_sockaddr(struct geo_addr *out, const struct sockaddr *sa);
int geo_addr_parse(struct geo_addr *out, const char *text);
int geo_addr_to_sockaddr(const struct geo_addr *a, struct sockaddr_storage *ss, socklen_t *len);
int geo_addr_format(const struct geo_addr *a, char *buf, size_t buflen);
int geo_addr_equal(const struct geo_addr *a, const struct geo_addr *b);
unsigned geo_addr_bits(const struct geo_addr *a);

#endif
