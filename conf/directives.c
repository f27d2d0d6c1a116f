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

#include <errno.h>
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

/* Parses a duration, or `off` stored as 0; see conf_parse_cb. d->min is >= 1. */
int conf_parse_ms_off(struct conf_ctx *ctx, const struct conf_node *n,
                      const struct conf_directive *d, void *base)
{
    const char *s = conf__scalar(ctx, n), *why;
    char q[80], lo[32], hi[32];
    uint64_t v;

    if (s == NULL)
        return -1;
    if (strcmp(s, "off") == 0) {
        store_uint(base, d, 0);
        return 0;
    }
    why = conf__duration_parse(s, &v);
    if (why != NULL) {
        conf__err(ctx, n, "invalid duration '%s': %s", conf__quote(s, q, sizeof(q)), why);
        return -1;
    }
    if (v == 0) {
        conf__err(ctx, n, "'%s' is out of range: use off to disable, or a duration from %s to %s",
                  conf__quote(s, q, sizeof(q)), conf__duration_format(d->min, lo, sizeof(lo)),
                  conf__duration_format(d->max, hi, sizeof(hi)));
        return -1;
    }
    return store_in_range(ctx, n, d, base, v, conf__duration_format);
}

/* Parses "10" or "10%" into a uint32_t field; see conf_parse_cb. */
int conf_parse_pct(struct conf_ctx *ctx, const struct conf_node *n, const struct conf_directive *d,
                   void *base)
{
    return parse_number(ctx, n, d, base, "percentage", conf__pct_parse, plain_format);
}

/* Accepts any value: the key is parsed after the rest of the file; see conf_parse_cb. */
int conf_parse_deferred(struct conf_ctx *ctx, const struct conf_node *n,
                        const struct conf_directive *d, void *base)
{
    (void)ctx;
    (void)n;
    (void)d;
    (void)base;
    return 0;
}

/* One accepted word of a keyword directive and the value stored for it. */
struct keyword {
    const char *name;
    uint32_t value;
};

/* Stores the value of the keyword scalar N names, from KW (NKW entries); 0 or -1 (reported). */
static int parse_keyword(struct conf_ctx *ctx, const struct conf_node *n,
                         const struct conf_directive *d, void *base, const struct keyword *kw,
                         size_t nkw)
{
    const char *s = conf__scalar(ctx, n);
    char names[256] = "", q[80];
    size_t used = 0;

    if (s == NULL)
        return -1;
    for (size_t i = 0; i < nkw; i++) {
        if (strcmp(s, kw[i].name) == 0) {
            store_uint(base, d, kw[i].value);
            return 0;
        }
    }
    for (size_t i = 0; i < nkw && used < sizeof(names); i++) {
        int w = snprintf(names + used, sizeof(names) - used, "%s%s", i ? ", " : "", kw[i].name);
        if (w > 0)
            used += (size_t)w;
    }
    conf__err(ctx, n, "invalid value '%s': expected one of: %s", conf__quote(s, q, sizeof(q)),
              names);
    return -1;
}

/* Replaces the owned string at *FIELD with a copy of S; 0, or -1 (reported at N) without memory. */
static int store_str(struct conf_ctx *ctx, const struct conf_node *n, char **field, const char *s)
{
    char *copy = strdup(s);

    if (copy == NULL) {
        conf__err(ctx, n, "out of memory");
        return -1;
    }
    free(*field);
    *field = copy;
    return 0;
}

/* 1 when S has only visible ASCII (no space, no control byte, no 8-bit byte). */
static int is_visible_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return 0;
    return 1;
}

/* Parses an HTTP header name into an owned char * field; see conf_parse_cb. */
static int parse_header_name(struct conf_ctx *ctx, const struct conf_node *n,
                             const struct conf_directive *d, void *base)
{
    const char *s = conf__scalar(ctx, n), *why;
    char q[80];

    if (s == NULL)
        return -1;
    why = conf__header_name_check(s);
    if (why != NULL) {
        conf__err(ctx, n, "invalid header name '%s': %s", conf__quote(s, q, sizeof(q)), why);
        return -1;
    }
    return store_str(ctx, n, field_ptr(base, d), s);
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

/* ---- probes ---- */

static const struct keyword probe_types[] = {{"http", CONF_PROBE_HTTP}, {"tcp", CONF_PROBE_TCP}};

static int parse_probe_type(struct conf_ctx *ctx, const struct conf_node *n,
                            const struct conf_directive *d, void *base)
{
    return parse_keyword(ctx, n, d, base, probe_types, sizeof(probe_types) / sizeof(*probe_types));
}

/* path: an origin-form request target, "/healthz?full=1". */
static int parse_probe_path(struct conf_ctx *ctx, const struct conf_node *n,
                            const struct conf_directive *d, void *base)
{
    const char *s = conf__scalar(ctx, n);
    char q[80];

    if (s == NULL)
        return -1;
    if (s[0] != '/' || !is_visible_ascii(s) || strlen(s) > 1024) {
        conf__err(ctx, n,
                  "invalid path '%s': must start with '/', with no spaces or control characters, "
                  "at most 1024 characters",
                  conf__quote(s, q, sizeof(q)));
        return -1;
    }
    return store_str(ctx, n, field_ptr(base, d), s);
}

/* host: the Host header to send; "" means the default (the backend's address). */
static int parse_probe_host(struct conf_ctx *ctx, const struct conf_node *n,
                            const struct conf_directive *d, void *base)
{
    const char *s = conf__scalar(ctx, n);
    char **field = field_ptr(base, d), q[80];

    if (s == NULL)
        return -1;
    /* "" is kept until probe_finalize: it overrides an inherited host with the default. */
    if (s[0] != '\0' && (!is_visible_ascii(s) || strlen(s) > 255)) {
        conf__err(ctx, n,
                  "invalid host '%s': no spaces or control characters, at most 255 characters",
                  conf__quote(s, q, sizeof(q)));
        return -1;
    }
    return store_str(ctx, n, field, s);
}

static int parse_probe_expect(struct conf_ctx *ctx, const struct conf_node *n,
                              const struct conf_directive *d, void *base)
{
    struct conf_probe *p = base;
    const char *s = conf__scalar(ctx, n), *why;
    char q[80];

    (void)d;
    if (s == NULL)
        return -1;
    why = conf__status_range_parse(s, &p->expect_lo, &p->expect_hi);
    if (why != NULL) {
        conf__err(ctx, n, "invalid status range '%s': %s", conf__quote(s, q, sizeof(q)), why);
        return -1;
    }
    return 0;
}

/* bulk: {path, bytes, interval}; bytes below 64k would measure RTT, not bandwidth. */
static const struct conf_directive bulk_directives[] = {
    {.name = "path",
     .parse = parse_probe_path,
     .offset = offsetof(struct conf_bulk_probe, path),
     .flags = CONF_F_REQUIRED},
    {.name = "bytes",
     .parse = conf_parse_bytes,
     FIELD(struct conf_bulk_probe, bytes),
     .min = 64 * KIB,
     .max = 1024 * MIB,
     .def = MIB},
    {.name = "interval",
     .parse = conf_parse_ms,
     FIELD(struct conf_bulk_probe, interval_ms),
     .min = SEC_MS,
     .max = HOUR_MS,
     .def = 30 * SEC_MS},
};

static const struct conf_section bulk_section = TABLE(bulk_directives);

#define PROBE_FASTINTER_MS UINT64_C(250) /* derived default cap of fastinter */

/*
 * fastinter and downinter have no table default: "unset" survives
 * the merge, so a backend that overrides only `interval` gets defaults
 * derived from its own interval (probe_finalize), not from the region's.
 */
static const struct conf_directive probe_directives[] = {
    {.name = "type",
     .parse = parse_probe_type,
     FIELD(struct conf_probe, type),
     .max = CONF_PROBE_TCP,
     .def = CONF_PROBE_HTTP},
    {.name = "path", .parse = parse_probe_path, .offset = offsetof(struct conf_probe, path)},
    {.name = "host", .parse = parse_probe_host, .offset = offsetof(struct conf_probe, host)},
    {.name = "expect", .parse = parse_probe_expect},
    {.name = "interval",
     .parse = conf_parse_ms,
     FIELD(struct conf_probe, interval_ms),
     .min = 10,
     .max = HOUR_MS,
     .def = SEC_MS},
    {.name = "fastinter",
     .parse = conf_parse_ms,
     FIELD(struct conf_probe, fastinter_ms),
     .min = 10,
     .max = HOUR_MS,
     .def = CONF_UNSET_U64},
    {.name = "downinter",
     .parse = conf_parse_ms,
     FIELD(struct conf_probe, downinter_ms),
     .min = 10,
     .max = HOUR_MS,
     .def = CONF_UNSET_U64},
    {.name = "jitter",
     .parse = conf_parse_pct,
     FIELD(struct conf_probe, jitter_pct),
     .max = 50,
     .def = 10},
    /* Independent of interval: a slow answer is a latency sample, not a failure. */
    {.name = "timeout",
     .parse = conf_parse_ms,
     FIELD(struct conf_probe, timeout_ms),
     .min = 1,
     .max = HOUR_MS,
     .def = 5 * SEC_MS},
    {.name = "rise",
     .parse = conf_parse_uint,
     FIELD(struct conf_probe, rise),
     .min = 1,
     .max = 100,
     .def = 2},
    {.name = "fall",
     .parse = conf_parse_uint,
     FIELD(struct conf_probe, fall),
     .min = 1,
     .max = 100,
     .def = 3},
    {.name = "bulk",
     .parse = conf_parse_section,
     .offset = offsetof(struct conf_probe, bulk),
     .sub = &bulk_section},
};

const struct conf_section conf__probe_section = TABLE(probe_directives);

/* Marks every field of P unset (the strings must already be NULL). */
static void probe_unset(struct conf_probe *p)
{
    conf__section_unset(&conf__probe_section, p);
    p->expect_lo = p->expect_hi = CONF_UNSET_U32;
}

/*
 * Fills P's unset fields from PARENT (NULL: defaults only), strings
 * included (copied). Derived defaults stay unset for probe_finalize.
 * Returns 0, or -1 when out of memory (reported at N).
 */
static int probe_inherit(struct conf_ctx *ctx, const struct conf_node *n, struct conf_probe *p,
                         const struct conf_probe *parent)
{
    conf__section_merge(&conf__probe_section, p, parent);
    if (p->expect_lo == CONF_UNSET_U32) {
        int inherit = parent != NULL && parent->expect_lo != CONF_UNSET_U32;
        p->expect_lo = inherit ? parent->expect_lo : 200;
        p->expect_hi = inherit ? parent->expect_hi : 399;
    }
    if (parent != NULL && p->path == NULL && parent->path != NULL &&
        store_str(ctx, n, &p->path, parent->path) != 0)
        return -1;
    if (parent != NULL && p->host == NULL && parent->host != NULL &&
        store_str(ctx, n, &p->host, parent->host) != 0)
        return -1;
    if (parent != NULL && p->bulk.path == NULL && parent->bulk.path != NULL &&
        store_str(ctx, n, &p->bulk.path, parent->bulk.path) != 0)
        return -1;
    return 0;
}

/* Writes the derived defaults (STYLE §28: in one place). 0, or -1 out of memory (reported). */
static int probe_finalize(struct conf_ctx *ctx, const struct conf_node *n, struct conf_probe *p)
{
    if (p->fastinter_ms == CONF_UNSET_U64)
        p->fastinter_ms = p->interval_ms < PROBE_FASTINTER_MS ? p->interval_ms : PROBE_FASTINTER_MS;
    if (p->downinter_ms == CONF_UNSET_U64)
        p->downinter_ms = p->interval_ms;
    if (p->host != NULL && p->host[0] == '\0') {
        free(p->host);
        p->host = NULL;
    }
    if (p->path == NULL)
        return store_str(ctx, n, &p->path, "/");
    return 0;
}

/*
 * Checks finished probe P, written as mapping N (or inherited whole when N
 * is not a mapping). Errors point at the key that broke the rule.
 * Returns 0 or -1 (reported).
 */
static int probe_check(struct conf_ctx *ctx, const struct conf_node *n, const struct conf_probe *p)
{
    static const char *const http_only[] = {"path", "host", "expect"};
    int rc = 0;

    for (size_t i = 0; p->type == CONF_PROBE_TCP && i < 3; i++) {
        const struct conf_node *k = NULL;
        for (size_t j = 0; n->type == CONF_NODE_MAP && j < n->nitems; j++)
            if (strcmp(n->pairs[j].key->text, http_only[i]) == 0)
                k = n->pairs[j].key;
        if (k != NULL) {
            conf__err(ctx, k, "%s is only used by type: http probes", http_only[i]);
            rc = -1;
        }
    }
    return rc;
}

/*
 * Releases the strings of P; see conf-int.h.
 */
void conf__probe_dispose(struct conf_probe *p)
{
    free(p->path);
    p->path = NULL;
    free(p->host);
    p->host = NULL;
    free(p->bulk.path);
    p->bulk.path = NULL;
}

/* ---- passive health ---- */

static const struct conf_directive passive_directives[] = {
    {.name = "consecutive_failures",
     .parse = conf_parse_uint,
     FIELD(struct conf_passive, consecutive_failures),
     .min = 1,
     .max = 1000,
     .def = 5},
    {.name = "ejection_time",
     .parse = conf_parse_ms,
     FIELD(struct conf_passive, ejection_time_ms),
     .min = 1,
     .max = HOUR_MS,
     .def = 10 * SEC_MS},
    {.name = "max_ejection_time",
     .parse = conf_parse_ms,
     FIELD(struct conf_passive, max_ejection_time_ms),
     .min = 1,
     .max = DAY_MS,
     .def = 5 * MIN_MS},
    {.name = "max_ejected_pct",
     .parse = conf_parse_pct,
     FIELD(struct conf_passive, max_ejected_pct),
     .max = 100,
     .def = 50},
    {.name = "count_5xx",
     .parse = conf_parse_bool,
     FIELD(struct conf_passive, count_5xx),
     .max = 1,
     .def = 0},
};

static const struct conf_section passive_section = TABLE(passive_directives);

/* ---- TLS ---- */

/*
 * A non-empty string kept with its position (a file name, a cipher list),
 * into a struct conf_str field; see conf_parse_cb. What it names is checked
 * after loading (px_tls_ctx_build), which reports at that position.
 */
static int parse_conf_str(struct conf_ctx *ctx, const struct conf_node *n,
                          const struct conf_directive *d, void *base)
{
    struct conf_str *f = field_ptr(base, d);
    const char *s = conf__scalar(ctx, n);

    if (s == NULL)
        return -1;
    if (s[0] == '\0') {
        conf__err(ctx, n, "empty value");
        return -1;
    }
    for (const char *p = s; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            conf__err(ctx, n, "control characters are not allowed");
            return -1;
        }
    }
    f->pos = conf__pos(n);
    return store_str(ctx, n, &f->text, s);
}

