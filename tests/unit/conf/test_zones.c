/* Unit tests of conf/zones.c: zones, their match and route, and the default zone. */
#include "tests/unit/test.h"
#include "conf/conf-int.h"
#include "tests/unit/conf/list.h"
#include "tests/unit/conf/load.h"

/* Prototypes for the TEST() definitions below (-Wmissing-prototypes). */
#define CONF_TEST_DECLARE(name) void test_##name(void);
CONF_TESTS(CONF_TEST_DECLARE)

#define load_ok conf_test_load_ok
#define load_err conf_test_load_err

/* Nine lines: three regions and a City + ASN database; zones start on line 10. */
#define BASE                                                                                       \
    "listen: 127.0.0.1:8080\n"                                                                     \
    "regions:\n"                                                                                   \
    "  cn: {backends: [127.0.0.1:9001]}\n"                                                         \
    "  hk: {backends: [127.0.0.1:9002]}\n"                                                         \
    "  us: {backends: [127.0.0.1:9003]}\n"                                                         \
    "geo:\n"                                                                                       \
    "  databases:\n"                                                                               \
    "    - {path: city.mmdb}\n"                                                                    \
    "    - {path: asn.mmdb, schema: maxmind-asn}\n"

TEST(conf_zones_basic)
{
    struct conf *c = load_ok(BASE "zones:\n"                                  /* 10 */
                                  "  - name: gd-telecom\n"                    /* 11 */
                                  "    match:\n"                              /* 12 */
                                  "      country: [CN]\n"                     /* 13 */
                                  "      subdivision: [CN-GD, cn-gz]\n"       /* 14 */
                                  "      asn: [4134, AS4812]\n"               /* 15 */
                                  "      cidr: [\"127.1.0.0/16\", \"::1\"]\n" /* 16 */
                                  "      continent: AS\n"                     /* 17 */
                                  "    route:\n"                              /* 18 */
                                  "      regions: [cn, hk]\n"                 /* 19 */
                                  "      bias: {hk: 40ms, cn: 0ms}\n"         /* 20 */
                                  "      fallback: [us]\n"                    /* 21 */
                                  "  - name: hk_only\n"                       /* 22 */
                                  "    match: {country: HK}\n"                /* 23 */
                                  "    route: {regions: hk, fallback: reject}\n"
                                  "  - name: default\n"
                                  "    route: {regions: [us, hk], bias: {us: 1h}}\n");
    const struct conf_zone *z;

    ASSERT_EQ(c->nzones, 3);
    z = &c->zones[0];
    ASSERT_STR_EQ(z->name, "gd-telecom");
    ASSERT_EQ(z->pos.line, 11);
    ASSERT_EQ(z->pos.col, 11);
    ASSERT_EQ(z->is_default, 0);
    ASSERT_EQ(z->implicit, 0);
    ASSERT_EQ(z->has_match, 1);
    ASSERT_EQ(z->match_pos.line, 13);
    ASSERT_EQ(z->match_pos.col, 7);
    ASSERT_EQ(z->match.country.n, 1);
    ASSERT_STR_EQ(z->match.country.str[0], "CN");
    ASSERT_EQ(z->match.country.pos[0].line, 13);
    ASSERT_EQ(z->match.country.pos[0].col, 17);
    ASSERT_EQ(z->match.subdivision.n, 2);
    ASSERT_STR_EQ(z->match.subdivision.str[1], "cn-gz"); /* as written: geo/ normalises */
    ASSERT_EQ(z->match.subdivision.pos[1].line, 14);
    ASSERT_EQ(z->match.subdivision.pos[1].col, 28);
    ASSERT_EQ(z->match.nasn, 2);
    ASSERT_EQ(z->match.asn[0], 4134);
    ASSERT_EQ(z->match.asn[1], 4812);
    ASSERT_EQ(z->match.asn_pos[1].line, 15);
    ASSERT_EQ(z->match.asn_pos[1].col, 19);
    ASSERT_EQ(z->match.cidr.n, 2);
    ASSERT_STR_EQ(z->match.cidr.str[0], "127.1.0.0/16");
    ASSERT_STR_EQ(z->match.cidr.str[1], "::1");
    ASSERT_EQ(z->match.continent.n, 1); /* a scalar is a list of one */
    ASSERT_STR_EQ(z->match.continent.str[0], "AS");
    ASSERT_EQ(z->match.continent.pos[0].line, 17);
    ASSERT_EQ(z->match.continent.pos[0].col, 18);
    ASSERT_EQ(z->route.nregions, 2);
    ASSERT_EQ(z->route.regions[0], 0);
    ASSERT_EQ(z->route.regions[1], 1);
    ASSERT_EQ(z->route.nfallback, 1);
    ASSERT_EQ(z->route.fallback[0], 2);
    ASSERT_EQ(z->route.reject, 0);
    ASSERT_EQ(z->route.bias_ms[0], 0);
    ASSERT_EQ(z->route.bias_ms[1], 40);
    ASSERT_EQ(z->route.bias_ms[2], 0);

    z = &c->zones[1];
    ASSERT_STR_EQ(z->name, "hk_only");
    ASSERT_EQ(z->match.country.n, 1);
    ASSERT_EQ(z->match.subdivision.n, 0);
    ASSERT_NULL(z->match.subdivision.str);
    ASSERT_EQ(z->match.nasn, 0);
    ASSERT_EQ(z->route.nregions, 1);
    ASSERT_EQ(z->route.regions[0], 1);
    ASSERT_EQ(z->route.nfallback, 0);
    ASSERT_EQ(z->route.reject, 1);

    z = &c->zones[2];
    ASSERT_STR_EQ(z->name, "default");
    ASSERT_EQ(z->is_default, 1);
    ASSERT_EQ(z->implicit, 0);
    ASSERT_EQ(z->has_match, 0);
    ASSERT_EQ(z->match_pos.line, 0);
    ASSERT_EQ(z->route.nregions, 2);
    ASSERT_EQ(z->route.regions[0], 2);
    ASSERT_EQ(z->route.regions[1], 1);
    ASSERT_EQ(z->route.reject, 1); /* fallback defaults to reject */
    ASSERT_EQ(z->route.bias_ms[2], 3600000);

    ASSERT_PTR_EQ(conf_zone_find(c, "hk_only"), &c->zones[1]);
    ASSERT_PTR_EQ(conf_zone_find(c, "default"), &c->zones[2]);
    ASSERT_NULL(conf_zone_find(c, "nope"));
    conf_free(c);
}

