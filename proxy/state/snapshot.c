/*
 * snapshot: building, sharing and querying config + geo snapshots. Zone
 * specs borrow the config's strings for the compile call only; the compiled
 * matcher owns copies. Database references are atomic because snapshots are
 * released by whichever worker drops the last user.
 */
#include "proxy/state/snapshot.h"
#include "proxy/base/px.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_uint_fast64_t next_generation = 1;

/* Appends "FILE:LINE:COL: msg\n" to ERR. */
static void add_error(char *err, size_t errlen, const char *file, struct conf_pos pos,
                      const char *fmt, const char *msg)
{
    size_t used = strnlen(err, errlen);
    if (used + 1 >= errlen)
        return;
    if (used > 0 && err[used - 1] != '\n')
        err[used++] = '\n';
    snprintf(err + used, errlen - used, "%s:%u:%u: ", file, pos.line, pos.col);
    used = strnlen(err, errlen);
    snprintf(err + used, errlen - used, fmt, msg);
}

static const struct conf_pos *zone_value_pos(const struct conf_zone *z, enum geo_zone_key key,
                                             size_t i)
{
    switch (key) {
    case GEO_ZONE_KEY_CIDR:
        return i < z->match.cidr.n ? &z->match.cidr.pos[i] : NULL;
    case GEO_ZONE_KEY_ASN:
        return i < z->match.nasn ? &z->match.asn_pos[i] : NULL;
    case GEO_ZONE_KEY_COUNTRY:
        return i < z->match.country.n ? &z->match.country.pos[i] : NULL;
    case GEO_ZONE_KEY_SUBDIVISION:
        return i < z->match.subdivision.n ? &z->match.subdivision.pos[i] : NULL;
    case GEO_ZONE_KEY_CONTINENT:
        return i < z->match.continent.n ? &z->match.continent.pos[i] : NULL;
    case GEO_ZONE_KEY_MATCH:
        return &z->match_pos;
    default:
        return &z->pos;
    }
}

static void fill_spec(struct geo_zone_spec *sp, const struct conf_zone *z)
{
    memset(sp, 0, sizeof(*sp));
    sp->name = z->name;
    sp->cidr = (const char *const *)z->match.cidr.str;
    sp->ncidr = z->match.cidr.n;
    sp->asn = z->match.asn;
    sp->nasn = z->match.nasn;
    sp->country = (const char *const *)z->match.country.str;
    sp->ncountry = z->match.country.n;
    sp->subdivision = (const char *const *)z->match.subdivision.str;
    sp->nsubdivision = z->match.subdivision.n;
    sp->continent = (const char *const *)z->match.continent.str;
    sp->ncontinent = z->match.continent.n;
}

/* The reason part of a geo/ message "zone N (NAME): KEY: REASON". */
static const char *zone_reason(const char *msg)
{
    const char *p = strstr(msg, "): ");
    const char *q = p ? strstr(p + 3, ": ") : NULL;
    return q ? q + 2 : msg;
}

/* Reports ZERR of zone I at its value as "zones[I].match.KEY[J]: REASON". */
static void zone_error(const struct conf *cf, const struct geo_zone_error *zerr, size_t i, size_t j,
                       char *err, size_t errlen)
{
    const struct conf_pos *pos = zone_value_pos(&cf->zones[i], zerr->key, j);
    char what[sizeof(zerr->msg) + 64];

    if (zerr->key == GEO_ZONE_KEY_NAME || zerr->key == GEO_ZONE_KEY_MATCH)
        snprintf(what, sizeof(what), "zones[%zu].%s: %s", i, geo_zone_key_name(zerr->key),
                 zone_reason(zerr->msg));
    else
        snprintf(what, sizeof(what), "zones[%zu].match.%s[%zu]: %s", i,
                 geo_zone_key_name(zerr->key), j, zone_reason(zerr->msg));
    add_error(err, errlen, cf->path, pos ? *pos : cf->zones[i].pos, "%s", what);
}

/* Compiles ONE alone; on an error fills ZERR and returns -1. */
static int compile_one(const struct geo_zone_spec *one, struct geo_zone_error *zerr)
{
    struct geo_zones *z;
    int rc = geo_zones_compile(one, 1, &z, zerr);
    if (rc == 0)
        geo_zones_free(z);
    return rc;
}

/*
 * The matcher stops at its first error. To report every bad value at once,
 * each value is compiled in a zone of its own, then each zone whole (for
 * what concerns the zone rather than one value).
 */
