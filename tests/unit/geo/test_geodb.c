/*
 * Tests of geo/geodb.c: opening, schemas, lookups on generated fixtures, on
 * MaxMind's test databases (the expected rows of their README) and, when
 * installed, on the real ip-location-db database from npm.
 */
#include "tests/unit/test.h"
#include "tests/unit/geo/fixture.h"

#include "geo/geodb.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <unistd.h>

/*
 * Checks one lookup. NULL strings mean "", asn 0 means none; org NULL
 * skips the organisation check.
 */
static void expect(const struct geo_db *db, const char *ip, int found, const char *cc,
                   const char *sub, const char *cont, uint32_t asn, const char *org)
{
    struct geo_result r;
    geo_test_lookup(db, ip, &r);
    if ((int)r.found != found || strcmp(r.country, cc ? cc : "") != 0 ||
        strcmp(r.subdivision, sub ? sub : "") != 0 || strcmp(r.continent, cont ? cont : "") != 0 ||
        r.asn != asn || (org != NULL && strcmp(r.as_org, org) != 0))
        TEST_FAIL_("%s: got found=%u country=\"%s\" sub=\"%s\" cont=\"%s\" asn=%" PRIu32
                   " org=\"%s\", want found=%d country=\"%s\" sub=\"%s\" cont=\"%s\" "
                   "asn=%" PRIu32 " org=\"%s\"",
                   ip, r.found, r.country, r.subdivision, r.continent, r.asn, r.as_org, found,
                   cc ? cc : "", sub ? sub : "", cont ? cont : "", asn, org ? org : "*");
}

TEST(geo_db_open_errors)
{
    struct geo_db *db = (struct geo_db *)1;
    char err[256];
    char tmp[4096];
    int fd;

    ASSERT_EQ(geo_db_open("/nonexistent/x.mmdb", &geo_schema_maxmind, &db, err, sizeof(err)),
              GEO_EOPEN);
    ASSERT_NULL(db);
    ASSERT_STR_CONTAINS(err, "/nonexistent/x.mmdb");
    ASSERT_STR_CONTAINS(err, "No such file");

    /* A file that is not a MaxMind DB. */
    snprintf(tmp, sizeof(tmp), "%s/geo-test-XXXXXX", test_tmpdir());
    fd = mkstemp(tmp);
    ASSERT(fd >= 0);
    ASSERT_EQ(write(fd, "not an mmdb file at all\n", 24), 24);
    close(fd);
    db = (struct geo_db *)1;
    ASSERT_EQ(geo_db_open(tmp, &geo_schema_maxmind, &db, err, sizeof(err)), GEO_EFORMAT);
    ASSERT_NULL(db);
    ASSERT_STR_CONTAINS(err, tmp);
    unlink(tmp);

    /* A directory. */
    ASSERT_LT(geo_db_open(test_tmpdir(), &geo_schema_maxmind, &db, err, sizeof(err)), 0);
    ASSERT_NULL(db);

    /* err may be a zero-length buffer. */
    ASSERT_EQ(geo_db_open("/nonexistent", &geo_schema_flat, &db, NULL, 0), GEO_EOPEN);
    ASSERT_STR_EQ(geo_err_name(GEO_EOPEN), "GEO_EOPEN");
    ASSERT_STR_EQ(geo_err_name(GEO_EFORMAT), "GEO_EFORMAT");
    ASSERT_STR_EQ(geo_err_name(GEO_EDATA), "GEO_EDATA");
    ASSERT_STR_EQ(geo_err_name(GEO_ESCHEMA), "GEO_ESCHEMA");
    ASSERT_STR_EQ(geo_err_name(-1), "UNKNOWN");
    ASSERT_STR_CONTAINS(geo_strerror(GEO_EFORMAT), "MaxMind");
    ASSERT_STR_EQ(geo_strerror(-ENOMEM), strerror(ENOMEM));
}

