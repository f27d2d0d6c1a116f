/*
 * geo/zone: zone list compiler and classifier (see zone.h).
 *
 * CIDRs go into one binary trie per family (bit i of the address picks
 * child[bit]). Every node carries the sorted list of zones whose prefixes
 * contain it (its own prefixes plus all its ancestors'), stored as a slice
 * of one shared array; nodes without prefixes of their own share their
 * parent's slice. So classifying walks the trie once, at most 32 or 128
 * steps, and ends holding every zone whose CIDR matches; the zones are then
 * tried in order against that list and the other keys.
 */
#include "geo/zone.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COUNTRY_BITS (26 * 26)
#define COUNTRY_WORDS ((COUNTRY_BITS + 63) / 64)
#define NO_CHILD 0 /* node 0 is the root, never a child */

static const char continents[][3] = {"AF", "AN", "AS", "EU", "NA", "OC", "SA"};
#define NCONTINENTS (sizeof(continents) / sizeof(continents[0]))

struct zone {
    char *name;                           /* owned */
    unsigned keys;                        /* bit (1u << enum geo_zone_key) per key with values */
    uint8_t continent_bits;               /* bit i = continents[i] */
    uint64_t country_bits[COUNTRY_WORDS]; /* bit (a - 'A') * 26 + (b - 'A') */
    uint32_t *asn;                        /* owned, sorted, unique; nasn entries */
    size_t nasn;
    uint64_t *subdiv; /* owned, sorted, unique packed codes; nsubdiv entries */
    size_t nsubdiv;
};

struct trie_node {
    uint32_t child[2]; /* node indexes; NO_CHILD if none */
    uint32_t zl_off;   /* start of this node's zone list in geo_zones.zl */
    uint32_t zl_len;   /* entries in the list; zones whose CIDR contains this node */
};

struct trie {
    struct trie_node *nodes; /* owned; nodes[0] is the root */
    size_t n, cap;           /* used and allocated nodes */
};

/* A (node, zone) pair: zone has a prefix that ends exactly at node. */
struct mark {
    uint32_t node, zone;
};

struct geo_zones {
    struct zone *zones; /* owned; nzones entries, in match order */
    size_t nzones;
    size_t default_idx;  /* index of the "default" zone */
    int any_cidr;        /* some zone has a cidr key: walk the tries */
    struct trie trie[2]; /* [0] IPv4, [1] IPv6 */
    uint32_t *zl;        /* owned; zone index lists the trie nodes point into */
    size_t nzl, zlcap;   /* used and allocated entries of zl */
};

/* Compile-time state not kept in the result. */
struct builder {
    struct mark *marks[2]; /* owned; per family */
    size_t nmarks[2], capmarks[2];
};

static const char *const key_names[] = {
    [GEO_ZONE_KEY_NAME] = "name",           [GEO_ZONE_KEY_MATCH] = "match",
    [GEO_ZONE_KEY_CIDR] = "cidr",           [GEO_ZONE_KEY_ASN] = "asn",
    [GEO_ZONE_KEY_COUNTRY] = "country",     [GEO_ZONE_KEY_SUBDIVISION] = "subdivision",
    [GEO_ZONE_KEY_CONTINENT] = "continent",
};

/* Returns the config spelling of key ("cidr", "country", ...), or "?" if unknown. */
const char *geo_zone_key_name(enum geo_zone_key key)
{
    return (unsigned)key < sizeof(key_names) / sizeof(key_names[0]) ? key_names[key] : "?";
}

