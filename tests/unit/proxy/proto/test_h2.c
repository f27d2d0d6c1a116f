/*
 * Unit tests of proxy/proto/h2.c, request side and responses: what reaches
 * the owner, what is refused (and by whom: nghttp2 or us), flow control as
 * backpressure, graceful shutdown. Requests come from an nghttp2 client.
 */
#include "tests/unit/proxy/proto/h2_fixture.h"

TEST(h2_request_head_and_response)
{
    struct peer p;
    peer_init(&p, NULL, true, NULL, 0);
    p.o.respond = true;
    const nghttp2_nv nv[] = {
        NV(":method", "GET"),   NV(":scheme", "https"),      NV(":authority", "example.com"),
        NV(":path", "/a?b=c"),  NV("cookie", "a=1"),         NV("user-agent", "t"),
        NV("cookie", "b=2"),    NV("te", "trailers"),
    };
    int32_t id = request(&p, nv, PX_ARRAY_LEN(nv), NULL);
    pump(&p);
    ASSERT_EQ(p.o.heads, 1);
    ASSERT_EQ(p.o.ends, 1);
    ASSERT_STR_EQ(p.o.method, "GET");
    ASSERT_STR_EQ(p.o.scheme, "https");
    ASSERT_STR_EQ(p.o.authority, "example.com");
    ASSERT_STR_EQ(p.o.path, "/a?b=c");
    ASSERT_STR_EQ(p.o.fields, "user-agent: t\nte: trailers\ncookie: a=1; b=2\n");
    ASSERT_EQ(p.o.content_length, -1);
    ASSERT_EQ(p.status[id], 200);
    ASSERT_EQ(p.client_body[id], 2);
    ASSERT_EQ(p.o.closes, 1);
    ASSERT_EQ(p.o.close_code[id], PX_H2_NO_ERROR + 1);
    ASSERT_EQ(p.feed_rc, 0);
    ASSERT_EQ(p.w.goaways, 0);
    peer_dispose(&p);
}

/* A request the server must refuse, and how. */
struct refusal {
    const char *what;
    nghttp2_nv nv[8];
    size_t n;
    int status; /* answered with this status, or 0: RST_STREAM(PROTOCOL_ERROR) */
};

#define GET4(auth) NV(":method", "GET"), NV(":scheme", "https"), NV(":authority", auth), NV(":path", "/")

static const struct refusal refusals[] = {
    /* RFC 9113 §8.2.2: connection-specific fields (nghttp2) */
    {"connection", {GET4("a"), NV("connection", "keep-alive")}, 5, 0},
    {"keep-alive", {GET4("a"), NV("keep-alive", "1")}, 5, 0},
    {"proxy-connection", {GET4("a"), NV("proxy-connection", "x")}, 5, 0},
    {"transfer-encoding", {GET4("a"), NV("transfer-encoding", "chunked")}, 5, 0},
    {"upgrade", {GET4("a"), NV("upgrade", "h2c")}, 5, 0},
    {"te gzip", {GET4("a"), NV("te", "gzip")}, 5, 0},
    {"te trailers, gzip", {GET4("a"), NV("te", "trailers, gzip")}, 5, 0},
    /* §8.2.1: field syntax (nghttp2) */
    {"space in name", {GET4("a"), NV("x foo", "1")}, 5, 0},
    {"colon in name", {GET4("a"), NV("x:foo", "1")}, 5, 0},
    {"CR in value", {GET4("a"), NV("x", "a\rb")}, 5, 0},
    {"LF in value", {GET4("a"), NV("x", "a\nb")}, 5, 0},
    {"NUL in value", {GET4("a"), {(uint8_t *)"x", (uint8_t *)"a\0b", 1, 3, 0}}, 5, 0},
    {"leading space", {GET4("a"), NV("x", " a")}, 5, 0},
    {"trailing tab", {GET4("a"), NV("x", "a\t")}, 5, 0},
    {"empty name", {GET4("a"), NV("", "a")}, 5, 0},
    /* §8.3: pseudo-headers (nghttp2) */
    {"no :method", {NV(":scheme", "https"), NV(":authority", "a"), NV(":path", "/")}, 3, 0},
    {"no :path", {NV(":method", "GET"), NV(":scheme", "https"), NV(":authority", "a")}, 3, 0},
    {"no :scheme", {NV(":method", "GET"), NV(":authority", "a"), NV(":path", "/")}, 3, 0},
    {"two :path", {GET4("a"), NV(":path", "/b")}, 5, 0},
    {"unknown pseudo", {GET4("a"), NV(":foo", "1")}, 5, 0},
    {"pseudo after regular",
     {NV(":method", "GET"), NV(":scheme", "https"), NV("x", "1"), NV(":authority", "a"),
      NV(":path", "/")},
     5,
     0},
    {":status in request", {GET4("a"), NV(":status", "200")}, 5, 0},
    {"extended CONNECT",
     {NV(":method", "CONNECT"), NV(":protocol", "websocket"), NV(":scheme", "https"),
      NV(":authority", "a"), NV(":path", "/")},
     5,
     0},
    {"empty :path", {NV(":method", "GET"), NV(":scheme", "https"), NV(":authority", "a"),
                     NV(":path", "")}, 4, 0},
    /* ours: what a proxy rendering HTTP/1.1 needs */
    {"host disagrees", {GET4("a.example"), NV("host", "b.example")}, 5, 0},
    {"two hosts", {NV(":method", "GET"), NV(":scheme", "https"), NV(":path", "/"), NV("host", "a"),
                   NV("host", "a")}, 5, 0},
    {"userinfo", {GET4("u@a.example")}, 4, 0},
    {"no authority, no host", {NV(":method", "GET"), NV(":scheme", "https"), NV(":path", "/")}, 3,
     0},
    {"scheme ftp", {NV(":method", "GET"), NV(":scheme", "ftp"), NV(":authority", "a"),
                    NV(":path", "/")}, 4, 0},
    {"path not origin-form", {NV(":method", "GET"), NV(":scheme", "https"), NV(":authority", "a"),
                              NV(":path", "x/y")}, 4, 0},
    {"* with GET", {NV(":method", "GET"), NV(":scheme", "https"), NV(":authority", "a"),
                    NV(":path", "*")}, 4, 0},
    {"CONNECT", {NV(":method", "CONNECT"), NV(":authority", "a:443")}, 2, 501},
};