TEST(geo_db_schema_check)
{
    char err[256];
    struct geo_db *db = (struct geo_db *)1;
    struct geo_schema s = {.name = "custom"};

    ASSERT_OK(geo_schema_check(&geo_schema_maxmind, err, sizeof(err)));
    ASSERT_OK(geo_schema_check(&geo_schema_maxmind_asn, err, sizeof(err)));
    ASSERT_OK(geo_schema_check(&geo_schema_flat, err, sizeof(err)));

    ASSERT_EQ(geo_schema_check(&s, err, sizeof(err)), GEO_ESCHEMA);
    ASSERT_STR_CONTAINS(err, "names no field");

    s.path[GEO_FIELD_ASN] = "traits..autonomous_system_number";
    ASSERT_EQ(geo_schema_check(&s, err, sizeof(err)), GEO_ESCHEMA);
    ASSERT_STR_CONTAINS(err, "schema field asn");
    ASSERT_STR_CONTAINS(err, "empty segment");
    s.path[GEO_FIELD_ASN] = "";
    ASSERT_EQ(geo_schema_check(&s, err, sizeof(err)), GEO_ESCHEMA);
    ASSERT_STR_CONTAINS(err, "is empty");
    s.path[GEO_FIELD_ASN] = "a.";
    ASSERT_EQ(geo_schema_check(&s, err, sizeof(err)), GEO_ESCHEMA);
    s.path[GEO_FIELD_ASN] = "a.b.c.d.e.f.g.h.i";
    ASSERT_EQ(geo_schema_check(&s, err, sizeof(err)), GEO_ESCHEMA);
    ASSERT_STR_CONTAINS(err, "too many segments");
    s.path[GEO_FIELD_ASN] = "a.b.c.d.e.f.g.h";
    ASSERT_OK(geo_schema_check(&s, err, sizeof(err)));

    /* geo_db_open() checks the schema before touching the file. */
    s.path[GEO_FIELD_ASN] = ".x";
    ASSERT_EQ(geo_db_open("/nonexistent", &s, &db, err, sizeof(err)), GEO_ESCHEMA);
    ASSERT_NULL(db);

    ASSERT_PTR_EQ(geo_schema_find("maxmind"), &geo_schema_maxmind);
    ASSERT_PTR_EQ(geo_schema_find("maxmind-asn"), &geo_schema_maxmind_asn);
    ASSERT_PTR_EQ(geo_schema_find("flat"), &geo_schema_flat);
    ASSERT_NULL(geo_schema_find("geoip"));
    ASSERT_NULL(geo_schema_find(NULL));
    for (int f = 0; f < GEO_FIELD_COUNT; f++)
        ASSERT_EQ(geo_field_find(geo_field_name((enum geo_field)f)), f);
    ASSERT_EQ(geo_field_find("registered_country"), -1);
    ASSERT_NULL(geo_field_name(GEO_FIELD_COUNT));
    /* The maxmind preset never reads registered_country (issue 3). */
    for (int f = 0; f < GEO_FIELD_COUNT; f++)
        ASSERT(geo_schema_maxmind.path[f] == NULL ||
               strstr(geo_schema_maxmind.path[f], "registered") == NULL);
}

