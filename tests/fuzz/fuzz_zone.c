/*
 * libFuzzer target: geo_zones_compile() and classification. The input is
 * text, one directive per line:
 *
 *   zone NAME            start a zone spec
 *   cidr|country|sub|cont VALUE   add a value to the current zone
 *   asn N                add an AS number
 *   ip ADDR              an address to classify
 *   res CC SUB CONT ASN  a database result to classify with
 *
 * A compile error must name a zone that exists and carry a NUL-terminated
 * message; a compiled matcher must classify every address into a valid
 * zone index, find every zone by name, and be freed without leaks.
 */
#include "geo/zone.h"
#include "tests/fuzz/fuzz_common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#define MAX_ZONES 16
#define MAX_VALUES 32
#define MAX_IPS 8
#define MAX_RESULTS 4

struct zone_in {
    const char *cidr[MAX_VALUES], *country[MAX_VALUES], *sub[MAX_VALUES], *cont[MAX_VALUES];
    uint32_t asn[MAX_VALUES];
    size_t ncidr, ncountry, nsub, ncont, nasn;
};

static void add(const char **list, size_t *n, const char *v)
{
    if (*n < MAX_VALUES)
        list[(*n)++] = v;
}

static void copy_code(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct zone_in zin[MAX_ZONES];
    struct geo_zone_spec specs[MAX_ZONES];
    struct geo_result res[MAX_RESULTS + 1];
    struct sockaddr_storage ips[MAX_IPS + 2];
    size_t nspecs = 0, nips = 0, nres = 1;
    char *text, *save = NULL;

    if (size > 8192)
        return 0;
    text = malloc(size + 1);
    FUZZ_CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    memset(zin, 0, sizeof(zin));
    memset(specs, 0, sizeof(specs));
    memset(res, 0, sizeof(res));
    memset(ips, 0, sizeof(ips));
    /* Always classify a couple of fixed addresses and an unknown result. */
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ips[nips++];
    a4->sin_family = AF_INET;
    inet_pton(AF_INET, "10.1.2.3", &a4->sin_addr);
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ips[nips++];
    a6->sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::ffff:10.1.2.3", &a6->sin6_addr);

    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *arg = strchr(line, ' ');
        if (arg == NULL)
            continue;
        *arg++ = '\0';
        struct zone_in *z = nspecs ? &zin[nspecs - 1] : NULL;
        if (strcmp(line, "zone") == 0 && nspecs < MAX_ZONES) {
            specs[nspecs++].name = arg;
        } else if (strcmp(line, "cidr") == 0 && z) {
            add(z->cidr, &z->ncidr, arg);
        } else if (strcmp(line, "country") == 0 && z) {
            add(z->country, &z->ncountry, arg);
        } else if (strcmp(line, "sub") == 0 && z) {
            add(z->sub, &z->nsub, arg);
        } else if (strcmp(line, "cont") == 0 && z) {
            add(z->cont, &z->ncont, arg);
        } else if (strcmp(line, "asn") == 0 && z && z->nasn < MAX_VALUES) {
            z->asn[z->nasn++] = (uint32_t)strtoul(arg, NULL, 0);
        } else if (strcmp(line, "ip") == 0 && nips < MAX_IPS + 2) {
            struct sockaddr_storage *ss = &ips[nips];
            if (inet_pton(AF_INET, arg, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
                ss->ss_family = AF_INET;
                nips++;
            } else if (inet_pton(AF_INET6, arg, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
                ss->ss_family = AF_INET6;
                nips++;
            }
        } else if (strcmp(line, "res") == 0 && nres <= MAX_RESULTS) {
            char cc[8] = "", sub[8] = "", cont[8] = "";
            unsigned long asn = 0;
            struct geo_result *r = &res[nres++];
            if (sscanf(arg, "%7s %7s %7s %lu", cc, sub, cont, &asn) >= 1) {
                copy_code(r->country, sizeof(r->country), cc);
                copy_code(r->subdivision, sizeof(r->subdivision), sub);
                copy_code(r->continent, sizeof(r->continent), cont);
                r->asn = (uint32_t)asn;
                r->found = 1;
            }
        }
    }
    for (size_t i = 0; i < nspecs; i++) {
        specs[i].cidr = zin[i].cidr;
        specs[i].ncidr = zin[i].ncidr;
        specs[i].country = zin[i].country;
        specs[i].ncountry = zin[i].ncountry;
        specs[i].subdivision = zin[i].sub;
        specs[i].nsubdivision = zin[i].nsub;
        specs[i].continent = zin[i].cont;
        specs[i].ncontinent = zin[i].ncont;
        specs[i].asn = zin[i].asn;
        specs[i].nasn = zin[i].nasn;
    }

    struct geo_zones *zs = (struct geo_zones *)1;
    struct geo_zone_error err;
    memset(&err, 'x', sizeof(err));
    int rc = geo_zones_compile(specs, nspecs, &zs, &err);
    if (rc != 0) {
        FUZZ_CHECK(zs == NULL);
        FUZZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
        FUZZ_CHECK(err.zone < nspecs || (rc != -1 && err.zone == 0) || nspecs == 0);
        FUZZ_CHECK(geo_zone_key_name(err.key) != NULL);
        free(text);
        return 0;
    }
    size_t nz = geo_zones_count(zs);
    FUZZ_CHECK(nz == nspecs || nz == nspecs + 1);
    FUZZ_CHECK(geo_zones_default(zs) < nz);
    for (size_t i = 0; i < nz; i++) {
        size_t idx = (size_t)-1;
        const char *name = geo_zones_name(zs, i);
        FUZZ_CHECK(name != NULL);
        FUZZ_CHECK(geo_zones_find(zs, name, &idx) == 0 && idx == i);
    }
    for (size_t i = 0; i < nips; i++)
        for (size_t k = 0; k < nres; k++) {
            size_t zi = geo_zone_classify(zs, (const struct sockaddr *)&ips[i], &res[k]);
            FUZZ_CHECK(zi < nz);
            struct geo_addr ga;
            if (geo_addr_from_sockaddr(&ga, (const struct sockaddr *)&ips[i]) == 0)
                FUZZ_CHECK(geo_zone_classify_addr(zs, &ga, &res[k]) == zi);
        }
    geo_zones_free(zs);
    free(text);
    return 0;
}
