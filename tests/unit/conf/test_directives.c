/*
 * Unit tests of the sections of conf/directives.c and conf/validate.c added
 * for issues 3-6: listeners, trusted networks, geo, routing, probes, passive
 * health, backend kinds, admin and dns.
 */
#include "tests/unit/test.h"
#include "conf/conf-int.h"
#include "tests/unit/conf/list.h"
#include "tests/unit/conf/load.h"

/* Prototypes for the TEST() definitions below (-Wmissing-prototypes). */
#define CONF_TEST_DECLARE(name) void test_##name(void);
CONF_TESTS(CONF_TEST_DECLARE)

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define load_ok conf_test_load_ok
#define load_err conf_test_load_err

/* Four lines; sections added after it start on line 5. */
#define MINIMAL "listen: 127.0.0.1:8080\nregions:\n  cn:\n    backends: [127.0.0.1:9001]\n"

TEST(conf_new_defaults)
{
    struct conf *c = load_ok(MINIMAL);
    const struct conf_region *r = &c->regions[0];
    const struct conf_probe *p = &r->probe;

    ASSERT_EQ(c->nlisten, 1);
    ASSERT_NOT_NULL(c->listeners);
    ASSERT_STR_EQ(c->listeners[0].addr.text, "127.0.0.1:8080");
    ASSERT_EQ(c->listeners[0].proxy_protocol, 0);
    ASSERT_EQ(c->listeners[0].pos.line, 1);
    ASSERT_EQ(c->listeners[0].pos.col, 9);

    ASSERT_EQ(c->trusted_proxies.ncidrs, 0);
    ASSERT_NULL(c->trusted_proxies.cidrs);
    ASSERT_EQ(c->debug_clients.ncidrs, 0);
    ASSERT_STR_EQ(c->explain_header, "X-Georoute");

    ASSERT_EQ(c->geo.ndbs, 0);
    ASSERT_EQ(c->geo.reload_interval_ms, 60000);
    ASSERT_NULL(c->geo.headers.country);
    ASSERT_NULL(c->geo.headers.subdivision);
    ASSERT_NULL(c->geo.headers.continent);
    ASSERT_NULL(c->geo.headers.asn);
    ASSERT_NULL(c->geo.headers.zone);
    ASSERT_NULL(c->geo.headers.region);

    ASSERT_EQ(c->routing.min_gain_ms, 10);
    ASSERT_EQ(c->routing.min_gain_pct, 10);
    ASSERT_EQ(c->routing.switch_evidence, 100);
    ASSERT_EQ(c->routing.rtt_half_life_ms, 250);
    ASSERT_EQ(c->routing.slow_start_ms, 10000);
    ASSERT_EQ(c->routing.retry_budget_pct, 20);
    ASSERT_EQ(c->routing.failure_penalty_ms, 1000);

    ASSERT_EQ(r->min_healthy, 1);
    ASSERT_EQ(r->pos.line, 3);
    ASSERT_EQ(r->pos.col, 3);
    ASSERT_EQ(p->type, CONF_PROBE_HTTP);
    ASSERT_STR_EQ(p->path, "/");
    ASSERT_NULL(p->host);
    ASSERT_EQ(p->expect_lo, 200);
    ASSERT_EQ(p->expect_hi, 399);
    ASSERT_EQ(p->interval_ms, 1000);
    ASSERT_EQ(p->fastinter_ms, 250);
    ASSERT_EQ(p->downinter_ms, 1000);
    ASSERT_EQ(p->jitter_pct, 10);
    ASSERT_EQ(p->timeout_ms, 5000);
    ASSERT_EQ(p->rise, 2);
    ASSERT_EQ(p->fall, 3);
    ASSERT_EQ(r->passive.consecutive_failures, 5);
    ASSERT_EQ(r->passive.ejection_time_ms, 10000);
    ASSERT_EQ(r->passive.max_ejection_time_ms, 300000);
    ASSERT_EQ(r->passive.max_ejected_pct, 50);
    ASSERT_EQ(r->passive.count_5xx, 0);

    /* A backend without overrides carries the region's probe, strings copied. */
    ASSERT_EQ(r->backends[0].kind, CONF_BACKEND_ADDR);
    ASSERT_NULL(r->backends[0].host);
    ASSERT_EQ(r->backends[0].port, 9001);
    ASSERT_EQ(r->backends[0].pos.line, 4);
    ASSERT_EQ(r->backends[0].pos.col, 16);
    ASSERT_STR_EQ(r->backends[0].probe.path, "/");
    ASSERT(r->backends[0].probe.path != p->path);
    ASSERT_EQ(r->backends[0].probe.timeout_ms, 5000);
    ASSERT_EQ(r->backends[0].probe.rise, 2);

    ASSERT_EQ(c->admin.enabled, 1);
    ASSERT_STR_EQ(c->admin.addr.text, "127.0.0.1:9901");
    ASSERT_NULL(c->admin.token);

    ASSERT_EQ(c->dns.nservers, 0);
    ASSERT_EQ(c->dns.min_ttl_ms, 1000);
    ASSERT_EQ(c->dns.max_ttl_ms, 300000);
    ASSERT_EQ(c->dns.family, CONF_DNS_ANY);
    ASSERT_EQ(c->dns.timeout_ms, 1000);
    ASSERT_EQ(c->dns.retry_max_ms, 30000);

    /* No zones: one implicit default zone over every region. */
    ASSERT_EQ(c->nzones, 1);
    ASSERT_STR_EQ(c->zones[0].name, "default");
    ASSERT_EQ(c->zones[0].implicit, 1);
    conf_free(c);
}

TEST(conf_listen_proxy_protocol)
{
    struct conf *c = load_ok("listen:\n"
                             "  - 127.0.0.1:8080\n"
                             "  - {addr: \"127.0.0.1:8443\", proxy_protocol: true}\n"
                             "  - addr: \"[::1]:8443\"\n"
                             "    proxy_protocol: off\n"
                             "trusted_proxies: 127.0.0.1/32\n"
                             "regions: {a: {backends: [1.1.1.1:1]}}\n");

    ASSERT_EQ(c->nlisten, 3);
    ASSERT_STR_EQ(c->listen[1].text, "127.0.0.1:8443");
    ASSERT_STR_EQ(c->listeners[1].addr.text, "127.0.0.1:8443");
    ASSERT_EQ(c->listeners[0].proxy_protocol, 0);
    ASSERT_EQ(c->listeners[1].proxy_protocol, 1);
    ASSERT_EQ(c->listeners[2].proxy_protocol, 0);
    ASSERT_STR_EQ(c->listen[2].text, "[::1]:8443");
    ASSERT_EQ(c->listeners[2].pos.line, 4);
    ASSERT_EQ(c->listeners[2].pos.col, 5);
    conf_free(c);

    c = load_ok("listen: {addr: 0.0.0.0:80, proxy_protocol: yes}\n"
                "trusted_proxies: [10.0.0.0/8]\n"
                "regions: {a: {backends: [1.1.1.1:1]}}\n");
    ASSERT_EQ(c->nlisten, 1);
    ASSERT_STR_EQ(c->listen[0].text, "0.0.0.0:80");
    ASSERT_EQ(c->listeners[0].proxy_protocol, 1);
    conf_free(c);
}