TEST(geo_db_fixture_city)
{
    struct geo_db *db = geo_test_open(geo_test_fixture("city"), &geo_schema_maxmind);
    struct geo_result r;
    struct geo_db_meta m;

    expect(db, "127.1.0.1", 1, "CN", "GD", "AS", 0, "");
    expect(db, "127.1.255.255", 1, "CN", "GD", "AS", 0, "");
    expect(db, "127.1.2.3", 1, "CN", "GD", "AS", 0, ""); /* nested /24 */
    expect(db, "127.4.9.9", 1, "CN", "BJ", "AS", 0, "");
    expect(db, "127.2.0.1", 1, "HK", NULL, "AS", 0, "");
    expect(db, "127.3.0.1", 1, "US", "CA", "NA", 0, "");
    expect(db, "127.6.0.1", 1, "GB", "ENG", "EU", 0, "");
    expect(db, "fd00:1::1", 1, "CN", "GD", "AS", 0, "");
    expect(db, "fd00:1:ffff:ffff:ffff:ffff:ffff:ffff", 1, "CN", "GD", "AS", 0, "");
    expect(db, "fd00:2::1", 1, "HK", NULL, "AS", 0, "");
    expect(db, "fd00:3::1", 1, "US", "CA", "NA", 0, "");

    /* The fixture does not alias IPv4 into ::ffff:0:0/96: found only by unmapping. */
    expect(db, "::ffff:127.1.0.1", 1, "CN", "GD", "AS", 0, "");
    expect(db, "::ffff:127.3.0.1", 1, "US", "CA", "NA", 0, "");

    /* registered_country only: the country stays unknown. */
    expect(db, "127.5.0.1", 1, NULL, NULL, "AS", 0, "");
    /* Lower-case country normalised; a 4-character subdivision dropped. */
    expect(db, "127.7.0.1", 1, "DE", NULL, "EU", 0, "");

    /* Not found is a normal result. */
    expect(db, "127.0.0.1", 0, NULL, NULL, NULL, 0, "");
    expect(db, "127.9.0.1", 0, NULL, NULL, NULL, 0, "");
    expect(db, "8.8.8.8", 0, NULL, NULL, NULL, 0, "");
    expect(db, "::1", 0, NULL, NULL, NULL, 0, "");
    expect(db, "fd00:4::1", 0, NULL, NULL, NULL, 0, "");

    geo_test_lookup(db, "127.1.0.1", &r);
    ASSERT(r.has_location);
    ASSERT(fabs(r.latitude - 23.13) < 1e-9);
    ASSERT(fabs(r.longitude - 113.26) < 1e-9);
    geo_test_lookup(db, "127.3.0.1", &r);
    ASSERT(fabs(r.longitude - -122.4) < 1e-9);
    geo_test_lookup(db, "127.5.0.1", &r);
    ASSERT(!r.has_location);

    geo_db_meta(db, &m);
    ASSERT_STR_EQ(m.database_type, "GeoIP2-City");
    ASSERT_EQ(m.ip_version, 6);
    ASSERT_EQ(m.record_size, 24);
    ASSERT_GT(m.node_count, 0);
    ASSERT_GT(m.build_epoch, 1600000000);
    ASSERT_STR_EQ(geo_db_schema_name(db), "maxmind");
    ASSERT_STR_CONTAINS(geo_db_path(db), "geo-city.mmdb");
    geo_db_unref(db);
}

TEST(geo_db_lookup_inputs)
{
    struct geo_db *db = geo_test_open(geo_test_fixture("city"), &geo_schema_maxmind);
    struct geo_result r;
    struct geo_addr a;
    struct sockaddr_storage ss;
    char buf[GEO_SUBDIVISION_CODE_MAX];

    memset(&ss, 0, sizeof(ss));
    ss.ss_family = AF_UNIX;
    memset(&r, 0xff, sizeof(r));
    ASSERT_EQ(geo_db_lookup(db, (struct sockaddr *)&ss, &r), -EAFNOSUPPORT);
    ASSERT_EQ(r.found, 0);
    ASSERT_EQ(geo_db_lookup(db, NULL, &r), -EAFNOSUPPORT);

    /* The geo_addr entry point, as a per-connection cache would use it. */
    ASSERT_OK(geo_addr_parse(&a, "::ffff:127.4.0.1"));
    memset(&r, 0xff, sizeof(r));
    ASSERT_OK(geo_db_lookup_addr(db, &a, &r));
    ASSERT_STR_EQ(r.country, "CN");
    ASSERT_STR_EQ(r.subdivision, "BJ");
    ASSERT_EQ(r.asn, 0);
    ASSERT_STR_EQ(r.as_org, "");
    ASSERT_OK(geo_result_subdivision_code(&r, buf, sizeof(buf)));
    ASSERT_STR_EQ(buf, "CN-BJ");
    ASSERT_EQ(geo_result_subdivision_code(&r, buf, 5), -ENOSPC);
    ASSERT_STR_EQ(buf, "");
    geo_test_lookup(db, "127.2.0.1", &r);
    ASSERT_EQ(geo_result_subdivision_code(&r, buf, sizeof(buf)), -ENOENT);
    geo_result_clear(&r);
    ASSERT_EQ(r.found, 0);
    a.family = 0;
    ASSERT_EQ(geo_db_lookup_addr(db, &a, &r), -EAFNOSUPPORT);
    geo_db_unref(db);
}