TEST(conf_zones_implicit_default)
{
    struct conf *c = load_ok(BASE);
    const struct conf_zone *z;

    /* No zones at all: the default zone routes to every region, in file order, reject. */
    ASSERT_EQ(c->nzones, 1);
    z = &c->zones[0];
    ASSERT_STR_EQ(z->name, "default");
    ASSERT_EQ(z->is_default, 1);
    ASSERT_EQ(z->implicit, 1);
    ASSERT_EQ(z->has_match, 0);
    ASSERT_EQ(z->pos.line, 0);
    ASSERT_EQ(z->route.nregions, 3);
    ASSERT_EQ(z->route.regions[0], 0);
    ASSERT_EQ(z->route.regions[1], 1);
    ASSERT_EQ(z->route.regions[2], 2);
    ASSERT_EQ(z->route.nfallback, 0);
    ASSERT_EQ(z->route.reject, 1);
    ASSERT_NOT_NULL(z->route.bias_ms);
    ASSERT_EQ(z->route.bias_ms[2], 0);
    conf_free(c);

    /* Zones without a default: one is appended after them. */
    c = load_ok(BASE "zones:\n  - {name: cn, match: {cidr: 10.0.0.0/8}, route: {regions: cn}}\n");
    ASSERT_EQ(c->nzones, 2);
    ASSERT_STR_EQ(c->zones[0].name, "cn");
    ASSERT_STR_EQ(c->zones[1].name, "default");
    ASSERT_EQ(c->zones[1].implicit, 1);
    ASSERT_EQ(c->zones[1].route.nregions, 3);
    conf_free(c);

    /* An empty list is the same as none. */
    c = load_ok(BASE "zones: []\n");
    ASSERT_EQ(c->nzones, 1);
    ASSERT_EQ(c->zones[0].implicit, 1);
    conf_free(c);
}

