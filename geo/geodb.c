/*
 * geo/geodb: the libmaxminddb glue (see geodb.h). This is the only file of
 * georoute that includes <maxminddb.h>; MMDB codes stop here.
 */
#include "geo/geodb.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <maxminddb.h>

struct geo_db {
    MMDB_s mmdb;      /* owned; MMDB_close() at the last unref */
    atomic_uint refs; /* references; the opener holds the first */
    unsigned fields;  /* bit (1u << enum geo_field) per field the schema names */
    char *file;       /* owned; the path given to geo_db_open() */
    char schema[32];  /* schema name, cut to fit */
    /* Per field a NULL-terminated MMDB_aget_value() path into text[field]. */
    const char *path[GEO_FIELD_COUNT][GEO_PATH_DEPTH_MAX + 1];
    char text[GEO_FIELD_COUNT][GEO_PATH_TEXT_MAX]; /* path segments, '.' replaced by NUL */
};

const struct geo_schema geo_schema_maxmind = {
    .name = "maxmind",
    .path =
        {
            [GEO_FIELD_COUNTRY] = "country.iso_code",
            [GEO_FIELD_SUBDIVISION] = "subdivisions.0.iso_code",
            [GEO_FIELD_CONTINENT] = "continent.code",
            [GEO_FIELD_LATITUDE] = "location.latitude",
            [GEO_FIELD_LONGITUDE] = "location.longitude",
        },
};

const struct geo_schema geo_schema_maxmind_asn = {
    .name = "maxmind-asn",
    .path =
        {
            [GEO_FIELD_ASN] = "autonomous_system_number",
            [GEO_FIELD_AS_ORG] = "autonomous_system_organization",
        },
};

const struct geo_schema geo_schema_flat = {
    .name = "flat",
    .path =
        {
            [GEO_FIELD_COUNTRY] = "country_code",
            [GEO_FIELD_LATITUDE] = "latitude",
            [GEO_FIELD_LONGITUDE] = "longitude",
        },
};

static const char *const field_names[GEO_FIELD_COUNT] = {
    [GEO_FIELD_COUNTRY] = "country",     [GEO_FIELD_SUBDIVISION] = "subdivision",
    [GEO_FIELD_CONTINENT] = "continent", [GEO_FIELD_ASN] = "asn",
    [GEO_FIELD_AS_ORG] = "as_org",       [GEO_FIELD_LATITUDE] = "latitude",
    [GEO_FIELD_LONGITUDE] = "longitude",
};

/*
 * Returns a static message for a geo_err code, a -errno value, or 0.
 * Never returns NULL.
 */
const char *geo_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case GEO_EOPEN:
        return "cannot open or read the database file";
    case GEO_EFORMAT:
        return "not a valid MaxMind DB file";
    case GEO_EDATA:
        return "corrupt data in the database";
    case GEO_ESCHEMA:
        return "invalid database schema";
    default:
        return err < 0 && err > -4096 ? strerror(-err) : "unknown error";
    }
}

/* Returns the symbolic name of a geo_err code ("GEO_EOPEN"), or "UNKNOWN". */
const char *geo_err_name(int err)
{
    switch (err) {
    case GEO_EOPEN:
        return "GEO_EOPEN";
    case GEO_EFORMAT:
        return "GEO_EFORMAT";
    case GEO_EDATA:
        return "GEO_EDATA";
    case GEO_ESCHEMA:
        return "GEO_ESCHEMA";
    default:
        return "UNKNOWN";
    }
}

/* Returns the config name of a field ("country", "as_org"), or NULL if out of range. */
const char *geo_field_name(enum geo_field f)
{
    return (unsigned)f < GEO_FIELD_COUNT ? field_names[f] : NULL;
}

/* Returns the enum geo_field named name (as geo_field_name spells it), or -1. */
int geo_field_find(const char *name)
{
    for (int f = 0; f < GEO_FIELD_COUNT; f++)
        if (name != NULL && strcmp(name, field_names[f]) == 0)
            return f;
    return -1;
}

