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
        NV(":method", "GET"),  NV(":scheme", "https"), NV(":authority", "example.com"),
        NV(":path", "/a?b=c"), NV("cookie", "a=1"),    NV("user-agent", "t"),
        NV("cookie", "b=2"),   NV("te", "trailers"),
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

/* A head past the room a stream starts with (15 fields, 496 bytes of
 * names and values) moves to blocks of its own, whole and in order, and
 * so does the cookie joined after it. */
TEST(h2_request_head_outgrows_the_stream_block)
{
    enum { N = 40 };
    static char names[N][8], values[N][32], want[4096];
    nghttp2_nv nv[4 + N + 2] = {NV(":method", "GET"), NV(":scheme", "https"),
                                NV(":authority", "example.com"), NV(":path", "/")};
    size_t n = 4, w = 0;
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "x-f%02d", i);
        snprintf(values[i], sizeof(values[i]), "value-%02d-abcdefghijklmnopq", i);
        nv[n++] = (nghttp2_nv){(uint8_t *)names[i], (uint8_t *)values[i], strlen(names[i]),
                               strlen(values[i]), 0};
        w += (size_t)snprintf(want + w, sizeof(want) - w, "%s: %s\n", names[i], values[i]);
    }
    nv[n++] = (nghttp2_nv)NV("cookie", "a=1");
    nv[n++] = (nghttp2_nv)NV("cookie", "b=2");
    snprintf(want + w, sizeof(want) - w, "cookie: a=1; b=2\n");

    struct peer p;
    peer_init(&p, NULL, true, NULL, 0);
    p.o.respond = true;
    int32_t id = request(&p, nv, n, NULL);
    pump(&p);
    ASSERT_EQ(p.o.heads, 1);
    ASSERT_STR_EQ(p.o.authority, "example.com");
    ASSERT_STR_EQ(p.o.fields, want);
    ASSERT_EQ(p.status[id], 200);
    ASSERT_EQ(p.feed_rc, 0);
    peer_dispose(&p);
}

/* A request the server must refuse, and how. */
struct refusal {
    const char *what;
    nghttp2_nv nv[8];
    size_t n;
    int status; /* answered with this status, or 0: RST_STREAM(PROTOCOL_ERROR) */
};

#define GET4(auth)                                                                                 \
    NV(":method", "GET"), NV(":scheme", "https"), NV(":authority", auth), NV(":path", "/")

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
    {"empty :path",
     {NV(":method", "GET"), NV(":scheme", "https"), NV(":authority", "a"), NV(":path", "")},
     4,
     0},
    /* ours: what a proxy rendering HTTP/1.1 needs */
    {"host disagrees", {GET4("a.example"), NV("host", "b.example")}, 5, 0},
    {"two hosts",
     {NV(":method", "GET"), NV(":scheme", "https"), NV(":path", "/"), NV("host", "a"),
      NV("host", "a")},
     5,
     0},
    {"userinfo", {GET4("u@a.example")}, 4, 0},
    {"no authority, no host",
     {NV(":method", "GET"), NV(":scheme", "https"), NV(":path", "/")},
     3,
     0},
    {"scheme ftp",
     {NV(":method", "GET"), NV(":scheme", "ftp"), NV(":authority", "a"), NV(":path", "/")},
     4,
     0},
    {"path not origin-form",
     {NV(":method", "GET"), NV(":scheme", "https"), NV(":authority", "a"), NV(":path", "x/y")},
     4,
     0},
    {"* with GET",
     {NV(":method", "GET"), NV(":scheme", "https"), NV(":authority", "a"), NV(":path", "*")},
     4,
     0},
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

static const nghttp2_nv post_nv[] = {
    NV(":method", "POST"), NV(":scheme", "https"),     NV(":authority", "example.com"),
    NV(":path", "/up"),    NV("content-length", "10"),
};

TEST(h2_request_body_and_content_length)
{
    struct peer p;
    struct body b = {"0123456789", 10, 0};
    peer_init(&p, NULL, true, NULL, 0);
    int32_t id = request(&p, post_nv, PX_ARRAY_LEN(post_nv), &b);
    pump(&p);
    ASSERT_EQ(p.o.heads, 1);
    ASSERT_EQ(p.o.content_length, 10);
    ASSERT_EQ(p.o.body_bytes, 10);
    ASSERT_EQ(p.o.ends, 1);
    ASSERT_EQ(p.w.rst[id], 0);
    peer_dispose(&p);
}