TEST(conf_listen_proxy_protocol_errors)
{
    const char *e = load_err("listen:\n"
                             "  - {addr: \"127.0.0.1:8443\", proxy_protocol: true}\n" /* 2 */
                             "  - {addr: \"127.0.0.1:8443\"}\n"                       /* 3 */
                             "  - {addr: 127.0.0.1:1, proxy_protocol: maybe}\n"       /* 4 */
                             "  - {proxy_protocol: true}\n"                           /* 5 */
                             "regions: {a: {backends: [1.1.1.1:1]}}\n");

    ASSERT_STR_EQ(e, "t.yaml:2:46: listen[0].proxy_protocol: proxy_protocol: true reads the PROXY "
                     "header from trusted_proxies, and that list is empty; name the balancers "
                     "with proxy_protocol: {from: [networks]}\n"
                     "t.yaml:3:5: listen[1]: duplicate listen address '127.0.0.1:8443' (first "
                     "at line 2, column 5)\n"
                     "t.yaml:4:41: listen[2].proxy_protocol: invalid value 'maybe': expected "
                     "true or false\n"
                     "t.yaml:5:5: listen[3]: missing required key 'addr'\n"
                     "t.yaml:5:22: listen[3].proxy_protocol: proxy_protocol: true reads the "
                     "PROXY header from trusted_proxies, and that list is empty; name the "
                     "balancers with proxy_protocol: {from: [networks]}");
}

TEST(conf_listen_proxy_protocol_from)
{
    struct conf *c = load_ok("listen:\n"
                             "  - {addr: 127.0.0.1:1, proxy_protocol: {from: [10.0.0.0/8]}}\n"
                             "  - {addr: 127.0.0.1:2, proxy_protocol: true}\n"
                             "  - 127.0.0.1:3\n"
                             "trusted_proxies: [192.168.0.0/16]\n"
                             "regions: {a: {backends: [1.1.1.1:1]}}\n");
    ASSERT_PTR_EQ(conf_proxy_from(c, &c->listeners[0]), &c->listeners[0].proxy_from);
    ASSERT_EQ(c->listeners[0].proxy_from.ncidrs, 1);
    ASSERT_PTR_EQ(conf_proxy_from(c, &c->listeners[1]), &c->trusted_proxies);
    ASSERT_PTR_EQ(conf_proxy_from(c, &c->listeners[2]), NULL);
    conf_free(c);

    const char *e = load_err("listen:\n"
                             "  - {addr: 127.0.0.1:1, proxy_protocol: {from: []}}\n"
                             "  - {addr: 127.0.0.1:2, proxy_protocol: {form: [10.0.0.0/8]}}\n"
                             "regions: {a: {backends: [1.1.1.1:1]}}\n");
    ASSERT(strstr(e, "listen[0].proxy_protocol: from: name the networks") != NULL);
    ASSERT(strstr(e, "unknown key 'form'") != NULL);
}

/* Builds an AF_INET or AF_INET6 sockaddr for TEXT into SS. */
static const struct sockaddr *sa(struct sockaddr_storage *ss, const char *text)
{
    memset(ss, 0, sizeof(*ss));
    if (strchr(text, ':') != NULL) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        ASSERT_EQ(inet_pton(AF_INET6, text, &s6->sin6_addr), 1);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        s4->sin_family = AF_INET;
        ASSERT_EQ(inet_pton(AF_INET, text, &s4->sin_addr), 1);
    }
    return (const struct sockaddr *)ss;
}

TEST(conf_trusted_proxies)
{
    struct conf *c = load_ok(MINIMAL "trusted_proxies:\n"              /* 5 */
                                     "  - 127.0.0.1/32\n"              /* 6 */
                                     "  - \"10.1.2.3/8\"\n"            /* 7 */
                                     "  - \"::1/128\"\n"               /* 8 */
                                     "  - 192.168.1.7\n"               /* 9 */
                                     "  - \"::ffff:172.16.0.0/108\"\n" /* 10 */
                                     "  - \"2001:db8::/32\"\n"         /* 11 */
                                     "debug_clients: 127.0.0.0/8\n");  /* 12 */
    const struct conf_cidr_list *t = &c->trusted_proxies;
    struct sockaddr_storage ss;

    ASSERT_EQ(t->ncidrs, 6);
    ASSERT_STR_EQ(t->cidrs[0].text, "127.0.0.1/32");
    ASSERT_EQ(t->cidrs[0].family, AF_INET);
    ASSERT_EQ(t->cidrs[0].prefix, 32);
    ASSERT_STR_EQ(t->cidrs[1].text, "10.0.0.0/8"); /* host bits masked */
    ASSERT_EQ(t->cidrs[1].addr[1], 0);
    ASSERT_EQ(t->cidrs[1].pos.line, 7);
    ASSERT_EQ(t->cidrs[1].pos.col, 5);
    ASSERT_STR_EQ(t->cidrs[2].text, "::1/128");
    ASSERT_EQ(t->cidrs[2].family, AF_INET6);
    ASSERT_STR_EQ(t->cidrs[3].text, "192.168.1.7/32");
    ASSERT_STR_EQ(t->cidrs[4].text, "172.16.0.0/12"); /* IPv4-mapped stored as IPv4 */
    ASSERT_EQ(t->cidrs[4].family, AF_INET);
    ASSERT_STR_EQ(t->cidrs[5].text, "2001:db8::/32");
    ASSERT_EQ(c->debug_clients.ncidrs, 1);
    ASSERT_STR_EQ(c->debug_clients.cidrs[0].text, "127.0.0.0/8");

    ASSERT_EQ(conf_cidr_list_match(t, sa(&ss, "127.0.0.1")), 1);
    ASSERT_EQ(conf_cidr_list_match(t, sa(&ss, "127.0.0.2")), 0);
    ASSERT_EQ(conf_cidr_list_match(t, sa(&ss, "10.255.0.1")), 1);
    ASSERT_EQ(conf_cidr_list_match(t, sa(&ss, "11.0.0.1")), 0);
    ASSERT_EQ(conf_cidr_list_match(t, sa(&ss, "172.31.255.255")), 1);
    ASSERT_EQ(conf_cidr_list_match(t, sa(&ss, "172.32.0.0")), 0);
    ASSERT_EQ(conf_cidr_list_match(t, sa(&ss, "::1")), 1);
    ASSERT_EQ(conf_cidr_list_match(t, sa(&ss, "::2")), 0);
    ASSERT_EQ(conf_cidr_list_match(t, sa(&ss, "2001:db8:ffff::1")), 1);
    ASSERT_EQ(conf_cidr_list_match(t, sa(&ss, "2001:db9::1")), 0);
    /* Dual-stack listeners report IPv4 peers mapped: they match as IPv4. */
    ASSERT_EQ(conf_cidr_list_match(t, sa(&ss, "::ffff:10.9.8.7")), 1);
    ASSERT_EQ(conf_cidr_list_match(t, sa(&ss, "::ffff:11.9.8.7")), 0);
    ASSERT_EQ(conf_cidr_list_match(&c->debug_clients, sa(&ss, "127.200.0.1")), 1);
    ASSERT_EQ(conf_cidr_list_match(&c->debug_clients, sa(&ss, "::1")), 0);
    conf_free(c);

    /* Empty forms mean "trust nobody". */
    c = load_ok(MINIMAL "trusted_proxies: []\ndebug_clients:\n");
    ASSERT_EQ(c->trusted_proxies.ncidrs, 0);
    ASSERT_EQ(c->debug_clients.ncidrs, 0);
    ASSERT_EQ(conf_cidr_list_match(&c->trusted_proxies, sa(&ss, "127.0.0.1")), 0);
    conf_free(c);
}

