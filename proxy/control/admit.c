/* admit: see admit.h. */
#include "proxy/control/admit.h"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int px_local_addrs_read(struct px_local_addrs *l)
{
    struct ifaddrs *ifs, *i;
    size_t n = 0;

    if (getifaddrs(&ifs) != 0)
        return -1;
    for (i = ifs; i; i = i->ifa_next)
        n += i->ifa_addr &&
             (i->ifa_addr->sa_family == AF_INET || i->ifa_addr->sa_family == AF_INET6);
    struct sockaddr_storage *a = calloc(n ? n : 1, sizeof(*a));
    if (a == NULL) {
        freeifaddrs(ifs);
        return -1;
    }
    n = 0;
    for (i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr)
            continue;
        if (i->ifa_addr->sa_family == AF_INET)
            memcpy(&a[n++], i->ifa_addr, sizeof(struct sockaddr_in));
        else if (i->ifa_addr->sa_family == AF_INET6)
            memcpy(&a[n++], i->ifa_addr, sizeof(struct sockaddr_in6));
    }
    freeifaddrs(ifs);
    free(l->addrs);
    l->addrs = a;
    l->n = n;
    return 0;
}

void px_local_addrs_dispose(struct px_local_addrs *l)
{
    free(l->addrs);
    l->addrs = NULL;
    l->n = 0;
}

/* An address as family + 16 bytes, IPv4-mapped IPv6 read as the IPv4 it maps. */
struct ip {
    int family;
    uint8_t b[16];
    uint16_t port; /* host order */
};

static bool ip_of(const struct sockaddr *sa, struct ip *out)
{
    memset(out, 0, sizeof(*out));
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)sa;
        out->family = AF_INET;
        memcpy(out->b, &a->sin_addr, 4);
        out->port = ntohs(a->sin_port);
        return true;
    }
    if (sa->sa_family != AF_INET6)
        return false;
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)sa;
    out->port = ntohs(a->sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
        out->family = AF_INET;
        memcpy(out->b, a->sin6_addr.s6_addr + 12, 4);
    } else {
        out->family = AF_INET6;
        memcpy(out->b, a->sin6_addr.s6_addr, 16);
    }
    return true;
}

static bool ip_unspecified(const struct ip *a)
{
    static const uint8_t zero[16];
    return memcmp(a->b, zero, a->family == AF_INET ? 4 : 16) == 0;
}

static bool ip_loopback(const struct ip *a)
{
    static const uint8_t one6[16] = {[15] = 1};
    return a->family == AF_INET ? a->b[0] == 127 : memcmp(a->b, one6, 16) == 0;
}

/* The special-purpose ranges no DNS answer may name unless allowed. */
static const char *special(const struct ip *a)
{
    if (ip_loopback(a))
        return "loopback";
    if (a->family == AF_INET) {
        if (a->b[0] == 0)
            return "unspecified";
        if (a->b[0] == 169 && a->b[1] == 254)
            return "link-local"; /* 169.254.169.254: cloud metadata */
        if (a->b[0] >= 224 && a->b[0] <= 239)
            return "multicast";
        if (a->b[0] >= 240)
            return "reserved"; /* 240/4 and the broadcast address */
        return NULL;
    }
    if (ip_unspecified(a))
        return "unspecified";
    if (a->b[0] == 0xfe && (a->b[1] & 0xc0) == 0x80)
        return "link-local";
    if (a->b[0] == 0xff)
        return "multicast";
    return NULL;
}

static bool same_ip(const struct ip *a, const struct ip *b)
{
    return a->family == b->family && memcmp(a->b, b->b, 16) == 0;
}

/* Is A on this host: loopback, or one of its interfaces' addresses? */
static bool is_local(const struct ip *a, const struct px_local_addrs *local)
{
    if (ip_loopback(a))
        return true;
    for (size_t i = 0; local && i < local->n; i++) {
        struct ip l;
        if (ip_of((const struct sockaddr *)&local->addrs[i], &l) && same_ip(&l, a))
            return true;
    }
    return false;
}

/* Does A reach the socket bound to LISTEN (its address, or any local one for a wildcard)? */
static bool reaches(const struct ip *a, const struct conf_addr *listen,
                    const struct px_local_addrs *local)
{
    struct ip l;
    if (listen->salen == 0 || !ip_of((const struct sockaddr *)&listen->sa, &l) || l.port != a->port)
        return false;
    return same_ip(&l, a) || (ip_unspecified(&l) && is_local(a, local));
}

static bool port_allowed(const struct conf_discovery *d, uint16_t port)
{
    if (d->nports == 0)
        return true;
    for (size_t i = 0; i < d->nports; i++)
        if (port >= d->ports[i].lo && port <= d->ports[i].hi)
            return true;
    return false;
}

const char *px_admit_address(const struct conf *cf, const struct conf_region *r,
                             const struct sockaddr *sa, const struct px_local_addrs *local)
{
    const struct conf_discovery *d = &r->discovery;
    struct ip a;
    const char *why;

    if (!ip_of(sa, &a))
        return "unspecified";
    for (size_t i = 0; i < cf->nlisten; i++)
        if (reaches(&a, &cf->listen[i], local))
            return "own listener";
    if (cf->admin.enabled && reaches(&a, &cf->admin.addr, local))
        return "own admin address";
    if (d->allow.ncidrs > 0) {
        if (!conf_cidr_list_match(&d->allow, sa))
            return "not in discovery.allow";
    } else if ((why = special(&a)) != NULL) {
        return why;
    }
    if (!port_allowed(d, a.port))
        return "port not in discovery.ports";
    return NULL;
}