static void report_zone_errors(const struct conf *cf, const struct geo_zone_spec *specs, char *err,
                               size_t errlen)
{
    struct geo_zone_error zerr;

    for (size_t i = 0; i < cf->nzones; i++) {
        const struct geo_zone_spec *sp = &specs[i];
        bool any = false;
#define EACH_VALUE(field, count, kind)                                                             \
    for (size_t j = 0; j < sp->count; j++) {                                                       \
        struct geo_zone_spec one = {.name = sp->name, .field = &sp->field[j], .count = 1};         \
        if (compile_one(&one, &zerr) == -1 && zerr.key == (kind)) {                                \
            zone_error(cf, &zerr, i, j, err, errlen);                                              \
            any = true;                                                                            \
        }                                                                                          \
    }
        EACH_VALUE(cidr, ncidr, GEO_ZONE_KEY_CIDR)
        EACH_VALUE(asn, nasn, GEO_ZONE_KEY_ASN)
        EACH_VALUE(country, ncountry, GEO_ZONE_KEY_COUNTRY)
        EACH_VALUE(subdivision, nsubdivision, GEO_ZONE_KEY_SUBDIVISION)
        EACH_VALUE(continent, ncontinent, GEO_ZONE_KEY_CONTINENT)
#undef EACH_VALUE
        if (!any && compile_one(sp, &zerr) == -1)
            zone_error(cf, &zerr, i, zerr.value_index, err, errlen);
    }
}

static int compile_zones(struct px_config *cfg, char *err, size_t errlen)
{
    const struct conf *cf = cfg->conf;
    struct geo_zone_spec *specs = calloc(cf->nzones, sizeof(*specs));
    struct geo_zone_error zerr;
    int rc;

    if (specs == NULL) {
        snprintf(err, errlen, "%s: out of memory", cf->path);
        return -1;
    }
    for (size_t i = 0; i < cf->nzones; i++)
        fill_spec(&specs[i], &cf->zones[i]);
    rc = geo_zones_compile(specs, cf->nzones, &cfg->zones, &zerr);
    if (rc == -1) {
        report_zone_errors(cf, specs, err, errlen);
        if (err[0] == '\0') /* only the set is wrong (e.g. two zones share a name) */
            zone_error(cf, &zerr, zerr.zone, zerr.value_index, err, errlen);
    } else if (rc != 0) {
        snprintf(err, errlen, "%s: zones: out of memory", cf->path);
    }
    free(specs);
    return rc == 0 ? 0 : -1;
}

static int open_db(const struct conf_geo_db *d, const struct px_snapshot *prev, struct geo_db **out,
                   struct px_file_stamp *st, char *msg, size_t msglen);

/* Opens and closes every geo database, adding an error line for each bad one. */
static void check_databases(const struct conf *cf, char *err, size_t errlen)
{
    struct px_file_stamp st;
    struct geo_db *db;
    char msg[512];

    for (size_t i = 0; i < cf->geo.ndbs; i++) {
        if (open_db(&cf->geo.dbs[i], NULL, &db, &st, msg, sizeof(msg)) == 0)
            geo_db_unref(db);
        else
            add_error(err, errlen, cf->path, cf->geo.dbs[i].pos, "geo.databases: %s", msg);
    }
}

/*
 * Builds the TLS context of every TLS listener. 0, or -1 with the problems
 * in err. A listener that PREV (may be NULL) had keeps its ticket keys, so
 * clients resume across a reload.
 */
static int build_tls(struct px_config *cfg, const struct px_config *prev, char *err, size_t errlen)
{
    const struct conf *cf = cfg->conf;
    int rc = 0;

    cfg->tls = calloc(cf->nlisten, sizeof(*cfg->tls));
    if (cfg->tls == NULL) {
        snprintf(err, errlen, "%s: out of memory", cf->path);
        return -1;
    }
    for (size_t i = 0; i < cf->nlisten; i++) {
        if (!cf->listeners[i].tls.enabled)
            continue;
        struct px_tls_ctx *old = prev && prev->tls && i < prev->conf->nlisten ? prev->tls[i] : NULL;
        int built = px_tls_ctx_build(cf, i, old, &cfg->tls[i], err, errlen);
        if (built == PX_ENOMEM)
            add_error(err, errlen, cf->path, cf->listeners[i].tls.pos, "%s", "tls: out of memory");
        if (built != 0)
            rc = -1;
    }
    return rc;
}