__attribute__((format(printf, 6, 7))) static int fail(struct geo_zone_error *err, size_t zone,
                                                      const char *zname, enum geo_zone_key key,
                                                      size_t vi, const char *fmt, ...)
{
    char what[96];
    va_list ap;
    int n;
    err->zone = zone;
    err->key = key;
    err->value_index = vi;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    /* Truncation is fine: the zone, key and index are in the fields too. */
    if (key == GEO_ZONE_KEY_NAME || key == GEO_ZONE_KEY_MATCH)
        n = snprintf(err->msg, sizeof(err->msg), "zone %zu (%.32s): %s: %s", zone,
                     zname ? zname : "unnamed", key_names[key], what);
    else
        n = snprintf(err->msg, sizeof(err->msg), "zone %zu (%.32s): match.%s[%zu]: %s", zone,
                     zname ? zname : "unnamed", key_names[key], vi, what);
    if (n < 0)
        err->msg[0] = '\0';
    return -1;
}

static int up(int c)
{
    return c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c;
}

static int is_alpha(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int is_alnum(int c)
{
    return is_alpha(c) || (c >= '0' && c <= '9');
}

/* Returns the country bit index of two letters (any case), or -1. */
static int country_index(const char *s)
{
    if (s == NULL || !is_alpha((unsigned char)s[0]) || !is_alpha((unsigned char)s[1]) ||
        s[2] != '\0')
        return -1;
    return (up((unsigned char)s[0]) - 'A') * 26 + (up((unsigned char)s[1]) - 'A');
}

/* Returns the continent bit of a code (any case), or -1. */
static int continent_index(const char *s)
{
    /* No strlen(): s may be a geo_result's char[3]. */
    if (s == NULL || s[0] == '\0' || s[1] == '\0' || s[2] != '\0')
        return -1;
    for (size_t i = 0; i < NCONTINENTS; i++)
        if (up((unsigned char)s[0]) == continents[i][0] &&
            up((unsigned char)s[1]) == continents[i][1])
            return (int)i;
    return -1;
}

/*
 * Packs country + subdivision part (1..3 alnum, any case) into one sortable
 * number; 0 when either is malformed. Used for the config's "CN-GD" and for
 * a result's country "CN" + subdivision "GD" alike.
 */
static uint64_t subdiv_pack(const char *cc, const char *sub)
{
    uint64_t v;
    size_t n;
    if (country_index(cc) < 0 || sub == NULL)
        return 0;
    n = strnlen(sub, 4); /* sub may be a geo_result's char[4] */
    if (n < 1 || n > 3)
        return 0;
    v = ((uint64_t)up((unsigned char)cc[0]) << 32) | ((uint64_t)up((unsigned char)cc[1]) << 24);
    for (size_t i = 0; i < n; i++) {
        if (!is_alnum((unsigned char)sub[i]))
            return 0;
        v |= (uint64_t)up((unsigned char)sub[i]) << (16 - 8 * i);
    }
    return v;
}

/* Parses "CC-XXX" into a packed code; 0 when malformed. */
static uint64_t subdiv_parse(const char *s)
{
    char cc[3];
    if (s == NULL || strlen(s) < 4 || s[2] != '-')
        return 0;
    cc[0] = s[0];
    cc[1] = s[1];
    cc[2] = '\0';
    return subdiv_pack(cc, s + 3);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_mark(const void *a, const void *b)
{
    const struct mark *x = a, *y = b;
    if (x->node != y->node)
        return x->node < y->node ? -1 : 1;
    return x->zone < y->zone ? -1 : x->zone > y->zone;
}

/* Sorts and removes duplicates; returns the new count. */
static size_t sort_unique(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    char *p = base;
    size_t out = 0;
    if (n == 0)
        return 0;
    qsort(base, n, size, cmp);
    for (size_t i = 1; i < n; i++)
        if (cmp(p + out * size, p + i * size) != 0 && ++out != i)
            memcpy(p + out * size, p + i * size, size);
    return out + 1;
}

static const char host_bits_set[] = "host bits set";

/*
 * Parses a CIDR or bare address into *a and *len, unmapping IPv4-mapped
 * prefixes. Returns NULL, or a static reason why text is invalid; for
 * host_bits_set, *a and *len hold what was parsed.
 */
static const char *parse_cidr(const char *text, struct geo_addr *a, unsigned *len)
{
    char buf[GEO_ADDR_TEXT_MAX];
    const char *slash = strchr(text, '/');
    size_t alen = slash ? (size_t)(slash - text) : strlen(text);
    uint8_t b[16];
    unsigned bits, plen;

    if (alen == 0 || alen >= sizeof(buf))
        return "not an IPv4 or IPv6 address";
    memcpy(buf, text, alen);
    buf[alen] = '\0';
    memset(a, 0, sizeof(*a));
    if (inet_pton(AF_INET, buf, b) == 1) {
        a->family = AF_INET;
        memcpy(a->bytes, b, 4);
    } else if (inet_pton(AF_INET6, buf, b) == 1) {
        a->family = AF_INET6;
        memcpy(a->bytes, b, 16);
    } else {
        return "not an IPv4 or IPv6 address (IPv4 needs four parts)";
    }
    bits = geo_addr_bits(a);
    if (slash == NULL) {
        plen = bits;
    } else {
        const char *p = slash + 1;
        plen = 0;
        if (*p == '\0')
            return "missing prefix length after '/'";
        for (; *p; p++) {
            if (*p < '0' || *p > '9' || plen > bits)
                return a->family == AF_INET ? "prefix length must be 0..32"
                                            : "prefix length must be 0..128";
            plen = plen * 10 + (unsigned)(*p - '0');
        }
        if (plen > bits)
            return a->family == AF_INET ? "prefix length must be 0..32"
                                        : "prefix length must be 0..128";
    }
    *len = plen;
    for (unsigned i = plen; i < bits; i++)
        if (a->bytes[i / 8] & (0x80u >> (i % 8)))
            return host_bits_set;
    /* ::ffff:a.b.c.d/96+n is the IPv4 prefix a.b.c.d/n: clients get unmapped. */
    if (a->family == AF_INET6 && plen >= 96) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a->bytes, mapped, 12) == 0) {
            memmove(a->bytes, a->bytes + 12, 4);
            memset(a->bytes + 4, 0, 12);
            a->family = AF_INET;
            plen -= 96;
        }
    }
    *len = plen;
    return NULL;
}