/* A file name with its position: relative to the config file's directory. */
static int parse_conf_path(struct conf_ctx *ctx, const struct conf_node *n,
                           const struct conf_directive *d, void *base)
{
    struct conf_str *f = field_ptr(base, d);

    if (parse_conf_str(ctx, n, d, base) != 0)
        return -1;
    char *plain = f->text;
    f->text = NULL;
    int rc = conf__store_path(ctx, n, &f->text, plain);
    free(plain);
    return rc;
}

/* An OpenSSL list ("X25519:prime256v1"): visible ASCII; OpenSSL judges the names. */
static int parse_tls_list(struct conf_ctx *ctx, const struct conf_node *n,
                          const struct conf_directive *d, void *base)
{
    const char *s = conf__scalar(ctx, n);
    char q[80];

    if (s == NULL)
        return -1;
    if (!is_visible_ascii(s) || strlen(s) > 1024) {
        conf__err(ctx, n, "invalid list '%s': no spaces or control characters, at most 1024",
                  conf__quote(s, q, sizeof(q)));
        return -1;
    }
    return parse_conf_str(ctx, n, d, base);
}

/* sni: the name sent to (and verified on) the backend. */
static int parse_tls_sni(struct conf_ctx *ctx, const struct conf_node *n,
                         const struct conf_directive *d, void *base)
{
    const char *s = conf__scalar(ctx, n), *why;
    char q[80];

    if (s == NULL)
        return -1;
    why = conf__hostname_check(s, 0);
    if (why != NULL) {
        conf__err(ctx, n, "invalid name '%s': %s", conf__quote(s, q, sizeof(q)), why);
        return -1;
    }
    return parse_conf_str(ctx, n, d, base);
}

/* `enabled` is outside the table: it comes from the presence of `tls`, not a key in it. */
static const struct conf_directive tls_client_directives[] = {
    {.name = "verify",
     .parse = conf_parse_bool,
     FIELD(struct conf_tls_client, verify),
     .max = 1,
     .def = 1},
    {.name = "ca", .parse = parse_conf_path, .offset = offsetof(struct conf_tls_client, ca)},
    {.name = "sni", .parse = parse_tls_sni, .offset = offsetof(struct conf_tls_client, sni)},
    {.name = "cert", .parse = parse_conf_path, .offset = offsetof(struct conf_tls_client, cert)},
    {.name = "key", .parse = parse_conf_path, .offset = offsetof(struct conf_tls_client, key)},
};

static const struct conf_section tls_client_section = TABLE(tls_client_directives);

/* Marks T unset before parsing (its strings must be NULL), enabled included. */
static void tls_client_unset(struct conf_tls_client *t)
{
    conf__section_unset(&tls_client_section, t);
    t->enabled = CONF_UNSET_U32;
}

/*
 * tls of a region or backend: a mapping (TLS with those settings), or
 * on/off. Parsed without defaults: a backend's is merged with its region's
 * by tls_client_inherit.
 */
static int parse_upstream_tls(struct conf_ctx *ctx, const struct conf_node *n,
                              const struct conf_directive *d, void *base)
{
    struct conf_tls_client *t = field_ptr(base, d);
    char q[80];
    int on;

    t->pos = conf__pos(n);
    if (n->type == CONF_NODE_SCALAR && !n->is_null) {
        if (conf__bool_parse(n->text, &on) != NULL) {
            conf__err(ctx, n,
                      "invalid value '%s': expected a mapping {verify, ca, sni, cert, key}, "
                      "or on/off",
                      conf__quote(n->text, q, sizeof(q)));
            return -1;
        }
        t->enabled = (uint32_t)on;
        return 0;
    }
    t->enabled = 1;
    return conf__section_parse(ctx, n, &tls_client_section, t);
}

/* Copies PARENT's string into an unset *F. 0, or -1 out of memory (reported at N). */
static int str_inherit(struct conf_ctx *ctx, const struct conf_node *n, struct conf_str *f,
                       const struct conf_str *parent)
{
    if (f->text != NULL || parent == NULL || parent->text == NULL)
        return 0;
    f->pos = parent->pos;
    return store_str(ctx, n, &f->text, parent->text);
}

