/*
 * zones: the ordered zone list, each zone's match and route (issues 3, 4).
 *
 * Zones are parsed after the rest of the file (conf__finish), because a
 * route names regions and a match needs the geo databases that can answer
 * it, and YAML keys come in any order. The tables below still drive the
 * parsing, so unknown keys are reported and the docs test sees every key.
 *
 * Match values are stored as written, with their positions: geo/ owns the
 * rules for country codes, subdivisions and CIDRs (geo_zones_compile) and
 * reports the index of a bad value, which the proxy maps back to FILE:LINE:COL
 * through struct conf_pos. Here only their shape is checked (strings, AS
 * numbers, no empty lists).
 *
 * The zone named "default" catches every client no other zone takes. It
 * takes no match and must be the last zone; a zone without a match must be
 * named default (a match-less zone elsewhere would shadow all later ones).
 * When no zone is named default one is added, routing to every region in
 * file order with fallback reject, so conf->zones always ends with it and
 * zone indexes are the same in conf/ and in geo/'s compiled matcher.
 */
#include "conf/conf-int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_OF(t)                                                                                \
    {                                                                                              \
        (t), sizeof(t) / sizeof((t)[0])                                                            \
    }

/* Sets *IDX to the index of region NAME in C; returns 0, or -1 when there is none. */
static int region_index(const struct conf *c, const char *name, size_t *idx)
{
    for (size_t i = 0; i < c->nregions; i++) {
        if (strcmp(c->regions[i].name, name) == 0) {
            *idx = i;
            return 0;
        }
    }
    return -1;
}

/* Reports NAME (at N) as an unknown region, listing the configured ones. */
static void report_unknown_region(struct conf_ctx *ctx, const struct conf_node *n, const char *name)
{
    char names[512] = "", q[80];
    size_t used = 0;

    for (size_t i = 0; i < ctx->conf->nregions && used < sizeof(names); i++) {
        int w = snprintf(names + used, sizeof(names) - used, "%s%s", i ? ", " : "",
                         ctx->conf->regions[i].name);
        if (w > 0)
            used += (size_t)w;
    }
    conf__err(ctx, n, "unknown region '%s'; regions are: %s", conf__quote(name, q, sizeof(q)),
              names);
}

/*
 * Returns N's items as an array (a scalar is a list of one) and their count
 * in *COUNT; NULL with *COUNT 0 after reporting a mapping, an empty value or
 * an empty list. WHAT names the items in messages.
 */
static const struct conf_node *const *list_items(struct conf_ctx *ctx, const struct conf_node *n,
                                                 const struct conf_node *const *self, size_t *count,
                                                 const char *what)
{
    *count = 0;
    if (n->type == CONF_NODE_BAD)
        return NULL;
    if (n->type == CONF_NODE_MAP) {
        conf__err(ctx, n, "expected %s or a list of them, got a mapping", what);
        return NULL;
    }
    if (n->type == CONF_NODE_SCALAR) {
        if (n->is_null) {
            conf__err(ctx, n, "missing value");
            return NULL;
        }
        *count = 1;
        return self;
    }
    if (n->nitems == 0) {
        conf__err(ctx, n, "empty list; leave the key out instead");
        return NULL;
    }
    *count = n->nitems;
    return (const struct conf_node *const *)n->items;
}

/* ---- match ---- */

