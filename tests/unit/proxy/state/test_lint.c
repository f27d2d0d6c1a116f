/*
 * Unit tests of proxy/state/lint.c: country codes no database reports, zones
 * an earlier zone always catches first, regions no zone routes to; and a
 * config with none of these gets no warning.
 */
#include "tests/unit/proxy/state/state_fixture.h"

static const char *lint(const char *yaml, unsigned want)
{
    static char out[4096];
    struct px_config *cfg = state_config(yaml);
    unsigned n = px_config_lint(cfg, out, sizeof(out));
    px_config_unref(cfg);
    if (n != want)
        TEST_FAIL_("%u warnings, want %u:\n%s", n, want, out);
    return out;
}

TEST(lint_country_shadow_and_unused_region)
{
    const char *w = lint("listen: 127.0.0.1:1\n"
                         "geo: {databases: [{path: conf/demo-geo.mmdb}]}\n"
                         "regions: {a: {backends: [127.0.0.1:2]}, b: {backends: [127.0.0.1:3]}}\n"
                         "zones:\n"
                         "  - {name: wide, match: {cidr: [10.0.0.0/8, \"2001:db8::/32\"]},"
                         " route: {regions: [a]}}\n"
                         "  - {name: narrow, match: {cidr: [10.1.0.0/16, \"2001:db8:1::/48\"]},"
                         " route: {regions: [a]}}\n"
                         "  - {name: partly, match: {cidr: [10.1.0.0/16, 11.0.0.0/8]},"
                         " route: {regions: [a]}}\n"
                         "  - {name: uk, match: {country: [UK, GB]}, route: {regions: [a]}}\n"
                         "  - {name: default, route: {regions: [a]}}\n",
                         3);
    ASSERT_STR_CONTAINS(w, ":8:34: warning: zones[3].match.country[0]: UK is not an assigned "
                           "ISO 3166-1 code (did you mean GB?)");
    ASSERT_STR_CONTAINS(w, "warning: zones[1] (narrow) never matches: every network of it is "
                           "inside zones[0] (wide)");
    ASSERT_STR_CONTAINS(w, ":3:41: warning: regions.b: no zone routes to it");
    ASSERT(strstr(w, "partly") == NULL); /* 11.0.0.0/8 is its own */
}

TEST(lint_clean_config_has_no_warning)
{
    lint("listen: 127.0.0.1:1\n"
         "regions: {a: {backends: [127.0.0.1:2]}, b: {backends: [127.0.0.1:3]}}\n"
         "zones:\n"
         "  - {name: lab, match: {cidr: [10.0.0.0/8]}, route: {regions: [a], fallback: [b]}}\n"
         "  - {name: lab2, match: {cidr: [10.0.0.0/8, 11.0.0.0/8]}, route: {regions: [a]}}\n"
         "  - {name: default, route: {regions: [a]}}\n",
         0);
}