/* RFC 9113 §8.1.1: content-length that disagrees with the DATA is malformed (nghttp2). */
TEST(h2_content_length_disagreeing_with_data)
{
    struct peer p;
    struct body shorter = {"01234", 5, 0}, longer = {"0123456789ABCDEF", 16, 0};

    peer_init(&p, NULL, true, NULL, 0);
    int32_t id = request(&p, post_nv, PX_ARRAY_LEN(post_nv), &shorter);
    pump(&p);
    ASSERT_EQ(p.o.heads, 1);
    ASSERT_EQ(p.o.ends, 0); /* never complete: the owner must not reuse the upstream */
    ASSERT_EQ(p.w.rst[id], PX_H2_PROTOCOL_ERROR + 1);
    ASSERT_EQ(p.o.close_code[id], PX_H2_PROTOCOL_ERROR + 1);
    peer_dispose(&p);

    peer_init(&p, NULL, true, NULL, 0);
    id = request(&p, post_nv, PX_ARRAY_LEN(post_nv), &longer);
    pump(&p);
    ASSERT_EQ(p.o.heads, 1);
    ASSERT_LE(p.o.body_bytes, 10); /* not one byte past the length reaches the owner */
    ASSERT_EQ(p.o.ends, 0);
    ASSERT_EQ(p.w.rst[id], PX_H2_PROTOCOL_ERROR + 1);
    ASSERT_EQ(p.o.close_code[id], PX_H2_PROTOCOL_ERROR + 1);
    peer_dispose(&p);
}

/* Trailers are delivered with the end; framing or routing fields in them are refused. */
TEST(h2_request_trailers)
{
    const nghttp2_nv head[] = {NV(":method", "POST"), NV(":scheme", "https"), NV(":authority", "a"),
                               NV(":path", "/"), NV("te", "trailers")};
    const nghttp2_nv good[] = {NV("x-checksum", "abc")};
    const nghttp2_nv bad[] = {NV("content-length", "0")};
    for (int round = 0; round < 2; round++) {
        struct peer p;
        peer_init(&p, NULL, true, NULL, 0);
        int32_t id = nghttp2_submit_headers(p.cli, 0, -1, NULL, head, PX_ARRAY_LEN(head), NULL);
        ASSERT_GT(id, 0);
        pump(&p);
        ASSERT_OK(nghttp2_submit_headers(p.cli, NGHTTP2_FLAG_END_STREAM, id, NULL,
                                         round == 0 ? good : bad, 1, NULL));
        pump(&p);
        ASSERT_EQ(p.o.heads, 1);
        if (round == 0) {
            ASSERT_EQ(p.o.ends, 1);
            ASSERT_STR_EQ(p.o.trailers, "x-checksum: abc\n");
        } else {
            ASSERT_EQ(p.o.ends, 0);
            ASSERT_EQ(p.w.rst[id], PX_H2_PROTOCOL_ERROR + 1);
        }
        peer_dispose(&p);
    }
}

/*
 * No WINDOW_UPDATE until the owner consumes: a client can have no more than
 * the stream window in flight, and the owner never more than that unsent.
 */
TEST(h2_flow_control_is_backpressure)
{
    static char big[200000];
    const nghttp2_nv nv[] = {NV(":method", "POST"), NV(":scheme", "https"), NV(":authority", "a"),
                             NV(":path", "/")};
    struct body b = {big, sizeof(big), 0};
    struct px_h2_config cfg;
    struct peer p;
    px_h2_config_init(&cfg);
    cfg.stream_window_bytes = 32768;
    peer_init(&p, &cfg, true, NULL, 0);
    p.o.auto_consume = false;
    pump(&p); /* our SETTINGS acknowledged: until then the window is 65535 (RFC 9113 §6.5.3) */
    int32_t id = request(&p, nv, PX_ARRAY_LEN(nv), &b);
    pump(&p);
    ASSERT_EQ(p.o.heads, 1);
    ASSERT_EQ(p.o.body_bytes, 32768);
    int updates = p.w.window_updates;
    pump(&p);
    ASSERT_EQ(p.o.body_bytes, 32768); /* nothing more without a consume */
    ASSERT_EQ(p.w.window_updates, updates);

    size_t total = 0;
    for (int i = 0; i < 100 && p.o.ends == 0; i++) {
        size_t n = p.o.body_bytes - total;
        total = p.o.body_bytes;
        px_h2_consume(p.o.last, n);
        pump(&p);
        ASSERT_LE(p.o.body_bytes - total, 32768);
    }
    ASSERT_EQ(p.o.ends, 1);
    ASSERT_EQ(p.o.body_bytes, sizeof(big));
    ASSERT_EQ(p.w.rst[id], 0);
    peer_dispose(&p);
}