TEST(geo_db_custom_schema)
{
    /* GeoIP2-Enterprise style: ASN inside traits of the City record. */
    const struct geo_schema s = {
        .name = "city+traits",
        .path =
            {
                [GEO_FIELD_COUNTRY] = "country.iso_code",
                [GEO_FIELD_SUBDIVISION] = "subdivisions.-1.iso_code",
                [GEO_FIELD_ASN] = "traits.autonomous_system_number",
                [GEO_FIELD_AS_ORG] = "traits.autonomous_system_organization",
                /* A path into a string, and one to a missing key: no data, no error. */
                [GEO_FIELD_CONTINENT] = "continent.code.x",
                [GEO_FIELD_LATITUDE] = "location.nope",
                [GEO_FIELD_LONGITUDE] = "location.longitude",
            },
    };
    struct geo_db *db = geo_test_open(geo_test_fixture("city"), &s);
    struct geo_result r;
    char want[GEO_AS_ORG_MAX];

    expect(db, "127.1.0.1", 1, "CN", "GD", NULL, 4134, "CHINANET-BACKBONE");
    expect(db, "127.1.2.1", 1, "CN", "GD", NULL, 4812, "CHINANET-SH-AP");
    expect(db, "fd00:2::9", 1, "HK", NULL, NULL, 4760, "HKTIMS-AP");
    expect(db, "127.5.0.1", 1, NULL, NULL, NULL, 0, "");
    geo_test_lookup(db, "127.1.0.1", &r);
    ASSERT(!r.has_location); /* latitude path missing: no half location */

    /* 62 ASCII bytes then "é" (2 bytes) across the 63-byte limit: cut before it. */
    snprintf(want, sizeof(want), "LONG-ORGANISATION-NAME-%s",
             "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    ASSERT_EQ(strlen(want), 62);
    expect(db, "127.7.0.1", 1, "DE", NULL, NULL, 3320, want);
    geo_db_unref(db);
}

TEST(geo_db_merge_asn)
{
    struct geo_db *city = geo_test_open(geo_test_fixture("city"), &geo_schema_maxmind);
    struct geo_db *asn = geo_test_open(geo_test_fixture("asn"), &geo_schema_maxmind_asn);
    struct geo_result r;
    struct geo_addr a;
    struct geo_db_meta m;

    ASSERT_OK(geo_addr_parse(&a, "127.1.0.1"));
    ASSERT_OK(geo_db_lookup_addr(city, &a, &r));
    ASSERT_OK(geo_db_merge_addr(asn, &a, &r));
    ASSERT_EQ(r.found, 1);
    ASSERT_STR_EQ(r.country, "CN");
    ASSERT_STR_EQ(r.subdivision, "GD");
    ASSERT_EQ(r.asn, 4134);
    ASSERT_STR_EQ(r.as_org, "CHINANET-BACKBONE");
    ASSERT(r.has_location);

    /* Only the ASN database knows 127.8/16. */
    ASSERT_OK(geo_addr_parse(&a, "127.8.0.1"));
    ASSERT_OK(geo_db_lookup_addr(city, &a, &r));
    ASSERT_EQ(r.found, 0);
    ASSERT_OK(geo_db_merge_addr(asn, &a, &r));
    ASSERT_EQ(r.found, 1);
    ASSERT_STR_EQ(r.country, "");
    ASSERT_EQ(r.asn, 64500);

    /* The merge fills only what is missing: the primary wins. */
    ASSERT_OK(geo_addr_parse(&a, "127.3.0.1"));
    ASSERT_OK(geo_db_lookup_addr(city, &a, &r));
    r.asn = 1;
    ASSERT_OK(geo_db_merge_addr(asn, &a, &r));
    ASSERT_EQ(r.asn, 1);
    ASSERT_STR_EQ(r.as_org, "ATT-INTERNET4");
    ASSERT_STR_EQ(r.country, "US");

    /* Neither knows it. */
    ASSERT_OK(geo_addr_parse(&a, "10.0.0.1"));
    ASSERT_OK(geo_db_lookup_addr(city, &a, &r));
    ASSERT_OK(geo_db_merge_addr(asn, &a, &r));
    ASSERT_EQ(r.found, 0);
    ASSERT_EQ(r.asn, 0);

    geo_db_meta(asn, &m);
    ASSERT_STR_EQ(m.database_type, "GeoLite2-ASN");
    geo_db_unref(asn);
    geo_db_unref(city);
}

TEST(geo_db_flat)
{
    struct geo_db *db = geo_test_open(geo_test_fixture("flat"), &geo_schema_flat);
    struct geo_db *db4 = geo_test_open(geo_test_fixture("flat4"), &geo_schema_flat);
    struct geo_db_meta m;

    expect(db, "127.1.0.1", 1, "CN", NULL, NULL, 0, "");
    expect(db, "127.2.0.1", 1, "HK", NULL, NULL, 0, "");
    expect(db, "127.3.0.1", 1, "US", NULL, NULL, 0, "");
    expect(db, "::ffff:127.2.0.1", 1, "HK", NULL, NULL, 0, "");
    expect(db, "fd00:1::1", 1, "CN", NULL, NULL, 0, "");
    expect(db, "127.5.0.1", 0, NULL, NULL, NULL, 0, "");

    /* An IPv4-only tree: IPv6 clients are simply not found. */
    geo_db_meta(db4, &m);
    ASSERT_EQ(m.ip_version, 4);
    expect(db4, "127.2.0.1", 1, "HK", NULL, NULL, 0, "");
    expect(db4, "::ffff:127.2.0.1", 1, "HK", NULL, NULL, 0, "");
    expect(db4, "fd00:2::1", 0, NULL, NULL, NULL, 0, "");

    /* The wrong preset finds the record but none of its fields. */
    geo_db_unref(db);
    db = geo_test_open(geo_test_fixture("flat"), &geo_schema_maxmind);
    expect(db, "127.1.0.1", 1, NULL, NULL, NULL, 0, "");
    geo_db_unref(db);
    geo_db_unref(db4);
}

struct worker {
    struct geo_db *db;
    int bad;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct geo_addr a;
    struct geo_result r;
    for (int i = 0; i < 20000; i++) {
        struct geo_db *db = geo_db_ref(w->db);
        geo_addr_parse(&a, (i & 1) ? "127.1.0.1" : "fd00:3::1");
        if (geo_db_lookup_addr(db, &a, &r) != 0 || strcmp(r.country, (i & 1) ? "CN" : "US"))
            w->bad++;
        geo_db_unref(db);
    }
    geo_db_unref(w->db);
    return NULL;
}

TEST(geo_db_refcount_threads)
{
    struct geo_db *db = geo_test_open(geo_test_fixture("city"), &geo_schema_maxmind);
    struct worker w[4];
    pthread_t t[4];
    struct geo_result r;

    for (int i = 0; i < 4; i++) {
        w[i].db = geo_db_ref(db);
        w[i].bad = 0;
        ASSERT_OK(pthread_create(&t[i], NULL, worker_main, &w[i]));
    }
    geo_test_lookup(db, "127.2.0.1", &r);
    /* Drop the opener's reference while the workers still run. */
    geo_db_unref(db);
    for (int i = 0; i < 4; i++) {
        ASSERT_OK(pthread_join(t[i], NULL));
        ASSERT_EQ(w[i].bad, 0);
    }
    /* A result holds no pointer into the (now closed) database. */
    ASSERT_STR_EQ(r.country, "HK");
    geo_db_unref(NULL);
}

/* The expected rows of tests/fixtures/maxmind/README.md. */
TEST(geo_db_maxmind_readme)
{
    struct geo_db *country =
        geo_test_open(geo_test_maxmind("GeoIP2-Country-Test.mmdb"), &geo_schema_maxmind);
    struct geo_db *city =
        geo_test_open(geo_test_maxmind("GeoIP2-City-Test.mmdb"), &geo_schema_maxmind);
    struct geo_db *asn =
        geo_test_open(geo_test_maxmind("GeoLite2-ASN-Test.mmdb"), &geo_schema_maxmind_asn);
    struct geo_db_meta m;
    static const struct {
        const char *ip;
        const char *country_db; /* NULL = not found; "" = found, no country */
        const char *city_db;
        const char *sub;
        uint32_t asn;
        const char *org;
    } rows[] = {
        {"175.16.199.0", "CN", "CN", "22", 0, NULL},
        {"175.16.199.255", "CN", "CN", "22", 0, NULL},
        {"::ffff:175.16.199.1", "CN", "CN", "22", 0, NULL},
        {"111.235.160.1", "CN", NULL, "", 0, NULL},
        {"2001:250::1", "CN", "CN", "", 0, NULL},
        {"2001:2e0::1", "HK", "HK", "", 0, NULL},
        {"214.78.120.5", "US", "US", "CA", 721, "DoD Network Information Center"},
        {"214.78.124.1", NULL, "US", "CA", 721, "DoD Network Information Center"},
        {"216.160.83.56", "US", "US", "WA", 209, ""},
        {"2001:480:10::1", "US", "US", "CA", 0, NULL},
        {"50.114.0.1", "US", NULL, "", 0, NULL},
        {"149.101.100.1", "US", "US", "", 6167, "CELLCO-PART"},
        {"81.2.69.142", "GB", "GB", "ENG", 0, NULL},
        {"2.125.160.216", "GB", "GB", "ENG", 0, NULL},
        {"89.160.20.112", "SE", "SE", "E", 29518, "Bredband2 AB"},
        {"202.196.224.1", "PH", "PH", "", 0, NULL},
        {"214.1.1.1", "", "", "", 721, "DoD Network Information Center"},
        {"2.3.3.1", NULL, "", "", 0, NULL},
        {"1.1.1.1", NULL, NULL, "", 0, NULL},
        {"127.0.0.1", NULL, NULL, "", 0, NULL},
        {"::1", NULL, NULL, "", 0, NULL},
        {"27.192.0.1", NULL, NULL, "", 4837, "CNCGROUP China169 Backbone"},
        {"111.0.0.1", NULL, NULL, "", 9808, "Guangdong Mobile Communication Co.Ltd."},
        {"183.0.0.1", NULL, NULL, "", 4134, "Chinanet"},
        {"1.0.0.1", NULL, NULL, "", 15169, "Google Inc."},
        {"12.81.92.1", NULL, NULL, "", 7018, "AT&T Services"},
    };

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const char *ip = rows[i].ip;
        struct geo_result r;
        geo_test_lookup(country, ip, &r);
        if ((int)r.found != (rows[i].country_db != NULL) ||
            strcmp(r.country, rows[i].country_db ? rows[i].country_db : "") != 0)
            TEST_FAIL_("country %s: found=%u country=%s", ip, r.found, r.country);
        geo_test_lookup(city, ip, &r);
        if ((int)r.found != (rows[i].city_db != NULL) ||
            strcmp(r.country, rows[i].city_db ? rows[i].city_db : "") != 0 ||
            strcmp(r.subdivision, rows[i].sub) != 0)
            TEST_FAIL_("city %s: found=%u country=%s sub=%s", ip, r.found, r.country,
                       r.subdivision);
        expect(asn, ip, rows[i].asn != 0, NULL, NULL, NULL, rows[i].asn, rows[i].org);
    }

    /* registered_country is never used: 81.2.69.142 is GB, registered US. */
    expect(city, "216.160.83.56", 1, "US", "WA", "NA", 0, "");
    /* 2.3.3.0/24 has only a continent. */
    expect(city, "2.3.3.1", 1, NULL, NULL, "EU", 0, "");

    geo_db_meta(city, &m);
    ASSERT_STR_EQ(m.database_type, "GeoIP2-City");
    ASSERT_EQ(m.build_epoch, 1770245369);
    ASSERT_EQ(m.ip_version, 6);
    ASSERT_EQ(m.record_size, 28);
    ASSERT_EQ(m.node_count, 1547);
    geo_db_meta(country, &m);
    ASSERT_STR_EQ(m.database_type, "GeoIP2-Country");
    ASSERT_EQ(m.node_count, 1704);
    geo_db_meta(asn, &m);
    ASSERT_STR_EQ(m.database_type, "GeoLite2-ASN");
    ASSERT_EQ(m.node_count, 1341);
    geo_db_unref(country);
    geo_db_unref(city);
    geo_db_unref(asn);
}

