/*
 * geo/geodb: a MaxMind-format (.mmdb) database and lookups into it.
 *
 * struct geo_db owns one memory-mapped database (libmaxminddb, opened with
 * MMDB_MODE_MMAP), the compiled field paths of its schema and a copy of its
 * file name. It is read-only after geo_db_open() and shared between threads
 * by reference counting (geo_db_ref/geo_db_unref, atomic); the last unref
 * unmaps it. Nothing of libmaxminddb shows through this header: its codes
 * are translated to the GEO_E* codes below or to -errno.
 *
 * A lookup turns a client address into a small fixed-size struct geo_result
 * and allocates nothing. Which record fields feed which result field is set
 * per database by a struct geo_schema: presets cover MaxMind GeoIP2/GeoLite2
 * City and Country, GeoLite2-ASN, and the flat ip-location-db layout; a
 * custom schema lists dotted paths ("country.iso_code").
 *
 * country vs registered_country: the GeoIP2 records carry both, and they
 * differ on purpose for some networks (an address used in GB but registered
 * to a US company). georoute routes on where the client *is*, so the
 * maxmind preset reads `country.iso_code` only and never falls back to
 * `registered_country` (issue 3: "Classify on country, never
 * registered_country"). A record without `country` leaves country empty and
 * the client goes to the default zone, which is counted. A deployment that
 * prefers the registration country can say so with a custom schema path.
 */
#ifndef GEO_GEODB_H
#define GEO_GEODB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "geo/addr.h"

/*
 * Project error codes of geo/ (project codes are <= -1000; geo/ uses
 * -1100..-1199). Other failures are -errno: -ENOMEM, -EINVAL,
 * -EAFNOSUPPORT.
 */
enum geo_err {
    GEO_EOPEN = -1100,   /* the file cannot be opened, mapped or read */
    GEO_EFORMAT = -1101, /* not a MaxMind DB, or its metadata or search tree is corrupt */
    GEO_EDATA = -1102,   /* corrupt data section met during a lookup */
    GEO_ESCHEMA = -1103, /* a schema field path is malformed, or the schema is empty */
};

/* The result fields a schema can fill. */
enum geo_field {
    GEO_FIELD_COUNTRY,     /* ISO 3166-1 alpha-2 string */
    GEO_FIELD_SUBDIVISION, /* ISO 3166-2 subdivision part string ("GD" of CN-GD) */
    GEO_FIELD_CONTINENT,   /* two-letter continent code string */
    GEO_FIELD_ASN,         /* unsigned integer, or a string "4134" / "AS4134" */
    GEO_FIELD_AS_ORG,      /* string */
    GEO_FIELD_LATITUDE,    /* double or float, degrees */
    GEO_FIELD_LONGITUDE,   /* double or float, degrees */
    GEO_FIELD_COUNT
};

#define GEO_PATH_DEPTH_MAX 8       /* path segments per field */
#define GEO_PATH_TEXT_MAX 128      /* bytes of one dotted path, with NUL */
#define GEO_AS_ORG_MAX 64          /* bytes of geo_result.as_org, with NUL */
#define GEO_SUBDIVISION_CODE_MAX 8 /* "CN-GD" style text, with NUL */

/*
 * Which record field feeds which result field. Each path is dotted: map keys
 * and array indexes separated by '.', as in "subdivisions.0.iso_code"
 * (libmaxminddb's MMDB_aget_value path, so "-1" is the last array element).
 * Map keys containing '.' cannot be expressed. The struct and its strings
 * are borrowed by geo_db_open(), which keeps its own parsed copy.
 */
struct geo_schema {
    const char *name;                  /* borrowed; "maxmind", ... for messages */
    const char *path[GEO_FIELD_COUNT]; /* borrowed dotted paths; NULL = not in this db */
};

/*
 * GeoIP2/GeoLite2 City and Country: country.iso_code, subdivisions.0.iso_code,
 * continent.code, location.latitude/longitude. No ASN, no registered_country.
 */