TEST(conf_cidr_list_errors)
{
    const char *e = load_err(MINIMAL "trusted_proxies:\n"        /* 5 */
                                     "  - 10.0.0.0/33\n"         /* 6 */
                                     "  - \"::/129\"\n"          /* 7 */
                                     "  - 10.0.0.0/x\n"          /* 8 */
                                     "  - example.com\n"         /* 9 */
                                     "  - 10.0.0.0/8\n"          /* 10 */
                                     "  - 10.2.0.0/8\n"          /* 11 */
                                     "  - [1]\n"                 /* 12 */
                                     "  - /8\n"                  /* 13 */
                                     "debug_clients: {a: 1}\n"); /* 14 */

    ASSERT_STR_EQ(e, "t.yaml:6:5: trusted_proxies[0]: invalid network '10.0.0.0/33': an IPv4 "
                     "prefix length is at most 32\n"
                     "t.yaml:7:5: trusted_proxies[1]: invalid network '::/129': an IPv6 prefix "
                     "length is at most 128\n"
                     "t.yaml:8:5: trusted_proxies[2]: invalid network '10.0.0.0/x': the prefix "
                     "length after '/' must be a number\n"
                     "t.yaml:9:5: trusted_proxies[3]: invalid network 'example.com': not a valid "
                     "IP address or network\n"
                     "t.yaml:11:5: trusted_proxies[5]: duplicate network '10.0.0.0/8' (first at "
                     "line 10, column 5)\n"
                     "t.yaml:12:5: trusted_proxies[6]: expected a single value, got a list\n"
                     "t.yaml:13:5: trusted_proxies[7]: invalid network '/8': expected an address "
                     "or a network such as 10.0.0.0/8\n"
                     "t.yaml:14:16: debug_clients: expected a network or a list of networks, got "
                     "a mapping");
}

TEST(conf_explain_header)
{
    struct conf *c = load_ok(MINIMAL "explain_header: X-Route-Debug\n");
    const char *e;

    ASSERT_STR_EQ(c->explain_header, "X-Route-Debug");
    conf_free(c);

    e = load_err(MINIMAL "explain_header: \"X Route\"\n");
    ASSERT_STR_EQ(e, "t.yaml:5:17: explain_header: invalid header name 'X Route': a header name "
                     "may contain only letters, digits and !#$%&'*+-.^_`|~");
    e = load_err(MINIMAL "explain_header: content-length\n");
    ASSERT_STR_EQ(e, "t.yaml:5:17: explain_header: invalid header name 'content-length': this "
                     "header is used by HTTP or the proxy itself; choose another name");
    e = load_err(MINIMAL "explain_header: ''\n");
    ASSERT_STR_EQ(e, "t.yaml:5:17: explain_header: invalid header name '': empty header name");
}

