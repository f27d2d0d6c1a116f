/*
 * Unit tests of the heads given whole (px_http_load_*, proxy/proto/http1.c):
 * a loaded head must be exactly what the parser makes of the same head
 * rendered as HTTP/1.1, the way h2conn renders it, down to the bytes sent
 * upstream; and every head the loader declines must still parse as before.
 */
#include "tests/unit/test.h"
#include "proxy/proto/http1.h"
#include "proxy/base/px.h"

#define MAX_HEAD_BYTES 512
#define MAX_HEADERS 8
#define MAX_FIELDS 10

struct lcase {
    const char *method, *target, *host; /* host "" = no Host line */
    const char *f[MAX_FIELDS][2];       /* name, value; ends at a NULL name */
    size_t vlen[MAX_FIELDS];            /* a value's length when it holds NUL (else 0) */
};

/* A case: METHOD TARGET, Host HOST, then fields {name, value}. */
#define C(m, t, h, ...)                                                                            \
    {                                                                                              \
        .method = m, .target = t, .host = h, .f = { __VA_ARGS__ }                                  \
    }

static size_t value_len(const struct lcase *c, int i)
{
    return c->vlen[i] ? c->vlen[i] : strlen(c->f[i][1]);
}

/* The head as h2conn's render_head() writes it. */
static size_t render(const struct lcase *c, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, "%s %s HTTP/1.1\r\n", c->method, c->target);
    if (*c->host)
        n += (size_t)snprintf(out + n, cap - n, "Host: %s\r\n", c->host);
    for (int i = 0; i < MAX_FIELDS && c->f[i][0]; i++) {
        n += (size_t)snprintf(out + n, cap - n, "%s: ", c->f[i][0]);
        memcpy(out + n, c->f[i][1], value_len(c, i));
        n += value_len(c, i);
        n += (size_t)snprintf(out + n, cap - n, "\r\n");
    }
    n += (size_t)snprintf(out + n, cap - n, "\r\n");
    ASSERT(n < cap);
    return n;
}

static bool load(struct px_http *h, const struct lcase *c)
{
    bool ok = px_http_load_begin(h, c->method, strlen(c->method), c->target, strlen(c->target)) &&
              (!*c->host || px_http_load_field(h, "Host", 4, c->host, strlen(c->host)));
    for (int i = 0; ok && i < MAX_FIELDS && c->f[i][0]; i++)
        ok = px_http_load_field(h, c->f[i][0], strlen(c->f[i][0]), c->f[i][1], value_len(c, i));
    if (ok)
        px_http_load_end(h);
    else
        px_http_load_abort(h);
    return ok;
}

/* What the exchange learns from a head, and what it sends upstream. */
struct seen {
    int head, scan, done;
    char out[2048];
    int outlen;
    char fields[2048];
    const char *method;
    bool keep_alive, body, chunked, cl, upgrade, idempotent, started;
    uint64_t clen;
};

static void observe(struct px_http *h, int head, struct seen *s)
{
    static const char *const drop[] = {"x-geo-zone"};
    struct px_req_ctx ctx = {.client_ip = "192.0.2.1",
                             .scheme = "https",
                             .drop_names = drop,
                             .ndrop = 1,
                             .extra = "X-Request-Id: r\r\n",
                             .extra_len = 17};
    size_t used, k = 0;

    memset(s, 0, sizeof(*s));
    s->head = head;
    s->outlen = -1;
    if (head != PX_HTTP_HEAD)
        return;
    s->scan = px_http_scan(h);
    for (uint32_t i = 0; i < h->nhdrs; i++)
        k += (size_t)snprintf(s->fields + k, sizeof(s->fields) - k, "%.*s=%.*s|%u|%u;",
                              (int)h->hdrs[i].name_len, h->buf + h->hdrs[i].name_off,
                              (int)h->hdrs[i].value_len, h->buf + h->hdrs[i].value_off,
                              (unsigned)h->hdrs[i].flags, (unsigned)h->hdrs[i].id);
    if (s->scan == 0)
        s->outlen = px_http_write_request_head(h, &ctx, s->out, sizeof(s->out));
    s->method = px_http_method_name(h);
    s->keep_alive = px_http_keep_alive(h);
    s->body = px_http_has_body(h);
    s->chunked = px_http_chunked(h);
    s->cl = px_http_content_length(h, &s->clen);
    s->upgrade = px_http_is_upgrade(h);
    s->idempotent = px_http_is_idempotent(h);
    s->started = px_http_started(h);
    s->done = px_http_feed(h, "", 0, &used);
}

