/* Unit tests of the conf/ public API: conf_load_string/file, conf_region_find. */
#include "tests/unit/test.h"
#include "conf/conf-int.h"
#include "tests/unit/conf/list.h"

/* Prototypes for the TEST() definitions below (-Wmissing-prototypes). */
#define CONF_TEST_DECLARE(name) void test_##name(void);
CONF_TESTS(CONF_TEST_DECLARE)

#include <netinet/in.h>

static char err[16384];

#define MINIMAL "listen: 127.0.0.1:8080\nregions:\n  cn:\n    backends: [127.0.0.1:9001]\n"

/* Loads YAML as "t.yaml"; returns the conf (caller frees), failing the test on error. */
static struct conf *load_ok(const char *yaml)
{
    struct conf *c = (struct conf *)1;
    if (conf_load_string(yaml, strlen(yaml), "t.yaml", &c, err, sizeof(err)) != 0)
        TEST_FAIL_("load failed:\n%s", err);
    ASSERT_NOT_NULL(c);
    ASSERT_STR_EQ(err, "");
    return c;
}

/* Loads YAML expecting failure; returns the error text. */
static const char *load_err(const char *yaml)
{
    struct conf *c = (struct conf *)1;
    ASSERT_EQ(conf_load_string(yaml, strlen(yaml), "t.yaml", &c, err, sizeof(err)), -1);
    ASSERT_NULL(c);
    ASSERT(err[0] != '\0');
    return err;
}