TEST(conf_geo_section)
{
    struct conf *c = load_ok(MINIMAL "geo:\n"                                          /* 5 */
                                     "  databases:\n"                                  /* 6 */
                                     "    - path: /usr/share/GeoIP/GeoIP2-City.mmdb\n" /* 7 */
                                     "    - {path: asn.mmdb, schema: maxmind-asn}\n"   /* 8 */
                                     "    - {path: flat.mmdb, schema: flat}\n"         /* 9 */
                                     "    - path: custom.mmdb\n"                       /* 10 */
                                     "      schema: custom\n"                          /* 11 */
                                     "      fields:\n"                                 /* 12 */
                                     "        country: country_code\n"                 /* 13 */
                                     "        subdivision: subdivisions.0.iso_code\n"  /* 14 */
                                     "        asn: autonomous_system_number\n"         /* 15 */
                                     "  reload_interval: off\n"                        /* 16 */
                                     "  headers:\n"                                    /* 17 */
                                     "    country: X-Geo-Country\n"                    /* 18 */
                                     "    subdivision: X-Geo-Subdivision\n"
                                     "    continent: X-Geo-Continent\n"
                                     "    asn: X-Geo-ASN\n"
                                     "    zone: X-Georoute-Zone\n"
                                     "    region: X-Georoute-Region\n");
    const struct conf_geo *g = &c->geo;

    ASSERT_EQ(g->ndbs, 4);
    ASSERT_STR_EQ(g->dbs[0].path, "/usr/share/GeoIP/GeoIP2-City.mmdb");
    ASSERT_EQ(g->dbs[0].schema, CONF_GEO_SCHEMA_MAXMIND);
    ASSERT_EQ(g->dbs[0].pos.line, 7);
    ASSERT_EQ(g->dbs[0].pos.col, 7);
    for (size_t f = 0; f < CONF_GEO_FIELD_COUNT; f++)
        ASSERT_NULL(g->dbs[0].fields[f]);
    ASSERT_EQ(g->dbs[1].schema, CONF_GEO_SCHEMA_MAXMIND_ASN);
    ASSERT_EQ(g->dbs[2].schema, CONF_GEO_SCHEMA_FLAT);
    ASSERT_EQ(g->dbs[3].schema, CONF_GEO_SCHEMA_CUSTOM);
    ASSERT_STR_EQ(g->dbs[3].fields[CONF_GEO_FIELD_COUNTRY], "country_code");
    ASSERT_STR_EQ(g->dbs[3].fields[CONF_GEO_FIELD_SUBDIVISION], "subdivisions.0.iso_code");
    ASSERT_STR_EQ(g->dbs[3].fields[CONF_GEO_FIELD_ASN], "autonomous_system_number");
    ASSERT_NULL(g->dbs[3].fields[CONF_GEO_FIELD_CONTINENT]);
    ASSERT_EQ(g->dbs[3].field_pos[CONF_GEO_FIELD_SUBDIVISION].line, 14);
    ASSERT_EQ(g->dbs[3].field_pos[CONF_GEO_FIELD_SUBDIVISION].col, 22);
    ASSERT_EQ(g->reload_interval_ms, 0);
    ASSERT_STR_EQ(g->headers.country, "X-Geo-Country");
    ASSERT_STR_EQ(g->headers.subdivision, "X-Geo-Subdivision");
    ASSERT_STR_EQ(g->headers.continent, "X-Geo-Continent");
    ASSERT_STR_EQ(g->headers.asn, "X-Geo-ASN");
    ASSERT_STR_EQ(g->headers.zone, "X-Georoute-Zone");
    ASSERT_STR_EQ(g->headers.region, "X-Georoute-Region");

    ASSERT_STR_EQ(conf_geo_schema_name(CONF_GEO_SCHEMA_MAXMIND), "maxmind");
    ASSERT_STR_EQ(conf_geo_schema_name(CONF_GEO_SCHEMA_MAXMIND_ASN), "maxmind-asn");
    ASSERT_STR_EQ(conf_geo_schema_name(CONF_GEO_SCHEMA_FLAT), "flat");
    ASSERT_STR_EQ(conf_geo_schema_name(CONF_GEO_SCHEMA_CUSTOM), "custom");
    ASSERT_STR_EQ(conf_geo_field_name(CONF_GEO_FIELD_COUNTRY), "country");
    ASSERT_STR_EQ(conf_geo_field_name(CONF_GEO_FIELD_AS_ORG), "as_org");
    ASSERT_STR_EQ(conf_geo_field_name(CONF_GEO_FIELD_LONGITUDE), "longitude");
    ASSERT_NULL(conf_geo_field_name(CONF_GEO_FIELD_COUNT));
    conf_free(c);

    c = load_ok(MINIMAL "geo: {reload_interval: 5s, databases: []}\n");
    ASSERT_EQ(c->geo.reload_interval_ms, 5000);
    ASSERT_EQ(c->geo.ndbs, 0);
    conf_free(c);
}

TEST(conf_geo_errors)
{
    const char *e = load_err(MINIMAL "geo:\n"                                   /* 5 */
                                     "  databases:\n"                           /* 6 */
                                     "    - {path: a.mmdb, schema: maxmind2}\n" /* 7 */
                                     "    - {schema: flat}\n"                   /* 8 */
                                     "    - {path: b.mmdb, schema: custom}\n"   /* 9 */
                                     "    - {path: a.mmdb, fields: {asn: x}}\n" /* 10 */
                                     "  reload_interval: 0s\n"                  /* 11 */
                                     "  headers:\n"                             /* 12 */
                                     "    country: X-Geo\n"                     /* 13 */
                                     "    zone: x-geo\n"                        /* 14 */
                                     "    asn: Host\n"                          /* 15 */
                                     "    city: X-City\n");                     /* 16 */

    ASSERT_STR_EQ(e, "t.yaml:7:30: geo.databases[0].schema: invalid value 'maxmind2': expected "
                     "one of: maxmind, maxmind-asn, flat, custom\n"
                     "t.yaml:8:7: geo.databases[1]: missing required key 'path'\n"
                     "t.yaml:9:7: geo.databases[2]: schema custom needs fields (at least one "
                     "field path)\n"
                     "t.yaml:10:7: geo.databases[3]: duplicate database 'a.mmdb' (first at line "
                     "7, column 7)\n"
                     "t.yaml:10:30: geo.databases[3].fields: fields is only used with schema: "
                     "custom\n"
                     "t.yaml:11:20: geo.reload_interval: '0s' is out of range: use off to "
                     "disable, or a duration from 1s to 1d\n"
                     "t.yaml:14:11: geo.headers.zone: header 'x-geo' is already used for "
                     "country\n"
                     "t.yaml:15:10: geo.headers.asn: invalid header name 'Host': this header is "
                     "used by HTTP or the proxy itself; choose another name\n"
                     "t.yaml:16:5: geo.headers: unknown key 'city'; expected one of: country, "
                     "subdivision, continent, asn, zone, region");

    e = load_err(MINIMAL "geo:\n"
                         "  databases:\n"
                         "    - path: c.mmdb\n"                  /* 7 */
                         "      schema: custom\n"                /* 8 */
                         "      fields:\n"                       /* 9 */
                         "        country: .a\n"                 /* 10 */
                         "        asn: a..b\n"                   /* 11 */
                         "        latitude: a.b.c.d.e.f.g.h.i\n" /* 12 */
                         "        longitude: ''\n"               /* 13 */
                         "        as_org: [a]\n"                 /* 14 */
                         "        city: x\n");                   /* 15 */
    ASSERT_STR_EQ(e, "t.yaml:10:18: geo.databases[0].fields.country: invalid field path '.a': "
                     "expected keys and indexes separated by single dots, such as "
                     "subdivisions.0.iso_code\n"
                     "t.yaml:11:14: geo.databases[0].fields.asn: invalid field path 'a..b': "
                     "expected keys and indexes separated by single dots, such as "
                     "subdivisions.0.iso_code\n"
                     "t.yaml:12:19: geo.databases[0].fields.latitude: invalid field path "
                     "'a.b.c.d.e.f.g.h.i': more than 8 segments\n"
                     "t.yaml:13:20: geo.databases[0].fields.longitude: invalid field path '': "
                     "expected keys and indexes separated by single dots, such as "
                     "subdivisions.0.iso_code\n"
                     "t.yaml:14:17: geo.databases[0].fields.as_org: expected a single value, got "
                     "a list\n"
                     "t.yaml:15:9: geo.databases[0].fields: unknown key 'city'; expected one of: "
                     "country, subdivision, continent, asn, as_org, latitude, longitude");

    e = load_err(MINIMAL "geo: {databases: [{path: a, schema: custom, fields: {}}]}\n");
    ASSERT_STR_EQ(e, "t.yaml:5:53: geo.databases[0]: schema custom needs at least one field "
                     "path");
    e = load_err(MINIMAL "geo:\n  databases: [{path: a}, {path: b}, {path: c}, {path: d}, "
                         "{path: e}]\n");
    ASSERT_STR_EQ(e, "t.yaml:6:59: geo.databases: at most 4 databases");
    e = load_err(MINIMAL "geo:\n  databases: [a.mmdb]\n");
    ASSERT_STR_EQ(e, "t.yaml:6:15: geo.databases[0]: expected a mapping of keys, got a string");
    e = load_err(MINIMAL "geo:\n  databases: {path: a}\n");
    ASSERT_STR_EQ(e, "t.yaml:6:14: geo.databases: expected a list of databases, got a mapping");
}

