/*
 * geo_bench: nanoseconds per client classification, on MaxMind's City test
 * database (tests/fixtures/maxmind/GeoIP2-City-Test.mmdb) and a
 * realistic zone list.
 *
 *   uncached  geo_db_lookup_addr() + geo_zone_classify_addr(): what a new
 *             connection (or a new X-Forwarded-For address) costs
 *   +record cache  the same through a per-worker struct geo_cache
 *             (geo_db_lookup_cached), which skips decoding a record seen before
 *   cached    geo_zone_classify_addr() of a stored geo_result: what a
 *             request on a connection with a cached result costs
 *
 * Usage: geo_bench [-n ITERATIONS] [DB]   (DB defaults to the City test db
 * in tests/fixtures/maxmind, relative to the repository root, where make
 * runs it). Single-threaded; run it on an idle machine and take the best of
 * a few runs.
 */
#include "geo/geodb.h"
#include "geo/zone.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NADDRS 1024

/* Addresses the City test db knows (README rows), IPv4 and IPv6. */
static const char *const known[] = {
    "175.16.199.7",  "::ffff:175.16.199.1", "2001:250::1",    "2001:2e0::1",   "214.78.120.5",
    "214.78.124.1",  "216.160.83.56",       "2001:480:10::1", "149.101.100.1", "81.2.69.142",
    "2.125.160.216", "89.160.20.112",       "202.196.224.1",  "214.1.1.1",     "2.3.3.1",
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rnd_state = 0x2545f4914f6cdd1dull;
static uint32_t rnd(void)
{
    rnd_state ^= rnd_state >> 12;
    rnd_state ^= rnd_state << 25;
    rnd_state ^= rnd_state >> 27;
    return (uint32_t)((rnd_state * 0x2545f4914f6cdd1dull) >> 32);
}

enum mode {
    LOOKUP,        /* geo_db_lookup_addr + classify */
    LOOKUP_RECORD, /* geo_db_lookup_cached + classify */
    CLASSIFY,      /* classify a stored result */
};

/* Runs one mode n times over addrs; returns ns/op. */
static double run(struct geo_db *db, struct geo_cache *c, const struct geo_zones *z,
                  const struct geo_addr *addrs, const struct geo_result *stored, long n,
                  enum mode m, size_t *sink)
{
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        const struct geo_addr *a = &addrs[i & (NADDRS - 1)];
        struct geo_result r;
        switch (m) {
        case LOOKUP:
            geo_db_lookup_addr(db, a, &r);
            *sink += geo_zone_classify_addr(z, a, &r);
            break;
        case LOOKUP_RECORD:
            geo_db_lookup_cached(db, c, a, &r);
            *sink += geo_zone_classify_addr(z, a, &r);
            break;
        case CLASSIFY:
            *sink += geo_zone_classify_addr(z, a, &stored[i & (NADDRS - 1)]);
            break;
        }
    }
    return (double)(now_ns() - t0) / (double)n;
}