static int cli_on_resp_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
                              size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags,
                              void *ud)
{
    char *seen = ud;
    size_t k = strlen(seen);
    (void)ng;
    (void)frame;
    snprintf(seen + k, 1024 - k, "%.*s: %.*s%s\n", (int)nlen, name, (int)vlen, value,
             flags & NGHTTP2_NV_FLAG_NO_INDEX ? " (never indexed)" : "");
    return 0;
}

/* A peer whose client session writes the fields it receives into SEEN. */
static void peer_init_seeing(struct peer *p, char *seen, const nghttp2_settings_entry *iv,
                             size_t niv)
{
    nghttp2_session_callbacks *cb;
    nghttp2_option *opt;

    peer_init(p, NULL, true, iv, niv);
    nghttp2_session_del(p->cli);
    ASSERT_OK(nghttp2_session_callbacks_new(&cb));
    ASSERT_OK(nghttp2_option_new(&opt));
    nghttp2_option_set_no_auto_window_update(opt, 1); /* the client opens windows by hand */
    nghttp2_session_callbacks_set_on_header_callback(cb, cli_on_resp_header);
    ASSERT_OK(nghttp2_session_client_new2(&p->cli, cb, seen, opt));
    nghttp2_session_callbacks_del(cb);
    nghttp2_option_del(opt);
    ASSERT_OK(nghttp2_submit_settings(p->cli, NGHTTP2_FLAG_NONE, iv, niv));
}

/*
 * The response head loses its HTTP/1.1 connection fields; the body is sent
 * as the owner pushes it (deferred in between), and stalls on a closed
 * window.
 */
TEST(h2_response_head_body_and_trailers)
{
    const struct px_h2_field fields[] = {
        {"Content-Type", "text/plain", 12, 10},
        {"Connection", "close", 10, 5},
        {"Transfer-Encoding", "chunked", 17, 7},
        {"Keep-Alive", "5", 10, 1},
        {"X-Up", "1", 4, 1},
        {"X-Request-Id", "r1", 12, 2},
    };
    const struct px_h2_field trailer = {"X-Sum", "9", 5, 1};
    const nghttp2_settings_entry tiny = {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 8};
    char seen[1024] = "";
    struct peer p;
    peer_init_seeing(&p, seen, &tiny, 1);

    request(&p, get_nv, PX_ARRAY_LEN(get_nv), NULL);
    pump(&p);
    ASSERT_EQ(p.o.ends, 1);
    struct px_h2_stream *st = p.o.last;
    ASSERT_OK(px_h2_submit_response(st, 200, fields, PX_ARRAY_LEN(fields), false));
    pump(&p);
    ASSERT_STR_EQ(seen, ":status: 200\ncontent-type: text/plain\nx-up: 1\nx-request-id: r1\n");
    ASSERT(!px_h2_stalled(p.s));
    ASSERT_EQ(p.w.data[1], 0); /* deferred: nothing queued yet */

    ASSERT_OK(px_h2_submit_data(st, "0123456789abcdef", 16, false));
    pump(&p);
    ASSERT_EQ(p.w.data[1], 8); /* the client's window */
    ASSERT_EQ(px_h2_stream_queued(st), 8);
    ASSERT_EQ(px_h2_stream_send_window(st), 0);
    ASSERT(px_h2_stalled(p.s)); /* the owner's send timeout runs now */

    ASSERT_OK(px_h2_submit_trailers(st, &trailer, 1));
    ASSERT_OK(nghttp2_submit_window_update(p.cli, NGHTTP2_FLAG_NONE, 1, 100));
    pump(&p);
    ASSERT(!px_h2_stalled(p.s));
    ASSERT_EQ(p.w.data[1], 16);
    ASSERT_STR_CONTAINS(seen, "x-sum: 9\n");
    ASSERT_EQ(p.o.closes, 1);
    ASSERT_EQ(p.o.close_code[1], PX_H2_NO_ERROR + 1);
    ASSERT(!px_h2_want_write(p.s));
    peer_dispose(&p);
}