/* Real-world data: the ip-location-db country database from npm. */
TEST(geo_db_real_world_npm)
{
    const char *path = geo_test_npm_db();
    struct geo_db *db;
    static const struct {
        const char *ip, *cc;
    } rows[] = {
        {"1.2.4.8", "CN"},        {"114.114.114.114", "CN"},  {"223.5.5.5", "CN"},
        {"240e::1", "CN"},        {"2400:3200::1", "CN"},     {"8.8.8.8", "US"},
        {"9.9.9.9", "US"},        {"17.0.0.1", "US"},         {"2001:4860:4860::8888", "US"},
        {"202.45.84.58", "HK"},   {"202.14.67.4", "HK"},      {"218.188.0.1", "HK"},
        {"::ffff:8.8.8.8", "US"}, {"::ffff:223.5.5.5", "CN"},
    };

    if (path == NULL) {
        fprintf(stderr, "  SKIP geo_db_real_world_npm: npm database not installed "
                        "(run tests/fixtures/fetch-ip-location-db.sh)\n");
        return;
    }
    db = geo_test_open(path, &geo_schema_flat);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        expect(db, rows[i].ip, 1, rows[i].cc, NULL, NULL, 0, "");
    expect(db, "127.0.0.1", 0, NULL, NULL, NULL, 0, "");
    geo_db_unref(db);
}