int main(int argc, char **argv)
{
    static const char *const office[] = {"10.0.0.0/8",     "172.16.0.0/12",  "192.168.0.0/16",
                                         "100.64.0.0/10",  "fd00::/8",       "2001:db8::/32",
                                         "203.0.113.0/24", "198.51.100.0/24"};
    const struct geo_zone_spec specs[] = {
        {.name = "office", .cidr = office, .ncidr = 8},
        {.name = "cn-gd-telecom",
         .country = (const char *const[]){"CN"},
         .ncountry = 1,
         .subdivision = (const char *const[]){"CN-GD"},
         .nsubdivision = 1,
         .asn = (const uint32_t[]){4134, 4812},
         .nasn = 2},
        {.name = "cn", .country = (const char *const[]){"CN"}, .ncountry = 1},
        {.name = "hk", .country = (const char *const[]){"HK", "MO"}, .ncountry = 2},
        {.name = "us-west",
         .subdivision = (const char *const[]){"US-CA", "US-WA", "US-OR"},
         .nsubdivision = 3},
        {.name = "us", .country = (const char *const[]){"US", "CA", "MX"}, .ncountry = 3},
        {.name = "eu", .continent = (const char *const[]){"EU"}, .ncontinent = 1},
        {.name = "asia", .continent = (const char *const[]){"AS", "OC"}, .ncontinent = 2},
    };
    static struct geo_addr known_addrs[NADDRS], random_addrs[NADDRS];
    static struct geo_result known_res[NADDRS], random_res[NADDRS];
    static struct geo_cache cache;
    char err[512];
    const char *dbpath = NULL;
    struct geo_db *db;
    struct geo_zones *z;
    struct geo_zone_error zerr;
    long n = 2000000;
    size_t sink = 0, nknown = sizeof(known) / sizeof(known[0]);
    int i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            n = atol(argv[++i]);
        else
            dbpath = argv[i];
    }
    if (dbpath == NULL)
        dbpath = "tests/fixtures/maxmind/GeoIP2-City-Test.mmdb";
    if (geo_db_open(dbpath, &geo_schema_maxmind, &db, err, sizeof(err)) != 0) {
        fprintf(stderr, "geo_bench: %s\n", err);
        return 1;
    }
    if (geo_zones_compile(specs, sizeof(specs) / sizeof(specs[0]), &z, &zerr) != 0) {
        fprintf(stderr, "geo_bench: %s\n", zerr.msg);
        return 1;
    }
    for (size_t k = 0; k < NADDRS; k++) {
        geo_addr_parse(&known_addrs[k], known[k % nknown]);
        /* Random addresses, three in four IPv4, as a public listener sees. */
        memset(&random_addrs[k], 0, sizeof(random_addrs[k]));
        random_addrs[k].family = (rnd() & 3) ? AF_INET : AF_INET6;
        for (unsigned b = 0; b < geo_addr_bits(&random_addrs[k]) / 8; b++)
            random_addrs[k].bytes[b] = (uint8_t)rnd();
        if (random_addrs[k].family == AF_INET6)
            random_addrs[k].bytes[0] = 0x20 | (random_addrs[k].bytes[0] & 1); /* 2000::/7 */
        geo_db_lookup_addr(db, &known_addrs[k], &known_res[k]);
        geo_db_lookup_addr(db, &random_addrs[k], &random_res[k]);
    }

    /* Warm up, then measure. */
    geo_cache_init(&cache);
    run(db, &cache, z, known_addrs, known_res, n / 10, LOOKUP, &sink);
    printf("geo_bench: %s, %zu zones, %ld iterations\n", dbpath, geo_zones_count(z), n);
    printf("uncached lookup+classify, known addresses:         %7.1f ns/op\n",
           run(db, &cache, z, known_addrs, known_res, n, LOOKUP, &sink));
    printf("uncached lookup+classify, random addresses:        %7.1f ns/op\n",
           run(db, &cache, z, random_addrs, random_res, n, LOOKUP, &sink));
    printf("lookup+classify with record cache, known:          %7.1f ns/op\n",
           run(db, &cache, z, known_addrs, known_res, n, LOOKUP_RECORD, &sink));
    printf("lookup+classify with record cache, random:         %7.1f ns/op\n",
           run(db, &cache, z, random_addrs, random_res, n, LOOKUP_RECORD, &sink));
    printf("cached classify (stored result), known addresses:  %7.1f ns/op\n",
           run(db, &cache, z, known_addrs, known_res, n, CLASSIFY, &sink));
    printf("cached classify (stored result), random addresses: %7.1f ns/op\n",
           run(db, &cache, z, random_addrs, random_res, n, CLASSIFY, &sink));
    printf("(record cache %" PRIu64 " hits, %" PRIu64 " misses; checksum %zu)\n", cache.hits,
           cache.misses, sink);
    geo_cache_dispose(&cache);
    geo_zones_free(z);
    geo_db_unref(db);
    return 0;
}
