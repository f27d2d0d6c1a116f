/*
 * Directive tables: one static const table per section, walked by
 * conf__section_parse(). Integer fields follow nginx's UNSET + merge scheme:
 * conf__section_unset() marks them, parsing sets what the file says, and
 * conf__section_merge() fills the rest from a parent or the table default, so
 * every default is written once, here.
 *
 * To add a section: define its struct in conf.h, a table below, and a
 * {name, conf_parse_section, ..., .sub = &table} entry in its parent.
 */
#include "conf/conf-int.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEC_MS UINT64_C(1000)
#define MIN_MS (60 * SEC_MS)
#define HOUR_MS (60 * MIN_MS)
#define DAY_MS (24 * HOUR_MS)
#define KIB UINT64_C(1024)
#define MIB (KIB * KIB)

/* offsetof and sizeof of an integer field, for the table's offset and size. */
#define FIELD(type, f) .offset = offsetof(type, f), .size = sizeof(((type *)0)->f)

#define TABLE(t)                                                                                   \
    {                                                                                              \
        (t), sizeof(t) / sizeof((t)[0])                                                            \
    }

/* ---- integer fields ---- */

static void *field_ptr(void *base, const struct conf_directive *d)
{
    return (char *)base + d->offset;
}

static uint64_t unset_value(size_t size)
{
    return size == 4 ? CONF_UNSET_U32 : CONF_UNSET_U64;
}

static void store_uint(void *base, const struct conf_directive *d, uint64_t v)
{
    void *p = field_ptr(base, d);

    if (d->size == 4)
        *(uint32_t *)p = (uint32_t)v;
    else if (d->size == 8)
        *(uint64_t *)p = v;
}

static uint64_t load_uint(const void *base, const struct conf_directive *d)
{
    const char *p = (const char *)base + d->offset;

    if (d->size == 4)
        return *(const uint32_t *)(const void *)p;
    return *(const uint64_t *)(const void *)p;
}

typedef const char *(*format_cb)(uint64_t v, char *buf, size_t len);

static const char *plain_format(uint64_t v, char *buf, size_t len)
{
    snprintf(buf, len, "%llu", (unsigned long long)v);
    return buf;
}

/* Stores V when within D's range; otherwise reports it, bounds written by FMT. */
static int store_in_range(struct conf_ctx *ctx, const struct conf_node *n,
                          const struct conf_directive *d, void *base, uint64_t v, format_cb fmt)
{
    char q[80], lo[32], hi[32];

    if (v < d->min || v > d->max) {
        conf__err(ctx, n, "'%s' is out of range: must be between %s and %s",
                  conf__quote(n->text, q, sizeof(q)), fmt(d->min, lo, sizeof(lo)),
                  fmt(d->max, hi, sizeof(hi)));
        return -1;
    }
    store_uint(base, d, v);
    return 0;
}

/*
 * Parses scalar N with PARSE and stores it in range. WHAT names the kind of
 * value in messages ("duration"). Returns 0 or -1 (reported).
 */
static int parse_number(struct conf_ctx *ctx, const struct conf_node *n,
                        const struct conf_directive *d, void *base, const char *what,
                        const char *(*parse)(const char *, uint64_t *), format_cb fmt)
{
    const char *s = conf__scalar(ctx, n), *why;
    uint64_t v;
    char q[80];

    if (s == NULL)
        return -1;
    why = parse(s, &v);
    if (why != NULL) {
        conf__err(ctx, n, "invalid %s '%s': %s", what, conf__quote(s, q, sizeof(q)), why);
        return -1;
    }
    return store_in_range(ctx, n, d, base, v, fmt);
}

/* Parses a duration into a uint64_t millisecond field; see conf_parse_cb. */
int conf_parse_ms(struct conf_ctx *ctx, const struct conf_node *n, const struct conf_directive *d,
                  void *base)
{
    return parse_number(ctx, n, d, base, "duration", conf__duration_parse, conf__duration_format);
}

/* Parses a size (16k, 1m) into a uint32_t or uint64_t byte field; see conf_parse_cb. */
int conf_parse_bytes(struct conf_ctx *ctx, const struct conf_node *n,
                     const struct conf_directive *d, void *base)
{
    return parse_number(ctx, n, d, base, "size", conf__size_parse, conf__size_format);
}

