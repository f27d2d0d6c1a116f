/*
 * Unit tests of proxy/data/accesslog.c: each format escapes what a client
 * chose, so a hostile target stays inside its field and on one line.
 */
#include "tests/unit/test.h"
#include "proxy/data/accesslog.h"
#include "tests/unit/conf/load.h"

#include <string.h>

static const char hostile[] = "/a\"b\\c\n\x01\xff";

static void fill(struct px_access_rec *r)
{
    memset(r, 0, sizeof(*r));
    px_access_set(r, CONF_LOG_TIME, "T");
    px_access_set(r, CONF_LOG_CLIENT, "10.0.0.1");
    px_access_set(r, CONF_LOG_METHOD, "GET");
    r->v[CONF_LOG_TARGET] = hostile;
    r->len[CONF_LOG_TARGET] = sizeof(hostile) - 1;
    px_access_set(r, CONF_LOG_STATUS, "200");
}

TEST(accesslog_formats_escape_client_bytes)
{
    struct conf_log_format f = {.kind = CONF_LOG_LOGFMT};
    struct px_access_rec r;
    char out[1024];
    size_t n;

    fill(&r);
    n = px_access_render(&f, &r, out, sizeof(out));
    out[n] = '\0';
    ASSERT_STR_EQ(out, "T client=10.0.0.1 zone=- country=- method=GET "
                       "target=\"/a\\\"b\\\\c\\x0a\\x01\\xff\" status=200 in=- out=- backend=- "
                       "region=- why=- ms=- peer=- id=\"-\" proto=-");
    f.kind = CONF_LOG_JSON;
    n = px_access_render(&f, &r, out, sizeof(out));
    out[n] = '\0';
    ASSERT(strstr(out, "\"target\":\"/a\\\"b\\\\c\\u000a\\u0001\\u00ff\"") != NULL);
    ASSERT(strstr(out, "\"status\":200,") != NULL);
    ASSERT_EQ(out[n - 1], '}');
    ASSERT(strchr(out, '\n') == NULL);

    struct conf *c = conf_test_load_ok("listen: 127.0.0.1:1\n"
                                       "regions: {a: {backends: [1.1.1.1:1]}}\n"
                                       "access_log_format: '$$$method $target$$ $status'\n");
    n = px_access_render(&c->access_log_format, &r, out, sizeof(out));
    out[n] = '\0';
    ASSERT_STR_EQ(out, "$GET /a\\\"b\\\\c\\x0a\\x01\\xff$ 200");
    conf_free(c);
}

TEST(accesslog_never_overflows)
{
    struct conf_log_format f = {.kind = CONF_LOG_JSON};
    struct px_access_rec r;
    char big[600], out[64 + 1];

    memset(big, 0xff, sizeof(big));
    fill(&r);
    r.v[CONF_LOG_TARGET] = big;
    r.len[CONF_LOG_TARGET] = sizeof(big);
    for (unsigned kind = CONF_LOG_LOGFMT; kind <= CONF_LOG_JSON; kind++) {
        f.kind = kind;
        out[64] = 'Z';
        size_t n = px_access_render(&f, &r, out, 64);
        ASSERT(n <= 63);
        ASSERT_EQ(out[64], 'Z');
    }
}