static unsigned count_lines(const char *s)
{
    unsigned n = *s ? 1 : 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

TEST(conf_minimal_defaults)
{
    struct conf *c = load_ok(MINIMAL);

    ASSERT_STR_EQ(c->path, "t.yaml");
    ASSERT_EQ(c->nlisten, 1);
    ASSERT_STR_EQ(c->listen[0].text, "127.0.0.1:8080");
    ASSERT_EQ(c->workers, 0);
    ASSERT_EQ(c->nregions, 1);
    ASSERT_STR_EQ(c->regions[0].name, "cn");
    ASSERT_EQ(c->regions[0].nbackends, 1);
    ASSERT_STR_EQ(c->regions[0].backends[0].addr.text, "127.0.0.1:9001");
    ASSERT_EQ(c->regions[0].backends[0].weight, 1);

    ASSERT_EQ(c->timeouts.connect_ms, 2000);
    ASSERT_EQ(c->timeouts.client_header_ms, 10000);
    ASSERT_EQ(c->timeouts.client_body_ms, 30000);
    ASSERT_EQ(c->timeouts.client_keepalive_ms, 60000);
    ASSERT_EQ(c->timeouts.client_send_ms, 60000);
    ASSERT_EQ(c->timeouts.upstream_response_ms, 30000);
    ASSERT_EQ(c->timeouts.upstream_keepalive_ms, 30000);
    ASSERT_EQ(c->timeouts.tunnel_idle_ms, 3600000);
    ASSERT_EQ(c->timeouts.shutdown_drain_ms, 10000);
    ASSERT_EQ(c->timeouts.lame_duck_ms, 0);

    ASSERT_EQ(c->limits.max_client_connections, 10000);
    ASSERT_EQ(c->limits.max_header_bytes, 16384);
    ASSERT_EQ(c->limits.max_headers, 100);
    ASSERT_EQ(c->limits.max_body_bytes, 0);
    ASSERT_EQ(c->limits.max_keepalive_requests, 0);
    ASSERT_EQ(c->limits.upstream_pool_size, 64);
    ASSERT_EQ(c->limits.retries, 2);

    ASSERT_NULL(c->access_log);
    conf_free(c);
}

TEST(conf_full)
{
    struct conf *c = load_ok("listen:\n"
                             "  - 0.0.0.0:8080\n"
                             "  - \"[::]:8443\"\n"
                             "workers: 4\n"
                             "regions:\n"
                             "  us-east_1:\n"
                             "    backends:\n"
                             "      - 10.0.0.1:80\n"
                             "      - {addr: \"10.0.0.2:80\", weight: 3}\n"
                             "      - addr: \"[2001:db8::1]:80\"\n"
                             "        weight: 256\n"
                             "  cn:\n"
                             "    backends: [\"[::1]:9001\"]\n"
                             "timeouts:\n"
                             "  connect: 500ms\n"
                             "  client_header: 1.5s\n"
                             "  client_body: 1m\n"
                             "  client_keepalive: 2m\n"
                             "  client_send: 45s\n"
                             "  upstream_response: 1h\n"
                             "  upstream_keepalive: 4s\n"
                             "  tunnel_idle: 7d\n"
                             "  lame_duck: 15s\n"
                             "  shutdown_drain: 1ms\n"
                             "limits:\n"
                             "  max_client_connections: 10000000\n"
                             "  max_header_bytes: 1m\n"
                             "  max_headers: 1000\n"
                             "  max_body_bytes: 8g\n"
                             "  max_keepalive_requests: 1000\n"
                             "  upstream_pool_size: 0\n"
                             "  retries: 10\n"
                             "access_log: /var/log/georoute.log\n");

    ASSERT_EQ(c->nlisten, 2);
    ASSERT_STR_EQ(c->listen[0].text, "0.0.0.0:8080");
    ASSERT_STR_EQ(c->listen[1].text, "[::]:8443");
    ASSERT_EQ(c->listen[1].sa.ss_family, AF_INET6);
    ASSERT_EQ(c->workers, 4);
    ASSERT_EQ(c->nregions, 2);
    ASSERT_STR_EQ(c->regions[0].name, "us-east_1");
    ASSERT_EQ(c->regions[0].nbackends, 3);
    ASSERT_EQ(c->regions[0].backends[0].weight, 1);
    ASSERT_STR_EQ(c->regions[0].backends[1].addr.text, "10.0.0.2:80");
    ASSERT_EQ(c->regions[0].backends[1].weight, 3);
    ASSERT_STR_EQ(c->regions[0].backends[2].addr.text, "[2001:db8::1]:80");
    ASSERT_EQ(c->regions[0].backends[2].weight, 256);
    ASSERT_STR_EQ(c->regions[1].name, "cn");
    ASSERT_STR_EQ(c->regions[1].backends[0].addr.text, "[::1]:9001");

    ASSERT_EQ(c->timeouts.connect_ms, 500);
    ASSERT_EQ(c->timeouts.client_header_ms, 1500);
    ASSERT_EQ(c->timeouts.client_body_ms, 60000);
    ASSERT_EQ(c->timeouts.client_keepalive_ms, 120000);
    ASSERT_EQ(c->timeouts.client_send_ms, 45000);
    ASSERT_EQ(c->timeouts.upstream_response_ms, 3600000);
    ASSERT_EQ(c->timeouts.upstream_keepalive_ms, 4000);
    ASSERT_EQ(c->timeouts.tunnel_idle_ms, UINT64_C(604800000));
    ASSERT_EQ(c->timeouts.lame_duck_ms, 15000);
    ASSERT_EQ(c->timeouts.shutdown_drain_ms, 1);

    ASSERT_EQ(c->limits.max_client_connections, 10000000);
    ASSERT_EQ(c->limits.max_header_bytes, 1048576);
    ASSERT_EQ(c->limits.max_headers, 1000);
    ASSERT_EQ(c->limits.max_body_bytes, UINT64_C(8589934592));
    ASSERT_EQ(c->limits.max_keepalive_requests, 1000);
    ASSERT_EQ(c->limits.upstream_pool_size, 0);
    ASSERT_EQ(c->limits.retries, 10);
    ASSERT_STR_EQ(c->access_log, "/var/log/georoute.log");
    conf_free(c);
}

TEST(conf_listen_forms)
{
    struct conf *c;

    c = load_ok("listen: \"[::1]:8080\"\nregions: {a: {backends: [1.1.1.1:1]}}\n");
    ASSERT_EQ(c->nlisten, 1);
    ASSERT_STR_EQ(c->listen[0].text, "[::1]:8080");
    ASSERT_EQ(c->listen[0].salen, sizeof(struct sockaddr_in6));
    ASSERT_EQ(ntohs(((struct sockaddr_in6 *)&c->listen[0].sa)->sin6_port), 8080);
    conf_free(c);

    c = load_ok("listen: ['[::]:80', 0.0.0.0:80]\nregions: {a: {backends: [1.1.1.1:1]}}\n");
    ASSERT_EQ(c->nlisten, 2);
    ASSERT_STR_EQ(c->listen[0].text, "[::]:80");
    ASSERT_STR_EQ(c->listen[1].text, "0.0.0.0:80");
    conf_free(c);
}

TEST(conf_listen_errors)
{
    const char *e = load_err("listen:\n"
                             "  - 127.0.0.1:80\n"
                             "  - \"[::1]:80\"\n"
                             "  - 127.0.0.1:080\n"
                             "  - \"[0::1]:80\"\n"
                             "  - 127.0.0.1\n"
                             "  - ::1:80\n"
                             "  - 10.0.0.1:0\n"
                             "  - [1]\n"
                             "regions: {a: {backends: [1.1.1.1:1]}}\n");

    ASSERT_STR_EQ(e, "t.yaml:4:5: listen[2]: duplicate listen address '127.0.0.1:80' "
                     "(first at line 2, column 5)\n"
                     "t.yaml:5:5: listen[3]: duplicate listen address '[::1]:80' "
                     "(first at line 3, column 5)\n"
                     "t.yaml:6:5: listen[4]: invalid address '127.0.0.1': missing :PORT\n"
                     "t.yaml:7:5: listen[5]: invalid address '::1:80': IPv6 addresses must be "
                     "in brackets, as in [::1]:8080\n"
                     "t.yaml:8:5: listen[6]: invalid address '10.0.0.1:0': port must be a "
                     "number from 1 to 65535\n"
                     "t.yaml:9:5: listen[7]: expected a single value, got a list");

    e = load_err("listen: []\nregions: {a: {backends: [1.1.1.1:1]}}\n");
    ASSERT_STR_EQ(e, "t.yaml:1:9: listen: at least one listen address is required");
    e = load_err("listen:\nregions: {a: {backends: [1.1.1.1:1]}}\n");
    ASSERT_STR_EQ(e, "t.yaml:1:1: listen: at least one listen address is required");
    e = load_err("listen: {a: 1}\nregions: {a: {backends: [1.1.1.1:1]}}\n");
    ASSERT_STR_EQ(
        e, "t.yaml:1:9: listen: missing required key 'addr'\n"
           "t.yaml:1:10: listen: unknown key 'a'; expected one of: addr, proxy_protocol, tls, h2, "
           "h2c");
}

TEST(conf_durations_in_file)
{
    struct conf *c = load_ok(MINIMAL "timeouts:\n"
                                     "  connect: 0.5s\n"
                                     "  client_header: '250ms'\n"
                                     "  tunnel_idle: 2d\n");
    ASSERT_EQ(c->timeouts.connect_ms, 500);
    ASSERT_EQ(c->timeouts.client_header_ms, 250);
    ASSERT_EQ(c->timeouts.tunnel_idle_ms, 2 * UINT64_C(86400000));
    conf_free(c);
}

TEST(conf_duration_errors_in_file)
{
    const char *e = load_err(MINIMAL "timeouts:\n"           /* line 5 */
                                     "  connect: 5\n"        /* 6 */
                                     "  client_header: 5x\n" /* 7 */
                                     "  client_body: 0s\n"   /* 8 */
                                     "  client_send: -1s\n"  /* 9 */
                                     "  tunnel_idle: 8d\n"   /* 10 */
                                     "  shutdown_drain: 0.5ms\n");

    ASSERT_STR_EQ(e, "t.yaml:6:12: timeouts.connect: invalid duration '5': missing unit (use ms, "
                     "s, m, h or d)\n"
                     "t.yaml:7:18: timeouts.client_header: invalid duration '5x': unknown unit "
                     "(use ms, s, m, h or d)\n"
                     "t.yaml:8:16: timeouts.client_body: '0s' is out of range: must be between "
                     "1ms and 7d\n"
                     "t.yaml:9:16: timeouts.client_send: invalid duration '-1s': durations cannot "
                     "be negative\n"
                     "t.yaml:10:16: timeouts.tunnel_idle: '8d' is out of range: must be between "
                     "1ms and 7d\n"
                     "t.yaml:11:19: timeouts.shutdown_drain: invalid duration '0.5ms': not a "
                     "whole number of milliseconds");
}

TEST(conf_limits_in_file)
{
    struct conf *c = load_ok(MINIMAL "limits:\n"
                                     "  max_header_bytes: 1k\n"
                                     "  max_body_bytes: 100\n");
    const char *e;

    ASSERT_EQ(c->limits.max_header_bytes, 1024);
    ASSERT_EQ(c->limits.max_body_bytes, 100);
    conf_free(c);

    e = load_err(MINIMAL "limits:\n"                         /* 5 */
                         "  max_client_connections: 0\n"     /* 6 */
                         "  max_header_bytes: 1023\n"        /* 7 */
                         "  max_headers: 1001\n"             /* 8 */
                         "  max_body_bytes: 1025g\n"         /* 9 */
                         "  upstream_pool_size: 100001\n"    /* 10 */
                         "  retries: 11\n"                   /* 11 */
                         "  max_keepalive_requests: 1.5\n"); /* 12 */
    ASSERT_STR_EQ(e, "t.yaml:6:27: limits.max_client_connections: '0' is out of range: must be "
                     "between 1 and 10000000\n"
                     "t.yaml:7:21: limits.max_header_bytes: '1023' is out of range: must be "
                     "between 1k and 1m\n"
                     "t.yaml:8:16: limits.max_headers: '1001' is out of range: must be between 1 "
                     "and 1000\n"
                     "t.yaml:9:19: limits.max_body_bytes: '1025g' is out of range: must be "
                     "between 0 and 1024g\n"
                     "t.yaml:10:23: limits.upstream_pool_size: '100001' is out of range: must be "
                     "between 0 and 100000\n"
                     "t.yaml:11:12: limits.retries: '11' is out of range: must be between 0 and "
                     "10\n"
                     "t.yaml:12:27: limits.max_keepalive_requests: invalid number '1.5': "
                     "expected a whole number");
    e = load_err(MINIMAL "limits:\n  max_header_bytes: 16q\n");
    ASSERT_STR_EQ(e, "t.yaml:6:21: limits.max_header_bytes: invalid size '16q': unknown size "
                     "suffix (use k, m or g, powers of 1024)");
}

TEST(conf_workers)
{
    struct conf *c = load_ok(MINIMAL "workers: auto\n");
    const char *e;

    ASSERT_EQ(c->workers, 0);
    conf_free(c);
    c = load_ok(MINIMAL "workers: 256\n");
    ASSERT_EQ(c->workers, 256);
    conf_free(c);
    c = load_ok(MINIMAL "workers: 1\n");
    ASSERT_EQ(c->workers, 1);
    conf_free(c);

    e = load_err(MINIMAL "workers: 0\n");
    ASSERT_STR_EQ(e, "t.yaml:5:10: workers: invalid value '0': expected auto or a number from 1 "
                     "to 256");
    e = load_err(MINIMAL "workers: 257\n");
    ASSERT_STR_CONTAINS(e, "t.yaml:5:10: workers: invalid value '257'");
    e = load_err(MINIMAL "workers: Auto\n");
    ASSERT_STR_CONTAINS(e, "t.yaml:5:10: workers: invalid value 'Auto'");
}

TEST(conf_access_log)
{
    struct conf *c = load_ok(MINIMAL "access_log: \"-\"\n");
    const char *e;

    ASSERT_STR_EQ(c->access_log, "-");
    conf_free(c);
    c = load_ok(MINIMAL "access_log: off\n");
    ASSERT_NULL(c->access_log);
    conf_free(c);
    c = load_ok(MINIMAL "access_log: /tmp/a b.log\n");
    ASSERT_STR_EQ(c->access_log, "/tmp/a b.log");
    conf_free(c);

    e = load_err(MINIMAL "access_log: ''\n");
    ASSERT_STR_EQ(e, "t.yaml:5:13: access_log: empty path; use \"-\" for stderr or off to "
                     "disable");
    e = load_err(MINIMAL "access_log:\n");
    ASSERT_STR_EQ(e, "t.yaml:5:1: access_log: missing value");
}

TEST(conf_err_unknown_key)
{
    const char *e = load_err(MINIMAL "timeout:\n" /* 5 */
                                     "  connect: 1s\n"
                                     "timeouts:\n"    /* 7 */
                                     "  conect: 1s\n" /* 8 */
                                     "  connect: 1s\n");

    ASSERT_STR_EQ(
        e,
        "t.yaml:5:1: unknown key 'timeout'; expected one of: listen, workers, "
        "regions, timeouts, limits, access_log, access_log_format, user, group, trusted_proxies, "
        "debug_clients, "
        "explain_header, underscores_in_headers, geo, zones, routing, admin, dns\n"
        "t.yaml:8:3: timeouts: unknown key 'conect'; expected one of: connect, "
        "client_header, client_body, client_keepalive, client_send, "
        "upstream_response, upstream_keepalive, tunnel_idle, lame_duck, shutdown_drain, "
        "tls_handshake");

    e = load_err("listen: 127.0.0.1:1\n"
                 "regions:\n"
                 "  a:\n"
                 "    backend: [1.1.1.1:1]\n");
    ASSERT_STR_EQ(e, "t.yaml:4:5: regions.a: unknown key 'backend'; expected one of: backends, "
                     "min_healthy, probe, passive, discovery, tls\n"
                     "t.yaml:4:5: regions.a: missing required key 'backends'");
}

TEST(conf_err_duplicate_key)
{
    const char *e = load_err(MINIMAL "limits:\n"
                                     "  retries: 1\n"
                                     "  retries: 2\n"
                                     "listen: 127.0.0.1:9\n");

    ASSERT_STR_EQ(e, "t.yaml:7:3: duplicate key 'retries' (first at line 6, column 3)\n"
                     "t.yaml:8:1: duplicate key 'listen' (first at line 1, column 1)");
}

TEST(conf_err_wrong_type)
{
    const char *e = load_err(MINIMAL "timeouts: 5s\n"         /* 5 */
                                     "limits: [1]\n"          /* 6 */
                                     "workers: {n: 1}\n"      /* 7 */
                                     "access_log: [a, b]\n"); /* 8 */

    ASSERT_STR_EQ(e, "t.yaml:5:11: timeouts: expected a mapping of keys, got a string\n"
                     "t.yaml:6:9: limits: expected a mapping of keys, got a list\n"
                     "t.yaml:7:10: workers: expected a single value, got a mapping\n"
                     "t.yaml:8:13: access_log: expected a single value, got a list");

    e = load_err("listen: 127.0.0.1:1\nregions: [a]\n");
    ASSERT_STR_EQ(e, "t.yaml:2:10: regions: expected a mapping of region names to regions, got "
                     "a list");
    e = load_err("listen: 127.0.0.1:1\nregions: {a: {backends: 1.1.1.1:1}}\n");
    ASSERT_STR_EQ(e, "t.yaml:2:25: regions.a.backends: expected a list of backends, got a "
                     "string");
    e = load_err("listen: 127.0.0.1:1\nregions: {a: [1.1.1.1:1]}\n");
    ASSERT_STR_EQ(e, "t.yaml:2:14: regions.a: expected a mapping of keys, got a list");
}

TEST(conf_err_yaml_syntax)
{
    const char *e = load_err("listen: 127.0.0.1:1\n"
                             "regions:\n"
                             "  a:\n"
                             "    backends: [1.1.1.1:1\n"
                             "  b: {}\n");

    ASSERT_EQ(count_lines(e), 1);
    ASSERT_STR_CONTAINS(e, "t.yaml:5:4: YAML syntax error: ");
    ASSERT_STR_CONTAINS(e, "(while parsing a flow sequence at line 4, column 15)");

    e = load_err("listen:\n  - [::1]:8080\n");
    ASSERT_STR_CONTAINS(e, "t.yaml:2:6: YAML syntax error: ");
    ASSERT_STR_CONTAINS(e, "IPv6 addresses must be quoted, as in \"[::1]:8080\"");
}

TEST(conf_err_document_shape)
{
    struct conf *c = (struct conf *)1;
    const char *e;

    e = load_err("");
    ASSERT_STR_EQ(e, "t.yaml:1:1: configuration is empty");
    e = load_err("# nothing\n");
    ASSERT_STR_EQ(e, "t.yaml:1:1: configuration is empty");
    e = load_err("---\n");
    ASSERT_STR_EQ(e, "t.yaml:1:1: configuration is empty");
    e = load_err("~\n");
    ASSERT_STR_EQ(e, "t.yaml:1:1: configuration is empty");
    e = load_err("{}\n");
    ASSERT_STR_EQ(e, "t.yaml:1:1: missing required key 'listen'\n"
                     "t.yaml:1:1: missing required key 'regions'");
    e = load_err("- listen\n");
    ASSERT_STR_EQ(e, "t.yaml:1:1: the top level must be a mapping of keys (listen, regions, "
                     "...), not a list");
    e = load_err("hello\n");
    ASSERT_STR_CONTAINS(e, "t.yaml:1:1: the top level must be a mapping");
    ASSERT_EQ(conf_load_string(NULL, 0, NULL, &c, err, sizeof(err)), -1);
    ASSERT_NULL(c);
    ASSERT_STR_EQ(err, "<string>:1:1: configuration is empty");
    e = load_err(MINIMAL "---\n" MINIMAL);
    ASSERT_STR_EQ(e, "t.yaml:5:1: more than one YAML document; georoute reads exactly one");
}

TEST(conf_err_alias)
{
    const char *e = load_err("listen: &l 127.0.0.1:1\n"
                             "regions:\n"
                             "  a: &r {backends: [1.1.1.1:1]}\n"
                             "  b: *r\n");

    ASSERT_STR_EQ(e, "t.yaml:4:6: YAML aliases (*r) are not supported; write the value out");
}

TEST(conf_err_missing_required)
{
    const char *e = load_err("workers: 2\n");

    ASSERT_STR_EQ(e, "t.yaml:1:1: missing required key 'listen'\n"
                     "t.yaml:1:1: missing required key 'regions'");
    e = load_err("listen: 127.0.0.1:1\nregions:\n");
    ASSERT_STR_EQ(e, "t.yaml:2:1: regions: at least one region is required");
    e = load_err("listen: 127.0.0.1:1\nregions: {}\n");
    ASSERT_STR_EQ(e, "t.yaml:2:10: regions: at least one region is required");
    e = load_err("listen: 127.0.0.1:1\nregions:\n  a:\n  b: {backends: []}\n");
    ASSERT_STR_EQ(e, "t.yaml:3:3: regions.a: missing required key 'backends'\n"
                     "t.yaml:4:17: regions.b.backends: at least one backend is required");
}

TEST(conf_err_many_at_once)
{
    /* One of each kind, all reported, in file order. */
    const char *e = load_err("listen: localhost:80\n"                   /* 1 */
                             "workers: many\n"                          /* 2 */
                             "regions:\n"                               /* 3 */
                             "  bad.name:\n"                            /* 4 */
                             "    backends:\n"                          /* 5 */
                             "      - 10.0.0.1:80\n"                    /* 6 */
                             "      - 10.0.0.1:80\n"                    /* 7 */
                             "      - {addr: 10.0.0.2:80, weight: 0}\n" /* 8 */
                             "      - {weight: 2}\n"                    /* 9 */
                             "timeouts:\n"                              /* 10 */
                             "  connect: 2\n"                           /* 11 */
                             "  connect: 3\n"                           /* 12 */
                             "colour: blue\n");                         /* 13 */

    ASSERT_STR_EQ(
        e,
        "t.yaml:1:9: listen: invalid address 'localhost:80': must be a numeric "
        "IP:port (host names are only allowed for backends)\n"
        "t.yaml:2:10: workers: invalid value 'many': expected auto or a number "
        "from 1 to 256\n"
        "t.yaml:4:3: regions: invalid region name 'bad.name': use 1 to 63 "
        "characters from A-Z a-z 0-9 _ -\n"
        "t.yaml:7:9: regions.bad.name.backends[1]: duplicate backend "
        "'10.0.0.1:80' (first at line 6, column 9)\n"
        "t.yaml:8:37: regions.bad.name.backends[2].weight: '0' is out of range: "
        "must be between 1 and 256\n"
        "t.yaml:9:9: regions.bad.name.backends[3]: missing required key 'addr' (or "
        "'srv')\n"
        "t.yaml:11:12: timeouts.connect: invalid duration '2': missing unit (use "
        "ms, s, m, h or d)\n"
        "t.yaml:12:3: duplicate key 'connect' (first at line 11, column 3)\n"
        "t.yaml:13:1: unknown key 'colour'; expected one of: listen, workers, "
        "regions, timeouts, limits, access_log, access_log_format, user, group, trusted_proxies, "
        "debug_clients, "
        "explain_header, underscores_in_headers, geo, zones, routing, admin, dns");
    ASSERT_EQ(count_lines(e), 9);
}

TEST(conf_err_cap)
{
    char yaml[8192];
    size_t n = 0;
    const char *e;

    n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, MINIMAL "limits:\n");
    for (int i = 0; i < 60; i++)
        n += (size_t)snprintf(yaml + n, sizeof(yaml) - n, "  bad%d: 1\n", i);
    e = load_err(yaml);
    ASSERT_EQ(count_lines(e), CONF_MAX_ERRORS + 1);
    ASSERT_STR_CONTAINS(e, "t.yaml:6:3: limits: unknown key 'bad0'");
    ASSERT_STR_CONTAINS(e, "t.yaml:55:3: limits: unknown key 'bad49'");
    ASSERT(strstr(e, "bad50") == NULL);
    ASSERT_STR_CONTAINS(e, "\nt.yaml: too many errors, stopped after 50");
}