/*
 * Returns the preset schema called name: "maxmind", "maxmind-asn" or
 * "flat"; NULL for anything else. The result is static.
 */
const struct geo_schema *geo_schema_find(const char *name)
{
    static const struct geo_schema *const presets[] = {&geo_schema_maxmind, &geo_schema_maxmind_asn,
                                                       &geo_schema_flat};
    for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++)
        if (name != NULL && strcmp(name, presets[i]->name) == 0)
            return presets[i];
    return NULL;
}

/*
 * Splits dotted path text into NUL-separated segments in buf (GEO_PATH_TEXT_MAX
 * bytes) and points seg[] at them, NULL-terminated. Returns 0, or -1 with a
 * message naming the field in err.
 */
static int compile_path(const char *text, enum geo_field f, char *buf,
                        const char *seg[GEO_PATH_DEPTH_MAX + 1], char *err, size_t errlen)
{
    size_t len = strlen(text), n = 0;
    const char *why = NULL;

    if (len == 0)
        why = "is empty";
    else if (len >= GEO_PATH_TEXT_MAX)
        why = "is too long";
    if (why == NULL) {
        memcpy(buf, text, len + 1);
        char *p = buf;
        for (;;) {
            char *dot = strchr(p, '.');
            if (dot != NULL)
                *dot = '\0';
            if (*p == '\0') {
                why = "has an empty segment";
                break;
            }
            if (n == GEO_PATH_DEPTH_MAX) {
                why = "has too many segments";
                break;
            }
            seg[n++] = p;
            if (dot == NULL)
                break;
            p = dot + 1;
        }
    }
    seg[n] = NULL;
    if (why != NULL) {
        seg[0] = NULL;
        snprintf(err, errlen, "schema field %s: path \"%.*s\" %s", field_names[f],
                 GEO_PATH_TEXT_MAX, text, why);
        return -1;
    }
    return 0;
}

/*
 * Checks that schema s names at least one field and that every path it
 * gives is well-formed (1..GEO_PATH_DEPTH_MAX non-empty segments, shorter
 * than GEO_PATH_TEXT_MAX). Does not open any file. Returns 0, or GEO_ESCHEMA
 * with a message in err (errlen bytes, may be 0).
 */
int geo_schema_check(const struct geo_schema *s, char *err, size_t errlen)
{
    char buf[GEO_PATH_TEXT_MAX];
    const char *seg[GEO_PATH_DEPTH_MAX + 1];
    unsigned any = 0;

    for (int f = 0; f < GEO_FIELD_COUNT; f++) {
        if (s->path[f] == NULL)
            continue;
        any = 1;
        if (compile_path(s->path[f], (enum geo_field)f, buf, seg, err, errlen) != 0)
            return GEO_ESCHEMA;
    }
    if (!any) {
        snprintf(err, errlen, "schema %s names no field", s->name ? s->name : "(unnamed)");
        return GEO_ESCHEMA;
    }
    return 0;
}

/*
 * Opens the MaxMind DB file at path (memory-mapped) for lookups with schema.
 * path and schema are borrowed; the database keeps its own copies. On
 * success *out holds one reference, to be dropped with geo_db_unref().
 * Returns 0, or on failure (with *out = NULL and a one-line message naming
 * the file in err):
 *   GEO_ESCHEMA  the schema is empty or has a malformed path;
 *   GEO_EOPEN    the file cannot be opened, mapped or read;
 *   GEO_EFORMAT  the file is not a MaxMind DB, or its metadata or tree is bad;
 *   -ENOMEM      out of memory.
 */