static int bit_at(const struct geo_addr *a, unsigned i)
{
    return (a->bytes[i / 8] >> (7 - i % 8)) & 1;
}

/* Appends a node to t; returns its index, or 0 on allocation failure. */
static uint32_t trie_new_node(struct trie *t)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        struct trie_node *p;
        if (cap > UINT32_MAX)
            return 0;
        p = realloc(t->nodes, cap * sizeof(*p));
        if (p == NULL)
            return 0;
        t->nodes = p;
        t->cap = cap;
    }
    memset(&t->nodes[t->n], 0, sizeof(t->nodes[0]));
    return (uint32_t)t->n++;
}

/* Records that zone has prefix a/len. Returns 0 or -ENOMEM. */
static int trie_insert(struct geo_zones *z, struct builder *b, const struct geo_addr *a,
                       unsigned len, uint32_t zone)
{
    int fam = a->family == AF_INET6;
    struct trie *t = &z->trie[fam];
    uint32_t node = 0;

    for (unsigned i = 0; i < len; i++) {
        int bit = bit_at(a, i);
        uint32_t c = t->nodes[node].child[bit];
        if (c == NO_CHILD) {
            c = trie_new_node(t);
            if (c == 0)
                return -ENOMEM;
            t->nodes[node].child[bit] = c;
        }
        node = c;
    }
    if (b->nmarks[fam] == b->capmarks[fam]) {
        size_t cap = b->capmarks[fam] ? b->capmarks[fam] * 2 : 32;
        struct mark *p = realloc(b->marks[fam], cap * sizeof(*p));
        if (p == NULL)
            return -ENOMEM;
        b->marks[fam] = p;
        b->capmarks[fam] = cap;
    }
    b->marks[fam][b->nmarks[fam]++] = (struct mark){node, zone};
    return 0;
}