/*
 * Fills T's unset fields from PARENT (NULL: defaults only) and checks that a
 * client certificate comes with its key when T was written at N (OWN).
 * Returns 0 or -1 (reported).
 */
static int tls_client_inherit(struct conf_ctx *ctx, const struct conf_node *n,
                              struct conf_tls_client *t, const struct conf_tls_client *parent,
                              int own)
{
    conf__section_merge(&tls_client_section, t, parent);
    if (t->enabled == CONF_UNSET_U32)
        t->enabled = parent != NULL && parent->enabled == 1;
    if (parent != NULL && (str_inherit(ctx, n, &t->ca, &parent->ca) != 0 ||
                           str_inherit(ctx, n, &t->sni, &parent->sni) != 0 ||
                           str_inherit(ctx, n, &t->cert, &parent->cert) != 0 ||
                           str_inherit(ctx, n, &t->key, &parent->key) != 0))
        return -1;
    /* Checked where cert or key is written: an inherited half is the parent's error. */
    own = own && (conf__map_get(n, "cert") != NULL || conf__map_get(n, "key") != NULL);
    if (own && (t->cert.text == NULL) != (t->key.text == NULL)) {
        const struct conf_node *at = conf__map_get(n, t->cert.text ? "cert" : "key");
        size_t mark = conf__path_push(ctx, "%s", t->cert.text ? "cert" : "key");
        conf__err(ctx, at ? at : n, "a client certificate needs both cert and key");
        conf__path_pop(ctx, mark);
        return -1;
    }
    return 0;
}

/* Releases the strings of T (not T itself); see conf-int.h. */
void conf__tls_client_dispose(struct conf_tls_client *t)
{
    free(t->ca.text);
    free(t->sni.text);
    free(t->cert.text);
    free(t->key.text);
    t->ca.text = t->sni.text = t->cert.text = t->key.text = NULL;
}

/* ---- backends and regions ---- */

/* addr: numeric "ip:port" (kind ADDR) or "name:port" (kind NAME); on struct conf_backend. */
static int parse_backend_addr(struct conf_ctx *ctx, const struct conf_node *n,
                              const struct conf_directive *d, void *base)
{
    struct conf_backend *b = base;
    const char *s = conf__scalar(ctx, n), *why;
    char host[256], q[80];
    int is_name = 0;

    (void)d;
    if (s == NULL)
        return -1;
    why = conf__target_parse(s, &b->addr, host, sizeof(host), &b->port, &is_name);
    if (why != NULL) {
        conf__err(ctx, n, "invalid address '%s': %s", conf__quote(s, q, sizeof(q)), why);
        return -1;
    }
    b->kind = is_name ? CONF_BACKEND_NAME : CONF_BACKEND_ADDR;
    if (!is_name)
        return 0;
    return store_str(ctx, n, &b->host, host);
}

/* srv: an SRV name; the records give addresses, ports and weights. */
static int parse_backend_srv(struct conf_ctx *ctx, const struct conf_node *n,
                             const struct conf_directive *d, void *base)
{
    struct conf_backend *b = base;
    const char *s = conf__scalar(ctx, n), *why;
    char q[80];

    (void)d;
    if (s == NULL)
        return -1;
    why = conf__hostname_check(s, 1);
    if (why != NULL) {
        conf__err(ctx, n, "invalid SRV name '%s': %s", conf__quote(s, q, sizeof(q)), why);
        return -1;
    }
    memset(&b->addr, 0, sizeof(b->addr));
    b->kind = CONF_BACKEND_SRV;
    b->port = 0;
    return store_str(ctx, n, &b->host, s);
}

/*
 * probe: this backend's overrides. Parsed without defaults: the region's
 * probe is merged in by parse_region once the whole region is read.
 */
static int parse_backend_probe(struct conf_ctx *ctx, const struct conf_node *n,
                               const struct conf_directive *d, void *base)
{
    return conf__section_parse(ctx, n, &conf__probe_section, field_ptr(base, d));
}

static const struct conf_directive backend_directives[] = {
    {.name = "addr", .parse = parse_backend_addr},
    {.name = "srv", .parse = parse_backend_srv},
    {.name = "weight",
     .parse = conf_parse_uint,
     FIELD(struct conf_backend, weight),
     .min = 1,
     .max = 256,
     .def = 1},
    {.name = "probe", .parse = parse_backend_probe, .offset = offsetof(struct conf_backend, probe)},
    {.name = "tls", .parse = parse_upstream_tls, .offset = offsetof(struct conf_backend, tls)},
};

const struct conf_section conf__backend_section = TABLE(backend_directives);

/* One backend: "host:port" or {addr | srv, weight, probe}. */
static int parse_backend(struct conf_ctx *ctx, const struct conf_node *n, struct conf_backend *b)
{
    int rc;

    conf__section_unset(&conf__backend_section, b);
    probe_unset(&b->probe);
    tls_client_unset(&b->tls);
    b->pos = conf__pos(n);
    if (n->type == CONF_NODE_MAP) {
        const struct conf_node *addr = conf__map_get(n, "addr"), *srv = conf__map_get(n, "srv");
        const struct conf_node *weight = conf__map_get(n, "weight");
        rc = conf__section_parse(ctx, n, &conf__backend_section, b);
        if (addr == NULL && srv == NULL) {
            conf__err(ctx, n, "missing required key 'addr' (or 'srv')");
            rc = -1;
        } else if (addr != NULL && srv != NULL) {
            conf__err(ctx, srv, "give either addr or srv, not both");
            rc = -1;
        } else if (srv != NULL && weight != NULL) {
            conf__err(ctx, weight, "weight cannot be set with srv: the SRV records' weights apply");
            rc = -1;
        }
    } else if (n->type == CONF_NODE_SEQ) {
        conf__err(ctx, n, "expected \"host:port\" or {addr: \"host:port\", weight: N}, got a list");
        rc = -1;
    } else {
        rc = parse_backend_addr(ctx, n, NULL, b);
    }
    conf__section_merge(&conf__backend_section, b, NULL);
    return rc;
}