/*
 * Copies PATH into an anonymous memory file and returns a path naming it
 * (/proc/self/fd/N) in BUF, with its fd in *memfd; -1 with errno set on
 * failure. libmaxminddb maps the file it opens: mapping the operator's file
 * itself would let a copy or truncation in place (cp new.mmdb city.mmdb)
 * change what we read under our feet, or kill us with SIGBUS past a new end
 * of file. A private copy makes a database immutable from open to close, as
 * the refcounting and reload logic assume; it costs the file's size in
 * memory, which the mapping would have used in the page cache anyway.
 */
static int private_copy(const char *path, int *memfd, char *buf, size_t buflen)
{
    char chunk[65536];
    int src = open(path, O_RDONLY | O_CLOEXEC);
    int mfd = -1, saved;

    if (src == -1)
        return -1;
    mfd = memfd_create("georoute-geodb", MFD_CLOEXEC);
    if (mfd == -1)
        goto fail;
    for (;;) {
        ssize_t n = read(src, chunk, sizeof(chunk));
        if (n == 0)
            break;
        if (n == -1) {
            if (errno == EINTR)
                continue;
            goto fail;
        }
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(mfd, chunk + done, (size_t)(n - done));
            if (w == -1) {
                if (errno == EINTR)
                    continue;
                goto fail;
            }
            done += w;
        }
    }
    close(src);
    snprintf(buf, buflen, "/proc/self/fd/%d", mfd);
    *memfd = mfd;
    return 0;
fail:
    saved = errno;
    close(src);
    if (mfd != -1)
        close(mfd);
    errno = saved;
    return -1;
}

int geo_db_open(const char *path, const struct geo_schema *schema, struct geo_db **out, char *err,
                size_t errlen)
{
    char copy[64];
    int memfd = -1;
    struct geo_db *db = NULL;
    int rc, mmrc, saved_errno;

    *out = NULL;
    if (errlen > 0)
        err[0] = '\0';
    rc = geo_schema_check(schema, err, errlen);
    if (rc != 0)
        return rc;

    db = calloc(1, sizeof(*db));
    if (db == NULL)
        goto nomem;
    db->file = strdup(path);
    if (db->file == NULL)
        goto nomem;
    snprintf(db->schema, sizeof(db->schema), "%s", schema->name ? schema->name : "custom");
    for (int f = 0; f < GEO_FIELD_COUNT; f++) {
        if (schema->path[f] == NULL)
            continue;
        /* Cannot fail: geo_schema_check() passed. */
        compile_path(schema->path[f], (enum geo_field)f, db->text[f], db->path[f], err, errlen);
        db->fields |= 1u << f;
    }

    errno = 0;
    if (private_copy(path, &memfd, copy, sizeof(copy)) != 0) {
        saved_errno = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(saved_errno));
        free(db->file);
        free(db);
        return saved_errno == ENOMEM ? -ENOMEM : GEO_EOPEN;
    }
    mmrc = MMDB_open(copy, MMDB_MODE_MMAP, &db->mmdb);
    saved_errno = errno;
    close(memfd); /* the mapping keeps the copy alive */
    if (mmrc != MMDB_SUCCESS) {
        switch (mmrc) {
        case MMDB_OUT_OF_MEMORY_ERROR:
            rc = -ENOMEM;
            break;
        case MMDB_FILE_OPEN_ERROR:
        case MMDB_IO_ERROR:
            rc = GEO_EOPEN;
            break;
        default:
            rc = GEO_EFORMAT;
            break;
        }
        if ((mmrc == MMDB_FILE_OPEN_ERROR || mmrc == MMDB_IO_ERROR) && saved_errno != 0)
            snprintf(err, errlen, "%s: %s (%s)", path, MMDB_strerror(mmrc), strerror(saved_errno));
        else
            snprintf(err, errlen, "%s: %s", path, MMDB_strerror(mmrc));
        /* MMDB_open() has released what it acquired. */
        free(db->file);
        free(db);
        return rc;
    }
    atomic_init(&db->refs, 1);
    *out = db;
    return 0;

nomem:
    snprintf(err, errlen, "%s: out of memory", path);
    if (db != NULL)
        free(db->file);
    free(db);
    return -ENOMEM;
}