TEST(conf_err_small_buffer)
{
    char small[24];
    struct conf *c = NULL;
    const char *yaml = "listen: nope\nregions: {}\n";

    memset(small, 'Z', sizeof(small));
    ASSERT_EQ(conf_load_string(yaml, strlen(yaml), "t.yaml", &c, small, sizeof(small)), -1);
    ASSERT_NULL(c);
    ASSERT_EQ(strlen(small), sizeof(small) - 1);
    ASSERT_STR_EQ(small, "t.yaml:1:9: listen: inv");

    /* No buffer at all is allowed. */
    ASSERT_EQ(conf_load_string(yaml, strlen(yaml), "t.yaml", &c, NULL, 0), -1);
    ASSERT_NULL(c);
}

TEST(conf_region_names)
{
    char yaml[512], name[CONF_NAME_MAX + 2];
    struct conf *c;
    const char *e;

    memset(name, 'x', CONF_NAME_MAX);
    name[CONF_NAME_MAX] = '\0';
    snprintf(yaml, sizeof(yaml), "listen: 127.0.0.1:1\nregions:\n  %s: {backends: [1.1.1.1:1]}\n",
             name);
    c = load_ok(yaml);
    ASSERT_STR_EQ(c->regions[0].name, name);
    conf_free(c);

    name[CONF_NAME_MAX] = 'x';
    name[CONF_NAME_MAX + 1] = '\0';
    snprintf(yaml, sizeof(yaml), "listen: 127.0.0.1:1\nregions:\n  %s: {backends: [1.1.1.1:1]}\n",
             name);
    e = load_err(yaml);
    ASSERT_STR_CONTAINS(e, "t.yaml:3:3: regions: invalid region name 'xxxx");
    ASSERT_EQ(count_lines(e), 1);

    e = load_err("listen: 127.0.0.1:1\n"
                 "regions:\n"
                 "  \"\": {backends: [1.1.1.1:1]}\n"
                 "  \"a/b\": {backends: [1.1.1.1:2]}\n"
                 "  ok: {backends: [1.1.1.1:3]}\n"
                 "  ok: {backends: [1.1.1.1:4]}\n");
    ASSERT_STR_EQ(e, "t.yaml:3:3: regions: invalid region name '': use 1 to 63 characters from "
                     "A-Z a-z 0-9 _ -\n"
                     "t.yaml:4:3: regions: invalid region name 'a/b': use 1 to 63 characters "
                     "from A-Z a-z 0-9 _ -\n"
                     "t.yaml:6:3: duplicate key 'ok' (first at line 5, column 3)");
}