/* Entries before region R's, in the flat up_tls array. */
static size_t entries_before(const struct conf *cf, size_t r)
{
    size_t n = 0;
    for (size_t i = 0; i < r; i++)
        n += cf->regions[i].nbackends;
    return n;
}

struct px_tls_client *px_config_upstream_tls(const struct px_config *cfg, size_t r, size_t b)
{
    return cfg->up_tls ? cfg->up_tls[entries_before(cfg->conf, r) + b] : NULL;
}

/* Builds the client context of every backend entry with tls. 0, or -1 with the problems in err. */
static int build_upstream_tls(struct px_config *cfg, char *err, size_t errlen)
{
    const struct conf *cf = cfg->conf;
    size_t n = entries_before(cf, cf->nregions), k = 0;
    int rc = 0;

    if ((cfg->up_tls = calloc(n ? n : 1, sizeof(*cfg->up_tls))) == NULL) {
        snprintf(err, errlen, "%s: out of memory", cf->path);
        return -1;
    }
    for (size_t r = 0; r < cf->nregions; r++)
        for (size_t b = 0; b < cf->regions[r].nbackends; b++, k++) {
            const struct conf_backend *e = &cf->regions[r].backends[b];
            if (!e->tls.enabled)
                continue;
            int built = px_tls_client_build(cf, r, b, &cfg->up_tls[k], err, errlen);
            if (built == PX_ENOMEM)
                add_error(err, errlen, cf->path, e->tls.pos, "%s", "tls: out of memory");
            if (built != 0)
                rc = -1;
        }
    return rc;
}

int px_config_load(const char *path, struct px_config **out, char *err, size_t errlen)
{
    return px_config_reload(path, NULL, out, err, errlen);
}

int px_config_reload(const char *path, const struct px_config *prev, struct px_config **out,
                     char *err, size_t errlen)
{
    struct px_config *cfg;

    *out = NULL;
    err[0] = '\0';
    cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    atomic_init(&cfg->refs, 1);
    if (conf_load_file(path, &cfg->conf, err, errlen) != 0) {
        px_config_unref(cfg);
        return -1;
    }
    int zones = compile_zones(cfg, err, errlen);
    int tls = build_tls(cfg, prev, err, errlen); /* every certificate problem too, in one run */
    tls |= build_upstream_tls(cfg, err, errlen);
    if (zones != 0 || tls != 0) {
        if (zones != 0)
            check_databases(cfg->conf, err, errlen); /* report those errors too */
        px_config_unref(cfg);
        return -1;
    }
    *out = cfg;
    return 0;
}

void px_config_unref(struct px_config *cfg)
{
    if (cfg == NULL || atomic_fetch_sub(&cfg->refs, 1) != 1)
        return;
    geo_zones_free(cfg->zones);
    for (size_t i = 0; cfg->tls != NULL && i < cfg->conf->nlisten; i++)
        px_tls_ctx_unref(cfg->tls[i]);
    free(cfg->tls);
    for (size_t i = 0; cfg->up_tls != NULL && i < entries_before(cfg->conf, cfg->conf->nregions);
         i++)
        px_tls_client_unref(cfg->up_tls[i]);
    free(cfg->up_tls);
    conf_free(cfg->conf);
    free(cfg);
}

static int stamp_file(const char *path, struct px_file_stamp *st)
{
    struct stat sb;
    if (stat(path, &sb) == -1)
        return -1;
    st->dev = sb.st_dev;
    st->ino = sb.st_ino;
    st->size = sb.st_size;
    st->mtime = sb.st_mtim;
    return 0;
}