TEST(conf_routing_section)
{
    struct conf *c = load_ok(MINIMAL "routing:\n"
                                     "  min_gain: 0ms\n"
                                     "  min_gain_pct: 25%\n"
                                     "  switch_evidence: 0\n"
                                     "  rtt_half_life: 2s\n"
                                     "  slow_start: off\n"
                                     "  retry_budget_pct: 100\n"
                                     "  failure_penalty: 250ms\n");
    const char *e;

    ASSERT_EQ(c->routing.min_gain_ms, 0);
    ASSERT_EQ(c->routing.min_gain_pct, 25);
    ASSERT_EQ(c->routing.switch_evidence, 0);
    ASSERT_EQ(c->routing.rtt_half_life_ms, 2000);
    ASSERT_EQ(c->routing.slow_start_ms, 0);
    ASSERT_EQ(c->routing.retry_budget_pct, 100);
    ASSERT_EQ(c->routing.failure_penalty_ms, 250);
    conf_free(c);

    c = load_ok(MINIMAL "routing: {slow_start: 30s, retry_budget_pct: 0}\n");
    ASSERT_EQ(c->routing.slow_start_ms, 30000);
    ASSERT_EQ(c->routing.retry_budget_pct, 0);
    conf_free(c);

    e = load_err(MINIMAL "routing:\n"                  /* 5 */
                         "  min_gain: 2h\n"            /* 6 */
                         "  min_gain_pct: 101\n"       /* 7 */
                         "  switch_evidence: 5ms\n"    /* 8 */
                         "  rtt_half_life: 0s\n"       /* 9 */
                         "  slow_start: 0s\n"          /* 10 */
                         "  retry_budget_pct: 10.5%\n" /* 11 */
                         "  failure_penalty: 2m\n");   /* 12 */
    ASSERT_STR_EQ(e, "t.yaml:6:13: routing.min_gain: '2h' is out of range: must be between 0ms "
                     "and 1h\n"
                     "t.yaml:7:17: routing.min_gain_pct: '101' is out of range: must be between 0 "
                     "and 100\n"
                     "t.yaml:8:20: routing.switch_evidence: invalid number '5ms': expected a "
                     "whole number\n"
                     "t.yaml:9:18: routing.rtt_half_life: '0s' is out of range: must be between "
                     "100ms and 1h\n"
                     "t.yaml:10:15: routing.slow_start: '0s' is out of range: use off to disable, "
                     "or a duration from 1ms to 1h\n"
                     "t.yaml:11:21: routing.retry_budget_pct: invalid percentage '10.5%': "
                     "expected a whole percentage, such as 10 or 10%\n"
                     "t.yaml:12:20: routing.failure_penalty: '2m' is out of range: must be "
                     "between 0ms and 1m");
}

TEST(conf_probe_section)
{
    struct conf *c = load_ok("listen: 127.0.0.1:1\n"
                             "regions:\n"
                             "  cn:\n"
                             "    min_healthy: 2\n"
                             "    probe:\n"
                             "      type: http\n"
                             "      path: /healthz?deep=1\n"
                             "      host: health.internal\n"
                             "      expect: 200\n"
                             "      interval: 2s\n"
                             "      jitter: 0%\n"
                             "      rise: 1\n"
                             "      fall: 100\n"
                             "    backends:\n"
                             "      - 10.0.0.1:80\n"
                             "      - {addr: 10.0.0.2:80, probe: {path: /ping, interval: 200ms}}\n"
                             "      - {addr: 10.0.0.3:80, probe: {type: tcp, timeout: 1s}}\n"
                             "      - {addr: 10.0.0.4:80, probe: {host: '', expect: 204-204, "
                             "fastinter: 100ms, downinter: 10s}}\n"
                             "  us:\n"
                             "    probe: {interval: 100ms}\n"
                             "    backends: [10.1.0.1:80]\n");
    const struct conf_region *cn = &c->regions[0], *us = &c->regions[1];
    const struct conf_probe *p = &cn->probe, *b;

    ASSERT_EQ(cn->min_healthy, 2);
    ASSERT_EQ(p->type, CONF_PROBE_HTTP);
    ASSERT_STR_EQ(p->path, "/healthz?deep=1");
    ASSERT_STR_EQ(p->host, "health.internal");
    ASSERT_EQ(p->expect_lo, 200);
    ASSERT_EQ(p->expect_hi, 200);
    ASSERT_EQ(p->interval_ms, 2000);
    ASSERT_EQ(p->fastinter_ms, 250);
    ASSERT_EQ(p->downinter_ms, 2000);
    ASSERT_EQ(p->timeout_ms, 5000);
    ASSERT_EQ(p->jitter_pct, 0);
    ASSERT_EQ(p->rise, 1);
    ASSERT_EQ(p->fall, 100);

    b = &cn->backends[0].probe; /* the region's, copied */
    ASSERT_STR_EQ(b->path, "/healthz?deep=1");
    ASSERT_STR_EQ(b->host, "health.internal");
    ASSERT_EQ(b->interval_ms, 2000);
    ASSERT_EQ(b->downinter_ms, 2000);
    ASSERT_EQ(b->rise, 1);

    b = &cn->backends[1].probe; /* own path and interval; derived values from its interval */
    ASSERT_STR_EQ(b->path, "/ping");
    ASSERT_STR_EQ(b->host, "health.internal");
    ASSERT_EQ(b->expect_lo, 200);
    ASSERT_EQ(b->expect_hi, 200);
    ASSERT_EQ(b->interval_ms, 200);
    ASSERT_EQ(b->fastinter_ms, 200);
    ASSERT_EQ(b->downinter_ms, 200);
    ASSERT_EQ(b->timeout_ms, 5000); /* not derived from the interval */
    ASSERT_EQ(b->fall, 100);

    b = &cn->backends[2].probe;
    ASSERT_EQ(b->type, CONF_PROBE_TCP);
    ASSERT_EQ(b->timeout_ms, 1000);
    ASSERT_EQ(b->interval_ms, 2000);

    b = &cn->backends[3].probe; /* host "" = back to the default */
    ASSERT_NULL(b->host);
    ASSERT_EQ(b->expect_lo, 204);
    ASSERT_EQ(b->expect_hi, 204);
    ASSERT_EQ(b->fastinter_ms, 100);
    ASSERT_EQ(b->downinter_ms, 10000);

    ASSERT_EQ(us->probe.interval_ms, 100);
    ASSERT_EQ(us->probe.fastinter_ms, 100);
    ASSERT_EQ(us->probe.timeout_ms, 5000);
    ASSERT_STR_EQ(us->backends[0].probe.path, "/");
    ASSERT_EQ(us->backends[0].probe.timeout_ms, 5000);
    conf_free(c);
}