/* Parses a plain unsigned integer into a uint32_t or uint64_t field; see conf_parse_cb. */
int conf_parse_uint(struct conf_ctx *ctx, const struct conf_node *n, const struct conf_directive *d,
                    void *base)
{
    return parse_number(ctx, n, d, base, "number", conf__uint_parse, plain_format);
}

/* Parses true/false (yes/no, on/off) into an integer field as 1/0; see conf_parse_cb. */
int conf_parse_bool(struct conf_ctx *ctx, const struct conf_node *n, const struct conf_directive *d,
                    void *base)
{
    const char *s = conf__scalar(ctx, n), *why;
    char q[80];
    int v;

    if (s == NULL)
        return -1;
    why = conf__bool_parse(s, &v);
    if (why != NULL) {
        conf__err(ctx, n, "invalid value '%s': %s", conf__quote(s, q, sizeof(q)), why);
        return -1;
    }
    store_uint(base, d, (uint64_t)v);
    return 0;
}

/* ---- addresses ---- */

static int parse_addr_into(struct conf_ctx *ctx, const struct conf_node *n, struct conf_addr *a)
{
    const char *s = conf__scalar(ctx, n), *why;
    char q[80];

    if (s == NULL)
        return -1;
    why = conf__addr_parse(s, a);
    if (why != NULL) {
        conf__err(ctx, n, "invalid address '%s': %s", conf__quote(s, q, sizeof(q)), why);
        return -1;
    }
    return 0;
}

/* Parses "ip:port" / "[ip6]:port" into a struct conf_addr field; see conf_parse_cb. */
int conf_parse_addr(struct conf_ctx *ctx, const struct conf_node *n, const struct conf_directive *d,
                    void *base)
{
    return parse_addr_into(ctx, n, field_ptr(base, d));
}

/*
 * Reports address A (at node N) when it equals one of the COUNT earlier
 * entries, found every STRIDE bytes from PREV; entries with salen 0 (not
 * parsed) are skipped, and NODES[j] gives entry j's position. WHAT names the
 * entry in the message. Returns 1 for a duplicate, else 0.
 */
static int is_duplicate_addr(struct conf_ctx *ctx, const struct conf_node *n,
                             const struct conf_addr *a, const struct conf_addr *prev, size_t stride,
                             const struct conf_node *const *nodes, size_t count, const char *what)
{
    for (size_t j = 0; j < count; j++) {
        const struct conf_addr *p = (const void *)((const char *)prev + j * stride);
        if (p->salen != 0 && strcmp(p->text, a->text) == 0) {
            conf__err(ctx, n, "duplicate %s '%s' (first at line %u, column %u)", what, a->text,
                      nodes[j]->line, nodes[j]->col);
            return 1;
        }
    }
    return 0;
}

/* ---- sections ---- */

static const struct conf_directive *find_directive(const struct conf_section *s, const char *name)
{
    for (size_t i = 0; i < s->ndirectives; i++)
        if (strcmp(s->directives[i].name, name) == 0)
            return &s->directives[i];
    return NULL;
}

static void report_unknown_key(struct conf_ctx *ctx, const struct conf_node *key,
                               const struct conf_section *s)
{
    char names[512] = "", q[80];
    size_t used = 0;

    for (size_t i = 0; i < s->ndirectives && used < sizeof(names); i++) {
        int n = snprintf(names + used, sizeof(names) - used, "%s%s", i ? ", " : "",
                         s->directives[i].name);
        if (n > 0)
            used += (size_t)n;
    }
    conf__err(ctx, key, "unknown key '%s'; expected one of: %s",
              conf__quote(key->text, q, sizeof(q)), names);
}

/*
 * Parses mapping (or null) N into BASE with section S, visiting every key;
 * returns 0, or -1 when anything was reported.
 * Full contract in conf-int.h.
 */