TEST(conf_zones_order_independent)
{
    /* zones before regions and geo in the file still resolve. */
    struct conf *c = load_ok("zones:\n"
                             "  - {name: a, match: {asn: 1}, route: {regions: [z]}}\n"
                             "listen: 127.0.0.1:1\n"
                             "regions: {y: {backends: [1.1.1.1:1]}, z: {backends: [1.1.1.1:2]}}\n"
                             "geo: {databases: [{path: a.mmdb, schema: custom, fields: {asn: "
                             "x.y}}]}\n");

    ASSERT_EQ(c->nzones, 2);
    ASSERT_EQ(c->zones[0].route.regions[0], 1);
    ASSERT_EQ(c->zones[0].match.asn[0], 1);
    conf_free(c);
}

TEST(conf_zones_name_errors)
{
    const char *e = load_err(BASE "zones:\n"                         /* 10 */
                                  "  - name: a.b\n"                  /* 11 */
                                  "    match: {cidr: 10.0.0.0/8}\n"  /* 12 */
                                  "    route: {regions: [cn]}\n"     /* 13 */
                                  "  - name: x\n"                    /* 14 */
                                  "    match: {cidr: 10.0.0.0/8}\n"  /* 15 */
                                  "    route: {regions: [cn]}\n"     /* 16 */
                                  "  - name: x\n"                    /* 17 */
                                  "    match: {cidr: 10.0.0.0/8}\n"  /* 18 */
                                  "    route: {regions: [cn]}\n"     /* 19 */
                                  "  - name: catchall\n"             /* 20 */
                                  "    route: {regions: [cn]}\n"     /* 21 */
                                  "  - {match: {cidr: 1.0.0.0/8}}\n" /* 22 */
                                  "  - name: default\n"              /* 23 */
                                  "    match: {country: CN}\n"       /* 24 */
                                  "    route: {regions: [cn]}\n"     /* 25 */
                                  "  - just-a-name\n"                /* 26 */
                                  "  - {name: y, match: {cidr: 1.0.0.0/8}, route: {regions: [cn]}, "
                                  "colour: red}\n"); /* 27 */

    ASSERT_STR_EQ(e, "t.yaml:11:11: zones[0].name: invalid zone name 'a.b': use 1 to 63 "
                     "characters from A-Z a-z 0-9 _ -\n"
                     "t.yaml:17:11: zones[2]: duplicate zone name 'x' (first at line 14, column "
                     "11)\n"
                     "t.yaml:20:5: zones[3]: zone 'catchall' has no match; only the zone named "
                     "default may leave it out\n"
                     "t.yaml:22:5: zones[4]: missing required key 'name'\n"
                     "t.yaml:22:5: zones[4]: missing required key 'route'\n"
                     "t.yaml:23:11: zones[5]: the default zone must be the last zone\n"
                     "t.yaml:24:12: zones[5]: the default zone takes no match: it catches every "
                     "client no other zone takes\n"
                     "t.yaml:26:5: zones[6]: expected a zone {name, match, route}, got a string\n"
                     "t.yaml:27:65: zones[7]: unknown key 'colour'; expected one of: name, match, "
                     "route");

    e = load_err(BASE "zones: {name: a}\n");
    ASSERT_STR_EQ(e, "t.yaml:10:8: zones: expected a list of zones, got a mapping");
}