static void expect_same(const struct seen *a, const struct seen *b, const char *what)
{
    if (a->head != b->head || a->scan != b->scan || a->done != b->done || a->outlen != b->outlen ||
        strcmp(a->fields, b->fields) != 0 ||
        (a->outlen > 0 && memcmp(a->out, b->out, (size_t)a->outlen) != 0) ||
        strcmp(a->method ? a->method : "", b->method ? b->method : "") != 0 ||
        a->keep_alive != b->keep_alive || a->body != b->body || a->chunked != b->chunked ||
        a->cl != b->cl || a->clen != b->clen || a->upgrade != b->upgrade ||
        a->idempotent != b->idempotent || a->started != b->started)
        TEST_FAIL_("%s: loaded and parsed differ: head %d/%d scan %d/%d done %d/%d fields "
                   "\"%s\" / \"%s\" out \"%.*s\" / \"%.*s\"",
                   what, a->head, b->head, a->scan, b->scan, a->done, b->done, a->fields, b->fields,
                   a->outlen > 0 ? a->outlen : 0, a->out, b->outlen > 0 ? b->outlen : 0, b->out);
}

/* Parses C rendered into a fresh parser, then loads it (or, declined, feeds
 * the rendering to the same parser): both must agree. Returns whether it loaded. */
static bool check(const struct lcase *c)
{
    struct px_http parsed, given;
    struct seen a, b;
    char text[2048];
    size_t n = render(c, text, sizeof(text)), used = 0;
    bool loaded;

    ASSERT_OK(px_http_init(&parsed, PX_HTTP_REQUEST, NULL, MAX_HEAD_BYTES, MAX_HEADERS));
    ASSERT_OK(px_http_init(&given, PX_HTTP_REQUEST, NULL, MAX_HEAD_BYTES, MAX_HEADERS));
    int ev = px_http_feed(&parsed, text, n, &used);
    observe(&parsed, ev, &a);
    if (ev == PX_HTTP_HEAD)
        ASSERT_EQ(used, n);
    loaded = load(&given, c);
    if (loaded) {
        ev = px_http_feed(&given, "", 0, &used);
        ASSERT_EQ(used, 0);
    } else {
        ev = px_http_feed(&given, text, n, &used);
    }
    observe(&given, ev, &b);
    expect_same(&a, &b, c->target);
    px_http_dispose(&parsed);
    px_http_dispose(&given);
    return loaded;
}

TEST(http1_loaded_head_is_the_parsed_rendering)
{
    static const struct lcase ok[] = {
        C("GET", "/b100", "127.0.0.1:8443", {"user-agent", "h2load nghttp2/1.52.0"}),
        C("HEAD", "/a/b?c=d&e=f?g", "example.com", {"accept", "text/html, */*;q=0.8"},
          {"cookie", "a=1; b=2"}, {"x-forwarded-for", "198.51.100.7"}, {"x-geo-zone", "forged"},
          {"x-request-id", "abc"}),
        C("DELETE", "/x", "h", {"empty", ""}, {"padded", " \t v  w \t"}, {"blank", "  "}),
        C("OPTIONS", "/!$&'()*+,;=:@-._~%20\"<>[]\\^`{|}", "h:1", {"X-Upper", "Mixed"}),
        C("POST", "/p", "h", {"obs-text", "caf\xc3\xa9 \x80\xff"}),
        C("PUT", "/u", "h", {"x_under_score", "1"}, {"expect", "100-continue"}),
        C("PATCH", "/q?", "h", {"te", "trailers"}),
        /* Refused the same way by both: no Host, an invalid Host. */
        C("GET", "/no-host", "", {"accept", "*/*"}),
        C("GET", "/bad-host", "a b"),
        C("GET", "/bad-host2", "h@x"),
    };
    for (size_t i = 0; i < PX_ARRAY_LEN(ok); i++)
        if (!check(&ok[i]))
            TEST_FAIL_("case %zu (%s) was not loaded", i, ok[i].target);
}