TEST(conf_region_order_and_find)
{
    struct conf *c = load_ok("listen: 127.0.0.1:1\n"
                             "regions:\n"
                             "  zz: {backends: [1.1.1.1:1]}\n"
                             "  aa: {backends: [1.1.1.1:1]}\n"
                             "  mm: {backends: [1.1.1.1:1]}\n");

    ASSERT_EQ(c->nregions, 3);
    ASSERT_STR_EQ(c->regions[0].name, "zz");
    ASSERT_STR_EQ(c->regions[1].name, "aa");
    ASSERT_STR_EQ(c->regions[2].name, "mm");
    ASSERT_PTR_EQ(conf_region_find(c, "aa"), &c->regions[1]);
    ASSERT_PTR_EQ(conf_region_find(c, "mm"), &c->regions[2]);
    ASSERT_PTR_EQ(conf_region_find(c, "zz"), &c->regions[0]);
    ASSERT_NULL(conf_region_find(c, "AA"));
    ASSERT_NULL(conf_region_find(c, ""));
    ASSERT_NULL(conf_region_find(c, "z"));
    conf_free(c);
}

TEST(conf_backend_weights)
{
    struct conf *c = load_ok("listen: 127.0.0.1:1\n"
                             "regions:\n"
                             "  a:\n"
                             "    backends:\n"
                             "      - 10.0.0.1:80\n"
                             "      - {addr: 10.0.0.2:80}\n"
                             "      - {addr: 10.0.0.3:80, weight: 1}\n"
                             "      - {addr: 10.0.0.4:80, weight: 256}\n"
                             "      - weight: 7\n"
                             "        addr: 10.0.0.5:80\n"
                             "      - 10.0.0.1:81\n");
    const struct conf_region *r = conf_region_find(c, "a");

    ASSERT_NOT_NULL(r);
    ASSERT_EQ(r->nbackends, 6);
    ASSERT_EQ(r->backends[0].weight, 1);
    ASSERT_EQ(r->backends[1].weight, 1);
    ASSERT_EQ(r->backends[2].weight, 1);
    ASSERT_EQ(r->backends[3].weight, 256);
    ASSERT_EQ(r->backends[4].weight, 7);
    ASSERT_STR_EQ(r->backends[4].addr.text, "10.0.0.5:80");
    ASSERT_STR_EQ(r->backends[5].addr.text, "10.0.0.1:81");
    conf_free(c);
}