TEST(conf_probe_errors)
{
    const char *e = load_err("listen: 127.0.0.1:1\n"
                             "regions:\n"
                             "  cn:\n"
                             "    probe:\n"                                            /* 4 */
                             "      type: udp\n"                                       /* 5 */
                             "      path: healthz\n"                                   /* 6 */
                             "      expect: 200-100\n"                                 /* 7 */
                             "      jitter: 51\n"                                      /* 8 */
                             "      interval: 1s\n"                                    /* 9 */
                             "      timeout: 1s\n"                                     /* 10 */
                             "      rise: 0\n"                                         /* 11 */
                             "      fastinter: 5ms\n"                                  /* 12 */
                             "    backends:\n"                                         /* 13 */
                             "      - {addr: 10.0.0.1:80, probe: {interval: 800ms}}\n" /* 14 */
                             "      - {addr: 10.0.0.2:80, probe: {timeout: 3s}}\n"     /* 15 */
                             "      - {addr: 10.0.0.3:80, probe: {expect: 99}}\n"      /* 16 */
                             "  hk:\n"                                                 /* 17 */
                             "    probe: {type: tcp, path: /x, expect: 200}\n"         /* 18 */
                             "    backends:\n"                                         /* 19 */
                             "      - {addr: 10.0.0.1:80, probe: {host: \"a b\"}}\n"   /* 20 */
                             "      - {addr: 10.0.0.2:80, probe: [1]}\n");             /* 21 */

    ASSERT_STR_EQ(e, "t.yaml:5:13: regions.cn.probe.type: invalid value 'udp': expected one "
                     "of: http, tcp\n"
                     "t.yaml:6:13: regions.cn.probe.path: invalid path 'healthz': must start "
                     "with '/', with no spaces or control characters, at most 1024 characters\n"
                     "t.yaml:7:15: regions.cn.probe.expect: invalid status range '200-100': "
                     "the range's first status is greater than its last\n"
                     "t.yaml:8:15: regions.cn.probe.jitter: '51' is out of range: must be "
                     "between 0 and 50\n"

                     "t.yaml:11:13: regions.cn.probe.rise: '0' is out of range: must be between "
                     "1 and 100\n"
                     "t.yaml:12:18: regions.cn.probe.fastinter: '5ms' is out of range: must be "
                     "between 10ms and 1h\n"

                     "t.yaml:16:45: regions.cn.backends[2].probe.expect: invalid status range "
                     "'99': status codes are from 100 to 599\n"
                     "t.yaml:18:24: regions.hk.probe: path is only used by type: http probes\n"
                     "t.yaml:18:34: regions.hk.probe: expect is only used by type: http probes\n"
                     "t.yaml:20:37: regions.hk.backends[0].probe: host is only used by type: http "
                     "probes\n"
                     "t.yaml:20:43: regions.hk.backends[0].probe.host: invalid host 'a b': no "
                     "spaces or control characters, at most 255 characters\n"
                     "t.yaml:21:36: regions.hk.backends[1].probe: expected a mapping of keys, "
                     "got a list");
}

TEST(conf_passive_section)
{
    struct conf *c = load_ok(MINIMAL "    passive:\n"
                                     "      consecutive_failures: 1000\n"
                                     "      ejection_time: 1s\n"
                                     "      max_ejection_time: 1s\n"
                                     "      max_ejected_pct: 100%\n"
                                     "      count_5xx: true\n");
    const struct conf_passive *p = &c->regions[0].passive;
    const char *e;

    ASSERT_EQ(p->consecutive_failures, 1000);
    ASSERT_EQ(p->ejection_time_ms, 1000);
    ASSERT_EQ(p->max_ejection_time_ms, 1000);
    ASSERT_EQ(p->max_ejected_pct, 100);
    ASSERT_EQ(p->count_5xx, 1);
    conf_free(c);

    e = load_err(MINIMAL "    passive:\n"                  /* 5 */
                         "      consecutive_failures: 0\n" /* 6 */
                         "      ejection_time: 1m\n"       /* 7 */
                         "      max_ejection_time: 30s\n"  /* 8 */
                         "      max_ejected_pct: 101\n"    /* 9 */
                         "      count_5xx: sometimes\n");  /* 10 */
    ASSERT_STR_EQ(e, "t.yaml:6:29: regions.cn.passive.consecutive_failures: '0' is out of "
                     "range: must be between 1 and 1000\n"
                     "t.yaml:8:26: regions.cn.passive.max_ejection_time: max_ejection_time (30s) "
                     "is less than ejection_time (1m)\n"
                     "t.yaml:9:24: regions.cn.passive.max_ejected_pct: '101' is out of range: "
                     "must be between 0 and 100\n"
                     "t.yaml:10:18: regions.cn.passive.count_5xx: invalid value 'sometimes': "
                     "expected true or false");

    e = load_err(MINIMAL "    passive: {ejection_time: 10m}\n");
    ASSERT_STR_EQ(e, "t.yaml:5:30: regions.cn.passive.ejection_time: max_ejection_time (5m) is "
                     "less than ejection_time (10m)");
}

