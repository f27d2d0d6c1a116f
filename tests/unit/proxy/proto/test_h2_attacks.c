/*
 * Unit tests of proxy/proto/h2.c against the known HTTP/2 attacks: each ends
 * the session with the right GOAWAY (or refuses the stream) and the owner
 * gets nothing it should not. Budgets are per second of a clock the test
 * sets, so no test depends on timing. docs/H2.md has the table.
 */
#include "tests/unit/proxy/proto/h2_fixture.h"

/* Opens a stream and resets it, both in the same millisecond. */
static void cancel(struct peer *p)
{
    int32_t id = nghttp2_submit_headers(p->cli, 0, -1, NULL, get_nv, PX_ARRAY_LEN(get_nv), NULL);
    ASSERT_GT(id, 0);
    pump(p); /* or the client library drops the HEADERS it has not sent */
    ASSERT_OK(nghttp2_submit_rst_stream(p->cli, 0, id, NGHTTP2_CANCEL));
}

/* CVE-2023-44487: streams opened and reset at once, faster than the budget. */
TEST(h2_attack_rapid_reset)
{
    struct px_h2_config cfg;
    struct peer p;
    px_h2_config_init(&cfg);
    cfg.resets_per_s = 10;

    /* Ten a second for three seconds is within budget. */
    peer_init(&p, &cfg, true, NULL, 0);
    for (int sec = 0; sec < 3; sec++, p.now_ms += 1000) {
        for (int i = 0; i < 10; i++)
            cancel(&p);
        pump(&p);
    }
    ASSERT_EQ(p.w.goaways, 0);
    ASSERT_EQ(p.o.heads, 30);
    ASSERT_EQ(p.o.closes, 30);
    peer_dispose(&p);

    /* The eleventh within a second ends the session. */
    peer_init(&p, &cfg, true, NULL, 0);
    for (int i = 0; i < 11; i++)
        cancel(&p);
    pump(&p);
    ASSERT_EQ(p.w.goaways, 1);
    ASSERT_EQ(p.w.goaway_code, PX_H2_ENHANCE_YOUR_CALM);
    ASSERT_EQ(px_h2_goaway_code(p.s), PX_H2_ENHANCE_YOUR_CALM);
    ASSERT_STR_EQ(px_h2_error_reason(p.s), "stream reset flood");
    ASSERT_EQ(p.feed_rc, PX_EPARSE);
    ASSERT_LE(p.o.heads, 11);
    int heads = p.o.heads;
    request(&p, get_nv, PX_ARRAY_LEN(get_nv), NULL);
    pump(&p);
    ASSERT_EQ(p.o.heads, heads); /* nothing more reaches the owner */
    ASSERT(!px_h2_want_read(p.s));
    ASSERT(!px_h2_want_write(p.s));
    peer_dispose(&p);
}

/* The same with requests the server refuses as malformed: they cost alike. */
TEST(h2_attack_malformed_request_flood)
{
    const nghttp2_nv bad[] = {NV(":method", "GET"), NV(":scheme", "https"), NV(":authority", "a"),
                              NV(":path", "/"), NV("connection", "x")};
    struct px_h2_config cfg;
    struct peer p;
    px_h2_config_init(&cfg);
    cfg.resets_per_s = 10;
    peer_init(&p, &cfg, true, NULL, 0);
    for (int i = 0; i < 12; i++)
        request(&p, bad, PX_ARRAY_LEN(bad), NULL);
    pump(&p);
    ASSERT_EQ(p.o.heads, 0);
    ASSERT_EQ(p.w.goaways, 1);
    ASSERT_EQ(p.w.goaway_code, PX_H2_ENHANCE_YOUR_CALM);
    peer_dispose(&p);
}

/*
 * CVE-2024-27316 / CVE-2024-28182: a header block that never ends. Four
 * CONTINUATION frames are allowed (max_continuations), the fifth ends it.
 */
TEST(h2_attack_continuation_flood)
{
    uint8_t block[256];
    for (int extra = 0; extra < 2; extra++) {
        struct peer p;
        peer_init(&p, NULL, false, NULL, 0);
        raw_preface(&p);
        size_t len = raw_block(&p, get_nv, PX_ARRAY_LEN(get_nv), block, sizeof(block));
        size_t part = len / 6;
        raw_frame(&p, NGHTTP2_HEADERS, NGHTTP2_FLAG_END_STREAM, 1, block, part);
        int frames = 4 + extra;
        for (int i = 0; i < frames; i++) {
            bool last = i == frames - 1;
            size_t off = part * (size_t)(i + 1), n = last ? len - off : part;
            raw_frame(&p, NGHTTP2_CONTINUATION, last ? NGHTTP2_FLAG_END_HEADERS : 0, 1, block + off,
                      n);
        }
        pump(&p);
        if (extra == 0) {
            ASSERT_EQ(p.o.heads, 1);
            ASSERT_EQ(p.w.goaways, 0);
        } else {
            ASSERT_EQ(p.o.heads, 0);
            ASSERT_EQ(p.w.goaways, 1);
            ASSERT_EQ(p.w.goaway_code, PX_H2_ENHANCE_YOUR_CALM);
            ASSERT_STR_EQ(px_h2_error_reason(p.s), "CONTINUATION flood");
        }
        peer_dispose(&p);
    }
}

