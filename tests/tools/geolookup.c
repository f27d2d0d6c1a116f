/*
 * geolookup: prints what geo/ makes of addresses, one stable line each, so
 * scripts (tests/it/test_geo_mmdb.py) can compare it with mmdblookup and
 * with the JSON a database was built from.
 *
 *   geolookup [--schema maxmind|maxmind-asn|flat] [--path FIELD=a.b.c]...
 *             [--asn-db FILE] [--meta] DB [IP...]
 *
 * Without IP arguments, addresses are read from stdin, one per line. Each
 * output line is tab-separated key=value pairs, values never empty ("-"):
 *
 *   ip=1.2.3.4  found=1  country=CN  subdivision=22  continent=AS  asn=0
 *   as_org=-  lat=43.88  lon=125.3228
 *
 * or "ip=X<TAB>error=NAME" for an address that is not one (exit status 2
 * at the end) or a lookup error. --path replaces or adds one field path of
 * the schema (FIELD as geo_field_name() spells it). --meta prints the
 * database metadata first, as "meta<TAB>key=value...".
 */
#include "geo/geodb.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(void)
{
    fprintf(stderr, "usage: geolookup [--schema NAME] [--path FIELD=a.b.c]... [--asn-db FILE] "
                    "[--meta] DB [IP...]\n");
    exit(2);
}

static const char *or_dash(const char *s)
{
    return s[0] ? s : "-";
}

/* Looks up one address and prints its line; returns 0, or 1 on a bad address or error. */
static int lookup_one(const struct geo_db *db, const struct geo_db *asn_db, const char *ip)
{
    struct geo_addr a;
    struct geo_result r;
    int rc;

    if (geo_addr_parse(&a, ip) != 0) {
        printf("ip=%s\terror=EINVAL\n", ip);
        return 1;
    }
    rc = geo_db_lookup_addr(db, &a, &r);
    if (rc == 0 && asn_db != NULL)
        rc = geo_db_merge_addr(asn_db, &a, &r);
    if (rc != 0) {
        printf("ip=%s\terror=%s\n", ip, geo_err_name(rc));
        return 1;
    }
    printf("ip=%s\tfound=%u\tcountry=%s\tsubdivision=%s\tcontinent=%s\tasn=%" PRIu32 "\tas_org=%s",
           ip, r.found, or_dash(r.country), or_dash(r.subdivision), or_dash(r.continent), r.asn,
           or_dash(r.as_org));
    if (r.has_location)
        printf("\tlat=%.6f\tlon=%.6f\n", r.latitude, r.longitude);
    else
        printf("\tlat=-\tlon=-\n");
    return 0;
}

static struct geo_db *open_or_die(const char *path, const struct geo_schema *s)
{
    struct geo_db *db;
    char err[512];
    int rc = geo_db_open(path, s, &db, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "geolookup: %s (%s)\n", err, geo_err_name(rc));
        exit(1);
    }
    return db;
}

int main(int argc, char **argv)
{
    struct geo_schema schema = geo_schema_maxmind;
    const char *asn_path = NULL;
    struct geo_db *db, *asn_db = NULL;
    int meta = 0, bad = 0, i;

    for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--schema") == 0 && i + 1 < argc) {
            const struct geo_schema *s = geo_schema_find(argv[++i]);
            if (s == NULL) {
                fprintf(stderr, "geolookup: unknown schema %s\n", argv[i]);
                return 2;
            }
            schema = *s;
        } else if (strcmp(argv[i], "--path") == 0 && i + 1 < argc) {
            char *eq = strchr(argv[++i], '=');
            int f;
            if (eq == NULL)
                usage();
            *eq = '\0';
            f = geo_field_find(argv[i]);
            if (f < 0) {
                fprintf(stderr, "geolookup: unknown field %s\n", argv[i]);
                return 2;
            }
            schema.name = "custom";
            schema.path[f] = eq[1] ? eq + 1 : NULL;
        } else if (strcmp(argv[i], "--asn-db") == 0 && i + 1 < argc) {
            asn_path = argv[++i];
        } else if (strcmp(argv[i], "--meta") == 0) {
            meta = 1;
        } else {
            usage();
        }
    }
    if (i >= argc)
        usage();
    db = open_or_die(argv[i++], &schema);
    if (asn_path != NULL)
        asn_db = open_or_die(asn_path, &geo_schema_maxmind_asn);

    if (meta) {
        struct geo_db_meta m;
        geo_db_meta(db, &m);
        printf("meta\tdatabase_type=%s\tbuild_epoch=%" PRIu64 "\tip_version=%u\trecord_size=%u"
               "\tnode_count=%" PRIu32 "\n",
               m.database_type, m.build_epoch, m.ip_version, m.record_size, m.node_count);
    }
    if (i < argc) {
        for (; i < argc; i++)
            bad |= lookup_one(db, asn_db, argv[i]);
    } else {
        char line[256];
        while (fgets(line, sizeof(line), stdin) != NULL) {
            line[strcspn(line, "\r\n")] = '\0';
            if (line[0] != '\0')
                bad |= lookup_one(db, asn_db, line);
        }
    }
    geo_db_unref(asn_db);
    geo_db_unref(db);
    return bad ? 2 : 0;
}
