/*
 * Tests of geo/zone.c: semantics of the compiled zone matcher, its CIDR
 * tries (against a brute-force reference), and every compile error.
 */
#include "tests/unit/test.h"
#include "tests/unit/geo/fixture.h"

#include "geo/zone.h"

#include <arpa/inet.h>
#include <errno.h>

#define COUNT_(...) (sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))
#define CIDR(...) .cidr = (const char *const[]){__VA_ARGS__}, .ncidr = COUNT_(__VA_ARGS__)
#define COUNTRY(...) .country = (const char *const[]){__VA_ARGS__}, .ncountry = COUNT_(__VA_ARGS__)
#define SUBDIV(...)                                                                                \
    .subdivision = (const char *const[]){__VA_ARGS__}, .nsubdivision = COUNT_(__VA_ARGS__)
#define CONTINENT(...)                                                                             \
    .continent = (const char *const[]){__VA_ARGS__}, .ncontinent = COUNT_(__VA_ARGS__)
#define ASN(...)                                                                                   \
    .asn = (const uint32_t[]){__VA_ARGS__},                                                        \
    .nasn = sizeof((const uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t)
#define NSPECS(a) (sizeof(a) / sizeof((a)[0]))

static struct geo_zones *compile(const struct geo_zone_spec *specs, size_t n)
{
    struct geo_zones *z = NULL;
    struct geo_zone_error err;
    int rc = geo_zones_compile(specs, n, &z, &err);
    if (rc != 0)
        TEST_FAIL_("geo_zones_compile: %d %s", rc, err.msg);
    return z;
}

static struct geo_result res(const char *cc, const char *sub, const char *cont, uint32_t asn)
{
    struct geo_result r;
    geo_result_clear(&r);
    r.found = cc || sub || cont || asn;
    snprintf(r.country, sizeof(r.country), "%s", cc ? cc : "");
    snprintf(r.subdivision, sizeof(r.subdivision), "%s", sub ? sub : "");
    snprintf(r.continent, sizeof(r.continent), "%s", cont ? cont : "");
    r.asn = asn;
    return r;
}

/* Classifies ip (NULL: no address) with result r; returns the zone name. */
static const char *cls(const struct geo_zones *z, const char *ip, struct geo_result r)
{
    struct sockaddr_storage ss;
    size_t i = geo_zone_classify(z, ip ? geo_test_sa(&ss, ip) : NULL, &r);
    ASSERT_LT(i, geo_zones_count(z));
    return geo_zones_name(z, i);
}

TEST(geo_zone_and_or)
{
    const struct geo_zone_spec specs[] = {
        /* Guangdong on China Telecom: every key must hold. */
        {.name = "gd-telecom", COUNTRY("CN"), SUBDIV("CN-GD"), ASN(4134, 4812)},
        /* Any of these countries. */
        {.name = "greater-china", COUNTRY("CN", "HK", "MO", "TW")},
        {.name = "americas", CONTINENT("NA", "SA")},
    };
    struct geo_zones *z = compile(specs, NSPECS(specs));

    ASSERT_EQ(geo_zones_count(z), 4);
    ASSERT_EQ(geo_zones_default(z), 3);
    ASSERT_STR_EQ(geo_zones_name(z, 3), "default");
    ASSERT_NULL(geo_zones_name(z, 4));

    ASSERT_STR_EQ(cls(z, NULL, res("CN", "GD", "AS", 4134)), "gd-telecom");
    ASSERT_STR_EQ(cls(z, NULL, res("CN", "GD", "AS", 4812)), "gd-telecom");
    ASSERT_STR_EQ(cls(z, NULL, res("CN", "GD", "AS", 4837)), "greater-china"); /* Unicom */
    ASSERT_STR_EQ(cls(z, NULL, res("CN", "BJ", "AS", 4134)), "greater-china");
    ASSERT_STR_EQ(cls(z, NULL, res("CN", NULL, "AS", 4134)), "greater-china");
    ASSERT_STR_EQ(cls(z, NULL, res("HK", NULL, "AS", 0)), "greater-china");
    ASSERT_STR_EQ(cls(z, NULL, res("TW", NULL, NULL, 0)), "greater-china");
    ASSERT_STR_EQ(cls(z, NULL, res("US", "CA", "NA", 7018)), "americas");
    ASSERT_STR_EQ(cls(z, NULL, res("BR", NULL, "SA", 0)), "americas");
    ASSERT_STR_EQ(cls(z, NULL, res("DE", NULL, "EU", 3320)), "default");
    /* GD in another country is another subdivision. */
    ASSERT_STR_EQ(cls(z, NULL, res("GB", "GD", "EU", 4134)), "default");
    /* Unknown address: default. */
    ASSERT_STR_EQ(cls(z, "203.0.113.1", res(NULL, NULL, NULL, 0)), "default");
    ASSERT_EQ(geo_zone_classify(z, NULL, NULL), 3);
    geo_zones_free(z);
}

TEST(geo_zone_first_match_and_default)
{
    const struct geo_zone_spec specs[] = {
        {.name = "cn", COUNTRY("CN")},
        {.name = "default"},
        {.name = "cn-gd", SUBDIV("CN-GD")}, /* shadowed by "cn" */
        {.name = "lan", CIDR("10.0.0.0/8")},
    };
    struct geo_zones *z = compile(specs, NSPECS(specs));
    size_t idx = 99;

    /* A named default stays where it is; no implicit one is added. */
    ASSERT_EQ(geo_zones_count(z), 4);
    ASSERT_EQ(geo_zones_default(z), 1);
    ASSERT_STR_EQ(cls(z, "10.1.1.1", res("CN", "GD", "AS", 0)), "cn");
    /* The default is not tried in order: later zones still match. */
    ASSERT_STR_EQ(cls(z, "10.1.1.1", res("US", NULL, NULL, 0)), "lan");
    ASSERT_STR_EQ(cls(z, "192.0.2.1", res("US", NULL, NULL, 0)), "default");
    ASSERT_OK(geo_zones_find(z, "lan", &idx));
    ASSERT_EQ(idx, 3);
    ASSERT_EQ(geo_zones_find(z, "nope", &idx), -ENOENT);
    geo_zones_free(z);

    /* No zones at all: everything is default. */
    z = compile(NULL, 0);
    ASSERT_EQ(geo_zones_count(z), 1);
    ASSERT_EQ(geo_zones_default(z), 0);
    ASSERT_STR_EQ(cls(z, "10.1.1.1", res("CN", NULL, NULL, 0)), "default");
    geo_zones_free(z);
}

TEST(geo_zone_cidr_v4)
{
    const struct geo_zone_spec specs[] = {
        {.name = "host", CIDR("10.1.2.3/32")},
        {.name = "bare", CIDR("10.1.2.4")},
        {.name = "net24", CIDR("10.1.2.0/24")},
        {.name = "net8-cn", CIDR("10.0.0.0/8"), COUNTRY("CN")},
        {.name = "net16", CIDR("10.1.0.0/16", "192.168.0.0/16")},
        {.name = "net8", CIDR("10.0.0.0/8")},
        {.name = "all4", CIDR("0.0.0.0/0")},
    };
    struct geo_zones *z = compile(specs, NSPECS(specs));
    struct geo_result none = res(NULL, NULL, NULL, 0);

    ASSERT_STR_EQ(cls(z, "10.1.2.3", none), "host");
    ASSERT_STR_EQ(cls(z, "10.1.2.4", none), "bare");
    ASSERT_STR_EQ(cls(z, "10.1.2.5", none), "net24");
    ASSERT_STR_EQ(cls(z, "10.1.2.255", none), "net24");
    ASSERT_STR_EQ(cls(z, "10.1.3.0", none), "net16");
    ASSERT_STR_EQ(cls(z, "10.1.3.0", res("CN", NULL, NULL, 0)), "net8-cn");
    ASSERT_STR_EQ(cls(z, "10.1.2.3", res("CN", NULL, NULL, 0)), "host");
    ASSERT_STR_EQ(cls(z, "192.168.77.1", none), "net16");
    ASSERT_STR_EQ(cls(z, "10.200.0.1", none), "net8");
    ASSERT_STR_EQ(cls(z, "11.0.0.0", none), "all4");
    ASSERT_STR_EQ(cls(z, "255.255.255.255", none), "all4");
    ASSERT_STR_EQ(cls(z, "0.0.0.0", none), "all4");
    /* IPv4-mapped peers are IPv4. */
    ASSERT_STR_EQ(cls(z, "::ffff:10.1.2.3", none), "host");
    ASSERT_STR_EQ(cls(z, "::ffff:10.9.9.9", none), "net8");
    /* IPv6 clients never match IPv4 prefixes, not even /0. */
    ASSERT_STR_EQ(cls(z, "::a01:203", none), "default");
    ASSERT_STR_EQ(cls(z, "2001:db8::1", none), "default");
    ASSERT_STR_EQ(cls(z, NULL, none), "default");
    geo_zones_free(z);
}

TEST(geo_zone_cidr_v6)
{
    const struct geo_zone_spec specs[] = {
        {.name = "host", CIDR("2001:db8::1/128")},
        {.name = "net48", CIDR("2001:db8:1::/48")},
        {.name = "net32", CIDR("2001:db8::/32")},
        {.name = "mapped", CIDR("::ffff:172.16.0.0/108")}, /* = 172.16.0.0/12 */
        {.name = "all6", CIDR("::/0")},
    };
    struct geo_zones *z = compile(specs, NSPECS(specs));
    struct geo_result none = res(NULL, NULL, NULL, 0);

    ASSERT_STR_EQ(cls(z, "2001:db8::1", none), "host");
    ASSERT_STR_EQ(cls(z, "2001:db8::2", none), "net32");
    ASSERT_STR_EQ(cls(z, "2001:db8:1:ffff::1", none), "net48");
    ASSERT_STR_EQ(cls(z, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", none), "net32");
    ASSERT_STR_EQ(cls(z, "2001:db9::", none), "all6");
    ASSERT_STR_EQ(cls(z, "::", none), "all6");
    ASSERT_STR_EQ(cls(z, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", none), "all6");
    /* A mapped-form prefix holds IPv4 clients, plain or mapped. */
    ASSERT_STR_EQ(cls(z, "172.20.1.1", none), "mapped");
    ASSERT_STR_EQ(cls(z, "::ffff:172.31.255.255", none), "mapped");
    ASSERT_STR_EQ(cls(z, "172.32.0.0", none), "default");
    ASSERT_STR_EQ(cls(z, "8.8.8.8", none), "default");
    geo_zones_free(z);
}

TEST(geo_zone_case_and_duplicates)
{
    const struct geo_zone_spec specs[] = {
        {.name = "a", COUNTRY("cn", "Cn", "CN"), SUBDIV("cn-gd", "CN-GD"), CONTINENT("as")},
        {.name = "b", ASN(7, 7, 3), CIDR("10.0.0.0/8", "10.0.0.0/8")},
        {.name = "old-code", SUBDIV("CN-22", "gb-eng")},
    };
    struct geo_zones *z = compile(specs, NSPECS(specs));
    ASSERT_STR_EQ(cls(z, NULL, res("CN", "GD", "AS", 0)), "a");
    ASSERT_STR_EQ(cls(z, NULL, res("CN", "GD", "EU", 0)), "default");
    ASSERT_STR_EQ(cls(z, "10.0.0.1", res(NULL, NULL, NULL, 3)), "b");
    ASSERT_STR_EQ(cls(z, "10.0.0.1", res(NULL, NULL, NULL, 7)), "b");
    ASSERT_STR_EQ(cls(z, "10.0.0.1", res(NULL, NULL, NULL, 8)), "default");
    ASSERT_STR_EQ(cls(z, "11.0.0.1", res(NULL, NULL, NULL, 7)), "default");
    ASSERT_STR_EQ(cls(z, NULL, res("CN", "22", "AS", 0)), "old-code");
    ASSERT_STR_EQ(cls(z, NULL, res("GB", "ENG", "EU", 0)), "old-code");
    ASSERT_STR_EQ(cls(z, NULL, res("GB", "EN", "EU", 0)), "default");
    geo_zones_free(z);
}

/* One bad spec and where the error must point. */
struct bad_case {
    struct geo_zone_spec specs[3];
    size_t nspecs;
    size_t zone;
    enum geo_zone_key key;
    size_t value_index;
    const char *msg;
};

TEST(geo_zone_compile_errors)
{
    const struct bad_case cases[] = {
        {{{.name = "a", CIDR("10.0.0.0/8", "10.0.0.0/33")}},
         1,
         0,
         GEO_ZONE_KEY_CIDR,
         1,
         "prefix length must be 0..32"},
        {{{.name = "a", CIDR("1.2.3/8")}},
         1,
         0,
         GEO_ZONE_KEY_CIDR,
         0,
         "not an IPv4 or IPv6 address"},
        {{{.name = "a", CIDR("10.1.2.3/8")}},
         1,
         0,
         GEO_ZONE_KEY_CIDR,
         0,
         "host bits set (network is 10.0.0.0/8)"},
        {{{.name = "a", CIDR("2001:db8::1/32")}},
         1,
         0,
         GEO_ZONE_KEY_CIDR,
         0,
         "network is 2001:db8::/32"},
        {{{.name = "a", CIDR("2001:db8::/129")}}, 1, 0, GEO_ZONE_KEY_CIDR, 0, "0..128"},
        {{{.name = "a", CIDR("10.0.0.0/")}}, 1, 0, GEO_ZONE_KEY_CIDR, 0, "missing prefix"},
        {{{.name = "a", CIDR("10.0.0.0/-1")}}, 1, 0, GEO_ZONE_KEY_CIDR, 0, "0..32"},
        {{{.name = "a", CIDR("10.0.0.0/8x")}}, 1, 0, GEO_ZONE_KEY_CIDR, 0, "0..32"},
        {{{.name = "a", CIDR("10.0.0.0/99999999999")}}, 1, 0, GEO_ZONE_KEY_CIDR, 0, "0..32"},
        {{{.name = "a", CIDR("/8")}}, 1, 0, GEO_ZONE_KEY_CIDR, 0, "not an IPv4"},
        {{{.name = "a", CIDR("example.com/8")}}, 1, 0, GEO_ZONE_KEY_CIDR, 0, "not an IPv4"},
        {{{.name = "a", CIDR("")}}, 1, 0, GEO_ZONE_KEY_CIDR, 0, "not an IPv4"},
        {{{.name = "a", CIDR(NULL)}}, 1, 0, GEO_ZONE_KEY_CIDR, 0, "missing value"},
        {{{.name = "a", COUNTRY("CN", "China")}},
         1,
         0,
         GEO_ZONE_KEY_COUNTRY,
         1,
         "\"China\" is not a two-letter"},
        {{{.name = "a", COUNTRY("C1")}}, 1, 0, GEO_ZONE_KEY_COUNTRY, 0, "two-letter"},
        {{{.name = "a", COUNTRY("C")}}, 1, 0, GEO_ZONE_KEY_COUNTRY, 0, "two-letter"},
        {{{.name = "a", COUNTRY(NULL)}}, 1, 0, GEO_ZONE_KEY_COUNTRY, 0, "(null)"},
        {{{.name = "a", SUBDIV("GD")}}, 1, 0, GEO_ZONE_KEY_SUBDIVISION, 0, "like CN-GD"},
        {{{.name = "a", SUBDIV("CN-GD", "CN_GD")}}, 1, 0, GEO_ZONE_KEY_SUBDIVISION, 1, "\"CN_GD\""},
        {{{.name = "a", SUBDIV("CN-ABCD")}}, 1, 0, GEO_ZONE_KEY_SUBDIVISION, 0, "ISO 3166-2"},
        {{{.name = "a", SUBDIV("CHN-GD")}}, 1, 0, GEO_ZONE_KEY_SUBDIVISION, 0, "ISO 3166-2"},
        {{{.name = "a", SUBDIV("CN-")}}, 1, 0, GEO_ZONE_KEY_SUBDIVISION, 0, "ISO 3166-2"},
        {{{.name = "a", SUBDIV("CN-G.")}}, 1, 0, GEO_ZONE_KEY_SUBDIVISION, 0, "ISO 3166-2"},
        {{{.name = "a", CONTINENT("EU", "XX")}},
         1,
         0,
         GEO_ZONE_KEY_CONTINENT,
         1,
         "\"XX\" is not one of AF AN AS EU NA OC SA"},
        {{{.name = "a", CONTINENT("Asia")}}, 1, 0, GEO_ZONE_KEY_CONTINENT, 0, "not one of"},
        {{{.name = "a", ASN(4134, 0)}}, 1, 0, GEO_ZONE_KEY_ASN, 1, "AS0 is reserved"},
        {{{.name = "a", COUNTRY("CN")}, {.name = "b", COUNTRY("US")}, {.name = "a", COUNTRY("HK")}},
         3,
         2,
         GEO_ZONE_KEY_NAME,
         0,
         "\"a\" is already the name of zone 0"},
        {{{.name = "a", COUNTRY("CN")}, {.name = ""}},
         2,
         1,
         GEO_ZONE_KEY_NAME,
         0,
         "missing or empty"},
        {{{.name = NULL, COUNTRY("CN")}}, 1, 0, GEO_ZONE_KEY_NAME, 0, "missing or empty"},
        {{{.name = "a", COUNTRY("CN")}, {.name = "b"}}, 2, 1, GEO_ZONE_KEY_MATCH, 0, "empty match"},
        {{{.name = "default", COUNTRY("CN")}},
         1,
         0,
         GEO_ZONE_KEY_MATCH,
         0,
         "default zone takes the rest"},
        {{{.name = "default"}, {.name = "default"}}, 2, 1, GEO_ZONE_KEY_NAME, 0, "already"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct bad_case *c = &cases[i];
        struct geo_zones *z = (struct geo_zones *)1;
        struct geo_zone_error err;
        int rc = geo_zones_compile(c->specs, c->nspecs, &z, &err);
        if (rc != -1 || z != NULL || err.zone != c->zone || err.key != c->key ||
            err.value_index != c->value_index || strstr(err.msg, c->msg) == NULL)
            TEST_FAIL_("case %zu: rc=%d zone=%zu key=%s index=%zu msg=\"%s\"; want zone=%zu "
                       "key=%s index=%zu msg~\"%s\"",
                       i, rc, err.zone, geo_zone_key_name(err.key), err.value_index, err.msg,
                       c->zone, geo_zone_key_name(c->key), c->value_index, c->msg);
    }

    /* The message names the zone, the key and the index. */
    {
        const struct geo_zone_spec s[] = {{.name = "ok", COUNTRY("CN")},
                                          {.name = "cn-lan", CIDR("10.0.0.0/8", "1.2.3/8")}};
        struct geo_zones *z;
        struct geo_zone_error err;
        ASSERT_EQ(geo_zones_compile(s, 2, &z, &err), -1);
        ASSERT_STR_CONTAINS(err.msg, "zone 1 (cn-lan): match.cidr[1]: \"1.2.3/8\"");
    }
    ASSERT_STR_EQ(geo_zone_key_name(GEO_ZONE_KEY_SUBDIVISION), "subdivision");
    ASSERT_STR_EQ(geo_zone_key_name((enum geo_zone_key)99), "?");
}

/* A small deterministic PRNG (xorshift64*). */
static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rnd_state ^= rnd_state >> 12;
    rnd_state ^= rnd_state << 25;
    rnd_state ^= rnd_state >> 27;
    return (uint32_t)((rnd_state * 0x2545f4914f6cdd1dull) >> 32);
}

struct ref_prefix {
    struct geo_addr net;
    unsigned len;
    size_t zone;
};

static int ref_contains(const struct ref_prefix *p, const struct geo_addr *a)
{
    if (p->net.family != a->family)
        return 0;
    for (unsigned i = 0; i < p->len; i++)
        if (((p->net.bytes[i / 8] ^ a->bytes[i / 8]) >> (7 - i % 8)) & 1)
            return 0;
    return 1;
}

/* Random nested prefixes in few zones, checked against a linear scan. */
TEST(geo_zone_cidr_reference)
{
    enum { NZONES = 40, NPREFIXES = 600, NPROBES = 20000 };
    static struct ref_prefix pre[NPREFIXES];
    static char text[NPREFIXES][64];
    static const char *lists[NZONES][NPREFIXES];
    static struct geo_zone_spec specs[NZONES];
    static char names[NZONES][16];
    static const char *const cn[] = {"CN"};
    static const char *const doc_net[] = {"192.0.2.0/24"};
    struct geo_zones *z;

    for (size_t i = 0; i < NPREFIXES; i++) {
        struct ref_prefix *p = &pre[i];
        unsigned bits;
        memset(&p->net, 0, sizeof(p->net));
        p->net.family = (rnd() & 3) ? AF_INET : AF_INET6;
        bits = geo_addr_bits(&p->net);
        /* Few distinct top bits so prefixes nest and overlap a lot. */
        for (unsigned b = 0; b < bits / 8; b++)
            p->net.bytes[b] = (uint8_t)(b < 2 ? (rnd() & 0x81) : rnd());
        p->len = rnd() % (bits + 1);
        for (unsigned k = p->len; k < bits; k++)
            p->net.bytes[k / 8] &= (uint8_t) ~(0x80u >> (k % 8));
        p->zone = rnd() % NZONES;
        char a[GEO_ADDR_TEXT_MAX];
        geo_addr_format(&p->net, a, sizeof(a));
        snprintf(text[i], sizeof(text[i]), "%s/%u", a, p->len);
        lists[p->zone][specs[p->zone].ncidr++] = text[i];
    }
    for (size_t zi = 0; zi < NZONES; zi++) {
        snprintf(names[zi], sizeof(names[zi]), "z%zu", zi);
        specs[zi].name = names[zi];
        specs[zi].cidr = lists[zi];
        if (specs[zi].ncidr == 0) {
            specs[zi].cidr = doc_net;
            specs[zi].ncidr = 1;
        }
        /* Every third zone also wants CN, to exercise AND with the trie list. */
        if (zi % 3 == 1) {
            specs[zi].country = cn;
            specs[zi].ncountry = 1;
        }
    }
    z = compile(specs, NZONES);

    for (size_t n = 0; n < NPROBES; n++) {
        struct geo_addr a;
        const struct ref_prefix *base = &pre[rnd() % NPREFIXES];
        struct geo_result r = res((n & 1) ? "CN" : "US", NULL, NULL, 0);
        size_t want = geo_zones_default(z), got;
        a = base->net;
        /* Random host part, sometimes flipping bits inside the prefix too. */
        for (unsigned k = (n % 5 == 0) ? 0 : base->len; k < geo_addr_bits(&a); k++)
            if (rnd() & 1)
                a.bytes[k / 8] ^= (uint8_t)(0x80u >> (k % 8));
        for (size_t zi = 0; zi < NZONES && want == geo_zones_default(z); zi++) {
            if (zi % 3 == 1 && !(n & 1))
                continue;
            if (specs[zi].cidr != lists[zi]) {
                struct ref_prefix doc = {.len = 24, .zone = zi};
                geo_addr_parse(&doc.net, "192.0.2.0");
                if (ref_contains(&doc, &a))
                    want = zi;
                continue;
            }
            for (size_t i = 0; i < NPREFIXES; i++)
                if (pre[i].zone == zi && ref_contains(&pre[i], &a)) {
                    want = zi;
                    break;
                }
        }
        got = geo_zone_classify_addr(z, &a, &r);
        if (got != want) {
            char t[GEO_ADDR_TEXT_MAX];
            geo_addr_format(&a, t, sizeof(t));
            TEST_FAIL_("probe %zu %s: got zone %zu, want %zu", n, t, got, want);
        }
    }
    geo_zones_free(z);
}

/* Database lookup and classification together, on the generated fixture. */
TEST(geo_zone_with_fixture)
{
    const struct geo_zone_spec specs[] = {
        {.name = "gd-telecom", COUNTRY("CN"), SUBDIV("CN-GD"), ASN(4134)},
        {.name = "cn", COUNTRY("CN")},
        {.name = "hk", COUNTRY("HK")},
        {.name = "office", CIDR("127.3.3.0/24", "fd00:3:3::/48")},
        {.name = "us", COUNTRY("US")},
    };
    struct geo_zones *z = compile(specs, NSPECS(specs));
    struct geo_db *city = geo_test_open(geo_test_fixture("city"), &geo_schema_maxmind);
    struct geo_db *asn = geo_test_open(geo_test_fixture("asn"), &geo_schema_maxmind_asn);
    static const struct {
        const char *ip, *zone;
    } rows[] = {
        {"127.1.0.1", "gd-telecom"}, {"::ffff:127.1.0.1", "gd-telecom"},
        {"fd00:1::1", "gd-telecom"}, {"127.1.2.1", "cn"}, /* AS4812 */
        {"127.4.0.1", "cn"},         {"127.2.0.1", "hk"},
        {"fd00:2::1", "hk"},         {"127.3.3.3", "office"},
        {"fd00:3:3::1", "office"},   {"127.3.0.1", "us"},
        {"fd00:3::1", "us"},         {"127.5.0.1", "default"}, /* registered JP only */
        {"127.6.0.1", "default"},    {"127.8.0.1", "default"},
        {"127.0.0.1", "default"},    {"::1", "default"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct sockaddr_storage ss;
        const struct sockaddr *sa = geo_test_sa(&ss, rows[i].ip);
        struct geo_addr a;
        struct geo_result r;
        ASSERT_OK(geo_addr_from_sockaddr(&a, sa));
        ASSERT_OK(geo_db_lookup_addr(city, &a, &r));
        ASSERT_OK(geo_db_merge_addr(asn, &a, &r));
        const char *got = geo_zones_name(z, geo_zone_classify(z, sa, &r));
        if (strcmp(got, rows[i].zone) != 0)
            TEST_FAIL_("%s: zone %s, want %s", rows[i].ip, got, rows[i].zone);
    }
    geo_db_unref(asn);
    geo_db_unref(city);
    geo_zones_free(z);
}