TEST(conf_backend_errors)
{
    const char *e = load_err("listen: 127.0.0.1:1\n"
                             "regions:\n"
                             "  a:\n"
                             "    backends:\n"
                             "      - db_internal:5432\n"                  /* 5 */
                             "      - {addr: \"[::1]:80\", weight: 257}\n" /* 6 */
                             "      - {addr: \"[::0:1]:80\"}\n"            /* 7 */
                             "      - [1.1.1.1:1]\n"                       /* 8 */
                             "      - {addr: 1.1.1.1:2, weight: heavy}\n"  /* 9 */
                             "  b:\n"
                             "    backends:\n"
                             "      - \"[::1]:80\"\n"); /* 12: fine */

    ASSERT_STR_EQ(e, "t.yaml:5:9: regions.a.backends[0]: invalid address 'db_internal:5432': "
                     "a host name may contain only letters, digits, '-' and '.'\n"
                     "t.yaml:6:36: regions.a.backends[1].weight: '257' is out of range: must be "
                     "between 1 and 256\n"
                     "t.yaml:7:9: regions.a.backends[2]: duplicate backend '[::1]:80' (first at "
                     "line 6, column 9)\n"
                     "t.yaml:8:9: regions.a.backends[3]: expected \"host:port\" or {addr: "
                     "\"host:port\", weight: N}, got a list\n"
                     "t.yaml:9:35: regions.a.backends[4].weight: invalid number 'heavy': "
                     "expected a whole number");
}

