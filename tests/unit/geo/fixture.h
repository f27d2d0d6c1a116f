/*
 * Helpers shared by the geo unit tests: generated .mmdb fixtures, MaxMind's
 * test databases (tests/fixtures/maxmind) and the optional npm database.
 */
#ifndef TESTS_UNIT_GEO_FIXTURE_H
#define TESTS_UNIT_GEO_FIXTURE_H

#include <netinet/in.h>
#include <stddef.h>

#include "geo/geodb.h"
#include "tests/unit/geo/list.h"

/* Prototypes of every geo test, so TEST() definitions pass -Wmissing-prototypes. */
#define GEO_TEST_DECLARE_(name) void test_##name(void);
GEO_TESTS(GEO_TEST_DECLARE_)
#undef GEO_TEST_DECLARE_

/* Path of a fixture database of kind "city", "asn", "flat" or "flat4". */
const char *geo_test_fixture(const char *kind);
/* Path of a file in tests/fixtures/maxmind, MaxMind's test databases (static buffer). */
const char *geo_test_maxmind(const char *file);
/* Path of the npm ip-location-db database, or NULL when not installed. */
const char *geo_test_npm_db(void);
/* Opens a database, failing the test with the message on error. */
struct geo_db *geo_test_open(const char *path, const struct geo_schema *schema);
/* Fills a sockaddr_storage from a numeric address; fails the test if bad. */
const struct sockaddr *geo_test_sa(struct sockaddr_storage *ss, const char *ip);
/* Looks ip up (geo_db_lookup on a sockaddr); fails the test on error. */
void geo_test_lookup(const struct geo_db *db, const char *ip, struct geo_result *r);

#endif
