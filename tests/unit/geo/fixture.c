/*
 * Shared helpers of the geo unit tests (see fixture.h). Fixtures are
 * generated with tests/fixtures/make-geo-fixture.pl --all into
 * $GEOROUTE_BUILD/fixtures (default build/fixtures), once, and again when
 * the script is newer than the file.
 */
#include "tests/unit/geo/fixture.h"
#include "tests/unit/test.h"

#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#define SCRIPT "tests/fixtures/make-geo-fixture.pl"
#define MAXMIND_DIR "tests/fixtures/maxmind"
#define NPM_DB                                                                                     \
    "npm/node_modules/@ip-location-db/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb"

static const char *build_dir(void)
{
    const char *s = getenv("GEOROUTE_BUILD");
    return s && *s ? s : "build";
}

const char *geo_test_fixture(const char *kind)
{
    static char path[4096];
    char cmd[8192];
    struct stat st_script, st_out;

    snprintf(path, sizeof(path), "%s/fixtures/geo-%s.mmdb", build_dir(), kind);
    if (stat(SCRIPT, &st_script) != 0)
        TEST_FAIL_("%s not found (run the tests from the repository root)", SCRIPT);
    if (stat(path, &st_out) == 0 && st_out.st_mtime >= st_script.st_mtime)
        return path;
    if (system("perl -MMaxMind::DB::Writer::Tree -e 1 2>/dev/null") != 0) {
        fprintf(stderr, "  SKIP: perl MaxMind::DB::Writer::Tree is missing "
                        "(apt-get install libmaxmind-db-writer-perl)\n");
        exit(0);
    }
    /* One perl start (most of the cost) writes every kind. */
    snprintf(cmd, sizeof(cmd), "mkdir -p '%s/fixtures' && perl %s --all '%s/fixtures'", build_dir(),
             SCRIPT, build_dir());
    if (system(cmd) != 0)
        TEST_FAIL_("fixture generation failed: %s", cmd);
    return path;
}

const char *geo_test_maxmind(const char *file)
{
    static char path[4096];
    snprintf(path, sizeof(path), "%s/%s", MAXMIND_DIR, file);
    if (access(path, R_OK) != 0)
        TEST_FAIL_("%s is missing (run the tests from the repository root)", path);
    return path;
}

const char *geo_test_npm_db(void)
{
    static char path[4096];
    snprintf(path, sizeof(path), "%s/%s", build_dir(), NPM_DB);
    return access(path, R_OK) == 0 ? path : NULL;
}

struct geo_db *geo_test_open(const char *path, const struct geo_schema *schema)
{
    struct geo_db *db = NULL;
    char err[256];
    int rc = geo_db_open(path, schema, &db, err, sizeof(err));
    if (rc != 0)
        TEST_FAIL_("geo_db_open(%s): %d %s", path, rc, err);
    return db;
}

const struct sockaddr *geo_test_sa(struct sockaddr_storage *ss, const char *ip)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(4242);
    } else if (inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(4242);
    } else {
        TEST_FAIL_("bad test address %s", ip);
    }
    return (const struct sockaddr *)ss;
}

void geo_test_lookup(const struct geo_db *db, const char *ip, struct geo_result *r)
{
    struct sockaddr_storage ss;
    int rc = geo_db_lookup(db, geo_test_sa(&ss, ip), r);
    if (rc != 0)
        TEST_FAIL_("geo_db_lookup(%s): %d %s", ip, rc, geo_strerror(rc));
}