/* What a client session received of stream 1's body. */
struct got {
    char body[64 * 1024];
    size_t len;
    bool ended;
};

static int got_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                    void *ud)
{
    struct got *g = ud;
    (void)ng;
    (void)flags;
    if (id == 1 && g->len + len <= sizeof(g->body)) {
        memcpy(g->body + g->len, data, len);
        g->len += len;
    }
    return 0;
}

static int got_close(nghttp2_session *ng, int32_t id, uint32_t code, void *ud)
{
    (void)ng;
    ((struct got *)ud)->ended = id == 1 && code == NGHTTP2_NO_ERROR;
    return 0;
}

/*
 * Body bytes reach px_h2_send()'s buffer without nghttp2's frame buffer
 * when a whole DATA frame fits in what is left of it, and through it, in
 * pieces, when not: whatever the buffer sizes, the client gets every byte
 * in order, with trailers after, for a body queued in several parts.
 */
TEST(h2_response_body_whatever_the_send_buffer)
{
    static const size_t sizes[] = {1, 9, 10, 100, 4096, 9 + 16384, 70000};
    const struct px_h2_field trailer = {"X-Sum", "9", 5, 1};
    static char body[40000], buf[70000];
    for (size_t i = 0; i < sizeof(body); i++)
        body[i] = (char)('a' + (i * 7 + i / 251) % 26);

    for (size_t k = 0; k < PX_ARRAY_LEN(sizes); k++) {
        static struct got g;
        nghttp2_session_callbacks *cb;
        struct peer p;

        memset(&g, 0, sizeof(g));
        peer_init(&p, NULL, true, NULL, 0);
        nghttp2_session_del(p.cli);
        ASSERT_OK(nghttp2_session_callbacks_new(&cb));
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, got_data);
        nghttp2_session_callbacks_set_on_stream_close_callback(cb, got_close);
        ASSERT_OK(nghttp2_session_client_new(&p.cli, cb, &g));
        nghttp2_session_callbacks_del(cb);
        ASSERT_OK(nghttp2_submit_settings(p.cli, NGHTTP2_FLAG_NONE, NULL, 0));
        request(&p, get_nv, PX_ARRAY_LEN(get_nv), NULL);
        pump(&p);
        struct px_h2_stream *st = p.o.last;
        ASSERT_NOT_NULL(st);
        ASSERT_OK(px_h2_submit_response(st, 200, NULL, 0, false));
        ASSERT_OK(px_h2_submit_data(st, body, 25000, false));

        bool rest_queued = false;
        for (int round = 0; round < 100000 && !g.ended; round++) {
            ssize_t n = px_h2_send(p.s, buf, sizes[k]);
            ASSERT(n >= 0 && (size_t)n <= sizes[k]);
            if (n > 0)
                ASSERT_EQ(nghttp2_session_mem_recv(p.cli, (uint8_t *)buf, (size_t)n), n);
            if (!rest_queued && (n == 0 || g.len > 10000)) {
                /* The rest while part of the first is still queued. */
                ASSERT_OK(px_h2_submit_data(st, body + 25000, sizeof(body) - 25000, false));
                ASSERT_OK(px_h2_submit_trailers(st, &trailer, 1));
                rest_queued = true;
            }
            const uint8_t *d;
            ssize_t m;
            while ((m = nghttp2_session_mem_send(p.cli, &d)) > 0)
                peer_feed(&p, d, (size_t)m);
        }
        ASSERT(g.ended);
        ASSERT_EQ(g.len, sizeof(body));
        ASSERT(memcmp(g.body, body, sizeof(body)) == 0);
        pump(&p); /* what the client said meanwhile (window updates) */
        ASSERT(!px_h2_want_write(p.s));
        ASSERT_EQ(p.o.closes, 1);
        peer_dispose(&p);
    }
}