/* CVE-2019-9512/9515/9513/9518 and WINDOW_UPDATE churn: frames that cost work and give nothing. */
struct flood {
    const char *what;
    uint8_t type, flags;
    uint32_t stream;
    uint8_t payload[8];
    size_t len;
    bool open_stream; /* stream 1 must be open first */
};

static const struct flood floods[] = {
    {"PING flood", NGHTTP2_PING, 0, 0, {0}, 8, false},
    {"SETTINGS flood", NGHTTP2_SETTINGS, 0, 0, {0}, 0, false},
    {"PRIORITY flood", NGHTTP2_PRIORITY, 0, 3, {0, 0, 0, 0, 16}, 5, false},
    {"empty DATA flood", NGHTTP2_DATA, 0, 1, {0}, 0, true},
    {"small WINDOW_UPDATE flood", NGHTTP2_WINDOW_UPDATE, 0, 0, {0, 0, 0, 1}, 4, false},
};

TEST(h2_attack_frame_floods)
{
    struct px_h2_config cfg;
    px_h2_config_init(&cfg);
    for (size_t i = 0; i < PX_ARRAY_LEN(floods); i++) {
        const struct flood *f = &floods[i];
        struct peer p;
        peer_init(&p, &cfg, false, NULL, 0);
        raw_preface(&p); /* its SETTINGS counts against the control budget */
        if (f->open_stream)
            raw_headers(&p, 1, NGHTTP2_FLAG_END_HEADERS, get_nv, PX_ARRAY_LEN(get_nv));
        int sent = 0;
        while (p.feed_rc == 0 && sent < 1000) {
            raw_frame(&p, f->type, f->flags, f->stream, f->payload, f->len);
            sent++;
            if (sent % 10 == 0)
                pump(&p); /* the client reads, so nghttp2's ACK queue never fills */
        }
        pump(&p);
        uint32_t budget = f->type == NGHTTP2_PING || f->type == NGHTTP2_SETTINGS
                              ? cfg.control_per_s - 1
                          : f->type == NGHTTP2_PRIORITY ? cfg.priority_per_s
                          : f->type == NGHTTP2_DATA     ? cfg.empty_data_per_s
                                                        : cfg.small_updates_per_s;
        if (sent != (int)budget + 1 || p.w.goaway_code != PX_H2_ENHANCE_YOUR_CALM ||
            strcmp(px_h2_error_reason(p.s), f->what) != 0)
            TEST_FAIL_("%s: %d frames sent, GOAWAY %d, reason %s", f->what, sent, p.w.goaway_code,
                       px_h2_error_reason(p.s));
        ASSERT_EQ(p.w.goaways, 1);
        ASSERT_LE(p.o.heads, 1);
        ASSERT_EQ(p.o.body_bytes, 0);
        peer_dispose(&p);
    }
}

/* SETTINGS_MAX_CONCURRENT_STREAMS holds even before the client has seen it. */
TEST(h2_attack_too_many_streams)
{
    struct px_h2_config cfg;
    struct peer p;
    px_h2_config_init(&cfg);
    cfg.max_concurrent_streams = 2;
    peer_init(&p, &cfg, true, NULL, 0);
    int32_t ids[3];
    for (int i = 0; i < 3; i++)
        ids[i] = nghttp2_submit_headers(p.cli, 0, -1, NULL, get_nv, PX_ARRAY_LEN(get_nv), NULL);
    pump(&p);
    ASSERT_EQ(p.o.heads, 2);
    ASSERT_EQ(p.w.rst[ids[2]], PX_H2_REFUSED_STREAM + 1);
    ASSERT_EQ(p.w.goaways, 0);
    peer_dispose(&p);
}

/*
 * HPACK bomb: a 2000-byte field indexed once and referenced again expands
 * about 2 KiB on the wire past the decoded header list limit (16 KiB); the
 * stream is answered 431 and nothing reaches the owner.
 */
TEST(h2_attack_hpack_bomb)
{
    static char big[2000];
    memset(big, 'a', sizeof(big));
    nghttp2_nv nv[4 + 12];
    memcpy(nv, get_nv, sizeof(get_nv));
    for (int i = 4; i < 16; i++)
        nv[i] = (nghttp2_nv){(uint8_t *)"x-bomb", (uint8_t *)big, 6, sizeof(big), 0};
    struct peer p;
    peer_init(&p, NULL, true, NULL, 0);
    int32_t id = request(&p, nv, PX_ARRAY_LEN(nv), NULL);
    pump(&p);
    ASSERT_LT(p.fed_bytes, 2400); /* 24000 decoded bytes */
    ASSERT_EQ(p.o.heads, 0);
    ASSERT_EQ(p.status[id], 431);
    ASSERT_EQ(p.w.goaways, 0);
    peer_dispose(&p);
}