/* country, subdivision, continent, cidr: strings, kept as written; on struct conf_zone_match. */
static int parse_values(struct conf_ctx *ctx, const struct conf_node *n,
                        const struct conf_directive *d, void *base)
{
    struct conf_zone_values *v = (struct conf_zone_values *)((char *)base + d->offset);
    const struct conf_node *const *items;
    size_t count;
    int rc = 0;

    items = list_items(ctx, n, &n, &count, "a value");
    if (items == NULL)
        return -1;
    v->str = calloc(count, sizeof(*v->str));
    v->pos = calloc(count, sizeof(*v->pos));
    if (v->str == NULL || v->pos == NULL) {
        conf__err(ctx, n, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        size_t mark = n->type == CONF_NODE_SEQ ? conf__path_push(ctx, "[%zu]", i) : ctx->pathlen;
        const char *s = conf__scalar(ctx, items[i]);

        if (s == NULL) {
            rc = -1;
        } else if ((v->str[v->n] = strdup(s)) == NULL) {
            conf__err(ctx, items[i], "out of memory");
            rc = -1;
        } else {
            v->pos[v->n++] = conf__pos(items[i]);
        }
        conf__path_pop(ctx, mark);
    }
    return rc;
}

/* asn: AS numbers, "4134" or "AS4134"; on struct conf_zone_match. */
static int parse_asns(struct conf_ctx *ctx, const struct conf_node *n,
                      const struct conf_directive *d, void *base)
{
    struct conf_zone_match *m = base;
    const struct conf_node *const *items;
    size_t count;
    int rc = 0;

    (void)d;
    items = list_items(ctx, n, &n, &count, "an AS number");
    if (items == NULL)
        return -1;
    m->asn = calloc(count, sizeof(*m->asn));
    m->asn_pos = calloc(count, sizeof(*m->asn_pos));
    if (m->asn == NULL || m->asn_pos == NULL) {
        conf__err(ctx, n, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        size_t mark = n->type == CONF_NODE_SEQ ? conf__path_push(ctx, "[%zu]", i) : ctx->pathlen;
        const char *s = conf__scalar(ctx, items[i]), *why = NULL;
        char q[80];

        if (s != NULL && (why = conf__asn_parse(s, &m->asn[m->nasn])) != NULL)
            conf__err(ctx, items[i], "invalid AS number '%s': %s", conf__quote(s, q, sizeof(q)),
                      why);
        if (s == NULL || why != NULL)
            rc = -1;
        else
            m->asn_pos[m->nasn++] = conf__pos(items[i]);
        conf__path_pop(ctx, mark);
    }
    return rc;
}

#define VALUES(nm)                                                                                 \
    {                                                                                              \
        .name = #nm, .parse = parse_values, .offset = offsetof(struct conf_zone_match, nm)         \
    }

static const struct conf_directive match_directives[] = {
    VALUES(country), VALUES(subdivision), VALUES(continent), {.name = "asn", .parse = parse_asns},
    VALUES(cidr),
};

static const struct conf_section match_section = TABLE_OF(match_directives);

/* match: on struct conf_zone. */
static int parse_match(struct conf_ctx *ctx, const struct conf_node *n,
                       const struct conf_directive *d, void *base)
{
    struct conf_zone *z = base;

    (void)d;
    z->match_pos = conf__pos(n);
    z->has_match = 1;
    if (n->type == CONF_NODE_MAP && n->nitems == 0) {
        conf__err(ctx, n,
                  "empty match; a zone for every client is the default zone: name it "
                  "default and leave match out");
        return -1;
    }
    if (n->type == CONF_NODE_SCALAR && n->is_null) {
        conf__err(ctx, n, "missing value");
        return -1;
    }
    return conf__section_parse(ctx, n, &match_section, &z->match);
}

/* ---- route ---- */

/*
 * Parses region names (a name or a list) at N into a new array *OUT of
 * indexes (caller owns it), *NOUT entries; unknown and repeated names are
 * reported and left out. Returns 0 or -1.
 */
static int parse_region_names(struct conf_ctx *ctx, const struct conf_node *n, size_t **out,
                              size_t *nout)
{
    const struct conf_node *const *items;
    size_t count;
    int rc = 0;

    items = list_items(ctx, n, &n, &count, "a region name");
    if (items == NULL)
        return -1;
    *out = calloc(count, sizeof(**out));
    if (*out == NULL) {
        conf__err(ctx, n, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        size_t mark = n->type == CONF_NODE_SEQ ? conf__path_push(ctx, "[%zu]", i) : ctx->pathlen;
        const char *s = conf__scalar(ctx, items[i]);
        size_t idx = 0, j;
        char q[80];

        if (s == NULL) {
            rc = -1;
        } else if (region_index(ctx->conf, s, &idx) != 0) {
            report_unknown_region(ctx, items[i], s);
            rc = -1;
        } else {
            for (j = 0; j < *nout && (*out)[j] != idx; j++)
                ;
            if (j < *nout) {
                conf__err(ctx, items[i], "region '%s' is listed twice",
                          conf__quote(s, q, sizeof(q)));
                rc = -1;
            } else {
                (*out)[(*nout)++] = idx;
            }
        }
        conf__path_pop(ctx, mark);
    }
    return rc;
}

/* regions: the allowed regions, at least one; on struct conf_route. */
static int parse_route_regions(struct conf_ctx *ctx, const struct conf_node *n,
                               const struct conf_directive *d, void *base)
{
    struct conf_route *r = base;

    (void)d;
    if (n->type == CONF_NODE_SEQ && n->nitems == 0) {
        conf__err(ctx, n, "at least one region is required");
        return -1;
    }
    return parse_region_names(ctx, n, &r->regions, &r->nregions);
}

/* fallback: `reject` (the default), or region names; on struct conf_route. */
static int parse_route_fallback(struct conf_ctx *ctx, const struct conf_node *n,
                                const struct conf_directive *d, void *base)
{
    struct conf_route *r = base;

    (void)d;
    if (n->type == CONF_NODE_SCALAR && !n->is_null && strcmp(n->text, "reject") == 0)
        return 0;
    if (n->type == CONF_NODE_SEQ && n->nitems == 0) {
        conf__err(ctx, n, "empty list; write reject to answer 503, or name fallback regions");
        return -1;
    }
    return parse_region_names(ctx, n, &r->fallback, &r->nfallback);
}

/* bias: region name -> duration 0..1h, into bias_ms[region index]; on struct conf_route. */
static int parse_route_bias(struct conf_ctx *ctx, const struct conf_node *n,
                            const struct conf_directive *d, void *base)
{
    struct conf_route *r = base;
    int rc = 0;

    (void)d;
    if ((rc = conf__expect(ctx, n, CONF_NODE_MAP, "a mapping of region names to durations")) <= 0)
        return rc;
    rc = 0;
    for (size_t i = 0; i < n->nitems; i++) {
        const struct conf_pair *p = &n->pairs[i];
        size_t mark, idx;
        const char *s, *why;
        uint64_t ms;
        char q[80];

        if (region_index(ctx->conf, p->key->text, &idx) != 0) {
            report_unknown_region(ctx, p->key, p->key->text);
            rc = -1;
            continue;
        }
        mark = conf__path_push(ctx, "%s", p->key->text);
        s = conf__scalar(ctx, p->value);
        if (s == NULL) {
            rc = -1;
        } else if ((why = conf__duration_parse(s, &ms)) != NULL) {
            conf__err(ctx, p->value, "invalid duration '%s': %s", conf__quote(s, q, sizeof(q)),
                      why);
            rc = -1;
        } else if (ms > UINT64_C(3600000)) {
            conf__err(ctx, p->value, "'%s' is out of range: must be between 0ms and 1h",
                      conf__quote(s, q, sizeof(q)));
            rc = -1;
        } else if (r->bias_ms != NULL) {
            r->bias_ms[idx] = ms;
        }
        conf__path_pop(ctx, mark);
    }
    return rc;
}

/*
 * Parses a string or list of strings at N into a new array *OUT of *NOUT
 * copies (caller owns them), checking each with CHECK (NULL: fine, else
 * why not). WHAT names the items in messages. Returns 0 or -1.
 */
static int parse_strings(struct conf_ctx *ctx, const struct conf_node *n, const char *what,
                         const char *(*check)(const char *s), char ***out, size_t *nout)
{
    const struct conf_node *const *items;
    size_t count;
    int rc = 0;

    if ((items = list_items(ctx, n, &n, &count, what)) == NULL)
        return -1;
    if ((*out = calloc(count, sizeof(**out))) == NULL) {
        conf__err(ctx, n, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        const char *s = conf__scalar(ctx, items[i]), *why;
        char q[80];
        if (s == NULL) {
            rc = -1;
        } else if (check != NULL && (why = check(s)) != NULL) {
            conf__err(ctx, items[i], "invalid %s '%s': %s", what, conf__quote(s, q, sizeof(q)),
                      why);
            rc = -1;
        } else if (((*out)[*nout] = strdup(s)) == NULL) {
            conf__err(ctx, items[i], "out of memory");
            rc = -1;
        } else {
            (*nout)++;
        }
    }
    return rc;
}

static const char *path_prefix_check(const char *s)
{
    return s[0] == '/' ? NULL : "a path prefix starts with /";
}

/* An HTTP method token as llhttp names it: upper-case letters and '-'. */
static const char *method_check(const char *s)
{
    for (const char *p = s; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || *p == '-'))
            return "write the method in capitals, e.g. GET";
    return NULL;
}

/* name: of a request class, unique in its zone; on struct conf_class. */
static int parse_class_name(struct conf_ctx *ctx, const struct conf_node *n,
                            const struct conf_directive *d, void *base)
{
    struct conf_class *k = base;
    const char *s = conf__scalar(ctx, n);
    char q[80];

    (void)d;
    if (s == NULL)
        return -1;
    k->pos = conf__pos(n);
    if (!conf__name_valid(s)) {
        conf__err(ctx, n, "invalid class name '%s': use 1 to %d characters from A-Z a-z 0-9 _ -",
                  conf__quote(s, q, sizeof(q)), CONF_NAME_MAX);
        return -1;
    }
    memcpy(k->name, s, strlen(s) + 1);
    return 0;
}

/* path_prefix: one or more, each starting with '/'; on struct conf_class. */
static int parse_class_prefix(struct conf_ctx *ctx, const struct conf_node *n,
                              const struct conf_directive *d, void *base)
{
    struct conf_class *k = base;

    (void)d;
    if (parse_strings(ctx, n, "path prefix", path_prefix_check, &k->prefix, &k->nprefix) != 0)
        return -1;
    if ((k->prefix_len = calloc(k->nprefix, sizeof(*k->prefix_len))) == NULL) {
        conf__err(ctx, n, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < k->nprefix; i++)
        k->prefix_len[i] = strlen(k->prefix[i]);
    return 0;
}

/* method: one or more method names; on struct conf_class. */
static int parse_class_method(struct conf_ctx *ctx, const struct conf_node *n,
                              const struct conf_directive *d, void *base)
{
    struct conf_class *k = base;

    (void)d;
    return parse_strings(ctx, n, "method", method_check, &k->method, &k->nmethod);
}

static const struct conf_directive class_directives[] = {
    {.name = "name", .parse = parse_class_name, .flags = CONF_F_REQUIRED},
    {.name = "path_prefix", .parse = parse_class_prefix, .flags = CONF_F_REQUIRED},
    {.name = "method", .parse = parse_class_method},
};

static const struct conf_section class_section = TABLE_OF(class_directives);

/* classes: a list of request classes, each {name, path_prefix, method}; on struct conf_route. */
static int parse_route_classes(struct conf_ctx *ctx, const struct conf_node *n,
                               const struct conf_directive *d, void *base)
{
    struct conf_route *r = base;
    int rc = 0;

    (void)d;
    if ((rc = conf__expect(ctx, n, CONF_NODE_SEQ, "a list of classes {name, path_prefix}")) <= 0)
        return rc;
    if (n->nitems == 0 || n->nitems > CONF_CLASSES_MAX) {
        conf__err(ctx, n, "a zone has 1 to %d classes; leave the key out for none",
                  CONF_CLASSES_MAX);
        return -1;
    }
    if ((r->classes = calloc(n->nitems, sizeof(*r->classes))) == NULL) {
        conf__err(ctx, n, "out of memory");
        return -1;
    }
    rc = 0;
    for (size_t i = 0; i < n->nitems; i++) {
        size_t mark = conf__path_push(ctx, "[%zu]", i);
        struct conf_class *k = &r->classes[r->nclasses++];
        const struct conf_node *it = n->items[i];
        if (it->type != CONF_NODE_MAP) {
            conf__err(ctx, it, "expected a class {name, path_prefix, method}, got %s",
                      conf__node_kind(it));
            rc = -1;
        } else if (conf__section_parse(ctx, it, &class_section, k) != 0) {
            rc = -1;
        }
        for (size_t j = 0; j + 1 < r->nclasses && k->name[0]; j++) {
            if (strcmp(r->classes[j].name, k->name) == 0) {
                conf__err(ctx, conf__map_get(it, "name"), "class '%s' is listed twice", k->name);
                rc = -1;
            }
        }
        conf__path_pop(ctx, mark);
    }
    return rc;
}

static const struct conf_directive route_directives[] = {
    {.name = "regions", .parse = parse_route_regions, .flags = CONF_F_REQUIRED},
    {.name = "bias", .parse = parse_route_bias},
    {.name = "fallback", .parse = parse_route_fallback},
    {.name = "classes", .parse = parse_route_classes, .sub = &class_section},
};

static const struct conf_section route_section = TABLE_OF(route_directives);

/* 1 when index IDX is among the N entries of LIST. */
static int has_index(const size_t *list, size_t n, size_t idx)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == idx)
            return 1;
    return 0;
}

/*
 * route: on struct conf_zone. After the keys: a fallback region must not
 * also be allowed, and a bias must name an allowed or fallback region
 * (residency: a bias can never add a region).
 */
static int parse_route(struct conf_ctx *ctx, const struct conf_node *n,
                       const struct conf_directive *d, void *base)
{
    struct conf_zone *z = base;
    struct conf_route *r = &z->route;
    const struct conf_node *fb, *bias;
    size_t idx;
    int rc;

    (void)d;
    rc = conf__section_parse(ctx, n, &route_section, r);
    fb = conf__map_get(n, "fallback");
    for (size_t i = 0; fb != NULL && fb->type == CONF_NODE_SEQ && i < fb->nitems; i++) {
        const struct conf_node *it = fb->items[i];
        size_t mark;
        if (it->type != CONF_NODE_SCALAR || region_index(ctx->conf, it->text, &idx) != 0 ||
            !has_index(r->regions, r->nregions, idx))
            continue;
        mark = conf__path_push(ctx, "fallback[%zu]", i);
        conf__err(ctx, it, "region '%s' is already allowed in regions", it->text);
        conf__path_pop(ctx, mark);
        rc = -1;
    }
    if (fb != NULL && fb->type == CONF_NODE_SCALAR && !fb->is_null &&
        region_index(ctx->conf, fb->text, &idx) == 0 && has_index(r->regions, r->nregions, idx)) {
        size_t mark = conf__path_push(ctx, "fallback");
        conf__err(ctx, fb, "region '%s' is already allowed in regions", fb->text);
        conf__path_pop(ctx, mark);
        rc = -1;
    }
    bias = conf__map_get(n, "bias");
    for (size_t i = 0; bias != NULL && bias->type == CONF_NODE_MAP && i < bias->nitems; i++) {
        const struct conf_node *k = bias->pairs[i].key;
        size_t mark;
        if (region_index(ctx->conf, k->text, &idx) != 0 ||
            has_index(r->regions, r->nregions, idx) || has_index(r->fallback, r->nfallback, idx))
            continue;
        mark = conf__path_push(ctx, "bias");
        conf__err(ctx, k, "region '%s' is neither in regions nor in fallback of this zone",
                  k->text);
        conf__path_pop(ctx, mark);
        rc = -1;
    }
    return rc;
}

/* ---- zones ---- */

static int parse_zone_name(struct conf_ctx *ctx, const struct conf_node *n,
                           const struct conf_directive *d, void *base)
{
    struct conf_zone *z = base;
    const char *s = conf__scalar(ctx, n);
    char q[80];

    (void)d;
    if (s == NULL)
        return -1;
    z->pos = conf__pos(n);
    if (!conf__name_valid(s)) {
        conf__err(ctx, n, "invalid zone name '%s': use 1 to %d characters from A-Z a-z 0-9 _ -",
                  conf__quote(s, q, sizeof(q)), CONF_NAME_MAX);
        return -1;
    }
    if (strcmp(s, "-") == 0) {
        conf__err(ctx, n,
                  "zone name '-' is reserved: it labels requests refused before a zone "
                  "was found");
        return -1;
    }
    memcpy(z->name, s, strlen(s) + 1);
    return 0;
}

static const struct conf_directive zone_directives[] = {
    {.name = "name", .parse = parse_zone_name, .flags = CONF_F_REQUIRED},
    {.name = "match", .parse = parse_match, .sub = &match_section},
    {.name = "route", .parse = parse_route, .sub = &route_section, .flags = CONF_F_REQUIRED},
};

const struct conf_section conf__zone_section = TABLE_OF(zone_directives);

/* Returns a bitmask of the CONF_GEO_FIELD_* DB can fill (mirrors geo/geodb.c's presets). */
static unsigned db_fields(const struct conf_geo_db *db)
{
    unsigned mask = 0;

    switch (db->schema) {
    case CONF_GEO_SCHEMA_MAXMIND:
        return 1u << CONF_GEO_FIELD_COUNTRY | 1u << CONF_GEO_FIELD_SUBDIVISION |
               1u << CONF_GEO_FIELD_CONTINENT | 1u << CONF_GEO_FIELD_LATITUDE |
               1u << CONF_GEO_FIELD_LONGITUDE;
    case CONF_GEO_SCHEMA_MAXMIND_ASN:
        return 1u << CONF_GEO_FIELD_ASN | 1u << CONF_GEO_FIELD_AS_ORG;
    case CONF_GEO_SCHEMA_FLAT:
        return 1u << CONF_GEO_FIELD_COUNTRY | 1u << CONF_GEO_FIELD_LATITUDE |
               1u << CONF_GEO_FIELD_LONGITUDE;
    default:
        for (unsigned f = 0; f < CONF_GEO_FIELD_COUNT; f++)
            if (db->fields[f] != NULL)
                mask |= 1u << f;
        return mask;
    }
}

/*
 * Reports each key of the match written as mapping N that no configured
 * database can answer: such a zone could never match. cidr needs none.
 */
static int check_match_fields(struct conf_ctx *ctx, const struct conf_node *n,
                              const struct conf_geo *geo)
{
    static const struct {
        const char *key;
        enum conf_geo_field field;
    } keys[] = {
        {"country", CONF_GEO_FIELD_COUNTRY},
        {"subdivision", CONF_GEO_FIELD_SUBDIVISION},
        {"continent", CONF_GEO_FIELD_CONTINENT},
        {"asn", CONF_GEO_FIELD_ASN},
    };
    unsigned have = 0;
    int rc = 0;

    for (size_t i = 0; i < geo->ndbs; i++)
        have |= db_fields(&geo->dbs[i]);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const struct conf_node *v = conf__map_get(n, keys[i].key);
        size_t mark;
        if (v == NULL || (have & (1u << keys[i].field)))
            continue;
        mark = conf__path_push(ctx, "match.%s", keys[i].key);
        if (geo->ndbs == 0)
            conf__err(ctx, v, "matching on %s needs a geo database, and geo.databases is empty",
                      keys[i].key);
        else
            conf__err(ctx, v,
                      "no database in geo.databases provides %s, so this zone could never match",
                      keys[i].key);
        conf__path_pop(ctx, mark);
        rc = -1;
    }
    return rc;
}

/* Fills Z as the implicit default zone of C: every region in file order, fallback reject. */
static int add_implicit_default(struct conf_ctx *ctx, struct conf *c, struct conf_zone *z)
{
    memcpy(z->name, CONF_ZONE_DEFAULT, sizeof(CONF_ZONE_DEFAULT));
    z->is_default = 1;
    z->implicit = 1;
    z->route.reject = 1;
    z->route.regions = calloc(c->nregions, sizeof(*z->route.regions));
    z->route.bias_ms = calloc(c->nregions, sizeof(*z->route.bias_ms));
    if (z->route.regions == NULL || z->route.bias_ms == NULL) {
        conf__err_at(ctx, 0, 0, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < c->nregions; i++)
        z->route.regions[z->route.nregions++] = i;
    return 0;
}

/* Parses zone item N (index I of COUNT) into Z, the last of C->nzones; 0 or -1. */
static int parse_zone(struct conf_ctx *ctx, const struct conf_node *n, size_t i, size_t count,
                      struct conf *c, struct conf_zone *z)
{
    const struct conf_node *name = conf__map_get(n, "name");
    int rc = 0;

    z->route.bias_ms = calloc(c->nregions, sizeof(*z->route.bias_ms));
    if (z->route.bias_ms == NULL) {
        conf__err(ctx, n, "out of memory");
        return -1;
    }
    if (n->type == CONF_NODE_BAD)
        return -1;
    if (n->type != CONF_NODE_MAP) {
        conf__err(ctx, n, "expected a zone {name, match, route}, got %s", conf__node_kind(n));
        return -1;
    }
    if (conf__section_parse(ctx, n, &conf__zone_section, z) != 0)
        rc = -1;
    z->route.reject = z->route.nfallback == 0;
    if (z->name[0] == '\0')
        return -1;
    for (size_t j = 0; j + 1 < c->nzones; j++) {
        if (strcmp(c->zones[j].name, z->name) == 0) {
            conf__err(ctx, name, "duplicate zone name '%s' (first at line %u, column %u)", z->name,
                      c->zones[j].pos.line, c->zones[j].pos.col);
            return -1;
        }
    }
    z->is_default = strcmp(z->name, CONF_ZONE_DEFAULT) == 0;
    if (z->is_default && z->has_match) {
        conf__err(ctx, conf__map_get(n, "match"),
                  "the default zone takes no match: it catches every client no other zone takes");
        rc = -1;
    }
    if (z->is_default && i + 1 != count) {
        conf__err(ctx, name, "the default zone must be the last zone");
        rc = -1;
    }
    if (!z->is_default && !z->has_match) {
        conf__err(ctx, n, "zone '%s' has no match; only the zone named default may leave it out",
                  z->name);
        rc = -1;
    }
    if (z->has_match && check_match_fields(ctx, conf__map_get(n, "match"), &c->geo))
        rc = -1;
    return rc;
}

/*
 * Parses `zones` into C->zones and appends the implicit default zone when
 * needed; see conf-int.h.
 */
int conf__zones_parse(struct conf_ctx *ctx, const struct conf_node *n, struct conf *c)
{
    size_t count = 0;
    int rc = 0, have_default = 0;

    if (n != NULL && n->type == CONF_NODE_BAD)
        return -1;
    if (n != NULL && n->type != CONF_NODE_SEQ && !(n->type == CONF_NODE_SCALAR && n->is_null)) {
        conf__err(ctx, n, "expected a list of zones, got %s", conf__node_kind(n));
        return -1;
    }
    if (n != NULL && n->type == CONF_NODE_SEQ)
        count = n->nitems;
    c->zones = calloc(count + 1, sizeof(*c->zones));
    if (c->zones == NULL) {
        conf__err_at(ctx, 0, 0, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        size_t mark = conf__path_push(ctx, "[%zu]", i);
        struct conf_zone *z = &c->zones[c->nzones++];

        if (parse_zone(ctx, n->items[i], i, count, c, z) != 0)
            rc = -1;
        have_default |= z->is_default;
        conf__path_pop(ctx, mark);
    }
    if (!have_default && add_implicit_default(ctx, c, &c->zones[c->nzones++]) != 0)
        rc = -1;
    for (size_t z = 0; z < c->nzones; z++) {
        c->zones[z].route_first = c->nroutes;
        c->nroutes += 1 + c->zones[z].route.nclasses;
    }
    return rc;
}

/* Releases what zone Z owns; see conf-int.h. */
void conf__zone_dispose(struct conf_zone *z)
{
    struct conf_zone_values *v[] = {&z->match.country, &z->match.subdivision, &z->match.continent,
                                    &z->match.cidr};

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        for (size_t j = 0; j < v[i]->n; j++)
            free(v[i]->str[j]);
        free(v[i]->str);
        free(v[i]->pos);
    }
    free(z->match.asn);
    free(z->match.asn_pos);
    free(z->route.regions);
    free(z->route.fallback);
    free(z->route.bias_ms);
    for (size_t i = 0; i < z->route.nclasses; i++) {
        struct conf_class *k = &z->route.classes[i];
        for (size_t j = 0; j < k->nprefix; j++)
            free(k->prefix[j]);
        for (size_t j = 0; j < k->nmethod; j++)
            free(k->method[j]);
        free(k->prefix);
        free(k->prefix_len);
        free(k->method);
    }
    free(z->route.classes);
    memset(z, 0, sizeof(*z));
}