TEST(h2_refusals_never_reach_the_owner)
{
    for (size_t i = 0; i < PX_ARRAY_LEN(refusals); i++) {
        const struct refusal *r = &refusals[i];
        struct peer p;
        peer_init(&p, NULL, true, NULL, 0);
        int32_t id = request(&p, r->nv, r->n, NULL);
        pump(&p);
        if (p.o.heads != 0 || p.w.goaways != 0 || p.feed_rc != 0)
            TEST_FAIL_("%s: reached the owner or ended the session", r->what);
        if (r->status ? p.status[id] != r->status || p.w.rst[id] != 0
                      : p.w.rst[id] != PX_H2_PROTOCOL_ERROR + 1 || p.w.headers[id] != 0)
            TEST_FAIL_("%s: status %d, RST_STREAM %d", r->what, p.status[id], (int)p.w.rst[id] - 1);
        peer_dispose(&p);
    }
}

/* nghttp2 clients lowercase names, so this one is sent by hand. */
TEST(h2_uppercase_name_is_refused)
{
    const nghttp2_nv nv[] = {GET4("a"), NV("X-Foo", "1")};
    struct peer p;
    peer_init(&p, NULL, false, NULL, 0);
    raw_preface(&p);
    raw_headers(&p, 1, NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM, nv, PX_ARRAY_LEN(nv));
    pump(&p);
    ASSERT_EQ(p.o.heads, 0);
    ASSERT_EQ(p.w.rst[1], PX_H2_PROTOCOL_ERROR + 1);
    ASSERT_EQ(p.w.goaways, 0);
    peer_dispose(&p);
}

TEST(h2_host_alone_becomes_authority)
{
    const nghttp2_nv nv[] = {NV(":method", "OPTIONS"), NV(":scheme", "http"), NV(":path", "*"),
                             NV("host", "h.example:8080")};
    struct peer p;
    peer_init(&p, NULL, true, NULL, 0);
    request(&p, nv, PX_ARRAY_LEN(nv), NULL);
    pump(&p);
    ASSERT_EQ(p.o.heads, 1);
    ASSERT_STR_EQ(p.o.authority, "h.example:8080");
    ASSERT_STR_EQ(p.o.path, "*");
    ASSERT_STR_EQ(p.o.fields, "");
    peer_dispose(&p);
    /* Both, agreeing but for case: one Host, the :authority's. */
    const nghttp2_nv both[] = {GET4("A.example"), NV("host", "a.EXAMPLE")};
    peer_init(&p, NULL, true, NULL, 0);
    request(&p, both, PX_ARRAY_LEN(both), NULL);
    pump(&p);
    ASSERT_EQ(p.o.heads, 1);
    ASSERT_STR_EQ(p.o.authority, "A.example");
    ASSERT_STR_EQ(p.o.fields, "");
    peer_dispose(&p);
}