TEST(conf_zones_route_errors)
{
    const char *e = load_err(BASE "zones:\n"                                            /* 10 */
                                  "  - name: a\n"                                       /* 11 */
                                  "    match: {cidr: 10.0.0.0/8}\n"                     /* 12 */
                                  "    route:\n"                                        /* 13 */
                                  "      regions: [cn, eu, cn]\n"                       /* 14 */
                                  "      fallback: [hk, cn, mars]\n"                    /* 15 */
                                  "      bias: {us: 10ms, eu: 1ms, hk: 2h, cn: -5ms}\n" /* 16 */
                                  "  - name: b\n"                                       /* 17 */
                                  "    match: {cidr: 10.0.0.0/8}\n"                     /* 18 */
                                  "    route: {regions: [], fallback: []}\n"            /* 19 */
                                  "  - name: c\n"                                       /* 20 */
                                  "    match: {cidr: 10.0.0.0/8}\n"                     /* 21 */
                                  "    route: {regions: hk, fallback: hk, bias: [1]}\n" /* 22 */
                                  "  - name: d\n"                                       /* 23 */
                                  "    match: {cidr: 10.0.0.0/8}\n"                     /* 24 */
                                  "    route: {fallback: reject, weight: 1}\n");        /* 25 */

    ASSERT_STR_EQ(e, "t.yaml:14:21: zones[0].route.regions[1]: unknown region 'eu'; regions "
                     "are: cn, hk, us\n"
                     "t.yaml:14:25: zones[0].route.regions[2]: region 'cn' is listed twice\n"
                     "t.yaml:15:22: zones[0].route.fallback[1]: region 'cn' is already allowed "
                     "in regions\n"
                     "t.yaml:15:26: zones[0].route.fallback[2]: unknown region 'mars'; regions "
                     "are: cn, hk, us\n"
                     "t.yaml:16:14: zones[0].route.bias: region 'us' is neither in regions nor "
                     "in fallback of this zone\n"
                     "t.yaml:16:24: zones[0].route.bias: unknown region 'eu'; regions are: cn, "
                     "hk, us\n"
                     "t.yaml:16:37: zones[0].route.bias.hk: '2h' is out of range: must be "
                     "between 0ms and 1h\n"
                     "t.yaml:16:45: zones[0].route.bias.cn: invalid duration '-5ms': durations "
                     "cannot be negative\n"
                     "t.yaml:19:22: zones[1].route.regions: at least one region is required\n"
                     "t.yaml:19:36: zones[1].route.fallback: empty list; write reject to answer "
                     "503, or name fallback regions\n"
                     "t.yaml:22:36: zones[2].route.fallback: region 'hk' is already allowed in "
                     "regions\n"
                     "t.yaml:22:46: zones[2].route.bias: expected a mapping of region names to "
                     "durations, got a list\n"
                     "t.yaml:25:12: zones[3].route: missing required key 'regions'\n"
                     "t.yaml:25:31: zones[3].route: unknown key 'weight'; expected one of: "
                     "regions, bias, fallback, classes");
}

TEST(conf_zones_match_errors)
{
    const char *e = load_err(BASE "zones:\n"                                   /* 10 */
                                  "  - name: a\n"                              /* 11 */
                                  "    match:\n"                               /* 12 */
                                  "      country: []\n"                        /* 13 */
                                  "      subdivision: {CN: GD}\n"              /* 14 */
                                  "      asn: [0, 4294967296, AS, 12x, [1]]\n" /* 15 */
                                  "      cidr: [~]\n"                          /* 16 */
                                  "      continent:\n"                         /* 17 */
                                  "      city: [Shenzhen]\n"                   /* 18 */
                                  "    route: {regions: [cn]}\n"               /* 19 */
                                  "  - name: b\n"                              /* 20 */
                                  "    match: {}\n"                            /* 21 */
                                  "    route: {regions: [cn]}\n");             /* 22 */

    ASSERT_STR_EQ(e, "t.yaml:13:16: zones[0].match.country: empty list; leave the key out "
                     "instead\n"
                     "t.yaml:14:20: zones[0].match.subdivision: expected a value or a list of "
                     "them, got a mapping\n"
                     "t.yaml:15:13: zones[0].match.asn[0]: invalid AS number '0': AS0 is "
                     "reserved (it means \"unknown\")\n"
                     "t.yaml:15:16: zones[0].match.asn[1]: invalid AS number '4294967296': AS "
                     "numbers are at most 4294967295\n"
                     "t.yaml:15:28: zones[0].match.asn[2]: invalid AS number 'AS': expected an "
                     "AS number, such as 4134 or AS4134\n"
                     "t.yaml:15:32: zones[0].match.asn[3]: invalid AS number '12x': expected an "
                     "AS number, such as 4134 or AS4134\n"
                     "t.yaml:15:37: zones[0].match.asn[4]: expected a single value, got a list\n"
                     "t.yaml:16:14: zones[0].match.cidr[0]: missing value\n"
                     "t.yaml:17:7: zones[0].match.continent: missing value\n"
                     "t.yaml:18:7: zones[0].match: unknown key 'city'; expected one of: country, "
                     "subdivision, continent, asn, cidr\n"
                     "t.yaml:21:12: zones[1].match: empty match; a zone for every client is the "
                     "default zone: name it default and leave match out");
}