int conf__section_parse(struct conf_ctx *ctx, const struct conf_node *n,
                        const struct conf_section *s, void *base)
{
    int rc = 0;

    if (n->type == CONF_NODE_BAD)
        return -1;
    if (n->type != CONF_NODE_MAP && !(n->type == CONF_NODE_SCALAR && n->is_null)) {
        conf__err(ctx, n, "expected a mapping of keys, got %s", conf__node_kind(n));
        return -1;
    }
    for (size_t i = 0; n->type == CONF_NODE_MAP && i < n->nitems; i++) {
        const struct conf_pair *p = &n->pairs[i];
        const struct conf_directive *d = find_directive(s, p->key->text);
        size_t mark;

        if (d == NULL) {
            report_unknown_key(ctx, p->key, s);
            rc = -1;
            continue;
        }
        mark = conf__path_push(ctx, "%s", d->name);
        if (d->parse(ctx, p->value, d, base) != 0)
            rc = -1;
        conf__path_pop(ctx, mark);
    }
    for (size_t i = 0; i < s->ndirectives; i++) {
        const struct conf_directive *d = &s->directives[i];
        if ((d->flags & CONF_F_REQUIRED) && conf__map_get(n, d->name) == NULL) {
            conf__err(ctx, n, "missing required key '%s'", d->name);
            rc = -1;
        }
    }
    return rc;
}

/* Parses a nested section (d->sub) into the struct at BASE + d->offset; see conf_parse_cb. */
int conf_parse_section(struct conf_ctx *ctx, const struct conf_node *n,
                       const struct conf_directive *d, void *base)
{
    return conf__section_parse(ctx, n, d->sub, field_ptr(base, d));
}

/*
 * Marks every integer field of S at BASE, nested sections included, as unset.
 * Full contract in conf-int.h.
 */
void conf__section_unset(const struct conf_section *s, void *base)
{
    for (size_t i = 0; i < s->ndirectives; i++) {
        const struct conf_directive *d = &s->directives[i];
        if (d->sub != NULL)
            conf__section_unset(d->sub, field_ptr(base, d));
        else if (d->size != 0)
            store_uint(base, d, unset_value(d->size));
    }
}

/*
 * Fills unset integer fields of S at BASE from PARENT (may be NULL) or the default.
 * Full contract in conf-int.h.
 */
void conf__section_merge(const struct conf_section *s, void *base, const void *parent)
{
    for (size_t i = 0; i < s->ndirectives; i++) {
        const struct conf_directive *d = &s->directives[i];
        uint64_t unset = unset_value(d->size);

        if (d->sub != NULL) {
            conf__section_merge(d->sub, field_ptr(base, d),
                                parent ? (const char *)parent + d->offset : NULL);
            continue;
        }
        if (d->size == 0 || load_uint(base, d) != unset)
            continue;
        if (parent != NULL && load_uint(parent, d) != unset)
            store_uint(base, d, load_uint(parent, d));
        else
            store_uint(base, d, d->def);
    }
}

/* ---- backends and regions ---- */

static const struct conf_directive backend_directives[] = {
    {.name = "addr",
     .parse = conf_parse_addr,
     .offset = offsetof(struct conf_backend, addr),
     .flags = CONF_F_REQUIRED},
    {.name = "weight",
     .parse = conf_parse_uint,
     FIELD(struct conf_backend, weight),
     .min = 1,
     .max = 256,
     .def = 1},
};

const struct conf_section conf__backend_section = TABLE(backend_directives);

/* One backend: "ip:port" or {addr: "ip:port", weight: N}. */
static int parse_backend(struct conf_ctx *ctx, const struct conf_node *n, struct conf_backend *b)
{
    int rc;

    conf__section_unset(&conf__backend_section, b);
    if (n->type == CONF_NODE_MAP) {
        rc = conf__section_parse(ctx, n, &conf__backend_section, b);
    } else if (n->type == CONF_NODE_SEQ) {
        conf__err(ctx, n, "expected \"ip:port\" or {addr: \"ip:port\", weight: N}, got a list");
        rc = -1;
    } else {
        rc = parse_addr_into(ctx, n, &b->addr);
    }
    conf__section_merge(&conf__backend_section, b, NULL);
    return rc;
}

static int parse_backends(struct conf_ctx *ctx, const struct conf_node *n,
                          const struct conf_directive *d, void *base)
{
    struct conf_region *r = base;
    int rc = 0;

    (void)d;
    if (n->type == CONF_NODE_BAD)
        return -1;
    if (n->type != CONF_NODE_SEQ && !(n->type == CONF_NODE_SCALAR && n->is_null)) {
        conf__err(ctx, n, "expected a list of backends, got %s", conf__node_kind(n));
        return -1;
    }
    if (n->type != CONF_NODE_SEQ || n->nitems == 0) {
        conf__err(ctx, n, "at least one backend is required");
        return -1;
    }
    r->backends = calloc(n->nitems, sizeof(*r->backends));
    if (r->backends == NULL) {
        conf__err(ctx, n, "out of memory");
        return -1;
    }
    r->nbackends = n->nitems;
    for (size_t i = 0; i < n->nitems; i++) {
        size_t mark = conf__path_push(ctx, "[%zu]", i);
        struct conf_backend *b = &r->backends[i];

        if (parse_backend(ctx, n->items[i], b) != 0)
            rc = -1;
        if (b->addr.salen != 0 &&
            is_duplicate_addr(ctx, n->items[i], &b->addr, &r->backends[0].addr, sizeof(*b),
                              (const struct conf_node *const *)n->items, i, "backend"))
            rc = -1;
        conf__path_pop(ctx, mark);
    }
    return rc;
}

