/*
 * Unit tests of responses read quickly (proxy/proto/http1.c): the common
 * kind is read without llhttp, every other kind goes to llhttp, and either
 * way the result is llhttp's, checked by tests/fuzz/quick_diff.h on real
 * heads and on many thousand variants of them.
 */
#include "tests/unit/test.h"
#include "tests/fuzz/quick_diff.h"
#include "proxy/base/px.h"

#define NGINX_HEAD                                                                                 \
    "HTTP/1.1 200 OK\r\n"                                                                          \
    "Server: nginx/1.22.1\r\n"                                                                     \
    "Date: Mon, 07 Dec 2026 10:00:00 GMT\r\n"                                                      \
    "Content-Type: application/octet-stream\r\n"                                                   \
    "Content-Length: 5\r\n"                                                                        \
    "Last-Modified: Mon, 07 Dec 2026 09:00:00 GMT\r\n"                                             \
    "Connection: keep-alive\r\n"                                                                   \
    "ETag: \"6574a1b0-5\"\r\n"                                                                     \
    "Accept-Ranges: bytes\r\n"                                                                     \
    "\r\n"

static void init(struct px_http *h)
{
    ASSERT_OK(px_http_init(h, PX_HTTP_RESPONSE, NULL, 2048, 24));
}

/* Feeds S whole; the event. */
static int feed(struct px_http *h, const char *s, size_t *used)
{
    return px_http_feed(h, s, strlen(s), used);
}

TEST(http1_quick_reads_a_plain_response)
{
    struct px_http h;
    const char *msg = NGINX_HEAD "hello" NGINX_HEAD "world";
    size_t used, head = strlen(NGINX_HEAD);
    uint64_t len;

    init(&h);
    h.decode_body = true;
    for (int i = 0; i < 2; i++) {
        ASSERT_EQ(px_http_feed(&h, msg, strlen(msg), &used), PX_HTTP_HEAD);
        ASSERT_EQ(used, head);
        ASSERT(h.quick != 0 && !h.llhttp_used);
        ASSERT_EQ(px_http_status(&h), 200);
        ASSERT(px_http_content_length(&h, &len) && len == 5);
        ASSERT(px_http_keep_alive(&h) && !px_http_needs_eof(&h) && px_http_paused(&h));
        ASSERT_EQ(h.nhdrs, 8);
        ASSERT_OK(px_http_scan(&h));
        ASSERT(h.conn_keepalive && (h.hdrs[5].flags & PX_HDR_DROP));
        ASSERT_EQ(px_http_feed(&h, msg + used, 3, &used), PX_HTTP_MORE);
        ASSERT_EQ(used, 3);
        ASSERT(h.nspans == 1 && h.spans[0].base == msg + head && h.spans[0].len == 3);
        h.nspans = 0;
        ASSERT_EQ(px_http_feed(&h, msg + head + 3, strlen(msg) - head - 3, &used), PX_HTTP_DONE);
        ASSERT_EQ(used, 2);
        ASSERT(h.nspans == 1 && h.spans[0].len == 2 && h.body_bytes == 5);
        ASSERT(!px_http_started(&h) && px_http_keep_alive(&h));
        h.nspans = 0;
        msg += head + 5;
    }
    px_http_dispose(&h);
}

/* Heads llhttp must read (and does, as the diff check shows below). */
static const char *const declined[] = {
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "HTTP/1.1 204 No Content\r\n\r\n",
    "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive, x\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nUpgrade: h2c\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nProxy-Connection: close\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
    "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx",
    "HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456\r\n\r\n",
    "HTTP/1.1 200 OK\r\n\r\nclose-delimited",
    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX: y \r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX : y\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX: y\r\n z\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 0\nX: y\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX: a\rb\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX: a\x7f\r\n\r\n",
    "HTTP/1.1 200 O\x01K\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
    "\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n", /* not whole */
};