TEST(conf_load_file_errors)
{
    struct conf *c = (struct conf *)1;

    ASSERT_EQ(conf_load_file("/nonexistent/georoute.yaml", &c, err, sizeof(err)), -1);
    ASSERT_NULL(c);
    ASSERT_STR_EQ(err, "/nonexistent/georoute.yaml: cannot read: No such file or directory");
    ASSERT_EQ(conf_load_file("/", &c, err, sizeof(err)), -1);
    ASSERT_STR_CONTAINS(err, "/: cannot read: ");
}

TEST(conf_reference_config)
{
    struct conf *c = NULL;

    if (conf_load_file("conf/georoute.yaml", &c, err, sizeof(err)) != 0)
        TEST_FAIL_("conf/georoute.yaml:\n%s", err);
    ASSERT_NOT_NULL(c);
    ASSERT_GE(c->nlisten, 1);
    ASSERT_GE(c->nregions, 1);
    /* It documents the defaults, so it must load to the same values as MINIMAL. */
    ASSERT_EQ(c->workers, 0);
    ASSERT_EQ(c->timeouts.connect_ms, 2000);
    ASSERT_EQ(c->timeouts.tunnel_idle_ms, 3600000);
    ASSERT_EQ(c->limits.max_header_bytes, 16384);
    ASSERT_EQ(c->limits.upstream_pool_size, 64);
    ASSERT_EQ(c->limits.retries, 2);
    ASSERT_NULL(c->access_log);
    ASSERT_EQ(c->trusted_proxies.ncidrs, 0);
    ASSERT_STR_EQ(c->explain_header, "X-Georoute");
    ASSERT_EQ(c->geo.reload_interval_ms, 60000);
    ASSERT_EQ(c->routing.min_gain_ms, 10);
    ASSERT_EQ(c->routing.min_gain_pct, 10);
    ASSERT_EQ(c->routing.switch_evidence, 100);
    ASSERT_EQ(c->routing.rtt_half_life_ms, 250);
    ASSERT_EQ(c->routing.slow_start_ms, 10000);
    ASSERT_EQ(c->routing.retry_budget_pct, 20);
    ASSERT_EQ(c->routing.failure_penalty_ms, 1000);
    ASSERT_EQ(c->regions[0].min_healthy, 1);
    ASSERT_EQ(c->regions[0].probe.interval_ms, 1000);
    ASSERT_EQ(c->regions[0].probe.fastinter_ms, 250);
    ASSERT_EQ(c->regions[0].probe.downinter_ms, 1000);
    ASSERT_EQ(c->regions[0].probe.timeout_ms, 5000);
    ASSERT_EQ(c->regions[0].probe.jitter_pct, 10);
    ASSERT_EQ(c->regions[0].passive.consecutive_failures, 5);
    ASSERT_EQ(c->regions[0].passive.max_ejection_time_ms, 300000);
    ASSERT_EQ(c->admin.enabled, 1);
    ASSERT_STR_EQ(c->admin.addr.text, "127.0.0.1:9901");
    ASSERT_EQ(c->dns.nservers, 0);
    ASSERT_EQ(c->dns.min_ttl_ms, 1000);
    ASSERT_EQ(c->dns.max_ttl_ms, 300000);
    ASSERT_EQ(c->dns.family, CONF_DNS_ANY);
    ASSERT_EQ(c->dns.timeout_ms, 1000);
    ASSERT_EQ(c->dns.retry_max_ms, 30000);
    ASSERT_STR_EQ(c->zones[c->nzones - 1].name, "default");
    conf_free(c);
}