extern const struct geo_schema geo_schema_maxmind;
/* GeoLite2-ASN (and ip-location-db asn): autonomous_system_number/_organization. */
extern const struct geo_schema geo_schema_maxmind_asn;
/* ip-location-db country/city mmdb: country_code, latitude, longitude. */
extern const struct geo_schema geo_schema_flat;

/*
 * What a lookup learned about one address. Strings are NUL-terminated and ""
 * when unknown; codes are upper case ASCII. Fixed size, no pointers, so it
 * can be copied into a per-connection cache and outlive the database.
 */
struct geo_result {
    char country[3];             /* ISO 3166-1 alpha-2, "CN" */
    char subdivision[4];         /* ISO 3166-2 part after the country, "GD"; longer codes dropped */
    char continent[3];           /* "AS", "EU", ... */
    uint32_t asn;                /* autonomous system number; 0 = unknown */
    char as_org[GEO_AS_ORG_MAX]; /* AS organisation, UTF-8, cut at a character boundary */
    double latitude;             /* degrees, valid when has_location */
    double longitude;            /* degrees, valid when has_location */
    unsigned found : 1;          /* some database had a record for the address */
    unsigned has_location : 1;   /* latitude and longitude are both set */
};

/* An open database; opaque, see the file comment. */
struct geo_db;

/*
 * Decoding a GeoIP2 City record is most of a lookup's cost (the fields sit
 * behind maps of localised names that must be skipped, several hundred ns
 * each), while the tree walk is cheap and many networks share one record. A
 * struct geo_cache remembers decoded records by their place in the
 * database, so a lookup that hits costs a tree walk and a copy. It belongs
 * to one thread (a worker loop): no locking. It holds a reference to the
 * database its slots describe and starts over when used with another one,
 * so it never outlives or mixes databases.
 */
#define GEO_CACHE_SLOTS 256 /* power of two; two-way sets */

struct geo_cache_slot {
    uint64_t record;     /* record offset in the data section + 1; 0 = empty */
    struct geo_result r; /* what this database alone gave for the record */
};

struct geo_cache {
    struct geo_db *db; /* owned reference, or NULL; the database the slots describe */
    uint64_t hits;     /* lookups answered from a slot */
    uint64_t misses;   /* lookups that decoded the record */
    struct geo_cache_slot slot[GEO_CACHE_SLOTS];
};

/* Database metadata, for /status and logs. */
struct geo_db_meta {
    char database_type[64]; /* "GeoIP2-City", cut to fit */
    uint64_t build_epoch;   /* seconds since 1970 */
    unsigned ip_version;    /* 4 or 6 */
    unsigned record_size;   /* bits: 24, 28 or 32 */
    uint32_t node_count;    /* search tree nodes */
};

const char *geo_strerror(int err);
const char *geo_err_name(int err);

const char *geo_field_name(enum geo_field f);
int geo_field_find(const char *name);
const struct geo_schema *geo_schema_find(const char *name);
int geo_schema_check(const struct geo_schema *s, char *err, size_t errlen);

int geo_db_open(const char *path, const struct geo_schema *schema, struct geo_db **out, char *err,
                size_t errlen);
struct geo_db *geo_db_ref(struct geo_db *db);
void geo_db_unref(struct geo_db *db);
void geo_db_meta(const struct geo_db *db, struct geo_db_meta *out);
const char *geo_db_path(const struct geo_db *db);
const char *geo_db_schema_name(const struct geo_db *db);

void geo_result_clear(struct geo_result *r);
int geo_result_subdivision_code(const struct geo_result *r, char *buf, size_t buflen);

int geo_db_lookup(const struct geo_db *db, const struct sockaddr *sa, struct geo_result *out);
int geo_db_lookup_addr(const struct geo_db *db, const struct geo_addr *a, struct geo_result *out);
int geo_db_merge_addr(const struct geo_db *db, const struct geo_addr *a, struct geo_result *out);

void geo_cache_init(struct geo_cache *c);
void geo_cache_dispose(struct geo_cache *c);
int geo_db_lookup_cached(struct geo_db *db, struct geo_cache *c, const struct geo_addr *a,
                         struct geo_result *out);
int geo_db_merge_cached(struct geo_db *db, struct geo_cache *c, const struct geo_addr *a,
                        struct geo_result *out);

#endif
