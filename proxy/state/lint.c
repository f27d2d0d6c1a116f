/*
 * lint: what a config that loads fine still gets wrong. Nothing here is an
 * error (the config may be meant that way, or written ahead of a change),
 * so each finding is a warning at FILE:LINE:COL: a country code no database
 * reports, a zone an earlier zone always catches first, a region no zone
 * routes to.
 */
#include "proxy/state/snapshot.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct out {
    char *buf;
    size_t len, used;
    unsigned n;
};

__attribute__((format(printf, 4, 5))) static void warn(struct out *o, const char *file,
                                                       struct conf_pos pos, const char *fmt, ...)
{
    va_list ap;
    int k;

    o->n++;
    if (o->used + 1 >= o->len)
        return;
    k = snprintf(o->buf + o->used, o->len - o->used, "%s:%u:%u: warning: ", file, pos.line,
                 pos.col);
    o->used += k > 0 ? (size_t)k : 0;
    if (o->used + 1 >= o->len)
        return;
    va_start(ap, fmt);
    k = vsnprintf(o->buf + o->used, o->len - o->used, fmt, ap);
    va_end(ap);
    o->used += k > 0 ? (size_t)k : 0;
    if (o->used + 1 < o->len)
        o->buf[o->used++] = '\n';
    o->buf[o->used < o->len ? o->used : o->len - 1] = '\0';
}

static void countries(const struct conf *cf, struct out *o)
{
    for (size_t z = 0; z < cf->nzones; z++) {
        const struct conf_zone_values *v = &cf->zones[z].match.country;
        for (size_t i = 0; i < v->n; i++) {
            const char *means = geo_country_check(v->str[i]);
            if (means == NULL)
                continue;
            warn(o, cf->path, v->pos[i],
                 "zones[%zu].match.country[%zu]: %s is not an assigned ISO 3166-1 code%s%s%s, "
                 "so no database reports it",
                 z, i, v->str[i], *means ? " (did you mean " : "", means, *means ? "?)" : "");
        }
    }
}

/* A network of a zone's match.cidr, parsed. */
struct net {
    int family;
    unsigned prefix;
    uint8_t b[16];
};

static bool net_parse(const char *s, struct net *n)
{
    char ip[64];
    const char *slash = strchr(s, '/');
    size_t len = slash ? (size_t)(slash - s) : strlen(s);

    if (len >= sizeof(ip))
        return false;
    memcpy(ip, s, len);
    ip[len] = '\0';
    n->family = strchr(ip, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(n->family, ip, n->b) != 1)
        return false;
    n->prefix = slash ? (unsigned)atoi(slash + 1) : (n->family == AF_INET ? 32 : 128);
    return true;
}

/* Is INNER inside OUTER? */
static bool net_within(const struct net *inner, const struct net *outer)
{
    if (inner->family != outer->family || inner->prefix < outer->prefix)
        return false;
    unsigned full = outer->prefix / 8, rest = outer->prefix % 8;
    if (memcmp(inner->b, outer->b, full) != 0)
        return false;
    return rest == 0 || ((inner->b[full] ^ outer->b[full]) & (0xff << (8 - rest))) == 0;
}

static bool cidr_only(const struct conf_zone *z)
{
    const struct conf_zone_match *m = &z->match;
    return z->has_match && m->cidr.n > 0 && m->country.n == 0 && m->subdivision.n == 0 &&
           m->continent.n == 0 && m->nasn == 0;
}

/* Every network of LATER inside one of EARLIER's (both match on cidr alone). */
static bool shadowed(const struct conf_zone *later, const struct conf_zone *earlier)
{
    for (size_t i = 0; i < later->match.cidr.n; i++) {
        struct net a, b;
        bool inside = false;
        if (!net_parse(later->match.cidr.str[i], &a))
            return false;
        for (size_t j = 0; j < earlier->match.cidr.n && !inside; j++)
            inside = net_parse(earlier->match.cidr.str[j], &b) && net_within(&a, &b);
        if (!inside)
            return false;
    }
    return true;
}

static void shadows(const struct conf *cf, struct out *o)
{
    for (size_t z = 1; z < cf->nzones; z++) {
        if (!cidr_only(&cf->zones[z]))
            continue;
        for (size_t e = 0; e < z; e++) {
            if (cidr_only(&cf->zones[e]) && shadowed(&cf->zones[z], &cf->zones[e])) {
                warn(o, cf->path, cf->zones[z].match_pos,
                     "zones[%zu] (%s) never matches: every network of it is inside zones[%zu] "
                     "(%s), which comes first",
                     z, cf->zones[z].name, e, cf->zones[e].name);
                break;
            }
        }
    }
}

static bool routed(const struct conf *cf, size_t r)
{
    for (size_t z = 0; z < cf->nzones; z++) {
        const struct conf_route *rt = &cf->zones[z].route;
        for (size_t i = 0; i < rt->nregions; i++)
            if (rt->regions[i] == r)
                return true;
        for (size_t i = 0; i < rt->nfallback; i++)
            if (rt->fallback[i] == r)
                return true;
    }
    return false;
}

static void unused_regions(const struct conf *cf, struct out *o)
{
    for (size_t r = 0; r < cf->nregions; r++)
        if (!routed(cf, r))
            warn(o, cf->path, cf->regions[r].pos,
                 "regions.%s: no zone routes to it (in route.regions or route.fallback), so it "
                 "only gets probed",
                 cf->regions[r].name);
}

unsigned px_config_lint(const struct px_config *cfg, char *buf, size_t len)
{
    struct out o = {buf, len, 0, 0};
    if (len)
        buf[0] = '\0';
    countries(cfg->conf, &o);
    shadows(cfg->conf, &o);
    unused_regions(cfg->conf, &o);
    return o.n;
}