/*
 * X-Request-Id has a value new in every response: the session's first goes
 * into the client's HPACK table, for its name, and every later one is never
 * indexed (it refers to that name and adds nothing to the table).
 */
TEST(h2_request_id_name_is_indexed_once)
{
    static const char *const ids[] = {"r1", "r2", "r3"};
    size_t table[PX_ARRAY_LEN(ids)];
    char seen[1024] = "";
    struct peer p;

    peer_init_seeing(&p, seen, NULL, 0);
    for (size_t i = 0; i < PX_ARRAY_LEN(ids); i++) {
        const struct px_h2_field rid = {"X-Request-Id", ids[i], 12, 2};
        request(&p, get_nv, PX_ARRAY_LEN(get_nv), NULL);
        pump(&p);
        ASSERT_OK(px_h2_submit_response(p.o.last, 200, &rid, 1, true));
        pump(&p);
        table[i] = nghttp2_session_get_hd_inflate_dynamic_table_size(p.cli);
    }
    ASSERT_STR_EQ(seen, ":status: 200\nx-request-id: r1\n"
                        ":status: 200\nx-request-id: r2 (never indexed)\n"
                        ":status: 200\nx-request-id: r3 (never indexed)\n");
    ASSERT_EQ(table[0], 32 + 12 + 2); /* RFC 7541 §4.1: the entry's size */
    ASSERT_EQ(table[1], table[0]);
    ASSERT_EQ(table[2], table[0]);
    peer_dispose(&p);
}

/*
 * nghttp2 reads a response section from the session's own copy until the
 * frame is out (NGHTTP2_NV_FLAG_NO_COPY_*): the caller's buffers may change
 * at once, and a stream reset before its HEADERS went out frees the copy
 * with the stream while the frame is still queued (under ASan, a read of
 * it after that fails this test).
 */
TEST(h2_response_sections_outlive_the_caller_not_the_stream)
{
    char name[] = "X-Up", value[] = "abc";
    const struct px_h2_field f = {name, value, 4, 3};
    char seen[1024] = "";
    struct peer p;

    peer_init_seeing(&p, seen, NULL, 0);
    request(&p, get_nv, PX_ARRAY_LEN(get_nv), NULL);
    pump(&p);
    ASSERT_OK(px_h2_submit_response(p.o.last, 200, &f, 1, true));
    memset(name, '?', 4);
    memset(value, '?', 3);
    pump(&p);
    ASSERT_STR_EQ(seen, ":status: 200\nx-up: abc\n");

    int32_t id = request(&p, get_nv, PX_ARRAY_LEN(get_nv), NULL);
    pump(&p);
    memcpy(name, "X-Up", 4);
    ASSERT_OK(px_h2_submit_response(p.o.last, 200, &f, 1, false));
    ASSERT_OK(nghttp2_submit_rst_stream(p.cli, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL));
    pump(&p); /* the client's RST_STREAM is read before the queued HEADERS go */
    ASSERT_STR_EQ(seen, ":status: 200\nx-up: abc\n");
    ASSERT_EQ(p.o.closes, 2);
    peer_dispose(&p);
}

/*
 * A head's array of fields is the session's scratch, written over by the
 * next head: nghttp2 copies it at submission. Heads of three streams
 * submitted before one flush, each with more fields than the one before
 * (so the scratch grows and moves), and trailers queued behind a body,
 * submitted to nghttp2 only as the body goes out (their array is their
 * own), all reach the client as sent.
 */