/* The record cache gives exactly what an uncached lookup gives. */
TEST(geo_db_cache)
{
    struct geo_db *city =
        geo_test_open(geo_test_maxmind("GeoIP2-City-Test.mmdb"), &geo_schema_maxmind);
    struct geo_db *asn =
        geo_test_open(geo_test_maxmind("GeoLite2-ASN-Test.mmdb"), &geo_schema_maxmind_asn);
    struct geo_db *fixture = geo_test_open(geo_test_fixture("city"), &geo_schema_maxmind);
    struct geo_cache c1, c2;
    static const char *const ips[] = {
        "175.16.199.0",  "::ffff:175.16.199.1", "2001:250::1",   "2001:2e0::1",
        "214.78.120.5",  "214.78.124.1",        "216.160.83.56", "2001:480:10::1",
        "149.101.100.1", "81.2.69.142",         "2.125.160.216", "89.160.20.112",
        "202.196.224.1", "214.1.1.1",           "2.3.3.1",       "1.1.1.1",
        "::1",           "27.192.0.1",          "183.0.0.1",
    };
    const size_t n = sizeof(ips) / sizeof(ips[0]);

    geo_cache_init(&c1);
    geo_cache_init(&c2);
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < n; i++) {
            struct geo_addr a;
            struct geo_result want, got;
            ASSERT_OK(geo_addr_parse(&a, ips[i]));
            ASSERT_OK(geo_db_lookup_addr(city, &a, &want));
            ASSERT_OK(geo_db_merge_addr(asn, &a, &want));
            memset(&got, 0xa5, sizeof(got));
            ASSERT_OK(geo_db_lookup_cached(city, &c1, &a, &got));
            ASSERT_OK(geo_db_merge_cached(asn, &c2, &a, &got));
            if (memcmp(&want, &got, sizeof(want)) != 0)
                TEST_FAIL_("round %d %s: cached %s/%s/%" PRIu32 " vs %s/%s/%" PRIu32, round, ips[i],
                           got.country, got.subdivision, got.asn, want.country, want.subdivision,
                           want.asn);
        }
    ASSERT_GT(c1.hits, 0);
    ASSERT_GT(c1.misses, 0);
    ASSERT_LE(c1.misses, n);
    ASSERT_PTR_EQ(c1.db, city);

    /* A reload: the same cache used with another database starts over. */
    {
        struct geo_addr a;
        struct geo_result r;
        ASSERT_OK(geo_addr_parse(&a, "127.1.0.1"));
        geo_db_unref(city); /* the cache still holds a reference */
        ASSERT_OK(geo_db_lookup_cached(fixture, &c1, &a, &r));
        ASSERT_STR_EQ(r.country, "CN");
        ASSERT_STR_EQ(r.subdivision, "GD");
        ASSERT_PTR_EQ(c1.db, fixture);
        ASSERT_OK(geo_addr_parse(&a, "175.16.199.0"));
        ASSERT_OK(geo_db_lookup_cached(fixture, &c1, &a, &r));
        ASSERT_EQ(r.found, 0);
    }
    geo_cache_dispose(&c1);
    geo_cache_dispose(&c1);
    ASSERT_NULL(c1.db);
    geo_cache_dispose(&c2);
    geo_db_unref(fixture);
    geo_db_unref(asn);
}