/* Makes room for n more entries in z->zl. Returns 0 or -ENOMEM. */
static int zl_reserve(struct geo_zones *z, size_t n)
{
    if (z->nzl + n <= z->zlcap)
        return 0;
    size_t cap = z->zlcap ? z->zlcap : 64;
    while (cap < z->nzl + n)
        cap *= 2;
    if (cap > UINT32_MAX)
        return -ENOMEM;
    uint32_t *p = realloc(z->zl, cap * sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    z->zl = p;
    z->zlcap = cap;
    return 0;
}

/*
 * Gives node (and, recursively, its subtree) its zone list: the inherited
 * list (off, len) merged with the zones marked at node. marks/nmarks are the
 * family's marks, sorted by node then zone and searched by bisection.
 * Returns 0 or -ENOMEM. Recursion depth is at most 129.
 */
static int trie_fill(struct geo_zones *z, struct trie *t, const struct mark *marks, size_t nmarks,
                     uint32_t node, uint32_t off, uint32_t len)
{
    size_t lo = 0, hi = nmarks;
    /* Find the first mark of node. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (marks[mid].node < node)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < nmarks && marks[lo].node == node) {
        size_t own = 0, i = 0, j = lo, start;
        while (lo + own < nmarks && marks[lo + own].node == node)
            own++;
        if (zl_reserve(z, len + own) != 0)
            return -ENOMEM;
        start = z->nzl;
        /* Sorted union of the inherited list and this node's zones. */
        while (i < len || j < lo + own) {
            uint32_t v;
            if (j == lo + own || (i < len && z->zl[off + i] < marks[j].zone))
                v = z->zl[off + i++];
            else if (i == len || marks[j].zone < z->zl[off + i])
                v = marks[j++].zone;
            else
                v = (i++, marks[j++].zone);
            z->zl[z->nzl++] = v;
        }
        off = (uint32_t)start;
        len = (uint32_t)(z->nzl - start);
    }
    t->nodes[node].zl_off = off;
    t->nodes[node].zl_len = len;
    for (int bit = 0; bit < 2; bit++) {
        uint32_t c = t->nodes[node].child[bit];
        if (c != NO_CHILD && trie_fill(z, t, marks, nmarks, c, off, len) != 0)
            return -ENOMEM;
    }
    return 0;
}