TEST(h2_heads_submitted_together_keep_their_own_fields)
{
    const struct px_h2_field f[] = {
        {"X-A", "1", 3, 1},    {"X-B", "22", 3, 2},    {"X-C", "333", 3, 3},
        {"X-D", "4444", 3, 4}, {"X-E", "55555", 3, 5}, {"X-F", "666666", 3, 6},
    };
    const struct px_h2_field trailer[] = {{"X-T1", "t1", 4, 2}, {"X-T2", "t2", 4, 2}};
    struct px_h2_stream *st[3];
    char seen[1024] = "";
    struct peer p;

    peer_init_seeing(&p, seen, NULL, 0);
    for (int i = 0; i < 3; i++) {
        request(&p, get_nv, PX_ARRAY_LEN(get_nv), NULL);
        pump(&p);
        st[i] = p.o.last;
    }
    ASSERT_OK(px_h2_submit_response(st[0], 200, f, 1, false));
    ASSERT_OK(px_h2_submit_data(st[0], "body", 4, false));
    ASSERT_OK(px_h2_submit_trailers(st[0], trailer, 2)); /* submitted once the body is out */
    ASSERT_OK(px_h2_submit_response(st[1], 201, f, 3, true));
    ASSERT_OK(px_h2_submit_response(st[2], 202, f, 6, true));
    pump(&p);
    ASSERT_STR_EQ(seen, ":status: 200\nx-a: 1\n"
                        ":status: 201\nx-a: 1\nx-b: 22\nx-c: 333\n"
                        ":status: 202\nx-a: 1\nx-b: 22\nx-c: 333\nx-d: 4444\nx-e: 55555\n"
                        "x-f: 666666\n"
                        "x-t1: t1\nx-t2: t2\n");
    ASSERT_EQ(p.o.closes, 3);
    peer_dispose(&p);
}

TEST(h2_response_refuses_bad_status_and_fields)
{
    const struct px_h2_field crlf = {"x", "a\r\nb", 1, 4};
    /* Names that are no token: space, colon, empty, a byte past ASCII, NUL. */
    const struct px_h2_field bad_names[] = {
        {"x y", "1", 3, 1},   {"x:y", "1", 3, 1}, {"", "1", 0, 1},
        {"x\xe9", "1", 2, 1}, {"x\0", "1", 2, 1},
    };
    struct peer p;
    peer_init(&p, NULL, true, NULL, 0);
    request(&p, get_nv, PX_ARRAY_LEN(get_nv), NULL);
    pump(&p);
    struct px_h2_stream *st = p.o.last;
    ASSERT_EQ(px_h2_submit_response(st, 101, NULL, 0, true), PX_EPARSE);
    ASSERT_EQ(px_h2_submit_response(st, 99, NULL, 0, true), PX_EPARSE);
    ASSERT_EQ(px_h2_submit_response(st, 200, &crlf, 1, true), PX_EPARSE);
    /* Fields past the parsed ones (the lines the proxy adds) are checked. */
    const struct px_h2_field parsed_then_ours[] = {{"x-a", "1", 3, 1}, crlf};
    ASSERT_EQ(px_h2_submit_parsed_response(st, 200, parsed_then_ours, 1, 2, true), PX_EPARSE);
    for (size_t i = 0; i < PX_ARRAY_LEN(bad_names); i++)
        ASSERT_EQ(px_h2_submit_response(st, 200, &bad_names[i], 1, true), PX_EPARSE);
    ASSERT_EQ(px_h2_submit_data(st, "x", 1, true), PX_EPARSE); /* no head with a body yet */
    ASSERT_OK(px_h2_submit_response(st, 103, NULL, 0, false));
    ASSERT_OK(px_h2_submit_response(st, 204, NULL, 0, true));
    pump(&p);
    ASSERT_EQ(p.w.headers[1], 2);
    ASSERT_EQ(p.status[1], 204);
    ASSERT_EQ(p.o.closes, 1);
    peer_dispose(&p);
}

/*
 * A value HTTP/2 must not carry (a control byte but HTAB, or DEL: RFC 9110
 * §5.5, RFC 9113 §8.2.1) never reaches the client, in the head or in the
 * trailers, wherever it sits in the value; the rest, obs-text included,
 * is sent as it is.
 */
