/*
 * Unit tests of proxy/state/classes.c: a request's class in its zone, by
 * path prefix and method, first match wins; the routes-table index.
 */
#include "tests/unit/test.h"
#include "proxy/state/classes.h"

#include <string.h>

static size_t find(const struct conf_route *rt, const char *method, const char *path)
{
    return px_class_find(rt, method, path, strlen(path));
}

TEST(classes_first_match_by_prefix_and_method)
{
    static const char y[] = "listen: 127.0.0.1:8080\n"
                            "regions:\n"
                            "  cn: {backends: [127.0.0.1:9001]}\n"
                            "zones:\n"
                            "  - name: lab\n"
                            "    match: {cidr: [\"127.1.0.0/16\"]}\n"
                            "    route: {regions: [cn]}\n"
                            "  - name: default\n"
                            "    route:\n"
                            "      regions: [cn]\n"
                            "      classes:\n"
                            "        - {name: upload, path_prefix: /photos/, method: [PUT, POST]}\n"
                            "        - {name: bulk, path_prefix: [/photos/, /v/]}\n"
                            "        - {name: api, path_prefix: /api}\n";
    struct conf *cf = NULL;
    char err[512];

    ASSERT_OK(conf_load_string(y, sizeof(y) - 1, "t.yaml", &cf, err, sizeof(err)));
    const struct conf_route *rt = &cf->zones[1].route;
    ASSERT_EQ(find(rt, "GET", "/photos/a.jpg"), 2);
    ASSERT_EQ(find(rt, "PUT", "/photos/a.jpg"), 1);
    ASSERT_EQ(find(rt, "GET", "/v/"), 2);
    ASSERT_EQ(find(rt, "DELETE", "/api/v1?x=1"), 3);
    ASSERT_EQ(find(rt, "GET", "/apix"), 3); /* a prefix, not a path segment */
    /* Shorter than the prefix, other case, other path: the zone's other requests. */
    ASSERT_EQ(find(rt, "GET", "/photos"), 0);
    ASSERT_EQ(find(rt, "GET", "/Photos/a"), 0);
    ASSERT_EQ(find(rt, "GET", "/"), 0);
    ASSERT_EQ(px_class_find(rt, "GET", "/photos/", 0), 0);
    /* A zone without classes is one route. */
    ASSERT_EQ(find(&cf->zones[0].route, "GET", "/photos/a"), 0);
    ASSERT_EQ(px_class_route(cf, 0, 0), 0);
    ASSERT_EQ(px_class_route(cf, 1, 0), 1);
    ASSERT_EQ(px_class_route(cf, 1, 3), 4);
    ASSERT_EQ(cf->nroutes, 5);
    conf_free(cf);
}