/*
 * Takes one more reference to db (which must hold at least one already).
 * Safe from any thread. Returns db, for `x->db = geo_db_ref(db)`.
 */
struct geo_db *geo_db_ref(struct geo_db *db)
{
    atomic_fetch_add_explicit(&db->refs, 1, memory_order_relaxed);
    return db;
}

/*
 * Drops one reference to db; the last one unmaps the file and frees db.
 * Safe from any thread; db may be NULL. Results already copied out of it
 * (struct geo_result) stay valid: they hold no pointers into the database.
 */
void geo_db_unref(struct geo_db *db)
{
    if (db == NULL)
        return;
    if (atomic_fetch_sub_explicit(&db->refs, 1, memory_order_acq_rel) != 1)
        return;
    MMDB_close(&db->mmdb);
    free(db->file);
    db->file = NULL;
    free(db);
}

/* Copies db's metadata into *out. db is borrowed. */
void geo_db_meta(const struct geo_db *db, struct geo_db_meta *out)
{
    const MMDB_metadata_s *m = &db->mmdb.metadata;
    memset(out, 0, sizeof(*out));
    snprintf(out->database_type, sizeof(out->database_type), "%s",
             m->database_type ? m->database_type : "");
    out->build_epoch = m->build_epoch;
    out->ip_version = m->ip_version;
    out->record_size = m->record_size;
    out->node_count = m->node_count;
}

/* Returns the file name db was opened from; valid while the caller holds a reference. */
const char *geo_db_path(const struct geo_db *db)
{
    return db->file;
}

/* Returns the name of the schema db was opened with; valid while referenced. */
const char *geo_db_schema_name(const struct geo_db *db)
{
    return db->schema;
}

/* Resets r to "nothing known". */
void geo_result_clear(struct geo_result *r)
{
    memset(r, 0, sizeof(*r));
}

/*
 * Writes r's full ISO 3166-2 code ("CN-GD") into buf. Returns 0, or -ENOENT
 * (buf "") when the country or the subdivision is unknown, or -ENOSPC when
 * buflen is too small (GEO_SUBDIVISION_CODE_MAX always suffices).
 */
int geo_result_subdivision_code(const struct geo_result *r, char *buf, size_t buflen)
{
    int n;
    if (buflen > 0)
        buf[0] = '\0';
    if (r->country[0] == '\0' || r->subdivision[0] == '\0')
        return -ENOENT;
    n = snprintf(buf, buflen, "%s-%s", r->country, r->subdivision);
    if (n < 0 || (size_t)n >= buflen) {
        if (buflen > 0)
            buf[0] = '\0';
        return -ENOSPC;
    }
    return 0;
}

