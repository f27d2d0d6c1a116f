/*
 * geo/zone: the compiled zone matcher.
 *
 * Zones come in as plain C structs (struct geo_zone_spec; the config layer
 * fills them from YAML) and are compiled once, at load time, into a struct
 * geo_zones that owns everything it needs: zone names, a binary prefix trie
 * per address family for `cidr`, sorted arrays for `asn` and `subdivision`,
 * and bitsets for `country` (26 * 26 bits) and `continent`. The compiled
 * matcher is immutable, so any number of threads may classify with it at
 * once, and classifying allocates nothing.
 *
 * Semantics (issue 3):
 * - Zones are tried in order; the first whose match holds wins.
 * - Inside one match every key that has values must hold (AND); the values
 *   under one key are alternatives (OR). A key with zero values counts as
 *   absent: the config layer should reject an explicitly empty list.
 * - The zone named "default" is the fallback for everything no other zone
 *   takes, wherever it stands in the list; it takes no match. If no zone is
 *   named so, an implicit "default" is appended after the others. Either way
 *   geo_zones_default() is a valid index.
 * - A non-default zone with an empty match is an error (it would shadow
 *   every later zone; name it "default" instead).
 * - country/subdivision/continent/asn are compared with the database
 *   result; `country` is the result's country, never a registered country.
 *   An address the database does not know matches only `cidr` keys.
 * - cidr: "10.0.0.0/8", "2001:db8::/32", or a bare address (a /32 or /128
 *   host route). Host bits must be zero ("10.1.0.0/8" is an error naming
 *   10.0.0.0/8) so a typo cannot silently widen a zone. A prefix written in
 *   IPv4-mapped form (::ffff:10.0.0.0/104) is stored as the IPv4 prefix
 *   (10.0.0.0/8), since clients are classified with mapped addresses
 *   unmapped. 0.0.0.0/0 matches every IPv4 client and ::/0 every IPv6 one.
 * - country: two letters, accepted in any case and stored upper case
 *   ("cn" = "CN"). Codes are not checked against the ISO list, so
 *   exceptionally reserved ones ("EU", "XK") work.
 * - subdivision: "CC-XXX": a country code, '-', 1 to 3 letters or digits
 *   (ISO 3166-2; "CN-GD", "CN-22", "GB-ENG"), any case, stored upper case.
 * - continent: one of AF AN AS EU NA OC SA, any case.
 * - asn: 1..4294967295; AS0 is reserved and is how a result says "unknown".
 */
#ifndef GEO_ZONE_H
#define GEO_ZONE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "geo/addr.h"
#include "geo/geodb.h"

#define GEO_ZONE_DEFAULT_NAME "default"

/* The part of a zone spec an error is about. */
enum geo_zone_key {
    GEO_ZONE_KEY_NAME,        /* the zone's name */
    GEO_ZONE_KEY_MATCH,       /* the match as a whole */
    GEO_ZONE_KEY_CIDR,        /* one value of match.cidr */
    GEO_ZONE_KEY_ASN,         /* one value of match.asn */
    GEO_ZONE_KEY_COUNTRY,     /* one value of match.country */
    GEO_ZONE_KEY_SUBDIVISION, /* one value of match.subdivision */
    GEO_ZONE_KEY_CONTINENT,   /* one value of match.continent */
};

/* One zone as configured. All pointers are borrowed for the compile call only. */
struct geo_zone_spec {
    const char *name;        /* borrowed; non-empty, unique */
    const char *const *cidr; /* borrowed; ncidr prefixes */
    size_t ncidr;
    const uint32_t *asn; /* borrowed; nasn AS numbers */
    size_t nasn;
    const char *const *country; /* borrowed; ncountry ISO 3166-1 alpha-2 codes */
    size_t ncountry;
    const char *const *subdivision; /* borrowed; nsubdivision "CC-XXX" codes */
    size_t nsubdivision;
    const char *const *continent; /* borrowed; ncontinent continent codes */
    size_t ncontinent;
};

/*
 * Where a compile error is: zone index in the spec array, which key, and the
 * index of the offending value within that key's list (0 for NAME/MATCH),
 * so the config layer can point at FILE:LINE:COL.
 */
struct geo_zone_error {
    size_t zone;           /* index into the specs passed to geo_zones_compile() */
    enum geo_zone_key key; /* which key */
    size_t value_index;    /* index within that key's values */
    char msg[160];         /* one line, no FILE:LINE prefix, names zone, key and value */
};

/* A compiled, immutable zone list; opaque. */
struct geo_zones;

const char *geo_zone_key_name(enum geo_zone_key key);

int geo_zones_compile(const struct geo_zone_spec *specs, size_t nspecs, struct geo_zones **out,
                      struct geo_zone_error *err);
void geo_zones_free(struct geo_zones *z);

/*
 * Whether CODE (upper case) is an assigned ISO 3166-1 alpha-2 code: NULL
 * when it is; else the code it is often mistaken for ("GB" for "UK"), or
 * "" when there is none.
 */
const char *geo_country_check(const char *code);

size_t geo_zones_count(const struct geo_zones *z);
size_t geo_zones_default(const struct geo_zones *z);
const char *geo_zones_name(const struct geo_zones *z, size_t idx);
int geo_zones_find(const struct geo_zones *z, const char *name, size_t *idx);

size_t geo_zone_classify(const struct geo_zones *z, const struct sockaddr *client,
                         const struct geo_result *r);
size_t geo_zone_classify_addr(const struct geo_zones *z, const struct geo_addr *client,
                              const struct geo_result *r);

#endif