/* Reads a whole text file for the docs test; NULL-terminated, caller frees. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = malloc(1 << 20);
    size_t n;

    ASSERT_NOT_NULL(f);
    ASSERT_NOT_NULL(buf);
    n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void check_documented(const char *doc, const char *yaml, const struct conf_section *s,
                             const char *prefix)
{
    char key[256], leaf[128];

    for (size_t i = 0; i < s->ndirectives; i++) {
        const struct conf_directive *d = &s->directives[i];
        snprintf(key, sizeof(key), "# `%s%s`", prefix, d->name);
        if (strstr(doc, key) == NULL)
            TEST_FAIL_("docs/CONFIG.md has no heading %s", key);
        snprintf(leaf, sizeof(leaf), "%s:", d->name);
        if (strstr(yaml, leaf) == NULL)
            TEST_FAIL_("conf/georoute.yaml does not show '%s'", leaf);
        if (d->sub != NULL) {
            char sub[128];
            snprintf(sub, sizeof(sub), "%s%s.", prefix, d->name);
            check_documented(doc, yaml, d->sub, sub);
        }
    }
}

TEST(conf_docs_cover_directives)
{
    char *doc = slurp("docs/CONFIG.md");
    char *yaml = slurp("conf/georoute.yaml");

    check_documented(doc, yaml, &conf__root_section, "");
    check_documented(doc, yaml, &conf__region_section, "regions.NAME.");
    check_documented(doc, yaml, &conf__backend_section, "regions.NAME.backends[].");
    check_documented(doc, yaml, &conf__listener_section, "listen[].");
    check_documented(doc, yaml, &conf__geo_db_section, "geo.databases[].");
    check_documented(doc, yaml, &conf__zone_section, "zones[].");
    free(doc);
    free(yaml);
}

/* D16: the mistakes nginx and Go users make get a message that says what to write. */
TEST(conf_messages_say_what_to_write)
{
    static const struct {
        const char *yaml, *want;
    } cases[] = {
        {"listen: 20080\n", "missing address before the port: write 0.0.0.0:PORT"},
        {"listen: \":20080\"\n", "missing address before ':'"},
        {"listen: 127.0.0.1:1\nregions: {a: {backends: [\"http://10.0.0.1:80\"]}}\n",
         "a URL scheme is not allowed: write host:port"},
        {"listen: 127.0.0.1:1\nlimits: {max_body_bytes: 1.5m}\n", "sizes take whole numbers"},
        {"listen: 127.0.0.1:1\ntimeouts: {connect: 1h30m}\n", "one unit per duration"},
        {"listen: 127.0.0.1:1\naccess_log: -\n", "a bare - starts a YAML list: quote it"},
        {"listen: 127.0.0.1:1\ntrusted_proxies: [::1/128]\n", "IPv6 addresses must be quoted"},
        {"listen: 127.0.0.1:1\nregions:\n\ta: x\n", "YAML does not allow tabs for indentation"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ASSERT_STR_CONTAINS(load_err(cases[i].yaml), cases[i].want);
}

TEST(conf_tls_forms_and_defaults)
{
    struct conf *c = load_ok("listen:\n"
                             "  - 127.0.0.1:80\n"
                             "  - addr: 127.0.0.1:443\n"
                             "    tls:\n"
                             "      certificates:\n"
                             "        - {cert: a.pem, key: a.key}\n"
                             "        - {cert: b.pem, key: b.key}\n"
                             "      strict_sni: true\n"
                             "      min_version: TLSv1.3\n"
                             "      ciphers: ECDHE-RSA-AES128-GCM-SHA256\n"
                             "      session_ticket_lifetime: 1h\n"
                             "      ticket_key_file: t.key\n"
                             "regions:\n"
                             "  a:\n"
                             "    tls: {ca: ca.pem, cert: c.pem, key: c.key}\n"
                             "    backends:\n"
                             "      - app.example.com:443\n"
                             "      - {addr: \"10.0.0.1:443\", tls: {sni: x.example.com, "
                             "verify: false}}\n"
                             "      - {addr: \"10.0.0.2:80\", tls: off}\n"
                             "  b:\n"
                             "    backends: [\"10.0.0.3:80\"]\n");
    const struct conf_tls_server *t = &c->listeners[1].tls;
    const struct conf_region *a = &c->regions[0];

    ASSERT_EQ(c->listeners[0].tls.enabled, 0);
    ASSERT_EQ(t->enabled, 1);
    ASSERT_EQ(t->ncerts, 2);
    ASSERT_STR_EQ(t->certs[1].cert.text, "b.pem");
    ASSERT_EQ(t->certs[1].cert.pos.line, 7);
    ASSERT_EQ(t->certs[1].key.pos.col, 30);
    ASSERT_EQ(t->strict_sni, 1);
    ASSERT_EQ(t->min_version, CONF_TLS_1_3);
    ASSERT_EQ(t->alpn, CONF_ALPN_H2 | CONF_ALPN_HTTP11); /* the default: h2 preferred */
    ASSERT_EQ(c->listeners[1].h2, 1);
    ASSERT_STR_EQ(t->ciphers.text, "ECDHE-RSA-AES128-GCM-SHA256");
    ASSERT_NULL(t->groups.text);
    ASSERT_EQ(t->session_ticket_lifetime_ms, 3600000);
    ASSERT_STR_EQ(t->ticket_key_file.text, "t.key");
    ASSERT_EQ(c->timeouts.tls_handshake_ms, 10000);
    ASSERT_EQ(c->limits.max_tls_handshakes, 256);
    /* Backends inherit the region's tls key by key, or turn it off. */
    ASSERT_EQ(a->tls.enabled, 1);
    ASSERT_EQ(a->backends[0].tls.enabled, 1);
    ASSERT_EQ(a->backends[0].tls.verify, 1);
    ASSERT_STR_EQ(a->backends[0].tls.ca.text, "ca.pem");
    ASSERT_NULL(a->backends[0].tls.sni.text);
    ASSERT_EQ(a->backends[1].tls.verify, 0);
    ASSERT_STR_EQ(a->backends[1].tls.sni.text, "x.example.com");
    ASSERT_STR_EQ(a->backends[1].tls.key.text, "c.key");
    ASSERT_EQ(a->backends[2].tls.enabled, 0);
    ASSERT_EQ(c->regions[1].tls.enabled, 0);
    ASSERT_EQ(c->regions[1].backends[0].tls.enabled, 0);
    conf_free(c);
}

TEST(conf_tls_errors)
{
    const char *e = load_err("listen:\n"
                             "  - addr: 127.0.0.1:443\n"
                             "    tls: {min_version: TLSv1.1, alpn: [h3]}\n"
                             "  - addr: 127.0.0.1:444\n"
                             "    tls:\n"
                             "      certificates: [{cert: a.pem}]\n"
                             "      session_ticket_lifetime: off\n"
                             "      ticket_key_file: t.key\n"
                             "regions:\n"
                             "  a:\n"
                             "    tls: {cert: c.pem}\n"
                             "    backends: [{addr: \"10.0.0.1:443\", tls: {sni: \"-bad\"}}]\n");

    ASSERT_STR_CONTAINS(e, "t.yaml:3:10: listen[0].tls: missing required key 'certificates'");
    ASSERT_STR_CONTAINS(e, "t.yaml:3:24: listen[0].tls.min_version: invalid value 'TLSv1.1': "
                           "expected one of: TLSv1.2, TLSv1.3");
    ASSERT_STR_CONTAINS(e, "t.yaml:3:40: listen[0].tls.alpn: unsupported protocol 'h3': "
                           "expected h2 or http/1.1");
    ASSERT_STR_CONTAINS(e, "t.yaml:6:22: listen[1].tls.certificates[0]: missing required key "
                           "'key'");
    ASSERT_STR_CONTAINS(e, "t.yaml:8:24: listen[1].tls.ticket_key_file: ticket_key_file is "
                           "unused with session_ticket_lifetime: off");
    ASSERT_STR_CONTAINS(e, "t.yaml:11:17: regions.a.tls.cert: a client certificate needs both "
                           "cert and key");
    ASSERT_STR_CONTAINS(e, "t.yaml:12:50: regions.a.backends[0].tls.sni: invalid name '-bad'");
    ASSERT(strstr(e, "backends[0].tls.cert") == NULL); /* the region's fault, reported once */
}

/* HTTP/2 knobs (issue 14): ALPN h2 on by default, prior-knowledge h2c off. */
TEST(conf_h2_listener_keys_and_stream_limit)
{
    struct conf *c = load_ok(MINIMAL);
    ASSERT_EQ(c->listeners[0].h2, 1);
    ASSERT_EQ(c->listeners[0].h2c, 0);
    ASSERT_EQ(c->limits.h2_max_concurrent_streams, 100);
    conf_free(c);
    c = load_ok("listen: [{addr: 127.0.0.1:8080, h2: false, h2c: true}]\n"
                "limits: {h2_max_concurrent_streams: 8}\n"
                "regions: {cn: {backends: [127.0.0.1:9001]}}\n");
    ASSERT_EQ(c->listeners[0].h2, 0);
    ASSERT_EQ(c->listeners[0].h2c, 1);
    ASSERT_EQ(c->limits.h2_max_concurrent_streams, 8);
    conf_free(c);
    ASSERT_STR_CONTAINS(load_err("listen: 127.0.0.1:8080\nlimits: {h2_max_concurrent_streams: 0}\n"
                                 "regions: {cn: {backends: [127.0.0.1:9001]}}\n"),
                        "h2_max_concurrent_streams");
}