/* Compiles one spec into z->zones[zi]. Returns 0, -1 (err set) or -ENOMEM. */
static int compile_zone(struct geo_zones *z, struct builder *b, const struct geo_zone_spec *s,
                        size_t si, size_t zi, struct geo_zone_error *err)
{
    struct zone *zn = &z->zones[zi];
    const char *nm = s->name;

    for (size_t i = 0; i < s->ncountry; i++) {
        int ci = country_index(s->country[i]);
        if (ci < 0)
            return fail(err, si, nm, GEO_ZONE_KEY_COUNTRY, i,
                        "\"%.24s\" is not a two-letter ISO 3166-1 code",
                        s->country[i] ? s->country[i] : "(null)");
        zn->country_bits[ci / 64] |= (uint64_t)1 << (ci % 64);
    }
    for (size_t i = 0; i < s->ncontinent; i++) {
        int ci = continent_index(s->continent[i]);
        if (ci < 0)
            return fail(err, si, nm, GEO_ZONE_KEY_CONTINENT, i,
                        "\"%.24s\" is not one of AF AN AS EU NA OC SA",
                        s->continent[i] ? s->continent[i] : "(null)");
        zn->continent_bits |= (uint8_t)(1u << ci);
    }
    if (s->nsubdivision > 0) {
        zn->subdiv = malloc(s->nsubdivision * sizeof(*zn->subdiv));
        if (zn->subdiv == NULL)
            return -ENOMEM;
        for (size_t i = 0; i < s->nsubdivision; i++) {
            uint64_t v = subdiv_parse(s->subdivision[i]);
            if (v == 0)
                return fail(err, si, nm, GEO_ZONE_KEY_SUBDIVISION, i,
                            "\"%.24s\" is not an ISO 3166-2 code like CN-GD",
                            s->subdivision[i] ? s->subdivision[i] : "(null)");
            zn->subdiv[i] = v;
        }
        zn->nsubdiv = sort_unique(zn->subdiv, s->nsubdivision, sizeof(*zn->subdiv), cmp_u64);
    }
    if (s->nasn > 0) {
        zn->asn = malloc(s->nasn * sizeof(*zn->asn));
        if (zn->asn == NULL)
            return -ENOMEM;
        for (size_t i = 0; i < s->nasn; i++) {
            if (s->asn[i] == 0)
                return fail(err, si, nm, GEO_ZONE_KEY_ASN, i,
                            "AS0 is reserved (it means \"unknown\")");
            zn->asn[i] = s->asn[i];
        }
        zn->nasn = sort_unique(zn->asn, s->nasn, sizeof(*zn->asn), cmp_u32);
    }
    for (size_t i = 0; i < s->ncidr; i++) {
        struct geo_addr a;
        unsigned len;
        const char *why;
        if (s->cidr[i] == NULL)
            return fail(err, si, nm, GEO_ZONE_KEY_CIDR, i, "missing value");
        why = parse_cidr(s->cidr[i], &a, &len);
        if (why == host_bits_set) {
            char net[GEO_ADDR_TEXT_MAX];
            unsigned bits = geo_addr_bits(&a);
            for (unsigned k = len; k < bits; k++)
                a.bytes[k / 8] &= (uint8_t) ~(0x80u >> (k % 8));
            geo_addr_format(&a, net, sizeof(net));
            return fail(err, si, nm, GEO_ZONE_KEY_CIDR, i,
                        "\"%.46s\" has host bits set (network is %s/%u)", s->cidr[i], net, len);
        }
        if (why != NULL)
            return fail(err, si, nm, GEO_ZONE_KEY_CIDR, i, "\"%.46s\": %s", s->cidr[i], why);
        if (trie_insert(z, b, &a, len, (uint32_t)zi) != 0)
            return -ENOMEM;
        z->any_cidr = 1;
    }
    if (s->ncidr)
        zn->keys |= 1u << GEO_ZONE_KEY_CIDR;
    if (s->nasn)
        zn->keys |= 1u << GEO_ZONE_KEY_ASN;
    if (s->ncountry)
        zn->keys |= 1u << GEO_ZONE_KEY_COUNTRY;
    if (s->nsubdivision)
        zn->keys |= 1u << GEO_ZONE_KEY_SUBDIVISION;
    if (s->ncontinent)
        zn->keys |= 1u << GEO_ZONE_KEY_CONTINENT;
    return 0;
}

/*
 * Compiles the ordered zone list specs[0..nspecs) (nspecs may be 0) into a
 * matcher. specs and everything they point to are borrowed for the call
 * only. On success *out owns a new struct geo_zones (free with
 * geo_zones_free()); zone i of the specs is compiled zone i, and if no spec
 * is named "default" an implicit one is appended at index nspecs.
 * Returns 0; -1 with *out = NULL and *err filled for an invalid spec (the
 * first one found, in spec order); or -ENOMEM (err->msg says so).
 */
int geo_zones_compile(const struct geo_zone_spec *specs, size_t nspecs, struct geo_zones **out,
                      struct geo_zone_error *err)
{
    struct builder b;
    struct geo_zones *z;
    size_t ndefault = SIZE_MAX;
    int rc = -ENOMEM;

    *out = NULL;
    memset(err, 0, sizeof(*err));
    memset(&b, 0, sizeof(b));
    z = calloc(1, sizeof(*z));
    if (z == NULL)
        goto nomem;