/* Writes backend B's identity for duplicate checks into BUF; "" when B did not parse. */
static void backend_key(const struct conf_backend *b, char *buf, size_t len)
{
    buf[0] = '\0';
    if (b->kind == CONF_BACKEND_ADDR && b->addr.salen != 0)
        snprintf(buf, len, "%s", b->addr.text);
    else if (b->kind == CONF_BACKEND_NAME && b->host != NULL)
        snprintf(buf, len, "%s:%u", b->host, (unsigned)b->port);
    else if (b->kind == CONF_BACKEND_SRV && b->host != NULL)
        snprintf(buf, len, "srv %s", b->host);
    /* DNS names are case-insensitive. */
    for (char *p = buf; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
}

struct backend_ref {
    char key[300];
    size_t index;
};

static int cmp_backend_ref(const void *a, const void *b)
{
    const struct backend_ref *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

/*
 * Reports every backend of R that repeats an earlier one, at its item of N
 * with the first one's position. Sorting keeps a region of many thousands
 * of backends checked in n log n, not n squared. 0, or -1 when any.
 */
static int report_duplicate_backends(struct conf_ctx *ctx, const struct conf_node *n,
                                     const struct conf_region *r)
{
    struct backend_ref *refs = calloc(r->nbackends, sizeof(*refs));
    int rc = 0;

    if (refs == NULL) {
        conf__err(ctx, n, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < r->nbackends; i++) {
        backend_key(&r->backends[i], refs[i].key, sizeof(refs[i].key));
        refs[i].index = i;
    }
    qsort(refs, r->nbackends, sizeof(*refs), cmp_backend_ref);
    for (size_t i = 1, first = 0; i < r->nbackends; i++) {
        if (refs[i].key[0] == '\0' || strcmp(refs[i].key, refs[first].key) != 0) {
            first = i;
            continue;
        }
        const struct conf_backend *b = &r->backends[refs[i].index];
        const struct conf_backend *f = &r->backends[refs[first].index];
        size_t mark = conf__path_push(ctx, "[%zu]", refs[i].index);
        conf__err(ctx, n->items[refs[i].index],
                  "duplicate backend '%s' (first at line %u, column %u)",
                  b->kind == CONF_BACKEND_SRV ? b->host : refs[i].key, f->pos.line, f->pos.col);
        conf__path_pop(ctx, mark);
        rc = -1;
    }
    free(refs);
    return rc;
}

static int parse_backends(struct conf_ctx *ctx, const struct conf_node *n,
                          const struct conf_directive *d, void *base)
{
    struct conf_region *r = base;
    int rc = 0;

    (void)d;
    if ((rc = conf__expect(ctx, n, CONF_NODE_SEQ, "a list of backends")) < 0)
        return -1;
    rc = 0;
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
        if (parse_backend(ctx, n->items[i], &r->backends[i]) != 0)
            rc = -1;
        conf__path_pop(ctx, mark);
    }
    if (report_duplicate_backends(ctx, n, r) != 0)
        rc = -1;
    return rc;
}

static int parse_cidrs(struct conf_ctx *ctx, const struct conf_node *n,
                       const struct conf_directive *d, void *base);

/* One port or "lo-hi" into R; NULL or why not. */
static const char *port_range(const char *s, struct conf_port_range *r)
{
    char *end;
    unsigned long lo = strtoul(s, &end, 10), hi = lo;

    if (end == s || !(*end == '\0' || *end == '-'))
        return "expected a port or a range lo-hi";
    if (*end == '-') {
        const char *h = end + 1;
        hi = strtoul(h, &end, 10);
        if (end == h || *end != '\0')
            return "expected a port or a range lo-hi";
    }
    if (lo < 1 || hi > 65535 || lo > hi)
        return "ports are 1..65535, low end first";
    r->lo = (uint16_t)lo;
    r->hi = (uint16_t)hi;
    return NULL;
}

/* discovery.ports: a list of ports and "lo-hi" ranges. */
static int parse_port_ranges(struct conf_ctx *ctx, const struct conf_node *n,
                             const struct conf_directive *d, void *base)
{
    struct conf_discovery *disc = base;
    int rc = 0;

    (void)d;
    if (conf__expect(ctx, n, CONF_NODE_SEQ, "a list of ports and ranges lo-hi") < 0)
        return -1;
    if (n->nitems == 0)
        return 0;
    if ((disc->ports = calloc(n->nitems, sizeof(*disc->ports))) == NULL) {
        conf__err(ctx, n, "out of memory");
        return -1;
    }
    disc->nports = n->nitems;
    for (size_t i = 0; i < n->nitems; i++) {
        size_t mark = conf__path_push(ctx, "[%zu]", i);
        const char *s = conf__scalar(ctx, n->items[i]), *why = NULL;
        if (s == NULL || (why = port_range(s, &disc->ports[i])) != NULL) {
            if (why)
                conf__err(ctx, n->items[i], "%s", why);
            rc = -1;
        }
        conf__path_pop(ctx, mark);
    }
    return rc;
}

static const struct conf_directive discovery_directives[] = {
    {.name = "allow", .parse = parse_cidrs, .offset = offsetof(struct conf_discovery, allow)},
    {.name = "ports", .parse = parse_port_ranges},
    {.name = "max_addresses",
     .parse = conf_parse_uint,
     FIELD(struct conf_discovery, max_addresses),
     .min = 1,
     .max = 1024,
     .def = 32},
};

static const struct conf_section discovery_section = TABLE(discovery_directives);

static const struct conf_directive region_directives[] = {
    {.name = "backends", .parse = parse_backends, .flags = CONF_F_REQUIRED},
    {.name = "min_healthy",
     .parse = conf_parse_uint,
     FIELD(struct conf_region, min_healthy),
     .min = 1,
     .max = 10000,
     .def = 1},
    {.name = "probe",
     .parse = conf_parse_section,
     .offset = offsetof(struct conf_region, probe),
     .sub = &conf__probe_section},
    {.name = "passive",
     .parse = conf_parse_section,
     .offset = offsetof(struct conf_region, passive),
     .sub = &passive_section},
    {.name = "discovery",
     .parse = conf_parse_section,
     .offset = offsetof(struct conf_region, discovery),
     .sub = &discovery_section},
    {.name = "tls", .parse = parse_upstream_tls, .offset = offsetof(struct conf_region, tls)},
};

const struct conf_section conf__region_section = TABLE(region_directives);

/*
 * After region R (written as mapping N) is parsed and merged: gives every
 * backend its probe (the region's, overridden by its own), writes derived
 * defaults, and checks the rules that involve several keys. 0 or -1.
 */
static int region_finish(struct conf_ctx *ctx, const struct conf_node *n, struct conf_region *r)
{
    const struct conf_node *bn = conf__map_get(n, "backends");
    const struct conf_node *pn = conf__map_get(n, "probe");
    const struct conf_node *passive = conf__map_get(n, "passive");
    size_t nstatic = 0;
    int rc = 0;

    const struct conf_node *tn = conf__map_get(n, "tls");
    size_t tmark = conf__path_push(ctx, "tls");

    rc = tls_client_inherit(ctx, tn ? tn : n, &r->tls, NULL, tn != NULL);
    conf__path_pop(ctx, tmark);
    if (probe_inherit(ctx, n, &r->probe, NULL) != 0)
        return -1;
    for (size_t i = 0; i < r->nbackends; i++) {
        struct conf_backend *b = &r->backends[i];
        const struct conf_node *item = bn && i < bn->nitems ? bn->items[i] : n;
        const struct conf_node *own = conf__map_get(item, "probe");
        const struct conf_node *own_tls = conf__map_get(item, "tls");
        size_t mark = conf__path_push(ctx, "backends[%zu].probe", i);

        if (probe_inherit(ctx, item, &b->probe, &r->probe) != 0 ||
            probe_finalize(ctx, item, &b->probe) != 0 ||
            (own != NULL && own->type == CONF_NODE_MAP && probe_check(ctx, own, &b->probe) != 0))
            rc = -1;
        conf__path_pop(ctx, mark);
        mark = conf__path_push(ctx, "backends[%zu].tls", i);
        if (tls_client_inherit(ctx, own_tls ? own_tls : item, &b->tls, &r->tls, own_tls != NULL))
            rc = -1;
        conf__path_pop(ctx, mark);
        nstatic += b->kind == CONF_BACKEND_ADDR;
    }
    {
        size_t mark = conf__path_push(ctx, "probe");
        if (probe_finalize(ctx, n, &r->probe) != 0 ||
            probe_check(ctx, pn && pn->type == CONF_NODE_MAP ? pn : n, &r->probe) != 0)
            rc = -1;
        conf__path_pop(ctx, mark);
    }
    if (r->passive.max_ejection_time_ms < r->passive.ejection_time_ms) {
        const struct conf_node *at = conf__map_get(passive, "max_ejection_time");
        size_t mark =
            conf__path_push(ctx, "passive.%s", at ? "max_ejection_time" : "ejection_time");
        char a[32], b[32];
        if (at == NULL)
            at = conf__map_get(passive, "ejection_time");
        conf__err(ctx, at ? at : n, "max_ejection_time (%s) is less than ejection_time (%s)",
                  conf__duration_format(r->passive.max_ejection_time_ms, a, sizeof(a)),
                  conf__duration_format(r->passive.ejection_time_ms, b, sizeof(b)));
        conf__path_pop(ctx, mark);
        rc = -1;
    }
    /* Only static backends can be counted; a name can resolve to any number. */
    if (r->nbackends > 0 && nstatic == r->nbackends && r->min_healthy > nstatic) {
        const struct conf_node *at = conf__map_get(n, "min_healthy");
        size_t mark = conf__path_push(ctx, "min_healthy");
        conf__err(ctx, at ? at : n,
                  "%u is more than the region's %zu backend%s: it could never be healthy",
                  (unsigned)r->min_healthy, nstatic, nstatic == 1 ? "" : "s");
        conf__path_pop(ctx, mark);
        rc = -1;
    }
    return rc;
}

/* One "name: {backends: ...}" pair of regions:. */
static int parse_region(struct conf_ctx *ctx, const struct conf_pair *p, struct conf_region *r)
{
    char q[80];
    int rc = 0;
    size_t mark;

    r->pos = conf__pos(p->key);
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
    probe_unset(&r->probe);
    tls_client_unset(&r->tls);
    if (conf__section_parse(ctx, p->value, &conf__region_section, r) != 0)
        rc = -1;
    conf__section_merge(&conf__region_section, r, NULL);
    if (region_finish(ctx, p->value, r) != 0)
        rc = -1;
    conf__path_pop(ctx, mark);
    return rc;
}

static int parse_regions(struct conf_ctx *ctx, const struct conf_node *n,
                         const struct conf_directive *d, void *base)
{
    struct conf *c = base;
    int rc = 0;

    (void)d;
    if ((rc = conf__expect(ctx, n, CONF_NODE_MAP, "a mapping of region names to regions")) < 0)
        return -1;
    rc = 0;
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

/* ---- TLS listeners ---- */

static const struct conf_directive tls_cert_directives[] = {
    {.name = "cert",
     .parse = parse_conf_path,
     .offset = offsetof(struct conf_tls_cert, cert),
     .flags = CONF_F_REQUIRED},
    {.name = "key",
     .parse = parse_conf_path,
     .offset = offsetof(struct conf_tls_cert, key),
     .flags = CONF_F_REQUIRED},
};

static const struct conf_section tls_cert_section = TABLE(tls_cert_directives);

/* certificates: a list of {cert, key}; on struct conf_tls_server. */
static int parse_tls_certs(struct conf_ctx *ctx, const struct conf_node *n,
                           const struct conf_directive *d, void *base)
{
    struct conf_tls_server *t = base;
    int rc;

    (void)d;
    if ((rc = conf__expect(ctx, n, CONF_NODE_SEQ, "a list of {cert, key}")) < 0)
        return -1;
    if (rc == 0 || n->nitems == 0) {
        conf__err(ctx, n, "at least one certificate is required");
        return -1;
    }
    if (n->nitems > CONF_TLS_CERTS_MAX) {
        conf__err(ctx, n->items[CONF_TLS_CERTS_MAX], "at most %d certificates", CONF_TLS_CERTS_MAX);
        return -1;
    }
    t->certs = calloc(n->nitems, sizeof(*t->certs));
    if (t->certs == NULL) {
        conf__err(ctx, n, "out of memory");
        return -1;
    }
    t->ncerts = n->nitems;
    rc = 0;
    for (size_t i = 0; i < n->nitems; i++) {
        size_t mark = conf__path_push(ctx, "[%zu]", i);
        if (conf__section_parse(ctx, n->items[i], &tls_cert_section, &t->certs[i]) != 0)
            rc = -1;
        conf__path_pop(ctx, mark);
    }
    return rc;
}

static const struct keyword tls_versions[] = {
    {"TLSv1.2", CONF_TLS_1_2},
    {"TLSv1.3", CONF_TLS_1_3},
};

static int parse_tls_version(struct conf_ctx *ctx, const struct conf_node *n,
                             const struct conf_directive *d, void *base)
{
    return parse_keyword(ctx, n, d, base, tls_versions,
                         sizeof(tls_versions) / sizeof(*tls_versions));
}

/* alpn: a protocol or a list of them, into a CONF_ALPN_* bit field; see conf_parse_cb. */
static int parse_alpn(struct conf_ctx *ctx, const struct conf_node *n,
                      const struct conf_directive *d, void *base)
{
    const struct conf_node *const *items = (const struct conf_node *const *)&n;
    size_t count = 1;
    uint32_t bits = 0;
    char q[80];
    int rc = 0;

    if (n->type == CONF_NODE_SEQ) {
        items = (const struct conf_node *const *)n->items;
        count = n->nitems;
    }
    if (count == 0 || (n->type == CONF_NODE_SCALAR && n->is_null)) {
        conf__err(ctx, n, "at least one protocol is required");
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        const char *s = conf__scalar(ctx, items[i]);
        if (s == NULL) {
            rc = -1;
        } else if (strcmp(s, "http/1.1") == 0) {
            bits |= CONF_ALPN_HTTP11;
        } else if (strcmp(s, "h2") == 0) {
            bits |= CONF_ALPN_H2;
        } else {
            conf__err(ctx, items[i], "unsupported protocol '%s': expected h2 or http/1.1",
                      conf__quote(s, q, sizeof(q)));
            rc = -1;
        }
    }
    if (rc == 0)
        store_uint(base, d, bits);
    return rc;
}

static const struct conf_directive tls_server_directives[] = {
    {.name = "certificates", .parse = parse_tls_certs, .flags = CONF_F_REQUIRED},
    {.name = "strict_sni",
     .parse = conf_parse_bool,
     FIELD(struct conf_tls_server, strict_sni),
     .max = 1,
     .def = 0},
    {.name = "min_version",
     .parse = parse_tls_version,
     FIELD(struct conf_tls_server, min_version),
     .min = CONF_TLS_1_2,
     .max = CONF_TLS_1_3,
     .def = CONF_TLS_1_2},
    {.name = "alpn",
     .parse = parse_alpn,
     FIELD(struct conf_tls_server, alpn),
     .max = CONF_ALPN_HTTP11 | CONF_ALPN_H2,
     .def = CONF_ALPN_HTTP11 | CONF_ALPN_H2},
    {.name = "ciphers",
     .parse = parse_tls_list,
     .offset = offsetof(struct conf_tls_server, ciphers)},
    {.name = "groups", .parse = parse_tls_list, .offset = offsetof(struct conf_tls_server, groups)},
    {.name = "session_ticket_lifetime",
     .parse = conf_parse_ms_off,
     FIELD(struct conf_tls_server, session_ticket_lifetime_ms),
     .min = MIN_MS,
     .max = 7 * DAY_MS,
     .def = 12 * HOUR_MS},
    {.name = "ticket_key_file",
     .parse = parse_conf_path,
     .offset = offsetof(struct conf_tls_server, ticket_key_file)},
};

static const struct conf_section tls_server_section = TABLE(tls_server_directives);

/* tls of a listener: a mapping; its presence turns TLS on. See conf_parse_cb. */
static int parse_listener_tls(struct conf_ctx *ctx, const struct conf_node *n,
                              const struct conf_directive *d, void *base)
{
    struct conf_tls_server *t = field_ptr(base, d);

    t->enabled = 1;
    t->pos = conf__pos(n);
    return conf__section_parse(ctx, n, &tls_server_section, t);
}

/* After merging: keys that contradict each other. N is the listener's mapping. 0 or -1. */
static int tls_server_check(struct conf_ctx *ctx, const struct conf_node *n,
                            const struct conf_tls_server *t)
{
    const struct conf_node *key = conf__map_get(conf__map_get(n, "tls"), "ticket_key_file");

    if (t->enabled && t->session_ticket_lifetime_ms == 0 && key != NULL) {
        size_t mark = conf__path_push(ctx, "tls.ticket_key_file");
        conf__err(ctx, key, "ticket_key_file is unused with session_ticket_lifetime: off");
        conf__path_pop(ctx, mark);
        return -1;
    }
    return 0;
}

/* Releases what T owns (not T itself); see conf-int.h. */
void conf__tls_server_dispose(struct conf_tls_server *t)
{
    for (size_t i = 0; i < t->ncerts; i++) {
        free(t->certs[i].cert.text);
        free(t->certs[i].key.text);
    }
    free(t->certs);
    t->certs = NULL;
    t->ncerts = 0;
    free(t->ciphers.text);
    free(t->groups.text);
    free(t->ticket_key_file.text);
    t->ciphers.text = t->groups.text = t->ticket_key_file.text = NULL;
}

/* ---- top level ---- */

static int parse_cidrs(struct conf_ctx *ctx, const struct conf_node *n,
                       const struct conf_directive *d, void *base);

static const struct conf_directive proxy_protocol_directives[] = {
    {.name = "from",
     .parse = parse_cidrs,
     .offset = offsetof(struct conf_listener, proxy_from),
     .flags = CONF_F_REQUIRED},
};

static const struct conf_section proxy_protocol_section = TABLE(proxy_protocol_directives);

/* proxy_protocol: true (from trusted_proxies) or {from: [networks]}, which
 * trusts those peers for the PROXY header only, not for X-Forwarded-For. */
static int parse_proxy_protocol(struct conf_ctx *ctx, const struct conf_node *n,
                                const struct conf_directive *d, void *base)
{
    struct conf_listener *l = base;

    if (n->type != CONF_NODE_MAP)
        return conf_parse_bool(ctx, n, d, base);
    store_uint(base, d, 1);
    if (conf__section_parse(ctx, n, &proxy_protocol_section, l) != 0)
        return -1;
    if (l->proxy_from.ncidrs == 0) {
        conf__err(ctx, n, "from: name the networks that may send a PROXY header");
        return -1;
    }
    return 0;
}

static const struct conf_directive listener_directives[] = {
    {.name = "addr",
     .parse = conf_parse_addr,
     .offset = offsetof(struct conf_listener, addr),
     .flags = CONF_F_REQUIRED},
    {.name = "proxy_protocol",
     .parse = parse_proxy_protocol,
     FIELD(struct conf_listener, proxy_protocol),
     .max = 1,
     .def = 0},
    {.name = "tls",
     .parse = parse_listener_tls,
     .offset = offsetof(struct conf_listener, tls),
     .sub = &tls_server_section},
    {.name = "h2", .parse = conf_parse_bool, FIELD(struct conf_listener, h2), .max = 1, .def = 1},
    {.name = "h2c", .parse = conf_parse_bool, FIELD(struct conf_listener, h2c), .max = 1, .def = 0},
};

const struct conf_section conf__listener_section = TABLE(listener_directives);

/* listen: an address, a mapping {addr, proxy_protocol, tls}, or a list of either. */
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
    }
    if (count == 0 || (n->type == CONF_NODE_SCALAR && n->is_null)) {
        conf__err(ctx, n, "at least one listen address is required");
        return -1;
    }
    c->listen = calloc(count, sizeof(*c->listen));
    c->listeners = calloc(count, sizeof(*c->listeners));
    if (c->listen == NULL || c->listeners == NULL) {
        conf__err(ctx, n, "out of memory");
        return -1;
    }
    c->nlisten = count;
    for (size_t i = 0; i < count; i++) {
        size_t mark = n->type == CONF_NODE_SEQ ? conf__path_push(ctx, "[%zu]", i) : ctx->pathlen;
        struct conf_listener *l = &c->listeners[i];

        conf__section_unset(&conf__listener_section, l);
        l->pos = conf__pos(items[i]);
        if (items[i]->type == CONF_NODE_MAP) {
            if (conf__section_parse(ctx, items[i], &conf__listener_section, l) != 0)
                rc = -1;
        } else if (parse_addr_into(ctx, items[i], &l->addr) != 0) {
            rc = -1;
        }
        conf__section_merge(&conf__listener_section, l, NULL);
        if (tls_server_check(ctx, items[i], &l->tls) != 0)
            rc = -1;
        if (l->addr.salen != 0 && is_duplicate_addr(ctx, items[i], &l->addr, &c->listeners[0].addr,
                                                    sizeof(*l), items, i, "listen address"))
            rc = -1;
        c->listen[i] = l->addr;
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
    if (strcmp(s, "-") == 0)
        return store_str(ctx, n, field, s);
    return conf__store_path(ctx, n, field, s);
}

const char *const conf_log_field_names[CONF_LOG_NFIELDS] = {
    [CONF_LOG_TIME] = "time",       [CONF_LOG_CLIENT] = "client", [CONF_LOG_ZONE] = "zone",
    [CONF_LOG_COUNTRY] = "country", [CONF_LOG_METHOD] = "method", [CONF_LOG_TARGET] = "target",
    [CONF_LOG_STATUS] = "status",   [CONF_LOG_BYTES_IN] = "in",   [CONF_LOG_BYTES_OUT] = "out",
    [CONF_LOG_BACKEND] = "backend", [CONF_LOG_REGION] = "region", [CONF_LOG_REASON] = "why",
    [CONF_LOG_MS] = "ms",           [CONF_LOG_PEER] = "peer",     [CONF_LOG_REQUEST_ID] = "id",
    [CONF_LOG_PROTO] = "proto",     [CONF_LOG_STREAM] = "stream", [CONF_LOG_ERROR] = "error",
    [CONF_LOG_TLS] = "tls",         [CONF_LOG_CIPHER] = "cipher", [CONF_LOG_SNI] = "sni",
    [CONF_LOG_RESUMED] = "resumed", [CONF_LOG_TLS_MS] = "tls_ms",
};

#define LOG_TEMPLATE_MAX 1024 /* bytes of an access_log_format template */

/* The field named by the identifier at S (LEN bytes), or -1. */
static int log_field(const char *s, size_t len)
{
    for (int i = 0; i < CONF_LOG_NFIELDS; i++)
        if (strlen(conf_log_field_names[i]) == len && memcmp(conf_log_field_names[i], s, len) == 0)
            return i;
    return -1;
}

/* Splits a template into literal-then-field pieces; "$$" is a literal '$'
 * (kept as a one-byte piece), "$name" a field. Returns 0 or -1 (reported). */
static int compile_log_template(struct conf_ctx *ctx, const struct conf_node *n,
                                struct conf_log_format *f)
{
    const char *t = f->text;
    size_t len = strlen(t), lit = 0;

    f->pieces = calloc(len + 1, sizeof(*f->pieces)); /* at most one piece per byte, plus one */
    if (f->pieces == NULL) {
        conf__err(ctx, n, "out of memory");
        return -1;
    }
    for (size_t i = 0; i <= len; i++) {
        if (i < len && t[i] != '$')
            continue;
        struct conf_log_piece *p = &f->pieces[f->npieces++];
        *p = (struct conf_log_piece){.off = (uint32_t)lit, .len = (uint32_t)(i - lit), .field = -1};
        if (i == len)
            break;
        if (t[i + 1] == '$') {
            p->len++; /* the first '$', literally */
            lit = ++i + 1;
            continue;
        }
        size_t j = i + 1;
        while (j < len && (t[j] == '_' || (t[j] >= 'a' && t[j] <= 'z')))
            j++;
        if ((p->field = log_field(t + i + 1, j - i - 1)) < 0) {
            conf__err(ctx, n, "unknown field '$%.*s' (fields: see docs/LOGS.md)", (int)(j - i - 1),
                      t + i + 1);
            return -1;
        }
        lit = j;
        i = j - 1;
    }
    return 0;
}

/* access_log_format: logfmt, json, or a template with $name fields. */
static int parse_access_log_format(struct conf_ctx *ctx, const struct conf_node *n,
                                   const struct conf_directive *d, void *base)
{
    struct conf_log_format *f = field_ptr(base, d);
    const char *s = conf__scalar(ctx, n);

    if (s == NULL)
        return -1;
    if (strcmp(s, "logfmt") == 0 || strcmp(s, "json") == 0) {
        f->kind = s[0] == 'j' ? CONF_LOG_JSON : CONF_LOG_LOGFMT;
        return 0;
    }
    if (strchr(s, '$') == NULL) {
        conf__err(ctx, n, "expected logfmt, json, or a template with $name fields");
        return -1;
    }
    if (strlen(s) > LOG_TEMPLATE_MAX) {
        conf__err(ctx, n, "template longer than %d bytes", LOG_TEMPLATE_MAX);
        return -1;
    }
    for (const char *p = s; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            conf__err(ctx, n, "control byte in the template: one request is one line");
            return -1;
        }
    }
    f->kind = CONF_LOG_TEMPLATE;
    if (store_str(ctx, n, &f->text, s) != 0)
        return -1;
    return compile_log_template(ctx, n, f);
}

/* A user or group name: what useradd accepts (POSIX portable names, 32 max). */
static int parse_account(struct conf_ctx *ctx, const struct conf_node *n,
                         const struct conf_directive *d, void *base)
{
    const char *s = conf__scalar(ctx, n);
    char **field = field_ptr(base, d);
    size_t len;

    if (s == NULL)
        return -1;
    len = strlen(s);
    if (len == 0 || len > 32 || s[0] == '-' ||
        strspn(s, "abcdefghijklmnopqrstuvwxyz"
                  "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                  "0123456789._-") != len) {
        conf__err(ctx, n, "not a user or group name (letters, digits, '.', '_', '-'; 32 at most)");
        return -1;
    }
    if ((*field = strdup(s)) == NULL) {
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
    /* 0 by default: without a load balancer probing /readyz, serving on
     * after SIGTERM only delays the stop. */
    {.name = "lame_duck",
     .parse = conf_parse_ms,
     FIELD(struct conf_timeouts, lame_duck_ms),
     .min = 0,
     .max = HOUR_MS,
     .def = 0},
    TIMEOUT(shutdown_drain, 10 * SEC_MS),
    TIMEOUT(tls_handshake, 10 * SEC_MS),
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
    LIMIT(max_tls_handshakes, conf_parse_uint, 1, 1000000, 256),
    LIMIT(h2_max_concurrent_streams, conf_parse_uint, 1, 10000, 100),
};

static const struct conf_section limits_section = TABLE(limit_directives);

/* ---- networks (trusted_proxies, debug_clients) ---- */

/* A network or a list of them into a struct conf_cidr_list field; see conf_parse_cb. */
static int parse_cidrs(struct conf_ctx *ctx, const struct conf_node *n,
                       const struct conf_directive *d, void *base)
{
    struct conf_cidr_list *l = field_ptr(base, d);
    const struct conf_node *const *items = (const struct conf_node *const *)&n;
    size_t count = 1;
    int rc = 0;

    if (n->type == CONF_NODE_BAD)
        return -1;
    if (n->type == CONF_NODE_SEQ) {
        items = (const struct conf_node *const *)n->items;
        count = n->nitems;
    } else if (n->type == CONF_NODE_MAP) {
        conf__err(ctx, n, "expected a network or a list of networks, got a mapping");
        return -1;
    } else if (n->is_null) {
        return 0; /* "trusted_proxies:" = none */
    }
    if (count == 0)
        return 0;
    l->cidrs = calloc(count, sizeof(*l->cidrs));
    if (l->cidrs == NULL) {
        conf__err(ctx, n, "out of memory");
        return -1;
    }
    /* Entries stay at their index; one that does not parse stays zeroed (and
     * the load fails), so positions and messages line up with the file. */
    l->ncidrs = count;
    for (size_t i = 0; i < count; i++) {
        size_t mark = n->type == CONF_NODE_SEQ ? conf__path_push(ctx, "[%zu]", i) : ctx->pathlen;
        const char *s = conf__scalar(ctx, items[i]), *why = NULL;
        struct conf_cidr *cidr = &l->cidrs[i];
        char q[80];

        if (s != NULL && (why = conf__cidr_parse(s, cidr)) != NULL)
            conf__err(ctx, items[i], "invalid network '%s': %s", conf__quote(s, q, sizeof(q)), why);
        if (s == NULL || why != NULL) {
            rc = -1;
            conf__path_pop(ctx, mark);
            continue;
        }
        cidr->pos = conf__pos(items[i]);
        for (size_t j = 0; j < i; j++) {
            if (l->cidrs[j].family != 0 && strcmp(l->cidrs[j].text, cidr->text) == 0) {
                conf__err(ctx, items[i], "duplicate network '%s' (first at line %u, column %u)",
                          cidr->text, l->cidrs[j].pos.line, l->cidrs[j].pos.col);
                rc = -1;
                break;
            }
        }
        conf__path_pop(ctx, mark);
    }
    return rc;
}

/* ---- geo ---- */

#define GEO_PATH_MAX 127 /* bytes of a dotted path (geo/: GEO_PATH_TEXT_MAX - 1) */
#define GEO_PATH_DEPTH 8 /* segments of a dotted path (geo/: GEO_PATH_DEPTH_MAX) */
#define GEO_FIELDS_OFFSET offsetof(struct conf_geo_db, fields)

static const struct keyword geo_schemas[] = {
    {"maxmind", CONF_GEO_SCHEMA_MAXMIND},
    {"maxmind-asn", CONF_GEO_SCHEMA_MAXMIND_ASN},
    {"flat", CONF_GEO_SCHEMA_FLAT},
    {"custom", CONF_GEO_SCHEMA_CUSTOM},
};

static int parse_geo_schema(struct conf_ctx *ctx, const struct conf_node *n,
                            const struct conf_directive *d, void *base)
{
    return parse_keyword(ctx, n, d, base, geo_schemas, sizeof(geo_schemas) / sizeof(*geo_schemas));
}

/* One field path of a custom schema, "subdivisions.0.iso_code"; on struct conf_geo_db. */
static int parse_geo_path(struct conf_ctx *ctx, const struct conf_node *n,
                          const struct conf_directive *d, void *base)
{
    struct conf_geo_db *db = base;
    size_t idx = (d->offset - GEO_FIELDS_OFFSET) / sizeof(char *);
    const char *s = conf__scalar(ctx, n), *why = NULL;
    size_t segments = 1;
    char q[80];

    if (s == NULL)
        return -1;
    for (const char *p = s; *p; p++)
        segments += *p == '.';
    if (s[0] == '\0' || s[0] == '.' || s[strlen(s) - 1] == '.' || strstr(s, "..") != NULL)
        why = "expected keys and indexes separated by single dots, such as "
              "subdivisions.0.iso_code";
    else if (strlen(s) > GEO_PATH_MAX)
        why = "longer than 127 characters";
    else if (segments > GEO_PATH_DEPTH)
        why = "more than 8 segments";
    if (why != NULL) {
        conf__err(ctx, n, "invalid field path '%s': %s", conf__quote(s, q, sizeof(q)), why);
        return -1;
    }
    db->field_pos[idx] = conf__pos(n);
    return store_str(ctx, n, &db->fields[idx], s);
}

#define GEO_FIELD(nm, f)                                                                           \
    {                                                                                              \
        .name = (nm), .parse = parse_geo_path, .offset = GEO_FIELDS_OFFSET + (f) * sizeof(char *)  \
    }

static const struct conf_directive geo_field_directives[] = {
    GEO_FIELD("country", CONF_GEO_FIELD_COUNTRY),
    GEO_FIELD("subdivision", CONF_GEO_FIELD_SUBDIVISION),
    GEO_FIELD("continent", CONF_GEO_FIELD_CONTINENT),
    GEO_FIELD("asn", CONF_GEO_FIELD_ASN),
    GEO_FIELD("as_org", CONF_GEO_FIELD_AS_ORG),
    GEO_FIELD("latitude", CONF_GEO_FIELD_LATITUDE),
    GEO_FIELD("longitude", CONF_GEO_FIELD_LONGITUDE),
};

static const struct conf_section geo_fields_section = TABLE(geo_field_directives);

/* path: a non-empty file name, into an owned char * field. */
static int parse_file_path(struct conf_ctx *ctx, const struct conf_node *n,
                           const struct conf_directive *d, void *base)
{
    const char *s = conf__scalar(ctx, n);

    if (s == NULL)
        return -1;
    if (s[0] == '\0') {
        conf__err(ctx, n, "empty path");
        return -1;
    }
    return conf__store_path(ctx, n, field_ptr(base, d), s);
}

/* fields is parsed into the database struct itself (offset 0): its table's offsets are there. */
static const struct conf_directive geo_db_directives[] = {
    {.name = "path",
     .parse = parse_file_path,
     .offset = offsetof(struct conf_geo_db, path),
     .flags = CONF_F_REQUIRED},
    {.name = "schema",
     .parse = parse_geo_schema,
     FIELD(struct conf_geo_db, schema),
     .max = CONF_GEO_SCHEMA_CUSTOM,
     .def = CONF_GEO_SCHEMA_MAXMIND},
    {.name = "fields", .parse = conf_parse_section, .offset = 0, .sub = &geo_fields_section},
};

const struct conf_section conf__geo_db_section = TABLE(geo_db_directives);

/* databases: a list of {path, schema, fields}; on struct conf_geo. */
static int parse_geo_dbs(struct conf_ctx *ctx, const struct conf_node *n,
                         const struct conf_directive *d, void *base)
{
    struct conf_geo *g = base;
    int rc = 0;

    (void)d;
    if ((rc = conf__expect(ctx, n, CONF_NODE_SEQ, "a list of databases")) <= 0)
        return rc;
    rc = 0;
    if (n->nitems > CONF_GEO_DB_MAX) {
        conf__err(ctx, n->items[CONF_GEO_DB_MAX], "at most %d databases", CONF_GEO_DB_MAX);
        return -1;
    }
    if (n->nitems == 0)
        return 0;
    g->dbs = calloc(n->nitems, sizeof(*g->dbs));
    if (g->dbs == NULL) {
        conf__err(ctx, n, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n->nitems; i++) {
        const struct conf_node *item = n->items[i];
        const struct conf_node *fields = conf__map_get(item, "fields");
        struct conf_geo_db *db = &g->dbs[g->ndbs++];
        size_t mark = conf__path_push(ctx, "[%zu]", i);

        conf__section_unset(&conf__geo_db_section, db);
        db->pos = conf__pos(item);
        if (conf__section_parse(ctx, item, &conf__geo_db_section, db) != 0)
            rc = -1;
        conf__section_merge(&conf__geo_db_section, db, NULL);
        if (item->type == CONF_NODE_MAP && db->schema == CONF_GEO_SCHEMA_CUSTOM) {
            size_t nf = 0;
            for (size_t f = 0; f < CONF_GEO_FIELD_COUNT; f++)
                nf += db->fields[f] != NULL;
            if (nf == 0 && fields == NULL) {
                conf__err(ctx, item, "schema custom needs fields (at least one field path)");
                rc = -1;
            } else if (nf == 0 && fields->type != CONF_NODE_BAD &&
                       !(fields->type == CONF_NODE_MAP && fields->nitems > 0)) {
                conf__err(ctx, fields, "schema custom needs at least one field path");
                rc = -1;
            }
        } else if (fields != NULL) {
            size_t m2 = conf__path_push(ctx, "fields");
            conf__err(ctx, fields, "fields is only used with schema: custom");
            conf__path_pop(ctx, m2);
            rc = -1;
        }
        for (size_t j = 0; db->path != NULL && j + 1 < g->ndbs; j++) {
            if (g->dbs[j].path != NULL && strcmp(g->dbs[j].path, db->path) == 0) {
                conf__err(ctx, item, "duplicate database '%s' (first at line %u, column %u)",
                          db->path, g->dbs[j].pos.line, g->dbs[j].pos.col);
                rc = -1;
            }
        }
        conf__path_pop(ctx, mark);
    }
    return rc;
}

#define GEO_HEADER(nm)                                                                             \
    {                                                                                              \
        .name = #nm, .parse = parse_header_name, .offset = offsetof(struct conf_geo_headers, nm)   \
    }

static const struct conf_directive geo_header_directives[] = {
    GEO_HEADER(country), GEO_HEADER(subdivision), GEO_HEADER(continent),
    GEO_HEADER(asn),     GEO_HEADER(zone),        GEO_HEADER(region),
};

static const struct conf_section geo_headers_section = TABLE(geo_header_directives);

static const struct conf_directive geo_directives[] = {
    {.name = "databases", .parse = parse_geo_dbs},
    {.name = "reload_interval",
     .parse = conf_parse_ms_off,
     FIELD(struct conf_geo, reload_interval_ms),
     .min = SEC_MS,
     .max = DAY_MS,
     .def = 60 * SEC_MS},
    {.name = "headers",
     .parse = conf_parse_section,
     .offset = offsetof(struct conf_geo, headers),
     .sub = &geo_headers_section},
};

static const struct conf_section geo_section = TABLE(geo_directives);

/* ---- routing ---- */

static const struct conf_directive routing_directives[] = {
    {.name = "min_gain",
     .parse = conf_parse_ms,
     FIELD(struct conf_routing, min_gain_ms),
     .max = HOUR_MS,
     .def = 10},
    {.name = "min_gain_pct",
     .parse = conf_parse_pct,
     FIELD(struct conf_routing, min_gain_pct),
     .max = 100,
     .def = 10},
    /* ms*s of excess gain: 100 moves on a 100 ms excess in 1 s, on a 10 ms one in 10 s. */
    {.name = "switch_evidence",
     .parse = conf_parse_uint,
     FIELD(struct conf_routing, switch_evidence),
     .max = 1000000,
     .def = 100},
    {.name = "rtt_half_life",
     .parse = conf_parse_ms,
     FIELD(struct conf_routing, rtt_half_life_ms),
     .min = 100,
     .max = HOUR_MS,
     /* Short: the evidence rule, not the average, filters noise (docs/ROUTING.md). */
     .def = 250},
    {.name = "slow_start",
     .parse = conf_parse_ms_off,
     FIELD(struct conf_routing, slow_start_ms),
     .min = 1,
     .max = HOUR_MS,
     .def = 10 * SEC_MS},
    {.name = "retry_budget_pct",
     .parse = conf_parse_pct,
     FIELD(struct conf_routing, retry_budget_pct),
     .max = 100,
     .def = 20},
    {.name = "failure_penalty",
     .parse = conf_parse_ms,
     FIELD(struct conf_routing, failure_penalty_ms),
     .max = MIN_MS,
     .def = SEC_MS},
};

static const struct conf_section routing_section = TABLE(routing_directives);

/* ---- admin ---- */

/* listen: an address, `unix:/absolute/path`, or `off`; sets enabled (the directive's field). */
static int parse_admin_listen(struct conf_ctx *ctx, const struct conf_node *n,
                              const struct conf_directive *d, void *base)
{
    struct conf_admin *a = base;
    const char *s = conf__scalar(ctx, n);
    char q[80];

    (void)d;
    if (s == NULL)
        return -1;
    memset(&a->addr, 0, sizeof(a->addr));
    free(a->unix_path);
    a->unix_path = NULL;
    if (strcmp(s, "off") == 0) {
        a->enabled = 0;
        return 0;
    }
    a->enabled = 1;
    if (strncmp(s, "unix:", 5) != 0)
        return parse_addr_into(ctx, n, &a->addr);
    /* sun_path holds 108 bytes with the NUL. */
    if (s[5] != '/' || strlen(s + 5) > 107) {
        conf__err(ctx, n, "invalid unix socket '%s': use unix:/absolute/path, at most 107 bytes",
                  conf__quote(s, q, sizeof(q)));
        return -1;
    }
    return store_str(ctx, n, &a->unix_path, s + 5);
}

/* mode: the unix socket's permission bits in octal, 0600 or 660. */
static int parse_admin_mode(struct conf_ctx *ctx, const struct conf_node *n,
                            const struct conf_directive *d, void *base)
{
    const char *s = conf__scalar(ctx, n);
    char q[80], *end;
    unsigned long v;

    if (s == NULL)
        return -1;
    v = strtoul(s, &end, 8);
    if (s[0] < '0' || s[0] > '7' || *end != '\0' || strlen(s) > 4 || v > 0777) {
        conf__err(ctx, n, "invalid mode '%s': use octal permission bits such as 0600",
                  conf__quote(s, q, sizeof(q)));
        return -1;
    }
    store_uint(base, d, v);
    return 0;
}

/* 0 when S is usable as a token, else -1 reported at N (never quoting S: it is a secret). */
static int check_token(struct conf_ctx *ctx, const struct conf_node *n, const char *s,
                       const char *from)
{
    if (s[0] == '\0' || strlen(s) > 256 || !is_visible_ascii(s)) {
        conf__err(ctx, n, "invalid token%s: use 1 to 256 visible ASCII characters, no spaces",
                  from);
        return -1;
    }
    return 0;
}

/* token: the bearer token. Never quoted in messages: it is a secret. */
static int parse_admin_token(struct conf_ctx *ctx, const struct conf_node *n,
                             const struct conf_directive *d, void *base)
{
    const char *s = conf__scalar(ctx, n);

    if (s == NULL || check_token(ctx, n, s, "") != 0)
        return -1;
    return store_str(ctx, n, field_ptr(base, d), s);
}

/* token_file: the token is the file's first line (trailing white space dropped). */
static int parse_admin_token_file(struct conf_ctx *ctx, const struct conf_node *n,
                                  const struct conf_directive *d, void *base)
{
    struct conf_admin *a = base;
    const char *s = conf__scalar(ctx, n);
    char buf[512], q[80];
    size_t len;
    FILE *f;

    (void)d;
    if (s == NULL)
        return -1;
    if ((f = fopen(s, "r")) == NULL) {
        conf__err(ctx, n, "cannot read token file '%s': %s", conf__quote(s, q, sizeof(q)),
                  strerror(errno));
        return -1;
    }
    len = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[len] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    len = strlen(buf);
    while (len > 0 && (buf[len - 1] == ' ' || buf[len - 1] == '\t'))
        buf[--len] = '\0';
    if (check_token(ctx, n, buf, " in the token file") != 0 ||
        store_str(ctx, n, &a->token_file, s) != 0)
        return -1;
    return store_str(ctx, n, &a->token, buf);
}

/* token_env: the token is the value of this environment variable at load time. */
static int parse_admin_token_env(struct conf_ctx *ctx, const struct conf_node *n,
                                 const struct conf_directive *d, void *base)
{
    struct conf_admin *a = base;
    const char *s = conf__scalar(ctx, n), *v;
    char q[80];

    (void)d;
    if (s == NULL)
        return -1;
    if ((v = getenv(s)) == NULL) {
        conf__err(ctx, n, "environment variable '%s' is not set", conf__quote(s, q, sizeof(q)));
        return -1;
    }
    if (check_token(ctx, n, v, " in the environment variable") != 0 ||
        store_str(ctx, n, &a->token_env, s) != 0)
        return -1;
    return store_str(ctx, n, &a->token, v);
}

static const struct conf_directive admin_directives[] = {
    {.name = "listen",
     .parse = parse_admin_listen,
     FIELD(struct conf_admin, enabled),
     .max = 1,
     .def = 1},
    {.name = "token", .parse = parse_admin_token, .offset = offsetof(struct conf_admin, token)},
    {.name = "token_file", .parse = parse_admin_token_file},
    {.name = "token_env", .parse = parse_admin_token_env},
    {.name = "mode", .parse = parse_admin_mode, FIELD(struct conf_admin, mode), .def = 0600},
    {.name = "max_connections",
     .parse = conf_parse_uint,
     FIELD(struct conf_admin, max_connections),
     .min = 1,
     .max = 10000,
     .def = 64},
};

static const struct conf_section admin_section = TABLE(admin_directives);

/* admin: a mapping, or the shorthand `admin: ADDRESS` / `admin: off` for admin.listen. */
static int parse_admin(struct conf_ctx *ctx, const struct conf_node *n,
                       const struct conf_directive *d, void *base)
{
    if (n->type == CONF_NODE_SCALAR && !n->is_null)
        return parse_admin_listen(ctx, n, &admin_directives[0], field_ptr(base, d));
    return conf_parse_section(ctx, n, d, base);
}

/* ---- dns ---- */

/* servers: numeric addresses with optional ports (53), into conf_dns. */
static int parse_dns_servers(struct conf_ctx *ctx, const struct conf_node *n,
                             const struct conf_directive *d, void *base)
{
    struct conf_dns *dns = base;
    const struct conf_node *const *items = (const struct conf_node *const *)&n;
    size_t count = 1;
    int rc = 0;

    (void)d;
    if (n->type == CONF_NODE_BAD)
        return -1;
    if (n->type == CONF_NODE_SEQ) {
        items = (const struct conf_node *const *)n->items;
        count = n->nitems;
    } else if (n->type == CONF_NODE_MAP) {
        conf__err(ctx, n, "expected an address or a list of addresses, got a mapping");
        return -1;
    } else if (n->is_null) {
        return 0;
    }
    if (count == 0)
        return 0;
    dns->servers = calloc(count, sizeof(*dns->servers));
    if (dns->servers == NULL) {
        conf__err(ctx, n, "out of memory");
        return -1;
    }
    dns->nservers = count; /* index-aligned, as in parse_cidrs */
    for (size_t i = 0; i < count; i++) {
        size_t mark = n->type == CONF_NODE_SEQ ? conf__path_push(ctx, "[%zu]", i) : ctx->pathlen;
        const char *s = conf__scalar(ctx, items[i]), *why = NULL;
        struct conf_addr *a = &dns->servers[i];
        char q[80];

        if (s == NULL) {
            rc = -1;
        } else if ((why = conf__addr_parse_port(s, 53, a)) != NULL) {
            conf__err(ctx, items[i], "invalid server '%s': %s", conf__quote(s, q, sizeof(q)), why);
            rc = -1;
        } else if (is_duplicate_addr(ctx, items[i], a, dns->servers, sizeof(*a), items, i,
                                     "server")) {
            rc = -1;
        }
        conf__path_pop(ctx, mark);
    }
    return rc;
}

static const struct keyword dns_families[] = {
    {"any", CONF_DNS_ANY},
    {"ipv4", CONF_DNS_IPV4},
    {"ipv6", CONF_DNS_IPV6},
    {"prefer-ipv4", CONF_DNS_PREFER_IPV4},
    {"prefer-ipv6", CONF_DNS_PREFER_IPV6},
};

static int parse_dns_family(struct conf_ctx *ctx, const struct conf_node *n,
                            const struct conf_directive *d, void *base)
{
    return parse_keyword(ctx, n, d, base, dns_families,
                         sizeof(dns_families) / sizeof(*dns_families));
}

static const struct conf_directive dns_directives[] = {
    {.name = "servers", .parse = parse_dns_servers},
    {.name = "min_ttl",
     .parse = conf_parse_ms,
     FIELD(struct conf_dns, min_ttl_ms),
     .min = 100,
     .max = DAY_MS,
     .def = SEC_MS},
    {.name = "max_ttl",
     .parse = conf_parse_ms,
     FIELD(struct conf_dns, max_ttl_ms),
     .min = 100,
     .max = 7 * DAY_MS,
     .def = 5 * MIN_MS},
    {.name = "family",
     .parse = parse_dns_family,
     FIELD(struct conf_dns, family),
     .max = CONF_DNS_PREFER_IPV6,
     .def = CONF_DNS_ANY},
    {.name = "timeout",
     .parse = conf_parse_ms,
     FIELD(struct conf_dns, timeout_ms),
     .min = 10,
     .max = MIN_MS,
     .def = SEC_MS},
    {.name = "retry_max",
     .parse = conf_parse_ms,
     FIELD(struct conf_dns, retry_max_ms),
     .min = 100,
     .max = HOUR_MS,
     .def = 30 * SEC_MS},
};

static const struct conf_section dns_section = TABLE(dns_directives);

/* ---- the file ---- */

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
    {.name = "access_log_format",
     .parse = parse_access_log_format,
     .offset = offsetof(struct conf, access_log_format)},
    {.name = "user", .parse = parse_account, .offset = offsetof(struct conf, user)},
    {.name = "group", .parse = parse_account, .offset = offsetof(struct conf, group)},
    {.name = "trusted_proxies",
     .parse = parse_cidrs,
     .offset = offsetof(struct conf, trusted_proxies)},
    {.name = "debug_clients", .parse = parse_cidrs, .offset = offsetof(struct conf, debug_clients)},
    {.name = "explain_header",
     .parse = parse_header_name,
     .offset = offsetof(struct conf, explain_header)},
    {.name = "underscores_in_headers",
     .parse = conf_parse_bool,
     FIELD(struct conf, underscores_in_headers),
     .max = 1,
     .def = 0},
    {.name = "geo",
     .parse = conf_parse_section,
     .offset = offsetof(struct conf, geo),
     .sub = &geo_section},
    /* After regions and geo, whatever the order in the file: routes name regions. */
    {.name = "zones", .parse = conf_parse_deferred},
    {.name = "routing",
     .parse = conf_parse_section,
     .offset = offsetof(struct conf, routing),
     .sub = &routing_section},
    {.name = "admin",
     .parse = parse_admin,
     .offset = offsetof(struct conf, admin),
     .sub = &admin_section},
    {.name = "dns",
     .parse = conf_parse_section,
     .offset = offsetof(struct conf, dns),
     .sub = &dns_section},
};

const struct conf_section conf__root_section = TABLE(root_directives);