TEST(conf_zones_need_database)
{
    const char *e = load_err("listen: 127.0.0.1:1\n"
                             "regions: {cn: {backends: [1.1.1.1:1]}}\n"
                             "zones:\n"
                             "  - name: a\n"                                           /* 4 */
                             "    match: {country: CN, asn: 4134, cidr: 10.0.0.0/8}\n" /* 5 */
                             "    route: {regions: cn}\n");

    ASSERT_STR_EQ(e, "t.yaml:5:22: zones[0].match.country: matching on country needs a geo "
                     "database, and geo.databases is empty\n"
                     "t.yaml:5:31: zones[0].match.asn: matching on asn needs a geo database, and "
                     "geo.databases is empty");

    /* A City database has no ASN; a flat one has no subdivision or continent. */
    e = load_err("listen: 127.0.0.1:1\n"
                 "regions: {cn: {backends: [1.1.1.1:1]}}\n"
                 "geo: {databases: [{path: a, schema: flat}, {path: b, schema: custom, fields: "
                 "{continent: c.code}}]}\n"
                 "zones:\n"
                 "  - name: a\n"                                                         /* 5 */
                 "    match: {country: CN, subdivision: CN-GD, continent: AS, asn: 1}\n" /* 6 */
                 "    route: {regions: cn}\n");
    ASSERT_STR_EQ(e, "t.yaml:6:39: zones[0].match.subdivision: no database in geo.databases "
                     "provides subdivision, so this zone could never match\n"
                     "t.yaml:6:66: zones[0].match.asn: no database in geo.databases provides "
                     "asn, so this zone could never match");
}

TEST(conf_zones_classes)
{
    struct conf *c = load_ok(BASE "zones:\n"
                                  "  - name: a\n"
                                  "    match: {cidr: 10.0.0.0/8}\n"
                                  "    route:\n"
                                  "      regions: [cn, hk]\n"
                                  "      classes:\n"
                                  "        - {name: bulk, path_prefix: [/photos/, /video/]}\n"
                                  "        - {name: upload, path_prefix: /, method: [PUT, POST]}\n"
                                  "  - name: default\n"
                                  "    route: {regions: [us]}\n");
    const struct conf_route *r = &c->zones[0].route;

    ASSERT_EQ(r->nclasses, 2);
    ASSERT_STR_EQ(r->classes[0].name, "bulk");
    ASSERT_EQ(r->classes[0].nprefix, 2);
    ASSERT_STR_EQ(r->classes[0].prefix[1], "/video/");
    ASSERT_EQ(r->classes[0].prefix_len[1], 7);
    ASSERT_EQ(r->classes[0].nmethod, 0);
    ASSERT_EQ(r->classes[1].nprefix, 1);
    ASSERT_STR_EQ(r->classes[1].method[1], "POST");
    /* Routes: a's other requests, bulk, upload; then default's one. */
    ASSERT_EQ(c->nroutes, 4);
    ASSERT_EQ(c->zones[0].route_first, 0);
    ASSERT_EQ(c->zones[1].route_first, 3);
    conf_free(c);

    const char *e = load_err(BASE "zones:\n"                                            /* 10 */
                                  "  - name: a\n"                                       /* 11 */
                                  "    match: {cidr: 10.0.0.0/8}\n"                     /* 12 */
                                  "    route:\n"                                        /* 13 */
                                  "      regions: [cn]\n"                               /* 14 */
                                  "      classes:\n"                                    /* 15 */
                                  "        - {name: bulk, path_prefix: photos}\n"       /* 16 */
                                  "        - {name: bulk, path_prefix: /x}\n"           /* 17 */
                                  "        - {name: up, path_prefix: /, method: put}\n" /* 18 */
                                  "        - {path_prefix: /y}\n"                       /* 19 */
                                  "        - /z\n"                                      /* 20 */
                                  "  - name: b\n"                                       /* 21 */
                                  "    match: {cidr: 10.0.0.0/8}\n"                     /* 22 */
                                  "    route: {regions: [cn], classes: []}\n");         /* 23 */
    ASSERT_STR_EQ(e, "t.yaml:16:37: zones[0].route.classes[0].path_prefix: invalid path prefix "
                     "'photos': a path prefix starts with /\n"
                     "t.yaml:17:18: zones[0].route.classes[1]: class 'bulk' is listed twice\n"
                     "t.yaml:18:46: zones[0].route.classes[2].method: invalid method 'put': write "
                     "the method in capitals, e.g. GET\n"
                     "t.yaml:19:11: zones[0].route.classes[3]: missing required key 'name'\n"
                     "t.yaml:20:11: zones[0].route.classes[4]: expected a class {name, "
                     "path_prefix, method}, got a string\n"
                     "t.yaml:23:37: zones[1].route.classes: a zone has 1 to 8 classes; leave the "
                     "key out for none");
}