TEST(http1_load_leaves_unusual_heads_to_the_parser)
{
    static const struct lcase declined[] = {
        /* Fields llhttp reads for framing or connection state. */
        C("GET", "/cl", "h", {"content-length", "0"}),
        C("GET", "/te", "h", {"transfer-encoding", "chunked"}),
        C("GET", "/conn", "h", {"connection", "close"}),
        C("GET", "/pc", "h", {"proxy-connection", "keep-alive"}),
        C("GET", "/up", "h", {"Upgrade", "websocket"}),
        /* Methods and targets off the common path. */
        C("PROPFIND", "/dav", "h"),
        C("CONNECT", "/c", "h"),
        C("OPTIONS", "*", "h"),
        C("GET", "http://h/abs", "h"),
        C("GET", "/frag#x", "h"),
        C("GET", "/high\x80", "h"),
        C("GET", "/del\x7f", "h"),
        /* Bytes llhttp judges in names and values. */
        C("GET", "/n", "h", {"bad name", "v"}),
        C("GET", "/n2", "h", {"bad:name", "v"}),
        C("GET", "/v", "h", {"ctl", "a\x01z"}),
        C("GET", "/v2", "h", {"del", "a\x7fz"}),
        {.method = "GET", .target = "/v3", .host = "h", .f = {{"nul", "a\0z"}}, .vlen = {3}},
        /* Over a limit: more fields than max_headers, a head over max_header_bytes. */
        C("GET", "/many", "h", {"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}, {"e", "5"},
          {"f", "6"}, {"g", "7"}, {"i", "8"}),
        C("GET", "/big", "h",
          {"a", "0123456789012345678901234567890123456789012345678901234567890123456789"
                "0123456789012345678901234567890123456789012345678901234567890123456789"
                "0123456789012345678901234567890123456789012345678901234567890123456789"},
          {"b", "0123456789012345678901234567890123456789012345678901234567890123456789"
                "0123456789012345678901234567890123456789012345678901234567890123456789"
                "0123456789012345678901234567890123456789012345678901234567890123456789"},
          {"c", "0123456789012345678901234567890123456789012345678901234567890123456789"
                "0123456789012345678901234567890123456789012345678901234567890123456789"}),
    };
    for (size_t i = 0; i < PX_ARRAY_LEN(declined); i++)
        if (check(&declined[i]))
            TEST_FAIL_("case %zu (%s) was loaded", i, declined[i].target);
}

/* A loaded request has no body: bytes after it are an error, as is a second
 * head; a reset parser parses again. */
TEST(http1_loaded_head_then_reset)
{
    struct px_http h;
    size_t used;
    static const char next[] = "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";

    ASSERT_OK(px_http_init(&h, PX_HTTP_REQUEST, NULL, MAX_HEAD_BYTES, MAX_HEADERS));
    ASSERT(px_http_load_begin(&h, "GET", 3, "/", 1));
    ASSERT(px_http_load_field(&h, "Host", 4, "h", 1));
    px_http_load_end(&h);
    ASSERT(px_http_started(&h));
    ASSERT_EQ(px_http_feed(&h, "", 0, &used), PX_HTTP_HEAD);
    ASSERT_EQ(px_http_feed(&h, "x", 1, &used), PX_EPARSE);
    ASSERT_EQ(used, 0);
    px_http_reset(&h);
    ASSERT_EQ(px_http_feed(&h, next, sizeof(next) - 1, &used), PX_HTTP_HEAD);
    ASSERT_EQ(used, sizeof(next) - 1);
    ASSERT_OK(px_http_scan(&h));
    ASSERT_EQ(px_http_feed(&h, "", 0, &used), PX_HTTP_DONE);
    px_http_dispose(&h);
}