static int is_alpha(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int is_alnum(unsigned char c)
{
    return is_alpha(c) || (c >= '0' && c <= '9');
}

static char upper(unsigned char c)
{
    return (char)(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
}

/*
 * Stores a code of minlen..maxlen letters (digits too when alnum), upper
 * cased, into dst (maxlen + 1 bytes). Anything else leaves dst "": a
 * truncated or odd code must not match a zone by accident.
 */
static void store_code(char *dst, const MMDB_entry_data_s *d, size_t minlen, size_t maxlen,
                       int alnum)
{
    if (d->type != MMDB_DATA_TYPE_UTF8_STRING || d->data_size < minlen || d->data_size > maxlen)
        return;
    for (uint32_t i = 0; i < d->data_size; i++) {
        unsigned char c = (unsigned char)d->utf8_string[i];
        if (!(alnum ? is_alnum(c) : is_alpha(c)))
            return;
    }
    for (uint32_t i = 0; i < d->data_size; i++)
        dst[i] = upper((unsigned char)d->utf8_string[i]);
    dst[d->data_size] = '\0';
}

/* Copies a UTF-8 string into dst (size bytes), cut at a character boundary. */
static void store_utf8(char *dst, size_t size, const MMDB_entry_data_s *d)
{
    size_t n;
    if (d->type != MMDB_DATA_TYPE_UTF8_STRING)
        return;
    n = d->data_size;
    if (n >= size) {
        n = size - 1;
        /* Back up over continuation bytes so no character is split. */
        while (n > 0 && ((unsigned char)d->utf8_string[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, d->utf8_string, n);
    dst[n] = '\0';
}

/* Reads an AS number from an unsigned integer or a "4134" / "AS4134" string; 0 if none. */
static uint32_t read_asn(const MMDB_entry_data_s *d)
{
    switch (d->type) {
    case MMDB_DATA_TYPE_UINT16:
        return d->uint16;
    case MMDB_DATA_TYPE_UINT32:
        return d->uint32;
    case MMDB_DATA_TYPE_INT32:
        return d->int32 > 0 ? (uint32_t)d->int32 : 0;
    case MMDB_DATA_TYPE_UINT64:
        return d->uint64 <= UINT32_MAX ? (uint32_t)d->uint64 : 0;
    case MMDB_DATA_TYPE_UTF8_STRING: {
        const char *s = d->utf8_string;
        uint32_t i = 0, n = d->data_size;
        uint64_t v = 0;
        if (n >= 2 && (s[0] == 'A' || s[0] == 'a') && (s[1] == 'S' || s[1] == 's'))
            i = 2;
        if (i == n)
            return 0;
        for (; i < n; i++) {
            if (s[i] < '0' || s[i] > '9')
                return 0;
            v = v * 10 + (uint64_t)(s[i] - '0');
            if (v > UINT32_MAX)
                return 0;
        }
        return (uint32_t)v;
    }
    default:
        return 0;
    }
}

/* Reads degrees from a double or float; returns 0 and sets *v, or -1. */
static int read_degrees(const MMDB_entry_data_s *d, double *v)
{
    if (d->type == MMDB_DATA_TYPE_DOUBLE)
        *v = d->double_value;
    else if (d->type == MMDB_DATA_TYPE_FLOAT)
        *v = d->float_value;
    else
        return -1;
    return 0;
}

/*
 * Fetches field f of entry into *d. Returns 1 with data, 0 when the record
 * has no such field (a normal outcome: the path is absent or meets data of
 * another shape), or GEO_EDATA when the data section is corrupt.
 */
static int get_field(const struct geo_db *db, MMDB_entry_s *entry, enum geo_field f,
                     MMDB_entry_data_s *d)
{
    int rc = MMDB_aget_value(entry, d, db->path[f]);
    if (rc == MMDB_SUCCESS)
        return d->has_data ? 1 : 0;
    if (rc == MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR || rc == MMDB_INVALID_LOOKUP_PATH_ERROR)
        return 0;
    return GEO_EDATA;
}

/*
 * Walks db's search tree for a. Returns 1 with *res set when the address has
 * a record, 0 when not (an IPv6 address in an IPv4-only database included),
 * -EAFNOSUPPORT, or GEO_EDATA.
 */
static int tree_lookup(const struct geo_db *db, const struct geo_addr *a, MMDB_lookup_result_s *res)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    int mmerr;

    if (geo_addr_to_sockaddr(a, &ss, &sslen) != 0)
        return -EAFNOSUPPORT;
    *res = MMDB_lookup_sockaddr(&db->mmdb, (const struct sockaddr *)&ss, &mmerr);
    if (mmerr == MMDB_IPV6_LOOKUP_IN_IPV4_DATABASE_ERROR)
        return 0; /* an IPv4-only database knows nothing of IPv6 clients */
    if (mmerr != MMDB_SUCCESS)
        return GEO_EDATA;
    return res->found_entry ? 1 : 0;
}

/*
 * Decodes the fields db's schema names and *out does not have yet from the
 * record entry, and sets out->found. Returns 0 or GEO_EDATA.
 */
static int decode(const struct geo_db *db, MMDB_entry_s *entry, struct geo_result *out)
{
    MMDB_entry_data_s d, d2;
    int rc, ret = 0;

    out->found = 1;
#define WANT(f, empty) ((db->fields & (1u << (f))) && (empty))
#define GET(f, dp) ((rc = get_field(db, entry, (f), (dp))) < 0 ? (ret = rc, 0) : rc)

    if (WANT(GEO_FIELD_COUNTRY, out->country[0] == '\0') && GET(GEO_FIELD_COUNTRY, &d))
        store_code(out->country, &d, 2, 2, 0);
    if (WANT(GEO_FIELD_SUBDIVISION, out->subdivision[0] == '\0') && GET(GEO_FIELD_SUBDIVISION, &d))
        store_code(out->subdivision, &d, 1, sizeof(out->subdivision) - 1, 1);
    if (WANT(GEO_FIELD_CONTINENT, out->continent[0] == '\0') && GET(GEO_FIELD_CONTINENT, &d))
        store_code(out->continent, &d, 2, 2, 0);
    if (WANT(GEO_FIELD_ASN, out->asn == 0) && GET(GEO_FIELD_ASN, &d))
        out->asn = read_asn(&d);
    if (WANT(GEO_FIELD_AS_ORG, out->as_org[0] == '\0') && GET(GEO_FIELD_AS_ORG, &d))
        store_utf8(out->as_org, sizeof(out->as_org), &d);
    if (WANT(GEO_FIELD_LATITUDE, !out->has_location) &&
        WANT(GEO_FIELD_LONGITUDE, !out->has_location) && GET(GEO_FIELD_LATITUDE, &d) &&
        GET(GEO_FIELD_LONGITUDE, &d2)) {
        double lat, lon;
        if (read_degrees(&d, &lat) == 0 && read_degrees(&d2, &lon) == 0) {
            out->latitude = lat;
            out->longitude = lon;
            out->has_location = 1;
        }
    }
#undef GET
#undef WANT
    return ret;
}

/*
 * The lookup behind geo_db_lookup_addr() and geo_db_merge_addr(): fills the
 * fields db's schema names and *out does not have yet.
 */
static int fill(const struct geo_db *db, const struct geo_addr *a, struct geo_result *out)
{
    MMDB_lookup_result_s res;
    int rc = tree_lookup(db, a, &res);
    return rc <= 0 ? rc : decode(db, &res.entry, out);
}

/* Copies into dst the fields src has and dst lacks (a merge, see geo_db_merge_addr). */
static void merge_result(struct geo_result *dst, const struct geo_result *src)
{
    dst->found |= src->found;
    if (dst->country[0] == '\0')
        memcpy(dst->country, src->country, sizeof(dst->country));
    if (dst->subdivision[0] == '\0')
        memcpy(dst->subdivision, src->subdivision, sizeof(dst->subdivision));
    if (dst->continent[0] == '\0')
        memcpy(dst->continent, src->continent, sizeof(dst->continent));
    if (dst->asn == 0)
        dst->asn = src->asn;
    if (dst->as_org[0] == '\0')
        memcpy(dst->as_org, src->as_org, sizeof(dst->as_org));
    if (!dst->has_location && src->has_location) {
        dst->latitude = src->latitude;
        dst->longitude = src->longitude;
        dst->has_location = 1;
    }
}

/*
 * Looks up the normalised address a in db and overwrites *out with what the
 * record holds (fields the schema does not name, or the record lacks, are
 * ""/0). Allocation-free and safe from several threads at once. db and a
 * are borrowed.
 * Returns 0 whether or not the address is in the database (out->found says;
 * an IPv6 address in an IPv4-only database is "not found"), -EAFNOSUPPORT
 * when a is neither family, or GEO_EDATA when the record is corrupt (out
 * may then hold the fields read before the corruption).
 */
int geo_db_lookup_addr(const struct geo_db *db, const struct geo_addr *a, struct geo_result *out)
{
    geo_result_clear(out);
    return fill(db, a, out);
}

/*
 * Like geo_db_lookup_addr() but converts the socket address first, turning
 * an IPv4-mapped IPv6 address (::ffff:a.b.c.d) into the IPv4 address it is.
 * sa is borrowed. Same return values.
 */
int geo_db_lookup(const struct geo_db *db, const struct sockaddr *sa, struct geo_result *out)
{
    struct geo_addr a;
    geo_result_clear(out);
    if (geo_addr_from_sockaddr(&a, sa) != 0)
        return -EAFNOSUPPORT;
    return fill(db, &a, out);
}

/*
 * Adds what a second database (typically an ASN one) knows about a to a
 * result already filled by geo_db_lookup*(): only fields db's schema names
 * and *out still lacks are written, so the primary database wins where both
 * have a value, and out->found is set if db has a record. Same return
 * values and guarantees as geo_db_lookup_addr().
 */
int geo_db_merge_addr(const struct geo_db *db, const struct geo_addr *a, struct geo_result *out)
{
    return fill(db, a, out);
}

/* Prepares an empty cache (caller-owned memory, e.g. embedded in a worker). */
void geo_cache_init(struct geo_cache *c)
{
    memset(c, 0, sizeof(*c));
}

/*
 * Empties c and drops its database reference. c may be reused after, or
 * freed; safe to call twice.
 */
void geo_cache_dispose(struct geo_cache *c)
{
    geo_db_unref(c->db);
    c->db = NULL;
    memset(c->slot, 0, sizeof(c->slot));
}

/* The cached lookup behind geo_db_lookup_cached() and geo_db_merge_cached(). */
static int fill_cached(struct geo_db *db, struct geo_cache *c, const struct geo_addr *a,
                       struct geo_result *out)
{
    MMDB_lookup_result_s res;
    struct geo_cache_slot *set;
    struct geo_result fresh;
    uint64_t key;
    int rc = tree_lookup(db, a, &res);

    if (rc <= 0)
        return rc;
    if (c->db != db) {
        /* Another database (a reload): the slots describe the old one. */
        geo_cache_dispose(c);
        c->db = geo_db_ref(db);
    }
    /* Two-way sets, most recently used first, so two hot records that
     * hash alike do not evict each other on every lookup. */
    key = (uint64_t)res.entry.offset + 1;
    set = &c->slot[2 * (((uint32_t)(key * 0x9E3779B1u) >> 16) & (GEO_CACHE_SLOTS / 2 - 1))];
    if (set[0].record == key) {
        c->hits++;
        merge_result(out, &set[0].r);
        return 0;
    }
    if (set[1].record == key) {
        struct geo_cache_slot tmp = set[1];
        set[1] = set[0];
        set[0] = tmp;
        c->hits++;
        merge_result(out, &set[0].r);
        return 0;
    }
    c->misses++;
    geo_result_clear(&fresh);
    rc = decode(db, &res.entry, &fresh);
    if (rc == 0) {
        set[1] = set[0];
        set[0].record = key;
        set[0].r = fresh;
    }
    merge_result(out, &fresh);
    return rc;
}

/*
 * geo_db_lookup_addr() through the per-thread record cache c (initialised
 * with geo_cache_init()): same results and return values. c takes a
 * reference to db when it first sees it, and drops the one it held on an
 * earlier database. c must not be shared between threads; db may be.
 * Allocation-free.
 */
int geo_db_lookup_cached(struct geo_db *db, struct geo_cache *c, const struct geo_addr *a,
                         struct geo_result *out)
{
    geo_result_clear(out);
    return fill_cached(db, c, a, out);
}

/*
 * geo_db_merge_addr() through the record cache c of this (second) database;
 * use one cache per database. Same results and return values.
 */
int geo_db_merge_cached(struct geo_db *db, struct geo_cache *c, const struct geo_addr *a,
                        struct geo_result *out)
{
    return fill_cached(db, c, a, out);
}