static bool stamp_equal(const struct px_file_stamp *a, const struct px_file_stamp *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static const struct geo_schema *schema_for(const struct conf_geo_db *d, struct geo_schema *custom)
{
    switch (d->schema) {
    case CONF_GEO_SCHEMA_MAXMIND_ASN:
        return &geo_schema_maxmind_asn;
    case CONF_GEO_SCHEMA_FLAT:
        return &geo_schema_flat;
    case CONF_GEO_SCHEMA_CUSTOM:
        custom->name = "custom";
        for (int f = 0; f < GEO_FIELD_COUNT; f++)
            custom->path[f] = d->fields[f];
        return custom;
    default:
        return &geo_schema_maxmind;
    }
}

/* Reuses PREV's handle on the same, unchanged file; else opens it. */
static int open_db(const struct conf_geo_db *d, const struct px_snapshot *prev, struct geo_db **out,
                   struct px_file_stamp *st, char *msg, size_t msglen)
{
    struct geo_schema custom;

    if (stamp_file(d->path, st) != 0) {
        snprintf(msg, msglen, "cannot open '%s': %m", d->path);
        return -1;
    }
    if (prev) {
        const struct conf_geo *pg = &prev->cfg->conf->geo;
        for (size_t i = 0; i < pg->ndbs; i++) {
            if (strcmp(pg->dbs[i].path, d->path) == 0 && pg->dbs[i].schema == d->schema &&
                d->schema != CONF_GEO_SCHEMA_CUSTOM && stamp_equal(&prev->stamps[i], st)) {
                *out = geo_db_ref(prev->dbs[i]);
                return 0;
            }
        }
    }
    return geo_db_open(d->path, schema_for(d, &custom), out, msg, msglen) == 0 ? 0 : -1;
}

int px_snapshot_new(struct px_config *cfg, const struct px_snapshot *prev, struct px_snapshot **out,
                    char *err, size_t errlen)
{
    const struct conf *cf = cfg->conf;
    struct px_snapshot *s = calloc(1, sizeof(*s));
    char msg[512];

    *out = NULL;
    err[0] = '\0';
    if (s == NULL) {
        snprintf(err, errlen, "%s: out of memory", cf->path);
        return -1;
    }
    atomic_init(&s->refs, 1);
    atomic_fetch_add(&cfg->refs, 1);
    s->cfg = cfg;
    s->generation = atomic_fetch_add(&next_generation, 1);
    bool failed = false;
    for (size_t i = 0; i < cf->geo.ndbs; i++) {
        /* Every database is tried, so --check reports every bad one. */
        if (open_db(&cf->geo.dbs[i], prev, &s->dbs[i], &s->stamps[i], msg, sizeof(msg)) != 0) {
            add_error(err, errlen, cf->path, cf->geo.dbs[i].pos, "geo.databases: %s", msg);
            failed = true;
        }
    }
    if (failed) {
        px_snapshot_unref(s);
        return -1;
    }
    *out = s;
    return 0;
}

struct px_snapshot *px_snapshot_ref(struct px_snapshot *s)
{
    atomic_fetch_add(&s->refs, 1);
    return s;
}

void px_snapshot_unref(struct px_snapshot *s)
{
    if (s == NULL || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    for (size_t i = 0; i < CONF_GEO_DB_MAX; i++)
        if (s->dbs[i])
            geo_db_unref(s->dbs[i]);
    px_config_unref(s->cfg);
    free(s);
}

bool px_snapshot_geo_changed(const struct px_snapshot *s)
{
    const struct conf_geo *g = &s->cfg->conf->geo;
    for (size_t i = 0; i < g->ndbs; i++) {
        struct px_file_stamp st;
        /* A missing file is "changed": the reload attempt reports it. */
        if (stamp_file(g->dbs[i].path, &st) != 0 || !stamp_equal(&st, &s->stamps[i]))
            return true;
    }
    return false;
}

void px_snapshot_classify(const struct px_snapshot *s, const struct sockaddr *sa,
                          struct geo_cache *caches, struct px_geo *out)
{
    const struct conf *cf = s->cfg->conf;
    struct geo_result r;

    memset(out, 0, sizeof(*out));
    out->generation = s->generation;
    geo_result_clear(&r);
    if (geo_addr_from_sockaddr(&out->addr, sa) != 0) {
        out->zone = (uint16_t)geo_zones_default(s->cfg->zones);
        return;
    }
    for (size_t i = 0; i < cf->geo.ndbs; i++) {
        /* A corrupt record reads as "not found" for that database. */
        if (caches && i == 0)
            geo_db_lookup_cached(s->dbs[i], &caches[i], &out->addr, &r);
        else if (caches)
            geo_db_merge_cached(s->dbs[i], &caches[i], &out->addr, &r);
        else if (i == 0)
            geo_db_lookup_addr(s->dbs[i], &out->addr, &r);
        else
            geo_db_merge_addr(s->dbs[i], &out->addr, &r);
    }
    out->zone = (uint16_t)geo_zone_classify_addr(s->cfg->zones, &out->addr, &r);
    out->found = r.found;
    memcpy(out->country, r.country, sizeof(out->country));
    memcpy(out->continent, r.continent, sizeof(out->continent));
    geo_result_subdivision_code(&r, out->subdivision, sizeof(out->subdivision));
    out->asn = r.asn;
}