static const struct conf_directive region_directives[] = {
    {.name = "backends", .parse = parse_backends, .flags = CONF_F_REQUIRED},
};

const struct conf_section conf__region_section = TABLE(region_directives);

/* One "name: {backends: ...}" pair of regions:. */
static int parse_region(struct conf_ctx *ctx, const struct conf_pair *p, struct conf_region *r)
{
    char q[80];
    int rc = 0;
    size_t mark;

    if (conf__name_valid(p->key->text)) {
        memcpy(r->name, p->key->text, p->key->len + 1);
    } else {
        conf__err(ctx, p->key,
                  "invalid region name '%s': use 1 to %d characters from A-Z a-z 0-9 _ -",
                  conf__quote(p->key->text, q, sizeof(q)), CONF_NAME_MAX);
        rc = -1;
    }
    mark = conf__path_push(ctx, "%s", conf__quote(p->key->text, q, sizeof(q)));
    conf__section_unset(&conf__region_section, r);
    if (conf__section_parse(ctx, p->value, &conf__region_section, r) != 0)
        rc = -1;
    conf__section_merge(&conf__region_section, r, NULL);
    conf__path_pop(ctx, mark);
    return rc;
}

static int parse_regions(struct conf_ctx *ctx, const struct conf_node *n,
                         const struct conf_directive *d, void *base)
{
    struct conf *c = base;
    int rc = 0;

    (void)d;
    if (n->type == CONF_NODE_BAD)
        return -1;
    if (n->type != CONF_NODE_MAP && !(n->type == CONF_NODE_SCALAR && n->is_null)) {
        conf__err(ctx, n, "expected a mapping of region names to regions, got %s",
                  conf__node_kind(n));
        return -1;
    }
    if (n->type != CONF_NODE_MAP || n->nitems == 0) {
        conf__err(ctx, n, "at least one region is required");
        return -1;
    }
    c->regions = calloc(n->nitems, sizeof(*c->regions));
    if (c->regions == NULL) {
        conf__err(ctx, n, "out of memory");
        return -1;
    }
    c->nregions = n->nitems;
    for (size_t i = 0; i < n->nitems; i++)
        if (parse_region(ctx, &n->pairs[i], &c->regions[i]) != 0)
            rc = -1;
    return rc;
}

/* ---- top level ---- */

static int parse_listen(struct conf_ctx *ctx, const struct conf_node *n,
                        const struct conf_directive *d, void *base)
{
    struct conf *c = base;
    const struct conf_node *const *items = (const struct conf_node *const *)&n;
    size_t count = 1;
    int rc = 0;

    (void)d;
    if (n->type == CONF_NODE_SEQ) {
        items = (const struct conf_node *const *)n->items;
        count = n->nitems;
    } else if (n->type == CONF_NODE_MAP) {
        conf__err(ctx, n, "expected an address or a list of addresses, got a mapping");
        return -1;
    }
    if (count == 0 || (n->type == CONF_NODE_SCALAR && n->is_null)) {
        conf__err(ctx, n, "at least one listen address is required");
        return -1;
    }
    c->listen = calloc(count, sizeof(*c->listen));
    if (c->listen == NULL) {
        conf__err(ctx, n, "out of memory");
        return -1;
    }
    c->nlisten = count;
    for (size_t i = 0; i < count; i++) {
        size_t mark = n->type == CONF_NODE_SEQ ? conf__path_push(ctx, "[%zu]", i) : ctx->pathlen;
        struct conf_addr *a = &c->listen[i];

        if (parse_addr_into(ctx, items[i], a) != 0 ||
            is_duplicate_addr(ctx, items[i], a, c->listen, sizeof(*a), items, i, "listen address"))
            rc = -1;
        conf__path_pop(ctx, mark);
    }
    return rc;
}