TEST(conf_backend_kinds)
{
    struct conf *c = load_ok("listen: 127.0.0.1:1\n"
                             "regions:\n"
                             "  cn:\n"
                             "    backends:\n"
                             "      - 127.0.0.1:9001\n"
                             "      - backend.cn.internal:8080\n"
                             "      - {addr: \"10.0.0.5:80\", weight: 2, probe: {path: /ping}}\n"
                             "      - {srv: \"_http._tcp.cn.service.consul\"}\n"
                             "      - {addr: localhost:81, weight: 3}\n"
                             "      - {srv: web.service.consul.}\n"
                             "      - \"[::1]:9001\"\n");
    const struct conf_region *r = &c->regions[0];

    ASSERT_EQ(r->nbackends, 7);
    ASSERT_EQ(r->backends[0].kind, CONF_BACKEND_ADDR);
    ASSERT_STR_EQ(r->backends[0].addr.text, "127.0.0.1:9001");
    ASSERT_EQ(r->backends[1].kind, CONF_BACKEND_NAME);
    ASSERT_STR_EQ(r->backends[1].host, "backend.cn.internal");
    ASSERT_EQ(r->backends[1].port, 8080);
    ASSERT_EQ(r->backends[1].addr.salen, 0);
    ASSERT_EQ(r->backends[1].weight, 1);
    ASSERT_EQ(r->backends[2].kind, CONF_BACKEND_ADDR);
    ASSERT_EQ(r->backends[2].weight, 2);
    ASSERT_EQ(r->backends[2].port, 80);
    ASSERT_STR_EQ(r->backends[2].probe.path, "/ping");
    ASSERT_EQ(r->backends[3].kind, CONF_BACKEND_SRV);
    ASSERT_STR_EQ(r->backends[3].host, "_http._tcp.cn.service.consul");
    ASSERT_EQ(r->backends[3].port, 0);
    ASSERT_EQ(r->backends[3].weight, 1);
    ASSERT_EQ(r->backends[3].addr.salen, 0);
    ASSERT_EQ(r->backends[4].kind, CONF_BACKEND_NAME);
    ASSERT_STR_EQ(r->backends[4].host, "localhost");
    ASSERT_EQ(r->backends[4].weight, 3);
    ASSERT_STR_EQ(r->backends[5].host, "web.service.consul.");
    ASSERT_EQ(r->backends[6].kind, CONF_BACKEND_ADDR);
    ASSERT_EQ(r->backends[6].port, 9001);
    conf_free(c);
}

TEST(conf_backend_kind_errors)
{
    const char *e = load_err("listen: 127.0.0.1:1\n"
                             "regions:\n"
                             "  cn:\n"
                             "    min_healthy: 3\n"                        /* 4 */
                             "    backends:\n"                             /* 5 */
                             "      - Backend.CN.internal:8080\n"          /* 6 */
                             "      - backend.cn.internal:8080\n"          /* 7 */
                             "      - {srv: _x._tcp.a, addr: 1.1.1.1:1}\n" /* 8 */
                             "      - {srv: _x._tcp.a, weight: 2}\n"       /* 9 */
                             "      - -bad.example:80\n"                   /* 10 */
                             "      - a..b:80\n"                           /* 11 */
                             "      - example.123:80\n"                    /* 12 */
                             "      - {srv: \"bad name\"}\n"               /* 13 */
                             "      - {srv: _x._tcp.A}\n"                  /* 14 */
                             "      - 256.0.0.1:80\n"                      /* 15 */
                             "  hk:\n"                                     /* 16 */
                             "    min_healthy: 3\n"                        /* 17 */
                             "    backends: [1.1.1.1:1, 1.1.1.2:1]\n");    /* 18 */

    ASSERT_STR_EQ(e, "t.yaml:7:9: regions.cn.backends[1]: duplicate backend "
                     "'backend.cn.internal:8080' (first at line 6, column 9)\n"
                     "t.yaml:8:15: regions.cn.backends[2]: give either addr or srv, not both\n"
                     "t.yaml:9:34: regions.cn.backends[3]: weight cannot be set with srv: the "
                     "SRV records' weights apply\n"
                     "t.yaml:10:9: regions.cn.backends[4]: invalid address '-bad.example:80': a "
                     "host name label cannot start with '-'\n"
                     "t.yaml:11:9: regions.cn.backends[5]: invalid address 'a..b:80': empty "
                     "label in host name (two dots, or a leading dot)\n"
                     "t.yaml:12:9: regions.cn.backends[6]: invalid address 'example.123:80': the "
                     "last label of a host name cannot be all digits\n"
                     "t.yaml:13:15: regions.cn.backends[7].srv: invalid SRV name 'bad name': a "
                     "name may contain only letters, digits, '-', '_' and '.'\n"
                     "t.yaml:14:9: regions.cn.backends[8]: duplicate backend '_x._tcp.A' (first "
                     "at line 9, column 9)\n"
                     "t.yaml:15:9: regions.cn.backends[9]: invalid address '256.0.0.1:80': not a "
                     "valid IPv4 address\n"
                     "t.yaml:17:18: regions.hk.min_healthy: 3 is more than the region's 2 "
                     "backends: it could never be healthy");
}

TEST(conf_admin_section)
{
    struct conf *c = load_ok(MINIMAL "admin:\n  listen: \"[::1]:9000\"\n");
    const char *e;

    ASSERT_EQ(c->admin.enabled, 1);
    ASSERT_STR_EQ(c->admin.addr.text, "[::1]:9000");
    ASSERT_NULL(c->admin.token);
    conf_free(c);

    c = load_ok(MINIMAL "admin: off\n");
    ASSERT_EQ(c->admin.enabled, 0);
    ASSERT_EQ(c->admin.addr.salen, 0);
    conf_free(c);

    c = load_ok(MINIMAL "admin: 127.0.0.2:9901\n");
    ASSERT_EQ(c->admin.enabled, 1);
    ASSERT_STR_EQ(c->admin.addr.text, "127.0.0.2:9901");
    conf_free(c);

    c = load_ok(MINIMAL "admin: {listen: 0.0.0.0:9901, token: \"s3cr3t/token=\"}\n");
    ASSERT_STR_EQ(c->admin.addr.text, "0.0.0.0:9901");
    ASSERT_STR_EQ(c->admin.token, "s3cr3t/token=");
    conf_free(c);

    c = load_ok(MINIMAL "admin: {token: abc}\n");
    ASSERT_STR_EQ(c->admin.addr.text, "127.0.0.1:9901");
    ASSERT_STR_EQ(c->admin.token, "abc");
    conf_free(c);

    e = load_err(MINIMAL "admin:\n  listen: 0.0.0.0:9901\n");
    ASSERT_STR_EQ(e, "t.yaml:6:11: admin.listen: 0.0.0.0:9901 is not a loopback address, so "
                     "admin.token is required (a bearer token for every admin request)");
    e = load_err(MINIMAL "admin: \"[::]:9901\"\n");
    ASSERT_STR_EQ(e, "t.yaml:5:8: admin.listen: [::]:9901 is not a loopback address, so "
                     "admin.token is required (a bearer token for every admin request)");
    e = load_err(MINIMAL "admin: {listen: 127.0.0.1:8080}\n");
    ASSERT_STR_EQ(e, "t.yaml:5:17: admin.listen: 127.0.0.1:8080 is also a public listen "
                     "address; the admin listener must be separate");
    e = load_err("listen: 127.0.0.1:9901\nregions: {a: {backends: [1.1.1.1:1]}}\n");
    ASSERT_STR_EQ(e, "t.yaml:1:9: admin.listen: 127.0.0.1:9901 is the default admin address; "
                     "move the listener or set admin.listen");
    e = load_err(MINIMAL "admin:\n  listen: nowhere\n  token: \"has space\"\n  port: 1\n");
    ASSERT_STR_EQ(e, "t.yaml:6:11: admin.listen: invalid address 'nowhere': missing :PORT\n"
                     "t.yaml:7:10: admin.token: invalid token: use 1 to 256 visible ASCII "
                     "characters, no spaces\n"
                     "t.yaml:8:3: admin: unknown key 'port'; expected one of: listen, token, "
                     "token_file, token_env, mode, max_connections");
}