TEST(h2_response_values_checked_byte_by_byte)
{
    char val[20];
    struct peer p;
    peer_init(&p, NULL, true, NULL, 0);
    request(&p, get_nv, PX_ARRAY_LEN(get_nv), NULL);
    pump(&p);
    struct px_h2_stream *st = p.o.last;
    for (unsigned c = 0; c < 256; c++) {
        bool bad = (c < 0x20 && c != '\t') || c == 0x7f;
        for (size_t at = 0; at < sizeof(val); at += 3) {
            memset(val, 'v', sizeof(val));
            val[at] = (char)c;
            const struct px_h2_field f = {"x-v", val, 3, (uint32_t)at + 1};
            ASSERT_EQ(px_h2_submit_response(st, 103, &f, 1, false), bad ? PX_EPARSE : 0);
        }
    }
    ASSERT_OK(px_h2_submit_response(st, 200, NULL, 0, false));
    for (unsigned c = 0; c < 256; c++) {
        bool bad = (c < 0x20 && c != '\t') || c == 0x7f;
        memset(val, 'v', sizeof(val));
        val[c % sizeof(val)] = (char)c;
        const struct px_h2_field f = {"x-t", val, 3, sizeof(val)};
        if (bad)
            ASSERT_EQ(px_h2_submit_trailers(st, &f, 1), PX_EPARSE);
    }
    const struct px_h2_field ok = {"x-t", "a\tb\xe9", 3, 4};
    ASSERT_OK(px_h2_submit_trailers(st, &ok, 1));
    pump(&p);
    ASSERT_EQ(p.o.closes, 1);
    ASSERT_EQ(p.o.close_code[1], PX_H2_NO_ERROR + 1); /* ended cleanly, trailers and all */
    peer_dispose(&p);
}

/* The owner resets a stream (say, its upstream failed): one close, and the client sees the code. */
TEST(h2_owner_reset)
{
    struct peer p;
    peer_init(&p, NULL, true, NULL, 0);
    int32_t id = nghttp2_submit_headers(p.cli, 0, -1, NULL, post_nv, 4, NULL);
    ASSERT_GT(id, 0);
    pump(&p);
    ASSERT_EQ(p.o.heads, 1);
    px_h2_reset_stream(p.o.last, PX_H2_INTERNAL_ERROR);
    pump(&p);
    ASSERT_EQ(p.w.rst[id], PX_H2_INTERNAL_ERROR + 1);
    ASSERT_EQ(p.o.closes, 1);
    ASSERT_EQ(p.o.close_code[id], PX_H2_INTERNAL_ERROR + 1);
    peer_dispose(&p);
}

/*
 * RFC 9113 §6.8: GOAWAY names the last stream processed; it finishes, a
 * later one never reaches the owner, and the session then wants nothing.
 */
TEST(h2_graceful_goaway)
{
    struct peer p;
    peer_init(&p, NULL, true, NULL, 0);
    int32_t id = nghttp2_submit_headers(p.cli, 0, -1, NULL, post_nv, 4, NULL);
    pump(&p);
    ASSERT_EQ(p.o.heads, 1);
    struct px_h2_stream *st = p.o.last;
    ASSERT_OK(px_h2_goaway(p.s));
    ASSERT_EQ(px_h2_goaway_code(p.s), PX_H2_NO_ERROR);
    /* The client opens another stream before it sees the GOAWAY. */
    int32_t late = request(&p, get_nv, PX_ARRAY_LEN(get_nv), NULL);
    pump(&p);
    ASSERT_EQ(p.w.goaways, 1);
    ASSERT_EQ(p.w.goaway_code, PX_H2_NO_ERROR);
    ASSERT_EQ(p.w.goaway_last, id);
    ASSERT_EQ(p.o.heads, 1);      /* the late one was not processed */
    ASSERT(px_h2_want_read(p.s)); /* stream 1 is still open */
    ASSERT_OK(px_h2_submit_response(st, 200, NULL, 0, true));
    pump(&p);
    ASSERT_EQ(p.status[id], 200);
    ASSERT(px_h2_want_read(p.s)); /* the request is not over */
    ASSERT_OK(nghttp2_submit_rst_stream(p.cli, 0, id, NGHTTP2_NO_ERROR));
    pump(&p);
    ASSERT_EQ(p.status[late], 0);
    ASSERT_EQ(p.w.rst[late], PX_H2_REFUSED_STREAM + 1);
    ASSERT_EQ(p.o.closes, 1);
    ASSERT(!px_h2_want_read(p.s));
    ASSERT(!px_h2_want_write(p.s));
    peer_dispose(&p);
}

/* The HTTP/2 preface on a session is the only way in; anything else ends it. */
TEST(h2_bad_preface)
{
    struct peer p;
    peer_init(&p, NULL, false, NULL, 0);
    peer_feed(&p, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27);
    ASSERT_EQ(p.feed_rc, PX_EPARSE);
    ASSERT(!px_h2_want_read(p.s));
    ASSERT_EQ(p.o.heads, 0);
    peer_dispose(&p);
}