    /* Names first, so a duplicate is reported before anything else. */
    for (size_t i = 0; i < nspecs; i++) {
        const struct geo_zone_spec *s = &specs[i];
        size_t nkeys = s->ncidr + s->nasn + s->ncountry + s->nsubdivision + s->ncontinent;
        if (s->name == NULL || s->name[0] == '\0') {
            rc = fail(err, i, NULL, GEO_ZONE_KEY_NAME, 0, "missing or empty");
            goto out;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(specs[j].name, s->name) == 0) {
                rc = fail(err, i, s->name, GEO_ZONE_KEY_NAME, 0,
                          "\"%.32s\" is already the name of zone %zu", s->name, j);
                goto out;
            }
        if (strcmp(s->name, GEO_ZONE_DEFAULT_NAME) == 0) {
            ndefault = i;
            if (nkeys != 0) {
                rc = fail(err, i, s->name, GEO_ZONE_KEY_MATCH, 0,
                          "the default zone takes the rest and has no match");
                goto out;
            }
        } else if (nkeys == 0) {
            rc = fail(err, i, s->name, GEO_ZONE_KEY_MATCH, 0,
                      "empty match would take every client (call it \"default\")");
            goto out;
        }
    }

    z->nzones = nspecs + (ndefault == SIZE_MAX);
    z->default_idx = ndefault == SIZE_MAX ? nspecs : ndefault;
    if (z->nzones > UINT32_MAX)
        goto nomem;
    z->zones = calloc(z->nzones, sizeof(*z->zones));
    if (z->zones == NULL)
        goto nomem;
    for (size_t f = 0; f < 2; f++) {
        trie_new_node(&z->trie[f]); /* the root, index 0 */
        if (z->trie[f].n != 1)
            goto nomem;
    }
    for (size_t i = 0; i < z->nzones; i++) {
        z->zones[i].name = strdup(i < nspecs ? specs[i].name : GEO_ZONE_DEFAULT_NAME);
        if (z->zones[i].name == NULL)
            goto nomem;
        if (i < nspecs) {
            rc = compile_zone(z, &b, &specs[i], i, i, err);
            if (rc == -ENOMEM)
                goto nomem;
            if (rc != 0)
                goto out;
        }
    }
    for (int f = 0; f < 2; f++) {
        b.nmarks[f] = sort_unique(b.marks[f], b.nmarks[f], sizeof(struct mark), cmp_mark);
        if (trie_fill(z, &z->trie[f], b.marks[f], b.nmarks[f], 0, 0, 0) != 0)
            goto nomem;
    }
    *out = z;
    z = NULL;
    rc = 0;
    goto out;

nomem:
    rc = -ENOMEM;
    snprintf(err->msg, sizeof(err->msg), "out of memory compiling zones");
out:
    free(b.marks[0]);
    free(b.marks[1]);
    geo_zones_free(z);
    return rc;
}

/* Frees a compiled zone list and everything it owns; z may be NULL. */
void geo_zones_free(struct geo_zones *z)
{
    if (z == NULL)
        return;
    for (size_t i = 0; z->zones != NULL && i < z->nzones; i++) {
        free(z->zones[i].name);
        free(z->zones[i].asn);
        free(z->zones[i].subdiv);
    }
    free(z->zones);
    free(z->trie[0].nodes);
    free(z->trie[1].nodes);
    free(z->zl);
    free(z);
}

/* Returns the number of zones, the default included (always >= 1). */
size_t geo_zones_count(const struct geo_zones *z)
{
    return z->nzones;
}

/* Returns the index of the default zone (always < geo_zones_count()). */
size_t geo_zones_default(const struct geo_zones *z)
{
    return z->default_idx;
}

/* Returns zone idx's name, owned by z, or NULL when idx is out of range. */
const char *geo_zones_name(const struct geo_zones *z, size_t idx)
{
    return idx < z->nzones ? z->zones[idx].name : NULL;
}