TEST(conf_admin_unix_token_sources_and_cap)
{
    char tf[4096];
    struct conf *c;
    const char *e;
    FILE *f;

    c = load_ok(MINIMAL "admin: {listen: \"unix:/run/g/admin.sock\", mode: \"0660\"}\n");
    ASSERT_STR_EQ(c->admin.unix_path, "/run/g/admin.sock");
    ASSERT_EQ(c->admin.mode, 0660);
    ASSERT_EQ(c->admin.addr.salen, 0);
    ASSERT_EQ(c->admin.max_connections, 64);
    ASSERT_NULL(c->admin.token);
    conf_free(c);
    c = load_ok(MINIMAL "admin: {listen: \"unix:/a.sock\", max_connections: 3}\n");
    ASSERT_EQ(c->admin.mode, 0600);
    ASSERT_EQ(c->admin.max_connections, 3);
    conf_free(c);

    snprintf(tf, sizeof(tf), "%s/georoute-test-token-%d", test_tmpdir(), (int)getpid());
    f = fopen(tf, "w");
    ASSERT_NOT_NULL(f);
    fputs("fr0m-file \nsecond line\n", f);
    fclose(f);
    char text[4352];
    snprintf(text, sizeof(text), MINIMAL "admin: {listen: 0.0.0.0:9901, token_file: %s}\n", tf);
    c = load_ok(text);
    ASSERT_STR_EQ(c->admin.token, "fr0m-file");
    ASSERT_STR_EQ(c->admin.token_file, tf);
    conf_free(c);
    f = fopen(tf, "w");
    ASSERT_NOT_NULL(f);
    fputs("has a space\n", f);
    fclose(f);
    e = load_err(text);
    ASSERT_STR_CONTAINS(e, "invalid token in the token file");
    ASSERT(strstr(e, "has a space") == NULL); /* never quoted: a secret */
    unlink(tf);

    setenv("GEOROUTE_TEST_TOKEN", "fr0m-env", 1);
    c = load_ok(MINIMAL "admin: {token_env: GEOROUTE_TEST_TOKEN}\n");
    ASSERT_STR_EQ(c->admin.token, "fr0m-env");
    conf_free(c);
    unsetenv("GEOROUTE_TEST_TOKEN");
    e = load_err(MINIMAL "admin: {token_env: GEOROUTE_TEST_TOKEN}\n");
    ASSERT_STR_CONTAINS(e, "environment variable 'GEOROUTE_TEST_TOKEN' is not set");

    e = load_err(MINIMAL "admin: {token: a, token_env: HOME}\n");
    ASSERT_STR_CONTAINS(e, "admin.token and admin.token_env both give the token; keep one");
    e = load_err(MINIMAL "admin: {listen: 127.0.0.1:9902, mode: \"0600\"}\n");
    ASSERT_STR_CONTAINS(e, "admin.mode is the file mode of a unix socket");
    e = load_err(MINIMAL "admin: {listen: \"unix:/a\", mode: \"0800\"}\n");
    ASSERT_STR_CONTAINS(e, "invalid mode '0800'");
    e = load_err(MINIMAL "admin: \"unix:relative.sock\"\n");
    ASSERT_STR_CONTAINS(e, "use unix:/absolute/path");
    e = load_err(MINIMAL "admin: {max_connections: 0}\n");
    ASSERT_STR_CONTAINS(e, "admin.max_connections");
}

TEST(conf_dns_section)
{
    struct conf *c = load_ok(MINIMAL "dns:\n"
                                     "  servers: [\"127.0.0.1:5353\", 10.0.0.53, \"::1\", "
                                     "\"[2001:db8::53]:5300\"]\n"
                                     "  min_ttl: 100ms\n"
                                     "  max_ttl: 1h\n"
                                     "  family: prefer-ipv6\n"
                                     "  timeout: 250ms\n"
                                     "  retry_max: 1m\n");
    const char *e;

    ASSERT_EQ(c->dns.nservers, 4);
    ASSERT_STR_EQ(c->dns.servers[0].text, "127.0.0.1:5353");
    ASSERT_STR_EQ(c->dns.servers[1].text, "10.0.0.53:53");
    ASSERT_STR_EQ(c->dns.servers[2].text, "[::1]:53");
    ASSERT_STR_EQ(c->dns.servers[3].text, "[2001:db8::53]:5300");
    ASSERT_EQ(c->dns.min_ttl_ms, 100);
    ASSERT_EQ(c->dns.max_ttl_ms, 3600000);
    ASSERT_EQ(c->dns.family, CONF_DNS_PREFER_IPV6);
    ASSERT_EQ(c->dns.timeout_ms, 250);
    ASSERT_EQ(c->dns.retry_max_ms, 60000);
    conf_free(c);

    c = load_ok(MINIMAL "dns: {servers: 127.0.0.1, family: ipv4}\n");
    ASSERT_EQ(c->dns.nservers, 1);
    ASSERT_STR_EQ(c->dns.servers[0].text, "127.0.0.1:53");
    ASSERT_EQ(c->dns.family, CONF_DNS_IPV4);
    conf_free(c);

    e = load_err(MINIMAL "dns:\n"                                                 /* 5 */
                         "  servers: [ns1.example:53, 127.0.0.1, 127.0.0.1:53]\n" /* 6 */
                         "  min_ttl: 1h\n"                                        /* 7 */
                         "  max_ttl: 1m\n"                                        /* 8 */
                         "  family: both\n"                                       /* 9 */
                         "  timeout: 2m\n");                                      /* 10 */
    ASSERT_STR_EQ(e, "t.yaml:6:13: dns.servers[0]: invalid server 'ns1.example:53': must be a "
                     "numeric IP:port (host names are only allowed for backends)\n"
                     "t.yaml:6:40: dns.servers[2]: duplicate server '127.0.0.1:53' (first at "
                     "line 6, column 29)\n"
                     "t.yaml:8:12: dns.max_ttl: max_ttl (1m) is less than min_ttl (1h)\n"
                     "t.yaml:9:11: dns.family: invalid value 'both': expected one of: any, ipv4, "
                     "ipv6, prefer-ipv4, prefer-ipv6\n"
                     "t.yaml:10:12: dns.timeout: '2m' is out of range: must be between 10ms and "
                     "1m");
}