TEST(http1_quick_leaves_other_responses_to_llhttp)
{
    for (size_t i = 0; i < PX_ARRAY_LEN(declined); i++) {
        struct px_http h;
        size_t used;
        init(&h);
        int ev = feed(&h, declined[i], &used);
        if (h.quick != 0 || !h.llhttp_used)
            TEST_FAIL_("read quickly (%d): %s", ev, declined[i]);
        px_http_dispose(&h);
    }
    struct px_http h;
    size_t used;
    init(&h);
    h.skip_body = true; /* an answer to HEAD */
    ASSERT_EQ(feed(&h, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", &used), PX_HTTP_HEAD);
    ASSERT(h.quick == 0 && h.llhttp_used);
    px_http_dispose(&h);
}

TEST(http1_quick_stops_once_llhttp_has_read)
{
    struct px_http h;
    const char *chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    size_t used;

    init(&h);
    ASSERT_EQ(feed(&h, chunked, &used), PX_HTTP_HEAD);
    ASSERT_EQ(feed(&h, chunked + used, &used), PX_HTTP_DONE);
    /* llhttp paused after that message: the next one is its too. */
    ASSERT_EQ(feed(&h, NGINX_HEAD "hello", &used), PX_HTTP_HEAD);
    ASSERT(h.quick == 0 && h.llhttp_used);
    ASSERT_EQ(feed(&h, "hello", &used), PX_HTTP_DONE);
    px_http_reset(&h);
    ASSERT_EQ(feed(&h, NGINX_HEAD "hello", &used), PX_HTTP_HEAD);
    ASSERT(h.quick != 0 && !h.llhttp_used);
    /* And after a quick one, llhttp starts clean: no Content-Length left over. */
    ASSERT_EQ(feed(&h, "hello", &used), PX_HTTP_DONE);
    ASSERT_EQ(feed(&h, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", &used), PX_HTTP_MORE);
    ASSERT(h.quick == 0 && h.llhttp_used);
    ASSERT_EQ(feed(&h, "\r\nok", &used), PX_HTTP_HEAD);
    ASSERT_EQ(feed(&h, "ok", &used), PX_HTTP_DONE);
    px_http_dispose(&h);
}

/* Runs the diff check on S under every mode; how many heads were quick. */
static unsigned diff_all_modes(const char *s, size_t n)
{
    static uint8_t in[4096];
    unsigned quick = 0;

    ASSERT(n + 2 <= sizeof(in));
    memcpy(in + 2, s, n);
    for (unsigned mode = 0; mode < 64; mode++) {
        in[0] = (uint8_t)mode;
        in[1] = (uint8_t)(mode * 37 + n);
        quick += quick_diff_run(in, n + 2);
    }
    return quick;
}

TEST(http1_quick_reads_as_llhttp_does)
{
    static const char *const heads[] = {
        NGINX_HEAD "hello",
        NGINX_HEAD "hello" NGINX_HEAD "world",
        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 \r\ncontent-length: 3\r\nX-Empty:\r\nX-Tab:\tv\tw\r\n\r\nabc",
        ("HTTP/1.1 503 Service  Unavailable \xe2\x9c\x93\r\nContent-Length: 1\r\n"
         "Keep-Alive: timeout=5\r\nCONNECTION: Keep-Alive\r\nX-Forwarded-For: 1.2.3.4\r\n\r\nz"),
    };
    unsigned quick = 0;

    for (size_t i = 0; i < PX_ARRAY_LEN(heads); i++)
        quick += diff_all_modes(heads[i], strlen(heads[i]));
    for (size_t i = 0; i < PX_ARRAY_LEN(declined); i++)
        ASSERT_EQ(diff_all_modes(declined[i], strlen(declined[i])), 0);
    /* The check did compare quick reads: unsplit, not HEAD, 2048-byte limit. */
    ASSERT_GT(quick, 40);
}

/* Bytes a variant puts in or swaps in: each one is where some parser looks. */
static const char spice[] = {' ', '\t', '\r', '\n', ':', '\0', 0x7f, (char)0x80,
                             'A', '0',  ',',  '_',  '-', 'x',  '1',  '"'};

static const char *const extra_fields[] = {
    "Transfer-Encoding: chunked\r\n",
    "Connection: close\r\n",
    "Content-Length: 5\r\n",
    "Upgrade: h2c\r\n",
    "Proxy-Connection: keep-alive\r\n",
    "Connection: keep-alive, upgrade\r\n",
    "Content-Length: 05\r\n",
    "X: \t\r\n",
    "Content_Length: 9\r\n",
    "Host: a\r\n",
    "Transfer-Encoding: gzip\r\n",
    "Connection: Upgrade\r\n",
};

/* A variant of BASE in OUT: up to three byte swaps, inserts, deletes or extra fields. */
static size_t mutate(const char *base, char *out, size_t cap, uint32_t *seed)
{
    size_t n = strlen(base);
    memcpy(out, base, n);
    for (unsigned k = fuzz_rand(seed) % 4; k > 0; k--) {
        size_t at = fuzz_rand(seed) % (n + 1);
        unsigned op = fuzz_rand(seed) % 4;
        if (op == 0 && at < n) {
            out[at] = spice[fuzz_rand(seed) % sizeof(spice)];
        } else if (op == 1 && n + 1 < cap) {
            memmove(out + at + 1, out + at, n - at);
            out[at] = spice[fuzz_rand(seed) % sizeof(spice)];
            n++;
        } else if (op == 2 && at < n) {
            memmove(out + at, out + at + 1, n - at - 1);
            n--;
        } else {
            const char *f = extra_fields[fuzz_rand(seed) % PX_ARRAY_LEN(extra_fields)];
            size_t fl = strlen(f), line = 17; /* after the status line */
            if (n + fl < cap && n >= line) {
                memmove(out + line + fl, out + line, n - line);
                memcpy(out + line, f, fl);
                n += fl;
            }
        }
    }
    return n;
}

TEST(http1_quick_reads_variants_as_llhttp_does)
{
    static const char *const bases[] = {
        NGINX_HEAD "hello",
        NGINX_HEAD "hello" NGINX_HEAD "world",
        ("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nokHTTP/1.1 "
         "200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"),
    };
    uint32_t seed = 0x9e3779b9u;
    unsigned quick = 0;
    char buf[1024];

    for (unsigned i = 0; i < 3000; i++) {
        size_t n = mutate(bases[i % PX_ARRAY_LEN(bases)], buf, sizeof(buf), &seed);
        uint8_t in[1026];
        in[0] = (uint8_t)fuzz_rand(&seed);
        if (i % 2) /* half in the modes where a head can be read quickly */
            in[0] &= (uint8_t) ~(QD_SPLIT | QD_HEAD | QD_SMALL_HEAD);
        in[1] = (uint8_t)fuzz_rand(&seed);
        memcpy(in + 2, buf, n);
        quick += quick_diff_run(in, n + 2);
    }
    ASSERT_GT(quick, 500);
}