/* Looks a zone up by name. Returns 0 and sets *idx, or -ENOENT. */
int geo_zones_find(const struct geo_zones *z, const char *name, size_t *idx)
{
    for (size_t i = 0; i < z->nzones; i++)
        if (name != NULL && strcmp(z->zones[i].name, name) == 0) {
            *idx = i;
            return 0;
        }
    return -ENOENT;
}

static int has_u32(const uint32_t *v, size_t n, uint32_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < x)
            lo = mid + 1;
        else if (v[mid] > x)
            hi = mid;
        else
            return 1;
    }
    return 0;
}

static int has_u64(const uint64_t *v, size_t n, uint64_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < x)
            lo = mid + 1;
        else if (v[mid] > x)
            hi = mid;
        else
            return 1;
    }
    return 0;
}

/*
 * Returns the index of the first zone whose match holds for a client at
 * address client (may be NULL: no CIDR matches) with database result r
 * (may be NULL, or found = 0: only CIDRs can match), else the default zone.
 * Never fails and allocates nothing; z, client and r are borrowed. Safe
 * from several threads at once.
 */
size_t geo_zone_classify_addr(const struct geo_zones *z, const struct geo_addr *client,
                              const struct geo_result *r)
{
    const uint32_t *zl = NULL, *zl_end = NULL;
    int ci = -1, conti = -1;
    uint64_t sub = 0;
    uint32_t asn = 0;

    if (z->any_cidr && client != NULL &&
        (client->family == AF_INET || client->family == AF_INET6)) {
        const struct trie *t = &z->trie[client->family == AF_INET6];
        unsigned bits = geo_addr_bits(client);
        uint32_t node = 0;
        for (unsigned i = 0; i < bits; i++) {
            uint32_t c = t->nodes[node].child[bit_at(client, i)];
            if (c == NO_CHILD)
                break;
            node = c;
        }
        zl = z->zl + t->nodes[node].zl_off;
        zl_end = zl + t->nodes[node].zl_len;
    }
    if (r != NULL) {
        ci = country_index(r->country);
        conti = continent_index(r->continent);
        if (ci >= 0 && r->subdivision[0] != '\0')
            sub = subdiv_pack(r->country, r->subdivision);
        asn = r->asn;
    }

    for (size_t i = 0; i < z->nzones; i++) {
        const struct zone *zn = &z->zones[i];
        unsigned k = zn->keys;
        if (i == z->default_idx)
            continue;
        if ((k & (1u << GEO_ZONE_KEY_CONTINENT)) &&
            (conti < 0 || !(zn->continent_bits & (1u << conti))))
            continue;
        if ((k & (1u << GEO_ZONE_KEY_COUNTRY)) &&
            (ci < 0 || !(zn->country_bits[ci / 64] & ((uint64_t)1 << (ci % 64)))))
            continue;
        if ((k & (1u << GEO_ZONE_KEY_SUBDIVISION)) &&
            (sub == 0 || !has_u64(zn->subdiv, zn->nsubdiv, sub)))
            continue;
        if ((k & (1u << GEO_ZONE_KEY_ASN)) && (asn == 0 || !has_u32(zn->asn, zn->nasn, asn)))
            continue;
        if (k & (1u << GEO_ZONE_KEY_CIDR)) {
            /* zl is sorted and zones are visited in increasing order. */
            while (zl != zl_end && *zl < i)
                zl++;
            if (zl == zl_end || *zl != i)
                continue;
        }
        return i;
    }
    return z->default_idx;
}

/*
 * Like geo_zone_classify_addr() for a socket address (NULL allowed), which
 * is unmapped first: a ::ffff:a.b.c.d peer matches IPv4 CIDRs.
 */
size_t geo_zone_classify(const struct geo_zones *z, const struct sockaddr *client,
                         const struct geo_result *r)
{
    struct geo_addr a;
    if (client == NULL || geo_addr_from_sockaddr(&a, client) != 0)
        return geo_zone_classify_addr(z, NULL, r);
    return geo_zone_classify_addr(z, &a, r);
}