static int parse_workers(struct conf_ctx *ctx, const struct conf_node *n,
                         const struct conf_directive *d, void *base)
{
    const char *s = conf__scalar(ctx, n);
    uint64_t v;
    char q[80];

    if (s == NULL)
        return -1;
    if (strcmp(s, "auto") == 0) {
        store_uint(base, d, 0);
        return 0;
    }
    if (conf__uint_parse(s, &v) != NULL || v < d->min || v > d->max) {
        conf__err(ctx, n, "invalid value '%s': expected auto or a number from %llu to %llu",
                  conf__quote(s, q, sizeof(q)), (unsigned long long)d->min,
                  (unsigned long long)d->max);
        return -1;
    }
    store_uint(base, d, v);
    return 0;
}

static int parse_access_log(struct conf_ctx *ctx, const struct conf_node *n,
                            const struct conf_directive *d, void *base)
{
    const char *s = conf__scalar(ctx, n);
    char **field = field_ptr(base, d);

    if (s == NULL)
        return -1;
    if (s[0] == '\0') {
        conf__err(ctx, n, "empty path; use \"-\" for stderr or off to disable");
        return -1;
    }
    if (strcmp(s, "off") == 0)
        return 0;
    *field = strdup(s);
    if (*field == NULL) {
        conf__err(ctx, n, "out of memory");
        return -1;
    }
    return 0;
}

#define TIMEOUT(n, def_ms)                                                                         \
    {                                                                                              \
        .name = #n, .parse = conf_parse_ms, FIELD(struct conf_timeouts, n##_ms), .min = 1,         \
        .max = 7 * DAY_MS, .def = (def_ms)                                                         \
    }

static const struct conf_directive timeout_directives[] = {
    TIMEOUT(connect, 2 * SEC_MS),
    TIMEOUT(client_header, 10 * SEC_MS),
    TIMEOUT(client_body, 30 * SEC_MS),
    TIMEOUT(client_keepalive, 60 * SEC_MS),
    TIMEOUT(client_send, 60 * SEC_MS),
    TIMEOUT(upstream_response, 30 * SEC_MS),
    TIMEOUT(upstream_keepalive, 30 * SEC_MS),
    TIMEOUT(tunnel_idle, HOUR_MS),
    TIMEOUT(shutdown_drain, 10 * SEC_MS),
};

static const struct conf_section timeouts_section = TABLE(timeout_directives);

#define LIMIT(n, fn, lo, hi, d)                                                                    \
    {                                                                                              \
        .name = #n, .parse = (fn), FIELD(struct conf_limits, n), .min = (lo), .max = (hi),         \
        .def = (d)                                                                                 \
    }

static const struct conf_directive limit_directives[] = {
    LIMIT(max_client_connections, conf_parse_uint, 1, 10000000, 10000),
    LIMIT(max_header_bytes, conf_parse_bytes, KIB, MIB, 16 * KIB),
    LIMIT(max_headers, conf_parse_uint, 1, 1000, 100),
    LIMIT(max_body_bytes, conf_parse_bytes, 0, MIB *MIB, 0),
    LIMIT(max_keepalive_requests, conf_parse_uint, 0, 1000000000, 0),
    LIMIT(upstream_pool_size, conf_parse_uint, 0, 100000, 64),
    LIMIT(retries, conf_parse_uint, 0, 10, 2),
};

static const struct conf_section limits_section = TABLE(limit_directives);

static const struct conf_directive root_directives[] = {
    {.name = "listen", .parse = parse_listen, .flags = CONF_F_REQUIRED},
    {.name = "workers", .parse = parse_workers, FIELD(struct conf, workers), .min = 1, .max = 256},
    {.name = "regions", .parse = parse_regions, .flags = CONF_F_REQUIRED},
    {.name = "timeouts",
     .parse = conf_parse_section,
     .offset = offsetof(struct conf, timeouts),
     .sub = &timeouts_section},
    {.name = "limits",
     .parse = conf_parse_section,
     .offset = offsetof(struct conf, limits),
     .sub = &limits_section},
    {.name = "access_log", .parse = parse_access_log, .offset = offsetof(struct conf, access_log)},
};

const struct conf_section conf__root_section = TABLE(root_directives);
